"""Lens correction of a 24 MP frame: l2tech ``correct()`` (first call, maps included) vs lensfunpy.

Anchor, in the same run: lensfunpy ``Modifier.initialize`` + ``apply_subpixel_geometry_distortion``
(per-channel maps) + ``apply_color_modification`` (vignetting) + ``cv2.remap`` per channel —
the usual way to correct with lensfun from Python. Both sides correct vignetting, TCA and
distortion with auto-scale and bilinear resampling, on float32 scene-linear RGB.

"First call" means maps not cached: ``l2tech.correct.clear_cache()`` before every run. The
compiled kernels are warmed up once beforehand (numba caches them on disk, so a new process
loads them rather than compiling). Figures are medians of ``--runs`` runs.

Lens (BENCHMARKS.md): Panasonic Lumix S 20-60/F3.5-5.6 (ptlens distortion, poly3 TCA, pa
vignetting) on a DC-S5 (crop 1.0) at 20 mm, f/3.5, 10 m.

Run: ``python benchmarks/bench_lens_correction.py [--runs 5] [--width 6000 --height 4000]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--width", type=int, default=6000)
    ap.add_argument("--height", type=int, default=4000)
    ap.add_argument("--no-write", action="store_true", help="print only; do not update docs/PERFORMANCE.md")
    args = ap.parse_args(argv)

    import cv2
    import lensfunpy

    from l2tech.correct import clear_cache, correct
    from l2tech.correct.resample import warm_up
    from l2tech.profiles.lensfun_xml import load_database

    W, H = args.width, args.height
    focal, f_number, distance, crop = 20.0, 3.5, 10.0, 1.0
    rng = np.random.default_rng(0)
    image = rng.random((H, W, 3), dtype=np.float32)

    profile = next(x for x in load_database(user_dirs=()).lenses if x.model == "Lumix S 20-60/F3.5-5.6")
    ldb = lensfunpy.Database()
    lens = next(x for x in ldb.lenses if x.model == "Lumix S 20-60/F3.5-5.6")

    warm_up()

    def ours() -> np.ndarray:
        clear_cache()
        return correct(image, profile, focal, f_number, distance, crop_factor=crop)

    def anchor() -> np.ndarray:
        mod = lensfunpy.Modifier(lens, crop, W, H)
        mod.initialize(focal, f_number, distance, scale=0.0, pixel_format=np.float32)
        src = image.copy()
        mod.apply_color_modification(src)
        maps = mod.apply_subpixel_geometry_distortion()
        out = np.empty_like(src)
        for c in range(3):
            out[..., c] = cv2.remap(np.ascontiguousarray(src[..., c]), np.ascontiguousarray(maps[:, :, c, :]), None,
                                    cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return out

    t_ours, t_anchor = [], []
    for _ in range(args.runs):  # interleaved, so drifts of a shared machine hit both sides
        t0 = time.perf_counter()
        a = ours()
        t_ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        b = anchor()
        t_anchor.append(time.perf_counter() - t0)
    inner = (slice(8, H - 8), slice(8, W - 8))
    diff = float(np.abs(a - b)[inner].mean())
    mo, ma = statistics.median(t_ours), statistics.median(t_anchor)

    from _report import machine_line, update_section

    md = "\n".join(
        [
            f"## Lens correction, {W}×{H} float32 RGB (`benchmarks/bench_lens_correction.py`)",
            "",
            f"Machine: {machine_line()}, OpenCV threads {cv2.getNumThreads()}, load average "
            f"{os.getloadavg()[0]:.1f} at the end (shared machine). Median of {args.runs} interleaved runs.",
            "Lumix S 20-60 @ 20 mm f/3.5 10 m on a crop-1.0 body: vignetting + poly3 TCA + ptlens distortion, auto-scale, bilinear.",
            "",
            "| job | median s | ratio |",
            "|---|---|---|",
            f"| lensfunpy maps + vignetting + cv2.remap per channel (anchor) | {ma:.3f} | 1.00 |",
            f"| l2tech `correct()`, first call (maps computed in the fused kernel) | {mo:.3f} | {ma / mo:.2f}× faster |",
            "",
            f"Mean absolute difference of the two outputs (inside an 8 px margin): {diff:.2e} "
            "(lensfun's float/SSE map noise and its auto-scale tolerance).",
        ]
    )
    print(md)
    if not args.no_write:
        update_section("lens_correction", md)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
