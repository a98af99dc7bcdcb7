"""Vignetting from flat-field shots: radial profile and lensfun ``pa`` fit.

A flat field is a shot of a uniformly lit, featureless surface (a diffuser over the lens),
in *linear* data (RAW developed with ``gamma=(1, 1)``). lensfun's ``pa`` model gives the
falloff ``g(r) = 1 + k1 r² + k2 r⁴ + k3 r⁶`` with r = 1 at the corner (half-diagonal) of the
calibration sensor (OPTICS.md §1); the observed flat is ``I0 · g(r)``, linear in
``(I0, I0 k1, I0 k2, I0 k3)``, so one linear least-squares solve fits it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from l2tech.errors import CalibrationError
from l2tech.profiles.model import VignettingCalibration

__all__ = ["VignettingFit", "characterise_vignetting", "vignetting_radius"]


@dataclass(frozen=True)
class VignettingFit:
    """A ``pa`` fit with its diagnostics.

    Parameters
    ----------
    calibration : VignettingCalibration
        lensfun ``pa`` terms ``k1, k2, k3``.
    r, profile : ndarray, shape (M,), float64
        Radial profile: bin centres (lensfun units, r = 1 at the corner) and the mean flat
        level in each bin relative to the fitted centre level ``I0``.
    rms : float
        RMS of the relative residual ``observed / (I0 g) - 1`` over the frame.
    clipped_fraction : float
        Fraction of pixels at or above the clip level.
    asymmetry : float
        Largest relative difference between opposite half-frames after the radial fit.
    """

    calibration: VignettingCalibration
    r: np.ndarray
    profile: np.ndarray
    rms: float
    clipped_fraction: float
    asymmetry: float


def vignetting_radius(width: int, height: int, size: tuple[int, int] | None = None) -> np.ndarray:
    """lensfun ``pa`` radius of each pixel: r = 1 at the image corner (pixel centres).

    Parameters
    ----------
    width, height : int
        Full image size, px.
    size : tuple of int, optional
        ``(w, h)`` of a block-averaged version of the image; radii are then returned at its
        block centres.

    Returns
    -------
    ndarray, shape (h, w), float64
    """
    w, h = size or (width, height)
    sx, sy = width / w, height / h
    x = (np.arange(w) + 0.5) * sx - 0.5 - (width - 1) / 2.0
    y = (np.arange(h) + 0.5) * sy - 0.5 - (height - 1) / 2.0
    return np.hypot(x[None, :], y[:, None]) * 2.0 / np.hypot(width, height)


def characterise_vignetting(
    flat: np.ndarray,
    *,
    focal_length_mm: float,
    f_number: float,
    focus_distance_m: float = 1000.0,
    clip_level: float = 0.98,
    max_clipped_fraction: float = 1e-3,
    max_rms: float = 0.02,
    max_asymmetry: float = 0.03,
    name: str = "",
    block: int = 8,
) -> VignettingFit:
    """Fit lensfun's ``pa`` vignetting model to one flat field.

    Parameters
    ----------
    flat : ndarray, shape (H, W, 3) or (H, W), float32
        Scene-linear flat field, [0, 1] with 1 = white level (as from
        :func:`l2tech.calibrate.read_calibration_image` on a RAW file).
    focal_length_mm, f_number, focus_distance_m : float
        Settings of the shot (the calibration point).
    clip_level : float
        Pixels at or above this level count as clipped.
    max_clipped_fraction, max_rms, max_asymmetry : float
        Limits beyond which the flat is refused (clipped, not radially smooth, uneven
        lighting).
    name : str
        File name for error messages.
    block : int
        Block size for averaging before the fit (noise and speed).

    Returns
    -------
    VignettingFit

    Raises
    ------
    CalibrationError
        Clipped, too dark, uneven or not radially symmetric flat field (message names the
        measured value and the limit).

    Notes
    -----
    Input must be linear; the mean of the three channels is fitted (lensfun has one ``pa``
    set for all channels). The calibration sensor is this image, so r = 1 at its corner.

    References
    ----------
    lensfun ``libs/lensfun/mod-color.cpp`` (``pa``: ``1 + k1 r² + k2 r⁴ + k3 r⁶``, r = 1 at
    the half-diagonal); lensfun ``docs/manual-main.txt`` (vignetting calibration).
    """
    img = np.asarray(flat, np.float64)
    if img.ndim == 3:
        clipped = float(np.mean(np.any(img >= clip_level, axis=-1)))
        img = img.mean(axis=-1)
    else:
        clipped = float(np.mean(img >= clip_level))
    if not np.isfinite(img).all():
        raise CalibrationError("flat field has NaN or infinite values", path=name or None)
    if clipped > max_clipped_fraction:
        raise CalibrationError(
            f"flat field is clipped: {clipped:.2%} of pixels at or above {clip_level:g} "
            f"(limit {max_clipped_fraction:.2%}); expose 1-2 stops darker",
            path=name or None,
        )
    H, W = img.shape
    h, w = H // block, W // block
    if h < 8 or w < 8:
        raise CalibrationError(f"flat field too small ({W}x{H}); at least {8 * block}x{8 * block} needed", path=name or None)
    small = img[: h * block, : w * block].reshape(h, block, w, block).mean(axis=(1, 3))
    r = vignetting_radius(W, H) [: h * block, : w * block].reshape(h, block, w, block).mean(axis=(1, 3))
    if np.median(small) < 0.02:
        raise CalibrationError(
            f"flat field too dark (median {np.median(small):.4f} of white); expose brighter", path=name or None
        )
    A = np.stack([np.ones_like(r), r**2, r**4, r**6], axis=-1).reshape(-1, 4)
    coef, *_ = np.linalg.lstsq(A, small.ravel(), rcond=None)
    i0 = coef[0]
    if i0 <= 0:
        raise CalibrationError("flat field fit failed (non-positive centre level)", path=name or None)
    k = coef[1:] / i0
    model = i0 * (A[:, 1:] @ k + 1.0)
    rel = small.ravel() / model - 1.0
    rms = float(np.sqrt(np.mean(rel**2)))
    relimg = rel.reshape(h, w)
    asym = float(
        max(
            abs(relimg[:, : w // 2].mean() - relimg[:, w - w // 2 :].mean()),
            abs(relimg[: h // 2].mean() - relimg[h - h // 2 :].mean()),
        )
    )
    if asym > max_asymmetry:
        raise CalibrationError(
            f"flat field is unevenly lit: opposite halves differ by {asym:.1%} after the radial fit "
            f"(limit {max_asymmetry:.0%}); light the diffuser evenly",
            path=name or None,
        )
    if rms > max_rms:
        raise CalibrationError(
            f"flat field is not flat: {rms:.1%} RMS deviation from a radial falloff (limit {max_rms:.0%}); "
            "use a featureless, evenly lit diffuser",
            path=name or None,
        )
    bins = np.linspace(0, r.max(), 41)
    idx = np.clip(np.digitize(r.ravel(), bins) - 1, 0, 39)
    cnt = np.bincount(idx, minlength=40)
    prof = np.bincount(idx, weights=small.ravel() / i0, minlength=40)
    ok = cnt > 0
    centres = 0.5 * (bins[:-1] + bins[1:])
    cal = VignettingCalibration(
        "pa", float(focal_length_mm), float(f_number), float(focus_distance_m),
        {"k1": float(k[0]), "k2": float(k[1]), "k3": float(k[2])},
    )
    return VignettingFit(cal, centres[ok], prof[ok] / cnt[ok], rms, clipped, asym)
