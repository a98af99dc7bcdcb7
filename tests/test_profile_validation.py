"""Absurd profile numbers are refused in one place, for every family (issue 16 item 3).

Each hostile case used to give garbage with exit 0 or a traceback: lensfun ptlens ±1e308 (an
all-black image), TCA ``vr=1000, vb=-5`` (garbled channels), a Gyroflow ``calib_dimension`` of
10¹² px (accepted), a Gyroflow coefficient of 10**400 (an uncaught OverflowError). Now each is
an :class:`~l2tech.errors.InvalidProfileError` (or, for a lensfun database, the lens skipped
with a one-line warning) naming the file, the lens and the field, and the command exits 1.
The trusted reference for the ranges is lensfun's own database: every lens in it passes, as
does every real profile in the shared test data.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_DATA
from l2tech.errors import CorruptInputError, InvalidProfileError
from l2tech.profiles.lensfun_xml import LensfunDataWarning, bundled_db_dir, parse_lensfun_xml
from l2tech.profiles.sources import read_profile, read_profiles
from l2tech.profiles.validate import profile_problem, validate_profile

_LENS = """<lensdatabase version="1">
    <lens>
        <maker>Test</maker>
        <model>Test 24mm f/2.8</model>
        <mount>Canon EF</mount>
        <cropfactor>1</cropfactor>
        <calibration>{cal}</calibration>
    </lens>
</lensdatabase>
"""

PTLENS_HUGE = '<distortion model="ptlens" focal="24" a="1e308" b="-1e308" c="0"/>'
TCA_ABSURD = '<tca model="poly3" focal="24" vr="1000" vb="-5"/>'

_GYRO = {
    "name": "Test", "calibrated_by": "test", "camera_brand": "Test", "camera_model": "Cam", "lens_model": "Lens",
    "calib_dimension": {"w": 1920, "h": 1080},
    "fisheye_params": {"camera_matrix": [[1000.0, 0.0, 960.0], [0.0, 1000.0, 540.0], [0.0, 0.0, 1.0]],
                       "distortion_coeffs": [0.01, -0.002, 0.0003, 0.0]},
}


def _l2(*args):
    return subprocess.run([sys.executable, "-m", "l2tech.cli", *args], capture_output=True, text=True, timeout=180,
                          env=os.environ.copy())


def _no_traceback(proc):
    assert "Traceback" not in proc.stderr and "unexpected" not in proc.stderr, proc.stderr


def _sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _error_line(proc) -> str:
    """The one ``error (Type): ...`` line on stderr (a batch also prints warnings there)."""
    hits = [ln for ln in proc.stderr.splitlines() if ln.startswith("error")]
    assert len(hits) == 1, proc.stderr
    return hits[0]


@pytest.mark.parametrize("cal, field", [(PTLENS_HUGE, "a = 1e+308"), (TCA_ABSURD, "vr = 1000")])
def test_lensfun_absurd_terms_skip_the_lens_naming_file_lens_field(tmp_path, cal, field):
    xml = tmp_path / "mine.xml"
    xml.write_text(_LENS.format(cal=cal))
    with pytest.warns(LensfunDataWarning) as rec:
        data = parse_lensfun_xml(xml)
    assert data.lenses == ()
    msg = str(rec[0].message)
    assert msg.startswith(f"{xml}: lens 'Test Test 24mm f/2.8' skipped: ") and field in msg
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LensfunDataWarning)
        with pytest.raises(InvalidProfileError, match="without any usable lens"):
            read_profiles(xml)


def test_tca_vb_below_range_is_named():
    from l2tech.profiles.model import LensProfile, TCACalibration

    prof = LensProfile("T", "L", tca=(TCACalibration("poly3", 24.0, {"vr": 1.0, "vb": -5.0}),))
    assert "vb = -5 is outside [0.9, 1.1]" in profile_problem(prof)


def test_correct_with_absurd_lensfun_profile_exits_1_nothing_written(tmp_path):
    import cv2

    xml = tmp_path / "bad.xml"
    xml.write_text(_LENS.format(cal=PTLENS_HUGE))
    img = tmp_path / "in.jpg"
    cv2.imwrite(str(img), np.full((40, 60, 3), 100, np.uint8))
    before = _sha256(img), _sha256(xml)
    out = tmp_path / "out"
    proc = _l2("correct", str(img), "--profile", str(xml), "--focal-length", "24", "-o", str(out) + "/")
    assert proc.returncode == 1
    _no_traceback(proc)
    assert "InvalidProfileError" in proc.stderr and "a = 1e+308" in proc.stderr
    assert not out.exists() or list(out.iterdir()) == []
    assert (_sha256(img), _sha256(xml)) == before


# -- every profile family through `l2 correct --profile FILE` -----------------------------------

def _lensfun_xml(cal: str) -> bytes:
    return _LENS.format(cal=cal).encode()


def _lcp_file(k1) -> bytes:
    from test_interop_lcp import _entry, _lcp  # the LCP builder of the LCP reader's tests

    return _lcp(_entry(24, 1000, 4.0, 0.72, k1, 0.06))


def _opencv_yaml(fx="500.", k1="-0.1", width="640") -> bytes:
    return (f"%YAML:1.0\nimage_width: {width}\nimage_height: 480\n"
            "camera_matrix: !!opencv-matrix\n   rows: 3\n   cols: 3\n   dt: d\n"
            f"   data: [ {fx}, 0., 320., 0., 500., 240., 0., 0., 1. ]\n"
            "distortion_coefficients: !!opencv-matrix\n   rows: 1\n   cols: 5\n   dt: d\n"
            f"   data: [ {k1}, 0.02, 0., 0., 0. ]\n").encode()


def _dng_opcodes(op) -> bytes:
    """A small DNG (tifffile) whose OpcodeList3 (tag 51022) holds ``op``, as test_interop_dng.py builds them."""
    import io

    import tifffile

    from l2tech.profiles.dng_opcodes import encode_opcode_list

    b = encode_opcode_list([op])
    tags = [(50706, "B", 4, (1, 4, 0, 0), True), (271, "s", 0, "TestMaker", True), (272, "s", 0, "TestCam", True),
            (51022, 7, len(b), b, True)]
    buf = io.BytesIO()
    tifffile.imwrite(buf, np.zeros((8, 12), np.uint16), photometric="minisblack", extratags=tags)
    return buf.getvalue()


def _warp(kr1):
    from l2tech.profiles.dng_opcodes import DngOpcode

    return DngOpcode(1, "WarpRectilinear", 0x01030000, 1, {"planes": ((1.0, kr1, 0.0, 0.0, 0.0, 0.0),), "cx": 0.5, "cy": 0.5})


def _vignette(k0):
    from l2tech.profiles.dng_opcodes import DngOpcode

    return DngOpcode(3, "FixVignetteRadial", 0x01030000, 1, {"k": (k0, 0.0, 0.0, 0.0, 0.0), "cx": 0.5, "cy": 0.5})


def _rw2(a: int) -> bytes:
    """A minimal RW2 (header ``IIU\\0``, IFD0 with one entry): PanasonicRaw 0x0119 DistortionInfo, 16 int16
    words (exiftool PanasonicRaw.pm): word 7 = 1 switches the correction on, ``a = w8 / 32768``."""
    w = [0] * 16
    w[7], w[8], w[12] = 1, a, 2280
    return (b"IIU\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHII", 0x0119, 7, 32, 26)
            + struct.pack("<I", 0) + struct.pack("<16h", *w))


# (id, profile file name, its bytes, error type, in the error line, in a warning line or None).
# The lens is named where the reader has a name for it when it refuses: the lensfun lens (in the
# warning that skips it: the error is then "no usable lens"), the LCP's Lens, the Gyroflow
# camera/lens, an OpenCV file's stem (its lens name) in the range refusals. The OpenCV reader's
# own checks (fx <= 0, NaN) name the file and the field; an LCP entry skipped names its Lens and field; a
# DNG opcode is refused by the opcode-list parser, naming the list, the opcode and the field
# (no lens name is known there); an RW2 names tag 0x0119.
FAMILY_CASES = [
    ("lensfun-tca-linear-kr1000-kb-5", "mine.xml",
     lambda: _lensfun_xml('<tca model="linear" focal="24" kr="1000" kb="-5"/>'), "InvalidProfileError",
     "lensfun XML without any usable lens",
     "lens 'Test Test 24mm f/2.8' skipped: tca linear at 24.0 mm: kr = 1000 is outside [0.9, 1.1]"),
    ("lensfun-tca-poly3-vb-5", "mine.xml",
     lambda: _lensfun_xml('<tca model="poly3" focal="24" vr="1" vb="-5"/>'), "InvalidProfileError",
     "lensfun XML without any usable lens",
     "lens 'Test Test 24mm f/2.8' skipped: tca poly3 at 24.0 mm: vb = -5 is outside [0.9, 1.1]"),
    ("lcp-radial-1e308", "canon.lcp", lambda: _lcp_file(1e308), "InvalidProfileError",
     "lens 'Canon EF24-105mm f/4L IS USM' refused: distortion adobe_rectilinear at 24.0 mm: "
     "RadialDistortParam1 = 1e+308 is outside [-1e+07, 1e+07]", None),
    ("lcp-radial-nan", "canon.lcp", lambda: _lcp_file("nan"), "InvalidProfileError",
     "none of the 1 LCP entries (lens 'Canon EF 24-105mm f/4L IS USM') is usable; each skipped entry names its field",
     "LCP lens 'Canon EF 24-105mm f/4L IS USM' entry 1 PerspectiveModel: RadialDistortParam1 is nan; expected a finite number; entry skipped"),
    ("opencv-k1-1e300", "calib.yaml", lambda: _opencv_yaml(k1="1e300"), "InvalidProfileError",
     "lens 'calib' refused: distortion opencv at 0.0 mm: k1 = 1e+300 is outside [-1e+07, 1e+07]", None),
    ("opencv-k1-nan", "calib.yaml", lambda: _opencv_yaml(k1=".nan"), "InvalidProfileError",
     "field k1 is nan; expected a finite number", None),
    ("opencv-fx-negative", "calib.yaml", lambda: _opencv_yaml(fx="-500."), "InvalidProfileError",
     "field camera_matrix[0][0] (fx) is -500; expected > 0", None),
    ("opencv-fx-zero", "calib.yaml", lambda: _opencv_yaml(fx="0."), "InvalidProfileError",
     "field camera_matrix[0][0] (fx) is 0; expected > 0", None),
    ("opencv-width-1e12", "calib.yaml", lambda: _opencv_yaml(width="1e12"), "InvalidProfileError",
     "lens 'calib' refused: calib_width_px = 1e+12 is outside [1, 100000]", None),
    ("gyroflow-calib-1e12", "gyro.json",
     lambda: json.dumps({**_GYRO, "calib_dimension": {"w": 10**12, "h": 10**12}}).encode(), "InvalidProfileError",
     "lens 'Test Cam Lens' refused: calib_width_px = 1e+12 is outside [1, 100000]", None),
    ("dng-warp-rectilinear-kr1-1e300", "shot.dng", lambda: _dng_opcodes(_warp(1e300)), "CorruptInputError",
     "OpcodeList3 opcode 0 (WarpRectilinear): plane 0 kr1 = 1e+300 is outside [-1e+07, 1e+07]", None),
    ("dng-warp-rectilinear-kr1-nan", "shot.dng", lambda: _dng_opcodes(_warp(float("nan"))), "CorruptInputError",
     "OpcodeList3 opcode 0 (WarpRectilinear): plane 0 kr1 = nan is not a finite number", None),
    ("dng-fix-vignette-radial-k0-1e300", "shot.dng", lambda: _dng_opcodes(_vignette(1e300)), "CorruptInputError",
     "OpcodeList3 opcode 0 (FixVignetteRadial): k0 = 1e+300 is outside [-1e+07, 1e+07]", None),
    ("rw2-0x0119-folds", "shot.rw2", lambda: _rw2(-32768), "InvalidProfileError",
     "PanasonicRaw 0x0119 correction folds at raw radius", None),
]


@pytest.mark.parametrize("name, build, etype, error, warning",
                         [pytest.param(*c[1:], id=c[0]) for c in FAMILY_CASES])
def test_correct_refuses_an_absurd_profile_of_every_family(tmp_path, name, build, etype, error, warning):
    """``l2 correct IMG --profile FILE`` with a hostile profile of each family the project reads:
    exit 1, one typed error line naming the file and the field (and the lens, where the family
    names one), no traceback, nothing in the output folder (no temp file), the image and the
    profile unchanged byte for byte."""
    import cv2

    img = tmp_path / "in.png"
    assert cv2.imwrite(str(img), np.full((40, 60, 3), 100, np.uint8))
    prof = tmp_path / name
    prof.write_bytes(build())
    before = _sha256(img), _sha256(prof)
    out = tmp_path / "out"
    proc = _l2("correct", str(img), "--profile", str(prof), "--focal-length", "24", "-o", str(out) + "/")
    assert proc.returncode == 1, proc.stderr
    _no_traceback(proc)
    line = _error_line(proc)
    assert line.startswith(f"error ({etype}): {prof}: ") and error in line, line
    if warning is not None:
        warned = [ln for ln in proc.stderr.splitlines() if ln.startswith("warning")]
        assert len(warned) == 1 and warned[0].startswith(f"warning: {prof}: {warning}"), proc.stderr
    assert proc.stdout == "", proc.stdout  # refused once, before any input: no batch was started
    assert not out.exists() or list(out.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir() if p != out) == sorted(["in.png", name])
    assert (_sha256(img), _sha256(prof)) == before


def test_the_family_cases_are_sane_without_the_absurd_number(tmp_path):
    """The builders above make profiles the readers accept: with a plausible number in place of
    the absurd one each reads (so the refusals come from the number, not a broken file)."""
    sane = {
        "mine.xml": _lensfun_xml('<tca model="linear" focal="24" kr="1.0002" kb="0.9998"/>'),
        "canon.lcp": _lcp_file(-0.18),
        "calib.yaml": _opencv_yaml(),
        "gyro.json": json.dumps(_GYRO).encode(),
        "warp.dng": _dng_opcodes(_warp(-0.02)),
        "vignette.dng": _dng_opcodes(_vignette(0.2)),
        "shot.rw2": _rw2(-1000),
    }
    for name, data in sane.items():
        p = tmp_path / name
        p.write_bytes(data)
        assert validate_profile(read_profile(p), p).name, name


@pytest.mark.parametrize("op, error", [
    (lambda: _warp(1e300), "OpcodeList3 opcode 0 (WarpRectilinear): plane 0 kr1 = 1e+300 is outside [-1e+07, 1e+07]"),
    (lambda: _vignette(1e300), "OpcodeList3 opcode 0 (FixVignetteRadial): k0 = 1e+300 is outside [-1e+07, 1e+07]"),
    (lambda: _vignette(float("nan")), "OpcodeList3 opcode 0 (FixVignetteRadial): k0 = nan is not a finite number"),
], ids=["warp-kr1-1e300", "vignette-k0-1e300", "vignette-k0-nan"])
def test_develop_dng_with_absurd_opcode_list3_exits_1_nothing_written(tmp_path, op, error):
    """``l2 develop`` applies a DNG's OpcodeList3 itself at decode. An absurd WarpRectilinear or
    FixVignetteRadial coefficient there gave an all-black image with exit 0 (mean code 0.02 of
    255; NaN: 0); now the opcode list is refused where it is parsed, naming the file, the list,
    the opcode and the field. The synthetic CFA DNG is test_raw_opcodes.py's."""
    from test_raw_opcodes import _write

    dng = _write(tmp_path / "shot.dng", {3: (op(),)})
    before = _sha256(dng)
    out = tmp_path / "out"
    proc = _l2("develop", str(dng), "-o", str(out) + "/")
    assert proc.returncode == 1, proc.stderr
    _no_traceback(proc)
    line = _error_line(proc)
    assert line.startswith(f"error (CorruptInputError): {dng}: ") and error in line, line
    assert not out.exists() or list(out.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir() if p != out) == ["shot.dng"]
    assert _sha256(dng) == before


def test_develop_dng_with_a_plausible_opcode_list3_is_written(tmp_path):
    """The control of the test above: the same DNG with a plausible FixVignetteRadial develops."""
    import cv2

    from test_raw_opcodes import _write

    dng = _write(tmp_path / "shot.dng", {3: (_vignette(0.2),)})
    out = tmp_path / "out"
    proc = _l2("develop", str(dng), "-o", str(out) + "/")
    assert proc.returncode == 0, proc.stderr
    img = cv2.imread(str(out / "shot.jpg"))
    assert img is not None and img.mean() > 50  # not the black frame the absurd coefficient gave


def _gyro(tmp_path, **change):
    doc = json.loads(json.dumps(_GYRO))
    for k, v in change.items():
        doc[k] = v
    return doc


def test_gyroflow_calib_dimension_1e12_refused(tmp_path):
    p = tmp_path / "huge.json"
    p.write_text(json.dumps(_gyro(tmp_path, calib_dimension={"w": 10**12, "h": 10**12})))
    with pytest.raises(InvalidProfileError, match=r"lens .* refused: calib_width_px = 1e\+12 is outside \[1, 100000\]") as info:
        read_profile(p)
    assert str(info.value).startswith(str(p))


def test_gyroflow_coefficient_10_pow_400_is_a_typed_error_not_overflow(tmp_path):
    p = tmp_path / "overflow.json"
    doc = _gyro(tmp_path)
    doc["fisheye_params"]["distortion_coeffs"][0] = 10**400
    # json.dumps writes the 401-digit integer literally, as a hostile file would hold it
    p.write_text(json.dumps(doc))
    with pytest.raises(InvalidProfileError, match="distortion_coeffs|401 digits"):
        read_profile(p)
    before = _sha256(p)
    proc = _l2("lens", "show-file", str(p))
    assert proc.returncode == 1
    _no_traceback(proc)
    assert "InvalidProfileError" in proc.stderr and "overflow.json" in proc.stderr
    assert _sha256(p) == before


def test_video_with_absurd_gyroflow_profile_exits_1(tmp_path):
    from l2tech.video.synth import numbered_frames, write_clip

    clip = tmp_path / "c.mp4"
    write_clip(clip, numbered_frames(3, 64, 48))
    p = tmp_path / "huge.json"
    p.write_text(json.dumps(_gyro(tmp_path, calib_dimension={"w": 10**12, "h": 10**12})))
    before = _sha256(clip), _sha256(p)
    out = tmp_path / "o.mp4"
    proc = _l2("video", str(clip), "--profile", str(p), "-o", str(out))
    assert proc.returncode == 1
    _no_traceback(proc)
    assert "InvalidProfileError" in proc.stderr and "calib_width_px" in proc.stderr
    assert not out.exists()
    assert sorted(q.name for q in tmp_path.iterdir()) == ["c.mp4", "huge.json"]  # no temp file either
    assert (_sha256(clip), _sha256(p)) == before


def test_every_lens_of_the_lensfun_database_passes():
    # the reference: lensfun's database (1304 lenses) must load without one lens refused
    files = sorted(bundled_db_dir().glob("*.xml"))
    assert files
    with warnings.catch_warnings():
        warnings.simplefilter("error", LensfunDataWarning)
        n = sum(len(parse_lensfun_xml(f).lenses) for f in files)
    assert n > 1200


def test_every_real_profile_in_the_shared_data_passes():
    folder = SHARED_DATA / "profiles"
    if not folder.is_dir():
        pytest.skip(f"shared test data not found: {folder}")
    files = [p for p in sorted(folder.rglob("*")) if p.suffix.lower() in (".json", ".yaml", ".yml", ".lcp", ".xml")]
    assert files
    for f in files:
        try:
            profs = read_profiles(f)
        except InvalidProfileError as exc:
            assert "refused" not in str(exc), exc  # other reasons (no calibration) are the file's own
            continue
        for prof in profs:
            assert validate_profile(prof, f) is prof


def test_unexpected_parser_exception_is_reported_as_corrupt(tmp_path, monkeypatch):
    import l2tech.profiles.gyroflow as gyroflow

    def boom(path):
        raise OverflowError("int too large to convert to float")

    monkeypatch.setattr(gyroflow, "read_gyroflow", boom)
    p = tmp_path / "x.json"
    p.write_text(json.dumps(_GYRO))
    with pytest.raises(CorruptInputError, match="unexpected OverflowError"):
        read_profiles(p)


def _gain_map(gain: float):
    from l2tech.optics.dng import GainMapParams
    from l2tech.profiles.dng_opcodes import DngOpcode

    gains = np.full((2, 2, 1), 1.5, np.float32)
    gains[1, 1, 0] = gain
    gm = GainMapParams(0, 0, 16, 16, 0, 1, 1, 1, 2, 2, 1.0, 1.0, 0.0, 0.0, 1, gains)
    return DngOpcode(9, "GainMap", 0x01030000, 0, {"gain_map": gm})


def _map_polynomial(c1: float):
    from l2tech.profiles.dng_opcodes import DngOpcode

    return DngOpcode(8, "MapPolynomial", 0x01030000, 0, {"top": 0, "left": 0, "bottom": 16, "right": 16, "plane": 0,
                                                         "planes": 1, "row_pitch": 1, "col_pitch": 1, "degree": 1,
                                                         "coefficients": (0.0, c1)})


@pytest.mark.parametrize("op, error", [
    (lambda: _gain_map(float("nan")), "OpcodeList2 opcode 0 (GainMap): gain 3 = nan is not a finite number within [-1000, 1000]"),
    (lambda: _gain_map(1e30), "OpcodeList2 opcode 0 (GainMap): gain 3 = 1e+30 is not a finite number within [-1000, 1000]"),
    (lambda: _map_polynomial(float("inf")), "OpcodeList2 opcode 0 (MapPolynomial): coefficient 1 = inf is not a finite number"),
    (lambda: _map_polynomial(1e300), "OpcodeList2 opcode 0 (MapPolynomial): coefficient 1 = 1e+300 is outside [-1e+07, 1e+07]"),
], ids=["gain-nan", "gain-1e30", "polynomial-inf", "polynomial-1e300"])
def test_gain_map_and_map_polynomial_numbers_are_checked_at_the_parser(op, error):
    """GainMap gains and MapPolynomial coefficients (the opcodes a develop applies to the CFA data)
    are finite and bounded like the warp terms; the real ones in the shared data (GoPro HERO6 GPR
    gains 1.0–2.08, the 6D DNG's MapPolynomial 0.0078 / 0.992) parse. Oracle of the encoding:
    the module's own encoder, round-tripped for a plausible value."""
    from l2tech.profiles.dng_opcodes import encode_opcode_list, parse_opcode_list

    with pytest.raises(CorruptInputError) as info:
        parse_opcode_list(encode_opcode_list([op()]), "shot.dng", 2)
    assert error in str(info.value) and "shot.dng" in str(info.value)
    ok = parse_opcode_list(encode_opcode_list([_gain_map(2.0), _map_polynomial(0.99)]), "shot.dng", 2)
    assert float(ok[0].params["gain_map"].gains[1, 1, 0]) == 2.0 and ok[1].params["coefficients"] == (0.0, 0.99)


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["fisheye_params"]["distortion_coeffs"].__setitem__(0, 1e308), "k1 = 1e+308 is outside"),
    (lambda d: d.__setitem__("input_horizontal_stretch", 1e308), "input_horizontal_stretch is 1e+308; expected at most 10"),
    (lambda d: d["fisheye_params"]["camera_matrix"][0].__setitem__(0, 1e-300), "fx = 1e-300 is outside [1, 1e+07]"),
    (lambda d: d["fisheye_params"]["camera_matrix"][0].__setitem__(0, "BIGINT"), "4300 digits"),
])
def test_gyroflow_absurd_numbers_are_one_named_line(tmp_path, capsys, edit, message):
    """From a fresh-clone review: 1e308 in a coefficient printed two RuntimeWarnings before the
    refusal; a stretch of 1e308 escaped as an unexpected ZeroDivisionError (from `l2 video`
    naming no file); fx 1e-300 was accepted; a 5000-digit integer was an unexpected ValueError."""
    import json

    from conftest import shared_file
    from l2tech.cli.main import main

    d = json.loads(shared_file("profiles/gyroflow/GoPro_HERO5_Black_Wide_NO-EIS_4by3.json").read_text())
    edit(d)
    p = tmp_path / "g.json"
    p.write_text(json.dumps(d).replace('"BIGINT"', "1" * 5000))
    assert main(["lens", "show-file", str(p)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RuntimeWarning" not in err and "unexpected" not in err, err
    assert f"error (InvalidProfileError): {p}:" in err and message in err, err


def test_gyroflow_frame_readout_time_1e308_is_left_out_with_one_warning(tmp_path, capsys):
    """A readout of 1e308 ms was kept as the profile's metadata (shown, and written back by
    ``lens convert --to gyroflow``). It is left out with one named warning, and the
    rolling-shutter correction still finds no readout.
    A real profile's 0.0 ("not measured") is kept without a warning."""
    from l2tech.cli.main import main
    from l2tech.profiles.gyroflow import GyroflowDataWarning, readout_for_clip

    p = tmp_path / "ro.json"
    p.write_text(json.dumps(_gyro(tmp_path, frame_readout_time=1e308, fps=30.0)))
    with pytest.warns(GyroflowDataWarning, match=r"ro\.json: frame_readout_time 1e\+308 is not one a camera records"):
        prof = read_profile(p)
    assert "frame_readout_time" not in prof.extra and prof.extra["fps"] == 30.0
    w, h = prof.extra["calib_width_px"], prof.extra["calib_height_px"]
    assert readout_for_clip(prof, w, h, 30.0) is None
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("always")  # as the CLI runs (the suite turns warnings into errors)
        assert main(["lens", "show-file", str(p)]) == 0
    err = capsys.readouterr().err
    assert [ln for ln in err.splitlines() if ln.startswith("warning")] == [
        f"warning: {p}: frame_readout_time 1e+308 is not one a camera records (0 up to 1000 ms); left out"], err
    q = tmp_path / "zero.json"
    q.write_text(json.dumps(_gyro(tmp_path, frame_readout_time=0.0)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_profile(q).extra["frame_readout_time"] == 0.0


def test_opencv_profile_of_another_aspect_names_the_profile_file(tmp_path):
    """From a fresh-clone review: 'profile calibrated at 640x480 does not fit a 500x500 frame'
    named neither the profile nor the lens."""
    import cv2

    img = tmp_path / "sq.png"
    assert cv2.imwrite(str(img), np.full((500, 500, 3), 100, np.uint8))
    prof = tmp_path / "calib.yaml"
    prof.write_bytes(_opencv_yaml())
    proc = _l2("correct", str(img), "--profile", str(prof), "-o", str(tmp_path / "out") + "/")
    assert proc.returncode == 1, proc.stderr
    _no_traceback(proc)
    line = _error_line(proc)
    assert line.startswith(f"error (InvalidProfileError): {prof}: lens ") and \
        "profile calibrated at 640x480 does not fit a 500x500 frame" in line, line


def test_a_file_of_many_lenses_lists_a_dozen_names_not_all(tmp_path):
    """From a fresh-clone review: `--profile` of a 50 000-lens lensfun XML put every name (978 KB)
    in the error, on stderr and in the summary. It lists MAX_NAMES_LISTED and says how many more."""
    from l2tech.errors import UsageError
    from l2tech.profiles.sources import MAX_NAMES_LISTED

    lens = ('<lens><maker>T</maker><model>L{0}</model><mount>M</mount><cropfactor>1</cropfactor>'
            '<calibration><distortion model="poly3" focal="50" k1="-0.01"/></calibration></lens>')
    p = tmp_path / "many.xml"
    p.write_text("<lensdatabase>" + "".join(lens.format(k) for k in range(40)) + "</lensdatabase>")
    with pytest.raises(UsageError) as info:
        read_profile(p)
    msg = str(info.value)
    assert "the file holds 40 lenses" in msg and f"and {40 - MAX_NAMES_LISTED} more" in msg
    assert msg.count("L") < 2 * MAX_NAMES_LISTED + 5 and "L39" not in msg
