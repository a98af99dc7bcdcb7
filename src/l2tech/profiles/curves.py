"""Lens curves against radius: the data and the plots shared by the lens page and the calibration report.

One definition of each curve, so that ``l2 serve``'s lens page and ``l2 calibrate``'s HTML
report draw the same thing:

*Distortion* — ``D(r) = r_d / (r_u · m0) − 1`` in percent, with ``m0 = r_d / r_u`` at the
centre (``1 − k1`` for poly3, ``1 − a − b − c`` for ptlens, 1 for poly5). ``D(0) = 0``: the
curve shows how the image height departs from the paraxial (centre) magnification, which is
the photographer's "barrel / pincushion" percentage. It is evaluated in the profile's own
normalisation (lensfun Hugin units: r = 1 at half the short side of the calibration sensor),
and plotted against the paraxial image height ``r_p = m0 · r_u`` so that fits of the same
lens with different models (whose ``r_u`` scales differ by ``m0``) fall on one curve.

*TCA* — red and blue radial factor ``r_c / r_d − 1`` in percent against the green ``r_d``
(Hugin units).

*Vignetting* — relative illumination ``g(r)`` of the ``pa`` model (1 at the centre) against
r in vignetting units (r = 1 at the calibration sensor's corner).

The curve values are computed with :mod:`l2tech.optics.lensfun` (the same functions the
correction uses); plots are drawn with matplotlib (Agg) to SVG.

References
----------
lensfun ``libs/lensfun/lensfun.h.in`` (model formulas), ``modifier.cpp``
(``get_hugin_focal_correction``: the centre magnification ``1 − k1`` / ``1 − a − b − c``);
ISO 9039:2008 (distortion as a percentage of the paraxial image height).
"""

from __future__ import annotations

import io
import math
from typing import Any, Mapping, Sequence

import numpy as np

from l2tech.errors import InvalidProfileError

__all__ = [
    "LENSFUN_DISTORTION_MODELS",
    "adobe_distortion_curve",
    "distortion_center_magnification",
    "distortion_curve",
    "distortion_percent",
    "lens_curves",
    "plot_curves_svg",
]

#: Distortion models whose curves are drawn (the lensfun families).
LENSFUN_DISTORTION_MODELS = ("poly3", "poly5", "ptlens")


def distortion_center_magnification(model: str, terms: Mapping[str, float]) -> float:
    """``m0 = lim r→0 r_d / r_u`` of a lensfun distortion model.

    Parameters
    ----------
    model : {"poly3", "poly5", "ptlens"}
    terms : Mapping[str, float]

    Returns
    -------
    float
        ``1 − k1`` (poly3), ``1`` (poly5), ``1 − a − b − c`` (ptlens).

    Raises
    ------
    InvalidProfileError
        Unknown model, or ``m0 <= 0`` (no image at the centre).

    References
    ----------
    lensfun ``modifier.cpp`` ``get_hugin_focal_correction``.
    """
    from l2tech.optics.lensfun import distortion_factor

    m0 = float(distortion_factor(model, terms, np.zeros(1))[0])
    if not m0 > 0:
        raise InvalidProfileError(f"{model} distortion with terms {dict(terms)} has centre magnification {m0:g} (must be > 0)")
    return m0


def distortion_percent(model: str, terms: Mapping[str, float], r_u: np.ndarray) -> np.ndarray:
    """Distortion in percent of the paraxial image height, ``100 (r_d / (m0 r_u) − 1)``.

    Parameters
    ----------
    model : {"poly3", "poly5", "ptlens"}
    terms : Mapping[str, float]
    r_u : ndarray, any shape, float64
        Undistorted radius in the profile's normalisation (Hugin units).

    Returns
    -------
    ndarray, same shape, float64
        0 at ``r_u = 0`` exactly (evaluated as a ratio of radial factors, never ``r_d / r_u``);
        negative for barrel, positive for pincushion.

    Raises
    ------
    InvalidProfileError
        As :func:`distortion_center_magnification`.
    """
    from l2tech.optics.lensfun import distortion_factor

    r = np.asarray(r_u, np.float64)
    m0 = distortion_center_magnification(model, terms)
    return 100.0 * (distortion_factor(model, terms, r * r) / m0 - 1.0)


def distortion_curve(model: str, terms: Mapping[str, float], r_u: np.ndarray) -> dict[str, Any]:
    """One distortion curve as JSON-able data (the lens page's and the calibration report's).

    Parameters
    ----------
    model : {"poly3", "poly5", "ptlens"}
    terms : Mapping[str, float]
    r_u : ndarray, shape (N,), float64
        Undistorted radii, Hugin units.

    Returns
    -------
    dict
        ``model``, ``terms``, ``center_magnification`` (m0), ``r_u``, ``r_d`` (the model of
        :data:`l2tech.optics.lensfun.DISTORTION_FUNCTIONS` at ``r_u``), ``r_paraxial``
        (``m0 · r_u``) and ``percent`` (:func:`distortion_percent`), lists of float.
    """
    from l2tech.optics.lensfun import DISTORTION_FUNCTIONS

    terms = {k: float(v) for k, v in terms.items()}
    r = np.asarray(r_u, np.float64)
    m0 = distortion_center_magnification(model, terms)
    r_d = np.asarray(DISTORTION_FUNCTIONS[model](r, **terms), np.float64)
    return {"model": model, "terms": terms, "center_magnification": m0, "r_u": r.tolist(), "r_d": r_d.tolist(),
            "r_paraxial": (m0 * r).tolist(), "percent": distortion_percent(model, terms, r).tolist()}


def adobe_distortion_curve(terms: Mapping[str, float], r_h: np.ndarray, aspect: float) -> dict[str, Any]:
    """The distortion curve of an Adobe rectilinear model (LCP), on the lensfun curves' axis.

    Parameters
    ----------
    terms : Mapping[str, float]
        Adobe parameter names: ``FocalLengthX`` (units of the image's long side),
        ``RadialDistortParam1..3`` (k1..k3).
    r_h : ndarray, shape (N,), float64
        Radii in Hugin units (1 = half the short side of the frame).
    aspect : float
        Long side over short side of the frame the model describes.

    Returns
    -------
    dict
        As :func:`distortion_curve` (``model`` is ``adobe_rectilinear``, ``center_magnification``
        1): ``r_d = r_u (1 + k1 ρ² + k2 ρ⁴ + k3 ρ⁶)`` with ``ρ = r_u / (2 · aspect · FocalLengthX)``
        the radius in focal lengths, ``percent = 100 (k1 ρ² + k2 ρ⁴ + k3 ρ⁶)``; tangential terms
        are not radial and are left out.

    Raises
    ------
    InvalidProfileError
        ``FocalLengthX`` missing or not positive.

    References
    ----------
    Adobe Camera Model (Adobe Lens Profile Creator documentation, "Rectilinear model"):
    ``x_d = x_u (1 + k1 r² + k2 r⁴ + k3 r⁶) + tangential terms``, ``r`` in units of the focal length.
    """
    t = {k: float(v) for k, v in terms.items()}
    fx = t.get("FocalLengthX", math.nan)
    if not (math.isfinite(fx) and fx > 0):
        raise InvalidProfileError(f"Adobe rectilinear model without a positive FocalLengthX ({fx})")
    r = np.asarray(r_h, np.float64)
    rho2 = (r / (2.0 * float(aspect) * fx)) ** 2
    poly = t.get("RadialDistortParam1", 0.0) * rho2 + t.get("RadialDistortParam2", 0.0) * rho2**2 \
        + t.get("RadialDistortParam3", 0.0) * rho2**3
    return {"model": "adobe_rectilinear", "terms": t, "center_magnification": 1.0, "r_u": r.tolist(),
            "r_d": (r * (1.0 + poly)).tolist(), "r_paraxial": r.tolist(), "percent": (100.0 * poly).tolist()}


def _radii(r_max: float, samples: int) -> np.ndarray:
    return np.linspace(0.0, r_max, samples)


def lens_curves(profile: Any, *, samples: int = 65) -> dict[str, Any]:
    """Distortion, TCA and vignetting curves of every calibration of a lens profile.

    Parameters
    ----------
    profile : l2tech.profiles.model.LensProfile
    samples : int
        Radii per curve, from 0 to the calibration sensor's corner.

    Returns
    -------
    dict
        JSON-able: ``{"lens", "radius_unit", "distortion": [...], "tca": [...],
        "vignetting": [...], "notes": [...]}``. Each distortion entry holds ``focal_length_mm``,
        ``model``, ``terms``, ``center_magnification``, ``r_u``, ``r_d`` (the model evaluated
        by :data:`l2tech.optics.lensfun.DISTORTION_FUNCTIONS`), ``r_paraxial`` and ``percent``;
        each TCA entry ``r``, ``red_percent``, ``blue_percent``; each vignetting entry
        ``f_number``, ``focus_distance_m``, ``r`` and ``illumination``. Calibrations of a model
        family without a radial curve here are listed in ``notes``.
    """
    from l2tech.optics.lensfun import tca_factors, vignetting_pa

    aspect = float(getattr(profile, "aspect_ratio", 1.5) or 1.5)
    corner = math.sqrt(1.0 + aspect * aspect)  # Hugin units: r = 1 at half the short side
    notes: list[str] = []
    dist = []
    for c in sorted(profile.distortion, key=lambda c: c.focal_length_mm):
        if c.model == "adobe_rectilinear":
            dist.append({"focal_length_mm": float(c.focal_length_mm),
                         **adobe_distortion_curve(c.terms, _radii(corner, samples), aspect)})
            continue
        if c.model not in LENSFUN_DISTORTION_MODELS:
            notes.append(f"distortion at {c.focal_length_mm:g} mm uses the {c.model} model: no radial curve drawn")
            continue
        dist.append({"focal_length_mm": float(c.focal_length_mm),
                     **distortion_curve(c.model, c.terms, _radii(corner, samples))})
    tca = []
    for c in sorted(profile.tca, key=lambda c: c.focal_length_mm):
        terms = {k: float(v) for k, v in c.terms.items()}
        r = _radii(corner, samples)
        try:
            red, blue = tca_factors(c.model, terms, r * r)
        except (InvalidProfileError, KeyError):
            notes.append(f"TCA at {c.focal_length_mm:g} mm uses the {c.model} model: no radial curve drawn")
            continue
        tca.append({"focal_length_mm": float(c.focal_length_mm), "model": c.model, "terms": terms, "r": r.tolist(),
                    "red_percent": (100.0 * (np.asarray(red, np.float64) - 1.0)).tolist(),
                    "blue_percent": (100.0 * (np.asarray(blue, np.float64) - 1.0)).tolist()})
    vig = []
    for c in sorted(profile.vignetting, key=lambda c: (c.focal_length_mm, c.f_number, c.focus_distance_m)):
        if c.model != "pa":
            notes.append(f"vignetting at {c.focal_length_mm:g} mm f/{c.f_number:g} uses the {c.model} model: no curve drawn")
            continue
        r = _radii(1.0, samples)  # vignetting units: r = 1 at the corner
        terms = {k: float(c.terms[k]) for k in ("k1", "k2", "k3")}
        vig.append({"focal_length_mm": float(c.focal_length_mm), "f_number": float(c.f_number),
                    "focus_distance_m": float(c.focus_distance_m), "model": c.model, "terms": terms, "r": r.tolist(),
                    "illumination": np.asarray(vignetting_pa(r, **terms), np.float64).tolist()})
    return {"lens": getattr(profile, "name", ""), "aspect_ratio": aspect,
            "radius_unit": "distortion/TCA: 1 = half the short side of the calibration sensor; vignetting: 1 = its corner",
            "distortion": dist, "tca": tca, "vignetting": vig, "notes": notes}


def _svg(fig: Any) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    return buf.getvalue()


def plot_curves_svg(curves: Mapping[str, Any], kind: str, *, title: str | None = None,
                    points: Sequence[tuple[np.ndarray, np.ndarray, str]] = (),
                    labels: Sequence[str] | None = None) -> str:
    """Draw one kind of :func:`lens_curves` data with matplotlib, as an SVG document.

    Parameters
    ----------
    curves : dict
        :func:`lens_curves` output (or several merged: entries may carry a ``label``, and a
        ``group`` number per lens, each group drawn in its own colour family).
    kind : {"distortion", "tca", "vignetting"}
    title : str, optional
    points : sequence of (x, y, label)
        Measured samples drawn as dots under the curves (the calibration report's corners),
        in the axes' units (paraxial radius, percent).
    labels : sequence of str, optional
        Legend labels, one per entry (default: the focal length / aperture).

    Returns
    -------
    str
        An ``<svg>`` document (UTF-8 text).

    Raises
    ------
    UsageError
        Unknown ``kind``.
    """
    from l2tech.errors import UsageError

    if kind not in ("distortion", "tca", "vignetting"):
        raise UsageError(f"unknown curve kind {kind!r}; valid: distortion, tca, vignetting")
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.6))
    ax = fig.subplots()
    entries = list(curves.get(kind, ()))
    for x, y, lab in points:
        ax.plot(x, y, ".", ms=2, color="0.6", label=lab)
    groups = sorted({int(e.get("group", 0)) for e in entries})
    colors: list[Any] = [None] * len(entries)
    if len(groups) > 1:  # a comparison: one colour family per lens, shaded by focal length
        import matplotlib as mpl

        for g in groups:
            idx = [i for i, e in enumerate(entries) if int(e.get("group", 0)) == g]
            cmap = mpl.colormaps[("Blues", "Oranges", "Greens", "Purples")[g % 4]]
            for j, i in enumerate(idx):
                colors[i] = cmap(0.4 + 0.55 * j / max(len(idx) - 1, 1))
    for i, e in enumerate(entries):
        lab = labels[i] if labels is not None else e.get("label")
        kw = {"color": colors[i]} if colors[i] is not None else {}
        if kind == "distortion":
            ax.plot(e["r_paraxial"], e["percent"], label=lab or f"{e['focal_length_mm']:g} mm ({e['model']})", **kw)
        elif kind == "tca":
            line, = ax.plot(e["r"], e["red_percent"], label=lab or f"{e['focal_length_mm']:g} mm red", **kw)
            ax.plot(e["r"], e["blue_percent"], ls="--", color=line.get_color(),
                    label=(lab + " blue") if lab else f"{e['focal_length_mm']:g} mm blue")
        else:
            ax.plot(e["r"], e["illumination"],
                    label=lab or f"{e['focal_length_mm']:g} mm f/{e['f_number']:g} {e['focus_distance_m']:g} m", **kw)
    if kind == "distortion":
        ax.set_xlabel("paraxial image height r (1 = half the short side)")
        ax.set_ylabel("distortion, % of r")
    elif kind == "tca":
        ax.set_xlabel("r (1 = half the short side)")
        ax.set_ylabel("red / blue size vs green, %")
    else:
        ax.set_xlabel("r (1 = image corner)")
        ax.set_ylabel("relative illumination")
    ax.axhline(1.0 if kind == "vignetting" else 0.0, color="k", lw=0.6)
    ax.grid(alpha=0.3)
    if entries or points:
        handles, _ = ax.get_legend_handles_labels()
        if 0 < len(handles) <= 24:
            ax.legend(fontsize=6, ncol=2 if len(handles) > 8 else 1)
    if title:
        ax.set_title(title)
    return _svg(fig)
