"""Small file helpers for the color package: text reading with line numbers, atomic writes
(through :mod:`l2tech.io.atomic`)."""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path
from typing import Any, Iterable, Iterator

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


#: A line and its end, at the boundaries :meth:`str.splitlines` uses.
_LINE = re.compile("([^\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]*)(\r\n|[\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]|\\Z)")


def read_text_lines(path: str | os.PathLike) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, stripped_line)`` for every line (CR, LF or CRLF ends), 1-based.

    The lines of :meth:`str.splitlines`, made one at a time: a list of the 16.7 M lines of a
    256-point cube took about 1.4 GB.
    """
    return iter(LineCursor(read_text(path)))


#: A character outside a plain numeric table (``inf``, ``nan``, ``_``, hex, a comment, a keyword).
_NOT_PLAIN = re.compile(r"[^0-9eE+\-. \t\n\r]")


class LineCursor:
    """The lines of a text (as :meth:`str.splitlines`, stripped, numbered from 1), one at a time,
    with a fast path over a numeric table: :meth:`take_table_rows`."""

    def __init__(self, text: str):
        self.text = text
        self.pos = 0  # offset of the next line
        self.n = 0  # number of the last line given
        self._row_by_row_until = 0  # end of the last block the fast path refused

    def __iter__(self) -> Iterator[tuple[int, str]]:
        while True:
            m = _LINE.match(self.text, self.pos)
            if m is None or (not m.group(2) and not m.group(1)):  # the empty match at the end
                return
            self.pos = m.end()
            self.n += 1
            yield self.n, m.group(1).strip()

    def take_table_rows(self, out: Any, ncols: int, limit: float) -> tuple[int, int]:
        """Parse the plain numeric rows that follow into ``out`` (an ``(N, ncols)`` array), fast.

        The table rows of a 256-point cube are 16.7 M lines: one Python ``float()`` per value took
        two minutes. Blocks of about 4 MB that hold only decimal numbers, ``ncols`` to a row, with
        finite values of magnitude at most ``limit``, are converted by :func:`numpy.loadtxt` in
        one call; a block ends before a line with any other character (a comment, a keyword,
        ``nan``), which the caller reads; a block NumPy refuses (a row of two values, an odd
        number) is left to the caller's row-by-row reader, which raises the error with its line.

        Returns
        -------
        (rows, last_line) : (int, int)
            Rows written to ``out[:rows]``; the line number of the last of them (0 if none).
        """
        import io

        import numpy as np

        rows, last = 0, 0
        text = self.text
        if self.pos < self._row_by_row_until:  # inside a refused block: row by row to its end
            return rows, last
        while self.pos < len(text) and rows < len(out):
            nl = text.find("\n", self.pos + (1 << 22))
            end = len(text) if nl < 0 else nl + 1
            odd = _NOT_PLAIN.search(text, self.pos, end)
            if odd is not None:  # the plain lines before it, if any
                cut = text.rfind("\n", self.pos, odd.start())
                if cut < 0:
                    return rows, last  # the next line is not plain: the caller reads it
                end = cut + 1
            self._row_by_row_until = end  # until the block is taken
            chunk = text[self.pos:end].replace("\r\n", "\n")
            if "\r" in chunk:  # a lone CR ends a line too: row by row
                return rows, last
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # an all-blank block warns "empty input"
                    vals = np.loadtxt(io.StringIO(chunk), dtype=np.float64, ndmin=2, comments=None)
            except ValueError:
                return rows, last
            k = vals.shape[0]
            if k == 0 or vals.shape[1] != ncols or rows + k > len(out) or not np.all(np.abs(vals) <= limit):
                return rows, last
            out[rows:rows + k] = vals
            self._row_by_row_until = 0
            rows += k
            last = self.n + chunk.rstrip().count("\n") + 1
            self.n += chunk.count("\n") + (0 if chunk.endswith("\n") else 1)
            self.pos = end
        return rows, last


def read_data_lines(path: str | os.PathLike) -> Iterator[tuple[int, str, list[str]]]:
    """Yield ``(line_number, stripped_line, tokens)`` for every line that is not blank or a ``#`` comment."""
    for n, line in read_text_lines(path):
        if line and not line.startswith("#"):
            yield n, line, line.split()


def atomic_write_bytes(path: str | os.PathLike, data: bytes | Iterable[bytes], *, overwrite: bool = True) -> Path:
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
            if isinstance(data, (bytes, bytearray, memoryview)):
                fh.write(data)
            else:  # written block by block: a large table's text is never held whole
                for block in data:
                    fh.write(block)
            fh.flush()
            os.fsync(fh.fileno())
    return p


def atomic_write_text(path: str | os.PathLike, text: str | Iterable[str], *, overwrite: bool = True) -> Path:
    """:func:`atomic_write_bytes` for UTF-8 text (a string, or an iterable of strings written in turn)."""
    if isinstance(text, str):
        return atomic_write_bytes(path, text.encode("utf-8"), overwrite=overwrite)
    return atomic_write_bytes(path, (t.encode("utf-8") for t in text), overwrite=overwrite)
