"""Gyroflow JSON and OpenCV YAML profiles: every shared file loads, renders a chart through the
engine and back to straight lines; the GoPro HERO5 profile de-fishes a real video frame;
bad JSON/YAML/XML is refused with the field named."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import SHARED_DATA, shared_file
from l2tech.correct.maps import correction_maps
from l2tech.errors import CorruptInputError, EmptyFileError, InvalidProfileError, LimitExceededError
from l2tech.optics.kannala_brandt import correction_map_kannala_brandt, simulation_map_kannala_brandt
from l2tech.optics.opencv import camera_matrix, pixel_model_K, simulation_map_opencv
from l2tech.profiles.gyroflow import (
    gyroflow_dict,
    parse_gyroflow,
    pixel_model_from_file,
    read_gyroflow,
)
from l2tech.profiles.interpolate import interpolate
from l2tech.profiles.model import DistortionCalibration, LensCalibration
from l2tech.profiles.opencv_yaml import read_opencv_yaml

TOL_CHART_PX = 0.1  # issue acceptance: chart back to straight lines within 0.1 px

_GYRO = sorted((SHARED_DATA / "profiles" / "gyroflow").glob("*.json")) if SHARED_DATA.is_dir() else []
_YAML = sorted((SHARED_DATA / "profiles" / "opencv_yaml").glob("*.yaml")) if SHARED_DATA.is_dir() else []
# ORB-SLAM2 files give no image size: KITTI 00-02 grey images are 1241x376, TUM fr1 640x480.
_SIZES = {"ORB_SLAM2__Examples_Monocular_KITTI00-02": (1241, 376), "ORB_SLAM2__Examples_Monocular_TUM1": (640, 480)}


def _read(p: Path):
    return read_gyroflow(p) if p.suffix == ".json" else read_opencv_yaml(p)


def test_shared_profile_folders_present():
    shared_file("profiles/gyroflow")
    assert len(_GYRO) == 10 and len(_YAML) == 4


@pytest.mark.parametrize("path", _GYRO + _YAML, ids=lambda p: p.name[:40])
def test_profile_renders_chart_back_to_straight_lines(path):
    prof = _read(path)
    d = prof.distortion[0]
    cal = LensCalibration(prof, d.focal_length_mm, None, None, d, None, None)
    cw, ch = prof.extra.get("calib_width_px"), prof.extra.get("calib_height_px")
    if not cw:
        cw, ch = _SIZES[path.stem]
    s = min(1.0, 800 / cw)  # a smaller frame of the same aspect ratio (exercises calib_dimension)
    W, H = int(round(cw * s)), int(round(ch * s))
    K = pixel_model_K(cal, W, H)
    terms = {k: v for k, v in d.terms.items() if k not in ("fx", "fy", "cx", "cy")}
    if d.model == "kannala_brandt":
        sim = simulation_map_kannala_brandt(W, H, K, terms)
    else:
        sim = simulation_map_opencv(W, H, K, terms)
    # the engine's correction map (compose registry -> our family)
    m = correction_maps(cal, W, H, scale=1.0).maps[0]
    # a chart point c is rendered at sim^-1(c); the corrected pixel o shows the chart point
    # sim(map(o)). Sample it along the chart's grid lines and fit straight lines.
    def shown(xo, yo):
        ox = cv2.remap(sim[..., 0], m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderValue=np.nan)
        oy = cv2.remap(sim[..., 1], m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderValue=np.nan)
        return ox[yo, xo], oy[yo, xo]

    gx, gy = np.meshgrid(np.arange(W), np.arange(H))
    cx_, cy_ = shown(gx, gy)
    ok = np.isfinite(cx_) & np.isfinite(cy_)  # false where the map leaves the frame (scale 1)
    assert ok.mean() > 0.9
    worst = 0.0
    for y in range(8, H - 8, 40):  # horizontal chart lines: the shown y must be constant = y
        row = ok[y]
        worst = max(worst, float(np.abs(cy_[y][row] - y).max()))
    for x in range(8, W - 8, 40):
        col = ok[:, x]
        worst = max(worst, float(np.abs(cx_[:, x][col] - x).max()))
    assert worst <= TOL_CHART_PX, f"{path.name}: residual {worst:.4f} px"


def test_gyroflow_values_and_gyroflow_rules():
    p = shared_file("profiles/gyroflow/Panasonic_DC-S5_20-60mm_f3.5-5.6_20mm_1080p_16by9_1920x1080-50.00fps.json")
    prof = read_gyroflow(p)
    (d,) = prof.distortion
    assert d.model == "kannala_brandt"
    assert d.terms["fx"] == 1144.568556625202 and d.terms["fy"] == 1146.4042508352732
    assert d.terms["k4"] == -0.5039509599461134
    # asymmetrical false -> principal point at the calibration frame centre, as Gyroflow does
    assert (d.terms["cx"], d.terms["cy"]) == (960.0, 540.0)
    assert prof.extra["stored_principal_point_px"] == (957.4367004721428, 550.9354717445825)
    assert (prof.maker, prof.extra["calib_width_px"], prof.extra["calib_height_px"]) == ("Panasonic", 1920, 1080)
    model, K, terms, size, name = pixel_model_from_file(p)
    assert model == "opencv_fisheye" and size == (1920, 1080) and K[0, 2] == 960.0 and set(terms) == {"k1", "k2", "k3", "k4"}


def test_calib_dimension_scaling_matches_gyroflow():
    # Gyroflow get_all_matching_profiles: same aspect ratio -> camera matrix scaled by the ratio
    p = shared_file("profiles/gyroflow/GoPro_HERO8_Black_Wide_NO-EIS_16by9.json")
    prof = read_gyroflow(p)
    d = prof.distortion[0]
    cal = LensCalibration(prof, 0.0, None, None, d, None, None)
    K = pixel_model_K(cal, 1920, 1080)
    assert K[0, 0] == pytest.approx(1758.2587536223355 * 0.5, rel=1e-12)
    assert K[1, 1] == pytest.approx(1763.202257922115 * 0.5, rel=1e-12)
    # centre 1920/2 at 3840 -> (1920 + 0.5) * 0.5 - 0.5 = 959.75 (pixel-centre convention;
    # Gyroflow's plain product gives 960.0: 0.25 px apart, documented in docs/PROFILES.md)
    assert K[0, 2] == pytest.approx(959.75)
    with pytest.raises(InvalidProfileError, match="other aspect ratio"):
        pixel_model_K(cal, 1920, 1440)


def _zoom_doc():
    doc = json.loads(shared_file("profiles/gyroflow/Panasonic_DC-S5_20-60mm_f3.5-5.6_20mm_1080p_16by9_1920x1080-50.00fps.json").read_text())
    doc["interpolations"] = {
        "20": {"camera_matrix": [[1000, 0, 960], [0, 1000, 540], [0, 0, 1]], "distortion_coeffs": [0.1, 0.0, 0.0, 0.0]},
        "60": {"camera_matrix": [[3000, 0, 960], [0, 3000, 540], [0, 0, 1]], "distortion_coeffs": [0.02, 0.0, 0.0, 0.0]},
    }
    return doc


def test_gyroflow_interpolations(tmp_path):
    prof = parse_gyroflow(_zoom_doc(), "zoom.json")
    assert [c.focal_length_mm for c in prof.distortion] == [20.0, 60.0]
    assert (prof.focal_min_mm, prof.focal_max_mm) == (20.0, 60.0)
    # Gyroflow's rule, linear: at 30 mm t = (30 - 20) / (60 - 20) = 1/4,
    # fx = 1000 + 1/4 * (3000 - 1000) = 1500, k1 = 0.1 + 1/4 * (0.02 - 0.1) = 0.08
    c = interpolate(prof, 30.0).distortion
    assert c.terms["fx"] == pytest.approx(1500.0, abs=1e-12) and c.terms["k1"] == pytest.approx(0.08, abs=1e-15)
    assert interpolate(prof, 10.0).distortion.terms["fx"] == 1000.0  # clamped
    assert interpolate(prof, 90.0).distortion.terms["fx"] == 3000.0
    # written back as Gyroflow JSON and read again: same numbers
    again = parse_gyroflow(json.loads(json.dumps(gyroflow_dict(prof))), "again.json")
    assert [dict(x.terms) for x in again.distortion] == [dict(x.terms) for x in prof.distortion]


def test_gyroflow_interpolation_entries_nested_or_empty():
    """An ``interpolations`` entry may hold its point under ``fisheye_params``, as a whole
    profile does: it was ignored, and the 60 mm point silently repeated the base calibration
    (`l2 lens convert` wrote the 20 mm coefficients at 60 mm). An entry with neither layout is
    refused rather than read as the base calibration."""
    doc = _zoom_doc()
    flat = parse_gyroflow(doc, "zoom.json")
    doc["interpolations"] = {k: {"fisheye_params": v} for k, v in doc["interpolations"].items()}
    nested = parse_gyroflow(doc, "zoom.json")
    assert [dict(c.terms) for c in nested.distortion] == [dict(c.terms) for c in flat.distortion]
    assert nested.distortion[1].terms["fx"] != nested.distortion[0].terms["fx"]
    doc["interpolations"]["60"] = {"note": "nothing here"}
    with pytest.raises(InvalidProfileError, match=r"interpolations\[60\] holds no camera_matrix or distortion_coeffs"):
        parse_gyroflow(doc, "zoom.json")


def test_gyroflow_zoom_same_coefficients_for_stills_and_video(tmp_path):
    """One rule for a Gyroflow zoom: the stills engine (correct() -> interpolate) and the video
    setup (resolve_lens -> pixel_model_from_file) use the same numbers at 30 mm, the hand values
    fx = fy = 1500, k1 = 0.08 of the test above. (Stills used to take lensfun's focal-weighted
    rule: fx = (20*1000 + 1/4*(60*3000 - 20*1000)) / 30 = 2000 and
    k1 = (20*0.1 + 1/4*(60*0.02 - 20*0.1)) / 30 = 0.06, while video took 1500 and 0.08.)"""
    from l2tech.correct import correct
    from l2tech.profiles.sources import read_profile
    from l2tech.video.lens import lens_setup_pixel_model
    from l2tech.pipeline import Recipe
    from l2tech.pipeline.video import VideoJob, resolve_lens

    path = tmp_path / "zoom.json"
    path.write_text(json.dumps(_zoom_doc()))
    stills = interpolate(read_profile(path), 30.0).distortion
    model, K, terms, size, _ = pixel_model_from_file(path, 30.0)
    assert model == "opencv_fisheye" and size == (1920, 1080)
    assert K.tolist() == [[stills.terms["fx"], 0.0, stills.terms["cx"]], [0.0, stills.terms["fy"], stills.terms["cy"]], [0.0, 0.0, 1.0]]
    assert terms == {k: v for k, v in stills.terms.items() if k not in ("fx", "fy", "cx", "cy")}
    hand = {"k1": 0.08, "k2": 0.0, "k3": 0.0, "k4": 0.0}
    assert K[0, 0] == pytest.approx(1500.0, abs=1e-12) and terms == pytest.approx(hand, abs=1e-15)
    # the stills image equals the one corrected with the hand calibration (same code, same numbers)
    prof = read_profile(path)
    hand_cal = LensCalibration(prof, 30.0, None, None, DistortionCalibration(
        "kannala_brandt", 30.0, {**hand, "fx": 1500.0, "fy": 1500.0, "cx": 960.0, "cy": 540.0}), None, None)
    rng = np.random.default_rng(5)
    img = rng.uniform(0.05, 1.0, size=(216, 384, 3)).astype(np.float32)
    ours = correct(img, prof, 30.0, scale=1.0)
    ref = correct(img, hand_cal, scale=1.0)
    assert np.abs(ours - ref).max() <= 1e-5
    # the video map equals the one built from the hand numbers
    frame = (480, 270)
    video = resolve_lens(VideoJob(Recipe(profile=str(path), focal_length_mm=30.0)), frame)
    Kh = np.array([[1500.0, 0.0, 960.0], [0.0, 1500.0, 540.0], [0.0, 0.0, 1.0]])
    ref_v = lens_setup_pixel_model(frame, "opencv_fisheye", Kh, hand, (1920, 1080))
    assert np.abs(video.map_xy - ref_v.map_xy).max() <= 1e-4  # px; float32 maps


def test_opencv_yaml_layouts():
    p = shared_file("profiles/opencv_yaml/ORB_SLAM2__Examples_Monocular_TUM1.yaml")
    d = read_opencv_yaml(p).distortion[0]
    assert d.model == "opencv"
    assert dict(d.terms) == dict(fx=517.306408, fy=516.469215, cx=318.643040, cy=255.313989,
                                 k1=0.262383, k2=-0.953104, p1=-0.005358, p2=0.002628, k3=1.163314)
    prof = read_opencv_yaml(shared_file("profiles/opencv_yaml/VINS-Mono__config_realsense_realsense_fisheye_config.yaml"))
    d = prof.distortion[0]
    assert d.model == "kannala_brandt" and (prof.extra["calib_width_px"], prof.extra["calib_height_px"]) == (640, 480)
    # camodocal k2..k5 are OpenCV's k1..k4; mu mv u0 v0 are fx fy cx cy
    assert d.terms["k1"] == 1.7280355035195181e-02 and d.terms["k4"] == -7.3355871719731113e-03
    assert d.terms["fx"] == 2.7723712054408202e02 and d.terms["cy"] == 2.3603924727453901e02
    d = read_opencv_yaml(shared_file("profiles/opencv_yaml/VINS-Mono__config_euroc_euroc_config.yaml")).distortion[0]
    assert d.terms["k1"] == -2.917e-01 and d.terms["fx"] == 4.616e02


def test_opencv_calibration_output_yaml_and_xml(tmp_path):
    K = np.array([[800.0, 0, 639.5], [0, 801.0, 359.5], [0, 0, 1]])
    D = np.array([[-0.1, 0.01, 1e-3, -1e-3, 0.001]])
    for ext in ("yaml", "xml"):
        p = tmp_path / f"calib.{ext}"
        fs = cv2.FileStorage(str(p), cv2.FILE_STORAGE_WRITE)
        fs.write("image_width", 1280)
        fs.write("image_height", 720)
        fs.write("camera_matrix", K)
        fs.write("distortion_coefficients", D)
        fs.release()
        prof = read_opencv_yaml(p)
        t = prof.distortion[0].terms
        assert (t["fx"], t["fy"], t["cx"], t["k1"], t["p2"], t["k3"]) == (800.0, 801.0, 639.5, -0.1, -1e-3, 0.001)
        assert prof.extra["calib_width_px"] == 1280


def test_gopro_hero5_defishes_a_video_frame():
    av = pytest.importorskip("av")
    video = shared_file("video/gopro_hero5_karma_drone.mp4")
    prof = read_gyroflow(shared_file("profiles/gyroflow/GoPro_HERO5_Black_Wide_NO-EIS_4by3.json"))
    with av.open(str(video)) as c:
        frame = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(np.float32) / 255.0
    H, W = frame.shape[:2]
    assert (W, H) == (854, 480)
    # the 16:9 Wide mode is the centre 4000x2250 band of the 4000x3000 calibration, resampled
    t = prof.distortion[0].terms
    sx, sy = W / 4000.0, H / 2250.0
    K = camera_matrix(t["fx"] * sx, t["fy"] * sy, (t["cx"] + 0.5) * sx - 0.5, (t["cy"] - 375.0 + 0.5) * sy - 0.5)
    D = {k: t[k] for k in ("k1", "k2", "k3", "k4")}
    new_K = camera_matrix(K[0, 0] * 0.5, K[1, 1] * 0.5, (W - 1) / 2, (H - 1) / 2)
    m = correction_map_kannala_brandt(W, H, K, D, new_K)
    # oracle: OpenCV's fisheye undistortion map for the same camera
    m1, m2 = cv2.fisheye.initUndistortRectifyMap(K, np.array(list(D.values())), np.eye(3), new_K, (W, H), cv2.CV_32FC1)
    assert max(np.abs(m[..., 0] - m1).max(), np.abs(m[..., 1] - m2).max()) <= 0.01
    out = cv2.remap(frame, m[..., 0], m[..., 1], cv2.INTER_LINEAR)
    # the top and bottom edge centres of the rectilinear output at half zoom look beyond the
    # 16:9 fisheye frame, so they are empty, while the centre row spans its whole width
    inside = (m[..., 0] >= 0) & (m[..., 0] <= W - 1) & (m[..., 1] >= 0) & (m[..., 1] <= H - 1)
    assert not inside[0, W // 2] and not inside[-1, W // 2] and inside[H // 2, 90:-90].all()
    row = inside[H // 2]
    xs = m[H // 2, :, 0]
    assert xs[row].min() < 2 and xs[row].max() > W - 3  # the whole width of the fisheye frame is used
    # a fisheye compresses the edges: the de-fished centre row samples the source ever more
    # densely towards the edges (source step per output pixel shrinks)
    step = np.diff(xs)
    assert step[W // 2] > 1.5 * step[95]
    assert np.isfinite(out).all() and out[inside].std() > 0.05


# ---- bad input (RELIABILITY.md case 17) ---------------------------------------------------------


def _doc():
    return {
        "calibrator_version": "1", "calib_dimension": {"w": 1920, "h": 1080},
        "fisheye_params": {"camera_matrix": [[1000, 0, 960], [0, 1000, 540], [0, 0, 1]], "distortion_coeffs": [0.1, 0, 0, 0]},
    }


def test_gyroflow_bad_inputs(tmp_path):
    p = tmp_path / "nan.json"
    p.write_text(json.dumps(_doc()).replace("0.1", "NaN"))
    with pytest.raises(InvalidProfileError, match=r"nan\.json: JSON contains NaN"):
        read_gyroflow(p)
    doc = _doc()
    doc["fisheye_params"]["camera_matrix"][0][0] = 0
    p = tmp_path / "fx0.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(InvalidProfileError, match=r"fisheye_params\.camera_matrix\[0\]\[0\] \(fx\) is 0"):
        read_gyroflow(p)
    doc = _doc()
    del doc["calib_dimension"]
    p = tmp_path / "missing.json"
    p.write_text(json.dumps(doc))
    with pytest.raises(InvalidProfileError, match="missing field calib_dimension"):
        read_gyroflow(p)
    doc = _doc()
    del doc["fisheye_params"]["distortion_coeffs"]
    p.write_text(json.dumps(doc))
    with pytest.raises(InvalidProfileError, match=r"missing field fisheye_params\.distortion_coeffs"):
        read_gyroflow(p)
    p = tmp_path / "deep.json"
    p.write_text("[" * 5000 + "]" * 5000)
    with pytest.raises(LimitExceededError, match=r"deep\.json:1: JSON nested deeper than 32"):
        read_gyroflow(p)
    p = tmp_path / "broken.json"
    p.write_text('{"a": 1,\n "b": }')
    with pytest.raises(CorruptInputError, match=r"broken\.json:2: invalid JSON"):
        read_gyroflow(p)
    p = tmp_path / "empty.json"
    p.write_text("")
    with pytest.raises(EmptyFileError):
        read_gyroflow(p)
    doc = _doc()
    doc["distortion_model"] = "insta360"
    with pytest.raises(InvalidProfileError, match="distortion_model is 'insta360'"):
        parse_gyroflow(doc, "x.json")


def test_opencv_yaml_bad_inputs(tmp_path):
    p = tmp_path / "fx0.yaml"
    p.write_text("%YAML:1.0\nCamera.fx: 0.0\nCamera.fy: 500.0\nCamera.cx: 320.0\nCamera.cy: 240.0\n")
    with pytest.raises(InvalidProfileError, match=r"Camera\.fx is 0"):
        read_opencv_yaml(p)
    p = tmp_path / "nofy.yaml"
    p.write_text("%YAML:1.0\nCamera.fx: 500.0\nCamera.cx: 320.0\nCamera.cy: 240.0\n")
    with pytest.raises(InvalidProfileError, match=r"missing field Camera\.fy"):
        read_opencv_yaml(p)
    p = tmp_path / "nan.yaml"
    p.write_text("%YAML:1.0\nCamera.fx: .NaN\nCamera.fy: 500.0\nCamera.cx: 320.0\nCamera.cy: 240.0\n")
    with pytest.raises(InvalidProfileError, match=r"Camera\.fx is nan"):
        read_opencv_yaml(p)
    # XML with entities (billion laughs) refused before OpenCV parses it
    p = tmp_path / "lol.xml"
    p.write_text('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>\n'
                 "<opencv_storage><image_width>&lol2;</image_width></opencv_storage>\n")
    with pytest.raises(InvalidProfileError, match=r"lol\.xml: XML with a DOCTYPE"):
        read_opencv_yaml(p)


def test_opencv_fisheye_yaml_with_image_size_sequence(tmp_path):
    p = tmp_path / "fisheye.yaml"
    p.write_text("%YAML:1.0\nimage_size: [ 640, 480 ]\nK: !!opencv-matrix\n   rows: 3\n   cols: 3\n   dt: d\n"
                 "   data: [ 500., 0., 319.5, 0., 500., 239.5, 0., 0., 1. ]\nD: !!opencv-matrix\n   rows: 1\n   cols: 4\n"
                 "   dt: d\n   data: [ 0.01, -0.002, 0.0003, 0.0 ]\nmodel: fisheye\n")
    prof = read_opencv_yaml(p)
    d = prof.distortion[0]
    assert d.model == "kannala_brandt" and d.terms["k3"] == 0.0003 and d.terms["fx"] == 500.0
    assert (prof.extra["calib_width_px"], prof.extra["calib_height_px"]) == (640, 480)
