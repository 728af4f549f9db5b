"""The per-language filter benchmark runs end to end in its quick mode (no timing is asserted: only that every
language it was asked for is measured, and that stock and smolprep make the same decisions for the same
reasons, as tests/filters/test_fineweb2_chain.py requires of every language)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

from datatrove.utils import word_tokenizers

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "bench" / "languages.py"
# a language with a smolprep replay (spaCy's rules), one with jieba and one with Kiwi (datatrove's own)
LANGUAGES = ["fra_Latn", "cmn_Hani", "kor_Hang"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT, timeout=300
    )


def test_quick_language_benchmark(tmp_path: Path) -> None:
    out = tmp_path / "languages.json"
    done = run("--quick", "--languages", ",".join(LANGUAGES), "--json", str(out))
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(out.read_text())
    rows = report["languages"]
    assert list(rows) == LANGUAGES  # one row per language asked for, no reference rows in quick mode
    table = done.stdout.splitlines()
    for code, row in rows.items():
        assert sum(line.startswith(f"{code} ") for line in table) == 1  # its row in the printed table
        assert row["docs"] == 30 and row["text_bytes"] > 0  # every 2nd of the folder's 60 documents
        assert row["cpu_s_stock"] > 0 and row["cpu_s_smolprep"] > 0
        assert math.isfinite(row["ratio"]) and row["ratio"] > 0
        assert math.isfinite(row["task_ratio"]) and row["task_ratio"] > 0
        # the same decision for every document, and every filter dropped as many for each reason
        assert row["agreement"] == 1.0 and row["same_decision"] == row["docs"]
        assert row["kept_stock"] == row["kept_smolprep"]
        assert row["same_reasons"]
        # the reasons are this job's: the first filter saw every document, the last forwarded the kept ones
        reasons = row["drop_reasons"]
        assert sum(reasons[0].values()) == row["docs"]
        assert reasons[-1].get("forwarded", 0) == row["kept_stock"]
        # the stock tokenizer is named after datatrove's class, as the filters build it
        assert hasattr(word_tokenizers, row["stock_tokenizer"].split("(")[0])
        assert row["smolprep_tokenizer"]
        assert f" {row['ratio']:.2f}x " in next(line for line in table if line.startswith(f"{code} "))


def test_an_unknown_language_is_refused_with_the_known_ones() -> None:
    done = run("--quick", "--languages", "fra_Latn,xx_Yyyy")
    assert done.returncode == 2
    assert "xx_Yyyy" in done.stderr and "fra_Latn" in done.stderr and "kor_Hang" in done.stderr
