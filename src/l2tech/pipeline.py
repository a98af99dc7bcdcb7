"""The stills pipeline: the :class:`Recipe` and the develop / correct functions that run it.

Pipeline order (one documented order; ARCHITECTURE.md "The data that flows"):

1. decode — RAW through LibRaw to scene-linear RGB in the working space (linear ITU-R BT.2020,
   D65), sensor orientation; or a developed JPEG/TIFF/PNG decoded with its transfer function
   (from its ICC profile; sRGB when it has none) into the same working space;
2. exposure compensation — a gain of ``2**exposure_ev`` on linear data;
3. lens correction — vignetting gain, then TCA + distortion + scale in one remap
   (:func:`l2tech.correct.correct`), at the shot's focal length, f-number and focus distance;
4. orientation — the EXIF orientation applied to the pixels (and reset to 1 in the output);
5. look — an optional photo style and/or a user's LUT, on linear data (:mod:`l2tech.color`);
6. output transform — working space to the output space, gamut clip, encoding curve
   (:func:`l2tech.io.output.output_transform`), or a log encoding (``log_output``);
7. write — quantise, embed the output space's ICC profile, carry EXIF, atomic rename.

Nothing here is an algorithm of its own; each step calls the package that owns it.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from l2tech.errors import LensNotFoundError, UsageError

__all__ = [
    "Recipe",
    "CORRECTIONS",
    "DEFAULT_FOCUS_DISTANCE_M",
    "LensPlan",
    "DevelopResult",
    "plan_lens_correction",
    "develop",
    "develop_file",
    "correct_image",
    "correct_image_file",
    "is_raw_path",
    "output_path_for",
]

#: The corrections in pipeline order.
CORRECTIONS = ("vignetting", "tca", "distortion")

#: Focus distance used when the file does not give one (lensfun's own default: infinity).
DEFAULT_FOCUS_DISTANCE_M = 1000.0

RAW_FORMATS = {"dng", "cr2", "cr3", "crw", "nef", "arw", "rw2", "raf", "orf", "pef", "srw", "x3f", "mrw"}

RAW_SUFFIXES = {".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".rw2", ".raf", ".orf", ".pef",
                ".srw", ".x3f", ".mrw", ".3fr", ".iiq", ".rwl", ".erf", ".kdc", ".dcr", ".mos", ".gpr", ".raw"}


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
    log_output : str, optional
        Write log-encoded data instead of a display image (``--log-output V-Log`` or
        ``"V-Log/V-Gamut"``): the working data is converted to the gamut and encoded with the
        curve, no ICC profile is embedded.
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

    def __post_init__(self) -> None:
        bad = [c for c in self.corrections if c not in CORRECTIONS]
        if bad:
            raise UsageError(f"unknown correction(s) {', '.join(bad)}; valid: {', '.join(CORRECTIONS)}")
        if self.format not in ("jpeg", "tiff", "png"):
            raise UsageError(f"unknown format {self.format!r}; valid: jpeg, tiff, png")
        if self.projection is not None:
            from l2tech.optics.projection import validate_projection

            object.__setattr__(self, "projection", validate_projection(self.projection))
        if not (np.isfinite(self.exposure_ev) and abs(self.exposure_ev) <= 16):
            raise UsageError(f"exposure must be a number of stops within ±16, got {self.exposure_ev}")
        if self.scale is not None and not (np.isfinite(self.scale) and 0.1 <= self.scale <= 10):
            raise UsageError(f"scale must be between 0.1 and 10, got {self.scale}")
        for name in ("focal_length_mm", "f_number", "focus_distance_m"):
            v = getattr(self, name)
            if v is not None and not (np.isfinite(v) and v > 0):
                raise UsageError(f"{name} must be a positive number, got {v}")

    def to_dict(self) -> dict[str, Any]:
        """The recipe as plain JSON-able data."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class LensPlan:
    """What lens correction will do for one shot, and why.

    ``applied`` maps each correction to True/False; ``reasons`` says why one is skipped (or,
    for applied ones, any caveat); ``sources`` says where each shot parameter came from
    (``exif``, ``option``, ``lens`` for a prime's fixed focal length, ``default``).
    """

    camera: str | None
    lens: str | None
    profile: Any
    match: Any
    crop_factor: float | None
    focal_length_mm: float | None
    f_number: float | None
    focus_distance_m: float | None
    applied: dict[str, bool]
    reasons: dict[str, str]
    sources: dict[str, str]
    warnings: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        """JSON-able summary (used by ``--json`` and the CLI report)."""
        return {
            "camera": self.camera,
            "lens": self.lens,
            "match_method": getattr(self.match, "method", None),
            "match_score": getattr(self.match, "score", None),
            "crop_factor": self.crop_factor,
            "focal_length_mm": self.focal_length_mm,
            "f_number": self.f_number,
            "focus_distance_m": self.focus_distance_m,
            "corrections": {c: {"applied": self.applied[c], "reason": self.reasons.get(c, "")} for c in CORRECTIONS},
            "sources": dict(self.sources),
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class DevelopResult:
    """The result of developing or correcting one file (pixels are display-encoded)."""

    input: str
    image: np.ndarray
    metadata: Any
    plan: LensPlan
    output_space: str
    warnings: tuple[str, ...] = ()
    output: str | None = None
    icc_profile: bytes | None = None
    bits: int | None = None
    dng_opcodes: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        """JSON-able summary of the job."""
        h, w = self.image.shape[:2]
        return {"input": self.input, "output": self.output, "size": [w, h], "output_space": self.output_space,
                "lens": self.plan.summary(), "dng_opcodes": list(self.dng_opcodes), "warnings": list(self.warnings)}


def _no_lens_plan(reason: str, *, camera=None, lens=None, crop=None, warnings=(), sources=None) -> LensPlan:
    return LensPlan(camera, lens, None, None, crop, None, None, None, {c: False for c in CORRECTIONS},
                    {c: reason for c in CORRECTIONS}, sources or {}, tuple(warnings))


def plan_lens_correction(meta: Any, recipe: Recipe, *, db: Any = None) -> LensPlan:
    """Decide which lens corrections to apply to a shot, with the reasons.

    Parameters
    ----------
    meta : l2tech.io.metadata.ShotMetadata
    recipe : Recipe
    db : l2tech.profiles.lensfun_xml.LensDatabase, optional
        Default: :func:`l2tech.profiles.lensfun_xml.load_database`.

    Returns
    -------
    LensPlan

    Notes
    -----
    When the lens is not in the database or the match is ambiguous (a name that gives only a
    focal range), no correction is applied and the plan carries a warning listing the
    candidates and how to choose with ``--lens`` (RELIABILITY.md case 21).

    Missing shot parameters (RELIABILITY.md case 22): a missing focal length is taken from a
    prime lens's fixed focal length; for a zoom, distortion and TCA are skipped with a reason
    asking for ``--focal-length``. A missing f-number skips vignetting (it depends on the
    aperture) with a reason asking for ``--f-number``. A missing focus distance uses
    :data:`DEFAULT_FOCUS_DISTANCE_M` (lensfun's default), which only affects vignetting weights.
    """
    from l2tech.profiles.matching import match_lens

    if not recipe.lens_correction:
        return _no_lens_plan("lens correction switched off (--no-lens-correction)")
    if recipe.profile or recipe.profile_source:
        from l2tech.profiles.sources import choose_profile

        choice = choose_profile(meta, profile_file=recipe.profile, profile_source=recipe.profile_source, db=db,
                                camera=recipe.camera, lens=recipe.lens)
        if choice.profile is None:
            raise LensNotFoundError(f"no lens profile from {recipe.profile_source or 'the given file'}: " + "; ".join(choice.tried),
                                    path=getattr(meta, "path", None))
        return _plan_for_profile(meta, recipe, choice.profile, choice.match, db, source=choice.source, warnings=())
    try:  # a file that names no lens still matches a fixed-lens compact through its body
        m = match_lens(meta, db, camera=recipe.camera, lens=recipe.lens)
    except LensNotFoundError as exc:
        if recipe.lens or recipe.camera:  # an explicit --lens/--camera that matches nothing is an error
            raise
        # RELIABILITY.md case 21: develop without lens correction, with a clear warning that lists
        # the candidates and how to choose (the matcher's message says it).
        reason = getattr(exc, "reason", str(exc))
        return _no_lens_plan(reason, camera=_camera_name(meta), warnings=(f"lens correction skipped: {reason}",))
    profile = m.lens
    if profile is None:
        raise LensNotFoundError(f"no lens profile for {getattr(meta, 'lens_model', None) or getattr(meta, 'lens_id', '')!r}",
                                path=getattr(meta, "path", None))
    return _plan_for_profile(meta, recipe, profile, m, db, source="database", warnings=tuple(getattr(m, "warnings", ())))


def _plan_for_profile(meta: Any, recipe: Recipe, profile: Any, m: Any, db: Any, *, source: str, warnings: tuple[str, ...]) -> LensPlan:
    from l2tech.profiles.matching import camera_name

    crop = (getattr(m, "crop_factor", None) if m is not None else None) or getattr(meta, "crop_factor", None) or profile.crop_factor
    warns = list(warnings)
    sources: dict[str, str] = {"profile": source}
    applied = {c: c in recipe.corrections for c in CORRECTIONS}
    reasons = {c: "" if applied[c] else "not requested (--only)" for c in CORRECTIONS}

    focal = recipe.focal_length_mm
    sources["focal_length_mm"] = "option"
    if focal is None:
        focal = getattr(meta, "focal_length_mm", None) or None
        sources["focal_length_mm"] = "exif"
    if focal is None and profile.focal_min_mm and profile.focal_min_mm == profile.focal_max_mm:
        focal = profile.focal_min_mm
        sources["focal_length_mm"] = "lens (prime)"
    calib_focals = {c.focal_length_mm for c in profile.distortion}
    if focal is None and len(calib_focals) == 1:  # one calibration point (a file profile): it applies as is
        focal = next(iter(calib_focals)) or 1.0  # pixel-based models carry no focal length: any value picks the point
        sources["focal_length_mm"] = "profile (single calibration)"
    if focal is None:
        sources["focal_length_mm"] = "missing"
        for c in ("tca", "distortion", "vignetting"):
            if applied[c]:
                applied[c] = False
                reasons[c] = "focal length unknown (not in EXIF, zoom lens); pass --focal-length MM"

    fnum = recipe.f_number
    sources["f_number"] = "option"
    if fnum is None:
        fnum = getattr(meta, "f_number", None) or None
        sources["f_number"] = "exif" if fnum else "missing"
    if fnum is None and applied["vignetting"]:
        applied["vignetting"] = False
        reasons["vignetting"] = "f-number unknown (not in EXIF); pass --f-number N"

    dist = recipe.focus_distance_m
    sources["focus_distance_m"] = "option"
    if dist is None:
        dist = getattr(meta, "focus_distance_m", None) or None
        sources["focus_distance_m"] = "exif"
    if dist is None:
        dist = DEFAULT_FOCUS_DISTANCE_M
        sources["focus_distance_m"] = "default (infinity)"

    if focal is not None:
        from l2tech.profiles.interpolate import interpolate

        cal = interpolate(profile, focal, fnum, dist)
        for c, attr in (("distortion", "distortion"), ("tca", "tca"), ("vignetting", "vignetting")):
            if applied[c] and getattr(cal, attr) is None:
                applied[c] = False
                reasons[c] = {"vignetting": "the profile has no vignetting data near these settings",
                              "tca": "the profile has no TCA data", "distortion": "the profile has no distortion data"}[c]
    return LensPlan(
        camera=_camera_name(meta) if m is None or m.camera is None else camera_name(m.camera),
        lens=profile.name, profile=profile, match=m, crop_factor=crop, focal_length_mm=focal, f_number=fnum,
        focus_distance_m=dist, applied=applied, reasons=reasons, sources=sources, warnings=tuple(warns),
    )


#: DNG opcodes that are lens corrections, by the correction they stand for.
_EMBEDDED_LENS_OPCODES = {
    "OpcodeList3:WarpRectilinear": ("distortion", "tca"),
    "OpcodeList3:WarpFisheye": ("distortion", "tca"),
    "OpcodeList3:FixVignetteRadial": ("vignetting",),
    "OpcodeList2:GainMap": ("vignetting",),
}


def _skip_embedded_corrections(plan: LensPlan, opcodes_applied: tuple[str, ...]) -> LensPlan:
    """Do not correct again what the DNG's own opcodes (applied at decode) already corrected."""
    done: dict[str, str] = {}
    for op in opcodes_applied:
        for c in _EMBEDDED_LENS_OPCODES.get(op, ()):
            done.setdefault(c, op)
    if not done:
        return plan
    applied, reasons = dict(plan.applied), dict(plan.reasons)
    for c, op in done.items():
        if applied.get(c) or not plan.profile:
            applied[c] = False
            reasons[c] = (f"corrected by the file's own DNG opcode {op.split(':')[1]} ({op.split(':')[0]}); "
                          "--profile-source database uses the lensfun profile instead")
    return dataclasses.replace(plan, applied=applied, reasons=reasons)


def _camera_name(meta: Any) -> str | None:
    make, model = getattr(meta, "make", None), getattr(meta, "model", None)
    if not model:
        return None
    return model if make and model.lower().startswith(make.split()[0].lower()) else f"{make or ''} {model}".strip()


def _apply_lens(image: np.ndarray, plan: LensPlan, recipe: Recipe) -> np.ndarray:
    if not any(plan.applied.values()) and not (recipe.projection and plan.profile is not None):
        return image
    from l2tech.correct import correct

    return correct(
        image, plan.profile, plan.focal_length_mm, plan.f_number, plan.focus_distance_m,
        crop_factor=plan.crop_factor, vignetting=plan.applied["vignetting"], tca=plan.applied["tca"],
        distortion=plan.applied["distortion"], scale=recipe.scale, interpolation=recipe.interpolation,
        projection=recipe.projection,
    )


def _apply_look(image: np.ndarray, recipe: Recipe) -> np.ndarray:
    """Look and/or LUT on working-space linear data (l2tech.color; scene-linear in and out)."""
    if not (recipe.look or recipe.lut):
        return image
    from l2tech.color import apply_look, lut_look, parse_color_space

    if recipe.look:
        image = apply_look(image, recipe.look, working_space="Rec.2020")
    if recipe.lut:
        enc, gamut = parse_color_space(recipe.lut_input)
        image = apply_look(image, lut_look(recipe.lut, input_encoding=enc, input_gamut=gamut), working_space="Rec.2020")
    return image


def _encode_output(image: np.ndarray, recipe: Recipe, space: str) -> tuple[np.ndarray, str, bytes | None]:
    """Output transform: display space with its ICC profile, or a log encoding (no ICC)."""
    from l2tech.io.icc import icc_profile
    from l2tech.io.output import output_transform

    if recipe.log_output:
        from l2tech.color import encode_output, parse_color_space

        enc, gamut = parse_color_space(recipe.log_output)
        x = encode_output(np.ascontiguousarray(image), f"{enc}/{gamut}", working_space="Rec.2020")
        return np.clip(x, 0.0, 1.0).astype(np.float32), f"{enc}/{gamut}", None
    return output_transform(np.ascontiguousarray(image), space), space, icc_profile(space)


def _read_meta(path: Path) -> tuple[Any, list[str]]:
    from l2tech.errors import InputNotFoundError
    from l2tech.io.metadata import read_metadata

    if not path.is_file():
        raise InputNotFoundError("file not found" if not path.exists() else "not a file", path=path)

    meta = read_metadata(path)
    return meta, list(getattr(meta, "warnings", ()))


def develop(path: str | os.PathLike, recipe: Recipe = Recipe(), *, db: Any = None) -> DevelopResult:
    """Develop a RAW file: decode, exposure, lens correction, orientation, look, output transform.

    Parameters
    ----------
    path : path-like
        A RAW file LibRaw decodes.
    recipe : Recipe
    db : LensDatabase, optional

    Returns
    -------
    DevelopResult
        ``image`` is display-encoded float32 ``(H, W, 3)`` in ``recipe.output_space``, upright.

    Raises
    ------
    L2Error
        Typed errors from decoding (EmptyFileError, UnsupportedFormatError, CorruptInputError,
        LimitExceededError, DecodeError) and matching (LensNotFoundError).
    """
    from l2tech.io.image import apply_orientation
    from l2tech.raw.decode import decode_raw

    p = Path(path)
    meta, warns = _read_meta(p)
    # DNG opcode lists 1-3 are applied during decode (the DNG's own correction). When the user
    # asks for another profile source, list 3 (the lens warps/vignetting) is left out so the lens
    # is not corrected twice.
    dng_lists = (1, 2) if (recipe.profile or recipe.profile_source) else (1, 2, 3)
    raw = decode_raw(p, white_balance=recipe.white_balance, dng_opcodes=dng_lists)
    warns += list(raw.warnings)
    plan = _skip_embedded_corrections(plan_lens_correction(meta, recipe, db=db), raw.opcodes_applied)
    image = raw.image
    if recipe.exposure_ev:
        image = image * np.float32(2.0**recipe.exposure_ev)
    image = _apply_lens(image, plan, recipe)
    image = apply_orientation(image, raw.orientation if raw.orientation != 1 else getattr(meta, "orientation", 1))
    image = _apply_look(image, recipe)
    encoded, space, icc = _encode_output(image, recipe, recipe.output_space)
    return DevelopResult(str(p), encoded, meta, plan, space, tuple(warns + list(plan.warnings)), icc_profile=icc,
                         dng_opcodes=tuple(raw.opcodes_applied))


def _icc_ok(icc: bytes) -> bool:
    """True when LittleCMS can parse the ICC profile."""
    import io

    from PIL import ImageCms

    try:
        ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return True
    except (OSError, ImageCms.PyCMSError, ValueError):
        return False


def _space_from_icc(icc: bytes | None) -> str:
    """Output-space name of an embedded ICC profile (by its description), sRGB by default."""
    if not icc:
        return "srgb"
    from l2tech.io.icc import OUTPUT_SPACES, icc_profile

    for name in OUTPUT_SPACES:
        if icc == icc_profile(name):
            return name
    text = icc[:4096].decode("latin-1").lower()
    if "p3" in text:
        return "display-p3"
    if "2020" in text:
        return "rec2020"
    if "adobe rgb" in text or "adobergb" in text:
        return "adobe-rgb"
    return "srgb"


def correct_image(path: str | os.PathLike, recipe: Recipe = Recipe(), *, db: Any = None) -> DevelopResult:
    """Lens-correct a developed JPEG/TIFF/PNG: linearise with its transfer function, correct, re-encode.

    The image is linearised with the curve of its embedded ICC profile's space (sRGB when it
    has none), corrected in linear light, and re-encoded in the same space; the original ICC
    profile is kept. Raises as :func:`develop`.
    """
    from l2tech.io.image import apply_orientation, read_image
    from l2tech.io.output import output_to_working

    from l2tech.errors import UnsupportedFormatError
    from l2tech.io.formats import sniff_format

    from l2tech.errors import InputNotFoundError

    p = Path(path)
    if not p.is_file():
        raise InputNotFoundError("file not found" if not p.exists() else "not a file", path=p)
    kind = sniff_format(p)
    if kind not in ("jpeg", "tiff", "png"):
        hint = "; use `l2 develop` for RAW files" if kind in RAW_FORMATS else ""
        raise UnsupportedFormatError(f"not a developed image (the file is {kind.upper()}){hint}", path=p)
    meta, warns = _read_meta(p)
    dec = read_image(p)
    if dec.icc_profile and not _icc_ok(dec.icc_profile):
        warns.append(f"{p}: embedded ICC profile is corrupt; dropped, pixels read as sRGB")
        dec = dataclasses.replace(dec, icc_profile=None)
    space = _space_from_icc(dec.icc_profile)
    image = output_to_working(dec.pixels, space)
    plan = plan_lens_correction(meta, recipe, db=db)
    if plan.applied.get("distortion") and plan.profile is not None and "Micro 4/3 System" in plan.profile.mounts and dec.format == "jpeg":
        warns.append(f"{p}: Micro Four Thirds cameras usually correct distortion in their own JPEGs; if lines now bend "
                     "the other way, use --only vignetting,tca (lensfun profiles describe the RAW image)")
    if recipe.exposure_ev:
        image = image * np.float32(2.0**recipe.exposure_ev)
    image = _apply_lens(image, plan, recipe)
    image = apply_orientation(image, getattr(meta, "orientation", 1))
    image = _apply_look(image, recipe)
    encoded, out_space, icc = _encode_output(image, recipe, space)
    return DevelopResult(str(p), encoded, meta, plan, out_space, tuple(warns + list(plan.warnings)),
                         icc_profile=dec.icc_profile if icc is not None else None, bits=dec.bits if dec.bits in (8, 16) else 16)


def output_path_for(path: str | os.PathLike, output: str | os.PathLike | None, fmt: str, *, many: bool) -> Path:
    """Where the output of ``path`` goes: a folder (``-o DIR/`` or several inputs), a file, or beside the input."""
    from l2tech.io.image import IMAGE_FORMATS

    p = Path(path)
    ext = IMAGE_FORMATS[fmt]
    if output is None:
        return p.with_name(p.stem + "_l2" + ext)
    o = Path(output)
    if o.is_dir() or str(output).endswith(os.sep) or many:
        return o / (p.stem + ext)
    return o


def _write(result: DevelopResult, out: Path, recipe: Recipe, *, overwrite: bool, fmt: str) -> list[str]:
    from l2tech.io.image import write_image

    plan = result.plan
    meta = result.metadata
    overrides: dict[str, str] = {}
    # the source's own lens name is kept; a lens the file does not name (D30 "16-35mm", --lens)
    # is written so the image still says which lens it was corrected for
    if plan.lens and not getattr(meta, "lens_model", None) and getattr(plan.match, "method", "override") in ("exact", "alias", "override", "fixed"):
        overrides["Exif.Photo.LensModel"] = plan.lens
        if plan.profile is not None and plan.profile.maker:
            overrides["Exif.Photo.LensMake"] = plan.profile.maker
    if plan.lens and recipe.lens and getattr(meta, "lens_model", None) != plan.lens:
        overrides["Exif.Photo.LensModel"] = plan.lens  # the user named the lens: say so
    defaults: dict[str, str] = {}
    focal, fnum = getattr(meta, "focal_length_mm", None), getattr(meta, "f_number", None)
    if focal:  # e.g. a CRW's focal length, read from its maker notes
        defaults["Exif.Photo.FocalLength"] = f"{round(focal * 100)}/100"
    if fnum:
        defaults["Exif.Photo.FNumber"] = f"{round(fnum * 100)}/100"
    bits = recipe.bits or (result.bits if fmt != "jpeg" and result.bits else None)
    return write_image(out, result.image, format=fmt, quality=recipe.quality, bits=bits, icc_profile=result.icc_profile,
                       exif_source=result.input, exif_overrides=overrides, exif_defaults=defaults, overwrite=overwrite)


def develop_file(path: str | os.PathLike, output: str | os.PathLike, recipe: Recipe = Recipe(), *, overwrite: bool = False,
                 db: Any = None) -> DevelopResult:
    """:func:`develop` then write ``output`` atomically (ICC embedded, EXIF carried, orientation 1)."""
    res = develop(path, recipe, db=db)
    w = _write(res, Path(output), recipe, overwrite=overwrite, fmt=recipe.format)
    return dataclasses.replace(res, output=str(output), warnings=res.warnings + tuple(w))


def correct_image_file(path: str | os.PathLike, output: str | os.PathLike, recipe: Recipe = Recipe(), *, overwrite: bool = False,
                       db: Any = None, fmt: str | None = None) -> DevelopResult:
    """:func:`correct_image` then write ``output`` atomically, in the input's format unless ``fmt`` is given."""
    res = correct_image(path, recipe, db=db)
    by_suffix = {".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff", ".png": "png"}
    fmt = fmt or by_suffix.get(Path(output).suffix.lower()) or _sniff_format(path)
    w = _write(res, Path(output), recipe, overwrite=overwrite, fmt=fmt)
    return dataclasses.replace(res, output=str(output), warnings=res.warnings + tuple(w))


def _sniff_format(path: str | os.PathLike) -> str:
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return "tiff"


def is_raw_path(path: str | os.PathLike) -> bool:
    """True when the file name has a RAW extension (the format itself is checked from magic bytes later)."""
    return Path(path).suffix.lower() in RAW_SUFFIXES


