"""One writer per results file: an OS lock that a second run meets (exit 2) and that dies with its holder."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from toroidal_bench import results
from toroidal_bench.cli import app
from toroidal_bench.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]

HOLDER = """
import sys, time
from pathlib import Path
from toroidal_bench import results
with results.exclusive(Path(sys.argv[1])):
    print("held", flush=True)
    time.sleep(120)
"""


def test_a_second_writer_in_the_same_process_is_refused_and_the_lock_file_goes(tmp_path):
    out = tmp_path / "r.parquet"
    with results.exclusive(out):
        with pytest.raises(UsageError, match=f"another tbench run \\(pid {os.getpid()}\\) is writing {out}"):
            with results.exclusive(out):
                pass
    assert not results.lock_path(out).exists()
    with results.exclusive(out):  # free again
        pass


def test_a_run_meets_a_live_writer_with_exit_2_and_goes_ahead_once_it_is_killed(tmp_path):
    out = tmp_path / "r.parquet"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "held"
        argv = ["run", "task", "passkey", "-m", "random:llama-tiny", "-L", "256", "-n", "1", "-o", str(out)]
        for extra in ([], ["--resume"], ["--overwrite"]):
            r = CliRunner().invoke(app, argv + extra)
            assert r.exit_code == 2, r.output
            assert f"another tbench run (pid {holder.pid}) is writing {out}" in r.output
        assert not out.exists() and not results.shard_dir(out).exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert results.lock_path(out).exists()  # left behind by the killed holder, but no longer locked
    r = CliRunner().invoke(app, argv)
    assert r.exit_code == 0, r.output
    assert len(results.read(out)) == 1 and not results.lock_path(out).exists()


def test_the_lock_is_released_when_the_run_fails(tmp_path):
    out = tmp_path / "r.parquet"
    with pytest.raises(RuntimeError):
        with results.exclusive(out):
            raise RuntimeError("cell crashed")
    with results.exclusive(out):
        pass
