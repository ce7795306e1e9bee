"""Table 1 recipes: one TOML file per Table 1 cell (pcdiag/table1/recipes/NAME.toml, package
data read with importlib.resources), a ``[recipe]`` table (name, cell, model, data, variant,
the PCX source files, notes, and the PCX paper's number where known) and a ``[config]`` table
of pcdiag Config fields."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pcdiag.cli.fields import read_toml
from pcdiag.config import Config, ConfigError
from pcdiag.errors import BadInputError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


def _shipped_recipes() -> Path:
    """The recipes folder inside the installed package, as a file-system path."""
    folder = resources.files("pcdiag.table1") / "recipes"
    return folder if isinstance(folder, Path) else Path(str(folder))


#: The recipes that ship with pcdiag: package data of pcdiag.table1.
RECIPES_DIR = _shipped_recipes()


class RecipeError(BadInputError, FileNotFoundError):
    """No such recipe, or a recipes folder without any: names the folder and the fix."""


@dataclass(frozen=True)
class Recipe:
    """One Table 1 cell: its name, what it is and where it came from, and its Config."""

    name: str
    config: Config
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def cell(self) -> str:
        return self.meta.get("cell", self.name)

    @property
    def is_bp(self) -> bool:
        return self.config.algorithm == "bp"

    def model_key(self) -> tuple:
        """Recipes with the same key train the same network on the same data (pairable)."""
        c = self.config
        return (c.dataset, c.net, c.depth, c.width, c.batch_size, c.epochs)


def available(directory: str | os.PathLike | None = None) -> list[str]:
    """Names of the recipes in `directory` (default RECIPES_DIR, the shipped ones), sorted.
    A folder that is missing or holds no NAME.toml is a RecipeError, never an empty list."""
    folder = Path(directory) if directory is not None else RECIPES_DIR
    names = sorted(p.stem for p in folder.glob("*.toml")) if folder.is_dir() else []
    if names:
        return names
    what = "no such folder" if not folder.is_dir() else "no NAME.toml file in it"
    if directory is None:
        raise RecipeError(f"pcdiag's Table 1 recipes are missing: {folder}: {what} (package "
                          "data of pcdiag.table1); reinstall pcdiag, or give --recipes-dir DIR")
    raise RecipeError(f"recipes folder {folder} (--recipes-dir): {what}; give a folder of "
                      f"NAME.toml recipes, or leave it out for the shipped ones ({RECIPES_DIR})")


def load_recipe(name_or_path: str | os.PathLike, directory: str | os.PathLike | None = None,
                **overrides) -> Recipe:
    """A recipe by name (a file NAME.toml in `directory`) or by path; `overrides` change
    Config fields (e.g. train_limit=512 for a quick check)."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        folder = Path(directory) if directory is not None else RECIPES_DIR
        path = folder / f"{name_or_path}.toml"
    if not path.is_file():
        raise RecipeError(f"recipe {name_or_path!r}: no file {path}; known recipes: "
                          f"{', '.join(available(directory))}")
    with path.open("rb") as handle:
        meta = tomllib.load(handle).get("recipe", {})
    values = read_toml(path)  # the [config] table, with pcdiag's checks
    values.pop("recipe", None)
    try:
        config = Config.from_dict({**values, **overrides}, source=str(path))
    except ConfigError as error:
        raise ConfigError(f"recipe {path}: {error}") from None
    return Recipe(meta.get("name", path.stem), config, meta, path)
