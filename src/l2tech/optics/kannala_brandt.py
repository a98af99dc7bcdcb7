"""Kannala–Brandt fisheye model (OpenCV ``cv2.fisheye``, Gyroflow's default, Adobe/DNG fisheye).

With ideal normalised coordinates ``(x, y)`` (r = 1 at one focal length, as in
:mod:`l2tech.optics.opencv`), ``r = hypot(x, y)``, ``θ = atan(r)``::

    θ_d = θ (k0 + k1 θ² + k2 θ⁴ + k3 θ⁶ + k4 θ⁸)
    (x_d, y_d) = (θ_d / r) (x, y)

and the source pixel is ``(fx x_d + cx, fy y_d + cy)``. ``k0`` is 1 in OpenCV and Gyroflow;
the DNG ``WarpFisheye`` opcode has its own ``kr0`` (see :mod:`l2tech.optics.dng`), Adobe's LCP
fisheye model uses ``k1, k2`` only.

The ray angle θ need not come from a rectilinear output: :func:`correction_map_kannala_brandt`
takes an output projection (``rectilinear``, ``fisheye_equisolid``, ``equirectangular``...), so
de-fishing and reprojecting are one map.

References
----------
J. Kannala and S. S. Brandt, "A generic camera model and calibration method for conventional,
wide-angle, and fish-eye lenses", IEEE TPAMI 28(8), 2006; OpenCV
``modules/calib3d/src/fisheye.cpp`` (``cv::fisheye::initUndistortRectifyMap``); Gyroflow
``src/core/lens_profile.rs``.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from l2tech.errors import InvalidProfileError, UsageError
from l2tech.optics.projection import points_to_rays, rays_to_points, validate_projection

__all__ = [
    "KB_TERMS",
    "theta_distorted",
    "theta_undistorted",
    "distort_normalized_kannala_brandt",
    "undistort_normalized_kannala_brandt",
    "correction_map_kannala_brandt",
    "simulation_map_kannala_brandt",
    "fold_angle",
]

KB_TERMS = ("k0", "k1", "k2", "k3", "k4")


def _terms(terms: Mapping[str, float]) -> tuple[float, float, float, float, float]:
    unknown = set(terms) - set(KB_TERMS) - {"fx", "fy", "cx", "cy"}
    if unknown:
        raise UsageError(f"unknown Kannala-Brandt terms {sorted(unknown)}; valid: {', '.join(KB_TERMS)}")
    return (
        float(terms.get("k0", 1.0)),
        float(terms.get("k1", 0.0)),
        float(terms.get("k2", 0.0)),
        float(terms.get("k3", 0.0)),
        float(terms.get("k4", 0.0)),
    )


def theta_distorted(theta: np.ndarray, terms: Mapping[str, float]) -> np.ndarray:
    """``θ_d = θ (k0 + k1 θ² + k2 θ⁴ + k3 θ⁶ + k4 θ⁸)`` (radians in, normalised radius out)."""
    k0, k1, k2, k3, k4 = _terms(terms)
    th = np.asarray(theta, dtype=np.float64)
    t2 = th * th
    return th * (k0 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))


def fold_angle(terms: Mapping[str, float], theta_max: float, samples: int = 20001) -> float | None:
    """First angle in ``(0, theta_max]`` (radians) where ``θ_d(θ)`` stops increasing, or None."""
    th = np.linspace(0.0, float(theta_max), samples)
    d = np.diff(theta_distorted(th, terms))
    bad = np.nonzero(~(d > 0))[0]
    return float(th[bad[0]]) if len(bad) else None


def theta_undistorted(theta_d: np.ndarray, terms: Mapping[str, float], theta_max: float = np.pi) -> np.ndarray:
    """Invert ``θ_d(θ)`` by safeguarded Newton iteration.

    Parameters
    ----------
    theta_d : ndarray, any shape
        Distorted normalised radii (≥ 0).
    terms : Mapping[str, float]
        ``k0..k4``.
    theta_max : float
        Largest ray angle searched (radians); the model must be increasing on ``[0, theta_max]``
        up to the largest ``theta_d`` requested.

    Returns
    -------
    ndarray, same shape, float64
        θ in radians, converged to 1e-14; NaN where ``theta_d`` exceeds ``θ_d(theta_max)``.

    Raises
    ------
    InvalidProfileError
        ``θ_d(θ)`` folds (stops increasing) before reaching the largest finite ``theta_d``.
    """
    td = np.asarray(theta_d, dtype=np.float64)
    finite = np.isfinite(td)
    target_max = float(td[finite].max()) if finite.any() else 0.0
    fold = fold_angle(terms, theta_max)
    hi = theta_max if fold is None else fold
    td_hi = float(theta_distorted(np.array(hi), terms))
    if fold is not None and target_max > td_hi:
        raise InvalidProfileError(
            f"Kannala-Brandt distortion folds at ray angle {np.degrees(fold):.2f} deg (distorted "
            f"radius {td_hi:.4g} focal lengths) but the frame reaches {target_max:.4g}; "
            "the profile is not valid over this frame"
        )
    th = np.clip(td, 0.0, hi)
    lo_b = np.zeros_like(th)
    hi_b = np.full_like(th, hi)
    for _ in range(100):
        f = theta_distorted(th, terms) - td
        h = 1e-7
        dfd = (theta_distorted(th + h, terms) - theta_distorted(th - h, terms)) / (2 * h)
        lo_b = np.where(f < 0, th, lo_b)
        hi_b = np.where(f > 0, th, hi_b)
        with np.errstate(divide="ignore", invalid="ignore"):
            new = th - f / dfd
        outside = ~((new > lo_b) & (new < hi_b))
        new = np.where(outside, 0.5 * (lo_b + hi_b), new)
        conv = np.abs(new - th) < 1e-15
        th = new
        if np.all(conv | ~finite):
            break
    th = np.where(finite & (td <= td_hi * (1 + 1e-12)), th, np.nan)
    return th


def distort_normalized_kannala_brandt(xy: np.ndarray, terms: Mapping[str, float]) -> np.ndarray:
    """Ideal normalised coordinates (rectilinear, r = tan θ) to distorted normalised coordinates.

    Parameters
    ----------
    xy : ndarray, shape (..., 2)
        Ideal normalised coordinates.
    terms : Mapping[str, float]
        ``k0`` (default 1), ``k1..k4``.

    Returns
    -------
    ndarray, shape (..., 2), float64
    """
    xy = np.asarray(xy, dtype=np.float64)
    r = np.hypot(xy[..., 0], xy[..., 1])
    td = theta_distorted(np.arctan(r), terms)
    k0 = _terms(terms)[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(r > 1e-12, td / np.where(r > 1e-12, r, 1.0), k0)
    return xy * s[..., None]


def undistort_normalized_kannala_brandt(xy_d: np.ndarray, terms: Mapping[str, float]) -> np.ndarray:
    """Distorted normalised coordinates to ideal ones (``r = tan θ``); NaN for θ ≥ 90°."""
    xy_d = np.asarray(xy_d, dtype=np.float64)
    rd = np.hypot(xy_d[..., 0], xy_d[..., 1])
    th = theta_undistorted(rd, terms)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(th < np.pi / 2, np.tan(th), np.nan)
        s = np.where(rd > 1e-12, r / np.where(rd > 1e-12, rd, 1.0), 1.0 / _terms(terms)[0])
    return xy_d * s[..., None]


def _grid(width: int, height: int) -> np.ndarray:
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    return np.stack([u, v], axis=-1)


def correction_map_kannala_brandt(
    width: int,
    height: int,
    K: np.ndarray,
    terms: Mapping[str, float],
    new_K: np.ndarray | None = None,
    *,
    output_projection: str = "rectilinear",
    check: bool = True,
) -> np.ndarray:
    """Inverse map that corrects a Kannala–Brandt fisheye image into ``output_projection``.

    Parameters
    ----------
    width, height : int
        Output frame size in pixels.
    K : ndarray, shape (3, 3)
        Camera matrix of the fisheye (source) frame, pixels.
    terms : Mapping[str, float]
        ``k0`` (default 1), ``k1..k4``.
    new_K : ndarray, shape (3, 3), optional
        Camera matrix of the output (focal and centre in pixels; default ``K``).
    output_projection : str
        Projection of the output (default ``rectilinear``; see
        :data:`l2tech.optics.projection.PROJECTIONS`).
    check : bool
        Refuse profiles that fold within the rays the output needs.

    Returns
    -------
    ndarray, shape (H, W, 2), float32
        Source ``(x, y)`` pixel for each output pixel; NaN where the output ray has no image.
        For a rectilinear output this equals
        ``cv2.fisheye.initUndistortRectifyMap(K, D, I, new_K, (W, H), CV_32FC1)``.

    Raises
    ------
    InvalidProfileError
        ``θ_d(θ)`` is not increasing up to the largest ray angle of the output (angle named).
    """
    K = np.asarray(K, dtype=np.float64)
    nK = K if new_K is None else np.asarray(new_K, dtype=np.float64)
    proj = validate_projection(output_projection)
    uv = _grid(width, height)
    pts = np.empty_like(uv)
    # output projection in units of the new focal length, anisotropic focal as OpenCV
    pts[..., 0] = (uv[..., 0] - nK[0, 2]) / nK[0, 0]
    pts[..., 1] = (uv[..., 1] - nK[1, 2]) / nK[1, 1]
    rays = points_to_rays(pts, 1.0, proj)
    s = np.hypot(rays[..., 0], rays[..., 1])
    theta = np.arctan2(s, rays[..., 2])
    if check and np.isfinite(theta).any():
        tmax = float(np.nanmax(theta))
        fold = fold_angle(terms, tmax)
        if fold is not None:
            raise InvalidProfileError(
                f"Kannala-Brandt distortion folds at ray angle {np.degrees(fold):.2f} deg "
                f"(radius {float(theta_distorted(np.array(fold), terms)) * K[0, 0]:.1f} px); "
                f"the output needs rays up to {np.degrees(tmax):.2f} deg"
            )
    td = theta_distorted(theta, terms)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.where(s > 1e-15, td / np.where(s > 1e-15, s, 1.0), 0.0)
    out = np.empty(uv.shape, dtype=np.float32)
    out[..., 0] = k * rays[..., 0] * K[0, 0] + K[0, 2]
    out[..., 1] = k * rays[..., 1] * K[1, 1] + K[1, 2]
    return out


def simulation_map_kannala_brandt(
    width: int,
    height: int,
    K: np.ndarray,
    terms: Mapping[str, float],
    new_K: np.ndarray | None = None,
    *,
    source_projection: str = "rectilinear",
) -> np.ndarray:
    """Inverse map that renders a Kannala–Brandt fisheye frame from an ideal image.

    The exact inverse of :func:`correction_map_kannala_brandt` with the same arguments
    (``source_projection`` there being ``output_projection``).

    Parameters
    ----------
    width, height : int
        Output (fisheye) frame size in pixels.
    K : ndarray, shape (3, 3)
        Camera matrix of the fisheye frame.
    terms : Mapping[str, float]
        ``k0..k4``.
    new_K : ndarray, shape (3, 3), optional
        Camera matrix of the ideal source image (default ``K``).
    source_projection : str
        Projection of the ideal source image.

    Returns
    -------
    ndarray, shape (H, W, 2), float32
        Source pixel for each fisheye pixel; NaN where the ray has no image in the source
        projection (e.g. θ ≥ 90° for a rectilinear source) or lies beyond the model's range.

    Raises
    ------
    InvalidProfileError
        The model folds before reaching the frame's largest radius (angle and radius named).
    """
    K = np.asarray(K, dtype=np.float64)
    nK = K if new_K is None else np.asarray(new_K, dtype=np.float64)
    proj = validate_projection(source_projection)
    uv = _grid(width, height)
    xd = (uv[..., 0] - K[0, 2]) / K[0, 0]
    yd = (uv[..., 1] - K[1, 2]) / K[1, 1]
    rd = np.hypot(xd, yd)
    th = theta_undistorted(rd, terms)
    with np.errstate(divide="ignore", invalid="ignore"):
        cx_ = np.where(rd > 1e-15, xd / np.where(rd > 1e-15, rd, 1.0), 0.0)
        cy_ = np.where(rd > 1e-15, yd / np.where(rd > 1e-15, rd, 1.0), 0.0)
    rays = np.stack([np.sin(th) * cx_, np.sin(th) * cy_, np.cos(th)], axis=-1)
    pts = rays_to_points(rays, 1.0, proj)
    out = np.empty(uv.shape, dtype=np.float32)
    out[..., 0] = pts[..., 0] * nK[0, 0] + nK[0, 2]
    out[..., 1] = pts[..., 1] * nK[1, 1] + nK[1, 2]
    return out


# ---------------------------------------------------------------------------------------------
# registry builder (l2tech.optics.compose.GEOMETRY_MODELS["kannala_brandt"])


def kannala_brandt_warp(request, output_projection: str = "rectilinear"):
    """Builder of the ``"kannala_brandt"`` geometry model for :mod:`l2tech.optics.compose`.

    Parameters
    ----------
    request : GeometryRequest
        Its calibration's ``distortion.terms`` hold ``k1..k4`` (``k0`` optional) and ``fx, fy,
        cx, cy`` in pixels of the calibration frame (docs/PROFILES.md).
    output_projection : str
        Projection of the corrected image (rectilinear by default; use
        ``functools.partial(kannala_brandt_warp, output_projection=...)`` to de-fish into
        another projection). The output focal length and centre are the lens's.

    Returns
    -------
    Warp
    """
    from l2tech.optics.compose import Warp
    from l2tech.optics.opencv import pixel_model_K

    K = pixel_model_K(request.calibration, request.width, request.height)
    terms = {k: v for k, v in request.calibration.distortion.terms.items() if k in KB_TERMS}
    if not request.distortion:
        terms = {}
    proj = validate_projection(getattr(request, "projection", None) or output_projection)

    def apply(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pts = np.stack([(np.asarray(x, np.float64) - K[0, 2]) / K[0, 0], (np.asarray(y, np.float64) - K[1, 2]) / K[1, 1]], -1)
        rays = points_to_rays(pts, 1.0, proj)
        s = np.hypot(rays[..., 0], rays[..., 1])
        td = theta_distorted(np.arctan2(s, rays[..., 2]), terms)
        with np.errstate(divide="ignore", invalid="ignore"):
            k = np.where(s > 1e-15, td / np.where(s > 1e-15, s, 1.0), 0.0)
        return k * rays[..., 0] * K[0, 0] + K[0, 2], k * rays[..., 1] * K[1, 1] + K[1, 2]

    def fold_check(scale: float) -> None:
        W, H = request.width, request.height
        xs = (np.array([0.0, W - 1.0]) - K[0, 2]) / K[0, 0] / scale
        ys = (np.array([0.0, H - 1.0]) - K[1, 2]) / K[1, 1] / scale
        corner = np.array([[np.abs(xs).max(), np.abs(ys).max()]])
        rays = points_to_rays(corner, 1.0, proj)
        tmax = float(np.arctan2(np.hypot(rays[0, 0], rays[0, 1]), rays[0, 2]))
        if np.isfinite(tmax):
            fold = fold_angle(terms, tmax)
            if fold is not None:
                raise InvalidProfileError(
                    f"Kannala-Brandt distortion folds at ray angle {np.degrees(fold):.2f} deg "
                    f"(radius {float(theta_distorted(np.array(fold), terms)) * K[0, 0]:.1f} px)"
                )

    return Warp(apply=apply, center_px=(float(K[0, 2]), float(K[1, 2])), width=request.width,
                height=request.height, geometric=apply, fold_check=fold_check,
                box_center_px=((request.width - 1) / 2.0, (request.height - 1) / 2.0),
                extra={"handles_projection": True, "focal_px": float(K[0, 0])})


