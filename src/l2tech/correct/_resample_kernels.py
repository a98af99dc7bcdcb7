"""Compiled sampling kernels (numba, parallel over rows), called only from
:mod:`l2tech.correct.resample`.

Internal. ``lensfun_remap_bilinear`` evaluates the lensfun map of
:mod:`l2tech.optics._kernels` and samples the image in the same pass, with the numbers of OpenCV
remap (INTER_LINEAR) on float32 maps. Compiled on first use and cached on disk by numba
(``cache=True``). numba's cache does not follow the inlined ``_distorted`` / ``_tca_factors`` (and
``_dist_factor`` within) into their own file: after changing them, clear ``__pycache__`` of this package too.

References
----------
OpenCV ``modules/imgproc/src/imgwarp.cpp`` (``remap``, bilinear taps and border handling).
"""

from __future__ import annotations

import math

from l2tech.optics._numba import numba
import numpy as np

from l2tech.optics._kernels import _JIT, _distorted, _tca_factors

__all__ = ["lensfun_remap_bilinear", "warm_up"]


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
    """Bilinear sample of one channel at the float32 point (xs, ys), as OpenCV remap (INTER_LINEAR)
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

    Same numbers as building the float32 maps and calling OpenCV remap (INTER_LINEAR)."""
    H, W, C = src.shape
    inv_ns = 1.0 / ns
    for y in numba.prange(H):
        yn = (y * ns - cyn) * inv_scale
        for x in range(W):
            xd, yd = _distorted(x, yn, ns, cxn, inv_scale, dmodel, d0, d1, d2)
            if tmodel == 0:
                xs = np.float32((xd + cxn) * inv_ns)
                ys = np.float32((yd + cyn) * inv_ns)
                for c in range(C):
                    out[y, x, c] = _bilinear_cv(src, xs, ys, c, H, W, replicate)
            else:
                fr, fb = _tca_factors(tmodel, vr, vb, cr, cb, br, bb, xd, yd)
                xs = np.float32((xd * fr + cxn) * inv_ns)
                ys = np.float32((yd * fr + cyn) * inv_ns)
                out[y, x, 0] = _bilinear_cv(src, xs, ys, 0, H, W, replicate)
                xs = np.float32((xd + cxn) * inv_ns)
                ys = np.float32((yd + cyn) * inv_ns)
                out[y, x, 1] = _bilinear_cv(src, xs, ys, 1, H, W, replicate)
                xs = np.float32((xd * fb + cxn) * inv_ns)
                ys = np.float32((yd * fb + cyn) * inv_ns)
                out[y, x, 2] = _bilinear_cv(src, xs, ys, 2, H, W, replicate)


def warm_up() -> None:
    """Compile (or load from the cache) the sampling kernels on a tiny frame."""
    img = np.zeros((2, 2, 3), np.float32)
    for tm in (0, 2):
        lensfun_remap_bilinear(img, img.copy(), 1.0, 0.5, 0.5, 1.0, 3, 0.0, 0.0, 0.0, tm, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, True)
