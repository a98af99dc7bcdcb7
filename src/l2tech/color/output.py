"""Entry and exit of the color pipeline: encoded camera/display signal <-> working scene-linear.

These two functions are what ``l2 develop`` (``--log-output V-Log``) and ``l2 video`` call at
the ends of the pipeline described in ``docs/COLOR.md``; looks run in between
(:func:`l2tech.color.apply_look`).

They take any ``"ENCODING/GAMUT"`` pair and do not clip. Display output written to a file —
clipped, quantisation-ready, with its ICC profile — is :func:`l2tech.color.display.encode_display`;
both use the same curves (:mod:`l2tech.color.transfer`) and, between display gamuts, the same
matrices (:func:`l2tech.color.display.working_to_display_matrix`, through
:func:`l2tech.color.gamut.RGB_to_RGB`), so an sRGB output never imports colour-science.
"""

from __future__ import annotations

import numpy as np

from l2tech.color.bake import parse_color_space
from l2tech.color.gamut import RGB_to_RGB
from l2tech.color.transfer import decode, encode

__all__ = ["encode_output", "decode_input"]


def encode_output(image_linear: np.ndarray, output: str = "sRGB", *, working_space: str = "Rec.709") -> np.ndarray:
    """Scene-linear working RGB -> an output encoding and gamut.

    Parameters
    ----------
    image_linear : ndarray, shape (..., 3), float32
        Scene-linear RGB in ``working_space``.
    output : str
        ``"ENCODING/GAMUT"`` or an encoding alone (its usual gamut): ``"sRGB"``,
        ``"Rec.709"``, ``"V-Log"`` (= V-Log/V-Gamut), ``"L-Log/L-Gamut"``, ``"PQ"`` ...
    working_space : str
        Gamut of ``image_linear``.

    Returns
    -------
    ndarray, same shape, float32
        Encoded full-range values; not clipped (quantisation clips).

    Raises
    ------
    UsageError
        Unknown encoding or gamut.

    Examples
    --------
    >>> import numpy as np
    >>> grey = np.full((1, 1, 3), 0.18, np.float32)
    >>> int(np.round(encode_output(grey, "V-Log")[0, 0, 0] * 1023))
    433
    """
    enc, gamut = parse_color_space(output)
    x = RGB_to_RGB(np.asarray(image_linear, dtype=np.float32), working_space, gamut)
    return encode(x, enc).astype(np.float32, copy=False)


def decode_input(image_encoded: np.ndarray, input: str = "sRGB", *, working_space: str = "Rec.709") -> np.ndarray:
    """An encoded signal (e.g. a V-Log clip's frame, 0-1 full range) -> scene-linear working RGB.

    Inverse of :func:`encode_output`; same parameters (``input`` as ``output`` there).

    Returns
    -------
    ndarray, same shape, float32
    """
    enc, gamut = parse_color_space(input)
    x = decode(np.asarray(image_encoded, dtype=np.float32), enc)
    return RGB_to_RGB(x, gamut, working_space).astype(np.float32, copy=False)
