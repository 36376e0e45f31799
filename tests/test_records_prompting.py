"""Reading benchmark files as the originals ship them, and fitting their prompts into a length."""

from __future__ import annotations

import json
import zipfile

import pytest
from tasks_tokenizers import trained_bpe

from toroidal_bench.errors import UsageError
from toroidal_bench.tasks.pieces import encoder_for
from toroidal_bench.tasks.prompting import chat_frame, fit, middle
from toroidal_bench.tasks.records import DataFiles, load_records, require_fields

FILES = DataFiles("bench", ("data/t.jsonl", "data.zip:data/t.jsonl"), fetch="run: fetch-bench")
ROWS = [{"input": "a", "answers": ["x"]}, {"input": "b", "answers": ["y", "z"]}]


def _jsonl(rows) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


@pytest.mark.parametrize("layout", ["subfolder", "flat", "zip"])
def test_records_found_in_every_original_layout(tmp_path, layout):
    root = tmp_path / "bench" if layout == "subfolder" else tmp_path
    root.mkdir(exist_ok=True)
    if layout == "zip":
        with zipfile.ZipFile(root / "data.zip", "w") as z:
            z.writestr("data/t.jsonl", _jsonl(ROWS))
    else:
        (root / "data").mkdir()
        (root / "data" / "t.jsonl").write_text(_jsonl(ROWS))
    assert load_records(FILES, str(tmp_path)) == ROWS


def test_json_and_parquet_records(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "a.json").write_text(json.dumps(ROWS))
    pq.write_table(pa.Table.from_pylist(ROWS), tmp_path / "b.parquet")
    assert load_records(DataFiles("x", ("a.json",)), str(tmp_path)) == ROWS
    assert load_records(DataFiles("x", ("b.parquet",)), str(tmp_path)) == ROWS


def test_an_edited_file_is_read_again(tmp_path):
    (tmp_path / "data").mkdir()
    path = tmp_path / "data" / "t.jsonl"
    path.write_text(_jsonl(ROWS))
    assert len(load_records(FILES, str(tmp_path))) == 2
    path.write_text(_jsonl(ROWS * 2) + "\n")
    assert len(load_records(FILES, str(tmp_path))) == 4


def test_missing_files_name_the_file_and_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UsageError) as err:
        load_records(FILES, str(tmp_path))
    assert "data/t.jsonl" in str(err.value) and str(tmp_path) in str(err.value)
    assert err.value.fix == "run: fetch-bench"
    with pytest.raises(UsageError, match="no --data-dir"):
        load_records(FILES, None)


@pytest.mark.parametrize("content, message", [
    ('{"a": 1}\nnot json\n', "line 2 is not JSON"),
    ('[1, 2]\n', "not JSON|list of records"),
    (b"\xff\xfe", "not UTF-8"),
])
def test_malformed_files_are_one_line_errors(tmp_path, content, message):
    (tmp_path / "data").mkdir()
    path = tmp_path / "data" / "t.jsonl"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(UsageError, match=message):
        load_records(FILES, str(tmp_path))


def test_a_wrong_zip_member_is_named(tmp_path):
    with zipfile.ZipFile(tmp_path / "data.zip", "w") as z:
        z.writestr("other.jsonl", _jsonl(ROWS))
    with pytest.raises(UsageError, match="holds no data/t.jsonl"):
        load_records(FILES, str(tmp_path))


def test_required_fields():
    require_fields(ROWS, ("input", "answers"), "f")
    with pytest.raises(UsageError, match="record 1 has no length"):
        require_fields([{"length": 1}, {}], ("length",), "f")


def test_middle_keeps_both_ends():
    ids = list(range(10))
    assert middle(ids, 4) == [0, 1, 8, 9]
    assert middle(ids, 5) == [0, 1, 7, 8, 9]
    assert middle(ids, 10) == ids and middle(ids, 99) == ids


def test_fit_truncates_the_middle_of_the_text_to_the_budget():
    tok = trained_bpe("gpt2")
    enc = encoder_for(tok)
    text = "Instruction first. " + "filler words here " * 400 + "Question last?"
    whole = tok(text, add_special_tokens=False)["input_ids"]
    fitted = fit(enc, text, 100)
    assert len(fitted.ids) == 100 and fitted.ids[: len(enc.prefix)] == enc.prefix
    assert fitted.truncated_tokens == len(whole) - (100 - len(enc.prefix))
    decoded = tok.decode(fitted.ids, skip_special_tokens=True)
    assert decoded.startswith("Instruction first.") and decoded.endswith("Question last?")
    short = fit(enc, "short text", 100)
    assert short.truncated_tokens == 0 and tok.decode(short.ids, skip_special_tokens=True) == "short text"


def test_chat_template_frames_the_prompt_and_counts_in_the_budget():
    tok = trained_bpe("gpt2")
    enc = encoder_for(tok)
    with pytest.raises(UsageError, match="no chat template"):
        fit(enc, "hello", 50, chat=True)
    tok.chat_template = ("{% for m in messages %}<s>[USER] {{ m['content'] }} [/USER]{% endfor %}"
                         "{% if add_generation_prompt %} [BOT]{% endif %}")
    try:
        before, after = chat_frame(tok)
        fitted = fit(enc, "word " * 300, 60, chat=True)
        assert len(fitted.ids) == 60 and fitted.chat_template
        assert fitted.ids[: len(before)] == before and fitted.ids[-len(after):] == after
        assert tok.decode(fitted.ids).endswith("[/USER] [BOT]")
    finally:
        tok.chat_template = None


def test_chat_template_option_applies_only_where_a_family_reads_it():
    from toroidal_bench.suites import expand

    with pytest.raises(UsageError, match="none of these tasks applies a chat template"):
        expand(["random:llama-tiny"], ["passkey"], [256], chat_template=True)


@pytest.mark.parametrize("zipped", [False, True])
def test_a_limit_reads_a_jsonl_file_only_that_far(tmp_path, zipped):
    text = _jsonl(ROWS) + "not json: never read with a limit of 2\n"
    if zipped:
        with zipfile.ZipFile(tmp_path / "data.zip", "w") as z:
            z.writestr("data/t.jsonl", text)
    else:
        (tmp_path / "data").mkdir()
        (tmp_path / "data" / "t.jsonl").write_text(text)
    assert load_records(FILES, str(tmp_path), limit=1) == ROWS[:1]
    assert load_records(FILES, str(tmp_path), limit=2) == ROWS
    with pytest.raises(UsageError, match="line 3 is not JSON"):
        load_records(FILES, str(tmp_path), limit=3)
    with pytest.raises(UsageError, match="line 3 is not JSON"):
        load_records(FILES, str(tmp_path))


def test_fit_all_equals_fit_one_by_one_across_batches():
    from toroidal_bench.tasks.prompting import fit_all

    tok = trained_bpe("gpt2")
    enc = encoder_for(tok)
    texts = [f"Question {i}: " + "some words here " * (i * 7) + "end?" for i in range(37)] + [""]
    one_by_one = [fit(enc, t, 64) for t in texts]
    assert list(fit_all(enc, texts, 64, batch=5)) == one_by_one
    assert any(f.truncated_tokens for f in one_by_one) and any(not f.truncated_tokens for f in one_by_one)
