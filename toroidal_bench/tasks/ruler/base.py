"""What every RULER task shares: templates, the token budget, seeded randomness, sizing, scoring."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from ...errors import UsageError
from ..base import Generate, Sample, TaskFamily
from ..pieces import Encoder, encoder_for
from .constants import TASKS
from .scoring import postprocess, string_match_all, string_match_part
from .sizing import Search, ruler_count, sizing, step_down

#: the `index` build() gets for a search probe
PROBE = -1


@dataclass
class Built:
    """One generated prompt: its token ids, the answers, and how many haystack units it holds."""

    ids: list[int]
    answers: list[str]
    units: int
    depth: float | None = None
    meta: dict[str, Any] = field(default_factory=dict)


class RulerTask(TaskFamily):
    """A RULER generator. `kind` names its entry in constants.TASKS; params may override
    `template`, `answer_prefix` and `tokens_to_generate`; `sizing` picks ruler (default) or fill.

    A subclass implements `plan` (everything shared by a cell's samples; input problems raise
    there), `build` (a sample drawn at exactly n haystack units, RULER's unit for the task),
    `fill` (a sample with the largest haystack that fits) and `rule` (RULER's search constants).
    `index` is the sample's index, or PROBE for the search's probes.
    """

    kind: ClassVar[str] = ""
    metrics = ("string_match_all",)

    @property
    def template(self) -> str:
        return self.params.get("template", TASKS[self.kind]["template"])

    @property
    def answer_prefix(self) -> str:
        return self.params.get("answer_prefix", TASKS[self.kind]["answer_prefix"])

    @property
    def max_new_tokens(self) -> int:
        return int(self.params.get("tokens_to_generate", TASKS[self.kind]["tokens_to_generate"]))

    def count(self, limit: int | None) -> int:
        n = int(self.params.get("num_samples", 500))  # RULER's NUM_SAMPLES
        return n if limit is None else min(n, limit)

    def rng(self, seed: int, length: int, index: int) -> random.Random:
        """Per-sample randomness: the same (task, seed, length, index) gives the same sample."""
        return random.Random(f"{self.name}|{self.params_key}|{seed}|{length}|{index}")

    @property
    def params_key(self) -> str:
        """The generation parameters (not run-time paths), so tasks of one family draw differently."""
        keep = {k: v for k, v in self.params.items() if k not in ("haystack_dir", "data_dir", "num_samples")}
        return json.dumps(keep, sort_keys=True, default=str)

    def budget(self, length: int) -> int:
        """Prompt tokens allowed: RULER's max_seq_length includes tokens_to_generate."""
        return length - self.max_new_tokens

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterator[Sample]:
        """Input problems (a missing data file or haystack, a length too short) raise UsageError at
        this call: the plan and the first sample are made eagerly, the rest as they are consumed."""
        mode = sizing(self.params)
        self.check_inputs()
        enc = encoder_for(tokenizer)
        plan = self.plan(enc, length, seed)
        count = self.ruler_count(plan, length, seed) if mode == "ruler" else None
        total = self.count(limit)
        first = [self._sample(enc, plan, length, seed, count, 0)] if total else []
        rest = (self._sample(enc, plan, length, seed, count, i) for i in range(1, total))
        return itertools.chain(first, rest)

    def _sample(self, enc: Encoder, plan: Any, length: int, seed: int, count: int | None, index: int) -> Sample:
        rng = self.rng(seed, length, index)
        got = None
        if count is not None:
            got = step_down(lambda n: self.build(plan, rng, n, index), lambda b: len(b.ids), count,
                            self.budget(length), self.rule(length).incremental)
        built, used = (got[0], "ruler") if got else (self.fill(plan, rng, index), "fill")
        return self.make(enc, built.ids, length, index, built.answers, depth=built.depth,
                         haystack_units=built.units, sizing=used, **built.meta)

    def ruler_count(self, plan: Any, length: int, seed: int) -> int | None:
        """RULER's haystack count for the cell, found with the search's own random draws."""
        rng = self.rng(seed, length, PROBE)
        return ruler_count(lambda n: self.tokens(plan, rng, n), length, self.budget(length), self.rule(length))

    def tokens(self, plan: Any, rng: random.Random, n: int) -> int:
        """Prompt tokens of a search probe drawn at n units (a subclass may count without building)."""
        return len(self.build(plan, rng, n, PROBE).ids)

    def check_inputs(self) -> None:
        """Raise UsageError for missing data or haystack files (needs no tokenizer, so runs first)."""

    def plan(self, enc: Encoder, length: int, seed: int) -> Any:
        raise NotImplementedError

    def build(self, plan: Any, rng: random.Random, n: int, index: int) -> Built:
        raise NotImplementedError

    def fill(self, plan: Any, rng: random.Random, index: int) -> Built:
        raise NotImplementedError

    def rule(self, length: int) -> Search:
        raise NotImplementedError

    def make(self, enc: Encoder, ids: list[int], length: int, index: int, answers: Sequence[str],
             depth: float | None = None, **meta: Any) -> Sample:
        if len(ids) > self.budget(length):  # construction guarantees this never happens
            raise AssertionError(f"{self.name}: built {len(ids)} tokens for a budget of {self.budget(length)}")
        return Sample(id=f"{length}-{index}",
                      request=Generate(tuple(ids), max_new_tokens=self.max_new_tokens),
                      reference=list(answers), prompt=enc.decode(ids), depth=depth, meta=meta)

    def too_short(self, length: int, prompt_tokens: int) -> UsageError:
        """`prompt_tokens`: the smallest prompt the task can make; the message adds the answer budget."""
        need = prompt_tokens + self.max_new_tokens
        return UsageError(f"length {length} is too short for RULER task '{self.name}': its smallest prompt "
                          f"(template, required needles, words or documents) and the answer budget take {need} tokens")

    def score(self, sample: Sample, output: str) -> dict[str, float]:
        pred = postprocess(output)
        if self.metrics[0] == "string_match_part":
            return {"string_match_part": string_match_part(pred, sample.reference)}
        return {"string_match_all": string_match_all(pred, sample.reference)}


def split_template(text: str, sep: str = "\n") -> tuple[str, str]:
    """(before, after) of {context}, with one trailing `sep` moved from `before` into the pieces.

    Haystack items are encoded as sep + item, so the separator before the first item travels
    with it and every item is encoded the same way."""
    before, after = text.split("{context}")
    if not before.endswith(sep):
        raise UsageError(f"template text before {{context}} must end with {sep!r}")
    return before[: -len(sep)], after


def join_lengths(enc: Encoder, items: Sequence[str], sep: str = "\n") -> list[list[int]]:
    return enc.many([sep + item for item in items])
