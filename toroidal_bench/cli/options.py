"""Option aliases shared by several commands, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Limit = Annotated[int | None, typer.Option("--limit", "-n", help="Samples per cell (≥ 1).")]
Seed = Annotated[int, typer.Option("--seed", help="Seed for sample generation (0 to 2^63 − 1).")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue a run: skip cells already complete in --out.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out file.")]
Device = Annotated[str | None, typer.Option("--device", help="cuda, cuda:1, cpu (default: cuda if present).")]
Dtype = Annotated[str | None, typer.Option("--dtype", help="bf16, fp16, fp32 (default: bf16 on GPU, fp32 on CPU).")]
DeviceMap = Annotated[str | None, typer.Option(
    "--device-map",
    help="Spread each model's layers over every visible GPU, for models larger than one: auto (balanced by "
         "free memory) or sequential (fill each GPU first). One process; not under torchrun.")]
Attn = Annotated[str | None, typer.Option(
    "--attn", help="sdpa, flex, flash2 or eager (default: the fastest that supports the encodings here).")]
TrustRemoteCode = Annotated[bool, typer.Option("--trust-remote-code",
                                               help="Allow custom model code from the hub (off by default).")]
HaystackDir = Annotated[Path | None, typer.Option("--haystack-dir", help="Directory of .txt files to use as haystack.")]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Directory holding local benchmark data files.")]
MaxBatchTokens = Annotated[int | None, typer.Option("--max-batch-tokens",
                                                       help="Padded tokens per batch (default: 64k GPU, 8k CPU).")]
BeyondMaxPositions = Annotated[bool, typer.Option(
    "--beyond-max-positions",
    help="Allow lengths past the model's max_position_embeddings (to measure extrapolation).")]
ChatTemplate = Annotated[bool, typer.Option(
    "--chat-template",
    help="Wrap prompts in the tokenizer's chat template (chat models; real-data benchmarks only).")]
