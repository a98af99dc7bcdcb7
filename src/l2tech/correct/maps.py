"""Correction maps and vignetting gain fields, built once per (calibration, frame size) and cached.

The map is an inverse map (output pixel → source pixel), float32, ``(H, W, 2)`` as ``(x, y)``
— one for all channels, or one per channel (R, G, B) when TCA is corrected. It composes scale,
distortion and TCA (and any other registered geometry model, see
:mod:`l2tech.optics.compose`) so the image is resampled once.

Crop-factor rule: lensfun refuses (at matching time) a calibration made on a *smaller* sensor
than the camera's (``c_img / c_cal < 0.96``), because the calibration does not cover the
camera's frame corners. We use the calibration anyway — its polynomial is evaluated beyond the
calibrated radius — and warn (:class:`CalibrationCoverageWarning`).

References
----------
lensfun 0.3.x ``libs/lensfun/lens.cpp`` (``_lf_lens_compare_score``: the 0.96 rule),
``modifier.cpp``, ``mod-coord.cpp``.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from l2tech.correct.frame_fit import frame_fit
from l2tech.errors import InvalidProfileError, UsageError
from l2tech.optics import compose
from l2tech.optics import lensfun as lf
from l2tech.profiles.model import LensCalibration

__all__ = [
    "CorrectionMaps",
    "CalibrationCoverageWarning",
    "correction_maps",
    "correction_warp",
    "vignetting_gain",
    "fold_radius",
    "validate_calibration",
    "clear_cache",
    "is_cached",
    "lensfun_normalization",
]


class CalibrationCoverageWarning(UserWarning):
    """The calibration comes from a smaller sensor than the camera's (lensfun would not use it)."""


@dataclass(frozen=True)
class CorrectionMaps:
    """Inverse maps of one correction.

    Parameters
    ----------
    maps : tuple of ndarray, each shape (H, W, 2), float32
        One map for all channels, or three (R, G, B). Empty when the correction is the identity.
    scale : float
        The scale used (auto-scale result or the caller's).
    width, height : int
    auto_scale : float or None
        The auto-scale for this frame (no empty border at or above it), when it could be found.
    """

    maps: tuple[np.ndarray, ...]
    scale: float
    width: int
    height: int
    auto_scale: float | None = None

    @property
    def per_channel(self) -> bool:
        """True when there is one map per channel (TCA)."""
        return len(self.maps) == 3

    @property
    def is_identity(self) -> bool:
        return not self.maps

    def stacked(self) -> np.ndarray:
        """The maps as one array, shape (H, W, 3, 2) (lensfunpy's layout), float32."""
        if not self.maps:
            gx, gy = np.meshgrid(np.arange(self.width, dtype=np.float32), np.arange(self.height, dtype=np.float32))
            m = np.stack([gx, gy], axis=-1)
            return np.repeat(m[:, :, None, :], 3, axis=2)
        if len(self.maps) == 1:
            return np.repeat(self.maps[0][:, :, None, :], 3, axis=2)
        return np.stack(self.maps, axis=2)


_CACHE: "OrderedDict[tuple, CorrectionMaps]" = OrderedDict()
_CACHE_SIZE = 2  # maps are large (24 MP with TCA: 576 MB); a batch reuses the last one or two
_LOCK = threading.Lock()


def clear_cache() -> None:
    """Drop every cached map."""
    with _LOCK:
        _CACHE.clear()


def _num_key(cal: Any) -> tuple | None:
    if cal is None:
        return None
    return (cal.model, tuple(sorted((k, float(v)) for k, v in dict(cal.terms).items())))


def _cache_key(calibration, width, height, crop_factor, distortion, tca, scale) -> tuple:
    p = calibration.profile
    crop = p.crop_factor if crop_factor is None else float(crop_factor)
    return (
        p.crop_factor, p.aspect_ratio, p.center_x, p.center_y,
        _num_key(calibration.distortion) if distortion else None,
        _num_key(calibration.tca) if tca else None,
        int(width), int(height), crop, None if scale is None else float(scale),
        _model_name(calibration, distortion, tca),
    )


def is_cached(
    calibration: LensCalibration, width: int, height: int, *, crop_factor: float | None = None,
    distortion: bool = True, tca: bool = True, scale: float | None = None,
) -> bool:
    """Whether :func:`correction_maps` holds these maps already."""
    with _LOCK:
        return _cache_key(calibration, width, height, crop_factor, distortion, tca, scale) in _CACHE


def _check_size(width: int, height: int) -> None:
    for name, v in (("width", width), ("height", height)):
        if not isinstance(v, (int, np.integer)) or v < 1:
            raise UsageError(f"{name} must be a positive integer, got {v!r}")


def _check_crop(calibration: LensCalibration, crop_factor: float | None) -> float:
    p = calibration.profile
    c = p.crop_factor if crop_factor is None else crop_factor
    if not (isinstance(c, (int, float, np.floating)) and math.isfinite(c) and c > 0):
        raise UsageError(f"crop_factor must be a positive number, got {c!r}")
    if not (p.crop_factor > 0 and math.isfinite(p.crop_factor)):
        raise InvalidProfileError(f"{p.name}: calibration crop factor {p.crop_factor!r} is not a positive number")
    if c < p.crop_factor * 0.96:
        warnings.warn(
            f"{p.name}: calibration made on a smaller sensor (crop {p.crop_factor:g}) than this camera's "
            f"(crop {c:g}); its corners are extrapolated (lensfun would not use this calibration)",
            CalibrationCoverageWarning,
            stacklevel=3,
        )
    return float(c)


def lensfun_normalization(calibration: LensCalibration, width: int, height: int, *, crop_factor: float) -> lf.LensfunNormalization:
    """The lensfun coordinate normalisation of a frame for this calibration's profile."""
    p = calibration.profile
    return lf.LensfunNormalization(width, height, crop_factor, p.crop_factor, p.aspect_ratio, p.center_x, p.center_y)


def _model_name(calibration: LensCalibration, distortion: bool, tca: bool) -> str:
    if distortion and calibration.distortion is not None:
        return calibration.distortion.model
    if tca and calibration.tca is not None and calibration.tca.model not in ("linear", "poly3"):
        return calibration.tca.model
    return "lensfun"


def correction_warp(
    calibration: LensCalibration,
    width: int,
    height: int,
    *,
    crop_factor: float | None = None,
    distortion: bool = True,
    tca: bool = True,
    projection: str | None = None,
) -> compose.Warp:
    """The geometry of a correction as a :class:`~l2tech.optics.compose.Warp` (scale 1).

    The model comes from ``GEOMETRY_MODELS`` by the calibration's distortion model name
    (``"lensfun"`` when there is none). ``projection`` asks for another projection of the
    corrected image (e.g. ``"fisheye_equisolid"`` from a rectilinear correction, or
    ``"rectilinear"`` de-fishing a Kannala-Brandt lens); a family that does not handle it itself
    gets a projection change chained in front (:func:`l2tech.optics.projection.projection_warp`)
    at its focal length in pixels.

    Raises
    ------
    UsageError
        A projection change asked of a family that gives no focal length in pixels.
    """
    _check_size(width, height)
    crop = _check_crop(calibration, crop_factor)
    builder = compose.geometry_model(_model_name(calibration, distortion, tca))
    warp = builder(compose.GeometryRequest(calibration, int(width), int(height), crop, distortion, tca, projection))
    warp = _with_image_circle(warp, calibration, int(width), int(height), crop)
    if projection is None or warp.extra.get("handles_projection"):
        return warp
    from l2tech.optics.projection import projection_warp, validate_projection

    native = warp.extra.get("native_projection")
    if native is None:
        native = getattr(calibration.profile, "lens_type", "rectilinear")
    target = validate_projection(projection)
    if validate_projection(native) == target:
        return warp
    focal_px = warp.extra.get("focal_px")
    if focal_px is None and (calibration.distortion is None or calibration.distortion.model in ("poly3", "poly5", "ptlens")):
        # lensfun 0.3.x: the nominal focal length over the half-diagonal of the camera's sensor
        # (43.27 mm / crop), in pixels of the frame's half-diagonal between pixel centres
        # (checked point by point against lensfunpy's Modifier with a target geometry).
        focal_px = calibration.focal_length_mm * math.hypot(width - 1, height - 1) / 2 / (math.hypot(36.0, 24.0) / 2 / crop)
    if focal_px is None:
        raise UsageError(f"projection change to {projection!r} is not available for {calibration.profile.name!r} "
                         f"({_model_name(calibration, distortion, tca)} model): use a pixel-based profile "
                         "(Gyroflow JSON, OpenCV calibration) or leave --projection out")
    pw = projection_warp(int(width), int(height), float(focal_px), native, target, center=warp.center_px)
    chained = compose.chain(pw, warp)
    if "image_circle_px" in warp.extra:
        chained = dataclasses.replace(chained, extra={**chained.extra, "image_circle_px": warp.extra["image_circle_px"]})
    return chained


def _with_image_circle(warp: compose.Warp, calibration: LensCalibration, width: int, height: int, crop: float) -> compose.Warp:
    """Mark the image circle of a lens made for a smaller sensor than the frame's.

    A lens profiled on a sensor of crop ``c_p`` on a frame of crop ``c < c_p / 1.04`` (a DX lens
    on FX) lights only a circle of the profiled sensor's half-diagonal, ``R = (the frame's
    half-diagonal) · c / c_p`` pixels about the lens centre; auto-scale keeps the output inside
    it (:func:`l2tech.optics.compose.auto_scale`).
    """
    p_crop = getattr(calibration.profile, "crop_factor", None)
    if not p_crop or crop * PA_HOLD_BEYOND >= p_crop:
        return warp
    R = math.hypot(width - 1, height - 1) / 2.0 * crop / p_crop
    cx, cy = warp.center_px
    return dataclasses.replace(warp, extra={**warp.extra, "image_circle_px": (float(cx), float(cy), float(R))})


def correction_maps(
    calibration: LensCalibration,
    width: int,
    height: int,
    *,
    crop_factor: float | None = None,
    distortion: bool = True, tca: bool = True,
    scale: float | None = None,
) -> CorrectionMaps:
    """Inverse maps (output → source) correcting distortion and TCA, with scale.

    Parameters
    ----------
    calibration : LensCalibration
        From :func:`l2tech.profiles.interpolate.interpolate`.
    width, height : int
        Frame size in pixels.
    crop_factor : float, optional
        The camera body's crop factor (default: the calibration's, i.e. same sensor).
    distortion, tca : bool
        Switch each correction.
    scale : float, optional
        Zoom (> 1 enlarges). Default: auto-scale, the smallest zoom that leaves no empty border
        (lensfun's ``GetAutoScale``).

    Returns
    -------
    CorrectionMaps
        ``maps`` float32 ``(H, W, 2)`` in pixels (origin at the top-left pixel's centre); empty
        when nothing is to be done (no data, or everything switched off, and scale 1).
        Cached on the calibration's numbers, the frame size and the switches (two entries):
        treat the arrays as read-only.

    Raises
    ------
    UsageError
        Bad size, crop factor or scale.
    InvalidProfileError
        The distortion folds the image inside the frame (the radius is named), or an unknown
        model.

    Warns
    -----
    CalibrationCoverageWarning
        The calibration was made on a smaller sensor than the camera's.

    References
    ----------
    lensfun 0.3.x ``libs/lensfun/mod-coord.cpp`` (``ApplySubpixelGeometryDistortion``,
    ``GetAutoScale``).
    """
    if scale is not None and not (isinstance(scale, (int, float, np.floating)) and math.isfinite(scale) and scale > 0):
        raise UsageError(f"scale must be a positive number, got {scale!r}")
    warp = correction_warp(calibration, width, height, crop_factor=crop_factor, distortion=distortion, tca=tca)
    key = _cache_key(calibration, width, height, crop_factor, distortion, tca, scale)
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    has_geometry = (distortion and calibration.distortion is not None) or (tca and calibration.tca is not None)
    if not has_geometry:
        used, auto = (1.0 if scale is None else float(scale)), 1.0
    else:
        if scale is None and warp.fold_check is not None:
            warp.fold_check(1.0)  # name the fold radius rather than an auto-scale failure
        used, auto = frame_fit(warp, scale)
    if not has_geometry and used == 1.0:
        result = CorrectionMaps((), 1.0, int(width), int(height), auto)
    else:
        result = CorrectionMaps(compose.render_maps(warp, used), used, int(width), int(height), auto)
    with _LOCK:
        _CACHE[key] = result
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result


def vignetting_gain(
    calibration: LensCalibration, width: int, height: int, *, crop_factor: float | None = None
) -> np.ndarray:
    """Vignetting correction gain at every pixel (multiply linear RGB by it).

    Parameters
    ----------
    calibration : LensCalibration
    width, height : int
    crop_factor : float, optional
        The camera body's crop factor (default: the calibration's).

    Returns
    -------
    ndarray, shape (H, W), float32
        ``1 / (1 + k1 r² + k2 r⁴ + k3 r⁶)``, r = 1 at the calibration sensor's corner; all ones
        when the calibration has no vignetting data.

    References
    ----------
    lensfun 0.3.x ``libs/lensfun/mod-color.cpp`` (``ModifyColor_DeVignetting_PA``).
    """
    _check_size(width, height)
    crop = _check_crop(calibration, crop_factor)
    if calibration.vignetting is None:
        return np.ones((int(height), int(width)), np.float32)
    model = calibration.vignetting.model
    if model == "pa" and pa_held(calibration, int(width), int(height), crop):
        return pa_held_gain(calibration, int(width), int(height), crop)
    if model != "pa":
        if model not in VIGNETTING_GAINS:
            raise InvalidProfileError(f"{calibration.profile.name}: unknown vignetting model {model!r}; "
                                      f"valid: pa, {', '.join(VIGNETTING_GAINS)}")
        terms = calibration.vignetting.terms
        if model == "adobe_vignette":  # the profiled camera's units -> this frame's
            from l2tech.optics.adobe import adobe_params_for_frame

            terms = adobe_params_for_frame(terms, focal_length_mm=calibration.vignetting.focal_length_mm,
                                           crop_factor=crop, profile_crop_factor=calibration.profile.crop_factor)
        return VIGNETTING_GAINS[model](terms, int(width), int(height))
    norm = lensfun_normalization(calibration, int(width), int(height), crop_factor=crop)
    return compose.lensfun_vignetting_gain(calibration.vignetting, norm)


def _pa_r2(calibration: LensCalibration, width: int, height: int, crop: float, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Squared pa radius (r = 1 at the calibration sensor's corner) at pixel positions."""
    norm = lensfun_normalization(calibration, width, height, crop_factor=crop)
    cxn, cyn = norm.center_normalized
    xn = np.asarray(xs, np.float64) * norm.norm_scale - cxn
    yn = np.asarray(ys, np.float64) * norm.norm_scale - cyn
    return (xn * xn + yn * yn) * norm.vignetting_scale**2


def vignetting_strength(calibration: LensCalibration) -> float:
    """The strength a calibration's vignetting is applied with (``terms["strength"]``, default 1)."""
    v = calibration.vignetting
    return 1.0 if v is None else float(v.terms.get("strength", 1.0))


#: A frame reaching beyond this many calibrated radii gets the held pa gain: the 4 % margin
#: within which a calibration still serves a body (the 0.96 of :func:`_check_crop`); inside
#: it lensfun's extrapolation is kept, as lensfun does.
PA_HOLD_BEYOND = 1.0 / 0.96


def pa_frame_beyond(calibration: LensCalibration, width: int, height: int, crop: float) -> bool:
    """True when the frame's corners reach beyond :data:`PA_HOLD_BEYOND` calibrated pa radii."""
    from l2tech.optics.lensfun import PA_CALIBRATED_RADIUS

    xs = np.array([0.0, width - 1.0, 0.0, width - 1.0])
    ys = np.array([0.0, 0.0, height - 1.0, height - 1.0])
    return bool(_pa_r2(calibration, width, height, crop, xs, ys).max() > (PA_CALIBRATED_RADIUS * PA_HOLD_BEYOND) ** 2)


def pa_held(calibration: LensCalibration, width: int, height: int, crop: float) -> bool:
    """True when a pa correction of this frame needs the gain field of :func:`pa_held_gain`
    (held beyond the calibrated radius, :func:`pa_frame_beyond`, or a strength other than 1)."""
    return vignetting_strength(calibration) != 1.0 or pa_frame_beyond(calibration, width, height, crop)


def pa_held_gain(calibration: LensCalibration, width: int, height: int, crop: float) -> np.ndarray:
    """The pa gain field, ``(H, W)`` float32: held at the calibrated radius r = 1 when the frame
    reaches beyond it, scaled by the strength (:func:`l2tech.optics.lensfun.vignetting_pa_held`)."""
    from l2tech.optics.lensfun import vignetting_pa_held

    t = calibration.vignetting.terms
    ys, xs = np.mgrid[0:height, 0:width]
    g = vignetting_pa_held(_pa_r2(calibration, width, height, crop, xs, ys), float(t["k1"]), float(t["k2"]), float(t["k3"]),
                           strength=vignetting_strength(calibration),
                           hold=pa_frame_beyond(calibration, width, height, crop))
    with np.errstate(divide="ignore"):
        return np.where(g > 0, 1.0 / np.where(g > 0, g, 1.0), 0.0).astype(np.float32)


def _adobe_gain(terms, width: int, height: int) -> np.ndarray:
    from l2tech.optics.adobe import adobe_vignetting_gain

    return adobe_vignetting_gain(width, height, terms)


def _dng_radial_gain(terms, width: int, height: int) -> np.ndarray:
    from l2tech.optics.dng import vignette_radial_gain

    return vignette_radial_gain(width, height, [terms[f"k{i}"] for i in range(5)], terms.get("cx", 0.5), terms.get("cy", 0.5))


def _radial_table_gain(terms, width: int, height: int) -> np.ndarray:
    from l2tech.optics.radial_table import radial_table_gain

    return radial_table_gain(width, height, terms)


#: Vignetting families other than lensfun's ``pa``: model → gain(terms, width, height), the
#: (H, W) float32 correction gain (Adobe LCP ``VignetteModel``; DNG ``FixVignetteRadial``; a
#: gain table over the radius, :mod:`l2tech.optics.radial_table`).
VIGNETTING_GAINS = {"adobe_vignette": _adobe_gain, "dng_fix_vignette_radial": _dng_radial_gain,
                    "radial_table_vignette": _radial_table_gain}


def fold_radius(
    calibration: LensCalibration, width: int, height: int, *, crop_factor: float | None = None, scale: float = 1.0
) -> float | None:
    """Radius (pixels from the lens centre, output frame) where the distortion folds, or None.

    Only radii inside the output frame at ``scale`` are examined.
    """
    if calibration.distortion is None or calibration.distortion.model not in lf.DISTORTION_FUNCTIONS:
        return None
    crop = _check_crop(calibration, crop_factor)
    norm = lensfun_normalization(calibration, int(width), int(height), crop_factor=crop)
    ns = norm.norm_scale
    cxn, cyn = norm.center_normalized
    xs = np.array([0.0, width - 1.0]) * ns - cxn
    ys = np.array([0.0, height - 1.0]) * ns - cyn
    r_max = float(np.hypot(xs[:, None], ys[None, :]).max()) / scale
    d = calibration.distortion
    r = lf.fold_radius(d.model, {k: float(v) for k, v in d.terms.items()}, r_max)
    return None if r is None else r / ns * scale


def validate_calibration(
    calibration: LensCalibration, width: int, height: int, *, crop_factor: float | None = None, scale: float = 1.0
) -> None:
    """Refuse a calibration whose distortion folds the image inside the frame.

    Raises
    ------
    InvalidProfileError
        Naming the lens, focal length and the radius (Hugin units and pixels) of the fold
        (RELIABILITY.md case 16).
    """
    warp = correction_warp(calibration, width, height, crop_factor=crop_factor, tca=False)
    if warp.fold_check is not None:
        warp.fold_check(scale)
