"""The console table of `smolprep.slurm.efficiency`: one row per step, the cells of `render_rows`."""

from __future__ import annotations

from collections.abc import Sequence

from rich.table import Table

from smolprep.slurm.efficiency import HEADER, StepEfficiency, render_rows

NUMERIC = frozenset({1, 2, 3, 4})  # right-aligned columns of HEADER


def efficiency_table(effs: Sequence[StepEfficiency], title: str = "resource use per step") -> Table:
    table = Table(title=title)
    for i, column in enumerate(HEADER):
        table.add_column(column, justify="right" if i in NUMERIC else "left")
    for row in render_rows(effs):
        table.add_row(*row)
    return table
