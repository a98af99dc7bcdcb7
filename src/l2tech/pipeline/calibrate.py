"""Calibration jobs: shots in, a lensfun profile (and an HTML report) out.

Each job reads the inputs, groups them by shot settings, calls the fitting stages of
:mod:`l2tech.calibrate` and writes the results; nothing here is an algorithm of its own.

- :func:`calibrate_distortion` — checkerboard / ChArUco shots (photos or video) → distortion;
- :func:`calibrate_vignetting` — flat fields → lensfun ``pa`` vignetting;
- :func:`calibrate_tca` — board shots → lateral chromatic aberration.

Shot settings come from the arguments first, the file's EXIF second. A file that cannot be
read is recorded in the result's ``failed`` list (and handed to ``on_error``) and the job goes
on; an error that makes the whole job meaningless (unknown focal length, no usable input)
raises.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from l2tech.errors import CalibrationError, L2Error, UsageError
from l2tech.io.formats import sniff_format

__all__ = ["CalibrationResult", "ProfileSettings", "calibrate_distortion", "calibrate_vignetting", "calibrate_tca", "DEFAULT_LENS_NAME"]

#: Lens name written to a profile when none is given.
DEFAULT_LENS_NAME = "Generic Calibrated lens"

ErrorHook = Callable[[L2Error], None]
ProgressHook = Callable[[], None]


@dataclass(frozen=True)
class CalibrationResult:
    """What a calibration job did.

    Attributes
    ----------
    output : Path or None
        The lensfun XML written, or None without an output file.
    document : dict
        JSON-able summary (what ``l2 calibrate ... --json`` prints): the fits per focal
        length (or per flat field), their RMS residuals, skipped and failed inputs, warnings.
    failed : list of (str, str)
        Inputs that could not be read or fitted: (file name, reason).
    """

    output: Path | None
    document: dict[str, Any] = field(default_factory=dict)
    failed: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class ProfileSettings:
    """Who a calibrated profile is for and where it goes; the same for every calibration job.

    Parameters
    ----------
    camera_name : str, optional
        ``"Maker Model"`` of the camera, written to the profile as a camera body.
    lens_name, mount : str
        ``"Maker Model"`` of the lens and its mount, written to the profile.
    crop_factor, focal_length_mm : float, optional
        Win over the EXIF values (crop factor default 1.0).
    sensor_width_mm : float, optional
        Width of the sensor area the images show, mm: for images without EXIF, distortion
        calibration derives the focal length from the fitted ``fx`` (``f = fx · width_mm /
        width_px``) and the crop factor from the sensor's diagonal (``43.27 mm / diagonal``).
    output : path, optional
        lensfun XML to write (none: fit and report only).
    update : bool
        Merge into an existing XML (add calibration points).
    overwrite : bool
        Replace an existing output.
    report_dir : path, optional
        Folder for the HTML report.
    """

    camera_name: str | None = None
    lens_name: str = DEFAULT_LENS_NAME
    mount: str = "Generic"
    crop_factor: float | None = None
    focal_length_mm: float | None = None
    sensor_width_mm: float | None = None
    output: str | Path | None = None
    update: bool = False
    overwrite: bool = False
    report_dir: str | Path | None = None


def _shot_settings(path: Path, focal: float | None, f_number: float | None, distance: float | None, crop: float | None):
    """Focal length, f-number, distance, crop factor: the arguments win, EXIF fills the gaps."""
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


def _reason(exc: L2Error, name: str) -> str:
    """The error's message without the file prefix when it is about the file ``name`` itself."""
    if exc.path is not None and Path(exc.path).name == name and exc.line is None:
        return exc.reason
    return str(exc)


def _iter_inputs(paths: Sequence[str | Path], every: int, skipped: list, failed: list,
                 on_error: ErrorHook | None) -> Iterator[tuple[Path, str, Any]]:
    """(path, view name, image) for each photo and each ``every``-th video frame."""
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
            if on_error is not None:
                on_error(exc)  # one line, the file named once


def _check_out(settings: ProfileSettings, inputs: Sequence[str | Path]) -> Path | None:
    if settings.output is None:
        return None
    from l2tech.io.atomic import check_output_path

    return check_output_path(settings.output, inputs=inputs, overwrite=settings.overwrite or settings.update)


def _write_profile(settings: ProfileSettings, out: Path | None, crop: float, size: tuple[int, int], **models: Any):
    """Build the lens profile from the fitted ``models`` and write it to ``out`` (when given)."""
    from l2tech.calibrate.output import build_lens_profile, split_maker_model, write_profile_xml
    from l2tech.profiles.model import CameraBody

    profile = build_lens_profile(settings.lens_name, settings.mount, crop_factor=crop,
                                 aspect_ratio=max(size) / min(size), **models)
    if out is not None:
        body = None
        if settings.camera_name:
            maker, model = split_maker_model(settings.camera_name)
            body = CameraBody(maker=maker, model=model, mount=settings.mount, crop_factor=float(crop), source="calibrate")
        write_profile_xml(out, profile, body, update=settings.update)
    return profile


#: Group key of the views whose focal length is unknown (``--sensor-width``: derived from the fit).
_UNKNOWN_FOCAL = 0.0
#: The diagonal of the 36 × 24 mm frame, mm: crop factor = this / the sensor's diagonal.
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)


def _group_by_focal(images: Sequence[str | Path], every: int, settings: ProfileSettings, on_error: ErrorHook | None,
                    view: Callable[[str, Any, list], Any], *, allow_unknown: bool = False):
    """Read every view, turn it into ``view(name, image, skipped)``, group by focal length.

    Returns ``(groups, skipped, failed, crop_factor)``; raises :class:`UsageError` for a view of
    unknown focal length (unless ``allow_unknown``: grouped under :data:`_UNKNOWN_FOCAL`) or
    when nothing could be read.
    """
    skipped: list[tuple[str, str]] = []
    failed: list[tuple[str, str]] = []
    groups: dict[float, list] = defaultdict(list)
    crop_seen = None
    for path, name, img in _iter_inputs(images, every, skipped, failed, on_error):
        focal, _, _, crop = _shot_settings(path, settings.focal_length_mm, 0.0, 0.0, settings.crop_factor)
        if focal is None or focal <= 0:
            if not allow_unknown:
                raise UsageError(f"{path.name}: focal length unknown (no EXIF); give --focal-length MM"
                                 + (" (distortion: or --sensor-width MM)" if settings.sensor_width_mm is None else ""))
            focal = _UNKNOWN_FOCAL
        crop_seen = crop_seen or crop
        groups[float(focal)].append(view(name, img, skipped))
    if not groups:
        raise CalibrationError("no input could be read")  # each one's error is reported above (exit 1, as develop)
    return groups, skipped, failed, float(crop_seen or 1.0)


#: Reprojection RMS above which a distortion fit is refused, px: a right target fits to
#: 0.1-0.5 px and a wrong target description to about 1 px (warned above
#: :data:`l2tech.calibrate.geometry.POOR_FIT_RMS_PX`); several pixels mean the corners found
#: are not the board's (OpenCV ``camera_calibration`` tutorial; Bouguet's toolbox).
MAX_FIT_RMS_PX = 3.0

_PINHOLE_FIX = {"k1": "CALIB_FIX_K1", "k2": "CALIB_FIX_K2", "k3": "CALIB_FIX_K3", "p1p2": "CALIB_ZERO_TANGENT_DIST"}
_FISHEYE_FIX = {"k1": "CALIB_FIX_K1", "k2": "CALIB_FIX_K2", "k3": "CALIB_FIX_K3", "k4": "CALIB_FIX_K4"}


def _fix_flags(fix: Sequence[str], fisheye: bool) -> int:
    """OpenCV calibration flags holding the named coefficients at 0 (their initial value)."""
    import cv2

    table, ns = (_FISHEYE_FIX, cv2.fisheye) if fisheye else (_PINHOLE_FIX, cv2)
    flags = 0
    for name in fix:
        key = name.strip().lower()
        if key not in table:
            raise UsageError(f"cannot fix {name!r} in the {'Kannala-Brandt' if fisheye else 'Brown-Conrady'} model; "
                             f"valid: {', '.join(table)}")
        flags |= int(getattr(ns, table[key]))
    return flags


def calibrate_distortion(
    images: Sequence[str | Path],
    target: str,
    *,
    fisheye: bool = False,
    lensfun_model: str = "ptlens",
    every: int = 10,
    gyroflow: str | Path | None = None,
    settings: ProfileSettings = ProfileSettings(),
    on_error: ErrorHook | None = None,
    on_progress: ProgressHook | None = None,
    fix: Sequence[str] = (),
    max_rms_px: float | None = None,
) -> CalibrationResult:
    """Fit distortion from checkerboard / ChArUco shots and write a lensfun profile.

    Shots are grouped by focal length; per group the OpenCV camera model (Brown-Conrady, or
    Kannala-Brandt with ``fisheye``) is fitted, then the lensfun ``ptlens``, ``poly3`` and
    ``poly5`` models are fitted to it and ``lensfun_model`` is written.

    Parameters
    ----------
    images : sequence of path
        Photos (RAW, JPEG, TIFF, PNG) or videos of the target.
    target : str
        Target description, e.g. ``"checkerboard:9x6:25mm"`` or ``"charuco:11x8:20mm:15mm"``.
    fisheye : bool
        Fit Kannala-Brandt instead of Brown-Conrady.
    lensfun_model : {'ptlens', 'poly3', 'poly5'}
        lensfun model written to the profile (all three are fitted and reported).
    every : int
        Video input: use every ``every``-th frame (>= 1).
    gyroflow : path, optional
        Also write a Gyroflow lens profile JSON (from the first focal length).
    settings : ProfileSettings
        Camera, lens and mount names, EXIF overrides, output and report folder (the report has
        one subfolder per focal length when there are several).
    on_error : callable, optional
        Called with each per-file :class:`~l2tech.errors.L2Error` (the job goes on).
    on_progress : callable, optional
        Called once per view read.
    fix : sequence of str
        Coefficients held at 0 in the OpenCV fit: ``k1..k3``, ``p1p2`` (Brown-Conrady, e.g.
        ``("k3",)`` as most published calibrations), ``k1..k4`` (Kannala-Brandt).
    max_rms_px : float, optional
        Refuse a fit whose reprojection RMS exceeds this (default :data:`MAX_FIT_RMS_PX`): such
        an RMS means the target was mis-detected (a board of another size "found"), and no
        profile is written.

    Returns
    -------
    CalibrationResult

    Raises
    ------
    UsageError
        A shot whose focal length is unknown (and no ``settings.sensor_width_mm``), no readable
        input, a bad target description, an unknown coefficient in ``fix``.
    OutputExistsError
        ``settings.output`` exists and neither ``overwrite`` nor ``update`` is set.
    CalibrationError
        Too few usable views for a fit, or a reprojection RMS above ``max_rms_px`` (nothing
        written).
    """
    from l2tech.calibrate import detect_target, fit_fisheye, fit_lensfun_distortion, fit_pinhole, parse_target
    from l2tech.calibrate.output import gyroflow_profile, split_maker_model, write_gyroflow_json
    from l2tech.calibrate.report import write_report
    from l2tech.profiles.model import DistortionCalibration

    board = parse_target(target)
    flags = _fix_flags(fix, fisheye)
    limit = MAX_FIT_RMS_PX if max_rms_px is None else float(max_rms_px)
    out = _check_out(settings, images)

    def view(name: str, img: Any, skipped: list) -> Any:
        det = detect_target(img, board, name=name)
        if not det.found:
            skipped.append((name, det.reason))
        if on_progress is not None:
            on_progress()
        return det

    sw = settings.sensor_width_mm
    groups, skipped, failed, crop = _group_by_focal(images, every, settings, on_error, view, allow_unknown=sw is not None)
    points, fits, results = [], [], []
    size = None
    for key in sorted(groups):
        dets = groups[key]
        cam = fit_fisheye(dets, board, flags=flags) if fisheye else fit_pinhole(dets, board, flags=flags)
        size = cam.image_size
        focal = key
        if sw is not None:
            w_px, h_px = size
            if key == _UNKNOWN_FOCAL:  # f = fx (px) times the pixel pitch (mm)
                focal = round(float(cam.K[0, 0]) * sw / w_px, 3)
            if settings.crop_factor is None:
                crop = FULL_FRAME_DIAGONAL_MM / (sw * math.hypot(w_px, h_px) / w_px)
        if cam.rms > limit:
            raise CalibrationError(
                f"at {focal:g} mm the fit's reprojection RMS is {cam.rms:.2f} px, above {limit:g} px: the target was "
                f"mis-detected (is the board {board.spec}? every shot must show that board); no profile written "
                "(--max-rms raises the limit)")
        lfs = [fit_lensfun_distortion(cam, m) for m in ("ptlens", "poly3", "poly5")]
        chosen = next(x for x in lfs if x.model == lensfun_model)
        points.append(DistortionCalibration(lensfun_model, focal, dict(chosen.terms)))
        fits.append((focal, cam, lfs))
        results.append({
            "focal_length_mm": focal, "views_used": len(cam.view_names), "views_dropped": [list(d) for d in cam.dropped],
            "opencv_model": cam.model, "rms_px": cam.rms, "K": cam.K.tolist(), "dist": cam.dist.tolist(),
            "per_view_rms": [[Path(n).name, float(x)] for n, x in zip(cam.view_names, cam.per_view_rms)],
            "lensfun": {x.model: {"terms": x.terms, "rms_px": x.rms} for x in lfs}, "warnings": list(cam.warnings),
        })
    _write_profile(settings, out, crop, size, lens_type="fisheye" if fisheye else "rectilinear", distortion=points)
    if gyroflow:
        focal0, cam0, _ = fits[0]
        cb = split_maker_model(settings.camera_name) if settings.camera_name else ("", "")
        write_gyroflow_json(gyroflow, gyroflow_profile(cam0, camera_brand=cb[0], camera_model=cb[1], lens_model=settings.lens_name,
                                                       crop_factor=crop, focal_length_mm=focal0), overwrite=settings.overwrite)
    if settings.report_dir:
        report_dir = Path(settings.report_dir)
        for focal, cam, lfs in fits:
            folder = report_dir if len(fits) == 1 else report_dir / f"{focal:g}mm"
            if len(fits) > 1:
                report_dir.mkdir(exist_ok=True)
            write_report(folder, title=f"Distortion calibration: {settings.lens_name} at {focal:g} mm", camera_fit=cam,
                         lensfun_fits=lfs, skipped=[s for s in skipped + failed if s[0] not in {d[0] for d in cam.dropped}],
                         summary=[("lens", settings.lens_name), ("camera", settings.camera_name or ""), ("target", board.spec),
                                  ("crop factor", f"{crop:g}"), ("output", str(out or "")), ("written model", lensfun_model)])
    doc = {"output": str(out) if out else None, "crop_factor": crop, "aspect_ratio": max(size) / min(size),
           "skipped": [list(s) for s in skipped], "failed": [list(f) for f in failed], "focal_lengths": results}
    return CalibrationResult(out, doc, failed)


def calibrate_vignetting(
    flats: Sequence[str | Path],
    *,
    f_number: float | None = None,
    focus_distance_m: float | None = None,
    settings: ProfileSettings = ProfileSettings(),
    on_error: ErrorHook | None = None,
    on_progress: ProgressHook | None = None,
) -> CalibrationResult:
    """Fit lensfun ``pa`` vignetting from flat fields, one per focal length and f-number.

    Parameters
    ----------
    flats : sequence of path
        Flat-field shots; linear RAW preferred (a JPEG's tone curve biases the fit, and a
        warning says so).
    f_number, focus_distance_m : float, optional
        Win over the EXIF values (focus distance default 1000 m, i.e. infinity).
    settings, on_error, on_progress
        As in :func:`calibrate_distortion` (``on_progress``: once per flat field).

    Returns
    -------
    CalibrationResult
        ``document`` holds ``fits`` (terms ``k1, k2, k3`` and RMS per flat) and ``warnings``.

    Raises
    ------
    OutputExistsError
        ``settings.output`` exists and neither ``overwrite`` nor ``update`` is set.
    CalibrationError
        No flat field could be fitted.
    """
    from l2tech.calibrate import read_calibration_image
    from l2tech.calibrate.report import write_report
    from l2tech.calibrate.targets import RAW_SUFFIXES
    from l2tech.calibrate.vignetting import characterise_vignetting

    out = _check_out(settings, flats)
    fits, failed, warnings = [], [], []
    crop_seen, size = None, None
    for p in map(Path, flats):
        try:
            sniff_format(p)  # a missing, empty or non-image file says so before its EXIF is asked for
            focal, fn, dist, crop = _shot_settings(p, settings.focal_length_mm, f_number, focus_distance_m, settings.crop_factor)
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
            if on_error is not None:
                on_error(exc)
        if on_progress is not None:
            on_progress()
    if not fits:
        raise CalibrationError(f"0 usable flat fields of {len(flats)}, 1 needed")
    crop = float(crop_seen or 1.0)
    _write_profile(settings, out, crop, size, vignetting=[vf.calibration for _, vf in fits])
    if settings.report_dir:
        write_report(settings.report_dir, title=f"Vignetting calibration: {settings.lens_name}", vignetting_fits=fits,
                     warnings=warnings, skipped=failed, summary=[("lens", settings.lens_name), ("output", str(out or ""))])
    rows = [{"file": n, "focal_length_mm": v.calibration.focal_length_mm, "f_number": v.calibration.f_number,
             "distance_m": v.calibration.focus_distance_m, **v.calibration.terms, "rms": v.rms} for n, v in fits]
    doc = {"output": str(out) if out else None, "fits": rows, "failed": [list(f) for f in failed], "warnings": warnings}
    return CalibrationResult(out, doc, failed)


def calibrate_tca(
    images: Sequence[str | Path],
    target: str,
    *,
    tca_model: str = "poly3",
    settings: ProfileSettings = ProfileSettings(),
    on_error: ErrorHook | None = None,
) -> CalibrationResult:
    """Fit lateral chromatic aberration (red and blue against green) from board shots.

    Parameters
    ----------
    images : sequence of path
        Photos or videos (every 10th frame) of the target.
    target : str
        Target description, as in :func:`calibrate_distortion`.
    tca_model : {'poly3', 'linear'}
        lensfun TCA model written to the profile (both are fitted and reported).
    settings, on_error
        As in :func:`calibrate_distortion`.

    Returns
    -------
    CalibrationResult
        ``document["focal_lengths"]``: both fits and the RMS before / after, in pixels.

    Raises
    ------
    UsageError, OutputExistsError, CalibrationError
        As :func:`calibrate_distortion`.
    """
    from l2tech.calibrate import parse_target
    from l2tech.calibrate.report import write_report
    from l2tech.calibrate.tca import fit_tca, measure_tca

    board = parse_target(target)
    out = _check_out(settings, images)
    groups, skipped, failed, crop = _group_by_focal(images, 10, settings, on_error, lambda name, img, _skipped: (name, img))
    cals, rows, size, last = [], [], None, None
    for focal in sorted(groups):
        fit = fit_tca(measure_tca(groups[focal], board), focal_length_mm=focal)
        size = fit.samples.image_size
        cals.append(fit.poly3 if tca_model == "poly3" else fit.linear)
        rows.append({"focal_length_mm": focal, "poly3": dict(fit.poly3.terms), "linear": dict(fit.linear.terms),
                     "rms_before_px": fit.rms_before_px, "rms_poly3_px": fit.rms_poly3_px, "rms_linear_px": fit.rms_linear_px,
                     "skipped": [list(d) for d in fit.samples.dropped]})
        last = fit
    if out is not None:
        _write_profile(settings, out, crop, size, tca=cals)
    if settings.report_dir and last is not None:
        write_report(settings.report_dir, title=f"TCA calibration: {settings.lens_name}", tca_fit=last,
                     skipped=skipped + failed + list(last.samples.dropped),
                     summary=[("lens", settings.lens_name), ("output", str(out or ""))])
    doc = {"output": str(out) if out else None, "focal_lengths": rows, "failed": [list(f) for f in failed]}
    return CalibrationResult(out, doc, failed)
