"""Video benchmark: distortion correction (bilinear) + 33-point tetrahedral LUT + H.264 encode.

l2tech (``l2tech.video.process_video``) against FFmpeg's ``lenscorrection`` + ``lut3d`` filter
chain (the anchor command of docs BENCHMARKS.md), same input, same geometry (FFmpeg's
``lenscorrection`` model: r = 1 at the half-diagonal, source = C + d (1 + k1 r² + k2 r⁴),
k1 = -0.2, k2 = 0.05), same LUT, same encoder settings (libx264, CRF 18, preset veryfast),
interleaved runs in one process, medians. Inputs: the 4K and 1080p clips that
``../shared/tools/make_bench_video.py`` writes from the real GoPro clip (120 frames).

Usage::

    python benchmarks/bench_video.py [--runs 3] [--frames 120] [--workdir DIR] [--no-write]

Needs the ``ffmpeg`` binary on PATH (``apt-get install ffmpeg``) for the anchor only.
Writes the ``video`` section of docs/PERFORMANCE.md.
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
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TOOL = ROOT.parent / "shared" / "tools" / "make_bench_video.py"
K1, K2 = -0.2, 0.05
ENC = {"codec": "libx264", "crf": 18, "preset": "veryfast"}


def _ffmpeg_cmd(src: Path, cube: Path, out: Path) -> list[str]:
    return [
        "ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(src),
        "-vf", f"lenscorrection=k1={K1}:k2={K2}:i=bilinear,format=gbrp,lut3d=file={cube}:interp=tetrahedral",
        "-c:v", ENC["codec"], "-crf", str(ENC["crf"]), "-preset", ENC["preset"], "-an", str(out),
    ]


def worker(src: str, cube: str, out: str, fast: bool) -> None:
    """Run l2tech once (in a fresh process) and print the wall time of the job as JSON."""
    import numpy as np

    from l2tech.color.lut_io import read_lut
    from l2tech.video.pipeline import FramePipeline
    from l2tech.video.transcode import EncodeOptions, process_video

    t0 = time.perf_counter()
    import av

    with av.open(src) as c:
        w, h = c.streams.video[0].width, c.streams.video[0].height
    x, y = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    cx, cy = w / 2.0, h / 2.0
    r2 = ((x - cx) ** 2 + (y - cy) ** 2) / (cx * cx + cy * cy)
    f = 1.0 + K1 * r2 + K2 * r2 * r2
    m = np.stack([(x - cx) * f + cx, (y - cy) * f + cy], -1).astype(np.float32)
    lut = read_lut(cube)
    pipe = FramePipeline((w, h), map_xy=m, look=lut)  # the LUT3D runs inside the fused pass
    r = process_video(src, out, pipe, encode=EncodeOptions(**ENC), overwrite=True, accurate_color=not fast)
    wall = time.perf_counter() - t0
    print(json.dumps({"wall_s": wall, "frames": r.frames_written}))


def _run_ours(src: Path, cube: Path, out: Path, fast: bool) -> tuple[float, int]:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    res = subprocess.run([sys.executable, __file__, "--worker", str(src), str(cube), str(out), "1" if fast else "0"],
                         check=True, capture_output=True, text=True, env=env)
    doc = json.loads(res.stdout.strip().splitlines()[-1])
    return doc["wall_s"], doc["frames"]


def _run_ffmpeg(src: Path, cube: Path, out: Path, filters: bool = True) -> float:
    cmd = _ffmpeg_cmd(src, cube, out)
    if not filters:  # decode + encode only: the floor both tools share
        i = cmd.index("-vf")
        del cmd[i : i + 2]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def _make_inputs(work: Path, frames: int) -> dict[str, Path]:
    clips = {}
    for name, (w, h) in {"1080p": (1920, 1080), "4K": (3840, 2160)}.items():
        raw = work / f"bench_{name}_tool.mp4"
        p = work / f"bench_{name}.mp4"
        if not raw.exists():
            subprocess.run([sys.executable, str(TOOL), str(raw), "--frames", str(frames), "--width", str(w),
                            "--height", str(h)], check=True, capture_output=True)
        if not p.exists():
            # the tool writes every frame with pts 0; FFmpeg's muxing then keeps 3 of 120 frames,
            # which would flatter the anchor. Give the frames 30 fps timestamps (same encoder settings).
            subprocess.run(["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(raw), "-vf",
                            "setpts=N/(30*TB)", "-r", "30", "-c:v", "libx264", "-crf", "18", "-preset", "veryfast",
                            str(p)], check=True)
        clips[name] = p
    return clips


def _make_cube(work: Path) -> Path:
    import numpy as np

    from l2tech.color.lut import LUT3D
    from l2tech.color.lut_io import write_cube

    ident = LUT3D.identity(33)
    t = np.asarray(ident.table, np.float64)
    table = np.clip(0.5 + 1.15 * (t - 0.5) + 0.06 * (t[..., [1, 2, 0]] - t), 0, 1).astype(np.float32)
    cube = work / "look33.cube"
    write_cube(LUT3D(table, ident.domain), cube)
    return cube


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--workdir")
    ap.add_argument("--sizes", default="1080p,4K")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    if shutil.which("ffmpeg") is None:
        sys.exit("ffmpeg binary not found (apt-get install ffmpeg); it is the anchor of this benchmark")
    work = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="l2bench-video-"))
    work.mkdir(parents=True, exist_ok=True)
    clips = _make_inputs(work, a.frames)
    cube = _make_cube(work)
    rows = []
    for name in a.sizes.split(","):
        src = clips[name]
        t = {"ffmpeg": [], "l2tech": [], "l2tech --fast": [], "transcode only": []}
        n = a.frames
        for i in range(a.runs):  # interleaved, so load changes hit all three alike
            t["ffmpeg"].append(_run_ffmpeg(src, cube, work / "ff.mp4"))
            w, n = _run_ours(src, cube, work / "l2.mp4", fast=False)
            t["l2tech"].append(w)
            w, n = _run_ours(src, cube, work / "l2f.mp4", fast=True)
            t["l2tech --fast"].append(w)
            t["transcode only"].append(_run_ffmpeg(src, cube, work / "plain.mp4", filters=False))
            print(name, i, {k: round(v[-1], 2) for k, v in t.items()}, flush=True)
        med = {k: statistics.median(v) for k, v in t.items()}
        fps = {k: n / v for k, v in med.items()}
        rows.append((name, n, fps, med))
    lines = [
        "## Video: distortion (bilinear) + 33-point tetrahedral LUT + H.264 encode",
        "",
        f"`benchmarks/bench_video.py`, {a.runs} interleaved runs, medians; {machine()}. Input: "
        "`make_bench_video.py` clips (GoPro footage upscaled, 120 frames H.264; re-timed to 30 fps first, "
        "since the tool writes every frame at pts 0 and FFmpeg then keeps 3 of 120 frames). Anchor: `ffmpeg -vf "
        "\"lenscorrection=k1=-0.2:k2=0.05:i=bilinear,format=gbrp,lut3d=file=X.cube:interp=tetrahedral\" "
        "-c:v libx264 -crf 18 -preset veryfast`; l2tech: the same geometry as an inverse map, the same LUT, "
        "the same encoder settings (`process_video`, wall time including map and LUT setup, excluding "
        "Python start-up). `--fast`: swscale's fast color path.",
        "",
        "| clip | FFmpeg fps | l2tech fps | ratio | l2tech --fast fps | ratio | FFmpeg decode+encode only fps "
        "(ceiling of the ratio) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, n, fps, _ in rows:
        lines.append(
            f"| {name} | {fps['ffmpeg']:.2f} | {fps['l2tech']:.2f} | {fps['l2tech'] / fps['ffmpeg']:.2f}x | "
            f"{fps['l2tech --fast']:.2f} | {fps['l2tech --fast'] / fps['ffmpeg']:.2f}x | "
            f"{fps['transcode only']:.2f} ({fps['transcode only'] / fps['ffmpeg']:.2f}x) |"
        )
    lines += [
        "",
        "Target: ≥ 2x FFmpeg's frames per second. The last column is FFmpeg decoding and encoding the same "
        "clip with no filter at all: no tool that decodes and encodes with the same libraries can beat it, so "
        "its ratio to the anchor bounds the reachable speed-up on this machine. The ratios are as measured "
        "(the machine is shared; runs are interleaved so load hits all columns alike).",
    ]
    md = "\n".join(lines)
    print(md)
    if not a.no_write:
        sys.path.insert(0, str(HERE))
        from _report import update_section

        update_section("video", md)


def machine() -> str:
    sys.path.insert(0, str(HERE))
    from _report import machine_line

    return machine_line()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5] == "1")
    else:
        main()
