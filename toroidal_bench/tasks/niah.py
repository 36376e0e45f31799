"""Needle in a haystack (gkamradt/LLMTest_NeedleInAHaystack), single and multi-needle.

Context construction follows needlehaystack/llm_needle_haystack_tester.py and
llm_multi_needle_haystack_tester.py in the tested model's tokens: the haystack files concatenated
(repeated as needed) and tokenized as one text; the first needle at `depth` percent of the context
tokens, walked back to just after a period token; each further needle `(100 − depth) / n` percent
deeper, placed the same way in the grown context; depth 100 appends the needles at the end.

Differences, all from building to an exact length: the whole prompt (template + context + question)
is `length − max_new_tokens` tokens, so there is no 200-token buffer; the period set is the ids of "."
both alone and in context (with SentencePiece tokenizers, encoding "." alone gives "▁." and the
original walks back to the start of the text). The prompt is the original's Anthropic text prompt
(needlehaystack/providers/Anthropic_prompt.txt), fit for base models. Scoring needs no judge:
`keyword_recall` (fraction of the needles' keywords found, case-insensitive) and `rouge1_recall`
(ROUGE-1 recall of the needle text, rouge_score-style tokens, no stemming); a `judge` param naming a
"module:function" (question, response, reference) -> 1..10 adds the original's `judge_score`.
"""

from __future__ import annotations

import importlib
import math
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from ..errors import UsageError
from . import task_family
from .base import Generate, Sample, TaskFamily
from .haystack import load_source, token_stream
from .pieces import canonical, encoder_for

_WORD = re.compile(r"[a-z0-9]+")


def linear_depths(lo: float, hi: float, n: int) -> list[float]:
    """NIAH's linear grid: round(linspace(lo, hi, n)) as ints."""
    if n == 1:
        return [float(round(lo))]
    return [float(round(lo + (hi - lo) * i / (n - 1))) for i in range(n)]


def sigmoid_depths(lo: float, hi: float, n: int) -> list[float]:
    """NIAH's `logistic` grid: 0 and 100 kept, else round(100·σ(−0.1·(x−50)), 3); a decreasing map."""
    xs = [lo + (hi - lo) * i / (n - 1) for i in range(n)] if n > 1 else [lo]
    return [x if x in (0, 100) else round(100 / (1 + math.exp(0.1 * (x - 50))), 3) for x in xs]


def rouge1_recall(reference: str, response: str) -> float:
    ref = Counter(_WORD.findall(reference.lower()))
    got = Counter(_WORD.findall(response.lower()))
    total = sum(ref.values())
    return sum((ref & got).values()) / total if total else 0.0


@task_family("niah")
class NeedleInAHaystack(TaskFamily):
    version = "2"
    metrics = ("keyword_recall", "rouge1_recall")

    def __init__(self, **params: Any):
        super().__init__(**params)
        if params.get("judge"):
            self.metrics = (*type(self).metrics, "judge_score")

    def depths(self) -> list[float]:
        p = self.params
        if "depth_percents" in p:
            return [float(d) for d in p["depth_percents"]]
        lo, hi, n = float(p.get("depth_min", 0)), float(p.get("depth_max", 100)), int(p.get("depth_intervals", 35))
        return sigmoid_depths(lo, hi, n) if p.get("depth_interval_type", "linear") == "sigmoid" else linear_depths(lo, hi, n)

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterable[Sample]:
        p = self.params
        enc = encoder_for(tokenizer)
        needles = list(p["needles"])
        max_new = int(p.get("max_new_tokens", 128))
        before, after = p["template"].split("{context}")
        head = enc.head(before)
        tail = enc.one(after.replace("{retrieval_question}", p["retrieval_question"]))
        needle_ids = [enc.one(n) for n in needles]
        room = length - max_new - len(head) - len(tail) - sum(map(len, needle_ids))
        if room <= 0:
            raise UsageError(f"length {length} is too short for NIAH task '{self.name}' (needs > {length - room})")
        source = load_source(p)  # raises here, before any sample is made, when the haystack is missing
        context = token_stream(enc, source).take(room)
        periods = set(enc.many(["."])[0]) | set(enc.tokenizer(".", add_special_tokens=False)["input_ids"])
        grid = [d for d in self.depths() for _ in range(int(p.get("trials", 1)))]
        grid = grid[: limit if limit is not None else len(grid)]

        def build(depth: float) -> tuple[list[int], list[float], int]:
            """The prompt as the tokenizer encodes its text (what the original sends to a model), with
            the context cut by as many tokens as re-encoding adds, until it fits."""
            cut = 0
            while True:
                ids, placed = insert_needles(context[: len(context) - cut], needle_ids, depth, periods)
                full = enc.round_trip(head + ids + tail)
                over = len(full) + max_new - length
                if over <= 0 or cut + over >= len(context):
                    return (full if over <= 0 else head + ids + tail), placed, len(ids)
                cut += over

        def generate() -> Iterable[Sample]:
            for index, depth in enumerate(grid):
                full, placed, context_tokens = build(depth)
                sample = Sample(id=f"{length}-{index}", request=Generate(tuple(full), max_new_tokens=max_new),
                                reference=needles, prompt=enc.decode(full), depth=depth / 100,
                                meta={"haystack": source.name, "depth_percent": depth, "placed_depths": placed,
                                      "context_tokens": context_tokens})
                yield canonical(sample, enc, length)

        return generate()

    def score(self, sample: Sample, output: str) -> dict[str, float]:
        keywords = [k for group in self.params.get("keywords", []) for k in ([group] if isinstance(group, str) else group)]
        text = output.lower()
        out = {
            "keyword_recall": sum(k.lower() in text for k in keywords) / len(keywords) if keywords else 0.0,
            "rouge1_recall": rouge1_recall(" ".join(sample.reference), output),
        }
        if self.params.get("judge"):
            module, _, name = self.params["judge"].partition(":")
            judge = getattr(importlib.import_module(module), name)
            out["judge_score"] = float(judge(question=self.params["retrieval_question"], response=output,
                                             reference=" ".join(sample.reference)))
        return out


def insert_needles(context: list[int], needles: list[list[int]], depth: float,
                   periods: set[int]) -> tuple[list[int], list[float]]:
    """NIAH's insertion: each needle after the last period token before its depth; returns the new
    token list and where each needle landed (fraction of the grown context)."""
    ids = list(context)
    placed: list[float] = []
    step = (100 - depth) / len(needles)
    for needle in needles:
        if depth == 100:
            at = len(ids)
        else:
            at = int(len(ids) * (depth / 100))
            while at > 0 and ids[at - 1] not in periods:
                at -= 1
        ids[at:at] = needle
        placed.append(at / len(ids))
        depth += step
    return ids, placed
