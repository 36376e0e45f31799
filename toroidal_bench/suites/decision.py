"""The verdict table of a plan suite's `decision:` rule (the rule itself is described in plan.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..gates import Verdict, check
from .plan import Plan


@dataclass(frozen=True)
class PhaseOutcome:
    """One phase for one encoding (or, for a precondition, for every spec)."""

    status: str  # pass | fail | no gate | not run | no results
    passed: int = 0
    gated: int = 0
    failures: tuple[str, ...] = ()

    def text(self) -> str:
        if self.status in ("pass", "fail"):
            return f"{self.status} {self.passed}/{self.gated}"
        return self.status


@dataclass
class EncodingVerdict:
    encoding: str
    specs: list[str]
    phases: dict[str, PhaseOutcome] = field(default_factory=dict)
    verdict: str = "incomplete"
    reasons: list[str] = field(default_factory=list)

    def record(self) -> dict:
        return {"encoding": self.encoding, "model_specs": self.specs, "verdict": self.verdict,
                "reasons": self.reasons,
                "phases": {p: {"status": o.status, "passed": o.passed, "gated": o.gated,
                               "failures": list(o.failures)} for p, o in self.phases.items()}}


@dataclass(frozen=True)
class PhaseGates:
    """A phase's results file, its rows' encodings by model spec, and its gate outcomes."""

    path: Path | None
    encodings: dict[str, str]  # model spec -> encoding
    verdicts: tuple[Verdict, ...]
    has_gates: bool


def decide(plan: Plan, files: dict[str, Path | None]) -> list[EncodingVerdict]:
    assert plan.decision is not None
    rule = plan.decision
    phases = {name: _phase_gates(name, files.get(name), plan.profile) for name in plan.phases}
    pre = {name: _precondition(phases[name]) for name in rule.preconditions}
    encodings: dict[str, list[str]] = {}
    for name in rule.require:
        for spec, enc in phases[name].encodings.items():
            encodings.setdefault(enc, [])
            if spec not in encodings[enc]:
                encodings[enc].append(spec)
    table = []
    for enc, specs in encodings.items():
        row = EncodingVerdict(enc, specs)
        row.phases.update(pre)
        for name in (*rule.require, *rule.inform):
            row.phases[name] = _outcome(phases[name], enc)
        failed = [f"{name}: {f}" for name in (*rule.preconditions, *rule.require) for f in row.phases[name].failures]
        missing = [f"{name}: {row.phases[name].status}" for name in (*rule.preconditions, *rule.require)
                   if row.phases[name].status not in ("pass", "fail")]
        row.verdict = "no-go" if failed else ("incomplete" if missing else "go")
        row.reasons = failed or missing
        table.append(row)
    return table


def _phase_gates(name: str, path: Path | None, profile: str | None) -> PhaseGates:
    from ..results import read
    from .plan import phase_suite

    suite = phase_suite(name, profile)
    if path is None:
        return PhaseGates(None, {}, (), bool(suite.gates))
    df = read(path)
    encodings = dict(zip(df["model_spec"], df["encoding"], strict=True))
    verdicts = tuple(check(suite.gates, path)) if suite.gates else ()
    return PhaseGates(path, encodings, verdicts, bool(suite.gates))


def _precondition(phase: PhaseGates) -> PhaseOutcome:
    if phase.path is None:
        return PhaseOutcome("no results")
    if not phase.verdicts:
        return PhaseOutcome("no gate")
    return _summary(list(phase.verdicts))


def _outcome(phase: PhaseGates, encoding: str) -> PhaseOutcome:
    if phase.path is None:
        return PhaseOutcome("no results")
    specs = {s for s, e in phase.encodings.items() if e == encoding}
    if not specs:
        return PhaseOutcome("not run")
    mine = [v for v in phase.verdicts if v.model_spec in specs]
    return _summary(mine) if mine else PhaseOutcome("no gate")


def _summary(verdicts: list[Verdict]) -> PhaseOutcome:
    failures = tuple(f"{v.gate.describe()} on {v.model_spec}: {v.reason}" for v in verdicts if not v.passed)
    passed = sum(v.passed for v in verdicts)
    return PhaseOutcome("fail" if failures else "pass", passed, len(verdicts), failures)
