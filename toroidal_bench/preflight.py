"""Every check of a run that needs no model weights, done before the first model loads.

A run that would fail on bad input must fail in a second with one line (exit 2), not after loading a
model, and without touching the results file: the device, dtype and attention backend exist here;
a device map has GPUs to spread over and no torchrun ranks competing for them; every hub model is
cached or reachable; data and haystack folders exist; and each task can build a sample at the run's
shortest and longest length with the model's own tokenizer (too-short lengths, missing data files and
missing corpora raise UsageError there). Only tokenizers are loaded; on a GPU, a model whose weights
alone exceed the GPU's free memory is refused with the way to spread it (`--device-map auto`).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import UnknownNameError, UsageError
from .suites import Cell
from .tasks.base import TaskFamily

#: task parameters that name folders; a missing one is bad input whatever the task does with it
FOLDER_PARAMS = {"haystack_dir": "--haystack-dir", "data_dir": "--data-dir"}


def check_run(cells: list[Cell], *, device: str | None, dtype: str | None, attn: str | None,
              trust_remote_code: bool = False, max_batch_tokens: int | None = None,
              device_map: str | None = None) -> None:
    """Raise UsageError (a subclass) for the first thing that would make this run fail on bad input."""
    if max_batch_tokens is not None and not 1 <= max_batch_tokens <= 1 << 40:
        raise UsageError(f"--max-batch-tokens {max_batch_tokens} must be a positive number of tokens")
    where = check_device(device)
    check_dtype(dtype, where)
    check_backend(attn, where)
    if device_map is not None:
        check_device_map(device_map, device)
    elif where.startswith("cuda"):
        check_fits(cells, where, dtype, trust_remote_code)
    check_folders(cells)
    tokenizers = {}
    for cell in cells:
        key = cell.spec.spec.model.canonical()
        if key not in tokenizers:
            tokenizers[key] = _tokenizer(cell, trust_remote_code)
    for (key, _task, _params), group in _task_groups(cells).items():
        check_samples(group, tokenizers[key])


def check_device(name: str | None) -> str:
    """The device a run will use; refuses names torch does not know and devices absent here."""
    import torch

    from .models.loading import default_device

    if name is None:
        return default_device()
    try:
        dev = torch.device(name)
    except (RuntimeError, ValueError):
        raise UsageError(f"unknown device '{name}'", "use cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only build"
            raise UsageError(f"--device {name}: no CUDA GPU is visible here (torch {torch.__version__}, {build})",
                             "omit --device to run on the CPU")
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise UsageError(f"--device {name}: this machine has {count} GPU(s)", f"use cuda:0..cuda:{count - 1}")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise UsageError(f"--device {name}: MPS is not available here", "omit --device")
    elif dev.type != "cpu":
        raise UsageError(f"device type '{dev.type}' is not supported", "use cpu, cuda or cuda:N")
    return str(dev)


def check_dtype(name: str | None, device: str) -> None:
    from .models.loading import parse_dtype

    parse_dtype(name, device)  # UnknownNameError with a did-you-mean


def check_backend(name: str | None, device: str) -> None:
    from .attention.backends import BACKENDS, available, flash_attn_available

    if name is None:
        return
    if name not in BACKENDS:
        raise UnknownNameError("attention backend", name, BACKENDS)
    if not available(name, device):
        if name == "flash2" and not flash_attn_available():
            raise UsageError("--attn flash2: flash-attn is not installed",
                             "pip install 'toroidal-bench[flash]' on a CUDA machine, or omit --attn")
        raise UsageError(f"--attn {name} is not available on {device}", "omit --attn to pick the fastest available")


def check_device_map(strategy: str, device: str | None) -> None:
    """`--device-map` spreads one process's model over every visible GPU: it needs GPUs, a strategy
    it knows, and no --device or torchrun ranks that would claim GPUs of their own."""
    import torch

    from .distributed import env
    from .models.device_map import STRATEGIES

    if strategy not in STRATEGIES:
        raise UnknownNameError("device-map strategy", strategy, STRATEGIES)
    where = env()
    if where is not None:
        raise UsageError(f"--device-map cannot run under torchrun ({where.world_size} processes): each process "
                         "would spread its model over every GPU", "run one process with --device-map, or drop it")
    if not torch.cuda.is_available():
        raise UsageError("--device-map spreads a model over GPUs, and no CUDA GPU is visible here",
                         "omit --device-map")
    if device not in (None, "cuda"):
        raise UsageError(f"--device-map uses every visible GPU; --device {device} picks one",
                         "drop --device and choose the GPUs with CUDA_VISIBLE_DEVICES")


def check_fits(cells: Iterable[Cell], device: str, dtype: str | None, trust_remote_code: bool = False) -> None:
    """Refuse a model whose weights alone exceed `device`'s free memory, naming --device-map when more
    GPUs are visible. Sizes come from a meta-device copy of each config (no weights); a config that
    cannot be read here is left to the load to report."""
    import torch

    from .models.device_map import GiB
    from .models.loading import parse_dtype

    free, _ = torch.cuda.mem_get_info(torch.device(device))
    count = torch.cuda.device_count()
    models = {c.spec.spec.model.canonical(): c.spec for c in cells}  # encodings add next to nothing
    for spec in models.values():
        need = _weight_bytes(spec, parse_dtype(dtype, device), trust_remote_code)
        if need is None or need <= free:
            continue
        fix = (f"pass --device-map auto to spread it over the {count} visible GPUs" if count > 1
               else "use a GPU with more memory, or a smaller model or dtype")
        raise UsageError(f"{spec.spec.model.canonical()} needs {need / GiB:.1f} GiB for its weights alone; {device} has "
                         f"{free / GiB:.1f} GiB free", fix)


def _weight_bytes(resolved, dtype, trust_remote_code: bool) -> int | None:
    from .models.device_map import meta_model, pieces_of
    from .models.loading import model_dir

    ref = resolved.spec.model
    try:
        if ref.scheme == "random":
            from .models.random_models import random_config

            config = random_config(ref.name, dict(ref.args))
        else:
            from transformers import AutoConfig

            folder = model_dir(ref)
            config = AutoConfig.from_pretrained(str(folder) if folder else ref.name, local_files_only=True,
                                                revision=dict(ref.args).get("revision"),
                                                trust_remote_code=trust_remote_code)
        return pieces_of(meta_model(config, dtype, None, trust_remote_code)).total
    except Exception:  # not cached, custom code, an unusual layout: the load itself will tell
        return None


def check_folders(cells: Iterable[Cell]) -> None:
    seen: set[tuple[str, str]] = set()
    for cell in cells:
        for param, option in FOLDER_PARAMS.items():
            value = cell.task_params.get(param)
            if value is None or (param, str(value)) in seen:
                continue
            seen.add((param, str(value)))
            if not Path(str(value)).expanduser().is_dir():
                raise UsageError(f"{option} '{value}' is not a directory (task '{cell.task.name}')",
                                 "pass an existing folder")


def check_samples(group: list[Cell], tokenizer: Any) -> None:
    """One sample at the shortest and at the longest length of a (model, task, params) group."""
    lengths = sorted({c.length for c in group})
    cell = group[0]
    for length in dict.fromkeys((lengths[0], lengths[-1])):
        family = cell.task.build()
        family.params = cell.task_params
        if hasattr(family, "evaluate") and type(family).samples is TaskFamily.samples:
            return  # a wrapped harness (lm-eval) validates its own inputs
        try:
            next(iter(itertools.islice(family.samples(tokenizer, length, cell.seed, 1), 1)), None)
        except UsageError as exc:
            raise UsageError(f"task '{cell.task.name}' at length {length} with {cell.model_spec}: {exc}",
                             exc.fix) from None
        except Exception:  # not an input problem: the cell will run and record the error
            return


def _tokenizer(cell: Cell, trust_remote_code: bool) -> Any:
    from .models.hub import check_available
    from .models.loading import load_tokenizer
    from .models.random_models import CONFIGS

    ref = cell.spec.spec.model
    if ref.scheme == "hf":
        near = f"random:{ref.name}" if ref.name in CONFIGS else None
        check_available(ref.name, dict(ref.args).get("revision"), near)
    return load_tokenizer(cell.spec, trust_remote_code)


def _task_groups(cells: Iterable[Cell]) -> dict[tuple[str, str, str], list[Cell]]:
    groups: dict[tuple[str, str, str], list[Cell]] = {}
    for c in cells:
        key = (c.spec.spec.model.canonical(), c.task.name, json.dumps(c.task_params, sort_keys=True, default=str))
        groups.setdefault(key, []).append(c)
    return groups
