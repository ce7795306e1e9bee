"""Benchmark recipes: one TOML file per Table 1 cell (benchmarks/recipes/NAME.toml), a
``[recipe]`` table (name, cell, model, data, variant, the PCX source files, notes, and the
PCX paper's number where known) and a ``[config]`` table of pcdiag Config fields."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pcdiag.cli.fields import read_toml
from pcdiag.config import Config, ConfigError

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

#: The recipes that ship with pcdiag (a source checkout's benchmarks/recipes/).
RECIPES_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "recipes"


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
    """Names of the recipes in `directory` (default RECIPES_DIR), sorted."""
    folder = Path(directory) if directory is not None else RECIPES_DIR
    return sorted(p.stem for p in folder.glob("*.toml"))


def load_recipe(name_or_path: str | os.PathLike, directory: str | os.PathLike | None = None,
                **overrides) -> Recipe:
    """A recipe by name (a file NAME.toml in `directory`) or by path; `overrides` change
    Config fields (e.g. train_limit=512 for a quick check)."""
    path = Path(name_or_path)
    if path.suffix != ".toml":
        folder = Path(directory) if directory is not None else RECIPES_DIR
        path = folder / f"{name_or_path}.toml"
    if not path.is_file():
        known = ", ".join(available(directory)) or "(none)"
        raise FileNotFoundError(f"recipe {name_or_path!r}: no file {path}; known recipes: "
                                f"{known}")
    with path.open("rb") as handle:
        meta = tomllib.load(handle).get("recipe", {})
    values = read_toml(path)  # the [config] table, with pcdiag's checks
    values.pop("recipe", None)
    try:
        config = Config.from_dict({**values, **overrides}, source=str(path))
    except ConfigError as error:
        raise ConfigError(f"recipe {path}: {error}") from None
    return Recipe(meta.get("name", path.stem), config, meta, path)
