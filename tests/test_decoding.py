"""The greedy decoder (models/decoding.py) against transformers' own `generate`, on random tiny models.

The CUDA graph route cannot run here; its steps are the `static` route's, which these tests run.
"""

import pytest
import torch
from helpers import cached_runner

import toroidal_bench as tb
from toroidal_bench.attention.alibi import alibi_sdpa, slopes
from toroidal_bench.models import decode_memory, decoding
from toroidal_bench.models.decoding import Decoder, Route
from toroidal_bench.models.runner import cut_at_stop
from toroidal_bench.tasks.base import Generate

PROMPTS = [[5 + (7 * i) % 90 for i in range(n)] for n in (4, 40, 17)]

ROUTES = {
    "random:llama-tiny": "static",
    "random:qwen2-tiny+alibi": "static",
    "random:phi-tiny": "static",
    "random:qwen2-tiny+yarn(factor=2)": "static",
    "random:llama-small+toroidal(depth=2,layers=0..1)": "static",
    "random:llama-tiny+attractor": "static",
    "random:llama-tiny+pi-spiral(layers=0)+attractor(inject=residual)": "static",
    "random:llama-tiny+pi-spiral": "static",
    "random:llama-tiny+dynamic-ntk(factor=2,original_max_position_embeddings=16)": "static",
}


def _runner(runners, spec, attn=None):
    return cached_runner(runners, spec, attn)


def _hf(runner, prompts, max_new, eos=None, **kwargs):
    """transformers' greedy generate on the same left-padded batch, rows cut after their first EOS."""
    ids, mask = runner._left_pad(prompts)
    out = runner.model.generate(ids, attention_mask=mask, max_new_tokens=max_new, do_sample=False,
                                pad_token_id=runner.pad_id, eos_token_id=eos, **kwargs)[:, ids.shape[1]:]
    rows = []
    for row in out.tolist():
        end = row.index(eos) + 1 if eos in row else len(row)
        rows.append(row[:end])
    return rows


def _ours(runner, prompts, max_new, eos=(), decoder=None, **kwargs):
    ids, mask = runner._left_pad(prompts)
    return (decoder or runner.decoder).decode(ids, mask, max_new, list(eos), runner.pad_id, **kwargs)


@pytest.mark.parametrize("spec", list(ROUTES))
def test_greedy_tokens_equal_transformers_generate_with_left_padding(runners, spec):
    runner = _runner(runners, spec)
    assert runner.decoder.route.name == ROUTES[spec], runner.decode_route
    ours = _ours(runner, PROMPTS, 10)
    assert ours == _hf(runner, PROMPTS, 10)
    assert all(len(r) == 10 for r in ours)


@pytest.mark.parametrize("spec", ["random:llama-tiny", "random:qwen2-tiny+alibi", "random:llama-tiny+attractor"])
def test_eos_ends_one_row_and_the_others_go_on(runners, spec):
    runner = _runner(runners, spec)
    free = _ours(runner, PROMPTS, 12)
    # an EOS id that row j emits first at step 3 and no other row emits at all
    choice = [(j, row[3]) for j, row in enumerate(free)
              if row[3] not in row[:3] and not any(row[3] in other for k, other in enumerate(free) if k != j)]
    assert choice, "no token fits as a one-row EOS; pick other prompts"
    j, eos = choice[0]
    ours = _ours(runner, PROMPTS, 12, eos=[eos])
    assert ours == _hf(runner, PROMPTS, 12, eos=eos)
    assert ours[j] == free[j][:4]
    assert [len(r) for k, r in enumerate(ours) if k != j] == [12, 12]


def test_batch_stops_early_once_every_row_is_done(runners, monkeypatch):
    runner = _runner(runners, "random:llama-tiny")
    free = _ours(runner, PROMPTS[:1], 40)
    eos = free[0][3]
    calls = []
    real = decoding._forward
    monkeypatch.setattr(decoding, "_forward", lambda *a: calls.append(1) or real(*a))
    ours = _ours(runner, PROMPTS[:1], 40, eos=[eos], decoder=Decoder(runner.model, check_every=4))
    assert ours == [free[0][:free[0].index(eos) + 1]]
    assert len(calls) < 8  # found done at the first check after EOS, not after 40 steps


@pytest.mark.parametrize("spec", ["random:llama-tiny", "random:llama-small+toroidal(depth=2,layers=0..1)"])
def test_stop_strings_cut_like_transformers_generate(runners, spec):
    runner = _runner(runners, spec)
    free = runner.generate([Generate(tuple(p), 16) for p in PROMPTS])
    stop = free[1][6:8]  # met by row 1 after 6 characters (the byte tokenizer: one token per byte)
    assert len(stop) == 2
    reqs = [Generate(tuple(p), 16, (stop,)) for p in PROMPTS]
    ours = runner.generate(reqs)
    hf = Decoder(runner.model, Route("generate"))
    old, runner.decoder = runner.decoder, hf
    try:
        theirs = runner.generate(reqs)
    finally:
        runner.decoder = old
    assert ours == theirs
    assert ours[1] == cut_at_stop(free[1], (stop,)) and len(ours[1]) <= 6


def test_one_new_token(runners):
    runner = _runner(runners, "random:qwen2-tiny+alibi")
    assert _ours(runner, PROMPTS, 1) == _hf(runner, PROMPTS, 1)
    assert runner.generate([Generate((5, 6, 7), 0)]) == [""]


def test_a_session_is_reused_for_batches_of_the_same_shape(runners):
    runner = _runner(runners, "random:llama-tiny")
    decoder = Decoder(runner.model)
    a = _ours(runner, PROMPTS, 8, decoder=decoder)
    session = decoder._session
    b = _ours(runner, [p[::-1] for p in PROMPTS], 8, decoder=decoder)
    assert decoder._session is session  # same rows, cache slots and length: same cache and buffers
    assert a == _ours(runner, PROMPTS, 8, decoder=Decoder(runner.model))
    assert b == _ours(runner, [p[::-1] for p in PROMPTS], 8, decoder=Decoder(runner.model))


def test_generation_config_penalties_take_transformers_generate(runners):
    runner = tb.load("random:llama-tiny", device="cpu")
    runner.model.generation_config.repetition_penalty = 1.3
    runner.decoder = Decoder(runner.model)
    assert runner.decode_route == "generate (generation config sets repetition_penalty)"
    out = runner.generate([Generate(tuple(PROMPTS[1]), 8)])
    expected = runner.tokenizer.decode(_hf(runner, PROMPTS[1:2], 8, repetition_penalty=1.3)[0],
                                       skip_special_tokens=True)
    assert out == [expected]


def test_the_route_is_chosen_again_when_the_model_is_patched_later():
    runner = tb.load("random:llama-tiny", device="cpu")
    reqs = [Generate(tuple(p), 5) for p in PROMPTS]
    plain = runner.generate(reqs)
    assert runner.decode_route.startswith("static")
    hook = runner.model.model.layers[0].register_forward_hook(lambda *args: None)
    try:
        assert runner.generate(reqs) == plain
        assert runner.decode_route == "eager (forward hooks on 'model.layers.0')"
    finally:
        hook.remove()
    runner.generate(reqs)
    assert runner.decode_route.startswith("static")


def test_kv_bytes_per_token_is_what_the_cache_holds(runners):
    runner = _runner(runners, "random:llama-small+toroidal(depth=2,layers=0..1)")
    ids, mask = runner._left_pad(PROMPTS)
    cache = decoding._prefill(runner.model, ids, mask)[1]
    held = sum(t.numel() * t.element_size() for layer in cache.layers for t in (layer.keys, layer.values))
    assert held == decode_memory.kv_bytes_per_token(runner.model) * ids.numel()


def test_batches_are_sized_by_the_memory_budget_without_decode_groups(monkeypatch):
    runner = tb.load("random:llama-tiny", device="cpu", max_batch_tokens=10**6)
    runner.group_decoding = False
    per_row = decode_memory.row_bytes(runner.model, 40, 6, static=True)
    assert per_row > decode_memory.row_bytes(runner.model, 17, 6, static=True) > decode_memory.kv_bytes_per_token(runner.model) * 23
    runner.max_memory_bytes = int(2.5 * per_row)
    sizes = []
    real = runner._generate_group
    monkeypatch.setattr(runner, "_generate_group",
                        lambda reqs, idx, out, **kw: sizes.append(len(reqs)) or real(reqs, idx, out, **kw))
    reqs = [Generate(tuple(range(3, 43)), 6) for _ in range(5)]
    out = runner.generate(reqs)
    assert sizes == [2, 2, 1]
    assert len(set(out)) == 1


def test_alibi_bias_follows_the_query_slot_in_a_static_cache():
    """A query at slot t of a long, masked static cache gets the bias it gets with keys 0..t only (in
    bf16: a bias taken from the last slot would be off by m·(slots − t), far beyond bf16's precision)."""
    torch.manual_seed(0)
    module = torch.nn.Module()
    module.tbench_alibi_slopes = slopes(4)
    slots, t = 2048, 6
    q = torch.randn(2, 4, 1, 8, dtype=torch.bfloat16)
    k, v = (torch.randn(2, 2, slots, 8, dtype=torch.bfloat16) for _ in range(2))
    allowed = torch.zeros(2, 1, 1, slots, dtype=torch.bool)
    allowed[..., 1:t + 1] = True  # a left-padded slot 0; slots after t not written yet
    static, _ = alibi_sdpa(module, q, k, v, allowed)
    grown, _ = alibi_sdpa(module, q, k[:, :, :t + 1], v[:, :, :t + 1], allowed[..., :t + 1])
    assert torch.allclose(static.float(), grown.float(), atol=1e-2)
