"""Garbage is never accepted as an image (issue 16 item 2; docs/RELIABILITY.md).

* A JPEG whose SOF header claims 13000×13000 over ~90 KB of data is refused before decoding
  (at least one Huffman code per 8×8 block, ITU-T T.81 §F.1.2.1) — it used to be written as a
  flat grey 13000² image with exit 0. libjpeg's own output, flat grey (its best compression),
  baseline or progressive, colour or grey, is never refused.
* A JPEG cut mid-scan and closed with an EOI marker — progressive, or baseline without restart
  markers — is refused with libjpeg's own warning (decoded strictly through simplejpeg); Pillow
  decodes it silently, grey below the cut. ``--max-decode-errors 1`` accepts it with a warning.
* An MP4 whose H.264 data has bit flips: the decoder conceals the damage and logs errors,
  which are counted; the default ``--max-decode-errors 0`` refuses the clip (exit 1, nothing
  written), a larger allowance writes it and reports the count. A clean clip counts zero.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from l2tech.errors import CorruptInputError
from l2tech.io.image import read_image


def _l2(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "l2tech.cli", *args], capture_output=True, text=True, timeout=timeout,
                          env=os.environ.copy())


def _forged_jpeg(path, side=13000):
    """A real 400×300 noise JPEG (~90 KB) whose SOF0 is patched to claim side×side."""
    rng = np.random.default_rng(1)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(buf, "JPEG", quality=85)
    data = bytearray(buf.getvalue())
    sof = data.find(b"\xff\xc0")
    struct.pack_into(">HH", data, sof + 5, side, side)  # Y, X after length (2) and precision (1)
    path.write_bytes(bytes(data))
    return len(data)


def test_forged_sof_refused_before_decoding(tmp_path):
    jpg = tmp_path / "forged.jpg"
    n = _forged_jpeg(jpg)
    assert n < 150_000
    with pytest.raises(CorruptInputError, match="13000x13000"):
        read_image(jpg)


def test_forged_sof_cli_exit_1_nothing_written_small_peak(tmp_path):
    jpg = tmp_path / "forged.jpg"
    _forged_jpeg(jpg)
    before = jpg.read_bytes()
    out = tmp_path / "out"
    wrapper = ("import resource, subprocess, sys, json; p = subprocess.run([sys.executable, '-m', 'l2tech.cli', *sys.argv[1:]], "
               "capture_output=True, text=True); print(json.dumps([p.returncode, p.stderr, "
               "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024]))")
    r = subprocess.run([sys.executable, "-c", wrapper, "correct", str(jpg), "-o", str(out) + "/"], capture_output=True,
                       text=True, timeout=180, env=os.environ.copy())
    rc, err, peak = json.loads(r.stdout)
    assert rc == 1
    assert "CorruptInputError" in err and "forged.jpg" in err and "at least 495,320" in err
    # 13000² 4:2:0: 1625² luma + 2 × 813² chroma blocks = 3,962,563 bits → 495,320 bytes
    assert peak < 600 * 2**20  # was 8.3 GB
    assert not out.exists() or list(out.iterdir()) == []
    assert jpg.read_bytes() == before


@pytest.mark.parametrize("mode, subsampling, progressive", [
    ("RGB", 2, False), ("RGB", 0, False), ("RGB", 2, True), ("L", None, False), ("L", None, True),
])
def test_libjpeg_output_at_its_best_compression_is_never_refused(tmp_path, mode, subsampling, progressive):
    # a flat image at quality 1: libjpeg's smallest possible file for its size (the bound's worst case)
    p = tmp_path / "flat.jpg"
    img = Image.new(mode, (2050, 1030), 128 if mode == "L" else (128, 128, 128))
    kw = {"subsampling": subsampling} if subsampling is not None else {}
    img.save(p, "JPEG", quality=1, progressive=progressive, optimize=True, **kw)
    dec = read_image(p)
    assert dec.pixels.shape == (1030, 2050, 3)
    assert abs(float(dec.pixels.mean()) - 128 / 255) < 2 / 255


def _clip(path, n=12, size=(320, 240)):
    from l2tech.video.synth import numbered_frames, write_clip

    write_clip(path, numbered_frames(n, *size), options={"preset": "ultrafast"})


def _flip_bits(src, dst, flips=120, seed=3):
    data = bytearray(src.read_bytes())
    start = data.find(b"mdat") + 4 + 1000  # past the first slice headers: the stream still opens
    rng = np.random.default_rng(seed)
    for k in rng.integers(start, len(data) - 16, flips):
        data[k] ^= 1 << int(rng.integers(0, 8))
    dst.write_bytes(bytes(data))


def test_bit_flipped_h264_refused_by_default_and_counted_when_allowed(tmp_path):
    pytest.importorskip("av")
    clean, bad = tmp_path / "clean.mp4", tmp_path / "flipped.mp4"
    _clip(clean)
    _flip_bits(clean, bad)
    before = bad.read_bytes()
    # reference: the ffmpeg CLI reports errors for this file (`ffmpeg -v error -i flipped.mp4 -f null -`)
    ref = subprocess.run(["ffmpeg", "-v", "error", "-i", str(bad), "-f", "null", "-"], capture_output=True, text=True)
    if ref.returncode != 0 and not ref.stderr:
        pytest.skip("ffmpeg CLI not usable here")
    assert ref.stderr.count("\n") > 0, "the flips did not damage the stream; choose another seed"

    out = tmp_path / "out.mp4"
    r = _l2("video", str(bad), "-o", str(out))
    assert r.returncode == 1, r.stderr
    assert "DecodeError" in r.stderr and "--max-decode-errors" in r.stderr
    assert not out.exists() and [p.name for p in tmp_path.iterdir() if ".l2tmp-" in p.name] == []
    assert bad.read_bytes() == before

    r = _l2("video", str(bad), "-o", str(out), "--max-decode-errors", "100000", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)["results"][0]
    assert 0 < doc["decode_errors"] <= 12  # bad frames, at most the clip's 12
    assert any("decoder concealed errors" in w for w in doc["warnings"])

    r = _l2("video", str(clean), "-o", str(tmp_path / "clean_out.mp4"), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["results"][0]["decode_errors"] == 0


@pytest.mark.parametrize("kw", [{"restart_marker_rows": 1}, {"restart_marker_blocks": 5},
                                {"restart_marker_rows": 1, "subsampling": 0}])
def test_scan_cut_short_with_eoi_is_refused_when_it_has_restart_markers(tmp_path, kw):
    # libjpeg decodes such a file with only a warning ("premature end of data segment"),
    # padding the missing rows with flat grey; Pillow shows no warning
    rng = np.random.default_rng(2)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(buf, "JPEG", quality=85, **kw)
    whole = tmp_path / "whole.jpg"
    whole.write_bytes(buf.getvalue())
    assert read_image(whole).pixels.shape == (300, 400, 3)  # the complete file is read
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(buf.getvalue()[: int(len(buf.getvalue()) * 0.7)] + b"\xff\xd9")
    with Image.open(cut) as im:
        im.load()  # the decoder accepts it: this is the garbage being refused
    with pytest.raises(CorruptInputError, match="scan ends early"):
        read_image(cut)


# --- a scan cut short and closed with an EOI, without restart markers or progressive ---------


def _cut_mid_scan(data: bytes, fraction: float) -> bytes:
    """The JPEG cut at ``fraction`` of its coded data (after the last SOS before that point), closed with EOI."""
    first_sos = data.find(b"\xff\xda")
    return data[: first_sos + int((len(data) - first_sos) * fraction)] + b"\xff\xd9"


def _jpeg_from_shared(tmp_path, progressive: bool) -> tuple:
    from conftest import shared_file

    src = shared_file("raw/jpeg_reference/canon_6d__ef100mm_macro.jpg")  # 500x500 baseline camera JPEG
    buf = io.BytesIO()
    with Image.open(src) as im:
        im.convert("RGB").save(buf, "JPEG", quality=90, progressive=progressive)
    data = buf.getvalue()
    assert b"\xff\xdd" not in data  # no DRI segment: no restart markers, the earlier check cannot see the cut
    assert (data.count(b"\xff\xda") > 1) == progressive  # a progressive file has several scans
    whole = tmp_path / ("prog.jpg" if progressive else "base.jpg")
    whole.write_bytes(data)
    cut = tmp_path / ("prog_cut.jpg" if progressive else "base_cut.jpg")
    cut.write_bytes(_cut_mid_scan(data, 0.6))
    return whole, cut


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
def test_scan_cut_short_with_eoi_refused_without_restart_markers(tmp_path, capsys, progressive):
    from l2tech.cli.main import main
    from l2tech.io.image import _check_jpeg_data

    whole, cut = _jpeg_from_shared(tmp_path, progressive)
    before = cut.read_bytes()
    # the garbage being refused: Pillow (libjpeg-turbo) decodes it without an error or a warning,
    # and the per-block size bound passes (60 % of the coded data is there); the picture is not
    # the intact one: baseline, rows 287+ are flat grey (PSNR 17.4 dB against the intact decode);
    # progressive, the refinement scans are missing (32.3 dB)
    with Image.open(cut) as im, Image.open(whole) as ref_im:
        got = np.asarray(im.convert("RGB"), dtype=np.float64)
        intact = np.asarray(ref_im.convert("RGB"), dtype=np.float64)
    psnr_db = 10 * np.log10(255**2 / np.mean((got - intact) ** 2))
    assert psnr_db < 35
    if not progressive:
        assert np.ptp(got[-50:]) <= 2  # the bottom rows are one flat value: fabricated
    _check_jpeg_data(cut)
    # the reference: libjpeg-turbo itself reports the damage as a warning (JWRN_HIT_MARKER), which
    # strict decoding raises: simplejpeg.decode_jpeg(cut.read_bytes(), strict=True) -> ValueError
    # "Corrupt JPEG data: premature end of data segment"
    with pytest.raises(CorruptInputError, match="premature end of data segment") as info:
        read_image(cut)
    assert str(cut) in str(info.value)

    out = tmp_path / "out"
    rc = main(["correct", str(cut), "-o", str(out) + "/", "--no-lens-correction", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 1
    (res,) = doc["results"]
    assert (res["status"], res["error_type"]) == ("failed", "CorruptInputError")
    assert res["error"].startswith(f"{cut}: damaged JPEG data: libjpeg reports 'Corrupt JPEG data: premature end of data segment'")
    assert "--max-decode-errors 1" in res["error"]
    assert not out.exists() or [p.name for p in out.iterdir() if not p.name.startswith(".l2-journal")] == []
    assert cut.read_bytes() == before

    # the intact file passes and decodes exactly as Pillow decodes it (both libjpeg-turbo, ISLOW
    # IDCT, fancy upsampling): max |difference| 0 codes
    with Image.open(whole) as im:
        ref = np.asarray(im.convert("RGB"))
    dec = read_image(whole)
    assert dec.decode_errors == ()
    assert np.array_equal(np.round(dec.pixels * 255).astype(np.uint8), ref)
    assert main(["correct", str(whole), "-o", str(out) + "/", "--no-lens-correction", "-q"]) == 0
    assert (out / whole.name).is_file()


def test_max_decode_errors_accepts_a_damaged_still_with_a_warning(tmp_path, capsys):
    from l2tech.cli.main import main

    _, cut = _jpeg_from_shared(tmp_path, progressive=True)
    dec = read_image(cut, max_decode_errors=1)
    assert dec.decode_errors == ("Corrupt JPEG data: premature end of data segment",)
    with Image.open(cut) as im:  # accepted, the pixels are libjpeg's (Pillow's) best effort
        assert np.array_equal(np.round(dec.pixels * 255).astype(np.uint8), np.asarray(im.convert("RGB")))
    out = tmp_path / "out.jpg"
    rc = main(["correct", str(cut), "-o", str(out), "--no-lens-correction", "--max-decode-errors", "1", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and out.is_file()
    assert any("damaged JPEG data accepted (--max-decode-errors 1)" in w and "premature end of data segment" in w
               for w in doc["results"][0]["warnings"]), doc


@pytest.mark.parametrize("kw", [{"restart_marker_rows": 1}, {"progressive": True}, {}])
def test_a_file_cut_without_eoi_is_refused(tmp_path, kw):
    # no EOI at all: libjpeg warns "Premature end of JPEG file" (JWRN_JPEG_EOF); Pillow raises
    # "image file is truncated" too, so this was already refused, now with libjpeg's own words
    rng = np.random.default_rng(4)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)).save(buf, "JPEG", quality=80, **kw)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(buf.getvalue()[: int(len(buf.getvalue()) * 0.8)])
    with pytest.raises(CorruptInputError, match="Premature end of JPEG file|scan ends early"):
        read_image(cut)
