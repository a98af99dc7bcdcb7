"""Plausibility of a lens profile, checked in one place for every profile family.

Every reader (lensfun XML, Adobe LCP, Gyroflow JSON, OpenCV YAML/XML, DNG opcodes, RW2
embedded data) builds a :class:`~l2tech.profiles.model.LensProfile`; the front doors
(:func:`l2tech.profiles.sources.read_profiles` for a profile file,
:func:`l2tech.profiles.lensfun_xml.parse_lensfun_xml` for each lens of a database) pass it
through :func:`profile_problem` / :func:`validate_profile`. A number that is not finite, or
outside the range a real lens can have, refuses the lens, naming the file, the lens and the
field: lensfun ptlens coefficients of ±1e308 (an all-black image), a TCA ``vr=1000`` (garbled
channels) or a Gyroflow ``calib_dimension`` of 10¹² px are refused here instead of producing
garbage.

The ranges (:data:`LENSFUN_TERM_RANGES` and the module constants) are several times wider than
anything in the lensfun database (1304 lenses, measured with this package's reader; the table
is in docs/RELIABILITY.md), so no real profile is refused; the tests check the whole bundled
database passes.

References
----------
lensfun ``data/db/*.xml`` (the extremes), ``libs/lensfun/mod-coord.cpp`` and
``mod-subpix.cpp`` (what the terms mean); Adobe Camera Model documentation (LCP);
Gyroflow ``lens_profiles`` (``calib_dimension``); OpenCV ``calib3d`` (camera matrix).
"""

from __future__ import annotations

import math
from typing import Any, Iterator

from l2tech.errors import InvalidProfileError
from l2tech.profiles.model import LensProfile

__all__ = [
    "LENSFUN_TERM_RANGES",
    "MAX_TERM",
    "FOCAL_RANGE_MM",
    "CROP_FACTOR_RANGE",
    "ASPECT_RATIO_RANGE",
    "MAX_CENTER_OFFSET",
    "F_NUMBER_RANGE",
    "CALIB_SIZE_RANGE_PX",
    "profile_problem",
    "validate_profile",
]

#: Focal length, mm: lensfun's longest is 1000 mm; the longest production lens, a 5200 mm
#: catadioptric (Canon), fits well inside. 0 means "not known" in some families (RW2, DNG).
FOCAL_RANGE_MM = (0.0, 10_000.0)
#: Crop factor: lensfun spans 0.51 (medium format) to 8.667 (1/3" sensors); 4×5" large
#: format is 0.28, a 1/6" sensor about 12.
CROP_FACTOR_RANGE = (0.1, 20.0)
#: Aspect ratio of the calibration frame (long/short or short/long): lensfun 1.0–1.78; XPan
#: 2.7.
ASPECT_RATIO_RANGE = (0.25, 4.0)
#: Optical centre offset in lensfun units (the short side spans 2): all 0 in lensfun; more
#: than half the short side is not a lens on that sensor.
MAX_CENTER_OFFSET = 1.0
#: F-number: lensfun 0.95–64; the fastest lens made is f/0.33 (Zeiss Superquadric), view
#: camera lenses stop to f/256. 0 means "not known" (DNG vignetting).
F_NUMBER_RANGE = (0.3, 1024.0)
#: Calibration frame side, pixels (Gyroflow ``calib_dimension``, OpenCV ``image_width``):
#: the largest sensors are about 20000 px wide; JPEG's limit is 65535.
CALIB_SIZE_RANGE_PX = (1, 100_000)
#: Any other coefficient (Adobe, OpenCV, Gyroflow, DNG, RW2 terms, camera matrices in
#: pixels): a bound that only rules out overflow-scale numbers (1e308); the map checks
#: (a distortion that folds the image) catch the rest.
MAX_TERM = 1e7
#: Focal length in pixels (``fx``, ``fy`` of OpenCV and Gyroflow camera matrices): a focal length
#: under one pixel is no camera (``fx`` 1e-300 was accepted).
FOCAL_PX_RANGE = (1.0, MAX_TERM)

#: lensfun model terms: (low, high), and the range the lensfun database actually spans.
LENSFUN_TERM_RANGES: dict[tuple[str, str, str], tuple[float, float]] = {
    # distortion: lensfun ptlens a [-0.217, 0.387], b [-0.716, 0.522], c [-0.474, 0.438];
    # poly3 k1 [-0.079, 0.022]; poly5 k1 [-0.031, 0], k2 [-0.001, 0.005]
    **{("distortion", "ptlens", k): (-5.0, 5.0) for k in ("a", "b", "c")},
    ("distortion", "poly3", "k1"): (-5.0, 5.0),
    **{("distortion", "poly5", k): (-5.0, 5.0) for k in ("k1", "k2")},
    # TCA: the red/blue image scale; lensfun linear kr, kb [1.0, 1.0006], poly3 vr, vb
    # [0.998, 1.0024]; a 10 % colour scale difference is 40x the worst lens in the database
    **{("tca", "linear", k): (0.9, 1.1) for k in ("kr", "kb")},
    **{("tca", "poly3", k): (0.9, 1.1) for k in ("vr", "vb")},
    # lensfun poly3 cr, br, cb, bb [-0.0027, 0.0043]
    **{("tca", "poly3", k): (-0.1, 0.1) for k in ("cr", "br", "cb", "bb")},
    # vignetting pa: lensfun k1 [-2.92, 2.53], k2 [-11.5, 9.1], k3 [-27.1, 10.3]
    **{("vignetting", "pa", k): (-100.0, 100.0) for k in ("k1", "k2", "k3")},
}


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (not a number, not finite, too large for a float)."""
    if isinstance(value, bool):
        return None
    try:
        f = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return f if math.isfinite(f) else None


def _fields(profile: LensProfile) -> Iterator[tuple[str, Any, tuple[float, float] | None]]:
    """(field name, value, allowed range or None for "finite only") for every number."""
    for key in ("calib_width_px", "calib_height_px"):  # first: the pixel terms scale with them
        if key in profile.extra and profile.extra[key] is not None:
            yield key, profile.extra[key], CALIB_SIZE_RANGE_PX
    yield "crop_factor", profile.crop_factor, CROP_FACTOR_RANGE
    yield "aspect_ratio", profile.aspect_ratio, ASPECT_RATIO_RANGE
    yield "center_x", profile.center_x, (-MAX_CENTER_OFFSET, MAX_CENTER_OFFSET)
    yield "center_y", profile.center_y, (-MAX_CENTER_OFFSET, MAX_CENTER_OFFSET)
    yield "focal_min_mm", profile.focal_min_mm, FOCAL_RANGE_MM
    yield "focal_max_mm", profile.focal_max_mm, FOCAL_RANGE_MM
    for name in ("aperture_min", "aperture_max"):
        v = getattr(profile, name)
        if v is not None and v != 0:
            yield name, v, F_NUMBER_RANGE
    for kind in ("distortion", "tca", "vignetting"):
        for c in getattr(profile, kind):
            where = f"{kind} {c.model} at {c.focal_length_mm!r} mm"
            yield f"{kind} {c.model} focal length", c.focal_length_mm, FOCAL_RANGE_MM
            if kind == "vignetting":
                if c.f_number:
                    yield f"{where}: f-number", c.f_number, F_NUMBER_RANGE
                yield f"{where}: focus distance", c.focus_distance_m, (0.0, math.inf)
            if kind == "distortion" and c.real_focal_mm is not None:
                yield f"{where}: real-focal", c.real_focal_mm, FOCAL_RANGE_MM
            for key, value in c.terms.items():
                default = FOCAL_PX_RANGE if key in ("fx", "fy") else (-MAX_TERM, MAX_TERM)
                yield f"{where}: {key}", value, LENSFUN_TERM_RANGES.get((kind, c.model, key), default)


def profile_problem(profile: LensProfile) -> str | None:
    """The first implausible number of a profile, described; None when the profile is plausible.

    Parameters
    ----------
    profile : LensProfile

    Returns
    -------
    str or None
        e.g. ``"tca poly3 at 24.0 mm: vr = 1000 is outside [0.9, 1.1] (the range a real lens
        can have)"``.
    """
    for name, value, allowed in _fields(profile):
        f = _finite(value)
        if f is None:
            return f"{name} = {value!r} is not a finite number"
        if allowed is not None and not (allowed[0] <= f <= allowed[1]):
            return f"{name} = {f:g} is outside [{allowed[0]:g}, {allowed[1]:g}] (the range a real lens can have)"
    for kind in ("distortion", "tca", "vignetting"):  # tables of the radius: knots and values as a whole
        for c in getattr(profile, kind):
            if c.model.startswith("radial_table"):
                from l2tech.optics.radial_table import table_problem

                problem = table_problem(c.model, kind, c.terms)
                if problem is not None:
                    return f"{kind} {c.model} at {c.focal_length_mm!r} mm: {problem}"
    return None


def validate_profile(profile: LensProfile, path: object | None = None) -> LensProfile:
    """Refuse a profile with a number that is not finite or not plausible for a real lens.

    Parameters
    ----------
    profile : LensProfile
    path : path-like, optional
        The file it was read from (the error names it).

    Returns
    -------
    LensProfile
        ``profile``, unchanged.

    Raises
    ------
    InvalidProfileError
        ``FILE: lens 'NAME' refused: FIELD = VALUE is outside [LOW, HIGH] ...``.
    """
    problem = profile_problem(profile)
    if problem is not None:
        raise InvalidProfileError(f"lens {profile.name!r} refused: {problem}", path)
    return profile
