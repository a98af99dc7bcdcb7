"""Small file helpers for the color package: text reading with line numbers, atomic writes.

(An atomic-write helper lives here until ``l2tech.io`` offers one for text files.)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterator

from l2tech.errors import EmptyFileError, LUTError, OutputError

__all__ = ["read_text_lines", "atomic_write_bytes", "atomic_write_text", "MAX_TEXT_BYTES"]

#: Largest LUT text file read (a 256-point float cube is ~ 500 MB; refuse more).
MAX_TEXT_BYTES = 1 << 30


def read_text(path: str | os.PathLike) -> str:
    """The file's text (UTF-8, BOM dropped, Latin-1 fallback); empty and huge files are refused."""
    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError as exc:
        raise LUTError(f"cannot read file: {exc.strerror or exc}", p) from None
    if size == 0:
        raise EmptyFileError("empty file (0 bytes)", p)
    if size > MAX_TEXT_BYTES:
        raise LUTError(f"file is {size} bytes; larger than the {MAX_TEXT_BYTES}-byte limit for LUT files", p)
    data = p.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_text_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, stripped_line)`` for every line (CR, LF or CRLF ends), 1-based."""
    for n, line in enumerate(read_text(path).splitlines(), start=1):
        yield n, line.strip()


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to a temp file in the destination folder, then rename it into place.

    Raises
    ------
    OutputError
        The folder is missing or not writable, or the disk is full; the temp file is removed
        and any earlier file at ``path`` is left intact.
    l2tech.errors.OutputExistsError
        ``path`` exists and ``overwrite`` is false.
    """
    from l2tech.errors import OutputExistsError  # noqa: PLC0415

    p = Path(path)
    if p.exists() and not overwrite:
        raise OutputExistsError("output exists; pass overwrite (--overwrite) to replace it", p)
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError("output folder does not exist", folder)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix="." + p.name + ".", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
        tmp = None
    except OSError as exc:
        raise OutputError(f"cannot write: {exc.strerror or exc}", p) from None
    finally:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
    return p


def atomic_write_text(path: str | os.PathLike, text: str, *, overwrite: bool = True) -> Path:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)
