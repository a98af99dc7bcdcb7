"""OpenCV pinhole camera model: radial (k1..k6), tangential (p1, p2) and thin-prism (s1..s4).

Coordinates
-----------
*Normalised* coordinates are ``x = (u - cx) / fx``, ``y = (v - cy) / fy`` with ``(u, v)`` in
pixels, origin at the centre of the top-left pixel (OpenCV's convention; STYLE.md rule 11).
r = 1 is one focal length (OPTICS.md §5).

The model maps an ideal (undistorted, corrected) normalised point to the observed (distorted,
source) one::

    x'' = x (1 + k1 r^2 + k2 r^4 + k3 r^6) / (1 + k4 r^2 + k5 r^4 + k6 r^6)
          + 2 p1 x y + p2 (r^2 + 2 x^2) + s1 r^2 + s2 r^4
    y'' = y (same radial factor) + p1 (r^2 + 2 y^2) + 2 p2 x y + s3 r^2 + s4 r^4

so correcting an image is a direct evaluation at every output pixel, and simulating the lens
needs the inverse, computed here by Newton's method (never silently given up on: points that do
not converge raise :class:`~l2tech.errors.InvalidProfileError`).

The helpers :func:`newton_inverse_2d` and :func:`radial_fold_radius` are shared by the other
pixel-based families of :mod:`l2tech.optics` (Adobe, DNG warps), which are special cases of
this model.

References
----------
OpenCV calib3d documentation, "Camera Calibration and 3D Reconstruction" (distortion model);
OpenCV ``modules/calib3d/src/undistort.dispatch.cpp`` (``initUndistortRectifyMap``).
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from l2tech.errors import InvalidProfileError, UsageError

__all__ = [
    "OPENCV_TERMS",
    "distort_normalized_opencv",
    "undistort_normalized_opencv",
    "opencv_dist_coeffs",
    "camera_matrix",
    "scale_camera_matrix",
    "correction_map_opencv",
    "simulation_map_opencv",
    "newton_inverse_2d",
    "radial_fold_radius",
    "pixel_model_K",
    "check_calibration_frame",
    "simulation_maps_from_warp",
]

#: Distortion coefficient names, in OpenCV's ``distCoeffs`` order is k1 k2 p1 p2 k3 k4 k5 k6 s1..s4.
OPENCV_TERMS = ("k1", "k2", "k3", "k4", "k5", "k6", "p1", "p2", "s1", "s2", "s3", "s4")
_CV_ORDER = ("k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6", "s1", "s2", "s3", "s4")


def _terms(terms: Mapping[str, float]) -> dict[str, float]:
    unknown = set(terms) - set(OPENCV_TERMS) - {"fx", "fy", "cx", "cy"}
    if unknown:
        raise UsageError(f"unknown OpenCV distortion terms {sorted(unknown)}; valid: {', '.join(OPENCV_TERMS)}")
    return {k: float(terms.get(k, 0.0)) for k in OPENCV_TERMS}


def opencv_dist_coeffs(terms: Mapping[str, float]) -> np.ndarray:
    """Terms as OpenCV's ``distCoeffs`` vector (k1, k2, p1, p2, k3, k4, k5, k6, s1, s2, s3, s4).

    Parameters
    ----------
    terms : Mapping[str, float]
        Any subset of :data:`OPENCV_TERMS` (missing terms are 0).

    Returns
    -------
    ndarray, shape (12,), float64
    """
    t = _terms(terms)
    return np.array([t[k] for k in _CV_ORDER], dtype=np.float64)


def camera_matrix(fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """The 3x3 pinhole camera matrix ``K`` (pixels), float64."""
    return np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float64)


def scale_camera_matrix(K: np.ndarray, calib_size: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """Rescale a camera matrix calibrated at ``calib_size`` to a frame of ``size`` pixels.

    Parameters
    ----------
    K : ndarray, shape (3, 3)
        Camera matrix at the calibration size.
    calib_size, size : (int, int)
        ``(width, height)`` in pixels of the calibration frame and of the target frame.

    Returns
    -------
    ndarray, shape (3, 3), float64

    Notes
    -----
    The whole sensor area is assumed to be resampled (no crop): ``fx' = fx * W'/W`` and, with
    OpenCV's pixel-centre origin, ``cx' = (cx + 0.5) * W'/W - 0.5`` (likewise in y). A frame of
    another aspect ratio is a crop and must be described by the caller's own matrix.
    """
    (w0, h0), (w1, h1) = calib_size, size
    sx, sy = w1 / float(w0), h1 / float(h0)
    K = np.asarray(K, dtype=np.float64)
    return camera_matrix(K[0, 0] * sx, K[1, 1] * sy, (K[0, 2] + 0.5) * sx - 0.5, (K[1, 2] + 0.5) * sy - 0.5)


def distort_normalized_opencv(xy: np.ndarray, terms: Mapping[str, float]) -> np.ndarray:
    """Ideal normalised coordinates to distorted normalised coordinates (the OpenCV model).

    Parameters
    ----------
    xy : ndarray, shape (..., 2)
        Ideal (undistorted) normalised coordinates ``(x, y)``, r = 1 at one focal length.
    terms : Mapping[str, float]
        Any of ``k1..k6, p1, p2, s1..s4`` (missing = 0).

    Returns
    -------
    ndarray, shape (..., 2), float64
        Distorted normalised coordinates.

    References
    ----------
    OpenCV calib3d documentation (``projectPoints``, ``initUndistortRectifyMap``).
    """
    t = _terms(terms)
    xy = np.asarray(xy, dtype=np.float64)
    x, y = xy[..., 0], xy[..., 1]
    r2 = x * x + y * y
    r4 = r2 * r2
    r6 = r4 * r2
    num = 1.0 + t["k1"] * r2 + t["k2"] * r4 + t["k3"] * r6
    den = 1.0 + t["k4"] * r2 + t["k5"] * r4 + t["k6"] * r6
    rad = num / den
    xd = x * rad + 2.0 * t["p1"] * x * y + t["p2"] * (r2 + 2.0 * x * x) + t["s1"] * r2 + t["s2"] * r4
    yd = y * rad + t["p1"] * (r2 + 2.0 * y * y) + 2.0 * t["p2"] * x * y + t["s3"] * r2 + t["s4"] * r4
    return np.stack([xd, yd], axis=-1)


def newton_inverse_2d(
    forward: Callable[[np.ndarray], np.ndarray],
    target: np.ndarray,
    initial: np.ndarray | None = None,
    *,
    tol: float = 1e-12,
    max_iter: int = 50,
    what: str = "distortion",
) -> np.ndarray:
    """Solve ``forward(p) = target`` for every point with Newton's method.

    Parameters
    ----------
    forward : callable
        Vectorised map ``(..., 2) -> (..., 2)`` (float64), smooth near the solution.
    target : ndarray, shape (..., 2)
        Points to invert.
    initial : ndarray, shape (..., 2), optional
        Starting guess (default ``target``).
    tol : float
        Convergence limit on the residual, in the units of ``target``.
    max_iter : int
        Iteration limit.
    what : str
        Name of the model, for the error message.

    Returns
    -------
    ndarray, shape (..., 2), float64
        Solutions; points whose target is NaN stay NaN.

    Raises
    ------
    InvalidProfileError
        Some finite point did not converge (the model is not invertible there); the message gives
        the radius of the first such target point.

    Notes
    -----
    The Jacobian is taken by central differences (step 1e-7 relative), which is ample for
    float64 convergence because the residual itself is evaluated exactly. Steps are halved
    while they do not reduce the residual (damped Newton).
    """
    target = np.asarray(target, dtype=np.float64)
    p = np.array(target if initial is None else initial, dtype=np.float64, copy=True)
    shape = target.shape
    tgt = target.reshape(-1, 2)
    p = p.reshape(-1, 2)
    finite = np.isfinite(tgt).all(axis=1)
    active = finite.copy()
    p[~finite] = np.nan
    for _ in range(max_iter):
        if not active.any():
            break
        idx = np.nonzero(active)[0]
        pa = p[idx]
        f0 = forward(pa) - tgt[idx]
        err = np.hypot(f0[:, 0], f0[:, 1])
        done = err <= tol * np.maximum(1.0, np.hypot(tgt[idx, 0], tgt[idx, 1]))
        active[idx[done]] = False
        keep = ~done
        if not keep.any():
            break
        idx, pa, f0, err = idx[keep], pa[keep], f0[keep], err[keep]
        h = 1e-7 * np.maximum(1.0, np.abs(pa))
        ex = np.zeros_like(pa)
        ex[:, 0] = h[:, 0]
        ey = np.zeros_like(pa)
        ey[:, 1] = h[:, 1]
        jx = (forward(pa + ex) - forward(pa - ex)) / (2.0 * h[:, :1])
        jy = (forward(pa + ey) - forward(pa - ey)) / (2.0 * h[:, 1:])
        det = jx[:, 0] * jy[:, 1] - jy[:, 0] * jx[:, 1]
        with np.errstate(divide="ignore", invalid="ignore"):
            dx = (jy[:, 1] * f0[:, 0] - jy[:, 0] * f0[:, 1]) / det
            dy = (-jx[:, 1] * f0[:, 0] + jx[:, 0] * f0[:, 1]) / det
        step = np.stack([dx, dy], axis=-1)
        lam = np.ones(len(idx))
        new = pa - step
        for _ in range(20):
            fn = forward(new) - tgt[idx]
            en = np.hypot(fn[:, 0], fn[:, 1])
            worse = ~(en < err) & (en > tol)
            if not worse.any():
                break
            lam[worse] *= 0.5
            new[worse] = pa[worse] - lam[worse, None] * step[worse]
        p[idx] = new
    # final residual check
    res = forward(p[finite]) - tgt[finite]
    bad_rel = np.hypot(res[:, 0], res[:, 1]) > max(1e3 * tol, 1e-9) * np.maximum(
        1.0, np.hypot(tgt[finite, 0], tgt[finite, 1])
    )
    bad_rel |= ~np.isfinite(res).all(axis=1)
    if bad_rel.any():
        first = tgt[finite][np.argmax(bad_rel)]
        raise InvalidProfileError(
            f"{what} is not invertible at normalised radius {np.hypot(*first):.6g} "
            "(Newton's method did not converge); the profile cannot simulate this lens over the frame"
        )
    return p.reshape(shape)


def radial_fold_radius(
    radial: Callable[[np.ndarray], np.ndarray], r_max: float, samples: int = 20001
) -> float | None:
    """First radius in ``(0, r_max]`` where ``r -> r * radial(r)`` stops increasing, or None.

    Parameters
    ----------
    radial : callable
        Vectorised radial factor ``r_d / r_u`` as a function of ``r_u`` (float64).
    r_max : float
        Largest ideal radius used (e.g. the frame corner), same units as ``r_u``.
    samples : int
        Grid density of the check.

    Returns
    -------
    float or None
        The radius where the derivative of ``r * radial(r)`` first becomes ≤ 0 (the image would
        fold there), or None when the map is monotonic over the range.
    """
    lo, hi = 0.0, float(r_max)
    found: float | None = None
    for step in range(8):
        r = np.linspace(lo, hi, int(samples))
        if step == 0 and hi > 0:
            # a fold's width scales with its radius, not with the range checked: over a range far
            # beyond it (a tiny trial scale) uniform steps can pass a whole fold (r (1 - 0.5 r^2 +
            # 0.082 r^4) falls only from 0.94 to 1.66); geometric steps keep the same relative size
            r = np.union1d(r, np.geomspace(min(1e-4, hi * 1e-6), hi, int(samples)))
        g = r * radial(r)
        bad = np.nonzero(~(np.diff(g) > 0))[0]
        if not len(bad):
            return found  # None over the whole range; else the refined radius already found
        i = int(bad[0])
        found = float(r[i])
        # the fold lies within a step of r[i]: look again, finer, around it (over a range far
        # beyond the fold, e.g. at a tiny trial scale, one step may span the whole fold)
        lo, hi = float(r[max(i - 1, 0)]), float(r[min(i + 1, len(r) - 1)])
        if hi - lo <= 1e-9 * max(hi, 1e-12):
            break
    return found


def _pixel_grid(width: int, height: int) -> np.ndarray:
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    return np.stack([u, v], axis=-1)


def _check_folding(terms: Mapping[str, float], r_max: float, fx: float) -> None:
    t = _terms(terms)

    def radial(r: np.ndarray) -> np.ndarray:
        r2 = r * r
        return (1 + t["k1"] * r2 + t["k2"] * r2**2 + t["k3"] * r2**3) / (
            1 + t["k4"] * r2 + t["k5"] * r2**2 + t["k6"] * r2**3
        )

    fold = radial_fold_radius(radial, r_max)
    if fold is not None:
        raise InvalidProfileError(
            f"OpenCV distortion folds the image at radius {fold * fx:.1f} px "
            f"(normalised {fold:.4g}); the profile is not valid over this frame"
        )


def correction_map_opencv(
    width: int,
    height: int,
    K: np.ndarray,
    terms: Mapping[str, float],
    new_K: np.ndarray | None = None,
    *,
    check: bool = True,
) -> np.ndarray:
    """Inverse map that removes OpenCV pinhole distortion.

    Parameters
    ----------
    width, height : int
        Output (corrected) frame size in pixels; also the size of the source frame.
    K : ndarray, shape (3, 3)
        Camera matrix of the source frame (pixels).
    terms : Mapping[str, float]
        Distortion coefficients ``k1..k6, p1, p2, s1..s4``.
    new_K : ndarray, shape (3, 3), optional
        Camera matrix of the corrected image (default ``K``).
    check : bool
        Refuse profiles whose radial part folds within the output frame.

    Returns
    -------
    ndarray, shape (H, W, 2), float32
        For each output pixel, the ``(x, y)`` source pixel (same as
        ``cv2.initUndistortRectifyMap(K, D, None, new_K, (W, H), cv2.CV_32FC1)``).

    Raises
    ------
    InvalidProfileError
        The radial distortion is not monotonic over the frame (the radius is named).

    References
    ----------
    OpenCV ``initUndistortRectifyMap``.
    """
    K = np.asarray(K, dtype=np.float64)
    nK = K if new_K is None else np.asarray(new_K, dtype=np.float64)
    uv = _pixel_grid(width, height)
    xy = np.empty_like(uv)
    xy[..., 0] = (uv[..., 0] - nK[0, 2]) / nK[0, 0]
    xy[..., 1] = (uv[..., 1] - nK[1, 2]) / nK[1, 1]
    if check:
        _check_folding(terms, float(np.hypot(xy[..., 0], xy[..., 1]).max()), K[0, 0])
    d = distort_normalized_opencv(xy, terms)
    out = np.empty(uv.shape, dtype=np.float32)
    out[..., 0] = d[..., 0] * K[0, 0] + K[0, 2]
    out[..., 1] = d[..., 1] * K[1, 1] + K[1, 2]
    return out


def undistort_normalized_opencv(xy_d: np.ndarray, terms: Mapping[str, float]) -> np.ndarray:
    """Distorted normalised coordinates to ideal ones (inverse of the OpenCV model).

    Parameters
    ----------
    xy_d : ndarray, shape (..., 2)
        Distorted normalised coordinates.
    terms : Mapping[str, float]
        Distortion coefficients.

    Returns
    -------
    ndarray, shape (..., 2), float64

    Raises
    ------
    InvalidProfileError
        Newton's method did not converge for some point (names its radius).

    Notes
    -----
    Converges to 1e-12 (relative), far tighter than ``cv2.undistortPoints``' default fixed
    5-step iteration.
    """
    t = _terms(terms)
    return newton_inverse_2d(lambda p: distort_normalized_opencv(p, t), xy_d, what="OpenCV distortion")


def simulation_map_opencv(
    width: int,
    height: int,
    K: np.ndarray,
    terms: Mapping[str, float],
    new_K: np.ndarray | None = None,
) -> np.ndarray:
    """Inverse map that applies OpenCV pinhole distortion to an ideal image (simulates the lens).

    Parameters
    ----------
    width, height : int
        Output (distorted) frame size in pixels.
    K : ndarray, shape (3, 3)
        Camera matrix of the distorted (output) frame.
    terms : Mapping[str, float]
        Distortion coefficients.
    new_K : ndarray, shape (3, 3), optional
        Camera matrix of the ideal (source) image (default ``K``).

    Returns
    -------
    ndarray, shape (H, W, 2), float32
        For each distorted output pixel, the ``(x, y)`` pixel of the ideal source image; the exact
        inverse of :func:`correction_map_opencv` with the same arguments.

    Raises
    ------
    InvalidProfileError
        The model folds within the frame or cannot be inverted (the radius is named).
    """
    K = np.asarray(K, dtype=np.float64)
    nK = K if new_K is None else np.asarray(new_K, dtype=np.float64)
    uv = _pixel_grid(width, height)
    xd = np.empty_like(uv)
    xd[..., 0] = (uv[..., 0] - K[0, 2]) / K[0, 0]
    xd[..., 1] = (uv[..., 1] - K[1, 2]) / K[1, 1]
    t = _terms(terms)
    rmax = float(np.hypot(xd[..., 0], xd[..., 1]).max())
    # find the ideal radius that reaches the frame corner, and check monotonicity up to it
    rad = lambda r: (1 + t["k1"] * r**2 + t["k2"] * r**4 + t["k3"] * r**6) / (  # noqa: E731
        1 + t["k4"] * r**2 + t["k5"] * r**4 + t["k6"] * r**6
    )
    _check_simulation_range(rad, rmax, K[0, 0], "OpenCV distortion")
    xy = undistort_normalized_opencv(xd, t)
    out = np.empty(uv.shape, dtype=np.float32)
    out[..., 0] = xy[..., 0] * nK[0, 0] + nK[0, 2]
    out[..., 1] = xy[..., 1] * nK[1, 1] + nK[1, 2]
    return out


def _check_simulation_range(
    radial: Callable[[np.ndarray], np.ndarray], rd_max: float, unit_px: float, what: str
) -> None:
    """Raise unless ``r * radial(r)`` rises monotonically to at least ``rd_max``."""
    r_hi = max(rd_max, 1e-6)
    for _ in range(60):
        g = r_hi * radial(np.array([r_hi]))[0]
        if g >= rd_max * 1.05 + 1e-9:
            break
        r_hi *= 1.5
    fold = radial_fold_radius(radial, r_hi)
    if fold is not None:
        g_fold = fold * float(radial(np.array([fold]))[0])
        if g_fold < rd_max * 1.0001:
            raise InvalidProfileError(
                f"{what} is not invertible over the frame: it folds at distorted radius "
                f"{g_fold * unit_px:.1f} px (normalised {g_fold:.4g}) but the frame reaches "
                f"{rd_max * unit_px:.1f} px"
            )


# ---------------------------------------------------------------------------------------------
# registry builder (l2tech.optics.compose.GEOMETRY_MODELS["opencv"])


def pixel_model_K(calibration, width: int, height: int) -> np.ndarray:
    """Camera matrix of a pixel-calibrated model (OpenCV, Kannala–Brandt) for a frame size.

    Parameters
    ----------
    calibration : LensCalibration
        Its ``distortion.terms`` carry ``fx, fy, cx, cy`` in pixels of the calibration frame;
        ``profile.extra`` may give ``calib_width_px, calib_height_px`` (docs/PROFILES.md).
    width, height : int
        Frame size in pixels.

    Returns
    -------
    ndarray, shape (3, 3), float64
        ``K`` rescaled to the frame with :func:`scale_camera_matrix` when the calibration size is
        known and differs; as stored otherwise.

    Raises
    ------
    InvalidProfileError
        Missing or non-positive ``fx``/``fy``, or a frame of another aspect ratio than the
        calibration's (which would be a crop: give the crop explicitly instead).
    """
    d = calibration.distortion
    t = d.terms
    for k in ("fx", "fy", "cx", "cy"):
        if k not in t:
            raise InvalidProfileError(f"{d.model} calibration lacks {k} (pixels)")
    fx, fy = float(t["fx"]), float(t["fy"])
    if not (np.isfinite(fx) and np.isfinite(fy) and fx > 0 and fy > 0):
        raise InvalidProfileError(f"{d.model} calibration has fx={fx}, fy={fy}; both must be > 0")
    K = camera_matrix(fx, fy, float(t["cx"]), float(t["cy"]))
    check_calibration_frame(calibration.profile, width, height)
    extra = getattr(calibration.profile, "extra", {}) or {}
    cw, ch = extra.get("calib_width_px"), extra.get("calib_height_px")
    if cw and ch and (int(cw), int(ch)) != (int(width), int(height)):
        K = scale_camera_matrix(K, (int(cw), int(ch)), (int(width), int(height)))
    return K


def check_calibration_frame(profile, width: int | None, height: int | None) -> None:
    """Refuse a frame a pixel-calibrated profile cannot be rescaled to.

    A pixel model's ``fx, fy, cx, cy`` hold for its calibration frame
    (``extra["calib_width_px"/"calib_height_px"]``) and, rescaled, for any frame of the same
    aspect ratio (within 1 %); a frame of another aspect ratio is a crop of it, whose offset the
    profile does not give. The one rule ``l2 correct`` (when it plans and when it builds the
    warp) and ``l2 lens match`` apply.

    Parameters
    ----------
    profile : LensProfile
        Any profile; only one with a pixel model (distortion terms ``fx``) and a calibration
        size is checked.
    width, height : int or None
        The frame in pixels; None checks nothing.

    Raises
    ------
    InvalidProfileError
        The frame's aspect ratio differs from the calibration's; the message names both.
    """
    extra = getattr(profile, "extra", {}) or {}
    cw, ch = extra.get("calib_width_px"), extra.get("calib_height_px")
    if not (cw and ch and width and height):
        return
    if not any("fx" in (d.terms or {}) for d in getattr(profile, "distortion", ()) or ()):
        return
    if abs(cw / ch - width / height) > 0.01 * (width / height):
        source = str(getattr(profile, "source", "") or "")
        where = source.split(":", 1)[1] if ":" in source else None  # "opencv_yaml:/path/calib.yaml"
        name = getattr(profile, "model", "") or ""
        raise InvalidProfileError(
            f"lens {name!r}: profile calibrated at {cw}x{ch} does not fit a {width}x{height} frame (other aspect "
            "ratio: a crop, not a rescale)", path=where or None)


def opencv_warp(request):
    """Builder of the ``"opencv"`` geometry model for :mod:`l2tech.optics.compose`.

    Output pixels keep the source camera matrix (same focal length and centre); scale zooms
    about the principal point.
    """
    from l2tech.optics.compose import Warp

    K = pixel_model_K(request.calibration, request.width, request.height)
    t = _terms({k: v for k, v in request.calibration.distortion.terms.items() if k not in ("fx", "fy", "cx", "cy")})
    on = bool(request.distortion)

    def apply(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        xy = np.stack([(np.asarray(x, np.float64) - K[0, 2]) / K[0, 0], (np.asarray(y, np.float64) - K[1, 2]) / K[1, 1]], -1)
        d = distort_normalized_opencv(xy, t) if on else xy
        return d[..., 0] * K[0, 0] + K[0, 2], d[..., 1] * K[1, 1] + K[1, 2]

    def fold_check(scale: float) -> None:
        if not on:
            return
        W, H = request.width, request.height
        xs = (np.array([0.0, W - 1.0]) - K[0, 2]) / K[0, 0]
        ys = (np.array([0.0, H - 1.0]) - K[1, 2]) / K[1, 1]
        r_max = float(np.hypot(np.abs(xs).max(), np.abs(ys).max())) / scale
        _check_folding(t, r_max, K[0, 0])

    return Warp(apply=apply, center_px=(float(K[0, 2]), float(K[1, 2])), width=request.width,
                height=request.height, geometric=apply, fold_check=fold_check,
                box_center_px=((request.width - 1) / 2.0, (request.height - 1) / 2.0),
                extra={"focal_px": float(K[0, 0]), "native_projection": "rectilinear"})




def simulation_maps_from_warp(warp, scale: float = 1.0, *, tol: float = 1e-10) -> tuple[np.ndarray, ...]:
    """Inverse maps that *apply* a registered geometry model (simulate the lens), any family.

    Parameters
    ----------
    warp : l2tech.optics.compose.Warp
        The correction warp of a profile (output pixel → source pixel), e.g. from
        ``GEOMETRY_MODELS[name](request)``.
    scale : float
        The zoom the correction uses (about ``warp.center_px``).
    tol : float
        Newton tolerance, pixels.

    Returns
    -------
    tuple of ndarray, each shape (H, W, 2), float32
        For every pixel of the lens's (distorted) frame, the pixel of the ideal image it shows;
        one map, or three (R, G, B) for a per-channel warp. Applying the correction to an image
        made with these maps gives the image back: ``warp(sim(p)) = p``.

    Raises
    ------
    InvalidProfileError
        The warp folds inside the frame (its own ``fold_check``) or Newton's method does not
        converge somewhere (the radius is named) — never a silently wrong pixel.

    Notes
    -----
    Each channel is solved separately with :func:`newton_inverse_2d` started from the pixel
    itself.
    """
    if warp.fold_check is not None:
        warp.fold_check(scale)
    W, H = warp.width, warp.height
    cx, cy = warp.center_px
    u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    target = np.stack([u, v], -1).reshape(-1, 2)

    def fwd(c: int | None):
        def f(p: np.ndarray) -> np.ndarray:
            x = cx + (p[:, 0] - cx) / scale
            y = cy + (p[:, 1] - cy) / scale
            sx, sy = warp.apply(x, y)
            if c is not None:
                sx, sy = sx[..., c], sy[..., c]
            return np.stack([sx, sy], -1)
        return f

    chans = (0, 1, 2) if warp.per_channel else (None,)
    out = []
    for c in chans:
        sol = newton_inverse_2d(fwd(c), target, tol=tol / max(W, H), what="lens model")
        out.append(sol.reshape(H, W, 2).astype(np.float32))
    return tuple(out)
