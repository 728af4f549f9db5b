"""report.html: one self-contained page (inline CSS and SVG, no script, no external resource) rendered from
the manifest: warnings, the mixture (target weight vs available tokens, epochs), per dataset a funnel of
documents through every filter and the dedup with the reasons, CPU time per step, and the resources the
Slurm tasks used against what they asked for, with suggested profile values."""

from __future__ import annotations

from html import escape

from smolprep.report.svg import PALETTE, Bar, bar_chart, funnel_chart, grouped_chart
from smolprep.slurm.efficiency import (
    HEADER,
    MEMORY_HEADROOM,
    TIME_HEADROOM,
    StepEfficiency,
    render_rows,
    suggested_profile_yaml,
)

STYLE = """
body{font-family:sans-serif;margin:24px;max-width:1000px;color:#222}
h1{margin-bottom:4px} h2{border-bottom:1px solid #ccc;padding-bottom:4px;margin-top:32px}
table{border-collapse:collapse;margin:8px 0 16px} td,th{border:1px solid #ddd;padding:3px 8px;font-size:13px}
th{background:#f3f3f3} td.n{text-align:right;font-variant-numeric:tabular-nums}
.meta{color:#666;font-size:13px} .warn{background:#fff4e5;border-left:4px solid #f0a020;padding:8px 12px}
.ok{background:#eef8ee;border-left:4px solid #59a14f;padding:8px 12px} .estimate{color:#b00;font-weight:bold}
svg.chart{display:block;margin:8px 0 16px}
"""


def _n(value: float | int | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}" if digits else f"{value:,}"


def _table(header: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _short(text: str, limit: int = 38) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


EXACT = ("exact", "exact (tokenized)")


def _counted(datasets: dict) -> str:
    """What the token plots' titles say: exact counts, estimated ones, or which datasets are estimated."""
    estimated = [name for name, d in datasets.items() if d["tokens_counted"] not in EXACT]
    if not estimated:
        return "exact token counts"
    if len(estimated) == len(datasets):
        return "ESTIMATED token counts"
    named = ", ".join(estimated[:5]) + (" …" if len(estimated) > 5 else "")
    return f"token counts ESTIMATED for {named}, exact for the others"


def _mixture(manifest: dict) -> str:
    datasets = manifest["datasets"]
    counted = _counted(datasets)
    rows = [
        [
            escape(name),
            f"{d['weight']:.4g}",
            _n(d["docs_in"]),
            _n(d["docs_out"]),
            _n(d["tokens_out"]),
            escape(d["tokens_counted"]),
            _n(d["tokens_target"]),
            "-" if d["epochs"] is None else f"{d['epochs']:.2f}",
        ]
        for name, d in datasets.items()
    ]
    table = _table(
        ["dataset", "weight", "docs in", "docs out", "tokens out", "tokens", "tokens asked", "epochs"],
        rows,
        {1, 2, 3, 4, 6, 7},
    )
    shares = grouped_chart(
        "mixture",
        f"Mixture: target weight vs share of the available tokens (%), {counted}",
        [("target weight", PALETTE[0]), ("available tokens", PALETTE[1])],
        [(name, [100 * d["weight"], 100 * d["tokens_share"]]) for name, d in datasets.items()],
    )
    limit = manifest["max_epochs"]
    epochs = bar_chart(
        "epochs",
        f"Epochs: weight × budget ({_n(manifest['token_budget'])} tokens) / tokens available, {counted}",
        [
            Bar(
                name,
                d["epochs"] or 0.0,
                PALETTE[3] if d["epochs"] is None or d["epochs"] > limit else PALETTE[2],
                "no tokens" if d["epochs"] is None else f"{d['epochs']:.2f}",
                "over the limit" if d["epochs"] is not None and d["epochs"] > limit else "",
            )
            for name, d in datasets.items()
        ],
        marker=(limit, f"limit {limit:g}"),
    )
    targets = bar_chart(
        "tokens",
        f"Tokens available vs tokens the weight asks for, {counted}",
        [
            bar
            for name, d in datasets.items()
            for bar in (
                Bar(f"{name} available", d["tokens_out"], PALETTE[1], _n(d["tokens_out"])),
                Bar(f"{name} asked", d["tokens_target"] or 0, PALETTE[0], _n(d["tokens_target"])),
            )
        ],
    )
    return table + shares + targets + epochs


def _funnel(name: str, d: dict) -> str:
    bars = [Bar("read", d["docs_in"], PALETTE[0])]
    first = next(iter(d["steps"]), None)  # the step that reads the input: its blocks are named alone
    for step_name, step in d["steps"].items():
        for i, block in enumerate(step.get("funnel", [])):
            removed = sorted(block["removed"].items(), key=lambda kv: -kv[1])
            note = removed[0][0] if len(removed) == 1 else ", ".join(f"{r} {c:,}" for r, c in removed[:2])
            note += " …" if len(removed) > 2 else ""
            minus = block["docs_in"] - block["docs_out"]
            label = f"{step_name}: {block['block']}" if step_name != first else block["block"]
            bars.append(
                Bar(
                    _short(label, 34),
                    block["docs_out"],
                    PALETTE[(i + 1) % len(PALETTE)] if step_name == first else PALETTE[4],
                    note=_short(f"−{minus:,}  {note}", 40) if minus else "",
                )
            )
    bars.append(Bar(f"data/{name}/", d["docs_out"], PALETTE[2]))
    return funnel_chart(f"funnel-{name}", f"{name}: documents through each step", bars)


def _dataset(name: str, d: dict) -> str:
    parts = [f'<h3 id="ds-{escape(name)}">{escape(name)}</h3>']
    lang = ",".join(d["language"]) or "-"
    parts.append(
        f'<p class="meta">kind {escape(d["kind"])}, language {escape(lang)}, weight {d["weight"]:.4g}; '
        f"{_n(d['docs_in'])} documents in, {_n(d['docs_out'])} out, {_n(d['bytes_out'])} bytes of text, "
        f"{_n(d['tokens_out'])} tokens ({escape(d['tokens_counted'])})</p>"
    )
    if d["skipped_lines"]:
        skipped = ", ".join(f"{k} {v:,}" for k, v in d["skipped_lines"].items())
        parts.append(f'<p class="warn">input lines skipped (not documents): {escape(skipped)}</p>')
    parts.append(_damage(d))
    parts.append(_funnel(name, d))
    rows = []
    for step_name, step in d["steps"].items():
        removed = step["removed"] or {"(nothing removed)": 0}
        for reason, count in sorted(removed.items(), key=lambda kv: -kv[1]):
            rows.append([escape(step_name), escape(reason), _n(count) if count else "-"])
    parts.append(_table(["step", "removed because", "documents"], rows, {2}))
    steps = [
        [
            escape(s),
            f"{v['completed']}/{v['tasks']}",
            _n(v["docs_in"]),
            _n(v["docs_out"]),
            _n(sum(v["removed"].values())),
            _n(v["cpu_seconds"], 2),
        ]
        for s, v in d["steps"].items()
    ]
    parts.append(
        _table(["step", "tasks done", "docs in", "docs out", "removed", "CPU s"], steps, {2, 3, 4, 5})
    )
    return "".join(parts)


def _damage(d: dict) -> str:
    """The input files a reader skipped and the final files that are missing, each named."""
    parts = []
    skipped = d.get("skipped_files", [])
    if skipped:
        items = "".join(f"<li>{escape(f['file'])}: {escape(f['reason'])}</li>" for f in skipped)
        parts.append(
            f'<div class="warn">{len(skipped):,} of {_n(d.get("files_read"))} input files skipped as unreadable '
            f"(none of their documents are counted or kept):<ul>{items}</ul></div>"
        )
    missing = d.get("missing_files", [])
    if missing:
        items = "".join(f"<li>{escape(name)}</li>" for name in missing)
        parts.append(
            f'<div class="warn">final files missing from data/ (their documents are not counted):<ul>{items}</ul></div>'
        )
    return "".join(parts)


def _cpu(manifest: dict) -> str:
    bars = [
        Bar(f"{name} {step}", v["cpu_seconds"], PALETTE[k % len(PALETTE)], f"{v['cpu_seconds']:.2f} s")
        for name, d in manifest["datasets"].items()
        for k, (step, v) in enumerate(d["steps"].items())
    ]
    return bar_chart("cpu", "CPU time per step (seconds in pipeline blocks, summed over tasks)", bars)


NOTHING_MEASURED = (
    "Nothing measured: no task of this stage wrote an exit record (a local run; on Slurm, no task has "
    "ended yet)."
)


def _resources(manifest: dict) -> str:
    """Per step, how much of the CPUs, memory and time its Slurm tasks asked for they used, and the profile
    values that would fit them (`smolprep.slurm.efficiency`)."""
    effs = [StepEfficiency.from_json(e) for e in manifest.get("efficiency", [])]
    if not effs:
        return f"<p>{NOTHING_MEASURED}</p>"
    rows = [[escape(cell) for cell in row] for row in render_rows(effs)]
    memory, time = round(100 * (MEMORY_HEADROOM - 1)), round(100 * (TIME_HEADROOM - 1))
    suggested = suggested_profile_yaml(effs)
    profile = (
        "<p>Suggested values for the cluster profile (<code>steps:</code>; a step shared by several "
        f"datasets gets the largest):</p><pre>{escape(suggested)}</pre>"
        if suggested
        else ""
    )
    return (
        f"<p>Measured from the tasks' exit records; suggestions add {memory}% memory and {time}% time "
        "headroom.</p>" + _table(list(HEADER), rows, {1, 2, 3, 4}) + profile
    )


def render_html(manifest: dict) -> str:
    tokens = manifest["tokens"]
    token_class = "estimate" if tokens["method"] in ("estimate", "mixed") else ""
    warnings = manifest["warnings"]
    warn_html = (
        '<div class="warn"><b>Warnings</b><ul>'
        + "".join(f"<li>{escape(w)}</li>" for w in warnings)
        + "</ul></div>"
        if warnings
        else '<div class="ok">No warnings: every step complete and accounted for, no dataset over the epoch limit.</div>'
    )
    toc = " · ".join(f'<a href="#ds-{escape(n)}">{escape(n)}</a>' for n in manifest["datasets"])
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>smolprep report: {escape(manifest["stage"])}</title>'
        f"<style>{STYLE}</style></head><body>"
        f"<h1>Stage {escape(manifest['stage'])}</h1>"
        f'<p class="meta">generated {escape(manifest["generated"])} by smolprep {escape(manifest["smolprep_version"])}'
        f" · config {escape(manifest['config'])} · run directory {escape(manifest['stage_dir'])}"
        f" · {'complete' if manifest['complete'] else 'INCOMPLETE'} · CPU {manifest['cpu_seconds']:,.1f} s</p>"
        f"{warn_html}"
        f"<h2>Mixture</h2>"
        f'<p>Tokens: <span class="{token_class}">{escape(tokens["label"])}</span>. '
        f"Total {_n(manifest['tokens_total'])} tokens; budget {_n(manifest['token_budget'])} "
        f"({escape(manifest['token_budget_source'])}); epoch limit {manifest['max_epochs']:g}.</p>"
        f"{_mixture(manifest)}"
        f"<h2>Datasets</h2><p>{toc}</p>"
        + "".join(_dataset(n, d) for n, d in manifest["datasets"].items())
        + f"<h2>CPU time</h2>{_cpu(manifest)}"
        + f"<h2>Resources</h2>{_resources(manifest)}"
        '<p class="meta">Every number comes from manifest.json next to this file (datatrove\'s per-task stats '
        "merged, the writers' own counts of what they wrote included).</p></body></html>\n"
    )
