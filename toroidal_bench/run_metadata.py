"""The run metadata stored in every results file (`tbench.run`): what ran, where, and with what."""

from __future__ import annotations

import platform
import subprocess
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__, compile_cache, resume

if TYPE_CHECKING:
    from .evaluate import RunOptions
    from .suites import Cell


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new(opts: RunOptions, previous: dict, cells: list[Cell]) -> dict[str, Any]:
    """A run's metadata: its software and device, and per-model and per-cell records carried over
    from the run it resumes (`previous`)."""
    import torch
    import transformers

    device = opts.device or ("cuda" if torch.cuda.is_available() else "cpu")
    gpu = torch.cuda.get_device_name(0) if device.startswith("cuda") and torch.cuda.is_available() else None
    return {
        "run_id": previous.get("run_id") or uuid.uuid4().hex[:12],
        "suite": opts.suite,
        "started": previous.get("started") or now(),
        "resumed": now() if previous else None,
        "git_sha": git_sha(),
        "tbench_version": __version__,
        "torch_version": torch.__version__,
        "transformers_version": transformers.__version__,
        "python_version": platform.python_version(),
        "device": gpu or device,
        "dtype": opts.dtype or ("bf16" if device.startswith("cuda") else "fp32"),
        "attention_requested": opts.attn,
        "attention": dict(previous.get("attention") or {}),  # backend used, per model spec
        # generation route (graph / static / eager / generate, with why), per model spec
        "decode_route": dict(previous.get("decode_route") or {}),
        "self_check": dict(previous.get("self_check") or {}),  # models/self_check.py, per model spec
        "device_map": dict(previous.get("device_map") or {}),  # GPUs each device-mapped model spans
        # dynamo compiles (and seconds) per model spec, summed over the runs this one resumes
        "compiles": dict(previous.get("compiles") or {}),
        "cell_cost": dict(previous.get("cell_cost") or {}),  # wall s, peak device bytes, compiles per cell
        "compile_cache": str(compile_cache.location()[0]),
        "seed": opts.seed,
        # every cell this run and the runs it resumes asked for, by id: a later resume checks its settings
        "cells": {**(previous.get("cells") or {}), **{c.cell_id: resume.settings(c) for c in cells}},
        "task_params": {**(previous.get("task_params") or {}),
                        **{resume.digest(c.task_params): c.task_params for c in cells}},
        "command": opts.command,
        "host": platform.node(),
    }


def git_sha() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5)
        return sha.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None
