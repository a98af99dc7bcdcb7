"""Convert any :class:`LensProfile` to lensfun XML (fitting a lensfun model) or to Gyroflow JSON.

lensfun export
--------------
lensfun has its own distortion models (``poly3``, ``poly5``, ``ptlens``; radius in Hugin units,
r = 1 at half the short side) and no tangential terms. A profile of another family is converted
per calibration point, for one frame size:

1. the profile's correction map is sampled through the geometry registry
   (:mod:`l2tech.optics.compose`), on a grid of output pixels over the whole frame;
2. output and source points are put in lensfun's normalised units about the lens centre
   (written as ``<center>`` when it is off the frame centre); for a fisheye family the output
   radius is first taken through lensfun's fisheye→rectilinear geometry (``r_f = f·atan(r/f)``),
   with the focal length written so that lensfun's focal in pixels equals the profile's;
3. ``r_d − r_u`` is fitted for ``poly5`` (``k1 r³ + k2 r⁵``) and ``ptlens``
   (``a (r⁴−r) + b (r³−r) + c (r²−r)``) minimising the largest radial error (a linear programme;
   3–4× smaller largest residual than least squares on the shared Gyroflow profiles), and the
   model with the smaller largest residual is kept (or the one asked for);
4. the residual is reported in pixels (largest and RMS over the grid): it is zero up to
   rounding when the profile is representable (Kannala–Brandt with ``k1, k2`` only, OpenCV
   with ``k1, k2`` only), and otherwise says how far lensfun's map will be from ours.

lensfun has one ``<center>`` per ``<lens>``: when the calibration points' lens centres differ by
more than :data:`CENTER_TOLERANCE_PX` (0.5 px of the fit frame; a Gyroflow zoom profile with
``asymmetrical`` true has a principal point per focal length), each point is written as its own
``<lens>`` named ``"<model> (<focal>mm)"`` with its own centre (:func:`to_lensfun_entries`).

The lens written has ``aspect_ratio`` = the frame's (between pixel centres, ``(W−1)/(H−1)``, as
lensfun 0.3.x measures it) and ``crop_factor`` = the profile's, so lensfun's coordinate
correction is exactly 1 on that frame and its normalisation equals ours.

References
----------
lensfun ``docs/manual-dbformat.txt``, ``libs/lensfun/mod-coord.cpp`` (distortion models,
``ModifyCoord_Geom_FishEye_Rect``), ``modifier.cpp`` (normalisation, ``NormalizedInMillimeters``);
Gyroflow ``src/core/lens_profile.rs``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from l2tech.errors import InvalidProfileError, OutputError, UsageError
from l2tech.profiles.model import DistortionCalibration, LensCalibration, LensProfile

__all__ = ["FitReport", "CENTER_TOLERANCE_PX", "to_lensfun", "to_lensfun_entries", "write_lensfun", "to_pixel_model",
           "write_gyroflow", "LENSFUN_FAMILIES"]

LENSFUN_FAMILIES = ("poly3", "poly5", "ptlens")
_HALF_DIAG_MM = math.hypot(36.0, 24.0) / 2.0
_FISHEYE_FAMILIES = ("kannala_brandt", "adobe_fisheye", "dng_warp_fisheye")


def _points_to_convert(profile: LensProfile) -> list[DistortionCalibration]:
    """One distortion point per calibrated focal length, taken through the family's
    :func:`~l2tech.profiles.interpolate.interpolate` at infinity focus (an LCP holds several
    focus distances and apertures per focal length; lensfun and Gyroflow key by focal only).
    Points without a focal length (OpenCV calibrations) are kept as they are."""
    from l2tech.profiles.interpolate import interpolate

    focals = sorted({float(d.focal_length_mm) for d in profile.distortion})
    if any(f <= 0 for f in focals):
        return list(profile.distortion)
    return [interpolate(profile, f).distortion for f in focals]  # type: ignore[misc]


@dataclass(frozen=True)
class FitReport:
    """How well a converted profile reproduces the original.

    Attributes
    ----------
    model : str
        lensfun model written.
    width, height : int
        Frame size the fit was made for (pixels).
    residual_max_px, residual_rms_px : float
        Largest and RMS distance between the lensfun model's source points and the original
        profile's, over the frame grid, in pixels (all calibration points).
    per_focal : tuple of (float, float, float)
        ``(focal_length_mm, max_px, rms_px)`` per calibration point.
    entries : tuple of str
        The lensfun ``<lens>`` models written (:func:`write_lensfun`): one, or one per focal
        point when their lens centres differ (:func:`to_lensfun_entries`).
    center_spread_px : float
        Largest distance between the calibration points' lens centres on the fit frame, pixels.
    """

    model: str
    width: int
    height: int
    residual_max_px: float
    residual_rms_px: float
    per_focal: tuple[tuple[float, float, float], ...]
    entries: tuple[str, ...] = ()
    center_spread_px: float = 0.0


def _import_families() -> None:
    # importing the family modules registers their builders in GEOMETRY_MODELS
    from l2tech.optics import adobe, dng, kannala_brandt, opencv  # noqa: F401


def _frame_size(profile: LensProfile, width: int | None, height: int | None) -> tuple[int, int]:
    if width and height:
        return int(width), int(height)
    w, h = profile.extra.get("calib_width_px"), profile.extra.get("calib_height_px")
    if w and h:
        return int(w), int(h)
    raise UsageError(f"profile {profile.name!r} has no calibration size; give the frame width and height")


def _lens_focal_px(cal: DistortionCalibration, K_fx: float | None, width: int, height: int) -> float | None:
    if K_fx is not None:
        return K_fx
    return None


def _ls(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    coef, *_ = np.linalg.lstsq(A, b, rcond=None)
    return coef


def _minimax(A: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Coefficients minimising ``max |A k − b|`` (a linear programme, HiGHS); least squares if it fails."""
    from scipy.optimize import linprog

    n = A.shape[1]
    one = np.ones((len(b), 1))
    res = linprog(
        np.r_[np.zeros(n), 1.0],
        A_ub=np.block([[A, -one], [-A, -one]]),
        b_ub=np.r_[b, -b],
        bounds=[(None, None)] * n + [(0, None)],
        method="highs",
    )
    return res.x[:n] if res.success else _ls(A, b)


def _fit_point(
    profile: LensProfile, cal: DistortionCalibration, width: int, height: int, family: str | None, step: int
) -> tuple[str, dict[str, float], float, float, float, float, float]:
    """Fit one calibration point; returns (model, terms, focal_mm, center_x, center_y, max_px, rms_px)."""
    from l2tech.optics.compose import GeometryRequest, geometry_model

    _import_families()
    lcal = LensCalibration(profile, cal.focal_length_mm, None, None, cal, None, None)
    warp = geometry_model(cal.model)(GeometryRequest(lcal, width, height, profile.crop_factor, True, False))
    geo = warp.geometric or warp.apply
    xs = np.arange(0, width, step, dtype=np.float64)
    ys = np.arange(0, height, step, dtype=np.float64)
    xs = np.unique(np.append(xs, width - 1.0))
    ys = np.unique(np.append(ys, height - 1.0))
    gx, gy = np.meshgrid(xs, ys)
    sx, sy = geo(gx, gy)
    ok = np.isfinite(sx) & np.isfinite(sy)
    if ok.mean() < 0.5:
        raise InvalidProfileError(f"profile {profile.name!r}: its map is undefined over most of a {width}x{height} frame")
    # lensfun normalisation for this frame with aspect = frame's, crop = profile's: Hugin units
    # u per pixel = 2 / (min(W, H) - 1) (lensfun 0.3.x measures the frame between pixel centres)
    size = min(width, height) - 1.0
    ns = 2.0 / size
    cx, cy = warp.center_px
    center_x = (cx - (width - 1) / 2.0) * ns
    center_y = (cy - (height - 1) / 2.0) * ns
    ro = np.hypot(gx - cx, gy - cy) * ns
    rs = np.hypot(sx - cx, sy - cy) * ns
    # a fisheye-family model fitted to a rectilinear lens (Gyroflow's default model) is fitted
    # as the rectilinear lens it is
    fisheye = cal.model in _FISHEYE_FAMILIES and profile.lens_type != "rectilinear"
    if fisheye:
        fpx = float(cal.terms.get("fx", 0.0)) or float(getattr(warp, "extra", {}).get("focal_px", 0.0))
        if cal.model == "adobe_fisheye":
            fpx = float(cal.terms["FocalLengthX"]) * max(width, height)
        elif cal.model == "dng_warp_fisheye":
            from l2tech.optics.dng import dng_center_and_radius

            fpx = dng_center_and_radius(width, height, cal.terms.get("cx", 0.5), cal.terms.get("cy", 0.5))[2]
        elif "fx" in cal.terms:
            from l2tech.optics.opencv import pixel_model_K

            fpx = float(pixel_model_K(lcal, width, height)[0, 0])
        f_n = fpx * ns
        ru = f_n * np.arctan(ro / f_n)
    else:
        fpx = None
        ru = ro
    ru, rs_ok = ru[ok], rs[ok]
    w_ = ru > 1e-9
    ru, rd = ru[w_], rs_ok[w_]
    dr = rd - ru
    fits: dict[str, dict[str, float]] = {}
    if family in (None, "poly5"):
        k = _minimax(np.stack([ru**3, ru**5], 1), dr)
        fits["poly5"] = {"k1": float(k[0]), "k2": float(k[1])}
    if family in (None, "ptlens"):
        k = _minimax(np.stack([ru**4 - ru, ru**3 - ru, ru**2 - ru], 1), dr)
        fits["ptlens"] = {"a": float(k[0]), "b": float(k[1]), "c": float(k[2])}
    if family == "poly3":
        k = _minimax((ru**3 - ru)[:, None], dr)
        fits["poly3"] = {"k1": float(k[0])}
    from l2tech.optics.lensfun import distortion_factor

    # evaluate each fitted model on the full grid (2-D: the original's tangential part is the residual)
    ang_x = np.where(ro > 0, (gx - cx) / np.where(ro > 0, ro / ns, 1.0), 0.0)
    ang_y = np.where(ro > 0, (gy - cy) / np.where(ro > 0, ro / ns, 1.0), 0.0)
    ru_full = (ro if not fisheye else f_n * np.arctan(ro / f_n))
    best = None
    for name, terms in fits.items():
        rd_fit = ru_full * distortion_factor(name, terms, ru_full * ru_full)
        px = cx + ang_x * rd_fit / ns
        py = cy + ang_y * rd_fit / ns
        e = np.hypot(px - sx, py - sy)[ok]
        cand = (float(e.max()), float(np.sqrt((e**2).mean())), name, terms)
        if best is None or cand[0] < best[0]:
            best = cand
    assert best is not None
    emax, erms, name, terms = best
    # focal length lensfun must be given so that its focal in pixels equals ours (fisheye), else
    # the label of the calibration point (or a nominal value derived from the frame)
    half_diag_px = math.hypot(width - 1.0, height - 1.0) / 2.0
    if fisheye:
        focal_mm = fpx * (_HALF_DIAG_MM / profile.crop_factor) / half_diag_px
    else:
        focal_mm = cal.focal_length_mm if cal.focal_length_mm > 0 else 0.0
    return name, terms, focal_mm, center_x, center_y, emax, erms


def _fit_pixel_model(x, y, xd, yd, fisheye: bool):
    """Fit ``x_d = s · D(x)`` (D the OpenCV or Kannala–Brandt model, leading coefficient 1).

    Linear least squares in ``(s, s·k1, ..., s·p1, s·p2)``. Returns ``(s, terms, qx, qy)`` with the
    fitted points ``(qx, qy)`` (normalised like ``x_d``).
    """
    if fisheye:
        th = np.hypot(x, y)  # equidistant output (lensfun keeps a fisheye lens's projection)
        rd = np.hypot(xd, yd)
        a = _ls(np.stack([th, th**3, th**5, th**7, th**9], 1), rd)
        s = float(a[0])
        terms = dict(k1=float(a[1] / s), k2=float(a[2] / s), k3=float(a[3] / s), k4=float(a[4] / s))
        rf = th * (a[0] + a[1] * th**2 + a[2] * th**4 + a[3] * th**6 + a[4] * th**8)
        with np.errstate(invalid="ignore", divide="ignore"):
            g = np.where(th > 0, rf / np.where(th > 0, th, 1.0), s)
        return s, terms, x * g, y * g
    from l2tech.optics.opencv import distort_normalized_opencv

    r2 = x * x + y * y
    Ax = np.stack([x, x * r2, x * r2**2, x * r2**3, 2 * x * y, r2 + 2 * x * x], 1)
    Ay = np.stack([y, y * r2, y * r2**2, y * r2**3, r2 + 2 * y * y, 2 * x * y], 1)
    a = _ls(np.concatenate([Ax, Ay]), np.concatenate([xd, yd]))
    s = float(a[0])
    terms = dict(k1=float(a[1] / s), k2=float(a[2] / s), k3=float(a[3] / s), p1=float(a[4] / s), p2=float(a[5] / s))
    q = distort_normalized_opencv(np.stack([x, y], -1), terms) * s
    return s, terms, q[:, 0], q[:, 1]

#: Largest distance (pixels of the fit frame) between the calibration points' lens centres for
#: which one lensfun ``<lens>`` (one ``<center>``) still holds them all.
CENTER_TOLERANCE_PX = 0.5


def to_lensfun_entries(
    profile: LensProfile,
    width: int | None = None,
    height: int | None = None,
    *,
    model: str | None = None,
    mount: str = "Generic",
    step: int = 8,
    center_tolerance_px: float = CENTER_TOLERANCE_PX,
) -> tuple[tuple[LensProfile, ...], FitReport]:
    """The lensfun ``<lens>`` entries that hold any profile, fitted for a frame size, with the fit residual.

    lensfun has one ``<center>`` per ``<lens>``. When the calibration points' lens centres
    (e.g. a Gyroflow zoom profile with ``asymmetrical`` true and a principal point per focal
    length in ``interpolations``) lie within ``center_tolerance_px`` of each other on the fit
    frame, one entry holds every point, with the first point's centre. Otherwise each point
    becomes its own entry, named ``"<model> (<focal>mm)"``, with its own ``<center>`` and its
    one distortion point; every entry keeps the lens's whole focal range (``<focal min max>``).
    Checked with lensfunpy 1.18 / lensfun 0.3.4: two entries of the same maker and model are one
    lens to lensfun (the last one read wins), so the names must differ; and ``FindLenses`` drops
    an entry whose focal range does not hold the range it reads from the name searched for
    (``"… 20-60mm …"``), so a ``<focal value="20"/>`` entry would be found neither by the zoom's
    name nor by its own, whereas with the lens's range the zoom's name finds every entry (equal
    scores: the user picks the focal) and each entry's name finds that entry. lensfun then applies
    the entry's point at any focal length (its nearest, and only, calibration).

    Parameters
    ----------
    profile : LensProfile
        Any family registered in :mod:`l2tech.optics.compose` (lensfun profiles are returned
        unchanged, residual 0).
    width, height : int, optional
        Frame size in pixels (default: the profile's calibration size).
    model : {"poly3", "poly5", "ptlens"}, optional
        lensfun model to fit (default: the better of poly5 and ptlens).
    mount : str
        Mount written (lensfun needs one).
    step : int
        Grid spacing of the fit and of the residual, pixels.
    center_tolerance_px : float
        Largest spread of the lens centres (pixels of the fit frame) kept in one entry.

    Returns
    -------
    (tuple of LensProfile, FitReport)
        One entry, or one per calibration point (in focal order); each entry's ``extra`` has
        ``center_spread_px`` (largest distance between the points' centres), and a per-point
        entry ``focal_point_mm``. The residual of each point is measured about its own centre.

    Raises
    ------
    UsageError
        Unknown ``model``, or no frame size.
    InvalidProfileError
        The profile's map is undefined over the frame, or it has no distortion.

    References
    ----------
    lensfun ``docs/manual-dbformat.txt`` (``<center>``, ``<focal>``), ``libs/lensfun/database.cpp``
    (``lfDatabase::FindLenses``), ``libs/lensfun/lens.cpp`` (``lfLens::GuessParameters``,
    ``MatchScore``); Gyroflow ``src/core/lens_profile.rs`` (``asymmetrical``, ``interpolations``).
    """
    if model is not None and model not in LENSFUN_FAMILIES:
        raise UsageError(f"unknown lensfun model {model!r}; valid: {', '.join(LENSFUN_FAMILIES)}")
    if profile.distortion and all(d.model in LENSFUN_FAMILIES for d in profile.distortion):
        w, h = (int(width or 0), int(height or 0))
        lens = profile if profile.mounts else replace(profile, mounts=(mount,))
        return (lens,), FitReport(profile.distortion[0].model, w, h, 0.0, 0.0, tuple((d.focal_length_mm, 0.0, 0.0) for d in profile.distortion))
    if not profile.distortion:
        raise InvalidProfileError(f"profile {profile.name!r} has no distortion calibration to convert")
    W, H = _frame_size(profile, width, height)
    source_points = _points_to_convert(profile)
    fits = [_fit_point(profile, d, W, H, model, step) for d in source_points]
    if model is None:  # one model for all points (lensfun uses the first model met)
        names = [f[0] for f in fits]
        if len(set(names)) > 1:
            worst = {n: max(f[5] for f in [_fit_point(profile, d, W, H, n, step) for d in source_points]) for n in set(names)}
            chosen = min(worst, key=worst.get)
            fits = [_fit_point(profile, d, W, H, chosen, step) for d in source_points]
    dists, per = [], []
    for d, (name, terms, focal_mm, _, _, emax, erms) in zip(source_points, fits):
        if focal_mm <= 0:
            focal_mm = 1.0  # lensfun needs a focal length; a rectilinear fit does not depend on it
        dists.append(DistortionCalibration(name, float(focal_mm), terms))
        per.append((float(focal_mm), emax, erms))
    # centres in Hugin units (1 = half the short side between pixel centres) -> pixels
    px_per_unit = (min(W, H) - 1.0) / 2.0
    centres = [(f[3], f[4]) for f in fits]
    spread = max(math.hypot(a[0] - b[0], a[1] - b[1]) for a in centres for b in centres) * px_per_unit
    lens_type = "fisheye" if profile.distortion[0].model in _FISHEYE_FAMILIES and profile.lens_type != "rectilinear" else "rectilinear"
    fmin = min(d.focal_length_mm for d in dists)
    fmax = max(d.focal_length_mm for d in dists)
    base_model = profile.model or "converted lens"

    def entry(lens_model: str, cx: float, cy: float, points: tuple[DistortionCalibration, ...], extra: dict) -> LensProfile:
        return LensProfile(
            maker=profile.maker or "Unknown",
            model=lens_model,
            mounts=(mount,),
            crop_factor=profile.crop_factor,
            aspect_ratio=max(W - 1, H - 1) / min(W - 1, H - 1),  # lensfun 0.3.x: pixel-centre span
            center_x=cx if abs(cx) > 1e-9 else 0.0,
            center_y=cy if abs(cy) > 1e-9 else 0.0,
            lens_type=lens_type,
            focal_min_mm=fmin,
            focal_max_mm=fmax,
            distortion=points,
            source=f"converted:{profile.source}",
            extra={"converted_from": profile.source, "fit_frame_px": (W, H), "center_spread_px": spread, **extra},
        )

    if len(fits) == 1 or spread <= center_tolerance_px:
        lenses: tuple[LensProfile, ...] = (entry(base_model, centres[0][0], centres[0][1], tuple(dists), {}),)
    else:
        labels = [d.focal_length_mm if d.focal_length_mm > 0 else c.focal_length_mm for d, c in zip(source_points, dists)]
        names = [f"{base_model} ({f:g}mm)" for f in labels]
        if len(set(names)) < len(names):  # points without distinct focal lengths: number them
            names = [f"{n} #{i + 1}" for i, n in enumerate(names)]
        lenses = tuple(entry(n, cx, cy, (c,), {"focal_point_mm": float(f)})
                       for n, (cx, cy), c, f in zip(names, centres, dists, labels))
    rms = math.sqrt(sum(p[2] ** 2 for p in per) / len(per))
    return lenses, FitReport(dists[0].model, W, H, max(p[1] for p in per), rms, tuple(per))


def to_lensfun(profile: LensProfile, width: int | None = None, height: int | None = None,
               **kw: Any) -> tuple[LensProfile, FitReport]:
    """A lensfun-family copy of any profile as one ``<lens>``, fitted for a frame size, with the fit residual.

    As :func:`to_lensfun_entries`, for profiles one lensfun lens can hold: every calibration
    point's lens centre within :data:`CENTER_TOLERANCE_PX` of the others (lensfun has one
    ``<center>`` per lens).

    Parameters
    ----------
    profile, width, height, **kw
        As :func:`to_lensfun_entries` (``model``, ``mount``, ``step``).

    Returns
    -------
    (LensProfile, FitReport)

    Raises
    ------
    UsageError
        Unknown ``model``, or no frame size.
    InvalidProfileError
        The profile's map is undefined over the frame, or it has no distortion, or its
        calibration points' lens centres are further apart than one lens can hold (the message
        gives the spread; :func:`to_lensfun_entries` / :func:`write_lensfun` write one entry
        per point).

    References
    ----------
    lensfun ``docs/manual-dbformat.txt``.
    """
    lenses, report = to_lensfun_entries(profile, width, height, **kw)
    if len(lenses) > 1:
        spread = float(lenses[0].extra["center_spread_px"])
        raise InvalidProfileError(
            f"profile {profile.name!r}: the lens centres of its {len(lenses)} focal points are {spread:.1f} px apart on the "
            f"{report.width}x{report.height} frame (more than {CENTER_TOLERANCE_PX:g} px) and a lensfun lens has one centre; "
            "to_lensfun_entries / write_lensfun write one entry per focal point")
    return lenses[0], report


def write_lensfun(profile: LensProfile, path: os.PathLike | str, width: int | None = None, height: int | None = None, **kw) -> FitReport:
    """Convert with :func:`to_lensfun_entries` and write a lensfun database file (atomically).

    A profile whose focal points have lens centres further apart than
    :data:`CENTER_TOLERANCE_PX` is written as one ``<lens>`` per focal point (see there).

    Returns
    -------
    FitReport
    """
    from l2tech.profiles.lensfun_xml import write_lensfun_xml

    lenses, report = to_lensfun_entries(profile, width, height, **kw)
    write_lensfun_xml(path, lenses)
    spread = float(lenses[0].extra.get("center_spread_px", 0.0)) if lenses[0].extra else 0.0
    return replace(report, entries=tuple(lens.model for lens in lenses), center_spread_px=spread)


def to_pixel_model(
    profile: LensProfile, width: int | None = None, height: int | None = None, *, step: int = 8
) -> tuple[LensProfile, FitReport]:
    """A pixel-model (``opencv`` or ``kannala_brandt``) copy of any profile, fitted for a frame size.

    Rectilinear lenses get the OpenCV model ``k1, k2, k3, p1, p2``; fisheye lenses
    (``lens_type == "fisheye"``) get Kannala–Brandt ``k1..k4`` with an equidistant output, as the
    engine corrects a lensfun fisheye. The sampled correction map, normalised by a focal length
    ``F`` (half the frame diagonal; lensfun's focal in pixels for fisheyes), is fitted as
    ``x_d = s · D(x)`` by linear least squares in ``s`` and ``s·k``. ``s`` is the centre
    magnification of the original correction (ptlens: ``1 − a − b − c``), which a pixel model
    (same camera matrix in and out) does not have: the model gets ``fx = fy = s F`` and
    ``extra["fit_scale"] = s``; correcting with ``scale = 1/s`` reproduces the original map, the
    default scale differs from it only by that zoom. Pixel-model profiles are returned as they are.

    Returns
    -------
    (LensProfile, FitReport)
        The report's ``model`` is ``"opencv"`` or ``"kannala_brandt"``; residuals in pixels.

    Raises
    ------
    InvalidProfileError
        A lens type other than rectilinear or (equidistant) fisheye, or no distortion data.
    UsageError
        No frame size.
    """
    from l2tech.optics.compose import GeometryRequest, geometry_model

    if profile.distortion and all(d.model in ("opencv", "kannala_brandt") for d in profile.distortion):
        return profile, FitReport(profile.distortion[0].model, 0, 0, 0.0, 0.0, ())
    if not profile.distortion:
        raise InvalidProfileError(f"profile {profile.name!r} has no distortion calibration to convert")
    if profile.lens_type not in ("rectilinear", "fisheye"):
        raise InvalidProfileError(f"profile {profile.name!r}: lens type {profile.lens_type!r} has no pixel-model equivalent")
    _import_families()
    W, H = _frame_size(profile, width, height)
    fisheye = profile.lens_type == "fisheye"
    points, per, scales = [], [], []
    for d in _points_to_convert(profile):
        cal = LensCalibration(profile, d.focal_length_mm, None, None, d, None, None)
        warp = geometry_model(d.model)(GeometryRequest(cal, W, H, profile.crop_factor, True, False))
        geo = warp.geometric or warp.apply
        cx, cy = warp.center_px
        xs = np.unique(np.append(np.arange(0, W, step, dtype=np.float64), W - 1.0))
        ys = np.unique(np.append(np.arange(0, H, step, dtype=np.float64), H - 1.0))
        gx, gy = np.meshgrid(xs, ys)
        sx, sy = geo(gx, gy)
        ok = np.isfinite(sx) & np.isfinite(sy)
        if fisheye:
            f = d.focal_length_mm / (_HALF_DIAG_MM / profile.crop_factor) * math.hypot(W - 1.0, H - 1.0) / 2.0
        else:
            f = math.hypot(W - 1.0, H - 1.0) / 2.0
        x, y = ((gx - cx) / f)[ok], ((gy - cy) / f)[ok]
        xd, yd = ((sx - cx) / f)[ok], ((sy - cy) / f)[ok]
        model = "kannala_brandt" if fisheye else "opencv"
        fit = _fit_pixel_model(x, y, xd, yd, fisheye)
        scale_s, terms, qx, qy = fit
        px, py = cx + f * qx, cy + f * qy
        scales.append(scale_s)
        f = f * scale_s  # the model's focal length; correct(..., scale=1/s) gives the original's zoom
        e = np.hypot(px - sx[ok], py - sy[ok])
        per.append((d.focal_length_mm, float(e.max()), float(np.sqrt((e**2).mean()))))
        terms.update(fx=f, fy=f, cx=float(cx), cy=float(cy))
        points.append(DistortionCalibration(model, d.focal_length_mm, terms))
    out = LensProfile(
        maker=profile.maker, model=profile.model, mounts=profile.mounts, crop_factor=profile.crop_factor,
        aspect_ratio=max(W, H) / min(W, H), lens_type=profile.lens_type, focal_min_mm=profile.focal_min_mm,
        focal_max_mm=profile.focal_max_mm, distortion=tuple(points), source=f"converted:{profile.source}",
        aliases=profile.aliases,
        extra={"calib_width_px": W, "calib_height_px": H, "converted_from": profile.source,
               "fit_scale": scales[0] if len(scales) == 1 else tuple(scales)},
    )
    rms = math.sqrt(sum(p[2] ** 2 for p in per) / len(per))
    return out, FitReport(points[0].model, W, H, max(p[1] for p in per), rms, tuple(per))


def write_gyroflow(
    profile: LensProfile,
    path: os.PathLike | str,
    width: int | None = None,
    height: int | None = None,
    *,
    overwrite: bool = False,
) -> FitReport:
    """Write any profile as Gyroflow JSON (fitting a pixel model first when needed), atomically.

    Returns
    -------
    FitReport
        Residual of the fit (zero for profiles that are already ``opencv``/``kannala_brandt``).

    Raises
    ------
    InvalidProfileError
        A lens type with no pixel-model equivalent.
    OutputError
        The destination exists (without ``overwrite``) or cannot be written.
    """
    from l2tech.profiles.gyroflow import gyroflow_dict

    profile, report = to_pixel_model(profile, width, height)
    doc = gyroflow_dict(profile)
    from l2tech.io.atomic import atomic_output

    p = os.fspath(path)
    if os.path.exists(p) and not overwrite:
        raise OutputError("output exists (use overwrite)", p)
    text = json.dumps(doc, indent=2, allow_nan=False)
    # temp file beside the output, renamed when complete, normal (umask) permissions
    with atomic_output(p, overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return report
