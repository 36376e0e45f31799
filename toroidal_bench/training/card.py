"""Model cards: `DIR/README.md` for a trained tbench model directory, filled from what was recorded.

The card states the recipe, spec, data, training length, parameter count, size on disk, device,
processes and training time (from `tbench_model.json` and `train_log.parquet`), and a table of
measured scores read from tbench results files: each (task, metric) by context length, aggregated as
`tbench compare` does, for the rows whose `model_spec` is this model. Any metric the results hold is shown — accuracy,
perplexity, bits per byte — so the card takes new families' numbers without change. Without results
the scores section says that none were measured; the card never holds a number nobody measured.

    python -m toroidal_bench.training.card ref/rope --spec ref:rope --results results/ref.parquet
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from ..models.saved import MANIFEST


def scores_table(results: list[Path], spec: str) -> str | None:
    """Markdown: one row per (task, metric), one column per context length; None without rows. Each
    metric is aggregated as declared (metrics.py; compare's numbers): perplexity from the summed NLL
    over the summed tokens, never as a mean of per-document perplexities."""
    from ..compare import compare

    table = compare(list(results))
    table = table[(table.model_spec == spec) & table.position.isna()]
    if not len(table):
        return None
    wide = table.pivot_table(index=["task", "metric"], columns="context_length", values="value", aggfunc="first")
    wide.columns = [f"{c:,}" for c in wide.columns]
    return wide.reset_index().to_markdown(index=False, floatfmt=".3f")


def render(folder: Path, spec: str, results: list[Path]) -> str:
    meta: dict[str, Any] = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    size = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
    recipe = meta.get("name") or "—"
    train_s = meta.get("train_s")
    scores = scores_table(results, spec) if results else None
    lines = [
        f"# {spec}",
        "",
        f"- spec: `{meta.get('spec')}`",
        f"- recipe: `ref/recipes/{recipe}.yaml` — reproduce with "
        f"`tbench train --recipe ref/recipes/{recipe}.yaml --out {folder}`" if meta.get("name") else "- recipe: —",
        f"- data: `{meta.get('data')}` (Shakespeare = the training split of docs/training.md)",
        f"- training length: {meta.get('train_length')} tokens; {meta.get('steps')} steps, "
        f"{meta.get('tokens', 0):,} tokens seen",
        f"- parameters: {meta.get('parameters', 0):,}; size on disk: {size / 1e6:.2f} MB (safetensors)",
        f"- trained on: {meta.get('device')} × {meta.get('processes')}, precision {meta.get('precision')}, "
        f"{train_s / 60:.1f} min" if train_s is not None else "- trained on: —",
        "",
        "## Measured scores",
        "",
        scores or "None measured yet: run tbench on this model and pass the results with --results.",
        "",
    ]
    return "\n".join(lines)


def write_card(folder: Path, spec: str | None = None, results: list[Path] | None = None) -> Path:
    folder = Path(folder)
    path = folder / "README.md"
    path.write_text(render(folder, spec or f"local:{folder}", list(results or [])), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Write README.md (the model card) of a trained tbench model.")
    parser.add_argument("folder", type=Path)
    parser.add_argument("--spec", help="the model_spec the results use (default local:FOLDER), e.g. ref:rope")
    parser.add_argument("--results", type=Path, nargs="*", default=[], help="tbench results files (.parquet)")
    args = parser.parse_args(argv)
    print(write_card(args.folder, args.spec, args.results))


if __name__ == "__main__":
    main()
