"""Output transform: scene-linear working-space RGB → display-encoded output space.

Signal states: input is scene-linear RGB in the working space (linear ITU-R BT.2020, D65;
:data:`l2tech.raw.decode.WORKING_SPACE`); output is display-encoded RGB in [0, 1] in the
chosen output space, ready to quantise. Out-of-gamut and over-range values are clipped here,
and only here (ARCHITECTURE.md: nothing clips scene-linear data before the output transform).
"""

from __future__ import annotations

import functools

import numpy as np

from l2tech.io.icc import get_output_space

__all__ = ["WORKING_SPACE", "working_to_output_matrix", "output_transform", "output_to_working"]

WORKING_SPACE = "ITU-R BT.2020"


@functools.lru_cache(maxsize=None)
def working_to_output_matrix(output_space: str, working_space: str = WORKING_SPACE) -> np.ndarray:
    """3×3 float32 matrix from linear ``working_space`` RGB to linear output-space RGB.

    Both spaces are D65 here, so no chromatic adaptation is involved; the matrix comes from
    colour-science's ``matrix_RGB_to_RGB`` (``chromatic_adaptation_transform=None``).
    """
    import colour

    dst = colour.RGB_COLOURSPACES[get_output_space(output_space).colour_name]
    src = colour.RGB_COLOURSPACES[working_space]
    m = colour.matrix_RGB_to_RGB(src, dst, chromatic_adaptation_transform="Bradford")
    return np.asarray(m, dtype=np.float32)


def output_transform(image: np.ndarray, output_space: str = "srgb", *, working_space: str = WORKING_SPACE) -> np.ndarray:
    """Working-space linear RGB → display-encoded output RGB.

    Parameters
    ----------
    image : ndarray, shape (..., 3), float32
        Scene-linear RGB in ``working_space``; 1.0 = diffuse white at clipping.
    output_space : str
        ``srgb`` (default), ``display-p3``, ``rec2020`` or ``adobe-rgb``.

    Returns
    -------
    ndarray, shape (..., 3), float32
        Encoded with the space's curve (sRGB: IEC 61966-2-1; Display P3: sRGB curve;
        Rec.2020: BT.2020 OETF; Adobe RGB: γ = 563/256), clipped to [0, 1].
    """
    space = get_output_space(output_space)
    m = working_to_output_matrix(output_space, working_space)
    lin = image.reshape(-1, 3) @ m.T
    np.clip(lin, 0.0, 1.0, out=lin)
    return space.encode(lin).reshape(image.shape).astype(np.float32, copy=False)


def output_to_working(encoded: np.ndarray, output_space: str = "srgb", *, working_space: str = WORKING_SPACE) -> np.ndarray:
    """Inverse of :func:`output_transform` for in-gamut data: encoded output RGB → working linear."""
    space = get_output_space(output_space)
    m = np.linalg.inv(working_to_output_matrix(output_space, working_space).astype(np.float64)).astype(np.float32)
    lin = space.decode(encoded.reshape(-1, 3))
    return (lin @ m.T).reshape(encoded.shape).astype(np.float32, copy=False)


