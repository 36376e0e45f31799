"""Compare runs: each metric's aggregate per (task, context_length, position range) for each run
column, with deltas against the first.

A run column is one model spec in one file (a file holding several specs gives several columns).
The columns in order, the reference first, are in `table.attrs["columns"]`: a column need not have
rows for every key, so the order of the rows does not tell. Each column's `label` (the file stem,
with the spec when the file holds several) identifies it in the rows; its heading, for tables, is
its model spec, with the file stem only where two columns share a spec (`table.attrs["headings"]`).

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
from .errors import ResultsError, UnknownNameError, UsageError
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
    heading: str = ""


def load_columns(paths: list[str | Path], spec_order: list[str] | None = None, reference: str | None = None
                 ) -> tuple[list[Column], dict[str, pd.DataFrame]]:
    """One column per (file, model spec); a file's specs in `spec_order` (e.g. a suite's models, so
    its first model is the reference) where given, else in the order their rows appear. `reference`
    (a model spec, or a column's heading where a spec is in several files) moves that column first."""
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
    columns = _with_headings(columns)
    if reference is not None:
        columns = _reference_first(columns, reference)
    return columns, frames


def _reference_first(columns: list[Column], reference: str) -> list[Column]:
    chosen = [c for c in columns if reference in (c.heading, c.model_spec)]
    if not chosen:
        raise UnknownNameError("reference", reference, [c.heading for c in columns])
    if len(chosen) > 1:
        raise UsageError(f"reference '{reference}' is in {len(chosen)} columns",
                         f"name one of: {', '.join(c.heading for c in chosen)}")
    return chosen + [c for c in columns if c is not chosen[0]]


def _with_headings(columns: list[Column]) -> list[Column]:
    """Name each column by its model spec; where specs repeat (the same model in two runs), add the
    file stem, then a number if that still repeats."""
    specs = [c.model_spec for c in columns]
    out: list[Column] = []
    for c in columns:
        heading = c.model_spec if specs.count(c.model_spec) == 1 else f"{c.model_spec} ({Path(c.path).stem})"
        if any(o.heading == heading for o in out):
            heading = f"{heading} #{len(out) + 1}"
        out.append(Column(c.label, c.path, c.model_spec, heading))
    return out


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


def compare(paths: list[str | Path], seed: int = 0, spec_order: list[str] | None = None,
            reference: str | None = None) -> pd.DataFrame:
    """Long table: one row per (task, context_length, metric, position range, column) with the
    aggregate `value`, n, errors, the metric's direction, and delta/CI/wins/losses against the first
    column (see `load_columns` for the column order)."""
    columns, frames = load_columns(paths, spec_order, reference)
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
    table.attrs["headings"] = {c.label: c.heading for c in columns}
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


def scores(table: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows a scores table shows: (whole-sample rows, by-position rows) of the metrics with a
    direction; counts (tokens, bytes, ...) only when there is nothing else to show."""
    scored = table[table["better"].notna()]
    whole, by_position = scored[scored["position"].isna()], scored[scored["position"].notna()]
    if whole.empty and by_position.empty:
        whole = table[table["position"].isna()]
    return whole, by_position


def task_names(tasks) -> dict[str, str]:
    """A short display name per task: a task given by YAML path (`lm-eval:path/to/x.yaml`) is shown
    by its file's stem (`lm-eval:x`), unless that would show two tasks alike."""
    def short(task: str) -> str:
        prefix, _, rest = task.rpartition(":") if task.startswith("lm-eval:") else ("", "", task)
        if rest.endswith((".yaml", ".yml")):
            return f"{prefix}:{Path(rest).stem}" if prefix else Path(rest).stem
        return task

    names = {t: short(t) for t in dict.fromkeys(tasks)}
    shown = list(names.values())
    return {t: n if shown.count(n) == 1 else t for t, n in names.items()}


def headings(table: pd.DataFrame) -> list[str]:
    """The column headings (model specs) in column order, the reference first."""
    named = table.attrs.get("headings", {})
    return [named.get(c, c) for c in table.attrs["columns"]]


def pivot(table: pd.DataFrame) -> pd.DataFrame:
    """The scores (see `scores`) as one row per (task, context_length, metric[, positions]) and, per
    column in order, its value and, past the reference, `<heading> delta`, `<heading> ci_low` and
    `<heading> ci_high`. Position columns appear only when a metric has positions."""
    whole, by_position = scores(table)
    rows = pd.concat([whole, by_position]) if not by_position.empty else whole
    positions = not by_position.empty
    keys = ["task", "context_length", "metric", *(POSITION if positions else [])]
    keyed = rows.assign(**{c: rows[c].fillna(_NONE) for c in POSITION})
    fields = ["value", "delta", "ci_low", "ci_high"]
    wide = keyed.set_index([*keys, "column"])[fields].unstack("column")  # one row per key and column
    wide = wide.reindex(pd.MultiIndex.from_frame(keyed[keys].drop_duplicates()))  # in the table's order
    out = wide.index.to_frame(index=False)
    named = dict(zip(table.attrs["columns"], headings(table), strict=True))
    for i, label in enumerate(table.attrs["columns"]):
        for field in fields[:1] if i == 0 else fields:
            name = named[label] if field == "value" else f"{named[label]} {field}"
            out[name] = wide[(field, label)].to_numpy() if (field, label) in wide else float("nan")
    for c in POSITION if positions else []:
        out[c] = out[c].where(out[c] != _NONE).astype("Int64")
    return out
