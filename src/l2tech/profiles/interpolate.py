"""Interpolate a lens profile's calibration points at one shot's settings (lensfun rules).

- Distortion and TCA, over focal length only: the two nearest calibration points on each side
  of the target, cubic Hermite with Catmull-Rom-style tangents ``(y3 - y1) / 2`` (not scaled for
  uneven spacing, one-sided ``y3 - y2`` at the ends). Each coefficient is multiplied by its own
  focal length before interpolating and divided by the target focal length afterwards — except
  the TCA ``kr, kb`` / ``vr, vb`` terms, which are interpolated as they are. An exact focal
  match returns that entry; outside the calibrated range the nearest entry is returned.
  Only the first model met in the profile is used (lensfun ignores entries of other models).
- Vignetting: inverse-distance weighting with power 3.5 over every sample, the distance being
  ``sqrt(Δf² + Δ(4/N)² + Δ(0.1/D)²)`` with ``f`` normalised to the lens's focal range. A
  distance below 1e-4 is an exact match; when the nearest sample is farther than 1 there is
  no vignetting correction (``None``).

These are the rules of lensfun 0.3.x, the version lensfunpy wraps; the tests compare against
``lensfunpy.Lens.interpolate_*``.

References
----------
lensfun ``libs/lensfun/lens.cpp`` (``lfLens::InterpolateDistortion``, ``InterpolateTCA``,
``InterpolateVignetting``, ``__insert_spline``, ``__parameter_scales``, ``__vignetting_dist``)
and ``libs/lensfun/auxfun.cpp`` (``_lf_interpolate``), lensfun 0.3.x.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Mapping, Sequence, TypeVar

import numpy as np

from l2tech.errors import UsageError
from l2tech.profiles.model import (
    DistortionCalibration,
    LensCalibration,
    LensProfile,
    TCACalibration,
    VignettingCalibration,
)

__all__ = [
    "interpolate",
    "interpolate_distortion",
    "interpolate_tca",
    "interpolate_vignetting",
    "hermite_lensfun",
    "real_focal_length",
    "DEFAULT_FOCUS_DISTANCE_M",
]

#: Focus distance used when none is known (lensfun's and lensfunpy's default: 1000 m ≈ ∞).
DEFAULT_FOCUS_DISTANCE_M = 1000.0

# TCA terms that lensfun interpolates without the focal-length weighting (index < 2).
_TCA_UNSCALED = frozenset({"kr", "kb", "vr", "vb"})

_C = TypeVar("_C", DistortionCalibration, TCACalibration)


def hermite_lensfun(y1: float | None, y2: float, y3: float, y4: float | None, t: float) -> float:
    """lensfun's cubic Hermite step between ``y2`` (t = 0) and ``y3`` (t = 1).

    Parameters
    ----------
    y1, y4 : float or None
        The outer neighbours; ``None`` when absent (one-sided tangent ``y3 - y2``).
    y2, y3 : float
        The values either side of the target.
    t : float
        Position in [0, 1].

    Returns
    -------
    float

    References
    ----------
    lensfun ``libs/lensfun/auxfun.cpp``, ``_lf_interpolate``.
    """
    tg2 = (y3 - y2) if y1 is None else (y3 - y1) * 0.5
    tg3 = (y3 - y2) if y4 is None else (y4 - y2) * 0.5
    t2 = t * t
    t3 = t2 * t
    return (2 * t3 - 3 * t2 + 1) * y2 + (t3 - 2 * t2 + t) * tg2 + (-2 * t3 + 3 * t2) * y3 + (t3 - t2) * tg3


def _f32(x: float) -> float:
    return float(np.float32(x))


def _spline_interpolate(entries: Sequence[_C], focal: float, unscaled: frozenset[str]) -> _C | None:
    model = None
    below: list[tuple[float, _C]] = []  # calibration focal < target (df > 0)
    above: list[tuple[float, _C]] = []  # calibration focal > target (df < 0)
    f32 = _f32(focal)
    for c in entries:
        if model is None:
            model = c.model
        elif c.model != model:
            continue  # lensfun: "has multiple distortion models defined" -> ignored
        if _f32(c.focal_length_mm) == f32:
            return c
        df = focal - c.focal_length_mm
        (above if df < 0 else below).append((df, c))
    above.sort(key=lambda p: -p[0])  # closest first (largest negative df)
    below.sort(key=lambda p: p[0])  # closest first (smallest positive df)
    s1 = above[0][1] if above else None
    s0 = above[1][1] if len(above) > 1 else None
    s2 = below[0][1] if below else None
    s3 = below[1][1] if len(below) > 1 else None
    if s1 is None or s2 is None:
        return s1 if s1 is not None else s2
    t = (focal - s1.focal_length_mm) / (s2.focal_length_mm - s1.focal_length_mm)
    terms: dict[str, float] = {}
    for key in s1.terms:
        def w(c: _C | None) -> float | None:
            if c is None:
                return None
            v = float(c.terms.get(key, s1.terms[key]))
            return v if key in unscaled else v * c.focal_length_mm

        val = hermite_lensfun(w(s0), w(s1), w(s2), w(s3), t)  # type: ignore[arg-type]
        terms[key] = val if key in unscaled else val / focal
    return replace(s1, focal_length_mm=float(focal), terms=terms)


def interpolate_distortion(profile: LensProfile, focal_length_mm: float) -> DistortionCalibration | None:
    """Distortion terms at ``focal_length_mm`` (lensfun ``InterpolateDistortion``).

    Parameters
    ----------
    profile : LensProfile
    focal_length_mm : float
        Focal length of the shot, mm.

    Returns
    -------
    DistortionCalibration or None
        ``None`` when the profile has no distortion data. ``real_focal_mm`` is dropped on
        interpolated entries.

    References
    ----------
    lensfun ``libs/lensfun/lens.cpp``, ``lfLens::InterpolateDistortion``.
    """
    out = _spline_interpolate(profile.distortion, focal_length_mm, frozenset())
    if out is not None and out.focal_length_mm == float(focal_length_mm) and out not in profile.distortion:
        out = replace(out, real_focal_mm=None)
    return out


def interpolate_tca(profile: LensProfile, focal_length_mm: float) -> TCACalibration | None:
    """TCA terms at ``focal_length_mm`` (lensfun ``InterpolateTCA``; ``kr kb vr vb`` unscaled).

    References
    ----------
    lensfun ``libs/lensfun/lens.cpp``, ``lfLens::InterpolateTCA`` and ``__parameter_scales``.
    """
    return _spline_interpolate(profile.tca, focal_length_mm, _TCA_UNSCALED)


def _vig_distance(profile: LensProfile, c: VignettingCalibration, focal: float, f_number: float, dist: float) -> float:
    f1 = focal - profile.focal_min_mm
    f2 = c.focal_length_mm - profile.focal_min_mm
    df = profile.focal_max_mm - profile.focal_min_mm
    if df != 0:
        f1 /= df
        f2 /= df
    a1, a2 = 4.0 / f_number, 4.0 / c.f_number
    d1, d2 = 0.1 / dist, 0.1 / c.focus_distance_m
    return math.sqrt((f2 - f1) ** 2 + (a2 - a1) ** 2 + (d2 - d1) ** 2)


def interpolate_vignetting(
    profile: LensProfile, focal_length_mm: float, f_number: float, focus_distance_m: float = DEFAULT_FOCUS_DISTANCE_M
) -> VignettingCalibration | None:
    """Vignetting terms by inverse-distance weighting (power 3.5), lensfun rules.

    Parameters
    ----------
    profile : LensProfile
    focal_length_mm : float
    f_number : float
    focus_distance_m : float
        Metres; 1000 stands for infinity.

    Returns
    -------
    VignettingCalibration or None
        ``None`` when there are no samples or the nearest one is farther than 1 (in the
        normalised distance above).

    References
    ----------
    lensfun ``libs/lensfun/lens.cpp``, ``lfLens::InterpolateVignetting`` and
    ``__vignetting_dist``.
    """
    if not profile.vignetting:
        return None
    model = None
    total = 0.0
    acc: dict[str, float] = {}
    smallest = math.inf
    for c in profile.vignetting:
        if model is None:
            model = c.model
        elif c.model != model:
            continue
        d = _vig_distance(profile, c, focal_length_mm, f_number, focus_distance_m)
        if d < 1e-4:
            return c
        smallest = min(smallest, d)
        w = abs(1.0 / d**3.5)
        for k, v in c.terms.items():
            acc[k] = acc.get(k, 0.0) + w * float(v)
        total += w
    if smallest > 1 or total <= 0:
        return None
    first = profile.vignetting[0]
    return VignettingCalibration(
        model=first.model,
        focal_length_mm=float(focal_length_mm),
        f_number=float(f_number),
        focus_distance_m=float(focus_distance_m),
        terms={k: v / total for k, v in acc.items()},
    )


def real_focal_length(profile: LensProfile, focal_length_mm: float) -> float:
    """The real (optical) focal length lensfun uses for projection changes, mm.

    From the profile's ``<real-focal-length>`` entries (Hermite-interpolated) when present;
    otherwise the nominal focal length times Hugin's correction: ``1 - k1`` (poly3),
    ``1 - a - b - c`` (ptlens), 1 (others).

    References
    ----------
    lensfun ``libs/lensfun/modifier.cpp`` (``GetRealFocalLength``,
    ``get_hugin_focal_correction``), lensfun 0.3.x.
    """
    entries = profile.extra.get("real_focal_length_mm", ()) if isinstance(profile.extra, Mapping) else ()
    entries = [(float(f), float(r)) for f, r in entries if r]  # type: ignore[misc]
    if entries:
        f = focal_length_mm
        for ef, er in entries:
            if _f32(ef) == _f32(f):
                return er
        above = sorted([e for e in entries if f - e[0] < 0], key=lambda e: e[0])
        below = sorted([e for e in entries if f - e[0] >= 0], key=lambda e: -e[0])
        s1 = above[0] if above else None
        s2 = below[0] if below else None
        if s1 is None or s2 is None:
            return (s1 or s2)[1]  # type: ignore[index]
        s0 = above[1][1] if len(above) > 1 else None
        s3 = below[1][1] if len(below) > 1 else None
        t = (f - s1[0]) / (s2[0] - s1[0])
        return hermite_lensfun(s0, s1[1], s2[1], s3, t)
    d = interpolate_distortion(profile, focal_length_mm)
    corr = 1.0
    if d is not None:
        if d.model == "poly3":
            corr = 1 - d.terms["k1"]
        elif d.model == "ptlens":
            corr = 1 - d.terms["a"] - d.terms["b"] - d.terms["c"]
    return focal_length_mm * corr


def interpolate(
    profile: LensProfile,
    focal_length_mm: float,
    f_number: float | None = None,
    focus_distance_m: float | None = None,
) -> LensCalibration:
    """A profile's calibration at one shot's settings.

    Parameters
    ----------
    profile : LensProfile
    focal_length_mm : float
        Focal length of the shot, mm (> 0).
    f_number : float, optional
        Without it there is no vignetting correction (``vignetting`` is ``None``).
    focus_distance_m : float, optional
        Focus distance, metres; default 1000 (infinity, lensfun's convention).

    Returns
    -------
    LensCalibration
        ``distortion``, ``tca``, ``vignetting`` are ``None`` where the profile has no data
        (or, for vignetting, no sample within distance 1).

    Raises
    ------
    UsageError
        Focal length, f-number or focus distance not a positive finite number.

    References
    ----------
    lensfun ``libs/lensfun/lens.cpp`` (0.3.x): ``InterpolateDistortion``, ``InterpolateTCA``,
    ``InterpolateVignetting``.

    Examples
    --------
    >>> from l2tech.profiles.model import LensProfile, DistortionCalibration
    >>> p = LensProfile("X", "Y", distortion=(DistortionCalibration("poly3", 20, {"k1": 0.01}),
    ...                                       DistortionCalibration("poly3", 40, {"k1": 0.02})))
    >>> round(interpolate(p, 30).distortion.terms["k1"], 6)   # (0.2 + 0.8) / 2 / 30
    0.016667
    """
    for name, v in (("focal_length_mm", focal_length_mm), ("f_number", f_number), ("focus_distance_m", focus_distance_m)):
        if v is not None and not (isinstance(v, (int, float, np.floating, np.integer)) and math.isfinite(v) and v > 0):
            raise UsageError(f"{name} must be a positive number, got {v!r}")
    dist = DEFAULT_FOCUS_DISTANCE_M if focus_distance_m is None else float(focus_distance_m)
    return LensCalibration(
        profile=profile,
        focal_length_mm=float(focal_length_mm),
        f_number=None if f_number is None else float(f_number),
        focus_distance_m=focus_distance_m if focus_distance_m is None else float(focus_distance_m),
        distortion=interpolate_distortion(profile, float(focal_length_mm)),
        tca=interpolate_tca(profile, float(focal_length_mm)),
        vignetting=None if f_number is None else interpolate_vignetting(profile, float(focal_length_mm), float(f_number), dist),
    )
