"""`ref:` models: small reference models shipped with tbench, one per encoding family.

    ref/recipes/NAME.yaml   how the model is trained (the recipe; `tbench train --recipe` reads it)
    ref/NAME/               the trained model: a tbench model directory (models/saved.py) + README.md card

A name is known when its recipe exists; `ref:NAME` loads only once `ref/NAME/` holds weights, and
until then says which command builds them. Nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ModelLoadError, UnknownNameError
from ..resources import builtin_dir
from .saved import MANIFEST, manifest


def ref_root() -> Path:
    """The packaged `ref/` folder (wheel), else the checkout's top-level one."""
    return builtin_dir("ref")


def recipe_path(name: str) -> Path:
    return ref_root() / "recipes" / f"{name}.yaml"


def names() -> list[str]:
    folder = ref_root() / "recipes"
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def build_command(name: str) -> str:
    return f"tbench train --recipe ref/recipes/{name}.yaml --out ref/{name}"


def ref_dir(name: str) -> Path:
    """The folder of a shipped reference model; a one-line error when unknown or not built yet."""
    if name not in names():
        raise UnknownNameError("reference model", name, names())
    folder = ref_root() / name
    if not (folder / MANIFEST).is_file():
        raise ModelLoadError(f"reference model '{name}' has no weights in this installation",
                             f"build it with: {build_command(name)}")
    return folder


@dataclass(frozen=True)
class RefInfo:
    name: str
    spec: str  # the recipe's model spec
    train_length: int | None
    parameters: int | None  # None until built
    size_bytes: int | None

    @property
    def built(self) -> bool:
        return self.size_bytes is not None


def info(name: str) -> RefInfo:
    """What `tbench list models` shows: recipe facts, plus parameters and size once built."""
    from ..tasks.catalog import read_yaml

    recipe = read_yaml(recipe_path(name)) or {}
    folder = ref_root() / name
    data = manifest(folder) if (folder / MANIFEST).is_file() else None
    size = sum(p.stat().st_size for p in folder.glob("*.safetensors")) if data else None
    return RefInfo(name, str(recipe.get("model", "?")), recipe.get("length"),
                   data.get("parameters") if data else None, size)
