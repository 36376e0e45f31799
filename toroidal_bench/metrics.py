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
  geometric  the geometric mean of other metrics' means over the same samples (SCROLLS' ROUGE
         score: (mean R-1 · mean R-2 · mean R-L)^(1/3), not a mean of per-sample geometric means).
         Its rows, like a ratio's, hold the sample's own value; the aggregate is recomputed.

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
    aggregation: Literal["mean", "sum", "ratio", "geometric"] = "mean"
    numerator: str | None = None  # ratio only: the metric summed above the line
    denominator: str | None = None  # ratio only: the metric summed below it
    transform: Literal["identity", "exp", "bits"] = "identity"  # ratio only: applied to the quotient
    doc: str = ""
    parts: tuple[str, ...] = ()  # geometric only: the metrics whose means are multiplied

    @property
    def inputs(self) -> tuple[str, ...]:
        """The metrics whose per-sample values the aggregate is computed from."""
        if self.aggregation == "ratio":
            return (self.numerator, self.denominator)  # type: ignore[return-value]
        if self.aggregation == "geometric":
            return self.parts
        return (self.name,)

    @property
    def derived(self) -> bool:
        """Whether the aggregate is recomputed from other metrics' rows instead of this one's."""
        return self.inputs != (self.name,)

    def combine(self, *columns: np.ndarray, axis: int = -1) -> np.ndarray | float:
        """The aggregate of per-sample values (one array per input, samples along `axis`); vectorised
        so that a bootstrap can pass every resample at once."""
        if self.aggregation == "mean":
            return np.mean(columns[0], axis=axis)
        if self.aggregation == "sum":
            return np.sum(columns[0], axis=axis)
        if self.aggregation == "geometric":
            means = np.stack([np.mean(c, axis=axis) for c in columns])
            return np.prod(means, axis=0) ** (1.0 / len(columns))
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


def _lower(name: str, doc: str) -> Metric:
    return Metric(name, "lower", "mean", doc=doc)


def _measure(name: str, doc: str) -> Metric:
    """A descriptive figure, averaged, with no better direction (gated by value, never by a drop)."""
    return Metric(name, None, "mean", doc=doc)


def _count(name: str, doc: str) -> Metric:
    return Metric(name, None, "sum", doc=doc)


def _ratio(name: str, numerator: str, denominator: str, transform: str, doc: str) -> Metric:
    return Metric(name, "lower", "ratio", numerator, denominator, transform, doc)  # type: ignore[arg-type]


def _geometric(name: str, parts: tuple[str, ...], doc: str) -> Metric:
    return Metric(name, "higher", "geometric", doc=doc, parts=parts)


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
    # LongBench v1 and LongBench-E (THUDM/LongBench eval.py): 100 × the sample's best score over its
    # answers, so the mean is LongBench's number; LongBench-E also files each sample under its length bucket
    _score("qa_f1_score", "LongBench: token F1 of the normalised answer, 0-100"),
    _score("qa_f1_zh_score", "LongBench: token F1 over jieba words, 0-100"),
    _score("rouge_score", "LongBench: ROUGE-L F of the `rouge` package, 0-100"),
    _score("rouge_zh_score", "LongBench: ROUGE-L F over jieba words, 0-100"),
    _score("classification_score", "LongBench: 1/k when the class is among the k named, 0-100"),
    _score("retrieval_score", "LongBench: share of the numbers named that are the paragraph, 0-100"),
    _score("retrieval_zh_score", "LongBench: share of the numbers named that are the 段落, 0-100"),
    _score("count_score", "LongBench: share of the numbers named that are the count, 0-100"),
    _score("code_sim_score", "LongBench: fuzzy similarity of the first code line, 0-100"),
    *[_score(f"{metric}_{bucket}", f"LongBench-E: {metric} of the samples whose length field is {bucket}")
      for metric in ("qa_f1_score", "rouge_score", "classification_score", "retrieval_score", "count_score",
                     "code_sim_score")
      for bucket in ("0-4k", "4-8k", "8k+")],
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
    # SCROLLS and ZeroSCROLLS (tasks/scrolls): per sample, the maximum over the references, 0–100;
    # `exact_match` (SCROLLS) and `accuracy` (ZeroSCROLLS QuALITY) use the declarations above
    _score("rouge/rouge1", "SCROLLS: ROUGE-1 F × 100 (rouge_score, no stemmer), max over references"),
    _score("rouge/rouge2", "SCROLLS: ROUGE-2 F × 100 (rouge_score, no stemmer), max over references"),
    _score("rouge/rougeL", "SCROLLS: ROUGE-L F × 100 (rouge_score, no stemmer), max over references"),
    _geometric("rouge/geometric_mean", ("rouge/rouge1", "rouge/rouge2", "rouge/rougeL"),
               "SCROLLS: (mean R-1 · mean R-2 · mean R-L)^(1/3); a row holds the sample's own"),
    _score("f1", "SCROLLS/ZeroSCROLLS: SQuAD token F1 × 100 (ZeroSCROLLS: + unidecode), max over references"),
    _score("exp_similarity", "ZeroSCROLLS SpaceDigest: 0.5^(|gold − predicted %| / 10) × 100"),
    _score("concordance_index", "ZeroSCROLLS BookSumSort: ordered pairs ÷ pairs × 100 (0 unless a permutation)"),
    # LongBench v2 (result.py's table): 100 or 0 per question under `accuracy` and under the question's
    # own difficulty and length class, so each mean is one column of the original's table
    _score("accuracy_easy", "LongBench v2: accuracy on the easy questions, 0-100"),
    _score("accuracy_hard", "LongBench v2: accuracy on the hard questions, 0-100"),
    _score("accuracy_short", "LongBench v2: accuracy on the short-context questions, 0-100"),
    _score("accuracy_medium", "LongBench v2: accuracy on the medium-context questions, 0-100"),
    _score("accuracy_long", "LongBench v2: accuracy on the long-context questions, 0-100"),
    # InfiniteBench's real-data tasks (src/compute_scores.py), 0-1 per sample like its `accuracy` tasks
    # (En.MC, En.Dia, Code.Debug, Code.Run); the paper prints the mean as a percentage
    _score("rougeLsum", "InfiniteBench En.Sum: ROUGE-Lsum F1 (rouge_score, no stemmer; best reference)"),
    _score("qa_f1", "InfiniteBench En.QA: token F1 of the normalised answer, best reference"),
    _score("qa_f1_zh_char", "InfiniteBench Zh.QA: F1 over characters of the normalised answer, best reference"),
    _score("prefix_accuracy", "InfiniteBench Math.Calc: share of the intermediate values right from the start"),
    # diagnostics (tasks/diagnostics.py): the encoding's geometry and the model's attention; figures to
    # compare and gate, where a direction is meaningful
    _score("min_distance", "collision: smallest distance between two positions' encodings within the context"),
    _lower("near_collisions", "collision: position pairs whose encodings lie within eps of each other"),
    _measure("spectral_entropy", "spectral: normalised entropy of the angles' power over frequencies"),
    _measure("spectral_octaves", "spectral: octaves between the longest and shortest wavelength"),
    _measure("attention_entropy", "attention: mean entropy of the attention weights (nats), every layer and head"),
    _measure("attention_distance", "attention: mean token distance of the attention weights"),
    _measure("attractor_slot_mass", "attention: mean weight on the attractor slot"),
    # cost (tasks/profile.py), one value per timed repeat
    _score("prefill_tokens_per_s", "profile: prompt tokens per second of a prefill"),
    _score("decode_tokens_per_s", "profile: tokens per second of greedy decoding after the prefill"),
    _lower("state_bytes", "profile: KV cache and attractor bytes carried after the prefill"),
    _lower("peak_bytes", "profile: the device allocator's peak over the prefill (CUDA)"),
]

METRICS: dict[str, Metric] = {m.name: m for m in _DECLARED}


def metric(name: str) -> Metric:
    """The declaration of `name`; an undeclared metric is higher-is-better and averaged."""
    return METRICS.get(name) or Metric(name, "higher", "mean", doc="undeclared: taken as higher is better, mean")


__all__ = ["METRICS", "At", "Metric", "metric"]
