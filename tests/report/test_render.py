"""report.html renders in a real headless browser (Debian's chromium, offline): the plots are there and
the page is not blank."""

from __future__ import annotations

import re

import numpy as np
import pytest

from smolprep.plan import plan_stage
from smolprep.report import write_report
from smolprep.report.svg import PALETTE
from tests.report.conftest import WINDOW, run_chromium
from tests.report.pngread import read_png


@pytest.fixture(scope="module")
def rendered(held_out, tmp_path_factory):
    run = held_out.run
    _, html = write_report(run.layout, run.config, plan_stage(run.config))
    return html, tmp_path_factory.mktemp("chromium")


def test_the_browser_sees_every_plot(chromium, rendered) -> None:
    html, work = rendered
    dom = run_chromium(chromium, work / "profile-dom", "--dump-dom", html.as_uri()).stdout
    charts = re.findall(r'<svg class="chart" data-chart="([^"]+)"', dom)
    assert charts == ["mixture", "tokens", "epochs", "funnel-en", "funnel-vi", "funnel-code", "cpu"]
    assert dom.count("<rect") > 30 and "Stage held-out" in dom


def test_the_screenshot_shows_the_plots(chromium, rendered) -> None:
    html, work = rendered
    png = work / "report.png"
    run_chromium(chromium, work / "profile-shot", f"--screenshot={png}", html.as_uri())
    pixels = read_png(png)[..., :3].astype(np.uint32)
    assert pixels.shape[:2] == (WINDOW[1], WINDOW[0])
    packed = (pixels[..., 0] << 16) | (pixels[..., 1] << 8) | pixels[..., 2]
    colours, counts = np.unique(packed, return_counts=True)
    assert len(colours) > 50, "the page is (nearly) a single colour"
    assert counts.max() < 0.97 * packed.size, "the page is almost blank"
    present = dict(zip(colours.tolist(), counts.tolist(), strict=True))
    for colour in PALETTE[:3]:  # bar colours of the mixture chart and the funnels, drawn as solid areas
        assert present.get(int(colour[1:], 16), 0) > 200, f"no bars of colour {colour} on the screenshot"
