"""Encodings registry. Each family lives in its own module and registers with `@register_encoding`."""

from __future__ import annotations

from ..registry import Registry
from .base import ROPE_ARCHITECTURES, Encoding, resolve_encoding

ENCODINGS: Registry[type[Encoding]] = Registry(
    "encoding",
    "tbench.encodings",
    builtin_modules=(
        "toroidal_bench.encodings.rope",
        "toroidal_bench.encodings.alibi",
        "toroidal_bench.encodings.rope_scaling",
        "toroidal_bench.encodings.toroidal",
    ),
)


def register_encoding(name: str):
    """Class decorator: register an Encoding subclass under `name` (its spec keyword)."""

    def decorator(cls: type[Encoding]) -> type[Encoding]:
        cls.name = name
        return ENCODINGS.register(name)(cls)

    return decorator


__all__ = ["ENCODINGS", "Encoding", "ROPE_ARCHITECTURES", "register_encoding", "resolve_encoding"]
