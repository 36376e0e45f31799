"""The scorers of InfiniteBench's src/compute_scores.py for its real-data tasks, one value per output.

Each function re-implements the original's get_score_one_<task> for one prediction and the label
the original stores as `ground_truth` (eval_utils.get_answer: [option text, letter] for En.MC and
Code.Debug, the record's `answer` otherwise). The original returns booleans for the matching tasks
and fractions for the others; compute_scores averages them and the paper prints the mean as a
percentage, so every value here is in [0, 1].

 - En.Sum: ROUGE-Lsum F1 of HF `evaluate`'s "rouge" metric with its defaults, which is Google's
   `rouge_score` RougeScorer without stemming; a list of references is scored by `score_multi`
   (the reference with the highest F1).
 - En.QA: SQuAD-style normalisation, token F1, max over the references.
 - Zh.QA: lowercase, drop ASCII and CJK punctuation and all whitespace, then F1 over characters.
 - En.MC, Code.Debug, En.Dia, Code.Run, Math.Calc: the original's string rules, step by step below.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from ...optional import need

_PUNCTUATION = frozenset(string.punctuation)
# compute_scores.normalize_zh_answer's set (data, verbatim), added to string.punctuation
_CN_PUNCTUATION = "！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏."
_ZH_PUNCTUATION = _PUNCTUATION | frozenset(_CN_PUNCTUATION)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(text: str) -> str:
    """Lowercase, drop string.punctuation, turn whole-word a/an/the into spaces, collapse whitespace."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def normalize_zh_answer(text: str) -> str:
    """Lowercase, drop ASCII and CJK punctuation, remove every whitespace character."""
    return "".join("".join(ch for ch in text.lower() if ch not in _ZH_PUNCTUATION).split())


def token_f1(predicted: Sequence[str], gold: Sequence[str]) -> float:
    """F1 of the multiset overlap of two token lists (0 when they share nothing)."""
    same = sum((Counter(predicted) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def qa_f1(pred: str, references: Sequence[str]) -> float:
    """En.QA: the best token F1 of the normalised prediction against any normalised reference."""
    words = normalize_answer(pred).split()
    return max((token_f1(words, normalize_answer(ref).split()) for ref in references), default=0.0)


def qa_f1_zh_char(pred: str, references: Sequence[str]) -> float:
    """Zh.QA: the best F1 over characters ("one character one token") of the normalised texts."""
    chars = list(normalize_zh_answer(pred))
    return max((token_f1(chars, list(normalize_zh_answer(ref))) for ref in references), default=0.0)


@lru_cache(maxsize=1)
def _rouge_lsum_scorer() -> Any:
    need("rouge_score", "InfiniteBench En.Sum's ROUGE-Lsum")
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeLsum"], use_stemmer=False)


def rouge_lsum(pred: str, references: str | Sequence[str]) -> float:
    """En.Sum: ROUGE-Lsum F1 as `evaluate.load("rouge").compute(predictions=[pred], references=[label])`
    gives it: sentences are the non-empty lines, tokens lowercase ASCII letters and digits."""
    scorer = _rouge_lsum_scorer()
    if isinstance(references, str):
        return float(scorer.score(references, pred)["rougeLsum"].fmeasure)
    return float(scorer.score_multi(list(references), pred)["rougeLsum"].fmeasure)


def _spaced(text: str, separators: Sequence[str]) -> str:
    for sep in separators:
        text = text.replace(sep, " ")
    return text


def _single_spaced(text: str) -> str:
    """Runs of ASCII spaces collapsed to one (other whitespace stays)."""
    while "  " in text:
        text = text.replace("  ", " ")
    return text


_CHOICE_SEPARATORS = ("\n", '"', "'", ".", ",", "?", "!", "{", "}")
_CHOICE_PREFIXES = ("answer is:", "answer:", "answer is", "option is")


def choice_correct(pred: str, label: Sequence[str]) -> bool:
    """En.MC with label [option text, letter]. In order: a first character among A-D decides (it must
    be the letter); the whole output equal to the text or the letter; the first answer prefix found
    ("answer is:", "answer:", "answer is", "option is"), where what follows one character later must
    start with the text or the letter; else the first word that is a substring of "ABCD"."""
    pred = pred.strip()
    if pred == "":
        return False
    if pred[0] in "ABCD":
        return pred[0] in label
    if pred in label:
        return True
    pred = _single_spaced(_spaced(pred, _CHOICE_SEPARATORS))
    for prefix in _CHOICE_PREFIXES:
        at = pred.find(prefix)
        if at == -1:
            continue
        if len(pred) < at + len(prefix) + 1:  # the output ends with the prefix
            return False
        after = pred[at + len(prefix) + 1:]
        return any(after.startswith(s) for s in label)
    for word in pred.split():
        if word in "ABCD":  # a substring test, as in the original: "AB" or "BCD" count too
            return word in label
    return False


_DEBUG_SEPARATORS = ("\n", "`", "'", '"', "-", "*", "Option", "option")
_DEBUG_PREFIXES = ("answer is:", "is:", "answer:", "correct option is:")


def code_debug_correct(pred: str, label: Sequence[str]) -> bool:
    """Code.Debug with label [function name, letter]: the output opening with "X." or "X:" for the
    gold letter; else, after replacing newlines, quotes, "-", "*" and "Option"/"option" by spaces, the
    first answer prefix found ("answer is:", "is:", "answer:", "correct option is:") followed one
    character later by the letter or the function name."""
    pred = pred.strip()
    fn_name, letter = label[0], label[1]
    if pred[:2] in (f"{letter}.", f"{letter}:"):
        return True
    pred = _single_spaced(_spaced(pred, _DEBUG_SEPARATORS))
    for prefix in _DEBUG_PREFIXES:
        at = pred.find(prefix)
        if at == -1:
            continue
        if len(pred) < at + len(prefix) + 1:
            return False
        after = pred[at + len(prefix) + 1:]
        return after.startswith(letter) or after.startswith(fn_name)
    return False


_WORD_SEPARATORS = ("\n", ":", '"', "'", ".", ",", "?", "!", "{", "}")


def dialogue_correct(pred: str, label: Sequence[str]) -> bool:
    """En.Dia: the first reference name is one of the output's uppercased words (after replacing
    newlines, colons, quotes and . , ? ! { } by spaces)."""
    words = [w.upper() for w in _spaced(pred.strip(), _WORD_SEPARATORS).split()]
    return label[0] in words


_CODE_RUN_SEPARATORS = ("\n", ".", "`", "'", '"', ":")


def code_run_correct(pred: str, label: int | Sequence[int]) -> bool:
    """Code.Run: the output's last word (after replacing newlines, dots, backticks, quotes and colons
    by spaces) read as a Python int equals the label."""
    if isinstance(label, list):
        label = label[0]
    words = _spaced(pred.strip(), _CODE_RUN_SEPARATORS).split()
    if not words:
        return False
    try:
        return int(words[-1]) == label
    except ValueError:
        return False


def math_calc_prefix(pred: str, label: Sequence[Any]) -> float:
    """Math.Calc: the fraction of the expected values that the output's numbers (runs of ASCII digits,
    so minus signs are lost) reproduce from the start, up to the first mismatch."""
    values = label[0] if isinstance(label[0], list) else label
    runs = [run for run in re.split("[^0-9]", pred) if run]
    matched = 0
    for expected, run in zip(values, runs, strict=False):  # the shorter one ends it
        # int(run) == expected, without int() on runs past Python's 4300-digit limit
        if not (isinstance(expected, int) and str(expected) == (run.lstrip("0") or "0")):
            break
        matched += 1
    return matched / len(values)
