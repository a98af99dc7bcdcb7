"""SIGTERM / SIGINT / SIGKILL during long commands (RELIABILITY.md E3, cases 19-20; issue 16 item 5).

Real ``l2`` processes are started and signalled once their temp file exists: they must remove
it, print the summary so far and exit 143 (SIGTERM) or 130 (SIGINT); nothing partial is left.
A SIGKILLed run cannot clean up; the next run into the folder removes its temp file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import shared_file
from l2tech.pipeline.journal import JOURNAL_NAME
from l2tech.video.synth import numbered_frames, write_clip

TIMEOUT_S = 90  # every wait below is bounded by this


def _temps(folder, stem=""):
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(f".{stem}") and ".l2tmp-" in p.name)


def _start_and_signal(args, folder, sig, settle_s=0.3, stem=""):
    """Run ``l2 ARGS``; once a temp file (of output ``stem``) appears in ``folder`` send ``sig``;
    return (rc, stdout, stderr)."""
    proc = subprocess.Popen([sys.executable, "-m", "l2tech.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "COLUMNS": "1000"})
    try:
        t0 = time.monotonic()
        while not _temps(folder, stem):
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"l2 finished (rc {proc.returncode}) before writing a temp file:\n{out}\n{err}")
            if time.monotonic() - t0 > TIMEOUT_S:
                pytest.fail("no temp file appeared")
            time.sleep(0.005)
        time.sleep(settle_s)  # well inside the work, not at its first instruction
        assert proc.poll() is None, "finished before the signal could be sent; make the input bigger"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    """A 320x240 H.264 clip of 300 frames: several seconds of ``l2 video`` work."""
    path = tmp_path_factory.mktemp("clip") / "long.mp4"
    write_clip(path, numbered_frames(300, 320, 240))
    return path


VIDEO_ARGS = ["--lens-model", "opencv", "--intrinsics", "300,300,160,120", "--dist-coeffs=-0.2,0.05,0,0"]


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_video_signal_removes_temp_and_exits_128_plus_signal(tmp_path, long_clip, sig, code):
    out = tmp_path / "out"
    out.mkdir()
    before = long_clip.read_bytes()
    rc, stdout, err = _start_and_signal(["video", str(long_clip), "-o", str(out / "x.mp4")], out, sig)
    assert rc == code, err
    assert os.listdir(out) == []  # no temp, no output
    assert "interrupted: 1 of 1 clips not done" in err
    assert "Traceback" not in err
    assert long_clip.read_bytes() == before


def test_video_sigkill_temp_is_removed_by_the_next_run(tmp_path, long_clip):
    out = tmp_path / "out"
    out.mkdir()
    rc, _, _ = _start_and_signal(["video", str(long_clip), "-o", str(out / "x.mp4")], out, signal.SIGKILL)
    assert rc == -signal.SIGKILL
    (left,) = _temps(out)  # a killed process cannot clean up ...
    short = tmp_path / "short.mp4"
    write_clip(short, numbered_frames(4, 64, 48))
    rc = subprocess.run([sys.executable, "-m", "l2tech.cli", "video", str(short), "-o", str(out / "y.mp4"), "-q"],
                        timeout=TIMEOUT_S, capture_output=True, text=True)
    assert rc.returncode == 0, rc.stderr
    assert sorted(os.listdir(out)) == ["y.mp4", "y.mp4.l2.toml"]  # ... the next run into the folder removes its temp


def test_correct_batch_sigterm_prints_summary_so_far(tmp_path):
    """``l2 correct`` on a small then a big image: SIGTERM while the big one is written."""
    small = tmp_path / "a.png"
    big = tmp_path / "b.png"
    rng = np.random.default_rng(1)
    assert cv2.imwrite(str(small), np.full((16, 24, 3), 100, np.uint16))
    # noise compresses slowly: the 16-bit PNG encode of the output takes about a second
    assert cv2.imwrite(str(big), rng.integers(0, 65536, (3000, 4000, 3), dtype=np.uint16))
    out = tmp_path / "out"
    rc, stdout, err = _start_and_signal(["correct", str(small), str(big), "-o", str(out), "--no-lens-correction",
                                         "--json"], out, signal.SIGTERM, settle_s=0.05, stem="b")
    assert rc == 143, err
    doc = json.loads(stdout)
    assert doc["interrupted"] is True
    assert [(os.path.basename(r["input"]), r["status"]) for r in doc["results"]] == [("a.png", "ok")]
    assert doc["not_done"] == [str(big)]
    # the finished one kept (with its sidecar and journal line), nothing of the interrupted one
    assert sorted(os.listdir(out)) == [".l2-journal.jsonl", "a.png", "a.png.l2.toml"]
    assert "interrupted: 1 of 2 inputs not done" in err


# ---- every long command: develop and correct batches, lut apply / bake, calibrate ----------------

SIXD = "raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng"
N_RAWS = 16  # enough that a fast machine is still busy 0.2 s after the first output


def _sha(p) -> str:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def _catches_sigterm(pid: int) -> bool:
    """True once process ``pid`` has a SIGTERM handler: ``l2`` installs it when the command
    starts (:func:`l2tech.cli.common.handle_signals`); before that SIGTERM would just kill it."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    m = re.search(r"^SigCgt:\s*([0-9a-fA-F]+)", status, re.M)
    return m is not None and bool(int(m.group(1), 16) >> (signal.SIGTERM - 1) & 1)


def _signal_when(args, ready, sig, *, settle_s=0.0):
    """Run ``l2 ARGS``; send ``sig`` ``settle_s`` after ``ready(pid)`` is first true (polled);
    return (rc, stdout, stderr). Fails when ``l2`` ends first."""
    env = {**os.environ, "COLUMNS": "1000"}  # rich does not wrap the long tmp paths
    proc = subprocess.Popen([sys.executable, "-m", "l2tech.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        t0 = time.monotonic()
        while not ready(proc.pid):
            if proc.poll() is not None:
                out, err = proc.communicate()
                pytest.fail(f"l2 finished (rc {proc.returncode}) before the moment to signal it:\n{out}\n{err}")
            if time.monotonic() - t0 > TIMEOUT_S:
                pytest.fail("timed out waiting for the moment to signal")
            time.sleep(0.005)
        time.sleep(settle_s)
        assert proc.poll() is None, "finished before the signal could be sent; give it more work"
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out, err


def _journaled(folder) -> list[dict]:
    path = folder / JOURNAL_NAME
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.fixture
def raw_batch(tmp_path):
    """``N_RAWS`` copies of the small 6D DNG (1224x816 lossy linear) under their own names."""
    src = shared_file(SIXD)
    folder = tmp_path / "raws"
    folder.mkdir()
    paths = []
    for k in range(N_RAWS):
        p = folder / f"r{k}.dng"
        shutil.copy(src, p)
        paths.append(p)
    return paths


@pytest.mark.parametrize("sig, code, mode, jobs, settle_s", [
    (signal.SIGTERM, 143, "json", 1, 0.0),
    (signal.SIGINT, 130, "text", 1, 0.2),
    (signal.SIGTERM, 143, "text", 2, 0.2),
    (signal.SIGINT, 130, "json", 2, 0.0),
], ids=["SIGTERM-json-in-process", "SIGINT-text-in-process", "SIGTERM-text-workers", "SIGINT-json-workers"])
def test_develop_batch_signal_mid_batch_keeps_the_finished_and_prints_them(tmp_path, raw_batch, sig, code, mode, jobs,
                                                                         settle_s):
    """``l2 develop`` of N_RAWS RAWs, signalled once the first output is journaled (at once: while the
    journal line is synced, the output already in place; or 0.2 s later): exit 128 + signal, the
    summary so far (``--json``: one document with ``interrupted`` and ``not_done``) naming every
    finished output and only those, the finished outputs whole with their sidecars, nothing of
    the others, inputs unchanged."""
    before = {p: _sha(p) for p in raw_batch}
    out = tmp_path / "out"
    args = ["develop", *map(str, raw_batch), "-o", f"{out}/", "--jobs", str(jobs)] + (["--json"] if mode == "json" else [])
    rc, stdout, err = _signal_when(args, lambda pid: len(_journaled(out)) >= 1, sig, settle_s=settle_s)
    assert rc == code, err
    assert "Traceback" not in err
    done = sorted(e["output"] for e in _journaled(out))
    assert 1 <= len(done) < N_RAWS, "signalled too late: every file was done"
    m = re.search(rf"^interrupted: (\d+) of {N_RAWS} inputs not done", err, re.M)
    assert m and int(m.group(1)) == N_RAWS - len(done), err
    not_done = [str(p) for p in raw_batch if p.with_suffix(".jpg").name not in done]
    if mode == "json":
        doc = json.loads(stdout)  # exactly one JSON document on stdout
        assert doc["interrupted"] is True
        assert sorted(Path(r["output"]).name for r in doc["results"] if r["status"] == "ok") == done
        assert doc["ok"] == len(done) and doc["failed"] == 0 and doc["skipped"] == 0
        assert doc["not_done"] == not_done
    else:
        assert re.search(rf"^{len(done)} written, 0 skipped, 0 failed", stdout, re.M), stdout
        for name in done:
            assert re.search(rf"^{name[:-4]}\.dng → .*{re.escape(name)}$", stdout, re.M), stdout
    # the finished outputs as the journal recorded them (whole, published once), nothing else
    assert sorted(os.listdir(out)) == sorted([JOURNAL_NAME, *done, *(n + ".l2.toml" for n in done)])
    for e in _journaled(out):
        f = out / e["output"]
        st = f.stat()
        assert (st.st_size, st.st_mtime_ns, _sha(f)) == (e["output_size"], e["output_mtime_ns"], e["output_sha256"])
        assert cv2.imread(str(f)).shape == (816, 1224, 3)
    assert {p: _sha(p) for p in raw_batch} == before


def test_correct_batch_sigint_text_prints_summary_so_far(tmp_path):
    """``l2 correct`` (text output) on a small then a big image: Ctrl-C while the big one is
    written → exit 130, "1 written" and the finished file's line, nothing of the big one."""
    small = tmp_path / "a.png"
    big = tmp_path / "b.png"
    rng = np.random.default_rng(2)
    assert cv2.imwrite(str(small), np.full((16, 24, 3), 100, np.uint16))
    assert cv2.imwrite(str(big), rng.integers(0, 65536, (3000, 4000, 3), dtype=np.uint16))
    before = {p: _sha(p) for p in (small, big)}
    out = tmp_path / "out"
    rc, stdout, err = _start_and_signal(["correct", str(small), str(big), "-o", str(out), "--no-lens-correction"],
                                        out, signal.SIGINT, settle_s=0.05, stem="b")
    assert rc == 130, err
    assert "Traceback" not in err
    assert re.search(r"^1 written, 0 skipped, 0 failed", stdout, re.M), stdout
    assert re.search(r"^a\.png → .*a\.png$", stdout, re.M), stdout
    assert "interrupted: 1 of 2 inputs not done" in err
    assert sorted(os.listdir(out)) == [".l2-journal.jsonl", "a.png", "a.png.l2.toml"]
    assert np.array_equal(cv2.imread(str(out / "a.png"), cv2.IMREAD_UNCHANGED), np.full((16, 24, 3), 100, np.uint16))
    assert {p: _sha(p) for p in (small, big)} == before


def _identity_cube(path) -> None:
    path.write_text("LUT_3D_SIZE 2\n" + "".join(f"{r} {g} {b}\n" for b in (0, 1) for g in (0, 1) for r in (0, 1)))


@pytest.mark.parametrize("sig, code, mode", [(signal.SIGTERM, 143, "json"), (signal.SIGINT, 130, "text")],
                         ids=["SIGTERM-json", "SIGINT-text"])
def test_lut_apply_batch_signal_keeps_the_finished_and_prints_them(tmp_path, sig, code, mode):
    """``l2 lut apply`` of a small then two big images, signalled while the second is written:
    exit 128 + signal, the finished output (and, with ``--json``, one document listing it),
    no temp file, inputs unchanged."""
    cube = tmp_path / "id.cube"
    _identity_cube(cube)
    small = tmp_path / "a.png"
    pix = np.arange(16 * 24 * 3, dtype=np.uint16).reshape(16, 24, 3) * 97
    assert cv2.imwrite(str(small), pix)
    rng = np.random.default_rng(4)
    bigs = []
    for name in ("b", "c"):
        p = tmp_path / f"{name}.png"  # noise compresses slowly: the 16-bit PNG encode takes a while
        assert cv2.imwrite(str(p), rng.integers(0, 65536, (2000, 3000, 3), dtype=np.uint16))
        bigs.append(p)
    before = {p: _sha(p) for p in (cube, small, *bigs)}
    out = tmp_path / "out"
    args = ["lut", "apply", str(cube), str(small), *map(str, bigs), "-o", f"{out}/"] + (["--json"] if mode == "json" else [])
    rc, stdout, err = _start_and_signal(args, out, sig, settle_s=0.05, stem="b")
    assert rc == code, err
    assert "Traceback" not in err
    assert "interrupted: 2 of 3 inputs not done" in err
    if mode == "json":
        assert json.loads(stdout) == [{"input": str(small), "output": str(out / "a.png"), "ok": True}]
    else:
        assert stdout.splitlines() == [f"{small} -> {out / 'a.png'}"]
    assert os.listdir(out) == ["a.png"]
    got = cv2.imread(str(out / "a.png"), cv2.IMREAD_UNCHANGED)
    assert got.shape == pix.shape and np.abs(got.astype(int) - pix).max() <= 1  # an identity LUT
    assert {p: _sha(p) for p in (cube, small, *bigs)} == before


@pytest.mark.parametrize("sig, code, phase", [(signal.SIGTERM, 143, "writing"), (signal.SIGINT, 130, "working")],
                         ids=["SIGTERM-writing", "SIGINT-working"])
def test_lut_bake_signal_leaves_nothing_partial(tmp_path, sig, code, phase):
    """``l2 lut bake --size 49`` (under a second of work on a quiet machine): signalled the moment
    its temp file appears, or 0.1 s into the command (setting up and computing the table) → exit 128 + signal, no temp
    file, no traceback, and no LUT file — or, when the signal came just after the rename (the
    write takes milliseconds; the file is then read back for the report), a whole one."""
    from l2tech.color import read_lut

    out = tmp_path / "out"
    out.mkdir()
    args = ["lut", "bake", "--input", "S-Log3", "--tone", "filmic", "--size", "49", "-o", str(out / "x.cube"), "--json"]
    if phase == "writing":
        rc, stdout, err = _start_and_signal(args, out, sig, settle_s=0.0, stem="x")
    else:
        rc, stdout, err = _signal_when(args, _catches_sigterm, sig, settle_s=0.1)
    assert rc == code, err
    assert "Traceback" not in err
    assert "interrupted: stopped by" in err and "Aborted." not in err  # was Click's bare "Aborted."
    # --json: one document saying it was interrupted, nothing reported written (was empty)
    assert json.loads(stdout) == {"error": "interrupted", "error_type": "Terminated" if code == 143 else "KeyboardInterrupt",
                                  "exit_code": code}
    left = os.listdir(out)
    assert left in ([], ["x.cube"]), left
    if left:
        lut = read_lut(out / "x.cube")
        assert lut.size == 49 and lut.table.shape == (49, 49, 49, 3) and np.isfinite(lut.table).all()


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_calibrate_signal_leaves_nothing(tmp_path, sig, code):
    """``l2 calibrate distortion`` of the 14 Bouguet board shots (about a minute of work),
    signalled 2.5 s into the command (finding the boards): exit 128 + signal, no profile, no
    Gyroflow file, no report and no temp file, no traceback, the shots unchanged; with --json
    stdout is one document saying it was interrupted."""
    shots = [shared_file(f"calib/bouguet_stereo/left{k:02d}.jpg") for k in range(1, 15)]
    before = {p: _sha(p) for p in shots}
    out = tmp_path / "out"
    out.mkdir()
    args = ["calibrate", "distortion", *map(str, shots), "--target", "checkerboard:9x6:25mm", "--sensor-width", "4.8",
            "-o", str(out / "lens.xml"), "--gyroflow", str(out / "lens.json"), "--report", str(out / "report"), "--json"]
    rc, stdout, err = _signal_when(args, _catches_sigterm, sig, settle_s=2.5)
    assert rc == code, err
    assert "Traceback" not in err
    assert os.listdir(out) == []
    assert "interrupted: stopped by" in err and "Aborted." not in err
    assert json.loads(stdout)["error"] == "interrupted"  # --json: one document (was empty)
    assert {p: _sha(p) for p in shots} == before
