"""`tbench doctor`: versions, devices, optional kernels and the offline state, in one table."""

from __future__ import annotations

import importlib
import os
import platform

from .errors import handles_errors
from .output import console


@handles_errors
def doctor() -> None:
    """Report the environment tbench runs in."""
    from rich.table import Table

    t = Table(title="tbench doctor")
    t.add_column("check")
    t.add_column("state")
    t.add_row("python", platform.python_version())
    for mod in ("toroidal_bench", "torch", "transformers", "datasets", "pyarrow", "pandas", "lm_eval", "matplotlib"):
        t.add_row(mod, _version(mod))
    import torch

    if torch.cuda.is_available():
        names = ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
        t.add_row("cuda", f"{torch.version.cuda} · {names}")
        t.add_row("bf16", str(torch.cuda.is_bf16_supported()))
    else:
        t.add_row("cuda", "[yellow]not available[/] (runs on CPU, fp32)")
    flash = _version("flash_attn")
    t.add_row("flash-attn", flash if "not installed" not in flash else "[yellow]not installed[/] (sdpa/flex used)")
    try:
        from torch.nn.attention.flex_attention import flex_attention  # noqa: F401

        t.add_row("flex attention", "available")
    except ImportError:
        t.add_row("flex attention", "[yellow]not available[/]")
    offline = os.environ.get("HF_HUB_OFFLINE", "")
    t.add_row("HF_HUB_OFFLINE", offline or "unset (hub tried when a model is not cached)")
    t.add_row("HF cache", os.environ.get("HF_HOME", os.path.expanduser("~/.cache/huggingface")))
    from ..resources import tbench_home

    t.add_row("TBENCH_HOME", str(tbench_home()))
    console.print(t)


def _version(module: str) -> str:
    try:
        mod = importlib.import_module(module)
    except Exception:
        return "[dim]not installed[/]"
    return getattr(mod, "__version__", "installed")
