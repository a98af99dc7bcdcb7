"""Synthetic calibration shots for the calibrate tests: a checkerboard seen through a known
lensfun lens, flat fields with known vignetting, and charts with known TCA.

The lens is applied in lensfun's direction (OPTICS.md §1): a pixel of the *distorted* image at
radius r_d (lensfun units) shows the scene point at the undistorted radius r_u with
r_d = P(r_u); P is inverted here with a dense monotone lookup table.
"""

from __future__ import annotations

import numpy as np

# lensfun libs/lensfun/mod-coord.cpp: ptlens r_d = r_u (a r_u^3 + b r_u^2 + c r_u + 1 - a - b - c)


def ptlens_rd(r_u, a, b, c):
    return r_u * (a * r_u**3 + b * r_u**2 + c * r_u + 1.0 - a - b - c)


def lensfun_norm(w, h):
    # r = 1 at half the short side of a calibration sensor with this image's aspect ratio
    return min(w, h) / 2.0


def correction_map_ptlens(w, h, terms, step=4):
    """(output pixel, source pixel) pairs of lensfun's ptlens correction on a grid."""
    ys, xs = np.mgrid[0:h:step, 0:w:step].astype(np.float64)
    cx, cy, n = (w - 1) / 2.0, (h - 1) / 2.0, lensfun_norm(w, h)
    r_u = np.hypot(xs - cx, ys - cy) / n
    s = np.where(r_u > 0, ptlens_rd(r_u, terms["a"], terms["b"], terms["c"]) / np.maximum(r_u, 1e-12), 1.0)
    return np.stack([cx + (xs - cx) * s, cy + (ys - cy) * s], axis=-1)


def undistorted_coords(w, h, rd_func, ss=3):
    """Undistorted pixel coordinates of every supersampled pixel of the distorted image."""
    cx, cy, n = (w - 1) / 2.0, (h - 1) / 2.0, lensfun_norm(w, h)
    x = (np.arange(w * ss) + 0.5) / ss - 0.5
    y = (np.arange(h * ss) + 0.5) / ss - 0.5
    xx, yy = np.meshgrid(x - cx, y - cy)
    r_d = np.hypot(xx, yy) / n
    tab_u = np.linspace(0.0, r_d.max() * 1.5 + 0.1, 200001)
    tab_d = rd_func(tab_u)
    assert np.all(np.diff(tab_d) > 0), "test lens folds"
    r_u = np.interp(r_d, tab_d, tab_u)
    s = np.where(r_d > 0, r_u / np.maximum(r_d, 1e-12), 1.0)
    return np.stack([cx + xx * s, cy + yy * s], axis=-1)


def look_at_pose(rng, K, w, h, board_wh, target_px, dist_mm, max_tilt_deg):
    """Rotation/translation placing the board centre on the ray through target_px, tilted."""
    import cv2

    ray = np.linalg.solve(K, [target_px[0], target_px[1], 1.0])
    ray /= np.linalg.norm(ray)
    tilt = np.radians(rng.uniform(15.0, max_tilt_deg))
    axis_ang = rng.uniform(0, 2 * np.pi)
    rvec = tilt * np.array([np.cos(axis_ang), np.sin(axis_ang), 0.0]) + np.array([0, 0, rng.uniform(-0.3, 0.3)])
    R, _ = cv2.Rodrigues(rvec)
    centre_board = np.array([board_wh[0] / 2, board_wh[1] / 2, 0.0])
    t = ray * dist_mm - R @ centre_board
    return R, t


def distort_points(p_u, w, h, rd_func):
    """Undistorted pixel points (N, 2) to distorted pixel points through r_d = rd_func(r_u)."""
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    n = lensfun_norm(w, h)
    d = p_u - c
    r_u = np.hypot(d[:, 0], d[:, 1]) / n
    s = np.where(r_u > 0, rd_func(r_u) / np.maximum(r_u, 1e-12), 1.0)
    return c + d * s[:, None]


def place_board(rng, K, w, h, rd_func, cols, rows, sq, target_px, dist_mm, max_tilt_deg, margin_px=12, tries=200, border_sq=1.0):
    """A random tilted pose whose whole board (with border_sq squares of its white border) lies
    inside the frame; moves the board towards the centre / farther away when it does not fit."""
    b = 1.0 + border_sq
    outline = np.array([[-b, -b], [cols - 1 + b, -b], [cols - 1 + b, rows - 1 + b], [-b, rows - 1 + b]], float) * sq
    edge = np.concatenate([np.linspace(outline[i], outline[(i + 1) % 4], 20) for i in range(4)])
    edge = np.column_stack([edge, np.zeros(len(edge))])
    centre = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    tp = np.asarray(target_px, float)
    for k in range(tries):
        R, t = look_at_pose(rng, K, w, h, ((cols - 1) * sq, (rows - 1) * sq), tp, dist_mm, max_tilt_deg)
        pc = edge @ R.T + t
        if np.all(pc[:, 2] > 0):
            p_u = (pc[:, :2] / pc[:, 2:3]) * K[0, 0] + K[:2, 2]
            p_d = distort_points(p_u, w, h, rd_func)
            if p_d.min() > margin_px and p_d[:, 0].max() < w - 1 - margin_px and p_d[:, 1].max() < h - 1 - margin_px:
                return R, t, p_d
        if k % 10 == 9:
            tp = centre + 0.97 * (tp - centre)
            dist_mm *= 1.02
    raise AssertionError("could not place the board inside the frame")


def render_board(uv, K, R, t, cols, rows, sq, ss=3, rng=None, noise=0.0, bbox=None):
    """Render a checkerboard (inner corners cols x rows, square sq mm) given the undistorted
    coordinates uv (Hs, Ws, 2) of each supersampled pixel; returns float32 (H, W) in [0, 1].

    Edges are anti-aliased analytically: the checker is the sign of
    s = sin(pi X / sq) sin(pi Y / sq), and each sample is given the ramp value of its signed
    distance to the nearest edge, s / |grad s| in output pixels (1 px wide ramp), so edge
    positions are encoded continuously rather than in 1/ss steps.
    """
    import cv2

    Hm = K @ np.column_stack([R[:, 0], R[:, 1], t])
    Hi = np.linalg.inv(Hm)
    full_shape = uv.shape[:2]
    if bbox is not None:  # (x0, y0, x1, y1) output pixels: render only there
        x0, y0, x1, y1 = bbox
        uv = uv[y0 * ss : y1 * ss, x0 * ss : x1 * ss]
    u, v = uv[..., 0], uv[..., 1]
    X = Hi[0, 0] * u + Hi[0, 1] * v + Hi[0, 2]
    Y = Hi[1, 0] * u + Hi[1, 1] * v + Hi[1, 2]
    Wt = Hi[2, 0] * u + Hi[2, 1] * v + Hi[2, 2]
    X, Y = X / Wt, Y / Wt
    inside = (X >= -sq) & (X <= cols * sq) & (Y >= -sq) & (Y <= rows * sq)
    margin = (X >= -2 * sq) & (X <= (cols + 1) * sq) & (Y >= -2 * sq) & (Y <= (rows + 1) * sq)
    sgn = np.sin(np.pi * X / sq) * np.sin(np.pi * Y / sq)
    sgn = np.where(inside, sgn, -np.abs(sgn))  # margin is white; continuous at the board edge
    gy, gx = np.gradient(sgn)
    grad_px = np.hypot(gx, gy) * ss
    d_px = sgn / np.maximum(grad_px, 1e-9)
    dark = np.clip(0.5 + d_px, 0.0, 1.0)
    img = np.full(u.shape, 0.45, np.float32)
    img[margin] = (0.9 - 0.82 * dark[margin]).astype(np.float32)
    hs, ws = img.shape
    part = cv2.resize(img, (ws // ss, hs // ss), interpolation=cv2.INTER_AREA)
    if bbox is None:
        out = part
    else:
        out = np.full((full_shape[0] // ss, full_shape[1] // ss), 0.45, np.float32)
        out[y0:y1, x0:x1] = part
    if noise and rng is not None:
        out = out + rng.normal(0.0, noise, out.shape).astype(np.float32)
    return np.clip(out, 0, 1)


def charuco_board_image(cols, rows, square_mm, marker_mm, dictionary="DICT_5X5_100", px_per_mm=8.0):
    """OpenCV's own ChArUco board picture (``CharucoBoard.generateImage``, no margin), uint8,
    ``px_per_mm`` pixels per board millimetre; square (0, 0) is black."""
    import cv2

    d = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, dictionary))
    board = cv2.aruco.CharucoBoard((cols, rows), square_mm, marker_mm, d)
    size = (int(round(cols * square_mm * px_per_mm)), int(round(rows * square_mm * px_per_mm)))
    return board.generateImage(size, marginSize=0, borderBits=1)


def render_charuco(uv, K, R, t, cols, rows, sq, marker, board_img, ss=3, rng=None, noise=0.0):
    """Render a ChArUco board (cols x rows *squares* of sq mm, markers of marker mm) that may
    extend past the frame; returns float32 (H, W) in [0, 1].

    The chessboard squares are drawn analytically as in :func:`render_board` (so the corner
    positions are encoded continuously); only the inside of each marker is sampled (bilinear)
    from ``board_img`` (:func:`charuco_board_image`), which only serves the marker ids. The
    surround of the board is white paper, the rest of the scene mid grey.
    """
    import cv2

    Hm = K @ np.column_stack([R[:, 0], R[:, 1], t])
    Hi = np.linalg.inv(Hm)
    u, v = uv[..., 0], uv[..., 1]
    Wt = Hi[2, 0] * u + Hi[2, 1] * v + Hi[2, 2]
    X = (Hi[0, 0] * u + Hi[0, 1] * v + Hi[0, 2]) / Wt
    Y = (Hi[1, 0] * u + Hi[1, 1] * v + Hi[1, 2]) / Wt
    X = np.where(Wt > 0, X, -1e6)
    Y = np.where(Wt > 0, Y, -1e6)
    inside = (X >= 0) & (X <= cols * sq) & (Y >= 0) & (Y <= rows * sq)
    paper = (X >= -sq) & (X <= (cols + 1) * sq) & (Y >= -sq) & (Y <= (rows + 1) * sq)
    sgn = np.sin(np.pi * X / sq) * np.sin(np.pi * Y / sq)
    sgn = np.where(inside, sgn, -np.abs(sgn))
    gy, gx = np.gradient(sgn)
    d_px = sgn / np.maximum(np.hypot(gx, gy) * ss, 1e-9)
    dark = np.clip(0.5 + d_px, 0.0, 1.0)
    # marker interiors (in the white squares): ArUco bits from OpenCV's board picture
    fx, fy = X / sq - np.floor(X / sq) - 0.5, Y / sq - np.floor(Y / sq) - 0.5
    in_marker = inside & (np.abs(fx) < 0.5 * marker / sq) & (np.abs(fy) < 0.5 * marker / sq) & (sgn < 0)
    ppm = board_img.shape[1] / (cols * sq)
    bits = cv2.remap(board_img, (X * ppm - 0.5).astype(np.float32), (Y * ppm - 0.5).astype(np.float32),
                     cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE).astype(np.float64) / 255.0
    dark = np.where(in_marker, 1.0 - bits, dark)
    img = np.full(u.shape, 0.45, np.float32)
    img[paper] = (0.9 - 0.82 * dark[paper]).astype(np.float32)
    hs, ws = img.shape
    out = cv2.resize(img, (ws // ss, hs // ss), interpolation=cv2.INTER_AREA)
    if noise and rng is not None:
        out = out + rng.normal(0.0, noise, out.shape).astype(np.float32)
    return np.clip(out, 0, 1)


def undistort_points(p_d, w, h, rd_func):
    """Distorted pixel points (N, 2) to undistorted pixel points (inverse of distort_points)."""
    c = np.array([(w - 1) / 2.0, (h - 1) / 2.0])
    n = lensfun_norm(w, h)
    d = np.atleast_2d(np.asarray(p_d, float)) - c
    r_d = np.hypot(d[:, 0], d[:, 1]) / n
    tab_u = np.linspace(0.0, r_d.max() * 1.5 + 0.1, 200001)
    r_u = np.interp(r_d, rd_func(tab_u), tab_u)
    s = np.where(r_d > 0, r_u / np.maximum(r_d, 1e-12), 1.0)
    return c + d * s[:, None]


def pin_corner(R, t, K, w, h, rd_func, obj, frame_corner, k=0.9):
    """Slide a board (same rotation, same depth) so that its inner corner nearest a frame corner
    (of those inside the frame) lands k local square sizes from both edges of that corner:
    a ChArUco board then shows corners far into the frame corner, the rest of it outside."""
    pc = obj @ R.T + t
    p_d = distort_points(pc[:, :2] / pc[:, 2:3] * K[0, 0] + K[:2, 2], w, h, rd_func)
    fc = np.asarray(frame_corner, float)
    inside = (p_d[:, 0] > 0) & (p_d[:, 0] < w - 1) & (p_d[:, 1] > 0) & (p_d[:, 1] < h - 1)
    i = int(np.argmin(np.where(inside, np.hypot(*(p_d - fc).T), np.inf)))
    spacing = np.hypot(*(p_d - p_d[i]).T)
    spacing[i] = np.inf
    want_d = fc + k * spacing.min() * np.sign(np.array([w / 2.0, h / 2.0]) - fc)
    want_u = undistort_points(want_d, w, h, rd_func)[0]
    ray = np.linalg.solve(K, [want_u[0], want_u[1], 1.0])
    return R, ray / ray[2] * pc[i, 2] - R @ obj[i]
