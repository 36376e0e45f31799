"""Save a random-init Qwen2-0.5B-shaped model with the byte tokenizer as a local model folder, so
whole tbench runs (`local:DIR`) can be timed at that shape: `python benchmarks/save_qwen2_05b.py DIR`.
The weights are random; only the shape (and so the cost) is Qwen2-0.5B's."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from common import qwen2_05b


def main(out: Path) -> None:
    from toroidal_bench.models import load

    tokenizer = load("random:qwen2-tiny", device="cpu").tokenizer  # the byte tokenizer
    model = qwen2_05b("cpu", torch.bfloat16)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    print(f"saved {sum(p.numel() for p in model.parameters()) / 1e6:.0f}M parameters to {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
