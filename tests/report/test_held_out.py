"""Acceptance: after a local run of a held-out-style stage (a config with only `name` and `datasets`),
`launch.py report` exits 0 and writes a manifest whose numbers are the input and output files' own."""

from __future__ import annotations

import json
import re

from smolprep.cli import main
from tests.conftest import read_jsonl_folder, write_jsonl


def _report(held_out, capsys, *extra: str) -> tuple[int, str]:
    root = str(held_out.run.layout.root)
    code = main(["report", "--config", str(held_out.config), "--cluster", "local", "--output", root, *extra])
    return code, capsys.readouterr().out


def test_report_command_accounts_for_the_held_out_stage(held_out, capsys) -> None:
    code, out = _report(held_out, capsys)
    assert code == 0, out
    layout = held_out.run.layout
    assert "documents, tokens and the mixture" in out and "ESTIMATE" in out
    assert f"Wrote {layout.manifest}" in out
    manifest = json.loads(layout.manifest.read_text())
    assert manifest["complete"] and list(manifest["datasets"]) == ["en", "vi", "code"]
    assert manifest["tokens"]["method"] == "estimate"
    for name, d in manifest["datasets"].items():
        assert d["docs_in"] == held_out.inputs[name]
        assert d["docs_out"] == len(read_jsonl_folder(layout.data(name))) > 0
        assert d["tokens_out"] > 0 and d["tokens_counted"] == "estimate"
        assert abs(d["weight"] - 1 / 3) < 1e-9
        assert d["epochs"] > 0 and d["tokens_target"] > 0
        for step in d["steps"].values():
            assert step["docs_in"] - step["docs_out"] == sum(step["removed"].values())
        assert d["docs_in"] - d["docs_out"] == sum(sum(s["removed"].values()) for s in d["steps"].values())
    removed = manifest["datasets"]["vi"]["steps"]["filter"]["removed"]
    wrong_language = sum(c for k, c in removed.items() if k.endswith(": wrong_language"))
    assert wrong_language >= 5  # the English documents planted in the Vietnamese dataset
    assert (
        manifest["datasets"]["en"]["steps"]["minhash-filter"]["removed"]["MinHash dedup: near-duplicate"] > 0
    )
    html = (layout.stage_dir / "report.html").read_text()
    assert len(re.findall(r'<svg class="chart"', html)) == 3 + 3 + 1  # mixture, tokens, epochs; funnels; CPU


def test_report_of_a_stage_that_never_ran_is_a_usage_error(held_out, capsys, tmp_path) -> None:
    code = main(["report", "--config", str(held_out.config), "--cluster", "local", "--output", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and "nothing has run for stage held-out" in err


def test_sampling_no_dedup_corrupt_lines_tokenizer_and_budget(tmp_path, tokenizer_path, capsys) -> None:
    good = [{"id": f"f{i}", "text": f"def f{i}(x):\n    return x * {i}\n" * 3} for i in range(60)]
    lines = [json.dumps(r) for r in good[:30]] + [
        '{"id": "broken", "text": "unterminated',
        '{"id": "no-text"}',
    ]
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "part.jsonl").write_text(
        "\n".join(lines + [json.dumps(r) for r in good[30:]]) + "\n"
    )
    write_jsonl(tmp_path / "more" / "part.jsonl", good[:20])
    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "tokenizer.json").write_bytes(tokenizer_path.read_bytes())
    config = tmp_path / "knobs.yaml"
    config.write_text(
        "name: knobs\ntokenizer: tok/tokenizer.json\ntoken_budget: 100000\ndatasets:\n"
        "  - {name: code, path: code, kind: code, tasks: 2, dedup: false, sample_rate: 0.5, weight: 0.9}\n"
        "  - {name: more, path: more, kind: code, tasks: 1, weight: 0.1}\n"
    )
    assert main(["--config", str(config), "--cluster", "local", "--output", str(tmp_path / "out")]) == 0
    capsys.readouterr()
    code = main(["report", "--config", str(config), "--cluster", "local", "--output", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0 and "counted with the tokenizer tokenizer.json" in out
    manifest = json.loads((tmp_path / "out" / "knobs" / "manifest.json").read_text())
    d = manifest["datasets"]["code"]
    assert list(d["steps"]) == ["filter"]
    assert d["docs_in"] == 60 and d["skipped_lines"] == {"corrupt_json": 1, "missing_text": 1}
    step = d["steps"]["filter"]
    assert step["docs_in"] - step["docs_out"] == sum(step["removed"].values())
    assert 0 < step["removed"]["Sampler: sampled out"] < 60
    assert d["docs_out"] == len(read_jsonl_folder(tmp_path / "out" / "knobs" / "data" / "code"))
    assert manifest["datasets"]["more"]["steps"]["minhash-filter"]["removed"] == {
        "MinHash dedup: near-duplicate": 19
    }
    assert d["epochs"] > 4 and any(w.startswith("code: would be repeated") for w in manifest["warnings"])
    assert "warning: code: would be repeated" in out
