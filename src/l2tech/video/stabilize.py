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
    "frame_zooms",
    "adaptive_zoom",
    "camera_path_from_flow",
    "sync_gyro",
    "orientations_at",
    "clip_flow_rotations",
    "analysis_frames",
    "StabilizationPlan",
    "StabilizedMaps",
    "world_up",
    "lock_horizon",
    "estimate_readout",
    "SMOOTHNESS_S",
]

#: Default strength of :func:`smooth_orientations` (``l2 video --smoothness``): the standard
#: deviation of the Gaussian window, seconds.
SMOOTHNESS_S = 0.5


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


def flow_rotations(frames: Sequence[np.ndarray], K: np.ndarray, *, max_corners: int = 400,
                   mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Rotation of the camera between consecutive frames, from tracked image features.

    Parameters
    ----------
    frames : sequence of ndarray, shape (H, W) or (H, W, 3), uint8
        Consecutive frames of an undistorted (rectilinear) view.
    K : ndarray, shape (3, 3)
        Camera matrix of the frames, pixels.
    max_corners : int
        Features tracked per frame pair.
    mask : ndarray, shape (H, W), uint8, optional
        Where features may be picked (non-zero): the part of an undistorted view that holds
        image, so the static edge of a lens's empty border is not tracked.

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
        pa = (cv2.goodFeaturesToTrack(a, max_corners, 0.01, 8) if mask is None
              else cv2.goodFeaturesToTrack(a, max_corners, 0.01, 8, mask=mask))
        if pa is None or len(pa) < 12:
            continue
        pb, st, _ = cv2.calcOpticalFlowPyrLK(a, b, pa, None, winSize=(21, 21), maxLevel=3)
        back, st2, _ = cv2.calcOpticalFlowPyrLK(b, a, pb, None, winSize=(21, 21), maxLevel=3)
        ok = (st[:, 0] == 1) & (st2[:, 0] == 1) & (np.linalg.norm((back - pa)[:, 0], axis=1) < 0.5)
        if ok.sum() < 12:
            continue
        H, hmask = cv2.findHomography(pa[ok], pb[ok], cv2.RANSAC, 1.0)
        if H is None:
            continue
        M = Kinv @ H @ K  # ≈ λ C_{k+1}ᵀ C_k
        U, _, Vt = np.linalg.svd(M)
        Rk = U @ Vt
        if np.linalg.det(Rk) < 0:
            Rk = -Rk
        out[k] = R.from_matrix(Rk.T).as_rotvec()  # C_kᵀ C_{k+1}
        inl[k] = int(hmask.sum())
    return out, inl


@dataclass(frozen=True)
class GyroSync:
    """Result of :func:`estimate_gyro_offset` / :func:`sync_gyro`: ``offset_s`` (gyro time =
    video time + offset), ``confidence`` (correlation at the offset, 0–1), ``pairs`` used and,
    from :func:`sync_gyro`, ``axes`` (3, 3): camera rate = ``axes @`` gyro rate."""

    offset_s: float
    confidence: float
    pairs: int
    axes: np.ndarray | None = None


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
        :meth:`scipy.spatial.transform.Rotation.mean`).

    Notes
    -----
    Beyond the clip's ends the path is continued by point reflection about the end frame
    (``C_{−j} = C_0 C_j⁻¹ C_0``, likewise at the last frame), so a steady pan continues at its
    rate: a window merely cut at the ends would pull the first and last frames towards the
    interior by about ``σ × the pan rate`` and force a large crop.
    """
    R = _rotation()
    n = len(orientations)
    sigma = float(smoothness_s) * float(fps)
    if sigma <= 0 or n < 2:
        return orientations
    half = int(math.ceil(3 * sigma))
    pad = min(half, n - 1)
    first, last = orientations[0], orientations[n - 1]
    head = [first * orientations[j].inv() * first for j in range(pad, 0, -1)]
    tail = [last * orientations[n - 1 - j].inv() * last for j in range(1, pad + 1)]
    ext = R.concatenate(head + [orientations] + tail) if pad else orientations
    quats = np.empty((n, 4))
    for i in range(n):
        c = i + pad
        lo, hi = max(0, c - half), min(len(ext), c + half + 1)
        w = np.exp(-0.5 * ((np.arange(lo, hi) - c) / sigma) ** 2)
        quats[i] = ext[lo:hi].mean(weights=w).as_quat()
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


def crop_zoom(K: np.ndarray, actual, smoothed, width: int, height: int, *, max_zoom: float = 2.0,
              to_source=None, source_size: tuple[int, int] | None = None) -> float:
    """The smallest zoom at which no stabilised frame shows an empty border.

    Parameters
    ----------
    K, actual, smoothed
        As :func:`correction_homographies`.
    width, height : int
        Frame size, pixels.
    max_zoom : float
        Upper limit; returned when even it leaves a border somewhere.
    to_source : callable, optional
        ``to_source(x, y) -> (sx, sy)``: where a point of the rectilinear view lies in the
        source frame (the lens map; NaN where a ray has no image). With it the test is that the
        frame edges land inside the *source* frame (``source_size``), so the lens's own empty
        corners are cropped too; without it, inside the rectilinear view.
    source_size : tuple of int, optional
        ``(width, height)`` of the source frame (default ``width, height``).

    Returns
    -------
    float
        One zoom for the whole clip (a fixed crop): the largest of :func:`frame_zooms`.
    """
    return float(frame_zooms(K, actual, smoothed, width, height, max_zoom=max_zoom, to_source=to_source,
                             source_size=source_size).max())


def frame_zooms(K: np.ndarray, actual, smoothed, width: int, height: int, *, max_zoom: float = 2.0,
                to_source=None, source_size: tuple[int, int] | None = None) -> np.ndarray:
    """Per frame, the smallest zoom at which that frame shows no empty border.

    Parameters
    ----------
    K, actual, smoothed, width, height, max_zoom, to_source, source_size
        As :func:`crop_zoom`.

    Returns
    -------
    ndarray, shape (F,), float64
        Each frame's zoom, found by bisection to 1e-4 on the frame edges mapped through its
        homography: 1.0 where the frame fits without a crop, ``max_zoom`` where even that leaves
        a border. Their maximum is :func:`crop_zoom`'s fixed crop.
    """
    pts = _edge_points(width, height, 64)
    sw, sh = source_size or (width, height)
    K = np.asarray(K, np.float64)
    rel = (actual.inv() * smoothed).as_matrix()  # (F, 3, 3): Cᵀ S
    KR = K @ rel

    def fits(z: np.ndarray) -> np.ndarray:
        kout = np.broadcast_to(K, (len(z), 3, 3)).copy()  # K scaled by z about the principal point
        kout[:, 0, 0] *= z
        kout[:, 1, 1] *= z
        Hs = KR @ np.linalg.inv(kout)
        p = np.einsum("fij,nj->fni", Hs, pts)
        ok = np.all(p[..., 2] > 0, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            x, y = p[..., 0] / p[..., 2], p[..., 1] / p[..., 2]
        inside = (x >= 0) & (x <= width - 1) & (y >= 0) & (y <= height - 1)
        ok &= np.all(inside, axis=1)
        if to_source is not None:
            sx, sy = to_source(np.where(inside, x, 0.0), np.where(inside, y, 0.0))
            ok &= np.all(np.isfinite(sx) & np.isfinite(sy) & (sx >= 0) & (sx <= sw - 1) & (sy >= 0) & (sy <= sh - 1), axis=1)
        return ok

    n = len(rel)
    lo, hi = np.ones(n), np.full(n, float(max_zoom))
    out = np.where(fits(lo), 1.0, np.where(fits(hi), np.nan, float(max_zoom)))
    todo = np.isnan(out)
    while todo.any() and np.max(hi[todo] - lo[todo]) > 1e-4:
        mid = 0.5 * (lo + hi)
        ok = fits(mid)
        hi = np.where(todo & ok, mid, hi)
        lo = np.where(todo & ~ok, mid, lo)
    return np.where(todo, hi, out)


def adaptive_zoom(required: np.ndarray, fps: float, window_s: float, max_zoom: float = 2.0) -> np.ndarray:
    """A per-frame zoom that follows what each frame needs, smoothly (a dynamic crop).

    Parameters
    ----------
    required : ndarray, shape (F,)
        Each frame's smallest border-free zoom (:func:`frame_zooms`).
    fps : float
        Frame rate, frames per second.
    window_s : float
        Length of the window the zoom looks ahead and back, seconds (Gyroflow's "adaptive zoom
        window"); 0 gives a fixed crop (the largest required zoom, for every frame).
    max_zoom : float
        The crop limit; frames that need more show a border.

    Returns
    -------
    ndarray, shape (F,), float64
        The zoom per frame, never below ``required`` (up to ``max_zoom``): the moving maximum
        of ``required`` over ``±window_s / 2``, then a Gaussian of standard deviation
        ``window_s / 6`` truncated at the same ``±window_s / 2``, so each output value is a
        weighted mean of maxima that all include that frame's own need.

    Raises
    ------
    UsageError
        A negative or non-finite window, or a frame rate that is not positive and finite.
    """
    req = np.minimum(np.asarray(required, np.float64), float(max_zoom))
    if not (0 <= window_s < 1e6) or not (0 < fps < 1e6):
        raise UsageError(f"adaptive zoom needs a window of 0 or more seconds and a frame rate > 0, got {window_s!r} s "
                         f"at {fps!r} fps")
    half = min(int(round(0.5 * window_s * fps)), len(req))  # a window past the clip's ends: the same result
    if window_s == 0 or len(req) == 0:
        return np.full(len(req), req.max() if len(req) else 1.0)
    if half < 1:
        return req.copy()
    from scipy.ndimage import maximum_filter1d

    env = maximum_filter1d(req, size=2 * half + 1, mode="nearest")
    k = np.arange(-half, half + 1, dtype=np.float64)
    w = np.exp(-0.5 * (k / (half / 3.0)) ** 2)
    w /= w.sum()
    padded = np.pad(env, half, mode="edge")
    smooth = np.convolve(padded, w, mode="valid")
    return np.clip(np.maximum(smooth, req), 1.0, float(max_zoom))


def camera_path_from_flow(rotvecs: np.ndarray):
    """Camera orientations of every frame from the rotations between consecutive frames.

    Parameters
    ----------
    rotvecs : ndarray, shape (F-1, 3), float64
        :func:`flow_rotations`; a NaN pair (too few features) counts as no rotation.

    Returns
    -------
    Rotation, length F
        ``C_0 = I``, ``C_{k+1} = C_k · exp(rotvec_k)``.
    """
    R = _rotation()
    rv = np.nan_to_num(np.asarray(rotvecs, np.float64).reshape(-1, 3), nan=0.0)
    steps = R.from_rotvec(rv)
    quats = np.empty((len(rv) + 1, 4))
    q = R.identity()
    quats[0] = q.as_quat()
    for k in range(len(rv)):
        q = q * steps[k]
        quats[k + 1] = q.as_quat()
    return R.from_quat(quats)


def _signed_permutations():
    import itertools

    for perm in itertools.permutations(range(3)):
        for signs in itertools.product((1.0, -1.0), repeat=3):
            A = np.zeros((3, 3))
            A[np.arange(3), perm] = signs
            if np.linalg.det(A) > 0:
                yield A


def sync_gyro(gyro_t_s: np.ndarray, gyro_rad_s: np.ndarray, frame_t_s: np.ndarray, flow_rotvecs: np.ndarray, *,
              search_s: float = 1.0, axes: np.ndarray | None = None) -> GyroSync:
    """Gyro-to-video offset and the gyro's axes, found together from the frames' rotations.

    Parameters
    ----------
    gyro_t_s, gyro_rad_s : ndarray, shapes (N,), (N, 3)
        Gyroscope samples (the gyro's clock and axes), rad/s.
    frame_t_s : ndarray, shape (F,)
        Frame times, video clock, seconds.
    flow_rotvecs : ndarray, shape (F-1, 3)
        Rotation between consecutive frames in camera axes (:func:`flow_rotations`), radians.
    search_s : float
        Offsets tried: ``−search_s … +search_s`` every 10 ms, then every 1 ms around the best,
        refined by a parabola through the best three.
    axes : ndarray, shape (3, 3), optional
        Known gyro-to-camera rotation (a CSV in camera axes: the identity); default: the best
        of the 24 axis-aligned rotations.

    Returns
    -------
    GyroSync
        ``offset_s`` (gyro time = video time + offset), ``confidence`` (the weighted
        correlation below, 0–1), ``pairs`` used and ``axes`` (camera rate = ``axes @`` gyro
        rate).

    Raises
    ------
    UsageError
        Fewer than 8 frame pairs with a flow rotation inside the gyro's span at any offset.

    Notes
    -----
    The gyro's rotation over each frame interval is the difference of its running integral
    ``Φ(t) = ∫ω dt`` at the interval's ends (exact to second order in the per-frame angle,
    under a degree per frame in practice). For each offset and each axis assignment the score
    is ``Σᵢ wᵢ corr(flowᵢ, gyroᵢ)``: the Pearson correlation per camera axis, weighted by the
    gyro's own spread on that axis (``wᵢ = σᵢ / Σσ``). The weighting keeps the axes the gyro
    sees turning in charge: a gimbal-held camera on a drone turns mostly about one axis, and
    the flow's other axes then hold mostly the apparent rotation of the camera's translation.
    Karpenko et al. (2011) sync likewise by matching rates; Gyroflow's autosync matches the
    gyro to optical flow per axis.
    """
    ft = np.asarray(frame_t_s, np.float64)
    fr = np.asarray(flow_rotvecs, np.float64)
    gt = np.asarray(gyro_t_s, np.float64)
    w = np.asarray(gyro_rad_s, np.float64)
    if gt.ndim != 1 or w.shape != (len(gt), 3) or len(gt) < 2 or np.any(np.diff(gt) <= 0):
        raise UsageError("gyro samples must be (N,) increasing times and (N, 3) rates with N >= 2")
    phi = np.concatenate([np.zeros((1, 3)), np.cumsum(0.5 * (w[1:] + w[:-1]) * np.diff(gt)[:, None], axis=0)])
    ok = np.isfinite(fr).all(axis=1) & (np.diff(ft) > 0)
    ta, tb, f = ft[:-1][ok], ft[1:][ok], fr[ok]
    cands = [np.asarray(axes, np.float64)] if axes is not None else list(_signed_permutations())

    def scores(offsets: np.ndarray):
        out = np.full(len(offsets), -np.inf)
        best_axes: list = [None] * len(offsets)
        for n, o in enumerate(offsets):
            inside = (ta + o >= gt[0]) & (tb + o <= gt[-1])
            if inside.sum() < 8:
                continue
            g = np.stack([np.interp(tb[inside] + o, gt, phi[:, j]) - np.interp(ta[inside] + o, gt, phi[:, j])
                          for j in range(3)], axis=1)
            fi = f[inside]
            gs, fs = g.std(axis=0), fi.std(axis=0)
            if not (gs.sum() > 0):
                continue
            gc = (g - g.mean(axis=0)) / np.where(gs > 0, gs, 1.0)
            fc = (fi - fi.mean(axis=0)) / np.where(fs > 0, fs, 1.0)
            corr = fc.T @ gc / len(g)  # corr[i, j] = corr(flow_i, gyro_j)
            for A in cands:
                j = np.argmax(np.abs(A), axis=1)
                sgn = A[np.arange(3), j]
                wts = gs[j] / gs.sum()
                sc = float(np.sum(wts * sgn * corr[np.arange(3), j]))
                if sc > out[n]:
                    out[n], best_axes[n] = sc, A
        return out, best_axes

    coarse = np.arange(-search_s, search_s + 1e-9, 0.01)
    sc, ax = scores(coarse)
    i = int(np.argmax(sc))
    if not np.isfinite(sc[i]):
        raise UsageError(f"gyro sync needs at least 8 frame pairs with tracked motion inside the gyro's span, "
                         f"got {int(ok.sum())} pairs")
    fine = coarse[i] + np.arange(-0.015, 0.0155, 0.001)
    sc, ax = scores(fine)
    i = int(np.argmax(sc))
    off = float(fine[i])
    if 0 < i < len(fine) - 1 and np.isfinite(sc[i - 1]) and np.isfinite(sc[i + 1]):
        den = sc[i - 1] - 2 * sc[i] + sc[i + 1]
        if den < 0:
            off += 0.5 * (sc[i - 1] - sc[i + 1]) / den * 0.001
    return GyroSync(float(off), max(0.0, min(1.0, float(sc[i]))), int(ok.sum()), ax[i])


def orientations_at(gyro_t_s: np.ndarray, gyro_rad_s: np.ndarray, t_s: np.ndarray):
    """Camera orientation at arbitrary times from gyro samples (integrated, then slerped).

    Parameters
    ----------
    gyro_t_s, gyro_rad_s : ndarray, shapes (N,), (N, 3)
        Gyro samples in camera axes (rad/s), the gyro's clock.
    t_s : ndarray, shape (M,)
        Times in the gyro's clock; clamped to the samples' span.

    Returns
    -------
    Rotation, length M
        Camera-to-world orientation, the first gyro sample at the identity.
    """
    from scipy.spatial.transform import Slerp

    gt = np.asarray(gyro_t_s, np.float64)
    C = integrate_gyro(gt, gyro_rad_s)
    return Slerp(gt, C)(np.clip(np.asarray(t_s, np.float64), gt[0], gt[-1]))


def clip_flow_rotations(path: str, K: np.ndarray, *, analysis_map: np.ndarray | None = None,
                        start_s: float = 0.0, duration_s: float | None = None,
                        max_corners: int = 300) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pass over a clip: the time of each frame and the rotation between consecutive frames.

    Parameters
    ----------
    path : str
        The clip (decoded with PyAV, luma only).
    K : ndarray, shape (3, 3)
        Camera matrix of the analysed view (``analysis_map``'s output), pixels.
    analysis_map : ndarray, shape (h, w, 2), float32, optional
        Inverse map from the analysed view to the decoded frame (lens correction to a
        rectilinear view, usually at a reduced size); NaN where a ray has no image. ``None``:
        the frames as decoded.
    start_s, duration_s : float
        The part of the clip to analyse (frame times in the stream's clock).
    max_corners : int
        Features per frame pair (:func:`flow_rotations`).

    Returns
    -------
    frame_t_s : ndarray, shape (F,), float64
        Presentation time of each frame, seconds (non-increasing timestamps are re-timed at the
        nominal rate, as :func:`l2tech.video.transcode.process_video` does).
    rotvecs : ndarray, shape (F-1, 3), float64
        :func:`flow_rotations` of each consecutive pair (NaN where tracking failed).
    inliers : ndarray, shape (F-1,), int

    Raises
    ------
    CorruptInputError
        The clip cannot be decoded.
    """
    frames, times, rots, inl = _analysis_pass(path, K, analysis_map, start_s, duration_s, max_corners, 0)
    return times, rots, inl


def analysis_frames(path: str, *, analysis_map: np.ndarray | None = None, start_s: float = 0.0,
                    count: int = 24) -> tuple[list[np.ndarray], np.ndarray]:
    """``count`` consecutive luma frames from ``start_s``, through ``analysis_map`` (as
    :func:`clip_flow_rotations` sees them), with their times; for :func:`estimate_readout`."""
    frames, times, _, _ = _analysis_pass(path, None, analysis_map, start_s, None, 0, count)
    return frames, times


def _analysis_pass(path, K, analysis_map, start_s, duration_s, max_corners, keep):
    """Decode (and remap) luma frames; flow between pairs when ``K`` is given; keep ``keep`` frames."""
    import av

    from l2tech.correct.resample import prepare_maps, remap_planes
    from l2tech.errors import CorruptInputError

    planes = mask = None
    kept: list[np.ndarray] = []
    if analysis_map is not None:
        import cv2

        planes = prepare_maps(np.asarray(analysis_map, np.float32))
        valid = np.all(np.isfinite(analysis_map), axis=-1).astype(np.uint8)
        mask = cv2.erode(valid, np.ones((15, 15), np.uint8))
    end_s = None if duration_s is None else start_s + duration_s
    times: list[float] = []
    rots: list[np.ndarray] = []
    inl: list[int] = []
    prev = None
    try:
        with av.open(str(path)) as c:
            vs = c.streams.video[0]
            vs.thread_type = "AUTO"
            tb = vs.time_base
            rate = vs.average_rate or vs.guessed_rate
            ticks = max(1, int(round(1 / (float(rate) * float(tb))))) if rate else 1
            last = None
            for frame in c.decode(vs):
                pts = frame.pts
                if pts is None or (last is not None and pts <= last):
                    pts = last + ticks if last is not None else 0
                last = pts
                t = float(pts * tb)
                if t < start_s - 1e-6:
                    continue
                if end_s is not None and t >= end_s - 1e-6:
                    break
                g = frame.to_ndarray(format="gray")
                if planes is not None:
                    g = remap_planes(g, planes, border="constant")
                if prev is not None and K is not None:
                    rv, n = flow_rotations([prev, g], K, max_corners=max_corners, mask=mask)
                    rots.append(rv[0])
                    inl.append(int(n[0]))
                times.append(t)
                prev = g
                if keep:
                    kept.append(g)
                    if len(kept) >= keep:
                        break
    except av.FFmpegError as exc:
        raise CorruptInputError(f"the clip could not be decoded for motion analysis ({exc})", path=str(path)) from None
    return kept, np.asarray(times, np.float64), np.asarray(rots, np.float64).reshape(-1, 3), np.asarray(inl, int)


@dataclass(frozen=True)
class StabilizationPlan:
    """Everything a stabilised clip needs per frame, computed once before the frames are written.

    Attributes
    ----------
    mode : {"gyro", "flow"}
        Where the camera's motion came from.
    frame_t_s : ndarray, shape (F,)
        Frame times (the stream's clock), seconds; a frame's first row is read at this time.
    actual, smoothed : Rotation, length F
        The camera's orientation at mid-frame and the virtual camera's.
    track_t_s : ndarray, shape (T,)
        Times of ``track`` (video clock), for rows read at other times (rolling shutter).
    track : Rotation, length T
        The camera's orientation along the clip (gyro samples, or the frames' in flow mode).
    K : ndarray, shape (3, 3)
        Camera matrix of the rectilinear view the rotations act in.
    zoom : float
        Output focal length over ``K``'s: the fixed crop that hides every border (with
        ``zooms``, their largest).
    readout_s : float
        Rolling-shutter readout time (first to last row), seconds; 0 for a global shutter.
    smoothness_s : float
        :func:`smooth_orientations`' strength.
    offset_s, confidence : float or None
        Gyro sync (:class:`GyroSync`), or ``None`` (flow mode, or an offset given).
    axes : ndarray, shape (3, 3) or None
        Gyro axes to camera axes (:func:`sync_gyro`), or ``None``.
    horizon_lock : bool
        Roll held level (:func:`lock_horizon`).
    readout_estimated : bool
        ``readout_s`` came from :func:`estimate_readout`.
    source : str or None
        Where the gyro came from (``"clip telemetry"``, ``"gyro CSV"``, ``"Gyroflow project"``);
        ``None`` in flow mode.
    notes : tuple of str
        What the user should know about the inputs (settings of a Gyroflow project not applied, ...).
    zooms : ndarray, shape (F,), optional
        A zoom per frame (:func:`adaptive_zoom`, a dynamic crop) instead of ``zoom`` for all.
    zoom_window_s : float
        :func:`adaptive_zoom`'s window, seconds (0: fixed crop).
    """

    mode: str
    frame_t_s: np.ndarray
    actual: object
    smoothed: object
    track_t_s: np.ndarray
    track: object
    K: np.ndarray
    zoom: float
    readout_s: float = 0.0
    smoothness_s: float = SMOOTHNESS_S
    offset_s: float | None = None
    confidence: float | None = None
    axes: np.ndarray | None = None
    horizon_lock: bool = False
    readout_estimated: bool = False
    source: str | None = None
    notes: tuple = ()
    zooms: np.ndarray | None = None
    zoom_window_s: float = 0.0

    def frame_index(self, t_s: float) -> int:
        """Index of the analysed frame nearest to time ``t_s``."""
        i = int(np.searchsorted(self.frame_t_s, t_s))
        if i >= len(self.frame_t_s):
            return len(self.frame_t_s) - 1
        if i > 0 and abs(self.frame_t_s[i - 1] - t_s) <= abs(self.frame_t_s[i] - t_s):
            return i - 1
        return i

    def as_dict(self) -> dict:
        """Plain JSON-able summary (``l2 video --json``)."""
        corr = (self.actual.inv() * self.smoothed).magnitude()
        return {
            "mode": self.mode,
            "frames": int(len(self.frame_t_s)),
            "smoothness_s": float(self.smoothness_s),
            "crop_zoom": float(self.zoom),
            "crop": "fixed" if self.zooms is None else "adaptive",
            "zoom_window_s": float(self.zoom_window_s),
            "crop_zoom_min": float(self.zoom if self.zooms is None else np.min(self.zooms)),
            "visible_fraction": float(1.0 / self.zoom ** 2 if self.zooms is None else np.mean(1.0 / np.asarray(self.zooms) ** 2)),
            "sync_offset_ms": None if self.offset_s is None else 1000.0 * float(self.offset_s),
            "sync_confidence": None if self.confidence is None else float(self.confidence),
            "gyro_axes": None if self.axes is None else np.asarray(self.axes).astype(int).tolist(),
            "readout_ms": 1000.0 * float(self.readout_s),
            "readout_estimated": bool(self.readout_estimated),
            "horizon_lock": bool(self.horizon_lock),
            "max_correction_deg": float(np.degrees(corr.max())) if len(corr) else 0.0,
            "gyro_source": self.source,
            "notes": list(self.notes),
        }


class StabilizedMaps:
    """The per-frame inverse map of a stabilised clip, as a coarse grid for the fused pass.

    Output pixel ``q`` → the rectilinear view's point ``p ~ K C(t)ᵀ S K_out⁻¹ q`` (the frame's
    correcting rotation, :func:`correction_homographies`; ``t`` the time its source row is read
    under a rolling shutter) → the lens map (rectilinear view → source pixel) → source pixel.
    One map, so a frame is resampled once for lens + stabilisation.

    Parameters
    ----------
    plan : StabilizationPlan
    in_size : tuple of int
        ``(width, height)`` of the decoded frames.
    lens_map : ndarray, shape (H, W, 2) or (H, W, 3, 2), float32, optional
        The clip's lens correction map (rectilinear view → source); its ``(W, H)`` is the
        output size. ``None``: the frames are the rectilinear view (no lens correction).
    falloff : ndarray, shape (H_in, W_in[, 3]), optional
        ``1 / vignetting gain`` on the source grid.
    border : {"constant", "replicate"}
    tol_px : float
        Accuracy of each frame's grid (:func:`l2tech.correct.fused.grid_from_function`, from a
        32-pixel node spacing down to 4): 0.02 px, a tenth of what bilinear sampling of a
        moving frame can show.
    """

    def __init__(self, plan: StabilizationPlan, in_size: tuple[int, int], lens_map: np.ndarray | None = None, *,
                 falloff: np.ndarray | None = None, border: str = "constant", tol_px: float = 0.02) -> None:
        from scipy.spatial.transform import Slerp

        self.plan = plan
        self.in_size = (int(in_size[0]), int(in_size[1]))
        self.lens_map = None if lens_map is None else np.ascontiguousarray(lens_map, np.float32)
        self.out_size = self.in_size if lens_map is None else (lens_map.shape[1], lens_map.shape[0])
        self.falloff = falloff
        self.border = border
        self.tol_px = float(tol_px)
        K = np.asarray(plan.K, np.float64)
        self._K = K
        zooms = np.full(len(plan.frame_t_s), float(plan.zoom)) if plan.zooms is None else np.asarray(plan.zooms, np.float64)
        kout = np.broadcast_to(K, (len(zooms), 3, 3)).copy()  # K scaled by each frame's zoom
        kout[:, 0, 0] *= zooms
        kout[:, 1, 1] *= zooms
        self._Kout_inv = np.linalg.inv(kout)
        self._slerp = Slerp(np.asarray(plan.track_t_s, np.float64), plan.track) if plan.readout_s > 0 else None

    def _to_view(self, k: int, x: np.ndarray, y: np.ndarray, rows: np.ndarray | None):
        q = np.stack([x, y, np.ones_like(x)], axis=-1)
        S = self.plan.smoothed[k]
        if rows is None:
            M = self._K @ (self.plan.actual[k].inv() * S).as_matrix() @ self._Kout_inv[k]
            p = q @ M.T
        else:
            t = self.plan.frame_t_s[k] + np.clip(rows / max(self.in_size[1] - 1, 1), 0.0, 1.0) * self.plan.readout_s
            tt = np.clip(t.ravel(), self.plan.track_t_s[0], self.plan.track_t_s[-1])
            rel = (self._slerp(tt).inv() * S).as_matrix()  # (n, 3, 3)
            M = self._K @ rel @ self._Kout_inv[k]
            p = np.einsum("nij,nj->ni", M, q.reshape(-1, 3)).reshape(q.shape)
        return p[..., 0] / p[..., 2], p[..., 1] / p[..., 2]

    def _lens(self, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        if self.lens_map is None:
            return np.stack([px, py], axis=-1)[..., None, :]
        from l2tech.correct.fused import sample_map

        H, W = self.lens_map.shape[:2]
        src = sample_map(self.lens_map, px, py)
        outside = (px < -0.5) | (px > W - 0.5) | (py < -0.5) | (py > H - 0.5)
        src[outside] = np.nan
        return src

    def source_at(self, k: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Source ``(x, y)`` of output positions of frame ``k``: shape ``x.shape + (C, 2)``."""
        px, py = self._to_view(k, x, y, None)
        src = self._lens(px, py)
        if self.plan.readout_s > 0:
            for _ in range(2):  # the row a point is read from sets its time: two fixed-point steps
                rows = np.nan_to_num(src[..., src.shape[-2] // 2, 1], nan=self.in_size[1] / 2)
                px, py = self._to_view(k, x, y, rows)
                src = self._lens(px, py)
        return src

    def grid(self, k: int):
        """The :class:`~l2tech.correct.fused.GridMap` of frame ``k``."""
        from l2tech.correct.fused import grid_from_function

        return grid_from_function(self.in_size, self.out_size, lambda x, y: self.source_at(k, x, y),
                                  falloff=self.falloff, border=self.border, step=32, tol_px=self.tol_px, min_step=4)


def world_up(actual, track_t_s: np.ndarray | None = None, track=None, accl_t_s: np.ndarray | None = None,
             accl_cam: np.ndarray | None = None) -> np.ndarray:
    """The world's up direction in the orientation track's frame.

    Parameters
    ----------
    actual : Rotation, length F
        The frames' orientations (the first frame resolves the sign, and is the reference
        without an accelerometer).
    track_t_s, track : ndarray (T,), Rotation length T, optional
        Orientation along the clip (video clock).
    accl_t_s : ndarray, shape (M,), optional
        Accelerometer sample times, video clock, seconds.
    accl_cam : ndarray, shape (M, 3), optional
        Accelerometer samples in camera axes, m/s² (gravity included).

    Returns
    -------
    ndarray, shape (3,), float64
        Unit vector: the mean over the clip of the accelerometer's direction carried into the
        world frame (the specific force points away from the ground when the camera is not
        accelerating, so its mean is up); without an accelerometer the first frame's up
        (``−y`` of its camera). Its sign is chosen to agree with the first frame's up.
    """
    from scipy.spatial.transform import Slerp

    up0 = -actual[0].as_matrix()[:, 1]
    if accl_t_s is None or accl_cam is None or track is None or len(accl_t_s) < 2:
        return up0
    tt = np.asarray(track_t_s, np.float64)
    at = np.asarray(accl_t_s, np.float64)
    inside = (at >= tt[0]) & (at <= tt[-1])
    if inside.sum() < 2:
        return up0
    C = Slerp(tt, track)(at[inside])
    a = np.asarray(accl_cam, np.float64)[inside]
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    u = C.apply(a).mean(axis=0)
    n = np.linalg.norm(u)
    if not n > 0.5:  # the direction wanders (a long spin, or no gravity signal): keep the first frame's
        return up0
    u = u / n
    return u if float(u @ up0) >= 0 else -u


def lock_horizon(smoothed, up: np.ndarray):
    """The virtual camera rolled about its optical axis so its x axis is level.

    Parameters
    ----------
    smoothed : Rotation, length F
        The virtual camera (:func:`smooth_orientations`).
    up : ndarray, shape (3,)
        The world's up direction (:func:`world_up`).

    Returns
    -------
    Rotation, length F
        ``S · Rz(φ)`` with ``φ`` chosen so that the camera's x axis is perpendicular to ``up``
        and its y axis (down in the image) points away from it: pan and tilt are kept, roll is
        set to zero. Undefined (kept as is) when looking straight up or down.
    """
    R = _rotation()
    M = smoothed.as_matrix()
    u = np.asarray(up, np.float64)
    xu = M[:, :, 0] @ u
    yu = M[:, :, 1] @ u
    phi = np.where(np.hypot(xu, yu) > 1e-6, np.arctan2(xu, -yu), 0.0)
    return smoothed * R.from_rotvec(np.outer(phi, [0.0, 0.0, 1.0]))


def estimate_readout(frames: Sequence[np.ndarray], frame_t_s: np.ndarray, K: np.ndarray, track_t_s: np.ndarray,
                     track, *, max_readout_s: float = 0.04, step_s: float = 0.0005,
                     max_corners: int = 300) -> tuple[float, float]:
    """Rolling-shutter readout time that best explains the features' motion under a known path.

    Parameters
    ----------
    frames : sequence of ndarray, shape (H, W) or (H, W, 3), uint8
        Consecutive frames of a rectilinear view (lens corrected).
    frame_t_s : ndarray, shape (F,)
        Time each frame's first row is read, seconds (the track's clock).
    K : ndarray, shape (3, 3)
        Camera matrix of the frames.
    track_t_s, track : ndarray (T,), Rotation length T
        Camera orientation along the clip (the synced, integrated gyro).
    max_readout_s, step_s : float
        Candidates ``0 … max_readout_s`` every ``step_s``, then a parabola through the best
        three.
    max_corners : int
        Features tracked per frame pair.

    Returns
    -------
    readout_s : float
        First-to-last-row readout time, seconds.
    residual_px : float
        RMS reprojection residual of the features at that readout, pixels.

    Raises
    ------
    UsageError
        Fewer than 50 features tracked over the frames.

    Notes
    -----
    Row ``y`` of frame ``k`` is read at ``t_k + y / (H − 1) · r``. A feature at ``p`` in frame
    ``k`` and ``p'`` in frame ``k+1`` is one world direction ``d = C(t) K⁻¹ p``; for each
    candidate ``r`` it is reprojected into frame ``k+1`` with the orientation of the row it was
    observed on there, and the squared distance to ``p'`` summed (features tracked with
    Lucas–Kanade, forward–backward checked). Translation is not modelled (distant scenes).
    """
    import cv2
    from scipy.spatial.transform import Slerp

    K = np.asarray(K, np.float64)
    Kinv = np.linalg.inv(K)
    grey = [f if f.ndim == 2 else cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    h = grey[0].shape[0]
    ft = np.asarray(frame_t_s, np.float64)
    pa_all, pb_all, ka = [], [], []
    for k in range(len(grey) - 1):
        a, b = grey[k], grey[k + 1]
        pa = cv2.goodFeaturesToTrack(a, max_corners, 0.01, 8)
        if pa is None:
            continue
        pb, st, _ = cv2.calcOpticalFlowPyrLK(a, b, pa, None, winSize=(21, 21), maxLevel=3)
        back, st2, _ = cv2.calcOpticalFlowPyrLK(b, a, pb, None, winSize=(21, 21), maxLevel=3)
        ok = (st[:, 0] == 1) & (st2[:, 0] == 1) & (np.linalg.norm((back - pa)[:, 0], axis=1) < 0.3)
        pa_all.append(pa[ok, 0].astype(np.float64))
        pb_all.append(pb[ok, 0].astype(np.float64))
        ka.append(np.full(int(ok.sum()), k))
    if not pa_all or sum(len(p) for p in pa_all) < 50:
        raise UsageError("estimating the readout needs at least 50 tracked features")
    pa, pb, kk = np.concatenate(pa_all), np.concatenate(pb_all), np.concatenate(ka)
    tt = np.asarray(track_t_s, np.float64)
    slerp = Slerp(tt, track)
    rays = np.concatenate([pa, np.ones((len(pa), 1))], axis=1) @ Kinv.T

    def residual(r: float) -> float:
        ta = np.clip(ft[kk] + pa[:, 1] / (h - 1) * r, tt[0], tt[-1])
        tb = np.clip(ft[kk + 1] + pb[:, 1] / (h - 1) * r, tt[0], tt[-1])
        d = slerp(ta).apply(rays)
        q = slerp(tb).inv().apply(d) @ K.T
        e = q[:, :2] / q[:, 2:3] - pb
        e2 = np.sum(e * e, axis=1)
        return float(np.mean(np.minimum(e2, 4.0)))  # robust: a 2 px cap on outliers (moving things)

    cands = np.arange(0.0, max_readout_s + step_s / 2, step_s)
    res = np.array([residual(r) for r in cands])
    i = int(np.argmin(res))
    r = float(cands[i])
    if 0 < i < len(cands) - 1:
        den = res[i - 1] - 2 * res[i] + res[i + 1]
        if den > 0:
            r += 0.5 * (res[i - 1] - res[i + 1]) / den * step_s
    return r, float(np.sqrt(residual(r)))
