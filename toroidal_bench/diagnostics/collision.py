"""Collision analysis: how close do the encodings of two different positions come?

For unit pairs, ‖e_n − e_n'‖² = 2M − 2·Σ_m cos 2π(φ(n, m) − φ(n', m)). We report the normalised
distance d = ‖e_n − e_n'‖/√M ∈ [0, 2] and the normalised kernel K = e_n·e_n'/M = 1 − d²/2 (the q·k
of a constant query/key pair). For a stationary encoding (π-Spiral, RoPE) both depend only on
Δ = n − n', so all N(N−1)/2 pairs reduce to N − 1 distances weighted by N − Δ: exact for any N in
O(N·M). Non-stationary encodings (hybrid, radius) are measured over every pair in blocks (exact up
to `max_pairs_n` positions, else over a seeded sample of that many positions, flagged `sampled`).

Numbers per encoding and N: min_distance (and the Δ where it occurs), adjacent (d at Δ = 1),
min_far (the minimum over Δ ≥ far), p01/p50 of the pair distribution, near_collisions (pairs with
d < eps) and max_far_kernel (how much a distant position looks like the query's own).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .geometry import Geometry

BINS = np.linspace(0.0, 2.0, 201)


@dataclass(frozen=True)
class CollisionStats:
    encoding: str
    length: int
    n_pairs: int
    method: str  # exact-delta | exact-pairs | sampled
    min_distance: float
    min_at_delta: int
    adjacent: float
    far: int
    min_far: float
    p01: float
    p50: float
    near_collisions: int
    eps: float
    max_far_kernel: float

    def row(self) -> dict:
        return asdict(self)


def delta_distances(geometry: Geometry, length: int) -> np.ndarray:
    """(length,) normalised distance d(Δ), Δ = 0..length-1, of a stationary encoding (exact phases)."""
    out = np.empty(length)
    block = 1 << 16
    for start in range(0, length, block):
        delta = np.arange(start, min(start + block, length))
        k = np.cos(2 * np.pi * geometry.phase(delta)).mean(axis=1)  # (Δ,) normalised kernel
        out[start:start + len(delta)] = np.sqrt(np.maximum(2.0 - 2.0 * k, 0.0))
    return out


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, q: float) -> float:
    order = np.argsort(values)
    cum = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cum, q * cum[-1])])


def collision_stats(geometry: Geometry, length: int, far: int = 128, eps: float = 0.05,
                    max_pairs_n: int = 8192, seed: int = 0) -> tuple[CollisionStats, np.ndarray]:
    """Stats and the (200,) histogram of pairwise distances (pair counts per bin of BINS)."""
    if length < 2:
        raise ValueError("collision analysis needs at least 2 positions")
    far = min(far, length - 1)
    if geometry.stationary:
        d = delta_distances(geometry, length)[1:]  # Δ = 1..N-1
        w = (length - np.arange(1, length)).astype(np.float64)  # pairs at each Δ
        hist = np.histogram(d, bins=BINS, weights=w)[0]
        i = int(np.argmin(d))
        stats = CollisionStats(
            geometry.label, length, geometry.n_pairs, "exact-delta", float(d[i]), i + 1, float(d[0]), far,
            float(d[far - 1:].min()), _weighted_quantile(d, w, 0.01), _weighted_quantile(d, w, 0.5),
            int(w[d < eps].sum()), eps, float(1 - d[far - 1:].min() ** 2 / 2))
        return stats, hist
    return _pairwise(geometry, length, far, eps, max_pairs_n, seed)


def _pairwise(geometry: Geometry, length: int, far: int, eps: float, max_n: int, seed: int):
    method = "exact-pairs" if length <= max_n else "sampled"
    if method == "exact-pairs":
        pos = np.arange(length)
    else:
        pos = np.sort(np.random.Generator(np.random.PCG64(seed)).choice(length, size=max_n, replace=False))
    e = geometry.vectors(pos) / np.sqrt(geometry.n_pairs)  # (n, 2M)
    sq = (e * e).sum(axis=1)
    hist = np.zeros(len(BINS) - 1)
    best, best_at, best_far, adjacent, near = np.inf, 0, np.inf, np.inf, 0
    sample = []
    for start in range(0, len(pos), 1024):
        rows = slice(start, min(start + 1024, len(pos)))
        d = np.sqrt(np.maximum(sq[rows, None] + sq[None, :] - 2 * e[rows] @ e.T, 0.0))  # (r, n)
        delta = pos[rows, None] - pos[None, :]
        d = np.where(delta > 0, d, np.inf)  # each pair once
        vals = d[np.isfinite(d)]
        hist += np.histogram(vals, bins=BINS)[0]
        near += int((vals < eps).sum())
        sample.append(vals[:: max(1, vals.size // 4096)])
        if vals.size and vals.min() < best:
            r, c = np.unravel_index(int(np.argmin(d)), d.shape)
            best, best_at = float(d[r, c]), int(delta[r, c])
        best_far = min(best_far, float(np.where(delta >= far, d, np.inf).min()))
        adjacent = min(adjacent, float(np.where(delta == 1, d, np.inf).min()))
    sample = np.concatenate(sample)
    stats = CollisionStats(
        geometry.label, length, geometry.n_pairs, method, best, best_at,
        adjacent if np.isfinite(adjacent) else float("nan"), far, best_far,
        float(np.quantile(sample, 0.01)), float(np.quantile(sample, 0.5)), near, eps, float(1 - best_far**2 / 2))
    return stats, hist


def kernel_curve(geometry: Geometry, length: int) -> np.ndarray:
    """(length,) normalised kernel K(Δ) for Δ = 0..length-1; non-stationary: anchored at the last position."""
    if geometry.stationary:
        return 1.0 - delta_distances(geometry, length) ** 2 / 2
    pos = np.arange(length)
    e = geometry.vectors(pos) / np.sqrt(geometry.n_pairs)
    anchor = e[-1]
    return (e[::-1] @ anchor) / max(float(anchor @ anchor), 1e-30)
