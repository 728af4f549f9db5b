"""smolprep's datatrove filter steps.

Each filter subclasses datatrove's ``BaseFilter`` and returns ``(False, "reason")`` when it drops a
document, so datatrove's stats count ``dropped_<reason>``.
"""

from smolprep.filters.code import CodeSanityFilter
from smolprep.filters.fast_lid import FastLanguageIdFilter
from smolprep.filters.fineweb_quality import LanguageAwareFineWebQualityFilter
from smolprep.filters.gopher import LanguageAwareGopherQualityFilter, LanguageAwareGopherRepetitionFilter
from smolprep.filters.language import LanguageIdFilter
from smolprep.filters.languages import FINEWEB2_CODES, UnknownLanguageError, fineweb2_code, lid_label
from smolprep.filters.lid_model import LID176_LANGUAGES, LidModelNotFoundError, default_lid_model_path
from smolprep.filters.params import (
    KINDS,
    FineWebQualityParams,
    QualityParams,
    RepetitionParams,
    fineweb_quality_params,
    language_score,
    normalize_language,
    quality_params,
    repetition_params,
)
from smolprep.filters.spam import PhraseListError, SpamFilter, load_phrase_lists

__all__ = [
    "FINEWEB2_CODES",
    "KINDS",
    "LID176_LANGUAGES",
    "CodeSanityFilter",
    "FastLanguageIdFilter",
    "FineWebQualityParams",
    "LanguageAwareFineWebQualityFilter",
    "LanguageAwareGopherQualityFilter",
    "LanguageAwareGopherRepetitionFilter",
    "LanguageIdFilter",
    "LidModelNotFoundError",
    "PhraseListError",
    "QualityParams",
    "RepetitionParams",
    "SpamFilter",
    "UnknownLanguageError",
    "default_lid_model_path",
    "fineweb2_code",
    "fineweb_quality_params",
    "language_score",
    "lid_label",
    "load_phrase_lists",
    "normalize_language",
    "quality_params",
    "repetition_params",
]
