"""Panasonic RW2 embedded distortion correction (PanasonicRaw tag 0x0119, ``DistortionInfo``).

The tag is 16 little-endian int16 words (32 bytes): words 0, 1, 14, 15 are checksums; word 5
gives ``scale = 1 / (1 + w5/32768)``; word 7's low nibble is ``DistortionCorrection`` (1 = on);
``a = w8/32768``, ``b = w4/32768``, ``c = w11/32768`` (exiftool's ``DistortionParam08``,
``DistortionParam04``, ``DistortionParam11``). With ``r`` normalised to the half-diagonal of
the image and measured from its centre::

    r_in = scale · r_out · (1 + a r² + b r⁴ + c r⁶)

``r_out`` is the corrected (output) radius and ``r_in`` the radius read in the raw image. This
is exactly a DNG ``WarpRectilinear`` plane with ``kr0 = scale, kr1 = scale·a, kr2 = scale·b,
kr3 = scale·c`` and centre (0.5, 0.5) — the DNG normalising radius is the same half-diagonal —
so the profile uses that family (:mod:`l2tech.optics.dng`).

The direction (which radius is which) follows OPTICS.md §4 / darktable PR #21656 and is not
verified here against a camera JPEG: the only RW2 with the tag in our data
(``panasonic_dmc-lx3__exiftool.rw2``) has its image data stripped.

References
----------
exiftool ``lib/Image/ExifTool/PanasonicRaw.pm`` (``%DistortionInfo``); darktable PR #21656
(Panasonic embedded lens correction); OPTICS.md §4.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

from l2tech.errors import CorruptInputError, EmptyFileError, UnsupportedFormatError
from l2tech.optics import dng as _dng  # noqa: F401  (registers dng_warp_rectilinear)
from l2tech.profiles.model import DistortionCalibration, LensProfile

__all__ = ["RW2Distortion", "parse_distortion_info", "read_rw2_distortion", "read_rw2_profile"]

TAG_DISTORTION_INFO = 0x0119


@dataclass(frozen=True)
class RW2Distortion:
    """Decoded ``DistortionInfo``: ``scale, a, b, c``, the on/off flag and the raw words."""

    scale: float
    a: float
    b: float
    c: float
    enabled: bool
    words: tuple[int, ...]

    def warp_plane(self) -> tuple[float, float, float, float, float, float]:
        """The equivalent DNG WarpRectilinear plane ``(kr0, kr1, kr2, kr3, kt0, kt1)``."""
        s = self.scale
        return (s, s * self.a, s * self.b, s * self.c, 0.0, 0.0)


def parse_distortion_info(blob: bytes, path: object = None) -> RW2Distortion:
    """Decode the 32-byte ``DistortionInfo`` value (little-endian int16 words).

    Raises
    ------
    CorruptInputError
        Not 32 bytes, or word 5 = −32768 (division by zero).
    """
    if len(blob) != 32:
        raise CorruptInputError(f"PanasonicRaw 0x0119 DistortionInfo is {len(blob)} bytes; expected 32", path)
    w = struct.unpack("<16h", blob)
    if w[5] == -32768:
        raise CorruptInputError("PanasonicRaw 0x0119 DistortionInfo has an invalid scale word (-32768)", path)
    return RW2Distortion(
        scale=1.0 / (1.0 + w[5] / 32768.0),
        a=w[8] / 32768.0,
        b=w[4] / 32768.0,
        c=w[11] / 32768.0,
        enabled=(w[7] & 0x0F) == 1,
        words=tuple(w),
    )


def read_rw2_distortion(path: os.PathLike | str) -> RW2Distortion | None:
    """Read tag 0x0119 from IFD0 of a Panasonic RW2 file; None when the file has none.

    Raises
    ------
    EmptyFileError, UnsupportedFormatError, CorruptInputError
        Empty, not an RW2 (magic ``IIU\\0``), or the IFD runs past the end of the file.
    """
    p = os.fspath(path)
    with open(p, "rb") as fh:
        head = fh.read(8)
        if not head:
            raise EmptyFileError("empty file", p)
        if head[:4] != b"IIU\x00":
            raise UnsupportedFormatError("not a Panasonic RW2 file (magic IIU)", p)
        (off,) = struct.unpack("<I", head[4:8])
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if off + 2 > size:
            raise CorruptInputError("IFD0 offset beyond the end of the file", p)
        fh.seek(off)
        (n,) = struct.unpack("<H", fh.read(2))
        if n > 4096 or off + 2 + 12 * n > size:
            raise CorruptInputError(f"IFD0 with {n} entries runs past the end of the file", p)
        entries = fh.read(12 * n)
        for i in range(n):
            tag, typ, count, value = struct.unpack_from("<HHII", entries, 12 * i)
            if tag == TAG_DISTORTION_INFO:
                if count != 32 or value + 32 > size:
                    raise CorruptInputError(f"PanasonicRaw 0x0119 has count {count} at offset {value}", p)
                fh.seek(value)
                return parse_distortion_info(fh.read(32), p)
    return None


def read_rw2_profile(path: os.PathLike | str, *, maker: str = "Panasonic", model: str = "", focal_length_mm: float = 0.0) -> LensProfile | None:
    """The embedded distortion of an RW2 as a :class:`LensProfile` (None if absent or switched off).

    The profile holds one ``DistortionCalibration(model="dng_warp_rectilinear", terms={kr0..kr3,
    kt0, kt1, cx=0.5, cy=0.5})`` (module docs), ``extra["format"] = "rw2_0x0119"``.
    """
    d = read_rw2_distortion(path)
    if d is None or not d.enabled:
        return None
    kr = d.warp_plane()
    terms = dict(zip(("kr0", "kr1", "kr2", "kr3", "kt0", "kt1"), kr), cx=0.5, cy=0.5)
    p = os.fspath(path)
    return LensProfile(
        maker=maker,
        model=model or "embedded lens correction",
        focal_min_mm=focal_length_mm,
        focal_max_mm=focal_length_mm,
        distortion=(DistortionCalibration("dng_warp_rectilinear", focal_length_mm, terms),),
        source=f"rw2:{p}",
        extra={"format": "rw2_0x0119", "rw2_scale": d.scale, "rw2_a": d.a, "rw2_b": d.b, "rw2_c": d.c},
    )
