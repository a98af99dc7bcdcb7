"""Calibration inputs: target specs, ChArUco boards, video frames (blur skipping), RAW files,
and profile output (per-focal-length merge, fisheye lens type)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import shared_file
from l2tech.calibrate import board_points, detect_target, iter_video_frames, parse_target, read_calibration_image
from l2tech.errors import DecodeError, EmptyFileError, UsageError


def test_parse_target_specs():
    t = parse_target("checkerboard:9x6:25mm")
    assert (t.kind, t.cols, t.rows, t.square_mm, t.n_corners) == ("checkerboard", 9, 6, 25.0, 54)
    c = parse_target("charuco:7x5:40mm:30mm:DICT_4X4_50")
    assert (c.kind, c.cols, c.rows, c.marker_mm, c.dictionary, c.n_corners) == ("charuco", 7, 5, 30.0, "DICT_4X4_50", 24)
    assert parse_target(c.spec) == c and parse_target(t.spec) == t
    for bad in ("checkerboard:9x6", "checkerboard:9x6:-1mm", "charuco:7x5:20mm:30mm", "charuco:7x5:40mm:30mm:DICT_9X9_1", "circles:4x11:20mm"):
        with pytest.raises(UsageError):
            parse_target(bad)
    pts = board_points(t)
    assert pts.shape == (54, 3) and pts[1, 0] == 25.0 and pts[9, 1] == 25.0


def test_charuco_board_found_with_ids():
    import cv2

    target = parse_target("charuco:7x5:40mm:30mm:DICT_4X4_50")
    board = cv2.aruco.CharucoBoard((7, 5), 40.0, 30.0, cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50))
    flat = board.generateImage((700, 500), marginSize=40)
    # a perspective view of the board
    src = np.float32([[0, 0], [699, 0], [699, 499], [0, 499]])
    dst = np.float32([[120, 80], [860, 130], [820, 620], [90, 560]])
    M = cv2.getPerspectiveTransform(src, dst)
    view = cv2.warpPerspective(flat, M, (1000, 700), borderValue=200)
    det = detect_target(view, target)
    assert det.found and len(det.ids) == 24
    # corner id k is at board_points(target)[k] (mm). generateImage scales the 280x200 mm board
    # to fit 620x420 px inside the 40 px margin (2.1 px/mm) and centres it: x offset 56, y 40.
    obj = board_points(target)[det.ids][:, :2]
    scale = min(620 / 280.0, 420 / 200.0)
    flat_px = obj * scale + np.array([40 + (620 - 280 * scale) / 2, 40 + (420 - 200 * scale) / 2])
    expected = cv2.perspectiveTransform(flat_px.reshape(-1, 1, 2).astype(np.float32), M).reshape(-1, 2)
    assert np.max(np.hypot(*(det.corners - expected).T)) < 1.5


def test_video_frames_every_n_and_blur_skipped(tmp_path):
    import av
    import cv2

    path = tmp_path / "clip.mp4"
    rng = np.random.default_rng(0)
    sharp = (rng.random((120, 160)) > 0.5).astype(np.uint8) * 255
    sharp = np.repeat(np.repeat(sharp[::8, ::8], 8, 0), 8, 1)[:120, :160]
    with av.open(str(path), "w") as out:
        st = out.add_stream("mpeg4", rate=10)
        st.width, st.height, st.pix_fmt = 160, 120, "yuv420p"
        st.bit_rate = 4_000_000
        for i in range(12):
            g = sharp if i % 2 == 0 else cv2.GaussianBlur(sharp, (0, 0), 6)
            frame = av.VideoFrame.from_ndarray(np.repeat(g[..., None], 3, 2), format="rgb24")
            for pkt in st.encode(frame):
                out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    got = list(iter_video_frames(path, every=3, blur_threshold=500.0))
    assert [n for n, _, _ in got] == ["clip.mp4#0", "clip.mp4#3", "clip.mp4#6", "clip.mp4#9"]
    kept = [n for n, img, _ in got if img is not None]
    skipped = [(n, r) for n, img, r in got if img is None]
    assert kept == ["clip.mp4#0", "clip.mp4#6"]
    assert all("blurred" in r for _, r in skipped) and len(skipped) == 2
    assert got[0][1].shape == (120, 160, 3) and got[0][1].dtype == np.float32


def test_read_calibration_image_errors(tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(EmptyFileError):
        read_calibration_image(empty)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image at all")
    with pytest.raises(DecodeError, match="junk.png"):
        read_calibration_image(junk)


def test_raw_input_is_linear():
    """RAW calibration shots are developed linear (gamma 1, no auto-bright), as rawpy gives."""
    import rawpy

    path = shared_file("raw/decodable/canon_kiss_x4__colorchecker.dng")
    img = read_calibration_image(path)
    with rawpy.imread(str(path)) as raw:
        ref = raw.postprocess(gamma=(1, 1), no_auto_bright=True, output_bps=16, use_camera_wb=True)
    assert img.dtype == np.float32 and img.shape == ref.shape
    np.testing.assert_allclose(img, ref.astype(np.float32) / 65535.0, atol=1e-7)


def test_profile_update_merges_focal_lengths(tmp_path):
    from l2tech.calibrate.output import build_lens_profile, write_profile_xml
    from l2tech.profiles.lensfun_xml import parse_lensfun_xml
    from l2tech.profiles.model import DistortionCalibration

    xml = tmp_path / "zoom.xml"
    for focal, a in ((20.0, 0.01), (60.0, 0.002), (20.0, 0.012)):
        p = build_lens_profile("Testmaker Zoom 20-60mm", "Generic", crop_factor=1.0, aspect_ratio=1.5,
                               distortion=[DistortionCalibration("ptlens", focal, {"a": a, "b": 0.0, "c": 0.0})])
        write_profile_xml(xml, p, update=True)
    lens = parse_lensfun_xml(xml).lenses[0]
    assert [(d.focal_length_mm, d.terms["a"]) for d in lens.distortion] == [(20.0, 0.012), (60.0, 0.002)]
    assert (lens.focal_min_mm, lens.focal_max_mm) == (20.0, 60.0)


def test_cli_fisheye_profile_type(tmp_path, capsys):
    """--fisheye on the sourishg set writes a lensfun fisheye lens that lensfunpy loads."""
    import json

    import lensfunpy

    from l2tech.cli.main import main

    folder = shared_file("calib/fisheye_stereo_sourishg/left1.jpg").parent
    paths = sorted(folder.glob("left*.jpg"), key=lambda p: int(re.findall(r"\d+", p.stem)[0]))[:12]
    xml = tmp_path / "fe.xml"
    rc = main(["calibrate", "distortion", *map(str, paths), "--target", "checkerboard:9x6:24.23mm", "--fisheye",
               "--focal-length", "1.8", "--lens-name", "Testmaker Fisheye", "--model", "poly5", "-o", str(xml), "--json", "-q"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)["focal_lengths"][0]
    assert out["views_used"] == 12 and out["rms_px"] < 0.5
    db = lensfunpy.Database(paths=[str(xml)], load_common=False, load_bundled=False)
    lens = db.lenses[0]
    assert lens.type == lensfunpy.LensType.FISHEYE
    assert lens.calib_distortion[0].model == lensfunpy.DistortionModel.POLY5
