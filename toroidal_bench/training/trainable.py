"""`--trainable`: which parameters a run updates; every other one is frozen.

- `all`: every parameter the spec leaves trainable (all of them, unless e.g. `toroidal(freeze=true)`).
- `encoding`: the decoder layers an encoding patched (e.g. the attention a `toroidal(layers=0|2)`
  replaced, or the layers an attractor lives in) — the seeds' fine-tuning recipe; an error when the
  spec's encodings patch no layer of their own (rope, alibi and the like change no weights).
- `layers=0,3`: those decoder layers (ranges too: `layers=0..2`).
- anything else: a regular expression searched in parameter names, e.g. `self_attn` or `fusion|norm`.

`check_trainable` validates the text before a model loads; `apply_trainable` returns the trainable
parameter names and fails when the selection is empty.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import UsageError

_LAYERS = re.compile(r"^layers=(?P<list>[\d,.\s]+)$")


def check_trainable(text: str) -> None:
    if not text or not text.strip():
        raise UsageError("--trainable is empty", "use all, encoding, layers=0,3 or a name pattern")
    if text in ("all", "encoding"):
        return
    if text.startswith("layers="):
        _layer_list(text)
        return
    try:
        re.compile(text)
    except re.error as exc:
        raise UsageError(f"--trainable '{text}' is not a valid pattern: {exc}",
                         "use all, encoding, layers=0,3 or a regular expression over parameter names") from None


def _layer_list(text: str) -> list[int]:
    m = _LAYERS.match(text)
    out: list[int] = []
    for item in (m["list"].split(",") if m else [""]):
        lo, sep, hi = item.strip().partition("..")
        if not lo.isdigit() or (sep and not hi.isdigit()):
            raise UsageError(f"bad --trainable '{text}'", "write layers=0,3 or layers=0..2")
        out.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    return out


def encoding_layers(encodings: Any, n_layers: int) -> list[int]:
    """Decoder layers the encodings patch with weights of their own (attention replacements, attractors)."""
    layers: set[int] = set()
    for enc in encodings:
        if "attention" not in enc.roles() and enc.name != "attractor":
            continue
        if enc.name == "alibi":  # a bias on the same projections: nothing of its own to train
            continue
        chosen = enc.patched_layers()
        layers.update(range(n_layers) if chosen is None else chosen)
    return sorted(layers)


def apply_trainable(model: Any, text: str, encodings: Any) -> list[str]:
    """Freeze all parameters but the selection; returns the names left trainable."""
    from ..models import architecture

    check_trainable(text)
    n_layers = len(architecture.decoder_layers(model))
    if text == "all":  # what the spec left trainable (toroidal(freeze=true) freezes all but its layers)
        return [n for n, p in model.named_parameters() if p.requires_grad]
    if text == "encoding" or text.startswith("layers="):
        layers = encoding_layers(encodings, n_layers) if text == "encoding" else _layer_list(text)
        if text == "encoding" and not layers:
            raise UsageError("--trainable encoding: the spec's encodings add no weights of their own",
                             "use all, layers=..., or a spec such as +toroidal(layers=0)")
        bad = [i for i in layers if i >= n_layers]
        if bad:
            raise UsageError(f"--trainable: the model has {n_layers} layers, no layer {bad[0]}")
        model.requires_grad_(False)
        decoder = architecture.decoder_layers(model)
        for i in layers:
            decoder[i].requires_grad_(True)
    else:
        pattern = re.compile(text)
        for name, p in model.named_parameters():
            p.requires_grad_(bool(pattern.search(name)))
    names = [n for n, p in model.named_parameters() if p.requires_grad]
    if not names:
        raise UsageError(f"--trainable '{text}' selects no parameter", "see the model's parameter names")
    return names
