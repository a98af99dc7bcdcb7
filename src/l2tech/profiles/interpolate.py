"""Interpolate a lens profile's calibration points at one shot's settings: one rule per family.

:func:`interpolate` is the only door: stills, video, ``l2 info`` and ``l2 lens match`` all get a
shot's coefficients from it. It picks the rule from the profile's family
(:func:`profile_family`, registry :data:`INTERPOLATORS`):

``"lensfun"`` — lensfun XML and everything in lensfun's models (``poly3``, ``poly5``,
``ptlens``, TCA ``linear`` / ``poly3``, vignetting ``pa``); :func:`interpolate_lensfun`:

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

``"lcp"`` — Adobe lens profiles (``adobe_rectilinear``, ``adobe_fisheye``, ``adobe_vignette``);
:func:`interpolate_lcp`: piecewise-linear over the entries' keys (focal length, focus distance,
aperture), nested; its docstring gives the rule and why.

``"linear"`` — pixel-based models (``opencv``, ``kannala_brandt``: Gyroflow, OpenCV YAML,
calibrations) and the DNG / RW2 embedded warps (``dng_*``); :func:`interpolate_linear`:
Gyroflow's rule, every term linear in focal length between the two bracketing points, clamped
to the first/last point outside the range; a single point applies as it is. Tables of the
radius (``radial_table*``, camera maker notes) follow the same rule as functions: both tables
sampled at the union of their knots, then blended (:func:`l2tech.optics.radial_table.blend_tables`).

References
----------
lensfun ``libs/lensfun/lens.cpp`` (``lfLens::InterpolateDistortion``, ``InterpolateTCA``,
``InterpolateVignetting``, ``__insert_spline``, ``__parameter_scales``, ``__vignetting_dist``)
and ``libs/lensfun/auxfun.cpp`` (``_lf_interpolate``), lensfun 0.3.x. Gyroflow
``src/core/lens_profile.rs`` (``get_interpolated_lens_at``). RawTherapee ``rtengine/lcp.cc``
(``LCPProfile::calcParams``) for the LCP keys.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import replace
from typing import Any, Callable, Mapping, Sequence, TypeVar

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
    "profile_family",
    "INTERPOLATORS",
    "interpolate_lensfun",
    "interpolate_lcp",
    "interpolate_linear",
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




def _result(profile: LensProfile, focal: float, f_number: float | None, focus_distance_m: float | None,
            distortion: DistortionCalibration | None, tca: TCACalibration | None,
            vignetting: VignettingCalibration | None) -> LensCalibration:
    return LensCalibration(profile, focal, None if f_number is None else float(f_number),
                           None if focus_distance_m is None else float(focus_distance_m), distortion, tca, vignetting)


# --------------------------------------------------------------------------------------------
# family "lensfun"


def interpolate_lensfun(
    profile: LensProfile, focal_length_mm: float, f_number: float | None, focus_distance_m: float | None
) -> LensCalibration:
    """A lensfun-family profile at one shot's settings (lensfun 0.3.x rules, module docs).

    Parameters and returns as :func:`interpolate` (already validated).

    References
    ----------
    lensfun ``libs/lensfun/lens.cpp`` (0.3.x): ``InterpolateDistortion``, ``InterpolateTCA``,
    ``InterpolateVignetting``.
    """
    f = float(focal_length_mm)
    dist = DEFAULT_FOCUS_DISTANCE_M if focus_distance_m is None else float(focus_distance_m)
    vig = None if f_number is None else interpolate_vignetting(profile, f, float(f_number), dist)
    return _result(profile, f, f_number, focus_distance_m, interpolate_distortion(profile, f), interpolate_tca(profile, f), vig)


# --------------------------------------------------------------------------------------------
# piecewise-linear helpers (families "lcp" and "linear")


def _bracket(keys: Sequence[float], x: float) -> list[tuple[float, float]]:
    """``(key, weight)`` of the one or two distinct keys around ``x``: linear, clamped at the ends."""
    ks = sorted(set(keys))
    if x <= ks[0]:
        return [(ks[0], 1.0)]
    if x >= ks[-1]:
        return [(ks[-1], 1.0)]
    i = bisect.bisect_right(ks, x)  # ks[i - 1] <= x < ks[i]
    lo, hi = ks[i - 1], ks[i]
    if x == lo:
        return [(lo, 1.0)]
    t = (x - lo) / (hi - lo)
    return [(lo, 1.0 - t), (hi, t)]


def _nested_weights(entries: Sequence[Any], axes: Sequence[tuple[Callable[[Any], float], float]]) -> list[tuple[Any, float]]:
    """Weights of ``entries`` for linear interpolation along ``axes`` in turn (outermost first).

    Each axis is ``(key of an entry, target)``. Along the first axis the entries are grouped by
    key and the two groups around the target get linear weights; inside each group the next
    axis is handled the same way. Entries left with equal keys on every axis share their
    group's weight equally (averaged).
    """
    if not axes:
        return [(e, 1.0 / len(entries)) for e in entries]
    key, target = axes[0]
    groups: dict[float, list[Any]] = {}
    for e in entries:
        groups.setdefault(key(e), []).append(e)
    out: list[tuple[Any, float]] = []
    for k, w in _bracket(list(groups), target):
        if w > 0.0:
            out += [(e, w * wi) for e, wi in _nested_weights(groups[k], axes[1:])]
    return out


def _blend_terms(weighted: Sequence[tuple[Mapping[str, float], float]], default: Callable[[Mapping[str, float], str], float | None]) -> dict[str, float]:
    """``Σ wᵢ · termsᵢ[k]`` for every key; a term an entry lacks takes ``default(terms, k)``, or,
    where that is ``None`` (no model default), the entry is left out of that key's sum and the
    other weights are renormalised."""
    keys = list(dict.fromkeys(k for terms, _ in weighted for k in terms))
    out: dict[str, float] = {}
    for k in keys:
        acc = total = 0.0
        for terms, w in weighted:
            v = float(terms[k]) if k in terms else default(terms, k)
            if v is not None:
                acc += w * v
                total += w
        out[k] = acc / total
    return out


# --------------------------------------------------------------------------------------------
# family "lcp"

#: Adobe camera model defaults for a parameter an entry leaves out (``optics.adobe``):
#: centre 0.5, ScaleFactor 1, FocalLengthY = FocalLengthX, every other parameter 0.
_LCP_DEFAULTS = {"ImageXCenter": 0.5, "ImageYCenter": 0.5, "ScaleFactor": 1.0}
_LCP_NO_DEFAULT = frozenset({"FocalLengthX", "FocusDistance"})


def _lcp_default(terms: Mapping[str, float], key: str) -> float | None:
    prefix, base = (key[:2], key[2:]) if key[:2] in ("R_", "G_", "B_") else ("", key)
    if base == "FocalLengthY":
        fx = terms.get(prefix + "FocalLengthX")
        return None if fx is None else float(fx)
    if base in _LCP_NO_DEFAULT:
        return None
    return _LCP_DEFAULTS.get(base, 0.0)


def _inverse_distance(distance_m: float) -> float:
    """``1 / d`` in 1/m; infinity (and LCP's 0 or negative "unknown") is 0."""
    d = float(distance_m)
    return 1.0 / d if 0.0 < d < math.inf else 0.0


def _apex(f_number: float) -> float:
    return 2.0 * math.log2(float(f_number))


def interpolate_lcp(
    profile: LensProfile, focal_length_mm: float, f_number: float | None, focus_distance_m: float | None
) -> LensCalibration:
    """An Adobe LCP profile at one shot's settings.

    Every LCP entry is keyed by ``FocalLength`` (mm), ``FocusDistance`` (m) and
    ``ApertureValue`` (APEX Av). The rule, piecewise-linear and nested:

    1. focal length: the entries at the nearest calibrated focal lengths below and above the
       shot (one when it falls on an entry or outside the range, clamped), weights
       ``1 - t, t`` with ``t = (f - f_lo) / (f_hi - f_lo)``;
    2. inside each of those focal lengths, focus distance, linear in ``u = 1/d`` (1/m;
       infinity is ``u = 0``), clamped at that focal length's nearest and farthest entries;
    3. vignetting only: inside each (focal, distance), aperture, linear in APEX
       ``Av = 2 log2 N``, clamped;
    4. entries equal in all keys that count (distortion and CA ignore the aperture) are
       averaged; every parameter is the weighted sum ``Σ wᵢ pᵢ`` (an entry lacking one takes
       the Adobe model's default: centre 0.5, ``ScaleFactor`` 1, ``FocalLengthY =
       FocalLengthX``, others 0).

    Parameters
    ----------
    profile : LensProfile
        From :func:`l2tech.profiles.lcp.read_lcp`.
    focal_length_mm : float
        Focal length of the shot, mm (validated by :func:`interpolate`).
    f_number : float or None
        Without it there is no vignetting correction.
    focus_distance_m : float or None
        Metres; ``None`` is 1000 m (infinity, :data:`DEFAULT_FOCUS_DISTANCE_M`).

    Returns
    -------
    LensCalibration
        Distortion and TCA terms carry ``FocusDistance`` = the shot's distance.

    Notes
    -----
    Adobe does not publish Camera Raw's rule. RawTherapee (``LCPProfile::calcParams``) blends
    only two entries: the bracketing focal lengths, each entry chosen by nearest focus distance
    (distortion, CA) or aperture (vignetting), the focal factor then mixed 0.8/0.2 with a
    log-distance factor (0.5/0.5 with an aperture factor). That weighting does not return the
    entry's own values at an entry's keys when both keys differ, and depends on entry order
    when several entries tie. The nested rule here returns every entry exactly at its keys, is
    continuous in each key and independent of entry order, and reduces to RawTherapee's
    linear-in-focal blend when only the focal length varies. Focus distance is linear in
    ``1/d`` because the lens extension that changes distortion grows as ``f² / (d - f) ≈ f²/d``
    (thin lens), and ``1/d`` keeps infinity finite (lensfun's vignetting distance uses ``0.1/d``
    for the same reason). The aperture axis is the file's own key (APEX stops).

    References
    ----------
    Adobe, "Adobe Camera Model" (Lens Profile Creator documentation; LCP keys ``FocalLength``,
    ``FocusDistance``, ``ApertureValue``). RawTherapee ``rtengine/lcp.cc``
    (``LCPProfile::calcParams``), compared above.

    Examples
    --------
    Two focal lengths × two focus distances, ``k1 = RadialDistortParam1``: 24 mm at 1 m → -0.20,
    24 mm at 2 m → -0.10, 70 mm at 1 m → 0.04, 70 mm at 2 m → 0.02. At 47 mm and 4/3 m:
    ``t = (47 - 24) / (70 - 24) = 0.5``; ``u = 0.75`` is halfway between ``1/1`` and ``1/2``, so
    24 mm gives -0.15, 70 mm gives 0.03, and the shot ``0.5 · -0.15 + 0.5 · 0.03 = -0.06``:

    >>> from l2tech.profiles.model import DistortionCalibration as D, LensProfile
    >>> def e(f, d, k1):
    ...     return D("adobe_rectilinear", f, {"FocalLengthX": 1.0, "RadialDistortParam1": k1, "FocusDistance": d})
    >>> p = LensProfile("A", "B", distortion=(e(24, 1, -0.2), e(24, 2, -0.1), e(70, 1, 0.04), e(70, 2, 0.02)))
    >>> round(interpolate_lcp(p, 47.0, None, 4 / 3).distortion.terms["RadialDistortParam1"], 12)
    -0.06
    """
    f = float(focal_length_mm)
    dist = DEFAULT_FOCUS_DISTANCE_M if focus_distance_m is None else float(focus_distance_m)
    u = _inverse_distance(dist)

    def geometric(entries):
        if not entries:
            return None
        axes = [(lambda c: float(c.focal_length_mm), f), (lambda c: _inverse_distance(c.terms.get("FocusDistance", DEFAULT_FOCUS_DISTANCE_M)), u)]
        weighted = _nested_weights(entries, axes)
        terms = _blend_terms([(c.terms, w) for c, w in weighted], _lcp_default)
        terms["FocusDistance"] = dist
        return replace(entries[0], focal_length_mm=f, terms=terms)

    vig = None
    if f_number is not None and profile.vignetting:
        axes = [(lambda c: float(c.focal_length_mm), f), (lambda c: _inverse_distance(c.focus_distance_m), u),
                (lambda c: _apex(c.f_number), _apex(f_number))]
        weighted = _nested_weights(profile.vignetting, axes)
        vig = VignettingCalibration(profile.vignetting[0].model, f, float(f_number), dist,
                                    _blend_terms([(c.terms, w) for c, w in weighted], _lcp_default))
    return _result(profile, f, f_number, focus_distance_m, geometric(profile.distortion), geometric(profile.tca), vig)


# --------------------------------------------------------------------------------------------
# family "linear" (Gyroflow's rule)


def _linear_in_focal(entries: Sequence[Any], focal: float) -> Any:
    if not entries:
        return None
    model = entries[0].model
    pts = sorted((c for c in entries if c.model == model), key=lambda c: c.focal_length_mm)
    weights = _bracket([c.focal_length_mm for c in pts], focal)
    firsts = [next(c for c in pts if c.focal_length_mm == k) for k, _ in weights]
    if len(firsts) == 1:
        return firsts[0]
    if model.startswith("radial_table"):  # tables: the functions blended, on the union of their knots
        from l2tech.optics.radial_table import blend_tables

        terms = blend_tables([(c.terms, w) for c, (_, w) in zip(firsts, weights)])
        return replace(firsts[0], focal_length_mm=float(focal), terms=terms)
    terms = _blend_terms([(c.terms, w) for c, (_, w) in zip(firsts, weights)], lambda terms, key: 0.0)
    return replace(firsts[0], focal_length_mm=float(focal), terms=terms)


def interpolate_linear(
    profile: LensProfile, focal_length_mm: float, f_number: float | None, focus_distance_m: float | None
) -> LensCalibration:
    """A pixel-model (Gyroflow, OpenCV) or embedded (DNG, RW2) profile at one focal length.

    Every term linear in focal length between the two bracketing calibration points; the
    first/last point outside the range (clamped); a single point applies as it is. Only the
    first model met is used. Aperture and focus distance do not enter (Gyroflow profiles have
    no such keys); vignetting, where a profile has it, needs ``f_number`` as for every family.

    Parameters and returns as :func:`interpolate` (already validated).

    References
    ----------
    Gyroflow ``src/core/lens_profile.rs``, ``get_interpolated_lens_at``.
    """
    f = float(focal_length_mm)
    vig = None if f_number is None else _linear_in_focal(profile.vignetting, f)
    return _result(profile, f, f_number, focus_distance_m, _linear_in_focal(profile.distortion, f), _linear_in_focal(profile.tca, f), vig)


# --------------------------------------------------------------------------------------------
# the front door

#: Interpolation rule of each profile family (:func:`profile_family`).
INTERPOLATORS: dict[str, Callable[[LensProfile, float, float | None, float | None], LensCalibration]] = {
    "lensfun": interpolate_lensfun,
    "lcp": interpolate_lcp,
    "linear": interpolate_linear,
}

_LINEAR_MODELS = frozenset({"opencv", "kannala_brandt"})


def profile_family(profile: LensProfile) -> str:
    """The interpolation family of a profile, from its first calibration point's model.

    Returns
    -------
    str
        ``"lcp"`` for ``adobe_*`` models, ``"linear"`` for ``opencv``, ``kannala_brandt``,
        ``dng_*`` and ``radial_table*``, ``"lensfun"`` otherwise (and for a profile without
        calibration points).
    """
    for c in (*profile.distortion, *profile.tca, *profile.vignetting):
        if c.model.startswith("adobe_"):
            return "lcp"
        if c.model in _LINEAR_MODELS or c.model.startswith(("dng_", "radial_table")):
            return "linear"
        return "lensfun"
    return "lensfun"


def interpolate(
    profile: LensProfile,
    focal_length_mm: float,
    f_number: float | None = None,
    focus_distance_m: float | None = None,
) -> LensCalibration:
    """A profile's calibration at one shot's settings, by its family's rule (module docs).

    Parameters
    ----------
    profile : LensProfile
    focal_length_mm : float
        Focal length of the shot, mm (> 0).
    f_number : float, optional
        Without it there is no vignetting correction (``vignetting`` is ``None``).
    focus_distance_m : float, optional
        Focus distance, metres (> 0; ``inf`` allowed); default 1000 (infinity, lensfun's
        convention).

    Returns
    -------
    LensCalibration
        ``distortion``, ``tca``, ``vignetting`` are ``None`` where the profile has no data
        (or, for lensfun vignetting, no sample within distance 1).

    Raises
    ------
    UsageError
        Focal length or f-number not a positive finite number; focus distance not positive.

    References
    ----------
    lensfun ``libs/lensfun/lens.cpp`` (0.3.x); Gyroflow ``src/core/lens_profile.rs``;
    :func:`interpolate_lcp` for Adobe profiles.

    Examples
    --------
    >>> from l2tech.profiles.model import LensProfile, DistortionCalibration
    >>> p = LensProfile("X", "Y", distortion=(DistortionCalibration("poly3", 20, {"k1": 0.01}),
    ...                                       DistortionCalibration("poly3", 40, {"k1": 0.02})))
    >>> round(interpolate(p, 30).distortion.terms["k1"], 6)   # (0.2 + 0.8) / 2 / 30
    0.016667
    """
    for name, v in (("focal_length_mm", focal_length_mm), ("f_number", f_number), ("focus_distance_m", focus_distance_m)):
        if v is None:
            continue
        ok = isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool) and v > 0
        ok = ok and (math.isfinite(v) or (name == "focus_distance_m" and v == math.inf))
        if not ok:
            raise UsageError(f"{name} must be a positive number, got {v!r}")
    return INTERPOLATORS[profile_family(profile)](profile, float(focal_length_mm), f_number, focus_distance_m)
