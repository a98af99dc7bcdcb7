"""``l2 develop`` (RAW → finished image) and ``l2 correct`` (developed image → lens-corrected)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import click

from l2tech.cli.common import (batch_summary, console, emit_json, err_console, escape, file_warning, format_f_number,
                               report_error)
from l2tech.cli.options import (
    CONTEXT_SETTINGS,
    batch_options,
    camera_option,
    interpolation_option,
    json_option,
    lens_option,
    look_option,
    lut_option,
    max_decode_errors_option,
    output_option,
    overwrite_option,
    profile_option,
    profile_source_option,
    projection_option,
    quality_option,
    recipe_option,
    shot_options,
    tone_options,
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
        click.option("--force", is_flag=True,
                     help="Correct even what the file says is already corrected (in the camera, by a RAW converter, "
                          "or an earlier l2tech output)."),
        click.option("--only", metavar="LIST", help="Apply only these corrections: vignetting,tca,distortion."),
        click.option("--scale", type=float, help="Geometry scale (default: automatic, no empty border)."),
        click.option("--distortion", "distortion_k1", type=float, metavar="K1",
                     help="Manual distortion for a lens with no profile: lensfun poly3 k1 (negative: barrel)."),
        click.option("--auto-tca", is_flag=True, help="Estimate lateral chromatic aberration from the image and correct it."),
        click.option("--rotate", "rotate_deg", type=float, default=0.0, metavar="DEG",
                     help="Straighten: turn the picture by DEG degrees, counter-clockwise (crops to the original aspect)."),
        click.option("--crop", metavar="W:H", help="Crop to an aspect: 3:2, 4:3, 16:9, 1:1, 4:5, original."),
        click.option("--keystone", metavar="X,Y,...", help="Perspective control points (4, 6 or 8 x,y pairs, "
                     "lensfun's order; pixels of the stored image): their lines become vertical/horizontal."),
        click.option("--vignetting-strength", "vignetting_strength", type=click.FloatRange(0.0, 2.0), default=1.0,
                     show_default=True, metavar="S",
                     help="Fraction of the vignetting correction, in stops (0 none, 1 the profile's)."),
        interpolation_option(),
        click.option("--exposure", "exposure_ev", type=float, default=0.0, metavar="EV", help="Exposure compensation in stops."),
        look_option,
        lut_option,
        click.option("--lut-input", default="sRGB/Rec.709", show_default=True, metavar="ENC/GAMUT",
                     help="The LUT's input encoding and gamut, e.g. V-Log/V-Gamut."),
        click.option("--log-output", metavar="ENC[/GAMUT]", help="Write log-encoded data, e.g. V-Log (no ICC profile)."),
        overwrite_option,
        json_option,
        verbosity_options,
    ]
    for o in reversed(opts):
        f = o(f)
    return f


#: Command-line parameters whose Recipe field has another name.
_PARAM_FIELD = {"fmt": "format", "lens_name": "lens", "profile_path": "profile", "lut_path": "lut",
                "only": "corrections", "no_lens_correction": "lens_correction"}


def _sidecar_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--from-sidecar`` and ``--import-sidecars`` (develop and correct)."""
    f = click.option("--import-sidecars", is_flag=True,
                     help="Take what maps from each input's darktable or RawTherapee sidecar (IMG.RW2.xmp, IMG.RW2.pp3) "
                          "beside it; the options given still win.")(f)
    return click.option("--from-sidecar", "from_sidecar", type=click.Path(dir_okay=False), metavar="FILE",
                        help="Make an output again from its NAME.EXT.l2.toml sidecar (same input, recipe and output name).")(f)


def develop_output_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """The output and tone options of ``l2 develop`` (also ``l2 recipe show``)."""
    opts = [
        click.option("--format", "fmt", type=click.Choice(["jpeg", "tiff", "png"]), default="jpeg", show_default=True),
        quality_option(92),
        click.option("--bits", type=click.Choice(["8", "16"]), help="Bit depth for TIFF/PNG (default 16)."),
        click.option("--output-space", type=click.Choice(["srgb", "display-p3", "rec2020", "adobe-rgb"]), default="srgb",
                     show_default=True),
        click.option("--white-balance", type=click.Choice(["camera", "daylight", "auto"]), default="camera",
                     show_default=True),
        tone_options,
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _recipe_fields(**kw: Any) -> dict[str, Any]:
    """Command-line parameters → Recipe fields (``--only``, ``--no-lens-correction`` translated)."""
    from l2tech.pipeline import CORRECTIONS

    kw["lens"], kw["profile"], kw["lut"] = kw.pop("lens_name"), kw.pop("profile_path"), kw.pop("lut_path")
    kw["format"] = kw.pop("fmt")
    if kw.get("bits") is not None:
        kw["bits"] = int(kw["bits"])
    ks = kw.pop("keystone", None)
    if ks:
        try:
            kw["keystone"] = tuple(float(v) for v in str(ks).split(","))
        except ValueError:
            raise click.UsageError(f"--keystone takes comma-separated numbers, got {ks!r}") from None
    only = kw.pop("only", None)
    off = kw.pop("no_lens_correction")
    if off:
        clash = [f"--{n.replace('_', '-')}" for n in ("lens", "camera", "profile", "profile_source", "projection") if kw.get(n)]
        if only:
            clash.insert(0, "--only")
        if clash:
            raise click.UsageError(f"--no-lens-correction cannot be combined with {', '.join(clash)}")
    kw["corrections"] = tuple(c.strip() for c in only.split(",") if c.strip()) if only else CORRECTIONS
    kw["lens_correction"] = not off
    return kw


def _given(ctx: click.Context, name: str, value: Any) -> bool:
    """True when the user gave parameter ``name`` (on the command line, by environment, or by an alias)."""
    from click.core import ParameterSource

    source = ctx.get_parameter_source(name)
    if source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT, ParameterSource.PROMPT):
        return True
    param = next((p for p in ctx.command.params if p.name == name), None)
    if param is None:
        return False
    default = param.get_default(ctx)
    if default is None or type(default).__name__ == "Sentinel":  # click >= 8.2 marks "no default" with a sentinel
        default = False if getattr(param, "is_flag", False) else None
    return value != default  # an old spelling (deprecated_alias) sets the value without a source


def effective_recipe(ctx: click.Context, params: dict[str, Any], *, recipe_path: str | None = None, base: Any = None,
                     report: list[str] | None = None):
    """The run's Recipe: the command's defaults, then the recipe file (or ``base``), then the options given.

    ``recipe_path`` is a TOML recipe (or an l2tech sidecar), or a darktable ``.xmp`` /
    RawTherapee ``.pp3`` sidecar, of which what maps is taken; what was taken and what was
    ignored is appended to ``report`` (printed as warnings on stderr when ``report`` is None).

    Raises
    ------
    click.UsageError
        An invalid option value; a bad recipe file raises :class:`~l2tech.errors.RecipeError`.
    """
    import dataclasses

    from l2tech.errors import L2Error, RecipeError
    from l2tech.pipeline import Recipe

    fields = _recipe_fields(**params)
    given = {_PARAM_FIELD.get(n, n) for n, v in params.items() if _given(ctx, n, v)}
    try:
        if recipe_path is None and base is None:
            return Recipe(**fields)
        defaults = Recipe(**{k: v for k, v in fields.items() if k not in given})
        if base is None and Path(recipe_path).suffix.lower() in (".xmp", ".pp3"):
            from l2tech.pipeline.recipe_import import read_foreign_sidecar

            imported = read_foreign_sidecar(recipe_path, base=defaults)
            base = imported.recipe
            lines = [f"{recipe_path}: took {m}" for m in imported.mapped]
            lines += [f"{recipe_path}: ignored {i}" for i in imported.ignored]
            if report is not None:
                report.extend(lines)
            else:
                for line in lines:
                    err_console.print(f"[yellow]note[/]: {line}", highlight=False, soft_wrap=True)
        elif base is None:
            from l2tech.pipeline.recipe_file import read_recipe_file

            base = read_recipe_file(recipe_path, base=defaults)
        return dataclasses.replace(base, **{k: fields[k] for k in given})
    except RecipeError:
        raise
    except L2Error as exc:
        if recipe_path is not None and exc.path is not None and Path(exc.path) == Path(recipe_path):
            raise as_recipe_error(exc) from None  # missing, a pipe, unreadable: one line, as bad TOML is
        raise click.UsageError(_say_option(ctx, str(exc))) from None


def _say_option(ctx: click.Context, message: str) -> str:
    """``focal_length_mm must be at most 10000`` as ``--focal-length must be at most 10000``: a
    :class:`Recipe` field that starts a message, named as the option that set it."""
    field, _, rest = message.partition(" ")
    by_field = {_PARAM_FIELD.get(p.name, p.name): p for p in ctx.command.params if p.name and getattr(p, "opts", None)}
    opt = by_field.get(field.rstrip(":"))
    if opt is None or not rest:
        return message
    long = next((o for o in opt.opts if o.startswith("--")), opt.opts[0])
    return f"{long}{':' if field.endswith(':') else ''} {rest}"


def check_side_files(ctx: click.Context, params: dict[str, Any], recipe: Any, recipe_path: str | None) -> None:
    """Read the look, LUT and profile files of the run once, before any input
    (:func:`l2tech.pipeline.recipe.check_recipe_files`); an error names the recipe file when
    the setting came from it (not from an option).

    Raises
    ------
    L2Error
        A file that cannot be used; the command reports it once and exits with the error's
        code (1 for a LUT or profile it cannot use, 2 for a missing look file), running no input.
    """
    from l2tech.pipeline.recipe import check_recipe_files

    origin = {} if recipe_path is None else {
        field: f"recipe {recipe_path}" for field, name in (("look", "look"), ("lut", "lut_path"), ("profile", "profile_path"))
        if not _given(ctx, name, params.get(name))}
    check_recipe_files(recipe, origin=origin)
    if recipe.lut is None and _given(ctx, "lut_input", params.get("lut_input")):
        err_console.print("[yellow]warning[/]: --lut-input applies to the LUT of --lut; there is none, so it is ignored",
                          highlight=False, soft_wrap=True)


def as_recipe_error(exc: Any) -> Any:
    """An error reading the ``--recipe`` file (missing, a folder or pipe, unreadable, too large)
    as a :class:`~l2tech.errors.RecipeError` (exit 2, one line naming the file), as every
    command reports a recipe file it cannot use before touching an input."""
    from l2tech.errors import RecipeError

    return exc if isinstance(exc, RecipeError) else RecipeError(exc.reason, path=exc.path, line=exc.line)


def _run_batch(inputs: tuple[str, ...], output: str | None, fmt: str | Callable[[str], str], command: str, recipe: Any, *,
               overwrite: bool, as_json: bool, verbose: int, quiet: bool, jobs: int | None = None,
               max_memory: str | None = None, cluster: str | None = None, redo: bool = False,
               sidecars: bool = True, expect_lens: str | None = None, recipes: dict[str, Any] | None = None,
               max_decode_errors: int = 0) -> int:
    import contextlib
    import time

    from l2tech.cli.common import batch_start_exit_code
    from l2tech.errors import L2Error, OutputExistsError
    from l2tech.io.atomic import output_clashes
    from l2tech.pipeline import output_path_for
    from l2tech.pipeline.batch import BatchTask, run_tasks
    from l2tech.pipeline.memory import parse_size

    many = len(inputs) > 1
    if output is not None and many and (os.path.isfile(output) or Path(output).suffix.lower() in _SUFFIX_FORMAT):
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
        budget = parse_size(max_memory) if max_memory else None
    except L2Error as exc:
        raise click.UsageError(str(exc)) from None
    # two inputs that would write one output: both reported now, before any work; the rest runs
    clashing: dict[int, str] = {}
    for group in output_clashes(outs):
        names = ", ".join(str(inputs[k]) for k in group[:-1]) + f" and {inputs[group[-1]]}"
        both = "both" if len(group) == 2 else f"all {len(group)}"
        for k in group:
            clashing[k] = f"{names} would {both} write this one output; rename one or run them separately"
    clash_results: list[dict[str, Any]] = []
    said: set[str] = set()
    for k, why in clashing.items():
        exc = OutputExistsError(why, path=outs[k])
        clash_results.append({"input": inputs[k], "output": str(outs[k]), "status": "failed", "error": str(exc),
                              "error_type": type(exc).__name__})
        if not as_json and str(exc) not in said:  # one line per clash: it names every input in it
            said.add(str(exc))
            report_error(exc, verbose)
    if clashing:
        keep = [k for k in range(len(inputs)) if k not in clashing]
        inputs, outs = tuple(inputs[k] for k in keep), [outs[k] for k in keep]
        if not inputs:
            if as_json:
                emit_json({"results": clash_results, **batch_summary(clash_results, 0.0)})
            return 1
    to_folder = output is not None and (many or output.endswith(os.sep) or os.path.isdir(output))
    made_folder = False
    if output is not None and (many or output.endswith(os.sep)) and not os.path.exists(output):
        from l2tech.cli.common import make_output_folder

        try:
            make_output_folder(output)
        except L2Error as exc:
            report_error(exc, verbose)
            if as_json:
                emit_json({"results": clash_results, "error": str(exc), "error_type": type(exc).__name__})
            return exc.exit_code
        made_folder = True
    recipes = recipes or {}
    tasks = [BatchTask(command, os.path.abspath(i), str(o), recipes.get(i, recipe), fmt(i) if callable(fmt) else fmt,
                       max_decode_errors=max_decode_errors) for i, o in zip(inputs, outs)]
    results: list[dict[str, Any]] = []
    # on a terminal only: written to a pipe or a file, rich draws no bar and leaves a blank line
    show_progress = many and not (quiet or as_json) and err_console.get().is_terminal
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                        TextColumn("ETA"), TimeRemainingColumn(), console=err_console.get(), disable=not show_progress,
                        transient=True)
    interrupted: KeyboardInterrupt | None = None
    t0 = time.perf_counter()
    if jobs is None:  # default: the cores; a batch of one or two files stays in this process (no worker start-up)
        jobs = (os.cpu_count() or 1) if len(tasks) > 2 else 1
    started: dict[str, Any] = {"mode": None, "workers": 0, "to_do": 0}
    items = run_tasks(tasks, jobs=jobs, overwrite=overwrite, redo=redo, journal=to_folder,
                      sidecars=sidecars, cluster=cluster or None, max_memory=budget, on_start=started.update)
    try:
        with progress:
            task = progress.add_task(command, total=len(inputs))
            _collect(items, results, progress, task, as_json=as_json, verbose=verbose, quiet=quiet,
                     spelled={t.input: i for i, t in zip(inputs, tasks)})
    except KeyboardInterrupt as exc:  # SIGINT/SIGTERM: the files in progress left nothing behind
        interrupted = exc
        items.close()  # stops the workers, removes their temp files
    except L2Error as exc:  # the batch could not start (no Dask scheduler answers, a bad journal, a missing dependency)
        report_error(exc, verbose)
        if made_folder:  # the folder this run made stays empty: not left behind
            with contextlib.suppress(OSError):
                os.rmdir(output)
        return batch_start_exit_code(exc)
    elapsed = time.perf_counter() - t0
    if made_folder:  # a folder this run made and nothing went into (every input failed): not left behind
        with contextlib.suppress(OSError):
            os.rmdir(output)
    finished = {r["input"] for r in results}
    not_done = [str(i) for i in inputs if i not in finished]
    results = clash_results + results
    summary = {**batch_summary(results, elapsed), "workers": started}
    for r in results:  # --from-sidecar: the lens database may now choose another profile
        chosen = (r.get("lens") or {}).get("lens") or ""
        if expect_lens is not None and r["status"] == "ok" and chosen != expect_lens:
            err_console.print(f"[yellow]warning[/]: the sidecar records the lens {expect_lens or 'none'!r}, this run chose "
                              f"{chosen or 'none'!r}: the output differs", highlight=False, soft_wrap=True)
    if as_json:
        doc = {"results": results, **summary}
        if interrupted is not None:
            doc.update(interrupted=True, not_done=not_done)
        emit_json(doc)
    elif not quiet:
        _print_summary(summary)
    if interrupted is not None:
        from l2tech.cli.common import interrupt_exit_code

        err_console.print(f"[red]interrupted[/]: {len(not_done)} of {len(inputs) + len(clash_results)} inputs not done; "
                          "run the same command again to finish them", highlight=False, soft_wrap=True)
        return interrupt_exit_code(interrupted)
    return 1 if summary["failed"] else 0


def _collect(items: Any, results: list[dict[str, Any]], progress: Any, task: Any, *,
             as_json: bool, verbose: int, quiet: bool, spelled: dict[str, str]) -> None:
    """Report each :class:`~l2tech.pipeline.batch.BatchItem` as it comes and append its JSON entry
    (inputs named as the user spelled them: ``spelled`` maps the absolute paths back)."""
    from l2tech.errors import L2Error

    for item in items:
        entry: dict[str, Any] = {"input": spelled.get(item.input, item.input), "output": str(item.output)}
        exc = item.error
        if item.status == "ok":
            entry.update(item.result, status="ok", input=entry["input"])
            if not (quiet or as_json):
                _print_result(item.result, verbose, progress)
        elif item.status == "skipped":
            entry.update(status="skipped", error=str(exc), reason=getattr(exc, "reason", str(exc)))
            if not as_json:
                err_console.print(f"[yellow]skipped[/]: {escape(str(exc))}", highlight=False)
        else:
            unexpected = not isinstance(exc, L2Error)  # a bug: say it is unexpected
            entry.update(status="failed", error=(f"unexpected {type(exc).__name__}: {exc}" if unexpected else str(exc)),
                         error_type=type(exc).__name__)
            if not as_json:
                report_error(exc, verbose)
        results.append(entry)
        progress.advance(task)
        progress.update(task, description=Path(item.input).name)


def _print_result(res: dict[str, Any], verbose: int, progress: Any = None) -> None:
    plan = res.get("lens") or {}
    lens = plan.get("lens") or "no lens profile"
    parts = []
    corr = plan.get("corrections", {})
    for c in ("vignetting", "tca", "distortion"):
        mark = "[green]✓[/]" if corr.get(c, {}).get("applied") else "[dim]✗[/]"
        parts.append(f"{mark} {c}")
    console.print(f"[bold]{escape(Path(res['input']).name)}[/] → {escape(str(res['output']))}", highlight=False)
    detail = escape(f"  {plan.get('camera') or 'unknown camera'} · {lens}")
    if plan.get("focal_length_mm"):
        detail += f" · {plan['focal_length_mm']:g} mm"
    if plan.get("f_number"):
        detail += f" {format_f_number(plan['f_number'])}"
    console.print(detail + "  " + "  ".join(parts), highlight=False)
    # each reason once: corrections skipped for the same reason share one line
    by_reason: dict[str, list[str]] = {}
    for c in ("vignetting", "tca", "distortion"):
        if not corr.get(c, {}).get("applied") and corr.get(c, {}).get("reason"):
            by_reason.setdefault(corr[c]["reason"], []).append(c)
    for reason, cs in by_reason.items():
        console.print(f"  [dim]{', '.join(cs)} not corrected: {escape(reason)}[/]", highlight=False)
    seen: set[str] = set(by_reason)
    for w in res.get("warnings", ()):
        if any(r in w for r in seen):  # "lens correction skipped: <the reason above>"
            continue
        seen.add(w)
        # one line naming the file, as every warning (RELIABILITY.md: `warning: FILE: message`);
        # a warning that already starts with the file's path is not prefixed again
        name = Path(res["input"]).name
        text = file_warning(name, w, res["input"])
        err_console.print(f"[yellow]warning[/]: {escape(text)}", highlight=False)


def _print_summary(summary: dict[str, Any]) -> None:
    color = "red" if summary["failed"] else "green"
    rate = f", {summary['files_per_s']:.2f} files/s" if summary["ok"] and summary["files_per_s"] else ""
    console.print(f"[{color}]{summary['ok']} written[/], {summary['skipped']} skipped, {summary['failed']} failed "
                  f"in {summary['elapsed_s']:.1f} s{rate}", highlight=False)
    for why, n in summary["skipped_reasons"].items():
        console.print(f"  [yellow]skipped[/] {n}: {escape(why)}", highlight=False)
    failed = list(summary["failed_inputs"].items())
    names = [Path(inp).name for inp, _ in failed]
    for inp, err in failed[:10]:
        # the file's name, or its path where two failed inputs share a name (a/x.jpg, b/x.jpg)
        shown = Path(inp).name if names.count(Path(inp).name) == 1 else inp
        console.print(f"  [red]failed[/] {escape(shown)}: {escape(err)}", highlight=False)
    if len(failed) > 10:
        console.print(f"  … and {len(failed) - 10} more failed (--json lists them all)", highlight=False)


def _from_sidecar(path: str, output: str | None) -> tuple[Any, str, str]:
    """Read a sidecar for ``--from-sidecar``: (sidecar, input, output); the input must be unchanged."""
    from l2tech.errors import InputNotFoundError, UsageError
    from l2tech.pipeline.sidecar import file_sha256, read_sidecar

    sc = read_sidecar(path)
    if sc.command == "video":
        raise UsageError(f"a sidecar of `l2 video`: make the clip again with "
                         f"`l2 video {sc.input_path} --recipe {path} -o {sc.output}`", path=path)
    if not Path(sc.input_path).is_file():
        raise InputNotFoundError("the input named in the sidecar is not there (moved? mount the same path)",
                                 path=sc.input_path)
    if sc.input_sha256 and file_sha256(sc.input_path) != sc.input_sha256:
        raise UsageError(f"the input {sc.input_path} changed since the sidecar was written (its SHA-256 differs); "
                         "the output cannot be made again from it", path=sc.path)
    return sc, sc.input_path, output if output is not None else str(sc.output)


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("inputs", nargs=-1, type=click.Path(readable=False))  # checked per file: E5
@output_option("file_or_dir")
@recipe_option
@_sidecar_options
@develop_output_options
@_lens_options
@batch_options
def develop(inputs, output, recipe_path, from_sidecar, import_sidecars, overwrite, as_json, verbose, quiet, jobs, max_memory, cluster, redo,
            no_sidecar, **params):
    """Develop RAW files into finished images, with automatic lens correction.

    The camera and lens are read from each file's metadata and looked up in the lensfun
    database; vignetting, lateral chromatic aberration and distortion are removed in
    scene-linear light, then the image is written with its ICC profile and EXIF, and a
    NAME.EXT.l2.toml sidecar beside it. A batch runs in parallel, keeps a journal in the
    output folder and, run again, does only what is missing (docs/BATCH.md).

    \b
    Examples:
      l2 develop IMG_0001.RW2 -o out/
      l2 develop *.CR2 -o out/ --format tiff --output-space display-p3
      l2 develop --recipe wedding.toml *.RW2 -o out/ --exposure 0.3
      l2 develop --from-sidecar out/IMG_0001.jpg.l2.toml --redo
      l2 develop *.RW2 -o out/ --cluster tcp://render1:8786
    """
    return _stills_command("develop", inputs, output, recipe_path, from_sidecar, params, import_sidecars, overwrite=overwrite,
                           as_json=as_json, verbose=verbose, quiet=quiet, jobs=jobs, max_memory=max_memory,
                           cluster=cluster, redo=redo, sidecars=not no_sidecar)


def _foreign_sidecar_of(inp: str) -> Path | None:
    """The darktable or RawTherapee sidecar beside an input (``IMG_1.RW2.xmp``, ``IMG_1.RW2.pp3``, ``IMG_1.xmp``)."""
    p = Path(inp)
    for cand in (p.with_name(p.name + ".xmp"), p.with_name(p.name + ".pp3"), p.with_suffix(".xmp"), p.with_suffix(".pp3")):
        if cand.is_file():
            return cand
        if cand.exists() and not cand.is_dir():  # a pipe or device: said, not read (it would wait), not silent
            err_console.print(f"[yellow]warning[/]: {escape(str(cand))}: not a regular file (a pipe, device or socket); "
                              "sidecar ignored", highlight=False, soft_wrap=True)
    return None


def _per_input_recipes(ctx: click.Context, inputs: tuple[str, ...], recipe: Any, params: dict[str, Any],
                       verbose: int) -> dict[str, Any]:
    """``--import-sidecars``: each input's darktable/RawTherapee sidecar over the recipe, the options given over both."""
    import dataclasses

    from l2tech.pipeline.recipe_import import read_foreign_sidecar

    fields = _recipe_fields(**params)
    given = {_PARAM_FIELD.get(n, n) for n, v in params.items() if _given(ctx, n, v)}
    out: dict[str, Any] = {}
    for i in inputs:
        sc = _foreign_sidecar_of(i)
        if sc is None:
            continue
        imp = read_foreign_sidecar(sc, base=recipe)
        out[i] = dataclasses.replace(imp.recipe, **{k: fields[k] for k in given})
        if verbose:
            for line in [f"took {m}" for m in imp.mapped] + [f"ignored {x}" for x in imp.ignored]:
                err_console.print(f"[yellow]note[/]: {sc}: {line}", highlight=False, soft_wrap=True)
    if out:
        err_console.print(f"settings taken from {len(out)} darktable/RawTherapee sidecar(s) of {len(inputs)} inputs"
                          + ("" if verbose else " (-v lists what was taken and ignored)"), highlight=False, soft_wrap=True)
    return out


def _start_decode(path: str, recipe: Any, max_memory: str | None) -> None:
    """Start LibRaw on the one RAW of this run now, while the batch is set up (output checks,
    journal, progress) and the lens is planned — unless its estimated peak exceeds the memory
    budget: a file the budget refuses is never decoded (the batch then reports the refusal)."""
    from l2tech.errors import L2Error
    from l2tech.pipeline.memory import check_memory, default_budget, estimate_still, parse_size
    from l2tech.pipeline.stills import prefetch

    if not os.path.isfile(path):  # a pipe or device (LibRaw would wait on a pipe): the input check refuses it
        return
    try:
        check_memory(estimate_still(path, recipe, kind="develop"), parse_size(max_memory) if max_memory else default_budget())
    except L2Error:
        return
    prefetch(os.path.abspath(path), recipe)


def _stills_command(command: str, inputs: tuple[str, ...], output: str | None, recipe_path: str | None,
                    from_sidecar: str | None, params: dict[str, Any], import_sidecars: bool = False, **run_kw: Any) -> int:
    ctx = click.get_current_context()
    from l2tech.errors import InputNotFoundError, L2Error

    try:
        base = None
        if from_sidecar:
            if inputs or recipe_path:
                raise click.UsageError("--from-sidecar names the input and the recipe; give no inputs and no --recipe")
            sc, inp, output = _from_sidecar(from_sidecar, output)
            inputs, base, command = (inp,), sc.recipe, sc.command
            from l2tech import __version__

            if sc.version and sc.version != __version__:
                err_console.print(f"[yellow]warning[/]: {from_sidecar}: made by l2tech {sc.version}, this is {__version__}; "
                                  "the output may differ", highlight=False, soft_wrap=True)
            run_kw["expect_lens"] = sc.lens.get("lens") or ""
        elif not inputs:
            raise click.UsageError("give the input files (or --from-sidecar FILE)")
        recipe = effective_recipe(ctx, params, recipe_path=recipe_path, base=base)
        if import_sidecars and not from_sidecar:
            run_kw["recipes"] = _per_input_recipes(ctx, inputs, recipe, params, run_kw["verbose"])
    except L2Error as exc:
        report_error(exc, run_kw["verbose"])
        # the sidecar's input gone is a missing input (exit 1, as when it is named directly);
        # everything else here is about the arguments
        return exc.exit_code if isinstance(exc, InputNotFoundError) else 2
    try:
        check_side_files(ctx, params, recipe, recipe_path or from_sidecar)
    except L2Error as exc:  # once, before any input; the exit code of the error's type
        report_error(exc, run_kw["verbose"])
        return exc.exit_code
    # the same file named twice (overlapping globs: *.DNG IMG_1*) is one input
    seen: dict[str, str] = {}
    for i in inputs:
        seen.setdefault(os.path.realpath(i), i)
    inputs = tuple(seen.values())
    if command == "develop":
        suffix_fmt = _SUFFIX_FORMAT.get(Path(output).suffix.lower()) if output and len(inputs) == 1 else None
        if (suffix_fmt and suffix_fmt != recipe.format and recipe.format == "jpeg"
                and not _given(ctx, "fmt", params.get("fmt"))):
            import dataclasses  # `-o x.png` without --format: the name says PNG

            recipe = dataclasses.replace(recipe, format=suffix_fmt)
        if len(inputs) == 1 and not run_kw.get("cluster") and not run_kw.get("recipes"):
            _start_decode(inputs[0], recipe, run_kw.get("max_memory"))
        return _run_batch(inputs, output, recipe.format, "develop", recipe, **run_kw)

    # correct: each output keeps its input's format (by extension here; the writer checks magic bytes),
    # except that one output file whose name says a format (`-o x.png`) is written in that format,
    # as `develop` does (output_path_for: a file, not a folder, for one input)
    named_fmt = (_SUFFIX_FORMAT.get(Path(output).suffix.lower())
                 if output and len(inputs) == 1 and not os.path.isdir(output) and not str(output).endswith(os.sep)
                 else None)

    def fmt_of(i: str) -> str:
        return named_fmt or {".tif": "tiff", ".tiff": "tiff", ".png": "png"}.get(Path(i).suffix.lower(), "jpeg")

    return _run_batch(inputs, output, fmt_of, "correct", recipe, **run_kw)


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("inputs", nargs=-1, type=click.Path(readable=False))  # checked per file: E5
@output_option("file_or_dir")
@recipe_option
@_sidecar_options
@quality_option(95)
@_lens_options
@batch_options
@max_decode_errors_option
def correct(inputs, output, recipe_path, from_sidecar, import_sidecars, overwrite, as_json, verbose, quiet, jobs, max_memory, cluster, redo,
            no_sidecar, max_decode_errors, **params):
    """Lens-correct developed JPEG, TIFF or PNG images.

    Each image is linearised with its transfer function (from its ICC profile; sRGB when it
    has none), corrected in linear light, and re-encoded in the same format, space and bit
    depth (8 or 16 bits; a 32-bit float TIFF is written as 16-bit), with its ICC profile and
    EXIF kept.

    \b
    Examples:
      l2 correct P1010001.JPG -o corrected/
      l2 correct scan.tif --lens "Lumix S 20-60/F3.5-5.6" --focal-length 20 -o fixed.tif
      l2 correct --recipe lab.toml *.JPG -o corrected/ --jobs 2
    """
    params.update(fmt="jpeg")
    return _stills_command("correct", inputs, output, recipe_path, from_sidecar, params, import_sidecars, overwrite=overwrite,
                           as_json=as_json, verbose=verbose, quiet=quiet, jobs=jobs, max_memory=max_memory,
                           cluster=cluster, redo=redo, sidecars=not no_sidecar, max_decode_errors=max_decode_errors)
