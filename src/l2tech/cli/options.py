"""Every option that more than one ``l2`` command takes, declared once (STYLE.md rule 6).

A flag means the same in every command that has it; its help text lives here and nowhere
else. The meanings:

``-o/--output``
    Where to write: a file, or a folder (what a command accepts is in its help).
``--overwrite``
    Replace existing output files; without it an existing output is never touched (a batch
    command skips it and says so, a single-output command stops with an error).
``--lens NAME``
    A lens *name to match*: looked up in the lens database (lensfun plus your own profiles),
    or in the given profile file; it wins over the lens the file's metadata names.
``--camera NAME``
    A camera body *name to match* in the database, winning over the file's metadata.
``--profile FILE``
    A lens profile file (lensfun XML, Adobe LCP, Gyroflow JSON, OpenCV YAML/XML, DNG) that
    wins over every other profile source.
``--focal-length MM``, ``--f-number N``, ``--focus-distance M``
    The shot's settings, winning over the file's metadata.
``--max-memory SIZE``
    The memory budget of one job (``4G``, ``512M``): a still or clip whose peak, estimated
    from its header before decoding, exceeds it is refused (default: half the machine's
    memory; :mod:`l2tech.pipeline.memory`).
``--crop-factor``, ``--projection``, ``--interpolation``, ``--look``, ``--lut``, ``--quality``,
``--camera-limits``, ``--json``, ``-v/--verbose``, ``-q/--quiet``
    As their help says.

Old spellings that documented workflows use are kept as hidden aliases that print a
deprecation warning (:func:`deprecated_alias`): ``--distance`` (now ``--focus-distance``);
in ``l2 calibrate`` ``--lens``/``--camera`` (the names *written* to the new profile, now
``--lens-name``/``--camera-name``); in ``l2 lut bake`` ``--output`` (the output encoding,
now ``--output-space``).

This module imports only click, so ``l2 --help`` stays fast.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import click

__all__ = [
    "CONTEXT_SETTINGS",
    "output_option",
    "overwrite_option",
    "json_option",
    "verbosity_options",
    "lens_option",
    "camera_option",
    "profile_option",
    "profile_source_option",
    "focal_length_option",
    "f_number_option",
    "focus_distance_option",
    "shot_options",
    "crop_factor_option",
    "projection_option",
    "interpolation_option",
    "look_option",
    "lut_option",
    "quality_option",
    "camera_limits_option",
    "max_memory_option",
    "deprecated_alias",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Context settings of every command and group: ``-h`` works as ``--help``.
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}

_OUTPUT_HELP = {
    "file": "Output file.",
    "dir": "Output folder.",
    "file_or_dir": "Output file, or folder (several inputs, or a trailing /).",
    "file_or_existing_dir": "Output file (one input), or an existing folder.",
}


def output_option(kind: str = "file_or_dir", *, required: bool = False, default: str | None = None,
                  dest: str = "output", show_default: bool = False) -> Callable[[F], F]:
    """``-o/--output``: where to write.

    Parameters
    ----------
    kind : {'file', 'dir', 'file_or_dir', 'file_or_existing_dir'}
        What the command accepts; chooses the help text.
    required : bool
        Whether the option must be given.
    default : str, optional
        Default value (``l2 demo`` writes to ``demo-output``).
    dest : str
        Name of the function parameter.
    show_default : bool
        Show the default in the help.
    """
    metavar = {"file": "FILE", "dir": "DIR"}.get(kind, "FILE|DIR")
    ptype = click.Path(dir_okay=False) if kind == "file" else None
    return click.option("-o", "--output", dest, required=required, default=default, type=ptype, metavar=metavar,
                        show_default=show_default, help=_OUTPUT_HELP[kind])


overwrite_option = click.option(
    "--overwrite", is_flag=True,
    help="Replace existing output files (otherwise an existing output is left untouched).")

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")


def verbosity_options(f: F) -> F:
    """Add ``-v/--verbose`` (tracebacks, details) and ``-q/--quiet`` (errors only)."""
    f = click.option("-q", "--quiet", is_flag=True, help="Print errors only.")(f)
    f = click.option("-v", "--verbose", count=True, help="More detail; -v shows tracebacks on errors.")(f)
    return f


lens_option = click.option(
    "--lens", "lens_name", metavar="NAME",
    help="Lens name to match in the lens database, or in the --profile/input file (any case; "
         "`l2 lens search` lists names); wins over the file's metadata.")

camera_option = click.option(
    "--camera", metavar="NAME", help="Camera body name to match in the database; wins over the file's metadata.")

profile_option = click.option(
    "--profile", "profile_path", type=click.Path(dir_okay=False), metavar="FILE",
    help="Lens profile file (lensfun XML, LCP, Gyroflow JSON, OpenCV YAML, DNG); wins over every other source.")

profile_source_option = click.option(
    "--profile-source", type=click.Choice(["embedded", "user", "database"]),
    help="Take the profile from this source only (default order: file, embedded, user, database).")

focal_length_option = click.option(
    "--focal-length", "focal_length_mm", type=float, metavar="MM", help="Focal length in mm (default: the file's metadata).")

f_number_option = click.option(
    "--f-number", "f_number", type=float, metavar="N", help="Aperture f-number (default: the file's metadata).")


def focus_distance_option(f: F) -> F:
    """``--focus-distance M`` (metres), with the old spelling ``--distance`` as a hidden alias."""
    f = deprecated_alias("--distance", new="--focus-distance", dest="focus_distance_m", type=float)(f)
    return click.option("--focus-distance", "focus_distance_m", type=float, metavar="M",
                        help="Focus distance in metres (default: the file's metadata, else infinity).")(f)


def shot_options(f: F) -> F:
    """``--focal-length``, ``--f-number`` and ``--focus-distance``."""
    return focal_length_option(f_number_option(focus_distance_option(f)))


crop_factor_option = click.option(
    "--crop-factor", type=float, metavar="X",
    help="Crop factor of the recorded area (default: the file's metadata).")

projection_option = click.option(
    "--projection", metavar="NAME",
    help="Projection of the result: rectilinear (de-fish), fisheye, fisheye_equisolid, "
         "fisheye_stereographic, fisheye_orthographic, fisheye_thoby, equirectangular.")


def interpolation_option(*, nearest: bool = False) -> Callable[[F], F]:
    """``--interpolation``: the resampling kernel of the lens correction (``nearest``: video only)."""
    kernels = ["bilinear", "bicubic", "lanczos"] + (["nearest"] if nearest else [])
    return click.option("--interpolation", type=click.Choice(kernels), default="bilinear", show_default=True,
                        help="Resampling kernel of the lens correction.")


look_option = click.option(
    "--look", metavar="NAME|FILE",
    help="Apply a look (photo style), e.g. mono, classic, or a look file (list: `l2 lut bake --list-looks`).")

lut_option = click.option(
    "--lut", "lut_path", type=click.Path(dir_okay=False), metavar="FILE",
    help="Apply a 3D LUT file (.cube, .3dl, .spi3d, .vlt, .clf) after the look.")


def quality_option(default: int) -> Callable[[F], F]:
    """``--quality``: JPEG quality 1-100 (each command keeps its own default)."""
    return click.option("--quality", type=click.IntRange(1, 100), default=default, show_default=True, help="JPEG quality.")


camera_limits_option = click.option(
    "--camera-limits", "camera_limits", metavar="CAMERA", default=None,
    help="Fit the LUT to a camera's limits (lumix: .cube of at most 33 points); resamples and warns.")


class _SizeType(click.ParamType):
    """A memory size (``4G``, ``512M``, ``1.5GiB``), converted to bytes."""

    name = "size"

    def convert(self, value: Any, param: Any, ctx: Any) -> int:
        if isinstance(value, int):
            return value
        from l2tech.errors import UsageError
        from l2tech.pipeline.memory import parse_size

        try:
            return parse_size(value)
        except UsageError as exc:
            self.fail(str(exc), param, ctx)


max_memory_option = click.option(
    "--max-memory", "max_memory", type=_SizeType(), metavar="SIZE", default=None,
    help="Memory budget of one job, e.g. 4G or 512M: an input whose estimated peak (from its header, "
         "before decoding) is larger is refused. Default: half the machine's memory.")


def deprecated_alias(old: str, *, new: str, dest: str, **option_kw: Any) -> Callable[[F], F]:
    """Keep ``old`` working as a hidden spelling of the option ``new`` (stored in ``dest``).

    Using ``old`` prints a one-line deprecation warning on stderr; giving both is a usage
    error. Apply it below ``@click.command`` like any option decorator.

    Parameters
    ----------
    old, new : str
        The old and the current spelling, e.g. ``"--distance"``, ``"--focus-distance"``.
    dest : str
        Parameter name of the current option.
    **option_kw
        Passed to :func:`click.option` (``type``, ``metavar``, ...).
    """
    hidden = "deprecated_" + old.lstrip("-").replace("-", "_")

    def decorate(f: F) -> F:
        @functools.wraps(f)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            value = kwargs.pop(hidden, None)
            if value is not None:
                ctx = click.get_current_context()
                source = ctx.get_parameter_source(dest)
                if source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT"):
                    raise click.UsageError(f"give {new} only ({old} is its old spelling)")
                click.echo(f"warning: {old} is deprecated; use {new}", err=True)
                kwargs[dest] = value
            return f(*args, **kwargs)

        return click.option(old, hidden, hidden=True, default=None, **option_kw)(wrapper)  # type: ignore[return-value]

    return decorate
