"""How much device memory a generation batch takes per row, and so how many rows a decode group and
its prefill sub-batches may have (pure arithmetic on the model's config; `free_memory` reads the
device)."""

from __future__ import annotations

from typing import Any

import torch

from . import architecture

#: rows of one generation batch at most (bounds the logits and the graph's buffers)
MAX_ROWS = 256


def kv_bytes_per_token(model: Any) -> int:
    """Bytes of keys and values one token holds in the cache, over all layers."""
    cfg = model.config
    kv_heads = getattr(cfg, "num_key_value_heads", None) or cfg.num_attention_heads
    itemsize = next(model.parameters()).element_size()
    return 2 * cfg.num_hidden_layers * kv_heads * architecture.head_dim(model) * itemsize


def cache_slots(tokens: int) -> int:
    """Static cache length for `tokens`: a length bucket, so batches of similar widths share a graph."""
    from ..attention.flex import bucket_length

    return bucket_length(tokens)


def row_bytes(model: Any, prompt: int, new: int, static: bool) -> int:
    """Device memory one row of a generation batch needs when it is prefilled and decoded in one batch:
    its KV cache (a static one is filled from the prefill's, which it briefly coexists with), the
    prefill's live activations and its logits."""
    if static:
        return kv_bytes_per_token(model) * cache_slots(prompt + new) + prefill_row_bytes(model, prompt)
    return kv_bytes_per_token(model) * new + prefill_row_bytes(model, prompt)


def prefill_row_bytes(model: Any, prompt: int) -> int:
    """Device memory one row of a prefill (sub-)batch takes while it runs: its DynamicCache, the live
    activations of one layer (hidden states, q/k/v, the MLP's two projections) and its logits."""
    cfg = model.config
    itemsize = next(model.parameters()).element_size()
    activations = itemsize * prompt * (4 * cfg.hidden_size + 2 * getattr(cfg, "intermediate_size", 4 * cfg.hidden_size))
    return kv_bytes_per_token(model) * prompt + activations + 8 * cfg.vocab_size


def decode_row_bytes(model: Any, prompt: int, new: int) -> int:
    """Device memory one row of a decode group holds through its generation: its static cache, one
    layer's keys and values repeated to every query head (attention functions that repeat them for a
    masked SDPA call) and its logits."""
    cfg = model.config
    slots = cache_slots(prompt + new)
    itemsize = next(model.parameters()).element_size()
    repeated = 2 * cfg.num_attention_heads * architecture.head_dim(model) * itemsize * slots
    return kv_bytes_per_token(model) * slots + repeated + 8 * cfg.vocab_size


def group_rows(budget: int | None, decode_row: int, prefill_row: int, prefill_rows: int,
               cap: int = MAX_ROWS) -> tuple[int, int]:
    """(rows of a decode group, rows of each of its prefill sub-batches) when `budget` device bytes
    hold the group's decode rows plus one prefill sub-batch at a time. `prefill_rows`: what the token
    budget allows a sub-batch; cut to what fits beside as many decode rows. No budget: no limit but `cap`."""
    prefill_rows = max(1, min(prefill_rows, cap))
    if budget is None:
        return cap, prefill_rows
    prefill_rows = max(1, min(prefill_rows, budget // (prefill_row + decode_row)))
    rows = (budget - prefill_rows * prefill_row) // decode_row
    return max(prefill_rows, min(cap, rows)), prefill_rows


def group_sizes(n: int, rows: int) -> list[int]:
    """`n` rows split into groups of at most `rows`, as even as can be: at most two sizes, so at most
    two captured graphs (100 rows under a cap of 64: 50 + 50, not 64 + 36)."""
    k = -(-n // max(1, rows))
    return [n // k + (i < n % k) for i in range(k)]


def free_memory(device: torch.device, held: int = 0) -> int | None:
    """Bytes the next batch may take on `device`: free memory plus what the caching allocator holds
    unused plus `held` (a cache the next batch replaces), less a margin for fragmentation; None on
    the CPU (no budget)."""
    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    cached = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
    return int(0.7 * (free + cached + held))
