"""`tbench report RESULTS... --out DIR`: a static HTML page with figures, tables and run metadata."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .errors import handles_errors
from .output import err_console


@handles_errors
def report(
    files: Annotated[list[Path], typer.Argument(help="Results files (.parquet); the first file's first "
                                                     "model spec is the compare table's reference.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory for index.html and the PNG/SVG figures.")],
    suite: Annotated[str | None, typer.Option(
        "--suite", "-s", help="Also check this suite's gates on each results file (name or YAML path).")] = None,
    baseline: Annotated[Path | None, typer.Option(
        "--baseline", help="Baseline results: the compare table's reference and every max_drop gate's "
                           "baseline.")] = None,
) -> None:
    """Write DIR/index.html — NIAH depth × length heat maps, score vs context length with 95% bootstrap
    bands, NLL vs token position, the compare table, gate outcomes (with --suite), cost and run
    metadata — and each figure as PNG and SVG beside it. A part without data is left out with a
    note. Needs matplotlib (the 'plots' extra). Exit 0 even when a gate fails: `tbench gate` decides."""
    from ..report import build

    result = build(files, out, suite=suite, baseline=baseline)
    for note in result.notes:
        err_console.print(f"[yellow]{note}[/yellow]", highlight=False)
    err_console.print(f"wrote {result.index} ({len(result.files)} figure files)", highlight=False)
