"""LongBench through the CLI: listed, refused without data before any model loads, run end to end."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from tasks_tokenizers import byte_level
from test_longbench_tasks import TASKS, family
from typer.testing import CliRunner

from toroidal_bench import results
from toroidal_bench.cli import app
from toroidal_bench.suites import load_suite

FIXTURES = Path(__file__).parent / "fixtures" / "longbench"
cli = CliRunner()


def test_list_tasks_shows_all_34(monkeypatch):
    from toroidal_bench.cli.output import console

    monkeypatch.setattr(console, "width", 300)  # room for the longest name on one line
    r = cli.invoke(app, ["list", "tasks"])
    assert r.exit_code == 0, r.output
    listed = {line.split("│")[1].strip() for line in r.output.splitlines() if line.count("│") >= 3}
    assert set(TASKS) <= listed


def test_suites_hold_the_original_task_sets():
    v1, e = load_suite("longbench"), load_suite("longbench_e")
    assert sorted(v1.tasks) == sorted(t for t in TASKS if not t.endswith("_e"))
    assert sorted(e.tasks) == sorted(t for t in TASKS if t.endswith("_e"))
    assert v1.lengths == e.lengths == (32012,) and v1.limit is None


@pytest.mark.parametrize("extra", [[], ["--data-dir", "EMPTY"]])
def test_missing_data_exits_2_with_one_line_before_any_model_loads(tmp_path, monkeypatch, extra):
    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded without data")

    monkeypatch.setattr("toroidal_bench.models.loading.load_model", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "empty").mkdir()
    extra = [str(tmp_path / "empty") if a == "EMPTY" else a for a in extra]
    out = tmp_path / "r.parquet"
    r = cli.invoke(app, ["run", "task", "longbench.qasper_e", "-m", "random:llama-tiny", "-L", "512",
                         "--out", str(out), *extra], terminal_width=400)
    assert r.exit_code == 2, r.output
    lines = [x for x in r.output.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert "data/qasper_e.jsonl" in lines[0]
    assert "hf download THUDM/LongBench data.zip --repo-type dataset --local-dir DATA/longbench" in lines[0]
    assert not out.exists()


def test_run_end_to_end_on_fixtures(tmp_path):
    out = tmp_path / "r.parquet"
    tasks = ["longbench.multifieldqa_zh", "longbench.trec_e"]
    r = cli.invoke(app, ["run", "task", *tasks, "-m", "random:llama-tiny", "-L", "512", "--limit", "2",
                         "--data-dir", str(FIXTURES), "--out", str(out)])
    assert r.exit_code == 0, r.output
    df = results.read(out)
    assert df["error"].isna().all()
    metrics = {t: set(df[df.task == t].metric) for t in tasks}
    assert metrics == {"longbench.multifieldqa_zh": {"qa_f1_zh_score"}, "longbench.trec_e": {"classification_score", "classification_score_0-4k",
                                            "classification_score_4-8k"}}
    assert df.value.between(0, 100).all()
    assert (df.prompt_tokens <= 512 - 64).all() and (df.truncated_tokens > 0).any()
    for _, row in df.iterrows():
        meta = json.loads(row.meta)
        assert meta["chat_template"] is False and meta["dataset"] in row.task
        assert json.loads(row.reference)  # the answers list
    trec = df[df.task == "longbench.trec_e"]
    assert sorted(json.loads(m)["length_bucket"] for m in trec.drop_duplicates("sample_id").meta) == ["0-4k", "4-8k"]


def test_samples_of_a_real_sized_file_load_fast(tmp_path):
    """narrativeqa.jsonl, LongBench's largest file: 200 records of 18,409 words on average (~23 MB)."""
    record = json.loads((FIXTURES / "data" / "narrativeqa.jsonl").read_text("utf-8").splitlines()[2])
    words = record["context"].split()
    record["context"] = " ".join((words * (18_409 // len(words) + 1))[:18_409])
    (tmp_path / "data").mkdir()
    with open(tmp_path / "data" / "narrativeqa.jsonl", "w", encoding="utf-8") as fh:
        for i in range(200):
            fh.write(json.dumps({**record, "_id": f"{i:048x}"}) + "\n")
    fam = family("longbench.narrativeqa", data_dir=str(tmp_path))
    start = time.perf_counter()
    first = next(iter(fam.samples(byte_level(), 32012, 0, None)))  # what the preflight asks for
    elapsed = time.perf_counter() - start
    assert first.truncated_tokens > 0 and first.prompt_tokens == 32012 - 128
    assert elapsed < 2.0, f"{elapsed:.2f} s"
