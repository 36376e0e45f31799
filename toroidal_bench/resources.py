"""Locations of the built-in task and suite YAML files, in a wheel or in a source checkout."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def builtin_dir(kind: str) -> Path:
    """`tasks` or `suites`: packaged copy first (wheel), else the checkout's top-level folder."""
    packaged = _PACKAGE / "_builtin" / kind
    return packaged if packaged.is_dir() else _PACKAGE.parent / kind


def tbench_home() -> Path:
    """Per-user state (sample cache); TBENCH_HOME overrides ~/.cache/tbench."""
    return Path(os.environ.get("TBENCH_HOME") or Path.home() / ".cache" / "tbench")
