"""Compiled per-pixel kernels for the lensfun family: maps and gains (numba, parallel over rows).

No resampling here: the kernels that sample pixels are in :mod:`l2tech.correct._resample_kernels`.

Internal: the formulas are those of :mod:`l2tech.optics.lensfun` (documented and referenced
there), evaluated in float64 and stored as float32. Compiled on first use and cached on disk by
numba (``cache=True``), so later processes start fast.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["lensfun_maps", "lensfun_maps_tca", "pa_gain", "pa_apply", "pa_split", "warm_up"]

_JIT = dict(parallel=True, cache=True, fastmath=True, nogil=True)


@numba.njit(inline="always")
def _dist_factor(dmodel, d0, d1, d2, r2):  # pragma: no cover - compiled
    if dmodel == 1:  # poly3: 1 - k1 + k1 r^2
        return 1.0 - d0 + d0 * r2
    if dmodel == 2:  # poly5: 1 + k1 r^2 + k2 r^4
        return 1.0 + r2 * (d0 + d1 * r2)
    if dmodel == 3:  # ptlens: a r^3 + b r^2 + c r + 1 - a - b - c
        r = math.sqrt(r2)
        return ((d0 * r + d1) * r + d2) * r + (1.0 - d0 - d1 - d2)
    return 1.0


@numba.njit(**_JIT)
def lensfun_maps(W, H, ns, cxn, cyn, inv_scale, dmodel, d0, d1, d2, out, y0):  # pragma: no cover - compiled
    """Rows y0 .. y0 + H of the map into out[0 .. H]."""
    inv_ns = 1.0 / ns
    for yy in numba.prange(H):
        y = yy + y0
        yn = (y * ns - cyn) * inv_scale
        for x in range(W):
            xn = (x * ns - cxn) * inv_scale
            f = _dist_factor(dmodel, d0, d1, d2, xn * xn + yn * yn)
            out[yy, x, 0] = (xn * f + cxn) * inv_ns
            out[yy, x, 1] = (yn * f + cyn) * inv_ns


@numba.njit(**_JIT)
def lensfun_maps_tca(
    W, H, ns, cxn, cyn, inv_scale, dmodel, d0, d1, d2, tmodel, vr, vb, cr, cb, br, bb, out_r, out_g, out_b, y0
):  # pragma: no cover - compiled
    inv_ns = 1.0 / ns
    for yy in numba.prange(H):
        y = yy + y0
        yn = (y * ns - cyn) * inv_scale
        for x in range(W):
            xn = (x * ns - cxn) * inv_scale
            f = _dist_factor(dmodel, d0, d1, d2, xn * xn + yn * yn)
            xd = xn * f
            yd = yn * f
            out_g[yy, x, 0] = (xd + cxn) * inv_ns
            out_g[yy, x, 1] = (yd + cyn) * inv_ns
            if tmodel == 1:
                fr = vr
                fb = vb
            else:
                r2 = xd * xd + yd * yd
                if cr == 0.0 and cb == 0.0:
                    fr = br * r2 + vr
                    fb = bb * r2 + vb
                else:
                    r = math.sqrt(r2)
                    fr = br * r2 + cr * r + vr
                    fb = bb * r2 + cb * r + vb
            out_r[yy, x, 0] = (xd * fr + cxn) * inv_ns
            out_r[yy, x, 1] = (yd * fr + cyn) * inv_ns
            out_b[yy, x, 0] = (xd * fb + cxn) * inv_ns
            out_b[yy, x, 1] = (yd * fb + cyn) * inv_ns


@numba.njit(**_JIT)
def pa_gain(W, H, ns, cxn, cyn, vs, k1, k2, k3, out):  # pragma: no cover - compiled
    vs2 = vs * vs
    for y in numba.prange(H):
        yn = y * ns - cyn
        for x in range(W):
            xn = x * ns - cxn
            r2 = (xn * xn + yn * yn) * vs2
            g = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
            # a falloff <= 0 (polynomial extrapolated past the calibrated field) gives 0, as
            # lensfun's clamp of the corrected value to >= 0 does
            out[y, x] = 1.0 / g if g > 0.0 else 0.0


@numba.njit(**_JIT)
def pa_apply(img, ns, cxn, cyn, vs, k1, k2, k3, inverse, out):  # pragma: no cover - compiled
    """out = img / falloff (inverse=False: correction) or img * falloff (inverse=True: simulation)."""
    H, W, C = img.shape
    vs2 = vs * vs
    for y in numba.prange(H):
        yn = y * ns - cyn
        for x in range(W):
            xn = x * ns - cxn
            r2 = (xn * xn + yn * yn) * vs2
            g = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
            if not inverse:
                g = 1.0 / g if g > 0.0 else 0.0
            for c in range(C):
                out[y, x, c] = img[y, x, c] * g


@numba.njit(**_JIT)
def pa_split(img, ns, cxn, cyn, vs, k1, k2, k3, use_gain, out):  # pragma: no cover - compiled
    """Planar copy out[c] = img[..., c] / falloff (falloff 1 when use_gain is False)."""
    H, W, C = img.shape
    vs2 = vs * vs
    for y in numba.prange(H):
        yn = y * ns - cyn
        for x in range(W):
            g = 1.0
            if use_gain:
                xn = x * ns - cxn
                r2 = (xn * xn + yn * yn) * vs2
                f = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
                g = 1.0 / f if f > 0.0 else 0.0
            for c in range(C):
                out[c, y, x] = img[y, x, c] * g


def warm_up() -> None:
    """Compile (or load from the cache) every kernel on a tiny frame."""
    o = np.empty((2, 2, 2), np.float32)
    lensfun_maps(2, 2, 1.0, 0.5, 0.5, 1.0, 3, 0.0, 0.0, 0.0, o, 0)
    lensfun_maps_tca(2, 2, 1.0, 0.5, 0.5, 1.0, 3, 0.0, 0.0, 0.0, 2, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, o, o.copy(), o.copy(), 0)
    pa_gain(2, 2, 1.0, 0.5, 0.5, 1.0, 0.0, 0.0, 0.0, np.empty((2, 2), np.float32))
    img = np.zeros((2, 2, 3), np.float32)
    pa_apply(img, 1.0, 0.5, 0.5, 1.0, 0.0, 0.0, 0.0, False, img.copy())
    pa_split(img, 1.0, 0.5, 0.5, 1.0, 0.0, 0.0, 0.0, True, np.empty((3, 2, 2), np.float32))
