"""Noise reduction of scene-linear RAW data: a Poisson-Gaussian noise model and non-local means.

A sensor's noise in linear data is signal dependent: variance ``a·x + b`` (shot noise with the
gain ``a``, read noise ``b``; 1.0 = white). The generalized Anscombe transform turns it into
noise of unit variance everywhere; an orthonormal opponent transform splits luminance from
two chroma planes (still unit variance); OpenCV's non-local means (16-bit, L1 patch distance)
denoises each plane with a strength for luminance and one for chroma; the transforms are undone.

Why OpenCV's non-local means: it is a maintained, multi-threaded implementation that takes
16-bit data; with the variance stabilised, one strength fits the whole tonal range. BM3D (the
``bm3d`` package) is 0.6 dB better on the test image but about 100× slower
(``benchmarks/bench_denoise.py``). What l2tech adds is the noise model, the variance
stabilisation and the luminance/chroma split.

Where: on linear data right after decoding, before the fused develop pass (the noise model
holds for linear values; after the tone curve and the encoding it would not).

References
----------
F. Murtagh, J.-L. Starck, A. Bijaoui, "Image restoration with noise suppression using a
multiresolution support", Astron. Astrophys. Suppl. 112, 1995 (the generalized Anscombe
transform); A. Foi et al., "Practical Poissonian-Gaussian noise modeling and fitting for
single-image raw-data", IEEE TIP 17(10), 2008 (the ``a·x + b`` model and its estimation from
one image); A. Buades, B. Coll, J.-M. Morel, "A non-local algorithm for image denoising",
CVPR 2005; OpenCV ``cv::fastNlMeansDenoising`` (photo module).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from l2tech.errors import UsageError

__all__ = ["NoiseModel", "estimate_noise_model", "denoise"]

#: Orthonormal opponent transform: luminance (R+G+B)/√3 and two chroma planes.
_OPPONENT = np.array([[1, 1, 1], [1, 0, -1], [1, -2, 1]], np.float64) / np.array([[math.sqrt(3)], [math.sqrt(2)],
                                                                                    [math.sqrt(6)]])
#: Non-local means strengths (in units of the stabilised noise's σ, L1 patch distance) at
#: strength 1, tuned on the ColorChecker DNG with added noise (docs/DEVELOP.md).
H_LUMA, H_CHROMA = 0.8, 1.0
#: Fixed-point scale of the stabilised planes handed to OpenCV (σ = 32 codes of 16 bits, less
#: when a plane's range would not fit).
_SCALE = 32.0


@dataclass(frozen=True)
class NoiseModel:
    """Poisson-Gaussian noise of linear data: ``variance(x) = a·x + b`` (1.0 = white).

    Parameters
    ----------
    a : float
        Shot-noise gain (≥ 0): the variance per unit of signal.
    b : float
        Signal-independent (read-noise) variance (≥ 0).
    """

    a: float
    b: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.a) and math.isfinite(self.b) and self.a >= 0 and self.b >= 0 and self.a + self.b > 0):
            raise UsageError(f"noise model needs a, b >= 0, not both 0; got a={self.a}, b={self.b}")

    def variance(self, x: np.ndarray) -> np.ndarray:
        """Noise variance at linear values ``x``."""
        return self.a * np.maximum(np.asarray(x, np.float64), 0.0) + self.b

    def stabilise(self, x: np.ndarray) -> np.ndarray:
        """Generalized Anscombe transform: linear values → values with unit noise variance."""
        a, b = max(self.a, 1e-12), self.b
        return 2.0 / a * np.sqrt(np.maximum(a * np.asarray(x, np.float64) + 0.375 * a * a + b, 0.0))

    def unstabilise(self, z: np.ndarray) -> np.ndarray:
        """Algebraic inverse of :meth:`stabilise`."""
        a, b = max(self.a, 1e-12), self.b
        return ((a * np.asarray(z, np.float64) / 2.0) ** 2 - 0.375 * a * a - b) / a


def estimate_noise_model(image: np.ndarray, *, block: int = 8, bins: int = 16) -> NoiseModel:
    """Estimate ``a`` and ``b`` from one image: the variance of its flattest blocks per level.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), float (1.0 = white) or uint16 (65535 = white)
        Scene-linear RGB, as decoded.
    block : int
        Block size in pixels.
    bins : int
        Intensity bins; in each, the 10th percentile of the block variances, divided by that
        percentile of a chi-square variance of pure noise, is taken as the noise variance there
        (the flattest blocks hold little texture).

    Returns
    -------
    NoiseModel
        Least-squares fit of ``variance = a·mean + b`` over the bins, on the green channel;
        ``a, b`` clipped at 0.

    Raises
    ------
    UsageError
        An image too small for the blocks.

    Notes
    -----
    The variance is measured on the residual after removing each block's plane fit (a gradient
    is not noise). Demosaicing correlates the noise of neighbouring pixels; the model describes
    the data as decoded, which is what the denoiser sees.
    """
    arr = np.asarray(image)
    g = arr[..., 1].astype(np.float64) / (65535.0 if arr.dtype == np.uint16 else 1.0)
    H, W = g.shape
    nb_y, nb_x = H // block, W // block
    if nb_y * nb_x < 4 * bins:
        raise UsageError(f"image of {W}x{H} is too small to estimate noise in {block}px blocks")
    blocks = g[: nb_y * block, : nb_x * block].reshape(nb_y, block, nb_x, block).transpose(0, 2, 1, 3).reshape(-1, block * block)
    yy, xx = np.mgrid[0:block, 0:block].reshape(2, -1).astype(np.float64)
    A = np.stack([np.ones_like(xx), xx, yy], 1)
    coef, *_ = np.linalg.lstsq(A, blocks.T, rcond=None)
    resid = blocks - (A @ coef).T
    var = resid.var(axis=1) * (block * block) / (block * block - 3)
    mean = blocks.mean(axis=1)
    ok = (mean > 0.002) & (mean < 0.9)
    mean, var = mean[ok], var[ok]
    if mean.size < 2 * bins:
        raise UsageError("too few unclipped blocks to estimate the noise")
    # the 10th percentile of a sample variance of pure noise, over its mean: chi-square with
    # df = block² - 3 (Wilson-Hilferty approximation, z = -1.2816)
    df = block * block - 3
    q10 = (1 - 2 / (9 * df) - 1.2816 * math.sqrt(2 / (9 * df))) ** 3
    edges = np.quantile(mean, np.linspace(0, 1, bins + 1))
    ms, vs = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (mean >= lo) & (mean <= hi)
        if sel.sum() >= 8:
            ms.append(float(np.median(mean[sel])))
            vs.append(float(np.percentile(var[sel], 10)) / q10)
    a, b = np.polyfit(np.array(ms), np.array(vs), 1)
    return NoiseModel(float(max(a, 0.0)), float(max(b, 1e-12)))


def denoise(image: np.ndarray, model: NoiseModel, *, luma: float = 1.0, chroma: float = 1.0,
            template_px: int = 5, search_px: int = 17) -> np.ndarray:
    """Luminance and chroma noise reduction of scene-linear RGB under ``model``.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), float32 (1.0 = white) or uint16 (65535 = white)
        Scene-linear RGB.
    model : NoiseModel
        The image's noise (:func:`estimate_noise_model`, or known for the camera and ISO).
    luma, chroma : float
        Strengths (0 = leave that part; 1 = the tuned strength).
    template_px, search_px : int
        Non-local means patch and search window sizes (odd).

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        Denoised scene-linear RGB (1.0 = white); values above 1 are kept.

    Raises
    ------
    UsageError
        Not an ``(H, W, 3)`` image, negative strengths.
    """
    import cv2

    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise UsageError(f"image must be (H, W, 3), got {arr.shape}")
    if not (luma >= 0 and chroma >= 0):
        raise UsageError(f"strengths must be >= 0, got luma={luma}, chroma={chroma}")
    x = arr.astype(np.float64) / (65535.0 if arr.dtype == np.uint16 else 1.0)
    z = model.stabilise(x) @ _OPPONENT.T
    out = z.copy()
    for c, h in enumerate((H_LUMA * luma, H_CHROMA * chroma, H_CHROMA * chroma)):
        if h <= 0:
            continue
        lo, hi = float(z[..., c].min()), float(z[..., c].max())
        k = min(_SCALE, 65000.0 / max(hi - lo, 1e-9))  # very clean data: a coarser fixed point
        u = np.clip(np.rint((z[..., c] - lo) * k), 0, 65535).astype(np.uint16)
        d = cv2.fastNlMeansDenoising(u, h=[float(h * k)], templateWindowSize=int(template_px),
                                     searchWindowSize=int(search_px), normType=cv2.NORM_L1)
        out[..., c] = d.astype(np.float64) / k + lo
    return model.unstabilise(out @ _OPPONENT).astype(np.float32)
