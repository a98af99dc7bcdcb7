"""The video pipeline: a clip's settings (:class:`VideoJob`, wrapping the one :class:`Recipe`)
to its lens setup, look and encoder, then :func:`l2tech.video.transcode.process_video`.

:class:`VideoJob` holds the settings of ``l2 video`` (the CLI only parses them): the shared
ones (lens and shot overrides, corrections on/off, projection, interpolation, look and LUT) in
its :class:`~l2tech.pipeline.recipe.Recipe`, as for stills; the video-only ones (intrinsics,
calibration crop, zoom, output size, encoder) beside it. :func:`run_video_job` resolves the lens
(a profile file, a lensfun database lookup, or explicit OpenCV intrinsics), the look or LUT and
the encoder options once per clip.

Lens sources and where their maths lives:

- Gyroflow JSON (``--profile *.json``): :mod:`l2tech.profiles.gyroflow` reads it; OpenCV fisheye
  (Kannala–Brandt) and pinhole maps come from :mod:`l2tech.optics` via
  :func:`l2tech.video.lens.lens_setup_pixel_model`, with the calibration frame fitted to the
  video frame as :mod:`l2tech.video.lens` documents.
- ``--intrinsics`` / ``--dist-coeffs`` / ``--lens-model``: the same, from numbers.
- lensfun XML, Adobe LCP, ``--camera``/``--lens``: the stills engine's
  :func:`l2tech.correct.correction_maps` and :func:`l2tech.correct.vignetting_gain`, with the
  video's crop factor (``--crop-factor``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from l2tech.errors import DependencyMissingError, InputNotFoundError, InvalidProfileError, UnsupportedFormatError, UsageError
from l2tech.pipeline.recipe import LUT_SUFFIXES as _LUT_SUFFIXES
from l2tech.pipeline.recipe import Recipe
from l2tech.profiles.validate import CROP_FACTOR_RANGE, FOCAL_PX_RANGE

__all__ = ["VideoJob", "run_video_job", "resolve_lens", "resolve_look", "VIDEO_SETTINGS", "video_settings",
           "read_video_settings", "check_video_options", "plan_stabilization", "video_record"]


@dataclass(frozen=True)
class VideoJob:
    """Settings of one ``l2 video`` run (see ``l2 video --help`` for each).

    Parameters
    ----------
    recipe : Recipe
        The settings stills and video share: ``profile`` (``--profile``), ``camera``, ``lens``,
        ``focal_length_mm``, ``f_number``, ``focus_distance_m``, ``lens_correction`` and
        ``corrections`` (``--no-lens-correction``/``--only``), ``projection``, ``interpolation``
        (``nearest`` allowed for video), ``look`` and ``lut``. Its stills-only fields (output
        format, bits, colour space, exposure, white balance) do not apply to a clip.
    crop_factor : float, optional
        Crop factor of the area the video mode records (mm-based profiles).
    calib_crop : tuple of 4 float, optional
        Region ``x0, y0, w, h`` of the calibration frame the video shows (calibration pixels).
    lens_model : {'opencv_fisheye', 'opencv'}, optional
        Model of ``intrinsics``/``dist_coeffs``.
    intrinsics : tuple of 4 float, optional
        ``fx, fy, cx, cy`` in pixels of the clip (or of ``calib_size``).
    dist_coeffs : tuple of float, optional
        ``k1..k4`` (fisheye) or ``k1, k2, p1, p2[, k3...]`` (pinhole).
    calib_size : (int, int), optional
        Width and height the intrinsics were calibrated at.
    zoom : float
        Output focal length over the lens's, pixel models (< 1 shows more).
    out_size : (int, int), optional
        Output width and height (default: the input's).
    input_encoding : str, optional
        Encoding of the clip's values (e.g. ``V-Log``); default Rec.709 / the stream's tag.
    codec, crf, bitrate, preset, bit_depth, pix_fmt
        Encoder settings (:class:`l2tech.video.transcode.EncodeOptions`).
    start_s, duration_s : float
        Part of the clip to process, seconds.
    max_decode_errors : int
        Corrupt frames to skip before failing.
    overwrite : bool
        Replace an existing output.
    fast : bool
        swscale's fast colour conversion.
    segments : int
        Parts the clip is encoded in, each starting at one of the input's keyframes
        (:func:`segment_plan`), with an IDR frame, constant ``qp`` and no B-frames, so that the
        parts made on several workers and joined (:func:`run_video_job`, ``workers``) equal the
        clip made in one pass. 1: one part, the encoder's own rate control.
    qp : int, optional
        Constant quantiser (x264/x265) instead of ``crf``; default 18 when ``segments`` > 1.
    keyframes_s, copy_streams
        Set for the parts of a split clip (not settings of a recipe): output times of forced
        IDR frames; whether audio and data streams are copied.
    stabilize : {None, "auto", "gyro", "flow"}
        Stabilise the clip (:func:`plan_stabilization`): ``"auto"`` uses the gyro when the clip
        (or ``gyro``) has one, else optical flow; ``None`` (default) leaves the motion.
    gyro : str, optional
        Gyro CSV (``t_s,gx,gy,gz``, rad/s, camera axes) or Gyroflow project (``.gyroflow``:
        :mod:`l2tech.video.gyroflow_project`; its offsets, readout and, when no other lens
        source is given, its lens are used) instead of the clip's telemetry. Without it, a
        Gyroflow project given as the recipe's ``profile`` is the motion source too.
    gyro_offset_ms : float, optional
        Gyro time minus video time, milliseconds; default: found from the frames.
    smoothness_s : float
        Strength of the path smoother (:data:`l2tech.video.stabilize.SMOOTHNESS_S`).
    readout_ms : float or "auto", optional
        Rolling-shutter readout time (first to last row), milliseconds; ``"auto"`` estimates it
        against the gyro (:func:`l2tech.video.stabilize.estimate_readout`); default: the
        readout a Gyroflow lens profile or project states for the clip's recording mode
        (:func:`l2tech.profiles.gyroflow.readout_for_clip`), else 0 (not corrected).
    horizon_lock : bool
        Keep the horizon level (:func:`l2tech.video.stabilize.lock_horizon`).
    max_crop_zoom : float
        Largest crop zoom the stabiliser may use.
    adaptive_zoom_s : float
        0 (default): one crop zoom for the whole clip, the largest any frame needs. > 0: a
        zoom per frame that follows what the frames around it need within a window of this
        many seconds (:func:`l2tech.video.stabilize.adaptive_zoom`; Gyroflow's adaptive zoom).
    """

    recipe: Recipe = Recipe()
    crop_factor: float | None = None
    calib_crop: tuple[float, ...] | None = None
    lens_model: str | None = None
    intrinsics: tuple[float, ...] | None = None
    dist_coeffs: tuple[float, ...] | None = None
    calib_size: tuple[int, int] | None = None
    zoom: float = 1.0
    out_size: tuple[int, int] | None = None
    input_encoding: str | None = None
    tone: str = "none"
    codec: str | None = None
    crf: int | None = None
    bitrate: str | int | None = None
    preset: str | None = None
    bit_depth: int | None = None
    pix_fmt: str | None = None
    start_s: float = 0.0
    duration_s: float | None = None
    max_decode_errors: int = 0
    overwrite: bool = False
    fast: bool = False
    segments: int = 1
    qp: int | None = None
    keyframes_s: tuple[float, ...] = ()
    copy_streams: bool = True
    stabilize: str | None = None
    gyro: str | None = None
    gyro_offset_ms: float | None = None
    smoothness_s: float = 0.5
    readout_ms: float | str | None = None
    horizon_lock: bool = False
    max_crop_zoom: float = 2.0
    adaptive_zoom_s: float = 0.0

    def wants(self, correction: str) -> bool:
        """Whether the recipe asks for ``correction`` (``vignetting``, ``tca``, ``distortion``)."""
        return self.recipe.lens_correction and correction in self.recipe.corrections


#: The fields of :class:`VideoJob` a recipe file's ``[video]`` table may hold (every one but the
#: shared ``recipe`` and the run's ``overwrite``).
VIDEO_SETTINGS = tuple(f for f in VideoJob.__dataclass_fields__
                       if f not in ("recipe", "overwrite", "keyframes_s", "copy_streams"))


def video_settings(job: VideoJob) -> dict:
    """``job``'s video-only settings as a TOML-writable mapping (unset ones left out).

    The ``[video]`` table of a recipe file and of a video output's sidecar, and what
    :func:`~l2tech.pipeline.recipe_file.recipe_hash` hashes with the recipe for ``l2 video``.
    """
    out = {}
    for name in VIDEO_SETTINGS:
        v = getattr(job, name)
        if v is not None:
            out[name] = list(v) if isinstance(v, tuple) else v
    return out


#: Ranges of the numeric ``[video]`` settings, the one rule for a recipe file's ``[video]`` table
#: (checked where it is read, with ``file:line``), the ``l2 video`` options (checked before any
#: work) and so every sidecar l2tech writes: (low, high, low included); None is open. crf and qp:
#: the encoders' own ranges (x264 crf 0-51 at 8 bit, 0-63 at 10 bit; qp up to 81 at 10 bit;
#: libx265 crf 0-51). zoom: 0.1-10 (outside it the view is a dot or one pixel of the lens).
#: smoothness_s: a Gaussian of at most 60 s (longer holds the view as good as locked).
#: gyro_offset_ms: up to the gyro CSV's time bound (Unix epoch times). readout_ms: at most 1 s
#: (a sensor's readout is tens of ms; the frame period bounds it again per clip). bitrate:
#: 1 kbit/s to 10 Gbit/s. out_size, calib_size: positive even sizes up to 65536.
_MAX_CLIP_S = 1e9  # l2tech.video.transcode.MAX_CLIP_SECONDS (not imported here: it loads PyAV)
_VIDEO_RANGES = {"start_s": (0.0, _MAX_CLIP_S, True), "duration_s": (0.0, _MAX_CLIP_S, False),
                 "zoom": (0.1, 10.0, True),
                 "crf": (0, 63, True), "qp": (0, 81, True), "segments": (1, 10000, True), "smoothness_s": (0.0, 60.0, True),
                 "max_crop_zoom": (1.0, 10.0, True), "adaptive_zoom_s": (0.0, 1e6, True),
                 "gyro_offset_ms": (-1e13, 1e13, True), "readout_ms": (0.0, 1000.0, True), "bitrate": (1e3, 1e10, True),
                 "max_decode_errors": (0, None, True),
                 "crop_factor": (*CROP_FACTOR_RANGE, True)}  # as a lens profile's crop factor
_MAX_SIZE_PX = 65536


def _check_video_range(key: str, value: Any, name: str | None = None) -> str | None:
    """Why a ``[video]`` value (or the option ``name`` that gave it) is out of its range, or None."""
    import math

    name = name or key
    if key in ("out_size", "calib_size") and value is not None:
        if not (isinstance(value, (tuple, list)) and len(value) == 2
                and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
            return f"{name} must be two integers, width and height, got {value!r}"
        if not all(0 < v <= _MAX_SIZE_PX and v % 2 == 0 for v in value):
            return f"{name} must be a positive even width and height of at most {_MAX_SIZE_PX}, got {value[0]}x{value[1]}"
        return None
    if key == "readout_ms" and isinstance(value, str):
        return None if value.strip().lower() == "auto" else f"{name} must be milliseconds or 'auto', got {value!r}"
    given = value
    if key == "bitrate" and isinstance(value, str):
        try:
            value = _parse_bitrate(value)
        except UsageError:
            return f"{name} must be a number of bits per second like 20M or 800k, got {value!r}"
    rng = _VIDEO_RANGES.get(key)
    if rng is None or value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    lo, hi, closed = rng
    # an integer is finite at any size (math.isfinite would overflow converting a 400-digit one)
    if (isinstance(value, float) and not math.isfinite(value)) or (lo is not None and (value < lo or (value == lo and not closed))) or \
            (hi is not None and value > hi):
        low = "" if lo is None else (f"≥ {lo:g}" if closed else f"> {lo:g}")
        shown = repr(value) if len(repr(value)) <= 40 else f"an integer of {len(str(abs(value)))} digits"
        if given is not value:  # a bit rate as written (20M)
            shown = f"{given!r} ({value} bit/s)"
        return f"{name} must be {low}{'' if hi is None else f' and ≤ {hi:g}'}, got {shown}"
    return None


#: The ``l2 video`` option of each ``[video]`` setting (for messages about the command line).
VIDEO_OPTIONS = {"start_s": "--start", "duration_s": "--duration", "zoom": "--zoom", "out_size": "--size",
                 "calib_size": "--calib-size", "crf": "--crf", "qp": "--qp", "bitrate": "--bitrate",
                 "segments": "--segments", "smoothness_s": "--smoothness", "gyro_offset_ms": "--gyro-offset",
                 "readout_ms": "--readout-ms", "adaptive_zoom_s": "--adaptive-zoom",
                 "max_decode_errors": "--max-decode-errors", "crop_factor": "--crop-factor"}


def check_video_options(values: dict) -> None:
    """Check ``[video]`` settings given as ``l2 video`` options against :data:`_VIDEO_RANGES`
    (the same rule as a recipe file's ``[video]`` table).

    Raises
    ------
    UsageError
        A value out of its range, naming the option.
    """
    for key, value in values.items():
        why = _check_video_range(key, value, VIDEO_OPTIONS.get(key, key))
        if why:
            raise UsageError(why)


def read_video_settings(path: str | Path, *, base: VideoJob | None = None) -> dict:
    """The ``[video]`` table of a recipe file (or of a video output's sidecar), checked.

    Parameters
    ----------
    path : path-like
        A TOML recipe file; a file without a ``[video]`` table gives ``base``'s settings.
    base : VideoJob, optional
        Values of the settings the file leaves out (default: :class:`VideoJob`'s defaults).

    Returns
    -------
    dict
        :func:`video_settings` of ``base`` updated with the file's values.

    Raises
    ------
    RecipeError
        Not valid TOML, an unknown key, or a value of the wrong type (with ``file:line``).
    """
    import dataclasses
    import typing

    from l2tech.errors import RecipeError
    from l2tech.pipeline.recipe_file import VIDEO_TABLE, _coerce, _key_line, _type_name, read_toml_file, toml_loads

    p = Path(path)
    text = read_toml_file(p)
    table = toml_loads(text, path=p).get(VIDEO_TABLE, {})
    if not isinstance(table, dict):
        raise RecipeError(f"{VIDEO_TABLE} must be a table ([{VIDEO_TABLE}])", path=p, line=_key_line(text, VIDEO_TABLE, None))
    hints = typing.get_type_hints(VideoJob)
    values = {}
    for key, value in table.items():
        line = _key_line(text, key, VIDEO_TABLE)
        if key not in VIDEO_SETTINGS:
            raise RecipeError(f"unknown [video] key {key!r}; valid keys: {', '.join(VIDEO_SETTINGS)}", path=p, line=line)
        try:
            values[key] = _coerce(value, hints[key])
        except TypeError:
            raise RecipeError(f"{key} must be {_type_name(hints[key])}, got {value!r}", path=p, line=line) from None
        why = _check_video_range(key, values[key])
        if why:
            raise RecipeError(why, path=p, line=line)
    return video_settings(dataclasses.replace(base or VideoJob(), **values))


_FISHEYE_NAMES = ("k1", "k2", "k3", "k4")
_PINHOLE_NAMES = ("k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6")


def _parse_bitrate(b: str | int | None) -> int | None:
    if b is None:
        return None
    if isinstance(b, int):
        return b
    s = b.strip().lower()
    mult = {"k": 1e3, "m": 1e6, "g": 1e9}.get(s[-1:], 1.0)
    try:
        return int(float(s[:-1] if s[-1:] in "kmg" else s) * mult)
    except (ValueError, OverflowError):  # (int() of NaN: ValueError; of inf: OverflowError)
        raise UsageError(f"--bitrate: expected a number like 20M, got {b!r}") from None


def _pixel_profile_from_gyroflow(path: str, focal_length_mm: float | None = None):
    """(model, K, terms, calib_size, name) from a Gyroflow JSON via l2tech.profiles.gyroflow."""
    try:
        from l2tech.profiles import gyroflow  # type: ignore[attr-defined]
    except ImportError:
        raise DependencyMissingError(
            "reading Gyroflow JSON needs l2tech.profiles.gyroflow, which this build lacks", path=path
        ) from None
    return gyroflow.pixel_model_from_file(path, focal_length_mm)  # type: ignore[attr-defined]


def _project_lens(job: VideoJob) -> str | None:
    """The ``--gyro`` Gyroflow project, when it is the lens source: stabilising, no other lens
    source given, and the project holds a calibration."""
    if not (job.stabilize and job.gyro) or job.recipe.profile is not None or job.intrinsics is not None:
        return None
    if job.recipe.camera or job.recipe.lens:
        return None
    from l2tech.video.gyroflow_project import is_gyroflow_project, read_gyroflow_project

    if not is_gyroflow_project(job.gyro):
        return None
    return job.gyro if read_gyroflow_project(job.gyro).lens is not None else None


def resolve_lens(job: VideoJob, frame_size: tuple[int, int], *, provenance: dict | None = None):
    """The :class:`~l2tech.video.lens.LensSetup` for a clip of ``frame_size``, or ``None``.

    ``provenance``, when given, receives what the output's l2tech record says of the lens:
    ``Profile`` (the lens's name), ``ProfileSource`` (``database``, ``user``, ``file (NAME)``,
    ``Gyroflow project (NAME)``, ``options (--intrinsics/--dist-coeffs)``), ``applied`` (the
    corrections the setup makes, pipeline order) and ``reasons`` (``correction -> why not``).

    Raises
    ------
    UsageError
        Conflicting or incomplete lens options.
    DependencyMissingError
        The profile format's reader is not available.
    """
    from l2tech.video.lens import lens_setup_pixel_model

    if not job.recipe.lens_correction:
        return None
    sources = [job.recipe.profile is not None, job.intrinsics is not None, bool(job.recipe.camera or job.recipe.lens)]
    if sum(sources) > 1:
        raise UsageError("give one lens source: --profile, --intrinsics/--dist-coeffs, or --camera/--lens")
    project_lens = _project_lens(job)
    if project_lens is not None:
        model, K, terms, calib_size, name = _pixel_profile_from_gyroflow(project_lens, job.recipe.focal_length_mm)
        _pixel_provenance(provenance, name or "lens", f"Gyroflow project ({Path(project_lens).name})")
        return lens_setup_pixel_model(
            frame_size, model, K, terms, job.calib_size or calib_size, calib_crop=job.calib_crop,
            projection=job.recipe.projection, out_size=job.out_size, zoom=job.zoom,
            source=f"{name or 'lens'} from the Gyroflow project {Path(project_lens).name}",
        )
    if job.intrinsics is not None:
        if job.dist_coeffs is None:
            raise UsageError("--intrinsics needs --dist-coeffs (and --lens-model)")
        model = job.lens_model or ("opencv_fisheye" if len(job.dist_coeffs) == 4 else "opencv")
        names = _FISHEYE_NAMES if model == "opencv_fisheye" else _PINHOLE_NAMES
        if len(job.dist_coeffs) > len(names):
            raise UsageError(f"--dist-coeffs: {model} takes at most {len(names)} coefficients ({', '.join(names)})")
        terms = dict(zip(names, (float(v) for v in job.dist_coeffs)))
        _check_cli_lens_numbers(job.intrinsics, terms)
        fx, fy, cx, cy = job.intrinsics
        K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        _pixel_provenance(provenance, f"{model} intrinsics", "options (--intrinsics/--dist-coeffs)")
        return lens_setup_pixel_model(
            frame_size, model, K, terms, job.calib_size, calib_crop=job.calib_crop, projection=job.recipe.projection,
            out_size=job.out_size, zoom=job.zoom, source="--intrinsics",
        )
    if job.dist_coeffs is not None:
        raise UsageError("--dist-coeffs needs --intrinsics")
    if job.recipe.profile is not None:
        p = job.recipe.profile
        if not Path(p).is_file():
            # a missing input file fails the job (exit 1), as in ``l2 develop`` / ``l2 correct``
            if not Path(p).exists():
                raise InputNotFoundError("file not found", path=p)
            kind = "is a folder, not a file" if Path(p).is_dir() else "not a regular file (a pipe, device or socket)"
            raise UnsupportedFormatError(kind, path=p)
        if Path(p).suffix.lower() in (".json", ".gyroflow"):
            model, K, terms, calib_size, name = _pixel_profile_from_gyroflow(p, job.recipe.focal_length_mm)
            _pixel_provenance(provenance, name or Path(p).name, f"file ({Path(p).name})")
            return lens_setup_pixel_model(
                frame_size, model, K, terms, job.calib_size or calib_size, calib_crop=job.calib_crop,
                projection=job.recipe.projection, out_size=job.out_size, zoom=job.zoom, source=name or p,
            )
        return _lensfun_setup(job, frame_size, provenance)
    if job.recipe.camera or job.recipe.lens:
        return _lensfun_setup(job, frame_size, provenance)
    if job.recipe.projection:
        raise UsageError("--projection needs a lens (--profile, --intrinsics or --camera/--lens)")
    return None


def _pixel_provenance(provenance: dict | None, name: str, source: str) -> None:
    """A pixel-calibrated lens (OpenCV fisheye/pinhole): its map undistorts; it has no
    vignetting or TCA data."""
    if provenance is not None:
        provenance.update(Profile=name, ProfileSource=source, applied=["distortion"],
                          reasons={"vignetting": "the lens model has no vignetting data",
                                   "tca": "the lens model has no TCA data"})


def _lensfun_profile(job: VideoJob):
    """(LensProfile, crop_factor or None, description) for a lensfun XML file or a DB lookup."""
    if job.recipe.profile is not None:
        # any profile file the stills engine reads: lensfun XML, Adobe LCP, OpenCV YAML/XML, DNG
        from l2tech.profiles.sources import read_profiles

        all_lenses = list(read_profiles(job.recipe.profile))
        lenses = list(all_lenses)
        if job.recipe.lens:
            want = job.recipe.lens.lower()
            lenses = [lp for lp in lenses if want in lp.name.lower()]
        if len(lenses) != 1:
            names = "; ".join(lp.name for lp in all_lenses[:8])
            raise UsageError(f"{len(lenses)} lenses match in the file; choose one with --lens (lenses: {names})",
                             path=job.recipe.profile)
        return lenses[0], job.crop_factor, f"lens: {lenses[0].name} from {job.recipe.profile}"
    from l2tech.io.metadata import ShotMetadata
    from l2tech.profiles.matching import match_lens

    meta = ShotMetadata(path=None, make=None, model=None, lens_make=None, lens_model=job.recipe.lens,
                        lens_id=None, focal_length_mm=job.recipe.focal_length_mm, f_number=job.recipe.f_number,
                        focus_distance_m=job.recipe.focus_distance_m, orientation=None, width=None, height=None,
                        crop_factor=None, datetime_original=None, exposure_time_s=None, iso=None, gps=None)
    m = match_lens(meta, camera=job.recipe.camera, lens=job.recipe.lens)
    crop = job.crop_factor if job.crop_factor is not None else m.crop_factor
    cam = f" on {m.camera.maker} {m.camera.model}" if m.camera is not None else ""
    return m.lens, crop, f"lens: {m.lens.name}{cam} ({m.method} match)"


def _check_cli_lens_numbers(intrinsics: tuple[float, ...], terms: dict[str, float]) -> None:
    """Refuse ``--intrinsics`` / ``--dist-coeffs`` numbers no camera has, as profile files are
    refused (:mod:`l2tech.profiles.validate`): finite, coefficients within ±``MAX_TERM``, focal
    lengths positive and the centre within ``MAX_TERM`` px. ``1e308`` went on to overflow in
    the map (unnamed RuntimeWarnings) and ``nan`` was refused only as "folds at radius nan"."""
    from l2tech.profiles.validate import MAX_TERM

    for name, value in (*zip(("fx", "fy", "cx", "cy"), intrinsics), *terms.items()):
        option = "--intrinsics" if name in ("fx", "fy", "cx", "cy") else "--dist-coeffs"
        if not math.isfinite(value):
            raise UsageError(f"{option}: {name} = {value!r} is not a finite number")
        if abs(value) > MAX_TERM:
            raise UsageError(f"{option}: {name} = {value:g} is outside [{-MAX_TERM:g}, {MAX_TERM:g}] "
                             "(the range a real lens can have)")
    if not (intrinsics[0] >= FOCAL_PX_RANGE[0] and intrinsics[1] >= FOCAL_PX_RANGE[0]):
        raise UsageError(f"--intrinsics: the focal lengths fx, fy must be at least {FOCAL_PX_RANGE[0]:g} pixel; "
                         f"got {intrinsics[0]:g}, {intrinsics[1]:g}")


def _lensfun_setup(job: VideoJob, frame_size: tuple[int, int], provenance: dict | None = None):
    """Maps and gain of a lensfun-model profile through the stills engine (:mod:`l2tech.correct`).

    The video's crop factor: ``--crop-factor`` (the recorded area's: body crop factor × the
    ratio of the sensor's diagonal to the diagonal of the area a video mode reads), else the
    body's from the database, else the profile's own (same sensor).
    """
    import warnings

    from l2tech.correct import correction_maps, edge_border, frame_fit, vignetting_gain
    from l2tech.profiles.interpolate import interpolate
    from l2tech.video.lens import LensSetup

    profile, crop, desc = _lensfun_profile(job)
    focal = job.recipe.focal_length_mm
    calib_focals = {c.focal_length_mm for c in profile.distortion}
    if focal is None:
        if profile.focal_min_mm and profile.focal_min_mm == profile.focal_max_mm:
            focal = profile.focal_min_mm
        elif len(calib_focals) == 1:  # one calibration point (a file profile): it applies as is
            focal = next(iter(calib_focals)) or 1.0
        else:
            raise UsageError(f"{profile.name} is a zoom: give --focal-length (mm)")
    cal = interpolate(profile, focal, job.recipe.f_number, job.recipe.focus_distance_m)
    w, h = frame_size
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if job.recipe.projection:
            from l2tech.correct.maps import CorrectionMaps, correction_warp
            from l2tech.optics import compose

            warp = correction_warp(cal, w, h, crop_factor=crop, projection=job.recipe.projection)
            try:
                used, auto = frame_fit(warp)
            except InvalidProfileError:
                used, auto = 1.0, None
            maps = CorrectionMaps(tuple(compose.render_maps(warp, used)), used, w, h, auto)
        else:
            maps = correction_maps(cal, w, h, crop_factor=crop, distortion=job.wants("distortion"), tca=job.wants("tca"))
        want_gain = cal.vignetting is not None and job.wants("vignetting")
        gain = vignetting_gain(cal, w, h, crop_factor=crop) if want_gain else None
    if provenance is not None:
        from l2tech.pipeline.recipe import CORRECTIONS
        from l2tech.profiles.matching import profile_source_kind

        done = {"vignetting": gain is not None, "tca": bool(maps.per_channel),
                "distortion": bool(job.recipe.projection) or (job.wants("distortion") and cal.distortion is not None)}
        from l2tech.io.provenance import profile_source_label

        source = (profile_source_label("file", str(job.recipe.profile)) if job.recipe.profile is not None
                  else profile_source_label(profile_source_kind(profile), getattr(profile, "source", None)))
        provenance.update(Profile=profile.name, ProfileSource=source, applied=[c for c in CORRECTIONS if done[c]],
                          reasons={c: "not requested (--only)" if not job.wants(c) else f"the profile has no {c} data"
                                   for c in CORRECTIONS if not done[c]})
    lines = [desc, f"focal length {focal:g} mm, crop factor {crop if crop is not None else profile.crop_factor:g}, "
                   f"scale {maps.scale:.4f}"]
    lines += [f"warning: {c.message}" for c in caught]
    if maps.is_identity:
        map_xy = None
    elif maps.per_channel:
        map_xy = np.stack(maps.maps, axis=2)
    else:
        map_xy = maps.maps[0]
    cam = None
    rectilinear_out = (job.recipe.projection == "rectilinear"
                       or (job.recipe.projection is None and str(profile.lens_type).lower() == "rectilinear"))
    if rectilinear_out and job.wants("distortion"):
        # the corrected view is the rectilinear view of the lens's focal length, zoomed by the
        # maps' scale: f in pixels = focal / (sensor diagonal) * frame diagonal (lensfun's crop
        # factor sets the diagonal: 43.27 mm / crop)
        crop_used = crop if crop is not None else profile.crop_factor
        if crop_used:
            f_px = focal / (math.hypot(36.0, 24.0) / crop_used) * math.hypot(w, h) * maps.scale
            cam = np.array([[f_px, 0.0, (w - 1) / 2.0], [0.0, f_px, (h - 1) / 2.0], [0.0, 0.0, 1.0]])
    return LensSetup(map_xy, gain, tuple(lines), edge_border(maps.scale, maps.auto_scale), camera_matrix=cam)


def _look_by_name(spec: str | None, input_encoding: str | None, tone: str = "none"):
    """A named look (or a look file) baked for encoded video values, as a 65-point 3D LUT.

    Baked once per clip by :func:`l2tech.color.bake.bake_lut` (decode with ``input_encoding``
    in its usual gamut — default Rec.709 — apply the look on scene-linear values, convert to
    Rec.709, encode with the BT.709 OETF, clip to 0–1); the fused pass applies it
    tetrahedrally. Spatial stages (grain) cannot be baked and are left out. ``tone``
    (``"filmic"``) puts the tone curve between a log input and Rec.709
    (:func:`l2tech.color.bake.bake_lut`); ``spec`` None bakes the tone curve alone.
    """
    import warnings

    from l2tech.color.bake import bake_lut
    from l2tech.color.transfer import LOG_ENCODINGS

    enc_name = LOG_ENCODINGS.canonical(input_encoding or "Rec.709")
    gamut = LOG_ENCODINGS[enc_name].default_gamut
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # grain left out: documented in docs/VIDEO.md
        return bake_lut(spec, input=f"{enc_name}/{gamut}", output="Rec.709", size=65, tone=tone)


def resolve_look(job: VideoJob):
    """The look for ``--look`` / ``--lut`` (encoded [0, 1] in → out), or ``None``.

    A LUT file (``--lut``, or ``--look`` with a LUT extension) is read with
    :func:`l2tech.color.lut_io.read_lut` and applied tetrahedrally to the clip's values as they
    are encoded: a LUT made for V-Log input takes the V-Log values directly. A look name or look
    file (``--look``) goes through :func:`_look_by_name`. With both, the look comes first.

    Returns
    -------
    LUT3D, callable or None
        A single 3D LUT as an :class:`l2tech.color.lut.LUT3D` (applied inside the fused pass);
        other LUT kinds and chains as a callable on float32 ``(..., 3)``, which
        :class:`~l2tech.video.pipeline.FramePipeline` bakes into a 3D LUT.
    """
    from l2tech.color.lut import LUT3D

    steps: list = []
    for spec, is_lut in ((job.recipe.look, False), (job.recipe.lut, True)):
        if not spec:
            continue
        if is_lut or Path(spec).suffix.lower() in _LUT_SUFFIXES:  # --lut is a LUT file, never a look name
            from l2tech.color.lut_io import read_lut

            steps.append(read_lut(spec))
        else:
            steps.append(_look_by_name(spec, job.input_encoding, job.tone))
    if not steps and job.tone != "none" and job.input_encoding:
        from l2tech.color.transfer import LOG_ENCODINGS

        if LOG_ENCODINGS[job.input_encoding].kind == "log":
            steps.append(_look_by_name(None, job.input_encoding, job.tone))
    if not steps:
        return None
    if len(steps) == 1 and isinstance(steps[0], LUT3D):
        return steps[0]

    def chain(x: np.ndarray) -> np.ndarray:
        for s in steps:
            x = s.apply(x, "tetrahedral")
        return x

    return chain


_STREAM_TRANSFERS = {"smpte2084": "PQ", "arib-std-b67": "HLG", "iec61966-2-1": "sRGB", "linear": "Linear"}


def _transfer(job: VideoJob, stream_transfer: str = "unspecified"):
    """(decode, encode) of the clip's encoding, used around the vignetting gain.

    ``--input-encoding`` wins; else the stream's transfer tag (PQ, HLG, sRGB, linear); else
    ``None`` (the pipeline's default, the BT.709 OETF).
    """
    name = job.input_encoding or _STREAM_TRANSFERS.get(stream_transfer)
    if not name:
        return None
    from l2tech.color.transfer import LOG_ENCODINGS, decode, encode

    name = LOG_ENCODINGS.canonical(name)
    return (lambda v: decode(v, name), lambda x: encode(x, name))


#: Width of the view the stabiliser's first pass tracks features in (pixels; smaller clips as is).
ANALYSIS_WIDTH = 640


def _analysis_view(K: np.ndarray, lens_map: np.ndarray | None, view_size: tuple[int, int]):
    """(analysis map, its camera matrix): the rectilinear view scaled to :data:`ANALYSIS_WIDTH`."""
    from l2tech.correct.fused import sample_map

    w, h = view_size
    s = min(1.0, ANALYSIS_WIDTH / w)
    wa, ha = max(16, int(round(w * s))), max(16, int(round(h * s)))
    sx, sy = wa / w, ha / h
    ya, xa = np.mgrid[0:ha, 0:wa].astype(np.float64)
    x, y = (xa + 0.5) / sx - 0.5, (ya + 0.5) / sy - 0.5  # pixel centres aligned
    if lens_map is None:
        amap = np.stack([x, y], -1)
    else:
        src = sample_map(lens_map, x, y)
        amap = src[..., src.shape[-2] // 2, :]
        H, W = lens_map.shape[:2]
        amap[(x > W - 1) | (y > H - 1)] = np.nan
    Ka = np.array([[K[0, 0] * sx, 0.0, sx * (K[0, 2] + 0.5) - 0.5],
                   [0.0, K[1, 1] * sy, sy * (K[1, 2] + 0.5) - 0.5], [0.0, 0.0, 1.0]])
    return amap.astype(np.float32), Ka


def _profile_readout(job: VideoJob, frame_size: tuple[int, int], fps: float) -> tuple[float, str] | None:
    """The readout (ms) and the mode it is for, stated by the clip's Gyroflow lens profile
    (``--profile`` JSON or the ``--gyro`` project's lens), or ``None``."""
    from l2tech.profiles.gyroflow import read_gyroflow, readout_for_clip

    path = job.recipe.profile
    if path is None or Path(path).suffix.lower() not in (".json", ".gyroflow"):
        path = _project_lens(job)
    if path is None or not job.recipe.lens_correction:
        return None
    return readout_for_clip(read_gyroflow(path), frame_size[0], frame_size[1], fps)


def plan_stabilization(job: VideoJob, input_path: str, in_size: tuple[int, int], lens=None):
    """The camera path, its smoothed version and the crop of a clip (``l2 video --stabilize``).

    Parameters
    ----------
    job : VideoJob
        ``stabilize``, ``gyro``, ``gyro_offset_ms``, ``smoothness_s``, ``readout_ms``,
        ``horizon_lock``, ``max_crop_zoom``, ``start_s``/``duration_s`` are read.
    input_path : str
        The clip.
    in_size : tuple of int
        ``(width, height)`` of its frames.
    lens : LensSetup, optional
        :func:`resolve_lens`' result: its ``camera_matrix`` is the rectilinear view the
        rotations act in, its map the lens correction. ``None``: no lens correction, the frames
        taken as a pinhole view with ``f = width`` pixels (a 53° horizontal field).

    Returns
    -------
    StabilizationPlan

    Raises
    ------
    UsageError
        A lens whose corrected view is not rectilinear (a non-rectilinear ``--projection``, or
        distortion correction off);
        ``stabilize="gyro"`` on a clip without gyro data; too little tracked motion to sync.
    CorruptInputError
        Unreadable telemetry or gyro CSV.

    Notes
    -----
    Steps (:mod:`l2tech.video.stabilize`): one pass over the clip tracks features in a
    lens-corrected view of at most :data:`ANALYSIS_WIDTH` pixels (:func:`clip_flow_rotations`);
    with a gyro, its offset to the video is found by matching angular speeds
    per axis (unless ``gyro_offset_ms`` is given) and the clip
    telemetry's axes with it (:func:`sync_gyro`; a CSV is in camera axes),
    and the gyro is integrated; without one the frame-to-frame rotations are chained
    (:func:`camera_path_from_flow`). The path is smoothed with a Gaussian of
    ``smoothness_s`` (:func:`smooth_orientations`) and each frame's border-free crop zoom found
    (:func:`frame_zooms`, against the lens's own empty corners too): the largest for the whole
    clip, or with ``adaptive_zoom_s`` a zoom per frame (:func:`adaptive_zoom`).
    """
    from l2tech.correct.fused import sample_map
    from l2tech.video import stabilize as st
    from l2tech.video.gyroflow_project import is_gyroflow_project, read_gyroflow_project, resolve_gyro_file
    from l2tech.video.telemetry import read_gyro_csv, read_imu

    mode = (job.stabilize or "auto").lower()
    if mode not in ("auto", "gyro", "flow"):
        raise UsageError(f"unknown stabilisation mode {job.stabilize!r}; valid: auto, gyro, flow")
    if not (1.0 <= float(job.max_crop_zoom) <= 10.0):  # (a recipe's value; below 1 would show the border)
        raise UsageError(f"max_crop_zoom must be from 1 to 10, got {job.max_crop_zoom!r}")
    w, h = in_size
    lens_map = None if lens is None else lens.map_xy
    if lens is not None and lens_map is not None and lens.camera_matrix is None:
        raise UsageError("--stabilize needs a rectilinear corrected view (--projection rectilinear, distortion "
                         "correction on, and for lensfun profiles a known crop factor)")
    view = (w, h) if lens_map is None else (lens_map.shape[1], lens_map.shape[0])
    if lens is not None and lens.camera_matrix is not None:
        K = np.asarray(lens.camera_matrix, np.float64)
    else:
        K = np.array([[float(w), 0.0, (w - 1) / 2.0], [0.0, float(w), (h - 1) / 2.0], [0.0, 0.0, 1.0]])
    imu, from_csv, project, source, notes = None, False, None, None, []
    if mode == "flow" and job.gyro:
        raise UsageError("--gyro is not used by --stabilize flow (optical flow only); drop one of them")
    # the Gyroflow project: --gyro's, or else the lens profile's when that is a project (Gyroflow
    # users hand over one file: its sync offsets and readout are meant for this clip too)
    project_path = job.gyro if job.gyro else job.recipe.profile if mode != "flow" else None
    if project_path and is_gyroflow_project(project_path):
        project = read_gyroflow_project(project_path)
    if mode != "flow":
        if project is not None:
            imu, source = project.imu, f"Gyroflow project ({Path(project_path).name})"
            if imu is None or len(imu.gyro_t_s) < 2:
                # a "simple" project: the motion data stay in the file they came from; else the clip's
                if project.has_raw_imu:
                    notes.append("warning: the Gyroflow project's raw_imu holds fewer than 2 usable gyro samples")
                gfile = resolve_gyro_file(project)
                imu = read_imu(gfile) if gfile else None
                if imu is None or len(imu.gyro_t_s) < 2:
                    if project.gyro_file:
                        why = "holds no gyro data" if gfile else "is not here"
                        notes.append(f"warning: the Gyroflow project's gyro file {project.gyro_file} {why}; "
                                     "the clip's own telemetry is used")
                    gfile, imu = input_path, read_imu(input_path)
                source += f", motion data from {Path(gfile).name}"
            meant = Path(project.video_file.replace("\\", "/")).name if project.video_file else None
            if meant and meant != Path(input_path).name:
                notes.append(f"warning: the Gyroflow project is for {meant}, not {Path(input_path).name}")
            if imu is not None and len(imu.gyro_t_s) < 2:
                imu = None
            if imu is None and mode == "gyro":
                raise UsageError(f"no gyro data: neither the Gyroflow project {Path(project_path).name}, nor its gyro file, "
                                 "nor the clip holds any; use --stabilize flow", path=input_path)
            notes.extend(f"not applied from the Gyroflow project: {x}" for x in project.ignored)
        elif job.gyro:
            imu, from_csv, source = read_gyro_csv(job.gyro), True, "gyro CSV"
        else:
            source = "clip telemetry"
            imu = read_imu(input_path)
            if imu is not None and len(imu.gyro_t_s) < 2:
                imu = None
        if imu is None and mode == "gyro":
            raise UsageError("the clip holds no gyro data telemetry-parser reads; give --gyro FILE.csv or use "
                             "--stabilize flow", path=input_path)
    amap, Ka = _analysis_view(K, lens_map, view)
    ft, rv, _ = st.clip_flow_rotations(input_path, Ka, analysis_map=amap, start_s=job.start_s, duration_s=job.duration_s)
    if len(ft) < 2:
        raise UsageError("stabilisation needs at least two frames", path=input_path)
    fps = 1.0 / float(np.median(np.diff(ft)))
    auto_readout = isinstance(job.readout_ms, str)
    if auto_readout and str(job.readout_ms).lower() != "auto":
        raise UsageError(f"--readout-ms: a number of milliseconds or 'auto', got {job.readout_ms!r}")
    if auto_readout and imu is None:
        raise UsageError("--readout-ms auto needs a gyro (the readout is found against the gyro's path)")
    readout = 0.0 if auto_readout else max(0.0, float(job.readout_ms or 0.0)) / 1000.0
    if readout * fps > 1.0:
        raise UsageError(f"--readout-ms {1000 * readout:g} is longer than the frame period ({1000 / fps:.1f} ms): "
                         "a frame's rows are read within one frame time")
    if job.readout_ms is None and project is not None and project.readout_ms:
        if project.readout_ms > 0:
            readout = project.readout_ms / 1000.0
            notes.append(f"rolling-shutter readout {project.readout_ms:.2f} ms from the Gyroflow project")
        else:
            notes.append(f"the Gyroflow project's readout is bottom to top ({project.readout_ms:.2f} ms), which "
                         "l2tech does not model: rolling shutter not corrected")
    if job.readout_ms is None and not (project is not None and project.readout_ms):
        stated = _profile_readout(job, in_size, fps)
        if stated is not None:
            readout = stated[0] / 1000.0
            notes.append(f"rolling-shutter readout {stated[0]:.2f} ms from the lens profile ({stated[1]})")
    kw: dict = {}
    if imu is not None:
        gt, g = imu.gyro_t_s, imu.gyro_rad_s
        shift = None  # per-sample offsets (gyro − video, s) of a project with several sync points
        if job.gyro_offset_ms is None and project is not None and len(project.offsets):
            first = project.offset_at(gt)
            shift = project.offset_at(gt - first)  # the offset at each sample's video time
            given = float(np.median(shift))
            sync = st.sync_gyro(gt - shift, g, ft, rv, search_s=0.0)
            off, conf, axes = given, None, sync.axes
            notes.append(f"gyro offset from the Gyroflow project ({len(project.offsets)} sync point"
                         f"{'s' if len(project.offsets) > 1 else ''})")
        elif job.gyro_offset_ms is not None:
            # the axes are still read from the frames (a CSV is in camera axes: nothing to find)
            given = float(job.gyro_offset_ms) / 1000.0
            sync = st.sync_gyro(gt - given, g, ft, rv, search_s=0.0, axes=np.eye(3) if from_csv else None)
            off, conf, axes = given, None, sync.axes
        else:
            sync = st.sync_gyro(gt, g, ft, rv, search_s=1.0, axes=np.eye(3) if from_csv else None)
            off, conf, axes = sync.offset_s, sync.confidence, sync.axes
        if from_csv:
            axes = None
        g_cam = g if axes is None else g @ axes.T
        track_t = gt - (off if shift is None else shift)
        track = st.integrate_gyro(gt, g_cam)
        if auto_readout:
            # 24 frames from the middle of the analysed span, against the synced gyro path
            mid = float(ft[max(0, len(ft) // 2 - 12)])
            frames, times = st.analysis_frames(input_path, analysis_map=amap, start_s=mid, count=24)
            readout, _ = st.estimate_readout(frames, times, Ka, track_t, track)
            kw["readout_estimated"] = True
        kw.update(offset_s=off, confidence=conf, axes=axes)
        used = "gyro"
    else:
        track_t = ft + readout / 2.0
        track = st.camera_path_from_flow(rv)
        used = "flow"
    from scipy.spatial.transform import Slerp

    slerp = Slerp(track_t, track)

    def at(t: np.ndarray):
        return slerp(np.clip(t, track_t[0], track_t[-1]))

    actual = at(ft + readout / 2.0)
    smoothed = st.smooth_orientations(actual, fps, job.smoothness_s)
    if job.horizon_lock:
        accl_t = accl = None
        if imu is not None and len(imu.accl_t_s) >= 2:
            axes = kw.get("axes")
            accl_t = imu.accl_t_s - (kw["offset_s"] if project is None or not len(project.offsets)
                                     else project.offset_at(imu.accl_t_s - project.offset_at(imu.accl_t_s)))
            accl = imu.accl_m_s2 if axes is None else imu.accl_m_s2 @ np.asarray(axes).T
        smoothed = st.lock_horizon(smoothed, st.world_up(actual, track_t, track, accl_t, accl))

    def to_source(x: np.ndarray, y: np.ndarray):
        if lens_map is None:
            return x, y
        src = sample_map(lens_map, x, y)
        return src[..., 1 if src.shape[-2] == 3 else 0, 0], src[..., 1 if src.shape[-2] == 3 else 0, 1]

    # each frame's border-free zoom (its first, middle and last rows under a rolling shutter)
    need = np.max([st.frame_zooms(K, a, smoothed, view[0], view[1], max_zoom=job.max_crop_zoom, to_source=to_source,
                                  source_size=(w, h))
                   for a in ([actual] if readout == 0 else [at(ft), actual, at(ft + readout)])], axis=0)
    window = float(job.adaptive_zoom_s or 0.0)  # (a recipe's NaN, inf or negative window: adaptive_zoom refuses it)
    zooms = st.adaptive_zoom(need, fps, window, job.max_crop_zoom) if window != 0 else None
    return st.StabilizationPlan(used, ft, actual, smoothed, np.asarray(track_t, np.float64), track, K,
                                float(need.max() if zooms is None else zooms.max()),
                                readout_s=readout, smoothness_s=float(job.smoothness_s),
                                horizon_lock=bool(job.horizon_lock), source=source if imu is not None else None,
                                notes=tuple(notes), zooms=zooms, zoom_window_s=window, **kw)


class _StabilizedPipeline:
    """A :class:`~l2tech.video.pipeline.FramePipeline` whose map changes per frame (by time)."""

    per_frame_time = True

    def __init__(self, base, maps) -> None:
        self.base = base
        self.maps = maps
        self.in_size = base.in_size
        self.out_size = maps.out_size

    def prepare(self) -> None:
        self.base.prepare()

    def process(self, rgb: np.ndarray, frame_time_s: float = 0.0) -> np.ndarray:
        k = self.maps.plan.frame_index(float(frame_time_s))
        return self.base.process(rgb, grid=self.maps.grid(k))


def run_video_job(job: VideoJob, input_path: str, output_path: str | Path, *,
                  progress: Callable[[int, int], None] | None = None,
                  frame_hook: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
                  frame_size_check: Callable[[int, int, tuple[int, int] | None], None] | None = None,
                  workers: int = 1, details: dict | None = None):
    """Run one clip through the job's settings.

    ``frame_hook(index, rgb_in, rgb_out)`` sees each frame before and after the pipeline
    (:func:`l2tech.video.transcode.process_video`; the local web preview's frame scrubber).
    ``details``, when given, receives a ``"stabilization"`` entry
    (:meth:`~l2tech.video.stabilize.StabilizationPlan.as_dict`) when ``job.stabilize`` is set.

    With ``job.segments`` > 1 the clip is cut at the input keyframes of :func:`segment_plan`;
    ``workers`` > 1 makes the parts in that many worker processes and joins them
    (:func:`join_segments`), ``workers`` 1 encodes the clip in one pass with IDR frames at the
    same cuts. Both give the same frames (constant ``qp``, no B-frames: no encoder state
    crosses a cut), the same timestamps and the input's audio packets untouched.

    Returns
    -------
    (VideoReport, tuple of str)
        The transcode report and the lines describing the lens setup.

    Raises
    ------
    L2Error
        Any of :func:`l2tech.video.transcode.process_video`'s errors and the option errors above.
    """
    from l2tech.correct.resample import resample_map
    from l2tech.video.pipeline import FramePipeline
    from l2tech.video.transcode import EncodeOptions, process_video

    check_video_options(video_settings(job))  # (the CLI and recipe files are checked before; a caller's job here)
    if not job.recipe.force:
        _refuse_l2tech_output(input_path)
    look = resolve_look(job)
    setup_lines: list[str] = []
    lens_record: dict = {}

    def factory(info):
        size = (info.width_px, info.height_px)
        lens = resolve_lens(job, size, provenance=lens_record)
        map_xy = None if lens is None else lens.map_xy
        if lens is None:
            setup_lines.append("no lens source (--profile, --camera/--lens or --intrinsics): the geometry is not corrected")
        if lens is not None:
            setup_lines.extend(lens.description)
            if map_xy is not None and job.out_size and (map_xy.shape[1], map_xy.shape[0]) != tuple(job.out_size):
                map_xy = resample_map(map_xy, job.out_size)
                setup_lines.append(f"output scaled to {job.out_size[0]}x{job.out_size[1]}")
        base = FramePipeline(size, map_xy=map_xy,
                             gain=None if lens is None else lens.gain, look=look,
                             transfer=_transfer(job, info.transfer),
                             interpolation=job.recipe.interpolation, out_size=job.out_size if lens is None else None,
                             border="constant" if lens is None else lens.border)
        if not job.stabilize:
            return base
        from l2tech.video.stabilize import StabilizedMaps

        if job.recipe.interpolation not in (None, "bilinear", "nearest"):
            raise UsageError("--stabilize samples in the fused pass: use --interpolation bilinear or nearest")
        if job.out_size and (lens is None or map_xy is None):
            raise UsageError("--stabilize with --size needs a lens source (the size is part of the lens map)")
        plan = plan_stabilization(job, input_path, size, lens)
        falloff = None
        if lens is not None and lens.gain is not None:
            gn = np.asarray(lens.gain, np.float64)
            with np.errstate(divide="ignore"):
                falloff = np.where(gn > 0, 1.0 / np.where(gn > 0, gn, 1.0), -1.0)
        maps = StabilizedMaps(plan, size, map_xy, falloff=falloff, border="constant")
        lens_record["Stabilization"] = plan.mode
        summary = plan.as_dict()
        if details is not None:
            details["stabilization"] = summary
        sync = (f", gyro offset {summary['sync_offset_ms']:.1f} ms"
                + (f" (confidence {summary['sync_confidence']:.2f})" if summary["sync_confidence"] is not None
                   else " (from the Gyroflow project)" if any(n.startswith("gyro offset from the Gyroflow") for n in plan.notes)
                   else " (given)")
                if summary["sync_offset_ms"] is not None else "")
        if plan.readout_s > 0 or plan.readout_estimated:
            sync += f", rolling-shutter readout {1000 * plan.readout_s:.1f} ms" + (" (estimated)" if plan.readout_estimated else "")
        crop = (f"crop zoom {plan.zoom:.3f}" if plan.zooms is None else
                f"adaptive crop zoom {summary['crop_zoom_min']:.3f}-{plan.zoom:.3f} ({plan.zoom_window_s:g} s window)")
        setup_lines.append(f"stabilization: {plan.mode}{sync}, smoothness {plan.smoothness_s:g} s, {crop} "
                           f"({100 * summary['visible_fraction']:.0f}% of the frame kept"
                           + (" on average)" if plan.zooms is not None else ")"))
        if summary["sync_confidence"] is not None and summary["sync_confidence"] < 0.5:
            setup_lines.append(f"warning: the gyro sync is uncertain (confidence {summary['sync_confidence']:.2f}); "
                               "check the result or give --gyro-offset MS")
        setup_lines.extend(plan.notes)
        if plan.zoom >= job.max_crop_zoom - 1e-3:
            setup_lines.append(f"warning: the stabilised view needs more than the {job.max_crop_zoom:g}x crop limit; "
                               "borders may show (lower --smoothness)")
        return _StabilizedPipeline(base, maps)

    keyframes = job.keyframes_s
    qp = job.qp
    if job.segments > 1:
        if job.start_s or job.duration_s is not None:
            raise UsageError("--segments cannot be combined with --start/--duration (cut the clip first)")
        if job.stabilize:
            # each part would smooth its own camera path: the view would jump at every cut
            raise UsageError("--segments cannot be combined with --stabilize (the camera path is smoothed over "
                             "the whole clip); drop --segments")
        if job.crf is not None or job.bitrate:
            raise UsageError("--segments encodes with a constant --qp (no rate-control state across the cuts); "
                             "drop --crf/--bitrate")
        qp = 18 if qp is None else qp
        plan = segment_plan(input_path, job.segments)
        if workers > 1 and len(plan) > 1:
            return _run_segments(job, input_path, output_path, plan, workers, qp, frame_size_check)
        keyframes = plan
    enc = EncodeOptions(codec=job.codec, crf=job.crf, bitrate=_parse_bitrate(job.bitrate), preset=job.preset,
                        bit_depth=job.bit_depth, pix_fmt=job.pix_fmt, qp=qp, keyframes_s=tuple(keyframes))
    report = process_video(input_path, output_path, factory, encode=enc, start_s=job.start_s,
                           duration_s=job.duration_s, max_decode_errors=job.max_decode_errors,
                           overwrite=job.overwrite, progress=progress, accurate_color=not job.fast,
                           frame_hook=frame_hook, frame_size_check=frame_size_check, out_size=job.out_size,
                           copy_streams=job.copy_streams, provenance=lambda: video_record(job, lens_record))
    return report, tuple(setup_lines)


def video_record(job: VideoJob, lens: dict) -> dict[str, str]:
    """l2tech's record of one ``l2 video`` output (:func:`l2tech.io.provenance.l2tech_record_fields`).

    Parameters
    ----------
    job : VideoJob
        The clip's settings; ``RecipeHash`` is :func:`~l2tech.pipeline.recipe_file.recipe_hash`
        of its recipe and :func:`video_settings` (the hash the sidecar and the batch journal
        hold).
    lens : dict
        What :func:`resolve_lens` put in its ``provenance`` (empty: no lens source), and
        ``Stabilization`` (the stabiliser's mode) when the clip was stabilised.

    Returns
    -------
    dict of str to str
        ``Tool``, ``Version``, ``Profile``, ``ProfileSource``, ``Corrections``,
        ``NotCorrected``, ``RecipeHash`` and ``Stabilization`` when set; the input's software
        is added where the container is written (:func:`l2tech.video.transcode.process_video`).
    """
    from l2tech.io.provenance import l2tech_record_fields
    from l2tech.pipeline.recipe import CORRECTIONS
    from l2tech.pipeline.recipe_file import recipe_hash

    applied = list(lens.get("applied", ()))
    if lens:
        reasons = dict(lens.get("reasons", {}))
    elif not job.recipe.lens_correction:
        reasons = {c: "lens correction off" for c in CORRECTIONS}
    else:
        reasons = {c: "no lens source (--profile, --camera/--lens or --intrinsics)" for c in CORRECTIONS}
    extra = {"Stabilization": lens["Stabilization"]} if lens.get("Stabilization") else None
    return l2tech_record_fields(profile=lens.get("Profile"), profile_source=lens.get("ProfileSource"),
                                corrections=applied, not_corrected={c: reasons.get(c, "") for c in CORRECTIONS if c not in applied},
                                recipe_hash=recipe_hash(job.recipe, "video", video_settings(job)), extra=extra)


def _refuse_l2tech_output(input_path: str | Path) -> None:
    """Raise :class:`~l2tech.errors.AlreadyProcessedError` when the clip is an l2tech output
    (its container holds l2tech's record, :func:`l2tech.video.transcode.l2tech_record_of`), as
    ``l2 correct`` refuses a picture with l2tech's XMP record; ``--force`` runs it again."""
    from l2tech.errors import AlreadyProcessedError
    from l2tech.video.transcode import l2tech_record_of

    record = l2tech_record_of(input_path)
    # a clip l2tech only re-encoded (no lens source, nothing stabilised) has had nothing corrected
    if record and (record.get("Corrections") or record.get("Stabilization")):
        did = record.get("Corrections") or "nothing"
        if record.get("Stabilization"):
            did += f"; stabilised ({record['Stabilization']})"
        raise AlreadyProcessedError(f"already an l2tech output (l2tech {record.get('Version', '?')}, corrected: {did}); "
                                    "not corrected twice; --force corrects it again", path=input_path)


def segment_plan(path: str | Path, segments: int) -> tuple[float, ...]:
    """Where to cut a clip into ``segments`` parts: the start time (seconds, the input's
    timeline) of each part, the first frame's and then the keyframe nearest each equal share.

    Fewer parts come back when the clip has fewer keyframes. Only packet headers are read.

    Raises
    ------
    UsageError
        ``segments`` < 1.
    CorruptInputError
        FFmpeg cannot open the file.
    """
    import av

    from l2tech.errors import CorruptInputError

    if segments < 1:
        raise UsageError(f"--segments must be ≥ 1, got {segments}")
    try:
        with av.open(str(path)) as c:
            vs = c.streams.video[0]
            times, keys = [], []
            for p in c.demux(vs):
                if p.pts is None:
                    continue
                t = p.pts * p.time_base
                times.append(t)
                if p.is_keyframe:
                    keys.append(t)
    except av.FFmpegError as exc:
        raise CorruptInputError(f"FFmpeg cannot read the packets: {exc}", path=path) from None
    if not times:
        return ()
    first, last = min(times), max(times)
    cuts = [first]
    for i in range(1, segments):
        target = first + (last - first) * i / segments
        later = [k for k in keys if k > cuts[-1]]
        if not later:
            break
        cut = min(later, key=lambda k: abs(k - target))
        if cut not in cuts:
            cuts.append(cut)
    return tuple(float(c) for c in sorted(cuts))


def _part_error(exc: BaseException, input_path: str, k: int, n: int) -> BaseException:
    """A split clip's part error, said about the clip: the part's temp file means nothing to the
    user, and a worker that died (killed, out of memory) names no file at all."""
    import copy
    from concurrent.futures.process import BrokenProcessPool

    from l2tech.errors import L2Error, VideoError

    if isinstance(exc, BrokenProcessPool):
        return VideoError(f"a worker process stopped (killed, or out of memory) while making part {k + 1} of {n}",
                          path=input_path)
    if not isinstance(exc, L2Error):
        return exc
    new = copy.copy(exc)
    new.path = str(input_path)
    new.args = (f"{input_path}: part {k + 1} of {n}: {exc.reason}",)
    return new


def _run_segments(job: VideoJob, input_path: str, output_path: str | Path, plan: tuple[float, ...], workers: int,
                  qp: int, frame_size_check):
    """Make the parts of ``plan`` in ``workers`` processes (the batch engine's pool), then join them."""
    import dataclasses
    import time

    from l2tech.io.atomic import temp_folder
    from l2tech.pipeline.batch import BatchTask, _LocalPool
    from l2tech.video.transcode import join_segments

    t0 = time.perf_counter()
    dst = Path(output_path)
    # the parts go to a work folder beside the output (the file system that must hold the
    # output anyway; the system's temp folder is often a small RAM disk), removed at the end; one
    # a SIGKILL leaves is removed by the next l2 writing into that folder
    with temp_folder(dst) as folder:
        tasks = []
        for k, start in enumerate(plan):
            end = plan[k + 1] if k + 1 < len(plan) else None
            part = dataclasses.replace(job, segments=1, qp=qp, start_s=start,
                                       duration_s=None if end is None else end - start,
                                       keyframes_s=(0.0,), copy_streams=False)
            settings = {f: getattr(part, f) for f in VideoJob.__dataclass_fields__ if f not in ("recipe", "overwrite")}
            tasks.append(BatchTask("video", str(Path(input_path).resolve()), str(folder / f"part{k:04d}{dst.suffix}"),
                                   job.recipe, dst.suffix.lstrip("."), video=settings))
        pool = _LocalPool(min(workers, len(tasks)))
        done: dict[str, str] = {}
        try:
            for t, rendered, exc in pool.run(tasks):
                if exc is not None:
                    raise _part_error(exc, input_path, tasks.index(t), len(tasks)) from None
                done[t.output] = rendered.temp
            pool.close(kill=False)
        except BaseException:
            pool.close(kill=True)
            raise
        parts = [(done[t.output], start) for t, start in zip(tasks, plan)]
        from l2tech.pipeline.recipe_file import recipe_hash
        from l2tech.video.transcode import l2tech_record_of

        # the parts' record (the same lens setup), with the hash of the clip's own settings
        record = {**l2tech_record_of(parts[0][0]), "RecipeHash": recipe_hash(job.recipe, "video", video_settings(job))}
        report = join_segments(input_path, parts, dst, overwrite=job.overwrite, provenance=record)
    wall = time.perf_counter() - t0  # the whole job, parts included (join_segments times the join)
    report = dataclasses.replace(report, wall_s=wall, fps=report.frames_written / wall if wall > 0 else 0.0)
    return report, (f"split at the input keyframes {', '.join(f'{t:.3f}' for t in plan)} s "
                    f"into {len(plan)} parts on {min(workers, len(plan))} workers",)
