"""Item 3, by value: every metadata key an output keeps holds the input's value, exiftool as the truth.

tests/test_trust.py ``test_metadata_kept`` counts the keys an output keeps; here exiftool's
numeric values (``-n``) of every kept key are compared, input against output, on every
processable input (a JPEG through `l2 correct`'s job, a RAW through `l2 develop`'s), maker
notes included: an output must never carry a maker note whose values exiftool reads
differently from the input's.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import shared_file
from l2tech.pipeline.recipe import Recipe
from test_trust import EP3, _crs_applied, _processable_inputs, _should_keep

SX60 = "raw/jpeg_reference/canon_powershot_sx60hs.jpg"

needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")

#: Kept keys whose values must change, with why (exiftool family-1 group, tag name):
#: the pixels are written upright (Orientation 1, CIPA DC-008-2023 4.6.4), the output's own
#: size and colour space (4.6.3), l2tech names itself as the writer (the source's Software is
#: kept as XMP-l2tech:SourceSoftware, checked below).
_CHANGED = {
    ("IFD0", "Orientation"): "the pixels are written upright",
    ("XMP-tiff", "Orientation"): "the pixels are written upright",
    ("ExifIFD", "ExifImageWidth"): "the output's width",
    ("ExifIFD", "ExifImageHeight"): "the output's height",
    ("ExifIFD", "ColorSpace"): "the output's colour space",
    ("IFD0", "Software"): "the writer is l2tech (the source's is XMP-l2tech:SourceSoftware)",
    ("XMP-dc", "Format"): "the output's MIME type",
    ("ExifIFD", "FocalPlaneXResolution"): "follows the output's dimensions (test_focal_plane_resolution)",
    ("ExifIFD", "FocalPlaneYResolution"): "follows the output's dimensions (test_focal_plane_resolution)",
}
#: Maker-note tags that are offsets into the file (they move when the metadata is written
#: again); the data they point at is compared instead (exiftool -b -MakerNotes:PreviewImage).
_FILE_OFFSETS = ("PreviewImageStart", "ThumbnailOffset")


def _exiftool(path: Path, *args: str) -> tuple[dict[str, object], dict[str, object]]:
    """exiftool's values (``-n``, every duplicate ``-a``, groups 0:1) and tag IDs of ``path``."""
    out = subprocess.run(["exiftool", "-j", "-a", "-n", "-G0:1", "-D", "-e", *args, str(path)], capture_output=True,
                         text=True, check=True).stdout
    doc = json.loads(out)[0]
    vals = {k: (v["val"] if isinstance(v, dict) else v) for k, v in doc.items()}
    ids = {k: (v.get("id") if isinstance(v, dict) else None) for k, v in doc.items()}
    return vals, ids


def _warnings(path: Path) -> set[str]:
    out = subprocess.run(["exiftool", "-a", "-s3", "-warning", str(path)], capture_output=True, text=True).stdout
    return {line.strip() for line in out.splitlines() if line.strip()}


def _maker_note_preview(path: Path) -> bytes:
    """The preview image a maker note points at (empty when none)."""
    return subprocess.run(["exiftool", "-b", "-MakerNotes:PreviewImage", str(path)], capture_output=True,
                          check=True).stdout


def _compared(src: Path) -> list[str]:
    """The input's keys whose values an output must hold (``_should_keep`` with maker notes always in)."""
    vals, ids = _exiftool(src)
    applied = _crs_applied(src)
    keys = []
    for k in vals:
        parts = k.split(":")
        if not _should_keep(k, ids[k], applied):
            continue
        if (parts[-2], parts[-1]) in _CHANGED or (parts[0] == "MakerNotes" and parts[-1] in _FILE_OFFSETS):
            continue
        keys.append(k)
    return keys


def _value_report(src: Path, out: Path) -> tuple[list[str], list[str], list[str]]:
    """(keys compared, keys missing from the output, 'key: input -> output' of each differing value)."""
    want = _compared(src)
    a, _ = _exiftool(src)
    b, _ = _exiftool(out)
    missing = [k for k in want if k not in b]
    differ = [f"{k}: {a[k]!r} -> {b[k]!r}" for k in want if k in b and a[k] != b[k]]
    return want, missing, differ


def _check_output(src: Path, out: Path) -> None:
    want, missing, differ = _value_report(src, out)
    assert len(want) > 0
    kept = len(want) - len(missing)
    assert not missing and not differ, (f"{kept}/{len(want)} kept, {kept - len(differ)}/{kept} values equal; "
                                        f"missing {missing}; differ {differ}")
    a, _ = _exiftool(src)
    b, _ = _exiftool(out)
    assert b["EXIF:IFD0:Orientation"] == 1
    assert (b["EXIF:ExifIFD:ExifImageWidth"], b["EXIF:ExifIFD:ExifImageHeight"]) == (b["File:ImageWidth"], b["File:ImageHeight"])
    if "EXIF:IFD0:Software" in a:
        assert b["XMP:XMP-l2tech:SourceSoftware"] == a["EXIF:IFD0:Software"]
    assert _maker_note_preview(out) == _maker_note_preview(src)
    # exiftool finds nothing wrong in the output that it did not find in the input
    # (a maker note written at wrong offsets reads "Invalid ... data")
    assert not {w for w in _warnings(out) - _warnings(src) if "Invalid" in w or "MakerNotes" in w}, _warnings(out)


@needs_exiftool
@pytest.mark.parametrize("src", _processable_inputs() or [pytest.param(None, marks=pytest.mark.skip(reason="no shared data"))],
                         ids=lambda p: p.name if p else "none")
def test_metadata_values_kept(src, tmp_path):
    """Every kept key holds the input's value (exiftool -n), maker notes included.

    Measured, keys kept/compared and values equal/kept (before -> after the maker-note base fix
    in copy_exif): PowerShot SX60 JPEG 119/141, 73/119 (its maker note, which an editor moved
    128 bytes without its offsets, read at the stated offsets: MacroMode 2 -> 0, RecordMode
    1 -> 6553, ...) -> 141/141, 141/141; unchanged at 100 %: E-P3 JPEG 170, 6D JPEG 82, 6D DNG
    65, Kiss X4 DNG 26, D30 CRW 64 keys.
    """
    from l2tech.pipeline.stills import correct_image_file, develop_file

    out = tmp_path / "out.jpg"
    job = correct_image_file if src.parent.name == "jpeg_reference" else develop_file
    res = job(src, out, Recipe())
    assert not [w for w in res.warnings if "maker note" in w], res.warnings
    _check_output(src, out)


@needs_exiftool
def test_gps_values_survive_l2_correct(tmp_path, capsys):
    """A real GPS fix written by exiftool into the E-P3 JPEG survives `l2 correct` value for value."""
    from l2tech.cli.main import main

    src = tmp_path / "gps.jpg"
    shutil.copyfile(shared_file(EP3), src)
    src.chmod(0o644)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-GPSLatitude=48.858370", "-GPSLatitudeRef=N",
                    "-GPSLongitude=2.294481", "-GPSLongitudeRef=E", "-GPSAltitude=35.5", "-GPSAltitudeRef=0",
                    "-GPSTimeStamp=12:34:56", "-GPSDateStamp=2024:05:01", "-GPSMapDatum=WGS-84", str(src)], check=True)
    a, _ = _exiftool(src)
    assert a["EXIF:GPS:GPSLatitude"] == pytest.approx(48.85837) and a["EXIF:GPS:GPSLongitude"] == pytest.approx(2.294481)
    assert main(["correct", str(src), "--json"]) == 0, capsys.readouterr()
    out = tmp_path / "gps_l2.jpg"
    b, _ = _exiftool(out)
    gps = sorted(k for k in a if k.startswith("EXIF:GPS:"))
    assert len(gps) >= 9, gps
    assert {k: b.get(k) for k in gps} == {k: a[k] for k in gps}
    assert b["EXIF:GPS:GPSLatitude"] == pytest.approx(48.85837, abs=1e-6)
    assert b["EXIF:GPS:GPSLongitude"] == pytest.approx(2.294481, abs=1e-6)
    assert b["EXIF:GPS:GPSAltitude"] == pytest.approx(35.5)
    assert (b["EXIF:GPS:GPSLatitudeRef"], b["EXIF:GPS:GPSLongitudeRef"], b["EXIF:GPS:GPSAltitudeRef"]) == ("N", "E", 0)
    assert (b["EXIF:GPS:GPSTimeStamp"], b["EXIF:GPS:GPSDateStamp"]) == ("12:34:56", "2024:05:01")
    _check_output(src, out)


@needs_exiftool
def test_moved_maker_note_without_footer_is_dropped_with_a_warning(tmp_path):
    """A Canon maker note moved by an editor whose original place is no longer recorded (its
    TIFF footer blanked here) cannot be read right by exiv2: the output carries none of it,
    says so once, and the rest of the metadata keeps its values."""
    from l2tech.pipeline.stills import correct_image_file

    data = shared_file(SX60).read_bytes()
    footer = b"II*\x00\x92\x03\x00\x00"  # the maker note's original offset, 914 (it now lies at 786)
    assert data.count(footer) == 1
    src = tmp_path / "nofooter.jpg"
    src.write_bytes(data.replace(footer, bytes(8)))
    out = tmp_path / "out.jpg"
    res = correct_image_file(src, out, Recipe())
    dropped = [w for w in res.warnings if "maker note not copied" in w]
    assert len(dropped) == 1 and str(src) in dropped[0], res.warnings
    b, _ = _exiftool(out)
    assert not [k for k in b if k.startswith("MakerNotes:")]
    want, missing, differ = _value_report(src, out)
    assert not differ, differ
    assert missing and all(k.startswith("MakerNotes:") for k in missing), missing
    # everything but the maker note is kept as from the untouched file
    assert sorted(set(want) - set(missing)) == sorted(k for k in _compared(shared_file(SX60)) if not k.startswith("MakerNotes:"))


@needs_exiftool
def test_a_compacts_built_in_lens_is_not_given_a_database_name(tmp_path):
    """The SX60 HS JPEG names no lens model (exiftool: LensID "Unknown 3-247mm"). Its output
    gained LensModel "Canon PowerShot SX60 HS & compatibles", lensfun's entry key, which no
    camera writes; now no LensModel/LensMake is added, and the record still names the profile."""
    from l2tech.pipeline.stills import correct_image_file

    src = shared_file(SX60)
    out = tmp_path / "sx.jpg"
    correct_image_file(src, out, Recipe())
    a, _ = _exiftool(src)
    b, _ = _exiftool(out)
    lens_keys = {k for k in b if k.split(":")[-1] in ("LensModel", "LensMake")}
    assert lens_keys == {k for k in a if k.split(":")[-1] in ("LensModel", "LensMake")} == set()
    assert "SX60" in str(b["XMP:XMP-l2tech:Profile"])


@needs_exiftool
def test_d30_exposure_time_is_exiftools():
    """The EOS D30 CRW: exiv2 reads ShotInfo ShutterSpeedValue 65460 as unsigned and makes the
    EXIF ExposureTime "1 s"; the code is -76 (a Canon EV, Tv -2 1/3): 5.04 s, as exiftool reads
    it (``-n`` Canon:ExposureTime). `l2 info` said 1 s."""
    from l2tech.io.metadata import read_metadata

    src = shared_file("raw/decodable/canon_eos_d30__16-35mm.crw")
    out = subprocess.run(["exiftool", "-j", "-n", "-Canon:ExposureTime", str(src)], capture_output=True, text=True,
                         check=True).stdout
    truth = json.loads(out)[0]["ExposureTime"]
    assert truth == pytest.approx(5.0397, abs=1e-4)
    assert read_metadata(src).exposure_time_s == pytest.approx(truth, rel=1e-9)


def test_canon_ev_codes():
    """Canon EV codes: 1/32 EV steps, thirds as 0x0c and 0x14 (exiftool Canon.pm CanonEv)."""
    from l2tech.io.metadata import _canon_ev

    assert _canon_ev(0x40) == 2.0 and _canon_ev(0x4C) == pytest.approx(2 + 1 / 3) and _canon_ev(0x54) == pytest.approx(2 + 2 / 3)
    assert _canon_ev(0x10000 - 76) == pytest.approx(-(2 + 1 / 3)) and _canon_ev(0x50) == 2.5


@needs_exiftool
def test_d30_develop_writes_its_exposure_time_and_iso(tmp_path):
    """`l2 develop D30.crw`: the output's EXIF said ExposureTime 1 s (exiv2's value for the CRW)
    and had no ISO; now 5.04 s and ISO 100, exiftool's reading of the CRW."""
    from l2tech.pipeline.stills import develop_file

    src = shared_file("raw/decodable/canon_eos_d30__16-35mm.crw")
    out = tmp_path / "d30.jpg"
    develop_file(src, out, Recipe())
    truth = json.loads(subprocess.run(["exiftool", "-j", "-n", "-Canon:ExposureTime", "-Composite:ISO", str(src)],
                                      capture_output=True, text=True, check=True).stdout)[0]
    got = json.loads(subprocess.run(["exiftool", "-j", "-n", "-ExifIFD:ExposureTime", "-ExifIFD:ISO", str(out)],
                                    capture_output=True, text=True, check=True).stdout)[0]
    assert got["ExposureTime"] == pytest.approx(truth["ExposureTime"], rel=1e-6)
    assert got["ISO"] == truth["ISO"] == 100
