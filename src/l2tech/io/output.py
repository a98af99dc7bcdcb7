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


#: Samples of each encoding curve on [0, 1] for the fused output kernel (linear interpolation
#: between them is within 2e-6 of the exact curve, below half a 16-bit code).
_CURVE_SAMPLES = 16384


@functools.lru_cache(maxsize=None)
def _encode_table(output_space: str) -> np.ndarray:
    x = np.linspace(0.0, 1.0, _CURVE_SAMPLES + 1, dtype=np.float64)
    return np.asarray(get_output_space(output_space).encode(x.astype(np.float32)), dtype=np.float32)


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
        Rec.2020: BT.2020 OETF; Adobe RGB: γ = 563/256), clipped to [0, 1]; NaN becomes 0.

    Notes
    -----
    One fused pass (numba): matrix, clip, then the curve sampled at 16385 points with linear
    interpolation (within 4e-6 of the exact curve; a pure power curve is computed exactly near
    black, where it is steep).
    """
    m = working_to_output_matrix(output_space, working_space)
    src = np.ascontiguousarray(image, dtype=np.float32).reshape(-1, 3)
    out = np.empty_like(src)
    gamma = get_output_space(output_space).gamma
    _kernel()(src, m, _encode_table(output_space), np.float32(1.0 / gamma if gamma else 0.0), out)
    return out.reshape(image.shape)


def output_to_working(encoded: np.ndarray, output_space: str = "srgb", *, working_space: str = WORKING_SPACE) -> np.ndarray:
    """Inverse of :func:`output_transform` for in-gamut data: encoded output RGB → working linear."""
    space = get_output_space(output_space)
    m = np.linalg.inv(working_to_output_matrix(output_space, working_space).astype(np.float64)).astype(np.float32)
    lin = space.decode(encoded.reshape(-1, 3))
    return (lin @ m.T).reshape(encoded.shape).astype(np.float32, copy=False)


