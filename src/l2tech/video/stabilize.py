"""Camera motion for stabilisation: gyro integration, rotation from optical flow, gyro/video
sync, path smoothing and the correcting homography of each frame.

Conventions (OpenCV's camera frame: x right, y down, z forward):

- An orientation is the camera-to-world rotation ``C`` (:class:`scipy.spatial.transform.Rotation`).
  A gyroscope measures the body rate ``ω`` (rad/s, camera axes), so ``C(t + dt) = C(t) ·
  exp(ω dt)``.
- A world direction ``d`` is seen at pixel ``p ~ K Cᵀ d``. Two frames of a rotating camera are
  related by ``p_j ~ K C_jᵀ C_i K⁻¹ p_i`` (a homography).
- A stabilised frame is the view of a virtual camera with the smoothed orientation ``S``: the
  output pixel ``q`` is read from the source pixel ``p ~ K Cᵀ S K⁻¹ q`` (:func:`correction_homographies`,
  output → source, the direction of every map in l2tech).

The image maths is OpenCV's (Shi–Tomasi corners, pyramidal Lucas–Kanade, RANSAC homography);
l2tech owns the rotation bookkeeping, the sync and the smoothing.

References
----------
Karpenko, Jacobs, Baek, Levoy, "Digital Video Stabilization and Rolling Shutter Correction using
Gyroscopes", Stanford CSTR 2011-03 (rotation-only model, gyro/video sync by matching rates).
Hartley & Zisserman, *Multiple View Geometry*, 2nd ed., §8.4.5 (the homography of a pure
rotation is ``K R K⁻¹``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from l2tech.errors import UsageError

__all__ = [
    "integrate_gyro",
    "rates_between",
    "flow_rotations",
    "estimate_gyro_offset",
    "GyroSync",
    "smooth_orientations",
    "correction_homographies",
    "crop_zoom",
]


def _rotation():
    from scipy.spatial.transform import Rotation

    return Rotation


def integrate_gyro(t_s: np.ndarray, gyro_rad_s: np.ndarray):
    """Camera orientations from gyroscope samples (body rates), starting at the identity.

    Parameters
    ----------
    t_s : ndarray, shape (N,), float64
        Sample times, seconds, strictly increasing.
    gyro_rad_s : ndarray, shape (N, 3), float64
        Angular rate in camera axes, rad/s.

    Returns
    -------
    scipy.spatial.transform.Rotation, length N
        Camera-to-world orientation at each sample: ``C_0 = I``, ``C_{k+1} = C_k · exp(ω̄ dt)``
        with ``ω̄`` the mean of the two samples (trapezoidal rule on the rate).

    Raises
    ------
    UsageError
        Shapes differ, fewer than two samples, or times not increasing.
    """
    R = _rotation()
    t = np.asarray(t_s, np.float64)
    w = np.asarray(gyro_rad_s, np.float64)
    if t.ndim != 1 or w.shape != (len(t), 3) or len(t) < 2:
        raise UsageError(f"gyro samples must be (N,) times and (N, 3) rates with N >= 2; got {t.shape}, {w.shape}")
    dt = np.diff(t)
    if not np.all(dt > 0):
        raise UsageError("gyro sample times must increase")
    steps = R.from_rotvec(0.5 * (w[1:] + w[:-1]) * dt[:, None])
    quats = np.empty((len(t), 4))
    q = R.identity()
    quats[0] = q.as_quat()
    for k in range(len(dt)):  # a running product (no vectorised cumulative product in scipy)
        q = q * steps[k]
        quats[k + 1] = q.as_quat()
    return R.from_quat(quats)


def rates_between(t_s: np.ndarray, orientations, t_a: np.ndarray, t_b: np.ndarray) -> np.ndarray:
    """Mean body rate between times ``t_a`` and ``t_b`` of an integrated orientation track.

    Parameters
    ----------
    t_s : ndarray, shape (N,)
        Times of ``orientations`` (seconds).
    orientations : Rotation, length N
        From :func:`integrate_gyro`.
    t_a, t_b : ndarray, shape (M,)
        Interval ends, seconds, inside ``[t_s[0], t_s[-1]]`` (clamped otherwise).

    Returns
    -------
    ndarray, shape (M, 3), float64
        ``rotvec(C(t_a)⁻¹ C(t_b)) / (t_b − t_a)``, rad/s in camera axes (orientations
        interpolated by spherical linear interpolation).
    """
    from scipy.spatial.transform import Slerp

    t = np.asarray(t_s, np.float64)
    slerp = Slerp(t, orientations)
    a = np.clip(np.asarray(t_a, np.float64), t[0], t[-1])
    b = np.clip(np.asarray(t_b, np.float64), t[0], t[-1])
    rel = slerp(a).inv() * slerp(b)
    span = np.where(b - a > 0, b - a, np.nan)
    return rel.as_rotvec() / span[:, None]


def flow_rotations(frames: Sequence[np.ndarray], K: np.ndarray, *, max_corners: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Rotation of the camera between consecutive frames, from tracked image features.

    Parameters
    ----------
    frames : sequence of ndarray, shape (H, W) or (H, W, 3), uint8
        Consecutive frames of an undistorted (rectilinear) view.
    K : ndarray, shape (3, 3)
        Camera matrix of the frames, pixels.
    max_corners : int
        Features tracked per frame pair.

    Returns
    -------
    rotvecs : ndarray, shape (F-1, 3), float64
        Body rotation from frame k to k+1 as a rotation vector (radians, camera axes):
        ``C_{k+1} = C_k · exp(rotvec_k)``; NaN where too few features were tracked.
    inliers : ndarray, shape (F-1,), int
        RANSAC inliers of each pair's homography.

    Notes
    -----
    Features: Shi–Tomasi corners, pyramidal Lucas–Kanade with a forward–backward check;
    the homography ``H`` (RANSAC, 1 px) of a pure rotation is ``K C_{k+1}ᵀ C_k K⁻¹``, so
    ``exp(rotvec) = C_kᵀ C_{k+1}`` is the nearest rotation (SVD) to ``(K⁻¹ H K)ᵀ``.
    Translation of the camera is not modelled (distant scenes, or a small baseline).
    """
    import cv2

    K = np.asarray(K, np.float64)
    Kinv = np.linalg.inv(K)
    grey = [f if f.ndim == 2 else cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    out = np.full((max(len(grey) - 1, 0), 3), np.nan)
    inl = np.zeros(max(len(grey) - 1, 0), int)
    R = _rotation()
    for k in range(len(grey) - 1):
        a, b = grey[k], grey[k + 1]
        pa = cv2.goodFeaturesToTrack(a, max_corners, 0.01, 8)
        if pa is None or len(pa) < 12:
            continue
        pb, st, _ = cv2.calcOpticalFlowPyrLK(a, b, pa, None, winSize=(21, 21), maxLevel=3)
        back, st2, _ = cv2.calcOpticalFlowPyrLK(b, a, pb, None, winSize=(21, 21), maxLevel=3)
        ok = (st[:, 0] == 1) & (st2[:, 0] == 1) & (np.linalg.norm((back - pa)[:, 0], axis=1) < 0.5)
        if ok.sum() < 12:
            continue
        H, mask = cv2.findHomography(pa[ok], pb[ok], cv2.RANSAC, 1.0)
        if H is None:
            continue
        M = Kinv @ H @ K  # ≈ λ C_{k+1}ᵀ C_k
        U, _, Vt = np.linalg.svd(M)
        Rk = U @ Vt
        if np.linalg.det(Rk) < 0:
            Rk = -Rk
        out[k] = R.from_matrix(Rk.T).as_rotvec()  # C_kᵀ C_{k+1}
        inl[k] = int(mask.sum())
    return out, inl


@dataclass(frozen=True)
class GyroSync:
    """Result of :func:`estimate_gyro_offset`: ``offset_s`` (gyro time = video time + offset),
    ``confidence`` (correlation of the angular speeds at the offset, 0–1) and ``pairs`` used."""

    offset_s: float
    confidence: float
    pairs: int


def estimate_gyro_offset(gyro_t_s: np.ndarray, gyro_rad_s: np.ndarray, frame_t_s: np.ndarray,
                         flow_rotvecs: np.ndarray, *, search_s: float = 0.5, step_s: float = 0.001) -> GyroSync:
    """Find the gyro-to-video time offset by matching angular speeds (gyro vs optical flow).

    Parameters
    ----------
    gyro_t_s, gyro_rad_s : ndarray, shapes (N,), (N, 3)
        Gyroscope samples in the gyro's clock.
    frame_t_s : ndarray, shape (F,)
        Presentation time of each frame in the video's clock, seconds.
    flow_rotvecs : ndarray, shape (F-1, 3)
        Rotation between consecutive frames (:func:`flow_rotations`), radians.
    search_s, step_s : float
        The offsets tried: ``−search_s … +search_s`` every ``step_s``, then refined to a
        fraction of a step by a parabola through the best three.

    Returns
    -------
    GyroSync

    Raises
    ------
    UsageError
        Fewer than 8 frame pairs with a flow rotation, or the gyro does not cover them.

    Notes
    -----
    Magnitudes ``|ω|`` are compared (Pearson correlation), so the gyro's axes need not be
    aligned with the camera's for the sync (Karpenko et al. 2011 match the rates likewise).
    """
    ft = np.asarray(frame_t_s, np.float64)
    fr = np.asarray(flow_rotvecs, np.float64)
    dt = np.diff(ft)
    ok = np.isfinite(fr).all(axis=1) & (dt > 0)
    if ok.sum() < 8:
        raise UsageError(f"gyro sync needs at least 8 frame pairs with tracked motion, got {int(ok.sum())}")
    speed_flow = np.linalg.norm(fr[ok], axis=1) / dt[ok]
    ta, tb = ft[:-1][ok], ft[1:][ok]
    gt = np.asarray(gyro_t_s, np.float64)
    C = integrate_gyro(gt, gyro_rad_s)
    offsets = np.arange(-search_s, search_s + step_s / 2, step_s)
    scores = np.full(len(offsets), -np.inf)
    for i, o in enumerate(offsets):
        inside = (ta + o >= gt[0]) & (tb + o <= gt[-1])
        if inside.sum() < 8:
            continue
        g = np.linalg.norm(rates_between(gt, C, ta[inside] + o, tb[inside] + o), axis=1)
        f = speed_flow[inside]
        if g.std() == 0 or f.std() == 0:
            continue
        scores[i] = float(np.corrcoef(g, f)[0, 1])
    best = int(np.argmax(scores))
    if not np.isfinite(scores[best]):
        raise UsageError("the gyro samples do not cover the frames at any offset searched")
    off = float(offsets[best])
    if 0 < best < len(offsets) - 1 and np.isfinite(scores[best - 1]) and np.isfinite(scores[best + 1]):
        y0, y1, y2 = scores[best - 1], scores[best], scores[best + 1]
        den = y0 - 2 * y1 + y2
        if den < 0:
            off += 0.5 * (y0 - y2) / den * step_s
    return GyroSync(float(off), max(0.0, float(scores[best])), int(ok.sum()))


def smooth_orientations(orientations, fps: float, smoothness_s: float = 0.5):
    """Smoothed camera path: a Gaussian-weighted mean orientation around each frame.

    Parameters
    ----------
    orientations : Rotation, length F
        Camera-to-world orientation of each frame.
    fps : float
        Frames per second.
    smoothness_s : float
        Standard deviation of the Gaussian window, seconds (0 = no smoothing). Larger values
        hold the view steadier and need more crop.

    Returns
    -------
    Rotation, length F
        The virtual camera's orientation per frame (chordal L2 mean of the window,
        :meth:`scipy.spatial.transform.Rotation.mean`); the window is cut at the clip's ends.
    """
    R = _rotation()
    n = len(orientations)
    sigma = float(smoothness_s) * float(fps)
    if sigma <= 0:
        return orientations
    half = int(math.ceil(3 * sigma))
    quats = np.empty((n, 4))
    for i in range(n):
        lo, hi = max(0, i - half), min(n, i + half + 1)
        w = np.exp(-0.5 * ((np.arange(lo, hi) - i) / sigma) ** 2)
        quats[i] = orientations[lo:hi].mean(weights=w).as_quat()
    return R.from_quat(quats)


def correction_homographies(K: np.ndarray, actual, smoothed, *, zoom: float = 1.0) -> np.ndarray:
    """Per-frame homographies from the stabilised output to the source frame.

    Parameters
    ----------
    K : ndarray, shape (3, 3)
        Camera matrix of the (undistorted) frames.
    actual, smoothed : Rotation, length F
        The camera's and the virtual camera's orientations.
    zoom : float
        Output focal length over ``K``'s (> 1 crops in).

    Returns
    -------
    ndarray, shape (F, 3, 3), float64
        ``H = K Cᵀ S K_out⁻¹`` with ``K_out = K`` scaled by ``zoom`` about the principal point:
        the output pixel ``q`` is read from ``p ~ H q``.
    """
    K = np.asarray(K, np.float64)
    Kout = K.copy()
    Kout[0, 0] *= zoom
    Kout[1, 1] *= zoom
    rel = (actual.inv() * smoothed).as_matrix()  # Cᵀ S
    return K @ rel @ np.linalg.inv(Kout)


def _edge_points(width: int, height: int, n: int = 16) -> np.ndarray:
    xs = np.linspace(0, width - 1, n)
    ys = np.linspace(0, height - 1, n)
    pts = np.concatenate([np.stack([xs, np.zeros(n)], 1), np.stack([xs, np.full(n, height - 1.0)], 1),
                          np.stack([np.zeros(n), ys], 1), np.stack([np.full(n, width - 1.0), ys], 1)])
    return np.concatenate([pts, np.ones((len(pts), 1))], axis=1)


def crop_zoom(K: np.ndarray, actual, smoothed, width: int, height: int, *, max_zoom: float = 2.0) -> float:
    """The smallest zoom at which no stabilised frame shows an empty border.

    Parameters
    ----------
    K, actual, smoothed
        As :func:`correction_homographies`.
    width, height : int
        Frame size, pixels.
    max_zoom : float
        Upper limit; returned when even it leaves a border somewhere.

    Returns
    -------
    float
        One zoom for the whole clip (a fixed crop), found by bisection to 1e-4 on the frame
        edges mapped through every frame's homography.
    """
    pts = _edge_points(width, height)

    def fits(z: float) -> bool:
        Hs = correction_homographies(K, actual, smoothed, zoom=z)
        p = np.einsum("fij,nj->fni", Hs, pts)
        xy = p[..., :2] / p[..., 2:3]
        return bool(np.all((p[..., 2] > 0) & (xy[..., 0] >= 0) & (xy[..., 0] <= width - 1)
                           & (xy[..., 1] >= 0) & (xy[..., 1] <= height - 1)))

    if fits(1.0):
        return 1.0
    if not fits(max_zoom):
        return float(max_zoom)
    lo, hi = 1.0, float(max_zoom)
    while hi - lo > 1e-4:
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return hi
