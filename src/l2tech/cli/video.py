"""``l2 video``: lens correction, de-fishing, looks and LUTs on video clips (a thin shell)."""

from __future__ import annotations

from pathlib import Path

import click

from l2tech.cli.common import console, emit_json, err_console, report_error
from l2tech.cli.options import (
    CONTEXT_SETTINGS,
    camera_option,
    crop_factor_option,
    interpolation_option,
    json_option,
    lens_option,
    look_option,
    lut_option,
    max_memory_option,
    output_option,
    overwrite_option,
    profile_option,
    projection_option,
    shot_options,
    verbosity_options,
)
from l2tech.errors import L2Error, OutputExistsError, UsageError

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


def _outputs(inputs: tuple[str, ...], output: str) -> list[Path]:
    out = Path(output)
    if len(inputs) > 1 or out.is_dir() or output.endswith(("/", "\\")):
        if out.exists() and not out.is_dir():
            raise UsageError("with several inputs, -o must be a folder, not a file", path=out)
        if not out.is_dir():  # "-o clips/" names a folder: made, as develop and correct do
            out.mkdir(parents=True, exist_ok=True)
        return [out / (Path(i).stem + ".mp4") for i in inputs]
    return [out]


@click.command("video", context_settings=CONTEXT_SETTINGS)
@click.argument("inputs", nargs=-1, required=True, type=click.Path(readable=False))  # checked per file: E5
@output_option("file_or_existing_dir", required=True)
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
@click.option("--zoom", type=float, default=1.0, show_default=True, help="Output focal length over the lens's (<1 shows more).")
@click.option("--size", "out_size", help="Output WIDTHxHEIGHT (default: the input's).")
@interpolation_option(nearest=True)
@look_option
@lut_option
@click.option("--input-encoding", help="Encoding of the clip's values (e.g. V-Log); default Rec.709.")
@click.option("--tone", type=click.Choice(["none", "filmic"]), default="none", show_default=True,
              help="With a log --input-encoding: convert to Rec.709 through the filmic tone curve (highlight "
                   "roll-off up to the log curve's top code), with or without a --look.")
@click.option("--codec", help="Encoder (libx264, libx265, prores_ks, ...); default: the input's family.")
@click.option("--crf", type=int, help="Constant rate factor (default 18).")
@click.option("--bitrate", help="Target bit rate, e.g. 20M (instead of CRF).")
@click.option("--preset", help="Encoder preset (x264/x265: ultrafast ... veryslow).")
@click.option("--bit-depth", type=click.Choice(["8", "10"]), help="Output bit depth (default: the input's).")
@click.option("--pix-fmt", help="Output pixel format (default from codec and bit depth).")
@click.option("--start", "start_s", type=float, default=0.0, help="Start time, seconds.")
@click.option("--duration", "duration_s", type=float, help="Duration, seconds.")
@click.option("--max-decode-errors", type=int, default=0, show_default=True, help="Corrupt frames to skip before failing.")
@click.option("--stabilize", "stabilize", is_flag=False, flag_value="auto", default=None,
              type=click.Choice(["auto", "gyro", "flow"]),
              help="Stabilise: the clip's gyro (or --gyro) when there is one, else optical flow; "
                   "'--stabilize flow' forces flow, '--stabilize gyro' requires a gyro. Off by default.")
@click.option("--gyro", "gyro_path", type=click.Path(dir_okay=False),
              help="Gyro CSV for --stabilize: columns t_s,gx,gy,gz (s, rad/s about the camera's x right, y down, z forward).")
@click.option("--gyro-offset", "gyro_offset_ms", type=float,
              help="Gyro time minus video time, ms (default: found by matching the gyro to the frames' motion).")
@click.option("--smoothness", "smoothness_s", type=click.FloatRange(min=0.0), default=0.5, show_default=True,
              help="--stabilize: standard deviation of the Gaussian path smoother, seconds (more: steadier, more crop).")
@click.option("--readout-ms", help="--stabilize: rolling-shutter readout time, first to last row, ms, or 'auto' "
              "(estimated against the gyro); default 0: not corrected.")
@click.option("--horizon-lock", is_flag=True, help="--stabilize: keep the horizon level (accelerometer gravity, "
              "else the first frame's roll).")
@max_memory_option
@click.option("--fast", is_flag=True, help="Faster, slightly less exact: swscale's fast colour conversion (YUV to RGB and back).")
@overwrite_option
@json_option
@verbosity_options
def video(inputs, output, profile_path, camera, lens_name, focal_length_mm, f_number, focus_distance_m, crop_factor, calib_crop, lens_model,
          intrinsics, dist_coeffs, calib_size, projection, zoom, out_size, interpolation, look, lut_path,
          input_encoding, tone, codec, crf, bitrate, preset, bit_depth, pix_fmt, start_s, duration_s,
          max_decode_errors, stabilize, gyro_path, gyro_offset_ms, smoothness_s, readout_ms, horizon_lock,
          max_memory, fast, overwrite, as_json, verbose, quiet):
    """Lens-correct, de-fish and grade video clips; audio, telemetry and metadata are kept.

    \b
    Examples:
      l2 video clip.mp4 --profile GoPro_HERO5_Wide.json --projection rectilinear -o out.mp4
      l2 video cctv.mp4 --lens-model opencv --intrinsics 548.9,549.3,722.5,718.9 \\
          --dist-coeffs -0.144,0.0288,0.00105,-0.000338,-0.00332 -o flat.mp4
      l2 video vlog.mov --lut look.cube --input-encoding V-Log -o graded.mov
    """
    from l2tech.pipeline import Recipe  # lazy: keeps `l2 --help` fast
    from l2tech.pipeline.video import VideoJob, run_video_job
    from l2tech.pipeline.memory import video_size_check

    try:
        recipe = Recipe(profile=profile_path, camera=camera, lens=lens_name, focal_length_mm=focal_length_mm,
                        f_number=f_number, focus_distance_m=focus_distance_m, projection=projection,
                        interpolation=interpolation, look=look, lut=lut_path)
        job = VideoJob(
            recipe, crop_factor=crop_factor, calib_crop=_floats(calib_crop, 4, "--calib-crop"), lens_model=lens_model,
            intrinsics=_floats(intrinsics, 4, "--intrinsics"), dist_coeffs=_floats(dist_coeffs, None, "--dist-coeffs"),
            calib_size=_size(calib_size, "--calib-size"), zoom=zoom, out_size=_size(out_size, "--size"),
            input_encoding=input_encoding, tone=tone, codec=codec, crf=crf, bitrate=bitrate, preset=preset,
            bit_depth=int(bit_depth) if bit_depth else None, pix_fmt=pix_fmt, start_s=start_s,
            duration_s=duration_s, max_decode_errors=max_decode_errors, overwrite=overwrite, fast=fast,
            stabilize=stabilize, gyro=gyro_path, gyro_offset_ms=gyro_offset_ms, smoothness_s=smoothness_s,
            readout_ms=_readout(readout_ms), horizon_lock=horizon_lock,
        )
        if not stabilize and (gyro_path or gyro_offset_ms is not None or readout_ms is not None or horizon_lock):
            raise UsageError("--gyro, --gyro-offset, --readout-ms and --horizon-lock apply with --stabilize")
        outs = _outputs(inputs, output)
        from l2tech.io.atomic import check_distinct_outputs

        check_distinct_outputs(outs)
    except L2Error as exc:
        report_error(exc, verbose)
        raise click.exceptions.Exit(exc.exit_code)

    results, failed, usage = [], 0, False
    show_progress = not (quiet or as_json)
    from l2tech.pipeline.batch import check_input_file

    interrupted: KeyboardInterrupt | None = None
    try:
        for src, dst in zip(inputs, outs):
            details: dict = {}
            try:
                check_input_file(src)  # a bad argument fails that clip only (RELIABILITY.md E5)
                if show_progress:
                    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

                    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[fps]:.1f} fps"), TimeRemainingColumn(),
                                  console=err_console.get(), transient=True,
                                  disable=not err_console.is_terminal) as bar:  # off a terminal it leaves a blank line
                        task = bar.add_task(Path(src).name, total=None, fps=0.0)
                        import time

                        t0 = time.perf_counter()

                        def progress(done: int, total: int) -> None:
                            el = time.perf_counter() - t0
                            bar.update(task, completed=done, total=total or None, fps=done / el if el > 0 else 0.0)

                        report, setup_lines = run_video_job(job, src, dst, progress=progress,
                                                            frame_size_check=video_size_check(src, max_memory),
                                                            details=details)
                else:
                    report, setup_lines = run_video_job(job, src, dst, frame_size_check=video_size_check(src, max_memory),
                                                        details=details)
            except OutputExistsError as exc:  # RELIABILITY case 18: skipped with a message, as develop/correct do
                if not as_json:
                    err_console.print(f"[yellow]skipped[/]: {exc}", highlight=False, soft_wrap=True)
                results.append({"input": src, "output": str(dst), "ok": True, "skipped": True, "error": str(exc)})
                continue
            except L2Error as exc:  # that clip fails, the others still run
                failed += 1
                usage = usage or isinstance(exc, UsageError)
                report_error(exc, verbose)
                results.append({"input": src, "output": str(dst), "ok": False, "error": str(exc), "error_type": type(exc).__name__})
                continue
            row = {"input": src, "output": str(dst), "ok": True, "setup": list(setup_lines)}
            if "stabilization" in details:
                row["stabilization"] = details["stabilization"]
            row.update({k: getattr(report, k) for k in report.__dataclass_fields__ if k not in ("input", "output")})
            results.append(row)
            if not quiet and not as_json:
                console.print(
                    f"[green]wrote[/] {dst}: {report.frames_written} frames {report.width_px}x{report.height_px} "
                    f"{report.codec} {report.pix_fmt} {report.color}, {report.fps:.1f} fps"
                    + (f", {report.decode_errors} corrupt frames skipped" if report.decode_errors else ""),
                    highlight=False, soft_wrap=True,
                )
                for w in report.warnings:
                    err_console.print(f"[yellow]warning[/]: {src}: {w}", highlight=False, soft_wrap=True)
                for line in setup_lines:
                    if line.startswith("warning: "):
                        err_console.print(f"warning: {dst}: {line[9:]}", highlight=False, soft_wrap=True, markup=False)
                    elif verbose or line.startswith(("no lens source", "stabilization:")):
                        console.print(f"  {line}", highlight=False, soft_wrap=True, markup=False)
                for s in report.streams_copied:
                    console.print(f"  kept {s}", highlight=False, soft_wrap=True)
                for s in report.streams_dropped:
                    console.print(f"  [yellow]dropped[/] {s}", highlight=False, soft_wrap=True)
    except KeyboardInterrupt as exc:  # SIGINT/SIGTERM: the clip in progress left no temp file
        interrupted = exc
    if as_json:
        if interrupted is not None:
            emit_json({"results": results, "interrupted": True, "not_done": list(inputs[len(results):])})
        else:
            emit_json(results if len(results) != 1 else results[0])
    written = sum(1 for r in results if r["ok"] and not r.get("skipped"))
    if interrupted is not None:
        from l2tech.cli.common import interrupt_exit_code

        if not quiet and not as_json:
            console.print(f"{written} of {len(inputs)} clips written", highlight=False)
        err_console.print(f"[red]interrupted[/]: {len(inputs) - len(results)} of {len(inputs)} clips not done "
                          f"(nothing partial left); run the same command again to finish them", highlight=False, soft_wrap=True)
        raise click.exceptions.Exit(interrupt_exit_code(interrupted))
    if not quiet and not as_json and len(inputs) > 1:
        console.print(f"{len(inputs) - failed} of {len(inputs)} clips written", highlight=False)
    raise click.exceptions.Exit(2 if usage else 1 if failed else 0)
