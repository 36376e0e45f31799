"""`tbench train`: data mixes, the loop on accelerate, checkpoints, and saving a model that reloads
as `local:DIR`. Importing this package is cheap; torch loads when a run starts.

    from toroidal_bench.training import TrainConfig, train
    train(TrainConfig(model="random:llama-tiny+toroidal(depth=2)", steps=50, length=128), "ckpt/tor")
"""

from __future__ import annotations

from .config import TrainConfig, build_config
from .loop import Reporter, TrainSummary, prepare, train

__all__ = ["Reporter", "TrainConfig", "TrainSummary", "build_config", "prepare", "train"]
