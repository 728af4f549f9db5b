#!/usr/bin/env python3
"""Rebuild the small multilingual sample shipped in ``sample/multilingual/``.

The English/Vietnamese sample (``sample/build.py``) cannot test how the filters treat the other
languages of the stage-1 mixture.  This script builds, from Debian 12 packages, a few dozen
documents of real text for each of them, one folder per FineWeb-2 code::

    sample/multilingual/<code>/part-0000.jsonl.gz      e.g. fra_Latn, cmn_Hani, tha_Thai
    sample/multilingual/README.md                      packages, versions, licences, counts

Usage (as root on Debian 12 "bookworm", network to the Debian mirror)::

    python3 sample/build_multilingual.py              # cache in /tmp/smolprep-multilingual-cache
    python3 sample/build_multilingual.py --check      # rebuild into a temporary folder and compare

Only the standard library is used, plus the rendering helpers of ``sample/build.py`` (man pages
with groff, HTML to text), so the text is extracted exactly as the English/Vietnamese sample's.
Packages are fetched with ``apt-get download NAME=VERSION`` (versions pinned in ``PACKAGES``)
and unpacked with ``dpkg-deb -x``.

Sources per language (``SOURCES``): translated man pages where Debian has them; LibreOffice help
pages (el, hi); GNOME user help (ko); the Debian Administrator's Handbook (fa); and, where
Debian has no documentation prose at all (th, and most of hi), the translated user-interface
strings of Firefox (Fluent ``.ftl`` files) and LibreOffice (gettext ``.mo`` catalogues), grouped
into documents.  Those are real translations but not prose: short labels and sentences.

Selection: every candidate file is turned into text and cut at blank lines into parts of at
most ``MAX_CHARS`` characters; parts shorter than ``MIN_CHARS`` are dropped, and so are parts
that ``in_language`` judges untranslated (a stdlib heuristic: for Latin-script languages, the
share of common English function words; for the others, the share of letters in the
language's script).  The remaining parts are ordered by SHA-256 of their id and taken up to the
source's quota.  Fixed, not random per run.

Determinism: pinned .debs, sorted listings, sorted output, gzip with mtime=0 and no file name,
JSON lines ``{"id", "text"}``: the script rebuilds byte-identical files.  Document ids are
``<code>/<package>:<path>#<part>`` (``<path>!<member>`` inside a .xpi archive).
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import importlib.util
import json
import re
import struct
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

MIN_CHARS = 300
MAX_CHARS = 5000
CACHE = "/tmp/smolprep-multilingual-cache"


def _load_build() -> ModuleType:
    """``sample/build.py``, imported by path: its fetching and rendering helpers are reused."""
    spec = importlib.util.spec_from_file_location("sample_build", Path(__file__).with_name("build.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build()

# name -> (pinned version, licence summary read from /usr/share/doc/<pkg>/copyright)
PACKAGES = {
    "manpages-fr": ("4.18.1-1", "GPL-3+ (translations; the English originals under their own licences)"),
    "manpages-es": ("4.18.1-1", "GPL-3+ (translations; the English originals under their own licences)"),
    "manpages-de": ("4.18.1-1", "GPL-3+ (translations; the English originals under their own licences)"),
    "manpages-it": ("4.18.1-1", "GPL-3+ (translations; the English originals under their own licences)"),
    "manpages-pt-br": ("4.18.1-1", "GPL-3+ (translations; the English originals under their own licences)"),
    "manpages-ru": ("4.18.1-1", "GPL-3+ (translations; the English originals under their own licences)"),
    "manpages-vi": ("4.18.1-1", "GPL-3+ (translations; the English originals under their own licences)"),
    "manpages-ja": (
        "0.5.0.0.20221215+dfsg-1",
        "the original man pages' licences (DFSG-free; JM Project notice)",
    ),
    "manpages-zh": ("1.6.4.0-1", "GFDL-1.2+"),
    "libreoffice-help-el": ("4:7.4.7-1+deb12u14", "MPL-2.0 (help content)"),
    "libreoffice-help-hi": ("4:7.4.7-1+deb12u14", "MPL-2.0 (help content)"),
    "libreoffice-l10n-hi": ("4:7.4.7-1+deb12u14", "MPL-2.0 (translations)"),
    "libreoffice-l10n-th": ("4:7.4.7-1+deb12u14", "MPL-2.0 (translations)"),
    "gnome-user-docs": ("43.0-2", "CC-BY-SA-3.0"),
    "debian-handbook": ("11.20220922", "GPL-2+ or CC-BY-SA-3.0"),
    "firefox-esr-l10n-fa": ("153.8.0esr-1~deb12u1", "MPL-2.0 (Files: *)"),
    "firefox-esr-l10n-hi-in": ("153.8.0esr-1~deb12u1", "MPL-2.0 (Files: *)"),
    "firefox-esr-l10n-th": ("153.8.0esr-1~deb12u1", "MPL-2.0 (Files: *)"),
}


@dataclass(frozen=True)
class Source:
    """One package's contribution to one language: where to look, how to read it, how many parts."""

    package: str
    kind: str  # man | lohelp | handbook | mallard | ftl | mo
    under: str
    quota: int
    pattern: str = "*"
    note: str = ""


def _xpi(lang: str) -> str:
    return f"/usr/lib/firefox-esr/browser/extensions/langpack-{lang}@firefox-esr.mozilla.org.xpi"


def _mo(lang: str) -> str:
    return f"/usr/lib/libreoffice/program/resource/{lang}/LC_MESSAGES"


MAN = "translated man pages rendered to text"
LOHELP = "LibreOffice help pages (the #DisplayArea of each page), HTML to text"
FTL = "Firefox UI strings (.ftl files in the language pack): one document per file part, one string a line"
MO = "LibreOffice UI strings (.mo catalogues): translated strings, five to a paragraph"

# FineWeb-2 code -> sources, in order.
SOURCES: dict[str, tuple[Source, ...]] = {
    "fra_Latn": (Source("manpages-fr", "man", "/usr/share/man/fr", 60, note=MAN),),
    "spa_Latn": (Source("manpages-es", "man", "/usr/share/man/es", 60, note=MAN),),
    "deu_Latn": (Source("manpages-de", "man", "/usr/share/man/de", 60, note=MAN),),
    "ita_Latn": (Source("manpages-it", "man", "/usr/share/man/it", 60, note=MAN),),
    "por_Latn": (Source("manpages-pt-br", "man", "/usr/share/man/pt_BR", 60, note=MAN + " (Brazilian)"),),
    "rus_Cyrl": (Source("manpages-ru", "man", "/usr/share/man/ru", 60, note=MAN),),
    "jpn_Jpan": (Source("manpages-ja", "man", "/usr/share/man/ja", 60, note=MAN),),
    "cmn_Hani": (Source("manpages-zh", "man", "/usr/share/man/zh_CN", 60, note=MAN + " (simplified)"),),
    "vie_Latn": (Source("manpages-vi", "man", "/usr/share/man/vi", 60, note=MAN),),
    "ell_Grek": (
        Source("libreoffice-help-el", "lohelp", "/usr/share/libreoffice/help/el/text", 60, "*.html", LOHELP),
    ),
    "kor_Hang": (
        Source(
            "gnome-user-docs",
            "mallard",
            "/usr/share/help/ko/gnome-help",
            60,
            "*.page",
            "GNOME desktop help (Mallard .page files), text of the page body",
        ),
    ),
    "hin_Deva": (
        Source("libreoffice-help-hi", "lohelp", "/usr/share/libreoffice/help/hi/text", 20, "*.html", LOHELP),
        Source("firefox-esr-l10n-hi-in", "ftl", _xpi("hi-IN"), 25, note=FTL),
        Source("libreoffice-l10n-hi", "mo", _mo("hi"), 15, "*.mo", MO),
    ),
    "fas_Arab": (
        Source(
            "debian-handbook",
            "handbook",
            "/usr/share/doc/debian-handbook/html/fa-IR",
            45,
            "*.html",
            "The Debian Administrator's Handbook, Persian translation (content div), HTML to text",
        ),
        Source("firefox-esr-l10n-fa", "ftl", _xpi("fa"), 15, note=FTL),
    ),
    "tha_Thai": (
        Source("firefox-esr-l10n-th", "ftl", _xpi("th"), 35, note=FTL),
        Source("libreoffice-l10n-th", "mo", _mo("th"), 25, "*.mo", MO),
    ),
}

# Letters of each non-Latin language's script (for the "is it translated" heuristic).
SCRIPT_RE = {
    "rus_Cyrl": re.compile(r"[\u0400-\u04ff]"),
    "ell_Grek": re.compile(r"[\u0370-\u03ff\u1f00-\u1fff]"),
    "jpn_Jpan": re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff]"),
    "cmn_Hani": re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]"),
    "kor_Hang": re.compile(r"[\uac00-\ud7af\u1100-\u11ff\u3130-\u318f]"),
    "hin_Deva": re.compile(r"[\u0900-\u097f]"),
    "fas_Arab": re.compile(r"[\u0600-\u06ff\ufb50-\ufdff\ufe70-\ufeff]"),
    "tha_Thai": re.compile(r"[\u0e00-\u0e7f]"),
}
LETTER_SHARE = 0.5  # at least this share of the non-space characters are letters
SCRIPT_SHARE = 0.5  # at least this share of the letters in the language's script
ENGLISH_WORDS = frozenset(
    "the and of to is are be by with this that for from it not you your can will which when".split()  # noqa: SIM905
)
ENGLISH_SHARE = 0.06  # Latin-script languages: at most this share of common English words
LETTER_RE = re.compile(r"[^\W\d_]")
WORD_RE = re.compile(r"[^\W\d_]+")


def in_language(code: str, text: str) -> bool:
    """Whether a part reads as translated into ``code``'s language (a cheap heuristic, see the module)."""
    letters = len(LETTER_RE.findall(text))
    if letters < LETTER_SHARE * len(re.sub(r"\s", "", text)):
        return False  # tables, numbers, box drawing
    script = SCRIPT_RE.get(code)
    if script is not None:
        return len(script.findall(text)) / letters >= SCRIPT_SHARE
    words = [w.lower() for w in WORD_RE.findall(text)]
    return bool(words) and sum(w in ENGLISH_WORDS for w in words) / len(words) <= ENGLISH_SHARE


# ---------------------------------------------------------------------------
# readers: each yields (path, text) for one package's files
# ---------------------------------------------------------------------------


# Man pages that are tables or indexes, not text: character-set tables and systemd's directive index.
MAN_SKIP = re.compile(
    r"/(iso_8859|koi8|cp125|ascii|armscii|latin\d|charsets|systemd\.directives|systemd\.index)"
)


def read_man(root: Path, source: Source) -> Iterator[tuple[str, str | None]]:
    for path in build.list_files(root, source.under, source.pattern):
        if MAN_SKIP.search(path):
            continue
        data = build.read_member(root, path)
        if data is not None:
            yield path, build.render_man(data)


HANDBOOK_PARTS = {"book", "part", "chapter", "section", "preface", "appendix"}


def root_handbook(tag: str, attrs: dict) -> bool:
    """The content of a Debian Handbook page (the banner and the navigation bars left out)."""
    return tag == "div" and bool(set((attrs.get("class") or "").split()) & HANDBOOK_PARTS)


def read_html(root: Path, source: Source) -> Iterator[tuple[str, str | None]]:
    pick = build.root_lohelp if source.kind == "lohelp" else root_handbook
    for path in build.list_files(root, source.under, source.pattern):
        data = build.read_member(root, path)
        if data is not None:
            yield path, build.html_to_text(data, pick)


MALLARD_BLOCKS = ("title", "p", "item", "td", "th", "screen", "desc")
MALLARD_SKIP = re.compile(r"<info>.*?</info>|<comment>.*?</comment>|<!--.*?-->", re.S)


def mallard_to_text(data: bytes) -> str:
    """A Mallard page's visible text: the info block dropped, block elements as paragraphs."""
    src = MALLARD_SKIP.sub("", build.decode(data))
    src = re.sub(rf"<(/?)({'|'.join(MALLARD_BLOCKS)})\b[^>]*>", r"<\1p>", src)
    return build.html_to_text(src.encode("utf-8"))


def read_mallard(root: Path, source: Source) -> Iterator[tuple[str, str | None]]:
    for path in build.list_files(root, source.under, source.pattern):
        data = build.read_member(root, path)
        if data is not None:
            yield path, mallard_to_text(data)


FTL_ATTRS = {"label", "title", "description", "message", "heading", "tooltiptext", "placeholder", "value"}
FTL_ID = re.compile(r"-?[A-Za-z][\w-]*\s*=(.*)$")
FTL_ATTR = re.compile(r"\.([\w-]+)\s*=(.*)$")
FTL_TERM = re.compile(r"\{\s*(-[\w-]+)\s*\}")
FTL_TERMS = {
    "-brand-short-name": "Firefox",
    "-brand-full-name": "Firefox",
    "-brand-product-name": "Firefox",
    "-brand-shorter-name": "Firefox",
    "-vendor-short-name": "Mozilla",
}
FTL_VARIANT = re.compile(r"(\*?)\[[^\]]*\]\s*(.*)$")


def ftl_strings(src: str) -> list[str]:
    """The translated strings of a Fluent file: message values, the readable attributes, and the
    default variant of select expressions; placeables and markup removed, duplicates dropped."""
    out: list[str] = []
    cur: list[str] = []
    keep = True

    def close() -> None:
        text = FTL_TERM.sub(lambda m: FTL_TERMS.get(m.group(1), ""), " ".join(cur))
        text = re.sub(r"<[^>]+>", "", re.sub(r"\{[^{}]*\}", "", text))
        text = re.sub(r"\s+", " ", text).strip()
        if text and text not in out:
            out.append(text)
        cur.clear()

    for line in src.split("\n"):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if not line[0].isspace() and (m := FTL_ID.match(line)):
            close()
            keep = not line.startswith("-")  # terms (brand names) are not text
            cur.append(m.group(1))
        elif m := FTL_ATTR.match(stripped):
            close()
            keep = m.group(1) in FTL_ATTRS
            cur.append(m.group(2))
        elif m := FTL_VARIANT.match(stripped):
            if m.group(1):
                cur.append(m.group(2))
        elif stripped.endswith("->") or stripped == "}":
            continue
        elif keep:
            cur.append(stripped)
        if not keep:
            cur.clear()
    close()
    return out


def read_ftl(root: Path, source: Source) -> Iterator[tuple[str, str | None]]:
    with zipfile.ZipFile(root / source.under.lstrip("/")) as xpi:
        for member in sorted(n for n in xpi.namelist() if n.endswith(".ftl")):
            strings = ftl_strings(xpi.read(member).decode("utf-8"))
            yield f"{source.under}!{member}", "\n".join(strings)


def mo_strings(data: bytes) -> list[str]:
    """The translated strings of a gettext .mo catalogue (header skipped, plural forms split,
    LibreOffice's ``~`` accelerator marks removed), in the catalogue's order, without duplicates."""
    magic = struct.unpack("<I", data[:4])[0]
    order = "<" if magic == 0x950412DE else ">"
    _, count, _, translations = struct.unpack(order + "4I", data[4:20])
    out: list[str] = []
    for i in range(count):
        length, offset = struct.unpack(order + "2I", data[translations + 8 * i : translations + 8 * i + 8])
        for text in data[offset : offset + length].decode("utf-8").split("\0"):
            text = re.sub(r"\s+", " ", text.replace("~", "")).strip()
            if text and not text.startswith("Project-Id-Version") and text not in out:
                out.append(text)
    return out


def read_mo(root: Path, source: Source) -> Iterator[tuple[str, str | None]]:
    for path in build.list_files(root, source.under, source.pattern):
        strings = [s for s in mo_strings((root / path.lstrip("/")).read_bytes()) if len(s) >= 20]
        paragraphs = [" ".join(strings[i : i + 5]) for i in range(0, len(strings), 5)]
        yield path, "\n\n".join(paragraphs)


READERS: dict[str, Callable[[Path, Source], Iterator[tuple[str, str | None]]]] = {
    "man": read_man,
    "lohelp": read_html,
    "handbook": read_html,
    "mallard": read_mallard,
    "ftl": read_ftl,
    "mo": read_mo,
}


# ---------------------------------------------------------------------------
# selection and output
# ---------------------------------------------------------------------------


def split_parts(text: str) -> list[str]:
    """Cut at blank lines (or, inside a long paragraph, at line ends) into parts of at most MAX_CHARS."""
    blocks: list[str] = []
    for para in text.split("\n\n"):
        if len(para) <= MAX_CHARS:
            blocks.append(para)
            continue
        piece = ""
        for line in para.split("\n"):
            if piece and len(piece) + 1 + len(line) > MAX_CHARS:
                blocks.append(piece)
                piece = ""
            piece = f"{piece}\n{line}" if piece else line[:MAX_CHARS]
        blocks.append(piece)
    parts: list[str] = []
    cur = ""
    for block in blocks:
        if cur and len(cur) + 2 + len(block) > MAX_CHARS:
            parts.append(cur)
            cur = ""
        cur = f"{cur}\n\n{block}" if cur else block
    if cur:
        parts.append(cur)
    return parts


def candidates(code: str, source: Source, root: Path) -> list[dict]:
    docs = []
    for path, text in READERS[source.kind](root, source):
        if not text:
            continue
        for i, part in enumerate(split_parts(build.clean_text(text))):
            part = part.strip("\n")
            if len(part) >= MIN_CHARS and in_language(code, part):
                docs.append({"id": f"{code}/{source.package}:{path}#{i}", "text": part})
    return docs


def select(code: str, pkgs: dict[str, tuple[str, Path]]) -> list[dict]:
    chosen: list[dict] = []
    for source in SOURCES[code]:
        docs = candidates(code, source, pkgs[source.package][1])
        docs.sort(key=lambda d: hashlib.sha256(d["id"].encode()).hexdigest())
        chosen += docs[: source.quota]
    return sorted(chosen, key=lambda d: d["id"])


def write_language(out: Path, code: str, docs: list[dict]) -> int:
    folder = out / code
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.jsonl.gz"):
        old.unlink()
    lines = "".join(json.dumps({"id": d["id"], "text": d["text"]}, ensure_ascii=False) + "\n" for d in docs)
    blob = build.gzip_bytes(lines.encode("utf-8"))
    (folder / "part-0000.jsonl.gz").write_bytes(blob)
    return len(blob)


def write_readme(
    out: Path, pkgs: dict[str, tuple[str, Path]], selected: dict[str, list[dict]], sizes
) -> None:
    lines = [
        "# Multilingual sample: sources",
        "",
        "Generated by `sample/build_multilingual.py` (do not edit by hand; edit the script and rebuild).",
        "Rebuild as root on Debian 12 bookworm, network to the Debian mirror:",
        "`python3 sample/build_multilingual.py` (`--check` rebuilds into a temporary folder and compares).",
        "",
        'One folder per language, by FineWeb-2 code; one file `part-0000.jsonl.gz`, lines `{"id", "text"}`,',
        f"id `<code>/<package>:<path>#<part>`. Texts are {MIN_CHARS}-{MAX_CHARS} characters: files cut at",
        "blank lines, parts judged untranslated by a simple heuristic dropped (less than "
        f"{LETTER_SHARE:.0%} letters;",
        f"Latin scripts: more than {ENGLISH_SHARE:.0%} common English words; other scripts: less than",
        f"{SCRIPT_SHARE:.0%} of the letters in the language's script), then taken in",
        "SHA-256 order of the id up to each source's quota. Man pages and HTML are rendered exactly as in",
        "`sample/build.py`.",
        "",
        "| code | package | version | licence | kind of text | documents | characters |",
        "| --- | --- | --- | --- | --- | ---: | ---: |",
    ]
    for code in sorted(SOURCES):
        for source in SOURCES[code]:
            docs = [d for d in selected[code] if d["id"].startswith(f"{code}/{source.package}:")]
            chars = sum(len(d["text"]) for d in docs)
            version, licence = pkgs[source.package][0], PACKAGES[source.package][1]
            lines.append(
                f"| {code} | {source.package} | {version} | {licence} | {source.note} | {len(docs)} | {chars:,} |"
            )
    lines += ["", "| code | documents | .jsonl.gz bytes |", "| --- | ---: | ---: |"]
    for code in sorted(SOURCES):
        lines.append(f"| {code} | {len(selected[code])} | {sizes[code]:,} |")
    lines += ["", f"Total .jsonl.gz bytes: {sum(sizes.values()):,}.", ""]
    lines += [KIND_NOTE, "", LANGID_NOTE, ""]
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")


KIND_NOTE = """What the text is: the man pages keep option names, commands, examples and a few untranslated
phrases; LibreOffice help keeps menu paths. The `firefox-esr-l10n-*` and `libreoffice-l10n-*`
documents are not prose but real translated user-interface strings (labels, dialog texts, messages),
one string a line (Firefox: one `.ftl` file, or a part of it, per document; Fluent placeables removed,
brand terms written as Firefox/Mozilla) or five strings to a paragraph (LibreOffice: strings of at
least 20 characters, in catalogue order, `~` accelerator marks removed). Debian ships no Thai
documentation and little translated Hindi documentation (`libreoffice-help-hi` is mostly English;
only its translated parts pass the selection), so these strings are the closest real text there is.
The Persian handbook is partly untranslated (English paragraphs inside Persian chapters)."""

# Measured once with smolprep's FastLanguageIdFilter (fastText lid.176.ftz, newlines replaced by
# spaces) when this sample was built; tests/e2e/test_multilingual_sample.py checks it stays high.
LANGID_NOTE = """fastText lid.176.ftz (smolprep's `FastLanguageIdFilter`), measured when this sample was built:
every one of the 840 documents (60 per language) is predicted as its folder's language. Median
scores are 0.95-1.00 per language; two documents score below 0.65 (one hin_Deva at 0.45, one
por_Latn at 0.60). Before the selection's heuristic dropped untranslated parts and tables, the
German, French, Spanish and Portuguese man pages had a few parts predicted as English or as another
language (systemd's directive index, character-set tables). (Not recomputed by this script, which
uses only the standard library.)"""


def fetch(cache: Path, allow_other: bool) -> dict[str, tuple[str, Path]]:
    """``sample/build.py``'s fetching, applied to this script's packages."""
    saved = build.PACKAGES
    build.PACKAGES = PACKAGES
    try:
        return build.fetch_packages(cache, allow_other)
    finally:
        build.PACKAGES = saved


def generate(out: Path, cache: Path, allow_other: bool) -> None:
    build.ensure_tools()
    pkgs = fetch(cache, allow_other)
    selected = {code: select(code, pkgs) for code in sorted(SOURCES)}
    sizes = {code: write_language(out, code, docs) for code, docs in selected.items()}
    write_readme(out, pkgs, selected, sizes)
    for code in sorted(SOURCES):
        docs = selected[code]
        chars = sum(len(d["text"]) for d in docs)
        print(f"{code} docs={len(docs):3d} chars={chars:8,d} gz={sizes[code]:7,d}")
    print(f"total gz={sum(sizes.values()):,d}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "multilingual"))
    ap.add_argument("--cache", default=CACHE)
    ap.add_argument("--allow-other-versions", action="store_true")
    ap.add_argument("--check", action="store_true", help="rebuild into a temporary folder and compare")
    args = ap.parse_args()
    if not args.check:
        generate(Path(args.out), Path(args.cache), args.allow_other_versions)
        return
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp), Path(args.cache), args.allow_other_versions)
        names = [f"{code}/part-0000.jsonl.gz" for code in sorted(SOURCES)] + ["README.md"]
        _, mismatch, errors = filecmp.cmpfiles(tmp, args.out, names, shallow=False)
        if mismatch or errors:
            sys.exit(f"sample/multilingual differs from a rebuild: {mismatch + errors}")
    print("sample/multilingual is identical to a rebuild")


if __name__ == "__main__":
    main()
