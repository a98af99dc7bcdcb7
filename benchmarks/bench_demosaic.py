"""Demosaicing: time of each of LibRaw's algorithms on the 24 MP benchmark DNG, and their quality.

Time: ``decode_raw`` of ``benchmarks/_work/bench_24mp.dng`` (made by ``make_bench_dng.py``) with
each ``--demosaic`` choice, in one process, interleaved over ``--runs`` rounds; medians of wall
time and of this process's CPU time (LibRaw's OpenMP threads included). Quality: the CPSNR of
``tests/test_demosaic_quality.py`` (a demosaic-free truth from shared RAWs, mosaicked again).
The section "demosaic" of docs/PERFORMANCE.md is rewritten.

    python benchmarks/bench_demosaic.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

from _report import machine_line, update_section  # noqa: E402

ALGORITHMS = ("ppg", "ahd", "dht", "vng", "dcb", "aahd", "linear")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from l2tech.raw.decode import decode_raw

    dng = HERE / "_work" / "bench_24mp.dng"
    if not dng.exists():
        sys.exit(f"{dng} missing: python ../shared/tools/make_bench_dng.py {dng}")
    decode_raw(dng, camera_rgb=True, as_uint16=True, demosaic="linear")  # warm the disk cache and LibRaw
    wall: dict[str, list[float]] = {a: [] for a in ALGORITHMS}
    cpu: dict[str, list[float]] = {a: [] for a in ALGORITHMS}
    for _ in range(args.runs):
        for alg in ALGORITHMS:
            t, c = time.perf_counter(), time.process_time()
            decode_raw(dng, camera_rgb=True, as_uint16=True, demosaic=alg)
            wall[alg].append(time.perf_counter() - t)
            cpu[alg].append(time.process_time() - c)

    import test_demosaic_quality as q
    from conftest import shared_file

    scores: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, rel in q.SCENES.items():
            truth = q.write_mosaic_dng(q.demosaic_free_truth(shared_file(rel)), Path(tmp) / f"{name}.dng")
            scores[name] = {a: q.cpsnr(decode_raw(Path(tmp) / f"{name}.dng", camera_rgb=True, demosaic=a).image, truth)
                            for a in ALGORITHMS}
    ahd = statistics.median(wall["ahd"])
    rows = [f"| {a}{' (default)' if a == 'ppg' else ''} | {statistics.median(wall[a]):.2f} | {statistics.median(cpu[a]):.2f} | "
            f"{statistics.median(wall[a]) / ahd:.2f}× | " + " | ".join(f"{scores[s][a]:.2f}" for s in q.SCENES) + " |"
            for a in ALGORITHMS]
    md = "\n".join([
        "## Demosaicing: LibRaw's algorithms (`benchmarks/bench_demosaic.py`)",
        "",
        f"`decode_raw` of the 24 MP benchmark DNG per `--demosaic` choice, {args.runs} interleaved runs, medians; "
        f"{machine_line()}. CPU includes LibRaw's OpenMP threads. CPSNR: `tests/test_demosaic_quality.py` "
        "(demosaic-free truth from shared RAWs, mosaicked again; dB, higher is better).",
        "",
        "| algorithm | wall s | CPU s | wall vs AHD | " + " | ".join(f"CPSNR {s}" for s in q.SCENES) + " |",
        "|---|---:|---:|---:|" + "---:|" * len(q.SCENES),
        *rows,
    ])
    update_section("demosaic", md)
    print(md)


if __name__ == "__main__":
    main()
