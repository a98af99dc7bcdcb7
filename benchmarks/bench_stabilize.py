"""Stabilisation measure: residual frame-to-frame rotation on the output, against vid.stab and deshake.

The metric (docs/STABILIZATION.md): features are tracked between consecutive frames of a clip
*as written* (Shi–Tomasi corners, pyramidal Lucas–Kanade, RANSAC homography of a rotating
pinhole camera: :func:`l2tech.video.stabilize.flow_rotations`) in the clip's rectilinear view,
giving a rotation vector per frame pair (degrees). Its high-frequency part is that minus its
Gaussian-smoothed version (σ = 0.25 s, per axis); the table reports the mean and the RMS of
the high-frequency part's length, degrees per frame, and the reduction of the RMS against the
input. A stabiliser that holds the smoothed path leaves only that smooth path; shake is what
the high-frequency part measures.

Every clip is compared in the same rectilinear view: the input as ``l2 video`` corrects its
lens (the camera matrix of the profile), the FFmpeg stabilisers run on that corrected clip
(``vidstabdetect`` + ``vidstabtransform`` with its optimal static zoom, libvidstab — the library
of the ``vidstab`` PyPI package; ``deshake`` with its defaults), l2tech's ``--stabilize`` on the
original clip (lens + stabilisation in one resampling). The zoom each applies scales the
camera matrix the output is measured with; the crop lost is ``1 − 1/zoom²`` of the frame.

Usage::

    python benchmarks/bench_stabilize.py [--workdir DIR] [--no-write] [--clips gopro,cctv]

Needs ``ffmpeg`` with libvidstab (Debian's has it) and the shared data
(``L2TECH_SHARED_DATA`` or ``../shared/data``). Writes the ``stabilize`` section of
docs/STABILIZATION.md and the stills under docs/img/stabilize/.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOC = ROOT / "docs" / "STABILIZATION.md"
IMG = ROOT / "docs" / "img" / "stabilize"
SIGMA_S = 0.25

CLIPS = {
    "gopro": {
        "file": "video/gopro_hero5_karma_drone.mp4",
        "lens": ["--profile", "{data}/profiles/gyroflow/GoPro_HERO5_Black_Wide_NO-EIS_4by3.json"],
        "modes": ["auto", "flow"],
        "title": "GoPro HERO5 on a Karma drone (854x480, GPMF gyro), HERO5 Wide Gyroflow profile",
    },
    "cctv": {
        "file": "video/fisheye_cctv_1440_circular.mp4",
        "lens": ["--lens-model", "opencv", "--intrinsics", "548.88,549.34,722.45,718.90",
                 "--dist-coeffs=-0.14396,0.028807,0.0010504,-0.000338,-0.0033234"],
        "modes": ["flow"],
        "title": "fisheye CCTV camera (1440x1440, no gyro), its OpenCV calibration",
    },
}


def _data() -> Path:
    env = os.environ.get("L2TECH_SHARED_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def _l2(args: list[str]) -> tuple[dict, float]:
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "l2tech.cli", "video", *args, "--json", "--overwrite", "--redo"],
                         capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"l2 video failed: {out.stderr or out.stdout}")
    return json.loads(out.stdout)["results"][0], wall


def _ffmpeg(args: list[str]) -> str:
    out = subprocess.run(["ffmpeg", "-nostdin", "-y", *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"ffmpeg failed: {out.stderr[-2000:]}")
    return out.stderr


def _camera_matrix(job_args: list[str], size: tuple[int, int]) -> np.ndarray:
    """The rectilinear camera of the lens-corrected view, as l2 video builds it."""
    sys.path.insert(0, str(ROOT / "src"))
    from l2tech.pipeline.recipe import Recipe
    from l2tech.pipeline.video import VideoJob, resolve_lens

    if job_args[0] == "--profile":
        job = VideoJob(Recipe(profile=job_args[1]))
    else:
        vals = dict(zip(job_args[0::2], job_args[1::2]))
        dist = job_args[-1].split("=", 1)[1]
        job = VideoJob(Recipe(), lens_model=vals["--lens-model"],
                       intrinsics=tuple(float(v) for v in vals["--intrinsics"].split(",")),
                       dist_coeffs=tuple(float(v) for v in dist.split(",")))
    return resolve_lens(job, size).camera_matrix


#: ``--adaptive-zoom`` window of the extra l2tech row, seconds (Gyroflow's default window is 4 s).
ADAPTIVE_S = 4.0


def residual_rotation(path: Path, K: np.ndarray, zoom: float = 1.0, sigma_s: float = SIGMA_S) -> dict:
    """The metric on one clip: high-frequency frame-to-frame rotation, degrees per frame.

    ``K`` is the camera of the clip's rectilinear view before ``zoom`` (focal lengths scaled by
    it about the principal point, as the stabilisers crop).
    """
    from scipy.ndimage import gaussian_filter1d

    from l2tech.pipeline.video import _analysis_view
    from l2tech.video.stabilize import clip_flow_rotations

    import av

    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        w, h = vs.width, vs.height
    Kz = np.array(K, np.float64)
    Kz[0, 0] *= zoom
    Kz[1, 1] *= zoom
    amap, Ka = _analysis_view(Kz, None, (w, h))
    ft, rv, _ = clip_flow_rotations(str(path), Ka, analysis_map=amap)
    rv = np.degrees(np.nan_to_num(rv))
    fps = 1.0 / float(np.median(np.diff(ft)))
    hf = rv - gaussian_filter1d(rv, sigma_s * fps, axis=0, mode="nearest")
    mag = np.linalg.norm(hf, axis=1)
    return {"mean_deg": float(mag.mean()), "rms_deg": float(np.sqrt(np.mean(mag ** 2))), "pairs": int(len(mag)),
            "raw_rms_deg": float(np.sqrt(np.mean(np.sum(rv ** 2, axis=1))))}


def _stills(name: str, before: Path, after: Path, frame: int = 150, span: int = 30) -> list[str]:
    """A frame and a 1-second average (shake blurs it) of the input and the l2tech output."""
    import av
    import cv2

    def frames(p: Path) -> list[np.ndarray]:
        out = []
        with av.open(str(p)) as c:
            for i, f in enumerate(c.decode(video=0)):
                if i >= frame + span:
                    break
                if i >= frame:
                    out.append(f.to_ndarray(format="rgb24"))
        return out

    a, b = frames(before), frames(after)
    h = 240
    def small(img):
        return cv2.resize(img, (int(round(img.shape[1] * h / img.shape[0])), h), interpolation=cv2.INTER_AREA)
    row1 = np.concatenate([small(a[0]), np.full((h, 6, 3), 255, np.uint8), small(b[0])], axis=1)
    avg = lambda fs: np.mean(np.stack(fs).astype(np.float32), axis=0).astype(np.uint8)  # noqa: E731
    row2 = np.concatenate([small(avg(a)), np.full((h, 6, 3), 255, np.uint8), small(avg(b))], axis=1)
    IMG.mkdir(parents=True, exist_ok=True)
    names = []
    for tag, img in (("frame", row1), ("average", row2)):
        p = IMG / f"{name}_{tag}.jpg"
        cv2.imwrite(str(p), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
        names.append(p.name)
    return names


def run_clip(key: str, work: Path) -> dict:
    spec = CLIPS[key]
    data = _data()
    src = data / spec["file"]
    lens = [a.replace("{data}", str(data)) for a in spec["lens"]]
    import av

    with av.open(str(src)) as c:
        size = (c.streams.video[0].width, c.streams.video[0].height)
    K = _camera_matrix(lens, size)
    rows = []
    base = work / f"{key}_lens.mp4"
    _, t_lens = _l2([str(src), *lens, "-o", str(base)])
    rows.append({"method": "input (lens corrected)", "zoom": 1.0, **residual_rotation(base, K)})
    timing = {"lens_only_s": t_lens}
    for mode in spec["modes"]:
        out = work / f"{key}_l2_{mode}.mp4"
        doc, wall = _l2([str(src), *lens, "--stabilize", mode, "-o", str(out)])
        st = doc["stabilization"]
        label = f"l2tech --stabilize {mode}" + (f" ({st['mode']})" if mode == "auto" else "")
        rows.append({"method": label, "zoom": st["crop_zoom"], "sync": st, **residual_rotation(out, K, st["crop_zoom"])})
        timing[f"stabilize_{mode}_s"] = wall
        if mode == spec["modes"][0]:
            stills = _stills(key, base, out)
            # the same with a crop per frame (--adaptive-zoom): measured with the zoom of the mean
            # frame kept (the zoom changes slowly from frame to frame; a scale change is not a rotation)
            ad = work / f"{key}_l2_{mode}_adaptive.mp4"
            doc, wall = _l2([str(src), *lens, "--stabilize", mode, "--adaptive-zoom", str(ADAPTIVE_S), "-o", str(ad)])
            sa = doc["stabilization"]
            z_eq = float(sa["visible_fraction"]) ** -0.5
            rows.append({"method": f"{label} --adaptive-zoom {ADAPTIVE_S:g}", "zoom": z_eq,
                         "zoom_label": f"{sa['crop_zoom_min']:.3f}-{sa['crop_zoom']:.3f}", **residual_rotation(ad, K, z_eq)})
            timing[f"stabilize_{mode}_adaptive_s"] = wall
    trf = work / f"{key}.trf"
    _ffmpeg(["-i", str(base), "-vf", f"vidstabdetect=result={trf}", "-f", "null", "-"])
    vs = work / f"{key}_vidstab.mp4"
    log = _ffmpeg(["-loglevel", "verbose", "-i", str(base), "-vf", f"vidstabtransform=input={trf}:optzoom=1",
                   "-an", "-c:v", "libx264", "-crf", "18", str(vs)])
    m = re.search(r"Final zoom:\s*([-0-9.]+)", log)
    z = 1.0 + float(m.group(1)) / 100.0 if m else 1.0
    rows.append({"method": "FFmpeg vidstabdetect + vidstabtransform (optzoom=1)", "zoom": z, **residual_rotation(vs, K, z)})
    ds = work / f"{key}_deshake.mp4"
    _ffmpeg(["-loglevel", "error", "-i", str(base), "-vf", "deshake", "-an", "-c:v", "libx264", "-crf", "18", str(ds)])
    rows.append({"method": "FFmpeg deshake (defaults; borders mirrored, not cropped)", "zoom": 1.0,
                 **residual_rotation(ds, K)})
    return {"key": key, "title": spec["title"], "rows": rows, "timing": timing, "stills": stills}


def _markdown(results: list[dict]) -> str:
    import platform

    lines = [f"Measured by `benchmarks/bench_stabilize.py` ({platform.machine()}, {os.cpu_count()} CPUs); "
             f"high-frequency part: rotation per frame pair minus its Gaussian-smoothed version, σ = {SIGMA_S} s.", ""]
    for res in results:
        rows = res["rows"]
        ref = rows[0]["rms_deg"]
        lines += [f"### {res['title']}", "",
                  "| method | HF mean (°/frame) | HF RMS (°/frame) | RMS reduction | crop zoom | frame kept |",
                  "|---|---:|---:|---:|---:|---:|"]
        for r in rows:
            red = "—" if r is rows[0] else f"{100 * (1 - r['rms_deg'] / ref):.0f} %"
            lines.append(f"| {r['method']} | {r['mean_deg']:.4f} | {r['rms_deg']:.4f} | {red} | "
                         f"{r.get('zoom_label') or format(r['zoom'], '.3f')} | {100 / r['zoom'] ** 2:.0f} % |")
        syncs = [r["sync"] for r in rows if "sync" in r and r["sync"].get("sync_offset_ms") is not None]
        for s in syncs:
            lines.append("")
            lines.append(f"Gyro sync: offset {s['sync_offset_ms']:.1f} ms, confidence {s['sync_confidence']:.2f}; "
                         f"gyro axes → camera {s['gyro_axes']}.")
        t = res["timing"]
        lines += ["", "Wall time of `l2 video` on this clip (one run, shared machine): lens only "
                  f"{t['lens_only_s']:.1f} s; " + "; ".join(f"{k[:-2].replace('_', ' ')} {v:.1f} s"
                                                             for k, v in t.items() if k != "lens_only_s") + ".", ""]
        a, b = res["stills"]
        lines += [f"Input (lens corrected) left, l2tech stabilised right; one frame, then the mean of 30 frames "
                  f"(shake blurs it):", "", f"![frame](img/stabilize/{a})", "", f"![average](img/stabilize/{b})", ""]
    return "\n".join(lines)


def update_doc(markdown: str) -> None:
    text = DOC.read_text()
    block = f"<!-- bench:stabilize -->\n{markdown.rstrip()}\n<!-- /bench:stabilize -->"
    pattern = re.compile(r"<!-- bench:stabilize -->.*?<!-- /bench:stabilize -->", re.S)
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    fd, tmp = tempfile.mkstemp(dir=DOC.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, DOC)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--clips", default="gopro,cctv")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(args.workdir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        results = [run_clip(k, work) for k in args.clips.split(",")]
    md = _markdown(results)
    print(md)
    print(json.dumps(results, indent=1, default=str), file=sys.stderr)
    if not args.no_write:
        update_doc(md)


if __name__ == "__main__":
    main()
