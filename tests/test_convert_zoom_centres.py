"""``l2 lens convert ZOOM.json -o z.xml``: a Gyroflow zoom profile whose focal points have their
own principal points becomes lensfun XML that keeps each one.

The zoom profile is built from the shared Panasonic DC-S5 20-60mm profile (20 mm, 1920x1080,
Kannala–Brandt ``k1..k4`` fitted to a rectilinear lens): ``interpolations`` holds that 20 mm
point and a 60 mm point with ``fx, fy`` times 3, the principal point at (975, 530) px and
coefficients ``k1 0.6, k2 0.2`` (a pincushion of up to 25 px at the frame corner), and ``asymmetrical`` is true so Gyroflow (and l2tech) use the stored principal
points: (957.44, 550.94) px at 20 mm, (975, 530) px at 60 mm, 27.3 px apart.

Oracle: lensfunpy (lensfun 0.3.4) loads the written XML; for each focal its entry's ``<center>``
is the profile's principal point in lensfun's units, and its correction map (scale 1,
rectilinear) is within that focal point's fit residual + 0.01 px of OpenCV's own
``cv2.fisheye.initUndistortRectifyMap`` for that focal point's camera matrix and coefficients.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conftest import l2_json as _l2, shared_file

pytestmark = [
    # lensfunpy's Cython module can warn about deprecated NumPy aliases
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

S5 = "profiles/gyroflow/Panasonic_DC-S5_20-60mm_f3.5-5.6_20mm_1080p_16by9_1920x1080-50.00fps.json"
W, H = 1920, 1080
MODEL = "DC-S5 20-60mm f3.5-5.6"  # lensfun model: the profile's camera model and lens model
MAP_TOL_PX = 0.01  # lensfun computes in float32


D60 = [0.6, 0.2, 0.0, 0.0]


def _zoom(tmp_path, *, k60=None, name="zoom.json"):
    """The shared S5 20 mm profile made a 20-60 mm zoom; ``k60`` is the 60 mm camera matrix."""
    doc = json.loads(shared_file(S5).read_text(encoding="utf-8"))
    fp = doc["fisheye_params"]
    k20 = fp["camera_matrix"]
    if k60 is None:
        k60 = [[3 * k20[0][0], 0.0, 975.0], [0.0, 3 * k20[1][1], 530.0], [0.0, 0.0, 1.0]]
    doc["asymmetrical"] = True
    doc["interpolations"] = {"20": {"camera_matrix": k20, "distortion_coeffs": fp["distortion_coeffs"]},
                             "60": {"camera_matrix": k60, "distortion_coeffs": D60}}
    p = tmp_path / name
    p.write_text(json.dumps(doc), encoding="utf-8")
    return p, {20.0: (np.array(k20, float), np.array(fp["distortion_coeffs"], float)),
               60.0: (np.array(k60, float), np.array(D60, float))}




def _hugin(cx, cy):
    """A principal point (px) as lensfun's ``<center>``: Hugin units, 1 = half the short side,
    measured between pixel centres (lensfun 0.3.x)."""
    s = 2.0 / (min(W, H) - 1.0)
    return (cx - (W - 1) / 2.0) * s, (cy - (H - 1) / 2.0) * s


def _camera_xml(tmp_path):
    """A body on the Generic mount, crop 1, so lensfunpy's find_lenses can be asked."""
    p = tmp_path / "body.xml"
    p.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<lensdatabase version="1">\n<camera><maker>Panasonic</maker>'
                 "<model>DC-S5</model><mount>Generic</mount><cropfactor>1</cropfactor></camera>\n</lensdatabase>\n")
    return p


def test_zoom_with_distinct_centres_keeps_each_centre(tmp_path, capsys):
    import cv2
    import lensfunpy

    src, points = _zoom(tmp_path)
    xml = tmp_path / "z.xml"
    rc, rep = _l2(capsys, "lens", "convert", str(src), "-o", str(xml))
    assert rc == 0, rep
    assert rep["frame"] == [W, H] and rep["residual_max_px"] < 1.0  # measured 0.94 px (k3, k4 have no lensfun term)
    from l2tech.profiles.convert import to_lensfun_entries
    from l2tech.profiles.gyroflow import read_gyroflow

    per_focal = {f: emax for f, emax, _ in to_lensfun_entries(read_gyroflow(src))[1].per_focal}
    assert per_focal[20.0] == pytest.approx(rep["residual_max_px"])
    # the command says what it wrote: the two entries and the centres' spread
    k60 = points[60.0][0]
    k20 = points[20.0][0]
    assert rep["entries"] == [f"{MODEL} (20mm)", f"{MODEL} (60mm)"]
    assert rep["center_spread_px"] == pytest.approx(math.hypot(k60[0, 2] - k20[0, 2], k60[1, 2] - k20[1, 2]), abs=0.05)

    db = lensfunpy.Database(paths=[str(xml), str(_camera_xml(tmp_path))], load_common=False, load_bundled=False)
    lenses = {lens.model: lens for lens in db.lenses}
    assert sorted(lenses) == [f"{MODEL} (20mm)", f"{MODEL} (60mm)"]
    cam = db.find_cameras("Panasonic", "DC-S5")[0]
    # the zoom's own name finds both entries; each entry's name finds that entry
    assert sorted(x.model for x in db.find_lenses(cam, "Panasonic", MODEL)) == sorted(lenses)
    for focal, (K, D) in points.items():
        name = f"{MODEL} ({focal:g}mm)"
        assert [x.model for x in db.find_lenses(cam, "Panasonic", name)] == [name]
        lens = lenses[name]
        assert lens.type == lensfunpy.LensType.RECTILINEAR  # a rectilinear lens stays one
        assert (lens.min_focal, lens.max_focal) == (20.0, 60.0)
        assert (lens.center_x, lens.center_y) == pytest.approx(_hugin(K[0, 2], K[1, 2]), abs=1e-6)
        cal = lens.interpolate_distortion(focal)
        assert cal.focal == focal and cal.model == lensfunpy.DistortionModel.POLY5
        mod = lensfunpy.Modifier(lens, lens.crop_factor, W, H)
        mod.initialize(focal, 2.8, 1000.0, scale=1.0, targeom=lensfunpy.LensType.RECTILINEAR,
                       flags=lensfunpy.ModifyFlags.DISTORTION | lensfunpy.ModifyFlags.GEOMETRY)
        lf_map = mod.apply_geometry_distortion()
        mx, my = cv2.fisheye.initUndistortRectifyMap(K, D, np.eye(3), K, (W, H), cv2.CV_32FC1)
        err = float(np.abs(lf_map - np.stack([mx, my], -1)).max())
        residual = per_focal[focal]
        print(f"{focal:g} mm: lensfunpy(XML) vs cv2.fisheye(profile) {err:.4f} px; fit residual {residual:.4f} px")
        # measured: 0.948 px at 20 mm (residual 0.940), 0.018 px at 60 mm (residual 0.0095); before, one
        # <center> (the 20 mm one) for both focal lengths: 1.50 px at 60 mm
        assert err <= residual + MAP_TOL_PX


def test_zoom_with_agreeing_centres_stays_one_lens(tmp_path, capsys):
    """Principal points 0.3 px apart (under the 0.5 px tolerance): one entry, both focal points."""
    import lensfunpy

    k20 = json.loads(shared_file(S5).read_text(encoding="utf-8"))["fisheye_params"]["camera_matrix"]
    k60 = [[3 * k20[0][0], 0.0, k20[0][2] + 0.3], [0.0, 3 * k20[1][1], k20[1][2]], [0.0, 0.0, 1.0]]
    src, points = _zoom(tmp_path, k60=k60)
    xml = tmp_path / "z.xml"
    rc, rep = _l2(capsys, "lens", "convert", str(src), "-o", str(xml))
    assert rc == 0, rep
    db = lensfunpy.Database(paths=[str(xml)], load_common=False, load_bundled=False)
    (lens,) = db.lenses
    assert lens.model == MODEL and (lens.min_focal, lens.max_focal) == (20.0, 60.0)
    assert rep["entries"] == [MODEL] and rep["center_spread_px"] < 0.5
    assert lens.type == lensfunpy.LensType.RECTILINEAR
    K = points[20.0][0]
    assert (lens.center_x, lens.center_y) == pytest.approx(_hugin(K[0, 2], K[1, 2]), abs=1e-6)
    assert [lens.interpolate_distortion(f).focal for f in (20.0, 60.0)] == [20.0, 60.0]


def test_to_lensfun_refuses_a_zoom_one_lens_cannot_hold(tmp_path):
    """The one-lens API names the spread and points to the entries API."""
    from l2tech.errors import InvalidProfileError
    from l2tech.profiles.convert import to_lensfun, to_lensfun_entries
    from l2tech.profiles.gyroflow import read_gyroflow

    src, _ = _zoom(tmp_path)
    prof = read_gyroflow(src)
    with pytest.raises(InvalidProfileError, match=r"27\.3 px apart"):
        to_lensfun(prof)
    lenses, report = to_lensfun_entries(prof)
    assert [(x.model, x.center_x, [d.focal_length_mm for d in x.distortion]) for x in lenses] == [
        (f"{MODEL} (20mm)", pytest.approx(_hugin(957.4367004721428, 550.9354717445825)[0]), [20.0]),
        (f"{MODEL} (60mm)", pytest.approx(_hugin(975.0, 530.0)[0]), [60.0])]
    assert [p[0] for p in report.per_focal] == [20.0, 60.0]
