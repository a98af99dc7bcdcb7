"""A shot's own correction data converted or shown as a profile file (`l2 lens convert`,
`l2 lens show-file`) carries the shot's crop factor, focal length and frame.

Before: `l2 lens convert LX3.rw2 -o lx3.xml --width 3648 --height 2736` wrote ``cropfactor 1``
and ``focal 1``; lensfun, scaling by the LX3's crop 4.7, applied about a ninth of the
distortion (corner moved 11.9 px where l2tech's own correction moves it 211 px), and without
--width/--height it refused ("no calibration size"). `show-file` and `convert` refused the
ZV-E10 ARW ("TIFF file without DNGVersion tag") whose maker-note correction `lens match` uses;
the GPR's TCA was dropped without a word. lensfunpy (the DMC-LX3 4:3 body of its database) is
the oracle for the written XML.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import l2_json, shared_file

LX3 = "raw/metadata_only/panasonic_dmc-lx3__exiftool.rw2"
ZV_E10 = "raw/metadata_only/sony_zv-e10__e_pz_16-50__file-type.arw"
FUSION = "raw/codec_unsupported/gopro_fusion_front.gpr"


def test_lx3_rw2_to_lensfun_corrects_in_lensfun_as_in_l2tech(tmp_path, capsys):
    lensfunpy = pytest.importorskip("lensfunpy")
    from l2tech.correct.maps import correction_warp
    from l2tech.optics import compose
    from l2tech.profiles.interpolate import interpolate
    from l2tech.profiles.sources import read_profile

    out = tmp_path / "lx3.xml"
    rc, doc = l2_json(capsys, "lens", "convert", str(shared_file(LX3)), "-o", str(out))  # no --width/--height needed
    assert rc == 0 and doc["frame"] == [3648, 2736] and doc["residual_max_px"] < 0.5
    cam = next(c for c in lensfunpy.Database().find_cameras("Panasonic", "DMC-LX3") if c.variant == "4:3")
    lens = lensfunpy.Database(paths=[str(out)], load_common=False, load_bundled=False).lenses[0]
    assert lens.crop_factor == pytest.approx(cam.crop_factor, rel=1e-3)  # 4.7, was 1
    assert (lens.min_focal, lens.max_focal) == pytest.approx((5.1, 5.1))  # the shot's, was 1
    W, H = 3648, 2736
    mod = lensfunpy.Modifier(lens, cam.crop_factor, W, H)
    mod.initialize(5.1, 2.8, 1000.0, scale=1.0, flags=lensfunpy.ModifyFlags.DISTORTION)
    theirs = mod.apply_geometry_distortion()
    prof = read_profile(shared_file(LX3))
    ours = compose.render_maps(correction_warp(interpolate(prof, 5.1, None, None), W, H, crop_factor=4.7, tca=False),
                               1.0)[0]
    pts = [(0, 0), (0, W // 2), (H // 2, 0), (H - 1, W - 1), (H // 2, W // 2)]
    err = max(float(np.hypot(*(theirs[y, x] - ours[y, x]))) for y, x in pts)
    assert float(np.hypot(*ours[0, 0])) > 200  # the corner moves about 211 px
    assert err < 0.5, err  # the lensfun fit's residual (0.14 px max); was off by about 200 px at the corner


def test_embedded_profile_has_the_shots_crop_and_aspect(capsys):
    """`l2 lens match LX3.rw2 --profile-source embedded --json`: the lens block said crop 1 and
    aspect 1.5 for the LX3's 4:3 frame at crop 4.7 (the match's own crop)."""
    rc, doc = l2_json(capsys, "lens", "match", str(shared_file(LX3)), "--profile-source", "embedded")
    assert rc == 0 and doc["source"] == "embedded"
    assert doc["lens"]["crop_factor"] == pytest.approx(doc["crop_factor"]) == pytest.approx(4.7)
    assert doc["lens"]["aspect_ratio"] == pytest.approx(3648 / 2736)


def test_show_file_takes_the_sony_maker_note_correction(capsys):
    rc, doc = l2_json(capsys, "lens", "show-file", str(shared_file(ZV_E10)))
    assert rc == 0, doc
    rc_m, match = l2_json(capsys, "lens", "match", str(shared_file(ZV_E10)), "--profile-source", "embedded")
    assert rc_m == 0 and doc["name"] == match["lens"]["name"]
    assert doc["distortion"] and doc["tca"] and doc["vignetting"]


def test_convert_says_what_it_does_not_convert(tmp_path, capsys):
    src = shared_file(FUSION)
    rc, doc = l2_json(capsys, "lens", "convert", str(src), "-o", str(tmp_path / "f.xml"))
    assert rc == 0 and doc["not_converted"] == ["tca"]


def test_lens_match_on_a_file_with_no_lens_says_what_it_does(capsys):
    """`l2 lens match gopro_fusion_front.gpr` (no lens in EXIF, DNG lens opcodes): its warning
    said "lens correction skipped unless the lens is named with --lens …; the file's own
    correction data is used", and the database line repeated it. Now the warning says what is
    done and how to get a database profile; the database line that it was not searched."""
    rc, doc = l2_json(capsys, "lens", "match", str(shared_file(FUSION)))
    assert rc == 0 and doc["method"] == "embedded"
    assert doc["warnings"] == ["no lens information in the file's metadata: the file's own correction data is used "
                               "(embedded (DNG opcodes)); --lens \"Maker Model\" uses a database profile instead"]
    assert "database: not searched: the file names no lens" in doc["profile_choice"]
