"""RULER tasks size their haystacks with RULER's own search, so a sample holds what RULER's would.

Known answers: haystack units per sample from NVIDIA/RULER @c3f5e3b `scripts/data/prepare.py`, run
out of tree with `--tokenizer_type hf --random_seed 42 --num_samples 25` (qa_1: 3, qa_2: 2, all the
fixture files hold) and the tokenizer of `trained_bpe("gpt2")` saved with `save_pretrained`; its essay
JSON held the default Shakespeare haystack text, its json/squad.json and json/hotpotqa.json were
tests/fixtures/ruler. Units were counted from each prompt's text by `units()` below, the same count
this test applies to tbench's prompts. docs/tasks.md has the whole table and how it was made.
"""

import re

import pytest

from tests.tasks_tokenizers import byte_level, trained_bpe
from toroidal_bench.errors import UsageError
from toroidal_bench.tasks.catalog import get_task
from toroidal_bench.tasks.ruler.constants import NOISE

# (task, length) -> the unit counts RULER's samples held
RULER = {
    ("niah_single_1", 4096): {112}, ("niah_single_2", 4096): {1483, 1983}, ("niah_multikey_2", 4096): {95, 120},
    ("niah_multikey_3", 4096): {49}, ("vt", 4096): {98}, ("cwe", 4096): {27, 37}, ("fwe", 4096): {769},
    ("qa_1", 4096): {89}, ("qa_2", 4096): {73},
    ("niah_single_1", 16384): {473}, ("niah_single_2", 16384): {8137, 8637}, ("vt", 16384): {459},
    ("cwe", 16384): {607, 617}, ("fwe", 16384): {3168}, ("qa_1", 16384): {365},
}
ESSAY = {"niah_single_2", "niah_single_3", "niah_multikey_1", "niah_multivalue", "niah_multiquery"}
NEEDLE = re.compile(r"One of the special magic \w+ for .+? is: [\w-]+\.")  # word keys may hold spaces


def units(task: str, text: str) -> int:
    """Haystack units of a prompt, read from its text: noise lines, distractor needles, essay words,
    vt noise lines after the example, cwe distinct words, fwe words, qa documents."""
    if task == "niah_single_1":
        return text.count(NOISE)
    if task in ("niah_multikey_2", "niah_multikey_3"):
        return sum(line.startswith("One of the special magic") for line in text.split("\n")) - 1
    if task in ESSAY:
        context = text[text.index("afterwards.\n") + len("afterwards.\n"): text.rindex("\nWhat ")]
        return len(context.split()) - sum(len(n.split()) for n in NEEDLE.findall(context))
    if task == "vt":
        return text[text.rindex("Memorize and track"):].count(NOISE)
    if task == "cwe":
        body = text[text.rindex("most often.\n") + len("most often.\n"): text.rindex("\nQuestion:")]
        return len(set(re.findall(r"\d+\. (\S+)", body)))
    if task == "fwe":
        return len(text[text.index("coded words. ") + len("coded words. "): text.rindex("\nQuestion:")].split())
    return len(re.findall(r"Document \d+:\n", text))


def step(task: str, length: int) -> int:
    """RULER's increment for the task at this length."""
    if task in ESSAY:
        return 500
    if task.startswith("niah"):
        return 25 if length >= 4096 else 5
    if task == "fwe":
        return (length - 50) // 32
    return 10


def family(task: str, **extra):
    td = get_task(task)
    data = {"data_dir": "tests/fixtures/ruler"} if task.startswith("qa") else {}
    fam = type(td.build())(**{**td.params, **data, **extra})
    fam.name = td.family
    return fam


@pytest.mark.parametrize("task, length", list(RULER))
def test_a_sample_holds_what_rulers_prepare_py_puts_in_it_within_one_step(task, length):
    for s in family(task).samples(trained_bpe("gpt2"), length, 42, 2):
        got = units(task, s.prompt)
        assert min(abs(got - r) for r in RULER[task, length]) <= step(task, length), (got, RULER[task, length])
        assert s.prompt_tokens + s.request.max_new_tokens <= length
        assert s.meta["sizing"] == "ruler"


@pytest.mark.parametrize("task", ["niah_single_1", "niah_single_3", "niah_multikey_2", "vt", "cwe", "fwe", "qa_2"])
def test_ruler_sizing_steps_down_from_one_count_and_never_exceeds(task):
    """Every sample of a cell holds RULER's count less whole increments; fill never holds less."""
    length = 8192
    ruler = list(family(task).samples(trained_bpe("gpt2"), length, 3, 6))
    fill = list(family(task, sizing="fill").samples(trained_bpe("gpt2"), length, 3, 6))
    counts = [s.meta["haystack_units"] for s in ruler]
    assert all((max(counts) - c) % step(task, length) == 0 for c in counts), counts
    assert all(s.prompt_tokens + s.request.max_new_tokens <= length for s in ruler + fill)
    assert max(counts) - step(task, length) <= max(s.meta["haystack_units"] for s in fill)
    assert {s.meta["sizing"] for s in fill} == {"fill"}


def test_below_rulers_smallest_haystack_the_sample_is_filled_and_says_so():
    # 500 essay words do not fit 768 bytes: RULER's own script would retry forever
    (s,) = family("niah_single_2").samples(byte_level(), 768, 0, 1)
    assert s.meta["sizing"] == "fill" and s.prompt_tokens + s.request.max_new_tokens <= 768


def test_an_unknown_sizing_is_refused_at_the_call():
    with pytest.raises(UsageError, match="unknown RULER sizing 'ful'"):
        family("vt", sizing="ful").samples(byte_level(), 4096, 0, 1)
