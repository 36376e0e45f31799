import math
import warnings

import pytest
import torch

import toroidal_bench as tb
from toroidal_bench.attention.backends import choose
from toroidal_bench.encodings import ENCODINGS
from toroidal_bench.errors import SpecError, UnknownNameError
from toroidal_bench.models.loading import resolve

ARCHS = ["llama-tiny", "qwen2-tiny", "mistral-tiny", "phi-tiny"]
IDENTITIES = ["rope", "linear(factor=1)", "ntk(factor=1)", "yarn(factor=1)", "dynamic-ntk(factor=1)"]
IDS = torch.tensor([list(range(3, 140))])


@pytest.fixture(scope="module")
def plain_logits():
    with torch.no_grad():
        return {a: tb.load(f"random:{a}").model(IDS).logits for a in ARCHS}


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("enc", IDENTITIES)
def test_identity_settings_give_the_unpatched_logits(arch, enc, plain_logits):
    with torch.no_grad():
        out = tb.load(f"random:{arch}+{enc}").model(IDS).logits
    assert torch.equal(out, plain_logits[arch])


def _rotary(spec):
    return tb.load(spec).model.model.rotary_emb


def test_linear_divides_the_frequencies():
    base, lin = _rotary("random:llama-tiny"), _rotary("random:llama-tiny+linear(factor=4)")
    assert torch.allclose(lin.inv_freq, base.inv_freq / 4)


def test_ntk_changes_the_base_by_factor_to_the_d_over_d_minus_2():
    base, ntk = _rotary("random:llama-tiny"), _rotary("random:llama-tiny+ntk(factor=4)")
    d = 2 * base.inv_freq.shape[0]
    theta = 10000.0 * 4 ** (d / (d - 2))
    expected = 1.0 / theta ** (torch.arange(0, d, 2, dtype=torch.float32) / d)
    assert torch.allclose(ntk.inv_freq, expected, rtol=1e-5)


def test_yarn_keeps_fast_dims_divides_slow_ones_and_scales_attention():
    base = _rotary("random:llama-tiny")
    yarn = _rotary("random:llama-tiny+yarn(factor=4,original_max_position_embeddings=256)")
    assert yarn.attention_scaling == pytest.approx(0.1 * math.log(4) + 1)
    assert torch.allclose(yarn.inv_freq[0], base.inv_freq[0])  # many rotations in L0: kept
    assert torch.allclose(yarn.inv_freq[-1], base.inv_freq[-1] / 4)  # few rotations: interpolated


def test_dynamic_ntk_only_changes_beyond_the_original_length():
    spec = "random:llama-tiny+dynamic-ntk(factor=2,original_max_position_embeddings=64)"
    plain, dyn = tb.load("random:llama-tiny"), tb.load(spec)
    with torch.no_grad():
        short = IDS[:, :60]
        assert torch.allclose(plain.model(short).logits, dyn.model(short).logits, atol=1e-6)
        assert not torch.allclose(plain.model(IDS).logits, dyn.model(IDS).logits, atol=1e-4)


BASELINES = ["rope", "alibi", "nope", "linear", "ntk", "dynamic-ntk", "yarn"]
#: families with their own causality tests through the real model (tests/test_toroidal_hf.py,
#: tests/test_pi_spiral_models.py)
OWN_CAUSALITY_TESTS = ["toroidal", "pi-spiral", "hybrid", "attractor"]


def test_every_registered_encoding_has_a_causality_test():
    assert sorted(ENCODINGS.names()) == sorted(BASELINES + OWN_CAUSALITY_TESTS)


@pytest.mark.parametrize("enc", BASELINES)
@pytest.mark.parametrize("arch", ["llama-tiny", "phi-tiny"])
def test_every_encoding_is_causal_through_the_real_model(enc, arch):
    runner = tb.load(f"random:{arch}+{enc}")
    t = 70
    changed = IDS.clone()
    changed[0, t + 1 :] = 9
    with torch.no_grad():
        a, b = runner.model(IDS).logits, runner.model(changed).logits
    assert torch.equal(a[0, : t + 1], b[0, : t + 1])
    assert not torch.allclose(a[0, t + 1 :], b[0, t + 1 :])


def test_factor_below_one_is_rejected_at_parse_time():
    with pytest.raises(SpecError, match="factor must be"):
        resolve("random:llama-tiny+yarn(factor=0.5)")
    with pytest.raises(SpecError, match="beta_fast"):
        resolve("random:llama-tiny+yarn(factor=2,beta_fast=1,beta_slow=2)")


def test_alibi_flex_kernel_matches_the_bias_path_with_padding():
    """FlexAttention (compiled; on CPU here, on GPU in benchmarks) vs the materialized bias."""
    from toroidal_bench.tasks.base import LogLikelihood

    sdpa, flex = tb.load("random:llama-tiny+alibi", attn="sdpa"), tb.load("random:llama-tiny+alibi", attn="flex")
    assert flex.model.config._attn_implementation == "tbench_alibi_flex"
    with torch.no_grad():
        assert torch.allclose(sdpa.model(IDS).logits, flex.model(IDS).logits, atol=1e-5)
    reqs = [LogLikelihood(tuple(range(3, 150)), (5, 6)), LogLikelihood(tuple(range(3, 40)), (7,))]
    for (a, _), (b, _) in zip(sdpa.loglikelihood(reqs), flex.loglikelihood(reqs), strict=True):
        assert a == pytest.approx(b, abs=1e-4)


def test_backend_choice_and_fallbacks():
    alibi = resolve("random:llama-tiny+alibi").encodings
    rope = resolve("random:llama-tiny+yarn(factor=2)").encodings
    assert choose(None, alibi, "cpu").backend == "sdpa"
    assert choose(None, alibi, "cuda").backend == "flex"
    assert choose(None, rope, "cuda").backend == "sdpa"
    assert choose("eager", rope, "cpu").backend == "eager"
    with pytest.warns(UserWarning, match="flash-attn is not installed; using sdpa"):
        assert choose("flash2", rope, "cuda").backend == "sdpa"
    with pytest.warns(UserWarning, match="'alibi' does not support it; using flex"):
        assert choose("flash2", alibi, "cuda").backend == "flex"
    with pytest.raises(UnknownNameError, match="attention backend"):
        choose("flash3", rope, "cpu")


def test_requested_flash2_falls_back_when_loading():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runner = tb.load("random:llama-tiny+rope", attn="flash2")
    assert runner.attention == "sdpa"
    assert any("flash-attn is not installed" in str(w.message) for w in caught)


def test_flex_length_buckets_bound_padding_and_recompiles():
    from toroidal_bench.attention.flex import _RECOMPILE_LIMIT, bucket_length

    lengths = range(1, 131073)
    buckets = {bucket_length(n) for n in lengths}
    assert len(buckets) * 4 <= _RECOMPILE_LIMIT  # room for a few batch sizes per bucket
    for n in (1, 129, 513, 4096, 4097, 32769, 131072):
        b = bucket_length(n)
        assert b >= n and b % 128 == 0
        assert b <= max(128, 1.25 * n + 1) or n < 512
