"""Every profile source behind one door: ``read_profile(path)`` and the profile choice for a shot.

Reading
-------
:func:`read_profile` decides the format from the file's content (never its name alone):

==========================  ============================================================
content                     reader
==========================  ============================================================
TIFF/DNG header             DNG opcode lists (:mod:`l2tech.profiles.dng_opcodes`)
``IIU\\0`` (Panasonic RW2)  maker-note distortion 0x0119 (:mod:`l2tech.profiles.rw2`)
JSON object                 Gyroflow lens profile (:mod:`l2tech.profiles.gyroflow`)
XML with CameraProfiles     Adobe LCP (:mod:`l2tech.profiles.lcp`)
XML ``<lensdatabase>``      lensfun XML (:mod:`l2tech.profiles.lensfun_xml`)
XML ``<opencv_storage>``,   OpenCV / ORB-SLAM / VINS-Mono calibration
``%YAML``, ``key: value``   (:mod:`l2tech.profiles.opencv_yaml`)
==========================  ============================================================

Choice for a shot (:func:`choose_profile`)
-------------------------------------------
Default order, first hit wins (:data:`PROFILE_SOURCES`) — the same decision ``correct``,
``develop`` and ``l2 lens match`` take (:func:`match_shot`):

1. ``file`` — a profile file the user gave (``--profile FILE``);
2. ``user`` — lensfun XML in the user profile folders, and
3. ``database`` — the lensfun database: both matched together to the shot's EXIF (one
   :func:`~l2tech.profiles.matching.match_lens` over the bundled files with the user folders
   over them); the source is where the chosen lens came from;
4. ``embedded`` — correction data in the shot itself (DNG opcode lists: WarpRectilinear,
   WarpFisheye, FixVignetteRadial; Panasonic RW2 tag 0x0119; Sony ARW and Fujifilm RAF maker
   notes, :mod:`l2tech.profiles.makernotes`), when no profile matched and no
   ``--lens``/``--camera`` was given.

A database profile keeps the lens's vignetting and TCA, which the embedded data lacks (RW2),
and DNG opcodes are applied at decode already (:func:`l2tech.pipeline.lens_plan.skip_embedded_corrections`).

``profile_source="embedded" | "user" | "database"`` uses that source only — except that
maker-note data (a reverse-engineered layout: RW2 0x0119, Sony, Fujifilm) which disagrees with the database's
profile of the same lens by more than :data:`EMBEDDED_AGREEMENT` is not used: the database's
profile is, and the reason says why. Each step records what it found or why it was skipped
(``ProfileChoice.tried``), which ``l2 lens match`` prints. A DNG's OpcodeList2 (a GainMap, the
camera's lens-shading correction, or MapPolynomial level maps, part of decoding the RAW data) is
not a lens profile, but the ``embedded`` line, and the error of a shot with no lens to match, name it
(:func:`decode_time_opcodes`).
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from typing import Any, Sequence

from l2tech.errors import (
    EmptyFileError,
    InvalidProfileError,
    L2Error,
    LensNotFoundError,
    UnsupportedFormatError,
    UsageError,
)
from l2tech.profiles.model import LensProfile

__all__ = [
    "PROFILE_SOURCES",
    "ProfileChoice",
    "profile_format",
    "read_profiles",
    "read_profile",
    "read_embedded_profile",
    "choose_profile",
    "match_shot",
    "embedded_disagreement",
    "EMBEDDED_AGREEMENT",
    "decode_time_opcodes",
    "decode_time_gain_maps",
]

PROFILE_SOURCES = ("file", "user", "database", "embedded")
_SELECTABLE = ("embedded", "user", "database")


# Photo/video containers people pass as ``--profile`` by mistake (named in the message).
_IMAGE_MAGIC = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF8", "GIF"),
    (b"RIFF", "RIFF (WebP/AVI/WAV)"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x0a", "JPEG XL"),
    (b"\x00\x00\x00\x0cJXL ", "JPEG XL"),
)


def profile_format(path: os.PathLike | str) -> str:
    """The profile format of a file from its first bytes.

    Returns
    -------
    str
        ``"dng"`` (any TIFF-based shot), ``"rw2"``, ``"raf"``, ``"gyroflow"``, ``"lcp"``, ``"lensfun"`` or ``"opencv"``.

    Raises
    ------
    EmptyFileError
        The file has zero bytes.
    UnsupportedFormatError
        The file is missing or unreadable, or its content is no lens profile (a photo, binary
        data, XML of another kind); the message names the file and the formats expected.
    """
    from l2tech.profiles.opencv_yaml import NOT_A_PROFILE, _looks_like_text

    from l2tech.io.formats import read_input_bytes

    p = os.fspath(path)
    head = read_input_bytes(p, head=65536)
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "dng"
    if head[:4] == b"IIU\x00":
        return "rw2"
    if head.startswith(b"FUJIFILMCCD-RAW"):
        return "raf"
    for magic, kind in _IMAGE_MAGIC:
        if head.startswith(magic):
            raise UnsupportedFormatError(f"{kind} image: {NOT_A_PROFILE}", p)
    if head[4:8] == b"ftyp":
        raise UnsupportedFormatError(f"ISO media (HEIF/MP4/MOV) file: {NOT_A_PROFILE}", p)
    if not _looks_like_text(head):
        raise UnsupportedFormatError(NOT_A_PROFILE, p)
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if text[:1] in (b"{", b"["):
        return "gyroflow"
    low = text.lower()
    if text[:1] == b"<":
        if b"cameraprofiles" in low or b"camera-profile" in low:
            return "lcp"
        if b"<lensdatabase" in low:
            return "lensfun"
        if b"<opencv_storage" in low:
            return "opencv"
        raise UnsupportedFormatError("XML file that is not an LCP, lensfun or OpenCV profile", p)
    if text.startswith(b"%yaml") or b":" in text[:4096]:
        return "opencv"
    raise UnsupportedFormatError(NOT_A_PROFILE, p)


def read_profiles(path: os.PathLike | str) -> tuple[LensProfile, ...]:
    """All lens profiles in a file (a lensfun XML may hold several; other formats one).

    Every profile is checked by :func:`l2tech.profiles.validate.validate_profile` (finite
    numbers, ranges a real lens can have, bounded calibration sizes), whatever its family.

    Raises
    ------
    EmptyFileError, UnsupportedFormatError, CorruptInputError, InvalidProfileError, LimitExceededError
        As the format's reader; :class:`InvalidProfileError` for a DNG/RW2 without correction
        data, or a lens with an implausible number (the message names the file, the lens and
        the field). Any other exception a reader lets out (a parser bug on hostile input) is
        reported as :class:`CorruptInputError`, never as a traceback.
    """
    from l2tech.errors import CorruptInputError, L2Error
    from l2tech.profiles.validate import validate_profile

    p = os.fspath(path)
    try:
        profs = _read_profiles(p)
    except L2Error:
        raise
    except (ArithmeticError, ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError,
            UnicodeError, struct.error) as exc:
        raise CorruptInputError(f"cannot read the profile: unexpected {type(exc).__name__} ({exc})", p) from None
    return tuple(validate_profile(prof, p) for prof in profs)


def _read_profiles(p: str) -> tuple[LensProfile, ...]:
    fmt = profile_format(p)
    if fmt in ("dng", "rw2", "raf"):
        return (_shot_profile(p, fmt),)
    if fmt == "gyroflow":
        from l2tech.profiles.gyroflow import read_gyroflow

        return (read_gyroflow(p),)
    if fmt == "lcp":
        from l2tech.profiles.lcp import read_lcp

        return (read_lcp(p),)
    if fmt == "lensfun":
        from l2tech.profiles.lensfun_xml import parse_lensfun_xml

        data = parse_lensfun_xml(p, source_prefix="user")
        if not data.lenses:
            raise InvalidProfileError("lensfun XML without any usable lens", p)
        return tuple(data.lenses)
    from l2tech.profiles.opencv_yaml import read_opencv_yaml

    return (read_opencv_yaml(p),)


def _shot_profile(p: str, fmt: str) -> LensProfile:
    """A shot's own correction data (DNG opcodes, RW2 0x0119, Sony/Fujifilm maker notes) as a
    profile file gives it: named and at the focal length as ``l2 lens match`` shows it
    (:func:`read_embedded_profile`), with the crop factor of the shot's body (lensfun camera
    database, else the file's 35 mm equivalent) and the shot's frame as its calibration size.

    These corrections are relative to the shot's frame, so the crop factor and size change no
    map; they are what another tool needs: a lensfun XML written from the LX3's RW2 said crop 1,
    and lensfun, scaling by the LX3's 4.7, applied a ninth of its distortion.
    """
    from l2tech.errors import L2Error

    meta = None
    try:
        from l2tech.io.metadata import read_metadata

        meta = read_metadata(p)
    except L2Error:
        meta = None
    prof = read_embedded_profile(p, meta)
    if prof is None:
        raise InvalidProfileError({
            "dng": "a shot without lens-correction data: no DNG opcodes (WarpRectilinear/WarpFisheye/"
                   "FixVignetteRadial) and no maker-note correction (Sony)",
            "rw2": "RW2 without enabled DistortionInfo (PanasonicRaw 0x0119)",
            "raf": "RAF without the camera's lens-correction data (Fujifilm maker note)"}[fmt], p)
    return prof


def _at_shot_frame(prof: LensProfile, meta: Any) -> LensProfile:
    """``prof`` (a shot's own correction, relative to its frame) with the crop factor of the
    shot's body (lensfun camera database, else the file's 35 mm equivalent) and the shot's frame
    as its calibration size and aspect ratio; unchanged without metadata."""
    import dataclasses

    if meta is None:
        return prof
    from l2tech.profiles.matching import shot_body

    crop = shot_body(meta)[1] or getattr(meta, "crop_factor", None)
    extra = dict(prof.extra)
    aspect = prof.aspect_ratio
    w, h = getattr(meta, "width", None), getattr(meta, "height", None)
    if w and h:
        aspect = max(w, h) / min(w, h)  # the frame the correction is relative to (4:3 for the LX3)
        if "calib_width_px" not in extra:
            extra.update(calib_width_px=int(w), calib_height_px=int(h))
    return dataclasses.replace(prof, crop_factor=float(crop) if crop else prof.crop_factor, extra=extra,
                               aspect_ratio=float(aspect))


def read_profile(path: os.PathLike | str, name: str | None = None) -> LensProfile:
    """Read one lens profile from any supported file (module docs).

    Parameters
    ----------
    path : str or PathLike
    name : str, optional
        For files holding several lenses (lensfun XML): the lens wanted (case-insensitive
        match on the name or model).

    Returns
    -------
    LensProfile

    Raises
    ------
    UsageError
        Several lenses in the file and no (matching) ``name``; the message lists them.
    EmptyFileError, UnsupportedFormatError, CorruptInputError, InvalidProfileError, LimitExceededError
        From the format's reader.
    """
    profs = read_profiles(path)
    if name:
        key = name.strip().lower()
        hits = [p for p in profs if key in (p.name.lower(), p.model.lower())]
        if len(hits) == 1:
            return hits[0]
        raise UsageError(f"no single lens named {name!r}; the file has: {_some_names(profs, path)}", path)
    if len(profs) > 1:
        raise UsageError(f"the file holds {len(profs)} lenses; choose one: {_some_names(profs, path)}", path)
    return profs[0]


#: Lens names listed in an error about a file with several (a 50 000-lens file listed all: ~1 MB).
MAX_NAMES_LISTED = 12


def _some_names(profs: "tuple[LensProfile, ...] | list[LensProfile]", path: object) -> str:
    """The first :data:`MAX_NAMES_LISTED` lens names, and how to see the rest."""
    names = ", ".join(p.name for p in profs[:MAX_NAMES_LISTED])
    more = len(profs) - MAX_NAMES_LISTED
    return names if more <= 0 else f"{names} … and {more} more (`l2 lens show-file {path}` lists them)"


def read_embedded_profile(path: os.PathLike | str, meta: Any = None) -> LensProfile | None:
    """Correction data embedded in a shot (DNG opcodes, RW2 0x0119, Sony/Fujifilm maker notes), or None.

    Parameters
    ----------
    path : str or PathLike
        The photo (DNG, GPR, RW2, ARW, RAF; other formats give None).
    meta : ShotMetadata, optional
        Names the profile after the camera and sets the focal length.

    Raises
    ------
    CorruptInputError
        The embedded data is present but unreadable.
    InvalidProfileError
        The embedded data holds an implausible number (:mod:`l2tech.profiles.validate`).
    """
    from l2tech.profiles.validate import validate_profile

    p = os.fspath(path)
    focal = float(getattr(meta, "focal_length_mm", None) or 0.0)
    try:
        fmt = profile_format(p)
    except (UnsupportedFormatError, EmptyFileError):
        fmt = ""
    if fmt == "dng":
        from l2tech.profiles.dng_opcodes import read_dng_profile

        try:
            prof = read_dng_profile(p)
        except UnsupportedFormatError:  # a TIFF-based RAW (ARW) or a plain TIFF: no opcodes
            prof = None
        if prof is not None:
            return validate_profile(_at_shot_frame(prof, meta), p)
    if fmt == "":
        try:
            from l2tech.io.formats import open_regular_file

            with open_regular_file(p) as fh:  # a FIFO is refused, not waited on
                fmt = "raf" if fh.read(8) == b"FUJIFILM" else ""
        except OSError:
            return None
    if fmt in ("dng", "raf"):
        # Sony ARW / Fujifilm RAF: the camera's recorded lens correction (maker notes); never a
        # JPEG's (its pixels are already corrected by the camera)
        from l2tech.profiles.makernotes import makernote_profile, read_makernote_correction

        try:
            corr = read_makernote_correction(p)
        except OSError:
            return None
        if corr is None:
            return None
        prof = makernote_profile(corr, maker=str(getattr(meta, "make", "") or ""),
                                 model=str(getattr(meta, "lens_model", "") or getattr(meta, "model", "") or ""),
                                 focal_length_mm=focal)
        return validate_profile(_at_shot_frame(prof, meta), p)
    if fmt == "rw2":
        from l2tech.profiles.rw2 import read_rw2_profile

        prof = read_rw2_profile(p, model=str(getattr(meta, "model", "") or ""), focal_length_mm=focal)
        return None if prof is None else validate_profile(_at_shot_frame(prof, meta), p)
    return None


#: Largest disagreement, as a fraction of the half-diagonal, between a maker-note correction
#: (a reverse-engineered layout) and the database's profile of the same lens, at the best common
#: zoom, for the maker-note data to be used: the LX3's RW2 data agrees within 0.25 %; read in
#: the reversed direction it is 6.5 % off.
EMBEDDED_AGREEMENT = 0.01


def embedded_disagreement(embedded: LensProfile, reference: LensProfile, *, focal_length_mm: float, width: int,
                          height: int, crop_factor: float | None = None) -> tuple[float, float]:
    """How far an embedded distortion correction is from a lensfun profile, up to a zoom.

    Both corrections map an output radius to a source radius on the same frame; their output
    scales are arbitrary (a camera's correction and lensfun's keep different radii fixed), so
    the embedded curve is compared with lensfun's at the zoom ``s`` that fits it best:
    ``max_r |r_src,emb(r) − r_src,lf(s · r)|`` for ``r`` from the centre to the corner.

    Parameters
    ----------
    embedded : LensProfile
        Its first distortion entry is a ``dng_warp_rectilinear`` plane (the RW2 and DNG readers)
        or a ``radial_table`` (maker notes: the source radius from the table), centred at
        (0.5, 0.5).
    reference : LensProfile
        A lensfun profile (``poly3``, ``poly5`` or ``ptlens``).
    focal_length_mm : float
        Where the reference is interpolated.
    width, height : int
        The frame in pixels.
    crop_factor : float, optional
        The camera's crop factor (default the reference's).

    Returns
    -------
    (float, float)
        The largest disagreement as a fraction of the half-diagonal, and the zoom ``s``.

    Raises
    ------
    InvalidProfileError
        Either profile has no usable distortion entry at this focal length.

    References
    ----------
    lensfun ``libs/lensfun/modifier.cpp`` (normalisation); Adobe DNG Specification 1.6,
    WarpRectilinear (opcode 1).
    """
    import numpy as np

    from l2tech.optics.lensfun import LensfunNormalization, distortion_factor
    from l2tech.profiles.interpolate import interpolate_distortion

    emb = embedded.distortion[0] if embedded.distortion else None
    ref = interpolate_distortion(reference, focal_length_mm)
    if emb is None or emb.model not in ("dng_warp_rectilinear", "radial_table") or ref is None or \
            ref.model not in ("poly3", "poly5", "ptlens"):
        raise InvalidProfileError("no comparable distortion entries (a DNG-style warp or radial table, and a lensfun model)",
                                  embedded.source)
    t = emb.terms
    r_out = np.linspace(0.0, 1.0, 201)[1:]
    if emb.model == "radial_table":
        from l2tech.optics.radial_table import radial_table_source_radius

        src_emb = radial_table_source_radius(t, r_out)
    else:
        src_emb = r_out * (t["kr0"] + r_out**2 * (t["kr1"] + r_out**2 * (t["kr2"] + r_out**2 * t["kr3"])))
    norm = LensfunNormalization(width, height, float(crop_factor or reference.crop_factor), reference.crop_factor,
                                reference.aspect_ratio)
    half_diag_hugin = float(np.hypot(width, height)) / 2 * norm.norm_scale

    def src_ref(scale: float) -> np.ndarray:
        r_u = scale * r_out * half_diag_hugin
        return r_u * distortion_factor(ref.model, ref.terms, r_u * r_u) / half_diag_hugin

    def worst(scale: float) -> float:
        return float(np.abs(src_emb - src_ref(scale)).max())

    lo, hi = 0.5, 1.5
    for _ in range(4):  # a coarse grid, then finer around its best
        grid = np.linspace(lo, hi, 101)
        errs = [worst(s) for s in grid]
        i = int(np.argmin(errs))
        lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, 100)]
    best = float(grid[i])
    return worst(best), best


@dataclass(frozen=True)
class ProfileChoice:
    """The profile chosen for a shot and how.

    Attributes
    ----------
    profile : LensProfile or None
        None when no source had one.
    source : str
        ``"file"``, ``"embedded"``, ``"user"``, ``"database"`` or ``"none"``.
    reason : str
        One line: why this profile.
    tried : tuple of str
        One line per source in order: what it gave or why it was skipped.
    match : object or None
        The :class:`~l2tech.profiles.matching.LensMatch` for the ``user``/``database`` sources.
    """

    profile: LensProfile | None
    source: str
    reason: str
    tried: tuple[str, ...] = ()
    match: Any = None


def choose_profile(
    meta: Any,
    *,
    profile_file: os.PathLike | str | None = None,
    profile_source: str | None = None,
    user_dirs: Sequence[os.PathLike | str] | None = None,
    db: Any = None,
    camera: str | None = None,
    lens: str | None = None,
) -> ProfileChoice:
    """Choose the lens profile for a shot (order in the module docs).

    Parameters
    ----------
    meta : ShotMetadata
        The shot (``path`` is read for embedded data).
    profile_file : path, optional
        ``--profile FILE``: wins over everything.
    profile_source : {"embedded", "user", "database"}, optional
        Use that source only (maker-note data that disagrees with the database: module docs).
    user_dirs : sequence of path, optional
        User profile folders (lensfun XML); default lensfun's user folder.
    db : LensDatabase, optional
        Preloaded database for the ``database`` step (bundled + user folders).
    camera, lens : str, optional
        ``--camera`` / ``--lens`` overrides for matching.

    Returns
    -------
    ProfileChoice
        ``source == "none"`` (profile None) when no source had a profile and no source was
        forced.

    Raises
    ------
    UsageError
        Unknown ``profile_source``, or both ``profile_file`` and ``profile_source``.
    LensNotFoundError
        The forced source has no profile for the shot (the message says what was tried).
    L2Error
        A given profile file that cannot be read.
    """
    if profile_source is not None and profile_source not in _SELECTABLE:
        raise UsageError(f"unknown profile source {profile_source!r}; valid: {', '.join(_SELECTABLE)}")
    if profile_file is not None and profile_source is not None:
        raise UsageError("give --profile FILE or --profile-source, not both")
    tried: list[str] = []
    if profile_file is not None:
        prof = read_profile(profile_file)
        return ProfileChoice(prof, "file", f"profile file given: {os.fspath(profile_file)}", (f"file: {prof.name}",))
    path = getattr(meta, "path", None)
    from l2tech.profiles import matching
    from l2tech.profiles.lensfun_xml import default_user_dir, load_database

    dirs = list(user_dirs) if user_dirs is not None else [default_user_dir()]
    existing = [d for d in dirs if os.path.exists(d)]
    if profile_source is None:
        # the one decision `correct`, `develop` and `l2 lens match` share (match_shot), on the
        # same database (the process's default one unless folders are given)
        database = db if db is not None else (matching.default_database() if user_dirs is None else load_database(dirs))
        try:
            m = match_shot(meta, database, camera=camera, lens=lens)
        except LensNotFoundError as exc:
            tried += [f"user: {exc.reason}" if existing else "user: no user profile folder", f"database: {exc.reason}",
                      _no_embedded_line(path)]
            return ProfileChoice(None, "none", "no profile found", tuple(tried))
        kind = matching.profile_source_kind(m.lens)
        if m.method == "embedded":
            named = lens or getattr(meta, "lens_model", None) or getattr(meta, "lens_id", None)
            why = ("not searched: the file names no lens" if not named  # nothing to look up there
                   else m.warnings[0] if m.warnings else "no database profile")
            tried += [f"user: {why}" if existing else "user: no user profile folder", f"database: {why}",
                      f"embedded: {m.lens.source.split(':', 1)[0]} correction data"]
            return ProfileChoice(m.lens, "embedded", "no profile in the user folder or the database; the file carries "
                                 "its own lens correction", tuple(tried), m)
        if kind == "user":
            tried.append(f"user: {m.lens.name} ({m.method})")
            return ProfileChoice(m.lens, "user", f"matched in the user profiles by {m.method}", tuple(tried), m)
        tried.append("user: no user profile fits this shot" if existing else "user: no user profile folder")
        tried.append(f"database: {m.lens.name} ({m.method})")
        emb_line = _embedded_line(meta, m)
        if emb_line:
            tried.append(emb_line)
        return ProfileChoice(m.lens, "database", f"matched in the database profiles by {m.method}", tuple(tried), m)
    src = profile_source
    if src == "embedded":
        prof = None
        if path:
            try:
                prof = read_embedded_profile(path, meta)
            except L2Error as exc:
                tried.append(f"embedded: unreadable ({exc.reason})")
        if prof is not None:
            kind = prof.source.split(":", 1)[0]
            checked = _check_embedded(prof, meta, db, camera, lens, user_dirs) if prof.extra.get("check_against_database") else ""
            if not checked.startswith("disagrees"):
                tried.append(f"embedded: {kind} correction data" + (f" ({checked})" if checked else ""))
                return ProfileChoice(prof, "embedded", "the file carries its own lens correction"
                                     + (f"; it {checked}" if checked else ""), tuple(tried))
            # maker-note data read in a reverse-engineered layout that contradicts the database's
            # measurement of the same lens: the database's profile is used, and the reason said
            tried.append(f"embedded: {kind} correction data {checked}: not used")
            database = db if db is not None else load_database(dirs)
            m = matching.match_lens(meta, database, camera=camera, lens=lens)
            tried.append(f"database: {m.lens.name} ({m.method})")
            return ProfileChoice(m.lens, "database", f"the file's {kind} correction data {checked}; the database's "
                                 "profile is used", tuple(tried), m)
        if not tried:
            tried.append(_no_embedded_line(path))
    else:
        try:
            if src == "user":
                database = load_database(existing, include_bundled=False) if existing else None
                if database is None:
                    tried.append("user: no user profile folder")
                elif not database.lenses:
                    tried.append("user: no lenses in " + ", ".join(map(str, existing)))
                    database = None
            else:
                database = db if db is not None else load_database(dirs)
            m = matching.match_lens(meta, database, camera=camera, lens=lens) if database is not None else None
        except LensNotFoundError as exc:
            tried.append(f"{src}: {exc.reason}")
            m = None
        if m is not None and m.lens is not None:
            tried.append(f"{src}: {m.lens.name} ({m.method})")
            return ProfileChoice(m.lens, src, f"matched in the {src} profiles by {m.method}", tuple(tried), m)
        if m is not None:
            tried.append(f"{src}: no match")
    if profile_source:
        raise LensNotFoundError(f"no {profile_source} profile for this shot: " + "; ".join(tried), path)
    return ProfileChoice(None, "none", "no profile found", tuple(tried))


def _check_embedded(prof: LensProfile, meta: Any, db: Any, camera: str | None, lens: str | None,
                    user_dirs: Sequence[os.PathLike | str] | None) -> str:
    """Compare maker-note distortion data with the database's profile of the same lens.

    Returns ``"agrees with <lens> within x % …"``, ``"disagrees with <lens> by x % …"`` or ``""``
    when there is nothing to compare with (no database match, no focal length or frame size).
    """
    from l2tech.profiles import matching
    from l2tech.profiles.lensfun_xml import default_user_dir, load_database

    focal = getattr(meta, "focal_length_mm", None)
    w, h = getattr(meta, "width", None), getattr(meta, "height", None)
    if not (focal and w and h):
        return ""
    try:
        database = db if db is not None else load_database(list(user_dirs) if user_dirs is not None else [default_user_dir()])
        m = matching.match_lens(meta, database, camera=camera, lens=lens)
    except L2Error:
        return ""
    if m.lens is None:
        return ""
    try:
        frac, zoom = embedded_disagreement(prof, m.lens, focal_length_mm=float(focal), width=int(w), height=int(h),
                                           crop_factor=m.crop_factor)
    except L2Error:
        return ""
    return _verdict(m.lens.name, frac, zoom, w, h)


def _verdict(name: str, frac: float, zoom: float, w: int, h: int) -> str:
    ok = frac <= EMBEDDED_AGREEMENT
    return (f"{'agrees with' if ok else 'disagrees with'} the database's {name} {'within' if ok else 'by'} "
            f"{100 * frac:.2f} % of the half-diagonal ({frac * math.hypot(w, h) / 2:.1f} px; limit "
            f"{100 * EMBEDDED_AGREEMENT:g} %) at zoom {zoom:.3f}")

def match_shot(meta: Any, db: Any = None, *, camera: str | None = None, lens: str | None = None,
               allow_focal_range: bool = False) -> Any:
    """The lens profile for a shot: the one decision ``correct``, ``develop`` and ``l2 lens match`` share.

    The user's folders and the bundled database are matched together
    (:func:`l2tech.profiles.matching.match_lens`; a user lens replaces a bundled one of the same
    name); when that finds no lens and no ``--lens``/``--camera`` was given, the shot's own
    correction data (DNG opcodes, RW2 0x0119) is used.

    Parameters
    ----------
    meta : ShotMetadata
    db : LensDatabase, optional
        Default :func:`l2tech.profiles.matching.default_database`.
    camera, lens : str, optional
        ``--camera`` / ``--lens`` overrides.
    allow_focal_range : bool
        As :func:`~l2tech.profiles.matching.match_lens`.

    Returns
    -------
    LensMatch
        ``method == "embedded"`` (camera None) for the shot's own data; its first warning says
        why the database had none.

    Raises
    ------
    LensNotFoundError
        As :func:`~l2tech.profiles.matching.match_lens`, when the shot carries no correction data
        either (or ``--lens``/``--camera`` was given).
    """
    from l2tech.profiles import matching

    try:
        return matching.match_lens(meta, db, camera=camera, lens=lens, allow_focal_range=allow_focal_range)
    except LensNotFoundError as exc:
        path = getattr(meta, "path", None)
        if lens or camera or not path:
            raise
        try:
            emb = read_embedded_profile(path, meta)
        except L2Error:
            emb = None
        if emb is None:
            note = decode_time_opcodes(path)
            if not note:
                raise
            # the GainMap is the file's own shading correction, applied at decode: say so in
            # the message rather than only that no lens is named
            raise type(exc)(f"{exc.reason}; the file carries {note} but no lens-correction opcodes "
                            f"({_LENS_OPCODES}) to use instead", exc.path, getattr(exc, "candidates", ())) from None
        kind = matching.profile_source_kind(emb)
        return matching.LensMatch(None, emb, 1.0, "embedded", getattr(exc, "candidates", ()) or (),
                                  (f"no lens information in the file's metadata: the file's own correction data is used "
                                   f"({kind}); --lens \"Maker Model\" uses a database profile instead"
                                   if isinstance(exc, matching.NoLensInfoError) else
                                   f"{exc.reason}; the file's own correction data is used ({kind})",),
                                  getattr(meta, "crop_factor", None))


def _embedded_line(meta: Any, m: Any) -> str:
    """The ``tried`` line for a shot's embedded data when the database's profile was chosen."""
    path = getattr(meta, "path", None)
    if not path:
        return ""
    try:
        prof = read_embedded_profile(path, meta)
    except L2Error as exc:
        return f"embedded: unreadable ({exc.reason})"
    if prof is None:
        note = decode_time_opcodes(path)
        return f"embedded: {note}; no lens-correction opcodes ({_LENS_OPCODES})" if note else ""
    kind = prof.source.split(":", 1)[0]
    checked = ""
    if prof.extra.get("check_against_database") and getattr(meta, "focal_length_mm", None) and getattr(meta, "width", None):
        try:
            frac, zoom = embedded_disagreement(prof, m.lens, focal_length_mm=float(meta.focal_length_mm), width=int(meta.width),
                                               height=int(meta.height), crop_factor=m.crop_factor)
            checked = _verdict(m.lens.name, frac, zoom, meta.width, meta.height)
        except L2Error:
            checked = ""
    # what --profile-source embedded would do with it (choose_profile: data that disagrees with
    # the database's profile of the same lens is not used there either)
    then = ("; not used by --profile-source embedded either (the database's profile is)" if checked.startswith("disagrees")
            else "; --profile-source embedded uses it")
    return f"embedded: {kind} correction data also in the file" + (f" ({checked})" if checked else "") + then


_LENS_OPCODES = "WarpRectilinear, WarpFisheye, FixVignetteRadial"


def decode_time_opcodes(path: os.PathLike | str | None) -> str:
    """The opcodes of a DNG's OpcodeList2, as ``"OpcodeList2 GainMap x4 (vignetting, ...)"``, or ``""``.

    OpcodeList2 is applied to the linearised RAW data when it is decoded (DNG 1.4 chapter 6).
    A ``GainMap`` is the camera's own lens-shading (vignetting) correction; ``MapPolynomial``
    and the others map levels or areas of the RAW data. None of them is a lens profile (no
    distortion or TCA; a GainMap's gains are per pixel of this frame), so they are not the
    ``embedded`` profile source's opcodes; ``l2 develop`` applies them when it decodes the raw
    data (:mod:`l2tech.raw.opcodes`) and then does not correct vignetting again after a GainMap
    (:func:`l2tech.pipeline.lens_plan.skip_embedded_corrections`, ``OpcodeList2:GainMap``).
    This names them in the profile choice, so that such a file is not reported as carrying
    nothing (the HERO6's GainMap x4, the 6D DNG's MapPolynomial x3).

    Parameters
    ----------
    path : str or PathLike or None
        The shot; anything but a readable DNG/GPR gives ``""``.

    Returns
    -------
    str
        ``"OpcodeList2 GainMap x4 (vignetting, part of decoding the RAW data)"``,
        ``"OpcodeList2 MapPolynomial x3 (part of decoding the RAW data)"``, or ``""`` when the file
        has no OpcodeList2 or its opcode lists cannot be read.

    References
    ----------
    Adobe DNG Specification 1.4.0.0, chapter 6: OpcodeList2 (tag 51009) is applied to the
    linearised raw data; opcode 9 ``GainMap``, 8 ``MapPolynomial``. exiftool lists the same
    opcodes (tag ``OpcodeList2``), which ``l2 info`` shows.
    """
    if not path:
        return ""
    try:
        if profile_format(path) != "dng":
            return ""
        from l2tech.profiles.dng_opcodes import OPCODE_NAMES, read_dng_opcodes

        ops = [OPCODE_NAMES.get(op.opcode_id, f"opcode {op.opcode_id}") for op in read_dng_opcodes(path).get(2, ())]
    except (L2Error, OSError):
        return ""
    if not ops:
        return ""
    counts = {name: ops.count(name) for name in dict.fromkeys(ops)}
    listed = " + ".join(f"{name} x{n}" for name, n in counts.items())
    what = "vignetting, part of decoding the RAW data" if "GainMap" in counts else "part of decoding the RAW data"
    return f"OpcodeList2 {listed} ({what})"


#: The earlier name of :func:`decode_time_opcodes` (it named GainMaps only).
decode_time_gain_maps = decode_time_opcodes


def _no_embedded_line(path: os.PathLike | str | None) -> str:
    """The ``tried`` line for a shot with no embedded lens profile: a GainMap it carries is named."""
    note = decode_time_opcodes(path)
    return f"embedded: no lens profile ({_LENS_OPCODES}); the file carries {note}" if note else "embedded: none in this file"
