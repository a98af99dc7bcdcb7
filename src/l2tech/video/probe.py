"""Checks a video file before any decoder touches it, and describes its streams.

RELIABILITY.md cases 1, 8 and 9: an empty file, an MP4/MOV without its ``moov`` index (an
interrupted recording) and a header claiming absurd frame sizes or rates are refused with a
typed one-line error *before* FFmpeg decodes a frame. For ISO-BMFF files (MP4, MOV, M4V, 3GP)
the box tree is walked here (bounded: at most a few thousand boxes, no payload read beyond the
few header fields below); other containers are checked from FFmpeg's stream parameters.

References
----------
ISO/IEC 14496-12 (ISO base media file format): box header (size, type, 64-bit ``largesize``),
``moov/trak/tkhd`` (width, height as 16.16 fixed point), ``mdia/mdhd`` (timescale),
``mdia/hdlr`` (handler type), ``stbl/stsd`` visual sample entry (16-bit width, height),
``stbl/stts`` (sample deltas).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Mapping

from l2tech.errors import (CorruptInputError, EmptyFileError, InputNotFoundError, LimitExceededError, UnsupportedFormatError,
                           UsageError)

__all__ = ["VideoLimits", "TrackHeader", "VideoInfo", "check_video_file", "read_mp4_tracks", "read_mp4_samples",
           "probe_video"]


@dataclass(frozen=True)
class VideoLimits:
    """Safety limits checked from headers before decoding (RELIABILITY.md E4).

    Parameters
    ----------
    max_side_px : int
        Largest accepted frame width or height, pixels (12K cinema cameras record 12288).
    max_pixels : int
        Largest accepted frame area, pixels.
    max_fps : float
        Largest accepted frame rate, frames per second (high-speed cameras record 1000).
    max_frames : int
        Largest accepted frame count.
    """

    max_side_px: int = 12288
    max_pixels: int = 12288 * 8192
    max_fps: float = 1000.0
    max_frames: int = 10_000_000


@dataclass(frozen=True)
class TrackHeader:
    """What an ISO-BMFF ``trak`` box declares, read without decoding.

    ``handler`` is the four-character handler type (``"vide"``, ``"soun"``, ``"meta"``,
    ``"tmcd"``); ``width_px``/``height_px`` come from the visual sample entry (or ``tkhd`` when
    there is none); ``fps`` is the mean rate ``samples · timescale / Σ sample deltas`` from
    ``stts`` (``None`` when unknown).
    """

    handler: str
    sample_entry: str
    width_px: int
    height_px: int
    timescale: int
    fps: float | None


@dataclass(frozen=True)
class VideoInfo:
    """A video file's first video stream and the streams beside it, as FFmpeg reports them.

    Parameters
    ----------
    path : str
        The file.
    container : str
        FFmpeg's format name (``"mov,mp4,m4a,3gp,3g2,mj2"``, ``"matroska,webm"``).
    codec : str
        Video decoder name (``"h264"``, ``"hevc"``, ``"prores"``).
    width_px, height_px : int
        Coded frame size.
    pix_fmt : str
        Decoded pixel format (``"yuv420p"``, ``"yuvj420p"``, ``"yuv422p10le"``).
    bit_depth : int
        Bits per component of the decoded frames (8, 10, 12).
    frame_rate : Fraction
        Average frame rate, frames per second (``guessed_rate`` when the average is unknown).
    n_frames : int
        Frame count from the container index (0 when the container does not say).
    duration_s : float
        Video stream duration in seconds (container duration when the stream has none).
    matrix, color_range, primaries, transfer : str
        Color tags as FFmpeg names them (``"bt709"``, ``"tv"``/``"pc"``); see
        :mod:`l2tech.video.colortags` for how unspecified tags are resolved.
    audio_streams, data_streams : int
        Number of audio and data (telemetry, timecode) streams.
    metadata : Mapping[str, str]
        Container metadata (``creation_time``, ``firmware``, make/model tags).
    """

    path: str
    container: str
    codec: str
    width_px: int
    height_px: int
    pix_fmt: str
    bit_depth: int
    frame_rate: Fraction
    n_frames: int
    duration_s: float
    matrix: str
    color_range: str
    primaries: str
    transfer: str
    audio_streams: int
    data_streams: int
    metadata: Mapping[str, str] = field(default_factory=dict)


_ISO_BRANDS_EXT = {".mp4", ".m4v", ".mov", ".3gp", ".3g2", ".mj2", ".qt"}
_CONTAINER_BOXES = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"udta"}
_MAX_BOXES = 20000


def _iter_boxes(fh, start: int, end: int, path: str):
    """Yield ``(type, payload_offset, payload_size)`` of the boxes in ``[start, end)``."""
    pos = start
    count = 0
    while pos + 8 <= end:
        fh.seek(pos)
        hdr = fh.read(8)
        if len(hdr) < 8:
            return
        size, typ = struct.unpack(">I4s", hdr)
        hsize = 8
        if size == 1:
            ext = fh.read(8)
            if len(ext) < 8:
                raise CorruptInputError("container incomplete: box header cut short", path=path)
            size = struct.unpack(">Q", ext)[0]
            hsize = 16
        elif size == 0:
            size = end - pos
        if size < hsize:
            raise CorruptInputError(f"corrupt container: box {typ!r} declares size {size}", path=path)
        yield typ, pos + hsize, min(size, end - pos) - hsize, pos + size > end
        pos += size
        count += 1
        if count > _MAX_BOXES:
            raise LimitExceededError(f"container has more than {_MAX_BOXES} boxes at one level", path=path)


def _find(fh, start: int, end: int, path: str, typ: bytes):
    for t, off, size, _cut in _iter_boxes(fh, start, end, path):
        if t == typ:
            return off, size
    return None


def _read_at(fh, off: int, n: int) -> bytes:
    fh.seek(off)
    return fh.read(n)


def read_mp4_tracks(path: str | os.PathLike) -> list[TrackHeader]:
    """Read the track headers of an ISO-BMFF file (MP4/MOV) without decoding anything.

    Parameters
    ----------
    path : path-like
        An MP4/MOV/3GP file.

    Returns
    -------
    list of TrackHeader
        One per ``trak`` box, in file order.

    Raises
    ------
    CorruptInputError
        The file has media data but no ``moov`` box ("container incomplete", as left by an
        interrupted recording), or a box header is cut short or inconsistent.
    """
    p = str(path)
    size = os.path.getsize(p)
    tracks: list[TrackHeader] = []
    with open(p, "rb") as fh:
        top = {t: (off, sz, cut) for t, off, sz, cut in _iter_boxes(fh, 0, size, p)}
        if b"moov" not in top:
            what = "media data but no" if b"mdat" in top else "no"
            raise CorruptInputError(
                f"container incomplete: {what} 'moov' index (an interrupted recording?); "
                "recover it with a tool such as untrunc, then retry",
                path=p,
            )
        moov_off, moov_size, cut = top[b"moov"]
        if cut:
            raise CorruptInputError("container incomplete: the 'moov' index is cut short", path=p)
        for t, off, sz, _c in _iter_boxes(fh, moov_off, moov_off + moov_size, p):
            if t != b"trak":
                continue
            tracks.append(_read_trak(fh, off, sz, p))
    return tracks


_MAX_SAMPLES = 1 << 20


def _table(fh, box: tuple[int, int] | None, width: int) -> list[tuple[int, ...]]:
    """Entries of a full box whose payload is ``version/flags, count, count × width u32``."""
    if box is None:
        return []
    raw = _read_at(fh, box[0] + 4, 4)
    n = struct.unpack(">I", raw)[0] if len(raw) == 4 else 0
    n = min(n, (box[1] - 8) // (4 * width), _MAX_SAMPLES)
    data = _read_at(fh, box[0] + 8, 4 * width * n)
    n = len(data) // (4 * width)
    vals = struct.unpack(f">{width * n}I", data[: 4 * width * n])
    return [vals[i * width : (i + 1) * width] for i in range(n)]


def read_mp4_samples(path: str | os.PathLike, track: int) -> tuple[int, list[tuple[int, int, int]]]:
    """Where the samples of one ISO-BMFF track lie, from its sample tables, without FFmpeg.

    For tracks FFmpeg's demuxer returns no packets of (a GoPro ``fdsc`` "GoPro SOS" track,
    whose samples hold the camera model and serial that telemetry readers look for), so that
    they can be copied.

    Parameters
    ----------
    path : path-like
        An MP4/MOV file.
    track : int
        Index of the ``trak`` box in file order (FFmpeg's stream index for MP4/MOV).

    Returns
    -------
    (int, list of (int, int, int))
        The track's timescale, and ``(file offset, size in bytes, decode time in timescale
        units)`` per sample. Empty when the track has no sample tables.

    Raises
    ------
    CorruptInputError
        As :func:`read_mp4_tracks`.

    References
    ----------
    ISO/IEC 14496-12: ``stsz`` (8.7.3), ``stsc`` (8.7.4), ``stco``/``co64`` (8.7.5), ``stts``
    (8.6.1.2).
    """
    p = str(path)
    size = os.path.getsize(p)
    with open(p, "rb") as fh:
        moov = _find(fh, 0, size, p, b"moov")
        if moov is None:
            raise CorruptInputError("container incomplete: no 'moov' index", path=p)
        traks = [(off, sz) for t, off, sz, _c in _iter_boxes(fh, moov[0], moov[0] + moov[1], p) if t == b"trak"]
        if not 0 <= track < len(traks):
            return 0, []
        off, sz = traks[track]
        mdia = _find(fh, off, off + sz, p, b"mdia")
        minf = _find(fh, mdia[0], mdia[0] + mdia[1], p, b"minf") if mdia else None
        stbl = _find(fh, minf[0], minf[0] + minf[1], p, b"stbl") if minf else None
        if stbl is None:
            return 0, []
        timescale = _read_trak(fh, off, sz, p).timescale

        def box(name: bytes):
            return _find(fh, stbl[0], stbl[0] + stbl[1], p, name)

        stsz = box(b"stsz")
        if stsz is None:
            return timescale, []
        fixed, count = struct.unpack(">II", _read_at(fh, stsz[0] + 4, 8))
        count = min(count, _MAX_SAMPLES)
        if fixed:
            sizes = [fixed] * count
        else:
            raw = _read_at(fh, stsz[0] + 12, 4 * count)
            sizes = list(struct.unpack(f">{len(raw) // 4}I", raw[: len(raw) // 4 * 4]))
        co64 = box(b"co64")
        if co64 is not None:
            pairs = _table(fh, co64, 2)
            chunks = [(hi << 32) | lo for hi, lo in pairs]
        else:
            chunks = [c[0] for c in _table(fh, box(b"stco"), 1)]
        stsc = _table(fh, box(b"stsc"), 3)
        deltas = [d for n, d in _table(fh, box(b"stts"), 2) for _ in range(min(n, _MAX_SAMPLES))]
        samples: list[tuple[int, int, int]] = []
        k = 0
        t = 0
        for ci, chunk_off in enumerate(chunks, start=1):
            per = next((spc for first, spc, _d in reversed(stsc) if first <= ci), 0)
            pos = chunk_off
            for _ in range(per):
                if k >= len(sizes):
                    break
                samples.append((pos, sizes[k], t))
                pos += sizes[k]
                t += deltas[k] if k < len(deltas) else 0
                k += 1
    return timescale, samples


def _box_field(fh, start: int, offsets: tuple[int, int], fmt: str) -> tuple | None:
    """A field of a full box (ISO/IEC 14496-12 §4.2) whose offset from the payload ``start``
    depends on the box's version byte (``offsets`` for version 0 and 1); ``None`` when cut off."""
    version = _read_at(fh, start, 1)
    n = struct.calcsize(fmt)
    raw = _read_at(fh, start + (offsets[1] if version == b"\x01" else offsets[0]), n)
    return struct.unpack(fmt, raw) if len(raw) == n else None


def _read_trak(fh, off: int, sz: int, p: str) -> TrackHeader:
    width = height = 0
    tkhd = _find(fh, off, off + sz, p, b"tkhd")
    wh = None if tkhd is None else _box_field(fh, tkhd[0], (76, 88), ">II")  # 16.16 fixed point
    if wh is not None:
        width, height = wh[0] >> 16, wh[1] >> 16
    handler, sample_entry, timescale, fps = "", "", 0, None
    mdia = _find(fh, off, off + sz, p, b"mdia")
    if mdia is not None:
        m_off, m_size = mdia
        mdhd = _find(fh, m_off, m_off + m_size, p, b"mdhd")
        ts = None if mdhd is None else _box_field(fh, mdhd[0], (12, 20), ">I")
        if ts is not None:
            timescale = ts[0]
        hdlr = _find(fh, m_off, m_off + m_size, p, b"hdlr")
        if hdlr is not None:
            handler = _read_at(fh, hdlr[0] + 8, 4).decode("latin-1")
        minf = _find(fh, m_off, m_off + m_size, p, b"minf")
        stbl = _find(fh, minf[0], minf[0] + minf[1], p, b"stbl") if minf else None
        if stbl is not None:
            stsd = _find(fh, stbl[0], stbl[0] + stbl[1], p, b"stsd")
            if stsd is not None and handler == "vide":
                entry = _read_at(fh, stsd[0] + 8, 8 + 36)
                if len(entry) == 44:
                    sample_entry = entry[4:8].decode("latin-1")
                    w, h = struct.unpack(">HH", entry[32:36])
                    width, height = max(width, w), max(height, h)
            stts = _find(fh, stbl[0], stbl[0] + stbl[1], p, b"stts")
            if stts is not None and timescale:
                raw = _read_at(fh, stts[0] + 4, 4)
                n = struct.unpack(">I", raw)[0] if len(raw) == 4 else 0
                n = min(n, (stts[1] - 8) // 8, 1 << 20)
                if n > 0:
                    table = _read_at(fh, stts[0] + 8, 8 * n)
                    n = len(table) // 8
                    pairs = struct.unpack(f">{2 * n}I", table[: 8 * n])
                    samples = sum(pairs[0::2])
                    ticks = sum(c * d for c, d in zip(pairs[0::2], pairs[1::2]))
                    if samples and ticks:
                        fps = samples * timescale / ticks
    return TrackHeader(handler, sample_entry, width, height, timescale, fps)


def _check_limits(width: int, height: int, fps: float | None, n_frames: int, limits: VideoLimits, p: str) -> None:
    if width > limits.max_side_px or height > limits.max_side_px or width * height > limits.max_pixels:
        raise LimitExceededError(
            f"header declares a {width}x{height} frame; the limit is {limits.max_side_px} px a side and "
            f"{limits.max_pixels / 1e6:.0f} MP (VideoLimits)",
            path=p,
        )
    if fps is not None and fps > limits.max_fps:
        raise LimitExceededError(
            f"header declares {fps:.6g} frames per second; the limit is {limits.max_fps:g} (VideoLimits)", path=p
        )
    if n_frames > limits.max_frames:
        raise LimitExceededError(f"header declares {n_frames} frames; the limit is {limits.max_frames}", path=p)


def check_video_file(path: str | os.PathLike, limits: VideoLimits | None = None) -> list[TrackHeader]:
    """Refuse an empty, incomplete or absurd video file before FFmpeg opens it.

    Parameters
    ----------
    path : path-like
        The input video.
    limits : VideoLimits, optional
        Safety limits; the defaults when omitted.

    Returns
    -------
    list of TrackHeader
        The ISO-BMFF track headers (empty for other containers, which are checked by
        :func:`probe_video` from FFmpeg's stream parameters).

    Raises
    ------
    EmptyFileError
        The file has zero bytes.
    CorruptInputError
        The file is missing its ``moov`` index or a box header is inconsistent.
    LimitExceededError
        A declared frame size or frame rate exceeds ``limits``.
    InputNotFoundError
        No such file.
    UnsupportedFormatError
        The path is a folder or another non-regular file.
    """
    limits = limits or VideoLimits()
    p = str(path)
    if not os.path.exists(p):
        raise InputNotFoundError("file not found", path=p)
    if not os.path.isfile(p):
        raise UnsupportedFormatError("not a file (a folder?)", path=p)
    if os.path.getsize(p) == 0:
        raise EmptyFileError("empty file (0 bytes)", path=p)
    with open(p, "rb") as fh:
        head = fh.read(12)
    is_iso = head[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip") or Path(p).suffix.lower() in _ISO_BRANDS_EXT
    if not is_iso:
        return []
    tracks = read_mp4_tracks(p)
    for t in tracks:
        if t.handler == "vide":
            _check_limits(t.width_px, t.height_px, t.fps, 0, limits, p)
    return tracks


_MATRIX = {1: "bt709", 5: "bt470bg", 6: "smpte170m", 7: "smpte240m", 9: "bt2020nc", 10: "bt2020c", 0: "rgb"}
_PRIMARIES = {1: "bt709", 5: "bt470bg", 6: "smpte170m", 9: "bt2020", 12: "smpte432"}
_TRC = {1: "bt709", 6: "smpte170m", 8: "linear", 13: "iec61966-2-1", 14: "bt2020-10", 16: "smpte2084", 18: "arib-std-b67"}


def _tag(table: dict[int, str], value: object) -> str:
    try:
        return table.get(int(value), "unspecified")  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "unspecified"


def probe_video(path: str | os.PathLike, limits: VideoLimits | None = None) -> VideoInfo:
    """Describe a video file's first video stream (after :func:`check_video_file`).

    Parameters
    ----------
    path : path-like
        The input video (checked by :func:`check_video_file` first).
    limits : VideoLimits, optional
        Safety limits (frame size, frame count, duration); the defaults when omitted.

    Returns
    -------
    VideoInfo

    Raises
    ------
    EmptyFileError, CorruptInputError, LimitExceededError, UnsupportedFormatError
        As :func:`check_video_file`; also when FFmpeg cannot open the file or it has no video
        stream.
    UsageError
        The file is a still image (FFmpeg's ``image2`` or ``*_pipe`` demuxers).
    """
    import av

    limits = limits or VideoLimits()
    p = str(path)
    check_video_file(p, limits)
    try:
        container = av.open(p)
    except av.FFmpegError as exc:
        raise CorruptInputError(f"FFmpeg cannot open the file: {exc.__class__.__name__}: {getattr(exc, 'strerror', exc)}", path=p) from None
    with container:
        if not container.streams.video:
            raise UnsupportedFormatError("no video stream in the file", path=p)
        if container.format.name == "image2" or container.format.name.endswith("_pipe"):
            from l2tech.io.formats import sniff_format

            sniff_format(p)  # FFmpeg's image2 goes by the name: bytes of no known format are that error
            raise UsageError(f"a still image ({container.streams.video[0].codec_context.name}), not a video: "
                             "use `l2 correct` (or `l2 develop` for RAW files)", path=p)
        vs = container.streams.video[0]
        cc = vs.codec_context
        rate = vs.average_rate or vs.guessed_rate or Fraction(0)
        n_frames = int(vs.frames or 0)
        _check_limits(int(cc.width), int(cc.height), float(rate) if rate else None, n_frames, limits, p)
        if vs.duration is not None and vs.time_base is not None:
            duration = float(vs.duration * vs.time_base)
        else:
            duration = (container.duration or 0) / 1e6
        fmt = cc.format
        bit_depth = max((c.bits for c in fmt.components), default=8) if fmt is not None else 8
        rng = int(cc.color_range or 0)
        pix = cc.pix_fmt or ""
        color_range = "pc" if (rng == 2 or pix.startswith("yuvj")) else ("tv" if rng == 1 else "unspecified")
        return VideoInfo(
            path=p,
            container=container.format.name,
            codec=cc.name,
            width_px=int(cc.width),
            height_px=int(cc.height),
            pix_fmt=pix,
            bit_depth=int(bit_depth),
            frame_rate=Fraction(rate),
            n_frames=n_frames,
            duration_s=duration,
            matrix=_tag(_MATRIX, cc.colorspace),
            color_range=color_range,
            primaries=_tag(_PRIMARIES, cc.color_primaries),
            transfer=_tag(_TRC, cc.color_trc),
            audio_streams=len(container.streams.audio),
            data_streams=len(container.streams.data),
            metadata=dict(container.metadata),
        )
