"""Atomic output: write to a temp file in the destination folder, rename when complete.

RELIABILITY.md E2/E3: no input is ever modified; an output equal to an input (any spelling,
link) is refused before work starts; on any failure the temp file is removed and any earlier
output is intact; existing outputs are kept unless ``overwrite`` is given.

Without ``overwrite`` the final step is create-exclusive: the finished temp file is hard-linked
to the output name (``link(2)`` fails with ``EEXIST`` when the name exists), so of two processes
writing one output exactly one wins and the other gets :class:`OutputExistsError`; a check then
``rename`` would let both succeed, the later silently replacing the earlier. On filesystems
without hard links an ``O_CREAT | O_EXCL`` placeholder claims the name before the rename.

Temp files are named ``.<stem>.l2tmp-<pid>-<random><suffix>``. A process killed before its
rename (SIGKILL, power loss) leaves one behind; the next write into that folder removes the ones
whose writer is gone (:func:`remove_stale_temps`). Work folders of a job's intermediate files
(:func:`temp_folder`: the parts of a clip split across workers) follow the same pattern and are
removed the same way.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
import shutil
import stat
import tempfile
import time
import warnings
from pathlib import Path
from typing import Iterable, Iterator

from l2tech.errors import L2Error, OutputError, OutputExistsError, UsageError

__all__ = ["atomic_output", "check_output_path", "check_distinct_outputs", "check_replaceable", "output_clashes",
           "remove_stale_temps", "OutputFolderWarning", "temp_folder", "temp_path", "temp_stem"]


class OutputFolderWarning(UserWarning):
    """A problem of an output folder that does not stop the write (a stale temp file that could
    not be looked at); the message starts with the file it is about."""

_TMP_TAG = ".l2tmp-"
#: ``.<stem>.l2tmp-<pid>-<random><suffix>``; older releases wrote ``.<stem>.l2tmp-<random><suffix>``.
_TMP_RE = re.compile(r"^\..*\.l2tmp-(?:(?P<pid>\d+)-)?[A-Za-z0-9_]{8}(?:\.[^.]*)?$")
#: A temp file without a PID (older releases) is stale once untouched this long, seconds.
_LEGACY_STALE_S = 600.0
#: When this process started (the import of this module is close enough), seconds since the epoch.
_PROCESS_START = time.time()
#: Folders already swept for stale temp files by this process.
_SWEPT: set[str] = set()
#: errno values of ``link(2)`` meaning "this filesystem has no hard links here".
_NO_LINK = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK, errno.EXDEV, errno.EACCES}


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
        The destination folder is missing, not a folder or not writable; the file name is
        longer than 255 bytes; the output exists and is not a regular file (a pipe, device or
        socket: never replaced, even with ``overwrite``).
    """
    out = Path(path)
    for inp in inputs:
        if _same_file(out, Path(inp)):
            raise UsageError("output is the same file as an input; inputs are never modified", path=out)
    n = len(out.name.encode("utf-8", "surrogateescape"))
    if n > _NAME_MAX:
        raise OutputError(f"output file name is {n} bytes long; file systems take {_NAME_MAX}", path=out)
    folder = out.parent if str(out.parent) else Path(".")
    if not folder.exists():
        raise OutputError("destination folder does not exist", path=folder)
    if not folder.is_dir():
        raise OutputError("destination is not a folder", path=folder)
    if not os.access(folder, os.W_OK | os.X_OK):
        raise OutputError("destination folder is not writable", path=folder)
    check_replaceable(out)
    if out.exists() and not overwrite:
        raise OutputExistsError("output already exists; use --overwrite to replace it", path=out)
    return out


def check_replaceable(path: str | os.PathLike) -> None:
    """Refuse an output name held by something that is not a regular file.

    A named pipe, a device node or a socket is never replaced by an output, even with
    ``--overwrite`` (``rename(2)`` would silently swap ``/dev/null`` or a pipe another program
    reads from for a regular file). A symbolic link is replaced itself (its target is not
    touched); a folder fails at the rename.

    Raises
    ------
    OutputError
        ``path`` is a pipe, device or socket.
    """
    try:
        st = os.lstat(path)
    except (OSError, ValueError):
        return
    if stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISSOCK(st.st_mode):
        raise OutputError("not a regular file (a pipe, device or socket); not replaced", path=path)


def output_clashes(outputs: Iterable[str | os.PathLike]) -> list[list[int]]:
    """Groups of batch positions whose outputs are one file (any spelling), in input order.

    Parameters
    ----------
    outputs : iterable of path-like
        The output of each input of a batch.

    Returns
    -------
    list of list of int
        One list of two or more positions per output written by several inputs; empty when
        every output is distinct. A batch reports these inputs before any work and runs the
        rest.
    """
    groups: dict[str, list[int]] = {}
    for k, o in enumerate(outputs):
        groups.setdefault(os.path.normcase(os.path.realpath(o)), []).append(k)
    return [g for g in groups.values() if len(g) > 1]


def check_distinct_outputs(outputs: Iterable[str | os.PathLike]) -> None:
    """Raise :class:`OutputExistsError` when two jobs of a batch would write the same file."""
    seen: dict[str, str] = {}
    for o in outputs:
        key = os.path.normcase(os.path.realpath(o))
        if key in seen:
            raise OutputExistsError("two inputs have the same name and would write this one output; rename one or run them separately", path=o)
        seen[key] = str(o)


#: The longest file name most file systems take (bytes; ext4, XFS, APFS, NTFS in UTF-16 units).
_NAME_MAX = 255


def temp_stem(out: Path, tail: str) -> str:
    """The stem of a temp name for ``out``: ``out``'s stem, shortened when needed.

    A temp name (``"." + stem + tail``) adds about 22 characters to an output name that may
    itself be near the file system's limit, and a batch's temp output gets a temp name of its own.

    Parameters
    ----------
    out : Path
        The output.
    tail : str
        What follows the stem in the temp name (tag, PID, random part, suffix).

    Returns
    -------
    str
        ``out.stem`` (without its own temp tag when ``out`` is itself a temp name), or its
        first bytes (cut at a UTF-8 character boundary) so that the temp name fits in 255 bytes.
    """
    stem = out.stem
    if _TMP_TAG in stem:  # a temp name of a temp file (a batch's temp output): named after the output
        stem = stem.split(_TMP_TAG)[0].lstrip(".") or stem
    room = _NAME_MAX - 1 - len(tail.encode("utf-8", "surrogateescape"))
    raw = stem.encode("utf-8", "surrogateescape")
    if len(raw) <= room:
        return stem
    return raw[:max(room, 1)].decode("utf-8", "ignore") or "x"


def _sweep_once(folder: Path) -> None:
    """:func:`remove_stale_temps` on the first write of this process into ``folder``."""
    try:
        key = os.path.realpath(folder)
    except (OSError, ValueError):
        return
    if key not in _SWEPT:
        _SWEPT.add(key)
        remove_stale_temps(folder)


def temp_path(out: Path, suffix: str | None = None) -> Path:
    """A fresh temp name beside ``out`` that :func:`remove_stale_temps` recognises:
    ``.<stem>.l2tmp-<pid>-<random><suffix>`` (``suffix`` default ``out``'s)."""
    import secrets

    tail = f"{_TMP_TAG}{os.getpid()}-{secrets.token_hex(4)}{out.suffix if suffix is None else suffix}"
    return out.with_name(f".{temp_stem(out, tail)}{tail}")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temp path beside ``path``; rename it into place when the block succeeds.

    The temp name keeps the output's suffix so writers that choose a format from the
    extension behave the same. On any exception (``KeyboardInterrupt`` and the CLI's signal
    exceptions included) the temp file is removed and the exception propagates; an existing
    output is untouched. Without ``overwrite`` the output name is claimed create-exclusive
    (see the module docstring): of several processes writing ``path`` at once exactly one
    succeeds. The first write into a folder removes stale temp files of killed runs there
    (:func:`remove_stale_temps`).

    Raises
    ------
    OutputExistsError
        ``path`` exists and ``overwrite`` is false: before the work, or when another process
        created it meanwhile (the claim at the end is atomic; the finished temp is removed).
    OutputError
        The folder is missing or read-only, or the disk is full; ``path`` is a pipe, device or
        socket (:func:`check_replaceable`; checked before the work and again at the rename).
    """
    out = Path(path)
    folder = out.parent if str(out.parent) else Path(".")
    check_replaceable(out)
    if out.exists() and not overwrite:
        raise OutputExistsError("output already exists; use --overwrite to replace it", path=out)
    _sweep_once(folder)
    try:
        tag = f"{_TMP_TAG}{os.getpid()}-"
        fd, tmp_name = tempfile.mkstemp(prefix=f".{temp_stem(out, tag + 'x' * 8 + out.suffix)}{tag}", suffix=out.suffix,
                                        dir=folder)
    except FileNotFoundError:
        raise OutputError("destination folder does not exist", path=folder) from None
    except PermissionError:
        raise OutputError("destination folder is not writable", path=folder) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file normal permissions
        if overwrite:
            check_replaceable(out)  # made meanwhile
            os.replace(tmp, out)
        else:
            _publish_exclusive(tmp, out)
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


def _publish_exclusive(tmp: Path, out: Path) -> None:
    """Give the finished ``tmp`` the name ``out`` unless ``out`` exists; atomic against other writers."""
    try:
        os.link(tmp, out)
    except FileExistsError:
        raise OutputExistsError("output appeared while writing (another process wrote it); not replaced", path=out) from None
    except OSError as exc:
        if exc.errno not in _NO_LINK:
            raise
        # no hard links here (some FUSE, SMB, FAT mounts): claim the name, then rename over the claim
        try:
            os.close(os.open(out, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
        except FileExistsError:
            raise OutputExistsError("output appeared while writing (another process wrote it); not replaced", path=out) from None
        try:
            os.replace(tmp, out)
        except BaseException:
            _remove(out)  # our own empty placeholder
            raise
        return
    _remove(tmp)


@contextlib.contextmanager
def temp_folder(path: str | os.PathLike) -> Iterator[Path]:
    """A work folder beside the output ``path`` for a job's intermediate files, removed on exit.

    Named as a temp file (``.<stem>.l2tmp-<pid>-<random>.parts``) in the output's folder, so the
    intermediate files sit on the file system that must hold the output anyway (not in the
    system's temp folder, often a small RAM disk), and a folder left by a killed process is
    removed by the next write into that folder (:func:`remove_stale_temps`).

    Parameters
    ----------
    path : path-like
        The output the intermediate files are for.

    Yields
    ------
    Path
        The new, empty folder.

    Raises
    ------
    OutputError
        The destination folder is missing or not writable.
    """
    out = Path(path)
    folder = out.parent if str(out.parent) else Path(".")
    _sweep_once(folder)
    work = temp_path(out, ".parts")
    try:
        os.mkdir(work)
    except FileNotFoundError:
        raise OutputError("destination folder does not exist", path=folder) from None
    except PermissionError:
        raise OutputError("destination folder is not writable", path=folder) from None
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove the temp files that killed l2tech processes left in ``folder``.

    A temp file is l2tech's when its name has l2tech's pattern
    (``.<stem>.l2tmp-<pid>-<random><suffix>``). It is stale when its writer is gone: no process
    has that PID, or the process that has it started after the file was last written (the PID
    was reused). A temp file of an older release (no PID in its name) is stale when it was last
    written before this process started and over 10 minutes ago. A temp file of a live writer
    (another ``l2`` writing into the same folder) is kept.

    Parameters
    ----------
    folder : path-like
        The output folder.

    Returns
    -------
    list of Path
        The files removed. Files that cannot be removed (read-only folder, raced away) are left.
    """
    removed: list[Path] = []
    try:
        names = os.listdir(folder)
    except (OSError, ValueError):
        return removed
    now = time.time()
    for name in names:
        try:
            p = _remove_if_stale(Path(folder), name, now)
        except Exception as exc:  # noqa: BLE001 - a clean-up problem never stops a write: said, and left
            warnings.warn(f"{Path(folder) / name}: stale temp file left in place: {type(exc).__name__}: {exc}",
                          OutputFolderWarning, stacklevel=2)
            continue
        if p is not None:
            removed.append(p)
    return removed


def _remove_if_stale(folder: Path, name: str, now: float) -> Path | None:
    """Remove ``folder/name`` when it is a stale l2tech temp file (or work folder); its path, or None."""
    m = _TMP_RE.match(name) if _TMP_TAG in name else None
    if m is None:
        return None
    p = folder / name
    try:
        st = p.lstat()
    except OSError:
        return None
    pid = m.group("pid")
    if pid is None:
        stale = st.st_mtime < _PROCESS_START and now - st.st_mtime > _LEGACY_STALE_S
    else:
        stale = not _writer_alive(int(pid), st.st_mtime)
    if not stale:
        return None
    try:
        if stat.S_ISDIR(st.st_mode):  # a work folder (temp_folder)
            shutil.rmtree(p)
        else:
            p.unlink()
    except OSError:
        return None
    return p


#: The largest PID ``kill(2)`` takes (a C ``pid_t``).
_PID_T_MAX = 2**31 - 1


@functools.lru_cache(maxsize=1)
def _pid_max() -> int:
    """The largest PID this system gives (``/proc/sys/kernel/pid_max``), else the largest ``pid_t``
    (read once a process)."""
    try:
        return min(int(Path("/proc/sys/kernel/pid_max").read_text().strip()), _PID_T_MAX)
    except (OSError, ValueError):
        return _PID_T_MAX


def _writer_alive(pid: int, mtime: float) -> bool:
    """Could the process ``pid`` have written a file last modified at ``mtime``?"""
    if pid == os.getpid():
        return mtime >= _PROCESS_START - 1.0  # our own temp, or one of an earlier process with our PID
    if pid <= 0 or pid > _pid_max():  # no process has it (kill(0) would signal our own group): not a writer's
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # alive, another user's
    except OSError:
        return True
    started = _process_start_time(pid)
    return started is None or started <= mtime + 1.0


def _process_start_time(pid: int) -> float | None:
    """Start of process ``pid`` in seconds since the epoch (Linux ``/proc``), or None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, starttime, after "pid (comm)"
        btime = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime "))
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _remove(p: Path) -> None:
    with contextlib.suppress(OSError):
        p.unlink()
