"""A crash at the dangerous instants of a run never duplicates or loses rows on resume.

Real processes are killed (SIGKILL, SIGINT) at the instants where the files change: after the merged
run file is written and before the cell shards are removed, and inside the final write (a full-size
temp file not yet renamed)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pytest
from helpers import rows, write

from toroidal_bench import results
from toroidal_bench.evaluate import RunOptions, run_cells
from toroidal_bench.suites import expand

ROOT = Path(__file__).resolve().parents[1]
SPEC = "random:llama-tiny"
LENGTHS = [256, 320]

# runs two cells, killing itself with SIGKILL at the instant named by argv[2]
KILLED_RUN = f"""
import os, signal, sys
from pathlib import Path
from toroidal_bench import results
from toroidal_bench.evaluate import RunOptions, run_cells
from toroidal_bench.suites import expand

out, instant, overwrite = Path(sys.argv[1]), sys.argv[2], sys.argv[3] == "overwrite"
kill = lambda: os.kill(os.getpid(), signal.SIGKILL)
if instant == "after-final-write":
    write = results.write_atomic
    def write_then_die(table, path):
        write(table, path)
        if Path(path) == out:
            kill()
    results.write_atomic = write_then_die
elif instant == "in-final-write":
    replace = os.replace
    def die_before_rename(src, dst):
        if Path(dst) == out:
            kill()
        replace(src, dst)
    os.replace = die_before_rename
cells = expand([{SPEC!r}], ["passkey"], {LENGTHS!r}, limit=2)
run_cells(cells, RunOptions(out=out, overwrite=overwrite))
"""


def _cells():
    return expand([SPEC], ["passkey"], LENGTHS, limit=2)


def _env():
    return {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}


def _killed_run(out: Path, instant: str, overwrite: bool = False) -> None:
    p = subprocess.run([sys.executable, "-c", KILLED_RUN, str(out), instant, "overwrite" if overwrite else "-"],
                       cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=300)
    assert p.returncode == -signal.SIGKILL, p.stderr[-2000:]


def _cell_shards(out: Path) -> list[Path]:
    return [p for p in results.shard_dir(out).glob("*.parquet") if not p.name.endswith(".prompts.parquet")]


def _assert_exact(out: Path) -> None:
    df = results.read(out)
    assert len(df) == 2 * 2  # two cells of two samples, one metric each
    assert set(df["context_length"]) == set(LENGTHS) and df["error"].isna().all()
    assert (df.groupby(["cell_id", "sample_id", "metric"]).size() == 1).all()
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(".") or p.name.endswith((".tmp", ".lock"))]
    assert leftovers == [] and not results.shard_dir(out).exists()


def test_killed_between_the_final_write_and_the_shard_removal(tmp_path):
    out = tmp_path / "r.parquet"
    _killed_run(out, "after-final-write")
    assert len(results.read(out)) == 4 and len(_cell_shards(out)) == 2
    summary = run_cells(_cells(), RunOptions(out=out, resume=True))
    assert summary.cells == 0 and summary.skipped == 2  # everything was done: nothing runs again
    _assert_exact(out)


def test_an_overwrite_killed_after_its_final_write_resumes_to_its_own_rows(tmp_path):
    out = write(tmp_path / "r.parquet", rows(SPEC, "passkey", 512, "accuracy", [1.0, 0.0, 1.0]))
    _killed_run(out, "after-final-write", overwrite=True)
    assert results.replaces_file(out)  # killed before the mark went: the shards still replace the file
    run_cells(_cells(), RunOptions(out=out, resume=True))
    _assert_exact(out)  # the old file's 512 rows are not merged back in


def test_killed_inside_the_final_write_leaves_a_temp_file_that_the_resume_removes(tmp_path):
    out = tmp_path / "r.parquet"
    _killed_run(out, "in-final-write")
    temps = list(tmp_path.glob(".r.parquet.*.tmp"))
    assert not out.exists() and len(temps) == 1 and temps[0].stat().st_size > 1000
    summary = run_cells(_cells(), RunOptions(out=out, resume=True))
    assert summary.cells == 0
    _assert_exact(out)


def test_sigint_during_an_overwrite_keeps_the_old_file_until_the_new_run_completes(tmp_path):
    out = write(tmp_path / "r.parquet", rows(SPEC, "passkey", 512, "accuracy", [1.0, 0.0, 1.0]))
    before = out.read_bytes()
    lengths = [256, 320, 384, 448]
    argv = ["tbench", "run", "task", "passkey", "-m", SPEC, "-n", "2", "-o", str(out), "--overwrite"]
    for n in lengths:
        argv += ["-L", str(n)]
    code = f"import sys; sys.argv = {argv!r}; from toroidal_bench.cli import main; main()"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=_env(), stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while not _cell_shards(out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=120)[1]
    assert proc.returncode == 130, err[-2000:]
    assert "interrupted" in err
    assert out.read_bytes() == before  # still the old run's file, untouched
    assert results.replaces_file(out)
    cells = expand([SPEC], ["passkey"], lengths, limit=2)
    summary = run_cells(cells, RunOptions(out=out, resume=True))
    assert 0 < summary.skipped < len(lengths)
    df = results.read(out)
    assert len(df) == 2 * len(lengths) and (df.groupby(["cell_id", "sample_id"]).size() == 1).all()
    assert df["run_id"].nunique() == 1 and set(df["context_length"]) == set(lengths)
    assert not (df["sample_id"].str.startswith("s")).any()  # none of the old file's rows came back


def test_finalize_twice_gives_the_same_file_and_shard_rows_replace_the_files(tmp_path):
    out = write(tmp_path / "r.parquet", rows("m", "t", 256, "acc", [1.0], cell="a")
                + rows("m", "t", 512, "acc", [None, None], cell="b", error="OOM"))
    good_b = rows("m", "t", 512, "acc", [0.5, 0.5], cell="b")
    new_c = rows("m", "t", 1024, "acc", [1.0], cell="c")
    meta = {"run_id": "r"}

    def shards():
        results.write_shard(out, "b", good_b, {}, meta)
        results.write_shard(out, "c", new_c, {}, meta)

    shards()
    stored = results.stored_cells(out)
    assert stored["b-m-512"].ok and stored["a-m-256"].ok  # b's shard replaces its failed rows
    first = results.finalize(out, meta)
    shards()  # as if the process died after the final write, before removing the shards
    second = results.finalize(out, meta)
    assert first.equals(second) and second.num_rows == 4
    assert second.column("error").null_count == 4


def test_temp_files_of_this_run_file_are_removed_and_no_others(tmp_path):
    out = tmp_path / "r.parquet"
    mine = [tmp_path / ".r.parquet.ab_12xyz.tmp", tmp_path / ".r.prompts.parquet.q8w7e6r5.tmp",
            tmp_path / ".r.parquet.probe", results.shard_dir(out) / ".cell.parquet.abcdefgh.tmp"]
    theirs = [tmp_path / ".r.parquet.x.parquet.abcdefgh.tmp", tmp_path / ".rr.parquet.abcdefgh.tmp",
              tmp_path / "notes.tmp", tmp_path / ".r.parquet.toolongname.tmp"]
    results.shard_dir(out).mkdir()
    for p in mine + theirs:
        p.write_bytes(b"x")
    results.remove_temp_files(out)
    assert [p.exists() for p in mine] == [False] * 4
    assert all(p.exists() for p in theirs)


@pytest.mark.parametrize("instant", ["write_table", "replace"])
def test_an_exception_inside_an_atomic_write_leaves_no_temp_file(tmp_path, monkeypatch, instant):
    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(results.pq if instant == "write_table" else results.os, instant, boom)
    with pytest.raises(KeyboardInterrupt):
        results.write_atomic(pa.table({"x": [1]}), tmp_path / "a.parquet")
    assert list(tmp_path.iterdir()) == []
