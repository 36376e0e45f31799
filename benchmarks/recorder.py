"""Measuring one benchmark run on any device: steady times after a warm-up with the first (compiling)
call apart, peak memory, and one guarded measurement at a time whose result or error (OOM included)
is stored and saved at once, so a run cut short keeps what it measured."""

from __future__ import annotations

import gc
import json
import platform
import time
import traceback
import warnings

import torch


def compiles() -> int:
    """Graphs dynamo has compiled so far in this process (recompiles included)."""
    try:
        from torch._dynamo.utils import counters

        return int(counters["stats"]["unique_graphs"])
    except Exception:
        return -1


class Recorder:
    """The results of one run on `device`, rewritten to `out` after every measurement."""

    def __init__(self, device: torch.device, out: str):
        self.device, self.out, self.results = device, out, {}

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def save(self) -> None:
        with open(self.out, "w") as fh:
            json.dump(self.results, fh, indent=2, default=str)

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def free(self) -> None:
        gc.collect()
        if self.cuda:
            torch.cuda.empty_cache()

    def reset_peak(self) -> int:
        if not self.cuda:
            return 0
        self.sync()
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated()

    def peak_gib(self, base: int = 0) -> dict:
        if not self.cuda:
            return {}
        self.sync()
        peak = torch.cuda.max_memory_allocated()
        return {"peak_gib": peak / 2**30, "peak_over_start_gib": (peak - base) / 2**30}

    def timed(self, fn, reps: int, warmup: int = 2) -> dict:
        """first-call seconds (compilation included), then the steady milliseconds per call."""
        t0 = time.perf_counter()
        fn()
        self.sync()
        first = time.perf_counter() - t0
        for _ in range(warmup):
            fn()
        self.sync()
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(reps):
                fn()
            end.record()
            self.sync()
            ms = start.elapsed_time(end) / reps
        else:
            t0 = time.perf_counter()
            for _ in range(reps):
                fn()
            ms = (time.perf_counter() - t0) * 1000 / reps
        return {"first_call_s": first, "ms": ms, "compile_s_approx": max(0.0, first - ms / 1000)}

    def guarded(self, record: dict, key: str, work) -> dict | None:
        """Run one measurement; store its result or its error (OOM included) under record[key]; save."""
        before = compiles()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                result = work()
            except Exception as exc:  # noqa: BLE001 — one failed measurement must not end the run
                oom = isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower()
                result = {"error": f"{'OOM' if oom else type(exc).__name__}: {str(exc).splitlines()[0][:300]}"}
                if not oom:
                    result["traceback"] = traceback.format_exc(limit=4)[-1500:]
        notes = sorted({str(w.message).splitlines()[0][:200] for w in caught})
        if notes:
            result["warnings"] = notes[:6]
        result["graphs_compiled"] = compiles() - before
        record[key] = result
        self.free()
        self.save()
        status = result.get("error") or {k: round(v, 4) for k, v in result.items() if isinstance(v, float)}
        print(f"  {key}: {status}", flush=True)
        return result

    def environment(self) -> dict:
        env = {"device": str(self.device), "torch": torch.__version__, "python": platform.python_version()}
        try:
            import transformers

            env["transformers"] = transformers.__version__
        except ImportError:
            pass
        if self.cuda:
            env["gpu"] = torch.cuda.get_device_name(self.device)
            env["cudnn"] = torch.backends.cudnn.version()
            env["capability"] = list(torch.cuda.get_device_capability(self.device))
        return env
