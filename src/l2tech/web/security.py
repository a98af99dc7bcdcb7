"""Safe by default: the token, the request-size limit and paths confined to the served folder.

- Every request carries the random token: ``?token=...`` in the URL ``l2 serve`` prints (the
  first page then sets it as an HttpOnly, SameSite=Strict cookie), the cookie, or an
  ``X-L2-Token`` header. Without it: 403, before any route runs.
- A request body larger than the limit is refused with 413: from its ``Content-Length``
  before a byte is read, or while it streams (chunked bodies).
- A path from the browser is relative to the served folder; absolute paths, ``..``
  components, NUL bytes and anything whose real path (symlinks resolved) leaves the folder
  are refused with 403 (:class:`PathRefusedError`); a path inside that does not exist is 404.
"""

from __future__ import annotations

import os
import secrets
from http.cookies import SimpleCookie
from pathlib import Path, PurePosixPath
from typing import Awaitable, Callable
from urllib.parse import parse_qs

from l2tech.errors import InputNotFoundError, L2Error

__all__ = [
    "TOKEN_COOKIE",
    "DEFAULT_MAX_BODY_BYTES",
    "PathRefusedError",
    "BodyLimitMiddleware",
    "TokenMiddleware",
    "new_token",
    "security_headers",
    "resolve_in_folder",
]

#: Cookie that carries the token after the first page.
TOKEN_COOKIE = "l2_token"

#: Largest request body accepted (the only bodies are small JSON recipes).
DEFAULT_MAX_BODY_BYTES = 1 << 20

Scope = dict
ASGIApp = Callable[[Scope, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


class PathRefusedError(L2Error, PermissionError):
    """A requested path leaves the served folder (absolute, ``..``, a symlink out): HTTP 403."""


def new_token() -> str:
    """A random URL-safe token (256 bits from :mod:`secrets`)."""
    return secrets.token_urlsafe(32)


def resolve_in_folder(root: str | os.PathLike, relpath: str) -> Path:
    """The file ``relpath`` names inside ``root``, or an error; nothing is opened.

    Parameters
    ----------
    root : path-like
        The served folder.
    relpath : str
        A ``/``-separated path relative to ``root``, already URL-decoded once by the server
        (a still-encoded ``%2e%2e`` is then a literal name and simply not found).

    Returns
    -------
    Path
        The resolved path (symlinks followed), inside ``root``'s resolved path.

    Raises
    ------
    PathRefusedError
        Empty, absolute (``/x``, ``C:\\x``, ``\\\\server``), with a NUL byte or a backslash,
        with a ``..`` component, or resolving (through symlinks) outside ``root``.
    InputNotFoundError
        Inside the folder but missing.
    """
    base = Path(root).resolve()
    if not relpath or "\x00" in relpath or "\\" in relpath:
        raise PathRefusedError(f"refused path {relpath!r}: empty, or with a NUL byte or a backslash")
    pp = PurePosixPath(relpath)
    if pp.is_absolute() or (len(relpath) > 1 and relpath[1] == ":"):
        raise PathRefusedError(f"refused path {relpath!r}: absolute paths are not served; give a path inside the folder")
    if any(part == ".." for part in pp.parts):
        raise PathRefusedError(f"refused path {relpath!r}: '..' leaves the served folder")
    target = (base / pp).resolve()
    if target != base and base not in target.parents:
        raise PathRefusedError(f"refused path {relpath!r}: it resolves outside the served folder (a symlink out?)")
    if not target.exists():
        raise InputNotFoundError("no such file in the served folder", path=relpath)
    return target


async def _send_plain(send: Callable, status: int, text: str) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyLimitMiddleware:
    """Refuse request bodies over ``max_bytes`` with 413 (ASGI middleware).

    A ``Content-Length`` over the limit (or not a number) is answered before ``receive`` is
    called once; a streamed body is counted as it arrives and cut at the limit.
    """

    def __init__(self, app: ASGIApp, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name.lower() == b"content-length":
                try:
                    n = int(value)
                except ValueError:
                    await _send_plain(send, 400, "bad Content-Length")
                    return
                if n > self.max_bytes or n < 0:
                    await _send_plain(send, 413, f"request body of {n} bytes refused; the limit is {self.max_bytes} bytes")
                    return
        seen = 0
        started = False
        refused = False

        async def limited_receive() -> dict:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            msg = await receive()
            if msg.get("type") == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    # answer now; the app sees the client gone and whatever it sends is dropped
                    if not started:
                        await _send_plain(send, 413, f"request body refused; the limit is {self.max_bytes} bytes")
                    refused = True
                    return {"type": "http.disconnect"}
            return msg

        async def tracking_send(msg: dict) -> None:
            nonlocal started
            if refused:
                return
            if msg.get("type") == "http.response.start":
                started = True
            await send(msg)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except Exception:
            if not refused:
                raise


def _query_token(scope: Scope) -> str | None:
    qs = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    vals = qs.get("token")
    return vals[0] if vals else None


def _cookie_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"cookie":
            c = SimpleCookie()
            try:
                c.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header is just no token
                return None
            if TOKEN_COOKIE in c:
                return c[TOKEN_COOKIE].value
    return None


def _header_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"x-l2-token":
            return value.decode("latin-1")
    return None


class TokenMiddleware:
    """Answer 403 to every request without the server's token (ASGI middleware).

    The token is accepted from the ``token`` query parameter, the :data:`TOKEN_COOKIE` cookie
    or the ``X-L2-Token`` header, compared in constant time. A request authorised by the query
    parameter gets the cookie set, so the page's own fetches need no token in their URLs.
    """

    def __init__(self, app: ASGIApp, token: str) -> None:
        if len(token) < 16:
            raise ValueError("the token must be at least 16 characters")
        self.app = app
        self.token = token.encode()

    def _ok(self, given: str | None) -> bool:
        return given is not None and secrets.compare_digest(given.encode("utf-8", "replace"), self.token)

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        by_query = self._ok(_query_token(scope))
        if not (by_query or self._ok(_cookie_token(scope)) or self._ok(_header_token(scope))):
            await _send_plain(send, 403, "forbidden: open the URL that `l2 serve` printed (it carries the token)")
            return
        if not by_query:
            await self.app(scope, receive, send)
            return
        cookie = f"{TOKEN_COOKIE}={self.token.decode()}; Path=/; HttpOnly; SameSite=Strict".encode()

        async def send_with_cookie(msg: dict) -> None:
            if msg.get("type") == "http.response.start":
                msg = {**msg, "headers": [*msg.get("headers", []), (b"set-cookie", cookie)]}
            await send(msg)

        await self.app(scope, receive, send_with_cookie)


def security_headers() -> list[tuple[str, str]]:
    """Headers added to every page: no framing, no sniffing, only same-origin resources."""
    return [("X-Content-Type-Options", "nosniff"), ("X-Frame-Options", "DENY"), ("Referrer-Policy", "no-referrer"),
            ("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
                                        "script-src 'self'; connect-src 'self'; frame-ancestors 'none'")]

