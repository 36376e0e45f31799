"""What the SCROLLS and ZeroSCROLLS families share: read the examples, fit each prompt, score."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

from ...errors import UsageError
from ..base import Generate, Sample, TaskFamily
from ..pieces import Encoder, encoder_for
from . import metrics as m
from .data import SPLITS, Example, examples
from .fitting import keep_query

Scorer = Callable[[str, Sequence[str]], dict[str, float]]


def rouge_scores(prediction: str, references: Sequence[str]) -> dict[str, float]:
    """ROUGE-1/2/L and, as the row of the geometric mean, this sample's own geometric mean."""
    r = m.rouge(prediction, references)
    return {"rouge/rouge1": r["rouge1"], "rouge/rouge2": r["rouge2"], "rouge/rougeL": r["rougeL"],
            "rouge/geometric_mean": m.geometric_mean(list(r.values()))}


ROUGE_METRICS = ("rouge/rouge1", "rouge/rouge2", "rouge/rougeL", "rouge/geometric_mean")


def single(name: str, fn: Callable[[str, Sequence[str]], float]) -> Scorer:
    return lambda prediction, references: {name: fn(prediction, references)}


class LongTextTask(TaskFamily):
    """A task of one of the benchmarks: `dataset` names it, `split` picks the file (validation)."""

    benchmark: ClassVar[str] = ""
    datasets: ClassVar[tuple[str, ...]] = ()
    fields: ClassVar[tuple[str, ...]] = ("id", "input", "output")
    #: dataset → (metric names, scorer)
    scoring: ClassVar[dict[str, tuple[tuple[str, ...], Scorer]]] = {}

    def __init__(self, **params: Any):
        super().__init__(**params)
        dataset = params.get("dataset")
        if dataset in self.scoring:
            self.metrics = self.scoring[dataset][0]  # failed cells record this task's metrics only

    @property
    def dataset(self) -> str:
        dataset = self.params.get("dataset")
        if dataset not in self.datasets:
            raise UsageError(f"{self.name}: unknown dataset {dataset!r}", f"valid: {', '.join(self.datasets)}")
        return dataset

    def samples(self, tokenizer: Any, length: int, seed: int, limit: int | None) -> Iterable[Sample]:
        dataset, split = self.dataset, self.params.get("split", "validation")
        if split not in SPLITS:
            raise UsageError(f"{self.name}: unknown split {split!r}", f"valid: {', '.join(SPLITS)}")
        found = examples(self.benchmark, dataset, split, self.params.get("data_dir"), self.fields)  # raises now
        chosen = found[:limit] if limit is not None else found
        for ex in chosen:
            self.check(ex)
        enc = encoder_for(tokenizer)
        budget = length - int(self.params["max_new_tokens"])
        first = self.sample(enc, chosen[0], budget)  # a length too short for the query fails here, not later
        return self._then(first, enc, chosen[1:], budget)

    def _then(self, first: Sample, enc: Encoder, rest: list[Example], budget: int) -> Iterable[Sample]:
        yield first
        for ex in rest:
            yield self.sample(enc, ex, budget)

    def check(self, ex: Example) -> None:
        """Refuse an example this task cannot prompt or score (a file of another task or version)."""

    def parts(self, ex: Example, chat: bool) -> tuple[str, str, str]:
        """(text cut at its end when too long, text kept whole after it, separator put between when cut)."""
        raise NotImplementedError

    def sample(self, enc: Encoder, ex: Example, budget: int) -> Sample:
        chat = bool(self.params.get("chat_template", False))
        body, suffix, separator = self.parts(ex, chat)
        fitted = keep_query(enc, body, suffix, budget, chat=chat, separator=separator)
        stop = tuple(self.params.get("stop", ()))
        request = Generate(tuple(fitted.ids), max_new_tokens=int(self.params["max_new_tokens"]), stop=stop)
        meta = {"benchmark": self.benchmark, "dataset": self.dataset, "split": self.params.get("split", "validation"),
                "chat_template": chat, "references": len(ex.outputs)}
        return Sample(id=ex.id, request=request, reference=list(ex.outputs), prompt=enc.decode(fitted.ids),
                      truncated_tokens=fitted.truncated_tokens, meta=meta)

    def score(self, sample: Sample, output: str) -> dict[str, float]:
        return self.scoring[self.dataset][1](output, sample.reference)
