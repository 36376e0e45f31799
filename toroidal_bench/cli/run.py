"""`tbench run task ...` and `tbench run suite ...`."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from . import options as o
from .errors import EXIT_CELLS, EXIT_GATE, handles_errors
from .output import err_console

DataFile = Annotated[Path | None, typer.Option(
    "--data-file", help="Your own text for the perplexity task: a .txt file, a folder of them, or a .jsonl "
                        "with a 'text' field.")]
Param = Annotated[list[str] | None, typer.Option(
    "--param", "-p", help="Task parameter key=value (value read as YAML), e.g. protocol=sliding; repeatable.")]

app = typer.Typer(help="Run tasks or a suite and write results as Parquet.", no_args_is_help=True)


@app.command("task")
@handles_errors
def run_task(
    tasks: Annotated[list[str], typer.Argument(help="Task names (see `tbench list tasks`) or task YAML paths.")],
    model: Annotated[list[str], typer.Option("--model", "-m", help="Model spec; repeat for several.")],
    length: Annotated[list[int], typer.Option("--length", "-L", help="Context length in tokens; repeatable.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Results file (.parquet).")],
    limit: o.Limit = None, seed: o.Seed = 0, resume: o.Resume = False, overwrite: o.Overwrite = False,
    device: o.Device = None, dtype: o.Dtype = None, attn: o.Attn = None, device_map: o.DeviceMap = None,
    trust_remote_code: o.TrustRemoteCode = False, haystack_dir: o.HaystackDir = None,
    data_dir: o.DataDir = None, max_batch_tokens: o.MaxBatchTokens = None,
    beyond_max_positions: o.BeyondMaxPositions = False,
    data_file: DataFile = None, param: Param = None, chat_template: o.ChatTemplate = False,
) -> None:
    """Run TASKS for every --model at every --length."""
    from ..suites import expand

    params = {**_overrides(haystack_dir, data_dir, data_file), **_params(param)}
    cells = expand(model, tasks, length, seed=seed, limit=limit, params=params,
                   beyond_max_positions=beyond_max_positions, chat_template=chat_template)
    summary = _execute(cells, out, locals(), suite=None)
    _exit(summary, gates_ok=True)


@app.command("suite")
@handles_errors
def run_suite(
    suite: Annotated[str, typer.Argument(help="Suite name (see `tbench list suites`) or a suite YAML path.")],
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Results file (default: results/SUITE-TIME.parquet).")]
    = None,
    limit: o.Limit = None, resume: o.Resume = False, overwrite: o.Overwrite = False,
    device: o.Device = None, dtype: o.Dtype = None, attn: o.Attn = None, device_map: o.DeviceMap = None,
    trust_remote_code: o.TrustRemoteCode = False, haystack_dir: o.HaystackDir = None,
    data_dir: o.DataDir = None, max_batch_tokens: o.MaxBatchTokens = None,
    baseline: Annotated[Path | None, typer.Option("--baseline", help="Baseline results for relative gates.")] = None,
    beyond_max_positions: o.BeyondMaxPositions = False, chat_template: o.ChatTemplate = False,
    profile: Annotated[str | None, typer.Option(
        "--profile", help="A profile of the suite (its 'profiles:'), e.g. offline: other models, lengths, limits.")]
    = None,
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a suite key: key=value, the value read as YAML, dotted keys for nested ones "
                      "(--set limit=5, --set params.protocol=sliding, --set seed=3); repeatable.")]
    = None,
    models: Annotated[str | None, typer.Option(
        "--models", help="Model specs, comma-separated, replacing the suite's models and grid "
                         "(e.g. ref:rope,ref:toroidal-d1); gates naming other models are skipped.")] = None,
) -> None:
    """Run a suite, then check its gates (exit 1 when one fails). A plan suite runs no cells: phase9
    and phase10 package or judge the newest results of the phases they name, toroidal-finetune
    trains (--out: the model folder)."""
    from ..suites import load_plan, load_suite, suite_cells

    plan = load_plan(suite, profile=profile, sets=set_, models=models)
    if plan is not None:
        from .plan import run_plan

        run_plan(plan, out, resume=resume, overwrite=overwrite)
        return
    s = load_suite(suite, profile=profile, sets=set_, models=models)
    for gate in s.dropped_gates:
        err_console.print(f"[yellow]skipped gate[/] {gate.describe()} on {gate.model or gate.relative_to}: not among --models",
                          highlight=False)
    cells = suite_cells(s, limit=limit, params=_overrides(haystack_dir, data_dir),
                        beyond_max_positions=beyond_max_positions, chat_template=chat_template)
    if out is None:
        out = Path("results") / f"{s.name}-{datetime.now():%Y%m%d-%H%M%S}.parquet"
    summary = _execute(cells, out, locals() | {"seed": s.seed}, suite=s.name)
    _show_scores(summary.out, [c.model_spec for c in cells])
    gates_ok = True
    from ..distributed import env

    where = env()
    if s.gates and (where is None or where.is_main):  # under torchrun, rank 0 alone judges the merged file
        from .gate import check_and_render

        gates_ok = check_and_render(s.gates, out, baseline)
    _exit(summary, gates_ok)


def _show_scores(path: Path, spec_order: list[str]) -> None:
    """The suite's scores, one column per model spec in the suite's order (its first model is the
    reference), as `tbench compare RESULTS` shows them."""
    from ..compare import compare as compare_runs
    from .compare import _rich_tables
    from .output import console

    for table in _rich_tables(compare_runs([path], spec_order=list(dict.fromkeys(spec_order)))):
        console.print(table)


def _overrides(haystack_dir: Path | None, data_dir: Path | None, data_file: Path | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if haystack_dir is not None:
        params["haystack_dir"] = str(haystack_dir)
    if data_dir is not None:
        params["data_dir"] = str(data_dir)
    if data_file is not None:
        params["data_file"] = str(data_file)
    return params


def _params(items: list[str] | None) -> dict[str, Any]:
    """`--param key=value` pairs; each value is read as YAML (512 → int, true → bool, sliding → str)."""
    import yaml

    from ..errors import UsageError

    params: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {item!r} is not key=value", "e.g. --param protocol=sliding")
        try:
            value = yaml.safe_load(text) if text.strip() else text
        except yaml.YAMLError:
            value = text
        params[key.strip()] = value
    return params


def _execute(cells, out: Path, args: dict[str, Any], suite: str | None):
    from ..evaluate import RunOptions, run_cells
    from ..preflight import check_run
    from .progress import RichReporter

    check_run(cells, device=args["device"], dtype=args["dtype"], attn=args["attn"],
              trust_remote_code=args["trust_remote_code"], max_batch_tokens=args["max_batch_tokens"],
              device_map=args["device_map"])
    opts = RunOptions(out=out, resume=args["resume"], overwrite=args["overwrite"], device=args["device"],
                      dtype=args["dtype"], attn=args["attn"], trust_remote_code=args["trust_remote_code"],
                      max_batch_tokens=args["max_batch_tokens"], device_map=args["device_map"], suite=suite,
                      seed=args["seed"],
                      command=["tbench", *sys.argv[1:]])
    summary = run_cells(cells, opts, RichReporter())
    skipped = f", {summary.skipped} already complete" if summary.skipped else ""
    err_console.print(f"wrote {summary.rows} rows to [bold]{summary.out}[/] "
                      f"({summary.cells} cells run{skipped}, {len(summary.failed)} failed, {summary.wall_s:.1f}s)",
                      highlight=False)
    return summary


def _exit(summary, gates_ok: bool) -> None:
    if summary.failed:
        err_console.print(f"[red]{len(summary.failed)} cell(s) failed[/]; their rows carry the error")
        raise typer.Exit(EXIT_CELLS)
    if not gates_ok:
        raise typer.Exit(EXIT_GATE)
