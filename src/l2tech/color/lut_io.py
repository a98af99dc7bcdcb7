"""LUT files: read and write ``.cube`` (Iridas and Resolve flavours), ``.3dl``, ``.spi1d``,
``.spi3d``, Panasonic ``.vlt``; read Academy/ASC CLF (see :mod:`l2tech.color.clf`).

Every reader checks sizes before allocating (3D: 2-256 points, 1D: 2-65536), refuses wrong
entry counts, extra values, NaN/inf and inverted domains with a :class:`~l2tech.errors.LUTError`
naming the file and line, and accepts CRLF, a UTF-8 BOM, ``#`` comments and ``TITLE``. Writers
are atomic (temp file + rename). Float formats round-trip exactly (``%.9g`` of float32).

References
----------
Adobe "Cube LUT Specification" 1.0 (2013) (Iridas/Adobe ``.cube``: TITLE, LUT_1D_SIZE,
LUT_3D_SIZE, DOMAIN_MIN/MAX, red fastest); Blackmagic DaVinci Resolve ``.cube`` variant
(LUT_1D_INPUT_RANGE / LUT_3D_INPUT_RANGE, 1D shaper + 3D in one file); Autodesk Lustre /
Discreet ``.3dl`` (mesh line, integer entries, blue fastest); Sony Pictures Imageworks
``.spi1d`` / ``.spi3d`` (as read by OpenColorIO ``src/OpenColorIO/fileformats``); Panasonic
``.vlt`` (OPTICS.md §6: header ``# panasonic vlt file version 1.0``, ``LUT_3D_SIZE 17``,
integers 0-4095, red fastest). colour-science ``colour/io/luts`` serves as test oracle.
"""

from __future__ import annotations

import itertools
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from l2tech.color._io import LineCursor, atomic_write_text, read_data_lines, read_text, read_text_lines
from l2tech.color._registry import Registry
from l2tech.color.lut import (
    LUT,
    LUT1D,
    LUT3D,
    MAX_LUT1D_SIZE,
    MAX_LUT3D_SIZE,
    MAX_LUT_VALUE,
    MIN_DOMAIN_SPAN,
    MIN_LUT_SIZE,
    LUTSequence,
    domain_too_narrow,
)
from l2tech.errors import LUTError, UsageError

__all__ = [
    "LUTFormat",
    "LUT_FORMATS",
    "read_lut",
    "write_lut",
    "read_cube",
    "write_cube",
    "read_3dl",
    "write_3dl",
    "read_spi1d",
    "write_spi1d",
    "read_spi3d",
    "write_spi3d",
    "read_vlt",
    "write_vlt",
    "format_for_path",
    "describe_lut",
    "convert_lut",
]

_FLOAT_FMT = "%.9g"  # shortest fixed width that round-trips float32
_NUMBER = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


def _table_entry(data: np.ndarray, count: int, tokens: list[str], path: Path, n: int, line: str, *, expected: str,
                 full: str) -> None:
    """Store one table row at ``data[count]``: ``len(data[count])`` numbers, within the table.

    ``expected`` names the values in the error ("3 values (R G B)"), ``full`` why no row is left
    ("the header declares 4913 entries")."""
    if len(tokens) != data.shape[1]:
        raise LUTError(f"expected {expected}, found {len(tokens)}: {line!r}", path, n)
    if count >= data.shape[0]:
        raise LUTError(f"extra values: {full}", path, n)
    data[count] = _floats(tokens, path, n, "table entry")


def _floats(tokens: list[str], path: Path, line: int, what: str) -> list[float]:
    try:
        if any("_" in t for t in tokens):  # Python's float() reads "1_0" as 10; no LUT format does
            raise ValueError
        vals = [float(t) for t in tokens]
    except ValueError:
        raise LUTError(f"expected numbers in {what}, found {' '.join(tokens)!r}", path, line) from None
    if not all(math.isfinite(v) for v in vals):
        raise LUTError(f"NaN or infinite value in {what}: {' '.join(tokens)!r}", path, line)
    if not all(abs(v) <= MAX_LUT_VALUE for v in vals):
        raise LUTError(f"value beyond ±{MAX_LUT_VALUE:g} in {what}: {' '.join(tokens)!r}", path, line)
    return vals


def _size(token: list[str], path: Path, line: int, kw: str, lo: int, hi: int) -> int:
    if len(token) != 1:
        raise LUTError(f"{kw} takes one integer, found {' '.join(token)!r}", path, line)
    try:
        n = int(token[0])
    except ValueError:
        raise LUTError(f"{kw} must be an integer, found {token[0]!r}", path, line) from None
    if not lo <= n <= hi:
        raise LUTError(f"{kw} {n} is outside the allowed {lo}-{hi}", path, line)
    return n


def _check_count(count: int, expected: int, path: Path, last_line: int) -> None:
    if count != expected:
        raise LUTError(f"expected {expected} entries, found {count}", path, last_line)


def _check_domain(dmin: np.ndarray, dmax: np.ndarray, path: Path, line: int) -> None:
    if np.any(dmin >= dmax):
        raise LUTError(
            f"domain minimum {dmin.tolist()} is not below maximum {dmax.tolist()} (DOMAIN_MIN must be < DOMAIN_MAX)",
            path,
            line,
        )
    if domain_too_narrow(dmin, dmax):
        raise LUTError(f"domain {dmin.tolist()} to {dmax.tolist()} spans less than {MIN_DOMAIN_SPAN:g} of its magnitude: "
                       "too narrow to sample in float32", path, line)


# --------------------------------------------------------------------------- .cube


def read_cube(path: str | os.PathLike) -> LUT:
    """Read an Iridas/Adobe or Resolve ``.cube`` file.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    LUT1D, LUT3D or LUTSequence
        A :class:`LUTSequence` (1D shaper then 3D) for a Resolve file holding both.

    Raises
    ------
    LUTError
        Size outside the limits (before allocation), wrong entry count, wrong number of values
        on a line, NaN/inf, DOMAIN_MIN >= DOMAIN_MAX, unknown keyword after the data; the
        message names the file and line.
    EmptyFileError
        Zero-byte file.
    """
    p = Path(path)
    title = ""
    comments: list[str] = []
    size1 = size3 = 0
    dmin = np.zeros(3)
    dmax = np.ones(3)
    range1: tuple[float, float] | None = None
    range3: tuple[float, float] | None = None
    domain_line = 0
    data: np.ndarray | None = None
    count = 0
    total = 0
    last_line = 0

    def table_row(n: int, line: str, tokens: list[str]) -> None:
        nonlocal count, last_line
        _table_entry(data, count, tokens, p, n, line, expected="3 values (R G B)",  # type: ignore[arg-type]
                     full=f"the header declares {total} entries")
        count += 1
        last_line = n
        k, last = lines.take_table_rows(data[count:], 3, MAX_LUT_VALUE)  # type: ignore[index]
        if k:
            count += k
            last_line = last

    lines = LineCursor(read_text(p))
    for n, line in lines:
        if not line:
            continue
        if line.startswith("#"):
            comments.append(line[1:].strip())
            continue
        if "#" in line:
            line = line.split("#", 1)[0].strip()
        tokens = line.split()
        key = tokens[0].upper()
        if key[0].isalpha() and key not in ("NAN", "INF", "INFINITY"):
            if data is not None:
                raise LUTError(f"keyword {tokens[0]} after the table data", p, n)
            if key == "TITLE":
                m = re.match(r'\s*TITLE\s+"?(.*?)"?\s*$', line, re.I)
                title = m.group(1) if m else ""
            elif key == "LUT_3D_SIZE":
                size3 = _size(tokens[1:], p, n, "LUT_3D_SIZE", MIN_LUT_SIZE, MAX_LUT3D_SIZE)
            elif key == "LUT_1D_SIZE":
                size1 = _size(tokens[1:], p, n, "LUT_1D_SIZE", MIN_LUT_SIZE, MAX_LUT1D_SIZE)
            elif key in ("DOMAIN_MIN", "DOMAIN_MAX"):
                if len(tokens) != 4:
                    raise LUTError(f"{key} takes 3 values, found {len(tokens) - 1}", p, n)
                vals = np.array(_floats(tokens[1:], p, n, key))
                if key == "DOMAIN_MIN":
                    dmin = vals
                else:
                    dmax = vals
                domain_line = n
            elif key in ("LUT_1D_INPUT_RANGE", "LUT_3D_INPUT_RANGE"):
                if len(tokens) != 3:
                    raise LUTError(f"{key} takes 2 values, found {len(tokens) - 1}", p, n)
                lo, hi = _floats(tokens[1:], p, n, key)
                if lo >= hi:
                    raise LUTError(f"{key} minimum {lo} is not below maximum {hi}", p, n)
                if key.startswith("LUT_1D"):
                    range1 = (lo, hi)
                else:
                    range3 = (lo, hi)
            else:
                comments.append(line)  # unknown keyword (e.g. LUT_IN_VIDEO_RANGE): kept, ignored
            continue
        if data is None:
            if not size1 and not size3:
                raise LUTError("table data before LUT_1D_SIZE or LUT_3D_SIZE", p, n)
            _check_domain(dmin, dmax, p, domain_line or n)
            total = size1 + size3**3
            data = np.empty((total, 3), dtype=np.float32)
        table_row(n, line, tokens)
    if data is None:
        if not size1 and not size3:
            raise LUTError("no LUT_1D_SIZE or LUT_3D_SIZE found", p)
        raise LUTError(f"no table data; expected {size1 + size3**3} entries", p)
    _check_count(count, total, p, last_line)
    steps: list[LUT1D | LUT3D] = []
    name = title
    if size1:
        d1 = np.array([[range1[0]] * 3, [range1[1]] * 3]) if range1 else np.stack([dmin, dmax])
        steps.append(LUT1D(data[:size1], d1, name, tuple(comments)))
    if size3:
        d3 = np.array([[range3[0]] * 3, [range3[1]] * 3]) if range3 else np.stack([dmin, dmax])
        t = data[size1:].reshape(size3, size3, size3, 3).transpose(2, 1, 0, 3)  # red fastest
        steps.append(LUT3D(t, d3, name, tuple(comments)))
    if len(steps) == 1:
        return steps[0]
    return LUTSequence(tuple(steps), name, tuple(comments))


#: Table rows formatted per block: the text of a 256-point cube (16.7 M rows, ~0.6 GB) is never
#: held whole; each block is written as it is made.
_ROW_BLOCK = 1 << 15


def _rows(a: np.ndarray, fmt: str, *, prefix: np.ndarray | None = None, prefix_fmt: str = "%d") -> Iterator[str]:
    """The rows of the 2-D table ``a`` as text blocks (``fmt`` per value, one space between, one row per line).

    ``prefix`` (optional, integer array of the same row count) is written before each row's values.
    """
    a = np.asarray(a)
    ncols = a.shape[1]
    line = " ".join([fmt] * ncols)
    if prefix is not None:
        line = " ".join([prefix_fmt] * prefix.shape[1]) + " " + line
    line += "\n"
    for i in range(0, a.shape[0], _ROW_BLOCK):
        block = a[i:i + _ROW_BLOCK]
        if prefix is not None:
            vals = [v for pr, row in zip(prefix[i:i + _ROW_BLOCK].tolist(), block.tolist()) for v in (*pr, *row)]
        else:
            vals = block.ravel().tolist()
        yield (line * block.shape[0]) % tuple(vals)


def _fmt_rows(a: np.ndarray) -> Iterator[str]:
    # %.9g of a float32 value reads back to the same float32.
    a = np.asarray(a, dtype=np.float32).astype(np.float64)
    return _rows(a, _FLOAT_FMT)


def _header(name: str, comments: tuple[str, ...]) -> list[str]:
    out = [f"# {c}" for c in comments if c]
    if name:
        out.append(f'TITLE "{name}"')
    return out


def _is_default(domain: np.ndarray) -> bool:
    return bool(np.all(domain[0] == 0.0) and np.all(domain[1] == 1.0))


def write_cube(lut: LUT, path: str | os.PathLike, *, flavour: str = "auto", overwrite: bool = True) -> Path:
    """Write a ``.cube`` file atomically.

    Parameters
    ----------
    lut : LUT1D, LUT3D, or LUTSequence of (LUT1D, LUT3D)
    path : str or os.PathLike
    flavour : {"auto", "iridas", "resolve"}
        ``"iridas"`` writes DOMAIN_MIN/MAX (per channel); ``"resolve"`` writes
        LUT_1D_INPUT_RANGE / LUT_3D_INPUT_RANGE and can hold a 1D shaper + 3D cube. ``"auto"``
        picks Resolve for a 1D+3D sequence, else Iridas. A default 0-1 domain writes no
        domain lines (the form cameras accept).
    overwrite : bool

    Raises
    ------
    UsageError
        A sequence that is not (LUT1D, LUT3D), or a per-channel domain in the Resolve flavour.
    """
    steps = lut.steps if isinstance(lut, LUTSequence) else (lut,)
    kinds = tuple(type(s) for s in steps)
    if kinds not in ((LUT1D,), (LUT3D,), (LUT1D, LUT3D)):
        raise UsageError(".cube holds a 1D LUT, a 3D LUT, or a 1D shaper followed by a 3D LUT", path)
    flavour = flavour.lower()
    if flavour == "auto":
        flavour = "resolve" if len(steps) == 2 else "iridas"
    if flavour not in ("iridas", "resolve"):
        raise UsageError(f"unknown .cube flavour {flavour!r}; valid: auto, iridas, resolve", path)
    if flavour == "iridas" and len(steps) == 2:
        raise UsageError("a 1D shaper + 3D LUT needs the Resolve .cube flavour", path)
    name = getattr(lut, "name", "") or steps[-1].name
    comments = getattr(lut, "comments", ()) or steps[-1].comments
    lines = _header(name, comments)
    body: list[Iterable[str]] = []
    for s in steps:
        kind = "1D" if isinstance(s, LUT1D) else "3D"
        lines.append(f"LUT_{kind}_SIZE {s.size}")
        if not _is_default(s.domain):
            if flavour == "resolve":
                if not (np.all(s.domain[0] == s.domain[0, 0]) and np.all(s.domain[1] == s.domain[1, 0])):
                    raise UsageError("the Resolve .cube flavour needs the same domain on every channel", path)
                lines.append(f"LUT_{kind}_INPUT_RANGE {_FLOAT_FMT % s.domain[0, 0]} {_FLOAT_FMT % s.domain[1, 0]}")
            else:
                lines.append("DOMAIN_MIN " + " ".join(_FLOAT_FMT % v for v in s.domain[0]))
                lines.append("DOMAIN_MAX " + " ".join(_FLOAT_FMT % v for v in s.domain[1]))
        if isinstance(s, LUT1D):
            body.append(_fmt_rows(s.table))
        else:
            body.append(_fmt_rows(s.table.transpose(2, 1, 0, 3).reshape(-1, 3)))
    return atomic_write_text(path, itertools.chain(["\n".join(lines) + "\n\n"], *body), overwrite=overwrite)


# --------------------------------------------------------------------------- .3dl


def _int_tokens(tokens: list[str], p: Path, n: int) -> list[int]:
    try:
        out = [int(t) for t in tokens]
    except ValueError:
        try:
            vals = _floats(tokens, p, n, "3dl entry")
        except LUTError:
            raise LUTError(f"expected integers, found {' '.join(tokens)!r}", p, n) from None
        if not all(v == int(v) for v in vals):
            raise LUTError(f"expected integers, found {' '.join(tokens)!r}", p, n) from None
        out = [int(v) for v in vals]
    if not all(0 <= v <= 65535 for v in out):  # mesh points and entries are at most 16-bit codes
        raise LUTError(f"expected integers 0-65535, found {' '.join(tokens)[:80]!r}", p, n)
    return out


def read_3dl(path: str | os.PathLike) -> LUT3D:
    """Read an Autodesk Lustre / Discreet ``.3dl`` 3D LUT.

    The size comes from ``Mesh <in_bits> <out_bits>`` (``2**in_bits + 1`` points) or the mesh
    line (one integer per point); the output scale from ``out_bits`` or, without it, from the
    largest value (10, 12, 14 or 16 bits). Entries are integer triplets, blue fastest.

    Returns
    -------
    LUT3D
        Table normalised to 0-1.

    Raises
    ------
    LUTError
        As :func:`read_cube`; also a non-uniform mesh line.
    """
    p = Path(path)
    size = 0
    out_bits: int | None = None
    data: np.ndarray | None = None
    count = 0
    last = 0
    for n, line, tokens in read_data_lines(p):
        if not _NUMBER.fullmatch(tokens[0]):
            key = tokens[0].upper()
            if key == "MESH":
                if len(tokens) != 3:
                    raise LUTError(f"Mesh takes 2 integers, found {' '.join(tokens[1:])!r}", p, n)
                in_bits, ob = _int_tokens(tokens[1:], p, n)
                if not 1 <= in_bits <= 8 or not 8 <= ob <= 16:
                    raise LUTError(f"Mesh {in_bits} {ob}: size 2**{in_bits}+1 or {ob}-bit output out of range", p, n)
                size, out_bits = 2**in_bits + 1, ob
            continue  # 3DMESH, LUT8, gamma ...
        if data is None and len(tokens) > 3:
            mesh = _int_tokens(tokens, p, n)
            if not MIN_LUT_SIZE <= len(mesh) <= MAX_LUT3D_SIZE:
                raise LUTError(f"mesh line has {len(mesh)} points; allowed {MIN_LUT_SIZE}-{MAX_LUT3D_SIZE}", p, n)
            ideal = np.linspace(mesh[0], mesh[-1], len(mesh))
            if mesh[0] != 0 or np.abs(np.array(mesh) - ideal).max() > 1.0:
                raise LUTError("non-uniform mesh line (shaper) is not supported", p, n)
            if size and size != len(mesh):
                raise LUTError(f"mesh line has {len(mesh)} points but Mesh header says {size}", p, n)
            size = len(mesh)
            continue
        if len(tokens) != 3:
            raise LUTError(f"expected 3 integers (R G B), found {len(tokens)}: {line!r}", p, n)
        if data is None:
            if not size:
                raise LUTError("table data before the mesh line or Mesh header", p, n)
            data = np.empty((size**3, 3), dtype=np.float64)
        if count >= size**3:
            raise LUTError(f"extra values: a {size}-point mesh has {size**3} entries", p, n)
        data[count] = _int_tokens(tokens, p, n)
        count += 1
        last = n
    if data is None:
        raise LUTError("no table data", p)
    _check_count(count, size**3, p, last)
    if out_bits is None:
        peak = float(data.max())
        out_bits = next((b for b in (10, 12, 14, 16) if peak <= 2**b - 1), 16)
        if peak > 2**16 - 1:
            raise LUTError(f"largest value {peak:.0f} exceeds 16 bits", p)
    table = (data / (2**out_bits - 1)).reshape(size, size, size, 3)  # blue fastest = [r, g, b]
    return LUT3D(table, None, p.stem)


def _warn_clipped(table: np.ndarray, path: str | os.PathLike, fmt: str) -> None:
    """Warn (naming ``path``) when an integer format's 0-1 range clips some of ``table``'s values."""
    out = int(np.count_nonzero((table < -1e-6) | (table > 1 + 1e-6)))
    if out:
        import warnings  # noqa: PLC0415

        lo, hi = float(np.min(table)), float(np.max(table))
        warnings.warn(f"{os.fspath(path)}: {out} of {table.size} values outside 0-1 (from {lo:.6g} to {hi:.6g}) "
                      f"clipped: {fmt} holds 0-1 integers only", UserWarning, stacklevel=3)


def write_3dl(lut: LUT3D, path: str | os.PathLike, *, out_bits: int = 12, overwrite: bool = True) -> Path:
    """Write a Lustre-style ``.3dl`` (10-bit mesh line, ``out_bits`` integer entries, blue fastest).

    Values are clipped to 0-1 and rounded; the domain must be 0-1. A 3-point LUT is written with
    a ``Mesh 1 <out_bits>`` header instead of the mesh line: its three mesh values would read as
    a table row.

    Raises
    ------
    UsageError
        Not a LUT3D, a non-default domain, ``out_bits`` outside 8-16, or a 2-point LUT (no
        ``.3dl`` mesh line or ``Mesh`` header can state 2 points; write ``.cube``).
    """
    if not isinstance(lut, LUT3D) or not _is_default(lut.domain):
        raise UsageError(".3dl holds one 3D LUT over a 0-1 domain", path)
    if not 8 <= out_bits <= 16:
        raise UsageError(f"out_bits must be 8-16, got {out_bits}", path)
    if lut.size < 3:
        raise UsageError(f"a {lut.size}-point LUT cannot be written as .3dl (its mesh line would read as a table "
                         "row, and Mesh headers start at 3 points); write .cube", path)
    _warn_clipped(lut.table, path, ".3dl")
    q = np.round(np.clip(lut.table, 0, 1) * (2**out_bits - 1)).astype(int).reshape(-1, 3)
    if lut.size == 3:
        head = f"Mesh 1 {out_bits}"
    else:
        head = " ".join(str(v) for v in np.round(np.linspace(0, 1023, lut.size)).astype(int))
    return atomic_write_text(path, itertools.chain([head + "\n"], _rows(q, "%d")), overwrite=overwrite)


# --------------------------------------------------------------------------- .spi1d / .spi3d


def read_spi1d(path: str | os.PathLike) -> LUT1D:
    """Read a Sony Imageworks ``.spi1d`` (``Version 1``, ``From lo hi``, ``Length N``,
    ``Components 1|3``, values in braces).

    Raises
    ------
    LUTError
        As :func:`read_cube`.
    """
    p = Path(path)
    lo, hi = 0.0, 1.0
    length = 0
    comps = 1
    data: np.ndarray | None = None
    count = 0
    inside = False
    closed = False
    last = 0
    for n, line, tokens in read_data_lines(p):
        key = tokens[0].lower()
        if not inside:
            if key == "version":
                continue
            if key == "from":
                if len(tokens) != 3:
                    raise LUTError(f"From takes 2 values, found {len(tokens) - 1}", p, n)
                lo, hi = _floats(tokens[1:], p, n, "From")
                if lo >= hi:
                    raise LUTError(f"From minimum {lo} is not below maximum {hi}", p, n)
                _check_domain(np.array([lo]), np.array([hi]), p, n)
            elif key == "length":
                length = _size(tokens[1:], p, n, "Length", MIN_LUT_SIZE, MAX_LUT1D_SIZE)
            elif key == "components":
                comps = _size(tokens[1:], p, n, "Components", 1, 3)
                if comps == 2:
                    raise LUTError("Components must be 1 or 3, found 2", p, n)
            elif line.startswith("{"):
                if not length:
                    raise LUTError("values before Length", p, n)
                inside = True
                data = np.empty((length, comps), dtype=np.float32)
            else:
                raise LUTError(f"unknown keyword {tokens[0]!r}", p, n)
            continue
        if line.startswith("}"):
            inside, closed = False, True
            continue
        _table_entry(data, count, tokens, p, n, line, expected=f"{comps} value(s)",  # type: ignore[arg-type]
                     full=f"Length is {length}")
        count += 1
        last = n
    if data is None or not closed:
        raise LUTError("missing '{ ... }' value block", p)
    _check_count(count, length, p, last)
    return LUT1D(data if comps == 3 else data[:, 0], np.array([[lo] * 3, [hi] * 3]), p.stem)


def write_spi1d(lut: LUT1D, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write a ``.spi1d`` (3 components) atomically; the domain must be equal on all channels."""
    if not isinstance(lut, LUT1D):
        raise UsageError(".spi1d holds one 1D LUT", path)
    if not (np.all(lut.domain[0] == lut.domain[0, 0]) and np.all(lut.domain[1] == lut.domain[1, 0])):
        raise UsageError(".spi1d needs the same domain on every channel", path)
    head = (
        f"Version 1\nFrom {_FLOAT_FMT % lut.domain[0, 0]} {_FLOAT_FMT % lut.domain[1, 0]}\n"
        f"Length {lut.size}\nComponents 3\n{{\n"
    )
    return atomic_write_text(path, itertools.chain([head], _fmt_rows(lut.table), ["}\n"]), overwrite=overwrite)


def read_spi3d(path: str | os.PathLike) -> LUT3D:
    """Read a Sony Imageworks ``.spi3d`` (``SPILUT 1.0``, ``3 3``, ``N N N``, then
    ``i j k r g b`` lines).

    Raises
    ------
    LUTError
        As :func:`read_cube`; also indices out of range or missing nodes.
    """
    p = Path(path)
    header: list[tuple[int, list[str]]] = []
    table: np.ndarray | None = None
    seen: np.ndarray | None = None
    size = 0
    count = 0
    last = 0
    for n, line, tokens in read_data_lines(p):
        if len(header) < 3:
            header.append((n, tokens))
            if len(header) == 1 and tokens[0].upper() != "SPILUT":
                raise LUTError(f"expected 'SPILUT 1.0', found {line!r}", p, n)
            if len(header) == 3:
                if len(tokens) != 3 or len(set(tokens)) != 1:
                    raise LUTError(f"expected 'N N N' (cubic), found {line!r}", p, n)
                size = _size(tokens[:1], p, n, "spi3d size", MIN_LUT_SIZE, MAX_LUT3D_SIZE)
                table = np.empty((size, size, size, 3), dtype=np.float32)
                seen = np.zeros((size, size, size), dtype=bool)
            continue
        if len(tokens) != 6:
            raise LUTError(f"expected 6 values (i j k R G B), found {len(tokens)}: {line!r}", p, n)
        idx = _int_tokens(tokens[:3], p, n)
        if not all(0 <= i < size for i in idx):
            raise LUTError(f"index {idx} outside a {size}-point cube", p, n)
        table[tuple(idx)] = _floats(tokens[3:], p, n, "table entry")  # type: ignore[index]
        if seen[tuple(idx)]:  # type: ignore[index]
            raise LUTError(f"node {idx} given twice", p, n)
        seen[tuple(idx)] = True  # type: ignore[index]
        count += 1
        last = n
    if table is None:
        raise LUTError("incomplete header; expected 'SPILUT 1.0', '3 3', 'N N N'", p)
    _check_count(count, size**3, p, last)
    return LUT3D(table, None, p.stem)


def write_spi3d(lut: LUT3D, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write a ``.spi3d`` atomically (domain must be 0-1)."""
    if not isinstance(lut, LUT3D) or not _is_default(lut.domain):
        raise UsageError(".spi3d holds one 3D LUT over a 0-1 domain", path)
    n = lut.size
    idx = np.stack(np.meshgrid(np.arange(n), np.arange(n), np.arange(n), indexing="ij"), -1).reshape(-1, 3)
    vals = np.asarray(lut.table, dtype=np.float64).reshape(-1, 3)
    body = _rows(vals, _FLOAT_FMT, prefix=idx)
    return atomic_write_text(path, itertools.chain([f"SPILUT 1.0\n3 3\n{n} {n} {n}\n"], body), overwrite=overwrite)


# --------------------------------------------------------------------------- .vlt

_VLT_HEADER = "# panasonic vlt file version 1.0"
_VLT_MAX = 4095


def read_vlt(path: str | os.PathLike) -> LUT3D:
    """Read a Panasonic ``.vlt`` 3D LUT (integers 0-4095, red fastest).

    Raises
    ------
    LUTError
        Missing header line, size outside 2-256, values outside 0-4095, wrong counts.
    """
    p = Path(path)
    size = 0
    data: np.ndarray | None = None
    count = 0
    header_ok = False
    last = 0
    for n, line in read_text_lines(p):
        if not line:
            continue
        if line.startswith("#"):
            if line.lower().startswith("# panasonic vlt file"):
                header_ok = True
            continue
        tokens = line.split()
        if tokens[0].upper() == "LUT_3D_SIZE":
            size = _size(tokens[1:], p, n, "LUT_3D_SIZE", MIN_LUT_SIZE, MAX_LUT3D_SIZE)
            continue
        if tokens[0][0].isalpha():
            raise LUTError(f"unknown keyword {tokens[0]!r}", p, n)
        if data is None:
            if not header_ok:
                raise LUTError(f"missing header line {_VLT_HEADER!r}", p, n)
            if not size:
                raise LUTError("table data before LUT_3D_SIZE", p, n)
            data = np.empty((size**3, 3), dtype=np.float64)
        if len(tokens) != 3:
            raise LUTError(f"expected 3 integers (R G B), found {len(tokens)}: {line!r}", p, n)
        vals = _int_tokens(tokens, p, n)
        if not all(0 <= v <= _VLT_MAX for v in vals):
            raise LUTError(f"values must be 0-{_VLT_MAX}, found {line!r}", p, n)
        if count >= size**3:
            raise LUTError(f"extra values: LUT_3D_SIZE {size} has {size**3} entries", p, n)
        data[count] = vals
        count += 1
        last = n
    if data is None:
        raise LUTError("no table data", p)
    _check_count(count, size**3, p, last)
    t = (data / _VLT_MAX).reshape(size, size, size, 3).transpose(2, 1, 0, 3)
    return LUT3D(t, None, p.stem)


def write_vlt(lut: LUT3D, path: str | os.PathLike, *, overwrite: bool = True) -> Path:
    """Write a Panasonic ``.vlt`` atomically (values clipped to 0-1, 12-bit integers, red fastest).

    Cameras read 17-point ``.vlt`` files; resample first (:meth:`LUT3D.resample`) or use
    :func:`l2tech.color.bake.apply_camera_limits`.
    """
    if not isinstance(lut, LUT3D) or not _is_default(lut.domain):
        raise UsageError(".vlt holds one 3D LUT over a 0-1 domain", path)
    _warn_clipped(lut.table, path, ".vlt")
    q = np.round(np.clip(lut.table, 0, 1) * _VLT_MAX).astype(int).transpose(2, 1, 0, 3).reshape(-1, 3)
    return atomic_write_text(path, itertools.chain([f"{_VLT_HEADER}\nLUT_3D_SIZE {lut.size}\n"], _rows(q, "%d")),
                             overwrite=overwrite)


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class LUTFormat:
    """A LUT file format: its name, file extensions, reader and (optional) writer."""

    name: str
    extensions: tuple[str, ...]
    read: Callable[..., object]
    write: Callable[..., Path] | None


def _read_clf(path: str | os.PathLike):
    from l2tech.color.clf import read_clf  # noqa: PLC0415

    return read_clf(path)


#: Registry of LUT formats (case-insensitive names).
LUT_FORMATS: Registry[LUTFormat] = Registry(
    "LUT format",
    {
        "cube": LUTFormat("cube", (".cube",), read_cube, write_cube),
        "3dl": LUTFormat("3dl", (".3dl",), read_3dl, write_3dl),
        "spi1d": LUTFormat("spi1d", (".spi1d",), read_spi1d, write_spi1d),
        "spi3d": LUTFormat("spi3d", (".spi3d",), read_spi3d, write_spi3d),
        "vlt": LUTFormat("vlt", (".vlt",), read_vlt, write_vlt),
        "clf": LUTFormat("clf", (".clf", ".ctf"), _read_clf, None),
    },
    aliases={"resolve cube": "cube", "iridas cube": "cube", "lustre": "3dl", "panasonic": "vlt"},
)


def format_for_path(path: str | os.PathLike, format: str | None = None) -> LUTFormat:
    """The :class:`LUTFormat` named by ``format`` or, if None, by the file extension.

    Raises
    ------
    UsageError
        Unknown format name or extension (the message lists the valid ones).
    """
    if format:
        return LUT_FORMATS[format]
    ext = Path(path).suffix.lower()
    for fmt in LUT_FORMATS.values():
        if ext in fmt.extensions:
            return fmt
    valid = ", ".join(e for f in LUT_FORMATS.values() for e in f.extensions)
    raise UsageError(f"{path}: unknown LUT file extension {ext!r}; valid: {valid}")


def read_lut(path: str | os.PathLike, format: str | None = None):
    """Read any supported LUT file (format from ``format`` or the extension).

    Returns
    -------
    LUT1D, LUT3D, LUTSequence, or :class:`l2tech.color.clf.ProcessList` (CLF)

    Raises
    ------
    LUTError, EmptyFileError, UsageError
    """
    return format_for_path(path, format).read(path)


def write_lut(lut: LUT, path: str | os.PathLike, format: str | None = None, **options: object) -> Path:
    """Write ``lut`` atomically in the format named by ``format`` or the extension.

    Raises
    ------
    UsageError
        Unknown format, a read-only format (CLF), or a LUT the format cannot hold.
    """
    fmt = format_for_path(path, format)
    if fmt.write is None:
        raise UsageError(f"writing {fmt.name} files is not supported; write .cube, .3dl, .spi1d, .spi3d or .vlt")
    return fmt.write(lut, path, **options)


def describe_lut(path: str | os.PathLike) -> dict[str, object]:
    """A summary of a LUT file for display: format, type, size, domain, title, value range.

    Raises
    ------
    LUTError, EmptyFileError, UsageError
        As :func:`read_lut`.
    """
    from l2tech.color.clf import ProcessList  # noqa: PLC0415

    fmt = format_for_path(path)
    lut = fmt.read(path)
    info: dict[str, object] = {"file": str(path), "format": fmt.name}
    if isinstance(lut, ProcessList):
        info.update(type="CLF", size=lut.size, title=lut.name, nodes=[n.kind for n in lut.nodes],
                    input=lut.input_descriptor, output=lut.output_descriptor)
        return info
    steps = lut.steps if isinstance(lut, LUTSequence) else (lut,)
    info["type"] = " + ".join("1D" if isinstance(s, LUT1D) else "3D" for s in steps)
    info["size"] = steps[-1].size if len(steps) == 1 else [s.size for s in steps]
    info["title"] = getattr(lut, "name", "") or steps[-1].name
    info["domain"] = [s.domain.tolist() for s in steps] if len(steps) > 1 else steps[0].domain.tolist()
    info["range"] = [float(min(s.table.min() for s in steps)), float(max(s.table.max() for s in steps))]
    return info


def convert_lut(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    format: str | None = None,
    size: int | None = None,
    adjust: Callable[[LUT], LUT] | None = None,
    overwrite: bool = False,
) -> Path:
    """Read ``src`` and write it to ``dst`` in another format, optionally resampling a 3D LUT.

    A CLF file is sampled into a 3D LUT (``size`` points, default 33) over 0-1 input.

    Parameters
    ----------
    src, dst : path-like
    format : str, optional
        Output format name (default from ``dst``'s extension).
    size : int, optional
        Resample the 3D LUT to this many points.
    adjust : callable, optional
        Applied to the LUT before writing (e.g. camera limits).
    overwrite : bool

    Raises
    ------
    LUTError, UsageError, OutputExistsError, OutputError
    """
    from l2tech.color.clf import ProcessList  # noqa: PLC0415

    lut = read_lut(src)
    if isinstance(lut, ProcessList):
        grid = LUT3D.identity(size or 33)
        lut = LUT3D(lut.apply(grid.table), None, lut.name or Path(src).stem)
    elif size is not None:
        if not isinstance(lut, LUT3D):
            raise UsageError("--size resamples a single 3D LUT only")
        lut = lut.resample(size)
    if adjust is not None:
        lut = adjust(lut)
    return write_lut(lut, dst, format, overwrite=overwrite)
