"""The per-sample scores of SCROLLS' and ZeroSCROLLS' metric scripts, on their 0–100 scale.

SCROLLS (the `tau/scrolls` hub metric `metrics/scrolls.py` with its `rouge.py`, `f1.py`,
`exact_match.py`):
 - ROUGE: Google's `rouge_score` with rouge1/rouge2/rougeL, no stemmer, F-measure × 100, for each
   type the maximum over the references on its own; the task figure is the geometric mean of the
   three types' means over samples (an aggregation declared in toroidal_bench/metrics.py). The
   script first puts each sentence on its own line (`nltk.sent_tokenize`) for rougeLsum; rouge1/2/L
   tokenize on `[^a-z0-9]+`, so line breaks at sentence ends cannot change them, and rougeLsum is in
   neither the score nor the displayed figures, so it is not reported (see docs/scrolls.md).
 - F1 and exact match: SQuAD v1.1's normalisation (lowercase, drop `string.punctuation`, drop the
   articles a/an/the, collapse whitespace) and token F1; the maximum over references, × 100.
ZeroSCROLLS (its official metric functions): the same F1 with the normalised text transliterated to
ASCII by `unidecode`; accuracy of the first standalone option letter A–D; exponential similarity of
the first percentage; concordance index of a permutation of the summary ids.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence
from functools import cache

from ...optional import need

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")
_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """SQuAD v1.1's normalize_answer: lower → no punctuation → no articles → single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def normalize_ascii(text: str) -> str:
    """ZeroSCROLLS' normalize_answer_f1: the SQuAD normalisation, then `unidecode` to ASCII."""
    return need("unidecode", "ZeroSCROLLS' F1").unidecode(normalize_answer(text))


def token_f1(prediction: str, reference: str, normalize: Callable[[str], str] = normalize_answer) -> float:
    pred, ref = normalize(prediction).split(), normalize(reference).split()
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(pred), same / len(ref)
    return 2 * precision * recall / (precision + recall)


def best(score: Callable[[str, str], float], prediction: str, references: Sequence[str]) -> float:
    """The maximum of `score` over the references (metric_max_over_ground_truths)."""
    return max(score(prediction, ref) for ref in references)


def f1(prediction: str, references: Sequence[str]) -> float:
    return 100.0 * best(token_f1, prediction, references)


def f1_ascii(prediction: str, references: Sequence[str]) -> float:
    return 100.0 * best(lambda p, r: token_f1(p, r, normalize_ascii), prediction, references)


def exact_match(prediction: str, references: Sequence[str]) -> float:
    return 100.0 * best(lambda p, r: float(normalize_answer(p) == normalize_answer(r)), prediction, references)


@cache
def _scorer():
    rouge_scorer = need("rouge_score.rouge_scorer", "SCROLLS' ROUGE (Google's rouge_score)")
    return rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=False)


def rouge(prediction: str, references: Sequence[str]) -> dict[str, float]:
    """ROUGE-1/2/L F-measure × 100, each type's maximum over the references on its own."""
    scores = [_scorer().score(ref, prediction) for ref in references]
    return {t: max(100.0 * s[t].fmeasure for s in scores) for t in ROUGE_TYPES}


def geometric_mean(values: Sequence[float]) -> float:
    product = 1.0
    for v in values:
        product *= v
    return product ** (1.0 / len(values))


# -- ZeroSCROLLS' own metrics ---------------------------------------------------------------------
_LETTER = re.compile(r"\b[A-D]\b")
_PERCENTAGE = re.compile(r"\d+\.?\d*%")


def option_letter(text: str) -> str | None:
    """The first option letter A–D standing alone (find_answer)."""
    m = _LETTER.search(text)
    return m.group() if m else None


def accuracy(prediction: str, references: Sequence[str]) -> float:
    """1 × 100 when the prediction's first option letter is the reference's."""
    return 100.0 * best(lambda p, r: float(option_letter(p) == option_letter(r)), prediction, references)


def percentage(text: str) -> float | None:
    m = _PERCENTAGE.search(text)
    return float(m.group().replace("%", "")) if m else None


def exp_similarity(prediction: str, references: Sequence[str]) -> float:
    """0.5 ** (|gold − predicted| / 10) × 100 for the first percentages; no percentage → 0; a reference
    without one counts as 0 %."""
    def one(pred: str, ref: str) -> float:
        p = percentage(pred)
        return 0.0 if p is None else 0.5 ** (abs((percentage(ref) or 0.0) - p) / 10)

    return 100.0 * best(one, prediction, references)


def summary_ids(text: str) -> list[int]:
    """normalize_answer_ci: keep digits, commas and whitespace; the integers, or none if one is not."""
    kept = re.sub(r"[^0-9\s,]", "", text).replace(",", " ").strip(string.punctuation).split()
    try:
        return [int("".join(ch for ch in x if ch not in _PUNCTUATION).strip()) for x in kept]
    except ValueError:
        return []


def concordance(gold: list[int], pred: list[int]) -> float:
    """Fraction of id pairs in the same order in both (lifelines' concordance_index of the positions:
    every pair is comparable and a permutation has no ties, so it is concordant pairs ÷ pairs)."""
    where_gold = {v: i for i, v in enumerate(gold)}
    where_pred = {v: i for i, v in enumerate(pred)}
    ids = sorted(where_gold)
    pairs = concordant = 0
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            pairs += 1
            concordant += (where_gold[a] < where_gold[b]) == (where_pred[a] < where_pred[b])
    if pairs == 0:
        raise ZeroDivisionError("No admissable pairs in the dataset.")  # lifelines' own refusal
    return concordant / pairs


def concordance_index(prediction: str, references: Sequence[str]) -> float:
    """× 100; 0 unless the prediction's ids are a permutation of the reference's."""
    def one(pred: str, ref: str) -> float:
        p, g = summary_ids(pred), summary_ids(ref)
        return concordance(g, p) if sorted(p) == sorted(g) else 0.0

    return 100.0 * best(one, prediction, references)
