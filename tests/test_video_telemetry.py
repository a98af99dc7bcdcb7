"""Motion telemetry of clips (telemetry-parser) and ``l2 info`` on clips.

Oracles: GoPro's GPMF documentation (gpmf-parser README, sensor rates per model: HERO5 Black
gyroscope 400 Hz, accelerometer 200 Hz nominal; ``GYRO`` values divided by ``SCAL`` are rad/s)
and FFmpeg's own stream parameters (``ffprobe``: h264 854x480, 30000/1001 fps, 362 frames).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import shared_file

GOPRO = "video/gopro_hero5_karma_drone.mp4"
CCTV = "video/fisheye_cctv_1440_circular.mp4"


def test_gopro_telemetry_rates_and_span():
    from l2tech.video.telemetry import telemetry_info

    info = telemetry_info(shared_file(GOPRO))
    assert info is not None and (info.camera, info.model) == ("GoPro", "HERO5 Black")
    rates = {s.kind: s for s in info.streams}
    # nominal 400 / 200 Hz; the camera's clock runs a little slow (measured 397.5 / 199.3 Hz)
    assert rates["gyroscope"].rate_hz == pytest.approx(400, rel=0.01)
    assert rates["accelerometer"].rate_hz == pytest.approx(200, rel=0.01)
    # the samples cover the clip (12.079 s by ffprobe) to within one GPMF payload (1 s)
    assert rates["gyroscope"].start_s == pytest.approx(0.0, abs=1.0)
    assert rates["gyroscope"].end_s == pytest.approx(12.079, abs=1.0)


def test_gopro_gyro_in_rad_per_second_equals_gpmf_scaling():
    """|ω| from read_imu equals |GYRO| / SCAL of the raw GPMF payload, sample by sample."""
    import telemetry_parser

    from l2tech.video.telemetry import read_imu

    path = str(shared_file(GOPRO))
    imu = read_imu(path)
    raw = telemetry_parser.Parser(path).telemetry()[0]["Gyroscope"]
    ref = np.array([[d["x"], d["y"], d["z"]] for d in raw["Data"]], float) / raw["Scale"]
    n = len(ref)
    assert imu.gyro_rad_s.shape[1] == 3 and len(imu.gyro_t_s) > n
    np.testing.assert_allclose(np.linalg.norm(imu.gyro_rad_s[:n], axis=1), np.linalg.norm(ref, axis=1), rtol=1e-9, atol=1e-12)
    assert np.all(np.diff(imu.gyro_t_s) > 0)
    # gravity: the mean accelerometer magnitude of a drone clip is 1 g within 5 %
    assert np.linalg.norm(imu.accl_m_s2, axis=1).mean() == pytest.approx(9.81, rel=0.05)


def test_clip_without_telemetry():
    from l2tech.video.telemetry import read_imu, telemetry_info

    assert telemetry_info(shared_file(CCTV)) is None and read_imu(shared_file(CCTV)) is None


def test_l2_info_on_a_clip(capsys):
    from l2tech.cli.main import main

    rc = main(["info", "--json", str(shared_file(GOPRO))])
    d = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert (d["codec"], d["width"], d["height"], d["frames"]) == ("h264", 854, 480, 362)
    assert d["fps"] == pytest.approx(30000 / 1001, rel=1e-9)
    assert d["audio_streams"] == 1 and d["data_streams"] == 3
    kinds = [s["kind"] for s in d["telemetry"]["streams"]]
    assert kinds == ["gyroscope", "accelerometer"]
    rc = main(["info", str(shared_file(GOPRO)), str(shared_file(CCTV))])
    out = capsys.readouterr().out
    assert rc == 0 and "gyroscope" in out and "HERO5 Black" in out and "1440x1440" in out
