"""The recipe file "save recipe" writes: the :class:`~l2tech.pipeline.recipe.Recipe`'s fields as TOML.

A small local writer (TOML 1.0 subset: a ``[recipe]`` table of strings, numbers, booleans and
string arrays; unset fields are left out) and its reader (:mod:`tomllib`). Kept here until the
pipeline's own recipe-file module is merged, then both should use that one.
"""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path
from typing import Any

from l2tech.errors import CorruptInputError, UsageError
from l2tech.pipeline.recipe import Recipe

__all__ = ["RECIPE_SUFFIX", "recipe_to_toml", "read_recipe_toml", "write_recipe_toml", "recipe_path_for"]

#: Sidecar suffix: ``IMG_0001.CR2`` → ``IMG_0001.CR2.l2recipe.toml``.
RECIPE_SUFFIX = ".l2recipe.toml"


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise UsageError(f"a recipe value must be finite, got {v}")
        return repr(v)
    if isinstance(v, str):
        out = v.replace("\\", "\\\\").replace('"', '\\"')
        out = "".join(c if c >= " " or c == "\t" else f"\\u{ord(c):04x}" for c in out)
        return f'"{out}"'
    if isinstance(v, (tuple, list)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise UsageError(f"cannot write {type(v).__name__} to a recipe file")


def recipe_to_toml(recipe: Recipe, *, comment: str | None = None) -> str:
    """The recipe as TOML text: one ``[recipe]`` table, fields in declaration order.

    Parameters
    ----------
    recipe : Recipe
    comment : str, optional
        A first-line comment (what the recipe is for).

    Returns
    -------
    str
        TOML 1.0 (``None`` fields left out); :func:`read_recipe_toml` reads it back to an
        equal Recipe.
    """
    lines = [f"# {line}" for line in (comment or "").splitlines()]
    lines.append("[recipe]")
    for f in dataclasses.fields(recipe):
        v = getattr(recipe, f.name)
        if v is not None:
            lines.append(f"{f.name} = {_value(v)}")
    return "\n".join(lines) + "\n"


def read_recipe_toml(path: str | os.PathLike) -> Recipe:
    """Read a recipe file written by :func:`write_recipe_toml`.

    Raises
    ------
    CorruptInputError
        Not TOML, no ``[recipe]`` table, or an unknown field (named in the message).
    UsageError
        A value the :class:`Recipe` refuses.
    """
    import tomllib

    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CorruptInputError(f"not a TOML recipe file: {exc}", path=path) from None
    table = data.get("recipe")
    if not isinstance(table, dict):
        raise CorruptInputError("no [recipe] table", path=path)
    known = {f.name for f in dataclasses.fields(Recipe)}
    bad = sorted(set(table) - known)
    if bad:
        raise CorruptInputError(f"unknown recipe field(s) {', '.join(bad)}; valid: {', '.join(sorted(known))}", path=path)
    if "corrections" in table:
        table["corrections"] = tuple(table["corrections"])
    return Recipe(**table)


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
        Path(tmp).write_text(recipe_to_toml(recipe, comment=comment), encoding="utf-8")
    return p
