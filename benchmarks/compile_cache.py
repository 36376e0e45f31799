"""First compile of a FlexAttention model with a cold and with a warm compile cache.

    export TBENCH_HOME=$(mktemp -d)          # empty: the first process compiles from nothing
    PYTHONPATH=. python benchmarks/compile_cache.py --out cold.json
    PYTHONPATH=. python benchmarks/compile_cache.py --out warm.json   # a second process, same TBENCH_HOME

One process is one measurement: the model loads, then one prefill (a log-likelihood request of
`--length` tokens through the Runner, as a cell scores it) runs with its compiles counted; a second
prefill of the same shape gives the steady time. Each process prints and writes its numbers; the
cache folder is TBENCH_HOME/compile/inductor unless TORCHINDUCTOR_CACHE_DIR is set.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--spec", default="random:llama-small+alibi")
    ap.add_argument("--length", type=int, default=4096)
    ap.add_argument("--device", default=None)
    ap.add_argument("--warm-cuda", default=None, metavar="SPEC",
                    help="first run one request through SPEC (e.g. random:llama-small: same shape, SDPA) so "
                         "CUDA, cuBLAS and cuDNN first use is timed apart from the flex model's first prefill")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    import toroidal_bench as tb
    from toroidal_bench import compile_cache
    from toroidal_bench.costs import Meter, cuda_devices
    from toroidal_bench.tasks.base import LogLikelihood

    folder = compile_cache.location()[0]
    files_before = sum(1 for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0
    ids = torch.randint(3, 250, (a.length,), generator=torch.Generator().manual_seed(0)).tolist()
    request = [LogLikelihood(context_ids=ids[:-1], continuation_ids=ids[-1:])]
    first_use: dict = {}
    if a.warm_cuda:
        t0 = time.perf_counter()
        plain = tb.load(a.warm_cuda, device=a.device)
        first_use["load_s"] = round(time.perf_counter() - t0, 3)
        with Meter(cuda_devices(plain.model)) as first_plain:
            plain.loglikelihood(request)
        first_use.update(spec=a.warm_cuda, attention=plain.attention, first_prefill=first_plain.as_dict())
        del plain
    t0 = time.perf_counter()
    runner = tb.load(a.spec, device=a.device)
    load_s = time.perf_counter() - t0
    with Meter(cuda_devices(runner.model)) as first:
        runner.loglikelihood(request)
    with Meter(cuda_devices(runner.model)) as steady:
        runner.loglikelihood(request)
    out = {
        "spec": a.spec, "length": a.length, "attention": runner.attention,
        "device": torch.cuda.get_device_name(0) if runner.device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__, "cache_folder": str(folder), "cache_files_before": files_before,
        "cache_files_after": sum(1 for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0,
        "load_s": round(load_s, 3), "first_prefill": first.as_dict(), "steady_prefill": steady.as_dict(),
        "cuda_first_use": first_use or None,
    }
    print(json.dumps(out, indent=2))
    with open(a.out, "w") as fh:
        json.dump(out, fh, indent=2)


if __name__ == "__main__":
    main()
