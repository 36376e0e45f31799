"""A suite's data before validation: the `extends:` chain, a named profile, `--set` overrides and
`--models`, each a plain merge of data. Mappings merge key by key; lists and scalars are replaced.
`models:` and `grid:` together are the suite's model list, so a layer that gives one of them without
the other drops the other (a profile naming reference models drops the base's grid of hub models; a
suite giving only `grid: {models: [...]}` keeps the base's grid encodings but not its `models:`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UnknownNameError, UsageError, did_you_mean
from ..tasks.catalog import read_yaml

#: keys a profile or --set may change: everything but the suite's identity and its composition
LAYER_KEYS = {"description", "models", "grid", "tasks", "lengths", "limit", "seed", "seeds", "gates",
              "params"}
KEYS = LAYER_KEYS | {"name", "extends", "profiles"}
MAX_EXTENDS = 16


def merge(base: dict[str, Any], over: dict[str, Any], top: bool = True) -> dict[str, Any]:
    """`over` on `base`: nested mappings merged, anything else replaced."""
    out = dict(base)
    if top and ("models" in over) != ("grid" in over):
        out.pop("grid" if "models" in over else "models", None)  # the other half of the model list goes
    for key, value in over.items():
        both = isinstance(out.get(key), dict) and isinstance(value, dict)
        out[key] = merge(out[key], value, top=False) if both else value
    return out


def read_chain(path: Path, builtin: dict[str, Path]) -> dict[str, Any]:
    """The suite at `path` merged over the suites it extends, parent first; cycles are refused."""
    chain: list[Path] = []
    layers: list[dict[str, Any]] = []
    while True:
        if path.resolve() in chain:
            names = " → ".join(p.name for p in [*chain, path.resolve()])
            raise UsageError(f"suite {chain[0]} extends itself: {names}", "remove one 'extends:' from the cycle")
        if len(chain) >= MAX_EXTENDS:
            raise UsageError(f"suite {chain[0]} extends more than {MAX_EXTENDS} suites in a chain")
        chain.append(path.resolve())
        data = _mapping(read_yaml(path), str(path))
        layers.append(data)
        parent = data.get("extends")
        if parent is None:
            break
        if not (isinstance(parent, str) and parent.strip() and parent.isprintable()):
            raise UsageError(f"'extends' in {path} must be a suite name or a YAML path, got {parent!r}")
        path = locate(parent, path.parent, builtin)
    merged: dict[str, Any] = {}
    for layer in reversed(layers):
        own = {k: v for k, v in layer.items() if k != "extends"}
        merged = merge({k: v for k, v in merged.items() if k != "name"}, own)  # a suite names itself
    return merged


def locate(ref: str, folder: Path, builtin: dict[str, Path]) -> Path:
    """`extends:` target: a YAML path (relative to the extending file), a sibling suite by name, or a
    built-in suite by name."""
    if ref.endswith((".yaml", ".yml")):
        path = Path(ref) if Path(ref).is_absolute() else folder / ref
        if not path.is_file():
            raise UsageError(f"extends: no suite file {path}", "a relative path is read from the extending file's folder")
        return path
    sibling = folder / f"{ref}.yaml"
    if sibling.is_file():
        return sibling
    if ref not in builtin:
        raise UnknownNameError("suite", ref, builtin)
    return builtin[ref]


def apply_profile(data: dict[str, Any], profile: str | None, where: str,
                  keys: set[str] = LAYER_KEYS) -> dict[str, Any]:
    """`data` with `profiles:` checked and taken out, and the named one merged in."""
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict):
        raise UsageError(f"'profiles' in {where} must be a mapping of profile names to suite keys")
    for name, layer in profiles.items():
        what = f"profile '{name}' in {where}"
        if not isinstance(layer, dict):
            raise UsageError(f"{what} must be a mapping of suite keys")
        check_keys(layer, keys, what)
    out = {k: v for k, v in data.items() if k != "profiles"}
    if profile is None:
        return out
    if profile not in profiles:
        raise UnknownNameError("profile", profile, [str(p) for p in profiles])
    return merge(out, profiles[profile])


def apply_sets(data: dict[str, Any], items: list[str], keys: set[str] = LAYER_KEYS) -> dict[str, Any]:
    """`--set key=value` pairs: the value read as YAML, a dotted key reaching into mappings
    (`--set params.protocol=sliding`, `--set grid.encodings=[rope,alibi]`)."""
    import yaml

    for item in items:
        key, sep, text = item.partition("=")
        path = key.strip().split(".")
        if not sep or not all(path):
            raise UsageError(f"--set {item!r} is not key=value", "e.g. --set limit=5 or --set params.protocol=sliding")
        if path[0] not in keys:
            raise unknown_key(f"--set {item!r}: unknown suite key '{path[0]}'", path[0], keys)
        try:
            value = yaml.safe_load(text) if text.strip() else text
        except yaml.YAMLError as exc:
            raise UsageError(f"--set {item!r}: the value is not YAML ({str(exc).splitlines()[0]})") from None
        node = data = dict(data) if len(path) > 1 else merge(data, {path[0]: value})
        for i, part in enumerate(path[:-1]):
            child = node.get(part, {})
            if not isinstance(child, dict):
                raise UsageError(f"--set {item!r}: '{'.'.join(path[:i + 1])}' is not a mapping",
                                 "set a list or a value whole, e.g. --set lengths=[512,1024]")
            node[part] = node = dict(child)
        if len(path) > 1:
            node[path[-1]] = value
    return data


def apply_models(data: dict[str, Any], models: str) -> dict[str, Any]:
    """`--models a,b`: the given specs replace the suite's models and grid (commas inside a spec's
    parentheses belong to the spec)."""
    from ..specs import _split_top

    specs = [s for s in _split_top(models, ",", models) if s]
    if not specs:
        raise UsageError("--models is empty", "e.g. --models ref:rope,ref:toroidal-d1")
    return merge(data, {"models": specs})


def check_keys(data: dict[str, Any], allowed: set[str], what: str) -> None:
    for key in data:
        if key not in allowed:
            raise unknown_key(f"{what} has unknown key '{key}'", str(key), allowed)


def unknown_key(message: str, key: str, allowed) -> UsageError:
    close = did_you_mean(key, sorted(allowed))
    hint = f"did you mean '{close}'? " if close else ""
    return UsageError(message, f"{hint}allowed: {', '.join(sorted(allowed))}")


def _mapping(data: Any, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise UsageError(f"suite file {where} must be a mapping")
    return data
