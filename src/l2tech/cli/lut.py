"""``l2 lut``: apply, convert, bake and show LUT files (a thin shell over :mod:`l2tech.color`)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Callable

import click

from l2tech.cli.common import emit_json, err_console, error_document, file_warning, report_error
from l2tech.cli.options import (
    CONTEXT_SETTINGS,
    camera_limits_option,
    json_option,
    look_option,
    max_memory_option,
    output_option,
    overwrite_option,
    quality_option,
    verbosity_options,
)
from l2tech.errors import L2Error, UsageError

__all__ = ["lut"]


def _run(ctx: click.Context, verbose: int, quiet: bool, fn: Callable[[], Any], json_path: str | None = None,
         warnings_out: list[str] | None = None) -> Any:
    """Run ``fn``; print warnings and errors one per line; exit 1 (or 2 for usage errors) on error.

    With ``json_path`` (``--json``), an error is also printed on stdout as
    ``{"path", "error", "error_type"}``, as ``l2 info --json`` does (``path`` the file the
    error names — the input of a conversion whose table is bad — else ``json_path``); ``warnings_out`` collects
    the warnings' text (for the JSON document).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = fn()
        except L2Error as exc:
            report_error(exc, verbose)
            if json_path is not None:
                emit_json({**error_document(exc, exc.exit_code), "path": exc.path or json_path})
            ctx.exit(exc.exit_code)
        finally:
            if warnings_out is not None:
                warnings_out.extend(str(w.message) for w in caught)
            if not quiet:
                for w in caught:
                    err_console.print(f"[yellow]warning[/]: {w.message}", highlight=False, soft_wrap=True)
    return result


def _write_and_report(ctx: click.Context, verbose: int, quiet: bool, as_json: bool, write: Callable[[], Any],
                      path: str, line: Callable[[dict], str]) -> None:
    """Run ``write`` (it writes the LUT file ``path``), then report that file: its
    :func:`~l2tech.color.lut_io.describe_lut` as JSON, or ``line(info)``."""
    from l2tech.color.lut_io import describe_lut

    def work() -> dict:
        write()
        return describe_lut(path)

    warns: list[str] = []
    info = _run(ctx, verbose, quiet, work, json_path=path if as_json else None, warnings_out=warns)
    if as_json:
        emit_json({**info, "warnings": warns} if warns else info)
    elif not quiet:
        click.echo(line(info))


@click.group(context_settings=CONTEXT_SETTINGS)
def lut() -> None:
    """Apply, convert, bake and show 3D LUTs.

    \b
    Examples:
      l2 lut show look.cube
      l2 lut apply look.cube photo.tif -o out/
      l2 lut convert look.cube -o look.vlt --camera-limits lumix
      l2 lut bake --input V-Log/V-Gamut --look mono --output-space rec709 --size 33 -o mono.cube --camera-limits lumix
      l2 lut bake --input S-Log3 --tone filmic -o slog3_to_709.cube
    """


@lut.command("show", context_settings=CONTEXT_SETTINGS)
@click.argument("file", type=click.Path(dir_okay=False))
@json_option
@verbosity_options
@click.pass_context
def show(ctx: click.Context, file: str, as_json: bool, verbose: int, quiet: bool) -> None:
    """Show a LUT file's type, size, domain and value range.

    \b
    Examples:
      l2 lut show look.cube
      l2 lut show look.vlt --json
    """
    from l2tech.color.lut_io import describe_lut

    info = _run(ctx, verbose, quiet, lambda: describe_lut(file), json_path=file if as_json else None)
    if as_json:
        emit_json(info)
        return
    for key, value in info.items():
        click.echo(f"{key:>12}: {value}")


def _output_for(inp: Path, out: Path, many: bool) -> Path:
    if many or out.is_dir():
        return out / inp.name
    return out


@lut.command("apply", context_settings=CONTEXT_SETTINGS)
@click.argument("lut_file", metavar="LUT", type=click.Path(dir_okay=False))
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True, type=click.Path(dir_okay=False))
@output_option("file_or_existing_dir", required=True)
@click.option("--interpolation", default="tetrahedral", show_default=True, help="tetrahedral or trilinear.")
@click.option("--shaper", default=None, help="Encode inputs with this curve first (e.g. V-Log for linear TIFFs).")
@quality_option(95)
@overwrite_option
@json_option
@verbosity_options
@click.pass_context
def apply(ctx: click.Context, lut_file: str, inputs: tuple[str, ...], output: str, interpolation: str,
          shaper: str | None, quality: int, overwrite: bool, as_json: bool, verbose: int, quiet: bool) -> None:
    """Apply LUT to developed images (JPEG, PNG, TIFF); same format and bit depth out.

    --interpolation here is the LUT's (between its grid points), not an image resampling kernel.

    \b
    Examples:
      l2 lut apply look.cube photo.tif -o graded.tif
      l2 lut apply look.cube *.jpg -o out/ --interpolation trilinear
    """
    from l2tech.color import read_lut
    from l2tech.color.lut import INTERPOLATIONS
    from l2tech.io.atomic import check_distinct_outputs
    from l2tech.pipeline.lut_files import apply_lut_file, lut_skip_reason

    out = Path(output)
    many = len(inputs) > 1 or output.endswith(("/", os.sep))  # "-o out/" names a folder even for one input

    def prepare():
        INTERPOLATIONS.canonical(interpolation)
        if many and not out.is_dir():  # "-o out/" names a folder: made, as develop and correct do
            if out.exists():
                raise UsageError("with several inputs (or -o ending in /), -o must be a folder, not a file", out)
            if len(inputs) > 1 and out.suffix.lower() in (".jpg", ".jpeg", ".tif", ".tiff", ".png"):
                # an image file's name is not a folder to make (as develop, correct and video say)
                raise UsageError("several inputs need an output folder, not a file name", out)
            from l2tech.cli.common import make_output_folder

            make_output_folder(out)
        targets = [_output_for(Path(i), out, many) for i in inputs]
        check_distinct_outputs(targets)
        return read_lut(lut_file), targets

    table, targets = _run(ctx, verbose, quiet, prepare, json_path=lut_file if as_json else None)
    results, failed = [], 0
    try:
        for inp, target in zip(inputs, targets):
            try:
                skip = lut_skip_reason(inp, target, table, interpolation=interpolation, shaper=shaper, quality=quality,
                                       overwrite=overwrite)
            except OSError:
                skip = None  # an unreadable input is reported by the apply below
            if skip:
                results.append({"input": inp, "output": str(target), "ok": True, "skipped": skip})
                if not quiet and not as_json:
                    click.echo(f"{inp}: skipped: {skip}")
                continue

            def one(inp=inp, target=target):
                return str(apply_lut_file(inp, target, table, also_inputs=[lut_file], interpolation=interpolation,
                                          shaper=shaper, quality=quality, overwrite=overwrite))

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    results.append({"input": inp, "output": one(), "ok": True})
                    if not quiet and not as_json:
                        click.echo(f"{inp} -> {results[-1]['output']}")
                except L2Error as exc:
                    failed += 1
                    report_error(exc, verbose)
                    results.append({"input": inp, "error": str(exc), "ok": False})
                    if isinstance(exc, UsageError):
                        ctx.exit(2)
            # each warning names the input once (a decoder's own warning already starts with it)
            lines = [file_warning(inp, str(w.message)) for w in caught]
            if lines:
                results[-1]["warnings"] = lines
            if not quiet:
                for line in lines:
                    from rich.markup import escape  # a file named "a[b].png" is text, not markup

                    err_console.print(f"[yellow]warning[/]: {escape(line)}", highlight=False, soft_wrap=True)
    except KeyboardInterrupt as exc:  # SIGINT/SIGTERM: the file in progress left no temp file
        from l2tech.cli.common import interrupt_exit_code

        if as_json:  # what was finished, as without the interruption
            emit_json(results)
        err_console.print(f"[red]interrupted[/]: {len(inputs) - len(results)} of {len(inputs)} inputs not done "
                          "(nothing partial left)", highlight=False, soft_wrap=True)
        ctx.exit(interrupt_exit_code(exc))
    if as_json:
        emit_json(results)
    ctx.exit(1 if failed else 0)


def _limit(table: Any, camera: str | None, fmt: str) -> Any:
    from l2tech.color.bake import apply_camera_limits
    from l2tech.color.lut import LUT3D, LUTSequence

    if camera is None:
        return table
    if isinstance(table, LUTSequence) or not isinstance(table, LUT3D):
        raise UsageError(f"--camera-limits needs a single 3D LUT; this LUT is a {type(table).__name__}")
    return apply_camera_limits(table, camera, fmt)


@lut.command("convert", context_settings=CONTEXT_SETTINGS)
@click.argument("input_file", metavar="IN", type=click.Path(dir_okay=False))
@output_option("file", required=True)
@click.option("--format", "fmt", default=None, help="Output format (default from the extension): cube, 3dl, spi1d, spi3d, vlt.")
@click.option("--size", type=int, default=None, help="Resample a 3D LUT to this many points (2-256).")
@camera_limits_option
@max_memory_option
@overwrite_option
@json_option
@verbosity_options
@click.pass_context
def convert(ctx: click.Context, input_file: str, output: str, fmt: str | None, size: int | None, camera_limits: str | None,
            max_memory: int | None, overwrite: bool, as_json: bool, verbose: int, quiet: bool) -> None:
    """Convert a LUT between formats (.cube, .3dl, .spi1d, .spi3d, .vlt; CLF read-only).

    \b
    Examples:
      l2 lut convert look.cube -o look.vlt --camera-limits lumix
      l2 lut convert look.spi3d -o look.cube --size 33
    """
    from l2tech.color.lut_io import convert_lut, format_for_path
    from l2tech.io.atomic import check_output_path
    from l2tech.pipeline.memory import check_memory, estimate_lut

    def write():
        check_output_path(output, inputs=[input_file], overwrite=overwrite)
        if size is not None:
            check_memory(estimate_lut(output, size), max_memory)
        fmt_name = format_for_path(output, fmt).name
        convert_lut(input_file, output, format=fmt, size=size,
                    adjust=(lambda t: _limit(t, camera_limits, fmt_name)), overwrite=overwrite)

    _write_and_report(ctx, verbose, quiet, as_json, write, output,
                      lambda info: f"{input_file} -> {output} ({info['type']}, size {info['size']})")


def _bake_output(given: tuple[str, ...]) -> str:
    """The one output LUT file of ``lut bake`` among the ``-o/--output`` values given.

    ``--output`` was the output colour space in ``lut bake`` (now ``--output-space``); it is the
    output file now, as in every command. An old command line (``--output rec709 -o x.cube``)
    gives -o/--output twice, once a colour space with no LUT file extension: a usage error that
    says so, never one of the two values silently dropped. ``--out`` is the old spelling of ``-o``.
    """
    from l2tech.color.bake import parse_color_space
    from l2tech.color.lut_io import LUT_FORMATS

    def colour_space(value: str) -> bool:
        if Path(value).suffix.lower() in {e for f in LUT_FORMATS.values() for e in f.extensions}:
            return False
        try:
            parse_color_space(value)
        except L2Error:
            return False
        return True

    spaces = [v for v in given if colour_space(v)]
    if spaces:
        raise UsageError(f"-o/--output {spaces[0]!r} is a colour space, not a LUT file: -o/--output is the output "
                         "file, as in every command (old `lut bake` command lines gave the output colour space "
                         f"as --output); give it as --output-space {spaces[0]}")
    if not given:
        raise UsageError("missing -o/--output FILE (the output LUT file)")
    if len(given) > 1:
        raise UsageError(f"-o/--output given {len(given)} times ({', '.join(given)}): give one output LUT file")
    return given[0]


@lut.command("bake", context_settings=CONTEXT_SETTINGS)
@click.option("--input", "input_space", default="V-Log/V-Gamut", show_default=True, help="Input ENCODING/GAMUT the LUT expects.")
@look_option
@click.option("--output-space", "output_space", default="Rec.709", show_default=True, metavar="ENC[/GAMUT]",
              help="Output encoding and gamut of the LUT's values, e.g. rec709.")
@click.option("--size", default=33, show_default=True, type=int, help="Grid points per axis (2-256).")
@click.option("-o", "--output", "out_file", multiple=True, type=click.Path(dir_okay=False), metavar="FILE",
              help="Output LUT file (.cube, .3dl, .spi1d, .spi3d, .vlt); the output colour space is --output-space.")
@click.option("--out", "old_out", multiple=True, hidden=True, type=click.Path(dir_okay=False))  # old spelling of -o
@camera_limits_option
@click.option("--title", default="", help="LUT title.")
@click.option("--tone", type=click.Choice(["none", "filmic"]), default="none", show_default=True,
              help="Tone curve from a log/linear input to a display output: filmic rolls highlights off up to the "
                   "log curve's top code instead of clipping at scene-linear 1.0.")
@click.option("--list-looks", is_flag=True, help="List available looks and exit.")
@max_memory_option
@overwrite_option
@json_option
@verbosity_options
@click.pass_context
def bake(ctx: click.Context, input_space: str, look: str | None, output_space: str, size: int, out_file: tuple[str, ...],
         old_out: tuple[str, ...], camera_limits: str | None, title: str, tone: str, list_looks: bool,
         max_memory: int | None, overwrite: bool, as_json: bool, verbose: int, quiet: bool) -> None:
    """Bake input decoding + a look + output encoding into a 3D LUT a camera or editor accepts.

    \b
    Examples:
      l2 lut bake --input V-Log/V-Gamut --look mono --output-space rec709 --size 33 -o mono.cube --camera-limits lumix
      l2 lut bake --input S-Log3 --tone filmic -o slog3_to_709.cube
      l2 lut bake --list-looks
    """
    from l2tech.color import bake_lut, write_lut
    from l2tech.color import list_looks as _list
    from l2tech.color.lut_io import format_for_path
    from l2tech.io.atomic import check_output_path
    from l2tech.pipeline.memory import check_memory, estimate_lut

    if list_looks:
        names = _run(ctx, verbose, quiet, _list)
        emit_json(names) if as_json else [click.echo(f"{k:<14} {v}") for k, v in names.items()]
        return
    if old_out:
        click.echo("warning: --out is deprecated; use -o/--output", err=True)
    try:
        out_file = _bake_output(out_file + old_out)
    except UsageError as exc:
        report_error(exc, verbose)
        ctx.exit(2)

    def write():
        check_output_path(out_file, overwrite=overwrite)
        check_memory(estimate_lut(out_file, size, kind="lut_bake"), max_memory)
        fmt_name = format_for_path(out_file).name
        table = bake_lut(look, input=input_space, output=output_space, size=size, title=title, tone=tone)
        write_lut(_limit(table, camera_limits, fmt_name), out_file, overwrite=overwrite)

    _write_and_report(ctx, verbose, quiet, as_json, write, out_file,
                      lambda info: f"wrote {out_file} ({info['size']}-point {info['type']})")
