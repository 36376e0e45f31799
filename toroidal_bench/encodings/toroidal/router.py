"""`DepthRouter`: an input-dependent choice among candidate depths, from statistics of the input.

Each sample's input x (B, N, d) is summarised by four numbers — mean, standard deviation, minimum and
maximum over all its tokens and features (the seeds' routing features) — and a small MLP maps them to
one logit per candidate depth: logits (B, C). The last layer starts at zero, so a fresh router is
uniform over the candidates and training moves it. Like the `dynamic` mode it looks at the whole
input, so under a causal mask a prefix's depth can change with what follows (see adaptive.py).
"""

from __future__ import annotations

import torch
from torch import nn

#: the summary statistics the router sees
FEATURES = ("mean", "std", "min", "max")


def input_statistics(x: torch.Tensor) -> torch.Tensor:
    """(B, N, d) → (B, 4): mean, std, min, max over tokens and features, in float32."""
    flat = x.float().flatten(1)  # (B, N·d)
    std = flat.std(dim=1) if flat.shape[1] > 1 else torch.zeros_like(flat[:, 0])
    return torch.stack([flat.mean(dim=1), std, flat.amin(dim=1), flat.amax(dim=1)], dim=-1)


class DepthRouter(nn.Module):
    def __init__(self, n_candidates: int, hidden: int = 32):
        super().__init__()
        if n_candidates < 1 or hidden < 1:
            raise ValueError("need at least one candidate depth and one hidden unit")
        self.mlp = nn.Sequential(nn.Linear(len(FEATURES), hidden), nn.ReLU(), nn.Linear(hidden, n_candidates))
        nn.init.zeros_(self.mlp[-1].weight)  # uniform over the candidates until trained
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N, d) → depth logits (B, C)."""
        stats = input_statistics(x).to(self.mlp[0].weight.dtype)
        return self.mlp(stats)
