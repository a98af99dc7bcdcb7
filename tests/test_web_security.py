"""``l2 serve`` is safe by default: token, confined paths, body and image size limits, originals untouched.

Every refusal is checked for its HTTP status *and* for nothing having been read: the renderer
(the only code that opens an image) is replaced by a spy that fails the test if called.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from _web import test_client
from l2tech.web.app import create_app
from l2tech.web.security import resolve_in_folder

TOKEN = "t0ken-for-tests-0123456789abcdef"


@pytest.fixture
def folder(tmp_path):
    """A served folder with one small PNG, a secret file beside it and symlinks pointing out."""
    from PIL import Image

    served = tmp_path / "served"
    (served / "sub").mkdir(parents=True)
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(served / "a.png")
    (tmp_path / "secret.png").write_bytes((served / "a.png").read_bytes())
    os.symlink(tmp_path / "secret.png", served / "link_out.png")
    os.symlink(tmp_path, served / "sub" / "dir_out")
    return served


@pytest.fixture
def spy(monkeypatch):
    """Record every render/lens lookup; refusals must not reach them."""
    from l2tech.web.render import Renderer

    calls = []
    real_render, real_info, real_inner = Renderer.render, Renderer.lens_info, Renderer._render

    def render(self, path, recipe):
        calls.append(("render", str(path)))
        return real_render(self, path, recipe)

    def info(self, path, recipe):
        calls.append(("lens", str(path)))
        return real_info(self, path, recipe)

    monkeypatch.setattr(Renderer, "render", render)
    monkeypatch.setattr(Renderer, "lens_info", info)

    def inner(self, path, recipe):
        calls.append(("decode", str(path)))
        return real_inner(self, path, recipe)

    monkeypatch.setattr(Renderer, "_render", inner)
    return calls


@pytest.fixture
def client(folder):
    c = test_client(create_app(folder, TOKEN))
    c.headers["X-L2-Token"] = TOKEN
    return c


def test_requests_without_the_token_are_refused(folder, spy):
    c = test_client(create_app(folder, TOKEN))
    for url in ("/", "/view?path=a.png", "/api/files", "/api/render?path=a.png", "/static/style.css", "/lens/0",
                "/api/thumb?path=a.png"):
        r = c.get(url)
        assert r.status_code == 403, url
        assert "token" in r.text
    assert c.get("/api/files?token=" + "x" * len(TOKEN)).status_code == 403  # wrong token, same length
    assert c.get("/api/files", headers={"X-L2-Token": TOKEN[:-1]}).status_code == 403
    assert c.get("/api/files", headers={"Cookie": "l2_token=nope"}).status_code == 403
    assert c.post("/api/recipe", json={"path": "a.png", "recipe": {}}).status_code == 403
    assert spy == []
    assert not list(folder.glob("*.toml"))


def test_other_host_names_and_form_posts_are_refused(folder, spy):
    """DNS rebinding (another site's name pointed at 127.0.0.1) and cross-site form posts."""
    c = test_client(create_app(folder, TOKEN))
    r = c.get("/api/files?token=" + TOKEN, headers={"Host": "evil.example:8000"})
    assert r.status_code == 400
    assert c.get("/api/files?token=" + TOKEN, headers={"Host": "localhost:8000"}).status_code == 200
    r = c.post("/api/recipe", content=b'{"path": "a.png", "recipe": {}}',
               headers={"X-L2-Token": TOKEN, "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 415
    assert not list(folder.glob("*.toml")) and spy == []


def test_token_in_the_url_sets_a_cookie_for_the_page(folder):
    c = test_client(create_app(folder, TOKEN))
    r = c.get("/?token=" + TOKEN)
    assert r.status_code == 200 and "<title>" in r.text
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"l2_token={TOKEN};") and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    # the page's own requests carry the cookie only
    assert c.get("/api/files").json()["files"] == [{"path": "a.png", "kind": "image", "bytes": (folder / "a.png").stat().st_size}]
    assert r.headers["x-frame-options"] == "DENY" and "default-src 'self'" in r.headers["content-security-policy"]


@pytest.mark.parametrize("query", [
    "path=../secret.png",                          # plain ../
    "path=%2e%2e%2fsecret.png",                    # URL-encoded ../
    "path=%2E%2E/%2E%2E/%2E%2E/etc/passwd",        # encoded, upper case
    "path=sub/..%2f..%2fsecret.png",               # encoded slash after a real folder
    "path=sub%2f..%2f..%2fsecret.png",
    "path=link_out.png",                           # symlink to a file outside
    "path=sub/dir_out/secret.png",                 # through a symlinked folder outside
    "path=%2fetc%2fpasswd",                        # absolute
    "path=/etc/passwd",
    "path=C:%5cWindows%5cwin.ini",                 # Windows absolute, backslashes
    "path=..%5csecret.png",
    "path=a.png%00.jpg",                           # NUL byte
])
@pytest.mark.parametrize("endpoint", ["/api/render", "/api/thumb", "/api/lens"])
def test_paths_out_of_the_folder_are_refused_403(client, spy, query, endpoint):
    r = client.get(f"{endpoint}?{query}")
    assert r.status_code == 403, r.text
    assert "refused path" in r.json()["error"]
    assert spy == []


def test_double_encoded_traversal_is_a_literal_name_not_found(client, spy):
    r = client.get("/api/render?path=%252e%252e%252fsecret.png")  # decoded once: '%2e%2e%2fsecret.png'
    assert r.status_code == 404
    assert spy == []


def test_static_files_do_not_leave_their_folder(client):
    for url in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2fapp.py", "/static/%2e%2e%2f%2e%2e%2fweb%2fapp.py"):
        r = client.get(url)
        assert r.status_code in (400, 403, 404), url
        assert "create_app" not in r.text


def test_recipe_post_is_confined_and_never_writes_an_original(client, folder, spy):
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
    r = client.post("/api/recipe", json={"path": "../secret.png", "recipe": {}})
    assert r.status_code == 403
    r = client.post("/api/recipe", json={"path": "link_out.png", "recipe": {}})
    assert r.status_code == 403
    r = client.post("/api/recipe", json={"path": "a.png", "recipe": {"look": "../../etc/passwd"}})
    assert r.status_code == 400 and "unknown look" in r.json()["error"]
    r = client.post("/api/recipe", content=b"{not json", headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 400
    # fields that name files (profile, lut) are not taken from the browser
    r = client.post("/api/recipe", json={"path": "a.png", "recipe": {"profile": "/etc/passwd", "lut": "/etc/x", "exposure_ev": "1"}})
    assert r.status_code == 200
    assert r.json()["file"] == "a.png.l2recipe.toml"
    text = (folder / "a.png.l2recipe.toml").read_text()
    assert "exposure_ev = 1.0" in text and "passwd" not in text and "lut =" not in text
    after = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != "a.png.l2recipe.toml"}
    assert after == before  # the original image is byte for byte the same
    assert not (folder.parent / "secret.png.l2recipe.toml").exists()
    assert spy == []


def test_recipe_file_that_is_a_symlink_is_not_followed(client, folder, tmp_path):
    target = tmp_path / "victim.txt"
    target.write_text("keep me")
    os.symlink(target, folder / "a.png.l2recipe.toml")
    r = client.post("/api/recipe", json={"path": "a.png", "recipe": {}})
    assert r.status_code == 403
    assert target.read_text() == "keep me"


def _run_asgi(app, headers, body_chunks):
    """Drive the ASGI app by hand; return (status, number of receive() calls)."""
    received = []
    sent = []

    async def receive():
        received.append(1)
        if body_chunks:
            chunk = body_chunks.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(body_chunks)}
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(msg):
        sent.append(msg)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/api/recipe", "raw_path": b"/api/recipe", "root_path": "", "query_string": b"",
             "headers": [(b"host", b"127.0.0.1"), (b"x-l2-token", TOKEN.encode()), *headers],
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2)}
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, len(received)


def test_ten_gigabyte_content_length_is_refused_413_before_reading(folder, spy):
    app = create_app(folder, TOKEN)
    status, reads = _run_asgi(app, [(b"content-length", b"10737418240"), (b"content-type", b"application/json")],
                              [b"{}"])
    assert status == 413
    assert reads == 0  # not one byte of the body was asked for
    # also without the token: the size check comes first, nothing read either
    status, reads = _run_asgi(create_app(folder, "another-token-0123456789"), [(b"content-length", b"10737418240")], [b"{}"])
    assert status == 413 and reads == 0
    assert spy == [] and not list(folder.glob("*.toml"))


def test_streamed_body_over_the_limit_is_cut_413(folder):
    app = create_app(folder, TOKEN, max_body_bytes=1000)
    chunks = [b"{" + b" " * 600, b" " * 600, b"}"]  # chunked: no Content-Length
    status, reads = _run_asgi(app, [(b"transfer-encoding", b"chunked"), (b"content-type", b"application/json")], chunks)
    assert status == 413
    assert reads == 2  # stopped at the chunk that crossed the limit
    assert not list(folder.glob("*.toml"))


def test_image_size_limit_413_before_decoding(folder, monkeypatch):
    import l2tech.pipeline.stills as stills

    def no_decode(*a, **k):
        raise AssertionError("the image was decoded")

    monkeypatch.setattr(stills, "develop_codes", no_decode)
    c = test_client(create_app(folder, TOKEN, max_pixels=500))  # a.png is 32 x 24 = 768 pixels
    r = c.get("/api/render?path=a.png", headers={"X-L2-Token": TOKEN})
    assert r.status_code == 413
    assert "768" in r.json()["error"] or "MP" in r.json()["error"]


def test_resolve_in_folder_accepts_only_inside_paths(folder):
    assert resolve_in_folder(folder, "a.png") == (folder / "a.png").resolve()
    assert resolve_in_folder(folder, "sub") == (folder / "sub").resolve()
    for bad in ("", "..", "../x", "sub/../../x", "/a.png", "link_out.png", "sub/dir_out", "a\\b", "C:x"):
        with pytest.raises(PermissionError):
            resolve_in_folder(folder, bad)
    with pytest.raises(FileNotFoundError):
        resolve_in_folder(folder, "missing.png")


def test_cli_binds_localhost_and_prints_a_token_url(folder):
    """``l2 serve`` listens on 127.0.0.1 only, with a fresh random token in the printed URL."""
    import httpx

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src") + os.pathsep
           + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "l2tech.cli", "serve", str(folder), "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = [proc.stdout.readline() for _ in range(2)]
        m = re.search(r"http://127\.0\.0\.1:(\d+)/\?token=([A-Za-z0-9_-]+)", "".join(lines))
        assert m, lines
        port, token = int(m.group(1)), m.group(2)
        assert len(token) >= 40  # 32 random bytes, URL-safe base64
        for _ in range(100):
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/api/files", headers={"X-L2-Token": token}, timeout=5)
                break
            except httpx.ConnectError:
                import time

                time.sleep(0.1)
        assert r.status_code == 200 and r.json()["files"][0]["path"] == "a.png"
        assert httpx.get(f"http://127.0.0.1:{port}/api/files", timeout=5).status_code == 403
        # nothing listens on the other addresses of this machine for that port
        import socket

        others = {ai[4][0] for ai in socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)} - {"127.0.0.1"}
        for host in others:
            with pytest.raises(httpx.ConnectError):
                httpx.get(f"http://{host}:{port}/api/files", timeout=2)
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
