"""Geometric calibration: OpenCV camera models, then lensfun distortion models.

Stage 1 fits a full camera (intrinsics + one pose per view) with OpenCV: Brown–Conrady
(``cv2.calibrateCamera``, k1, k2, p1, p2, k3) for rectilinear lenses, Kannala–Brandt
(``cv2.fisheye.calibrate``, k1..k4) for fisheye lenses, rejecting outlier views.

Stage 2 refits the same corners with each lensfun distortion model (``poly3``, ``poly5``,
``ptlens``) *in lensfun's own normalisation*: a bundle adjustment over one focal length in
pixels, the model terms and the view poses, with the distortion centre at the image centre.
The lensfun models map the undistorted radius ``r_u`` to the distorted radius ``r_d``
(OPTICS.md §1), so the projection of a board point is: pinhole (or equidistant fisheye) →
``r_u`` → model → ``r_d`` → pixels. Fitting directly in the lensfun model avoids the
model error of converting a Brown–Conrady polynomial (odd powers only) into ptlens (which
has even powers).

Normalisation (lensfun ``libs/lensfun/modifier.cpp``): r = 1 at half the short side of the
calibration image; the calibration sensor is this camera's sensor, so the profile's crop
factor is the camera's and its aspect ratio is ``max(W, H) / min(W, H)``; the centre is
``((W - 1) / 2, (H - 1) / 2)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from l2tech.calibrate.targets import Detection, Target, board_points
from l2tech.errors import CalibrationError, UsageError

__all__ = [
    "CameraFit",
    "POOR_FIT_RMS_PX",
    "LensfunDistortionFit",
    "LENSFUN_DISTORTION_TERMS",
    "fit_pinhole",
    "fit_fisheye",
    "fit_lensfun_distortion",
    "fit_radial_model",
    "radial_model_basis",
    "lensfun_norm_px",
    "pose_tilts_deg",
    "corner_coverage",
]

#: Terms of each lensfun distortion model, in lensfun's XML attribute names.
LENSFUN_DISTORTION_TERMS: dict[str, tuple[str, ...]] = {
    "poly3": ("k1",),
    "poly5": ("k1", "k2"),
    "ptlens": ("a", "b", "c"),
}

#: Minimum views each camera model needs (intrinsics + enough pose diversity).
MIN_VIEWS = {"pinhole": 3, "fisheye": 3}


@dataclass(frozen=True)
class CameraFit:
    """Result of an OpenCV camera calibration over several views.

    Parameters
    ----------
    model : str
        ``"pinhole"`` (Brown–Conrady: ``dist = k1, k2, p1, p2, k3``) or ``"fisheye"``
        (Kannala–Brandt: ``dist = k1, k2, k3, k4``).
    image_size : tuple of int
        ``(W, H)`` pixels.
    K : ndarray, shape (3, 3), float64
        Camera matrix (pixels).
    dist : ndarray, shape (n,), float64
        Distortion coefficients in OpenCV order.
    rms : float
        Reprojection RMS over all corners of the kept views, px (OpenCV's definition:
        ``sqrt(sum |e|² / n_points)``).
    view_names : tuple of str
        Kept views.
    per_view_rms : ndarray, shape (n_views,), float64
        Reprojection RMS of each kept view, px.
    rvecs, tvecs : tuple of ndarray, shape (3,)
        Board pose of each kept view (Rodrigues vector; translation in mm).
    image_points, object_points : tuple of ndarray
        Corners ``(N, 2)`` px and board points ``(N, 3)`` mm of each kept view.
    residuals : tuple of ndarray, shape (N, 2)
        Observed minus reprojected corner positions, px.
    dropped : tuple of (str, str)
        Views not used and why (board not found, outlier, ill-conditioned).
    warnings : tuple of str
        Poor fit (reprojection RMS above :data:`POOR_FIT_RMS_PX`, usually a wrong target size),
        too few views, poor coverage, degenerate poses.
    """

    model: str
    image_size: tuple[int, int]
    K: np.ndarray
    dist: np.ndarray
    rms: float
    view_names: tuple[str, ...]
    per_view_rms: np.ndarray
    rvecs: tuple[np.ndarray, ...]
    tvecs: tuple[np.ndarray, ...]
    image_points: tuple[np.ndarray, ...]
    object_points: tuple[np.ndarray, ...]
    residuals: tuple[np.ndarray, ...]
    dropped: tuple[tuple[str, str], ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class LensfunDistortionFit:
    """A lensfun distortion model fitted to the corners.

    Parameters
    ----------
    model : str
        ``"poly3"``, ``"poly5"`` or ``"ptlens"``.
    terms : dict of str to float
        The model terms (lensfun attribute names).
    focal_px : float
        Focal length of the undistorted image, px (the ``r_u`` scale).
    rms : float
        Reprojection RMS, px.
    norm_px : float
        Pixels per unit of the lensfun radius (half the short side).
    center_px : tuple of float
        Distortion centre ``(x, y)``, px.
    lens_type : str
        ``"rectilinear"`` or ``"fisheye"`` (equidistant undistorted projection).
    r_u, r_d : ndarray, shape (M,), float64
        Measured samples (ideal and observed corner radii, lensfun units) for plots.
    n_rejected : int
        Corners left out of the fit as outliers (see :func:`fit_lensfun_distortion`).
    """

    model: str
    terms: dict
    focal_px: float
    rms: float
    norm_px: float
    center_px: tuple[float, float]
    lens_type: str = "rectilinear"
    r_u: np.ndarray = field(default_factory=lambda: np.zeros(0))
    r_d: np.ndarray = field(default_factory=lambda: np.zeros(0))
    n_rejected: int = 0


def lensfun_norm_px(width: int, height: int) -> float:
    """Pixels per unit of lensfun's distortion/TCA radius on the calibration image.

    lensfun (``modifier.cpp``): ``r = r_px · 2·hypot(a, 1) / hypot(W, H) · c_cal / c_img``;
    with the calibration sensor being this image (``a = max/min``, ``c_cal = c_img``) that is
    half the short side.
    """
    a = max(width, height) / min(width, height)
    return float(np.hypot(width, height) / (2.0 * np.hypot(a, 1.0)))


def radial_model_basis(model: str, r_u: np.ndarray) -> np.ndarray:
    """Design matrix of ``r_d - r_u`` for a lensfun distortion model (linear in its terms).

    Parameters
    ----------
    model : str
        ``"poly3"``, ``"poly5"`` or ``"ptlens"``.
    r_u : ndarray, shape (M,), float64
        Undistorted radii, lensfun units.

    Returns
    -------
    ndarray, shape (M, n_terms), float64
        Columns in the order of :data:`LENSFUN_DISTORTION_TERMS`.

    References
    ----------
    lensfun ``libs/lensfun/mod-coord.cpp`` (ModifyCoord_Dist_Poly3 / Poly5 / PTLens):
    poly3 ``r_d = r_u (1 - k1 + k1 r_u²)``; poly5 ``r_d = r_u (1 + k1 r_u² + k2 r_u⁴)``;
    ptlens ``r_d = r_u (a r_u³ + b r_u² + c r_u + 1 - a - b - c)``.
    """
    r = np.asarray(r_u, np.float64)
    m = model.lower()
    if m == "poly3":
        return np.stack([r**3 - r], axis=-1)
    if m == "poly5":
        return np.stack([r**3, r**5], axis=-1)
    if m == "ptlens":
        return np.stack([r**4 - r, r**3 - r, r**2 - r], axis=-1)
    raise UsageError(f"unknown lensfun distortion model {model!r}; valid: {', '.join(LENSFUN_DISTORTION_TERMS)}")


def fit_radial_model(r_u: np.ndarray, r_d: np.ndarray, model: str) -> dict[str, float]:
    """Least-squares fit of a lensfun distortion model to radius samples.

    Parameters
    ----------
    r_u, r_d : ndarray, shape (M,), float64
        Undistorted and distorted radii in lensfun units (r = 1 at half the short side of
        the calibration sensor).
    model : str
        ``"poly3"``, ``"poly5"`` or ``"ptlens"``.

    Returns
    -------
    dict of str to float
        Model terms.

    Raises
    ------
    CalibrationError
        Fewer samples than terms, or non-finite samples.
    """
    r_u = np.asarray(r_u, np.float64).ravel()
    r_d = np.asarray(r_d, np.float64).ravel()
    names = LENSFUN_DISTORTION_TERMS.get(model.lower())
    if names is None:
        raise UsageError(f"unknown lensfun distortion model {model!r}; valid: {', '.join(LENSFUN_DISTORTION_TERMS)}")
    if r_u.shape != r_d.shape or len(r_u) < len(names) or not (np.isfinite(r_u).all() and np.isfinite(r_d).all()):
        raise CalibrationError(f"{len(r_u)} finite radius samples found, {len(names)} needed for {model}")
    coef, *_ = np.linalg.lstsq(radial_model_basis(model, r_u), r_d - r_u, rcond=None)
    return {n: float(c) for n, c in zip(names, coef)}


# ----------------------------------------------------------------------------- helpers


def pose_tilts_deg(rvecs: Sequence[np.ndarray]) -> np.ndarray:
    """Angle between each board's normal and the optical axis, degrees."""
    import cv2

    out = []
    for rv in rvecs:
        R, _ = cv2.Rodrigues(np.asarray(rv, np.float64).reshape(3, 1))
        out.append(np.degrees(np.arccos(min(1.0, abs(R[2, 2])))))
    return np.array(out)


def corner_coverage(points: Sequence[np.ndarray], image_size: tuple[int, int], grid: tuple[int, int] = (8, 6)) -> float:
    """Fraction of the cells of a ``grid`` over the frame that hold at least one corner."""
    w, h = image_size
    hit = np.zeros(grid[::-1], bool)
    for p in points:
        if len(p) == 0:
            continue
        ix = np.clip((p[:, 0] / w * grid[0]).astype(int), 0, grid[0] - 1)
        iy = np.clip((p[:, 1] / h * grid[1]).astype(int), 0, grid[1] - 1)
        hit[iy, ix] = True
    return float(hit.mean())


def _collect(detections: Sequence[Detection], target: Target, min_corners: int):
    obj_all = board_points(target)
    names, objs, imgs, dropped = [], [], [], []
    size = None
    for d in detections:
        if not d.found:
            dropped.append((d.name, d.reason or "board not found"))
            continue
        if size is None:
            size = tuple(d.image_size)
        elif tuple(d.image_size) != size:
            dropped.append((d.name, f"image size {d.image_size[0]}x{d.image_size[1]} differs from {size[0]}x{size[1]}"))
            continue
        if len(d.corners) < min_corners:
            dropped.append((d.name, f"only {len(d.corners)} corners found, {min_corners} needed"))
            continue
        names.append(d.name)
        objs.append(obj_all[d.ids].astype(np.float64))
        imgs.append(np.asarray(d.corners, np.float64))
    return names, objs, imgs, dropped, size


#: Reprojection RMS (px) above which a fit is flagged as poor. A good checkerboard calibration
#: reaches 0.1-0.5 px (OpenCV ``camera_calibration`` tutorial; Bouguet's toolbox); above 1 px the
#: usual cause is a wrong target description (inner-corner count or square size).
POOR_FIT_RMS_PX = 1.0


def _quality_warnings(model: str, n_views: int, imgs, size, rvecs, rms: float) -> list[str]:
    warnings = []
    if rms > POOR_FIT_RMS_PX:
        warnings.append(
            f"poor fit: reprojection RMS {rms:.2f} px is above {POOR_FIT_RMS_PX:g} px; "
            "check the --target size (inner corners and square size) and that every shot shows that board"
        )
    if n_views < 10:
        warnings.append(f"only {n_views} views used; 10-20 views at varied tilts are recommended")
    cov = corner_coverage(imgs, size)
    if cov < 0.6:
        warnings.append(
            f"poor corner coverage: corners fall in {cov:.0%} of an 8x6 grid over the frame; "
            "distortion near the edges and corners is extrapolated"
        )
    tilts = pose_tilts_deg(rvecs)
    if len(tilts) and tilts.max() < 10.0:
        warnings.append(
            f"degenerate poses: all boards are nearly fronto-parallel (max tilt {tilts.max():.1f} deg); "
            "focal length and distortion are poorly constrained - add views tilted 20-45 deg"
        )
    return warnings


def _per_view(model, objs, imgs, K, dist, rvecs, tvecs):
    import cv2

    res, rms = [], []
    for o, i, rv, tv in zip(objs, imgs, rvecs, tvecs):
        if model == "pinhole":
            p, _ = cv2.projectPoints(o, rv, tv, K, dist)
        else:
            p, _ = cv2.fisheye.projectPoints(o.reshape(1, -1, 3), rv.reshape(1, 1, 3), tv.reshape(1, 1, 3), K, dist)
        e = i - p.reshape(-1, 2)
        res.append(e)
        rms.append(float(np.sqrt(np.mean(np.sum(e**2, axis=1)))))
    return res, np.array(rms)


def _reject(names, rms_views, outlier_factor, min_outlier_px, n_min):
    if len(names) <= n_min:
        return None
    worst = int(np.argmax(rms_views))
    limit = max(outlier_factor * float(np.median(rms_views)), min_outlier_px)
    if rms_views[worst] > limit:
        return worst, limit
    return None


# ----------------------------------------------------------------------------- stage 1


def fit_pinhole(
    detections: Sequence[Detection],
    target: Target,
    *,
    flags: int = 0,
    criteria: tuple | None = None,
    reject_outliers: bool = True,
    outlier_factor: float = 3.0,
    min_outlier_px: float = 1.0,
) -> CameraFit:
    """Brown–Conrady (OpenCV pinhole) calibration with outlier-view rejection.

    Parameters
    ----------
    detections : sequence of Detection
        One per view; views without a board are listed in ``dropped``.
    target : Target
    flags : int
        ``cv2.calibrateCamera`` flags (0: k1, k2, p1, p2, k3, free fx, fy, cx, cy).
    criteria : tuple, optional
        Termination criteria (OpenCV's default when None).
    reject_outliers : bool
        Drop, one at a time, the worst view while its RMS exceeds
        ``max(outlier_factor · median, min_outlier_px)``.

    Returns
    -------
    CameraFit

    Raises
    ------
    CalibrationError
        Fewer than 3 usable views (the message gives the count found and needed).

    References
    ----------
    Z. Zhang, "A flexible new technique for camera calibration", IEEE TPAMI 22(11), 2000;
    D. C. Brown, "Decentering distortion of lenses", Photogrammetric Engineering 32(3), 1966;
    OpenCV ``calib3d`` ``calibrateCamera`` and ``samples/python/calibrate.py``.
    """
    import cv2

    names, objs, imgs, dropped, size = _collect(detections, target, 6)
    need = MIN_VIEWS["pinhole"]
    if len(names) < need:
        raise CalibrationError(
            f"{len(names)} usable views with a board found (of {len(detections)}), {need} needed for the pinhole model"
        )
    while True:
        kw = {"flags": flags}
        if criteria is not None:
            kw["criteria"] = criteria
        rms, K, dist, rvecs, tvecs = cv2.calibrateCamera(
            [o.astype(np.float32) for o in objs], [i.astype(np.float32) for i in imgs], size, None, None, **kw
        )
        rvecs = [np.asarray(r, np.float64).ravel() for r in rvecs]
        tvecs = [np.asarray(t, np.float64).ravel() for t in tvecs]
        res, rms_views = _per_view("pinhole", objs, imgs, K, dist, rvecs, tvecs)
        bad = _reject(names, rms_views, outlier_factor, min_outlier_px, need) if reject_outliers else None
        if bad is None:
            break
        w, limit = bad
        dropped.append((names[w], f"outlier view: RMS {rms_views[w]:.3f} px > {limit:.3f} px"))
        for lst in (names, objs, imgs):
            lst.pop(w)
    warnings = _quality_warnings("pinhole", len(names), imgs, size, rvecs, float(rms))
    if dropped:
        warnings.append(f"{len(dropped)} view(s) not used: " + "; ".join(f"{n}: {r}" for n, r in dropped))
    return CameraFit(
        "pinhole", size, np.asarray(K, np.float64), np.asarray(dist, np.float64).ravel(), float(rms),
        tuple(names), rms_views, tuple(rvecs), tuple(tvecs), tuple(imgs), tuple(objs), tuple(res),
        tuple(dropped), tuple(warnings),
    )


def _fisheye_flags():
    import cv2

    ns = cv2.fisheye if hasattr(cv2.fisheye, "CALIB_RECOMPUTE_EXTRINSIC") else cv2
    return ns.CALIB_RECOMPUTE_EXTRINSIC | ns.CALIB_FIX_SKEW | ns.CALIB_USE_INTRINSIC_GUESS


def fit_fisheye(
    detections: Sequence[Detection],
    target: Target,
    *,
    reject_outliers: bool = True,
    outlier_factor: float = 3.0,
    min_outlier_px: float = 1.0,
    focal_guesses_px: Sequence[float] | None = None,
    flags: int = 0,
) -> CameraFit:
    """Kannala–Brandt (OpenCV fisheye) calibration that keeps as many views as it can.

    ``cv2.fisheye.calibrate`` initialises each view's pose from a homography that ignores
    distortion; on strongly distorted or oblique views that fails (``InitExtrinsics``
    assertion, or ``CALIB_CHECK_COND`` rejecting the view). Here the intrinsics start from a
    guess (principal point at the centre, equidistant focal lengths from a few fields of view;
    the best converged start wins) with ``CALIB_USE_INTRINSIC_GUESS``, ``CHECK_COND`` is not
    used, and outlier views are then dropped one at a time by their reprojection RMS.

    Parameters
    ----------
    detections : sequence of Detection
    target : Target
    reject_outliers, outlier_factor, min_outlier_px
        As in :func:`fit_pinhole`.
    flags : int
        Extra ``cv2.fisheye.calibrate`` flags (e.g. ``cv2.fisheye.CALIB_FIX_K3``), added to the
        ones this fit always uses.
    focal_guesses_px : sequence of float, optional
        Starting focal lengths; default ``hypot(W, H) / 2 / θ`` for θ in 60°, 90°, 120°, 150°
        (half-diagonal field of view).

    Returns
    -------
    CameraFit
        ``dist`` holds k1..k4.

    Raises
    ------
    CalibrationError
        Fewer than 3 usable views, or no start converged.

    References
    ----------
    J. Kannala, S. S. Brandt, "A generic camera model and calibration method for conventional,
    wide-angle, and fish-eye lenses", IEEE TPAMI 28(8), 2006; OpenCV ``cv::fisheye`` docs.
    """
    import cv2

    names, objs, imgs, dropped, size = _collect(detections, target, 6)
    need = MIN_VIEWS["fisheye"]
    if len(names) < need:
        raise CalibrationError(
            f"{len(names)} usable views with a board found (of {len(detections)}), {need} needed for the fisheye model"
        )
    w, h = size
    if focal_guesses_px is None:
        focal_guesses_px = [np.hypot(w, h) / 2.0 / np.radians(a) for a in (90.0, 60.0, 120.0, 150.0)]
    crit = (cv2.TERM_CRITERIA_COUNT + cv2.TERM_CRITERIA_EPS, 200, 1e-9)
    flags = _fisheye_flags() | int(flags)

    def run(idx):
        best = None
        for f0 in focal_guesses_px:
            K0 = np.array([[f0, 0, (w - 1) / 2.0], [0, f0, (h - 1) / 2.0], [0, 0, 1.0]])
            try:
                out = cv2.fisheye.calibrate(
                    [objs[i].reshape(1, -1, 3) for i in idx], [imgs[i].reshape(1, -1, 2) for i in idx],
                    size, K0, np.zeros(4), flags=flags, criteria=crit,
                )
            except cv2.error as exc:
                m = re.search(r"input array (\d+)", str(exc))
                if m:
                    return ("drop", idx[int(m.group(1))])
                continue
            if np.isfinite(out[0]) and (best is None or out[0] < best[0]):
                best = out
            if best is not None and best[0] < 1.0:
                break
        return best

    idx = list(range(len(names)))
    while True:
        out = run(idx)
        if isinstance(out, tuple) and len(out) == 2 and out[0] == "drop":
            dropped.append((names[out[1]], "ill-conditioned pose (cv2.fisheye)"))
            idx.remove(out[1])
            if len(idx) < need:
                raise CalibrationError(f"{len(idx)} usable views left, {need} needed for the fisheye model")
            continue
        if out is None:
            raise CalibrationError(f"the fisheye fit did not converge on {len(idx)} views from any starting focal length")
        rms, K, D, rvecs, tvecs = out
        rvecs = [np.asarray(r, np.float64).ravel() for r in rvecs]
        tvecs = [np.asarray(t, np.float64).ravel() for t in tvecs]
        res, rms_views = _per_view("fisheye", [objs[i] for i in idx], [imgs[i] for i in idx], K, D, rvecs, tvecs)
        bad = _reject([names[i] for i in idx], rms_views, outlier_factor, min_outlier_px, need) if reject_outliers else None
        if bad is None:
            break
        wv, limit = bad
        dropped.append((names[idx[wv]], f"outlier view: RMS {rms_views[wv]:.3f} px > {limit:.3f} px"))
        idx.pop(wv)
    kept_imgs = [imgs[i] for i in idx]
    warnings = _quality_warnings("fisheye", len(idx), kept_imgs, size, rvecs, float(rms))
    if dropped:
        warnings.append(f"{len(dropped)} view(s) not used: " + "; ".join(f"{n}: {r}" for n, r in dropped))
    return CameraFit(
        "fisheye", size, np.asarray(K, np.float64), np.asarray(D, np.float64).ravel(), float(rms),
        tuple(names[i] for i in idx), rms_views, tuple(rvecs), tuple(tvecs), tuple(kept_imgs),
        tuple(objs[i] for i in idx), tuple(res), tuple(dropped), tuple(warnings),
    )


# ----------------------------------------------------------------------------- stage 2


def _project_lensfun(params, model, objs, center, norm, lens_type, n_terms):
    import cv2

    f = params[0]
    terms = params[1 : 1 + n_terms]
    out = []
    off = 1 + n_terms
    for k, o in enumerate(objs):
        rv = params[off + 6 * k : off + 6 * k + 3]
        tv = params[off + 6 * k + 3 : off + 6 * k + 6]
        R, _ = cv2.Rodrigues(rv)
        pc = o @ R.T + tv
        rho = np.hypot(pc[:, 0], pc[:, 1])
        if lens_type == "fisheye":
            ang = np.arctan2(rho, pc[:, 2])
        else:
            ang = rho / pc[:, 2]
        r_u = f * ang / norm
        r_d = r_u + radial_model_basis(model, r_u) @ terms
        s = np.where(rho > 1e-12, r_d * norm / np.maximum(rho, 1e-12), f / np.maximum(pc[:, 2], 1e-12))
        out.append(np.column_stack([center[0] + pc[:, 0] * s, center[1] + pc[:, 1] * s]))
    return out


def fit_lensfun_distortion(
    fit: CameraFit, model: str, *, reject_sigma: float | None = 5.0, min_reject_px: float = 0.1
) -> LensfunDistortionFit:
    """Fit a lensfun distortion model to the corners of a camera fit (bundle adjustment).

    Parameters
    ----------
    fit : CameraFit
        Stage-1 fit: its views, poses (start values) and focal length (start value).
    model : str
        ``"poly3"``, ``"poly5"`` or ``"ptlens"``.
    reject_sigma : float or None
        Corners whose reprojection error exceeds ``reject_sigma`` times the Rayleigh scale of
        the kept residuals (``sigma = median |e| / sqrt(2 ln 2)``), but at least
        ``min_reject_px``, are left out and the fit is repeated (at most 3 times); None keeps
        every corner.
    min_reject_px : float
        Smallest rejection threshold, px (so that a near noise-free fit keeps its corners).

    Returns
    -------
    LensfunDistortionFit
        Terms in lensfun's normalisation for the calibration image (r = 1 at half the short
        side, centre at the image centre); the undistorted projection is rectilinear for a
        pinhole fit and equidistant for a fisheye fit.

    Raises
    ------
    UsageError
        Unknown model.

    Notes
    -----
    Minimises the reprojection error over ``f`` (px), the model terms and 6 pose parameters
    per view with ``scipy.optimize.least_squares`` (trust-region reflective, sparse
    Jacobian). Square pixels are assumed. Mis-refined corners (ChArUco corners next to a
    marker are off by up to ~1 px on rendered views) bias the terms most where they are
    extrapolated, in the frame corners; they are dropped by the rejection above, and ``rms``
    is over the kept corners (``n_rejected`` counts the others).

    References
    ----------
    lensfun ``libs/lensfun/mod-coord.cpp`` and ``modifier.cpp`` (models, normalisation);
    B. Triggs et al., "Bundle adjustment — a modern synthesis", 1999.
    """
    from scipy.optimize import least_squares
    from scipy.sparse import lil_matrix

    model = model.lower()
    names = LENSFUN_DISTORTION_TERMS.get(model)
    if names is None:
        raise UsageError(f"unknown lensfun distortion model {model!r}; valid: {', '.join(LENSFUN_DISTORTION_TERMS)}")
    w, h = fit.image_size
    norm = lensfun_norm_px(w, h)
    center = ((w - 1) / 2.0, (h - 1) / 2.0)
    lens_type = "fisheye" if fit.model == "fisheye" else "rectilinear"
    nt = len(names)
    f0 = float((fit.K[0, 0] + fit.K[1, 1]) / 2.0)
    x0 = [f0] + [0.0] * nt
    for rv, tv in zip(fit.rvecs, fit.tvecs):
        x0 += list(rv) + list(tv)
    x0 = np.array(x0, np.float64)
    objs = fit.object_points
    obs = np.concatenate([p for p in fit.image_points])

    keep = np.ones(len(obs), bool)

    def resid(x):
        return ((np.concatenate(_project_lensfun(x, model, objs, center, norm, lens_type, nt)) - obs) * keep[:, None]).ravel()

    n_res = 2 * len(obs)
    sp = lil_matrix((n_res, len(x0)), dtype=int)
    sp[:, : 1 + nt] = 1
    row = 0
    for k, o in enumerate(objs):
        sp[row : row + 2 * len(o), 1 + nt + 6 * k : 1 + nt + 6 * k + 6] = 1
        row += 2 * len(o)
    kw = dict(jac_sparsity=sp, method="trf", x_scale="jac", xtol=1e-12, ftol=1e-12, gtol=1e-12, max_nfev=200)
    sol = least_squares(resid, x0, **kw)
    for _ in range(3 if reject_sigma else 0):
        # corner outliers (a mis-refined corner) by the Rayleigh scale of the 2-D residuals:
        # |e| ~ Rayleigh(sigma), median |e| = sigma sqrt(2 ln 2)
        e_abs = np.hypot(*(np.concatenate(_project_lensfun(sol.x, model, objs, center, norm, lens_type, nt)) - obs).T)
        sigma = float(np.median(e_abs[keep])) / np.sqrt(2.0 * np.log(2.0))
        new = e_abs <= max(reject_sigma * sigma, min_reject_px)
        if np.array_equal(new, keep) or new.sum() < len(x0):
            break
        keep = new
        sol = least_squares(resid, sol.x, **kw)
    e = sol.fun.reshape(-1, 2)[keep]
    rms = float(np.sqrt(np.mean(np.sum(e**2, axis=1))))
    x = sol.x
    f = float(x[0])
    # samples for plots: ideal radius (from the fitted poses) vs observed radius
    proj_ideal = []
    for k, o in enumerate(objs):
        import cv2

        R, _ = cv2.Rodrigues(x[1 + nt + 6 * k : 1 + nt + 6 * k + 3])
        pc = o @ R.T + x[1 + nt + 6 * k + 3 : 1 + nt + 6 * k + 6]
        rho = np.hypot(pc[:, 0], pc[:, 1])
        ang = np.arctan2(rho, pc[:, 2]) if lens_type == "fisheye" else rho / pc[:, 2]
        proj_ideal.append(f * ang / norm)
    r_u = np.concatenate(proj_ideal)
    r_d = np.hypot(obs[:, 0] - center[0], obs[:, 1] - center[1]) / norm
    return LensfunDistortionFit(
        model, {n: float(v) for n, v in zip(names, x[1 : 1 + nt])}, f, rms, norm, center, lens_type, r_u, r_d,
        int((~keep).sum()),
    )
