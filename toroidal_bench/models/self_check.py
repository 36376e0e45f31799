"""A patched model's self-check: the answers it gives must not depend on how it is asked.

Before a model serves its first cell, a short random input goes through three routes that must
agree for any causal LM: one full forward pass; a prefill followed by one-token steps through the
KV cache (the route `generate` takes); and a left-padded batch, compared with each row alone.
A patched layer that loses the cache (a keyword renamed by a transformers release), leaks padding
or depends on the current length shows up here as a large difference, long before it shows up as a
silently wrong score. The check costs a dozen forward passes of 24 tokens.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from . import architecture

LENGTH = 24
PREFILL = 16
#: largest mean |Δlogit| tolerated, relative to the spread of the reference logits. Means, not maxima:
#: bf16 kernels differ by rounding in a few logits, a lost cache shifts every logit of every step.
#: Measured (benchmarks/self_check_gpu.py, docs/encodings.md): correct models ≤ 1e-6 in fp32 and
#: ≤ 5e-3 in bf16; a lost cache ≥ 2e-2.
TOLERANCE = {torch.float32: 1e-4, torch.bfloat16: 1e-2, torch.float16: 1e-2}


@dataclass(frozen=True)
class SelfCheck:
    passed: bool
    decode_diff: float  # mean |Δlogit| between full prefill and cached decoding steps, ÷ logit spread
    batch_diff: float  # mean |Δlogit| between a padded batch and the rows alone, ÷ logit spread
    tolerance: float
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def failure(self, spec: str) -> str:
        import transformers

        routes = [name for name, d in (("KV-cached decoding", self.decode_diff),
                                       ("a padded batch", self.batch_diff)) if not d <= self.tolerance]
        return (f"self-check failed for '{spec}': {' and '.join(routes)} disagree with a full forward pass "
                f"(relative difference {max(self.decode_diff, self.batch_diff):.3g} > {self.tolerance:g}) "
                f"under transformers {transformers.__version__}; its scores would be wrong")


@torch.inference_mode()
def self_check(model: Any, seed: int = 0) -> SelfCheck:
    """Compare full prefill, cached decoding and padded batching on a short random input."""
    from transformers import DynamicCache

    from .runner import positions

    t0 = time.perf_counter()
    device = next(model.parameters()).device
    dtype = next(model.parameters()).dtype
    vocab = int(model.config.vocab_size)
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(min(3, vocab - 1), vocab, (2, LENGTH), generator=g).to(device)  # (2, L)

    full = model(input_ids=ids, use_cache=False).logits.float()  # (2, L, V)
    scale = float(full.std()) + 1e-6

    cache = DynamicCache(config=model.config)
    kw = architecture.cache_keyword()
    steps = [model(input_ids=ids[:, :PREFILL], use_cache=True, **{kw: cache}).logits]
    for t in range(PREFILL, LENGTH):
        steps.append(model(input_ids=ids[:, t:t + 1], use_cache=True, **{kw: cache}).logits)
    decoded = torch.cat(steps, dim=1).float()
    decode_diff = float((decoded - full)[:, PREFILL:].abs().mean()) / scale  # the steps after the prefill

    short = LENGTH - 5  # row 1 left-padded by 5 tokens
    mask = torch.ones_like(ids)
    mask[1, :LENGTH - short] = 0
    padded_ids = ids.clone()
    padded_ids[1, :LENGTH - short] = ids[1, -short:][0]  # any token: masked out
    padded_ids[1, LENGTH - short:] = ids[1, -short:]
    batch = model(input_ids=padded_ids, attention_mask=mask, position_ids=positions(mask), use_cache=False)
    alone = model(input_ids=ids[1:, -short:], use_cache=False).logits.float()
    batch_diff = max(float((batch.logits[0].float() - full[0]).abs().mean()),
                     float((batch.logits[1, -short:].float() - alone[0]).abs().mean())) / scale

    tol = TOLERANCE.get(dtype, 1e-3)
    return SelfCheck(decode_diff <= tol and batch_diff <= tol, decode_diff, batch_diff, tol,
                     time.perf_counter() - t0)
