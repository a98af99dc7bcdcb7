"""Apply a lens profile to pixels: ``correct`` (remove) and ``simulate_lens`` (add).

Fixed order (ARCHITECTURE.md): vignetting gain on the source, then one resampling composing
TCA, distortion and scale (:mod:`l2tech.correct.resample`). ``simulate_lens`` is the exact
inverse: one resampling with the inverted geometry, then the vignetting falloff.

This module decides what to do; maps come from :mod:`l2tech.correct.maps`, the zoom from
:mod:`l2tech.correct.frame_fit`, and every pixel is resampled by :mod:`l2tech.correct.resample`.

Signal state: scene-linear RGB, float32 ``(H, W, 3)``; values outside [0, 1] are kept (no
clipping). Vignetting is a gain on *linear* data.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from l2tech.correct import resample
from l2tech.correct.frame_fit import edge_border, frame_fit
from l2tech.correct.maps import (
    CorrectionMaps,
    _check_crop,
    correction_maps,
    correction_warp,
    is_cached,
    lensfun_normalization,
    pa_held,
    vignetting_gain,
)
from l2tech.correct.resample import INTERPOLATIONS, remap
from l2tech.errors import InvalidProfileError, UsageError
from l2tech.optics import compose
from l2tech.optics import lensfun as lf
from l2tech.profiles.interpolate import interpolate
from l2tech.profiles.model import LensCalibration, LensProfile

__all__ = ["INTERPOLATIONS", "correct", "simulate_lens", "remap", "LensDataWarning", "with_vignetting_strength"]


class LensDataWarning(UserWarning):
    """A requested correction cannot be done with the data at hand (e.g. no f-number)."""


def _check_image(image: Any) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise UsageError(f"image must be a NumPy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise UsageError(f"image must have shape (H, W, 3), got {image.shape}")
    if image.dtype != np.float32:
        if image.dtype == np.float64:
            return image.astype(np.float32)
        raise UsageError(f"image must be float32 scene-linear RGB, got {image.dtype} (convert code values first)")
    return image


def _calibration(profile: LensProfile | LensCalibration, focal_length_mm: float | None, f_number, focus_distance_m) -> LensCalibration:
    if isinstance(profile, LensCalibration):
        return profile
    if not isinstance(profile, LensProfile):
        raise UsageError(f"profile must be a LensProfile, got {type(profile).__name__}")
    if focal_length_mm is None:
        raise UsageError(f"{profile.name}: a focal length is needed (focal_length_mm)")
    return interpolate(profile, focal_length_mm, f_number, focus_distance_m)


def correct(
    image: np.ndarray,
    profile: LensProfile | LensCalibration,
    focal_length_mm: float | None = None,
    f_number: float | None = None,
    focus_distance_m: float | None = None,
    *,
    crop_factor: float | None = None,
    vignetting: bool = True,
    tca: bool = True,
    distortion: bool = True,
    scale: float | None = None,
    interpolation: str = "bilinear",
    projection: str | None = None,
    vignetting_strength: float = 1.0,
) -> np.ndarray:
    """Remove a lens's vignetting, TCA and distortion from a scene-linear image.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), float32
        Scene-linear RGB (float64 is converted); not modified.
    profile : LensProfile or LensCalibration
        The lens (interpolated at the settings below), or an already interpolated calibration.
    focal_length_mm : float
        Focal length of the shot, mm.
    f_number : float, optional
        Needed for vignetting; without it vignetting is skipped with a warning.
    focus_distance_m : float, optional
        Focus distance, m (default 1000 = infinity).
    crop_factor : float, optional
        The camera body's crop factor (default: the profile's calibration crop factor).
    vignetting, tca, distortion : bool
        Switch each correction.
    scale : float, optional
        Zoom (> 1 enlarges); default auto-scale (no empty border, lensfun's rule).
    interpolation : {"bilinear", "bicubic", "lanczos", "nearest"}
        Resampling kernel (:data:`l2tech.correct.resample.INTERPOLATIONS`).
    projection : str, optional
        Projection of the corrected image (``"rectilinear"``, ``"fisheye"``,
        ``"fisheye_equisolid"``, ``"fisheye_stereographic"``, ``"fisheye_orthographic"``,
        ``"fisheye_thoby"``, ``"equirectangular"``); default the family's own (see
        :func:`l2tech.correct.maps.correction_warp`). Composed into the same single resampling.
    vignetting_strength : float
        Fraction of the vignetting correction applied, in stops (0 none, 1 all; default 1).
        A lensfun ``pa`` gain is held at its calibrated radius (r = 1, the calibration sensor's
        corner) beyond it (:func:`l2tech.optics.lensfun.vignetting_pa_held`).

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        Corrected scene-linear RGB (new array; values outside [0, 1] kept).

    Raises
    ------
    UsageError
        Bad image, settings or interpolation name.
    InvalidProfileError
        The distortion folds the image inside the frame (radius named).

    Warns
    -----
    LensDataWarning
        Vignetting requested but no f-number given, or no vignetting sample near the settings.
    CalibrationCoverageWarning
        The calibration is from a smaller sensor than the camera's.

    Notes
    -----
    Order: vignetting gain (on the source pixels), then one resampling composing TCA +
    distortion + scale. The lensfun models use lensfun 0.3.x's coordinate conventions (see
    :mod:`l2tech.optics.lensfun`).

    References
    ----------
    lensfun 0.3.x ``libs/lensfun/modifier.cpp``, ``mod-coord.cpp``, ``mod-subpix.cpp``,
    ``mod-color.cpp``; OpenCV ``imgproc/src/imgwarp.cpp`` (remap).
    """
    img = _check_image(image)
    cal = with_vignetting_strength(_calibration(profile, focal_length_mm, f_number, focus_distance_m), vignetting_strength)
    H, W = img.shape[:2]
    crop = _check_crop(cal, crop_factor)
    resample.check_interpolation(interpolation)
    vig = vignetting and cal.vignetting is not None
    if vignetting and cal.vignetting is None and cal.profile.vignetting:
        reason = "no f-number given" if cal.f_number is None else "no vignetting data near these settings"
        warnings.warn(f"{cal.profile.name}: vignetting not corrected ({reason})", LensDataWarning, stacklevel=2)
    geometry = (distortion and cal.distortion is not None) or (tca and cal.tca is not None) or (scale not in (None, 1.0)) or projection is not None
    if not geometry:
        return _apply_pa(img, cal, crop, inverse=False) if vig else img.copy()
    if scale is not None and not (isinstance(scale, (int, float, np.floating)) and math.isfinite(scale) and scale > 0):
        raise UsageError(f"scale must be a positive number, got {scale!r}")
    if projection is not None:
        return _correct_projection(img, cal, crop, distortion, tca, scale, vig, interpolation, projection)
    warp = correction_warp(cal, W, H, crop_factor=crop, distortion=distortion, tca=tca)
    render_rows = warp.extra.get("render_rows")
    if render_rows is None or is_cached(cal, W, H, crop_factor=crop, distortion=distortion, tca=tca, scale=scale):
        src = _apply_pa(img, cal, crop, inverse=False) if vig else img
        maps = correction_maps(cal, W, H, crop_factor=crop, distortion=distortion, tca=tca, scale=scale)
        return remap(src, maps, interpolation=interpolation, border=edge_border(maps.scale, maps.auto_scale))
    # First use of this geometry: work in strips, maps never held whole (cache-sized, one pass).
    if warp.fold_check is not None:
        warp.fold_check(1.0)
    used, auto = frame_fit(warp, scale)
    if warp.fold_check is not None:
        warp.fold_check(used)
    border = edge_border(used, auto)
    params = warp.extra.get("lensfun_params")
    if params is not None and str(interpolation).lower() == "bilinear":
        src = _apply_pa(img, cal, crop, inverse=False) if vig else np.ascontiguousarray(img)
        return resample.remap_lensfun_bilinear(src, params, used, border=border)
    return _correct_strips(img, cal, crop, warp, render_rows, used, vig, interpolation, border)


def with_vignetting_strength(cal: LensCalibration, strength: float) -> LensCalibration:
    """``cal`` with its vignetting applied at ``strength`` (0..2; 1 returns ``cal`` unchanged).

    Raises
    ------
    UsageError
        ``strength`` outside [0, 2] or not a number.
    """
    import dataclasses

    if not (isinstance(strength, (int, float, np.floating)) and math.isfinite(strength) and 0.0 <= strength <= 2.0):
        raise UsageError(f"vignetting strength must be between 0 and 2, got {strength!r}")
    if strength == 1.0 or cal.vignetting is None:
        return cal
    v = dataclasses.replace(cal.vignetting, terms={**cal.vignetting.terms, "strength": float(strength)})
    return dataclasses.replace(cal, vignetting=v)


def _correct_projection(img, cal, crop, distortion, tca, scale, vig, interpolation, projection) -> np.ndarray:
    """Correction with a projection change: full maps from the chained warp, one resampling."""
    H, W = img.shape[:2]
    warp = correction_warp(cal, W, H, crop_factor=crop, distortion=distortion, tca=tca, projection=projection)
    used, auto = frame_fit(warp, scale)
    maps = CorrectionMaps(tuple(compose.render_maps(warp, used)), used, W, H, auto)
    src = _apply_pa(img, cal, crop, inverse=False) if vig else img
    return remap(src, maps, interpolation=interpolation, border="constant")


def _correct_strips(img, cal, crop, warp, render_rows, scale, vig, interpolation, border) -> np.ndarray:
    """Strip-wise resampling; for a per-channel warp the vignetting gain is folded into the
    planar copy the per-channel resampling needs."""
    from l2tech.optics import _kernels

    H, W = img.shape[:2]
    if not warp.per_channel:
        src = _apply_pa(img, cal, crop, inverse=False) if vig else img
        return resample.remap_rows(src, render_rows, scale, interpolation=interpolation, border=border)
    planes = np.empty((3, H, W), np.float32)
    if vig and (cal.vignetting.model != "pa" or pa_held(cal, W, H, crop)):  # a gain field, then split
        img, vig = _apply_pa(img, cal, crop, inverse=False), False
    if vig:
        norm = lensfun_normalization(cal, W, H, crop_factor=crop)
        cxn, cyn = norm.center_normalized
        t = cal.vignetting.terms
        k = (float(t["k1"]), float(t["k2"]), float(t["k3"]))
        _kernels.pa_apply(np.ascontiguousarray(img), norm.norm_scale, cxn, cyn, norm.vignetting_scale, *k, False, True, planes)
    else:
        _kernels.pa_apply(np.ascontiguousarray(img), 1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, False, True, planes)  # a planar copy
    return resample.remap_rows(planes, render_rows, scale, planar=True, interpolation=interpolation, border=border)


def _apply_pa(img: np.ndarray, cal: LensCalibration, crop: float, *, inverse: bool) -> np.ndarray:
    from l2tech.optics import _kernels

    v = cal.vignetting
    H, W = img.shape[:2]
    if v.model != "pa" or pa_held(cal, W, H, crop):  # a gain field (other families, or held/scaled pa)
        gain = vignetting_gain(cal, W, H, crop_factor=crop)
        return (img / gain[..., None] if inverse else img * gain[..., None]).astype(np.float32)
    norm = lensfun_normalization(cal, W, H, crop_factor=crop)
    cxn, cyn = norm.center_normalized
    out = np.empty_like(img)
    t = v.terms
    _kernels.pa_apply(np.ascontiguousarray(img), norm.norm_scale, cxn, cyn, norm.vignetting_scale,
                      float(t["k1"]), float(t["k2"]), float(t["k3"]), bool(inverse), False, out)
    return out


def _radial_table(fn, dfn, r_max: float, what: str, n: int = 16384) -> tuple[np.ndarray, np.ndarray]:
    """Samples (r_target, r_solution) of the inverse of a radial map on [0, r_max]."""
    rt = np.linspace(0.0, r_max, n + 1)
    r = compose.invert_radial(fn, dfn, rt, what=what)
    return rt, r


def simulate_lens(
    image: np.ndarray,
    profile: LensProfile | LensCalibration,
    focal_length_mm: float | None = None, f_number: float | None = None, focus_distance_m: float | None = None,
    *,
    crop_factor: float | None = None,
    vignetting: bool = True, tca: bool = True, distortion: bool = True,
    scale: float = 1.0,
    interpolation: str = "bilinear",
) -> np.ndarray:
    """Add a lens's distortion, TCA and vignetting to an ideal image (the inverse of ``correct``).

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), float32
        Ideal (rectilinear, evenly lit) scene-linear RGB.
    profile, focal_length_mm, f_number, focus_distance_m, crop_factor, vignetting, tca, distortion
        As for :func:`correct`.
    scale : float
        The zoom ``correct`` would use; ``correct(simulate_lens(x, s), scale=s) ≈ x`` away from
        the borders. Default 1.
    interpolation : {"bilinear", "bicubic", "lanczos", "nearest"}

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        What the lens would have recorded (pixels whose ideal source is outside the frame are 0).

    Raises
    ------
    InvalidProfileError
        The model cannot be inverted over the frame (Newton's method did not converge, or the
        distortion folds); never a silently wrong pixel.

    Notes
    -----
    Each channel's source is found by inverting the radial maps: TCA (``r_c = r_d·t(r_d)``)
    then distortion (``r_d = r_u·f(r_u)``), with Newton's method on a dense radius table
    (16385 samples, each converged to 1e-12 and checked), then linear interpolation in the
    table. Then the vignetting falloff ``1 + k1 r² + k2 r⁴ + k3 r⁶`` multiplies the result.

    References
    ----------
    lensfun 0.3.x ``libs/lensfun/mod-coord.cpp`` (``ModifyCoord_UnDist_*``: lensfun's own
    reverse mode gives up silently after 6 Newton steps; we do not).
    """
    img = _check_image(image)
    cal = _calibration(profile, focal_length_mm, f_number, focus_distance_m)
    if not (isinstance(scale, (int, float, np.floating)) and math.isfinite(scale) and scale > 0):
        raise UsageError(f"scale must be a positive number, got {scale!r}")
    H, W = img.shape[:2]
    crop = _check_crop(cal, crop_factor)
    resample.check_interpolation(interpolation)
    norm = lensfun_normalization(cal, W, H, crop_factor=crop)
    ns = norm.norm_scale
    cxn, cyn = norm.center_normalized
    d = cal.distortion if distortion else None
    t = cal.tca if tca else None
    if d is not None and d.model not in lf.DISTORTION_FUNCTIONS:
        raise InvalidProfileError(f"simulate_lens handles the lensfun models only, not {d.model!r}")
    out = img
    if d is not None or t is not None or scale != 1.0:
        xs = np.arange(W, dtype=np.float64) * ns - cxn
        ys = np.arange(H, dtype=np.float64) * ns - cyn
        r_corner = float(np.hypot(np.abs(xs).max(), np.abs(ys).max()))
        r_max = r_corner * 1.02 + 1e-9
        dterms = {k: float(v) for k, v in d.terms.items()} if d is not None else None

        def dist_tables(r_top: float):
            if d is None:
                return None
            f = lambda r: r * lf.distortion_factor(d.model, dterms, r * r)  # noqa: E731
            df = lambda r: lf.distortion_factor_derivative(d.model, dterms, r)  # noqa: E731
            return _radial_table(f, df, r_top, f"{cal.profile.name} at {cal.focal_length_mm:g} mm: {d.model} distortion")

        chan_tables = []  # per channel: radius in output (distorted) -> radius in ideal (scaled)
        tterms = {k: float(v) for k, v in t.terms.items()} if t is not None else None
        for c in range(3 if t is not None else 1):
            if t is None or c == 1:
                rq = np.linspace(0.0, r_max, 16385)
                rd = rq
            else:
                idx = 0 if c == 0 else 1

                def tf(r, idx=idx):
                    fr, fb = lf.tca_factors(t.model, tterms, r * r)
                    return r * (fr, fb)[idx]

                def tdf(r, idx=idx):
                    h = 1e-6
                    return (tf(r + h) - tf(np.maximum(r - h, 0.0))) / (r + h - np.maximum(r - h, 0.0))

                rq, rd = _radial_table(tf, tdf, r_max, f"{cal.profile.name}: {t.model} TCA")
            tab = dist_tables(float(rd.max()) * 1.0 + 1e-12)
            ru = np.interp(rd, tab[0], tab[1]) if tab is not None else rd
            chan_tables.append((rq, ru * scale))

        gx = xs[None, :]
        gy = ys[:, None]
        r = np.sqrt(gx * gx + gy * gy)
        maps = []
        with np.errstate(invalid="ignore", divide="ignore"):
            for rq, ru in chan_tables:
                ratio_tab = np.where(rq > 0, ru / np.where(rq > 0, rq, 1.0), (ru[1] / rq[1]) if rq[1] > 0 else 1.0)
                ratio = np.interp(r, rq, ratio_tab)
                m = np.empty((H, W, 2), np.float32)
                m[..., 0] = (gx * ratio + cxn) / ns
                m[..., 1] = (gy * ratio + cyn) / ns
                maps.append(m)
        cmaps = CorrectionMaps(tuple(maps), float(scale), W, H, None)
        out = remap(img, cmaps, interpolation=interpolation, border="constant")
    if vignetting and cal.vignetting is not None:
        out = _apply_pa(out, cal, crop, inverse=True)
    elif vignetting and cal.vignetting is None and cal.profile.vignetting:
        warnings.warn(f"{cal.profile.name}: vignetting not simulated (no f-number or no data near it)", LensDataWarning, stacklevel=2)
    return out.copy() if out is img else out
