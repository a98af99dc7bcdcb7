"""Small synthetic clips for tests, demos and benchmarks (PyAV only, no ffmpeg binary).

References
----------
PyAV ``OutputContainer.add_stream``; ITU-R BT.601 / BT.709 tags as in
:mod:`l2tech.video.colortags`.
"""

from __future__ import annotations

import os
from fractions import Fraction
from typing import Iterable, Sequence

import numpy as np

from l2tech.video.colortags import ColorTags, rgb_to_frame

__all__ = ["write_clip", "numbered_frames"]


def numbered_frames(n: int, width: int = 64, height: int = 48, seed: int = 0) -> list[np.ndarray]:
    """``n`` uint8 ``(H, W, 3)`` frames whose left half is a flat grey ``8 + 8·i`` (frame index
    readable after lossy coding) and whose right half is seeded noise."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        f = np.empty((height, width, 3), np.uint8)
        f[:, : width // 2] = (8 + 8 * i) % 256
        f[:, width // 2 :] = rng.integers(0, 256, (height, width - width // 2, 3), dtype=np.uint8)
        frames.append(f)
    return frames


def write_clip(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    *,
    rate: int | Fraction = 25,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    tags: ColorTags | None = None,
    pts: Sequence[int] | None = None,
    time_base: Fraction | None = None,
    options: dict[str, str] | None = None,
    audio_seconds: float = 0.0,
    metadata: dict[str, str] | None = None,
) -> None:
    """Encode R'G'B' frames into a clip.

    Parameters
    ----------
    path : path-like
        Output file (.mp4, .mov, .mkv).
    frames : iterable of ndarray, shape (H, W, 3), uint8 or uint16
        Full-range R'G'B' code values.
    rate : int or Fraction
        Nominal frame rate.
    codec, pix_fmt : str
        Encoder and pixel format.
    tags : ColorTags, optional
        Matrix and range (default BT.709 limited).
    pts : sequence of int, optional
        Presentation timestamps in ``time_base`` units (variable frame rate); default
        ``0, 1, 2 …`` in ``1/rate``.
    time_base : Fraction, optional
        Time base of ``pts``.
    options : dict, optional
        Encoder options (default ``crf 12``, ``preset ultrafast`` for x264/x265).
    audio_seconds : float
        Add this much of a 440 Hz AAC tone (0: no audio).
    metadata : dict, optional
        Container metadata.
    """
    import av

    tags = tags or ColorTags("bt709", False, "bt709", "bt709")
    with av.open(str(path), "w") as out:
        if metadata:
            out.metadata.update(metadata)
        vs = out.add_stream(codec, rate=rate)
        tb = time_base or Fraction(1, int(rate)) if isinstance(rate, int) else (time_base or 1 / Fraction(rate))
        vs.time_base = tb
        vs.codec_context.time_base = tb
        vs.pix_fmt = pix_fmt
        vs.codec_context.colorspace = tags.av_colorspace
        vs.codec_context.color_range = tags.av_color_range
        vs.codec_context.color_primaries = tags.av_primaries
        vs.codec_context.color_trc = tags.av_transfer
        if options is None and codec in ("libx264", "libx265"):
            options = {"crf": "12", "preset": "ultrafast"}
        vs.options = options or {}
        astream = None
        if audio_seconds > 0:
            astream = out.add_stream("aac", rate=48000)
            astream.layout = "mono"
        first = True
        for i, rgb in enumerate(frames):
            if first:
                vs.width, vs.height = rgb.shape[1], rgb.shape[0]
                first = False
            fr = rgb_to_frame(rgb, tags, pix_fmt)
            fr.pts = pts[i] if pts is not None else i
            fr.time_base = tb
            for pkt in vs.encode(fr):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)
        if astream is not None:
            n = int(audio_seconds * 48000)
            t = np.arange(n) / 48000.0
            tone = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for k in range(0, n, 1024):
                chunk = tone[k : k + 1024]
                af = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
                af.sample_rate = 48000
                af.pts = k
                af.time_base = Fraction(1, 48000)
                for pkt in astream.encode(af):
                    out.mux(pkt)
            for pkt in astream.encode():
                out.mux(pkt)
