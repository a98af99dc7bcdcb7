"""Streamed decode → process → encode of a clip with PyAV, keeping audio, data and metadata.

Decoding and demuxing run on the calling thread; each frame's color conversion, pipeline and
re-conversion run on a small thread pool (swscale, OpenCV and the numba kernels release the
GIL); encoding and muxing run on the calling thread in frame order. At most ``queue_frames``
frames are in flight, so memory does not grow with the clip's length.

Audio and data streams (GoPro GPMF ``gpmd`` telemetry) are copied packet for packet, with
timestamps rescaled; a data stream the output container cannot hold (e.g. a QuickTime ``tmcd``
timecode track in MP4) is left out and named in the report — the timecode itself is kept as the
video stream's ``timecode`` tag, from which the MP4/MOV muxer writes a new timecode track.
Container metadata (creation time, make, model, firmware) and chapters are copied.

Given a ``provenance`` record (``l2 video`` always gives one), the output says it was made by
l2tech and how: the record (:func:`l2tech.io.provenance.l2tech_record_fields`) as JSON in the
container's ``comment`` tag (MP4/MOV: the ``comment`` metadata key; Matroska/WebM: the
``COMMENT`` tag), ``com.apple.quicktime.software`` = ``l2tech VERSION`` in MP4/MOV, and the video
stream's ``encoder`` = ``l2tech VERSION (ENCODER)`` (the MP4/MOV compressor name, Matroska's track
``ENCODER`` tag). The container's own ``encoder`` tag cannot say l2tech: libavformat's
``init_muxer`` (``libavformat/mux.c``) sets it to its ``LIBAVFORMAT_IDENT`` (``Lavf…``) over
any value given. :func:`l2tech_record_of` reads the record back.

The output is written to a temp file beside it and renamed only when complete
(:func:`l2tech.io.atomic.atomic_output`).

References
----------
FFmpeg ``doc/examples/transcode.c`` and ``remux.c`` (stream copy with ``av_packet_rescale_ts``);
PyAV ``OutputContainer.add_stream_from_template``.
"""

from __future__ import annotations

import collections
import concurrent.futures
import io
import os
import time
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from l2tech.errors import CorruptInputError, DecodeError, L2Error, UsageError, VideoError
from l2tech.video.colortags import ColorTags, frame_to_rgb, resolve_color_tags, rgb_to_frame
from l2tech.video.pipeline import FramePipeline
from l2tech.video.probe import VideoInfo, VideoLimits, probe_video

__all__ = ["EncodeOptions", "VideoReport", "process_video", "join_segments", "ENCODERS", "X264_PRESETS", "OUTPUT_CONTAINERS",
           "check_output_container", "l2tech_record_of", "read_l2tech_record", "SOFTWARE_KEY"]

# input decoder -> default encoder
ENCODERS = {"h264": "libx264", "hevc": "libx265", "prores": "prores_ks", "av1": "libsvtav1", "vp9": "libvpx-vp9"}
#: x264's and x265's presets (``x264 --fullhelp``, ``x265 --help``), fastest first.
X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo")
_CRF_CODECS = {"libx264", "libx265", "libsvtav1", "libvpx-vp9"}
# encoders whose streams are limited range by definition (no full-range flag in the bitstream)
_LIMITED_ONLY = {"prores", "dnxhd"}


@dataclass(frozen=True)
class EncodeOptions:
    """How the video stream is encoded.

    Parameters
    ----------
    codec : str, optional
        FFmpeg encoder name (``"libx264"``, ``"libx265"``, ``"prores_ks"``); default: the
        input's codec family (H.264 → libx264, HEVC → libx265, ProRes → prores_ks, others
        libx264).
    crf : int, optional
        Constant rate factor for x264/x265/SVT-AV1/VP9; default 18 (visually lossless for
        x264) unless ``bitrate`` is given.
    bitrate : int, optional
        Target bit rate, bits per second (instead of CRF).
    preset : str, optional
        Encoder preset (x264/x265: ``"ultrafast"`` … ``"veryslow"``); default the encoder's own.
    bit_depth : int, optional
        8 or 10; default the input's.
    pix_fmt : str, optional
        Output pixel format; default the input's chroma subsampling at ``bit_depth``
        (``yuv420p``, ``yuv420p10le``, ``yuv422p10le`` for ProRes).
    threads : int
        Encoder threads, 0 = FFmpeg's automatic choice.
    qp : int, optional
        Constant quantiser (x264/x265 ``qp``) instead of CRF: no rate-control state carried
        from frame to frame, so a clip encoded in segments equals the clip encoded whole
        (:func:`l2tech.pipeline.video.run_video_job`, ``segments``).
    keyframes_s : tuple of float
        Output times, seconds, of frames to encode as IDR keyframes (segment boundaries).
    """

    codec: str | None = None
    crf: int | None = None
    qp: int | None = None
    keyframes_s: tuple[float, ...] = ()
    bitrate: int | None = None
    preset: str | None = None
    bit_depth: int | None = None
    pix_fmt: str | None = None
    threads: int = 0


@dataclass(frozen=True)
class VideoReport:
    """What :func:`process_video` did.

    ``frames_decoded`` counts frames in the trimmed range that decoded, ``frames_written`` those
    encoded, ``decode_errors`` the packets that failed to decode (skipped under
    ``max_decode_errors``) plus the frames in which the decoder concealed errors; ``fps`` is frames written per second of wall time;
    ``streams_copied``/``streams_dropped`` describe the non-video streams
    (``"#1 audio aac"``, ``"#2 data (tmcd): not supported by mp4"``).
    """

    input: str
    output: str
    codec: str
    pix_fmt: str
    width_px: int
    height_px: int
    frames_decoded: int
    frames_written: int
    decode_errors: int
    duration_s: float
    wall_s: float
    fps: float
    color: str
    streams_copied: tuple[str, ...] = ()
    streams_dropped: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default_factory=tuple)


def _default_pix_fmt(codec: str, in_pix_fmt: str, bit_depth: int) -> str:
    chroma = "420"
    for c in ("444", "422", "420"):
        if c in in_pix_fmt:
            chroma = c
            break
    if codec.startswith("prores"):
        return "yuv444p10le" if chroma == "444" else "yuv422p10le"
    if codec in ("libsvtav1",):
        return "yuv420p10le" if bit_depth > 8 else "yuv420p"
    return f"yuv{chroma}p" + ("10le" if bit_depth > 8 else "")


class _DecoderLog:
    """Count the errors FFmpeg's decoder *logs* while a clip is decoded.

    H.264/HEVC decoders conceal damaged macroblocks and return a frame anyway: a bit flip
    raises nothing in PyAV and the frame is not flagged corrupt, but the decoder logs
    ``error while decoding MB 68 8`` (FFmpeg ``libavcodec/h264_slice.c``). PyAV hands FFmpeg's
    log to Python's ``logging`` (logger ``libav.<codec>``) once a level is set
    (``av.logging.set_level``); this handler counts the decoder's ERROR records, from every
    decoding thread. The previous log level is restored on exit.
    """

    _lock = __import__("threading").Lock()
    _users = 0
    _saved_level: object = None

    def __init__(self, decoder: str) -> None:
        import logging

        self.logger_name = f"libav.{decoder}"
        self.count = 0  # ERROR records logged by the decoder
        self.first: str | None = None
        self.concealed = 0  # decode calls whose errors were concealed (no exception followed)
        self._seen = 0
        self._pending: collections.deque = collections.deque()  # call indexes with new records
        self._calls = 0
        self.delay = 2

        outer = self

        class _Handler(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                if record.name == outer.logger_name and record.levelno >= logging.ERROR:
                    outer.count += 1
                    if outer.first is None:
                        outer.first = " ".join(record.getMessage().split())

        self._handler = _Handler()

    def after_decode(self, failed: bool) -> None:
        """Attribute the records logged since the last call to this decode call.

        With frame threading a packet's errors are logged up to ``delay`` calls before its
        failure is raised; records followed within ``delay`` calls by a failing packet are
        that packet's (already counted as skipped), the others mark a concealed frame.
        """
        self._calls += 1
        if failed:
            while self._pending and self._pending[-1] >= self._calls - self.delay - 1:
                self._pending.pop()
        elif self.count > self._seen:
            self._pending.append(self._calls)
        self._seen = self.count
        self._settle(self._calls - self.delay - 1)

    def _settle(self, upto: float) -> None:
        while self._pending and self._pending[0] < upto:
            self._pending.popleft()
            self.concealed += 1

    def finish(self) -> None:
        """At the end of the stream: every record not explained by a failure is a concealed frame."""
        if self.count > self._seen:
            self._pending.append(self._calls + 1)
            self._seen = self.count
        self._settle(float("inf"))

    def __enter__(self) -> "_DecoderLog":
        import logging

        import av.logging

        with _DecoderLog._lock:
            if _DecoderLog._users == 0:
                _DecoderLog._saved_level = av.logging.get_level()
                if _DecoderLog._saved_level is None or _DecoderLog._saved_level < av.logging.ERROR:
                    av.logging.set_level(av.logging.ERROR)
            _DecoderLog._users += 1
        logging.getLogger("libav").addHandler(self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        import logging

        import av.logging

        logging.getLogger("libav").removeHandler(self._handler)
        with _DecoderLog._lock:
            _DecoderLog._users -= 1
            if _DecoderLog._users == 0:
                av.logging.set_level(_DecoderLog._saved_level)


def _check_concealed(log: _DecoderLog, stats: dict, max_decode_errors: int, frame_index: int, src: Path) -> None:
    """Refuse the clip once skipped plus concealed frames exceed ``max_decode_errors``."""
    if log.concealed and stats["errors"] + log.concealed > max_decode_errors:
        raise DecodeError(
            f"corrupt video data: the decoder concealed errors in {log.concealed} frame(s) by frame {frame_index} "
            f"(first: {log.first!r}); damaged frames would be written; "
            f"use --max-decode-errors N to accept up to N bad frames",
            path=src,
        )


def _av_errors():
    import av

    return av.FFmpegError


def _data_stream_fits(fmt: str, in_stream) -> str | None:
    """None when ``fmt`` accepts a copy of ``in_stream``; else the reason it does not."""
    import av

    buf = io.BytesIO()
    try:
        with av.open(buf, "w", format=fmt) as probe:
            probe.add_stream_from_template(in_stream)
            probe.start_encoding()
    except av.FFmpegError as exc:
        return str(getattr(exc, "strerror", None) or exc).split(";")[0]
    except (ValueError, TypeError) as exc:
        return str(exc)
    return None


def _follow_on(packet, clock: dict[int, tuple[int, int]], retimed: collections.Counter) -> None:
    """Make a copied packet's timestamps increase: one whose ``dts`` goes back (or, for audio,
    repeats) is moved to follow the previous packet of its stream, ``pts`` by the same amount.

    A clip made by joining recordings (MPEG-TS files put end to end, an edited MOV) has audio
    packets whose timestamps restart; the muxer refuses them ("non monotonically increasing
    dts", ``Invalid argument``). Moving a packet, and the ones after it, to follow on keeps every
    audio sample, in order and without a gap, as a player of the input hears it; the video's
    frames are re-timed the same way (:func:`process_video`: a non-increasing frame time
    follows the frame before at the nominal rate). Forward jumps are kept: the time they skip
    is time the recording lacks (a dropout), and closing them would shift all later sound
    against the pictures.
    """
    sidx = packet.stream.index
    dts = packet.dts if packet.dts is not None else packet.pts
    if dts is None:
        return
    prev = clock.get(sidx)
    if prev is not None:
        last, dur = prev
        strict = packet.stream.type == "audio"  # the MP4/MOV muxer refuses equal audio dts too
        if dts < last or (strict and dts == last):
            shift = last + max(dur, 1) - dts
            if packet.dts is not None:
                packet.dts += shift
            if packet.pts is not None:
                packet.pts += shift
            dts += shift
            retimed[sidx] += 1
    dur = int(packet.duration or 0) or (prev[1] if prev is not None else 0)
    clock[sidx] = (dts, dur)


def _copy_unread_samples(src: Path, in_stream, out_stream, out, start_t: float, end_t: float | None,
                         offset_s: float, muxed: collections.Counter) -> None:
    """Copy the samples of a data track FFmpeg's demuxer returns none of (GoPro's ``fdsc``
    "GoPro SOS" track: the camera model and serial telemetry readers name the camera from),
    read from the input's sample tables (:func:`l2tech.video.probe.read_mp4_samples`).

    Samples in the processed range are copied with the trim's shift; a track whose samples all
    sit at time 0 describes the whole file and is copied whole.
    """
    import av

    from l2tech.video.probe import read_mp4_samples

    try:
        timescale, samples = read_mp4_samples(src, in_stream.index)
    except L2Error:
        return
    if not samples or not timescale:
        return
    whole = all(t == 0 for _o, _s, t in samples)
    tb = Fraction(1, timescale)
    shift = int(round(offset_s * timescale))
    with open(src, "rb") as fh:
        for off, size, t in samples:
            sec = t / timescale
            if not whole and (sec < start_t - 1e-6 or (end_t is not None and sec >= end_t)):
                continue
            fh.seek(off)
            data = fh.read(size)
            if len(data) != size:
                return
            pkt = av.Packet(data)
            pkt.pts = pkt.dts = t if whole else t - shift
            pkt.time_base = tb
            pkt.stream = out_stream
            out.mux(pkt)
            muxed[in_stream.index] += 1


def _timecode_add(timecode: str, frames: int, rate: Fraction) -> str:
    """SMPTE timecode ``HH:MM:SS:FF`` (``;`` before the frames: drop-frame) plus ``frames``.

    The timecode counts ``round(rate)`` frames a second; drop-frame (29.97, 59.94 fps) skips
    frame numbers 0 and 1 (0–3 at 59.94) at the start of every minute except each tenth.

    References
    ----------
    SMPTE ST 12-1:2014, clause 5.2.2 (drop-frame compensation); FFmpeg ``libavutil/timecode.c``
    (``av_timecode_adjust_ntsc_framenum2``).
    """
    sep = ";" if ";" in timecode else ":"
    try:
        hh, mm, ss, ff = (int(v) for v in timecode.replace(";", ":").replace(".", ":").split(":"))
    except ValueError:
        return timecode
    fps = max(1, int(round(float(rate))))
    drop = (2 * fps // 30) if sep == ";" else 0
    minutes = 60 * hh + mm
    n = ((minutes * 60 + ss) * fps + ff) - drop * (minutes - minutes // 10) + frames
    if drop:  # frame count → displayed numbers (FFmpeg's av_timecode_adjust_ntsc_framenum2)
        per10 = fps * 600 - drop * 9
        per1 = fps * 60 - drop
        d, m = divmod(n, per10)
        n += 9 * drop * d + (drop * ((m - drop) // per1) if m > drop else 0)
    ff = n % fps
    ss = n // fps % 60
    mm = n // (fps * 60) % 60
    hh = n // (fps * 3600) % 24
    return f"{hh:02d}:{mm:02d}:{ss:02d}{sep}{ff:02d}"


def _written_timecode(path: Path) -> tuple[str, str] | None:
    """(timecode, where) as a reader of the finished output finds it, or None."""
    import av

    def tc(meta) -> str | None:  # Matroska's tag is TIMECODE
        return next((v for k, v in meta.items() if k.lower() == "timecode"), None)

    try:
        with av.open(str(path)) as c:
            for st in c.streams:
                if st.type == "data" and tc(st.metadata):
                    return tc(st.metadata), "tmcd track"
            if c.streams.video and tc(c.streams.video[0].metadata):
                return tc(c.streams.video[0].metadata), "video stream tag"
            if tc(c.metadata):
                return tc(c.metadata), "container tag"
    except av.FFmpegError:
        return None
    return None


def _account_copies(labels: dict, muxed, written: Path, fmt: str, timecode_in, timecode_tracks: list,
                    copied: list, dropped: list, why_none: str) -> None:
    """Say what the written file holds, not what was asked for: each copied stream with a
    packet in ``copied``, the others in ``dropped`` (``why_none``), and the timecode as read
    back from ``written``."""
    for sidx, label in labels.items():
        if muxed[sidx]:
            copied.append(label)
        else:
            dropped.append(f"{label}: no packet to copy ({why_none})")
    if timecode_in or timecode_tracks:
        written_tc = _written_timecode(written)
        what = ", ".join(timecode_tracks) or "timecode tag"
        if written_tc is not None:
            copied.append(f"{what} as timecode {written_tc[0]} ({written_tc[1]})")
        else:
            dropped.append(f"{what}: {fmt} does not store the timecode {timecode_in}")


#: Output containers by file extension.
OUTPUT_CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}



#: QuickTime metadata key of the software that made the file (Apple, *QuickTime File Format
#: Specification*, "Metadata keys": ``com.apple.quicktime.software``); exiftool reads it as
#: ``Keys:Software``. Written into MP4/MOV with ``movflags=use_metadata_tags`` (the ``mdta`` keys).
SOFTWARE_KEY = "com.apple.quicktime.software"


def read_l2tech_record(metadata: Mapping[str, str]) -> dict[str, str]:
    """l2tech's record in a container's metadata (``comment``/``COMMENT`` JSON), or ``{}``.

    Parameters
    ----------
    metadata : mapping of str to str
        A container's tags as PyAV's ``container.metadata`` (or ffprobe's ``format.tags``)
        gives them; the key is matched without regard to case (Matroska's are upper case).

    Returns
    -------
    dict of str to str
        The record's properties (``Tool``, ``Version``, ``Corrections``, ...;
        :func:`l2tech.io.provenance.l2tech_record_fields`) when the comment is a JSON object
        whose ``Tool`` is ``l2tech``; else empty (a camera's or a person's comment).
    """
    import json

    for key, value in metadata.items():
        if key.lower() != "comment" or not isinstance(value, str) or not value.lstrip().startswith("{"):
            continue
        try:
            doc = json.loads(value)
        except ValueError:
            continue
        if isinstance(doc, dict) and doc.get("Tool") == "l2tech":
            return {str(k): str(v) for k, v in doc.items()}
    return {}


def l2tech_record_of(path: str | os.PathLike) -> dict[str, str]:
    """l2tech's record in a video file's container tags (:func:`read_l2tech_record`), or ``{}``.

    Only the header is read; a file FFmpeg cannot open has no record (its own error is
    reported by whatever reads it next).
    """
    import av

    try:
        with av.open(str(path)) as c:
            return read_l2tech_record(c.metadata)
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError):
        return {}


def _source_software(inp) -> str | None:
    """The software the input names as its maker: the container's QuickTime software key or
    ``encoder`` tag, else its video stream's ``encoder`` (a camera's: ``GoPro AVC encoder``)."""
    meta = {k.lower(): v for k, v in inp.metadata.items()}
    for v in (meta.get(SOFTWARE_KEY), meta.get("encoder")):
        if v and v.strip():
            return v.strip()
    if inp.streams.video:
        v = {k.lower(): val for k, val in inp.streams.video[0].metadata.items()}.get("encoder")
        if v and v.strip():
            return v.strip()
    return None


def _provenance_tags(record: Mapping[str, str], fmt: str, inp, codec_name: str) -> tuple[dict[str, str], str]:
    """The container tags carrying ``record`` and the video stream's ``encoder`` value.

    The input's own ``comment`` (when it is not an l2tech record) is kept in the record as
    ``SourceComment`` (the output's comment holds the record); its software as
    ``SourceSoftware`` unless the record names one.
    """
    import json

    from l2tech import __version__

    rec = dict(record)
    if "SourceSoftware" not in rec:
        software = _source_software(inp)
        if software:
            rec["SourceSoftware"] = software
    own = [v for k, v in inp.metadata.items() if k.lower() == "comment" and v and v.strip()]
    if own and not read_l2tech_record(inp.metadata) and "SourceComment" not in rec:
        rec["SourceComment"] = own[0]
    tags = {"comment": json.dumps(rec, separators=(", ", ": "))}
    if fmt in ("mp4", "mov"):
        tags[SOFTWARE_KEY] = f"l2tech {__version__}"
    # the MP4/MOV compressor name holds 31 bytes (FFmpeg movenc find_compressor)
    return tags, f"l2tech {__version__} ({codec_name})"[:31]


def _put_container_tags(out, tags: Mapping[str, str]) -> None:
    """Set ``tags`` on an output container, replacing any of the same name in another case
    (an input Matroska's ``COMMENT`` copied into the output); the input's software key is
    dropped where ``tags`` has none (Matroska: it named the input's maker, now the record's
    ``SourceSoftware``)."""
    lower = {k.lower() for k in tags} | {SOFTWARE_KEY}
    for k in [k for k in out.metadata if k.lower() in lower]:
        del out.metadata[k]
    out.metadata.update(tags)


def _output_format(path: Path) -> str:
    return OUTPUT_CONTAINERS.get(path.suffix.lower(), "")


def check_output_container(path: str | os.PathLike, codec: str | None = None) -> str:
    """The container format an output name asks for, checked against the encoder.

    Parameters
    ----------
    path : path-like
        The output file name as the user gave it (its extension picks the container).
    codec : str, optional
        FFmpeg encoder name (``"libx264"``, ``"prores_ks"``; ``"h264"``-style family names are
        mapped through :data:`ENCODERS`); None: not checked (the input's family is chosen later).

    Returns
    -------
    str
        FFmpeg's format name (``"mp4"``, ``"mov"``, ``"matroska"``, ``"webm"``).

    Raises
    ------
    UsageError
        An extension that is not a supported container, or a container that cannot hold the
        encoder's video (ProRes in ``.mp4``, H.264 in ``.webm``; libavformat's own table, asked
        through an in-memory PyAV container), or an encoder FFmpeg does not have.
    """
    import av

    p = Path(path)
    fmt = _output_format(p)
    if not fmt:
        have = f"extension {p.suffix!r}" if p.suffix else "no extension"
        raise UsageError(f"output has {have}; name it .mp4, .mov, .mkv or .webm", path=p)
    if codec:
        name = ENCODERS.get(codec, codec)
        from av.codec.codec import UnknownCodecError

        try:
            with av.open(io.BytesIO(), "w", format=fmt) as probe:
                probe.add_stream(name)
        except UnknownCodecError:
            raise UsageError(f"FFmpeg has no encoder {codec!r}; e.g. libx264, libx265, prores_ks", path=p) from None
        except ValueError:
            raise UsageError(f"a {p.suffix} file cannot hold {name} video; name the output .mov or .mkv, or choose "
                             "another --codec", path=p) from None
    return fmt


def _time(pts, tb) -> float | None:
    return None if pts is None else float(pts * tb)


def _trim_chapters(chapters: list, start_s: float, duration_s: float | None) -> list:
    """Chapters shifted by ``start_s`` and clipped to the trimmed range (unchanged when not trimming)."""
    if not chapters or (start_s <= 0 and duration_s is None):
        return list(chapters or [])
    span = float("inf") if duration_s is None else float(duration_s)
    out = []
    for ch in chapters:
        tb = ch["time_base"]
        s = float(ch["start"] * tb) - start_s
        e = float(ch["end"] * tb) - start_s
        if e <= 0 or s >= span:
            continue
        s, e = max(s, 0.0), min(e, span)
        out.append(dict(ch, start=int(round(s / tb)), end=int(round(e / tb)), id=len(out) + 1))
    return out


#: Longest --start / --duration taken, seconds (a bound that keeps the seek arithmetic in range).
MAX_CLIP_SECONDS = 1e9


def process_video(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    pipeline: FramePipeline | Callable[[VideoInfo], FramePipeline] | None = None,
    *,
    encode: EncodeOptions | None = None,
    start_s: float = 0.0,
    duration_s: float | None = None,
    max_decode_errors: int = 0,
    overwrite: bool = False,
    limits: VideoLimits | None = None,
    workers: int | None = None,
    queue_frames: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    frame_hook: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
    accurate_color: bool = True,
    frame_size_check: Callable[[int, int, tuple[int, int] | None], None] | None = None,
    out_size: tuple[int, int] | None = None,
    copy_streams: bool = True,
    provenance: Mapping[str, str] | Callable[[], Mapping[str, str]] | None = None,
) -> VideoReport:
    """Decode a clip, run each frame through ``pipeline``, encode it, keep the other streams.

    Parameters
    ----------
    input_path, output_path : path-like
        Input clip; output file (its extension picks the container: .mp4, .mov, .mkv).
    pipeline : FramePipeline or callable, optional
        The per-frame pipeline, or a factory called once with the probed :class:`VideoInfo`
        (maps depend on the frame size). ``None`` re-encodes unchanged frames.
    encode : EncodeOptions, optional
        Encoder settings; defaults follow the input (codec family, bit depth, chroma).
    start_s, duration_s : float
        Trim: keep frames with ``start_s ≤ t < start_s + duration_s`` (frame-accurate: the
        decoder seeks to the key frame before ``start_s`` and drops the frames before it).
        Audio and data packets are kept when their start time falls in the range; output
        timestamps are shifted so the first kept video frame is at 0 when trimming.
    max_decode_errors : int
        Bad frames accepted before the run stops (default 0: the first one stops it, naming
        the frame index and time): packets that fail to decode (skipped), plus frames the
        decoder returns with damage concealed (a bit flip in H.264 data; known from the
        errors it logs, :class:`_DecoderLog`). Both are counted in the report's
        ``decode_errors``.
    overwrite : bool
        Replace an existing output.
    limits : VideoLimits, optional
        Header safety limits.
    workers : int, optional
        Processing threads (default: CPU count, at most 4).
    queue_frames : int, optional
        Frames in flight (default ``2 × workers + 2``).
    progress : callable, optional
        ``progress(frames_done, frames_total)`` after each frame (total 0 when unknown).
    frame_hook : callable, optional
        ``frame_hook(index, rgb_in, rgb_out)`` with each frame's R'G'B' before and after the
        pipeline (before encoding), on a worker thread; for tests and previews.
    accurate_color : bool
        swscale's accurate Y'CbCr ↔ R'G'B' (default; within 0.5 code of the reference). False
        takes its fast path (up to ~3 codes off, about 2x faster).
    frame_size_check : callable, optional
        ``check(width, height, out_size)`` called with the stream's frame size right after the
        probe — before the maps are built or a frame is decoded — and again with the
        pipeline's output size when it differs; it raises to refuse the clip (the memory budget:
        :func:`l2tech.pipeline.memory.video_size_check`).
    out_size : (int, int), optional
        The output frame size the pipeline factory will give, when known (for that check).
    copy_streams : bool
        Copy the audio, data and timecode streams (False: the video stream alone, as for the
        segments of a split clip).
    provenance : mapping or callable, optional
        l2tech's record of what was done (:func:`l2tech.io.provenance.l2tech_record_fields`),
        or a function called once the pipeline is built that returns it: written into the
        output as the module says (JSON ``comment``, software key, the video stream's
        ``encoder``). None: the input's tags only.

    Returns
    -------
    VideoReport

    Raises
    ------
    EmptyFileError, CorruptInputError, LimitExceededError, UnsupportedFormatError
        Bad input, refused before decoding (:func:`l2tech.video.probe.check_video_file`).
    DecodeError
        More than ``max_decode_errors`` packets failed to decode (the message names the frame
        index and time of the last one).
    OutputExistsError, OutputError, UsageError
        Output exists without ``overwrite``, output is the input, unwritable folder, bad options.
    VideoError
        The encoder or muxer failed.
    """
    import av

    from l2tech.io.atomic import atomic_output, check_output_path

    src = Path(input_path)
    dst = Path(output_path)
    import math

    # NaN passes both comparisons and inf or 1e308 overflows the seek: finite numbers of at most
    # MAX_CLIP_SECONDS (over 30 years) only
    if not (math.isfinite(start_s) and 0 <= start_s <= MAX_CLIP_SECONDS):
        raise UsageError(f"--start must be a finite number of seconds from 0 to {MAX_CLIP_SECONDS:g}, got {start_s!r}")
    if duration_s is not None and not (math.isfinite(duration_s) and 0 < duration_s <= MAX_CLIP_SECONDS):
        raise UsageError(f"--duration must be a finite number of seconds > 0 and ≤ {MAX_CLIP_SECONDS:g}, got {duration_s!r}")
    if max_decode_errors < 0:
        raise UsageError("--max-decode-errors must be ≥ 0")
    fmt = check_output_container(dst, encode.codec if encode is not None else None)
    info = probe_video(src, limits)
    if frame_size_check is not None:  # from the stream's parameters, before maps or frames
        frame_size_check(info.width_px, info.height_px, out_size)
    check_output_path(dst, inputs=[src], overwrite=overwrite)
    if callable(pipeline) and not isinstance(pipeline, FramePipeline):
        pipeline = pipeline(info)
    if pipeline is None:
        pipeline = FramePipeline((info.width_px, info.height_px))
    if pipeline.in_size != (info.width_px, info.height_px):
        raise UsageError(
            f"pipeline built for {pipeline.in_size[0]}x{pipeline.in_size[1]} frames; the clip has "
            f"{info.width_px}x{info.height_px}",
            path=src,
        )
    if frame_size_check is not None and tuple(pipeline.out_size) != (info.width_px, info.height_px):
        frame_size_check(info.width_px, info.height_px, tuple(pipeline.out_size))
    pipeline.prepare()
    enc = encode or EncodeOptions()
    codec_name = enc.codec or ENCODERS.get(info.codec, "libx264")
    if not enc.codec:  # the input's family: now known (H.264 into .webm cannot be written)
        check_output_container(dst, codec_name)
    if enc.preset and codec_name in ("libx264", "libx265") and enc.preset not in X264_PRESETS:
        raise UsageError(f"unknown {codec_name[3:]} preset {enc.preset!r}; valid: {', '.join(X264_PRESETS)}")
    bit_depth = enc.bit_depth or (10 if info.bit_depth > 8 else 8)
    if bit_depth not in (8, 10):
        raise UsageError(f"--bit-depth must be 8 or 10; got {bit_depth}")
    pix_fmt = enc.pix_fmt or _default_pix_fmt(codec_name, info.pix_fmt, bit_depth)
    try:
        codec = av.codec.Codec(codec_name, "w")
    except (av.FFmpegError, ValueError):
        raise UsageError(f"encoder {codec_name!r} is not available in this FFmpeg build") from None
    if codec.video_formats and pix_fmt not in {f.name for f in codec.video_formats}:
        raise UsageError(f"encoder {codec_name} does not take pixel format {pix_fmt}")
    tags = resolve_color_tags(info.matrix, info.color_range, info.pix_fmt, info.height_px, info.primaries, info.transfer)
    out_tags = tags
    range_note = None
    if tags.full_range and codec_name.split("_")[0] in _LIMITED_ONLY:
        # ProRes (and DNxHD) bitstreams carry no range flag and QuickTime's 'nclc' none either:
        # decoders read them as limited range, so full-range input is re-quantised to it
        out_tags = replace(tags, full_range=False)
        range_note = (f"{codec_name} cannot be tagged full range: the full-range input is written as limited-range "
                      "(video-range) codes, which decoders read back as the same colours")
    work_depth = 8 if info.bit_depth <= 8 and bit_depth <= 8 else 16
    n_workers = workers or max(1, min(4, os.cpu_count() or 1))
    max_inflight = queue_frames or (2 * n_workers + 2)

    t0 = time.perf_counter()
    warnings_: list[str] = [] if range_note is None else [range_note]
    copied: list[str] = []
    dropped: list[str] = []
    stats = {"decoded": 0, "written": 0, "errors": 0, "retimed": 0}
    try:
        inp = av.open(str(src))
    except av.FFmpegError as exc:
        raise CorruptInputError(f"FFmpeg cannot open the file: {exc}", path=src) from None

    with inp, _DecoderLog(inp.streams.video[0].codec_context.name) as decoder_log, \
            atomic_output(dst, overwrite=overwrite) as tmp:
        vs = inp.streams.video[0]
        vs.thread_type = "AUTO"
        decoder_log.delay = max(1, int(vs.codec_context.thread_count or 1)) + 1
        tb = vs.time_base
        # --- output container and streams -----------------------------------------------
        try:
            out = av.open(str(tmp), "w", format=fmt)
        except av.FFmpegError as exc:
            raise VideoError(f"cannot create the output: {exc}", path=dst) from None
        with out:
            if fmt in ("mp4", "mov"):
                out_options = {"movflags": "use_metadata_tags"}
            else:
                out_options = {}
            out.metadata.update({k: v for k, v in inp.metadata.items() if k not in ("encoder", "major_brand", "minor_version", "compatible_brands")})
            record = provenance() if callable(provenance) else provenance
            stream_encoder = None
            if record is not None:
                prov_tags, stream_encoder = _provenance_tags(record, fmt, inp, codec_name)
                _put_container_tags(out, prov_tags)
            rate = info.frame_rate if info.frame_rate else Fraction(30)
            ovs = out.add_stream(codec_name, rate=rate)
            ovs.width, ovs.height = pipeline.out_size
            ovs.pix_fmt = pix_fmt
            ovs.time_base = tb
            ovs.codec_context.time_base = tb
            ovs.thread_type = "AUTO"
            ovs.codec_context.thread_count = enc.threads
            ovs.codec_context.colorspace = out_tags.av_colorspace
            ovs.codec_context.color_range = out_tags.av_color_range
            ovs.codec_context.color_primaries = out_tags.av_primaries
            ovs.codec_context.color_trc = out_tags.av_transfer
            opts: dict[str, str] = {}
            if enc.bitrate:
                ovs.bit_rate = int(enc.bitrate)
            elif enc.qp is not None and codec_name in _CRF_CODECS:
                opts["qp"] = str(int(enc.qp))
            elif codec_name in _CRF_CODECS:
                opts["crf"] = str(18 if enc.crf is None else int(enc.crf))
            if enc.keyframes_s:
                # IDR frames at the segment boundaries, no B-frames: a segment's packets then
                # follow the one before with increasing decode times when the parts are joined
                opts["forced-idr"] = "1"
                if codec_name in ("libx264", "libx265"):
                    opts[codec_name[3:] + "-params"] = "bframes=0"
            if codec_name == "libx265":  # x265 prints its own info lines on stderr, past FFmpeg's log level
                opts["x265-params"] = ":".join(x for x in (opts.get("x265-params"), "log-level=error") if x)
            if enc.preset:
                opts["preset"] = enc.preset
            ovs.options = opts
            ovs.metadata.update({k: v for k, v in vs.metadata.items() if k in ("language", "handler_name", "timecode", "rotate")})
            if stream_encoder:
                ovs.metadata["encoder"] = stream_encoder
            stream_map = {}
            labels: dict[int, str] = {}
            timecode_in = vs.metadata.get("timecode")
            timecode_tracks: list[str] = []
            for s in inp.streams if copy_streams else ():
                if s.type == "data" and "timecode" in s.metadata:
                    # a tmcd track is not copied: the muxer writes one from the video stream's
                    # timecode tag (shifted when trimming), which is reported after writing
                    timecode_in = timecode_in or s.metadata["timecode"]
                    timecode_tracks.append(f"#{s.index} data " + (s.metadata.get("handler_name", "").strip() or "tmcd"))
                    continue
                if s.index == vs.index or s.type not in ("audio", "data", "subtitle"):
                    if s.index != vs.index:
                        dropped.append(f"#{s.index} {s.type}: not copied")
                    continue
                label = f"#{s.index} {s.type} " + (s.codec_context.name if s.codec_context else s.metadata.get("handler_name", "").strip())
                why = _data_stream_fits(fmt, s) if s.type != "audio" else None
                if why is not None:
                    hint = "; a .mov output keeps it" if fmt == "mp4" and _data_stream_fits("mov", s) is None else ""
                    dropped.append(f"{label}: not supported by {fmt} ({why}){hint}")
                    continue
                try:
                    stream_map[s.index] = out.add_stream_from_template(s)
                    stream_map[s.index].metadata.update(
                        {k: v for k, v in s.metadata.items() if k in ("language", "handler_name", "title")})
                except (av.FFmpegError, ValueError) as exc:
                    dropped.append(f"{label}: {exc}")
                    continue
                labels[s.index] = label.strip()
            if timecode_in:
                ovs.metadata["timecode"] = timecode_in
            try:
                chapters = _trim_chapters(inp.chapters(), float(start_s), duration_s)
                if chapters:
                    out.set_chapters(chapters)
            except (AttributeError, av.FFmpegError, ValueError, TypeError):
                warnings_.append("chapters could not be copied")
            if out_options:
                out.options.update(out_options)

            # --- trimming -------------------------------------------------------------------
            start_t = float(start_s)
            end_t = None if duration_s is None else start_t + float(duration_s)
            trimming = start_t > 0 or end_t is not None
            if start_t > 0:
                try:
                    inp.seek(int(start_t / tb), stream=vs, backward=True, any_frame=False)
                except av.FFmpegError as exc:
                    raise CorruptInputError(f"cannot seek to {start_t:.3f} s: {exc}", path=src) from None
            offset_s: float | None = None if trimming else 0.0
            total = info.n_frames
            if trimming and info.frame_rate:
                span = (end_t if end_t is not None else info.duration_s) - start_t
                total = max(0, min(total or 10**9, int(round(span * float(info.frame_rate)))))

            pool = concurrent.futures.ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="l2video")
            inflight: collections.deque = collections.deque()

            keyframe_ticks = {int(round(k / tb)) for k in enc.keyframes_s}

            def work(index: int, frame, pts):
                rgb = frame_to_rgb(frame, tags, 8 if work_depth == 8 else 16, accurate=accurate_color)
                if getattr(pipeline, "per_frame_time", False):  # a map per frame (stabilisation): by source time
                    res = pipeline.process(rgb, frame_time_s=float(frame.pts * tb))
                else:
                    res = pipeline.process(rgb)
                if frame_hook is not None:
                    frame_hook(index, rgb, res)
                of = rgb_to_frame(res, out_tags, pix_fmt, accurate=accurate_color)
                of.pts = pts
                of.time_base = tb
                if pts in keyframe_ticks:
                    of.pict_type = av.video.frame.PictureType.I
                return of

            def drain(limit: int) -> None:
                while len(inflight) > limit:
                    of = inflight.popleft().result()
                    try:
                        for pkt in ovs.encode(of):
                            out.mux(pkt)
                    except av.FFmpegError as exc:
                        raise VideoError(f"encoder {codec_name} failed: {exc}", path=dst) from None
                    stats["written"] += 1
                    if progress is not None:
                        progress(stats["written"], total)

            def mux_copy(packet) -> None:
                ostream = stream_map[packet.stream.index]
                ptb = packet.time_base
                if offset_s:
                    shift = int(round(offset_s / ptb))
                    if packet.pts is not None:
                        packet.pts -= shift
                    if packet.dts is not None:
                        packet.dts -= shift
                _follow_on(packet, copy_clock, retimed_copy)
                muxed[packet.stream.index] += 1
                packet.stream = ostream
                out.mux(packet)

            muxed: collections.Counter = collections.Counter()  # copied packets per input stream
            copy_clock: dict[int, tuple[int, int]] = {}  # stream → (last dts, its duration)
            retimed_copy: collections.Counter = collections.Counter()
            pending_copy: list = []  # copied packets seen before the first kept frame
            video_done = False
            done_copy: set[int] = set()
            frame_index = 0  # decoded frames, from the start of the file or the seek point
            frame_ticks = max(1, int(round(1 / (float(rate) * float(tb))))) if rate else 1
            last_pts = None
            try:
                demux_streams = [vs] + [inp.streams[i] for i in stream_map]
                for packet in inp.demux(demux_streams):
                    sidx = packet.stream.index
                    if sidx != vs.index:
                        if packet.dts is None or sidx in done_copy:
                            continue
                        t = _time(packet.pts if packet.pts is not None else packet.dts, packet.time_base)
                        if t is not None and t < start_t - 1e-6 and trimming:
                            continue
                        if end_t is not None and t is not None and t >= end_t:
                            done_copy.add(sidx)
                            if video_done and len(done_copy) == len(stream_map):
                                break
                            continue
                        if offset_s is None:
                            pending_copy.append(packet)
                        else:
                            mux_copy(packet)
                        continue
                    if video_done:
                        continue
                    try:
                        frames = packet.decode()
                    except av.FFmpegError as exc:
                        decoder_log.after_decode(failed=True)
                        stats["errors"] += 1
                        t = _time(packet.pts, tb)
                        where = f"frame {frame_index}" + (f" at {t:.3f} s" if t is not None else "")
                        if stats["errors"] + decoder_log.concealed > max_decode_errors:
                            raise DecodeError(
                                f"corrupt video data at {where} ({exc.__class__.__name__}); "
                                f"use --max-decode-errors N to skip up to N bad frames",
                                path=src,
                            ) from None
                        warnings_.append(f"skipped undecodable {where}")
                        frame_index += 1
                        continue
                    decoder_log.after_decode(failed=False)
                    _check_concealed(decoder_log, stats, max_decode_errors, frame_index, src)
                    for frame in frames:
                        frame_index += 1
                        if frame.pts is None or (last_pts is not None and frame.pts <= last_pts):
                            # missing or non-increasing timestamps: re-time at the nominal rate
                            frame.pts = (last_pts + frame_ticks) if last_pts is not None else 0
                            stats["retimed"] += 1
                        t = float(frame.pts * tb)
                        last_pts = frame.pts
                        if t < start_t - 1e-6:
                            continue
                        if end_t is not None and t >= end_t - 1e-6:
                            video_done = True
                            break
                        if offset_s is None:
                            offset_s = t
                            if timecode_in and offset_s > 0 and rate:
                                # the first kept frame's timecode; the header is written at the first mux, after this
                                ovs.metadata["timecode"] = _timecode_add(timecode_in, int(round(offset_s * float(rate))), rate)
                            for p in pending_copy:
                                if _time(p.pts if p.pts is not None else p.dts, p.time_base) >= offset_s - 1e-6:
                                    mux_copy(p)
                            pending_copy.clear()
                        pts = frame.pts - int(round(offset_s / tb)) if offset_s else frame.pts
                        inflight.append(pool.submit(work, stats["decoded"], frame, pts))
                        stats["decoded"] += 1
                        drain(max_inflight)
                    if video_done and (not stream_map or len(done_copy) == len(stream_map)):
                        break
                decoder_log.finish()
                for sidx in stream_map:
                    if not muxed[sidx] and inp.streams[sidx].type == "data" and fmt in ("mp4", "mov"):
                        _copy_unread_samples(src, inp.streams[sidx], stream_map[sidx], out, start_t, end_t,
                                             offset_s or 0.0, muxed)
                _check_concealed(decoder_log, stats, max_decode_errors, frame_index, src)
                drain(0)
                try:
                    for pkt in ovs.encode(None):
                        out.mux(pkt)
                except av.FFmpegError as exc:
                    raise VideoError(f"encoder {codec_name} failed at the end: {exc}", path=dst) from None
            except L2Error:
                raise
            except av.FFmpegError as exc:
                raise VideoError(f"{exc.__class__.__name__}: {exc}", path=src) from None
            finally:
                for f in inflight:
                    f.cancel()
                pool.shutdown(wait=True)
        _account_copies(labels, muxed, tmp, fmt, timecode_in, timecode_tracks, copied, dropped,
                        "none in the processed range, or FFmpeg reads none of its samples")
        if decoder_log.concealed:
            warnings_.append(f"the decoder concealed errors in {decoder_log.concealed} frame(s) (first: {decoder_log.first!r}); "
                             "they are written as concealed")
        for sidx, n in sorted(retimed_copy.items()):
            warnings_.append(
                f"{inp.streams[sidx].type} stream #{sidx}: {n} packets whose timestamps went backwards were re-timed to "
                "follow on from the packet before (no packet dropped; forward gaps are kept)"
            )
        if stats["retimed"]:
            warnings_.append(
                f"{stats['retimed']} frames had missing or non-increasing timestamps; re-timed at "
                f"{float(rate):.6g} fps"
            )
        if stats["written"] == 0:
            raise VideoError(
                "no frames were written (the trim range holds no frames, or nothing decoded)", path=src
            )

    wall = time.perf_counter() - t0
    ow, oh = pipeline.out_size
    return VideoReport(
        input=str(src),
        output=str(dst),
        codec=codec_name,
        pix_fmt=pix_fmt,
        width_px=ow,
        height_px=oh,
        frames_decoded=stats["decoded"],
        frames_written=stats["written"],
        decode_errors=stats["errors"] + decoder_log.concealed,
        duration_s=stats["written"] / float(info.frame_rate) if info.frame_rate else 0.0,
        wall_s=wall,
        fps=stats["written"] / wall if wall > 0 else 0.0,
        color=f"{out_tags.matrix}/{out_tags.range_name}",
        streams_copied=tuple(copied),
        streams_dropped=tuple(dropped),
        warnings=tuple(warnings_),
    )


def join_segments(input_path: str | os.PathLike, parts: list[tuple[str, float]], output_path: str | os.PathLike, *,
                  overwrite: bool = False, provenance: Mapping[str, str] | None = None) -> VideoReport:
    """Join the video-only parts of a split clip, with the input's audio and data packets.

    Parameters
    ----------
    input_path : path-like
        The clip the parts were made from: its audio and data streams are copied packet for
        packet, untouched (timestamps repaired only as :func:`process_video` does).
    parts : list of (path, float)
        Each part (made by :func:`process_video` with ``copy_streams=False``, its first frame
        at time 0) and the input time, seconds, of its first frame; in order.
    output_path : path-like
        The joined clip (written atomically).
    overwrite : bool
        Replace an existing output.
    provenance : mapping, optional
        l2tech's record of the whole clip, written as :func:`process_video` writes it.

    Returns
    -------
    VideoReport

    Raises
    ------
    VideoError
        The muxer refused a packet.

    Notes
    -----
    A part's packets are moved by its start time, in the time base it shares with the input
    (:func:`process_video` keeps the input's), so every frame has the time it has in the input
    and in a one-pass encode. Parts made with IDR frames at their starts and no B-frames join
    with increasing decode times and no visible seam.
    """
    import heapq
    import itertools

    import av

    from l2tech.io.atomic import atomic_output

    src, dst = Path(input_path), Path(output_path)
    fmt = _output_format(dst)
    t0 = time.perf_counter()
    copied: list[str] = []
    dropped: list[str] = []
    warnings_: list[str] = []
    with av.open(str(src)) as inp, av.open(str(parts[0][0])) as first, atomic_output(dst, overwrite=overwrite) as tmp:
        fvs = first.streams.video[0]
        tb = fvs.time_base
        with av.open(str(tmp), "w", format=fmt) as out:
            if fmt in ("mp4", "mov"):
                out.options.update({"movflags": "use_metadata_tags"})
            out.metadata.update({k: v for k, v in inp.metadata.items()
                                 if k not in ("encoder", "major_brand", "minor_version", "compatible_brands")})
            ovs = out.add_stream_from_template(fvs)
            ovs.time_base = tb
            if fvs.average_rate:
                ovs.codec_context.framerate = fvs.average_rate  # the muxer times a timecode track by it
            ovs.metadata.update({k: v for k, v in inp.streams.video[0].metadata.items()
                                 if k in ("language", "handler_name", "timecode")})
            if provenance is not None:
                prov_tags, stream_encoder = _provenance_tags(provenance, fmt, inp, fvs.codec_context.name)
                _put_container_tags(out, prov_tags)
                # the parts' own (process_video names the encoder, e.g. libx264; the part's
                # codec context only the format, h264)
                ovs.metadata["encoder"] = next((v for k, v in fvs.metadata.items()
                                                if k.lower() == "encoder" and v.startswith("l2tech ")), stream_encoder)
            timecode_in = inp.streams.video[0].metadata.get("timecode")
            timecode_tracks: list[str] = []
            stream_map = {}
            labels: dict[int, str] = {}
            for s in inp.streams:
                if s.type == "data" and "timecode" in s.metadata:  # re-made by the muxer, as in process_video
                    timecode_in = timecode_in or s.metadata["timecode"]
                    timecode_tracks.append(f"#{s.index} data " + (s.metadata.get("handler_name", "").strip() or "tmcd"))
                    continue
                if s.type not in ("audio", "data"):
                    continue
                label = f"#{s.index} {s.type} " + (s.codec_context.name if s.codec_context else s.metadata.get("handler_name", "").strip())
                why = _data_stream_fits(fmt, s) if s.type == "data" else None
                if why is not None:
                    dropped.append(f"{label.strip()}: not supported by {fmt} ({why})")
                    continue
                stream_map[s.index] = out.add_stream_from_template(s)
                stream_map[s.index].metadata.update({k: v for k, v in s.metadata.items() if k in ("language", "handler_name")})
                labels[s.index] = label.strip()
            if timecode_in:
                ovs.metadata["timecode"] = timecode_in
            muxed: collections.Counter = collections.Counter()
            frames = 0

            def video_packets():
                nonlocal frames
                for path, start in parts:
                    shift = int(round(start / tb))
                    with av.open(str(path)) as c:
                        for p in c.demux(c.streams.video[0]):
                            if p.dts is None and p.pts is None:
                                continue
                            p.pts = None if p.pts is None else p.pts + shift
                            p.dts = None if p.dts is None else p.dts + shift
                            frames += 1
                            yield float((p.dts if p.dts is not None else p.pts) * tb), 0, p, ovs

            clock: dict[int, tuple[int, int]] = {}
            retimed: collections.Counter = collections.Counter()

            def other_packets():
                if not stream_map:
                    return
                for p in inp.demux([inp.streams[i] for i in stream_map]):
                    if p.dts is None:
                        continue
                    _follow_on(p, clock, retimed)
                    muxed[p.stream.index] += 1
                    yield float(p.dts * p.time_base), 1, p, stream_map[p.stream.index]

            counter = itertools.count()
            merged = heapq.merge(((t, o, next(counter), p, st) for t, o, p, st in video_packets()),
                                 ((t, o, next(counter), p, st) for t, o, p, st in other_packets()))
            try:
                for _t, _o, _n, p, st in merged:
                    p.stream = st
                    out.mux(p)
                for sidx, ost in stream_map.items():
                    if not muxed[sidx] and inp.streams[sidx].type == "data" and fmt in ("mp4", "mov"):
                        _copy_unread_samples(src, inp.streams[sidx], ost, out, 0.0, None, 0.0, muxed)
            except av.FFmpegError as exc:
                raise VideoError(f"joining the parts failed: {exc}", path=dst) from None
        _account_copies(labels, muxed, tmp, fmt, timecode_in, timecode_tracks, copied, dropped,
                        "FFmpeg reads none of its samples")
        for sidx, n in sorted(retimed.items()):
            warnings_.append(f"{inp.streams[sidx].type} stream #{sidx}: {n} packets whose timestamps went backwards "
                             "were re-timed to follow on from the packet before")
        rate = fvs.average_rate
        cc = fvs.codec_context
        from l2tech.video.probe import _MATRIX, _tag

        color = f"{_tag(_MATRIX, cc.colorspace)}/{'pc' if int(cc.color_range or 0) == 2 else 'tv'}"
        w, h, codec, pix = cc.width, cc.height, cc.name, cc.pix_fmt
    wall = time.perf_counter() - t0
    return VideoReport(input=str(src), output=str(dst), codec=ENCODERS.get(codec, codec), pix_fmt=pix or "", width_px=w, height_px=h,
                       frames_decoded=frames, frames_written=frames, decode_errors=0,
                       duration_s=frames / float(rate) if rate else 0.0, wall_s=wall,
                       fps=frames / wall if wall > 0 else 0.0, color=color, streams_copied=tuple(copied),
                       streams_dropped=tuple(dropped), warnings=tuple(warnings_))
