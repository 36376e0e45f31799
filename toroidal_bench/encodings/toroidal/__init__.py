"""Toroidal attention (seeds 000–003): sequence positions on a circle of fixed period, each token split
into D depth platters, a toroidal distance bias and depth fusion — and its injection into HF models.

Importing this package registers the `toroidal` encoding and stays free of torch; the modules (the
seeds' public names) are loaded on first access:

    from toroidal_bench.encodings.toroidal import ToroidalAttention
"""

from __future__ import annotations

import importlib

from .spec import Toroidal

_LAZY = {
    "ToroidalAttention": "attention",
    "ToroidalCore": "core",
    "create_distance_bias": "distance",
    "distance_matrix": "distance",
    "circular_offset": "distance",
    "Toroidal3DPositionalEncoding": "positional",
    "OrthogonalToroidal3DPE": "positional",
    "DepthFusion": "fusion",
    "Geometry": "masks",
    "attend": "backends",
    "ToroidalBackendWarning": "backends",
    "blockwise_attention": "blockwise",
    "RingToroidalAttention": "ring",
    "FFTToroidalAttention": "fft",
    "AdaptiveToroidalAttention": "adaptive",
    "DepthRouter": "router",
    "DepthAnnealer": "annealer",
    "LatentKV": "streaming",
    "LatentState": "streaming",
    "ToroidalHFAttention": "inject",
    "replace_attention_layers": "inject",
}


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(f".{_LAZY[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Toroidal", *_LAZY]
