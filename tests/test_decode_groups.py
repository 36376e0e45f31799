"""Decode groups: rows of several prefill sub-batches decoded as one batch from one static cache
(models/decoding.py `decode_parts`, Runner.generate), checked against transformers' `generate` on CPU."""

import pytest
import torch
from helpers import cached_runner

import toroidal_bench as tb
from toroidal_bench.models import decode_memory, decoding, grouped_attention
from toroidal_bench.models.decode_memory import group_rows, group_sizes
from toroidal_bench.models.decoding import Decoder, Route
from toroidal_bench.tasks.base import Generate

# longest first, as the Runner orders a group; under a budget of 64 tokens the sub-batches are
# [40], [31, 23], [17, 9, 4]: three prefills of widths 40, 31 and 17
LENGTHS = (40, 31, 23, 17, 9, 4)
PROMPTS = [[5 + (7 * i + n) % 90 for i in range(n)] for n in LENGTHS]
SUBS = [[0], [1, 2], [3, 4, 5]]


def _runner(runners, spec, attn=None):
    return cached_runner(runners, spec, attn)


def _hf(runner, prompts, max_new, eos=None, **kwargs):
    """transformers' greedy generate on one left-padded batch, rows cut after their first EOS."""
    ids, mask = runner._left_pad(prompts)
    out = runner.model.generate(ids, attention_mask=mask, max_new_tokens=max_new, do_sample=False,
                                pad_token_id=runner.pad_id, eos_token_id=eos, **kwargs)[:, ids.shape[1]:]
    return [row[:row.index(eos) + 1] if eos in row else row for row in out.tolist()]


def _parts(runner, subs=SUBS):
    return [runner._left_pad([PROMPTS[j] for j in sub]) for sub in subs]


@pytest.mark.parametrize("spec, attn", [("random:llama-tiny", None), ("random:qwen2-tiny+alibi", None),
                                        ("random:phi-tiny", None), ("random:llama-tiny", "eager"),
                                        # the encodings whose layers decode from a static cache too
                                        ("random:llama-small+toroidal(depth=4,lambda=0.1,layers=0..1)", None),
                                        ("random:llama-tiny+toroidal(depth=1,lambda=0.3,window=16)", None),
                                        ("random:llama-tiny+pi-spiral", None),
                                        ("random:llama-tiny+hybrid(switch=20,width=8)", None),
                                        ("random:llama-tiny+pi-spiral(layers=0)", None),
                                        ("random:llama-tiny+attractor", None),
                                        ("random:llama-tiny+attractor(inject=residual,layers=1)", None),
                                        ("random:llama-tiny+pi-spiral(layers=0)+attractor(layers=1)", None)])
def test_sub_batches_of_different_widths_decode_like_one_generate(runners, spec, attn):
    runner = _runner(runners, spec, attn)
    decoder = Decoder(runner.model)
    assert decoder.groups_prefills, decoder.route
    ours = decoder.decode_parts(_parts(runner), 12, [], runner.pad_id)
    assert ours == _hf(runner, PROMPTS, 12)
    assert all(len(r) == 12 for r in ours)


def test_grouped_heads_change_no_token(runners):
    runner = _runner(runners, "random:llama-tiny")
    assert runner.model.config.num_attention_heads > runner.model.config.num_key_value_heads  # GQA: heads fold
    plain = Decoder(runner.model, grouped_heads=False).decode_parts(_parts(runner), 12, [], runner.pad_id)
    assert plain == Decoder(runner.model).decode_parts(_parts(runner), 12, [], runner.pad_id)


def test_eos_ends_its_row_in_any_sub_batch(runners):
    runner = _runner(runners, "random:llama-tiny")
    free = Decoder(runner.model).decode_parts(_parts(runner), 12, [], runner.pad_id)
    # an EOS id that row j (not in the first sub-batch) emits first at step 3 and no other row emits
    choice = [(j, row[3]) for j, row in enumerate(free) if j > 0 and row[3] not in row[:3]
              and not any(row[3] in other for k, other in enumerate(free) if k != j)]
    assert choice, "no token fits as a one-row EOS; pick other prompts"
    j, eos = choice[0]
    ours = Decoder(runner.model).decode_parts(_parts(runner), 12, [eos], runner.pad_id)
    assert ours == _hf(runner, PROMPTS, 12, eos=eos)
    assert ours[j] == free[j][:4]
    assert all(len(r) == 12 for k, r in enumerate(ours) if k != j)


def test_the_eager_route_takes_one_prefill_batch():
    runner = tb.load("random:llama-tiny", device="cpu")
    handle = runner.model.model.layers[0].register_forward_hook(lambda *args: None)  # a hook tbench can't vouch for
    decoder = Decoder(runner.model)
    handle.remove()
    assert decoder.route.name == "eager" and not decoder.groups_prefills
    with pytest.raises(ValueError, match="one prefill batch"):
        decoder.decode_parts(_parts(runner), 4, [], runner.pad_id)


class _Calls:
    """Counts prefill forwards (and their rows) and decoding-step forwards (and their rows)."""

    def __init__(self, monkeypatch):
        self.prefills, self.steps = [], []
        forward = decoding._forward
        for name in ("_prefill", "_prefill_unmasked"):
            monkeypatch.setattr(decoding, name, self._counted(getattr(decoding, name)))
        monkeypatch.setattr(decoding, "_forward", lambda m, tok, *a: self.steps.append(tok.shape[0]) or forward(m, tok, *a))

    def _counted(self, prefill):
        return lambda m, ids, mask: self.prefills.append(ids.shape) or prefill(m, ids, mask)

    def clear(self):
        self.prefills.clear()
        self.steps.clear()


def test_a_group_prefills_per_sub_batch_and_decodes_once(runners, monkeypatch):
    """Decode steps run once per group, not once per prefill sub-batch; outputs as transformers'."""
    runner = tb.load("random:llama-tiny", device="cpu", max_batch_tokens=64)
    reqs = [Generate(tuple(p), 10) for p in PROMPTS[::-1]]  # any order: the Runner sorts
    expected = [runner.tokenizer.decode(row, skip_special_tokens=True) for row in _hf(runner, PROMPTS[::-1], 10)]
    calls = _Calls(monkeypatch)
    assert runner.generate(reqs) == expected
    assert calls.prefills == [(1, 40), (2, 31), (3, 17)]
    assert calls.steps == [6] * 9  # 10 tokens: the prefill's and 9 steps, all six rows at once
    calls.clear()
    runner.group_decoding = False  # each prefill batch decodes alone
    assert runner.generate(reqs) == expected
    assert calls.prefills == [(1, 40), (2, 31), (3, 17)]
    assert calls.steps == [1] * 9 + [2] * 9 + [3] * 9


def test_padded_prefills_run_unmasked_causal_attention(monkeypatch):
    """A left-padded sub-batch is prefilled with its padding moved behind the tokens: SDPA sees no mask
    and runs causal (its fused kernels); the tokens are those of the masked, left-padded generate."""
    runner = tb.load("random:llama-tiny", device="cpu", max_batch_tokens=64)
    reqs = [Generate(tuple(p), 6) for p in PROMPTS]
    seen = []
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, *args, is_causal=False, **kwargs):
        if q.shape[-2] == k.shape[-2]:  # a prefill (decoding steps attend from one position, heads folded)
            seen.append((q.shape[-2], attn_mask is None, is_causal))
        return sdpa(q, k, v, attn_mask, *args, is_causal=is_causal, **kwargs)

    expected = [runner.tokenizer.decode(row, skip_special_tokens=True) for row in _hf(runner, PROMPTS, 6)]
    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    assert runner.generate(reqs) == expected
    assert set(seen) == {
        (40, True, True), (31, True, True), (17, True, True)}


def test_groups_follow_the_memory_budget(monkeypatch):
    runner = tb.load("random:llama-tiny", device="cpu", max_batch_tokens=10**6)
    decode_row = decode_memory.decode_row_bytes(runner.model, 40, 6)
    prefill_row = decode_memory.prefill_row_bytes(runner.model, 40)
    runner.max_memory_bytes = 2 * (decode_row + prefill_row) + decode_row // 2  # a group of 2, prefilled as 2
    calls = _Calls(monkeypatch)
    reqs = [Generate(tuple(range(3, 43)), 6) for _ in range(5)]
    out = runner.generate(reqs)
    assert len(set(out)) == 1
    assert [shape[0] for shape in calls.prefills] == [2, 2, 1]
    assert calls.steps == [2] * 5 + [2] * 5 + [1] * 5
    calls.clear()
    runner.max_batch_tokens = 80  # two prompts of 40 tokens a prefill
    runner.max_memory_bytes = 2 * prefill_row + 5 * decode_row  # room for a group of 5 rows
    assert runner.generate(reqs) == out
    assert [shape[0] for shape in calls.prefills] == [2, 2, 1]
    assert calls.steps == [5] * 5


def test_stop_strings_per_row_across_sub_batches(runners):
    runner = tb.load("random:llama-tiny", device="cpu", max_batch_tokens=64)
    free = runner.generate([Generate(tuple(p), 16) for p in PROMPTS])
    stop = free[4][5:7]  # met by row 4 (the last sub-batch) after 5 characters (one token per byte)
    assert len(stop) == 2
    reqs = [Generate(tuple(p), 16, (stop,)) for p in PROMPTS]
    ours = runner.generate(reqs)
    old, runner.decoder = runner.decoder, Decoder(runner.model, Route("generate"))
    try:
        theirs = runner.generate(reqs)
    finally:
        runner.decoder = old
    assert ours == theirs
    assert ours[4] == free[4][:free[4].index(stop)] and len(ours[4]) <= 5


def test_a_session_serves_the_next_group_of_the_same_shape(runners):
    runner = _runner(runners, "random:llama-tiny")
    decoder = Decoder(runner.model)
    a = decoder.decode_parts(_parts(runner), 8, [], runner.pad_id)
    session = decoder._session
    assert decoder.held_bytes() > 0
    b = decoder.decode_parts(_parts(runner, [[0, 1], [2, 3, 4, 5]]), 8, [], runner.pad_id)
    assert decoder._session is session  # same rows, cache slots and length: same cache and buffers
    assert a == b


def test_group_rows_from_a_memory_budget():
    # no budget (CPU): the row cap; the token budget's sub-batch
    assert group_rows(None, 100, 50, 8) == (decode_memory.MAX_ROWS, 8)
    # room for one sub-batch of 2 (2 × 50) and 9 decode rows of 100
    assert group_rows(1000, 100, 50, 2) == (9, 2)
    assert group_rows(1000, 100, 50, 4) == (8, 4)
    # the sub-batch shrinks to what fits with as many decode rows: 1000 // 150 = 6, then 700 left: 7 rows
    assert group_rows(1000, 100, 50, 16) == (7, 6)
    assert group_rows(10**9, 100, 50, 2, cap=64) == (64, 2)
    assert group_rows(10, 100, 50, 4) == (1, 1)  # nothing fits: one row, the backoff decides
    assert group_rows(10**9, 100, 50, 500) == (decode_memory.MAX_ROWS, decode_memory.MAX_ROWS)


def test_decode_row_bytes_cover_the_static_cache_a_row_holds(runners):
    runner = _runner(runners, "random:llama-tiny")
    decoder = Decoder(runner.model)
    decoder.decode_parts(_parts(runner), 6, [], runner.pad_id)
    per_row = decoder.held_bytes() // len(PROMPTS)
    assert per_row == decode_memory.kv_bytes_per_token(runner.model) * decode_memory.cache_slots(40 + 6)
    assert per_row < decode_memory.decode_row_bytes(runner.model, 40, 6)
    assert decode_memory.prefill_row_bytes(runner.model, 40) > decode_memory.kv_bytes_per_token(runner.model) * 40


@pytest.mark.parametrize("n, rows, sizes", [(100, 256, [100]), (100, 64, [50, 50]), (5, 2, [2, 2, 1]),
                                            (7, 3, [3, 2, 2]), (1, 1, [1]), (3, 0, [1, 1, 1])])
def test_group_sizes_are_even(n, rows, sizes):
    assert group_sizes(n, rows) == sizes


def _count_repeats(monkeypatch) -> list:
    from transformers.integrations import sdpa_attention

    repeats = []
    real = sdpa_attention.repeat_kv
    monkeypatch.setattr(sdpa_attention, "repeat_kv", lambda *a: repeats.append(a[0].shape) or real(*a))
    return repeats


def test_grouped_sdpa_equals_transformers_sdpa_without_repeating_heads(monkeypatch):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    repeats = _count_repeats(monkeypatch)
    torch.manual_seed(0)
    module = torch.nn.Module()
    module.num_key_value_groups, module.is_causal = 3, True
    q = torch.randn(2, 6, 1, 8, dtype=torch.float64)
    k, v = (torch.randn(2, 2, 20, 8, dtype=torch.float64) for _ in range(2))
    mask = torch.zeros(2, 1, 1, 20, dtype=torch.bool)
    mask[0, ..., 3:17] = mask[1, ..., 9:20] = True  # left padding, unwritten slots
    ours, _ = grouped_attention.grouped_sdpa(module, q, k, v, mask, scaling=0.3)
    assert not repeats
    theirs, _ = sdpa_attention_forward(module, q, k, v, mask, scaling=0.3)
    assert ours.shape == theirs.shape == (2, 1, 6, 8)
    assert torch.allclose(ours, theirs, atol=1e-12)
    # more than one query: transformers' own function
    q3 = torch.randn(2, 6, 3, 8, dtype=torch.float64)
    mask3 = torch.ones(2, 1, 3, 20, dtype=torch.bool).tril(diagonal=17)
    assert torch.equal(grouped_attention.grouped_sdpa(module, q3, k, v, mask3)[0],
                       sdpa_attention_forward(module, q3, k, v, mask3)[0])


def test_decoding_steps_never_repeat_kv_heads(runners, monkeypatch):
    runner = _runner(runners, "random:llama-tiny")
    ids, mask = runner._left_pad(PROMPTS[:2])  # padded, but prefilled unmasked: SDPA groups heads itself
    layers = runner.model.config.num_hidden_layers
    repeats = _count_repeats(monkeypatch)
    Decoder(runner.model).decode(ids, mask, 5, [], runner.pad_id)
    assert repeats == []
    Decoder(runner.model, unmasked_prefill=False).decode(ids, mask, 5, [], runner.pad_id)
    assert [shape[2] for shape in repeats] == [ids.shape[1]] * (2 * layers)  # the masked prefill repeats them
    repeats.clear()
    Decoder(runner.model, grouped_heads=False).decode(ids, mask, 5, [], runner.pad_id)
    assert len(repeats) == (0 if grouped_attention.library_groups_heads() else 4 * 2 * layers)


def test_grouped_attention_switches_stock_sdpa_only_inside(runners):
    runner = _runner(runners, "random:llama-tiny")
    with grouped_attention.grouped_attention(runner.model):
        inside = runner.model.config._attn_implementation
    assert inside == ("sdpa" if grouped_attention.library_groups_heads() else grouped_attention.GROUPED_SDPA)
    assert runner.model.config._attn_implementation == "sdpa"
    alibi = _runner(runners, "random:qwen2-tiny+alibi").model.config
    before = alibi._attn_implementation
    with grouped_attention.grouped_attention(_runner(runners, "random:qwen2-tiny+alibi").model):
        assert alibi._attn_implementation == before  # an encoding's own function: left alone


def test_a_group_out_of_memory_is_halved_and_retried(monkeypatch):
    runner = tb.load("random:llama-tiny", device="cpu", max_batch_tokens=64)
    reqs = [Generate(tuple(p), 6) for p in PROMPTS]
    expected = runner.generate(reqs)
    real = runner.decoder.decode_parts
    rows = []

    def flaky(parts, *args, **kwargs):
        rows.append(sum(ids.shape[0] for ids, _ in parts))
        if rows[-1] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(parts, *args, **kwargs)

    monkeypatch.setattr(runner.decoder, "decode_parts", flaky)
    assert runner.generate(reqs) == expected
    assert rows == [6, 3, 1, 2, 3, 1, 2] and runner.max_batch_tokens == 8  # halved at each of 3 failures
