"""``l2 calibrate``: checkerboards and flat fields to a lensfun profile, with a report.

A thin shell over :mod:`l2tech.calibrate` (parse, call, report).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import click

from l2tech.cli.common import console, emit_json, err_console, json_option, report_error, verbosity_options
from l2tech.errors import L2Error, UsageError

__all__ = ["calibrate"]


def _progress(quiet: bool):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err_console,
                    disable=quiet or not err_console.is_terminal, transient=True)  # off a terminal it leaves a blank line


def _shot_settings(path: Path, focal: float | None, f_number: float | None, distance: float | None, crop: float | None):
    """Focal length, f-number, distance, crop factor: the options win, EXIF fills the gaps."""
    if focal is not None and f_number is not None and crop is not None:
        return focal, f_number, distance, crop
    meta = None
    try:
        from l2tech.io.metadata import read_metadata

        meta = read_metadata(path)
    except (L2Error, ImportError, OSError):
        meta = None
    g = (lambda k: getattr(meta, k, None)) if meta is not None else (lambda k: None)
    return (
        focal if focal is not None else g("focal_length_mm"),
        f_number if f_number is not None else g("f_number"),
        distance if distance is not None else g("focus_distance_m"),
        crop if crop is not None else g("crop_factor"),
    )


def _check_positive(**opts: float | None) -> None:
    """Usage error (exit 2) for an option given as zero, negative or not finite."""
    import math

    for name, v in opts.items():
        if v is not None and not (math.isfinite(v) and v > 0):
            raise UsageError(f"--{name.replace('_', '-')} {v:g}: must be a positive number")


def _reason(exc: L2Error, name: str) -> str:
    """The error's message without the file prefix when it is about the file ``name`` itself."""
    if exc.path is not None and Path(exc.path).name == name and exc.line is None:
        return exc.reason
    return str(exc)


def _no_output_note(out, as_json: bool, quiet: bool) -> None:
    if out is None and not as_json and not quiet:
        console.print("no profile written (give -o FILE to write one)", highlight=False)


def _iter_inputs(paths, every: int, skipped: list, failed: list, verbose: int = 0):
    from l2tech.calibrate import iter_video_frames, read_calibration_image
    from l2tech.calibrate.targets import VIDEO_SUFFIXES

    for p in paths:
        p = Path(p)
        try:
            if p.suffix.lower() in VIDEO_SUFFIXES:
                for name, img, reason in iter_video_frames(p, every=every):
                    if img is None:
                        skipped.append((name, reason))
                    else:
                        yield p, name, img
            else:
                yield p, p.name, read_calibration_image(p)
        except L2Error as exc:
            failed.append((p.name, _reason(exc, p.name)))
            report_error(exc, verbose)  # one line, the file named once


def _camera_body(camera: str | None, mount: str, crop: float):
    from l2tech.calibrate.output import split_maker_model
    from l2tech.profiles.model import CameraBody

    if not camera:
        return None
    maker, model = split_maker_model(camera)
    return CameraBody(maker=maker, model=model, mount=mount, crop_factor=float(crop), source="calibrate")


def _check_out(output: str | None, inputs, overwrite: bool, update: bool):
    if output is None:
        return None
    from l2tech.io.atomic import check_output_path

    return check_output_path(output, inputs=inputs, overwrite=overwrite or update)


_common_profile = [
    click.option("--camera", help='Camera "Maker Model" for the profile, e.g. "Panasonic DC-S5".'),
    click.option("--lens", "lens_name", default="Generic Calibrated lens", show_default=True, help='Lens "Maker Model".'),
    click.option("--mount", default="Generic", show_default=True, help="Lens mount name."),
    click.option("--crop-factor", type=float, help="Crop factor of the camera (default: EXIF, else 1.0)."),
    click.option("--focal-length", type=float, help="Focal length in mm (default: EXIF)."),
    click.option("-o", "--output", type=click.Path(dir_okay=False), help="lensfun XML file to write."),
    click.option("--update", is_flag=True, help="Merge into an existing XML file (add calibration points)."),
    click.option("--overwrite", is_flag=True, help="Replace an existing output file."),
    click.option("--report", "report_dir", type=click.Path(file_okay=False), help="Folder for the HTML report."),
]


def _profile_options(f):
    for opt in reversed(_common_profile):
        f = opt(f)
    return f


@click.group("calibrate")
def calibrate() -> None:
    """Make a lensfun lens profile from checkerboard and flat-field shots.

    \b
    Examples:
      l2 calibrate distortion shots/*.ORF --target checkerboard:9x6:25mm \\
          --lens "Olympus M.14-42mm" --mount "Micro 4/3 System" -o lens.xml --report rep/
      l2 calibrate vignetting flats/*.ORF --lens "Olympus M.14-42mm" -o lens.xml --update
      l2 calibrate tca shots/*.ORF --target checkerboard:9x6:25mm
    """


@calibrate.command("distortion")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--target", "target_spec", required=True, help="checkerboard:9x6:25mm or charuco:11x8:20mm:15mm[:DICT_5X5_100].")
@click.option("--fisheye", is_flag=True, help="Fit Kannala-Brandt (fisheye) instead of Brown-Conrady.")
@click.option("--model", "lf_model", type=click.Choice(["ptlens", "poly3", "poly5"]), default="ptlens", show_default=True,
              help="lensfun distortion model written to the profile (all three are fitted and reported).")
@click.option("--every", type=int, default=10, show_default=True, help="Video input: use every N-th frame.")
@click.option("--gyroflow", type=click.Path(dir_okay=False), help="Also write a Gyroflow lens profile JSON.")
@_profile_options
@json_option
@verbosity_options
def distortion(images, target_spec, fisheye, lf_model, every, gyroflow, camera, lens_name, mount, crop_factor,
               focal_length, output, update, overwrite, report_dir, as_json, verbose, quiet):
    """Fit distortion from checkerboard / ChArUco shots (RAW, JPEG, TIFF, PNG or video)."""
    from l2tech.calibrate import detect_target, fit_fisheye, fit_lensfun_distortion, fit_pinhole, parse_target
    from l2tech.calibrate.output import (
        build_lens_profile,
        gyroflow_profile,
        split_maker_model,
        write_gyroflow_json,
        write_profile_xml,
    )
    from l2tech.calibrate.report import write_report
    from l2tech.profiles.model import DistortionCalibration

    try:
        _check_positive(focal_length=focal_length, crop_factor=crop_factor)
        if every < 1:
            raise UsageError(f"--every {every}: must be a positive number")
        target = parse_target(target_spec)
        out = _check_out(output, images, overwrite, update)
        skipped, failed = [], []
        groups: dict[float, list] = defaultdict(list)
        crop_seen = None
        with _progress(quiet) as prog:
            task = prog.add_task("finding boards", total=len(images))
            for path, name, img in _iter_inputs(images, every, skipped, failed, verbose):
                focal, _, _, crop = _shot_settings(path, focal_length, 0.0, 0.0, crop_factor)
                if focal is None or focal <= 0:
                    raise UsageError(f"{path.name}: focal length unknown (no EXIF); give --focal-length")
                crop_seen = crop_seen or crop
                det = detect_target(img, target, name=name)
                if not det.found:
                    skipped.append((name, det.reason))
                groups[float(focal)].append(det)
                prog.advance(task)
        if not groups:
            raise UsageError("no input could be read")
        crop = float(crop_seen or 1.0)
        points, fits, summary_rows, results = [], [], [], []
        size = None
        for focal in sorted(groups):
            dets = groups[focal]
            cam = fit_fisheye(dets, target) if fisheye else fit_pinhole(dets, target)
            size = cam.image_size
            lfs = [fit_lensfun_distortion(cam, m) for m in ("ptlens", "poly3", "poly5")]
            chosen = next(x for x in lfs if x.model == lf_model)
            points.append(DistortionCalibration(lf_model, focal, dict(chosen.terms)))
            fits.append((focal, cam, lfs))
            results.append({
                "focal_length_mm": focal, "views_used": len(cam.view_names), "views_dropped": [list(d) for d in cam.dropped],
                "opencv_model": cam.model, "rms_px": cam.rms, "K": cam.K.tolist(), "dist": cam.dist.tolist(),
                "lensfun": {x.model: {"terms": x.terms, "rms_px": x.rms} for x in lfs}, "warnings": list(cam.warnings),
            })
            if not quiet and not as_json:
                console.print(f"{focal:g} mm: {len(cam.view_names)} views, OpenCV {cam.model} RMS {cam.rms:.4f} px; "
                              + ", ".join(f"{x.model} RMS {x.rms:.4f} px" for x in lfs), highlight=False)
                for w in cam.warnings:
                    err_console.print(f"[yellow]warning[/]: {w}", highlight=False, soft_wrap=True)
        aspect = max(size) / min(size)
        profile = build_lens_profile(lens_name, mount, crop_factor=crop, aspect_ratio=aspect,
                                     lens_type="fisheye" if fisheye else "rectilinear", distortion=points)
        body = _camera_body(camera, mount, crop)
        if out is not None:
            write_profile_xml(out, profile, body, update=update)
        if gyroflow:
            focal0, cam0, _ = fits[0]
            cb = split_maker_model(camera) if camera else ("", "")
            write_gyroflow_json(gyroflow, gyroflow_profile(cam0, camera_brand=cb[0], camera_model=cb[1], lens_model=lens_name,
                                                           crop_factor=crop, focal_length_mm=focal0), overwrite=overwrite)
        if report_dir:
            for focal, cam, lfs in fits:
                folder = Path(report_dir) if len(fits) == 1 else Path(report_dir) / f"{focal:g}mm"
                if len(fits) > 1:
                    Path(report_dir).mkdir(exist_ok=True)
                write_report(folder, title=f"Distortion calibration: {lens_name} at {focal:g} mm", camera_fit=cam, lensfun_fits=lfs,
                             skipped=[s for s in skipped + failed if s[0] not in {d[0] for d in cam.dropped}],
                             summary=[("lens", lens_name), ("camera", camera or ""), ("target", target.spec),
                                      ("crop factor", f"{crop:g}"), ("output", str(out or "")), ("written model", lf_model)])
        if as_json:
            emit_json({"output": str(out) if out else None, "crop_factor": crop, "aspect_ratio": aspect,
                       "skipped": [list(s) for s in skipped], "failed": [list(f) for f in failed], "focal_lengths": results})
        elif out is not None and not quiet:
            console.print(f"wrote {out}", highlight=False)
        _no_output_note(out, as_json, quiet)
        return 1 if failed else 0
    except L2Error as exc:
        report_error(exc, verbose)
        return exc.exit_code


@calibrate.command("vignetting")
@click.argument("flats", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--f-number", type=float, help="f-number (default: EXIF).")
@click.option("--distance", type=float, default=None, help="Focus distance in m (default: EXIF, else 1000 = infinity).")
@_profile_options
@json_option
@verbosity_options
def vignetting(flats, f_number, distance, camera, lens_name, mount, crop_factor, focal_length, output, update, overwrite,
               report_dir, as_json, verbose, quiet):
    """Fit lensfun pa vignetting from flat fields (linear RAW preferred), one per focal length and f-number."""
    from l2tech.calibrate import read_calibration_image
    from l2tech.calibrate.output import build_lens_profile, write_profile_xml
    from l2tech.calibrate.report import write_report
    from l2tech.calibrate.targets import RAW_SUFFIXES
    from l2tech.calibrate.vignetting import characterise_vignetting

    try:
        _check_positive(focal_length=focal_length, crop_factor=crop_factor, f_number=f_number, distance=distance)
        out = _check_out(output, flats, overwrite, update)
        fits, failed, warnings = [], [], []
        crop_seen, size = None, None
        with _progress(quiet) as prog:
            task = prog.add_task("fitting flats", total=len(flats))
            for p in map(Path, flats):
                try:
                    focal, fn, dist, crop = _shot_settings(p, focal_length, f_number, distance, crop_factor)
                    if not focal or not fn:
                        raise UsageError("focal length or f-number unknown (no EXIF); give --focal-length and --f-number", path=p)
                    if p.suffix.lower() not in RAW_SUFFIXES:
                        warnings.append(f"{p.name}: not a RAW file; vignetting needs linear data (a JPEG's tone curve biases the fit)")
                    img = read_calibration_image(p)
                    vf = characterise_vignetting(img, focal_length_mm=focal, f_number=fn,
                                                 focus_distance_m=dist if dist else 1000.0, name=str(p))
                    fits.append((p.name, vf))
                    crop_seen = crop_seen or crop
                    size = img.shape[1], img.shape[0]
                except L2Error as exc:
                    failed.append((p.name, _reason(exc, p.name)))
                    report_error(exc, verbose)
                prog.advance(task)
        if not fits:
            from l2tech.errors import CalibrationError

            raise CalibrationError(f"0 usable flat fields of {len(flats)}, 1 needed")
        crop = float(crop_seen or 1.0)
        profile = build_lens_profile(lens_name, mount, crop_factor=crop, aspect_ratio=max(size) / min(size),
                                     vignetting=[vf.calibration for _, vf in fits])
        if out is not None:
            write_profile_xml(out, profile, _camera_body(camera, mount, crop), update=update)
        if report_dir:
            write_report(report_dir, title=f"Vignetting calibration: {lens_name}", vignetting_fits=fits, warnings=warnings,
                         skipped=failed, summary=[("lens", lens_name), ("output", str(out or ""))])
        rows = [{"file": n, "focal_length_mm": v.calibration.focal_length_mm, "f_number": v.calibration.f_number,
                 "distance_m": v.calibration.focus_distance_m, **v.calibration.terms, "rms": v.rms} for n, v in fits]
        if as_json:
            emit_json({"output": str(out) if out else None, "fits": rows, "failed": [list(f) for f in failed], "warnings": warnings})
        elif not quiet:
            for r in rows:
                console.print(f"{r['file']}: {r['focal_length_mm']:g} mm f/{r['f_number']:g}: k1={r['k1']:.5f} k2={r['k2']:.5f} "
                              f"k3={r['k3']:.5f} (RMS {r['rms']:.4f})", highlight=False)
            for w in warnings:
                err_console.print(f"[yellow]warning[/]: {w}", highlight=False, soft_wrap=True)
        _no_output_note(out, as_json, quiet)
        return 1 if failed else 0
    except L2Error as exc:
        report_error(exc, verbose)
        return exc.exit_code


@calibrate.command("tca")
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--target", "target_spec", required=True, help="checkerboard:9x6:25mm or charuco:...")
@click.option("--model", "tca_model", type=click.Choice(["poly3", "linear"]), default="poly3", show_default=True,
              help="lensfun TCA model written to the profile (both are fitted and reported).")
@_profile_options
@json_option
@verbosity_options
def tca(images, target_spec, tca_model, camera, lens_name, mount, crop_factor, focal_length, output, update, overwrite,
        report_dir, as_json, verbose, quiet):
    """Fit lateral chromatic aberration (red and blue against green) from board shots."""
    from l2tech.calibrate import parse_target
    from l2tech.calibrate.output import build_lens_profile, write_profile_xml
    from l2tech.calibrate.report import write_report
    from l2tech.calibrate.tca import fit_tca, measure_tca

    try:
        _check_positive(focal_length=focal_length, crop_factor=crop_factor)
        target = parse_target(target_spec)
        out = _check_out(output, images, overwrite, update)
        skipped, failed = [], []
        groups: dict[float, list] = defaultdict(list)
        crop_seen = None
        for path, name, img in _iter_inputs(images, 10, skipped, failed, verbose):
            focal, _, _, crop = _shot_settings(path, focal_length, 0.0, 0.0, crop_factor)
            if not focal:
                raise UsageError(f"{path.name}: focal length unknown (no EXIF); give --focal-length")
            crop_seen = crop_seen or crop
            groups[float(focal)].append((name, img))
        if not groups:
            raise UsageError("no input could be read")
        cals, rows, size, last = [], [], None, None
        for focal in sorted(groups):
            fit = fit_tca(measure_tca(groups[focal], target), focal_length_mm=focal)
            size = fit.samples.image_size
            cals.append(fit.poly3 if tca_model == "poly3" else fit.linear)
            rows.append({"focal_length_mm": focal, "poly3": dict(fit.poly3.terms), "linear": dict(fit.linear.terms),
                         "rms_before_px": fit.rms_before_px, "rms_poly3_px": fit.rms_poly3_px, "rms_linear_px": fit.rms_linear_px,
                         "skipped": [list(d) for d in fit.samples.dropped]})
            last = fit
            if not quiet and not as_json:
                console.print(f"{focal:g} mm: R/B vs G RMS {fit.rms_before_px:.4f} px -> linear {fit.rms_linear_px:.4f}, "
                              f"poly3 {fit.rms_poly3_px:.4f} px", highlight=False)
        crop = float(crop_seen or 1.0)
        if out is not None:
            profile = build_lens_profile(lens_name, mount, crop_factor=crop, aspect_ratio=max(size) / min(size), tca=cals)
            write_profile_xml(out, profile, _camera_body(camera, mount, crop), update=update)
        if report_dir and last is not None:
            write_report(report_dir, title=f"TCA calibration: {lens_name}", tca_fit=last, skipped=skipped + failed + list(last.samples.dropped),
                         summary=[("lens", lens_name), ("output", str(out or ""))])
        if as_json:
            emit_json({"output": str(out) if out else None, "focal_lengths": rows, "failed": [list(f) for f in failed]})
        _no_output_note(out, as_json, quiet)
        return 1 if failed else 0
    except L2Error as exc:
        report_error(exc, verbose)
        return exc.exit_code
