"""Shared test fixtures: the real test files in ../shared/data (skipped when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("L2TECH_SHARED_DATA", _ROOT.parent / "shared" / "data"))


def shared_file(relpath: str) -> Path:
    """Path of a file in ../shared/data, or skip the test with the reason."""
    p = SHARED_DATA / relpath
    if not p.exists():
        pytest.skip(f"shared test data not found: {p} (set L2TECH_SHARED_DATA to the data folder)")
    return p


@pytest.fixture
def shared_data() -> Path:
    """The ../shared/data folder; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared test data folder not found: {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory):
    """The l2tech cache (parsed lensfun database) goes to a temporary folder, never the
    user's ~/.cache, for the whole session (subprocesses inherit it)."""
    old = os.environ.get("L2TECH_CACHE_DIR")
    os.environ["L2TECH_CACHE_DIR"] = str(tmp_path_factory.mktemp("l2tech-cache"))
    yield
    if old is None:
        os.environ.pop("L2TECH_CACHE_DIR", None)
    else:
        os.environ["L2TECH_CACHE_DIR"] = old


def kill_when(proc, ready, *, timeout_s: float = 120.0) -> None:
    """SIGKILL ``proc`` (a ``subprocess.Popen``) as soon as ``ready()`` is true; fail when the
    process ends first or ``timeout_s`` passes. The process is always gone afterwards."""
    import signal
    import time

    try:
        t0 = time.monotonic()
        while not ready():
            assert proc.poll() is None, "the command finished before the kill; give it more work"
            assert time.monotonic() - t0 < timeout_s, "timed out waiting for the moment to kill"
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout_s)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def l2_json(capsys, *args: str) -> tuple[int, object]:
    """``l2 ARGS --json`` in this process: (exit code, the JSON document on stdout).

    Warnings are let through (the suite turns them into errors): the CLI reports them itself.
    """
    import json
    import warnings

    from l2tech.cli.main import main

    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        rc = main([*args, "--json"])
    out = capsys.readouterr().out
    assert out.strip(), f"no JSON from l2 {' '.join(args)}"
    return rc, json.loads(out)
