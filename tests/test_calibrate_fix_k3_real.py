"""``l2 calibrate distortion … --fix k3`` on real board shots (the Bouguet left views).

The command's printed K, Brown–Conrady coefficients and per-view RMS are checked against
``cv2.calibrateCamera(..., flags=cv2.CALIB_FIX_K3)`` run here on the same detected corners,
and the written lensfun XML is loaded by lensfunpy. Views: left01, 02, 03, 06, 07, 08 of
../shared/data/calib/bouguet_stereo (9x6 inner corners, 640x480; REFERENCE_RESULTS.md).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

from conftest import shared_file
from l2tech.calibrate import board_points, detect_target, parse_target, read_calibration_image

VIEWS = ("left01.jpg", "left02.jpg", "left03.jpg", "left06.jpg", "left07.jpg", "left08.jpg")
TARGET = "checkerboard:9x6:25mm"
SENSOR_WIDTH_MM = 4.8
# The text prints K to 2 decimals, coefficients to 6 significant digits and view RMS to 3
# decimals; the tolerances are that rounding (half a unit of the last digit) plus a little.
K_TOL_PX = 0.006
COEF_REL = 1e-5
VIEW_RMS_TOL_PX = 6e-4


def _opencv_fix_k3(paths):
    """``cv2.calibrateCamera`` with ``CALIB_FIX_K3`` on the corners l2tech detects: (rms, K, dist,
    per-view RMS as sqrt(mean |reprojection error|²)), and the unconstrained fit's dist."""
    import cv2

    target = parse_target(TARGET)
    dets = [detect_target(read_calibration_image(p), target, name=p.name) for p in paths]
    assert all(d.found for d in dets)
    obj = board_points(target).astype(np.float32)
    imgs = [d.corners.reshape(-1, 2).astype(np.float32) for d in dets]
    size = (640, 480)
    rms, K, dist, rvecs, tvecs = cv2.calibrateCamera([obj] * len(imgs), imgs, size, None, None, flags=cv2.CALIB_FIX_K3)
    per_view = []
    for img, rv, tv in zip(imgs, rvecs, tvecs):
        p, _ = cv2.projectPoints(obj, rv, tv, K, dist)
        per_view.append(float(np.sqrt(np.mean(np.sum((p.reshape(-1, 2) - img) ** 2, axis=1)))))
    free = cv2.calibrateCamera([obj] * len(imgs), imgs, size, None, None)[2].ravel()
    return float(rms), K, dist.ravel(), per_view, free


def test_fix_k3_on_bouguet_views_matches_opencv(tmp_path, capsys):
    from l2tech.cli.main import main

    paths = [shared_file(f"calib/bouguet_stereo/{v}") for v in VIEWS]
    xml = tmp_path / "lens.xml"
    capsys.readouterr()
    rc = main(["calibrate", "distortion", *map(str, paths), "--target", TARGET, "--sensor-width", str(SENSOR_WIDTH_MM),
               "--fix", "k3", "-o", str(xml)])
    out = capsys.readouterr().out
    assert rc == 0, out

    rms, K, dist, per_view, free = _opencv_fix_k3(paths)
    # measured (OpenCV 5.0.0): RMS 0.19785, fx 534.170 fy 534.551 cx 342.453 cy 235.826,
    # k1 -0.299910 k2 0.125823 p1 0.00129479 p2 0.000163918 k3 0;
    # without the fix k3 is free: k1 -0.2760, k2 -0.0285, k3 0.2878 (so --fix k3 changes the fit)
    assert dist[4] == 0.0 and abs(free[4]) > 0.05 and abs(free[1] - dist[1]) > 0.05

    # focal-length line: focal = fx * sensor width / image width, 6 views, the OpenCV RMS
    m = re.search(r"^([\d.]+) mm: (\d+) views, OpenCV pinhole RMS ([\d.]+) px", out, re.M)
    assert m, out
    assert float(m.group(1)) == pytest.approx(round(K[0, 0] * SENSOR_WIDTH_MM / 640, 3), abs=1e-9)
    assert int(m.group(2)) == len(VIEWS)
    assert float(m.group(3)) == pytest.approx(rms, abs=6e-5)

    # K line
    m = re.search(r"^  K: fx ([-\d.]+) fy ([-\d.]+) cx ([-\d.]+) cy ([-\d.]+) px$", out, re.M)
    assert m, out
    np.testing.assert_allclose([float(x) for x in m.groups()], [K[0, 0], K[1, 1], K[0, 2], K[1, 2]], atol=K_TOL_PX)

    # coefficients line: k1 k2 p1 p2 k3, k3 printed as 0
    m = re.search(r"^  distortion: k1 (\S+) k2 (\S+) p1 (\S+) p2 (\S+) k3 (\S+)$", out, re.M)
    assert m, out
    got = [float(x) for x in m.groups()]
    assert got[4] == 0.0
    np.testing.assert_allclose(got[:4], dist[:4], rtol=COEF_REL)

    # per-view RMS line: every view by name, with OpenCV's per-view reprojection RMS
    m = re.search(r"^  per-view RMS: (.*)$", out, re.M)
    assert m, out
    rows = dict((n, float(x)) for n, x in re.findall(r"(\S+\.jpg) ([\d.]+) px", m.group(1)))
    assert list(rows) == list(VIEWS)
    np.testing.assert_allclose([rows[v] for v in VIEWS], per_view, atol=VIEW_RMS_TOL_PX)
    assert f"wrote {xml}" in out

    # the profile lensfunpy loads: the ptlens point at the printed focal length, crop factor from
    # the sensor width (full-frame diagonal / the 4.8 x 3.6 mm area's diagonal)
    import lensfunpy

    focal = float(re.search(r"^([\d.]+) mm:", out, re.M).group(1))
    db = lensfunpy.Database(paths=[str(xml)], load_common=False, load_bundled=False)
    (lens,) = db.lenses
    assert lens.crop_factor == pytest.approx(math.hypot(36, 24) / math.hypot(4.8, 3.6), rel=1e-6)
    cal = lens.interpolate_distortion(focal)
    assert cal.model == lensfunpy.DistortionModel.PTLENS and cal.focal == pytest.approx(focal, abs=1e-3)
