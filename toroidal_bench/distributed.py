"""Data parallelism under torchrun: cells partitioned over ranks, each rank writing its own cell shards.

`torchrun --nproc-per-node N -m toroidal_bench run ...` starts N processes that see WORLD_SIZE, RANK
and LOCAL_RANK. Rank 0 alone checks the output, holds the lock and reads the resume state; it sends
its decision (the cells to run, the run metadata, or the error) to every rank. Each rank runs its
share of the cells on `cuda:LOCAL_RANK` (or the CPU) and writes one shard per cell, as a single
process does; after a barrier rank 0 merges the shards and sends the outcome back, so every rank
ends with the same summary and exit code. Without torchrun (WORLD_SIZE unset or 1) nothing here runs.

The ranks only exchange small Python objects, over a gloo group (on CUDA the default group is nccl,
for code that moves tensors). The wait at the barrier can be long, a rank finishing its share before
the others; a rank that dies makes torchrun stop the rest, and `--resume` re-runs the missing cells.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from .errors import TbenchError

T = TypeVar("T")

#: how long a rank waits for the others at a collective: a rank can finish its share hours early
TIMEOUT = timedelta(days=7)


@dataclass(frozen=True)
class Env:
    """Where this process sits in a torchrun job."""

    world_size: int
    rank: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def env() -> Env | None:
    """This process's place in a torchrun job of more than one process; None otherwise."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", str(rank)))
    except ValueError:
        return None
    return Env(world, rank, local) if world > 1 else None


def partition(weights: Sequence[float], world_size: int) -> list[list[int]]:
    """Indices of `weights` for each of `world_size` ranks, balancing the sum of weights: heaviest
    first, each to the least loaded rank (the lowest rank on a tie). Pure, so every rank computes the
    same split; each rank's indices stay in their original order."""
    loads = [0.0] * world_size
    shares: list[list[int]] = [[] for _ in range(world_size)]
    for i in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        r = min(range(world_size), key=lambda r: (loads[r], r))
        shares[r].append(i)
        loads[r] += weights[i]
    return [sorted(s) for s in shares]


def device_for(requested: str | None, where: Env) -> str | None:
    """The device of this rank: its own GPU (`cuda:LOCAL_RANK`) when the request is the default or
    plain `cuda` and a GPU is there; an explicit `cuda:K` or `cpu` is taken as given."""
    import torch

    if requested not in (None, "cuda") or not torch.cuda.is_available():
        return requested
    return f"cuda:{where.local_rank % torch.cuda.device_count()}"


class RankError(TbenchError):
    """An error raised on rank 0 and re-raised on every other rank, with the same line and exit code."""

    def __init__(self, message: str, fix: str | None, exit_code: int):
        super().__init__(message, fix)
        self.exit_code = exit_code

    def __reduce__(self):
        return (RankError, (str(self), self.fix, self.exit_code))


class Group:
    """The collectives tbench needs: rank 0 decides and the rest follow, and all ranks gather."""

    def __init__(self, where: Env, pg) -> None:
        self.env, self.pg = where, pg

    @property
    def is_main(self) -> bool:
        return self.env.is_main

    def decide(self, fn: Callable[[], T]) -> T:
        """Run `fn` on rank 0 and return its value on every rank; an exception it raises is raised on
        every rank (a tbench error keeps its line and exit code)."""
        outcome: list[Any] = [None]
        if self.is_main:
            try:
                outcome[0] = ("ok", fn())
            except BaseException as exc:
                outcome[0] = ("error", _portable(exc))
                self._broadcast(outcome)
                raise
        self._broadcast(outcome)
        kind, value = outcome[0]
        if kind == "error":
            raise value
        return value

    def gather(self, value: T) -> list[T]:
        """`value` from every rank, in rank order, on every rank."""
        import torch.distributed as dist

        out: list[Any] = [None] * self.env.world_size
        dist.all_gather_object(out, value, group=self.pg)
        return out

    def _broadcast(self, box: list[Any]) -> None:
        import torch.distributed as dist

        dist.broadcast_object_list(box, src=0, group=self.pg)


def _portable(exc: BaseException) -> BaseException:
    """`exc` as the other ranks can unpickle and report it the same way."""
    if isinstance(exc, TbenchError):
        return RankError(str(exc), exc.fix, exc.exit_code)
    if isinstance(exc, KeyboardInterrupt):
        return KeyboardInterrupt()
    text = " ".join(str(exc).split())[:300]
    return RuntimeError(f"on rank 0: {type(exc).__name__}: {text}")


@contextmanager
def group(device: str | None) -> Iterator[Group | None]:
    """A process group for the block when running under torchrun with more than one process, else
    None. nccl is the default group's backend on CUDA, gloo otherwise; control messages use gloo."""
    where = env()
    if where is None:
        yield None
        return
    import torch
    import torch.distributed as dist

    on_gpu = torch.cuda.is_available() and (device is None or str(device).startswith("cuda"))
    if on_gpu:
        torch.cuda.set_device(where.local_rank % torch.cuda.device_count())
    created = not dist.is_initialized()
    if created:
        dist.init_process_group("nccl" if on_gpu else "gloo", timeout=TIMEOUT)
    pg = dist.new_group(backend="gloo", timeout=TIMEOUT) if on_gpu else dist.group.WORLD
    try:
        yield Group(where, pg)
    finally:
        if created:
            dist.destroy_process_group()


__all__ = ["Env", "Group", "RankError", "device_for", "env", "group", "partition"]
