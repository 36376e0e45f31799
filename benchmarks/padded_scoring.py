"""Log-likelihood of padded batches, unmasked (padding rolled behind the tokens) vs masked.

Requests whose contexts differ in length share a batch left-padded; with the padding mask SDPA leaves
its causal fused kernels. For each length L, N requests of L − 256 … L context tokens and a 16-token
continuation (random ids, Qwen2-0.5B shape, bf16) go through Runner.loglikelihood twice after a
warm-up: `unmasked_scoring` on (the default) and off. Reports tokens/s of each, their ratio, and the
largest difference of a request's log-likelihood between the two.

    PYTHONPATH=. python benchmarks/padded_scoring.py --lengths 4096 16384 32768 --out padded.json
"""

from __future__ import annotations

import argparse
import sys
import time

import torch
from common import dump, environment, qwen2_05b


def requests(n: int, length: int, vocab: int, seed: int = 0):
    from toroidal_bench.tasks.base import LogLikelihood

    g = torch.Generator().manual_seed(seed)
    widths = torch.randint(length - 256 - 16, length - 16 + 1, (n,), generator=g).tolist()
    return [LogLikelihood(tuple(torch.randint(3, vocab, (w,), generator=g).tolist()),
                          tuple(torch.randint(3, vocab, (16,), generator=g).tolist())) for w in widths]


def timed(runner, reqs, unmasked: bool) -> tuple[float, list]:
    runner.unmasked_scoring = unmasked
    runner.loglikelihood(reqs[: max(1, len(reqs) // 8)])  # warm-up: kernels, allocator
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    out = runner.loglikelihood(reqs)
    torch.cuda.synchronize()
    return time.perf_counter() - t0, out


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--lengths", type=int, nargs="+", default=[4096, 16384, 32768])
    p.add_argument("--tokens", type=int, default=1 << 19, help="context tokens per length")
    p.add_argument("--out", default="padded.json")
    args = p.parse_args()
    if not torch.cuda.is_available():
        print("needs a CUDA device", file=sys.stderr)
        return 2

    from toroidal_bench.models.byte_tokenizer import byte_tokenizer
    from toroidal_bench.models.runner import Runner

    model = qwen2_05b()
    runner = Runner(model, byte_tokenizer(), spec="qwen2-0.5b-shape")
    results = {"environment": environment(), "max_batch_tokens": runner.max_batch_tokens, "rows": []}
    for length in args.lengths:
        reqs = requests(max(2, args.tokens // length), length, model.config.vocab_size)
        tokens = sum(len(r.context_ids) + len(r.continuation_ids) for r in reqs)
        masked_s, masked = timed(runner, reqs, unmasked=False)
        unmasked_s, ours = timed(runner, reqs, unmasked=True)
        row = {"length": length, "requests": len(reqs), "tokens": tokens,
               "masked_tok_s": tokens / masked_s, "unmasked_tok_s": tokens / unmasked_s,
               "speedup": masked_s / unmasked_s,
               "max_abs_logprob_diff": max(abs(a[0] - b[0]) for a, b in zip(ours, masked, strict=True)),
               "same_greedy": sum(a[1] == b[1] for a, b in zip(ours, masked, strict=True))}
        results["rows"].append(row)
        print(row, flush=True)
        dump(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
