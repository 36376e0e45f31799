"""InfiniteBench's real-data tasks: prompts as create_prompt fills the yarn_mistral templates, middle
truncation to exactly the length, labels as get_answer makes them, and bad data refused at the call."""

from __future__ import annotations

import json
import re

import pytest

from tests.tasks_tokenizers import byte_level, trained_bpe
from toroidal_bench.errors import UsageError
from toroidal_bench.tasks.catalog import get_task

FIXTURES = "tests/fixtures/infinitebench"
# DATA_NAME_TO_MAX_NEW_TOKENS of src/eval_utils.py, and the metric each task reports
TASKS = {"longbook_sum_eng": (1200, "rougeLsum"), "longbook_qa_eng": (40, "qa_f1"),
         "longbook_choice_eng": (40, "accuracy"), "longdialogue_qa_eng": (40, "accuracy"),
         "longbook_qa_chn": (40, "qa_f1_zh_char"), "code_debug": (5, "accuracy"), "code_run": (5, "accuracy"),
         "math_calc": (30000, "prefix_accuracy")}
TOKENIZERS = {"byte": byte_level, "bpe": lambda: trained_bpe("gpt2"), "sentencepiece": lambda: trained_bpe("sentencepiece")}


def family(task: str, **params):
    td = get_task(task)
    fam = td.build()
    fam.params = {**td.params, "data_dir": FIXTURES, **params}
    return fam


def records(task: str) -> list[dict]:
    with open(f"{FIXTURES}/{task}.jsonl", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def expected_prompt(task: str, record: dict) -> str:
    """create_prompt of src/eval_utils.py for the yarn_mistral templates, written out with str.format."""
    template = get_task(task).params["template"]
    opts = {f"OPTION_{k}": v for k, v in zip("ABCD", record.get("options") or [], strict=False)}
    if task == "code_run":
        call = re.findall(r"func_[0-9]+\(\-?[0-9]+\)", record["input"])[0]
        return template.format(func=call.split("(")[0], func_call=call, context=record["context"])
    if task in ("longbook_qa_eng", "longbook_qa_chn", "longbook_choice_eng"):
        return template.format(context=record["context"], question=record["input"], **opts)
    return template.format(context=record["context"], **opts)


def test_tasks_have_the_original_budgets_metrics_and_templates():
    for task, (budget, metric) in TASKS.items():
        td = get_task(task)
        assert td.family == f"infinitebench.{task}"
        assert td.params["max_new_tokens"] == budget
        assert td.build().metrics == (metric,)
    assert get_task("longbook_choice_eng").params["template"] == (
        "Read the book and answer the question.\n\n{context}\n\nQuestion: {question}\nA. {OPTION_A}\nB. {OPTION_B}"
        "\nC. {OPTION_C}\nD. {OPTION_D}\n\nThe letter of the correct answer is")
    assert get_task("code_run").params["template"] == (
        "There is a function called {func} in the following Python code.\n\n{context}\n\nPlease compute the exact "
        "value of {func_call}. The value of {func_call} is")
    ends = {"longbook_sum_eng": "\n\nSummary:", "longbook_qa_eng": "\nAnswer:", "longbook_qa_chn": "\n答案：",
            "longdialogue_qa_eng": "The name that has been replaced with $$MASK$$ is likely",
            "code_debug": "\n\nThe correct option is:", "math_calc": "\nExpression: {context}\nValues:"}
    for task, end in ends.items():
        assert get_task(task).params["template"].endswith(end), task


@pytest.mark.parametrize("task", list(TASKS))
def test_untruncated_prompts_are_the_filled_template(task):
    tok = byte_level()
    samples = list(family(task).samples(tok, 1 << 17, seed=0, limit=None))
    assert [s.id for s in samples] == [str(r["id"]) for r in records(task)]
    for s, record in zip(samples, records(task), strict=True):
        text = expected_prompt(task, record)
        assert s.prompt == "<s>" + text and s.truncated_tokens == 0
        assert s.prompt_tokens == 1 + len(text.encode("utf-8"))  # no padding: shorter prompts stay shorter
        assert s.request.max_new_tokens == TASKS[task][0] and s.meta == {"chat_template": False}


@pytest.mark.parametrize("tok_name", list(TOKENIZERS))
@pytest.mark.parametrize("task", list(TASKS))
def test_long_prompts_are_cut_in_the_middle_to_exactly_the_length(task, tok_name):
    if (task, tok_name) == ("longbook_qa_chn", "sentencepiece"):
        pytest.skip("the trained sentencepiece-style BPE has no pieces for CJK text (it encodes to almost nothing)")
    tok = TOKENIZERS[tok_name]()
    budget = 512 - 40  # the prompt's share of a 512-token length for a 40-token answer
    length = budget + TASKS[task][0]
    for s, record in zip(family(task).samples(tok, length, seed=0, limit=None), records(task), strict=True):
        whole = tok(expected_prompt(task, record), add_special_tokens=False)["input_ids"]
        assert s.truncated_tokens > 0
        assert s.prompt_tokens == budget  # BOS + first and last halves of the prompt's tokens
        ids = list(s.request.prompt_ids)
        room = budget - 1
        assert ids == [tok.bos_token_id] + whole[: room // 2] + whole[len(whole) - (room - room // 2):]
        assert s.truncated_tokens == len(whole) - room
        template = get_task(task).params["template"]
        head = template.split("{")[0]
        tail = template.rsplit("}", 1)[1]
        text = tok.decode(ids, skip_special_tokens=True)
        if tok_name != "sentencepiece":  # its byte-fallback pieces decode "$" to nothing
            assert text.startswith(head[:20]) and text.endswith(tail[-12:])  # instruction and question survive


def test_labels_are_get_answer_s_ground_truth():
    def refs(task):
        return [s.reference for s in family(task).samples(byte_level(), 1 << 17, 0, None)]

    # an answer given as a one-element list and one given as a bare string both become [text, letter]
    assert refs("longbook_choice_eng") == [["A brass lamp", "B"], ["Ilse Moreau", "D"]]
    assert refs("code_debug") == [["merge_rows", "B"], ["Cache.put", "D"]]
    assert refs("longdialogue_qa_eng") == [["JUNE"], ["ODETTE", "ODETTE LANE"]]
    assert [r[0] for r in refs("code_run")] == [rec["answer"][0] for rec in records("code_run")]
    assert refs("math_calc") == [rec["answer"][0] for rec in records("math_calc")]  # unnested


def test_code_run_and_math_calc_answers_cast_to_strings_are_read_as_ints(tmp_path):
    rows = records("code_run")[:1] + records("math_calc")[:1]
    rows[0] = {**rows[0], "answer": [str(rows[0]["answer"][0])]}
    rows[1] = {**rows[1], "answer": [[str(v) for v in rows[1]["answer"][0]]]}
    (tmp_path / "code_run.jsonl").write_text(json.dumps(rows[0]) + "\n")
    (tmp_path / "math_calc.jsonl").write_text(json.dumps(rows[1]) + "\n")
    run = next(iter(family("code_run", data_dir=str(tmp_path)).samples(byte_level(), 4096, 0, 1)))
    calc = next(iter(family("math_calc", data_dir=str(tmp_path)).samples(byte_level(), 40000, 0, 1)))
    assert run.reference == records("code_run")[0]["answer"]
    assert calc.reference == records("math_calc")[0]["answer"][0]


@pytest.mark.parametrize("task, change, says", [
    ("longbook_qa_eng", lambda r: {k: v for k, v in r.items() if k != "answer"}, "record 0 has no answer"),
    ("longbook_choice_eng", lambda r: {**r, "answer": ["not an option"]}, "is not one of its options"),
    ("longbook_choice_eng", lambda r: {**r, "options": ["x", "y"]}, "has no four options"),
    ("code_run", lambda r: {**r, "input": "What does it return?"}, "asks for no func_<n>(<int>) call"),
    ("math_calc", lambda r: {**r, "answer": [["12", "x"]]}, "not an integer"),
    ("longdialogue_qa_eng", lambda r: {**r, "answer": [3]}, "not a list of strings"),
])
def test_a_malformed_record_is_a_one_line_error_at_the_call(tmp_path, task, change, says):
    rows = records(task)
    rows[0] = change(rows[0])
    (tmp_path / f"{task}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    length = 40000 if task == "math_calc" else 4096
    with pytest.raises(UsageError, match=re.escape(says)) as err:
        family(task, data_dir=str(tmp_path)).samples(byte_level(), length, 0, None)  # no sample asked for yet
    assert f"{task}.jsonl" in str(err.value) and "\n" not in err.value.line()


@pytest.mark.parametrize("task, length", [("math_calc", 4096), ("longbook_sum_eng", 1024), ("longbook_qa_eng", 41)])
def test_a_length_without_room_beside_the_answer_budget_is_too_short(task, length):
    with pytest.raises(UsageError, match="too short") as err:
        family(task).samples(byte_level(), length, 0, 1)
    assert str(TASKS[task][0]) in str(err.value)


def test_files_are_found_in_the_benchmark_subfolder_and_the_data_folder(tmp_path):
    line = open(f"{FIXTURES}/longbook_qa_eng.jsonl", encoding="utf-8").readline()
    (tmp_path / "infinitebench").mkdir()
    (tmp_path / "infinitebench" / "longbook_qa_eng.jsonl").write_text(line)
    (tmp_path / "code_run.jsonl").write_text(open(f"{FIXTURES}/code_run.jsonl", encoding="utf-8").readline())
    assert len(list(family("longbook_qa_eng", data_dir=str(tmp_path)).samples(byte_level(), 4096, 0, None))) == 1
    assert len(list(family("code_run", data_dir=str(tmp_path)).samples(byte_level(), 4096, 0, None))) == 1


def test_missing_files_name_the_file_and_the_download_command(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UsageError) as err:
        family("longbook_qa_chn", data_dir=str(tmp_path)).samples(byte_level(), 4096, 0, 1)
    line = err.value.line()
    assert "longbook_qa_chn.jsonl" in line and str(tmp_path) in line
    assert ("hf download xinrongzhang2022/InfiniteBench longbook_qa_chn.jsonl --repo-type dataset "
            "--local-dir DATA/infinitebench") in line


def test_the_chat_template_frames_the_prompt_and_counts_in_the_length():
    tok = trained_bpe("gpt2")
    with pytest.raises(UsageError, match="no chat template"):
        family("longbook_qa_eng", chat_template=True).samples(tok, 512, 0, 1)
    tok.chat_template = ("{% for m in messages %}<s>[USER] {{ m['content'] }} [/USER]{% endfor %}"
                         "{% if add_generation_prompt %} [BOT]{% endif %}")
    try:
        s = next(iter(family("longbook_qa_eng", chat_template=True).samples(tok, 512, 0, 1)))
        assert s.meta == {"chat_template": True} and s.prompt_tokens == 512 - 40
        assert s.prompt.startswith("<s>[USER] Read the book") and s.prompt.endswith("Answer: [/USER] [BOT]")
    finally:
        tok.chat_template = None


def test_chat_template_option_reaches_the_real_data_tasks_only():
    from toroidal_bench.suites import expand

    cells = expand(["random:llama-tiny"], ["passkey", "longbook_qa_eng", "code_run"], [4096], chat_template=True)
    assert {c.task.name: c.task_params.get("chat_template") for c in cells} == {
        "passkey": None, "longbook_qa_eng": True, "code_run": True}


def test_the_seed_plays_no_part_and_limit_takes_the_first_records():
    fam = family("code_debug")
    a = [s.request for s in fam.samples(byte_level(), 2048, 0, None)]
    b = [s.request for s in fam.samples(byte_level(), 2048, 7, 1)]
    assert len(a) == 2 and b == a[:1]


def test_a_record_without_id_is_named_by_its_line(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "id"} for r in records("math_calc")]
    (tmp_path / "math_calc.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    samples = family("math_calc", data_dir=str(tmp_path)).samples(byte_level(), 40000, 0, None)
    assert [s.id for s in samples] == ["0", "1"]
