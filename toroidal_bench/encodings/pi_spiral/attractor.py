"""The attractor state: a causal, fixed-size exponential summary of a layer's inputs.

    m_t = a_t · m_{t−1} + (1 − α) · h_t        a_t = α, or 0 where position_ids == 0 (a new sequence)
    z_t = a_t · z_{t−1} + (1 − α)
    s_t = m_t / z_t                             the summary used at t (normalised: weights sum to 1)

m_t is the recurrence of the issue; dividing by z_t (Adam-style bias correction) makes s_t a convex
combination of h_0..h_t, so a layer's affine key/value maps commute with it: k_proj(s_t) is the
exponential moving average of the keys. s_t holds only tokens ≤ t.

Prefill runs `scan`, a chunked two-level formulation of the linear recurrence (decay matrices
inside chunks of C tokens, the same scan recursively over chunk ends): no Python loop over tokens,
no α^(−t) factors that overflow. Decoding one token is `step`, O(1) in time and memory. Between
forward calls the state (m, z, next position) lives on the KV cache object of that generation, so
it is per sequence and never leaks across batches or calls.
"""

from __future__ import annotations

import math

import torch
from torch import nn

CHUNK = 64
_TINY = 1e-30  # log(0) stand-in; products through a true zero are masked out exactly


def _chunk_scan(u: torch.Tensor, a: torch.Tensor, init: torch.Tensor):
    """One chunk, T ≤ C: u (B, T, d), a (B, T), init (B, d) → m (B, T, d), gain (B, T) = Π_{k≤t} a_k."""
    T = u.shape[1]
    log_cum = torch.cumsum(torch.log(a.clamp_min(_TINY)), dim=1)  # (B, T)
    zeros = torch.cumsum((a == 0).to(torch.int32), dim=1)  # (B, T) resets so far
    i = torch.arange(T, device=u.device)
    causal = i[:, None] >= i[None, :]  # (T, T)
    same = zeros[:, :, None] == zeros[:, None, :]  # (B, T, T): no reset in (j, i]
    diff = log_cum[:, :, None] - log_cum[:, None, :]  # log Π_{k=j+1}^{i} a_k
    decay = torch.exp(diff.masked_fill(~(causal & same), -math.inf))  # (B, T, T), entries in [0, 1]
    gain = torch.exp(log_cum).masked_fill(zeros > 0, 0.0)  # (B, T)
    return decay @ u + gain[..., None] * init[:, None, :], gain


def scan(u: torch.Tensor, a: torch.Tensor, init: torch.Tensor | None = None, chunk: int = CHUNK) -> torch.Tensor:
    """m_t = a_t · m_{t−1} + u_t along dim 1, m_{−1} = init.  u (B, T, d), a (B, T) ∈ [0, 1] → (B, T, d)."""
    B, T, d = u.shape
    init = u.new_zeros(B, d) if init is None else init
    if T <= chunk:
        return _chunk_scan(u, a, init)[0]
    n = -(-T // chunk)
    pad = n * chunk - T
    if pad:  # padding with u = 0, a = 1 leaves the real steps untouched
        u = torch.cat([u, u.new_zeros(B, pad, d)], dim=1)
        a = torch.cat([a, a.new_ones(B, pad)], dim=1)
    local, gain = _chunk_scan(u.reshape(B * n, chunk, d), a.reshape(B * n, chunk),
                              u.new_zeros(B * n, d))
    local = local.view(B, n, chunk, d)
    gain = gain.view(B, n, chunk)
    ends = scan(local[:, :, -1], gain[:, :, -1], init, chunk)  # (B, n, d) state after each chunk
    carry = torch.cat([init[:, None], ends[:, :-1]], dim=1)  # (B, n, d) state entering each chunk
    m = local + gain[..., None] * carry[:, :, None]
    return m.reshape(B, n * chunk, d)[:, :T]


def step(m: torch.Tensor, a: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """One token: m (B, d), a (B,), u (B, d) → a·m + u. The streaming form; O(1) state."""
    return a[:, None] * m + u


class Attractor(nn.Module):
    """α (fixed, exp, or learned) and the state bookkeeping for one injected layer.

    `summary(h, position_ids, cache)` returns s (B, T, d) for the chunk h (B, T, d) and, when a cache
    is given, stores the state after the chunk on it under `key`.

    Static decoding (models/decoding.py): the state of a row is taken at the prompt's last position,
    so the prompt must be prefilled left-padded (`left_padded_prefill`); the decoder then moves each
    row's state into buffers on the static cache (`fixed_state`), which every step updates in place
    and never checks on the host, so the step can be captured in a CUDA graph.
    """

    static_decoding = True
    left_padded_prefill = True

    def __init__(self, key: str, alpha: float, learned: bool = False, chunk: int = CHUNK):
        super().__init__()
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"alpha must lie in [0, 1); got {alpha}")
        self.key = key
        self.chunk = chunk
        if learned:  # created at apply time, so an optimizer built afterwards sees it
            self.alpha_logit = nn.Parameter(torch.tensor(math.log(alpha) - math.log1p(-alpha)))
        else:
            self.alpha_logit = None
            self.alpha_value = alpha
            self.one_minus = -math.expm1(math.log(alpha)) if alpha > 0 else 1.0  # exact for α → 1
            # made once, on the module's device: a tensor made from a Python number inside a decoding
            # step would be a host-to-device copy, which a CUDA graph capture refuses
            self.register_buffer("fixed", torch.tensor([alpha, self.one_minus], dtype=torch.float32),
                                 persistent=False)

    def coefficients(self, device) -> tuple[torch.Tensor, torch.Tensor]:
        """(α, 1 − α) as float32 0-d tensors (differentiable when learned)."""
        if self.alpha_logit is not None:
            logit = self.alpha_logit.float()
            return torch.sigmoid(logit), torch.sigmoid(-logit)
        fixed = self.fixed.to(device)
        return fixed[0], fixed[1]

    def summary(self, h: torch.Tensor, position_ids: torch.Tensor, cache=None) -> torch.Tensor:
        B, T, _ = h.shape
        pos = position_ids.expand(B, T)
        alpha, one_minus = self.coefficients(h.device)
        a = torch.where(pos == 0, torch.zeros((), device=h.device), alpha.to(h.device)).float()  # (B, T)
        x = torch.cat([h.float(), torch.ones_like(h[..., :1], dtype=torch.float32)], dim=-1)  # (B, T, d+1)
        u = one_minus.to(h.device) * x  # the last channel accumulates z
        init = self._load(cache, pos, x.shape[-1], h.device)
        if T == 1:
            state = step(init, a[:, 0], u[:, 0])[:, None]
        else:
            state = scan(u, a, init, self.chunk)  # (B, T, d+1)
        self._store(cache, state[:, -1], pos[:, -1] + 1)
        return (state[..., :-1] / state[..., -1:]).to(h.dtype)

    # -- state on the KV cache ----------------------------------------------------------------
    def _load(self, cache, pos: torch.Tensor, width: int, device) -> torch.Tensor:
        saved = getattr(cache, "_tbench_attractor", {}).get(self.key) if cache is not None else None
        if saved is None:
            return torch.zeros(pos.shape[0], width, device=device)
        state, next_pos = saved
        if fixed_state(cache):  # the decoder keeps rows and state in step; a host check would sync
            return state
        fresh = pos[:, 0] == 0
        if bool((~fresh & (pos[:, 0] != next_pos)).any()):
            raise RuntimeError("attractor state is out of step with the KV cache (cropped or reordered "
                               "cache?); the attractor supports greedy/sampled decoding only")
        return state

    def _store(self, cache, state: torch.Tensor, next_pos: torch.Tensor) -> None:
        if cache is None:
            return
        if fixed_state(cache):
            saved_state, saved_pos = cache._tbench_attractor[self.key]
            saved_state.copy_(state)
            saved_pos.copy_(next_pos)
            return
        if not hasattr(cache, "_tbench_attractor"):
            cache._tbench_attractor = {}
        cache._tbench_attractor[self.key] = (state.detach() if self.alpha_logit is None else state, next_pos)


def fixed_state(cache) -> bool:
    """Does `cache` hold attractor states in fixed buffers, updated in place (a static decoding cache)?"""
    return bool(getattr(cache, "_tbench_fixed_state", False))


def place_states(prompt_cache, cache, rows: slice, batch: int) -> None:
    """Copy the attractor states a prefill left on `prompt_cache` into `rows` of `cache`'s fixed buffers
    (made on the first call, for `batch` rows); nothing when the model has no attractor."""
    saved = getattr(prompt_cache, "_tbench_attractor", None)
    if not saved:
        return
    if not fixed_state(cache):
        cache._tbench_attractor = {key: (state.new_zeros(batch, state.shape[-1]), pos.new_zeros(batch))
                                   for key, (state, pos) in saved.items()}
        cache._tbench_fixed_state = True
    for key, (state, pos) in saved.items():
        target_state, target_pos = cache._tbench_attractor[key]
        target_state[rows] = state
        target_pos[rows] = pos


def state_bytes(cache) -> int:
    """Bytes held by every attractor state on `cache` (constant in the number of tokens)."""
    saved = getattr(cache, "_tbench_attractor", {})
    return sum(s.numel() * s.element_size() + p.numel() * p.element_size() for s, p in saved.values())
