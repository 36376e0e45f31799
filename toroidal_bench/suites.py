"""Suite YAML → cells. A suite is models × tasks × lengths, with a sample limit, a seed and gates."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .encodings.context import check_length
from .encodings.limits import MAX_POSITIONS, MAX_SEED
from .errors import UnknownNameError, UsageError, did_you_mean
from .gates import Gate, parse_gates
from .models.loading import ResolvedSpec, resolve
from .resources import builtin_dir
from .tasks.catalog import TaskDef, check_params, get_task, read_yaml

_KEYS = {"name", "description", "models", "tasks", "lengths", "limit", "seed", "gates", "params"}
_SUITE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_KIND_NAMES = {str: "string", dict: "mapping", list: "list"}


@dataclass(frozen=True)
class Cell:
    """One (model spec × task × context length) unit of work: of resume, failure isolation, sharding."""

    spec: ResolvedSpec
    task: TaskDef
    length: int
    seed: int
    limit: int | None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def model_spec(self) -> str:
        return self.spec.canonical()

    @property
    def task_params(self) -> dict[str, Any]:
        return {**self.task.params, **self.params}

    @property
    def cell_id(self) -> str:
        key = json.dumps([self.model_spec, self.task.name, self.length, self.task_params, self.seed, self.limit],
                         sort_keys=True, default=str)
        return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    models: tuple[str, ...]
    tasks: tuple[str, ...]
    lengths: tuple[int, ...]
    limit: int | None = None
    seed: int = 0
    gates: tuple[Gate, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)


def suite_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(builtin_dir("suites").glob("*.yaml"))}


def load_suite(name_or_path: str) -> Suite:
    """A suite by built-in name or YAML path, every value checked (never coerced) before anything runs."""
    if name_or_path.endswith((".yaml", ".yml")):
        path = Path(name_or_path)
    else:
        files = suite_files()
        if name_or_path not in files:
            raise UnknownNameError("suite", name_or_path, files)
        path = files[name_or_path]
    data = read_yaml(path)
    where = str(path)
    if not isinstance(data, dict):
        raise UsageError(f"suite file {where} must be a mapping")
    unknown = set(data) - _KEYS
    if unknown:
        raise UsageError(f"suite file {where} has unknown keys: {', '.join(sorted(map(str, unknown)))}",
                         f"allowed: {', '.join(sorted(_KEYS))}")
    for key in ("models", "tasks", "lengths"):
        if not isinstance(data.get(key), list) or not data[key]:
            raise UsageError(f"suite file {where} needs a non-empty list '{key}:'")
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not _SUITE_NAME.match(name):
        raise UsageError(f"'name' in {where} must be a word of letters, digits and _ . -, got {name!r}",
                         "it names the default results file")
    description = data.get("description", "")
    params = data.get("params") or {}
    gates = data.get("gates") or []
    for key, value, kind in (("description", description, str), ("params", params, dict), ("gates", gates, list)):
        if not isinstance(value, kind):
            raise UsageError(f"'{key}' in {where} must be a {_KIND_NAMES[kind]}")
    for key in ("models", "tasks"):
        if not all(isinstance(x, str) and x.isprintable() for x in data[key]):
            raise UsageError(f"'{key}' in {where} must be a list of one-line strings")
    suite = Suite(name=name, description=description, models=tuple(data["models"]), tasks=tuple(data["tasks"]),
                  lengths=tuple(check_lengths(data["lengths"], where)),
                  limit=check_limit(data.get("limit"), where), seed=check_seed(data.get("seed", 0), where),
                  gates=_baselines_beside(parse_gates(gates, where), path), params=params)
    _distinct([resolve(m) for m in suite.models], "model spec", lambda s: s.canonical())
    _distinct(list(suite.tasks), "task", str)
    for task in suite.tasks:
        definition = get_task(task)
        check_params(definition.family, {**definition.params, **suite.params}, f"task '{task}' in {where}")
    check_gates(suite, where)
    return suite


def _baselines_beside(gates: tuple[Gate, ...], suite_file: Path) -> tuple[Gate, ...]:
    """A gate's relative `baseline:` path is read from the suite file's folder, so a suite and its
    baseline travel together (a clone, a wheel, another working directory)."""
    return tuple(dataclasses.replace(g, baseline=str(suite_file.parent / g.baseline))
                 if g.baseline and not Path(g.baseline).is_absolute() else g for g in gates)


def check_lengths(lengths, where: str = "--length") -> list[int]:
    """Context lengths: whole positive numbers of tokens, each once."""
    for n in lengths:
        if not _is_int(n) or not 1 <= n <= MAX_POSITIONS:
            raise UsageError(f"context length {n!r} ({where}) must be a whole number of tokens in [1, {MAX_POSITIONS}]")
    twice = sorted({n for n in lengths if list(lengths).count(n) > 1})
    if twice:
        raise UsageError(f"context length {twice[0]} is listed twice ({where})")
    return list(lengths)


def check_limit(limit, where: str = "--limit") -> int | None:
    if limit is not None and (not _is_int(limit) or not 1 <= limit <= MAX_SEED):
        raise UsageError(f"limit {limit!r} ({where}) must be a whole number of samples ≥ 1, or null for all")
    return limit


def check_seed(seed, where: str = "--seed") -> int:
    if not _is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise UsageError(f"seed {seed!r} ({where}) must be an integer in [0, 2^63 - 1]")
    return seed


def check_gates(suite: Suite, where: str) -> None:
    """Gate task, metric, length and model names must match the suite, so a typo fails now, not as
    'no matching rows' after a run."""
    canonical = {resolve(m).canonical() for m in suite.models} if any(g.model for g in suite.gates) else set()
    for i, gate in enumerate(suite.gates, 1):
        what = f"gate {i} in {where}"
        if gate.task not in suite.tasks:
            raise _unknown(f"{what}: task '{gate.task}' is not in the suite", gate.task, suite.tasks)
        metrics = _declared_metrics(gate.task, suite.params)
        if metrics and gate.metric not in metrics:
            raise _unknown(f"{what}: task '{gate.task}' has no metric '{gate.metric}'", gate.metric, metrics)
        if gate.context_length is not None and gate.context_length not in suite.lengths:
            raise UsageError(f"{what}: context_length {gate.context_length} is not among the suite's lengths",
                             f"lengths: {', '.join(map(str, suite.lengths))}")
        if gate.model is not None and gate.model not in canonical:
            raise _unknown(f"{what}: model '{gate.model}' is not among the suite's models (canonical form)",
                           gate.model, canonical)


def _unknown(message: str, name: str, choices) -> UsageError:
    close = did_you_mean(name, sorted(choices))
    hint = f"did you mean '{close}'? " if close else ""
    return UsageError(message, f"{hint}valid: {', '.join(sorted(choices))}")


def _declared_metrics(task: str, params: dict[str, Any]) -> tuple[str, ...]:
    """Metrics a task's family declares; () for families that learn them at run time (lm-eval)."""
    from .tasks import TASK_FAMILIES

    definition = get_task(task)
    family = TASK_FAMILIES.get(definition.family)
    if not family.metrics:
        return ()
    return tuple(family(**{**definition.params, **params}).metrics)


def expand(models: list[str] | tuple[str, ...], tasks: list[str] | tuple[str, ...], lengths, *, seed: int = 0,
           limit: int | None = None, params: dict[str, Any] | None = None,
           beyond_max_positions: bool = False, chat_template: bool = False) -> list[Cell]:
    """All cells, validating every spec, task, length and parameter before anything runs.
    `beyond_max_positions` lets lengths exceed the model's position count (extrapolation studies);
    `chat_template` wraps prompts in the tokenizer's chat template for the tasks whose family does
    that (the real-data benchmarks), and is refused when no task here does."""
    lengths = check_lengths(lengths)
    seed, limit, params = check_seed(seed), check_limit(limit), dict(params or {})
    specs = _distinct([resolve(m) for m in models], "model spec", lambda s: s.canonical())
    task_defs = _distinct([get_task(t) for t in tasks], "task", lambda t: t.name)
    for t in task_defs:
        check_params(t.family, {**t.params, **params}, f"task '{t.name}'")
        t.build()  # unknown family → error now, not mid-run
    for s in specs:
        for n in lengths:
            check_length(s, n, beyond_max_positions)
    own = {t.name: _with_chat_template(params, t) if chat_template else params for t in task_defs}
    if chat_template and all(p is params for p in own.values()):
        raise UsageError("--chat-template: none of these tasks applies a chat template",
                         "it applies to LongBench, InfiniteBench, SCROLLS and ZeroSCROLLS tasks")
    return [Cell(s, t, n, seed, limit, own[t.name]) for s in specs for t in task_defs for n in lengths]


def _with_chat_template(params: dict[str, Any], task: TaskDef) -> dict[str, Any]:
    """`params` plus chat_template: true when the task's family reads that parameter."""
    from .tasks.catalog import parameters_of

    table = parameters_of(task.family) or {}
    return {**params, "chat_template": True} if "chat_template" in table else params


def _distinct(items: list, kind: str, key) -> list:
    seen: set[str] = set()
    for item in items:
        if key(item) in seen:
            raise UsageError(f"{kind} '{key(item)}' is given twice", "each would run the same cells again")
        seen.add(key(item))
    return items


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def suite_cells(suite: Suite, limit: int | None = None, params: dict[str, Any] | None = None,
                beyond_max_positions: bool = False, chat_template: bool = False) -> list[Cell]:
    return expand(suite.models, suite.tasks, suite.lengths, seed=suite.seed,
                  limit=limit if limit is not None else suite.limit, params={**suite.params, **(params or {})},
                  beyond_max_positions=beyond_max_positions, chat_template=chat_template)
