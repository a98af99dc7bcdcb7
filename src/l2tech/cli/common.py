"""Output helpers shared by every ``l2`` command: the consoles, one-line errors, JSON.

The options they share are declared once in :mod:`l2tech.cli.options`. rich is imported on
first use, not at import, so ``l2 --help`` stays fast.
"""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any

import click

from l2tech.cli.options import json_option, verbosity_options  # re-exported: older imports keep working
from l2tech.errors import L2Error

__all__ = ["console", "err_console", "json_option", "verbosity_options", "report_error", "emit_json"]


class _LazyConsole:
    """A :class:`rich.console.Console` made on first use (stdout, or stderr with ``stderr=True``)."""

    def __init__(self, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Any = None

    def get(self) -> Any:
        """The real :class:`rich.console.Console` (to hand to rich's ``Progress``, ``Live``)."""
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.get(), name)


console = _LazyConsole()
err_console = _LazyConsole(stderr=True)


def report_error(exc: BaseException, verbose: int = 0) -> None:
    """Print an error as one line on stderr (a traceback too with ``-v``)."""
    if verbose:
        traceback.print_exception(type(exc), exc, exc.__traceback__, file=sys.stderr)
    name = type(exc).__name__
    if isinstance(exc, L2Error):
        err_console.print(f"[bold red]error[/] ({name}): {exc}", highlight=False, soft_wrap=True)
    else:
        err_console.print(f"[bold red]error[/] (unexpected {name}): {exc}", highlight=False, soft_wrap=True)


def emit_json(obj: Any) -> None:
    """Write ``obj`` as JSON to stdout (one document)."""
    click.echo(json.dumps(obj, indent=2, default=str))
