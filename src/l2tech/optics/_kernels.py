"""Compiled per-pixel kernels for the lensfun family (numba, parallel over rows).

Internal: the formulas are those of :mod:`l2tech.optics.lensfun` (documented and referenced
there), evaluated in float64 and stored as float32. Compiled on first use and cached on disk by
numba (``cache=True``), so later processes start fast.
"""

from __future__ import annotations

import math

import numba
import numpy as np

__all__ = ["lensfun_maps", "lensfun_maps_tca", "pa_gain", "pa_apply", "pa_split", "lensfun_remap_bilinear", "warm_up"]

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
    for tm in (0, 2):
        lensfun_remap_bilinear(img, img.copy(), 1.0, 0.5, 0.5, 1.0, 3, 0.0, 0.0, 0.0, tm, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, True)


@numba.njit(inline="always")
def _tap(src, sy, sx, c, H, W, replicate):  # pragma: no cover - compiled
    if replicate:
        if sx < 0:
            sx = 0
        elif sx > W - 1:
            sx = W - 1
        if sy < 0:
            sy = 0
        elif sy > H - 1:
            sy = H - 1
        return src[sy, sx, c]
    if sx < 0 or sx > W - 1 or sy < 0 or sy > H - 1:
        return np.float32(0.0)
    return src[sy, sx, c]


@numba.njit(inline="always")
def _bilinear_cv(src, xs, ys, c, H, W, replicate):  # pragma: no cover - compiled
    """Bilinear sample of one channel at the float32 point (xs, ys), as cv2.remap(INTER_LINEAR)
    does with float32 maps in OpenCV >= 5 (exact fractional weights; taps outside the frame
    clamped, or 0 for a constant border)."""
    fx = math.floor(xs)
    fy = math.floor(ys)
    sx = int(fx)
    sy = int(fy)
    ax = np.float32(xs - fx)
    ay = np.float32(ys - fy)
    bx = np.float32(1.0) - ax
    by = np.float32(1.0) - ay
    if sx >= 0 and sx < W - 1 and sy >= 0 and sy < H - 1:
        v0 = src[sy, sx, c]
        v1 = src[sy, sx + 1, c]
        v2 = src[sy + 1, sx, c]
        v3 = src[sy + 1, sx + 1, c]
    else:
        v0 = _tap(src, sy, sx, c, H, W, replicate)
        v1 = _tap(src, sy, sx + 1, c, H, W, replicate)
        v2 = _tap(src, sy + 1, sx, c, H, W, replicate)
        v3 = _tap(src, sy + 1, sx + 1, c, H, W, replicate)
    return (v0 * bx + v1 * ax) * by + (v2 * bx + v3 * ax) * ay


@numba.njit(**_JIT)
def lensfun_remap_bilinear(
    src, out, ns, cxn, cyn, inv_scale, dmodel, d0, d1, d2, tmodel, vr, vb, cr, cb, br, bb, replicate
):  # pragma: no cover - compiled
    """Map + bilinear resampling fused: out[y, x, c] = src(map_c(x, y)), maps never stored.

    Same numbers as building the float32 maps and calling cv2.remap(INTER_LINEAR)."""
    H, W, C = src.shape
    inv_ns = 1.0 / ns
    for y in numba.prange(H):
        yn = (y * ns - cyn) * inv_scale
        for x in range(W):
            xn = (x * ns - cxn) * inv_scale
            f = _dist_factor(dmodel, d0, d1, d2, xn * xn + yn * yn)
            xd = xn * f
            yd = yn * f
            if tmodel == 0:
                xs = np.float32((xd + cxn) * inv_ns)
                ys = np.float32((yd + cyn) * inv_ns)
                for c in range(C):
                    out[y, x, c] = _bilinear_cv(src, xs, ys, c, H, W, replicate)
            else:
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
                xs = np.float32((xd * fr + cxn) * inv_ns)
                ys = np.float32((yd * fr + cyn) * inv_ns)
                out[y, x, 0] = _bilinear_cv(src, xs, ys, 0, H, W, replicate)
                xs = np.float32((xd + cxn) * inv_ns)
                ys = np.float32((yd + cyn) * inv_ns)
                out[y, x, 1] = _bilinear_cv(src, xs, ys, 1, H, W, replicate)
                xs = np.float32((xd * fb + cxn) * inv_ns)
                ys = np.float32((yd * fb + cyn) * inv_ns)
                out[y, x, 2] = _bilinear_cv(src, xs, ys, 2, H, W, replicate)
