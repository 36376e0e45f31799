"""Optional dependencies: imported where used, and named with their extra when missing."""

from __future__ import annotations

import importlib
from types import ModuleType

from .errors import UsageError

#: module → (distribution on PyPI, extra of toroidal-bench that installs it)
PACKAGES = {
    "rouge": ("rouge", "benchmarks"),
    "rouge_score": ("rouge-score", "benchmarks"),
    "jieba": ("jieba", "benchmarks"),
    "nltk": ("nltk", "benchmarks"),
    "unidecode": ("Unidecode", "benchmarks"),  # ZeroSCROLLS' F1 transliterates answers to ASCII
}


def need(module: str, purpose: str) -> ModuleType:
    """Import `module`, or raise a one-line UsageError saying what needs it and how to install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        dist, extra = PACKAGES.get(module, (module, None))
        fix = f"pip install 'toroidal-bench[{extra}]'" if extra else f"pip install {dist}"
        raise UsageError(f"{purpose} needs the '{dist}' package", fix) from None
