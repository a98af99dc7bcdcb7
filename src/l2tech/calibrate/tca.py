"""Transverse chromatic aberration from checkerboard shots: red and blue against green.

The board's corners are found on the green channel, then refined independently on the red
and blue channels (``cv2.cornerSubPix`` started at the green positions). lensfun models TCA
as a radial scaling of red and blue relative to green around the image centre, on distorted
coordinates, in the distortion normalisation (r = 1 at half the short side):

- ``linear``: ``r_c = k · r_g`` (``kr``, ``kb``)
- ``poly3``: ``r_c = r_g (v + c r_g + b r_g²)`` (``vr, cr, br``, ``vb, cb, bb``)

Both are linear in their terms; the fit minimises the 2-D position error
``|p_c − C − s(r_g)(p_g − C)|²``.

Without a target (:func:`estimate_lateral_ca`): red and blue are registered to green tile by
tile on any picture's edges (:func:`measure_channel_shifts`) and the ``linear`` model is
fitted to the tile shifts robustly, beside a shift common to the frame
(:func:`fit_radial_scale`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from l2tech.calibrate.geometry import lensfun_norm_px
from l2tech.calibrate.targets import Target, detect_target
from l2tech.errors import CalibrationError
from l2tech.profiles.model import TCACalibration

__all__ = ["TCASamples", "TCAFit", "measure_tca", "fit_tca", "ChannelShifts", "TCAEstimate", "measure_channel_shifts",
           "fit_radial_scale", "estimate_lateral_ca", "estimate_tca_from_image"]


@dataclass(frozen=True)
class TCASamples:
    """Corner positions per channel over one or more views of one image size.

    ``green``, ``red``, ``blue``: ndarray, shape (N, 2), float64, px. ``image_size``: (W, H).
    ``names``: views used; ``dropped``: (view, reason) pairs.
    """

    image_size: tuple[int, int]
    green: np.ndarray
    red: np.ndarray
    blue: np.ndarray
    names: tuple[str, ...] = ()
    dropped: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TCAFit:
    """TCA fits: ``poly3`` and ``linear`` calibrations with their RMS position error (px)."""

    poly3: TCACalibration
    linear: TCACalibration
    rms_poly3_px: float
    rms_linear_px: float
    rms_before_px: float
    samples: TCASamples


def measure_tca(
    images: Sequence[tuple[str, np.ndarray]], target: Target, *, window: tuple[int, int] = (7, 7)
) -> TCASamples:
    """Find board corners in each channel of each image.

    Parameters
    ----------
    images : sequence of (str, ndarray)
        Name and RGB image, shape (H, W, 3), float32 in [0, 1] (or uint8), no demosaic
        colour shifts beyond the lens's own.
    target : Target
    window : tuple of int
        ``cornerSubPix`` half-window (7: a 15x15 px window; squares should be larger than
        that). On rendered charts 7x7 halves the error of 5x5 (0.010 vs 0.015 px).

    Returns
    -------
    TCASamples

    Raises
    ------
    CalibrationError
        No view with a board, or mixed image sizes.

    References
    ----------
    OpenCV ``cornerSubPix``; lensfun ``docs/manual-main.txt`` (TCA calibration against green).
    """
    import cv2

    g_all, r_all, b_all, names, dropped = [], [], [], [], []
    size = None
    crit = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 100, 1e-4)
    for name, img in images:
        rgb = np.asarray(img)
        if rgb.ndim != 3 or rgb.shape[2] < 3:
            dropped.append((name, "not an RGB image"))
            continue
        h, w = rgb.shape[:2]
        if size is None:
            size = (w, h)
        elif size != (w, h):
            dropped.append((name, f"image size {w}x{h} differs from {size[0]}x{size[1]}"))
            continue
        chans = []
        for c in range(3):
            ch = rgb[..., c].astype(np.float32)
            if rgb.dtype == np.uint8:
                ch = ch / 255.0
            chans.append(np.clip(ch / max(float(np.percentile(ch, 99.5)), 1e-6), 0, 1))
        det = detect_target(chans[1], target, name=name)
        if not det.found:
            dropped.append((name, det.reason or "board not found"))
            continue
        g = det.corners.astype(np.float32).reshape(-1, 1, 2)
        g_ref = cv2.cornerSubPix(chans[1], g.copy(), window, (-1, -1), crit).reshape(-1, 2)
        r_ref = cv2.cornerSubPix(chans[0], g.copy(), window, (-1, -1), crit).reshape(-1, 2)
        b_ref = cv2.cornerSubPix(chans[2], g.copy(), window, (-1, -1), crit).reshape(-1, 2)
        g_all.append(g_ref)
        r_all.append(r_ref)
        b_all.append(b_ref)
        names.append(name)
    if not names:
        raise CalibrationError(f"0 usable views with a board found (of {len(images)}), 1 needed for TCA")
    cat = lambda a: np.concatenate(a).astype(np.float64)  # noqa: E731
    return TCASamples(size, cat(g_all), cat(r_all), cat(b_all), tuple(names), tuple(dropped))


def _fit_channel(pg: np.ndarray, pc: np.ndarray, center, norm: float, model: str):
    d = pg - center
    r = np.hypot(d[:, 0], d[:, 1]) / norm
    cols = [np.ones_like(r)] if model == "linear" else [np.ones_like(r), r, r**2]
    # p_c - C = sum_i coef_i * basis_i(r) * (p_g - C): stack x and y rows
    A = np.concatenate([np.stack([b * d[:, 0] for b in cols], -1), np.stack([b * d[:, 1] for b in cols], -1)])
    y = np.concatenate([pc[:, 0] - center[0], pc[:, 1] - center[1]])
    coef, *_ = np.linalg.lstsq(A, y, rcond=None)
    pred = A @ coef
    e = (y - pred).reshape(2, -1)
    return coef, float(np.sqrt(np.mean(np.sum(e**2, axis=0))))


def fit_tca(samples: TCASamples, *, focal_length_mm: float) -> TCAFit:
    """Fit lensfun ``poly3`` and ``linear`` TCA to per-channel corner positions.

    Parameters
    ----------
    samples : TCASamples
    focal_length_mm : float
        Focal length of the calibration point.

    Returns
    -------
    TCAFit

    Raises
    ------
    CalibrationError
        Fewer than 6 corners.

    References
    ----------
    lensfun ``libs/lensfun/mod-subpix.cpp`` (``ModifyCoord_TCA_Linear``,
    ``ModifyCoord_TCA_Poly3``): ``r_c = r_g (v + c r_g + b r_g²)``; r in the distortion
    normalisation, centre at ((W-1)/2, (H-1)/2).
    """
    if len(samples.green) < 6:
        raise CalibrationError(f"{len(samples.green)} corners found, 6 needed for the TCA fit")
    w, h = samples.image_size
    center = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    norm = lensfun_norm_px(w, h)
    (vr, cr, br), e3r = _fit_channel(samples.green, samples.red, center, norm, "poly3")
    (vb, cb, bb), e3b = _fit_channel(samples.green, samples.blue, center, norm, "poly3")
    (kr,), e1r = _fit_channel(samples.green, samples.red, center, norm, "linear")
    (kb,), e1b = _fit_channel(samples.green, samples.blue, center, norm, "linear")
    before = np.concatenate([samples.red - samples.green, samples.blue - samples.green])
    f = float(focal_length_mm)
    return TCAFit(
        TCACalibration("poly3", f, {"vr": float(vr), "cr": float(cr), "br": float(br), "vb": float(vb), "cb": float(cb), "bb": float(bb)}),
        TCACalibration("linear", f, {"kr": float(kr), "kb": float(kb)}),
        float(np.sqrt((e3r**2 + e3b**2) / 2)),
        float(np.sqrt((e1r**2 + e1b**2) / 2)),
        float(np.sqrt(np.mean(np.sum(before**2, axis=1)))),
        samples,
    )


@dataclass(frozen=True)
class ChannelShifts:
    """Where red and blue lie against green, tile by tile (:func:`measure_channel_shifts`).

    ``centres``: ndarray, shape (N, 2), float64, tile centres as (x, y) px. ``red``, ``blue``:
    ndarray, shape (N, 2), float64, px: the red (blue) image of what green shows at a tile lies
    at ``centre + shift``. ``image_size``: (W, H).
    """

    image_size: tuple[int, int]
    centres: np.ndarray
    red: np.ndarray
    blue: np.ndarray


@dataclass(frozen=True)
class TCAEstimate:
    """Lateral CA fitted to :class:`ChannelShifts` (:func:`fit_radial_scale`).

    ``kr``, ``kb``: lensfun's ``linear`` TCA terms (red at ``kr·r`` where green is at ``r``);
    ``kr_se``, ``kb_se``: their standard errors; ``translation_red_px``,
    ``translation_blue_px``: the shift common to the whole frame, fitted beside the scale and
    not part of lensfun's model (a demosaic's or a sensor readout's offset between planes);
    ``edge_red_px``, ``edge_blue_px``: the radial misregistration the scale stands for at half
    the frame's diagonal, ``|k - 1| · hypot(W, H) / 2``; ``tiles``: tiles measured.
    """

    kr: float
    kb: float
    kr_se: float
    kb_se: float
    translation_red_px: tuple[float, float]
    translation_blue_px: tuple[float, float]
    edge_red_px: float
    edge_blue_px: float
    tiles: int


def _tile_view(plane: np.ndarray, t: int, idx: np.ndarray) -> np.ndarray:
    """Tiles ``idx`` (row-major over the ``t``×``t`` grid) of ``plane`` as rows, shape (len(idx), t²)."""
    ny, nx = plane.shape[0] // t, plane.shape[1] // t
    return plane[: ny * t, : nx * t].reshape(ny, t, nx, t).transpose(0, 2, 1, 3).reshape(ny * nx, t * t)[idx]


def _sobel(plane: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import cv2

    return cv2.Sobel(plane, cv2.CV_32F, 1, 0, ksize=3) / 8.0, cv2.Sobel(plane, cv2.CV_32F, 0, 1, ksize=3) / 8.0


def _bspline3(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cubic B-spline weights (and their derivatives) of the taps at -1, 0, 1, 2 for fractions ``f``."""
    f2, f3 = f * f, f * f * f
    w = np.stack([(1 - f) ** 3 / 6, (3 * f3 - 6 * f2 + 4) / 6, (-3 * f3 + 3 * f2 + 3 * f + 1) / 6, f3 / 6], 1)
    dw = np.stack([-((1 - f) ** 2) / 2, (3 * f2 - 4 * f) / 2, (-3 * f2 + 2 * f + 1) / 2, f2 / 2], 1)
    return w, dw


def measure_channel_shifts(
    image: np.ndarray, *, tile: int = 32, white: float = 1.0, floor: float = 0.002, keep: float = 0.5,
    border: float = 0.02, sigma: float = 1.0, iterations: int = 5,
) -> ChannelShifts:
    """Sub-pixel shift of red and of blue against green in every strongly textured tile.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), float
        Linear RGB, best the camera's own planes (white-balanced camera RGB, before a colour
        matrix mixes the channels: ``decode_raw(camera_rgb=True)``); ``white`` = clipping.
    tile : int
        Tile side (px).
    white : float
        The clipping level: tiles with a pixel of any channel at or above 97 % of it (or within
        2 px of one) are left out, as are tiles touching values at or below ``floor · white``
        (noise, not edges).
    floor : float
        See ``white``.
    keep : float
        Fraction of the usable tiles kept: those with the most two-dimensional texture (the
        structure tensor's smaller eigenvalue of green, so that both shift components are
        defined).
    border : float
        Fraction of the frame left out at each edge.
    sigma : float
        Gaussian blur (px) of the log planes against noise.
    iterations : int
        Lucas-Kanade steps per tile.

    Returns
    -------
    ChannelShifts

    Raises
    ------
    CalibrationError
        The image is not (H, W, 3) or has fewer than 12 textured tiles.

    Notes
    -----
    Each tile is matched on the log of the values, so that a channel's gain is an offset; each
    tile has its own gain and offset (``log c ≈ α log g + β``), so that a colour edge, whose
    contrast differs between the channels, does not read as a shift. The per-tile affine
    photometric terms are eliminated by projecting the tile's data off ``{1, log g}``
    (variable projection), and the shift is found by Lucas-Kanade steps on what is left,
    re-sampling the channel at the tile's current shift each time with cubic B-spline
    weights at exact positions (SciPy's spline prefilter; the derivative weights give the
    gradient of the same interpolant). OpenCV's ``remap`` rounds positions to 1/32 px: an
    estimate built on it read about 15 % of a known radial scale short.

    References
    ----------
    B. D. Lucas and T. Kanade, "An iterative image registration technique with an application
    to stereo vision", IJCAI 1981. G. H. Golub and V. Pereyra, "The differentiation of
    pseudo-inverses and nonlinear least squares problems whose variables separate", SIAM J.
    Numer. Anal. 10 (1973) (variable projection).
    """
    import cv2

    arr = np.asarray(image, np.float32)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise CalibrationError(f"image must be (H, W, 3), got {arr.shape}")
    h, w = arr.shape[:2]
    t = int(tile)
    ny, nx = h // t, w // t
    bad = (arr >= 0.97 * white).any(-1) | (arr <= floor * white).any(-1)
    bad = cv2.dilate(bad.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    logs = [cv2.GaussianBlur(np.log(np.clip(arr[..., c], 1e-5 * white, None)).astype(np.float32), (0, 0), sigma)
            for c in range(3)]
    every = np.arange(ny * nx)
    gx, gy = _sobel(logs[1])
    a, b, c = (_tile_view(v, t, every).mean(1) for v in (gx * gx, gx * gy, gy * gy))
    lmin = (a + c) / 2 - np.sqrt(((a - c) / 2) ** 2 + b * b)
    row, col = np.divmod(every, nx)
    inside = ((col * t >= border * w) & ((col + 1) * t <= (1 - border) * w)
              & (row * t >= border * h) & ((row + 1) * t <= (1 - border) * h))
    usable = inside & ~(_tile_view(bad.astype(np.uint8), t, every).max(1) > 0) & (lmin > 1e-5)
    if usable.sum() < 12:
        raise CalibrationError(f"too few edges to estimate lateral chromatic aberration ({int(usable.sum())} "
                               "textured, unclipped tiles; 12 needed)")
    sel = every[usable & (lmin >= np.quantile(lmin[usable], 1 - keep))]
    g = _tile_view(logs[1], t, sel).astype(np.float64)
    g -= g.mean(1, keepdims=True)
    g /= np.maximum(np.sqrt((g**2).sum(1, keepdims=True)), 1e-12)

    def off_photometric(v: np.ndarray) -> np.ndarray:  # project off {1, log g} per tile
        v = v - v.mean(1, keepdims=True)
        return v - (v * g).sum(1, keepdims=True) * g

    # every step re-samples the selected tiles at their current shift, at exact positions: a
    # cubic B-spline, whose weights are the same for a whole tile (one shift per tile).
    # (OpenCV's remap rounds positions to 1/32 px, which biases a shift made of many small steps.)
    from scipy.ndimage import spline_filter

    n = len(sel)
    x0, y0 = (sel % nx) * t, (sel // nx) * t
    span = np.arange(-1, t + 2)
    shifts = []
    for ch in (0, 2):
        coef = spline_filter(logs[ch].astype(np.float64), order=3, mode="nearest")
        d = np.zeros((n, 2))
        for _ in range(iterations):
            ix, iy = np.floor(d[:, 0]).astype(int), np.floor(d[:, 1]).astype(int)
            wx, dwx = _bspline3(d[:, 0] - ix)
            wy, dwy = _bspline3(d[:, 1] - iy)
            rows = np.clip((y0 + iy)[:, None] + span, 0, h - 1)
            cols = np.clip((x0 + ix)[:, None] + span, 0, w - 1)
            patch = coef[rows[:, :, None], cols[:, None, :]]  # (n, t+3, t+3)
            along_x = [sum(wk[:, k, None, None] * patch[:, :, k:k + t] for k in range(4)) for wk in (wx, dwx)]
            cw = sum(wy[:, k, None, None] * along_x[0][:, k:k + t, :] for k in range(4))
            cx = sum(wy[:, k, None, None] * along_x[1][:, k:k + t, :] for k in range(4))
            cy = sum(dwy[:, k, None, None] * along_x[0][:, k:k + t, :] for k in range(4))
            cw, cx, cy = (off_photometric(v.reshape(n, t * t)) for v in (cw, cx, cy))
            a11, a12, a22 = (cx * cx).sum(1), (cx * cy).sum(1), (cy * cy).sum(1)
            b1, b2 = -(cx * cw).sum(1), -(cy * cw).sum(1)
            det = np.maximum(a11 * a22 - a12**2, 1e-300)
            step = np.stack([(a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det], 1)
            d = d + np.clip(step, -1.0, 1.0)
            if np.abs(step).max() < 1e-3:
                break
        shifts.append(d)
    centres = np.stack([(sel % nx) * t + (t - 1) / 2, (sel // nx) * t + (t - 1) / 2], 1).astype(np.float64)
    return ChannelShifts((w, h), centres, shifts[0], shifts[1])


def _robust_radial(centres: np.ndarray, d: np.ndarray, size: tuple[int, int], translation: bool):
    w, h = size
    norm = math.hypot(w, h) / 2
    p = (centres - np.array([(w - 1) / 2, (h - 1) / 2])) / norm
    n = len(p)
    A = np.zeros((2 * n, 3))
    A[:n, 0], A[n:, 0], A[:n, 1], A[n:, 2] = p[:, 0], p[:, 1], 1.0, 1.0
    if not translation:
        A = A[:, :1]
    y = np.concatenate([d[:, 0], d[:, 1]])
    wt = np.ones(2 * n)
    for _ in range(30):
        sw = np.sqrt(wt)
        sol, *_ = np.linalg.lstsq(A * sw[:, None], y * sw, rcond=None)
        r = y - A @ sol
        scale = 1.4826 * float(np.median(np.abs(r))) + 1e-9
        new = 1.0 / (1.0 + (r / (2.0 * scale)) ** 2)  # Cauchy weights, 2 robust sigmas
        if np.allclose(new, wt, atol=1e-6):
            break
        wt = new
    dof = max(len(y) - A.shape[1], 1)
    sigma2 = float((wt * r**2).sum() / dof)
    cov = np.linalg.inv((A * wt[:, None]).T @ A) * sigma2
    k = 1.0 + sol[0] / norm
    t = (float(sol[1]), float(sol[2])) if translation else (0.0, 0.0)
    return float(k), float(math.sqrt(cov[0, 0]) / norm), t, float(abs(k - 1.0) * norm)


def fit_radial_scale(shifts: ChannelShifts, *, translation: bool = True) -> TCAEstimate:
    """Fit lensfun's ``linear`` TCA (a radial scale about the centre) to tile shifts.

    Parameters
    ----------
    shifts : ChannelShifts
    translation : bool
        Fit a shift common to the frame beside the scale (on by default: a demosaic or a
        downsampled format may offset a plane by a fraction of a pixel, which would otherwise
        bias the scale when the edges are not spread evenly around the centre).

    Returns
    -------
    TCAEstimate

    Notes
    -----
    Per channel, the model ``shift(p) = (k - 1)(p - C) + t`` (``C`` = ((W-1)/2, (H-1)/2)) is
    fitted to the x and y shifts of every tile by iteratively reweighted least squares with
    Cauchy weights (scale: 2 × 1.4826 × the median absolute residual), so that tiles whose
    shift is not lateral CA (a colour edge out of focus, a moiré, text on a display's RGB
    stripes) do not pull the fit. Standard errors are the weighted fit's covariance.

    References
    ----------
    P. W. Holland and R. E. Welsch, "Robust regression using iteratively reweighted
    least-squares", Commun. Statist. A6 (1977). lensfun ``libs/lensfun/mod-subpix.cpp``
    (``ModifyCoord_TCA_Linear``).
    """
    kr, kr_se, tr, er = _robust_radial(shifts.centres, shifts.red, shifts.image_size, translation)
    kb, kb_se, tb, eb = _robust_radial(shifts.centres, shifts.blue, shifts.image_size, translation)
    return TCAEstimate(kr, kb, kr_se, kb_se, tr, tb, er, eb, len(shifts.centres))


def estimate_lateral_ca(image: np.ndarray, *, white: float = 1.0, tile: int = 32, border: float = 0.02) -> TCAEstimate:
    """Lateral CA of an image without a target: the radial scale of red and of blue against green.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), float
        Linear RGB of a picture with edges (any scene), not yet TCA-corrected; best the
        camera's own colour planes (``decode_raw(camera_rgb=True)``), since a colour matrix
        mixes some of green's position into red and blue. ``white`` = clipping.
    white : float
    tile : int
        Tile side in px (on a view of at most about 2000 px).
    border : float
        Fraction of the frame left out at each edge.

    Returns
    -------
    TCAEstimate

    Raises
    ------
    CalibrationError
        An image without enough edges to measure.

    Notes
    -----
    :func:`measure_channel_shifts` then :func:`fit_radial_scale`. Measured against lensfun
    profiles on the shared RAWs: see docs/DEVELOP.md, "Correction without a profile".
    """
    return fit_radial_scale(measure_channel_shifts(image, tile=tile, white=white, border=border))


def estimate_tca_from_image(image: np.ndarray, *, white: float = 1.0, border: float = 0.02) -> tuple[float, float]:
    """``(kr, kb)`` of :func:`estimate_lateral_ca`: lensfun's ``linear`` TCA terms.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), float
        As for :func:`estimate_lateral_ca`.
    white : float
    border : float

    Returns
    -------
    (kr, kb) : tuple of float
        The red (blue) image of a point that green shows at radius ``r`` from the centre lies
        at ``kr · r`` (``kb · r``).

    Raises
    ------
    CalibrationError
        An image without enough edges to measure.
    """
    est = estimate_lateral_ca(image, white=white, border=border)
    return est.kr, est.kb
