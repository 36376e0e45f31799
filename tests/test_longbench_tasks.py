"""LongBench v1 and LongBench-E tasks on fixture files: prompts, middle truncation, chat templates, scores."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pytest
from tasks_tokenizers import byte_level, trained_bpe

from toroidal_bench.errors import UsageError
from toroidal_bench.tasks.base import encode
from toroidal_bench.tasks.cache import cached_samples
from toroidal_bench.tasks.catalog import get_task, list_tasks
from toroidal_bench.tasks.longbench.v1 import DATASET_METRIC, E_DATASETS, bucket

FIXTURES = Path(__file__).parent / "fixtures" / "longbench"
TASKS = [f"longbench.{d}" for d in DATASET_METRIC] + [f"longbench.{d}_e" for d in E_DATASETS]
TOKENIZERS = {"byte-level": byte_level, "gpt2-bpe": lambda: trained_bpe("gpt2"),
              "sentencepiece-bpe": lambda: trained_bpe("sentencepiece")}
# the SentencePiece-style test BPE is trained on English and drops what it cannot spell (Chinese)
ENGLISH_ONLY = {"sentencepiece-bpe"}
CHINESE = {"longbench.multifieldqa_zh", "longbench.dureader", "longbench.passage_retrieval_zh"}


def family(task: str, **params):
    td = get_task(task)
    return type(td.build())(**{**td.params, "data_dir": str(FIXTURES), **params})


def records(task: str) -> list[dict]:
    stem = task.removeprefix("longbench.")
    return [json.loads(line) for line in (FIXTURES / "data" / f"{stem}.jsonl").read_text("utf-8").splitlines()]


def test_all_34_tasks_are_in_the_catalog():
    found = {t.name: t.family for t in list_tasks() if t.name.startswith("longbench.")}
    assert sorted(found) == sorted(TASKS)
    assert {found[t] for t in TASKS if t.endswith("_e")} == {"longbench_e"}


def test_templates_keep_the_originals_quirks():
    assert get_task("longbench.narrativeqa").params["template"].count("asconcisely") == 2
    assert "\n\n Answer the question based on the above article" in get_task("longbench.qasper").params["template"]
    assert get_task("longbench.passage_count").params["template"].endswith("The final answer is: ")
    assert get_task("longbench.passage_retrieval_zh").params["template"].endswith("答案是：")
    assert get_task("longbench.lcc").params["template"] == \
        "Please complete the code given below. \n{context}Next line of code:\n"
    assert get_task("longbench.gov_report_e").params == {**get_task("longbench.gov_report").params}


@pytest.mark.parametrize("task", TASKS)
def test_prompt_is_the_filled_template_when_it_fits(task):
    tok = trained_bpe("gpt2")
    fam = family(task)
    samples = list(fam.samples(tok, 32768, seed=0, limit=None))
    rows = records(task)
    assert [s.id for s in samples] == [r["_id"] for r in rows]
    for s, r in zip(samples, rows, strict=True):
        text = fam.params["template"].format(context=r["context"], input=r["input"])
        assert list(s.request.prompt_ids) == [tok.bos_token_id] + encode(tok, text)
        assert s.truncated_tokens == 0 and s.meta["chat_template"] is False
        assert s.request.max_new_tokens == fam.params["max_new_tokens"] and s.request.stop == ()
        assert s.reference == r["answers"] and s.meta["length"] == r["length"]
        assert s.meta.get("all_classes") == r["all_classes"]


@pytest.mark.parametrize("task, tokenizer", [
    (task, tokenizer) for task in ("longbench.narrativeqa", "longbench.multifieldqa_zh", "longbench.trec",
                                   "longbench.passage_count_e", "longbench.repobench-p")
    for tokenizer in TOKENIZERS if not (task in CHINESE and tokenizer in ENGLISH_ONLY)])
def test_middle_truncation_keeps_both_ends_and_fills_the_length_exactly(task, tokenizer):
    tok = TOKENIZERS[tokenizer]()
    fam = family(task)
    budget = 512 - fam.params["max_new_tokens"]
    truncated = 0
    for s, r in zip(fam.samples(tok, 512, seed=0, limit=None), records(task), strict=True):
        whole = encode(tok, fam.params["template"].format(context=r["context"], input=r["input"]))
        ids = list(s.request.prompt_ids)
        assert ids[0] == tok.bos_token_id and s.truncated_tokens == max(0, len(whole) - (budget - 1))
        if s.truncated_tokens:
            truncated += 1
            head = (budget - 1) // 2
            assert len(ids) == budget
            assert ids[1: 1 + head] == whole[:head] and ids[1 + head:] == whole[len(whole) - (budget - 1 - head):]
        else:
            assert ids[1:] == whole
    assert truncated >= 2  # the fixtures' long records


@pytest.mark.parametrize("tokenizer", list(TOKENIZERS))
def test_cached_samples_fit_the_length(tokenizer):
    tok = TOKENIZERS[tokenizer]()
    for task in ("longbench.narrativeqa", "longbench.dureader", "longbench.passage_retrieval_zh"):
        if task in CHINESE and tokenizer in ENGLISH_ONLY:
            continue
        fam = family(task)
        for length in (300, 512, 1000):
            for s in cached_samples(task, fam, tok, length, 0, None):
                assert s.prompt_tokens + s.request.max_new_tokens <= length
                assert "canonical" in s.meta


def test_limit_takes_the_first_records_and_the_seed_changes_nothing():
    fam = family("longbench.hotpotqa")
    ids = [r["_id"] for r in records("longbench.hotpotqa")]
    assert [s.id for s in fam.samples(byte_level(), 4096, seed=0, limit=2)] == ids[:2]
    a = [s.request for s in fam.samples(byte_level(), 4096, seed=0, limit=None)]
    b = [s.request for s in fam.samples(byte_level(), 4096, seed=7, limit=None)]
    assert a == b


@pytest.mark.parametrize("layout", ["data/narrativeqa.jsonl", "narrativeqa.jsonl", "longbench/narrativeqa.jsonl",
                                    "data.zip", "longbench/data.zip"])
def test_every_original_layout_is_read(tmp_path, layout):
    source = FIXTURES / "data" / "narrativeqa.jsonl"
    target = tmp_path / layout
    target.parent.mkdir(parents=True, exist_ok=True)
    if layout.endswith(".zip"):
        with zipfile.ZipFile(target, "w") as z:
            z.write(source, "data/narrativeqa.jsonl")
    else:
        shutil.copy(source, target)
    fam = family("longbench.narrativeqa", data_dir=str(tmp_path))
    assert [s.id for s in fam.samples(byte_level(), 4096, 0, None)] == [r["_id"] for r in records("longbench.narrativeqa")]


def test_missing_data_is_an_error_at_call_time(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UsageError) as err:
        family("longbench.qasper_e", data_dir=str(tmp_path)).samples(byte_level(), 512, 0, 1)  # no iteration
    assert "data/qasper_e.jsonl" in str(err.value)
    assert "hf download THUDM/LongBench data.zip --repo-type dataset --local-dir" in err.value.fix


def test_a_file_of_another_schema_is_refused(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "trec.jsonl").write_text('{"question": "q", "answers": ["a"]}\n')
    with pytest.raises(UsageError, match="record 0 has no input, context, length, all_classes, _id"):
        family("longbench.trec", data_dir=str(tmp_path)).samples(byte_level(), 512, 0, 1)


def test_too_short_a_length_is_an_error_at_call_time():
    with pytest.raises(UsageError, match="leaves no room"):
        family("longbench.gov_report").samples(byte_level(), 513, 0, 1)


# -- chat template ---------------------------------------------------------------------------------------

CHAT = ("{% for m in messages %}<s>[USER] {{ m['content'] }} [/USER]{% endfor %}"
        "{% if add_generation_prompt %} [BOT]{% endif %}")


@pytest.fixture
def chat_tokenizer():
    tok = trained_bpe("gpt2")
    tok.chat_template = CHAT
    yield tok
    tok.chat_template = None


@pytest.mark.parametrize("length", [512, 8192])
def test_chat_template_wraps_the_prompt_except_where_pred_py_does_not(chat_tokenizer, length):
    tok = chat_tokenizer
    for task in ("longbench.narrativeqa", "longbench.multifieldqa_zh", "longbench.qasper_e"):
        fam = family(task, chat_template=True)
        for s in fam.samples(tok, length, 0, None):
            assert s.meta["chat_template"] is True
            text = tok.decode(s.request.prompt_ids)
            assert text.startswith("<s>[USER] ") and text.endswith(" [/USER] [BOT]")
            assert s.prompt_tokens + s.request.max_new_tokens <= length
            assert s.truncated_tokens == 0 or s.prompt_tokens + s.request.max_new_tokens == length
    for task in ("longbench.trec", "longbench.triviaqa", "longbench.samsum_e", "longbench.lsht", "longbench.lcc",
                 "longbench.repobench-p"):
        plain = family(task)
        for s, raw in zip(family(task, chat_template=True).samples(tok, length, 0, None),
                          plain.samples(tok, length, 0, None), strict=True):
            assert s.meta["chat_template"] is False and s.request == raw.request


def test_chat_template_needs_one_in_the_tokenizer():
    with pytest.raises(UsageError, match="no chat template"):
        family("longbench.hotpotqa", chat_template=True).samples(trained_bpe("gpt2"), 4096, 0, 1)


def test_run_option_chat_template_reaches_longbench_cells():
    from toroidal_bench.suites import expand

    cells = expand(["random:llama-tiny"], ["longbench.narrativeqa", "longbench.trec_e"], [512], chat_template=True)
    assert all(c.task_params.get("chat_template") is True for c in cells)


# -- scores ------------------------------------------------------------------------------------------------

def one(task: str, index: int = 0, tokenizer=None):
    fam = family(task)
    return fam, list(fam.samples(tokenizer or byte_level(), 32768, 0, None))[index]


def test_score_is_the_best_answer_times_100():
    fam, s = one("longbench.narrativeqa")
    assert s.reference == ["a quiet harbour", "old ships"]
    assert fam.score(s, "Old ships!") == {"qa_f1_score": 100.0}
    assert fam.score(s, "a quiet harbour with old ships") == pytest.approx({"qa_f1_score": 100 * 2 * 0.4 / 1.4})
    assert fam.score(s, "") == {"qa_f1_score": 0.0}


def test_few_shot_predictions_are_cut_to_their_first_line():
    fam, s = one("longbench.trec")
    gold = s.reference[0]
    assert fam.score(s, f"\n\n{gold}\nAnimal") == {"classification_score": 100.0}
    assert fam.score(s, f"\n\nAnimal\n{gold}") == {"classification_score": 0.0}
    fam, s = one("longbench.samsum")
    assert fam.score(s, f"\n{s.reference[0]}\nDialogue: Anna: more text.")["rouge_score"] == pytest.approx(100, abs=1e-5)
    fam, s = one("longbench.narrativeqa")  # not a few-shot task: the whole output counts
    assert fam.score(s, "\nsomething else\nold ships")["qa_f1_score"] > 0


def test_classification_reads_all_classes_from_the_record():
    fam, s = one("longbench.lsht")
    other = next(c for c in s.meta["all_classes"] if c != s.reference[0])
    assert fam.score(s, f"{s.reference[0]}，{other}") == {"classification_score": 50.0}


def test_chinese_and_synthetic_metrics():
    fam, s = one("longbench.multifieldqa_zh")
    assert fam.score(s, "项目进度和市场发展。") == {"qa_f1_zh_score": 100.0}
    fam, s = one("longbench.passage_retrieval_zh")
    gold = s.reference[0].removeprefix("段落")
    assert fam.score(s, f"段落{gold}") == {"retrieval_zh_score": 100.0}
    fam, s = one("longbench.passage_count")
    assert fam.score(s, f"{s.reference[0]} or 99") == {"count_score": 50.0}
    fam, s = one("longbench.lcc")
    assert fam.score(s, "\n# a comment\n    return total\n") == {"code_sim_score": 100.0}


@pytest.mark.parametrize("length, name", [(0, "0-4k"), (3999, "0-4k"), (4000, "4-8k"), (7999, "4-8k"),
                                          (8000, "8k+"), (120_000, "8k+")])
def test_length_buckets_are_scorer_e_s(length, name):
    assert bucket(length) == name


def test_longbench_e_rows_carry_their_bucket_and_the_bucket_metric():
    fam = family("longbench.hotpotqa_e")
    assert fam.metrics == ("qa_f1_score", "qa_f1_score_0-4k", "qa_f1_score_4-8k", "qa_f1_score_8k+")
    samples = list(fam.samples(byte_level(), 4096, 0, None))
    assert [s.meta["length_bucket"] for s in samples] == ["0-4k", "4-8k", "8k+"]
    for s in samples:
        scores = fam.score(s, s.reference[0])
        assert scores == {"qa_f1_score": 100.0, f"qa_f1_score_{s.meta['length_bucket']}": 100.0}


def test_metrics_are_declared_higher_is_better_means():
    from toroidal_bench.metrics import METRICS

    for task in TASKS:
        for name in get_task(task).build().metrics:
            assert METRICS[name].better == "higher" and METRICS[name].aggregation == "mean", name
