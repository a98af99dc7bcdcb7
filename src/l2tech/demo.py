"""The embedded demo: a test chart rendered through a real database lens, then corrected.

:func:`render_chart` draws a grid of straight dark lines and a row of grey patches in linear
light; :func:`l2tech.correct.simulate_lens` renders it through a lensfun profile (distortion,
TCA, vignetting); :func:`run_demo` writes that as a 16-bit TIFF whose EXIF names the camera and
lens, runs the normal ``l2 correct`` path on it (automatic matching included), and measures
the chart before and after with :func:`measure_chart`.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["DEMO_CAMERA", "DEMO_LENS", "ChartMetrics", "render_chart", "measure_chart", "run_demo"]

DEMO_CAMERA = ("Panasonic", "DC-S5")
DEMO_LENS = ("Panasonic", "LUMIX S 20-60/F3.5-5.6")  # the EXIF LensModel spelling of the camera
DEMO_FOCAL_MM = 20.0
DEMO_F_NUMBER = 3.5
_BACKGROUND = 0.55
_LINE_DEPTH = 0.92


def render_chart(width: int = 1800, height: int = 1200, spacing: int = 100, line_width: float = 3.0) -> np.ndarray:
    """A grid of straight dark lines on a light ground, with a row of grey patches, in linear light.

    Parameters
    ----------
    width, height : int
        Image size in pixels.
    spacing : int
        Distance between grid lines in pixels; lines are centred on the image centre.
    line_width : float
        Line width in pixels (edges are area-sampled, so lines are anti-aliased).

    Returns
    -------
    ndarray, shape (height, width, 3), float32
        Scene-linear, neutral (R = G = B); ground 0.55, lines 8 % of their surroundings.
    """
    cx, cy = (width - 1) / 2, (height - 1) / 2
    x = np.arange(width, dtype=np.float32) - cx
    y = np.arange(height, dtype=np.float32) - cy

    def coverage(t: np.ndarray) -> np.ndarray:
        d = np.abs((t + spacing / 2) % spacing - spacing / 2)  # distance to the nearest line centre
        return np.clip(line_width / 2 + 0.5 - d, 0, 1)

    # grey ramp: the cells of the row just below the centre, from 2 % to 100 % of the ground;
    # no vertical lines cross it, so every line measured has a plain ground on both sides
    row = (y >= spacing * 0) & (y < spacing * 1)
    vertical = np.where(row[:, None], 0.0, coverage(x)[None, :])
    cov = np.maximum(vertical, coverage(y)[:, None])
    ground = np.full((height, width), _BACKGROUND, np.float32)
    cells = np.floor(x / spacing).astype(int)
    ncell = int(np.ceil(width / spacing))
    levels = np.geomspace(0.02, 1.0, ncell).astype(np.float32)
    ramp = levels[np.clip(cells + ncell // 2, 0, ncell - 1)]
    ground[row, :] *= ramp[None, :]
    img = ground * (1 - _LINE_DEPTH * cov)
    return np.repeat(img[..., None], 3, axis=2).astype(np.float32)


@dataclass(frozen=True)
class ChartMetrics:
    """Measurements of a rendered chart.

    Attributes
    ----------
    straightness_px : float
        Largest deviation of a grid line from its best straight fit, in pixels.
    fringe_px : float
        Largest red–blue offset of a grid line's position (color fringe width), in pixels.
    corner_falloff_pct : float
        Ground brightness lost in the corners relative to the centre, in percent (linear light).
    lines_measured : int
    """

    straightness_px: float
    fringe_px: float
    corner_falloff_pct: float
    lines_measured: int


def _track(image: np.ndarray, start: float, spacing: int, axis: int, step: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Follow one line across the image; return positions (along, green, red, blue centroid)."""
    img = image if axis == 0 else np.swapaxes(image, 0, 1)  # horizontal lines: rows vary
    h, w = img.shape[:2]
    half = spacing // 2 - 2
    c0 = (w - 1) / 2
    out: dict[int, tuple[float, float, float]] = {}
    for direction in (1, -1):
        pos = start
        x = int(round(c0)) if direction == 1 else int(round(c0)) - step
        win, misses = half, 0
        while 0 <= x < w and misses < 40:
            lo, hi = int(round(pos - win)), int(round(pos + win)) + 1
            if lo < 0 or hi > h:
                break
            col = img[lo:hi, x, :].astype(np.float64)
            # ground: a straight ramp between the brightest ends (vignetting slopes the ground)
            k = 4
            t = np.linspace(0.0, 1.0, hi - lo)[:, None]
            bg = (1 - t) * col[:k].max(axis=0) + t * col[-k:].max(axis=0)
            dark = 1 - col / np.maximum(bg, 1e-9)
            # on a crossing line the whole window is darker than a few pixels to either side
            side = max(float(img[lo:hi, xx, 1].max()) for xx in (max(x - 6, 0), min(x + 6, w - 1)))
            if float(col[:, 1].max()) < 0.9 * side:
                misses += 1
                x += direction * step
                continue
            # skip crossings (the whole window is dark) and gaps (no line): keep the last position
            if dark[:, 1].max() < 0.5 or min(dark[0, 1], dark[-1, 1]) > 0.2:
                misses += 1
                x += direction * step
                continue
            idx = np.arange(lo, hi, dtype=np.float64)
            cents = []
            for ch in (1, 0, 2):
                wgt = np.clip(dark[:, ch] - 0.25 * dark[:, ch].max(), 0, None)
                cents.append(float((wgt * idx).sum() / wgt.sum()))
            # near a crossing the ground around the line is darkened too: not a clean sample
            if dark[np.abs(idx - cents[0]) > 5, 1].max(initial=0.0) > 0.05:
                misses += 1
                x += direction * step
                continue
            misses = 0
            out[x] = (cents[0], cents[1], cents[2])
            pos = cents[0]
            win = max(6, min(half, 8))
            x += direction * step
    if len(out) < 20:
        return None
    xs = np.array(sorted(out), dtype=np.float64)
    vals = np.array([out[int(k)] for k in xs])
    return xs, vals[:, 0], vals[:, 1] - vals[:, 2]


def measure_chart(image: np.ndarray, spacing: int = 100) -> ChartMetrics:
    """Measure line straightness, color fringe width and corner falloff of a chart image.

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), float32
        Scene-linear image of a :func:`render_chart` chart (possibly distorted, scaled or
        corrected).
    spacing : int
        The chart's grid spacing in pixels.

    Returns
    -------
    ChartMetrics

    Notes
    -----
    Each grid line is tracked from the image centre outwards by the darkness-weighted centroid
    of its cross-section (green channel), then fitted with a straight line; straightness is the
    largest residual. The fringe is the largest red-minus-blue centroid offset over the tracked
    samples. The corner falloff compares the 95th percentile of the green channel (the chart
    ground) in the four corner cells with the centre cell.
    """
    h, w = image.shape[:2]
    worst, fringe, n = 0.0, 0.0, 0
    for axis, size in ((0, h), (1, w)):
        c = (size - 1) / 2
        k_max = int((size / 2) // spacing) - 1
        for k in range(-k_max, k_max + 1):
            if axis == 0 and k in (0, 1):  # the grey-ramp row's edges are not plain lines
                continue
            tr = _track(image, c + k * spacing, spacing, axis)
            if tr is None:
                continue
            xs, ys, rb = tr
            A = np.stack([xs, np.ones_like(xs)], axis=1)
            coef, *_ = np.linalg.lstsq(A, ys, rcond=None)
            worst = max(worst, float(np.abs(ys - A @ coef).max()))
            fringe = max(fringe, float(np.abs(rb).max()))
            n += 1
    g = image[..., 1]
    s = spacing
    centre = np.percentile(g[h // 2 - s : h // 2 - s // 4, w // 2 - s // 2 : w // 2 + s // 2], 95)
    corners = [g[:s, :s], g[:s, -s:], g[-s:, :s], g[-s:, -s:]]
    corner = float(np.mean([np.percentile(cn, 95) for cn in corners]))
    return ChartMetrics(round(worst, 3), round(fringe, 3), round(float(100 * (1 - corner / centre)), 2), n)


def run_demo(output_dir: str | os.PathLike = "demo-output", *, width: int = 1800, height: int = 1200, overwrite: bool = True) -> dict[str, Any]:
    """Render the chart through the demo lens, correct it with the normal path, measure both.

    Parameters
    ----------
    output_dir : path-like
        Folder for ``chart_ideal.png``, ``chart_through_lens.tif`` (with camera and lens in
        its EXIF) and ``chart_corrected.tif``; created if missing.

    Returns
    -------
    dict
        Paths, the lens match and the metrics before and after correction (JSON-able).
    """
    from l2tech.correct import simulate_lens
    from l2tech.io.image import read_image, write_image
    from l2tech.color.display import decode_display, encode_display, icc_profile
    from l2tech.pipeline import Recipe, correct_image_file
    from l2tech.profiles.lensfun_xml import load_database
    from l2tech.profiles.matching import search_lenses

    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    db = load_database()
    cands = search_lenses(db, f"{DEMO_LENS[0]} {DEMO_LENS[1]}")
    profile = cands[0].profile
    chart = render_chart(width, height)
    through = simulate_lens(chart, profile, DEMO_FOCAL_MM, DEMO_F_NUMBER, 1000.0, crop_factor=1.0)
    ideal_path, lens_path, fixed_path = out / "chart_ideal.png", out / "chart_through_lens.tif", out / "chart_corrected.tif"
    write_image(ideal_path, encode_display(chart, "sRGB"), icc_profile=icc_profile("sRGB"), overwrite=overwrite)
    exif = {
        "Exif.Image.Make": DEMO_CAMERA[0], "Exif.Image.Model": DEMO_CAMERA[1],
        "Exif.Photo.LensMake": DEMO_LENS[0], "Exif.Photo.LensModel": DEMO_LENS[1],
        "Exif.Photo.FocalLength": f"{int(DEMO_FOCAL_MM * 10)}/10", "Exif.Photo.FNumber": f"{int(DEMO_F_NUMBER * 10)}/10",
        "Exif.Photo.FocalLengthIn35mmFilm": str(int(DEMO_FOCAL_MM)),
    }
    write_image(lens_path, encode_display(through, "sRGB"), icc_profile=icc_profile("sRGB"), exif_overrides=exif, overwrite=overwrite)
    res = correct_image_file(lens_path, fixed_path, Recipe(), overwrite=overwrite, db=db)
    before = measure_chart(decode_display(read_image(lens_path).pixels, "sRGB"))
    after = measure_chart(decode_display(read_image(fixed_path).pixels, "sRGB"))
    ideal = measure_chart(chart)
    return {
        "output_dir": str(out),
        "images": {"ideal": str(ideal_path), "through_lens": str(lens_path), "corrected": str(fixed_path)},
        "lens": res.plan.summary(),
        "metrics": {"ideal": asdict(ideal), "before": asdict(before), "after": asdict(after)},
    }
