"""One registry per kind of plugin (task families, encodings), with did-you-mean lookups.

tbench's own plugins register through the same decorator third-party ones use; third-party packages
are found through the entry-point groups `tbench.tasks` and `tbench.encodings`. Registries load
lazily (importing the built-in modules on first lookup) and never skip a plugin that fails to import.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from .errors import UnknownNameError, UsageError

T = TypeVar("T")


class Registry(Generic[T]):
    def __init__(self, kind: str, entry_point_group: str, builtin_modules: tuple[str, ...]):
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._builtin_modules = builtin_modules
        self._items: dict[str, T] = {}
        self._loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise UsageError(f"{self.kind} '{name}' is registered twice")
            self._items[name] = obj
            return obj

        return decorator

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self._builtin_modules:
            importlib.import_module(module)
        for ep in entry_points(group=self.entry_point_group):
            try:
                ep.load()
            except Exception as exc:  # a broken plugin is an error, never silently skipped
                raise UsageError(
                    f"{self.kind} plugin '{ep.name}' ({ep.value}) failed to import: {exc}",
                    f"fix or uninstall the package providing entry point group '{self.entry_point_group}'",
                ) from exc

    def get(self, name: str) -> T:
        self._load()
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._items) from None

    def names(self) -> list[str]:
        self._load()
        return sorted(self._items)

    def items(self) -> Iterator[tuple[str, T]]:
        self._load()
        yield from sorted(self._items.items())

    def __contains__(self, name: str) -> bool:
        self._load()
        return name in self._items
