"""The report's figures, each saved as PNG and SVG (matplotlib on the Agg backend, the `plots` extra;
imported only here, lazily)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import UsageError
from ..metrics import metric

DPI = 110
_DASHES = ["-", "--", ":", "-."]  # a spec's context lengths, shortest first


@dataclass(frozen=True)
class Figure:
    """One figure on disk: `stem`.png and `stem`.svg in the report directory."""

    stem: str
    title: str
    caption: str

    @property
    def png(self) -> str:
        return f"{self.stem}.png"

    @property
    def svg(self) -> str:
        return f"{self.stem}.svg"


def pyplot():
    """matplotlib.pyplot on the Agg backend; a one-line UsageError naming the extra when missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("tbench report draws its figures with matplotlib, which is not installed",
                         "pip install 'toroidal-bench[plots]'") from None
    return plt


def slug(*parts: str) -> str:
    """A file-name-safe stem from task and spec names ('random:llama-tiny+alibi' → 'random-llama-tiny-alibi')."""
    text = "-".join(parts)
    return re.sub(r"[^A-Za-z0-9_.]+", "-", text).strip("-.") or "figure"


def _save(fig, out: Path, stem: str) -> None:
    fig.savefig(out / f"{stem}.png", dpi=DPI, metadata={"Software": None})
    fig.savefig(out / f"{stem}.svg", metadata={"Date": None})  # no date: the same data, the same file


def _length_label(n: int) -> str:
    return f"{n // 1024}k" if n >= 1024 and n % 1024 == 0 else str(n)


def _scale(name: str, values) -> tuple[float, float]:
    """Colour limits of a score: 0–100 for the metrics reported in percent, else 0–1."""
    top = np.nanmax(np.asarray(values, dtype=float)) if np.size(values) else 1.0
    return (0.0, 100.0) if top > 1.0 else (0.0, 1.0)


def heatmap(plt, out: Path, task: str, spec: str, name: str, grid: pd.DataFrame) -> Figure:
    """The NIAH figure: x context length, y needle depth (0% = start of the context, at the top),
    colour the score, red (0) through yellow to green (best); a cell without samples is grey."""
    values = grid.to_numpy(dtype=float)
    vmin, vmax = _scale(name, values)
    cmap = plt.get_cmap("RdYlGn").with_extremes(bad="#d9d9d9")
    rows, cols = values.shape
    fig, ax = plt.subplots(figsize=(max(4.2, 0.6 * cols + 2.6), max(3.0, 0.25 * rows + 1.8)))
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto",
                      interpolation="nearest")
    ax.set_xticks(range(cols), [_length_label(int(c)) for c in grid.columns])
    step = max(1, rows // 15)  # at most ~15 depth labels
    ax.set_yticks(range(0, rows, step), [f"{d:g}" for d in grid.index[::step]])
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("needle depth (%)")
    ax.set_title(f"{task} · {spec}", fontsize=10)
    if rows * cols <= 150:  # the value in each cell while it stays legible
        for (i, j), v in np.ndenumerate(values):
            if not np.isnan(v):
                ax.text(j, i, f"{v:.2g}", ha="center", va="center", fontsize=7)
    fig.colorbar(image, ax=ax, label=name)
    fig.tight_layout()
    stem = slug("heatmap", task, spec)
    _save(fig, out, stem)
    plt.close(fig)
    return Figure(stem, f"{task} · {spec}",
                  f"{name} by needle depth and context length, mean over the samples in each cell")


def colours(plt, series: list[str]) -> dict[str, str]:
    """One colour per series, the same in every figure."""
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {s: cycle[i % len(cycle)] for i, s in enumerate(series)}


def score_vs_length(plt, out: Path, task: str, name: str, curve: pd.DataFrame, colour: dict[str, str]) -> Figure:
    """One line per model spec, with its 95% bootstrap band; x context length on a log₂ axis."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for spec, line in curve.groupby("series", sort=False):
        line = line.sort_values("context_length")
        (drawn,) = ax.plot(line["context_length"], line["value"], marker="o", label=spec, color=colour[spec])
        band = line.dropna(subset=["low", "high"])
        if not band.empty:
            ax.fill_between(band["context_length"], band["low"], band["high"], color=drawn.get_color(),
                            alpha=0.18, linewidth=0)
    lengths = sorted(curve["context_length"].unique())
    ax.set_xscale("log", base=2)
    ax.set_xticks(lengths, [_length_label(int(n)) for n in lengths])
    ax.minorticks_off()
    better = {"higher": " (higher is better)", "lower": " (lower is better)"}.get(metric(name).better or "", "")
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel(name + better)
    ax.set_title(task, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    stem = slug("score", task)
    _save(fig, out, stem)
    plt.close(fig)
    return Figure(stem, task, f"{name} against context length, one line per model spec; the band is the 95% "
                              "bootstrap CI over samples")


def nll_vs_position(plt, out: Path, task: str, name: str, curve: pd.DataFrame, colour: dict[str, str]) -> Figure:
    """One line per (model spec, context length): the metric in each position bucket, at the
    bucket's geometric middle on a log x axis; a spec's lengths share its colour, darker when longer,
    each with its own dash."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for spec, lines in curve.groupby("series", sort=False):
        lengths = sorted(lines["context_length"].unique())
        for j, length in enumerate(lengths):
            line = lines[lines["context_length"] == length].sort_values("position")
            alpha = 0.45 + 0.55 * (j + 1) / len(lengths)
            ax.plot(line["mid"], line["value"], marker=".", color=colour[spec], alpha=alpha,
                    linestyle=_DASHES[j % len(_DASHES)],
                    label=f"{spec} @ {_length_label(int(length))}")
    ax.set_xscale("log")
    ax.set_xlabel("token position")
    ax.set_ylabel(name + (" (nats)" if name.startswith("nll") else ""))
    ax.set_title(task, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    fig.tight_layout()
    stem = slug("position", task)
    _save(fig, out, stem)
    plt.close(fig)
    return Figure(stem, task, f"{name} by token position (Σ nll ÷ Σ tokens of the samples in each bucket), "
                              "one line per model spec and context length")
