"""Benchmark records, read as the originals ship them.

A real-data task (LongBench, InfiniteBench, SCROLLS, ZeroSCROLLS) names its files with a
`DataFiles`: the paths the original ships (a JSONL/JSON/Parquet file, or a member of the original
zip archive written `archive.zip:member`), the hub dataset that hosts those same files, and the
command that fetches them. The files are looked for under `--data-dir`, first in a subfolder named
after the benchmark (so one data folder can hold every benchmark) and then in the folder itself;
without them, in the local HF cache; then, when the hub is reachable, downloaded once. A file
found nowhere is a one-line UsageError naming it and the command that fetches it.

Records are plain dicts in the original schema, read once per process and file version.
"""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..errors import UsageError


@dataclass(frozen=True)
class DataFiles:
    benchmark: str  # subfolder of --data-dir tried first, e.g. "longbench"
    paths: tuple[str, ...]  # what the original ships, first found wins: "data/x.jsonl", "data.zip:data/x.jsonl"
    hub_repo: str | None = None  # the HF dataset repository holding `hub_path`
    hub_path: str | None = None  # a path of `paths` as it lies in `hub_repo`
    fetch: str = ""  # the command that fetches the files, shown when they are missing

    def describe(self) -> str:
        return self.paths[0].replace(":", " member ")


def load_records(files: DataFiles, data_dir: str | None, limit: int | None = None) -> list[dict[str, Any]]:
    """The records of `files`, in file order (the first `limit` of them: a JSONL file is read only that
    far, so a preflight or a `--limit` run of a gigabyte file takes milliseconds); every failure is a
    one-line UsageError."""
    path, member = locate(files, data_dir)
    stat = path.stat()
    name = member or str(path)
    if limit is not None and name.endswith(".jsonl"):
        return _head(str(path), member, limit, stat.st_size, stat.st_mtime_ns)
    records = _read(str(path), member, stat.st_size, stat.st_mtime_ns)
    return records if limit is None else records[:limit]


def locate(files: DataFiles, data_dir: str | None) -> tuple[Path, str | None]:
    """(file, zip member or None) holding the records; raises when they are nowhere to be found."""
    looked: list[str] = []
    if data_dir:
        root = Path(data_dir).expanduser()
        if not root.is_dir():
            raise UsageError(f"--data-dir {data_dir} is not a folder")
        for folder in (root / files.benchmark, root):
            for spec in files.paths:
                name, _, member = spec.partition(":")
                if (folder / name).is_file():
                    return folder / name, member or None
            looked.append(str(folder))
    if files.hub_repo and files.hub_path:
        found = _from_hub(files)
        if found is not None:
            return found
    where = f"in {' or '.join(looked)}" if looked else "(no --data-dir given)"
    raise UsageError(f"{files.benchmark}: missing {files.describe()} {where}",
                     files.fetch or "pass --data-dir with the original files")


def _from_hub(files: DataFiles) -> tuple[Path, str | None] | None:
    """The hub copy: from the local HF cache, else downloaded when the hub is reachable."""
    from huggingface_hub import hf_hub_download, try_to_load_from_cache

    from ..models.hub import HUB_TIMEOUT_S, offline

    name, _, member = (files.hub_path or "").partition(":")
    try:
        cached = try_to_load_from_cache(files.hub_repo, name, repo_type="dataset")
    except Exception:
        cached = None
    if isinstance(cached, str):
        return Path(cached), member or None
    if offline():
        return None
    try:
        path = hf_hub_download(files.hub_repo, name, repo_type="dataset", etag_timeout=HUB_TIMEOUT_S)
    except Exception:  # not reachable, gated, gone: the caller names the local files instead
        return None
    return Path(path), member or None


@lru_cache(maxsize=4)  # whole files: a few of them can be gigabytes
def _read(path: str, member: str | None, size: int, mtime_ns: int) -> list[dict[str, Any]]:
    """Parse a file (size and mtime key the cache: an edited file is read again)."""
    where = f"{path}:{member}" if member else path
    try:
        if member is not None:
            with zipfile.ZipFile(path) as archive:
                try:
                    raw = archive.read(member)
                except KeyError:
                    raise UsageError(f"{path} holds no {member}", "is it the original archive?") from None
            return _parse(raw, member, where)
        return _parse(Path(path).read_bytes(), path, where)
    except (OSError, zipfile.BadZipFile) as exc:
        raise UsageError(f"cannot read {where}: {exc}") from None


@lru_cache(maxsize=64)
def _head(path: str, member: str | None, limit: int, size: int, mtime_ns: int) -> list[dict[str, Any]]:
    """The first `limit` records of a JSONL file, read line by line."""
    where = f"{path}:{member}" if member else path
    rows: list[Any] = []
    try:
        with contextlib.ExitStack() as stack:
            if member is not None:
                archive = stack.enter_context(zipfile.ZipFile(path))
                try:
                    fh = stack.enter_context(archive.open(member))
                except KeyError:
                    raise UsageError(f"{path} holds no {member}", "is it the original archive?") from None
            else:
                fh = stack.enter_context(open(path, "rb"))
            for number, line in enumerate(fh, 1):
                if len(rows) >= limit:
                    break
                if line.strip():
                    rows.append(_json_line(line, number, where))
    except (OSError, zipfile.BadZipFile) as exc:
        raise UsageError(f"cannot read {where}: {exc}") from None
    return _records(rows, where)


def _json_line(line: bytes | str, number: int, where: str) -> Any:
    try:
        return json.loads(line)
    except UnicodeDecodeError:
        raise UsageError(f"{where} is not UTF-8 text") from None
    except ValueError:
        raise UsageError(f"{where}: line {number} is not JSON") from None


def _parse(raw: bytes, name: str, where: str) -> list[dict[str, Any]]:
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        try:
            return pq.read_table(io.BytesIO(raw)).to_pylist()
        except Exception as exc:
            raise UsageError(f"{where} is not a readable Parquet file: {exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{where} is not UTF-8 text") from None
    if name.endswith(".jsonl"):
        rows = [_json_line(line, number, where) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
        return _records(rows, where)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{where} is not JSON ({exc})") from None
    return _records(data.get("data", data) if isinstance(data, dict) else data, where)


def _records(rows: Any, where: str) -> list[dict[str, Any]]:
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise UsageError(f"{where} does not hold a list of records")
    return rows


def require_fields(records: list[dict[str, Any]], fields: tuple[str, ...], where: str) -> None:
    """Refuse records that lack a field the task reads (a file of another benchmark or version)."""
    for index, record in enumerate(records):
        missing = [f for f in fields if f not in record]
        if missing:
            raise UsageError(f"{where}: record {index} has no {', '.join(missing)}",
                             "is it the original file of this task?")
