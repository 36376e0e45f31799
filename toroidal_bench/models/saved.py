"""A tbench model directory: a `save_pretrained` folder plus the encodings that patch it.

    DIR/config.json, model.safetensors (or shards + index), tokenizer files   ← transformers' own
    DIR/tbench_model.json   {"format": 1, "base": "random:llama-ref", "spec": "random:llama-ref+toroidal(depth=2)",
                             "encodings": [{"name": "toroidal", "args": {"depth": 2}}], ...}

`config.json` is the model's config *before* any encoding touched it, and the safetensors hold the
patched model's state dict (an encoding's own parameters, such as toroidal depth fusion or a learned
attractor decay, included). Loading therefore builds the bare model from its config, applies the stored
encodings, then loads every tensor strictly — so `local:DIR` is the same function as the model that
was saved (logits identical). A plain HF folder (no tbench_model.json) loads as before.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from ..errors import ModelLoadError
from ..specs import EncodingRef

MANIFEST = "tbench_model.json"
FORMAT = 1


def manifest(directory: str | Path) -> dict[str, Any] | None:
    """The directory's tbench manifest, or None for a plain HF folder."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"unreadable {path}: {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("encodings"), list):
        raise ModelLoadError(f"{path} is not a tbench model manifest of format {FORMAT}")
    return data


def stored_encodings(directory: str | Path) -> tuple[EncodingRef, ...]:
    """The encodings a tbench model directory was saved with, in the order they were applied."""
    data = manifest(directory)
    refs = []
    for item in data["encodings"] if data else ():
        if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not isinstance(item.get("args"), dict):
            raise ModelLoadError(f"malformed encoding entry {item!r} in {Path(directory) / MANIFEST}")
        refs.append(EncodingRef(item["name"], tuple((k, _value(v)) for k, v in item["args"].items())))
    return tuple(refs)


def encoding_entry(enc: Any) -> dict[str, Any]:
    """How an Encoding is stored: its name and the arguments that differ from the defaults."""
    return {"name": enc.name, "args": {k: list(v) if isinstance(v, tuple) else v for k, v in enc.spec_args().items()}}


def _value(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def save(model: Any, tokenizer: Any, out: str | Path, *, base: str, encodings: list[Any],
         dtype: Any = None, extra: dict[str, Any] | None = None) -> Path:
    """Write `model` (patched), its tokenizer and the manifest to `out`; `dtype` casts the saved tensors
    (e.g. bf16 to halve the size) without touching the live model."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    state = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in model.state_dict().items()}
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # progress is the caller's to show
    model.save_pretrained(out, state_dict=state, safe_serialization=True)
    base_config = getattr(model, "tbench_base_config", None) or model.config
    config = copy.deepcopy(base_config)
    if dtype is not None:
        config.dtype = dtype
    config.save_pretrained(out)  # the unpatched config: the stored encodings re-patch it on load
    tokenizer.save_pretrained(out)
    data = {"format": FORMAT, "base": base, "spec": "+".join([base, *(e.canonical() for e in encodings)]),
            "encodings": [encoding_entry(e) for e in encodings], **(extra or {})}
    (out / MANIFEST).write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def load_bare(directory: str | Path, dtype: Any, attn: str) -> Any:
    """The unpatched architecture of a tbench model directory, randomly initialised (weights come later)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(str(directory), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot read the config of '{directory}': {' '.join(str(exc).split())[:200]}") from None
    return AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn)


def load_weights(model: Any, directory: str | Path) -> None:
    """Every tensor of the directory's safetensors into the (already patched) `model`, strictly: a key
    the model lacks, or a model tensor the files lack (tied weights excepted), is an error."""
    from safetensors.torch import load_file

    directory = Path(directory)
    index = directory / "model.safetensors.index.json"
    if index.is_file():
        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    state: dict[str, Any] = {}
    for name in files:
        if not (directory / name).is_file():
            raise ModelLoadError(f"'{directory}' lacks {name}", "save models with safetensors (save_pretrained)")
        state.update(load_file(str(directory / name)))
    result = model.load_state_dict(state, strict=False)
    model.tie_weights()
    loaded = {id(p) for k, p in model.named_parameters() if k in state}
    missing = [k for k in result.missing_keys if id(_tensor(model, k)) not in loaded]
    if result.unexpected_keys or missing:
        what = (f"unexpected tensor {result.unexpected_keys[0]}" if result.unexpected_keys
                else f"missing tensor {missing[0]}")
        raise ModelLoadError(f"'{directory}' does not match its stored encodings ({what})",
                             "was the folder written by `tbench train`?")


def _tensor(model: Any, key: str) -> Any:
    try:
        return model.get_parameter(key)
    except AttributeError:
        return None
