"""Where compiled kernels persist: torch inductor's caches under `TBENCH_HOME/compile/inductor`.

FlexAttention runs compiled, and a configuration's first compile takes seconds to minutes. Inductor
keeps what it built — FX graphs, AOTAutograd graphs (both caches on by default in torch 2.11–2.14)
and Triton kernels (in `triton/` below the same folder) — in one cache folder, by default under /tmp,
which a reboot or a fresh container empties. tbench points that folder at TBENCH_HOME before a model
loads, so a later process finds the kernels of a configuration already built. A folder the user chose
through TORCHINDUCTOR_CACHE_DIR is left as it is; torch's own default there (which torch writes into
the variable once it has used its cache) is not a choice, and is replaced.
"""

from __future__ import annotations

import os
from pathlib import Path

from .resources import tbench_home

VARIABLE = "TORCHINDUCTOR_CACHE_DIR"
#: the value tbench last set; the variable holding anything else (but torch's default) was set by the user
_ours: str | None = None


def default_location() -> Path:
    return Path(os.path.abspath(tbench_home() / "compile" / "inductor"))


def location() -> tuple[Path, bool]:
    """(the inductor cache folder a run uses, whether the user chose it through TORCHINDUCTOR_CACHE_DIR)."""
    current = os.environ.get(VARIABLE)
    if current and current != _ours and current != _torch_default():
        return Path(current), True
    return default_location(), False


def _torch_default() -> str | None:
    """The folder torch uses when the variable is unset; torch writes it into the variable on first
    use, so a variable holding it was set by torch, not chosen by the user."""
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
    except ImportError:
        return None
    return os.path.abspath(default_cache_dir())


def configure() -> Path:
    """Point inductor's cache at TBENCH_HOME unless the user set TORCHINDUCTOR_CACHE_DIR; the folder.
    Call before anything compiles: torch reads the variable when it first writes to its cache."""
    global _ours
    path, chosen = location()
    if not chosen:
        _ours = str(path)  # absolute, as torch writes it back into the variable
        os.environ[VARIABLE] = _ours
    return path


def caches_enabled() -> dict[str, bool]:
    """Whether inductor's FX graph cache and the AOTAutograd cache are on in this process."""
    import torch._functorch.config as functorch_config
    import torch._inductor.config as inductor_config

    return {"fx_graph": bool(inductor_config.fx_graph_cache),
            "aot_autograd": bool(functorch_config.enable_autograd_cache)}


__all__ = ["VARIABLE", "caches_enabled", "configure", "default_location", "location"]
