"""The Adobe camera model (lens profiles, LCP): rectilinear and fisheye, TCA and vignetting.

Parameters keep Adobe's names (``FocalLengthX``, ``ImageXCenter``, ``RadialDistortParam1``...).
For an image of ``W × H`` pixels, with ``D = max(W, H)`` (RawTherapee ``rtengine/lcp.cc``):

* principal point ``u0 = ImageXCenter · W``, ``v0 = ImageYCenter · H`` (pixel coordinates,
  origin at the top-left pixel's centre); focal lengths ``fx = FocalLengthX · D``,
  ``fy = FocalLengthY · D`` — r = 1 is one focal length (OPTICS.md §5);
* rectilinear (``PerspectiveModel``), ideal ``(x, y) = ((u − u0)/fx, (v − v0)/fy)`` to observed::

      x_d = x (1 + k1 r² + k2 r⁴ + k3 r⁶) + 2 k4 x y + k5 (r² + 2 x²)
      y_d = y (1 + k1 r² + k2 r⁴ + k3 r⁶) + k4 (r² + 2 y²) + 2 k5 x y

  with ``k1..k3 = RadialDistortParam1..3``, ``k4, k5 = TangentialDistortParam1, 2``: the OpenCV
  model with ``p1 = k4``, ``p2 = k5`` (:mod:`l2tech.optics.opencv` does the work);
* fisheye (``FisheyeModel``): ``θ = atan r``, observed radius ``θ (1 + k1 θ² + k2 θ⁴)``:
  Kannala–Brandt with ``k1, k2`` (:mod:`l2tech.optics.kannala_brandt`);
* lateral CA: ``ChromaticRedGreenModel`` / ``ChromaticBlueGreenModel`` take the *green*
  channel's observed normalised point ``(x_g, y_g)`` to the red / blue one:
  ``ScaleFactor · radial(r_g) · (x_g, y_g) + tangential``; ``ChromaticGreenModel`` replaces
  the main model for green when present (RawTherapee's reading of the Adobe Camera Model);
* vignetting (``VignetteModel``): falloff ``1 + a1 r² + a2 r⁴ + a3 r⁶`` with ``r`` in that
  model's focal-length units (``VignetteModelParam1..3``); corrected = observed / falloff,
  on linear data.

References
----------
Adobe, "Adobe Camera Model" (Lens Profile Creator documentation, 2011); RawTherapee
``rtengine/lcp.cc`` (``LCPModelCommon``, ``LCPMapper``); lensfun ``apps/lensfun-convert-lcp``.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from l2tech.errors import InvalidProfileError
from l2tech.optics.kannala_brandt import correction_map_kannala_brandt, theta_distorted
from l2tech.optics.opencv import camera_matrix, correction_map_opencv, distort_normalized_opencv

__all__ = [
    "adobe_params_for_frame",
    "adobe_camera_matrix",
    "adobe_to_opencv_terms",
    "correction_map_adobe",
    "adobe_tca_maps",
    "adobe_vignetting_gain",
]


def _f(params: Mapping[str, float], key: str, default: float | None = None) -> float:
    if key in params:
        return float(params[key])
    if default is None:
        raise InvalidProfileError(f"Adobe camera model lacks {key}")
    return default


#: Long side of the 36 × 24 mm frame, mm: the sensor size of crop factor 1.
FULL_FRAME_LONG_SIDE_MM = 36.0


def adobe_params_for_frame(
    params: Mapping[str, float], *, focal_length_mm: float | None, crop_factor: float | None,
    profile_crop_factor: float | None,
) -> dict[str, float]:
    """An Adobe model's parameters in the units of the frame being corrected.

    ``FocalLengthX/Y`` are focal lengths in units of the long side of the *profiled*
    camera's image (``SensorFormatFactor`` = ``profile_crop_factor``). On a frame from a
    camera of crop factor ``c`` the same lens has ``FocalLengthX · c / c_profile`` in that
    frame's units (an LCP of a full-frame body on an APS-C frame: × 1.5). Without
    ``FocalLengthX`` the model's focal length is the shot's focal length over the long side
    of the frame's sensor: ``f_mm / (36 mm / c)``.

    Parameters
    ----------
    params : Mapping[str, float]
        Adobe parameters (module docs).
    focal_length_mm : float or None
        The shot's focal length, mm (used only when ``FocalLengthX`` is absent).
    crop_factor, profile_crop_factor : float or None
        Crop factors of the frame's camera and of the profiled camera; when either is unknown
        the frame is taken to be the profiled one.

    Returns
    -------
    dict
        ``params`` with ``FocalLengthX`` and ``FocalLengthY`` in the frame's units.

    Raises
    ------
    InvalidProfileError
        No ``FocalLengthX`` and no focal length or crop factor to compute it from.

    References
    ----------
    Adobe, "Adobe Camera Model" (Lens Profile Creator documentation): focal lengths normalised
    by ``max(ImageWidth, ImageLength)``; absent ``FocalLengthX/Y`` computed from the focal
    length and the sensor size. RawTherapee ``rtengine/lcp.cc`` (``LCPModelCommon::prepareParams``)
    does the same with a 35 mm long side.
    """
    out = dict(params)
    ok = lambda v: v is not None and np.isfinite(v) and v > 0  # noqa: E731
    if "FocalLengthX" not in out:
        if not (ok(focal_length_mm) and ok(crop_factor)):
            raise InvalidProfileError("Adobe camera model lacks FocalLengthX and the shot's focal length or crop factor "
                                      "is unknown; pass --focal-length")
        fx = float(focal_length_mm) * float(crop_factor) / FULL_FRAME_LONG_SIDE_MM
        out["FocalLengthX"] = fx
        out.setdefault("FocalLengthY", fx)
        return out
    if ok(crop_factor) and ok(profile_crop_factor):
        ratio = float(crop_factor) / float(profile_crop_factor)
        out["FocalLengthX"] = float(out["FocalLengthX"]) * ratio
        if "FocalLengthY" in out:
            out["FocalLengthY"] = float(out["FocalLengthY"]) * ratio
    return out


def adobe_camera_matrix(params: Mapping[str, float], width: int, height: int) -> np.ndarray:
    """Camera matrix ``K`` (pixels) of an Adobe model for a ``width × height`` image.

    Parameters
    ----------
    params : Mapping[str, float]
        ``FocalLengthX``, ``FocalLengthY`` (units of ``max(W, H)``), ``ImageXCenter``,
        ``ImageYCenter`` (fractions of ``W``, ``H``; default 0.5).
    width, height : int

    Returns
    -------
    ndarray, shape (3, 3), float64

    Raises
    ------
    InvalidProfileError
        A focal length is missing, zero or negative.
    """
    D = float(max(width, height))
    fx = _f(params, "FocalLengthX")
    fy = _f(params, "FocalLengthY", fx)
    if not (np.isfinite(fx) and np.isfinite(fy) and fx > 0 and fy > 0):
        raise InvalidProfileError(f"Adobe camera model has FocalLengthX={fx}, FocalLengthY={fy}; both must be > 0")
    return camera_matrix(fx * D, fy * D, _f(params, "ImageXCenter", 0.5) * width, _f(params, "ImageYCenter", 0.5) * height)


def adobe_to_opencv_terms(params: Mapping[str, float]) -> dict[str, float]:
    """Rectilinear Adobe parameters as OpenCV terms (``k1..k3, p1 = k4, p2 = k5``)."""
    return {
        "k1": _f(params, "RadialDistortParam1", 0.0),
        "k2": _f(params, "RadialDistortParam2", 0.0),
        "k3": _f(params, "RadialDistortParam3", 0.0),
        "p1": _f(params, "TangentialDistortParam1", 0.0),
        "p2": _f(params, "TangentialDistortParam2", 0.0),
    }


def _kb_terms(params: Mapping[str, float]) -> dict[str, float]:
    return {"k1": _f(params, "RadialDistortParam1", 0.0), "k2": _f(params, "RadialDistortParam2", 0.0)}


def correction_map_adobe(
    width: int, height: int, params: Mapping[str, float], *, fisheye: bool = False, output_projection: str = "rectilinear"
) -> np.ndarray:
    """Inverse map removing the distortion of an Adobe rectilinear or fisheye model.

    Parameters
    ----------
    width, height : int
        Image size in pixels (output = source).
    params : Mapping[str, float]
        Adobe parameters (module docs).
    fisheye : bool
        ``FisheyeModel`` instead of ``PerspectiveModel``.
    output_projection : str
        Fisheye only: projection of the output (default rectilinear).

    Returns
    -------
    ndarray, shape (H, W, 2), float32

    Raises
    ------
    InvalidProfileError
        Bad focal length, or the model folds within the frame (radius named).
    """
    K = adobe_camera_matrix(params, width, height)
    if fisheye:
        return correction_map_kannala_brandt(width, height, K, _kb_terms(params), output_projection=output_projection)
    return correction_map_opencv(width, height, K, adobe_to_opencv_terms(params))


def adobe_tca_maps(
    width: int,
    height: int,
    green: Mapping[str, float],
    red_green: Mapping[str, float] | None,
    blue_green: Mapping[str, float] | None,
    *,
    fisheye: bool = False,
) -> np.ndarray:
    """Per-channel inverse maps of an Adobe model with lateral CA sub-models.

    Parameters
    ----------
    width, height : int
    green : Mapping[str, float]
        The model for green (``ChromaticGreenModel`` or the main model).
    red_green, blue_green : Mapping[str, float] or None
        ``ChromaticRedGreenModel`` / ``ChromaticBlueGreenModel`` (``RadialDistortParam1..3``,
        ``TangentialDistortParam1..2``, ``ScaleFactor``); None = same as green.
    fisheye : bool
        Green model is a ``FisheyeModel``.

    Returns
    -------
    ndarray, shape (H, W, 3, 2), float32
        Source pixel of R, G, B for every output pixel.
    """
    K = adobe_camera_matrix(green, width, height)
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    xy = np.stack([(u - K[0, 2]) / K[0, 0], (v - K[1, 2]) / K[1, 1]], -1)
    if fisheye:
        r = np.hypot(xy[..., 0], xy[..., 1])
        td = theta_distorted(np.arctan(r), _kb_terms(green))
        with np.errstate(divide="ignore", invalid="ignore"):
            s = np.where(r > 1e-15, td / np.where(r > 1e-15, r, 1.0), 1.0)
        g = xy * s[..., None]
    else:
        g = distort_normalized_opencv(xy, adobe_to_opencv_terms(green))
    out = np.empty((height, width, 3, 2), np.float32)
    for c, sub in ((0, red_green), (1, None), (2, blue_green)):
        if sub is None:
            q = g
        else:
            q = distort_normalized_opencv(g, adobe_to_opencv_terms(sub)) * _f(sub, "ScaleFactor", 1.0)
        out[:, :, c, 0] = q[..., 0] * K[0, 0] + K[0, 2]
        out[:, :, c, 1] = q[..., 1] * K[1, 1] + K[1, 2]
    return out


def adobe_vignetting_gain(width: int, height: int, params: Mapping[str, float]) -> np.ndarray:
    """Correction gain ``1 / (1 + a1 r² + a2 r⁴ + a3 r⁶)`` of an Adobe ``VignetteModel``.

    Parameters
    ----------
    width, height : int
    params : Mapping[str, float]
        ``FocalLengthX/Y``, ``ImageXCenter/YCenter`` (of the vignette model, else the main
        model's) and ``VignetteModelParam1..3``.

    Returns
    -------
    ndarray, shape (H, W), float32
        Multiply linear pixel values by it.

    Raises
    ------
    InvalidProfileError
        The falloff is ≤ 0 somewhere in the frame (the gain would be infinite or negative).
    """
    K = adobe_camera_matrix(params, width, height)
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    r2 = ((u - K[0, 2]) / K[0, 0]) ** 2 + ((v - K[1, 2]) / K[1, 1]) ** 2
    a1, a2, a3 = (_f(params, f"VignetteModelParam{i}", 0.0) for i in (1, 2, 3))
    fall = 1.0 + r2 * (a1 + r2 * (a2 + r2 * a3))
    if not (fall > 0).all():
        bad = float(np.sqrt(r2[~(fall > 0)].min()) * K[0, 0])
        raise InvalidProfileError(f"Adobe vignette model falls to zero at radius {bad:.1f} px")
    return (1.0 / fall).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# registry builders (GEOMETRY_MODELS["adobe_rectilinear"], ["adobe_fisheye"])


def _adobe_builder(request, fisheye: bool):
    from l2tech.optics.compose import Warp
    from l2tech.optics.kannala_brandt import fold_angle
    from l2tech.optics.opencv import _check_folding

    W, H = request.width, request.height
    d = request.calibration.distortion
    profile = getattr(request.calibration, "profile", None)
    params = dict(d.terms) if d is not None else {}
    if d is not None:
        params = adobe_params_for_frame(params, focal_length_mm=getattr(d, "focal_length_mm", None),
                                        crop_factor=request.crop_factor,
                                        profile_crop_factor=getattr(profile, "crop_factor", None))
    K = adobe_camera_matrix(params, W, H)
    on = bool(request.distortion) and d is not None
    terms_cv = adobe_to_opencv_terms(params) if on else {}
    terms_kb = _kb_terms(params) if on else {}
    t = request.calibration.tca if request.tca else None
    subs = None
    if t is not None:
        rg = {k[2:]: v for k, v in t.terms.items() if k.startswith("R_")}
        bg = {k[2:]: v for k, v in t.terms.items() if k.startswith("B_")}
        subs = (rg or None, bg or None)

    def green(x, y):
        xy = np.stack([(np.asarray(x, np.float64) - K[0, 2]) / K[0, 0], (np.asarray(y, np.float64) - K[1, 2]) / K[1, 1]], -1)
        if fisheye:
            r = np.hypot(xy[..., 0], xy[..., 1])
            td = theta_distorted(np.arctan(r), terms_kb)
            with np.errstate(divide="ignore", invalid="ignore"):
                s = np.where(r > 1e-15, td / np.where(r > 1e-15, r, 1.0), 1.0)
            return xy * s[..., None]
        return distort_normalized_opencv(xy, terms_cv)

    def geometric(x, y):
        g = green(x, y)
        return g[..., 0] * K[0, 0] + K[0, 2], g[..., 1] * K[1, 1] + K[1, 2]

    def apply(x, y):
        if subs is None:
            return geometric(x, y)
        g = green(x, y)
        qs = []
        for sub in (subs[0], None, subs[1]):
            qs.append(g if sub is None else distort_normalized_opencv(g, adobe_to_opencv_terms(sub)) * _f(sub, "ScaleFactor", 1.0))
        return (np.stack([q[..., 0] * K[0, 0] + K[0, 2] for q in qs], -1), np.stack([q[..., 1] * K[1, 1] + K[1, 2] for q in qs], -1))

    def fold_check(scale: float) -> None:
        if not on:
            return
        xs = (np.array([0.0, W - 1.0]) - K[0, 2]) / K[0, 0] / scale
        ys = (np.array([0.0, H - 1.0]) - K[1, 2]) / K[1, 1] / scale
        r_max = float(np.hypot(np.abs(xs).max(), np.abs(ys).max()))
        if fisheye:
            fold = fold_angle(terms_kb, float(np.arctan(r_max)))
            if fold is not None:
                raise InvalidProfileError(f"Adobe fisheye model folds at ray angle {np.degrees(fold):.2f} deg")
        else:
            _check_folding(terms_cv, r_max, K[0, 0])

    return Warp(apply=apply, center_px=(float(K[0, 2]), float(K[1, 2])), width=W, height=H,
                per_channel=subs is not None, subpixel=subs is not None, geometric=geometric,
                fold_check=fold_check, box_center_px=((W - 1) / 2.0, (H - 1) / 2.0))


def adobe_rectilinear_warp(request):
    """Builder of ``"adobe_rectilinear"`` (terms = Adobe parameter names; TCA terms ``R_*``, ``B_*``)."""
    return _adobe_builder(request, fisheye=False)


def adobe_fisheye_warp(request):
    """Builder of ``"adobe_fisheye"``."""
    return _adobe_builder(request, fisheye=True)


