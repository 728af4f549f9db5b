"""Small hand-written SVG charts for the report: horizontal bars, grouped bars, a funnel. No dependencies;
every chart is a self-contained `<svg>` element that renders offline."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

WIDTH = 900
LABEL_WIDTH = 230
NOTE_WIDTH = 250
ROW = 26
BAR = 18
FONT = "font-family:sans-serif;font-size:12px"
PALETTE = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f")


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    color: str = PALETTE[0]
    text: str = ""  # printed after the bar (default: the value)
    note: str = ""  # printed in the right column


def _svg(height: int, title: str, body: list[str], name: str) -> str:
    return (
        f'<svg class="chart" data-chart="{escape(name)}" width="{WIDTH}" '
        f'height="{height}" viewBox="0 0 {WIDTH} {height}" role="img" style="{FONT}">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {extra}>{escape(text)}</text>'


def _rect(x: float, y: float, w: float, h: float, color: str, tip: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0.0):.1f}" height="{h:.1f}" fill="{color}">'
        f"<title>{escape(tip)}</title></rect>"
    )


def bar_chart(name: str, title: str, bars: list[Bar], marker: tuple[float, str] | None = None) -> str:
    """Horizontal bars scaled to the largest value (or to the marker: a dashed vertical line, e.g. a limit)."""
    span = WIDTH - LABEL_WIDTH - NOTE_WIDTH - 60
    top = max([b.value for b in bars] + [marker[0] * 1.1 if marker else 0.0] + [1e-12])
    body = [_text(0, 14, title, extra='font-weight="bold"')]
    for i, bar in enumerate(bars):
        y = 24 + i * ROW
        w = span * bar.value / top
        body.append(_text(LABEL_WIDTH - 8, y + BAR - 5, bar.label, "end"))
        body.append(_rect(LABEL_WIDTH, y, w, BAR, bar.color, f"{bar.label}: {bar.text or bar.value}"))
        body.append(_text(LABEL_WIDTH + w + 4, y + BAR - 5, bar.text or f"{bar.value:,g}"))
        if bar.note:
            body.append(_text(WIDTH - NOTE_WIDTH, y + BAR - 5, bar.note, extra='fill="#a33"'))
    height = 30 + len(bars) * ROW
    if marker:
        x = LABEL_WIDTH + span * marker[0] / top
        body.append(
            f'<line x1="{x:.1f}" y1="20" x2="{x:.1f}" y2="{height - 4}" stroke="#c00" stroke-dasharray="4 3"/>'
        )
        body.append(_text(x + 3, height - 6, marker[1], extra='fill="#c00"'))
    return _svg(height, title, body, name)


def grouped_chart(
    name: str, title: str, series: list[tuple[str, str]], rows: list[tuple[str, list[float]]]
) -> str:
    """Per row one bar per series (same scale), with a legend: series = [(name, color)]."""
    span = WIDTH - LABEL_WIDTH - NOTE_WIDTH - 60
    top = max([v for _, values in rows for v in values] + [1e-12])
    group = len(series) * (BAR - 4) + 10
    body = [_text(0, 14, title, extra='font-weight="bold"')]
    for k, (label, color) in enumerate(series):
        x = LABEL_WIDTH + k * 200
        body.append(f'<rect x="{x}" y="22" width="12" height="12" fill="{color}"/>')
        body.append(_text(x + 16, 32, label))
    for i, (label, values) in enumerate(rows):
        y = 44 + i * group
        body.append(_text(LABEL_WIDTH - 8, y + group / 2, label, "end"))
        for k, value in enumerate(values):
            by = y + k * (BAR - 4)
            w = span * value / top
            body.append(
                _rect(LABEL_WIDTH, by, w, BAR - 6, series[k][1], f"{label}, {series[k][0]}: {value:.2f}")
            )
            body.append(_text(LABEL_WIDTH + w + 4, by + BAR - 8, f"{value:.2f} %", extra='font-size="11"'))
    return _svg(50 + len(rows) * group, title, body, name)


def funnel_chart(name: str, title: str, bars: list[Bar]) -> str:
    """Centered bars, widest first: documents through the steps of a dataset, removals on the right."""
    span = WIDTH - LABEL_WIDTH - NOTE_WIDTH - 20
    top = max([b.value for b in bars] + [1e-12])
    body = [_text(0, 14, title, extra='font-weight="bold"')]
    for i, bar in enumerate(bars):
        y = 24 + i * ROW
        w = max(span * bar.value / top, 1.0 if bar.value else 0.0)
        x = LABEL_WIDTH + (span - w) / 2
        body.append(_text(LABEL_WIDTH - 8, y + BAR - 5, bar.label, "end"))
        body.append(_rect(x, y, w, BAR, bar.color, f"{bar.label}: {bar.value:,g} documents"))
        body.append(
            _text(LABEL_WIDTH + span / 2, y + BAR - 5, bar.text or f"{bar.value:,g}", "middle", _halo())
        )
        if bar.note:
            body.append(_text(WIDTH - NOTE_WIDTH + 10, y + BAR - 5, bar.note, extra='fill="#a33"'))
    return _svg(30 + len(bars) * ROW, title, body, name)


def _halo() -> str:
    return 'paint-order="stroke" stroke="#fff" stroke-width="3" font-weight="bold"'
