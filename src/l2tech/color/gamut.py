"""RGB gamuts (primaries + white point) and RGB-to-RGB conversion with chromatic adaptation.

Gamuts come from colour-science's ``RGB_COLOURSPACES`` except L-Gamut, which colour-science
does not define (see :data:`L_GAMUT_PRIMARIES`). All conversions here act on *linear* RGB;
decode an encoding first (:func:`l2tech.color.decode`).

References
----------
colour-science 0.4.7, ``colour/models/rgb/datasets/`` (each dataset cites its source:
Panasonic V-Log/V-Gamut 2014, Sony S-Gamut3 technical summary, ARRI AWG3/AWG4, ITU-R BT.709-6,
BT.2020-2, SMPTE EG 432-1 (P3-D65), SMPTE ST 2065-1 (ACES AP0), S-2014-004 (ACEScg AP1)),
and ``colour/adaptation/`` for CAT02 / Bradford.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from l2tech.color._colour import colour_module, quiet
from l2tech.color._registry import Registry

__all__ = [
    "GAMUTS",
    "L_GAMUT_PRIMARIES",
    "L_GAMUT_WHITEPOINT",
    "gamut_colourspace",
    "matrix_RGB_to_RGB",
    "RGB_to_RGB",
    "matrix_RGB_to_XYZ",
]

#: L-Gamut primaries, CIE 1931 xy (R, G, B). Leica's "L-Log Reference Manual" (v1.4, 2023,
#: §4 "Colorimetric Characteristics", §4.1 "Colorimetric Conversions") defines L-Log footage's
#: color space by the ITU-R BT.2020 -> XYZ matrix
#: [[0.6370, 0.1446, 0.1689], [0.2627, 0.6780, 0.0593], [0.0000, 0.0281, 1.0610]], i.e. the
#: BT.2020 primaries with a D65 white; these are those primaries (ITU-R BT.2020-2, Table 3).
#: The test suite checks our derived RGB->XYZ matrix against the manual's matrix (4 decimals).
#: Note: the Leica SL (Typ 601), firmware 3.8+, records L-Log with Rec.709 primaries instead;
#: use gamut "Rec.709" for that body. Leica does not publish a gamut named "L-Gamut" apart
#: from this statement; we use the name for the SL2/SL2-S/Q3 L-Log recording space.
L_GAMUT_PRIMARIES = np.array([[0.708, 0.292], [0.170, 0.797], [0.131, 0.046]])
#: L-Gamut white point (D65, CIE 1931 xy).
L_GAMUT_WHITEPOINT = np.array([0.3127, 0.3290])

# our name -> colour-science RGB_COLOURSPACES key (None = built here)
_NAMES: dict[str, str | None] = {
    "Rec.709": "ITU-R BT.709",
    "Rec.2020": "ITU-R BT.2020",
    "P3-D65": "P3-D65",
    "V-Gamut": "V-Gamut",
    "L-Gamut": None,
    "S-Gamut3": "S-Gamut3",
    "S-Gamut3.Cine": "S-Gamut3.Cine",
    "ARRI Wide Gamut 3": "ARRI Wide Gamut 3",
    "ARRI Wide Gamut 4": "ARRI Wide Gamut 4",
    "ACES AP0": "ACES2065-1",
    "ACES AP1": "ACEScg",
    "Cinema Gamut": "Cinema Gamut",
    "F-Gamut": "F-Gamut",
    "REDWideGamutRGB": "REDWideGamutRGB",
    "DaVinci Wide Gamut": "DaVinci Wide Gamut",
}

#: Registry of gamut names (case-insensitive) -> colour-science colourspace key (or None for
#: gamuts built here). Use :func:`gamut_colourspace` to get the colourspace object.
GAMUTS: Registry[str | None] = Registry(
    "gamut",
    _NAMES,
    aliases={
        "sRGB": "Rec.709",
        "BT.709": "Rec.709",
        "Rec709": "Rec.709",
        "ITU-R BT.709": "Rec.709",
        "BT.2020": "Rec.2020",
        "ITU-R BT.2020": "Rec.2020",
        "Display P3": "P3-D65",
        "AWG3": "ARRI Wide Gamut 3",
        "AWG4": "ARRI Wide Gamut 4",
        "AP0": "ACES AP0",
        "ACES2065-1": "ACES AP0",
        "AP1": "ACES AP1",
        "ACEScg": "ACES AP1",
        "RWG": "REDWideGamutRGB",
        "N-Gamut": "Rec.2020",
    },
)


@lru_cache(maxsize=None)
def gamut_colourspace(name: str):  # -> colour.RGB_Colourspace
    """The colour-science ``RGB_Colourspace`` of a gamut name (case-insensitive).

    Raises
    ------
    UsageError
        Unknown name; the message lists the valid ones.
    """
    canonical = GAMUTS.canonical(name)
    colour = colour_module()
    key = _NAMES[canonical]
    if key is not None:
        return colour.RGB_COLOURSPACES[key]
    with quiet():
        return colour.RGB_Colourspace(
            "L-Gamut",
            L_GAMUT_PRIMARIES,
            L_GAMUT_WHITEPOINT,
            "D65",
            use_derived_matrix_RGB_to_XYZ=True,
            use_derived_matrix_XYZ_to_RGB=True,
        )


def matrix_RGB_to_XYZ(gamut: str) -> np.ndarray:
    """The normalised primary matrix (linear RGB -> CIE XYZ, Y of white = 1), shape (3, 3), float64."""
    return np.array(gamut_colourspace(gamut).matrix_RGB_to_XYZ, dtype=np.float64)


#: Gamuts that are also display spaces (:data:`l2tech.color.display.DISPLAY_SPACES`), all D65:
#: their matrices come from the primaries there, without importing colour-science.
_DISPLAY_GAMUTS = {"Rec.709": "Rec.709", "Rec.2020": "Rec.2020", "P3-D65": "Display P3"}


@lru_cache(maxsize=None)
def _matrix(input_gamut: str, output_gamut: str, cat: str | None) -> np.ndarray:
    if input_gamut in _DISPLAY_GAMUTS and output_gamut in _DISPLAY_GAMUTS:
        # Same D65 white on both sides: no chromatic adaptation, whatever ``cat`` says.
        from l2tech.color.display import working_to_display_matrix

        return working_to_display_matrix(_DISPLAY_GAMUTS[output_gamut], _DISPLAY_GAMUTS[input_gamut])
    colour = colour_module()
    with quiet():
        m = colour.matrix_RGB_to_RGB(gamut_colourspace(input_gamut), gamut_colourspace(output_gamut), cat)
    m = np.array(m, dtype=np.float64)
    m.setflags(write=False)
    return m


def matrix_RGB_to_RGB(
    input_gamut: str, output_gamut: str, chromatic_adaptation_transform: str | None = "CAT02"
) -> np.ndarray:
    """The 3x3 matrix converting linear RGB in ``input_gamut`` to linear RGB in ``output_gamut``.

    Parameters
    ----------
    input_gamut, output_gamut : str
        Keys of :data:`GAMUTS` (case-insensitive).
    chromatic_adaptation_transform : str or None
        colour-science CAT name (``"CAT02"``, ``"Bradford"``, ...) applied when the white
        points differ (e.g. ACES' ~D60 vs D65); ``None`` for none.

    Returns
    -------
    ndarray, shape (3, 3), float64, read-only

    Raises
    ------
    UsageError
        Unknown gamut name.

    Notes
    -----
    Between Rec.709, Rec.2020 and P3-D65 (all D65) the matrix is
    :func:`l2tech.color.display.working_to_display_matrix`, computed from the primaries without
    importing colour-science; colour-science's ``matrix_RGB_to_RGB`` gives the same matrix to
    1e-15 (tests/test_display.py). Other pairs go through colour-science.

    References
    ----------
    colour-science ``colour.matrix_RGB_to_RGB``; SMPTE RP 177-1993.
    """
    return _matrix(GAMUTS.canonical(input_gamut), GAMUTS.canonical(output_gamut), chromatic_adaptation_transform)


def RGB_to_RGB(
    rgb: np.ndarray,
    input_gamut: str,
    output_gamut: str,
    chromatic_adaptation_transform: str | None = "CAT02",
) -> np.ndarray:
    """Convert linear RGB between gamuts.

    Parameters
    ----------
    rgb : ndarray, shape (..., 3), float32 or float64
        Linear RGB in ``input_gamut``. Out-of-gamut and negative values are kept.
    input_gamut, output_gamut : str
        Keys of :data:`GAMUTS`.
    chromatic_adaptation_transform : str or None
        See :func:`matrix_RGB_to_RGB`.

    Returns
    -------
    ndarray, shape (..., 3)
        Same dtype as ``rgb`` when float32, else float64; a new array.

    Raises
    ------
    UsageError
        Unknown gamut name.
    """
    m = matrix_RGB_to_RGB(input_gamut, output_gamut, chromatic_adaptation_transform)
    arr = np.asarray(rgb)
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    if np.allclose(m, np.eye(3), atol=0, rtol=0):
        return arr.astype(dtype, copy=True)
    return np.matmul(arr.astype(dtype, copy=False), m.T.astype(dtype))
