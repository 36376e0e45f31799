"""Training-time pieces of toroidal attention: the input-statistics depth router, the depth-temperature
annealer, dropout in the toroidal modules. All off by default; identity settings still reproduce the
unpatched model."""

import pytest
import torch

import toroidal_bench
from toroidal_bench.encodings.toroidal import (
    AdaptiveToroidalAttention,
    DepthAnnealer,
    DepthRouter,
    ToroidalAttention,
)
from toroidal_bench.encodings.toroidal.router import input_statistics
from toroidal_bench.errors import SpecError


def x(b=3, n=10, d=32, seed=0):
    return torch.randn(b, n, d, generator=torch.Generator().manual_seed(seed))


def test_router_statistics_and_uniform_start():
    inp = x()
    stats = input_statistics(inp)
    assert stats.shape == (3, 4)
    assert torch.allclose(stats[:, 0], inp.flatten(1).mean(1)) and torch.allclose(stats[:, 3], inp.flatten(1).amax(1))
    logits = DepthRouter(3)(inp)
    assert logits.shape == (3, 3) and torch.equal(logits, torch.zeros(3, 3))  # uniform until trained


def test_routed_depth_depends_on_the_input_and_is_trainable():
    torch.manual_seed(0)
    attn = AdaptiveToroidalAttention(32, 2, min_depth=1, max_depth=4, adaptive_mode="routed", pe="none")
    assert attn.candidates == [1, 2, 4]
    with torch.no_grad():  # make the router prefer depth 1 for small inputs and depth 4 for large ones
        attn.router.mlp[-1].weight.zero_()
        attn.router.mlp[-1].bias.copy_(torch.tensor([0.0, 0.0, 0.0]))
        attn.router.mlp[0].weight.zero_()
        attn.router.mlp[0].weight[0, 1] = 1.0  # hidden unit 0 = std
        attn.router.mlp[0].bias.fill_(-2.0)
        attn.router.mlp[-1].weight[2, 0] = 10.0
    calm, wild = x(1) * 0.1, x(1, seed=1) * 10
    attn.eval()
    assert attn.select(torch.cat([calm, wild])) == [1, 4]
    y, _ = attn(torch.cat([calm, wild]))
    assert attn.last_depths == [1, 4] and y.shape == (2, 10, 32)
    attn.train()
    probs = attn.routed_probs(torch.cat([calm, wild]))
    assert torch.allclose(probs.sum(-1), torch.ones(2)) and probs[1, 2] > probs[0, 2]
    y, _ = attn(torch.cat([calm, wild]))
    y.square().mean().backward()
    assert attn.router.mlp[-1].weight.grad is not None and attn.router.mlp[-1].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("schedule", ["linear", "exponential", "cosine"])
def test_annealer_goes_from_start_to_end(schedule):
    a = DepthAnnealer(start=5.0, end=0.5, steps=100, schedule=schedule)
    temps = [a.temperature(s) for s in range(0, 121, 10)]
    assert temps[0] == pytest.approx(5.0) and temps[10] == pytest.approx(0.5) and temps[-1] == pytest.approx(0.5)
    assert all(t1 >= t2 for t1, t2 in zip(temps, temps[1:], strict=False))
    if schedule == "exponential":
        assert a.temperature(50) == pytest.approx((5.0 * 0.5) ** 0.5)


def test_annealer_sets_every_adaptive_module_and_sharpens_the_mixture():
    model = torch.nn.ModuleList([AdaptiveToroidalAttention(32, 2, max_depth=4, pe="none") for _ in range(2)])
    with torch.no_grad():
        for m in model:
            m.depth_logits.copy_(torch.tensor([0.0, 0.5, 1.0]))
    a = DepthAnnealer(start=5.0, end=0.1, steps=10)
    assert a.apply(model, 0) == 2 and model[0].temperature == pytest.approx(5.0)
    soft = model[0].depth_probs().max()
    a.apply(model, 10)
    assert model[1].temperature == pytest.approx(0.1) and model[0].depth_probs().max() > max(0.99, soft)
    with pytest.raises(ValueError):
        DepthAnnealer(schedule="step")


def test_dropout_acts_in_training_only():
    torch.manual_seed(0)
    attn = ToroidalAttention(32, 2, depth=2, pe="none", dropout=0.5)
    inp = x()
    attn.eval()
    a, b = attn(inp)[0], attn(inp)[0]
    assert torch.equal(a, b)
    attn.train()
    c, d = attn(inp)[0], attn(inp)[0]
    assert not torch.equal(c, d) and not torch.equal(a, c)
    with pytest.raises(ValueError):
        ToroidalAttention(32, 2, depth=2, pe="none", dropout=1.0)


def test_spec_dropout_is_off_by_default_and_keeps_the_identity():
    spec = "random:llama-tiny+toroidal(depth=1,lambda=0,layers=0..1,dropout=0.3)"
    ids = torch.randint(3, 250, (2, 12), generator=torch.Generator().manual_seed(0))
    plain = toroidal_bench.load("random:llama-tiny", device="cpu").model
    patched = toroidal_bench.load(spec, device="cpu").model
    assert patched.model.layers[0].self_attn.core.dropout.p == 0.3
    assert toroidal_bench.load("random:llama-tiny+toroidal", device="cpu").model.model.layers[0].self_attn.core.dropout.p == 0
    with torch.no_grad():
        assert torch.allclose(patched(ids).logits, plain(ids).logits, atol=1e-5)  # eval mode: no dropout
    patched.train()
    with torch.no_grad():
        assert not torch.allclose(patched(ids).logits, plain(ids).logits, atol=1e-3)
    with pytest.raises(SpecError, match="dropout must lie in"):
        toroidal_bench.models.loading.resolve("random:llama-tiny+toroidal(dropout=1.5)")
