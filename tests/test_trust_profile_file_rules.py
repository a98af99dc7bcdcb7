"""Never correct twice holds for a profile given as a file (TRUST item 1).

The in-camera rules (Micro Four Thirds and Fujifilm X bodies, fixed-lens compacts correct
distortion in their JPEGs) read the profile's mount, which a profile file (Gyroflow, LCP,
OpenCV, a lensfun XML written without one) does not name: ``l2 correct E-P3.jpg --profile
my.xml`` and the SX60 HS JPEG with a profile corrected the distortion a second time. Now the
body's mount from the camera database stands in; ``--force`` corrects (a profile calibrated on
the camera's JPEGs); a profile that names another mount (an adapted lens) is corrected.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import l2_json, shared_file
from test_trust import EP3

SX60 = "raw/jpeg_reference/canon_powershot_sx60hs.jpg"


def _profile(tmp_path: Path, mount: str | None) -> Path:
    mount_xml = f"<mount>{mount}</mount>" if mount else ""
    p = tmp_path / f"my_{mount or 'none'}.xml".replace(" ", "_").replace("/", "")
    p.write_text(f"""<lensdatabase version="2"><lens><maker>Olympus</maker><model>My calibrated 14-42</model>
{mount_xml}<cropfactor>2.0</cropfactor><calibration>
<distortion model="ptlens" focal="14" a="0.02" b="-0.06" c="0"/>
<distortion model="ptlens" focal="18" a="0.01" b="-0.03" c="0"/>
</calibration></lens></lensdatabase>""")
    return p


def _distortion(capsys, src: Path, out: Path, *extra: str) -> dict:
    rc, doc = l2_json(capsys, "correct", str(src), "-o", str(out), "--overwrite", *extra)
    assert rc == 0, doc
    return doc["results"][0]["lens"]["corrections"]["distortion"]


@pytest.mark.parametrize("name, rule, assumed", [
    (EP3, "Micro Four Thirds bodies correct the distortion",
     "the profile file names no mount, so the Olympus Imaging Corp. E-P3's own lens is assumed (use --force for a "
     "profile calibrated on these JPEGs, or of an adapted lens)"),
    (SX60, "fixed-lens compacts correct their lens's distortion",
     "the profile file names no mount, so the Canon PowerShot SX60 HS's own lens is assumed (use --force for a profile "
     "calibrated on these JPEGs)"),  # a compact takes no other lens
], ids=["mft-e-p3", "compact-sx60"])
def test_camera_corrected_jpeg_with_a_mountless_profile_file(tmp_path, capsys, name, rule, assumed):
    src, prof = shared_file(name), _profile(tmp_path, None)
    d = _distortion(capsys, src, tmp_path / "a.jpg", "--profile", str(prof))
    assert d["applied"] is False
    assert d["reason"].startswith(f"already corrected: {rule}")
    assert d["reason"].endswith(f"; {assumed}; --force corrects it again")
    assert _distortion(capsys, src, tmp_path / "b.jpg", "--profile", str(prof), "--force")["applied"] is True


def test_mft_body_and_the_mount_a_profile_file_names(tmp_path, capsys):
    src, prof = shared_file(EP3), _profile(tmp_path, None)
    # the body is named as a database match names it ("OLYMPUS IMAGING CORP. E-P3" before, as the file spells it)
    rc, doc = l2_json(capsys, "correct", str(src), "-o", str(tmp_path / "n.jpg"), "--profile", str(prof))
    assert doc["results"][0]["lens"]["camera"] == "Olympus Imaging Corp. E-P3"
    # "Generic", what `l2 lens convert` writes without --mount, is no mount either
    assert _distortion(capsys, src, tmp_path / "g.jpg", "--profile", str(_profile(tmp_path, "Generic")))["applied"] is False
    # a profile of an adapted lens (its mount is not Micro Four Thirds) is corrected
    assert _distortion(capsys, src, tmp_path / "c.jpg", "--profile", str(_profile(tmp_path, "Canon EF")))["applied"] is True
    # and one that names the mount is judged as a database match is
    d = _distortion(capsys, src, tmp_path / "d.jpg", "--profile", str(_profile(tmp_path, "Micro 4/3 System")))
    assert d["applied"] is False and "names no mount" not in d["reason"]


def test_a_body_that_does_not_correct_keeps_the_correction(tmp_path, capsys):
    # the Canon 6D writes its JPEGs uncorrected (no flag, no body rule): the profile file applies
    d = _distortion(capsys, shared_file("raw/jpeg_reference/canon_6d__ef100mm_macro.jpg"), tmp_path / "a.jpg",
                    "--profile", str(_profile(tmp_path, None)))
    assert d["applied"] is True


def test_the_record_names_the_profile_file(tmp_path, capsys, monkeypatch, request):
    """The output's XMP record says which file gave the profile (the issue asks for the profile
    and its source): ``file (my_none.xml)`` for --profile, ``user (mine.xml)`` for a user-folder
    lens; it said only "file" / "user" (video's record already named the file)."""
    import shutil
    import subprocess

    if shutil.which("exiftool") is None:
        pytest.skip("exiftool is not installed (the oracle)")

    def source(path: Path) -> str:
        return subprocess.run(["exiftool", "-s3", "-XMP-l2tech:ProfileSource", str(path)], capture_output=True,
                              text=True, check=True).stdout.strip()

    src, prof = shared_file("raw/jpeg_reference/canon_6d__ef100mm_macro.jpg"), _profile(tmp_path, None)
    assert _distortion(capsys, src, tmp_path / "a.jpg", "--profile", str(prof))["applied"] is True
    assert source(tmp_path / "a.jpg") == f"file ({prof.name})"
    lenses = tmp_path / "lenses"
    lenses.mkdir()
    (lenses / "mine.xml").write_text(
        '<lensdatabase version="2"><lens><maker>Canon</maker><model>Canon EF 100mm f/2.8L Macro IS USM</model>'
        '<mount>Canon EF</mount><cropfactor>1.0</cropfactor><calibration>'
        '<distortion model="poly3" focal="100" k1="0.01"/></calibration></lens></lensdatabase>')
    from l2tech.profiles.matching import default_database

    monkeypatch.setenv("L2TECH_LENS_DIR", str(lenses))
    default_database.cache_clear()  # loaded once per process: load it with this user folder
    request.addfinalizer(default_database.cache_clear)
    rc, doc = l2_json(capsys, "correct", str(src), "-o", str(tmp_path / "u.jpg"))
    assert rc == 0 and doc["results"][0]["lens"]["sources"]["profile"] == "user", doc["results"][0]["lens"]["sources"]
    assert source(tmp_path / "u.jpg") == "user (mine.xml)"


def test_manual_distortion_and_generic_bodies(tmp_path, capsys):
    """`--distortion K1` is the user's own number, not a profile file: it is applied on the E-P3
    JPEG as before (the mountless-profile rule refused it for a while). A file whose body is one
    of lensfun's "Generic Crop-factor ..." entries (mount "Generic") is planned without the body
    stand-in (it recursed without end: RecursionError)."""
    from test_trust import _with_exif

    d = _distortion(capsys, shared_file(EP3), tmp_path / "m.jpg", "--distortion", "0.02")
    assert d["applied"] is True
    generic = _with_exif(shared_file(EP3), tmp_path / "g.jpg", {"Exif.Image.Make": "Generic",
                                                                 "Exif.Image.Model": "Crop-factor 1.5 (APS-C)"})
    assert _distortion(capsys, generic, tmp_path / "go.jpg", "--profile", str(_profile(tmp_path, None)))["applied"] is True
