"""Shared pieces of the speed benchmarks: the model under test, timing, memory and MFU.

Benchmarks report ratios measured in one run on one named device; they are never unit tests.
"""

from __future__ import annotations

import json
import platform
import time
from contextlib import contextmanager

import torch

H100_BF16_PEAK = 989.4e12  # dense bf16 FLOP/s, H100 SXM datasheet

#: Qwen2-0.5B architecture (random weights are fine for speed)
QWEN2_05B = dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                 num_key_value_heads=2, vocab_size=151936, max_position_embeddings=131072,
                 tie_word_embeddings=True, rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                 bos_token_id=1, eos_token_id=2, pad_token_id=0)


def qwen2_05b(device="cuda", dtype=torch.bfloat16, attn="sdpa", shape: dict | None = None):
    """A random-init Qwen2 (seed 0) built on `device`: the 0.5B shape, or `shape` (a smoke size)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.for_model("qwen2", **(shape or QWEN2_05B))
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(cfg, dtype=dtype, attn_implementation=attn)
    return model.eval()


def flops_per_token(model, context: int) -> float:
    """2·(matmul params) + causal attention (q·k and p·v over context/2 keys on average)."""
    cfg = model.config
    matmul = sum(p.numel() for n, p in model.named_parameters() if p.dim() == 2 and "embed_tokens" not in n)
    if cfg.tie_word_embeddings:
        matmul += model.get_output_embeddings().weight.numel()
    head_dim = cfg.hidden_size // cfg.num_attention_heads
    attn = 2 * 2 * cfg.num_hidden_layers * cfg.num_attention_heads * head_dim * (context / 2)
    return 2 * matmul + attn


@contextmanager
def measure():
    """Yields a dict filled with wall seconds and peak CUDA memory (GiB) of the block."""
    out: dict = {}
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    t = time.perf_counter()
    yield out
    torch.cuda.synchronize()
    out["seconds"] = time.perf_counter() - t
    out["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
    out["peak_over_weights_gib"] = (torch.cuda.max_memory_allocated() - base) / 2**30


def ascii_docs(n: int, length: int, seed: int = 0) -> list[list[int]]:
    """Token ids of printable ASCII in the byte tokenizer: decode → encode round-trips exactly."""
    from toroidal_bench.models.byte_tokenizer import byte_tokenizer

    tok = byte_tokenizer()
    g = torch.Generator().manual_seed(seed)
    printable = torch.tensor(tok(" ~" + "".join(chr(c) for c in range(33, 126)), add_special_tokens=False)["input_ids"])
    return [printable[torch.randint(len(printable), (length,), generator=g)].tolist() for _ in range(n)]


def environment() -> dict:
    import transformers

    return {"device": torch.cuda.get_device_name(0), "torch": torch.__version__,
            "transformers": transformers.__version__, "python": platform.python_version(),
            "cudnn": torch.backends.cudnn.version()}


def dump(path: str, data: dict) -> None:
    with open(path, "w") as fh:
        json.dump(data, fh, indent=2)
