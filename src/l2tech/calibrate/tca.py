"""Transverse chromatic aberration from checkerboard shots: red and blue against green.

The board's corners are found on the green channel, then refined independently on the red
and blue channels (``cv2.cornerSubPix`` started at the green positions). lensfun models TCA
as a radial scaling of red and blue relative to green around the image centre, on distorted
coordinates, in the distortion normalisation (r = 1 at half the short side):

- ``linear``: ``r_c = k · r_g`` (``kr``, ``kb``)
- ``poly3``: ``r_c = r_g (v + c r_g + b r_g²)`` (``vr, cr, br``, ``vb, cb, bb``)

Both are linear in their terms; the fit minimises the 2-D position error
``|p_c − C − s(r_g)(p_g − C)|²``.
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

__all__ = ["TCASamples", "TCAFit", "measure_tca", "fit_tca", "estimate_tca_from_image"]


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


def _radial_sample(plane: np.ndarray, k: float, center: tuple[float, float]) -> np.ndarray:
    """``plane`` read at ``C + k (p - C)`` for every pixel ``p`` (bilinear, edges replicated)."""
    import cv2

    h, w = plane.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = np.float32(center[0]), np.float32(center[1])
    return cv2.remap(plane, cx + np.float32(k) * (xx - cx), cy + np.float32(k) * (yy - cy), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def estimate_tca_from_image(image: np.ndarray, *, border: float = 0.03, iterations: int = 6) -> tuple[float, float]:
    """Lateral CA of an image without a target: the radial scale of red and of blue against green.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), float
        Linear RGB of a picture with edges (any scene), not yet TCA-corrected.
    border : float
        Fraction of the frame left out at each edge.
    iterations : int
        Gauss-Newton steps.

    Returns
    -------
    (kr, kb) : tuple of float
        lensfun's ``linear`` TCA terms: the red (blue) image of a point that green shows at
        radius ``r`` from the centre lies at ``kr · r`` (``kb · r``).

    Raises
    ------
    CalibrationError
        An image without enough edges to measure.

    Notes
    -----
    Brightness constancy, linearised (the Lucas-Kanade idea with a one-parameter radial
    motion): with ``c_k`` the channel read at ``C + k (p - C)``, ``c_k(p) ≈ g(p)`` at the right
    ``k``, and a step ``dk`` gives ``c_{k+dk} − g ≈ c_k − g + dk · ∇g · (p − C) + o`` (``o``: the log of the
    channels' gain ratio). ``dk`` and ``o`` are fitted by least squares over the pixels where
    green's gradient is strongest (top 10 %), on the log of the values lightly blurred, and the
    step is repeated after re-sampling.
    """
    import cv2

    arr = np.asarray(image, np.float32)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise CalibrationError(f"image must be (H, W, 3), got {arr.shape}")
    h, w = arr.shape[:2]
    center = ((w - 1) / 2, (h - 1) / 2)
    logs = [cv2.GaussianBlur(np.log(np.clip(arr[..., c], 1e-4, None)), (0, 0), 1.0) for c in range(3)]
    g = logs[1]
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3) / 8.0
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3) / 8.0
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    inner = (xx > border * w) & (xx < (1 - border) * w) & (yy > border * h) & (yy < (1 - border) * h)
    mag = np.hypot(gx, gy)
    # the strongest 10 % of the gradients, and only real edges (a flat frame has none)
    sel = inner & (mag >= max(float(np.percentile(mag[inner], 90)), 1e-3))
    if sel.sum() < 200:
        raise CalibrationError("too few edges to estimate lateral chromatic aberration")
    s = (gx * (xx - center[0]) + gy * (yy - center[1]))[sel].astype(np.float64)
    A = np.stack([s, np.ones_like(s)], 1)
    gs = g[sel].astype(np.float64)
    out = []
    for c in (0, 2):
        k = 1.0
        for _ in range(iterations):
            ck = _radial_sample(logs[c], k, center)[sel].astype(np.float64)
            (dk, _o), *_ = np.linalg.lstsq(A, -(ck - gs), rcond=None)
            # d c_k / dk = ∇c · (p - C) ≈ s: the step that brings c_k onto g
            k = k + dk
            if abs(dk) < 1e-8:
                break
        out.append(k)
    return float(out[0]), float(out[1])
