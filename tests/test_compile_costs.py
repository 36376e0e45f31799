"""The persistent compile cache (compile_cache.py) and the compile counter and cell meter (costs.py)."""

import os

import pytest
import torch

from toroidal_bench import compile_cache, costs


@pytest.fixture
def fresh_variable(monkeypatch):
    """TORCHINDUCTOR_CACHE_DIR as a new process sees it: unset, and tbench has set nothing yet."""
    monkeypatch.setenv(compile_cache.VARIABLE, "")  # recorded, so that the test's own setting is undone
    monkeypatch.delenv(compile_cache.VARIABLE)
    monkeypatch.setattr(compile_cache, "_ours", None)


def test_cache_goes_under_tbench_home(fresh_variable, tmp_path, monkeypatch):
    monkeypatch.setenv("TBENCH_HOME", str(tmp_path / "home"))
    path = compile_cache.configure()
    assert path == tmp_path / "home" / "compile" / "inductor"
    assert os.environ[compile_cache.VARIABLE] == str(path)
    assert compile_cache.location() == (path, False)
    # a later TBENCH_HOME (another run in the same process) moves the folder tbench chose
    monkeypatch.setenv("TBENCH_HOME", str(tmp_path / "other"))
    assert compile_cache.configure() == tmp_path / "other" / "compile" / "inductor"


def test_a_folder_the_user_chose_is_kept(fresh_variable, tmp_path, monkeypatch):
    monkeypatch.setenv(compile_cache.VARIABLE, str(tmp_path / "mine"))
    assert compile_cache.configure() == tmp_path / "mine"
    assert os.environ[compile_cache.VARIABLE] == str(tmp_path / "mine")
    assert compile_cache.location() == (tmp_path / "mine", True)


def test_torch_writing_its_default_back_is_not_a_choice(fresh_variable, tmp_path, monkeypatch):
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    monkeypatch.setenv("TBENCH_HOME", str(tmp_path))
    monkeypatch.setenv(compile_cache.VARIABLE, os.path.abspath(default_cache_dir()))
    assert compile_cache.configure() == tmp_path / "compile" / "inductor"


def test_inductor_writes_its_graphs_there(fresh_variable, tmp_path, monkeypatch):
    monkeypatch.setenv("TBENCH_HOME", str(tmp_path / "home"))
    path = compile_cache.configure()
    assert compile_cache.caches_enabled() == {"fx_graph": True, "aot_autograd": True}
    marker = float(tmp_path.stat().st_ino % 997)  # a constant no other test compiles

    @torch.compile(backend="inductor", dynamic=False)
    def f(x):
        return x * marker + 1

    assert torch.equal(f(torch.ones(4)), torch.full((4,), marker + 1))
    assert any((path / "fxgraph").rglob("*")), "no FX graph was cached under TBENCH_HOME"


def test_doctor_row_names_the_folder(fresh_variable, tmp_path, monkeypatch):
    from toroidal_bench.cli.doctor import _compile_cache

    monkeypatch.setenv("TBENCH_HOME", str(tmp_path))
    assert _compile_cache() == f"{tmp_path / 'compile' / 'inductor'} (under TBENCH_HOME)"
    monkeypatch.setenv(compile_cache.VARIABLE, "/somewhere/else")
    assert _compile_cache() == "/somewhere/else (from TORCHINDUCTOR_CACHE_DIR)"


# -- counting --------------------------------------------------------------------------------------
def test_meter_counts_compiles_and_recompiles():
    costs.compiles_so_far()  # counting starts here

    @torch.compile(backend="eager", dynamic=False)
    def f(x):
        return x.sin() + 1

    with costs.Meter() as m:
        f(torch.ones(3))
        f(torch.ones(3))  # cached: nothing new
        f(torch.ones(5))  # a new static shape: the frame compiles again
    assert (m.compiles.compiles, m.compiles.recompiles, m.compiles.graphs) == (2, 1, 2)
    assert 0 < m.compiles.seconds <= m.wall_s
    with costs.Meter() as again:
        f(torch.ones(5))
    assert again.compiles == costs.Compiles()


def test_meter_on_cpu_records_no_peak():
    with costs.Meter([]) as m:
        torch.ones(1000).sum()
    d = m.as_dict()
    assert d["peak_bytes"] is None and "peak_bytes_by_device" not in d
    assert d["wall_s"] >= 0 and d["compiles"] == d["recompiles"] == d["graphs"] == 0 and d["compile_s"] == 0


@pytest.mark.parametrize("compile_id, recompile", [("0/0", False), ("3/1", True), ("2/0_1", False), ("2/2_1", True),
                                                   ("!0/1/1", False), (None, False), ("odd", False)])
def test_recompiles_are_told_by_the_compile_id(compile_id, recompile):
    assert costs._is_recompile(compile_id) is recompile


def test_compiles_add_subtract_and_round_trip():
    a, b = costs.Compiles(3, 1, 4, 2.5), costs.Compiles(1, 0, 1, 0.5)
    assert a - b == costs.Compiles(2, 1, 3, 2.0) and a + b == costs.Compiles(4, 1, 5, 3.0)
    assert costs.Compiles.from_dict(a.as_dict()) == a and costs.Compiles.from_dict(None) == costs.Compiles()
