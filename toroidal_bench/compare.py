"""Compare runs: each metric's aggregate per (task, context_length, position range) for each run
column, with deltas against the first.

A run column is one model spec in one file (a file holding several specs gives several columns).
The columns in order, the reference first, are in `table.attrs["columns"]`: a column need not have
rows for every key, so the order of the rows does not tell.

How a metric aggregates and which direction is better come from its declaration (metrics.py):
accuracy is a mean over samples, perplexity is exp(Σ nll ÷ Σ tokens) over the samples' `nll` and
`tokens` rows. Where sample ids match between a column and the reference, the delta gets a 95%
paired bootstrap confidence interval that resamples samples (documents) and recomputes the
aggregate on both sides; wins/losses count the samples whose own value improved/worsened in the
metric's direction. Pure functions returning DataFrames; rendering lives in the CLI.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import results
from .errors import ResultsError, UsageError
from .metrics import Metric, metric

POSITION = ["position", "position_end"]
KEY = ["task", "context_length", "metric", *POSITION]
#: a ratio metric's inputs are the other metrics of the same samples under the same group
GROUP = ["task", "context_length", *POSITION]
_NONE = -1  # stands for a null position while grouping (pandas drops NaN keys from pivots)


@dataclass(frozen=True)
class Column:
    label: str
    path: str
    model_spec: str


def load_columns(paths: list[str | Path], spec_order: list[str] | None = None
                 ) -> tuple[list[Column], dict[str, pd.DataFrame]]:
    """One column per (file, model spec); a file's specs in `spec_order` (e.g. a suite's models, so
    its first model is the reference) where given, else in the order their rows appear."""
    if not paths:
        raise UsageError("give at least one results file")
    columns: list[Column] = []
    frames: dict[str, pd.DataFrame] = {}
    rank = {spec: i for i, spec in enumerate(spec_order or [])}
    for path in paths:
        df = results.read(Path(path))
        specs = list(dict.fromkeys(df["model_spec"]))
        specs.sort(key=lambda s: rank.get(s, len(rank)))  # stable: unranked specs keep their order
        if not specs:
            raise ResultsError(f"{path} holds no rows to compare")
        for spec in specs:
            label = Path(path).stem if len(specs) == 1 else f"{Path(path).stem}[{spec}]"
            if any(c.label == label for c in columns):
                label = f"{label}#{len(columns) + 1}"
            columns.append(Column(label, str(path), spec))
            frames[label] = df[df["model_spec"] == spec]
    return columns, frames


def paired_bootstrap_ci(diffs: np.ndarray, confidence: float = 0.95, n_resamples: int = 2000,
                        seed: int = 0) -> tuple[float, float] | None:
    """Percentile CI of the mean paired difference; None with fewer than two pairs."""
    diffs = np.asarray(diffs, dtype=float)
    return paired_metric_ci(metric("mean of differences"), [np.zeros_like(diffs)], [diffs], confidence,
                            n_resamples, seed)


def paired_metric_ci(m: Metric, ref: list[np.ndarray], new: list[np.ndarray], confidence: float = 0.95,
                     n_resamples: int = 2000, seed: int = 0) -> tuple[float, float] | None:
    """Percentile CI of aggregate(new) − aggregate(ref) under resampling of paired samples: `ref` and
    `new` hold one array per input of `m`, aligned by sample. None with fewer than two pairs."""
    from scipy.stats import bootstrap

    n = len(ref[0])
    if n < 2:
        return None
    k = len(ref)

    def statistic(*arrays, axis=-1):
        return m.combine(*arrays[k:], axis=axis) - m.combine(*arrays[:k], axis=axis)

    whole = float(statistic(*ref, *new))
    if all(np.array_equal(b - a, np.full(n, (b - a)[0])) for a, b in zip(ref, new, strict=True)) \
            and m.aggregation == "mean":
        return whole, whole  # every resample moves by the same amount
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bootstrap((*ref, *new), statistic, paired=True, vectorized=True, confidence_level=confidence,
                        n_resamples=n_resamples, method="percentile", rng=np.random.default_rng(seed))
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if np.isnan(low) and np.isfinite(whole):  # a degenerate bootstrap distribution: every resample equal
        return whole, whole
    return low, high


def per_sample(df: pd.DataFrame) -> pd.DataFrame:
    """Successful rows as one row per (group, sample) and one column per metric (null positions as −1)."""
    ok = _keyed(df[df["error"].isna()])
    if ok.empty:
        return pd.DataFrame(columns=[*GROUP, "sample_id"]).set_index([*GROUP, "sample_id"])
    return ok.pivot_table(index=[*GROUP, "sample_id"], columns="metric", values="value", aggfunc="first")


def aggregate(m: Metric, samples: pd.DataFrame) -> tuple[float, int]:
    """(the metric's aggregate over these per-sample rows, samples it used); NaN when an input is missing."""
    if not set(m.inputs) <= set(samples.columns):
        return float("nan"), 0
    values = samples[list(m.inputs)].dropna()
    if values.empty:
        return float("nan"), 0
    return float(m.combine(*(values[c].to_numpy(dtype=float) for c in m.inputs))), len(values)


def compare(paths: list[str | Path], seed: int = 0, spec_order: list[str] | None = None) -> pd.DataFrame:
    """Long table: one row per (task, context_length, metric, position range, column) with the
    aggregate `value`, n, errors, the metric's direction, and delta/CI/wins/losses against the first
    column (see `load_columns` for the column order)."""
    columns, frames = load_columns(paths, spec_order)
    ref_samples = per_sample(frames[columns[0].label])
    out = []
    for col in columns:
        df = _keyed(frames[col.label])
        samples = ref_samples if col is columns[0] else per_sample(frames[col.label])
        counts = df.assign(ok=df["error"].isna()).groupby(KEY, sort=False)["ok"].agg(["sum", "size"])
        values = {k: g.to_numpy(float) for k, g in df[df["error"].isna()].groupby(KEY)["value"]}
        for key, (n_ok, size) in counts.iterrows():
            fields = dict(zip(KEY, key, strict=True))
            m = metric(fields["metric"])
            mine = _group(samples, key)
            if not n_ok:
                value = float("nan")
            elif m.derived:  # ratio, geometric: recomputed from the inputs
                value = aggregate(m, mine)[0]
            else:  # every row counts, as a plain mean or sum of the column would
                value = float(m.combine(values[key]))
            row = dict(fields, column=col.label, path=col.path, model_spec=col.model_spec, value=value,
                       n=int(n_ok), n_error=int(size - n_ok), better=m.better, aggregation=m.aggregation)
            if col is not columns[0] and n_ok:
                row.update(_delta(m, mine, _group(ref_samples, key), value))
            out.append(row)
    table = pd.DataFrame(out)
    for c in ("delta", "ci_low", "ci_high", "wins", "losses", "paired"):
        if c not in table:
            table[c] = np.nan
    order = {c.label: i for i, c in enumerate(columns)}
    table["_order"] = table["column"].map(order)
    table = table.sort_values([*GROUP[:2], "metric", *POSITION, "_order"]).drop(columns="_order")
    for c in POSITION:
        table[c] = table[c].where(table[c] != _NONE).astype("Int64")
    table = table.reset_index(drop=True)
    table.attrs["columns"] = [c.label for c in columns]
    return table


def _keyed(df: pd.DataFrame) -> pd.DataFrame:
    return df.assign(**{c: df[c].fillna(_NONE).astype("int64") for c in POSITION})


def _group(samples: pd.DataFrame, key: tuple) -> pd.DataFrame:
    """The per-sample rows of the group `key` (a KEY tuple), indexed by sample id."""
    fields = dict(zip(KEY, key, strict=True))
    where = tuple(fields[c] for c in GROUP)
    try:
        return samples.xs(where, level=GROUP)
    except KeyError:
        return samples.iloc[0:0].droplevel(GROUP) if len(samples.index.names) > 1 else samples.iloc[0:0]


def _delta(m: Metric, mine: pd.DataFrame, base: pd.DataFrame, value: float) -> dict:
    base_value = aggregate(m, base)[0]
    if np.isnan(base_value):
        return {}
    delta = value - base_value
    inputs = list(m.inputs)
    shared = [s for s in mine.index if s in base.index]
    both = pd.concat([base.reindex(shared)[inputs], mine.reindex(shared)[inputs]], axis=1, keys=["a", "b"]).dropna()
    ci = paired_metric_ci(m, [both["a"][c].to_numpy(float) for c in inputs],
                          [both["b"][c].to_numpy(float) for c in inputs]) if inputs else None
    own = pd.concat([base.reindex(shared).get(m.name), mine.reindex(shared).get(m.name)], axis=1,
                    keys=["a", "b"]).dropna() if m.name in mine and m.name in base else pd.DataFrame()
    moves = [m.improved(d) for d in (own["b"] - own["a"])] if not own.empty else []
    return {"delta": delta, "ci_low": ci[0] if ci else np.nan, "ci_high": ci[1] if ci else np.nan,
            "wins": moves.count(True) if m.better else np.nan, "losses": moves.count(False) if m.better else np.nan,
            "paired": len(both)}


def wide(table: pd.DataFrame) -> pd.DataFrame:
    """One row per key, one aggregate column per run in run order (for csv/markdown)."""
    keyed = table.assign(**{c: table[c].fillna(_NONE) for c in POSITION})
    values = keyed.pivot_table(index=KEY, columns="column", values="value", sort=False)
    order = [c for c in table.attrs.get("columns", values.columns) if c in values.columns]
    out = values[order].reset_index()
    for c in POSITION:
        out[c] = out[c].where(out[c] != _NONE).astype("Int64")
    return out
