"""Bad video input refused before decoding (RELIABILITY.md cases 1, 8, 9)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from l2tech.errors import CorruptInputError, EmptyFileError, LimitExceededError, UnsupportedFormatError
from l2tech.video.probe import VideoLimits, check_video_file, probe_video, read_mp4_tracks
from l2tech.video.synth import numbered_frames, write_clip
from l2tech.video.transcode import process_video


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("probe") / "tiny.mp4"
    write_clip(p, numbered_frames(10, 64, 48), rate=25)
    return p


def _boxes(data: bytes, start: int, end: int):
    pos = start
    while pos + 8 <= end:
        size, typ = struct.unpack(">I4s", data[pos : pos + 8])
        yield typ, pos, size
        pos += size


def _find_path(data: bytes, path: list[bytes]) -> tuple[int, int]:
    start, end = 0, len(data)
    for name in path:
        for typ, pos, size in _boxes(data, start, end):
            if typ == name:
                start, end = pos + 8, pos + size
                break
        else:
            raise AssertionError(f"box {name!r} not found")
    return start, end


def test_tiny_clip_probes(tiny_clip):
    info = probe_video(tiny_clip)
    assert (info.width_px, info.height_px, info.n_frames) == (64, 48, 10)
    assert info.codec == "h264" and info.bit_depth == 8
    assert float(info.frame_rate) == pytest.approx(25.0)
    assert (info.matrix, info.color_range) == ("bt709", "tv")
    (track,) = read_mp4_tracks(tiny_clip)
    assert (track.handler, track.sample_entry, track.width_px, track.height_px) == ("vide", "avc1", 64, 48)
    assert track.fps == pytest.approx(25.0)


def test_empty_file(tmp_path):
    p = tmp_path / "empty.mp4"
    p.write_bytes(b"")
    with pytest.raises(EmptyFileError, match="empty.mp4: empty file"):
        check_video_file(p)


def test_missing_file(tmp_path):
    from l2tech.errors import InputNotFoundError

    with pytest.raises(InputNotFoundError, match="nope.mp4: file not found"):
        check_video_file(tmp_path / "nope.mp4")
    (tmp_path / "d.mp4").mkdir()
    with pytest.raises(UnsupportedFormatError, match="not a file"):
        check_video_file(tmp_path / "d.mp4")


def test_no_moov_is_container_incomplete(tiny_clip, tmp_path):
    data = tiny_clip.read_bytes()
    kept = b"".join(data[pos : pos + size] for typ, pos, size in _boxes(data, 0, len(data)) if typ != b"moov")
    p = tmp_path / "interrupted.mp4"
    p.write_bytes(kept)
    with pytest.raises(CorruptInputError, match="container incomplete: media data but no 'moov'"):
        check_video_file(p)
    # the whole job refuses too, and writes nothing
    out = tmp_path / "out.mp4"
    with pytest.raises(CorruptInputError):
        process_video(p, out)
    assert not out.exists() and list(tmp_path.iterdir()) == [p]


def test_truncated_moov(tiny_clip, tmp_path):
    data = tiny_clip.read_bytes()
    moov_start, moov_end = _find_path(data, [b"moov"])
    if moov_end != len(data):
        pytest.skip("moov is not at the end of this file")
    p = tmp_path / "cut.mp4"
    p.write_bytes(data[: moov_start + 40])
    with pytest.raises(CorruptInputError, match="container incomplete"):
        check_video_file(p)


def _patch_u32(data: bytearray, off: int, value: int) -> None:
    data[off : off + 4] = struct.pack(">I", value)


def test_absurd_frame_size_refused_before_decoding(tiny_clip, tmp_path, monkeypatch):
    data = bytearray(tiny_clip.read_bytes())
    stsd, _ = _find_path(data, [b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"])
    # visual sample entry: 8 (full box + count) + 8 (entry header) + 24 -> width, height u16
    data[stsd + 8 + 32 : stsd + 8 + 36] = struct.pack(">HH", 16384, 16384)
    tkhd, _ = _find_path(data, [b"moov", b"trak", b"tkhd"])
    _patch_u32(data, tkhd + 76, 16384 << 16)
    _patch_u32(data, tkhd + 80, 16384 << 16)
    p = tmp_path / "huge.mp4"
    p.write_bytes(bytes(data))
    import av

    def no_open(*a, **k):  # the refusal must come before FFmpeg sees the file
        raise AssertionError("FFmpeg opened a file that should have been refused")

    monkeypatch.setattr(av, "open", no_open)
    with pytest.raises(LimitExceededError, match="16384x16384"):
        process_video(p, tmp_path / "out.mp4")
    assert not (tmp_path / "out.mp4").exists()


def test_absurd_frame_rate_refused(tiny_clip, tmp_path):
    data = bytearray(tiny_clip.read_bytes())
    mdhd, _ = _find_path(data, [b"moov", b"trak", b"mdia", b"mdhd"])
    assert data[mdhd] == 0  # version 0: timescale at +12
    ts = struct.unpack(">I", data[mdhd + 12 : mdhd + 16])[0]
    _patch_u32(data, mdhd + 12, ts * 40000)  # 25 fps -> 10^6 fps
    p = tmp_path / "fast.mp4"
    p.write_bytes(bytes(data))
    with pytest.raises(LimitExceededError, match="1e\\+06 frames per second"):
        check_video_file(p)
    # a raised limit lets it through the header check
    check_video_file(p, VideoLimits(max_fps=2e6))


def test_limits_from_ffmpeg_for_other_containers(tmp_path):
    p = tmp_path / "clip.mkv"
    write_clip(p, numbered_frames(3, 64, 48))
    assert check_video_file(p) == []  # not ISO-BMFF: checked from FFmpeg's parameters
    with pytest.raises(LimitExceededError, match="64x48"):
        probe_video(p, VideoLimits(max_side_px=32))


def test_garbage_named_mp4(tmp_path):
    p = tmp_path / "text.mp4"
    p.write_bytes(b"hello, this is not a video\n" * 10)
    with pytest.raises((CorruptInputError, UnsupportedFormatError)):
        probe_video(p)
    rng = np.random.default_rng(3)
    q = tmp_path / "noise.mkv"
    q.write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with pytest.raises((CorruptInputError, UnsupportedFormatError)):
        probe_video(q)
