"""RULER tasks refuse bad input at the `samples(...)` call, in one line with the real numbers, and
never hand out a silently short prompt (qa repeats documents once its data file runs out)."""

import re
from collections import Counter

import pytest

from tests.tasks_tokenizers import byte_level, trained_bpe
from toroidal_bench.errors import UsageError
from toroidal_bench.tasks.catalog import get_task
from toroidal_bench.tasks.ruler.qa import load


def family(task: str, **extra):
    td = get_task(task)
    fam = type(td.build())(**{**td.params, **extra})
    fam.name = td.family
    return fam


@pytest.mark.parametrize("sizing", ["ruler", "fill"])
@pytest.mark.parametrize("task", ["qa_1", "qa_2"])
def test_qa_repeats_the_documents_once_the_file_runs_out(task, sizing):
    length = 4096
    dataset = get_task(task).params["dataset"]
    _, docs = load(dataset, "tests/fixtures/ruler")
    tok = trained_bpe("gpt2")
    for s in family(task, data_dir="tests/fixtures/ruler", sizing=sizing).samples(tok, length, 0, 3):
        start = s.prompt.index("given documents.\n\n") + len("given documents.\n\n")
        context = s.prompt[start: s.prompt.index("\n\nAnswer the question based", start)]
        shown = re.split(r"(?:^|\n\n)Document \d+:\n", context)[1:]
        assert len(shown) > 3 * len(docs) and set(shown) == set(docs)  # every document, repeated
        assert min(Counter(shown).values()) >= 3
        longest = max(len(tok(f"\n\nDocument {len(shown)}:\n" + d)["input_ids"]) for d in docs)
        short = length - s.request.max_new_tokens - s.prompt_tokens
        bound = longest if sizing == "fill" else 10 * longest  # RULER: steps of 10 documents
        assert 0 <= short <= bound, short


def test_cwe_refusal_names_the_real_need():
    # byte-level: the 40-word example plus 10 common words x 30 take far more than 4096 bytes
    with pytest.raises(UsageError) as err:
        family("cwe").samples(byte_level(), 4096, 0, 1)
    need = int(re.search(r"take (\d+) tokens", str(err.value)).group(1))
    assert 4096 < need < 9000  # ~2.8k for the example and template, ~3.6k for the 300 common-word entries


@pytest.mark.parametrize("task, extra, words", [
    ("niah_single_1", {}, "too short"),
    ("vt", {}, "too short"),
    ("cwe", {}, "too short"),
    ("fwe", {}, "too short"),
    ("qa_1", {"data_dir": "tests/fixtures/ruler"}, "too short"),
    ("qa_1", {"data_dir": "/nonexistent/ruler-data"}, "dev-v2.0.json"),
    ("qa_2", {}, "hotpot_dev_distractor_v1.json"),
    ("niah_single_2", {"haystack_dir": "/nonexistent/essays"}, "is not a directory"),
])
def test_bad_input_raises_one_line_at_the_call_before_any_sample_is_consumed(task, extra, words):
    with pytest.raises(UsageError) as err:
        family(task, **extra).samples(byte_level(), 200, 0, 1)  # not iterated: the call itself raises
    assert words in str(err.value) and "\n" not in err.value.line()
    if words == "too short":
        need = int(re.search(r"take (\d+) tokens", str(err.value)).group(1))
        assert need > 200
