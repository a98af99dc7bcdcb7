"""From command-line style settings to a clip's pipeline: lens source, look, encoder.

:class:`VideoJob` holds the settings of ``l2 video`` (the CLI only parses them);
:func:`run_video_job` resolves the lens (a profile file, a lensfun database lookup, or explicit
OpenCV intrinsics), the look or LUT and the encoder options once per clip, then runs
:func:`l2tech.video.transcode.process_video`.

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

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from l2tech.errors import DependencyMissingError, UsageError

__all__ = ["VideoJob", "run_video_job", "resolve_lens", "resolve_look"]


@dataclass(frozen=True)
class VideoJob:
    """Settings of one ``l2 video`` run (see ``l2 video --help`` for each)."""

    profile_path: str | None = None
    camera: str | None = None
    lens: str | None = None
    focal_length_mm: float | None = None
    f_number: float | None = None
    focus_distance_m: float | None = None
    crop_factor: float | None = None
    calib_crop: tuple[float, ...] | None = None
    lens_model: str | None = None
    intrinsics: tuple[float, ...] | None = None
    dist_coeffs: tuple[float, ...] | None = None
    calib_size: tuple[int, int] | None = None
    projection: str | None = None
    zoom: float = 1.0
    out_size: tuple[int, int] | None = None
    interpolation: str = "bilinear"
    look: str | None = None
    lut_path: str | None = None
    input_encoding: str | None = None
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
    except ValueError:
        raise UsageError(f"--bitrate: expected a number like 20M, got {b!r}") from None


def _pixel_profile_from_gyroflow(path: str):
    """(model, K, terms, calib_size, name) from a Gyroflow JSON via l2tech.profiles.gyroflow."""
    try:
        from l2tech.profiles import gyroflow  # type: ignore[attr-defined]
    except ImportError:
        raise DependencyMissingError(
            "reading Gyroflow JSON needs l2tech.profiles.gyroflow, which this build lacks", path=path
        ) from None
    return gyroflow.pixel_model_from_file(path)  # type: ignore[attr-defined]


def resolve_lens(job: VideoJob, frame_size: tuple[int, int]):
    """The :class:`~l2tech.video.lens.LensSetup` for a clip of ``frame_size``, or ``None``.

    Raises
    ------
    UsageError
        Conflicting or incomplete lens options.
    DependencyMissingError
        The profile format's reader is not available.
    """
    from l2tech.video.lens import lens_setup_pixel_model

    sources = [job.profile_path is not None, job.intrinsics is not None, bool(job.camera or job.lens)]
    if sum(sources) > 1:
        raise UsageError("give one lens source: --profile, --intrinsics/--dist-coeffs, or --camera/--lens")
    if job.intrinsics is not None:
        if job.dist_coeffs is None:
            raise UsageError("--intrinsics needs --dist-coeffs (and --lens-model)")
        model = job.lens_model or ("opencv_fisheye" if len(job.dist_coeffs) == 4 else "opencv")
        names = _FISHEYE_NAMES if model == "opencv_fisheye" else _PINHOLE_NAMES
        if len(job.dist_coeffs) > len(names):
            raise UsageError(f"--dist-coeffs: {model} takes at most {len(names)} coefficients ({', '.join(names)})")
        terms = dict(zip(names, (float(v) for v in job.dist_coeffs)))
        fx, fy, cx, cy = job.intrinsics
        K = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
        return lens_setup_pixel_model(
            frame_size, model, K, terms, job.calib_size, calib_crop=job.calib_crop, projection=job.projection,
            out_size=job.out_size, zoom=job.zoom, source="--intrinsics",
        )
    if job.dist_coeffs is not None:
        raise UsageError("--dist-coeffs needs --intrinsics")
    if job.profile_path is not None:
        p = job.profile_path
        if not Path(p).is_file():
            raise UsageError("lens profile not found", path=p)
        if Path(p).suffix.lower() == ".json":
            model, K, terms, calib_size, name = _pixel_profile_from_gyroflow(p)
            return lens_setup_pixel_model(
                frame_size, model, K, terms, job.calib_size or calib_size, calib_crop=job.calib_crop,
                projection=job.projection, out_size=job.out_size, zoom=job.zoom, source=name or p,
            )
        return _lensfun_setup(job, frame_size)
    if job.camera or job.lens:
        return _lensfun_setup(job, frame_size)
    if job.projection:
        raise UsageError("--projection needs a lens (--profile, --intrinsics or --camera/--lens)")
    return None


def _lensfun_setup(job: VideoJob, frame_size: tuple[int, int]):
    """Maps of a lensfun-model profile through the stills engine (l2tech.correct)."""
    try:
        from l2tech.correct import correction_maps, vignetting_gain  # type: ignore[attr-defined]
        from l2tech.pipeline import lens_calibration_for_video  # type: ignore[attr-defined]
    except ImportError:
        raise DependencyMissingError(
            "lensfun/LCP profiles on video need l2tech.correct.correction_maps, which this build lacks; "
            "use a Gyroflow profile or --intrinsics", path=job.profile_path
        ) from None
    calibration = lens_calibration_for_video(job)  # pragma: no cover - depends on l2tech.correct
    w, h = frame_size
    maps = correction_maps(calibration, w, h, crop_factor=job.crop_factor)
    gain = vignetting_gain(calibration, w, h, crop_factor=job.crop_factor)
    from l2tech.video.lens import LensSetup

    return LensSetup(maps, gain, (f"lens: {calibration.profile.name} at {calibration.focal_length_mm:g} mm",))


def resolve_look(job: VideoJob) -> Callable[[np.ndarray], np.ndarray] | None:
    """The look/LUT callable (encoded [0, 1] in → out) for ``--look`` / ``--lut``, or ``None``.

    A LUT file is read with :func:`l2tech.color.lut_io.read_lut` and applied tetrahedrally to the
    clip's values as they are encoded (``--input-encoding`` names that encoding; a LUT made for
    V-Log input takes the V-Log values directly). A look name is resolved by
    :func:`l2tech.color.load_look`.
    """
    steps: list[Callable[[np.ndarray], np.ndarray]] = []
    for spec in (job.look, job.lut_path):
        if not spec:
            continue
        is_file = Path(spec).suffix.lower() in (".cube", ".3dl", ".spi3d", ".spi1d", ".vlt", ".clf") or Path(spec).is_file()
        if is_file:
            from l2tech.color.lut_io import read_lut

            lut = read_lut(spec)
            steps.append(lambda x, _l=lut: _l.apply(x, "tetrahedral"))
        else:
            try:
                from l2tech.color import apply_look, load_look  # type: ignore[attr-defined]
            except ImportError:
                raise DependencyMissingError(f"looks by name need l2tech.color.load_look; give a LUT file instead of {spec!r}") from None
            lk = load_look(spec)
            steps.append(lambda x, _k=lk: apply_look(x, _k))
    if not steps:
        return None
    if len(steps) == 1:
        return steps[0]

    def chain(x: np.ndarray) -> np.ndarray:
        for s in steps:
            x = s(x)
        return x

    return chain


def _transfer(job: VideoJob):
    if not job.input_encoding:
        return None
    from l2tech.color.transfer import LOG_ENCODINGS, decode, encode

    name = LOG_ENCODINGS.canonical(job.input_encoding) if hasattr(LOG_ENCODINGS, "canonical") else job.input_encoding
    return (lambda v: decode(v, name), lambda x: encode(x, name))


def run_video_job(job: VideoJob, input_path: str, output_path: str | Path, *,
                  progress: Callable[[int, int], None] | None = None):
    """Run one clip through the job's settings.

    Returns
    -------
    (VideoReport, tuple of str)
        The transcode report and the lines describing the lens setup.

    Raises
    ------
    L2Error
        Any of :func:`l2tech.video.transcode.process_video`'s errors and the option errors above.
    """
    from l2tech.video.pipeline import FramePipeline
    from l2tech.video.transcode import EncodeOptions, process_video

    look = resolve_look(job)
    transfer = _transfer(job)
    setup_lines: list[str] = []

    def factory(info):
        size = (info.width_px, info.height_px)
        lens = resolve_lens(job, size)
        if lens is not None:
            setup_lines.extend(lens.description)
        return FramePipeline(size, map_xy=None if lens is None else lens.map_xy,
                             gain=None if lens is None else lens.gain, look=look, transfer=transfer,
                             interpolation=job.interpolation, out_size=job.out_size if lens is None else None)

    enc = EncodeOptions(codec=job.codec, crf=job.crf, bitrate=_parse_bitrate(job.bitrate), preset=job.preset,
                        bit_depth=job.bit_depth, pix_fmt=job.pix_fmt)
    report = process_video(input_path, output_path, factory, encode=enc, start_s=job.start_s,
                           duration_s=job.duration_s, max_decode_errors=job.max_decode_errors,
                           overwrite=job.overwrite, progress=progress)
    return report, tuple(setup_lines)
