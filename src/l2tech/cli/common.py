"""Options and helpers shared by every ``l2`` command, so a flag means the same everywhere."""

from __future__ import annotations

import json
import sys
import traceback
from typing import Any, Callable

import click
from rich.console import Console

from l2tech.errors import L2Error

__all__ = ["console", "err_console", "json_option", "verbosity_options", "report_error", "emit_json"]

console = Console()
err_console = Console(stderr=True)

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")


def verbosity_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``-v/--verbose`` (tracebacks, details) and ``-q/--quiet`` (errors only)."""
    f = click.option("-q", "--quiet", is_flag=True, help="Print errors only.")(f)
    f = click.option("-v", "--verbose", count=True, help="More detail; -v shows tracebacks on errors.")(f)
    return f


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
