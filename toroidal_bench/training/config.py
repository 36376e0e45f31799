"""What one training run is: a frozen, validated `TrainConfig`, built from a recipe YAML and/or options.

A recipe (`ref/recipes/rope.yaml`) is data only, one key per field below; command-line options
override it. Every check runs here, before a model loads: a bad value is one UsageError line.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError

PRECISIONS = ("auto", "no", "bf16", "fp16")
SAVE_DTYPES = ("fp32", "bf16", "fp16")
#: a cap that keeps a typo (an extra zero) from asking for months of compute
MAX_STEPS = 10_000_000


@dataclass(frozen=True)
class TrainConfig:
    model: str  # the spec to train, e.g. 'random:llama-ref+alibi' or 'local:ckpt/base+toroidal(layers=0)'
    data: str = "shakespeare"  # a mix: 'shakespeare+passkey', 'shakespeare*3+niah', a path, a hub id
    steps: int = 1000  # optimizer steps
    length: int = 1024  # training length: LM windows are this long, synthetic samples at most this
    min_length: int = 256  # synthetic samples draw their length uniformly from [min_length, length]
    batch_size: int = 8  # sequences per micro-batch and process
    grad_accum: int = 1  # micro-batches per optimizer step
    lr: float = 1e-3
    min_lr_ratio: float = 0.1  # cosine decay ends at lr · min_lr_ratio
    warmup: int | None = None  # linear warm-up steps (default: 5 % of steps, at most 200)
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    answer_weight: float = 1.0  # loss weight of answer tokens in synthetic retrieval samples
    trainable: str = "all"  # all | encoding | layers=0,3 | a parameter-name pattern
    seed: int = 0  # data order and dropout (the model's initialisation seed is in its spec)
    precision: str = "auto"  # auto (bf16 on GPU, none on CPU) | no | bf16 | fp16
    attn: str | None = None
    compile: bool = False  # torch.compile the model
    save_dtype: str = "fp32"  # dtype of the saved weights (bf16 halves the size)
    log_every: int = 10
    checkpoint_every: int = 500
    keep_checkpoints: bool = False  # keep checkpoints/ after a finished run (else only the model stays)
    name: str = ""  # a label (the recipe's file name); recorded in the model manifest
    description: str = ""

    def __post_init__(self) -> None:
        _positive(self, "steps", "length", "min_length", "batch_size", "grad_accum", "log_every", "checkpoint_every")
        if self.steps > MAX_STEPS:
            raise UsageError(f"--steps {self.steps} is more than {MAX_STEPS}")
        if self.min_length > self.length:
            object.__setattr__(self, "min_length", self.length)
        for key in ("lr", "answer_weight"):
            if not getattr(self, key) > 0:
                raise UsageError(f"{key} must be > 0, got {getattr(self, key)}")
        for key in ("weight_decay", "grad_clip"):
            if getattr(self, key) < 0:
                raise UsageError(f"{key} must be ≥ 0, got {getattr(self, key)}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise UsageError(f"min_lr_ratio must lie in [0, 1], got {self.min_lr_ratio}")
        if self.warmup is not None and not 0 <= self.warmup <= self.steps:
            raise UsageError(f"warmup must lie in [0, steps], got {self.warmup}")
        if self.precision not in PRECISIONS:
            raise UsageError(f"unknown precision '{self.precision}'", f"valid: {', '.join(PRECISIONS)}")
        if self.save_dtype not in SAVE_DTYPES:
            raise UsageError(f"unknown save dtype '{self.save_dtype}'", f"valid: {', '.join(SAVE_DTYPES)}")

    @property
    def warmup_steps(self) -> int:
        return self.warmup if self.warmup is not None else min(200, self.steps // 20)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def differences(self, other: TrainConfig) -> list[str]:
        """Fields that change the run's result (logging and checkpoint cadence do not)."""
        free = {"log_every", "checkpoint_every", "keep_checkpoints", "description"}
        return [f.name for f in dataclasses.fields(self)
                if f.name not in free and getattr(self, f.name) != getattr(other, f.name)]


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def build_config(recipe: Path | None, overrides: dict[str, Any]) -> TrainConfig:
    """Recipe values, then the options that were given (None = not given)."""
    values: dict[str, Any] = {}
    if recipe is not None:
        values.update(read_recipe(recipe))
        values.setdefault("name", recipe.stem)
    values.update({k: v for k, v in overrides.items() if v is not None})
    if not values.get("model"):
        raise UsageError("no model spec to train", "pass SPEC or --recipe FILE (see `tbench train --help`)")
    return _construct(values, str(recipe) if recipe else "the options")


def read_recipe(path: Path) -> dict[str, Any]:
    from ..tasks.catalog import read_yaml

    if not path.is_file():
        raise UsageError(f"no recipe at '{path}'", "recipes live in ref/recipes/*.yaml")
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise UsageError(f"recipe {path} must be a mapping of training settings")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        from ..errors import did_you_mean

        close = did_you_mean(unknown[0], FIELDS)
        raise UsageError(f"recipe {path} has unknown key '{unknown[0]}'",
                         f"did you mean '{close}'?" if close else f"valid keys: {', '.join(FIELDS)}")
    return data


def load_saved_config(path: Path) -> TrainConfig:
    try:
        return _construct(json.loads(path.read_text(encoding="utf-8")), str(path))
    except (OSError, ValueError) as exc:
        raise UsageError(f"unreadable training config {path}: {exc}") from None


def _construct(values: dict[str, Any], where: str) -> TrainConfig:
    for key, value in values.items():
        want = FIELDS[key].type
        ok = {"int": _is_int, "float": _is_number, "bool": lambda v: isinstance(v, bool),
              "str": lambda v: isinstance(v, str)}
        base = str(want).replace(" | None", "")
        if value is None and "None" in str(want):
            continue
        if base in ok and not ok[base](value):
            raise UsageError(f"{key}: {value!r} in {where} is not a{'n' if base == 'int' else ''} {base}")
    if isinstance(values.get("lr"), int):
        values = {**values, "lr": float(values["lr"])}
    return TrainConfig(**values)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _positive(cfg: TrainConfig, *keys: str) -> None:
    for key in keys:
        if getattr(cfg, key) < 1:
            raise UsageError(f"{key} must be ≥ 1, got {getattr(cfg, key)}")
