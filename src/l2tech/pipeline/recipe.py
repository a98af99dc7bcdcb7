"""The one :class:`Recipe`: every user setting of develop, correct and video.

Video settings wrap a Recipe (``l2tech.video``); the CLI builds one from its options.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from l2tech.errors import UsageError
from l2tech.profiles.validate import FOCAL_RANGE_MM

__all__ = ["Recipe", "CORRECTIONS", "DEFAULT_FOCUS_DISTANCE_M", "LUT_SUFFIXES", "check_recipe_files"]

#: The corrections in pipeline order.
CORRECTIONS = ("vignetting", "tca", "distortion")

#: Focus distance used when the file does not give one (lensfun's own default: infinity).
DEFAULT_FOCUS_DISTANCE_M = 1000.0

#: Largest focal length, f-number and focus distance a recipe takes: above any lens made
#: (the longest photographic lens, Canon's 5200 mm, and pinhole cameras near f/1000) and
#: lensfun's "infinity" (1000 m) many times over. 1e308 overflowed the plan's arithmetic.
_LENS_NUMBER_MAX = {"focal_length_mm": FOCAL_RANGE_MM[1], "f_number": 1000.0, "focus_distance_m": 1e6}
_LENS_NUMBER_WHY = {"focal_length_mm": "no lens is longer than 10 m", "f_number": "no lens stops down beyond f/1000",
                    "focus_distance_m": "beyond 1000 m every lens is at infinity"}
#: Largest magnitude of a keystone control point, pixels (the 400 MP size cap is 20000 px a side;
#: a point may lie outside the frame). 1e308 overflowed the homography.
KEYSTONE_MAX_PX = 1e6


def _finite(v: object) -> bool:
    """True for a real number that float64 holds (an integer beyond its range is not one)."""
    import math

    try:
        return math.isfinite(float(v))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return False


@dataclass(frozen=True)
class Recipe:
    """Serialisable develop settings.

    Parameters
    ----------
    lens_correction : bool
        False skips every lens correction (``--no-lens-correction``).
    corrections : tuple of str
        Subset of :data:`CORRECTIONS` to apply (``--only``).
    camera, lens : str, optional
        Override texts for matching (``--camera``, ``--lens``).
    focal_length_mm, f_number, focus_distance_m : float, optional
        Override the shot's values (mm, f-number, metres).
    exposure_ev : float
        Exposure compensation in stops, applied to linear data.
    white_balance : {'camera', 'daylight', 'auto'}
    output_space : str
        ``srgb``, ``display-p3``, ``rec2020`` or ``adobe-rgb``.
    format : {'jpeg', 'tiff', 'png'}
    quality : int
        JPEG quality.
    bits : {8, 16}, optional
        Output bit depth (default 8 for JPEG, 16 otherwise).
    scale : float, optional
        Geometry scale; None = automatic (no empty border).
    interpolation : {'bilinear', 'bicubic', 'lanczos'}
    look : str, optional
        Name or file of a look (photo style), applied on linear data.
    lut : str, optional
        A LUT file applied as a look (``--lut``), with its input ``lut_input``
        (``"ENCODING/GAMUT"``, e.g. ``"V-Log/V-Gamut"``; default ``"sRGB/Rec.709"``).
    profile : str, optional
        A lens profile file (lensfun XML, Adobe LCP, Gyroflow JSON, OpenCV YAML/XML, DNG) that
        wins over every other source (``--profile``).
    profile_source : {'embedded', 'user', 'database'}, optional
        Use only that source (``--profile-source``); see :mod:`l2tech.profiles.sources`.
    projection : str, optional
        Projection of the corrected image (``rectilinear`` de-fishes a fisheye profile;
        ``fisheye``, ``fisheye_equisolid``, ... reproject), composed into the same remap.
    vignetting_strength : float
        Fraction of the vignetting correction applied, in stops (0 none, 1 all, up to 2;
        ``--vignetting-strength``).
    force : bool
        Correct even what the file says was already corrected (in the camera, by a RAW
        converter, or by l2tech itself: ``--force``); see :mod:`l2tech.io.provenance`.
    log_output : str, optional
        Write log-encoded data instead of a display image (``--log-output V-Log`` or
        ``"V-Log/V-Gamut"``): the working data is converted to the gamut and encoded with the
        curve, no ICC profile is embedded.
    tone : {'filmic', 'none'}
        Scene-to-display tone curve of a RAW develop (:mod:`l2tech.color.tone`): ``filmic``
        (default) rolls highlights off up to ``tone_white_ev`` and shows the camera's metered
        middle grey as display grey; ``none`` is the plain transfer (scene-linear 1.0 = white,
        hard clip). Not applied to log output or to already developed images (``correct``).
    tone_contrast, tone_latitude_ev, tone_white_ev, tone_black_ev : float, optional
        Override the filmic curve's parameters (:class:`l2tech.color.tone.FilmicCurve`).
    highlights : {'clip', 'blend', 'rebuild', 'reconstruct'}
        Clipped highlights of a RAW (:mod:`l2tech.raw.highlights`): LibRaw's clip (default),
        blend or rebuild modes, or l2tech's reconstruction from the unclipped channels.
    demosaic : {'ppg', 'ahd', 'dht', 'aahd', 'vng', 'dcb', 'linear'}
        LibRaw's demosaicing algorithm for a RAW (:data:`l2tech.raw.decode.DEMOSAIC_ALGORITHMS`);
        ``ppg`` by default (AHD's quality at half its time, measured in ``docs/DEVELOP.md``).
    distortion_k1 : float, optional
        Manual distortion for a lens no profile knows (``--distortion k1``): lensfun's poly3
        ``k1`` (negative for barrel); replaces the profile lookup.
    auto_tca : bool
        Estimate lateral CA from the image itself
        (:func:`l2tech.calibrate.tca.estimate_tca_from_image`) and correct it instead of the
        profile's TCA.
    rotate_deg : float
        Straighten: turn the picture by this angle, degrees, counter-clockwise as seen
        (:func:`l2tech.optics.perspective.horizon_angle_deg` gives it from two horizon points).
    crop : str, optional
        Crop aspect preset (``"3:2"``, ``"4:3"``, ``"16:9"``, ``"1:1"``, ``"4:5"``, ``"original"``): the
        largest centred crop of that aspect inside the (straightened, keystoned) frame. With a
        rotation or keystone and no preset, the original aspect.
    keystone : tuple of float, optional
        Perspective control points ``x0, y0, x1, y1, ...`` (4, 6 or 8 points, lensfun's order;
        pixels of the file's stored grid): the lines they define become vertical/horizontal.
    denoise : float
        Noise reduction strength (0 = off, 1 = the tuned strength): on a Bayer mosaic before
        demosaicing (:func:`l2tech.raw.denoise.denoise_cfa`, the sensor's model per camera and
        ISO from :func:`l2tech.raw.denoise.cached_noise_model`); on other RAWs, on the decoded
        linear data (:func:`l2tech.raw.denoise.denoise`, the model estimated from the image).
    sharpen : float
        Capture sharpening amount (:func:`l2tech.correct.sharpen.unsharp_mask`; 0 = off,
        1 = the detail layer added once).
    sharpen_radius_px : float, optional
        The mask's σ in pixels; default from the f-number and the sensor's pixel pitch
        (:func:`l2tech.correct.sharpen.capture_sharpen_sigma`).
    sharpen_halo : float
        Halo control: largest overshoot beyond the local range, display-encoded units.
    auto_exposure : bool
        Add the exposure that puts the scene's log-average luminance on middle grey
        (:func:`l2tech.color.tone.auto_exposure_ev`) to ``exposure_ev``.
    """

    lens_correction: bool = True
    corrections: tuple[str, ...] = CORRECTIONS
    camera: str | None = None
    lens: str | None = None
    focal_length_mm: float | None = None
    f_number: float | None = None
    focus_distance_m: float | None = None
    exposure_ev: float = 0.0
    white_balance: str = "camera"
    output_space: str = "srgb"
    format: str = "jpeg"
    quality: int = 92
    bits: int | None = None
    scale: float | None = None
    interpolation: str = "bilinear"
    look: str | None = None
    lut: str | None = None
    lut_input: str = "sRGB/Rec.709"
    log_output: str | None = None
    profile: str | None = None
    profile_source: str | None = None
    projection: str | None = None
    tone: str = "filmic"
    tone_contrast: float | None = None
    tone_latitude_ev: float | None = None
    tone_white_ev: float | None = None
    tone_black_ev: float | None = None
    auto_exposure: bool = False
    highlights: str = "clip"
    demosaic: str = "ppg"
    distortion_k1: float | None = None
    auto_tca: bool = False
    rotate_deg: float = 0.0
    crop: str | None = None
    keystone: tuple[float, ...] | None = None
    denoise: float = 0.0
    sharpen: float = 0.0
    sharpen_radius_px: float | None = None
    sharpen_halo: float = 0.01
    force: bool = False
    vignetting_strength: float = 1.0

    def __post_init__(self) -> None:
        for name in ("exposure_ev", "scale", "focal_length_mm", "f_number", "focus_distance_m"):
            v = getattr(self, name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
                raise UsageError(f"{name} must be a number, got {v!r}")
            try:
                object.__setattr__(self, name, float(v))  # a float from here on (a huge int overflows here)
            except OverflowError:
                raise UsageError(f"{name} must be a finite number, got an integer of {len(str(v))} digits") from None
        if not isinstance(self.corrections, (tuple, list)) or not all(isinstance(c, str) for c in self.corrections):
            raise UsageError(f"corrections must be a list of names ({', '.join(CORRECTIONS)}), got {self.corrections!r}")
        bad = [c for c in self.corrections if c not in CORRECTIONS]
        if bad:
            raise UsageError(f"unknown correction(s) {', '.join(bad)}; valid: {', '.join(CORRECTIONS)}")
        if self.format not in ("jpeg", "tiff", "png"):
            raise UsageError(f"unknown format {self.format!r}; valid: jpeg, tiff, png")
        if self.projection is not None:
            from l2tech.optics.projection import validate_projection

            object.__setattr__(self, "projection", validate_projection(self.projection))
        if not (_finite(self.exposure_ev) and abs(self.exposure_ev) <= 16):
            raise UsageError(f"exposure must be a number of stops within ±16, got {self.exposure_ev}")
        if self.scale is not None and not (_finite(self.scale) and 0.1 <= self.scale <= 10):
            raise UsageError(f"scale must be between 0.1 and 10, got {self.scale}")
        if not (_finite(self.vignetting_strength) and 0.0 <= self.vignetting_strength <= 2.0):
            raise UsageError(f"vignetting strength must be between 0 and 2, got {self.vignetting_strength}")
        for name in ("focal_length_mm", "f_number", "focus_distance_m"):
            v = getattr(self, name)
            if v is not None and not (_finite(v) and v > 0):
                raise UsageError(f"{name} must be a positive number, got {v}")
            if v is not None and v > _LENS_NUMBER_MAX[name]:
                raise UsageError(f"{name} must be at most {_LENS_NUMBER_MAX[name]:g}, got {v:g} ({_LENS_NUMBER_WHY[name]})")

        self.tone_curve()  # validates the tone settings
        if isinstance(self.quality, bool) or not isinstance(self.quality, int) or not 1 <= self.quality <= 100:
            raise UsageError(f"JPEG quality must be a whole number 1-100, got {self.quality!r}")
        if self.look is not None:
            from l2tech.color.looks import check_look_name

            check_look_name(str(self.look))
        for name in ("log_output", "lut_input"):  # encoding/gamut names: checked before any input
            if getattr(self, name):
                from l2tech.color import parse_color_space

                try:
                    parse_color_space(str(getattr(self, name)))
                except UsageError as exc:
                    raise UsageError(f"{name}: {exc}") from None
        if self.lut is not None:
            from l2tech.color.lut_io import format_for_path

            format_for_path(str(self.lut))  # a known LUT extension, before any work (the file is read when used)
        if not (_finite(self.denoise) and 0 <= self.denoise <= 4):
            raise UsageError(f"denoise strength must be 0-4, got {self.denoise}")
        if not (_finite(self.sharpen) and 0 <= self.sharpen <= 5) or not (0 <= self.sharpen_halo <= 1):
            raise UsageError(f"sharpen must be 0-5 and sharpen_halo 0-1, got {self.sharpen}, {self.sharpen_halo}")
        if self.sharpen_radius_px is not None and not (_finite(self.sharpen_radius_px) and 0.2 <= self.sharpen_radius_px <= 10):
            raise UsageError(f"sharpen radius must be 0.2-10 pixels, got {self.sharpen_radius_px}")
        if self.distortion_k1 is not None and not (_finite(self.distortion_k1) and abs(self.distortion_k1) <= 0.5):
            raise UsageError(f"distortion k1 must be within ±0.5, got {self.distortion_k1}")
        if not (_finite(self.rotate_deg) and abs(self.rotate_deg) <= 45):
            raise UsageError(f"rotation must be within ±45 degrees, got {self.rotate_deg}")
        if self.keystone is not None:
            pts = tuple(float(v) for v in self.keystone)
            if len(pts) not in (8, 12, 16) or not all(_finite(x) for x in pts):
                raise UsageError(f"keystone needs 4, 6 or 8 points as x,y pairs (8, 12 or 16 numbers), got {len(pts)}")
            if max(abs(x) for x in pts) > KEYSTONE_MAX_PX:
                raise UsageError(f"keystone points are pixels of the image: each within ±{KEYSTONE_MAX_PX:g}, "
                                 f"got {max(pts, key=abs):g}")
            object.__setattr__(self, "keystone", pts)
        if self.crop is not None:
            from l2tech.optics.perspective import PerspectiveError, parse_aspect

            try:
                parse_aspect(self.crop, 3, 2)
            except PerspectiveError as exc:
                raise UsageError(str(exc)) from None
        from l2tech.raw.highlights import HIGHLIGHT_MODES

        if self.highlights not in HIGHLIGHT_MODES:
            raise UsageError(f"unknown highlight mode {self.highlights!r}; valid: {', '.join(HIGHLIGHT_MODES)}")
        from l2tech.raw.decode import DEMOSAIC_ALGORITHMS

        if self.demosaic not in DEMOSAIC_ALGORITHMS:
            raise UsageError(f"unknown demosaic algorithm {self.demosaic!r}; valid: {', '.join(DEMOSAIC_ALGORITHMS)}")

    def tone_curve(self) -> Any:
        """The :class:`l2tech.color.tone.FilmicCurve` of this recipe, or None (``tone="none"``).

        Raises
        ------
        UsageError
            Unknown tone curve or parameters out of range.
        """
        from l2tech.color.tone import tone_curve

        return tone_curve(self.tone, contrast=self.tone_contrast, latitude_ev=self.tone_latitude_ev,
                          white_ev=self.tone_white_ev, black_ev=self.tone_black_ev)

    def to_dict(self) -> dict[str, Any]:
        """The recipe as plain JSON-able data."""
        return dataclasses.asdict(self)



#: Extensions of a LUT file given as a look (``--look grade.cube``), read as a LUT.
LUT_SUFFIXES = (".cube", ".3dl", ".spi3d", ".spi1d", ".vlt", ".clf")


def check_recipe_files(recipe: Recipe, origin: str | dict[str, str] | None = None) -> None:
    """Read the look file, LUT file and lens-profile file a recipe names, once, before any input.

    The same files serve every input of a batch, so a file that cannot be used is one
    error before any work — as a bad ``--recipe`` is — not the same failure once per input.
    A look *name* is already checked by :class:`Recipe`; here a look file is parsed
    (:func:`l2tech.color.looks.load_look`, or :func:`l2tech.color.lut_io.read_lut` for a LUT
    extension), ``lut`` by :func:`~l2tech.color.lut_io.read_lut`, and ``profile`` by
    :func:`l2tech.profiles.sources.read_profiles` (which validates every lens in it). Whether
    the profile fits a given input (its lens, its camera) is still decided per input. A
    ``lens`` or ``camera`` name (without a profile file or source) that no shot could match is
    refused here too (:func:`l2tech.profiles.matching.check_override_names`).

    Parameters
    ----------
    recipe : Recipe
    origin : str or dict of str to str, optional
        Where the recipe's file settings came from (``"recipe wedding.toml"``), or that per
        field (``{"lut": "recipe wedding.toml"}``; a field not in it came from an option);
        added to the message of an error, as ``(look of recipe wedding.toml)``.

    Raises
    ------
    L2Error
        The error of the reader (``UsageError`` for a missing look file, ``LUTError``,
        ``InvalidProfileError``, ``InputNotFoundError`` ...), naming the file; ``UsageError``
        for a lens or camera name that matches nothing.
    """
    from pathlib import Path

    from l2tech.errors import L2Error

    for field in ("look", "lut", "profile"):
        value = getattr(recipe, field)
        if value is None:
            continue
        try:
            if field == "profile":
                from l2tech.profiles.sources import read_profiles

                read_profiles(value)
            elif field == "lut" or Path(str(value)).suffix.lower() in LUT_SUFFIXES:
                from l2tech.color.lut_io import read_lut

                read_lut(value)
            elif Path(str(value)).suffix.lower() in (".toml", ".json") or os.sep in str(value) or os.path.isfile(value):
                from l2tech.color.looks import load_look

                load_look(value)
        except L2Error as exc:
            where = origin.get(field) if isinstance(origin, dict) else origin
            if where is None:
                raise
            try:
                again = type(exc)(f"{exc.reason} ({field} of {where})", path=exc.path, line=exc.line)
            except TypeError:  # a subclass with its own signature: the error as it is
                raise exc from None
            raise again from None
    if (recipe.lens or recipe.camera) and recipe.profile is None and recipe.profile_source is None \
            and recipe.lens_correction and recipe.distortion_k1 is None:
        from l2tech.profiles.matching import check_override_names

        # a --lens / --camera that no shot could match: one usage error now, not one per input
        check_override_names(lens=recipe.lens, camera=recipe.camera)
