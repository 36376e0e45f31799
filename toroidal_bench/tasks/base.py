"""The task-family contract: make samples at an exact token length, and score one output.

A family is a small class registered with `@task_family("name")`. A task (a YAML file under
`tasks/`) names a family and gives it parameters; YAML holds data only, behaviour stays in Python.
Families talk to models only through the Runner's three request kinds below, so any runner (HF,
vLLM, multi-GPU) can stand in without a family noticing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar


@dataclass(frozen=True)
class Generate:
    """Greedy generation from a prompt given as token ids (built to length, never re-tokenized)."""

    prompt_ids: tuple[int, ...]
    max_new_tokens: int
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class LogLikelihood:
    """log p(continuation | context) and whether greedy decoding would produce the continuation."""

    context_ids: tuple[int, ...]
    continuation_ids: tuple[int, ...]


@dataclass(frozen=True)
class Rolling:
    """Per-token log-probabilities of a whole token sequence, in windows of at most `max_length`:
    disjoint windows, or with `stride` windows that advance by that many tokens and score only the
    tokens no earlier window scored (see models/windows.py)."""

    token_ids: tuple[int, ...]
    max_length: int | None = None
    stride: int | None = None


Request = Generate | LogLikelihood | Rolling


@dataclass(frozen=True)
class Sample:
    id: str
    request: Request
    reference: Any
    prompt: str  # decoded prompt text: stored once per hash in the prompts sidecar
    depth: float | None = None
    truncated_tokens: int = 0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt_tokens(self) -> int:
        r = self.request
        if isinstance(r, Generate):
            return len(r.prompt_ids)
        if isinstance(r, LogLikelihood):
            return len(r.context_ids) + len(r.continuation_ids)
        return len(r.token_ids)

    @property
    def prompt_hash(self) -> str:
        return hashlib.sha256(self.prompt.encode("utf-8")).hexdigest()[:16]


class TaskFamily:
    """Subclass, set `metrics`, implement `samples` and `score`, decorate with @task_family."""

    name: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    #: metric names `score` returns; failed cells record these with an error
    metrics: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: Any):
        self.params = params

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterable[Sample]:
        raise NotImplementedError

    def score(self, sample: Sample, output: Any) -> dict[str, float]:
        raise NotImplementedError


def special_prefix(tokenizer: Any) -> list[int]:
    """The ids the tokenizer puts before text by default (e.g. BOS), counted in the prompt length."""
    ids = list(tokenizer("a", add_special_tokens=True)["input_ids"])
    core = list(tokenizer("a", add_special_tokens=False)["input_ids"])
    for start in range(len(ids) - len(core) + 1):
        if ids[start : start + len(core)] == core:
            return ids[:start]
    return []


def encode(tokenizer: Any, text: str) -> list[int]:
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def fill(unit: Sequence[int], n: int) -> list[int]:
    """`n` tokens made of `unit` repeated, the last repetition cut short (token-array slicing)."""
    if n <= 0:
        return []
    reps = -(-n // len(unit))
    return (list(unit) * reps)[:n]
