"""`AdaptiveToroidalAttention`: the number of depth platters chosen per layer or per input.

All candidate depths D ∈ [min_depth, max_depth] that divide the head dim (with an even sub-token width
for the 3D RoPE) share the same Q/K/V/O projections — depth only changes how a head is cut into
platters — and each has its own depth fusion and positional encoding.

- `learned`: a learned categorical p = softmax(logits/T) over the candidates (one per layer). In
  training the output is the p-weighted mixture of every candidate's output (differentiable in the
  logits; costs all candidates); in eval only the most probable depth runs. `expected_depth()` can be
  used as a compute penalty.
- `routed`: input-dependent: a `DepthRouter` (router.py) maps each sample's input statistics through
  a small MLP to logits over the candidates; p = softmax(logits/T) per sample. Training mixes every
  candidate's output with the sample's p; eval runs each sample's most probable depth. `temperature`
  is what a `DepthAnnealer` (annealer.py) lowers during training.
- `dynamic`: no parameters; each sample gets a depth from the dispersion of its token vectors,
  c = 1 − ‖mean_i x_i/‖x_i‖‖ ∈ [0, 1] (0 for a sequence of identical tokens, near 1 for unrelated
  ones), mapped linearly onto the candidates: simple inputs get few platters. The choice looks at the
  whole input, so under a causal mask a prefix's outputs can change with what follows (the depth may
  change) — use it for non-causal layers or fixed-length inputs.
"""

from __future__ import annotations

import torch
from torch import nn

from .attention import ToroidalAttention
from .core import ToroidalCore
from .router import DepthRouter

MODES = ("learned", "routed", "dynamic")


class AdaptiveToroidalAttention(ToroidalAttention):
    def __init__(self, d_model: int, n_heads: int, min_depth: int = 1, max_depth: int = 8,
                 adaptive_mode: str = "learned", temperature: float = 1.0, router_hidden: int = 32, **kwargs):
        if adaptive_mode not in MODES:
            raise ValueError(f"unknown adaptive_mode {adaptive_mode!r}; choose one of {', '.join(MODES)}")
        head_dim = d_model // n_heads
        rotary = kwargs.get("pe", "toroidal3d") in ("toroidal3d", "orthogonal")
        candidates = [d for d in range(min_depth, max_depth + 1)
                      if head_dim % d == 0 and (not rotary or (head_dim // d) % 2 == 0)]
        if not candidates:
            raise ValueError(f"no depth in {min_depth}..{max_depth} divides head dim {head_dim}")
        self.last_depths: list[int] = []  # plain attribute, so the `core` property works during init
        super().__init__(d_model, n_heads, depth=candidates[0], **kwargs)
        self.candidates = candidates
        self.adaptive_mode, self.temperature = adaptive_mode, temperature
        first = self._modules.pop("core")  # becomes one entry of the per-depth cores
        self.cores = nn.ModuleDict({str(candidates[0]): first})
        for d in candidates[1:]:
            self.cores[str(d)] = ToroidalCore(
                n_heads, head_dim, d, first.lambda_distance, first.period, first.fusion.mode, None,
                first.pe_mode, bool(first.pos is not None and first.pos.periodic), kwargs.get("rope_base", 10000.0),
                0, first.window_size, first.backend, first.allow_flash2, first.attn_chunk_size,
                first.use_checkpoint, first.block_size, first.dropout.p)
        self.depth_logits = nn.Parameter(torch.zeros(len(candidates))) if adaptive_mode == "learned" else None
        self.router = DepthRouter(len(candidates), router_hidden) if adaptive_mode == "routed" else None

    @property
    def core(self) -> ToroidalCore:
        """The core of the most recently selected depth (the smallest candidate before any call)."""
        if "core" in self._modules:  # only while the base class is being initialised
            return self._modules["core"]
        return self.cores[str(self.last_depths[0] if self.last_depths else self.candidates[0])]

    def depth_probs(self) -> torch.Tensor:
        return torch.softmax(self.depth_logits / self.temperature, dim=0)

    def routed_probs(self, x: torch.Tensor) -> torch.Tensor:
        """Per-sample depth probabilities (B, C) of the `routed` mode."""
        return torch.softmax(self.router(x) / self.temperature, dim=-1).to(x.dtype)

    def expected_depth(self) -> torch.Tensor:
        return self.depth_probs() @ torch.tensor(self.candidates, dtype=torch.float32, device=self.depth_logits.device)

    def complexity(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Per-sample dispersion c ∈ [0, 1] of the token directions (padding excluded for a (B, N) mask)."""
        unit = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-6)  # (B, N, d)
        w = torch.ones(x.shape[:2], device=x.device)
        if mask is not None and mask.dim() == 2 and mask.shape == x.shape[:2]:
            w = mask.to(x.dtype)
        mean = (unit * w[..., None]).sum(1) / w.sum(1, keepdim=True).clamp_min(1)
        return (1 - mean.norm(dim=-1)).clamp(0, 1)

    def select(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> list[int]:
        """The depth each sample will use."""
        if self.adaptive_mode == "learned":
            return [self.candidates[int(self.depth_logits.argmax())]] * x.shape[0]
        if self.adaptive_mode == "routed":
            return [self.candidates[i] for i in self.router(x).argmax(dim=-1).tolist()]
        idx = torch.round(self.complexity(x, mask) * (len(self.candidates) - 1)).long()
        return [self.candidates[i] for i in idx.tolist()]

    def _run(self, depth: int, x: torch.Tensor, mask, positions) -> torch.Tensor:
        core = self.cores[str(depth)]
        q, k, v = self.project(x, positions, core)
        out, _ = core.attend(q, k, v, self.geometry(x, mask, core))
        return self.o_proj(core.merge(out))

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, return_attention: bool = False,
                positions: torch.Tensor | None = None):
        if return_attention:
            raise ValueError("adaptive attention does not return weights")
        if positions is None:
            positions = torch.arange(x.shape[1], device=x.device)[None]
        if self.adaptive_mode == "learned" and self.training:
            self.last_depths = list(self.candidates)
            p = self.depth_probs()
            return sum(p[i] * self._run(d, x, mask, positions) for i, d in enumerate(self.candidates)), None
        if self.adaptive_mode == "routed" and self.training:
            self.last_depths = list(self.candidates)
            p = self.routed_probs(x)  # (B, C)
            return sum(p[:, i, None, None] * self._run(d, x, mask, positions)
                       for i, d in enumerate(self.candidates)), None
        depths = self.select(x, mask)
        self.last_depths = depths
        y = torch.empty_like(x)
        for d in sorted(set(depths)):
            rows = torch.tensor([i for i, di in enumerate(depths) if di == d], device=x.device)
            sub_mask = mask[rows] if mask is not None and mask.dim() >= 2 and mask.shape[0] == x.shape[0] else mask
            y[rows] = self._run(d, x[rows], sub_mask, positions)
        return y, None
