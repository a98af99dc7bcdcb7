"""Shared code of the ``l2 serve`` tests: a Starlette TestClient for the app, a server in a subprocess."""

from __future__ import annotations

import warnings


def test_client(app, **kw):
    """Starlette's TestClient on ``app`` (never follows redirects, raises nothing on 5xx)."""
    with warnings.catch_warnings():
        # Starlette 1.x asks for the `httpx2` fork for its TestClient and warns when it runs on
        # httpx (the package we install); the client works the same on both.
        warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient` is deprecated")
        from starlette.testclient import TestClient

        return TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False, follow_redirects=False, **kw)


test_client.__test__ = False  # not a pytest test


def start_server(folder, *extra: str):
    """Run ``l2 serve FOLDER --no-browser`` in a subprocess; return (process, URL with token).

    The caller terminates the process. Waits until the server answers.
    """
    import os
    import re
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src") + os.pathsep
           + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "l2tech.cli", "serve", str(folder), "--no-browser", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines = [proc.stdout.readline() for _ in range(2)]
    m = re.search(r"(http://127\.0\.0\.1:\d+/\?token=[A-Za-z0-9_-]+)", "".join(lines))
    if not m:
        proc.terminate()
        raise AssertionError(f"no URL printed: {lines!r} {proc.communicate(timeout=10)[1]}")
    for _ in range(200):
        try:
            httpx.get(m.group(1), timeout=5)
            break
        except httpx.ConnectError:
            time.sleep(0.05)
    return proc, m.group(1)
