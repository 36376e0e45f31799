"""Training throughput: `tbench train` against a bare PyTorch loop on the same model, batch and dtype.

For each spec, in one process on one GPU:
  bare    the patched model from toroidal_bench.load, fused AdamW, bf16 autocast, next-token
          cross-entropy on random token batches already on the GPU (no data pipeline, no logging)
  tbench  toroidal_bench.training.train (accelerate, the data mix, weighted loss, grad clipping,
          the training log every 10 steps, as the recipes do)
Both take `--warmup` steps first; tokens/s is measured over the `--steps` after them (tbench from its
training log, which records wall time per step). With --compile both compile the model; the compile
time (the first step) is reported apart. MFU = tokens/s × 3 × forward FLOPs/token ÷ dense bf16 peak
(989.4 TFLOP/s for H100/H200 SXM); forward FLOPs/token counts standard causal attention, so for
toroidal depth D (D× the attention work of the same shape) MFU reads as useful-model FLOPs.

    PYTHONPATH=. python benchmarks/train_throughput.py --out train_throughput.json
    PYTHONPATH=. python benchmarks/train_throughput.py --spec 'random:llama-ref+toroidal(depth=4,layers=0..3,period=1024)'
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import torch
from common import H100_BF16_PEAK, dump, environment, flops_per_token

LOG_EVERY = 10  # tbench's log cadence here; warm-up and measured steps are multiples of it


def bare(spec: str, batch: int, length: int, warmup: int, steps: int, compile_model: bool) -> dict:
    import torch.nn.functional as F

    import toroidal_bench

    model = toroidal_bench.load(spec, device="cuda", dtype="fp32").model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1, fused=True)
    step_model = torch.compile(model) if compile_model else model
    vocab = model.config.vocab_size
    g = torch.Generator(device="cuda").manual_seed(0)
    data = [torch.randint(3, vocab, (batch, length), device="cuda", generator=g) for _ in range(8)]

    def step(i: int) -> None:
        ids = data[i % len(data)]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = step_model(input_ids=ids, use_cache=False).logits[:, :-1]
        loss = F.cross_entropy(logits.flatten(0, 1).float(), ids[:, 1:].flatten())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    torch.cuda.synchronize()
    t = time.perf_counter()
    step(0)
    torch.cuda.synchronize()
    first = time.perf_counter() - t
    for i in range(1, warmup):
        step(i)
    torch.cuda.synchronize()
    t = time.perf_counter()
    for i in range(steps):
        step(i)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t
    return {"tokens_per_s": steps * batch * length / seconds, "first_step_s": first,
            "flops_per_token": 3 * flops_per_token(model, length)}


def tbench(spec: str, batch: int, length: int, warmup: int, steps: int, compile_model: bool) -> dict:
    import pyarrow.parquet as pq

    from toroidal_bench.training import TrainConfig, train

    out = Path(tempfile.mkdtemp(prefix="tbench-train-bench-")) / "run"
    cfg = TrainConfig(model=spec, data="shakespeare", steps=warmup + steps, length=length, batch_size=batch,
                      log_every=LOG_EVERY, checkpoint_every=10**6, precision="bf16", compile=compile_model)
    try:
        train(cfg, out, device="cuda")
        log = pq.read_table(out / "train_log.parquet").to_pandas()
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)
    steady = log[log.step > warmup]
    seconds = steady.elapsed_s.iloc[-1] - log[log.step == warmup].elapsed_s.iloc[0]
    return {"tokens_per_s": steps * batch * length / seconds,
            "first_steps_s": float(log.elapsed_s.iloc[0])}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--spec", action="append", help="model spec (repeatable; default random:llama-ref)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--length", type=int, default=1024)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--compile", action="store_true")
    p.add_argument("--out", type=Path)
    args = p.parse_args()
    if args.warmup % LOG_EVERY or args.steps % LOG_EVERY or not args.warmup:
        p.error(f"--warmup and --steps must be positive multiples of {LOG_EVERY}")
    rows = []
    for spec in args.spec or ["random:llama-ref"]:
        b = bare(spec, args.batch, args.length, args.warmup, args.steps, args.compile)
        t = tbench(spec, args.batch, args.length, args.warmup, args.steps, args.compile)
        per_token = b["flops_per_token"]

        def mfu(tps: float, per_token: float = per_token) -> float:
            return tps * per_token / H100_BF16_PEAK

        row = {"spec": spec, "batch": args.batch, "length": args.length, "compile": args.compile,
               "bare_tokens_per_s": round(b["tokens_per_s"]), "tbench_tokens_per_s": round(t["tokens_per_s"]),
               "tbench_over_bare": round(t["tokens_per_s"] / b["tokens_per_s"], 3),
               "bare_mfu": round(mfu(b["tokens_per_s"]), 4), "tbench_mfu": round(mfu(t["tokens_per_s"]), 4),
               "bare_first_step_s": round(b["first_step_s"], 2),
               "tbench_first_10_steps_s": round(t["first_steps_s"], 2)}
        rows.append(row)
        print(row, flush=True)
    if args.out:
        dump(str(args.out), {"environment": environment(), "rows": rows})


if __name__ == "__main__":
    main()
