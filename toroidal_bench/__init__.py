"""toroidal-bench: long-context benchmarks for positional encodings and attention variants."""

from __future__ import annotations

__version__ = "0.1.0"


def load(spec: str, device: str | None = None, dtype=None, **kwargs):
    """Load a model spec into a Runner (see toroidal_bench.models.load)."""
    from .models import load as _load

    return _load(spec, device=device, dtype=dtype, **kwargs)


__all__ = ["__version__", "load"]
