"""`tbench compare A.parquet B.parquet ...`: means per task × length × metric, deltas vs the first run."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from .errors import handles_errors
from .output import Format, console, emit_frame


@handles_errors
def compare(
    files: Annotated[list[Path], typer.Argument(help="Results files; the first is the reference.")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="table, markdown, json or csv.")] = Format.table,
) -> None:
    """Compare runs: mean per (task, context_length, metric), delta vs the first file with a 95% paired
    bootstrap CI over matching sample ids, and wins/losses."""
    from ..compare import compare as compare_runs

    table = compare_runs(files)
    if fmt is not Format.table:
        emit_frame(table, fmt)
        return
    console.print(_rich_table(table))


def _rich_table(table):
    from rich.markup import escape
    from rich.table import Table

    columns = table.attrs["columns"]  # the reference first, whichever rows it has
    t = Table(title="tbench compare",
              caption=f"Δ and 95% paired-bootstrap CI vs {escape(columns[0])}; W/L = samples up/down")
    for name in ("task", "length", "metric"):
        t.add_column(name, style="cyan" if name == "task" else None, justify="right" if name == "length" else "left",
                     overflow="fold")
    for c in columns:
        t.add_column(escape(c), justify="right", overflow="fold")  # labels like run[spec] are not markup
    for (task, length, metric), group in table.groupby(["task", "context_length", "metric"], sort=False):
        cells = {r["column"]: r for _, r in group.iterrows()}
        t.add_row(escape(task), str(length), escape(metric), *(_cell(cells.get(c), i == 0) for i, c in enumerate(columns)))
    return t


def _cell(r, is_ref: bool) -> str:
    if r is None:
        return "[dim]—[/]"
    err = f" [red]{int(r['n_error'])} err[/]" if r["n_error"] else ""
    if r["n"] == 0:
        return f"[red]failed[/]{err}"
    text = f"{r['mean']:.4g} [dim](n={int(r['n'])})[/]"
    if is_ref or _nan(r.get("delta")):
        return text + err
    d = r["delta"]
    color = "green" if d > 0 else "red" if d < 0 else "dim"
    text += f"\n[{color}]Δ {d:+.4g}[/]"
    if not _nan(r.get("ci_low")):
        text += f" [{r['ci_low']:+.3g}, {r['ci_high']:+.3g}]"
    if not _nan(r.get("paired")):
        text += f" {int(r['wins'])}W/{int(r['losses'])}L"
    return text + err


def _nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))
