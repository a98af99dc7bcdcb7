"""Oracle tests of the pixel-based lens model families and projection changes.

Oracles: OpenCV (``cv2.initUndistortRectifyMap``, ``cv2.undistortPoints``, ``cv2.projectPoints``,
``cv2.fisheye.*``) and lensfunpy's ``Modifier`` with a target geometry. Tolerances are stated
beside each assertion.
"""

from __future__ import annotations

import cv2
import lensfunpy
import numpy as np
import pytest

from l2tech.errors import InvalidProfileError, UsageError
from l2tech.optics.compose import render_maps
from l2tech.optics.kannala_brandt import (
    correction_map_kannala_brandt,
    distort_normalized_kannala_brandt,
    simulation_map_kannala_brandt,
    undistort_normalized_kannala_brandt,
)
from l2tech.optics.opencv import (
    camera_matrix,
    correction_map_opencv,
    distort_normalized_opencv,
    opencv_dist_coeffs,
    simulation_map_opencv,
    undistort_normalized_opencv,
)
from l2tech.optics.projection import (
    PROJECTIONS,
    change_projection_points,
    points_to_rays,
    projection_warp,
    validate_projection,
)

pytestmark = [
    # lensfunpy warns from its Cython module about deprecated NumPy aliases on some builds.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

TOL_MAP_PX = 0.01  # issue acceptance: oracle maps within 0.01 px
TOL_ROUND_TRIP_PX = 0.001  # issue acceptance: correct(simulate(p)) = p within 0.001 px

W, H = 640, 480
K_PIN = camera_matrix(500.0, 505.0, 322.3, 238.7)
# rational + tangential + thin prism (CALIB_RATIONAL_MODEL | CALIB_THIN_PRISM_MODEL)
T_FULL = dict(k1=-0.28, k2=0.09, k3=-0.01, k4=0.05, k5=0.01, k6=0.002,
              p1=1e-3, p2=-5e-4, s1=1e-3, s2=-2e-4, s3=5e-4, s4=1e-4)
# VINS-Mono realsense fisheye calibration (KANNALA_BRANDT, 640x480): k2..k5 -> OpenCV k1..k4
K_KB = camera_matrix(277.23712054408202, 276.99784668734617, 336.25356873985868, 236.03924727453901)
T_KB = dict(k1=1.7280355035195181e-02, k2=-2.5505200860040985e-02, k3=2.2621441637715487e-02,
            k4=-7.3355871719731113e-03)


def _pixels(w=W, h=H):
    return np.stack(np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)), -1)


# --- OpenCV pinhole ---------------------------------------------------------------------------


@pytest.mark.parametrize("terms", [dict(k1=-0.2, k2=0.05, p1=1e-3, p2=2e-4, k3=0.0), T_FULL])
def test_opencv_correction_map_matches_initUndistortRectifyMap(terms):
    D = opencv_dist_coeffs(terms)
    newK = camera_matrix(450.0, 450.0, 319.5, 239.5)
    for nk in (None, newK):
        m1, m2 = cv2.initUndistortRectifyMap(K_PIN, D, None, K_PIN if nk is None else nk, (W, H), cv2.CV_32FC1)
        ours = correction_map_opencv(W, H, K_PIN, terms, nk)
        assert ours.dtype == np.float32 and ours.shape == (H, W, 2)
        assert np.abs(ours[..., 0] - m1).max() <= TOL_MAP_PX
        assert np.abs(ours[..., 1] - m2).max() <= TOL_MAP_PX


def test_opencv_simulation_map_matches_undistortPoints_and_projectPoints():
    D = opencv_dist_coeffs(T_FULL)
    sim = simulation_map_opencv(W, H, K_PIN, T_FULL)
    pts = _pixels().reshape(-1, 1, 2)
    crit = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 200, 1e-15)
    ref = cv2.undistortPoints(pts, K_PIN, D, R=None, P=K_PIN, criteria=crit).reshape(H, W, 2)
    assert np.abs(sim - ref).max() <= TOL_MAP_PX  # measured 3.1e-5 px (float32 map rounding)
    # forward oracle: projecting the ideal points with OpenCV gives back the pixel grid
    s = sim.reshape(-1, 2).astype(np.float64)
    obj = np.concatenate([(s - K_PIN[[0, 1], [2, 2]]) / K_PIN[[0, 1], [0, 1]], np.ones((len(s), 1))], 1)
    proj, _ = cv2.projectPoints(obj, np.zeros(3), np.zeros(3), K_PIN, D)
    assert np.abs(proj.reshape(H, W, 2) - _pixels()).max() <= TOL_MAP_PX


def test_opencv_round_trip_points():
    rng = np.random.default_rng(1)
    xy_d = rng.uniform(-0.6, 0.6, size=(2000, 2))
    xy = undistort_normalized_opencv(xy_d, T_FULL)
    back = distort_normalized_opencv(xy, T_FULL)
    # in pixels (fx = 500)
    assert np.abs(back - xy_d).max() * 500 <= TOL_ROUND_TRIP_PX
    # batch shape preserved
    assert undistort_normalized_opencv(xy_d.reshape(20, 100, 2), T_FULL).shape == (20, 100, 2)


def test_opencv_folding_profile_refused_with_radius():
    # r_d = r (1 - 0.5 r^2) turns back at r = sqrt(2/3) = 0.8165 -> 408 px at fx = 500
    with pytest.raises(InvalidProfileError, match=r"radius 40[0-9]\.\d px"):
        correction_map_opencv(W * 2, H * 2, camera_matrix(500, 500, 639.5, 479.5), {"k1": -0.5})
    with pytest.raises(InvalidProfileError, match="not invertible"):
        simulation_map_opencv(W * 2, H * 2, camera_matrix(500, 500, 639.5, 479.5), {"k1": -0.5})


def test_opencv_unknown_term_is_usage_error():
    with pytest.raises(UsageError, match="k7"):
        distort_normalized_opencv(np.zeros((1, 2)), {"k7": 1.0})


# --- Kannala-Brandt ---------------------------------------------------------------------------


@pytest.mark.parametrize("f_new", [277.2, 60.0, 8.0])  # max ray angle 55, 81, 89 degrees
def test_kb_correction_map_matches_cv2_fisheye(f_new):
    D = np.array([T_KB[k] for k in ("k1", "k2", "k3", "k4")])
    P = camera_matrix(f_new, f_new, 319.5, 239.5)
    m1, m2 = cv2.fisheye.initUndistortRectifyMap(K_KB, D, np.eye(3), P, (W, H), cv2.CV_32FC1)
    ours = correction_map_kannala_brandt(W, H, K_KB, T_KB, P)
    assert np.abs(ours[..., 0] - m1).max() <= TOL_MAP_PX
    assert np.abs(ours[..., 1] - m2).max() <= TOL_MAP_PX


def test_kb_simulation_map_matches_cv2_fisheye_undistortPoints():
    D = np.array([T_KB[k] for k in ("k1", "k2", "k3", "k4")])
    sim = simulation_map_kannala_brandt(W, H, K_KB, T_KB)
    pts = _pixels().reshape(-1, 1, 2)
    ref = cv2.fisheye.undistortPoints(pts, K_KB, D, R=np.eye(3), P=K_KB, criteria=(3, 100, 1e-12)).reshape(H, W, 2)
    ok = np.isfinite(sim).all(-1)
    assert ok.all()  # this lens covers < 90 deg over the frame (89.1 deg in the corner)
    # the corners map to ~1.4e4 px where float32 spacing is 1e-3 px: compare relative there
    err = np.abs(sim - ref).max(-1) / np.maximum(1.0, np.abs(ref).max(-1) / 1000.0)
    assert err.max() <= TOL_MAP_PX


def test_kb_round_trip_and_near_180_degrees():
    # equidistant-like lens covering 190 degrees: simulate with an equirectangular source
    terms = dict(k1=-0.01, k2=0.001)
    rng = np.random.default_rng(2)
    xy_d = rng.uniform(-1.2, 1.2, size=(5000, 2))  # up to ~ 1.7 rad off axis
    xy = undistort_normalized_kannala_brandt(xy_d, terms)
    ok = np.isfinite(xy).all(-1)
    back = distort_normalized_kannala_brandt(xy[ok], terms)
    assert np.abs(back - xy_d[ok]).max() * 1000 <= TOL_ROUND_TRIP_PX  # fx = 1000 px
    # full sphere round trip through the maps: fisheye frame <- equirect image -> fisheye frame
    K = camera_matrix(200.0, 200.0, 319.5, 319.5)
    sim = simulation_map_kannala_brandt(640, 640, K, terms, source_projection="equirectangular")
    # the correction map is a grid function; evaluate the same model at the simulated points
    from l2tech.optics.kannala_brandt import theta_distorted
    from l2tech.optics.projection import points_to_rays

    pts = (sim.astype(np.float64) - 319.5) / 200.0
    rays = points_to_rays(pts, 1.0, "equirectangular")
    s = np.hypot(rays[..., 0], rays[..., 1])
    th = np.arctan2(s, rays[..., 2])
    assert np.degrees(np.nanmax(th)) > 120  # well beyond a hemisphere in the corners
    td = theta_distorted(th, terms)
    back = np.stack([rays[..., 0] / s * td, rays[..., 1] / s * td], -1) * 200.0 + 319.5
    fin = np.isfinite(back).all(-1) & (s > 1e-9)
    assert np.abs(back[fin] - _pixels(640, 640)[fin]).max() <= 0.01  # float32 sim map storage


def test_kb_fold_refused_with_angle():
    terms = dict(k1=-0.3)  # theta (1 - 0.3 theta^2) turns back at theta = 1.054 rad = 60.4 deg
    with pytest.raises(InvalidProfileError, match=r"folds at ray angle 60\.\d+ deg"):
        correction_map_kannala_brandt(W, H, camera_matrix(100, 100, 319.5, 239.5), terms)
    with pytest.raises(InvalidProfileError, match="folds"):
        simulation_map_kannala_brandt(W, H, camera_matrix(200, 200, 319.5, 239.5), terms)


# --- projections vs lensfunpy -------------------------------------------------------------------

_LF_TYPE = {
    "rectilinear": ("rectilinear", "RECTILINEAR"),
    "fisheye": ("fisheye", "FISHEYE"),
    "fisheye_equisolid": ("equisolid", "FISHEYE_EQUISOLID"),
    "fisheye_orthographic": ("orthographic", "FISHEYE_ORTHOGRAPHIC"),
    "fisheye_stereographic": ("stereographic", "FISHEYE_STEREOGRAPHIC"),
    "fisheye_thoby": ("fisheye_thoby", "FISHEYE_THOBY"),
    "equirectangular": ("equirectangular", "EQUIRECTANGULAR"),
    "panoramic": ("panoramic", "PANORAMIC"),
}


def _lensfun_geometry_map(lens_type: str, target: str, w: int, h: int, focal_mm: float) -> np.ndarray:
    xml = f"""<lensdatabase version="1"><mount><name>TestMount</name></mount>
<lens><maker>Test</maker><model>Lens</model><mount>TestMount</mount><cropfactor>1.0</cropfactor>
<type>{_LF_TYPE[lens_type][0]}</type><focal value="{focal_mm}"/>
<calibration><distortion model="poly3" focal="{focal_mm}" k1="0"/></calibration></lens></lensdatabase>"""
    db = lensfunpy.Database(xml=xml, load_common=False, load_bundled=False)
    mod = lensfunpy.Modifier(db.lenses[0], 1.0, w, h)
    mod.initialize(focal_mm, 2.8, 1000.0, scale=1.0, targeom=getattr(lensfunpy.LensType, _LF_TYPE[target][1]),
                   flags=lensfunpy.ModifyFlags.GEOMETRY)
    return mod.apply_geometry_distortion()


_PAIRS = [(a, b) for a in PROJECTIONS for b in PROJECTIONS if a != b]


@pytest.mark.parametrize("src,dst", _PAIRS)
def test_projection_change_matches_lensfunpy(src, dst):
    w, h, focal_mm = 300, 200, 10.0
    ref = _lensfun_geometry_map(src, dst, w, h, focal_mm)
    # lensfun 0.3.x: focal in pixels = focal_mm / (sensor half-diagonal 21.633 mm / crop)
    #                                   * half-diagonal in pixels hypot(W-1, H-1) / 2
    f_px = focal_mm * np.hypot(w - 1, h - 1) / 2 / (np.hypot(36, 24) / 2)
    ours = render_maps(projection_warp(w, h, f_px, src, dst), 1.0)[0]
    # compare where the source lands within one frame of the image (pixels that matter) and the
    # output ray is away from the target's singular edge (lensfun works in float32 there: its
    # error grows without bound at the rim of the equisolid / orthographic / Thoby image circle)
    xy = np.stack(np.meshgrid(np.arange(w) - (w - 1) / 2, np.arange(h) - (h - 1) / 2), -1)
    rays = points_to_rays(xy, f_px, dst)
    theta = np.degrees(np.arctan2(np.hypot(rays[..., 0], rays[..., 1]), rays[..., 2]))
    limit = {"fisheye_orthographic": 75.0, "fisheye_thoby": 110.0}.get(dst, 160.0)
    ok = (np.isfinite(ours).all(-1) & (np.abs(ref[..., 0] - w / 2) < 1.5 * w)
          & (np.abs(ref[..., 1] - h / 2) < 1.5 * h) & (theta <= limit))
    assert ok.sum() > 0.25 * w * h
    assert np.abs(ours - ref)[ok].max() <= TOL_MAP_PX


@pytest.mark.parametrize("src,dst", _PAIRS)
def test_projection_round_trip(src, dst):
    rng = np.random.default_rng(3)
    f = 500.0
    p = rng.uniform(-400, 400, size=(4000, 2))
    q = change_projection_points(p, f, src, dst)  # dst point -> src point
    back = change_projection_points(q, f, dst, src)
    ok = np.isfinite(back).all(-1)
    assert ok.mean() > 0.3
    assert np.abs(back[ok] - p[ok]).max() <= TOL_ROUND_TRIP_PX


def test_projection_names():
    assert validate_projection("Equisolid") == "fisheye_equisolid"
    with pytest.raises(UsageError, match="valid: rectilinear"):
        validate_projection("mercator")
