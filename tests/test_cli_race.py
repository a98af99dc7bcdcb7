"""Two ``l2`` command lines writing the same outputs into one folder (RELIABILITY.md C1, case 18;
issue 16).

``test_concurrent_output.py`` races the claim itself (two processes calling ``write_image``);
here two real ``l2 correct`` / ``l2 develop`` processes, started through the console script's
entry point (:func:`l2tech.cli.main.run`) at the same moment, write the same outputs without
``--overwrite``. Each output must be claimed by exactly one of them: that one reports it
written, the other reports it ``skipped`` (not a failure: exit 0), and nothing the winner wrote
(output, sidecar, journal line) is written again by the loser.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import shared_file
from l2tech.pipeline.journal import JOURNAL_NAME
from l2tech.pipeline.sidecar import read_sidecar
from test_batch_scale import _jpegs

TIMEOUT_S = 120  # every wait below is bounded by this
N_IMAGES = 6
SIXD = "raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng"

#: A child: the ``l2`` console script (``l2tech.cli.main:run``) with ``sys.argv[3:]`` as its
#: arguments, started only once the file ``sys.argv[2]`` exists; it creates ``sys.argv[1]`` when
#: it waits there, so both children are past the interpreter's start when they are let go.
_CHILD = r"""
import os, sys, time
ready, go = sys.argv[1], sys.argv[2]
sys.argv = ["l2", *sys.argv[3:]]
from l2tech.cli.main import run
open(ready, "w").close()
t0 = time.monotonic()
while not os.path.exists(go):
    if time.monotonic() - t0 > 120:
        sys.exit(99)
    time.sleep(0.0005)
run()
"""

#: What the loser of an output may say: skipped at the start (the winner's file, journal line or
#: sidecar already there) or when its own claim of the name failed.
_SKIP_REASON = re.compile(r"already exists|appeared while writing|done earlier|matches its sidecar")


def _sha(p: os.PathLike) -> str:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def _race(tmp_path: Path, argvs: list[list[str]]) -> list[tuple[int, str, str]]:
    """Run one ``l2`` process per argument list, all let go at the same moment; return each
    one's (exit code, stdout, stderr)."""
    gate = tmp_path / "gate"
    gate.mkdir()
    go = gate / "go"
    env = {**os.environ, "COLUMNS": "1000"}  # rich does not wrap the long tmp paths
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, str(gate / f"ready{k}"), str(go), *argv],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for k, argv in enumerate(argvs)]
    try:
        t0 = time.monotonic()
        while not all((gate / f"ready{k}").exists() for k in range(len(procs))):
            for p in procs:
                if p.poll() is not None:
                    pytest.fail(f"a child ended before the start line: {p.communicate()}")
            assert time.monotonic() - t0 < TIMEOUT_S, "the children did not reach the start line"
            time.sleep(0.005)
        go.touch()
        outs = [p.communicate(timeout=TIMEOUT_S) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    return [(p.returncode, o, e) for p, (o, e) in zip(procs, outs)]


def _journal_lines(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / JOURNAL_NAME).read_text().splitlines() if line.strip()]


def _check_written_once(out: Path, inputs: list[Path], names: list[str]) -> None:
    """The folder holds each output, its sidecar and one journal line (the winner's), nothing else;
    the output is still the very file the winner published (size, time, bytes of its journal
    line) and its sidecar describes it."""
    assert sorted(os.listdir(out)) == sorted([JOURNAL_NAME, *names, *(n + ".l2.toml" for n in names)])
    lines = _journal_lines(out)
    assert sorted(e["output"] for e in lines) == sorted(names)  # one line each: the loser never journaled
    by_input = {os.path.abspath(p): p for p in inputs}
    for e in lines:
        f = out / e["output"]
        st = f.stat()
        assert (st.st_size, st.st_mtime_ns, _sha(f)) == (e["output_size"], e["output_mtime_ns"], e["output_sha256"])
        sc = read_sidecar(str(f) + ".l2.toml")
        assert sc.output_sha256 == e["output_sha256"] and sc.recipe_hash == e["recipe_hash"]
        assert sc.input_sha256 == _sha(by_input[e["input"]]) == e["input_sha256"]
        img = cv2.imread(str(f), cv2.IMREAD_UNCHANGED)
        assert img is not None and img.ndim == 3


def _claims(docs: list[dict], names: list[str]) -> dict[str, dict[int, dict]]:
    """output name -> {process index: its JSON result row}."""
    got: dict[str, dict[int, dict]] = {n: {} for n in names}
    for k, doc in enumerate(docs):
        for r in doc["results"]:
            got[Path(r["output"]).name][k] = r
    return got


@pytest.mark.parametrize("jobs", [(1, 1), (2, 2), (1, 2)], ids=["in-process", "workers", "mixed"])
def test_two_correct_command_lines_claim_each_output_once(tmp_path, jobs):
    """Same command line twice (``--json``): per output one ``ok`` and one ``skipped``, both exit
    0, the winner's files untouched, no temp file, inputs unchanged."""
    inputs = _jpegs(tmp_path / "in", N_IMAGES, size=(320, 240))
    before = {p: _sha(p) for p in inputs}
    out = tmp_path / "out"  # not there yet: both runs make it
    names = [p.name for p in inputs]
    argvs = [["correct", *map(str, inputs), "-o", f"{out}/", "--no-lens-correction", "--exposure", "0.3", "--json",
              "--jobs", str(j)] for j in jobs]
    runs = _race(tmp_path, argvs)
    for rc, stdout, stderr in runs:
        assert rc == 0, stderr  # a skipped output is not a failure (RELIABILITY E5)
        assert "Traceback" not in stderr
    docs = [json.loads(stdout) for _, stdout, _ in runs]
    for doc in docs:
        assert "interrupted" not in doc
        assert doc["failed"] == 0 and doc["ok"] + doc["skipped"] == N_IMAGES
    assert sum(doc["ok"] for doc in docs) == N_IMAGES
    for name, by_proc in _claims(docs, names).items():
        assert sorted(r["status"] for r in by_proc.values()) == ["ok", "skipped"], f"{name}: {by_proc}"
        (loser,) = [r for r in by_proc.values() if r["status"] == "skipped"]
        assert _SKIP_REASON.search(loser["reason"]), loser
    _check_written_once(out, inputs, names)
    assert {p: _sha(p) for p in inputs} == before


def test_two_correct_command_lines_text_report_one_written_one_skipped(tmp_path):
    """Without ``--json``: each output is named once in a "NAME → OUTPUT" line of one process and
    once in a "skipped: OUTPUT: ..." line of the other; the summaries add up; both exit 0."""
    inputs = _jpegs(tmp_path / "in", N_IMAGES, size=(320, 240))
    before = {p: _sha(p) for p in inputs}
    out = tmp_path / "out"
    out.mkdir()
    names = [p.name for p in inputs]
    argv = ["correct", *map(str, inputs), "-o", str(out), "--no-lens-correction", "--jobs", "1"]
    runs = _race(tmp_path, [argv, argv])
    written_total = 0
    for rc, stdout, stderr in runs:
        assert rc == 0, stderr
        assert "Traceback" not in stderr and "error" not in stderr
        m = re.search(r"^(\d+) written, (\d+) skipped, (\d+) failed", stdout, re.M)
        assert m, stdout
        written, skipped, failed = map(int, m.groups())
        assert failed == 0 and written + skipped == N_IMAGES
        written_total += written
    assert written_total == N_IMAGES
    for name in names:
        path = re.escape(str(out / name))
        wrote = [k for k, (_, stdout, _) in enumerate(runs) if re.search(rf"^{re.escape(name)} → {path}$", stdout, re.M)]
        skipped = [k for k, (_, _, stderr) in enumerate(runs)
                   if re.search(rf"^skipped: {path}: .*({_SKIP_REASON.pattern})", stderr, re.M)]
        assert len(wrote) == 1 and len(skipped) == 1 and wrote != skipped, (name, runs)
    _check_written_once(out, inputs, names)
    assert {p: _sha(p) for p in inputs} == before


def test_two_correct_command_lines_with_different_recipes_keep_the_winners_files(tmp_path):
    """``--exposure 0.7`` against ``--exposure -0.7``: each output, its sidecar and its journal
    line are the winner's (the loser rewrites none of them), the pixels are the winner's
    (brighter or darker than the input), and each run's exit code matches its own summary."""
    inputs = _jpegs(tmp_path / "in", N_IMAGES, size=(320, 240))
    before = {p: _sha(p) for p in inputs}
    out = tmp_path / "out"
    out.mkdir()
    names = [p.name for p in inputs]
    ev = (0.7, -0.7)
    argvs = [["correct", *map(str, inputs), "-o", str(out), "--no-lens-correction", "--json", "--jobs", "1",
              f"--exposure={e}"] for e in ev]
    runs = _race(tmp_path, argvs)
    docs = [json.loads(stdout) for _, stdout, _ in runs]
    for (rc, _, stderr), doc in zip(runs, docs):
        assert "Traceback" not in stderr
        assert rc == (1 if doc["failed"] else 0), stderr
    claims = _claims(docs, names)
    _check_written_once(out, inputs, names)
    for name, by_proc in claims.items():
        (winner,) = [k for k, r in by_proc.items() if r["status"] == "ok"]
        (loser,) = [r for k, r in by_proc.items() if k != winner]
        assert loser["status"] in ("skipped", "failed")
        assert re.search(r"already exists|appeared while writing|made with another recipe", loser["error"]), loser
        sc = read_sidecar(str(out / name) + ".l2.toml")
        assert sc.recipe.exposure_ev == ev[winner], name  # the winner's sidecar, not rewritten by the loser
        src = cv2.imread(str(tmp_path / "in" / name)).astype(float).mean()
        got = cv2.imread(str(out / name)).astype(float).mean()
        assert (got > src + 5) if ev[winner] > 0 else (got < src - 5), (name, src, got)
    assert {p: _sha(p) for p in inputs} == before


def test_two_develop_command_lines_claim_each_output_once(tmp_path):
    """``l2 develop`` of two small RAWs (the 6D lossy DNG under two names), twice at once."""
    src = shared_file(SIXD)
    inputs = []
    for name in ("a.dng", "b.dng"):
        p = tmp_path / "in" / name
        p.parent.mkdir(exist_ok=True)
        shutil.copy(src, p)
        inputs.append(p)
    before = {p: _sha(p) for p in inputs}
    out = tmp_path / "out"
    names = ["a.jpg", "b.jpg"]
    argv = ["develop", *map(str, inputs), "-o", f"{out}/", "--json"]
    runs = _race(tmp_path, [argv, argv])
    for rc, _, stderr in runs:
        assert rc == 0, stderr
        assert "Traceback" not in stderr
    docs = [json.loads(stdout) for _, stdout, _ in runs]
    assert sum(doc["ok"] for doc in docs) == 2 and all(doc["failed"] == 0 for doc in docs)
    for name, by_proc in _claims(docs, names).items():
        assert sorted(r["status"] for r in by_proc.values()) == ["ok", "skipped"], f"{name}: {by_proc}"
        (ok,) = [r for r in by_proc.values() if r["status"] == "ok"]
        assert ok["lens"]["lens"] == "Canon EF 24-105mm f/4L IS USM"
    _check_written_once(out, inputs, names)
    assert {p: _sha(p) for p in inputs} == before
