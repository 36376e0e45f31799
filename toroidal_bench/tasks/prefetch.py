"""Samples of the next cell built on a worker thread while the model runs the current one.

Building a long-context cell's samples is host work (haystacks tokenized, needles placed, the
decode → encode check): about a second per 100 samples at 32k tokens, time the GPU would otherwise
sit idle between cells. The worker has its own copy of the tokenizer (a fast tokenizer must not be
used from two threads at once). Samples come from the on-disk cache (cache.py) as before, so a
prefetched cell is exactly the cell built on demand; an error raised while building it is raised
again when the cell asks for its samples, and recorded as that cell's error.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from . import cache
from .base import Sample, TaskFamily

#: (task name, family, tokenizer, length, seed, limit) → samples
Build = Callable[[str, TaskFamily, Any, int, int, "int | None"], list[Sample]]


class Prefetcher:
    """`ahead(cell)` starts building a cell's samples; `samples(cell, family)` returns them (built here
    when nothing was started for that cell). Cells are built in the order they were asked for, one at a
    time; at most `keep` unclaimed cells are kept (the oldest is dropped)."""

    def __init__(self, tokenizer: Any, build: Build | None = None, keep: int = 2):
        self.tokenizer, self.keep = tokenizer, keep
        self.build: Build = build or (lambda *args: cache.cached_samples(*args))
        self._worker_tokenizer: Any = None
        self._pool: ThreadPoolExecutor | None = None
        self._pending: dict[str, Future] = {}

    def ahead(self, cell: Any) -> None:
        """Start on `cell`'s samples; families that drive the runner themselves (lm-eval) are skipped."""
        family = _family(cell)
        if family is None or hasattr(family, "evaluate") or cell.cell_id in self._pending:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="tbench-samples")
            self._worker_tokenizer = copy.deepcopy(self.tokenizer)
        while len(self._pending) >= self.keep:
            self._pending.pop(next(iter(self._pending))).cancel()
        self._pending[cell.cell_id] = self._pool.submit(self.build, cell.task.name, family, self._worker_tokenizer,
                                                        cell.length, cell.seed, cell.limit)

    def samples(self, cell: Any, family: TaskFamily) -> list[Sample]:
        future = self._pending.pop(cell.cell_id, None)
        if future is not None and not future.cancelled():
            return future.result()
        return self.build(cell.task.name, family, self.tokenizer, cell.length, cell.seed, cell.limit)

    def close(self) -> None:
        """Stop: a build under way finishes (it cannot be interrupted), nothing new starts."""
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _family(cell: Any) -> TaskFamily | None:
    """The cell's family with its parameters, or None if it cannot be built (the cell reports why)."""
    try:
        family = cell.task.build()
    except Exception:
        return None
    family.params = cell.task_params
    return family
