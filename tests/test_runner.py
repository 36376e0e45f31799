import numpy as np
import pytest
import torch

import toroidal_bench as tb
from toroidal_bench.models.logprobs import token_logprobs
from toroidal_bench.models.runner import cut_at_stop
from toroidal_bench.models.windows import disjoint_windows, strided_windows
from toroidal_bench.tasks.base import Generate, LogLikelihood, Rolling


@pytest.fixture(scope="module")
def runner():
    return tb.load("random:llama-tiny", max_batch_tokens=256)


def _direct_logprobs(runner, ids):
    with torch.no_grad():
        lp = torch.log_softmax(runner.model(torch.tensor([ids])).logits[0].double(), -1)
    return np.array([lp[i - 1, ids[i]].item() for i in range(1, len(ids))])


def test_loglikelihood_matches_a_plain_forward_and_ignores_batching(runner):
    reqs = [LogLikelihood(tuple(range(3, 3 + n)), (40, 41, 42)) for n in (5, 30, 12, 60)]
    batched = runner.loglikelihood(reqs)
    for r, (lp, _) in zip(reqs, batched, strict=True):
        ids = list(r.context_ids) + list(r.continuation_ids)
        assert lp == pytest.approx(_direct_logprobs(runner, ids)[-3:].sum(), abs=1e-4)
        assert runner.loglikelihood([r])[0][0] == pytest.approx(lp, abs=1e-4)


def test_greedy_flag_is_true_for_the_models_own_continuation(runner):
    ctx = tuple(range(3, 20))
    cont = tuple(runner.model.generate(torch.tensor([ctx]), max_new_tokens=3, do_sample=False)[0, len(ctx):].tolist())
    assert runner.loglikelihood([LogLikelihood(ctx, cont)])[0][1] is True


def test_chunked_logprobs_equal_full_log_softmax():
    torch.manual_seed(0)
    head = torch.nn.Linear(8, 50, bias=False)
    h, t = torch.randn(2, 37, 8), torch.randint(0, 50, (2, 37))
    lp, greedy = token_logprobs(h, head, t, chunk=5)
    full = torch.log_softmax(head(h), -1)
    assert torch.allclose(lp, full.gather(-1, t[..., None])[..., 0], atol=1e-5)
    assert torch.equal(greedy, full.argmax(-1) == t)


@pytest.mark.parametrize("n, L", [(1, 4), (10, 4), (16, 4), (17, 16), (100, 7)])
def test_disjoint_windows_score_every_token_once(n, L):
    tokens = list(range(100, 100 + n))
    ws = disjoint_windows(tokens, prefix=1, max_length=L)
    scored = [t for w, k in ws for t in w[-k:]]
    assert scored == tokens
    assert all(len(w) - 1 <= L for w, _ in ws)
    assert ws[0][0][0] == 1  # the prefix token conditions the first token


@pytest.mark.parametrize("n, L, S", [(10, 4, 2), (33, 8, 3), (5, 8, 8), (16, 4, 4)])
def test_strided_windows_score_every_token_once(n, L, S):
    tokens = list(range(100, 100 + n))
    ws = strided_windows(tokens, prefix=1, max_length=L, stride=S)
    assert [t for w, k in ws for t in w[-k:]] == tokens
    assert all(len(w) - 1 <= L for w, _ in ws)


def test_rolling_with_a_long_window_equals_one_forward(runner):
    tokens = list(range(5, 90))
    out = runner.rolling_loglikelihood([Rolling(tuple(tokens), max_length=200)])[0]
    expected = _direct_logprobs(runner, [runner.prefix_id] + tokens)
    assert out.logprobs.shape == (len(tokens),)
    assert np.allclose(out.logprobs, expected, atol=1e-4)


def test_rolling_windows_condition_on_fewer_tokens(runner):
    tokens = tuple(range(5, 90))
    short = runner.rolling_loglikelihood([Rolling(tokens, max_length=16)])[0]
    long = runner.rolling_loglikelihood([Rolling(tokens, max_length=200)])[0]
    assert np.allclose(short.logprobs[:16], long.logprobs[:16], atol=1e-4)  # first window is identical
    assert not np.allclose(short.logprobs[16:], long.logprobs[16:], atol=1e-4)


def test_generate_is_batch_independent_and_stops(runner):
    reqs = [Generate(tuple(range(3, 3 + n)), max_new_tokens=6) for n in (4, 40, 17)]
    batched = runner.generate(reqs)
    assert batched == [runner.generate([r])[0] for r in reqs]
    assert cut_at_stop("12345\nmore", ("\n",)) == "12345"
    assert cut_at_stop("abc", ("x", "")) == "abc"


def test_run_keeps_request_order_across_kinds(runner):
    reqs = [Generate((3, 4, 5), 2), LogLikelihood((3, 4), (5,)), Rolling((3, 4, 5, 6)), Generate((7, 8), 2)]
    out = runner.run(reqs)
    assert isinstance(out[0], str) and isinstance(out[3], str)
    assert isinstance(out[1], tuple)
    assert out[2].logprobs.shape == (4,)


def test_out_of_memory_splits_the_batch_and_remembers(monkeypatch):
    runner = tb.load("random:llama-tiny", max_batch_tokens=4096)
    real = runner._score_batch
    sizes = []

    def flaky(ws, idx, results):
        sizes.append(len(ws))
        if len(ws) > 2:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(ws, idx, results)

    monkeypatch.setattr(runner, "_score_batch", flaky)
    reqs = [LogLikelihood(tuple(range(3, 40)), (5,)) for _ in range(8)]
    out = runner.loglikelihood(reqs)
    assert len(out) == 8 and all(isinstance(lp, float) for lp, _ in out)
    assert sizes[0] == 8 and max(sizes[1:]) <= 4 and runner.max_batch_tokens < 4096
