"""Bridges to other evaluation harnesses. Each needs its optional extra; importing this package
needs none of them, and a missing one is a UsageError that names the extra to install."""

from __future__ import annotations

import importlib

from ..errors import UsageError

LM_EVAL_FIX = "install the lm-eval extra: pip install 'toroidal-bench[lm-eval]'"


def require_lm_eval() -> None:
    """Raise a one-line UsageError unless lm-evaluation-harness can be imported."""
    try:
        importlib.import_module("lm_eval")
    except ImportError:
        raise UsageError("lm-evaluation-harness (lm_eval) is not installed", LM_EVAL_FIX) from None


__all__ = ["LM_EVAL_FIX", "require_lm_eval"]
