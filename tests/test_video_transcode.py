"""Streamed transcode: frames, timestamps, trimming, streams kept, decode errors, atomic output;
the `l2 video` path against the stills engine (linear light) and OpenCV geometry."""

from __future__ import annotations

import tracemalloc
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import shared_file
from l2tech.errors import CorruptInputError, DecodeError, OutputExistsError, UsageError
from l2tech.video.colortags import ColorTags
from l2tech.video.pipeline import FramePipeline
from l2tech.video.synth import numbered_frames, write_clip
from l2tech.video.transcode import EncodeOptions, process_video

GOPRO = "video/gopro_hero5_karma_drone.mp4"


def _frames_and_times(path: Path, stream: str = "video") -> tuple[list[np.ndarray], list[float]]:
    import av

    frames, times = [], []
    with av.open(str(path)) as c:
        for f in c.decode(**{stream: 0}):
            frames.append(f.to_ndarray(format="rgb24"))
            times.append(float(f.pts * f.time_base))
    return frames, times


def _packets(path: Path, index: int) -> list[tuple[float, bytes]]:
    import av

    with av.open(str(path)) as c:
        s = c.streams[index]
        return [(float(p.pts * p.time_base), bytes(p)) for p in c.demux(s) if p.size]


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".l2tmp-" in p.name)


@pytest.fixture(scope="module")
def numbered(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("clips") / "numbered.mp4"
    write_clip(p, numbered_frames(30, 64, 48), rate=25, options={"crf": "10", "preset": "ultrafast", "g": "10"},
               audio_seconds=1.2)
    return p


def test_identity_transcode_keeps_frames_and_times(numbered, tmp_path):
    out = tmp_path / "out.mp4"
    r = process_video(numbered, out)
    assert (r.frames_decoded, r.frames_written, r.decode_errors) == (30, 30, 0)
    assert r.streams_copied == ("#1 audio aac",)
    fin, tin = _frames_and_times(numbered)
    fout, tout = _frames_and_times(out)
    assert tout == pytest.approx(tin, abs=1e-6)
    for a, b in zip(fin, fout):
        assert np.abs(a[:, :32].astype(int) - b[:, :32].astype(int)).mean() < 1.5  # flat half: coding noise only
    # audio copied packet for packet (no re-encode)
    assert [d for _, d in _packets(out, 1)] == [d for _, d in _packets(numbered, 1)]
    assert not _leftovers(tmp_path)


def test_trim_is_frame_accurate(numbered, tmp_path):
    out = tmp_path / "trim.mp4"
    r = process_video(numbered, out, start_s=0.5, duration_s=0.4)  # frames 13 (0.52 s) .. 22 (0.88 s)
    assert r.frames_written == 10
    frames, times = _frames_and_times(out)
    assert len(frames) == 10
    assert times[0] == pytest.approx(0.0) and times[-1] == pytest.approx(0.36)
    grey = [int(round(f[:, :32].mean())) for f in frames]
    assert grey == pytest.approx([8 + 8 * i for i in range(13, 23)], abs=2)
    # audio trimmed to the range and shifted with the video
    audio = _packets(out, 1)
    assert audio and audio[0][0] >= -0.05 and audio[-1][0] < 0.4 + 0.05


def test_variable_frame_rate_preserved(tmp_path):
    src = tmp_path / "vfr.mkv"
    pts = [0, 1, 2, 4, 7, 8, 12, 13, 20, 21]
    write_clip(src, numbered_frames(len(pts), 64, 48), rate=25, pts=pts, time_base=Fraction(1, 25))
    out = tmp_path / "vfr_out.mp4"
    process_video(src, out)
    _, tin = _frames_and_times(src)
    _, tout = _frames_and_times(out)
    assert tin == pytest.approx([p / 25 for p in pts], abs=1e-3)
    assert tout == pytest.approx(tin, abs=1e-3)


def _corrupt(src: Path, dst: Path, frame: int) -> None:
    import av

    with av.open(str(src)) as c:
        pk = [(p.pos, p.size) for p in c.demux(video=0) if p.size]
    data = bytearray(src.read_bytes())
    pos, size = pk[frame]
    rng = np.random.default_rng(1)
    data[pos + 4 : pos + size] = rng.integers(0, 256, size - 4, dtype=np.uint8).tobytes()
    dst.write_bytes(bytes(data))


def test_corrupt_frame_stops_with_index_and_time(numbered, tmp_path):
    bad = tmp_path / "bad.mp4"
    _corrupt(numbered, bad, 15)
    out = tmp_path / "out.mp4"
    with pytest.raises(DecodeError, match=r"bad.mp4: corrupt video data at frame \d+ at 0\.\d+ s"):
        process_video(bad, out)
    assert not out.exists() and not _leftovers(tmp_path)


def test_corrupt_frame_skipped_under_tolerance(numbered, tmp_path):
    bad = tmp_path / "bad.mp4"
    _corrupt(numbered, bad, 15)
    r = process_video(bad, tmp_path / "out.mp4", max_decode_errors=3)
    assert r.decode_errors >= 1
    assert r.frames_written == 30 - r.decode_errors
    assert r.warnings and "skipped undecodable frame" in r.warnings[0]


def test_interrupted_run_leaves_nothing(numbered, tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"earlier output")

    def hook(i, a, b):
        if i == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        process_video(numbered, out, overwrite=True, frame_hook=hook)
    assert out.read_bytes() == b"earlier output"  # earlier output intact
    assert not _leftovers(tmp_path)


def test_output_rules(numbered, tmp_path):
    out = tmp_path / "out.mp4"
    out.write_bytes(b"x")
    with pytest.raises(OutputExistsError):
        process_video(numbered, out)
    with pytest.raises(UsageError, match="same file as an input"):
        process_video(numbered, numbered, overwrite=True)
    with pytest.raises(UsageError, match="extension"):
        process_video(numbered, tmp_path / "out.avi")
    with pytest.raises(UsageError, match="encoder 'nope'"):
        process_video(numbered, tmp_path / "o2.mp4", encode=EncodeOptions(codec="nope"))
    with pytest.raises(UsageError, match="--start"):
        process_video(numbered, tmp_path / "o3.mp4", start_s=-1)
    # NaN passed both comparisons (the whole clip written, exit 0) and inf / 1e308 overflowed
    # the seek as an unexpected OverflowError
    for start, duration in ((float("nan"), None), (1e308, 0.1), (0.0, float("inf")), (0.0, float("nan"))):
        with pytest.raises(UsageError, match="finite number"):
            process_video(numbered, tmp_path / "o4.mp4", start_s=start, duration_s=duration)
    assert not (tmp_path / "o4.mp4").exists()


def test_ten_bit_stays_ten_bit(tmp_path):
    import av

    rng = np.random.default_rng(5)
    base = cv2.GaussianBlur(rng.uniform(0, 65535, (48, 64, 3)).astype(np.float32), (0, 0), 3)
    frames = [np.clip(base + 900 * i, 0, 65535).astype(np.uint16) for i in range(6)]
    src = tmp_path / "ten.mp4"
    write_clip(src, frames, pix_fmt="yuv420p10le", options={"qp": "0", "preset": "ultrafast"})
    out = tmp_path / "ten_out.mov"
    r = process_video(src, out, encode=EncodeOptions(crf=4))
    assert r.pix_fmt == "yuv420p10le"
    with av.open(str(src)) as a, av.open(str(out)) as b:
        assert b.streams.video[0].codec_context.pix_fmt == "yuv420p10le"
        pa = next(a.decode(video=0)).to_ndarray().astype(np.float64)  # 10-bit Y'CbCr planes
        pb = next(b.decode(video=0)).to_ndarray().astype(np.float64)
    # 10-bit precision kept through the 16-bit path: Y' within a fraction of a 10-bit code on
    # average (an 8-bit path would quantise to steps of 4)
    h = 48
    print(f"10-bit Y' mean abs diff {np.abs(pa[:h] - pb[:h]).mean():.3f}, chroma {np.abs(pa[h:] - pb[h:]).mean():.3f}")
    assert np.abs(pa[:h] - pb[:h]).mean() < 1.0
    assert np.abs(pa[h:] - pb[h:]).mean() < 2.0


def test_memory_does_not_grow_with_clip_length(tmp_path):
    short, long_ = tmp_path / "short.mp4", tmp_path / "long.mp4"
    write_clip(short, numbered_frames(12, 320, 240), rate=25)
    write_clip(long_, numbered_frames(72, 320, 240), rate=25)
    m = np.zeros((240, 320, 2), np.float32)
    m[..., 0], m[..., 1] = np.meshgrid(np.arange(320) * 0.9 + 16, np.arange(240) * 0.9 + 12)
    peaks = []
    for i, src in enumerate((short, long_)):
        tracemalloc.start()
        process_video(src, tmp_path / f"o{i}.mp4", FramePipeline((320, 240), map_xy=m), queue_frames=4, workers=2)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.5 * peaks[0], peaks


def test_gopro_streams_metadata_and_trim(tmp_path):
    """GoPro clip, 2 s from 3 s: frames exact, audio and GPMF ('GoPro MET', gpmd) kept."""
    src = shared_file(GOPRO)
    out = tmp_path / "gopro.mp4"
    r = process_video(src, out, start_s=3.0, duration_s=2.0)
    _, tin = _frames_and_times(src)
    expected = [t for t in tin if 3.0 - 1e-6 <= t < 5.0 - 1e-6]
    assert r.frames_written == len(expected) == 60
    import av

    with av.open(str(out)) as c:
        kinds = [s.type for s in c.streams]
        assert kinds.count("video") == 1 and kinds.count("audio") == 1
        handlers = [s.metadata.get("handler_name", "").strip() for s in c.streams if s.type == "data"]
        assert "GoPro MET" in handlers
        assert c.metadata.get("creation_time") == "2017-04-17T19:27:57.000000Z"
        assert c.metadata.get("firmware") == "HD5.02.02.00.00"
        met = [s.index for s in c.streams if s.metadata.get("handler_name", "").strip() == "GoPro MET"][0]
        vdur = float(c.streams.video[0].duration * c.streams.video[0].time_base)
        assert vdur == pytest.approx(60 * 1001 / 30000, abs=0.002)
    with av.open(str(src)) as c:
        met_in = [s.index for s in c.streams if s.metadata.get("handler_name", "").strip() == "GoPro MET"][0]
    gpmf_out = _packets(out, met)
    gpmf_in = [(t, d) for t, d in _packets(src, met_in) if 3.0 - 1e-6 <= t < 5.0]
    assert [d for _, d in gpmf_out] == [d for _, d in gpmf_in] and len(gpmf_out) == 2
    assert all(d.startswith(b"DEVC") for _, d in gpmf_out)  # GPMF KLV payload intact
    assert gpmf_out[0][0] == pytest.approx(gpmf_in[0][0] - r_offset(tin, 3.0), abs=1e-3)
    # tmcd: re-made by the muxer from the timecode tag, moved to the first kept frame (90 frames in)
    assert any("GoPro TCD" in s and "19:26:51:04 (tmcd track)" in s for s in r.streams_copied)
    assert any("GoPro SOS" in s and "a .mov output keeps it" in s for s in r.streams_dropped)


def r_offset(times: list[float], start: float) -> float:
    """Time of the first kept frame (the shift applied to every stream when trimming)."""
    return min(t for t in times if t >= start - 1e-6)


# ---- oracle tests: the `l2 video` path against independent references ----------------------------
#
# The output file is decoded with PyAV and converted to R'G'B' here with the BT.709 equations
# (no l2tech or swscale code), so the colour conversion, the lens maths, the encoder settings and
# the muxing are all checked by what ends up in the file.

_BT709_KR, _BT709_KB = 0.2126, 0.0722  # ITU-R BT.709-6, Part 2, item 3.2


def _bt709_tv_to_rgb(planes: np.ndarray) -> np.ndarray:
    """8-bit limited-range Y'CbCr 4:4:4 planes ``(3, H, W)`` → R'G'B' ``(H, W, 3)`` float64 in
    code values (0–255), straight from ITU-R BT.709-6 Part 2 items 3.2–3.5 and 4.6
    (``Y' = 16 + 219 E'Y``, ``Cb, Cr = 128 + 224 E'CB, E'CR``)."""
    y, cb, cr = (p.astype(np.float64) for p in planes)
    kr, kb = _BT709_KR, _BT709_KB
    ey, pb, pr = (y - 16) / 219, (cb - 128) / 224, (cr - 128) / 224
    r = ey + 2 * (1 - kr) * pr
    b = ey + 2 * (1 - kb) * pb
    g = (ey - kr * r - kb * b) / (1 - kr - kb)
    return np.stack([r, g, b], -1) * 255.0


def _decode_444(path: Path) -> tuple[list[np.ndarray], list[float], float]:
    """Frames (R'G'B' code values, float64), their times and the stream duration, with PyAV."""
    import av

    frames, times = [], []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        assert s.codec_context.pix_fmt == "yuv444p"
        dur = float(s.duration * s.time_base)
        for f in c.decode(video=0):
            frames.append(_bt709_tv_to_rgb(f.to_ndarray()))
            times.append(float(f.pts * f.time_base))
    return frames, times, dur


def _bt709_oetf(x: np.ndarray) -> np.ndarray:
    """ITU-R BT.709-6 OETF (Part 1, item 1.2), written out here (scene-linear → [0, 1])."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x < 0.018, 4.5 * x, 1.099 * np.power(x, 0.45) - 0.099)


def _bt709_oetf_inverse(v: np.ndarray) -> np.ndarray:
    v = np.clip(v, 0.0, 1.0)
    return np.where(v < 0.081, v / 4.5, np.power((v + 0.099) / 1.099, 1 / 0.45))


def test_lens_clip_equals_stills_engine_in_linear_light(tmp_path):
    """`l2 video --camera/--lens` on a synthetic 320x240 clip (5 frames, 4:4:4, x264 qp 0 in and
    CRF 0 out, AAC audio) against independent references:

    - each decoded output frame equals :func:`l2tech.correct.correct` (the stills engine:
      vignetting + TCA + distortion, bilinear) applied to the same decoded input frame in linear
      light (BT.709 OETF⁻¹ → correct → OETF), measured in 8-bit code values over the whole
      frame: mean ≤ 0.8, 99th percentile ≤ 2.5, max ≤ 4 (measured 0.58 / 1.80 / 2.9: the 8-bit
      Y'CbCr round trip, the video path's 8-bit intermediate under a gain up to 4.4×, and its
      resampling of code values instead of linear values on this smooth scene);
    - frame count, timestamps and stream duration equal the input's (PyAV);
    - the audio packets are byte-identical (copied, not re-encoded).

    Lens: Panasonic Lumix S 20-60/F3.5-5.6 at 20 mm f/4 on a DC-S5 (lensfun database: ptlens
    distortion, poly3 TCA, pa vignetting with a corner gain of 4.4).
    """
    import warnings

    from l2tech.correct import correct
    from l2tech.io.metadata import ShotMetadata
    from l2tech.profiles.matching import match_lens
    from l2tech.pipeline import Recipe
    from l2tech.pipeline.video import VideoJob, run_video_job

    W, H, N = 320, 240, 5
    rng = np.random.default_rng(3)
    x = np.arange(W, dtype=np.float32)[None, :, None]
    frames = []
    for _ in range(N):
        base = cv2.GaussianBlur(rng.uniform(0, 1, (H, W, 3)).astype(np.float32), (0, 0), 5)
        base = (base - base.min()) / (base.max() - base.min())
        lin = 0.03 + 0.5 * base * (0.5 + 0.5 * x / W)  # smooth, 0.03..0.53 linear, no clipping after the gain
        frames.append(np.clip(np.round(_bt709_oetf(lin) * 255), 0, 255).astype(np.uint8))
    src, out = tmp_path / "in.mp4", tmp_path / "out.mp4"
    write_clip(src, frames, rate=25, pix_fmt="yuv444p", options={"qp": "0", "preset": "ultrafast"}, audio_seconds=0.3)
    job = VideoJob(Recipe(camera="Panasonic DC-S5", lens="Lumix S 20-60/F3.5-5.6", focal_length_mm=20.0, f_number=4.0), crf=0)
    report, _ = run_video_job(job, str(src), out)
    assert report.frames_written == N and report.streams_copied == ("#1 audio aac",)

    fin, tin, din = _decode_444(src)
    fout, tout, dout = _decode_444(out)
    assert len(fout) == len(fin) == N
    assert tout == pytest.approx(tin, abs=1e-6) and tout == pytest.approx([i / 25 for i in range(N)], abs=1e-6)
    assert dout == pytest.approx(din, abs=1e-6)
    assert [d for _, d in _packets(out, 1)] == [d for _, d in _packets(src, 1)]

    meta = ShotMetadata(path="synthetic", make=None, model=None, lens_make=None, lens_model=None, lens_id=None,
                        focal_length_mm=20.0, f_number=4.0, focus_distance_m=None, orientation=None, width=None,
                        height=None, crop_factor=None, datetime_original=None, exposure_time_s=None, iso=None, gps=None)
    lens = match_lens(meta, camera="Panasonic DC-S5", lens="Lumix S 20-60/F3.5-5.6")
    for a, b in zip(fin, fout):
        linear = _bt709_oetf_inverse(a / 255.0).astype(np.float32)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the database lens's coverage warnings
            ref = correct(linear, lens.lens, 20.0, 4.0, crop_factor=lens.crop_factor)
        diff = np.abs(b - _bt709_oetf(ref) * 255.0)
        mean, p99, mx = diff.mean(), np.percentile(diff, 99), diff.max()
        print(f"video vs stills (code values): mean {mean:.3f}, p99 {p99:.2f}, max {mx:.2f}")
        assert mean <= 0.8 and p99 <= 2.5 and mx <= 4.0


def _blob_image(points: np.ndarray, w: int, h: int, sigma: float = 1.6) -> np.ndarray:
    """Dark frame with one Gaussian spot (peak 200 codes) per point, uint8 (H, W, 3)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.full((h, w), 16.0)
    for px, py in points:
        img += 200.0 * np.exp(-((xx - px) ** 2 + (yy - py) ** 2) / (2 * sigma**2))
    return np.repeat(np.clip(np.round(img), 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def _centroid(img: np.ndarray, x: float, y: float, r: int = 5) -> tuple[float, float]:
    x0, y0 = int(round(x)), int(round(y))
    win = img[y0 - r : y0 + r + 1, x0 - r : x0 + r + 1] - np.median(img)
    win = np.clip(win, 0, None)
    yy, xx = np.mgrid[y0 - r : y0 + r + 1, x0 - r : x0 + r + 1]
    return float((win * xx).sum() / win.sum()), float((win * yy).sum() / win.sum())


def test_pinhole_clip_geometry_against_opencv_projection(tmp_path):
    """`l2 video --intrinsics --dist-coeffs` straightens a synthetic dot grid: spots drawn where
    ``cv2.projectPoints`` (the OpenCV pinhole model, oracle) images a regular grid of rays are
    found, in the decoded output, on that regular grid (``K`` applied to the undistorted rays),
    within 0.1 px (spot centroids on the luma plane; measured max 0.049 px, mean 0.021 px).
    320x240, 3 frames, k1 = −0.25, k2 = 0.08, p1 = 0.002, p2 = −0.001 (spots moved by more than
    10 px at the corners)."""
    import av

    from l2tech.pipeline import Recipe
    from l2tech.pipeline.video import VideoJob, run_video_job

    W, H = 320, 240
    K = np.array([[250.0, 0.0, 161.3], [0.0, 252.0, 118.7], [0.0, 0.0, 1.0]])
    D = np.array([-0.25, 0.08, 0.002, -0.001, 0.0])
    gx, gy = np.meshgrid(np.linspace(20, W - 21, 9), np.linspace(20, H - 21, 7))
    target = np.stack([gx.ravel(), gy.ravel()], -1)  # where the spots must end up (output pixels)
    rays = np.stack([(target[:, 0] - K[0, 2]) / K[0, 0], (target[:, 1] - K[1, 2]) / K[1, 1], np.ones(len(target))], -1)
    drawn, _ = cv2.projectPoints(rays, np.zeros(3), np.zeros(3), K, D)
    drawn = drawn.reshape(-1, 2)
    assert np.abs(drawn - target).max() > 10  # the distortion is strong enough to matter
    frame = _blob_image(drawn, W, H)
    src, out = tmp_path / "dots.mp4", tmp_path / "flat.mp4"
    write_clip(src, [frame] * 3, rate=25, pix_fmt="yuv444p", options={"qp": "0", "preset": "ultrafast"})
    job = VideoJob(intrinsics=(K[0, 0], K[1, 1], K[0, 2], K[1, 2]), dist_coeffs=tuple(D), lens_model="opencv", crf=0)
    report, _ = run_video_job(job, str(src), out)
    assert report.frames_written == 3
    with av.open(str(out)) as c:
        luma = [f.to_ndarray()[0].astype(np.float64) for f in c.decode(video=0)]
    assert len(luma) == 3
    for y in luma:
        found = np.array([_centroid(y, px, py) for px, py in target])
        err = np.hypot(*(found - target).T)
        print(f"spot position error: max {err.max():.3f} px, mean {err.mean():.3f} px")
        assert err.max() <= 0.1


def test_color_tags_default_unspecified(tmp_path):
    """A clip without tags comes out tagged (BT.601 below 720 lines, limited range)."""
    import av

    src = tmp_path / "untagged.mp4"
    with av.open(str(src), "w") as o:
        vs = o.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 48, "yuv420p"
        vs.options = {"preset": "ultrafast"}
        for i, rgb in enumerate(numbered_frames(3, 64, 48)):
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            f.pts = i
            for p in vs.encode(f):
                o.mux(p)
        for p in vs.encode():
            o.mux(p)
    r = process_video(src, tmp_path / "o.mp4")
    assert r.color == "smpte170m/tv"
    with av.open(str(tmp_path / "o.mp4")) as c:
        assert int(c.streams.video[0].codec_context.colorspace) == 6
    assert ColorTags("smpte170m", False).sws_colorspace == 5


def test_missing_moov_job_error(tmp_path):
    p = tmp_path / "x.mp4"
    p.write_bytes(b"\x00\x00\x00\x08mdat" + b"\x00" * 100)
    with pytest.raises(CorruptInputError, match="container incomplete"):
        process_video(p, tmp_path / "o.mp4")


@pytest.mark.parametrize("codec,pix_fmt,ext,decoder", [
    ("libx265", "yuv420p", ".mp4", "hevc"),
    ("prores_ks", "yuv422p10le", ".mov", "prores"),
])
def test_hevc_and_prores_keep_codec_family_and_depth(tmp_path, codec, pix_fmt, ext, decoder):
    import av

    src = tmp_path / f"in{ext}"
    opts = {"preset": "ultrafast", "crf": "10", "x265-params": "log-level=error"} if codec == "libx265" else {}
    frames = numbered_frames(4, 64, 48)
    if pix_fmt.endswith("10le"):
        frames = [f.astype(np.uint16) * 257 for f in frames]
    write_clip(src, frames, codec=codec, pix_fmt=pix_fmt, options=opts)
    out = tmp_path / f"out{ext}"
    r = process_video(src, out)
    with av.open(str(out)) as c:
        cc = c.streams.video[0].codec_context
        assert cc.name == decoder and cc.pix_fmt == pix_fmt
        got = [f.to_ndarray(format="rgb24")[:, :32].mean() for f in c.decode(video=0)]
    assert r.frames_written == 4
    assert got == pytest.approx([8 + 8 * i for i in range(4)], abs=2.5)


def test_chapters_copied_and_trimmed(tmp_path):
    import av

    src = tmp_path / "chapters.mkv"
    write_clip(src, numbered_frames(25, 64, 48), rate=25)
    withch = tmp_path / "withch.mkv"
    with av.open(str(src)) as c, av.open(str(withch), "w") as o:
        s = o.add_stream_from_template(c.streams.video[0])
        ms = Fraction(1, 1000)
        o.set_chapters([{"id": 1, "start": 0, "end": 400, "time_base": ms, "metadata": {"title": "one"}},
                        {"id": 2, "start": 400, "end": 1000, "time_base": ms, "metadata": {"title": "two"}}])
        for p in c.demux(c.streams.video[0]):
            if p.dts is not None:
                p.stream = s
                o.mux(p)
    process_video(withch, tmp_path / "all.mp4")
    with av.open(str(tmp_path / "all.mp4")) as c:
        chs = c.chapters()
    assert [ch["metadata"]["title"] for ch in chs] == ["one", "two"]
    assert float(chs[1]["start"] * chs[1]["time_base"]) == pytest.approx(0.4, abs=1e-3)
    process_video(withch, tmp_path / "trim.mkv", start_s=0.6, duration_s=0.2)
    with av.open(str(tmp_path / "trim.mkv")) as c:
        chs = c.chapters()
    assert [ch["metadata"]["title"] for ch in chs] == ["two"]
    assert float(chs[0]["start"] * chs[0]["time_base"]) == pytest.approx(0.0, abs=1e-3)
    assert float(chs[0]["end"] * chs[0]["time_base"]) == pytest.approx(0.2, abs=1e-3)
