"""On-disk cache of generated samples, so a re-run spends milliseconds on data.

Samples are stored as the runner gets them: after the round-trip check of `pieces.canonical`, which
every family's prompts pass through here. Bump FORMAT whenever what a stored sample holds changes.

Key: (format, tokenizer fingerprint, task name, family name + version, parameters, data files' fingerprint,
length, seed, limit). One JSON file per key under `tbench_home()/samples/`; token ids are stored as
base64 little-endian uint32 (compact, fast, and nothing is ever unpickled). Writes are atomic
(temp file + rename), so concurrent runs at worst generate twice.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..resources import tbench_home
from .base import Generate, LogLikelihood, Rolling, Sample, TaskFamily
from .haystack import source_fingerprint
from .pieces import canonical, encoder_for, tokenizer_fingerprint

FORMAT = 2  # 2: prompts are canonical (decode → encode gives the same ids) or flagged in meta


def _ids(values: tuple[int, ...]) -> str:
    return base64.b64encode(np.asarray(values, dtype="<u4").tobytes()).decode("ascii")


def _unids(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in np.frombuffer(base64.b64decode(text), dtype="<u4"))


def _request(r: Any) -> dict[str, Any]:
    if isinstance(r, Generate):
        return {"kind": "generate", "prompt_ids": _ids(r.prompt_ids), "max_new_tokens": r.max_new_tokens,
                "stop": list(r.stop)}
    if isinstance(r, LogLikelihood):
        return {"kind": "loglikelihood", "context_ids": _ids(r.context_ids),
                "continuation_ids": _ids(r.continuation_ids)}
    return {"kind": "rolling", "token_ids": _ids(r.token_ids), "max_length": r.max_length, "stride": r.stride}


def _unrequest(d: dict[str, Any]) -> Any:
    if d["kind"] == "generate":
        return Generate(_unids(d["prompt_ids"]), int(d["max_new_tokens"]), tuple(d["stop"]))
    if d["kind"] == "loglikelihood":
        return LogLikelihood(_unids(d["context_ids"]), _unids(d["continuation_ids"]))
    return Rolling(_unids(d["token_ids"]), d["max_length"], d.get("stride"))


def to_json(s: Sample) -> dict[str, Any]:
    return {"id": s.id, "request": _request(s.request), "reference": s.reference, "prompt": s.prompt,
            "depth": s.depth, "truncated_tokens": s.truncated_tokens, "meta": s.meta}


def from_json(d: dict[str, Any]) -> Sample:
    return Sample(id=d["id"], request=_unrequest(d["request"]), reference=d["reference"], prompt=d["prompt"],
                  depth=d["depth"], truncated_tokens=d["truncated_tokens"], meta=d["meta"])


def cache_key(task_name: str, family: TaskFamily, tokenizer: Any, length: int, seed: int,
              limit: int | None) -> str:
    params = family.params
    data = ""
    for param in ("data_dir", "data_file"):  # data_file: one's own text (perplexity), a file or a folder
        root = Path(str(params[param])).expanduser() if params.get(param) else None
        if root is not None and root.exists():
            # subfolders too: originals keep their files there (wikitext-2-raw/, test/)
            files = [root] if root.is_file() else sorted(f for f in root.rglob("*") if f.is_file())
            data += repr([(str(f.relative_to(root)), f.stat().st_size, f.stat().st_mtime_ns) for f in files])
    blob = json.dumps({
        "format": FORMAT, "tokenizer": tokenizer_fingerprint(tokenizer), "task": task_name,
        "family": f"{type(family).name}@{type(family).version}", "params": params,
        "haystack": source_fingerprint(params), "data": data, "length": length, "seed": seed, "limit": limit,
    }, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


def cached_samples(task_name: str, family: TaskFamily, tokenizer: Any, length: int, seed: int,
                   limit: int | None) -> list[Sample]:
    """The family's samples for this cell, read from the cache or generated and stored."""
    key = cache_key(task_name, family, tokenizer, length, seed, limit)
    path = tbench_home() / "samples" / f"{task_name}-{length}-{key}.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if data.get("format") == FORMAT and data.get("key") == key:
                return [from_json(d) for d in data["samples"]]
        except (OSError, ValueError, KeyError, TypeError):
            pass  # a corrupt or foreign file: regenerate and overwrite
    enc = encoder_for(tokenizer)
    samples = [canonical(s, enc, length) for s in family.samples(tokenizer, length, seed, limit)]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"format": FORMAT, "key": key, "task": task_name, "samples": [to_json(s) for s in samples]},
                      fh, ensure_ascii=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return samples
