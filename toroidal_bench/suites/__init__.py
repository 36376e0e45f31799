"""Suite YAML → cells. A suite is models × tasks × lengths, with a sample limit, a seed and gates."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..encodings.context import check_length
from ..encodings.limits import MAX_POSITIONS, MAX_SEED
from ..errors import UnknownNameError, UsageError, did_you_mean
from ..gates import Gate, parse_gates
from ..models.loading import ResolvedSpec, resolve
from ..resources import builtin_dir
from ..tasks.catalog import TaskDef, check_params, get_task
from . import compose, plan

_SUITE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_KIND_NAMES = {str: "string", dict: "mapping", list: "list"}
_TASK_KEYS = {"task", "lengths", "limit", "params"}
_GRID_KEYS = {"models", "encodings"}


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
class TaskSettings:
    """A task entry's own lengths, limit and parameters; None where it takes the suite's."""

    lengths: tuple[int, ...] | None = None
    limit: int | None = None
    has_limit: bool = False  # `limit: null` (every sample) differs from no limit given
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    models: tuple[str, ...]
    tasks: tuple[str, ...]
    lengths: tuple[int, ...]
    limit: int | None = None
    seed: int = 0
    #: every seed the suite runs (`seeds:`); just `seed` when it gives one
    seeds: tuple[int, ...] = ()
    gates: tuple[Gate, ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    task_settings: dict[str, TaskSettings] = field(default_factory=dict)
    profiles: tuple[str, ...] = ()
    profile: str | None = None
    #: gates naming a model that `--models` took out of the suite
    dropped_gates: tuple[Gate, ...] = ()

    def task_lengths(self, task: str) -> tuple[int, ...]:
        own = self.task_settings.get(task)
        return own.lengths if own and own.lengths else self.lengths

    def task_limit(self, task: str) -> int | None:
        own = self.task_settings.get(task)
        return own.limit if own and own.has_limit else self.limit

    def task_params(self, task: str) -> dict[str, Any]:
        own = self.task_settings.get(task)
        return {**self.params, **(own.params if own else {})}

    @property
    def all_lengths(self) -> tuple[int, ...]:
        return tuple(sorted({n for t in self.tasks for n in self.task_lengths(t)}))


def suite_files() -> dict[str, Path]:
    return {p.stem: p for p in sorted(builtin_dir("suites").glob("*.yaml"))}


def suite_path(name_or_path: str) -> Path:
    if name_or_path.endswith((".yaml", ".yml")):
        return Path(name_or_path)
    files = suite_files()
    if name_or_path not in files:
        raise UnknownNameError("suite", name_or_path, files)
    return files[name_or_path]


def load_plan(name_or_path: str, profile: str | None = None, sets: list[str] | None = None,
              models: str | None = None) -> plan.Plan | None:
    """The plan suite `name_or_path` (profile and --set applied), or None when it is a suite of cells."""
    path = suite_path(name_or_path)
    data = compose.read_chain(path, suite_files())
    if not plan.is_plan(data):
        return None
    if models is not None:
        raise UsageError(f"--models does not apply to {name_or_path}: a plan runs no models",
                         "pass --models to the phases it reads")
    compose.check_keys(data, plan.PLAN_KEYS, f"plan suite {path}")
    own = profile if profile in (data.get("profiles") or {}) else None  # else a profile of the phases
    data = compose.apply_profile(data, own, str(path), plan.LAYER_KEYS)
    if sets:
        data = compose.apply_sets(data, list(sets), plan.LAYER_KEYS)
    loaded = plan.load_plan(data, str(path), set(suite_files()), profile)
    if profile is not None and own is None:
        declared = {p for phase in loaded.phases for p in (compose.read_chain(suite_path(phase), suite_files())
                                                            .get("profiles") or {})}
        if profile not in declared:
            raise UnknownNameError("profile", profile, sorted(map(str, declared)))
    return loaded


def load_suite(name_or_path: str, profile: str | None = None, sets: list[str] | None = None,
               models: str | None = None) -> Suite:
    """A suite by built-in name or YAML path, every value checked (never coerced) before anything runs:
    its `extends:` chain merged, then the `profile`, the `--set` overrides and `--models` applied. Every
    profile a suite declares is validated too, so a typo in one fails when the suite loads."""
    path = suite_path(name_or_path)
    where = str(path)
    data = compose.read_chain(path, suite_files())
    if plan.is_plan(data):
        raise UsageError(f"suite {name_or_path} is a plan: it reads earlier phases' results and runs no cells",
                         f"run it with: tbench run suite {name_or_path}")
    compose.check_keys(data, compose.KEYS, f"suite file {where}")
    names = tuple(map(str, data.get("profiles") or {}))
    for other in names:
        if other != profile:
            _validate(compose.apply_profile(data, other, where), path, f"{where} (profile '{other}')")
    data = compose.apply_profile(data, profile, where)
    if sets:
        data = compose.apply_sets(data, list(sets))
    dropped: tuple[Gate, ...] = ()
    if models is not None:
        data = compose.apply_models(data, models)
        data, dropped = _drop_gates_of_other_models(data, where)
    suite = _validate(data, path, where if profile is None else f"{where} (profile '{profile}')")
    return dataclasses.replace(suite, profiles=names, profile=profile, dropped_gates=dropped)


def _validate(data: dict[str, Any], path: Path, where: str) -> Suite:
    compose.check_keys(data, compose.KEYS - {"extends", "profiles"}, f"suite file {where}")
    model_list = _model_list(data, where)
    tasks, settings = _tasks(data.get("tasks"), where)
    own_lengths = all(s.lengths for s in settings.values())
    if "lengths" in data or not own_lengths:
        if not isinstance(data.get("lengths"), list) or not data["lengths"]:
            raise UsageError(f"suite file {where} needs a non-empty list 'lengths:'",
                             "or give every task entry its own 'lengths:'")
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
    seeds = _seeds(data, where)
    suite = Suite(name=name, description=description, models=tuple(model_list), tasks=tuple(tasks),
                  lengths=tuple(check_lengths(data["lengths"], where)) if "lengths" in data
                  else tuple(sorted({n for s in settings.values() for n in s.lengths or ()})),
                  limit=check_limit(data.get("limit"), where), seed=seeds[0], seeds=tuple(seeds),
                  gates=_baselines_beside(parse_gates(gates, where), path), params=params, task_settings=settings)
    _distinct([resolve(m) for m in suite.models], "model spec", lambda s: s.canonical())
    _distinct(list(suite.tasks), "task", str)
    for task in suite.tasks:
        definition = get_task(task)
        check_params(definition.family, {**definition.params, **suite.task_params(task)}, f"task '{task}' in {where}")
    check_gates(suite, where)
    return suite


def _model_list(data: dict[str, Any], where: str) -> list[str]:
    """`models:` then the `grid:` of base models × encodings, as `model+encoding` specs."""
    models, grid = data.get("models", []), data.get("grid")
    if models is None or not isinstance(models, list):
        raise UsageError(f"'models' in {where} must be a list of model specs")
    specs = list(models)
    if grid is not None:
        if not isinstance(grid, dict):
            raise UsageError(f"'grid' in {where} must be a mapping {{models: [...], encodings: [...]}}")
        compose.check_keys(grid, _GRID_KEYS, f"'grid' in {where}")
        for key in ("models", "encodings"):
            if not isinstance(grid.get(key), list) or not grid[key]:
                raise UsageError(f"'grid' in {where} needs a non-empty list '{key}:'")
            _one_line_strings(grid[key], f"'grid.{key}' in {where}")
        specs += [f"{m}+{e}" for m in grid["models"] for e in grid["encodings"]]
    if not specs:
        raise UsageError(f"suite file {where} needs a non-empty list 'models:' or a 'grid:'")
    _one_line_strings(specs, f"'models' in {where}")
    return specs


def _tasks(items: Any, where: str) -> tuple[list[str], dict[str, TaskSettings]]:
    """Task entries: a name, or a mapping {task: name, lengths: [...], limit: N, params: {...}}."""
    if not isinstance(items, list) or not items:
        raise UsageError(f"suite file {where} needs a non-empty list 'tasks:'")
    names: list[str] = []
    settings: dict[str, TaskSettings] = {}
    for i, item in enumerate(items, 1):
        if isinstance(item, str):
            names.append(item)
            continue
        what = f"task entry {i} in {where}"
        if not isinstance(item, dict):
            raise UsageError(f"'tasks' in {where} must be a list of task names or {{task: ..., lengths: ...}} entries")
        compose.check_keys(item, _TASK_KEYS, what)
        name = item.get("task")
        if not (isinstance(name, str) and name.isprintable() and name.strip()):
            raise UsageError(f"{what} needs 'task:' naming a task, got {name!r}")
        params = item.get("params", {})
        if not isinstance(params, dict):
            raise UsageError(f"'params' of {what} must be a mapping")
        lengths = item.get("lengths")
        if lengths is not None and (not isinstance(lengths, list) or not lengths):
            raise UsageError(f"'lengths' of {what} must be a non-empty list of context lengths")
        names.append(name)
        settings[name] = TaskSettings(
            lengths=tuple(check_lengths(lengths, f"task '{name}' in {where}")) if lengths else None,
            limit=check_limit(item.get("limit"), f"task '{name}' in {where}"), has_limit="limit" in item,
            params=params)
    _one_line_strings(names, f"'tasks' in {where}")
    return names, settings


def _one_line_strings(items: list, what: str) -> None:
    if not all(isinstance(x, str) and x.isprintable() and x.strip() for x in items):
        raise UsageError(f"{what} must be a list of one-line strings")


def _drop_gates_of_other_models(data: dict[str, Any], where: str) -> tuple[dict[str, Any], tuple[Gate, ...]]:
    """Under `--models`, gates that name a model no longer in the suite are set aside (and reported)."""
    gates = data.get("gates") or []
    if not isinstance(gates, list):
        return data, ()
    canonical = {resolve(m).canonical() for m in data["models"]}
    keep, dropped = [], []
    for gate, item in zip(parse_gates(gates, where), gates, strict=True):
        gone = any(spec is not None and spec not in canonical for spec in (gate.model, gate.relative_to))
        (dropped if gone else keep).append((gate, item))
    return {**data, "gates": [item for _, item in keep]}, tuple(g for g, _ in dropped)


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


def _seeds(data: dict[str, Any], where: str) -> list[int]:
    """`seed: N` or `seeds: [N, ...]` (every cell run once per seed: variance over seeds)."""
    if "seeds" not in data:
        return [check_seed(data.get("seed", 0), where)]
    if "seed" in data:
        raise UsageError(f"suite file {where} gives both 'seed' and 'seeds'", "keep one")
    seeds = data["seeds"]
    if not isinstance(seeds, list) or not 1 <= len(seeds) <= 64:
        raise UsageError(f"'seeds' in {where} must be a list of 1 to 64 seeds, got {seeds!r}")
    checked = [check_seed(s, where) for s in seeds]
    _distinct(checked, "seed", str)
    return checked


def check_seed(seed, where: str = "--seed") -> int:
    if not _is_int(seed) or not 0 <= seed <= MAX_SEED:
        raise UsageError(f"seed {seed!r} ({where}) must be an integer in [0, 2^63 - 1]")
    return seed


def check_gates(suite: Suite, where: str) -> None:
    """Gate task, metric, length and model names must match the suite, so a typo fails now, not as
    'no matching rows' after a run."""
    named = any(g.model or g.relative_to for g in suite.gates)
    canonical = {resolve(m).canonical() for m in suite.models} if named else set()
    for i, gate in enumerate(suite.gates, 1):
        what = f"gate {i} in {where}"
        if gate.task not in suite.tasks:
            raise _unknown(f"{what}: task '{gate.task}' is not in the suite", gate.task, suite.tasks)
        metrics = _declared_metrics(gate.task, suite.task_params(gate.task))
        if metrics and gate.metric not in metrics:
            raise _unknown(f"{what}: task '{gate.task}' has no metric '{gate.metric}'", gate.metric, metrics)
        lengths = suite.task_lengths(gate.task)
        if gate.context_length is not None and gate.context_length not in lengths:
            raise UsageError(f"{what}: context_length {gate.context_length} is not among task '{gate.task}''s lengths",
                             f"lengths: {', '.join(map(str, lengths))}")
        for key, spec in (("model", gate.model), ("relative_to", gate.relative_to)):
            if spec is not None and spec not in canonical:
                raise _unknown(f"{what}: {key} '{spec}' is not among the suite's models (canonical form)",
                               spec, canonical)


def _unknown(message: str, name: str, choices) -> UsageError:
    close = did_you_mean(name, sorted(choices))
    hint = f"did you mean '{close}'? " if close else ""
    return UsageError(message, f"{hint}valid: {', '.join(sorted(choices))}")


def _declared_metrics(task: str, params: dict[str, Any]) -> tuple[str, ...]:
    """Metrics a task's family declares; () for families that learn them at run time (lm-eval)."""
    from ..tasks import TASK_FAMILIES

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
    from ..tasks.catalog import parameters_of

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
    """The suite's cells, each task at its own lengths, limit and parameters (a `limit` given here
    overrides them all; `params` here override the suite's and the tasks')."""
    if chat_template:
        from ..tasks.catalog import parameters_of

        if not any("chat_template" in (parameters_of(get_task(t).family) or {}) for t in suite.tasks):
            raise UsageError("--chat-template: none of these tasks applies a chat template",
                             "it applies to LongBench, InfiniteBench, SCROLLS and ZeroSCROLLS tasks")
    cells: list[Cell] = []
    for task in suite.tasks:
        own = {**suite.task_params(task), **(params or {})}
        if chat_template:
            own = _with_chat_template(own, get_task(task))
        for seed in suite.seeds or (suite.seed,):
            cells += expand(suite.models, [task], suite.task_lengths(task), seed=seed,
                            limit=limit if limit is not None else suite.task_limit(task), params=own,
                            beyond_max_positions=beyond_max_positions)
    order = {spec: i for i, spec in enumerate(dict.fromkeys(c.model_spec for c in cells))}
    return sorted(cells, key=lambda c: order[c.model_spec])  # model by model, as the suite lists them
