"""LongBench v1's metrics, with the names and behaviour of LongBench/metrics.py (THUDM/LongBench @2e00731).

Each metric is `(prediction, ground_truth, **kwargs) -> float` in [0, 1]. LongBench's eval.py keeps a
sample's best score over its answers and reports 100 × the mean over samples; that, and its first-line
cut of few-shot predictions, belong to the caller. tests/fixtures/parity/longbench/ holds the
original's outputs on generated cases, and tests/test_longbench_metric_parity.py checks every one.
"""

from __future__ import annotations

import difflib
import logging
import re
import string
import sys
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from types import ModuleType

from ...optional import need
from ...resources import tbench_home

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_EN_PUNCTUATION = frozenset(string.punctuation)
# LongBench's own list, verbatim (it has "》" but not "《", and ends with an ASCII ".")
_ZH_PUNCTUATION = _EN_PUNCTUATION | frozenset(
    "！？｡。＂＃＄％＆＇（）＊＋，－／：；＜＝＞＠［＼］＾＿｀｛｜｝～｟｠｢｣､、〃》「」『』【】〔〕〖〗〘〙〚〛〜〝〞〟〰〾〿–—‘’‛“”„‟…‧﹏."
)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, drop ASCII punctuation, then the articles, collapse spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _EN_PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def normalize_zh_answer(text: str) -> str:
    """Lower case, drop ASCII and CJK punctuation and every whitespace character."""
    return "".join("".join(ch for ch in text.lower() if ch not in _ZH_PUNCTUATION).split())


def _token_f1(predicted: list[str], gold: list[str]) -> float:
    same = sum((Counter(predicted) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(gold)
    return 2 * precision * recall / (precision + recall)


def qa_f1_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """Token F1 of the normalised, whitespace-split answers."""
    return _token_f1(normalize_answer(prediction).split(), normalize_answer(ground_truth).split())


def qa_f1_zh_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """Token F1 over jieba words, each normalised; words left empty (punctuation, spaces) drop out."""

    def words(text: str) -> list[str]:
        return [w for w in map(normalize_zh_answer, _jieba().lcut(text, cut_all=False)) if w]

    return _token_f1(words(prediction), words(ground_truth))


def rouge_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """ROUGE-L F of the PyPI `rouge` package on the raw strings; 0 where the package fails."""
    return _rouge_l(prediction, ground_truth, _RECURSION_ROOM)


def rouge_zh_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """`rouge_score` of the texts cut into jieba words joined by spaces."""
    spaced = [" ".join(_jieba().lcut(text, cut_all=False)) for text in (prediction, ground_truth)]
    # the original reaches rouge_score through one more call, so it has one frame less of room
    return _rouge_l(*spaced, _RECURSION_ROOM - 1)


def classification_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """1/k when the true class is among the k class names found in the prediction, else 0.

    Names found that are part of the true class name (but not it) are dropped, as the original drops
    them: by removing from the list it is iterating over, so the name after each removed one is not
    looked at (and a repeated name is removed at its first place).
    """
    found = [name for name in kwargs["all_classes"] if name in prediction]
    i = 0
    while i < len(found):
        if found[i] in ground_truth and found[i] != ground_truth:
            found.remove(found[i])
        i += 1
    return 1.0 / len(found) if ground_truth in found else 0.0


def _share_equal(prediction: str, target: str) -> float:
    """The share of the numbers written in `prediction` that are exactly `target` (0 if none)."""
    numbers = re.findall(r"\d+", prediction)
    return sum(n == target for n in numbers) / len(numbers) if numbers else 0.0


def _paragraph_id(ground_truth: str, pattern: str) -> str:
    found = re.findall(pattern, ground_truth)
    if not found:
        raise ValueError(f"LongBench reference {ground_truth!r} names no paragraph ({pattern})")
    return found[0]


def retrieval_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """The share of numbers in the prediction equal to the id of the reference's "Paragraph N"."""
    return _share_equal(prediction, _paragraph_id(ground_truth, r"Paragraph (\d+)"))


def retrieval_zh_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """`retrieval_score` for references written "段落N"."""
    return _share_equal(prediction, _paragraph_id(ground_truth, r"段落(\d+)"))


def count_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """The share of numbers in the prediction equal to the reference count."""
    return _share_equal(prediction, str(ground_truth))


def code_sim_score(prediction: str, ground_truth: str, **kwargs) -> float:
    """fuzzywuzzy's `fuzz.ratio` / 100 between the first code line of the prediction and the reference.

    The first code line is the first line (after leading newlines) holding no "`", "#" or "//"; blank
    lines count. LongBench installs fuzzywuzzy without python-Levenshtein, so `fuzz.ratio` is difflib's
    SequenceMatcher ratio (junk heuristic on) as a rounded percentage, 100 for equal strings and 0 when
    one is empty; that is computed here with difflib directly.
    """
    lines = prediction.lstrip("\n").split("\n")
    line = next((ln for ln in lines if "`" not in ln and "#" not in ln and "//" not in ln), "")
    if line == ground_truth:
        return 1.0
    if not line or not ground_truth:
        return 0.0
    return round(100 * difflib.SequenceMatcher(None, line, ground_truth).ratio()) / 100


METRICS: dict[str, Callable[..., float]] = {
    fn.__name__: fn
    for fn in (
        qa_f1_score,
        qa_f1_zh_score,
        rouge_score,
        rouge_zh_score,
        classification_score,
        retrieval_score,
        retrieval_zh_score,
        count_score,
        code_sim_score,
    )
}


# --- the libraries ------------------------------------------------------------------------------------

_jieba_module: ModuleType | None = None


def _jieba() -> ModuleType:
    """jieba, quiet, keeping its dictionary cache in tbench's home rather than a shared temp dir."""
    global _jieba_module
    if _jieba_module is None:
        jieba = need("jieba", "LongBench's Chinese metrics")
        jieba.setLogLevel(logging.WARNING)  # it logs its dictionary loading to stderr at DEBUG
        if not jieba.dt.initialized and jieba.dt.tmp_dir is None:
            cache = tbench_home() / "jieba"
            try:
                cache.mkdir(parents=True, exist_ok=True)
                jieba.dt.tmp_dir = str(cache)
            except OSError:
                pass  # jieba then uses the temp dir, as it does by default
        _jieba_module = jieba
    return _jieba_module


# ROUGE-L in the `rouge` package rebuilds each longest common subsequence by recursion, one call per
# step back through the LCS table. On a long sentence pair ('.'-free text) that passes Python's default
# recursion limit of 1000; the original catches the RecursionError with everything else and scores 0.
# Where that happens must not depend on how deep our caller's stack is, so the depth is worked out from
# the table first, and the original's outcome is reproduced: 0 past the room it had, and otherwise
# enough room for the package. _RECURSION_ROOM is the deepest recursion that survives when eval.py
# (`python eval.py`) calls rouge_score, measured with the original under CPython 3.11.
_RECURSION_ROOM = 991


def _rouge_l(prediction: str, ground_truth: str, room: int) -> float:
    rouge = need("rouge", "LongBench's rouge_score")
    depth = _recursion_depth(rouge, _sentences(prediction), _sentences(ground_truth), room)
    if depth > room:
        return 0.0
    with _stack_room(depth + 50):
        try:
            scores = rouge.Rouge().get_scores([prediction], [ground_truth], avg=True)
        except Exception:  # the original scores every failure 0 (mostly: text empty or only dots)
            return 0.0
    return scores["rouge-l"]["f"]


def _sentences(text: str) -> list[list[str]]:
    """The words of each sentence as the `rouge` package splits them (on '.', then on single spaces)."""
    return [" ".join(part.split()).split(" ") for part in text.split(".") if part]


def _recursion_depth(rouge: ModuleType, hyp: list[list[str]], ref: list[list[str]], room: int) -> int:
    """How deep the package's LCS reconstruction recurses for these sentences, exactly where it matters.

    One pair of sentences with r and h words recurses between min(r, h) + 1 and r + h times; the exact
    path is walked through the package's own LCS table only when those bounds straddle `room`.
    """
    deepest = 0
    for r in ref:
        for h in hyp:
            if min(len(r), len(h)) + 1 > room:
                return min(len(r), len(h)) + 1
            if len(r) + len(h) <= room:
                deepest = max(deepest, len(r) + len(h))
                continue
            table = rouge.rouge_score._lcs(r, h)
            i, j, depth = len(r), len(h), 1
            while i and j:  # the steps the package's _recon takes, one call each
                if r[i - 1] == h[j - 1]:
                    i, j = i - 1, j - 1
                elif table[i - 1, j] > table[i, j - 1]:
                    i -= 1
                else:
                    j -= 1
                depth += 1
            deepest = max(deepest, depth)
            if deepest > room:
                return deepest
    return deepest


@contextmanager
def _stack_room(frames: int):
    """Let `frames` more nested calls run from here (raising the recursion limit for a moment)."""
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    limit = sys.getrecursionlimit()
    if depth + frames > limit:
        sys.setrecursionlimit(depth + frames)
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)
