"""RULER vt: follow a chain of variable assignments hidden in noise.

Re-implements scripts/data/synthetic/variable_tracking.py (noise haystack) in token space. A chain
is "VAR A = 12345", "VAR B = VAR A ", … (num_hops + 1 names of 5 random capitals, unique over all
chains; the value a numpy-style randint(10000, 99999), i.e. at most 99998). Each chain's statements go
at sorted random line indexes in order. The answer is every name of chain 0.

One in-context example precedes the task, as RULER always adds it: a run of the same generator with
3-letter names, value 12345 and a haystack of at most 500 tokens (at least 5 noise lines), followed
by its answer; per sample its names and value are re-randomised by string replacement.

Haystack unit: a noise line. `sizing: ruler` counts them with RULER's search (increments of 10 lines,
5 below 4096 tokens; the search probes count the example un-randomised, as RULER's do).
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass

from ...errors import UsageError
from .. import task_family
from ..pieces import Encoder
from .base import Built, RulerTask, split_template
from .constants import NOISE
from .sizing import Search, ruler_count


def chains(rng: random.Random, num_chains: int, num_hops: int, icl: bool = False) -> tuple[list, list]:
    k = 3 if icl else 5
    hops = min(10, num_hops) if icl else num_hops
    names = ["".join(rng.choices(string.ascii_uppercase, k=k)) for _ in range((hops + 1) * num_chains)]
    while len(set(names)) < num_chains * (hops + 1):
        names.append("".join(rng.choices(string.ascii_uppercase, k=k)))
    groups, statements = [], []
    for i in range(0, len(names), hops + 1):
        group = names[i: i + hops + 1]
        value = "12345" if icl else str(rng.randint(10000, 99998))
        statements.append([f"VAR {group[0]} = {value}"] +
                          [f"VAR {group[j + 1]} = VAR {group[j]} " for j in range(hops)])
        groups.append(group)
    return groups, statements


def insert_chains(rng: random.Random, n: int, statements: list[list[str]]) -> list[str | None]:
    """Lines of the context: None for a noise line, else a chain statement (RULER's insertion order)."""
    lines: list[str | None] = [None] * n
    for chain in statements:
        slots = sorted(rng.sample(range(len(lines)), len(chain)))
        for j, (slot, statement) in enumerate(zip(slots, chain, strict=True)):
            lines.insert(slot + j, statement)
    return lines


@dataclass(frozen=True)
class VtPlan:
    enc: Encoder
    length: int
    icl: str | None  # the in-context example text, un-randomised


@task_family("ruler.vt")
class RulerVariableTracking(RulerTask):
    kind = "variable_tracking"
    version = "2"

    @property
    def shape(self) -> tuple[int, int]:
        return int(self.params.get("num_chains", 1)), int(self.params.get("num_hops", 4))

    def plan(self, enc: Encoder, length: int, seed: int) -> VtPlan:
        if self.params.get("type_haystack", "noise") != "noise":
            raise UsageError("ruler.vt implements the noise haystack (the one RULER's vt task uses)")
        icl = self._icl_example(enc, seed, *self.shape) if self.params.get("add_fewshot", True) else None
        return VtPlan(enc, length, icl)

    def rule(self, length: int) -> Search:
        step = 10 if length >= 4096 else 5
        return Search(incremental=step, estimate_at=step)

    def ruler_count(self, plan: VtPlan, length: int, seed: int) -> int | None:
        """RULER estimates tokens per line from a probe without the example, then searches with
        the example counted as it is (not re-randomised)."""
        rng = self.rng(seed, length, -1)
        icl = None if plan.icl is None else ("as is", plan.icl)
        return ruler_count(lambda n: len(self._sample_at(plan, rng, n, icl).ids), length, self.budget(length),
                           self.rule(length), estimate=lambda n: len(self._sample_at(plan, rng, n, None).ids))

    def build(self, plan: VtPlan, rng: random.Random, n: int, index: int) -> Built:
        return self._sample_at(plan, rng, n, None if plan.icl is None else ("random", plan.icl))

    def fill(self, plan: VtPlan, rng: random.Random, index: int) -> Built:
        return self._sample_at(plan, rng, None, None if plan.icl is None else ("random", plan.icl))

    def _sample_at(self, plan: VtPlan, rng: random.Random, n: int | None, icl: tuple[str, str] | None) -> Built:
        """A sample with `n` noise lines (None: as many as fit); `icl` = (how, example) or None."""
        num_chains, num_hops = self.shape
        groups, statements = chains(rng, num_chains, num_hops)
        value = statements[0][0].split("=")[-1].strip()
        text = (self.template + self.answer_prefix).replace("{query}", value).replace("{num_v}", str(num_hops + 1))
        before, after = split_template(text)
        if icl is not None:
            how, example = icl
            before = (randomize_icl(rng, example, num_hops) if how == "random" else example) + "\n" + before
        ids, units, _ = self._build(plan.enc, before, after, statements, self.budget(plan.length), rng,
                                    plan.length, count=n)
        prefix = self.answer_prefix.replace("{query}", value).replace("{num_v}", str(num_hops + 1))
        return Built(ids, groups[0], units, meta={"haystack": "noise", "answer_prefix": prefix})

    def _build(self, enc: Encoder, before: str, after: str, statements: list[list[str]], budget: int,
               rng: random.Random, length: int | None, head_ids: bool = True,
               count: int | None = None) -> tuple[list[int], int, str]:
        head = enc.head(before) if head_ids else enc.one(before)
        tail = enc.one(after)
        flat = [s for chain in statements for s in chain]
        chain_ids = dict(zip(flat, enc.many(["\n" + s for s in flat]), strict=True))
        unit = enc.one("\n" + NOISE)
        fixed = len(head) + len(tail) + sum(len(chain_ids[s]) for s in flat)
        n = max((budget - fixed) // len(unit), 0) if count is None else count
        if length is not None and n < 1:
            raise self.too_short(length, fixed + len(unit))
        if length is None:
            n = max(n, 5)  # RULER's binary search never goes below its increment of 5
        ids, text = list(head), [before]
        for line in insert_chains(rng, n, statements):
            ids += unit if line is None else chain_ids[line]
            text.append("\n" + (NOISE if line is None else line))
        return ids + tail, n, "".join(text) + after

    def _icl_example(self, enc: Encoder, seed: int, num_chains: int, num_hops: int) -> str:
        """RULER's in-context example text: its full prompt (≤ 500 tokens), a space, its answer, "\\n"."""
        rng = random.Random(f"{self.name}|icl|{seed}")
        groups, statements = chains(rng, num_chains, num_hops, icl=True)
        text = (self.template + self.answer_prefix).replace("{query}", "12345")
        text = text.replace("{num_v}", str(min(10, num_hops) + 1))
        before, after = split_template(text)
        _, _, example = self._build(enc, before, after, statements, 500, rng, None, head_ids=False)
        return example + " " + " ".join(groups[0]) + "\n"


def randomize_icl(rng: random.Random, example: str, num_hops: int) -> str:
    """RULER's randomize_icl: new names of the same length for the answer names, a new value."""
    for name in example.strip().split()[-num_hops - 1:]:
        example = example.replace(name, "".join(rng.choices(string.ascii_uppercase, k=len(name))))
    return example.replace("12345", str(rng.randint(10000, 99998)))
