"""Trust item 1 (never correct twice): Canon and Nikon maker-note flags in JPEGs built from real
files of ../shared/data, end to end through `l2 correct`.

No Canon or Nikon JPEG of the shared data carries the flags, so each file is built the way a
user's file would carry them: real pixels (the E-P3 JPEG, or the PowerShot SX60 HS JPEG's own),
and the real maker note of the body/lens pair, copied and extended with the exiv2 binding (the
library l2tech reads metadata with):

- Nikon D70 + AF-S DX 18-70mm at 18 mm (the D70 NEF's EXIF and Nikon3 maker note), at the D70's
  "Small" JPEG size, 1504 x 1000, with ``VignetteControl`` (0x002a) and ``DistortInfo``
  (0x002b: 4 version bytes, then AutoDistortionControl; exiftool ``Nikon.pm``) added. A D70
  never wrote these two tags (D3-era and D5100-era bodies do); the test is of the tags, the
  D70 carries the lens lensfun knows;
- Canon EOS-1Ds Mark III + EF50mm f/1.2L USM (the CR2 header's EXIF and Canon maker note),
  with ``VignettingCorr2`` (0x4016) and ``LightingOpt`` (0x4018) added in the layout the EOS
  M50 CR3 of the shared data carries them (int32 arrays of 10 and 13, the byte size first);
- the PowerShot SX60 HS JPEG, untouched but for an added ``VignettingCorr2``.

exiftool reads each file back as the oracle (its names and printed values); then `l2 correct`
must skip exactly what the flags say, citing them, and correct it with ``--force``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_file

exiv2 = pytest.importorskip("exiv2", reason="the exiv2 Python binding (python-exiv2) is not installed")

EP3 = "raw/jpeg_reference/olympus_e-p3__mzuiko_14-42_II_R_15mm.jpg"
D70_NEF = "raw/metadata_only/nikon_d70__18-70mm__exiftool.nef"
CANON_1DS3 = "raw/metadata_only/canon_1ds3__ef50mm_f1.2L__imagemeta.cr2.exif"
CANON_M50_CR3 = "raw/metadata_only/canon__exiftool.cr3"
SX60 = "raw/jpeg_reference/canon_powershot_sx60hs.jpg"

needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")
CORRECTIONS = ("vignetting", "tca", "distortion")


# ---------------------------------------------------------------------------------------------
# helpers (the patterns of test_trust_files.py)


def _l2(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "l2tech.cli", *args], capture_output=True, text=True, timeout=300,
                          env=os.environ.copy())


def _l2_json(*args: str) -> tuple[int, dict]:
    proc = _l2(*args, "--json")
    assert proc.stdout.strip(), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _correct(src: Path, out: Path, *opts: str) -> dict:
    rc, doc = _l2_json("correct", str(src), "-o", str(out), "--no-sidecar", *opts)
    assert rc == 0 and doc["ok"] == 1, doc
    return doc["results"][0]


def _applied(result: dict) -> dict[str, bool]:
    return {c: v["applied"] for c, v in result["lens"]["corrections"].items()}


def _reasons(result: dict) -> dict[str, str]:
    return {c: v["reason"] for c, v in result["lens"]["corrections"].items()}


def _exiftool_tags(path: Path, *args: str) -> dict:
    """exiftool's reading of ``path`` (JSON, group-1 names, printed values unless ``-n``)."""
    out = subprocess.run(["exiftool", "-j", "-G1", *args, str(path)], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)[0]


def _l2tech_corrections(path: Path) -> str:
    """What an output says it corrected (its XMP l2tech:Corrections), read by exiftool."""
    return str(_exiftool_tags(path, "-XMP-l2tech:Corrections").get("XMP-l2tech:Corrections", ""))


def _flag_reason(key: str, printed: str) -> str:
    return f"the camera or converter already corrected it (maker note {key} = {printed}); --force corrects it again"


class _Quiet:
    """exiv2's log muted (the CR2 header's cut-off strips are reported on stderr)."""

    def __enter__(self):
        self.level = exiv2.LogMsg.level()
        exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.mute)

    def __exit__(self, *exc):
        exiv2.LogMsg.setLevel(self.level)


def _ep3_pixels(dst: Path, width: int, height: int) -> Path:
    """The E-P3 JPEG's pixels cut to 3:2 around the centre and resized to ``width`` x ``height``."""
    from PIL import Image

    with Image.open(shared_file(EP3)) as im:
        small = im.reduce(2)
        w, h = small.size
        ch = round(w * height / width)
        top = (h - ch) // 2
        small.crop((0, top, w, top + ch)).resize((width, height), Image.LANCZOS).save(dst, "JPEG", quality=92)
    return dst


#: IFD0 tags of the source kept in the built JPEG (the rest describe the RAW file's own images).
_IFD0_KEPT = {"Make", "Model", "Orientation", "XResolution", "YResolution", "ResolutionUnit"}


def _with_exif_of(meta_src: Path, dst: Path, groups: set[str], dropped: set[str], values: dict) -> Path:
    """``dst`` (a JPEG) with the EXIF of ``meta_src``: IFD0's camera tags, the exiv2 groups named
    (Photo and the maker note's), less the keys ``dropped``, then ``values`` set; written by exiv2,
    which lays the maker note out anew in the JPEG; the pixel size is the JPEG's own."""
    from PIL import Image

    with Image.open(dst) as im:
        width, height = im.size
    with _Quiet():
        src = exiv2.ImageFactory.open(str(meta_src))
        src.readMetadata()
        img = exiv2.ImageFactory.open(str(dst))
        img.readMetadata()
        exif = img.exifData()
        exif.clear()
        for d in src.exifData():
            _, group, name = d.key().split(".", 2)
            if ((group == "Image" and name in _IFD0_KEPT) or group in groups) and d.key() not in dropped:
                exif.add(d)
        exif["Exif.Photo.PixelXDimension"] = exiv2.ULongValue(width)
        exif["Exif.Photo.PixelYDimension"] = exiv2.ULongValue(height)
        for key, value in values.items():
            exif[key] = value
        img.writeMetadata()
    return dst


def _exiv2_set(path: Path, values: dict) -> Path:
    """``values`` written into ``path``'s EXIF by exiv2, everything else kept."""
    with _Quiet():
        img = exiv2.ImageFactory.open(str(path))
        img.readMetadata()
        exif = img.exifData()
        for key, value in values.items():
            exif[key] = value
        img.writeMetadata()
    return path


# ---------------------------------------------------------------------------------------------
# Nikon: D70 + AF-S DX 18-70mm (lensfun has distortion, TCA and vignetting at 18 mm f/3.5)

#: Left out of the NEF's maker note: its preview IFD, Nikon Capture's edit record (CaptureData,
#: its offsets and scan IFD; the NEF was saved by Nikon Capture Editor), the NEF's compression
#: and linearisation table. The AF record (NikonAf) is left out too: exiv2 rewrites its type
#: (LONG to UNDEFINED, same bytes) and exiftool then reads another AF point.
_D70_DROPPED = {"Exif.Nikon3.Preview", "Exif.Nikon3.CaptureData", "Exif.Nikon3.CaptureOffsets",
                "Exif.Nikon3.ScanIFD", "Exif.Nikon3.0x0e05", "Exif.Nikon3.NEFCompression",
                "Exif.Nikon3.LinearizationTable"}


def _nikon_jpeg(dst: Path, vignette: int | None, distortion: int | None) -> Path:
    """A D70 JPEG ("Small", Fine) with the NEF's EXIF and maker note; ``vignette`` the
    VignetteControl value (0 Off, 1 Low, 3 Normal, 5 High), ``distortion`` DistortInfo's
    AutoDistortionControl (0 Off, 1 On, 2 On (underwater)); None leaves the tag out."""
    values: dict = {"Exif.Nikon3.Quality": exiv2.AsciiValue("FINE   ")}
    if vignette is not None:
        values["Exif.Nikon3.VignetteControl"] = exiv2.UShortValue(vignette)
    if distortion is not None:
        # exiv2 0.28 has no name for 0x002b; exiftool Nikon.pm DistortInfo: DistortionVersion
        # (undef[4]), then AutoDistortionControl (int8u)
        values["Exif.Nikon3.0x002b"] = exiv2.DataValue(b"0100" + bytes([distortion]))
    return _with_exif_of(shared_file(D70_NEF), _ep3_pixels(dst, 1504, 1000),
                         {"Photo", "Nikon3", "NikonCb3", "NikonLd2"}, _D70_DROPPED, values)


_VC = {0: "Off", 1: "Low", 3: "Normal", 5: "High"}
_ADC = {0: "Off", 1: "On", 2: "On (underwater)"}

_NIKON_CASES = {
    # the maker note as the D70 wrote it: neither tag
    "as-written": (None, None, set()),
    "both-off": (0, 0, set()),
    "both-on": (3, 1, {"vignetting", "distortion"}),
    "vignette-control-high": (5, 0, {"vignetting"}),
    "auto-distortion-underwater": (0, 2, {"distortion"}),
}


@needs_exiftool
@pytest.mark.parametrize("case", list(_NIKON_CASES))
def test_nikon_maker_note_flags_in_a_d70_jpeg(tmp_path, case):
    """exiftool reads back VignetteControl and AutoDistortionControl as written; `l2 correct`
    skips vignetting when VignetteControl is Low/Normal/High and distortion when
    AutoDistortionControl is On or On (underwater), each reason naming the tag and exiftool's
    value, and corrects everything else (the lens is matched from the maker note: the profile is
    lensfun's AF-S DX 18-70mm). Measured before the fix: On (underwater) was reported as "On"."""
    vignette, distortion, skipped = _NIKON_CASES[case]
    src = _nikon_jpeg(tmp_path / "DSC_0001.JPG", vignette, distortion)
    truth = _exiftool_tags(src, "-Nikon:VignetteControl", "-Nikon:AutoDistortionControl", "-Nikon:Quality",
                           "-Nikon:LensIDNumber", "-IFD0:Model", "-Composite:LensID", "-File:ImageWidth")
    assert truth["IFD0:Model"] == "NIKON D70" and truth["Nikon:Quality"] == "Fine"
    assert truth["Composite:LensID"] == "AF-S DX Zoom-Nikkor 18-70mm f/3.5-4.5G IF-ED"
    assert truth.get("Nikon:VignetteControl") == (None if vignette is None else _VC[vignette])
    assert truth.get("Nikon:AutoDistortionControl") == (None if distortion is None else _ADC[distortion])
    res = _correct(src, tmp_path / "out.jpg")
    assert res["lens"]["camera"] == "Nikon D70", res["lens"]
    assert res["lens"]["lens"] == "Nikon AF-S DX Zoom-Nikkor 18-70mm f/3.5-4.5G IF-ED", res["lens"]
    assert _applied(res) == {c: c not in skipped for c in CORRECTIONS}, res["lens"]["corrections"]
    why = _reasons(res)
    if "vignetting" in skipped:
        assert why["vignetting"] == _flag_reason("Exif.Nikon3.VignetteControl", truth["Nikon:VignetteControl"])
    if "distortion" in skipped:
        assert why["distortion"] == _flag_reason("Nikon AutoDistortionControl", truth["Nikon:AutoDistortionControl"])
    assert _l2tech_corrections(tmp_path / "out.jpg") == ",".join(c for c in CORRECTIONS if c not in skipped)


@needs_exiftool
def test_nikon_flags_text_output_info_and_force(tmp_path):
    """Both flags on: the terminal names them; `l2 info --json` lists them as corrections done;
    `--force` corrects all three (the output's record, read by exiftool, says so) and its pixels
    differ from the output that skipped them."""
    from PIL import Image

    src = _nikon_jpeg(tmp_path / "DSC_0001.JPG", 3, 1)
    rc, info = _l2_json("info", str(src))
    assert rc == 0 and info["corrections_done"] == [
        ["vignetting", "maker note Exif.Nikon3.VignetteControl = Normal"],
        ["distortion", "maker note Nikon AutoDistortionControl = On"]]
    proc = _l2("correct", str(src), "-o", str(tmp_path / "out.jpg"), "--no-sidecar")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(re.search(r"Nikon D70 · .*18-70mm.* ✗ vignetting\s+✓ tca\s+✗ distortion$", ln) for ln in lines), \
        lines
    assert "  vignetting not corrected: " + _flag_reason("Exif.Nikon3.VignetteControl", "Normal") in lines, lines
    assert "  distortion not corrected: " + _flag_reason("Nikon AutoDistortionControl", "On") in lines, lines
    res = _correct(src, tmp_path / "forced.jpg", "--force")
    assert _applied(res) == {c: True for c in CORRECTIONS}
    assert _l2tech_corrections(tmp_path / "forced.jpg") == "vignetting,tca,distortion"
    assert _l2tech_corrections(tmp_path / "out.jpg") == "tca"
    a = np.asarray(Image.open(tmp_path / "out.jpg"), np.float64)
    b = np.asarray(Image.open(tmp_path / "forced.jpg"), np.float64)
    assert np.abs(a - b).mean() > 1.0


# ---------------------------------------------------------------------------------------------
# Canon: EOS-1Ds Mark III + EF50mm f/1.2L USM

#: VignettingCorr2 (0x4016) and LightingOpt (0x4018) as the EOS M50 CR3 carries them (exiftool
#: -v3; int32, element 0 the byte size, which exiv2 writes itself). The settings exiftool names
#: are filled in per case: VignettingCorr2 5 PeripheralLightingSetting, 6
#: ChromaticAberrationSetting, 7 DistortionCorrectionSetting, 9 DigitalLensOptimizerSetting;
#: LightingOpt 1 PeripheralIlluminationCorr, 10 DigitalLensOptimizer (Canon.pm, canonmn_int.cpp).
_M50_VIGCOR2 = (0, 1, 0, 1, None, None, None, 1, 0)  # elements 1..9
_M50_LIOP = (None, 0, 0, 0, 0, 1, 0, 1, 1, 0, 0, 1)  # elements 1..12


def _canon_flags(lighting: int, ca: int, distortion: int, illumination: int, dlo: int = 0) -> dict:
    vig = list(_M50_VIGCOR2)
    vig[4:7] = [lighting, ca, distortion]
    liop = list(_M50_LIOP)
    liop[0] = illumination
    liop[9] = dlo
    values = {f"Exif.CanonVigCor2.0x{i:04x}": exiv2.LongValue(v) for i, v in enumerate(vig, start=1)}
    values.update({f"Exif.CanonLiOp.0x{i:04x}": exiv2.LongValue(v) for i, v in enumerate(liop, start=1)})
    return values


def _canon_jpeg(dst: Path, flags: tuple[int, ...]) -> Path:
    """A 1Ds Mark III JPEG (Fine) at a quarter of the full frame, 1404 x 936, with the CR2's EXIF
    and whole Canon maker note, and the flags (PeripheralLightingSetting, ChromaticAberrationSetting,
    DistortionCorrectionSetting, PeripheralIlluminationCorr: 0 Off, 1 On)."""
    meta = shared_file(CANON_1DS3)
    with _Quiet():
        src = exiv2.ImageFactory.open(str(meta))
        src.readMetadata()
        groups = {d.key().split(".")[1] for d in src.exifData()}
    values = {"Exif.CanonCs.Quality": exiv2.ShortValue(3), "Exif.CanonCs.RecordMode": exiv2.ShortValue(1),
              **_canon_flags(*flags)}
    return _with_exif_of(meta, _ep3_pixels(dst, 1404, 936), {g for g in groups if g.startswith("Canon")} | {"Photo"},
                         set(), values)


#: A user's lensfun profile of the lens: lensfun's distortion for it (slr-canon.xml), and a
#: vignetting and a TCA calibration lensfun does not have, so that every flag has a correction to
#: switch off.
_EF50_PROFILE = """<lensdatabase version="2">
 <lens><maker>Canon</maker><model>Canon EF 50mm f/1.2L USM</model><mount>Canon EF</mount><cropfactor>1</cropfactor>
  <calibration>
   <distortion model="ptlens" focal="50" a="0.00476" b="-0.01688" c="0.00748"/>
   <tca model="linear" focal="50" kr="1.0004" kb="0.9996"/>
   <vignetting model="pa" focal="50" aperture="1.2" distance="10" k1="-0.6" k2="0.1" k3="0"/>
   <vignetting model="pa" focal="50" aperture="1.2" distance="1000" k1="-0.6" k2="0.1" k3="0"/>
  </calibration></lens>
</lensdatabase>"""

_CANON_NAMES = ("PeripheralLightingSetting", "ChromaticAberrationSetting", "DistortionCorrectionSetting",
                "PeripheralIlluminationCorr")
_CANON_KEYS = {"Canon:PeripheralLightingSetting": "Exif.CanonVigCor2.PeripheralLightingSetting",
               "Canon:ChromaticAberrationSetting": "Exif.CanonVigCor2.ChromaticAberrationSetting",
               "Canon:DistortionCorrectionSetting": "Exif.CanonVigCor2.DistortionCorrectionSetting",
               "Canon:PeripheralIlluminationCorr": "Exif.CanonLiOp.PeripheralIlluminationCorr"}

_CANON_CASES = {
    "all-off": ((0, 0, 0, 0), {}),
    # the EOS M50's own settings (read from its CR3 below)
    "m50-settings": ((1, 1, 0, 0), {"vignetting": "Exif.CanonVigCor2.PeripheralLightingSetting",
                                    "tca": "Exif.CanonVigCor2.ChromaticAberrationSetting"}),
    "distortion-only": ((0, 0, 1, 0), {"distortion": "Exif.CanonVigCor2.DistortionCorrectionSetting"}),
    # the record of the bodies before VignettingCorr2 (EOS 7D, 5D Mark II: Canon.pm)
    "lighting-opt-only": ((0, 0, 0, 1), {"vignetting": "Exif.CanonLiOp.PeripheralIlluminationCorr"}),
    # Digital Lens Optimizer (Standard) alone: the camera corrects chromatic aberration with it
    # (its manuals: CA and diffraction correction are then set to Enable), not distortion
    "digital-lens-optimizer": ((0, 0, 0, 0, 1), {"tca": "Exif.CanonLiOp.DigitalLensOptimizer"}),
    "all-on": ((1, 1, 1, 1), {"vignetting": "Exif.CanonVigCor2.PeripheralLightingSetting",
                              "tca": "Exif.CanonVigCor2.ChromaticAberrationSetting",
                              "distortion": "Exif.CanonVigCor2.DistortionCorrectionSetting"}),
}


@needs_exiftool
@pytest.mark.parametrize("case", list(_CANON_CASES))
def test_canon_maker_note_flags_in_a_1ds_mark_iii_jpeg(tmp_path, case):
    """exiftool reads the Canon flags back as written (On/Off) next to the CR2's own maker note
    (LensType EF 50mm f/1.2L USM); with a profile holding all three corrections, `l2 correct`
    skips exactly the flagged ones, citing the first flag of each (VignettingCorr2 before
    LightingOpt), and `--force` corrects all three."""
    flags, skipped = _CANON_CASES[case]
    if case == "m50-settings":
        m50 = _exiftool_tags(shared_file(CANON_M50_CR3), "-n", *(f"-Canon:{n}" for n in _CANON_NAMES))
        assert tuple(m50[f"Canon:{n}"] for n in _CANON_NAMES) == flags
    src = _canon_jpeg(tmp_path / "IMG_0001.JPG", flags)
    truth = _exiftool_tags(src, *(f"-Canon:{n}" for n in _CANON_NAMES), "-Canon:LensType", "-IFD0:Model",
                           "-Canon:Quality", "-Canon:VignettingCorrVersion")
    assert truth["IFD0:Model"] == "Canon EOS-1Ds Mark III" and truth["Canon:LensType"] == "Canon EF 50mm f/1.2L USM"
    assert truth["Canon:Quality"] == "Fine"
    assert [truth[f"Canon:{n}"] for n in _CANON_NAMES] == [("On" if f else "Off") for f in flags[:4]]
    if len(flags) > 4:
        # numeric: exiftool 12.57 prints this value "Stanard" (a typo in its Canon.pm)
        assert _exiftool_tags(src, "-n", "-Canon:DigitalLensOptimizer")["Canon:DigitalLensOptimizer"] == 1
    profile = tmp_path / "ef50.xml"
    profile.write_text(_EF50_PROFILE)
    res = _correct(src, tmp_path / "out.jpg", "--profile", str(profile))
    assert _applied(res) == {c: c not in skipped for c in CORRECTIONS}, res["lens"]["corrections"]
    why = _reasons(res)
    for c, key in skipped.items():
        assert why[c] == _flag_reason(key, "Standard" if key.endswith("DigitalLensOptimizer") else "On")
    assert _l2tech_corrections(tmp_path / "out.jpg") == ",".join(c for c in CORRECTIONS if c not in skipped)
    if case == "all-on":
        res = _correct(src, tmp_path / "forced.jpg", "--profile", str(profile), "--force")
        assert _applied(res) == {c: True for c in CORRECTIONS}
        assert _l2tech_corrections(tmp_path / "forced.jpg") == "vignetting,tca,distortion"


@needs_exiftool
def test_canon_flags_with_lensfuns_own_profile(tmp_path):
    """Without a user profile, lensfun has only distortion for the EF 50mm f/1.2L: with every flag
    on, distortion is skipped citing DistortionCorrectionSetting, vignetting and
    TCA are left for want of data (not blamed on the flags), and `--force` corrects the
    distortion; `l2 info --json` lists the three corrections done."""
    src = _canon_jpeg(tmp_path / "IMG_0001.JPG", (1, 1, 1, 1))
    rc, info = _l2_json("info", str(src))
    assert rc == 0 and info["corrections_done"] == [
        ["vignetting", "maker note Exif.CanonVigCor2.PeripheralLightingSetting = On"],
        ["tca", "maker note Exif.CanonVigCor2.ChromaticAberrationSetting = On"],
        ["distortion", "maker note Exif.CanonVigCor2.DistortionCorrectionSetting = On"]]
    res = _correct(src, tmp_path / "out.jpg")
    assert res["lens"]["lens"] == "Canon EF 50mm f/1.2L USM" and res["lens"]["sources"]["profile"] == "database"
    assert _applied(res) == {c: False for c in CORRECTIONS}
    why = _reasons(res)
    assert why["distortion"] == _flag_reason("Exif.CanonVigCor2.DistortionCorrectionSetting", "On")
    assert "maker note" not in why["vignetting"] and "maker note" not in why["tca"], why
    forced = _correct(src, tmp_path / "forced.jpg", "--force")
    assert _applied(forced) == {"vignetting": False, "tca": False, "distortion": True}


# ---------------------------------------------------------------------------------------------
# Canon: the PowerShot SX60 HS's own JPEG (lensfun: distortion and TCA for its lens)


@needs_exiftool
@pytest.mark.parametrize("ca", [1, 0])
def test_canon_chromatic_aberration_flag_in_the_sx60_jpeg(tmp_path, ca):
    """The SX60 HS JPEG as the camera wrote it, with a VignettingCorr2 added by exiv2 (the
    compact's maker note has none): ChromaticAberrationSetting On skips the TCA correction citing
    it, Off leaves it corrected; distortion is skipped either way by the fixed-lens compact rule;
    `--force` corrects both."""
    src = shutil.copyfile(shared_file(SX60), tmp_path / "IMG_0001.JPG")
    _exiv2_set(src, _canon_flags(0, ca, 0, 0))
    truth = _exiftool_tags(src, "-Canon:ChromaticAberrationSetting", "-Canon:PeripheralLightingSetting",
                           "-Canon:DistortionCorrectionSetting", "-IFD0:Model")
    assert truth["IFD0:Model"] == "Canon PowerShot SX60 HS"
    assert truth["Canon:ChromaticAberrationSetting"] == ("On" if ca else "Off")
    assert truth["Canon:PeripheralLightingSetting"] == truth["Canon:DistortionCorrectionSetting"] == "Off"
    res = _correct(src, tmp_path / "out.jpg")
    assert _applied(res)["tca"] is (not ca) and _applied(res)["distortion"] is False
    why = _reasons(res)
    assert why["distortion"].startswith("already corrected: fixed-lens compacts correct their lens's distortion")
    if ca:
        assert why["tca"] == _flag_reason("Exif.CanonVigCor2.ChromaticAberrationSetting", "On")
        forced = _correct(src, tmp_path / "forced.jpg", "--force")
        assert _applied(forced)["tca"] is True and _applied(forced)["distortion"] is True
