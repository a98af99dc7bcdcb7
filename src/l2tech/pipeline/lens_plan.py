"""The per-shot lens plan: metadata + profile + recipe → a :class:`LensPlan`.

Everything lens-related that depends on the shot (which profile, which corrections and why, the
focal length / f-number / focus distance used and where each came from) is decided here once;
the stills and video jobs only read the plan.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from l2tech.errors import LensNotFoundError
from l2tech.pipeline.recipe import CORRECTIONS, DEFAULT_FOCUS_DISTANCE_M, Recipe

__all__ = ["LensPlan", "plan_lens_correction", "frame_in_capture", "skip_embedded_corrections", "skip_corrections_done", "camera_display_name"]

#: Formats whose pixels a camera or converter already processed (lens correction included).
DEVELOPED_FORMATS = frozenset({"jpeg", "tiff", "png", "heif"})
#: Micro Four Thirds makers whose bodies correct their lenses' distortion in every JPEG
#: (the lens sends its correction data; the system requires it).
_MFT_MAKERS = ("olympus", "om digital", "panasonic", "leica")
_FUJI_MAKERS = ("fujifilm",)

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
            # a focal length that only picks a focal-free profile's one calibration (manual
            # --distortion, a pixel-based model) is not the lens's: not reported
            "focal_length_mm": None if self.sources.get("focal_length_mm") == _PLACEHOLDER_FOCAL else self.focal_length_mm,
            "f_number": self.f_number,
            "focus_distance_m": self.focus_distance_m,
            "corrections": {c: {"applied": self.applied[c], "reason": self.reasons.get(c, "")} for c in CORRECTIONS},
            "sources": dict(self.sources),
            "warnings": list(self.warnings),
        }




def _no_lens_plan(reason: str, *, camera=None, lens=None, crop=None, warnings=(), sources=None) -> LensPlan:
    return LensPlan(camera, lens, None, None, crop, None, None, None, {c: False for c in CORRECTIONS},
                    {c: reason for c in CORRECTIONS}, sources or {}, tuple(warnings))


def crop_after_capture(meta: Any, crop_factor: float | None) -> float | None:
    """The crop factor of a frame cropped after capture (XMP ``crs:Crop*`` recorded), or None.

    ``crop_factor`` is the captured frame's; the crop keeps the pixel pitch, so its crop factor
    grows by the ratio of the diagonals. lensfun measures frames between pixel centres
    (``W - 1``, ``H - 1``), so the diagonals are taken so. None without a recorded crop, a size
    or ``crop_factor``.
    """
    import math

    W, H = getattr(meta, "width", None), getattr(meta, "height", None)
    rect = getattr(meta, "crop_rect", None)
    if not (rect and W and H and crop_factor):
        return None
    left, top, right, bottom = rect
    return crop_factor * math.hypot(W / (right - left) - 1, H / (bottom - top) - 1) / math.hypot(W - 1, H - 1)


def frame_in_capture(meta: Any, profile: Any, crop_factor: float | None) -> tuple[Any, float | None, str]:
    """Where a frame cropped after capture sits in the captured one: its crop factor, the lens centre.

    Parameters
    ----------
    meta : ShotMetadata
        ``width, height``, ``crop_rect`` (XMP ``crs:Crop*``) and ``recorded_size`` (EXIF
        ``PixelXDimension``/``PixelYDimension`` that differ from the pixels, or the maker
        note's full image size; ``recorded_size_source`` names which, in the warning).
    profile : LensProfile
    crop_factor : float or None
        The captured frame's crop factor.

    Returns
    -------
    (LensProfile, float or None, str)
        With a recorded crop ``(L, T, R, B)`` of a ``W × H`` frame: the crop factor times
        ``hypot(W / (R − L) − 1, H / (B − T) − 1) / hypot(W − 1, H − 1)`` (the frame's diagonal
        is that much smaller than the sensor's, both between pixel centres as lensfun measures), and for a lensfun profile the lens centre moved to the
        captured frame's centre: ``((0.5 − L) / (R − L) − 0.5) · W`` px right of the frame's
        centre (likewise down), in lensfun units ``center_x = Δx · norm_scale``
        (:class:`l2tech.optics.lensfun.LensfunNormalization`); a note saying so. Without a
        recorded offset, a frame smaller than ``recorded_size`` gives a warning (cropped or
        resized after capture: a crop is corrected as if its centre were the lens's). Otherwise
        the inputs unchanged and ``""``.

    References
    ----------
    Adobe Camera Raw XMP schema (``crs:CropLeft`` … ``crs:CropBottom``, 0..1 of the captured
    frame); lensfun ``libs/lensfun/modifier.cpp`` (the centre offset in normalised units).
    """
    W, H = getattr(meta, "width", None), getattr(meta, "height", None)
    rect = getattr(meta, "crop_rect", None)
    new_crop = crop_after_capture(meta, crop_factor)
    if new_crop is not None:
        from l2tech.profiles.interpolate import profile_family

        left, top, right, bottom = rect
        fw, fh = right - left, bottom - top
        dx, dy = ((0.5 - left) / fw - 0.5) * W, ((0.5 - top) / fh - 0.5) * H
        where = f"{fw:.0%} x {fh:.0%} of the captured frame, from ({left:.3f}, {top:.3f}) (XMP crs:Crop*)"
        if profile_family(profile) != "lensfun":
            return profile, crop_factor, (f"the frame is a crop made after capture ({where}); this profile's model cannot "
                                          "move its centre: corrected about the frame's centre")
        from l2tech.optics.lensfun import LensfunNormalization

        ns = LensfunNormalization(int(W), int(H), new_crop, profile.crop_factor, profile.aspect_ratio).norm_scale
        moved = dataclasses.replace(profile, center_x=profile.center_x + dx * ns, center_y=profile.center_y + dy * ns)
        return moved, new_crop, (f"the frame is a crop made after capture ({where}): corrected about the lens centre at "
                                 f"({(W - 1) / 2 + dx:.1f}, {(H - 1) / 2 + dy:.1f}) px, crop factor {new_crop:.3g}")
    rec = getattr(meta, "recorded_size", None)
    if rec and W and H and (W < rec[0] or H < rec[1]):
        return profile, crop_factor, (
            f"the frame ({W}x{H}) is smaller than the camera's ({rec[0]}x{rec[1]}, "
            f"{getattr(meta, 'recorded_size_source', None) or 'EXIF PixelXDimension'}): cropped or "
            "resized after capture, and no crop offset is recorded; a crop is corrected as if its centre were the "
            "lens's and its field the camera's (correct the uncropped file, or keep XMP crs:Crop*)")
    return profile, crop_factor, ""


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

    if not recipe.lens_correction:
        return _no_lens_plan("lens correction switched off (--no-lens-correction)")
    if recipe.distortion_k1 is not None:
        return _plan_for_profile(meta, recipe, manual_profile(meta, recipe), None, db, source="manual (--distortion)",
                                 warnings=())
    if recipe.profile or recipe.profile_source:
        from l2tech.profiles.sources import choose_profile

        choice = choose_profile(meta, profile_file=recipe.profile, profile_source=recipe.profile_source, db=db,
                                camera=recipe.camera, lens=recipe.lens)
        if choice.profile is None:
            raise LensNotFoundError(f"no lens profile from {recipe.profile_source or 'the given file'}: " + "; ".join(choice.tried),
                                    path=getattr(meta, "path", None))
        return _plan_for_profile(meta, recipe, choice.profile, choice.match, db, source=choice.source, warnings=(),
                                 body_crop=True)
    from l2tech.profiles.sources import match_shot

    try:  # a file that names no lens still matches a fixed-lens compact through its body
        # the one decision `l2 lens match` shows too (user folders over the database, then the
        # shot's own correction data)
        m = match_shot(_with_overrides(meta, recipe), db, camera=recipe.camera, lens=recipe.lens)
    except LensNotFoundError as exc:
        if recipe.lens or recipe.camera:  # an explicit --lens/--camera that matches nothing is an error
            raise
        # RELIABILITY.md case 21: develop without lens correction, with a clear warning that lists
        # the candidates and how to choose (the matcher's message says it).
        reason = getattr(exc, "reason", str(exc))
        return _no_lens_plan(reason, camera=camera_display_name(meta), warnings=(f"lens correction skipped: {reason}",))
    profile = m.lens
    if profile is None:
        raise LensNotFoundError(f"no lens profile for {getattr(meta, 'lens_model', None) or getattr(meta, 'lens_id', '')!r}",
                                path=getattr(meta, "path", None))
    from l2tech.profiles.matching import profile_source_kind

    return _plan_for_profile(meta, recipe, profile, m, db, source=profile_source_kind(profile),
                             warnings=tuple(getattr(m, "warnings", ())))


def _body_crop_factor(meta: Any, db: Any) -> float | None:
    """The crop factor a frame of the file's body is planned at: the body's from the lensfun
    camera database (what ``l2 info`` shows as planned), or the file's own where it says a crop
    mode (:func:`~l2tech.profiles.matching.frame_crop_factor`, the rule of a database match);
    None when the file names no body the database knows."""
    from l2tech.profiles.matching import shot_body

    return shot_body(meta, db)[1]


def _plan_for_profile(meta: Any, recipe: Recipe, profile: Any, m: Any, db: Any, *, source: str, warnings: tuple[str, ...],
                      body_crop: bool = False) -> LensPlan:
    from l2tech.profiles.matching import camera_name

    # the frame's crop: the match's (the body the database matched); for a profile chosen by file
    # or source, which matched no body, the body's from the camera database by the same rule (a
    # small-sensor profile on a larger body is then planned, and warned about, at the body's crop
    # instead of silently at the profile's; the file's own only for a crop mode: an integer
    # FocalLengthIn35mmFilm, 10 for 10.5 mm on a D800, is no crop of 0.952); then the file's own
    # (no body known), and last the profile's
    crop = ((getattr(m, "crop_factor", None) if m is not None else None)
            or (_body_crop_factor(meta, db) if body_crop else None) or getattr(meta, "crop_factor", None)
            or profile.crop_factor)
    warns = list(warnings)
    profile, crop, note = frame_in_capture(meta, profile, crop)
    if note:
        warns.append(note)
    from l2tech.optics.opencv import check_calibration_frame

    # a pixel-calibrated profile of another aspect ratio is refused here, before any work, by the
    # rule the warp applies (and `l2 lens match` shows), whichever corrections end up applied
    check_calibration_frame(profile, getattr(meta, "width", None), getattr(meta, "height", None))
    sources: dict[str, str] = {"profile": source, "profile_origin": getattr(profile, "source", "") or ""}
    applied = {c: c in recipe.corrections for c in CORRECTIONS}
    reasons = {c: "" if applied[c] else "not requested (--only)" for c in CORRECTIONS}
    if applied["vignetting"] and getattr(recipe, "vignetting_strength", 1.0) == 0:
        # gain ** 0 = 1: no correction is made, and the record must not say one was
        applied["vignetting"], reasons["vignetting"] = False, "--vignetting-strength 0"

    focal = recipe.focal_length_mm
    sources["focal_length_mm"] = "option"
    if focal is None:
        focal = getattr(meta, "focal_length_mm", None) or None
        sources["focal_length_mm"] = "exif"
    if focal is None and profile.focal_min_mm and profile.focal_min_mm == profile.focal_max_mm:
        focal = profile.focal_min_mm
        # a manual --distortion profile made without a focal length holds a placeholder
        sources["focal_length_mm"] = _PLACEHOLDER_FOCAL if profile.extra.get("focal_placeholder") else "lens (prime)"
    calib_focals = {c.focal_length_mm for c in profile.distortion}
    if focal is None and len(calib_focals) == 1:  # one calibration point (a file profile): it applies as is
        focal = next(iter(calib_focals)) or 1.0  # pixel-based models carry no focal length: any value picks the point
        sources["focal_length_mm"] = "profile (single calibration)" if next(iter(calib_focals)) else _PLACEHOLDER_FOCAL
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
        reasons["vignetting"] = ("the profile has no vignetting data" if not profile.vignetting
                                 else "f-number unknown (not in EXIF); pass --f-number N")

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
                reasons[c] = {"vignetting": ("the profile has no vignetting data near these settings" if profile.vignetting
                                             else "the profile has no vignetting data"),
                              "tca": "the profile has no TCA data", "distortion": "the profile has no distortion data"}[c]
    if applied["vignetting"] and profile.crop_factor and crop and crop < profile.crop_factor * 0.96 and \
            any(v.model == "pa" for v in profile.vignetting):
        # lensfun pa: r = 1 at the calibration sensor's corner; this frame reaches r = c_prof / c
        reasons["vignetting"] = (f"profile measured on a smaller sensor (crop {profile.crop_factor:g}) than this "
                                 f"camera's (crop {crop:g}): the gain is held at its value at the profile's corner "
                                 f"beyond it (radius {profile.crop_factor / crop:.2f}x); --vignetting-strength 0..1 "
                                 "lowers the correction")
        warns.append(f"vignetting: {reasons['vignetting']}")
    # a missing focal length or f-number the plan already gives as a correction's reason is said
    # once, there (the matcher's warning said it a second time)
    said = " ".join(reasons.values())
    warns = [w for w in warns if not (w.startswith("f-number missing from the metadata") and "f-number unknown" in said)
             and not (w.startswith("focal length missing from the metadata") and "focal length unknown" in said)]
    body = m.camera if m is not None and m.camera is not None else _database_body(meta, db)
    plan = LensPlan(
        camera=camera_name(body) if body is not None else camera_display_name(meta),
        lens=profile.name, profile=profile, match=m, crop_factor=crop, focal_length_mm=focal, f_number=fnum,
        focus_distance_m=dist, applied=applied, reasons=reasons, sources=sources, warnings=tuple(warns),
    )
    return plan if recipe.force else skip_corrections_done(plan, meta, db=db)


def _body_corrects_jpeg(meta: Any, plan: LensPlan, db: Any = None) -> str | None:
    """Why this body is known to correct distortion in its own JPEGs, or None.

    Micro Four Thirds bodies correct the distortion of native lenses in every JPEG (the lens
    sends its correction data); Fujifilm X bodies do the same for their X-mount lenses; a
    fixed-lens compact corrects its lens in its JPEGs (lensfun's compact profiles describe
    the RAW image). A RAW converter's JPEG is judged by the converter's own record instead,
    except Adobe's, which always applies the Micro Four Thirds lens data.

    A profile given as a file (``--profile``: Gyroflow, LCP, OpenCV, a lensfun XML without
    mounts) names no mount: the body's mount from the camera database stands in for it, so
    the rules hold for it too, and the reason says how ``--force`` serves a profile that was
    calibrated on the camera's own JPEGs or an adapted lens.
    """
    profile, m = plan.profile, plan.match
    mounts = tuple(getattr(profile, "mounts", ()) or ())
    make = (getattr(meta, "make", None) or "").lower()
    from_file = not str(plan.sources.get("profile", "")).startswith("manual")  # --distortion k1 is the user's own number
    if from_file and (not mounts or mounts == ("Generic",)):  # "Generic": `l2 lens convert`'s mount when none is known
        from l2tech.profiles.matching import camera_name

        body = getattr(m, "camera", None) if m is not None else None
        if body is None:
            body = _database_body(meta, db)
        mount = getattr(body, "mount", None) if body is not None else None
        if mount and mount != "Generic":  # lensfun's "Generic Crop-factor ..." bodies name no real mount
            why = _body_corrects_jpeg(meta, dataclasses.replace(plan, profile=dataclasses.replace(profile, mounts=(mount,)),
                                                                match=_BodyOnly(body)), db)
            if why:
                other = "" if body.mount[0].islower() else ", or of an adapted lens"  # a compact takes no other lens
                return (f"{why}; the profile file names no mount, so the {camera_name(body)}'s own lens is assumed "
                        f"(use --force for a profile calibrated on these JPEGs{other})")
        return None
    converter = getattr(meta, "converter", None)
    adobe = bool(converter) and ("adobe" in converter.lower() or "lightroom" in converter.lower())
    if "Micro 4/3 System" in mounts and make.startswith(_MFT_MAKERS) and (converter is None or adobe):
        who = "Micro Four Thirds bodies" if converter is None else f"{converter} (it applies the lens's own data)"
        return f"{who} correct the distortion of Micro Four Thirds lenses in their JPEGs"
    if converter is not None:
        return None
    if "Fujifilm X" in mounts and make.startswith(_FUJI_MAKERS):
        return "Fujifilm X bodies correct the distortion of X-mount lenses in their JPEGs"
    cam_mount = getattr(getattr(m, "camera", None), "mount", None) or ""
    if cam_mount and cam_mount[0].islower() and cam_mount in mounts:
        return "fixed-lens compacts correct their lens's distortion in their JPEGs (the profile describes the RAW)"
    return None


@dataclasses.dataclass(frozen=True)
class _BodyOnly:
    """A stand-in match holding only the body (for ``_body_corrects_jpeg`` on a profile file)."""

    camera: Any


def skip_corrections_done(plan: LensPlan, meta: Any, *, db: Any = None) -> LensPlan:
    """Do not correct again what a developed image says (or its body is known) to have corrected.

    Parameters
    ----------
    plan : LensPlan
    meta : ShotMetadata
        ``corrections_done`` (maker-note flags, a RAW converter's record), ``converter``,
        ``l2tech_record`` and ``format`` are read (:mod:`l2tech.io.provenance`).
    db : LensDatabase, optional
        Where the body of a profile file without mounts is looked up (default: the database).

    Returns
    -------
    LensPlan
        ``plan`` with each correction already done switched off; its reason says what showed
        it and that ``--force`` corrects anyway. A RAW file's flags describe the camera's JPEG,
        not the RAW data, so RAW files are returned unchanged.
    """
    if getattr(meta, "format", None) not in DEVELOPED_FORMATS or plan.profile is None:
        return plan
    done: dict[str, str] = {}
    record = dict(getattr(meta, "l2tech_record", ()) or ())
    if record:
        did = [c for c in record.get("Corrections", "").split(",") if c]
        for c in did:
            done[c] = f"already corrected by l2tech {record.get('Version', '')}".rstrip() + " (its XMP record in the file)"
    for c, evidence in getattr(meta, "corrections_done", ()) or ():
        done.setdefault(c, f"the camera or converter already corrected it ({evidence})")
    if "distortion" not in done:
        why = _body_corrects_jpeg(meta, plan, db)
        if why:
            done["distortion"] = f"already corrected: {why}"
    if not done:
        return plan
    applied, reasons = dict(plan.applied), dict(plan.reasons)
    for c, why in done.items():
        if applied.get(c):
            applied[c] = False
            reasons[c] = f"{why}; --force corrects it again"
    return dataclasses.replace(plan, applied=applied, reasons=reasons)


#: ``sources["focal_length_mm"]`` of a focal length that only picks a focal-free profile's one
#: calibration (manual ``--distortion`` without a known focal length, a pixel-based model).
_PLACEHOLDER_FOCAL = "none needed (the profile's one calibration)"


def manual_profile(meta: Any, recipe: Recipe) -> Any:
    """A one-point lens profile from the recipe's manual distortion (``--distortion k1``).

    lensfun's ``poly3`` model, ``r_d = r_u (1 - k1 + k1 r_u²)`` in lensfun's normalised
    coordinates (:func:`l2tech.correct.maps.lensfun_normalization`; lensfun
    ``libs/lensfun/mod-coord.cpp``): ``k1 < 0`` describes barrel distortion, ``k1 > 0``
    pincushion. For lenses the database does not know.
    """
    from l2tech.profiles.model import DistortionCalibration, LensProfile

    known = recipe.focal_length_mm or getattr(meta, "focal_length_mm", None)
    focal = known or 1.0  # poly3 in lensfun's normalised radius needs none: any value picks the point
    crop = getattr(meta, "crop_factor", None) or 1.0
    k1 = float(recipe.distortion_k1)
    return LensProfile(maker="", model=f"manual distortion k1={k1:g}", crop_factor=float(crop),
                       focal_min_mm=float(focal), focal_max_mm=float(focal),
                       distortion=(DistortionCalibration("poly3", float(focal), {"k1": k1}),), source="manual",
                       extra={} if known else {"focal_placeholder": True})


def with_estimated_tca(plan: LensPlan, kr: float, kb: float) -> LensPlan:
    """``plan`` with the lateral CA estimated from the image (lensfun's linear model) as its TCA.

    The plan's own profile keeps its distortion and vignetting; a shot without a profile gets a
    one-point profile holding only the TCA.
    """
    import dataclasses

    from l2tech.profiles.model import LensProfile, TCACalibration

    focal = plan.focal_length_mm or 1.0
    tca = (TCACalibration("linear", float(focal), {"kr": float(kr), "kb": float(kb)}),)
    if plan.profile is not None:
        profile = dataclasses.replace(plan.profile, tca=tca)
    else:
        profile = LensProfile(maker="", model="estimated lateral CA", crop_factor=plan.crop_factor or 1.0,
                              focal_min_mm=float(focal), focal_max_mm=float(focal), tca=tca, source="estimated")
    applied = {c: False for c in plan.applied} if plan.profile is None else dict(plan.applied)
    applied["tca"] = True
    reasons = dict(plan.reasons)
    reasons["tca"] = f"estimated from the image (kr {kr:.6f}, kb {kb:.6f})"
    return dataclasses.replace(plan, profile=profile, applied=applied, reasons=reasons,
                               focal_length_mm=plan.focal_length_mm or float(focal),
                               crop_factor=plan.crop_factor or 1.0)


#: DNG opcodes that are lens corrections, by the correction they stand for.
_EMBEDDED_LENS_OPCODES = {
    "OpcodeList3:WarpRectilinear": ("distortion", "tca"),
    "OpcodeList3:WarpFisheye": ("distortion", "tca"),
    "OpcodeList3:FixVignetteRadial": ("vignetting",),
    "OpcodeList2:GainMap": ("vignetting",),
}


def skip_embedded_corrections(plan: LensPlan, opcodes_applied: tuple[str, ...]) -> LensPlan:
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


def _with_overrides(meta: Any, recipe: Recipe) -> Any:
    """The shot as the recipe states it: ``--focal-length`` / ``--f-number`` replace the file's
    values, so the matcher's notes on missing values hold for what will be used."""
    given = {k: getattr(recipe, k) for k in ("focal_length_mm", "f_number") if getattr(recipe, k) is not None}
    return dataclasses.replace(meta, **given) if given and dataclasses.is_dataclass(meta) else meta


def _database_body(meta: Any, db: Any) -> Any:
    """The file's body in the camera database, or None (a profile chosen by file or source has
    no match: its body is named as a database match names it, not as the file spells it)."""
    from l2tech.profiles.matching import shot_body

    return shot_body(meta, db)[0]


def camera_display_name(meta: Any) -> str | None:
    make, model = getattr(meta, "make", None), getattr(meta, "model", None)
    if not model:
        return None
    return model if make and model.lower().startswith(make.split()[0].lower()) else f"{make or ''} {model}".strip()

