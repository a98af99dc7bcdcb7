"""Sidecars: ``name.ext.l2.toml`` beside each output, enough to make that output again.

A sidecar records the recipe (a ``[recipe]`` table, so the sidecar is also a recipe file),
the command that applied it, the input (absolute path, size, SHA-256), the output's SHA-256,
the lens and profile the plan chose and where each came from, and the l2tech version::

    [l2tech]
    version = "0.1.0"
    command = "develop"
    recipe_hash = "…"

    [input]
    path = "/photos/IMG_1.RW2"
    sha256 = "…"
    size = 24117248

    [output]
    name = "IMG_1.jpg"
    sha256 = "…"

    [lens]
    camera = "Panasonic DC-S5"
    lens = "Lumix S 20-60/F3.5-5.6"
    profile_source = "database"
    …

    [recipe]
    exposure_ev = 0.5
    …

``l2 develop --from-sidecar out/IMG_1.jpg.l2.toml`` reads it back (:func:`read_sidecar`) and
redoes the output; the same input, recipe and release give the same bytes.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from l2tech.pipeline.recipe import Recipe

__all__ = ["SIDECAR_SUFFIX", "Sidecar", "sidecar_path", "file_sha256", "sidecar_text", "write_sidecar", "read_sidecar"]

#: Appended to the output's name: ``IMG_1.jpg`` → ``IMG_1.jpg.l2.toml``.
SIDECAR_SUFFIX = ".l2.toml"

#: Sidecar layout version (``[l2tech] sidecar``).
SIDECAR_VERSION = 1


def sidecar_path(output: str | os.PathLike) -> Path:
    """The sidecar of an output file: the output's name with ``.l2.toml`` appended."""
    p = Path(output)
    return p.with_name(p.name + SIDECAR_SUFFIX)


def file_sha256(path: str | os.PathLike, *, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes.

    Parameters
    ----------
    path : path-like
    chunk : int
        Read size, bytes.

    Returns
    -------
    str
        64 lowercase hex digits (FIPS 180-4 SHA-256, as ``sha256sum`` prints).
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            b = fh.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


@dataclass(frozen=True)
class Sidecar:
    """What a sidecar records.

    Attributes
    ----------
    path : Path
        The sidecar file.
    output : Path
        The output it describes (the sidecar's name without ``.l2.toml``).
    command : {'develop', 'correct'}
    recipe : Recipe
    recipe_hash : str
        :func:`~l2tech.pipeline.recipe_file.recipe_hash` of ``recipe`` and ``command``.
    input_path : str
        Absolute path of the input when the output was made.
    input_sha256, output_sha256 : str
    version : str
        The l2tech release that made the output.
    lens : dict
        The lens plan's choice: camera, lens, profile, its source, the shot values and theirs.
    video : dict or None
        ``l2 video``'s own settings (the ``[video]`` table), None for stills.
    """

    path: Path
    output: Path
    command: str
    recipe: Recipe
    recipe_hash: str
    input_path: str
    input_sha256: str
    output_sha256: str
    version: str
    lens: Mapping[str, Any] = field(default_factory=dict)
    video: Mapping[str, Any] | None = None


def _text_field(key: str, name: str) -> dict[str, str]:
    """A file name as TOML text. A name that is not valid UTF-8 (bytes kept by Python as lone
    surrogates) cannot be a TOML string: it is written readable with ``\\xNN`` escapes, and
    exactly as ``KEY_bytes_hex``, from which :func:`read_sidecar` restores it."""
    try:
        name.encode("utf-8")
        return {key: name}
    except UnicodeEncodeError:
        raw = os.fsencode(name)
        return {key: raw.decode("utf-8", "backslashreplace"), f"{key}_bytes_hex": raw.hex()}


def _read_text_field(table: Mapping[str, Any], key: str) -> Any:
    hexed = table.get(f"{key}_bytes_hex")
    if isinstance(hexed, str):
        try:
            return os.fsdecode(bytes.fromhex(hexed))
        except ValueError:
            return table.get(key)
    return table.get(key)


def sidecar_text(*, command: str, recipe: Recipe, input_path: str | os.PathLike, input_sha256: str, input_size: int,
                 output: str | os.PathLike, output_sha256: str, lens: Mapping[str, Any] | None = None,
                 video: Mapping[str, Any] | None = None) -> str:
    """The TOML text of a sidecar (see the module docstring for its layout).

    Parameters
    ----------
    command : {'develop', 'correct'}
    recipe : Recipe
    input_path : path-like
        Recorded as an absolute path.
    input_sha256, output_sha256 : str
        Hex SHA-256 of the input and of the finished output (:func:`file_sha256`).
    input_size : int
        Bytes.
    output : path-like
        The output; its name is recorded.
    lens : mapping, optional
        The lens plan's summary (:meth:`~l2tech.pipeline.lens_plan.LensPlan.summary`, with the
        profile chosen under ``profile``).
    video : mapping, optional
        ``l2 video``'s own settings (:func:`l2tech.pipeline.video.video_settings`), written as
        a ``[video]`` table and hashed with the recipe.

    Returns
    -------
    str
        TOML that :func:`read_sidecar` and :func:`~l2tech.pipeline.recipe_file.read_recipe_file`
        read back.
    """
    from l2tech import __version__
    from l2tech.pipeline.recipe_file import recipe_hash, recipe_to_toml, toml_dumps

    head = toml_dumps({
        "l2tech": {"version": __version__, "sidecar": SIDECAR_VERSION, "command": command,
                   "recipe_hash": recipe_hash(recipe, command, video)},
        "input": {**_text_field("path", os.path.abspath(input_path)), "sha256": input_sha256, "size": int(input_size)},
        "output": {**_text_field("name", Path(output).name), "sha256": output_sha256},
        "lens": _plain(lens or {}),
    })
    if video is not None:
        head += "\n" + toml_dumps({"video": {k: (list(v) if isinstance(v, tuple) else v) for k, v in video.items()}})
        redo = "`l2 video INPUT --recipe THIS_FILE -o OUTPUT` makes it again"
    else:
        redo = f"`l2 {command} --from-sidecar THIS_FILE` makes it again"
    return ("# l2tech sidecar: the recipe and inputs that made this output; " + redo + "\n"
            + head + "\n[recipe]\n" + recipe_to_toml(recipe))


def _plain(d: Mapping[str, Any]) -> dict[str, Any]:
    """A lens summary as TOML-writable values (nested dicts kept, None dropped by the writer)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out[k] = _plain(v)
        elif isinstance(v, (str, bool, int, float)) or v is None:
            out[k] = v
        elif isinstance(v, (list, tuple)):
            out[k] = [str(x) for x in v]
        else:
            out[k] = str(v)
    return out


def write_sidecar(output: str | os.PathLike, text: str, *, overwrite: bool = True) -> Path:
    """Write a sidecar's text beside ``output`` atomically (:func:`l2tech.io.atomic.atomic_output`).

    Returns
    -------
    Path
        ``output`` + ``.l2.toml``.

    Raises
    ------
    OutputExistsError
        The sidecar exists and ``overwrite`` is false.
    OutputError
        The folder is missing or read-only, or the disk is full.
    """
    from l2tech.io.atomic import atomic_output

    p = sidecar_path(output)
    with atomic_output(p, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return p


def read_sidecar(path: str | os.PathLike) -> Sidecar:
    """Read an l2tech sidecar (``*.l2.toml``).

    Raises
    ------
    InputNotFoundError
        No such file.
    RecipeError
        Not valid TOML, not an l2tech sidecar (no ``[l2tech]``, ``[input]`` or ``[recipe]``
        table), or an invalid recipe in it (with file:line).
    """
    from l2tech.errors import InputNotFoundError, RecipeError
    from l2tech.pipeline.recipe_file import read_recipe_file, read_toml_file, recipe_hash, toml_loads

    p = Path(path)
    if not p.is_file():
        raise InputNotFoundError("sidecar not found" if not p.exists() else "not a file", path=p)
    doc = toml_loads(read_toml_file(p), path=p)
    missing = [t for t in ("l2tech", "input", "recipe") if not isinstance(doc.get(t), dict)]
    if missing:
        raise RecipeError(f"not an l2tech sidecar: no [{missing[0]}] table", path=p)
    recipe = read_recipe_file(p)
    meta, inp, out = doc["l2tech"], doc["input"], doc.get("output", {})
    command = str(meta.get("command", "develop"))
    if command not in ("develop", "correct", "video"):
        raise RecipeError(f"unknown command {command!r} in [l2tech]; valid: develop, correct, video", path=p)
    video = None
    if command == "video":
        from l2tech.pipeline.video import read_video_settings

        video = read_video_settings(p)
    inp = {**inp, "path": _read_text_field(inp, "path")}
    if not isinstance(inp.get("path"), str):
        raise RecipeError("[input] has no path", path=p)
    name = p.name[: -len(SIDECAR_SUFFIX)] if p.name.endswith(SIDECAR_SUFFIX) else str(out.get("name", p.stem))
    return Sidecar(path=p, output=p.with_name(name), command=command, recipe=recipe,
                   # the hash written when the output was made: it covers the content the named
                   # profile/LUT/gyro files had then, which recomputing now would not
                   recipe_hash=str(meta["recipe_hash"]) if isinstance(meta.get("recipe_hash"), str)
                   else recipe_hash(recipe, command, video), input_path=inp["path"],
                   input_sha256=str(inp.get("sha256", "")), output_sha256=str(out.get("sha256", "")),
                   version=str(meta.get("version", "")), lens=dict(doc.get("lens", {})), video=video)
