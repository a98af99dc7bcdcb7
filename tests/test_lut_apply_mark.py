"""`l2 lut apply` marks its outputs as l2tech's (issue item 2: "an XMP record in every output
… `Software` says l2tech"), read back by exiftool; a picture l2tech only put a LUT on is still
lens-corrected by `l2 correct` (nothing was corrected yet), while a corrected one is skipped."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import l2_json as _l2, shared_file

EP3 = "raw/jpeg_reference/olympus_e-p3__mzuiko_14-42_II_R_15mm.jpg"
CUBE = "luts/cube_3dl/ocio-tests__iridas_3d.cube"

pytestmark = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed (the oracle)")




def _exiftool(path, *tags: str) -> dict:
    out = subprocess.run(["exiftool", "-j", *tags, str(path)], capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]


def test_lut_apply_output_carries_the_l2tech_record(tmp_path, capsys):
    """`l2 lut apply iridas_3d.cube P1.jpg -o looked.jpg`: Software "l2tech X" (was the camera's
    "Version 1.3"), and the record: Tool l2tech, Look = the LUT's title, no correction, the
    input's Software kept as SourceSoftware; equal LUT and settings give an equal RecipeHash."""
    from l2tech import __version__

    src = tmp_path / "P1.jpg"
    shutil.copy(shared_file(EP3), src)
    before = _exiftool(src, "-IFD0:Software")
    rc, _ = _l2(capsys, "lut", "apply", str(shared_file(CUBE)), str(src), "-o", str(tmp_path / "looked.jpg"))
    assert rc == 0
    got = _exiftool(tmp_path / "looked.jpg", "-IFD0:Software", "-XMP-l2tech:all")
    assert got["Software"] == f"l2tech {__version__} (lut apply)"
    assert got["Tool"] == "l2tech" and got["Version"] == __version__
    assert got["Look"] == "A test 3D-LUT." and got.get("Corrections", "") == ""
    assert got["SourceSoftware"] == before["Software"]
    rc, _ = _l2(capsys, "lut", "apply", str(shared_file(CUBE)), str(src), "-o", str(tmp_path / "again.jpg"))
    assert _exiftool(tmp_path / "again.jpg", "-XMP-l2tech:RecipeHash")["RecipeHash"] == got["RecipeHash"]


def test_correct_takes_a_looked_picture_and_skips_a_corrected_one(tmp_path, capsys):
    """`l2 correct looked.jpg -o corrected.jpg`: a LUT-only output is lens-corrected (no correction
    was made to it); its corrected output, given again, is skipped as an l2tech output."""
    src = tmp_path / "P1.jpg"
    shutil.copy(shared_file(EP3), src)
    assert _l2(capsys, "lut", "apply", str(shared_file(CUBE)), str(src), "-o", str(tmp_path / "looked.jpg"))[0] == 0
    rc, doc = _l2(capsys, "correct", str(tmp_path / "looked.jpg"), "-o", str(tmp_path / "corrected.jpg"))
    r = doc["results"][0]
    assert rc == 0 and r["status"] == "ok", r
    assert r["lens"]["corrections"]["vignetting"]["applied"]  # the E-P3 body leaves vignetting to us here
    # still the E-P3's own JPEG for the in-camera rule (its record's SourceSoftware, not l2tech's
    # Software): distortion is not corrected twice (it was, once `Software` said l2tech)
    dist = r["lens"]["corrections"]["distortion"]
    assert not dist["applied"] and "Micro Four Thirds bodies correct the distortion" in dist["reason"], dist
    rc, doc = _l2(capsys, "correct", str(tmp_path / "corrected.jpg"), "-o", str(tmp_path / "twice.jpg"))
    r = doc["results"][0]
    assert rc == 0 and r["status"] == "skipped" and "already an l2tech output" in r.get("reason", r.get("error", ""))


def test_rerun_skips_what_is_done_and_what_has_the_look(tmp_path, capsys):
    """`l2 lut apply iridas_3d.cube P1.jpg -o out/` twice: the second run skips the output it
    made (its record: this input's SHA-256 and this LUT's RecipeHash; exit 0, file untouched;
    before: "output already exists", exit 1). Over a folder that holds an earlier output as an
    input, that output is skipped (it would get the look twice). Other settings are not the
    same job: the existing output is refused as before. "-o out/" makes the folder for one
    input (was "unknown output format ''")."""
    import hashlib

    src = tmp_path / "P1.jpg"
    shutil.copy(shared_file(EP3), src)
    cube, out = str(shared_file(CUBE)), tmp_path / "out"
    rc, doc = _l2(capsys, "lut", "apply", cube, str(src), "-o", str(out) + "/")
    assert rc == 0 and doc[0]["ok"] and "skipped" not in doc[0]
    made = out / "P1.jpg"
    rec = _exiftool(made, "-XMP-l2tech:all")
    assert rec["InputHash"] == hashlib.sha256(src.read_bytes()).hexdigest()
    stamp = made.stat().st_mtime_ns
    rc, doc = _l2(capsys, "lut", "apply", cube, str(src), "-o", str(out) + "/")
    assert rc == 0 and doc[0]["skipped"].startswith("exists, made from this input with this LUT and settings")
    assert made.stat().st_mtime_ns == stamp

    looked = tmp_path / "P1_look.jpg"
    shutil.copy(made, looked)
    rc, doc = _l2(capsys, "lut", "apply", cube, str(src), str(looked), "-o", str(out))
    assert rc == 0 and [("skipped" in r) for r in doc] == [True, True]
    assert doc[1]["skipped"].startswith("already an l2tech output of this LUT and settings")
    assert not (out / "P1_look.jpg").exists()

    rc, doc = _l2(capsys, "lut", "apply", cube, str(src), "-o", str(out), "--quality", "90")
    assert rc == 1 and "already exists" in doc[0]["error"]
    # the input changed: not the same job either
    shutil.copy(shared_file("raw/jpeg_reference/canon_6d__ef100mm_macro.jpg"), src)
    rc, doc = _l2(capsys, "lut", "apply", cube, str(src), "-o", str(out))
    assert rc == 1 and "already exists" in doc[0]["error"]


def test_several_inputs_and_an_image_file_name_is_a_usage_error(tmp_path, capsys):
    """`l2 lut apply look.cube a.jpg b.jpg -o both.jpg` made a folder named both.jpg and exited 0;
    `correct`, `develop` and `video` refuse this. Now: exit 2, nothing made."""
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    shutil.copy(shared_file(EP3), a)
    shutil.copy(shared_file(EP3), b)
    rc, doc = _l2(capsys, "lut", "apply", str(shared_file(CUBE)), str(a), str(b), "-o", str(tmp_path / "both.jpg"))
    assert rc == 2 and "several inputs need an output folder, not a file name" in doc["error"]
    assert not (tmp_path / "both.jpg").exists()


def test_a_looked_picture_whose_xmp_was_dropped_is_still_corrected(tmp_path, capsys):
    """A `l2 lut apply` output whose XMP an editor removed says `Software: l2tech X (lut apply)`:
    no lens correction was made to it, so `l2 correct` corrects it (an output of `correct` that
    lost its XMP is skipped by its Software, test_trust)."""
    src = tmp_path / "P1.jpg"
    shutil.copy(shared_file(EP3), src)
    looked = tmp_path / "looked.jpg"
    assert _l2(capsys, "lut", "apply", str(shared_file(CUBE)), str(src), "-o", str(looked))[0] == 0
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-l2tech:all=", str(looked)], check=True)
    rc, doc = _l2(capsys, "correct", str(looked), "-o", str(tmp_path / "c.jpg"))
    assert rc == 0 and doc["results"][0]["status"] == "ok", doc["results"][0]
