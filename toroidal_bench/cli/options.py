"""Option aliases shared by several commands, defined once."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Limit = Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Samples per cell.")]
Seed = Annotated[int, typer.Option("--seed", min=0, max=2**63 - 1, help="Seed for sample generation.")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue a run: skip cells already complete in --out.")]
Overwrite = Annotated[bool, typer.Option("--overwrite", help="Replace an existing --out file.")]
Device = Annotated[str | None, typer.Option("--device", help="cuda, cuda:1, cpu (default: cuda if present).")]
Dtype = Annotated[str | None, typer.Option("--dtype", help="bf16, fp16, fp32 (default: bf16 on GPU, fp32 on CPU).")]
Attn = Annotated[str | None, typer.Option(
    "--attn", help="sdpa, flex, flash2 or eager (default: the fastest that supports the encodings here).")]
TrustRemoteCode = Annotated[bool, typer.Option("--trust-remote-code",
                                               help="Allow custom model code from the hub (off by default).")]
HaystackDir = Annotated[Path | None, typer.Option("--haystack-dir", help="Directory of .txt files to use as haystack.")]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="Directory holding local benchmark data files.")]
MaxBatchTokens = Annotated[int | None, typer.Option("--max-batch-tokens", min=1,
                                                       help="Padded tokens per batch (default: 64k GPU, 8k CPU).")]
