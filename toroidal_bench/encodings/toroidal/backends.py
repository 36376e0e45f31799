"""Attention over sub-tokens with the toroidal bias, on one of several backends.

All backends compute the same thing for q (B, H, Lq, d_s) and k, v (B, H_kv, Lk, d_s), L = N·D:

    out = softmax(q·kᵀ·scale − λ·δ + token bias, masked) · v

- `fused`: the bias folded into q and k as a few extra features, run on SDPA's fused kernels (fused.py).
  Exact, O(L) memory; only for causal calls whose distance cannot wrap (period ≥ 2·context), without
  windows that bite, padding or explicit masks. `auto` takes it whenever it applies.
- `sdpa`: torch SDPA with a float bias built per block of `chunk` query rows (the CPU default otherwise,
  and the GPU's for a single query token; with `chunk` unset the whole (Lq, Lk) bias is built, O(L²)
  memory). q/k/v keep their dtype.
- `manual`: explicit scores and float32 softmax; the only backend that returns the weights.
- `flex`: FlexAttention; δ and the masks are evaluated inside the kernel from indices (`score_mod`,
  `mask_mod`), the BlockMask from tile index ranges (attention/blockmask.py), so nothing of size L² is
  materialized (the GPU default where `fused` does not apply). Needs a sub-token width ≥ 16.
- `ring`: blockwise attention with an online softmax over key blocks (blockwise.py); exact, O(block²) memory.
- `flash2`: flash-attn's kernel, usable only without any bias or mask other than plain causal at
  depth 1 (it has no additive bias); anything else falls back to `sdpa` with a warning.

A query offset held in a device tensor (one token over a static cache) stays on the device on `sdpa`
and `manual`, which is where `auto` and `fused` send a single query token: such a step reads nothing on
the host (`CAPTURABLE_STEP`).

`resolve_backend` applies those rules and warns (ToroidalBackendWarning) whenever it falls back.
`ROUTES` records what actually ran (`fused:merge_cudnn`, `flex`, …): the last call and a count per route.
"""

from __future__ import annotations

import importlib.util
import warnings
from collections import Counter
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint as _checkpoint

from . import fused
from .blockwise import blockwise_attention
from .masks import Geometry, bias_block

BACKENDS = ("auto", "fused", "sdpa", "flex", "manual", "ring", "flash2")
#: backends that take a query offset held in a 0-d device tensor as it is (a decoding step on a static
#: cache: bias built on the device); the others plan blocks and masks on the host and get it as an int
OFFSET_ON_DEVICE = ("sdpa", "manual")
#: backend settings whose single-token call always runs one of those: a decoding step that reads nothing
#: on the host, so a static-cache step can be captured in a CUDA graph
CAPTURABLE_STEP = ("auto", "fused", "sdpa", "manual")
#: FlexAttention's kernels need head (here: sub-token) dims of at least 16
FLEX_MIN_DIM = 16
#: compile FlexAttention (False runs its unfused eager reference: same maths, L² memory; for tests)
FLEX_COMPILE = True
_compiled_flex = None


class ToroidalBackendWarning(UserWarning):
    """A requested attention backend cannot run this call; another one is used."""


@dataclass
class RouteLog:
    """The route of the latest attention call in this process, and how often each route ran."""

    last: str = ""
    counts: Counter = field(default_factory=Counter)

    def record(self, route: str) -> None:
        self.last = route
        self.counts[route] += 1

    def reset(self) -> None:
        self.last = ""
        self.counts.clear()


ROUTES = RouteLog()


def flash_attn_available() -> bool:
    return importlib.util.find_spec("flash_attn") is not None


def resolve_backend(name: str, g: Geometry, q: torch.Tensor, *, return_weights: bool = False,
                    allow_flash2: bool = True) -> str:
    """The backend that will actually run: `name`, or a fallback (with a warning saying why)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose one of {', '.join(BACKENDS)}")
    if return_weights:
        return "manual"
    d_s = q.shape[-1]
    if name == "fused":  # attend() tries it first: reaching here means it cannot run this call
        name = "auto"
    if name == "auto":
        # one query token (a decoding step): its bias row is O(keys), and compiled flex would compile
        # again for every new key count
        one_token = q.shape[2] <= g.depth
        return "flex" if q.is_cuda and d_s >= FLEX_MIN_DIM and not one_token else "sdpa"
    if name == "flex" and d_s < FLEX_MIN_DIM:
        _fallback("flex", f"sub-token width {d_s} < {FLEX_MIN_DIM} (head dim / depth)")
        return "sdpa"
    if name == "flex" and not q.is_cuda and q.requires_grad and torch.is_grad_enabled():
        _fallback("flex", "FlexAttention has no backward on CPU")
        return "sdpa"
    if name == "flash2":
        reason = _flash2_blocker(g, q, allow_flash2)
        if reason:
            _fallback("flash2", reason)
            return "sdpa"
    return name


def _flash2_blocker(g: Geometry, q: torch.Tensor, allow: bool) -> str | None:
    if not allow:
        return "allow_flash2=False"
    if not flash_attn_available():
        return "flash_attn is not installed"
    if g.lam != 0:
        return "λ ≠ 0 (flash-attn has no additive bias)"
    if g.window is not None:
        return "a circular window is set"
    if g.key_valid is not None or g.token_mask is not None or g.token_bias is not None:
        return "a padding or explicit mask is present"
    if g.causal and g.depth > 1:
        return "token-level causality over depth platters is not flash-attn's causal mask"
    if not q.is_cuda or q.dtype not in (torch.float16, torch.bfloat16):
        return "flash-attn needs fp16/bf16 CUDA tensors"
    return None


def _fallback(name: str, reason: str, instead: str = "'sdpa'") -> None:
    warnings.warn(f"toroidal attention: backend '{name}' unavailable ({reason}); using {instead}",
                  ToroidalBackendWarning, stacklevel=3)


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, g: Geometry, backend: str = "auto", *,
           chunk: int | None = None, use_checkpoint: bool = False, return_weights: bool = False,
           allow_flash2: bool = True, block_size: int = 512) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(out (B, H, Lq, d_s), weights (B, H, Lq, Lk) or None); the route taken goes to `ROUTES`."""
    if backend in ("auto", "fused") and not return_weights:
        reason = fused.blocker(g, q, k)
        if reason is None:
            ran = fused.attend(q, k, v, g)
            if not isinstance(ran, str):
                ROUTES.record(f"fused:{ran[1]}")
                return ran[0], None
            reason = ran
        if backend == "fused":
            _fallback("fused", reason, "auto's choice")
            backend = "auto"
    name = resolve_backend(backend, g, q, return_weights=return_weights, allow_flash2=allow_flash2)
    ROUTES.record(name)
    if isinstance(g.q_offset, torch.Tensor) and name not in OFFSET_ON_DEVICE:
        g = g.replace(q_offset=int(g.q_offset))  # a host read, on a route that is never captured
    if name == "flex":
        return _flex(q, k, v, g), None
    if name == "flash2":
        return _flash2(q, k, v, g), None
    k, v = _repeat_kv(k, q.shape[1]), _repeat_kv(v, q.shape[1])
    if name == "manual":
        return _manual(q, k, v, g)
    if name == "ring":
        return blockwise_attention(q, k, v, g, block_size), None
    return _sdpa(q, k, v, g, chunk, use_checkpoint), None


def _repeat_kv(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, H_kv, L, d) → (B, H, L, d) for grouped-query attention."""
    groups = heads // x.shape[1]
    return x if groups == 1 else x.repeat_interleave(groups, dim=1)


def _sdpa(q, k, v, g: Geometry, chunk: int | None, use_checkpoint: bool) -> torch.Tensor:
    lq, lk = q.shape[2], k.shape[2]
    if g.lam == 0 and g.token_bias is None and not g.has_mask:
        return F.scaled_dot_product_attention(q, k, v, scale=g.scale)
    if (g.lam == 0 and g.token_bias is None and g.causal and g.depth == 1 and lq == lk and g.window is None
            and g.key_valid is None and g.token_mask is None):
        return F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=g.scale)  # stock fast path
    step = chunk or lq

    def block(q_rows: torch.Tensor, r0: int) -> torch.Tensor:  # bias rebuilt here, never saved
        bias = bias_block(g, (r0, r0 + q_rows.shape[2]), (0, lk), q.device, q.dtype)  # (B|1, 1, R, Lk)
        return F.scaled_dot_product_attention(q_rows, k, v, attn_mask=bias, scale=g.scale)

    outs = []
    for r0 in range(0, lq, step):
        rows = q[:, :, r0:r0 + step]  # (B, H, R, d_s)
        if use_checkpoint and torch.is_grad_enabled():
            outs.append(_checkpoint(block, rows, r0, use_reentrant=False))
        else:
            outs.append(block(rows, r0))
    return torch.cat(outs, dim=2)


def _manual(q, k, v, g: Geometry) -> tuple[torch.Tensor, torch.Tensor]:
    scores = (q @ k.transpose(-1, -2)).float() * g.scale  # (B, H, Lq, Lk)
    scores = scores + bias_block(g, (0, q.shape[2]), (0, k.shape[2]), q.device, torch.float32)
    weights = torch.softmax(scores, dim=-1).to(q.dtype)
    return weights @ v, weights


def _flex_fn():
    global _compiled_flex
    from torch.nn.attention.flex_attention import flex_attention

    if not FLEX_COMPILE:
        return flex_attention
    if _compiled_flex is None:
        import torch._dynamo

        # every new (length, dtype) compiles once; the default limit of 8 silently drops to the
        # unfused path (ENCODINGS.md §3)
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
        _compiled_flex = torch.compile(flex_attention, dynamic=False)
    return _compiled_flex


def _wraps(g: Geometry, lq: int, lk: int) -> bool:
    """Can a pair this call scores have circ(i − j) ≠ |i − j| (a token distance above P/2)?"""
    first_q, last_q = g.q_offset, g.q_offset + lq // g.depth - 1
    far = last_q if g.causal else max(last_q, lk // g.depth - 1 - first_q)
    return 2 * far > g.period


def flex_mods(g: Geometry, device: torch.device, lq: int | None = None, lk: int | None = None):
    """(score_mod, mask_mod) evaluating −λ·δ and the token-level masks per element.

    λ, P, D and the window enter as Python numbers: the compiled kernel has them as constants (no
    runtime division by a tensor per score), at the price of one compile per distinct value — λ and P
    are constants of a model, so a process sees one or a few. The query offset changes every decoding
    step, so it stays a 0-d tensor unless it is 0 (prefill); either way a new offset value never
    recompiles. With the lengths given and no pair farther apart than P/2, the modulo is skipped.
    """
    depth, period, window, causal = g.depth, g.period, g.window, g.causal
    inv_p, inv_d = 1.0 / period, 1.0 / depth
    lam = g.lam if isinstance(g.lam, torch.Tensor) else float(g.lam)
    off = g.q_offset if g.q_offset == 0 else torch.tensor(g.q_offset, device=device)
    wrap = lq is None or lk is None or _wraps(g, lq, lk)
    kv, tm, tb = g.key_valid, g.token_mask, g.token_bias

    def circ(i, j):
        t = (i - j).abs()
        if wrap:
            t = t % period
            t = torch.minimum(t, period - t)
        return t

    def score_mod(score, b, h, qi, ki):
        i, j = qi // depth + off, ki // depth
        seq = circ(i, j).to(torch.float32) * inv_p
        dep = (qi % depth - ki % depth).abs().to(torch.float32) * inv_d
        s = score - lam * (seq + dep)
        if tb is not None:
            s = s + tb[b, qi // depth, j].to(torch.float32)
        return s

    def mask_mod(b, h, qi, ki):
        i, j = qi // depth + off, ki // depth
        ok = j >= 0
        if causal:
            ok = ok & (j <= i)
        if window is not None:
            ok = ok & (circ(i, j) <= window)
        if kv is not None:
            ok = ok & kv[b, j]
        if tm is not None:
            ok = ok & tm[b, qi // depth, j]
        return ok

    needs_score = not (isinstance(g.lam, (int, float)) and g.lam == 0) or tb is not None
    return (score_mod if needs_score else None), (mask_mod if g.has_mask else None)


_mask_cache: dict = {}


def flex_block_mask(g: Geometry, mask_mod, lq: int, lk: int, batch: int, device: torch.device):
    """The BlockMask of `mask_mod`, from tile index ranges (no L × L tensor) unless an explicit token
    mask is present (arbitrary pattern: compiled create_block_mask, which fuses the per-element pass).

    The layers of one forward share their geometry: the last mask is reused while the lengths, the
    rules and the key padding (compared by value) stay the same."""
    if g.token_mask is None:
        from ...attention.blockmask import block_mask

        key = (lq, lk, g.depth, g.q_offset, g.causal, g.window, g.period, str(device))
        kv = g.key_valid
        hit = _mask_cache.get("key") == key and (
            (kv is None and _mask_cache["kv"] is None)
            or (kv is not None and _mask_cache["kv"] is not None and _mask_cache["kv"].shape == kv.shape
                and bool(torch.equal(_mask_cache["kv"], kv))))
        if not hit:
            value = block_mask(mask_mod, lq, lk, device=device, group=g.depth, q_offset=g.q_offset,
                               causal=g.causal, window=g.window, period=g.period, key_valid=kv)
            _mask_cache.update(key=key, kv=None if kv is None else kv.clone(), value=value)
        return _mask_cache["value"]
    from torch.nn.attention.flex_attention import create_block_mask

    build = torch.compile(create_block_mask) if FLEX_COMPILE else create_block_mask
    return build(mask_mod, batch, None, lq, lk, device=device)


def _flex(q, k, v, g: Geometry) -> torch.Tensor:
    lq, lk = q.shape[2], k.shape[2]
    score_mod, mask_mod = flex_mods(g, q.device, lq, lk)
    block_mask = None
    if mask_mod is not None:
        block_mask = flex_block_mask(g, mask_mod, lq, lk, q.shape[0], q.device)
    return _flex_fn()(q, k, v, score_mod=score_mod, block_mask=block_mask, scale=g.scale,
                      enable_gqa=q.shape[1] != k.shape[1])


def _flash2(q, k, v, g: Geometry) -> torch.Tensor:
    from flash_attn import flash_attn_func

    out = flash_attn_func(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),  # (B, L, H, d_s)
                          softmax_scale=g.scale, causal=g.causal)
    return out.transpose(1, 2)
