"""The synthetic tasks' scorers agree with InfiniteBench's src/compute_scores.py on tricky outputs.

Expectations are worked out by hand from the original: passkey/number_string take the first
non-empty piece of `re.split("[^0-9]", pred)` (ASCII digits only); kv_retrieval replaces
\\n : " ' . , ? ! { } by spaces and looks the label up among the whitespace-split words; math_find
takes the first `\\d+\\.\\d+|\\d+` (Unicode digits, no sign) and compares it as int or float.
"""

import pytest

from toroidal_bench.tasks.base import Generate, Sample
from toroidal_bench.tasks.catalog import get_task
from toroidal_bench.tasks.infinitebench import kv_words, math_find_correct
from toroidal_bench.tasks.passkey import first_int_match


def sample(reference) -> Sample:
    return Sample(id="0", request=Generate((1,), 1), reference=reference, prompt="")


@pytest.mark.parametrize("pred, first", [
    ("12345", "12345"),
    (" 12345.", "12345"),
    ("", ""),
    (" \n\t ", ""),
    ("١٢٣٤٥", ""),                 # Arabic-Indic digits are not [0-9]: no number at all
    ("１２３４５", ""),             # nor are full-width digits
    ("٣ 12345", "12345"),          # a non-ASCII digit only separates
    ("1２345", "1"),
    ("12 345", "12"),
    ("123456", "123456"),          # the maximal run, not a prefix
    ("-12345", "12345"),
    ("0x12345", "0"),
    ("1.2345", "1"),
    ("12345 and 67890", "12345"),
    ("The pass key is\n\n12345", "12345"),
])
def test_first_int_match_splits_on_everything_but_ascii_digits(pred, first):
    assert first_int_match(pred) == first


@pytest.mark.parametrize("task", ["passkey", "number_string"])
def test_first_int_tasks_score_one_only_for_the_exact_key(task):
    fam = get_task(task).build()
    key = "12345" if task == "passkey" else "1123345567"
    right = [key, f" {key}. Remember it.", f"\n{key}\n", f"٣{key}", f"x{key}y 999"]
    wrong = ["", "   ", "１２３４５", f"0{key}", f"{key}0", f"{key[:2]} {key[2:]}", f"999 {key}"]
    assert [fam.score(sample(key), p)["accuracy"] for p in right] == [1.0] * len(right)
    assert [fam.score(sample(key), p)["accuracy"] for p in wrong] == [0.0] * len(wrong)


LABEL = "4f1c2b9e-8d3a-4c6e-9b7f-2a1d5e8c0f3b"


@pytest.mark.parametrize("pred, hit", [
    (LABEL, True),
    (f'The value is "{LABEL}".', True),
    (f"{{'{LABEL}'}}", True),
    (f"key:{LABEL}!", True),
    (f"{LABEL}\t and more", True),
    (f"({LABEL})", False),          # brackets are not separators
    (f"{LABEL};", False),
    (f"{LABEL}x", False),
    (LABEL[:-1], False),
    (LABEL.upper(), False),
    ("", False),
    (" \n ", False),
])
def test_kv_retrieval_looks_the_label_up_among_the_words(pred, hit):
    assert (LABEL in kv_words(pred)) is hit
    assert get_task("kv_retrieval").build().score(sample(LABEL), pred)["accuracy"] == float(hit)


@pytest.mark.parametrize("pred, label, hit", [
    ("42", 42, True),
    ("The answer is 42.", 42, True),
    ("042", 42, True),
    ("-42", 42, True),              # no sign handling
    ("٤٢", 42, True),               # \d matches Unicode digits and int() reads them
    ("4.2", 42, False),             # the original raises on int("4.2"); counted wrong
    ("42.0", 42, False),            # likewise
    ("", 42, False),
    ("  ", 42, False),
    ("41 42", 42, False),           # only the first number counts
    ("42.5", 42.5, True),
    ("42.50", 42.5, True),
    ("42", 42.0, True),
    ("85/2", 42.5, False),
])
def test_math_find_compares_the_first_number(pred, label, hit):
    assert math_find_correct(pred, label) is hit
    assert get_task("math_find").build().score(sample(label), pred)["accuracy"] == float(hit)


# The real-data tasks' scorers (compute_scores' get_score_one_<task>), on the quirks a
# re-implementation is likely to miss; tests/test_infinitebench_metric_parity.py holds the
# original's answers on 1,200 generated cases per task.
from toroidal_bench.tasks.infinitebench import scoring  # noqa: E402

CHOICE = ["Walking Georgie", "A"]


@pytest.mark.parametrize("pred, hit", [
    ("A", True), (" A.", True), ("Walking Georgie", True),
    ("B. Walking Georgie", False),          # a first letter A-D decides, whatever follows
    ("The answer is A", True), ("answer: Walking Georgie", True),
    ("the answer is:A", False),             # one character after the prefix is skipped: "" follows
    ("I pick AB here", False),              # the first word inside "ABCD" decides: "AB", not the label
    ("x AB A", False), ("x A B", True),
    ("(A)", False), ("", False), ("   ", False), ("a", False),
])
def test_choice_follows_the_original_rules_in_order(pred, hit):
    assert scoring.choice_correct(pred, CHOICE) is hit


@pytest.mark.parametrize("pred, hit", [
    ("B.", True), ("B: repack", True), ("B", False),           # only "B." or "B:" open it
    ("The correct option is: B", True), ("answer is: repack_carchive()", True),
    ("The answer is: Option B", True),                          # "Option" is replaced by a space first
    ("It is: C. But B", False), ("answer is:", False), ("", False),
])
def test_code_debug_follows_the_original_rules(pred, hit):
    assert scoring.code_debug_correct(pred, ["repack_carchive", "B"]) is hit


@pytest.mark.parametrize("pred, label, value", [
    ("[1, 4, 8]", [1, 4, 8], 1.0), ("[1, 4, 9]", [1, 4, 8], 2 / 3), ("[-1, 4, 8]", [1, 4, 8], 1.0),
    ("1 4", [[1, 4, 8]], 2 / 3), ("", [1, 4, 8], 0.0), ("01, 4", [1, 4], 1.0),
    ("7" * 5000, [7], 0.0),                   # past int()'s digit limit the original raises; no match here
    ("0" * 5000 + "7", [7], 1.0),
])
def test_math_calc_counts_the_matching_prefix(pred, label, value):
    assert scoring.math_calc_prefix(pred, label) == pytest.approx(value)


@pytest.mark.parametrize("pred, hit", [
    ("-3", True), ("The value is -3.", True), ("-3 is it", False), ("`-3`", True), ("-3,", False), ("", False),
])
def test_code_run_reads_the_last_word(pred, hit):
    assert scoring.code_run_correct(pred, [-3]) is hit


def test_dialogue_uppercases_the_words_and_checks_the_first_name_only():
    assert scoring.dialogue_correct("It is probably remo.", ["REMO", "REMO GAGGI"])
    assert not scoring.dialogue_correct("Remo Gaggi", ["REMO GAGGI", "REMO"])
    assert scoring.dialogue_correct("O'Neil", ["O", "O'NEIL"])


def test_f1_scorers_normalise_as_the_original():
    assert scoring.qa_f1("The Blue teapot!", ["in a blue teapot"]) == pytest.approx(2 * (2 / 2) * (2 / 3) / (1 + 2 / 3))
    assert scoring.qa_f1("", ["x"]) == 0.0 and scoring.qa_f1("the", ["a"]) == 0.0
    assert scoring.qa_f1_zh_char("茶楼，第三张。", ["在茶楼的第三张桌子"]) == pytest.approx(2 * 1 * (5 / 9) / (1 + 5 / 9))


def test_rouge_lsum_is_rouge_score_without_stemming_over_lines():
    assert scoring.rouge_lsum("the cat sat\nOn the mat", ["The cat sat on the mat."]) == pytest.approx(1.0)
    assert scoring.rouge_lsum("cats", "cat") == 0.0                     # no stemmer
    assert scoring.rouge_lsum("猫坐在垫子上", ["猫坐在垫子上"]) == 0.0     # non-ASCII tokens are dropped
    best = scoring.rouge_lsum("a b c", ["x y", "a b c"])
    assert best == pytest.approx(1.0)
