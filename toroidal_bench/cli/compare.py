"""`tbench compare A.parquet B.parquet ...`: each metric's aggregate per task × length, deltas vs the first run."""

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
    """Compare runs: each metric aggregated as declared (accuracy: mean; perplexity: exp(Σ NLL ÷ Σ tokens)),
    delta vs the first file with a 95% paired bootstrap CI over matching sample ids, and wins/losses
    counted in the metric's direction. Counts are left out of the table (not of json/csv); metrics
    measured by position (NLL by position) get a table of their own."""
    from ..compare import compare as compare_runs

    table = compare_runs(files)
    if fmt is not Format.table:
        emit_frame(table, fmt)
        return
    for rendered in _rich_tables(table):
        console.print(rendered)


def _rich_tables(table) -> list:
    """The scores table, then the by-position table when any metric has positions."""
    scored = table[table["better"].notna()]
    whole = scored[scored["position"].isna()]
    by_position = scored[scored["position"].notna()]
    if whole.empty and by_position.empty:  # nothing but counts: show them rather than nothing
        whole = table[table["position"].isna()]
    tables = [_rich_table(whole, table.attrs["columns"])] if not whole.empty else []
    if not by_position.empty:
        tables.append(_rich_table(by_position, table.attrs["columns"], positions=True))
    return tables


def _rich_table(table, columns: list[str] | None = None, positions: bool = False):
    from rich.markup import escape
    from rich.table import Table

    columns = columns or table.attrs["columns"]  # the reference first, whichever rows it has
    title = "tbench compare · by position" if positions else "tbench compare"
    t = Table(title=title, caption=f"Δ and 95% paired-bootstrap CI vs {escape(columns[0])}; green = better "
                                   "(↑ higher / ↓ lower is better); W/L = samples better/worse")
    keys = ["task", "length", "metric"] + (["positions"] if positions else [])
    for name in keys:
        t.add_column(name, style="cyan" if name == "task" else None,
                     justify="right" if name in ("length", "positions") else "left", overflow="fold")
    for c in columns:
        t.add_column(escape(c), justify="right", overflow="fold")  # labels like run[spec] are not markup
    group_by = ["task", "context_length", "metric", "position", "position_end"]
    for key, group in table.groupby(group_by, sort=False, dropna=False):
        task, length, metric, start, end = key
        cells = {r["column"]: r for _, r in group.iterrows()}
        arrow = {"higher": " ↑", "lower": " ↓"}.get(group["better"].iloc[0], "")
        row = [escape(task), str(length), escape(metric) + arrow]
        if positions:
            row.append(f"[{int(start)}, {int(end)})")
        t.add_row(*row, *(_cell(cells.get(c), i == 0) for i, c in enumerate(columns)))
    return t


def _cell(r, is_ref: bool) -> str:
    if r is None:
        return "[dim]—[/]"
    err = f" [red]{int(r['n_error'])} err[/]" if r["n_error"] else ""
    if r["n"] == 0:
        return f"[red]failed[/]{err}"
    value = "—" if _nan(r["value"]) else f"{r['value']:.4g}"
    text = f"{value} [dim](n={int(r['n'])})[/]"
    if is_ref or _nan(r.get("delta")):
        return text + err
    from ..metrics import metric

    d = r["delta"]
    better = metric(r["metric"]).improved(d)
    color = "green" if better else "red" if better is False else "dim"
    text += f"\n[{color}]Δ {d:+.4g}[/]"
    if not _nan(r.get("ci_low")):
        text += f" [{r['ci_low']:+.3g}, {r['ci_high']:+.3g}]"
    if not _nan(r.get("wins")):
        text += f" {int(r['wins'])}W/{int(r['losses'])}L"
    return text + err


def _nan(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))
