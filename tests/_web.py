"""Helpers of the ``l2 serve`` tests: a Starlette TestClient for the app."""

from __future__ import annotations

import warnings


def test_client(app, **kw):
    """Starlette's TestClient on ``app`` (never follows redirects, raises nothing on 5xx)."""
    with warnings.catch_warnings():
        # Starlette 1.x asks for the `httpx2` fork for its TestClient and warns when it runs on
        # httpx (the package we install); the client works the same on both.
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

        return TestClient(app, raise_server_exceptions=False, follow_redirects=False, **kw)


test_client.__test__ = False  # not a pytest test
