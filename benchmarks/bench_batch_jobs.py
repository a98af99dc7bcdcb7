#!/usr/bin/env python3
"""Benchmark: files per second of a batch with ``--jobs 1`` vs ``--jobs 2``, and on a
one- vs two-worker Dask LocalCluster (``l2 cluster local``); peak memory against ``--max-memory``.

Each run is a whole ``l2 develop`` process over ``--files`` copies (links) of one RAW into a
fresh output folder, ``--runs`` times interleaved, medians reported. Two rates per run:

- *batch*: files / the batch's own ``elapsed_s`` (from ``--json``; interpreter start-up left out);
- *process*: files / the wall time of the whole command.

Peak memory is the largest sum of the resident sizes of the command and all its descendants
(worker processes), sampled every 50 ms from ``/proc``; for the cluster runs the workers are not
descendants of the command and are sampled as descendants of ``l2 cluster local``.

Acceptance (issue 13): ``--jobs 2`` ≥ 1.7× the files/s of ``--jobs 1`` on a 2-core machine; a
two-worker LocalCluster ≥ 1.6× one worker; peak memory within ``--max-memory``.

Input: the 24 MP DNG written by ``../shared/tools/make_bench_dng.py`` (default), or any RAW with
``--input``. Writes its section of docs/PERFORMANCE.md unless ``--no-report``.
Usage: ``python benchmarks/bench_batch_jobs.py [--files 8] [--runs 3] [--max-memory 4G]``;
a quick check that it works: ``--smoke`` (two small files, one run, no report).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _report import machine_line, update_section  # noqa: E402

SHARED = Path(os.environ.get("L2TECH_SHARED", ROOT.parent / "shared"))
WORK = HERE / "_work"
SMALL = SHARED / "data" / "raw" / "decodable" / "canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng"
L2 = [sys.executable, "-m", "l2tech.cli"]


def make_input() -> Path:
    WORK.mkdir(exist_ok=True)
    dng = WORK / "bench_24mp.dng"
    if not dng.exists():
        subprocess.run([sys.executable, str(SHARED / "tools" / "make_bench_dng.py"), str(dng)], check=True)
    return dng


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            stat = Path(f"/proc/{d}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def _tree_rss_bytes(pid: int) -> int:
    kids = _children()
    todo, total = [pid], 0
    while todo:
        p = todo.pop()
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except OSError:
            pass
        todo.extend(kids.get(p, ()))
    return total


class PeakRSS:
    """Sample the resident memory of the process trees rooted at ``pids`` until stopped."""

    def __init__(self, *pids: int) -> None:
        self.pids, self.peak, self._stop = list(pids), 0, threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, sum(_tree_rss_bytes(p) for p in self.pids))
            self._stop.wait(0.05)

    def __enter__(self) -> "PeakRSS":
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()


def inputs(src: Path, n: int, folder: Path) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for k in range(n):
        p = folder / f"f{k:03d}{src.suffix}"
        if not p.exists():
            try:
                os.link(os.path.realpath(src), p)  # the file, not a symlink to it (inputs are de-duplicated by real path)
            except OSError:
                shutil.copy(src, p)
        out.append(str(p))
    return out


def run_batch(files: list[str], out: Path, extra: list[str], also_watch: int | None = None) -> dict:
    """One ``l2 develop`` batch into a fresh folder: wall s, batch s, peak RSS bytes."""
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    p = subprocess.Popen([*L2, "develop", *files, "-o", str(out), "--json", *extra], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    with PeakRSS(p.pid, *([also_watch] if also_watch else [])) as mem:
        stdout, stderr = p.communicate()
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        raise RuntimeError(f"l2 develop {' '.join(extra)} failed ({p.returncode}): {stderr[-1500:]}")
    doc = json.loads(stdout)
    assert doc["ok"] == len(files), doc
    return {"wall": wall, "batch": doc["elapsed_s"], "peak": mem.peak}


class LocalCluster:
    """``l2 cluster local --workers N --port 0`` as a subprocess; ``.address`` once it is up."""

    def __init__(self, workers: int) -> None:
        self.proc = subprocess.Popen([*L2, "cluster", "local", "--workers", str(workers), "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.address = self.proc.stdout.readline().strip()
        if not self.address.startswith("tcp://"):
            self.close()
            raise RuntimeError(f"l2 cluster local printed {self.address!r}, not an address")

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=8)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--input", type=Path, help="RAW to copy (default: the 24 MP bench DNG)")
    ap.add_argument("--max-memory", default="4G")
    ap.add_argument("--no-cluster", action="store_true")
    ap.add_argument("--no-report", action="store_true")
    ap.add_argument("--smoke", action="store_true", help="2 small files, 1 run, no report: checks the script works")
    args = ap.parse_args()
    if args.smoke:
        args.files, args.runs, args.input, args.no_report = 2, 1, args.input or SMALL, True
    src = args.input or make_input()
    tmp = Path(tempfile.mkdtemp(prefix="l2-bench-batch-"))
    try:
        files = inputs(src, args.files, tmp / "in")
        common = ["--max-memory", args.max_memory]
        rows: dict[str, list[dict]] = {"jobs 1": [], "jobs 2": [], "cluster 1": [], "cluster 2": []}
        clusters = {} if args.no_cluster else {n: LocalCluster(n) for n in (1, 2)}
        try:
            for _ in range(args.runs):
                for j in (1, 2):
                    rows[f"jobs {j}"].append(run_batch(files, tmp / f"out-j{j}", [*common, "--jobs", str(j)]))
                for n, lc in clusters.items():
                    rows[f"cluster {n}"].append(run_batch(files, tmp / f"out-c{n}", ["--cluster", lc.address],
                                                          also_watch=lc.proc.pid))
        finally:
            for lc in clusters.values():
                lc.close()
        budget = _parse_size(args.max_memory)
        lines = [f"Batch of {args.files} × `{src.name}`, `l2 develop`, median of {args.runs} runs; {machine_line()}.", "",
                 "| run | files/s (batch) | files/s (process) | peak RSS MiB | within --max-memory |",
                 "|---|---|---|---|---|"]
        med = {}
        for name, rs in rows.items():
            if not rs:
                continue
            b = statistics.median(r["batch"] for r in rs)
            w = statistics.median(r["wall"] for r in rs)
            peak = max(r["peak"] for r in rs)
            med[name] = args.files / b
            ok = "yes" if name.startswith("cluster") or peak <= budget else "**no**"
            lines.append(f"| {name} | {args.files / b:.2f} | {args.files / w:.2f} | {peak / 2**20:.0f} | {ok} |")
        lines.append("")
        if "jobs 1" in med:
            lines.append(f"- `--jobs 2` / `--jobs 1`: **{med['jobs 2'] / med['jobs 1']:.2f}×** (target ≥ 1.7×)")
        if "cluster 1" in med:
            lines.append(f"- LocalCluster 2 / 1 workers: **{med['cluster 2'] / med['cluster 1']:.2f}×** (target ≥ 1.6×)")
        text = "\n".join(lines)
        print(text)
        if not args.no_report:
            update_section("batch-jobs", "## Batch: --jobs and a Dask LocalCluster (`bench_batch_jobs.py`)\n\n" + text)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def _parse_size(text: str) -> int:
    from l2tech.pipeline.memory import parse_size

    return parse_size(text)


if __name__ == "__main__":
    sys.exit(main())
