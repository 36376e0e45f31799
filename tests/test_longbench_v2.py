"""LongBench v2: the original prompts and data file, middle truncation to the length, pred.py's answer
extraction, result.py's per-class accuracy, the two-round chain of thought, and the CLI."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from tasks_tokenizers import byte_level, trained_bpe
from typer.testing import CliRunner

from toroidal_bench import results
from toroidal_bench.cli import app
from toroidal_bench.errors import UsageError
from toroidal_bench.metrics import metric
from toroidal_bench.tasks.base import Generate, encode
from toroidal_bench.tasks.cache import cached_samples
from toroidal_bench.tasks.catalog import get_task
from toroidal_bench.tasks.longbench.v2 import DATA, METRICS, extract_answer, fill, load
from toroidal_bench.tasks.pieces import encoder_for
from toroidal_bench.tasks.prompting import chat_frame

FIXTURES = Path(__file__).resolve().parent / "fixtures"
RECORDS = json.loads((FIXTURES / "longbench_v2/data.json").read_text(encoding="utf-8"))
TOKENIZERS = {"byte": byte_level, "gpt2-bpe": lambda: trained_bpe("gpt2"),
              "sentencepiece-bpe": lambda: trained_bpe("sentencepiece")}
# sha256 of prompts/0shot.txt, 0shot_cot.txt and 0shot_cot_ans.txt at THUDM/LongBench 2e00731
ORIGINAL_PROMPTS = {
    ("longbench_v2", "template"): "68a162252bc9ff71d5d7abca3d69bb31aac3c35f832d657a2866f2018b8a6950",
    ("longbench_v2_cot", "template"): "6cc33d92fd8f611662b756c1f10f302c541ca005b58c46d5f3188ac3a939bfe8",
    ("longbench_v2_cot", "answer_template"): "85ec59df4ac0e27aabbc619a7ca5cf3ae1787dd5a76cf51a18944eb52c91955f",
}
cli = CliRunner()


def family(task: str = "longbench_v2", **params):
    td = get_task(task)
    fam = td.build()
    fam.params = {**td.params, "data_dir": str(FIXTURES), **params}
    return fam


# -- prompts --------------------------------------------------------------------------------------
@pytest.mark.parametrize("task, param", list(ORIGINAL_PROMPTS))
def test_templates_are_the_original_files_byte_for_byte(task, param):
    text = get_task(task).params[param]
    assert hashlib.sha256(text.encode("utf-8")).hexdigest() == ORIGINAL_PROMPTS[task, param]


def test_an_untruncated_prompt_is_the_filled_template():
    tok = trained_bpe("gpt2")
    record = RECORDS[2]  # its question has spaces around it, stripped as pred.py strips every field
    (sample,) = [s for s in family().samples(tok, 100_000, 0, None) if s.id == record["_id"]]
    text = tok.decode(sample.request.prompt_ids, skip_special_tokens=True)
    assert sample.truncated_tokens == 0
    assert text == (
        "Please read the following text and answer the question below.\n\n<text>\n" + record["context"].strip()
        + "\n</text>\n\nWhat is the correct answer to this question: " + record["question"].strip()
        + "\nChoices:\n(A) " + record["choice_A"] + "\n(B) " + record["choice_B"] + "\n(C) " + record["choice_C"]
        + "\n(D) " + record["choice_D"]
        + '\n\nFormat your response as follows: "The correct answer is (insert answer here)".')
    assert len(sample.request.prompt_ids) == 1 + len(encode(tok, text))  # BOS + the text, no padding
    assert sample.request.max_new_tokens == 128 and sample.reference == record["answer"]


def test_placeholders_are_replaced_in_pred_py_order():
    record = {**RECORDS[0], "context": "  a $Q$ and a $C_D$ inside  ", "question": "why $C_A$?"}
    text = fill("<$DOC$|$Q$|$C_A$>", record)
    assert text == f"<a why {record['choice_A']}? and a {record['choice_D']} inside|why {record['choice_A']}?|" \
                   f"{record['choice_A']}>"


# -- length and truncation ------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(TOKENIZERS))
def test_long_prompts_lose_their_middle_to_the_exact_budget(name):
    tok = TOKENIZERS[name]()
    fam = family()
    samples = cached_samples("longbench_v2", fam, tok, 512, 0, None)
    assert [s.id for s in samples] == [r["_id"] for r in RECORDS]
    prefix = len(encoder_for(tok).prefix)
    for s, record in zip(samples, RECORDS, strict=True):
        whole = encode(tok, fill(fam.params["template"], record))
        assert s.truncated_tokens == len(whole) - (384 - prefix) > 0
        assert len(s.request.prompt_ids) + s.request.max_new_tokens <= 512
        if name != "sentencepiece-bpe":  # its test vocabulary decodes "<" and ">" to nothing
            # re-encoding the decoded prompt (what a text backend sees) may merge tokens at the cut
            assert s.meta["canonical"] and 384 - (name != "byte") <= len(s.request.prompt_ids) <= 384
            text = tok.decode(s.request.prompt_ids, skip_special_tokens=True)
            assert text.startswith("Please read the following text and answer the question below.\n\n<text>\n")
            assert text.endswith(record["choice_D"] + '\n\nFormat your response as follows: '
                                 '"The correct answer is (insert answer here)".')


def test_a_length_without_room_for_the_prompt_is_refused():
    with pytest.raises(UsageError, match="leaves no room"):
        family().samples(byte_level(), 129, 0, 1)
    with pytest.raises(UsageError, match="leaves no room"):
        family("longbench_v2_cot").samples(byte_level(), 1000, 0, 1)


def test_limit_and_num_samples_take_the_first_records():
    assert [s.id for s in family().samples(byte_level(), 512, 0, 2)] == [r["_id"] for r in RECORDS[:2]]
    assert len(list(family(num_samples=3).samples(byte_level(), 512, 0, None))) == 3


# -- chat template --------------------------------------------------------------------------------
def test_chat_template_wraps_the_truncated_prompt_as_one_user_turn():
    tok = trained_bpe("gpt2")
    tok.chat_template = ("{% for m in messages %}<s>[USER] {{ m['content'] }} [/USER]{% endfor %}"
                         "{% if add_generation_prompt %} [BOT]{% endif %}")
    try:
        before, after = chat_frame(tok)
        chat = list(family(chat_template=True).samples(tok, 512, 0, 2))
        plain = list(family().samples(tok, 512, 0, 2))
    finally:
        tok.chat_template = None
    for s, p in zip(chat, plain, strict=True):
        ids = list(s.request.prompt_ids)
        assert ids[: len(before)] == before and ids[-len(after):] == after and len(ids) == 384
        assert s.meta["chat_template"] is True and p.meta["chat_template"] is False
        assert s.truncated_tokens == p.truncated_tokens + len(before) + len(after) - len(encoder_for(tok).prefix)
        assert tok.decode(ids).endswith('(insert answer here)". [/USER] [BOT]')


# -- answers and scores ---------------------------------------------------------------------------
@pytest.mark.parametrize("response, letter", [
    ("The correct answer is (B)", "B"),
    ("The correct answer is C.", "C"),
    ("**The correct answer is (D)**", "D"),
    ("The correct answer is **A**", "A"),
    ("The correct answer is B, or rather The correct answer is (C)", "C"),  # the parenthesised form first
    ("The correct answer is (A) ... The correct answer is (B)", "A"),  # then the first occurrence
    ("The correct answer is Apple", "A"),  # no word boundary in the original's pattern
    ("the correct answer is (b)", None),
    ("The correct answer is (E)", None),
    ("The correct answer is: (A)", None),
    ("The correct answer is\n(A)", None),
    ("Answer: (A)", None),
    ("", None),
])
def test_extract_answer_follows_pred_py(response, letter):
    assert extract_answer(response) == letter


def test_each_sample_scores_under_its_own_difficulty_and_length_class():
    fam = family()
    samples = list(fam.samples(byte_level(), 512, 0, None))
    outputs = ["The correct answer is (A)", "The correct answer is (B)", "  The correct answer is (A)\n",
               "I cannot tell.", "The correct answer is (D)", "The correct answer is (A)"]
    rows: dict[str, list[float]] = {}
    for s, out in zip(samples, outputs, strict=True):
        got = fam.score(s, out)
        level, size = s.meta["difficulty"], s.meta["length_class"]
        assert got == {"accuracy": got["accuracy"], f"accuracy_{level}": got["accuracy"],
                       f"accuracy_{size}": got["accuracy"]}
        for k, v in got.items():
            rows.setdefault(k, []).append(v)
    table = {k: float(metric(k).combine(np.array(v))) for k, v in rows.items()}
    # right: records 1 (easy short), 3 (easy long), 5 (hard long), 6 (easy medium)
    assert table == {"accuracy": 400 / 6, "accuracy_easy": 100.0, "accuracy_hard": 100 / 3,
                     "accuracy_short": 50.0, "accuracy_medium": 50.0, "accuracy_long": 100.0}
    assert set(table) == set(METRICS) == set(fam.metrics)


# -- chain of thought -----------------------------------------------------------------------------
class FakeRunner:
    """Answers the reasoning prompts with a reasoning naming the sample, the answer prompts with (B)."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.calls: list[list[Generate]] = []

    def run(self, requests, progress=None):
        self.calls.append(list(requests))
        out = []
        for r in requests:
            text = self.tokenizer.decode(r.prompt_ids, skip_special_tokens=True)
            out.append(f"  Reasoning on {text[-40:-26]!r}.\n" if text.endswith("step by step:")
                       else "The correct answer is (B)")
            if progress:
                progress(1)
        return out


def test_chain_of_thought_reasons_then_answers_in_two_batched_rounds():
    tok = byte_level()
    fam = family("longbench_v2_cot")
    runner, seen = FakeRunner(tok), []
    triples = fam.evaluate(runner, 2048, 0, None, progress=seen.append)
    reasoning_round, answer_round = runner.calls
    assert len(reasoning_round) == len(answer_round) == len(RECORDS) == len(triples) == sum(seen)
    for r in reasoning_round:
        assert r.max_new_tokens == 1024 and len(r.prompt_ids) == 2048 - 1024
    for (sample, output, scores), r, record in zip(triples, answer_round, RECORDS, strict=True):
        text = tok.decode(r.prompt_ids, skip_special_tokens=True)
        reasoning = sample.meta["response_cot"]
        assert reasoning.startswith("Reasoning on") and reasoning == reasoning.strip()
        assert f"Let’s think step by step: {reasoning}\n\nBased on the above" in text
        assert "The text is too long and omitted here." in text and record["context"][:200] not in text
        assert f"question: {record['question'].strip()}\nChoices:\n(A) {record['choice_A']}" in text
        assert r.max_new_tokens == 128 and sample.meta["answer_prompt_tokens"] == len(r.prompt_ids)
        assert "answer_prompt" not in sample.meta and sample.truncated_tokens > 0
        assert output == "The correct answer is (B)"
        assert scores["accuracy"] == (100.0 if record["answer"] == "B" else 0.0)
    assert fam.evaluate(FakeRunner(tok), 2048, 0, 2)[1][0].id == RECORDS[1]["_id"]  # limit


# -- data files -----------------------------------------------------------------------------------
def test_data_json_flat_or_in_a_subfolder_and_a_parquet_export(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    assert load(str(FIXTURES)) == RECORDS  # FIXTURES/longbench_v2/data.json
    flat = tmp_path / "flat"
    flat.mkdir()
    shutil.copy(FIXTURES / "longbench_v2/data.json", flat / "data.json")
    assert load(str(flat)) == RECORDS
    export = tmp_path / "export" / "longbench_v2"
    export.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(RECORDS), export / "data.parquet")
    assert load(str(tmp_path / "export")) == RECORDS


def test_a_record_without_a_field_is_refused(tmp_path):
    (tmp_path / "data.json").write_text(json.dumps([{k: v for k, v in RECORDS[0].items() if k != "choice_C"}]))
    with pytest.raises(UsageError, match="record 0 has no choice_C"):
        family(data_dir=str(tmp_path)).samples(byte_level(), 512, 0, 1)


@pytest.fixture
def no_model_loads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded for bad input")

    monkeypatch.setattr("toroidal_bench.models.loading.load_model", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.mark.parametrize("extra, says", [
    (["--data-dir", "{empty}"], "missing data.json in {empty}/longbench_v2 or {empty}"),
    ([], "missing data.json (no --data-dir given)"),
    (["--data-dir", str(FIXTURES), "--chat-template"], "tokenizer has no chat template"),
])
def test_bad_input_is_one_line_before_a_model_loads(tmp_path, no_model_loads, extra, says):
    (tmp_path / "empty").mkdir()
    out = tmp_path / "out" / "r.parquet"
    extra = [a.format(empty=tmp_path / "empty") for a in extra]
    r = cli.invoke(app, ["run", "task", "longbench_v2", "-m", "random:llama-tiny", "-L", "512", *extra,
                         "--out", str(out)])
    assert r.exit_code == 2, r.output
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert says.format(empty=tmp_path / "empty") in lines[0]
    if "data.json" in says:
        assert DATA.fetch in lines[0]
    assert not out.parent.exists()


def test_chain_of_thought_without_data_is_refused_before_a_model_loads(tmp_path, no_model_loads):
    r = cli.invoke(app, ["run", "task", "longbench_v2_cot", "-m", "random:llama-tiny", "-L", "2048",
                         "--data-dir", str(tmp_path), "--out", str(tmp_path / "out" / "r.parquet")])
    assert r.exit_code == 2 and "missing data.json" in r.output, r.output


# -- end to end -----------------------------------------------------------------------------------
def _run(tmp_path, task, *extra):
    out = tmp_path / f"{task}.parquet"
    r = cli.invoke(app, ["run", "task", task, "-m", "random:llama-tiny", "-L", "512", "-n", "2",
                         "--data-dir", str(FIXTURES), *extra, "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = results.read(out)
    assert rows["error"].isna().all()
    assert sorted(set(rows.sample_id)) == [RECORDS[0]["_id"], RECORDS[1]["_id"]]
    assert sorted(set(rows.metric)) == ["accuracy", "accuracy_easy", "accuracy_hard", "accuracy_medium",
                                        "accuracy_short"]
    assert rows.value.isin([0.0, 100.0]).all() and (rows.truncated_tokens > 0).all()
    assert all(json.loads(m)["chat_template"] is False for m in rows.meta)
    return rows


def test_cli_runs_zero_shot_on_the_fixtures(tmp_path):
    rows = _run(tmp_path, "longbench_v2", "--param", "max_new_tokens=16")  # 128 takes a CPU 20 s
    assert (rows.prompt_tokens == 512 - 16).all()


def test_cli_runs_chain_of_thought_on_the_fixtures(tmp_path):
    rows = _run(tmp_path, "longbench_v2_cot", "--param", "max_new_tokens=16", "--param", "answer_max_new_tokens=8")
    assert (rows.prompt_tokens == 512 - 16).all()  # the reasoning prompt's
    assert all("response_cot" in json.loads(m) for m in rows.meta)
