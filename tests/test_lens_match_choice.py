"""`l2 lens match` names the profile `l2 correct` plans with, and `l2 correct -o x.png` writes a PNG.

1. With ``--profile FILE`` or ``--profile-source SRC``, `l2 lens match` printed (headline, JSON
   ``lens`` and ``source``) the lensfun database's match while its own profile-choice line said
   "chosen: file" / "chosen: embedded", and `l2 correct` planned with the chosen profile. The
   oracle here is the command that corrects: `l2 correct --json` (``results[0].lens.lens`` and
   ``lens.sources.profile``), or, for the RW2 whose image data is stripped (which `correct`
   refuses as RAW and `develop` cannot decode), :func:`l2tech.pipeline.lens_plan.plan_lens_correction`,
   the planning both commands run.
2. `l2 correct P1.jpg -o x.png` (or ``x.tif``) wrote JPEG bytes under the PNG/TIFF name. The
   format is checked from the file's magic bytes (PNG: ``89 50 4E 47 0D 0A 1A 0A``, PNG spec
   section 5.2; TIFF: ``II*\\0`` / ``MM\\0*``, TIFF 6.0 section 2) and by Pillow; the pixels
   against the code values the writer quantises (:func:`l2tech.pipeline.stills.develop_codes`,
   lossless: equal) and the JPEG output (lossy: within its quantisation).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_file

EP3 = "raw/jpeg_reference/olympus_e-p3__mzuiko_14-42_II_R_15mm.jpg"
LX3 = "raw/metadata_only/panasonic_dmc-lx3__exiftool.rw2"
DB_LENS = "Olympus M.Zuiko Digital ED 14-42mm f/3.5-5.6 II R"
FILE_LENS = "Acme Test 15mm f/2"

_XML = f"""<lensdatabase version="2">
 <lens><maker>Acme</maker><model>{FILE_LENS}</model>
  <mount>Micro 4/3 System</mount><cropfactor>2</cropfactor>
  <calibration><distortion model="ptlens" focal="15" a="0.01" b="-0.02" c="0.01"/></calibration></lens>
</lensdatabase>
"""


def _l2(capsys, *args: str) -> tuple[int, str]:
    """``l2 ARGS`` in this process: (exit code, stdout)."""
    from l2tech.cli.main import main

    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        rc = main(list(args))
    return rc, capsys.readouterr().out


def _l2_json(capsys, *args: str) -> tuple[int, dict]:
    rc, out = _l2(capsys, *args, "--json")
    assert out.strip(), f"no JSON from l2 {' '.join(args)}"
    return rc, json.loads(out)


@pytest.fixture(scope="module")
def p1(tmp_path_factory) -> Path:
    """The E-P3 JPEG at 1/8 size (504x378) with all its metadata; the EXIF pixel dimensions are
    the copy's own, so no crop after capture is suspected."""
    pytest.importorskip("exiv2", reason="the exiv2 binding copies the EXIF onto the small copy")
    from test_trust import _with_exif

    d = tmp_path_factory.mktemp("p1")
    return _with_exif(shared_file(EP3), d / "P1.jpg", {"Exif.Photo.PixelXDimension": "504",
                                                       "Exif.Photo.PixelYDimension": "378"})


@pytest.fixture(scope="module")
def acme_xml(tmp_path_factory) -> Path:
    """A lensfun XML profile file whose lens is not the database's match for the E-P3 shot."""
    p = tmp_path_factory.mktemp("prof") / "acme.xml"
    p.write_text(_XML, encoding="utf-8")
    return p


# -- 1. lens match names the chosen profile -----------------------------------------------------


@pytest.mark.parametrize("how", ["profile file", "profile-source database", "default"])
def test_lens_match_names_the_profile_correct_uses(p1, acme_xml, tmp_path, capsys, how):
    """`l2 lens match P1.jpg --profile acme.xml --json`: lens "Acme Test 15mm f/2", source "file",
    as `l2 correct P1.jpg --profile acme.xml --json` plans (before: the database's M.Zuiko,
    source "database"); the headline says the same. `--profile-source database` and no option:
    the M.Zuiko from the database, in both commands."""
    opts = {"profile file": ["--profile", str(acme_xml)], "profile-source database": ["--profile-source", "database"],
            "default": []}[how]
    rc, doc = _l2_json(capsys, "lens", "match", str(p1), *opts)
    assert rc == 0, doc
    rc, cor = _l2_json(capsys, "correct", str(p1), *opts, "-o", str(tmp_path / "out.jpg"), "--no-sidecar")
    assert rc == 0 and cor["results"][0]["status"] == "ok", cor
    plan = cor["results"][0]["lens"]
    assert doc["lens"]["name"] == plan["lens"]
    assert doc["source"] == plan["sources"]["profile"]
    assert doc["planned_crop_factor"] == pytest.approx(plan["crop_factor"])
    want_name, want_source = (FILE_LENS, "file") if how == "profile file" else (DB_LENS, "database")
    assert (doc["lens"]["name"], doc["source"]) == (want_name, want_source)
    assert doc["profile_choice"][0].startswith(f"chosen: {want_source}")
    if how == "profile file":  # the default match is said, as not used
        assert doc["default_match"]["name"] == DB_LENS and doc["method"] == "file" and doc["score"] is None
        assert doc["warnings"] == []  # the database match's similarity warning is not about this profile
    rc, text = _l2(capsys, "lens", "match", str(p1), *opts)
    assert rc == 0
    flat = " ".join(text.split())
    assert flat.startswith(f"{p1}: {want_name} on Olympus Imaging Corp. E-P3 ("), flat
    assert f"source {want_source})" in flat.split(" profile sources")[0], flat


def test_lens_match_profile_source_embedded_on_the_lx3_rw2(capsys):
    """`l2 lens match panasonic_dmc-lx3__exiftool.rw2 --profile-source embedded --json`: the RW2's
    own 0x0119 distortion ("Panasonic DMC-LX3", source "embedded"), the profile and source that
    `correct`/`develop --profile-source embedded` plan with (before: the database's "Leica
    DMC-LX3 & compatibles (Standard)", source "database", while the choice said embedded)."""
    from l2tech.io.metadata import read_metadata
    from l2tech.pipeline.lens_plan import plan_lens_correction
    from l2tech.pipeline.recipe import Recipe

    rw2 = shared_file(LX3)
    plan = plan_lens_correction(read_metadata(rw2), Recipe(profile_source="embedded")).summary()
    assert plan["sources"]["profile"] == "embedded" and plan["sources"]["profile_origin"] == f"rw2:{rw2}"
    rc, doc = _l2_json(capsys, "lens", "match", str(rw2), "--profile-source", "embedded")
    assert rc == 0, doc
    assert (doc["lens"]["name"], doc["source"]) == (plan["lens"], plan["sources"]["profile"]) == ("Panasonic DMC-LX3",
                                                                                                  "embedded")
    assert doc["lens"]["source"] == plan["sources"]["profile_origin"]
    assert doc["crop_factor"] == pytest.approx(plan["crop_factor"])
    assert doc["profile_choice"][0].startswith("chosen: embedded")
    assert doc["default_match"]["name"] == "Leica DMC-LX3 & compatibles (Standard)"
    rc, text = _l2(capsys, "lens", "match", str(rw2), "--profile-source", "embedded")
    flat = " ".join(text.split())
    assert rc == 0 and flat.startswith(f"{rw2}: Panasonic DMC-LX3 on "), flat
    assert "source embedded)" in flat.split(" profile sources")[0], flat
    # without the option, the database's profile, as `correct` plans by default
    rc, doc = _l2_json(capsys, "lens", "match", str(rw2))
    default = plan_lens_correction(read_metadata(rw2), Recipe()).summary()
    assert rc == 0 and (doc["lens"]["name"], doc["source"]) == (default["lens"], default["sources"]["profile"]) == (
        "Leica DMC-LX3 & compatibles (Standard)", "database")


def test_lens_match_forced_source_with_no_profile_fails_as_correct_does(p1, tmp_path, capsys):
    """`l2 lens match P1.jpg --profile-source embedded`: the JPEG carries no correction data, so
    `correct` fails (LensNotFoundError); `lens match` now fails the same way, exit 1 (before:
    exit 0 with the database's M.Zuiko in the headline)."""
    rc, doc = _l2_json(capsys, "lens", "match", str(p1), "--profile-source", "embedded")
    assert rc == 1 and doc["error_type"] == "LensNotFoundError", doc
    rc, cor = _l2_json(capsys, "correct", str(p1), "--profile-source", "embedded", "-o", str(tmp_path / "o.jpg"),
                       "--no-sidecar")
    assert rc == 1 and cor["results"][0]["error_type"] == "LensNotFoundError", cor
    assert "no embedded profile" in doc["error"] and "no embedded profile" in cor["results"][0]["error"]


# -- 2. correct writes the format the output name says ------------------------------------------

_MAGIC = {"png": (b"\x89PNG\r\n\x1a\n",), "tiff": (b"II*\x00", b"MM\x00*"), "jpeg": (b"\xff\xd8\xff",)}


@pytest.fixture(scope="module")
def codes(p1):
    """The 8-bit code values `l2 correct P1.jpg` writes (develop_codes: no file, no compression)."""
    from l2tech.pipeline.recipe import Recipe
    from l2tech.pipeline.stills import develop_codes

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fuzzy-match warning
        return np.asarray(develop_codes(p1, Recipe(), bits=8).image)


@pytest.mark.parametrize("ext,fmt", [("png", "png"), ("tif", "tiff"), ("tiff", "tiff"), ("jpg", "jpeg")])
def test_correct_writes_the_format_the_output_name_says(p1, codes, tmp_path, capsys, ext, fmt):
    """`l2 correct P1.jpg -o x.png` writes a PNG (before: JPEG bytes named .png), `-o x.tif` a TIFF;
    lossless outputs hold exactly the code values, the JPEG is within its quantisation of them."""
    from PIL import Image

    out = tmp_path / f"x.{ext}"
    rc, doc = _l2_json(capsys, "correct", str(p1), "-o", str(out), "--no-sidecar")
    assert rc == 0 and doc["results"][0]["status"] == "ok", doc
    head = out.read_bytes()[:8]
    assert any(head.startswith(m) for m in _MAGIC[fmt]), (ext, head)
    with Image.open(out) as im:
        assert im.format == {"png": "PNG", "tiff": "TIFF", "jpeg": "JPEG"}[fmt]
        px = np.asarray(im.convert("RGB"))
    assert px.shape == codes.shape == (378, 504, 3)
    diff = np.abs(px.astype(np.int32) - codes.astype(np.int32))
    if fmt == "jpeg":
        # quality 95, 4:2:0/4:4:4 as written: a mean error under 1.5 code values and a PSNR over 38 dB
        psnr = 10 * np.log10(255.0 ** 2 / np.mean(diff.astype(np.float64) ** 2))
        assert diff.mean() < 1.5 and psnr > 38, (diff.mean(), psnr)
    else:
        assert diff.max() == 0


def test_correct_keeps_the_input_format_into_a_folder(p1, tmp_path, capsys):
    """`l2 correct P1.jpg -o out/`: no name to say a format, the input's (JPEG) is kept."""
    d = tmp_path / "out"
    d.mkdir()
    rc, doc = _l2_json(capsys, "correct", str(p1), "-o", f"{d}/", "--no-sidecar")
    assert rc == 0, doc
    out = Path(doc["results"][0]["output"])
    assert out.suffix == ".jpg" and out.read_bytes()[:3] == b"\xff\xd8\xff"


def test_lens_match_profile_file_for_a_lens_the_database_lacks(p1, acme_xml, tmp_path, capsys):
    """`l2 lens match P1.jpg --lens "Acme Test 15mm f/2" --profile acme.xml`: the named lens is in no
    database, but the profile file is used, as `correct` uses it (exit 0, the E-P3 body and its
    crop 2 from the camera database); before: exit 1, LensNotFoundError from the database match."""
    opts = ["--lens", FILE_LENS, "--profile", str(acme_xml)]
    rc, doc = _l2_json(capsys, "lens", "match", str(p1), *opts)
    assert rc == 0, doc
    rc, cor = _l2_json(capsys, "correct", str(p1), *opts, "-o", str(tmp_path / "out.jpg"), "--no-sidecar")
    assert rc == 0 and cor["results"][0]["status"] == "ok", cor
    plan = cor["results"][0]["lens"]
    assert (doc["lens"]["name"], doc["source"]) == (plan["lens"], plan["sources"]["profile"]) == (FILE_LENS, "file")
    assert doc["planned_crop_factor"] == plan["crop_factor"] == 2.0
    assert doc["camera"]["model"] == "E-P3" and doc["default_match"] is None
