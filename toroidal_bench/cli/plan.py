"""`tbench run suite PLAN`: a plan suite's package (phase reports), decision (verdict table) or
training step."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

from rich.table import Table

from ..errors import UsageError
from .output import console, err_console

_COLOURS = {"go": "green", "no-go": "red", "incomplete": "yellow"}


def run_plan(plan, out: Path | None, resume: bool = False, overwrite: bool = False) -> None:
    from ..suites.plan import phase_results

    if plan.train is not None:
        _train(plan, out, resume, overwrite)
        return
    files = phase_results(plan)
    for phase, path in files.items():
        err_console.print(f"{phase}: {path if path else '[yellow]no results[/]'}", highlight=False)
    stamp = f"{plan.name}-{datetime.now():%Y%m%d-%H%M%S}"
    if plan.package:
        _package(plan, files, out or Path("reports") / stamp)
    else:
        _decide(plan, files, out or Path("results") / f"{stamp}.json")


def _train(plan, out: Path | None, resume: bool, overwrite: bool) -> None:
    from ..training import build_config, prepare, train
    from .train import progress_reporter

    settings = {k: v for k, v in plan.train.items() if k != "out"}
    cfg = build_config(None, {"name": plan.name, **settings})
    folder = out or Path(plan.train["out"])
    prepare(cfg, folder, resume=resume, overwrite=overwrite)  # every input check, before a model loads
    summary = train(cfg, folder, resume=resume, overwrite=overwrite, reporter=progress_reporter())
    err_console.print(f"saved [bold]{summary.out}[/] ({summary.trainable:,} of {summary.parameters:,} parameters "
                      f"trained; {summary.wall_s:.0f}s) — evaluate it as local:{summary.out}", highlight=False)


def _package(plan, files, out: Path) -> None:
    from ..report.package import package

    packed = package(files, out, profile=plan.profile)
    for p in packed:
        if p.results is None:
            err_console.print(f"[yellow]{p.phase}: no results, left out[/]", highlight=False)
    err_console.print(f"wrote {out / 'index.html'} ({sum(p.results is not None for p in packed)} phase reports)",
                      highlight=False)


def _decide(plan, files, out: Path) -> None:
    from ..suites.decision import decide

    if out.suffix != ".json":
        raise UsageError(f"output '{out}' of a decision must end in .json")
    table = decide(plan, files)
    if not table:
        raise UsageError("no encoding to decide on: the required phases have no results",
                         f"run {', '.join(plan.decision.require)} first, or map them in 'results:'")
    phases = [*plan.decision.preconditions, *plan.decision.require, *plan.decision.inform]
    view = Table(title=f"{plan.name}: verdict per encoding", show_lines=True)
    view.add_column("encoding", overflow="fold")
    for p in phases:
        view.add_column(p + ("" if p in plan.decision.require or p in plan.decision.preconditions else " (info)"),
                        overflow="fold")
    view.add_column("verdict", no_wrap=True, min_width=10)
    for row in table:
        view.add_row(row.encoding, *[row.phases[p].text() for p in phases],
                     f"[{_COLOURS[row.verdict]}]{row.verdict}[/]")
    console.print(view)
    for row in table:
        for reason in row.reasons:
            console.print(f"  {row.encoding}: {reason}", highlight=False, soft_wrap=False)
    record = {"plan": plan.name, "profile": plan.profile,
              "results": {p: str(f) if f else None for p, f in files.items()},
              "rule": {"preconditions": list(plan.decision.preconditions), "require": list(plan.decision.require),
                       "inform": list(plan.decision.inform)},
              "verdicts": [r.record() for r in table]}
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    tmp.replace(out)
    err_console.print(f"wrote {out}", highlight=False)
