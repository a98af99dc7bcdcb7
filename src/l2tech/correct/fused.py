"""The fused develop pass: 16-bit camera RGB to the encoded output image in one pass.

Stages, per output pixel and in the pipeline's order (ARCHITECTURE.md "one fused pass"):

1. camera matrix — white-balanced camera RGB (LibRaw's 16-bit linear output, ``1.0 = 65535``)
   to the working space (linear ITU-R BT.2020), exposure folded in;
2. vignetting gain — evaluated at the source position the channel is read from (the gain is a
   property of the source pixel, as in :func:`l2tech.correct.correct`);
3. TCA + distortion (+ projection, scale) sampling — bilinear, per output channel at its own
   source position, from a coarse grid of the exact inverse map (:class:`GridMap`);
4. output matrix — working space to the output space (linear);
5. clip to [0, 1] and the output space's encoding curve (table, exact near black for a pure
   power curve);
6. quantisation to 8 or 16 bits (or float32 encoded values).

No full-frame float32 intermediate is made; the map for a lens setting is a grid of
``(H/step) × (W/step)`` nodes.

Accuracy: the grid holds the exact map (the registry's warp, the same as
:func:`l2tech.correct.correction_maps`) at its nodes; between nodes it is bilinear. The grid
step is halved until the largest deviation from the exact map at the cell centres (where
bilinear interpolation errs most for a smooth map; the two outer rings of cells, where radial
models err most, and every third cell row and column inside) is below ``tol_px`` (default
0.005 px) and the falloff's below ``tol_gain``; :attr:`GridMap.max_error_px` records the figure.
tests/test_develop_fused.py checks the grid at every pixel.
"""

from __future__ import annotations

import dataclasses
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from l2tech.errors import InvalidProfileError, UsageError

__all__ = ["GridMap", "grid_map", "grid_from_maps", "grid_from_function", "sample_map", "identity_grid_map",
           "frame_grid_map", "develop_pass", "warm_up", "warm_up_video"]


@dataclass(frozen=True)
class GridMap:
    """A coarse inverse map with the vignetting gain, per output channel.

    Attributes
    ----------
    grid : ndarray, shape (3, gh, gw, 3) or (1, gh, gw, 3), float32
        For channel R, G, B (one entry: all channels) and node ``(i, j)`` at output pixel ``(x, y) = (j·step, i·step)``:
        ``(dx, dy, falloff)`` — the source position is ``(x + dx, y + dy)`` (pixels, origin at
        the top-left pixel's centre), ``falloff`` the vignetting falloff there (1 when off); the
        kernel divides by it (a falloff ≤ 0, a polynomial extrapolated past its field, gives 0,
        as lensfun's clamp does). The falloff polynomial is far smoother than its reciprocal,
        so it is the one interpolated between nodes.
    step : int
        Node spacing in pixels.
    width, height : int
        Output frame size (the source's too, unless ``src_size`` says otherwise).
    scale : float
        The zoom used (1 when there is no geometry).
    replicate : bool
        Sources beyond the frame read the edge (auto-scale) or 0 (a zoom-out's empty border).
    max_error_px : float
        Largest distance between the grid's bilinear map and the exact map, measured at the
        cell centres (0 for an identity map).
    per_channel : bool
        The channels have their own positions or falloff (TCA): computed from ``grid``.
    src_size : tuple of int, optional
        ``(width, height)`` of the source frame when it differs from the output's (a video
        scaled to another size).
    """

    grid: np.ndarray
    step: int
    width: int
    height: int
    scale: float
    replicate: bool
    max_error_px: float
    src_size: tuple[int, int] | None = None
    per_channel: bool = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        # decided once per map (per clip, per lens setting), not on every frame
        g = self.grid
        object.__setattr__(self, "per_channel", g.shape[0] == 3 and bool(np.any(g[0] != g[1]) or np.any(g[0] != g[2])))

    @property
    def source_size(self) -> tuple[int, int]:
        """``(width, height)`` of the frames the map reads."""
        return self.src_size if self.src_size is not None else (self.width, self.height)


def _nodes(n: int, step: int) -> np.ndarray:
    """Node positions 0, step, ... covering 0 .. n - 1 (at least two nodes)."""
    count = max(2, -(-(n - 1) // step) + 1)
    return np.arange(count, dtype=np.float64) * step


def identity_grid_map(width: int, height: int, step: int = 64) -> GridMap:
    """A grid that moves nothing and applies no gain (lens correction off)."""
    gx, gy = _nodes(width, step), _nodes(height, step)
    grid = np.zeros((3, gy.size, gx.size, 3), np.float32)
    grid[..., 2] = 1.0
    return GridMap(grid, step, int(width), int(height), 1.0, True, 0.0)


def _checked(n: int) -> np.ndarray:
    """Indices of the cell rows (or columns) whose centres the accuracy check visits."""
    idx = set(range(0, n, 3)) | {0, 1, n - 2, n - 1}
    return np.array(sorted(i for i in idx if 0 <= i < n), dtype=np.int64)


def _bilinear_nodes(grid: np.ndarray, step: int, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of ``grid`` (gh, gw, k) at pixel positions (x, y), as the kernel does."""
    gxf, gyf = x / step, y / step
    ix = np.minimum(gxf.astype(np.int64), grid.shape[1] - 2)
    iy = np.minimum(gyf.astype(np.int64), grid.shape[0] - 2)
    fx = (gxf - ix)[..., None]
    fy = (gyf - iy)[..., None]
    g = grid.astype(np.float64)
    top = g[iy, ix] * (1 - fx) + g[iy, ix + 1] * fx
    bot = g[iy + 1, ix] * (1 - fx) + g[iy + 1, ix + 1] * fx
    return top * (1 - fy) + bot * fy


def _sample_field(field: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear sample of a (H, W) field at source points, edges clamped (gains of other families)."""
    H, W = field.shape
    x = np.clip(x, 0, W - 1)
    y = np.clip(y, 0, H - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), W - 2) if W > 1 else np.zeros(x.shape, np.int64)
    y0 = np.minimum(np.floor(y).astype(np.int64), H - 2) if H > 1 else np.zeros(y.shape, np.int64)
    ax, ay = x - x0, y - y0
    x1, y1 = np.minimum(x0 + 1, W - 1), np.minimum(y0 + 1, H - 1)
    f = np.asarray(field, dtype=np.float64)  # no copy of a float64 field (a full-frame copy per call before)
    return (f[y0, x0] * (1 - ax) + f[y0, x1] * ax) * (1 - ay) + (f[y1, x0] * (1 - ax) + f[y1, x1] * ax) * ay


def _falloff_at(cal: Any, width: int, height: int, crop: float, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Vignetting falloff (1 / correction gain) at source pixel positions (any family)."""
    from l2tech.correct.maps import lensfun_normalization, vignetting_gain

    v = cal.vignetting
    if v.model != "pa":
        gain = vignetting_gain(cal, width, height, crop_factor=crop).astype(np.float64)
        with np.errstate(divide="ignore"):
            return _sample_field(np.where(gain > 0, 1.0 / np.where(gain > 0, gain, 1.0), 0.0), xs, ys)
    # lensfun 0.3.x libs/lensfun/mod-color.cpp (ModifyColor_DeVignetting_PA), as in
    # l2tech.optics._kernels.pa_gain: r = 1 at the calibration sensor's corner
    norm = lensfun_normalization(cal, width, height, crop_factor=crop)
    cxn, cyn = norm.center_normalized
    xn = xs * norm.norm_scale - cxn
    yn = ys * norm.norm_scale - cyn
    r2 = (xn * xn + yn * yn) * norm.vignetting_scale**2
    t = v.terms
    from l2tech.optics.lensfun import vignetting_pa_held

    # held at the calibrated radius r = 1 when the frame reaches beyond it, scaled by the
    # strength (as l2tech.correct.maps.pa_held_gain)
    from l2tech.correct.maps import pa_frame_beyond

    return vignetting_pa_held(r2, float(t["k1"]), float(t["k2"]), float(t["k3"]), strength=float(t.get("strength", 1.0)),
                              hold=pa_frame_beyond(cal, width, height, crop))


def grid_map(calibration: Any, width: int, height: int, *, crop_factor: float | None = None, vignetting: bool = True,
             tca: bool = True, distortion: bool = True, scale: float | None = None, projection: str | None = None,
             step: int = 16, tol_px: float = 0.005, tol_gain: float = 2e-5, frame: Any = None) -> GridMap:
    """The correction of one lens setting as a coarse grid for :func:`develop_pass`.

    Parameters
    ----------
    calibration, width, height, crop_factor, tca, distortion, scale
        As for :func:`l2tech.correct.correction_maps` (an interpolated calibration, the frame in
        pixels, the body's crop factor, the switches, the zoom; default auto-scale).
    vignetting : bool
        Put the vignetting falloff in the grid (else 1).
    projection : str, optional
        Projection of the corrected image, composed into the same map.
    step : int
        First node spacing tried, pixels; halved (down to 1) until the grid is within
        ``tol_px`` of the exact map.
    tol_px : float
        Largest allowed deviation of the interpolated map from the exact one, pixels.
    tol_gain : float
        Largest allowed relative deviation of the interpolated vignetting falloff.
    frame : FrameTransform, optional
        Keystone, straighten and crop (:class:`l2tech.optics.perspective.FrameTransform`),
        composed in front of the lens map: an output pixel goes through the frame's
        homography to the lens-corrected image, then through the lens map to the source. The
        output then has the frame's size.

    Returns
    -------
    GridMap

    Raises
    ------
    UsageError
        Bad size, crop factor or scale.
    InvalidProfileError
        The distortion folds the image inside the frame, or the profile does not fit it.

    Notes
    -----
    Auto-scale, border and fold rules are those of :func:`l2tech.correct.correct`; the map at
    the nodes is the registry's warp (:func:`l2tech.correct.maps.correction_warp`). The last
    few grids are cached on the calibration's numbers, the frame and the switches: treat
    ``GridMap.grid`` as read-only.
    """
    from l2tech.correct.maps import _cache_key, _check_crop, _num_key

    if scale is not None and not (isinstance(scale, (int, float, np.floating)) and math.isfinite(scale) and scale > 0):
        raise UsageError(f"scale must be a positive number, got {scale!r}")
    W, H = int(width), int(height)
    crop = _check_crop(calibration, crop_factor)
    key = (_cache_key(calibration, W, H, crop, distortion, tca, scale),
           _num_key(calibration.vignetting) if vignetting else None, projection, calibration.focal_length_mm,
           getattr(calibration.profile, "lens_type", None), int(step), float(tol_px), float(tol_gain),
           frame.key() if frame is not None else None)
    hit = _GRIDS.get(key)
    if hit is not None:
        _GRIDS.move_to_end(key)
        return hit
    result = _grid_map(calibration, W, H, crop, vignetting, tca, distortion, scale, projection, step, tol_px, tol_gain,
                       frame)
    _GRIDS[key] = result
    while len(_GRIDS) > _GRID_CACHE_SIZE:
        _GRIDS.popitem(last=False)
    return result


#: Grid maps of recent lens settings (a batch of one lens setting builds its grid once).
_GRIDS: OrderedDict = OrderedDict()
_GRID_CACHE_SIZE = 4


def _grid_map(calibration: Any, W: int, H: int, crop: float, vignetting: bool, tca: bool, distortion: bool,
              scale: float | None, projection: str | None, step: int, tol_px: float, tol_gain: float,
              frame: Any = None) -> GridMap:
    from l2tech.correct.frame_fit import edge_border, frame_fit
    from l2tech.correct.maps import correction_warp
    from l2tech.optics import compose

    vig = vignetting and calibration.vignetting is not None
    geometry = ((distortion and calibration.distortion is not None) or (tca and calibration.tca is not None)
                or scale not in (None, 1.0) or projection is not None)
    if not geometry and not vig:
        return identity_grid_map(W, H) if frame is None else frame_grid_map(frame, W, H, step=step, tol_px=tol_px)
    used, replicate, fn, per_channel = 1.0, True, None, False
    if geometry:
        warp = correction_warp(calibration, W, H, crop_factor=crop, distortion=distortion, tca=tca, projection=projection)
        if warp.fold_check is not None and projection is None:
            warp.fold_check(1.0)  # name the fold radius rather than an auto-scale failure
        used, auto = frame_fit(warp, scale)
        if warp.fold_check is not None:
            warp.fold_check(used)
        replicate = projection is None and edge_border(used, auto) == "replicate"
        fn = compose._scaled(warp, used, warp.apply)
        per_channel = warp.per_channel

    Wo, Ho = (frame.width, frame.height) if frame is not None else (W, H)

    def exact(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Source positions (..., 3) per channel at output positions."""
        if frame is not None:
            x, y = frame.apply(x, y)
        if fn is None:
            return np.repeat(x[..., None], 3, -1), np.repeat(y[..., None], 3, -1)
        sx, sy = fn(x, y)
        if not per_channel:
            sx, sy = np.repeat(sx[..., None], 3, -1), np.repeat(sy[..., None], 3, -1)
        return sx, sy

    step = max(1, int(step))
    while True:
        gx, gy = np.meshgrid(_nodes(Wo, step), _nodes(Ho, step))
        sx, sy = exact(gx, gy)
        grid = np.empty((3,) + gx.shape + (3,), np.float32)
        for c in range(3):
            grid[c, ..., 0] = sx[..., c] - gx
            grid[c, ..., 1] = sy[..., c] - gy
            grid[c, ..., 2] = _falloff_at(calibration, W, H, crop, sx[..., c], sy[..., c]) if vig else 1.0
        if (fn is None and not vig and frame is None) or step == 1:
            err = 0.0
            break
        # cell centres inside the frame, where a bilinear grid of a smooth map errs most: the two
        # outer rings of cells (radial models err most at the frame's edges and corners) and
        # every 3rd cell row and column inside
        cx = np.minimum(gx[:-1, :-1] + step / 2, Wo - 1)
        cy = np.minimum(gy[:-1, :-1] + step / 2, Ho - 1)
        rows = _checked(cx.shape[0])
        cols = _checked(cx.shape[1])
        cx, cy = cx[np.ix_(rows, cols)], cy[np.ix_(rows, cols)]
        ex, ey = exact(cx, cy)
        err = fall_err = 0.0
        for c in range(3):
            got = _bilinear_nodes(grid[c], step, cx, cy)
            d = np.hypot(cx + got[..., 0] - ex[..., c], cy + got[..., 1] - ey[..., c])
            err = max(err, float(np.nanmax(d)))
            if vig:
                f = _falloff_at(calibration, W, H, crop, ex[..., c], ey[..., c])
                ok = f > 0.05  # where the gain is finite and meaningful (≤ 20x)
                if ok.any():
                    fall_err = max(fall_err, float(np.max(np.abs(got[..., 2][ok] - f[ok]) / f[ok])))
        if err <= tol_px and fall_err <= tol_gain:
            break
        step //= 2
    if not np.all(np.isfinite(grid)):
        raise InvalidProfileError(f"{calibration.profile.name}: the correction map is not finite over this "
                                  f"{W}x{H} frame (the profile does not fit it)")
    return GridMap(grid, step, Wo, Ho, float(used), bool(replicate), float(err), (W, H) if frame is not None else None)


def frame_grid_map(frame: Any, width: int, height: int, *, step: int = 16, tol_px: float = 0.005) -> GridMap:
    """A :class:`GridMap` of a frame transform alone (keystone/straighten/crop, no lens correction).

    Parameters
    ----------
    frame : FrameTransform
        :func:`l2tech.optics.perspective.frame_transform` of a ``width × height`` image.
    width, height : int
        Source frame size, pixels.
    step, tol_px
        As :func:`grid_map`: the node spacing is halved until the bilinear grid is within
        ``tol_px`` of the homography at the cell centres.

    Returns
    -------
    GridMap
        Output of the frame's size; no vignetting gain.
    """
    step = max(1, int(step))
    while True:
        gx, gy = np.meshgrid(_nodes(frame.width, step), _nodes(frame.height, step))
        sx, sy = frame.apply(gx, gy)
        grid = np.empty((1,) + gx.shape + (3,), np.float32)
        grid[0, ..., 0], grid[0, ..., 1], grid[0, ..., 2] = sx - gx, sy - gy, 1.0
        if step == 1:
            err = 0.0
            break
        cx = np.minimum(gx[:-1, :-1] + step / 2, frame.width - 1)
        cy = np.minimum(gy[:-1, :-1] + step / 2, frame.height - 1)
        ex, ey = frame.apply(cx, cy)
        got = _bilinear_nodes(grid[0], step, cx, cy)
        err = float(np.max(np.hypot(cx + got[..., 0] - ex, cy + got[..., 1] - ey)))
        if err <= tol_px:
            break
        step //= 2
    return GridMap(grid, step, int(frame.width), int(frame.height), 1.0, True, err, (int(width), int(height)))


def _dense_at(field: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear sample of a dense (H, W, k) field at pixel positions, extended linearly beyond
    its last row and column (the grid's last nodes may lie past the frame's last pixel)."""
    H, W = field.shape[:2]
    ix = np.clip(np.floor(x).astype(np.int64), 0, max(W - 2, 0))
    iy = np.clip(np.floor(y).astype(np.int64), 0, max(H - 2, 0))
    fx = (x - ix)[..., None] if W > 1 else np.zeros(x.shape + (1,))
    fy = (y - iy)[..., None] if H > 1 else np.zeros(y.shape + (1,))
    ix1, iy1 = np.minimum(ix + 1, W - 1), np.minimum(iy + 1, H - 1)

    def node(iy_: np.ndarray, ix_: np.ndarray) -> np.ndarray:
        # gathered, then widened: the same values as widening the whole field first, without a
        # float64 copy of it (100 MB for a 1080p per-channel map, made on every call before)
        return field[iy_, ix_].astype(np.float64, copy=False)

    top = node(iy, ix) * (1 - fx) + node(iy, ix1) * fx
    bot = node(iy1, ix) * (1 - fx) + node(iy1, ix1) * fx
    return top * (1 - fy) + bot * fy


#: Points evaluated at once by :func:`grid_from_maps` (its temporaries are ~100 B a point and
#: channel; a full-resolution grid evaluated whole held ~700 MB for a 1080p clip with TCA).
_BAND_POINTS = 1 << 18


def _in_bands(fn: Any, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``fn(x, y)`` evaluated over bands of rows of 2-D ``x``, ``y`` (elementwise: the same result)."""
    if x.ndim != 2 or x.size <= _BAND_POINTS:
        return fn(x, y)
    rows = max(1, _BAND_POINTS // max(x.shape[1], 1))
    first = fn(x[:rows], y[:rows])
    out = np.empty(x.shape + first.shape[2:], first.dtype)
    out[:rows] = first
    for r in range(rows, x.shape[0], rows):
        out[r:r + rows] = fn(x[r:r + rows], y[r:r + rows])
    return out


def grid_from_maps(
    in_size: tuple[int, int],
    map_xy: np.ndarray | None = None,
    gain: np.ndarray | None = None,
    *,
    border: str = "constant",
    step: int = 16,
    tol_px: float = 0.005,
    tol_gain: float = 2e-5,
) -> GridMap:
    """A :class:`GridMap` from a dense inverse map and a dense vignetting gain (video clips).

    Parameters
    ----------
    in_size : tuple of int
        ``(width, height)`` of the source frames.
    map_xy : ndarray, shape (H, W, 2) or (H, W, 3, 2), float32, optional
        Inverse map: source ``(x, y)`` per output pixel (origin at the top-left pixel's centre),
        one per channel (R, G, B) when 4-D; its ``(W, H)`` is the output size. NaN marks output
        pixels with no source (they become black). ``None``: the identity.
    gain : ndarray, shape (H_in, W_in) or (H_in, W_in, 3), optional
        Vignetting correction gain on the *source* grid (linear values are multiplied by it).
    border : {"constant", "replicate"}
        Sources beyond the frame read 0 or the nearest edge pixel.
    step, tol_px, tol_gain
        As :func:`grid_map`: the node spacing is halved until the grid's bilinear map is within
        ``tol_px`` of ``map_xy`` and its falloff within ``tol_gain`` (relative) of ``1 / gain``
        at the cell centres. A map with NaN is kept at every pixel (step 1, exact).

    Returns
    -------
    GridMap
        ``grid`` has one entry (all channels) unless ``map_xy`` or ``gain`` differ per channel.

    Raises
    ------
    UsageError
        A map or gain of the wrong shape or dtype, an unknown border.
    """
    w_in, h_in = int(in_size[0]), int(in_size[1])
    if border not in ("constant", "replicate"):
        raise UsageError(f"unknown border {border!r}; valid: constant, replicate")
    if map_xy is not None:
        m = np.asarray(map_xy)
        if m.dtype != np.float32 or m.ndim not in (3, 4) or m.shape[-1] != 2 or (m.ndim == 4 and m.shape[2] != 3):
            raise UsageError(f"map_xy must be float32 (H, W, 2) or (H, W, 3, 2); got {m.dtype} {m.shape}")
        m = m.reshape(m.shape[:2] + (-1, 2))
    else:
        yy, xx = np.mgrid[0:h_in, 0:w_in].astype(np.float32)
        m = np.stack([xx, yy], -1)[:, :, None, :]
    h_out, w_out = m.shape[:2]
    falloff = None
    if gain is not None:
        gn = np.asarray(gain, np.float64)
        if gn.ndim not in (2, 3) or gn.shape[:2] != (h_in, w_in) or (gn.ndim == 3 and gn.shape[2] not in (1, 3)):
            raise UsageError(f"gain must have shape ({h_in}, {w_in}[, 3]); got {gn.shape}")
        gn = gn.reshape(h_in, w_in, -1)
        with np.errstate(divide="ignore", invalid="ignore"):
            falloff = np.where(gn > 0, 1.0 / np.where(gn > 0, gn, 1.0), -1.0)
    nch = max(m.shape[2], 1 if falloff is None else falloff.shape[2])
    invalid = ~np.all(np.isfinite(m), axis=(2, 3))
    dense = bool(invalid.any())
    m = np.where(invalid[..., None, None], np.float32(-1e5), m)  # read nothing; the falloff < 0 blacks it

    def at(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """(..., nch, 3): dx, dy, falloff at output positions."""
        src = _dense_at(m.reshape(h_out, w_out, -1), x, y).reshape(x.shape + (m.shape[2], 2))
        src = np.broadcast_to(src, x.shape + (nch, 2))
        res = np.empty(x.shape + (nch, 3))
        res[..., 0] = src[..., 0] - x[..., None]
        res[..., 1] = src[..., 1] - y[..., None]
        res[..., 2] = 1.0
        if falloff is not None:
            for c in range(nch):
                f = _sample_field(falloff[..., min(c, falloff.shape[2] - 1)], src[..., c, 0], src[..., c, 1])
                res[..., c, 2] = f
        return res

    step = 1 if dense else max(1, int(step))
    while True:
        gx, gy = np.meshgrid(_nodes(w_out, step), _nodes(h_out, step))
        if step == 1:  # the map itself at every pixel (nodes past the last pixel: extended)
            vals = _in_bands(at, gx, gy)
            if dense:
                bad = np.zeros(gx.shape, bool)
                bad[: h_out, : w_out] = invalid
                vals[bad, :, 2] = -1.0
            err = 0.0
            break
        vals = _in_bands(at, gx, gy)
        cx = np.minimum(gx[:-1, :-1] + step // 2, w_out - 1)
        cy = np.minimum(gy[:-1, :-1] + step // 2, h_out - 1)
        want = _in_bands(at, cx, cy)
        err = fall_err = 0.0
        for c in range(nch):
            got = _bilinear_nodes(vals[:, :, c, :], step, cx, cy)
            err = max(err, float(np.max(np.hypot(got[..., 0] - want[..., c, 0], got[..., 1] - want[..., c, 1]))))
            if falloff is not None:
                f = want[..., c, 2]
                ok = f > 0.05
                if ok.any():
                    fall_err = max(fall_err, float(np.max(np.abs(got[..., 2][ok] - f[ok]) / f[ok])))
        if err <= tol_px and fall_err <= tol_gain:
            break
        step //= 2
    grid = np.ascontiguousarray(np.moveaxis(vals, 2, 0), dtype=np.float32)
    if nch == 3 and np.array_equal(grid[0], grid[1]) and np.array_equal(grid[0], grid[2]):
        grid = grid[:1].copy()
    return GridMap(grid, step, w_out, h_out, 1.0, border == "replicate", float(err), (w_in, h_in))


def sample_map(map_xy: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Bilinear sample of a dense inverse map at fractional output positions.

    Parameters
    ----------
    map_xy : ndarray, shape (H, W, 2) or (H, W, 3, 2), float32
        Inverse map (source ``(x, y)`` per output pixel, as :func:`grid_from_maps` takes it);
        NaN where there is no image.
    x, y : ndarray, same shape ``S``, float64
        Positions in the map's output grid, pixels (origin at the top-left pixel's centre);
        positions beyond the last pixel are clamped to the edge.

    Returns
    -------
    ndarray, shape ``S + (C, 2)``, float64
        Source positions, ``C`` = 1 or 3 channels; NaN where a neighbouring node is NaN.

    Notes
    -----
    Only the four neighbours of each position are read and converted to float64 (the dense
    map is not copied), so the call costs ``O(len(x))`` however large the map.
    """
    m = np.asarray(map_xy)
    m = m.reshape(m.shape[:2] + (-1, 2))
    H, W = m.shape[:2]
    xc = np.clip(np.asarray(x, np.float64), 0.0, W - 1)
    yc = np.clip(np.asarray(y, np.float64), 0.0, H - 1)
    ix = np.minimum(np.floor(xc).astype(np.int64), max(W - 2, 0))
    iy = np.minimum(np.floor(yc).astype(np.int64), max(H - 2, 0))
    ix1, iy1 = np.minimum(ix + 1, W - 1), np.minimum(iy + 1, H - 1)
    fx = (xc - ix)[..., None, None]
    fy = (yc - iy)[..., None, None]
    top = m[iy, ix].astype(np.float64) * (1 - fx) + m[iy, ix1].astype(np.float64) * fx
    bot = m[iy1, ix].astype(np.float64) * (1 - fx) + m[iy1, ix1].astype(np.float64) * fx
    return top * (1 - fy) + bot * fy


def _extend_past_edge(vals: np.ndarray, gx: np.ndarray, gy: np.ndarray, w_out: int, h_out: int, at: Any) -> None:
    """Nodes past the frame's last pixel column or row that have no image (a point just outside
    the frame can fall off the source) get the values at the frame's edge, extrapolated linearly
    (one pixel's difference per pixel past the edge), in place; without this their "no image"
    marker blackens the edge pixels interpolated from them. Edge points with no image keep it."""
    dx = np.maximum(gx - (w_out - 1.0), 0.0)
    dy = np.maximum(gy - (h_out - 1.0), 0.0)
    fix = ((dx > 0) | (dy > 0)) & np.any(vals[..., 2] <= 0, axis=-1)
    if not fix.any():
        return
    ex, ey, px, py = (np.minimum(gx[fix], w_out - 1.0), np.minimum(gy[fix], h_out - 1.0), dx[fix], dy[fix])
    e0 = at(ex, ey)
    ddx = e0 - at(ex - (px > 0), ey)  # one pixel's change along x (0 where the node is not past x)
    ddy = e0 - at(ex, ey - (py > 0))
    ext = e0 + ddx * px[:, None, None] + ddy * py[:, None, None]
    ok = np.all(e0[..., 2] > 0, axis=-1)
    vals[fix] = np.where(ok[:, None, None], ext, vals[fix])


def grid_from_function(
    in_size: tuple[int, int],
    out_size: tuple[int, int],
    source_at: Any,
    *,
    falloff: np.ndarray | None = None,
    border: str = "constant",
    step: int = 16,
    tol_px: float = 0.01,
    min_step: int = 2,
) -> GridMap:
    """A :class:`GridMap` of an inverse map given as a function (a map composed per frame).

    Parameters
    ----------
    in_size, out_size : tuple of int
        ``(width, height)`` of the source frames and of the output.
    source_at : callable
        ``source_at(x, y) -> ndarray (..., C, 2)``: source ``(x, y)`` of output positions
        ``x, y`` (float64 arrays of one shape), ``C`` = 1 (all channels) or 3 (R, G, B); NaN
        where there is no image (read as black).
    falloff : ndarray, shape (H_in, W_in) or (H_in, W_in, 3), optional
        Vignetting falloff (``1 / gain``) on the source grid, sampled at each channel's source
        position; ``None``: no gain.
    border : {"constant", "replicate"}
        As :func:`grid_from_maps`.
    step, tol_px, min_step : int, float, int
        The node spacing starts at ``step`` and is halved (not below ``min_step``) until the
        bilinear grid is within ``tol_px`` of ``source_at`` at the cell centres.

    Returns
    -------
    GridMap
        The grid at the spacing reached (``step`` attribute).

    Raises
    ------
    UsageError
        An unknown border.

    Notes
    -----
    :func:`grid_from_maps` checks a dense map once per clip; this builds a grid from a map
    known only as a function (video stabilisation: the frame's rotation composed with the
    lens map), evaluated at the nodes and cell centres only, so a frame's grid costs
    ``O(W·H / step²)``.
    """
    if border not in ("constant", "replicate"):
        raise UsageError(f"unknown border {border!r}; valid: constant, replicate")
    w_out, h_out = int(out_size[0]), int(out_size[1])

    def at(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        src = np.asarray(source_at(x, y), np.float64)
        nch = src.shape[-2] if falloff is None else max(src.shape[-2], 1 if falloff.ndim == 2 else falloff.shape[2])
        src = np.broadcast_to(src, x.shape + (nch, 2))
        res = np.empty(x.shape + (nch, 3))
        bad = ~np.all(np.isfinite(src), axis=-1)
        res[..., 0] = np.where(bad, -1e5, src[..., 0] - x[..., None])
        res[..., 1] = np.where(bad, -1e5, src[..., 1] - y[..., None])
        res[..., 2] = 1.0
        if falloff is not None:
            for c in range(nch):
                f = falloff if falloff.ndim == 2 else falloff[..., min(c, falloff.shape[2] - 1)]
                res[..., c, 2] = _sample_field(f, np.nan_to_num(src[..., c, 0]), np.nan_to_num(src[..., c, 1]))
        res[..., 2] = np.where(bad, -1.0, res[..., 2])
        return res

    step = max(1, int(step))
    floor = max(1, int(min_step))
    while True:
        gx, gy = np.meshgrid(_nodes(w_out, step), _nodes(h_out, step))
        vals = at(gx, gy)
        _extend_past_edge(vals, gx, gy, w_out, h_out, at)
        cx = np.minimum(gx[:-1, :-1] + step / 2, w_out - 1)
        cy = np.minimum(gy[:-1, :-1] + step / 2, h_out - 1)
        want = at(cx, cy)
        ok = want[..., 0, 2] > 0  # cells with an image (black ones need no accuracy)
        err = 0.0
        for c in range(vals.shape[2]):
            got = _bilinear_nodes(vals[:, :, c, :], step, cx, cy)
            d = np.hypot(got[..., 0] - want[..., c, 0], got[..., 1] - want[..., c, 1])
            if ok.any():
                err = max(err, float(np.max(d[ok])))
        if err <= tol_px or step // 2 < floor:
            break
        step //= 2
    grid = np.ascontiguousarray(np.moveaxis(vals, 2, 0), dtype=np.float32)
    return GridMap(grid, step, w_out, h_out, 1.0, border == "replicate", float(err), (int(in_size[0]), int(in_size[1])))


#: Samples of the encoding curve for float and 16-bit output (linear interpolation between them
#: is within 4e-6 of the exact curve, below half a 16-bit code).
_CURVE_SAMPLES = 16384
#: Bins of the integer LUT for 8-bit output over linear [0, 1] (a bin is 1.5e-5 wide: under
#: 0.06 of an 8-bit code on the steepest standard curve, sRGB's 12.92 slope at black).
_LUT8_BINS = 65536
_TABLES: dict = {}
_TABLES_MAX = 64


def _tables(encode_curve: Any, dtype: np.dtype, float_table: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(curve table, integer LUT) for ``dtype`` output; ``float_table`` forces the curve table
    (a 3D LUT stage needs encoded values, not codes)."""
    key = (encode_curve, dtype.str, float_table)
    hit = _TABLES.get(key)
    if hit is None:
        if dtype == np.uint8 and not float_table:
            x = np.arange(_LUT8_BINS + 1, dtype=np.float64) / _LUT8_BINS
            enc = np.asarray(encode_curve(x.astype(np.float32)), dtype=np.float64)
            lut = np.floor(np.clip(enc, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
            hit = (np.zeros(2, np.float32), lut)
        else:
            x = np.linspace(0.0, 1.0, _CURVE_SAMPLES + 1, dtype=np.float64)
            hit = (np.asarray(encode_curve(x.astype(np.float32)), dtype=np.float32), np.zeros(1, np.uint8))
        if len(_TABLES) >= _TABLES_MAX:  # curves made per clip (video transfers): keep it bounded
            _TABLES.clear()
        _TABLES[key] = hit
    return hit


def _lut3d_arrays(look: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(table, domain minimum, 1 / domain width) of an :class:`l2tech.color.lut.LUT3D`, as its
    :meth:`~l2tech.color.lut.LUT3D.apply` passes them to the kernels."""
    table = getattr(look, "table", None)
    domain = getattr(look, "domain", None)
    if table is None or domain is None or np.ndim(table) != 4:
        raise UsageError(f"look must be an l2tech.color.lut.LUT3D, got {type(look).__name__}")
    d = np.asarray(domain, np.float64)
    # float32 domain: the pass's encoded values are float32 and so is its LUT arithmetic
    return (np.ascontiguousarray(table, np.float32), np.ascontiguousarray(d[0], np.float32),
            np.ascontiguousarray(1.0 / (d[1] - d[0]), np.float32))


def develop_pass(
    camera_rgb: np.ndarray,
    grid: GridMap,
    camera_to_working: np.ndarray,
    working_to_output: np.ndarray,
    encode_curve: Any,
    *,
    inv_gamma: float = 0.0,
    dtype: Any = np.uint8,
    out: np.ndarray | None = None,
    decode: np.ndarray | None = None,
    interpolation: str = "bilinear",
    look: Any = None,
    look_interpolation: str = "tetrahedral",
) -> np.ndarray:
    """Run the fused pass over a frame.

    Parameters
    ----------
    camera_rgb : ndarray, shape (H, W, 3), uint16 (uint8 or float32 with ``decode`` / see below)
        Without ``decode``: white-balanced linear camera RGB, uint16 (``65535`` = white) or
        float32 (``1.0`` = white), sensor orientation. With ``decode``: code values (uint8 or
        uint16) that the table turns into linear values (a video frame's R'G'B').
    grid : GridMap
        From :func:`grid_map` (or :func:`grid_from_maps`) for this frame size.
    camera_to_working : ndarray, shape (3, 3)
        Linear camera RGB (1.0 = white) → linear working RGB, exposure included:
        ``working = M @ camera``.
    working_to_output : ndarray, shape (3, 3)
        Linear working RGB → linear output RGB.
    encode_curve : callable
        The output space's encoding curve, linear [0, 1] → encoded [0, 1] (vectorised; a
        module-level function, used as a cache key for its tables).
    inv_gamma : float
        For a pure power curve, ``1/γ``: values in the first 64 cells of the float table are
        computed exactly (the curve is steep near black). 0 otherwise.
    dtype : {uint8, uint16, float32}
        Output: quantised code values (round half up), or float32 encoded values in [0, 1].
    out : ndarray, optional
        Where to write, shape (H_out, W_out, 3) of ``dtype``.
    decode : ndarray, shape (256,) or (65536,), float32, optional
        Input table: code value → linear value (1.0 = white), e.g. the BT.709 inverse OETF of
        ``code / 255`` for an 8-bit video frame. Sampling then interpolates these linear values
        (not the codes). Its length must cover the input's code range.
    interpolation : {"bilinear", "nearest"}
        Sampling kernel; ``"nearest"`` needs ``decode``.
    look : LUT3D, optional
        A 3D LUT (:class:`l2tech.color.lut.LUT3D`) applied to the *encoded* values (those of
        ``encode_curve``) before quantisation, with the arithmetic of
        :meth:`l2tech.color.lut.LUT3D.apply` (inputs clamped to its domain). Its output is
        clipped to [0, 1] for integer output.
    look_interpolation : {"tetrahedral", "trilinear"}

    Returns
    -------
    ndarray, shape (H_out, W_out, 3), ``dtype``
        Display-encoded output, clipped to [0, 1] before encoding; NaN becomes 0.

    Raises
    ------
    UsageError
        Wrong dtype or shape of the input, the table, the grid or ``out``; unknown
        interpolation.

    Notes
    -----
    Each source channel is sampled at its own position (TCA acts on the decoded channels, as
    lensfun's subpixel correction and darktable's lens module, which runs on camera RGB before
    the input colour profile, do), multiplied by the vignetting gain there, and only then mixed
    by the one matrix ``working_to_output @ camera_to_working``. Without TCA the three channels
    share one position and this equals matrix-then-sample exactly (bilinear sampling is linear).
    8-bit output without a look reads an integer LUT of 65537 bins over linear [0, 1]; 16-bit,
    float and looked output interpolate a 16385-sample curve table.
    """
    from l2tech.correct.resample import develop_grid_pass

    src = np.ascontiguousarray(camera_rgb)
    if src.ndim != 3 or src.shape[2] != 3:
        raise UsageError(f"camera_rgb must be (H, W, 3), got {src.shape}")
    if decode is None:
        if src.dtype not in (np.uint16, np.float32):
            raise UsageError(f"camera_rgb must be uint16 or float32 (H, W, 3), got {src.dtype} {src.shape}")
        dec = None
        in_scale = 65535.0 if src.dtype == np.uint16 else 1.0
    else:
        dec = np.ascontiguousarray(decode, np.float32)
        if src.dtype not in (np.uint8, np.uint16) or dec.ndim != 1 or dec.size < np.iinfo(src.dtype).max + 1:
            raise UsageError(f"decode table of {dec.shape} does not cover {src.dtype} code values")
        in_scale = 1.0
    interp = str(interpolation).lower()
    if interp not in ("bilinear", "nearest") or (interp == "nearest" and dec is None):
        raise UsageError(f"the fused pass samples bilinear (or nearest with a decode table), not {interpolation!r}")
    H, W = src.shape[:2]
    if grid.source_size != (W, H):
        raise UsageError(f"grid map is for {grid.source_size[0]}x{grid.source_size[1]} frames, the frame is {W}x{H}")
    dtype = np.dtype(dtype)
    qmax = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0, np.dtype(np.float32): 0.0}.get(dtype)
    if qmax is None:
        raise UsageError(f"output dtype must be uint8, uint16 or float32, got {dtype}")
    if out is None:
        out = np.empty((grid.height, grid.width, 3), dtype)
    elif out.shape != (grid.height, grid.width, 3) or out.dtype != dtype:
        raise UsageError(f"out must be {dtype} ({grid.height}, {grid.width}, 3), got {out.dtype} {out.shape}")
    m = (np.asarray(working_to_output, np.float64) @ np.asarray(camera_to_working, np.float64) / in_scale).astype(np.float32)
    lut3 = lut_lo = lut_scale = None
    if look is not None:
        lut3, lut_lo, lut_scale = _lut3d_arrays(look)
        if look_interpolation not in ("tetrahedral", "trilinear"):
            raise UsageError(f"look interpolation must be tetrahedral or trilinear, got {look_interpolation!r}")
    table, lut = _tables(encode_curve, dtype, float_table=look is not None)
    develop_grid_pass(src, dec, grid.grid, int(grid.step), m, table, float(inv_gamma), lut, float(qmax), bool(grid.replicate),
                      grid.per_channel, interp == "nearest", lut3, lut_lo, lut_scale, look_interpolation == "tetrahedral", out)
    return out


def _linear(x: np.ndarray) -> np.ndarray:
    return x


def warm_up(dtype: Any = np.uint8) -> None:
    """Load (or compile, once per machine) the kernel for ``dtype`` output, on a tiny frame.

    Called by the pipeline in a background thread while LibRaw decodes, so the kernel is ready
    when the pixels are.
    """
    src = np.zeros((2, 2, 3), np.uint16)
    develop_pass(src, identity_grid_map(2, 2), np.eye(3), np.eye(3), _linear, dtype=dtype)


def warm_up_video() -> None:
    """Load (or compile, once per machine) the kernel of an 8-bit clip's frames (8-bit codes in
    through an input table, 8-bit codes out, no look): ``l2 video``'s most common variant."""
    src = np.zeros((2, 2, 3), np.uint8)
    develop_pass(src, identity_grid_map(2, 2), np.eye(3), np.eye(3), _linear,
                 decode=np.linspace(0.0, 1.0, 256, dtype=np.float32), dtype=np.uint8)
