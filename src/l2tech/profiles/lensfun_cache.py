"""The parsed lensfun database, cached on disk so a process does not parse ~55 XML files again.

:func:`l2tech.profiles.lensfun_xml.load_database` parses the bundled lensfun XML files and the
user's folders once and stores the result here; later processes read it back in a few
milliseconds instead of parsing for about a second.

Where
    ``$L2TECH_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/l2tech``, else
    ``~/.cache/l2tech`` (:func:`cache_dir`); one file per set of ``load_database`` arguments
    (``lensfun-db-<hash of the folders>.marshal``).
Valid while
    the key stored in the file equals the current one: the cache format, the l2tech version,
    the Python version (the :mod:`marshal` format is version-specific), the record field
    names, lensfunpy's version, and the path, modification time (ns) and size of every XML
    file read — bundled and user — and the list of files in each user folder
    (:func:`database_key`). Anything else is a miss and the database is parsed again.
Safety
    the file is written to a temporary name in the same folder and renamed into place
    (atomic); an unreadable, truncated or foreign file is ignored and rebuilt, and a cache
    folder that cannot be written only costs the parse — never an error for the user. The
    format is :mod:`marshal` of plain tuples, dicts, strings and numbers (no code objects,
    no pickle), read only from the user's own cache folder.

Speed: camera bodies and lens headers (maker, model, mounts, focal range, ...) are decoded at
once, which is all matching reads; each lens's calibration points stay encoded until first used
(:class:`_CachedLensProfile`), so loading the whole database takes milliseconds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import marshal
import os
import sys
import threading
from pathlib import Path
from typing import Any, Sequence

from l2tech.profiles.model import (
    CameraBody,
    DistortionCalibration,
    LensProfile,
    TCACalibration,
    VignettingCalibration,
)

__all__ = ["cache_dir", "database_key", "read_cached_database", "write_cached_database"]

#: Bump when the encoding below changes.
CACHE_FORMAT = 1

_CALIBRATION_FIELDS = ("distortion", "tca", "vignetting")
_CAL_CLASSES = (DistortionCalibration, TCACalibration, VignettingCalibration)


def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


_LENS_FIELDS = _field_names(LensProfile)
_HEADER_FIELDS = tuple(f for f in _LENS_FIELDS if f not in _CALIBRATION_FIELDS)
_CAMERA_FIELDS = _field_names(CameraBody)
_CAL_FIELDS = tuple(_field_names(c) for c in _CAL_CLASSES)
_SCHEMA = (_LENS_FIELDS, _CAMERA_FIELDS, _CAL_FIELDS)


def cache_dir() -> Path:
    """The l2tech cache folder (need not exist).

    Returns
    -------
    Path
        ``$L2TECH_CACHE_DIR`` when set, else ``$XDG_CACHE_HOME/l2tech`` (an absolute
        ``XDG_CACHE_HOME`` only, as the XDG spec says), else ``~/.cache/l2tech``.
    """
    env = os.environ.get("L2TECH_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "l2tech"


def _stat(p: Path) -> tuple[str, int, int]:
    try:
        st = p.stat()
    except OSError:
        return (str(p), -1, -1)
    return (str(p), st.st_mtime_ns, st.st_size)


def _lensfunpy_version(bundled: Path) -> str:
    """lensfunpy's version from its ``_version.py`` beside ``db_files`` (no import, no scan)."""
    try:
        return (bundled.parent / "_version.py").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "unknown"


def database_key(bundled: Path | None, bundled_files: Sequence[Path], user_layers: Sequence[tuple[Path, Sequence[Path]]]) -> tuple:
    """The validity key of a cached database (module docs).

    Parameters
    ----------
    bundled : Path or None
        lensfunpy's ``db_files`` folder; None when the bundled files are not loaded.
    bundled_files : sequence of Path
        The bundled XML files, in load order.
    user_layers : sequence of (Path, sequence of Path)
        Each user folder (or file) as given, with the XML files it holds, in load order.

    Returns
    -------
    tuple
        Plain data (strings, ints); equal keys mean the same inputs.
    """
    from l2tech import __version__

    return (
        CACHE_FORMAT,
        __version__,
        sys.implementation.cache_tag,
        repr(_SCHEMA),
        None if bundled is None else (str(bundled), _lensfunpy_version(bundled), tuple(_stat(f) for f in bundled_files)),
        tuple((str(d), _stat(d)[1:] if d.is_file() else d.is_dir(), tuple(_stat(f) for f in files)) for d, files in user_layers),
    )


def _cache_file(name_parts: tuple) -> Path:
    digest = hashlib.sha256(repr(name_parts).encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return cache_dir() / f"lensfun-db-{digest}.marshal"


# --------------------------------------------------------------------------------------------
# encoding: plain tuples in dataclass field order


def _encode(db: Any, replay: Sequence[str]) -> tuple:
    """Plain data: each body and lens header as its field dict (the instance ``__dict__`` to
    be), each lens's calibration points as one marshal blob of tuples in field order."""

    def cal_rows(points: Sequence[Any], fields: tuple[str, ...]) -> tuple:
        return tuple(tuple(dict(c.terms) if f == "terms" else getattr(c, f) for f in fields) for c in points)

    lenses = []
    for lens in db.lenses:
        header = {f: dict(lens.extra) if f == "extra" else getattr(lens, f) for f in _HEADER_FIELDS}
        header["_calibrations"] = marshal.dumps(
            tuple(cal_rows(getattr(lens, f), fields) for f, fields in zip(_CALIBRATION_FIELDS, _CAL_FIELDS))
        )
        lenses.append(header)
    cameras = tuple({f: getattr(c, f) for f in _CAMERA_FIELDS} for c in db.cameras)
    return (cameras, tuple(lenses), dict(db.mounts), tuple(db.warnings), tuple(db.files), tuple(replay))


_new = object.__new__
_set = object.__setattr__
_lock = threading.Lock()


def _record(cls: type, fields: tuple[str, ...], row: tuple) -> Any:
    obj = _new(cls)
    _set(obj, "__dict__", dict(zip(fields, row)))
    return obj


class _CachedLensProfile(LensProfile):
    """A :class:`LensProfile` read from the cache whose calibration points are still encoded.

    The first read of ``distortion``, ``tca`` or ``vignetting`` (or a comparison, hash, repr,
    copy or pickle) decodes them and turns the object into a plain :class:`LensProfile`; to
    every caller it is one from the start (``isinstance`` holds, equality with a freshly parsed
    profile holds).
    """

    def _decode_calibrations(self) -> None:
        with _lock:
            d = self.__dict__
            blob = d.pop("_calibrations", None)
            if blob is not None:
                for name, cls, fields, rows in zip(_CALIBRATION_FIELDS, _CAL_CLASSES, _CAL_FIELDS, marshal.loads(blob)):
                    d[name] = tuple(_record(cls, fields, r) for r in rows)
                _set(self, "__class__", LensProfile)

    @property
    def distortion(self):  # type: ignore[override]
        self._decode_calibrations()
        return self.distortion

    @property
    def tca(self):  # type: ignore[override]
        self._decode_calibrations()
        return self.tca

    @property
    def vignetting(self):  # type: ignore[override]
        self._decode_calibrations()
        return self.vignetting

    def __eq__(self, other: object) -> bool:
        self._decode_calibrations()
        return self == other

    def __hash__(self) -> int:
        self._decode_calibrations()
        return hash(self)

    def __repr__(self) -> str:
        self._decode_calibrations()
        return repr(self)

    def __reduce_ex__(self, protocol):  # copy, deepcopy, pickle: a plain LensProfile
        self._decode_calibrations()
        return self.__reduce_ex__(protocol)


def _decode(payload: tuple, database_cls: type) -> tuple[Any, tuple[str, ...]]:
    cameras, lenses, mounts, warnings, files, replay = payload
    out = []
    for d in lenses:  # d: the header fields and "_calibrations", straight from marshal
        obj = _new(_CachedLensProfile)
        _set(obj, "__dict__", d)
        out.append(obj)
    bodies = []
    for d in cameras:
        obj = _new(CameraBody)
        _set(obj, "__dict__", d)
        bodies.append(obj)
    db = database_cls(cameras=tuple(bodies), lenses=tuple(out), mounts=mounts, warnings=warnings, files=files)
    return db, replay


# --------------------------------------------------------------------------------------------
# reading and writing


def read_cached_database(name_parts: tuple, key: tuple, database_cls: type) -> tuple[Any, tuple[str, ...]] | None:
    """The cached database for these arguments if its key matches, else None (never raises).

    Returns
    -------
    (LensDatabase, tuple of str) or None
        The database and the warning lines its load emitted (to emit again).
    """
    path = _cache_file(name_parts)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        stored_key, payload = marshal.loads(data)
        if stored_key != key:
            return None
        return _decode(payload, database_cls)
    except Exception:  # missing, unreadable, truncated, foreign: a miss, rebuilt by the caller
        return None


def write_cached_database(name_parts: tuple, key: tuple, db: Any, replay: Sequence[str]) -> Path | None:
    """Store a database atomically (:func:`l2tech.io.atomic.atomic_output`: temp file in the
    cache folder, renamed into place).

    Returns
    -------
    Path or None
        The cache file; None when the folder cannot be written or a value cannot be encoded
        (never raises: the cache is only an optimisation).
    """
    from l2tech.io.atomic import atomic_output

    path = _cache_file(name_parts)
    try:
        data = marshal.dumps((key, _encode(db, replay)))
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_output(path, overwrite=True) as tmp:
            tmp.write_bytes(data)
        return path
    except Exception:  # read-only home, full disk, an extra value marshal cannot hold: no cache
        return None
