"""`tbench train SPEC --out DIR` and `tbench train --recipe FILE --out DIR`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from . import options as o
from .errors import handles_errors
from .output import err_console


def _opt(*names: str, help: str):
    return typer.Option(*names, help=help)


@handles_errors
def train(
    out: Annotated[Path, _opt("--out", "-o", help="Folder for the trained model (reload it as local:DIR).")],
    spec: Annotated[str | None, typer.Argument(help="Model spec to train (or give --recipe).")] = None,
    recipe: Annotated[Path | None, _opt("--recipe", help="Recipe YAML (e.g. ref/recipes/rope.yaml); "
                                                         "options below override it.")] = None,
    data: Annotated[str | None, _opt("--data", help="Data mix: shakespeare (default), passkey, niah, periodic, "
                                                   "wikitext2, openwebtext, pg19, a .txt/.jsonl/folder; "
                                                   "join with +, weight with *N: 'shakespeare*3+passkey'.")] = None,
    steps: Annotated[int | None, _opt("--steps", help="Optimizer steps (default 1000).")] = None,
    length: Annotated[int | None, _opt("--length", "-L", help="Training length in tokens (default 1024).")] = None,
    min_length: Annotated[int | None, _opt("--min-length", help="Shortest synthetic sample (default 256).")] = None,
    batch_size: Annotated[int | None, _opt("--batch-size", "-b", help="Sequences per micro-batch and process.")]
    = None,
    grad_accum: Annotated[int | None, _opt("--grad-accum", help="Micro-batches per optimizer step.")] = None,
    lr: Annotated[float | None, _opt("--lr", help="Peak learning rate (default 1e-3).")] = None,
    warmup: Annotated[int | None, _opt("--warmup", help="Warm-up steps (default 5 % of steps, ≤ 200).")] = None,
    answer_weight: Annotated[float | None, _opt("--answer-weight", help="Loss weight of answer tokens in "
                                                                        "synthetic samples (e.g. 20).")] = None,
    trainable: Annotated[str | None, _opt("--trainable", help="all | encoding | layers=0,3 | name pattern.")]
    = None,
    seed: Annotated[int | None, _opt("--seed", help="Data order and dropout seed.")] = None,
    precision: Annotated[str | None, _opt("--precision", help="auto | no | bf16 | fp16.")] = None,
    save_dtype: Annotated[str | None, _opt("--save-dtype", help="fp32 | bf16 | fp16 for the saved weights.")]
    = None,
    compile: Annotated[bool, _opt("--compile", help="torch.compile the model.")] = False,
    attn: o.Attn = None,
    log_every: Annotated[int | None, _opt("--log-every", help="Steps between log rows.")] = None,
    checkpoint_every: Annotated[int | None, _opt("--checkpoint-every", help="Steps between checkpoints.")] = None,
    keep_checkpoints: Annotated[bool, _opt("--keep-checkpoints", help="Keep checkpoints/ when done.")] = False,
    device: Annotated[str | None, _opt("--device", help="cpu to force the CPU (default: the GPU if any).")] = None,
    resume: Annotated[bool, _opt("--resume", help="Continue the run in --out from its newest checkpoint.")]
    = False,
    overwrite: Annotated[bool, _opt("--overwrite", help="Replace a non-empty --out.")] = False,
) -> None:
    """Train SPEC (random init, or a checkpoint with an encoding injected) and save it to --out."""
    given = {k: (None if v is False else v) for k, v in locals().items()}  # an unset flag keeps the recipe's
    from ..training import build_config, prepare
    from ..training import train as run
    from ..training.config import FIELDS

    cfg = build_config(recipe, {"model": spec, **{k: v for k, v in given.items() if k in FIELDS}})
    if device not in (None, "cpu") and not str(device).startswith("cuda"):
        from ..errors import UsageError

        raise UsageError(f"unknown device '{device}'", "use cpu, or launch on GPUs with accelerate/torchrun")
    prepare(cfg, out, resume=resume, overwrite=overwrite)  # every input check, before a model loads
    summary = run(cfg, out, resume=resume, overwrite=overwrite, device=device, reporter=progress_reporter())
    loss = f"{summary.final_loss:.4f}" if summary.final_loss is not None else "—"
    err_console.print(f"saved [bold]{summary.out}[/] ({summary.parameters:,} parameters, "
                      f"{summary.trainable:,} trained; final loss {loss}; {summary.wall_s:.0f}s) — "
                      f"evaluate it as local:{summary.out}", highlight=False)


def progress_reporter():
    from ..training import Reporter

    class Rich(Reporter):
        """A bar with loss and ETA on a terminal; one plain line per log row otherwise."""

        def __init__(self) -> None:
            self.live = err_console.is_terminal
            self.progress, self.task = None, None

        def start(self, total_steps: int, first_step: int) -> None:
            if not self.live:
                return
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(),
                                     TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(), TextColumn("ETA"),
                                     TimeRemainingColumn(), console=err_console)
            self.progress.start()
            self.task = self.progress.add_task("train", total=total_steps, completed=first_step, loss="—")

        def step(self, row: dict[str, Any]) -> None:
            if self.progress is not None:
                self.progress.update(self.task, completed=row["step"], loss=f"{row['loss']:.4f}")
            else:
                err_console.print(f"step {row['step']}  loss {row['loss']:.4f}  lr {row['lr']:.2e}  "
                                  f"grad-norm {row['grad_norm']:.3f}  {row['tokens_per_s']:,.0f} tokens/s",
                                  highlight=False)

        def note(self, text: str) -> None:
            err_console.print(text, highlight=False)

        def stop(self) -> None:
            if self.progress is not None:
                self.progress.stop()

    return Rich()
