"""The memory budget: a job's peak estimated from its dimensions before anything is decoded.

A valid 519 KB PNG can hold 13000×13000 pixels; a 14 KB H.264 file one 8192×8192 frame.
Decoding first and finding out later is how a machine runs out of memory, so every still and
clip is sized from its header (PNG IHDR, JPEG SOF, TIFF IFD, LibRaw's header parse, the video
stream's parameters), its peak is estimated from the bytes per pixel each path was *measured*
to need (:data:`BYTES_PER_PIXEL`; docs/RELIABILITY.md, "Memory model"), and a job whose
estimate exceeds the budget is refused with :class:`~l2tech.errors.LimitExceededError`
naming the file, the estimate and the budget. Nothing is decoded and nothing is written.

The budget is ``--max-memory`` (:func:`parse_size`), by default :data:`DEFAULT_SHARE` of the
machine's memory (:func:`default_budget`; the cgroup limit when a container has a smaller
one).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from l2tech.errors import LimitExceededError, UsageError

__all__ = [
    "BYTES_PER_PIXEL",
    "BASE_BYTES",
    "DEFAULT_SHARE",
    "MemoryEstimate",
    "estimate_lut",
    "parse_size",
    "format_size",
    "physical_memory_bytes",
    "default_budget",
    "still_dimensions",
    "estimate_still",
    "estimate_video",
    "check_memory",
    "budgeted_job",
    "video_size_check",
]

#: Share of the machine's memory a job may use by default (the rest is for the system, other
#: programs and the decoder's own caches).
DEFAULT_SHARE = 0.5

#: Peak bytes per pixel of each path, above the process's fixed footprint, measured with the
#: high-water mark of the resident set (``VmHWM``) on Linux x86-64 (docs/RELIABILITY.md):
#:
#: ``develop``
#:     RAW, fused pass (bilinear, no look/LUT/log output): LibRaw's mosaic (2), its 4-channel
#:     16-bit image (8) and the 16-bit RGB it returns (6); per pixel of the RAW frame.
#: ``develop_staged``
#:     RAW through float32 stages (bicubic/Lanczos, log output): 60 (``bench_memory.py``: 59.9
#:     as the slope between 6 and 24 MP; 48 left the 24 MP peak of 1560 MiB over its estimate).
#: ``correct``
#:     A developed JPEG/PNG/TIFF: codes, one float32 frame held, the remap's float32 output and
#:     its temporaries, the quantised codes: 36 (38 with Lanczos).
#: ``look``
#:     Added by a look or a LUT: its stages run on bands of rows
#:     (:func:`l2tech.color.looks.apply_look`), so per pixel only grain's float32 noise field
#:     (4) and, where the look is the peak stage, part of its float32 result frame: 8 (measured
#:     0–4 over the ``correct`` path; 194–216 before the bands). The bands and the modules a
#:     look loads are a fixed part, :data:`BASE_BYTES` ``["look"]``.
#: ``video``
#:     One clip: the decoder's and encoder's frame pools (x264 look-ahead, frame threads),
#:     the frames in flight between them, and the lens maps built at set-up: 230 per pixel of
#:     the larger of the input and output frames, with :data:`BASE_BYTES` ``["video"]`` 700 MiB,
#:     measured with 2 cores on clips with lens correction (``benchmarks/bench_memory.py``:
#:     720p 588 MiB, 1080p 1083 MiB, 2160p 2400 MiB; not linear in the pixels, the set-up's map
#:     temporaries and the per-thread allocator arenas add a large part, so the fixed part and
#:     the slope are chosen to bound all three; 110 B/px + 350 MiB, measured on half-second
#:     clips without lens correction, was 45 % short at 1080p).
#: ``lut``
#:     ``l2 lut convert --size N`` / ``l2 lut bake --size N``: per point of the N³ grid (not a
#:     pixel): the float64 grids of the resampling, the float32 table, the text written in
#:     blocks and the file read back for the report: 1.32 GB measured at N = 256 (16.7 M
#:     points; 8.1 GB when the whole text was built in memory and read back line by line).
#: ``lut_bake``
#:     ``l2 lut bake --size N``: the look's float stages over the whole grid as well: 2.54 GB
#:     measured at N = 256 (the ``mono`` look).
BYTES_PER_PIXEL: dict[str, float] = {
    "develop": 16.0,
    "develop_staged": 60.0,
    "correct": 38.0,
    "look": 8.0,
    "video": 230.0,
    "lut": 72.0,
    "lut_bake": 150.0,
}

#: Fixed footprint of an ``l2`` process that has loaded the libraries of a job (Python,
#: NumPy, OpenCV, LibRaw, FFmpeg, the compiled kernels), bytes. Most of it is the shared
#: libraries' mapped pages, and how much of a library counts as resident depends on the page
#: cache: 208 MiB (stills) and 268 MiB (video, an 854×480 clip) when the libraries were read from
#: disk, 280 MiB and 341 MiB right after they were installed (freshly written files sit in the
#: page cache in large folios that a mapping takes whole: ``libllvmlite.so`` alone is 37 MiB
#: resident in the first case, 98 MiB in the second). The model takes the larger figures.
#: ``video`` is set with :data:`BYTES_PER_PIXEL` ``["video"]`` (see there: 700 MiB bounds the
#: measured clips together with the slope). ``look`` is added to a still's when a look or LUT is applied: the modules a look loads
#: (66 MiB measured) and its bands of rows (25 MiB).
BASE_BYTES: dict[str, int] = {"still": 300 * 2**20, "video": 700 * 2**20, "look": 100 * 2**20}

#: Safety margin on the measured figures (allocator slack, a different libjpeg/zlib build).
MARGIN = 1.10

_UNITS = {"": 1, "B": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def parse_size(text: str | int) -> int:
    """A memory size: ``"4G"``, ``"512M"``, ``"1.5GiB"``, ``"800MB"``, ``"2000000"`` → bytes.

    Units are binary (K = 1024, M = 1024², G = 1024³, T = 1024⁴), as ``free``, ``ulimit`` and
    container runtimes use them; ``B``/``iB`` suffixes are accepted, case does not matter.

    Parameters
    ----------
    text : str or int
        The size; an int is bytes.

    Returns
    -------
    int
        Bytes, positive.

    Raises
    ------
    UsageError
        Not a positive size.

    Examples
    --------
    >>> parse_size("4G"), parse_size("512m"), parse_size("1.5GiB")
    (4294967296, 536870912, 1610612736)
    """
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*([kKmMgGtT]?)(?:i?[bB])?\s*", str(text))
        if m is None:
            raise UsageError(f"expected a memory size such as 4G, 512M or 1.5GiB; got {text!r}")
        value = math.floor(float(m.group(1)) * _UNITS[m.group(2).upper()])
    if value <= 0:
        raise UsageError(f"a memory size must be positive; got {text!r}")
    return int(value)


def format_size(n: float) -> str:
    """Bytes as a short binary size for messages: ``format_size(6.2e9)`` → ``'5.8 GiB'``."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def physical_memory_bytes() -> int:
    """The memory this process may use: the machine's RAM, or a smaller cgroup limit.

    Returns
    -------
    int
        Bytes; ``sysconf(_SC_PHYS_PAGES) × _SC_PAGE_SIZE``, lowered to the cgroup v2
        ``memory.max`` (or v1 ``memory.limit_in_bytes``) of a container when that is smaller.
        4 GiB where neither can be read.
    """
    total = 0
    try:
        total = int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        total = 0
    for f in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(f).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < (total or 2**62):
            total = int(text)
    return total if total > 0 else 4 * 2**30


def default_budget() -> int:
    """The default memory budget: :data:`DEFAULT_SHARE` of :func:`physical_memory_bytes`, bytes."""
    return int(physical_memory_bytes() * DEFAULT_SHARE)


@dataclass(frozen=True)
class MemoryEstimate:
    """A job's estimated peak resident memory.

    Attributes
    ----------
    path : str
        The input.
    path_kind : str
        The processing path (a key of :data:`BYTES_PER_PIXEL`, ``+look`` when a look adds).
    width, height : int
        The frame the per-pixel figure applies to, pixels.
    bytes_per_pixel : float
    base_bytes : int
        The process's fixed footprint.
    """

    path: str
    path_kind: str
    width: int
    height: int
    bytes_per_pixel: float
    base_bytes: int
    unit: str = "px"

    @property
    def peak_bytes(self) -> int:
        """``base_bytes + width × height × bytes_per_pixel × MARGIN``."""
        return int(self.base_bytes + self.width * self.height * self.bytes_per_pixel * MARGIN)

    @property
    def job_bytes(self) -> int:
        """The part of the peak that scales with the frame (what a second job in flight adds)."""
        return self.peak_bytes - self.base_bytes

    def describe(self) -> str:
        """How the peak is made up: ``13000x13000 px × 38 B/px (correct) + 300.0 MiB``."""
        if self.unit != "px":
            return (f"{self.width * self.height} {self.unit} × {self.bytes_per_pixel:g} B each ({self.path_kind}) "
                    f"+ {format_size(self.base_bytes)}")
        return (f"{self.width}x{self.height} px × {self.bytes_per_pixel:g} B/px ({self.path_kind}) "
                f"+ {format_size(self.base_bytes)}")


def still_dimensions(path: str | os.PathLike, *, raw: bool) -> tuple[int, int] | None:
    """Width and height of a still from its header, without decoding the pixels.

    Parameters
    ----------
    path : path-like
    raw : bool
        Read the RAW frame size through LibRaw's header parse (``rawpy.imread(...).sizes``:
        ``raw_width × raw_height``); otherwise a JPEG/PNG (Pillow's lazy ``Image.open``) or a
        TIFF (tifffile's first page).

    Returns
    -------
    (int, int) or None
        ``(width, height)`` in pixels; None when the header cannot be read (the decoder then
        reports the file's real error).
    """
    import stat

    p = Path(path)
    try:
        if not stat.S_ISREG(os.stat(p).st_mode):
            return None  # a pipe or device: LibRaw's open would wait on a pipe; the input check refuses it
        if raw:
            import rawpy

            with rawpy.imread(str(p)) as r:
                s = r.sizes
                return max(int(s.raw_width), int(s.width)), max(int(s.raw_height), int(s.height))
        with open(p, "rb") as fh:
            head = fh.read(4)
        if head in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
            import tifffile

            with tifffile.TiffFile(p) as tf:
                page = tf.pages[0]
                return int(page.imagewidth), int(page.imagelength)
        import warnings

        from PIL import Image

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # DecompressionBombWarning: only the header is read
            with Image.open(p) as im:  # above Pillow's bomb limit it raises: read_image refuses those
                return int(im.size[0]), int(im.size[1])
    except Exception:  # noqa: BLE001 - an unreadable header is the decoder's error to report
        return None


def estimate_still(path: str | os.PathLike, recipe: Any = None, *, kind: str = "correct") -> MemoryEstimate | None:
    """Estimate the peak memory of developing (``kind="develop"``) or correcting a still.

    Parameters
    ----------
    path : path-like
    recipe : Recipe, optional
        Chooses the path: the fused develop (bilinear, no look/LUT/log output) or the float32
        stages; a look or LUT adds :data:`BYTES_PER_PIXEL` ``["look"]`` per pixel and
        :data:`BASE_BYTES` ``["look"]``.
    kind : {'develop', 'correct'}

    Returns
    -------
    MemoryEstimate or None
        None when the header cannot be read.
    """
    if kind not in ("develop", "correct"):
        raise UsageError(f"unknown job kind {kind!r}; valid: develop, correct")
    size = still_dimensions(path, raw=kind == "develop")
    if size is None:
        return None
    look = bool(recipe is not None and (getattr(recipe, "look", None) or getattr(recipe, "lut", None)))
    if kind == "develop":
        fused = recipe is None or not (look or getattr(recipe, "log_output", None)
                                       or str(getattr(recipe, "interpolation", "bilinear")).lower() != "bilinear")
        name = "develop" if fused else "develop_staged"
    else:
        name = "correct"
    bpp = BYTES_PER_PIXEL[name] + (BYTES_PER_PIXEL["look"] if look else 0.0)
    base = BASE_BYTES["still"] + (BASE_BYTES["look"] if look else 0)
    return MemoryEstimate(str(path), name + ("+look" if look else ""), size[0], size[1], bpp, base)


def estimate_lut(path: str | os.PathLike, size: int, *, kind: str = "lut") -> MemoryEstimate:
    """Estimate the peak memory of writing a 3D LUT of ``size`` points per axis.

    Parameters
    ----------
    path : path-like
        The LUT file written (named in a refusal).
    size : int
        Grid points per axis (the grid has ``size**3`` points).
    kind : {'lut', 'lut_bake'}
        Converting / resampling a LUT, or baking one from a look.

    Returns
    -------
    MemoryEstimate
        :data:`BYTES_PER_PIXEL` ``[kind]`` per grid point over :data:`BASE_BYTES` ``["still"]``.
    """
    if kind not in ("lut", "lut_bake"):
        raise UsageError(f"unknown LUT job kind {kind!r}; valid: lut, lut_bake")
    return MemoryEstimate(str(path), kind, int(size) ** 3, 1, BYTES_PER_PIXEL[kind], BASE_BYTES["still"],
                          unit=f"grid points ({size}³)")


def estimate_video(path: str | os.PathLike, width: int, height: int, out_size: tuple[int, int] | None = None) -> MemoryEstimate:
    """Estimate the peak memory of ``l2 video`` on a clip of ``width × height`` frames.

    Parameters
    ----------
    path : path-like
        The clip (for the message).
    width, height : int
        The stream's frame size, pixels (from :func:`l2tech.video.probe.probe_video`).
    out_size : (int, int), optional
        The output frame size when it differs; the larger frame counts.

    Returns
    -------
    MemoryEstimate
    """
    w, h = int(width), int(height)
    if out_size is not None and out_size[0] * out_size[1] > w * h:
        w, h = int(out_size[0]), int(out_size[1])
    return MemoryEstimate(str(path), "video", w, h, BYTES_PER_PIXEL["video"], BASE_BYTES["video"])


def check_memory(estimate: MemoryEstimate | None, budget: int | None) -> None:
    """Refuse a job whose estimated peak exceeds the budget.

    Parameters
    ----------
    estimate : MemoryEstimate or None
        None (header unreadable) passes: the decoder reports the file's error.
    budget : int or None
        Bytes; None means :func:`default_budget`.

    Raises
    ------
    LimitExceededError
        ``FILE: needs about 6.8 GiB at its peak (13000x13000 px × 38 B/px ...); the memory
        budget is 1.0 GiB ...``.
    """
    if estimate is None:
        return
    budget = default_budget() if budget is None else int(budget)
    if estimate.peak_bytes > budget:
        raise LimitExceededError(
            f"needs about {format_size(estimate.peak_bytes)} of memory at its peak ({estimate.describe()}); "
            f"the memory budget is {format_size(budget)}; not decoded, nothing written "
            f"(raise it with --max-memory if the machine has the memory)", path=estimate.path)


Job = Callable[[str, Path, Sequence[str]], Any]


def budgeted_job(job: Job, recipe: Any, *, kind: str, budget: int | None) -> Job:
    """Wrap a batch job so that each input is checked against the memory budget first.

    The job's read-ahead (the next inputs it may start decoding, ``upcoming``) is cut to the
    files whose decodes fit in the budget beside the current job, so a batch never holds more
    than the budget either.

    Parameters
    ----------
    job : callable
        ``job(input, output, upcoming)`` (:func:`l2tech.pipeline.batch.develop_batch_job`).
    recipe : Recipe
    kind : {'develop', 'correct'}
    budget : int or None
        Bytes; None means :func:`default_budget`.

    Returns
    -------
    callable
        The same signature; raises :class:`~l2tech.errors.LimitExceededError` for an input
        over the budget (the batch reports it as failed and goes on).
    """
    limit = default_budget() if budget is None else int(budget)

    def run(inp: str, out: Path, upcoming: Sequence[str]) -> Any:
        est = estimate_still(inp, recipe, kind=kind)
        check_memory(est, limit)
        used = est.peak_bytes if est is not None else BASE_BYTES["still"]
        ahead = []
        for nxt in upcoming:
            e = estimate_still(nxt, recipe, kind=kind)
            if e is None:
                continue
            # a decode started ahead holds LibRaw's buffers (the whole develop figure at most)
            if used + e.job_bytes > limit:
                break
            used += e.job_bytes
            ahead.append(nxt)
        return job(inp, out, ahead)

    return run


def video_size_check(path: str | os.PathLike, budget: int | None) -> Callable[[int, int, tuple[int, int] | None], None]:
    """The memory check of a clip, for :func:`l2tech.video.transcode.process_video`.

    Parameters
    ----------
    path : path-like
        The clip (for the message).
    budget : int or None
        Bytes; None means :func:`default_budget`.

    Returns
    -------
    callable
        ``check(width, height, out_size)``: raises :class:`~l2tech.errors.LimitExceededError`
        when :func:`estimate_video` of that frame size exceeds the budget.
    """
    limit = default_budget() if budget is None else int(budget)

    def check(width: int, height: int, out_size: tuple[int, int] | None = None) -> None:
        check_memory(estimate_video(path, width, height, out_size), limit)

    return check
