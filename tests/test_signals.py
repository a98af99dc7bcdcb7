"""SIGTERM / SIGINT / SIGKILL during long commands (RELIABILITY.md E3, cases 19-20; issue 16 item 5).

Real ``l2`` processes are started and signalled once their temp file exists: they must remove
it, print the summary so far and exit 143 (SIGTERM) or 130 (SIGINT); nothing partial is left.
A SIGKILLed run cannot clean up; the next run into the folder removes its temp file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

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
                            stderr=subprocess.PIPE, text=True, env=os.environ.copy())
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
