"""Capture sharpening (l2tech.correct.sharpen), measured by the slanted-edge method of ISO 12233.

The measurement is implemented here, independently of the code under test: the edge is located
per row by the centroid of the row's derivative and fitted with a line (ISO 12233:2017 §6.3,
"sfrmat" procedure), the pixels are projected onto the edge normal and binned at 1/4 pixel into
an oversampled edge spread function (ESF), differentiated into the line spread function (LSF),
windowed (Hamming), and Fourier transformed; MTF50 is the frequency where the modulus falls to
half its value at 0. Overshoot is the ESF's excursion beyond the bright plateau, as a fraction
of the edge's height.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from l2tech.correct.sharpen import capture_sharpen_sigma, unsharp_mask
from l2tech.errors import UsageError

#: Acceptance (issue 15): MTF50 rises at least 15 %, overshoot at most 10 %.
MTF50_GAIN_MIN = 1.15
OVERSHOOT_MAX = 0.10


def _slanted_edge(sigma_px: float, angle_deg: float = 5.0, size: int = 128, lo: float = 0.2, hi: float = 0.8,
                  oversample: int = 8) -> np.ndarray:
    """A dark/bright edge at ``angle_deg`` from vertical, blurred by a Gaussian PSF of ``sigma_px``
    (rendered at ``oversample``× and area-averaged to pixels), as display-encoded RGB."""
    import cv2

    n = size * oversample
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float64) / oversample
    t = math.tan(math.radians(angle_deg))
    sharp = np.where(xx - size / 2 - (yy - size / 2) * t > 0, hi, lo).astype(np.float32)
    s = sigma_px * oversample
    blurred = cv2.GaussianBlur(sharp, (0, 0), sigmaX=s, sigmaY=s, borderType=cv2.BORDER_REPLICATE)
    px = blurred.reshape(size, oversample, size, oversample).mean(axis=(1, 3))
    return np.repeat(px[..., None], 3, axis=2).astype(np.float32)


def _esf_mtf(img: np.ndarray, margin: int = 16) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(ESF at 1/4 px, frequencies in cycles/pixel, MTF) of a near-vertical edge, ISO 12233 style."""
    g = img[margin:-margin, margin:-margin, 1].astype(np.float64)
    h, w = g.shape
    d = np.diff(g, axis=1)
    cols = np.arange(w - 1) + 0.5
    centroid = (d * cols).sum(1) / d.sum(1)
    rows = np.arange(h)
    slope, intercept = np.polyfit(rows, centroid, 1)
    xx, yy = np.meshgrid(np.arange(w), rows)
    dist = (xx - (slope * yy + intercept)) / math.hypot(1.0, slope)  # distance along the edge normal
    q = 4
    bins = np.round(dist * q).astype(np.int64)
    keep = np.abs(bins) <= 24 * q
    b = bins[keep] - bins[keep].min()
    esf = np.bincount(b, weights=g[keep]) / np.maximum(np.bincount(b), 1)
    lsf = np.gradient(esf) * np.hamming(esf.size)
    mtf = np.abs(np.fft.rfft(lsf))
    mtf /= mtf[0]
    freq = np.fft.rfftfreq(lsf.size, d=1.0 / q)
    return esf, freq, mtf


def _mtf50(freq: np.ndarray, mtf: np.ndarray) -> float:
    i = int(np.argmax(mtf < 0.5))
    return float(freq[i - 1] + (0.5 - mtf[i - 1]) * (freq[i] - freq[i - 1]) / (mtf[i] - mtf[i - 1]))


def _overshoot(esf: np.ndarray, lo: float = 0.2, hi: float = 0.8) -> float:
    return float(max(esf.max() - hi, lo - esf.min()) / (hi - lo))


def test_slanted_edge_measurement_reads_a_known_gaussian():
    """Self-check of the measurement: a Gaussian PSF of σ has MTF(f) = exp(-2 π² σ² f²), so
    MTF50 = sqrt(ln 2 / 2) / (π σ) (σ = 1.2 px: 0.1562 cy/px); the edge reads it within 3 %
    (pixel-area sampling adds a little blur)."""
    sigma = 1.2
    _, freq, mtf = _esf_mtf(_slanted_edge(sigma))
    want = math.sqrt(math.log(2) / 2) / (math.pi * sigma)
    assert _mtf50(freq, mtf) == pytest.approx(want, rel=0.03)


@pytest.mark.parametrize("f_number", [2.8, 8.0, 16.0])
def test_sharpening_raises_mtf50_with_little_overshoot(f_number):
    """An edge blurred as the lens and sensor blur it at f/N on a 4.3 µm pitch (the mask's own σ
    model) is sharpened with amount 1: MTF50 rises ≥ 15 % (measured +27 to +32 %), overshoot
    ≤ 10 % of the edge (measured 1.7 %)."""
    sigma = capture_sharpen_sigma(f_number, 4.3)
    img = _slanted_edge(sigma)
    esf0, f0, m0 = _esf_mtf(img)
    out = unsharp_mask(img, sigma, amount=1.0, halo=0.01)
    esf1, f1, m1 = _esf_mtf(out)
    gain = _mtf50(f1, m1) / _mtf50(f0, m0)
    over = _overshoot(esf1)
    print(f"f/{f_number}: sigma {sigma:.2f} px, MTF50 {_mtf50(f0, m0):.3f} -> {_mtf50(f1, m1):.3f} cy/px "
          f"(x{gain:.2f}), overshoot {over * 100:.1f} %")
    assert gain >= MTF50_GAIN_MIN and over <= OVERSHOOT_MAX, (gain, over)
    # a strong mask (amount 3): the halo clamp holds the overshoot at halo / edge height
    # (0.01 / 0.6 = 1.7 %), where the same mask without it overshoots several times more
    strong = _overshoot(_esf_mtf(unsharp_mask(img, sigma, amount=3.0, halo=0.01))[0])
    free = _overshoot(_esf_mtf(unsharp_mask(img, sigma, amount=3.0, halo=1.0))[0])
    assert strong <= 0.01 / 0.6 + 1e-3 and free > 3 * strong, (strong, free)


def test_sigma_model_and_errors():
    """σ = hypot(0.6, 0.42·0.55·N/pitch) · scale: f/16 on 4.3 µm → hypot(0.6, 0.8595) = 1.048 px."""
    assert capture_sharpen_sigma(16, 4.3) == pytest.approx(math.hypot(0.6, 0.42 * 0.55 * 16 / 4.3), rel=1e-12)
    assert capture_sharpen_sigma(16, 4.3, output_scale=0.5) == pytest.approx(0.5 * capture_sharpen_sigma(16, 4.3))
    assert capture_sharpen_sigma() == pytest.approx(0.6)
    with pytest.raises(UsageError):
        capture_sharpen_sigma(-2, 4.3)
    with pytest.raises(UsageError):
        unsharp_mask(np.zeros((4, 4, 3), np.uint8), 1.0, 1.0)
    flat = np.full((16, 16, 3), 0.4, np.float32)
    assert np.array_equal(unsharp_mask(flat, 1.0, 1.0), flat)  # nothing to sharpen


def test_develop_sharpens_the_encoded_image():
    """Recipe(sharpen=1) on a real RAW: the develop's display-encoded image, then the mask with
    σ from the shot (f/5.6, pixel pitch from the 6D's crop factor 1 and the file's
    1224x816 pixels) — the same as sharpening develop()'s unsharpened output (float32 rounding)."""
    from conftest import shared_file
    from l2tech.pipeline import Recipe, develop

    path = shared_file("raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng")
    plain = develop(path, Recipe()).image
    sharp = develop(path, Recipe(sharpen=1.0)).image
    sigma = capture_sharpen_sigma(5.6, 43.267 * 1000 / math.hypot(1224, 816))
    assert np.abs(sharp - unsharp_mask(plain, sigma, 1.0, halo=0.01)).max() < 2e-5  # float32 rounding (measured 7e-6)
    assert np.abs(sharp - plain).max() > 10 / 255
    with pytest.raises(UsageError, match="sharpen"):
        Recipe(sharpen=-1)
