"""Toroidal layers, π-Spiral/hybrid rotaries, attractors and dynamic NTK decoding from a static KV cache
(models/decoding.py).

The CUDA graph route cannot run here; its steps are the `static` route's, run eagerly. What a graph
needs from them is checked directly: the same tokens as `model.generate` and as the eager route (a
growing cache), the same logits per step, and no read of a tensor value on the host inside a step.
"""

import contextlib
import warnings

import pytest
import torch
from helpers import cached_runner

import toroidal_bench as tb
from toroidal_bench.encodings.pi_spiral import phases
from toroidal_bench.encodings.pi_spiral.rotary import fixed_mul
from toroidal_bench.models import decoding
from toroidal_bench.models.decoding import Decoder, Route

PROMPTS = [[5 + (7 * i) % 90 for i in range(n)] for n in (4, 40, 17)]  # left-padded to 40
NEW = 12

SPECS = [
    "random:llama-small+toroidal(depth=1,lambda=0.1,layers=0..3)",  # GQA 8/4, every layer
    "random:llama-small+toroidal(depth=4,lambda=0.1,layers=0..1)",
    "random:qwen2-tiny+toroidal(depth=4,lambda=0.1,layers=0..1)",  # GQA 4/2, q/k/v biases
    "random:llama-tiny+toroidal(depth=2,lambda=0.1,window=6,layers=0..1)",  # a window that bites
    "random:phi-tiny+toroidal(depth=2,lambda=0.3,window=5,period=8)",  # distance and window wrap
    "random:llama-tiny+toroidal(depth=2,lambda=0.1,pe=orthogonal,periodic=true,layers=0..1)",
    "random:llama-tiny+pi-spiral(radius=log,radius_start=8)",
    "random:mistral-tiny+hybrid(switch=30,width=8)",  # row 3 (positions 16..28) crosses the ramp
    "random:llama-tiny+attractor(layers=0..1)",  # a summary slot: state carried in the cache's buffers
    "random:llama-tiny+pi-spiral(layers=0)+attractor(inject=residual,layers=1)",  # hooks on both kinds
    "random:llama-tiny+dynamic-ntk(factor=2,original_max_position_embeddings=16)",  # frequencies per step
]


def _runner(runners, spec, attn=None):
    return cached_runner(runners, spec, attn)


def _generate(model, ids, mask, **kwargs):
    out = model.generate(ids, attention_mask=mask, max_new_tokens=NEW, do_sample=False, pad_token_id=0,
                         eos_token_id=None, **kwargs)
    return out[:, ids.shape[1]:].tolist()


def _decode_logging_steps(model, route, ids, mask, monkeypatch):
    """Tokens of `route` and the logits (B, 1, V) of each of its decoding steps."""
    logits = []
    real = decoding._forward
    monkeypatch.setattr(decoding, "_forward", lambda *a: logits.append(real(*a)) or logits[-1])
    rows = Decoder(model, Route(route)).decode(ids, mask, NEW, [], 0)
    monkeypatch.setattr(decoding, "_forward", real)
    return rows, torch.stack(logits)


@pytest.mark.parametrize("spec", SPECS)
def test_static_steps_match_the_eager_route_and_generate(runners, spec, monkeypatch):
    runner = _runner(runners, spec)
    assert runner.decoder.route.name == "static", runner.decode_route  # no longer sent to `eager`
    ids, mask = runner._left_pad(PROMPTS)
    static, static_logits = _decode_logging_steps(runner.model, "static", ids, mask, monkeypatch)
    eager, eager_logits = _decode_logging_steps(runner.model, "eager", ids, mask, monkeypatch)
    assert static == eager == _generate(runner.model, ids, mask)
    assert static_logits.shape == eager_logits.shape == (NEW - 1, len(PROMPTS), 1, runner.model.config.vocab_size)
    assert (static_logits - eager_logits).abs().max() < 1e-5


def test_float_masks_of_eager_attention_decode_alike(monkeypatch):
    runner = tb.load("random:llama-tiny+toroidal(depth=2,lambda=0.1,layers=0..1)", device="cpu")
    runner.model.set_attn_implementation("eager")
    assert decoding.mask_kind(runner.model) == "float"
    ids, mask = runner._left_pad(PROMPTS)
    static, static_logits = _decode_logging_steps(runner.model, "static", ids, mask, monkeypatch)
    eager, eager_logits = _decode_logging_steps(runner.model, "eager", ids, mask, monkeypatch)
    assert static == eager == _generate(runner.model, ids, mask)
    assert (static_logits - eager_logits).abs().max() < 1e-5


class HostRead(AssertionError):
    pass


@contextlib.contextmanager
def no_host_reads():
    """Every Python-level way of reading a tensor's value on the host, or of making one from host data,
    raises HostRead (on a GPU each is a sync or a copy, which a CUDA graph capture refuses)."""
    names = ("item", "__bool__", "__int__", "__float__", "__index__", "tolist", "numpy", "cpu")
    saved = {name: getattr(torch.Tensor, name) for name in names}
    made = {name: getattr(torch, name) for name in ("equal", "tensor", "as_tensor")}

    def refuse(what):
        def raise_(*args, **kwargs):
            raise HostRead(f"{what} inside a decoding step")
        return raise_

    try:
        for name in names:
            setattr(torch.Tensor, name, refuse(f"Tensor.{name}"))
        torch.equal = refuse("torch.equal")
        # a tensor made from host data is a host-to-device copy on a GPU, which a capture refuses too
        torch.tensor, torch.as_tensor = refuse("torch.tensor"), refuse("torch.as_tensor")
        yield
    finally:
        for name, method in saved.items():
            setattr(torch.Tensor, name, method)
        for name, fn in made.items():
            setattr(torch, name, fn)


@pytest.fixture
def guarded_steps(monkeypatch):
    real = decoding._StaticSession._step

    def step(self):
        with no_host_reads():
            real(self)

    monkeypatch.setattr(decoding._StaticSession, "_step", step)


@pytest.mark.parametrize("spec", [SPECS[1], SPECS[4], SPECS[5], SPECS[6], SPECS[7], SPECS[8], SPECS[9],
                                  SPECS[10]])
def test_a_static_step_reads_nothing_on_the_host(runners, spec, guarded_steps):
    runner = _runner(runners, spec)
    ids, mask = runner._left_pad(PROMPTS)
    assert len(Decoder(runner.model, Route("static")).decode(ids, mask, 4, [], 0)[0]) == 4


def test_the_guard_catches_a_host_read(runners, guarded_steps, monkeypatch):
    from toroidal_bench.encodings.toroidal import masks

    runner = _runner(runners, SPECS[1])
    ids, mask = runner._left_pad(PROMPTS)
    # the mask analysis of growing-cache calls, which compares masks on the host
    monkeypatch.setattr("toroidal_bench.encodings.toroidal.inject.from_step_mask",
                        lambda m, kv_len: masks.from_hf_mask(m, 1, kv_len)[::2])
    with pytest.raises(HostRead):
        Decoder(runner.model, Route("static")).decode(ids, mask, 4, [], 0)


@pytest.mark.parametrize("spec", [SPECS[1], SPECS[7], SPECS[8], SPECS[9], SPECS[10]])
def test_a_static_step_compiles_without_graph_breaks(runners, spec):
    """dynamo's fullgraph mode refuses any graph break, which every data-dependent branch or host read
    (`.item()`, `bool(t)`, `torch.equal`, a data-dependent shape) causes."""
    runner = _runner(runners, spec)
    ids, mask = runner._left_pad(PROMPTS)
    decoder = Decoder(runner.model, Route("static"))
    decoder.decode(ids, mask, 3, [], 0)  # builds the session: cache, buffers for 3 new tokens
    session = decoder._session
    torch._dynamo.reset()
    with torch.inference_mode(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # dynamo's note on tracing through functools.cache
        session.start([(ids, mask)], [], 0)
        torch.compile(session._step, fullgraph=True, backend="eager")()
        session.step()
    torch._dynamo.reset()
    assert session.state.out[:, :3].tolist() == [row[:3] for row in _generate(runner.model, ids, mask)]


@pytest.mark.parametrize("backend", ["ring", "flex"])
def test_backends_that_plan_on_the_host_keep_the_eager_route(backend):
    runner = tb.load(f"random:llama-tiny+toroidal(depth=2,lambda=0.1,backend={backend},layers=0..1)", device="cpu")
    assert runner.decode_route == "eager (ToroidalHFAttention modules)"


def test_a_host_planned_backend_forced_onto_a_static_cache_is_still_right():
    runner = tb.load("random:llama-tiny+toroidal(depth=2,lambda=0.1,window=6,backend=ring,layers=0..1)",
                     device="cpu")
    ids, mask = runner._left_pad(PROMPTS)
    assert Decoder(runner.model, Route("static")).decode(ids, mask, NEW, [], 0) == _generate(runner.model, ids, mask)


@pytest.mark.parametrize("spec", [SPECS[3], SPECS[4]])
def test_generate_on_transformers_static_cache_equals_the_dynamic_one(runners, spec):
    """model.generate's own static cache: a prefill into it and steps after it, the query slot taken from
    the cache (kv_len − q_len is the end of the slots there, not the query)."""
    runner = _runner(runners, spec)
    ids, mask = runner._left_pad(PROMPTS)
    assert _generate(runner.model, ids, mask, cache_implementation="static") == _generate(runner.model, ids, mask)


def test_spiral_phases_stay_exact_beyond_2_31():
    freqs = torch.from_numpy(phases.spiral_frequencies("pi", 8))
    n = torch.tensor([[0, 5, 2**31 - 1, 2**31, 2**31 + 7, 3 * 2**40 + 12345, 2**62 - 1]])
    got = fixed_mul(n, freqs)[0].tolist()
    want = [[(int(p) * int(a)) % phases.ONE for a in freqs] for p in n[0]]
    assert got == want
    assert fixed_mul(n[:, :3], freqs).tolist() == phases.mul_mod(n[:, :3, None], freqs).tolist()
