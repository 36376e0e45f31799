"""Run cells: load each model once, make samples, query the runner, score, write one shard per cell.

A cell that fails (exception, OOM, NaN score) becomes rows with `error` set and the run goes on.
Shards make a crash lose at most the cell in flight; `resume` skips cells already complete, re-runs
failed ones, and refuses settings that would store a cell's samples twice. One run at a time writes a
results file (a lock), and `overwrite` keeps the old file until the new run is complete. Under
torchrun the cells are split over the ranks and rank 0 alone locks, plans and merges (distributed.py).

The run metadata records what each model and cell cost (costs.py): per model spec the compiles of its
load, self-check and cells (`compiles`), per cell its wall seconds, peak device memory and compiles
(`cell_cost`); compiled kernels persist under TBENCH_HOME (compile_cache.py).
"""

from __future__ import annotations

import gc
import json
import math
import shutil
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import compile_cache, distributed, results, resume, run_metadata
from .costs import Compiles, Meter, compiles_so_far, cuda_devices
from .errors import UsageError
from .metrics import At
from .suites import Cell
from .tasks.base import LogLikelihood, Sample
from .tasks.prefetch import Prefetcher

#: exit code on every rank when one rank stopped before its cells were done (an internal error)
EXIT_STOPPED = 70


@dataclass
class RunOptions:
    out: Path
    resume: bool = False
    overwrite: bool = False
    device: str | None = None
    dtype: str | None = None
    attn: str | None = None
    trust_remote_code: bool = False
    max_batch_tokens: int | None = None
    device_map: str | None = None  # spread each model over every visible GPU (models/device_map.py)
    suite: str | None = None
    seed: int = 0
    command: list[str] = field(default_factory=lambda: list(sys.argv))


@dataclass
class RunSummary:
    """What a run did. Under torchrun every rank gets the merged run's counts, but only rank 0 lists
    the failed cells (of all ranks): it alone reports them."""

    run_id: str
    out: Path
    cells: int
    skipped: int
    failed: list[str]
    rows: int
    wall_s: float


class Reporter:
    """Progress callbacks; the CLI draws them with rich, tests pass the silent default."""

    def start(self, total_cells: int, total_samples: int) -> None: ...
    def cell(self, cell: Cell, n_samples: int) -> None: ...
    def advance(self, n: int) -> None: ...
    def cell_done(self, cell: Cell, error: str | None) -> None: ...
    def stop(self) -> None: ...
    def finish(self, summary: RunSummary) -> None:
        """The run returned `summary` (not called when it raised)."""


def run_cells(cells: list[Cell], opts: RunOptions, reporter: Reporter | None = None) -> RunSummary:
    """Run `cells` into `opts.out`; under torchrun with several processes, each rank runs its share
    (see distributed.py) and every rank returns the same summary."""
    reporter = reporter or Reporter()
    out = Path(opts.out)
    _check_flags(out, opts)
    compile_cache.configure()  # before any model compiles
    with distributed.group(opts.device) as group:
        if group is None:
            summary = _run_alone(cells, opts, out, reporter)
        else:
            summary = _run_ranked(cells, opts, out, reporter, group)
    reporter.finish(summary)
    return summary


@dataclass
class _Plan:
    """What rank 0 decided under the lock: whether the run replaces the run file, the cells to run
    (by id) and the run metadata."""

    replacing: bool
    todo: list[str]
    meta: dict[str, Any]


def _plan(cells: list[Cell], out: Path, opts: RunOptions) -> _Plan:
    replacing, done, previous = _prepare(cells, out, opts)
    meta = run_metadata.new(opts, previous, cells)
    return _Plan(replacing, [c.cell_id for c in cells if c.cell_id not in done], meta)


def _run_alone(cells: list[Cell], opts: RunOptions, out: Path, reporter: Reporter) -> RunSummary:
    with results.exclusive(out):
        plan = _plan(cells, out, opts)
        todo = _select(cells, plan.todo)
        meta = plan.meta
        t0 = time.perf_counter()
        reporter.start(len(todo), sum(_planned_samples(c) for c in todo))
        failed: list[str] = []
        completed = False
        try:
            failed = _run_share(todo, opts.device, opts, out, meta, reporter, meta["compiles"])
            completed = True
        finally:
            reporter.stop()
            meta["finished"] = run_metadata.now()
            if completed or not plan.replacing:  # an unfinished replacement leaves its shards for --resume
                table = results.finalize(out, meta, keep_file=not plan.replacing)
    return RunSummary(meta["run_id"], out, len(todo), len(cells) - len(todo), failed, table.num_rows,
                      time.perf_counter() - t0)


def _run_ranked(cells: list[Cell], opts: RunOptions, out: Path, reporter: Reporter,
                group: distributed.Group) -> RunSummary:
    """Rank 0 holds the lock and plans; every rank runs its share and writes its shards; after a
    barrier rank 0 merges them, and every rank returns rank 0's summary."""
    rank, world = group.env.rank, group.env.world_size
    with results.exclusive(out) if group.is_main else nullcontext():
        plan = group.decide(lambda: _plan(cells, out, opts))
        if len(set(group.gather(_ids_digest(cells)))) > 1:
            raise UsageError("the ranks expanded different cells from the same command",
                             "start every rank with the same arguments, data and environment")
        todo = _select(cells, plan.todo)
        shares = distributed.partition([_weight(c) for c in todo], world)
        mine = [todo[i] for i in shares[rank]]
        meta = plan.meta
        t0 = time.perf_counter()
        reporter.start(len(mine), sum(_planned_samples(c) for c in mine))
        failed: list[str] = []
        compiles: dict[str, dict] = {}  # this rank's alone; rank 0 adds every rank's to the run's
        stopped: str | None = "stopped before its share was done"
        try:
            failed = _run_share(mine, distributed.device_for(opts.device, group.env), opts, out, meta, reporter,
                                compiles)
            stopped = None
        except BaseException as exc:
            stopped = _one_line(exc)
            raise
        finally:
            reporter.stop()
            # the barrier: every rank's share is done (or stopped) before rank 0 merges
            reports = group.gather({"failed": failed, "stopped": stopped, "attention": meta["attention"],
                                    "decode_route": meta["decode_route"], "self_check": meta["self_check"],
                                    "compiles": compiles, "cell_cost": meta["cell_cost"]})
            ranks = {todo[i].cell_id: r for r, share in enumerate(shares) for i in share}
            merged = group.decide(lambda: _merge(out, plan, reports, ranks, world))
    # rank 0 reports the failed cells (and exits 3 for them); the other ranks' runs succeeded
    failed = [cid for r in reports for cid in r["failed"]] if group.is_main else []
    return RunSummary(meta["run_id"], out, len(todo), len(cells) - len(todo), failed, merged,
                      time.perf_counter() - t0)


def _merge(out: Path, plan: _Plan, reports: list[dict], ranks: dict[str, int], world: int) -> int:
    """On rank 0 after the barrier: merge every rank's shards into the run file (rows returned); a
    rank that stopped early fails the run on every rank, its finished cells kept for --resume."""
    meta = plan.meta
    for r in reports:
        meta["attention"].update(r["attention"])
        meta["decode_route"].update(r["decode_route"])
        meta["self_check"].update(r["self_check"])
        meta["cell_cost"].update(r["cell_cost"])
        for spec, tally in r["compiles"].items():  # a model loaded by several ranks compiled on each
            _add_compiles(meta["compiles"], spec, Compiles.from_dict(tally))
    meta["ranks"] = {"world_size": world, "cells": ranks}  # which rank ran each cell of this run
    meta["finished"] = run_metadata.now()
    stopped = [(k, r["stopped"]) for k, r in enumerate(reports) if r["stopped"]]
    rows = 0
    if not stopped or not plan.replacing:  # an unfinished replacement leaves its shards for --resume
        rows = results.finalize(out, meta, keep_file=not plan.replacing).num_rows
    if stopped:
        k, why = stopped[0]
        raise distributed.RankError(f"rank {k} stopped before its cells were done: {why}",
                                    "finished cells are kept; re-run with --resume", EXIT_STOPPED)
    return rows


def _select(cells: list[Cell], ids: list[str]) -> list[Cell]:
    wanted = set(ids)
    return [c for c in cells if c.cell_id in wanted]


def _ids_digest(cells: list[Cell]) -> str:
    return resume.digest({"cells": [c.cell_id for c in cells]})


def _weight(cell: Cell) -> int:
    """A cell's planned work, for balancing ranks: samples × context length."""
    return _planned_samples(cell) * cell.length


def _run_share(cells: list[Cell], device: str | None, opts: RunOptions, out: Path, meta: dict,
               reporter: Reporter, compiles: dict[str, dict]) -> list[str]:
    """Run `cells`, each model loaded once, writing one shard per cell; the ids of the failed cells.
    Each model's compiles (load, self-check and cells) are added to `compiles`, by model spec."""
    failed: list[str] = []
    for spec_text, group in _by_model(cells).items():
        before = compiles_so_far()
        runner = None
        try:
            runner, load_error = _load(spec_text, group[0], opts, device)
            if runner is not None:
                meta["attention"][spec_text] = runner.attention
                meta["decode_route"][spec_text] = runner.decode_route
                if getattr(runner.model, "tbench_device_map", None):
                    meta["device_map"][spec_text] = runner.model.tbench_device_map
                load_error = _self_check(runner, spec_text, meta)
            with Prefetcher(runner.tokenizer if runner is not None else None) as prefetch:
                for k, cell in enumerate(group):
                    if runner is not None and k + 1 < len(group):
                        prefetch.ahead(group[k + 1])
                    error = _run_cell(cell, runner, load_error, out, meta, reporter, prefetch)
                    if error:
                        failed.append(cell.cell_id)
        finally:
            _add_compiles(compiles, spec_text, compiles_so_far() - before)
        del runner
        _free_memory()
    return failed


def _add_compiles(into: dict[str, dict], spec: str, tally: Compiles) -> None:
    into[spec] = (Compiles.from_dict(into.get(spec)) + tally).as_dict()


def _check_flags(out: Path, opts: RunOptions) -> None:
    if not out.name.endswith(".parquet"):
        raise UsageError(f"output '{out}' must end in .parquet")
    if opts.device_map is not None:
        from .preflight import check_device_map

        check_device_map(opts.device_map, opts.device)
    if opts.resume and opts.overwrite:
        raise UsageError("--resume and --overwrite contradict each other",
                         "pass --resume to continue the run, or --overwrite to start again")


def _prepare(cells: list[Cell], out: Path, opts: RunOptions) -> tuple[bool, set[str], dict]:
    """Under the lock: check the output, remove a killed run's temp files, and return (whether this
    run replaces the run file, ids of cells already complete, the resumed run's metadata)."""
    _check_output(out, opts)
    results.remove_temp_files(out)
    # an --overwrite run (and the resume of an interrupted one) replaces the run file, which stays
    # as it is until this run is complete
    replacing = (opts.overwrite and out.is_file()) or (opts.resume and results.replaces_file(out))
    done, previous = resume.state(cells, out, opts.resume, keep_file=not replacing)
    if opts.overwrite:
        if replacing:
            results.start_replacing(out)
        else:
            shutil.rmtree(results.shard_dir(out), ignore_errors=True)
    return replacing, done, previous


def _check_output(out: Path, opts: RunOptions) -> None:
    leftovers = results.shard_dir(out).is_dir()
    if (out.exists() or leftovers) and not (opts.resume or opts.overwrite):
        what = "an interrupted run left cell shards for" if leftovers and not out.exists() else "results exist at"
        raise UsageError(f"{what} {out}", "pass --resume to continue it, or --overwrite to start again")
    try:
        probe = out.parent / f".{out.name}.probe"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write to {out.parent}: {exc.strerror}", "choose a writable --out") from None


def _planned_samples(cell: Cell) -> int:
    """Samples a cell will make, for the progress bar's total (an estimate for wrapped harnesses)."""
    n = cell.task_params.get("num_samples")
    n = int(n) if isinstance(n, int) else (cell.limit or 1)
    return min(n, cell.limit) if cell.limit else n


def _by_model(cells: list[Cell]) -> dict[str, list[Cell]]:
    groups: dict[str, list[Cell]] = {}
    for c in cells:
        groups.setdefault(c.model_spec, []).append(c)
    return groups


def _load(spec_text: str, cell: Cell, opts: RunOptions, device: str | None):
    from .models.loading import default_device, load_model, parse_dtype, spec_hash
    from .models.runner import Runner

    try:
        device = device or default_device()
        model, tok = load_model(cell.spec, device, parse_dtype(opts.dtype, device), opts.trust_remote_code, opts.attn,
                                opts.device_map)
        return Runner(model, tok, spec=spec_text, spec_hash=spec_hash(cell.spec, model),
                      max_batch_tokens=opts.max_batch_tokens), None
    except Exception as exc:  # every cell of this model records why it could not run
        return None, _one_line(exc)


def _self_check(runner, spec_text: str, meta: dict) -> str | None:
    """Prefill, cached decoding and padded batching must agree before the model serves a cell; the
    outcome is kept in the run metadata, and a mismatch fails the model's cells."""
    from .models.self_check import self_check

    try:
        check = self_check(runner.model)
    except Exception as exc:  # an encoding that cannot even run the check cannot run a cell
        return f"self-check could not run: {_one_line(exc)}"
    meta["self_check"][spec_text] = check.as_dict()
    return None if check.passed else check.failure(spec_text)


def _run_cell(cell: Cell, runner, load_error: str | None, out: Path, meta: dict, reporter: Reporter,
              prefetch: Prefetcher) -> str | None:
    reporter.cell(cell, _planned_samples(cell))
    with Meter(cuda_devices(runner.model) if runner is not None else []) as cost:
        error, rows, samples = _cell_rows(cell, runner, load_error, reporter, prefetch)
        if runner is not None:
            runner.release()
    meta["cell_cost"][cell.cell_id] = cost.as_dict()
    for r in rows:
        r["run_id"] = meta["run_id"]
    prompts = {s.prompt_hash: s.prompt for s in samples}
    results.write_shard(out, cell.cell_id, rows, prompts, meta)
    reporter.cell_done(cell, error)
    return error


def _cell_rows(cell: Cell, runner, load_error: str | None, reporter: Reporter, prefetch: Prefetcher):
    """(the cell's error or None, its rows, its samples)."""
    samples: list[Sample] = []
    error = load_error
    rows: list[dict[str, Any]] = []
    if error is None:
        try:
            family = cell.task.build()
            family.params = cell.task_params
            t = time.perf_counter()
            scored = _evaluate_family(family, runner, cell, reporter, prefetch)
            samples = [s for s, _, _ in scored]
            latency = (time.perf_counter() - t) / max(1, len(samples))
            for s, o, scores in scored:
                bad = [_name(k) for k, v in scores.items() if v is None or math.isnan(v)]
                err = f"metric {', '.join(dict.fromkeys(bad))} is NaN" if bad else None
                rows += [_row(cell, runner, s, m, v, o, latency, err) for m, v in scores.items()]
            error = next((r["error"] for r in rows if r["error"]), None)
        except Exception as exc:
            error = _one_line(exc)
            rows = []
    if error and not rows:
        metrics = _metrics_of(cell)
        targets = samples or [None]
        rows = [_row(cell, runner, s, m, None, None, None, error) for s in targets for m in metrics]
    return error, rows, samples


def _evaluate_family(family, runner, cell: Cell, reporter: Reporter,
                     prefetch: Prefetcher) -> list[tuple[Sample, Any, dict]]:
    """(sample, output, scores) for a cell. Families wrapping another harness (e.g. lm-eval) define
    `evaluate(runner, length, seed, limit, progress)`, drive the runner themselves and call
    `progress(n)` as samples finish."""
    if hasattr(family, "evaluate"):
        return list(family.evaluate(runner, cell.length, cell.seed, cell.limit, progress=reporter.advance))
    samples = prefetch.samples(cell, family)
    outputs = runner.run([s.request for s in samples], progress=reporter.advance)
    return [(s, o, family.score(s, o)) for s, o in zip(samples, outputs, strict=True)]


def _metrics_of(cell: Cell) -> tuple[str, ...]:
    try:
        return cell.task.build().metrics or ("error",)
    except Exception:
        return ("error",)


def _name(key: str | At) -> str:
    return key.metric if isinstance(key, At) else key


def _row(cell: Cell, runner, s: Sample | None, key: str | At, value, output, latency, error) -> dict[str, Any]:
    """One results row; `key` is a metric name, or `At(metric, start, end)` for a range of positions."""
    ref = s.reference if s else None
    pred = output if isinstance(output, str) else None
    if isinstance(output, tuple) and s is not None and isinstance(s.request, LogLikelihood):
        pred = json.dumps({"logprob": output[0], "greedy": output[1]})
    return {
        "cell_id": cell.cell_id,
        "run_id": None,  # set by _run_cell
        "model_spec": cell.model_spec,
        "spec_hash": getattr(runner, "spec_hash", None),
        "model": cell.spec.spec.model.canonical(),
        "encoding": cell.spec.encoding_label,
        "task": cell.task.name,
        "context_length": cell.length,
        "depth": s.depth if s else None,
        "sample_id": sample_id(s.id, cell.seed) if s else "",
        "metric": _name(key),
        "position": key.start if isinstance(key, At) else None,
        "position_end": key.end if isinstance(key, At) else None,
        "value": None if value is None else float(value),
        "prediction": pred,
        "reference": ref if isinstance(ref, str) or ref is None else json.dumps(ref, default=str),
        "prompt_hash": s.prompt_hash if s else None,
        "prompt_tokens": s.prompt_tokens if s else None,
        "truncated_tokens": s.truncated_tokens if s else None,
        "latency_s": latency,
        "error": error,
        "meta": json.dumps(s.meta, sort_keys=True, default=str) if s and s.meta else None,
    }


def sample_id(own: str, seed: int) -> str:
    """A sample's id in the results: its family's id, marked with the seed unless that is 0, since the
    same id at another seed is another sample (another needle, key or haystack draw) and must not pair."""
    return own if seed == 0 else f"{own}~seed{seed}"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    return f"{type(exc).__name__}: {text}"[:500]


def _free_memory() -> None:
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass


__all__ = ["Reporter", "RunOptions", "RunSummary", "run_cells"]
