"""ZeroSCROLLS: the data's own prompt, process_model_input's cut (query and separator kept), the chat
adaptation of its API runs, and its metrics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.tasks_tokenizers import byte_level, trained_bpe
from toroidal_bench.errors import UsageError
from toroidal_bench.tasks.catalog import get_task, list_tasks
from toroidal_bench.tasks.scrolls.data import ZERO_SCROLLS_TASKS

FIXTURES = Path(__file__).parent / "fixtures"
TOKENIZERS = {"bytes": byte_level, "bpe-gpt2": lambda: trained_bpe("gpt2"),
              "bpe-sentencepiece": lambda: trained_bpe("sentencepiece")}


def rows(task: str) -> list[dict]:
    lines = (FIXTURES / "zero_scrolls" / task / "validation.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def family(task: str, **params):
    td = get_task(f"zero_scrolls.{task}")
    fam = td.build()
    fam.params = {**td.params, "data_dir": str(FIXTURES), **params}
    return fam


def test_every_task_with_the_original_answer_budget():
    tasks = {t.name.split(".")[1]: t for t in list_tasks() if t.name.startswith("zero_scrolls.")}
    assert sorted(tasks) == sorted(ZERO_SCROLLS_TASKS)
    budgets = {t: tasks[t].params["max_new_tokens"] for t in tasks}
    assert budgets == {"gov_report": 1024, "summ_screen_fd": 512, "qmsum": 512, "qasper": 128, "narrative_qa": 64,
                       "quality": 10, "musique": 32, "squality": 512, "space_digest": 36, "book_sum_sort": 256}
    summaries = {"gov_report", "summ_screen_fd", "qmsum", "squality"}
    assert {t for t in tasks if "format_request" not in tasks[t].params} == summaries


def test_a_prompt_that_fits_is_the_input_as_it_is():
    for task in ("qasper", "gov_report", "book_sum_sort"):
        sample = next(iter(family(task).samples(byte_level(), 1 << 16, 0, 1)))
        assert sample.prompt == "<s>" + rows(task)[0]["input"] and sample.truncated_tokens == 0
        assert sample.request.stop == ()


def test_several_rows_of_an_id_are_its_references():
    samples = list(family("squality").samples(byte_level(), 1 << 16, 0, None))
    assert [len(s.reference) for s in samples] == [4, 1]
    assert samples[0].reference == [r["output"] for r in rows("squality")[:4]]


@pytest.mark.parametrize("tok", list(TOKENIZERS))
@pytest.mark.parametrize("task", ["narrative_qa", "qmsum", "gov_report", "quality"])
def test_the_cut_keeps_instruction_separator_and_query_at_the_exact_length(tok, task):
    tok = TOKENIZERS[tok]()
    fam = family(task)
    by_id = {r["id"]: r for r in rows(task)}
    budgets = (600, 900) if tok is byte_level() else (220, 300)  # room for the instruction, less than the input
    for length in (fam.params["max_new_tokens"] + b for b in budgets):
        for s in fam.samples(tok, length, 0, None):
            r = by_id[s.id]
            text, qs = r["input"], r["query_start_index"]
            assert len(s.request.prompt_ids) + s.request.max_new_tokens == length
            prompt = tok.decode(list(s.request.prompt_ids), skip_special_tokens=True)
            assert s.truncated_tokens > 0
            assert prompt.endswith(r["truncation_seperator"] + text[qs:])  # separator, query, response header
            assert prompt.startswith(text[: r["document_start_index"]])  # the whole instruction and header
            kept = prompt[: len(prompt) - len(r["truncation_seperator"] + text[qs:])]
            assert text.startswith(kept[:-8])  # a prefix of the document (its last token may read apart)


def test_truncated_tokens_counts_the_documents_removed_tokens():
    tok = trained_bpe("gpt2")
    r = rows("musique")[0]
    s = next(iter(family("musique").samples(tok, 32 + 300, 0, 1)))
    body = len(tok(r["input"][: r["query_start_index"]], add_special_tokens=False)["input_ids"])
    tail = len(tok("." + r["truncation_seperator"] + r["input"][r["query_start_index"]:],
                   add_special_tokens=False)["input_ids"]) - len(tok(".", add_special_tokens=False)["input_ids"])
    kept = 300 - 1 - tail  # BOS, then the document's first tokens, then separator and query
    assert s.truncated_tokens == body - kept


@pytest.fixture
def chat_tokenizer():
    tok = trained_bpe("gpt2")
    tok.chat_template = ("{% for m in messages %}<s>[USER] {{ m['content'] }} [/USER]{% endfor %}"
                         "{% if add_generation_prompt %} [BOT]{% endif %}")
    yield tok
    tok.chat_template = None


def test_chat_prompts_drop_the_response_header_and_ask_for_no_explanation(chat_tokenizer):
    qa = next(iter(family("qasper", chat_template=True).samples(chat_tokenizer, 1 << 16, 0, 1)))
    r = rows("qasper")[0]
    instruction, rest = r["input"].split("\n\n", 1)
    expected = f"{instruction.strip()} Do not provide any explanation.\n\n{rest}"
    expected = expected[: r["query_end_index"] + len(" Do not provide any explanation.")]
    assert qa.prompt == f"<s>[USER] {expected} [/USER] [BOT]"
    assert qa.meta["chat_template"] is True and not qa.prompt.rstrip(" [BOT]").endswith("Answer:")
    summary = next(iter(family("gov_report", chat_template=True).samples(chat_tokenizer, 1 << 16, 0, 1)))
    g = rows("gov_report")[0]
    assert summary.prompt == f"<s>[USER] {g['input'][: g['query_end_index']]} [/USER] [BOT]"


def test_chat_prompts_are_cut_inside_the_frame_at_the_exact_length(chat_tokenizer):
    for s in family("narrative_qa", chat_template=True).samples(chat_tokenizer, 64 + 250, 0, None):
        assert len(s.request.prompt_ids) + 64 == 64 + 250 and s.truncated_tokens > 0
        assert s.prompt.endswith("[/USER] [BOT]") and "is omitted]" in s.prompt
        assert "Do not provide any explanation." in s.prompt


def test_a_chat_run_without_a_chat_template_is_refused():
    with pytest.raises(UsageError, match="no chat template"):
        family("qasper", chat_template=True).samples(byte_level(), 4096, 0, 1)


def test_bad_offsets_and_gold_letters_are_refused(tmp_path):
    (tmp_path / "quality").mkdir()
    r = {**rows("quality")[0], "output": "the captain"}
    (tmp_path / "quality" / "validation.jsonl").write_text(json.dumps(r) + "\n")
    with pytest.raises(UsageError, match="option letter"):
        family("quality", data_dir=str(tmp_path)).samples(byte_level(), 4096, 0, 1)
    (tmp_path / "qasper").mkdir()
    r = {**rows("qasper")[0], "query_start_index": 10 ** 7}
    (tmp_path / "qasper" / "validation.jsonl").write_text(json.dumps(r) + "\n")
    with pytest.raises(UsageError, match="offsets"):
        family("qasper", data_dir=str(tmp_path)).samples(byte_level(), 4096, 0, 1)


@pytest.mark.parametrize("task, metric, good, bad", [
    ("musique", "f1", "The Council.", "the river"),
    ("quality", "accuracy", "(C)", "A, or maybe C"),
    ("space_digest", "exp_similarity", "About 64% are positive", "0.64"),
    ("book_sum_sort", "concordance_index", "Order: 3, 1, 6, 2, 5, 4", "1, 2, 3, 4, 5"),
])
def test_each_task_scores_its_own_metric(task, metric, good, bad):
    fam = family(task)
    sample = next(iter(fam.samples(byte_level(), 1 << 16, 0, 1)))
    assert fam.metrics == (metric,)
    assert fam.score(sample, good) == {metric: 100.0}
    assert fam.score(sample, bad) == {metric: 0.0}


def test_partial_credit_of_the_aggregation_metrics():
    from toroidal_bench.tasks.scrolls import metrics as m

    assert m.exp_similarity("54%", ["64%"]) == pytest.approx(50.0)
    assert m.exp_similarity("No idea.", ["64%"]) == 0.0
    assert m.concordance_index("2, 1, 3", ["1, 2, 3"]) == pytest.approx(100 * 2 / 3)
    assert m.concordance_index("3, 2, 1", ["1, 2, 3"]) == 0.0
    assert m.f1_ascii("Zürich café", ["zurich cafe"]) == 100.0 and m.f1("Zürich café", ["zurich cafe"]) == 0.0
