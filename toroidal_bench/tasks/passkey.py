"""Passkey retrieval (Mohtashami & Jaggi 2023; InfiniteBench Retrieve.PassKey).

A five-digit key sits in a haystack of repeated noise lines at a chosen depth; the model completes
"The pass key is". Prompts are built in token space with the model's own tokenizer: the template's
prefix and suffix, whole noise lines, the needle line, and a cut noise line that makes the prompt
exactly `length − max_new_tokens` tokens long. Scoring follows InfiniteBench's compute_scores: the
first maximal digit run of the output must equal the key.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable
from typing import Any

from . import task_family
from .base import Generate, Sample, TaskFamily, encode, fill, special_prefix

_DIGITS = re.compile(r"\d+")


def first_int(text: str) -> str:
    """InfiniteBench's `get_first_int`-style extraction: the first run of digits, or ''."""
    m = _DIGITS.search(text)
    return m.group(0) if m else ""


@task_family("passkey")
class Passkey(TaskFamily):
    version = "1"
    metrics = ("accuracy",)

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterable[Sample]:
        p = self.params
        max_new = int(p["max_new_tokens"])
        depths = [float(d) for d in p["depths"]]
        n = int(p["num_samples"]) if limit is None else min(limit, int(p["num_samples"]))
        before, after = p["template"].split("{context}")
        prefix = special_prefix(tokenizer) + encode(tokenizer, before)
        suffix = encode(tokenizer, after.replace("{input}", p["question"]))
        noise = encode(tokenizer, p["noise"])
        budget = length - max_new
        for k in range(n):
            rng = random.Random(f"passkey|{seed}|{length}|{k}")
            key = "".join(rng.choice("0123456789") for _ in range(int(p["key_digits"])))
            needle = encode(tokenizer, p["needle"].format(key=key))
            haystack = budget - len(prefix) - len(suffix) - len(needle)
            if haystack < 0:
                raise ValueError(f"length {length} is too short for the passkey template (needs > {length - haystack})")
            lines, rest = divmod(haystack, len(noise))
            depth = depths[k % len(depths)]
            at = round(depth * lines)
            ids = prefix + noise * at + needle + noise * (lines - at) + fill(noise, rest) + suffix
            yield Sample(
                id=f"{length}-{k}",
                request=Generate(tuple(ids), max_new_tokens=max_new, stop=tuple(p.get("stop", ()))),
                reference=key,
                prompt=tokenizer.decode(ids),
                depth=depth,
            )

    def score(self, sample: Sample, output: str) -> dict[str, float]:
        return {"accuracy": float(first_int(output) == sample.reference)}
