"""The task catalog: YAML files (data only) that name a family and its parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import UnknownNameError, UsageError
from ..resources import builtin_dir


@dataclass(frozen=True)
class TaskDef:
    name: str
    family: str
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    source: str = ""

    def build(self):
        """Instantiate the family with this task's parameters."""
        from . import TASK_FAMILIES

        return TASK_FAMILIES.get(self.family)(**self.params)


def read_yaml(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        raise UsageError(f"malformed YAML in {path}{where}: {getattr(exc, 'problem', exc)}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


def load_task_file(path: Path) -> TaskDef:
    data = read_yaml(path)
    if not isinstance(data, dict) or "family" not in data:
        raise UsageError(f"task file {path} must be a mapping with at least 'family:'")
    unknown = set(data) - {"name", "family", "description", "params"}
    if unknown:
        raise UsageError(f"task file {path} has unknown keys: {', '.join(sorted(unknown))}",
                         "allowed: name, family, description, params")
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise UsageError(f"'params' in {path} must be a mapping")
    return TaskDef(str(data.get("name", path.stem)), str(data["family"]), str(data.get("description", "")),
                   params, str(path))


def task_files(extra_dirs: tuple[Path, ...] = ()) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for directory in (builtin_dir("tasks"), *extra_dirs):
        for path in sorted(Path(directory).glob("*.yaml")):
            files[path.stem] = path
    return files


LM_EVAL_PREFIX = "lm-eval:"


def get_task(name: str, extra_dirs: tuple[Path, ...] = ()) -> TaskDef:
    """A task by name, by path to a YAML file, or `lm-eval:<task>` (an lm-eval task name or task YAML path)."""
    if name.startswith(LM_EVAL_PREFIX):
        task = name.removeprefix(LM_EVAL_PREFIX).strip()
        if not task:
            raise UsageError(f"'{name}' names no lm-eval task", "e.g. lm-eval:wikitext or lm-eval:path/to/task.yaml")
        return TaskDef(name=name, family="lm-eval", description="lm-evaluation-harness task", params={"task": task})
    if name.endswith((".yaml", ".yml")):
        return load_task_file(Path(name))
    files = task_files(extra_dirs)
    if name not in files:
        raise UnknownNameError("task", name, files)
    return load_task_file(files[name])


def list_tasks() -> list[TaskDef]:
    return [load_task_file(p) for p in task_files().values()]
