"""The per-frame pipeline: precomputed maps, gain and look, applied to every frame of a clip.

Everything that depends only on the lens, the settings and the frame size (the inverse
coordinate map, the vignetting gain, the look baked into a table) is built once in
:class:`FramePipeline`'s constructor; :meth:`FramePipeline.process` does no allocation beyond
the output frame and never rebuilds them. The order is the stills pipeline's (ARCHITECTURE.md):

1. vignetting gain, on linear values on the source grid;
2. geometry: one resampling through the composed inverse map (TCA + distortion + projection +
   scale/crop), per channel when the map has one per channel;
3. look or LUT, on the encoded output values.

Frames are R'G'B' code values, ``uint8`` for 8-bit streams and ``uint16`` (full 16-bit scale)
for deeper ones. Geometry runs on the integers directly, through
:mod:`l2tech.correct.resample` (OpenCV remap; with float maps by default, optionally with the
fixed-point maps of OpenCV ``convertMaps``). A look on 8-bit frames is baked into a
256³ table once per clip, which is exact: an 8-bit pixel can only take those values.

References
----------
OpenCV ``imgproc/src/imgwarp.cpp`` (``remap``; ``convertMaps``: ``INTER_BITS = 5``, 1/32 pixel
fixed-point coordinates).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from l2tech.correct.resample import INTERPOLATIONS, check_interpolation, prepare_maps, remap_planes, scale_map
from l2tech.errors import UsageError

__all__ = ["FramePipeline", "scale_map", "INTERPOLATIONS"]

Look = Callable[[np.ndarray], np.ndarray]


def _gather_kernel():
    import numba

    @numba.njit(parallel=True, cache=False, nogil=True)
    def gather(img, table, out):  # pragma: no cover - compiled
        h, w = img.shape[0], img.shape[1]
        for i in numba.prange(h):
            for j in range(w):
                r = img[i, j, 0]
                g = img[i, j, 1]
                b = img[i, j, 2]
                out[i, j, 0] = table[r, g, b, 0]
                out[i, j, 1] = table[r, g, b, 1]
                out[i, j, 2] = table[r, g, b, 2]

    return gather


_GATHER = None


def _float_to_code(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Quantise float32 values in [0, 1] to ``uint8``/``uint16`` code values (round, clip)."""
    vmax = float(np.iinfo(dtype).max)
    y = np.multiply(x, vmax, dtype=np.float32)
    np.add(y, 0.5, out=y)
    np.clip(y, 0.0, vmax, out=y)
    return y.astype(dtype)


def _code_to_float(x: np.ndarray) -> np.ndarray:
    """Integer code values to float32 in [0, 1]."""
    return np.multiply(x, np.float32(1.0 / np.iinfo(x.dtype).max), dtype=np.float32)


class FramePipeline:
    """Maps, gain and look for one clip (or one focal length), applied to each frame.

    Parameters
    ----------
    in_size : tuple of int
        ``(width, height)`` of the decoded frames, pixels.
    map_xy : ndarray, shape (H, W, 2) or (H, W, 3, 2), float32, optional
        Inverse map: for each output pixel the source ``(x, y)`` in pixels, origin at the centre
        of the top-left source pixel; one map per channel (R, G, B) when 4-D (TCA). Its
        ``(W, H)`` is the output size. ``None`` keeps the geometry (and the size, unless
        ``out_size`` asks for another, which adds a plain scale).
    gain : ndarray, shape (H_in, W_in) or (H_in, W_in, 3), float32, optional
        Vignetting correction gain on the *source* grid, multiplied into linear values.
    look : callable, optional
        Pointwise color transform ``f(rgb) -> rgb`` on float32 ``(H, W, 3)`` encoded values in
        [0, 1] (the stream's own encoding: a LUT for V-Log takes V-Log values); returns the
        output-encoded values in [0, 1]. Applied after geometry.
    transfer : tuple of callable, optional
        ``(decode, encode)``: encoded [0, 1] → scene-linear and back, used around the gain.
        Default: the BT.709 OETF of the display space ``"Rec.709"``
        (:data:`l2tech.color.display.DISPLAY_SPACES`).
    interpolation : str
        ``"bilinear"`` (default), ``"bicubic"``, ``"lanczos"`` or ``"nearest"``.
    out_size : tuple of int, optional
        ``(width, height)`` of the output when ``map_xy`` is ``None``.
    bake_look : bool
        Bake ``look`` into a 256³ table for 8-bit frames (exact; ~1 s once per clip).
    border : {"constant", "replicate"}
        Pixels beyond the source frame read as black (default; also where the map is NaN) or as
        the nearest edge pixel (what :func:`l2tech.correct.correct` does under auto-scale).
    fixed_point_maps : bool
        Resample with OpenCV's 1/32-pixel fixed-point maps (``cv2.convertMaps``): about 25 %
        faster, but a value may move by up to ``gradient / 64`` code values. Default: float
        maps, which give exactly what OpenCV remap gives on the float image (the stills path).

    Raises
    ------
    UsageError
        A map or gain of the wrong shape or dtype, an unknown interpolation.
    """

    def __init__(
        self,
        in_size: tuple[int, int],
        *,
        map_xy: np.ndarray | None = None,
        gain: np.ndarray | None = None,
        look: Look | None = None,
        transfer: tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]] | None = None,
        interpolation: str = "bilinear",
        out_size: tuple[int, int] | None = None,
        bake_look: bool = True,
        fixed_point_maps: bool = False,
        border: str = "constant",
    ) -> None:
        w_in, h_in = (int(in_size[0]), int(in_size[1]))
        self.in_size = (w_in, h_in)
        key = check_interpolation(interpolation)
        self.interpolation = key
        if border not in ("constant", "replicate"):
            raise UsageError(f"unknown border {border!r}; valid: constant, replicate")
        self._border = border
        if map_xy is None and out_size is not None and tuple(out_size) != self.in_size:
            map_xy = scale_map(self.in_size, (int(out_size[0]), int(out_size[1])))
        self._maps = None
        if map_xy is not None:
            self._maps = prepare_maps(map_xy, interpolation=key, fixed_point=fixed_point_maps)
            self.out_size = (map_xy.shape[1], map_xy.shape[0])
        else:
            self.out_size = self.in_size
        self._gain = None
        if gain is not None:
            g = np.asarray(gain, dtype=np.float32)
            if g.shape[:2] != (h_in, w_in) or g.ndim not in (2, 3):
                raise UsageError(f"gain must have shape ({h_in}, {w_in}[, 3]); got {g.shape}")
            self._gain = g[..., None] if g.ndim == 2 else g
        if transfer is None:
            transfer = _bt709_transfer()
        self._decode, self._encode = transfer
        self.look = look
        self._bake = bake_look
        self._tables: dict[type, np.ndarray] = {}

    # -- stages -------------------------------------------------------------------------
    def _apply_gain(self, rgb: np.ndarray) -> np.ndarray:
        lin = np.asarray(self._decode(_code_to_float(rgb)), dtype=np.float32)
        lin = lin * self._gain
        return _float_to_code(np.asarray(self._encode(lin), dtype=np.float32), rgb.dtype)

    def _remap(self, rgb: np.ndarray) -> np.ndarray:
        assert self._maps is not None
        return remap_planes(rgb, self._maps, interpolation=self.interpolation, border=self._border)

    def _look_table(self) -> np.ndarray:
        table = self._tables.get(np.uint8)
        if table is None:
            assert self.look is not None
            codes = np.arange(256, dtype=np.float32) / np.float32(255.0)
            table = np.empty((256, 256, 256, 3), np.uint8)
            g, b = np.meshgrid(codes, codes, indexing="ij")
            for r in range(256):
                plane = np.empty((256, 256, 3), np.float32)
                plane[..., 0] = codes[r]
                plane[..., 1] = g
                plane[..., 2] = b
                table[r] = _float_to_code(np.asarray(self.look(plane), dtype=np.float32), np.dtype(np.uint8))
            self._tables[np.uint8] = table
        return table

    def _apply_look(self, rgb: np.ndarray) -> np.ndarray:
        global _GATHER
        assert self.look is not None
        if rgb.dtype == np.uint8 and self._bake:
            table = self._look_table()
            if _GATHER is None:
                _GATHER = _gather_kernel()
            out = np.empty_like(rgb)
            _GATHER(np.ascontiguousarray(rgb), table, out)
            return out
        return _float_to_code(np.asarray(self.look(_code_to_float(rgb)), dtype=np.float32), rgb.dtype)

    def prepare(self) -> None:
        """Build what is built lazily (the baked look table, the compiled gather kernel).

        Call once before timing or before handing the pipeline to worker threads; ``process``
        calls it too.
        """
        global _GATHER
        if self.look is not None and self._bake:
            self._look_table()
            if _GATHER is None:
                _GATHER = _gather_kernel()
                dummy = np.zeros((1, 1, 3), np.uint8)
                _GATHER(dummy, self._tables[np.uint8], np.empty_like(dummy))

    def process(self, rgb: np.ndarray) -> np.ndarray:
        """Run the pipeline on one frame.

        Parameters
        ----------
        rgb : ndarray, shape (H_in, W_in, 3), uint8 or uint16
            Encoded full-range R'G'B' code values (:func:`l2tech.video.colortags.frame_to_rgb`).

        Returns
        -------
        ndarray, shape (H_out, W_out, 3), same dtype
            The corrected frame; the input is not modified. Output pixels whose source falls
            outside the frame are black.

        Raises
        ------
        UsageError
            The frame's size or dtype is not the one the pipeline was built for.
        """
        if rgb.ndim != 3 or rgb.shape[2] != 3 or (rgb.shape[1], rgb.shape[0]) != self.in_size:
            raise UsageError(f"frame shape {rgb.shape} does not match the pipeline's {self.in_size} (W, H)")
        if rgb.dtype not in (np.uint8, np.uint16):
            raise UsageError(f"frames must be uint8 or uint16 code values; got {rgb.dtype}")
        out = rgb
        if self._gain is not None:
            out = self._apply_gain(out)
        if self._maps is not None:
            out = self._remap(out)
        if self.look is not None:
            out = self._apply_look(out)
        if out is rgb:
            out = rgb.copy()
        return out

    __call__ = process

    @property
    def is_identity(self) -> bool:
        """True when the pipeline leaves frames unchanged (no map, gain or look)."""
        return self._maps is None and self._gain is None and self.look is None


def _bt709_transfer():
    """(decode, encode) of the display space ``"Rec.709"``: the BT.709 OETF and its inverse."""
    from l2tech.color.display import DISPLAY_SPACES

    space = DISPLAY_SPACES["Rec.709"]
    return space.decode, space.encode
