"""`l2 lens match` and `l2 correct` take one decision on a profile's calibration frame.

A pixel-calibrated profile (Gyroflow, OpenCV) holds for its calibration frame and frames of the
same aspect ratio. The DC-S5 Gyroflow profile (1920x1080, 16:9) on the E-P3 JPEG (4032x3024,
4:3): `l2 lens match --profile` accepted it (exit 0) while `l2 correct --profile --force`
refused it, and `l2 correct` without --force wrote the file (distortion was skipped by the
body rule, so the warp that checks the frame was never built). Now both refuse it with the same
InvalidProfileError before any work; a 4:3 profile on the same file is accepted by both.
"""

from __future__ import annotations

import pytest

from conftest import l2_json, shared_file

EP3 = "raw/jpeg_reference/olympus_e-p3__mzuiko_14-42_II_R_15mm.jpg"
S5 = "profiles/gyroflow/Panasonic_DC-S5_20-60mm_f3.5-5.6_20mm_1080p_16by9_1920x1080-50.00fps.json"
HERO5 = "profiles/gyroflow/GoPro_HERO5_Black_Wide_NO-EIS_4by3.json"


@pytest.mark.parametrize("force", [(), ("--force",)], ids=["default", "force"])
def test_a_profile_of_another_aspect_is_refused_by_both(tmp_path, capsys, force):
    src, prof = str(shared_file(EP3)), str(shared_file(S5))
    rc_m, match = l2_json(capsys, "lens", "match", src, "--profile", prof)
    out = tmp_path / "x.jpg"
    rc_c, corr = l2_json(capsys, "correct", src, "--profile", prof, "-o", str(out), *force)
    assert rc_m == rc_c == 1
    assert match["error_type"] == "InvalidProfileError"
    assert "profile calibrated at 1920x1080 does not fit a 4032x3024 frame" in match["error"]
    failed = corr["results"][0]
    assert failed["status"] == "failed" and failed["error"] == match["error"]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_a_profile_of_the_same_aspect_is_accepted_by_both(tmp_path, capsys):
    src, prof = str(shared_file(EP3)), str(shared_file(HERO5))
    rc_m, match = l2_json(capsys, "lens", "match", src, "--profile", prof)
    assert rc_m == 0 and match["source"] == "file"
    rc_c, corr = l2_json(capsys, "correct", src, "--profile", prof, "-o", str(tmp_path / "x.jpg"), "--force")
    assert rc_c == 0 and corr["results"][0]["lens"]["corrections"]["distortion"]["applied"] is True
    # a Gyroflow profile has no vignetting model at all (it said "no vignetting data near these settings")
    assert corr["results"][0]["lens"]["corrections"]["vignetting"]["reason"] == "the profile has no vignetting data"
