"""The Encoding contract: a frozen, validated, typed variant that patches a loaded HF model in place.

An encoding is a dataclass whose fields are its spec arguments (with defaults). `from_args` validates
raw spec arguments against the fields' types at parse time, so a typo fails before any model loads.
`apply(model)` patches the model (rotary swap, attention-function swap, layer replacement); encodings
compose left to right. Modules defining encodings must not import torch at import time (`tbench list`
stays instant); import it inside `apply`.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any, ClassVar, Literal

from ..errors import SpecError
from ..specs import INT64, EncodingRef, Value, format_args

#: Architectures (HF `config.model_type`) that tbench knows how to patch.
ROPE_ARCHITECTURES = frozenset({"llama", "qwen2", "mistral", "phi"})


@dataclasses.dataclass(frozen=True)
class Encoding:
    #: registry name, set by `@register_encoding`
    name: ClassVar[str] = ""
    #: model_type values this encoding can patch
    architectures: ClassVar[frozenset[str]] = ROPE_ARCHITECTURES
    #: spec keys that differ from field names (e.g. `lambda` → `lambda_`)
    aliases: ClassVar[dict[str, str]] = {}
    #: name of the attention implementation this encoding installs, if any (only one per model)
    attention: ClassVar[str | None] = None
    #: attention backends this encoding can run on (see attention/backends.py)
    backends: ClassVar[tuple[str, ...]] = ("sdpa", "flex", "flash2", "eager")

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_args(cls, args: dict[str, Value]) -> Encoding:
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
        hints = typing.get_type_hints(cls)
        key_of = {v: k for k, v in cls.aliases.items()}
        kwargs: dict[str, Any] = {}
        for key, raw in args.items():
            fname = cls.aliases.get(key, key)
            if fname not in fields:
                valid = ", ".join(key_of.get(f, f) for f in fields) or "(none)"
                raise SpecError(f"encoding '{cls.name}' has no argument '{key}'", f"valid arguments: {valid}")
            kwargs[fname] = _coerce(raw, hints[fname], f"{cls.name}({key}=…)")
        try:
            enc = cls(**kwargs)
            enc.validate()
        except (TypeError, ValueError) as exc:
            raise SpecError(f"invalid arguments for '{cls.name}': {exc}") from None
        return enc

    def validate(self) -> None:
        """Raise ValueError/SpecError for argument combinations that make no sense."""

    # -- identity -------------------------------------------------------------------------------
    def spec_args(self) -> dict[str, Value]:
        """Arguments that differ from their defaults, under their spec keys."""
        key_of = {v: k for k, v in self.aliases.items()}
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            default = f.default if f.default is not dataclasses.MISSING else dataclasses.MISSING
            if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                default = f.default_factory()  # type: ignore[misc]
            if value != default:
                out[key_of.get(f.name, f.name)] = value
        return out

    def canonical(self) -> str:
        return f"{self.name}{format_args(self.spec_args())}"

    def config(self) -> dict[str, Any]:
        """Every field, defaults included: what `spec_hash` is computed from."""
        return {"name": self.name, **dataclasses.asdict(self)}

    # -- composition (see composition.py) ------------------------------------------------------
    #: what this encoding replaces in a model: "attention" (the attention computation of some or all
    #: layers), "no-rotary" (switches the rotary off), "rope-scaling" (rebuilds the model's rotary from
    #: rope parameters), "rotary" (installs a rotary of its own)
    replaces: ClassVar[frozenset[str]] = frozenset()

    def roles(self) -> frozenset[str]:
        """`replaces`, for these arguments (an encoding may replace more or less depending on them)."""
        return self.replaces | ({"attention"} if self.attention else frozenset())

    def patched_layers(self) -> tuple[int, ...] | None:
        """Decoder layers this encoding patches, or None for every layer."""
        return getattr(self, "layers", None)

    def context_limit(self, positions: int) -> int | None:
        """Longest context once this encoding applies to a model good for `positions` tokens; None
        for no limit. Most encodings keep the model's own; context extensions stretch it."""
        return positions

    # -- behaviour ------------------------------------------------------------------------------
    def check(self, model_type: str) -> None:
        if model_type not in self.architectures:
            raise SpecError(
                f"encoding '{self.name}' does not support architecture '{model_type}'",
                f"supported: {', '.join(sorted(self.architectures))}",
            )

    def apply(self, model: Any) -> None:
        """Patch `model` (a transformers PreTrainedModel) in place."""
        raise NotImplementedError


def resolve_encoding(ref: EncodingRef) -> Encoding:
    from . import ENCODINGS

    cls = ENCODINGS.get(ref.name)
    return cls.from_args(dict(ref.args))


def _coerce(raw: Value, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if raw is None and type(None) in args:
            return None
        errors = []
        for option in args:
            if option is type(None):
                continue
            try:
                return _coerce(raw, option, where)
            except SpecError as exc:
                errors.append(str(exc))
        raise SpecError(f"bad value {raw!r} for {where}", "; ".join(errors))
    if origin is Literal:
        if raw in args:
            return raw
        raise SpecError(f"bad value {raw!r} for {where}", f"choose one of: {', '.join(map(str, args))}")
    if origin is tuple:
        items = raw if isinstance(raw, tuple) else (raw,)
        inner = args[0] if args else Any
        return tuple(_coerce(v, inner, where) for v in items)
    if tp is Any:
        return raw
    if tp is bool:
        if isinstance(raw, bool):
            return raw
        raise SpecError(f"bad value {raw!r} for {where}", "expected true or false")
    if tp is int:
        if isinstance(raw, int) and not isinstance(raw, bool) and INT64[0] <= raw <= INT64[1]:
            return raw
        raise SpecError(f"bad value {raw!r} for {where}", "expected an integer that fits in 64 bits")
    if tp is float:
        finite_int = isinstance(raw, int) and not isinstance(raw, bool) and INT64[0] <= raw <= INT64[1]
        if finite_int or (isinstance(raw, float) and math.isfinite(raw)):
            return float(raw)
        raise SpecError(f"bad value {raw!r} for {where}", "expected a finite number")
    if tp is str:
        if isinstance(raw, str):
            return raw
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            return str(raw)
        raise SpecError(f"bad value {raw!r} for {where}", "expected a word")
    raise SpecError(f"unsupported argument type {tp!r} for {where}")
