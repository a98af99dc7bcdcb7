"""What the viewer shows, through the pipeline: folder listing, renders, lens plan and candidates.

Every image here is :func:`l2tech.pipeline.stills.develop_codes` output (the codes a PNG of
the same recipe holds); a preview is that render reduced for the screen, the full-resolution
view is the render itself. Nothing is computed here but the reduction for display.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from l2tech.errors import LimitExceededError, UsageError
from l2tech.pipeline.recipe import CORRECTIONS, Recipe

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "Renderer",
    "list_folder",
    "recipe_from_query",
    "pixel_sha256",
    "encode_png",
    "encode_jpeg",
]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".tif", ".tiff", ".png"}
VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".mts", ".m4v", ".webm"}

#: Recipe fields the browser may set; file-valued fields (``profile``, ``lut``) never come
#: from a request (they would name files outside the folder).
_BROWSER_FIELDS = ("lens", "exposure_ev", "look", "corrections", "lens_correction", "white_balance")


def _kind(p: Path) -> str | None:
    from l2tech.pipeline.stills import RAW_SUFFIXES

    s = p.suffix.lower()
    if s in RAW_SUFFIXES:
        return "raw"
    if s in IMAGE_SUFFIXES:
        return "image"
    if s in VIDEO_SUFFIXES:
        return "video"
    return None


def list_folder(root: str | os.PathLike, *, limit: int = 2000) -> list[dict[str, Any]]:
    """Images and clips under ``root`` (recursively, symlinks out of it left out), sorted by path.

    Returns
    -------
    list of dict
        ``{"path": relative posix path, "kind": "raw" | "image" | "video", "bytes": size}``;
        recipe files and hidden files are skipped; at most ``limit`` entries.
    """
    base = Path(root).resolve()
    out: list[dict[str, Any]] = []
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            p = Path(dirpath) / name
            kind = _kind(p)
            if kind is None:
                continue
            real = p.resolve()
            if base not in real.parents:
                continue  # a symlink out of the folder is not listed (and not served)
            out.append({"path": p.relative_to(base).as_posix(), "kind": kind, "bytes": real.stat().st_size})
            if len(out) >= limit:
                return out
    return out


def recipe_from_query(params: Mapping[str, str], *, looks: Mapping[str, str] | None = None) -> Recipe:
    """A :class:`Recipe` from the viewer's query parameters.

    Parameters
    ----------
    params : mapping of str to str
        ``lens`` (a lens name from the candidates), ``exposure_ev`` (stops), ``look`` (a look
        *name*), ``corrections`` (comma list of vignetting, tca, distortion; empty = none),
        ``lens_correction`` (0/1), ``white_balance``. Other keys are ignored.
    looks : mapping, optional
        Allowed look names (default :func:`l2tech.color.looks.list_looks`).

    Returns
    -------
    Recipe

    Raises
    ------
    UsageError
        A value the Recipe refuses, or a look that is not a known name.
    """
    kw: dict[str, Any] = {}
    if params.get("lens"):
        kw["lens"] = str(params["lens"])[:300]
    if params.get("exposure_ev") not in (None, ""):
        try:
            kw["exposure_ev"] = float(params["exposure_ev"])
        except ValueError:
            raise UsageError(f"exposure_ev must be a number of stops, got {params['exposure_ev']!r}") from None
    if params.get("look"):
        if looks is None:
            from l2tech.color.looks import list_looks

            looks = list_looks()
        if params["look"] not in looks:
            raise UsageError(f"unknown look {params['look']!r}; valid: {', '.join(sorted(looks))}")
        kw["look"] = params["look"]
    if "corrections" in params:
        kw["corrections"] = tuple(c for c in str(params["corrections"]).split(",") if c)
    if params.get("lens_correction") in ("0", "false", "off"):
        kw["lens_correction"] = False
    if params.get("white_balance"):
        if params["white_balance"] not in ("camera", "daylight", "auto"):
            raise UsageError(f"white_balance must be camera, daylight or auto, got {params['white_balance']!r}")
        kw["white_balance"] = params["white_balance"]
    return Recipe(**kw)


def pixel_sha256(codes: np.ndarray) -> str:
    """SHA-256 of an image's code values: ``"{H}x{W}x{C} {dtype}"`` header + C-order bytes.

    Parameters
    ----------
    codes : ndarray, shape (H, W, C), uint8 or uint16
    """
    a = np.ascontiguousarray(codes)
    h = hashlib.sha256(f"{'x'.join(map(str, a.shape))} {a.dtype.str}".encode())
    h.update(a.tobytes())
    return h.hexdigest()


def encode_png(codes: np.ndarray, icc: bytes | None = None) -> bytes:
    """Lossless PNG of uint8 RGB codes (the full-resolution view), ICC profile embedded."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(codes), "RGB").save(buf, format="PNG", compress_level=1, icc_profile=icc)
    return buf.getvalue()


def encode_jpeg(codes: np.ndarray, *, max_side: int | None = None, quality: int = 90, icc: bytes | None = None) -> bytes:
    """JPEG of uint8 RGB codes, reduced (box filter, display only) to ``max_side`` pixels."""
    from PIL import Image

    im = Image.fromarray(np.ascontiguousarray(codes), "RGB")
    if max_side and max(im.size) > max_side:
        s = max_side / max(im.size)
        im = im.resize((max(1, round(im.width * s)), max(1, round(im.height * s))), Image.Resampling.BOX)
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=quality, icc_profile=icc)
    return buf.getvalue()


@dataclass(frozen=True)
class Render:
    """One render of one file with one recipe: 8-bit codes and what the pipeline said."""

    codes: np.ndarray
    sha256: str
    icc: bytes | None
    summary: dict[str, Any]


class Renderer:
    """Renders through the pipeline, with a small LRU cache of full-resolution results.

    Parameters
    ----------
    max_pixels : int
        Largest image accepted, pixels (checked from the header before decoding).
    max_file_bytes : int
        Largest input file accepted, bytes.
    cache_size : int
        Renders kept in memory.
    max_parallel : int
        Renders running at once (each holds full-size frames).
    db : LensDatabase, optional
        Default: :func:`l2tech.profiles.matching.default_database`, loaded on first use.
    """

    def __init__(self, *, max_pixels: int = 150_000_000, max_file_bytes: int = 2 << 30, cache_size: int = 6,
                 max_parallel: int = 2, db: Any = None) -> None:
        self.max_pixels = int(max_pixels)
        self.max_file_bytes = int(max_file_bytes)
        self._cache: OrderedDict[tuple, Render] = OrderedDict()
        self._thumbs: OrderedDict[tuple, bytes] = OrderedDict()
        self._size = cache_size
        self._lock = threading.Lock()
        self._busy: dict[tuple, threading.Lock] = {}
        self._slots = threading.BoundedSemaphore(max_parallel)  # full-size frames in memory at once
        self._db: Any = db

    @property
    def db(self) -> Any:
        """The lens database (loaded once)."""
        if self._db is None:
            from l2tech.profiles.matching import default_database

            self._db = default_database()
        return self._db

    def check(self, path: Path) -> str:
        """Refuse files over the size limits before anything decodes them; return the format.

        Raises
        ------
        LimitExceededError
            The file or the image it claims is too large.
        UnsupportedFormatError
            Not an image l2tech reads.
        """
        from l2tech.io.formats import check_input

        size = path.stat().st_size
        if size > self.max_file_bytes:
            raise LimitExceededError(f"file of {size} bytes; the server's limit is {self.max_file_bytes} bytes", path=path)
        return check_input(path, ("raw", "image"), max_pixels=self.max_pixels)

    def render(self, path: Path, recipe: Recipe) -> Render:
        """Full-resolution 8-bit render (cached by file, its size and mtime, and recipe)."""
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns, recipe)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
            busy = self._busy.setdefault(key, threading.Lock())
        try:
            with busy:  # the same render asked twice at once runs once
                with self._lock:
                    hit = self._cache.get(key)
                if hit is not None:
                    return hit
                r = self._render(path, recipe)
                with self._lock:
                    self._cache[key] = r
                    while len(self._cache) > self._size:
                        self._cache.popitem(last=False)
                return r
        finally:
            with self._lock:
                self._busy.pop(key, None)

    def _render(self, path: Path, recipe: Recipe) -> Render:
        from l2tech.pipeline.stills import develop_codes

        self.check(path)
        with self._slots:
            res = develop_codes(path, recipe, bits=8, db=self.db)
        return Render(res.image, pixel_sha256(res.image), res.icc_profile,
                      {"size": [int(res.image.shape[1]), int(res.image.shape[0])], "lens": res.plan.summary(),
                       "warnings": list(res.warnings), "output_space": res.output_space})

    def thumbnail(self, path: Path, max_side: int) -> bytes:
        """JPEG thumbnail of the default render (cached as JPEG bytes, never as a full frame)."""
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns, max_side)
        with self._lock:
            hit = self._thumbs.get(key)
        if hit is not None:
            return hit
        r = self._render(path, Recipe())
        data = encode_jpeg(r.codes, max_side=max_side, quality=80)
        with self._lock:
            self._thumbs[key] = data
            while len(self._thumbs) > 2000:
                self._thumbs.popitem(last=False)
        return data

    def lens_info(self, path: Path, recipe: Recipe) -> dict[str, Any]:
        """The lens plan for the file and the lens candidates to choose from, with reasons.

        Returns
        -------
        dict
            ``plan`` (:meth:`LensPlan.summary`), ``candidates`` (``name``, ``score``,
            ``reason``, ``chosen``), ``corrections`` (the names in pipeline order).
        """
        from l2tech.errors import LensNotFoundError
        from l2tech.io.metadata import read_metadata
        from l2tech.pipeline.lens_plan import plan_lens_correction
        from l2tech.profiles.matching import match_lens

        self.check(path)
        meta = read_metadata(path)
        try:
            plan = plan_lens_correction(meta, recipe, db=self.db).summary()
        except LensNotFoundError as exc:
            plan = {"lens": None, "error": str(getattr(exc, "reason", exc)), "corrections": {}}
        cands: list[dict[str, Any]] = []
        try:
            m = match_lens(meta, self.db)
            if m.lens is not None:
                cands.append({"name": m.lens.name, "score": float(m.score), "reason": f"matched ({m.method})"})
            cands += [{"name": c.name, "score": float(c.score), "reason": c.reason} for c in m.runners_up]
        except LensNotFoundError as exc:
            cands += [{"name": c.name, "score": float(c.score), "reason": c.reason} for c in getattr(exc, "candidates", ())
                      if hasattr(c, "profile")]
        seen: set[str] = set()
        uniq = []
        for c in cands:
            if c["name"] not in seen:
                seen.add(c["name"])
                uniq.append({**c, "chosen": c["name"] == plan.get("lens")})
        return {"plan": plan, "candidates": uniq, "corrections": list(CORRECTIONS),
                "camera": plan.get("camera"), "file_lens": getattr(meta, "lens_model", None)}

    def video_info(self, path: Path) -> dict[str, Any]:
        """Duration, frame rate and size of a clip (:func:`l2tech.video.probe.probe_video`)."""
        from l2tech.video.probe import probe_video

        info = probe_video(path)
        return {"duration_s": float(info.duration_s or 0.0), "fps": float(info.frame_rate or 0),
                "n_frames": int(info.n_frames), "size": [int(info.width_px), int(info.height_px)], "codec": info.codec}

    def video_frame(self, path: Path, time_s: float, params: Mapping[str, str]) -> tuple[Render, Render, list[str]]:
        """One frame of a clip before and after ``l2 video``'s own pipeline.

        The frame is run through :func:`l2tech.pipeline.video.run_video_job` (the same job as
        ``l2 video --camera/--lens/--focal-length``, trimmed to one frame, encoded to a
        scratch file outside the folder) and taken from its ``frame_hook``: the R'G'B' codes
        before and after the pipeline, before encoding.

        Parameters
        ----------
        path : Path
        time_s : float
            Time of the frame, seconds from the start.
        params : mapping
            ``camera``, ``lens``, ``focal_length_mm`` (text; empty = not given).

        Returns
        -------
        (Render, Render, list of str)
            Before, after, and the lens setup lines of the job.
        """
        import tempfile

        from l2tech.pipeline import Recipe
        from l2tech.pipeline.video import VideoJob, run_video_job

        if not (np.isfinite(time_s) and time_s >= 0):
            raise UsageError(f"t must be a time in seconds >= 0, got {time_s}")
        kw: dict[str, Any] = {}
        for name in ("camera", "lens"):
            if params.get(name):
                kw[name] = str(params[name])[:300]
        if params.get("focal_length_mm"):
            try:
                kw["focal_length_mm"] = float(params["focal_length_mm"])
            except ValueError:
                raise UsageError(f"focal_length_mm must be a number, got {params['focal_length_mm']!r}") from None
        st = path.stat()
        key = ("video", str(path), st.st_size, st.st_mtime_ns, round(time_s, 3), tuple(sorted(kw.items())))
        with self._lock:
            hit = self._cache.get(key)
        if hit is not None:
            return hit  # type: ignore[return-value]
        info = self.video_info(path)
        fps = info["fps"] or 30.0
        t = min(time_s, max(0.0, info["duration_s"] - 1.0 / fps))
        got: list[tuple[np.ndarray, np.ndarray]] = []

        def keep(index: int, rgb_in: np.ndarray, rgb_out: np.ndarray) -> None:
            if not got:
                got.append((rgb_in.copy(), rgb_out.copy()))

        job = VideoJob(Recipe(**kw), start_s=t, duration_s=1.02 / fps, overwrite=True)
        with self._slots, tempfile.TemporaryDirectory(prefix="l2serve-") as tmp:
            _, lines = run_video_job(job, str(path), Path(tmp) / "frame.mp4", frame_hook=keep)
        if not got:
            raise UsageError(f"no frame at {time_s:g} s", path=path)
        before, after = (_as_8bit(x) for x in got[0])
        out = (Render(before, pixel_sha256(before), None, {}), Render(after, pixel_sha256(after), None, {}), list(lines))
        with self._lock:
            self._cache[key] = out  # type: ignore[assignment]
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return out


def _as_8bit(codes: np.ndarray) -> np.ndarray:
    """uint16 frame codes (high bit depth clips) to uint8 for display: round(v / 257)."""
    if codes.dtype == np.uint8:
        return codes
    return ((codes.astype(np.uint32) + 128) // 257).astype(np.uint8)
