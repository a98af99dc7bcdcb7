"""Small file helpers for the color package: text reading with line numbers, atomic writes
(through :mod:`l2tech.io.atomic`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from l2tech.errors import LUTError

__all__ = ["read_text_lines", "read_data_lines", "atomic_write_bytes", "atomic_write_text", "MAX_TEXT_BYTES"]

#: Largest LUT text file read (a 256-point float cube is ~ 500 MB; refuse more).
MAX_TEXT_BYTES = 1 << 30


def read_text(path: str | os.PathLike) -> str:
    """The file's text (UTF-8, BOM dropped, Latin-1 fallback); empty and huge files are refused."""
    from l2tech.io.formats import read_input_bytes  # noqa: PLC0415

    data = read_input_bytes(path, max_bytes=MAX_TEXT_BYTES, what="LUT file", unreadable=LUTError)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def read_text_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, stripped_line)`` for every line (CR, LF or CRLF ends), 1-based."""
    for n, line in enumerate(read_text(path).splitlines(), start=1):
        yield n, line.strip()


def read_data_lines(path: str | os.PathLike) -> Iterator[tuple[int, str, list[str]]]:
    """Yield ``(line_number, stripped_line, tokens)`` for every line that is not blank or a ``#`` comment."""
    for n, line in read_text_lines(path):
        if line and not line.startswith("#"):
            yield n, line, line.split()


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` atomically through :func:`l2tech.io.atomic.atomic_output`.

    Raises
    ------
    OutputError
        The folder is missing or not writable, or the disk is full; the temp file is removed
        and any earlier file at ``path`` is left intact.
    l2tech.errors.OutputExistsError
        ``path`` exists and ``overwrite`` is false.
    """
    from l2tech.io.atomic import atomic_output  # noqa: PLC0415

    p = Path(path)
    with atomic_output(p, overwrite=overwrite) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    return p


def atomic_write_text(path: str | os.PathLike, text: str, *, overwrite: bool = True) -> Path:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)
