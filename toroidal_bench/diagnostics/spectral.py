"""Spectral analysis: which frequencies (turns/token) an encoding puts along the position axis.

Each pair m contributes the complex signal z_m(n) = r(n)·exp(2πi·φ(n, m)); its power spectrum
over N positions (Hann window) is summed over pairs. A stationary rotary is a line spectrum at its
frequencies folded to [0, ½]. Summary numbers: the folded frequency range (longest and shortest
wavelength in tokens), the octaves it spans, the spectral entropy (1 = flat, 0 = one line) and how
many distinct lines carry ≥ 1% of the peak power.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .geometry import Geometry


@dataclass(frozen=True)
class SpectralStats:
    encoding: str
    length: int
    longest_wavelength: float  # tokens, 1 / lowest folded frequency
    shortest_wavelength: float
    octaves: float
    entropy: float
    lines: int

    def row(self) -> dict:
        return asdict(self)


def power_spectrum(geometry: Geometry, length: int) -> tuple[np.ndarray, np.ndarray]:
    """(freqs in turns/token ∈ [0, ½], power) of the encoding over positions 0..length-1."""
    pos = np.arange(length)
    z = geometry.radius(pos)[:, None] * np.exp(2j * np.pi * geometry.phase(pos))  # (N, M)
    window = np.hanning(length)[:, None]
    spec = np.abs(np.fft.fft(z * window, axis=0)) ** 2  # (N, M)
    f = np.fft.fftfreq(length)
    folded = np.abs(f)
    power = np.bincount(np.round(folded * length).astype(int), weights=spec.sum(axis=1))
    return np.arange(len(power)) / length, power


def spectral_stats(geometry: Geometry, length: int) -> tuple[SpectralStats, tuple[np.ndarray, np.ndarray]]:
    freqs, power = power_spectrum(geometry, length)
    p = power / power.sum()
    entropy = float(-(p[p > 0] * np.log(p[p > 0])).sum() / np.log(len(p)))
    peaks = (power[1:-1] > power[:-2]) & (power[1:-1] >= power[2:]) & (power[1:-1] >= 0.01 * power.max())
    eff = geometry.effective_frequencies()
    if eff is None:  # non-stationary: read the range off the spectrum (power ≥ 1% of the peak)
        strong = freqs[power >= 0.01 * power.max()]
        eff = strong[strong > 0] if (strong > 0).any() else np.array([1.0 / length])
    lo, hi = float(eff.min()), float(eff.max())
    stats = SpectralStats(geometry.label, length, 1.0 / lo if lo > 0 else float("inf"),
                          1.0 / hi if hi > 0 else float("inf"),
                          float(np.log2(hi / lo)) if lo > 0 else float("inf"), entropy, int(peaks.sum()))
    return stats, (freqs, power)
