"""A batch on a real Dask cluster (issue 13 item 5): ``dask scheduler`` + two ``dask worker``
processes, one SIGKILLed mid-batch; the outputs equal the local run byte for byte.

The scheduler and workers are the dask/distributed command-line programs themselves (the
``dask`` entry point of the venv, run as ``python -m dask``), started as subprocesses; the
batch runs as a separate ``l2 correct --cluster`` process, so Dask's own logging and warnings
stay out of pytest.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from l2tech.cli.main import main
from l2tech.pipeline.journal import JOURNAL_NAME

from test_batch_scale import _jpegs, _outputs, _temps

pytest.importorskip("distributed", reason="dask.distributed is not installed")

TIMEOUT_S = 120
_SRC = str(Path(__file__).resolve().parents[1] / "src")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": _SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "NUMBA_NUM_THREADS": "1", "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}


def _wait_for(cond, what: str) -> None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > TIMEOUT_S:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def _log(path: Path) -> int:
    """A file descriptor for a child's stderr (closed here once the child has it: no leaked file object)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)


def _popen(args, log: Path, **kw) -> subprocess.Popen:
    fd = _log(log)
    try:
        return subprocess.Popen(args, env=_env(), stderr=fd, **kw)
    finally:
        os.close(fd)


def _stop(procs) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        if p.stdout is not None:
            p.stdout.close()


@pytest.mark.slow  # 25-40 s here: a scheduler and two workers start, then a 20-file batch
def test_cluster_batch_survives_a_killed_worker_and_equals_the_local_run(tmp_path):
    ins = [str(p) for p in _jpegs(tmp_path / "in", 20, size=(400, 300))]
    opts = ["--no-lens-correction", "--exposure", "0.3", "-q"]
    ref = tmp_path / "ref"
    assert main(["correct", *ins, "-o", str(ref), *opts, "--jobs", "1"]) == 0
    expected = _outputs(ref)

    sched_file = tmp_path / "scheduler.json"
    logs = tmp_path / "logs"
    logs.mkdir()
    dask = [sys.executable, "-m", "dask"]
    procs: list[subprocess.Popen] = []
    try:
        procs.append(_popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                             "--scheduler-file", str(sched_file)], logs / "scheduler.log", stdout=subprocess.DEVNULL))
        _wait_for(lambda: sched_file.exists() and sched_file.stat().st_size > 0, "the scheduler file")
        address = json.loads(sched_file.read_text())["address"]
        workers = []
        for k in range(2):
            # --no-nanny: killing the worker process kills the worker (a nanny would restart it)
            w = _popen([*dask, "worker", "--scheduler-file", str(sched_file), "--nthreads", "1", "--no-nanny",
                        "--no-dashboard", "--name", f"w{k}"], logs / f"worker{k}.log", stdout=subprocess.DEVNULL)
            procs.append(w)
            workers.append(w)
        out = tmp_path / "out"
        journal = out / JOURNAL_NAME
        batch = _popen([sys.executable, "-m", "l2tech.cli", "correct", *ins, "-o", str(out), *opts,
                        "--cluster", address, "--json"], logs / "batch.log", stdout=subprocess.PIPE, text=True)
        procs.append(batch)
        # both workers busy: kill one once a few outputs are in
        _wait_for(lambda: batch.poll() is not None or (journal.exists() and journal.read_bytes().count(b"\n") >= 3),
                  "the first outputs")
        assert batch.poll() is None, "the batch finished before a worker could be killed"
        done_at_kill = journal.read_bytes().count(b"\n")
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(TIMEOUT_S)
        stdout, _ = batch.communicate(timeout=TIMEOUT_S)
        assert batch.returncode == 0, (logs / "batch.log").read_text()[-3000:]
        doc = json.loads(stdout)
    finally:
        _stop(procs)
    assert done_at_kill < 20
    # the scheduler saw w0 go while the batch ran (its tasks and held results went to w1)
    assert any("Remove worker" in line and "name: w0" in line for line in (logs / "scheduler.log").read_text().splitlines())
    assert (doc["ok"], doc["skipped"], doc["failed"]) == (20, 0, 0)
    assert _outputs(out) == expected  # byte-identical to the local run, nothing lost or doubled
    assert _temps(out) == []
    lines = [json.loads(x) for x in journal.read_text().splitlines()]
    assert sorted(e["output"] for e in lines) == sorted(expected)  # each output published once


def test_cluster_address_that_does_not_answer_is_a_usage_error(tmp_path, capsys):
    (src,) = _jpegs(tmp_path / "in", 1)
    r = subprocess.run([sys.executable, "-m", "l2tech.cli", "correct", str(src), "-o", str(tmp_path / "o.jpg"),
                        "--cluster", "tcp://127.0.0.1:9", "--no-lens-correction"], env={**_env(), "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"},
                       capture_output=True, text=True, timeout=TIMEOUT_S)
    assert r.returncode == 2, r.stderr
    assert "no Dask scheduler answers at tcp://127.0.0.1:9" in r.stderr.replace("\n", "")
    assert not (tmp_path / "o.jpg").exists()


def test_l2_cluster_local_serves_a_batch(tmp_path):
    """``l2 cluster local --workers 2 --port 0`` prints a scheduler address a batch can use."""
    ins = [str(p) for p in _jpegs(tmp_path / "in", 3)]
    opts = ["--no-lens-correction", "-q"]
    assert main(["correct", *ins, "-o", str(tmp_path / "ref"), *opts, "--jobs", "1"]) == 0
    lc = _popen([sys.executable, "-m", "l2tech.cli", "cluster", "local", "--workers", "2", "--port", "0"],
                tmp_path / "cluster.log", stdout=subprocess.PIPE, text=True)
    try:
        address = lc.stdout.readline().strip()
        assert address.startswith("tcp://127.0.0.1:") or address.startswith("tcp://"), address
        r = subprocess.run([sys.executable, "-m", "l2tech.cli", "correct", *ins, "-o", str(tmp_path / "out"), *opts,
                            "--json"], env={**_env(), "L2_DASK_SCHEDULER": address}, capture_output=True, text=True,
                           timeout=TIMEOUT_S)
        assert r.returncode == 0, r.stderr[-3000:]
        assert json.loads(r.stdout)["ok"] == 3
    finally:
        lc.send_signal(signal.SIGINT)
        _stop([lc])
    assert _outputs(tmp_path / "out") == _outputs(tmp_path / "ref")
