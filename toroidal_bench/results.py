"""THE results schema, declared once; the atomic Parquet writer, the reader, shards and resume.

One Parquet file per run, long format: one row per (sample, metric), or per (sample, metric, position
range) for metrics measured by position (NLL by position). Context length, needle depth and token
positions are columns, never parts of metric names. Full prompts are not repeated on every row:
each distinct prompt is stored once, by hash, in the optional sidecar `<run>.prompts.parquet`.
Run metadata (JSON) sits in the file's key-value metadata under `tbench.run`.

While a run is in progress each finished cell is written atomically as a shard under
`<run>.parquet.cells/`, so a crash loses at most the cell in flight; `finalize` merges the shards
(and any earlier rows, on resume) into the run file and removes them. A shard's rows replace the
run file's rows of the same cell, so a crash between the merge and the clean-up, then a resume,
merges nothing twice. An `--overwrite` run marks its shards as replacing the run file, which stays
untouched until that run's own finalize. `exclusive` holds an OS lock on `<run>.parquet.lock`:
one writer per results file, released by the OS if the process dies.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import ResultsError, UsageError

SCHEMA_VERSION = "2"  # 2: position, position_end
#: versions this reader takes; columns an older version lacks read as null
READABLE_VERSIONS = ("1", "2")
#: columns added after version 1, with the version that added them
ADDED_COLUMNS = {"position": "2", "position_end": "2"}
METADATA_KEY = b"tbench.run"
REPLACING_MARK = "replaces-results"  # in the shard dir: these shards replace the run file, not add to it

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
    ("sample_id", pa.string(), "sample identifier, stable across runs with the same seed (ending in "
                               "'~seed<N>' for seeds other than 0)"),
    ("metric", pa.string(), "metric name, e.g. 'accuracy'"),
    ("position", pa.int64(), "first token position (1-based) the value covers; null for whole-sample metrics"),
    ("position_end", pa.int64(), "token position after the last one covered ([position, position_end)); null "
                                  "with position"),
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


def lock_path(out: Path) -> Path:
    return out.with_name(out.name + ".lock")


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
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a results file is as readable as any other
        pq.write_table(table, tmp, compression="zstd")
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_shard(out: Path, cell_id: str, rows: list[dict], prompts: dict[str, str], run_meta: dict) -> None:
    d = shard_dir(out)
    if prompts:
        table = pa.Table.from_pylist([{"prompt_hash": h, "prompt": p} for h, p in prompts.items()],
                                     schema=PROMPTS_SCHEMA)
        write_atomic(table, d / f"{cell_id}.prompts.parquet")
    write_atomic(to_table(rows, run_meta), d / f"{cell_id}.parquet")  # last: its presence marks the cell done


def read_table(path: Path) -> pa.Table:
    """The file's rows in exactly the results schema; any other file is a one-line ResultsError."""
    path = Path(path)
    if not path.is_file():
        raise ResultsError(f"no results file at {path}")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise ResultsError(f"{path} is not a readable Parquet file ({_brief(exc)})") from None
    version = _schema_version(table)
    if version not in READABLE_VERSIONS:
        raise ResultsError(f"{path} has results schema version {version}; this tbench reads "
                           f"{', '.join(READABLE_VERSIONS)}", "upgrade tbench to read it")
    for name, added in ADDED_COLUMNS.items():  # an older file: the column did not exist yet
        if name not in table.column_names and int(version) < int(added):
            table = table.append_column(name, pa.nulls(table.num_rows, pa.int64()))
    missing = [n for n, _, _ in COLUMNS if n not in table.column_names]
    if missing:
        raise ResultsError(f"{path} is not a tbench results file (missing columns: {', '.join(missing)})")
    wrong = [f"{n} is {_field_type(table, n)}, not {t}" for n, t, _ in COLUMNS if not _fits(_field_type(table, n), t)]
    if wrong:
        raise ResultsError(f"{path} is not a tbench results file (column {'; '.join(wrong)})")
    try:
        return table.select([n for n, _, _ in COLUMNS]).cast(SCHEMA)
    except pa.ArrowException as exc:
        raise ResultsError(f"{path} holds values the results schema cannot take ({_brief(exc)})") from None


def _schema_version(table: pa.Table) -> str:
    raw = (table.schema.metadata or {}).get(b"tbench.schema_version", b"1")  # files before the key: version 1
    return raw.decode("utf-8", errors="replace")


def _field_type(table: pa.Table, name: str) -> pa.DataType | None:
    idx = table.schema.get_all_field_indices(name)
    return table.schema.field(idx[0]).type if len(idx) == 1 else None  # a repeated name fits nothing


def _fits(actual: pa.DataType | None, expected: pa.DataType) -> bool:
    """Types that cast to the schema's without changing a value: all-null columns, narrower numbers,
    other string encodings. Strings are never parsed as numbers."""
    if actual is None:
        return False
    if pa.types.is_dictionary(actual):
        actual = actual.value_type
    if actual == expected or pa.types.is_null(actual):
        return True
    if pa.types.is_string(expected):
        return pa.types.is_string(actual) or pa.types.is_large_string(actual) or pa.types.is_string_view(actual)
    if pa.types.is_int64(expected):
        return pa.types.is_integer(actual) and actual != pa.uint64()
    if pa.types.is_float64(expected):
        return pa.types.is_floating(actual) or pa.types.is_integer(actual)
    return False


def _brief(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200]


def read(path: Path):
    """The run's rows as a pandas DataFrame (`df.attrs['run']` holds the run metadata)."""
    table = read_table(path)
    df = table.to_pandas()
    df.attrs["run"] = run_metadata(path)
    return df


def run_metadata(path: Path) -> dict[str, Any]:
    try:
        raw = (pq.read_schema(path).metadata or {}).get(METADATA_KEY)
        meta = json.loads(raw) if raw else {}
    except (pa.ArrowException, OSError, ValueError) as exc:  # ValueError: bad JSON or bad UTF-8
        raise ResultsError(f"{path} has unreadable run metadata ({_brief(exc)})") from None
    if not isinstance(meta, dict):
        raise ResultsError(f"{path} has run metadata that is not a JSON object")
    return meta


# -- one writer at a time ----------------------------------------------------------------------------
@contextmanager
def exclusive(out: Path) -> Iterator[None]:
    """Hold an exclusive lock on `<out>.lock` while the block runs; refuse (UsageError) when another
    process holds it. The OS drops the lock when its holder dies, so a crash never leaves it stuck."""
    import fcntl

    path = lock_path(Path(out))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot write to {path.parent}: {exc.strerror}", "choose a writable --out") from None
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UsageError(f"cannot write to {path.parent}: {exc.strerror}", "choose a writable --out") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise UsageError(f"another tbench run{who} is writing {out}",
                             "wait for it to finish, or choose another --out") from None
        if _same_file(fd, path):
            break
        os.close(fd)  # its holder removed the file between our open and our lock: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        path.unlink(missing_ok=True)  # before unlocking, so a waiter never locks a file that is gone
        os.close(fd)


def _same_file(fd: int, path: Path) -> bool:
    try:
        a, b = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def remove_temp_files(out: Path) -> None:
    """Remove temp files a killed writer left: `.<name>.XXXXXXXX.tmp` next to the run file and its
    prompts sidecar, and any in the shard dir. Call only while holding `exclusive(out)`."""
    out = Path(out)
    names = "|".join(re.escape(n) for n in (out.name, prompts_path(out).name))
    temp = re.compile(rf"\.({names})\.[a-z0-9_]{{8}}\.tmp|\.{re.escape(out.name)}\.probe")  # mkstemp's alphabet
    for p in out.parent.glob(".*"):
        if temp.fullmatch(p.name):
            p.unlink(missing_ok=True)
    for p in shard_dir(out).glob(".*.tmp"):
        p.unlink(missing_ok=True)


# -- resume ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StoredCell:
    """A cell that has rows on disk: what it measured and whether every row succeeded."""

    model_spec: str
    task: str
    context_length: int
    ok: bool


def start_replacing(out: Path) -> None:
    """Begin an --overwrite run: drop an interrupted run's shards and mark the new ones as replacing
    the run file, which stays as it is until this run's finalize."""
    d = shard_dir(out)
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir(parents=True, exist_ok=True)
    (d / REPLACING_MARK).touch()


def replaces_file(out: Path) -> bool:
    """True while the shards belong to an --overwrite run: the run file is not part of the results."""
    return (shard_dir(out) / REPLACING_MARK).is_file()


def _shards(out: Path) -> list[Path]:
    return sorted(p for p in shard_dir(out).glob("*.parquet") if not p.name.endswith(".prompts.parquet"))


def previous_run(out: Path, include_file: bool = True) -> dict[str, Any]:
    """Metadata of the run being resumed: from its newest shard (each holds the run's metadata as of
    its writing), else from the run file."""
    shards = sorted(_shards(out), key=lambda p: p.stat().st_mtime_ns)
    if shards:
        return run_metadata(shards[-1])
    return run_metadata(out) if include_file and Path(out).is_file() else {}


def stored_cells(out: Path, include_file: bool = True) -> dict[str, StoredCell]:
    """Every cell with rows in the run file and its shards, by cell id; a shard's rows replace the
    run file's for the same cell, as `finalize` will."""
    sources = ([Path(out)] if include_file and Path(out).is_file() else []) + _shards(out)
    cells: dict[str, StoredCell] = {}
    for path in sources:
        t = read_table(path)
        found: dict[str, StoredCell] = {}
        cols = (t.column(c).to_pylist() for c in ("cell_id", "model_spec", "task", "context_length", "error"))
        for cid, spec, task, length, err in zip(*cols, strict=True):
            ok = not err and (found[cid].ok if cid in found else True)
            found[cid] = StoredCell(spec, task, length, ok)
        cells.update(found)
    return cells


def finalize(out: Path, run_meta: dict[str, Any], keep_file: bool = True) -> pa.Table:
    """Merge the run file's rows (unless `keep_file` is False: an --overwrite run replaces them) and
    the shards into `out` atomically, update the prompts sidecar, then remove the shards. Shard rows
    replace the file's rows of the same cells, so finalizing twice gives the same file."""
    out = Path(out)
    shards = [read_table(p) for p in _shards(out)]
    parts: list[pa.Table] = []
    if keep_file and out.is_file():
        old = read_table(out)
        fresh = pa.array(sorted({c for t in shards for c in t.column("cell_id").to_pylist()}), pa.string())
        parts.append(old.filter(pc.invert(pc.is_in(old.column("cell_id"), value_set=fresh))))
    parts += shards
    table = pa.concat_tables([t.replace_schema_metadata(None) for t in parts]) if parts else to_table([])
    table = with_meta(table, run_meta)
    _merge_prompts(out, keep_file)
    write_atomic(table, out)
    # the mark goes first: once the file holds the shards' rows, leftover shards only repeat them
    (shard_dir(out) / REPLACING_MARK).unlink(missing_ok=True)
    shutil.rmtree(shard_dir(out), ignore_errors=True)
    return table


def _merge_prompts(out: Path, keep_file: bool) -> None:
    side = prompts_path(out)
    sources = ([side] if keep_file and side.is_file() else []) + sorted(shard_dir(out).glob("*.prompts.parquet"))
    if not sources:
        side.unlink(missing_ok=True)  # an --overwrite run without prompts: the old ones are not its own
        return
    if sources == [side]:
        return
    try:
        parts = [pq.read_table(p).cast(PROMPTS_SCHEMA) for p in sources]
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ResultsError(f"cannot read the prompts of {out} ({_brief(exc)})") from None
    merged = pa.concat_tables(parts).to_pandas().drop_duplicates("prompt_hash")
    write_atomic(pa.Table.from_pandas(merged, schema=PROMPTS_SCHEMA, preserve_index=False), side)
