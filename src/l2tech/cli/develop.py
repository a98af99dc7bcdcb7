"""``l2 develop`` (RAW → finished image) and ``l2 correct`` (developed image → lens-corrected)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import click

from l2tech.cli.common import console, emit_json, err_console, report_error
from l2tech.cli.options import (
    CONTEXT_SETTINGS,
    camera_option,
    interpolation_option,
    json_option,
    lens_option,
    look_option,
    lut_option,
    max_memory_option,
    output_option,
    overwrite_option,
    profile_option,
    profile_source_option,
    projection_option,
    quality_option,
    shot_options,
    verbosity_options,
)

__all__ = ["develop", "correct"]

#: Output file extensions and the format each names.
_SUFFIX_FORMAT = {".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff", ".png": "png"}


def _lens_options(f: Callable[..., Any]) -> Callable[..., Any]:
    opts = [
        camera_option,
        lens_option,
        shot_options,
        profile_option,
        profile_source_option,
        projection_option,
        click.option("--no-lens-correction", is_flag=True, help="Skip every lens correction."),
        click.option("--only", metavar="LIST", help="Apply only these corrections: vignetting,tca,distortion."),
        click.option("--scale", type=float, help="Geometry scale (default: automatic, no empty border)."),
        interpolation_option(),
        click.option("--exposure", "exposure_ev", type=float, default=0.0, metavar="EV", help="Exposure compensation in stops."),
        look_option,
        lut_option,
        click.option("--lut-input", default="sRGB/Rec.709", show_default=True, metavar="ENC/GAMUT",
                     help="The LUT's input encoding and gamut, e.g. V-Log/V-Gamut."),
        click.option("--log-output", metavar="ENC[/GAMUT]", help="Write log-encoded data, e.g. V-Log (no ICC profile)."),
        max_memory_option,
        overwrite_option,
        json_option,
        verbosity_options,
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _recipe(fmt: str, **kw: Any):
    from l2tech.pipeline import CORRECTIONS, Recipe

    # option names -> Recipe fields
    kw["lens"], kw["profile"], kw["lut"] = kw.pop("lens_name"), kw.pop("profile_path"), kw.pop("lut_path")
    only = kw.pop("only", None)
    off = kw.pop("no_lens_correction")
    if off:
        clash = [f"--{n.replace('_', '-')}" for n in ("lens", "camera", "profile", "profile_source", "projection") if kw.get(n)]
        if only:
            clash.insert(0, "--only")
        if clash:
            raise click.UsageError(f"--no-lens-correction cannot be combined with {', '.join(clash)}")
    corrections = tuple(c.strip() for c in only.split(",") if c.strip()) if only else CORRECTIONS
    return Recipe(format=fmt, corrections=corrections, lens_correction=not off, **kw)


def _run_batch(inputs: tuple[str, ...], output: str | None, fmt: str | Callable[[str], str], job: Callable, *, overwrite: bool, as_json: bool,
               verbose: int, quiet: bool) -> int:
    from l2tech.errors import OutputExistsError
    from l2tech.io.atomic import check_distinct_outputs
    from l2tech.pipeline import output_path_for
    from l2tech.pipeline.batch import run_batch

    many = len(inputs) > 1
    if output is not None and many and (Path(output).is_file() or Path(output).suffix.lower() in _SUFFIX_FORMAT):
        raise click.UsageError(f"{output}: several inputs need an output folder, not a file name")
    outs = [output_path_for(i, output, fmt(i) if callable(fmt) else fmt, many=many) for i in inputs]
    for i, o in zip(inputs, outs):
        want = fmt(i) if callable(fmt) else fmt
        got = _SUFFIX_FORMAT.get(o.suffix.lower())
        if got is None or (not callable(fmt) and got != want):
            raise click.UsageError(
                f"{o}: the output name's extension does not match the {want.upper()} format; "
                f"name it {'/'.join(s for s, f in _SUFFIX_FORMAT.items() if f == want)}"
                + ("" if callable(fmt) else " or pass --format"))
    try:
        check_distinct_outputs(outs)
    except OutputExistsError as exc:
        report_error(exc, verbose)
        return 2
    if output is not None and (many or output.endswith(os.sep)) and not Path(output).exists():
        Path(output).mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    show_progress = many and not (quiet or as_json)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=err_console.get(), disable=not show_progress, transient=True)
    interrupted: KeyboardInterrupt | None = None
    try:
        with progress:
            task = progress.add_task("developing", total=len(inputs))
            progress.update(task, description=Path(inputs[0]).name)
            _collect(run_batch(inputs, outs, job, overwrite=overwrite), inputs, results, progress, task,
                     as_json=as_json, verbose=verbose, quiet=quiet)
    except KeyboardInterrupt as exc:  # SIGINT/SIGTERM: the file in progress left nothing behind
        interrupted = exc
    failed = sum(r["status"] == "failed" for r in results)
    if as_json:
        doc = {"results": results, "ok": sum(r["status"] == "ok" for r in results),
               "skipped": sum(r["status"] == "skipped" for r in results), "failed": failed}
        if interrupted is not None:
            doc.update(interrupted=True, not_done=[str(i) for i in inputs[len(results):]])
        emit_json(doc)
    elif not quiet:
        _print_summary(results)
    if interrupted is not None:
        from l2tech.cli.common import interrupt_exit_code

        err_console.print(f"[red]interrupted[/]: {len(inputs) - len(results)} of {len(inputs)} inputs not done; "
                          "run the same command again to finish them", highlight=False, soft_wrap=True)
        return interrupt_exit_code(interrupted)
    return 1 if failed else 0


def _collect(items: Any, inputs: tuple[str, ...], results: list[dict[str, Any]], progress: Any, task: Any, *,
             as_json: bool, verbose: int, quiet: bool) -> None:
    """Report each :class:`~l2tech.pipeline.batch.BatchItem` as it comes and append its JSON entry."""
    from l2tech.errors import L2Error

    for item in items:
        entry: dict[str, Any] = {"input": item.input, "output": str(item.output)}
        exc = item.error
        if item.status == "ok":
            entry.update(item.result.summary(), status="ok")
            if not (quiet or as_json):
                _print_result(item.result, verbose)
        elif item.status == "skipped":
            entry.update(status="skipped", error=str(exc))
            if not as_json:
                err_console.print(f"[yellow]skipped[/]: {exc}", highlight=False)
        else:
            unexpected = not isinstance(exc, L2Error)  # a bug: say it is unexpected
            entry.update(status="failed", error=(f"unexpected {type(exc).__name__}: {exc}" if unexpected else str(exc)),
                         error_type=type(exc).__name__)
            if not as_json:
                report_error(exc, verbose)
        results.append(entry)
        progress.advance(task)
        if len(results) < len(inputs):
            progress.update(task, description=Path(inputs[len(results)]).name)


def _print_result(res: Any, verbose: int) -> None:
    plan = res.plan
    lens = plan.lens or "no lens profile"
    parts = []
    for c in ("vignetting", "tca", "distortion"):
        mark = "[green]✓[/]" if plan.applied[c] else "[dim]✗[/]"
        parts.append(f"{mark} {c}")
    console.print(f"[bold]{Path(res.input).name}[/] → {res.output}", highlight=False)
    detail = f"  {plan.camera or 'unknown camera'} · {lens}"
    if plan.focal_length_mm:
        detail += f" · {plan.focal_length_mm:g} mm"
    if plan.f_number:
        detail += f" f/{plan.f_number:g}"
    console.print(detail + "  " + "  ".join(parts), highlight=False)
    for c in ("vignetting", "tca", "distortion"):
        if not plan.applied[c] and plan.reasons.get(c):
            console.print(f"  [dim]{c} not corrected: {plan.reasons[c]}[/]", highlight=False)
    for w in res.warnings:
        err_console.print(f"  [yellow]warning[/]: {w}", highlight=False)


def _print_summary(results: list[dict[str, Any]]) -> None:
    ok = sum(r["status"] == "ok" for r in results)
    skipped = sum(r["status"] == "skipped" for r in results)
    failed = sum(r["status"] == "failed" for r in results)
    color = "red" if failed else "green"
    console.print(f"[{color}]{ok} written[/], {skipped} skipped, {failed} failed", highlight=False)


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(readable=False))  # checked per file: E5
@output_option("file_or_dir")
@click.option("--format", "fmt", type=click.Choice(["jpeg", "tiff", "png"]), default="jpeg", show_default=True)
@quality_option(92)
@click.option("--bits", type=click.Choice(["8", "16"]), help="Bit depth for TIFF/PNG (default 16).")
@click.option("--output-space", type=click.Choice(["srgb", "display-p3", "rec2020", "adobe-rgb"]), default="srgb", show_default=True)
@click.option("--white-balance", type=click.Choice(["camera", "daylight", "auto"]), default="camera", show_default=True)
@_lens_options
def develop(inputs, output, fmt, quality, bits, output_space, white_balance, max_memory, overwrite, as_json, verbose, quiet,
            **lens_kw):
    """Develop RAW files into finished images, with automatic lens correction.

    The camera and lens are read from each file's metadata and looked up in the lensfun
    database; vignetting, lateral chromatic aberration and distortion are removed in
    scene-linear light, then the image is written with its ICC profile and EXIF.

    \b
    Examples:
      l2 develop IMG_0001.RW2 -o out/
      l2 develop *.CR2 -o out/ --format tiff --output-space display-p3
      l2 develop DSC_0042.NEF --lens "Nikon AF-S DX Zoom-Nikkor 18-70mm f/3.5-4.5G IF-ED" --json
    """
    from l2tech.errors import L2Error
    from l2tech.pipeline.batch import develop_batch_job
    from l2tech.pipeline.memory import budgeted_job

    try:
        recipe = _recipe(fmt, quality=quality, bits=int(bits) if bits else None, output_space=output_space,
                         white_balance=white_balance, **lens_kw)
    except L2Error as exc:
        raise click.UsageError(str(exc)) from None
    job = budgeted_job(develop_batch_job(recipe, overwrite=overwrite), recipe, kind="develop", budget=max_memory)
    return _run_batch(inputs, output, fmt, job,
                      overwrite=overwrite, as_json=as_json, verbose=verbose, quiet=quiet)


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(readable=False))  # checked per file: E5
@output_option("file_or_dir")
@quality_option(95)
@_lens_options
def correct(inputs, output, quality, max_memory, overwrite, as_json, verbose, quiet, **lens_kw):
    """Lens-correct developed JPEG, TIFF or PNG images.

    Each image is linearised with its transfer function (from its ICC profile; sRGB when it
    has none), corrected in linear light, and re-encoded in the same format, space and bit
    depth, with its ICC profile and EXIF kept.

    \b
    Examples:
      l2 correct P1010001.JPG -o corrected/
      l2 correct scan.tif --lens "Lumix S 20-60/F3.5-5.6" --focal-length 20 -o fixed.tif
    """
    from l2tech.errors import L2Error
    from l2tech.pipeline.batch import correct_batch_job
    from l2tech.pipeline.memory import budgeted_job

    try:
        recipe = _recipe("jpeg", quality=quality, **lens_kw)
    except L2Error as exc:
        raise click.UsageError(str(exc)) from None
    job = budgeted_job(correct_batch_job(recipe, overwrite=overwrite), recipe, kind="correct", budget=max_memory)

    # each output keeps its input's format (by extension here; the writer checks magic bytes)
    def fmt_of(i: str) -> str:
        return {".tif": "tiff", ".tiff": "tiff", ".png": "png"}.get(Path(i).suffix.lower(), "jpeg")

    return _run_batch(inputs, output, fmt_of, job, overwrite=overwrite, as_json=as_json, verbose=verbose, quiet=quiet)
