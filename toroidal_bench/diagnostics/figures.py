"""PNG figures of a diagnose Report (matplotlib, the `plots` extra; imported only here, lazily)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from . import collision


def _plt():
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def save_all(report, out: Path) -> list[Path]:
    """Every figure the report has data for; [] when matplotlib is not installed."""
    plt = _plt()
    if plt is None:
        return []
    paths = []
    if "histogram" in report.curves:
        paths.append(_collision(plt, report, out / "collision.png"))
    if "spectrum" in report.curves:
        paths.append(_spectrum(plt, report, out / "spectrum.png"))
    if "attention" in report.curves:
        paths.append(_attention(plt, report, out / "attention.png"))
    if "streaming" in report.sections:
        paths.append(_profile(plt, report, out / "profile.png"))
    return paths


def _labels(report) -> list[str]:
    return list(report.curves["kernel"].keys())


def _envelope(k: np.ndarray, bins: int = 60) -> tuple[np.ndarray, np.ndarray]:
    """max K(Δ) over log-spaced bins of Δ ≥ 1: how close to Δ = 0 positions at about that distance get."""
    edges = np.unique(np.geomspace(1, len(k), bins).astype(int))
    x = edges[:-1]
    y = np.array([k[a:b].max() for a, b in zip(edges[:-1], edges[1:], strict=True)])
    return x, y


def _collision(plt, report, path: Path) -> Path:
    n = max(report.lengths)
    labels = _labels(report)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5.5))
    edges = collision.BINS[1:]
    for label in labels:
        hist = report.curves["histogram"][(label, n)]
        cdf = np.cumsum(hist) / max(hist.sum(), 1)
        ax1.semilogy(edges, np.maximum(cdf, 1e-12), label=label, lw=1.3)
        x, y = _envelope(report.curves["kernel"][label])
        ax2.semilogx(x, y, lw=1.3, label=label)
    ax1.set(xlabel="normalised distance d = ‖e_n − e_n'‖/√M", ylabel="fraction of pairs closer than d",
            title=f"pairwise distances (CDF), N = {n}", ylim=(1e-9, 1.5))
    ax2.set(xlabel="Δ = n − n' (tokens)", ylabel="max K over the bin",
            title="kernel envelope: 1 = some position that far looks like Δ = 0")
    ax1.legend(fontsize=7, loc="lower right")
    ax2.axhline(1.0, color="k", lw=0.5)
    fig.suptitle(f"collision analysis, rot_dim = {report.rot_dim}, base = {report.base:g}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _spectrum(plt, report, path: Path) -> Path:
    n = max(report.lengths)
    labels = _labels(report)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 5.5), gridspec_kw={"width_ratios": [3, 2]})
    for row, label in enumerate(labels):
        f, p = report.curves["spectrum"][(label, n)]
        peaks = (p[1:-1] > p[:-2]) & (p[1:-1] >= p[2:]) & (p[1:-1] >= 0.01 * p.max())
        ax1.scatter(f[1:-1][peaks], np.full(int(peaks.sum()), row), s=9, marker="|")
    ax1.set_yticks(range(len(labels)), labels, fontsize=7)
    ax1.set(xscale="log", xlabel="frequency (turns/token, folded to [0, ½])",
            title=f"spectral lines (≥ 1% of peak power), N = {min(n, 1 << 16)}")
    ax1.invert_yaxis()
    for label in labels[:2]:  # the diagnosed encoding and the first reference
        f, p = report.curves["spectrum"][(label, n)]
        ax2.loglog(f[1:], p[1:] / p.max(), lw=0.7, label=label)
    ax2.set(xlabel="frequency (turns/token)", ylabel="power / max", title="power spectrum", ylim=(1e-8, 2))
    ax2.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _attention(plt, report, path: Path) -> Path:
    maps = report.curves["attention"][:4]
    heads = min(4, maps[0].shape[0])
    fig, axes = plt.subplots(len(maps), heads, figsize=(3 * heads, 3 * len(maps)), squeeze=False)
    for layer, w in enumerate(maps):
        for h in range(heads):
            ax = axes[layer][h]
            # log scale: weights span orders of magnitude (row 0 is 1, long rows ~1/N)
            ax.imshow(np.log10(w[h] + 1e-4), cmap="viridis", aspect="auto", interpolation="nearest", vmin=-4, vmax=0)
            extra = " (+slot)" if w.shape[-1] > w.shape[1] else ""
            ax.set_title(f"layer {layer} head {h}{extra}", fontsize=8)
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"attention (log10 weight), {report.model}+{report.encoding}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _profile(plt, report, path: Path) -> Path:
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    stream = report.sections["streaming"]
    for window in sorted({r["window"] for r in stream}, key=lambda w: -1 if w is None else w):
        rows = [r for r in stream if r["window"] == window]
        name = "full KV cache" if window is None else f"window {window} + attractor state"
        ax1.plot([r["step"] for r in rows], [r["total"] / 1024 for r in rows], marker=".", label=name)
    ax1.set(xlabel="tokens streamed", ylabel="carried state (KiB)", title="streaming memory")
    ax1.legend(fontsize=8)
    pre = [r for r in report.sections.get("profile", []) if r["kind"] == "prefill"]
    if pre:
        ax2.plot([r["length"] for r in pre], [r["tokens_per_s"] for r in pre], marker="o")
        ax2.set(xscale="log", xlabel="prompt length", ylabel="tokens/s", title=f"prefill ({pre[0]['device']})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
