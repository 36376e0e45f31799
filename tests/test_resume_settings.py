"""Resume does exactly the missing work, or refuses (exit 2) naming what differs."""

import pytest
from helpers import rows, write
from typer.testing import CliRunner

from toroidal_bench import results
from toroidal_bench.cli import app
from toroidal_bench.errors import UsageError
from toroidal_bench.evaluate import RunOptions, run_cells
from toroidal_bench.suites import expand

SPEC = "random:llama-tiny"


def _unique(df):
    return (df.groupby(["model_spec", "task", "context_length", "sample_id", "metric"]).size() == 1).all()


def test_resume_with_other_settings_is_refused_and_other_cells_are_exactly_added(tmp_path):
    out = tmp_path / "r.parquet"
    run_cells(expand([SPEC], ["passkey"], [256], limit=2), RunOptions(out=out))
    before = out.read_bytes()
    with pytest.raises(UsageError) as info:
        run_cells(expand([SPEC], ["passkey"], [256], limit=3), RunOptions(out=out, resume=True))
    assert str(info.value) == f"{out} holds {SPEC} · passkey @ 256 made with limit=2; this run asks for limit=3"
    with pytest.raises(UsageError, match="made with seed=0; this run asks for seed=7"):
        run_cells(expand([SPEC], ["passkey"], [256], limit=2, seed=7), RunOptions(out=out, resume=True))
    expected = f"made with haystack_dir=null; this run asks for haystack_dir=\"{tmp_path}\"$"
    with pytest.raises(UsageError, match=expected):
        run_cells(expand([SPEC], ["passkey"], [256], limit=2, params={"haystack_dir": str(tmp_path)}),
                  RunOptions(out=out, resume=True))
    assert out.read_bytes() == before and not results.shard_dir(out).exists()

    # another length and another model: exactly the missing cells run
    more = expand([SPEC, f"{SPEC}+alibi"], ["passkey"], [256, 320], limit=2)
    summary = run_cells(more, RunOptions(out=out, resume=True))
    assert (summary.cells, summary.skipped) == (3, 1)
    df = results.read(out)
    assert len(df) == 4 * 2 and _unique(df)
    # fewer models than the file holds: nothing to do, nothing lost
    summary = run_cells(expand([SPEC], ["passkey"], [320], limit=2), RunOptions(out=out, resume=True))
    assert (summary.cells, summary.skipped) == (0, 1) and len(results.read(out)) == 8


def test_a_file_without_recorded_settings_is_refused_without_guessing(tmp_path):
    out = write(tmp_path / "r.parquet", rows(SPEC, "passkey", 256, "accuracy", [1.0, 0.0]))
    with pytest.raises(UsageError, match="made with other --limit, --seed or task parameters than this run"):
        run_cells(expand([SPEC], ["passkey"], [256], limit=2), RunOptions(out=out, resume=True))


def test_resume_and_overwrite_together_are_refused_before_anything_is_touched(tmp_path):
    out = write(tmp_path / "r.parquet", rows(SPEC, "passkey", 256, "accuracy", [1.0]))
    before = sorted(p.name for p in tmp_path.iterdir())
    r = CliRunner().invoke(app, ["run", "task", "passkey", "-m", SPEC, "-L", "256", "-o", str(out),
                                 "--resume", "--overwrite"])
    assert r.exit_code == 2 and "--resume and --overwrite contradict each other" in r.output
    assert "Traceback" not in r.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_a_resumed_run_refuses_a_results_file_of_the_wrong_types(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = results.to_table(rows(SPEC, "passkey", 256, "accuracy", [1.0]))
    i = table.schema.get_field_index("context_length")
    pq.write_table(table.set_column(i, "context_length", pa.array(["256"])), tmp_path / "r.parquet")
    r = CliRunner().invoke(app, ["run", "task", "passkey", "-m", SPEC, "-L", "256", "-o", str(tmp_path / "r.parquet"),
                                 "--resume"])
    assert r.exit_code == 2, r.output
    assert "column context_length is string, not int64" in r.output and "Traceback" not in r.output
