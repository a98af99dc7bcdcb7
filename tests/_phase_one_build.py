"""Phase One IIQ files built as the readers of the format expect them (no IIQ is in the shared data).

Layout (LibRaw ``parse_phase_one`` and ``identify``; ExifTool ``PhaseOne.pm`` and the
``MakerNotePhaseOne`` entry of ``MakerNotes.pm``):

- the Phase One block: ``IIII`` + one byte + ``waR`` (little-endian; ``MMMMRaw`` + one byte
  big-endian), then the offset of its directory from the block's start;
- the directory: an entry count, 4 unused bytes, then 16-byte entries ``tag, type, size,
  value`` (type 1 = string, 4 = int32; a value longer than 4 bytes is an offset from the block);
  0x108/0x109 sensor width/height, 0x10a/0x10b left/top margin, 0x10c/0x10d image width/height,
  0x10e raw format (0 = 16-bit, uncompressed), 0x10f raw data, 0x301 the camera model;
- either at byte 0 (a raw without a TIFF header, which LibRaw reads) or right after a TIFF header
  whose IFD0 describes a small preview and whose EXIF ``MakerNote`` points back at the block
  (ExifTool ``PutFirst``: placed immediately after the TIFF header).
"""

from __future__ import annotations

import struct

import numpy as np

__all__ = ["phase_one_block", "build_iiq"]


def _raw_pixels(width: int, height: int) -> bytes:
    """A smooth 16-bit ramp with a little noise: a plausible, non-constant mosaic."""
    yy, xx = np.mgrid[0:height, 0:width]
    rng = np.random.default_rng(1)
    img = 2000 + 20000 * (xx / width) * (yy / height) + rng.integers(0, 200, (height, width))
    return img.astype("<u2").tobytes()


def phase_one_block(width: int, height: int, model: bytes = b"IQ180", *, big_endian: bool = False,
                    pixels: bool = True, entry_count: int | None = None, data: np.ndarray | None = None) -> bytes:
    """The Phase One block (header, directory, model string, raw data) of a ``width x height`` raw.

    ``entry_count`` overrides the directory's entry count (a hostile file). ``data`` (a
    ``height x width`` array of 16-bit values, e.g. a real sensor's CFA read with rawpy's
    ``raw_image_visible``) replaces the synthetic ramp as the raw data.
    """
    e = ">" if big_endian else "<"
    magic = b"MMMMRawT" if big_endian else b"IIIITwaR"
    model_bytes = model.ljust(64, b"\0")
    block = bytearray(magic + b"\0\0\0\0")
    model_off = len(block)
    block += model_bytes
    tags = [(0x108, 4, 4, width), (0x109, 4, 4, height), (0x10A, 4, 4, 0), (0x10B, 4, 4, 0),
            (0x10C, 4, 4, width), (0x10D, 4, 4, height), (0x10E, 4, 4, 0),
            (0x301, 1, len(model_bytes), model_off)]
    if data is not None:
        if data.shape != (height, width) or data.dtype.kind not in "ui" or data.max(initial=0) > 0xFFFF:
            raise ValueError(f"data must be {height}x{width} 16-bit values, got {data.shape} {data.dtype}")
        raw = np.ascontiguousarray(data).astype("<u2").tobytes() if pixels else b""
    else:
        raw = _raw_pixels(width, height) if pixels else b""
    if big_endian and raw:
        raw = np.frombuffer(raw, "<u2").astype(">u2").tobytes()
    dir_off = len(block)
    n = len(tags) + 1
    raw_off = dir_off + 8 + 16 * n
    tags = sorted(tags + [(0x10F, 4, len(raw), raw_off)])
    block[8:12] = struct.pack(e + "I", dir_off)
    block += struct.pack(e + "II", n if entry_count is None else entry_count, 0)
    block += b"".join(struct.pack(e + "IIII", *t) for t in tags)
    return bytes(block + raw)


def _ifd(entries: list[tuple[int, int, int, bytes]], at: int) -> tuple[bytes, bytes]:
    """A little-endian TIFF IFD at offset ``at`` and the data its long values point to."""
    entries = sorted(entries)
    extra_at = at + 2 + 12 * len(entries) + 4
    out, extra = struct.pack("<H", len(entries)), b""
    for tag, typ, count, val in entries:
        if len(val) <= 4:
            out += struct.pack("<HHI", tag, typ, count) + val.ljust(4, b"\0")
        else:
            out += struct.pack("<HHII", tag, typ, count, extra_at + len(extra))
            extra += val + b"\0" * (len(val) % 2)
    return out + b"\0\0\0\0", extra


def build_iiq(width: int = 640, height: int = 480, model: bytes = b"IQ180", *, tiff: bool = False,
              preview: tuple[int, int] = (80, 60), **block_args) -> bytes:
    """A whole IIQ: the Phase One block alone, or (``tiff=True``) after a TIFF header whose IFD0
    holds a ``preview`` (8-bit grey) and Make/Model, and whose EXIF holds exposure and a
    MakerNote pointing at the block (offset 8)."""
    block = phase_one_block(width, height, model, **block_args)
    if not tiff:
        return block
    pw, ph = preview
    pixels = bytes([128]) * (pw * ph)
    ifd0_at = 8 + len(block) + (len(block) % 2)

    def ifd0_entries(exif_at: int, strip_at: int) -> list[tuple[int, int, int, bytes]]:
        return [(0x100, 4, 1, struct.pack("<I", pw)), (0x101, 4, 1, struct.pack("<I", ph)),
                (0x102, 3, 1, struct.pack("<H", 8)), (0x103, 3, 1, struct.pack("<H", 1)),
                (0x106, 3, 1, struct.pack("<H", 1)), (0x10F, 2, 10, b"Phase One\0"),
                (0x110, 2, len(model) + 1, model + b"\0"), (0x111, 4, 1, struct.pack("<I", strip_at)),
                (0x115, 3, 1, struct.pack("<H", 1)), (0x116, 4, 1, struct.pack("<I", ph)),
                (0x117, 4, 1, struct.pack("<I", len(pixels))), (0x8769, 4, 1, struct.pack("<I", exif_at))]

    exif_entries = [(0x829A, 5, 1, struct.pack("<II", 1, 125)), (0x829D, 5, 1, struct.pack("<II", 56, 10)),
                    (0x8827, 3, 1, struct.pack("<H", 100)), (0x920A, 5, 1, struct.pack("<II", 80, 1)),
                    (0x927C, 7, len(block), struct.pack("<I", 8))]
    ifd0, extra0 = _ifd(ifd0_entries(0, 0), ifd0_at)  # sizes only: the offsets do not change them
    exif_at = ifd0_at + len(ifd0) + len(extra0)
    exif, extra1 = _ifd(exif_entries, exif_at)
    strip_at = exif_at + len(exif) + len(extra1)
    ifd0, extra0 = _ifd(ifd0_entries(exif_at, strip_at), ifd0_at)
    head = b"II*\0" + struct.pack("<I", ifd0_at) + block + b"\0" * (len(block) % 2)
    return head + ifd0 + extra0 + exif + extra1 + pixels
