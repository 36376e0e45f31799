"""What running something cost: wall seconds, peak device memory and the compiles it triggered.

Compiles are counted through dynamo's compile callbacks, which fire around every frame dynamo
compiles (its first compile and each recompile, told apart by the compile id `frame/attempt`), and
around compiles deferred to run time (a lazily compiled backward); `graphs` is dynamo's own count of
the graphs it produced. The callbacks are process-wide, so a `Meter` reads the difference between two
snapshots. Peak memory is CUDA's allocator peak, reset when a meter starts; on a CPU there is no
such counter, and the peak is recorded as None rather than a made-up number.
"""

from __future__ import annotations

import threading
import time
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Compiles:
    """Dynamo frame compiles (`recompiles` of them were recompiles of a frame compiled before), the
    graphs produced, and the seconds spent compiling."""

    compiles: int = 0
    recompiles: int = 0
    graphs: int = 0
    seconds: float = 0.0

    def __sub__(self, other: Compiles) -> Compiles:
        return Compiles(self.compiles - other.compiles, self.recompiles - other.recompiles,
                        self.graphs - other.graphs, self.seconds - other.seconds)

    def __add__(self, other: Compiles) -> Compiles:
        return Compiles(self.compiles + other.compiles, self.recompiles + other.recompiles,
                        self.graphs + other.graphs, self.seconds + other.seconds)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "seconds": round(self.seconds, 3)}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Compiles:
        d = d or {}
        return cls(int(d.get("compiles", 0)), int(d.get("recompiles", 0)), int(d.get("graphs", 0)),
                   float(d.get("seconds", 0.0)))


class _Tally:
    """Running totals kept by dynamo's start and end callbacks (installed once per process)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.compiles = self.recompiles = 0
        self.seconds = 0.0
        self.started: dict[int, float] = {}  # thread id → start of the compile in flight there

    def start(self, args: Any = None) -> None:
        self.started[threading.get_ident()] = time.perf_counter()

    def end(self, args: Any = None) -> None:
        t0 = self.started.pop(threading.get_ident(), None)
        with self.lock:
            if t0 is not None:
                self.seconds += time.perf_counter() - t0
            trigger = getattr(getattr(args, "callback_trigger", None), "name", "DYNAMO")
            if trigger == "DYNAMO":
                self.compiles += 1
                self.recompiles += _is_recompile(getattr(args, "compile_id", None))


def _is_recompile(compile_id: str | None) -> bool:
    """`frame/attempt` ids count from 0 per frame; compiled-autograd ids (`!n/...`) are not recompiles."""
    if not compile_id or compile_id.startswith("!"):
        return False
    _, _, attempt = compile_id.partition("/")
    try:
        return int(attempt.split("_")[0]) > 0
    except ValueError:
        return False


_tally: _Tally | None = None
_install_lock = threading.Lock()


def _installed() -> _Tally:
    global _tally
    with _install_lock:
        if _tally is None:
            from torch._dynamo.callback import callback_handler

            tally = _Tally()
            callback_handler.register_start_callback(tally.start)
            callback_handler.register_end_callback(tally.end)
            _tally = tally
    return _tally


def compiles_so_far() -> Compiles:
    """Compiles in this process since tbench first asked (the counting starts then)."""
    tally = _installed()
    return Compiles(tally.compiles, tally.recompiles, _graphs(), tally.seconds)


def _graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def cuda_devices(model: Any) -> list[str]:
    """The CUDA devices `model`'s parameters live on (several under a device map), in index order."""
    devices = {p.device for p in model.parameters() if p.device.type == "cuda"}
    return [str(d) for d in sorted(devices, key=lambda d: d.index or 0)]


class Meter:
    """Measures a block: `with Meter(devices) as m: ...`, then `m.as_dict()`. `devices` are the CUDA
    devices whose peak memory counts (none: the peak is None)."""

    def __init__(self, devices: list[str] | None = None) -> None:
        self.devices = list(devices or [])
        self.wall_s = 0.0
        self.peaks: dict[str, int] = {}
        self.compiles = Compiles()

    def __enter__(self) -> Meter:
        import torch

        for d in self.devices:
            torch.cuda.synchronize(d)
            torch.cuda.reset_peak_memory_stats(d)
        self._before = compiles_so_far()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        import torch

        for d in self.devices:
            try:
                torch.cuda.synchronize(d)
            except RuntimeError:  # a failed kernel poisons the context; the peak is still readable
                pass
            self.peaks[d] = int(torch.cuda.max_memory_allocated(d))
        self.wall_s = time.perf_counter() - self._t0
        self.compiles = compiles_so_far() - self._before

    @property
    def peak_bytes(self) -> int | None:
        """The largest peak over the devices (None without a CUDA device)."""
        return max(self.peaks.values()) if self.peaks else None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"wall_s": round(self.wall_s, 3), "peak_bytes": self.peak_bytes}
        if len(self.peaks) > 1:
            out["peak_bytes_by_device"] = dict(self.peaks)
        c = self.compiles
        out.update(compiles=c.compiles, recompiles=c.recompiles, graphs=c.graphs, compile_s=round(c.seconds, 3))
        return out


__all__ = ["Compiles", "Meter", "compiles_so_far", "cuda_devices"]
