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
``--recipe FILE``
    A recipe file (TOML, every setting of the one Recipe; ``l2 recipe show`` prints one);
    the options given on the command line win over it.
``--jobs N``, ``--max-memory SIZE``, ``--cluster ADDRESS``, ``--redo``, ``--no-sidecar``
    How a batch runs: worker processes, their memory budget, a Dask scheduler instead, making
    every output again, and no ``name.ext.l2.toml`` sidecar beside each output (docs/BATCH.md).
``--max-memory SIZE``
    The memory budget of one job (``4G``, ``512M``): a still or clip whose peak, estimated
    from its header before decoding, exceeds it is refused (default: half the machine's
    memory; :mod:`l2tech.pipeline.memory`).
``--max-decode-errors N``
    Damaged frames a job may contain (default 0): a video clip whose decoder skipped or
    concealed more frames, or a still (one frame) whose decoder reports damaged data, is
    refused; within the allowance it is written with a warning.
``--crop-factor``, ``--projection``, ``--interpolation``, ``--look``, ``--lut``, ``--quality``,
``--camera-limits``, ``--json``, ``-v/--verbose``, ``-q/--quiet``
    As their help says.

Old spellings that documented workflows use are kept as hidden aliases that print a
deprecation warning (:func:`deprecated_alias`): ``--distance`` (now ``--focus-distance``);
in ``l2 calibrate`` ``--lens``/``--camera`` (the names *written* to the new profile, now
``--lens-name``/``--camera-name``). In ``l2 lut bake``, ``-o/--output`` is the output file as
everywhere (it once named the output encoding, now ``--output-space``; ``--out`` is a hidden
old spelling of ``-o``).

This module imports only click, so ``l2 --help`` stays fast.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

import click

__all__ = [
    "examples_last",
    "CONTEXT_SETTINGS",
    "tone_options",
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
    "max_decode_errors_option",
    "deprecated_alias",
    "recipe_option",
    "batch_options",
]

F = TypeVar("F", bound=Callable[..., Any])

#: Context settings of every command and group: ``-h`` works as ``--help``.
CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}


def examples_last(cmd: click.Command) -> click.Command:
    """Move the ``Examples:`` block of a command's help after its options (``--help`` ends with it).

    Applied once to each command (and, for a group, its sub-commands) where the command is
    looked up; a command whose help has no examples is left as it is. Returns ``cmd``.
    """
    if getattr(cmd, "_l2_examples_last", False):
        return cmd
    cmd._l2_examples_last = True  # type: ignore[attr-defined]
    lines = (cmd.help or "").splitlines()
    at = next((i for i, line in enumerate(lines) if line.strip().lower().startswith(("examples:", "example:"))), None)
    if at is not None and cmd.epilog is None:
        head = lines[:at]
        while head and head[-1].strip() in ("", "\b"):
            head.pop()
        cmd.help = "\n".join(head)
        cmd.epilog = "\b\n" + "\n".join(lines[at:]).rstrip()
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            examples_last(sub)
    return cmd

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
    # click 8.3 treats an explicit default=None as a value, which would satisfy required=True
    extra: dict[str, Any] = {} if default is None else {"default": default}
    return click.option("-o", "--output", dest, required=required, type=ptype, metavar=metavar,
                        show_default=show_default, help=_OUTPUT_HELP[kind], **extra)


overwrite_option = click.option(
    "--overwrite", is_flag=True,
    help="Replace existing output files (otherwise an existing output is left untouched). "
         "develop, correct and video still skip an output whose sidecar shows the same input and "
         "recipe; --redo makes those again.")

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
    "--profile", "profile_path", type=click.Path(), metavar="FILE",
    help="Lens profile file (lensfun XML, LCP, Gyroflow JSON, OpenCV YAML, DNG); wins over every other source.")

profile_source_option = click.option(
    "--profile-source", type=click.Choice(["embedded", "user", "database"]),
    help="Take the profile from this source only (default order: file, user, database, embedded).")

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
         "fisheye_stereographic, fisheye_orthographic, fisheye_thoby, equirectangular, panoramic (cylindrical).")


def interpolation_option(*, nearest: bool = False) -> Callable[[F], F]:
    """``--interpolation``: the resampling kernel of the lens correction (``nearest``: video only)."""
    kernels = ["bilinear", "bicubic", "lanczos"] + (["nearest"] if nearest else [])
    return click.option("--interpolation", type=click.Choice(kernels), default="bilinear", show_default=True,
                        help="Resampling kernel of the lens correction.")


def _check_look(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--look``: a look file, or a name from :func:`l2tech.color.looks.list_looks` (else a usage error, exit 2)."""
    from l2tech.color.looks import check_look_name
    from l2tech.errors import UsageError

    try:
        check_look_name(value)  # a file: a missing one is reported by the loader, naming the path
    except UsageError as exc:
        raise click.BadParameter(exc.reason, ctx=ctx, param=param) from None
    return value


look_option = click.option(
    "--look", metavar="NAME|FILE", callback=_check_look,
    help="Apply a look (photo style), e.g. mono, classic, or a look file (list: `l2 lut bake --list-looks`).")

lut_option = click.option(
    "--lut", "lut_path", type=click.Path(), metavar="FILE",
    help="Apply a 3D LUT file (.cube, .3dl, .spi3d, .vlt, .clf) after the look.")


def tone_options(f: F) -> F:
    """The rendering options of ``l2 develop``: ``--tone`` and the filmic curve's parameters
    (:class:`l2tech.color.tone.FilmicCurve`), ``--highlights``, ``--demosaic``, ``--denoise``, ``--sharpen``,
    ``--auto-exposure``."""
    opts = [
        click.option("--tone", type=click.Choice(["filmic", "none"]), default="filmic", show_default=True,
                     help="Scene-to-display tone curve: filmic highlight roll-off, or none (plain clip at white)."),
        click.option("--contrast", "tone_contrast", type=float, metavar="SLOPE",
                     help="Filmic contrast: display stops per scene stop at middle grey (default 1.35)."),
        click.option("--latitude", "tone_latitude_ev", type=float, metavar="EV",
                     help="Filmic latitude: stops of constant contrast around grey (default 2)."),
        click.option("--white-ev", "tone_white_ev", type=float, metavar="EV",
                     help="Filmic white: stops over middle grey shown as white (default 4.5)."),
        click.option("--black-ev", "tone_black_ev", type=float, metavar="EV",
                     help="Filmic black: stops under middle grey shown as black (default -10)."),
        click.option("--highlights", type=click.Choice(["clip", "blend", "rebuild", "reconstruct"]), default="clip",
                     show_default=True, help="Clipped highlights: LibRaw's clip/blend/rebuild, or reconstruct from "
                                             "the unclipped channels (rolled off by the tone curve)."),
        click.option("--demosaic", type=click.Choice(["ppg", "ahd", "dht", "aahd", "vng", "dcb", "linear"]), default="ppg",
                     show_default=True, help="LibRaw's demosaicing algorithm (ppg: AHD's quality at half its time)."),
        click.option("--denoise", type=float, default=0.0, show_default=True, metavar="STRENGTH",
                     help="Noise reduction (0 = off, 1 = normal): on a Bayer mosaic before demosaicing, with "
                          "the sensor's noise model per camera and ISO; otherwise on the linear data."),
        click.option("--sharpen", type=float, default=0.0, show_default=True, metavar="AMOUNT",
                     help="Capture sharpening amount (0 = off, 1 = normal), radius from the f-number and pixel pitch."),
        click.option("--sharpen-radius", "sharpen_radius_px", type=float, metavar="PX",
                     help="Sharpening radius (Gaussian sigma, pixels) instead of the automatic one."),
        click.option("--auto-exposure", is_flag=True,
                     help="Add the exposure that puts the scene's log-average luminance on middle grey."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


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


max_decode_errors_option = click.option(
    "--max-decode-errors", "max_decode_errors", type=click.IntRange(min=0), default=0, show_default=True, metavar="N",
    help="Damaged frames to accept before failing: a clip's frames the decoder skipped or concealed, or a still "
         "whose data the decoder reports damaged (a still is one frame); 0 refuses any.")


recipe_option = click.option(
    "--recipe", "recipe_path", type=click.Path(), metavar="FILE",
    help="Recipe file (TOML) with every setting, or a darktable .xmp / RawTherapee .pp3 sidecar (what maps is "
         "taken); the options given here win over it (`l2 recipe show`).")


def batch_options(f: F) -> F:
    """``--jobs``, ``--max-memory``, ``--cluster``, ``--redo`` and ``--no-sidecar``: how a batch runs."""
    opts = [
        click.option("--jobs", "-j", "jobs", type=click.IntRange(min=1), metavar="N",
                     help="Files processed at once, in worker processes (default: the number of cores, one for a "
                          "batch of one or two files; l2 video: 1, a clip already uses several threads)."),
        max_memory_option,
        click.option("--cluster", metavar="ADDRESS", envvar="L2_DASK_SCHEDULER", show_envvar=True,
                     help="Run the batch on a Dask scheduler, e.g. tcp://host:8786 (inputs on a shared path)."),
        click.option("--redo", is_flag=True, help="Make every output again, even those a previous run finished."),
        click.option("--no-sidecar", is_flag=True, help="Write no NAME.EXT.l2.toml sidecar beside each output."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


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
