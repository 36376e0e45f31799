"""RULER's metrics (scripts/eval/synthetic/constants.py, scripts/eval/evaluate.py), per sample.

Scores are on RULER's 0–100 scale, so the mean over a cell's samples is the number RULER reports
(before its rounding to 2 decimals). `string_match_part` is the original any-reference hit, not
lm-eval's fraction-of-references variant.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_CONTROL = re.compile(r"[\x00-\x1f]")


def postprocess(pred: str) -> str:
    """Strip, turn every control character into a newline, strip again (evaluate.py)."""
    return _CONTROL.sub("\n", pred.strip()).strip()


def string_match_all(pred: str, refs: Sequence[str]) -> float:
    """100 × the fraction of references found (case-insensitive substring) in the prediction."""
    p = pred.lower()
    return 100.0 * sum(r.lower() in p for r in refs) / len(refs)


def string_match_part(pred: str, refs: Sequence[str]) -> float:
    """100 if any reference is found (case-insensitive substring) in the prediction, else 0."""
    p = pred.lower()
    return 100.0 * max(float(r.lower() in p) for r in refs)
