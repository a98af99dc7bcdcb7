"""Streamed transcode: frames, timestamps, trimming, streams kept, decode errors, atomic output."""

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
    assert any("GoPro TCD" in s for s in r.streams_dropped)  # tmcd: re-made from the timecode tag


def r_offset(times: list[float], start: float) -> float:
    """Time of the first kept frame (the shift applied to every stream when trimming)."""
    return min(t for t in times if t >= start - 1e-6)


def test_correct_frame_equals_stills_remap(tmp_path):
    """Acceptance: a processed frame equals the stills remap of the same decoded frame within
    1 code value on 99.9 % of pixels (same interpolation), before encoding."""
    src = shared_file(GOPRO)
    w, h = 854, 480
    x, y = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    cx, cy = (w - 1) / 2, (h - 1) / 2
    r2 = ((x - cx) ** 2 + (y - cy) ** 2) / (h / 2) ** 2
    m = np.stack([(x - cx) * (1 - 0.08 * r2) + cx, (y - cy) * (1 - 0.08 * r2) + cy], -1).astype(np.float32)
    seen = {}

    def hook(i, rgb_in, rgb_out):
        if i in (0, 17):
            seen[i] = (rgb_in.copy(), rgb_out.copy())

    process_video(src, tmp_path / "o.mp4", FramePipeline((w, h), map_xy=m), duration_s=0.7, frame_hook=hook)
    assert set(seen) == {0, 17}
    for rgb_in, rgb_out in seen.values():
        ref = _stills_correct(rgb_in, m)
        diff = np.abs(rgb_out.astype(np.float64) - ref)
        assert np.mean(diff <= 1) >= 0.999, f"{np.mean(diff <= 1):.5f} within 1 code; max {diff.max()}"


def _stills_correct(rgb: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The stills path on one frame: float image, one bilinear remap, quantise."""
    try:
        from l2tech.correct import remap_image  # type: ignore[attr-defined]
    except ImportError:
        img = rgb.astype(np.float32) / 255.0
        out = cv2.remap(img, m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        return np.clip(np.round(out * 255.0), 0, 255)
    return np.clip(np.round(remap_image(rgb.astype(np.float32) / 255.0, m, interpolation="bilinear") * 255.0), 0, 255)


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
