"""The lens page's distortion curve of an Adobe LCP (rectilinear) profile, against OpenCV.

Oracle: the Adobe rectilinear model is OpenCV's pinhole model with ``fx = FocalLengthX ·
max(W, H)`` and ``(k1, k2, p1, p2, k3) = (RadialDistortParam1, 2, 0, 0, 3)``
(``optics.adobe.adobe_to_opencv_terms``); ``cv2.projectPoints`` distorts points on the x axis
and the percentage is ``100 (r_d / r_u − 1)``. Tolerance 1e-9 %.
"""

from __future__ import annotations

import cv2
import numpy as np

from l2tech.profiles.curves import adobe_distortion_curve, lens_curves
from l2tech.profiles.lcp import parse_lcp

from test_interop_lcp import _entry, _lcp

TERMS = {"FocalLengthX": 0.71, "RadialDistortParam1": -0.12, "RadialDistortParam2": 0.031, "RadialDistortParam3": -0.004}


def test_adobe_curve_equals_opencv_pinhole():
    W, H = 6000, 4000
    aspect = W / H
    r_h = np.linspace(0.0, np.sqrt(1 + aspect**2), 33)  # Hugin units: 1 = half the short side
    c = adobe_distortion_curve(TERMS, r_h, aspect)
    fx = TERMS["FocalLengthX"] * max(W, H)
    K = np.array([[fx, 0, W / 2], [0, fx, H / 2], [0, 0, 1.0]])
    dist = np.array([TERMS["RadialDistortParam1"], TERMS["RadialDistortParam2"], 0, 0, TERMS["RadialDistortParam3"]])
    r_px = r_h * min(W, H) / 2
    obj = np.stack([r_px / fx, np.zeros_like(r_px), np.ones_like(r_px)], axis=1)
    img, _ = cv2.projectPoints(obj, np.zeros(3), np.zeros(3), K, dist)
    r_d_px = img[:, 0, 0] - W / 2
    want = np.zeros_like(r_px)
    want[1:] = 100 * (r_d_px[1:] / r_px[1:] - 1)
    np.testing.assert_allclose(c["percent"], want, rtol=0, atol=1e-9)
    assert c["percent"][0] == 0.0 and c["center_magnification"] == 1.0
    np.testing.assert_allclose(np.array(c["r_d"]) * min(W, H) / 2, r_d_px, rtol=1e-12, atol=1e-6)


def test_lens_page_draws_lcp_distortion():
    prof = parse_lcp(_lcp(_entry(24, 10, 5, 0.9, -0.08, 0.02), _entry(105, 10, 5, 3.9, 0.01, 0.0)), "x.lcp")
    curves = lens_curves(prof)
    d = {e["focal_length_mm"]: e for e in curves["distortion"]}
    assert set(d) == {24.0, 105.0} and all(e["model"] == "adobe_rectilinear" for e in d.values())
    assert d[24.0]["percent"][0] == 0.0 and min(d[24.0]["percent"]) < 0  # barrel at 24 mm
    assert not any("distortion" in n for n in curves["notes"])
