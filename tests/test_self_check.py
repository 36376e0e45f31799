"""The self-check a model passes before serving cells: prefill, cached decoding and padded batching
agree for every encoding, and a broken cache path is caught before it produces a score."""

import pytest
import transformers

import toroidal_bench as tb
from toroidal_bench import results
from toroidal_bench.evaluate import RunOptions, run_cells
from toroidal_bench.models import architecture
from toroidal_bench.models.loading import resolve
from toroidal_bench.models.self_check import self_check
from toroidal_bench.suites import expand

SPECS = [
    "random:llama-tiny+rope", "random:llama-tiny+nope", "random:llama-tiny+alibi",
    "random:llama-tiny+yarn(factor=4)", "random:qwen2-tiny+linear(factor=2)", "random:llama-tiny+dynamic-ntk(factor=2)",
    "random:llama-tiny+toroidal(depth=1,lambda=0)", "random:llama-tiny+toroidal(depth=4,lambda=0.1)",
    "random:phi-tiny+toroidal(depth=2,lambda=0.3,window=5,period=8)", "random:phi-tiny+pi-spiral",
    "random:mistral-tiny+hybrid", "random:qwen2-tiny+attractor(alpha=fixed:0.5)",
    "random:llama-tiny+attractor(inject=residual)",
]
CACHE_USERS = ["random:llama-tiny+toroidal(depth=1,lambda=0)", "random:qwen2-tiny+attractor(alpha=fixed:0.5)",
               "random:llama-tiny+attractor(inject=residual)"]


@pytest.mark.parametrize("spec", SPECS)
def test_every_encoding_passes(spec):
    check = self_check(tb.load(spec).model)
    assert check.passed, check
    assert check.decode_diff < 1e-5 and check.batch_diff < 1e-5  # float32 agrees to rounding


@pytest.fixture
def lost_cache(monkeypatch):
    """The failure a transformers release caused: patched layers stop seeing the KV cache."""
    monkeypatch.setattr(architecture, "layer_cache", lambda kwargs: None)


@pytest.mark.parametrize("spec", CACHE_USERS)
def test_a_lost_cache_is_caught(spec, lost_cache):
    check = self_check(tb.load(spec).model)
    assert not check.passed
    assert check.decode_diff > 10 * check.tolerance
    line = check.failure(spec)
    assert spec in line and transformers.__version__ in line and "KV-cached decoding" in line


def test_failed_check_fails_the_cells_and_is_recorded(tmp_path, lost_cache):
    spec = resolve("random:llama-tiny+toroidal(depth=1,lambda=0)").canonical()
    cells = expand([spec, "random:llama-tiny+rope"], ["passkey"], [256], limit=2)
    out = tmp_path / "r.parquet"
    summary = run_cells(cells, RunOptions(out=out))
    df = results.read(out)
    bad = df[df.model_spec == spec]
    assert len(summary.failed) == 1 and bad.error.str.contains("self-check failed").all()
    assert bad.value.isna().all()
    assert df[df.model_spec != spec].error.isna().all()  # the healthy model still ran
    checks = df.attrs["run"]["self_check"]
    assert checks[spec]["passed"] is False and checks["random:llama-tiny+rope"]["passed"] is True
