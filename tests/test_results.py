import json

import pyarrow.parquet as pq
import pytest
from helpers import rows, write

from toroidal_bench import results
from toroidal_bench.errors import ResultsError, UsageError
from toroidal_bench.evaluate import Reporter, RunOptions, run_cells
from toroidal_bench.suites import expand


def test_schema_is_declared_once_with_docs_and_required_columns():
    names = [f.name for f in results.SCHEMA]
    for col in ("run_id", "model_spec", "spec_hash", "model", "encoding", "task", "context_length", "depth",
                "sample_id", "metric", "position", "position_end", "value", "prediction", "reference", "prompt_hash", "prompt_tokens",
                "truncated_tokens", "latency_s", "error"):
        assert col in names
    assert all(f.metadata[b"doc"] for f in results.SCHEMA)


def test_write_read_round_trip_with_metadata(tmp_path):
    path = write(tmp_path / "a.parquet", rows("m+x", "passkey", 512, "accuracy", [1.0, 0.0]), {"run_id": "r1"})
    df = results.read(path)
    assert list(df["value"]) == [1.0, 0.0]
    assert df.attrs["run"] == {"run_id": "r1"}
    assert pq.read_schema(path).metadata[b"tbench.schema_version"] == results.SCHEMA_VERSION.encode() == b"2"
    assert not list(tmp_path.glob(".*tmp"))  # no temp files left behind


def test_missing_corrupt_and_foreign_files_are_results_errors(tmp_path):
    with pytest.raises(ResultsError, match="no results file"):
        results.read(tmp_path / "nope.parquet")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(ResultsError, match="not a readable Parquet"):
        results.read(tmp_path / "bad.parquet")
    import pyarrow as pa

    pq.write_table(pa.table({"x": [1]}), tmp_path / "other.parquet")
    with pytest.raises(ResultsError, match="missing columns"):
        results.read(tmp_path / "other.parquet")


def _cells(lengths=(256, 512)):
    return expand(["random:llama-tiny+rope", "random:llama-tiny+alibi"], ["passkey"], list(lengths), limit=3)


class CrashAfter(Reporter):
    def __init__(self, n):
        self.n = n

    def cell_done(self, cell, error):
        self.n -= 1
        if self.n == 0:
            raise KeyboardInterrupt


def _key_counts(df):
    return df.groupby(["cell_id", "sample_id", "metric"]).size()


def test_a_run_writes_rows_prompts_and_metadata(tmp_path):
    out = tmp_path / "run.parquet"
    summary = run_cells(_cells(), RunOptions(out=out, suite="t"))
    df = results.read(out)
    assert summary.rows == len(df) == 4 * 3
    assert set(df["context_length"]) == {256, 512} and df["error"].isna().all()
    short = df["context_length"] - 6 - df["prompt_tokens"]  # passkey: whole noise lines of 90 bytes
    assert ((short >= 0) & (short < 90)).all()
    side = pq.read_table(results.prompts_path(out)).to_pandas()
    assert set(side["prompt_hash"]) == set(df["prompt_hash"]) and side["prompt_hash"].is_unique
    meta = df.attrs["run"]
    assert meta["suite"] == "t" and meta["run_id"] == df["run_id"].iloc[0] and meta["torch_version"]
    assert not results.shard_dir(out).exists()


def test_resume_after_a_hard_crash_loses_and_duplicates_nothing(tmp_path, monkeypatch):
    out = tmp_path / "run.parquet"
    real_finalize = results.finalize
    monkeypatch.setattr(results, "finalize", lambda *a, **k: None)  # the process dies: no merge
    with pytest.raises(KeyboardInterrupt):
        run_cells(_cells(), RunOptions(out=out), CrashAfter(2))
    assert not out.exists() and len(list(results.shard_dir(out).glob("*.parquet"))) >= 2
    monkeypatch.setattr(results, "finalize", real_finalize)
    with pytest.raises(UsageError, match="interrupted run left cell shards"):
        run_cells(_cells(), RunOptions(out=out))
    summary = run_cells(_cells(), RunOptions(out=out, resume=True))
    assert summary.skipped == 2 and summary.cells == 2
    df = results.read(out)
    assert len(df) == 12 and (_key_counts(df) == 1).all()
    assert df["run_id"].nunique() == 1


def test_interrupted_run_keeps_finished_cells_and_resume_completes_it(tmp_path):
    out = tmp_path / "run.parquet"
    with pytest.raises(KeyboardInterrupt):
        run_cells(_cells(), RunOptions(out=out), CrashAfter(3))
    assert len(results.read(out)) == 9
    run_cells(_cells(), RunOptions(out=out, resume=True))
    df = results.read(out)
    assert len(df) == 12 and (_key_counts(df) == 1).all()


def test_failed_cells_are_recorded_and_rerun_on_resume(tmp_path, monkeypatch):
    from toroidal_bench.tasks.passkey import Passkey

    out = tmp_path / "run.parquet"
    real = Passkey.score
    monkeypatch.setattr(Passkey, "score", lambda self, s, o: (_ for _ in ()).throw(RuntimeError("boom")))
    summary = run_cells(_cells([256]), RunOptions(out=out))
    assert len(summary.failed) == 2
    df = results.read(out)
    assert df["error"].str.contains("RuntimeError: boom").all() and df["value"].isna().all()
    monkeypatch.setattr(Passkey, "score", real)
    summary = run_cells(_cells([256]), RunOptions(out=out, resume=True))
    df = results.read(out)
    assert summary.cells == 2 and not summary.failed
    assert df["error"].isna().all() and len(df) == 6 and (_key_counts(df) == 1).all()


def test_a_model_that_cannot_load_fails_its_cells_not_the_run(tmp_path):
    cells = expand(["hf:no-such-org/no-such-model", "random:llama-tiny"], ["passkey"], [256], limit=2)
    summary = run_cells(cells, RunOptions(out=tmp_path / "r.parquet"))
    df = results.read(tmp_path / "r.parquet")
    assert len(summary.failed) == 1
    bad = df[df["model_spec"] == "hf:no-such-org/no-such-model"]
    assert len(bad) == 1 and "cannot load 'no-such-org/no-such-model'" in bad["error"].iloc[0]
    assert df[df["model_spec"] == "random:llama-tiny"]["error"].isna().all()


def test_existing_output_is_never_clobbered_without_a_flag(tmp_path):
    out = write(tmp_path / "a.parquet", rows("m", "passkey", 256, "accuracy", [1.0]))
    before = out.read_bytes()
    with pytest.raises(UsageError, match="results exist") as info:
        run_cells(_cells([256]), RunOptions(out=out))
    assert "--resume" in info.value.line() and "--overwrite" in info.value.line()
    assert out.read_bytes() == before


def test_meta_column_is_json(tmp_path):
    out = tmp_path / "m.parquet"
    run_cells(expand(["random:llama-tiny"], ["passkey"], [256], limit=1), RunOptions(out=out))
    meta = results.read(out)["meta"].iloc[0]
    assert meta is None or meta != meta or isinstance(json.loads(meta), dict)


def _with_column(table, name, array):
    return table.set_column(table.schema.get_field_index(name), name, array)


def test_wrongly_typed_or_damaged_files_are_one_line_results_errors(tmp_path):
    import pyarrow as pa

    good = results.to_table(rows("m", "passkey", 256, "accuracy", [1.0, 0.0]), {"run_id": "r"})
    cases = {
        "lengths_as_text": _with_column(good, "context_length", pa.array(["256", "256"])),
        "values_as_text": _with_column(good, "value", pa.array(["1", "0"])),
        "ids_as_numbers": _with_column(good, "sample_id", pa.array([0, 1])),
        "repeated_column": good.append_column("task", pa.array(["x", "y"])),
    }
    for name, table in cases.items():
        pq.write_table(table, tmp_path / f"{name}.parquet")
        with pytest.raises(ResultsError, match="is not a (tbench results|readable Parquet) file") as info:
            results.read(tmp_path / f"{name}.parquet")
        assert "\n" not in info.value.line()
    with pytest.raises(ResultsError, match="column context_length is string, not int64"):
        results.read(tmp_path / "lengths_as_text.parquet")

    write(tmp_path / "whole.parquet", rows("m", "passkey", 256, "accuracy", [1.0] * 50))
    data = (tmp_path / "whole.parquet").read_bytes()
    (tmp_path / "cut.parquet").write_bytes(data[: len(data) // 2])
    with pytest.raises(ResultsError, match="not a readable Parquet file"):
        results.read(tmp_path / "cut.parquet")

    pq.write_table(good.replace_schema_metadata({b"tbench.run": b"{not json"}), tmp_path / "meta.parquet")
    with pytest.raises(ResultsError, match="unreadable run metadata"):
        results.read(tmp_path / "meta.parquet")


def test_narrower_numbers_and_all_null_columns_still_read(tmp_path):
    import pyarrow as pa

    good = results.to_table(rows("m", "passkey", 256, "accuracy", [1.0, 0.0]))
    narrow = _with_column(_with_column(good, "context_length", pa.array([256, 256], pa.int32())),
                          "depth", pa.nulls(2))
    pq.write_table(narrow, tmp_path / "n.parquet")
    assert results.read_table(tmp_path / "n.parquet").schema.equals(results.SCHEMA)


def test_compare_on_a_wrongly_typed_file_exits_2(tmp_path):
    import pyarrow as pa
    from typer.testing import CliRunner

    from toroidal_bench.cli import app

    good = results.to_table(rows("m", "passkey", 256, "accuracy", [1.0]))
    pq.write_table(_with_column(good, "context_length", pa.array(["abc"])), tmp_path / "bad.parquet")
    r = CliRunner().invoke(app, ["compare", str(tmp_path / "bad.parquet")])
    assert r.exit_code == 2 and "column context_length is string" in r.output and "internal error" not in r.output


def _version_1_file(path, rs):
    """A results file as version 1 wrote it: no position columns, version 1 in the metadata."""
    table = results.to_table(rs, {"run_id": "old"}).drop_columns(["position", "position_end"])
    meta = {**table.schema.metadata, b"tbench.schema_version": b"1"}
    pq.write_table(table.replace_schema_metadata(meta), path)
    return path


def test_version_1_files_read_with_null_positions(tmp_path):
    old = _version_1_file(tmp_path / "old.parquet", rows("m", "passkey", 512, "accuracy", [1.0, 0.0]))
    df = results.read(old)
    assert list(df.columns) == [n for n, _, _ in results.COLUMNS]
    assert df["position"].isna().all() and df["position_end"].isna().all() and list(df["value"]) == [1.0, 0.0]


def test_a_newer_schema_version_is_refused_in_one_line(tmp_path):
    path = write(tmp_path / "new.parquet", rows("m", "t", 256, "acc", [1.0]))
    table = pq.read_table(path)
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"tbench.schema_version": b"3"}), path)
    with pytest.raises(ResultsError, match="schema version 3; this tbench reads 1, 2"):
        results.read(path)


def test_positions_round_trip_and_a_version_1_run_file_resumes_into_version_2(tmp_path):
    positioned = [dict(r, position=p, position_end=2 * p) for r, p in zip(rows("m", "t", 256, "nll", [1.0, 2.0]), (1, 2),
                                                                            strict=True)]
    df = results.read(write(tmp_path / "p.parquet", positioned))
    assert list(df["position"]) == [1, 2] and list(df["position_end"]) == [2, 4]
    out = _version_1_file(tmp_path / "run.parquet", rows("m", "t", 256, "acc", [1.0], cell="old"))
    results.write_shard(out, "new", rows("m", "t", 512, "acc", [0.0], cell="new"), {}, {"run_id": "r"})
    merged = results.finalize(out, {"run_id": "r"})
    assert merged.num_rows == 2 and pq.read_schema(out).metadata[b"tbench.schema_version"] == b"2"


def test_results_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    from helpers import rows, write

    old = os.umask(0o022)
    try:
        path = write(tmp_path / "r.parquet", rows("m", "passkey", 256, "accuracy", [1.0]))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
