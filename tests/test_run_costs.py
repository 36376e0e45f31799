"""What a run records about its cost: per cell wall seconds, peak device memory (None on a CPU) and
compiles; per model spec its compiles; the compile cache folder; merged over torchrun ranks; and the
report's peak-memory table reading the per-cell peaks."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import rows, write
from typer.testing import CliRunner

from toroidal_bench import evaluate, results
from toroidal_bench.cli import app
from toroidal_bench.evaluate import RunOptions, run_cells
from toroidal_bench.report import data
from toroidal_bench.suites import expand

ROOT = Path(__file__).resolve().parents[1]
SPEC = "random:llama-tiny"
ARGS = ["run", "task", "passkey", "-m", SPEC, "-L", "256", "-L", "320", "-n", "1"]


def test_cli_run_records_cell_costs_and_compiles(tmp_path):
    out = tmp_path / "r.parquet"
    r = CliRunner().invoke(app, [*ARGS, "--out", str(out)])
    assert r.exit_code == 0, r.output
    meta = results.run_metadata(out)
    cells = set(results.read(out)["cell_id"])
    assert set(meta["cell_cost"]) == cells and len(cells) == 2
    for cost in meta["cell_cost"].values():
        assert cost["wall_s"] > 0
        assert cost["peak_bytes"] is None  # a CPU has no allocator peak: null, not a made-up number
        assert {k: type(cost[k]) for k in ("compiles", "recompiles", "graphs")} == dict.fromkeys(
            ("compiles", "recompiles", "graphs"), int)
        assert cost["compile_s"] >= 0
    assert set(meta["compiles"]) == {SPEC}
    assert set(meta["compiles"][SPEC]) == {"compiles", "recompiles", "graphs", "seconds"}
    assert meta["compile_cache"] == str(Path(os.environ["TBENCH_HOME"]) / "compile" / "inductor")
    assert meta["device_map"] == {}


def test_compiles_inside_a_cell_are_counted_for_the_cell_and_its_model(tmp_path, monkeypatch):
    evaluate_family = evaluate._evaluate_family

    @torch.compile(backend="eager", dynamic=False)
    def step(x):
        return x.cos() * 3

    def compiling(family, runner, cell, reporter, prefetch):
        step(torch.ones(cell.length))  # a new shape per cell: a first compile, then a recompile
        return evaluate_family(family, runner, cell, reporter, prefetch)

    monkeypatch.setattr(evaluate, "_evaluate_family", compiling)
    out = tmp_path / "r.parquet"
    cells = expand([SPEC], ["passkey"], [256, 320], limit=1)
    run_cells(cells, RunOptions(out=out))
    meta = results.run_metadata(out)
    per_cell = sorted((c["compiles"], c["recompiles"]) for c in meta["cell_cost"].values())
    assert per_cell == [(1, 0), (1, 1)]
    assert meta["compiles"][SPEC]["compiles"] >= 2 and meta["compiles"][SPEC]["recompiles"] >= 1
    # resuming adds the new cell's cost and this run's compiles to the recorded ones
    before = meta["compiles"][SPEC]["compiles"]
    more = expand([SPEC], ["passkey"], [256, 320, 384], limit=1)
    run_cells(more, RunOptions(out=out, resume=True))
    meta = results.run_metadata(out)
    assert set(meta["cell_cost"]) == {c.cell_id for c in more}
    assert meta["compiles"][SPEC]["compiles"] == before + 1


def test_report_reads_cell_peaks_from_the_run_metadata(tmp_path):
    rs = rows("m", "passkey", 256, "accuracy", [1.0, 0.0], cell="a") + rows("m", "passkey", 512, "accuracy", [1.0],
                                                                            cell="b")
    rs += rows("m", "passkey", 1024, "accuracy", [None], cell="c", error="OutOfMemoryError: ...")
    peaks = {"a-m-256": 3 * 2**30, "b-m-512": 5 * 2**29, "c-m-1024": 80 * 2**30}  # cell ids as rows() makes them
    meta = {"run_id": "r", "cell_cost": {cid: {"wall_s": 1.0, "peak_bytes": v} for cid, v in peaks.items()}}
    res = write(tmp_path / "r.parquet", rs, meta)
    peak = data.peak_memory(data.load([res]))
    assert list(peak.columns) == ["model spec", "task", "context length", "peak GiB"]
    assert peak.values.tolist() == [["m", "passkey", 256, 3.0], ["m", "passkey", 512, 2.5]]  # failed cell left out


def test_report_takes_the_larger_of_a_metric_row_and_a_cell_peak(tmp_path):
    rs = rows("m", "passkey", 256, "accuracy", [1.0], cell="a") + rows("m", "passkey", 256, "peak_bytes", [2**31],
                                                                     cell="a")
    res = write(tmp_path / "r.parquet", rs, {"run_id": "r", "cell_cost": {"a-m-256": {"peak_bytes": 2**30}}})
    assert data.peak_memory(data.load([res])).values.tolist() == [["m", "passkey", 256, 2.0]]
    res = write(tmp_path / "s.parquet", rs[:1], {"run_id": "r", "cell_cost": {"a-m-256": {"peak_bytes": None}}})
    assert data.peak_memory(data.load([res])).empty


@pytest.mark.skipif(sys.platform == "win32", reason="torchrun on gloo")
def test_two_ranks_merge_their_cell_costs_and_compiles(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env.update(PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", TBENCH_HOME=str(tmp_path / "home"), CUDA_VISIBLE_DEVICES="",
               OMP_NUM_THREADS="1")
    out = tmp_path / "r.parquet"
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                           "-m", "toroidal_bench", *ARGS, "--out", str(out)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    meta = results.run_metadata(out)
    assert sorted(set(meta["ranks"]["cells"].values())) == [0, 1]
    assert set(meta["cell_cost"]) == set(meta["ranks"]["cells"])  # both ranks' cells
    assert all(c["wall_s"] > 0 and c["peak_bytes"] is None for c in meta["cell_cost"].values())
    assert set(meta["compiles"]) == {SPEC}


def test_each_cell_ends_with_the_decoders_cache_released(tmp_path, monkeypatch):
    """A cell's kept static cache must not count against (or crowd) the next cell's memory."""
    from toroidal_bench.models.runner import Runner

    held = []
    real = Runner.release

    def release(self):
        before = self.decoder.held_bytes()
        real(self)
        held.append((before, self.decoder.held_bytes()))

    monkeypatch.setattr(Runner, "release", release)
    run_cells(expand([SPEC], ["passkey"], [256, 320], limit=1), RunOptions(out=tmp_path / "r.parquet"))
    assert len(held) == 2 and all(before > 0 and after == 0 for before, after in held)
