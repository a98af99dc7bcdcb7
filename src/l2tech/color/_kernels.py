"""numba kernels for 3D LUT interpolation on flat ``(M, 3)`` arrays (parallel over pixels).

The arithmetic follows colour-science's ``table_interpolation_trilinear`` /
``table_interpolation_tetrahedral`` (colour/algebra/interpolation.py): the input is
normalised by the domain, clipped to [0, 1], scaled to table indices; the table is indexed
``[r, g, b]``. Tetrahedral interpolation follows Kasson, Nin, Plouffe and Hafner, "Performing
color space conversions with three-dimensional linear interpolation", J. Electronic Imaging
4(3), 1995. A pixel with any NaN channel gives NaN.
"""

from __future__ import annotations

from l2tech.optics._numba import numba
import numpy as np

__all__ = ["lut3d_tetrahedral", "lut3d_trilinear", "tetrahedral_at", "trilinear_at"]


@numba.njit(cache=True, inline="always")
def _coord(v: float, lo: float, scale: float, n1: int):
    s = (v - lo) * scale
    if s < 0.0:
        s = 0.0
    elif s > 1.0:
        s = 1.0
    s *= n1
    i = int(s)
    if i > n1 - 1:
        i = n1 - 1
    return i, s - i


@numba.njit(cache=True, inline="always")
def tetrahedral_at(r, g, b, flat, n, lo, scale):  # pragma: no cover - compiled
    """Tetrahedral interpolation of a 3D LUT at one RGB value (NaN when any channel is NaN).

    ``flat`` is the C-contiguous ``(n, n, n, 3)`` table raveled (``table.reshape(-1)``, made
    once by the caller), indexed ``[r, g, b, channel]``. The arithmetic runs in the precision
    of the input and of ``lo``/``scale`` (float32 in the fused develop pass, float64 for
    float64 input). The tetrahedron is the one of the six that holds the fractions' order
    (Kasson et al. 1995); its weights are ``1 - max, max - mid, mid - min, min``.

    The one copy of the arithmetic: :func:`lut3d_tetrahedral` and the fused develop kernel
    (:mod:`l2tech.correct._develop_kernel`) call it.
    """
    if r != r or g != g or b != b:
        return np.nan, np.nan, np.nan
    n1 = n - 1
    fn1 = np.float32(n1)
    s0 = min(max((r - lo[0]) * scale[0], np.float32(0.0)), np.float32(1.0)) * fn1
    s1 = min(max((g - lo[1]) * scale[1], np.float32(0.0)), np.float32(1.0)) * fn1
    s2 = min(max((b - lo[2]) * scale[2], np.float32(0.0)), np.float32(1.0)) * fn1
    i = min(int(s0), n1 - 1)
    j = min(int(s1), n1 - 1)
    k = min(int(s2), n1 - 1)
    x = s0 - np.float32(i)
    y = s1 - np.float32(j)
    z = s2 - np.float32(k)
    one = np.float32(1.0)
    si = n * n * 3  # flat strides of the r, g, b axes
    sj = n * 3
    sk = 3
    if x >= y:
        if y >= z:  # x >= y >= z
            a, c, w0, wa, wb, w3 = si, si + sj, one - x, x - y, y - z, z
        elif x >= z:  # x >= z > y
            a, c, w0, wa, wb, w3 = si, si + sk, one - x, x - z, z - y, y
        else:  # z > x >= y
            a, c, w0, wa, wb, w3 = sk, si + sk, one - z, z - x, x - y, y
    else:
        if z >= y:  # z >= y > x
            a, c, w0, wa, wb, w3 = sk, sj + sk, one - z, z - y, y - x, x
        elif z >= x:  # y > z >= x
            a, c, w0, wa, wb, w3 = sj, sj + sk, one - y, y - z, z - x, x
        else:  # y > x > z
            a, c, w0, wa, wb, w3 = sj, si + sj, one - y, y - x, x - z, z
    p0 = i * si + j * sj + k * sk
    pa = p0 + a
    pc = p0 + c
    p1 = p0 + si + sj + sk
    o0 = w0 * flat[p0] + wa * flat[pa] + wb * flat[pc] + w3 * flat[p1]
    o1 = w0 * flat[p0 + 1] + wa * flat[pa + 1] + wb * flat[pc + 1] + w3 * flat[p1 + 1]
    o2 = w0 * flat[p0 + 2] + wa * flat[pa + 2] + wb * flat[pc + 2] + w3 * flat[p1 + 2]
    return o0, o1, o2


@numba.njit(cache=True, inline="always")
def _trilinear_c(table, i, j, k, x, y, z, c):  # pragma: no cover - compiled
    c00 = table[i, j, k, c] * (1 - x) + table[i + 1, j, k, c] * x
    c01 = table[i, j, k + 1, c] * (1 - x) + table[i + 1, j, k + 1, c] * x
    c10 = table[i, j + 1, k, c] * (1 - x) + table[i + 1, j + 1, k, c] * x
    c11 = table[i, j + 1, k + 1, c] * (1 - x) + table[i + 1, j + 1, k + 1, c] * x
    c0 = c00 * (1 - y) + c10 * y
    c1 = c01 * (1 - y) + c11 * y
    return c0 * (1 - z) + c1 * z


@numba.njit(cache=True, inline="always")
def trilinear_at(r, g, b, table, lo, scale):  # pragma: no cover - compiled
    """Trilinear interpolation of ``table`` at one RGB value (NaN when any channel is NaN)."""
    if r != r or g != g or b != b:
        return np.nan, np.nan, np.nan
    n1 = table.shape[0] - 1
    i, x = _coord(r, lo[0], scale[0], n1)
    j, y = _coord(g, lo[1], scale[1], n1)
    k, z = _coord(b, lo[2], scale[2], n1)
    return (_trilinear_c(table, i, j, k, x, y, z, 0), _trilinear_c(table, i, j, k, x, y, z, 1),
            _trilinear_c(table, i, j, k, x, y, z, 2))


@numba.njit(parallel=True, cache=True)
def lut3d_tetrahedral(rgb, table, lo, scale, out):  # pragma: no cover - compiled
    flat = table.reshape(-1)  # table: C-contiguous
    n = table.shape[0]
    for p in numba.prange(rgb.shape[0]):
        out[p, 0], out[p, 1], out[p, 2] = tetrahedral_at(rgb[p, 0], rgb[p, 1], rgb[p, 2], flat, n, lo, scale)


@numba.njit(parallel=True, cache=True)
def lut3d_trilinear(rgb, table, lo, scale, out):  # pragma: no cover - compiled
    for p in numba.prange(rgb.shape[0]):
        out[p, 0], out[p, 1], out[p, 2] = trilinear_at(rgb[p, 0], rgb[p, 1], rgb[p, 2], table, lo, scale)
