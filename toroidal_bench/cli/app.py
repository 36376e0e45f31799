"""The Typer app: global options and one module per command group."""

from __future__ import annotations

from typing import Annotated

import typer

from . import compare, diagnose, doctor, gate, listing, report, run, train
from .errors import state

app = typer.Typer(
    name="tbench",
    help="Long-context benchmarks for positional encodings and attention variants.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _global(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks instead of one-line errors.")]
            = False) -> None:
    state["debug"] = debug


app.add_typer(run.app, name="run")
app.command("compare")(compare.compare)
app.command("gate")(gate.gate)
app.command("list")(listing.list_things)
app.command("doctor")(doctor.doctor)
app.command("diagnose")(diagnose.diagnose)
app.command("train")(train.train)
app.command("report")(report.report)
