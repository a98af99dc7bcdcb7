"""``l2 info`` and ``l2 lens search|show|match``, run in-process (exit codes, JSON, messages)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from conftest import shared_file
from l2tech.cli.main import cli, main

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:lensfunpy.*"),
]

D30 = "raw/decodable/canon_eos_d30__16-35mm.crw"
DNG_6D = "raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng"
KISS = "raw/decodable/canon_kiss_x4__colorchecker.dng"
NEF = "raw/metadata_only/nikon_d70__18-70mm__exiftool.nef"


def _run(args):
    r = CliRunner().invoke(cli, args, standalone_mode=False, catch_exceptions=False)
    return r, (r.return_value if r.return_value is not None else r.exit_code)


def test_info_json_values():
    r, rc = _run(["info", "--json", str(shared_file(NEF))])
    assert rc == 0
    d = json.loads(r.stdout)
    assert d["make"] == "NIKON CORPORATION" and d["model"] == "NIKON D70"
    assert d["lens_model"] == "Nikon AF-S DX Zoom-Nikkor 18-70mm f/3.5-4.5G IF-ED"
    assert d["focal_length_mm"] == 18.0 and d["f_number"] == 3.5
    assert d["focus_distance_m"] == pytest.approx(2.37137370566166, rel=1e-9)  # exiftool's value
    assert (d["width"], d["height"], d["orientation"]) == (3040, 2014, 1)


def test_info_shows_the_crop_factor_develop_plans_with():
    """EXIF of the Kiss X4 DNG holds no focal-plane size ("unknown" before); the lensfun camera
    record (crop 1.613, lensfun's ``<cropfactor>`` of the EOS Kiss X4) is what develop and correct
    plan with, so ``info`` shows it and says where it is from. The ZV-E10's EXIF focal-plane
    size (1.483) is named beside the database's 1.534, which wins (lens_plan)."""
    from l2tech.cli.common import console

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(console.get(), "width", 200)  # the process's console may be an 80-column one
        r, rc = _run(["info", str(shared_file(KISS))])
    assert rc == 0 and "1.613 (lensfun camera database: Canon EOS Kiss X4)" in r.output, r.output
    r, rc = _run(["info", "--json", str(shared_file(KISS))])
    d = json.loads(r.output)
    assert d["crop_factor"] is None and d["camera_db_crop_factor"] == pytest.approx(1.613)
    assert d["planned_crop_factor"] == pytest.approx(1.613)


def test_info_shows_a_crop_made_after_capture(monkeypatch):
    """The EOS 6D JPEG cropped in an editor (XMP crs:Crop*, 67 % x 100 %): ``correct`` plans at
    crop 1.28 (lens_plan.frame_in_capture); ``info`` shows the same, not the body's 1.005."""
    from l2tech.cli.common import console

    monkeypatch.setattr(console.get(), "width", 200)  # the process's console may be an 80-column one
    jpg = shared_file("raw/jpeg_reference/canon_6d__ef100mm_macro.jpg")
    r, rc = _run(["info", str(jpg)])
    assert rc == 0 and "1.284 (a crop made after capture, XMP crs:Crop*, of the Canon EOS 6D's 1.005)" in r.output, r.output
    r, rc = _run(["info", "--json", str(jpg)])
    assert json.loads(r.output)["planned_crop_factor"] == pytest.approx(1.284, abs=5e-4)


def test_lens_match_shows_the_crop_made_after_capture(monkeypatch):
    """``l2 lens match`` on the same cropped JPEG printed only the body's crop 1.005; it now
    says the frame is planned at 1.284, as ``info`` and ``correct`` do (JSON
    ``planned_crop_factor``; ``crop_factor`` stays the body's)."""
    from l2tech.cli.common import console

    monkeypatch.setattr(console.get(), "width", 200)
    jpg = shared_file("raw/jpeg_reference/canon_6d__ef100mm_macro.jpg")
    r, rc = _run(["lens", "match", str(jpg)])
    assert rc == 0 and "planned at crop 1.284: a crop made after capture" in r.output, r.output
    r, rc = _run(["lens", "match", "--json", str(jpg)])
    doc = json.loads(r.output)
    assert doc["planned_crop_factor"] == pytest.approx(1.284, abs=5e-4) and doc["crop_factor"] == pytest.approx(1.005)
    r, rc = _run(["lens", "match", "--json", str(shared_file(DNG_6D))])  # not cropped: the body's
    doc = json.loads(r.output)
    assert doc["planned_crop_factor"] == doc["crop_factor"]


def test_frame_crop_factor_is_the_body_unless_the_file_is_a_crop_mode():
    from l2tech.profiles.matching import find_camera, frame_crop_factor

    r6 = find_camera(None, "Canon", "Canon EOS R6")
    assert frame_crop_factor(r6, None) == (1.0, "")
    assert frame_crop_factor(r6, 1.03)[0] == 1.0  # within 4 %: the body's
    crop, note = frame_crop_factor(r6, 1.6)  # the R6's 1.6x crop mode
    assert crop == 1.6 and "crop mode" in note
    assert frame_crop_factor(None, 1.5) == (1.5, "")


def test_info_table_and_batch_with_a_bad_file(tmp_path):
    empty = tmp_path / "empty.NEF"
    empty.write_bytes(b"")
    r, rc = _run(["info", str(shared_file(DNG_6D)), str(empty)])
    assert rc == 1  # one input failed, the other was still shown
    assert "Canon EOS 6D" in r.stdout and "EF24-105mm f/4L IS USM" in r.stdout
    assert "empty.NEF: empty file" in r.stderr
    assert "Traceback" not in r.stderr


def test_info_via_main_exit_code(tmp_path, capsys):
    p = tmp_path / "note.ARW"
    p.write_text("text, not a RAW file\n")
    assert main(["info", str(p)]) == 1
    err = capsys.readouterr().err
    assert "unsupported or mismatched format" in err and "note.ARW" in err


def test_lens_match_6d_json():
    r, rc = _run(["lens", "match", "--json", str(shared_file(DNG_6D))])
    assert rc == 0
    d = json.loads(r.stdout)
    assert d["camera"]["model"] == "Canon EOS 6D"
    assert d["lens"]["name"] == "Canon EF 24-105mm f/4L IS USM"
    assert d["method"] == "alias" and d["lens"]["crop_factor"] == 1.0
    assert d["exif"]["lens_model"] == "EF24-105mm f/4L IS USM"


def test_lens_match_d30_lists_candidates():
    r, rc = _run(["lens", "match", str(shared_file(D30))])
    assert rc == 1
    assert "Canon EF 16-35mm f/2.8L USM" in r.stderr and "--lens" in r.stderr
    r, rc = _run(["lens", "match", "--json", str(shared_file(D30))])
    d = json.loads(r.stdout)
    assert d["error_type"] == "AmbiguousMatchError"
    assert "Canon EF 16-35mm f/2.8L USM" in {c["name"] for c in d["candidates"]}
    r, rc = _run(["lens", "match", "--lens", "Canon EF 16-35mm f/2.8L USM", "--json", str(shared_file(D30))])
    assert rc == 0 and json.loads(r.stdout)["method"] == "override"


def test_lens_match_kiss_x4_no_lens():
    r, rc = _run(["lens", "match", str(shared_file(KISS))])
    assert rc == 1
    assert "no lens information" in r.stderr and "lens correction skipped" in r.stderr


def test_lens_search_and_mount():
    r, rc = _run(["lens", "search", "--json", "24-105 f/4L", "--mount", "Canon EF"])
    assert rc == 0
    names = [x["name"] for x in json.loads(r.stdout)]
    assert "Canon EF 24-105mm f/4L IS USM" in names
    assert all("24-105" in n for n in names)
    r, rc = _run(["lens", "search", "sigma", "--mount", "No Such Mount"])
    assert rc == 2 and "unknown mount" in r.stderr
    r, rc = _run(["lens", "search", "zzzz qqqq"])
    assert rc == 1


def test_lens_show():
    r, rc = _run(["lens", "show", "--json", "canon ef 24-105mm f/4l is usm"])
    assert rc == 0
    d = json.loads(r.stdout)
    assert {x["crop_factor"] for x in d} == {1.0, 1.611}  # both calibrations of that name
    full = next(x for x in d if x["crop_factor"] == 1.0)
    # slr-canon.xml: <distortion model="ptlens" focal="24" a="0.017263" b="-0.049244" c="0"/>
    assert full["distortion"][0] == {"model": "ptlens", "focal_length_mm": 24.0, "a": 0.017263, "b": -0.049244, "c": 0.0}
    r, rc = _run(["lens", "show", "Canon EF 24-105mm f/4L IS USM"])
    assert rc == 0 and "ptlens @ 24 mm" in r.stdout
    r, rc = _run(["lens", "show", "Canon EF 24-106mm f/4L"])
    assert rc == 1 and "no lens is named exactly" in r.stderr


def test_lens_group_is_extensible():
    import click

    from l2tech.cli.lens import lens

    @click.command("example-extension")
    def example() -> int:
        click.echo("extended")
        return 0

    lens.add_command(example)
    try:
        r, rc = _run(["lens", "example-extension"])
        assert rc == 0 and "extended" in r.stdout
        assert {"convert", "show-file"} <= set(lens.commands)  # the profile-file commands are registered
    finally:
        lens.commands.pop("example-extension")


def test_lens_show_accepts_a_profile_file_and_match_shows_choice_order(capsys):
    """`l2 lens show FILE` for any profile file; `l2 lens match` prints the profile-source order."""
    import json as _json

    from conftest import shared_file
    from l2tech.cli.main import main as _main

    gp = shared_file("profiles/gyroflow/GoPro_HERO5_Black_Wide_NO-EIS_4by3.json")
    assert _main(["lens", "show", str(gp)]) == 0
    assert "kannala_brandt" in capsys.readouterr().out
    dng = shared_file("raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng")
    assert _main(["lens", "match", str(dng), "--json"]) == 0
    rec = _json.loads(capsys.readouterr().out)
    lines = rec["profile_choice"]
    assert lines[0].startswith("chosen: database")
    assert [ln.split(":")[0] for ln in lines[1:]] == ["user", "database", "embedded"]
    # the DNG's OpcodeList2 (exiftool: MapPolynomial x3) is named, not a lens profile
    assert lines[-1] == ("embedded: OpcodeList2 MapPolynomial x3 (part of decoding the RAW data); no lens-correction "
                         "opcodes (WarpRectilinear, WarpFisheye, FixVignetteRadial)")


def test_lens_match_on_a_clip_shows_the_calibration_to_frame_fit(capsys):
    """Video acceptance: how a 4000x3000 (4:3) calibration maps onto the 854x480 (16:9) proxy
    is shown by `l2 lens match`: the full width, a centred band 4000*480/854 = 2248.24 px high."""
    import json as _json

    from conftest import shared_file
    from l2tech.cli.main import main as _main

    clip = shared_file("video/gopro_hero5_karma_drone.mp4")
    prof = shared_file("profiles/gyroflow/GoPro_HERO5_Black_Wide_NO-EIS_4by3.json")
    assert _main(["lens", "match", str(clip), "--profile", str(prof), "--json"]) == 0
    rec = _json.loads(capsys.readouterr().out)
    assert rec["calib_size"] == [4000, 3000] and rec["frame_size"] == [854, 480]
    assert "w=4000 h=2248.24" in rec["frame_fit"] and "y=375.878" in rec["frame_fit"]
    # no profile given: the camera the clip's GPMF telemetry names, matched in lensfun as a photo's
    # EXIF body would be (actioncams.xml: "HERO5 Black" on mount goProHero4black, crop 5, whose one
    # lens is "GoPro HERO4 black"), with the video-mode caveat
    capsys.readouterr()
    assert _main(["lens", "match", str(clip), "--json"]) == 0
    rec = _json.loads(capsys.readouterr().out)
    assert rec["camera"]["model"] == "HERO5 Black" and rec["lens"]["name"] == "GoPro HERO4 black"
    assert rec["crop_factor"] == 5 and "telemetry" in rec["method"] and "--crop-factor" in rec["note"]
    # a clip with neither a profile nor a camera in telemetry: a clear error, exit 1
    assert _main(["lens", "match", str(shared_file("video/fisheye_cctv_1440_circular.mp4"))]) == 1
    assert "no camera in motion telemetry" in capsys.readouterr().err


def test_lens_search_with_an_unknown_word_still_lists_the_focal_range():
    """``"DT 18-200"``: no lens named DT 18-200 in the database; the 18-200 mm lenses are listed
    at half score (the focal range equal, none of the words) instead of "no lens matches", while
    ``"18-200"`` alone scores them 1.0 and a words-only query still needs a word."""
    from l2tech.profiles.matching import search_lenses

    got = search_lenses(None, "DT 18-200")
    assert got and all(c.score == pytest.approx(0.5) and "18-200mm" in c.profile.name for c in got)
    assert all(c.score == pytest.approx(1.0) for c in search_lenses(None, "18-200"))
    assert search_lenses(None, "zzqx") == []
