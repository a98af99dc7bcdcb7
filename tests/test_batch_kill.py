"""A batch killed mid-way (issue 13 item 3): SIGKILL at a random point then a rerun gives the
outputs of an uninterrupted run byte for byte; SIGTERM stops the worker processes and leaves no
temp file. Real ``l2`` processes are started and signalled.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time

import cv2
import numpy as np

from conftest import kill_when
from l2tech.cli.main import main
from l2tech.pipeline.journal import JOURNAL_NAME, Journal

from test_batch_scale import _jpegs, _outputs, _temps

TIMEOUT_S = 120


L2 = [sys.executable, "-m", "l2tech.cli"]


def test_sigkill_at_a_random_point_then_rerun_gives_the_uninterrupted_outputs(tmp_path):
    """20 files with --jobs 2, SIGKILL of the command once a seeded random number of them is
    journaled (workers die with it), rerun: byte-identical to an uninterrupted run, no temp file."""
    ins = [str(p) for p in _jpegs(tmp_path / "in", 20, size=(400, 300))]
    opts = ["--no-lens-correction", "--exposure", "0.3", "-q"]
    ref = tmp_path / "ref"
    assert main(["correct", *ins, "-o", str(ref), *opts, "--jobs", "1"]) == 0
    expected = _outputs(ref)
    assert len(expected) == 20

    out = tmp_path / "out"
    rng = random.Random(1307)
    stop_after = rng.randint(1, 15)
    journal = out / JOURNAL_NAME
    proc = subprocess.Popen([*L2, "correct", *ins, "-o", str(out), *opts, "--jobs", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(proc, lambda: journal.exists() and journal.read_bytes().count(b"\n") >= stop_after, timeout_s=TIMEOUT_S)
    done_before = len(Journal(out).entries)
    assert stop_after <= done_before < 20
    time.sleep(0.2)  # the workers got SIGKILL with their parent (PR_SET_PDEATHSIG)
    r = subprocess.run([*L2, "correct", *ins, "-o", str(out), *opts, "--jobs", "2", "--json"],
                       capture_output=True, text=True, timeout=TIMEOUT_S)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] + doc["skipped"] == 20 and doc["failed"] == 0
    assert doc["skipped"] >= done_before and doc["ok"] >= 1
    assert _outputs(out) == expected
    assert _temps(out) == []
    assert sorted(Journal(out).entries) == sorted(expected)


def test_sigterm_during_a_parallel_batch_stops_the_workers_and_leaves_no_temp(tmp_path):
    """``--jobs 2``: SIGTERM while a worker writes a big output → exit 143, the workers are
    stopped, their temp files removed, what finished is in the journal, the JSON says so."""
    small = tmp_path / "a.png"
    assert cv2.imwrite(str(small), np.full((16, 24, 3), 100, np.uint16))
    rng = np.random.default_rng(3)
    bigs = []
    for name in ("b", "c"):
        p = tmp_path / f"{name}.png"  # noise compresses slowly: a 16-bit PNG encode of a few tenths of a second
        assert cv2.imwrite(str(p), rng.integers(0, 65536, (1500, 2000, 3), dtype=np.uint16))
        bigs.append(str(p))
    out = tmp_path / "out"
    proc = subprocess.Popen([*L2, "correct", str(small), *bigs, "-o", str(out), "--no-lens-correction", "--json",
                             "--jobs", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()
        while not (out.is_dir() and any(n.startswith((".b.", ".c.")) for n in _temps(out))):
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() - t0 < TIMEOUT_S
            time.sleep(0.005)
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, stderr
    doc = json.loads(stdout)
    assert doc["interrupted"] is True and doc["not_done"]
    assert _temps(out) == []
    made = sorted(_outputs(out))
    assert sorted(Journal(out).entries) == made  # every finished output journaled, nothing else there
    assert all((out / f"{m}.l2.toml").is_file() for m in made)
    assert "interrupted" in stderr
