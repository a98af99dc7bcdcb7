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

import json
import os
import subprocess
import sys
import warnings

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
    out = tmp_path / "out"
    proc = _l2("correct", str(img), "--profile", str(xml), "--focal-length", "24", "-o", str(out) + "/")
    assert proc.returncode == 1
    _no_traceback(proc)
    assert "InvalidProfileError" in proc.stderr and "a = 1e+308" in proc.stderr
    assert not out.exists() or list(out.iterdir()) == []


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
    proc = _l2("lens", "show-file", str(p))
    assert proc.returncode == 1
    _no_traceback(proc)
    assert "InvalidProfileError" in proc.stderr and "overflow.json" in proc.stderr


def test_video_with_absurd_gyroflow_profile_exits_1(tmp_path):
    from l2tech.video.synth import numbered_frames, write_clip

    clip = tmp_path / "c.mp4"
    write_clip(clip, numbered_frames(3, 64, 48))
    p = tmp_path / "huge.json"
    p.write_text(json.dumps(_gyro(tmp_path, calib_dimension={"w": 10**12, "h": 10**12})))
    out = tmp_path / "o.mp4"
    proc = _l2("video", str(clip), "--profile", str(p), "-o", str(out))
    assert proc.returncode == 1
    _no_traceback(proc)
    assert "InvalidProfileError" in proc.stderr and "calib_width_px" in proc.stderr
    assert not out.exists()


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
