"""The fused develop kernel (numba, parallel over rows): camera RGB or video code values to
encoded output.

Internal to :mod:`l2tech.correct.fused`, which documents the stages and their sources. Compiled
on first use and cached on disk by numba (``cache=True``), so later processes only load it.

Optional stages are switched by passing ``None`` (numba prunes the branch at compile time, so
the stills path without an input table or a 3D LUT runs the same code as before they existed).
The 3D LUT arithmetic is :mod:`l2tech.color._kernels`' (one copy).
"""

from __future__ import annotations

import math
import os
from contextlib import contextmanager
from typing import Iterator

from l2tech.optics._numba import numba
import numpy as np

from l2tech.color._kernels import tetrahedral_at, trilinear_at

__all__ = ["develop_pass", "opt_level", "OPT_LEVEL"]

#: LLVM optimisation level this kernel is compiled at (numba's default is 3). Measured on the
#: 24 MP pass with TCA and vignetting (x86_64, 2 cores): at level 1 a pass takes 31 % less CPU
#: time (0.79 s against 1.14 s) and a variant compiles in about a third of the time; outputs
#: equal level 3's except 1 code on 6e-7 of the pixels (float reassociation). A ``NUMBA_OPT``
#: set in the environment wins.
OPT_LEVEL = 1


@contextmanager
def opt_level() -> Iterator[None]:
    """Compile (on first use) at :data:`OPT_LEVEL`: wrap every call of :func:`develop_pass`.

    numba reads ``numba.core.config.OPT`` when it compiles; it is set for the duration of the
    call and restored after, so other numba code in the process keeps its own level.
    """
    if "NUMBA_OPT" in os.environ:
        yield
        return
    from numba.core import config

    old = config.OPT
    config.OPT = type(old)(OPT_LEVEL)
    try:
        yield
    finally:
        config.OPT = old


@numba.njit(inline="always")
def _tap(src, y, x, c, H, W, replicate):  # pragma: no cover - compiled
    """Channel c of pixel (y, x) as float32; clamped to the frame, or 0 outside it."""
    if x < 0 or x > W - 1 or y < 0 or y > H - 1:
        if not replicate:
            return np.float32(0.0)
        x = min(max(x, 0), W - 1)
        y = min(max(y, 0), H - 1)
    return np.float32(src[y, x, c])


@numba.njit(inline="always")
def _tap_dec(src, dec, y, x, c, H, W, replicate):  # pragma: no cover - compiled
    """As :func:`_tap`, the code value read through the input table ``dec`` (0 outside)."""
    if x < 0 or x > W - 1 or y < 0 or y > H - 1:
        if not replicate:
            return np.float32(0.0)
        x = min(max(x, 0), W - 1)
        y = min(max(y, 0), H - 1)
    return dec[src[y, x, c]]


@numba.njit(inline="always")
def _sample(src, sx, sy, c, H, W, replicate):  # pragma: no cover - compiled
    """Bilinear sample of channel c at (sx, sy) (exact fractional weights)."""
    x0f = np.floor(sx)
    y0f = np.floor(sy)
    ax = sx - x0f
    ay = sy - y0f
    x0 = int(x0f)
    y0 = int(y0f)
    if x0 >= 0 and x0 < W - 1 and y0 >= 0 and y0 < H - 1:
        a = np.float32(src[y0, x0, c])
        b = np.float32(src[y0, x0 + 1, c])
        d = np.float32(src[y0 + 1, x0, c])
        e = np.float32(src[y0 + 1, x0 + 1, c])
    else:
        a = _tap(src, y0, x0, c, H, W, replicate)
        b = _tap(src, y0, x0 + 1, c, H, W, replicate)
        d = _tap(src, y0 + 1, x0, c, H, W, replicate)
        e = _tap(src, y0 + 1, x0 + 1, c, H, W, replicate)
    top = a + (b - a) * ax
    bot = d + (e - d) * ax
    return top + (bot - top) * ay


@numba.njit(inline="always")
def _sample_dec(src, dec, sx, sy, c, H, W, replicate, nearest):  # pragma: no cover - compiled
    """Bilinear (or nearest) sample of channel c at (sx, sy) of the values decoded by ``dec``:
    the interpolation runs on the table's (linear) values, not on the code values."""
    if nearest:  # half to even, as OpenCV's INTER_NEAREST on float maps (cvRound)
        return _tap_dec(src, dec, int(np.rint(sy)), int(np.rint(sx)), c, H, W, replicate)
    x0f = math.floor(sx)
    y0f = math.floor(sy)
    ax = np.float32(sx - x0f)
    ay = np.float32(sy - y0f)
    x0 = int(x0f)
    y0 = int(y0f)
    if x0 >= 0 and x0 < W - 1 and y0 >= 0 and y0 < H - 1:
        a = dec[src[y0, x0, c]]
        b = dec[src[y0, x0 + 1, c]]
        d = dec[src[y0 + 1, x0, c]]
        e = dec[src[y0 + 1, x0 + 1, c]]
    else:
        a = _tap_dec(src, dec, y0, x0, c, H, W, replicate)
        b = _tap_dec(src, dec, y0, x0 + 1, c, H, W, replicate)
        d = _tap_dec(src, dec, y0 + 1, x0, c, H, W, replicate)
        e = _tap_dec(src, dec, y0 + 1, x0 + 1, c, H, W, replicate)
    top = a + (b - a) * ax
    bot = d + (e - d) * ax
    return top + (bot - top) * ay


@numba.njit(inline="always")
def _clip01(v):  # pragma: no cover - compiled
    if not (v > 0.0):  # NaN -> 0
        return np.float32(0.0)
    if v > 1.0:
        return np.float32(1.0)
    return v


@numba.njit(inline="always")
def _curve(v, table, nt, inv_gamma):  # pragma: no cover - compiled
    """Encoded value of a clipped linear ``v`` from the curve table (linear interpolation;
    exact near black for a pure power curve)."""
    t = v * nt
    k = int(t)
    if inv_gamma > 0.0 and k < 64:  # a pure power curve is steep near 0: exact there
        return np.float32(v**inv_gamma)
    if k >= nt:
        return table[nt]
    return table[k] + (table[k + 1] - table[k]) * np.float32(t - k)


@numba.njit(inline="always")
def _encode(v, table, nt, inv_gamma, lut, nl):  # pragma: no cover - compiled
    """Clip to [0, 1]; then the code value from the integer LUT (nl > 0), or the encoded value
    from the curve table."""
    v = _clip01(v)
    if nl > 0:
        return np.float32(lut[int(v * nl + np.float32(0.5))])
    return _curve(v, table, nt, inv_gamma)


@numba.njit(inline="always")
def _gain(falloff):  # pragma: no cover - compiled
    """Correction gain from the interpolated falloff (0 where the falloff is not positive)."""
    if falloff > 0.0:
        return np.float32(1.0) / falloff
    return np.float32(0.0)


@numba.njit(inline="always")
def _at(row, c, ix, fx, gx1, xf, yf):  # pragma: no cover - compiled
    """Source position and vignetting gain of channel ``c`` at an output pixel: the row's grid
    values (``row[c, j] = (dx, dy, falloff)``) interpolated between nodes ``ix`` and ``ix + 1``."""
    sx = xf + (row[c, ix, 0] * gx1 + row[c, ix + 1, 0] * fx)
    sy = yf + (row[c, ix, 1] * gx1 + row[c, ix + 1, 1] * fx)
    return sx, sy, _gain(row[c, ix, 2] * gx1 + row[c, ix + 1, 2] * fx)


@numba.njit(parallel=True, cache=True, fastmath=True, nogil=True)
def develop_pass(src, dec, grid, step, m, table, inv_gamma, lut, qmax, replicate, per_channel, nearest,
                 lut3, lut_lo, lut_scale, tetrahedral, out):  # pragma: no cover - compiled
    """One pass over the output: coordinates and gain from the coarse grid, bilinear sampling of
    each source channel at its own position (through the input table ``dec`` unless None),
    vignetting gain, one 3x3 matrix, clip, encoding (integer LUT, or curve table), the 3D LUT
    ``lut3`` on the encoded values unless None, then ``qmax`` scaling (``qmax`` 0: float)."""
    H, W, _ = src.shape
    Ho, Wo, _ = out.shape
    gw = grid.shape[2]
    nt = table.shape[0] - 1
    nl = lut.shape[0] - 1
    inv_step = np.float32(1.0 / step)
    qmax = np.float32(qmax)
    half = np.float32(0.5) if qmax > 0 else np.float32(0.0)
    inv_gamma = np.float32(inv_gamma)
    nch = 3 if per_channel else 1
    if lut3 is not None:
        lut3_flat = lut3.reshape(-1)  # C-contiguous (fused._lut3d_arrays)
        lut3_n = lut3.shape[0]
    for y in numba.prange(Ho):
        gyf = y * inv_step
        iy = min(int(gyf), grid.shape[1] - 2)
        fy = np.float32(gyf - iy)
        row = np.empty((nch, gw, 3), np.float32)
        for c in range(nch):
            for j in range(gw):
                for k in range(3):
                    row[c, j, k] = grid[c, iy, j, k] * (np.float32(1.0) - fy) + grid[c, iy + 1, j, k] * fy
        yf = np.float32(y)
        for x in range(Wo):
            xf = np.float32(x)
            gxf = xf * inv_step
            ix = min(int(gxf), gw - 2)
            fx = gxf - np.float32(ix)
            gx1 = np.float32(1.0) - fx
            sx, sy, g = _at(row, 0, ix, fx, gx1, xf, yf)
            if dec is None:
                s0 = _sample(src, sx, sy, 0, H, W, replicate) * g
            else:
                s0 = _sample_dec(src, dec, sx, sy, 0, H, W, replicate, nearest) * g
            if per_channel:  # TCA: each channel at its own position
                sx, sy, g = _at(row, 1, ix, fx, gx1, xf, yf)
                if dec is None:
                    s1 = _sample(src, sx, sy, 1, H, W, replicate) * g
                else:
                    s1 = _sample_dec(src, dec, sx, sy, 1, H, W, replicate, nearest) * g
                sx, sy, g = _at(row, 2, ix, fx, gx1, xf, yf)
                s2 = _sample(src, sx, sy, 2, H, W, replicate) * g if dec is None else \
                    _sample_dec(src, dec, sx, sy, 2, H, W, replicate, nearest) * g
            elif dec is None:
                s1 = _sample(src, sx, sy, 1, H, W, replicate) * g
                s2 = _sample(src, sx, sy, 2, H, W, replicate) * g
            else:
                s1 = _sample_dec(src, dec, sx, sy, 1, H, W, replicate, nearest) * g
                s2 = _sample_dec(src, dec, sx, sy, 2, H, W, replicate, nearest) * g
            if lut3 is None:
                for c in range(3):
                    v = _encode(m[c, 0] * s0 + m[c, 1] * s1 + m[c, 2] * s2, table, nt, inv_gamma, lut, nl)
                    if nl > 0:
                        out[y, x, c] = v
                    else:
                        out[y, x, c] = v * qmax + half if qmax > 0 else v
            else:
                e0 = _curve(_clip01(m[0, 0] * s0 + m[0, 1] * s1 + m[0, 2] * s2), table, nt, inv_gamma)
                e1 = _curve(_clip01(m[1, 0] * s0 + m[1, 1] * s1 + m[1, 2] * s2), table, nt, inv_gamma)
                e2 = _curve(_clip01(m[2, 0] * s0 + m[2, 1] * s1 + m[2, 2] * s2), table, nt, inv_gamma)
                if tetrahedral:
                    o0, o1, o2 = tetrahedral_at(e0, e1, e2, lut3_flat, lut3_n, lut_lo, lut_scale)
                else:
                    o0, o1, o2 = trilinear_at(e0, e1, e2, lut3, lut_lo, lut_scale)
                if qmax > 0:
                    out[y, x, 0] = _clip01(np.float32(o0)) * qmax + half
                    out[y, x, 1] = _clip01(np.float32(o1)) * qmax + half
                    out[y, x, 2] = _clip01(np.float32(o2)) * qmax + half
                else:
                    out[y, x, 0] = o0
                    out[y, x, 1] = o1
                    out[y, x, 2] = o2
