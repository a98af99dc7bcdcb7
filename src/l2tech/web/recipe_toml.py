"""The recipe file "save recipe" writes: the pipeline's recipe file (:mod:`l2tech.pipeline.recipe_file`).

``l2 develop --recipe FILE`` reads the same file; this module only names it beside the image
and writes it without ever replacing anything but an older recipe file.
"""

from __future__ import annotations

import os
from pathlib import Path

from l2tech.errors import UsageError
from l2tech.pipeline.recipe import Recipe
from l2tech.pipeline.recipe_file import recipe_to_toml

__all__ = ["RECIPE_SUFFIX", "write_recipe_toml", "recipe_path_for"]

#: Sidecar suffix: ``IMG_0001.CR2`` → ``IMG_0001.CR2.l2recipe.toml``.
RECIPE_SUFFIX = ".l2recipe.toml"


def recipe_path_for(image: str | os.PathLike) -> Path:
    """The sidecar recipe path of an image (``name.ext`` → ``name.ext.l2recipe.toml``)."""
    p = Path(image)
    return p.with_name(p.name + RECIPE_SUFFIX)


def write_recipe_toml(path: str | os.PathLike, recipe: Recipe, *, comment: str | None = None) -> Path:
    """Write the recipe atomically (replacing an older recipe file, never any other file).

    Raises
    ------
    UsageError
        ``path`` does not end in :data:`RECIPE_SUFFIX` (so an original is never overwritten).
    OutputError
        The folder cannot be written.
    """
    from l2tech.io.atomic import atomic_output

    p = Path(path)
    if not p.name.endswith(RECIPE_SUFFIX):
        raise UsageError(f"a recipe file name must end in {RECIPE_SUFFIX}, got {p.name!r}")
    with atomic_output(p, overwrite=True) as tmp:
        Path(tmp).write_text(recipe_to_toml(recipe, header=comment), encoding="utf-8")
    return p
