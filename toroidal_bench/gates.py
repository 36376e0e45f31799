"""Pass gates: absolute thresholds and maximum drops against a baseline run.

A gate's observed value is its metric's aggregate as declared in metrics.py (accuracy: the mean;
perplexity: exp(Σ nll ÷ Σ tokens) over the samples), over the rows without a position. `max_drop`
follows the metric's direction: for a lower-is-better metric (perplexity) the gate fails when the
value rises more than max_drop above the baseline's. A gate never passes on missing data: no
matching rows, failed cells among them, or a NaN aggregate all fail the gate. Gates are checked per
model spec: every spec in the file must pass.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .errors import UsageError
from .metrics import metric

OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}
_KEYS = {"task", "metric", "context_length", "model", "op", "value", "max_drop", "baseline"}


@dataclass(frozen=True)
class Gate:
    task: str
    metric: str
    context_length: int | None = None
    model: str | None = None
    op: str | None = None
    value: float | None = None
    max_drop: float | None = None
    baseline: str | None = None

    @property
    def relative(self) -> bool:
        return self.max_drop is not None

    def describe(self) -> str:
        where = f"{self.task}/{self.metric}" + (f"@{self.context_length}" if self.context_length else "")
        if self.relative:
            change = "rise" if metric(self.metric).better == "lower" else "drop"
            return f"{where} {change} ≤ {self.max_drop}"
        return f"{where} {self.op} {self.value}"


@dataclass(frozen=True)
class Verdict:
    gate: Gate
    model_spec: str
    passed: bool
    observed: float | None
    threshold: float | None
    n: int
    reason: str = ""


def parse_gates(items: list[Any], where: str) -> tuple[Gate, ...]:
    """Gates from suite YAML, every value checked by type (never coerced)."""
    if not isinstance(items, list):
        raise UsageError(f"'gates' in {where} must be a list")
    return tuple(_parse_gate(item, f"gate {i} in {where}") for i, item in enumerate(items, 1))


def _parse_gate(item: Any, what: str) -> Gate:
    if not isinstance(item, dict):
        raise UsageError(f"{what} must be a mapping")
    unknown = set(item) - _KEYS
    if unknown:
        raise UsageError(f"{what} has unknown keys: {', '.join(sorted(map(str, unknown)))}",
                         f"allowed: {', '.join(sorted(_KEYS))}")
    if "task" not in item or "metric" not in item:
        raise UsageError(f"{what} needs 'task' and 'metric'")
    for key in ("task", "metric", "model", "baseline"):
        if key in item and not (isinstance(item[key], str) and item[key].strip() and item[key].isprintable()):
            raise UsageError(f"{what}: {key} must be a non-empty one-line string, got {item[key]!r}")
    absolute = "op" in item or "value" in item
    if absolute == ("max_drop" in item):
        raise UsageError(f"{what} needs either op+value or max_drop (not both)")
    if absolute and not (isinstance(item.get("op"), str) and item["op"] in OPS):
        raise UsageError(f"{what}: op must be one of {' '.join(OPS)}, got {item.get('op')!r}")
    if absolute and not _finite(item.get("value")):
        raise UsageError(f"{what}: value must be a finite number, got {item.get('value')!r}")
    if "max_drop" in item and not (_finite(item["max_drop"]) and item["max_drop"] >= 0):
        raise UsageError(f"{what}: max_drop must be a finite number ≥ 0, got {item['max_drop']!r}")
    length = item.get("context_length")
    if length is not None and not (_is_int(length) and length > 0):
        raise UsageError(f"{what}: context_length must be a whole number of tokens, got {length!r}")
    return Gate(task=item["task"], metric=item["metric"], context_length=length, model=item.get("model"),
                op=item.get("op"), value=float(item["value"]) if absolute else None,
                max_drop=float(item["max_drop"]) if "max_drop" in item else None, baseline=item.get("baseline"))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(value: Any) -> bool:
    """A real number: not a bool, not NaN or infinite (a NaN threshold fails every comparison)."""
    if _is_int(value):
        return abs(value) < 2**63
    return isinstance(value, float) and math.isfinite(value)


def _select(df: pd.DataFrame, gate: Gate) -> pd.DataFrame:
    """The rows a gate reads: its metric and the metrics it aggregates from, without positions."""
    sel = (df["task"] == gate.task) & df["metric"].isin({gate.metric, *metric(gate.metric).inputs})
    sel &= df["position"].isna()
    if gate.context_length is not None:
        sel &= df["context_length"] == gate.context_length
    if gate.model is not None:
        sel &= df["model_spec"] == gate.model
    return df[sel]


def _aggregate(rows: pd.DataFrame, name: str) -> tuple[float | None, str]:
    """The metric's aggregate over `rows` (from _select), or None and why not."""
    own = rows[rows["metric"] == name]
    if own.empty:
        return None, "no matching rows"
    failed = int(rows["error"].notna().sum())
    if failed:
        return None, f"{failed} of {len(rows)} rows come from failed cells"
    m = metric(name)
    if m.derived:
        from .compare import aggregate, per_sample  # pandas pivots: only when a gate needs one

        value = aggregate(m, per_sample(rows))[0]
        if math.isnan(value):
            return None, f"no {' and '.join(m.inputs)} rows to aggregate {name} from"
    else:
        value = float(m.combine(own["value"].to_numpy(dtype=float)))
    if math.isnan(value):
        return None, f"{m.aggregation} is NaN"
    return value, ""


def evaluate(gates: tuple[Gate, ...] | list[Gate], df: pd.DataFrame,
             baseline: pd.DataFrame | None = None) -> list[Verdict]:
    if not gates:
        raise UsageError("no gates to check", "add a 'gates:' list to the suite, or pass a suite that has one")
    verdicts: list[Verdict] = []
    for gate in gates:
        rows = _select(df, gate)
        specs = sorted(rows["model_spec"].unique()) or [gate.model or "(none)"]
        for spec in specs:
            mine = rows[rows["model_spec"] == spec]
            observed, reason = _aggregate(mine, gate.metric)
            if gate.relative:
                verdicts.append(_relative(gate, spec, mine, observed, reason, baseline))
                continue
            threshold = gate.value
            passed = observed is not None and OPS[gate.op](observed, threshold)
            if observed is not None and not passed:
                reason = f"{observed:.4g} is not {gate.op} {threshold:g}"
            verdicts.append(Verdict(gate, spec, passed, observed, threshold, _count(mine, gate), reason))
    return verdicts


def _relative(gate: Gate, spec: str, mine: pd.DataFrame, observed, reason, baseline) -> Verdict:
    n = _count(mine, gate)
    if baseline is None:
        return Verdict(gate, spec, False, observed, None, n, "no baseline file given")
    base_rows = _select(baseline, gate)
    same = base_rows[base_rows["model_spec"] == spec]
    if same.empty and base_rows["model_spec"].nunique() == 1:
        same = base_rows  # a single-spec baseline is the reference for every spec
    base_value, base_reason = _aggregate(same, gate.metric)
    if observed is None or base_value is None:
        why = reason or f"baseline: {base_reason}"
        return Verdict(gate, spec, False, observed, None, n, why)
    if metric(gate.metric).better == "lower":  # a rise is the regression
        threshold = base_value + gate.max_drop
        passed = observed <= threshold
        why = "" if passed else f"rose {observed - base_value:.4g} from baseline {base_value:.4g}"
    else:
        threshold = base_value - gate.max_drop
        passed = observed >= threshold
        why = "" if passed else f"dropped {base_value - observed:.4g} from baseline {base_value:.4g}"
    return Verdict(gate, spec, passed, observed, threshold, n, why)


def _count(rows: pd.DataFrame, gate: Gate) -> int:
    """Rows of the gate's own metric (its inputs are not counted twice)."""
    return int((rows["metric"] == gate.metric).sum())
