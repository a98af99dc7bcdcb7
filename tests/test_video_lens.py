"""Lens maps on video frames: calibration-to-frame fit, OpenCV oracles, equality with the stills engine."""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest

from conftest import shared_file
from l2tech.errors import UsageError
from l2tech.video.lens import camera_matrix_for_frame, fit_calibration_to_frame, pixel_lens_map
from l2tech.video.pipeline import FramePipeline
from l2tech.pipeline import Recipe
from l2tech.pipeline.video import VideoJob, resolve_lens
from l2tech.video.transcode import process_video

GOPRO = "video/gopro_hero5_karma_drone.mp4"
GOPRO_PROFILE = "profiles/gyroflow/GoPro_HERO5_Black_Wide_NO-EIS_4by3.json"
CCTV = "video/fisheye_cctv_1440_circular.mp4"
# MANIFEST.tsv, fisheye_cctv_1440_circular.mp4: the repository's params/SNcam.json calibration
# (cv2.calibrateCamera "normal" mode: OpenCV pinhole k1, k2, p1, p2, k3) for 1440x1440
CCTV_K = np.array([[548.88, 0.0, 722.45], [0.0, 549.34, 718.90], [0.0, 0.0, 1.0]])
CCTV_D = np.array([-0.14396, 0.028807, 0.0010504, -0.000338, -0.0033234])


def test_fit_same_aspect_is_plain_scale():
    fit = fit_calibration_to_frame((4000, 3000), (1000, 750))
    assert fit.region == (0.0, 0.0, 4000.0, 3000.0) and fit.scale_x == fit.scale_y == 0.25
    K = np.array([[1755.2, 0, 2005.0], [0, 1755.2, 1500.0], [0, 0, 1]])
    from l2tech.optics.opencv import scale_camera_matrix

    assert np.allclose(camera_matrix_for_frame(K, fit), scale_camera_matrix(K, (4000, 3000), (1000, 750)))


def test_fit_16by9_from_4by3_crops_top_and_bottom():
    fit = fit_calibration_to_frame((4000, 3000), (854, 480))
    x0, y0, w, h = fit.region
    assert (x0, w) == (0.0, 4000.0)
    assert h == pytest.approx(4000 * 480 / 854) and y0 == pytest.approx((3000 - h) / 2)
    K = np.array([[1755.2, 0, 1999.5], [0, 1755.2, 1499.5], [0, 0, 1]])
    Kf = camera_matrix_for_frame(K, fit)
    # the calibration's centre pixel lands on the frame's centre pixel
    assert Kf[0, 2] == pytest.approx((854 - 1) / 2) and Kf[1, 2] == pytest.approx((480 - 1) / 2)
    assert Kf[0, 0] == pytest.approx(1755.2 * 854 / 4000)
    # the override is honoured
    fit2 = fit_calibration_to_frame((4000, 3000), (854, 480), calib_crop=(0, 0, 4000, 2248))
    assert camera_matrix_for_frame(K, fit2)[1, 2] == pytest.approx((1499.5 + 0.5) * 480 / 2248 - 0.5)
    with pytest.raises(UsageError, match="not inside"):
        fit_calibration_to_frame((4000, 3000), (854, 480), calib_crop=(0, 1000, 4000, 2248))


def test_gopro_fisheye_map_equals_opencv_fisheye():
    """KB de-fishing on the 854x480 proxy equals cv2.fisheye.initUndistortRectifyMap with the
    frame's camera matrix (oracle), to 1e-3 px where the map is defined."""
    from l2tech.profiles.gyroflow import pixel_model_from_file

    model, K, terms, calib_size, _ = pixel_model_from_file(shared_file(GOPRO_PROFILE))
    assert model == "opencv_fisheye" and calib_size == (4000, 3000)
    fit = fit_calibration_to_frame(calib_size, (854, 480))
    m = pixel_lens_map(model, K, terms, fit, projection="rectilinear")
    Kf = camera_matrix_for_frame(K, fit)
    D = np.array([terms[k] for k in ("k1", "k2", "k3", "k4")])
    mx, my = cv2.fisheye.initUndistortRectifyMap(Kf, D, np.eye(3), Kf, (854, 480), cv2.CV_32FC1)
    ok = np.isfinite(m[..., 0])
    assert ok.mean() > 0.999
    assert np.abs(m[..., 0][ok] - mx[ok]).max() < 1e-3 and np.abs(m[..., 1][ok] - my[ok]).max() < 1e-3


def test_cctv_defish_map_equals_opencv_and_straightens():
    """The CCTV clip de-fishes with the MANIFEST K/D: map equal to cv2.initUndistortRectifyMap."""
    shared_file(CCTV)
    job = VideoJob(lens_model="opencv", intrinsics=(548.88, 549.34, 722.45, 718.90), dist_coeffs=tuple(CCTV_D))
    setup = resolve_lens(job, (1440, 1440))
    mx, my = cv2.initUndistortRectifyMap(CCTV_K, CCTV_D, None, CCTV_K, (1440, 1440), cv2.CV_32FC1)
    assert np.abs(setup.map_xy[..., 0] - mx).max() < 1e-3 and np.abs(setup.map_xy[..., 1] - my).max() < 1e-3
    # the correction pulls the periphery outwards (barrel removed): a point at 500 px from the
    # centre in the output reads the source closer to the centre
    src = setup.map_xy[719, 722 + 500]
    assert np.hypot(src[0] - 722.45, src[1] - 718.9) < 480


def test_cctv_clip_defished(tmp_path):
    """The clip itself, 0.3 s through the pipeline: frames equal OpenCV's undistortion of the same
    decoded frame, resampled in linear light (colour-science's BT.709 inverse OETF, cv2.remap of
    the linear float frame with the cv2.initUndistortRectifyMap maps, the OETF, rounding):
    within 1 code on 99.9 % (OpenCV rounds coordinates to 1/32 px), at most 2."""
    from colour.models import oetf_BT709, oetf_inverse_BT709

    src = shared_file(CCTV)
    mx, my = cv2.initUndistortRectifyMap(CCTV_K, CCTV_D, None, CCTV_K, (1440, 1440), cv2.CV_32FC1)
    m = np.stack([mx, my], -1)
    seen = {}

    def hook(i, a, b):
        if i == 3:
            seen["pair"] = (a.copy(), b.copy())

    r = process_video(src, tmp_path / "flat.mp4", FramePipeline((1440, 1440), map_xy=m), duration_s=0.3,
                      frame_hook=hook)
    assert r.frames_written == 8 and r.streams_copied == ("#0 audio aac",)
    a, b = seen["pair"]
    lin = oetf_inverse_BT709(a / 255.0).astype(np.float32)
    ref = cv2.remap(lin, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
    ref = np.round(oetf_BT709(np.clip(ref.astype(np.float64), 0, 1)) * 255)
    diff = np.abs(b.astype(np.float64) - ref)
    print(f"CCTV frame vs linear-light OpenCV: {np.mean(diff == 0) * 100:.3f} % equal, max {diff.max():.0f}")
    assert np.mean(diff <= 1) >= 0.999 and diff.max() <= 2


_S5_LENS = dict(camera="Panasonic DC-S5", lens="Lumix S 20-60/F3.5-5.6")


def _s5_lens():
    """The database lens the jobs below resolve (match_lens, as `l2 develop` does for a still)."""
    from l2tech.io.metadata import ShotMetadata
    from l2tech.profiles.matching import match_lens

    meta = ShotMetadata(path="x", make=None, model=None, lens_make=None, lens_model=None, lens_id=None,
                        focal_length_mm=20.0, f_number=4.0, focus_distance_m=None, orientation=None, width=None,
                        height=None, crop_factor=None, datetime_original=None, exposure_time_s=None, iso=None, gps=None)
    return match_lens(meta, **_S5_LENS)


def _bt709_decode(codes: np.ndarray) -> np.ndarray:
    """uint8 R'G'B' → scene-linear float32 with the transfer the video path uses around the gain
    (the BT.709 OETF inverse, :func:`l2tech.video.pipeline._bt709_transfer`)."""
    from colour.models import oetf_inverse_BT709

    return oetf_inverse_BT709(codes / 255.0).astype(np.float32)


def _bt709_encode8(linear: np.ndarray) -> np.ndarray:
    from colour.models import oetf_BT709

    return np.clip(np.round(oetf_BT709(np.clip(linear, 0.0, 1.0)) * 255.0), 0, 255)


def _stills(linear: np.ndarray, lens, interpolation: str) -> np.ndarray:
    """The stills engine's float route, :func:`l2tech.correct.correct` (dense maps, gain on the
    source grid): the independent reference."""
    from l2tech.correct import correct

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the database lens's coverage warning
        return correct(linear, lens.lens, 20.0, 4.0, crop_factor=lens.crop_factor, vignetting=True,
                       interpolation=interpolation)


def _stills_develop8(linear: np.ndarray, lens) -> np.ndarray:
    """What `l2 develop` runs for a bilinear recipe (pipeline/stills.py): the lens plan's coarse
    grid (:func:`l2tech.correct.fused.grid_map`) and the fused pass on 16-bit linear input,
    encoded here with the BT.709 OETF (Rec.709 primaries in and out: identity matrices)."""
    from l2tech.color.display import DISPLAY_SPACES
    from l2tech.correct.fused import develop_pass, grid_map
    from l2tech.profiles.interpolate import interpolate

    H, W = linear.shape[:2]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grid = grid_map(interpolate(lens.lens, 20.0, 4.0, None), W, H, crop_factor=lens.crop_factor)
    cam = np.round(np.clip(linear, 0, 1) * 65535).astype(np.uint16)
    return develop_pass(cam, grid, np.eye(3), np.eye(3), DISPLAY_SPACES["Rec.709"].encode).astype(np.float64)


@pytest.mark.parametrize("interpolation", ["nearest", "bilinear"])
def test_stills_equals_video_frame_same_linear_input(interpolation):
    """Acceptance (issue "one spine"): stills and a video frame give identical pixels for the same
    recipe and the same linear input. Recipe: Lumix S 20-60 at 20 mm f/4 on a DC-S5, vignetting
    (corner gain 4.4) + TCA (per-channel maps) + distortion, auto-scale. Input: a coloured
    checkerboard (16 px squares, 320x240) as 8-bit BT.709 code values; the stills engine gets
    their scene-linear values (BT.709 OETF inverse, the transfer the video path uses), its result
    is encoded with the OETF. Identical = every value within 1 code (rounding: the video runs
    the fused pass, float32 with a coarse-grid map within 0.005 px, the stills reference
    correct() in float32 with dense maps). Measured: nearest 100 % equal; bilinear 99.9 % equal,
    max 1 (before the video path sampled linear light: max 89 codes)."""
    W, H = 320, 240
    yy, xx = np.mgrid[0:H, 0:W]
    dark = ((xx // 16) + (yy // 16)) % 2 == 1
    linear = np.where(dark[..., None], [0.04, 0.05, 0.03], [0.7, 0.6, 0.65]).astype(np.float32)
    codes = _bt709_encode8(linear).astype(np.uint8)
    setup = resolve_lens(VideoJob(Recipe(**_S5_LENS, focal_length_mm=20.0, f_number=4.0)), (W, H))
    assert setup.gain is not None and setup.map_xy.shape == (H, W, 3, 2)  # vignetting on, TCA maps
    video = FramePipeline((W, H), map_xy=setup.map_xy, gain=setup.gain, border=setup.border,
                          interpolation=interpolation).process(codes).astype(np.float64)
    linear_in = _bt709_decode(codes)
    routes = {"correct()": _bt709_encode8(_stills(linear_in, _s5_lens(), interpolation))}
    if interpolation == "bilinear":  # the route `l2 develop` takes for this recipe
        routes["develop pass"] = _stills_develop8(linear_in, _s5_lens())
    for name, stills in routes.items():
        diff = np.abs(video - stills)
        print(f"{interpolation} vs {name}: {np.mean(diff == 0) * 100:.3f} % equal, "
              f"{np.mean(diff <= 1) * 100:.4f} % within 1 code, max {diff.max():.0f}")
        if name == "correct()" and interpolation == "bilinear":
            # gain per tap (correct) vs at the sample position (fused pass), float32 both ways
            assert np.mean(diff <= 1) >= 0.9999 and diff.max() <= 2
        else:
            assert diff.max() <= 1 and np.mean(diff == 0) >= 0.9


def test_lensfun_frame_equals_stills_correct(tmp_path):
    """A real frame (GoPro clip, 854x480) through the video pipeline against
    l2tech.correct.correct() (the library behind `l2 correct`) on the same decoded frame, with the
    same recipe: Lumix S 20-60 at 20 mm f/4 on a DC-S5, vignetting + TCA (per-channel maps) +
    ptlens distortion.

    - Same linear input (the frame's code values decoded with the BT.709 OETF inverse, the
      video path's transfer), nearest-neighbour resampling: every value within 1 code (measured:
      95.4 % identical, max 1; the fused pass reads the gain at the exact source position).
    - Bilinear, the pipeline as `l2 video` runs it (the frames the transcode wrote): the stills
      engine on the same linear input, within 1 code everywhere (measured: see the printout).
    """
    src = shared_file(GOPRO)
    setup = resolve_lens(VideoJob(Recipe(**_S5_LENS, focal_length_mm=20.0, f_number=4.0)), (854, 480))
    assert setup.map_xy is not None and setup.map_xy.shape == (480, 854, 3, 2)  # TCA: one map per channel
    assert setup.gain is not None
    seen = {}

    def hook(i, a, b):
        if i in (0, 11):
            seen[i] = (a.copy(), b.copy())

    pipe = FramePipeline((854, 480), map_xy=setup.map_xy, gain=setup.gain, border=setup.border)
    process_video(src, tmp_path / "o.mp4", pipe, duration_s=0.5, frame_hook=hook)
    assert set(seen) == {0, 11}
    lens = _s5_lens()
    nearest = FramePipeline((854, 480), map_xy=setup.map_xy, gain=setup.gain, border=setup.border,
                            interpolation="nearest")
    for a, b in seen.values():
        ref = _bt709_encode8(_stills(_bt709_decode(a), lens, "nearest"))
        diff = np.abs(nearest.process(a).astype(np.float64) - ref)
        print(f"nearest, linear input: {np.mean(diff == 0) * 100:.4f} % identical, max {diff.max():.0f}")
        # the gain is read at the exact source position, not at the picked pixel: ±1 code
        assert diff.max() <= 1 and np.mean(diff == 0) >= 0.9
        ref = _bt709_encode8(_stills(_bt709_decode(a), lens, "bilinear"))
        diff = np.abs(b.astype(np.float64) - ref)
        print(f"bilinear, linear input: {np.mean(diff == 0) * 100:.4f} % identical, max {diff.max():.0f}")
        assert diff.max() <= 1 and np.mean(diff == 0) >= 0.99


def test_lensfun_with_output_size_is_one_resample():
    """--size with a lens: the map is sampled at the output pixels (one resample); close to
    correcting at full size and then resizing (which blurs twice)."""
    from l2tech.correct.resample import resample_map

    job = VideoJob(Recipe(camera="Panasonic DC-S5", lens="Lumix S 20-60/F3.5-5.6", focal_length_mm=20.0))
    setup = resolve_lens(job, (640, 480))
    small = resample_map(setup.map_xy, (320, 240))
    assert small.shape == (240, 320, 3, 2)
    # at output pixel (x, y) the composed map equals the full map at (2x + 0.5, 2y + 0.5)
    full = setup.map_xy
    exp = 0.25 * (full[100, 200] + full[100, 201] + full[101, 200] + full[101, 201])
    assert np.allclose(small[50, 100], exp, atol=1e-3)
    rng = np.random.default_rng(2)
    img = cv2.GaussianBlur(rng.integers(0, 256, (480, 640, 3)).astype(np.float32), (0, 0), 3).astype(np.uint8)
    one = FramePipeline((640, 480), map_xy=small, border=setup.border).process(img).astype(float)
    two = cv2.resize(FramePipeline((640, 480), map_xy=full, border=setup.border).process(img), (320, 240),
                     interpolation=cv2.INTER_LINEAR).astype(float)
    assert np.abs(one - two).mean() < 1.0
