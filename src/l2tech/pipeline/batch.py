"""A batch of stills: each input to its output, skipping or failing per file, in parallel, resumable.

The loop behind ``l2 develop`` and ``l2 correct``. One file's failure never stops the batch
(RELIABILITY.md); each file's outcome is yielded as it is known, so a caller can report
progress.

:func:`run_tasks` is the batch engine:

- **resume** — the journal of the output folder (:mod:`l2tech.pipeline.journal`) and the
  sidecars beside the outputs (:mod:`l2tech.pipeline.sidecar`) say which outputs are finished
  and with which recipe: those made with this recipe from this input are skipped, those made
  with another recipe are an error unless ``overwrite``; ``redo`` makes every output again;
- **parallel** — ``jobs`` worker processes (spawned, one numba thread each), fewer when the
  memory budget allows fewer concurrent frames (:func:`memory_limited_jobs`); or the workers
  of a Dask cluster (:mod:`l2tech.pipeline.cluster`);
- **one writer** — workers render each output to a temp file (or to bytes on a cluster); this
  process alone renames it into place, after its sidecar, and then appends the journal line,
  so a kill at any moment leaves complete files only and a rerun does only the missing work.

:func:`run_batch` is the older sequential loop (one process, decoding ahead), kept for callers
that bring their own job function.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

from l2tech.pipeline.recipe import Recipe

__all__ = [
    "BatchItem",
    "BatchTask",
    "Rendered",
    "check_input_file",
    "run_batch",
    "run_tasks",
    "render_task",
    "develop_batch_job",
    "correct_batch_job",
    "job_memory_bytes",
    "memory_limited_jobs",
]

#: How many upcoming inputs a job may start reading ahead.
LOOKAHEAD = 2


@dataclass(frozen=True)
class BatchItem:
    """The outcome of one input of a batch.

    Attributes
    ----------
    input : str
    output : Path
    status : {'ok', 'skipped', 'failed'}
        ``skipped``: the output exists and overwriting was not asked for (a re-run finishes an
        interrupted batch), or the input is itself an l2tech output (``AlreadyProcessedError``).
    result : DevelopResult or None
        For ``ok``.
    error : BaseException or None
        For ``skipped`` and ``failed``; an :class:`~l2tech.errors.L2Error` unless the failure is
        a bug (any other exception, reported as unexpected).
    """

    input: str
    output: Path
    status: str
    result: Any = None
    error: BaseException | None = None


Job = Callable[[str, Path, Sequence[str]], Any]


def check_input_file(path: str | os.PathLike) -> Path:
    """Check that an input of a batch is a regular file this process can read.

    Done for each input on its own, so a bad argument (a typo, a folder named ``*.dng``, a file
    without read permission) fails that input only and the rest of the batch is processed
    (RELIABILITY.md E5). The file is opened, not just tested with ``os.access``, so the answer
    is right for root, ACLs and network filesystems too.

    Parameters
    ----------
    path : path-like
        An input file.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    InputNotFoundError
        Nothing at ``path`` (or a dangling link), or it is a folder or another non-file.
    InputNotReadableError
        The file cannot be opened for reading (permission denied, I/O error).
    """
    import stat

    from l2tech.errors import InputNotFoundError, InputNotReadableError

    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise InputNotFoundError("file not found", path=p) from None
    except OSError as exc:
        raise InputNotReadableError(f"cannot read the file: {exc.strerror or exc}", path=p) from None
    if stat.S_ISDIR(st.st_mode):
        raise InputNotFoundError("is a folder, not a file", path=p)
    if not stat.S_ISREG(st.st_mode):
        raise InputNotFoundError("not a regular file (a device, pipe or socket)", path=p)
    try:
        fd = os.open(p, os.O_RDONLY)
    except OSError as exc:
        raise InputNotReadableError(f"cannot read the file: {exc.strerror or exc}", path=p) from None
    os.close(fd)
    return p


def run_batch(inputs: Sequence[str], outputs: Sequence[Path], job: Job, *, overwrite: bool) -> Iterator[BatchItem]:
    """Run ``job(input, output, upcoming)`` over the batch, one :class:`BatchItem` per input.

    Parameters
    ----------
    inputs, outputs : sequences of the same length
        Each input and where it is written (distinct outputs: the caller checks them first with
        :func:`l2tech.io.atomic.check_distinct_outputs`).
    job : callable
        ``job(input, output, upcoming) -> DevelopResult``; ``upcoming`` lists the next inputs
        that will be written (a job may start reading them).
    overwrite : bool
        Replace existing outputs; otherwise an existing output is skipped.

    Yields
    ------
    BatchItem
        Each input is checked on its own first (:func:`check_input_file`); a missing,
        unreadable or non-file input is a ``failed`` item and the batch goes on.
    """
    from l2tech.errors import AlreadyProcessedError, L2Error, OutputExistsError
    from l2tech.io.atomic import check_output_path

    for k, (inp, out) in enumerate(zip(inputs, outputs)):
        ahead = zip(inputs[k + 1 : k + 1 + LOOKAHEAD], outputs[k + 1 : k + 1 + LOOKAHEAD])
        upcoming = [i for i, o in ahead if (overwrite or not os.path.exists(o)) and os.path.isfile(i)]
        try:
            check_input_file(inp)
            # without overwrite no file is replaced, so an output that is another input of the
            # batch (an earlier run's output) is an existing output: skipped, not an error
            check_output_path(out, inputs=inputs if overwrite else [inp], overwrite=overwrite)
            yield BatchItem(inp, Path(out), "ok", result=job(inp, Path(out), upcoming))
        except (OutputExistsError, AlreadyProcessedError) as exc:
            yield BatchItem(inp, Path(out), "skipped", error=exc)
        except L2Error as exc:
            yield BatchItem(inp, Path(out), "failed", error=exc)
        except Exception as exc:  # noqa: BLE001 - a bug in one file must not stop the batch (E5)
            yield BatchItem(inp, Path(out), "failed", error=exc)


def develop_batch_job(recipe: Recipe, *, overwrite: bool, db: Any = None) -> Job:
    """The job of ``l2 develop``: :func:`~l2tech.pipeline.stills.develop_file`, decoding ahead."""
    from l2tech.pipeline.stills import develop_file

    def job(inp: str, out: Path, upcoming: Sequence[str]) -> Any:
        return develop_file(inp, out, recipe, overwrite=overwrite, db=db, prefetch_next=list(upcoming))

    return job


def correct_batch_job(recipe: Recipe, *, overwrite: bool, db: Any = None, max_decode_errors: int = 0) -> Job:
    """The job of ``l2 correct``: :func:`~l2tech.pipeline.stills.correct_image_file`."""
    from l2tech.pipeline.stills import correct_image_file

    def job(inp: str | os.PathLike, out: Path, upcoming: Sequence[str]) -> Any:
        return correct_image_file(inp, out, recipe, overwrite=overwrite, db=db, max_decode_errors=max_decode_errors)

    return job


# --------------------------------------------------------------------------------------------
# The batch engine: resume, sidecars, worker processes or a Dask cluster


@dataclass(frozen=True)
class BatchTask:
    """One input of a batch and everything a worker needs to make its output.

    Attributes
    ----------
    command : {'develop', 'correct', 'video'}
    input : str
        Input file (absolute, so a worker in another folder or on another machine finds it on
        the shared path).
    output : str
        Final output file.
    recipe : Recipe
    format : {'jpeg', 'tiff', 'png'}
        Output format (``correct`` keeps each input's).
    upcoming : tuple of str
        Inputs the same process develops next (decoded ahead; in-process runs only).
    max_decode_errors : int
        Damaged images to accept (``correct``; ``--max-decode-errors``): 0 refuses a JPEG whose
        data the decoder reports damaged (:func:`l2tech.io.image.read_image`).
    video : mapping, optional
        ``l2 video``: the clip's video-only settings (:func:`l2tech.pipeline.video.video_settings`);
        with ``recipe`` they make its :class:`~l2tech.pipeline.video.VideoJob`.
    max_memory : int, optional
        ``l2 video``: the memory budget a clip's frame size is checked against, bytes
        (:func:`l2tech.pipeline.memory.video_size_check`); not part of the recipe.
    segment_workers : int
        ``l2 video`` with ``segments`` > 1: worker processes making the parts of the clip.
    """

    command: str
    input: str
    output: str
    recipe: Recipe
    format: str
    upcoming: tuple[str, ...] = ()
    max_decode_errors: int = 0
    video: Mapping[str, Any] | None = None
    max_memory: int | None = None
    segment_workers: int = 1


@dataclass(frozen=True)
class Rendered:
    """A worker's product: the output in a temp file beside it, or its bytes (cluster).

    Attributes
    ----------
    temp : str or None
        Temp file in the output folder holding the finished output (local workers).
    data : bytes or None
        The output's bytes (cluster workers).
    input_sha256, output_sha256 : str
    input_size, input_mtime_ns : int
    summary : dict
        :meth:`~l2tech.pipeline.stills.DevelopResult.summary`, with the lens profile chosen
        and its source under ``lens.profile``.
    seconds : float
        Wall time of the work in the worker.
    """

    temp: str | None
    data: bytes | None
    input_sha256: str
    input_size: int
    input_mtime_ns: int
    output_sha256: str
    summary: dict
    seconds: float


def _temp_name(out: Path) -> Path:
    """A temp name beside ``out`` that :func:`l2tech.io.atomic.remove_stale_temps` recognises."""
    from l2tech.io.atomic import temp_path

    return temp_path(out)


def render_task(task: BatchTask, deliver: str = "file", progress: Callable[[str, int, int], None] | None = None) -> Rendered:
    """Make one output (run in a worker process, a Dask worker, or in-process).

    Parameters
    ----------
    task : BatchTask
    deliver : {'file', 'bytes'}
        ``file``: the output is left in a temp file beside the final name (same folder, so the
        coordinator renames it into place); ``bytes``: it is returned as bytes (a cluster
        worker, whose disk the coordinator may not see) and nothing is left on the worker.
    progress : callable, optional
        ``progress(input, frames_done, frames_total)`` after each frame of a video (in-process
        runs only: the frame progress bar of ``l2 video``).

    Returns
    -------
    Rendered

    Raises
    ------
    L2Error
        As :func:`~l2tech.pipeline.stills.develop_file` /
        :func:`~l2tech.pipeline.stills.correct_image_file`.
    """
    import shutil
    import tempfile
    import time

    from l2tech.pipeline.sidecar import file_sha256
    from l2tech.pipeline.stills import correct_image_file, develop_file

    t0 = time.perf_counter()
    out = Path(task.output)
    if deliver == "bytes":
        folder = Path(tempfile.mkdtemp(prefix="l2-render-"))
        tmp = folder / out.name
    elif deliver == "file":
        folder = None
        tmp = _temp_name(out)
    else:
        raise ValueError(f"deliver must be 'file' or 'bytes', got {deliver!r}")
    try:
        if task.command == "develop":
            res = develop_file(task.input, tmp, task.recipe, overwrite=True, prefetch_next=list(task.upcoming))
        elif task.command == "correct":
            res = correct_image_file(task.input, tmp, task.recipe, overwrite=True, fmt=task.format,
                                     max_decode_errors=task.max_decode_errors)
        elif task.command == "video":
            res = _VideoResult(*_render_video(task, tmp, progress))
        else:
            raise ValueError(f"unknown command {task.command!r}")
        summary = res.summary()
        summary["output"] = str(out)
        prof = res.plan.profile if task.command != "video" else None
        if prof is not None:
            summary["lens"]["profile"] = {"maker": prof.maker, "model": prof.model, "source": prof.source,
                                          "chosen_from": res.plan.sources.get("profile", "")}
        st = os.stat(task.input)
        data = tmp.read_bytes() if deliver == "bytes" else None
        return Rendered(temp=None if deliver == "bytes" else str(tmp), data=data, input_sha256=file_sha256(task.input),
                        input_size=st.st_size, input_mtime_ns=st.st_mtime_ns, output_sha256=file_sha256(tmp),
                        summary=summary, seconds=time.perf_counter() - t0)
    except BaseException:
        if folder is None:
            _unlink(tmp)
        raise
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class _VideoResult:
    """What :func:`_render_video` made, shaped as the stills results for :func:`render_task`."""

    report: Any
    setup: tuple[str, ...]
    details: dict

    def summary(self) -> dict:
        d = {k: getattr(self.report, k) for k in self.report.__dataclass_fields__ if k not in ("input", "output")}
        d.update(self.details)  # e.g. "stabilization" (run_video_job's details)
        d["setup"] = list(self.setup)
        d["lens"] = {"setup": list(self.setup)}
        # the setup's warnings (a Gyroflow project for another clip, an uncertain sync) are
        # warnings of the clip like the transcode's: --json carries them in one list
        d["warnings"] = [*d.get("warnings", ()), *(s[len("warning: "):] for s in self.setup if s.startswith("warning: "))]
        return d


def _render_video(task: BatchTask, tmp: Path, progress: Callable[[str, int, int], None] | None = None
                  ) -> tuple[Any, tuple[str, ...], dict]:
    """One clip of an ``l2 video`` batch into ``tmp`` (:func:`l2tech.pipeline.video.run_video_job`):
    its report, setup lines and details (the stabilisation summary)."""
    import dataclasses

    from l2tech.pipeline.memory import video_size_check
    from l2tech.pipeline.video import VideoJob

    job = dataclasses.replace(VideoJob(task.recipe), overwrite=True,
                              **{k: (tuple(v) if isinstance(v, list) else v) for k, v in (task.video or {}).items()})
    from l2tech.pipeline.video import run_video_job

    report = None if progress is None else (lambda done, total: progress(task.input, done, total))
    details: dict = {}
    from l2tech.errors import L2Error

    try:
        rep, setup = run_video_job(job, task.input, tmp, frame_size_check=video_size_check(task.input, task.max_memory),
                                   workers=task.segment_workers, progress=report, details=details)
    except L2Error as exc:  # an error about the temp file is about the output the user named; one
        # about no file (a lens not in the database, an option value) is about this clip
        if exc.path in (None, str(tmp)):
            exc.path = str(task.output if exc.path else task.input)
            exc.args = (f"{exc.path}{f':{exc.line}' if exc.line is not None else ''}: {exc.reason}",)
        raise
    return rep, setup, details


def _unlink(p: Path) -> None:
    try:
        p.unlink()
    except OSError:
        pass


# ---- memory budget -------------------------------------------------------------------------

#: Frame size assumed when an input's size cannot be read from its header, megapixels.
DEFAULT_FRAME_MEGAPIXELS = 24.0


def job_memory_bytes(megapixels: float = DEFAULT_FRAME_MEGAPIXELS, kind: str = "develop") -> int:
    """Estimated peak memory of one worker on a frame of ``megapixels`` (the measured figures
    of :mod:`l2tech.pipeline.memory`), bytes."""
    from l2tech.pipeline.memory import BASE_BYTES, BYTES_PER_PIXEL, MARGIN

    return int(BASE_BYTES["still"] + megapixels * 1e6 * BYTES_PER_PIXEL[kind] * MARGIN)


def memory_limited_jobs(jobs: int, max_memory: int, *, megapixels: float = DEFAULT_FRAME_MEGAPIXELS,
                        job_bytes: int | None = None) -> int:
    """How many workers may run at once within ``max_memory`` bytes (at least one, at most ``jobs``).

    The one place the batch's concurrency is decided: each concurrent job is counted at
    ``job_bytes`` (the largest estimate of the batch's inputs), else :func:`job_memory_bytes`
    of a ``megapixels`` frame.
    """
    per_job = job_bytes if job_bytes else job_memory_bytes(megapixels)
    return max(1, min(int(jobs), int(max_memory // max(1, per_job))))


# ---- resume decisions ----------------------------------------------------------------------


def _plan_task(task: BatchTask, journal: Any, rhash: str, *, overwrite: bool, redo: bool) -> tuple[str, str]:
    """What to do with one task: ``("do", "")``, ``("skip", why)`` or ``("error", why)``."""
    out = Path(task.output)
    if redo or not out.exists():
        return "do", ""
    entry = journal.get(out) if journal is not None else None
    if entry is not None and entry.input == task.input:
        if entry.recipe_hash == rhash and entry.output_matches(out) and entry.input_matches(task.input):
            return "skip", "done earlier with this recipe (journal)"
        if not overwrite:
            other = "another recipe" if entry.recipe_hash != rhash else "another version of the input or was changed since"
            return "error", f"made with {other}; use --overwrite to replace it or --redo to redo every file"
        return "do", ""
    from l2tech.pipeline.sidecar import file_sha256, read_sidecar, sidecar_path

    sc_path = sidecar_path(out)
    if sc_path.is_file():
        try:
            sc = read_sidecar(sc_path)
        except Exception:  # noqa: BLE001 - an unreadable sidecar says nothing about the output
            sc = None
        if sc is not None:
            same = (sc.recipe_hash == rhash and sc.output_sha256 == file_sha256(out)
                    and sc.input_sha256 == file_sha256(task.input))
            if same:
                return "skip", "exists and matches its sidecar's recipe and input"
            if not overwrite:
                return "error", ("made with another recipe or input (see its sidecar); "
                                 "use --overwrite to replace it or --redo to redo every file")
            return "do", ""
    if overwrite:
        return "do", ""
    return "skip", "output already exists; use --overwrite to replace it"


# ---- executors -------------------------------------------------------------------------------


def _worker_init(parent_pid: int) -> None:
    """Set up a worker process: one numba thread, die with the parent, leave Ctrl-C to it."""
    import signal

    os.environ["NUMBA_NUM_THREADS"] = "1"
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the coordinator stops the workers itself
    try:  # Linux: SIGKILL this worker when the coordinator dies (SIGKILL included)
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:
        os._exit(1)


def _render_file(task: BatchTask) -> Rendered:
    return render_task(task, "file")


class _LocalPool:
    """``jobs`` spawned worker processes; stops them on an interrupt."""

    def __init__(self, jobs: int) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
                                        initializer=_worker_init, initargs=(os.getpid(),))

    def run(self, tasks: Sequence[BatchTask]) -> Iterator[tuple[BatchTask, Any, BaseException | None]]:
        from concurrent.futures import FIRST_COMPLETED, wait

        pending = {self.pool.submit(_render_file, t): t for t in tasks}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                t = pending.pop(fut)
                exc = fut.exception()
                yield t, (None if exc is not None else fut.result()), exc

    def close(self, *, kill: bool) -> None:
        if kill:
            procs = list(getattr(self.pool, "_processes", {}).values())
            for p in procs:
                try:
                    p.kill()
                except Exception:  # noqa: BLE001 - already gone
                    pass
            for p in procs:
                p.join(5)
            self.pool.shutdown(wait=False, cancel_futures=True)
        else:
            self.pool.shutdown(wait=True)


class _InProcess:
    """The tasks one after another in this process (``jobs=1``), decoding the next RAWs ahead."""

    def __init__(self, progress: Callable[[str, int, int], None] | None = None) -> None:
        self.progress = progress

    def run(self, tasks: Sequence[BatchTask]) -> Iterator[tuple[BatchTask, Any, BaseException | None]]:
        import dataclasses

        for k, t in enumerate(tasks):
            ahead = tuple(u.input for u in tasks[k + 1 : k + 1 + LOOKAHEAD]) if t.command == "develop" else ()
            try:
                r = render_task(dataclasses.replace(t, upcoming=ahead), "file", self.progress)
            except Exception as exc:  # noqa: BLE001 - reported per file (E5)
                yield t, None, exc
                continue
            yield t, r, None

    def close(self, *, kill: bool) -> None:
        pass


# ---- the engine ------------------------------------------------------------------------------


def _folder_lock(folder: Path) -> Any:
    """An exclusive ``flock(2)`` on ``folder`` while the returned context is open: other l2
    processes publishing into the same folder wait. No lock where the file system has none."""
    import contextlib

    stack = contextlib.ExitStack()
    try:
        import fcntl

        fd = os.open(folder, os.O_RDONLY)
    except (ImportError, OSError):
        return stack
    stack.callback(os.close, fd)  # closing the descriptor releases the lock
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:  # no flock on this file system (some network mounts): go on without it
        pass
    except BaseException:  # a signal while waiting
        stack.close()
        raise
    return stack


def _publish(task: BatchTask, rendered: Rendered, rhash: str, journal: Any, *, overwrite: bool, sidecars: bool) -> None:
    """Put a rendered output in place: sidecar, output (atomic rename), then the journal line.

    Under a lock on the output folder, so that of two l2 processes writing the same output
    (without ``overwrite``) the loser touches none of the winner's files: it finds the output
    there before writing a sidecar, and raises :class:`~l2tech.errors.OutputExistsError`.
    """
    with _folder_lock(Path(task.output).parent):
        _publish_locked(task, rendered, rhash, journal, overwrite=overwrite, sidecars=sidecars)


def _publish_locked(task: BatchTask, rendered: Rendered, rhash: str, journal: Any, *, overwrite: bool,
                    sidecars: bool) -> None:
    from l2tech.errors import OutputExistsError
    from l2tech.io.atomic import atomic_output
    from l2tech.pipeline.journal import JournalEntry
    from l2tech.pipeline.sidecar import sidecar_path, sidecar_text, write_sidecar

    out = Path(task.output)
    sc_written = None
    try:
        if not overwrite and out.exists():  # another process published it since the batch started
            raise OutputExistsError("output appeared while writing (another process wrote it); not replaced", path=out)
        if sidecars:
            existed = sidecar_path(out).exists()
            text = sidecar_text(command=task.command, recipe=task.recipe, input_path=task.input,
                                input_sha256=rendered.input_sha256, input_size=rendered.input_size, output=out,
                                output_sha256=rendered.output_sha256, lens=rendered.summary.get("lens"),
                                video=task.video)
            sc = write_sidecar(out, text, overwrite=True)
            sc_written = None if existed else sc
        with atomic_output(out, overwrite=overwrite) as tmp:
            if rendered.temp is not None:
                os.replace(rendered.temp, tmp)
            else:
                tmp.write_bytes(rendered.data or b"")
    except BaseException:
        if rendered.temp is not None:
            _unlink(Path(rendered.temp))
        if sc_written is not None:
            _unlink(sc_written)
        raise
    if journal is not None:  # the output is in place: a journal that cannot take its line is a warning, not a failure
        from l2tech.errors import L2Error
        from l2tech.pipeline.journal import JournalWarning

        try:
            st = os.stat(out)
            journal.append(JournalEntry(output=out.name, input=task.input, recipe_hash=rhash,
                                        input_sha256=rendered.input_sha256, input_size=rendered.input_size,
                                        input_mtime_ns=rendered.input_mtime_ns, output_sha256=rendered.output_sha256,
                                        output_size=st.st_size, output_mtime_ns=st.st_mtime_ns))
        except (L2Error, OSError) as exc:
            import warnings

            why = exc.reason if isinstance(exc, L2Error) else (exc.strerror or str(exc))
            warnings.warn(f"{journal.path}: {out.name} not recorded ({why}); a rerun checks it by its sidecar or "
                          "makes it again", JournalWarning, stacklevel=2)


def run_tasks(tasks: Sequence[BatchTask], *, jobs: int = 1, overwrite: bool = False, redo: bool = False,
              journal: bool = True, sidecars: bool = True, cluster: str | None = None,
              max_memory: int | None = None, on_start: Callable[[dict], None] | None = None,
              progress: Callable[[str, int, int], None] | None = None) -> Iterator[BatchItem]:
    """Run a batch: resume what is done, make the rest in parallel, yield one :class:`BatchItem` each.

    Parameters
    ----------
    tasks : sequence of BatchTask
        Distinct outputs (checked first with :func:`l2tech.io.atomic.check_distinct_outputs`).
    jobs : int
        Worker processes on this machine (1: in this process, decoding ahead).
    overwrite : bool
        Replace outputs that exist and were made with another recipe (or of unknown origin).
    redo : bool
        Make every output again, replacing those that exist.
    journal : bool
        Keep the output folder's journal (:mod:`l2tech.pipeline.journal`) and resume from it.
    sidecars : bool
        Write ``name.ext.l2.toml`` beside each output (:mod:`l2tech.pipeline.sidecar`).
    cluster : str, optional
        Address of a Dask scheduler (``tcp://host:8786``): the tasks run on its workers, which
        read the inputs from the same paths and send the outputs back as bytes.
    max_memory : int, optional
        Memory budget of the local workers, bytes (default :func:`l2tech.pipeline.memory.default_budget`); limits
        ``jobs`` (:func:`memory_limited_jobs`).
    progress : callable, optional
        ``progress(input, frames_done, frames_total)`` after each video frame made in this
        process (``jobs`` 1; not called for worker processes or a cluster).
    on_start : callable, optional
        Called once the work starts with ``{"mode": "in-process" | "processes" | "cluster",
        "workers": int or None, "to_do": int}`` (not called when everything was done before).

    Yields
    ------
    BatchItem
        In the order outputs finish; ``result`` of an ``ok`` item is the summary dict of
        :class:`Rendered` (``seconds`` added). ``skipped``: done earlier with this recipe, or an
        existing output without ``overwrite``. ``failed``: the input is bad, the work failed, or
        the output exists but was made with another recipe (:class:`OutputExistsError`).

    Notes
    -----
    Each output is published by this process alone, sidecar first, then the output (temp file
    renamed; create-exclusive without ``overwrite``), then its journal line (``fsync``-ed). A
    kill at any moment leaves only complete files; a rerun skips what the journal or the
    sidecars show as done, and removes the temp files of killed workers.
    """
    from l2tech.errors import AlreadyProcessedError, L2Error, OutputExistsError
    from l2tech.io.atomic import check_output_path, check_replaceable, remove_stale_temps
    from l2tech.pipeline.journal import Journal
    from l2tech.pipeline.recipe_file import recipe_hash
    from l2tech.pipeline.sidecar import SIDECAR_SUFFIX, file_sha256, sidecar_path

    if cluster:  # a malformed address is one usage error now, not Dask's after its connect timeout
        from l2tech.pipeline.cluster import check_address

        check_address(cluster)
    journals: dict[str, Any] = {}
    folders = sorted({str(Path(t.output).parent) for t in tasks})
    for f in folders:
        remove_stale_temps(f)
        if journal and Path(f).is_dir():
            journals[f] = Journal(f)
    from l2tech.pipeline.memory import check_memory, default_budget, estimate_still

    budget = int(max_memory) if max_memory else default_budget()
    todo: list[BatchTask] = []
    hashes: dict[str, str] = {}
    peaks: dict[str, int] = {}
    input_ids = set()  # (device, inode) of every input: no output may be one of them (E2)
    for t in tasks:
        try:
            st = os.stat(t.input)
            input_ids.add((st.st_dev, st.st_ino))
        except OSError:
            pass
    for t in tasks:
        out = Path(t.output)
        try:
            check_input_file(t.input)
            check_output_path(out, inputs=[t.input], overwrite=True)
            if sidecars and len((out.name + SIDECAR_SUFFIX).encode("utf-8", "surrogateescape")) > 255:
                from l2tech.errors import OutputError

                raise OutputError(f"the output's sidecar ({SIDECAR_SUFFIX} appended) would be longer than the 255 bytes a "
                                  "file name may have: shorten the name or pass --no-sidecar", path=out)
            if sidecars:  # a pipe or device where the sidecar goes: refused before the work, not after it
                check_replaceable(sidecar_path(out))
            try:
                ost = os.stat(out)
            except OSError:
                ost = None
            rh = hashes[t.output] = recipe_hash(t.recipe, t.command, t.video)
            what, why = _plan_task(t, journals.get(str(out.parent)), rh, overwrite=overwrite, redo=redo)
            if what == "do" and t.command != "video":  # refused before decoding when its estimated peak exceeds the budget
                est = estimate_still(t.input, t.recipe, kind=t.command)
                check_memory(est, budget)
                if est is not None:
                    peaks[t.output] = est.peak_bytes
            if what == "do" and ost is not None and (ost.st_dev, ost.st_ino) in input_ids:
                # an earlier output given again as an input (`l2 correct *.jpg`): never written over
                from l2tech.errors import UsageError

                raise UsageError("output is the same file as an input of this batch; inputs are never modified", path=out)
        except L2Error as exc:
            yield BatchItem(t.input, out, "failed", error=exc)
            continue
        if what == "skip":
            yield BatchItem(t.input, out, "skipped", error=OutputExistsError(why, path=out))
        elif what == "error":
            yield BatchItem(t.input, out, "failed", error=OutputExistsError(why, path=out))
        else:
            todo.append(t)
    if not todo:
        for j in journals.values():
            j.close()
        return
    if cluster:
        from l2tech.pipeline.cluster import ClusterRunner

        runner: Any = ClusterRunner(cluster)
        start = {"mode": "cluster", "workers": None, "to_do": len(todo)}
    else:
        n = memory_limited_jobs(min(jobs, len(todo)), budget,
                                job_bytes=max((peaks.get(t.output, 0) for t in todo), default=0) or None)
        runner = _LocalPool(n) if n > 1 else _InProcess(progress)
        start = {"mode": "processes" if n > 1 else "in-process", "workers": n, "to_do": len(todo)}
    if on_start is not None:
        on_start(start)
    killed = True
    try:
        for t, rendered, exc in runner.run(todo):
            out = Path(t.output)
            if exc is None:
                try:
                    _publish(t, rendered, hashes[t.output], journals.get(str(out.parent)),
                             overwrite=overwrite or redo, sidecars=sidecars)
                except Exception as pexc:  # noqa: BLE001 - one output's failure does not stop the batch
                    exc = pexc
                except BaseException:  # a signal: an output already in place (its journal line being
                    if out.is_file() and file_sha256(out) == rendered.output_sha256:  # synced) is reported first
                        yield BatchItem(t.input, out, "ok", result={**rendered.summary, "seconds": rendered.seconds})
                    raise
            if exc is None:
                yield BatchItem(t.input, out, "ok", result={**rendered.summary, "seconds": rendered.seconds})
            elif isinstance(exc, (AlreadyProcessedError, OutputExistsError)):  # an earlier l2tech output as input;
                yield BatchItem(t.input, out, "skipped", error=exc)  # the output published by another process meanwhile
            else:
                yield BatchItem(t.input, out, "failed", error=exc)
        killed = False
    finally:
        runner.close(kill=killed)
        for j in journals.values():
            j.close()
        for f in folders:  # temp files of workers that were killed or crashed
            remove_stale_temps(f)
