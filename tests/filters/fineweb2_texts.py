"""Short prose written for these tests, one passage per FineWeb-2 language of stage 1 (a plain module, imported by
name): the same story of a river town in each language, NFC."""

from __future__ import annotations

PROSE = {
    "fr": """La petite ville s'est développée lentement au cours du dix-neuvième siècle. Les agriculteurs apportaient leur grain au moulin, et les marchands qui l'achetaient ont construit des entrepôts au bord de l'eau.
Quand le chemin de fer est arrivé en 1871, la ville a changé très vite : de nouvelles rues ont été tracées vers le nord, une école et une bibliothèque ont ouvert leurs portes, et la population a doublé en vingt ans.
Aujourd'hui, le vieux moulin est devenu un musée. Les visiteurs peuvent y voir les meules d'origine et lire les lettres écrites par les familles qui y travaillaient, qui parlent des longs hivers et des inondations.""",
    "es": """El pequeño pueblo creció lentamente durante el siglo diecinueve. Los campesinos llevaban su grano al molino, y los comerciantes que lo compraban construyeron almacenes junto al río.
Cuando llegó el ferrocarril en 1871, el pueblo cambió muy deprisa: se trazaron calles nuevas hacia el norte, se abrieron una escuela y una biblioteca, y la población se duplicó en veinte años.
Hoy el viejo molino es un museo. Los visitantes pueden ver las piedras originales y leer las cartas que escribieron las familias que trabajaban allí, en las que hablan de los inviernos largos y de las inundaciones.""",
    "de": """Die kleine Stadt wuchs im neunzehnten Jahrhundert nur langsam. Die Bauern brachten ihr Getreide zur Mühle, und die Händler, die es kauften, bauten Lagerhäuser am Ufer des Flusses.
Als im Jahr 1871 die Eisenbahn kam, veränderte sich die Stadt sehr schnell: Im Norden wurden neue Straßen angelegt, eine Schule und eine Bibliothek wurden eröffnet, und die Bevölkerung verdoppelte sich in zwanzig Jahren.
Heute ist die alte Mühle ein Museum. Die Besucher können die ursprünglichen Mühlsteine sehen und die Briefe der Familien lesen, die dort gearbeitet haben und von langen Wintern und Hochwasser erzählen.""",
    "it": """La piccola città crebbe lentamente durante il diciannovesimo secolo. I contadini portavano il grano al mulino, e i mercanti che lo compravano costruirono magazzini lungo il fiume.
Quando nel 1871 arrivò la ferrovia, la città cambiò molto in fretta: furono tracciate nuove strade verso nord, furono aperte una scuola e una biblioteca, e la popolazione raddoppiò in vent'anni.
Oggi il vecchio mulino è un museo. I visitatori possono vedere le macine originali e leggere le lettere scritte dalle famiglie che ci lavoravano, che raccontano di inverni lunghi e di alluvioni.""",
    "pt": """A pequena cidade cresceu devagar durante o século dezenove. Os agricultores levavam o seu grão ao moinho, e os comerciantes que o compravam construíram armazéns à beira do rio.
Quando a ferrovia chegou em 1871, a cidade mudou muito depressa: foram abertas novas ruas para o norte, uma escola e uma biblioteca foram inauguradas, e a população dobrou em vinte anos.
Hoje o velho moinho é um museu. Os visitantes podem ver as mós originais e ler as cartas escritas pelas famílias que trabalhavam lá, que falam dos invernos longos e das cheias do rio.""",
    "ru": """Маленький город медленно рос в девятнадцатом веке. Крестьяне привозили зерно на мельницу, а купцы, которые его покупали, строили склады на берегу реки.
Когда в 1871 году пришла железная дорога, город стал быстро меняться: на севере проложили новые улицы, открылись школа и библиотека, и за двадцать лет население выросло вдвое.
Сегодня старая мельница стала музеем. Посетители могут увидеть настоящие жернова и прочитать письма семей, которые там работали, о долгих зимах и о весенних наводнениях.""",
    "el": """Η μικρή πόλη μεγάλωσε αργά κατά τη διάρκεια του δέκατου ένατου αιώνα. Οι αγρότες έφερναν το σιτάρι τους στον μύλο, και οι έμποροι που το αγόραζαν έχτισαν αποθήκες δίπλα στο ποτάμι.
Όταν ήρθε ο σιδηρόδρομος το 1871, η πόλη άλλαξε πολύ γρήγορα: άνοιξαν νέοι δρόμοι προς τον βορρά, λειτούργησαν ένα σχολείο και μια βιβλιοθήκη, και ο πληθυσμός διπλασιάστηκε μέσα σε είκοσι χρόνια.
Σήμερα ο παλιός μύλος είναι μουσείο. Οι επισκέπτες μπορούν να δουν τις αρχικές μυλόπετρες και να διαβάσουν τα γράμματα των οικογενειών που δούλευαν εκεί, για τους μακρούς χειμώνες και τις πλημμύρες.""",
    "fa": """این شهر کوچک در طول قرن نوزدهم به آرامی رشد کرد. کشاورزان گندم خود را به آسیاب می‌بردند و بازرگانانی که آن را می‌خریدند، انبارهایی در کنار رودخانه ساختند.
وقتی راه آهن در سال ۱۸۷۱ به شهر رسید، شهر خیلی زود تغییر کرد: خیابان‌های تازه‌ای به سمت شمال کشیده شد، یک مدرسه و یک کتابخانه باز شد و جمعیت در بیست سال دو برابر شد.
امروز آسیاب قدیمی به موزه تبدیل شده است. بازدیدکنندگان می‌توانند سنگ‌های اصلی آسیاب را ببینند و نامه‌های خانواده‌هایی را بخوانند که در آنجا کار می‌کردند و از زمستان‌های طولانی و سیل‌ها می‌نوشتند.""",
    "zh": """这个小镇在十九世纪发展得很慢。农民把粮食送到磨坊，收购粮食的商人在河边建起了仓库。
一八七一年铁路通到这里以后，小镇很快就变了样：北边修了新的街道，开办了一所学校和一座图书馆，二十年里人口增加了一倍。
如今，那座老磨坊已经成了博物馆。参观的人可以看到原来的石磨，还可以读到当年在那里工作的家庭写下的信，信里讲的是漫长的冬天和河水泛滥的日子。""",
    "ja": """この小さな町は十九世紀の間、ゆっくりと発展しました。農民は穀物を水車小屋に運び、それを買い取った商人たちは川沿いに倉庫を建てました。
一八七一年に鉄道が通ると、町は急速に変わりました。北側に新しい通りが作られ、学校と図書館が開かれ、人口は二十年で二倍になりました。
現在、古い水車小屋は博物館になっています。訪れた人は昔の石臼を見ることができ、そこで働いていた家族が書いた手紙を読むことができます。手紙には長い冬や洪水のことが書かれています。""",
    "ko": """이 작은 마을은 십구 세기 동안 천천히 성장했습니다. 농부들은 곡식을 방앗간으로 가져갔고, 그것을 사들인 상인들은 강가에 창고를 지었습니다.
천팔백칠십일 년에 철도가 들어오자 마을은 빠르게 변했습니다. 북쪽으로 새 길이 났고, 학교와 도서관이 문을 열었으며, 인구는 이십 년 만에 두 배로 늘었습니다.
오늘날 옛 방앗간은 박물관이 되었습니다. 방문객들은 원래의 맷돌을 볼 수 있고, 그곳에서 일하던 가족들이 쓴 편지를 읽을 수 있습니다. 편지에는 긴 겨울과 홍수 이야기가 담겨 있습니다.""",
    "hi": """यह छोटा सा शहर उन्नीसवीं सदी में धीरे धीरे बढ़ा। किसान अपना अनाज चक्की पर ले जाते थे, और जो व्यापारी उसे खरीदते थे उन्होंने नदी के किनारे गोदाम बनाए।
जब सन 1871 में रेल आई, तो शहर बहुत तेज़ी से बदल गया। उत्तर की ओर नई सड़कें बनाई गईं, एक स्कूल और एक पुस्तकालय खोला गया, और बीस साल में आबादी दोगुनी हो गई।
आज पुरानी चक्की एक संग्रहालय है। यहाँ आने वाले लोग पुराने पत्थर देख सकते हैं और उन परिवारों के पत्र पढ़ सकते हैं जो वहाँ काम करते थे, जिनमें लंबी सर्दियों और बाढ़ की बातें लिखी हैं।""",
    "th": """เมืองเล็ก ๆ แห่งนี้เติบโตอย่างช้า ๆ ในช่วงศตวรรษที่สิบเก้า ชาวนานำข้าวของตนไปที่โรงสี และพ่อค้าที่รับซื้อข้าวได้สร้างโกดังไว้ริมแม่น้ำ
เมื่อทางรถไฟมาถึงในปี 1871 เมืองก็เปลี่ยนไปอย่างรวดเร็ว มีการตัดถนนใหม่ไปทางทิศเหนือ มีการเปิดโรงเรียนและห้องสมุด และจำนวนประชากรเพิ่มขึ้นเป็นสองเท่าในเวลายี่สิบปี
ทุกวันนี้โรงสีเก่ากลายเป็นพิพิธภัณฑ์ ผู้มาเยือนสามารถชมหินโม่ของเดิม และอ่านจดหมายที่ครอบครัวซึ่งเคยทำงานที่นั่นเขียนไว้ เล่าถึงฤดูหนาวที่ยาวนานและน้ำท่วมในแต่ละปี""",
}
