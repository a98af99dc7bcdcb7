"""Radial corrections given as tables: piecewise-linear splines of the radius, applied as they are.

Sony and Fujifilm bodies record their lens correction as linear splines of the radius (knots and
values; :mod:`l2tech.profiles.makernotes` reads them). RawTherapee and darktable apply those
splines directly, linear between knots and with the end values held beyond them; the layout a
Fujifilm body records (a ramp from the centre to its first knot at 0.354, a kink where the
re-sampled spline meets the value held past the last knot) is no DNG polynomial within a pixel.
These families carry the spline itself, so the correction is exactly theirs (no fit).

Families and terms (flattened into the ``dict[str, float]`` of a calibration point):

* geometry ``"radial_table"``, distortion entry: ``n`` (knots, 2 ≤ n ≤ :data:`MAX_KNOTS`),
  ``r0 .. r{n-1}`` output (corrected) radii, strictly increasing, ≥ 0, and ``f0 .. f{n-1}``
  the factor ``r_src / r_out`` there (> 0); ``cx, cy`` the centre relative to the frame
  (default 0.5, 0.5);
* geometry ``"radial_table"``, TCA entry: ``n``, ``r0 ..``, ``r_f0 ..`` and ``b_f0 ..``, the
  red and blue factors on top of the green plane's (1 = no colour shift; RawTherapee's
  ``caCorrectionFactor``), ``cx, cy``;
* vignetting ``"radial_table_vignette"``: ``n``, ``r0 ..`` and ``g0 ..`` the gain that
  multiplies the linear data there (> 0), ``cx, cy``.

Radii are in units of ``R``, the largest distance from the centre ``C = (cx · W, cy · H)`` to a
corner of ``[0, W] × [0, H]`` (pixels at integer positions): the half-diagonal for a centred
table, as RawTherapee's ``rf = 1 / sqrt(w2² + h2²)`` and the DNG warp opcodes
(:func:`l2tech.optics.dng.dng_center_and_radius`). For an output pixel ``p`` at
``r = |p − C| / R`` the source is ``C + (p − C) · f(r)`` with ``f`` the green table (1 when
distortion is off) times the red / blue table for those planes; the gain is ``g(r)``. Every
table is linear between knots and holds its end values outside them (``np.interp``, which is
RawTherapee's ``interpolateLinearSpline``).

References
----------
RawTherapee ``rtengine/lensmetadata.cc`` (``interpolateLinearSpline``,
``CenterRadiusMetadataLensCorrection::process`` and ``processVignetteNChannels``,
``SonyMetadataLensCorrection``, ``FujiMetadataLensCorrection``); darktable ``src/iop/lens.cc``
(the embedded-metadata correction, ``_init_coeffs_md_v1/v2`` and ``_interpolate_linear_spline``).
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping, Sequence

import numpy as np

from l2tech.errors import InvalidProfileError

__all__ = [
    "MAX_KNOTS",
    "radial_table_terms",
    "radial_table_tca_terms",
    "radial_table_vignette_terms",
    "table",
    "table_problem",
    "blend_tables",
    "radial_table_source_radius",
    "radial_table_gain",
    "radial_table_warp",
]

#: Most knots a table may have (Sony records up to 16, RawTherapee's Fujifilm re-sampling 16).
MAX_KNOTS = 4096

_INDEXED = re.compile(r"^(.*?)(\d+)$")


def _check_series(knots: Sequence[float], values: Sequence[float], what: str) -> tuple[np.ndarray, np.ndarray]:
    k = np.asarray([float(v) for v in knots], dtype=np.float64)
    v = np.asarray([float(x) for x in values], dtype=np.float64)
    if k.ndim != 1 or not (2 <= k.size <= MAX_KNOTS) or v.shape != k.shape:
        raise InvalidProfileError(f"radial table: {what} needs 2 to {MAX_KNOTS} knots and as many values "
                                  f"(got {k.size} knots, {v.size} values)")
    if not (np.all(np.isfinite(k)) and np.all(np.isfinite(v))):
        raise InvalidProfileError(f"radial table: {what} has a value that is not a finite number")
    if k[0] < 0 or np.any(np.diff(k) <= 0):
        raise InvalidProfileError(f"radial table: {what} knots must be >= 0 and strictly increasing")
    if np.any(v <= 0):
        raise InvalidProfileError(f"radial table: {what} values must be > 0 (a factor or gain)")
    return k, v


def _flat(knots: np.ndarray, series: Mapping[str, np.ndarray], cx: float, cy: float) -> dict[str, float]:
    out: dict[str, float] = {"n": float(knots.size)}
    out.update({f"r{i}": float(x) for i, x in enumerate(knots)})
    for prefix, vals in series.items():
        out.update({f"{prefix}{i}": float(x) for i, x in enumerate(vals)})
    out.update(cx=float(cx), cy=float(cy))
    return out


def radial_table_terms(knots: Sequence[float], factors: Sequence[float], *, cx: float = 0.5,
                       cy: float = 0.5) -> dict[str, float]:
    """Terms of a ``"radial_table"`` distortion entry (module docs).

    Parameters
    ----------
    knots : sequence of float
        Output radii (units of ``R``), strictly increasing, ≥ 0.
    factors : sequence of float
        ``r_src / r_out`` at each knot (> 0).
    cx, cy : float
        Centre relative to the frame.

    Returns
    -------
    dict of str to float
        ``{"n", "r0", .., "f0", .., "cx", "cy"}``.

    Raises
    ------
    InvalidProfileError
        Fewer than 2 or more than :data:`MAX_KNOTS` knots, knots not increasing, a factor ≤ 0
        or not finite.
    """
    k, f = _check_series(knots, factors, "distortion")
    return _flat(k, {"f": f}, cx, cy)


def radial_table_tca_terms(knots: Sequence[float], red: Sequence[float], blue: Sequence[float], *, cx: float = 0.5,
                           cy: float = 0.5) -> dict[str, float]:
    """Terms of a ``"radial_table"`` TCA entry: red and blue factors on top of the green plane's.

    Returns
    -------
    dict of str to float
        ``{"n", "r0", .., "r_f0", .., "b_f0", .., "cx", "cy"}``.

    Raises
    ------
    InvalidProfileError
        As :func:`radial_table_terms`.
    """
    k, r = _check_series(knots, red, "TCA red")
    _, b = _check_series(knots, blue, "TCA blue")
    return _flat(k, {"r_f": r, "b_f": b}, cx, cy)


def radial_table_vignette_terms(knots: Sequence[float], gains: Sequence[float], *, cx: float = 0.5,
                                cy: float = 0.5) -> dict[str, float]:
    """Terms of a ``"radial_table_vignette"`` entry: the correction gain at each radius.

    Returns
    -------
    dict of str to float
        ``{"n", "r0", .., "g0", .., "cx", "cy"}``.

    Raises
    ------
    InvalidProfileError
        As :func:`radial_table_terms` (a gain ≤ 0 too).
    """
    k, g = _check_series(knots, gains, "vignetting")
    return _flat(k, {"g": g}, cx, cy)


def table(terms: Mapping[str, Any], prefix: str) -> tuple[np.ndarray, np.ndarray]:
    """The knots and the ``prefix`` series (``"f"``, ``"r_f"``, ``"b_f"``, ``"g"``) of a table's terms.

    Raises
    ------
    InvalidProfileError
        ``n`` missing or not a whole number in range, a key missing, or the series invalid
        (as :func:`radial_table_terms`).
    """
    try:
        n_f = float(terms["n"])
    except (KeyError, TypeError, ValueError):
        raise InvalidProfileError("radial table: the knot count 'n' is missing or not a number") from None
    if not (math.isfinite(n_f) and n_f == int(n_f) and 2 <= n_f <= MAX_KNOTS):
        raise InvalidProfileError(f"radial table: knot count n = {n_f!r} is not a whole number from 2 to {MAX_KNOTS}")
    n = int(n_f)
    missing = [k for i in range(n) for k in (f"r{i}", f"{prefix}{i}") if k not in terms]
    if missing:
        raise InvalidProfileError(f"radial table: terms {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''} "
                                  f"missing (n = {n})")
    return _check_series([terms[f"r{i}"] for i in range(n)], [terms[f"{prefix}{i}"] for i in range(n)],
                         {"f": "distortion", "r_f": "TCA red", "b_f": "TCA blue", "g": "vignetting"}.get(prefix, prefix))


def _prefixes(model: str, kind: str) -> tuple[str, ...]:
    if model == "radial_table_vignette":
        return ("g",)
    return ("r_f", "b_f") if kind == "tca" else ("f",)


def table_problem(model: str, kind: str, terms: Mapping[str, Any]) -> str | None:
    """What is wrong with a table's terms, or None (for :mod:`l2tech.profiles.validate`).

    Parameters
    ----------
    model : str
        ``"radial_table"`` or ``"radial_table_vignette"``.
    kind : str
        ``"distortion"``, ``"tca"`` or ``"vignetting"``.
    terms : mapping
    """
    try:
        for prefix in _prefixes(model, kind):
            table(terms, prefix)
    except InvalidProfileError as exc:
        return exc.reason
    return None


def blend_tables(weighted: Sequence[tuple[Mapping[str, Any], float]]) -> dict[str, float]:
    """A weighted sum of tables (interpolation between calibration points), exactly.

    Each table is sampled at the union of all knots: a piecewise-linear function with its ends
    held is linear between those knots and constant outside them, so the weighted sum of those
    samples is the weighted sum of the functions. The series blended are those of the first
    table (``f``; ``r_f, b_f``; ``g``); ``cx, cy`` are blended linearly.

    Raises
    ------
    InvalidProfileError
        A table is invalid or lacks a series the first one has.
    """
    first = weighted[0][0]
    prefixes = sorted({m.group(1) for k in first if (m := _INDEXED.match(k)) and m.group(1) not in ("r", "")})
    tabs = [({p: table(t, p) for p in prefixes}, t, w) for t, w in weighted]
    knots = np.unique(np.concatenate([tb[p][0] for tb, _, _ in tabs for p in prefixes]))
    series = {p: sum(w * np.interp(knots, *tb[p]) for tb, _, w in tabs) for p in prefixes}
    cx = sum(w * float(t.get("cx", 0.5)) for _, t, w in tabs)
    cy = sum(w * float(t.get("cy", 0.5)) for _, t, w in tabs)
    return _flat(knots, series, cx, cy)


def radial_table_source_radius(terms: Mapping[str, Any], r_out: np.ndarray) -> np.ndarray:
    """The source radius ``r_out · f(r_out)`` of a distortion table (units of ``R``)."""
    k, f = table(terms, "f")
    r = np.asarray(r_out, dtype=np.float64)
    return r * np.interp(r, k, f)


def _center(width: int, height: int, terms: Mapping[str, Any]) -> tuple[float, float, float]:
    from l2tech.optics.dng import dng_center_and_radius

    return dng_center_and_radius(width, height, float(terms.get("cx", 0.5)), float(terms.get("cy", 0.5)))


def radial_table_gain(width: int, height: int, terms: Mapping[str, Any]) -> np.ndarray:
    """Gain field of a ``"radial_table_vignette"`` entry.

    Parameters
    ----------
    width, height : int
        Image size in pixels.
    terms : mapping
        ``n, r0.., g0.., cx, cy`` (module docs).

    Returns
    -------
    ndarray, shape (H, W), float32
        ``g(|p − C| / R)``, linear between knots, end values held; multiply linear data by it.

    Raises
    ------
    InvalidProfileError
        Invalid terms.

    References
    ----------
    RawTherapee ``rtengine/lensmetadata.cc``, ``processVignetteNChannels``.
    """
    k, g = table(terms, "g")
    Cx, Cy, R = _center(width, height, terms)
    u = (np.arange(width, dtype=np.float64) - Cx) / R
    v = (np.arange(height, dtype=np.float64) - Cy) / R
    r = np.hypot(u[None, :], v[:, None])
    return np.interp(r, k, g).astype(np.float32)


def _fold_radius(planes: Sequence[Any], r_max: float) -> float | None:
    """The first radius in ``[0, r_max]`` where ``r · f(r)`` stops increasing for some plane."""
    knots = np.unique(np.concatenate([np.concatenate([k for k, _ in pl]) for pl in planes] + [np.zeros(1)]))
    r = np.unique(np.concatenate([np.linspace(0.0, r_max, 4097), knots[knots <= r_max]]))
    worst = None
    for pl in planes:
        f = np.ones_like(r)
        for k, v in pl:
            f = f * np.interp(r, k, v)
        bad = np.nonzero(np.diff(r * f) <= 0)[0]
        if bad.size:
            worst = float(r[bad[0]]) if worst is None else min(worst, float(r[bad[0]]))
    return worst


def radial_table_warp(request: Any) -> Any:
    """Builder of ``"radial_table"`` (:data:`l2tech.optics.compose.GEOMETRY_MODELS`).

    Parameters
    ----------
    request : GeometryRequest
        Its calibration's distortion entry (green plane) and TCA entry (red and blue on top
        of green), where switched on, are ``"radial_table"`` entries (module docs).

    Returns
    -------
    Warp
        Per channel (R, G, B) when TCA is on; ``geometric`` the green plane; the centre and
        the box centre as the DNG warps (``(cx · W, cy · H)``, ``((W − 1)/2, (H − 1)/2)``).

    Raises
    ------
    InvalidProfileError
        Invalid terms, or an entry of another family next to a table.

    References
    ----------
    RawTherapee ``rtengine/lensmetadata.cc``, ``CenterRadiusMetadataLensCorrection::process``
    (distortion factor, CA factor, or their product, at the output radius).
    """
    from l2tech.optics.dng import planes_warp

    cal = request.calibration
    W, H = request.width, request.height
    d = cal.distortion if request.distortion else None
    t = cal.tca if request.tca else None
    for entry, what in ((d, "distortion"), (t, "TCA")):
        if entry is not None and entry.model.lower() != "radial_table":
            raise InvalidProfileError(f"a radial_table correction cannot be combined with a {what} entry of the "
                                      f"{entry.model} family")
    src = d.terms if d is not None else (t.terms if t is not None else {"cx": 0.5, "cy": 0.5})
    Cx, Cy, R = _center(W, H, src)
    green = [table(d.terms, "f")] if d is not None else []
    planes = [green]
    if t is not None:
        planes = [green + [table(t.terms, "r_f")], green, green + [table(t.terms, "b_f")]]

    def factor(r: np.ndarray, pl: list) -> np.ndarray:
        f = np.ones_like(r)
        for k, v in pl:
            f = f * np.interp(r, k, v)
        return f

    def run(x: np.ndarray, y: np.ndarray, pls: list) -> tuple[np.ndarray, np.ndarray]:
        dx = np.asarray(x, np.float64) - Cx
        dy = np.asarray(y, np.float64) - Cy
        r = np.hypot(dx, dy) / R
        fs = [factor(r, pl) for pl in pls]
        if len(fs) == 1:
            return Cx + dx * fs[0], Cy + dy * fs[0]
        f = np.stack(fs, axis=-1)
        return Cx + dx[..., None] * f, Cy + dy[..., None] * f

    def fold_check(scale: float) -> None:
        r_max = 1.0 / max(float(scale), 1e-6)
        fold = _fold_radius([pl for pl in planes if pl], r_max)
        if fold is not None:
            raise InvalidProfileError(f"radial table folds the image at radius {fold * R:.1f} px (normalised {fold:.4g})")

    return planes_warp(run, planes, green, (Cx, Cy), W, H, fold_check)
