#!/usr/bin/env python3
"""Benchmark: peak memory per pixel of each processing path, against the memory model.

Reproduces the "Memory model" figures of docs/RELIABILITY.md (issue 16 item 1) and checks them
against :data:`l2tech.pipeline.memory.BYTES_PER_PIXEL` and ``BASE_BYTES``.

Two measurements:

- **Whole process, per path** (the figures the model uses): each path runs as a whole ``l2``
  process on a small and on a large input; the child's peak resident set is read with
  ``os.wait4`` (``ru_maxrss``, getrusage(2)). Bytes per pixel are the slope between the two
  sizes, so the fixed footprint (Python, NumPy, OpenCV, LibRaw, FFmpeg, the kernels) cancels;
  the fixed footprint is the intercept. Each command runs once first to warm the page cache and
  the compiled-kernel cache (LLVM's first compile adds ~95 MB to one run, not to a job).
- **Per stage of ``l2 correct``** (in-process): the stage functions of
  :func:`l2tech.pipeline.stills.correct_image` and the writer are wrapped; before each stage
  the resident-set high-water mark is reset (``/proc/self/clear_refs`` ← ``5``, Linux) and the
  stage's peak above the resident set it started from (``VmHWM − VmRSS``) is divided by the
  image's pixels.

Paths: ``correct`` (PNG, lens correction on), ``correct`` + ``--look mono-grain``, ``correct``
+ a 33³ ``--lut``, ``develop`` fused (bilinear) and staged (``--interpolation lanczos``) on DNGs
written by ``../shared/tools/make_bench_dng.py``, and ``video`` (an H.264 clip from FFmpeg's
``testsrc2``; skipped when ``ffmpeg`` is not installed).

Writes its section of docs/PERFORMANCE.md unless ``--no-report``. Linux only (``/proc``).
Usage: ``python benchmarks/bench_memory.py [--no-report]``; ``--smoke`` runs the small sizes and
one path per kind (a check that it works, no report).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "src"))
from _report import machine_line, update_section  # noqa: E402

SHARED = Path(os.environ.get("L2TECH_SHARED", ROOT.parent / "shared"))
L2 = [sys.executable, "-m", "l2tech.cli"]
LENS = ["--camera", "Canon EOS 6D", "--lens", "Canon EF 24-105mm f/4L IS USM", "--focal-length", "24", "--f-number", "8"]
MiB = 2**20


def peak_of(cmd: list[str]) -> int:
    """Run ``cmd``; return its peak resident set in bytes (``ru_maxrss`` of this child alone)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{err}")
    return usage.ru_maxrss * 1024  # KiB on Linux


def write_png(path: Path, side: int) -> None:
    """A side×side 8-bit RGB PNG of noise (the decoder and encoder do real work)."""
    import cv2

    rng = np.random.default_rng(side)
    cv2.imwrite(str(path), rng.integers(0, 255, (side, side, 3), dtype=np.uint8))


def write_cube(path: Path, n: int = 33) -> None:
    """A 33³ ``.cube`` LUT (a mild contrast curve per channel)."""
    g = np.linspace(0.0, 1.0, n)
    curve = g + 0.1 * np.sin(2 * np.pi * g) / (2 * np.pi)
    lines = [f"LUT_3D_SIZE {n}"]
    for b in curve:
        for gg in curve:
            for r in curve:
                lines.append(f"{r:.6f} {gg:.6f} {b:.6f}")
    path.write_text("\n".join(lines) + "\n")


def write_dng(path: Path, width: int, height: int) -> None:
    tool = SHARED / "tools" / "make_bench_dng.py"
    subprocess.run([sys.executable, str(tool), str(path), "--width", str(width), "--height", str(height)],
                   check=True, stdout=subprocess.DEVNULL)


def write_clip(path: Path, width: int, height: int) -> bool:
    if shutil.which("ffmpeg") is None:
        return False
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=25",
                    "-t", "2", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)
    return True


def slope(work: Path, name: str, make, sizes: list[tuple[int, int]], args) -> dict:
    """Peak at each size (after one warm-up run) → bytes per pixel (slope) and fixed part (intercept)."""
    points = []
    for i, (w, h) in enumerate(sizes):
        src = make(work / f"{name}_{i}", w, h)
        if src is None:
            return {"path": name, "skipped": "ffmpeg not installed"}
        peak_of(args(src, work / f"warm_{name}_{i}"))
        points.append((w * h, peak_of(args(src, work / f"out_{name}_{i}"))))
    (p0, m0), (p1, m1) = points
    bpp = (m1 - m0) / (p1 - p0)
    return {"path": name, "sizes": sizes, "peaks_mib": [m0 / MiB, m1 / MiB], "bpp": bpp, "fixed_mib": (m0 - bpp * p0) / MiB}


def stage_figures(work: Path, side: int) -> list[tuple[str, float]]:
    """Per-stage peak of ``correct_image`` + the writer, bytes per pixel, in this process."""
    import l2tech.color.display as display
    import l2tech.io.image as image_io
    from l2tech.pipeline import stills
    from l2tech.pipeline.recipe import Recipe

    def status(key: str) -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
        raise KeyError(key)

    figures: list[tuple[str, float]] = []
    pixels = side * side

    def wrap(owner, attr: str, label: str) -> None:
        fn = getattr(owner, attr)

        def measured(*a, **k):
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
            start = status("VmRSS")
            try:
                return fn(*a, **k)
            finally:
                figures.append((label, (status("VmHWM") - start) / pixels))

        setattr(owner, attr, measured)

    png = work / "stage.png"
    write_png(png, side)
    recipe = Recipe(camera="Canon EOS 6D", lens="Canon EF 24-105mm f/4L IS USM", focal_length_mm=24.0, f_number=8.0)
    stills.correct_image_file(png, work / "stage_warm.jpg", recipe)  # kernels compiled, libraries loaded
    wrap(image_io, "read_image", "decode + dequantise")
    wrap(display, "decode_display", "to linear light")
    wrap(stills, "_apply_geometry", "lens remap")
    wrap(stills, "_encode_output", "output encoding + quantise")
    wrap(image_io, "write_image", "write (JPEG + EXIF)")
    stills.correct_image_file(png, work / "stage.jpg", recipe)
    return figures


def stage_figures_in_child(work: Path, side: int) -> list[tuple[str, float]]:
    """:func:`stage_figures` in a fresh process with glibc's mmap threshold fixed at 128 KiB.

    glibc raises its mmap threshold after a large block is freed (up to 32 MiB), so frames freed
    by the warm-up run would be reused from the heap and a stage would look free; a fixed
    threshold maps every frame afresh (``mallopt(3)``, ``M_MMAP_THRESHOLD``).
    """
    import json

    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072",
           "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    code = ("import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); import bench_memory as b; "
            "print(json.dumps(b.stage_figures(Path(sys.argv[2]), int(sys.argv[3]))))")
    out = subprocess.run([sys.executable, "-c", code, str(HERE), str(work), str(side)], env=env, check=True,
                         capture_output=True, text=True)
    return [tuple(x) for x in json.loads(out.stdout.strip().splitlines()[-1])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-report", action="store_true", help="do not write docs/PERFORMANCE.md")
    ap.add_argument("--smoke", action="store_true", help="small sizes, one path per kind, no report")
    a = ap.parse_args()
    from l2tech.pipeline.memory import BASE_BYTES, BYTES_PER_PIXEL

    work = Path(tempfile.mkdtemp(prefix="l2mem-"))
    try:
        cube = work / "look.cube"
        write_cube(cube)
        sq = [(1000, 1000), (2000, 2000)] if a.smoke else [(2000, 2000), (4000, 4000)]
        raw = [(1200, 800), (2400, 1600)] if a.smoke else [(3000, 2000), (6000, 4000)]
        vid = [(640, 360), (1280, 720)] if a.smoke else [(1280, 720), (1920, 1080)]

        def png(stem: Path, w: int, h: int) -> Path:
            write_png(stem.with_suffix(".png"), w)
            return stem.with_suffix(".png")

        def dng(stem: Path, w: int, h: int) -> Path:
            write_dng(stem.with_suffix(".dng"), w, h)
            return stem.with_suffix(".dng")

        def mp4(stem: Path, w: int, h: int) -> Path | None:
            return stem.with_suffix(".mp4") if write_clip(stem.with_suffix(".mp4"), w, h) else None

        def correct(*extra):
            return lambda src, out: [*L2, "correct", str(src), "-o", str(out) + "/", *LENS, *extra]

        def develop(*extra):
            return lambda src, out: [*L2, "develop", str(src), "-o", str(out) + "/", *extra]

        runs = [
            ("correct", "correct", png, sq, correct(), 0),
            ("correct + look mono-grain", "correct", png, sq, correct("--look", "mono-grain"), BYTES_PER_PIXEL["look"]),
            ("correct + 33³ LUT", "correct", png, sq, correct("--lut", str(cube)), BYTES_PER_PIXEL["look"]),
            ("develop, fused (bilinear)", "develop", dng, raw, develop(), 0),
            ("develop, staged (Lanczos)", "develop_staged", dng, raw, develop("--interpolation", "lanczos"), 0),
            ("video (H.264)", "video", mp4, vid,
             lambda src, out: [*L2, "video", str(src), "-o", str(out) + ".mp4", *LENS], 0),
        ]
        if a.smoke:
            runs = [runs[0], runs[3]]
        rows = []
        for label, kind, make, sizes, args, extra in runs:
            r = slope(work, label.split()[0] + str(len(rows)), make, sizes, args)
            model = BYTES_PER_PIXEL[kind] + extra
            base = ((BASE_BYTES["video"] if kind == "video" else BASE_BYTES["still"]) + (BASE_BYTES["look"] if extra else 0)) / MiB
            if "skipped" in r:
                rows.append(f"| {label} | — | — | {model:g} | — | {base:.0f} | {r['skipped']} |")
                continue
            # the model's estimate at each size (l2tech.pipeline.memory: base + pixels × B/px × 1.10)
            ests = [(base * MiB + w * h * model * 1.10) / MiB for w, h in r["sizes"]]
            ok = ("under" if all(p < e for p, e in zip(r["peaks_mib"], ests)) else "**over**") + \
                f" ({ests[0]:.0f} / {ests[1]:.0f} MiB)"
            rows.append(f"| {label} | {r['sizes'][0][0]}×{r['sizes'][0][1]} / {r['sizes'][1][0]}×{r['sizes'][1][1]}: "
                        f"{r['peaks_mib'][0]:.0f} / {r['peaks_mib'][1]:.0f} MiB | {r['bpp']:.1f} | {model:g} | "
                        f"{r['fixed_mib']:.0f} | {base:.0f} | {ok} |")
            print(rows[-1], flush=True)
        side = 1500 if a.smoke else 4000
        stages = stage_figures_in_child(work, side)
        stage_rows = [f"| {label} | {bpp:.1f} |" for label, bpp in stages]
        for row in stage_rows:
            print(row)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    md = "\n".join([
        machine_line(), "",
        "Whole `l2` processes, peak resident set of the child (`ru_maxrss` via `os.wait4`); bytes per pixel are the "
        "slope between the two sizes (per RAW pixel for develop, per pixel of the frame for video), the fixed part "
        "its intercept. \"vs model\": both peaks against the model's estimates (`l2tech.pipeline.memory`: fixed part + "
        "pixels × B/px × 1.10 for allocator slack); a peak over its estimate is marked.", "",
        "| path | sizes: peak | B/px measured | B/px model | fixed MiB measured | fixed MiB model | vs model (estimates) |",
        "|---|---|---|---|---|---|---|", *rows, "",
        f"Stages of `l2 correct` (in-process, {side}×{side} PNG, lens correction on): the peak each stage adds above "
        "the resident set it starts from (`VmHWM − VmRSS` after resetting the high-water mark), per pixel:", "",
        "| stage | B/px |", "|---|---|", *stage_rows,
    ])
    if a.smoke or a.no_report:
        print(md)
    else:
        update_section("Memory per pixel (bench_memory.py)", md)
        print(md)


if __name__ == "__main__":
    main()
