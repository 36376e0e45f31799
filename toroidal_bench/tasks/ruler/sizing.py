"""How many haystack units a RULER prompt holds: RULER's own search (default) or the most that fit.

`sizing: ruler` follows NVIDIA/RULER's generators (scripts/data/synthetic/*.py @c3f5e3b), so a sample
holds as many needles, words, lines or documents as RULER's `prepare.py` would put in it:

1. one probe sample at `estimate_at` units gives tokens per unit (prompt without the generation
   budget) and from it an upper bound, `factor` × length / tokens-per-unit;
2. a binary search between `incremental` and that bound, each probe a freshly drawn sample, finds
   the largest count whose prompt plus the generation budget fits;
3. per sample: draw at that count; while the prompt does not fit, draw again `incremental` fewer.

fwe searches linearly instead (`linear_search`). Because every probe and every sample is a new
random draw, RULER leaves part of the budget unused; published RULER scores were measured so.

`sizing: fill` puts in, per sample, the largest haystack that fits (the budget used to the last
unit). Where RULER's own search cannot produce a prompt (not even one increment fits: RULER then
retries forever), a RULER-sized cell or sample is filled instead and its meta says `sizing: fill`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ...errors import UsageError

SIZINGS = ("ruler", "fill")
T = TypeVar("T")


def sizing(params: Mapping[str, Any]) -> str:
    """The `sizing` param, validated."""
    value = params.get("sizing", "ruler")
    if value not in SIZINGS:
        raise UsageError(f"unknown RULER sizing '{value}'",
                         "valid: ruler (RULER's own search, the default), fill (the largest haystack that fits)")
    return str(value)


@dataclass(frozen=True)
class Search:
    """One task's search constants, as in its RULER script."""

    incremental: int  # the search's lower bound and the per-sample step down
    estimate_at: int  # units of the probe that estimates tokens per unit
    factor: int = 3  # upper bound = factor × length / tokens per unit
    floor_first: bool = False  # cwe: int(length // per_unit) * factor instead of int(length / per_unit * factor)

    def upper(self, length: int, per_unit: float) -> int:
        bound = int(length // per_unit) * self.factor if self.floor_first else int(length / per_unit * self.factor)
        return max(bound, 2 * self.incremental)


def binary_search(fits: Callable[[int], bool], lower: int, upper: int) -> int | None:
    """RULER's search: the largest n in [lower, upper] for which `fits(n)` held when probed, or None."""
    best = None
    while lower <= upper:
        mid = (lower + upper) // 2
        if fits(mid):
            best, lower = mid, mid + 1
        else:
            upper = mid - 1
    return best


def ruler_count(tokens: Callable[[int], int], length: int, budget: int, rule: Search,
                estimate: Callable[[int], int] | None = None) -> int | None:
    """The haystack count RULER settles on for a cell. `tokens(n)` builds a fresh probe at n units
    and returns its prompt tokens; the prompt fits when it is within `budget`. `estimate` builds the
    first probe where it differs (vt's leaves out the example). None: nothing fits."""
    per_unit = max((estimate or tokens)(rule.estimate_at), 1) / rule.estimate_at
    return binary_search(lambda n: tokens(n) <= budget, rule.incremental, rule.upper(length, per_unit))


def step_down(build: Callable[[int], T], size: Callable[[T], int], start: int, budget: int,
              incremental: int) -> tuple[T, int] | None:
    """RULER's per-sample loop: build at `start`, then `incremental` fewer, until the prompt fits.

    Returns (built, count), or None when the count cannot step lower (RULER steps only while it is
    above `incremental`, then retries the same count forever) and the prompt still does not fit."""
    n = start
    while True:
        built = build(n)
        if size(built) <= budget:
            return built, n
        if n <= incremental:
            return None
        n -= incremental


def linear_search(tokens: Callable[[int], int], start: int, step: int, budget: int) -> int:
    """fwe's search: grow from `start` by `step` while the prompt is under the budget, then back one step."""
    n = start
    while tokens(n) < budget:
        n += step
    return n - step
