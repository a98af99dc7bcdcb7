"""What C libraries print straight to the process's stderr, caught and turned into named lines.

libpng (inside OpenCV) writes ``libpng error: IDAT: CRC error`` or ``libpng warning: iCCP: too
short`` with ``fprintf(stderr, ...)``: Python never sees it, and it reaches the terminal as a
raw line that names no file, beside l2tech's own ``warning: FILE: message`` lines
(docs/RELIABILITY.md, rule 7). :func:`native_stderr` points file descriptor 2 at an anonymous
file around such a call and hands back what was written, one message a line, for the caller to
report with the file named: as part of a typed error when the decode failed, or as a
:class:`DecoderWarning` when it succeeded.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import threading
import warnings
from typing import Iterator

__all__ = ["DecoderWarning", "native_stderr", "library_message", "warn_decoder_lines"]

#: The most bytes of captured text read back (a damaged file can make a library warn per chunk).
MAX_CAPTURED_BYTES = 64 * 1024
#: The most distinct messages kept; further ones are counted in a last line.
MAX_MESSAGES = 8

_LOCK = threading.Lock()  # one redirection of fd 2 at a time in this process


class DecoderWarning(UserWarning):
    """An image decoder reported a defect in a file it still decoded (the message names the file)."""


def _anonymous_file() -> int:
    """A read/write file descriptor with no name (memfd where there is one, else a temp file)."""
    if hasattr(os, "memfd_create"):
        try:
            return os.memfd_create("l2tech-stderr", getattr(os, "MFD_CLOEXEC", 0))
        except OSError:
            pass
    fh = tempfile.TemporaryFile()
    fd = os.dup(fh.fileno())
    fh.close()
    return fd


def _messages(data: bytes) -> list[str]:
    text = data.decode("utf-8", "replace")
    seen: list[str] = []
    more = 0
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if not line or line in seen:
            continue
        if len(seen) < MAX_MESSAGES:
            seen.append(line)
        else:
            more += 1
    if more:
        seen.append(f"... and {more} more message(s)")
    return seen


@contextlib.contextmanager
def native_stderr() -> Iterator[list[str]]:
    """Catch what is written to file descriptor 2 while the block runs.

    Yields a list that is filled, when the block ends (normally or by an exception), with the
    lines written: whitespace collapsed, repeats dropped, at most :data:`MAX_MESSAGES`. Python's
    own ``sys.stderr`` is flushed before and after, so its buffered text is not caught. Where
    fd 2 is closed or cannot be duplicated, nothing is caught and the block runs as it is.

    One redirection runs at a time (a lock); the caller keeps the block to the library call,
    so that the text of other threads is not taken for the library's.
    """
    lines: list[str] = []
    with _LOCK:
        with contextlib.suppress(Exception):
            sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:  # no stderr: nothing to catch, nothing to leak
            yield lines
            return
        try:
            sink = _anonymous_file()
        except OSError:
            os.close(saved)
            yield lines
            return
        try:
            os.dup2(sink, 2)
            try:
                yield lines
            finally:
                with contextlib.suppress(Exception):
                    sys.stderr.flush()
                os.dup2(saved, 2)
                os.lseek(sink, 0, os.SEEK_SET)
                lines.extend(_messages(os.read(sink, MAX_CAPTURED_BYTES)))
        finally:
            os.close(sink)
            os.close(saved)


def library_message(line: str) -> tuple[str, str | None, str]:
    """Split a captured line into (library, kind, message).

    ``"libpng error: IDAT: CRC error"`` gives ``("libpng", "error", "IDAT: CRC error")``;
    a line of no known form gives ``("", None, line)``.
    """
    for lib in ("libpng", "libjpeg", "libtiff"):
        for kind in ("error", "warning"):
            head = f"{lib} {kind}:"
            if line.lower().startswith(head):
                return lib, kind, line[len(head):].strip()
    return "", None, line


def warn_decoder_lines(path: "str | os.PathLike[str]", fmt: str, lines: list[str]) -> None:
    """Report what a C decoder printed about a file it still decoded: one named
    :class:`DecoderWarning` a line (``FILE: libpng warns 'iCCP: too short' (the PNG was decoded)``).

    Parameters
    ----------
    path : str or os.PathLike
        The file decoded (named in each warning).
    fmt : str
        Its format, as said to users (``"PNG"``, ``"JPEG"``).
    lines : list of str
        What :func:`native_stderr` caught.
    """
    for line in lines:
        lib, kind, msg = library_message(line)
        if kind == "error":  # libpng: an error in an ancillary chunk, which it skips ("benign")
            text = f"{lib} reports '{msg}' (the {fmt} was decoded)"
        elif kind == "warning":
            text = f"{lib} warns '{msg}' (the {fmt} was decoded)"
        else:
            text = f"the {fmt} decoder printed '{msg}'"
        warnings.warn(f"{path}: {text}", DecoderWarning, stacklevel=2)
