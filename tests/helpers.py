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


def save_random_model(path, spec: str = "random:llama-tiny(seed=5)", chat_template: str | None = None):
    """A random model and its tokenizer saved as a local model folder (`local:PATH`), optionally with
    a chat template (set on a fresh copy: the loaded tokenizer is shared by later loads)."""
    from transformers import AutoTokenizer

    from toroidal_bench.models import load

    runner = load(spec, device="cpu")
    runner.model.save_pretrained(path)
    runner.tokenizer.save_pretrained(path)
    if chat_template is not None:
        tokenizer = AutoTokenizer.from_pretrained(path)
        tokenizer.chat_template = chat_template
        tokenizer.save_pretrained(path)
    return path


def cached_runner(cache: dict, spec: str, attn: str | None = None):
    """A CPU runner for `spec`, loaded once per test module (`cache`: the module's fixture dict)."""
    from toroidal_bench.models import load

    if (spec, attn) not in cache:
        cache[spec, attn] = load(spec, device="cpu", attn=attn)
    return cache[spec, attn]
