"""CPU measurements quoted in docs/toroidal.md: the FFT approximation's error against exact toroidal
attention, and the memory of latent streaming per generated token (vs a KV cache).

    PYTHONPATH=. python benchmarks/toroidal_measure.py
"""

from __future__ import annotations

import resource

import torch

from toroidal_bench.encodings.toroidal import FFTToroidalAttention, ToroidalAttention


def rss_kib() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() // 1024


def fft_error() -> None:
    print("## FFT circulant approximation vs exact toroidal attention (CPU, float32, non-causal, N = P)\n")
    print("| d_model | H | D | N=P | λ | pe | input | rel. error ‖y_fft−y‖/‖y‖ | max |Δ| | exact ms | fft ms |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    import time

    for n, depth, lam, pe, kind in [(64, 4, 0.1, "none", "random"), (64, 4, 1.0, "none", "random"),
                                    (256, 4, 0.1, "none", "random"), (256, 4, 0.1, "toroidal3d", "random"),
                                    (256, 4, 0.1, "none", "periodic-8"), (256, 1, 0.1, "none", "random"),
                                    (1024, 4, 0.1, "none", "random")]:
        torch.manual_seed(0)
        attn = FFTToroidalAttention(128, 4, max_len=n, depth=depth, lambda_distance=lam, pe=pe,
                                    periodic=pe != "none").eval()
        x = torch.randn(2, n, 128)
        if kind.startswith("periodic"):
            x = x[:, :8].repeat(1, n // 8, 1)
        with torch.no_grad():
            attn.use_fft = False
            t0 = time.perf_counter()
            exact = attn(x)[0]
            t_exact = (time.perf_counter() - t0) * 1000
            attn.use_fft = True
            t0 = time.perf_counter()
            approx = attn(x)[0]
            t_fft = (time.perf_counter() - t0) * 1000
        rel = float((approx - exact).norm() / exact.norm())
        print(f"| 128 | 4 | {depth} | {n} | {lam} | {pe} | {kind} | {rel:.3f} | {float((approx - exact).abs().max()):.3f}"
              f" | {t_exact:.1f} | {t_fft:.1f} |")


def streaming_memory(steps: int = 4000) -> None:
    print(f"\n## Latent streaming memory (CPU, float32, d_model=256, H=8, D=4, M=64 slots, {steps} steps)\n")
    print("| update | state bytes/step (first → last) | RSS growth over last half (KiB) | KV cache bytes after "
          f"{steps} tokens |")
    print("|---|---|---|---|")
    for update in ("gru", "linear"):
        torch.manual_seed(0)
        attn = ToroidalAttention(256, 8, max_len=8192, depth=4, latent_cfg={"latent_dim": 64,
                                                                            "latent_update": update}).eval()
        state, first, rss_mid = None, None, 0
        with torch.no_grad():
            for t in range(steps):
                _, state = attn.forward_streaming(torch.randn(1, 256), state)
                first = first or state.nbytes()
                if t == steps // 2:
                    rss_mid = rss_kib()
        growth = rss_kib() - rss_mid
        kv = 2 * steps * 256 * 4  # K and V, all heads, float32
        print(f"| {update} | {first} → {state.nbytes()} | {growth} | {kv} |")


if __name__ == "__main__":
    torch.set_num_threads(2)
    fft_error()
    streaming_memory()
