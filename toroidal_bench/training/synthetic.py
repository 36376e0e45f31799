"""Synthetic task families as training samples: (token ids, per-token loss weights) at a given length.

- `passkey`: the `passkey` task's prompt (template, noise lines, needle, question from
  tasks/passkey.yaml) with a fresh key at a uniform random depth, followed by the answer " KEY.";
  a model trained on it is evaluated on the same format.
- `niah`: a key-value needle ("One of the special magic numbers for WORD is: NUMBER.") in a window
  of Shakespeare training text, then the RULER-style question and the answer " NUMBER.".
- `periodic`: a random pattern of 2–64 tokens repeated to the length (the `periodic` task's data).

Answer tokens get weight `answer_weight`, every other token weight 1: the loss still models the text,
but retrieval is what the gradient cares about most (see docs/training.md). Keys are drawn from the
sample's own generator, so training never replays an evaluation sample's seed.
"""

from __future__ import annotations

import random
import string
from typing import Any

import numpy as np

Sample = tuple[np.ndarray, np.ndarray]  # ids (int32), weights (float32)

FAMILIES = ("passkey", "niah", "periodic")

_NIAH_NEEDLE = "One of the special magic numbers for {key} is: {value}."
_NIAH_QUESTION = ("\n\nWhat is the special magic number for {key} mentioned in the provided text? "
                  "The special magic number for {key} mentioned in the provided text is")


def _with_answer(prompt: list[int], answer: list[int], weight: float) -> Sample:
    ids = np.asarray(prompt + answer, dtype=np.int32)
    weights = np.ones(len(ids), dtype=np.float32)
    weights[len(prompt):] = weight
    return ids, weights


class Passkey:
    """The passkey prompt assembled from pre-encoded pieces (template, one noise line, needle,
    question): microseconds per sample, and for byte-level tokenizers the very ids the task builds
    (most whole noise lines that fit, needle after round(depth · lines) of them)."""

    def __init__(self, tokenizer: Any, answer_weight: float):
        from ..tasks.base import special_prefix
        from ..tasks.catalog import get_task

        p = get_task("passkey").params
        self.tokenizer, self.answer_weight = tokenizer, answer_weight
        self.needle, self.digits = p["needle"], int(p["key_digits"])
        before, after = p["template"].split("{context}")
        self.before = special_prefix(tokenizer) + _encode(tokenizer, before)
        self.after = _encode(tokenizer, after.replace("{input}", p["question"]))
        self.line = _encode(tokenizer, p["noise"])

    def sample(self, rng: random.Random, length: int) -> Sample:
        key = "".join(rng.choice("0123456789") for _ in range(self.digits))
        needle = _encode(self.tokenizer, self.needle.replace("{key}", key))
        answer = _encode(self.tokenizer, f" {key}.")
        fixed = len(self.before) + len(needle) + len(self.after) + len(answer)
        lines = max(0, (length - fixed) // len(self.line))
        at = round(rng.random() * lines)
        prompt = self.before + self.line * at + needle + self.line * (lines - at) + self.after
        return _with_answer(prompt, answer, self.answer_weight)


class NeedleInShakespeare:
    def __init__(self, tokenizer: Any, answer_weight: float, haystack: np.ndarray):
        self.tokenizer, self.answer_weight, self.haystack = tokenizer, answer_weight, haystack
        from ..tasks.base import special_prefix

        self.prefix = special_prefix(tokenizer)  # BOS etc., as the tokenizer puts it before any text

    def sample(self, rng: random.Random, length: int) -> Sample:
        key = "".join(rng.choice(string.ascii_lowercase) for _ in range(8))
        value = str(rng.randrange(10**6, 10**7))
        needle = _encode(self.tokenizer, " " + _NIAH_NEEDLE.format(key=key, value=value) + " ")
        question = _encode(self.tokenizer, _NIAH_QUESTION.format(key=key))
        answer = _encode(self.tokenizer, f" {value}.")
        room = max(1, length - len(self.prefix) - len(needle) - len(question) - len(answer))
        start = rng.randrange(max(1, len(self.haystack) - room))
        context = self.haystack[start:start + room].tolist()
        at = rng.randrange(len(context) + 1)
        prompt = self.prefix + context[:at] + needle + context[at:] + question
        return _with_answer(prompt, answer, self.answer_weight)


class PeriodicTokens:
    def __init__(self, tokenizer: Any):
        from ..tasks.periodic import candidate_ids

        self.ids = candidate_ids(tokenizer)

    def sample(self, rng: random.Random, length: int) -> Sample:
        from ..tasks.periodic import periodic_tokens

        tokens = periodic_tokens(rng, self.ids, rng.randint(2, 64), length)
        return np.asarray(tokens, dtype=np.int32), np.ones(length, dtype=np.float32)


def _encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])
