"""Pass gates: absolute thresholds and maximum drops against a baseline run.

A gate's observed value is its metric's aggregate as declared in metrics.py (accuracy: the mean;
perplexity: exp(Σ nll ÷ Σ tokens) over the samples), over the rows without a position. `max_drop`
follows the metric's direction: for a lower-is-better metric (perplexity) the gate fails when the
value rises more than max_drop above the baseline's. With `use_ci: true` a max_drop gate fails only
when the 95% paired-bootstrap CI of the drop (samples matched to the baseline's by id, as `compare`
computes it) lies wholly beyond max_drop, so noise on a small sample does not fail CI. A gate never
passes on missing data: no matching rows, failed cells among them, a NaN aggregate, or (use_ci) fewer
than two samples paired with the baseline all fail the gate. Gates are checked per model spec: every
spec in the file must pass.

A `max_ratio` gate holds each spec to another spec of the same file (`relative_to`), in the metric's
direction: for a lower-is-better metric (peak memory) the value may be at most max_ratio × the
reference's, for a higher-is-better one (tokens/s) at least the reference's ÷ max_ratio — "no more
than 1.2× worse than RoPE". The reference spec itself is not gated.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import UsageError
from .metrics import metric

OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}
_KEYS = {"task", "metric", "context_length", "model", "op", "value", "max_drop", "baseline", "use_ci",
         "max_ratio", "relative_to"}
CONFIDENCE = 0.95  # of the paired-bootstrap CI a use_ci gate reads


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
    use_ci: bool = False  # max_drop gates: fail only when the drop's paired CI lies wholly beyond it
    max_ratio: float | None = None  # at most this many times worse than `relative_to`'s value
    relative_to: str | None = None  # the model spec a max_ratio gate compares with

    @property
    def relative(self) -> bool:
        return self.max_drop is not None

    @property
    def change(self) -> str:
        """What a regression is for this gate's metric: a 'rise' (lower is better) or a 'drop'."""
        return "rise" if metric(self.metric).better == "lower" else "drop"

    def describe(self) -> str:
        where = f"{self.task}/{self.metric}" + (f"@{self.context_length}" if self.context_length else "")
        if self.relative:
            return f"{where} {self.change} ≤ {self.max_drop:g}" + (" (CI)" if self.use_ci else "")
        if self.max_ratio is not None:
            return f"{where} within {self.max_ratio:g}× of {self.relative_to}"
        return f"{where} {self.op} {self.value:g}"


@dataclass(frozen=True)
class Verdict:
    """One gate checked on one model spec. `threshold` is the value the observed one is held to (for
    a max_drop gate: the baseline's value less the allowed drop); `delta` and `ci` (max_drop gates)
    are observed − baseline and, for use_ci gates, its paired CI. `reason` says why a gate failed,
    or why a use_ci gate passed although its point estimate lies beyond max_drop."""

    gate: Gate
    model_spec: str
    passed: bool
    observed: float | None
    threshold: float | None
    n: int
    reason: str = ""
    baseline: float | None = None
    delta: float | None = None
    ci: tuple[float, float] | None = None
    paired: int | None = None

    def required(self) -> str:
        """The condition on the observed value, e.g. '>= 0.9'; for a use_ci gate, on the end of its CI
        nearest the baseline, e.g. 'CI high >= 0.9'."""
        if self.gate.max_ratio is not None:
            lower = metric(self.gate.metric).better == "lower"
            return f"{'<=' if lower else '>='} {self.threshold:.4g}" if self.threshold is not None else \
                f"≤ {self.gate.max_ratio:g}× worse"
        if not self.gate.relative:
            return f"{self.gate.op} {self.gate.value:g}"
        if self.threshold is None:
            return f"{self.gate.change} ≤ {self.gate.max_drop:g}"
        rise = self.gate.change == "rise"
        condition = f"{'<=' if rise else '>='} {self.threshold:.4g}"
        return f"CI {'low' if rise else 'high'} {condition}" if self.gate.use_ci else condition

    def record(self) -> dict[str, Any]:
        """A flat, JSON-ready record of the gate and its outcome."""
        return {"gate": self.gate.describe(), **asdict(self.gate), "model_spec": self.model_spec,
                "passed": self.passed, "observed": self.observed, "threshold": self.threshold,
                "required": self.required(), "n": self.n, "baseline_value": self.baseline, "delta": self.delta,
                "ci_low": self.ci[0] if self.ci else None, "ci_high": self.ci[1] if self.ci else None,
                "paired": self.paired, "reason": self.reason}


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
    ratio = "max_ratio" in item or "relative_to" in item
    if absolute + ("max_drop" in item) + ratio != 1:
        raise UsageError(f"{what} needs one of op+value, max_drop, or max_ratio+relative_to")
    if ratio:
        _check_ratio(item, what)
    if absolute and not (isinstance(item.get("op"), str) and item["op"] in OPS):
        raise UsageError(f"{what}: op must be one of {' '.join(OPS)}, got {item.get('op')!r}")
    if absolute and not _finite(item.get("value")):
        raise UsageError(f"{what}: value must be a finite number, got {item.get('value')!r}")
    if "max_drop" in item and not (_finite(item["max_drop"]) and item["max_drop"] >= 0):
        raise UsageError(f"{what}: max_drop must be a finite number ≥ 0, got {item['max_drop']!r}")
    if "use_ci" in item and not isinstance(item["use_ci"], bool):
        raise UsageError(f"{what}: use_ci must be true or false, got {item['use_ci']!r}")
    if item.get("use_ci") and "max_drop" not in item:
        raise UsageError(f"{what}: use_ci applies to max_drop gates only",
                         "an absolute gate (op + value) has no baseline to pair samples with")
    length = item.get("context_length")
    if length is not None and not (_is_int(length) and length > 0):
        raise UsageError(f"{what}: context_length must be a whole number of tokens, got {length!r}")
    return Gate(task=item["task"], metric=item["metric"], context_length=length, model=item.get("model"),
                op=item.get("op"), value=float(item["value"]) if absolute else None,
                max_drop=float(item["max_drop"]) if "max_drop" in item else None, baseline=item.get("baseline"),
                use_ci=item.get("use_ci", False),
                max_ratio=float(item["max_ratio"]) if ratio else None, relative_to=item.get("relative_to"))


def _check_ratio(item: dict, what: str) -> None:
    if not (_finite(item.get("max_ratio")) and item["max_ratio"] >= 1):
        raise UsageError(f"{what}: max_ratio must be a finite number ≥ 1, got {item.get('max_ratio')!r}")
    ref = item.get("relative_to")
    if not (isinstance(ref, str) and ref.strip() and ref.isprintable()):
        raise UsageError(f"{what}: relative_to must name a model spec of the suite, got {ref!r}")
    if metric(item["metric"]).better is None:
        raise UsageError(f"{what}: metric '{item['metric']}' has no better direction, so 'worse' means nothing",
                         "gate it with op + value instead")


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


def check(gates: tuple[Gate, ...] | list[Gate], results_file: str | Path,
          baseline: str | Path | None = None) -> list[Verdict]:
    """Read a results file and check `gates` on it. Each max_drop gate reads its own `baseline:` file
    (a suite's loader makes those paths relative to the suite file); `baseline`, when given, is the
    baseline of every max_drop gate instead."""
    from . import results

    df = results.read(Path(results_file))
    if baseline is not None:
        return evaluate(gates, df, results.read(Path(baseline)))
    paths = sorted({g.baseline for g in gates if g.relative and g.baseline})
    return evaluate(gates, df, baselines={p: results.read(Path(p)) for p in paths})


def evaluate(gates: tuple[Gate, ...] | list[Gate], df: pd.DataFrame, baseline: pd.DataFrame | None = None,
             baselines: Mapping[str, pd.DataFrame] | None = None) -> list[Verdict]:
    """Every gate on every model spec of `df`. A max_drop gate compares with `baseline` when given,
    else with `baselines[gate.baseline]`; without either it fails."""
    if not gates:
        raise UsageError("no gates to check", "add a 'gates:' list to the suite, or pass a suite that has one")
    verdicts: list[Verdict] = []
    for gate in gates:
        rows = _select(df, gate)
        specs = sorted(rows["model_spec"].unique()) or [gate.model or "(none)"]
        if gate.max_ratio is not None:
            specs = [s for s in specs if s != gate.relative_to] or ["(none)"]
            reference = _aggregate(_select(df, replace(gate, model=gate.relative_to)), gate.metric)
        for spec in specs:
            mine = rows[rows["model_spec"] == spec]
            observed, reason = _aggregate(mine, gate.metric)
            if gate.max_ratio is not None:
                verdicts.append(_ratio(gate, spec, observed, reason, reference, _count(mine, gate)))
                continue
            if gate.relative:
                base = baseline if baseline is not None else (baselines or {}).get(gate.baseline or "")
                verdicts.append(_relative(gate, spec, mine, observed, reason, base))
                continue
            threshold = gate.value
            passed = observed is not None and OPS[gate.op](observed, threshold)
            if observed is not None and not passed:
                reason = f"{observed:.4g} is not {gate.op} {threshold:g}"
            verdicts.append(Verdict(gate, spec, passed, observed, threshold, _count(mine, gate), reason))
    return verdicts


def _ratio(gate: Gate, spec: str, observed, reason: str, reference: tuple[float | None, str], n: int) -> Verdict:
    ref_value, ref_reason = reference
    if observed is None or ref_value is None:
        why = reason or f"{gate.relative_to}: {ref_reason}"
        return Verdict(gate, spec, False, observed, None, n, why, baseline=ref_value)
    lower = metric(gate.metric).better == "lower"
    threshold = ref_value * gate.max_ratio if lower else ref_value / gate.max_ratio
    passed = observed <= threshold if lower else observed >= threshold
    times = observed / ref_value if ref_value else float("inf")
    why = "" if passed else f"{observed:.4g} is {times:.3g}× {gate.relative_to}'s {ref_value:.4g}"
    return Verdict(gate, spec, passed, observed, threshold, n, why, baseline=ref_value, delta=observed - ref_value)


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
        return Verdict(gate, spec, False, observed, None, n, why, baseline=base_value)
    lower = metric(gate.metric).better == "lower"  # then a rise is the regression
    threshold = base_value + gate.max_drop if lower else base_value - gate.max_drop

    def within(value: float) -> bool:
        return value <= threshold if lower else value >= threshold

    delta = observed - base_value
    moved = f"{'rose' if lower else 'dropped'} {abs(delta):.4g} from baseline {base_value:.4g}"
    if not gate.use_ci:
        passed = within(observed)
        return Verdict(gate, spec, passed, observed, threshold, n, "" if passed else moved,
                       baseline=base_value, delta=delta)
    ci, paired = _paired_ci(gate, mine, same)
    if ci is None:
        return Verdict(gate, spec, False, observed, threshold, n,
                       f"use_ci needs ≥ 2 samples paired with the baseline by sample id, found {paired}",
                       baseline=base_value, delta=delta, paired=paired)
    # passes while the end of the value's CI nearest the baseline is within the threshold
    passed = within(base_value + (ci[0] if lower else ci[1]))
    low, high = ci if lower else (-ci[1], -ci[0])  # the CI of the rise, or of the drop
    ci_text = f"its {CONFIDENCE:.0%} CI [{_g(low)}, {_g(high)}]"
    if not passed:
        why = f"{moved}; {ci_text} lies wholly beyond {gate.max_drop:g}"
    elif not within(observed):
        why = f"{moved}, but {ci_text} reaches {gate.max_drop:g}"
    else:
        why = ""
    return Verdict(gate, spec, passed, observed, threshold, n, why, baseline=base_value, delta=delta,
                   ci=ci, paired=paired)


def _paired_ci(gate: Gate, mine: pd.DataFrame, base: pd.DataFrame) -> tuple[tuple[float, float] | None, int]:
    """The paired-bootstrap CI of observed − baseline over the samples both sides hold (matched by
    task, length and sample id), recomputing the metric's aggregate on each resample; and the pairs."""
    from .compare import paired_metric_ci, per_sample  # scipy and pandas pivots: only for use_ci gates

    m = metric(gate.metric)
    inputs = list(m.inputs)
    new, ref = per_sample(mine), per_sample(base)
    if not (set(inputs) <= set(new.columns) and set(inputs) <= set(ref.columns)):
        return None, 0
    shared = new.index.intersection(ref.index)
    both = pd.concat([ref.loc[shared, inputs], new.loc[shared, inputs]], axis=1, keys=["a", "b"]).dropna()
    ci = paired_metric_ci(m, [both["a"][c].to_numpy(float) for c in inputs],
                          [both["b"][c].to_numpy(float) for c in inputs], confidence=CONFIDENCE)
    return ci, len(both)


def _g(x: float) -> str:
    """x to three significant digits, without the float noise of a bootstrap (-0, 1e-17)."""
    return f"{round(x, 12) + 0.0:.3g}"


def _count(rows: pd.DataFrame, gate: Gate) -> int:
    """Rows of the gate's own metric (its inputs are not counted twice)."""
    return int((rows["metric"] == gate.metric).sum())
