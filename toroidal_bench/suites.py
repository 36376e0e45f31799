"""Suite YAML → cells. A suite is models × tasks × lengths, with a sample limit, a seed and gates."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import UnknownNameError, UsageError
from .gates import Gate, parse_gates
from .models.loading import ResolvedSpec, resolve
from .resources import builtin_dir
from .tasks.catalog import TaskDef, get_task, read_yaml

_KEYS = {"name", "description", "models", "tasks", "lengths", "limit", "seed", "gates", "params"}


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
    if name_or_path.endswith((".yaml", ".yml")):
        path = Path(name_or_path)
    else:
        files = suite_files()
        if name_or_path not in files:
            raise UnknownNameError("suite", name_or_path, files)
        path = files[name_or_path]
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise UsageError(f"suite file {path} must be a mapping")
    unknown = set(data) - _KEYS
    if unknown:
        raise UsageError(f"suite file {path} has unknown keys: {', '.join(sorted(unknown))}",
                         f"allowed: {', '.join(sorted(_KEYS))}")
    for key in ("models", "tasks", "lengths"):
        if not isinstance(data.get(key), list) or not data[key]:
            raise UsageError(f"suite file {path} needs a non-empty list '{key}:'")
    try:
        lengths = tuple(int(x) for x in data["lengths"])
    except (TypeError, ValueError):
        raise UsageError(f"'lengths' in {path} must be integers") from None
    limit = data.get("limit")
    return Suite(
        name=str(data.get("name", path.stem)),
        description=str(data.get("description", "")),
        models=tuple(str(m) for m in data["models"]),
        tasks=tuple(str(t) for t in data["tasks"]),
        lengths=lengths,
        limit=None if limit is None else int(limit),
        seed=int(data.get("seed", 0)),
        gates=parse_gates(data.get("gates") or [], str(path)),
        params=dict(data.get("params") or {}),
    )


def expand(models: list[str] | tuple[str, ...], tasks: list[str] | tuple[str, ...], lengths, *, seed: int = 0,
           limit: int | None = None, params: dict[str, Any] | None = None) -> list[Cell]:
    """All cells, validating every spec and task before anything runs."""
    for n in lengths:
        if int(n) <= 0:
            raise UsageError(f"context length must be positive, got {n}")
    specs = [resolve(m) for m in models]
    task_defs = [get_task(t) for t in tasks]
    for t in task_defs:
        t.build()  # unknown family → error now, not mid-run
    return [Cell(s, t, int(n), seed, limit, dict(params or {})) for s in specs for t in task_defs for n in lengths]


def suite_cells(suite: Suite, limit: int | None = None, params: dict[str, Any] | None = None) -> list[Cell]:
    return expand(suite.models, suite.tasks, suite.lengths, seed=suite.seed,
                  limit=limit if limit is not None else suite.limit, params={**suite.params, **(params or {})})
