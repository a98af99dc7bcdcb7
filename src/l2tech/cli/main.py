"""The ``l2`` command: a thin shell over the public API (STYLE.md rule 6).

Each sub-command lives in its own module of :mod:`l2tech.cli` and is registered in
``_COMMANDS``; modules are imported lazily so ``l2 --help`` stays fast. A command module
imports only click and :mod:`l2tech.cli.options` at the top; everything heavy (numpy, OpenCV,
rawpy, numba, colour-science, rich) is imported inside the command function, so ``--help``
never loads it (``tests/test_cli_startup.py`` checks, ``benchmarks/bench_startup.py`` times).
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import click

from l2tech import __version__
from l2tech.cli.options import CONTEXT_SETTINGS, examples_last

# name -> (module, attribute, short help)
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "develop": ("l2tech.cli.develop", "develop", "RAW files to finished images, lens corrected."),
    "correct": ("l2tech.cli.develop", "correct", "Lens-correct developed JPEG/TIFF/PNG images."),
    "info": ("l2tech.cli.info", "info", "Show a file's camera, lens and exposure metadata."),
    "lens": ("l2tech.cli.lens", "lens", "Search, show and match lens profiles."),
    "demo": ("l2tech.cli.demo", "demo", "Render a test chart through a real lens and correct it."),
    "lut": ("l2tech.cli.lut", "lut", "Apply, convert, bake and show 3D LUTs."),
    "video": ("l2tech.cli.video", "video", "Lens correction and looks on video clips."),
    "calibrate": ("l2tech.cli.calibrate", "calibrate", "Checkerboards and flat fields to a lens profile."),
    "serve": ("l2tech.cli.serve", "serve", "Preview lens correction in your browser (local web app)."),
    "recipe": ("l2tech.cli.recipe", "recipe", "Show the effective recipe (TOML or JSON) of develop options."),
    "cluster": ("l2tech.cli.cluster", "cluster", "Start a local Dask cluster for batches (--cluster)."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(
            name for name, (mod, _, _) in _COMMANDS.items() if importlib.util.find_spec(mod) is not None
        )

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in _COMMANDS:
            return None
        module, attr, _ = _COMMANDS[name]
        if importlib.util.find_spec(module) is None:
            return None
        return examples_last(getattr(importlib.import_module(module), attr))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, prog_name="l2")
def cli() -> None:
    """l2tech: one engine for lens correction, RAW development, looks and video.

    \b
    Examples:
      l2 develop IMG_0001.RW2 -o out/
      l2 lens match IMG_0001.RW2
      l2 demo
    """


examples_last(cli)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (0 ok, 1 some inputs failed, 2 usage error,
    130 interrupted by SIGINT, 143 terminated by SIGTERM).

    With ``--json``, stdout always holds one JSON document: a command that fails before
    printing its own (a bad option, a recipe it cannot read, a file it cannot parse) gets
    :func:`l2tech.cli.common.error_document` — the error stays on stderr as one line too.
    """
    import logging

    # tifffile logs malformed-file details through logging; our typed errors already say what
    # went wrong, so keep its messages off the terminal (a library never configures logging;
    # the CLI, as the application, does).
    logging.getLogger("tifffile").setLevel(logging.CRITICAL)
    from l2tech.cli import common

    args = list(sys.argv[1:] if argv is None else argv)
    as_json = "--json" in (args[:args.index("--")] if "--" in args else args)
    common.reset_json_state()
    failure: BaseException | None = None
    try:
        # SIGTERM/SIGINT unwind (temp files removed, summary printed); warnings as one clean line
        with common.handle_signals(), common.route_warnings():
            rv = cli.main(args=args, prog_name="l2", standalone_mode=False)
        code = int(rv or 0)
    except click.exceptions.Abort as exc:
        failure = exc.__cause__ if isinstance(exc.__cause__, KeyboardInterrupt) else KeyboardInterrupt()
        code = common.interrupt_exit_code(failure)
        click.echo(_interrupted_line(code), err=True)
    except KeyboardInterrupt as exc:  # raised after click returned, or a command re-raised it
        failure, code = exc, common.interrupt_exit_code(exc)
        click.echo(_interrupted_line(code), err=True)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        failure, code = exc, (2 if isinstance(exc, click.UsageError) else exc.exit_code)
    if as_json and code != 0 and not common._JSON_STATE["emitted"]:
        common.emit_json(common.error_document(failure or common._JSON_STATE["error"], code))
    return code


def _interrupted_line(code: int) -> str:
    """What a command stopped by a signal says when it has no summary of its own (``lut bake``,
    ``calibrate``): as the batches' ``interrupted:`` line (it said Click's bare ``Aborted.``)."""
    how = "SIGTERM" if code == 143 else "Ctrl-C (SIGINT)" if code == 130 else f"signal {code - 128}"
    return f"interrupted: stopped by {how} before it finished; no partial output is left"


def run() -> None:  # pragma: no cover - exits the process
    """The ``l2`` console script: :func:`main`, then end the process without tearing the
    interpreter down.

    When :func:`main` returns, every output is written, renamed into place and closed. The
    teardown that would follow (finalising every module, numba's and LLVM's objects) takes
    about 0.25 s on the 2-core benchmark machine — a tenth of a 24 MP develop — and does
    nothing for the user. So the exit handlers run (``atexit``: multiprocessing's worker
    clean-up, logging), the standard streams are flushed, and the process exits with
    ``os._exit``. Library users calling :func:`main` are not affected.
    """
    code = main()
    import atexit
    import logging

    logging.shutdown()
    atexit._run_exitfuncs()  # CPython's public-in-practice runner of the atexit handlers
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken pipe: nothing more can be said
            pass
    os._exit(code)


if __name__ == "__main__":  # pragma: no cover
    run()
