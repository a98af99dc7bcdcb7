"""Calibration targets: parsing ``--target`` specs, loading shots, finding board corners.

Detection uses OpenCV: ``cv2.findChessboardCornersSB`` (with ``cv2.findChessboardCorners`` +
``cv2.cornerSubPix`` as the fallback and as the classic OpenCV recipe) for checkerboards, and
``cv2.aruco.CharucoDetector`` for ChArUco boards. Images come from RAW files (rawpy, linear,
no lens correction), JPEG/TIFF/PNG (OpenCV) or video frames (PyAV).

Point arrays are ``(N, 2)`` float64 ``(x, y)`` pixels with the origin at the centre of the
top-left pixel (OpenCV's convention; STYLE.md rule 11).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from l2tech.errors import CalibrationError, DecodeError, EmptyFileError, InputNotFoundError, UsageError

__all__ = [
    "Target",
    "Detection",
    "parse_target",
    "board_points",
    "detect_target",
    "read_calibration_image",
    "iter_video_frames",
    "RAW_SUFFIXES",
    "VIDEO_SUFFIXES",
]

from l2tech.io.formats import RAW_SUFFIXES  # noqa: E402  (the one list; re-exported)
VIDEO_SUFFIXES = frozenset(".mp4 .mov .m4v .mkv .avi .mts .m2ts .webm".split())

_ARUCO_DICTS = (
    "DICT_4X4_50 DICT_4X4_100 DICT_4X4_250 DICT_4X4_1000 DICT_5X5_50 DICT_5X5_100 DICT_5X5_250 "
    "DICT_5X5_1000 DICT_6X6_50 DICT_6X6_100 DICT_6X6_250 DICT_6X6_1000 DICT_7X7_50 DICT_7X7_100 "
    "DICT_7X7_250 DICT_7X7_1000 DICT_ARUCO_ORIGINAL"
).split()


@dataclass(frozen=True)
class Target:
    """A planar calibration target.

    Parameters
    ----------
    kind : str
        ``"checkerboard"`` or ``"charuco"``.
    cols, rows : int
        Checkerboard: inner corners per row and per column (OpenCV's ``patternSize``; the
        classic OpenCV sample board is 9x6). ChArUco: squares per row and per column.
    square_mm : float
        Side of one square, mm (sets the unit of the board poses only; intrinsics and
        distortion do not depend on it).
    marker_mm : float
        ChArUco marker side, mm (0 for checkerboards).
    dictionary : str
        ChArUco ArUco dictionary name (``cv2.aruco.DICT_*``).
    """

    kind: str
    cols: int
    rows: int
    square_mm: float
    marker_mm: float = 0.0
    dictionary: str = "DICT_5X5_100"

    @property
    def n_corners(self) -> int:
        """Number of inner corners on the board."""
        if self.kind == "checkerboard":
            return self.cols * self.rows
        return (self.cols - 1) * (self.rows - 1)

    @property
    def spec(self) -> str:
        """The spec string this target parses from."""
        if self.kind == "checkerboard":
            return f"checkerboard:{self.cols}x{self.rows}:{self.square_mm:g}mm"
        return f"charuco:{self.cols}x{self.rows}:{self.square_mm:g}mm:{self.marker_mm:g}mm:{self.dictionary}"


_SPEC_HELP = (
    "expected 'checkerboard:COLSxROWS:SIZEmm' (inner corners, e.g. checkerboard:9x6:25mm) or "
    "'charuco:COLSxROWS:SQUAREmm:MARKERmm[:DICT_5X5_100]' (squares)"
)


def parse_target(spec: str) -> Target:
    """Parse a ``--target`` spec.

    Parameters
    ----------
    spec : str
        ``checkerboard:9x6:25mm`` (inner corners, square size) or
        ``charuco:11x8:20mm:15mm[:DICT_5X5_100]`` (squares, square size, marker size,
        ArUco dictionary).

    Returns
    -------
    Target

    Raises
    ------
    UsageError
        The spec is malformed; the message shows the expected form.

    Examples
    --------
    >>> parse_target("checkerboard:9x6:25mm")
    Target(kind='checkerboard', cols=9, rows=6, square_mm=25.0, marker_mm=0.0, dictionary='DICT_5X5_100')
    """
    parts = [p.strip() for p in str(spec).split(":")]
    kind = parts[0].lower()

    def _mm(text: str) -> float:
        m = re.fullmatch(r"([0-9]*\.?[0-9]+)\s*(mm)?", text.lower())
        if not m or float(m.group(1)) <= 0:
            raise UsageError(f"bad size {text!r} in target {spec!r}; {_SPEC_HELP}")
        return float(m.group(1))

    def _grid(text: str) -> tuple[int, int]:
        m = re.fullmatch(r"(\d+)\s*[xX]\s*(\d+)", text)
        if not m:
            raise UsageError(f"bad grid {text!r} in target {spec!r}; {_SPEC_HELP}")
        return int(m.group(1)), int(m.group(2))

    if kind in ("checkerboard", "chessboard") and len(parts) == 3:
        cols, rows = _grid(parts[1])
        if cols < 3 or rows < 3:
            raise UsageError(f"target {spec!r} needs at least 3x3 inner corners")
        return Target("checkerboard", cols, rows, _mm(parts[2]))
    if kind == "charuco" and len(parts) in (4, 5):
        cols, rows = _grid(parts[1])
        if cols < 3 or rows < 3:
            raise UsageError(f"target {spec!r} needs at least 3x3 squares")
        square, marker = _mm(parts[2]), _mm(parts[3])
        if marker >= square:
            raise UsageError(f"target {spec!r}: the marker must be smaller than the square")
        dictionary = parts[4].upper() if len(parts) == 5 else "DICT_5X5_100"
        if not dictionary.startswith("DICT_"):
            dictionary = "DICT_" + dictionary
        if dictionary not in _ARUCO_DICTS:
            raise UsageError(f"unknown ArUco dictionary {dictionary!r}; valid: {', '.join(_ARUCO_DICTS)}")
        return Target("charuco", cols, rows, square, marker, dictionary)
    raise UsageError(f"bad target {spec!r}; {_SPEC_HELP}")


def board_points(target: Target) -> np.ndarray:
    """Board corner coordinates on the board plane.

    Returns
    -------
    ndarray, shape (N, 3), float64
        ``(X, Y, 0)`` in mm, in OpenCV's corner order (row by row, ``cols`` per row); for
        ChArUco boards indexed by corner id.
    """
    if target.kind == "checkerboard":
        ij = np.indices((target.cols, target.rows)).T.reshape(-1, 2).astype(np.float64)
        return np.column_stack([ij * target.square_mm, np.zeros(len(ij))])
    return np.asarray(_charuco_board(target).getChessboardCorners(), np.float64).reshape(-1, 3)


def _charuco_board(target: Target):
    import cv2

    dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, target.dictionary))
    return cv2.aruco.CharucoBoard((target.cols, target.rows), target.square_mm, target.marker_mm, dictionary)


@dataclass(frozen=True)
class Detection:
    """Board corners found in one view.

    Parameters
    ----------
    name : str
        The view's name (file name, or ``file#frame``).
    image_size : tuple of int
        ``(W, H)`` pixels.
    corners : ndarray, shape (N, 2), float64
        Corner positions ``(x, y)`` in pixels (empty when not found).
    ids : ndarray, shape (N,), int
        Index of each corner in :func:`board_points`.
    reason : str
        Why the board was not found (empty when found).
    """

    name: str
    image_size: tuple[int, int]
    corners: np.ndarray
    ids: np.ndarray
    reason: str = ""

    @property
    def found(self) -> bool:
        """True when corners were found."""
        return len(self.corners) > 0


def _to_gray_u8(image: np.ndarray) -> np.ndarray:
    """Grey uint8 for the detectors from a float image in [0, 1] (or uint8/uint16)."""
    import cv2

    img = np.asarray(image)
    if img.dtype == np.uint8:
        g = img
    else:
        f = img.astype(np.float32)
        if img.dtype == np.uint16:
            f = f / 65535.0
        g = np.clip(f * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if g.ndim == 3:
        g = cv2.cvtColor(g, cv2.COLOR_RGB2GRAY)
    return g


def detect_target(
    image: np.ndarray,
    target: Target,
    *,
    name: str = "",
    method: str = "auto",
    subpix_window: tuple[int, int] = (5, 5),
    subpix_criteria: tuple[int, int, float] | None = None,
) -> Detection:
    """Find the board's corners in one image.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, 3)
        uint8, uint16 or float in [0, 1] (display-encoded works best for the detectors).
    target : Target
    name : str
        Name of the view, for reports.
    method : str
        Checkerboards: ``"sb"`` (``cv2.findChessboardCornersSB``, retried with
        ``EXHAUSTIVE|ACCURACY`` when it finds nothing, then ``cornerSubPix``), ``"classic"`` (``cv2.findChessboardCorners`` then
        ``cv2.cornerSubPix`` — the recipe of OpenCV's ``samples/python/calibrate.py``), or
        ``"auto"`` (SB, then classic when SB finds nothing).
    subpix_window : tuple of int
        Half-size of the ``cornerSubPix`` window for the classic path (OpenCV's sample: 5x5).
    subpix_criteria : tuple, optional
        ``(type, max_iter, eps)`` for ``cornerSubPix``; default EPS+COUNT, 30, 0.1 (OpenCV's
        sample) on the classic path, EPS+COUNT, 100, 1e-4 after SB.

    Returns
    -------
    Detection
        With ``found`` false and a ``reason`` when the board was not found.

    Raises
    ------
    UsageError
        Unknown ``method``.

    References
    ----------
    OpenCV ``samples/python/calibrate.py``; ``modules/calib3d`` docs of
    ``findChessboardCornersSB`` and ``cornerSubPix``; ``cv2.aruco.CharucoDetector``.
    """
    import cv2

    if method not in ("auto", "sb", "classic"):
        raise UsageError(f"unknown detection method {method!r}; valid: auto, sb, classic")
    gray = _to_gray_u8(image)
    h, w = gray.shape[:2]
    empty = (np.zeros((0, 2)), np.zeros(0, int))
    if target.kind == "charuco":
        board = _charuco_board(target)
        detector = cv2.aruco.CharucoDetector(board)
        corners, ids, _, _ = detector.detectBoard(gray)
        if corners is None or ids is None or len(ids) < 6:
            n = 0 if ids is None else len(ids)
            return Detection(name, (w, h), *empty, reason=f"ChArUco board not found ({n} corners, need 6)")
        return Detection(name, (w, h), corners.reshape(-1, 2).astype(np.float64), ids.ravel().astype(int))
    pattern = (target.cols, target.rows)
    ids = np.arange(target.n_corners)
    if method in ("auto", "sb"):
        ok, corners = cv2.findChessboardCornersSB(gray, pattern, flags=0)
        if not ok:  # slower, finds more boards
            ok, corners = cv2.findChessboardCornersSB(gray, pattern, flags=cv2.CALIB_CB_EXHAUSTIVE | cv2.CALIB_CB_ACCURACY)
        if ok:
            # SB's own corner estimate is biased by up to ~0.05 px on tilted, distorted boards
            # (measured on rendered charts); a cornerSubPix pass removes most of it.
            crit = subpix_criteria or (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 100, 1e-4)
            corners = cv2.cornerSubPix(gray, corners.astype(np.float32).reshape(-1, 1, 2), tuple(subpix_window), (-1, -1), crit)
            return Detection(name, (w, h), corners.reshape(-1, 2).astype(np.float64), ids)
        if method == "sb":
            return Detection(name, (w, h), *empty, reason=f"{target.cols}x{target.rows} checkerboard not found")
    ok, corners = cv2.findChessboardCorners(gray, pattern, flags=cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE)
    if not ok:
        return Detection(name, (w, h), *empty, reason=f"{target.cols}x{target.rows} checkerboard not found")
    crit = subpix_criteria or (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_COUNT, 30, 0.1)
    corners = cv2.cornerSubPix(gray, corners, tuple(subpix_window), (-1, -1), crit)
    return Detection(name, (w, h), corners.reshape(-1, 2).astype(np.float64), ids)


def read_calibration_image(path: str | Path) -> np.ndarray:
    """Read one calibration shot as RGB.

    RAW files are developed linear (``gamma=(1, 1)``, no auto-brightening, camera white
    balance, 16 bit; LibRaw applies no lens correction). JPEG/TIFF/PNG are read with OpenCV.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        RGB in [0, 1]: scene-linear for RAW input, as encoded in the file otherwise.

    Raises
    ------
    InputNotFoundError, EmptyFileError, DecodeError
        The file does not exist, is empty or cannot be decoded.
    """
    import cv2

    p = Path(path)
    if not p.exists():
        raise InputNotFoundError("file not found", path=p)
    if p.stat().st_size == 0:
        raise EmptyFileError("empty file", path=p)
    if p.suffix.lower() in RAW_SUFFIXES:
        import rawpy

        try:
            with rawpy.imread(str(p)) as raw:
                rgb = raw.postprocess(gamma=(1, 1), no_auto_bright=True, output_bps=16, use_camera_wb=True)
        except (rawpy.LibRawError, OSError) as exc:  # pragma: no cover - depends on file
            raise DecodeError(f"LibRaw could not decode the file: {exc}", path=p) from None
        return rgb.astype(np.float32) / np.float32(65535.0)
    from l2tech.io.native_messages import native_stderr, warn_decoder_lines

    with native_stderr() as said:  # libjpeg/libpng print to fd 2 ("Corrupt JPEG data: ..."): named lines instead
        img = cv2.imread(str(p), cv2.IMREAD_UNCHANGED | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is None:
        detail = f" ({'; '.join(said)})" if said else ""
        raise DecodeError(f"not a readable image (JPEG, TIFF, PNG or RAW expected){detail}", path=p)
    fmt = {".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF", ".png": "PNG"}.get(p.suffix.lower(), "image")
    warn_decoder_lines(p, fmt, said)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3][..., ::-1]
    scale = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}.get(img.dtype, 1.0)
    return np.ascontiguousarray(img, dtype=np.float32) / np.float32(scale)


def iter_video_frames(
    path: str | Path, *, every: int = 10, blur_threshold: float = 50.0, max_frames: int | None = None
) -> Iterator[tuple[str, np.ndarray | None, str]]:
    """Decode every ``every``-th frame of a video, skipping blurred frames.

    Blur is measured as the variance of the Laplacian of the grey frame (Pech-Pacheco et al.
    2000); frames below ``blur_threshold`` are reported as skipped.

    Parameters
    ----------
    path : path-like
    every : int
        Keep one frame in ``every``.
    blur_threshold : float
        Minimum Laplacian variance (8-bit grey levels²).
    max_frames : int, optional
        Stop after this many kept frames.

    Yields
    ------
    name : str
        ``"file#frame"``.
    image : ndarray, shape (H, W, 3), float32, or None
        RGB in [0, 1] (display-encoded), or None when the frame was skipped.
    reason : str
        Why the frame was skipped (empty when kept).

    Raises
    ------
    DecodeError
        PyAV cannot open or decode the file.

    References
    ----------
    J. L. Pech-Pacheco et al., "Diatom autofocusing in brightfield microscopy: a comparative
    study", ICPR 2000 (variance of the Laplacian).
    """
    import av
    import cv2

    if every < 1:
        raise UsageError(f"--every must be at least 1, got {every}")
    p = Path(path)
    if p.exists() and p.stat().st_size == 0:
        raise EmptyFileError("empty file", path=p)
    try:
        container = av.open(str(p))
    except (av.error.FFmpegError, OSError) as exc:
        raise DecodeError(f"PyAV could not open the video: {exc}", path=p) from None
    kept = 0
    try:
        stream = container.streams.video[0]
        for i, frame in enumerate(container.decode(stream)):
            if i % every:
                continue
            rgb = frame.to_ndarray(format="rgb24")
            name = f"{p.name}#{i}"
            sharpness = float(cv2.Laplacian(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())
            if sharpness < blur_threshold:
                yield name, None, f"blurred (Laplacian variance {sharpness:.1f} < {blur_threshold:g})"
                continue
            yield name, rgb.astype(np.float32) / np.float32(255.0), ""
            kept += 1
            if max_frames is not None and kept >= max_frames:
                break
    except av.error.FFmpegError as exc:
        raise DecodeError(f"PyAV could not decode the video: {exc}", path=p) from None
    finally:
        container.close()


def _require(found: int, needed: int, what: str) -> None:
    if found < needed:
        raise CalibrationError(f"{found} usable {what} found, {needed} needed")
