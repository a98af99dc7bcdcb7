"""Display encoding: the one place where working-space linear RGB becomes display code values.

Stills output (:func:`encode_display`), the video path (the BT.709 curve around the vignetting
gain) and the ICC profiles embedded in output files (:func:`icc_profile`) all come from the
display spaces registered here (:data:`DISPLAY_SPACES`): primaries, white point and encoding
curve. The curves themselves live in :mod:`l2tech.color.transfer` (one curve, one place); the
matrices are computed here from the primaries, in NumPy, so that encoding for display never
imports colour-science (which pulls in matplotlib).

The working space of l2tech is **linear Rec.2020** (ITU-R BT.2020 primaries, D65), named
``"Rec.2020"`` throughout; ``"ITU-R BT.2020"`` and ``"BT.2020"`` are accepted aliases.

Signal states: the input of :func:`encode_display` is scene-linear RGB in the working space
(1.0 = diffuse white at clipping); its output is display-encoded RGB in [0, 1], clipped, ready
to quantise. Out-of-gamut and over-range values are clipped here, and only here.

References
----------
IEC 61966-2-1:1999 (sRGB); SMPTE EG 432-1:2010 (P3 primaries with the D65 white of Display P3;
Apple's Display P3 uses the sRGB curve); ITU-R BT.2020-2 (2015); ITU-R BT.709-6 (2015);
ITU-R BT.1886 (2011); Adobe Systems, "Adobe RGB (1998) Color Image Encoding" (2005-05);
SMPTE RP 177-1993 (normalised primary matrix); ICC.1:2010 Annex E (Bradford adaptation to D50).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

import numpy as np

from l2tech.color._registry import Registry
from l2tech.color.transfer import (
    ADOBE_RGB_GAMMA,
    cctf_decoding_AdobeRGB,
    cctf_encoding_AdobeRGB,
    eotf_inverse_sRGB,
    eotf_sRGB,
    oetf_BT709,
    oetf_BT2020,
    oetf_inverse_BT709,
    oetf_inverse_BT2020,
)
from l2tech.errors import UsageError

__all__ = [
    "WORKING_SPACE",
    "DisplaySpace",
    "DISPLAY_SPACES",
    "BRADFORD",
    "normalised_primary_matrix",
    "matrix_chromatic_adaptation_Bradford",
    "working_to_display_matrix",
    "display_encode_table",
    "encode_display",
    "decode_display",
    "icc_profile",
]

#: The working space of l2tech's pipelines (linear ITU-R BT.2020 primaries, D65).
WORKING_SPACE = "Rec.2020"

ArrayFunc = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class DisplaySpace:
    """A display-referred RGB space: primaries, white point and encoding curve.

    Parameters
    ----------
    name : str
        Canonical name (a key of :data:`DISPLAY_SPACES`).
    primaries : tuple of tuple of float
        CIE 1931 xy chromaticities of the red, green and blue primaries.
    whitepoint : tuple of float
        CIE 1931 xy of the white point.
    encode : callable
        Linear -> encoded, float64 in and out (a function of :mod:`l2tech.color.transfer`).
    decode : callable
        Encoded -> linear, the inverse of ``encode``.
    description : str
        ASCII description written in the space's ICC profile.
    gamma : float, optional
        The exponent when the curve is a pure power (written as such in the ICC profile, and
        evaluated exactly near black by :func:`encode_display`, where it is steep).
    reference : str
        The document that defines the space.
    """

    name: str
    primaries: tuple[tuple[float, float], tuple[float, float], tuple[float, float]]
    whitepoint: tuple[float, float]
    encode: ArrayFunc
    decode: ArrayFunc
    description: str
    gamma: float | None = None
    reference: str = ""


_D65 = (0.3127, 0.3290)  # CIE 1931 xy, as every specification below states it
_BT709_PRIMARIES = ((0.640, 0.330), (0.300, 0.600), (0.150, 0.060))

#: Registry of display spaces, name -> :class:`DisplaySpace` (case-insensitive; spaces,
#: hyphens, dots and underscores ignored, so ``"display-p3"`` finds ``"Display P3"``).
DISPLAY_SPACES: Registry[DisplaySpace] = Registry(
    "display space",
    {
        "sRGB": DisplaySpace(
            "sRGB", _BT709_PRIMARIES, _D65, eotf_inverse_sRGB, eotf_sRGB, "sRGB IEC61966-2.1 (l2tech)",
            reference="IEC 61966-2-1:1999 (BT.709 primaries, D65, sRGB curve)",
        ),
        "Display P3": DisplaySpace(
            "Display P3", ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060)), _D65, eotf_inverse_sRGB, eotf_sRGB,
            "Display P3 (l2tech)", reference="SMPTE EG 432-1:2010 (P3 primaries, D65 white), sRGB curve",
        ),
        "Rec.2020": DisplaySpace(
            "Rec.2020", ((0.708, 0.292), (0.170, 0.797), (0.131, 0.046)), _D65, oetf_BT2020, oetf_inverse_BT2020,
            "ITU-R BT.2020 (l2tech)", reference="ITU-R BT.2020-2, Tables 3-4",
        ),
        "Adobe RGB": DisplaySpace(
            "Adobe RGB", ((0.640, 0.330), (0.210, 0.710), (0.150, 0.060)), _D65, cctf_encoding_AdobeRGB,
            cctf_decoding_AdobeRGB, "Adobe RGB (1998) compatible (l2tech)", gamma=ADOBE_RGB_GAMMA,
            reference="Adobe RGB (1998) Color Image Encoding, 2005-05, §4.3",
        ),
        "Rec.709": DisplaySpace(
            "Rec.709", _BT709_PRIMARIES, _D65, oetf_BT709, oetf_inverse_BT709, "ITU-R BT.709 (l2tech)",
            reference="ITU-R BT.709-6, Part 1, items 1.2 and 1.3-1.4 (a display shows it through BT.1886)",
        ),
    },
    aliases={
        "P3": "Display P3",
        "P3-D65": "Display P3",
        "BT.2020": "Rec.2020",
        "ITU-R BT.2020": "Rec.2020",
        "Adobe": "Adobe RGB",
        "Adobe RGB (1998)": "Adobe RGB",
        "BT.709": "Rec.709",
        "ITU-R BT.709": "Rec.709",
    },
)

#: The Bradford cone-response matrix (CIE XYZ -> sharpened RGB, rows), as ICC.1:2010 Annex E,
#: equation (E.7) prints it (Lam, 1985).
BRADFORD = np.array(
    [
        [0.8951, 0.2664, -0.1614],
        [-0.7502, 1.7135, 0.0367],
        [0.0389, -0.0685, 1.0296],
    ]
)


def _xy_to_XYZ(xy: tuple[float, float]) -> np.ndarray:
    x, y = xy
    return np.array([x / y, 1.0, (1.0 - x - y) / y])


def normalised_primary_matrix(primaries: np.ndarray, whitepoint: np.ndarray) -> np.ndarray:
    """The normalised primary matrix: linear RGB -> CIE XYZ, with the white's Y = 1.

    Parameters
    ----------
    primaries : array_like, shape (3, 2), float
        CIE 1931 xy of the red, green and blue primaries.
    whitepoint : array_like, shape (2,), float
        CIE 1931 xy of the white point.

    Returns
    -------
    ndarray, shape (3, 3), float64
        ``NPM`` with ``XYZ = NPM @ RGB``; ``NPM @ (1, 1, 1)`` is the white point's XYZ.

    Notes
    -----
    ``P`` holds the primaries' ``(x, y, 1 - x - y)`` as columns; the white's XYZ ``W`` is
    ``(x_w / y_w, 1, z_w / y_w)``; ``C = P⁻¹ W`` scales each column: ``NPM = P diag(C)``.

    References
    ----------
    SMPTE RP 177-1993, "Derivation of Basic Television Color Equations", §3.3.
    """
    p = np.asarray(primaries, dtype=np.float64)
    P = np.vstack([p[:, 0], p[:, 1], 1.0 - p[:, 0] - p[:, 1]])
    W = _xy_to_XYZ(tuple(np.asarray(whitepoint, dtype=np.float64)))
    C = np.linalg.solve(P, W)
    return P * C[None, :]


def matrix_chromatic_adaptation_Bradford(XYZ_w: np.ndarray, XYZ_wr: np.ndarray) -> np.ndarray:
    """The Bradford (linearised, von Kries form) chromatic adaptation matrix between two whites.

    Parameters
    ----------
    XYZ_w : array_like, shape (3,), float
        CIE XYZ of the source white (Y = 1).
    XYZ_wr : array_like, shape (3,), float
        CIE XYZ of the destination white (Y = 1), e.g. the ICC D50 PCS illuminant.

    Returns
    -------
    ndarray, shape (3, 3), float64
        ``M`` with ``XYZ_adapted = M @ XYZ``: ``M = B⁻¹ diag(B XYZ_wr / B XYZ_w) B``,
        ``B`` = :data:`BRADFORD`.

    References
    ----------
    ICC.1:2010, Annex E.3 ("Linearized Bradford" chromatic adaptation); K. M. Lam,
    "Metamerism and colour constancy", PhD thesis, University of Bradford (1985).
    """
    lms_w = BRADFORD @ np.asarray(XYZ_w, dtype=np.float64)
    lms_wr = BRADFORD @ np.asarray(XYZ_wr, dtype=np.float64)
    return np.linalg.inv(BRADFORD) @ (np.diag(lms_wr / lms_w) @ BRADFORD)


@functools.lru_cache(maxsize=None)
def _npm(name: str) -> np.ndarray:
    s = DISPLAY_SPACES[name]
    return normalised_primary_matrix(np.array(s.primaries), np.array(s.whitepoint))


@functools.lru_cache(maxsize=None)
def _matrix(space: str, working_space: str) -> np.ndarray:
    dst, src = DISPLAY_SPACES[space], DISPLAY_SPACES[working_space]
    if (dst.primaries, dst.whitepoint) == (src.primaries, src.whitepoint):
        m = np.eye(3)
        m.setflags(write=False)
        return m
    m = _npm(src.name)
    if dst.whitepoint != src.whitepoint:
        m = matrix_chromatic_adaptation_Bradford(_xy_to_XYZ(src.whitepoint), _xy_to_XYZ(dst.whitepoint)) @ m
    m = np.linalg.inv(_npm(dst.name)) @ m
    m.setflags(write=False)
    return m


def working_to_display_matrix(space: str, working_space: str = WORKING_SPACE) -> np.ndarray:
    """The 3×3 matrix from linear ``working_space`` RGB to linear ``space`` RGB.

    Parameters
    ----------
    space : str
        A display space (:data:`DISPLAY_SPACES`, case-insensitive): ``"sRGB"``,
        ``"Display P3"``, ``"Rec.2020"``, ``"Adobe RGB"``, ``"Rec.709"``.
    working_space : str
        The space of the linear input, also a key of :data:`DISPLAY_SPACES`; default
        :data:`WORKING_SPACE` (linear Rec.2020).

    Returns
    -------
    ndarray, shape (3, 3), float64, read-only
        ``rgb_display = M @ rgb_working``.

    Raises
    ------
    UsageError
        Unknown space name (the message lists the valid ones).

    Notes
    -----
    ``M = NPM_space⁻¹ · NPM_working``, both normalised primary matrices computed from the
    primaries (:func:`normalised_primary_matrix`). Every space here has the D65 white, so no
    chromatic adaptation enters; were the whites to differ, a Bradford adaptation would be
    inserted between the two. The published 4-decimal sRGB matrix of IEC 61966-2-1 differs
    from the derived one by up to 4e-5; the derived matrix maps white to white exactly.

    References
    ----------
    SMPTE RP 177-1993 §3.3 and §4 (RGB-to-RGB through XYZ).
    """
    return _matrix(DISPLAY_SPACES.canonical(space), DISPLAY_SPACES.canonical(working_space))


@functools.lru_cache(maxsize=None)
def _table(name: str, n: int) -> np.ndarray:
    x = np.linspace(0.0, 1.0, n + 1, dtype=np.float64)
    t = np.asarray(DISPLAY_SPACES[name].encode(x), dtype=np.float32)
    t.setflags(write=False)
    return t


def display_encode_table(space: str, n: int = 16384) -> np.ndarray:
    """The space's encoding curve sampled on a uniform grid over linear [0, 1], for LUT kernels.

    Parameters
    ----------
    space : str
        A display space (:data:`DISPLAY_SPACES`).
    n : int
        Number of intervals; the table has ``n + 1`` samples, entry ``k`` at linear ``k / n``.

    Returns
    -------
    ndarray, shape (n + 1,), float32, read-only
        Encoded values (evaluated in float64, then rounded to float32).

    Raises
    ------
    UsageError
        Unknown space, or ``n < 1``.

    Notes
    -----
    With the default ``n = 16384``, linear interpolation between samples is within 4e-6 of
    the exact curve on [0, 1] except where a pure power curve (Adobe RGB, see
    :attr:`DisplaySpace.gamma`) is steep near 0: below ``64 / n`` evaluate it exactly, as
    :func:`encode_display` does.
    """
    if int(n) != n or n < 1:
        raise UsageError(f"n must be a positive integer, got {n!r}")
    return _table(DISPLAY_SPACES.canonical(space), int(n))


#: Intervals of the curve tables used by :func:`encode_display`.
_CURVE_SAMPLES = 16384

_KERNEL = None


def _kernel():
    """numba kernel: 3×3 matrix, clip to [0, 1], encoding curve by table — one pass, in parallel."""
    global _KERNEL
    if _KERNEL is None:
        import numba

        @numba.njit(parallel=True, cache=True, nogil=True)
        def fused(src, m, table, inv_gamma, out):  # pragma: no cover - compiled
            n = src.shape[0]
            nt = table.shape[0] - 1
            for i in numba.prange(n):
                r, g, b = src[i, 0], src[i, 1], src[i, 2]
                for c in range(3):
                    v = m[c, 0] * r + m[c, 1] * g + m[c, 2] * b
                    if not (v > 0.0):  # NaN -> 0
                        v = 0.0
                    elif v > 1.0:
                        v = 1.0
                    t = v * nt
                    k = int(t)
                    if inv_gamma > 0.0 and k < 64:  # a pure power curve is steep near 0: exact there
                        out[i, c] = v**inv_gamma
                    elif k >= nt:
                        out[i, c] = table[nt]
                    else:
                        f = t - k
                        out[i, c] = table[k] + (table[k + 1] - table[k]) * f

        _KERNEL = fused
    return _KERNEL


def _check_rgb(image: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim < 1 or arr.shape[-1] != 3:
        raise UsageError(f"{what} must have shape (..., 3) (RGB, channels last); got {arr.shape}")
    return arr


def encode_display(image: np.ndarray, space: str = "sRGB", working_space: str = WORKING_SPACE) -> np.ndarray:
    """Working-space linear RGB → display-encoded RGB in ``space``, clipped, ready to quantise.

    Parameters
    ----------
    image : ndarray, shape (..., 3), float32
        Scene-linear RGB in ``working_space``; 1.0 = diffuse white at clipping.
    space : str
        A display space (:data:`DISPLAY_SPACES`): ``"sRGB"`` (default), ``"Display P3"``,
        ``"Rec.2020"``, ``"Adobe RGB"``, ``"Rec.709"``; case-insensitive, ``"display-p3"``
        and ``"adobe-rgb"`` work too.
    working_space : str
        Space of ``image`` (default :data:`WORKING_SPACE`, linear Rec.2020).

    Returns
    -------
    ndarray, shape (..., 3), float32
        Encoded with the space's curve (sRGB and Display P3: IEC 61966-2-1; Rec.2020: the
        BT.2020 OETF; Adobe RGB: γ = 563/256; Rec.709: the BT.709 OETF), clipped to [0, 1]
        after the matrix; NaN becomes 0. The input is not modified.

    Raises
    ------
    UsageError
        Unknown space, or ``image`` not ``(..., 3)``.

    Notes
    -----
    One fused pass (numba): :func:`working_to_display_matrix` in float32, clip, then the
    curve from :func:`display_encode_table` (16385 samples) with linear interpolation —
    within 4e-6 of the exact curve; a pure power curve is computed exactly near black.
    """
    arr = _check_rgb(image, "image")
    name = DISPLAY_SPACES.canonical(space)
    m = working_to_display_matrix(name, working_space).astype(np.float32)
    src = np.ascontiguousarray(arr, dtype=np.float32).reshape(-1, 3)
    out = np.empty_like(src)
    gamma = DISPLAY_SPACES[name].gamma
    _kernel()(src, m, _table(name, _CURVE_SAMPLES), np.float32(1.0 / gamma if gamma else 0.0), out)
    return out.reshape(arr.shape)


def decode_display(encoded: np.ndarray, space: str = "sRGB", working_space: str = WORKING_SPACE) -> np.ndarray:
    """Display-encoded RGB in ``space`` → working-space linear RGB (inverse of :func:`encode_display`).

    Parameters
    ----------
    encoded : ndarray, shape (..., 3), float
        Encoded values, nominally [0, 1] (e.g. a JPEG's code values / 255).
    space, working_space : str
        As in :func:`encode_display`.

    Returns
    -------
    ndarray, shape (..., 3), float32
        Linear RGB in ``working_space``. Inverts :func:`encode_display` for in-gamut colours;
        nothing is clipped (display colours outside the working gamut come out negative).

    Raises
    ------
    UsageError
        Unknown space, or ``encoded`` not ``(..., 3)``.
    """
    arr = _check_rgb(encoded, "encoded")
    name = DISPLAY_SPACES.canonical(space)
    m = np.linalg.inv(working_to_display_matrix(name, working_space))
    flat = arr.reshape(-1, 3)
    out = np.empty(flat.shape, np.float32)
    decode = DISPLAY_SPACES[name].decode
    # in strips: the curve's float64 temporaries then cost ~150 bytes per pixel of one strip,
    # not of the whole image (docs/RELIABILITY.md, memory model); values are per pixel, so
    # the result is the same as in one piece
    for k in range(0, flat.shape[0], _DECODE_STRIP_PIXELS):
        part = flat[k : k + _DECODE_STRIP_PIXELS]
        out[k : k + part.shape[0]] = decode(part) @ m.T
    return out.reshape(arr.shape)


#: Pixels per strip of :func:`decode_display` (bounds its temporaries to ~40 MB).
_DECODE_STRIP_PIXELS = 1 << 18


#: Entries of the sampled ICC tone curves (``curv`` tags).
_ICC_CURVE_ENTRIES = 1024


@functools.lru_cache(maxsize=None)
def _icc(name: str) -> bytes:
    from l2tech.io.icc import D50_ICC, matrix_trc_profile

    s = DISPLAY_SPACES[name]
    adapt = matrix_chromatic_adaptation_Bradford(_xy_to_XYZ(s.whitepoint), D50_ICC)
    colorants = adapt @ _npm(name)
    if s.gamma is not None:
        trc: float | np.ndarray = s.gamma
    else:
        trc = np.clip(s.decode(np.linspace(0.0, 1.0, _ICC_CURVE_ENTRIES)), 0.0, 1.0)
    return matrix_trc_profile(s.description, colorants, trc)


def icc_profile(space: str) -> bytes:
    """ICC v2.1 display profile bytes for a display space (to embed in output files).

    Parameters
    ----------
    space : str
        A display space (:data:`DISPLAY_SPACES`).

    Returns
    -------
    bytes
        A matrix/TRC RGB display profile (class ``mntr``, PCS XYZ, D50): colorants are the
        normalised primary matrix adapted from the space's white to D50 by Bradford; the tone
        curve is the space's decoding sampled at 1024 points (uint16), or a pure power for
        Adobe RGB. The same bytes every call.

    Raises
    ------
    UsageError
        Unknown space.

    References
    ----------
    ICC.1:2001-04 §6 (layout, :func:`l2tech.io.icc.matrix_trc_profile`); ICC.1:2010 Annex E
    (Bradford adaptation to the D50 PCS).
    """
    return _icc(DISPLAY_SPACES.canonical(space))
