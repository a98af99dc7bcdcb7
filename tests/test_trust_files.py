"""Trust items on real files: each test runs `l2` (or the public function that reads a file) on a
file of ../shared/data, or on a copy of one whose tags were written with exiftool, the way the
camera, Adobe Camera Raw or darktable write them.

The oracle is outside l2tech: exiftool reads back what each variant carries; lensfunpy gives the
vignetting gain of a profile; OpenCV fits the calibration views; darktable-cli (when installed)
makes the darktable exports itself.

- item 1 (never correct twice): Adobe ``crs:`` lens-profile records, darktable histories,
  maker-note flags, DNG opcodes in a real DNG;
- item 7: vignetting held beyond the calibrated corner, ``--vignetting-strength``;
- item 10: ``l2 info`` lists the DNG opcodes of the GoPro GPRs and the Canon DNG;
- item 14: the default 3 px refusal of ``l2 calibrate distortion``.

Canon, Nikon and Sony maker-note flags and the Fujifilm X body rule are tested on JPEGs built
with the exiv2 binding from the shared files' own maker notes: tests/test_trust_flag_files.py and
tests/test_trust_commands.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_DATA, shared_file

EP3 = "raw/jpeg_reference/olympus_e-p3__mzuiko_14-42_II_R_15mm.jpg"
SIXD_JPEG = "raw/jpeg_reference/canon_6d__ef100mm_macro.jpg"
SIXD_DNG = "raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng"

needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")
CORRECTIONS = ("vignetting", "tca", "distortion")


# ---------------------------------------------------------------------------------------------
# helpers


def _l2(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`l2 ARGS` in a new process (the installed entry point's module), text output."""
    return subprocess.run([sys.executable, "-m", "l2tech.cli", *args], capture_output=True, text=True, timeout=timeout,
                          env=env or os.environ.copy())


def _l2_json(*args: str, env: dict | None = None) -> tuple[int, dict]:
    proc = _l2(*args, "--json", env=env)
    assert proc.stdout.strip(), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def _exiftool_write(path: Path, *args: str) -> None:
    """Write tags into ``path`` with exiftool (in place); fail when exiftool changes nothing."""
    out = subprocess.run(["exiftool", "-overwrite_original", *args, str(path)], capture_output=True, text=True)
    assert out.returncode == 0 and "1 image files updated" in out.stdout, (out.stdout, out.stderr)


def _exiftool_tags(path: Path, *args: str) -> dict:
    """exiftool's reading of ``path`` (JSON, group-1 names, printed values unless ``-n`` is in ``args``)."""
    out = subprocess.run(["exiftool", "-j", "-G1", "-a", "-struct", *args, str(path)], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)[0]


def _copy(rel: str, dst: Path) -> Path:
    shutil.copyfile(shared_file(rel), dst)  # the shared files are read-only; the copy is not
    return dst


def _ep3_quarter(dst: Path) -> Path:
    """The E-P3 JPEG at 1/4 size (1008 x 756) carrying all of its metadata, maker notes included
    (copied by exiftool, which also sets the EXIF pixel size as a resizing tool does)."""
    from PIL import Image

    src = shared_file(EP3)
    with Image.open(src) as im:
        im.reduce(4).save(dst, "JPEG", quality=95)
    _exiftool_write(dst, "-tagsFromFile", str(src), "-all:all", "-ExifImageWidth=1008", "-ExifImageHeight=756")
    return dst


def _corrections(result: dict) -> dict[str, bool]:
    return {c: v["applied"] for c, v in result["lens"]["corrections"].items()}


def _reasons(result: dict) -> dict[str, str]:
    return {c: v["reason"] for c, v in result["lens"]["corrections"].items()}


def _l2tech_corrections(path: Path) -> str:
    """What the output says it corrected (its XMP l2tech:Corrections), read by exiftool."""
    return str(_exiftool_tags(path, "-XMP-l2tech:Corrections").get("XMP-l2tech:Corrections", ""))


def _correct(src: Path, out: Path, *opts: str, env: dict | None = None) -> dict:
    rc, doc = _l2_json("correct", str(src), "-o", str(out), "--no-sidecar", *opts, env=env)
    assert rc == 0 and doc["ok"] == 1, doc
    return doc["results"][0]


# ---------------------------------------------------------------------------------------------
# item 1: Adobe Camera Raw's lens profile record (crs:) on the Canon 6D JPEG


#: What Adobe Camera Raw / Lightroom write into the XMP when "Enable Profile Corrections" is on
#: (Adobe XMP Camera Raw schema; the names of the profile are not read by l2tech).
_ADOBE_PROFILE_ON = (
    "-XMP-crs:LensProfileEnable=1", "-XMP-crs:LensProfileSetup=LensDefaults",
    "-XMP-crs:LensProfileName=Adobe (Canon EF 100mm f/2.8L Macro IS USM)",
    "-XMP-crs:LensProfileFilename=Canon EOS-1Ds Mark III (Canon EF 100mm f2.8L Macro IS USM) - RAW.lcp",
    "-XMP-crs:LensProfileDigest=6F3C1D0E2B9A48F7A5C3E1D2B4F60718", "-XMP-crs:LensProfileIsEmbedded=False",
    "-XMP-crs:LensProfileDistortionScale=100", "-XMP-crs:LensProfileChromaticAberrationScale=100",
    "-XMP-crs:LensProfileVignettingScale=100",
)

_CRS_CASES = {
    # the file as Adobe Camera Raw 7.3 wrote it: profile corrections off, nothing to skip
    "as-written": ((), {"vignetting": True, "tca": True, "distortion": True}),
    "profile-on": (_ADOBE_PROFILE_ON, {"vignetting": False, "tca": True, "distortion": False}),
    # the profile's vignetting amount at 0: ACR left the vignetting alone
    "profile-on-vignetting-0": ((*_ADOBE_PROFILE_ON, "-XMP-crs:LensProfileVignettingScale=0"),
                                {"vignetting": True, "tca": True, "distortion": False}),
    "profile-on-and-remove-ca": ((*_ADOBE_PROFILE_ON, "-XMP-crs:AutoLateralCA=1"),
                                 {"vignetting": False, "tca": False, "distortion": False}),
    # settings recorded but not applied to these pixels (crs:AlreadyApplied False)
    "not-applied": ((*_ADOBE_PROFILE_ON, "-XMP-crs:AlreadyApplied=False"),
                    {"vignetting": True, "tca": True, "distortion": True}),
}


@needs_exiftool
@pytest.mark.parametrize("case", list(_CRS_CASES))
def test_adobe_lens_profile_record_skips_what_it_corrected(tmp_path, case):
    """The Canon 6D JPEG came out of Adobe Camera Raw 7.3 and Photoshop with its lens profile
    off (crs:LensProfileEnable 0, AutoLateralCA 0, AlreadyApplied True: exiftool). Written into a
    copy with exiftool, the profile record switches off what ACR corrected: distortion and
    vignetting with the profile (not vignetting when its amount is 0), TCA with "Remove
    Chromatic Aberration" (AutoLateralCA); nothing when the settings were not applied. The
    output's own record (XMP l2tech:Corrections, read by exiftool) lists what was done."""
    args, want = _CRS_CASES[case]
    src = _copy(SIXD_JPEG, tmp_path / "IMG_0309.jpg")
    if args:
        _exiftool_write(src, *args)
    crs = _exiftool_tags(src, "-XMP-crs:all")
    assert str(crs["XMP-crs:LensProfileEnable"]) == ("0" if case == "as-written" else "1")
    assert str(crs["XMP-crs:AlreadyApplied"]) == ("False" if case == "not-applied" else "True")
    assert str(crs["XMP-crs:AutoLateralCA"]) == ("1" if case == "profile-on-and-remove-ca" else "0")
    if args:
        assert str(crs["XMP-crs:LensProfileVignettingScale"]) == ("0" if case == "profile-on-vignetting-0" else "100")
    res = _correct(src, tmp_path / "out.jpg")
    assert _corrections(res) == want
    why = _reasons(res)
    for c in CORRECTIONS:
        if not want[c]:
            evidence = ("Adobe Camera Raw (XMP crs:AutoLateralCA = 1)" if c == "tca"
                        else "Adobe Camera Raw lens profile (XMP crs:LensProfileEnable = 1)")
            assert why[c] == f"the camera or converter already corrected it ({evidence}); --force corrects it again"
    assert _l2tech_corrections(tmp_path / "out.jpg") == ",".join(c for c in CORRECTIONS if want[c])


@needs_exiftool
def test_adobe_lens_profile_record_text_output_and_force(tmp_path):
    """The terminal says which corrections were skipped and why, in one line; `--force` corrects
    all three (the output's record, read by exiftool, says so) and its pixels differ."""
    src = _copy(SIXD_JPEG, tmp_path / "IMG_0309.jpg")
    _exiftool_write(src, *_ADOBE_PROFILE_ON)
    proc = _l2("correct", str(src), "-o", str(tmp_path / "out.jpg"), "--no-sidecar")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert any(re.search(r"✗ vignetting\s+✓ tca\s+✗ distortion$", ln) for ln in lines), proc.stdout
    assert ("  vignetting, distortion not corrected: the camera or converter already corrected it (Adobe Camera Raw "
            "lens profile (XMP crs:LensProfileEnable = 1)); --force corrects it again") in lines, proc.stdout
    res = _correct(src, tmp_path / "forced.jpg", "--force")
    assert _corrections(res) == {c: True for c in CORRECTIONS}
    assert _l2tech_corrections(tmp_path / "forced.jpg") == "vignetting,tca,distortion"
    assert _l2tech_corrections(tmp_path / "out.jpg") == "tca"
    from PIL import Image

    a = np.asarray(Image.open(tmp_path / "out.jpg"), np.float64)
    b = np.asarray(Image.open(tmp_path / "forced.jpg"), np.float64)
    assert np.abs(a - b).mean() > 1.0


# ---------------------------------------------------------------------------------------------
# item 1: darktable's history (the lens module on)


def _darktable_lens_params() -> str:
    """darktable 4.2's lens module parameters, version 6 (src/iop/lens.cc,
    dt_iop_lens_params_v6_t: method lensfun, all three corrections, this shot's lens)."""
    return struct.pack("<iiifffffi128s128siffffi", 1, 7, 0, 1.0, 0.0, 100.0, 4.5, 0.77, 1, b"Canon EOS 6D",
                       b"Canon EF 100mm f/2.8L Macro IS USM", 0, 1.0, 1.0, 1.0, 1.0, 1).hex()


def _darktable_description(lens_items: list[int], history_end: int | None = None) -> str:
    """An rdf:Description holding a darktable history of lens-module items (1 on, 0 off)."""
    p = _darktable_lens_params()
    lis = "".join(f'<rdf:li darktable:num="{i}" darktable:operation="lens" darktable:enabled="{on}" '
                  f'darktable:modversion="6" darktable:params="{p}" darktable:multi_name="" '
                  f'darktable:multi_priority="0"/>' for i, on in enumerate(lens_items))
    end = len(lens_items) if history_end is None else history_end
    return (f'<rdf:Description rdf:about="" xmlns:darktable="http://darktable.sf.net/" darktable:xmp_version="5" '
            f'darktable:history_end="{end}"><darktable:history><rdf:Seq>{lis}</rdf:Seq></darktable:history>'
            "</rdf:Description>")


def _with_darktable_history(src: Path, lens_items: list[int], history_end: int | None = None) -> Path:
    """``src`` with a darktable history added to its XMP packet (the rest of the packet kept),
    written by exiftool."""
    packet = subprocess.run(["exiftool", "-b", "-XMP", str(src)], capture_output=True, check=True).stdout.decode()
    assert "</rdf:RDF>" in packet
    merged = packet.replace("</rdf:RDF>", _darktable_description(lens_items, history_end) + "</rdf:RDF>", 1)
    xmp = src.with_suffix(".xmp")
    xmp.write_text(merged)
    _exiftool_write(src, f"-XMP<={xmp}")
    xmp.unlink()
    return src


_DT_CASES = {
    "lens-on": ([1], None, False),
    "lens-off": ([0], None, True),
    "lens-on-after-history-end": ([0, 1], 1, True),  # the second item is not applied (history_end 1)
    "lens-on-then-off": ([1, 0], None, True),  # the module's last state is off
    "lens-off-then-on": ([0, 1], None, False),
}


@needs_exiftool
@pytest.mark.parametrize("case", list(_DT_CASES))
def test_darktable_history_in_the_file(tmp_path, case):
    """A darktable history embedded in a copy of the Canon 6D JPEG (exiftool reads it back):
    the lens module's state at history_end decides, as darktable applies it (the last item of the
    module up to history_end; darktable src/develop/develop.c). Measured before: "lens on, then
    off" was read as corrected, and nothing was corrected."""
    items, end, corrected = _DT_CASES[case]
    src = _with_darktable_history(_copy(SIXD_JPEG, tmp_path / "IMG_0309.jpg"), items, end)
    tags = _exiftool_tags(src, "-XMP-darktable:all", "-XMP-crs:LensProfileEnable")
    hist = tags["XMP-darktable:History"]
    assert [h["Operation"] for h in hist] == ["lens"] * len(items)
    assert [int(h["Enabled"]) for h in hist] == items
    assert int(tags["XMP-darktable:History_end"]) == (len(items) if end is None else end)
    assert str(tags["XMP-crs:LensProfileEnable"]) == "0"  # the rest of the packet is kept
    res = _correct(src, tmp_path / "out.jpg")
    assert _corrections(res) == {c: corrected for c in CORRECTIONS}
    if not corrected:
        why = ("the camera or converter already corrected it (darktable's lens correction module (XMP "
               "darktable:history)); --force corrects it again")
        assert set(_reasons(res).values()) == {why}
        proc = _l2("correct", str(src), "-o", str(tmp_path / "text.jpg"), "--no-sidecar")
        assert proc.returncode == 0, proc.stderr
        assert f"  vignetting, tca, distortion not corrected: {why}" in proc.stdout.splitlines(), proc.stdout
        assert _corrections(_correct(src, tmp_path / "forced.jpg", "--force")) == {c: True for c in CORRECTIONS}


def _darktable_export(src: Path, items: list[int], out: Path, cfg: Path) -> Path:
    sidecar = out.with_suffix(".xmp")
    sidecar.write_text('<x:xmpmeta xmlns:x="adobe:ns:meta/">'
                       '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
                       + _darktable_description(items) + "</rdf:RDF></x:xmpmeta>")
    r = subprocess.run(["darktable-cli", str(src), str(sidecar), str(out), "--core", "--configdir", str(cfg)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and out.is_file(), r.stdout[-2000:] + r.stderr[-2000:]
    if "version mismatch" in r.stdout + r.stderr:
        pytest.skip("this darktable does not take the lens module's version 6 parameters")
    return out


@needs_exiftool
@pytest.mark.skipif(shutil.which("darktable-cli") is None, reason="darktable-cli is not installed")
def test_darktable_exports_are_judged_by_their_history(tmp_path):
    """darktable-cli itself exports the Canon 6D JPEG three times: lens module off, on, and on
    then off. Its pixels are the oracle: with the module on the corners are brighter (its
    vignetting correction; measured 37 -> 49 of 255 at the top-left corner, the centre
    unchanged), on-then-off is the off export exactly. `l2 correct` skips all three
    corrections of the "on" export only. Measured before: the on-then-off export was taken as
    corrected and left uncorrected."""
    from PIL import Image

    src = _copy(SIXD_JPEG, tmp_path / "IMG_0309.jpg")
    cfg = tmp_path / "dtconf"
    outs = {name: _darktable_export(src, items, tmp_path / f"dt_{name}.jpg", cfg)
            for name, items in (("off", [0]), ("on", [1]), ("on_off", [1, 0]))}
    px = {k: np.asarray(Image.open(v).convert("RGB"), np.float64) for k, v in outs.items()}
    corner = {k: v[:50, :50].mean() for k, v in px.items()}
    centre = {k: v[225:275, 225:275].mean() for k, v in px.items()}
    assert corner["on"] > 1.15 * corner["off"] and abs(centre["on"] / centre["off"] - 1) < 0.02, (corner, centre)
    assert np.abs(px["on_off"] - px["off"]).mean() < 0.5
    for name, corrected in (("off", True), ("on", False), ("on_off", True)):
        tags = _exiftool_tags(outs[name], "-XMP-darktable:all", "-Software")
        assert str(tags["IFD0:Software"]).startswith("darktable")
        lens = [int(h["Enabled"]) for h in tags["XMP-darktable:History"] if h["Operation"] == "lens"]
        assert lens == {"off": [0], "on": [1], "on_off": [1, 0]}[name]
        res = _correct(outs[name], tmp_path / f"l2_{name}.jpg")
        assert _corrections(res) == {c: corrected for c in CORRECTIONS}, (name, res["lens"]["corrections"])


# ---------------------------------------------------------------------------------------------
# item 1: maker-note flags written by the camera


_OLYMPUS_CASES = {
    # as the E-P3 wrote it (DistortionCorrection Off, ShadingCompensation Off): the body's known
    # JPEG behaviour (Micro Four Thirds) still skips distortion
    "as-shot": ((), {"vignetting": True, "tca": True, "distortion": False},
                {"distortion": "already corrected: Micro Four Thirds bodies correct the distortion of Micro Four "
                               "Thirds lenses in their JPEGs; --force corrects it again"}),
    "shading-on": (("-Olympus:ShadingCompensation=On",), {"vignetting": False, "tca": True, "distortion": False},
                   {"vignetting": "the camera or converter already corrected it (maker note "
                                  "Exif.OlympusCs.ShadingCompensation = On); --force corrects it again"}),
    "distortion-on": (("-Olympus:DistortionCorrection=On",), {"vignetting": True, "tca": True, "distortion": False},
                      {"distortion": "the camera or converter already corrected it (maker note "
                                     "Exif.OlympusCs.DistortionCorrection = On); --force corrects it again"}),
}


@needs_exiftool
@pytest.mark.parametrize("case", list(_OLYMPUS_CASES))
def test_olympus_maker_note_flags_on_the_e_p3_jpeg(tmp_path, case):
    """The E-P3 JPEG's own CameraSettings flags (exiftool: Olympus DistortionCorrection and
    ShadingCompensation Off), and copies where exiftool set one of them On, as the body writes
    it when the menu option is on: the flag switches its correction off with the tag as the
    reason; `--force` corrects all three."""
    args, want, reasons = _OLYMPUS_CASES[case]
    src = _ep3_quarter(tmp_path / "P1.jpg")
    if args:
        _exiftool_write(src, *args)
    tags = _exiftool_tags(src, "-Olympus:DistortionCorrection", "-Olympus:ShadingCompensation")
    assert tags["Olympus:ShadingCompensation"] == ("On" if case == "shading-on" else "Off")
    assert tags["Olympus:DistortionCorrection"] == ("On" if case == "distortion-on" else "Off")
    res = _correct(src, tmp_path / "out.jpg")
    assert _corrections(res) == want
    for c, why in reasons.items():
        assert _reasons(res)[c] == why
    assert _l2tech_corrections(tmp_path / "out.jpg") == ",".join(c for c in CORRECTIONS if want[c])
    if case == "shading-on":
        assert _corrections(_correct(src, tmp_path / "forced.jpg", "--force")) == {c: True for c in CORRECTIONS}


# ---------------------------------------------------------------------------------------------
# item 1: DNG opcodes already applied at decode (the Canon 6D DNG with an OpcodeList3)


def _opcode_list(*ops: tuple[int, bytes]) -> bytes:
    """A DNG opcode list (DNG 1.7 spec 7.1): count, then id, DNG version 1.3, flags 0, size, params."""
    return struct.pack(">I", len(ops)) + b"".join(struct.pack(">IIII", i, 0x01030000, 0, len(p)) + p for i, p in ops)


def _warp_rectilinear(kr: tuple[float, float, float, float]) -> tuple[int, bytes]:
    return 1, struct.pack(">I", 1) + struct.pack(">6d", *kr, 0.0, 0.0) + struct.pack(">2d", 0.5, 0.5)


def _fix_vignette_radial(k: tuple[float, ...]) -> tuple[int, bytes]:
    return 3, struct.pack(">5d", *k) + struct.pack(">2d", 0.5, 0.5)


@needs_exiftool
def test_dng_opcodes_in_the_file_are_not_corrected_again(tmp_path):
    """The Canon 6D DNG (EF 24-105mm, in lensfun) with an OpcodeList3 written into its raw IFD
    by exiftool, as a camera that embeds its lens correction does: WarpRectilinear (a barrel
    correction) and FixVignetteRadial. exiftool and `l2 info` list them; `l2 develop` applies
    them at decode and does not correct distortion, TCA and vignetting again, each reason naming
    its opcode; `--profile-source database` leaves list 3 out and corrects with lensfun."""
    dng = _copy(SIXD_DNG, tmp_path / "IMG_0001.dng")
    blob = tmp_path / "ol3.bin"
    blob.write_bytes(_opcode_list(_warp_rectilinear((1.0, 0.02, 0.0, 0.0)),
                                  _fix_vignette_radial((0.3, 0.0, 0.0, 0.0, 0.0))))
    _exiftool_write(dng, "-n", f"-SubIFD:OpcodeList3<={blob}")
    truth = _exiftool_tags(dng, "-OpcodeList2", "-OpcodeList3")
    assert truth["SubIFD:OpcodeList3"] == "WarpRectilinear, FixVignetteRadial"
    rc, doc = _l2_json("info", str(dng))
    assert rc == 0 and doc["dng_opcodes"]["OpcodeList3"] == ["WarpRectilinear", "FixVignetteRadial"]
    rc, doc = _l2_json("develop", str(dng), "-o", str(tmp_path / "dev.jpg"), "--no-sidecar")
    res = doc["results"][0]
    assert rc == 0 and _corrections(res) == {c: False for c in CORRECTIONS}, res["lens"]
    why = _reasons(res)
    for c, op in (("distortion", "WarpRectilinear"), ("tca", "WarpRectilinear"), ("vignetting", "FixVignetteRadial")):
        assert why[c] == (f"corrected by the file's own DNG opcode {op} (OpcodeList3); --profile-source database "
                          "uses the lensfun profile instead")
    assert set(res["dng_opcodes"]) >= {"OpcodeList3:WarpRectilinear", "OpcodeList3:FixVignetteRadial"}
    rc, doc = _l2_json("develop", str(dng), "-o", str(tmp_path / "db.jpg"), "--no-sidecar",
                       "--profile-source", "database")
    res = doc["results"][0]
    assert rc == 0 and _corrections(res) == {c: True for c in CORRECTIONS}, res["lens"]
    assert not any(op.startswith("OpcodeList3") for op in res["dng_opcodes"])
    # the opcodes are applied at decode: without lens correction, the copy's corners are brighter
    # than the original DNG's (FixVignetteRadial, gain 1.3 at the corners in linear light;
    # measured 1.12 after the tone curve), its centre the same (measured 1.001)
    from PIL import Image

    for name, f in (("copy.jpg", dng), ("original.jpg", shared_file(SIXD_DNG))):
        proc = _l2("develop", str(f), "-o", str(tmp_path / name), "--no-sidecar", "--no-lens-correction", "-q")
        assert proc.returncode == 0, proc.stderr
    a, b = (np.asarray(Image.open(tmp_path / n).convert("L"), np.float64) for n in ("original.jpg", "copy.jpg"))
    H, W = a.shape
    h, w = H // 6, W // 6

    def corners(x):
        return np.mean([x[:h, :w].mean(), x[:h, -w:].mean(), x[-h:, :w].mean(), x[-h:, -w:].mean()])

    def centre(x):
        return x[(H - h) // 2 : (H + h) // 2, (W - w) // 2 : (W + w) // 2].mean()

    assert corners(b) / corners(a) > 1.05 and centre(b) / centre(a) == pytest.approx(1.0, abs=0.01)


# Canon, Nikon, Sony: exiftool cannot write these flags into the shared JPEGs (the directories are
# missing), so they are built with the exiv2 binding instead, which creates the maker-note
# directories: tests/test_trust_flag_files.py (a D70 JPEG from the D70 NEF's maker note, a 1Ds Mark III
# JPEG from the CR2 header's, the SX60 HS JPEG) and tests/test_trust_commands.py (a JPEG with the
# ZV-E10 ARW's Sony maker note; the Fujifilm X body rule; Panasonic ShadingCompensation).


# ---------------------------------------------------------------------------------------------
# item 7: vignetting far outside the calibrated circle

#: A pa vignetting profile of the E-P3's lens measured on a sensor 1.528x smaller than the E-P3's
#: (the crop of Nikon's DX profiles over FX): crop factor 2 x 1.528.
_SMALL_SENSOR_PA = """<lensdatabase version="{version}">
 <lens><maker>Olympus</maker><model>Olympus M.Zuiko Digital ED 14-42mm f/3.5-5.6 II R</model>
  <mount>Micro 4/3 System</mount><cropfactor>3.056</cropfactor>
  <calibration>
   <vignetting model="pa" focal="15" aperture="3.6" distance="1000" k1="-0.3" k2="0" k3="0"/>
   <vignetting model="pa" focal="15" aperture="3.6" distance="10" k1="-0.3" k2="0" k3="0"/>
  </calibration></lens>
</lensdatabase>"""
_HELD_GAIN = 1 / (1 - 0.3)  # 1 / (1 + k1 + k2 + k3): the gain at the profile's corner, r = 1


def _srgb_to_linear(a: np.ndarray) -> np.ndarray:
    a = a / 255.0
    return np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4)


def _lensfunpy_gain(W: int, H: int) -> np.ndarray:
    """lensfun's own vignetting gain of the profile on the E-P3 frame (unclamped)."""
    import lensfunpy

    db = lensfunpy.Database(xml=_SMALL_SENSOR_PA.format(version=1))
    cam = db.find_cameras("Olympus Imaging Corp.", "E-P3")[0]
    lens = next(l for l in db.lenses if l.model == "Olympus M.Zuiko Digital ED 14-42mm f/3.5-5.6 II R"
                and abs(l.crop_factor - 3.056) < 1e-3)
    assert cam.crop_factor == 2.0
    mod = lensfunpy.Modifier(lens, cam.crop_factor, W, H)
    mod.initialize(15.0, 3.6, 1000.0, pixel_format=np.float64)
    g = np.ones((H, W, 3), np.float64)
    mod.apply_color_modification(g)
    return g[..., 1]


@needs_exiftool
def test_vignetting_gain_is_held_beyond_the_calibrated_corner_and_scaled_by_strength(tmp_path):
    """The E-P3 JPEG (1/4 size) corrected with a user-folder pa profile of its lens measured on a
    1.528x smaller sensor: the frame's corners reach r = 1.53 of the profile. `l2 correct` warns
    (text and --json) that the gain is held beyond the profile's corner and names
    --vignetting-strength. The gain measured on the written file (output / input in linear light)
    follows lensfunpy's gain inside the calibrated circle and is held at 1 / (1 + k1) = 1.4286
    beyond it, where lensfun would reach 3.34 (measured 1.428, median of 2.2e5 samples);
    `--vignetting-strength 0.5` gives the square root of each gain (measured 1.195 beyond the
    corner, sqrt(1.4286) = 1.1952)."""
    from PIL import Image

    lenses = tmp_path / "lenses"
    lenses.mkdir()
    (lenses / "small-sensor.xml").write_text(_SMALL_SENSOR_PA.format(version=2))
    env = dict(os.environ, L2TECH_LENS_DIR=str(lenses))
    src = _ep3_quarter(tmp_path / "P1.jpg")
    warning = ("vignetting: profile measured on a smaller sensor (crop 3.056) than this camera's (crop 2): the gain is "
               "held at its value at the profile's corner beyond it (radius 1.53x); --vignetting-strength 0..1 lowers "
               "the correction")
    proc = _l2("correct", str(src), "-o", str(tmp_path / "full.jpg"), "--no-sidecar", env=env)
    assert proc.returncode == 0, proc.stderr
    assert f"warning: P1.jpg: {warning}" in proc.stderr.splitlines(), proc.stderr
    res = _correct(src, tmp_path / "half.jpg", "--vignetting-strength", "0.5", env=env)
    assert warning in res["warnings"] and warning in res["lens"]["warnings"]
    assert res["lens"]["sources"]["profile"] == "user" and res["lens"]["crop_factor"] == 2.0
    assert _corrections(res) == {"vignetting": True, "tca": False, "distortion": False}

    x = _srgb_to_linear(np.asarray(Image.open(src).convert("RGB"), np.float64))
    H, W = x.shape[:2]
    lf = _lensfunpy_gain(W, H)
    assert lf.max() > 3.0  # lensfun's extrapolation at the corners
    beyond = (lf > 1.05 * _HELD_GAIN)[..., None]
    for name, s in (("full.jpg", 1.0), ("half.jpg", 0.5)):
        y = _srgb_to_linear(np.asarray(Image.open(tmp_path / name).convert("RGB"), np.float64))
        want = np.minimum(lf, _HELD_GAIN) ** s
        usable = (x > 0.02) & (x * want[..., None] < 0.9)  # away from black and from clipping
        ratio = y / np.where(x > 0, x, 1.0)
        edges = np.linspace(1.0, _HELD_GAIN**s, 8)
        for lo, hi in zip(edges[:-1], edges[1:]):  # inside the calibrated circle: lensfun's gain
            sel = usable & ((want >= lo) & (want < hi))[..., None]
            assert sel.sum() > 10000
            assert np.median(ratio[sel]) == pytest.approx(np.median(np.broadcast_to(want[..., None], x.shape)[sel]),
                                                          rel=0.015), (name, lo, hi)
        sel = usable & beyond
        assert sel.sum() > 10000
        assert np.median(ratio[sel]) == pytest.approx(_HELD_GAIN**s, rel=0.01), name


@needs_exiftool
def test_profile_file_on_a_larger_sensor_plans_at_the_body_crop(tmp_path):
    """The same small-sensor profile given with --profile: the E-P3 (crop 2 in lensfun's camera
    database, lensfunpy and `l2 info --json` planned_crop_factor) must be planned at crop 2, and
    warned about as above. Before the fix: crop 3.056 (the profile's), no warning: the frame
    was corrected as if it were the profile's sensor."""
    prof = tmp_path / "small-sensor.xml"
    prof.write_text(_SMALL_SENSOR_PA.format(version=2))
    src = _ep3_quarter(tmp_path / "P1.jpg")
    rc, info = _l2_json("info", str(src))
    assert rc == 0 and info["planned_crop_factor"] == 2.0
    res = _correct(src, tmp_path / "out.jpg", "--profile", str(prof))
    assert res["lens"]["crop_factor"] == info["planned_crop_factor"]
    assert any("gain is held" in w for w in res["warnings"])


# ---------------------------------------------------------------------------------------------
# item 14: a mis-detected target is refused (3 px)


def test_calibration_of_a_mis_described_board_is_refused_at_3_px(tmp_path):
    """Four of Bouguet's views (9x6 inner corners) described as a 7x5 board: OpenCV's
    findChessboardCornersSB "finds" a 7x5 pattern in each, and cv2.calibrateCamera fits those
    corners at 5.6 px RMS (0.23 px with the true 9x6 description): `l2 calibrate distortion`
    refuses the fit at its default limit (3 px, no --max-rms): exit 1, the RMS (5.53 px after
    its sub-pixel refinement, within 0.3 px of OpenCV's) and the target in the message, no
    profile written."""
    import cv2

    views = [SHARED_DATA / "calib" / "bouguet_stereo" / f"left{i}.jpg" for i in ("06", "08", "09", "12")]
    if not all(v.is_file() for v in views):
        pytest.skip("shared calibration images (calib/bouguet_stereo) are absent")

    def opencv_rms(cols: int, rows: int) -> float:
        obj = np.zeros((cols * rows, 3), np.float32)
        obj[:, :2] = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2) * 25.0
        corners = []
        for v in views:
            ok, c = cv2.findChessboardCornersSB(cv2.imread(str(v), cv2.IMREAD_GRAYSCALE), (cols, rows), flags=0)
            assert ok, v
            corners.append(c)
        return float(cv2.calibrateCamera([obj] * len(corners), corners, (640, 480), None, None)[0])

    cv_wrong, cv_right = opencv_rms(7, 5), opencv_rms(9, 6)
    assert cv_right < 0.5 < 3.0 < cv_wrong
    out = tmp_path / "lens.xml"
    for extra in ((), ("--json",)):
        proc = _l2("calibrate", "distortion", *map(str, views), "--target", "checkerboard:7x5:25mm",
                   "--sensor-width", "4.8", "-o", str(out), *extra)
        assert proc.returncode == 1 and not out.exists(), (proc.stdout, proc.stderr)
        if extra:  # --json: the error as one JSON document on stdout (it printed nothing)
            doc = json.loads(proc.stdout)
            assert doc["error_type"] == "CalibrationError" and doc["exit_code"] == 1
        else:
            assert proc.stdout == ""
        lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error")]
        assert len(lines) == 1, proc.stderr
        m = re.fullmatch(r"error \(CalibrationError\): at [0-9.]+ mm the fit's reprojection RMS is ([0-9.]+) px, "
                         r"above 3 px: the target was mis-detected \(is the board checkerboard:7x5:25mm\? every shot "
                         r"must show that board\); no profile written \(--max-rms raises the limit\)", lines[0])
        assert m, lines[0]
        assert float(m.group(1)) == pytest.approx(cv_wrong, abs=0.3)


# ---------------------------------------------------------------------------------------------
# item 10: `l2 info` shows the DNG opcodes


_OPCODE_FILES = ["raw/codec_unsupported/gopro_hero6_black.gpr", "raw/codec_unsupported/gopro_fusion_front.gpr",
                 SIXD_DNG, "raw/decodable/canon_kiss_x4__colorchecker.dng"]


@needs_exiftool
@pytest.mark.parametrize("rel", _OPCODE_FILES, ids=lambda r: Path(r).name)
def test_info_lists_the_dng_opcodes_exiftool_reads(rel):
    """`l2 info` (text row and --json) lists each opcode list as exiftool names it: the HERO6
    GPR's OpcodeList2 GainMap x4, the Fusion GPR's OpcodeList3 WarpRectilinear, the 6D DNG's
    OpcodeList2 MapPolynomial x3, none in the Kiss X4 DNG."""
    src = shared_file(rel)
    tags = _exiftool_tags(src, "-OpcodeList1", "-OpcodeList2", "-OpcodeList3")
    truth = {f"OpcodeList{n}": [] for n in (1, 2, 3)}
    for k, v in tags.items():
        if k.split(":")[-1] in truth:
            truth[k.split(":")[-1]] = [x.strip() for x in str(v).split(",")]
    rc, doc = _l2_json("info", str(src))
    assert rc == 0 and doc["dng_opcodes"] == truth
    proc = _l2("info", str(src))
    assert proc.returncode == 0, proc.stderr
    row = next(ln for ln in proc.stdout.splitlines() if "DNG opcodes" in ln)
    shown = row.split("│")[2].strip()
    parts = []
    for name, ops in truth.items():
        if ops:
            counts = {op: ops.count(op) for op in dict.fromkeys(ops)}
            parts.append(f"{name}: " + ", ".join(f"{op} x{n}" if n > 1 else op for op, n in counts.items()))
    assert shown == ("; ".join(parts) or "none")
    assert any(truth.values()) == (rel != "raw/decodable/canon_kiss_x4__colorchecker.dng")
