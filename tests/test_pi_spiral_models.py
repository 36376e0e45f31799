"""π-Spiral, hybrid and attractor inside real HF models: RoPE reductions, KV-cache consistency,
causality, layer selection and clear errors, on Llama, Qwen2, Mistral and Phi."""

import pytest
import torch
from transformers import DynamicCache

import toroidal_bench as tb
from toroidal_bench.encodings import ENCODINGS
from toroidal_bench.encodings.pi_spiral import phases
from toroidal_bench.encodings.pi_spiral.rotary import PiSpiralRotary
from toroidal_bench.errors import SpecError
from toroidal_bench.models import architecture
from toroidal_bench.models.architecture import cache_keyword
from toroidal_bench.models.loading import resolve

ARCHS = ["llama-tiny", "qwen2-tiny", "mistral-tiny", "phi-tiny"]
ENCODINGS_UNDER_TEST = [
    "pi-spiral(const=pi)",
    "pi-spiral(const=prng,seed=2,spread=flat,layers=1)",
    "hybrid(switch=12,width=8,const=phi)",
    "pi-spiral(const=sqrt2,radius=log,radius_start=4)",
    "attractor(alpha=fixed:0.8,inject=kv)",
    "attractor(alpha=exp:4.0,layers=0,inject=residual,gate=0.3,horizon=16)",
    "pi-spiral(const=e)+attractor(alpha=learned,layers=1)",
]


def ids(seed=0, n=24, batch=2):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, 256, (batch, n), generator=g)


@torch.no_grad()
def decode_logits(model, tokens, prefill: int):
    """Prefill `prefill` tokens, then feed the rest one at a time through the KV cache."""
    cache = DynamicCache(config=model.config)
    out = [model(tokens[:, :prefill], **{cache_keyword(): cache}, use_cache=True).logits]
    for t in range(prefill, tokens.shape[1]):
        out.append(model(tokens[:, t:t + 1], **{cache_keyword(): cache}, use_cache=True).logits)
    return torch.cat(out, dim=1)


@pytest.mark.parametrize("arch", ARCHS)
def test_hybrid_beyond_the_context_is_bitwise_rope(arch):
    ref = tb.load(f"random:{arch}").model
    hyb = tb.load(f"random:{arch}+hybrid(switch=100000,width=512,const=e)").model
    x = ids(1, 40)
    with torch.no_grad():
        assert torch.equal(hyb(x).logits, ref(x).logits)
        # and through the cache as well
        assert torch.equal(decode_logits(hyb, x, 30), decode_logits(ref, x, 30))


@pytest.mark.parametrize("arch", ["llama-tiny", "phi-tiny"])
def test_spiral_rotary_with_rope_frequencies_reproduces_transformers(arch):
    model = tb.load(f"random:{arch}").model
    native = architecture.rotary_module(model)
    pairs = architecture.rotary_dim(model) // 2
    base = model.config.rope_parameters["rope_theta"]
    ours = PiSpiralRotary(phases.rope_frequencies(pairs, base))
    pos = torch.tensor([[0, 1, 2, 17, 300]])
    x = torch.zeros(1, dtype=torch.float32)
    for a, b in zip(ours(x, pos), native(x, pos), strict=True):  # layout and values
        torch.testing.assert_close(a, b, atol=2e-6, rtol=0)
    # far out, transformers' float32 n·inv_freq is what drifts: ours stays on the float64 angle
    far = torch.tensor([[1_000_003]])
    exact = torch.cos(far[..., None].double() * native.inv_freq.double())[..., 1]
    ours = PiSpiralRotary(phases.from_angular(native.inv_freq.double().numpy()))(x, far)[0][..., 1]
    assert abs(float(ours) - float(exact)) < 1e-6
    assert abs(float(native(x, far)[0][..., 1]) - float(exact)) > 1e-4


# every encoding on Qwen2 (GQA); the three basic ones on every architecture
CACHE_CASES = [("qwen2-tiny", e) for e in ENCODINGS_UNDER_TEST] + [
    (a, e) for a in ARCHS if a != "qwen2-tiny" for e in (ENCODINGS_UNDER_TEST[0], ENCODINGS_UNDER_TEST[2],
                                                         ENCODINGS_UNDER_TEST[4])]


@pytest.mark.parametrize("arch, enc", CACHE_CASES)
def test_prefill_equals_incremental_decoding(arch, enc):
    model = tb.load(f"random:{arch}+{enc}").model
    x = ids(2, 24)
    with torch.no_grad():
        full = model(x).logits
    torch.testing.assert_close(decode_logits(model, x, 9), full, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("arch, enc", [("qwen2-tiny", e) for e in ENCODINGS_UNDER_TEST]
                         + [("phi-tiny", ENCODINGS_UNDER_TEST[4]), ("phi-tiny", ENCODINGS_UNDER_TEST[5])])
def test_causal_perturbing_the_future_leaves_the_past_unchanged(arch, enc):
    model = tb.load(f"random:{arch}+{enc}").model
    x = ids(3, 32)
    y = x.clone()
    y[:, 20:] = torch.randint(3, 256, (2, 12), generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        a, b = model(x).logits, model(y).logits
    assert torch.equal(a[:, :20], b[:, :20])
    assert not torch.allclose(a[:, 20:], b[:, 20:])  # the perturbation does reach the future


@pytest.mark.parametrize("enc", ENCODINGS_UNDER_TEST[2:6])
def test_padded_batch_equals_single_sequences(enc):
    runner = tb.load(f"random:qwen2-tiny+{enc}")
    from toroidal_bench.tasks.base import Rolling

    seqs = [list(range(5, 30)), list(range(40, 52))]
    batched = runner.rolling_loglikelihood([Rolling(s) for s in seqs])
    single = [runner.rolling_loglikelihood([Rolling(s)])[0] for s in seqs]
    for a, b in zip(batched, single, strict=True):
        torch.testing.assert_close(torch.tensor(a.logprobs), torch.tensor(b.logprobs), atol=1e-4, rtol=1e-4)


def test_generate_runs_with_left_padding():
    runner = tb.load("random:llama-tiny+hybrid(switch=8,width=4)+attractor(layers=1)")
    from toroidal_bench.tasks.base import Generate

    outs = runner.generate([Generate(list(range(5, 20)), max_new_tokens=6), Generate([7, 8, 9], max_new_tokens=6)])
    alone = runner.generate([Generate([7, 8, 9], max_new_tokens=6)])
    assert outs[1] == alone[0]


def test_layers_select_where_the_spiral_applies():
    model = tb.load("random:llama-tiny(layers=3)+pi-spiral(const=e,layers=0|2)").model
    seen = {}
    for i, attn in enumerate(architecture.attention_modules(model)):
        attn.register_forward_pre_hook(
            lambda mod, args, kw, i=i: seen.__setitem__(i, kw["position_embeddings"][0].clone()), with_kwargs=True)
    with torch.no_grad():
        model(ids(0, 10))
    native = architecture.rotary_module(model)
    rope_cos = native(torch.zeros(1), torch.arange(10)[None])[0]
    assert torch.equal(seen[1], rope_cos)
    assert not torch.allclose(seen[0], rope_cos) and torch.equal(seen[0], seen[2])


def test_learned_alpha_is_a_trainable_parameter():
    model = tb.load("random:llama-tiny+attractor(alpha=learned,layers=0|1,inject=kv)").model
    names = [n for n, p in model.named_parameters() if "alpha_logit" in n]
    assert len(names) == 2
    model.train()
    loss = model(ids(0, 70), labels=ids(0, 70)).loss  # longer than one scan chunk
    loss.backward()
    grads = [p.grad for n, p in model.named_parameters() if "alpha_logit" in n]
    assert all(g is not None and torch.isfinite(g) and g != 0 for g in grads)


def test_no_state_leaks_between_calls():
    model = tb.load("random:mistral-tiny+attractor(alpha=fixed:0.5)").model
    x = ids(4, 16)
    with torch.no_grad():
        a = model(x).logits
        model(ids(5, 16))  # another sequence in between
        cache = DynamicCache(config=model.config)
        model(ids(6, 16), **{cache_keyword(): cache}, use_cache=True)
        b = model(x).logits
    assert torch.equal(a, b)


@pytest.mark.parametrize("spec, match", [
    ("random:llama-tiny+pi-spiral(const=tau)", "choose one of"),
    ("random:llama-tiny+pi-spiral(seed=3)", "seed only applies"),
    ("random:llama-tiny+pi-spiral(layers=-1)", "layers must be"),
    ("random:llama-tiny+hybrid(switch=10,width=512)", "switch"),
    ("random:llama-tiny+attractor(alpha=exp:-1)", "bad alpha"),
    ("random:llama-tiny+attractor(alpha=0.9)", "bad alpha"),
    ("random:llama-tiny+attractor(alpha=fixed:1.0)", "bad alpha"),
    ("random:llama-tiny+attractor(inject=kv,gate=0.5)", "gate only applies"),
    ("random:llama-tiny+attractor(inject=cross)", "choose one of"),
])
def test_bad_parameters_fail_at_parse_time(spec, match):
    with pytest.raises(SpecError) as info:
        resolve(spec)
    assert match in info.value.line()


@pytest.mark.parametrize("spec, match", [
    ("random:llama-tiny+pi-spiral(layers=5)", "out of range"),
    ("random:llama-tiny+attractor(layers=2)", "out of range"),
    ("random:llama-tiny+alibi+pi-spiral", "already replaced"),
    ("random:llama-tiny+pi-spiral+hybrid", "already replaced"),
    ("random:llama-tiny+alibi+attractor", "two encodings"),
])
def test_bad_combinations_fail_at_load_time(spec, match):
    with pytest.raises(Exception, match=match):
        tb.load(spec)


@pytest.mark.parametrize("name", ["pi-spiral", "hybrid", "attractor"])
def test_wrong_architecture_is_a_clear_error(name):
    enc = ENCODINGS.get(name).from_args({})
    with pytest.raises(SpecError, match="does not support architecture 'gpt2'"):
        enc.check("gpt2")
    for arch in ("llama", "qwen2", "mistral", "phi"):
        enc.check(arch)


def test_canonical_forms_round_trip():
    for text in ["pi-spiral(const=e,layers=0..3)", "hybrid(const=phi,switch=4096,width=512)",
                 "attractor(alpha=exp:1,inject=kv,layers=12)"]:
        res = resolve(f"random:llama-tiny+{text}")
        again = resolve(res.canonical())
        assert again.canonical() == res.canonical()
    assert resolve("random:llama-tiny+attractor(alpha=exp:1)").canonical() == "random:llama-tiny+attractor"
    assert "alpha=fixed:0.9" in resolve("random:llama-tiny+attractor(alpha=fixed:.9)").canonical()


def test_import_stays_torch_free():
    import subprocess
    import sys

    code = ("import sys; from toroidal_bench.encodings import ENCODINGS; ENCODINGS.names();"
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
