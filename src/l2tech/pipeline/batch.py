"""A batch of stills: each input to its output, skipping or failing per file, decoding ahead.

The loop behind ``l2 develop`` and ``l2 correct`` with several inputs. One file's failure never
stops the batch (RELIABILITY.md); each file's outcome is yielded as it is known, so a caller can
report progress. For RAW inputs the next files are decoded ahead
(:func:`l2tech.pipeline.stills.prefetch`) while the current one is corrected and written.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from l2tech.pipeline.recipe import Recipe

__all__ = ["BatchItem", "check_input_file", "run_batch", "develop_batch_job", "correct_batch_job"]

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
        upcoming = [i for i, o in ahead if (overwrite or not Path(o).exists()) and os.path.isfile(i)]
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


def correct_batch_job(recipe: Recipe, *, overwrite: bool, db: Any = None) -> Job:
    """The job of ``l2 correct``: :func:`~l2tech.pipeline.stills.correct_image_file`."""
    from l2tech.pipeline.stills import correct_image_file

    def job(inp: str | os.PathLike, out: Path, upcoming: Sequence[str]) -> Any:
        return correct_image_file(inp, out, recipe, overwrite=overwrite, db=db)

    return job
