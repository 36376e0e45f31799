"""The training log: one row per logged optimizer step, kept as `OUT/train_log.parquet`.

Columns: step (optimizer steps done), loss (weighted mean over the step's micro-batches, this
process), lr, grad_norm (before clipping), tokens (positions processed so far, all processes),
tokens_per_s (since the previous row), elapsed_s (training time of this and earlier sessions).
The file is rewritten whole at every checkpoint (it is small); a resumed run drops rows past its
checkpoint, so the log of a resumed run equals the log of an uninterrupted one, timings aside.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

COLUMNS = ("step", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "elapsed_s")
FILE = "train_log.parquet"


class TrainLog:
    def __init__(self, out: Path):
        self.path = Path(out) / FILE
        self.rows: list[dict[str, Any]] = []

    def resume(self, step: int) -> None:
        """Keep the rows of steps ≤ `step` from an earlier session."""
        if self.path.is_file():
            import pyarrow.parquet as pq

            self.rows = [r for r in pq.read_table(self.path).to_pylist() if r["step"] <= step]

    def append(self, row: dict[str, Any]) -> None:
        self.rows.append({k: row[k] for k in COLUMNS})

    @property
    def elapsed_s(self) -> float:
        return float(self.rows[-1]["elapsed_s"]) if self.rows else 0.0

    def write(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = pa.schema([("step", pa.int64()), ("loss", pa.float64()), ("lr", pa.float64()),
                            ("grad_norm", pa.float64()), ("tokens", pa.int64()),
                            ("tokens_per_s", pa.float64()), ("elapsed_s", pa.float64())])
        tmp = self.path.with_suffix(".tmp")
        pq.write_table(pa.Table.from_pylist(self.rows, schema=schema), tmp)
        tmp.replace(self.path)
