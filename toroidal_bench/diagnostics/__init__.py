"""Positional-encoding diagnostics behind `tbench diagnose`: collision and spectral analysis of an
encoding's angles (numpy), attention maps and a memory/throughput profile of a patched model (torch,
imported by those modules only), gathered by `report.diagnose` and written by `report.write`.
"""

from .collision import CollisionStats, collision_stats, kernel_curve
from .geometry import Geometry, from_spec
from .report import ANALYSES, Report, diagnose, write
from .spectral import SpectralStats, spectral_stats

__all__ = ["ANALYSES", "CollisionStats", "Geometry", "Report", "SpectralStats", "collision_stats", "diagnose",
           "from_spec", "kernel_curve", "spectral_stats", "write"]
