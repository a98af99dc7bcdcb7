"""Recipe files: the one :class:`~l2tech.pipeline.recipe.Recipe` as TOML, read and written.

A recipe file holds the fields of :class:`Recipe` as top-level TOML keys (``exposure_ev = 0.5``,
``corrections = ["vignetting", "tca"]``), or under a ``[recipe]`` table (the form of the
sidecars l2tech writes beside its outputs, so a sidecar is also a recipe file). A field left
out keeps its default. The mapping is derived from the dataclass fields and their type hints,
so a field added to :class:`Recipe` is readable and writable here without a change.

Errors name the file and the line: an unknown key, a value of the wrong type, or a value the
recipe refuses (:class:`~l2tech.errors.RecipeError`).

TOML is read with the standard library's :mod:`tomllib` (TOML 1.0; ``tomli`` on Python 3.10);
it is written by the small writer :func:`toml_dumps`, which covers what recipes and sidecars
hold (strings, booleans, integers, floats, arrays of those, and tables).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import types
import typing
from pathlib import Path
from typing import Any, Mapping

from l2tech.errors import L2Error, RecipeError
from l2tech.pipeline.recipe import Recipe

__all__ = [
    "FIELD_CHOICES",
    "recipe_fields",
    "recipe_from_mapping",
    "read_recipe_file",
    "recipe_to_toml",
    "recipe_hash",
    "toml_dumps",
    "toml_loads",
]

#: Valid values of the fields that take a name from a fixed list (checked when a file is read;
#: the command line checks them with its own choices).
FIELD_CHOICES: dict[str, tuple[str, ...]] = {
    "white_balance": ("camera", "daylight", "auto"),
    "output_space": ("srgb", "display-p3", "rec2020", "adobe-rgb"),
    "format": ("jpeg", "tiff", "png"),
    "interpolation": ("bilinear", "bicubic", "lanczos", "nearest"),
    "profile_source": ("embedded", "user", "database"),
    "bits": (8, 16),  # type: ignore[dict-item]
}

#: Tables a sidecar holds besides ``[recipe]``; a recipe file may carry them and they are ignored.
SIDECAR_TABLES = ("l2tech", "input", "output", "lens")

#: The table of ``l2 video``'s own settings (codec, crf, …); read by
#: :func:`l2tech.pipeline.video.read_video_settings`, skipped by :func:`read_recipe_file`.
VIDEO_TABLE = "video"


def recipe_fields() -> dict[str, Any]:
    """The fields of :class:`Recipe` and their resolved type hints, in declaration order."""
    hints = typing.get_type_hints(Recipe)
    return {f.name: hints[f.name] for f in dataclasses.fields(Recipe)}


def _type_name(hint: Any) -> str:
    if hint is type(None):
        return "nothing"
    if isinstance(hint, type):
        return {"str": "a string", "bool": "true or false", "int": "an integer", "float": "a number"}.get(hint.__name__, hint.__name__)
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint) if a is not type(None))
    if origin in (tuple, list):
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        return f"a list of {_type_name(args[0]).removeprefix('a ').removeprefix('an ')}s" if args else "a list"
    return str(hint)


def _coerce(value: Any, hint: Any) -> Any:
    """``value`` (as TOML gave it) as the field's type; raises TypeError when it is not one."""
    if hint is Any:
        return value
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        for arg in typing.get_args(hint):
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg)
            except TypeError:
                continue
        raise TypeError
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise TypeError
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        items = [_coerce(v, args[0]) if args else v for v in value]
        return tuple(items) if origin is tuple else items
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError
        try:
            return float(value)
        except OverflowError:  # an integer past a double's range (1e308): not a number a recipe can hold
            raise TypeError from None
    if hint is str:
        if not isinstance(value, str):
            raise TypeError
        return value
    if isinstance(hint, type) and not isinstance(value, hint):
        raise TypeError
    return value


def _key_line(text: str | None, key: str, table: str | None) -> int | None:
    """1-based line of ``key = ...`` in ``table`` (None: top level) of a TOML text, if found."""
    if text is None:
        return None
    current: str | None = None
    key_re = re.compile(r"""^\s*(?:"%s"|'%s'|%s)\s*=""" % ((re.escape(key),) * 3))
    for n, line in enumerate(text.splitlines(), 1):
        head = re.match(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$", line)
        if head:
            current = head.group(1).strip().strip('"\'')
            continue
        if current == table and key_re.match(line):
            return n
    return None


def recipe_from_mapping(values: Mapping[str, Any], *, path: str | os.PathLike | None = None, text: str | None = None,
                        table: str | None = None, base: Recipe | None = None) -> Recipe:
    """A :class:`Recipe` from a mapping of field names to TOML/JSON values.

    Parameters
    ----------
    values : mapping
        Field name → value (a list for a tuple field; ints are accepted for float fields).
    path : path-like, optional
        The file the values came from, for the error messages.
    text : str, optional
        The file's text; used to find the line of a bad key.
    table : str, optional
        The TOML table the keys are in (``"recipe"``), for the line search.
    base : Recipe, optional
        Values of the fields not given (default: :class:`Recipe`'s defaults).

    Returns
    -------
    Recipe

    Raises
    ------
    RecipeError
        An unknown key, a value of the wrong type, a name not in :data:`FIELD_CHOICES`, or a
        value :class:`Recipe` refuses; with the file and line when known.
    """
    fields = recipe_fields()
    where = None if path is None else str(path)
    checked: dict[str, Any] = {}
    for key, value in values.items():
        line = _key_line(text, key, table)
        if key not in fields:
            raise RecipeError(f"unknown recipe key {key!r}; valid keys: {', '.join(fields)}", path=where, line=line)
        try:
            v = _coerce(value, fields[key])
        except TypeError:
            raise RecipeError(f"{key} must be {_type_name(fields[key])}, got {value!r}", path=where, line=line) from None
        choices = FIELD_CHOICES.get(key)
        if choices and v is not None and (v.lower() if isinstance(v, str) else v) not in choices:
            raise RecipeError(f"{key} must be one of {', '.join(map(str, choices))}, got {value!r}", path=where, line=line)
        if isinstance(v, str) and choices:
            v = v.lower()
        # each value on its own first, so a refused one is reported at its own line
        try:
            dataclasses.replace(Recipe(), **{key: v})
        except L2Error as exc:
            raise RecipeError(f"{key}: {getattr(exc, 'reason', exc)}", path=where, line=line) from None
        checked[key] = v
    try:
        return dataclasses.replace(base or Recipe(), **checked)
    except L2Error as exc:
        raise RecipeError(getattr(exc, "reason", str(exc)), path=where) from None


def toml_loads(text: str, *, path: str | os.PathLike | None = None) -> dict[str, Any]:
    """Parse TOML text; a syntax error becomes a :class:`RecipeError` with the file and line."""
    try:
        import tomllib
    except ImportError:  # Python 3.10: the same parser as the tomli package
        import tomli as tomllib  # type: ignore[no-redef]

    try:
        return tomllib.loads(text)
    except (ValueError, RecursionError) as exc:  # TOMLDecodeError; int() refusing an integer past 4300 digits
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column \d+\)", msg)
        line = int(m.group(1)) if m else None
        reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", msg) if m else msg
        raise RecipeError(f"not valid TOML: {reason}", path=None if path is None else str(path), line=line) from None


def decode_toml_bytes(raw: bytes, *, path: str | os.PathLike) -> str:
    """A TOML file's bytes as text; bytes that are not UTF-8 (TOML's encoding) are a :class:`RecipeError`."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecipeError(f"not UTF-8 text (byte {exc.start}); a recipe is a TOML text file", path=str(path)) from None


def read_toml_file(path: str | os.PathLike) -> str:
    """The text of a recipe or sidecar file; an unreadable or non-UTF-8 file is a typed error.

    Raises
    ------
    InputNotFoundError
        No such file, or a folder.
    InputNotReadableError
        The file cannot be read.
    RecipeError
        Not UTF-8 text.
    """
    p = Path(path)
    return decode_toml_bytes(read_side_file_bytes(p, "recipe file"), path=p)


#: Largest recipe or sidecar read (darktable XMPs with long histories are a few hundred kB).
MAX_SIDE_FILE_BYTES = 64 << 20


def read_side_file_bytes(path: str | os.PathLike, what: str) -> bytes:
    """The bytes of a recipe or sidecar file (``what`` names it in errors).

    Raises
    ------
    InputNotFoundError
        No such file, a folder, or not a regular file (a named pipe is refused, not waited on).
    InputNotReadableError
        The file cannot be read.
    LimitExceededError
        Larger than :data:`MAX_SIDE_FILE_BYTES`.
    """
    from l2tech.errors import InputNotFoundError, InputNotReadableError, LimitExceededError
    from l2tech.io.formats import NotRegularFileError, open_regular_file

    p = Path(path)
    try:
        with open_regular_file(p) as fh:
            raw = fh.read(MAX_SIDE_FILE_BYTES + 1)
    except NotRegularFileError:
        raise InputNotFoundError(f"not a regular file (a pipe, device or socket), not a {what}", path=p) from None
    except FileNotFoundError:
        raise InputNotFoundError(f"{what} not found", path=p) from None
    except IsADirectoryError:
        raise InputNotFoundError(f"is a folder, not a {what}", path=p) from None
    except OSError as exc:
        raise InputNotReadableError(f"cannot read the {what}: {exc.strerror or exc}", path=p) from None
    if len(raw) > MAX_SIDE_FILE_BYTES:
        raise LimitExceededError(f"{what} is over {MAX_SIDE_FILE_BYTES} bytes", p)
    return raw


def read_recipe_file(path: str | os.PathLike, *, base: Recipe | None = None) -> Recipe:
    """Read a recipe file (TOML): top-level keys, or a ``[recipe]`` table (a sidecar).

    Parameters
    ----------
    path : path-like
        The ``.toml`` file.
    base : Recipe, optional
        Values of the fields the file leaves out (default: :class:`Recipe`'s defaults).

    Returns
    -------
    Recipe

    Raises
    ------
    InputNotFoundError
        No such file.
    RecipeError
        The file is not valid TOML, or a key or value is invalid (the message has ``file:line``).
    """
    p = Path(path)
    text = read_toml_file(p)
    doc = toml_loads(text, path=p)
    if isinstance(doc.get("recipe"), dict):
        extra = [k for k in doc if k != "recipe" and k not in SIDECAR_TABLES and k != VIDEO_TABLE]
        if extra:
            raise RecipeError(f"unknown key {extra[0]!r} beside the [recipe] table", path=p, line=_key_line(text, extra[0], None)
                              or _table_line(text, extra[0]))
        return _check_file_settings(recipe_from_mapping(doc["recipe"], path=p, text=text, table="recipe", base=base),
                                    p, text, "recipe")
    doc = {k: v for k, v in doc.items() if k != VIDEO_TABLE or not isinstance(v, dict)}
    for k, v in doc.items():
        if isinstance(v, dict):
            raise RecipeError(f"unknown table [{k}]; a recipe file holds keys such as exposure_ev = 0.5 (or a [recipe] table)",
                              path=p, line=_table_line(text, k))
    return _check_file_settings(recipe_from_mapping(doc, path=p, text=text, table=None, base=base), p, text, None)


def _check_file_settings(recipe: Recipe, path: Path, text: str, table: str | None) -> Recipe:
    """Refuse a file setting (``profile``, ``lut``, a ``look`` given as a path) that names a
    folder, a named pipe or a device, with the recipe's file and line: ``look = "/dev/urandom"``
    was reported as "look file not found" without the recipe. A missing file is left to the
    job, which names it (a sidecar may record a file that has moved since)."""
    for key in _FILE_SETTINGS:
        value = getattr(recipe, key, None)
        if not isinstance(value, str) or not value:
            continue
        if key == "look" and not (os.sep in value or Path(value).suffix.lower() in (".toml", ".json")):
            continue  # a look's name
        f = Path(value).expanduser()
        if f.is_file() or not f.exists():
            continue
        kind = "a folder" if f.is_dir() else "not a regular file (a pipe, device or socket)"
        what = {"profile": "lens profile", "lut": "LUT"}.get(key, key)
        raise RecipeError(f"{key} = {value!r} is {kind}, not a {what} file", path=path,
                          line=_key_line(text, key, table))
    return recipe


def _table_line(text: str, name: str) -> int | None:
    for n, line in enumerate(text.splitlines(), 1):
        if re.match(r"^\s*\[\s*%s\s*\]" % re.escape(name), line):
            return n
    return None


def recipe_to_toml(recipe: Recipe, *, header: str | None = None) -> str:
    """The recipe as a TOML recipe file; :func:`read_recipe_file` reads it back to an equal recipe.

    Every field is written: the set ones as ``key = value``, the unset ones (None) as a comment,
    so the file lists every setting there is.
    """
    lines = [f"# {h}" for h in (header or "").splitlines()]
    for key, value in _recipe_items(recipe):
        lines.append(f"# {key} is not set" if value is None else f"{_toml_key(key)} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _recipe_items(recipe: Recipe) -> list[tuple[str, Any]]:
    return [(f.name, getattr(recipe, f.name)) for f in dataclasses.fields(recipe)]


def recipe_hash(recipe: Recipe, command: str = "develop", video: Mapping[str, Any] | None = None) -> str:
    """A stable digest of a recipe and the command that applies it (hex SHA-256).

    Two recipes with the same settings have the same hash in every process and release;
    the batch journal and the sidecars use it to tell whether an output was made with the
    recipe of the current run. ``video``: ``l2 video``'s own settings
    (:func:`l2tech.pipeline.video.video_settings`), hashed with the recipe when given.
    """
    doc: dict[str, Any] = {"command": command,
                           "recipe": {k: (list(v) if isinstance(v, tuple) else v) for k, v in _recipe_items(recipe)}}
    if video is not None:
        doc["video"] = {k: (list(v) if isinstance(v, tuple) else v) for k, v in video.items()}
    files = _referenced_file_digests(recipe, video)
    if files:  # an edited profile, LUT, look file or gyro log is another recipe
        doc["files"] = files
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


#: Settings whose value may name a file whose content shapes the output.
_FILE_SETTINGS = ("profile", "lut", "look")
_VIDEO_FILE_SETTINGS = ("gyro",)


def _referenced_file_digests(recipe: Recipe, video: Mapping[str, Any] | None) -> dict[str, str]:
    """SHA-256 of each file a setting names (a look given by name is not a file)."""
    names = [(k, getattr(recipe, k, None)) for k in _FILE_SETTINGS]
    names += [(f"video.{k}", (video or {}).get(k)) for k in _VIDEO_FILE_SETTINGS]
    out = {}
    for key, value in names:
        if isinstance(value, str) and value and os.path.isfile(value):
            h = hashlib.sha256()
            with open(value, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            out[key] = h.hexdigest()
    return out


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_str(key)


def _toml_str(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch in "\b\t\n\f\r":
            out.append({"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, os.PathLike):
        return _toml_str(os.fspath(v))
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def toml_dumps(doc: Mapping[str, Any]) -> str:
    """Write a mapping as TOML: scalars and arrays as ``key = value``, mappings as ``[tables]``.

    None values are left out (TOML has no null). Covers what l2tech writes (recipes, sidecars);
    :mod:`tomllib` reads the result back to an equal mapping (without the None values).
    """
    lines: list[str] = []

    def emit(table: Mapping[str, Any], prefix: tuple[str, ...]) -> None:
        scalars = [(k, v) for k, v in table.items() if not isinstance(v, Mapping) and v is not None]
        subs = [(k, v) for k, v in table.items() if isinstance(v, Mapping)]
        if prefix and (scalars or not subs):
            if lines:
                lines.append("")
            lines.append("[" + ".".join(_toml_key(p) for p in prefix) + "]")
        for k, v in scalars:
            lines.append(f"{_toml_key(k)} = {_toml_value(v)}")
        for k, v in subs:
            emit(v, prefix + (k,))

    emit(doc, ())
    return "\n".join(lines) + "\n"
