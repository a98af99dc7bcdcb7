"""Gyroflow project files (``.gyroflow``) as a motion source of ``l2 video --stabilize`` (issue 12 item 1).

The projects here are built the way Gyroflow writes them (``src/core/lib.rs`` export,
``src/core/util.rs`` ``compress_to_base91``): the IMU samples as bincode ``Vec<TimeIMU>``,
zlib-compressed, basE91 text. The basE91 encoder below follows J. Henke's reference
(``base91.c``); the decoder under test is checked against it and against the first characters
of a project saved by Gyroflow 1.0.1 (the public Gyroflow-to-CSV repository's example).
"""

from __future__ import annotations

import json
import struct
import zlib

import numpy as np
import pytest

from l2tech.errors import CorruptInputError, LimitExceededError
from l2tech.video import gyroflow_project as gp
from l2tech.video.gyroflow_project import base91_decode, decode_raw_imu, read_gyroflow_project

from gyroflow_build import base91_encode, imu_blob


@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 13, 14, 15, 100, 1001])
def test_base91_round_trip(n):
    data = np.random.default_rng(n).integers(0, 256, n, dtype=np.uint8).tobytes()
    assert base91_decode(base91_encode(data)) == data
    assert base91_decode(b" \n" + base91_encode(data).encode() + b"\n") == data  # characters outside the alphabet skipped


def test_base91_decodes_a_project_saved_by_gyroflow():
    # the first 164 characters of gyro_source.raw_imu in VID_20220615_110533_00_001.gyroflow (Gyroflow 1.0.1,
    # EmberLightVFX/Gyroflow-to-CSV example): a zlib stream (78 DA: best compression) of bincode Vec<TimeIMU>
    head = ("q:ako`+ev]b=>LQj=(UwO0gY;O]5[7gYf8DN7FZLU)L?`X#fawnBB5<w]CuuAYR0S12O+y,,xw8e[OWaxckXre2Ut8YwOalB4$I[B"
            "hNq.Vc[*2X.k%H}D(Q_8Vr^g?}f}pn3$*bM/ns,9]DqS,4ilh7XE[(>Fg")
    raw = base91_decode(head)
    assert raw[:2] == b"\x78\xda"
    body = zlib.decompressobj().decompress(raw)
    count, t0, tag = struct.unpack_from("<QdB", body)
    assert (count, t0, tag) == (12094, 0.0, 1)  # 12094 samples, the first at 0 ms with a gyro reading
    assert abs(struct.unpack_from("<d", body, 17)[0]) < 50  # deg/s


def test_raw_imu_layouts_agree():
    rng = np.random.default_rng(1)
    t = np.arange(50) * 2.5
    g = rng.normal(size=(50, 3))
    a = rng.normal(size=(50, 3))
    for accl, magn in ((a, 0), (None, 0), (a, 7)):  # fixed layouts (fast path) and a mixed one (record by record)
        payload = zlib.decompress(base91_decode(imu_blob(t, g, accl, magn)))
        gt, gg, at, aa = decode_raw_imu(payload)
        assert np.array_equal(gt, t) and np.array_equal(gg, g)
        if accl is None:
            assert len(at) == 0 and aa.shape == (0, 3)
        else:
            assert np.array_equal(at, t) and np.array_equal(aa, a)


def test_broken_raw_imu_is_a_typed_error():
    payload = zlib.decompress(base91_decode(imu_blob(np.arange(4.0), np.ones((4, 3)))))
    with pytest.raises(CorruptInputError, match="cut off"):
        decode_raw_imu(payload[:-5])
    bad = bytearray(payload)
    bad[16] = 7  # the first sample's gyro option tag
    with pytest.raises(CorruptInputError, match="option tag 7"):
        decode_raw_imu(bytes(bad))
    with pytest.raises(CorruptInputError, match="claims"):
        decode_raw_imu(struct.pack("<Q", 10**12) + b"\0" * 40)
    with pytest.raises(CorruptInputError, match="after the last sample"):
        decode_raw_imu(payload + b"\0")


def _project(tmp_path, **doc) -> str:
    base = {"title": "Gyroflow data file", "version": 2, "app_version": "1.5.4"}
    p = tmp_path / "clip.gyroflow"
    p.write_text(json.dumps({**base, **doc}))
    return str(p)


def test_zlib_bomb_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(gp, "MAX_IMU_BYTES", 1 << 20)
    blob = base91_encode(zlib.compress(b"\0" * (4 << 20), 9))
    with pytest.raises(LimitExceededError, match="expands beyond"):
        read_gyroflow_project(_project(tmp_path, gyro_source={"raw_imu": blob}))


def test_project_fields(tmp_path):
    t = np.arange(0, 1000, 5.0)
    g = np.column_stack([np.sin(t / 100), np.cos(t / 70), t * 0]) * 10
    doc = {"gyro_source": {"filepath": "/nowhere/clip.MP4", "raw_imu": imu_blob(t, g), "imu_orientation": "XYZ"},
           "offsets": {"0": -12.5, "10000000": -14.5}, "stabilization": {"frame_readout_time": 8.9, "method": "Default",
           "smoothing_params": [{"name": "smoothness", "value": 0.5}]}, "calibration_data": {"calib_dimension": {"w": 0, "h": 0}}}
    pr = read_gyroflow_project(_project(tmp_path, **doc))
    assert np.allclose(pr.imu.gyro_t_s, t / 1000) and np.allclose(pr.imu.gyro_rad_s, np.deg2rad(g))
    # Gyroflow: gyro time = video time − offset; l2tech's offset is gyro − video: +12.5 ms at 0 s, +14.5 ms at 10 s
    assert pr.offset_at(0.0) == pytest.approx(0.0125) and pr.offset_at(5.0) == pytest.approx(0.0135)
    assert pr.offset_at(20.0) == pytest.approx(0.0145)
    assert pr.readout_ms == pytest.approx(8.9) and pr.lens is None  # a 0x0 calibration is no lens
    assert pr.gyro_file == "/nowhere/clip.MP4" and gp.resolve_gyro_file(pr) is None
    assert any("smoothing" in x for x in pr.ignored)
    # the same samples as a JSON array (the uncompressed form Gyroflow also reads)
    arr = [{"timestamp_ms": float(ti), "gyro": list(gi), "accl": None, "magn": None} for ti, gi in zip(t, g)]
    pr2 = read_gyroflow_project(_project(tmp_path, gyro_source={"raw_imu": arr}))
    assert np.array_equal(pr2.imu.gyro_t_s, pr.imu.gyro_t_s) and np.allclose(pr2.imu.gyro_rad_s, pr.imu.gyro_rad_s)


@pytest.mark.parametrize("doc, match", [
    ({"title": "x"}, "not a Gyroflow project"),
    ({"offsets": [1, 2]}, "offsets: expected an object"),
    ({"offsets": {"abc": 1.0}}, "not a time in microseconds"),
    ({"offsets": {"0": "12"}}, "expected a number of milliseconds"),
    ({"gyro_source": {"raw_imu": 12}}, "expected a string or a list"),
    ({"gyro_source": {"raw_imu": "AAAA"}}, "not a zlib stream"),
    ({"gyro_source": {"raw_imu": [{"timestamp_ms": 1, "gyro": [1, 2]}]}}, r"raw_imu\[0\]\.gyro"),
    ({"gyro_source": {}, "stabilization": {"frame_readout_time": 1e9}}, "not a readout time"),
    ({"gyro_source": {}, "stabilization": {"frame_readout_time": "fast"}}, "expected milliseconds"),
    ({"gyro_source": {}, "calibration_data": "nope"}, "calibration_data: expected an object"),
    ({"gyro_source": "clip.mp4"}, "gyro_source: expected an object"),
])
def test_bad_projects_are_typed_errors(tmp_path, doc, match):
    with pytest.raises(CorruptInputError, match=match):
        read_gyroflow_project(_project(tmp_path, **doc))


# -- end to end ------------------------------------------------------------------------------------

def test_project_with_gyro_data_stabilises_the_built_clip(tmp_path, capsys):
    """A project saved "with gyro data" for the built shaky clip of test_video_stabilize_cli: its
    raw_imu (deg/s, 400 Hz, 40 ms ahead of the video), its sync point (Gyroflow offset −40 ms)
    and its lens (calibration_data, OpenCV standard model) are all the command needs: the offset
    is taken as given (40 ms), the lens comes from the project, the gyro's axes are found from the
    frames, and the shake drops by at least 80 % (as with the gyro CSV)."""
    import test_video_stabilize_cli as sc
    from l2tech.video.synth import write_clip

    clip = tmp_path / "shaky.mp4"
    write_clip(clip, sc._render(np.arange(sc.N) / sc.FPS), rate=sc.FPS, options={"crf": "4", "preset": "ultrafast"})
    offset = 0.040
    tg = np.arange(-0.2, sc.N / sc.FPS + 0.2, 1 / 400)
    w = sc.body_rates(tg - offset)
    lens = {"calib_dimension": {"w": sc.W, "h": sc.H}, "orig_dimension": {"w": sc.W, "h": sc.H},
            "distortion_model": "opencv_standard", "use_opencv_standard": True, "camera_brand": "Built", "lens_model": "k1 -0.12",
            "fisheye_params": {"RMS_error": 0.1, "camera_matrix": sc.K.tolist(), "distortion_coeffs": sc.DIST.tolist()}}
    proj = _project(tmp_path, videofile=str(clip), calibration_data=lens, offsets={"0": -1000 * offset},
                    gyro_source={"filepath": str(tmp_path / "gone.bbl"), "raw_imu": imu_blob(1000 * tg, np.degrees(w))},
                    stabilization={"frame_readout_time": 0.0, "method": "Default"})
    out = tmp_path / "out.mp4"
    doc = sc._run([str(clip), "--stabilize", "--gyro", proj, "-o", str(out)], capsys)
    st = doc["stabilization"]
    assert st["mode"] == "gyro" and st["gyro_source"].startswith("Gyroflow project (clip.gyroflow)")
    assert st["sync_offset_ms"] == pytest.approx(40.0, abs=1e-6) and st["sync_confidence"] is None
    assert st["gyro_axes"] == np.eye(3, dtype=int).tolist()
    assert any("gyro offset from the Gyroflow project" in n for n in st["notes"])
    res = doc["results"][0] if "results" in doc else doc
    assert "Gyroflow project clip.gyroflow" in json.dumps(res)  # the lens source named
    got = sc._hf_rms_deg(sc._measured(out, st["crop_zoom"]))
    assert got < 0.2 * sc._truth_hf(), got


def test_simple_project_reads_the_gopro_clip_telemetry(tmp_path, capsys):
    """A "simple" project (no samples saved) for the real GoPro HERO5 clip: the motion data are
    read from gyro_source.filepath (the clip), the sync point and the lens (the HERO5 Wide
    Gyroflow profile as calibration_data) from the project. Same plan as the direct command with
    that profile and ``--gyro-offset``: equal crop zoom and corrections."""
    from conftest import shared_file

    clip = shared_file("video/gopro_hero5_karma_drone.mp4")
    prof = shared_file("profiles/gyroflow/GoPro_HERO5_Black_Wide_NO-EIS_4by3.json")
    proj = _project(tmp_path, videofile=str(clip), calibration_data=json.loads(prof.read_text()),
                    offsets={"0": 22.0}, gyro_source={"filepath": str(clip)})
    a = sc_run(capsys, [str(clip), "--stabilize", "--gyro", proj, "--duration", "2", "-o", str(tmp_path / "a.mp4")])
    b = sc_run(capsys, [str(clip), "--stabilize", "--profile", str(prof), "--gyro-offset", "-22", "--duration", "2",
                        "-o", str(tmp_path / "b.mp4")])
    sa, sb = a["stabilization"], b["stabilization"]
    assert sa["gyro_source"].endswith("motion data from gopro_hero5_karma_drone.mp4")
    assert sa["sync_offset_ms"] == pytest.approx(-22.0) == sb["sync_offset_ms"]
    assert sa["gyro_axes"] == sb["gyro_axes"]
    assert sa["crop_zoom"] == pytest.approx(sb["crop_zoom"], abs=1e-6)
    assert sa["max_correction_deg"] == pytest.approx(sb["max_correction_deg"], abs=1e-9)


def test_project_given_as_profile_is_the_motion_source_too(tmp_path, capsys):
    """Gyroflow users hand over one file: a project given as ``--profile`` with ``--stabilize``
    (and no ``--gyro``) brings its sync point, not only its lens: the same plan as ``--gyro
    PROJECT`` (the offset as the project states it, not searched from the frames), and the
    optical-flow mode still reads no project motion."""
    from conftest import shared_file

    clip = shared_file("video/gopro_hero5_karma_drone.mp4")
    prof = shared_file("profiles/gyroflow/GoPro_HERO5_Black_Wide_NO-EIS_4by3.json")
    proj = _project(tmp_path, videofile=str(clip), calibration_data=json.loads(prof.read_text()),
                    offsets={"0": 31.0}, gyro_source={"filepath": str(clip)})
    a = sc_run(capsys, [str(clip), "--stabilize", "--gyro", proj, "--duration", "2", "-o", str(tmp_path / "a.mp4")])
    b = sc_run(capsys, [str(clip), "--stabilize", "--profile", proj, "--duration", "2", "-o", str(tmp_path / "b.mp4")])
    sa, sb = a["stabilization"], b["stabilization"]
    assert sb["gyro_source"].startswith("Gyroflow project (clip.gyroflow)")
    assert sb["sync_offset_ms"] == pytest.approx(-31.0) == sa["sync_offset_ms"]
    assert sb["sync_confidence"] is None  # taken as given, not searched
    assert sa["crop_zoom"] == pytest.approx(sb["crop_zoom"], abs=1e-9)
    assert sa["max_correction_deg"] == pytest.approx(sb["max_correction_deg"], abs=1e-9)
    c = sc_run(capsys, [str(clip), "--stabilize", "flow", "--profile", proj, "--duration", "1", "-o", str(tmp_path / "c.mp4")])
    assert c["stabilization"]["mode"] == "flow"


def sc_run(capsys, args):
    from l2tech.cli.main import main

    rc = main(["video", *args, "--json", "-q"])
    out = capsys.readouterr().out
    assert rc == 0, out
    return json.loads(out)["results"][0]


# -- readout from the lens profile -----------------------------------------------------------------

@pytest.mark.parametrize("size, fps, expected", [
    ((4000, 3000), 29.97, 33.3666),   # the profile's own mode (calib_dimension, fps, frame_readout_time)
    ((2704, 2028), 29.97, 33.36667),  # a compatible_settings entry of the clip's size
    ((1920, 1080), 29.97, 29.36267),  # SuperView 1080p
    ((1920, 1440), 50.0, 14.0),
    ((854, 480), 29.97, None),        # 16:9 at 29.97: 1080p, 2.7K and 4K modes read out in 29.4, 26.7, 11.1 ms
    ((1280, 960), 29.97, 33.3666),    # 4:3 at 29.97, no mode of that size, but every 4:3 mode agrees (33.37 ms)
    ((1920, 1080), 24.5, None),       # no mode at that rate
])
def test_readout_stated_by_a_gyroflow_profile(size, fps, expected):
    """Values as the HERO5 Wide profile (Gyroflow lens_profiles, CC0) lists them."""
    from conftest import shared_file

    from l2tech.profiles.gyroflow import read_gyroflow, readout_for_clip

    prof = read_gyroflow(shared_file("profiles/gyroflow/GoPro_HERO5_Black_Wide_NO-EIS_4by3.json"))
    got = readout_for_clip(prof, *size, fps)
    if expected is None:
        assert got is None
    else:
        assert got[0] == pytest.approx(expected, abs=1e-9)


def test_stabilize_takes_the_readout_the_profile_states(tmp_path, capsys):
    """The HERO5 clip (854x480 at 29.97 fps) with a copy of its profile that lists that mode
    with a 20 ms readout: the stabiliser corrects a 20 ms rolling shutter and says where it came
    from; ``--readout-ms 0`` turns it off."""
    from conftest import shared_file

    clip = shared_file("video/gopro_hero5_karma_drone.mp4")
    doc = json.loads(shared_file("profiles/gyroflow/GoPro_HERO5_Black_Wide_NO-EIS_4by3.json").read_text())
    doc["compatible_settings"].append({"width": 854, "height": 480, "fps": 29.97, "frame_readout_time": 20.0})
    prof = tmp_path / "hero5.json"
    prof.write_text(json.dumps(doc))
    a = sc_run(capsys, [str(clip), "--stabilize", "--profile", str(prof), "--gyro-offset", "-22", "--duration", "1",
                        "-o", str(tmp_path / "a.mp4")])
    assert a["stabilization"]["readout_ms"] == pytest.approx(20.0)
    assert any("readout 20.00 ms from the lens profile (854x480 at 29.97 fps)" in n for n in a["stabilization"]["notes"])
    b = sc_run(capsys, [str(clip), "--stabilize", "--profile", str(prof), "--gyro-offset", "-22", "--duration", "1",
                        "--readout-ms", "0", "-o", str(tmp_path / "b.mp4")])
    assert b["stabilization"]["readout_ms"] == 0.0


def test_project_problems_are_said(tmp_path, capsys):
    """Found by a new user: a project whose gyro file is gone, or made for another clip, falls
    back to the clip's telemetry with a warning (not silently); ``--stabilize flow`` with
    ``--gyro`` and a readout longer than the frame period are usage errors; a missing project
    is an InputNotFoundError."""
    from conftest import shared_file

    from l2tech.errors import InputNotFoundError

    with pytest.raises(InputNotFoundError):
        read_gyroflow_project(tmp_path / "nope.gyroflow")
    clip = shared_file("video/gopro_hero5_karma_drone.mp4")
    prof = shared_file("profiles/gyroflow/GoPro_HERO5_Black_Wide_NO-EIS_4by3.json")
    proj = _project(tmp_path, videofile="C:\\clips\\GX010042.MP4", calibration_data=json.loads(prof.read_text()),
                    offsets={"0": 22.0}, gyro_source={"filepath": "/gone/GX010042.MP4"})
    a = sc_run(capsys, [str(clip), "--stabilize", "--gyro", proj, "--duration", "1", "-o", str(tmp_path / "a.mp4")])
    st = a["stabilization"]
    assert st["mode"] == "gyro" and st["gyro_source"].endswith("motion data from gopro_hero5_karma_drone.mp4")
    assert any(n.startswith("warning: the Gyroflow project's gyro file /gone/GX010042.MP4 is not here") for n in st["notes"])
    assert any(n.startswith("warning: the Gyroflow project is for GX010042.MP4") for n in st["notes"])
    # --json carries them in the clip's one list of warnings too
    assert any(w.startswith("the Gyroflow project's gyro file /gone/GX010042.MP4 is not here") for w in a["warnings"])
    assert any(w.startswith("the Gyroflow project is for GX010042.MP4") for w in a["warnings"])
    from l2tech.cli.main import main

    assert main(["video", str(clip), "--stabilize", "flow", "--gyro", proj, "-o", str(tmp_path / "b.mp4"), "-q"]) == 2
    assert main(["video", str(clip), "--stabilize", "--profile", str(prof), "--readout-ms", "50", "--duration", "1",
                 "-o", str(tmp_path / "c.mp4"), "-q"]) == 2
    assert not (tmp_path / "b.mp4").exists() and not (tmp_path / "c.mp4").exists()
