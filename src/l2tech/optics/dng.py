"""The lens-correction opcodes of the DNG specification, as pure functions on arrays.

* ``WarpRectilinear`` (opcode 1): per plane ``kr0..kr3, kt0, kt1``; optical centre ``cx, cy``.
* ``WarpFisheye`` (opcode 2): per plane ``kr0..kr3``; optical centre.
* ``FixVignetteRadial`` (opcode 3): ``k0..k4``; optical centre.
* ``GainMap`` (opcode 9): a grid of gains, bilinear between points, multiplied into a region.
* ``MapPolynomial`` (opcode 8): a polynomial of each pixel value (written by Adobe converters).

Coordinates (DNG SDK ``dng_filter_warp``): pixel ``(col, row)`` at integer positions; the
centre in pixels is ``C = (cx · W, cy · H)`` for a ``W × H`` image; ``R`` is the largest
distance from ``C`` to a corner of the rectangle ``[0, W] × [0, H]``. For an output (corrected)
pixel ``p``, ``Δ = (p − C) / R``, ``r² = min(|Δ|², 1)``:

* rectilinear: ``source = C + R (Δ (kr0 + kr1 r² + kr2 r⁴ + kr3 r⁶) + Δ_t)`` with
  ``Δ_t,x = kt1 (r² + 2Δx²) + 2 kt0 Δx Δy`` and ``Δ_t,y = kt0 (r² + 2Δy²) + 2 kt1 Δx Δy``;
* fisheye: ``θ = atan r``, ``source = C + R Δ/r · θ (kr0 + kr1 θ² + kr2 θ⁴ + kr3 θ⁶)``.

So WarpRectilinear is the OpenCV pinhole model (``p1 = kt0``, ``p2 = kt1``) with focal length
``R`` and an overall scale ``kr0``, and WarpFisheye is Kannala–Brandt with focal length ``R``
and ``k0 = kr0``; their inverses reuse those modules' solvers. Square pixels are assumed
(``PixelAspectRatio`` 1, as in every file we have seen).

References
----------
Adobe DNG Specification 1.4 / 1.6, chapter 6 "Opcode List Processing"; Adobe DNG SDK
``source/dng_lens_correction.cpp`` (``dng_filter_warp::GetSrcPixelPosition``,
``dng_warp_params_rectilinear``, ``dng_warp_params_fisheye``, ``dng_opcode_FixVignetteRadial``),
``source/dng_gain_map.cpp``, ``source/dng_misc_opcodes.cpp`` (MapPolynomial).

Applying a parsed opcode list to an image (which resamples) is
:func:`l2tech.correct.dng_opcodes.apply_opcodes`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from l2tech.errors import InvalidProfileError, UsageError
from l2tech.optics.kannala_brandt import theta_distorted, theta_undistorted
from l2tech.optics.opencv import newton_inverse_2d, radial_fold_radius

__all__ = [
    "dng_center_and_radius",
    "warp_rectilinear_points",
    "warp_rectilinear_map",
    "unwarp_rectilinear_points",
    "warp_fisheye_points",
    "warp_fisheye_map",
    "unwarp_fisheye_points",
    "vignette_radial_gain",
    "GainMapParams",
    "gain_map_field",
    "apply_gain_map",
    "apply_map_polynomial",
]


def dng_center_and_radius(width: int, height: int, cx: float, cy: float) -> tuple[float, float, float]:
    """Optical centre in pixels and the normalising radius ``R`` of the DNG warp opcodes.

    Returns
    -------
    (float, float, float)
        ``(Cx, Cy, R)`` in pixels: ``Cx = cx · W``, ``Cy = cy · H``, ``R`` the largest distance
        from the centre to a corner of ``[0, W] × [0, H]`` (DNG SDK ``MaxDistancePointToRect``).
    """
    Cx, Cy = float(cx) * width, float(cy) * height
    R = max(np.hypot(Cx - x, Cy - y) for x in (0.0, float(width)) for y in (0.0, float(height)))
    return Cx, Cy, float(R)


def _plane(p: Sequence[float], n: int, what: str) -> tuple[float, ...]:
    p = tuple(float(v) for v in p)
    if len(p) != n:
        raise UsageError(f"{what} plane needs {n} coefficients, got {len(p)}")
    return p


def _rect_norm(delta: np.ndarray, plane: Sequence[float]) -> np.ndarray:
    kr0, kr1, kr2, kr3, kt0, kt1 = _plane(plane, 6, "WarpRectilinear")
    dx, dy = delta[..., 0], delta[..., 1]
    r2 = np.minimum(dx * dx + dy * dy, 1.0)
    f = kr0 + r2 * (kr1 + r2 * (kr2 + r2 * kr3))
    tx = kt1 * (r2 + 2 * dx * dx) + 2 * kt0 * dx * dy
    ty = kt0 * (r2 + 2 * dy * dy) + 2 * kt1 * dx * dy
    return np.stack([dx * f + tx, dy * f + ty], axis=-1)


def warp_rectilinear_points(
    xy: np.ndarray, width: int, height: int, plane: Sequence[float], cx: float = 0.5, cy: float = 0.5
) -> np.ndarray:
    """Source pixel of each corrected pixel under one WarpRectilinear plane.

    Parameters
    ----------
    xy : ndarray, shape (..., 2)
        Output (corrected) pixel coordinates ``(x, y)``.
    width, height : int
        Image size in pixels.
    plane : sequence of 6 float
        ``kr0, kr1, kr2, kr3, kt0, kt1``.
    cx, cy : float
        Optical centre relative to the image (0 = left/top, 1 = right/bottom).

    Returns
    -------
    ndarray, shape (..., 2), float64
    """
    Cx, Cy, R = dng_center_and_radius(width, height, cx, cy)
    xy = np.asarray(xy, dtype=np.float64)
    d = np.stack([(xy[..., 0] - Cx) / R, (xy[..., 1] - Cy) / R], axis=-1)
    s = _rect_norm(d, plane)
    return np.stack([Cx + R * s[..., 0], Cy + R * s[..., 1]], axis=-1)


def _grid(width: int, height: int) -> np.ndarray:
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    return np.stack([u, v], axis=-1)


def _check_rect_fold(plane: Sequence[float], r_max: float, R: float) -> None:
    kr0, kr1, kr2, kr3 = _plane(plane, 6, "WarpRectilinear")[:4]
    fold = radial_fold_radius(lambda r: kr0 + kr1 * r**2 + kr2 * r**4 + kr3 * r**6, r_max)
    if fold is not None:
        raise InvalidProfileError(
            f"WarpRectilinear folds the image at radius {fold * R:.1f} px (normalised {fold:.4g})"
        )


def warp_rectilinear_map(
    width: int, height: int, planes: Sequence[Sequence[float]], cx: float = 0.5, cy: float = 0.5
) -> np.ndarray:
    """Inverse map of a WarpRectilinear opcode (1 or 3 planes).

    Parameters
    ----------
    width, height : int
        Image size in pixels.
    planes : sequence of 1 or 3 sequences of 6 float
        ``kr0..kr3, kt0, kt1`` per plane (one plane applies to all colours; three are R, G, B).
    cx, cy : float
        Relative optical centre.

    Returns
    -------
    ndarray, shape (H, W, 2) or (H, W, 3, 2), float32
        Source pixel ``(x, y)`` per output pixel (and colour plane).

    Raises
    ------
    InvalidProfileError
        The radial polynomial folds within the image (radius named).
    """
    return _warp_map("WarpRectilinear", width, height, planes, cx, cy, lambda pl, R: _check_rect_fold(pl, 1.0, R),
                     warp_rectilinear_points)


def _warp_map(what: str, width: int, height: int, planes: Sequence[Sequence[float]], cx: float, cy: float,
              check_fold: Callable[[Sequence[float], float], None], points: Callable[..., np.ndarray]) -> np.ndarray:
    """Inverse map of a warp opcode: ``points`` on the pixel grid per plane, each plane first
    checked by ``check_fold(plane, R)`` (R: the opcode's normalisation radius)."""
    if len(planes) not in (1, 3):
        raise UsageError(f"{what} needs 1 or 3 planes, got {len(planes)}")
    uv = _grid(width, height)
    R = dng_center_and_radius(width, height, cx, cy)[2]
    maps = []
    for pl in planes:
        check_fold(pl, R)
        maps.append(points(uv, width, height, pl, cx, cy).astype(np.float32))
    return maps[0] if len(maps) == 1 else np.stack(maps, axis=2)


def unwarp_rectilinear_points(
    xy_src: np.ndarray, width: int, height: int, plane: Sequence[float], cx: float = 0.5, cy: float = 0.5
) -> np.ndarray:
    """Inverse of :func:`warp_rectilinear_points` (simulates the lens); Newton's method.

    Raises
    ------
    InvalidProfileError
        The warp folds within the image or does not converge (radius named).
    """
    Cx, Cy, R = dng_center_and_radius(width, height, cx, cy)
    _check_rect_fold(plane, 1.0, R)
    xy_src = np.asarray(xy_src, dtype=np.float64)
    d = np.stack([(xy_src[..., 0] - Cx) / R, (xy_src[..., 1] - Cy) / R], axis=-1)
    und = newton_inverse_2d(lambda p: _rect_norm(p, plane), d, what="WarpRectilinear")
    return np.stack([Cx + R * und[..., 0], Cy + R * und[..., 1]], axis=-1)


def _fisheye_terms(plane: Sequence[float]) -> dict[str, float]:
    kr0, kr1, kr2, kr3 = _plane(plane, 4, "WarpFisheye")
    return {"k0": kr0, "k1": kr1, "k2": kr2, "k3": kr3}


def warp_fisheye_points(
    xy: np.ndarray, width: int, height: int, plane: Sequence[float], cx: float = 0.5, cy: float = 0.5
) -> np.ndarray:
    """Source pixel of each corrected pixel under one WarpFisheye plane (``kr0..kr3``).

    Returns
    -------
    ndarray, shape (..., 2), float64
    """
    Cx, Cy, R = dng_center_and_radius(width, height, cx, cy)
    xy = np.asarray(xy, dtype=np.float64)
    dx, dy = (xy[..., 0] - Cx) / R, (xy[..., 1] - Cy) / R
    r = np.sqrt(np.minimum(dx * dx + dy * dy, 1.0))
    rd = theta_distorted(np.arctan(r), _fisheye_terms(plane))
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(r > 1e-15, rd / np.where(r > 1e-15, r, 1.0), float(plane[0]))
    return np.stack([Cx + R * dx * s, Cy + R * dy * s], axis=-1)


def warp_fisheye_map(
    width: int, height: int, planes: Sequence[Sequence[float]], cx: float = 0.5, cy: float = 0.5
) -> np.ndarray:
    """Inverse map of a WarpFisheye opcode; shape (H, W, 2) or (H, W, 3, 2), float32.

    Raises
    ------
    InvalidProfileError
        ``θ (kr0 + ...)`` is not increasing up to 45° (r = 1), the largest angle the opcode uses.
    """
    return _warp_map("WarpFisheye", width, height, planes, cx, cy, _check_fisheye_fold, warp_fisheye_points)


def _check_fisheye_fold(plane: Sequence[float], R: float) -> None:
    th = np.linspace(0, np.pi / 4, 4001)
    d = np.diff(theta_distorted(th, _fisheye_terms(plane)))
    if not (d > 0).all():
        raise InvalidProfileError(f"WarpFisheye folds the image at radius {np.tan(th[np.argmin(d > 0)]) * R:.1f} px")


def unwarp_fisheye_points(
    xy_src: np.ndarray, width: int, height: int, plane: Sequence[float], cx: float = 0.5, cy: float = 0.5
) -> np.ndarray:
    """Inverse of :func:`warp_fisheye_points`; NaN beyond the opcode's range (r > 1)."""
    Cx, Cy, R = dng_center_and_radius(width, height, cx, cy)
    xy_src = np.asarray(xy_src, dtype=np.float64)
    dx, dy = (xy_src[..., 0] - Cx) / R, (xy_src[..., 1] - Cy) / R
    rd = np.hypot(dx, dy)
    th = theta_undistorted(rd, _fisheye_terms(plane), theta_max=np.pi / 4)
    r = np.tan(th)
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(rd > 1e-15, r / np.where(rd > 1e-15, rd, 1.0), 1.0 / float(plane[0]))
    return np.stack([Cx + R * dx * s, Cy + R * dy * s], axis=-1)


def vignette_radial_gain(
    width: int, height: int, k: Sequence[float], cx: float = 0.5, cy: float = 0.5
) -> np.ndarray:
    """Gain field of a FixVignetteRadial opcode.

    Parameters
    ----------
    width, height : int
        Image size in pixels.
    k : sequence of 5 float
        ``k0..k4``.
    cx, cy : float
        Relative optical centre.

    Returns
    -------
    ndarray, shape (H, W), float32
        ``1 + k0 r² + k1 r⁴ + k2 r⁶ + k3 r⁸ + k4 r¹⁰`` with ``r`` normalised by ``R``; multiply
        linear pixel values by it (a correction, not a falloff).
    """
    k0, k1, k2, k3, k4 = _plane(k, 5, "FixVignetteRadial")
    Cx, Cy, R = dng_center_and_radius(width, height, cx, cy)
    uv = _grid(width, height)
    r2 = ((uv[..., 0] - Cx) ** 2 + (uv[..., 1] - Cy) ** 2) / (R * R)
    g = 1.0 + r2 * (k0 + r2 * (k1 + r2 * (k2 + r2 * (k3 + r2 * k4))))
    return g.astype(np.float32)


@dataclass(frozen=True)
class GainMapParams:
    """Parameters of a DNG ``GainMap`` opcode (names as in the DNG specification).

    ``top, left, bottom, right`` (pixels, bottom/right exclusive), ``plane, planes``,
    ``row_pitch, col_pitch``, ``map_points_v, map_points_h``, ``map_spacing_v, map_spacing_h``,
    ``map_origin_v, map_origin_h`` (relative to the image size), ``map_planes`` and ``gains``
    (float32, shape ``(map_points_v, map_points_h, map_planes)``).
    """

    top: int
    left: int
    bottom: int
    right: int
    plane: int
    planes: int
    row_pitch: int
    col_pitch: int
    map_points_v: int
    map_points_h: int
    map_spacing_v: float
    map_spacing_h: float
    map_origin_v: float
    map_origin_h: float
    map_planes: int
    gains: np.ndarray


def gain_map_field(p: GainMapParams, width: int, height: int) -> np.ndarray:
    """Gains of a GainMap at the pixels it touches.

    Parameters
    ----------
    p : GainMapParams
    width, height : int
        Size of the image (the map's relative coordinates are fractions of it).

    Returns
    -------
    ndarray, shape (n_rows, n_cols, map_planes), float32
        Bilinear gains (clamped at the map's edges) for rows ``top, top+row_pitch, ... < bottom``
        and columns ``left, left+col_pitch, ... < right``.

    References
    ----------
    DNG SDK ``dng_gain_map_interpolator`` (pixel centres: ``(row + 0.5) / height``,
    ``(col + 0.5) / width`` of the image bounds).
    """
    rows = np.arange(p.top, min(p.bottom, height), p.row_pitch, dtype=np.float64)
    cols = np.arange(p.left, min(p.right, width), p.col_pitch, dtype=np.float64)
    # map coordinates of each pixel, in map-point units
    mv = (((rows + 0.5) / height) - p.map_origin_v) / p.map_spacing_v if p.map_points_v > 1 else np.zeros_like(rows)
    mh = (((cols + 0.5) / width) - p.map_origin_h) / p.map_spacing_h if p.map_points_h > 1 else np.zeros_like(cols)
    mv = np.clip(mv, 0, p.map_points_v - 1)
    mh = np.clip(mh, 0, p.map_points_h - 1)
    v0 = np.minimum(np.floor(mv).astype(int), max(p.map_points_v - 2, 0))
    h0 = np.minimum(np.floor(mh).astype(int), max(p.map_points_h - 2, 0))
    fv = (mv - v0)[:, None, None]
    fh = (mh - h0)[None, :, None]
    g = np.asarray(p.gains, dtype=np.float64)
    v1 = np.minimum(v0 + 1, p.map_points_v - 1)
    h1 = np.minimum(h0 + 1, p.map_points_h - 1)
    top = g[v0][:, h0] * (1 - fh) + g[v0][:, h1] * fh
    bot = g[v1][:, h0] * (1 - fh) + g[v1][:, h1] * fh
    return (top * (1 - fv) + bot * fv).astype(np.float32)


def apply_gain_map(image: np.ndarray, p: GainMapParams) -> np.ndarray:
    """Apply a GainMap opcode to a mosaic ``(H, W)`` or image ``(H, W, C)``; returns a new array.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C), float32
        Linear values (after linearisation for OpcodeList2, as the DNG specification says).
    p : GainMapParams

    Returns
    -------
    ndarray, same shape, float32
        ``image`` with the selected pixels multiplied by the interpolated gains (plane
        ``plane + i`` uses map plane ``min(i, map_planes - 1)``).
    """
    out = np.array(image, dtype=np.float32, copy=True)
    h, w = out.shape[:2]
    field = gain_map_field(p, w, h)
    rs = slice(p.top, min(p.bottom, h), p.row_pitch)
    cs = slice(p.left, min(p.right, w), p.col_pitch)
    if out.ndim == 2:
        out[rs, cs] *= field[..., 0]
    else:
        for i in range(p.planes):
            c = p.plane + i
            if c < out.shape[2]:
                out[rs, cs, c] *= field[..., min(i, p.map_planes - 1)]
    return out


def apply_map_polynomial(
    image: np.ndarray,
    coefficients: Sequence[float],
    *,
    top: int = 0,
    left: int = 0,
    bottom: int | None = None,
    right: int | None = None,
    plane: int = 0,
    planes: int = 1,
    row_pitch: int = 1,
    col_pitch: int = 1,
) -> np.ndarray:
    """Apply a MapPolynomial opcode: ``v' = c0 + c1 v + c2 v² + ...`` on normalised values.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C), float32
        Values normalised to 0..1 (the DNG SDK evaluates on the 0..1 range).
    coefficients : sequence of float
        ``c0 .. cN`` (N ≤ 8).

    Returns
    -------
    ndarray, same shape, float32
        Values clipped to 0..1 as the SDK does for this opcode.
    """
    out = np.array(image, dtype=np.float32, copy=True)
    h, w = out.shape[:2]
    rs = slice(top, h if bottom is None else min(bottom, h), row_pitch)
    cs = slice(left, w if right is None else min(right, w), col_pitch)
    c = [float(v) for v in coefficients]

    def poly(v: np.ndarray) -> np.ndarray:
        acc = np.zeros_like(v, dtype=np.float64)
        for coef in reversed(c):
            acc = acc * v + coef
        return np.clip(acc, 0.0, 1.0).astype(np.float32)

    if out.ndim == 2:
        out[rs, cs] = poly(out[rs, cs].astype(np.float64))
    else:
        for i in range(planes):
            if plane + i < out.shape[2]:
                out[rs, cs, plane + i] = poly(out[rs, cs, plane + i].astype(np.float64))
    return out


# ---------------------------------------------------------------------------------------------
# registry builders (GEOMETRY_MODELS["dng_warp_rectilinear"], ["dng_warp_fisheye"])

_RECT_NAMES = ("kr0", "kr1", "kr2", "kr3", "kt0", "kt1")
_FISH_NAMES = ("kr0", "kr1", "kr2", "kr3")


def _dng_warp_builder(request, fisheye: bool):
    from l2tech.optics.compose import Warp

    cal = request.calibration
    names = _FISH_NAMES if fisheye else _RECT_NAMES
    ident = (1.0, 0.0, 0.0, 0.0) if fisheye else (1.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    pts_fn = warp_fisheye_points if fisheye else warp_rectilinear_points
    W, H = request.width, request.height
    d = cal.distortion if request.distortion else None
    t = cal.tca if request.tca else None
    src = d.terms if d is not None else (t.terms if t is not None else {"cx": 0.5, "cy": 0.5})
    cx, cy = float(src.get("cx", 0.5)), float(src.get("cy", 0.5))
    g = tuple(float(d.terms.get(k, ident[i])) for i, k in enumerate(names)) if d is not None else ident
    planes = [g]
    if t is not None:
        r = tuple(float(t.terms.get("r_" + k, ident[i])) for i, k in enumerate(names))
        b = tuple(float(t.terms.get("b_" + k, ident[i])) for i, k in enumerate(names))
        planes = [r, g, b]
    Cx, Cy, R = dng_center_and_radius(W, H, cx, cy)

    def run(x: np.ndarray, y: np.ndarray, pls) -> tuple[np.ndarray, np.ndarray]:
        xy = np.stack([np.asarray(x, np.float64), np.asarray(y, np.float64)], -1)
        outs = [pts_fn(xy, W, H, pl, cx, cy) for pl in pls]
        if len(outs) == 1:
            return outs[0][..., 0], outs[0][..., 1]
        return np.stack([o[..., 0] for o in outs], -1), np.stack([o[..., 1] for o in outs], -1)

    def fold_check(scale: float) -> None:
        for pl in planes:
            if fisheye:
                th = np.linspace(0, np.pi / 4, 4001)
                dd = np.diff(theta_distorted(th, dict(zip(("k0", "k1", "k2", "k3"), pl))))
                if not (dd > 0).all():
                    raise InvalidProfileError(f"WarpFisheye folds the image at radius {np.tan(th[np.argmin(dd > 0)]) * R:.1f} px")
            else:
                _check_rect_fold(pl, 1.0, R)

    return planes_warp(run, planes, g, (Cx, Cy), W, H, fold_check)


def planes_warp(run, planes: list, green: Any, center_px: tuple[float, float], W: int, H: int, fold_check) -> Any:
    """The :class:`~l2tech.optics.compose.Warp` of a radial family given per plane (one plane, or
    R, G, B for TCA): ``run(x, y, planes)`` maps output pixels to source pixels per plane, the
    green plane ``green`` alone is the geometric part; TCA makes it per channel and subpixel.
    Shared by the DNG warps and :mod:`l2tech.optics.radial_table`."""
    from l2tech.optics.compose import Warp

    return Warp(
        apply=lambda x, y: run(x, y, planes),
        center_px=center_px,
        width=W,
        height=H,
        per_channel=len(planes) == 3,
        subpixel=len(planes) == 3,
        geometric=lambda x, y: run(x, y, [green]),
        fold_check=fold_check,
        box_center_px=((W - 1) / 2.0, (H - 1) / 2.0),
    )


def dng_warp_rectilinear_warp(request):
    """Builder of ``"dng_warp_rectilinear"`` (terms per docs/PROFILES.md; TCA = red/blue planes)."""
    return _dng_warp_builder(request, fisheye=False)


def dng_warp_fisheye_warp(request):
    """Builder of ``"dng_warp_fisheye"``."""
    return _dng_warp_builder(request, fisheye=True)
