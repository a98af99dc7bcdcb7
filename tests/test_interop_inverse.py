"""Inverse of every registered family (simulating a lens): correct(simulate(p)) = p within
0.001 px; chained projection warps; property tests (hypothesis) and NaN handling."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2tech.errors import InvalidProfileError
from l2tech.optics import adobe, dng, kannala_brandt, opencv  # noqa: F401  (registers the families)
from l2tech.optics.compose import GeometryRequest, chain, geometry_model
from l2tech.optics.kannala_brandt import correction_map_kannala_brandt
from l2tech.optics.opencv import (
    camera_matrix,
    distort_normalized_opencv,
    simulation_maps_from_warp,
    undistort_normalized_opencv,
)
from l2tech.optics.projection import change_projection_points, projection_warp
from l2tech.profiles.model import DistortionCalibration, LensCalibration, LensProfile, TCACalibration

TOL_ROUND_TRIP_PX = 0.001
W, H = 320, 240

_FAMILIES = {
    "opencv": (dict(fx=300.0, fy=301.0, cx=161.0, cy=118.5, k1=-0.2, k2=0.05, p1=1e-3, p2=-5e-4, k3=0.01), None),
    "kannala_brandt": (dict(fx=150.0, fy=150.0, cx=159.5, cy=119.5, k1=0.03, k2=-0.01, k3=0.002, k4=-0.0003), None),
    "adobe_rectilinear": (dict(FocalLengthX=0.9, FocalLengthY=0.9, ImageXCenter=0.5, ImageYCenter=0.5,
                               RadialDistortParam1=-0.15, RadialDistortParam2=0.04, TangentialDistortParam1=2e-4),
                          {"R_RadialDistortParam1": 2e-4, "R_ScaleFactor": 1.0005, "B_ScaleFactor": 0.9996}),
    "adobe_fisheye": (dict(FocalLengthX=0.45, FocalLengthY=0.45, ImageXCenter=0.5, ImageYCenter=0.5,
                           RadialDistortParam1=-0.02, RadialDistortParam2=0.004), None),
    "dng_warp_rectilinear": (dict(kr0=1.0, kr1=-0.08, kr2=0.01, kr3=0.0, kt0=1e-4, kt1=0.0, cx=0.5, cy=0.5),
                             {"r_kr0": 1.0004, "b_kr0": 0.9997, "r_kr1": -0.08, "b_kr1": -0.08, "cx": 0.5, "cy": 0.5}),
    "dng_warp_fisheye": (dict(kr0=1.0, kr1=-0.05, kr2=0.005, kr3=0.0, cx=0.5, cy=0.5), None),
}


def _warp(model, terms, tca_terms=None):
    prof = LensProfile("T", model, distortion=(DistortionCalibration(model, 10.0, terms),),
                       extra={"calib_width_px": W, "calib_height_px": H})
    tca = TCACalibration(model, 10.0, tca_terms) if tca_terms else None
    cal = LensCalibration(prof, 10.0, None, None, prof.distortion[0], tca, None)
    return geometry_model(model)(GeometryRequest(cal, W, H, 1.0, True, tca is not None))


@pytest.mark.parametrize("model", list(_FAMILIES))
def test_correct_simulate_round_trip_every_family(model):
    terms, tca = _FAMILIES[model]
    warp = _warp(model, terms, tca)
    sims = simulation_maps_from_warp(warp)
    assert len(sims) == (3 if tca else 1)
    for c, sim in enumerate(sims):
        sx, sy = warp.apply(sim[..., 0].astype(np.float64), sim[..., 1].astype(np.float64))
        if warp.per_channel:
            sx, sy = sx[..., c], sy[..., c]
        u, v = np.meshgrid(np.arange(W), np.arange(H))
        err = np.hypot(sx - u, sy - v)
        # float32 storage of the simulation map adds up to ~2e-5 px at these coordinates
        assert err.max() <= TOL_ROUND_TRIP_PX, f"{model} channel {c}: {err.max():.2e} px"


def test_simulation_refuses_folding_model_with_radius():
    warp = _warp("opencv", dict(fx=100.0, fy=100.0, cx=159.5, cy=119.5, k1=-0.5))
    with pytest.raises(InvalidProfileError, match=r"radius \d+\.\d px"):
        simulation_maps_from_warp(warp)


def test_projection_warp_chained_before_kannala_brandt():
    terms, _ = _FAMILIES["kannala_brandt"]
    lens = _warp("kannala_brandt", terms)
    K = camera_matrix(terms["fx"], terms["fy"], terms["cx"], terms["cy"])
    pw = projection_warp(W, H, terms["fx"], "rectilinear", "stereographic", center=(terms["cx"], terms["cy"]))
    w = chain(pw, lens)
    u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    sx, sy = w.apply(u, v)
    ref = correction_map_kannala_brandt(W, H, K, {k: terms[k] for k in ("k1", "k2", "k3", "k4")},
                                        output_projection="fisheye_stereographic")
    ok = np.isfinite(sx) & np.isfinite(sy)
    assert ok.all()  # stereographic at this focal stays within 90 deg here
    assert max(np.abs(sx - ref[..., 0]).max(), np.abs(sy - ref[..., 1]).max()) <= 0.01


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    k1=st.floats(-0.3, 0.3), k2=st.floats(-0.05, 0.05), p1=st.floats(-2e-3, 2e-3), p2=st.floats(-2e-3, 2e-3),
    x=st.floats(-0.5, 0.5), y=st.floats(-0.5, 0.5),
)
def test_opencv_round_trip_property(k1, k2, p1, p2, x, y):
    terms = dict(k1=k1, k2=k2, p1=p1, p2=p2)
    r = np.hypot(x, y)
    # within the monotonic range of the radial part (d/dr [r (1 + k1 r^2 + k2 r^4)] > 0)
    if 1 + 3 * k1 * r**2 + 5 * k2 * r**4 <= 0.2:
        return
    p = np.array([[x, y]])
    d = distort_normalized_opencv(p, terms)
    back = undistort_normalized_opencv(d, terms)
    assert np.abs(back - p).max() * 1000 <= TOL_ROUND_TRIP_PX  # at fx = 1000 px


@settings(max_examples=60, deadline=None, derandomize=True)
@given(
    src=st.sampled_from(["rectilinear", "fisheye", "fisheye_equisolid", "fisheye_stereographic", "equirectangular"]),
    dst=st.sampled_from(["rectilinear", "fisheye", "fisheye_orthographic", "fisheye_thoby", "panoramic"]),
    x=st.floats(-300, 300), y=st.floats(-300, 300),
)
def test_projection_round_trip_property(src, dst, x, y):
    p = np.array([[x, y]])
    q = change_projection_points(p, 400.0, src, dst)
    back = change_projection_points(q, 400.0, dst, src)
    if np.isfinite(back).all():
        assert np.abs(back - p).max() <= TOL_ROUND_TRIP_PX


def test_nan_and_dtypes():
    terms = dict(k1=-0.2, k2=0.05)
    pts = np.array([[0.1, 0.2], [np.nan, 0.0]], dtype=np.float32)
    d = distort_normalized_opencv(pts, terms)
    assert d.dtype == np.float64 and np.isnan(d[1]).all() and np.isfinite(d[0]).all()
    u = undistort_normalized_opencv(d, terms)
    assert np.isnan(u[1]).all() and np.abs(u[0] - pts[0]).max() < 1e-6
    # float32 and float64 inputs agree
    d64 = distort_normalized_opencv(pts.astype(np.float64), terms)
    assert np.array_equal(np.isnan(d), np.isnan(d64)) and np.nanmax(np.abs(d - d64)) == 0.0
