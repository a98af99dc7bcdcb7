"""The Starlette application of ``l2 serve``.

Routes (every one behind the token, see :mod:`l2tech.web.security`):

=============================  ===============================================================
``GET /``                      folder view (``static/index.html``)
``GET /view``                  viewer (``static/viewer.html``)
``GET /lenses``                lens search (``static/lenses.html``)
``GET /lens/{id}``             lens page; ``?compare=ID`` puts a second lens beside it,
                               ``?file=PATH`` a profile file of the folder (lensfun XML, LCP,
                               Gyroflow, OpenCV YAML, DNG; ``name=`` picks one of several)
``GET /profile?file=PATH``     the lens page of a profile file in the folder
``GET /api/files``             images and clips under the folder
``GET /api/thumb?path=``       thumbnail (the pipeline's render, reduced), JPEG
``GET /api/lens?path=&...``    lens plan, reasons and candidates for a file and recipe
``GET /api/render?path=&...``  ``size=preview`` (JPEG, reduced) or ``size=full`` (PNG, every
                               pixel); ``before=1`` renders without lens correction; header
                               ``X-L2-Pixel-SHA256`` (:func:`~l2tech.web.render.pixel_sha256`)
``POST /api/recipe``           ``{"path", "recipe"}`` → the recipe file beside the image
``GET /api/video?path=``       duration, frame rate and size of a clip
``GET /api/frame?path=&t=``    one frame before/after ``l2 video``'s pipeline (``side=``,
                               ``size=preview|full|thumb``, ``camera=``, ``lens=``,
                               ``focal_length_mm=``)
``GET /api/lenses?q=&mount=``  lens search results
``GET /api/looks``             look names
=============================  ===============================================================

Errors answer JSON ``{"error": message}`` with 400 (bad value), 403 (path outside the
folder), 404 (no such file or lens), 413 (too large) or 422 (the file cannot be processed).
"""

from __future__ import annotations

import functools

import os
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from l2tech.errors import InputNotFoundError, L2Error, LimitExceededError, UsageError
from l2tech.web.security import (
    DEFAULT_MAX_BODY_BYTES,
    BodyLimitMiddleware,
    PathRefusedError,
    TokenMiddleware,
    resolve_in_folder,
    security_headers,
)

__all__ = ["create_app", "STATIC_DIR", "PREVIEW_MAX_SIDE", "THUMB_MAX_SIDE"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Long side of the preview render shown before the full-resolution one, pixels.
PREVIEW_MAX_SIDE = 1600
#: Long side of a folder thumbnail, pixels.
THUMB_MAX_SIDE = 320


def _status(exc: BaseException) -> int:
    if isinstance(exc, PathRefusedError):
        return 403
    if isinstance(exc, (InputNotFoundError, FileNotFoundError)):
        return 404
    if isinstance(exc, LimitExceededError):
        return 413
    if isinstance(exc, UsageError):
        return 400
    return 422


class _SecurityHeaders:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in security_headers()]

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def wrapped(msg: dict) -> None:
            if msg.get("type") == "http.response.start":
                msg = {**msg, "headers": [*msg.get("headers", []), *self.headers]}
            await send(msg)

        await self.app(scope, receive, wrapped)


def _image_response(r: Any, size: str, *, quality: int, icc: bytes | None = None,
                    headers: dict[str, str] | None = None) -> Response:
    """A render ``r`` (``codes``, ``sha256``) as the response for ``size``: ``full`` a lossless PNG,
    ``preview`` / ``thumb`` a JPEG reduced to :data:`PREVIEW_MAX_SIDE` / :data:`THUMB_MAX_SIDE`;
    the pixel hash and size in the headers."""
    from l2tech.web.render import encode_jpeg, encode_png

    h = {"X-L2-Pixel-SHA256": r.sha256, "X-L2-Size": f"{r.codes.shape[1]}x{r.codes.shape[0]}",
         "Cache-Control": "private, max-age=300", **(headers or {})}
    if size == "full":
        return Response(encode_png(r.codes, icc), media_type="image/png", headers=h)
    side = THUMB_MAX_SIDE if size == "thumb" else PREVIEW_MAX_SIDE
    return Response(encode_jpeg(r.codes, max_side=side, quality=quality, icc=icc), media_type="image/jpeg", headers=h)


def create_app(folder: str | os.PathLike, token: str, *, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
               max_pixels: int = 150_000_000, max_file_bytes: int = 2 << 30, db: Any = None,
               allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> Any:
    """The ASGI application serving ``folder``.

    Parameters
    ----------
    folder : path-like
        The only folder whose files are listed, rendered and given recipe files.
    token : str
        The secret every request must carry (at least 16 characters).
    max_body_bytes : int
        Largest request body, bytes (413 above it).
    max_pixels, max_file_bytes : int
        Largest image (pixels, from its header) and input file (bytes) rendered (413 above).
    db : LensDatabase, optional
        Default: :func:`l2tech.profiles.matching.default_database`, loaded on first use.
    allowed_hosts : tuple of str
        ``Host`` header names accepted (400 otherwise): a page of another site that points its
        own name at 127.0.0.1 (DNS rebinding) is refused even before the token check.

    Returns
    -------
    ASGI application
        Outermost the body-size check, then the ``Host`` check, the token check, the security
        headers and the Starlette routes.

    Raises
    ------
    InputNotFoundError
        ``folder`` is not a folder.
    """
    from l2tech.web.render import Renderer, list_folder, recipe_from_query

    root = Path(folder).resolve()
    if not root.is_dir():
        raise InputNotFoundError("not a folder", path=folder)
    renderer = Renderer(max_pixels=max_pixels, max_file_bytes=max_file_bytes, db=db)
    state: dict[str, Any] = {}

    def browser():
        if "lenses" not in state:
            from l2tech.web.lenses import LensBrowser

            state["lenses"] = LensBrowser(renderer.db)
        return state["lenses"]

    def looks() -> dict[str, str]:
        if "looks" not in state:
            from l2tech.color.looks import list_looks

            state["looks"] = list_looks()
        return state["looks"]

    def fail(exc: BaseException) -> JSONResponse:
        return JSONResponse({"error": str(getattr(exc, "reason", None) or exc)}, status_code=_status(exc))

    def file_of(request: Request) -> Path:
        rel = request.query_params.get("path", "")
        p = resolve_in_folder(root, rel)
        if not p.is_file():
            raise InputNotFoundError("not a file", path=rel)
        return p

    def page(name: str):
        def endpoint(request: Request) -> Response:
            return FileResponse(STATIC_DIR / name, media_type="text/html", headers={"Cache-Control": "no-store"})
        return endpoint

    def api_files(request: Request) -> Response:
        return JSONResponse({"folder": root.name, "files": list_folder(root)})

    def api_looks(request: Request) -> Response:
        return JSONResponse({"looks": sorted(looks())})

    def guarded(handler):
        """An endpoint whose L2Error or OSError becomes a JSON error with its HTTP status."""
        @functools.wraps(handler)
        def endpoint(request: Request) -> Response:
            try:
                return handler(request)
            except (L2Error, OSError) as exc:
                return fail(exc)
        return endpoint

    @guarded
    def api_thumb(request: Request) -> Response:
        return Response(renderer.thumbnail(file_of(request), THUMB_MAX_SIDE), media_type="image/jpeg",
                        headers={"Cache-Control": "private, max-age=600"})

    @guarded
    def api_lens(request: Request) -> Response:
        recipe = recipe_from_query(request.query_params, looks=looks())
        return JSONResponse(renderer.lens_info(file_of(request), recipe))

    @guarded
    def api_render(request: Request) -> Response:
        import dataclasses

        q = request.query_params
        p = file_of(request)
        recipe = recipe_from_query(q, looks=looks())
        if q.get("before") in ("1", "true"):
            recipe = dataclasses.replace(recipe, lens_correction=False)
        size = q.get("size", "preview")
        if size not in ("preview", "full"):
            raise UsageError(f"size must be preview or full, got {size!r}")
        r = renderer.render(p, recipe)
        return _image_response(r, size, icc=r.icc, quality=90)

    @guarded
    def api_video(request: Request) -> Response:
        return JSONResponse(renderer.video_info(file_of(request)))

    @guarded
    def api_frame(request: Request) -> Response:
        q = request.query_params
        p = file_of(request)
        side, size = q.get("side", "after"), q.get("size", "preview")
        if side not in ("before", "after") or size not in ("preview", "full", "thumb"):
            raise UsageError("side must be before or after; size preview, full or thumb")
        try:
            t = float(q.get("t", "0"))
        except ValueError:
            raise UsageError(f"t must be a time in seconds, got {q.get('t')!r}") from None
        before, after, lines = renderer.video_frame(p, t, q)
        r = before if side == "before" else after
        lens = " | ".join(lines)[:2000].encode("ascii", "replace").decode()
        return _image_response(r, size, quality=85, headers={"X-L2-Lens": lens})

    async def api_recipe(request: Request) -> Response:
        import json

        from starlette.concurrency import run_in_threadpool

        from l2tech.web.recipe_toml import recipe_path_for, write_recipe_toml

        try:
            if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
                return JSONResponse({"error": "the body must be JSON (Content-Type: application/json)"}, status_code=415)
            body = await request.body()
            try:
                data = json.loads(body or b"{}")
            except ValueError:
                raise UsageError("the body must be JSON: {\"path\": ..., \"recipe\": {...}}") from None
            if not isinstance(data, dict) or not isinstance(data.get("recipe", {}), dict):
                raise UsageError("the body must be JSON: {\"path\": ..., \"recipe\": {...}}")
            rel = str(data.get("path", ""))
            p = resolve_in_folder(root, rel)
            if not p.is_file():
                raise InputNotFoundError("not a file", path=rel)
            params = {k: ("" if v is None else str(v)) for k, v in data.get("recipe", {}).items()}
            recipe = recipe_from_query(params, looks=looks())
            out = recipe_path_for(p)
            if out.is_symlink():
                raise PathRefusedError(f"refused: the recipe file {out.name} is a symlink")
            written = await run_in_threadpool(write_recipe_toml, out, recipe,
                                              comment=f"l2tech recipe for {p.name}, saved from `l2 serve`")
            return JSONResponse({"file": written.relative_to(root).as_posix(), "recipe": recipe.to_dict()})
        except (L2Error, OSError) as exc:
            return fail(exc)

    def api_lenses(request: Request) -> Response:
        q = request.query_params
        try:
            return JSONResponse({"results": browser().search(q.get("q", ""), mount=q.get("mount"))})
        except L2Error as exc:
            return fail(exc)

    def profile_files(request: Request) -> tuple:
        """``file=`` (repeatable): profile files inside the folder, read with their reader."""
        from l2tech.profiles.sources import read_profiles

        out = []
        for rel in request.query_params.getlist("file")[:2]:
            p = resolve_in_folder(root, rel)
            if not p.is_file():
                raise InputNotFoundError("not a file", path=rel)
            if p.stat().st_size > 32 << 20:
                raise LimitExceededError("profile file over 32 MiB", path=rel)
            profs = read_profiles(p)
            name = request.query_params.get("name")
            chosen = [x for x in profs if name and x.name == name] or list(profs[:1])
            out += [(x, rel) for x in chosen]
        return tuple(out)

    def lens_page(request: Request) -> Response:
        try:
            lens_id = int(request.path_params["lens_id"])
            other = request.query_params.get("compare")
            html = browser().lens_page(lens_id, compare_with=int(other) if other not in (None, "") else None,
                                       files=profile_files(request))
        except ValueError as exc:
            if isinstance(exc, L2Error):
                return fail(exc)
            return JSONResponse({"error": "compare must be a lens number"}, status_code=400)
        except (L2Error, OSError) as exc:
            return fail(exc)
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @guarded
    def profile_page(request: Request) -> Response:
        files = profile_files(request)
        if not files:
            raise UsageError("give ?file=PATH, a lens profile file inside the folder")
        return HTMLResponse(browser().lens_page(None, files=files), headers={"Cache-Control": "no-store"})

    routes = [
        Route("/", page("index.html")),
        Route("/view", page("viewer.html")),
        Route("/lenses", page("lenses.html")),
        Route("/lens/{lens_id:int}", lens_page),
        Route("/profile", profile_page),
        Route("/api/files", api_files),
        Route("/api/looks", api_looks),
        Route("/api/thumb", api_thumb),
        Route("/api/lens", api_lens),
        Route("/api/render", api_render),
        Route("/api/recipe", api_recipe, methods=["POST"]),
        Route("/api/video", api_video),
        Route("/api/frame", api_frame),
        Route("/api/lenses", api_lenses),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.folder = root
    app.state.renderer = renderer
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    return BodyLimitMiddleware(TrustedHostMiddleware(TokenMiddleware(_SecurityHeaders(app), token),
                                                     allowed_hosts=list(allowed_hosts)), max_bytes=max_body_bytes)
