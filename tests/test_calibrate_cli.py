"""``l2 calibrate`` end to end, in-process: rendered charts → lensfun XML that lensfunpy loads."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _calib_synth import correction_map_ptlens
from l2tech.cli.main import main
from test_calibrate_synthetic import PA_TRUE, SYNTHETIC_PTLENS, H, W, make_flat, render_views

MAP_TOL_PX = 0.05


@pytest.fixture(scope="module")
def chart_files(tmp_path_factory):
    import cv2

    folder = tmp_path_factory.mktemp("charts")
    paths = []
    for i, img in enumerate(render_views(SYNTHETIC_PTLENS, seed=7)):
        p = folder / f"chart{i:02d}.png"
        cv2.imwrite(str(p), np.clip(img * 65535 + 0.5, 0, 65535).astype(np.uint16))
        paths.append(str(p))
    return paths


def test_cli_distortion_profile_loads_in_lensfunpy(chart_files, tmp_path, capsys):
    import lensfunpy

    xml = tmp_path / "lens.xml"
    report = tmp_path / "report"
    rc = main(["calibrate", "distortion", *chart_files, "--target", "checkerboard:9x6:30mm", "--focal-length", "20",
               "--lens", "Testmaker Synthetic 20mm", "--mount", "Generic", "--camera", "Testmaker Cam", "-o", str(xml),
               "--report", str(report), "--json", "-q"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    assert out["focal_lengths"][0]["views_used"] == 15
    db = lensfunpy.Database(paths=[str(xml)], load_common=False, load_bundled=False)
    cam = db.find_cameras("Testmaker", "Cam")[0]
    lens = db.find_lenses(cam, "Testmaker", "Synthetic 20mm")[0]
    cal = lens.interpolate_distortion(20.0)
    assert cal.model == lensfunpy.DistortionModel.PTLENS
    terms = dict(zip("abc", cal.terms[:3]))
    err = np.hypot(*(correction_map_ptlens(W, H, SYNTHETIC_PTLENS) - correction_map_ptlens(W, H, terms)).transpose(2, 0, 1))
    assert err.max() <= MAP_TOL_PX  # measured 0.048 px (terms read back by lensfunpy as float32)
    html = (report / "index.html").read_text()
    assert "lensfun ptlens" in html and "Reprojection RMS per view" in html
    for png in ("per_view_rms.png", "residual_vectors.png", "coverage.png", "distortion.png"):
        assert (report / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_no_board_is_clear_error(tmp_path, capsys):
    import cv2

    paths = []
    for i in range(3):
        p = tmp_path / f"blank{i}.png"
        cv2.imwrite(str(p), np.full((120, 160), 128, np.uint8))
        paths.append(str(p))
    rc = main(["calibrate", "distortion", *paths, "--target", "checkerboard:9x6:30mm", "--focal-length", "20", "-q"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "CalibrationError" in err and "0 usable views" in err and "3 needed" in err
    rc = main(["calibrate", "distortion", *paths, "--target", "checkerboard:9by6", "--focal-length", "20", "-q"])
    assert rc == 2


def test_cli_vignetting_writes_pa(tmp_path, capsys):
    import tifffile

    flat = tmp_path / "flat.tif"
    tifffile.imwrite(flat, np.clip(make_flat(PA_TRUE) * 65535 + 0.5, 0, 65535).astype(np.uint16))
    xml = tmp_path / "v.xml"
    rc = main(["calibrate", "vignetting", str(flat), "--focal-length", "20", "--f-number", "4", "--lens", "Testmaker Flat 20mm",
               "-o", str(xml), "--json", "-q"])
    assert rc == 0
    fits = json.loads(capsys.readouterr().out)["fits"]
    for k in ("k1", "k2", "k3"):
        assert abs(fits[0][k] - PA_TRUE[k]) <= 0.01
    from l2tech.profiles.lensfun_xml import parse_lensfun_xml

    lens = parse_lensfun_xml(xml).lenses[0]
    assert lens.vignetting[0].f_number == 4 and abs(lens.vignetting[0].terms["k1"] - PA_TRUE["k1"]) <= 0.01
    # an existing output is refused without --overwrite/--update
    rc = main(["calibrate", "vignetting", str(flat), "--focal-length", "20", "--f-number", "4", "-o", str(xml), "-q"])
    assert rc == 1
