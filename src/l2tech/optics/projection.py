"""Projections of a lens and changes between them (rectilinear, fisheyes, equirectangular).

A projection maps the angle θ of a ray from the optical axis (and its azimuth φ) to a point of
the image plane at radius ``r`` from the centre, in units of the focal length ``f``:

=========================  =====================================  ============================
name                       ``r / f``                              lensfun ``LensType``
=========================  =====================================  ============================
``rectilinear``            ``tan θ``                              ``RECTILINEAR``
``fisheye``                ``θ`` (equidistant)                    ``FISHEYE``
``fisheye_equisolid``      ``2 sin(θ/2)``                         ``FISHEYE_EQUISOLID``
``fisheye_orthographic``   ``sin θ``                              ``FISHEYE_ORTHOGRAPHIC``
``fisheye_stereographic``  ``2 tan(θ/2)``                         ``FISHEYE_STEREOGRAPHIC``
``fisheye_thoby``          ``1.47 sin(0.713 θ)``                  ``FISHEYE_THOBY``
``equirectangular``        ``x = f·longitude, y = f·latitude``    ``EQUIRECTANGULAR``
``panoramic``              ``x = f·longitude, y = f·tan(lat.)``   ``PANORAMIC`` (cylindrical)
=========================  =====================================  ============================

Longitude is measured about the image y axis and latitude from the x–z plane, as lensfun does
(``libs/lensfun/mod-coord.cpp``). Image coordinates here are ``(x, y)`` relative to the
projection centre, y down, in any unit (usually pixels) with ``f`` in the same unit.

A change of projection is an inverse map: a point of the *target* projection (the output image)
is turned into a ray, and the ray into a point of the *source* projection (the lens). Its inverse
is the change with source and target swapped, so the round trip is exact wherever both are
defined; points with no image in the source (e.g. θ ≥ 90° in a rectilinear source) are NaN.

References
----------
lensfun ``libs/lensfun/mod-coord.cpp`` (``ModifyCoord_Geom_*``); M. Thoby, "About the various
projections of the photographic objective lenses" (Thoby fisheye, k1 = 1.47, k2 = 0.713).
"""

from __future__ import annotations

import numpy as np

from l2tech.errors import UsageError

__all__ = [
    "PROJECTIONS",
    "validate_projection",
    "theta_to_radius",
    "radius_to_theta",
    "points_to_rays",
    "rays_to_points",
    "change_projection_points",
    "projection_warp",
]

THOBY_K1 = 1.47
THOBY_K2 = 0.713

PROJECTIONS = (
    "rectilinear",
    "fisheye",
    "fisheye_equisolid",
    "fisheye_orthographic",
    "fisheye_stereographic",
    "fisheye_thoby",
    "equirectangular",
    "panoramic",
)
_ALIASES = {"equidistant": "fisheye", "fisheye_equidistant": "fisheye", "equisolid": "fisheye_equisolid",
            "orthographic": "fisheye_orthographic", "stereographic": "fisheye_stereographic",
            "thoby": "fisheye_thoby", "erect": "equirectangular", "cylindrical": "panoramic"}
_RADIAL = PROJECTIONS[:6]


def validate_projection(name: str) -> str:
    """Canonical projection name (case-insensitive, aliases accepted), or raise UsageError."""
    key = str(name).strip().lower().replace("-", "_")
    key = _ALIASES.get(key, key)
    if key not in PROJECTIONS:
        raise UsageError(f"unknown projection {name!r}; valid: {', '.join(PROJECTIONS)}")
    return key


def theta_to_radius(theta: np.ndarray, projection: str) -> np.ndarray:
    """Radius (in focal lengths) of a ray at angle ``theta`` (radians) from the axis.

    Parameters
    ----------
    theta : ndarray, any shape, float
        Angle from the optical axis, radians, ≥ 0.
    projection : str
        One of the radially symmetric projections (``rectilinear`` and the fisheyes).

    Returns
    -------
    ndarray, same shape, float64
        ``r / f``; NaN where the projection has no image of the ray (θ ≥ 90° for rectilinear
        and orthographic, θ ≥ 180° for stereographic).
    """
    p = validate_projection(projection)
    th = np.asarray(theta, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        if p == "rectilinear":
            r = np.where(th < np.pi / 2, np.tan(th), np.nan)
        elif p == "fisheye":
            r = th.copy()
        elif p == "fisheye_equisolid":
            r = 2.0 * np.sin(th / 2.0)
        elif p == "fisheye_orthographic":
            r = np.where(th <= np.pi / 2, np.sin(th), np.nan)
        elif p == "fisheye_stereographic":
            r = np.where(th < np.pi, 2.0 * np.tan(th / 2.0), np.nan)
        elif p == "fisheye_thoby":
            r = np.where(THOBY_K2 * th <= np.pi / 2, THOBY_K1 * np.sin(THOBY_K2 * th), np.nan)
        else:
            raise UsageError(f"projection {p!r} is not radially symmetric")
    return r


def radius_to_theta(rho: np.ndarray, projection: str) -> np.ndarray:
    """Angle from the axis (radians) of the ray imaged at radius ``rho`` focal lengths.

    The inverse of :func:`theta_to_radius`; NaN outside the projection's image circle
    (``rho > 2`` equisolid, ``rho > 1`` orthographic, ``rho > 1.47`` Thoby).
    """
    p = validate_projection(projection)
    r = np.asarray(rho, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        if p == "rectilinear":
            th = np.arctan(r)
        elif p == "fisheye":
            th = r.copy()
        elif p == "fisheye_equisolid":
            th = np.where(r <= 2.0, 2.0 * np.arcsin(np.clip(r / 2.0, 0, 1)), np.nan)
        elif p == "fisheye_orthographic":
            th = np.where(r <= 1.0, np.arcsin(np.clip(r, 0, 1)), np.nan)
        elif p == "fisheye_stereographic":
            th = 2.0 * np.arctan(r / 2.0)
        elif p == "fisheye_thoby":
            th = np.where(r <= THOBY_K1, np.arcsin(np.clip(r / THOBY_K1, 0, 1)) / THOBY_K2, np.nan)
        else:
            raise UsageError(f"projection {p!r} is not radially symmetric")
    return th


def points_to_rays(xy: np.ndarray, focal: float, projection: str) -> np.ndarray:
    """Image points of a projection to unit ray directions.

    Parameters
    ----------
    xy : ndarray, shape (..., 2)
        Points relative to the projection centre, y down, same unit as ``focal``.
    focal : float
        Focal length (e.g. pixels).
    projection : str
        Projection name (see :data:`PROJECTIONS`).

    Returns
    -------
    ndarray, shape (..., 3), float64
        Unit vectors ``(X, Y, Z)``, Z along the optical axis; NaN where the point has no ray.
    """
    p = validate_projection(projection)
    xy = np.asarray(xy, dtype=np.float64) / float(focal)
    x, y = xy[..., 0], xy[..., 1]
    if p in _RADIAL:
        rho = np.hypot(x, y)
        th = radius_to_theta(rho, p)
        with np.errstate(invalid="ignore", divide="ignore"):
            s = np.where(rho > 0, np.sin(th) / np.where(rho > 0, rho, 1.0), 1.0)
        return np.stack([s * x, s * y, np.cos(th)], axis=-1)
    lon = x
    lat = y if p == "equirectangular" else np.arctan(y)
    with np.errstate(invalid="ignore"):
        ok = (np.abs(lat) <= np.pi / 2) & (np.abs(lon) <= np.pi)
    v = np.stack([np.cos(lat) * np.sin(lon), np.sin(lat), np.cos(lat) * np.cos(lon)], axis=-1)
    v[~ok] = np.nan
    return v


def rays_to_points(v: np.ndarray, focal: float, projection: str) -> np.ndarray:
    """Unit ray directions to image points of a projection (inverse of :func:`points_to_rays`).

    Returns
    -------
    ndarray, shape (..., 2), float64
        Points relative to the centre in the unit of ``focal``; NaN where the projection has no
        image of the ray.
    """
    p = validate_projection(projection)
    v = np.asarray(v, dtype=np.float64)
    X, Y, Z = v[..., 0], v[..., 1], v[..., 2]
    if p in _RADIAL:
        s = np.hypot(X, Y)
        th = np.arctan2(s, Z)
        r = theta_to_radius(th, p)
        with np.errstate(invalid="ignore", divide="ignore"):
            k = np.where(s > 0, r / np.where(s > 0, s, 1.0), 0.0)
        return np.stack([k * X, k * Y], axis=-1) * float(focal)
    lon = np.arctan2(X, Z)
    lat = np.arctan2(Y, np.hypot(X, Z))
    with np.errstate(invalid="ignore"):
        y = lat if p == "equirectangular" else np.where(np.abs(lat) < np.pi / 2, np.tan(lat), np.nan)
    return np.stack([lon, y], axis=-1) * float(focal)


def change_projection_points(
    xy: np.ndarray,
    focal: float,
    from_projection: str,
    to_projection: str,
    to_focal: float | None = None,
) -> np.ndarray:
    """Points of the target projection to points of the source projection (an inverse map).

    Parameters
    ----------
    xy : ndarray, shape (..., 2)
        Output points relative to the centre (unit of ``focal``, usually pixels), y down.
    focal : float
        Focal length of the source (lens) projection.
    from_projection : str
        Projection of the lens (source image).
    to_projection : str
        Projection of the output image.
    to_focal : float, optional
        Focal length of the output projection (default ``focal``).

    Returns
    -------
    ndarray, shape (..., 2), float64
        Source points; NaN where the ray has no image in the source projection.

    References
    ----------
    lensfun ``libs/lensfun/mod-coord.cpp`` (lensfun goes through equirectangular coordinates;
    going through the ray direction is the same mapping).
    """
    rays = points_to_rays(xy, focal if to_focal is None else to_focal, to_projection)
    return rays_to_points(rays, focal, from_projection)


def projection_warp(
    width: int,
    height: int,
    focal_px: float,
    from_projection: str,
    to_projection: str,
    *,
    center: tuple[float, float] | None = None,
    to_focal_px: float | None = None,
):
    """A projection change as a :class:`l2tech.optics.compose.Warp`, to chain before a lens warp.

    ``compose.chain(projection_warp(W, H, f, "rectilinear", "fisheye_equisolid"), lens_warp)``
    reprojects the corrected (rectilinear) image of a lens into an equisolid fisheye in the same
    single resample. Points with no ray in the source projection map to NaN.

    Parameters
    ----------
    width, height : int
    focal_px : float
        Focal length of the source projection in pixels.
    from_projection, to_projection : str
        Source (what the next warp expects) and output projections.
    center : (float, float), optional
        Projection centre in pixels (default the frame centre).
    to_focal_px : float, optional
        Focal length of the output projection (default ``focal_px``).
    """
    from l2tech.optics.compose import Warp

    cx, cy = ((width - 1) / 2.0, (height - 1) / 2.0) if center is None else center
    src, dst = validate_projection(from_projection), validate_projection(to_projection)

    def apply(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pts = np.stack([np.asarray(x, np.float64) - cx, np.asarray(y, np.float64) - cy], -1)
        s = change_projection_points(pts, focal_px, src, dst, to_focal_px)
        return s[..., 0] + cx, s[..., 1] + cy

    return Warp(apply=apply, center_px=(float(cx), float(cy)), width=int(width), height=int(height),
                geometric=apply, box_center_px=((width - 1) / 2.0, (height - 1) / 2.0))
