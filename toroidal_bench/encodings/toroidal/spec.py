"""`toroidal`: replace the attention of chosen decoder layers with toroidal attention (torch-free).

    random:llama-tiny+toroidal(depth=4,lambda=0.1,fusion=low_rank,layers=0..1,window=256)

Arguments (defaults in brackets):
- depth [4]: platters D per head (head_dim, and with pe=model the rotary pairs, must divide by D)
- lambda [0.1]: weight λ of the distance penalty −λ·δ
- fusion [low_rank]: depth fusion, low_rank | attention | mean; rank [D//4, at least 1]
- layers [0]: decoder layers to replace (ranges `0..3`, lists `0|2`)
- window: circular sliding window in tokens (none by default)
- period: the wrap period P of distance and window [config.max_position_embeddings]
- pe [model]: model (the checkpoint's own rotary) | toroidal3d | orthogonal | none; periodic [false]
  rounds the 3D RoPE frequencies to whole turns over P
- backend [auto]: auto (fused when exact — causal, period ≥ 2·context, no window/padding —, else flex on
  CUDA, sdpa on CPU) | fused | sdpa | flex | manual | ring | flash2
- chunk: query sub-token rows per SDPA block; checkpoint [false]: recompute blocks in backward
- freeze [false]: leave only the replaced decoder layers trainable
- dropout [0]: dropout on the fused attention output of the replaced layers (training only)

With depth=1, lambda=0 and pe=model the patched model computes the original logits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ...errors import SpecError
from .. import register_encoding
from ..base import Encoding
from ..limits import MAX_HEAD_SPLIT, MAX_LAYERS, MAX_POSITIONS, check_range

#: a distance penalty λ·δ past this already leaves each token attending only to itself
MAX_LAMBDA = 1000.0


@register_encoding("toroidal")
@dataclass(frozen=True)
class Toroidal(Encoding):
    aliases = {"lambda": "lambda_"}
    replaces = frozenset({"attention"})  # of the layers it names

    depth: int = 4
    lambda_: float = 0.1
    fusion: Literal["low_rank", "attention", "mean"] = "low_rank"
    rank: int | None = None
    layers: tuple[int, ...] = (0,)
    window: int | None = None
    period: int | None = None
    pe: Literal["model", "toroidal3d", "orthogonal", "none"] = "model"
    periodic: bool = False
    backend: Literal["auto", "fused", "sdpa", "flex", "manual", "ring", "flash2"] = "auto"
    chunk: int | None = None
    checkpoint: bool = False
    freeze: bool = False
    dropout: float = 0.0

    def validate(self) -> None:
        if self.depth < 1:
            raise SpecError(f"toroidal: depth must be ≥ 1, got {self.depth}")
        if self.lambda_ < 0:
            raise SpecError(f"toroidal: lambda must be ≥ 0 (it weights a penalty), got {self.lambda_}")
        if not self.layers or min(self.layers) < 0:
            raise SpecError("toroidal: layers must name at least one layer index ≥ 0", "e.g. layers=0..1")
        for key in ("rank", "window", "period", "chunk"):
            value = getattr(self, key)
            if value is not None and value < 1:
                raise SpecError(f"toroidal: {key} must be ≥ 1, got {value}")
        check_range("depth", self.depth, 1, MAX_HEAD_SPLIT, self.name)
        check_range("rank", self.rank, 1, MAX_HEAD_SPLIT, self.name)
        check_range("lambda", self.lambda_, 0.0, MAX_LAMBDA, self.name)
        if not 0.0 <= self.dropout < 1.0:
            raise SpecError(f"toroidal: dropout must lie in [0, 1), got {self.dropout}")
        check_range("layers", max(self.layers), 0, MAX_LAYERS - 1, self.name)
        for key in ("window", "period", "chunk"):
            check_range(key, getattr(self, key), 1, MAX_POSITIONS, self.name)
        if self.periodic and self.pe not in ("toroidal3d", "orthogonal"):
            raise SpecError("toroidal: periodic=true needs a 3D RoPE", "add pe=toroidal3d or pe=orthogonal")

    def apply(self, model: Any) -> None:
        from .inject import replace_attention_layers

        replace_attention_layers(model, self)
