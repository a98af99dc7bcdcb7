"""The batch journal: which outputs of a folder are finished, and with which recipe and input.

``.l2-journal.jsonl`` in the output folder, one JSON object per finished output, appended and
``fsync``-ed after the output was renamed into place (so a line never names a file that is not
complete). A process killed while appending leaves at most a truncated last line (JSON that
stops short), which is ignored (the next append starts a new line after it). Any other line that is not a journal
entry (not JSON, nested too deep, longer than :data:`MAX_LINE` bytes, wrong field types) is
skipped with a :class:`JournalWarning` naming the journal and the line: the outputs it named are
made again. A journal that is not a regular file (a folder, a pipe) or cannot be read is an
:class:`~l2tech.errors.OutputError` before any work, never a failure after an output is in place. A rerun of the same batch reads it and skips the outputs it names when the recipe
hash, the input (size and modification time, else SHA-256) and the output (size and
modification time, else SHA-256) still match.

One process writes the journal of a folder: the batch's coordinator (its workers, local or on a
Dask cluster, never do).
"""

from __future__ import annotations

import json
import os
import stat
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["JOURNAL_NAME", "MAX_LINE", "JournalEntry", "Journal", "JournalWarning"]

#: The journal's file name in the output folder.
JOURNAL_NAME = ".l2-journal.jsonl"

#: The longest journal line read, bytes (an entry is a few hundred bytes plus two paths).
MAX_LINE = 64 * 1024

_STR_FIELDS = ("output", "input", "recipe_hash", "input_sha256", "output_sha256")
_INT_FIELDS = ("input_size", "input_mtime_ns", "output_size", "output_mtime_ns")


class JournalWarning(UserWarning):
    """Lines of a batch journal were skipped (the message starts with ``journal:line``)."""


@dataclass(frozen=True)
class JournalEntry:
    """One finished output (the fields of a journal line)."""

    output: str
    input: str
    recipe_hash: str
    input_sha256: str
    input_size: int
    input_mtime_ns: int
    output_sha256: str
    output_size: int
    output_mtime_ns: int

    def input_matches(self, path: str | os.PathLike, sha256: Any = None) -> bool:
        """True when ``path`` is still the input recorded (same size and time, or same bytes)."""
        try:
            st = os.stat(path)
        except OSError:
            return False
        if st.st_size != self.input_size:
            return False
        if st.st_mtime_ns == self.input_mtime_ns:
            return True
        from l2tech.pipeline.sidecar import file_sha256

        return (sha256 or file_sha256(path)) == self.input_sha256

    def output_matches(self, path: str | os.PathLike) -> bool:
        """True when the output file is still the one recorded (same size and time, or same bytes)."""
        try:
            st = os.stat(path)
        except OSError:
            return False
        if st.st_size != self.output_size:
            return False
        if st.st_mtime_ns == self.output_mtime_ns:
            return True
        from l2tech.pipeline.sidecar import file_sha256

        return file_sha256(path) == self.output_sha256


class Journal:
    """The journal of one output folder (read on open, appended to as outputs finish).

    Parameters
    ----------
    folder : path-like
        The output folder (it must exist to append).
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.path = Path(folder) / JOURNAL_NAME
        self.entries: dict[str, JournalEntry] = {}
        self._fh: Any = None
        self._read()

    def _read(self) -> None:
        from l2tech.errors import OutputError

        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)  # a pipe is not waited on
        except FileNotFoundError:
            return
        except IsADirectoryError:
            raise OutputError("the batch journal is a folder, not a file; remove or rename it", path=self.path) from None
        except OSError as exc:
            raise OutputError(f"cannot read the batch journal: {exc.strerror or exc}", path=self.path) from None
        try:
            _check_regular(os.fstat(fd), self.path)
        except BaseException:
            os.close(fd)
            raise
        with open(fd, "rb") as fh:
            try:
                self._parse(fh)
            except OSError as exc:
                raise OutputError(f"cannot read the batch journal: {exc.strerror or exc}", path=self.path) from None

    def _parse(self, fh: Any) -> None:
        names = set(JournalEntry.__dataclass_fields__)
        bad: list[tuple[int, str]] = []
        number = 0
        while True:
            line = fh.readline(MAX_LINE + 1)
            if not line:
                break
            number += 1
            if len(line) > MAX_LINE and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):  # the rest of the over-long line, unread
                    line = fh.readline(1 << 20)
                bad.append((number, f"longer than {MAX_LINE} bytes"))
                continue
            if not line.strip():
                continue
            text = line.decode("utf-8", "surrogateescape").rstrip()
            try:
                doc = json.loads(text)
            except RecursionError:
                bad.append((number, "JSON nested too deep"))
                continue
            except ValueError as exc:
                if getattr(exc, "pos", 0) >= len(text) or getattr(exc, "msg", "").startswith("Unterminated string"):
                    continue  # JSON that stops short (the text ran out): a line cut by a kill
                bad.append((number, f"not JSON ({exc})"))
                continue
            if not isinstance(doc, dict):
                bad.append((number, f"a JSON {type(doc).__name__}, not an object"))
                continue
            if not names <= doc.keys():
                continue  # from another release
            wrong = [k for k in _STR_FIELDS if not isinstance(doc[k], str)] + \
                    [k for k in _INT_FIELDS if type(doc[k]) is not int]
            if wrong:
                bad.append((number, f"field {wrong[0]!r} has the wrong type"))
                continue
            entry = JournalEntry(**{k: doc[k] for k in names})
            self.entries[entry.output] = entry
        if bad:
            first, why = bad[0]
            more = f" (and {len(bad) - 1} more line(s))" if len(bad) > 1 else ""
            warnings.warn(f"{self.path}:{first}: not a journal entry, {why}; skipped{more}: the outputs such lines "
                          "named are made again", JournalWarning, stacklevel=4)

    def get(self, output: str | os.PathLike) -> JournalEntry | None:
        """The entry of an output (by file name), or None."""
        return self.entries.get(Path(output).name)

    def append(self, entry: JournalEntry) -> None:
        """Append one entry and flush it to the disk (``fsync``) before returning.

        Raises
        ------
        OutputError
            The journal cannot be written (not a regular file, permissions, disk full).
        """
        from l2tech.errors import OutputError

        try:
            if self._fh is None:
                new = not os.path.lexists(self.path)
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NONBLOCK, 0o666)
                fh = open(fd, "a+b")
                try:
                    _check_regular(os.fstat(fd), self.path)
                    os.set_blocking(fd, True)
                    if fh.seek(0, os.SEEK_END) > 0:
                        fh.seek(-1, os.SEEK_END)
                        if fh.read(1) != b"\n":  # a line cut short by a kill: this entry starts a line of its own
                            fh.write(b"\n")
                except BaseException:
                    fh.close()
                    raise
                self._fh = fh
                if new:
                    _fsync_dir(self.path.parent)
            doc = {**entry.__dict__, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            self._fh.write(json.dumps(doc, sort_keys=True).encode() + b"\n")
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OutputError:
            raise
        except OSError as exc:
            raise OutputError(f"cannot write the batch journal: {exc.strerror or exc}", path=self.path) from None
        self.entries[entry.output] = entry

    def close(self) -> None:
        """Close the file (entries already appended are on the disk)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _check_regular(st: os.stat_result, path: Path) -> None:
    from l2tech.errors import OutputError

    if stat.S_ISDIR(st.st_mode):
        raise OutputError("the batch journal is a folder, not a file; remove or rename it", path=path)
    if not stat.S_ISREG(st.st_mode):
        raise OutputError("the batch journal is not a regular file (a pipe, device or socket); remove it", path=path)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
