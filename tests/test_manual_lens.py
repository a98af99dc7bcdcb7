"""Correction without a profile: manual distortion (``--distortion k1``) and lateral CA estimated
from the image (``--auto-tca``), through the develop pipeline."""

from __future__ import annotations

import numpy as np
import pytest

from l2tech.errors import UsageError

from conftest import shared_file

D30 = "raw/decodable/canon_eos_d30__16-35mm.crw"


def test_manual_k1_is_lensfun_poly3():
    """The manual profile's inverse map at scale 1 is lensfun's poly3 distortion,
    r_d = r_u (1 - k1 + k1 r_u²) in lensfun's normalised coordinates (lensfun
    libs/lensfun/mod-coord.cpp, ModifyCoord_Dist_Poly3), computed here by hand: within 1e-3 px."""
    from l2tech.correct.maps import correction_maps, lensfun_normalization
    from l2tech.pipeline import Recipe
    from l2tech.pipeline.lens_plan import manual_profile
    from l2tech.profiles.interpolate import interpolate

    class Meta:
        focal_length_mm, crop_factor = 24.0, 1.5

    k1, W, H = -0.03, 600, 400
    prof = manual_profile(Meta(), Recipe(distortion_k1=k1))
    cal = interpolate(prof, 24.0, None, None)
    maps = correction_maps(cal, W, H, crop_factor=1.5, tca=False, scale=1.0)
    m = maps.maps[0]
    # lensfun's pixel <-> normalised coordinates (checked against lensfunpy in test_lensfun_oracle.py)
    norm = lensfun_normalization(cal, W, H, crop_factor=1.5)
    cxn, cyn = norm.center_normalized
    for x, y in [(0, 0), (599, 399), (450, 120), (300, 200)]:
        xn, yn = x * norm.norm_scale - cxn, y * norm.norm_scale - cyn
        f = 1 - k1 + k1 * (xn * xn + yn * yn)
        want = ((xn * f + cxn) / norm.norm_scale, (yn * f + cyn) / norm.norm_scale)
        assert np.allclose(m[y, x], want, atol=1e-3), (x, y, m[y, x], want)
    with pytest.raises(UsageError, match="k1"):
        Recipe(distortion_k1=2.0)


def test_develop_with_manual_distortion_and_estimated_tca():
    """The D30 file names no lens the database knows: `--distortion` applies (and only
    distortion), `--auto-tca` applies the estimate; the fused and staged develops agree within
    2 codes (as for profiles) and the output differs from the uncorrected develop."""
    import l2tech.pipeline.stills as stills
    from l2tech.pipeline import Recipe

    path = shared_file(D30)
    plain = stills.develop(path, Recipe()).image
    res = stills.develop(path, Recipe(distortion_k1=-0.02))
    assert res.plan.applied == {"vignetting": False, "tca": False, "distortion": True}
    assert np.abs(res.image - plain).max() > 0.1
    tca = stills.develop(path, Recipe(auto_tca=True))
    assert tca.plan.applied["tca"] and "estimated from the image" in tca.plan.reasons["tca"]
    kr = tca.plan.profile.tca[0].terms["kr"]
    assert abs(kr - 1) < 3e-3


def test_manual_distortion_without_a_focal_length_reports_none_and_the_right_reasons(tmp_path, capsys):
    """From a fresh-clone review: ``--distortion`` alone showed ``· 1 mm`` (a placeholder that
    only picks the one calibration) and blamed a missing f-number for vignetting the manual
    profile never has."""
    import json

    from l2tech.cli.main import main
    from l2tech.io.image import write_image

    img = tmp_path / "in.png"
    write_image(img, np.full((24, 32, 3), 0.5, np.float32), bits=8)
    assert main(["correct", str(img), "--distortion", "-0.05", "-o", str(tmp_path / "a") + "/"]) == 0
    out = capsys.readouterr().out
    assert "· 1 mm" not in out and "vignetting not corrected: the profile has no vignetting data" in out, out
    assert main(["correct", str(img), "--distortion", "-0.05", "-o", str(tmp_path / "b") + "/", "--json"]) == 0
    lens = json.loads(capsys.readouterr().out)["results"][0]["lens"]
    assert lens["focal_length_mm"] is None and lens["corrections"]["distortion"]["applied"]
    assert main(["correct", str(img), "--distortion", "-0.05", "--focal-length", "35", "-o", str(tmp_path / "c") + "/",
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["lens"]["focal_length_mm"] == 35.0
