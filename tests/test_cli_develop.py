"""``l2 develop`` / ``l2 correct`` end to end, in-process, on the real sample files."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from l2tech.cli.main import main

from conftest import shared_file

SIXD = "raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng"
D30 = "raw/decodable/canon_eos_d30__16-35mm.crw"
KISS = "raw/decodable/canon_kiss_x4__colorchecker.dng"
OLY = "raw/jpeg_reference/olympus_e-p3__mzuiko_14-42_II_R_15mm.jpg"


def _run(capsys, args):
    rc = main(args)
    out = capsys.readouterr().out
    return rc, out


def _exif(path, key):
    import exiv2

    im = exiv2.ImageFactory.open(str(path))
    im.readMetadata()
    ed = im.exifData()
    it = ed.findKey(exiv2.ExifKey(key))
    return None if it == ed.end() else it.toString()


def _read_linear(path):
    from l2tech.io.image import read_image
    from l2tech.color.display import decode_display

    return decode_display(read_image(path).pixels, "sRGB")


def test_develop_6d_finds_camera_and_lens_and_corrects(tmp_path, capsys):
    src = shared_file(SIXD)
    rc, out = _run(capsys, ["develop", str(src), "-o", str(tmp_path) + os.sep, "--json"])
    assert rc == 0, out
    doc = json.loads(out)
    r = doc["results"][0]
    assert r["status"] == "ok"
    lens = r["lens"]
    assert lens["camera"] == "Canon EOS 6D"
    assert lens["lens"] == "Canon EF 24-105mm f/4L IS USM"
    assert lens["focal_length_mm"] == 65 and lens["f_number"] == pytest.approx(5.6)
    assert all(c["applied"] for c in lens["corrections"].values()), lens["corrections"]
    jpg = tmp_path / (src.stem + ".jpg")
    # the EXIF still names the lens: the camera's own spelling is kept
    assert jpg.exists() and _exif(jpg, "Exif.Photo.LensModel") == "EF24-105mm f/4L IS USM"
    assert _exif(jpg, "Exif.Image.Model") == "Canon EOS 6D" and _exif(jpg, "Exif.Image.Orientation") == "1"
    # the same develop without correction: vignetting correction brightens the corners
    rc, _ = _run(capsys, ["develop", str(src), "-o", str(tmp_path / "plain.jpg"), "--no-lens-correction", "-q"])
    assert rc == 0
    a, b = _read_linear(jpg), _read_linear(tmp_path / "plain.jpg")
    assert a.shape == b.shape
    h, w = a.shape[:2]
    corner = lambda im: float(np.mean([im[:h // 8, :w // 8].mean(), im[-h // 8:, -w // 8:].mean()]))  # noqa: E731
    centre = lambda im: float(im[h // 2 - h // 8 : h // 2 + h // 8, w // 2 - w // 8 : w // 2 + w // 8].mean())  # noqa: E731
    assert corner(a) / centre(a) > corner(b) / centre(b) * 1.02


def test_develop_d30_reports_candidates_and_writes_uncorrected(tmp_path, capsys):
    rc, out = _run(capsys, ["develop", str(shared_file(D30)), "-o", str(tmp_path / "d30.jpg"), "--json"])
    assert rc == 0
    r = json.loads(out)["results"][0]
    assert r["status"] == "ok" and (tmp_path / "d30.jpg").exists()
    corr = r["lens"]["corrections"]
    assert not any(c["applied"] for c in corr.values())
    assert "16-35mm" in corr["distortion"]["reason"] and "--lens" in corr["distortion"]["reason"]
    assert "Canon EF 16-35mm f/2.8L USM" in corr["distortion"]["reason"]


def test_develop_d30_with_lens_override_corrects(tmp_path, capsys):
    rc, out = _run(capsys, ["develop", str(shared_file(D30)), "-o", str(tmp_path / "d30.jpg"), "--json",
                            "--lens", "Canon EF 16-35mm f/2.8L USM"])
    assert rc == 0, out
    lens = json.loads(out)["results"][0]["lens"]
    assert lens["lens"] == "Canon EF 16-35mm f/2.8L USM"
    assert lens["corrections"]["distortion"]["applied"]
    assert _exif(tmp_path / "d30.jpg", "Exif.Photo.LensModel") == "Canon EF 16-35mm f/2.8L USM"


def test_develop_kiss_x4_no_lens_information(tmp_path, capsys):
    rc, out = _run(capsys, ["develop", str(shared_file(KISS)), "-o", str(tmp_path / "k.png"), "--format", "png", "--json"])
    assert rc == 0
    r = json.loads(out)["results"][0]
    assert not any(c["applied"] for c in r["lens"]["corrections"].values())
    assert "no lens" in r["lens"]["corrections"]["vignetting"]["reason"]
    from l2tech.io.image import read_image

    d = read_image(tmp_path / "k.png")
    assert d.bits == 16 and d.icc_profile is not None


def test_correct_olympus_jpeg_matches_by_itself(tmp_path, capsys):
    rc, out = _run(capsys, ["correct", str(shared_file(OLY)), "-o", str(tmp_path / "o.jpg"), "--json"])
    assert rc == 0, out
    lens = json.loads(out)["results"][0]["lens"]
    assert lens["camera"] == "Olympus Imaging Corp. E-P3"  # lensfun's maker spelling for this body
    assert lens["lens"] == "Olympus M.Zuiko Digital ED 14-42mm f/3.5-5.6 II R"
    # the E-P3 corrected distortion in its own JPEG: not corrected twice (tests/test_trust.py)
    assert not lens["corrections"]["distortion"]["applied"]
    assert "Micro Four Thirds" in lens["corrections"]["distortion"]["reason"]
    assert lens["corrections"]["vignetting"]["applied"]


def test_batch_goes_on_after_a_bad_file_and_exit_code_is_1(tmp_path, capsys):
    bad = tmp_path / "bad.NEF"
    bad.write_text("not a raw")
    empty = tmp_path / "empty.CR2"
    empty.write_bytes(b"")
    good = tmp_path / "good.dng"
    shutil.copy(shared_file(SIXD), good)
    before = {p: p.read_bytes() for p in (bad, empty, good)}
    outdir = tmp_path / "out"
    rc, out = _run(capsys, ["develop", str(bad), str(empty), str(good), "-o", str(outdir), "--json", "--no-lens-correction"])
    assert rc == 1
    doc = json.loads(out)
    status = {os.path.basename(r["input"]): r["status"] for r in doc["results"]}
    assert status == {"bad.NEF": "failed", "empty.CR2": "failed", "good.dng": "ok"}
    errs = {os.path.basename(r["input"]): r.get("error", "") for r in doc["results"]}
    assert "bad.NEF" in errs["bad.NEF"] and "unsupported" in errs["bad.NEF"].lower()
    assert "empty" in errs["empty.CR2"].lower()
    # nothing partial for the failures; the output's sidecar and the folder's journal beside it
    assert sorted(os.listdir(outdir)) == [".l2-journal.jsonl", "good.jpg", "good.jpg.l2.toml"]
    assert all(p.read_bytes() == b for p, b in before.items())  # inputs untouched


def test_existing_output_skipped_unless_overwrite(tmp_path, capsys):
    src = shared_file(KISS)
    out = tmp_path / "k.jpg"
    out.write_bytes(b"earlier")
    rc, text = _run(capsys, ["develop", str(src), "-o", str(out), "--json"])
    assert rc == 0 and json.loads(text)["results"][0]["status"] == "skipped"
    assert out.read_bytes() == b"earlier"
    rc, text = _run(capsys, ["develop", str(src), "-o", str(out), "--json", "--overwrite"])
    assert rc == 0 and out.read_bytes()[:3] == b"\xff\xd8\xff"


def test_two_inputs_one_output_refused_before_work(tmp_path, capsys):
    a, b = tmp_path / "a" / "x.dng", tmp_path / "b" / "x.dng"
    for p in (a, b):
        p.parent.mkdir()
        shutil.copy(shared_file(KISS), p)
    rc = main(["develop", str(a), str(b), "-o", str(tmp_path / "out")])
    assert rc == 1  # both reported as failed before any work; nothing else to run
    err = capsys.readouterr().err
    # one line for the clash, naming both inputs (it was printed once per input)
    assert [ln for ln in err.splitlines() if ln.startswith("error")] == [
        f"error (OutputExistsError): {tmp_path / 'out' / 'x.jpg'}: {a} and {b} would both write this one output; "
        "rename one or run them separately"], err
    assert not (tmp_path / "out" / "x.jpg").exists()


def test_missing_output_folder_is_an_error(tmp_path, capsys):
    rc, out = _run(capsys, ["develop", str(shared_file(KISS)), "-o", str(tmp_path / "nope" / "k.jpg"), "--json"])
    assert rc == 1
    assert "does not exist" in json.loads(out)["results"][0]["error"]


def test_usage_errors_exit_2(capsys):
    assert main(["develop"]) == 2
    assert main(["develop", "x.dng", "--only", "sharpness"]) == 2


def test_output_spaces_embed_their_icc(tmp_path, capsys):
    from l2tech.color.display import icc_profile
    from l2tech.io.image import read_image

    src = shared_file(KISS)
    for space in ("display-p3", "rec2020", "adobe-rgb"):
        out = tmp_path / f"k_{space}.tif"
        assert main(["develop", str(src), "-o", str(out), "--format", "tiff", "--output-space", space, "-q"]) == 0
        assert read_image(out).icc_profile == icc_profile(space)


def _jpeg_with(tmp_path, name, *, icc=None, orientation=None):
    from PIL import Image

    yy, xx = np.mgrid[0:60, 0:90]
    arr = np.stack([xx * 2, yy * 3, xx + yy], -1).astype(np.uint8)
    im = Image.fromarray(arr, "RGB")
    exif = im.getexif()
    exif[0x010F], exif[0x0110] = "Canon", "Canon EOS 6D"
    if orientation is not None:
        exif[0x0112] = orientation
    p = tmp_path / name
    kw = {"icc_profile": icc} if icc is not None else {}
    im.save(p, "JPEG", quality=95, exif=exif.tobytes(), **kw)
    return p


def test_correct_bad_metadata_drops_it_with_a_warning(tmp_path, capsys):
    """RELIABILITY case 6: orientation 9 and a corrupt ICC: pixels decode, metadata dropped with a warning."""
    p = _jpeg_with(tmp_path, "bad_meta.jpg", icc=b"\0\0\0\x10garbage-icc-data" * 4, orientation=9)
    out = tmp_path / "o.jpg"
    rc, text = _run(capsys, ["correct", str(p), "-o", str(out), "--json"])
    assert rc == 0, text
    r = json.loads(text)["results"][0]
    assert r["status"] == "ok" and any("ICC" in w for w in r["warnings"])
    from l2tech.io.image import read_image

    d = read_image(out)
    assert d.pixels.shape == (60, 90, 3) and d.icc_profile is None  # orientation 9 leaves pixels as stored
    assert _exif(out, "Exif.Image.Orientation") == "1"


def test_correct_truncated_jpeg_fails_cleanly(tmp_path, capsys):
    """RELIABILITY case 5: a truncated JPEG is an error by default; nothing is written."""
    p = _jpeg_with(tmp_path, "t.jpg")
    data = p.read_bytes()
    p.write_bytes(data[: len(data) * 2 // 3])
    rc, text = _run(capsys, ["correct", str(p), "-o", str(tmp_path / "out.jpg"), "--json"])
    assert rc == 1
    r = json.loads(text)["results"][0]
    assert r["status"] == "failed" and "t.jpg" in r["error"]
    assert not (tmp_path / "out.jpg").exists()
    assert sorted(f.name for f in tmp_path.iterdir()) == ["t.jpg"]


def test_missing_focal_length_on_a_zoom_says_what_to_pass(tmp_path, capsys):
    """RELIABILITY case 22: the Kiss X4 DNG has no focal length; with a zoom named, correction is
    skipped with the reason, and --focal-length makes it apply."""
    src = shared_file(KISS)
    lens = "Canon EF-S 18-55mm f/3.5-5.6 IS"
    rc, text = _run(capsys, ["develop", str(src), "-o", str(tmp_path / "a.jpg"), "--json", "--lens", lens])
    assert rc == 0, text
    corr = json.loads(text)["results"][0]["lens"]["corrections"]
    assert not corr["distortion"]["applied"] and "--focal-length" in corr["distortion"]["reason"]
    rc, text = _run(capsys, ["develop", str(src), "-o", str(tmp_path / "b.jpg"), "--json", "--lens", lens,
                             "--focal-length", "18", "--f-number", "5.6"])
    lensinfo = json.loads(text)["results"][0]["lens"]
    assert lensinfo["corrections"]["distortion"]["applied"]
    assert lensinfo["sources"]["focal_length_mm"] == "option"


def test_unknown_lens_override_is_an_error(tmp_path, capsys):
    """A --lens no lens is similar to is a usage error before any input (exit 2, one JSON
    document; was one LensNotFoundError per input, exit 1); a name close to several lenses is
    still decided per input, where the body's mount narrows it."""
    rc, text = _run(capsys, ["develop", str(shared_file(KISS)), "-o", str(tmp_path / "a.jpg"), "--json",
                             "--lens", "Nonexistent 123mm f/9 Wonder"])
    assert rc == 2
    doc = json.loads(text)
    assert doc["error_type"] == "UsageError" and doc["error"].startswith("--lens 'Nonexistent 123mm f/9 Wonder'")
    assert not (tmp_path / "a.jpg").exists()
    rc, text = _run(capsys, ["develop", str(shared_file(KISS)), "-o", str(tmp_path / "a.jpg"), "--json",
                             "--lens", "iPhone"])
    assert rc == 1 and json.loads(text)["results"][0]["error_type"] == "LensNotFoundError"


def test_develop_look_mono_writes_monochrome(tmp_path, capsys):
    """Color issue acceptance (CLI part): `l2 develop --look mono` on the Canon 6D DNG is monochrome."""
    from PIL import Image

    out = tmp_path / "mono.jpg"
    assert main(["develop", str(shared_file(SIXD)), "-o", str(out), "--look", "mono", "-q"]) == 0
    a = np.asarray(Image.open(out)).astype(np.int16)
    assert np.abs(a[..., 0] - a[..., 1]).max() <= 2 and np.abs(a[..., 2] - a[..., 1]).max() <= 2
    assert a.std() > 10  # not a flat image


def test_develop_log_output_vlog(tmp_path, capsys):
    """--log-output V-Log writes V-Log/V-Gamut code values, 16-bit, with no ICC profile."""
    from l2tech.color import encode
    from l2tech.io.image import read_image

    out = tmp_path / "v.tif"
    rc, text = _run(capsys, ["develop", str(shared_file(KISS)), "-o", str(out), "--format", "tiff", "--log-output", "V-Log", "--json"])
    assert rc == 0, text
    assert json.loads(text)["results"][0]["output_space"] == "V-Log/V-Gamut"
    d = read_image(out)
    assert d.icc_profile is None and d.bits == 16
    # the darkest V-Log code is the curve's black (0.125), never below
    assert d.pixels.min() >= float(encode(np.float32(0.0), "V-Log")) - 1 / 65535
    # decoded independently with colour-science (V-Log curve, V-Gamut -> BT.2020), the file gives
    # back the linear BT.2020 working image (LibRaw's camera RGB and its rgb_cam matrix) (no lens correction: the file names no lens)
    import colour

    from l2tech.raw.decode import decode_raw

    lin = colour.models.log_decoding_VLog(d.pixels.astype(np.float64))
    back = colour.RGB_to_RGB(lin, colour.RGB_COLOURSPACES["V-Gamut"], colour.RGB_COLOURSPACES["ITU-R BT.2020"],
                             chromatic_adaptation_transform=None)
    raw = decode_raw(shared_file(KISS), camera_rgb=True)  # camera RGB; LibRaw's matrix applied in float64
    ref = raw.image.astype(np.float64) @ raw.camera_to_working.T
    ok = (ref > 0.01).all(axis=-1) & (ref < 0.9).all(axis=-1)
    rel = np.abs(back - ref)[ok] / ref[ok]
    assert ok.mean() > 0.5 and np.percentile(rel, 99) < 2e-3, np.percentile(rel, 99)


def test_correct_with_profile_file(tmp_path, capsys):
    """--profile FILE wins over the metadata: an OpenCV calibration (640x480) on a 4:3 JPEG.

    The E-P3 corrects its lens's distortion in its JPEGs, and a profile file without a mount is
    taken for the body's own lens (test_trust_profile_file_rules): --force applies it."""
    prof = shared_file("profiles/opencv_yaml/ORB_SLAM2__Examples_Monocular_TUM1.yaml")
    rc, text = _run(capsys, ["correct", str(shared_file(OLY)), "-o", str(tmp_path / "o.jpg"), "--json", "--profile", str(prof),
                             "--force"])
    assert rc == 0, text
    lens = json.loads(text)["results"][0]["lens"]
    assert lens["sources"]["profile"] == "file" and lens["corrections"]["distortion"]["applied"]
    assert not lens["corrections"]["vignetting"]["applied"]


def test_profile_source_database_equals_default_for_the_6d(tmp_path, capsys):
    src = shared_file(SIXD)
    rc, text = _run(capsys, ["develop", str(src), "-o", str(tmp_path / "a.jpg"), "--json", "--profile-source", "database"])
    assert rc == 0, text
    lens = json.loads(text)["results"][0]["lens"]
    assert lens["lens"] == "Canon EF 24-105mm f/4L IS USM" and lens["sources"]["profile"] == "database"


def test_profile_file_with_other_aspect_is_a_clear_error(tmp_path, capsys):
    prof = shared_file("profiles/gyroflow/Sony_ZV-E10_10-20mm_F4_G_20mm_4k_16by9_3840x2160-29.97fps.json")
    img = shared_file("raw/jpeg_reference/canon_6d__ef100mm_macro.jpg")  # 500x500
    rc, text = _run(capsys, ["correct", str(img), "-o", str(tmp_path / "o.jpg"), "--json", "--profile", str(prof)])
    assert rc == 1
    r = json.loads(text)["results"][0]
    assert r["error_type"] == "InvalidProfileError" and "3840x2160" in r["error"]
    assert not (tmp_path / "o.jpg").exists()


def test_6d_reports_the_dng_opcodes_libraw_applied(tmp_path, capsys):
    """The 6D DNG's OpcodeList2 MapPolynomials are applied once (by LibRaw at unpack) and reported."""
    rc, text = _run(capsys, ["develop", str(shared_file(SIXD)), "-o", str(tmp_path / "a.jpg"), "--json"])
    assert rc == 0
    r = json.loads(text)["results"][0]
    assert r["dng_opcodes"] and all(op.startswith("OpcodeList2:MapPolynomial") for op in r["dng_opcodes"])


def test_embedded_lens_opcodes_are_not_corrected_twice():
    """A DNG whose OpcodeList3 already warped and devignetted the image: the database profile is
    not applied again for those corrections, and the reason names the opcode."""
    from l2tech.pipeline.lens_plan import CORRECTIONS, LensPlan, skip_embedded_corrections

    plan = LensPlan("Cam", "Lens", object(), None, 1.0, 20.0, 4.0, 1000.0, {c: True for c in CORRECTIONS},
                    {c: "" for c in CORRECTIONS}, {})
    out = skip_embedded_corrections(plan, ("OpcodeList2:MapPolynomial", "OpcodeList3:WarpRectilinear"))
    assert out.applied == {"vignetting": True, "tca": False, "distortion": False}
    assert "WarpRectilinear" in out.reasons["distortion"] and "--profile-source database" in out.reasons["distortion"]
    out = skip_embedded_corrections(plan, ("OpcodeList3:FixVignetteRadial",))
    assert out.applied == {"vignetting": False, "tca": True, "distortion": True}


def test_correct_defish_gopro_frame_with_projection(tmp_path, capsys):
    """`l2 correct --profile gopro.json --projection fisheye` keeps the fisheye projection
    (distortion removed), `rectilinear` de-fishes; both on a 4:3 frame of the profile's aspect."""
    from PIL import Image

    frame = tmp_path / "frame.png"
    yy, xx = np.mgrid[0:300, 0:400]
    Image.fromarray(((xx // 20 + yy // 20) % 2 * 200 + 30).astype(np.uint8)).convert("RGB").save(frame)
    prof = shared_file("profiles/gyroflow/GoPro_HERO5_Black_Wide_NO-EIS_4by3.json")
    outs = {}
    for proj in ("rectilinear", "fisheye"):
        out = tmp_path / f"{proj}.png"
        rc, text = _run(capsys, ["correct", str(frame), "-o", str(out), "--profile", str(prof), "--projection", proj, "--json"])
        assert rc == 0, text
        outs[proj] = np.asarray(Image.open(out)).astype(np.float64)
    assert np.abs(outs["rectilinear"] - outs["fisheye"]).mean() > 5  # different geometry
    rc = main(["correct", str(frame), "-o", str(tmp_path / "bad.png"), "--profile", str(prof), "--projection", "mercator"])
    assert rc == 2 and "valid:" in capsys.readouterr().err


def test_correct_refuses_raw_files_even_renamed(tmp_path, capsys):
    """`l2 correct` on a RAW (even renamed .jpg) is an error pointing to `l2 develop`, never the
    embedded thumbnail silently."""
    fake = tmp_path / "6d.jpg"
    shutil.copy(shared_file(SIXD), fake)
    for src in (shared_file(SIXD), fake):
        rc, text = _run(capsys, ["correct", str(src), "-o", str(tmp_path / "x.jpg"), "--json"])
        assert rc == 1
        err = json.loads(text)["results"][0]["error"]
        assert "l2 develop" in err and "DNG" in err
    assert not (tmp_path / "x.jpg").exists()


def test_fixed_lens_compact_is_matched_without_a_lens_name(tmp_path, capsys):
    """A compact's JPEG names no lens: the body's fixed lens is used (as `l2 lens match` finds it)."""
    rc, text = _run(capsys, ["correct", str(shared_file("raw/jpeg_reference/canon_powershot_sx60hs.jpg")),
                             "-o", str(tmp_path / "sx.jpg"), "--json"])
    assert rc == 0, text
    lens = json.loads(text)["results"][0]["lens"]
    assert "SX60" in (lens["lens"] or "")
    # a compact corrects its lens in its own JPEG; --force corrects again
    assert not lens["corrections"]["distortion"]["applied"]
    assert "compact" in lens["corrections"]["distortion"]["reason"]
    rc, text = _run(capsys, ["correct", str(shared_file("raw/jpeg_reference/canon_powershot_sx60hs.jpg")),
                             "-o", str(tmp_path / "sx2.jpg"), "--force", "--json"])
    assert rc == 0 and json.loads(text)["results"][0]["lens"]["corrections"]["distortion"]["applied"]


def test_absurd_exposure_and_scale_are_usage_errors(tmp_path):
    src = str(shared_file(KISS))
    for bad in (["--exposure", "1000"], ["--exposure", "nan"], ["--scale", "0"], ["--scale", "-1"]):
        assert main(["develop", src, "-o", str(tmp_path / "a.jpg"), *bad]) == 2, bad
    assert not (tmp_path / "a.jpg").exists()


def test_crw_focal_length_is_carried_into_the_jpeg(tmp_path, capsys):
    out = tmp_path / "d30.jpg"
    assert main(["develop", str(shared_file(D30)), "-o", str(out), "-q"]) == 0
    assert _exif(out, "Exif.Photo.FocalLength") == "3100/100"


def test_xmp_and_iptc_are_carried(tmp_path, capsys):
    import exiv2

    src = shared_file("raw/jpeg_reference/canon_6d__ef100mm_macro.jpg")
    im = exiv2.ImageFactory.open(str(src))
    im.readMetadata()
    # Camera Raw's settings are carried: this JPEG says crs:AlreadyApplied (io/image.py); dc:format is updated
    keep = [d.key() for d in im.xmpData() if not d.key().startswith("Xmp.dc.format")]
    n_iptc = im.iptcData().count()
    assert keep and n_iptc > 0
    out = tmp_path / "m.jpg"
    assert main(["correct", str(src), "-o", str(out), "-q"]) == 0
    o = exiv2.ImageFactory.open(str(out))
    o.readMetadata()
    got = {d.key() for d in o.xmpData()}
    assert o.iptcData().count() == n_iptc and set(keep) - {"Xmp.tiff.Orientation"} <= got
    assert "Xmp.crs.AlreadyApplied" in got and "Xmp.dc.format" in got


def test_output_name_must_match_the_format(tmp_path, capsys):
    src = str(shared_file(KISS))
    for args in (["-o", str(tmp_path / "x.dng")], ["-o", str(tmp_path / "a.jpg"), "--format", "tiff"],
                 ["-o", str(tmp_path / "noext")]):
        assert main(["develop", src, *args]) == 2, args
    jpg = str(shared_file(OLY))
    assert main(["correct", jpg, "-o", str(tmp_path / "x.gif")]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    # several inputs need a folder, never a file name; a refused batch leaves no folder behind
    jpg2 = str(shared_file("raw/jpeg_reference/canon_powershot_sx60hs.jpg"))
    assert main(["correct", jpg, jpg2, "-o", str(tmp_path / "single.jpg")]) == 2
    a, b = tmp_path / "a1" / "x.dng", tmp_path / "a2" / "x.dng"
    for p in (a, b):
        p.parent.mkdir()
        shutil.copy(shared_file(KISS), p)
    # two inputs that would write one output: both reported before any work (exit 1), nothing
    # written for them; the rest of the batch runs (tests/test_trust.py)
    assert main(["develop", str(a), str(b), "-o", str(tmp_path / "coll")]) == 1
    assert not (tmp_path / "coll").exists() and not (tmp_path / "single.jpg").exists()


def test_missing_input_and_conflicting_options(tmp_path, capsys):
    rc, text = _run(capsys, ["develop", str(tmp_path / "nope.CR2"), "-o", str(tmp_path / "a.jpg"), "--json"])
    r = json.loads(text)["results"][0]
    assert rc == 1 and r["error_type"] == "InputNotFoundError" and "nope.CR2: file not found" in r["error"]
    assert main(["develop", str(shared_file(KISS)), "--no-lens-correction", "--only", "distortion"]) == 2
    assert main(["correct", str(shared_file(OLY)), "--no-lens-correction", "--lens", "X"]) == 2


def test_no_missing_focal_length_warning_when_the_options_give_it(tmp_path, capsys):
    """A file without focal length / f-number, developed with --focal-length and --f-number:
    the "missing from the metadata" warnings are not printed (they would be untrue)."""
    args = ["develop", str(shared_file(KISS)), "-o", str(tmp_path / "a.jpg"), "--camera", "Panasonic DC-S5",
            "--lens", "Lumix S 20-60/F3.5-5.6", "--overwrite"]
    rc = main(args + ["--focal-length", "20", "--f-number", "3.5"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "missing from the metadata" not in cap.out + cap.err
    rc = main(args)
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    # without them, said once: as the corrections' reason (no second "missing from the metadata" warning)
    assert "focal length unknown (not in EXIF, zoom lens); pass --focal-length MM" in cap.out
    assert "focal length missing from the metadata" not in cap.out + cap.err


def test_output_format_from_the_name_and_one_input_named_twice(tmp_path, capsys):
    """`-o x.png` without --format writes PNG (the name says so; an explicit --format that
    disagrees stays an error, above); the same file named twice (overlapping globs) is one input."""
    from PIL import Image

    src = str(shared_file(KISS))
    assert main(["develop", src, "-o", str(tmp_path / "x.png"), "-q"]) == 0
    with Image.open(tmp_path / "x.png") as im:
        assert im.format == "PNG"
    rc, text = _run(capsys, ["develop", src, src, "-o", str(tmp_path / "d") + "/", "--json"])
    doc = json.loads(text)
    assert rc == 0 and doc["ok"] == 1 and len(doc["results"]) == 1
