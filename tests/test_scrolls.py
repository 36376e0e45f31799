"""SCROLLS: the original files, lm-eval's decoder prompts, the query-keeping cut, the scorers."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.tasks_tokenizers import byte_level, trained_bpe
from toroidal_bench.errors import UsageError
from toroidal_bench.tasks import TASK_FAMILIES
from toroidal_bench.tasks.catalog import get_task, list_tasks
from toroidal_bench.tasks.scrolls.data import SCROLLS_TASKS, examples

FIXTURES = Path(__file__).parent / "fixtures"


def rows(task: str) -> list[dict]:
    lines = (FIXTURES / "scrolls" / task / "validation.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def family(task: str, **params):
    td = get_task(f"scrolls.{task}")
    fam = td.build()
    fam.params = {**td.params, "data_dir": str(FIXTURES), **params}
    return fam


def test_every_scrolls_task_is_listed_with_the_scrolls_family():
    tasks = {t.name: t for t in list_tasks() if t.name.startswith("scrolls.")}
    assert sorted(tasks) == sorted(f"scrolls.{t}" for t in SCROLLS_TASKS)
    assert all(t.family == "scrolls" and t.params["dataset"] == t.name.split(".")[1] for t in tasks.values())
    assert "scrolls" in TASK_FAMILIES


def test_rows_of_one_id_become_one_example_with_every_reference_in_file_order():
    found = examples("scrolls", "qasper", "validation", str(FIXTURES))
    raw = rows("qasper")
    assert [e.id for e in found] == list(dict.fromkeys(r["id"] for r in raw))
    assert found[0].outputs == [r["output"] for r in raw if r["id"] == found[0].id]
    assert len(found[0].outputs) == 3


@pytest.mark.parametrize("layout", ["zip", "subfolder-zip", "jsonl"])
def test_the_original_zip_and_its_extracted_jsonl_are_both_read(tmp_path, layout):
    folder = tmp_path / "scrolls" if layout == "subfolder-zip" else tmp_path
    folder.mkdir(exist_ok=True)
    source = FIXTURES / "scrolls" / "narrative_qa" / "validation.jsonl"
    if layout == "jsonl":
        (folder / "narrative_qa").mkdir()
        shutil.copy(source, folder / "narrative_qa" / "validation.jsonl")
    else:
        with zipfile.ZipFile(folder / "narrative_qa.zip", "w") as z:
            z.writestr("narrative_qa/validation.jsonl", source.read_text())
            z.writestr("narrative_qa/train.jsonl", "")
    found = examples("scrolls", "narrative_qa", "validation", str(tmp_path))
    assert [len(e.outputs) for e in found] == [2, 1]


def test_a_missing_file_names_it_and_the_command_that_fetches_it(tmp_path):
    with pytest.raises(UsageError) as err:
        family("gov_report", data_dir=str(tmp_path)).samples(byte_level(), 2048, 0, 1)
    assert "gov_report/validation.jsonl" in str(err.value)
    assert err.value.fix.startswith("hf download tau/scrolls gov_report.zip --repo-type dataset --local-dir DATA/scrolls")


def test_the_test_split_has_no_labels_and_is_refused(tmp_path):
    (tmp_path / "qasper").mkdir()
    (tmp_path / "qasper" / "test.jsonl").write_text(json.dumps({"id": "x", "pid": "x", "input": "q\n\nt",
                                                                "output": None}) + "\n")
    with pytest.raises(UsageError, match="labels are not public"):
        family("qasper", data_dir=str(tmp_path), split="test").samples(byte_level(), 2048, 0, 1)


@pytest.mark.parametrize("task, tail", [
    ("qasper", "\n\nQuestion: {q}\nAnswer:"),
    ("narrative_qa", "\n\nQuestion: {q}\nAnswer:"),
    ("qmsum", "\n\nQuestion: {q}\nAnswer:"),
    ("quality", "\n\nQuestion: {q}\nAnswer:"),
    ("contract_nli", "\n\nHypothesis: {q}\nConclusion:"),
    ("gov_report", "\n\nQuestion: What is a summary of the preceding text?\nAnswer:"),
    ("summ_screen_fd", "\n\nQuestion: What is a summary of the preceding text?\nAnswer:"),
])
def test_prompts_are_lm_evals_text_then_question(task, tail):
    fam = family(task)
    raw = rows(task)[0]["input"]
    question, text = raw.split("\n\n", 1) if task not in ("gov_report", "summ_screen_fd") else ("", raw)
    sample = next(iter(fam.samples(byte_level(), 1 << 16, 0, 1)))
    assert sample.prompt == "<s>" + text + tail.replace("{q}", question)
    assert sample.truncated_tokens == 0 and sample.request.stop == ("\n",)
    assert sample.reference == [r["output"] for r in rows(task) if r["id"] == sample.id]
    assert sample.meta["chat_template"] is False


def test_quality_keeps_its_options_in_the_text_for_generation():
    sample = next(iter(family("quality").samples(byte_level(), 1 << 16, 0, 1)))
    assert "(A) " in sample.prompt and "(D) " in sample.prompt
    assert sample.prompt.index("(D) ") < sample.prompt.index("Question: ")


@pytest.mark.parametrize("tok", [byte_level, lambda: trained_bpe("gpt2"), lambda: trained_bpe("sentencepiece")])
def test_a_long_prompt_loses_the_end_of_its_text_and_fits_exactly(tok):
    tok = tok()
    inputs = {r["id"]: r["input"] for r in rows("narrative_qa")}
    for length in (400, 700):
        for s in family("narrative_qa").samples(tok, length, 0, None):
            question, text = inputs[s.id].split("\n\n", 1)
            ids = list(s.request.prompt_ids)
            assert len(ids) + s.request.max_new_tokens == length
            prompt = tok.decode(ids, skip_special_tokens=True)
            assert prompt.endswith(f"\n\nQuestion: {question}\nAnswer:")  # the question is kept whole
            assert prompt.startswith(text[:20])  # the text's start is kept, its end goes
            assert s.truncated_tokens > 0 and text.strip()[-30:] not in prompt


def test_a_length_too_short_for_the_question_is_refused_at_once():
    with pytest.raises(UsageError, match="no room"):
        family("qasper").samples(byte_level(), 256 + 20, 0, 1)


def test_summaries_score_rouge_and_the_sample_geometric_mean():
    fam = family("gov_report")
    sample = next(iter(fam.samples(byte_level(), 1 << 16, 0, 1)))
    assert fam.metrics == ("rouge/rouge1", "rouge/rouge2", "rouge/rougeL", "rouge/geometric_mean")
    perfect = fam.score(sample, sample.reference[1])
    assert perfect["rouge/rouge1"] == 100.0 and perfect["rouge/geometric_mean"] == pytest.approx(100.0)
    assert fam.score(sample, "")["rouge/geometric_mean"] == 0.0


def test_each_rouge_type_takes_its_own_best_reference():
    from toroidal_bench.tasks.scrolls.metrics import rouge

    # unigram-wise the first reference is closer, bigram-wise the second
    got = rouge("a b c d", ["d c b a x", "a b z z z z z z"])
    assert got["rouge1"] == pytest.approx(100 * 2 * 0.8 / 1.8)  # P 4/4, R 4/5 against the first
    assert got["rouge2"] == pytest.approx(100 * 2 * (1 / 3) * (1 / 7) / (1 / 3 + 1 / 7))  # "a b" against the second


@pytest.mark.parametrize("task, metric, good, bad", [
    ("qasper", "f1", "The harbor ledger!", "nothing"),
    ("quality", "exact_match", "no, he worked in the spaceport on Mercury", "(C)"),
    ("contract_nli", "exact_match", " entailment.", "Contradiction"),
])
def test_qa_and_choice_tasks_score_f1_or_exact_match(task, metric, good, bad):
    fam = family(task)
    sample = next(iter(fam.samples(byte_level(), 1 << 16, 0, 1)))
    assert fam.metrics == (metric,)
    assert fam.score(sample, good)[metric] == 100.0
    assert fam.score(sample, bad)[metric] == 0.0


@pytest.mark.parametrize("suite, prefix, lengths", [("scrolls", "scrolls.", (4096, 16384)),
                                                    ("zero_scrolls", "zero_scrolls.", (8192,))])
def test_suites_hold_every_task_at_the_originals_lengths_and_can_build_them(suite, prefix, lengths):
    from toroidal_bench.suites import load_suite

    s = load_suite(suite)
    assert s.lengths == lengths and s.limit is None
    assert sorted(s.tasks) == sorted(t.name for t in list_tasks() if t.name.startswith(prefix))
    for task in s.tasks:
        td = get_task(task)
        fam = td.build()
        fam.params = {**td.params, "data_dir": str(FIXTURES)}
        for length in (lengths[0], lengths[-1]):
            sample = next(iter(fam.samples(trained_bpe("gpt2"), length, 0, 1)))
            assert len(sample.request.prompt_ids) + sample.request.max_new_tokens <= length


def test_chat_template_wraps_the_lm_eval_prompt_in_one_user_turn():
    tok = trained_bpe("gpt2")
    tok.chat_template = ("{% for m in messages %}<s>[USER] {{ m['content'] }} [/USER]{% endfor %}"
                         "{% if add_generation_prompt %} [BOT]{% endif %}")
    try:
        fam = family("contract_nli", chat_template=True)
        s = next(iter(fam.samples(tok, 600, 0, 1)))
        assert s.prompt.startswith("<s>[USER] ") and s.prompt.endswith("\nConclusion: [/USER] [BOT]")
        assert len(s.request.prompt_ids) + s.request.max_new_tokens == 600 and s.meta["chat_template"] is True
    finally:
        tok.chat_template = None
