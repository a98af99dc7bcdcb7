"""Frame geometry after the lens correction: keystone (perspective), straighten, crop.

All three are plane homographies of the lens-corrected (rectilinear) image, so they compose
into one 3×3 matrix and, with the lens correction's inverse map, into the one map a pixel is
resampled through (:class:`FrameTransform`; :func:`l2tech.correct.fused.grid_map`).

Perspective correction turns the camera, virtually, about its centre: a rotation ``R`` of the
viewing direction maps an image point ``p`` to ``K R K⁻¹ p`` (``K`` the pinhole matrix of the
corrected image, focal length in pixels from the lens's focal length and the body's crop
factor). The control points follow lensfun's convention (lensfun
``tools/perspective_control/perspective_control.py``, ``initialize_perspective_correction``):

- 4 points: ``c0 c1`` and ``c2 c3`` are two lines that must become vertical (or horizontal,
  when they are more horizontal than vertical);
- 6 points: as 4, and ``c4 c5`` a line that must become horizontal (vertical);
- 8 points: as 6, and ``c6 c7`` a second such line; the focal length is then taken from the
  two vanishing points (their directions must be at right angles), not from the lens.

The rotation here is l2tech's construction: the smallest rotation that takes the first
vanishing point's direction ``K⁻¹ v`` onto the image's y (x) axis — its lines then meet at
infinity straight up, i.e. they are vertical and parallel — followed by a turn about that axis
that makes the third line horizontal (6 points) or sends the second vanishing point to
infinity (8 points). The image centre is kept where it was.

Coordinates: pixels, origin at the centre of the top-left pixel, ``(x, y)``.

References
----------
R. Hartley, A. Zisserman, "Multiple View Geometry in Computer Vision", 2nd ed., 2004, §8.6
(vanishing points, ``d = K⁻¹ v``) and §8.8 (the homography ``K R K⁻¹`` of a rotating camera).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FrameTransform",
    "camera_matrix",
    "perspective_homography",
    "rotation_homography",
    "horizon_angle_deg",
    "parse_aspect",
    "fit_crop",
    "frame_transform",
]

#: Diagonal of the 36 × 24 mm frame (the crop factor's reference), mm.
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)


class PerspectiveError(ValueError):
    """Control points that do not define a correction (raised as the caller's typed error)."""


@dataclass(frozen=True)
class FrameTransform:
    """The output frame as a homography of the lens-corrected image.

    Attributes
    ----------
    out_to_in : ndarray, shape (3, 3), float64
        Output pixel ``(x, y, 1)`` → lens-corrected image pixel (homogeneous).
    width, height : int
        Output frame size in pixels.
    """

    out_to_in: np.ndarray
    width: int
    height: int

    def apply(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lens-corrected image positions of output pixels ``(x, y)`` (any shape, float64)."""
        h = self.out_to_in
        w = h[2, 0] * x + h[2, 1] * y + h[2, 2]
        return (h[0, 0] * x + h[0, 1] * y + h[0, 2]) / w, (h[1, 0] * x + h[1, 1] * y + h[1, 2]) / w

    def key(self) -> tuple:
        """Hashable identity (cache keys)."""
        return (tuple(np.round(self.out_to_in, 12).ravel().tolist()), self.width, self.height)


def camera_matrix(width: int, height: int, focal_length_mm: float, crop_factor: float) -> np.ndarray:
    """Pinhole matrix ``K`` of a ``width × height`` rectilinear image (principal point at the centre).

    The focal length in pixels is ``f_mm / (43.27 mm / crop) · hypot(width, height)``: the
    frame's diagonal spans the sensor's diagonal.
    """
    f_px = focal_length_mm * crop_factor / FULL_FRAME_DIAGONAL_MM * math.hypot(width, height)
    return np.array([[f_px, 0.0, (width - 1) / 2], [0.0, f_px, (height - 1) / 2], [0.0, 0.0, 1.0]])


def _line(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.cross([p[0], p[1], 1.0], [q[0], q[1], 1.0])


def _rotation_onto(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking unit vector ``a`` onto unit vector ``b`` (Rodrigues)."""
    v = np.cross(a, b)
    s, c = np.linalg.norm(v), float(np.dot(a, b))
    if s < 1e-15:
        return np.eye(3)
    k = v / s
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    ang = math.atan2(s, c)
    return np.eye(3) + math.sin(ang) * kx + (1 - math.cos(ang)) * kx @ kx


def _axis_rotation(axis: int, ang: float) -> np.ndarray:
    c, s = math.cos(ang), math.sin(ang)
    if axis == 0:
        return np.array([[1, 0, 0], [0, c, -s], [0, s, c]])
    if axis == 1:
        return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])


def _smallest(angles: list[float]) -> float:
    return min(angles, key=lambda a: abs(math.remainder(a, 2 * math.pi)))


def perspective_homography(x: list[float], y: list[float], width: int, height: int,
                           focal_length_mm: float | None = None, crop_factor: float = 1.0) -> np.ndarray:
    """Keystone correction from control points: the homography lens-corrected image → corrected view.

    Parameters
    ----------
    x, y : sequence of float
        4, 6 or 8 control points (pixels of the lens-corrected image), lensfun's order (module
        docstring).
    width, height : int
        Image size, pixels.
    focal_length_mm : float, optional
        Lens focal length; required for 4 and 6 points (8 points: computed from them when the
        two vanishing points allow it).
    crop_factor : float
        The body's crop factor.

    Returns
    -------
    ndarray, shape (3, 3), float64
        ``H``: image pixel → corrected pixel; the image centre is a fixed point.

    Raises
    ------
    PerspectiveError
        Wrong number of points, parallel control lines, or no focal length.
    """
    px, py = np.asarray(x, np.float64), np.asarray(y, np.float64)
    n = px.size
    if n not in (4, 6, 8) or py.size != n:
        raise PerspectiveError(f"perspective needs 4, 6 or 8 control points (x and y alike), got {px.size} and {py.size}")
    pts = np.stack([px, py], -1)
    l1, l2 = _line(pts[0], pts[1]), _line(pts[2], pts[3])
    v = np.cross(l1, l2)
    # which axis the first two lines belong to: their mean direction
    d = [(pts[1] - pts[0]) / np.linalg.norm(pts[1] - pts[0]), (pts[3] - pts[2]) / np.linalg.norm(pts[3] - pts[2])]
    d[1] = d[1] if np.dot(d[0], d[1]) >= 0 else -d[1]
    mean = d[0] + d[1]
    axis = 0 if abs(mean[0]) > abs(mean[1]) else 1  # 0: horizontals first (x axis), 1: verticals (y axis)
    other = 1 - axis
    cx, cy = (width - 1) / 2, (height - 1) / 2
    f_px = None
    if n == 8:
        vh = np.cross(_line(pts[4], pts[5]), _line(pts[6], pts[7]))
        if abs(v[2]) > 1e-12 and abs(vh[2]) > 1e-12:
            a, b = v[:2] / v[2] - (cx, cy), vh[:2] / vh[2] - (cx, cy)
            f2 = -float(np.dot(a, b))
            f_px = math.sqrt(f2) if f2 > 0 else None
    if f_px is None:
        if not focal_length_mm or focal_length_mm <= 0:
            raise PerspectiveError("perspective correction needs the lens's focal length (--focal-length)")
        f_px = camera_matrix(width, height, focal_length_mm, crop_factor)[0, 0]
    K = np.array([[f_px, 0, cx], [0, f_px, cy], [0, 0, 1.0]])
    Ki = np.linalg.inv(K)
    dv = Ki @ v
    if np.linalg.norm(dv) < 1e-15:
        raise PerspectiveError("the control lines do not define a vanishing point")
    dv /= np.linalg.norm(dv)
    k = 8 if n == 8 else 4
    centroid = Ki @ np.array([px[:k].mean(), py[:k].mean(), 1.0])
    best: tuple[float, np.ndarray] | None = None
    # the vanishing point may go to the zenith or the nadir (and the second turn has two
    # solutions): take the smallest rotation that keeps the control points in front of the view
    for sign in (1.0, -1.0):
        target = np.zeros(3)
        target[axis] = sign
        R1 = _rotation_onto(dv, target)
        cands = [R1]
        if n >= 6:
            if n == 6:
                # turn about `axis` until the third line lies along `other`: the normal of its
                # plane through the camera centre loses its `other` component
                nrm = R1 @ (K.T @ _line(pts[4], pts[5]))
                i = other
            else:
                nrm = R1 @ (Ki @ vh)  # the second vanishing direction goes to infinity (no z part)
                i = 2
            cands = []
            j = [a for a in range(3) if a not in (axis, i)][0]
            base = math.atan2(nrm[i], nrm[j])
            for ang in (base, base + math.pi, -base, -base + math.pi):
                Rt = _axis_rotation(axis, ang)
                if abs((Rt @ nrm)[i]) <= 1e-9 * np.linalg.norm(nrm):
                    cands.append(Rt @ R1)
        for R in cands:
            if (R @ centroid)[2] <= 0:
                continue
            angle = math.acos(max(-1.0, min(1.0, (np.trace(R) - 1) / 2)))
            if best is None or angle < best[0]:
                best = (angle, R)
    if best is None:
        raise PerspectiveError("no rotation levels these control lines and keeps them in view")
    R = best[1]
    H = K @ R @ Ki
    # keep the image centre where it is; as lensfun does, when it leaves the view (or is blown
    # up more than 10×), keep the control points' centre instead
    fx, fy = cx, cy
    c = H @ np.array([fx, fy, 1.0])
    if c[2] <= 0 or not _magnification(H, fx, fy) < 10:
        fx, fy = float(px[:k].mean()), float(py[:k].mean())
        c = H @ np.array([fx, fy, 1.0])
    t = np.array([[1, 0, fx - c[0] / c[2]], [0, 1, fy - c[1] / c[2]], [0, 0, 1.0]])
    H = t @ H
    return H / abs(H[2, 2]) if abs(H[2, 2]) > 1e-12 else H / np.linalg.norm(H)


def rotation_homography(angle_deg: float, width: int, height: int) -> np.ndarray:
    """Straighten: rotate the image by ``angle_deg`` (counter-clockwise as seen) about its centre."""
    cx, cy = (width - 1) / 2, (height - 1) / 2
    a = math.radians(angle_deg)
    c, s = math.cos(a), math.sin(a)
    # image y points down: a counter-clockwise turn on screen is (x, y) -> (c x + s y, -s x + c y)
    r = np.array([[c, s, 0], [-s, c, 0], [0, 0, 1.0]])
    t = np.array([[1, 0, cx], [0, 1, cy], [0, 0, 1.0]])
    return t @ r @ np.linalg.inv(t)


def horizon_angle_deg(x0: float, y0: float, x1: float, y1: float) -> float:
    """The straighten angle that makes the line through two points on the horizon level."""
    return math.degrees(math.atan2(y1 - y0, x1 - x0))


def parse_aspect(aspect: str | float | None, width: int, height: int) -> float | None:
    """Width / height of an aspect preset: ``"3:2"``, ``"16:9"``, ``"1:1"``, ``"4:5"``, ``"original"`` or a number."""
    if aspect is None:
        return None
    if isinstance(aspect, (int, float)):
        if not aspect > 0:
            raise PerspectiveError(f"aspect must be positive, got {aspect}")
        return float(aspect)
    s = str(aspect).strip().lower()
    if s in ("original", "orig", "free", ""):
        return width / height
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*[:x/]\s*(\d+(?:\.\d+)?)", s)
    if not m or float(m.group(2)) == 0 or float(m.group(1)) == 0:
        raise PerspectiveError(f"aspect must be W:H (3:2, 16:9, 1:1, 4:5, ...) or 'original', got {aspect!r}")
    return float(m.group(1)) / float(m.group(2))


def _inside(poly: np.ndarray, pts: np.ndarray) -> bool:
    """All ``pts`` inside the convex polygon ``poly`` (either winding)."""
    sgn = 0.0
    for k in range(len(poly)):
        a, b = poly[k], poly[(k + 1) % len(poly)]
        cross = (b[0] - a[0]) * (pts[:, 1] - a[1]) - (b[1] - a[1]) * (pts[:, 0] - a[0])
        if sgn == 0.0:
            sgn = 1.0 if np.mean(cross) >= 0 else -1.0
        if np.any(cross * sgn < -1e-9):
            return False
    return True


def _visible_polygon(H: np.ndarray, width: int, height: int) -> np.ndarray:
    """The frame's image under ``H``, clipped to the part in front of the camera (w > 0)."""
    # the frame's outer edges (pixel centres run from 0 to width - 1)
    corners = np.array([[-0.5, -0.5, 1], [width - 0.5, -0.5, 1], [width - 0.5, height - 0.5, 1], [-0.5, height - 0.5, 1]],
                       np.float64)
    q = (H @ corners.T).T
    eps = 1e-3 * float(np.max(np.abs(q[:, 2])))
    out = []
    for k in range(4):
        a, b = q[k], q[(k + 1) % 4]
        if a[2] > eps:
            out.append(a)
        if (a[2] > eps) != (b[2] > eps):
            t = (eps - a[2]) / (b[2] - a[2])
            out.append(a + t * (b - a))
    if len(out) < 3:
        raise PerspectiveError("the correction turns the whole frame away from the view")
    pts = np.array(out)
    return pts[:, :2] / pts[:, 2:]


def fit_crop(H: np.ndarray, width: int, height: int, aspect: float,
             centre: tuple[float, float] | None = None) -> tuple[float, float, int, int]:
    """The largest rectangle of ``aspect`` (w / h), centred on the image of ``centre`` (default the
    image centre) under ``H``, inside the transformed frame. Returns ``(x0, y0, w, h)`` in
    transformed pixels."""
    poly = _visible_polygon(H, width, height)
    c0 = centre if centre is not None else ((width - 1) / 2, (height - 1) / 2)
    c = H @ np.array([c0[0], c0[1], 1.0])
    if c[2] <= 0:
        raise PerspectiveError("the correction sends the crop's centre behind the view")
    cx, cy = c[0] / c[2], c[1] / c[2]
    lo, hi = 0.0, float(max(width, height))
    for _ in range(60):
        half_w = (lo + hi) / 2
        half_h = half_w / aspect
        rect = np.array([[cx - half_w, cy - half_h], [cx + half_w, cy - half_h], [cx + half_w, cy + half_h],
                         [cx - half_w, cy + half_h]])
        lo, hi = (half_w, hi) if _inside(poly, rect) else (lo, half_w)
    # a w-pixel-wide crop spans w pixels edge to edge
    w = max(1, int(math.floor(2 * lo + 1e-3)))
    h = max(1, int(math.floor(2 * lo / aspect + 1e-3)))
    return cx - (w - 1) / 2, cy - (h - 1) / 2, w, h


def frame_transform(width: int, height: int, *, perspective: tuple[list[float], list[float]] | None = None,
                    rotate_deg: float = 0.0, aspect: str | float | None = None, focal_length_mm: float | None = None,
                    crop_factor: float = 1.0) -> FrameTransform | None:
    """The output frame of keystone + straighten + crop, as one homography (None: nothing asked).

    Parameters
    ----------
    width, height : int
        Size of the lens-corrected image.
    perspective : tuple of sequences, optional
        ``(x, y)`` control points (:func:`perspective_homography`).
    rotate_deg : float
        Straighten angle, degrees, counter-clockwise as seen.
    aspect : str or float, optional
        Crop aspect preset (:func:`parse_aspect`); with a perspective or rotation and no
        aspect, the original aspect is kept (the crop leaves out the empty corners).
    focal_length_mm, crop_factor : float
        For the perspective's camera matrix.

    Returns
    -------
    FrameTransform or None

    Raises
    ------
    PerspectiveError
        See :func:`perspective_homography`, :func:`parse_aspect`, :func:`fit_crop`.
    """
    if perspective is None and not rotate_deg and aspect is None:
        return None
    H = np.eye(3)
    centre = None
    if perspective is not None:
        H = perspective_homography(perspective[0], perspective[1], width, height, focal_length_mm, crop_factor)
        # centred where perspective_homography keeps its fixed point
        c = H @ np.array([(width - 1) / 2, (height - 1) / 2, 1.0])
        if c[2] <= 0 or not _magnification(H, (width - 1) / 2, (height - 1) / 2) < 10:
            k = 4 if len(perspective[0]) < 8 else 8
            centre = (float(np.mean(perspective[0][:k])), float(np.mean(perspective[1][:k])))
    if rotate_deg:
        H = rotation_homography(rotate_deg, width, height) @ H
    ratio = parse_aspect(aspect if aspect is not None else "original", width, height)
    x0, y0, w, h = fit_crop(H, width, height, ratio, centre)
    # never more output pixels than the input has: zoom out past that (one scale for both axes)
    zoom = max(w / width, h / height, 1.0)
    ow, oh = max(1, int(round(w / zoom))), max(1, int(round(h / zoom)))
    shift = np.array([[w / ow, 0, x0], [0, h / oh, y0], [0, 0, 1.0]])
    return FrameTransform(np.linalg.inv(H) @ shift, ow, oh)


def _magnification(H: np.ndarray, x: float, y: float) -> float:
    """Linear magnification of ``H`` at ``(x, y)`` (square root of its Jacobian's determinant)."""
    h = 1e-3
    p = np.array([[x, y, 1], [x + h, y, 1], [x, y + h, 1]], np.float64)
    q = (H @ p.T).T
    if np.any(q[:, 2] <= 0):
        return math.inf
    q = q[:, :2] / q[:, 2:]
    det = abs(np.linalg.det(np.stack([q[1] - q[0], q[2] - q[0]]) / h))
    return math.sqrt(det)
