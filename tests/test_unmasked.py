"""Left-padded batches run unmasked (models/unmasked.py): padding rolled behind the tokens, no mask,
the same numbers as the masked left-padded forward."""

import pytest
import torch

import toroidal_bench as tb
from toroidal_bench.models import unmasked
from toroidal_bench.tasks.base import LogLikelihood, Rolling

LENGTHS = (40, 31, 23, 4)
SEQS = [[5 + (7 * i + n) % 90 for i in range(n)] for n in LENGTHS]


def test_roll_and_unroll_restore_the_left_padded_layout():
    runner = tb.load("random:llama-tiny", device="cpu")
    ids, mask = runner._left_pad(SEQS)
    rolled, positions, back = unmasked.roll(ids, mask)
    for row, seq in zip(rolled.tolist(), SEQS, strict=True):
        assert row[:len(seq)] == seq  # tokens first, at positions 0, 1, …
    assert positions.tolist() == [list(range(ids.shape[1]))] * len(SEQS)
    assert torch.equal(unmasked.unroll(rolled, back, dim=1)[mask.bool()], ids[mask.bool()])
    assert torch.equal(unmasked.unroll(rolled[:, None], back, dim=2)[:, 0], unmasked.unroll(rolled, back, dim=1))
    same = torch.ones_like(ids)
    assert unmasked.roll(ids, same)[2] is None  # nothing padded: nothing rolled


def _spy_sdpa(monkeypatch):
    seen = []
    sdpa = torch.nn.functional.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, *args, is_causal=False, **kwargs):
        seen.append((q.shape[-2], attn_mask is None, is_causal))
        return sdpa(q, k, v, attn_mask, *args, is_causal=is_causal, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    return seen


@pytest.mark.parametrize("spec", ["random:llama-tiny", "random:qwen2-tiny", "random:phi-tiny", "random:mistral-tiny",
                                  "random:llama-tiny+yarn(factor=2)", "random:llama-tiny+pi-spiral",
                                  "random:qwen2-tiny+alibi",
                                  "random:llama-tiny+toroidal(depth=2,lambda=0.1,backend=ring,layers=0..1)",
                                  "random:phi-tiny+toroidal(depth=2,lambda=0.3,window=5,period=8)"])
def test_scoring_a_padded_batch_unmasked_gives_the_masked_numbers(spec, monkeypatch):
    runner = tb.load(spec, device="cpu")
    lls = [LogLikelihood(tuple(s[:-3]), tuple(s[-3:])) for s in SEQS]
    rolling = [Rolling(tuple(s)) for s in SEQS]
    runner.unmasked_scoring = False
    masked = runner.loglikelihood(lls), runner.rolling_loglikelihood(rolling)
    runner.unmasked_scoring = True
    seen = _spy_sdpa(monkeypatch)
    ours = runner.loglikelihood(lls), runner.rolling_loglikelihood(rolling)
    if "toroidal" not in spec and "alibi" not in spec:  # their own attention functions: not through SDPA's mask
        assert seen and all(unmasked_ and causal for _, unmasked_, causal in seen)
    for (lp, greedy), (lp0, greedy0) in zip(ours[0], masked[0], strict=True):
        assert lp == pytest.approx(lp0, abs=1e-4) and greedy == greedy0
    for got, want in zip(ours[1], masked[1], strict=True):
        assert got.logprobs == pytest.approx(want.logprobs, abs=1e-4)
        assert (got.greedy == want.greedy).all()


def test_models_that_need_left_padding_keep_the_mask(monkeypatch):
    runner = tb.load("random:llama-tiny+attractor", device="cpu")
    assert unmasked.needs_left_padding(runner.model)
    seen = _spy_sdpa(monkeypatch)
    runner.loglikelihood([LogLikelihood(tuple(s[:-3]), tuple(s[-3:])) for s in SEQS])
    assert seen and not any(unmasked_ for _, unmasked_, _ in seen)
