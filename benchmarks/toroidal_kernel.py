"""Toroidal attention speed and memory on one GPU, every number from one run:

  kernel   forward and forward+backward of (a) bias-free causal SDPA on the same sub-token tensors,
           (b) the fused toroidal route (bias folded into q/k, SDPA kernels), (c) the flex fallback;
           first-call (compile) time apart from the steady time, ratios = time(a) / time(x)
  prefill  the injected Qwen2-0.5B-shaped model (random init, every layer toroidal) vs RoPE
  memory   peak memory of one prefill: RoPE vs ALiBi (flex) vs toroidal (fused, and flex with a window)
  long     the fused route's forward+backward at very long sub-token sequences vs bias-free SDPA

Each measurement records the route that actually ran (`fused:merge_cudnn`, `flex`, …) and its error
instead of a time when it fails (out of memory included); the JSON is rewritten after every
measurement, so a run cut short keeps what it measured.

    PYTHONPATH=. python benchmarks/toroidal_kernel.py --out toroidal_kernel.json
    PYTHONPATH=. python benchmarks/toroidal_kernel.py --parts kernel --out kernel.json   # one part per call
    PYTHONPATH=. python benchmarks/toroidal_kernel.py --parts kernel --skip-flex --out k.json
    PYTHONPATH=. python benchmarks/toroidal_kernel.py --smoke --out smoke.json   # tiny sizes, CPU or GPU
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import traceback

import torch
import torch.nn.functional as F
from common import qwen2_05b
from recorder import Recorder

from toroidal_bench.encodings.toroidal import backends, fused, merge
from toroidal_bench.encodings.toroidal.masks import Geometry

PARTS = ("kernel", "prefill", "memory", "long")
DEV = torch.device("cpu")
REC = Recorder(DEV, "toroidal_kernel.json")  # replaced in main() once the device is known


# -- kernel ---------------------------------------------------------------------------------------

def _old_flex_mods(g: Geometry):
    """The flex score_mod as it was: λ, the period and the offset as 0-d tensors (for comparison)."""
    depth = g.depth
    lam = torch.tensor(g.lam, device=DEV, dtype=torch.float32)
    period = torch.tensor(g.period, device=DEV)
    off = torch.tensor(g.q_offset, device=DEV)

    def score_mod(score, b, h, qi, ki):
        i, j = qi // depth + off, ki // depth
        t = (i - j).abs() % period
        seq = torch.minimum(t, period - t).to(torch.float32) / period
        dep = (qi % depth - ki % depth).abs().to(torch.float32) / depth
        return score - lam * (seq + dep)

    return score_mod


def kernel_variants(a, g: Geometry) -> dict:
    """name → fn(q, k, v) returning the attention output (B, H, L, d_s)."""

    def fused_with(kernel: str | None, geo: Geometry):
        def run(q, k, v):
            merge.FORCE_KERNEL = kernel
            try:
                return backends.attend(q, k, v, geo, "fused")[0]
            finally:
                merge.FORCE_KERNEL = None
        return run

    def padded(equal: bool):
        """Bias-free causal SDPA at the fused route's widths: what the wider head dim alone costs."""
        def run(q, k, v):
            q2, k2 = fused.fold(q, k, g)
            if equal:
                q2, k2, v = fused.equal_widths(q2, k2, v)
            return F.scaled_dot_product_attention(q2, k2, v, is_causal=True)[..., :q.shape[-1]]
        return run

    variants = {
        "sdpa": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        "sdpa_folded_widths": padded(False),
        "sdpa_folded_equal_widths": padded(True),
        "fused": fused_with(None, g),
        "fused_split": fused_with(None, g.replace(lam=max(20.0, g.lam))),  # λ large: hi/lo extra features
    }
    if DEV.type == "cuda":
        variants["fused_flash"] = fused_with("flash", g)
        variants["fused_cudnn"] = fused_with("cudnn", g)
    if not a.skip_flex:
        variants["flex"] = lambda q, k, v: backends.attend(q, k, v, g, "flex")[0]
        if a.flex_old:
            from toroidal_bench.attention.blockmask import block_mask

            mods = backends.flex_mods(g, DEV, a.length, a.length)

            def old(q, k, v):
                bm = block_mask(mods[1], a.length, a.length, device=DEV, group=g.depth)
                backends.ROUTES.record("flex_0d_tensors")
                return backends._flex_fn()(q, k, v, score_mod=_old_flex_mods(g), block_mask=bm, scale=g.scale)
            variants["flex_0d_tensors"] = old
    return variants


def part_kernel(a) -> None:
    b, h, L, depth = a.batch, a.heads, a.length, a.depth
    d_s, n = a.head_dim // depth, L // depth
    period = a.period or 2 * n
    g = Geometry(depth=depth, lam=a.lam, period=period, scale=1 / math.sqrt(d_s), causal=True)
    rec = REC.results.setdefault("kernel", {})
    rec["shape"] = dict(batch=b, heads=h, head_dim=a.head_dim, depth=depth, sub_tokens=L, tokens=n, d_sub=d_s,
                        lam=a.lam, period=period, dtype=str(a.dtype))
    print(f"kernel: B{b} H{h} L={L} (N={n}, D={depth}) d_k={a.head_dim} d_s={d_s} P={period}", flush=True)
    gen = torch.Generator(device="cpu").manual_seed(0)

    def rand(*shape):
        return torch.randn(*shape, generator=gen).to(DEV, a.dtype).requires_grad_()

    q, k, v = rand(b, h, L, d_s), rand(b, h, L, d_s), rand(b, h, L, d_s)
    dout = torch.randn(b, h, L, d_s, generator=gen).to(DEV, a.dtype)
    outputs = {}
    variants = kernel_variants(a, g)
    tq, tk, tv = rand(b, h, n, a.head_dim), rand(b, h, n, a.head_dim), rand(b, h, n, a.head_dim)
    tdo = torch.randn(b, h, n, a.head_dim, generator=gen).to(DEV, a.dtype)
    variants["sdpa_token"] = None  # the same tokens without the platter split: (B, H, N, d_k)
    # the calibration point named by the speed target: bias-free causal SDPA over L positions at d_k
    fq, fk, fv = rand(b, h, L, a.head_dim), rand(b, h, L, a.head_dim), rand(b, h, L, a.head_dim)
    fdo = torch.randn(b, h, L, a.head_dim, generator=gen).to(DEV, a.dtype)
    variants["sdpa_full_head"] = None
    for name, fn in variants.items():
        args = {"sdpa_token": (tq, tk, tv), "sdpa_full_head": (fq, fk, fv)}.get(name, (q, k, v))
        grad_out = {"sdpa_token": tdo, "sdpa_full_head": fdo}.get(name, dout)
        if fn is None:
            def fn(q_, k_, v_):
                return F.scaled_dot_product_attention(q_, k_, v_, is_causal=True)

        def forward(fn=fn, args=args, name=name):
            backends.ROUTES.reset()
            kept = {}
            plain = tuple(t.detach() for t in args)  # inference: no autograd state at all

            def call():
                kept["out"] = fn(*plain)

            with torch.no_grad():
                base = REC.reset_peak()
                t = REC.timed(call, a.reps)
            outputs[name] = kept["out"]
            return {**t, "route": backends.ROUTES.last or "sdpa", **REC.peak_gib(base)}

        def forward_backward(fn=fn, args=args, grad_out=grad_out):
            backends.ROUTES.reset()
            base = REC.reset_peak()

            def step():
                torch.autograd.grad(fn(*args), args, grad_out)

            t = REC.timed(step, a.reps)
            return {**t, "route": backends.ROUTES.last or "sdpa", **REC.peak_gib(base)}

        REC.guarded(rec.setdefault("forward", {}), name, forward)
        REC.guarded(rec.setdefault("forward_backward", {}), name, forward_backward)
    for mode in ("forward", "forward_backward"):
        base = rec[mode].get("sdpa", {}).get("ms")
        rec.setdefault(f"{mode}_speed_vs_sdpa", {})
        for name, r in rec[mode].items():
            if base and "ms" in r:
                rec[f"{mode}_speed_vs_sdpa"][name] = base / r["ms"]
    if "sdpa" in rec["forward"] and "ms" in rec["forward"]["sdpa"]:
        flops = 4 * b * h * L * L * d_s / 2  # causal: half of q·kᵀ and p·v
        rec["sdpa_forward_tflops"] = flops / rec["forward"]["sdpa"]["ms"] / 1e9
    same_function = [name for name in outputs if name in ("fused", "fused_flash", "fused_cudnn", "flex",
                                                           "flex_0d_tensors")]
    ref = outputs.get("fused")
    if ref is not None:
        rec["max_abs_diff_vs_fused"] = {name: float((outputs[name].float() - ref.float()).abs().max())
                                        for name in same_function}
    # the first rows depend only on the first keys (causal): an exact float32 check of that corner
    rows = min(L, 2048)
    try:
        with torch.no_grad():
            exact, _ = backends.attend(*(t[:, :, :rows].detach().float() for t in (q, k, v)), g, "manual")
        rec[f"max_abs_diff_vs_float32_reference_first_{rows}_rows"] = {
            name: float((outputs[name][:, :, :rows].float() - exact).abs().max()) for name in same_function}
    except Exception as exc:  # noqa: BLE001
        rec["reference_error"] = f"{type(exc).__name__}: {exc}"[:300]
    outputs.clear()
    REC.save()


# -- models -----------------------------------------------------------------------------------------

TINY_QWEN2 = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, vocab_size=512, max_position_embeddings=4096, tie_word_embeddings=True,
                  rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}, bos_token_id=1,
                  eos_token_id=2, pad_token_id=0)


def load_model(a):
    return qwen2_05b(DEV, a.dtype, shape=TINY_QWEN2 if a.smoke else None)


def build(a, variant: dict):
    """A fresh model with the variant's encoding applied."""
    model = load_model(a)
    kind = variant["kind"]
    if kind == "alibi":
        from toroidal_bench.encodings.alibi import Alibi

        model.tbench_attention = "flex" if DEV.type == "cuda" else "sdpa"
        Alibi().apply(model)
    elif kind == "toroidal":
        from toroidal_bench.encodings.toroidal import Toroidal

        enc = Toroidal(layers=tuple(range(model.config.num_hidden_layers)), **variant["args"])
        enc.validate()
        enc.apply(model)
    return model


def toroidal(name: str, **args) -> dict:
    return {"name": name, "kind": "toroidal", "args": {"lambda_": 0.1, **args}}


def prefill_call(model, length: int):
    ids = torch.randint(3, model.config.vocab_size, (1, length), generator=torch.Generator().manual_seed(length))
    ids = ids.to(DEV)

    def run():
        with torch.inference_mode():
            return model(input_ids=ids, logits_to_keep=1, use_cache=False).logits

    return run


def part_prefill(a) -> None:
    rec = REC.results.setdefault("prefill", {})
    variants = [{"name": "rope", "kind": "rope"}] + [toroidal(f"toroidal_d{d}", depth=d) for d in a.depths]
    for length in a.prefill_lengths:
        row = rec.setdefault(str(length), {})
        print(f"prefill L={length}", flush=True)
        for variant in variants:
            def work(variant=variant, length=length):
                model = build(a, variant)
                run = prefill_call(model, length)
                backends.ROUTES.reset()
                base = REC.reset_peak()
                t = REC.timed(run, a.prefill_reps, warmup=1)
                out = {**t, "tok_s": length / (t["ms"] / 1000), **REC.peak_gib(base),
                       "routes": dict(backends.ROUTES.counts)}
                del model, run
                return out

            REC.guarded(row, variant["name"], work)
        rope = row.get("rope", {}).get("tok_s")
        row["vs_rope"] = {name: r["tok_s"] / rope for name, r in row.items()
                          if rope and isinstance(r, dict) and "tok_s" in r}
        REC.save()


def part_memory(a) -> None:
    rec = REC.results.setdefault("memory", {})
    for length in a.memory_lengths:
        row = rec.setdefault(str(length), {})
        print(f"memory L={length}", flush=True)
        variants = [{"name": "rope", "kind": "rope"}, {"name": "alibi", "kind": "alibi"},
                    toroidal("toroidal_d4", depth=4),
                    toroidal("toroidal_d4_window", depth=4, window=max(1, length // 8))]
        for variant in variants:
            def work(variant=variant, length=length):
                model = build(a, variant)
                run = prefill_call(model, length)
                t0 = time.perf_counter()
                run()  # compiles flex kernels for this shape, if any
                REC.sync()
                first = time.perf_counter() - t0
                backends.ROUTES.reset()
                base = REC.reset_peak()
                weights = base / 2**30
                t0 = time.perf_counter()
                run()
                REC.sync()
                out = {"first_call_s": first, "seconds": time.perf_counter() - t0, "weights_gib": weights,
                       **REC.peak_gib(base), "routes": dict(backends.ROUTES.counts)}
                del model, run
                return out

            REC.guarded(row, variant["name"], work)
        rope = row.get("rope", {})
        for key in ("peak_gib", "peak_over_start_gib"):
            if key in rope:
                row[f"{key}_vs_rope"] = {name: r[key] / rope[key] for name, r in row.items()
                                         if isinstance(r, dict) and key in r}
        REC.save()


# -- long -------------------------------------------------------------------------------------------

def part_long(a) -> None:
    rec = REC.results.setdefault("long", {})
    d_s = a.head_dim // a.depth
    for L in a.long_lengths:
        n = L // a.depth
        g = Geometry(depth=a.depth, lam=a.lam, period=2 * n, scale=1 / math.sqrt(d_s), causal=True)
        row = rec.setdefault(str(L), {"tokens": n, "heads": a.heads, "d_sub": d_s})
        print(f"long L={L}", flush=True)
        for name in ("sdpa", "fused"):
            def work(name=name, L=L, g=g):
                gen = torch.Generator().manual_seed(0)
                q, k, v = (torch.randn(1, a.heads, L, d_s, generator=gen).to(DEV, a.dtype).requires_grad_()
                           for _ in range(3))
                dout = torch.randn(1, a.heads, L, d_s, generator=gen).to(DEV, a.dtype)

                def fn():
                    if name == "sdpa":
                        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
                    return backends.attend(q, k, v, g, "fused")[0]

                backends.ROUTES.reset()
                base = REC.reset_peak()
                t = REC.timed(lambda: torch.autograd.grad(fn(), (q, k, v), dout), reps=1, warmup=0)
                flops = 3.5 * 4 * a.heads * L * L * d_s / 2  # forward ≈ 1, backward ≈ 2.5 forwards
                return {**t, "tflops_fwd_bwd": flops / t["ms"] / 1e9, "route": backends.ROUTES.last or "sdpa",
                        **REC.peak_gib(base)}

            REC.guarded(row, name, work)
        if "ms" in row.get("sdpa", {}) and "ms" in row.get("fused", {}):
            row["fused_speed_vs_sdpa"] = row["sdpa"]["ms"] / row["fused"]["ms"]
        REC.save()


# -- main -------------------------------------------------------------------------------------------

def main() -> int:
    global DEV, REC
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=REC.out)
    p.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated subset of {','.join(PARTS)}")
    p.add_argument("--smoke", action="store_true", help="tiny sizes (runs on CPU too): checks the script")
    p.add_argument("--device", default=None, help="default: cuda if available (required without --smoke)")
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--heads", type=int, default=16)
    p.add_argument("--head-dim", type=int, default=128, help="d_k; the sub-token width is d_k / depth")
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--length", type=int, default=16384, help="sub-tokens L = N·D of the kernel part")
    p.add_argument("--lam", type=float, default=0.1)
    p.add_argument("--period", type=int, default=None, help="tokens; default 2·N (the route's minimum)")
    p.add_argument("--reps", type=int, default=10)
    p.add_argument("--skip-flex", action="store_true", help="leave out the flex fallback (its compile is slow)")
    p.add_argument("--flex-old", action="store_true", help="also time flex with 0-d tensor parameters")
    p.add_argument("--depths", type=int, nargs="+", default=[1, 4], help="toroidal depths of the prefill part")
    p.add_argument("--prefill-lengths", type=int, nargs="+", default=[16384, 65536])
    p.add_argument("--prefill-reps", type=int, default=3)
    p.add_argument("--memory-lengths", type=int, nargs="+", default=[65536, 131072])
    p.add_argument("--long-lengths", type=int, nargs="+", default=[262144, 1048576])
    a = p.parse_args()
    DEV = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if DEV.type != "cuda" and not a.smoke:
        p.error("no CUDA device: run with --smoke (tiny sizes) or on a GPU")
    a.dtype = torch.bfloat16 if DEV.type == "cuda" else torch.float32
    if a.smoke:
        a.heads, a.head_dim, a.length, a.reps, a.prefill_reps = 2, 64, 256, 2, 1
        a.prefill_lengths, a.memory_lengths, a.long_lengths = [64, 256], [128, 256], [1024]
        if DEV.type == "cpu":
            backends.FLEX_COMPILE = False  # eager flex: compiled flex on CPU costs ~30 s per shape
    if DEV.type == "cuda":
        if DEV.index is None:  # set_device and friends want an explicit index
            DEV = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(DEV)
    REC = Recorder(DEV, a.out)
    parts = [s.strip() for s in a.parts.split(",") if s.strip()]
    unknown = set(parts) - set(PARTS)
    if unknown:
        p.error(f"unknown parts {sorted(unknown)}; choose from {', '.join(PARTS)}")
    REC.results.update(environment=REC.environment(), command=" ".join(sys.argv), smoke=a.smoke)
    REC.save()
    for part in parts:
        t0 = time.perf_counter()
        try:
            {"kernel": part_kernel, "prefill": part_prefill, "memory": part_memory, "long": part_long}[part](a)
        except Exception as exc:  # noqa: BLE001 — keep the other parts
            REC.results.setdefault("errors", {})[part] = f"{type(exc).__name__}: {exc}"[:500]
            traceback.print_exc()
        REC.results.setdefault("part_seconds", {})[part] = time.perf_counter() - t0
        REC.save()
    print(f"wrote {REC.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
