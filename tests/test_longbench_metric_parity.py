"""LongBench v1's metrics give the original's numbers: every case of the known-answer tables that
tests/parity/longbench_tables.py computed with the original LongBench/metrics.py, and the edge cases
below, worked by hand from the original's code."""

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from toroidal_bench.errors import UsageError
from toroidal_bench.tasks.longbench import metrics
from toroidal_bench.tasks.longbench.metrics import (
    METRICS,
    classification_score,
    code_sim_score,
    count_score,
    qa_f1_score,
    qa_f1_zh_score,
    retrieval_score,
    retrieval_zh_score,
    rouge_score,
    rouge_zh_score,
)

TABLES = Path(__file__).parent / "fixtures" / "parity" / "longbench"
# the libraries of the `benchmarks` extra each metric needs (a dev install has them; a bare one not)
NEEDS = {"qa_f1_zh_score": ("jieba",), "rouge_score": ("rouge",), "rouge_zh_score": ("jieba", "rouge")}


def _need(*modules: str) -> None:
    for module in modules:
        pytest.importorskip(module, reason="toroidal-bench[benchmarks] is not installed")


def _cases(name: str) -> list[dict]:
    with gzip.open(TABLES / f"{name}.jsonl.gz", "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.mark.parametrize("name", sorted(METRICS))
def test_every_case_of_the_original_table(name):
    _need(*NEEDS.get(name, ()))
    metric, cases = METRICS[name], _cases(name)
    assert len(cases) >= 1000
    wrong = []
    for case in cases:
        for answer, expected in zip(case["answers"], case["expected"], strict=True):
            got = metric(case["prediction"], answer, all_classes=case.get("all_classes"))
            if not (isinstance(got, float) and 0.0 <= got <= 1.0 and abs(got - expected) <= 1e-9):
                wrong.append((case["prediction"][:60], answer[:60], got, expected))
    assert not wrong, f"{len(wrong)} cases differ, e.g. {wrong[:3]}"


def test_the_tables_cover_what_they_claim():
    zh = _cases("qa_f1_zh_score")
    assert sum(any("\u4e00" <= ch <= "\u9fff" for ch in c["prediction"]) for c in zh) > 500
    assert any(c["prediction"] == "" for c in _cases("qa_f1_score"))
    assert any(len(c["answers"]) >= 3 for c in _cases("rouge_score"))
    expected = [e for c in _cases("rouge_score") for e in c["expected"]]
    assert 0.0 in expected and 1.0 > max(expected) > 0.99  # failures and (near-)perfect matches
    for name in ("rouge_score", "rouge_zh_score"):  # both sides of where the original's recursion fails
        sizes = [(max(len(c["prediction"].split()), len(c["answers"][0].split())), c["expected"][0])
                 for c in _cases(name)]  # fmt: skip
        assert {e > 0 for n, e in sizes if n in (988, 989)} == {True}
        assert {e for n, e in sizes if n in (991, 992)} == {0.0}
    assert len({e for c in _cases("code_sim_score") for e in c["expected"]}) > 50


def test_qa_f1_normalises_case_punctuation_and_articles():
    assert qa_f1_score("The Eiffel Tower!", "eiffel tower") == 1.0
    assert qa_f1_score("an apple, a pear", "apple pear pear") == pytest.approx(0.8)  # P 1, R 2/3
    assert qa_f1_score("", "anything") == 0.0
    assert qa_f1_score("the", "a") == 0.0  # both normalise to nothing: no common token


def test_qa_f1_zh_uses_jieba_words():
    _need("jieba")
    assert qa_f1_zh_score("北京天安门。", "北京 天安门") == 1.0
    assert qa_f1_zh_score("我在北京", "北京") == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))
    assert qa_f1_zh_score("，。", "北京") == 0.0


def test_rouge_is_the_rouge_package_and_failures_score_zero():
    _need("jieba", "rouge")
    assert rouge_score("the cat sat", "the cat sat") == pytest.approx(1.0, abs=1e-7)
    assert rouge_score("The cat", "the cat") == pytest.approx(0.5, abs=1e-7)  # case-sensitive
    for empty in ("", "...", "."):  # the package raises on text with no sentence: the original scores 0
        assert rouge_score(empty, "the cat") == 0.0 == rouge_score("the cat", empty)
    assert rouge_zh_score("今天天气很好", "今天天气很好") == pytest.approx(1.0, abs=1e-7)


def test_rouge_fails_where_the_original_ran_out_of_recursion_at_any_stack_depth():
    _need("rouge")
    # a '.'-free prediction of n words against one of them: the package recurses n + 1 times
    long = " ".join(f"w{k}" for k in range(991))

    def nested(depth, fn, *args):
        return fn(*args) if depth == 0 else nested(depth - 1, fn, *args)

    for depth in (0, 300, 800):
        assert nested(depth, rouge_score, long[: long.rindex(" ")], "w0") > 0  # 990 words: 991 calls
        assert nested(depth, rouge_score, long, "w0") == 0.0  # 992 calls: past the original's room
    limit = sys.getrecursionlimit()
    nested(800, rouge_score, long[: long.rindex(" ")], "w0")
    assert sys.getrecursionlimit() == limit


def test_classification_keeps_the_originals_skip_after_a_removal():
    # found in class order: Other, date, Other date. "Other" is part of the answer and goes; the
    # original's loop then skips "date" (also part of it), which stays and halves the score
    skipped = ["Other", "date", "Other date"]
    assert classification_score("Other date", "Other date", all_classes=skipped) == 0.5
    # in this order both parts are looked at and removed
    seen = ["Other", "Other date", "date"]
    assert classification_score("Other date", "Other date", all_classes=seen) == 1.0
    assert classification_score("Date", "date", all_classes=["Date", "date"]) == 0.0  # case matters


def test_numbers_are_compared_as_strings():
    assert retrieval_score("Paragraph 12", "Paragraph 12") == 1.0
    assert retrieval_score("Paragraph 1, Paragraph 12", "Paragraph 12") == 0.5
    assert retrieval_score("Paragraph 012", "Paragraph 12") == 0.0
    assert retrieval_zh_score("答案是：段落3", "段落3") == 1.0
    assert count_score("There are 7 of 7.", "7") == 1.0
    assert count_score("seven", "7") == 0.0
    with pytest.raises(ValueError, match="names no paragraph"):
        retrieval_score("Paragraph 1", "1")


def test_code_sim_takes_the_first_line_without_comment_marks():
    assert code_sim_score("\n```python\n# set x\nx = 1\ny = 2", "x = 1") == 1.0
    assert code_sim_score("\n\nx = 1", "x = 1") == 1.0  # leading newlines go
    assert code_sim_score("x = 1  # why", "x = 1") == 0.0  # every line has a mark: nothing is left
    assert code_sim_score("a\n\nx = 1", "") == 0.0
    assert code_sim_score("\n", "") == 1.0  # equal strings, even empty ones, are 100
    assert code_sim_score("abcd", "abce") == 0.75


def test_jieba_is_quiet_on_first_use(tmp_path):
    _need("jieba")
    code = (
        "from toroidal_bench.tasks.longbench.metrics import qa_f1_zh_score\n"
        "print(qa_f1_zh_score('我在北京', '北京'))\n"
    )
    env = {"TBENCH_HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    assert done.stderr == "" and float(done.stdout) == pytest.approx(0.5)
    assert (tmp_path / "jieba" / "jieba.cache").is_file()  # its cache goes to tbench's home


def test_a_missing_library_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "rouge", None)
    with pytest.raises(UsageError) as raised:
        rouge_score("a", "a")
    assert raised.value.line() == (
        "LongBench's rouge_score needs the 'rouge' package — pip install 'toroidal-bench[benchmarks]'"
    )
    assert metrics.METRICS["rouge_score"] is rouge_score
