"""3D rotary position encoding for sub-tokens (i, k): sequence position i, depth platter k.

Pair m of a sub-token's feature vector is rotated by the angle

    θ_m(i, k) = i·ω_m + k·φ_m

so q(i,k)·k(j,l) depends on (i − j) and (k − l) only (the RoPE property, in two coordinates).
ω_m = base^(−2m/d) radians per token (standard RoPE) and φ_m = (π/D)·depth_base^(−2m/d) radians per
platter (the fastest pair turns less than π over the D platters, so depth offsets stay distinguishable).

`periodic=True` rounds every ω_m to a whole number of turns n_m ≥ 1 over the period P:
ω_m = 2π·n_m/P, computed from the integer n_m·i mod P, so PE(i + P, k) = PE(i, k) exactly. That, with the
circular distance of the same period, is what makes attention exactly invariant under cyclic shifts
(the seeds' Lemma 1). Angles never depend on the current sequence length (the public implementation's
`2π·pos/N` did), so cached decoding sees the same rotation a token got at prefill.

`OrthogonalToroidal3DPE` removes from φ its component along ω (Gram-Schmidt, norm kept), so the two
frequency vectors are orthogonal; `get_orthogonality_score()` is |cos∠(ω, φ)| (0 = orthogonal).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) → (−x2, x1) on the two halves of the last dim (the HF/Llama convention)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def apply_model_rotary(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                       rotary_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The model's own RoPE on the first `rotary_dim` features of (B, H, N, d_k) q and k (Phi: partial)."""
    cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)  # (B, 1, N, rotary_dim)

    def rot(x: torch.Tensor) -> torch.Tensor:
        x_rot, x_pass = x[..., :rotary_dim], x[..., rotary_dim:]
        return torch.cat((x_rot * cos + rotate_half(x_rot) * sin, x_pass), dim=-1)

    return rot(q), rot(k)


class Toroidal3DPositionalEncoding(nn.Module):
    """Rotary encoding of (sequence position, depth platter) for sub-tokens of width `d_model`."""

    def __init__(self, d_model: int, max_len: int = 2048, depth: int = 4, base: float = 10000.0,
                 period: int | None = None, periodic: bool = False, depth_base: float = 10.0):
        super().__init__()
        if d_model % 2:
            raise ValueError(f"rotary width must be even, got {d_model}")
        self.d_model, self.max_len, self.depth = d_model, max_len, depth
        self.period = int(period or max_len)
        self.periodic = periodic
        m = torch.arange(d_model // 2, dtype=torch.float64)
        omega = base ** (-2.0 * m / d_model)  # (M,) rad/token
        # frequencies are kept in float64 plain attributes: `model.to(bfloat16)` must not round them
        self.turns = torch.clamp(torch.round(omega * self.period / (2 * math.pi)), min=1).to(torch.int64)
        self.omega = 2 * math.pi * self.turns.double() / self.period if periodic else omega
        self.phi = self._depth_frequencies((math.pi / depth) * depth_base ** (-2.0 * m / d_model))
        self._on_device: dict[torch.device, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}

    def _tables(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(turns, ω, depth angles k·φ (D, M)) on `device`, copied once: a copy from the host inside a
        decoding step would be a host-to-device transfer on every step (and break a CUDA graph capture)."""
        if device not in self._on_device:
            dep = torch.arange(self.depth, dtype=torch.float64)[:, None] * self.phi  # (D, M)
            self._on_device[device] = (self.turns.to(device), self.omega.to(device), dep.to(device))
        return self._on_device[device]

    def _depth_frequencies(self, phi: torch.Tensor) -> torch.Tensor:
        return phi

    def angles(self, positions: torch.Tensor) -> torch.Tensor:
        """Integer positions (..., N) → angles (..., N, D, d/2), float64."""
        pos = positions.to(torch.int64)[..., None]  # (..., N, 1)
        turns, omega, dep = self._tables(pos.device)
        if self.periodic:
            seq = (2 * math.pi / self.period) * ((pos * turns) % self.period).double()  # exact wrap
        else:
            seq = pos.double() * omega
        return seq[..., None, :] + dep  # (..., N, D, M)

    def cos_sin(self, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        a = self.angles(positions)
        a = torch.cat((a, a), dim=-1)  # (..., N, D, d): rotate-half layout
        return a.cos().to(dtype), a.sin().to(dtype)

    def forward(self, x: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
        """Rotate x (B, H, N, D, d) at integer positions (B|1, N)."""
        cos, sin = self.cos_sin(positions, x.dtype)  # (B, N, D, d)
        cos, sin = cos.unsqueeze(1), sin.unsqueeze(1)  # (B, 1, N, D, d)
        return x * cos + rotate_half(x) * sin

    def get_orthogonality_score(self) -> float:
        """|cos∠(ω, φ)| between the sequence and depth frequency vectors (0 = orthogonal)."""
        w, p = self.omega, self.phi
        return float((w @ p).abs() / (w.norm() * p.norm()))


class OrthogonalToroidal3DPE(Toroidal3DPositionalEncoding):
    """3D RoPE whose depth frequencies are Gram-Schmidt-orthogonalised against the sequence ones."""

    def _depth_frequencies(self, phi: torch.Tensor) -> torch.Tensor:
        w = self.omega / self.omega.norm()
        ortho = phi - (phi @ w) * w
        return ortho * (phi.norm() / ortho.norm())
