"""Progress of a run on stderr: a rich bar on a terminal, plain lines anywhere else (CI logs, files).

Both show samples done of the total, the rate and an ETA computed as elapsed / done × remaining, so
an ETA appears with the first finished samples (rich's own estimate needs several updates within 30 s,
which long cells never give). Without a terminal one line is printed per finished cell, and at most
every `interval_s` seconds while a long cell is running.

Under torchrun rank 0 draws its own share of the cells, labelled with its rank; the other ranks print
only their failed cells, prefixed with their rank, and nothing of a run that ends well: rank 0 reports
the merged run.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from .. import distributed
from ..evaluate import Reporter
from .output import console as out_console
from .output import err_console


def eta_seconds(elapsed: float, done: float, total: float) -> float | None:
    """Seconds left at the average pace so far; None before the first sample is done."""
    if done <= 0:
        return None
    return elapsed / done * max(0.0, total - done)


def clock_text(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    s = int(round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class EtaColumn(ProgressColumn):
    """ETA from elapsed time over finished samples."""

    def render(self, task) -> Text:
        eta = eta_seconds(task.elapsed or 0.0, task.completed, task.total or 0)
        return Text(f"ETA {clock_text(eta)}", style="progress.remaining")


class RichReporter(Reporter):
    """Draws a run's progress on `console`: a live bar if it is a terminal, else lines of text."""

    def __init__(self, console: Console = err_console, interval_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.console, self.interval_s, self.clock = console, interval_s, clock
        self.bar: Progress | None = None
        self.total_cells = self.cells_done = 0
        self.planned = self.done = 0  # planned: samples of the whole run, corrected as each cell ends
        self.cell_planned = self.cell_count = 0
        self.label = ""
        self.t0 = self.last_line = 0.0
        self.where = distributed.env()
        self.quiet = self.where is not None and not self.where.is_main

    # -- Reporter -------------------------------------------------------------------------------
    def start(self, total_cells: int, total_samples: int) -> None:
        self.total_cells, self.planned = total_cells, total_samples
        self.t0 = self.last_line = self.clock()
        if self.quiet:
            return
        share = f"rank 0 of {self.where.world_size}: " if self.where else ""
        if self.console.is_terminal:
            self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                MofNCompleteColumn(), TimeElapsedColumn(), EtaColumn(),
                                console=self.console, transient=False, get_time=self.clock)
            self.bar.start()
            self.task = self.bar.add_task(f"{share}{total_cells} cells", total=max(1, total_samples))
        else:
            self._line(f"run: {share}{total_cells} cells, {total_samples} samples planned")

    def cell(self, cell, n_samples: int) -> None:
        self.cell_planned, self.cell_count = n_samples, 0
        self.label = f"{cell.model_spec} · {cell.task.name} @ {cell.length}"
        if self.where is not None and not self.quiet:
            self.label = f"rank 0: {self.label}"
        if self.bar:
            self.bar.update(self.task, description=self.label)

    def advance(self, n: int) -> None:
        self.done += n
        self.cell_count += n
        if self.bar:
            self.bar.update(self.task, completed=self.done, total=max(1, self.total))
        elif not self.quiet and self.clock() - self.last_line >= self.interval_s:
            self._line(f"cell {self.cells_done + 1}/{self.total_cells} running {self.label} | {self._pace()}")

    def cell_done(self, cell, error: str | None) -> None:
        self.cells_done += 1
        # a cell's plan is an estimate (a wrapped harness, a failed cell): count what it really made
        self.planned += self.cell_count - self.cell_planned
        self.cell_planned = self.cell_count = 0
        if self.quiet:
            if error:
                self._line(f"rank {self.where.rank}: cell failed {self.label}: {error}")
        elif self.bar:
            self.bar.update(self.task, completed=self.done, total=max(1, self.total))
            if error:
                self.console.print(f"[red]cell failed[/] {self.label}: {error}", highlight=False)
        else:
            status = "failed" if error else "done"
            self._line(f"cell {self.cells_done}/{self.total_cells} {status} {self.label} | {self._pace()}")
            if error:
                self._line(f"  error: {error}")

    def stop(self) -> None:
        if self.bar:
            self.bar.stop()

    def finish(self, summary) -> None:
        if self.quiet:  # the summary and the scores come from rank 0; errors are still printed
            self.console.quiet = err_console.quiet = out_console.quiet = True

    @property
    def total(self) -> int:
        """Samples of the run as now known: the cell in flight counts at least what it has made."""
        return self.planned + max(0, self.cell_count - self.cell_planned)

    # -- plain lines ----------------------------------------------------------------------------
    def _pace(self) -> str:
        elapsed = self.clock() - self.t0
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = eta_seconds(elapsed, self.done, self.total)
        return (f"samples {self.done}/{self.total}, {rate:.3g}/s, "
                f"elapsed {clock_text(elapsed)}, ETA {clock_text(eta)}")

    def _line(self, text: str) -> None:
        self.last_line = self.clock()
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)
