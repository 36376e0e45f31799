import math

import pytest
import torch

import toroidal_bench as tb
from toroidal_bench.attention.alibi import bias, slopes
from toroidal_bench.errors import SpecError
from toroidal_bench.models.architecture import cache_keyword, output_cache
from toroidal_bench.models.loading import load_model, resolve

ARCHS = ["llama-tiny", "qwen2-tiny", "mistral-tiny", "phi-tiny"]


def _logits(runner, ids):
    with torch.no_grad():
        return runner.model(torch.tensor([ids])).logits[0]


@pytest.mark.parametrize("arch", ARCHS)
def test_rope_is_the_identity(arch):
    ids = list(range(3, 60))
    plain, rope = tb.load(f"random:{arch}"), tb.load(f"random:{arch}+rope")
    assert torch.equal(_logits(plain, ids), _logits(rope, ids))


def test_alibi_slopes_match_the_paper():
    # H = 8: 2^(-8h/8) = 1/2, 1/4, ..., 1/256
    assert torch.allclose(slopes(8), torch.tensor([2.0 ** -(h + 1) for h in range(8)]))
    # H = 6: the 4 slopes of H=4 (2^-2, 2^-4, 2^-6, 2^-8), then slopes 1 and 3 of H=8 (2^-1, 2^-3)
    assert torch.allclose(slopes(6), torch.tensor([2**-2, 2**-4, 2**-6, 2**-8, 2**-1, 2**-3]))


def test_alibi_bias_is_minus_slope_times_distance():
    m = torch.tensor([0.5, 0.25])
    b = bias(m, q_len=2, kv_len=5, device=torch.device("cpu"))  # queries at positions 3 and 4
    assert b.shape == (2, 2, 5)
    assert b[0, 1, 0].item() == pytest.approx(-0.5 * 4)
    assert b[1, 0, 3].item() == pytest.approx(0.0)
    assert b[1, 0, 1].item() == pytest.approx(-0.25 * 2)


def test_alibi_matches_a_hand_written_attention():
    runner = tb.load("random:llama-tiny+alibi")
    attn = runner.model.model.layers[0].self_attn
    torch.manual_seed(0)
    B, H, N, d = 1, 4, 7, 16
    q, k, v = torch.randn(B, H, N, d), torch.randn(B, 2, N, d), torch.randn(B, 2, N, d)
    from toroidal_bench.attention.alibi import alibi_sdpa

    out, _ = alibi_sdpa(attn, q, k, v, None, scaling=1 / math.sqrt(d))
    kk, vv = k.repeat_interleave(2, 1), v.repeat_interleave(2, 1)
    m = slopes(4)
    i = torch.arange(N)[:, None]
    j = torch.arange(N)[None, :]
    scores = q @ kk.transpose(-1, -2) / math.sqrt(d) - m[:, None, None] * (i - j)
    scores = scores.masked_fill(j > i, float("-inf"))
    ref = (scores.softmax(-1) @ vv).transpose(1, 2)
    assert torch.allclose(out, ref, atol=1e-5)


@pytest.mark.parametrize("spec", ["random:llama-tiny+rope", "random:llama-tiny+alibi", "random:phi-tiny+alibi",
                                  "random:qwen2-tiny+alibi"])
def test_no_future_leakage_through_the_real_model(spec):
    runner = tb.load(spec)
    ids = list(range(10, 50))
    t = 25
    changed = ids[: t + 1] + [7] * (len(ids) - t - 1)
    a, b = _logits(runner, ids), _logits(runner, changed)
    assert torch.equal(a[: t + 1], b[: t + 1])
    assert not torch.allclose(a[t + 1 :], b[t + 1 :])


def test_alibi_prefill_equals_incremental_decoding():
    runner = tb.load("random:llama-tiny+alibi")
    ids = torch.tensor([list(range(10, 30))])
    with torch.no_grad():
        full = runner.model(ids).logits[0]
        out = runner.model(ids[:, :12], use_cache=True)
        cache, steps = output_cache(out), [out.logits[0, -1]]
        for t in range(12, 20):
            out = runner.model(ids[:, t : t + 1], **{cache_keyword(): cache}, use_cache=True)
            cache = output_cache(out)
            steps.append(out.logits[0, -1])
    assert torch.allclose(full[11:], torch.stack(steps), atol=1e-5)  # positions 11..19


def test_two_attention_encodings_conflict():
    from toroidal_bench.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="both replace the attention"):
        from toroidal_bench.attention.registration import register_attention

        register_attention("tbench_other", lambda *a, **k: None)
        model, _ = load_model(resolve("random:llama-tiny+alibi"), "cpu", torch.float32)
        from toroidal_bench.models import architecture

        architecture.set_attention(model, "tbench_other")


def test_unsupported_architecture_is_a_clear_error():
    from toroidal_bench.encodings.alibi import Alibi

    with pytest.raises(SpecError, match="does not support architecture 'gpt2'"):
        Alibi().check("gpt2")
