"""`random:` models: seeded random-init configs of the supported architectures, offline.

Every config uses the byte tokenizer, so nothing is downloaded; all but `llama-70b` and `llama-405b` are
small enough for CPU tests. `random:NAME(seed=3)` picks the initialisation seed (default 0).

Under a device map (`build_random(..., device_map=...)`) the model is built on the meta device and
each piece gets its memory and its random values directly on its own GPU, so a model larger than one
GPU (or than the host's memory) can be built. Same seed, same device map: same weights; but the values
are drawn by each device's generator, so they differ from the one-device build of the same seed.
"""

from __future__ import annotations

from typing import Any

from ..encodings.limits import MAX_POSITIONS, MAX_SEED
from ..errors import SpecError, UnknownNameError
from .byte_tokenizer import VOCAB_SIZE

_COMMON = dict(vocab_size=VOCAB_SIZE, bos_token_id=1, eos_token_id=2, pad_token_id=0,
               max_position_embeddings=131072, tie_word_embeddings=False)

CONFIGS: dict[str, tuple[str, dict[str, Any]]] = {
    "llama-tiny": ("llama", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2)),
    "llama-small": ("llama", dict(hidden_size=256, intermediate_size=688, num_hidden_layers=4,
                                  num_attention_heads=8, num_key_value_heads=4)),
    # the reference models' shape: ~3.3M parameters, 6.6 MB in bf16; head dim 64 so that toroidal
    # depth 4 keeps 16-wide sub-tokens (FlexAttention's minimum)
    "llama-ref": ("llama", dict(hidden_size=256, intermediate_size=768, num_hidden_layers=4,
                                num_attention_heads=4, num_key_value_heads=2)),
    "qwen2-tiny": ("qwen2", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                 num_attention_heads=4, num_key_value_heads=2)),
    "mistral-tiny": ("mistral", dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                     num_attention_heads=4, num_key_value_heads=2, sliding_window=None)),
    "phi-tiny": ("phi", dict(hidden_size=80, intermediate_size=160, num_hidden_layers=2,
                             num_attention_heads=4, partial_rotary_factor=0.4)),
    # Llama-2/3-70B's shape with the byte vocabulary: 68.5B parameters, 127.5 GiB in bf16 — for GPU
    # scale runs only; `layers=96` gives 82.1B (153.0 GiB), more than one 141 GB GPU holds
    "llama-70b": ("llama", dict(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
                                num_attention_heads=64, num_key_value_heads=8)),
    # Llama-3.1-405B's width (3.19B parameters a layer; 402B in all); `layers=24`: 76.5B, 142.5 GiB in bf16
    "llama-405b": ("llama", dict(hidden_size=16384, intermediate_size=53248, num_hidden_layers=126,
                                 num_attention_heads=128, num_key_value_heads=8)),
}


_ARGS = ("seed", "layers", "max_position_embeddings")
#: 128 layers of llama-small take ~400 MB in fp32; of llama-70b, 204 GiB in bf16
_MAX_LAYERS = 128
_RANGES = {"seed": (0, MAX_SEED), "layers": (1, _MAX_LAYERS), "max_position_embeddings": (1, MAX_POSITIONS)}


def check_args(name: str, args: dict[str, Any]) -> None:
    if name not in CONFIGS:
        raise UnknownNameError("random model", name, CONFIGS)
    unknown = set(args) - set(_ARGS)
    if unknown:
        raise SpecError(f"random model '{name}' has no argument(s) {', '.join(sorted(unknown))}",
                        f"valid arguments: {', '.join(_ARGS)}")
    for key, value in args.items():
        low, high = _RANGES[key]
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise SpecError(f"random model argument {key}={value!r} must be an integer in [{low}, {high}]")


def max_positions(name: str, args: dict[str, Any]) -> int:
    """The position count of a `random:` model's config, known without building it."""
    check_args(name, args)
    return int(args.get("max_position_embeddings", _COMMON["max_position_embeddings"]))


def random_config(name: str, args: dict[str, Any]):
    from transformers import AutoConfig

    check_args(name, args)
    model_type, overrides = CONFIGS[name]
    kw = {**_COMMON, **overrides}
    if "layers" in args:
        kw["num_hidden_layers"] = int(args["layers"])
    if "max_position_embeddings" in args:
        kw["max_position_embeddings"] = int(args["max_position_embeddings"])
    return AutoConfig.for_model(model_type, **kw)


def build_random(name: str, args: dict[str, Any], dtype, attn_implementation: str,
                 device_map: dict[str, str] | None = None):
    """The seeded random model, on the CPU; or, with `device_map` (module name → device), with each
    piece built on its device."""
    import torch
    from transformers import AutoModelForCausalLM

    config = random_config(name, args)
    seed = int(args.get("seed", 0))
    if device_map is not None:
        return _build_placed(config, seed, dtype, attn_implementation, device_map)
    devnull = torch.random.fork_rng(devices=[])  # leave the caller's RNG untouched
    with devnull:
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config, dtype=dtype, attn_implementation=attn_implementation)
    return model


def _build_placed(config, seed: int, dtype, attn_implementation: str, device_map: dict[str, str]):
    import torch

    from .device_map import materialize, meta_model

    model = meta_model(config, dtype, attn_implementation)
    materialize(model, device_map)
    gpus = sorted({torch.device(d).index or 0 for d in device_map.values() if torch.device(d).type == "cuda"})
    with torch.random.fork_rng(devices=gpus):  # the caller's generators stay untouched
        torch.manual_seed(seed)  # seeds every GPU's generator too
        model.init_weights()  # transformers' own init, now on real memory; rotary tables included
    model.tbench_init = "per-device"  # not the one-device weights of this seed: spec_hash tells them apart
    return model
