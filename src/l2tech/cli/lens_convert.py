"""``l2 lens convert`` and ``l2 lens show FILE``: profile files in, lensfun XML / Gyroflow JSON out.

Thin shells over :mod:`l2tech.profiles.sources` and :mod:`l2tech.profiles.convert`; the ``l2
lens`` group registers them (``lens.add_command(convert)``, ``lens.add_command(show_file)``).
"""

from __future__ import annotations

import os
from typing import Any

import click

from l2tech.cli.common import console, emit_json, err_console, report_error
from l2tech.cli.options import CONTEXT_SETTINGS, json_option, lens_option, output_option, overwrite_option, verbosity_options
from l2tech.errors import L2Error, OutputExistsError

__all__ = ["convert", "show_file", "profile_summary"]


#: The output name's extension of each format ``l2 lens convert`` writes.
_SUFFIX = {"lensfun": ".xml", "gyroflow": ".json"}


def _output_format(output: str, to: str | None) -> str:
    """The format to write: ``--to``, else the output's extension; a name that says another
    format is refused (``-o lens.json`` wrote lensfun XML under a Gyroflow name).

    Raises
    ------
    UsageError
        An extension of no format without ``--to``, or one that contradicts it.
    """
    from l2tech.errors import UsageError

    suffix = os.path.splitext(output)[1].lower()
    by_name = next((fmt for fmt, ext in _SUFFIX.items() if ext == suffix), None)
    if to is None:
        if by_name is None:
            raise UsageError(f"cannot tell the format from the name (end it in .xml for lensfun, .json for Gyroflow, "
                             "or give --to)", path=output)
        return by_name
    if suffix != _SUFFIX[to]:
        raise UsageError(f"--to {to} writes {'lensfun XML' if to == 'lensfun' else 'Gyroflow JSON'}; name the output "
                         f"*{_SUFFIX[to]}", path=output)
    return to


def profile_summary(prof: Any) -> dict[str, Any]:
    """JSON-able summary of any :class:`~l2tech.profiles.model.LensProfile`, with its calibrations."""
    return {
        "name": prof.name, "maker": prof.maker, "model": prof.model, "lens_type": prof.lens_type,
        "crop_factor": prof.crop_factor, "focal_min_mm": prof.focal_min_mm, "focal_max_mm": prof.focal_max_mm,
        "source": prof.source,
        "extra": {k: (list(v) if isinstance(v, tuple) else v) for k, v in dict(prof.extra).items()},
        "distortion": [{"model": c.model, "focal_length_mm": c.focal_length_mm, **dict(c.terms)} for c in prof.distortion],
        "tca": [{"model": c.model, "focal_length_mm": c.focal_length_mm, **dict(c.terms)} for c in prof.tca],
        "vignetting": [{"model": c.model, "focal_length_mm": c.focal_length_mm, "f_number": c.f_number,
                        "focus_distance_m": c.focus_distance_m, **dict(c.terms)} for c in prof.vignetting],
    }


@click.command("convert", context_settings=CONTEXT_SETTINGS)
@click.argument("input_path", metavar="IN", type=click.Path(dir_okay=False))
@output_option("file", required=True)
@click.option("--to", "to", type=click.Choice(["lensfun", "gyroflow"]), default=None,
              help="Output format (default: from the output name, .xml lensfun, .json Gyroflow).")
@click.option("--width", type=click.IntRange(2, 65535), help="Frame width the fit is made for (default: the profile's calibration size).")
@click.option("--height", type=click.IntRange(2, 65535), help="Frame height for the fit.")
@click.option("--model", "lf_model", type=click.Choice(["poly3", "poly5", "ptlens"]), help="lensfun model to fit (default: the better of poly5 and ptlens).")
@click.option("--mount", default="Generic", show_default=True, help="Mount written to the lensfun lens.")
@lens_option
@overwrite_option
@json_option
@verbosity_options
def convert(input_path: str, output: str, to: str, width: int | None, height: int | None, lf_model: str | None,
            mount: str, lens_name: str | None, overwrite: bool, as_json: bool, verbose: int, quiet: bool) -> int:
    """Convert a lens profile (DNG, RW2, Gyroflow, LCP, lensfun, OpenCV) to lensfun XML or Gyroflow JSON.

    A lensfun model is fitted to the profile's map when the families differ; the fit residual
    (pixels, over the frame) is printed. With --lens, the lens of that name in an IN holding
    several (a lensfun XML). The format follows the output's name (.xml lensfun, .json
    Gyroflow) unless --to says it; a name of the other format is refused.

    \b
    Examples:
      l2 lens convert GoPro_HERO8.json -o hero8.xml --width 3840 --height 2160
      l2 lens convert calib.yaml -o calib.json --to gyroflow
    """
    from l2tech.profiles.convert import write_gyroflow, write_lensfun
    from l2tech.profiles.sources import read_profile

    try:
        if os.path.abspath(input_path) == os.path.abspath(output):
            raise OutputExistsError("output is the input file", output)
        if os.path.exists(output) and not overwrite:
            raise OutputExistsError("output exists (use --overwrite)", output)
        if (width is None) != (height is None):
            raise click.UsageError("give both --width and --height")
        to = _output_format(output, to)
        prof = read_profile(input_path, lens_name)
        if to == "gyroflow":
            rep = write_gyroflow(prof, output, width, height, overwrite=True)
        else:
            rep = write_lensfun(prof, output, width, height, model=lf_model, mount=mount)
        result: dict[str, Any] = {"input": input_path, "output": output, "format": to, "lens": prof.name,
                                  "model": rep.model, "frame": [rep.width, rep.height],
                                  "residual_max_px": rep.residual_max_px, "residual_rms_px": rep.residual_rms_px}
        if to == "lensfun":
            result["entries"] = list(rep.entries)
            result["center_spread_px"] = rep.center_spread_px
        # the conversion fits the geometry only: say what the input held that the output lacks
        result["not_converted"] = [c for c in ("tca", "vignetting") if getattr(prof, c)]
    except L2Error as exc:
        report_error(exc, verbose)
        return exc.exit_code
    if as_json:
        emit_json(result)
    elif not quiet:
        console.print(f"{result['lens']} -> {output} ({to}, {result['model']}, fit residual max "
                      f"{result['residual_max_px']:.4f} px, rms {result['residual_rms_px']:.4f} px)", highlight=False)
        if result["not_converted"]:
            err_console.print(f"[yellow]warning[/]: {input_path}: its {' and '.join(result['not_converted'])} data "
                              "are not converted (the conversion fits the distortion only)", highlight=False,
                              soft_wrap=True)
        if len(result.get("entries", ())) > 1:
            console.print(f"  {len(result['entries'])} lens entries, one per focal length (their lens centres are "
                          f"{result['center_spread_px']:.1f} px apart; lensfun holds one centre per lens): "
                          + "; ".join(result["entries"]), highlight=False)
    return 0


@click.command("show-file", context_settings=CONTEXT_SETTINGS)
@click.argument("path", type=click.Path(dir_okay=False))
@lens_option
@json_option
@verbosity_options
def show_file(path: str, lens_name: str | None, as_json: bool, verbose: int, quiet: bool) -> int:
    """Show a lens profile file of any supported format (models and coefficients).

    With --lens, the lens of that name in a file holding several (a lensfun XML).

    \b
    Examples:
      l2 lens show-file GoPro_HERO5_Black_Wide_NO-EIS_4by3.json
      l2 lens show-file mil-panasonic.xml --lens "Lumix S 20-60/F3.5-5.6" --json
    """
    from l2tech.profiles.sources import profile_format, read_profile

    try:
        fmt = profile_format(path)
        prof = read_profile(path, lens_name)
    except L2Error as exc:
        report_error(exc, verbose)
        return exc.exit_code
    d = profile_summary(prof)
    d["format"] = fmt
    if as_json:
        emit_json(d)
        return 0
    if quiet:
        return 0
    console.print(f"[bold]{prof.name}[/] ({fmt}, {prof.lens_type}, crop {prof.crop_factor:g})", highlight=False)
    for kind in ("distortion", "tca", "vignetting"):
        for c in d[kind]:
            terms = ", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in c.items() if k not in ("model",))
            console.print(f"  {kind}: {c['model']}: {terms}", highlight=False)
    return 0
