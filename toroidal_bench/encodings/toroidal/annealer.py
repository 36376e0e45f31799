"""`DepthAnnealer`: the depth-selection temperature as a function of the training step.

A high temperature keeps the depth mixture soft (every candidate gets gradient); lowering it over
training sharpens the mixture towards the depth that inference will pick (the argmax), so the
trained and the deployed function meet. Schedules from `start` to `end` over `steps`, then `end`:
linear, exponential (geometric: equal ratios per step) or cosine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

SCHEDULES = ("linear", "exponential", "cosine")


@dataclass(frozen=True)
class DepthAnnealer:
    start: float = 5.0
    end: float = 0.5
    steps: int = 10_000
    schedule: str = "exponential"

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; choose one of {', '.join(SCHEDULES)}")
        if not (self.start > 0 and self.end > 0 and self.steps >= 1):
            raise ValueError("temperatures must be > 0 and steps ≥ 1")

    def temperature(self, step: int) -> float:
        t = min(1.0, max(0, step) / self.steps)
        if self.schedule == "linear":
            return self.start + (self.end - self.start) * t
        if self.schedule == "exponential":
            return self.start * (self.end / self.start) ** t
        return self.end + 0.5 * (self.start - self.end) * (1 + math.cos(math.pi * t))

    def apply(self, model: Any, step: int) -> int:
        """Set the temperature of every adaptive-depth module in `model` for `step`; returns how many.
        Stateless (a function of the step), so a resumed run anneals exactly as an uninterrupted one."""
        from .adaptive import AdaptiveToroidalAttention

        value, count = self.temperature(step), 0
        for module in model.modules():
            if isinstance(module, AdaptiveToroidalAttention):
                module.temperature = value
                count += 1
        return count
