"""Resampling: the one place where pixels are read through inverse coordinate maps.

Every OpenCV ``remap`` call and every compiled sampling kernel of l2tech is here; stills
(:func:`l2tech.correct.correct`, :func:`l2tech.correct.simulate_lens`), video
(:class:`l2tech.video.pipeline.FramePipeline`) and DNG opcodes
(:mod:`l2tech.correct.dng_opcodes`) call these functions. Maps are built elsewhere
(:mod:`l2tech.correct.maps`, :mod:`l2tech.optics`): an inverse map gives, for every output
pixel, the source ``(x, y)`` in pixels with the origin at the centre of the top-left source
pixel; float32 ``(H, W, 2)``, one for all channels or one per channel (R, G, B).

Kernels (:data:`INTERPOLATIONS`) are OpenCV's; the bilinear fused path
(:func:`remap_lensfun_bilinear`) reproduces OpenCV's bilinear numbers on float32 maps without
storing the maps. Borders: ``"replicate"`` reads the nearest edge pixel, ``"constant"`` reads 0.

Signal state: whatever the caller passes (scene-linear float32 for stills, encoded integer
code values for video); resampling never clips or converts.

References
----------
OpenCV ``modules/imgproc/src/imgwarp.cpp`` (``remap``, ``convertMaps``: ``INTER_BITS = 5``,
1/32 pixel fixed-point coordinates).
"""

from __future__ import annotations

from typing import Any, Callable, Sequence, Union

import numpy as np

from l2tech.correct.maps import CorrectionMaps
from l2tech.errors import UsageError

__all__ = [
    "INTERPOLATIONS",
    "BORDERS",
    "check_interpolation",
    "remap",
    "remap_planes",
    "remap_rows",
    "remap_lensfun_bilinear",
    "develop_grid_pass",
    "prepare_maps",
    "scale_map",
    "resample_map",
    "warm_up",
]

#: Resampling kernels: name -> OpenCV flag name.
INTERPOLATIONS = {"nearest": "INTER_NEAREST", "bilinear": "INTER_LINEAR", "bicubic": "INTER_CUBIC", "lanczos": "INTER_LANCZOS4"}

#: Ways of reading beyond the source frame: edge values, or 0.
BORDERS = ("replicate", "constant")

#: One plane's map: float32 ``(H, W, 2)``, or a pair ``(map1, map2)`` as OpenCV remap takes them
#: (``(x, y)`` planes, as :func:`prepare_maps` gives them).
PlaneMap = Union[np.ndarray, tuple[np.ndarray, Any]]


def _cv2() -> Any:
    try:
        import cv2
    except ImportError:  # pragma: no cover
        from l2tech.errors import DependencyMissingError

        raise DependencyMissingError("OpenCV is needed for resampling; run: pip install 'opencv-python-headless>=4.8'") from None
    return cv2


def check_interpolation(name: str) -> str:
    """The canonical kernel name (lower case).

    Raises
    ------
    UsageError
        Not one of :data:`INTERPOLATIONS`; the message lists them.
    """
    key = str(name).lower()
    if key not in INTERPOLATIONS:
        raise UsageError(f"unknown interpolation {name!r}; expected one of {', '.join(INTERPOLATIONS)}")
    return key


def _flags(interpolation: str, border: str) -> tuple[int, int]:
    cv2 = _cv2()
    flag = int(getattr(cv2, INTERPOLATIONS[check_interpolation(interpolation)]))
    if border not in BORDERS:
        raise UsageError(f"unknown border {border!r}; expected replicate or constant")
    return flag, (cv2.BORDER_REPLICATE if border == "replicate" else cv2.BORDER_CONSTANT)


def _pair(plane: PlaneMap) -> tuple[np.ndarray, Any]:
    return (plane[0], plane[1]) if isinstance(plane, tuple) else (plane, None)


def remap_planes(
    image: np.ndarray,
    planes: Sequence[PlaneMap],
    *,
    interpolation: str = "bilinear",
    border: str = "replicate",
) -> np.ndarray:
    """Resample ``image`` through one map for all channels, or one map per channel.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C), float32, uint8 or uint16
        Source pixels (any signal state; not modified).
    planes : sequence of PlaneMap
        One map (every channel) or C maps (channel c through map c), each float32
        ``(H_out, W_out, 2)`` or an OpenCV pair ``(map1, map2)`` (see :func:`prepare_maps`).
    interpolation : {"nearest", "bilinear", "bicubic", "lanczos"}
    border : {"replicate", "constant"}

    Returns
    -------
    ndarray, shape (H_out, W_out[, C]), the image's dtype
        A new array.

    Raises
    ------
    UsageError
        Unknown interpolation or border.
    """
    cv2 = _cv2()
    flag, mode = _flags(interpolation, border)
    if len(planes) == 1:
        m1, m2 = _pair(planes[0])
        out = cv2.remap(image, m1, m2, flag, borderMode=mode, borderValue=0)
        return out[..., None] if image.ndim == 3 and out.ndim == 2 else out  # OpenCV drops a last axis of 1
    h, w = _pair(planes[0])[0].shape[:2]
    out = np.empty((h, w, len(planes)), image.dtype)
    for c, plane in enumerate(planes):
        m1, m2 = _pair(plane)
        out[..., c] = cv2.remap(np.ascontiguousarray(image[..., c]), m1, m2, flag, borderMode=mode, borderValue=0)
    return out


def remap(image: np.ndarray, maps: CorrectionMaps, *, interpolation: str = "bilinear", border: str = "replicate") -> np.ndarray:
    """Resample ``image`` through the inverse maps of a correction (one OpenCV remap per map).

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), float32
        Scene-linear RGB; not modified.
    maps : CorrectionMaps
    interpolation : {"nearest", "bilinear", "bicubic", "lanczos"}
    border : {"replicate", "constant"}
        How pixels beyond the source frame are read: edge values (right when the map stays in
        the frame, as with auto-scale) or 0 (shows the empty border of a zoom-out).

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        A new array (a copy when the maps are the identity).

    Raises
    ------
    UsageError
        Unknown interpolation or border.
    """
    _flags(interpolation, border)
    if maps.is_identity:
        return image.copy()
    return remap_planes(image, maps.maps, interpolation=interpolation, border=border)


def remap_rows(
    src: np.ndarray,
    render_rows: Callable[..., tuple[np.ndarray, ...]],
    scale: float,
    *,
    planar: bool = False,
    interpolation: str = "bilinear",
    border: str = "replicate",
) -> np.ndarray:
    """Resample in strips of about 1 M pixels, the maps of each strip built just before use.

    Parameters
    ----------
    src : ndarray, shape (H, W, 3) or (3, H, W), float32
        Interleaved RGB for a warp with one map; planar R, G, B (``planar=True``) for a
        per-channel warp.
    render_rows : callable
        ``render_rows(scale, y0, y1, outs=None) -> tuple of (y1 - y0, W, 2) float32`` (a
        warp's ``extra["render_rows"]``, :mod:`l2tech.optics.compose`): one map, or three.
    scale : float
        The zoom, passed to ``render_rows``.
    planar : bool
        ``src`` is planar and ``render_rows`` gives three maps.
    interpolation, border
        As :func:`remap`.

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        The same numbers as building the full maps and calling :func:`remap`; the full maps are
        never held.
    """
    cv2 = _cv2()
    flag, mode = _flags(interpolation, border)
    H, W = src.shape[1:] if planar else src.shape[:2]
    out = np.empty((H, W, 3), np.float32)
    strip = max(8, min(H, (1 << 20) // max(W, 1)))  # ~1 M pixels per strip
    buf = None
    res: list[Any] = [None, None, None]
    for y0 in range(0, H, strip):
        y1 = min(H, y0 + strip)
        buf = render_rows(scale, y0, y1, None if buf is None or buf[0].shape[0] != y1 - y0 else buf)
        if not planar:
            cv2.remap(src, buf[0], None, flag, dst=out[y0:y1], borderMode=mode, borderValue=0)
            continue
        for c in range(3):
            res[c] = cv2.remap(src[c], buf[c], None, flag, borderMode=mode, borderValue=0)
        cv2.merge(res, dst=out[y0:y1])
    return out


def remap_lensfun_bilinear(src: np.ndarray, params: tuple, scale: float, *, border: str = "replicate") -> np.ndarray:
    """lensfun-family map evaluation and bilinear resampling in one compiled pass.

    Parameters
    ----------
    src : ndarray, shape (H, W, 3), float32, C-contiguous
    params : tuple
        A lensfun warp's ``extra["lensfun_params"]``: ``(ns, cxn, cyn, dmodel, d0, d1, d2,
        tmodel, vr, vb, cr, cb, br, bb)`` (:func:`l2tech.optics.compose.lensfun_warp`).
    scale : float
        The zoom.
    border : {"replicate", "constant"}

    Returns
    -------
    ndarray, shape (H, W, 3), float32
        Numerically the map of :func:`l2tech.optics.compose.lensfun_warp` stored as float32 and
        read as OpenCV remap (INTER_LINEAR) reads it (1/32 px coordinate rounding, float32
        weights), so it agrees with the stored-maps path; the maps are never stored.
    """
    from l2tech.correct import _resample_kernels

    if border not in BORDERS:
        raise UsageError(f"unknown border {border!r}; expected replicate or constant")
    out = np.empty_like(src)
    ns, cxn, cyn, dmodel, d0, d1, d2, tmodel, *tt = params
    _resample_kernels.lensfun_remap_bilinear(src, out, ns, cxn, cyn, 1.0 / scale, dmodel, d0, d1, d2, tmodel, *tt,
                                             border == "replicate")
    return out


def develop_grid_pass(src: np.ndarray, decode: np.ndarray | None, grid: np.ndarray, step: int, matrix: np.ndarray,
                      table: np.ndarray, inv_gamma: float, lut: np.ndarray, qmax: float, replicate: bool,
                      per_channel: bool, nearest: bool, lut3d: np.ndarray | None, lut_lo: np.ndarray | None,
                      lut_scale: np.ndarray | None, tetrahedral: bool, out: np.ndarray) -> np.ndarray:
    """The fused develop kernel (:mod:`l2tech.correct._develop_kernel`): sampling through a
    coarse-grid map (of linear values, through the input table ``decode`` when given) with gain,
    matrix, encoding and an optional 3D LUT, into ``out``. Arguments are checked and prepared by
    :func:`l2tech.correct.fused.develop_pass`, the public entry."""
    from l2tech.correct._develop_kernel import develop_pass, opt_level

    with opt_level():
        develop_pass(src, decode, grid, step, matrix, table, inv_gamma, lut, qmax, replicate, per_channel, nearest,
                     lut3d, lut_lo, lut_scale, tetrahedral, out)
    return out


def prepare_maps(map_xy: np.ndarray, *, interpolation: str = "bilinear") -> list[PlaneMap]:
    """Per-plane maps ready for repeated :func:`remap_planes` calls (a video clip's frames).

    Parameters
    ----------
    map_xy : ndarray, shape (H, W, 2) or (H, W, 3, 2), float32
        Inverse map, one per channel (R, G, B) when 4-D. NaN (a ray with no image) is read as
        a point far outside the frame, i.e. black with the ``"constant"`` border.
    interpolation : {"nearest", "bilinear", "bicubic", "lanczos"}

    Returns
    -------
    list of PlaneMap
        One or three planes.

    Raises
    ------
    UsageError
        A map of the wrong shape or dtype, an unknown interpolation.
    """
    m = np.asarray(map_xy)
    if m.dtype != np.float32 or m.ndim not in (3, 4) or m.shape[-1] != 2 or (m.ndim == 4 and m.shape[2] != 3):
        raise UsageError(f"map_xy must be float32 (H, W, 2) or (H, W, 3, 2); got {m.dtype} {m.shape}")
    check_interpolation(interpolation)
    planes = [m] if m.ndim == 3 else [np.ascontiguousarray(m[:, :, c, :]) for c in range(3)]
    planes = [np.nan_to_num(p, nan=-1000.0, posinf=-1000.0, neginf=-1000.0) for p in planes]
    return [(np.ascontiguousarray(p), None) for p in planes]


def scale_map(in_size: tuple[int, int], out_size: tuple[int, int]) -> np.ndarray:
    """Inverse map that scales a ``W_in × H_in`` frame to ``W_out × H_out`` (aspect not kept).

    Parameters
    ----------
    in_size, out_size : tuple of int
        ``(width, height)`` in pixels.

    Returns
    -------
    ndarray, shape (H_out, W_out, 2), float32
        Source ``(x, y)`` of each output pixel; pixel centres align
        (``x_src = (x_out + 0.5) · W_in / W_out − 0.5``).
    """
    (wi, hi), (wo, ho) = in_size, out_size
    xs = ((np.arange(wo, dtype=np.float64) + 0.5) * (wi / wo) - 0.5).astype(np.float32)
    ys = ((np.arange(ho, dtype=np.float64) + 0.5) * (hi / ho) - 0.5).astype(np.float32)
    out = np.empty((ho, wo, 2), np.float32)
    out[..., 0] = xs[None, :]
    out[..., 1] = ys[:, None]
    return out


def resample_map(map_xy: np.ndarray, out_size: tuple[int, int]) -> np.ndarray:
    """Compose an inverse map with a scale to ``out_size``, so the frame is still resampled once.

    Parameters
    ----------
    map_xy : ndarray, shape (H, W, 2) or (H, W, 3, 2), float32
        Inverse map at the input size.
    out_size : tuple of int
        ``(width, height)`` of the output.

    Returns
    -------
    ndarray, shape (H_out, W_out, 2) or (H_out, W_out, 3, 2), float32
        The map sampled bilinearly (edge values beyond it) at the output pixels' positions
        (:func:`scale_map`).
    """
    h, w = map_xy.shape[:2]
    sm = scale_map((w, h), out_size)
    flat = np.ascontiguousarray(map_xy.reshape(h, w, -1))
    out = remap_planes(flat, [(sm[..., 0], sm[..., 1])], interpolation="bilinear", border="replicate")
    return out.reshape((out_size[1], out_size[0]) + map_xy.shape[2:]).astype(np.float32)


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel of a correction on a tiny frame."""
    from l2tech.correct import _resample_kernels
    from l2tech.optics import _kernels

    _kernels.warm_up()
    _resample_kernels.warm_up()
