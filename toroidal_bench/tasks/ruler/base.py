"""What every RULER task shares: templates, the token budget, seeded randomness, scoring."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any, ClassVar

from ...errors import UsageError
from ..base import Generate, Sample, TaskFamily
from ..pieces import Encoder
from .constants import TASKS
from .scoring import postprocess, string_match_all, string_match_part


class RulerTask(TaskFamily):
    """A RULER generator. `kind` names its entry in constants.TASKS; params may override
    `template`, `answer_prefix` and `tokens_to_generate`."""

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

    def make(self, enc: Encoder, ids: list[int], length: int, index: int, answers: Sequence[str],
             depth: float | None = None, **meta: Any) -> Sample:
        if len(ids) > self.budget(length):  # construction guarantees this never happens
            raise AssertionError(f"{self.name}: built {len(ids)} tokens for a budget of {self.budget(length)}")
        return Sample(id=f"{length}-{index}",
                      request=Generate(tuple(ids), max_new_tokens=self.max_new_tokens),
                      reference=list(answers), prompt=enc.decode(ids), depth=depth, meta=meta)

    def too_short(self, length: int, need: int) -> UsageError:
        return UsageError(f"length {length} is too short for RULER task '{self.name}' "
                          f"(template, required needles or documents and the answer budget take {need} tokens)")

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
