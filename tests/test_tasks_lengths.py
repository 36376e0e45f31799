"""Every synthetic task builds prompts to the requested length in the model's own tokenizer.

The prompt (BOS included) plus the generation budget never exceeds the length, and falls short by at
most the documented margin (docs/tasks.md): 0 where the haystack can be cut anywhere, else under one
haystack unit. RULER tasks are held to these margins with `sizing: fill`; their default, RULER's own
search, leaves budget unused by design (tests/test_ruler_sizing.py). Lengths a template cannot fit
raise UsageError. No model is needed: tokenizers only.
"""

import re
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.tasks_tokenizers import byte_level, trained_bpe
from toroidal_bench.errors import UsageError
from toroidal_bench.tasks.base import Generate
from toroidal_bench.tasks.catalog import get_task

EXACT = ["niah", "niah_multi", "periodic_tokens", "periodic_sinusoid"]
ESSAY = ["niah_single_2", "niah_single_3", "niah_multikey_1", "niah_multivalue", "niah_multiquery"]
SMALL = {"math_find": 4, "fwe": 48}  # a list entry; a step of the Zipf counts
UNIT = ["niah_single_1", "niah_multikey_2", "niah_multikey_3", "vt", "cwe", "passkey", "number_string", "kv_retrieval"]
TOKENIZERS = {"bytes": byte_level, "bpe-gpt2": lambda: trained_bpe("gpt2"),
              "bpe-sentencepiece": lambda: trained_bpe("sentencepiece")}


def margin_bound(task: str) -> int:
    if task in EXACT:
        return 0
    if task in ESSAY:
        return 24  # a word of the last sentence + needle separators
    return SMALL.get(task, 128)  # one noise line / distractor needle / JSON pair / word's entries


def build(task: str, **extra):
    td = get_task(task)
    return type(td.build())(**{**td.params, **extra})


def filled(task: str, **extra):
    """The task with RULER tasks set to `sizing: fill` (the largest haystack that fits)."""
    ruler = get_task(task).family.startswith("ruler.")
    return build(task, **({"sizing": "fill"} if ruler else {}), **extra)


@pytest.mark.parametrize("tok_name", list(TOKENIZERS))
@pytest.mark.parametrize("task", EXACT + ESSAY + list(SMALL) + UNIT)
def test_prompt_fills_the_length_within_the_margin_never_above(task, tok_name):
    tok = TOKENIZERS[tok_name]()
    fam = filled(task)
    fam.name = get_task(task).family
    built = 0
    for length in (256, 1024, 4096, 32768):
        try:
            samples = list(fam.samples(tok, length, seed=0, limit=2))
        except UsageError:
            assert length <= 4096, f"{task} cannot fit {length} tokens"
            continue
        built += 1
        for s in samples:
            new = s.request.max_new_tokens if isinstance(s.request, Generate) else 0
            short = length - new - s.prompt_tokens
            assert 0 <= short <= margin_bound(task), (task, tok_name, length, short)
    assert built >= 1


@pytest.mark.parametrize("task", ["qa_1", "qa_2"])
def test_qa_never_exceeds_the_length(task, tmp_path):
    fam = build(task, data_dir="tests/fixtures/ruler")
    for length in (1024, 2048):
        for s in fam.samples(byte_level(), length, 0, 2):
            assert s.prompt_tokens + s.request.max_new_tokens <= length


@pytest.mark.parametrize("task", ["niah_single_2", "niah_multikey_3", "vt", "cwe", "fwe", "kv_retrieval", "niah"])
def test_a_32k_prompt_is_generated_in_well_under_a_second(task):
    tok = trained_bpe("gpt2")
    fam = filled(task)  # RULER's search costs more once per cell: docs/tasks.md
    list(fam.samples(tok, 4096, 0, 1))  # warm: haystack text read, word lists loaded
    start = time.perf_counter()
    list(fam.samples(tok, 32768, 0, 1))
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("task", EXACT + ESSAY + list(SMALL) + UNIT)
def test_same_seed_same_bytes_other_seed_other_prompt(task):
    tok = byte_level()
    length = 8192
    a = list(build(task).samples(tok, length, 3, 2))
    b = list(build(task).samples(tok, length, 3, 2))
    assert [(s.request, s.prompt, s.reference) for s in a] == [(s.request, s.prompt, s.reference) for s in b]
    c = list(build(task).samples(tok, length, 4, 2))
    if task in ("niah", "niah_multi"):  # the original has no randomness: a fixed haystack and grid
        assert [s.prompt for s in a] == [s.prompt for s in c]
    else:
        assert [s.prompt for s in a] != [s.prompt for s in c]


DIGEST = """
import hashlib, sys
from tests.tasks_tokenizers import trained_bpe
from toroidal_bench.tasks.catalog import get_task
tok = trained_bpe("gpt2")
for task in sys.argv[1:]:
    td = get_task(task)
    for s in type(td.build())(**td.params).samples(tok, 4096, 7, 2):
        print(task, hashlib.sha256(repr((s.request, s.prompt, s.reference)).encode()).hexdigest())
"""


def test_prompts_do_not_depend_on_what_was_generated_before_or_on_the_process():
    import subprocess
    import sys

    tasks = ["niah", "niah_single_2", "niah_multikey_2", "cwe", "kv_retrieval"]
    root = Path(__file__).resolve().parents[1]
    fresh = subprocess.run([sys.executable, "-c", DIGEST, *tasks], capture_output=True, text=True, check=True,
                           cwd=root).stdout
    tok = trained_bpe("gpt2")
    for task in tasks:  # warm the shared haystack caches with a longer, different request first
        td = get_task(task)
        list(type(td.build())(**td.params).samples(tok, 32768, 1, 1))
    import hashlib
    here = []
    for task in tasks:
        td = get_task(task)
        for s in type(td.build())(**td.params).samples(tok, 4096, 7, 2):
            here.append(f"{task} {hashlib.sha256(repr((s.request, s.prompt, s.reference)).encode()).hexdigest()}")
    assert fresh.split("\n")[:-1] == here


@settings(max_examples=40, deadline=None)
@given(length=st.integers(2048, 12000), seed=st.integers(0, 2**31),
       task=st.sampled_from(["niah_single_1", "niah_single_3", "niah_multikey_2", "vt", "cwe", "fwe", "niah",
                             "number_string", "kv_retrieval", "math_find", "periodic_sinusoid"]),
       tok_name=st.sampled_from(["bytes", "bpe-gpt2"]))
def test_any_length_and_seed_stays_within_the_margin(length, seed, task, tok_name):
    fam = filled(task)
    try:
        samples = list(fam.samples(TOKENIZERS[tok_name](), length, seed, 1))
    except UsageError as err:  # cwe's 30x/3x lists need about 7k bytes on a byte-level tokenizer
        assert (task, tok_name) == ("cwe", "bytes") and length < 7500
        need = int(re.search(r"take (\d+) tokens", str(err)).group(1))
        assert need > length  # the message names the real need
        return
    for s in samples:
        new = s.request.max_new_tokens if isinstance(s.request, Generate) else 0
        assert 0 <= length - new - s.prompt_tokens <= margin_bound(task)
