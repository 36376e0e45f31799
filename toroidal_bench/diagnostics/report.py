"""`tbench diagnose` as a library call: run the analyses, keep the numbers, write JSON/Parquet/PNG.

`diagnose(...)` returns a `Report`: flat rows per analysis (what the CLI tables show and what the
files hold). `write(report, out)` writes `diagnose.json`, `diagnose.parquet` (long format: one row
per analysis × encoding × length × metric) and, when matplotlib is installed (the `plots` extra),
one PNG per analysis. Nothing here needs matplotlib.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError
from . import collision, geometry, spectral

ANALYSES = ("collision", "spectral", "toroidal", "attention", "profile")
SCHEMA_VERSION = 1


@dataclass
class Report:
    encoding: str
    model: str
    lengths: list[int]
    rot_dim: int
    base: float
    sections: dict[str, list[dict]] = field(default_factory=dict)
    #: arrays for the figures, not written to the tables: name → payload
    curves: dict[str, Any] = field(default_factory=dict)
    #: what was not analysed and why, one line each (shown by the CLI, kept in diagnose.json)
    notes: list[str] = field(default_factory=list)

    def long_rows(self) -> list[dict]:
        rows = []
        for section, items in self.sections.items():
            for item in items:
                keys = {k: item[k] for k in ("encoding", "length", "layer", "head", "kind", "step", "window",
                                             "delta", "depth_offset")
                        if k in item}
                for metric, value in item.items():
                    if metric in keys or not isinstance(value, (int, float)) or isinstance(value, bool):
                        continue
                    rows.append({"analysis": section, "encoding": str(keys.get("encoding", self.encoding)),
                                 "length": int(keys.get("length", keys.get("step", 0)) or 0),
                                 "layer": keys.get("layer"), "head": keys.get("head"),
                                 "kind": keys.get("kind"), "metric": metric, "value": float(value)})
        return rows


def diagnose(encoding: str, lengths: list[int], model: str = "random:llama-tiny",
             analyses: tuple[str, ...] = ANALYSES, compare: bool = True, rot_dim: int | None = None,
             base: float | None = None, text: str | None = None, stream_tokens: int = 256,
             window: int = 64, device: str | None = None) -> Report:
    unknown = set(analyses) - set(ANALYSES)
    if unknown:
        raise UsageError(f"unknown analysis '{sorted(unknown)[0]}'", f"choose from {', '.join(ANALYSES)}")
    if not lengths or any(n < 2 for n in lengths):
        raise UsageError("every --length must be ≥ 2")
    runner = None
    toroidal = _toroidal_encodings(encoding)
    needs_model = ({"attention", "profile"} & set(analyses) or rot_dim is None or base is None
                   or (toroidal and "toroidal" in analyses))
    if needs_model:
        import toroidal_bench as tb

        runner = tb.load(f"{model}+{encoding.lstrip('+')}" if encoding.strip("+ ") not in ("", "rope") else model,
                         device=device)
        from ..models import architecture

        rot_dim = rot_dim or architecture.rotary_dim(runner.model)
        base = base or float(runner.model.config.rope_parameters.get("rope_theta", 10000.0))
    report = Report(encoding, model, list(lengths), int(rot_dim), float(base))
    if toroidal and ({"collision", "spectral"} & set(analyses)):
        report.notes.append("collision, spectral: not run — toroidal attention is a distance bias over "
                            "platters, not a rotary encoding (see the toroidal table)")
    elif "collision" in analyses or "spectral" in analyses:
        _pe_analyses(report, analyses, compare)
    if "toroidal" in analyses:
        if toroidal:
            _toroidal(report, toroidal, runner)
        elif tuple(analyses) != ANALYSES:  # asked for by name
            report.notes.append("toroidal: not run — the spec has no toroidal encoding")
    if "attention" in analyses:
        _attention(report, runner, text)
    if "profile" in analyses:
        _profile(report, runner, stream_tokens, window)
    return report


def _pe_analyses(report: Report, analyses, compare: bool) -> None:
    top = max(report.lengths)
    specs = [report.encoding] + ([s for s in geometry.standard_set(report.rot_dim, report.base, top)]
                                 if compare else [])
    seen: dict[str, geometry.Geometry] = {}
    for s in specs:
        try:
            g = geometry.from_spec(s, report.rot_dim, report.base)
        except UsageError:
            if s == report.encoding:
                raise
            continue
        seen.setdefault(g.label, g)
    for g in seen.values():
        for n in report.lengths:
            if "collision" in analyses:
                stats, hist = collision.collision_stats(g, n)
                report.sections.setdefault("collision", []).append(stats.row())
                report.curves.setdefault("histogram", {})[(g.label, n)] = hist
            if "spectral" in analyses:
                stats, (f, p) = spectral.spectral_stats(g, min(n, 1 << 16))
                report.sections.setdefault("spectral", []).append(stats.row())
                report.curves.setdefault("spectrum", {})[(g.label, n)] = (f, p)
        report.curves.setdefault("kernel", {})[g.label] = collision.kernel_curve(g, min(top, 1 << 16))


def _toroidal_encodings(encoding: str) -> list:
    from ..encodings import resolve_encoding
    from ..specs import parse_spec

    text = encoding.strip().lstrip("+")
    if not text or text == "rope" or text.startswith("public-single"):
        return []
    return [resolve_encoding(ref) for ref in parse_spec("random:x+" + text).encodings if ref.name == "toroidal"]


def _toroidal(report: Report, encodings: list, runner) -> None:
    from . import toroidal_bias

    default_period = int(runner.model.config.max_position_embeddings)
    rows = []
    for enc in encodings:
        rows += toroidal_bias.bias_rows(enc.canonical(), enc.depth, enc.lambda_, enc.period or default_period,
                                        max(report.lengths))
    report.sections["toroidal"] = rows


def _attention(report: Report, runner, text: str | None) -> None:
    import torch

    from . import attention_maps

    text = text or "The quick brown fox jumps over the lazy dog. " * 2
    ids = torch.tensor([runner.tokenizer(text)["input_ids"][: min(max(report.lengths), 256)]])
    maps = attention_maps.attention_maps(runner.model, ids)
    report.sections["attention"] = [r.row() for r in attention_maps.head_stats(maps)]
    report.curves["attention"] = maps


def _profile(report: Report, runner, stream_tokens: int, window: int) -> None:
    from . import profile

    rows = [r.row() for r in profile.prefill_profile(runner.model, report.lengths)]
    rows.append(profile.decode_profile(runner.model, min(report.lengths), 32).row())
    report.sections["profile"] = rows
    stream = []
    for w in (None, window):
        stream += [p.row() for p in profile.streaming_memory(runner.model, stream_tokens, w,
                                                             every=max(1, stream_tokens // 32))]
    report.sections["streaming"] = stream


# -- files ---------------------------------------------------------------------------------------

def _clean(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write(report: Report, out: str | Path, figures: bool = True) -> list[Path]:
    """diagnose.json, diagnose.parquet and the PNG figures under `out`; returns the paths written."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output directory '{out}': {exc.strerror}") from None
    meta = {"schema_version": SCHEMA_VERSION, "encoding": report.encoding, "model": report.model,
            "lengths": report.lengths, "rot_dim": report.rot_dim, "base": report.base, "notes": report.notes}
    sections = {k: [{kk: _clean(vv) for kk, vv in r.items()} for r in v] for k, v in report.sections.items()}
    paths = [out / "diagnose.json", out / "diagnose.parquet"]
    paths[0].write_text(json.dumps({**meta, "sections": sections}, indent=1))
    import pandas as pd

    frame = pd.DataFrame(report.long_rows(), columns=["analysis", "encoding", "length", "layer", "head", "kind",
                                                      "metric", "value"])
    frame["layer"] = frame["layer"].astype("Int64")
    frame["head"] = frame["head"].astype("Int64")
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           b"tbench.diagnose": json.dumps(meta).encode()})
    pq.write_table(table, paths[1])
    if figures:
        from . import figures as fig

        paths += fig.save_all(report, out)
    return paths


def as_arrays(report: Report) -> dict[str, np.ndarray]:
    """The figure payloads, for tests and notebooks."""
    return dict(report.curves)
