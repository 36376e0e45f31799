"""InfiniteBench (OpenBMB/InfiniteBench): all twelve tasks.

`synthetic`: Retrieve.PassKey (the `passkey` family), Retrieve.Number, Retrieve.KV and Math.Find,
generated locally at any length. `real`: En.Sum, En.QA, En.MC, En.Dia, Zh.QA, Code.Debug, Code.Run
and Math.Calc, read from the original JSONL files and cut to length in the middle. `scoring`: the
real-data tasks' scorers of src/compute_scores.py.
"""

from . import real, scoring
from .synthetic import (
    MATH_FIND_INPUTS,
    KVRetrieval,
    MathFind,
    NumberString,
    first_int_match,
    kv_words,
    math_find_answer,
    math_find_correct,
)

__all__ = ["MATH_FIND_INPUTS", "KVRetrieval", "MathFind", "NumberString", "first_int_match", "kv_words",
           "math_find_answer", "math_find_correct", "real", "scoring"]
