"""Toroidal attention on CUDA: backend agreement, causality, and a short timing (flex vs sdpa).

Run from the repository root on a GPU machine:

    PYTHONPATH=. python benchmarks/toroidal_gpu_check.py            # bf16, a few shapes, ~1–3 min
    PYTHONPATH=. python benchmarks/toroidal_gpu_check.py --quick    # one small shape
    PYTHONPATH=. python benchmarks/toroidal_gpu_check.py --cpu-smoke  # tiny shapes on CPU, checks the script

Prints one table per section. Agreement is the max |difference| on real (unpadded) rows against the
materialized-bias SDPA path, and against a float32 manual reference. The first flex call of each
shape includes compilation (reported separately). Exits 1 if any check fails.
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from toroidal_bench.encodings.toroidal import ToroidalAttention, backends

FAILED: list[str] = []
DEVICE = "cuda"


def check(name: str, ok: bool, detail: str) -> str:
    if not ok:
        FAILED.append(f"{name}: {detail}")
    return "ok" if ok else "FAIL"


def timed(fn, reps: int) -> float:
    if DEVICE == "cpu":
        t0 = time.perf_counter()
        for _ in range(reps):
            fn()
        return (time.perf_counter() - t0) * 1000 / reps
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(reps):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / reps


def layer(d_model: int, heads: int, kv_heads: int, depth: int, n: int, dtype, **kw) -> ToroidalAttention:
    torch.manual_seed(0)
    attn = ToroidalAttention(d_model, heads, max_len=max(n, 64), depth=depth, lambda_distance=0.5,
                             n_kv_heads=kv_heads, causal=True, **kw)
    return attn.to(DEVICE, dtype).eval()


def run_backend(attn, name, x, mask=None, **extra):
    attn.core.backend = name
    for k, v in extra.items():
        setattr(attn.core, k, v)
    with torch.no_grad():
        return attn(x, mask)[0]


def agreement(shapes, dtype, tol):
    print(f"\n## Agreement ({dtype}; max |Δ| on real rows; tolerance {tol:.0e} vs sdpa; fp32 sdpa reference)\n")
    print("| B | N | D | H/kv | d_k | window | flex−sdpa | ring−sdpa | sdpa−fp32 ref | flex−fp32 ref | status |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for b, n, depth, heads, kv, dk, window in shapes:
        attn = layer(heads * dk, heads, kv, depth, n, dtype, window_size=window, period=max(n // 2, 8))
        x = torch.randn(b, n, heads * dk, device=DEVICE, dtype=dtype)
        pad = torch.ones(b, n, dtype=torch.bool, device=DEVICE)
        pad[-1, : n // 5] = False  # left padding on the last row
        sdpa = run_backend(attn, "sdpa", x, pad, attn_chunk_size=1024)
        flex = run_backend(attn, "flex", x, pad)
        ring = run_backend(attn, "ring", x, pad, block_size=512)
        ref32 = attn.float()
        ref = run_backend(ref32, "sdpa", x.float(), pad, attn_chunk_size=512)
        attn.to(dtype)
        d = [float((a[pad].float() - c[pad].float()).abs().max()) for a, c in
             ((flex, sdpa), (ring, sdpa), (sdpa, ref), (flex, ref))]
        ok = d[0] <= tol and d[1] <= tol and d[3] <= 2 * max(d[2], tol / 4)
        status = check(f"agreement {b}x{n} D{depth}", ok, f"{d}")
        print(f"| {b} | {n} | {depth} | {heads}/{kv} | {dk} | {window} | " + " | ".join(f"{v:.2e}" for v in d)
              + f" | {status} |")


def causality(n, depth, dtype):
    print("\n## Causality (flex, compiled): perturb tokens after t, outputs ≤ t must not move\n")
    print("| t | max |Δ| at ≤ t | max |Δ| after t | status |")
    print("|---|---|---|---|")
    attn = layer(1024, 8, 2, depth, n, dtype, window_size=n // 4, period=n // 2)
    x = torch.randn(1, n, 1024, device=DEVICE, dtype=dtype)
    base = run_backend(attn, "flex", x)
    for t in (0, n // 3, n - 2):
        x2 = x.clone()
        x2[:, t + 1:] = torch.randn_like(x2[:, t + 1:])
        out = run_backend(attn, "flex", x2)
        before = float((out[:, : t + 1] - base[:, : t + 1]).abs().max())
        after = float((out[:, t + 1:] - base[:, t + 1:]).abs().max())
        print(f"| {t} | {before:.1e} | {after:.1e} | {check(f'causal t={t}', before < 1e-6 and after > 0, f'{before}')} |")


def timing(shapes, dtype, reps):
    print(f"\n## Timing ({dtype}, forward ms per call, mean of {reps}; causal, λ=0.5)\n")
    print("| B | N | D | H/kv | d_k | flex compile s | flex fwd | sdpa fwd (chunk 2048) | flex/sdpa | flex fwd+bwd |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for b, n, depth, heads, kv, dk in shapes:
        attn = layer(heads * dk, heads, kv, depth, n, dtype, period=n)
        x = torch.randn(b, n, heads * dk, device=DEVICE, dtype=dtype)
        attn.core.backend = "flex"
        t0 = time.perf_counter()
        with torch.no_grad():
            attn(x)
        if DEVICE == "cuda":
            torch.cuda.synchronize()
        compile_s = time.perf_counter() - t0
        with torch.no_grad():
            flex_ms = timed(lambda a=attn, x=x: a(x), reps)
            attn.core.backend, attn.core.attn_chunk_size = "sdpa", 2048
            try:
                sdpa_ms = timed(lambda a=attn, x=x: a(x), reps)
            except torch.OutOfMemoryError:
                sdpa_ms = float("nan")
                torch.cuda.empty_cache()
        attn.core.backend, attn.core.attn_chunk_size = "flex", None
        bwd_ms = float("nan")
        if DEVICE == "cuda":  # flex has no backward on CPU
            attn.train()
            xg = x.clone().requires_grad_(True)
            bwd_ms = timed(lambda a=attn, x=xg: a(x)[0].sum().backward(), max(1, reps // 2))
            attn.eval()
        print(f"| {b} | {n} | {depth} | {heads}/{kv} | {dk} | {compile_s:.1f} | {flex_ms:.2f} | {sdpa_ms:.2f} | "
              f"{flex_ms / sdpa_ms:.2f} | {bwd_ms:.2f} |")


def hf_model(dtype, n: int = 777):
    print("\n## HF injection (random llama-small, all 4 layers replaced, D=2, λ=0.3): flex vs sdpa logits\n")
    import toroidal_bench
    from toroidal_bench.models.runner import positions

    spec = "random:llama-small+toroidal(depth=2,lambda=0.3,layers=0..3,period=512,window=128,backend={})"
    ids = torch.randint(3, 250, (2, n), device=DEVICE)
    mask = torch.ones_like(ids)
    mask[1, : n // 8] = 0
    edit = (2 * n) // 3
    out = {}
    for name in ("sdpa", "flex"):
        model = toroidal_bench.load(spec.format(name), device=DEVICE, dtype=dtype).model
        with torch.no_grad():
            out[name] = model(ids, attention_mask=mask, position_ids=positions(mask)).logits.float()
            if name == "flex":
                ids2 = ids.clone()
                ids2[:, edit:] = 7
                moved = model(ids2, attention_mask=mask, position_ids=positions(mask)).logits.float()
    real = mask.bool()
    diff = float((out["flex"][real] - out["sdpa"][real]).abs().max())
    leak = float((moved[:, :edit] - out["flex"][:, :edit])[real[:, :edit]].abs().max())
    print(f"| max |Δ logits| flex−sdpa ({dtype}) | causality: max |Δ| before the edit | status |")
    print("|---|---|---|")
    tol = 0.1 if dtype == torch.bfloat16 else 1e-4
    print(f"| {diff:.2e} | {leak:.1e} | {check('hf', diff < tol and leak < 1e-6, f'{diff} {leak}')} |")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one small shape per section")
    ap.add_argument("--reps", type=int, default=10)
    ap.add_argument("--cpu-smoke", action="store_true", help="tiny shapes, float32, on CPU (checks the script)")
    args = ap.parse_args()
    global DEVICE
    backends.FLEX_COMPILE = True
    if args.cpu_smoke:
        DEVICE, dtype = "cpu", torch.float32
        agreement([(2, 40, 4, 2, 1, 64, 8)], dtype, tol=1e-4)
        causality(32, 4, dtype)
        timing([(1, 64, 4, 2, 2, 64)], dtype, 2)
        hf_model(dtype, n=60)
        print("\nFAILED:\n" + "\n".join(FAILED) if FAILED else "\nall checks passed")
        return 1 if FAILED else 0
    if not torch.cuda.is_available():
        print("needs a CUDA device (or --cpu-smoke)", file=sys.stderr)
        return 2
    dtype = torch.bfloat16
    print(f"device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    agree = [(2, 300, 4, 8, 2, 128, 64)] if args.quick else [
        (2, 300, 4, 8, 2, 128, 64), (2, 1000, 4, 8, 2, 128, None), (1, 777, 2, 32, 32, 80, 100)]
    agreement(agree, dtype, tol=3e-2)
    causality(256 if args.quick else 1024, 4, dtype)
    times = [(1, 1024, 4, 16, 16, 128)] if args.quick else [
        (1, 1024, 4, 16, 16, 128), (1, 2048, 4, 16, 16, 128), (1, 4096, 4, 16, 2, 128), (4, 2048, 2, 32, 32, 80)]
    timing(times, dtype, args.reps)
    hf_model(dtype)
    print("\nFAILED:\n" + "\n".join(FAILED) if FAILED else "\nall checks passed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
