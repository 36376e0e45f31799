"""Training data: a mix of sources → fixed-shape batches that depend only on (seed, step, micro, rank).

    --data shakespeare                 LM windows of the training split of the bundled corpus
    --data shakespeare+passkey         each row drawn from one source, equal odds
    --data 'shakespeare*3+niah'        odds 3 : 1
    --data books/ | notes.txt | docs.jsonl | wikitext2 | openwebtext | pg19

Text sources give windows of exactly `length` tokens; synthetic sources (passkey, niah, periodic)
give samples of a length drawn uniformly from [min_length, length], right-padded with weight 0 (causal
attention never lets a real token see the padding after it, so no attention mask is needed). A batch
is a pure function of its coordinates, so a resumed run sees exactly the batches the interrupted one
would have seen, and processes of a distributed run see different rows.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import UnknownNameError, UsageError
from . import corpus, synthetic

_PART = re.compile(r"^(?P<name>[^*]+?)(?:\*(?P<weight>\d+(?:\.\d+)?))?$")


@dataclass(frozen=True)
class Part:
    name: str
    weight: float


def parse_mix(text: str) -> tuple[Part, ...]:
    """'shakespeare*3+passkey' → (Part('shakespeare', 3.0), Part('passkey', 1.0)); checks every name."""
    parts = []
    for raw in (text or "").split("+"):
        m = _PART.match(raw.strip())
        if not m:
            raise UsageError(f"bad data mix '{text}'", "write sources joined by '+', e.g. 'shakespeare*3+passkey'")
        name, weight = m["name"].strip(), float(m["weight"] or 1)
        if weight <= 0:
            raise UsageError(f"data source '{name}' has weight 0", "drop it from the mix instead")
        known = name == "shakespeare" or name in synthetic.FAMILIES or name in corpus.HUB
        if not known and not corpus.is_text_path(name):
            choices = ["shakespeare", *synthetic.FAMILIES, *corpus.HUB, "<file.txt|file.jsonl|folder>"]
            raise UnknownNameError("data source", name, choices)
        parts.append(Part(name, weight))
    names = [p.name for p in parts]
    if len(set(names)) != len(names):
        raise UsageError(f"data mix '{text}' names a source twice", "give it a weight instead: 'name*2'")
    return tuple(parts)


class TextWindows:
    def __init__(self, tokens: np.ndarray, name: str):
        self.tokens, self.name = tokens, name

    def sample(self, rng: random.Random, length: int) -> synthetic.Sample:
        if len(self.tokens) < length + 1:
            raise UsageError(f"data source '{self.name}' holds {len(self.tokens)} tokens, "
                             f"fewer than one training window of {length}")
        start = rng.randrange(len(self.tokens) - length)
        ids = self.tokens[start:start + length]
        return ids, np.ones(length, dtype=np.float32)


class Mix:
    """The sources of a mix, tokenized once, and the batch builder."""

    def __init__(self, text: str, tokenizer: Any, *, length: int, min_length: int, answer_weight: float,
                 seed: int):
        self.parts = parse_mix(text)
        self.length, self.min_length, self.seed = length, min_length, seed
        self.pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.sources: list[Any] = []
        shakespeare = None
        for part in self.parts:
            if part.name in synthetic.FAMILIES:
                if part.name == "niah" and shakespeare is None:
                    shakespeare = corpus.tokens_for("shakespeare", tokenizer)
                self.sources.append(_synthetic(part.name, tokenizer, answer_weight, shakespeare))
            else:
                tokens = corpus.tokens_for(part.name, tokenizer)
                if part.name == "shakespeare":
                    shakespeare = tokens
                self.sources.append(TextWindows(tokens, part.name))
        self.odds = [p.weight for p in self.parts]

    def batch(self, step: int, micro: int, rank: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
        """input ids (rows, length) int64 and loss weights (rows, length) float32."""
        rng = random.Random(f"{self.seed}|{step}|{micro}|{rank}")
        ids = np.full((rows, self.length), self.pad, dtype=np.int64)
        weights = np.zeros((rows, self.length), dtype=np.float32)
        for r in range(rows):
            source = rng.choices(self.sources, weights=self.odds)[0]
            n = self.length if isinstance(source, TextWindows) else rng.randint(self.min_length, self.length)
            x, w = source.sample(rng, n)
            x, w = x[-self.length:], w[-self.length:]  # a BPE answer a token longer than planned
            ids[r, :len(x)], weights[r, :len(w)] = x, w
        return ids, weights


def _synthetic(name: str, tokenizer: Any, answer_weight: float, shakespeare: np.ndarray | None):
    if name == "passkey":
        return synthetic.Passkey(tokenizer, answer_weight)
    if name == "niah":
        return synthetic.NeedleInShakespeare(tokenizer, answer_weight, shakespeare)
    return synthetic.PeriodicTokens(tokenizer)
