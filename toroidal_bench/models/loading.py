"""Resolve a spec into a patched model: load (hf/local/random/ref), apply encodings, hash the result."""

from __future__ import annotations

import hashlib
import json
import os
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
    spec: Spec
    encodings: tuple[Encoding, ...]

    def canonical(self) -> str:
        return "+".join([self.spec.model.canonical(), *(e.canonical() for e in self.encodings)])

    @property
    def encoding_label(self) -> str:
        return "+".join(e.canonical() for e in self.encodings) or "none"


def resolve(text: str | Spec) -> ResolvedSpec:
    """Parse and validate a spec (no model is loaded): typos fail here, instantly."""
    spec = parse_spec(text) if isinstance(text, str) else text
    _check_model_ref(spec.model)
    encodings = tuple(resolve_encoding(e) for e in spec.encodings)
    check_composition(encodings)
    return ResolvedSpec(spec, encodings)


def _check_model_ref(ref) -> None:
    """Errors that need no download: unknown embedded names, missing local directories."""
    if ref.scheme == "random":
        from .random_models import check_args

        check_args(ref.name, dict(ref.args))
    elif ref.scheme == "ref":
        raise UnknownNameError("reference model", ref.name, [])
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
               attn: str | None = None) -> tuple[Any, Any]:
    """The patched model (eval mode, on `device`) and its tokenizer. `attn` requests a backend
    (sdpa, flex, flash2, eager); None picks the fastest that supports the encodings on the device.
    The backend used is `model.tbench_attention`."""
    from ..attention.backends import HF_NAMES, choose

    choice = choose(attn, resolved.encodings, str(device))
    owns_attention = any(e.attention for e in resolved.encodings)
    attn = "sdpa" if owns_attention else HF_NAMES[choice.backend]
    ref = resolved.spec.model
    args = dict(ref.args)
    if ref.scheme == "random":
        from .byte_tokenizer import byte_tokenizer
        from .random_models import build_random

        model, tokenizer = build_random(ref.name, args, dtype, attn), byte_tokenizer()
    elif ref.scheme == "ref":
        raise UnknownNameError("reference model", ref.name, [])
    else:
        model, tokenizer = _load_pretrained(ref.scheme, ref.name, args, dtype, trust_remote_code, attn)
    model_type = architecture.model_type(model)
    for enc in resolved.encodings:
        enc.check(model_type)
    model.to(device)
    model.tbench_attention = choice.backend
    for enc in resolved.encodings:
        enc.apply(model)
    model.eval()
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return model, tokenizer


def _load_pretrained(scheme: str, name: str, args: dict, dtype, trust_remote_code: bool, attn: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    revision = args.get("revision")
    common = dict(revision=revision, trust_remote_code=trust_remote_code)
    offline = os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False")
    attempts = [True] if offline or scheme == "local" else [True, False]
    last: Exception | None = None
    for local_only in attempts:
        try:
            tokenizer = AutoTokenizer.from_pretrained(name, local_files_only=local_only, **common)
            model = AutoModelForCausalLM.from_pretrained(
                name, local_files_only=local_only, dtype=dtype, attn_implementation=attn, **common)
            return model, tokenizer
        except (OSError, ValueError) as exc:
            last = exc
            if "trust_remote_code" in str(exc):
                raise ModelLoadError(f"'{name}' needs custom code from its repository",
                                     "re-run with --trust-remote-code if you trust it") from None
    where = "the local HF cache" if offline else "the local HF cache, and the hub is unreachable"
    raise ModelLoadError(
        f"cannot load '{name}': not found in {where} ({type(last).__name__})",
        "download it on a connected machine and pass local:/path/to/model (save_pretrained layout)",
    )


def spec_hash(resolved: ResolvedSpec, model: Any) -> str:
    """Hash of the resolved model config + every encoding field (defaults included)."""
    cfg = {k: v for k, v in model.config.to_dict().items() if k not in _TRANSIENT}
    ref = resolved.spec.model
    payload = {
        "model": {"scheme": ref.scheme, "name": ref.name, "args": dict(ref.args), "config": cfg},
        "encodings": [e.config() for e in resolved.encodings],
    }
    blob = json.dumps(payload, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]
