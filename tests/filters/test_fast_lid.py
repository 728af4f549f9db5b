"""The replayed lid.176 (``smolprep.filters.fast_lid``) gives fastText's own label and score, bit for bit.

Every expected value comes from fastText itself (``model.predict``, ``get_subwords``, libm), computed in the
test: nothing is hard-coded.
"""

from __future__ import annotations

import math
import random
import subprocess
import sys

import dill
import numpy as np
import pytest
from filter_samples import ENGLISH_TEXT, FRENCH_TEXT, VIETNAMESE_TEXT, make_doc, run_step

from smolprep.filters import FastLanguageIdFilter, LanguageIdFilter, default_lid_model_path, fast_lid
from smolprep.filters.fast_lid import LidPredictor, get_predictor, warm
from tests.conftest import sample_texts

DATASETS = ("en-web", "vi-web", "code")


@pytest.fixture(scope="module")
def sample_lines() -> list[str]:
    """Every document of the shipped sample, as the filter passes it to fastText (one line)."""
    lines = [text.replace("\n", " ") for dataset in DATASETS for text in sample_texts(dataset)]
    assert len(lines) > 1000
    return lines


@pytest.fixture(scope="module")
def predictor() -> LidPredictor:
    """A predictor of its own (empty caches), not the process-wide one."""
    predictor = LidPredictor(default_lid_model_path())
    assert predictor.replaying, predictor.fallback_reason
    return predictor


def _fasttext(predictor: LidPredictor, line: str) -> tuple[str, float]:
    labels, scores = predictor.model.predict(line, k=1)
    return labels[0], float(scores[0])


def test_every_sample_document_gets_fasttexts_label_and_score(predictor, sample_lines) -> None:
    expected = [_fasttext(predictor, line) for line in sample_lines]
    predictor.clear_caches()
    cold = [predictor.predict(line) for line in sample_lines]  # every token new at first
    warm_ = [predictor.predict(line) for line in sample_lines]  # every token cached
    assert cold == expected  # same label, and the same float32 score exactly
    assert warm_ == expected
    labels = {label for label, _ in expected}
    assert {"__label__en", "__label__vi"} <= labels and len(labels) > 5  # the sample is varied enough


def test_the_whole_distribution_matches_fasttext(predictor, sample_lines) -> None:
    """k=-1: every label fastText reaches (threshold 0 prunes below 1e-5), with its probability: checks the
    tree, every internal node and every libm call, not only the best leaf."""
    for line in sample_lines[::10]:
        labels, probabilities = predictor.model.predict(line, k=-1)
        assert predictor.replay.all_probabilities(line) == dict(
            zip(labels, probabilities.tolist(), strict=True)
        )


LONG_DOCUMENT_BYTES = 200_000

EDGE_CASES = {
    "empty": "",
    "spaces": "     ",
    "separators only": " \r\t\v\f\0 \r\r\t",
    "separators inside words": "hello\rworld\tthis\vis\fa\0sentence written in English",
    "NUL inside a word": "the quick brown f\0ox jumps over the lazy dog",
    "no-break space": "the quick\u00a0brown fox\u00a0jumps over\u00a0the lazy dog",
    "unicode spaces": "le\u2009petit\u3000chat\u2028est\u2029sur\u0085la\u1680table\u202fverte",
    "information separators": "der\x1chund\x1dund\x1edie\x1fkatze sind freunde",
    "label tokens": "__label__en bonjour __label__fr tout le monde __label__zz merci",
    "only labels": "__label__en __label__vi",
    "label prefix alone": "__label__ __label__",
    "end of sentence token": "hello world </s> xin chào các bạn, hôm nay trời đẹp",
    "end of sentence first": "</s> the river town grew slowly",
    "end of sentence glued": "a</s>b and </s>x are words, not ends",
    "single long token": "a" * 5000,
    "long non-ascii token": "nghiêng" * 700,
    "long mixed token": "https://example.com/"
    + "".join(random.Random(0).choices("abcxyzđếộ0123_-/?=&", k=3000)),
    "emoji": "I love this 😀😀🎉 👍🏽 so much!!! ❤️",
    "emoji only": "😀 🎉 👍🏽",
    "mixed scripts": "Hello Привет 你好 مرحبا नमस्ते Xin chào שלום Γειά σου こんにちは",
    "all out of vocabulary": "zzqxj qqqzv xxjjkq vvbzq jjxqz",
    "digits and punctuation": "12345 !!! 678 ... ??? 9,99 € (1) [2] {3}",
    "vietnamese without diacritics": "Ha Noi la thu do cua Viet Nam va la mot trong nhung thanh pho",
    "cjk": "東京は日本の首都であり、世界最大の都市圏の一つです。",
    "combining characters": "Vie\u0302\u0323t Nam la\u0300 mo\u0323\u0302t qu\u00f4\u0301c gia",
    "english": ENGLISH_TEXT.replace("\n", " "),
    "french": FRENCH_TEXT.replace("\n", " "),
    "vietnamese": VIETNAMESE_TEXT.replace("\n", " "),
}


@pytest.mark.parametrize("name", sorted(EDGE_CASES))
def test_edge_cases_get_fasttexts_label_and_score(predictor, name: str) -> None:
    line = EDGE_CASES[name]
    assert predictor.predict(line) == _fasttext(predictor, line)
    assert predictor.predict(line) == _fasttext(predictor, line)  # again, from the caches


def test_a_200_kb_document(predictor, sample_lines, monkeypatch) -> None:
    text, i = "", 0
    while len(text.encode("utf-8")) < LONG_DOCUMENT_BYTES:
        text += sample_lines[i % len(sample_lines)] + " "
        i += 7
    expected = _fasttext(predictor, text)
    assert predictor.predict(text) == expected
    ids = predictor.replay.line_ids(text)
    monkeypatch.setattr(fast_lid, "_ROWS_PER_BLOCK", 4096)  # the sum of a longer document goes by blocks
    assert len(ids) > 4 * fast_lid._ROWS_PER_BLOCK
    assert predictor.predict(text) == expected


def test_text_fasttext_rejects_is_rejected_the_same_way(predictor) -> None:
    for line in ("two\nlines", "a lone surrogate \ud800 here"):
        with pytest.raises(Exception) as ours:
            predictor.predict(line)
        with pytest.raises(Exception) as theirs:
            predictor.model.predict(line, k=1)
        assert type(ours.value) is type(theirs.value)


def test_token_ids_match_fasttexts_subwords(predictor, sample_lines) -> None:
    """The input ids of every distinct sample token (and some odd ones), by each way we compute them, are the
    ids fastText's ``getSubwords`` gives (what ``addSubwords`` adds for a word)."""
    subwords = predictor.replay.subwords
    tokens = list(dict.fromkeys(token for line in sample_lines for token in line.encode("utf-8").split()))
    tokens += [
        t.encode("utf-8") for t in ("</s>", "<", ">", "<>", "a<b>c", "é", "ệ", "😀", "\u00a0", "x" * 300)
    ]
    tokens = [t for t in tokens if not t.startswith(b"__label__")]
    expected = [list(predictor.model.get_subwords(token.decode("utf-8"))[1]) for token in tokens]

    def unpack(packed: bytes) -> list[int]:
        return np.frombuffer(packed, dtype=np.int32).tolist()

    for method in ("windows", "ngrams"):
        subwords.windows.clear()
        assert [unpack(subwords.compute(token, method)) for token in tokens] == expected, method
    batched = subwords.compute_many(tokens)  # one numpy batch for all of them
    assert [unpack(batched[token]) for token in tokens] == expected
    long_token = "nghiệp" * 400
    assert unpack(subwords.compute(long_token.encode("utf-8"), "numpy")) == list(
        predictor.model.get_subwords(long_token)[1]
    )


def test_label_tokens_add_no_input_ids(predictor) -> None:
    subwords = predictor.replay.subwords
    for token in (b"__label__en", b"__label__zz", b"__label__"):
        assert subwords.compute(token) == b""
        assert predictor.model.get_subwords(token.decode())[1].size > 0  # fastText would, as a word


def test_walk_and_shortcut_agree(predictor, sample_lines) -> None:
    """``best_leaf`` (a vectorised check of the best leaf's path) and ``walk`` (fastText's depth-first search,
    node by node) end with the same leaf: on real documents, and on random node terms, including positive ones
    (std_log(f) > 0 when f > 1 - 1e-5) that make the shortcut give way to the walk."""
    replay = predictor.replay
    for line in sample_lines[::5]:
        terms = replay.terms(replay.hidden(replay.line_ids(line)))
        assert replay.best_leaf(terms) == replay.walk(terms)
    rng = np.random.default_rng(7)
    walked = 0
    for _ in range(3000):
        scale = rng.choice([1e-6, 1e-5, 0.05, 0.5])
        terms = (rng.standard_normal(2 * replay.n_internal + 1) * scale).astype(np.float32)
        terms[-1] = 0.0  # the padding term
        steps = terms[replay.path_terms]
        leaf_scores = np.add.reduce(steps, axis=0)
        column = int(np.argmax(leaf_scores))
        walked += np.cumsum(steps[:, column]).min() < max(leaf_scores[column], replay.threshold)
        assert replay.best_leaf(terms) == replay.walk(terms)
    assert walked > 100  # the random terms did exercise the walk


def test_libm_replacements_are_bit_exact() -> None:
    """float64-then-round with a libm fallback near ties == glibc's expf, and == fastText's std_log."""
    rng = np.random.default_rng(3)
    x = np.concatenate(
        [
            rng.uniform(-20, 20, 100_000),
            rng.uniform(-86.9, 87.9, 20_000),
            [0.0, -0.0, 1e-30, -1e-30, 88.7, -103.0, -87.5, 100.0],
        ]
    ).astype(np.float32)
    expf = fast_lid._expf_scalar
    assert fast_lid._expf(x).tolist() == [expf(float(v)) for v in x]
    p = rng.uniform(0, 1, 100_000).astype(np.float32)
    p[:4] = [0.0, 1.0, np.float32(1e-5), np.nextafter(np.float32(1), np.float32(0))]
    expected = [float(np.float32(math.log(float(v) + 1e-5))) for v in p]
    assert fast_lid._std_log(p).tolist() == expected


def test_numpy_reduce_over_rows_is_sequential() -> None:
    # the replay relies on it for the hidden sum (and falls back to np.cumsum if it ever changed)
    assert fast_lid._sequential_sum_is_reduce()


def _decisions(step, lines):
    docs = [make_doc(line, f"doc-{i}") for i, line in enumerate(lines)]
    results = [step.filter(doc) for doc in docs]
    return results, [(doc.metadata["language"], doc.metadata["language_score"]) for doc in docs]


@pytest.mark.parametrize("languages", [["en", "vi"], ["vi"]])
def test_filter_decides_and_tags_like_language_id_filter(languages) -> None:
    texts = [text for dataset in DATASETS for text in sample_texts(dataset)]  # with their newlines
    stock, fast = LanguageIdFilter(languages), FastLanguageIdFilter(languages)
    expected = _decisions(stock, texts)
    assert _decisions(fast, texts) == expected
    assert sum(r is True for r in expected[0]) > 100 and sum(r is not True for r in expected[0]) > 100


def test_filter_step_stats_match() -> None:
    docs = [make_doc(text, f"d{i}") for i, text in enumerate(sample_texts("en-web")[:200])]
    copies = [make_doc(doc.text, doc.id) for doc in docs]
    kept_stock, stats_stock = run_step(LanguageIdFilter(["en"], thresholds={"en": 0.9}), docs)
    kept_fast, stats_fast = run_step(FastLanguageIdFilter(["en"], thresholds={"en": 0.9}), copies)
    assert [d.id for d in kept_fast] == [d.id for d in kept_stock]
    assert stats_fast == stats_stock


def test_filter_pickles_without_caches_and_predicts_after() -> None:
    original = FastLanguageIdFilter(["en", "vi"])
    before = original.filter(make_doc(VIETNAMESE_TEXT)), original.filter(make_doc(FRENCH_TEXT))
    payload = dill.dumps(original)
    assert len(payload) < 20_000  # no model, no predictor, no cache
    restored = dill.loads(payload)
    assert restored.__dict__.get("_model") is None
    assert (restored.filter(make_doc(VIETNAMESE_TEXT)), restored.filter(make_doc(FRENCH_TEXT))) == before
    assert FastLanguageIdFilter.name == LanguageIdFilter.name  # reports name the rule, not its implementation


def test_predictor_is_loaded_once_per_process_and_path() -> None:
    assert warm() is get_predictor() is get_predictor(default_lid_model_path())
    assert get_predictor().replaying


def test_forced_fallback_is_fasttexts_predict(sample_lines) -> None:
    fallback = LidPredictor(default_lid_model_path(), replay=False)
    assert not fallback.replaying
    for line in sample_lines[::25]:
        assert fallback.predict(line) == _fasttext(fallback, line)


TRAIN_TINY_MODELS = """
import sys, fasttext
train, folder = sys.argv[1], sys.argv[2]
for loss in ("hs", "softmax"):
    model = fasttext.train_supervised(
        train, loss=loss, dim=16, minn=2, maxn=4, bucket=20_000, epoch=3, lr=0.05, thread=1, verbose=0
    )
    model.save_model(f"{folder}/{loss}-dense.bin")
variants = {"hs-pruned": {"cutoff": 500}, "hs-qnorm": {"cutoff": 500, "qnorm": True}, "hs-unpruned": {}}
variants["softmax-pruned"] = {"cutoff": 500}
for name, options in variants.items():
    model = fasttext.load_model(f"{folder}/{name.split('-')[0]}-dense.bin")
    model.quantize(input=None, retrain=False, dsub=2, **options)
    model.save_model(f"{folder}/{name}.ftz")
"""


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    """Small supervised models of our own: quantized hs (pruned, with qnorm, unpruned) that the replay must
    handle, and ones it must leave to fastText (softmax loss, dense input). (A quantized output matrix needs
    256 labels or more: not tried here.) Trained in a fresh process: with thread=1, fastText's
    ``DenseMatrix::uniform`` initialises only the first tenth of the input matrix, and the rest is whatever
    the allocator returns (zeros in a fresh process, possibly NaN in this one)."""
    folder = tmp_path_factory.mktemp("tiny-lid")
    rng = random.Random(0)
    vocab = {
        "en": ENGLISH_TEXT.lower().split(),
        "fr": FRENCH_TEXT.lower().split(),
        "vi": VIETNAMESE_TEXT.lower().split(),
    }
    train = folder / "train.txt"
    lines = [
        f"__label__{lang} {' '.join(rng.choices(vocab[lang], k=10))}\n"
        for lang in rng.choices(list(vocab), k=3000)
    ]
    train.write_text("".join(lines), encoding="utf-8")
    subprocess.run(
        [sys.executable, "-c", TRAIN_TINY_MODELS, str(train), str(folder)], check=True, capture_output=True
    )
    names = (
        "hs-dense.bin",
        "softmax-dense.bin",
        "hs-pruned.ftz",
        "hs-qnorm.ftz",
        "hs-unpruned.ftz",
        "softmax-pruned.ftz",
    )
    return {name.split(".")[0]: str(folder / name) for name in names}


TINY_TEXTS = [
    "la petite ville grain moulin",
    "the river town grew slowly",
    "hà nội là thủ đô",
    "",
    "zzz qqq",
    "__label__en mixed la ville the town thủ đô",
]


@pytest.mark.parametrize(
    ("name", "replayed"),
    [
        ("hs-pruned", True),
        ("hs-qnorm", True),
        ("hs-unpruned", True),
        ("hs-dense", False),
        ("softmax-pruned", False),
        ("softmax-dense", False),
    ],
)
def test_other_models_are_replayed_or_left_to_fasttext(tiny_models, name: str, replayed: bool) -> None:
    predictor = LidPredictor(tiny_models[name])
    assert predictor.replaying is replayed, predictor.fallback_reason
    texts = TINY_TEXTS + [
        line.replace("\n", " ") for line in sample_texts("vi-web")[:30] + sample_texts("en-web")[:30]
    ]
    for line in texts:
        assert predictor.predict(line) == _fasttext(predictor, line)
