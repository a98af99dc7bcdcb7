"""Gyroflow lens profiles (JSON): read into :class:`LensProfile`, write back.

A Gyroflow profile describes one camera mode: ``calib_dimension {w, h}`` (pixels),
``fisheye_params {camera_matrix 3x3, distortion_coeffs}`` and ``distortion_model`` (absent or
null = ``opencv_fisheye``, i.e. Kannala–Brandt ``k1..k4``; ``opencv_standard`` = the OpenCV
pinhole model ``k1, k2, p1, p2, k3, ...``). Optional ``interpolations`` map focal lengths to
their own ``camera_matrix`` / ``distortion_coeffs`` (zoom lenses), interpolated linearly and
clamped at the ends, as Gyroflow does — by :func:`l2tech.profiles.interpolate.interpolate`
(family ``"linear"``), the one rule for stills and video.

Gyroflow's own rules, followed here:

* unless ``asymmetrical`` is true, the principal point is the calibration frame's centre
  ``(w/2, h/2)`` whatever the stored matrix says (the stored values stay in
  ``extra["stored_principal_point_px"]``);
* ``crop`` divides the focal lengths;
* another frame size of the same aspect ratio rescales the matrix (``calib_dimension``);
* ``input_horizontal_stretch`` / ``input_vertical_stretch`` (anamorphic lenses): the profile
  was calibrated on the recorded frame stretched by them; it is read in recorded pixels
  (``calib_dimension`` and the matrix rows divided by the stretch).

Records (docs/PROFILES.md): each calibration point is ``DistortionCalibration(model=
"kannala_brandt" or "opencv", focal_length_mm, terms={k..., fx, fy, cx, cy})`` with pixels of
the calibration frame; ``extra`` holds ``calib_width_px, calib_height_px`` and the file's
metadata.

References
----------
Gyroflow ``src/core/lens_profile.rs`` (``get_camera_matrix_internal``,
``get_interpolated_lens_at``, ``resolve_interpolations``, ``get_all_matching_profiles``).
"""

from __future__ import annotations

import json
import math
import os
import warnings
from typing import Any, Mapping

import numpy as np

from l2tech.errors import CorruptInputError, EmptyFileError, InvalidProfileError, LimitExceededError
from l2tech.optics import kannala_brandt as _kb, opencv as _cv  # noqa: F401  (register the families)
from l2tech.profiles.model import DistortionCalibration, LensProfile

__all__ = [
    "GyroflowDataWarning",
    "read_gyroflow",
    "readout_for_clip",
    "parse_gyroflow",
    "gyroflow_dict",
    "pixel_model_from_file",
    "load_json_safely",
]

MAX_JSON_BYTES = 16 * 1024 * 1024
MAX_JSON_DEPTH = 32
_KB_NAMES = ("k1", "k2", "k3", "k4")
_CV_NAMES = ("k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6", "s1", "s2", "s3", "s4")
_MODELS = {"opencv_fisheye": "kannala_brandt", "opencv_standard": "opencv"}


def _json_depth_ok(text: str, limit: int) -> int | None:
    """Return the position where nesting exceeds ``limit`` (outside strings), or None."""
    depth = 0
    in_str = False
    esc = False
    for i, ch in enumerate(text):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return i
        elif ch in "]}":
            depth -= 1
    return None


def load_json_safely(path: os.PathLike | str, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Read a JSON file with limits: size, nesting depth, and no NaN/Infinity literals.

    Raises
    ------
    EmptyFileError, LimitExceededError, InvalidProfileError, CorruptInputError
        Empty, too large or too deeply nested, NaN/Infinity present (the JSON standard has no
        such numbers), or not JSON (file and line named).
    """
    from l2tech.io.formats import read_input_bytes

    p = os.fspath(path)
    raw = read_input_bytes(p, max_bytes=max_bytes, what="JSON profile", unreadable=CorruptInputError)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorruptInputError(f"not UTF-8 text (byte {exc.start})", p) from None
    pos = _json_depth_ok(text, max_depth)
    if pos is not None:
        line = text.count("\n", 0, pos) + 1
        raise LimitExceededError(f"JSON nested deeper than {max_depth} levels", p, line)

    def bad_constant(name: str) -> Any:
        raise InvalidProfileError(f"JSON contains {name}, which is not a number; expected finite values", p)

    try:
        return json.loads(text, parse_constant=bad_constant)
    except json.JSONDecodeError as exc:
        raise CorruptInputError(f"invalid JSON: {exc.msg} (column {exc.colno})", p, exc.lineno) from None
    except ValueError as exc:  # an integer past Python's 4300-digit conversion limit
        if isinstance(exc, InvalidProfileError):  # bad_constant's NaN / Infinity
            raise
        raise InvalidProfileError(f"JSON holds a number that is not one a lens can have ({str(exc).split(':')[0]})", p) from None


def _get(obj: Mapping[str, Any], key: str, path: object, where: str = "") -> Any:
    if not isinstance(obj, Mapping) or key not in obj or obj[key] is None:
        raise InvalidProfileError(f"missing field {where}{key}", path)
    return obj[key]


def _num(v: Any, field: str, path: object, *, positive: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InvalidProfileError(f"field {field} must be a number, got {v!r}", path)
    try:
        f = float(v)
    except OverflowError:  # a JSON integer such as 10**400 (str() of one past 4300 digits raises)
        digits = int(abs(v).bit_length() * math.log10(2)) + 1
        raise InvalidProfileError(f"field {field} is an integer of about {digits} digits; expected a finite number", path) from None
    if not math.isfinite(f):
        raise InvalidProfileError(f"field {field} is {f}; expected a finite number", path)
    if positive and f <= 0:
        raise InvalidProfileError(f"field {field} is {f:g}; expected > 0", path)
    return f


def _matrix(m: Any, field: str, path: object) -> list[list[float]]:
    if not (isinstance(m, list) and len(m) == 3 and all(isinstance(r, list) and len(r) == 3 for r in m)):
        raise InvalidProfileError(f"field {field} must be a 3x3 matrix", path)
    return [[_num(m[i][j], f"{field}[{i}][{j}]", path) for j in range(3)] for i in range(3)]


def _point_terms(
    K: list[list[float]], coeffs: Any, model: str, calib: tuple[int, int], asym: bool, crop: float | None,
    field: str, path: object,
) -> dict[str, float]:
    fx, fy = K[0][0], K[1][1]
    for v, name in ((fx, "[0][0] (fx)"), (fy, "[1][1] (fy)")):
        if v <= 0:
            raise InvalidProfileError(f"field {field}.camera_matrix{name} is {v:g}; expected > 0", path)
    if crop:
        fx, fy = fx / crop, fy / crop
    cx, cy = (K[0][2], K[1][2]) if asym else (calib[0] / 2.0, calib[1] / 2.0)
    if not isinstance(coeffs, list):
        raise InvalidProfileError(f"field {field}.distortion_coeffs must be a list", path)
    names = _KB_NAMES if model == "kannala_brandt" else _CV_NAMES
    if len(coeffs) > len(names):
        raise InvalidProfileError(
            f"field {field}.distortion_coeffs has {len(coeffs)} values; {model} takes at most {len(names)}", path
        )
    terms = {n: _num(c, f"{field}.distortion_coeffs[{i}]", path) for i, (n, c) in enumerate(zip(names, coeffs))}
    terms.update(fx=fx, fy=fy, cx=cx, cy=cy)
    return terms


def _lens_type(model: str, terms: Mapping[str, float], calib: tuple[int, int]) -> str:
    """``fisheye`` or ``rectilinear``: what the lens is, not which model Gyroflow fitted.

    Gyroflow fits its default ``opencv_fisheye`` (Kannala-Brandt) model to rectilinear lenses
    too. At the calibration frame's corner the model's normalised radius ``θ_d(θ)`` is compared
    with a rectilinear lens's ``tan θ`` and a fisheye's ``θ`` (equidistant); the nearer one
    names the lens.

    References
    ----------
    J. Kannala, S. Brandt, "A generic camera model and calibration method for conventional,
    wide-angle, and fish-eye lenses", IEEE TPAMI 28(8), 2006 (θ_d polynomial; rectilinear
    r = f tan θ, equidistant r = f θ).
    """
    if model != "kannala_brandt":
        return "rectilinear"
    from l2tech.optics.kannala_brandt import theta_distorted

    fx, fy = float(terms["fx"]), float(terms["fy"])
    rho = math.hypot(calib[0] / 2.0 / fx, calib[1] / 2.0 / fy)  # corner, normalised
    th = np.linspace(0.0, math.pi / 2 * 0.999, 4001)
    with np.errstate(all="ignore"):  # absurd terms (1e308) are refused by validate_profile, named
        td = theta_distorted(th, terms)
        inc = np.concatenate([[True], np.diff(td) > 0]).cumprod().astype(bool)  # before any fold
    th, td = th[inc], td[inc]
    if td[-1] < rho:
        return "fisheye"  # the corner lies beyond 90 degrees: only a fisheye sees it
    theta = float(np.interp(rho, td, th))
    return "rectilinear" if abs(rho - math.tan(theta)) < abs(rho - theta) else "fisheye"


#: Largest input stretch taken: anamorphic lenses squeeze 1.33–2×; 1e308 divided the
#: calibration frame to zero pixels (an unexpected ZeroDivisionError).
MAX_STRETCH = 10.0


def _stretch(data: Mapping[str, Any], key: str, path: object) -> float:
    """Gyroflow's input stretch: absent, null or ≤ 0.01 means 1 (as Gyroflow reads it)."""
    v = data.get(key)
    if v is None:
        return 1.0
    v = _num(v, key, path)
    if v > MAX_STRETCH:
        raise InvalidProfileError(f"field {key} is {v:g}; expected at most {MAX_STRETCH:g} "
                                  "(anamorphic lenses squeeze 1.33-2x)", path)
    return v if v > 0.01 else 1.0


def parse_gyroflow(data: Mapping[str, Any], path: object = None) -> LensProfile:
    """A parsed Gyroflow JSON document as a :class:`LensProfile`.

    Parameters
    ----------
    data : Mapping
        The JSON object: a lens profile, or a Gyroflow project (``.gyroflow``), whose
        ``calibration_data`` object is one.
    path : str, optional
        File name for messages and ``source``.

    Returns
    -------
    LensProfile

    Raises
    ------
    InvalidProfileError
        Missing field, non-finite number, zero/negative focal length or size, unsupported
        ``distortion_model`` (the field is named).
    """
    if not isinstance(data, Mapping):
        raise InvalidProfileError("expected a JSON object at the top level", path)
    if "calib_dimension" not in data and isinstance(data.get("calibration_data"), Mapping):
        # a Gyroflow project (.gyroflow): its lens profile is the calibration_data object
        data = data["calibration_data"]
    dim = _get(data, "calib_dimension", path)
    w = _num(_get(dim, "w", path, "calib_dimension."), "calib_dimension.w", path, positive=True)
    h = _num(_get(dim, "h", path, "calib_dimension."), "calib_dimension.h", path, positive=True)
    calib = (int(w), int(h))
    fp = _get(data, "fisheye_params", path)
    K = _matrix(_get(fp, "camera_matrix", path, "fisheye_params."), "fisheye_params.camera_matrix", path)
    coeffs = _get(fp, "distortion_coeffs", path, "fisheye_params.")
    dm = data.get("distortion_model") or ("opencv_standard" if data.get("use_opencv_standard") else "opencv_fisheye")
    if dm not in _MODELS:
        raise InvalidProfileError(
            f"field distortion_model is {dm!r}; supported: {', '.join(_MODELS)} (others are Gyroflow-specific)", path
        )
    model = _MODELS[dm]
    asym = bool(data.get("asymmetrical", False))
    crop = data.get("crop")
    crop = _num(crop, "crop", path, positive=True) if crop is not None else None
    focal = data.get("focal_length")
    focal = _num(focal, "focal_length", path, positive=True) if focal is not None else 0.0
    points: list[DistortionCalibration] = []
    interp = data.get("interpolations")
    if interp:
        if not isinstance(interp, Mapping):
            raise InvalidProfileError("field interpolations must be an object keyed by focal length", path)
        for key, v in interp.items():
            try:
                f_key = float(key)
            except ValueError:
                raise InvalidProfileError(f"field interpolations key {key!r} is not a focal length", path) from None
            if not (math.isfinite(f_key) and f_key > 0):
                raise InvalidProfileError(f"field interpolations key {key!r} is not a positive focal length", path)
            if not isinstance(v, Mapping):
                raise InvalidProfileError(f"field interpolations[{key}] must be an object", path)
            # an entry holds the point's camera matrix and coefficients flat, or (as a whole
            # profile does) under fisheye_params; one with neither would silently repeat the
            # base calibration at this focal length, so it is refused
            if isinstance(v.get("fisheye_params"), Mapping):
                v = v["fisheye_params"]
            if "camera_matrix" not in v and "distortion_coeffs" not in v:
                raise InvalidProfileError(f"field interpolations[{key}] holds no camera_matrix or distortion_coeffs "
                                          "(flat or under fisheye_params)", path)
            Ki = [row[:] for row in K]
            if "camera_matrix" in v:
                Ki = _matrix(v["camera_matrix"], f"interpolations[{key}].camera_matrix", path)
            ci = v.get("distortion_coeffs", coeffs)
            t = _point_terms(Ki, ci, model, calib, asym, crop, f"interpolations[{key}]", path)
            points.append(DistortionCalibration(model, f_key, t))
        points.sort(key=lambda c: c.focal_length_mm)
    else:
        points.append(DistortionCalibration(model, focal, _point_terms(K, coeffs, model, calib, asym, crop, "fisheye_params", path)))
    # input_horizontal/vertical_stretch (anamorphic lenses, squeezed modes): the calibration
    # frame is the recorded frame stretched by these factors, so the recorded frame is
    # calib_dimension / stretch and the matrix's rows scale with it (Gyroflow
    # src/core/lens_profile.rs, get_all_matching_profiles: aspect = (w / hs) / (h / vs))
    hs = _stretch(data, "input_horizontal_stretch", path)
    vs = _stretch(data, "input_vertical_stretch", path)
    if (hs, vs) != (1.0, 1.0):
        calib = (int(round(w / hs)), int(round(h / vs)))
        points = [DistortionCalibration(c.model, c.focal_length_mm, {**c.terms, "fx": c.terms["fx"] / hs, "cx": c.terms["cx"] / hs,
                                                                      "fy": c.terms["fy"] / vs, "cy": c.terms["cy"] / vs})
                  for c in points]
        K = [[K[0][0] / hs, K[0][1] / hs, K[0][2] / hs], [K[1][0] / vs, K[1][1] / vs, K[1][2] / vs], K[2]]
    brand = str(data.get("camera_brand") or "")
    cam = str(data.get("camera_model") or "")
    lens = str(data.get("lens_model") or "")
    fmin = points[0].focal_length_mm
    fmax = points[-1].focal_length_mm
    extra: dict[str, object] = {
        "format": "gyroflow",
        "calib_width_px": calib[0],
        "calib_height_px": calib[1],
        "camera_maker": brand,
        "camera_model": cam,
        "interpolation": "linear",
        "stored_principal_point_px": (K[0][2], K[1][2]),
        "asymmetrical": asym,
        "input_stretch": (hs, vs),
    }
    for k in ("identifier", "fps", "frame_readout_time", "name", "note", "camera_setting", "calibrator_version"):
        if data.get(k) in (None, ""):
            continue
        if k in _TIMING_RANGES and not _in_range(data[k], *_TIMING_RANGES[k][:2]):
            lo, hi, unit = _TIMING_RANGES[k]
            warnings.warn(f"{path if path is not None else 'gyroflow profile'}: {k} {data[k]!r} is not one a camera "
                          f"records ({lo:g} up to {hi:g} {unit}); left out", GyroflowDataWarning, stacklevel=2)
            continue
        extra[k] = data[k]
    if data.get("fisheye_params", {}).get("RMS_error") is not None:
        extra["rms_error_px"] = data["fisheye_params"]["RMS_error"]
    modes = _readout_modes(data)
    if modes:
        extra["readout_modes"] = modes
    cf = data.get("crop_factor")
    return LensProfile(
        maker=brand,
        model=" ".join(x for x in (cam, lens) if x).strip() or str(data.get("name") or "unnamed"),
        crop_factor=_num(cf, "crop_factor", path, positive=True) if cf is not None else 1.0,
        aspect_ratio=max(calib) / min(calib),
        lens_type=_lens_type(model, points[0].terms, calib),
        focal_min_mm=fmin,
        focal_max_mm=fmax,
        distortion=tuple(points),
        source=f"gyroflow:{path}" if path is not None else "gyroflow",
        aliases=tuple(x for x in (str(data.get("name") or ""),) if x),
        extra=extra,
    )


class GyroflowDataWarning(UserWarning):
    """A value of a Gyroflow profile's metadata is out of range and was left out."""


#: Ranges ``[lo, hi)`` of a profile's timing metadata: ``fps`` of any recording mode, and
#: ``frame_readout_time`` (ms, first to last row; a rolling-shutter readout is shorter than
#: one frame, and no camera records below 1 fps). 0 is how profiles say "not measured". A
#: value outside (``1e308``) is left out with a warning; the rolling-shutter correction
#: (:func:`readout_for_clip`) never used it (it takes 0 < readout < 1000 ms only).
_TIMING_RANGES = {"fps": (0.0, 10000.0, "fps"), "frame_readout_time": (0.0, 1000.0, "ms")}


def _in_range(v: Any, lo: float, hi: float) -> bool:
    f = _finite_number(v)
    return f is not None and lo <= f < hi


def _finite_number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:
        return None
    return f if math.isfinite(f) else None


def _readout_modes(data: Mapping[str, Any]) -> tuple:
    """``(width, height, fps, readout_ms)`` of the recording modes whose rolling-shutter readout
    the profile states: its own (``calib_dimension``, ``fps``, ``frame_readout_time``) first, then
    each ``compatible_settings`` entry. Entries without a usable number are left out (a profile
    is not refused for them: they are metadata)."""
    out = []
    dim = data.get("calib_dimension") if isinstance(data.get("calib_dimension"), Mapping) else {}
    entries = [(dim.get("w"), dim.get("h"), data.get("fps"), data.get("frame_readout_time"))]
    for e in data.get("compatible_settings") or ():
        if isinstance(e, Mapping):
            entries.append((e.get("width"), e.get("height"), e.get("fps"), e.get("frame_readout_time")))
    for w, h, fps, ro in entries:
        w, h, fps, ro = (_finite_number(x) for x in (w, h, fps, ro))
        if None in (w, h, fps, ro) or not (w > 0 and h > 0 and fps > 0 and 0 < ro < 1000):
            continue
        out.append((int(w), int(h), fps, ro))
    return tuple(out)


def readout_for_clip(profile: LensProfile, width: int, height: int, fps: float) -> tuple[float, str] | None:
    """The rolling-shutter readout (first to last row, ms) a Gyroflow profile states for a
    clip's recording mode, and how it was chosen; ``None`` when it does not say or the mode is
    ambiguous.

    A mode matches at the same frame rate (within 0.5 %) and aspect ratio (within 1 %): the
    one of the clip's size when listed, else the only one left. A downscaled clip whose aspect
    and rate fit several modes with different readouts (e.g. GoPro 1080p, 2.7K and 4K SuperView
    at 29.97 fps: 29.4, 26.7 and 11.1 ms) gets ``None``: the readout is a property of the mode
    the camera recorded, which the pixels of the clip no longer tell.

    Parameters
    ----------
    profile : LensProfile
        From :func:`parse_gyroflow` (``extra["readout_modes"]``).
    width, height : int
        The clip's frame size, pixels.
    fps : float
        The clip's frame rate.

    References
    ----------
    Gyroflow lens profiles: ``frame_readout_time`` and ``compatible_settings`` (Gyroflow
    ``src/core/lens_profile.rs``); Gyroflow takes a profile's readout when it loads it
    (``load_video_file``).
    """
    modes = profile.extra.get("readout_modes") or ()
    if not (width > 0 and height > 0 and fps > 0):
        return None
    aspect = width / height
    fit = [m for m in modes if abs(m[2] - fps) <= 0.005 * fps and abs(m[0] / m[1] - aspect) <= 0.01 * aspect]
    same = [m for m in fit if (m[0], m[1]) == (width, height)]
    pick = same or fit
    if not pick or max(m[3] for m in pick) - min(m[3] for m in pick) > 0.05:
        return None
    m = pick[0]
    return m[3], f"{m[0]}x{m[1]} at {m[2]:g} fps"


def read_gyroflow(path: os.PathLike | str) -> LensProfile:
    """Read a Gyroflow lens profile JSON file.

    Parameters
    ----------
    path : str or PathLike
        A Gyroflow lens profile (``.json``), or a Gyroflow project (``.gyroflow``), whose
        ``calibration_data`` is read.

    Returns
    -------
    LensProfile

    Raises
    ------
    EmptyFileError, LimitExceededError, CorruptInputError, InvalidProfileError
        See :func:`load_json_safely` and :func:`parse_gyroflow`.
    """
    p = os.fspath(path)
    return parse_gyroflow(load_json_safely(p), p)


def pixel_model_from_file(path: os.PathLike | str, focal_length_mm: float | None = None):
    """A Gyroflow profile as plain numbers for the video pipeline.

    The coefficients come from :func:`l2tech.profiles.interpolate.interpolate` (Gyroflow's
    linear rule), the same call the stills pipeline makes, so a frame and a still at one focal
    length get the same camera matrix and terms.

    Parameters
    ----------
    path : str or PathLike
        Gyroflow JSON.
    focal_length_mm : float, optional
        Focal length of the clip, mm; ``None`` takes the first (shortest) calibration point.

    Returns
    -------
    tuple
        ``(model, K, terms, calib_size, name)``: ``model`` is ``"opencv_fisheye"``
        (Kannala–Brandt ``k1..k4``) or ``"opencv"``; ``K`` the 3x3 camera matrix at
        ``calib_size = (w, h)`` pixels (principal point per Gyroflow's rule); ``terms`` the
        distortion coefficients by name; ``name`` the profile's display name.

    Raises
    ------
    EmptyFileError, LimitExceededError, CorruptInputError, InvalidProfileError
        As :func:`read_gyroflow`.
    UsageError
        ``focal_length_mm`` not a positive number.
    """
    from l2tech.profiles.interpolate import interpolate

    from l2tech.profiles.validate import validate_profile

    prof = validate_profile(read_gyroflow(path), path)
    if focal_length_mm is None:
        focal_length_mm = min(c.focal_length_mm for c in prof.distortion) or 1.0  # no focal given: any value picks a prime's point
    cal = interpolate(prof, focal_length_mm).distortion
    t = dict(cal.terms)
    K = np.array([[t.pop("fx"), 0.0, t.pop("cx")], [0.0, t.pop("fy"), t.pop("cy")], [0.0, 0.0, 1.0]])
    model = "opencv_fisheye" if cal.model == "kannala_brandt" else "opencv"
    size = (int(prof.extra["calib_width_px"]), int(prof.extra["calib_height_px"]))
    return model, K, t, size, prof.extra.get("name") or prof.name


def gyroflow_dict(profile: LensProfile, *, calibrated_by: str = "l2tech") -> dict[str, Any]:
    """A :class:`LensProfile` of the ``kannala_brandt`` or ``opencv`` family as a Gyroflow document.

    Parameters
    ----------
    profile : LensProfile
        Pixel-model profile (``extra`` must give ``calib_width_px, calib_height_px``).
    calibrated_by : str
        Written to ``calibrated_by``.

    Returns
    -------
    dict
        JSON-ready; several focal lengths become ``interpolations``. ``asymmetrical`` is true
        whenever the principal point is off the frame centre, so Gyroflow keeps it.

    Raises
    ------
    InvalidProfileError
        Another model family (convert it first: :func:`l2tech.profiles.convert.to_pixel_model`),
        or no calibration size.
    """
    pts = sorted(profile.distortion, key=lambda c: c.focal_length_mm)
    if not pts or pts[0].model not in ("kannala_brandt", "opencv"):
        raise InvalidProfileError(
            f"Gyroflow JSON holds the kannala_brandt or opencv model; profile {profile.name!r} has "
            f"{pts[0].model if pts else 'no distortion'}"
        )
    w, h = profile.extra.get("calib_width_px"), profile.extra.get("calib_height_px")
    if not (w and h):
        raise InvalidProfileError(f"profile {profile.name!r} has no calibration size (calib_width_px/calib_height_px)")
    model = pts[0].model
    names = _KB_NAMES if model == "kannala_brandt" else _CV_NAMES

    def params(c: DistortionCalibration) -> tuple[list[list[float]], list[float]]:
        t = c.terms
        K = [[float(t["fx"]), 0.0, float(t["cx"])], [0.0, float(t["fy"]), float(t["cy"])], [0.0, 0.0, 1.0]]
        n = len(names)
        while n > 4 and float(t.get(names[n - 1], 0.0)) == 0.0:
            n -= 1
        return K, [float(t.get(k, 0.0)) for k in names[:n]]

    K0, D0 = params(pts[0])
    asym = any(abs(float(c.terms["cx"]) - w / 2) > 1e-9 or abs(float(c.terms["cy"]) - h / 2) > 1e-9 for c in pts)
    doc: dict[str, Any] = {
        "name": profile.name,
        "note": "",
        "calibrated_by": calibrated_by,
        "camera_brand": str(profile.extra.get("camera_maker", profile.maker)),
        "camera_model": str(profile.extra.get("camera_model", "")),
        "lens_model": profile.model,
        "camera_setting": "",
        "calib_dimension": {"w": int(w), "h": int(h)},
        "orig_dimension": {"w": int(w), "h": int(h)},
        "output_dimension": {"w": int(w), "h": int(h)},
        "frame_readout_time": profile.extra.get("frame_readout_time"),
        "input_horizontal_stretch": 1.0,
        "input_vertical_stretch": 1.0,
        "num_images": 0,
        "fps": float(profile.extra.get("fps", 0.0) or 0.0),
        "official": False,
        "asymmetrical": bool(asym),
        "fisheye_params": {"RMS_error": float(profile.extra.get("rms_error_px", 0.0) or 0.0),
                           "camera_matrix": K0, "distortion_coeffs": D0, "radial_distortion_limit": None},
        "identifier": str(profile.extra.get("identifier", "")),
        "calibrator_version": "l2tech",
        "date": "",
        "compatible_settings": [],
        "distortion_model": "opencv_fisheye" if model == "kannala_brandt" else "opencv_standard",
        "focal_length": pts[0].focal_length_mm or None,
        "crop_factor": profile.crop_factor,
        "interpolations": None,
    }
    if len(pts) > 1:
        doc["interpolations"] = {
            f"{c.focal_length_mm:g}": dict(zip(("camera_matrix", "distortion_coeffs"), params(c)), focal_length=c.focal_length_mm)
            for c in pts
        }
    return doc
