"""Correctness of the GPU code paths, recorded on a CUDA device (CI has no GPU).

- ALiBi through compiled FlexAttention vs the materialized-bias SDPA path (bf16, L=2048), with and
  without left padding;
- causality through the real model on the flex path (bitwise, same kernel and shape);
- prefill logits vs incremental decoding with the KV cache;
- the default backend chosen on CUDA for each encoding.

    python benchmarks/gpu_checks.py
"""

from __future__ import annotations

import sys

import torch


def main() -> int:
    import toroidal_bench as tb
    from toroidal_bench.models.architecture import cache_keyword, output_cache
    from toroidal_bench.tasks.base import LogLikelihood

    ok = True

    def check(name, cond, detail=""):
        nonlocal ok
        ok &= bool(cond)
        print(f"{'PASS' if cond else 'FAIL'}  {name} {detail}", flush=True)

    print("device:", torch.cuda.get_device_name(0), "torch", torch.__version__)
    for spec in ("random:llama-small+alibi", "random:llama-small+yarn(factor=4,original_max_position_embeddings=512)",
                 "random:llama-small+rope"):
        r = tb.load(spec)
        check(f"default backend {spec}", r.attention in ("flex", "sdpa"), f"→ {r.attention}, dtype {r.model.dtype}")

    flex = tb.load("random:llama-small+alibi", attn="flex")
    sdpa = tb.load("random:llama-small+alibi", attn="sdpa")
    ids = torch.randint(3, 250, (2, 2048), device="cuda")
    with torch.inference_mode():
        a, b = flex.model(ids).logits.float(), sdpa.model(ids).logits.float()
    check("alibi flex vs sdpa bias (bf16, L=2048)", (a - b).abs().max().item() < 0.1,
          f"max |Δlogit| = {(a - b).abs().max().item():.3g}")
    reqs = [LogLikelihood(tuple(3 + i % 250 for i in range(1500)), (5, 6)),
            LogLikelihood(tuple(3 + i % 250 for i in range(300)), (7,))]
    fa, sa = flex.loglikelihood(reqs), sdpa.loglikelihood(reqs)
    diff = max(abs(x[0] - y[0]) for x, y in zip(fa, sa, strict=True))
    check("alibi flex vs sdpa with left padding", diff < 0.1, f"max |Δ logprob| = {diff:.3g}")

    t = 1000
    changed = ids.clone()
    changed[:, t + 1 :] = 9
    with torch.inference_mode():
        x, y = flex.model(ids).logits, flex.model(changed).logits
    check("alibi flex causal (bitwise before t)", torch.equal(x[:, : t + 1], y[:, : t + 1]))

    with torch.inference_mode():
        full = flex.model(ids[:1, :64]).logits[0].float()
        out = flex.model(ids[:1, :48], use_cache=True)
        cache, steps = output_cache(out), [out.logits[0, -1].float()]
        for i in range(48, 63):
            out = flex.model(ids[:1, i : i + 1], **{cache_keyword(): cache}, use_cache=True)
            cache, steps = output_cache(out), steps + [out.logits[0, -1].float()]
    err = (full[47:63] - torch.stack(steps)).abs().max().item()  # positions 47..62
    check("alibi flex prefill == incremental decode (bf16)", err < 0.1, f"max |Δlogit| = {err:.3g}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
