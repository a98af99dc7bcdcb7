"""Atomic output: write to a temp file in the destination folder, rename when complete.

RELIABILITY.md E2/E3: no input is ever modified; an output equal to an input (any spelling,
link) is refused before work starts; on any failure the temp file is removed and any earlier
output is intact; existing outputs are kept unless ``overwrite`` is given.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator

from l2tech.errors import L2Error, OutputError, OutputExistsError, UsageError

__all__ = ["atomic_output", "check_output_path", "check_distinct_outputs"]

_TMP_TAG = ".l2tmp-"


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_output_path(path: str | os.PathLike, *, inputs: Iterable[str | os.PathLike] = (), overwrite: bool = False) -> Path:
    """Validate an output path before any work starts.

    Parameters
    ----------
    path : path-like
        Output file.
    inputs : iterable of path-like
        The job's inputs; the output may not be any of them (any spelling or link).
    overwrite : bool
        Allow replacing an existing output.

    Returns
    -------
    Path
        The output path.

    Raises
    ------
    UsageError
        The output is one of the inputs.
    OutputExistsError
        The output exists and ``overwrite`` is false.
    OutputError
        The destination folder is missing, not a folder or not writable.
    """
    out = Path(path)
    for inp in inputs:
        if _same_file(out, Path(inp)):
            raise UsageError("output is the same file as an input; inputs are never modified", path=out)
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.exists():
        raise OutputError("destination folder does not exist", path=folder)
    if not folder.is_dir():
        raise OutputError("destination is not a folder", path=folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError("destination folder is not writable", path=folder)
    if out.exists() and not overwrite:
        raise OutputExistsError("output already exists; use --overwrite to replace it", path=out)
    return out


def check_distinct_outputs(outputs: Iterable[str | os.PathLike]) -> None:
    """Raise :class:`OutputExistsError` when two jobs of a batch would write the same file."""
    seen: dict[str, str] = {}
    for o in outputs:
        key = os.path.normcase(os.path.realpath(o))
        if key in seen:
            raise OutputExistsError("two inputs have the same name and would write this one output; rename one or run them separately", path=o)
        seen[key] = str(o)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temp path beside ``path``; rename it into place when the block succeeds.

    The temp name keeps the output's suffix so writers that choose a format from the
    extension behave the same. On any exception the temp file is removed and the exception
    propagates; an existing output is untouched.

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is false (checked again at rename time).
    OutputError
        The folder is missing or read-only, or the disk is full.
    """
    out = Path(path)
    folder = out.parent if str(out.parent) else Path(".")
    if out.exists() and not overwrite:
        raise OutputExistsError("output already exists; use --overwrite to replace it", path=out)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix="." + out.stem + _TMP_TAG, suffix=out.suffix, dir=folder)
    except FileNotFoundError:
        raise OutputError("destination folder does not exist", path=folder) from None
    except PermissionError:
        raise OutputError("destination folder is not writable", path=folder) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if out.exists() and not overwrite:
            raise OutputExistsError("output appeared while writing; not replaced", path=out)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file normal permissions
        os.replace(tmp, out)
    except OSError as exc:
        _remove(tmp)
        if isinstance(exc, L2Error):
            raise
        if exc.errno == errno.ENOSPC:
            raise OutputError("disk full while writing; nothing was written", path=out) from exc
        raise OutputError(f"cannot write output: {exc.strerror or exc}", path=out) from exc
    except BaseException:
        _remove(tmp)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove(p: Path) -> None:
    with contextlib.suppress(OSError):
        p.unlink()
