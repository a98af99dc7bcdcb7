"""Highlight reconstruction: clipped sensor channels rebuilt from the unclipped ones.

A sensor channel that saturates stops at its white level; after white balance the three
channels of white-balanced camera RGB clip at different values (``clip_levels``: the channel
with the smallest multiplier, usually green, clips first). Left alone, a highlight where only
green clipped turns magenta; clipped to the smallest level (LibRaw's default ``clip`` mode), it
turns a flat grey. :func:`reconstruct_highlights` rebuilds each clipped channel from the
*opposed* channels (the mean of the other two) plus the chroma offset measured on the
unclipped pixels around the same clipped region, the "inpaint opposed" idea of darktable's
highlight reconstruction module; the values it returns may exceed the clip level, and the
tone stage (:mod:`l2tech.color.tone`) rolls them off.

LibRaw's own modes are offered as the baseline (:data:`HIGHLIGHT_MODES`): ``blend`` (mode 2)
and ``rebuild`` (mode 5), run by LibRaw during its develop.

References
----------
H. Schwalm, darktable ``src/iop/hlreconstruct/opposed.c`` (darktable 4.2, 2022): inpaint
opposed highlight reconstruction. LibRaw API notes, ``libraw_output_params_t::highlight``
(0 clip, 1 unclip, 2 blend, 3-9 rebuild).
"""

from __future__ import annotations

import numpy as np

from l2tech.errors import UsageError

__all__ = ["HIGHLIGHT_MODES", "reconstruct_highlights", "clipped_mask"]

#: Highlight modes: name -> LibRaw ``highlight`` value (None: LibRaw unclipped data, then
#: :func:`reconstruct_highlights`).
HIGHLIGHT_MODES: dict[str, int | None] = {"clip": 0, "blend": 2, "rebuild": 5, "reconstruct": None}


def clipped_mask(camera_rgb: np.ndarray, clip_levels: np.ndarray, threshold: float = 0.99) -> np.ndarray:
    """Channels at or above ``threshold`` times their clip level.

    Parameters
    ----------
    camera_rgb : ndarray, shape (H, W, 3), float
        White-balanced linear camera RGB.
    clip_levels : array_like, shape (3,)
        Value at which each channel saturates.
    threshold : float
        Fraction of the clip level counted as clipped (demosaicing smears the edge of a
        clipped area a little below the level).

    Returns
    -------
    ndarray, shape (H, W, 3), bool
    """
    lv = np.asarray(clip_levels, np.float64).reshape(3)
    return np.asarray(camera_rgb) >= (threshold * lv).astype(np.float32)


def reconstruct_highlights(camera_rgb: np.ndarray, clip_levels: np.ndarray, *, threshold: float = 0.99,
                           band_px: int = 4) -> np.ndarray:
    """Rebuild clipped channels from the opposed channels and their surroundings' chroma.

    Parameters
    ----------
    camera_rgb : ndarray, shape (H, W, 3), float32
        White-balanced linear camera RGB (before the camera matrix), as the sensor clipped it.
    clip_levels : array_like, shape (3,)
        Value at which each channel saturates (the white level times the channel's
        white-balance multiplier, in the image's units).
    threshold : float
        See :func:`clipped_mask`.
    band_px : int
        Width of the band of unclipped pixels around each clipped region whose chroma is
        measured.

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        A new image: unclipped pixels unchanged; in clipped channels
        ``max(value, opposed + offset)``, where ``opposed`` is the mean of the pixel's two other
        channels and ``offset`` the mean of ``channel - opposed`` over the region's band
        (over every band of the image when a region has none). Values may exceed the clip
        level. Pixels with all three channels clipped keep their values (nothing is left to
        rebuild them from).

    Raises
    ------
    UsageError
        Not an ``(H, W, 3)`` image, or clip levels that are not three positive numbers.

    Notes
    -----
    Scene-linear in and out. Regions are the connected components (8-connected) of the
    clipped pixels grown by ``band_px``; their band is the grown part with no clipped channel.

    References
    ----------
    darktable ``src/iop/hlreconstruct/opposed.c`` (the opposed-channel estimate and the chroma
    correction from unclipped neighbours).
    """
    import cv2

    img = np.asarray(camera_rgb)
    if img.ndim != 3 or img.shape[2] != 3:
        raise UsageError(f"camera_rgb must be (H, W, 3), got {img.shape}")
    lv = np.asarray(clip_levels, np.float64).reshape(-1)
    if lv.size != 3 or not np.all(np.isfinite(lv)) or not np.all(lv > 0):
        raise UsageError(f"clip_levels must be three positive numbers, got {clip_levels!r}")
    x = img.astype(np.float32, copy=True)
    mask = clipped_mask(x, lv, threshold)
    anyc = mask.any(axis=2)
    if not anyc.any():
        return x
    k = 2 * int(band_px) + 1
    grown = cv2.dilate(anyc.astype(np.uint8), np.ones((k, k), np.uint8)) > 0
    n, labels = cv2.connectedComponents(grown.astype(np.uint8), connectivity=8)
    band = grown & ~anyc
    opposed = np.stack([(x[..., 1] + x[..., 2]) / 2, (x[..., 0] + x[..., 2]) / 2, (x[..., 0] + x[..., 1]) / 2], -1)
    lab = labels[band]
    count = np.bincount(lab, minlength=n).astype(np.float64)
    out = x.copy()
    for c in range(3):
        diff = (x[..., c] - opposed[..., c])[band].astype(np.float64)
        sums = np.bincount(lab, weights=diff, minlength=n)
        glob = float(diff.mean()) if diff.size else 0.0
        offset = np.where(count > 0, sums / np.maximum(count, 1), glob)
        m = mask[..., c]
        est = opposed[..., c][m] + offset[labels[m]].astype(np.float32)
        out[..., c][m] = np.maximum(x[..., c][m], est)
    full = mask.all(axis=2)
    out[full] = x[full]
    return out
