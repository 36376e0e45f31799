"""GPU check of the π-Spiral family: prefill/decode throughput, peak memory, streaming memory (CUDA).

Builds a random-init model of Qwen2-0.5B shape in bf16 (no download), applies each encoding the way
`tbench` does, and prints one table per measurement. Ratios against `rope`, measured in the same
run, are what to read; absolute numbers depend on the GPU.

    PYTHONPATH=. python benchmarks/pi_spiral_gpu_check.py [--lengths 2048 8192 32768] [--stream 4096]
"""

from __future__ import annotations

import argparse

import torch

ENCODINGS = ["rope", "pi-spiral(const=pi)", "hybrid(switch=4096,width=512,const=phi)",
             "attractor(alpha=exp:1.0,layers=12,inject=kv)", "attractor(alpha=exp:1.0,inject=kv)",
             "attractor(alpha=exp:1.0,inject=residual)"]


def build(encoding: str):
    from transformers import AutoConfig, AutoModelForCausalLM

    from toroidal_bench.encodings import resolve_encoding
    from toroidal_bench.specs import parse_spec

    cfg = AutoConfig.for_model("qwen2", vocab_size=32000, hidden_size=896, intermediate_size=4864,
                               num_hidden_layers=24, num_attention_heads=14, num_key_value_heads=2,
                               max_position_embeddings=131072, rope_theta=1000000.0)
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(cfg, dtype=torch.bfloat16, attn_implementation="sdpa").cuda().eval()
    if encoding != "rope":
        for ref in parse_spec(f"random:x+{encoding}").encodings:
            enc = resolve_encoding(ref)
            enc.check("qwen2")
            enc.apply(model)
    return model


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lengths", type=int, nargs="+", default=[2048, 8192, 32768])
    ap.add_argument("--stream", type=int, default=4096)
    ap.add_argument("--window", type=int, default=512)
    args = ap.parse_args()
    assert torch.cuda.is_available(), "this check runs on CUDA"
    from toroidal_bench.diagnostics import profile

    print(f"device: {torch.cuda.get_device_name()}  torch {torch.__version__}")
    print("\n| encoding | " + " | ".join(f"prefill {n} tok/s (peak GiB)" for n in args.lengths)
          + " | decode tok/s |")
    base = {}
    for enc in ENCODINGS:
        model = build(enc)
        profile.prefill_profile(model, [args.lengths[0]], repeats=1)  # warm-up
        rows = profile.prefill_profile(model, args.lengths, repeats=3)
        dec = profile.decode_profile(model, 1024, 128)
        if enc == "rope":
            base = {r.length: r.tokens_per_s for r in rows}
        cells = [f"{r.tokens_per_s:,.0f} ({r.peak_bytes / 2**30:.2f}) ×{r.tokens_per_s / base[r.length]:.2f}"
                 for r in rows]
        print(f"| {enc} | " + " | ".join(cells) + f" | {dec.tokens_per_s:.1f} |")
        del model
        torch.cuda.empty_cache()

    print(f"\nstreaming {args.stream} tokens one at a time, attractor(inject=kv) on every layer")
    model = build("attractor(alpha=exp:1.0,inject=kv)")
    for window in (None, args.window):
        torch.cuda.reset_peak_memory_stats()
        pts = profile.streaming_memory(model, args.stream, window=window, every=args.stream // 8)
        name = "full cache" if window is None else f"window {window}"
        print(f"| {name} | " + " | ".join(f"{p.step}: {p.total / 2**20:.2f} MiB" for p in pts)
              + f" | peak allocated {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB |")

    from toroidal_bench.encodings.pi_spiral import phases
    from toroidal_bench.encodings.pi_spiral.rotary import PiSpiralRotary

    rot = PiSpiralRotary(phases.spiral_frequencies("pi", 32, "log", 1e6)).cuda()
    pos = torch.tensor([[10**8, 2**31 - 1]], device="cuda")
    cos, _ = rot(torch.zeros(1, device="cuda", dtype=torch.bfloat16), pos)
    ref = torch.cos(torch.from_numpy(2 * torch.pi * phases.phase(pos.cpu().numpy(), rot.freqs.cpu().numpy())))
    err = (cos.float().cpu()[..., :32] - ref.float()).abs().max().item()
    print(f"\nbf16 cos at positions 1e8 and 2^31-1 vs float64 reference: max abs error {err:.2e} (bf16 ulp ≈ 4e-3)")


if __name__ == "__main__":
    main()
