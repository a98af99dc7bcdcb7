"""Stabilisation maths on a synthetic clip with a known camera path (issue 12).

A textured scene is rendered through a pinhole camera (f = 500 px, 640x480) turning along a
known path: ``frame_k(p) = scene(K0 C_k K⁻¹ p)`` (OpenCV ``warpPerspective``). The oracles are
the path itself (closed form) and scipy's rotations.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from l2tech.video.stabilize import (
    adaptive_zoom,
    correction_homographies,
    crop_zoom,
    frame_zooms,
    estimate_gyro_offset,
    flow_rotations,
    integrate_gyro,
    rates_between,
    smooth_orientations,
)

W, H, F = 640, 480, 500.0
K = np.array([[F, 0, W / 2], [0, F, H / 2], [0, 0, 1.0]])
FPS = 30.0


def _path(t):
    """Camera-to-world rotation vectors (rad) of a hand-held-like path: a slow pan plus jitter."""
    t = np.asarray(t, float)
    return np.stack([0.010 * np.sin(2 * np.pi * 1.3 * t) + 0.004 * np.sin(2 * np.pi * 7.1 * t),
                     0.05 * t + 0.012 * np.sin(2 * np.pi * 2.1 * t + 0.4),
                     0.006 * np.sin(2 * np.pi * 3.7 * t + 1.0)], axis=1)


def _scene(seed=0):
    rng = np.random.default_rng(seed)
    big = (rng.random((H * 2, W * 2)) * 255).astype(np.float32)
    big = cv2.GaussianBlur(big, (0, 0), 2.0)
    big = cv2.normalize(big, None, 0, 255, cv2.NORM_MINMAX)
    return big.astype(np.uint8)


def _render(scene, rotvecs):
    K0 = K.copy()
    K0[0, 2], K0[1, 2] = scene.shape[1] / 2, scene.shape[0] / 2
    out = []
    for rv in rotvecs:
        M = K0 @ Rotation.from_rotvec(rv).as_matrix() @ np.linalg.inv(K)
        out.append(cv2.warpPerspective(scene, M, (W, H), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP))
    return out


def test_integrate_gyro_equals_the_closed_form_path():
    t = np.arange(0, 2.0, 1 / 400)
    # constant rate about a fixed axis: C(t) = exp(ω t) exactly
    w = np.tile([0.3, -0.2, 0.1], (len(t), 1))
    C = integrate_gyro(t, w)
    want = Rotation.from_rotvec(np.outer(t, w[0]))
    assert np.max((C.inv() * want).magnitude()) < 1e-9
    # the mean rate between two times comes back
    np.testing.assert_allclose(rates_between(t, C, np.array([0.1, 0.7]), np.array([0.5, 1.9])), [w[0], w[0]], atol=1e-9)


def test_rotation_between_frames_from_optical_flow_within_0_05_degrees():
    t = np.arange(12) / FPS
    C = Rotation.from_rotvec(_path(t))
    frames = _render(_scene(), C.as_rotvec())
    rv, inliers = flow_rotations(frames, K)
    truth = (C[:-1].inv() * C[1:]).as_rotvec()
    err_deg = np.degrees(np.linalg.norm(rv - truth, axis=1))
    assert np.all(inliers > 100)
    assert err_deg.max() < 0.05, err_deg  # the acceptance line's 0.05°


def test_gyro_offset_found_from_the_frames():
    """Gyro log 37 ms ahead of the video: the offset comes back within 2 ms with high confidence."""
    ft = np.arange(45) / FPS
    C = Rotation.from_rotvec(_path(ft))
    rv, _ = flow_rotations(_render(_scene(1), C.as_rotvec()), K)
    offset = 0.037
    gt = np.arange(-0.6, 2.2, 1 / 400)
    # body rates of the path in the gyro's clock (gyro time = video time + offset), by differencing
    Cg = Rotation.from_rotvec(_path(gt - offset))
    w = (Cg[:-1].inv() * Cg[1:]).as_rotvec() * 400
    w = np.vstack([w, w[-1]])
    sync = estimate_gyro_offset(gt, w, ft, rv)
    assert sync.offset_s == pytest.approx(offset, abs=0.002) and sync.confidence > 0.95


def test_smoothing_removes_jitter_and_the_crop_hides_every_border():
    t = np.arange(90) / FPS
    C = Rotation.from_rotvec(_path(t))
    S = smooth_orientations(C, FPS, 0.5)
    # residual frame-to-frame rotation of what the viewer sees (S) against the shaky input (C)
    def jitter(R):
        d = (R[:-1].inv() * R[1:]).magnitude()
        return np.std(np.diff(d)) + np.mean(np.abs(np.diff(d)))
    assert jitter(S) < 0.2 * jitter(C)  # ≥ 80 % less
    z = crop_zoom(K, C, S, W, H)
    assert 1.0 < z < 1.3
    Hs = correction_homographies(K, C, S, zoom=z)
    corners = np.array([[0, 0, 1], [W - 1, 0, 1], [0, H - 1, 1], [W - 1, H - 1, 1.0]])
    p = np.einsum("fij,nj->fni", Hs, corners)
    xy = p[..., :2] / p[..., 2:3]
    assert xy[..., 0].min() >= -1e-6 and xy[..., 0].max() <= W - 1 + 1e-6
    assert xy[..., 1].min() >= -1e-6 and xy[..., 1].max() <= H - 1 + 1e-6
    # with no smoothing the correction is the identity
    np.testing.assert_allclose(correction_homographies(K, C, C), np.broadcast_to(np.eye(3), (90, 3, 3)), atol=1e-12)


def _corners_inside(Hs: np.ndarray) -> np.ndarray:
    """Per homography: do the output frame's edges land inside the source frame?"""
    xs, ys = np.linspace(0, W - 1, 16), np.linspace(0, H - 1, 16)
    edge = np.concatenate([np.stack([xs, np.zeros(16)], 1), np.stack([xs, np.full(16, H - 1.0)], 1),
                           np.stack([np.zeros(16), ys], 1), np.stack([np.full(16, W - 1.0), ys], 1)])
    p = np.einsum("fij,nj->fni", Hs, np.concatenate([edge, np.ones((64, 1))], 1))
    xy = p[..., :2] / p[..., 2:3]
    tol = 1e-6
    return np.all((xy[..., 0] >= -tol) & (xy[..., 0] <= W - 1 + tol) & (xy[..., 1] >= -tol) & (xy[..., 1] <= H - 1 + tol), axis=1)


def test_each_frames_zoom_is_its_own_smallest_border_free_crop():
    """frame_zooms: per frame, the bisection of crop_zoom on that frame alone (identical values);
    their maximum is the clip's fixed crop; each frame fits at its zoom and not 1e-3 below it."""
    t = np.arange(60) / FPS
    C = Rotation.from_rotvec(_path(t))
    S = smooth_orientations(C, FPS, 0.5)
    z = frame_zooms(K, C, S, W, H)
    assert z.shape == (60,) and z.max() == crop_zoom(K, C, S, W, H)
    for k in (0, 17, 42):
        assert z[k] == crop_zoom(K, C[k:k + 1], S[k:k + 1], W, H)
    Hz = np.stack([correction_homographies(K, C[k:k + 1], S[k:k + 1], zoom=z[k])[0] for k in range(60)])
    assert _corners_inside(Hz).all()
    tight = z > 1.0 + 1e-3
    Hless = np.stack([correction_homographies(K, C[k:k + 1], S[k:k + 1], zoom=z[k] - 1e-3)[0] for k in range(60)])
    assert not _corners_inside(Hless)[tight].any()


def test_adaptive_zoom_follows_the_need_smoothly_and_never_shows_a_border():
    """A calm clip with a 1 s burst of shake: the adaptive crop (2 s window; measured 1.0007 at the
    ends, 1.107 around the burst, 89 % of the frame kept on average against 82 %) is at least each
    frame's need (so no frame shows a border), equals the fixed crop only around the burst,
    keeps more of the frame on average, and changes by at most 0.6 % per frame; window 0 is
    the fixed crop; the crop limit holds."""
    t = np.arange(150) / FPS
    rv = np.zeros((150, 3))
    burst = (t > 2.0) & (t < 3.0)
    rv[burst, 0] = 0.03 * np.sin(2 * np.pi * 4 * t[burst])
    rv[burst, 2] = 0.02 * np.sin(2 * np.pi * 5 * t[burst])
    C = Rotation.from_rotvec(rv)
    S = smooth_orientations(C, FPS, 0.5)
    need = frame_zooms(K, C, S, W, H)
    z = adaptive_zoom(need, FPS, 2.0)
    assert np.all(z >= need) and z.max() == pytest.approx(need.max())
    Hz = np.stack([correction_homographies(K, C[k:k + 1], S[k:k + 1], zoom=z[k])[0] for k in range(150)])
    assert _corners_inside(Hz).all()
    assert z[:5].max() < 1.005 and z[-5:].max() < 1.005  # calm start and end: almost no crop (fixed: 1.107)
    assert np.mean(1 / z ** 2) > 1 / need.max() ** 2 + 0.05  # keeps more of the frame than the fixed crop
    assert np.abs(np.diff(z)).max() < 0.006
    assert np.all(adaptive_zoom(need, FPS, 0.0) == need.max())
    assert adaptive_zoom(need, FPS, 2.0, max_zoom=1.01).max() == pytest.approx(1.01)
    from l2tech.errors import UsageError

    # a window longer than the clip is the fixed crop (and costs no more: it was a 1e9 s kernel)
    np.testing.assert_allclose(adaptive_zoom(need, FPS, 1e5), need.max(), rtol=1e-12)
    for bad in (-1.0, float("nan"), float("inf"), 1e9):  # a recipe file (or --adaptive-zoom nan) can give these
        with pytest.raises(UsageError, match="window"):
            adaptive_zoom(need, FPS, bad)
