"""THE results schema, declared once; the atomic Parquet writer, the reader, shards and resume.

One Parquet file per run, long format: one row per (sample, metric). Context length and needle depth
are columns on every row, never parts of metric names. Full prompts are not repeated on every row:
each distinct prompt is stored once, by hash, in the optional sidecar `<run>.prompts.parquet`.
Run metadata (JSON) sits in the file's key-value metadata under `tbench.run`.

While a run is in progress each finished cell is written atomically as a shard under
`<run>.parquet.cells/`, so a crash loses at most the cell in flight; `finalize` merges the shards
(and any earlier rows, on resume) into the run file and removes them.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import ResultsError, UsageError

SCHEMA_VERSION = "1"
METADATA_KEY = b"tbench.run"

#: name, type, doc — the single definition every writer and reader uses
COLUMNS: list[tuple[str, pa.DataType, str]] = [
    ("run_id", pa.string(), "identifier of the run that produced the row"),
    ("cell_id", pa.string(), "hash of (model_spec, task, context_length, params, seed): the unit of resume"),
    ("model_spec", pa.string(), "canonical spec string, e.g. 'random:llama-tiny+alibi'"),
    ("spec_hash", pa.string(), "hash of the resolved model config and every encoding field"),
    ("model", pa.string(), "model part of the spec, e.g. 'hf:Qwen/Qwen2.5-1.5B'"),
    ("encoding", pa.string(), "encoding part of the spec ('none' when the model runs as loaded)"),
    ("task", pa.string(), "task name (a file in tasks/)"),
    ("context_length", pa.int64(), "requested total length in tokens (prompt + room for the answer)"),
    ("depth", pa.float64(), "needle position in [0, 1]; null where the task has none"),
    ("sample_id", pa.string(), "sample identifier, stable across runs with the same seed"),
    ("metric", pa.string(), "metric name, e.g. 'accuracy'"),
    ("value", pa.float64(), "metric value; null when the cell failed"),
    ("prediction", pa.string(), "model output (generation tasks)"),
    ("reference", pa.string(), "expected answer(s), JSON-encoded when not a plain string"),
    ("prompt_hash", pa.string(), "sha256 prefix of the prompt text; key into the prompts sidecar"),
    ("prompt_tokens", pa.int64(), "actual prompt length in the model's tokenizer"),
    ("truncated_tokens", pa.int64(), "tokens removed to fit the length (0 when built to length)"),
    ("latency_s", pa.float64(), "model time per sample in its batch (batch time / batch size)"),
    ("error", pa.string(), "null on success; the exception, one line, when the cell failed"),
    ("meta", pa.string(), "JSON of task-specific sample facts (haystack, needle count, ...)"),
]

SCHEMA = pa.schema([pa.field(n, t, metadata={"doc": d}) for n, t, d in COLUMNS])
PROMPTS_SCHEMA = pa.schema([("prompt_hash", pa.string()), ("prompt", pa.string())])


def shard_dir(out: Path) -> Path:
    return out.with_name(out.name + ".cells")


def prompts_path(out: Path) -> Path:
    return out.with_name(out.name.removesuffix(".parquet") + ".prompts.parquet")


def to_table(rows: list[dict[str, Any]], run_meta: dict[str, Any] | None = None) -> pa.Table:
    table = pa.Table.from_pylist([{n: r.get(n) for n, _, _ in COLUMNS} for r in rows], schema=SCHEMA)
    return with_meta(table, run_meta)


def with_meta(table: pa.Table, run_meta: dict[str, Any] | None) -> pa.Table:
    meta = dict(table.schema.metadata or {})
    meta[b"tbench.schema_version"] = SCHEMA_VERSION.encode()
    if run_meta is not None:
        meta[METADATA_KEY] = json.dumps(run_meta, sort_keys=True, default=str).encode()
    return table.replace_schema_metadata(meta)


def write_atomic(table: pa.Table, path: Path) -> None:
    """Write to a temp file in the same directory, fsync, then rename over `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise UsageError(f"cannot write to {path.parent}: {exc.strerror}", "choose a writable --out") from None
    os.close(fd)
    try:
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_shard(out: Path, cell_id: str, rows: list[dict], prompts: dict[str, str], run_meta: dict) -> None:
    d = shard_dir(out)
    if prompts:
        table = pa.Table.from_pylist([{"prompt_hash": h, "prompt": p} for h, p in prompts.items()],
                                     schema=PROMPTS_SCHEMA)
        write_atomic(table, d / f"{cell_id}.prompts.parquet")
    write_atomic(to_table(rows, run_meta), d / f"{cell_id}.parquet")  # last: its presence marks the cell done


def read_table(path: Path) -> pa.Table:
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"no results file at {path}")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise ResultsError(f"{path} is not a readable Parquet file ({exc})") from None
    missing = [n for n, _, _ in COLUMNS if n not in table.column_names]
    if missing:
        raise ResultsError(f"{path} is not a tbench results file (missing columns: {', '.join(missing)})")
    return table.select([n for n, _, _ in COLUMNS]).cast(SCHEMA)


def read(path: Path):
    """The run's rows as a pandas DataFrame (`df.attrs['run']` holds the run metadata)."""
    table = read_table(path)
    df = table.to_pandas()
    df.attrs["run"] = run_metadata(path)
    return df


def run_metadata(path: Path) -> dict[str, Any]:
    meta = pq.read_schema(path).metadata or {}
    raw = meta.get(METADATA_KEY)
    return json.loads(raw) if raw else {}


def previous_run(out: Path) -> dict[str, Any]:
    """Metadata of the run being resumed: from the run file, else from any cell shard it left."""
    if Path(out).is_file():
        return run_metadata(out)
    shards = sorted(shard_dir(out).glob("*.parquet"))
    return run_metadata(shards[0]) if shards else {}


def existing_cells(out: Path) -> tuple[set[str], set[str]]:
    """(complete cell ids, failed cell ids) in the run file and its shards."""
    tables = [read_table(out)] if Path(out).is_file() else []
    tables += [read_table(p) for p in sorted(shard_dir(out).glob("*.parquet")) if not p.name.endswith(".prompts.parquet")]
    done: set[str] = set()
    failed: set[str] = set()
    for t in tables:
        ids = t.column("cell_id").to_pylist()
        errs = t.column("error").to_pylist()
        for cid, err in zip(ids, errs, strict=True):
            (failed if err else done).add(cid)
    return done - failed, failed


def finalize(out: Path, run_meta: dict[str, Any], drop_cells: Iterable[str] = ()) -> pa.Table:
    """Merge earlier rows (minus `drop_cells`, e.g. failed cells that were re-run) and the shards into
    `out` atomically, update the prompts sidecar, then remove the shards."""
    out = Path(out)
    drop = set(drop_cells)
    parts: list[pa.Table] = []
    if out.is_file():
        old = read_table(out)
        if drop:
            keep = [c not in drop for c in old.column("cell_id").to_pylist()]
            old = old.filter(pa.array(keep))
        parts.append(old)
    shards = sorted(p for p in shard_dir(out).glob("*.parquet") if not p.name.endswith(".prompts.parquet"))
    parts += [read_table(p) for p in shards]
    table = pa.concat_tables([t.replace_schema_metadata(None) for t in parts]) if parts else to_table([])
    table = with_meta(table, run_meta)
    _merge_prompts(out)
    write_atomic(table, out)
    shutil.rmtree(shard_dir(out), ignore_errors=True)
    return table


def _merge_prompts(out: Path) -> None:
    files = sorted(shard_dir(out).glob("*.prompts.parquet"))
    if not files:
        return
    side = prompts_path(out)
    parts = ([pq.read_table(side)] if side.is_file() else []) + [pq.read_table(p) for p in files]
    merged = pa.concat_tables([t.cast(PROMPTS_SCHEMA) for t in parts]).to_pandas()
    merged = merged.drop_duplicates("prompt_hash")
    write_atomic(pa.Table.from_pandas(merged, schema=PROMPTS_SCHEMA, preserve_index=False), side)
