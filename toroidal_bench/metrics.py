"""Every metric declared once: which direction is better, and how per-sample rows aggregate.

Rows hold one value per (sample, metric). How those values combine into a run's figure depends on
the metric, and `compare`, `gate` and reports all read it from here:

  mean   the mean over samples (accuracy, string match, F1, ...);
  sum    the total over samples (token, word and byte counts, summed NLL);
  ratio  a function of Σ numerator ÷ Σ denominator over samples, where numerator and denominator
         are other metrics of the same samples: perplexity is exp(Σ nll ÷ Σ tokens), never the mean
         of per-document perplexities, so a long document weighs by its tokens. The row of a ratio
         metric holds the sample's own value (its document's perplexity) for reading and for
         counting wins and losses; the aggregate is always recomputed from the sums.

A metric measured over token positions (NLL by position) is keyed by `At(metric, start, end)` in a
family's scores; the positions go to the results' `position`/`position_end` columns.
A metric with no declaration (a plugin's, an lm-eval task's) is taken as higher-is-better, mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

Better = Literal["higher", "lower"]


class At(NamedTuple):
    """A score key for a metric measured over the token positions [start, end) (1-based)."""

    metric: str
    start: int
    end: int


_TRANSFORMS = {
    "identity": lambda x: x,
    "exp": np.exp,
    "bits": lambda x: x / math.log(2),
}


@dataclass(frozen=True)
class Metric:
    name: str
    better: Better | None  # None: a count or a sum kept for aggregation, not a score
    aggregation: Literal["mean", "sum", "ratio"] = "mean"
    numerator: str | None = None  # ratio only: the metric summed above the line
    denominator: str | None = None  # ratio only: the metric summed below it
    transform: Literal["identity", "exp", "bits"] = "identity"  # ratio only: applied to the quotient
    doc: str = ""

    @property
    def inputs(self) -> tuple[str, ...]:
        """The metrics whose per-sample values the aggregate is computed from."""
        if self.aggregation == "ratio":
            return (self.numerator, self.denominator)  # type: ignore[return-value]
        return (self.name,)

    def combine(self, *columns: np.ndarray, axis: int = -1) -> np.ndarray | float:
        """The aggregate of per-sample values (one array per input, samples along `axis`); vectorised
        so that a bootstrap can pass every resample at once."""
        if self.aggregation == "mean":
            return np.mean(columns[0], axis=axis)
        if self.aggregation == "sum":
            return np.sum(columns[0], axis=axis)
        num, den = columns
        with np.errstate(divide="ignore", invalid="ignore"):
            return _TRANSFORMS[self.transform](np.sum(num, axis=axis) / np.sum(den, axis=axis))

    def improved(self, delta: float) -> bool | None:
        """Whether a change of `delta` (new − reference) is an improvement; None without a direction."""
        if self.better is None or delta == 0 or math.isnan(delta):
            return None
        return (delta > 0) == (self.better == "higher")


def _score(name: str, doc: str) -> Metric:
    return Metric(name, "higher", "mean", doc=doc)


def _count(name: str, doc: str) -> Metric:
    return Metric(name, None, "sum", doc=doc)


def _ratio(name: str, numerator: str, denominator: str, transform: str, doc: str) -> Metric:
    return Metric(name, "lower", "ratio", numerator, denominator, transform, doc)  # type: ignore[arg-type]


_DECLARED = [
    # retrieval and generation scores: a fraction per sample, averaged
    _score("accuracy", "1 when the answer is right (passkey, InfiniteBench), greedy hit rate (periodic)"),
    _score("string_match_all", "RULER: fraction of the references found in the output"),
    _score("string_match_part", "RULER qa: 1 when any reference is found in the output"),
    _score("keyword_recall", "NIAH: fraction of the needle's keywords in the output"),
    _score("rouge1_recall", "NIAH: ROUGE-1 recall of the needle"),
    _score("judge_score", "NIAH: the judge's score"),
    # lm-eval's per-document metrics, as its tasks log them
    _score("acc", "lm-eval: accuracy"),
    _score("acc_norm", "lm-eval: length-normalised accuracy"),
    _score("exact_match", "lm-eval: exact match"),
    _score("loglikelihood", "lm-eval rolling tasks: log-likelihood of a document"),
    # counts the ratios below are computed from
    _count("nll", "summed negative log-likelihood of the scored tokens, in nats"),
    _count("tokens", "scored tokens"),
    _count("words", "words of the original text (lm-eval: re.split(r'\\s+') of the page before detokenizing)"),
    _count("bytes", "UTF-8 bytes of the original text"),
    # perplexities: token-weighted, recomputed from the sums
    _ratio("perplexity", "nll", "tokens", "exp", "exp(Σ nll ÷ Σ tokens)"),
    _ratio("word_perplexity", "nll", "words", "exp", "lm-eval: exp(Σ nll ÷ Σ words)"),
    _ratio("byte_perplexity", "nll", "bytes", "exp", "lm-eval: exp(Σ nll ÷ Σ bytes)"),
    _ratio("bits_per_byte", "nll", "bytes", "bits", "lm-eval: Σ nll ÷ (Σ bytes · ln 2)"),
    _ratio("nll_per_token", "nll", "tokens", "identity", "mean NLL per token, nats (Σ nll ÷ Σ tokens)"),
    # InfiniteBench's real-data tasks (src/compute_scores.py), 0-1 per sample like its `accuracy` tasks
    # (En.MC, En.Dia, Code.Debug, Code.Run); the paper prints the mean as a percentage
    _score("rougeLsum", "InfiniteBench En.Sum: ROUGE-Lsum F1 (rouge_score, no stemmer; best reference)"),
    _score("qa_f1", "InfiniteBench En.QA: token F1 of the normalised answer, best reference"),
    _score("qa_f1_zh_char", "InfiniteBench Zh.QA: F1 over characters of the normalised answer, best reference"),
    _score("prefix_accuracy", "InfiniteBench Math.Calc: share of the intermediate values right from the start"),
]

METRICS: dict[str, Metric] = {m.name: m for m in _DECLARED}


def metric(name: str) -> Metric:
    """The declaration of `name`; an undeclared metric is higher-is-better and averaged."""
    return METRICS.get(name) or Metric(name, "higher", "mean", doc="undeclared: taken as higher is better, mean")


__all__ = ["METRICS", "At", "Metric", "metric"]
