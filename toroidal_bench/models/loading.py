"""Resolve a spec into a patched model: load (hf/local/random/ref), apply encodings, hash the result.

A tbench model directory (`local:DIR` written by `tbench train`, every `ref:` model) carries the
encodings it was trained with (models/saved.py); they are applied before its weights load.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..encodings import Encoding, resolve_encoding
from ..encodings.composition import check_composition
from ..errors import ModelLoadError, UnknownNameError
from ..specs import Spec, parse_spec
from . import architecture

#: config keys that describe how a model is run, not what it is
_TRANSIENT = {"_attn_implementation", "_attn_implementation_internal", "transformers_version", "dtype",
              "torch_dtype", "_name_or_path", "_commit_hash", "use_cache", "output_attentions"}


@dataclass(frozen=True)
class ResolvedSpec:
    """A validated spec. `encodings` is every encoding the model will carry: the first `stored` come
    from a saved tbench model directory (`local:`/`ref:`; they are part of its weights), the rest from
    the spec string. The canonical form is what was written; the encoding label names them all."""

    spec: Spec
    encodings: tuple[Encoding, ...]
    stored: int = 0

    def canonical(self) -> str:
        return "+".join([self.spec.model.canonical(), *(e.canonical() for e in self.encodings[self.stored:])])

    @property
    def encoding_label(self) -> str:
        return "+".join(e.canonical() for e in self.encodings) or "none"


def resolve(text: str | Spec) -> ResolvedSpec:
    """Parse and validate a spec (no model is loaded): typos fail here, instantly."""
    spec = parse_spec(text) if isinstance(text, str) else text
    _check_model_ref(spec.model)
    stored = tuple(resolve_encoding(e) for e in _stored(spec.model))
    encodings = stored + tuple(resolve_encoding(e) for e in spec.encodings)
    check_composition(encodings)
    return ResolvedSpec(spec, encodings, len(stored))


def model_dir(ref) -> Path | None:
    """The folder a `local:` or `ref:` model loads from (None for `hf:` and `random:`)."""
    if ref.scheme == "ref":
        from .reference import ref_dir

        return ref_dir(ref.name)
    return Path(ref.name) if ref.scheme == "local" else None


def _stored(ref) -> tuple[str, ...]:
    from .saved import stored_encodings

    folder = model_dir(ref)
    return stored_encodings(folder) if folder is not None else ()


def _check_model_ref(ref) -> None:
    """Errors that need no download: unknown embedded names, missing local directories."""
    if ref.scheme == "random":
        from .random_models import check_args

        check_args(ref.name, dict(ref.args))
    elif ref.scheme == "ref":
        model_dir(ref)  # unknown name, or not built yet: one line saying how to build it
    elif ref.scheme == "local" and not (Path(ref.name) / "config.json").is_file():
        raise ModelLoadError(f"no model at '{ref.name}' (no config.json there)",
                             "pass the directory written by save_pretrained()")


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def default_dtype(device: str):
    import torch

    return torch.bfloat16 if str(device).startswith("cuda") else torch.float32


def parse_dtype(name: str | None, device: str):
    import torch

    if name is None or name == "auto":
        return default_dtype(device)
    table = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16,
             "fp32": torch.float32, "float32": torch.float32}
    if isinstance(name, torch.dtype):
        return name
    if name not in table:
        raise UnknownNameError("dtype", name, table)
    return table[name]


def load_model(resolved: ResolvedSpec, device: str, dtype, trust_remote_code: bool = False,
               attn: str | None = None, device_map: str | dict[str, str] | None = None) -> tuple[Any, Any]:
    """The patched model (eval mode, on `device`) and its tokenizer. `attn` requests a backend
    (sdpa, flex, flash2, eager); None picks the fastest that supports the encodings on the device.
    The backend used is `model.tbench_attention`. `device_map` spreads the model's layers over every
    visible GPU instead (`auto` or `sequential`, see device_map.py; or a plan, module name → device),
    and `model.tbench_device_map` says which layers went where."""
    from transformers.utils import logging as hf_logging

    from ..attention.backends import HF_NAMES, choose
    from ..compile_cache import configure

    configure()  # before anything compiles: kernels persist under TBENCH_HOME
    hf_logging.disable_progress_bar()  # tbench draws its own progress; a weight-loading bar per model is noise

    choice = choose(attn, resolved.encodings, str(device))
    owns_attention = any(e.attention for e in resolved.encodings)
    attn = "sdpa" if owns_attention else HF_NAMES[choice.backend]
    ref = resolved.spec.model
    placement = None
    if device_map is not None and not resolved.stored:  # a saved tbench model is planned once built
        placement = _placement(resolved, dtype, device_map, trust_remote_code, attn)
    if ref.scheme == "random":
        from .random_models import build_random

        model = build_random(ref.name, dict(ref.args), dtype, attn, device_map=placement)
    elif resolved.stored:
        from . import saved

        model = saved.load_bare(model_dir(ref), dtype, attn)
    else:
        from transformers import AutoModelForCausalLM

        placed = {"device_map": placement} if placement is not None else {}
        model = _from_pretrained(AutoModelForCausalLM, ref, trust_remote_code, dtype=dtype, attn_implementation=attn,
                                 **placed)
    tokenizer = load_tokenizer(resolved, trust_remote_code)
    model_type = architecture.model_type(model)
    for enc in resolved.encodings:
        enc.check(model_type)
    if device_map is None:
        model.to(device)
    model.tbench_attention = choice.backend
    model.tbench_base_config = copy.deepcopy(model.config)  # what a saved model directory stores
    for enc in resolved.encodings[:resolved.stored]:
        enc.apply(model)
    if resolved.stored:
        from . import saved

        saved.load_weights(model, model_dir(ref))  # after the stored encodings: their tensors are in it
    for enc in resolved.encodings[resolved.stored:]:
        enc.apply(model)
    if device_map is not None:
        _dispatch(model, placement if placement is not None else _plan_for(model, device_map))
    model.eval()
    return model, tokenizer


def _placement(resolved: ResolvedSpec, dtype, device_map: str | dict[str, str], trust_remote_code: bool,
               attn: str) -> dict[str, str]:
    """The device plan of a model not built yet, from a meta-device copy of its config."""
    if isinstance(device_map, dict):
        return dict(device_map)
    from .device_map import meta_model

    ref = resolved.spec.model
    if ref.scheme == "random":
        from .random_models import random_config

        config = random_config(ref.name, dict(ref.args))
    else:
        from transformers import AutoConfig

        config = _from_pretrained(AutoConfig, ref, trust_remote_code)
    return _plan_for(meta_model(config, dtype, attn, trust_remote_code), device_map)


def _plan_for(model: Any, device_map: str | dict[str, str]) -> dict[str, str]:
    from .device_map import gpu_budgets, pieces_of, plan

    if isinstance(device_map, dict):
        return dict(device_map)
    return plan(pieces_of(model), gpu_budgets(), device_map)


def _dispatch(model: Any, placement: dict[str, str]) -> None:
    """Every piece on its planned device, with the hooks that carry activations between devices."""
    from .device_map import dispatch, pieces_of, summary

    pieces = pieces_of(model)
    dispatch(model, placement)
    model.tbench_device_map = summary(placement, pieces)


def load_tokenizer(resolved: ResolvedSpec, trust_remote_code: bool = False) -> Any:
    """The spec's tokenizer, set up for left-padded batches; loads no weights."""
    ref = resolved.spec.model
    if ref.scheme == "random":
        from .byte_tokenizer import byte_tokenizer

        tokenizer = byte_tokenizer()
    else:
        from transformers import AutoTokenizer

        tokenizer = _from_pretrained(AutoTokenizer, ref, trust_remote_code)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def _from_pretrained(cls: Any, ref, trust_remote_code: bool, **kwargs: Any) -> Any:
    """`cls.from_pretrained` from the local cache when the model is there (or offline), else the hub once."""
    from .hub import is_cached, offline

    if ref.scheme == "ref":
        return cls.from_pretrained(str(model_dir(ref)), local_files_only=True, **kwargs)
    revision = dict(ref.args).get("revision")
    local_only = ref.scheme == "local" or offline() or is_cached(ref.name, revision)
    try:
        return cls.from_pretrained(ref.name, local_files_only=local_only, revision=revision,
                                   trust_remote_code=trust_remote_code, **kwargs)
    except (OSError, ValueError) as exc:
        if "trust_remote_code" in str(exc):
            raise ModelLoadError(f"'{ref.name}' needs custom code from its repository",
                                 "re-run with --trust-remote-code if you trust it") from None
        where = "the local HF cache" if local_only else "the local HF cache or the hub"
        raise ModelLoadError(f"cannot load '{ref.name}' from {where}: {' '.join(str(exc).split())[:200]}",
                             "download it on a connected machine and pass local:/path/to/model") from None


def spec_hash(resolved: ResolvedSpec, model: Any) -> str:
    """Hash of the resolved model config + every encoding field (defaults included)."""
    cfg = {k: v for k, v in model.config.to_dict().items() if k not in _TRANSIENT}
    ref = resolved.spec.model
    payload = {
        "model": {"scheme": ref.scheme, "name": ref.name, "args": dict(ref.args), "config": cfg},
        "encodings": [e.config() for e in resolved.encodings],
    }
    init = getattr(model, "tbench_init", None)
    if init is not None:  # random weights drawn on each GPU of a device map, not the one-device ones
        payload["model"]["init"] = init
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
