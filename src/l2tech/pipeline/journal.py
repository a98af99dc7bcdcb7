"""The batch journal: which outputs of a folder are finished, and with which recipe and input.

``.l2-journal.jsonl`` in the output folder, one JSON object per finished output, appended and
``fsync``-ed after the output was renamed into place (so a line never names a file that is not
complete). A process killed while appending leaves at most a truncated last line, which is
ignored. A rerun of the same batch reads it and skips the outputs it names when the recipe
hash, the input (size and modification time, else SHA-256) and the output (size and
modification time, else SHA-256) still match.

One process writes the journal of a folder: the batch's coordinator (its workers, local or on a
Dask cluster, never do).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["JOURNAL_NAME", "JournalEntry", "Journal"]

#: The journal's file name in the output folder.
JOURNAL_NAME = ".l2-journal.jsonl"


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
        try:
            data = self.path.read_bytes()
        except OSError:
            return
        names = set(JournalEntry.__dataclass_fields__)
        for line in data.split(b"\n"):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                entry = JournalEntry(**{k: doc[k] for k in names})
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a kill, or from another release
            self.entries[entry.output] = entry

    def get(self, output: str | os.PathLike) -> JournalEntry | None:
        """The entry of an output (by file name), or None."""
        return self.entries.get(Path(output).name)

    def append(self, entry: JournalEntry) -> None:
        """Append one entry and flush it to the disk (``fsync``) before returning."""
        if self._fh is None:
            new = not self.path.exists()
            self._fh = open(self.path, "ab")
            if new:
                _fsync_dir(self.path.parent)
        doc = {**entry.__dict__, "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self._fh.write(json.dumps(doc, sort_keys=True).encode() + b"\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self.entries[entry.output] = entry

    def close(self) -> None:
        """Close the file (entries already appended are on the disk)."""
        if self._fh is not None:
            self._fh.close()
            self._fh = None


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
