"""The π-Spiral family as tbench encodings: `pi-spiral`, `hybrid`, `attractor` (no torch at import).

    +pi-spiral(const=pi)                          θ(n, m) = 2π·frac(n·a_m) on every layer
    +pi-spiral(const=e,layers=0..3)               … only at layers 0-3 (the others keep RoPE)
    +hybrid(switch=4096,width=512,const=phi)      RoPE below 4096 − 256, π-Spiral past 4096 + 256
    +attractor(alpha=exp:1.0,layers=12,inject=kv) an exponential summary slot in layer 12's attention

Formulas and design choices: docs/pi_spiral.md.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from ...errors import SpecError
from .. import register_encoding
from ..base import Encoding
from ..limits import MAX_LAYERS, MAX_POSITIONS, MAX_SEED, check_range

Constant = Literal["pi", "e", "sqrt2", "phi", "prng"]


def _check_layers(layers: tuple[int, ...] | None) -> None:
    if layers is None:
        return
    if not layers:
        raise SpecError("layers must name at least one layer")
    if any(i < 0 for i in layers):
        raise SpecError(f"layers must be ≥ 0, got {layers}")
    check_range("layers", max(layers), 0, MAX_LAYERS - 1, "layers")


@register_encoding("pi-spiral")
@dataclass(frozen=True)
class PiSpiral(Encoding):
    """π-Spiral rotary: pair m turns by a_m turns/token, a_m derived from an irrational constant.

    spread=log puts pair m in slot m of RoPE's log ladder, at b^(−(m + frac(c·(m+1)))/M)/2π;
    spread=flat uses frac(c·(m+1)) turns/token itself. const=prng draws the offsets from a seeded
    generator instead (the control for "does irrationality matter"). base defaults to the model's
    rope_theta. radius=log scales cos/sin by √max(1, ln(n+1)/ln(radius_start)).
    """

    const: Constant = "pi"
    spread: Literal["log", "flat"] = "log"
    seed: int = 0
    base: float | None = None
    layers: tuple[int, ...] | None = None
    radius: Literal["none", "log"] = "none"
    radius_start: int = 4096

    replaces = frozenset({"rotary"})

    def validate(self) -> None:
        if self.seed and self.const != "prng":
            raise SpecError("seed only applies to const=prng")
        if self.base is not None and self.base <= 1:
            raise SpecError(f"base must be > 1, got {self.base}")
        if self.radius_start < 2:
            raise SpecError(f"radius_start must be ≥ 2, got {self.radius_start}")
        check_range("seed", self.seed, 0, MAX_SEED, self.name)
        check_range("radius_start", self.radius_start, 2, MAX_POSITIONS, self.name)
        _check_layers(self.layers)

    def frequencies(self, n_pairs: int, base: float):
        from . import phases

        return phases.spiral_frequencies(self.const, n_pairs, self.spread, self.base or base, self.seed)

    def _rotary(self, model: Any):
        from ...models import architecture
        from .rotary import PiSpiralRotary

        native = architecture.rotary_module(model)
        freqs = self.frequencies(architecture.rotary_dim(model) // 2, _rope_theta(model))
        return PiSpiralRotary(freqs, getattr(native, "attention_scaling", 1.0), self._radius_start())

    def _radius_start(self) -> int | None:
        return self.radius_start if self.radius == "log" else None

    def apply(self, model: Any) -> None:
        from .inject import current_rotary_is_native, install_rotary

        if not current_rotary_is_native(model):
            raise _replaced(self.name)
        install_rotary(model, self._rotary(model), self.layers, self.name)


@register_encoding("hybrid")
@dataclass(frozen=True)
class Hybrid(PiSpiral):
    """RoPE below `switch`, π-Spiral above; each pair's frequency glides between the two across `width`
    positions (C² smootherstep), the angle being the running sum of the frequency."""

    switch: int = 4096
    width: int = 512

    def validate(self) -> None:
        super().validate()
        if self.width < 1:
            raise SpecError(f"width must be ≥ 1, got {self.width}")
        check_range("width", self.width, 1, MAX_POSITIONS, self.name)
        check_range("switch", self.switch, 0, MAX_POSITIONS, self.name)
        if self.switch < self.width // 2:
            raise SpecError(f"switch ({self.switch}) must be ≥ width/2 ({self.width // 2}) so that "
                             "position 0 is still RoPE; use pi-spiral for π-Spiral from the start")

    def _rotary(self, model: Any):
        from ...models import architecture
        from .rotary import HybridRotary

        native = architecture.rotary_module(model)
        rope_type = getattr(native, "rope_type", "default")
        if "dynamic" in rope_type or "longrope" in rope_type:
            raise SpecError(f"hybrid needs fixed RoPE frequencies; this model uses rope_type={rope_type!r}",
                            "use pi-spiral, or a checkpoint with static RoPE")
        freqs = self.frequencies(architecture.rotary_dim(model) // 2, _rope_theta(model))
        return HybridRotary(native, freqs, self.switch, self.width, self._radius_start())


@register_encoding("attractor")
@dataclass(frozen=True)
class Attractor(Encoding):
    """A causal exponential summary s_t of a layer's inputs, as an extra attention slot (inject=kv)
    or mixed into the hidden states (inject=residual, h ← h + gate·(s − h)).

    alpha: fixed:<a> (α = a), exp:<c> (α = exp(−c/horizon)), or learned (trainable, starts at
    exp:1.0). horizon defaults to the model's max_position_embeddings — a constant, never the
    current length, so prefill and decoding agree.
    """

    alpha: str = "exp:1.0"
    layers: tuple[int, ...] | None = None
    inject: Literal["kv", "residual"] = "kv"
    horizon: int | None = None
    gate: float = 0.1

    def __post_init__(self) -> None:
        object.__setattr__(self, "alpha", _normal_alpha(self.alpha))

    def roles(self) -> frozenset[str]:
        # inject=kv adds a key/value slot through its own attention function; residual leaves attention be
        return frozenset({"attention"}) if self.inject == "kv" else frozenset()

    def validate(self) -> None:
        _check_layers(self.layers)
        if self.horizon is not None and self.horizon < 1:
            raise SpecError(f"horizon must be ≥ 1, got {self.horizon}")
        check_range("horizon", self.horizon, 1, MAX_POSITIONS, self.name)
        if self.inject == "kv" and self.gate != 0.1:
            raise SpecError("gate only applies to inject=residual")
        if not 0.0 <= self.gate <= 1.0:
            raise SpecError(f"gate must lie in [0, 1], got {self.gate}")

    def alpha_value(self, horizon: int) -> float:
        kind, _, value = self.alpha.partition(":")
        if kind == "fixed":
            return float(value)
        c = 1.0 if kind == "learned" else float(value)
        return math.exp(-c / horizon)

    def apply(self, model: Any) -> None:
        from .inject import install_attractor

        horizon = self.horizon or int(getattr(model.config, "max_position_embeddings", 4096))
        install_attractor(model, self.layers, self.inject, self.alpha_value(horizon),
                          self.alpha == "learned", self.gate)


def _normal_alpha(text: str) -> str:
    """'exp:1' → 'exp:1.0', 'fixed:.9' → 'fixed:0.9', 'learned'; anything else is a ValueError."""
    if text == "learned":
        return text
    kind, sep, value = str(text).partition(":")
    hint = "write alpha=fixed:<a> with 0 ≤ a < 1, alpha=exp:<c> with c > 0, or alpha=learned"
    if not sep or kind not in ("fixed", "exp"):
        raise SpecError(f"bad alpha {text!r}: {hint}")
    try:
        number = float(value)
    except ValueError:
        raise SpecError(f"bad alpha {text!r}: {hint}") from None
    if not math.isfinite(number):
        raise SpecError(f"bad alpha {text!r}: {hint}")
    if (kind == "fixed" and not 0.0 <= number < 1.0) or (kind == "exp" and not number > 0):
        raise SpecError(f"bad alpha {text!r}: {hint}")
    return f"{kind}:{number!r}"


def _rope_theta(model: Any) -> float:
    params = getattr(model.config, "rope_parameters", None) or {}
    return float(params.get("rope_theta", 10000.0))


def _replaced(name: str):
    return SpecError(f"{name}: another encoding already replaced the model's rotary embedding",
                     "use one rotary encoding (rope, alibi, pi-spiral, hybrid) per spec")
