"""Compare runs: mean per (task, context_length, metric) for each run column, deltas vs the first.

A run column is one model spec in one file (a file holding several specs gives several columns).
The columns in order, the reference first, are in `table.attrs["columns"]`: a column need not have
rows for every (task, length, metric), so the order of the rows does not tell.
Where sample ids match between a column and the reference (the first column), the delta gets a 95%
paired bootstrap confidence interval over per-sample differences, and wins/losses count the samples
that went up/down. Pure functions returning DataFrames; rendering lives in the CLI.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import results
from .errors import ResultsError, UsageError

KEY = ["task", "context_length", "metric"]


@dataclass(frozen=True)
class Column:
    label: str
    path: str
    model_spec: str


def load_columns(paths: list[str | Path]) -> tuple[list[Column], dict[str, pd.DataFrame]]:
    if not paths:
        raise UsageError("give at least one results file")
    columns: list[Column] = []
    frames: dict[str, pd.DataFrame] = {}
    for path in paths:
        df = results.read(Path(path))
        specs = list(dict.fromkeys(df["model_spec"]))
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
    from scipy.stats import bootstrap

    diffs = np.asarray(diffs, dtype=float)
    if len(diffs) < 2:
        return None
    if np.all(diffs == diffs[0]):
        return float(diffs[0]), float(diffs[0])  # every resample has the same mean
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = bootstrap((diffs,), np.mean, confidence_level=confidence, n_resamples=n_resamples,
                        method="percentile", rng=np.random.default_rng(seed))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def compare(paths: list[str | Path], seed: int = 0) -> pd.DataFrame:
    """Long table: one row per (task, context_length, metric, column) with mean, n, errors, and
    delta/CI/wins/losses against the first column."""
    columns, frames = load_columns(paths)
    ref = frames[columns[0].label]
    ref_ok = ref[ref["error"].isna()]
    out = []
    for col in columns:
        df = frames[col.label]
        ok = df[df["error"].isna()]
        errs = df[df["error"].notna()].groupby(KEY).size()
        for key, group in ok.groupby(KEY):
            row = dict(zip(KEY, key, strict=True), column=col.label, path=col.path, model_spec=col.model_spec,
                       mean=float(group["value"].mean()), n=len(group), n_error=int(errs.get(key, 0)))
            base = ref_ok[(ref_ok["task"] == key[0]) & (ref_ok["context_length"] == key[1])
                          & (ref_ok["metric"] == key[2])]
            row.update(_delta(group, base) if col is not columns[0] else {})
            out.append(row)
        for key, n_err in errs.items():  # cells with only failed rows still show up
            if not ((ok["task"] == key[0]) & (ok["context_length"] == key[1]) & (ok["metric"] == key[2])).any():
                out.append(dict(zip(KEY, key, strict=True), column=col.label, path=col.path,
                                model_spec=col.model_spec, mean=np.nan, n=0, n_error=int(n_err)))
    table = pd.DataFrame(out)
    for c in ("delta", "ci_low", "ci_high", "wins", "losses", "paired"):
        if c not in table:
            table[c] = np.nan
    order = {c.label: i for i, c in enumerate(columns)}
    table["_order"] = table["column"].map(order)
    table = table.sort_values([*KEY, "_order"]).drop(columns="_order").reset_index(drop=True)
    table.attrs["columns"] = [c.label for c in columns]
    return table


def _delta(group: pd.DataFrame, base: pd.DataFrame) -> dict:
    if base.empty:
        return {}
    delta = float(group["value"].mean() - base["value"].mean())
    paired = group.set_index("sample_id")["value"].to_frame("b").join(
        base.set_index("sample_id")["value"].to_frame("a"), how="inner")
    paired = paired[~paired.index.duplicated()]
    diffs = (paired["b"] - paired["a"]).to_numpy()
    ci = paired_bootstrap_ci(diffs)
    return {"delta": delta, "ci_low": ci[0] if ci else np.nan, "ci_high": ci[1] if ci else np.nan,
            "wins": int((diffs > 0).sum()), "losses": int((diffs < 0).sum()), "paired": len(diffs)}


def wide(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (task, context_length, metric), one mean column per run in run order (for csv/markdown)."""
    means = table.pivot_table(index=KEY, columns="column", values="mean", sort=False)
    order = [c for c in table.attrs.get("columns", means.columns) if c in means.columns]
    return means[order].reset_index()
