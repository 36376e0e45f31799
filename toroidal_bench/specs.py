"""The spec grammar: `SCHEME:MODEL[(k=v,...)][+ENCODING[(k=v,...)]]...` ⇄ frozen dataclasses.

Schemes: `hf:` (hub id, the default), `local:` (a directory), `ref:` (bundled reference models),
`random:` (seeded random-init configs). Values: int, float, bool (`true`/`false`), strings,
inclusive integer ranges `0..3`, and lists `a|b`. Parsing is total: every bad string raises a
SpecError that names the offending token. Parsing is also bounded: integers fit in 64 bits, floats
are finite, a range or list holds at most `MAX_ITEMS` values and a spec at most `MAX_SPEC_CHARS`
characters, so no string can make the parser allocate more than a few kilobytes.

The canonical form (`Spec.canonical()`) writes the scheme explicitly, keeps encodings in order (they
compose left to right), drops arguments equal to their defaults and sorts the rest by key; it is the
`model_spec` column of every result row.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from .errors import SpecError

SCHEMES = ("hf", "local", "ref", "random")

Value = Any  # int | float | bool | str | tuple[Value, ...]

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_ATOM = re.compile(r"^[A-Za-z0-9_.:/\-]+$")
_INT = re.compile(r"^[+-]?\d+$")
_FLOAT = re.compile(r"^[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?$")
_RANGE = re.compile(r"^([+-]?\d+)\.\.([+-]?\d+)$")

#: values in one range or list: far more layers or heads than any model has
MAX_ITEMS = 1024
MAX_SPEC_CHARS = 4096
#: integer arguments end up in int64 columns and seeds
INT64 = (-(2**63), 2**63 - 1)


@dataclass(frozen=True)
class ModelRef:
    scheme: str
    name: str
    args: tuple[tuple[str, Value], ...] = ()

    def canonical(self) -> str:
        return f"{self.scheme}:{self.name}{format_args(dict(self.args))}"


@dataclass(frozen=True)
class EncodingRef:
    """An encoding as written: its name and raw arguments (validated later by the registry)."""

    name: str
    args: tuple[tuple[str, Value], ...] = ()

    def canonical(self) -> str:
        return f"{self.name}{format_args(dict(self.args))}"


@dataclass(frozen=True)
class Spec:
    model: ModelRef
    encodings: tuple[EncodingRef, ...] = field(default_factory=tuple)

    def canonical(self) -> str:
        return "+".join([self.model.canonical(), *(e.canonical() for e in self.encodings)])

    def __str__(self) -> str:
        return self.canonical()


def parse_spec(text: str) -> Spec:
    """Parse a spec string. Encoding arguments are parsed, not validated (see encodings.resolve)."""
    if not isinstance(text, str) or not text.strip():
        raise SpecError("empty model spec", "write e.g. 'random:llama-tiny+rope' or 'hf:Qwen/Qwen2.5-0.5B'")
    if not text.isprintable():
        raise SpecError(f"model spec {text[:60]!r} contains a control character")
    if len(text) > MAX_SPEC_CHARS:
        raise SpecError(f"model spec of {len(text)} characters is too long", f"at most {MAX_SPEC_CHARS}")
    parts = _split_top(text.strip(), "+", text)
    model = _parse_model(parts[0], text)
    encodings = tuple(_parse_encoding(p, text) for p in parts[1:])
    return Spec(model, encodings)


def _parse_model(part: str, text: str) -> ModelRef:
    head, args = _split_call(part, text)
    scheme, sep, name = head.partition(":")
    if not sep:
        scheme, name = "hf", head
    elif scheme not in SCHEMES:
        raise SpecError(f"unknown model scheme '{scheme}:' in '{text}'", f"valid schemes: {', '.join(SCHEMES)}")
    if not name or not re.fullmatch(r"[A-Za-z0-9_.~/\-]+", name):
        raise SpecError(f"bad model name '{name}' in '{text}'", "model names use letters, digits and _ . ~ / -")
    return ModelRef(scheme, name, args)


def _parse_encoding(part: str, text: str) -> EncodingRef:
    name, args = _split_call(part, text)
    if not _NAME.match(name):
        raise SpecError(
            f"bad encoding name '{name}' in '{text}'",
            "encoding names are lower-case, e.g. 'rope', 'yarn(factor=4)'; see `tbench list encodings`",
        )
    return EncodingRef(name, args)


def _split_call(part: str, text: str) -> tuple[str, tuple[tuple[str, Value], ...]]:
    """'name(k=v,...)' → ('name', (('k', v), ...))."""
    if not part:
        raise SpecError(f"empty component in '{text}'", "remove the doubled or trailing '+'")
    if "(" not in part:
        if ")" in part:
            raise SpecError(f"unbalanced ')' in '{part}'", "write arguments as name(key=value,...)")
        return part, ()
    if not part.endswith(")") or part.count("(") != 1 or part.count(")") != 1:
        raise SpecError(f"malformed arguments in '{part}'", "write arguments as name(key=value,...)")
    head, body = part[:-1].split("(", 1)
    if not body.strip():
        return head, ()
    args: dict[str, Value] = {}
    for item in body.split(","):
        key, eq, raw = item.strip().partition("=")
        key = key.strip()
        if not eq or not _KEY.match(key):
            raise SpecError(f"bad argument '{item.strip()}' in '{part}'", "arguments are key=value")
        if key in args:
            raise SpecError(f"argument '{key}' given twice in '{part}'")
        args[key] = parse_value(raw.strip(), part)
    return head, tuple(args.items())


def _split_top(text: str, sep: str, whole: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth < 0:
                raise SpecError(f"unbalanced ')' in '{whole}'")
        elif ch == sep and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    if depth:
        raise SpecError(f"unbalanced '(' in '{whole}'")
    parts.append(text[start:].strip())
    return parts


def parse_value(raw: str, where: str = "") -> Value:
    """One argument value: bool, int, float, inclusive range a..b, list a|b, or a bare string."""
    where = where if len(where) <= 80 else where[:77] + "..."  # errors quote it on one short line
    if not raw:
        raise SpecError(f"empty value in '{where}'")
    if "|" in raw:
        items = raw.split("|")
        if len(items) > MAX_ITEMS:
            raise SpecError(f"list of {len(items)} values in '{where}' is too long", f"at most {MAX_ITEMS}")
        return tuple(parse_value(v, where) for v in items)
    if m := _RANGE.match(raw):
        lo, hi = _int(m.group(1), where), _int(m.group(2), where)
        if hi < lo:
            raise SpecError(f"empty range '{raw}' in '{where}'", "ranges are inclusive: write lo..hi with lo ≤ hi")
        if hi - lo + 1 > MAX_ITEMS:
            raise SpecError(f"range '{raw}' in '{where}' holds {hi - lo + 1} values", f"at most {MAX_ITEMS}")
        return tuple(range(lo, hi + 1))
    low = raw.lower()
    if low in ("true", "false"):
        return low == "true"
    if _INT.match(raw):
        return _int(raw, where)
    if _FLOAT.match(raw):
        number = float(raw)
        if not math.isfinite(number):
            raise SpecError(f"number '{raw}' in '{where}' is out of range", "values must be finite")
        return number
    if not _ATOM.match(raw):
        raise SpecError(f"bad value '{raw}' in '{where}'", "values use letters, digits and _ . : / -")
    return raw


def _int(raw: str, where: str) -> int:
    # the digit count is checked first: int() of thousands of digits is slow, then refused by Python
    if len(raw.lstrip("+-")) > 19 or not INT64[0] <= int(raw) <= INT64[1]:
        raise SpecError(f"integer '{raw}' in '{where}' is out of range", "integers must fit in 64 bits")
    return int(raw)


def format_value(value: Value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (tuple, list)):
        ints = [v for v in value if isinstance(v, int) and not isinstance(v, bool)]
        if len(value) >= 3 and len(ints) == len(value) and ints == list(range(ints[0], ints[0] + len(ints))):
            return f"{ints[0]}..{ints[-1]}"
        return "|".join(format_value(v) for v in value)
    return str(value)


def format_args(args: dict[str, Value]) -> str:
    if not args:
        return ""
    return "(" + ",".join(f"{k}={format_value(v)}" for k, v in sorted(args.items())) + ")"
