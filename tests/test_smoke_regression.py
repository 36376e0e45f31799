"""The smoke suite's gates can fail: a damaged reference model fails them with exit 1, against the
committed baseline, while the shipped one passes (same samples, same seed)."""

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from toroidal_bench.cli import app
from toroidal_bench.models import reference
from toroidal_bench.suites import load_suite

cli = CliRunner()
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def rope_suite(tmp_path):
    """The smoke suite's ref:rope gates at 512 tokens, with its baseline, as a suite of their own."""
    smoke = load_suite("smoke")
    gates = [g for g in yaml.safe_load((ROOT / "suites" / "smoke.yaml").read_text())["gates"]
             if g.get("model") == "ref:rope" and g.get("context_length") == 512]
    assert {("value" in g) for g in gates} == {True, False}  # an absolute and a baseline gate
    for g in gates:
        if "baseline" in g:
            g["baseline"] = str(ROOT / "results" / "baselines" / "smoke.parquet")
    path = tmp_path / "rope.yaml"
    path.write_text(yaml.safe_dump({"name": "rope", "models": ["ref:rope"], "tasks": ["passkey"],
                                    "lengths": [512], "limit": smoke.limit, "seed": smoke.seed, "gates": gates}))
    return path


def run_suite(suite, out):
    return cli.invoke(app, ["run", "suite", str(suite), "--out", str(out)])


def test_the_shipped_model_passes(rope_suite, tmp_path):
    r = run_suite(rope_suite, tmp_path / "ok.parquet")
    assert r.exit_code == 0, r.output


def test_a_damaged_model_fails_with_exit_1(rope_suite, tmp_path, monkeypatch):
    from safetensors.torch import load_file, save_file

    root = tmp_path / "ref"
    shutil.copytree(reference.ref_root() / "recipes", root / "recipes")
    shutil.copytree(reference.ref_root() / "rope", root / "rope")
    weights = root / "rope" / "model.safetensors"
    tensors = load_file(weights)
    for name in tensors:
        if "v_proj" in name:  # attention still runs, but carries nothing: retrieval is gone
            tensors[name] = tensors[name] * 0
    save_file(tensors, weights, metadata={"format": "pt"})
    monkeypatch.setattr(reference, "ref_root", lambda: root)
    r = run_suite(rope_suite, tmp_path / "bad.parquet")
    assert r.exit_code == 1, r.output
    assert "FAIL" in r.output and "dropped" in r.output
