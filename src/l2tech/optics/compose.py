"""One inverse map per channel: geometry models, their registry, auto-scale and composition.

A correction is an *inverse map*: for every output (corrected) pixel, the source pixel to read,
per channel when TCA is on. Every geometric effect — scale, projection change, distortion,
TCA — is composed into that one map, so the image is resampled once (ARCHITECTURE.md).

Registry contract (``GEOMETRY_MODELS``)
---------------------------------------
``GEOMETRY_MODELS`` maps a model name (case-insensitive; the distortion ``model`` string of a
calibration, e.g. ``"ptlens"``, ``"opencv"``, ``"kannala_brandt"``) to a *builder*::

    builder(request: GeometryRequest) -> Warp

- :class:`GeometryRequest` carries the interpolated calibration (duck-typed: any object with
  ``.profile``, ``.distortion``, ``.tca``, ``.focal_length_mm``), the frame size in pixels,
  the camera's crop factor and which corrections are on.
- :class:`Warp` is the model's answer: ``apply(x, y)`` maps output pixel coordinates (float64
  arrays of any shape, origin at the centre of the top-left pixel) **at scale 1** to source
  pixel coordinates; it returns ``(xs, ys)`` of the input's shape, or of shape
  ``x.shape + (3,)`` (R, G, B) when ``per_channel`` is true. ``center_px`` is the point the
  scale zooms about; ``geometric`` (optional) is the same mapping without the per-channel
  part, used by auto-scale (lensfun scales for distortion/projection only and adds 0.1 % for
  TCA: set ``subpixel=True``). ``render`` (optional) is a fast path that fills whole maps:
  ``render(scale) -> tuple of (H, W, 2) float32`` (one map, or three for R, G, B).
  ``extra["render_rows"]`` (optional): ``render_rows(scale, y0, y1, outs=None)`` fills rows
  ``y0 .. y1`` only, letting the caller work in cache-sized strips.
  ``fold_check(scale)`` (optional) raises :class:`~l2tech.errors.InvalidProfileError` when the
  model folds the image inside the frame used at that scale.
- Every family shipped with l2tech is listed in one place, :func:`_builtin_geometry_models`
  at the end of this module, so the registry is complete as soon as this module is imported
  (no model depends on some other module having been imported first). Family modules import
  this module only inside their builders, never at module level, so there is no import cycle.
  Others register with :func:`register_geometry_model`; unknown names raise with the list of
  valid ones (:func:`geometry_model`). Several warps are chained with :func:`chain` (first = the
  one applied to the output coordinates, e.g. a projection change, then the lens).

Builders must be pure (no I/O) and deterministic: maps are cached by the caller on the
calibration's numbers and the frame size.

References
----------
lensfun ``libs/lensfun/mod-coord.cpp`` (callback chain ordered by priority: scale 100,
geometry 500, distortion 750, then the subpixel TCA callbacks; ``GetAutoScale``); scikit-image
``skimage.transform.warp`` (inverse maps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from l2tech.errors import InvalidProfileError, UsageError
from l2tech.optics import lensfun as lf

__all__ = [
    "GeometryRequest",
    "Warp",
    "GEOMETRY_MODELS",
    "register_geometry_model",
    "geometry_model",
    "chain",
    "auto_scale",
    "render_maps",
    "lensfun_warp",
    "lensfun_vignetting_gain",
    "invert_radial",
]

Apply = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class GeometryRequest:
    """What a geometry builder is asked for.

    Parameters
    ----------
    calibration : LensCalibration
        Interpolated calibration (duck-typed).
    width, height : int
        Frame size in pixels (output = source size).
    crop_factor : float
        Crop factor of the camera that took the frame.
    distortion, tca : bool
        Which corrections are on.
    projection : str or None
        Projection of the corrected image (``"rectilinear"``, ``"fisheye"``, ...); None = the
        family's own (rectilinear for pinhole and Kannala-Brandt models, the lens type for
        lensfun). A builder that honours it sets ``extra["handles_projection"] = True``;
        otherwise :func:`l2tech.correct.maps.correction_warp` chains a projection change
        in front using ``extra["focal_px"]``.
    """

    calibration: Any
    width: int
    height: int
    crop_factor: float
    distortion: bool = True
    tca: bool = True
    projection: str | None = None


@dataclass(frozen=True)
class Warp:
    """An output-pixel → source-pixel mapping at scale 1 (see the module docstring)."""

    apply: Apply
    center_px: tuple[float, float]
    width: int
    height: int
    per_channel: bool = False
    subpixel: bool = False
    geometric: Apply | None = None
    render: Callable[[float], tuple[np.ndarray, ...]] | None = None
    fold_check: Callable[[float], None] | None = None
    box_center_px: tuple[float, float] | None = None
    extra: dict = field(default_factory=dict)


GEOMETRY_MODELS: dict[str, Callable[[GeometryRequest], Warp]] = {}


def register_geometry_model(name: str, builder: Callable[[GeometryRequest], Warp]) -> None:
    """Register ``builder`` under ``name`` (case-insensitive); replaces an earlier one."""
    GEOMETRY_MODELS[name.lower()] = builder


def geometry_model(name: str) -> Callable[[GeometryRequest], Warp]:
    """The builder registered under ``name``.

    Raises
    ------
    InvalidProfileError
        No such model; the message lists the registered ones.
    """
    try:
        return GEOMETRY_MODELS[name.lower()]
    except KeyError:
        raise InvalidProfileError(
            f"unknown geometry model {name!r}; expected one of {', '.join(sorted(GEOMETRY_MODELS))}"
        ) from None


def chain(*warps: Warp) -> Warp:
    """Compose warps: ``warps[0]`` is applied to the output coordinates, the last gives the source.

    Only the last warp may be per-channel. The result zooms about the first warp's centre.
    """
    if not warps:
        raise UsageError("chain() needs at least one warp")
    if any(w.per_channel for w in warps[:-1]):
        raise UsageError("only the last warp of a chain may be per-channel")

    def apply(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        for w in warps:
            x, y = w.apply(x, y)
        return x, y

    def geometric(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        for w in warps:
            x, y = (w.geometric or w.apply)(x, y)
        return x, y

    last = warps[-1]
    return Warp(
        apply=apply,
        center_px=warps[0].center_px,
        width=last.width,
        height=last.height,
        per_channel=last.per_channel,
        subpixel=any(w.subpixel for w in warps),
        geometric=geometric,
        box_center_px=warps[0].box_center_px,
    )


def _scaled(warp: Warp, scale: float, fn: Apply) -> Apply:
    cx, cy = warp.center_px

    def apply(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return fn(cx + (np.asarray(x, np.float64) - cx) / scale, cy + (np.asarray(y, np.float64) - cy) / scale)

    return apply


def auto_scale(warp: Warp, samples: int = 2048) -> float:
    """The smallest zoom that leaves no empty border, lensfun's ``GetAutoScale`` rule.

    Eight directions from the centre (the four edge midpoints and the four corners, at the
    frame's own angles); along each, the undistorted radius ``ru`` whose source point reaches
    the source frame's edge (a box of ``(W−1) × (H−1)`` pixels about the centre: pixel centres)
    is found — here by a
    scan and bisection to 1e-10 px rather than lensfun's float Newton (tolerance 1e-3 Hugin
    units). The scale is ``max(dist / ru)`` over the eight, times 1.001 (lensfun's margin for
    what happens between the test points) and another 1.001 when TCA is corrected.

    A direction whose corrected image never reaches the frame edge (a fisheye's 180° corner seen
    rectilinear) does not constrain the scale. A warp whose ``extra["image_circle_px"]`` is
    ``(x, y, R)`` (a lens made for a smaller sensor, :func:`l2tech.correct.maps.correction_warp`)
    must also stay inside that circle. A warp that moves nothing (the identity) gives exactly 1.

    Parameters
    ----------
    warp : Warp
    samples : int
        Scan steps per direction before bisection.

    Returns
    -------
    float
        Scale (> 1 zooms in).

    Raises
    ------
    InvalidProfileError
        No direction reaches the frame edge, or the frame centre maps outside the image.

    References
    ----------
    lensfun ``libs/lensfun/mod-coord.cpp``, ``GetAutoScale`` / ``GetTransformedDistance``.
    """
    # lensfun measures the frame between pixel centres: W - 1, H - 1
    W, H = max(warp.width - 1, 1), max(warp.height - 1, 1)
    cx, cy = warp.center_px
    bx, by = warp.box_center_px or warp.center_px
    geo = warp.geometric or warp.apply
    a1 = math.atan2(H, W)
    angles = np.array([0.0, a1, math.pi / 2, math.pi - a1, math.pi, math.pi + a1, 1.5 * math.pi, 2 * math.pi - a1])
    diag = math.hypot(W, H) * 0.5
    dists = np.array([W / 2, diag, H / 2, diag, W / 2, diag, H / 2, diag])
    ca, sa = np.cos(angles), np.sin(angles)

    circle = warp.extra.get("image_circle_px")  # (x, y, radius): a lens made for a smaller sensor

    def residual(ru: np.ndarray) -> np.ndarray:
        xs, ys = geo(cx + ca[:, None] * ru, cy + sa[:, None] * ru)
        if xs.ndim == 3:  # per channel: use green
            xs, ys = xs[..., 1], ys[..., 1]
        out = np.maximum(np.abs(xs - bx) - W / 2, np.abs(ys - by) - H / 2)
        if circle is not None:  # the image ends at the lens's image circle, not the frame edge
            out = np.maximum(out, np.hypot(xs - circle[0], ys - circle[1]) - circle[2])
        return out

    ru = dists[:, None] * np.linspace(0.0, 4.0, samples + 1)[None, :]
    res = residual(ru)
    with np.errstate(invalid="ignore"):
        hit = np.nan_to_num(res, nan=1.0) >= 0
    scale = 0.01
    constrained = []
    for i in range(8):
        idx = np.nonzero(hit[i])[0]
        if idx.size and idx[0] == 0:
            raise InvalidProfileError(
                f"auto-scale: the frame centre maps outside the image in direction "
                f"{math.degrees(angles[i]):.0f}°; the profile does not fit this frame (use an explicit scale)"
            )
        if idx.size == 0:
            # the corrected image never reaches the frame edge (or image circle) this way,
            # e.g. a fisheye's 180° corner seen rectilinear: no empty border here at any scale
            continue
        j = int(idx[0])
        lo, hi = ru[i, j - 1], ru[i, j]
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            r = residual(np.full((8, 1), mid))[i, 0]
            if np.isfinite(r) and r < 0:
                lo = mid
            else:
                hi = mid
        constrained.append(dists[i] / (0.5 * (lo + hi)))
    if not constrained:
        raise InvalidProfileError(
            "auto-scale: the corrected image never reaches the frame edge in any direction; the profile "
            "does not fit this frame (use an explicit scale)"
        )
    scale = max(scale, *constrained)
    if all(abs(c - 1.0) <= 1e-9 for c in constrained) and len(constrained) == 8 and not warp.subpixel:
        return 1.0  # nothing moves (the identity): no zoom, no margin
    scale *= 1.001
    if warp.subpixel:
        scale *= 1.001
    return float(scale)


def render_maps(warp: Warp, scale: float) -> tuple[np.ndarray, ...]:
    """Full-frame inverse maps at ``scale``.

    Returns
    -------
    tuple of ndarray, each shape (H, W, 2), float32
        One map for all channels, or three (R, G, B) when the warp is per-channel.
    """
    if warp.fold_check is not None:
        warp.fold_check(scale)
    if warp.render is not None:
        return warp.render(scale)
    W, H = warp.width, warp.height
    fn = _scaled(warp, scale, warp.apply)
    ys = np.arange(H, dtype=np.float64)
    xs = np.arange(W, dtype=np.float64)
    out = None
    step = max(1, (1 << 20) // max(W, 1))
    for y0 in range(0, H, step):
        gx, gy = np.meshgrid(xs, ys[y0 : y0 + step])
        sx, sy = fn(gx, gy)
        if out is None:
            out = [np.empty((H, W, 2), np.float32) for _ in range(3 if sx.ndim == 3 else 1)]
        if sx.ndim == 3:
            for c in range(3):
                out[c][y0 : y0 + step, :, 0] = sx[..., c]
                out[c][y0 : y0 + step, :, 1] = sy[..., c]
        else:
            out[0][y0 : y0 + step, :, 0] = sx
            out[0][y0 : y0 + step, :, 1] = sy
    return tuple(out or [])


# ---------------------------------------------------------------------------------------------
# lensfun family

_DMODEL = {"poly3": 1, "poly5": 2, "ptlens": 3}
_TMODEL = {"linear": 1, "poly3": 2}


def _dist_params(model: str | None, terms: dict[str, float]) -> tuple[int, float, float, float]:
    if model is None:
        return 0, 0.0, 0.0, 0.0
    if model == "poly3":
        return 1, terms["k1"], 0.0, 0.0
    if model == "poly5":
        return 2, terms["k1"], terms["k2"], 0.0
    if model == "ptlens":
        return 3, terms["a"], terms["b"], terms["c"]
    raise InvalidProfileError(f"unknown lensfun distortion model {model!r}")


def _tca_params(model: str | None, terms: dict[str, float]) -> tuple[int, tuple[float, ...]]:
    if model is None:
        return 0, (1.0, 1.0, 0.0, 0.0, 0.0, 0.0)
    if model == "linear":
        return 1, (terms["kr"], terms["kb"], 0.0, 0.0, 0.0, 0.0)
    if model == "poly3":
        return 2, tuple(terms.get(k, d) for k, d in (("vr", 1.0), ("vb", 1.0), ("cr", 0.0), ("cb", 0.0), ("br", 0.0), ("bb", 0.0)))
    raise InvalidProfileError(f"unknown lensfun TCA model {model!r}")


def _norm_for(request: GeometryRequest) -> lf.LensfunNormalization:
    p = request.calibration.profile
    return lf.LensfunNormalization(
        width=request.width,
        height=request.height,
        crop_factor=request.crop_factor,
        calibration_crop_factor=p.crop_factor,
        calibration_aspect_ratio=p.aspect_ratio,
        center_x=p.center_x,
        center_y=p.center_y,
    )


def lensfun_warp(request: GeometryRequest) -> Warp:
    """Builder of the lensfun family (distortion poly3/poly5/ptlens, TCA linear/poly3).

    Order, as lensfun 0.3.x applies it for a correction: pixel → Hugin units → ÷ scale →
    distortion (``r_u → r_d``) → TCA on the distorted green coordinates (red and blue) →
    pixels.

    References
    ----------
    lensfun 0.3.x ``modifier.cpp``, ``mod-coord.cpp`` (``ApplySubpixelGeometryDistortion``),
    ``mod-subpix.cpp``.
    """
    cal = request.calibration
    norm = _norm_for(request)
    d = lf._terms(cal.distortion) if request.distortion else None
    t = lf._terms(cal.tca) if request.tca else None
    dmodel, d0, d1, d2 = _dist_params(*(d or (None, {})))
    tmodel, tt = _tca_params(*(t or (None, {})))
    ns = norm.norm_scale
    cxn, cyn = norm.center_normalized

    def distorted(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Normalised coordinates of the distorted (green) point."""
        xn = np.asarray(x, np.float64) * ns - cxn
        yn = np.asarray(y, np.float64) * ns - cyn
        if d is not None:
            f = lf.distortion_factor(d[0], d[1], xn * xn + yn * yn)
            xn, yn = xn * f, yn * f
        return xn, yn

    def geometric(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xn, yn = distorted(x, y)
        return (xn + cxn) / ns, (yn + cyn) / ns

    def apply(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if t is None:
            return geometric(x, y)
        xn, yn = distorted(x, y)
        fr, fb = lf.tca_factors(t[0], t[1], xn * xn + yn * yn)
        fx = np.stack([fr, np.ones_like(fr), fb], axis=-1)
        return (xn[..., None] * fx + cxn) / ns, (yn[..., None] * fx + cyn) / ns

    def render_rows(scale: float, y0: int, y1: int, outs: tuple[np.ndarray, ...] | None = None) -> tuple[np.ndarray, ...]:
        from l2tech.optics import _kernels

        W = request.width
        n = 3 if tmodel else 1
        if outs is None:
            outs = tuple(np.empty((y1 - y0, W, 2), np.float32) for _ in range(n))
        if n == 3:
            _kernels.lensfun_maps_tca(W, y1 - y0, ns, cxn, cyn, 1.0 / scale, dmodel, d0, d1, d2, tmodel, *tt,
                                      outs[0], outs[1], outs[2], y0)
        else:
            _kernels.lensfun_maps(W, y1 - y0, ns, cxn, cyn, 1.0 / scale, dmodel, d0, d1, d2, outs[0], y0)
        return outs

    def render(scale: float) -> tuple[np.ndarray, ...]:
        return render_rows(scale, 0, request.height)

    def fold_check(scale: float) -> None:
        if d is None:
            return
        W, H = request.width, request.height
        corners_x = np.array([0.0, W - 1.0, 0.0, W - 1.0])
        corners_y = np.array([0.0, 0.0, H - 1.0, H - 1.0])
        xn = corners_x * ns - cxn
        yn = corners_y * ns - cyn
        r_max = float(np.hypot(xn, yn).max()) / scale
        r_fold = lf.fold_radius(d[0], d[1], r_max)
        if r_fold is not None:
            lens = getattr(cal.profile, "name", "lens")
            raise InvalidProfileError(
                f"{lens} at {cal.focal_length_mm:g} mm: {d[0]} distortion folds the image at r = {r_fold:.4f} "
                f"(Hugin units; {r_fold / ns * scale:.1f} px from the lens centre, inside the "
                f"{W}x{H} frame whose corner is at r = {r_max:.4f}); refusing to correct with it"
            )

    return Warp(
        apply=apply,
        center_px=norm.center_px,
        width=request.width,
        height=request.height,
        per_channel=t is not None,
        subpixel=t is not None,
        geometric=geometric,
        render=render,
        fold_check=fold_check,
        extra={
            "normalization": norm,
            "render_rows": render_rows,
            # for fused map + resampling kernels: (ns, cxn, cyn, dmodel, d0, d1, d2, tmodel, 6 TCA terms)
            "lensfun_params": (ns, cxn, cyn, dmodel, d0, d1, d2, tmodel, *tt),
        },
    )


def lensfun_vignetting_gain(
    vignetting: Any, norm: lf.LensfunNormalization, *, out: np.ndarray | None = None
) -> np.ndarray:
    """Correction gain ``1 / (1 + k1 r² + k2 r⁴ + k3 r⁶)`` at every pixel of the frame.

    Parameters
    ----------
    vignetting : VignettingCalibration
        Interpolated ``pa`` terms.
    norm : LensfunNormalization
        The frame's normalisation.
    out : ndarray, shape (H, W), float32, optional

    Returns
    -------
    ndarray, shape (H, W), float32
        Multiply linear data by it. Where the falloff polynomial is ≤ 0 (extrapolated beyond the
        calibrated field) the gain is 0, matching lensfun, which clamps corrected values at 0.

    References
    ----------
    lensfun 0.3.x ``mod-color.cpp`` (``ModifyColor_DeVignetting_PA``, r in vignetting units =
    Hugin units / sqrt(a_cal² + 1)).
    """
    from l2tech.optics import _kernels

    if vignetting.model != "pa":
        raise InvalidProfileError(f"unknown vignetting model {vignetting.model!r}; expected pa")
    t = vignetting.terms
    if out is None:
        out = np.empty((norm.height, norm.width), np.float32)
    cxn, cyn = norm.center_normalized
    _kernels.pa_gain(norm.width, norm.height, norm.norm_scale, cxn, cyn, norm.vignetting_scale,
                     float(t["k1"]), float(t["k2"]), float(t["k3"]), out)
    return out


def invert_radial(
    forward: Callable[[np.ndarray], np.ndarray],
    derivative: Callable[[np.ndarray], np.ndarray],
    r_target: np.ndarray,
    *,
    what: str,
    max_iter: int = 60,
    tol: float = 1e-12,
) -> np.ndarray:
    """Solve ``forward(r) = r_target`` for r ≥ 0 by Newton's method, checking convergence.

    Parameters
    ----------
    forward, derivative : callable
        ``r -> r'`` and its derivative, vectorised (float64).
    r_target : ndarray
        Target radii (float64).
    what : str
        Named in the error.

    Returns
    -------
    ndarray
        ``r`` with ``|forward(r) − r_target| ≤ 1e-9 · max(1, r_target)``.

    Raises
    ------
    InvalidProfileError
        Some radius did not converge (or went negative / non-finite); the largest such target
        radius is named. Never silently returns an unconverged value (lensfun does).
    """
    rt = np.asarray(r_target, np.float64)
    r = rt.copy()
    for _ in range(max_iter):
        f = forward(r) - rt
        dfr = derivative(r)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(dfr > 0, f / dfr, np.nan)
        r = r - step
        if np.all(np.abs(step[np.isfinite(step)]) <= tol * np.maximum(1.0, rt[np.isfinite(step)])) and np.all(np.isfinite(step)):
            break
    err = np.abs(forward(r) - rt)
    bad = ~(np.isfinite(r) & (r >= 0) & (err <= 1e-9 * np.maximum(1.0, rt)))
    if np.any(bad):
        raise InvalidProfileError(
            f"{what}: the inverse did not converge for radii from {float(rt[bad].min()):.6g} "
            f"(Hugin units); the model is not invertible there"
        )
    return r


def _builtin_geometry_models() -> dict[str, Callable[[GeometryRequest], Warp]]:
    """Every geometry family shipped with l2tech, name → builder (the one place they are listed).

    The family modules import :mod:`l2tech.optics.compose` only inside their builders, so
    importing them here, at the end of this module, makes no import cycle.
    """
    from l2tech.optics.adobe import adobe_fisheye_warp, adobe_rectilinear_warp
    from l2tech.optics.dng import dng_warp_fisheye_warp, dng_warp_rectilinear_warp
    from l2tech.optics.kannala_brandt import kannala_brandt_warp
    from l2tech.optics.opencv import opencv_warp
    from l2tech.optics.radial_table import radial_table_warp

    return {
        "lensfun": lensfun_warp,  # TCA only, or nothing: scale alone
        "poly3": lensfun_warp,
        "poly5": lensfun_warp,
        "ptlens": lensfun_warp,
        "opencv": opencv_warp,
        "kannala_brandt": kannala_brandt_warp,
        "adobe_rectilinear": adobe_rectilinear_warp,
        "adobe_fisheye": adobe_fisheye_warp,
        "dng_warp_rectilinear": dng_warp_rectilinear_warp,
        "dng_warp_fisheye": dng_warp_fisheye_warp,
        "radial_table": radial_table_warp,  # camera-recorded splines (Sony, Fujifilm maker notes)
    }


GEOMETRY_MODELS.update(_builtin_geometry_models())
