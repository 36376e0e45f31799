"""The InfiniteBench tasks default to the original's sample counts and needle positions, and build
their contexts as data/construct_synthetic_dataset.py does: whole noise lines (the needle last at
depth 1.0), never past the requested length."""

import pytest

from tests.tasks_tokenizers import byte_level, trained_bpe
from toroidal_bench.errors import UsageError
from toroidal_bench.suites import load_suite
from toroidal_bench.tasks.catalog import get_task
from toroidal_bench.tasks.passkey import spread_position

NOISE = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again.\n"


def test_defaults_are_the_original_counts_and_positions():
    params = {t: get_task(t).params for t in ("passkey", "number_string", "kv_retrieval", "math_find")}
    assert [params[t]["num_samples"] for t in params] == [590, 590, 500, 350]
    assert params["passkey"]["positions"] == params["number_string"]["positions"] == 59
    assert params["kv_retrieval"]["positions"] == 500


def test_the_suite_runs_every_sample_at_128k():
    suite = load_suite("infinitebench")
    assert suite.tasks == ("passkey", "number_string", "kv_retrieval", "math_find", "longbook_sum_eng",
                           "longbook_qa_eng", "longbook_choice_eng", "longdialogue_qa_eng", "longbook_qa_chn",
                           "code_debug", "code_run", "math_calc")
    assert suite.lengths == (131072,) and suite.limit is None
    for task in suite.tasks[4:]:  # every record of the original files, none left out by a sample count
        assert "num_samples" not in get_task(task).params


@pytest.mark.parametrize("positions", [5, 59, 500])
def test_each_round_of_samples_visits_every_position_once(positions):
    order = [spread_position(k, positions) for k in range(2 * positions)]
    assert sorted(order[:positions]) == list(range(positions)) == sorted(order[positions:])
    first = order[:5]
    assert max(first) - min(first) > positions // 2  # a small limit still spans shallow to deep


@pytest.mark.parametrize("task", ["passkey", "number_string"])
def test_all_59_depths_and_whole_lines(task):
    fam = get_task(task).build()
    samples = list(fam.samples(trained_bpe("gpt2"), 1024, seed=0, limit=59))
    assert sorted(s.depth for s in samples) == [k / 58 for k in range(59)]
    before, after = fam.params["template"].split("{context}")
    after = after.replace("{input}", fam.params["question"])
    for s in samples:
        context = s.prompt.removeprefix("<s>").removeprefix(before).removesuffix(after)
        needle = fam.params["needle"].replace("{key}", s.reference)
        head, _, tail = context.partition(needle)
        assert head == NOISE * (len(head) // len(NOISE)) and tail == NOISE * (len(tail) // len(NOISE))
        assert s.meta["noise_lines"] == (len(head) + len(tail)) // len(NOISE)
        assert abs(len(head) // len(NOISE) - s.depth * s.meta["noise_lines"]) <= 0.5
        if s.depth == 1.0:
            assert context.endswith(needle) and s.prompt.endswith(needle + after)


@pytest.mark.parametrize("tok", [byte_level, lambda: trained_bpe("gpt2")])
@pytest.mark.parametrize("length", [512, 1000, 4096])
def test_the_prompt_is_as_many_lines_as_fit(tok, length):
    tok = tok()
    fam = get_task("passkey").build()
    for s in fam.samples(tok, length, seed=3, limit=4):
        room = length - fam.params["max_new_tokens"]
        assert s.prompt_tokens <= room
        one_more = s.prompt.removeprefix("<s>").replace(NOISE, NOISE * 2, 1)
        assert len(tok(one_more)["input_ids"]) > room  # another whole line would not fit


def test_kv_retrieval_asks_at_fraction_k_over_500():
    fam = get_task("kv_retrieval").build()
    samples = list(fam.samples(byte_level(), 2048, seed=0, limit=3))
    assert [s.depth for s in samples] == [spread_position(k, 500) / 500 for k in range(3)]
    for s in samples:
        assert s.meta["answer_index"] == int(s.depth * 500) * s.meta["pairs"] // 500
        assert s.prompt.count('": "') == s.meta["pairs"]


def test_math_find_cycles_the_seven_questions():
    fam = get_task("math_find").build()
    questions = [s.meta["question"] for s in fam.samples(byte_level(), 512, seed=0, limit=14)]
    assert questions[:7] == questions[7:] and len(set(questions)) == 7


@pytest.mark.parametrize("task", ["passkey", "number_string", "kv_retrieval", "math_find", "niah"])
def test_too_short_is_a_usage_error_at_the_call(task):
    fam = get_task(task).build()
    with pytest.raises(UsageError, match="too short"):
        fam.samples(byte_level(), 64, seed=0, limit=1)  # before any sample is asked for


def test_a_missing_haystack_is_a_usage_error_at_the_call(tmp_path):
    td = get_task("niah")
    fam = type(td.build())(**td.params, haystack_dir=str(tmp_path / "absent"))
    with pytest.raises(UsageError, match="not a directory"):
        fam.samples(byte_level(), 4096, seed=0, limit=1)


@pytest.mark.parametrize("task", ["passkey", "number_string", "kv_retrieval"])
def test_an_explicit_depths_list_replaces_the_positions(task):
    td = get_task(task)
    fam = type(td.build())(**{**td.params, "depths": [0.0, 0.5, 1.0]})
    assert sorted(s.depth for s in fam.samples(byte_level(), 2048, seed=0, limit=3)) == [0.0, 0.5, 1.0]
