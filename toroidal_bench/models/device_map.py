"""Models larger than one GPU: decoder layers spread over every visible GPU (`--device-map`).

The plan is accelerate's device-map format (module name → device), made by a pure function of the
pieces' sizes and each device's budget, so it is tested on a CPU. Its rule: the decoder layers are
split into contiguous runs, one per device in index order; everything else — embeddings, final norm,
rotary tables, LM head — stays on the first device, with the inputs. The runner makes its input ids and
scoring targets on the first device and sends the base model's hidden states through the LM head
there, so every tensor it compares lives on one device; only hidden states cross between GPUs, once
per device boundary. accelerate's hooks (`dispatch_model`) move them.

Strategies: `auto` balances the layers over the GPUs in proportion to their free memory; `sequential`
fills each GPU before the next. A device's budget for weights is its free memory less a reserve
(RESERVE_FRACTION of its total) for activations, the KV cache and kernels' workspaces.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ModelLoadError

STRATEGIES = {"auto": "balance the layers over every visible GPU", "sequential": "fill each GPU before the next"}
#: of each GPU's total memory, kept free of weights for activations, the KV cache and workspaces
RESERVE_FRACTION = 0.10
GiB = 2**30


@dataclass(frozen=True)
class Pieces:
    """A model cut where a device map may cut it: `layers` are the decoder layers in order, `rest`
    everything else; each (module name, bytes)."""

    layers: tuple[tuple[str, int], ...]
    rest: tuple[tuple[str, int], ...]

    @property
    def total(self) -> int:
        return sum(b for _, b in self.layers) + sum(b for _, b in self.rest)


def plan(pieces: Pieces, budgets: dict[str, int], strategy: str = "auto") -> dict[str, str]:
    """Module name → device for `pieces` under `budgets` (device → bytes for weights, in device order).
    Raises ModelLoadError when the weights do not fit."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown device-map strategy {strategy!r}")
    devices = list(budgets)
    if not devices:
        raise ModelLoadError("a device map needs at least one GPU")
    room = [budgets[d] for d in devices]
    room[0] -= sum(b for _, b in pieces.rest)
    sizes = [b for _, b in pieces.layers]
    if room[0] < 0 or sum(sizes) > sum(max(r, 0) for r in room):
        raise ModelLoadError(f"the weights ({pieces.total / GiB:.1f} GiB) do not fit in "
                             f"{_listing(budgets)} of memory for weights",
                             "free GPU memory, add GPUs, or load a smaller dtype (--dtype bf16)")
    owner = _balanced(sizes, room) if strategy == "auto" else None
    owner = owner or _sequential(sizes, room)
    if owner is None:  # fits in total, but not in contiguous runs
        raise ModelLoadError(f"the layers ({sum(sizes) / GiB:.1f} GiB) cannot be split over "
                             f"{_listing(budgets)} in contiguous runs", "free GPU memory or add GPUs")
    out = {name: devices[0] for name, _ in pieces.rest}
    out.update({name: devices[k] for (name, _), k in zip(pieces.layers, owner, strict=True)})
    return out


def _sequential(sizes: Sequence[int], room: Sequence[int]) -> list[int] | None:
    """Each layer on the current device while it fits there, else on the next one."""
    owner, load, d = [], 0, 0
    for s in sizes:
        while d < len(room) and load + s > room[d]:
            d, load = d + 1, 0
        if d == len(room):
            return None
        owner.append(d)
        load += s
    return owner


def _balanced(sizes: Sequence[int], room: Sequence[int]) -> list[int] | None:
    """Layers in contiguous runs whose sizes are proportional to the devices' room: a device takes
    the next layer while that keeps it within its room and puts at most half the layer above its share."""
    total, capacity = sum(sizes), sum(max(r, 0) for r in room)
    share = [total * max(r, 0) / capacity if capacity else 0 for r in room]
    owner, load, d = [], 0, 0
    for s in sizes:
        while d < len(room) - 1 and (load + s > room[d] or load + s / 2 > share[d]):
            d, load = d + 1, 0
        if load + s > room[d]:
            return None
        owner.append(d)
        load += s
    return owner


def _listing(budgets: dict[str, int]) -> str:
    return " + ".join(f"{b / GiB:.1f} GiB on {d}" for d, b in budgets.items())


def summary(device_map: dict[str, str], pieces: Pieces) -> dict[str, Any]:
    """Per device, the decoder layers it holds (first and last index) and its weight bytes: what the
    run metadata records."""
    sizes = dict(pieces.layers + pieces.rest)
    out: dict[str, Any] = {}
    for k, (name, _) in enumerate(pieces.layers):
        entry = out.setdefault(device_map[name], {"layers": [k, k], "weight_bytes": 0})
        entry["layers"][1] = k
    for name, device in device_map.items():
        out.setdefault(device, {"layers": None, "weight_bytes": 0})["weight_bytes"] += sizes.get(name, 0)
    return out


# -- the torch side ---------------------------------------------------------------------------------
def pieces_of(model: Any, dtype: Any = None) -> Pieces:
    """`model` (on any device, meta included) cut into its decoder layers and the rest, with sizes in
    `dtype` (default: each tensor's own)."""
    from accelerate.utils import compute_module_sizes

    from .architecture import base_model

    sizes = compute_module_sizes(model, dtype=dtype)
    base, prefix = base_model(model), model.base_model_prefix
    layers = tuple((f"{prefix}.layers.{i}", sizes[f"{prefix}.layers.{i}"]) for i in range(len(base.layers)))
    rest = [(f"{prefix}.{name}", sizes.get(f"{prefix}.{name}", 0)) for name, _ in base.named_children()
            if name != "layers"]
    rest += [(name, sizes.get(name, 0)) for name, child in model.named_children() if child is not base]
    # a tensor registered on the base model itself (no child module) has no module name to place
    own = [n for n, _ in base.named_parameters(recurse=False)] + [n for n, _ in base.named_buffers(recurse=False)]
    if own:
        raise ModelLoadError(f"{type(model).__name__} keeps tensors ({', '.join(own)}) outside its modules",
                             "run this model on one GPU (omit --device-map)")
    return Pieces(layers, tuple(rest))


def gpu_budgets() -> dict[str, int]:
    """Bytes for weights on each visible GPU: free memory less RESERVE_FRACTION of its total."""
    import torch

    out = {}
    for i in range(torch.cuda.device_count()):
        free, total = torch.cuda.mem_get_info(i)
        out[f"cuda:{i}"] = max(0, int(free - RESERVE_FRACTION * total))
    return out


def meta_model(config: Any, dtype: Any, attn_implementation: str | None = None, trust_remote_code: bool = False):
    """A model of `config` whose tensors are on the meta device: shapes without memory, and no
    initialisation (transformers skips it under a meta device)."""
    import torch
    from transformers import AutoModelForCausalLM

    kwargs = {"attn_implementation": attn_implementation} if attn_implementation else {}
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config, dtype=dtype, trust_remote_code=trust_remote_code, **kwargs)


def materialize(model: Any, device_map: dict[str, str]) -> None:
    """Give a meta-device model real (uninitialised) memory, each piece on its device of `device_map`."""
    for name, device in device_map.items():
        model.get_submodule(name).to_empty(device=device)
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.device.type == "meta"]
    if left:
        raise ModelLoadError(f"the device map left {len(left)} tensors unplaced (e.g. {left[0]})")


def dispatch(model: Any, device_map: dict[str, str]) -> None:
    """Put every piece on its device (tensors an encoding added too) and hook each piece so its inputs
    move to its device (accelerate). Hooks are attached even on one device, so every device-mapped
    model runs the same way."""
    from accelerate import dispatch_model

    first = next(iter(device_map.values()))
    dispatch_model(model, device_map=device_map, main_device=first, force_hooks=True,
                   skip_keys=sorted(getattr(model, "_skip_keys_device_placement", None) or []))


__all__ = ["RESERVE_FRACTION", "STRATEGIES", "Pieces", "dispatch", "gpu_budgets", "materialize", "meta_model",
           "pieces_of", "plan", "summary"]
