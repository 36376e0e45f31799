"""Which encodings compose: checked when a spec resolves, before any model loads.

Encodings apply left to right, each declaring what it replaces (`Encoding.roles`). These compose:

- `rope` with anything (it is the identity);
- one RoPE scaling (`linear`, `ntk`, `dynamic-ntk`, `yarn`) with `toroidal` (pe=model then rotates with
  the scaled frequencies), `attractor`, `hybrid` (RoPE below the switch is the scaled one) and
  `pi-spiral(layers=…)` (the other layers keep the scaled RoPE) — the scaling written first;
- `toroidal` with `pi-spiral`/`hybrid` over all layers (pe=model takes their angles) and with
  `attractor(inject=residual)`;
- `nope` with `toroidal` and `attractor`.

These are refused, each with its reason: an encoding named twice (the second would silently override
the first); two that each replace the attention computation (`alibi`, `toroidal`,
`attractor(inject=kv)`); `alibi` or `nope` (which switch the rotary off) with anything that changes
the rotary; two RoPE scalings, or two rotaries of their own; a scaling after a rotary of its own (it
would rebuild RoPE over it); `pi-spiral` on every layer with a scaling (it discards the scaled
frequencies); `hybrid` with `dynamic-ntk` (hybrid needs fixed frequencies); a per-layer rotary on a
layer that `toroidal` replaces.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import SpecError
from .base import Encoding

_ROTARY_CHANGES = {"no-rotary", "rope-scaling", "rotary"}
_ORDER = "order"  # a pair that composes the other way round


def check_composition(encodings: Sequence[Encoding]) -> None:
    """Raise SpecError naming the first pair of encodings that cannot be combined."""
    seen: list[Encoding] = []
    for enc in encodings:
        for before in seen:
            reason = _conflict(before, enc)
            if reason == _ORDER:
                raise SpecError(f"'{enc.name}' after '{before.name}' would rebuild RoPE over it",
                                f"write '{enc.name}' before '{before.name}'")
            if reason:
                raise SpecError(f"'{before.canonical()}' and '{enc.canonical()}' cannot be combined: {reason}",
                                "keep one of them")
        seen.append(enc)


def _conflict(first: Encoding, second: Encoding) -> str | None:
    a, b = first.roles(), second.roles()
    if first.name == second.name:
        return "the second would override the first"
    if "attention" in a and "attention" in b:
        return "two encodings both replace the attention computation"
    if "no-rotary" in a and b & _ROTARY_CHANGES:
        return f"'{first.name}' already replaced the rotary embedding (it switches it off)"
    if "no-rotary" in b and a & _ROTARY_CHANGES:
        return f"'{second.name}' would switch off the rotary embedding that '{first.name}' sets"
    if "rope-scaling" in a and "rope-scaling" in b:
        return "both set the RoPE scaling"
    if "rotary" in a and "rotary" in b:
        return f"'{first.name}' already replaced the rotary embedding"
    if "rotary" in a and "rope-scaling" in b:
        return _ORDER
    if "rope-scaling" in a and "rotary" in b:
        if second.name == "pi-spiral" and second.patched_layers() is None:
            return "pi-spiral on every layer discards the scaled frequencies"
        if second.name == "hybrid" and first.name == "dynamic-ntk":
            return "hybrid needs fixed RoPE frequencies"
    return _layer_overlap(first, second)


def _layer_overlap(first: Encoding, second: Encoding) -> str | None:
    """A per-layer rotary hooks the attention module that toroidal replaces: not both on one layer."""
    for replacer, rotary in ((first, second), (second, first)):
        if replacer.name == "toroidal" and "rotary" in rotary.roles() and rotary.patched_layers() is not None:
            shared = sorted(set(replacer.patched_layers() or ()) & set(rotary.patched_layers()))
            if shared:
                return f"both patch the attention of layer {shared[0]}"
    return None
