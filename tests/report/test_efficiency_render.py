"""report.html's Resources section in a real headless browser (Debian's chromium, offline): the table of
resource use per step and the suggested profile values are in the DOM it builds."""

from __future__ import annotations

import re
from html import unescape

from smolprep.report import write_report
from smolprep.slurm.efficiency import HEADER
from tests.report.conftest import run_chromium
from tests.report.test_efficiency_report import GIB, exit_record, slurm_ran, synthetic_run


def test_the_browser_sees_the_resources_table(chromium, tmp_path) -> None:
    stage, layout, plan = synthetic_run(tmp_path, ("a",))
    slurm_ran(layout, "a", [exit_record(0, 600.0, GIB), exit_record(1, 1800.0, 3 * GIB)])
    _, html = write_report(layout, stage, plan)
    proc = run_chromium(chromium, tmp_path / "profile", "--dump-dom", html.as_uri())
    section = re.search(r"<h2>Resources</h2>(.*?)</body>", proc.stdout, re.S)
    assert section, "the browser's DOM has no Resources section"
    tables = re.findall(r"<table>(.*?)</table>", section.group(1), re.S)
    assert len(tables) == 1
    rows = [
        [unescape(re.sub(r"<[^>]+>", "", cell)) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", tables[0], re.S)
    ]
    assert rows[0] == list(HEADER)
    assert rows[1][:5] == ["a/filter", "2", "50% / 50%", "50% / 75%", "33% / 50%"]
    assert rows[1][6] == "2G × 2 CPUs, 00:45:00"
    assert 'filter: {time: "00:45:00", cpus: 2, mem_per_cpu: 2G}' in unescape(section.group(1))
