"""The model self-check on the GPU in bf16: healthy encodings pass, a lost KV cache fails, and what it costs.

    PYTHONPATH=. python benchmarks/self_check_gpu.py

Prints, per spec, the relative differences of cached decoding and of a padded batch against a full
forward pass, the tolerance, and the check's wall time (first call, which compiles any flex kernels,
and a second, steady one). Then the same for a deliberately broken cache path.
"""

from __future__ import annotations

import time

import torch

SPECS = ["random:llama-small+rope", "random:llama-small+alibi", "random:llama-small+yarn(factor=4)",
         "random:llama-small+toroidal(depth=1,lambda=0,layers=0..3)",
         "random:llama-small+toroidal(depth=4,lambda=0.1,layers=0..3)",
         "random:llama-small+toroidal(depth=4,lambda=0.1,layers=0..3,backend=sdpa)",
         "random:llama-small+pi-spiral", "random:llama-small+hybrid",
         "random:llama-small+attractor(alpha=fixed:0.5)", "random:llama-small+attractor(inject=residual)"]
BROKEN = [s for s in SPECS if "toroidal" in s or "attractor" in s]


def main() -> None:
    import toroidal_bench as tb
    from toroidal_bench.models import architecture
    from toroidal_bench.models.self_check import self_check

    print("device:", torch.cuda.get_device_name(0), "torch", torch.__version__)
    import transformers

    print("transformers", transformers.__version__)

    def row(tag, spec):
        model = tb.load(spec).model
        first = self_check(model)
        torch.cuda.synchronize()
        t = time.perf_counter()
        second = self_check(model)
        torch.cuda.synchronize()
        print(f"{tag:7s} {spec:68s} passed={second.passed!s:5s} decode={second.decode_diff:.3g} "
              f"batch={second.batch_diff:.3g} tol={second.tolerance:g} first={first.seconds * 1e3:.0f}ms "
              f"steady={(time.perf_counter() - t) * 1e3:.0f}ms", flush=True)

    for spec in SPECS:
        row("healthy", spec)
    real = architecture.layer_cache
    architecture.layer_cache = lambda kwargs: None
    try:
        for spec in BROKEN:
            row("broken", spec)
    finally:
        architecture.layer_cache = real

    from common import qwen2_05b

    model = qwen2_05b()
    self_check(model)
    torch.cuda.synchronize()
    t = time.perf_counter()
    check = self_check(model)
    torch.cuda.synchronize()
    print(f"qwen2-0.5B shape (bf16, sdpa): passed={check.passed} decode={check.decode_diff:.3g} "
          f"batch={check.batch_diff:.3g} steady={(time.perf_counter() - t) * 1e3:.0f}ms")


if __name__ == "__main__":
    main()
