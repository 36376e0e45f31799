"""Scorers against hand-worked cases from the originals' definitions."""

import math

import numpy as np
import pytest

from toroidal_bench.models.runner import TokenScores
from toroidal_bench.tasks.base import Generate, Rolling, Sample
from toroidal_bench.tasks.infinitebench import first_int_match, kv_words, math_find_answer, math_find_correct
from toroidal_bench.tasks.niah import NeedleInAHaystack, linear_depths, rouge1_recall, sigmoid_depths
from toroidal_bench.tasks.periodic import Periodic
from toroidal_bench.tasks.ruler.base import RulerTask
from toroidal_bench.tasks.ruler.qa import RulerQA
from toroidal_bench.tasks.ruler.scoring import postprocess, string_match_all, string_match_part


def gen_sample(reference, **meta):
    return Sample(id="x", request=Generate((1, 2), 4), reference=reference, prompt="", meta=meta)


def test_ruler_postprocess_turns_control_chars_into_newlines_then_strips():
    assert postprocess("  \x00abc\tdef\x1f ") == "abc\ndef"
    assert postprocess("a\x7fb") == "a\x7fb"  # DEL is not in [\x00-\x1f]


def test_string_match_all_is_fraction_of_references_case_insensitive():
    assert string_match_all("The numbers are 123 and 456.", ["123", "456", "789", "ABC"]) == 50.0
    assert string_match_all("abc", ["ABC"]) == 100.0
    assert string_match_all("", ["1"]) == 0.0


def test_string_match_part_is_any_reference_not_a_fraction():
    # lm-eval's variant would give 100/3 here (fraction found); RULER's original gives 100
    assert string_match_part("Paris, France", ["Paris", "Lyon", "Nice"]) == 100.0
    assert string_match_part("Berlin", ["Paris", "Lyon"]) == 0.0


def test_ruler_family_mean_equals_ruler_score():
    # RULER: preds ["1 2", "3"], refs [["1","2"],["3","4"]] -> (1 + 0.5)/2 * 100 = 75.0
    fam = RulerTask()
    fam.kind = "niah"
    scores = [fam.score(gen_sample(r), p)["string_match_all"] for p, r in [("1 2", ["1", "2"]), ("3", ["3", "4"])]]
    assert sum(scores) / len(scores) == 75.0
    qa = RulerQA(dataset="squad")
    assert qa.score(gen_sample(["x", "Yes"]), " yes, it is\n") == {"string_match_part": 100.0}


@pytest.mark.parametrize("pred, value", [("12345", "12345"), ("The key is 0123.", "0123"), ("a1b22", "1"),
                                         ("no digits", ""), ("٣٤ 56", "56")])
def test_infinitebench_first_int_match(pred, value):
    assert first_int_match(pred) == value  # ASCII digits only, like re.split("[^0-9]")


def test_kv_words_split_on_the_original_separators():
    assert kv_words('{"value": "a-b"}.\nDone!') == ["value", "a-b", "Done"]
    assert "a-b" in kv_words('The value is "a-b".')


@pytest.mark.parametrize("pred, label, ok", [("42", 42, True), ("The answer is 42.", 42, True), ("4.0", 4, False),
                                             ("49.5 maybe", 49.5, True), ("50", 50.0, True), ("-3", 3, True),
                                             ("none", 1, False), ("7 or 8", 8, False)])
def test_math_find_correct(pred, label, ok):
    assert math_find_correct(pred, label) is ok


def test_math_find_answers_by_the_originals_rules():
    values = [5, 9, 9, 1, 7, 1, 3]
    assert math_find_answer(values, "largest number") == 9
    assert math_find_answer(values, "second largest number") == 7  # every copy of 9 removed first
    assert math_find_answer(values, "third largest number") == 5
    assert math_find_answer(values, "smallest number") == 1
    assert math_find_answer(values, "second smallest number") == 3
    assert math_find_answer(values, "median") == 5
    assert math_find_answer([1, 2, 4, 9], "median") == 3.0 and isinstance(math_find_answer([1, 2, 4, 9], "median"), float)


def test_niah_grids_match_the_original_formulas():
    assert linear_depths(0, 100, 5) == [0, 25, 50, 75, 100]
    assert linear_depths(0, 100, 4) == [0, 33, 67, 100]
    # logistic: x=25 -> 100 / (1 + e^(0.1*(25-50))) = 92.414
    assert sigmoid_depths(0, 100, 5) == [0, 92.414, 50.0, 7.586, 100]


def test_niah_scores_keywords_and_rouge1_recall():
    fam = NeedleInAHaystack(keywords=[["sandwich", "Dolores Park"]], retrieval_question="q")
    needle = "\nThe best thing to do in San Francisco is eat a sandwich and sit in Dolores Park on a sunny day.\n"
    s = gen_sample([needle])
    out = fam.score(s, "Eat a SANDWICH.")
    assert out["keyword_recall"] == 0.5
    # the needle has 21 word tokens ("a" twice); the response matches "eat", one "a", "sandwich"
    assert out["rouge1_recall"] == pytest.approx(3 / 21)
    assert rouge1_recall(needle, needle) == 1.0


def test_niah_judge_hook_adds_a_metric():
    fam = NeedleInAHaystack(keywords=["x"], retrieval_question="q", judge="tests.test_tasks_scoring:fake_judge")
    assert fam.metrics == ("keyword_recall", "rouge1_recall", "judge_score")
    assert fam.score(gen_sample(["ref"]), "resp")["judge_score"] == 7.0


def fake_judge(question, response, reference):
    return 7 if (question, response, reference) == ("q", "resp", "ref") else 1


def test_periodic_scores_only_the_periodic_part():
    fam = Periodic(period=2)
    s = Sample(id="x", request=Rolling((1, 2, 1, 2, 1, 2)), reference=None, prompt="", meta={"period": 2})
    lp = np.log(np.array([0.1, 0.1, 0.5, 0.5, 1.0, 0.25], dtype=np.float32))
    greedy = np.array([False, False, True, False, True, True])
    out = fam.score(s, TokenScores(lp, greedy))
    assert out["accuracy"] == 0.75
    assert out["perplexity"] == pytest.approx(math.exp(-np.log([0.5, 0.5, 1.0, 0.25]).mean()), rel=1e-5)
