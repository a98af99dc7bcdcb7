"""Compiled per-pixel kernels for the lensfun family: maps and gains (numba, parallel over rows).

No resampling here: the kernels that sample pixels are in :mod:`l2tech.correct._resample_kernels`.

Internal: the formulas are those of :mod:`l2tech.optics.lensfun` (documented and referenced
there), evaluated in float64 and stored as float32. Compiled on first use and cached on disk by
numba (``cache=True``), so later processes start fast.
"""

from __future__ import annotations

import math

from l2tech.optics._numba import numba
import numpy as np

__all__ = ["lensfun_maps", "lensfun_maps_tca", "pa_gain", "pa_apply", "warm_up"]

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


@numba.njit(inline="always")
def _distorted(x, yn, ns, cxn, inv_scale, dmodel, d0, d1, d2):  # pragma: no cover - compiled
    """Distorted normalised (xd, yd) of output pixel column x on the row whose scaled yn is given."""
    xn = (x * ns - cxn) * inv_scale
    f = _dist_factor(dmodel, d0, d1, d2, xn * xn + yn * yn)
    return xn * f, yn * f


@numba.njit(inline="always")
def _tca_factors(tmodel, vr, vb, cr, cb, br, bb, xd, yd):  # pragma: no cover - compiled
    """Red and blue radius factors at the distorted point (tmodel 1: linear, else poly3)."""
    if tmodel == 1:
        return vr, vb
    r2 = xd * xd + yd * yd
    if cr == 0.0 and cb == 0.0:
        return br * r2 + vr, bb * r2 + vb
    r = math.sqrt(r2)
    return br * r2 + cr * r + vr, bb * r2 + cb * r + vb


@numba.njit(inline="always")
def _pa_falloff(x, yn, ns, cxn, vs2, k1, k2, k3):  # pragma: no cover - compiled
    """pa falloff 1 + k1 r^2 + k2 r^4 + k3 r^6 at column x of the row at normalised yn."""
    xn = x * ns - cxn
    r2 = (xn * xn + yn * yn) * vs2
    return 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))


@numba.njit(inline="always")
def _pa_correction(falloff):  # pragma: no cover - compiled
    # a falloff <= 0 (polynomial extrapolated past the calibrated field) gives 0, as
    # lensfun's clamp of the corrected value to >= 0 does
    return 1.0 / falloff if falloff > 0.0 else 0.0


@numba.njit(**_JIT)
def lensfun_maps(W, H, ns, cxn, cyn, inv_scale, dmodel, d0, d1, d2, out, y0):  # pragma: no cover - compiled
    """Rows y0 .. y0 + H of the map into out[0 .. H]."""
    inv_ns = 1.0 / ns
    for yy in numba.prange(H):
        yn = ((yy + y0) * ns - cyn) * inv_scale
        for x in range(W):
            xd, yd = _distorted(x, yn, ns, cxn, inv_scale, dmodel, d0, d1, d2)
            out[yy, x, 0] = (xd + cxn) * inv_ns
            out[yy, x, 1] = (yd + cyn) * inv_ns


@numba.njit(**_JIT)
def lensfun_maps_tca(
    W, H, ns, cxn, cyn, inv_scale, dmodel, d0, d1, d2, tmodel, vr, vb, cr, cb, br, bb, out_r, out_g, out_b, y0
):  # pragma: no cover - compiled
    inv_ns = 1.0 / ns
    for yy in numba.prange(H):
        yn = ((yy + y0) * ns - cyn) * inv_scale
        for x in range(W):
            xd, yd = _distorted(x, yn, ns, cxn, inv_scale, dmodel, d0, d1, d2)
            fr, fb = _tca_factors(tmodel, vr, vb, cr, cb, br, bb, xd, yd)
            out_g[yy, x, 0] = (xd + cxn) * inv_ns
            out_g[yy, x, 1] = (yd + cyn) * inv_ns
            out_r[yy, x, 0] = (xd * fr + cxn) * inv_ns
            out_r[yy, x, 1] = (yd * fr + cyn) * inv_ns
            out_b[yy, x, 0] = (xd * fb + cxn) * inv_ns
            out_b[yy, x, 1] = (yd * fb + cyn) * inv_ns


@numba.njit(**_JIT)
def pa_gain(W, H, ns, cxn, cyn, vs, k1, k2, k3, out):  # pragma: no cover - compiled
    """Gain field out[y, x] = 1 / falloff."""
    vs2 = vs * vs
    for y in numba.prange(H):
        yn = y * ns - cyn
        for x in range(W):
            out[y, x] = _pa_correction(_pa_falloff(x, yn, ns, cxn, vs2, k1, k2, k3))


@numba.njit(**_JIT)
def pa_apply(img, ns, cxn, cyn, vs, k1, k2, k3, inverse, planar, out):  # pragma: no cover - compiled
    """out = img / falloff (inverse=False: correction) or img * falloff (inverse=True: simulation),
    into out[y, x, c], or into the planar out[c, y, x] when ``planar`` (k1 = k2 = k3 = 0: a plain copy)."""
    H, W, C = img.shape
    vs2 = vs * vs
    for y in numba.prange(H):
        yn = y * ns - cyn
        for x in range(W):
            g = _pa_falloff(x, yn, ns, cxn, vs2, k1, k2, k3)
            if not inverse:
                g = _pa_correction(g)
            for c in range(C):
                if planar:
                    out[c, y, x] = img[y, x, c] * g
                else:
                    out[y, x, c] = img[y, x, c] * g


def warm_up() -> None:
    """Compile (or load from the cache) every kernel on a tiny frame."""
    o = np.empty((2, 2, 2), np.float32)
    lensfun_maps(2, 2, 1.0, 0.5, 0.5, 1.0, 3, 0.0, 0.0, 0.0, o, 0)
    lensfun_maps_tca(2, 2, 1.0, 0.5, 0.5, 1.0, 3, 0.0, 0.0, 0.0, 2, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, o, o.copy(), o.copy(), 0)
    pa_gain(2, 2, 1.0, 0.5, 0.5, 1.0, 0.0, 0.0, 0.0, np.empty((2, 2), np.float32))
    img = np.zeros((2, 2, 3), np.float32)
    pa_apply(img, 1.0, 0.5, 0.5, 1.0, 0.0, 0.0, 0.0, False, False, img.copy())
    pa_apply(img, 1.0, 0.5, 0.5, 1.0, 0.0, 0.0, 0.0, False, True, np.empty((3, 2, 2), np.float32))
