"""Toroidal attention injected into HF decoders: parity, causality through the real model, KV cache,
padding, multi-layer replacement, freezing, gradients, spec validation."""

import subprocess
import sys

import pytest
import torch

import toroidal_bench
from toroidal_bench.encodings.toroidal import ToroidalHFAttention
from toroidal_bench.errors import SpecError
from toroidal_bench.models.architecture import cache_keyword, output_cache
from toroidal_bench.models.loading import resolve
from toroidal_bench.models.runner import positions

ARCHS = ["llama-tiny", "qwen2-tiny", "mistral-tiny", "phi-tiny"]


def load(spec, **kw):
    return toroidal_bench.load(spec, **kw).model


def ids(b=2, n=14, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, 250, (b, n), generator=g)


@pytest.mark.parametrize("arch", ARCHS)
def test_depth1_lambda0_reproduces_the_original_logits(arch):
    model = load(f"random:{arch}(layers=3)")
    with torch.no_grad():  # random-init biases are zero: make them count, so a skipped bias shows
        g = torch.Generator().manual_seed(1)
        for name, p in model.named_parameters():
            if name.endswith("bias") and "self_attn" in name:
                p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        x = ids()
        mask = torch.ones_like(x)
        mask[0, :3] = 0  # left padding: the 4-D mask path
        want = model(x).logits
        want_padded = model(x, attention_mask=mask, position_ids=positions(mask)).logits
        enc = resolve(f"random:{arch}+toroidal(depth=1,lambda=0,layers=0..2)").encodings[0]
        enc.apply(model)
        assert all(isinstance(layer.self_attn, ToroidalHFAttention) for layer in model.model.layers)
        got = model(x).logits
        got_padded = model(x, attention_mask=mask, position_ids=positions(mask)).logits
    assert torch.allclose(got, want, atol=1e-5, rtol=0)
    assert torch.allclose(got_padded[mask.bool()], want_padded[mask.bool()], atol=1e-5, rtol=0)


@pytest.mark.parametrize("fusion", ["attention", "mean"])
def test_parity_through_the_spec_for_other_fusions(fusion):
    x = ids()
    with torch.no_grad():
        want = load("random:qwen2-tiny").model(x).last_hidden_state
        got = load(f"random:qwen2-tiny+toroidal(depth=1,lambda=0,fusion={fusion},layers=0..1)").model(x)
    assert torch.allclose(got.last_hidden_state, want, atol=1e-5)


def _mask_kinds(model):
    """Record what attention_mask the replaced layer receives."""
    seen = []
    layer = model.model.layers[0].self_attn
    forward = layer.forward

    def spy(*a, **kw):
        m = kw.get("attention_mask")
        seen.append(None if m is None else m.dtype)
        return forward(*a, **kw)

    layer.forward = spy
    return seen


SPEC = "+toroidal(depth=4,lambda=0.5,layers=0..1,period=6,window=4,pe=toroidal3d)"


@pytest.mark.parametrize("arch", ["llama-tiny", "phi-tiny"])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_no_future_leakage_through_the_model(arch, attn):
    depth = 2 if arch == "phi-tiny" else 4
    model = load(f"random:{arch}" + SPEC.replace("depth=4", f"depth={depth}"), attn=attn)
    seen = _mask_kinds(model)
    x = ids(1, 16)
    with torch.no_grad():
        full = model(x).logits
        for t in (2, 9):
            x2 = x.clone()
            x2[:, t + 1:] = (x2[:, t + 1:] + 7) % 250 + 3
            out = model(x2).logits
            assert torch.allclose(out[:, : t + 1], full[:, : t + 1], atol=1e-6, rtol=0)
            assert not torch.allclose(out[:, t + 1:], full[:, t + 1:], atol=1e-4)
        # the 4-D mask form: a padded batch
        mask = torch.ones(2, 16, dtype=torch.long)
        mask[1, :4] = 0
        xb = torch.cat([x, x2])
        base = model(xb, attention_mask=mask, position_ids=positions(mask)).logits
        xb2 = xb.clone()
        xb2[:, 12:] = 5
        out = model(xb2, attention_mask=mask, position_ids=positions(mask)).logits
        real = mask[:, :12].bool()  # padding queries attend to nothing; their outputs are meaningless
        assert torch.allclose(out[:, :12][real], base[:, :12][real], atol=1e-6, rtol=0)
    assert None in seen if attn == "sdpa" else None not in seen  # SDPA's fast path sends no mask
    assert any(kind is not None for kind in seen)


@pytest.mark.parametrize("arch", ARCHS)
def test_prefill_equals_cached_decoding(arch):
    depth = 2 if arch == "phi-tiny" else 4
    pe = "model" if arch in ("llama-tiny", "phi-tiny") else "orthogonal"
    model = load(f"random:{arch}+toroidal(depth={depth},lambda=0.7,layers=0..1,period=8,window=5,pe={pe})")
    x = ids(2, 14)
    with torch.no_grad():
        full = model(x).logits
        out = model(x[:, :6], use_cache=True)
        steps = [out.logits]
        for t in range(6, 14):
            out = model(x[:, t:t + 1], **{cache_keyword(): output_cache(out)}, use_cache=True)
            steps.append(out.logits)
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5, rtol=0)


def test_left_padding_does_not_change_real_tokens():
    model = load("random:mistral-tiny+toroidal(depth=2,lambda=0.4,layers=0..1,period=8,window=3)")
    x = ids(1, 10)
    with torch.no_grad():
        alone = model(x).logits
        padded = torch.cat([torch.zeros(1, 3, dtype=torch.long), x], 1)
        mask = torch.cat([torch.zeros(1, 3), torch.ones(1, 10)], 1).long()
        out = model(padded, attention_mask=mask, position_ids=positions(mask)).logits[:, 3:]
    assert torch.allclose(out, alone, atol=1e-5)


def test_generate_runs_and_matches_unpadded():
    runner = toroidal_bench.load("random:llama-tiny+toroidal(depth=2,lambda=0.3,layers=0..1,period=16)")
    from toroidal_bench.tasks.base import Generate

    a, b = list(range(10, 22)), list(range(40, 45))
    together = runner.generate([Generate(prompt_ids=a, max_new_tokens=5), Generate(prompt_ids=b, max_new_tokens=5)])
    alone = runner.generate([Generate(prompt_ids=b, max_new_tokens=5)])
    assert together[1] == alone[0]


@pytest.mark.parametrize("backend", ["manual", "ring"])
def test_backends_agree_inside_the_model(backend):
    x = ids(2, 9)
    mask = torch.ones_like(x)
    mask[0, :2] = 0
    spec = "random:qwen2-tiny+toroidal(depth=2,lambda=0.5,layers=0..1,period=5,window=3{})"
    with torch.no_grad():
        ref = load(spec.format(",backend=sdpa"))(x, attention_mask=mask, position_ids=positions(mask)).logits
        got = load(spec.format(f",backend={backend}"))(x, attention_mask=mask, position_ids=positions(mask)).logits
    assert torch.allclose(got[mask.bool()], ref[mask.bool()], atol=1e-5)


def test_multi_layer_freeze_and_gradient_flow():
    model = load("random:llama-tiny(layers=4)+toroidal(depth=2,lambda=0.2,layers=1..2,freeze=true)")
    layers = model.model.layers
    assert [type(layer.self_attn).__name__ for layer in layers] == ["LlamaAttention", "ToroidalHFAttention",
                                                            "ToroidalHFAttention", "LlamaAttention"]
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("model.layers.1.", "model.layers.2.")) for n in trainable)
    assert "model.layers.1.self_attn.core.fusion.V" in trainable
    model.train()
    x = ids(2, 12)
    loss = model(x, labels=x).loss
    loss.backward()
    for n, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None and torch.isfinite(p.grad).all(), n
        else:
            assert p.grad is None, n
    assert layers[1].self_attn.core.fusion.V.grad.abs().sum() > 0
    assert layers[2].self_attn.q_proj.weight.grad.abs().sum() > 0


def test_spec_validation():
    r = resolve("random:llama-tiny+toroidal(depth=4,lambda=0.1,fusion=low_rank,layers=0..1,window=256)")
    assert r.encodings[0].layers == (0, 1) and r.encodings[0].window == 256
    for bad, match in [("depth=0", "depth"), ("lambda=-1", "lambda"), ("fusion=sum", "fusion"),
                       ("periodic=true", "periodic"), ("window=0", "window"), ("pe=xyz", "pe")]:
        with pytest.raises(SpecError, match=match):
            resolve(f"random:llama-tiny+toroidal({bad})")
    with pytest.raises(SpecError, match="no layer 5"):
        load("random:llama-tiny+toroidal(layers=5)")
    with pytest.raises(SpecError, match="divisible by depth"):
        load("random:llama-tiny+toroidal(depth=3)")
    with pytest.raises(SpecError, match="rotary pairs"):
        load("random:phi-tiny+toroidal(depth=5)")  # 20 % 5 == 0, but 4 rotary pairs


def test_registration_does_not_import_torch():
    code = ("import sys; from toroidal_bench.encodings import ENCODINGS; "
            "assert 'toroidal' in ENCODINGS.names(); assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
