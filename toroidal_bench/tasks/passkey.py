"""Passkey retrieval (Mohtashami & Jaggi 2023; InfiniteBench Retrieve.PassKey).

A five-digit key sits in a haystack of repeated noise lines; the model completes "The pass key is".
As in InfiniteBench's data/construct_synthetic_dataset.py the context is whole lines, `noise * j +
needle + noise * (lines − j)`, so at depth 1.0 it ends on the needle; the needle takes `positions`
evenly spaced depths from 0 to 1 (the original: 59), each with fresh keys, `num_samples` in all
(the original: 590). The haystack holds as many whole lines as fit `length − max_new_tokens` tokens
in the tokenizer's own encoding of the prompt text, so the prompt is canonical and falls short of the
budget by less than one line. Scoring is InfiniteBench's compute_scores: the first run of ASCII digits
of the output must equal the key.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable, Iterable
from typing import Any

from ..errors import UsageError
from . import task_family
from .base import Generate, Sample, TaskFamily
from .pieces import Encoder, canonical, encoder_for


def first_int_match(pred: str) -> str:
    """compute_scores.first_int_match: the first non-empty piece of `re.split("[^0-9]", pred)`, or ''.

    Only ASCII digits count: "٣" or "３" separate runs like any other character."""
    return next((part for part in re.split("[^0-9]", pred) if part), "")


def spread_position(index: int, positions: int) -> int:
    """The needle position of sample `index`: every position once per round of `positions` samples,
    in a golden-ratio stride so that any first few samples already span shallow to deep."""
    stride = max(1, round(positions * 0.618))
    while math.gcd(stride, positions) != 1:
        stride += 1
    return (index % positions) * stride % positions


def needle_depth(params: dict[str, Any], index: int) -> float:
    """Depth of sample `index`: one of `positions` evenly spaced depths from 0 to 1, or of an explicit
    `depths` list when a task gives one."""
    if "depths" in params:
        depths = [float(d) for d in params["depths"]]
        return depths[spread_position(index, len(depths))]
    positions = int(params["positions"])
    return spread_position(index, positions) / max(1, positions - 1)


class NoiseLines:
    """Prompts of the form before + noise·at + needle + noise·rest + after, sized to a token budget."""

    def __init__(self, enc: Encoder, before: str, noise: str, after: str):
        self.enc, self.before, self.noise, self.after = enc, before, noise, after

    def text(self, needle: str, at: int, rest: int) -> str:
        return self.before + self.noise * at + needle + self.noise * rest + self.after

    def build(self, needle: str, depth: float, budget: int) -> tuple[list[int], int, bool] | None:
        """(ids, lines, canonical) with the most whole lines that fit `budget`, or None if none fit."""
        size, per_line = self._sizer(needle)
        if size(0, 0) > budget:
            return None
        lines = self._most_lines(size, per_line, depth, budget)
        while lines >= 0:
            at = round(depth * lines)
            ids, ok = self.enc.text(self.text(needle, at, lines - at))
            if len(ids) <= budget:  # the prediction is exact unless tokens span several lines
                return ids, lines, ok
            lines -= 1
        return None

    def _sizer(self, needle: str) -> tuple[Callable[[int, int], int], int]:
        """Token count of the prompt with `at` and `rest` lines, from a few short encodings: a line
        between two noise lines always costs the same, so longer runs extrapolate exactly."""
        memo: dict[tuple[int, int], int] = {}

        def exact(at: int, rest: int) -> int:
            if (at, rest) not in memo:
                memo[at, rest] = len(self.enc.text(self.text(needle, at, rest))[0])
            return memo[at, rest]

        per_line = max(1, exact(2, 3) - exact(2, 2))

        def size(at: int, rest: int) -> int:
            a, r = min(at, 2), min(rest, 2)
            return exact(a, r) + per_line * (at - a + rest - r)

        return size, per_line

    @staticmethod
    def _most_lines(size: Callable[[int, int], int], per_line: int, depth: float, budget: int) -> int:
        def fits(lines: int) -> bool:
            at = round(depth * lines)
            return size(at, lines - at) <= budget

        lines = max(0, (budget - size(0, 0)) // per_line)
        while lines > 0 and not fits(lines):
            lines -= 1
        while fits(lines + 1):
            lines += 1
        return lines


def noise_lines_for(family: TaskFamily, tokenizer: Any, length: int,
                    key_digits: int) -> tuple[Encoder, NoiseLines, int]:
    """The encoder, prompt builder and prompt budget of a noise-line task; UsageError if the template,
    question and needle alone overflow the length."""
    p = family.params
    enc = encoder_for(tokenizer)
    before, after = p["template"].split("{context}")
    lines = NoiseLines(enc, before, p["noise"], after.replace("{input}", p["question"]))
    budget = length - int(p["max_new_tokens"])
    probe = p["needle"].replace("{key}", "0" * key_digits)
    need = len(enc.text(lines.text(probe, 0, 0))[0])
    if need > budget:
        raise UsageError(f"length {length} is too short for task family '{family.name}'",
                         f"the template, question, needle and answer need about {need + length - budget} tokens")
    return enc, lines, budget


def noise_line_sample(family: TaskFamily, enc: Encoder, lines: NoiseLines, budget: int, length: int,
                      index: int, key: str) -> Sample:
    p = family.params
    depth = needle_depth(p, index)
    built = lines.build(p["needle"].replace("{key}", key), depth, budget)
    if built is None:
        raise UsageError(f"length {length} is too short for task family '{family.name}'")
    ids, count, ok = built
    max_new = int(p["max_new_tokens"])
    sample = Sample(id=f"{length}-{index}",
                    request=Generate(tuple(ids), max_new_tokens=max_new, stop=tuple(p.get("stop", ()))),
                    reference=key, prompt=enc.decode(ids), depth=depth,
                    meta={"haystack": "noise", "noise_lines": count, **({"canonical": True} if ok else {})})
    return canonical(sample, enc, length)


def sample_count(params: dict[str, Any], limit: int | None) -> int:
    n = int(params["num_samples"])
    return n if limit is None else min(n, limit)


@task_family("passkey")
class Passkey(TaskFamily):
    version = "2"
    metrics = ("accuracy",)

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterable[Sample]:
        # raises here, before any sample is made, so a preflight call finds a bad length at once
        enc, lines, budget = noise_lines_for(self, tokenizer, length, int(self.params["key_digits"]))
        return self._samples(enc, lines, budget, length, seed, sample_count(self.params, limit))

    def _samples(self, enc: Encoder, lines: NoiseLines, budget: int, length: int, seed: int,
                 n: int) -> Iterable[Sample]:
        for index in range(n):
            rng = random.Random(f"passkey|{seed}|{length}|{index}")
            key = "".join(rng.choice("0123456789") for _ in range(int(self.params["key_digits"])))
            yield noise_line_sample(self, enc, lines, budget, length, index, key)

    def score(self, sample: Sample, output: str) -> dict[str, float]:
        return {"accuracy": float(first_int_match(output) == sample.reference)}
