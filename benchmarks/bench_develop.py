#!/usr/bin/env python3
"""Benchmark: ``l2 develop`` with full lens correction vs the RAW tools users would pick instead.

Every job is a whole process, from the shell to the file written (interpreter start-up, imports,
metadata, lens matching, decode, correction, JPEG encode and EXIF included), timed with its peak
resident memory (``wait4``), ``--runs`` times interleaved, medians reported:

- the anchor: a plain rawpy script, ``postprocess(use_camera_wb=True)`` + Pillow JPEG q92;
- ``l2 develop`` with vignetting + TCA + distortion (the lens is forced where the file names
  none: Panasonic DC-S5 + Lumix S 20-60/F3.5-5.6 at 20 mm f/3.5);
- ``darktable-cli`` and ``rawtherapee-cli`` when installed (as users run them; darktable-cli
  without an XMP does not enable its lens module, which would only make it slower);
- a batch: ``l2 develop`` of 10 copies of the 24 MP DNG in one process against 10 single runs.

Inputs: the 24 MP DNG written by ``../shared/tools/make_bench_dng.py`` and every RAW in
``../shared/data/raw/decodable/``. Writes its section of docs/PERFORMANCE.md.
Usage: ``python benchmarks/bench_develop.py [--runs 3] [--no-batch]``.
"""

from __future__ import annotations

import argparse
import os
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
FORCED_LENS = ["--camera", "Panasonic DC-S5", "--lens", "Lumix S 20-60/F3.5-5.6", "--focal-length", "20", "--f-number", "3.5"]
#: files whose metadata names a lens in the database: developed with their own lens
OWN_LENS = {"canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng"}

RAWPY_JOB = """
import sys
import rawpy
from PIL import Image
with rawpy.imread(sys.argv[1]) as r:
    rgb = r.postprocess(use_camera_wb=True)
Image.fromarray(rgb).save(sys.argv[2], quality=92)
"""


def make_input() -> Path:
    WORK.mkdir(exist_ok=True)
    dng = WORK / "bench_24mp.dng"
    if not dng.exists():
        subprocess.run([sys.executable, str(SHARED / "tools" / "make_bench_dng.py"), str(dng)], check=True)
    return dng


def run(cmd: list[str]) -> tuple[float, float]:
    """Run a whole process; (wall seconds, peak RSS MiB)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read().decode(errors="replace") if p.stderr else ""
    p.stderr.close()
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} failed ({p.returncode}): {err[-800:]}")
    return wall, usage.ru_maxrss / 1024


def l2_cmd(raw: Path, out: Path) -> list[str]:
    l2 = str(Path(sys.executable).with_name("l2"))
    lens = [] if raw.name in OWN_LENS else FORCED_LENS
    return [l2, "develop", str(raw), "-o", str(out), "--overwrite", "--redo", *lens]


def jobs(raw: Path, tmp: Path, i: int) -> dict[str, list[str]]:
    out = {
        "rawpy": [sys.executable, "-c", RAWPY_JOB, str(raw), str(tmp / f"rawpy{i}.jpg")],
        "l2tech": l2_cmd(raw, tmp / f"l2_{i}.jpg"),
    }
    if shutil.which("darktable-cli"):
        out["darktable-cli"] = ["darktable-cli", str(raw), str(tmp / f"dt{i}.jpg"), "--core", "--configdir", str(tmp / "dtconf")]
    if shutil.which("rawtherapee-cli"):
        out["rawtherapee-cli"] = ["rawtherapee-cli", "-o", str(tmp / f"rt{i}.jpg"), "-Y", "-c", str(raw)]
    return out


def measure(raw: Path, runs: int, tmp: Path, tools: bool) -> dict[str, tuple[float, float]]:
    times: dict[str, list[float]] = {}
    rss: dict[str, float] = {}
    for name, cmd in jobs(raw, tmp, 0).items():  # warm the disk cache and any one-off caches
        if tools or name in ("rawpy", "l2tech"):
            run(cmd)
    for i in range(runs):
        for name, cmd in jobs(raw, tmp, i).items():
            if not tools and name not in ("rawpy", "l2tech"):
                continue
            t, m = run(cmd)
            times.setdefault(name, []).append(t)
            rss[name] = max(rss.get(name, 0.0), m)
    return {k: (statistics.median(v), rss[k]) for k, v in times.items()}


def batch(dng: Path, tmp: Path, n: int = 10) -> tuple[float, float]:
    """(seconds for n single runs, seconds for one run of n files)."""
    files = []
    real = dng.resolve()  # a link to a symlink would resolve to one file, which develop takes once
    for i in range(n):
        f = tmp / f"batch_{i}.dng"
        if not f.exists():
            os.link(real, f) if real.stat().st_dev == tmp.stat().st_dev else shutil.copy(real, f)
        files.append(f)
    single = sum(run(l2_cmd(f, tmp / f"single_{i}.jpg"))[0] for i, f in enumerate(files))
    outdir = tmp / "batch_out"
    shutil.rmtree(outdir, ignore_errors=True)  # a fresh folder: its journal would skip the files done last run
    outdir.mkdir()
    l2 = str(Path(sys.executable).with_name("l2"))
    many, _ = run([l2, "develop", *map(str, files), "-o", str(outdir) + os.sep, "--overwrite", "--redo", *FORCED_LENS])
    return single, many


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--no-batch", action="store_true")
    a = ap.parse_args()
    dng = make_input()
    tmp = Path(tempfile.mkdtemp(prefix="l2bench-", dir=WORK))
    inputs = [dng] + sorted((SHARED / "data" / "raw" / "decodable").glob("*"))
    rows = []
    try:
        for raw in inputs:
            res = measure(raw, a.runs, tmp, tools=raw == dng)
            rows.append((raw, res))
            print(raw.name, {k: (round(t, 3), round(m)) for k, (t, m) in res.items()}, flush=True)
        bat = None if a.no_batch else batch(dng, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    lines = [
        "## RAW development, lens correction included (`benchmarks/bench_develop.py`)",
        "",
        f"`benchmarks/bench_develop.py --runs {a.runs}` on {machine_line()}; whole processes from the shell to the",
        "file written (start-up, imports, metadata, matching, decode, correction, JPEG and EXIF included), interleaved,",
        "medians; peak memory is each process's max RSS. l2tech: vignetting + TCA + distortion to JPEG q92.",
        "",
        "| input | rawpy script s (anchor) | l2 develop s | ratio (target ≤ 1.3×) | l2tech peak MiB (target ≤ 600) |",
        "|---|---:|---:|---:|---:|",
    ]
    for raw, res in rows:
        r = res["l2tech"][0] / res["rawpy"][0]
        lines.append(f"| {raw.name} | {res['rawpy'][0]:.2f} | {res['l2tech'][0]:.2f} | {r:.2f}× "
                     f"{'met' if r <= 1.3 else 'not met'} | {res['l2tech'][1]:.0f} "
                     f"{'met' if res['l2tech'][1] <= 600 else 'not met'} |")
    big = rows[0][1]
    lines += ["", "24 MP DNG against the other RAW tools (same run):", "",
              "| tool | median s | peak MiB | l2tech faster by | target | met |", "|---|---:|---:|---:|---|---|"]
    for tool, target, need in (("darktable-cli", "≥ 4×", 4.0), ("rawtherapee-cli", "> 1×", 1.0)):
        if tool in big:
            sp = big[tool][0] / big["l2tech"][0]
            lines.append(f"| {tool} | {big[tool][0]:.2f} | {big[tool][1]:.0f} | {sp:.2f}× | {target} | "
                         f"{'yes' if sp >= need else 'no'} |")
        else:
            lines.append(f"| {tool} | not installed | | | {target} | |")
    lines.append(f"| rawpy script | {big['rawpy'][0]:.2f} | {big['rawpy'][1]:.0f} | {big['rawpy'][0] / big['l2tech'][0]:.2f}× | | |")
    if bat is not None:
        single, many = bat
        lines += ["", f"Batch: 10 copies of the 24 MP DNG in one `l2 develop` took {many:.1f} s, against {single:.1f} s for "
                  f"10 single runs: {single / many:.2f}× the throughput (target ≥ 1.5×: {'met' if single / many >= 1.5 else 'not met'})."]
    md = "\n".join(lines)
    print(md)
    update_section("develop", md)


if __name__ == "__main__":
    main()
