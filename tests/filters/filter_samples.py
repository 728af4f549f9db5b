"""Literal documents and helpers shared by the filter tests (a plain module, imported by name)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from datatrove.data import Document
from datatrove.pipeline.base import PipelineStep

SPAM_LIST_DIR = Path(__file__).resolve().parents[2] / "configs" / "spam"

ENGLISH_TEXT = """\
The river town grew slowly during the nineteenth century. Farmers brought their grain to the mill, and \
the merchants who bought it built warehouses along the water. When the railway arrived in 1871, the \
town changed quickly: new streets were laid out to the north, a school and a library were opened, and \
the population doubled within twenty years.

Today the old mill is a museum. Visitors can see the original millstones and read letters written by \
the families that worked there, which describe long winters, floods and the hope that their children \
would have an easier life."""

FRENCH_TEXT = """\
La petite ville s'est développée lentement au cours du dix-neuvième siècle. Les agriculteurs apportaient \
leur grain au moulin, et les marchands qui l'achetaient ont construit des entrepôts au bord de l'eau. \
Quand le chemin de fer est arrivé en 1871, la ville a changé très vite : de nouvelles rues ont été tracées \
vers le nord, une école et une bibliothèque ont ouvert leurs portes, et la population a doublé en vingt \
ans. Aujourd'hui, le vieux moulin est devenu un musée que les familles visitent le dimanche."""

# Natural Vietnamese prose, several paragraphs, about 170 words (NFC).
VIETNAMESE_TEXT = """\
Hà Nội là thủ đô của Việt Nam và là một trong những thành phố có lịch sử lâu đời nhất ở Đông Nam Á. \
Thành phố nằm bên bờ sông Hồng, nơi người dân đã sinh sống từ hàng nghìn năm trước. Năm 1010, vua Lý \
Thái Tổ dời đô từ Hoa Lư về đây và đặt tên là Thăng Long.

Ngày nay, Hà Nội có hơn tám triệu người. Các khu phố cổ với những con đường nhỏ hẹp vẫn giữ được nhiều \
nét kiến trúc truyền thống. Du khách thường đến thăm Hồ Hoàn Kiếm, Văn Miếu và Lăng Chủ tịch Hồ Chí Minh.

Ẩm thực cũng là một phần quan trọng của đời sống thành phố. Phở, bún chả và bánh cuốn được bán ở khắp \
nơi, từ những gánh hàng rong trên vỉa hè cho đến các nhà hàng sang trọng. Nhiều người cho rằng muốn hiểu \
Hà Nội thì phải ngồi uống một ly cà phê ở góc phố vào buổi sáng sớm."""


def make_doc(text: str, doc_id: str = "doc", **metadata: object) -> Document:
    return Document(text=text, id=doc_id, metadata=dict(metadata))


def run_step(step: PipelineStep, docs: Iterable[Document]) -> tuple[list[Document], dict[str, float]]:
    """Run a datatrove step over ``docs``; return the kept documents and the step's stat totals."""
    kept = list(step.run(iter(list(docs))))
    return kept, {name: metric.total for name, metric in step.stats.stats.items()}
