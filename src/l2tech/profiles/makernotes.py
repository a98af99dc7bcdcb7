"""Lens corrections that Sony and Fujifilm cameras record in their RAW files (maker notes).

Both record, for the shot's lens, focal length and focus, linear splines of the radius:
a distortion factor, red and blue lateral chromatic aberration factors and a vignetting gain,
over ``r`` normalised to the half-diagonal of the image and measured from its centre. They are
read as darktable's lens module ("embedded metadata") and RawTherapee read them:

Sony (ARW), tags ``DistortionCorrParams`` (0x7037), ``ChromaticAberrationCorrParams``
(0x7035), ``VignettingCorrParams`` (0x7032) in the raw image's IFD (exiv2
``Exif.SubImage1.*``), or the same values in the encrypted ``SR2SubIFD`` (0x7982, 0x7980,
0x797d) when that IFD is not readable. Each is int16: ``n``, then ``n`` values (CA: ``2n``,
red then blue). With knots ``k_i = (i + 0.5) / (n − 1)``::

    distortion  r_src / r_out = 1 + d_i · 2⁻¹⁴
    CA (R, B)   extra factor  = 1 + c_i · 2⁻²¹
    vignetting  gain          = 1 / 2^(0.5 − 2^(v_i · 2⁻¹³ − 1))

Fujifilm (RAF), ``Exif.Fujifilm.GeometricDistortionParams``, ``ChromaticAberrationParams``,
``VignettingParams``: X-Trans IV/V (19, 29, 19 values: 9 knots, then the values) or I–III
(23, 31, 23: 11 knots); knots are over the *source* radius (times 1.25 in the crop modes,
``CropMode`` 2 or 4), distortion ``1 + d/100`` maps the source radius to ``r_out = r_src / m``
(so the spline is re-sampled over the output radius), CA ``1 + c``, vignetting gain ``100 / v``.

Every factor maps an output (corrected) radius to a source radius, as a DNG ``WarpRectilinear``
does, and the gain multiplies the raw data, as ``FixVignetteRadial`` does, over the same
half-diagonal. So a profile is built from DNG families (:mod:`l2tech.optics.dng`): the splines
are fitted by least squares with ``kr0..kr3`` (green plane, and red/blue planes for TCA) and
``k0..k4``, kept when the fit stays within :data:`MAX_FIT_ERROR` of the half-diagonal (the
ZV-E10 ARW: 0.18 px of 3606) and :data:`MAX_GAIN_ERROR` in gain. Where it does not (the layout
a Fujifilm body records: knots from 0.354 to 1.061 after a knot (0, no correction), fitted
within 8.7e-4 and 6.3e-3), that part of the profile carries the spline itself, the
``radial_table`` / ``radial_table_vignette`` families of :mod:`l2tech.optics.radial_table`,
applied exactly as RawTherapee and darktable apply it.

References
----------
darktable ``src/common/exif.cc`` (reading), ``src/iop/lens.cc`` (``_init_coeffs_md_v1/v2``);
RawTherapee ``rtengine/lensmetadata.cc`` (``SonyMetadataLensCorrection``,
``FujiMetadataLensCorrection``); exiftool ``lib/Image/ExifTool/Sony.pm`` (``SR2Private``,
``SR2SubIFD``, ``Decrypt``); dcraw / LibRaw ``sony_decrypt`` (the SR2 key stream).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from l2tech.errors import CorruptInputError, InvalidProfileError
from l2tech.optics import dng as _dng  # noqa: F401  (registers the dng_* families)
from l2tech.profiles.model import DistortionCalibration, LensProfile, TCACalibration, VignettingCalibration

__all__ = [
    "RadialCorrection",
    "MAX_FIT_ERROR",
    "MAX_GAIN_ERROR",
    "sony_correction",
    "fuji_correction",
    "read_sr2_subifd",
    "read_makernote_correction",
    "makernote_profile",
]

#: Largest error of the WarpRectilinear fit to a spline, as a fraction of the half-diagonal
#: (1 px on a 4000 px half-diagonal).
MAX_FIT_ERROR = 2.5e-4
#: Largest error of the FixVignetteRadial fit to the gain spline.
MAX_GAIN_ERROR = 5e-3


@dataclass(frozen=True)
class RadialCorrection:
    """A camera's radial correction splines over the output radius (half-diagonal units).

    Attributes
    ----------
    knots : tuple of float
        Output radii of the distortion and CA values, increasing.
    distortion : tuple of float
        ``r_src / r_out`` at each knot.
    ca_red, ca_blue : tuple of float
        Factors on top of ``distortion`` for the red and blue planes (1 = none).
    vignetting_knots, vignetting : tuple of float
        Radii (of the raw image) and the gain there.
    source : str
        ``"sony:<path>"``, ``"fuji:<path>"``: where the values came from.
    """

    knots: tuple[float, ...]
    distortion: tuple[float, ...]
    ca_red: tuple[float, ...]
    ca_blue: tuple[float, ...]
    vignetting_knots: tuple[float, ...]
    vignetting: tuple[float, ...]
    source: str = ""

    def factor(self, r_out: np.ndarray, plane: str = "green") -> np.ndarray:
        """``r_src / r_out`` at ``r_out`` for a colour plane (``"red"``, ``"green"``, ``"blue"``).

        Linear between knots, the end values held beyond them (RawTherapee's
        ``interpolateLinearSpline``).
        """
        r = np.asarray(r_out, dtype=np.float64)
        f = np.interp(r, self.knots, self.distortion)
        if plane == "red":
            f = f * np.interp(r, self.knots, self.ca_red)
        elif plane == "blue":
            f = f * np.interp(r, self.knots, self.ca_blue)
        return f

    def gain(self, r: np.ndarray) -> np.ndarray:
        """The vignetting gain at radius ``r`` (half-diagonal units)."""
        return np.interp(np.asarray(r, dtype=np.float64), self.vignetting_knots, self.vignetting)


def sony_correction(distortion: Sequence[int], ca: Sequence[int], vignetting: Sequence[int], source: str = "") -> RadialCorrection:
    """Sony's ``DistortionCorrParams``, ``ChromaticAberrationCorrParams``, ``VignettingCorrParams``.

    Parameters
    ----------
    distortion, vignetting : sequence of int
        ``n`` then at least ``n`` int16 values.
    ca : sequence of int
        ``2n`` then red and blue values.
    source : str
        The file, for messages.

    Returns
    -------
    RadialCorrection
        Knots and values in darktable's units (radius over the half-diagonal).

    Raises
    ------
    CorruptInputError
        Counts that disagree (darktable's check: ``n ≤ 16``, CA ``2n``) or too few values.
    """
    n = int(distortion[0]) if len(distortion) else 0
    if not (2 <= n <= 16 and len(ca) and int(ca[0]) == 2 * n and len(vignetting) and int(vignetting[0]) == n
            and len(distortion) > n and len(ca) > 2 * n and len(vignetting) > n):
        raise CorruptInputError(f"Sony lens-correction arrays have inconsistent counts (distortion {list(distortion[:1])}, "
                                f"CA {list(ca[:1])}, vignetting {list(vignetting[:1])}; expected n, 2n, n with n <= 16)", source)
    knots = tuple((i + 0.5) / (n - 1) for i in range(n))
    d = tuple(int(v) * 2.0**-14 + 1 for v in distortion[1 : n + 1])
    cr = tuple(int(v) * 2.0**-21 + 1 for v in ca[1 : n + 1])
    cb = tuple(int(v) * 2.0**-21 + 1 for v in ca[n + 1 : 2 * n + 1])
    g = tuple(1.0 / 2.0 ** (0.5 - 2.0 ** (int(v) * 2.0**-13 - 1)) for v in vignetting[1 : n + 1])
    return RadialCorrection(knots, d, cr, cb, knots, g, source)


def fuji_correction(distortion: Sequence[float], ca: Sequence[float], vignetting: Sequence[float], *, crop_mode: int = 0,
                    source: str = "") -> RadialCorrection:
    """Fujifilm's ``GeometricDistortionParams``, ``ChromaticAberrationParams``, ``VignettingParams``.

    Parameters
    ----------
    distortion, ca, vignetting : sequence of float
        19, 29, 19 values (X-Trans IV/V) or 23, 31, 23 (X-Trans I–III).
    crop_mode : int
        ``Exif.Fujifilm.CropMode``: 2 or 4 are the 1.25× crop modes (knots × 1.25).
    source : str
        Where the values came from (the file), for messages.

    Returns
    -------
    RadialCorrection

    Raises
    ------
    CorruptInputError
        Other counts, or knots that differ between the three arrays.
    """
    counts = (len(distortion), len(ca), len(vignetting))
    if counts == (19, 29, 19):
        n = 9
        knots = [float(distortion[i + 1]) for i in range(n)]
        same = all(float(ca[i + 1]) == knots[i] == float(vignetting[i + 1]) for i in range(n))
        dv = [float(distortion[i + 10]) for i in range(n)]
        crv = [float(ca[i + 10]) for i in range(n)]
        cbv = [float(ca[i + 19]) for i in range(n)]
        vv = [float(vignetting[i + 10]) for i in range(n)]
    elif counts == (23, 31, 23):
        n = 11
        knots = [float(distortion[i + 1]) for i in range(n)]
        same = all((i == 0 or float(ca[i]) == knots[i]) and knots[i] == float(vignetting[i + 1]) for i in range(n))
        dv = [float(distortion[i + 12]) for i in range(n)]
        crv = [0.0] + [float(ca[i + 10]) for i in range(1, n)]
        cbv = [0.0] + [float(ca[i + 20]) for i in range(1, n)]
        vv = [float(vignetting[i + 12]) for i in range(n)]
    else:
        raise CorruptInputError(f"Fujifilm lens-correction arrays have {counts} values; expected (19, 29, 19) or (23, 31, 23)",
                                source)
    if not same:
        raise CorruptInputError("Fujifilm lens-correction arrays have different knots", source)
    cropf = 1.25 if crop_mode in (2, 4) else 1.0
    k_in = [cropf * k for k in knots]
    m_in = [v / 100 + 1 for v in dv]
    car_in, cab_in = list(crv), list(cbv)
    gain = [100.0 / v for v in vv]
    k_vig = list(k_in)
    if k_in[0] > 0:  # a knot with no correction at the centre
        k_in, m_in, car_in, cab_in = [0.0, *k_in], [1.0, *m_in], [0.0, *car_in], [0.0, *cab_in]
        k_vig, gain = [0.0, *k_vig], [1.0, *gain]
    # the splines are over the source radius: re-sample them over the output radius
    r_in = np.arange(16, dtype=np.float64) / (n - 1)
    m = np.interp(r_in, k_in, m_in)
    r_out = r_in / m
    if np.any(np.diff(r_out) <= 0):
        raise InvalidProfileError("Fujifilm distortion spline folds (the output radius stops increasing)", source)
    return RadialCorrection(tuple(r_out), tuple(m), tuple(1 + np.interp(r_in, k_in, car_in)),
                            tuple(1 + np.interp(r_in, k_in, cab_in)), tuple(k_vig), tuple(gain), source)


# ---------------------------------------------------------------------------------------------
# reading


def _sony_decrypt(buf: bytes, key: int) -> bytes:
    """Decrypt Sony's SR2SubIFD (the key stream of dcraw/LibRaw ``sony_decrypt``)."""
    pad = [0] * 128
    for i in range(4):
        key = (key * 48828125 + 1) & 0xFFFFFFFF
        pad[i] = key
    pad[3] = ((pad[3] << 1) | ((pad[0] ^ pad[2]) >> 31)) & 0xFFFFFFFF
    for i in range(4, 127):
        pad[i] = (((pad[i - 4] ^ pad[i - 2]) << 1) | ((pad[i - 3] ^ pad[i - 1]) >> 31)) & 0xFFFFFFFF
    n = len(buf) // 4
    stream = np.empty(n, dtype=np.uint32)
    p = 127
    for i in range(n):
        pad[p & 127] = pad[(p + 1) & 127] ^ pad[(p + 65) & 127]
        stream[i] = pad[p & 127]
        p += 1
    words = np.frombuffer(buf[: 4 * n], dtype=">u4") ^ stream
    return words.astype(">u4").tobytes() + buf[4 * n :]


def _ifd_entries(data: bytes, at: int, endian: str) -> list[tuple[int, int, int, int, int]]:
    """(tag, type, count, value-or-offset, entry position) of the IFD at ``at``."""
    (n,) = struct.unpack_from(endian + "H", data, at)
    out = []
    for i in range(n):
        pos = at + 2 + 12 * i
        tag, typ, cnt, val = struct.unpack_from(endian + "HHII", data, pos)
        out.append((tag, typ, cnt, val, pos))
    return out


def read_sr2_subifd(path: os.PathLike | str) -> dict[int, tuple[int, ...]]:
    """The int16 arrays of a Sony ARW's encrypted ``SR2SubIFD`` (tag → values).

    IFD0's ``DNGPrivateData`` (0xC634) points at the ``SR2Private`` IFD, whose tags 0x7200,
    0x7201 and 0x7221 give the offset, length and key of the encrypted ``SR2SubIFD``; its
    value offsets are file offsets.

    Returns
    -------
    dict of int to tuple of int
        Every SSHORT array in it (``{0x7982: (11, 24, 4, ...), ...}``); empty when the file has none.

    Raises
    ------
    CorruptInputError
        A pointer or the encrypted block runs past the end of the file.
    """
    p = os.fspath(path)
    with open(p, "rb") as fh:
        data = fh.read()
    if data[:4] not in (b"II*\x00", b"MM\x00*"):
        return {}
    e = "<" if data[:2] == b"II" else ">"
    try:
        (ifd0,) = struct.unpack_from(e + "I", data, 4)
        priv = next((val for tag, _t, _c, val, _p in _ifd_entries(data, ifd0, e) if tag == 0xC634), None)
        if priv is None:
            return {}
        fields = {tag: (typ, cnt, val, pos) for tag, typ, cnt, val, pos in _ifd_entries(data, priv, e)}
        if not {0x7200, 0x7201, 0x7221} <= fields.keys():
            return {}
        off, length = fields[0x7200][2], fields[0x7201][2]
        (key,) = struct.unpack_from(e + "I", data, fields[0x7221][3] + 8)
        if off + length > len(data):
            raise CorruptInputError(f"Sony SR2SubIFD ({length} bytes at {off}) runs past the end of the file", p)
        dec = _sony_decrypt(data[off : off + length], key)
        out: dict[int, tuple[int, ...]] = {}
        for tag, typ, cnt, val, pos in _ifd_entries(dec, 0, e):
            if typ != 8:  # SSHORT arrays only
                continue
            if cnt <= 2:
                raw = dec[pos + 8 : pos + 8 + 2 * cnt]
            else:
                if not (off <= val and val + 2 * cnt <= off + length):
                    continue
                raw = dec[val - off : val - off + 2 * cnt]
            out[tag] = struct.unpack(f"{e}{cnt}h", raw)
        return out
    except struct.error as exc:
        raise CorruptInputError(f"Sony SR2 private data is truncated ({exc})", p) from None


def _exiv2_numbers(ex: Any, key: str) -> tuple[float, ...] | None:
    import exiv2

    it = ex.findKey(exiv2.ExifKey(key))
    if it == ex.end():
        return None
    return tuple(float(it.toFloat(i)) for i in range(it.count()))


def read_makernote_correction(path: os.PathLike | str) -> RadialCorrection | None:
    """The lens correction a Sony ARW or Fujifilm RAF records (module docs), or None.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    RadialCorrection or None
        None for other makes and files without the tags.

    Raises
    ------
    CorruptInputError
        The tags are there but inconsistent or truncated.
    """
    import exiv2

    p = os.fspath(path)
    try:
        exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.mute)
        im = exiv2.ImageFactory.open(p)
        im.readMetadata()
    except exiv2.Exiv2Error:
        return None
    ex = im.exifData()
    make_it = ex.findKey(exiv2.ExifKey("Exif.Image.Make"))
    make = "" if make_it == ex.end() else make_it.toString().strip("\x00 ").upper()
    if make.startswith("SONY"):
        arrays = [_exiv2_numbers(ex, f"Exif.SubImage1.{n}") for n in
                  ("DistortionCorrParams", "ChromaticAberrationCorrParams", "VignettingCorrParams")]
        if all(a is not None for a in arrays):
            d, c, v = ([int(x) for x in a] for a in arrays)  # type: ignore[union-attr]
            return sony_correction(d, c, v, f"sony:{p}")
        sr2 = read_sr2_subifd(p)
        if {0x7982, 0x7980, 0x797D} <= sr2.keys():
            return sony_correction(sr2[0x7982], sr2[0x7980], sr2[0x797D], f"sony:{p}")
        return None
    if make.startswith("FUJI"):
        arrays = [_exiv2_numbers(ex, f"Exif.Fujifilm.{n}") for n in
                  ("GeometricDistortionParams", "ChromaticAberrationParams", "VignettingParams")]
        if not all(a is not None for a in arrays):
            return None
        crop = _exiv2_numbers(ex, "Exif.Fujifilm.CropMode")
        d, c, v = arrays  # type: ignore[misc]
        return fuji_correction(d, c, v, crop_mode=int(crop[0]) if crop else 0, source=f"fuji:{p}")
    return None


# ---------------------------------------------------------------------------------------------
# as a profile


def _fit_warp(corr: RadialCorrection, plane: str) -> tuple[tuple[float, ...], float]:
    r = np.linspace(0.0, 1.0, 513)
    src = r * corr.factor(r, plane)
    r2 = r * r
    basis = np.stack([r, r * r2, r * r2**2, r * r2**3], axis=1)
    k, *_ = np.linalg.lstsq(basis, src, rcond=None)
    return (float(k[0]), float(k[1]), float(k[2]), float(k[3]), 0.0, 0.0), float(np.abs(basis @ k - src).max())


def _table_folds(corr: RadialCorrection) -> str | None:
    """Where ``r · factor(r)`` stops increasing inside the frame (r ≤ 1), for some plane, or None."""
    r = np.unique(np.concatenate([np.linspace(0.0, 1.0, 4097), np.clip(corr.knots, 0.0, 1.0)]))
    for plane in ("green", "red", "blue"):
        bad = np.nonzero(np.diff(r * corr.factor(r, plane)) <= 0)[0]
        if bad.size:
            return f"the recorded {plane} spline folds the image at radius {r[bad[0]]:.4g} of the half-diagonal"
    return None


def makernote_profile(corr: RadialCorrection, *, maker: str = "", model: str = "", focal_length_mm: float = 0.0) -> LensProfile:
    """A camera's recorded correction as a :class:`LensProfile` (module docs).

    The splines are fitted with DNG families when the fit is within :data:`MAX_FIT_ERROR`
    (geometry) / :data:`MAX_GAIN_ERROR` (vignetting); where it is not, that part carries the
    spline itself (:mod:`l2tech.optics.radial_table`), applied as RawTherapee and darktable
    apply it.

    Parameters
    ----------
    corr : RadialCorrection
    maker, model : str
        Names the profile (the camera's, or its lens).
    focal_length_mm : float
        The shot's focal length (one calibration point).

    Returns
    -------
    LensProfile
        Distortion ``dng_warp_rectilinear`` (green) and TCA ``dng_warp_rectilinear`` (red and
        blue planes), or both ``radial_table`` (green factors; red and blue factors on top);
        vignetting ``dng_fix_vignette_radial`` or ``radial_table_vignette``.
        ``extra["geometry_representation"]`` and ``["vignetting_representation"]`` name the
        family used, ``["representation"]`` is ``"dng_polynomial"``, ``"radial_table"`` or
        ``"mixed"``; ``["fit_error"]`` (half-diagonal) and ``["gain_fit_error"]`` are the
        polynomial fits' worst errors, whichever was used.

    Raises
    ------
    InvalidProfileError
        A table used as it is that folds the image inside the frame, or holds a value that is
        not finite or not positive.
    """
    from l2tech.optics.radial_table import radial_table_tca_terms, radial_table_terms, radial_table_vignette_terms

    names = ("kr0", "kr1", "kr2", "kr3", "kt0", "kt1")
    green, e_g = _fit_warp(corr, "green")
    red, e_r = _fit_warp(corr, "red")
    blue, e_b = _fit_warp(corr, "blue")
    err = max(e_g, e_r, e_b)
    r = np.linspace(0.0, 1.0, 513)
    r2 = r * r
    basis = np.stack([r2, r2**2, r2**3, r2**4, r2**5], axis=1)
    g = corr.gain(r)
    k, *_ = np.linalg.lstsq(basis, g - 1.0, rcond=None)
    g_err = float(np.abs(1.0 + basis @ k - g).max())
    geometry_table = not err <= MAX_FIT_ERROR  # NaN too
    vignetting_table = not g_err <= MAX_GAIN_ERROR
    if geometry_table:
        folds = _table_folds(corr)
        if folds is not None:
            raise InvalidProfileError(folds, corr.source)
        try:
            dterms = radial_table_terms(corr.knots, corr.distortion)
            tterms = radial_table_tca_terms(corr.knots, corr.ca_red, corr.ca_blue)
        except InvalidProfileError as exc:
            raise InvalidProfileError(f"the recorded distortion or CA spline is unusable ({exc.reason})", corr.source) from None
        dist = DistortionCalibration("radial_table", focal_length_mm, dterms)
        tca = TCACalibration("radial_table", focal_length_mm, tterms)
    else:
        dist = DistortionCalibration("dng_warp_rectilinear", focal_length_mm, dict(zip(names, green), cx=0.5, cy=0.5))
        tt: dict[str, float] = {"cx": 0.5, "cy": 0.5}
        tt.update({f"r_{n}": v for n, v in zip(names, red)})
        tt.update({f"b_{n}": v for n, v in zip(names, blue)})
        tca = TCACalibration("dng_warp_rectilinear", focal_length_mm, tt)
    if vignetting_table:
        try:
            vterms = radial_table_vignette_terms(corr.vignetting_knots, corr.vignetting)
        except InvalidProfileError as exc:
            raise InvalidProfileError(f"the recorded vignetting spline is unusable ({exc.reason})", corr.source) from None
        vig = VignettingCalibration("radial_table_vignette", focal_length_mm, 0.0, 0.0, vterms)
    else:
        vig = VignettingCalibration("dng_fix_vignette_radial", focal_length_mm, 0.0, 0.0,
                                    {**{f"k{i}": float(v) for i, v in enumerate(k)}, "cx": 0.5, "cy": 0.5})
    representation = ("radial_table" if geometry_table and vignetting_table else
                      "mixed" if geometry_table or vignetting_table else "dng_polynomial")
    return LensProfile(
        maker=maker,
        model=model or "recorded lens correction",
        focal_min_mm=focal_length_mm,
        focal_max_mm=focal_length_mm,
        distortion=(dist,),
        tca=(tca,),
        vignetting=(vig,),
        source=corr.source,
        extra={"format": corr.source.split(":", 1)[0] + "_makernotes", "representation": representation,
               "geometry_representation": dist.model, "vignetting_representation": vig.model,
               "fit_error": err, "gain_fit_error": g_err, "check_against_database": True},
    )
