"""Output helpers shared by every ``l2`` command: the consoles, one-line errors, JSON.

The options they share are declared once in :mod:`l2tech.cli.options`. rich is imported on
first use, not at import, so ``l2 --help`` stays fast.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import traceback
from typing import Any, Iterator

import click

from l2tech.cli.options import json_option, verbosity_options  # re-exported: older imports keep working
from l2tech.errors import L2Error

__all__ = ["console", "err_console", "json_option", "verbosity_options", "report_error", "emit_json", "format_f_number",
           "Terminated", "interrupt_exit_code", "handle_signals", "route_warnings", "batch_summary"]


class _LazyConsole:
    """A :class:`rich.console.Console` made on first use (stdout, or stderr with ``stderr=True``).

    Written to a pipe or a file, lines are not wrapped and tables may be 200 columns wide (rich
    would wrap and cut at 80 columns, which splits a file name across lines for ``grep`` and log
    readers; ``COLUMNS`` still wins); on a terminal, the terminal's width.
    """

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Any = None

    def get(self) -> Any:
        """The real :class:`rich.console.Console` (to hand to rich's ``Progress``, ``Live``)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
            if not self._console.is_terminal:
                self._console.soft_wrap = True
                if not os.environ.get("COLUMNS"):
                    self._console.width = 200
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)

    def print(self, *objects: Any, **kwargs: Any) -> None:
        """:meth:`rich.console.Console.print`, each text given as one line (:func:`one_line`;
        tables and other renderables as they are)."""
        objects = tuple(one_line(o) if isinstance(o, str) else o for o in objects)
        self.get().print(*objects, **kwargs)


#: Control characters shown as escapes in a message line: a file named ``a\nb.jpg`` split an
#: error over two lines (``grep`` and log readers take one line per message).
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F) if c != 0x09} | {0x0A: "\\n", 0x0D: "\\r"}


def one_line(text: str) -> str:
    """``text`` with line breaks and other control characters (not tabs) written as escapes
    (``\\n``, ``\\r``, ``\\x1b``): a message stays one line whatever the file names in it hold."""
    return text.translate(_CONTROL)


console = _LazyConsole()
err_console = _LazyConsole(stderr=True)


def escape(text: str) -> str:
    """``text`` with rich's markup escaped: a file named ``a[bold]b.jpg`` printed as written
    (rich is imported on first use; command modules keep ``--help`` fast)."""
    from rich.markup import escape as _escape

    return _escape(str(text))


def report_error(exc: BaseException, verbose: int = 0) -> None:
    """Print an error as one line on stderr (a traceback too with ``-v``)."""
    if verbose:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    from rich.markup import escape  # a file named "a[b].jpg" is text, not markup

    _JSON_STATE["error"] = exc
    name = type(exc).__name__
    if isinstance(exc, L2Error):
        err_console.print(f"[bold red]error[/] ({name}): {escape(str(exc))}", highlight=False, soft_wrap=True)
    else:
        err_console.print(f"[bold red]error[/] (unexpected {name}): {escape(str(exc))}", highlight=False, soft_wrap=True)


#: f-numbers as lenses and cameras mark them: full, half and third stops (ISO 517 rounding).
_MARKED_F_NUMBERS = (0.95, 1.0, 1.1, 1.2, 1.4, 1.6, 1.7, 1.8, 2.0, 2.2, 2.4, 2.5, 2.8, 3.2, 3.3, 3.5, 4.0, 4.5, 4.8, 5.0,
                     5.6, 6.3, 6.7, 7.1, 8.0, 9.0, 9.5, 10.0, 11.0, 13.0, 14.0, 16.0, 18.0, 19.0, 20.0, 22.0, 25.0,
                     27.0, 29.0, 32.0, 36.0, 40.0, 45.0, 51.0, 57.0, 64.0)


def make_output_folder(path: "str | os.PathLike[str]") -> None:
    """Create the output folder ``-o DIR/`` names (and its parents) when it does not exist.

    Raises
    ------
    OutputError
        It cannot be made: a path component is a file, the file system is read-only, no
        permission (one line naming the folder, as RELIABILITY.md asks; no traceback).
    """
    from pathlib import Path

    from l2tech.errors import OutputError

    try:
        Path(path).mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError("the output folder exists as a file", path=path) from None
    except OSError as exc:
        raise OutputError(f"cannot create the output folder: {exc.strerror or exc}", path=path) from None


def format_f_number(n: float) -> str:
    """An f-number as photographers write it: ``f/5.6`` for 5.65685 (2**2.5), ``f/11`` for 11.3137.

    A value with at most one decimal is shown as written (``f/3.6``: what the camera
    recorded); a computed one (APEX ``2**(Av/2)``) is shown as the nearest marked stop (full,
    half or third) within 3 %, else with one decimal.
    """
    if abs(n - round(n, 1)) < 1e-3:
        return f"f/{round(n, 1):g}"
    best = min(_MARKED_F_NUMBERS, key=lambda m: abs(m - n))
    v = best if abs(best - n) <= 0.03 * n else round(n, 1)
    return f"f/{v:g}"


#: Warnings printed by :func:`route_warnings` while the current command runs, one line each.
_WARNINGS: list[str] = []

#: What the current command has said: whether it printed a JSON document (:func:`emit_json`),
#: and the last error :func:`report_error` printed. :func:`l2tech.cli.main.main` reads it to
#: print an error document for ``--json`` when a command failed before printing one.
_JSON_STATE: dict[str, Any] = {"emitted": False, "error": None}


def reset_json_state() -> None:
    """Forget what the previous command said (:data:`_JSON_STATE`); called as a command starts."""
    _JSON_STATE.update(emitted=False, error=None)


def batch_start_exit_code(exc: L2Error) -> int:
    """The exit code of a batch that could not start: a usage error for an argument (a bad
    ``--cluster`` address, no scheduler answering it: exit 2), but an output folder that cannot
    be used (a journal that is not a file, an ``OutputError``) is exit 1, as an output that
    cannot be written."""
    from l2tech.errors import OutputError

    return exc.exit_code if exc.exit_code != 1 or isinstance(exc, OutputError) else 2


def file_warning(name: str, text: str, *also: str) -> str:
    """A warning about one file as ``NAME: text`` — ``text`` as it is when it already starts
    with ``NAME:`` or one of ``also`` (a decoder's own warning names the file)."""
    return text if text.startswith(tuple(f"{n}:" for n in (name, *also))) else f"{name}: {text}"


def error_document(exc: BaseException | None, exit_code: int) -> dict[str, Any]:
    """The ``--json`` document of a command that failed before printing its own.

    ``{"error", "error_type", "exit_code"}``, and ``"path"`` (and ``"line"``) when the error
    names a file — the keys ``l2 info --json`` uses for a file it could not read. A usage
    error found by the option parser has ``error_type`` ``"UsageError"``, its message
    without the ``Usage:`` block.
    """
    if exc is None:
        doc: dict[str, Any] = {"error": f"failed with exit code {exit_code}", "error_type": None}
    elif isinstance(exc, click.ClickException):
        doc = {"error": exc.format_message(), "error_type": "UsageError" if isinstance(exc, click.UsageError)
               else type(exc).__name__}
    elif isinstance(exc, KeyboardInterrupt):
        doc = {"error": "interrupted", "error_type": type(exc).__name__}
    else:
        doc = {"error": str(exc), "error_type": type(exc).__name__}
        if getattr(exc, "path", None) is not None:
            doc["path"] = exc.path
            if getattr(exc, "line", None) is not None:
                doc["line"] = exc.line
    doc["exit_code"] = exit_code
    return doc


def emit_json(obj: Any) -> None:
    """Write ``obj`` as JSON to stdout (one document), carrying the command's warnings.

    The warnings :func:`route_warnings` printed on stderr (a lens database entry skipped, a
    library's warning) are added to the document's ``"warnings"`` list: a dict gets (or
    extends) its ``warnings`` key, each dict of a list likewise. Lines already there are not
    repeated.
    """
    if _WARNINGS:
        for doc in (obj if isinstance(obj, list) else [obj]):
            if isinstance(doc, dict):
                have = list(doc.get("warnings") or [])
                doc["warnings"] = have + [w for w in _WARNINGS if w not in have]
    _JSON_STATE["emitted"] = True
    click.echo(json.dumps(obj, indent=2, default=str))


class Terminated(KeyboardInterrupt):
    """Raised in the main thread when the process gets SIGTERM (``kill``, a service manager).

    A :class:`KeyboardInterrupt`, so it unwinds exactly as Ctrl-C does: ``except Exception``
    handlers (a batch going on past one bad file) let it through, ``with`` blocks clean up
    (the temp file of :func:`l2tech.io.atomic.atomic_output` is removed), and the command
    prints what it finished before exiting with 143.
    """

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(f"terminated by signal {signum}")
        self.signum = signum


def interrupt_exit_code(exc: BaseException) -> int:
    """The shell's exit code for an interruption: 128 + signal (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + (exc.signum if isinstance(exc, Terminated) else signal.SIGINT)


@contextlib.contextmanager
def handle_signals() -> Iterator[None]:
    """Turn SIGTERM and SIGINT into exceptions in the main thread for the duration of a command.

    The first signal raises :class:`Terminated` (SIGTERM) or :class:`KeyboardInterrupt`
    (SIGINT); a second one while that is unwinding is ignored, so the clean-up (temp files
    removed, summary printed) is not cut short, and a third one kills the process at once.
    The previous handlers are restored on exit. Outside the main thread this does nothing.
    """
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    count = 0

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal count
        count += 1
        if count == 2:
            for s in (signal.SIGINT, signal.SIGTERM):
                signal.signal(s, signal.SIG_DFL)  # the next one kills
            return
        raise Terminated(signum) if signum == signal.SIGTERM else KeyboardInterrupt()

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


@contextlib.contextmanager
def route_warnings() -> Iterator[None]:
    """Print every ``warnings.warn`` of a command as one clean line on stderr.

    ``warning: FILE: message`` for l2tech's own warning classes (their messages start with the
    file or profile they are about), ``warning (Category): message`` for a library's. The
    lines are also kept for the command's ``--json`` document (:func:`emit_json`). Python's
    default form (``path/to/module.py:168: LensfunDataWarning: ...`` and the source line) is for
    developers, not users. A line already printed by this command is not printed again (the
    same file read at two call sites warned twice). Which warnings show is still decided by the
    warnings filters (``-W``, ``PYTHONWARNINGS``); only the printing is replaced, and restored
    on exit.
    """
    import warnings

    previous = warnings.showwarning

    def show(message: Any, category: type, filename: str, lineno: int, file: Any = None, line: Any = None) -> None:
        from rich.markup import escape

        text = " ".join(str(message).split())  # one line
        own = category.__module__.split(".")[0] == "l2tech"
        kept = text if own else f"{category.__name__}: {text}"
        if kept in _WARNINGS:  # the same line from a second call site (a file read twice): said once
            return
        label = "warning" if own else f"warning ({category.__name__})"
        err_console.print(f"[yellow]{label}[/]: {escape(text)}", highlight=False, soft_wrap=True)
        _WARNINGS.append(kept)  # for --json (emit_json)

    warnings.showwarning = show
    _WARNINGS.clear()
    try:
        yield
    finally:
        warnings.showwarning = previous
        _WARNINGS.clear()


def batch_summary(results: list[dict[str, Any]], elapsed_s: float) -> dict[str, Any]:
    """The ``--json`` summary of a batch (develop, correct, video): counts, the reasons of the
    skips and failures, time and throughput.

    Parameters
    ----------
    results : list of dict
        One row per input, each with ``status`` (``"ok"``, ``"skipped"`` or ``"failed"``),
        ``input`` and, when not ok, ``reason`` or ``error``.
    elapsed_s : float
        Wall time of the batch, seconds.

    Returns
    -------
    dict
        ``ok`` and ``done`` (outputs written), ``skipped``, ``failed``, ``skipped_reasons``
        (reason -> count), ``failed_inputs`` (input -> error), ``elapsed_s``, ``files_per_s``.
    """
    from collections import Counter

    ok = sum(r["status"] == "ok" for r in results)
    skipped = [r for r in results if r["status"] == "skipped"]
    failed = [r for r in results if r["status"] == "failed"]
    return {
        "ok": ok, "done": ok, "skipped": len(skipped), "failed": len(failed),
        "skipped_reasons": dict(Counter(r.get("reason", r.get("error", "")) for r in skipped)),
        "failed_inputs": {r["input"]: r.get("error", "") for r in failed},
        "elapsed_s": round(elapsed_s, 3),
        "files_per_s": round(ok / elapsed_s, 3) if elapsed_s > 0 else None,
    }
