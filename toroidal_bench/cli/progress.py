"""Rich progress bars (on stderr) for a run: samples done with ETA, and the cell in flight."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..evaluate import Reporter
from .output import err_console


class RichReporter(Reporter):
    def __init__(self) -> None:
        self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                                 TimeRemainingColumn(), console=err_console, transient=False)
        self.total = None

    def start(self, total_cells: int, total_samples: int) -> None:
        self.progress.start()
        self.total = self.progress.add_task(f"{total_cells} cells", total=max(1, total_samples))

    def cell(self, cell, n_samples: int) -> None:
        self.progress.update(self.total, description=f"{cell.model_spec} · {cell.task.name} @ {cell.length}")

    def advance(self, n: int) -> None:
        self.progress.advance(self.total, n)

    def cell_done(self, cell, error: str | None) -> None:
        if error:
            self.progress.console.print(
                f"[red]cell failed[/] {cell.model_spec} · {cell.task.name} @ {cell.length}: {error}",
                highlight=False)

    def stop(self) -> None:
        self.progress.stop()
