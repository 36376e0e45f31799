"""Data parallelism under torchrun, on two CPU processes (gloo): the merged file equals a single
process's, both ranks run cells, a killed rank's missing cells are exactly what --resume runs, and
bad input exits every rank with one line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from toroidal_bench import distributed, results

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["run", "task", "passkey", "-m", "random:llama-tiny", "-L", "256", "-L", "320", "-L", "384",
        "-L", "448", "-n", "1"]
KEY = ["cell_id", "sample_id", "metric"]
COLUMNS = [*KEY, "model_spec", "task", "context_length", "depth", "value", "prediction", "reference",
           "prompt_hash", "prompt_tokens", "error"]

# rank 1 kills itself (SIGKILL) once its first cell shard is written; torchrun then stops rank 0
KILL_RANK_1 = """
import os, signal, sys
from toroidal_bench import results
write = results.write_shard
def write_then_die(*args, **kwargs):
    write(*args, **kwargs)
    if os.environ["RANK"] == "1":
        os.kill(os.getpid(), signal.SIGKILL)
results.write_shard = write_then_die
from toroidal_bench.cli import main
sys.argv = ["tbench", *sys.argv[1:]]
main()
"""


# -- the partition -----------------------------------------------------------------------------------
def test_partition_covers_every_index_once_in_order():
    shares = distributed.partition([5, 1, 4, 2, 3, 3, 1], 3)
    flat = sorted(i for s in shares for i in s)
    assert flat == list(range(7))
    assert all(s == sorted(s) for s in shares)


def test_partition_balances_planned_work():
    weights = [256 * 4, 512 * 4, 1024 * 4, 2048 * 4, 4096 * 4] * 2
    loads = [sum(weights[i] for i in s) for s in distributed.partition(weights, 2)]
    assert loads[0] == loads[1]
    # heaviest first to the least loaded: [8, 5, 5, 1] → {8}, {5, 5}... then the 1 on the lighter
    assert distributed.partition([1, 5, 8, 5], 2) == [[0, 2], [1, 3]]


def test_partition_is_deterministic_and_takes_more_ranks_than_cells():
    assert distributed.partition([3, 3, 3], 2) == distributed.partition([3, 3, 3], 2) == [[0, 2], [1]]
    assert distributed.partition([7], 3) == [[0], [], []]
    assert distributed.partition([], 2) == [[], []]


def test_env_only_under_torchrun_with_several_processes(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert distributed.env() is None
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert distributed.env() is None
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert distributed.env() == distributed.Env(4, 3, 1)
    assert not distributed.env().is_main


def test_rank_error_keeps_line_and_exit_code_through_pickle():
    import pickle

    from toroidal_bench.errors import UnknownNameError

    err = distributed._portable(UnknownNameError("task", "paskey", ["passkey"]))
    back = pickle.loads(pickle.dumps(err))
    assert back.line() == UnknownNameError("task", "paskey", ["passkey"]).line()
    assert back.exit_code == 2


# -- two CPU processes -------------------------------------------------------------------------------
def _env(home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    return {**env, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "TBENCH_HOME": str(home),
            "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}


def _torchrun(*args, home: Path, cwd: Path, script: list[str] | None = None, logs: Path | None = None):
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    if logs is not None:
        launcher += ["--log-dir", str(logs), "--redirects", "3"]
    target = script or ["-m", "toroidal_bench"]
    return subprocess.run([*launcher, *target, *args], env=_env(home), cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def _rows(path: Path):
    df = results.read(path)
    return df[COLUMNS].sort_values(KEY).reset_index(drop=True)


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The same cells run by one process: the reference every merged file must equal."""
    tmp = tmp_path_factory.mktemp("single")
    out = tmp / "single.parquet"
    proc = subprocess.run([sys.executable, "-m", "toroidal_bench", *ARGS, "--out", str(out)],
                          env=_env(tmp / "home"), cwd=tmp, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return out


def test_two_ranks_merge_to_the_single_process_file(single, tmp_path):
    out = tmp_path / "multi.parquet"
    proc = _torchrun(*ARGS, "--out", str(out), home=tmp_path / "home", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert _rows(out).equals(_rows(single))
    meta = results.run_metadata(out)
    ranks = meta["ranks"]
    assert ranks["world_size"] == 2
    assert sorted(set(ranks["cells"].values())) == [0, 1]  # both ranks ran cells
    assert set(ranks["cells"]) == set(_rows(single)["cell_id"])
    assert not results.shard_dir(out).exists()
    assert proc.stderr.count("wrote 4 rows") == 1  # rank 0 alone reports the run


def test_killed_rank_then_resume_runs_exactly_the_missing_cells(single, tmp_path):
    out = tmp_path / "multi.parquet"
    script = tmp_path / "kill_rank_1.py"
    script.write_text(KILL_RANK_1)
    home = tmp_path / "home"
    proc = _torchrun(*ARGS, "--out", str(out), home=home, cwd=tmp_path, script=[str(script)])
    assert proc.returncode != 0
    assert not out.exists()
    left = {p.name.removesuffix(".parquet") for p in results.shard_dir(out).glob("*.parquet")
            if not p.name.endswith(".prompts.parquet")}
    everything = set(_rows(single)["cell_id"])
    assert 1 <= len(left) < len(everything)  # rank 1's first cell at least; not the whole run
    proc = _torchrun(*ARGS, "--out", str(out), "--resume", home=home, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert set(results.run_metadata(out)["ranks"]["cells"]) == everything - left
    assert _rows(out).equals(_rows(single))


def test_bad_input_exits_every_rank_with_one_line(tmp_path):
    out = tmp_path / "taken.parquet"
    out.write_bytes(b"")
    logs = tmp_path / "logs"
    proc = _torchrun(*ARGS, "--out", str(out), home=tmp_path / "home", cwd=tmp_path, logs=logs)
    assert proc.returncode != 0
    assert "exitcode  : 2" in proc.stderr
    line = f"error: results exist at {out} — pass --resume to continue it, or --overwrite to start again"
    per_rank = {p.parent.name: p.read_text().splitlines() for p in logs.rglob("stderr.log")}
    assert set(per_rank) == {"0", "1"}
    # a rank torchrun stopped first may have printed nothing; none prints more than the line
    assert all(lines in ([line], []) for lines in per_rank.values())
    assert any(lines == [line] for lines in per_rank.values())
    assert "Traceback" not in "".join(p.read_text() for p in logs.rglob("*.log"))


def test_without_torchrun_nothing_changes(monkeypatch):
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    with distributed.group(None) as group:
        assert group is None


def test_ranks_other_than_0_print_only_their_failed_cells(monkeypatch):
    from types import SimpleNamespace

    from rich.console import Console

    from toroidal_bench.cli import output
    from toroidal_bench.cli.progress import RichReporter

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    for c in (output.console, output.err_console):
        monkeypatch.setattr(c, "quiet", False)
    console = Console(record=True, width=200)
    rep = RichReporter(console)
    cell = SimpleNamespace(model_spec="random:llama-tiny", task=SimpleNamespace(name="passkey"), length=256)
    rep.start(2, 4)
    for error in (None, "OutOfMemoryError: CUDA out of memory"):
        rep.cell(cell, 2)
        rep.advance(2)
        rep.cell_done(cell, error)
    rep.stop()
    assert console.export_text().splitlines() == [
        "rank 1: cell failed random:llama-tiny · passkey @ 256: OutOfMemoryError: CUDA out of memory"]
    rep.finish(None)
    assert output.err_console.quiet and output.console.quiet  # rank 0 prints the summary
