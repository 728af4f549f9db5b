"""smolprep's datatrove filter steps.

Each filter subclasses datatrove's ``BaseFilter`` and returns ``(False, "reason")`` when it drops a
document, so datatrove's stats count ``dropped_<reason>``.
"""

from smolprep.filters.code import CodeSanityFilter
from smolprep.filters.fast_lid import FastLanguageIdFilter
from smolprep.filters.gopher import LanguageAwareGopherQualityFilter, LanguageAwareGopherRepetitionFilter
from smolprep.filters.language import LanguageIdFilter
from smolprep.filters.lid_model import LID176_LANGUAGES, LidModelNotFoundError, default_lid_model_path
from smolprep.filters.params import (
    KINDS,
    QualityParams,
    RepetitionParams,
    normalize_language,
    quality_params,
    repetition_params,
)
from smolprep.filters.spam import PhraseListError, SpamFilter, load_phrase_lists

__all__ = [
    "KINDS",
    "LID176_LANGUAGES",
    "CodeSanityFilter",
    "FastLanguageIdFilter",
    "LanguageAwareGopherQualityFilter",
    "LanguageAwareGopherRepetitionFilter",
    "LanguageIdFilter",
    "LidModelNotFoundError",
    "PhraseListError",
    "QualityParams",
    "RepetitionParams",
    "SpamFilter",
    "default_lid_model_path",
    "load_phrase_lists",
    "normalize_language",
    "quality_params",
    "repetition_params",
]
