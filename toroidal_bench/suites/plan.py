"""Plan suites: the steps of an experiment plan that are not cells — packaging and judging earlier
phases' results, and training a model for a later phase.

A plan suite has one action:
  package: true   one report per phase of its `phases:` (`tbench report` with that phase's gates),
                  under one index page
  decision: ...   the verdict table over its `phases:`: go / no-go per encoding, by the rule the suite
                  writes down
  train: ...      `tbench train` with the settings given (the keys of a training recipe, plus `out:`
                  the model folder), so a workflow's fine-tuning is a suite like its other steps

A phase's results are the newest `results/<phase>-*.parquet` (where `tbench run suite <phase>` writes
by default), unless the plan's `results:` maps the phase to a file (relative to the working
directory; `--set results.phase3=PATH` does the same from the command line). With a profile, each
phase's gates are those of the same profile where the phase declares one, so an offline plan judges
offline runs by their own gates.

The decision rule, per encoding (the `encoding` column of the rows; one verdict covers every base
model it was run on):
  preconditions  phases whose every gate must pass, on every spec: a failure here is no-go for all
  require        phases in which every gate that applies to the encoding's specs must pass
  inform         phases shown in the table that do not decide
  go             no gate failed and each required phase had a gate outcome for the encoding
  no-go          a precondition or a required gate failed (the reasons name them)
  incomplete     nothing failed, but a phase the rule needs has no results or no gate for the
                 encoding: a verdict never rests on missing data
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UsageError
from . import compose

#: keys a plan's profile or --set may change
LAYER_KEYS = {"description", "phases", "results", "package", "decision", "train"}
PLAN_KEYS = LAYER_KEYS | {"name", "profiles", "extends"}
_DECISION_KEYS = {"preconditions", "require", "inform"}
RESULTS_DIR = Path("results")


@dataclass(frozen=True)
class Decision:
    preconditions: tuple[str, ...] = ()
    require: tuple[str, ...] = ()
    inform: tuple[str, ...] = ()


@dataclass(frozen=True)
class Plan:
    name: str
    description: str
    phases: tuple[str, ...]
    results: dict[str, str] = field(default_factory=dict)
    package: bool = False
    decision: Decision | None = None
    profile: str | None = None
    #: `tbench train` settings (recipe keys) and `out`, the folder the model is saved to
    train: dict[str, Any] | None = None


def is_plan(data: dict[str, Any]) -> bool:
    return "phases" in data or "train" in data


def load_plan(data: dict[str, Any], where: str, known: set[str], profile: str | None = None) -> Plan:
    """A plan from its merged YAML (profile and --set applied), every value checked."""
    compose.check_keys(data, PLAN_KEYS - {"profiles", "extends"}, f"plan suite {where}")
    name, description = data.get("name", Path(where).stem), data.get("description", "")
    if not isinstance(description, str):
        raise UsageError(f"'description' in {where} must be a string")
    if "train" in data:
        if set(data) & {"phases", "results", "package", "decision"}:
            raise UsageError(f"plan suite {where}: 'train' is a step of its own, without phases, package or decision")
        return Plan(str(name), description, (), train=_train(data["train"], where), profile=profile)
    phases = _names(data.get("phases"), "phases", where, known)
    results = data.get("results") or {}
    if not isinstance(results, dict) or not all(isinstance(v, str) and v.strip() for v in results.values()):
        raise UsageError(f"'results' in {where} must map phase names to results files")
    for phase in results:
        if phase not in phases:
            raise UsageError(f"'results' in {where} names '{phase}', which is not among its phases",
                             f"phases: {', '.join(phases)}")
    package = data.get("package", False)
    if not isinstance(package, bool):
        raise UsageError(f"'package' in {where} must be true or false")
    decision = _decision(data["decision"], where, phases) if "decision" in data else None
    if package == (decision is not None):
        raise UsageError(f"plan suite {where} needs exactly one of 'package: true' and 'decision:'")
    return Plan(str(name), description, phases, {str(k): v for k, v in results.items()}, package, decision, profile)


def _train(item: Any, where: str) -> dict[str, Any]:
    """The training step's settings, checked as `tbench train` checks a recipe (no model loads)."""
    from ..training.config import FIELDS, build_config

    if not isinstance(item, dict):
        raise UsageError(f"'train' in {where} must be a mapping of training settings and 'out'")
    out = item.get("out")
    if not (isinstance(out, str) and out.strip() and out.isprintable()):
        raise UsageError(f"'train' in {where} needs 'out': the folder the trained model is saved to")
    unknown = sorted(set(item) - set(FIELDS) - {"out"})
    if unknown:
        from ..errors import did_you_mean

        close = did_you_mean(unknown[0], sorted(FIELDS))
        raise UsageError(f"'train' in {where} has unknown key '{unknown[0]}'",
                         f"did you mean '{close}'?" if close else f"valid keys: out, {', '.join(FIELDS)}")
    build_config(None, {k: v for k, v in item.items() if k != "out"})  # types and ranges, as a recipe's
    return dict(item)


def _decision(item: Any, where: str, phases: tuple[str, ...]) -> Decision:
    if not isinstance(item, dict):
        raise UsageError(f"'decision' in {where} must be a mapping of preconditions / require / inform")
    compose.check_keys(item, _DECISION_KEYS, f"'decision' in {where}")
    parts = {k: _names(item.get(k, []), f"decision.{k}", where, set(phases), allow_empty=True) for k in _DECISION_KEYS}
    if not parts["require"]:
        raise UsageError(f"'decision.require' in {where} must name at least one phase")
    used = [p for k in ("preconditions", "require", "inform") for p in parts[k]]
    twice = sorted({p for p in used if used.count(p) > 1})
    if twice:
        raise UsageError(f"'decision' in {where} lists {twice[0]} twice", "a phase has one role")
    return Decision(parts["preconditions"], parts["require"], parts["inform"])


def _names(items: Any, key: str, where: str, known: set[str], allow_empty: bool = False) -> tuple[str, ...]:
    if not isinstance(items, list) or not (items or allow_empty) or not all(isinstance(i, str) for i in items):
        raise UsageError(f"'{key}' in {where} must be a {'' if allow_empty else 'non-empty '}list of suite names")
    from ..errors import did_you_mean

    for name in items:
        if name not in known:
            close = did_you_mean(name, sorted(known))
            raise UsageError(f"'{key}' in {where}: unknown suite '{name}'",
                             f"did you mean '{close}'?" if close else f"valid: {', '.join(sorted(known))}")
    return tuple(items)


def phase_suite(name: str, profile: str | None):
    """A phase as a plan reads it: with `profile` where the phase declares one, else as written."""
    from . import load_suite

    suite = load_suite(name)
    return load_suite(name, profile=profile) if profile is not None and profile in suite.profiles else suite


def phase_results(plan: Plan, results_dir: Path = RESULTS_DIR) -> dict[str, Path | None]:
    """Each phase's results file: the plan's own mapping, else the newest default-named run file."""
    found: dict[str, Path | None] = {}
    for phase in plan.phases:
        if phase in plan.results:
            path = Path(plan.results[phase]).expanduser()
            if not path.is_file():
                raise UsageError(f"results of {phase}: no file {path}", "run the phase first, or fix 'results'")
            found[phase] = path
            continue
        runs = sorted(p for p in results_dir.glob(f"{phase}-*.parquet")
                      if not p.name.endswith(".prompts.parquet") and _stamped(p.name, phase))
        found[phase] = runs[-1] if runs else None
    return found


def _stamped(name: str, phase: str) -> bool:
    """`<phase>-YYYYmmdd-HHMMSS.parquet`, as `run suite` names its default file (so phase1 never
    picks up phase10's runs)."""
    stamp = name[len(phase) + 1: -len(".parquet")]
    return len(stamp) == 15 and stamp[8] == "-" and stamp.replace("-", "").isdigit()
