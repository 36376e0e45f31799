"""How long a context a resolved spec takes, known without loading weights.

The model's position count (`max_position_embeddings`) is the limit, passed through its encodings
left to right: a RoPE scaling stretches it by its factor (yarn from its `original_max_position_embeddings`
when given), `alibi` and `nope` lift it (they carry no absolute positions and exist to run past the
training length), the others keep it. A `random:` model's count comes from its config; `local:` and
cached `hf:` models from their config.json. For an `hf:` model not in the local cache the limit is
unknown here, and loading decides.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .limits import MAX_POSITIONS


def max_length(resolved: Any) -> int | None:
    """Most tokens `resolved` (a models.loading.ResolvedSpec) may take; None when unknown or unlimited."""
    limit = native_positions(resolved.spec.model)
    for enc in resolved.encodings:
        if limit is None:
            return None
        limit = enc.context_limit(limit)
    return limit


def check_length(resolved: Any, length: int, beyond_max_positions: bool = False) -> None:
    """Refuse a context length the spec cannot take (UsageError, exit 2); `beyond_max_positions`
    allows lengths past the model's position count, for measuring extrapolation."""
    if length > MAX_POSITIONS:
        raise UsageError(f"context length {length} is beyond the {MAX_POSITIONS} tokens tbench supports")
    if beyond_max_positions:
        return
    limit = max_length(resolved)
    if limit is not None and length > limit:
        raise UsageError(f"context length {length} exceeds the {limit} positions of '{resolved.canonical()}'",
                         "use a shorter length, extend the context with an encoding such as +yarn(factor=4), "
                         "or pass --beyond-max-positions to measure extrapolation")


def native_positions(ref: Any) -> int | None:
    """`max_position_embeddings` of the model a ModelRef names, or None when it cannot be read cheaply."""
    if ref.scheme == "random":
        from ..models.random_models import max_positions

        return max_positions(ref.name, dict(ref.args))
    if ref.scheme == "local":
        return _positions_in(Path(ref.name) / "config.json")
    if ref.scheme == "hf":
        return _positions_in(_cached_config(ref.name, dict(ref.args).get("revision")))
    return None


def _cached_config(repo_id: str, revision: Any) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo_id, "config.json", revision=None if revision is None else str(revision))
    except ValueError:  # not a valid repo id: loading reports it
        return None
    return Path(found) if isinstance(found, str) else None


def _positions_in(config: Path | None) -> int | None:
    if config is None:
        return None
    try:
        value = json.loads(config.read_text(encoding="utf-8")).get("max_position_embeddings")
    except (OSError, ValueError, AttributeError):  # unreadable or not a JSON object: loading reports it
        return None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
