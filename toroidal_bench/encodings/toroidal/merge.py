"""Token-level causal attention over sub-tokens on a fused attention kernel.

Sub-token (i, k) sits at flat index r = i·D + k and may see every platter of the tokens j ≤ i. No single
causal kernel call expresses that for D > 1 (the D queries of one token need the same visible prefix,
but a causal kernel gives each row its own). An element-causal call (key index c ≤ r) shows (i, k)
everything it may see except the later platters (i, l), l > k, of its own token: a strict upper
triangle of D × D per token, N·D(D−1)/2 scores in all. Those are computed directly and merged with the
kernel's output through its log-sum-exp (lse):

    lse = log(e^lse_A + Σ_{l>k} e^s_kl)        out = e^(lse_A − lse)·out_A + Σ_{l>k} e^(s_kl − lse)·v_il

Backward uses the identity ring attention relies on: a flash-style backward handed the *merged* out
and lse rebuilds p = e^(s − lse) for its keys and rowsum(dout·out), i.e. exactly the full softmax's
gradient restricted to those keys; the within-token part adds its own (small, explicit) terms.

The kernels are torch's own fused attention ops that return the lse (the same ones torch's context
parallelism merges): `cudnn` and `flash` on CUDA, `cpu_flash` on CPU. A CUDA kernel is used only after
it reproduced a float32 reference on a small problem, forward and backward (`kernel_for`).
"""

from __future__ import annotations

import torch

aten = torch.ops.aten

#: force one CUDA kernel ("cudnn" | "flash") instead of the one SDPA itself would pick (benchmarks)
FORCE_KERNEL: str | None = None
_VALIDATED: dict[tuple, bool] = {}


class _Kernel:
    """Element-causal attention returning (out, lse, state); backward from a given out and lse."""

    name = ""

    def forward(self, q, k, v, scale):
        raise NotImplementedError

    def backward(self, dout, q, k, v, out, lse, state, scale):
        raise NotImplementedError


class _CpuFlash(_Kernel):
    name = "cpu_flash"

    def forward(self, q, k, v, scale):
        out, lse = aten._scaled_dot_product_flash_attention_for_cpu(q, k, v, 0.0, True, scale=scale)
        return out, lse, ()

    def backward(self, dout, q, k, v, out, lse, state, scale):
        return aten._scaled_dot_product_flash_attention_for_cpu_backward(dout, q, k, v, out, lse, 0.0, True,
                                                                         scale=scale)


class _CudaFlash(_Kernel):
    name = "flash"

    def forward(self, q, k, v, scale):
        out, lse, cum_q, cum_k, max_q, max_k, seed, offset, _ = aten._scaled_dot_product_flash_attention(
            q, k, v, 0.0, True, False, scale=scale)
        return out, lse, (cum_q, cum_k, max_q, max_k, seed, offset)

    def backward(self, dout, q, k, v, out, lse, state, scale):
        cum_q, cum_k, max_q, max_k, seed, offset = state
        return aten._scaled_dot_product_flash_attention_backward(dout, q, k, v, out, lse, cum_q, cum_k, max_q,
                                                                 max_k, 0.0, True, seed, offset, scale=scale)


class _Cudnn(_Kernel):
    name = "cudnn"

    def forward(self, q, k, v, scale):
        out, lse, cum_q, cum_k, max_q, max_k, seed, offset, _ = aten._scaled_dot_product_cudnn_attention(
            q, k, v, None, True, 0.0, True, False, scale=scale)
        return out, lse, (cum_q, cum_k, max_q, max_k, seed, offset)

    def backward(self, dout, q, k, v, out, lse, state, scale):
        cum_q, cum_k, max_q, max_k, seed, offset = state
        return aten._scaled_dot_product_cudnn_attention_backward(dout, q, k, v, out, lse, seed, offset, None,
                                                                 cum_q, cum_k, max_q, max_k, 0.0, True,
                                                                 scale=scale)


KERNELS = {k.name: k for k in (_CpuFlash(), _CudaFlash(), _Cudnn())}


def _repeat(x: torch.Tensor, groups: int) -> torch.Tensor:
    """(B, H_kv, L, d) → (B, H_kv·groups, L, d): query head h reads key head h // groups."""
    return x if groups == 1 else x.repeat_interleave(groups, dim=1)


def _fold_groups(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Gradient of _repeat: (B, H, L, d) → (B, H/groups, L, d), summed over each group."""
    if groups == 1:
        return x
    b, h, n, d = x.shape
    return x.reshape(b, h // groups, groups, n, d).sum(2)


def _within_token(q, k, depth: int, scale: float):
    """Scores of the keys the element-causal call misses, (B, H_kv, G, N, D, D) in float32 (float64 for
    float64 inputs): entry [k, l] is q_(i,k)·k_(i,l)·scale for l > k, −inf elsewhere."""
    b, h, n_sub, d = q.shape
    hk = k.shape[1]
    cdt = torch.promote_types(q.dtype, torch.float32)
    qt = q.reshape(b, hk, h // hk, n_sub // depth, depth, d).to(cdt)  # (B, H_kv, G, N, D, d)
    kt = k.reshape(b, hk, 1, n_sub // depth, depth, d).to(cdt)  # (B, H_kv, 1, N, D, d)
    s = (qt @ kt.transpose(-1, -2)) * scale  # (B, H_kv, G, N, D, D)
    later = torch.ones(depth, depth, dtype=torch.bool, device=q.device).triu(1)  # l > k
    return s.masked_fill(~later, float("-inf")), qt, kt


class _TokenCausal(torch.autograd.Function):
    """q (B, H, L, d), k (B, H_kv, L, d), v (B, H_kv, L, d_v) in token-major sub-token order → (B, H, L, d_v)."""

    @staticmethod
    def forward(ctx, q, k, v, depth: int, scale: float, kernel: _Kernel):
        b, h, n_sub, _ = q.shape
        hk, dv = k.shape[1], v.shape[-1]
        groups = h // hk
        out_a, lse_a, state = kernel.forward(q, _repeat(k, groups), _repeat(v, groups), scale)
        s, _, _ = _within_token(q, k, depth, scale)
        cdt = s.dtype
        lse_b = s.logsumexp(-1)  # (B, H_kv, G, N, D); −inf for the last platter
        lse = torch.logaddexp(lse_a.reshape(b, h, n_sub).to(cdt), lse_b.reshape(b, h, n_sub))  # (B, H, L)
        p = torch.exp(s - lse.view(s.shape[:-1])[..., None])
        vt = v.reshape(b, hk, 1, n_sub // depth, depth, dv).to(cdt)
        out = (torch.exp(lse_a.reshape(b, h, n_sub).to(cdt) - lse)[..., None] * out_a.to(cdt)
               + (p @ vt).reshape(b, h, n_sub, dv)).to(q.dtype)
        # the kernel's backward reads the lse in the layout it wrote it
        lse_kernel = torch.empty_like(lse_a)
        lse_kernel.copy_(lse.reshape(lse_a.shape))
        ctx.save_for_backward(q, k, v, out, lse_kernel)
        ctx.state, ctx.depth, ctx.scale, ctx.kernel = state, depth, scale, kernel
        return out

    @staticmethod
    def backward(ctx, dout):
        q, k, v, out, lse_kernel = ctx.saved_tensors
        depth, scale = ctx.depth, ctx.scale
        b, h, n_sub, _ = q.shape
        hk, dv = k.shape[1], v.shape[-1]
        groups = h // hk
        dout = dout.contiguous()
        dq, dk, dvv = ctx.kernel.backward(dout, q, _repeat(k, groups), _repeat(v, groups), out, lse_kernel,
                                          ctx.state, scale)
        dk, dvv = _fold_groups(dk, groups), _fold_groups(dvv, groups)
        s, qt, kt = _within_token(q, k, depth, scale)
        cdt = s.dtype
        lse = lse_kernel.reshape(s.shape[:-1]).to(cdt)
        p = torch.exp(s - lse[..., None])  # (B, H_kv, G, N, D, D), 0 off the triangle
        shape = (b, hk, groups, n_sub // depth, depth, dv)
        do = dout.view(shape).to(cdt)
        vt = v.reshape(b, hk, 1, n_sub // depth, depth, dv).to(cdt)
        rowsum = (do * out.view(shape).to(cdt)).sum(-1, keepdim=True)  # (…, D, 1)
        ds = p * (do @ vt.transpose(-1, -2) - rowsum)
        dq_b = (ds @ kt) * scale  # (B, H_kv, G, N, D, d)
        dk_b = ((ds.transpose(-1, -2) @ qt) * scale).sum(2)  # (B, H_kv, N, D, d)
        dv_b = (p.transpose(-1, -2) @ do).sum(2)  # (B, H_kv, N, D, d_v)
        dq = dq + dq_b.reshape(q.shape).to(dq.dtype)
        dk = dk + dk_b.reshape(k.shape).to(dk.dtype)
        dvv = dvv + dv_b.reshape(v.shape).to(dvv.dtype)
        return dq, dk, dvv, None, None, None


def token_causal(q, k, v, depth: int, scale: float, kernel: _Kernel) -> torch.Tensor:
    """Token-causal attention (L = N·D sub-tokens, token-major; no bias beyond what q·k carries)."""
    return _TokenCausal.apply(q, k, v, depth, scale, kernel)


# -- choosing and checking a kernel -------------------------------------------------------------

def _sdpa_choice(q, k, v) -> str | None:
    """The fused backend SDPA itself would run for these head dims and dtype (causal), or None."""
    from torch.nn.attention import SDPBackend

    try:
        choice = int(torch._fused_sdp_choice(q, k, v, None, 0.0, True, scale=1.0))
    except Exception:  # an older or newer signature: let the candidates below decide
        return None
    return {int(SDPBackend.CUDNN_ATTENTION): "cudnn", int(SDPBackend.FLASH_ATTENTION): "flash"}.get(choice)


_CHOSEN: dict[tuple, tuple[str, bool] | None] = {}


def kernel_for(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[_Kernel, bool] | str:
    """(kernel, whether q, k and v must be padded to one width) for these tensors, or why none can run.

    CPU: torch's flash kernel (equal widths). CUDA: first what SDPA itself would pick for (q, k, v) and
    for the equal-width tensors, then cuDNN and flash; the first that passes `_self_check` (once per
    kernel, dtype and widths) is used from then on for these widths.
    """
    if q.device.type == "cpu":
        if q.dtype not in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
            return f"no CPU flash kernel for {q.dtype}"
        return KERNELS["cpu_flash"], v.shape[-1] != q.shape[-1]
    if q.device.type != "cuda":
        return f"no fused kernel with log-sum-exp on {q.device.type}"
    return _pick(q, k, v)


def _pick(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> tuple[_Kernel, bool] | str:
    """The CUDA candidates of `kernel_for`, in order, each checked once; the outcome cached per widths."""
    from .fused import equal_widths

    key = (q.device.index, q.dtype, q.shape[-1], v.shape[-1], FORCE_KERNEL)
    if key not in _CHOSEN:
        one = (q[:1, :1], k[:1, :1], v[:1, :1])  # the choice depends on dims, dtype and device only
        same = equal_widths(*one)
        candidates = [(_sdpa_choice(*one), False), (_sdpa_choice(*same), True),
                      ("cudnn", False), ("cudnn", True), ("flash", True)]
        _CHOSEN[key] = None
        for name, equal in dict.fromkeys(candidates):
            if name is None or (FORCE_KERNEL and name != FORCE_KERNEL):
                continue
            widths = (same if equal else one)[0].shape[-1], (same if equal else one)[2].shape[-1]
            if name == "flash" and widths[0] != widths[1]:
                continue
            check = (name, q.device.index, q.dtype, *widths)
            if check not in _VALIDATED:
                _VALIDATED[check] = _self_check(KERNELS[name], q.device, q.dtype, *widths)
            if _VALIDATED[check]:
                _CHOSEN[key] = (name, equal)
                break
    chosen = _CHOSEN[key]
    if chosen is None:
        return "no fused CUDA kernel (cuDNN or flash) passed its check for these head dims and dtype"
    return KERNELS[chosen[0]], chosen[1]


def reference(q, k, v, depth: int, scale: float) -> torch.Tensor:
    """Token-causal attention computed densely in float32 (float64 for float64 inputs): the check's yardstick."""
    cdt = torch.promote_types(q.dtype, torch.float32)
    groups = q.shape[1] // k.shape[1]
    q, k, v = q.to(cdt), _repeat(k, groups).to(cdt), _repeat(v, groups).to(cdt)
    n_sub = q.shape[2]
    tok = torch.arange(n_sub, device=q.device) // depth
    s = (q @ k.transpose(-1, -2)) * scale
    s = s.masked_fill(tok[None, :] > tok[:, None], float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def _self_check(kernel: _Kernel, device, dtype, width: int, v_width: int) -> bool:
    """Does `kernel` inside the merge reproduce `reference`, forward and backward, on a small problem?"""
    try:
        with torch.inference_mode(False), torch.enable_grad():
            g = torch.Generator(device="cpu").manual_seed(0)
            depth, n = 4, 80  # 320 sub-tokens: not a multiple of the kernels' tiles

            def rand(*shape):
                return torch.randn(*shape, generator=g).to(device=device, dtype=dtype).requires_grad_()

            q, k, v = rand(1, 4, n * depth, width), rand(1, 2, n * depth, width), rand(1, 2, n * depth, v_width)
            scale = width ** -0.5
            dout = torch.randn(1, 4, n * depth, v_width, generator=g).to(device=device, dtype=dtype)
            got = token_causal(q, k, v, depth, scale, kernel)
            got_grads = torch.autograd.grad(got, (q, k, v), dout)
            want = reference(q, k, v, depth, scale)
            want_grads = torch.autograd.grad(want, (q, k, v), dout.float())
        for a, w in zip((got, *got_grads), (want, *want_grads), strict=True):
            w = w.float()
            if not torch.isfinite(a).all() or (a.float() - w).abs().max() > 0.03 + 0.05 * w.abs().max():
                return False
        return True
    except Exception:  # a kernel this torch build or GPU lacks: fall back, never fail the call
        return False
