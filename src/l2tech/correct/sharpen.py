"""Capture sharpening: an unsharp mask on the luminance, sized to the lens's blur, with halo control.

Where it runs: on the *display-encoded* image, after the tone curve and before quantisation
(:mod:`l2tech.pipeline.stills`). There the halo limit is in the units a viewer sees (a fixed
fraction of the display range), the tone curve cannot amplify a sharpening overshoot into a
visible halo afterwards, and the noise of deep shadows — compressed by the encoding — is not
lifted. Only the luminance is sharpened (BT.709 luma weights on the encoded values); the
colour differences are left as they are, so colour fringes are not sharpened.

The mask's radius follows the blur the image carries: the diffraction blur of the aperture
(the Airy pattern's core approximated by a Gaussian of σ = 0.42 λ N, λ = 0.55 µm), in pixels of
the sensor's pitch, combined in quadrature with a base blur of demosaicing and the
anti-aliasing filter, and scaled by the output size over the sensor's (a downscaled output
carries less blur per pixel).

References
----------
B. Zhang, J. Zerubia, J.-C. Olivo-Marin, "Gaussian approximations of fluorescence microscope
point-spread function models", Applied Optics 46(10), 2007 (σ ≈ 0.42 λ N for the Airy core);
the unsharp mask with an overshoot clamp as in RawTherapee's "Unsharp Mask" halo control and
darktable's sharpen module (a detail layer from a Gaussian blur, limited to the local range).
"""

from __future__ import annotations

import math

import numpy as np

from l2tech.errors import UsageError

__all__ = ["capture_sharpen_sigma", "unsharp_mask", "LUMA_BT709"]

#: Luma weights of the encoded R'G'B' (ITU-R BT.709-6 item 3.2).
LUMA_BT709 = (0.2126, 0.7152, 0.0722)


def capture_sharpen_sigma(f_number: float | None = None, pixel_pitch_um: float | None = None, *,
                          output_scale: float = 1.0, base_sigma_px: float = 0.6, wavelength_um: float = 0.55) -> float:
    """Radius (Gaussian σ, output pixels) of the blur the capture left in the image.

    Parameters
    ----------
    f_number : float, optional
        The aperture; None leaves out the diffraction term.
    pixel_pitch_um : float, optional
        Sensor pixel pitch in µm; None leaves out the diffraction term.
    output_scale : float
        Output size over the sensor's (0.5 for a half-size output).
    base_sigma_px : float
        Blur of demosaicing and the anti-aliasing filter, sensor pixels.
    wavelength_um : float
        Wavelength of the diffraction term (green, 0.55 µm).

    Returns
    -------
    float
        ``sqrt(base² + (0.42 λ N / pitch)²) · output_scale``, clipped to [0.3, 3] output pixels.

    Raises
    ------
    UsageError
        Non-positive numbers.
    """
    for name, v in (("f_number", f_number), ("pixel_pitch_um", pixel_pitch_um)):
        if v is not None and not (math.isfinite(v) and v > 0):
            raise UsageError(f"{name} must be a positive number, got {v!r}")
    if not (math.isfinite(output_scale) and output_scale > 0 and base_sigma_px >= 0):
        raise UsageError(f"output_scale must be positive and base_sigma_px non-negative, got {output_scale}, {base_sigma_px}")
    diff = 0.42 * wavelength_um * f_number / pixel_pitch_um if f_number and pixel_pitch_um else 0.0
    return float(np.clip(math.hypot(base_sigma_px, diff) * output_scale, 0.3, 3.0))


def unsharp_mask(image: np.ndarray, sigma_px: float, amount: float, *, halo: float = 0.01,
                 threshold: float = 0.0) -> np.ndarray:
    """Sharpen the luminance of a display-encoded image, with its overshoot limited.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), float32
        Display-encoded R'G'B' in [0, 1] (the output of the encoding curve).
    sigma_px : float
        Gaussian σ of the blur the mask removes, pixels (:func:`capture_sharpen_sigma`).
    amount : float
        Gain of the detail layer (0 = off; 0.5-1.5 typical).
    halo : float
        Halo control: the sharpened luma stays within the range of its neighbourhood (a
        window of radius ``2σ``), widened by ``halo`` (encoded units). 0 = no overshoot at all.
    threshold : float
        Detail below this (encoded units) is not sharpened (keeps flat noise flat).

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        ``image + (Y'_sharp - Y')`` per channel, clipped to [0, 1]; a new array.

    Raises
    ------
    UsageError
        Not a float ``(H, W, 3)`` image, or a non-positive σ, negative amount, halo or threshold.

    Notes
    -----
    ``Y' = image · LUMA_BT709``; ``detail = Y' - G_σ(Y')`` with ``|detail| < threshold`` set to
    0; ``Y'_sharp = clip(Y' + amount · detail, min_w(Y') - halo, max_w(Y') + halo)``, where
    ``min_w``/``max_w`` are the grey erosion/dilation over the window.
    """
    import cv2

    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype.kind != "f":
        raise UsageError(f"image must be float (H, W, 3), got {img.dtype} {img.shape}")
    if not (math.isfinite(sigma_px) and sigma_px > 0) or not amount >= 0 or not halo >= 0 or not threshold >= 0:
        raise UsageError(f"need sigma_px > 0, amount, halo, threshold >= 0; got {sigma_px}, {amount}, {halo}, {threshold}")
    x = img.astype(np.float32, copy=False)
    if amount == 0:
        return x.copy()
    y = np.ascontiguousarray(x @ np.asarray(LUMA_BT709, np.float32))
    blur = cv2.GaussianBlur(y, (0, 0), sigmaX=float(sigma_px), sigmaY=float(sigma_px), borderType=cv2.BORDER_REFLECT)
    detail = y - blur
    if threshold > 0:
        detail[np.abs(detail) < threshold] = 0.0
    r = max(1, int(math.ceil(2 * sigma_px)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    lo = cv2.erode(y, kernel, borderType=cv2.BORDER_REFLECT) - np.float32(halo)
    hi = cv2.dilate(y, kernel, borderType=cv2.BORDER_REFLECT) + np.float32(halo)
    ys = np.clip(y + np.float32(amount) * detail, lo, hi)
    return np.clip(x + (ys - y)[..., None], 0.0, 1.0).astype(np.float32)
