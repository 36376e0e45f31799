"""InfiniteBench's real-data tasks through the CLI: end to end on the fixtures with a random model,
missing files refused before any model loads, and records read fast from a file of a real file's size."""

from __future__ import annotations

import json
import time

import pytest
from typer.testing import CliRunner

from toroidal_bench import results
from toroidal_bench.cli import app
from toroidal_bench.tasks.cache import cached_samples
from toroidal_bench.tasks.catalog import get_task

cli = CliRunner()
FIXTURES = "tests/fixtures/infinitebench"


def test_six_tasks_run_end_to_end_on_the_fixtures(tmp_path):
    out = tmp_path / "run.parquet"
    tasks = ["longbook_qa_eng", "longbook_qa_chn", "longbook_choice_eng", "longdialogue_qa_eng", "code_debug",
             "code_run"]
    r = cli.invoke(app, ["run", "task", *tasks, "-m", "random:llama-tiny", "-L", "512", "-n", "1",
                         "--data-dir", FIXTURES, "--out", str(out)])
    assert r.exit_code == 0, r.output
    df = results.read(out)
    assert df["error"].isna().all()
    assert df.groupby("task")["metric"].first().to_dict() == {
        "longbook_qa_eng": "qa_f1", "longbook_qa_chn": "qa_f1_zh_char", "longbook_choice_eng": "accuracy",
        "longdialogue_qa_eng": "accuracy", "code_debug": "accuracy", "code_run": "accuracy"}
    assert len(df) == len(tasks) and set(df["sample_id"]) == {"0"}
    assert (df["truncated_tokens"] > 0).all() and df["value"].between(0, 1).all()
    meta = df.set_index("task")["meta"].map(json.loads)
    assert all(m["chat_template"] is False for m in meta)


def test_the_long_answer_tasks_run_with_a_smaller_budget(tmp_path):
    out = tmp_path / "run.parquet"
    r = cli.invoke(app, ["run", "task", "longbook_sum_eng", "math_calc", "-m", "random:llama-tiny", "-L", "512",
                         "-n", "2", "-p", "max_new_tokens=8", "--data-dir", FIXTURES, "--out", str(out)])
    assert r.exit_code == 0, r.output
    df = results.read(out)
    assert df["error"].isna().all() and sorted(set(df["metric"])) == ["prefix_accuracy", "rougeLsum"]
    assert len(df) == 4 and df["value"].between(0, 1).all() and (df["truncated_tokens"] > 0).all()


@pytest.fixture
def no_model_loads(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded for missing data")

    monkeypatch.setattr("toroidal_bench.models.loading.load_model", refuse)


@pytest.mark.parametrize("data_dir", [True, False])
def test_missing_data_is_refused_before_the_model_loads(tmp_path, monkeypatch, no_model_loads, data_dir):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "data").mkdir()
    out = tmp_path / "out" / "r.parquet"
    args = ["run", "task", "code_run", "-m", "random:llama-tiny", "-L", "512", "--out", str(out)]
    r = cli.invoke(app, args + (["--data-dir", str(tmp_path / "data")] if data_dir else []))
    assert r.exit_code == 2, r.output
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert "code_run.jsonl" in lines[0] and "Traceback" not in r.output
    assert "hf download xinrongzhang2022/InfiniteBench code_run.jsonl --repo-type dataset" in lines[0]
    assert ("no --data-dir given" in lines[0]) is not data_dir
    assert not out.parent.exists()


def test_a_too_short_length_is_refused_before_the_model_loads(tmp_path, no_model_loads):
    r = cli.invoke(app, ["run", "task", "math_calc", "-m", "random:llama-tiny", "-L", "4096", "--data-dir", FIXTURES,
                         "--out", str(tmp_path / "r.parquet")])
    assert r.exit_code == 2 and "too short" in r.output and "30000" in r.output


def test_records_of_a_file_the_size_of_longbook_sum_eng_load_fast(tmp_path):
    """En.Sum's file is 78.6 MB (103 books): reading the records and building the first sample at 128K
    takes about a second here (0.9 s measured), and a second run reads the sample cache (0.02 s); the
    bounds leave room for a busy machine."""
    from tests.tasks_tokenizers import trained_bpe

    record = json.loads(open(f"{FIXTURES}/longbook_sum_eng.jsonl", encoding="utf-8").readline())
    record["context"] *= 780_000 // len(record["context"])  # ~780 KB per book, as the original's
    folder = tmp_path / "infinitebench"
    folder.mkdir()
    with open(folder / "longbook_sum_eng.jsonl", "w", encoding="utf-8") as fh:
        for i in range(103):
            fh.write(json.dumps({**record, "id": i}) + "\n")
    assert (folder / "longbook_sum_eng.jsonl").stat().st_size > 78e6
    td = get_task("longbook_sum_eng")
    fam = type(td.build())(**td.params, data_dir=str(tmp_path))
    fam.name = td.family
    tok = trained_bpe("gpt2")
    start = time.perf_counter()
    first = cached_samples("longbook_sum_eng", fam, tok, 131072, 0, 1)
    built = time.perf_counter() - start
    start = time.perf_counter()
    again = cached_samples("longbook_sum_eng", fam, tok, 131072, 0, 1)
    cached = time.perf_counter() - start
    assert first == again and first[0].prompt_tokens == 131072 - 1200 and first[0].truncated_tokens > 0
    assert built < 4.0 and cached < 0.5, (built, cached)
