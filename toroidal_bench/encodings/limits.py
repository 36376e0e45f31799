"""Upper bounds on sizes a spec can ask for, so a typo fails at parse time instead of filling memory.

Each bound sits well above any model or context anyone runs, and well below what would hang a machine
while allocating; they are sanity limits, not tuning knobs.
"""

from __future__ import annotations

from ..errors import SpecError

#: tokens in a context, positions in a model (2^24 ≈ 16.7M, past the longest published contexts)
MAX_POSITIONS = 2**24
#: decoder layers of a model (the largest public checkpoints have ~130)
MAX_LAYERS = 1024
#: platters, ranks, heads: small counts that divide a head dimension
MAX_HEAD_SPLIT = 1024
#: context-extension factor of a RoPE scaling (e.g. yarn factor 32 takes 4k to 128k)
MAX_FACTOR = 4096.0
#: seeds are stored in int64 columns and fed to torch, numpy and random
MAX_SEED = 2**63 - 1


def check_range(name: str, value: int | float | None, low: float, high: float, where: str) -> None:
    """Refuse `value` (when given) outside [low, high]; NaN never passes."""
    if value is not None and not low <= value <= high:
        raise SpecError(f"{where}: {name} must lie in [{low}, {high}], got {value!r}")
