"""Transfer functions: camera log curves (through colour-science) and display encodings.

Every encoding is registered in :data:`LOG_ENCODINGS` (name -> :class:`Encoding`), looked up
case-insensitively (``"v-log"``, ``"VLog"`` and ``"V-Log"`` are one entry). Each has an
``encode`` (linear -> encoded) and a ``decode`` (encoded -> linear). Encoded values are
normalised code values (0-1 = full range of the code); 10-bit integers exist only through
:func:`to_code_values` / :func:`from_code_values`, with legal (narrow) or full range said
explicitly.

The display encodings (sRGB, BT.709, BT.2020, BT.1886, Adobe RGB) are written out here in
NumPy, so that encoding for display never imports colour-science; they are the only copy of
those curves in l2tech (:mod:`l2tech.color.display` builds its display spaces from them).

Linear values are *scene-linear reflectance* for camera log curves (0.18 = 18 % grey card) and
*display-linear* for display encodings (1.0 = reference white; for PQ 1.0 = 100 cd/m²).

References
----------
colour-science 0.4.7, ``colour/models/rgb/transfer_functions/`` (each function's own
References list the vendor documents: Panasonic "VARICAM V-Log/V-Gamut" (2014); Leica "L-Log
Reference Manual" (2022); Sony "Technical Summary for S-Gamut3.Cine/S-Log3 and
S-Gamut3/S-Log3"; ARRI "ALEXA LogC Curve in VFX" and "ALEXA 35 LogC4 Specification"; Canon
"Canon Log Gamma Curves" (v1.2); Fujifilm "F-Log Data Sheet" and "F-Log2 Data Sheet"; Nikon
"N-Log Specification Document" (1.0.0); Apple "Apple Log Profile White Paper" (2023); RED
"REDWideGamutRGB and Log3G10" (v3); IEC 61966-2-1 (sRGB); ITU-R BT.709-6, BT.1886,
BT.2100-2 (PQ, HLG); SMPTE ST 2084). ITU-R BT.601-7 / SMPTE RP 2077 for legal range.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from l2tech.color._colour import colour_module, quiet
from l2tech.color._registry import Registry
from l2tech.errors import UsageError

__all__ = [
    "Encoding",
    "LOG_ENCODINGS",
    "encode",
    "decode",
    "log_encoding_LLog",
    "log_decoding_LLog",
    "eotf_inverse_sRGB",
    "eotf_sRGB",
    "oetf_BT709",
    "oetf_inverse_BT709",
    "oetf_BT2020",
    "oetf_inverse_BT2020",
    "eotf_inverse_BT1886",
    "eotf_BT1886",
    "ADOBE_RGB_GAMMA",
    "cctf_encoding_AdobeRGB",
    "cctf_decoding_AdobeRGB",
    "full_to_legal",
    "legal_to_full",
    "to_code_values",
    "from_code_values",
]

ArrayFunc = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Encoding:
    """A transfer function pair.

    Parameters
    ----------
    name : str
        Field-standard name, e.g. ``"V-Log"``.
    encode : callable
        Linear -> encoded (normalised code value), float64 array in and out.
    decode : callable
        Encoded -> linear.
    kind : str
        ``"log"`` (camera, scene-referred), ``"display"`` (display-referred) or ``"linear"``.
    default_gamut : str
        The gamut this encoding is usually recorded in (a key of :data:`l2tech.color.GAMUTS`).
    """

    name: str
    encode: ArrayFunc
    decode: ArrayFunc
    kind: str
    default_gamut: str


def _cs(fname: str, **kwargs: object) -> ArrayFunc:
    """A float64 wrapper around ``colour.models.<fname>`` with warnings silenced."""

    def f(x: np.ndarray) -> np.ndarray:
        fn = getattr(colour_module().models, fname)
        with quiet():
            return np.asarray(fn(np.asarray(x, dtype=np.float64), **kwargs), dtype=np.float64)

    f.__name__ = fname
    return f


# Leica L-Log (Leica "L-Log Reference Manual", §3.1 LSR-to-L-Log Conversion; OPTICS.md §6).
# colour-science 0.4.7 also ships it (log_encoding_LLog); ours is the manual's formula
# written out, and the tests check the two agree.
_LLOG_CUT = 0.006
_LLOG_A, _LLOG_B = 8.0, 0.09
_LLOG_C, _LLOG_D, _LLOG_E, _LLOG_F = 0.27, 1.3, 0.0115, 0.6
_LLOG_CUT_ENC = _LLOG_A * _LLOG_CUT + _LLOG_B


def log_encoding_LLog(x: np.ndarray) -> np.ndarray:
    """Leica L-Log encoding: scene-linear reflectance -> normalised L-Log code value.

    Parameters
    ----------
    x : array_like, any shape, float
        Scene-linear reflectance (0.18 = 18 % grey). Values below 0 follow the linear toe.

    Returns
    -------
    ndarray, same shape, float64
        Normalised full-range code value (x1023 for 10-bit).

    Notes
    -----
    ``8 x + 0.09`` for ``x <= 0.006``, else ``0.27 log10(1.3 x + 0.0115) + 0.6``.

    References
    ----------
    Leica Camera AG, "Leica L-Log Reference Manual" (2022), §3.1.

    Examples
    --------
    >>> round(float(log_encoding_LLog(0.18)), 6)
    0.435314
    """
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        log = _LLOG_C * np.log10(np.maximum(_LLOG_D * x + _LLOG_E, 1e-300)) + _LLOG_F
    return np.where(x <= _LLOG_CUT, _LLOG_A * x + _LLOG_B, log)


def log_decoding_LLog(y: np.ndarray) -> np.ndarray:
    """Leica L-Log decoding: normalised L-Log code value -> scene-linear reflectance.

    Inverse of :func:`log_encoding_LLog` (same reference), with the manual's decoding cut
    0.138 (as colour-science's ``CONSTANTS_LLOG.cut2``).

    Notes
    -----
    The published encoding is discontinuous at its cut: the linear toe gives 0.138 at
    x = 0.006 while the log segment gives 0.13711, so inputs in (0.006, 0.0061141) encode to
    values that decode through the toe; every other input round-trips.

    Examples
    --------
    >>> round(float(log_decoding_LLog(0.435313904043927)), 9)
    0.18
    """
    y = np.asarray(y, dtype=np.float64)
    with np.errstate(over="ignore"):
        lin = (10.0 ** ((y - _LLOG_F) / _LLOG_C) - _LLOG_E) / _LLOG_D
    return np.where(y <= _LLOG_CUT_ENC, (y - _LLOG_B) / _LLOG_A, lin)


# -- Display encodings, written out (no colour-science import on the develop and video paths).
# Each mirrors the spec's formula and colour-science 0.4.7's arithmetic (``spow``: sign-mirrored
# power), so the two agree to the last bit in float64; the tests compare them.

_SRGB_CUT = 0.0031308


def _spow(x: np.ndarray, p: float) -> np.ndarray:
    """Sign-preserving power ``sign(x) |x|**p`` (colour-science ``spow``), float64."""
    return np.sign(x) * np.abs(x) ** p


def eotf_inverse_sRGB(L: np.ndarray) -> np.ndarray:
    """sRGB inverse EOTF: display-linear -> encoded sRGB.

    Parameters
    ----------
    L : array_like, any shape, float
        Display-linear values, 1.0 = reference white. Values outside 0-1 are kept (the linear
        segment continues below 0, the power segment is mirrored).

    Returns
    -------
    ndarray, same shape, float64
        Encoded values, 0-1 for 0-1 input.

    Notes
    -----
    ``12.92 L`` for ``L <= 0.0031308``, else ``1.055 L**(1/2.4) - 0.055``.

    References
    ----------
    IEC 61966-2-1:1999, §5.2 (the encoding of linear sRGB values, equations (5)-(6)).

    Examples
    --------
    >>> round(float(eotf_inverse_sRGB(0.18)), 7)
    0.4613561
    """
    L = np.asarray(L, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(L <= _SRGB_CUT, L * 12.92, 1.055 * _spow(L, 1 / 2.4) - 0.055)


def eotf_sRGB(V: np.ndarray) -> np.ndarray:
    """sRGB EOTF: encoded sRGB -> display-linear (inverse of :func:`eotf_inverse_sRGB`).

    Parameters
    ----------
    V : array_like, any shape, float
        Encoded values, nominally 0-1. Below 0 the linear segment continues; above 1 the power
        segment does.

    Returns
    -------
    ndarray, same shape, float64
        Display-linear values, 1.0 = reference white.

    Notes
    -----
    ``V / 12.92`` at or below the encoded cut ``eotf_inverse_sRGB(0.0031308)`` (≈ 0.04045),
    else ``((V + 0.055) / 1.055)**2.4``.

    References
    ----------
    IEC 61966-2-1:1999, §5.2, equations (1)-(2).
    """
    V = np.asarray(V, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(_SRGB_CUT_ENC >= V, V / 12.92, _spow((V + 0.055) / 1.055, 2.4))


_SRGB_CUT_ENC = float(eotf_inverse_sRGB(_SRGB_CUT))

#: ITU-R BT.709-6 OETF constants (item 1.2): ``V = 1.099 L**0.45 - 0.099`` for ``L >= 0.018``.
_BT709_A, _BT709_B, _BT709_C = 1.099, 0.018, 0.099


def _oetf_power(L: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    """``4.5 L`` below ``b``, else ``a L**0.45 - c`` (``c`` is ``a - 1`` as the spec writes it)."""
    L = np.asarray(L, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.where(L < b, L * 4.5, a * _spow(L, 0.45) - c)


def _oetf_power_inverse(V: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    V = np.asarray(V, dtype=np.float64)
    cut = float(_oetf_power(b, a, b, c))
    with np.errstate(invalid="ignore"):
        return np.where(V < cut, V / 4.5, _spow((V + c) / a, 1 / 0.45))


def oetf_BT709(L: np.ndarray) -> np.ndarray:
    """ITU-R BT.709 OETF: scene-linear -> video signal.

    Parameters
    ----------
    L : array_like, any shape, float
        Scene-linear values, 1.0 = reference white. The linear segment continues below 0.

    Returns
    -------
    ndarray, same shape, float64
        Signal ``V``, 0-1 for 0-1 input (full range; legal range is a separate step,
        :func:`full_to_legal`).

    Notes
    -----
    ``4.5 L`` for ``L < 0.018``, else ``1.099 L**0.45 - 0.099``. A display shows such a
    signal through the BT.1886 EOTF (:func:`eotf_BT1886`); l2tech's video pipeline inverts
    this OETF to work on scene-linear values (:func:`oetf_inverse_BT709`).

    References
    ----------
    ITU-R BT.709-6 (2015), Part 1, item 1.2 (opto-electronic transfer characteristics).

    Examples
    --------
    >>> round(float(oetf_BT709(0.18)), 7)
    0.4090077
    """
    return _oetf_power(L, _BT709_A, _BT709_B, _BT709_C)


def oetf_inverse_BT709(V: np.ndarray) -> np.ndarray:
    """Inverse of the ITU-R BT.709 OETF: video signal -> scene-linear.

    Parameters
    ----------
    V : array_like, any shape, float
        Signal values, nominally 0-1; out-of-range values are kept.

    Returns
    -------
    ndarray, same shape, float64
        Scene-linear values (1.0: reference white); no clipping.

    Notes
    -----
    ``V / 4.5`` below ``oetf_BT709(0.018)`` (≈ 0.081), else ``((V + 0.099) / 1.099)**(1/0.45)``.

    References
    ----------
    ITU-R BT.709-6 (2015), Part 1, item 1.2.
    """
    return _oetf_power_inverse(V, _BT709_A, _BT709_B, _BT709_C)


#: ITU-R BT.2020 OETF constants: the exact solutions of the two continuity conditions
#: (BT.2020-2 Table 4 gives them rounded: α = 1.099, β = 0.018 for 10-bit systems and
#: α = 1.0993, β = 0.0181 for 12-bit systems); colour-science's ``CONSTANTS_BT2020_PRECISE``.
_BT2020_A, _BT2020_B = 1.09929682680944, 0.018053968510807


def oetf_BT2020(E: np.ndarray) -> np.ndarray:
    """ITU-R BT.2020 OETF: scene-linear -> signal, with the continuous (precise) constants.

    Parameters
    ----------
    E : array_like, any shape, float
        Linear values, 1.0 = reference white. The linear segment continues below 0.

    Returns
    -------
    ndarray, same shape, float64
        Signal ``E'``, 0-1 for 0-1 input.

    Notes
    -----
    ``4.5 E`` for ``E < β``, else ``α E**0.45 - (α - 1)`` with α = 1.09929682680944,
    β = 0.018053968510807 (the values that make the curve and its slope continuous; the
    Recommendation's rounded 10-bit constants give values within 2e-4 of these).

    References
    ----------
    ITU-R BT.2020-2 (2015), Table 4 ("Opto-electronic transfer characteristics").

    Examples
    --------
    >>> round(float(oetf_BT2020(0.18)), 7)
    0.4088481
    """
    return _oetf_power(E, _BT2020_A, _BT2020_B, _BT2020_A - 1)


def oetf_inverse_BT2020(E_p: np.ndarray) -> np.ndarray:
    """Inverse of :func:`oetf_BT2020`: signal -> linear (same constants and reference).

    Parameters
    ----------
    E_p : array_like, any shape, float
        Signal values, nominally 0-1 (out of range: kept, the segments extended).

    Returns
    -------
    ndarray, same shape, float64
        Linear values, 1.0 = reference white.
    """
    return _oetf_power_inverse(E_p, _BT2020_A, _BT2020_B, _BT2020_A - 1)


_BT1886_GAMMA = 2.40


def eotf_inverse_BT1886(L: np.ndarray) -> np.ndarray:
    """Inverse of the ITU-R BT.1886 reference EOTF with ``L_B = 0``, ``L_W = 1``: ``V = L**(1/2.4)``.

    Parameters
    ----------
    L : array_like, any shape, float
        Display-linear luminance, 1.0 = white (mirrored below 0).

    Returns
    -------
    ndarray, same shape, float64
        BT.1886 signal values, 0-1 between black and white.

    References
    ----------
    ITU-R BT.1886 (2011), Annex 1 (reference EOTF, γ = 2.40).
    """
    L = np.asarray(L, dtype=np.float64)
    return _spow(L, 1 / _BT1886_GAMMA)


def eotf_BT1886(V: np.ndarray) -> np.ndarray:
    """ITU-R BT.1886 reference EOTF with ``L_B = 0``, ``L_W = 1``: ``L = max(V, 0)**2.4``.

    Parameters
    ----------
    V : array_like, any shape, float
        Signal, nominally 0-1; negative values give 0 (as the Recommendation's ``max``).

    Returns
    -------
    ndarray, same shape, float64
        Screen luminance relative to white (0-1).

    References
    ----------
    ITU-R BT.1886 (2011), Annex 1.
    """
    V = np.asarray(V, dtype=np.float64)
    return _spow(np.maximum(V, 0), _BT1886_GAMMA)


#: Adobe RGB (1998) encoding gamma, 2 + 51/256 = 563/256 ≈ 2.19921875 (§4.3.1.2).
ADOBE_RGB_GAMMA = 563 / 256


def cctf_encoding_AdobeRGB(L: np.ndarray) -> np.ndarray:
    """Adobe RGB (1998) encoding: linear -> encoded, ``V = L**(256/563)`` (mirrored below 0).

    Parameters
    ----------
    L : array_like, any shape, float
        Linear values, 1.0 = white.

    Returns
    -------
    ndarray, same shape, float64
        Adobe RGB encoded values (power 1/2.19921875).

    References
    ----------
    Adobe Systems, "Adobe RGB (1998) Color Image Encoding", version 2005-05, §4.3.1.2.

    Examples
    --------
    >>> round(float(cctf_encoding_AdobeRGB(0.18)), 7)
    0.4585295
    """
    return _spow(np.asarray(L, dtype=np.float64), 1 / ADOBE_RGB_GAMMA)


def cctf_decoding_AdobeRGB(V: np.ndarray) -> np.ndarray:
    """Adobe RGB (1998) decoding: encoded -> linear, ``L = V**(563/256)`` (mirrored below 0).

    Parameters
    ----------
    V : array_like, any shape, float
        Encoded values.

    Returns
    -------
    ndarray, same shape, float64
        Linear values, 1.0 = white.

    References
    ----------
    Adobe Systems, "Adobe RGB (1998) Color Image Encoding", version 2005-05, §4.3.1.2.
    """
    return _spow(np.asarray(V, dtype=np.float64), ADOBE_RGB_GAMMA)


def _identity(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _pq_encode(x: np.ndarray) -> np.ndarray:
    # 1.0 linear = 100 cd/m^2 (SDR reference white); ST 2084 takes cd/m^2.
    return _cs("eotf_inverse_ST2084")(np.asarray(x, dtype=np.float64) * 100.0)


def _pq_decode(y: np.ndarray) -> np.ndarray:
    return _cs("eotf_ST2084")(y) / 100.0


_ENTRIES: dict[str, Encoding] = {}


def _add(name: str, enc: ArrayFunc, dec: ArrayFunc, kind: str, gamut: str) -> None:
    _ENTRIES[name] = Encoding(name, enc, dec, kind, gamut)


_add("Linear", _identity, _identity, "linear", "Rec.709")
_add("V-Log", _cs("log_encoding_VLog"), _cs("log_decoding_VLog"), "log", "V-Gamut")
_add("L-Log", log_encoding_LLog, log_decoding_LLog, "log", "L-Gamut")
_add("S-Log3", _cs("log_encoding_SLog3"), _cs("log_decoding_SLog3"), "log", "S-Gamut3.Cine")
_add("LogC3", _cs("log_encoding_ARRILogC3"), _cs("log_decoding_ARRILogC3"), "log", "ARRI Wide Gamut 3")
_add("LogC4", _cs("log_encoding_ARRILogC4"), _cs("log_decoding_ARRILogC4"), "log", "ARRI Wide Gamut 4")
_add("Canon Log 3", _cs("log_encoding_CanonLog3"), _cs("log_decoding_CanonLog3"), "log", "Cinema Gamut")
_add("F-Log", _cs("log_encoding_FLog"), _cs("log_decoding_FLog"), "log", "F-Gamut")
_add("F-Log2", _cs("log_encoding_FLog2"), _cs("log_decoding_FLog2"), "log", "F-Gamut")
_add("N-Log", _cs("log_encoding_NLog"), _cs("log_decoding_NLog"), "log", "Rec.2020")
_add("Apple Log", _cs("log_encoding_AppleLogProfile"), _cs("log_decoding_AppleLogProfile"), "log", "Rec.2020")
_add("Log3G10", _cs("log_encoding_Log3G10"), _cs("log_decoding_Log3G10"), "log", "REDWideGamutRGB")
_add("sRGB", eotf_inverse_sRGB, eotf_sRGB, "display", "Rec.709")
_add("Rec.709", oetf_BT709, oetf_inverse_BT709, "display", "Rec.709")
_add("BT.1886", eotf_inverse_BT1886, eotf_BT1886, "display", "Rec.709")
_add("PQ", _pq_encode, _pq_decode, "display", "Rec.2020")
_add("HLG", _cs("oetf_BT2100_HLG"), _cs("oetf_inverse_BT2100_HLG"), "display", "Rec.2020")

#: Registry of transfer functions, name -> :class:`Encoding` (case-insensitive).
LOG_ENCODINGS: Registry[Encoding] = Registry(
    "encoding",
    _ENTRIES,
    aliases={
        "ARRI LogC3": "LogC3",
        "LogC": "LogC3",
        "ARRI LogC4": "LogC4",
        "CLog3": "Canon Log 3",
        "CanonLog3": "Canon Log 3",
        "Apple Log Profile": "Apple Log",
        "RED Log3G10": "Log3G10",
        "BT.709": "Rec.709",
        "rec709": "Rec.709",
        "ST 2084": "PQ",
        "ST2084": "PQ",
        "BT.2100 PQ": "PQ",
        "BT.2100 HLG": "HLG",
        "lin": "Linear",
        "scene-linear": "Linear",
    },
)


def _like(result: np.ndarray, x: object) -> np.ndarray:
    dtype = getattr(x, "dtype", None)
    if dtype is not None and np.dtype(dtype) == np.float32:
        return result.astype(np.float32)
    return result


def encode(x: np.ndarray, encoding: str) -> np.ndarray:
    """Linear -> encoded with the named transfer function.

    Parameters
    ----------
    x : array_like, any shape, float32 or float64
        Scene-linear (log curves) or display-linear (display encodings) values.
    encoding : str
        A key of :data:`LOG_ENCODINGS`, case-insensitive.

    Returns
    -------
    ndarray, same shape
        Normalised code values; float32 in -> float32 out, else float64. Values outside
        0-1 are kept (no clipping).

    Raises
    ------
    UsageError
        Unknown encoding name (the message lists the valid names).

    Examples
    --------
    >>> int(np.round(encode(0.18, "V-Log") * 1023))
    433
    >>> int(np.round(encode(0.18, "S-Log3") * 1023))
    420
    """
    return _like(LOG_ENCODINGS[encoding].encode(np.asarray(x, dtype=np.float64)), x)


def decode(y: np.ndarray, encoding: str) -> np.ndarray:
    """Encoded -> linear with the named transfer function (inverse of :func:`encode`).

    Parameters and dtype rules as :func:`encode`.

    Examples
    --------
    >>> round(float(decode(433 / 1023, "V-Log")), 3)
    0.18
    """
    return _like(LOG_ENCODINGS[encoding].decode(np.asarray(y, dtype=np.float64)), y)


def _check_depth(bit_depth: int) -> int:
    if int(bit_depth) != bit_depth or not 8 <= bit_depth <= 16:
        raise UsageError(f"bit_depth must be an integer 8-16, got {bit_depth!r}")
    return int(bit_depth)


def full_to_legal(y: np.ndarray, bit_depth: int = 10) -> np.ndarray:
    """Full-range normalised code values -> legal (narrow, "video") range, still normalised.

    Legal range puts 0 at code ``16 * 2**(n-8)`` and 1 at ``235 * 2**(n-8)`` (64 and 940 at
    10 bits) of ``2**n - 1``.

    Parameters
    ----------
    y : array_like, float
        Full-range normalised code values (0-1).
    bit_depth : int
        8-16.

    Returns
    -------
    ndarray, float64

    References
    ----------
    ITU-R BT.601-7 / BT.709-6 (digital representation); SMPTE RP 2077 (full-range).

    Examples
    --------
    >>> float(full_to_legal(0.0, 10) * 1023)
    64.0
    >>> float(full_to_legal(1.0, 10) * 1023)
    940.0
    """
    n = _check_depth(bit_depth)
    scale = 2 ** (n - 8)
    lo, hi = 16 * scale, 235 * scale
    return (lo + np.asarray(y, dtype=np.float64) * (hi - lo)) / (2**n - 1)


def legal_to_full(y: np.ndarray, bit_depth: int = 10) -> np.ndarray:
    """Legal-range normalised code values -> full range (inverse of :func:`full_to_legal`)."""
    n = _check_depth(bit_depth)
    scale = 2 ** (n - 8)
    lo, hi = 16 * scale, 235 * scale
    return (np.asarray(y, dtype=np.float64) * (2**n - 1) - lo) / (hi - lo)


def to_code_values(y: np.ndarray, bit_depth: int = 10, *, legal: bool = False) -> np.ndarray:
    """Normalised full-range values -> integer code values (rounded, clipped).

    Parameters
    ----------
    y : array_like, float
        Full-range normalised code values.
    bit_depth : int
        8-16.
    legal : bool
        Map to legal (narrow) range first (:func:`full_to_legal`).

    Returns
    -------
    ndarray, uint16

    Examples
    --------
    >>> to_code_values(encode([0.0, 0.18, 0.90], "V-Log"), 10).tolist()
    [128, 433, 602]
    """
    n = _check_depth(bit_depth)
    v = full_to_legal(y, n) if legal else np.asarray(y, dtype=np.float64)
    return np.clip(np.round(v * (2**n - 1)), 0, 2**n - 1).astype(np.uint16)


def from_code_values(cv: np.ndarray, bit_depth: int = 10, *, legal: bool = False) -> np.ndarray:
    """Integer code values -> normalised full-range float64 (inverse of :func:`to_code_values`)."""
    n = _check_depth(bit_depth)
    v = np.asarray(cv, dtype=np.float64) / (2**n - 1)
    return legal_to_full(v, n) if legal else v
