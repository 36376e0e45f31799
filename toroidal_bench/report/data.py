"""What each part of the report shows, as DataFrames: pure functions of the results rows, tested
without drawing anything.

Every figure reads successful rows only (failed cells have no value) and aggregates a metric as
metrics.py declares it: accuracy as a mean over samples, perplexity and NLL per token from the
samples' summed `nll` and `tokens`. Confidence bands are 95% bootstrap intervals over samples
(scipy.stats.bootstrap, percentile method) that recompute that same aggregate on each resample.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .. import results
from ..compare import aggregate, load_columns, per_sample
from ..metrics import Metric, metric

CONFIDENCE = 0.95
N_RESAMPLES = 1000
#: run-metadata keys shown on the page, in this order (results.py's writer stores them under tbench.run)
RUN_KEYS = ("run_id", "suite", "started", "finished", "resumed", "git_sha", "tbench_version", "torch_version",
            "transformers_version", "python_version", "device", "dtype", "attention", "decode_route", "seed", "host", "command")


@dataclass
class Runs:
    """The rows of every results file, one frame (`source`: the file each row came from), and each
    file's run metadata by path."""

    rows: pd.DataFrame
    paths: list[Path]
    meta: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def ok(self) -> pd.DataFrame:
        return self.rows[self.rows["error"].isna() & self.rows["value"].notna()]


def load(paths: list[Path]) -> Runs:
    """Read every results file (a missing or corrupt one raises ResultsError, one line). Each row's
    `series` names its line in the figures: its model spec, with the file's stem where two files
    hold the same spec at the same task and length (as `tbench compare` heads its columns)."""
    columns, frames = load_columns(list(paths))
    rows = pd.concat([frames[c.label].assign(source=c.path, series=c.heading) for c in columns], ignore_index=True)
    rows.attrs = {}
    for spec, mine in rows.groupby("model_spec", sort=False):
        # a spec in several files keeps one line where the files measured different things
        keys = mine.drop_duplicates(["source", "task", "context_length"])
        if not keys.duplicated(["task", "context_length"]).any():
            rows.loc[mine.index, "series"] = spec
    meta = {str(p): results.run_metadata(Path(p)) for p in paths}
    return Runs(rows, [Path(p) for p in paths], meta)


def primary_metric(rows: pd.DataFrame) -> str | None:
    """The first metric with a direction among `rows` (a task's headline: accuracy, keyword recall,
    perplexity), in the order the task wrote them; None when no metric has one."""
    for name in dict.fromkeys(rows["metric"]):
        if metric(name).better is not None:
            return name
    return None


def ordered_series(rows: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(rows["series"]))


# -- NIAH depth × length ------------------------------------------------------------------------------
def heatmaps(runs: Runs) -> list[tuple[str, str, str, pd.DataFrame]]:
    """(task, model spec, metric, grid) for every task with needle depths: grid rows are depths in
    percent (0 at the top), columns context lengths, cells the metric's aggregate over the samples at
    that depth and length (NaN where none ran)."""
    ok = runs.ok
    ok = ok[ok["depth"].notna() & ok["position"].isna()]
    out = []
    for task, rows in ok.groupby("task", sort=False):
        name = primary_metric(rows)
        if name is None:
            continue
        m = metric(name)
        rows = rows.assign(depth_pct=(rows["depth"] * 100).round(1))
        for spec in ordered_series(rows):
            mine = rows[rows["series"] == spec]
            cells = {}
            for (length, depth), group in mine.groupby(["context_length", "depth_pct"]):
                cells[(depth, length)] = _aggregate(m, group)[0]
            if not cells:
                continue
            grid = pd.Series(cells).unstack()  # rows depth, columns length
            grid = grid.sort_index().sort_index(axis=1)
            grid.index.name, grid.columns.name = "depth %", "context length"
            out.append((str(task), spec, name, grid))
    return out


# -- score vs context length --------------------------------------------------------------------------
def score_curves(runs: Runs) -> list[tuple[str, str, pd.DataFrame]]:
    """(task, metric, curve) per task measured at two or more lengths: one row per (model spec,
    context length) with the aggregate `value`, its CI (`low`, `high`; NaN with fewer than two
    samples) and `n` samples."""
    ok = runs.ok
    ok = ok[ok["position"].isna()]
    out = []
    for task, rows in ok.groupby("task", sort=False):
        name = primary_metric(rows)
        if name is None or rows["context_length"].nunique() < 2:
            continue
        m = metric(name)
        points = []
        for spec in ordered_series(rows):
            for length, group in rows[rows["series"] == spec].groupby("context_length"):
                value, n = _aggregate(m, group)
                low, high = bootstrap_ci(m, group)
                points.append({"series": spec, "context_length": int(length), "value": value,
                               "low": low, "high": high, "n": n})
        out.append((str(task), name, pd.DataFrame(points)))
    return out


def lengths_of(runs: Runs) -> dict[str, int]:
    """Distinct context lengths per task (whole-sample rows): a task at one length gets no curve."""
    ok = runs.ok
    return ok[ok["position"].isna()].groupby("task", sort=False)["context_length"].nunique().to_dict()


# -- NLL vs position ----------------------------------------------------------------------------------
def position_curves(runs: Runs) -> list[tuple[str, str, pd.DataFrame]]:
    """(task, metric, curve) per task with by-position rows: one row per (model spec, context length,
    position bucket [position, position_end)) with the aggregate `value` over the samples, `mid` the
    bucket's geometric middle (for a log axis) and `n` samples."""
    ok = runs.ok
    ok = ok[ok["position"].notna()]
    out = []
    for task, rows in ok.groupby("task", sort=False):
        name = primary_metric(rows)
        if name is None:
            continue
        m = metric(name)
        points = []
        for spec in ordered_series(rows):
            keys = ["context_length", "position", "position_end"]
            for (length, start, end), group in rows[rows["series"] == spec].groupby(keys):
                value, n = _aggregate(m, group)
                points.append({"series": spec, "context_length": int(length), "position": int(start),
                               "position_end": int(end), "mid": float(np.sqrt(start * max(end - 1, start))),
                               "value": value, "n": n})
        if points:
            out.append((str(task), name, pd.DataFrame(points)))
    return out


# -- cost ---------------------------------------------------------------------------------------------
def cost(runs: Runs) -> pd.DataFrame:
    """Per (model spec, task, context length): samples timed, prompt tokens per second (Σ prompt
    tokens ÷ Σ model seconds of the samples, from each row's `latency_s`) and mean seconds per
    sample; empty when no row has a latency."""
    rows = runs.rows[runs.rows["error"].isna() & runs.rows["latency_s"].notna()]
    samples = rows.drop_duplicates(["source", "cell_id", "sample_id"])  # a sample has a row per metric
    if samples.empty:
        return pd.DataFrame()
    out = []
    for (spec, task, length), g in samples.groupby(["series", "task", "context_length"], sort=False):
        seconds = float(g["latency_s"].sum())
        tokens = g["prompt_tokens"].dropna()
        out.append({"model spec": spec, "task": task, "context length": int(length), "samples": len(g),
                    "tokens/s": float(tokens.sum()) / seconds if seconds > 0 and len(tokens) else np.nan,
                    "s/sample": seconds / len(g)})
    return pd.DataFrame(out)


def peak_memory(runs: Runs) -> pd.DataFrame:
    """Peak memory where the results hold it, per (model spec, task, context length), in GiB: rows of
    a `peak_bytes` metric (as `tbench diagnose`'s profile names it) and each cell's peak device memory
    in the run metadata (`cell_cost`, recorded by `tbench run` on a GPU); the larger where both exist;
    empty when neither does."""
    keys = ["series", "task", "context_length"]
    rows = runs.ok[runs.ok["metric"] == "peak_bytes"]
    peaks = [rows[keys + ["value"]]] if not rows.empty else []
    cells = _cell_peaks(runs)
    if not cells.empty:
        peaks.append(cells)
    if not peaks:
        return pd.DataFrame()
    peak = pd.concat(peaks, ignore_index=True).groupby(keys, sort=False)["value"].max() / 2**30
    return peak.rename("peak GiB").reset_index().rename(columns={"series": "model spec",
                                                                 "context_length": "context length"})


def seed_spread(runs: Runs) -> pd.DataFrame:
    """Variance over seeds: per (model spec, task, context length) run at two or more seeds, the
    headline metric's aggregate at each seed, their mean and standard deviation (ddof 1). A row's
    seed is its cell's, from the run metadata. Empty when no cell was run at more than one seed."""
    seeds = {cell: settings.get("seed") for meta in runs.meta.values()
             for cell, settings in (meta.get("cells") or {}).items()}
    rows = runs.rows[runs.rows["error"].isna() & runs.rows["position"].isna()]
    rows = rows.assign(seed=rows["cell_id"].map(seeds))
    out = []
    for (spec, task, length), g in rows.groupby(["series", "task", "context_length"], sort=False):
        if g["seed"].nunique() < 2:
            continue
        name = primary_metric(g)
        if name is None:
            continue
        m = metric(name)
        per_seed = {int(seed): aggregate(m, per_sample(part))[0] for seed, part in g.groupby("seed")}
        values = np.array(list(per_seed.values()), dtype=float)
        out.append({"model spec": spec, "task": task, "context length": int(length), "metric": name,
                    "seeds": len(values), "mean": float(values.mean()), "sd": float(values.std(ddof=1)),
                    "per seed": ", ".join(f"{k}: {v:.4g}" for k, v in sorted(per_seed.items()))})
    return pd.DataFrame(out)


def _cell_peaks(runs: Runs) -> pd.DataFrame:
    """(series, task, context_length, value) of every cell with successful rows whose run metadata
    records a peak."""
    found = []
    for path in runs.paths:
        costs = runs.meta.get(str(path), {}).get("cell_cost") or {}
        peaks = {cid: c.get("peak_bytes") for cid, c in costs.items() if isinstance(c, dict)}
        peaks = {cid: v for cid, v in peaks.items() if v is not None}
        if not peaks:
            continue
        ok = runs.ok
        mine = ok[(ok["source"].astype(str) == str(path)) & ok["cell_id"].isin(list(peaks))]
        mine = mine.drop_duplicates("cell_id")
        found.append(mine[["series", "task", "context_length"]].assign(value=mine["cell_id"].map(peaks).astype(float)))
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame()


def run_table(runs: Runs) -> pd.DataFrame:
    """Run metadata, one column per results file, one row per key of RUN_KEYS any file has."""
    import shlex

    def shown(key: str, value: Any) -> str:
        if value is None or value == {}:
            return ""
        if key == "command" and isinstance(value, list):
            return shlex.join(map(str, value))
        if isinstance(value, dict):
            return "; ".join(f"{k}: {v}" for k, v in value.items())
        return str(value)

    columns = {str(p): {k: shown(k, runs.meta.get(str(p), {}).get(k)) for k in RUN_KEYS} for p in runs.paths}
    table = pd.DataFrame(columns, index=list(RUN_KEYS))
    return table[(table != "").any(axis=1)]


# -- aggregates and their CIs -------------------------------------------------------------------------
def _aggregate(m: Metric, rows: pd.DataFrame) -> tuple[float, int]:
    """The metric's aggregate over successful rows of one group (as `compare` computes it)."""
    samples = per_sample(rows)
    return aggregate(m, samples)


def bootstrap_ci(m: Metric, rows: pd.DataFrame) -> tuple[float, float]:
    """95% percentile bootstrap CI of the metric's aggregate over the samples of `rows` (one group),
    resampling samples and recomputing the aggregate (Σ nll ÷ Σ tokens for perplexity); NaN with
    fewer than two samples."""
    from scipy.stats import bootstrap

    samples = per_sample(rows)
    inputs = list(m.inputs)
    if not set(inputs) <= set(samples.columns):
        return np.nan, np.nan
    values = samples[inputs].dropna()
    if len(values) < 2:
        return np.nan, np.nan
    data = tuple(values[c].to_numpy(float) for c in inputs)
    if all(np.all(d == d[0]) for d in data):  # every resample equal: the interval is the point
        point = float(m.combine(*data))
        return point, point
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bootstrap(data, lambda *a, axis=-1: m.combine(*a, axis=axis), paired=True, vectorized=True,
                        confidence_level=CONFIDENCE, n_resamples=N_RESAMPLES, method="percentile",
                        rng=np.random.default_rng(0))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)
