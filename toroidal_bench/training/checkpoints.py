"""Checkpoints of a run in progress: `OUT/checkpoints/step-000500/`, written by accelerate.

Each holds what `Accelerator.save_state` saves (model, optimizer, RNG states of every process) plus
`step.json`. `--resume` restores the newest one and continues with the very batches and learning
rates the interrupted run would have used (batches and lr are functions of the step), so the final
weights equal those of an uninterrupted run. The last two checkpoints are kept while training; a
finished run removes them unless asked to keep them (the saved model is the product).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

KEEP = 2


def folder(out: Path) -> Path:
    return Path(out) / "checkpoints"


def latest(out: Path) -> tuple[int, Path] | None:
    """(step, path) of the newest complete checkpoint, or None."""
    found = []
    for path in folder(out).glob("step-*"):
        marker = path / "step.json"
        if marker.is_file():  # written last: a checkpoint cut short by a crash has none
            found.append((int(json.loads(marker.read_text())["step"]), path))
    return max(found) if found else None


def save(accelerator: Any, out: Path, step: int) -> Path:
    path = folder(out) / f"step-{step:06d}"
    accelerator.save_state(str(path), safe_serialization=True)
    if accelerator.is_main_process:
        (path / "step.json").write_text(json.dumps({"step": step}) + "\n")
        for old in sorted(folder(out).glob("step-*"))[:-KEEP]:
            shutil.rmtree(old, ignore_errors=True)
    accelerator.wait_for_everyone()
    return path


def restore(accelerator: Any, path: Path) -> None:
    accelerator.load_state(str(path))


def remove_all(out: Path) -> None:
    shutil.rmtree(folder(out), ignore_errors=True)
