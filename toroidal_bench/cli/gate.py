"""`tbench gate RESULTS --suite NAME`: exit 0 when every gate passes, 1 when one fails."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .errors import EXIT_GATE, handles_errors
from .output import console


@handles_errors
def gate(
    results_file: Annotated[Path, typer.Argument(help="Results file to check.")],
    suite: Annotated[str, typer.Option("--suite", "-s", help="Suite whose gates to check (name or YAML path).")],
    baseline: Annotated[Path | None, typer.Option("--baseline", help="Baseline results for max_drop gates.")] = None,
) -> None:
    """Check a suite's gates against a results file. Gates with no matching rows fail."""
    from ..suites import load_suite

    if not check_and_render(load_suite(suite).gates, results_file, baseline):
        raise typer.Exit(EXIT_GATE)


def check_and_render(gates, results_file: Path, baseline: Path | None) -> bool:
    from rich.markup import escape
    from rich.table import Table

    from .. import results
    from ..gates import evaluate

    df = results.read(results_file)
    base = results.read(baseline) if baseline else None
    if base is None and any(g.baseline for g in gates if g.relative):
        paths = {g.baseline for g in gates if g.relative and g.baseline}
        base = results.read(Path(sorted(paths)[0]))
    verdicts = evaluate(gates, df, base)
    t = Table(title=f"gates · {escape(str(results_file))}")
    for c in ("gate", "model_spec", "observed", "threshold", "n", "verdict"):
        t.add_column(c, justify="right" if c in ("observed", "threshold", "n") else "left")
    for v in verdicts:
        verdict = "[green]PASS[/]" if v.passed else f"[bold red]FAIL[/] {escape(v.reason)}"
        t.add_row(escape(v.gate.describe()), escape(v.model_spec), _num(v.observed), _num(v.threshold), str(v.n), verdict)
    console.print(t)
    return all(v.passed for v in verdicts)


def _num(x) -> str:
    return "—" if x is None else f"{x:.4g}"
