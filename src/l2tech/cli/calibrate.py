"""``l2 calibrate``: checkerboards and flat fields to a lensfun profile, with a report.

Parse the options, call one job of :mod:`l2tech.pipeline.calibrate`, print its result.
"""

from __future__ import annotations

import functools
from contextlib import contextmanager, nullcontext
from typing import Any, Callable, Iterator

import click

from l2tech.cli.common import console, emit_json, err_console, report_error
from l2tech.cli.options import (
    CONTEXT_SETTINGS,
    crop_factor_option,
    deprecated_alias,
    f_number_option,
    focal_length_option,
    focus_distance_option,
    json_option,
    output_option,
    overwrite_option,
    verbosity_options,
)
from l2tech.errors import L2Error, UsageError

__all__ = ["calibrate"]


@contextmanager
def _progress(quiet: bool, label: str, total: int) -> Iterator[Callable[[], None]]:
    """A progress bar on stderr (off a terminal none: it would leave a blank line); yields ``advance()``."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err_console.get(),
                  disable=quiet or not err_console.is_terminal, transient=True) as prog:
        task = prog.add_task(label, total=total)
        yield lambda: prog.advance(task)


def _check_positive(**opts: float | None) -> None:
    """Usage error (exit 2) for an option given as zero, negative or not finite."""
    import math

    for name, v in opts.items():
        if v is not None and not (math.isfinite(v) and v > 0):
            raise UsageError(f"--{name.replace('_', '-')} {v:g}: must be a positive number")


def _run(job: Callable[[Callable[[], None]], Any], progress: tuple[str, int] | None, human: Callable[[Any], None], *,
         verbose: int, as_json: bool, quiet: bool) -> int:
    """Run ``job(advance)`` under a progress bar ``(label, total)`` (none: ``advance`` does nothing);
    print its result (the document as JSON, or ``human(result)``) or its error; return the exit code."""
    bar = _progress(quiet, *progress) if progress else nullcontext(lambda: None)
    try:
        with bar as advance:
            res = job(advance)
    except L2Error as exc:
        return _fail(exc, verbose)
    if as_json:
        emit_json(res.document)
    elif not quiet:
        human(res)
        if res.output is None:
            console.print("no profile written (give -o FILE to write one)", highlight=False)
    return 1 if res.failed else 0


def _print_distortion(res: Any) -> None:
    for r in res.document["focal_lengths"]:
        console.print(f"{r['focal_length_mm']:g} mm: {r['views_used']} views, OpenCV {r['opencv_model']} RMS {r['rms_px']:.4f} px; "
                      + ", ".join(f"{m} RMS {x['rms_px']:.4f} px" for m, x in r["lensfun"].items()), highlight=False)
        K = r["K"]
        console.print(f"  K: fx {K[0][0]:.2f} fy {K[1][1]:.2f} cx {K[0][2]:.2f} cy {K[1][2]:.2f} px", highlight=False)
        names = ("k1", "k2", "k3", "k4") if r["opencv_model"] == "fisheye" else ("k1", "k2", "p1", "p2", "k3")
        console.print("  distortion: " + " ".join(f"{n} {v:.6g}" for n, v in zip(names, r["dist"])), highlight=False)
        console.print("  per-view RMS: " + ", ".join(f"{v} {x:.3f} px" for v, x in r.get("per_view_rms", [])), highlight=False)
        _warn(r["warnings"])
    if res.output is not None:
        console.print(f"wrote {res.output}", highlight=False)


def _print_vignetting(res: Any) -> None:
    for r in res.document["fits"]:
        console.print(f"{r['file']}: {r['focal_length_mm']:g} mm f/{r['f_number']:g}: k1={r['k1']:.5f} k2={r['k2']:.5f} "
                      f"k3={r['k3']:.5f} (RMS {r['rms']:.4f})", highlight=False)
    _warn(res.document["warnings"])


def _print_tca(res: Any) -> None:
    for r in res.document["focal_lengths"]:
        console.print(f"{r['focal_length_mm']:g} mm: R/B vs G RMS {r['rms_before_px']:.4f} px -> linear "
                      f"{r['rms_linear_px']:.4f}, poly3 {r['rms_poly3_px']:.4f} px", highlight=False)


def _warn(lines: list[str]) -> None:
    for w in lines:
        err_console.print(f"[yellow]warning[/]: {w}", highlight=False, soft_wrap=True)


_SETTINGS = ("camera_name", "lens_name", "mount", "crop_factor", "focal_length_mm", "sensor_width_mm", "output", "update",
             "overwrite", "report_dir")


def _profile_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options of every calibrate command: who the profile is for, where it goes.

    The command receives them as one ``settings``
    (:class:`~l2tech.pipeline.calibrate.ProfileSettings`), checked for positive numbers.
    """

    @functools.wraps(f)
    def command(*args: Any, **kwargs: Any) -> Any:
        from l2tech.pipeline.calibrate import ProfileSettings

        settings = ProfileSettings(**{k: kwargs.pop(k) for k in _SETTINGS})
        try:
            _check_positive(focal_length=settings.focal_length_mm, crop_factor=settings.crop_factor,
                            sensor_width=settings.sensor_width_mm)
        except UsageError as exc:
            return _fail(exc, kwargs["verbose"])
        return f(*args, settings=settings, **kwargs)

    opts = [
        click.option("--camera-name", help='Camera "Maker Model" written to the profile, e.g. "Panasonic DC-S5".'),
        click.option("--lens-name", default="Generic Calibrated lens", show_default=True,
                     help='Lens "Maker Model" written to the profile.'),
        click.option("--mount", default="Generic", show_default=True, help="Lens mount name written to the profile."),
        crop_factor_option,
        focal_length_option,
        click.option("--sensor-width", "sensor_width_mm", type=float, metavar="MM",
                     help="Width of the sensor area the images show, mm (images without EXIF): distortion derives the "
                          "focal length from the fit and the crop factor from it."),
        output_option("file", dest="output"),
        click.option("--update", is_flag=True, help="Merge into an existing XML file (add calibration points)."),
        overwrite_option,
        click.option("--report", "report_dir", type=click.Path(file_okay=False), help="Folder for the HTML report."),
        # the names written to the profile were once spelled --camera/--lens, which elsewhere name a lens to match
        deprecated_alias("--lens", new="--lens-name", dest="lens_name"),
        deprecated_alias("--camera", new="--camera-name", dest="camera_name"),
        json_option,
        verbosity_options,
    ]
    for opt in reversed(opts):
        command = opt(command)
    return command


def _fail(exc: L2Error, verbose: int) -> int:
    report_error(exc, verbose)
    return exc.exit_code


@click.group("calibrate", context_settings=CONTEXT_SETTINGS)
def calibrate() -> None:
    """Make a lensfun lens profile from checkerboard and flat-field shots.

    \b
    Examples:
      l2 calibrate distortion shots/*.ORF --target checkerboard:9x6:25mm \\
          --lens-name "Olympus M.14-42mm" --mount "Micro 4/3 System" -o lens.xml --report rep/
      l2 calibrate vignetting flats/*.ORF --lens-name "Olympus M.14-42mm" -o lens.xml --update
      l2 calibrate tca shots/*.ORF --target checkerboard:9x6:25mm
    """


@calibrate.command("distortion", context_settings=CONTEXT_SETTINGS)
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False, readable=False))  # checked per file (RELIABILITY E5)
@click.option("--target", "target_spec", required=True, help="checkerboard:9x6:25mm or charuco:11x8:20mm:15mm[:DICT_5X5_100].")
@click.option("--fisheye", is_flag=True, help="Fit Kannala-Brandt (fisheye) instead of Brown-Conrady.")
@click.option("--model", "lf_model", type=click.Choice(["ptlens", "poly3", "poly5"]), default="ptlens", show_default=True,
              help="lensfun distortion model written to the profile (all three are fitted and reported).")
@click.option("--every", type=int, default=10, show_default=True, help="Video input: use every N-th frame.")
@click.option("--gyroflow", type=click.Path(dir_okay=False), help="Also write a Gyroflow lens profile JSON.")
@click.option("--fix", "fix", multiple=True, metavar="COEF",
              help="Hold a coefficient at 0 in the OpenCV fit: k1, k2, k3, p1p2 (fisheye: k1..k4); repeatable, e.g. --fix k3.")
@click.option("--max-rms", "max_rms_px", type=float, default=None, metavar="PX",
              help="Refuse a fit whose reprojection RMS is above PX (default 3: the target was mis-detected).")
@_profile_options
def distortion(images, target_spec, fisheye, lf_model, every, gyroflow, fix, max_rms_px, settings, as_json, verbose, quiet):
    """Fit distortion from checkerboard / ChArUco shots (RAW, JPEG, TIFF, PNG or video).

    \b
    Examples:
      l2 calibrate distortion shots/*.ORF --target checkerboard:9x6:25mm \\
          --lens-name "Olympus M.14-42mm" -o lens.xml --report rep/
      l2 calibrate distortion left*.jpg --target checkerboard:9x6:25mm --sensor-width 4.8 -o lens.xml
    """
    from l2tech.pipeline.calibrate import calibrate_distortion

    def job(advance: Callable[[], None]) -> Any:
        if every < 1:
            raise UsageError(f"--every {every}: must be a positive number")
        return calibrate_distortion(images, target_spec, fisheye=fisheye, lensfun_model=lf_model, every=every,
                                    gyroflow=gyroflow, settings=settings, on_error=lambda e: report_error(e, verbose),
                                    on_progress=advance, fix=fix, max_rms_px=max_rms_px)

    return _run(job, ("finding boards", len(images)), _print_distortion, verbose=verbose, as_json=as_json, quiet=quiet)


@calibrate.command("vignetting", context_settings=CONTEXT_SETTINGS)
@click.argument("flats", nargs=-1, required=True, type=click.Path(dir_okay=False, readable=False))  # checked per file (RELIABILITY E5)
@f_number_option
@focus_distance_option
@_profile_options
def vignetting(flats, f_number, focus_distance_m, settings, as_json, verbose, quiet):
    """Fit lensfun pa vignetting from flat fields (linear RAW preferred), one per focal length and f-number.

    \b
    Example:
      l2 calibrate vignetting flats/*.ORF --lens-name "Olympus M.14-42mm" -o lens.xml --update
    """
    from l2tech.pipeline.calibrate import calibrate_vignetting

    def job(advance: Callable[[], None]) -> Any:
        _check_positive(f_number=f_number, focus_distance=focus_distance_m)
        return calibrate_vignetting(flats, f_number=f_number, focus_distance_m=focus_distance_m, settings=settings,
                                    on_error=lambda e: report_error(e, verbose), on_progress=advance)

    return _run(job, ("fitting flats", len(flats)), _print_vignetting, verbose=verbose, as_json=as_json, quiet=quiet)


@calibrate.command("tca", context_settings=CONTEXT_SETTINGS)
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False, readable=False))  # checked per file (RELIABILITY E5)
@click.option("--target", "target_spec", required=True, help="checkerboard:9x6:25mm or charuco:...")
@click.option("--model", "tca_model", type=click.Choice(["poly3", "linear"]), default="poly3", show_default=True,
              help="lensfun TCA model written to the profile (both are fitted and reported).")
@_profile_options
def tca(images, target_spec, tca_model, settings, as_json, verbose, quiet):
    """Fit lateral chromatic aberration (red and blue against green) from board shots.

    \b
    Example:
      l2 calibrate tca shots/*.ORF --target checkerboard:9x6:25mm --lens-name "Olympus M.14-42mm" -o lens.xml --update
    """
    from l2tech.pipeline.calibrate import calibrate_tca

    def job(advance: Callable[[], None]) -> Any:
        return calibrate_tca(images, target_spec, tca_model=tca_model, settings=settings,
                             on_error=lambda e: report_error(e, verbose))

    return _run(job, None, _print_tca, verbose=verbose, as_json=as_json, quiet=quiet)
