"""Memory and throughput of a forward pass, of decoding, and of streaming with a bounded cache.

CPU and GPU alike: time is wall-clock around synchronised calls; on CUDA `peak_bytes` is
torch.cuda.max_memory_allocated for the call, on CPU it is None (there is no per-call allocator
peak) and the process's RSS high-water mark is reported instead. `state_bytes` is exact on both:
every tensor held by the KV cache plus the attractor states — the memory a stream carries from one
token to the next.
"""

from __future__ import annotations

import resource
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from ..encodings.pi_spiral.attractor import state_bytes as attractor_bytes
from ..models.architecture import cache_keyword


@dataclass(frozen=True)
class PassProfile:
    kind: str  # prefill | decode
    length: int  # prompt tokens (prefill) or tokens generated (decode)
    seconds: float
    tokens_per_s: float
    state_bytes: int
    peak_bytes: int | None
    max_rss_bytes: int
    device: str

    def row(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class StreamPoint:
    step: int  # tokens processed so far
    kv_bytes: int
    attractor_bytes: int
    window: int | None

    @property
    def total(self) -> int:
        return self.kv_bytes + self.attractor_bytes

    def row(self) -> dict:
        return {**asdict(self), "total": self.total}


def cache_bytes(cache) -> int:
    """Bytes of every key/value tensor held by a transformers Cache."""
    total = 0
    for layer in getattr(cache, "layers", []):
        for t in (getattr(layer, "keys", None), getattr(layer, "values", None)):
            if isinstance(t, torch.Tensor):
                total += t.numel() * t.element_size()
    return total


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def _tokens(length: int, batch: int, device, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(3, 256, (batch, length), generator=g).to(device)


@torch.inference_mode()
def prefill_profile(model: Any, lengths: list[int], batch: int = 1, repeats: int = 2) -> list[PassProfile]:
    """One forward pass (with a cache, logits of the last token only) per length; best of `repeats`."""
    from transformers import DynamicCache

    device = next(model.parameters()).device
    rows = []
    for length in lengths:
        ids = _tokens(length, batch, device)
        best, state, peak = float("inf"), 0, None
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            cache = DynamicCache(config=model.config)
            _sync(device)
            t0 = time.perf_counter()
            model(input_ids=ids, **{cache_keyword(): cache}, use_cache=True, logits_to_keep=1)
            _sync(device)
            best = min(best, time.perf_counter() - t0)
            state = cache_bytes(cache) + attractor_bytes(cache)
            if device.type == "cuda":
                peak = int(torch.cuda.max_memory_allocated(device))
        rows.append(PassProfile("prefill", length, best, batch * length / best, state, peak, _rss(), str(device)))
    return rows


@torch.inference_mode()
def decode_profile(model: Any, prompt: int, new_tokens: int, batch: int = 1) -> PassProfile:
    """Greedy decoding of `new_tokens` after a `prompt`-token prefill, one token per forward."""
    from transformers import DynamicCache

    device = next(model.parameters()).device
    ids = _tokens(prompt, batch, device)
    cache = DynamicCache(config=model.config)
    logits = model(input_ids=ids, **{cache_keyword(): cache}, use_cache=True, logits_to_keep=1).logits
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(new_tokens):
        nxt = logits[:, -1:].argmax(-1)
        logits = model(input_ids=nxt, **{cache_keyword(): cache}, use_cache=True).logits
    _sync(device)
    dt = time.perf_counter() - t0
    peak = int(torch.cuda.max_memory_allocated(device)) if device.type == "cuda" else None
    return PassProfile("decode", new_tokens, dt, batch * new_tokens / dt,
                       cache_bytes(cache) + attractor_bytes(cache), peak, _rss(), str(device))


@torch.inference_mode()
def streaming_memory(model: Any, n_tokens: int, window: int | None = None, every: int = 1,
                     seed: int = 0) -> list[StreamPoint]:
    """Feed `n_tokens` one at a time; record the carried state every `every` tokens.

    window=None keeps every key (memory grows with the stream); window=W keeps the last W keys per
    layer, and the attractor summarises everything older: memory stays flat once W is reached.
    """
    from transformers import DynamicCache
    from transformers.cache_utils import Cache, DynamicSlidingWindowLayer

    device = next(model.parameters()).device
    n_layers = model.config.num_hidden_layers
    if window is None:
        cache = DynamicCache(config=model.config)
    else:
        cache = Cache(layers=[DynamicSlidingWindowLayer(sliding_window=window) for _ in range(n_layers)])
    ids = _tokens(n_tokens, 1, device, seed)
    points = []
    for t in range(n_tokens):
        model(input_ids=ids[:, t:t + 1], position_ids=torch.tensor([[t]], device=device),
              **{cache_keyword(): cache}, use_cache=True)
        if (t + 1) % every == 0 or t + 1 == n_tokens:
            points.append(StreamPoint(t + 1, cache_bytes(cache), attractor_bytes(cache), window))
    return points
