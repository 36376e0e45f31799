"""The training loop, on Hugging Face `accelerate`: mixed precision, gradient accumulation, and
DDP/FSDP when started by `accelerate launch` or `torchrun` (accelerate reads the environment they set;
tbench has no distributed code of its own).

    spec ─load_model─▶ patched model ─freeze (--trainable)─▶ AdamW, warm-up + cosine lr
      for step: grad_accum × (batch(step, micro, rank) → weighted next-token loss → backward)
                → clip → optimizer step → log row → checkpoint every N steps
      → save: a tbench model directory (safetensors, tokenizer, encodings) that `local:OUT` reloads

`prepare` checks everything that can be wrong with the input before a model loads.
"""

from __future__ import annotations

import json
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UsageError
from . import checkpoints
from .config import TrainConfig, load_saved_config
from .data import parse_mix
from .log import TrainLog
from .trainable import check_trainable

CONFIG_FILE = "train_config.json"


class Reporter:
    """Progress callbacks (the CLI draws them; the default is silent)."""

    def start(self, total_steps: int, first_step: int) -> None: ...
    def step(self, row: dict[str, Any]) -> None: ...
    def note(self, text: str) -> None: ...
    def stop(self) -> None: ...


@dataclass(frozen=True)
class TrainSummary:
    out: Path
    steps: int
    final_loss: float | None
    parameters: int
    trainable: int
    wall_s: float


def prepare(cfg: TrainConfig, out: Path, *, resume: bool = False, overwrite: bool = False):
    """Validate the run (spec, data mix, --trainable, output folder) without loading a model."""
    from ..models.loading import resolve

    resolved = resolve(cfg.model)
    parse_mix(cfg.data)
    check_trainable(cfg.trainable)
    out = Path(out)
    if resume and overwrite:
        raise UsageError("--resume and --overwrite exclude each other")
    saved = out / CONFIG_FILE
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out '{out}' is a file", "pass a folder for the trained model")
    if resume:
        if not saved.is_file():
            raise UsageError(f"nothing to resume in '{out}' (no {CONFIG_FILE})", "drop --resume to start the run")
        changed = load_saved_config(saved).differences(cfg)
        if changed:
            raise UsageError(f"--resume with different settings than the run in '{out}': {', '.join(changed)}",
                             "resume with the same options, or start a new --out")
    elif out.exists() and any(out.iterdir()) and not overwrite:
        raise UsageError(f"output folder '{out}' is not empty", "pass --resume to continue it or --overwrite")
    return resolved


def lr_at(cfg: TrainConfig, step: int) -> float:
    """Linear warm-up, then cosine decay to lr · min_lr_ratio at the last step."""
    warm = cfg.warmup_steps
    if step < warm:
        return cfg.lr * (step + 1) / warm
    progress = (step - warm) / max(1, cfg.steps - warm)
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + (cfg.lr - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def train(cfg: TrainConfig, out: Path, *, resume: bool = False, overwrite: bool = False,
          device: str | None = None, reporter: Reporter | None = None) -> TrainSummary:
    import shutil

    import torch
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from ..models import saved
    from ..models.loading import load_model
    from .card import write_card
    from .data import Mix
    from .trainable import apply_trainable

    reporter = reporter or Reporter()
    resolved = prepare(cfg, out, resume=resume, overwrite=overwrite)
    out = Path(out)
    cpu = device == "cpu" or (device is None and not torch.cuda.is_available())
    precision = cfg.precision if cfg.precision != "auto" else ("no" if cpu else "bf16")
    accelerator = Accelerator(cpu=cpu, mixed_precision=precision)
    set_seed(cfg.seed)
    if accelerator.is_main_process:
        if overwrite and out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG_FILE).write_text(json.dumps(cfg.to_json(), indent=2) + "\n")
    model, tokenizer = load_model(resolved, accelerator.device, torch.float32, attn=cfg.attn)
    model.train()
    names = set(apply_trainable(model, cfg.trainable, resolved.encodings))
    mix = Mix(cfg.data, tokenizer, length=cfg.length, min_length=cfg.min_length,
              answer_weight=cfg.answer_weight, seed=cfg.seed)
    optimizer = _optimizer(model, names, cfg, fused=not cpu)
    if cfg.compile:
        model = torch.compile(model)
    model, optimizer = accelerator.prepare(model, optimizer)
    log = TrainLog(out)
    found = checkpoints.latest(out) if resume else None
    first = found[0] if found else 0
    # the loader draws a seed from torch's RNG when it starts: start it before the RNG state is restored
    batches = _batches(mix, first, cfg, accelerator.process_index)
    if found:
        checkpoints.restore(accelerator, found[1])
        log.resume(first)
    counts = _counts(accelerator.unwrap_model(model))
    reporter.start(cfg.steps, first)
    if found:
        reporter.note(f"resumed from {found[1]} (step {first})")
    per_micro = cfg.batch_size * cfg.length * accelerator.num_processes
    t_session, t_last, tokens = time.perf_counter(), time.perf_counter(), first * cfg.grad_accum * per_micro
    loss_value = None
    for step in range(first, cfg.steps):
        for group in optimizer.param_groups:
            group["lr"] = lr_at(cfg, step)
        loss_sum = torch.zeros((), device=accelerator.device)
        for micro in range(cfg.grad_accum):
            ids, weights = (t.to(accelerator.device, non_blocking=True) for t in next(batches))
            sync = micro == cfg.grad_accum - 1
            with accelerator.no_sync(model) if not sync else nullcontext():
                loss = weighted_loss(model, ids, weights)
                accelerator.backward(loss / cfg.grad_accum)
            loss_sum += loss.detach()
        grad_norm = accelerator.clip_grad_norm_(model.parameters(), cfg.grad_clip or float("inf"))
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        tokens += per_micro * cfg.grad_accum
        done = step + 1
        if done % cfg.log_every == 0 or done == cfg.steps:
            loss_value = float(loss_sum) / cfg.grad_accum
            now = time.perf_counter()
            row = {"step": done, "loss": loss_value, "lr": lr_at(cfg, step), "grad_norm": float(grad_norm),
                   "tokens": tokens, "tokens_per_s": _rate(log, tokens, now - t_last),
                   "elapsed_s": log.elapsed_s + (now - t_last)}
            t_last = now
            if accelerator.is_main_process:
                log.append(row)
                reporter.step(row)
        if done % cfg.checkpoint_every == 0 and done < cfg.steps:
            checkpoints.save(accelerator, out, done)
            if accelerator.is_main_process:
                log.write()
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        log.write()
        bare = accelerator.unwrap_model(model)
        extra = {"name": cfg.name, "train_length": cfg.length, "data": cfg.data, "steps": cfg.steps,
                 "tokens": tokens, "parameters": counts[0], "trainable": counts[1], "seed": cfg.seed,
                 "device": _device_name(accelerator.device), "processes": accelerator.num_processes,
                 "precision": precision, "train_s": round(log.elapsed_s, 1)}
        saved.save(bare, tokenizer, out, base=resolved.spec.model.canonical(), encodings=list(resolved.encodings),
                   dtype=_dtype(cfg.save_dtype), extra=extra)
        write_card(out)
        if not cfg.keep_checkpoints:
            checkpoints.remove_all(out)
    reporter.stop()
    return TrainSummary(out, cfg.steps, loss_value, counts[0], counts[1], time.perf_counter() - t_session)


def weighted_loss(model: Any, ids: Any, weights: Any) -> Any:
    """Σ w·(−log p(token)) / Σ w over next-token predictions; the logits are upcast per token only."""
    import torch.nn.functional as F

    logits = model(input_ids=ids, use_cache=False).logits[:, :-1]  # (B, T−1, V)
    nll = F.cross_entropy(logits.flatten(0, 1).float(), ids[:, 1:].flatten(), reduction="none")
    w = weights[:, 1:].flatten()
    return (nll * w).sum() / w.sum().clamp_min(1.0)


def _optimizer(model: Any, names: set[str], cfg: TrainConfig, fused: bool):
    import torch

    decay, rest = [], []
    for name, p in model.named_parameters():
        if name in names:
            (decay if p.ndim >= 2 else rest).append(p)  # no decay on norms, biases, scalars
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), fused=fused)


def _batches(mix: Any, first: int, cfg: TrainConfig, rank: int):
    """Batches from `first` on, built ahead by a worker process on GPU runs (the data is CPU work)."""
    import torch
    from torch.utils.data import DataLoader, IterableDataset

    class Steps(IterableDataset):
        def __iter__(self):
            for step in range(first, cfg.steps):
                for micro in range(cfg.grad_accum):
                    ids, w = mix.batch(step, micro, rank, cfg.batch_size)
                    yield torch.from_numpy(ids), torch.from_numpy(w)

    workers = 1 if torch.cuda.is_available() else 0
    return iter(DataLoader(Steps(), batch_size=None, num_workers=workers, pin_memory=workers > 0,
                           prefetch_factor=8 if workers else None))


def _counts(model: Any) -> tuple[int, int]:
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def _rate(log: TrainLog, tokens: int, seconds: float) -> float:
    before = log.rows[-1]["tokens"] if log.rows else 0
    return (tokens - before) / seconds if seconds > 0 else 0.0


def _device_name(device: Any) -> str:
    import torch

    return torch.cuda.get_device_name(device) if str(device).startswith("cuda") else "cpu"


def _dtype(name: str):
    import torch

    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[name]
