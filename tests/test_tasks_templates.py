"""Prompts against the originals' templates and generators, read back as text (byte tokenizer:
the decoded prompt is exactly the text the original would build)."""

import json
import re
from collections import Counter

import pytest

from tests.tasks_tokenizers import byte_level
from toroidal_bench.tasks.catalog import get_task
from toroidal_bench.tasks.haystack import load_source, split_sentences, strip_gutenberg
from toroidal_bench.tasks.infinitebench import math_find_answer
from toroidal_bench.tasks.ruler.constants import NOISE

NIAH_SINGULAR = ("<s>A special magic number is hidden within the following text. Make sure to memorize it. "
                 "I will quiz you about the number afterwards.\n")
NIAH_PLURAL = ("<s>Some special magic numbers are hidden within the following text. Make sure to memorize it. "
               "I will quiz you about the numbers afterwards.\n")


def samples(task, length=4096, seed=0, limit=2, **extra):
    td = get_task(task)
    fam = type(td.build())(**{**td.params, **extra})
    fam.name = td.family
    return list(fam.samples(byte_level(), length, seed, limit))


def test_ruler_niah_single_noise_prompt_is_the_singular_template_with_noise_lines():
    for s in samples("niah_single_1"):
        (value,) = s.reference
        assert s.prompt.startswith(NIAH_SINGULAR)
        m = re.search(r"\nWhat is the special magic number for (\S+) mentioned in the provided text\? "
                      r"The special magic number for \1 mentioned in the provided text is$", s.prompt)
        assert m, s.prompt[-200:]
        lines = s.prompt[len(NIAH_SINGULAR): m.start()].split("\n")
        needle = f"One of the special magic numbers for {m.group(1)} is: {value}."  # plural inside the needle
        assert lines.count(needle) == 1 and all(x in (NOISE, needle) for x in lines)
        assert re.fullmatch(r"[a-z]+(-[a-z]+)*-[a-z ]+", m.group(1).replace("'", "")) and len(value) == 7
        assert s.prompt.endswith(s.meta["answer_prefix"])
        assert s.meta["answer_prefix"] == f" The special magic number for {m.group(1)} mentioned in the provided text is"


def test_ruler_multivalue_keeps_the_plural_template_and_asks_for_four_values():
    s = samples("niah_multivalue")[0]
    assert s.prompt.startswith(NIAH_PLURAL)
    assert re.search(r"\nWhat are all the special magic numbers for (\S+) mentioned in the provided text\? "
                     r"The special magic numbers for \1 mentioned in the provided text are$", s.prompt)
    assert len(s.reference) == 4 and all(f" is: {v}." in s.prompt for v in s.reference)


def test_ruler_multiquery_joins_keys_like_the_original_and_answers_follow_the_queries():
    s = samples("niah_multiquery")[0]
    q = re.search(r"What are all the special magic numbers for (.+) mentioned in the provided text\?", s.prompt).group(1)
    keys = re.fullmatch(r"(\S+), (\S+), (\S+), and (\S+)", q).groups()
    for key, value in zip(keys, s.reference, strict=True):
        assert f"One of the special magic numbers for {key} is: {value}." in s.prompt


def test_ruler_essay_haystack_is_the_normalised_text_with_needles_between_sentences():
    text = " ".join(load_source({}).text.split())
    for task, sizing in (("niah_single_2", "ruler"), ("niah_multikey_1", "ruler"), ("niah_single_2", "fill")):
        for s in samples(task, length=8192, sizing=sizing):
            context = s.prompt[len(NIAH_SINGULAR): s.prompt.rindex("\nWhat is")]
            needles = re.findall(r"One of the special magic numbers for \S+ is: \d{7}\.", context)
            assert len(needles) == (4 if task == "niah_multikey_1" else 1)
            for n in needles:
                before = context[: context.index(" " + n)]
                # a sentence end; at depth 100 the needle follows the cut last sentence (RULER: first N words)
                after = context[context.index(" " + n) + len(n) + 1:]
                at_end = not re.sub(r"One of the special magic numbers for \S+ is: \d{7}\.", "", after).strip()
                assert before == "" or at_end or before[-1] in ".!?\"')]", before[-30:]
                context = context.replace(" " + n, "")
            assert text.startswith(" ".join(context.split()))
            assert len(context.split()) == s.meta["haystack_units"]  # RULER's unit: words
            if sizing == "fill":
                assert len(context) > 0.9 * 8192 - 1000


def test_ruler_vt_has_the_in_context_example_then_the_task():
    s = samples("vt")[0]
    icl_end = "they are:  "
    assert s.prompt.startswith("<s>Memorize and track the chain(s) of variable assignment hidden in the following text.\n\n")
    first, second = s.prompt.split("\nMemorize and track the chain(s)", 1)
    names = first[first.index(icl_end) + len(icl_end):].split()
    assert len(names) == 5 and all(re.fullmatch(r"[A-Z]{3}", n) for n in names)
    value = re.search(r"VAR " + names[0] + r" = (\d{5})\n", first).group(1)
    for a, b in zip(names, names[1:], strict=False):
        assert f"\nVAR {b} = VAR {a} \n" in first
    assert f"assigned the value {value}, they are:" in first
    main = s.reference
    value = re.search(r"\nVAR " + main[0] + r" = (\d{5})\n", second).group(1)
    assert second.endswith(f"Question: Find all variables that are assigned the value {value} in the text above. Answer: "
                           f"According to the chain(s) of variable assignment in the text above, 5 variables are "
                           f"assigned the value {value}, they are: ")
    positions = [second.index(f"\nVAR {main[0]} = {value}\n")] + [second.index(f"\nVAR {b} = VAR {a} \n")
                                                                 for a, b in zip(main, main[1:], strict=False)]
    assert positions == sorted(positions)  # the chain keeps its order


@pytest.mark.parametrize("length, common, rare", [(8192, 30, 3), (2048, 6, 1)])
def test_ruler_cwe_repeats_common_words_as_configured(length, common, rare):
    from tests.tasks_tokenizers import trained_bpe
    td = get_task("cwe")
    s = next(iter(type(td.build())(**td.params).samples(trained_bpe("gpt2"), length, 0, 1)))
    q = "\nQuestion: What are the 10 most common words in the above list? Answer: The top 10 words that appear most often in the list are:"
    assert s.prompt.endswith(q) and s.prompt.count(q) == 2  # the few-shot example and the task
    listing = s.prompt[s.prompt.rindex("most often.\n") + len("most often.\n"): -len(q)]
    entries = re.findall(r"(\d+)\. (.+?)(?= \d+\. |$)", listing)
    assert [int(i) for i, _ in entries] == list(range(1, len(entries) + 1))
    counts = Counter(w for _, w in entries)
    assert {counts[w] for w in s.reference} == {common}
    assert set(counts.values()) == {common, rare} and len(s.reference) == 10


def test_ruler_fwe_answer_is_ranks_two_to_four():
    s = samples("fwe", length=8192)[0]
    body = s.prompt[s.prompt.index("coded words. ") + len("coded words. "): s.prompt.index("\nQuestion:")]
    ranked = [w for w, _ in Counter(body.split(" ")).most_common()]
    assert ranked[0] == "..." and ranked[1:4] == s.reference


def test_ruler_qa_renders_documents_and_reads_the_original_schema():
    s = samples("qa_1", length=1024, data_dir="tests/fixtures/ruler")[1]
    assert s.reference == ["Rollo"]
    assert s.prompt.startswith("<s>Answer the question based on the given documents. Only give me the answer and do not "
                               "output any other words.\n\nThe following are given documents.\n\nDocument 1:\n")
    assert s.prompt.endswith("\n\nQuestion: Who was the first ruler of Normandy? Answer:")
    assert "Document 2:\n" in s.prompt and "Rollo was the first ruler of Normandy." in s.prompt
    # impossible SQuAD questions are skipped: question 1 is "Who was the first ruler", not "Who gave ..."
    h = samples("qa_2", length=2048, data_dir="tests/fixtures/ruler")[0]
    assert h.reference == ["yes"] and "\nScott Derrickson\nScott Derrickson is an American director. He lives" in h.prompt


def test_infinitebench_number_string_follows_construct_synthetic_dataset():
    for s in samples("number_string", limit=5):
        key = s.reference
        assert re.fullmatch(r"\d{10}", key)
        assert s.prompt.startswith("<s>There is an important info hidden inside a lot of irrelevant text. Find it. "
                                   "I will quiz you about the important information there.\n\n")
        assert s.prompt.endswith("\n\nWhat is the sequence of digits?\n\nThe sequence of digits is")
        assert s.prompt.count(f"The sequence of digits is {key}. Remember it. {key} is the sequence of digits.\n") == 1
        assert any(key[i] == key[i + 1] for i in range(9))  # digits were duplicated in place


def test_infinitebench_kv_is_valid_json_and_the_key_maps_to_the_answer():
    for s in samples("kv_retrieval", limit=3):
        body = s.prompt[s.prompt.index("JSON data:\n") + len("JSON data:\n"): s.prompt.index("\n\n\nKey: ")]
        data = json.loads(body)
        key = re.search(r'\nKey: "([0-9a-f-]{36})"\nThe value associated with the specified key is: $', s.prompt).group(1)
        assert data[key] == s.reference and len(data) == s.meta["pairs"]


def test_infinitebench_math_find_answer_matches_the_printed_list():
    for s in samples("math_find", limit=7):
        first, rest = s.prompt[3:].split("\n\n", 1)
        task = s.meta["question"]
        assert first == f"What is the {task.replace(' number', '')} number in the following list?".replace("the median", "the median")
        values = json.loads(rest[: rest.index("]") + 1])
        assert s.reference == math_find_answer(values, task) and all(0 <= v <= 99 for v in values)


def test_niah_needle_sits_after_a_period_and_the_rest_is_the_haystack():
    text = load_source({}).text
    for s in samples("niah", length=4096, limit=None)[::7]:
        needle = s.reference[0]
        ctx = s.prompt[s.prompt.index("<context>\n") + 10: s.prompt.index("\n</context>")]
        at = ctx.index(needle)
        assert at == 0 or ctx[at - 1] == "." or s.meta["depth_percent"] == 100
        assert text.startswith(ctx[:at] + ctx[at + len(needle):])
        assert abs(s.meta["placed_depths"][0] - s.depth) < 0.2


def test_niah_multi_needles_keep_their_order_and_spacing():
    s = samples("niah_multi", length=8192, limit=None)[3]
    spots = [s.prompt.index(n) for n in s.reference]
    assert spots == sorted(spots)


def test_gutenberg_markers_and_sentence_splitter():
    raw = "Header\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\nBody text.\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\nLicense"
    assert strip_gutenberg(raw) == "Body text."
    assert split_sentences('Mr. Smith went to Washington. He said "Hi!" Then he left. J. R. R. Tolkien wrote. 3 cats.') == \
        ["Mr. Smith went to Washington.", 'He said "Hi!"', "Then he left.", "J. R. R. Tolkien wrote.", "3 cats."]


@pytest.mark.parametrize("depth", [0, 100])
def test_ruler_essay_needle_at_the_edges_matches_rulers_join(depth, monkeypatch):
    from toroidal_bench.tasks.ruler import niah as ruler_niah

    monkeypatch.setattr(ruler_niah, "DEPTHS", [depth])
    s = samples("niah_single_2", length=2048, limit=1)[0]
    context = s.prompt[len(NIAH_SINGULAR): s.prompt.rindex("\nWhat is")]
    (needle,) = re.findall(r"One of the special magic numbers for \S+ is: \d{7}\.", context)
    haystack = context.replace(" " + needle + " ", "", 1)
    # RULER: " ".join(["", needle, text]) at depth 0, " ".join([text, needle, ""]) at depth 100
    expected = " ".join(["", needle, haystack]) if depth == 0 else " ".join([haystack, needle, ""])
    assert context == expected and "  " not in haystack


def test_ruler_needles_at_one_position_are_joined_like_ruler(monkeypatch):
    from toroidal_bench.tasks.ruler import niah as ruler_niah

    monkeypatch.setattr(ruler_niah, "DEPTHS", [50, 50, 50, 50])
    s = samples("niah_multikey_1", length=4096, limit=1)[0]
    context = s.prompt[len(NIAH_SINGULAR): s.prompt.rindex("\nWhat is")]
    needles = re.findall(r"One of the special magic numbers for \S+ is: \d{7}\.", context)
    start = context.index(needles[0])
    seg0, seg1 = context[: start - 1], context[start + len("  ".join(needles)) + 1:]
    assert context == " ".join([seg0, needles[0], "", needles[1], "", needles[2], "", needles[3], seg1])
    assert seg0[-1] in ".!?\"')]"  # the needles sit at a sentence boundary
    assert seg1[0].isupper() or seg1[0] in "\"'([0123456789"
