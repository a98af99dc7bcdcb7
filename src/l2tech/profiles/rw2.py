"""Panasonic RW2 embedded distortion correction (PanasonicRaw tag 0x0119, ``DistortionInfo``).

The tag is 16 little-endian int16 words (32 bytes): words 0, 1, 14, 15 are checksums; word 5
gives ``scale = 1 / (1 + w5/32768)``; word 7's low nibble is ``DistortionCorrection`` (1 = on);
``a = w8/32768``, ``b = w4/32768``, ``c = w11/32768`` (exiftool's ``DistortionParam08``,
``DistortionParam04``, ``DistortionParam11``); word 12 is the normalising radius in pixels
(2280 on the LX3's 3648 × 2736 frame: its half-diagonal). With ``r`` normalised to the
half-diagonal and measured from the image centre, the camera's correction moves a raw pixel
at radius ``r_raw`` to::

    r_out = scale · r_raw · (1 + a r_raw² + b r_raw⁴ + c r_raw⁶)

i.e. the polynomial maps the *raw* (distorted) radius to the *corrected* one. RawTherapee's
reader (``rtengine/lensmetadata.cc``, ``PanasonicMetadataLensCorrection``) uses the same
formula as the magnification ``r_out / r_raw``. A correction needs the other direction
(output pixel → raw pixel): :func:`RW2Distortion.warp_plane` inverts the polynomial by
Newton's method on ``r_out ∈ [0, 1]`` and fits it with a DNG ``WarpRectilinear`` plane
``r_raw = r_out (kr0 + kr1 r_out² + kr2 r_out⁴ + kr3 r_out⁶)``, centre (0.5, 0.5) — the DNG
normalising radius is the same half-diagonal — so the profile uses that family
(:mod:`l2tech.optics.dng`). On the LX3 file the fit is within 0.04 px (1.7e-5 of the half-diagonal).

Direction check: read the other way (``r_raw = scale · r_out · (…)``, as this module did
before), the LX3's correction samples 1.12× the radius at the corner — a pincushion
correction of a lens that lensfun (and every review) gives as barrel at 5.1 mm. Read as
above it samples 0.907× there, and agrees with lensfun's ``DMC-LX3`` profile within 5.7 px of
2280 (0.25 % of the half-diagonal) once the two are brought to the same zoom (the reversed
reading: 147 px). Because the layout is reverse-engineered, :func:`l2tech.profiles.sources.choose_profile`
uses it only when it agrees with the database's profile of the same lens (when there is one).

References
----------
exiftool ``lib/Image/ExifTool/PanasonicRaw.pm`` (``%DistortionInfo``); RawTherapee
``rtengine/lensmetadata.cc`` (``PanasonicMetadataLensCorrection``, the formula and word
offsets: data + 8, 10, 16, 22, 24); lensfun ``data/db/compact-panasonic.xml`` (``DMC-LX3``).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import numpy as np

from l2tech.errors import CorruptInputError, EmptyFileError, InvalidProfileError, UnsupportedFormatError
from l2tech.optics import dng as _dng  # noqa: F401  (registers dng_warp_rectilinear)
from l2tech.profiles.model import DistortionCalibration, LensProfile

__all__ = ["RW2Distortion", "parse_distortion_info", "read_rw2_distortion", "read_rw2_profile"]

TAG_DISTORTION_INFO = 0x0119


#: Largest error (fraction of the half-diagonal) of the WarpRectilinear fit to the inverted
#: polynomial before the data is refused: 0.5 px on a 2000 px half-diagonal (LX3: 1.7e-5).
MAX_FIT_ERROR = 2.5e-4


@dataclass(frozen=True)
class RW2Distortion:
    """Decoded ``DistortionInfo``: ``scale, a, b, c``, the on/off flag and the raw words."""

    scale: float
    a: float
    b: float
    c: float
    enabled: bool
    words: tuple[int, ...]

    @property
    def radius_px(self) -> int:
        """Word 12: the normalising radius in pixels (the frame's half-diagonal)."""
        return int(self.words[12]) & 0xFFFF

    def corrected_radius(self, r_raw: np.ndarray) -> np.ndarray:
        """The camera's correction: raw radius → corrected radius (half-diagonal units)."""
        r = np.asarray(r_raw, dtype=np.float64)
        r2 = r * r
        return self.scale * r * (1.0 + r2 * (self.a + r2 * (self.b + r2 * self.c)))

    def raw_radius(self, r_out: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`corrected_radius` (Newton's method): the raw radius a corrected
        pixel at ``r_out`` samples.

        Raises
        ------
        InvalidProfileError
            The polynomial folds (stops increasing) before it reaches ``max(r_out)``.
        """
        r_out = np.asarray(r_out, dtype=np.float64)
        r_max = float(np.max(r_out)) if r_out.size else 0.0
        grid = np.linspace(0.0, 2.0, 4001)
        slope = self.scale * (1 + 3 * self.a * grid**2 + 5 * self.b * grid**4 + 7 * self.c * grid**6)
        reach = self.corrected_radius(grid)
        bad = np.nonzero(slope <= 0)[0]
        if bad.size and reach[: bad[0]].max(initial=0.0) < r_max:
            raise InvalidProfileError(
                f"PanasonicRaw 0x0119 correction folds at raw radius {grid[bad[0]]:.3f} (half-diagonals) "
                f"before it reaches the frame corner")
        if not bad.size and reach[-1] < r_max:
            raise InvalidProfileError("PanasonicRaw 0x0119 correction never reaches the frame corner")
        x = r_out / self.scale
        for _ in range(60):
            x2 = x * x
            d = self.scale * (1 + x2 * (3 * self.a + x2 * (5 * self.b + x2 * 7 * self.c)))
            step = (self.corrected_radius(x) - r_out) / d
            x = x - step
            if np.all(np.abs(step) < 1e-13):
                break
        return x

    def warp_plane(self) -> tuple[float, float, float, float, float, float]:
        """The DNG WarpRectilinear plane ``(kr0, kr1, kr2, kr3, kt0, kt1)`` that corrects it.

        A least-squares fit of ``r_raw / r_out = kr0 + kr1 r² + kr2 r⁴ + kr3 r⁶`` to
        :meth:`raw_radius` on ``r_out ∈ [0, 1]`` (module docs).

        Raises
        ------
        InvalidProfileError
            The polynomial folds inside the frame, or the fit misses it by more than
            :data:`MAX_FIT_ERROR` of the half-diagonal.
        """
        r_out = np.linspace(0.0, 1.0, 257)
        r_raw = self.raw_radius(r_out)
        r2 = r_out * r_out
        basis = np.stack([r_out, r_out * r2, r_out * r2**2, r_out * r2**3], axis=1)
        k, *_ = np.linalg.lstsq(basis, r_raw, rcond=None)
        err = float(np.abs(basis @ k - r_raw).max())
        if err > MAX_FIT_ERROR:
            raise InvalidProfileError(
                f"PanasonicRaw 0x0119 correction cannot be written as a radial polynomial: the fit is off by "
                f"{err:.2e} of the half-diagonal (limit {MAX_FIT_ERROR:g})")
        return (float(k[0]), float(k[1]), float(k[2]), float(k[3]), 0.0, 0.0)


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

    Parameters
    ----------
    path : str or PathLike
        The RW2 file.
    maker, model : str
        Names the profile (the camera's; the lens is built in or not named).
    focal_length_mm : float
        The shot's focal length (the data holds one calibration point).

    Returns
    -------
    LensProfile or None

    Raises
    ------
    CorruptInputError, UnsupportedFormatError, EmptyFileError
        As :func:`read_rw2_distortion`.
    InvalidProfileError
        The correction folds inside the frame or is not a radial polynomial (:meth:`RW2Distortion.warp_plane`).
    """
    d = read_rw2_distortion(path)
    if d is None or not d.enabled:
        return None
    p = os.fspath(path)
    try:
        kr = d.warp_plane()
    except InvalidProfileError as exc:  # the fold / fit checks know no file: name it
        raise InvalidProfileError(exc.reason, p) from None
    terms = dict(zip(("kr0", "kr1", "kr2", "kr3", "kt0", "kt1"), kr), cx=0.5, cy=0.5)
    return LensProfile(
        maker=maker,
        model=model or "embedded lens correction",
        focal_min_mm=focal_length_mm,
        focal_max_mm=focal_length_mm,
        distortion=(DistortionCalibration("dng_warp_rectilinear", focal_length_mm, terms),),
        source=f"rw2:{p}",
        extra={"format": "rw2_0x0119", "rw2_scale": d.scale, "rw2_a": d.a, "rw2_b": d.b, "rw2_c": d.c,
               "rw2_radius_px": d.radius_px, "check_against_database": True},
    )
