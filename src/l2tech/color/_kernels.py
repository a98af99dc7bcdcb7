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
def tetrahedral_at(r, g, b, table, lo, scale):  # pragma: no cover - compiled
    """Tetrahedral interpolation of ``table`` at one RGB value (NaN when any channel is NaN).

    The one copy of the arithmetic: :func:`lut3d_tetrahedral` and the fused develop kernel
    (:mod:`l2tech.correct._develop_kernel`) call it.
    """
    if r != r or g != g or b != b:
        return np.nan, np.nan, np.nan
    n1 = table.shape[0] - 1
    i, x = _coord(r, lo[0], scale[0], n1)
    j, y = _coord(g, lo[1], scale[1], n1)
    k, z = _coord(b, lo[2], scale[2], n1)
    # Branch-free choice of the tetrahedron (random-ordered pixels would mispredict
    # branches): A steps along the largest fraction, B adds the second largest.
    # Weights (1 - max, max - mid, mid - min, min) are those of the six-case formula.
    xa = int((x >= y) & (x >= z))
    ya = int((xa == 0) & (y >= z))
    za = 1 - xa - ya
    zs = int((z <= x) & (z <= y))
    ys = int((zs == 0) & (y <= x))
    xs = 1 - zs - ys
    hi = x * xa + y * ya + z * za
    lo_ = x * xs + y * ys + z * zs
    mid = x + y + z - hi - lo_
    w0 = 1.0 - hi
    wa = hi - mid
    wb = mid - lo_
    o0 = (w0 * table[i, j, k, 0] + wa * table[i + xa, j + ya, k + za, 0]
          + wb * table[i + 1 - xs, j + 1 - ys, k + 1 - zs, 0] + lo_ * table[i + 1, j + 1, k + 1, 0])
    o1 = (w0 * table[i, j, k, 1] + wa * table[i + xa, j + ya, k + za, 1]
          + wb * table[i + 1 - xs, j + 1 - ys, k + 1 - zs, 1] + lo_ * table[i + 1, j + 1, k + 1, 1])
    o2 = (w0 * table[i, j, k, 2] + wa * table[i + xa, j + ya, k + za, 2]
          + wb * table[i + 1 - xs, j + 1 - ys, k + 1 - zs, 2] + lo_ * table[i + 1, j + 1, k + 1, 2])
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
    for p in numba.prange(rgb.shape[0]):
        out[p, 0], out[p, 1], out[p, 2] = tetrahedral_at(rgb[p, 0], rgb[p, 1], rgb[p, 2], table, lo, scale)


@numba.njit(parallel=True, cache=True)
def lut3d_trilinear(rgb, table, lo, scale, out):  # pragma: no cover - compiled
    for p in numba.prange(rgb.shape[0]):
        out[p, 0], out[p, 1], out[p, 2] = trilinear_at(rgb[p, 0], rgb[p, 1], rgb[p, 2], table, lo, scale)
