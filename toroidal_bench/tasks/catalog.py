"""The task catalog: YAML files (data only) that name a family and its parameters."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..errors import UnknownNameError, UsageError, did_you_mean
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


#: tbench's YAML files are a few kilobytes; a bound keeps a wrong path (a dataset, a log) from loading
MAX_YAML_BYTES = 1 << 20


class _StrictLoader(yaml.SafeLoader):
    """`yaml.safe_load` without anchors and aliases (a few hundred bytes of nested aliases expand to
    gigabytes) and without duplicate keys (the last one would silently win)."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if getattr(event, "anchor", None) is not None:
            raise yaml.composer.ComposerError(None, None, "anchors and aliases (&name, *name) are not supported",
                                              event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key, _ in node.value:
            ident = (key.tag, key.value) if isinstance(key, yaml.ScalarNode) else None
            if ident in seen:
                raise yaml.constructor.ConstructorError(None, None, f"duplicate key '{key.value}'", key.start_mark)
            seen.add(ident)
        return super().construct_mapping(node, deep)


def read_yaml(path: Path) -> Any:
    """A tbench YAML file (task or suite) as plain data; every failure is a one-line UsageError."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_YAML_BYTES + 1)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    if len(raw) > MAX_YAML_BYTES:
        raise UsageError(f"{path} is larger than {MAX_YAML_BYTES >> 10} KiB", "is it the YAML file you meant?")
    try:
        return yaml.load(raw.decode("utf-8"), Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark else ""
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())  # PyYAML's can span lines
        raise UsageError(f"malformed YAML in {path}{where}: {problem}") from None
    except RecursionError:
        raise UsageError(f"malformed YAML in {path}: nested too deeply") from None


# -- task parameters ------------------------------------------------------------------------------
# What each built-in family reads from its params, by kind. A family may declare its own table as a
# class attribute `parameters` (same form); a family with neither (a plugin) checks its params itself.
_TEXTS, _FRACTIONS, _NUMBERS = "texts", "fractions", "numbers"
_COMMON = {"haystack_dir": "text", "data_dir": "text"}
_RULER = {"template": "text", "answer_prefix": "text", "tokens_to_generate": "count", "num_samples": "count",
          "sizing": ("ruler", "fill")}
_INFINITEBENCH = {"template": "text", "depths": _FRACTIONS, "positions": "count", "num_samples": "count",
                  "max_new_tokens": "count"}
_NEEDLE = ("words", "numbers", "uuids")
FAMILY_PARAMETERS: dict[str, dict[str, Any]] = {
    "passkey": {"template": "text", "noise": "text", "needle": "text", "question": "text", "key_digits": "count",
                "depths": _FRACTIONS, "positions": "count", "num_samples": "count", "max_new_tokens": "count",
                "stop": _TEXTS},
    "niah": {"needles": _TEXTS, "retrieval_question": "text", "keywords": "keywords", "template": "text",
             "depth_min": "number", "depth_max": "number", "depth_intervals": "count",
             "depth_interval_type": ("linear", "sigmoid"), "trials": "count", "max_new_tokens": "count",
             "depth_percents": _NUMBERS, "judge": "text"},
    "ruler.niah": {**_RULER, "type_haystack": ("essay", "noise", "needle"), "type_needle_k": _NEEDLE,
                   "type_needle_v": _NEEDLE, "num_needle_k": "count", "num_needle_v": "count", "num_needle_q": "count"},
    "ruler.vt": {**_RULER, "type_haystack": ("noise",), "num_chains": "count", "num_hops": "count",
                 "add_fewshot": "bool"},
    "ruler.cwe": {**_RULER, "num_cw": "count", "freq_cw": "count", "freq_ucw": "count", "num_fewshot": "int"},
    "ruler.fwe": {**_RULER, "alpha": "positive", "vocab_size": "int", "coded_wordlen": "count"},
    "ruler.qa": {**_RULER, "dataset": ("squad", "hotpotqa"), "first_question": "int"},
    "infinitebench.number_string": {**_INFINITEBENCH, "noise": "text", "needle": "text", "question": "text"},
    "infinitebench.kv_retrieval": dict(_INFINITEBENCH),
    "infinitebench.math_find": {**_INFINITEBENCH, "min_val": "int", "max_val": "int"},
    "periodic": {"kind": ("tokens", "sinusoid"), "period": "positive", "levels": "count", "num_samples": "count"},
}
#: counts (samples, tokens, needles) beyond this would not fit in memory as prompts anyway
MAX_COUNT = 1 << 24
_INT64 = 2**63


def parameters_of(family: str) -> dict[str, Any] | None:
    """The parameter table of a family, or None when it checks its own (lm-eval, plugins)."""
    if family in FAMILY_PARAMETERS:
        return {**_COMMON, **FAMILY_PARAMETERS[family]}
    from . import TASK_FAMILIES

    declared = getattr(TASK_FAMILIES.get(family), "parameters", None) if family in TASK_FAMILIES else None
    return {**_COMMON, **declared} if isinstance(declared, dict) else None


def check_params(family: str, params: dict[str, Any], where: str) -> None:
    """Refuse a parameter the family does not read, or a value of the wrong type (never coerce)."""
    table = parameters_of(family)
    if table is None:
        return
    for key, value in params.items():
        if key not in table:
            close = did_you_mean(str(key), table)
            hint = f"did you mean '{close}'? " if close else ""
            raise UsageError(f"task family '{family}' has no parameter {key!r} ({where})",
                             f"{hint}valid: {', '.join(sorted(table))}")
        problem = _kind_problem(value, table[key])
        if problem:
            raise UsageError(f"parameter {key!r} of '{family}' must be {problem}, got {value!r} ({where})")


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and -_INT64 <= v < _INT64


def _is_number(v: Any) -> bool:
    return _is_int(v) or (isinstance(v, float) and math.isfinite(v))


def _kind_problem(value: Any, kind: Any) -> str | None:
    """What `value` should have been, or None when it is of `kind`."""
    if isinstance(kind, tuple):
        return None if value in kind else f"one of {', '.join(kind)}"
    checks = {
        "text": (lambda v: isinstance(v, str), "a string"),
        "bool": (lambda v: isinstance(v, bool), "true or false"),
        "int": (_is_int, "an integer"),
        "count": (lambda v: _is_int(v) and 1 <= v <= MAX_COUNT, f"an integer in [1, {MAX_COUNT}]"),
        "number": (_is_number, "a finite number"),
        "positive": (lambda v: _is_number(v) and v > 0, "a finite number > 0"),
        _TEXTS: (lambda v: _list_of(v, lambda x: isinstance(x, str)), "a list of strings"),
        _NUMBERS: (lambda v: _list_of(v, _is_number), "a list of finite numbers"),
        _FRACTIONS: (lambda v: _list_of(v, lambda x: _is_number(x) and 0 <= x <= 1), "a list of numbers in [0, 1]"),
        "keywords": (lambda v: _list_of(v, lambda x: isinstance(x, str) or _list_of(x, lambda y: isinstance(y, str))),
                     "a list of strings or of lists of strings"),
    }
    ok, expected = checks[kind]
    return None if ok(value) else expected


def _list_of(value: Any, item_ok) -> bool:
    return isinstance(value, list) and len(value) <= MAX_COUNT and all(item_ok(x) for x in value)


def load_task_file(path: Path) -> TaskDef:
    data = read_yaml(path)
    if not isinstance(data, dict) or "family" not in data:
        raise UsageError(f"task file {path} must be a mapping with at least 'family:'")
    unknown = set(data) - {"name", "family", "description", "params"}
    if unknown:
        raise UsageError(f"task file {path} has unknown keys: {', '.join(sorted(map(str, unknown)))}",
                         "allowed: name, family, description, params")
    params = data.get("params") or {}
    if not isinstance(params, dict):
        raise UsageError(f"'params' in {path} must be a mapping")
    for key in ("name", "family", "description"):
        if key in data and not isinstance(data[key], str):
            raise UsageError(f"'{key}' in {path} must be a string")
    if not data["family"].isprintable():
        raise UsageError(f"'family' in {path} must be a family name, got {data['family']!r}")
    check_params(data["family"], params, str(path))
    return TaskDef(str(data.get("name", path.stem)), data["family"], str(data.get("description", "")),
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
