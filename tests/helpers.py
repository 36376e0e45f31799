"""Builders for small results tables in the real schema."""

from __future__ import annotations

from toroidal_bench import results


def rows(spec: str, task: str, length: int, metric: str, values, *, error=None, cell="c", prefix="s"):
    return [
        {"run_id": "r", "cell_id": f"{cell}-{spec}-{length}", "model_spec": spec, "spec_hash": "h",
         "model": spec.split("+")[0], "encoding": "x", "task": task, "context_length": length, "depth": None,
         "sample_id": f"{prefix}{i}", "metric": metric, "value": v, "error": error}
        for i, v in enumerate(values)
    ]


def write(path, rs, meta=None):
    results.write_atomic(results.to_table(rs, meta or {"run_id": "r"}), path)
    return path
