"""What a resumed run may do: which cells are already complete, and whether the stored cells were made
with the settings this run asks for (a changed --limit, --seed or task parameter would store the same
samples twice under two settings, so it is refused, naming the difference). Each cell's settings are
recorded in the run metadata for that comparison.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from . import results
from .errors import UsageError
from .suites import Cell


def state(cells: list[Cell], out: Path, resuming: bool, keep_file: bool) -> tuple[set[str], dict]:
    """(ids of the cells already complete, the resumed run's metadata); nothing when not resuming."""
    if not resuming:
        return set(), {}
    stored = results.stored_cells(out, keep_file)
    previous = results.previous_run(out, keep_file)
    check_same_settings(cells, stored, previous, out)
    return {cid for cid, s in stored.items() if s.ok}, previous


def check_same_settings(cells: list[Cell], stored: dict[str, results.StoredCell], previous: dict, out: Path) -> None:
    """A resume may add models, tasks and lengths; but a (model, task, length) that has rows must be
    the same cell again, or its samples would be stored twice under two settings."""
    wanted = {(c.model_spec, c.task.name, c.length): c for c in cells}
    for cid, s in stored.items():
        cell = wanted.get((s.model_spec, s.task, s.context_length))
        if cell is None or cell.cell_id == cid:
            continue
        what = f"{s.model_spec} · {s.task} @ {s.context_length}"
        raise UsageError(f"{out} holds {what} made {_difference(cid, cell, previous)}",
                         "resume with the same settings, or use --overwrite or another --out")


def _difference(cell_id: str, cell: Cell, previous: dict) -> str:
    """How the stored cell `cell_id` was made differently from `cell`, from the recorded settings."""
    before = (previous.get("cells") or {}).get(cell_id)
    changed = []
    if before is not None:  # files from before settings were recorded have none
        params = (previous.get("task_params") or {}).get(before.get("params")) or {}
        changed = _changed({**before, "params": params}, {**settings(cell), "params": cell.task_params})
    if not changed:
        return "with other --limit, --seed or task parameters than this run"
    return (f"with {', '.join(f'{k}={old}' for k, old, _ in changed)}; this run asks for "
            f"{', '.join(f'{k}={new}' for k, _, new in changed)}")


def settings(cell: Cell) -> dict[str, Any]:
    """What makes a cell's samples, as recorded in the run metadata for later resumes; the task
    parameters by digest (the full ones are stored once per digest, under `task_params`)."""
    return {"model_spec": cell.model_spec, "task": cell.task.name, "length": cell.length,
            "limit": cell.limit, "seed": cell.seed, "params": digest(cell.task_params)}


def digest(params: dict[str, Any]) -> str:
    return hashlib.sha256(_json(params).encode()).hexdigest()[:16]


def _changed(before: dict, now: dict) -> list[tuple[str, str, str]]:
    """(name, recorded value, this run's value) for the limit, the seed and each task parameter that differ."""
    pairs = [("limit", before.get("limit"), now["limit"]), ("seed", before.get("seed"), now["seed"])]
    old_params, new_params = before["params"], now["params"]
    pairs += [(k, old_params.get(k), new_params.get(k)) for k in sorted({*old_params, *new_params})]
    return [(k, _json(a), _json(b)) for k, a, b in pairs if _json(a) != _json(b)]


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
