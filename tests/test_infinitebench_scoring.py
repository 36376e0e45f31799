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
