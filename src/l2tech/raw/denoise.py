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
from typing import Callable

import numpy as np

from l2tech.errors import UsageError

__all__ = ["NoiseModel", "estimate_noise_model", "estimate_noise_model_cfa", "denoise", "denoise_cfa", "cfa_planes",
           "cfa_mosaic", "cached_noise_model", "NOISE_CACHE_FILE"]

#: Orthonormal opponent transform: luminance (R+G+B)/√3 and two chroma planes.
_OPPONENT = np.array([[1, 1, 1], [1, 0, -1], [1, -2, 1]], np.float64) / np.array([[math.sqrt(3)], [math.sqrt(2)],
                                                                                    [math.sqrt(6)]])
#: Non-local means strengths (in units of the stabilised noise's σ, L1 patch distance) at
#: strength 1, tuned on the ColorChecker DNG with added noise (docs/DEVELOP.md).
H_LUMA, H_CHROMA = 0.8, 1.0
#: The same for the four planes of a Bayer mosaic (:func:`denoise_cfa`), tuned on two 512×512
#: crops of the Kiss X4 mosaic with added noise (docs/DEVELOP.md).
CFA_H_LUMA, CFA_H_CHROMA = 1.0, 1.2
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

    def unstabilise_unbiased(self, d: np.ndarray) -> np.ndarray:
        """Exact unbiased inverse of :meth:`stabilise` (closed-form approximation), for denoised data.

        Parameters
        ----------
        d : ndarray, float
            Denoised stabilised values, i.e. estimates of ``E[stabilise(z) | x]``.

        Returns
        -------
        ndarray, float64
            Linear values ``x`` whose noisy observations ``z`` have ``E[stabilise(z)] = d``
            (1.0 = white), clipped at 0.

        Notes
        -----
        The algebraic inverse is biased where counts are low (the transform is concave, so
        ``E[f(z)] < f(E[z])``). In photon counts ``p = x / a`` with Gaussian deviation
        ``σ = √b / a``, the stabilised value is ``D = 2 √(p + 3/8 + σ²)`` and the closed form of the
        exact unbiased inverse is ``p = D²/4 + √(3/2)/4 · D⁻¹ − 11/8 · D⁻² + 5√(3/2)/8 · D⁻³ − 1/8 − σ²``.

        References
        ----------
        M. Mäkitalo and A. Foi, "Optimal inversion of the generalized Anscombe transformation for
        Poisson-Gaussian noise", IEEE Trans. Image Process. 22(1), 91–103, 2013 (closed-form
        approximation, eq. 22 of their earlier Anscombe paper with the σ² term of the GAT).
        """
        a = max(self.a, 1e-12)
        D = np.maximum(np.asarray(d, np.float64), 1e-3)
        r = math.sqrt(1.5)
        p = D**2 / 4 + r / 4 / D - 11 / 8 / D**2 + 5 * r / 8 / D**3 - 1 / 8 - self.b / (a * a)
        return a * np.maximum(p, 0.0)


def _level_variances(plane: np.ndarray, block: int, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, noise variance) per intensity bin of one plane (1.0 = white): the 10th percentile
    of the flattest blocks' residual variances, chi-square corrected."""
    H, W = plane.shape
    nb_y, nb_x = H // block, W // block
    if nb_y * nb_x < 4 * bins:
        raise UsageError(f"image of {W}x{H} is too small to estimate noise in {block}px blocks")
    blocks = plane[: nb_y * block, : nb_x * block].reshape(nb_y, block, nb_x, block).transpose(0, 2, 1, 3).reshape(-1, block * block)
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
    return np.array(ms), np.array(vs)


def _fit_model(ms: np.ndarray, vs: np.ndarray) -> NoiseModel:
    a, b = np.polyfit(ms, vs, 1)
    return NoiseModel(float(max(a, 0.0)), float(max(b, 1e-12)))


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
    the data as decoded, which is what the denoiser sees. On a mosaic, before demosaicing, use
    :func:`estimate_noise_model_cfa`.
    """
    arr = np.asarray(image)
    g = arr[..., 1].astype(np.float64) / (65535.0 if arr.dtype == np.uint16 else 1.0)
    return _fit_model(*_level_variances(g, block, bins))


def cfa_planes(mosaic: np.ndarray, pattern: str) -> np.ndarray:
    """The four colour planes of a 2×2 CFA mosaic, ordered R, G (first), G (second), B.

    Parameters
    ----------
    mosaic : ndarray, shape (H, W)
        A Bayer mosaic (any dtype); odd trailing rows/columns are dropped.
    pattern : str
        Top-left 2×2 of the CFA in row order, e.g. ``"RGGB"``, ``"BGGR"``, ``"GRBG"``.

    Returns
    -------
    ndarray, shape (H//2, W//2, 4)

    Raises
    ------
    UsageError
        A pattern that is not a Bayer 2×2 (one R, two G, one B).
    """
    pat = pattern.upper()
    if sorted(pat) != ["B", "G", "G", "R"]:
        raise UsageError(f"CFA pattern must be a Bayer 2x2 (one R, two G, one B), got {pattern!r}")
    offs = [(0, 0), (0, 1), (1, 0), (1, 1)]
    g = [o for o, c in zip(offs, pat) if c == "G"]
    order = [offs[pat.index("R")], g[0], g[1], offs[pat.index("B")]]
    h, w = mosaic.shape[0] // 2 * 2, mosaic.shape[1] // 2 * 2
    return np.stack([mosaic[dy:h:2, dx:w:2] for dy, dx in order], -1)


def cfa_mosaic(planes: np.ndarray, pattern: str, out: np.ndarray) -> np.ndarray:
    """Write :func:`cfa_planes`'s four planes back into the mosaic ``out`` (in place; returned)."""
    pat = pattern.upper()
    offs = [(0, 0), (0, 1), (1, 0), (1, 1)]
    g = [o for o, c in zip(offs, pat) if c == "G"]
    order = [offs[pat.index("R")], g[0], g[1], offs[pat.index("B")]]
    h, w = planes.shape[0] * 2, planes.shape[1] * 2
    for i, (dy, dx) in enumerate(order):
        out[dy:h:2, dx:w:2] = planes[..., i]
    return out


def estimate_noise_model_cfa(mosaic: np.ndarray, pattern: str, *, block: int = 8, bins: int = 16) -> NoiseModel:
    """Estimate the sensor's ``a·x + b`` from a RAW mosaic, before demosaicing.

    Parameters
    ----------
    mosaic : ndarray, shape (H, W), float
        The CFA values with the black level subtracted and divided by ``white - black``
        (1.0 = the sensor's white level; rawpy's ``raw_image_visible``, ``black_level_per_channel``
        and ``white_level``).
    pattern : str
        Top-left 2×2 of the CFA (``"RGGB"``).
    block, bins : int
        As for :func:`estimate_noise_model`, per colour plane.

    Returns
    -------
    NoiseModel
        In units of the sensor's white level, before white balance: one model for the four
        planes (a sensor's gain and read noise are the same under every filter; the planes
        differ in signal, which spreads the levels the fit sees).

    Raises
    ------
    UsageError
        A mosaic too small for the blocks, or not a Bayer pattern.

    Notes
    -----
    Each plane of the mosaic is a sampled image whose neighbouring values' noise is
    independent (no demosaic has mixed them), so the per-level block variances of
    :func:`estimate_noise_model` are the sensor's own. The levels of the four planes are pooled
    and ``variance = a·x + b`` is fitted by least squares.

    References
    ----------
    A. Foi, M. Trimeche, V. Katkovnik, K. Egiazarian, "Practical Poissonian-Gaussian noise
    modeling and fitting for single-image raw-data", IEEE TIP 17(10), 2008 (the model; its
    estimator uses level sets of smooth regions, as the flattest blocks here).
    """
    planes = cfa_planes(np.asarray(mosaic, np.float64), pattern)
    ms, vs = zip(*(_level_variances(planes[..., c], block, max(4, bins // 2)) for c in range(4)))
    return _fit_model(np.concatenate(ms), np.concatenate(vs))


#: The per camera + ISO table of estimated noise models, a JSON file in l2tech's cache folder.
NOISE_CACHE_FILE = "noise_models.json"


def cached_noise_model(camera: str, iso: float, estimate: Callable[[], NoiseModel]) -> tuple[NoiseModel, bool]:
    """The noise model of ``camera`` at ``iso`` from the table, or ``estimate()`` stored there.

    Parameters
    ----------
    camera : str
        Camera make and model as the file names them (``"Canon EOS 550D"``).
    iso : float
        ISO speed of the shot (EXIF).
    estimate : callable
        Returns the model when the table has none for this camera and ISO
        (:func:`estimate_noise_model_cfa` on the shot's mosaic).

    Returns
    -------
    (NoiseModel, bool)
        The model, and whether it came from the table.

    Notes
    -----
    The table (``noise_models.json`` in ``$L2TECH_CACHE_DIR`` / ``~/.cache/l2tech``) maps
    ``"<camera>|ISO <iso>"`` to ``[a, b]`` in units of the sensor's white level. A shot's
    estimate depends on its content (flat areas at many levels help); the first shot of a
    camera and ISO sets the entry, and later shots reuse it. A table that cannot be read is
    ignored (and rewritten); one that cannot be written leaves the estimate unstored.
    """
    import json
    import os
    import tempfile

    from l2tech.profiles.lensfun_cache import cache_dir

    key = f"{camera.strip()}|ISO {float(iso):g}"
    path = cache_dir() / NOISE_CACHE_FILE
    table: dict = {}
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
        a, b = table[key]
        return NoiseModel(float(a), float(b)), True
    except (OSError, ValueError, KeyError, TypeError):
        pass
    model = estimate()
    if not isinstance(table, dict):
        table = {}
    table[key] = [model.a, model.b]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".noise-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(table, fh, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        pass
    return model, False


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
        if h > 0:
            out[..., c] = _nlm_plane(z[..., c], h, template_px, search_px)
    return model.unstabilise(out @ _OPPONENT).astype(np.float32)


#: Orthonormal transform of the four CFA planes (R, G, G, B): a luminance-like sum, R − B,
#: G − G (pure noise on most sensors) and R + B − 2G.
_CFA_OPPONENT = np.array([[1, 1, 1, 1], [math.sqrt(2), 0, 0, -math.sqrt(2)], [0, math.sqrt(2), -math.sqrt(2), 0],
                          [1, -1, -1, 1]], np.float64) / 2.0


def _nlm_plane(z: np.ndarray, h: float, template_px: int, search_px: int) -> np.ndarray:
    """OpenCV's 16-bit non-local means of one unit-variance plane with strength ``h`` (σ units)."""
    import cv2

    lo, hi = float(z.min()), float(z.max())
    k = min(_SCALE, 65000.0 / max(hi - lo, 1e-9))  # very clean data: a coarser fixed point
    u = np.clip(np.rint((z - lo) * k), 0, 65535).astype(np.uint16)
    d = cv2.fastNlMeansDenoising(u, h=[float(h * k)], templateWindowSize=int(template_px),
                                 searchWindowSize=int(search_px), normType=cv2.NORM_L1)
    return d.astype(np.float64) / k + lo


def denoise_cfa(mosaic: np.ndarray, pattern: str, model: NoiseModel, *, luma: float = 1.0, chroma: float = 1.0,
                template_px: int = 5, search_px: int = 13) -> np.ndarray:
    """Noise reduction of a RAW mosaic before demosaicing, under the sensor's noise model.

    Parameters
    ----------
    mosaic : ndarray, shape (H, W), float
        Black-subtracted CFA values, 1.0 = the sensor's white level (as for
        :func:`estimate_noise_model_cfa`).
    pattern : str
        Top-left 2×2 of the CFA (``"RGGB"``).
    model : NoiseModel
        The sensor's noise in those units (:func:`estimate_noise_model_cfa`,
        :func:`cached_noise_model`).
    luma, chroma : float
        Strengths (0 = leave that part; 1 = the tuned strength).
    template_px, search_px : int
        Non-local means patch and search window sizes (odd), in pixels of a colour plane.

    Returns
    -------
    ndarray, shape (H, W), float64
        The denoised mosaic in the same units (odd trailing rows/columns as they were).

    Raises
    ------
    UsageError
        Not a 2-D mosaic or a Bayer pattern; negative strengths.

    Notes
    -----
    Each of the four colour planes holds independent Poisson-Gaussian noise of the same model
    (no demosaic has spread it), so the generalized Anscombe transform makes all four unit
    variance; an orthonormal 4×4 transform (a sum and three colour differences) keeps them unit
    variance and uncorrelated; each is denoised by non-local means, the sum with the luminance
    strength and the differences with the chroma strength; the exact unbiased inverse
    (:meth:`NoiseModel.unstabilise_unbiased`) returns to linear values. Demosaicing then
    works on clean data, and its interpolation does not spread noise into colour moiré.

    References
    ----------
    M. Mäkitalo and A. Foi, IEEE TIP 22(1), 2013 (the unbiased inverse); A. Buades, B. Coll,
    J.-M. Morel, CVPR 2005 (non-local means); OpenCV ``cv::fastNlMeansDenoising``.
    """
    arr = np.asarray(mosaic, np.float64)
    if arr.ndim != 2:
        raise UsageError(f"mosaic must be (H, W), got {arr.shape}")
    if not (luma >= 0 and chroma >= 0):
        raise UsageError(f"strengths must be >= 0, got luma={luma}, chroma={chroma}")
    z = model.stabilise(cfa_planes(arr, pattern)) @ _CFA_OPPONENT.T
    out = z.copy()
    for c, h in enumerate((CFA_H_LUMA * luma, CFA_H_CHROMA * chroma, CFA_H_CHROMA * chroma, CFA_H_CHROMA * chroma)):
        if h > 0:
            out[..., c] = _nlm_plane(z[..., c], h, template_px, search_px)
    return cfa_mosaic(model.unstabilise_unbiased(out @ _CFA_OPPONENT), pattern, arr.copy())
