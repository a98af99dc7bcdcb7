"""The memory budget (issue 16 item 1; docs/RELIABILITY.md "Memory model").

Hostile but valid files are built here: a 13000×13000 PNG that compresses to ~0.5 MB and a
one-frame 8192×8192 H.264 clip. Under a budget they are refused before decoding, with the
estimate and the budget in the message, exit 1, nothing written; the child process's peak
resident memory, read with ``resource.getrusage(RUSAGE_CHILDREN)`` in a wrapper process that
runs nothing else, stays under the budget. A normal image under a generous budget is
processed, and its measured peak is under the estimate (the model is not optimistic).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

from l2tech.errors import LimitExceededError, UsageError
from l2tech.pipeline import memory
from l2tech.pipeline.memory import (BYTES_PER_PIXEL, MemoryEstimate, budgeted_job, check_memory, default_budget,
                                    estimate_still, estimate_video, format_size, parse_size, physical_memory_bytes)

GiB = 2**30

# runs ``l2 ARGS`` as its only child and prints {"rc", "maxrss_bytes", "stderr"}: ru_maxrss is the
# largest resident set of any waited-for child, in KiB on Linux (getrusage(2)). The first
# argument caps the child's address space (RLIMIT_AS, bytes; 0: no cap).
_WRAPPER = r"""
import json, resource, subprocess, sys
cap = int(sys.argv[1])
pre = (lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap))) if cap else None
p = subprocess.run([sys.executable, "-m", "l2tech.cli", *sys.argv[2:]], capture_output=True, text=True, preexec_fn=pre)
print(json.dumps({"rc": p.returncode, "maxrss_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
                  "stdout": p.stdout, "stderr": p.stderr}))
"""


def _run_measured(*args: str, address_space: int = 0) -> dict:
    out = subprocess.run([sys.executable, "-c", _WRAPPER, str(int(address_space)), *args], capture_output=True,
                         text=True, timeout=240, env=os.environ.copy())
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _big_png(path: Path, side: int) -> None:
    """A valid 8-bit RGB PNG of side×side black pixels, streamed (PNG spec §11.2.2, §11.2.4)."""
    comp = zlib.compressobj(9)
    row = b"\0" + bytes(3 * side)  # filter type 0, then the row
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))


def _shared_strip_tiff(path: Path, side: int, *, rows: int = 16, fill: int = 0) -> None:
    """A baseline 8-bit RGB TIFF of side×side pixels of value ``fill``, Deflate-compressed (TIFF 6.0
    §3, §8; Adobe Photoshop TIFF Technical Notes, compression 8), whose full strips all point at
    one compressed strip: a few KiB on disk for any size, so a file over half of any machine's
    memory is cheap to build."""
    n = math.ceil(side / rows)
    full = zlib.compress(bytes([fill]) * (3 * side * rows), 9)
    last = zlib.compress(bytes([fill]) * (3 * side * (side - rows * (n - 1))), 9)
    at_full = 8
    at_last = at_full + len(full)
    at_offsets = at_last + len(last)
    at_counts = at_offsets + 4 * n
    at_bps = at_counts + 4 * n
    at_ifd = at_bps + 6
    offsets = [at_full] * (n - 1) + [at_last]
    counts = [len(full)] * (n - 1) + [len(last)]
    if n == 1:  # one value fits in the entry itself
        offsets_field, counts_field = at_last, len(last)
    else:
        offsets_field, counts_field = at_offsets, at_counts
    entries = [(256, 4, 1, side), (257, 4, 1, side), (258, 3, 3, at_bps), (259, 3, 1, 8), (262, 3, 1, 2),
               (273, 4, n, offsets_field), (277, 3, 1, 3), (278, 4, 1, rows), (279, 4, n, counts_field),
               (284, 3, 1, 1)]
    ifd = struct.pack("<H", len(entries)) + b"".join(
        struct.pack("<HHIHH", tag, typ, cnt, val, 0) if typ == 3 and cnt == 1 else struct.pack("<HHII", tag, typ, cnt, val)
        for tag, typ, cnt, val in entries) + struct.pack("<I", 0)
    path.write_bytes(b"II*\x00" + struct.pack("<I", at_ifd) + full + last + struct.pack(f"<{n}I", *offsets)
                     + struct.pack(f"<{n}I", *counts) + struct.pack("<3H", 8, 8, 8) + ifd)


@pytest.fixture(scope="module")
def big_png(tmp_path_factory) -> Path:
    """The 13000×13000 PNG (built once: ~5 s)."""
    png = tmp_path_factory.mktemp("big") / "big.png"
    _big_png(png, 13000)
    return png


def _nothing_written(folder: Path) -> None:
    assert not folder.exists() or list(folder.iterdir()) == []


# -- parse_size, default budget ---------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("4G", 4 * 2**30), ("512M", 512 * 2**20), ("512m", 512 * 2**20), ("1.5GiB", 3 * 2**29), ("800MB", 800 * 2**20),
    ("2000000", 2_000_000), ("64K", 65536), ("1T", 2**40), (" 2 G ", 2 * 2**30), (4096, 4096),
])
def test_parse_size_binary_units(text, expected):
    # binary units, as free(1) -h / ulimit use them: K = 2**10, M = 2**20, G = 2**30, T = 2**40
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "G", "4X", "-1G", "0", "0M", "1e9", "four gigabytes", True])
def test_parse_size_refuses_what_is_not_a_size(text):
    with pytest.raises(UsageError):
        parse_size(text)


def test_default_budget_is_half_the_machine():
    # reference: the kernel's MemTotal (/proc/meminfo, KiB), the RAM sysconf reports less the
    # kernel's reserved pages; a container's cgroup limit can only lower it
    meminfo = Path("/proc/meminfo")
    if not meminfo.exists():
        pytest.skip("no /proc/meminfo (not Linux)")
    mem_total = int(next(ln for ln in meminfo.read_text().splitlines() if ln.startswith("MemTotal:")).split()[1]) * 1024
    total = physical_memory_bytes()
    assert total <= mem_total * 1.05
    assert default_budget() == int(total * 0.5)


def test_shared_strip_tiff_decodes_as_built(tmp_path):
    """The builder below makes a TIFF that decoders read: tifffile and Pillow decode every strip
    (the shared ones and the short last one) to the fill value."""
    import tifffile
    from PIL import Image

    p = tmp_path / "s.tif"
    _shared_strip_tiff(p, 37, rows=8, fill=77)
    for img in (tifffile.imread(p), np.asarray(Image.open(p))):
        assert img.shape == (37, 37, 3) and img.dtype == np.uint8 and np.all(img == 77)
    assert estimate_still(p, kind="correct").width == 37


def test_default_budget_refuses_a_job_over_half_the_machine(tmp_path):
    """No ``--max-memory``: the default budget (half the machine's memory, or of a smaller cgroup
    limit, as this process reads it) refuses a job whose estimate is over it. The TIFF is sized
    from this machine's own default, 1.25 times over it (nothing is patched: the real ``l2``
    reads the real machine). Refused before decoding: the child's peak resident memory stays
    under the budget and under the decoded 8-bit pixels alone (side² × 3 bytes); nothing is
    written, the input is unchanged. The child's address space is capped at the budget, so a
    regression that decoded the file would fail there instead of taking half the machine."""
    budget = default_budget()
    per_px = BYTES_PER_PIXEL["correct"] * memory.MARGIN
    side = math.ceil(math.sqrt((budget * 1.25 - memory.BASE_BYTES["still"]) / per_px))
    tif = tmp_path / "huge.tif"
    _shared_strip_tiff(tif, side)
    assert tif.stat().st_size < 1_000_000
    est = estimate_still(tif, kind="correct")
    assert (est.width, est.height) == (side, side) and est.peak_bytes > budget
    before = _sha256(tif)
    out = tmp_path / "out"
    r = _run_measured("correct", str(tif), "-o", str(out) + "/", address_space=budget)
    assert r["rc"] == 1, r["stderr"]
    err = r["stderr"]
    assert "Traceback" not in err and err.startswith(f"error (LimitExceededError): {tif}: "), err
    assert f"needs about {format_size(est.peak_bytes)} of memory at its peak ({side}x{side} px" in err
    assert f"the memory budget is {format_size(budget)}; not decoded, nothing written" in err
    assert r["maxrss_bytes"] < min(budget, side * side * 3)
    _nothing_written(out)
    assert sorted(p.name for p in tmp_path.iterdir() if p != out) == ["huge.tif"]
    assert _sha256(tif) == before


# -- estimates from headers -------------------------------------------------------------------

def test_estimate_reads_png_header_without_decoding(big_png):
    png = big_png
    assert png.stat().st_size < 600_000
    est = estimate_still(png, kind="correct")
    assert (est.width, est.height) == (13000, 13000)
    # base + pixels × bytes per pixel × margin (memory.MARGIN = 1.10)
    assert est.peak_bytes == int(memory.BASE_BYTES["still"] + 13000 * 13000 * BYTES_PER_PIXEL["correct"] * 1.10)


def test_estimate_adds_the_look_and_uses_the_staged_develop_figure(tmp_path):
    import cv2

    from l2tech.pipeline.recipe import Recipe

    p = tmp_path / "a.jpg"
    cv2.imwrite(str(p), np.zeros((30, 40, 3), np.uint8))
    est = estimate_still(p, Recipe(look="mono"), kind="correct")
    assert (est.width, est.height) == (40, 30)
    assert est.bytes_per_pixel == BYTES_PER_PIXEL["correct"] + BYTES_PER_PIXEL["look"]
    assert est.base_bytes == memory.BASE_BYTES["still"] + memory.BASE_BYTES["look"]
    assert estimate_still(tmp_path / "missing.jpg", kind="correct") is None  # the decoder reports it


def test_check_memory_message_names_file_estimate_and_budget():
    est = MemoryEstimate("x.png", "correct", 13000, 13000, 38.0, 0)
    with pytest.raises(LimitExceededError) as info:
        check_memory(est, GiB)
    msg = str(info.value)
    assert msg.startswith("x.png: ") and "13000x13000" in msg and "1.0 GiB" in msg
    assert "6.6 GiB" in msg  # 13000² × 38 × 1.1 = 7.06e9 B = 6.58 GiB
    check_memory(est, 8 * GiB)  # fits
    check_memory(None, 1)  # unreadable header: the decoder decides


def test_budgeted_job_refuses_and_limits_read_ahead(tmp_path):
    import cv2

    files = []
    for k in range(3):
        p = tmp_path / f"{k}.png"
        cv2.imwrite(str(p), np.zeros((1000, 1000, 3), np.uint8))
        files.append(str(p))
    seen = []

    def job(inp, out, upcoming):
        seen.append(list(upcoming))
        return "ok"

    one = estimate_still(files[0], kind="correct")
    # room for the current job and exactly one more decode
    wrapped = budgeted_job(job, None, kind="correct", budget=one.peak_bytes + one.job_bytes)
    assert wrapped(files[0], tmp_path / "o.png", files[1:]) == "ok"
    assert seen == [[files[1]]]
    with pytest.raises(LimitExceededError):
        budgeted_job(job, None, kind="correct", budget=one.peak_bytes - 1)(files[0], tmp_path / "o.png", [])


def test_video_estimate_takes_the_larger_frame():
    assert estimate_video("c.mp4", 1920, 1080, (3840, 2160)).width == 3840
    assert estimate_video("c.mp4", 1920, 1080).height == 1080


# -- whole processes ----------------------------------------------------------------------------

def test_13000_square_png_refused_under_budget_and_peak_stays_under(tmp_path, big_png):
    png = big_png
    before = _sha256(png)
    out = tmp_path / "out"
    r = _run_measured("correct", str(png), "-o", str(out) + "/", "--max-memory", "1G")
    assert r["rc"] == 1
    assert "LimitExceededError" in r["stderr"] and "big.png" in r["stderr"]
    assert "13000x13000" in r["stderr"] and "memory budget is 1.0 GiB" in r["stderr"]
    assert r["maxrss_bytes"] < GiB
    _nothing_written(out)
    assert _sha256(png) == before


def test_13000_square_png_refused_in_json_batch_the_rest_processed(tmp_path, big_png):
    import cv2

    png = big_png
    small = tmp_path / "small.png"
    cv2.imwrite(str(small), np.full((20, 30, 3), 128, np.uint8))
    before = _sha256(png), _sha256(small)
    out = tmp_path / "out"
    r = _run_measured("correct", str(png), str(small), "-o", str(out), "--max-memory", "1G", "--json")
    assert r["rc"] == 1
    doc = json.loads(r["stdout"])
    assert [x["status"] for x in doc["results"]] == ["failed", "ok"]
    assert doc["results"][0]["error_type"] == "LimitExceededError"
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".") and not p.name.endswith(".l2.toml")) == ["small.png"]
    assert [p.name for p in out.iterdir() if ".l2tmp-" in p.name] == []
    assert (_sha256(png), _sha256(small)) == before


def test_8192_square_h264_refused_under_budget_and_peak_stays_under(tmp_path):
    av = pytest.importorskip("av")
    clip = tmp_path / "big.mp4"
    try:
        with av.open(str(clip), "w") as c:
            s = c.add_stream("libx264", rate=25)
            s.width, s.height, s.pix_fmt = 8192, 8192, "yuv420p"
            s.options = {"preset": "ultrafast"}
            frame = av.VideoFrame.from_ndarray(np.zeros((8192 * 3 // 2, 8192), np.uint8), format="yuv420p")
            for pkt in s.encode(frame):
                c.mux(pkt)
            for pkt in s.encode(None):
                c.mux(pkt)
    except (av.FFmpegError, ValueError) as exc:
        pytest.skip(f"this FFmpeg's libx264 does not encode 8192x8192: {exc}")
    assert clip.stat().st_size < 200_000
    before = _sha256(clip)
    out = tmp_path / "out.mp4"
    r = _run_measured("video", str(clip), "-o", str(out), "--max-memory", "2G")
    assert r["rc"] == 1
    assert "LimitExceededError" in r["stderr"] and "8192x8192" in r["stderr"] and "2.0 GiB" in r["stderr"]
    assert r["maxrss_bytes"] < 2 * GiB
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if ".l2tmp-" in p.name] == []
    assert _sha256(clip) == before


def test_measured_peak_is_under_the_estimate(tmp_path):
    """The model is not optimistic: a 2000×2000 PNG corrected with a lens profile (the remap
    runs) peaks below its estimate, and the estimate is within 1.6× of the measurement."""
    import cv2

    rng = np.random.default_rng(0)
    png = tmp_path / "g.png"
    cv2.imwrite(str(png), rng.integers(0, 255, (2000, 2000, 3), dtype=np.uint8))
    est = estimate_still(png, kind="correct")
    lens = ("--camera", "Canon EOS 6D", "--lens", "Canon EF 24-105mm f/4L IS USM", "--focal-length", "24",
            "--f-number", "8", "--json")
    # The first run on a clean clone compiles the fused kernel (numba caches it on disk); LLVM's
    # compile adds about 95 MB to that one run's peak, which is not the job's memory: warm first.
    _run_measured("correct", str(png), "-o", str(tmp_path / "warm") + "/", *lens)
    out = tmp_path / "out"
    r = _run_measured("correct", str(png), "-o", str(out) + "/", *lens)
    assert r["rc"] == 0, r["stderr"]
    assert json.loads(r["stdout"])["results"][0]["lens"]["corrections"]["distortion"]["applied"]
    # measured here: 343 MB against an estimate of 409 MB
    assert r["maxrss_bytes"] < est.peak_bytes < 1.6 * r["maxrss_bytes"]


def test_look_runs_in_bands_and_its_peak_is_under_the_estimate(tmp_path):
    """A look no longer takes ~200 bytes per pixel: its stages run on bands of rows. The same
    2000×2000 PNG corrected with a lens profile and the ``mono-grain`` look (mono, tone curve,
    grain: the float64-heavy stages and the one spatial stage) peaks under its estimate
    (``correct`` 38 + ``look`` 8 B/px, + 300 + 100 MiB), which is within 1.6× of the peak."""
    import cv2

    from l2tech.pipeline.recipe import Recipe

    rng = np.random.default_rng(0)
    png = tmp_path / "g.png"
    cv2.imwrite(str(png), rng.integers(0, 255, (2000, 2000, 3), dtype=np.uint8))
    est = estimate_still(png, Recipe(look="mono-grain"), kind="correct")
    lens = ("--camera", "Canon EOS 6D", "--lens", "Canon EF 24-105mm f/4L IS USM", "--focal-length", "24",
            "--f-number", "8")
    _run_measured("correct", str(png), "-o", str(tmp_path / "warm") + "/", *lens)  # compiles the kernels once
    r = _run_measured("correct", str(png), "-o", str(tmp_path / "out") + "/", *lens, "--look", "mono-grain")
    assert r["rc"] == 0, r["stderr"]
    # measured here: 447 MiB (the same run without the look: 339 MiB); before the bands 1107 MiB,
    # which this estimate (525 MiB) refuses
    assert r["maxrss_bytes"] < est.peak_bytes < 1.6 * r["maxrss_bytes"]


def test_develop_estimate_reads_libraw_header():
    from conftest import shared_file

    raw = shared_file("raw/decodable/canon_eos_d30__16-35mm.crw")
    import rawpy

    with rawpy.imread(str(raw)) as r:  # reference: LibRaw's own header parse, 2224x1456
        w, h = max(r.sizes.raw_width, r.sizes.width), max(r.sizes.raw_height, r.sizes.height)
    est = estimate_still(raw, kind="develop")
    assert (est.width, est.height) == (w, h) == (2224, 1456)
    assert est.path_kind == "develop" and est.bytes_per_pixel == BYTES_PER_PIXEL["develop"]
    from l2tech.pipeline.recipe import Recipe

    assert estimate_still(raw, Recipe(interpolation="bicubic"), kind="develop").path_kind == "develop_staged"


def test_fixed_footprint_of_each_path_is_under_its_estimate(tmp_path):
    """The fixed part of the model (``BASE_BYTES``) holds on a clean install: a small PNG
    corrected, a 3.2 MP RAW developed and half a second of an 854×480 clip each peak under their
    estimates. Right after ``pip install`` the shared libraries sit in the page cache in large
    folios that a mapping counts whole (measured on a clean clone: 280 MiB for a still, 341 MiB
    for the clip, against 208 and 268 MiB when the libraries were read from disk)."""
    import cv2

    from conftest import shared_file

    png = tmp_path / "t.png"
    cv2.imwrite(str(png), np.zeros((64, 96, 3), np.uint8))
    lens = ("--camera", "Canon EOS 6D", "--lens", "Canon EF 24-105mm f/4L IS USM", "--focal-length", "24",
            "--f-number", "8")
    _run_measured("correct", str(png), "-o", str(tmp_path / "warm") + "/", *lens)  # kernels compiled and cached
    r = _run_measured("correct", str(png), "-o", str(tmp_path / "c") + "/", *lens)
    assert r["rc"] == 0, r["stderr"]
    assert r["maxrss_bytes"] < estimate_still(png, kind="correct").peak_bytes

    raw = shared_file("raw/decodable/canon_eos_d30__16-35mm.crw")
    _run_measured("develop", str(raw), "-o", str(tmp_path / "dwarm") + "/")
    r = _run_measured("develop", str(raw), "-o", str(tmp_path / "d") + "/")
    assert r["rc"] == 0, r["stderr"]
    assert r["maxrss_bytes"] < estimate_still(raw, kind="develop").peak_bytes

    clip = shared_file("video/gopro_hero5_karma_drone.mp4")
    _run_measured("video", str(clip), "-o", str(tmp_path / "vwarm") + "/", "--duration", "0.5")
    r = _run_measured("video", str(clip), "-o", str(tmp_path / "v") + "/", "--duration", "0.5")
    assert r["rc"] == 0, r["stderr"]
    assert r["maxrss_bytes"] < estimate_video(str(clip), 854, 480).peak_bytes


def _cfa_dng(path: Path, width: int, height: int) -> Path:
    """A width×height 14-bit RGGB CFA DNG with the Kiss X4's colour tags (test_raw_opcodes.py's
    layout, no margins): a smooth field with noise, so the demosaic and encoder do real work."""
    import tifffile

    from test_raw_opcodes import BLACK, WHITE, _colour_tags

    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:height, 0:width]
    lin = 0.05 + 0.1 * (x / width) + 0.05 * (y / height)
    raster = np.rint(BLACK + (lin + rng.normal(0, 0.004, lin.shape)).clip(0, 1) * (WHITE - BLACK)).astype(np.uint16)
    extra = _colour_tags() + [(50706, 1, 4, (1, 4, 0, 0), True), (50717, 4, 1, WHITE, True),
                              (50714, 3, 1, BLACK, True), (50829, 4, 4, (0, 0, height, width), True)]
    tifffile.imwrite(path, raster, photometric=32803, metadata=None, extratags=extra)
    return path


def test_staged_develop_peak_is_under_the_estimate_at_6_mp(tmp_path):
    """The staged develop (here Lanczos resampling) of a 6 MP CFA DNG peaks under its estimate
    (``develop_staged`` 60 B/px + 300 MiB). Found by ``benchmarks/bench_memory.py``: the tone
    curve ran on the whole frame in float64 (~230 B/px of temporaries) and a 6 MP file peaked at
    1529 MiB against an estimate of ~600 MiB (24 MP: 5.9 GB); it runs in bands of rows now
    (543 MiB measured). The small shared RAWs (1–3 MP) never showed it: the fixed part hid it."""
    dng = _cfa_dng(tmp_path / "six.dng", 3000, 2000)
    from l2tech.pipeline.recipe import Recipe

    est = estimate_still(dng, Recipe(interpolation="lanczos"), kind="develop")
    assert est.path_kind == "develop_staged" and (est.width, est.height) == (3000, 2000)
    _run_measured("develop", str(dng), "-o", str(tmp_path / "warm") + "/", "--interpolation", "lanczos")
    r = _run_measured("develop", str(dng), "-o", str(tmp_path / "out") + "/", "--interpolation", "lanczos")
    assert r["rc"] == 0, r["stderr"]
    assert (tmp_path / "out" / "six.jpg").is_file()
    assert r["maxrss_bytes"] < est.peak_bytes, (r["maxrss_bytes"] >> 20, est.peak_bytes >> 20)


def test_staged_tone_in_bands_gives_the_whole_frame_values(monkeypatch):
    """The banded tone curve of the staged output encoding changes no value: bit-identical to
    the curve over the whole frame (the curve and the matrix act per pixel)."""
    from l2tech.color.display import encode_display, working_to_display_matrix
    from l2tech.color.tone import FilmicCurve
    from l2tech.pipeline import stills
    from l2tech.pipeline.recipe import Recipe

    rng = np.random.default_rng(3)
    img = (rng.random((301, 517, 3), np.float32) * 3.0).astype(np.float32)
    img[5, 7] = [np.nan, -1.0, 50.0]
    curve = FilmicCurve()
    m = working_to_display_matrix("srgb").astype(np.float32)
    whole = encode_display(curve(np.ascontiguousarray(img) @ m.T), "srgb", working_space="srgb")
    monkeypatch.setattr(stills, "_TONE_BAND_PIXELS", 4000)  # 7 rows per band, 44 bands
    banded, space, _ = stills._encode_output(img, Recipe(), "srgb", tone=curve)
    assert space == "srgb" and banded.dtype == whole.dtype
    np.testing.assert_array_equal(banded, whole)


def _noise_clip(path, width: int, height: int, *, frames: int, seed: int):
    """An H.264 clip of ``frames`` frames of noise panned 8 px a frame (hard to compress)."""
    import av

    base = np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            for p in s.encode(av.VideoFrame.from_ndarray(np.roll(base, 8 * i, axis=1), format="rgb24")):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return path


def test_lens_corrected_720p_clip_peaks_under_the_video_estimate(tmp_path):
    """``l2 video`` with lens correction on a one-second 1280×720 H.264 clip peaks under its
    estimate. Found by ``benchmarks/bench_memory.py``: with the old figures (110 B/px + 350 MiB,
    measured on half-second clips without lens correction) the estimate was 456 MiB and the run
    peaked at 588 MiB (1080p: 589 against 1083 MiB); the set-up's lens maps and the allocator
    arenas of the worker threads were not in the model."""
    clip = _noise_clip(tmp_path / "c720.mp4", 1280, 720, frames=25, seed=2)
    est = estimate_video(clip, 1280, 720)
    lens = ("--camera", "Canon EOS 6D", "--lens", "Canon EF 24-105mm f/4L IS USM", "--focal-length", "24",
            "--f-number", "8")
    r = _run_measured("video", str(clip), "-o", str(tmp_path / "out.mp4"), *lens)
    assert r["rc"] == 0, r["stderr"]
    assert r["maxrss_bytes"] < est.peak_bytes, (r["maxrss_bytes"] >> 20, est.peak_bytes >> 20)


def test_lens_corrected_1080p_clip_set_up_peaks_under_900_mib(tmp_path):
    """The lens set-up of a 1080p clip (``grid_from_maps``) copied the dense per-channel map to
    float64 on every bilinear sample and evaluated the full-resolution node grid at once: the
    run peaked at 1083 MiB whatever the encoder or the frames in flight (the same with
    ``--preset ultrafast`` and two frames in flight). Gathering before widening and evaluating in
    bands of rows brings it to ~720 MiB, the output bit-identical."""
    clip = _noise_clip(tmp_path / "c1080.mp4", 1920, 1080, frames=10, seed=3)
    lens = ("--camera", "Canon EOS 6D", "--lens", "Canon EF 24-105mm f/4L IS USM", "--focal-length", "24",
            "--f-number", "8")
    r = _run_measured("video", str(clip), "-o", str(tmp_path / "out.mp4"), "--preset", "ultrafast", *lens)
    assert r["rc"] == 0, r["stderr"]
    assert r["maxrss_bytes"] < 900 * 2**20, r["maxrss_bytes"] >> 20


def test_grid_from_maps_in_bands_is_identical(monkeypatch):
    """Evaluating the grid in bands of rows gives the same grid as at once (elementwise work)."""
    import l2tech.correct.fused as fused

    h, w = 120, 200
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    r2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / (cx**2 + cy**2)
    m = np.empty((h, w, 3, 2), np.float32)
    for c, k in enumerate((-0.081, -0.08, -0.079)):  # a barrel map with lateral CA
        m[:, :, c, 0] = cx + (xx - cx) * (1 + k * r2)
        m[:, :, c, 1] = cy + (yy - cy) * (1 + k * r2)
    gain = (1 + 0.4 * r2).astype(np.float32)
    whole = fused.grid_from_maps((w, h), m, gain, tol_px=1e-4)
    monkeypatch.setattr(fused, "_BAND_POINTS", 64)  # a few rows of nodes a band
    banded = fused.grid_from_maps((w, h), m, gain, tol_px=1e-4)
    assert banded.step == whole.step and np.array_equal(banded.grid, whole.grid)
