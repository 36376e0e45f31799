"""RULER vt: follow a chain of variable assignments hidden in noise.

Re-implements scripts/data/synthetic/variable_tracking.py (noise haystack) in token space. A chain
is "VAR A = 12345", "VAR B = VAR A ", … (num_hops + 1 names of 5 random capitals, unique over all
chains; the value a numpy-style randint(10000, 99999), i.e. at most 99998). Each chain's statements go
at sorted random line indexes in order. The answer is every name of chain 0.

One in-context example precedes the task, as RULER always adds it: a run of the same generator with
3-letter names, value 12345 and a haystack of at most 500 tokens (at least 5 noise lines), followed
by its answer; per sample its names and value are re-randomised by string replacement.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterable
from typing import Any

from ...errors import UsageError
from .. import task_family
from ..base import Sample
from ..pieces import Encoder, encoder_for
from .base import RulerTask, split_template
from .constants import NOISE


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


@task_family("ruler.vt")
class RulerVariableTracking(RulerTask):
    kind = "variable_tracking"
    version = "1"

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterable[Sample]:
        p = self.params
        if p.get("type_haystack", "noise") != "noise":
            raise UsageError("ruler.vt implements the noise haystack (the one RULER's vt task uses)")
        num_chains, num_hops = int(p.get("num_chains", 1)), int(p.get("num_hops", 4))
        enc = encoder_for(tokenizer)
        icl = self._icl_example(enc, seed, num_chains, num_hops) if p.get("add_fewshot", True) else None
        for index in range(self.count(limit)):
            rng = self.rng(seed, length, index)
            groups, statements = chains(rng, num_chains, num_hops)
            value = statements[0][0].split("=")[-1].strip()
            text = self.template + self.answer_prefix
            text = text.replace("{query}", value).replace("{num_v}", str(num_hops + 1))
            before, after = split_template(text)
            if icl is not None:
                before = randomize_icl(rng, icl, num_hops) + "\n" + before
            ids, n, _ = self._build(enc, before, after, statements, self.budget(length), rng, length)
            yield self.make(enc, ids, length, index, groups[0], haystack="noise", haystack_units=n,
                            answer_prefix=self.answer_prefix.replace("{query}", value)
                            .replace("{num_v}", str(num_hops + 1)))

    def _build(self, enc: Encoder, before: str, after: str, statements: list[list[str]], budget: int,
               rng: random.Random, length: int | None, head_ids: bool = True) -> tuple[list[int], int, str]:
        head = enc.head(before) if head_ids else enc.one(before)
        tail = enc.one(after)
        flat = [s for chain in statements for s in chain]
        chain_ids = dict(zip(flat, enc.many(["\n" + s for s in flat]), strict=True))
        unit = enc.one("\n" + NOISE)
        room = budget - len(head) - len(tail) - sum(len(chain_ids[s]) for s in flat)
        n = max(room // len(unit), 0)
        if length is not None and n < 1:
            raise self.too_short(length, budget - room + len(unit))
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
