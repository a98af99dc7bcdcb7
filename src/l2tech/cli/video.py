"""``l2 video``: lens correction, de-fishing, looks and LUTs on video clips (a thin shell)."""

from __future__ import annotations

from pathlib import Path

import click

from l2tech.cli.common import batch_summary, console, emit_json, err_console, escape, file_warning, report_error
from l2tech.cli.options import (
    CONTEXT_SETTINGS,
    camera_option,
    crop_factor_option,
    interpolation_option,
    json_option,
    lens_option,
    look_option,
    lut_option,
    batch_options,
    max_decode_errors_option,
    output_option,
    overwrite_option,
    profile_option,
    projection_option,
    recipe_option,
    shot_options,
    verbosity_options,
)
from l2tech.errors import L2Error, UsageError

__all__ = ["video"]


def _floats(text: str | None, n: int | None, name: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        vals = tuple(float(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {text!r}", param_hint=name) from None
    if n is not None and len(vals) != n:
        raise click.BadParameter(f"expected {n} numbers, got {len(vals)}", param_hint=name)
    return vals


def _size(text: str | None, name: str) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected WIDTHxHEIGHT, got {text!r}", param_hint=name) from None
    if w <= 0 or h <= 0 or w % 2 or h % 2:
        raise click.BadParameter("width and height must be positive and even", param_hint=name)
    return w, h


def _readout(text: str | None) -> float | str | None:
    if text is None or text.strip().lower() == "auto":
        return None if text is None else "auto"
    try:
        v = float(text)
    except ValueError:
        raise click.BadParameter(f"expected milliseconds or 'auto', got {text!r}", param_hint="--readout-ms") from None
    if not v >= 0:
        raise click.BadParameter(f"must be >= 0, got {v}", param_hint="--readout-ms")
    return v


def _outputs(inputs: tuple[str, ...], output: str, codec: str | None) -> list[Path]:
    """The output of each input, every name checked against the encoder before any work.

    Into a folder, a clip keeps its own container (``.mov`` stays ``.mov``, keeping what only
    QuickTime holds, e.g. GoPro's timecode track) when l2tech writes it, else ``.mp4``; a
    ``--codec`` that container cannot hold (ProRes in ``.mp4``) moves to ``.mov``, then ``.mkv``.
    """
    import os

    from l2tech.video.transcode import OUTPUT_CONTAINERS, check_output_container

    out = Path(output)  # (os.path's tests: a name too long for the file system is "not there", no OSError)
    if len(inputs) > 1 and not os.path.isdir(out) and out.suffix.lower() in OUTPUT_CONTAINERS:
        raise UsageError("several inputs need an output folder, not a file name", path=out)
    if len(inputs) > 1 or os.path.isdir(out) or output.endswith(("/", "\\")):
        if os.path.exists(out) and not os.path.isdir(out):
            raise UsageError("with several inputs, -o must be a folder, not a file", path=out)
        outs = []
        for i in inputs:
            own = Path(i).suffix.lower()
            for suffix in dict.fromkeys([own if own in OUTPUT_CONTAINERS else ".mp4", ".mov", ".mkv"]):
                name = out / (Path(i).stem + suffix)
                try:
                    check_output_container(name, codec)
                except UsageError:
                    continue
                outs.append(name)
                break
            else:
                check_output_container(out / (Path(i).stem + ".mp4"), codec)  # raises: the encoder is unknown
        if not os.path.isdir(out):  # "-o clips/" names a folder: made, as develop and correct do
            from l2tech.cli.common import make_output_folder

            make_output_folder(out)
        return outs
    check_output_container(out, codec)
    return [out]


@click.command("video", context_settings=CONTEXT_SETTINGS)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(readable=False))  # checked per file: E5
@output_option("file_or_existing_dir", required=True)
@recipe_option
@profile_option
@camera_option
@lens_option
@shot_options
@crop_factor_option
@click.option("--calib-crop", help="Region of the calibration frame the video shows: x0,y0,w,h (calibration px).")
@click.option("--lens-model", type=click.Choice(["opencv_fisheye", "opencv"]), help="Model of --intrinsics/--dist-coeffs.")
@click.option("--intrinsics", help="Camera matrix fx,fy,cx,cy in pixels of the clip (or of --calib-size).")
@click.option("--dist-coeffs", help="Distortion coefficients: k1,k2,k3,k4 (fisheye) or k1,k2,p1,p2[,k3] (opencv).")
@click.option("--calib-size", help="WIDTHxHEIGHT the --intrinsics were calibrated at.")
@projection_option
@click.option("--zoom", type=float, default=1.0, show_default=True,
              help="Output focal length over the lens's, 0.1 to 10 (<1 shows more).")
@click.option("--size", "out_size", help="Output WIDTHxHEIGHT (default: the input's).")
@interpolation_option(nearest=True)
@look_option
@lut_option
@click.option("--input-encoding", help="Encoding of the clip's values (e.g. V-Log); default Rec.709.")
@click.option("--tone", type=click.Choice(["none", "filmic"]), default="none", show_default=True,
              help="With a log --input-encoding: convert to Rec.709 through the filmic tone curve (highlight "
                   "roll-off up to the log curve's top code), with or without a --look.")
@click.option("--codec", help="Encoder (libx264, libx265, prores_ks, ...); default: the input's family.")
@click.option("--crf", type=int, help="Constant rate factor, 0 to 63 (default 18).")
@click.option("--bitrate", help="Target bit rate, 1k to 10G bit/s, e.g. 20M (instead of CRF).")
@click.option("--preset", help="Encoder preset (x264/x265: ultrafast ... veryslow).")
@click.option("--bit-depth", type=click.Choice(["8", "10"]), help="Output bit depth (default: the input's).")
@click.option("--pix-fmt", help="Output pixel format (default from codec and bit depth).")
@click.option("--start", "start_s", type=float, default=0.0, help="Start time, seconds.")
@click.option("--duration", "duration_s", type=float, help="Duration, seconds.")
@max_decode_errors_option
@click.option("--segments", type=click.IntRange(min=1), default=1, show_default=True,
              help="Cut the clip at its keyframes into N parts, made at once by --jobs worker processes and joined "
                   "(the same frames as one pass; constant --qp, IDR frames at the cuts, no B-frames; not with --stabilize).")
@click.option("--qp", type=int, help="Constant quantiser instead of --crf, 0 to 81 (default 18 with --segments).")
@batch_options
@click.option("--stabilize", "stabilize", is_flag=False, flag_value="auto", default=None,
              type=click.Choice(["auto", "gyro", "flow"]),
              help="Stabilise: the clip's gyro (or --gyro) when there is one, else optical flow; "
                   "'--stabilize flow' forces flow, '--stabilize gyro' requires a gyro. Off by default.")
@click.option("--gyro", "gyro_path", type=click.Path(dir_okay=False),
              help="Motion data for --stabilize: a gyro CSV (columns t_s,gx,gy,gz: s, rad/s about the camera's x right, "
                   "y down, z forward) or a Gyroflow project (.gyroflow: its gyro, sync offsets, readout and lens).")
@click.option("--gyro-offset", "gyro_offset_ms", type=float,
              help="Gyro time minus video time, ms (default: a Gyroflow project's sync points, else found by matching the "
                   "gyro to the frames' motion).")
@click.option("--smoothness", "smoothness_s", type=float, default=0.5, show_default=True,
              help="--stabilize: standard deviation of the Gaussian path smoother, 0 to 60 seconds (more: steadier, "
                   "more crop).")
@click.option("--readout-ms", metavar="MS|auto", help="--stabilize: rolling-shutter readout time, first to last row, 0 to 1000 ms, or 'auto' "
              "(estimated against the gyro); default: what a Gyroflow lens profile or project states for the clip's "
              "mode, else 0 (not corrected).")
@click.option("--horizon-lock", is_flag=True, help="--stabilize: keep the horizon level (accelerometer gravity, "
              "else the first frame's roll).")
@click.option("--adaptive-zoom", "adaptive_zoom_s", type=float, default=0.0, show_default=True,
              metavar="SECONDS", help="--stabilize: crop each frame only as much as the frames within this window need "
              "(a dynamic crop, as Gyroflow's adaptive zoom; e.g. 4; at most 1e6); 0: one crop for the whole clip.")
@click.option("--fast", is_flag=True, help="Faster, slightly less exact: swscale's fast colour conversion (YUV to RGB and back).")
@click.option("--force", is_flag=True, help="Process a clip that is already an l2tech output (skipped otherwise).")
@overwrite_option
@json_option
@verbosity_options
@click.pass_context
def video(ctx, inputs, output, recipe_path, profile_path, camera, lens_name, focal_length_mm, f_number, focus_distance_m,
          crop_factor, calib_crop, lens_model, intrinsics, dist_coeffs, calib_size, projection, zoom, out_size,
          interpolation, look, lut_path, input_encoding, tone, codec, crf, bitrate, preset, bit_depth, pix_fmt, start_s,
          duration_s, max_decode_errors, stabilize, gyro_path, gyro_offset_ms, smoothness_s, readout_ms,
          horizon_lock, adaptive_zoom_s, segments, qp, jobs, max_memory, cluster, redo, no_sidecar, fast, force, overwrite, as_json,
          verbose, quiet):
    """Lens-correct, de-fish and grade video clips; audio, telemetry and metadata are kept.

    Settings may come from a recipe file (--recipe; video-only ones in its [video] table); the
    options given win. Each output says it is l2tech's (the lens profile, the corrections and
    the recipe hash, as JSON in the container's comment tag); a clip that is already an l2tech
    output is skipped unless --force. Each output gets a NAME.EXT.l2.toml sidecar; clips
    written into a folder are journaled there, so the same command run again does only the
    missing clips (--redo makes them all again). --jobs N runs N clips at once (default 1: a clip already uses
    several threads), or the N parts of one clip with --segments; --cluster (or L2_DASK_SCHEDULER)
    runs them on a Dask scheduler.

    \b
    Examples:
      l2 video clip.mp4 --profile GoPro_HERO5_Wide.json --projection rectilinear -o out.mp4
      l2 video cctv.mp4 --lens-model opencv --intrinsics 548.9,549.3,722.5,718.9 \\
          --dist-coeffs -0.144,0.0288,0.00105,-0.000338,-0.00332 -o flat.mp4
      l2 video vlog.mov --lut look.cube --input-encoding V-Log -o graded.mov
      l2 video GX010042.MP4 --profile GoPro_HERO5_Wide.json --stabilize -o steady.mp4
      l2 video GX010042.MP4 --stabilize --gyro GX010042.gyroflow -o steady.mp4
      l2 video --recipe drone.toml day1/*.MP4 -o graded/ --cluster tcp://render0:8786
    """
    import dataclasses
    import os

    from l2tech.cli.develop import _given
    from l2tech.pipeline import Recipe  # lazy: keeps `l2 --help` fast
    from l2tech.pipeline.video import VideoJob, check_video_options, read_video_settings, video_settings

    params = ctx.params
    try:
        fields = {"profile": profile_path, "camera": camera, "lens": lens_name, "focal_length_mm": focal_length_mm,
                  "f_number": f_number, "focus_distance_m": focus_distance_m, "projection": projection,
                  "interpolation": interpolation, "look": look, "lut": lut_path, "force": force}
        names = {"profile": "profile_path", "lens": "lens_name", "lut": "lut_path"}
        vfields = {"crop_factor": crop_factor, "calib_crop": _floats(calib_crop, 4, "--calib-crop"),
                   "lens_model": lens_model, "intrinsics": _floats(intrinsics, 4, "--intrinsics"),
                   "dist_coeffs": _floats(dist_coeffs, None, "--dist-coeffs"),
                   "calib_size": _size(calib_size, "--calib-size"), "zoom": zoom, "out_size": _size(out_size, "--size"),
                   "input_encoding": input_encoding, "tone": tone, "codec": codec, "crf": crf, "bitrate": bitrate,
                   "preset": preset, "bit_depth": int(bit_depth) if bit_depth else None, "pix_fmt": pix_fmt,
                   "start_s": start_s, "duration_s": duration_s, "max_decode_errors": max_decode_errors, "fast": fast,
                   "segments": segments, "qp": qp, "stabilize": stabilize, "gyro": gyro_path,
                   "gyro_offset_ms": gyro_offset_ms, "smoothness_s": smoothness_s, "readout_ms": _readout(readout_ms),
                   "horizon_lock": horizon_lock, "adaptive_zoom_s": adaptive_zoom_s}
        check_video_options(vfields)  # the ranges a recipe's [video] table is held to: a sidecar always reads back
        if recipe_path is None:
            recipe = Recipe(**fields)
            job = VideoJob(recipe, **vfields)
        else:
            from l2tech.pipeline.recipe_file import read_recipe_file

            given = {k for k in fields if _given(ctx, names.get(k, k), params[names.get(k, k)])}
            defaults = Recipe(**{k: v for k, v in fields.items() if k not in given})
            try:
                from_recipe = read_recipe_file(recipe_path, base=defaults)
            except L2Error as exc:  # missing, a pipe, unreadable: a RecipeError, as develop and correct say
                from l2tech.cli.develop import as_recipe_error

                raise as_recipe_error(exc) from None
            recipe = dataclasses.replace(from_recipe, **{k: fields[k] for k in given})
            vnames = {"gyro": "gyro_path"}
            vgiven = {k: v for k, v in vfields.items() if _given(ctx, vnames.get(k, k), params[vnames.get(k, k)])}  # the same names as the options
            from_file = read_video_settings(recipe_path, base=VideoJob(Recipe(), **{k: v for k, v in vfields.items() if k not in vgiven}))
            merged = {k: (tuple(v) if isinstance(v, list) else v) for k, v in from_file.items()}
            job = dataclasses.replace(VideoJob(recipe), **{**merged, **vgiven})
        job = dataclasses.replace(job, overwrite=overwrite)
        from l2tech.cli.develop import check_side_files

        check_side_files(ctx, params, job.recipe, recipe_path)  # the look, LUT and profile files: once, before any clip
        if not job.stabilize and (job.gyro or job.gyro_offset_ms is not None or job.readout_ms is not None or job.horizon_lock
                                  or job.adaptive_zoom_s):
            raise UsageError("--gyro, --gyro-offset, --readout-ms, --horizon-lock and --adaptive-zoom apply with --stabilize")
        settings = video_settings(job)
        outs = _outputs(inputs, output, job.codec)
        from l2tech.io.atomic import check_distinct_outputs

        check_distinct_outputs(outs)
    except L2Error as exc:
        report_error(exc, verbose)
        raise click.exceptions.Exit(exc.exit_code)

    from l2tech.pipeline.batch import BatchTask, run_tasks

    to_folder = len(inputs) > 1 or os.path.isdir(output) or output.endswith(("/", "\\"))
    split = job.segments > 1
    tasks = [BatchTask("video", os.path.abspath(i), str(o), job.recipe, Path(o).suffix.lstrip("."), video=settings,
                       max_memory=max_memory,
                       # on a cluster a clip is one task: its worker makes the parts in one pass (the same frames)
                       segment_workers=(jobs or 1) if split and not cluster else 1) for i, o in zip(inputs, outs)]
    spelled = {t.input: i for i, t in zip(inputs, tasks)}
    import time

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    # frames of the clip in progress (made in this process), as `l2 video` always showed them
    progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[fps]:.1f} fps"), TimeRemainingColumn(), console=err_console.get(),
                        transient=True, disable=quiet or as_json or not err_console.is_terminal)
    bars: dict[str, tuple[int, float]] = {}

    def frames_done(inp: str, done: int, total: int) -> None:
        if inp not in bars:
            bars[inp] = (progress.add_task(Path(spelled.get(inp, inp)).name, total=None, fps=0.0), time.perf_counter())
        task_id, t0 = bars[inp]
        el = time.perf_counter() - t0
        progress.update(task_id, completed=done, total=total or None, fps=done / el if el > 0 else 0.0)

    # a clip already runs on several threads: one at a time unless --jobs asks for more
    started = time.perf_counter()
    items = run_tasks(tasks, jobs=1 if split else (jobs or 1), overwrite=overwrite, redo=redo, journal=to_folder,
                      sidecars=not no_sidecar, cluster=cluster or None, max_memory=max_memory, progress=frames_done)
    results: list[dict] = []
    failed, usage = 0, False
    interrupted: KeyboardInterrupt | None = None
    try:
        with progress:
            for item in items:
                src, dst = spelled.get(item.input, item.input), item.output
                if item.input in bars:
                    progress.remove_task(bars.pop(item.input)[0])
                if item.status == "skipped":  # RELIABILITY case 18: skipped with a message, as develop/correct do
                    if not as_json:
                        err_console.print(f"[yellow]skipped[/]: {escape(str(item.error))}", highlight=False, soft_wrap=True)
                    results.append({"input": src, "output": str(dst), "status": "skipped", "ok": True, "skipped": True, "error": str(item.error),
                                    "reason": getattr(item.error, "reason", str(item.error))})
                    continue
                if item.status == "failed":  # that clip fails, the others still run
                    exc = item.error
                    failed += 1
                    usage = usage or isinstance(exc, UsageError)
                    report_error(exc, verbose)
                    results.append({"input": src, "output": str(dst), "status": "failed", "ok": False, "error": str(exc),
                                    "error_type": type(exc).__name__})
                    continue
                res = dict(item.result)
                res.pop("lens", None)
                row = {"input": src, "output": str(dst), "status": "ok", "ok": True, **res}
                results.append(row)
                if not quiet and not as_json:
                    _print_clip(row, verbose)
    except KeyboardInterrupt as exc:  # SIGINT/SIGTERM: the clip in progress left no temp file
        interrupted = exc
        items.close()
    except L2Error as exc:  # the batch could not start (no Dask scheduler answers, a journal that is not a file)
        report_error(exc, verbose)
        from l2tech.cli.common import batch_start_exit_code

        raise click.exceptions.Exit(batch_start_exit_code(exc))
    if as_json:  # one object, as develop and correct write it (BATCH.md "Summary")
        doc = {"results": results, **batch_summary(results, time.perf_counter() - started)}
        if interrupted is not None:
            done = {r["input"] for r in results}
            doc.update(interrupted=True, not_done=[i for i in inputs if i not in done])
        emit_json(doc)
    written = sum(1 for r in results if r["ok"] and not r.get("skipped"))
    if interrupted is not None:
        from l2tech.cli.common import interrupt_exit_code

        if not quiet and not as_json:
            console.print(f"{written} of {len(inputs)} clips written", highlight=False)
        err_console.print(f"[red]interrupted[/]: {len(inputs) - len(results)} of {len(inputs)} clips not done "
                          f"(nothing partial left); run the same command again to finish them", highlight=False, soft_wrap=True)
        raise click.exceptions.Exit(interrupt_exit_code(interrupted))
    if not quiet and not as_json and len(inputs) > 1:
        skipped = sum(1 for r in results if r.get("skipped"))
        console.print(f"{written} of {len(inputs)} clips written" + (f", {skipped} skipped" if skipped else "")
                      + (f", {failed} failed" if failed else ""), highlight=False)
    raise click.exceptions.Exit(2 if usage else 1 if failed else 0)


def _print_clip(row: dict, verbose: int) -> None:
    """The lines of one written clip: what was written, the warnings, the streams kept and dropped."""
    src, dst = row["input"], row["output"]
    console.print(
        f"[green]wrote[/] {escape(dst)}: {row['frames_written']} frames {row['width_px']}x{row['height_px']} "
        f"{row['codec']} {row['pix_fmt']} {row['color']}, processed at {row['fps']:.1f} frames/s"  # not the clip's rate
        + (f", {row['decode_errors']} corrupt frames skipped" if row["decode_errors"] else ""),
        highlight=False, soft_wrap=True,
    )
    for w in row["warnings"]:
        err_console.print(f"[yellow]warning[/]: {escape(file_warning(src, w))}", highlight=False, soft_wrap=True)
    for line in row["setup"]:
        if line.startswith("warning: "):
            continue  # in row["warnings"] (printed above)
        if verbose or line.startswith("no lens source"):
            console.print(f"  {line}", highlight=False, soft_wrap=True, markup=False)
    for s in row["streams_copied"]:
        console.print(f"  kept {escape(s)}", highlight=False, soft_wrap=True)
    for s in row["streams_dropped"]:
        console.print(f"  [yellow]dropped[/] {escape(s)}", highlight=False, soft_wrap=True)
