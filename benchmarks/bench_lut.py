"""3D LUT application on a 24 MP image: l2tech (numba) vs colour-science's LUT3D.apply.

Both run in the same process on the same data, several times; the table reports medians and
their ratio, and goes into docs/PERFORMANCE.md (section "lut"). colour-science is run on
1 MP chunks (its tetrahedral code allocates ~20 full-size float64 temporaries; one 24 MP call
would need > 10 GiB); the per-pixel work is the same, so the sum of chunk times is its cost.

Run: ``.venv/bin/python benchmarks/bench_lut.py [--repeat 3] [--megapixels 24]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_line, update_section  # noqa: E402

from l2tech.color._colour import colour_module, quiet  # noqa: E402
from l2tech.color.lut import LUT3D  # noqa: E402

CHUNK = 1 << 20


def _colour_apply(table: np.ndarray, img: np.ndarray, interpolator) -> np.ndarray:
    c = colour_module()
    lut = c.LUT3D(table.astype(np.float64))
    flat = img.reshape(-1, 3)
    out = np.empty(flat.shape, dtype=np.float32)
    with quiet():
        for s in range(0, flat.shape[0], CHUNK):
            out[s : s + CHUNK] = lut.apply(flat[s : s + CHUNK].astype(np.float64), interpolator=interpolator)
    return out.reshape(img.shape)


def _time(fn, repeat: int) -> tuple[float, np.ndarray]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out  # type: ignore[return-value]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--megapixels", type=float, default=24.0)
    ap.add_argument("--size", type=int, default=33, help="LUT points per axis")
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/PERFORMANCE.md alone")
    args = ap.parse_args(argv)

    rng = np.random.default_rng(0)
    h = 4000
    w = int(round(args.megapixels * 1e6 / h))
    img = rng.random((h, w, 3), dtype=np.float32)
    table = np.sqrt(LUT3D.identity(args.size).table) * np.float32(0.9) + rng.normal(0, 0.01, (args.size,) * 3 + (3,)).astype(np.float32)
    ours = LUT3D(table)
    ours.apply(img[:8, :8])  # compile (numba cache) outside the timing
    c = colour_module()
    rows = []
    for method, interp in (
        ("tetrahedral", c.algebra.table_interpolation_tetrahedral),
        ("trilinear", c.algebra.table_interpolation_trilinear),
    ):
        t_ours, a = _time(lambda: ours.apply(img, method), args.repeat)
        t_ref, b = _time(lambda: _colour_apply(table, img, interp), args.repeat)
        err = float(np.abs(a - b).max())
        rows.append((method, t_ref, t_ours, t_ref / t_ours, err))
        print(f"{method}: colour-science {t_ref:.2f} s, l2tech {t_ours:.3f} s, ratio {t_ref / t_ours:.1f}x, max |diff| {err:.1e}")
    md = [
        "## 3D LUT application (`benchmarks/bench_lut.py`)",
        "",
        f"{h}x{w} float32 image ({h * w / 1e6:.0f} MP), {args.size}-point LUT, median of {args.repeat} runs; "
        f"{machine_line()}.",
        "colour-science `LUT3D.apply(..., interpolator=...)` on float64 in 1 MP chunks (same per-pixel work, bounded memory).",
        "",
        "| interpolation | colour-science (s) | l2tech (s) | speed-up | max abs diff |",
        "|---|---:|---:|---:|---:|",
    ]
    md += [f"| {m} | {r:.2f} | {o:.3f} | {x:.1f}x | {e:.1e} |" for m, r, o, x, e in rows]
    if not args.no_write:
        update_section("lut", "\n".join(md))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
