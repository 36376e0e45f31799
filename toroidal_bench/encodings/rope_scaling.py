"""Frequency-type RoPE baselines, through transformers' own rope parameters (no re-implementation
except dynamic NTK's per-sequence length, below).

Notation: θ_i = b^(−2i/d) over the d rotated dims, L0 the pretraining length, s the factor.

- `linear(factor)` — position interpolation (Chen et al. 2023): θ_i ← θ_i / s.
- `ntk(factor)` — NTK-aware base change (bloc97): b ← b · s^(d/(d−2)); rope type unchanged.
- `dynamic-ntk(factor)` — b ← b · (s·L/L0 − (s−1))^(d/(d−2)) with L the current length, only when
  L > L0 (transformers' "dynamic" frequencies; it recomputes them as the sequence grows, so keys cached
  before the switch were rotated with the old base — as in every implementation of this method). L is
  each sequence's own (models/rotary.py DynamicNTKRotary), not the batch's, so no row's logits depend
  on the others or on earlier batches.
- `yarn(factor, original_max_position_embeddings, beta_fast, beta_slow)` — NTK-by-parts with the
  0.1·ln s + 1 attention temperature (Peng et al. 2023; transformers' "yarn").
- `nope` — no positional signal: cos = 1, sin = 0.

Each sets `config.rope_parameters` and rebuilds the model's rotary module from it; with factor 1
every one of them gives the unpatched model's logits (tested).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import register_encoding
from .base import Encoding
from .limits import MAX_FACTOR, MAX_POSITIONS, check_range


def _rebuild_rotary(model: Any, updates: dict[str, Any], max_positions: int | None = None) -> None:
    from ..models import architecture

    cfg = model.config
    params = dict(cfg.rope_parameters)
    params.update(updates)
    cfg.rope_parameters = params
    if max_positions is not None:
        cfg.max_position_embeddings = max_positions
    rotary = architecture.rotary_module(model)
    architecture.replace_rotary(model, type(rotary)(config=cfg))


def _original_length(model: Any, given: int | None) -> int:
    if given:
        return given
    params = model.config.rope_parameters or {}
    return int(params.get("original_max_position_embeddings") or model.config.max_position_embeddings)


class _Factor(Encoding):
    replaces = frozenset({"rope-scaling"})

    def validate(self) -> None:
        if not self.factor >= 1.0:
            raise ValueError(f"factor must be ≥ 1 (got {self.factor})")
        check_range("factor", self.factor, 1.0, MAX_FACTOR, self.name)
        check_range("original_max_position_embeddings", getattr(self, "original_max_position_embeddings", None),
                    1, MAX_POSITIONS, self.name)

    def context_limit(self, positions: int) -> int | None:
        # a factor s stretches the trained length L0 (given, or the model's own) s-fold
        original = getattr(self, "original_max_position_embeddings", None) or positions
        return int(original * self.factor)


@register_encoding("linear")
@dataclass(frozen=True)
class Linear(_Factor):
    factor: float = 1.0

    def apply(self, model: Any) -> None:
        _rebuild_rotary(model, {"rope_type": "linear", "factor": self.factor})


@register_encoding("ntk")
@dataclass(frozen=True)
class NTK(_Factor):
    factor: float = 1.0

    def apply(self, model: Any) -> None:
        from ..models import architecture

        d = architecture.rotary_dim(model)
        theta = model.config.rope_parameters["rope_theta"] * self.factor ** (d / (d - 2))
        _rebuild_rotary(model, {"rope_theta": theta})


@register_encoding("dynamic-ntk")
@dataclass(frozen=True)
class DynamicNTK(_Factor):
    factor: float = 1.0
    original_max_position_embeddings: int | None = None

    def apply(self, model: Any) -> None:
        from ..models import architecture
        from ..models.rotary import DynamicNTKRotary

        # transformers reads L0 from config.max_position_embeddings for this rope type
        original = _original_length(model, self.original_max_position_embeddings)
        _rebuild_rotary(model, {"rope_type": "dynamic", "factor": self.factor}, max_positions=original)
        # its frequencies, with L per sequence instead of per batch and remembered (see DynamicNTKRotary)
        device = architecture.rotary_module(model).inv_freq.device
        architecture.replace_rotary(model, DynamicNTKRotary(model.config, device))


@register_encoding("yarn")
@dataclass(frozen=True)
class Yarn(_Factor):
    factor: float = 1.0
    original_max_position_embeddings: int | None = None
    beta_fast: float = 32.0
    beta_slow: float = 1.0

    def validate(self) -> None:
        super().validate()
        if not self.beta_fast > self.beta_slow > 0:
            raise ValueError("need beta_fast > beta_slow > 0")
        check_range("beta_fast", self.beta_fast, 0.0, 1e6, self.name)  # betas count rotations over L0

    def apply(self, model: Any) -> None:
        original = _original_length(model, self.original_max_position_embeddings)
        _rebuild_rotary(model, {"rope_type": "yarn", "factor": self.factor, "beta_fast": self.beta_fast,
                                "beta_slow": self.beta_slow, "original_max_position_embeddings": original},
                        max_positions=int(original * self.factor))


@register_encoding("nope")
@dataclass(frozen=True)
class NoPE(Encoding):
    replaces = frozenset({"no-rotary"})

    def context_limit(self, positions: int) -> int | None:
        return None  # no positional signal, so no position the model was not built for

    def apply(self, model: Any) -> None:
        from ..models import architecture

        architecture.disable_rotary(model)
