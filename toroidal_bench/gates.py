"""Pass gates: absolute thresholds and maximum drops against a baseline run.

A gate never passes on missing data: no matching rows, failed cells among them, or a NaN mean all
fail the gate. Gates are checked per model spec: every spec in the file must pass.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .errors import UsageError

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
        return f"{where} drop ≤ {self.max_drop}" if self.relative else f"{where} {self.op} {self.value}"


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
    sel = (df["task"] == gate.task) & (df["metric"] == gate.metric)
    if gate.context_length is not None:
        sel &= df["context_length"] == gate.context_length
    if gate.model is not None:
        sel &= df["model_spec"] == gate.model
    return df[sel]


def _mean(rows: pd.DataFrame) -> tuple[float | None, str]:
    if rows.empty:
        return None, "no matching rows"
    failed = int(rows["error"].notna().sum())
    if failed:
        return None, f"{failed} of {len(rows)} rows come from failed cells"
    mean = float(rows["value"].mean())
    if math.isnan(mean):
        return None, "mean is NaN"
    return mean, ""


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
            observed, reason = _mean(mine)
            if gate.relative:
                verdicts.append(_relative(gate, spec, mine, observed, reason, baseline))
                continue
            threshold = gate.value
            passed = observed is not None and OPS[gate.op](observed, threshold)
            if observed is not None and not passed:
                reason = f"{observed:.4g} is not {gate.op} {threshold:g}"
            verdicts.append(Verdict(gate, spec, passed, observed, threshold, len(mine), reason))
    return verdicts


def _relative(gate: Gate, spec: str, mine: pd.DataFrame, observed, reason, baseline) -> Verdict:
    if baseline is None:
        return Verdict(gate, spec, False, observed, None, len(mine), "no baseline file given")
    base_rows = _select(baseline, gate)
    same = base_rows[base_rows["model_spec"] == spec]
    if same.empty and base_rows["model_spec"].nunique() == 1:
        same = base_rows  # a single-spec baseline is the reference for every spec
    base_mean, base_reason = _mean(same)
    if observed is None or base_mean is None:
        why = reason or f"baseline: {base_reason}"
        return Verdict(gate, spec, False, observed, None, len(mine), why)
    threshold = base_mean - gate.max_drop
    passed = observed >= threshold
    why = "" if passed else f"dropped {base_mean - observed:.4g} from baseline {base_mean:.4g}"
    return Verdict(gate, spec, passed, observed, threshold, len(mine), why)
