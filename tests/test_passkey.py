import pytest

from toroidal_bench.errors import UsageError
from toroidal_bench.models.byte_tokenizer import byte_tokenizer
from toroidal_bench.tasks.catalog import get_task
from toroidal_bench.tasks.passkey import first_int_match


@pytest.fixture(scope="module")
def family():
    return get_task("passkey").build()


@pytest.mark.parametrize("length", [256, 300, 512, 2048, 8192])
def test_prompts_fill_the_length_with_whole_lines(family, length):
    tok = byte_tokenizer()
    room = length - family.params["max_new_tokens"]
    for s in family.samples(tok, length, seed=0, limit=3):
        assert room - len(family.params["noise"]) < s.prompt_tokens <= room  # bytes: a line is its length
        assert s.request.prompt_ids[0] == tok.bos_token_id


def test_needle_sits_at_the_requested_depth(family):
    tok = byte_tokenizer()
    samples = list(family.samples(tok, 4096, seed=1, limit=5))
    for s in samples:
        pos = s.prompt.index(f"The pass key is {s.reference}.") / len(s.prompt)
        assert abs(pos - s.depth) < 0.1
    assert len({s.depth for s in samples}) == 5 and max(s.depth for s in samples) > 0.8
    assert samples[0].depth == 0.0 and samples[0].prompt.endswith("What is the pass key?\n\nThe pass key is")


def test_same_seed_same_prompts_other_seed_other_keys(family):
    tok = byte_tokenizer()
    a = [(s.prompt, s.reference) for s in family.samples(tok, 512, seed=0, limit=4)]
    b = [(s.prompt, s.reference) for s in family.samples(tok, 512, seed=0, limit=4)]
    c = [s.reference for s in family.samples(tok, 512, seed=1, limit=4)]
    assert a == b
    assert c != [r for _, r in a]


def test_scoring_takes_the_first_ascii_digit_run(family):
    tok = byte_tokenizer()
    s = next(iter(family.samples(tok, 512, seed=0, limit=1)))
    assert family.score(s, f" {s.reference}. Remember")["accuracy"] == 1.0
    assert family.score(s, f" 0{s.reference}")["accuracy"] == 0.0
    assert family.score(s, "no digits")["accuracy"] == 0.0
    assert first_int_match("key: 123 and 456") == "123"


def test_too_short_a_length_is_a_usage_error(family):
    with pytest.raises(UsageError, match="too short"):
        family.samples(byte_tokenizer(), 64, seed=0, limit=1)


def test_template_is_infinitebench_yarn_mistral(family):
    s = next(iter(family.samples(byte_tokenizer(), 512, seed=0, limit=1)))
    assert s.prompt.startswith("<s>There is an important info hidden inside a lot of irrelevant text. Find it and "
                               "memorize it. I will quiz you about the important information.\n\nThe pass key is")
