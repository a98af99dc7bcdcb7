"""The per-frame pipeline: a clip's map, gain and look, run through the fused develop pass.

Everything that depends only on the lens, the settings and the frame size is built once in
:class:`FramePipeline`'s constructor: the inverse map and vignetting gain as a coarse grid
(:func:`l2tech.correct.fused.grid_from_maps`), the transfer's input table and encoding curve,
the look as a 3D LUT. :meth:`FramePipeline.process` then runs the same kernel as a still's
develop (:func:`l2tech.correct.fused.develop_pass`), in one pass per frame:

1. code values → linear light through the clip's transfer (a 256- or 65536-entry table);
2. vignetting gain and geometry (TCA + distortion + projection + scale/crop): each channel
   sampled, in linear light, at its own source position;
3. encoding with the clip's transfer, the look or LUT on those encoded values, quantisation.

So a video frame and a still give the same pixels for the same recipe and the same linear
input (tests/test_video_lens.py). Frames are R'G'B' code values, ``uint8`` for 8-bit streams
and ``uint16`` (full 16-bit scale) for deeper ones, as :func:`l2tech.video.colortags.frame_to_rgb`
gives them (the clip's Y'CbCr matrix and range are undone by swscale there); they stay integers
through the pass.

Bicubic and Lanczos sampling are not in the fused kernel: for them the frame is decoded to
linear float32, gained and resampled by :func:`l2tech.correct.resample.remap_planes`, then
encoded (and looked) by the same kernel.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from l2tech.correct.resample import INTERPOLATIONS, check_interpolation, prepare_maps, remap_planes, scale_map
from l2tech.errors import UsageError

__all__ = ["FramePipeline", "scale_map", "INTERPOLATIONS"]

Look = Callable[[np.ndarray], np.ndarray]

#: Points per axis of the 3D LUT a look callable is baked into (tetrahedral interpolation).
LOOK_LUT_SIZE = 65

_EYE = np.eye(3)


def _float_to_code(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Quantise float32 values in [0, 1] to ``uint8``/``uint16`` code values (round half up, clip)."""
    vmax = float(np.iinfo(dtype).max)
    y = np.multiply(x, vmax, dtype=np.float32)
    np.add(y, 0.5, out=y)
    np.clip(y, 0.0, vmax, out=y)
    return y.astype(dtype)


class FramePipeline:
    """Map, gain and look for one clip (or one focal length), applied to each frame.

    Parameters
    ----------
    in_size : tuple of int
        ``(width, height)`` of the decoded frames, pixels.
    map_xy : ndarray, shape (H, W, 2) or (H, W, 3, 2), float32, optional
        Inverse map: for each output pixel the source ``(x, y)`` in pixels, origin at the centre
        of the top-left source pixel; one map per channel (R, G, B) when 4-D (TCA); NaN where
        there is no image (black). Its ``(W, H)`` is the output size. ``None`` keeps the
        geometry (and the size, unless ``out_size`` asks for another, which adds a plain scale).
    gain : ndarray, shape (H_in, W_in) or (H_in, W_in, 3), float32, optional
        Vignetting correction gain on the *source* grid, multiplied into linear values.
    look : LUT3D or callable, optional
        Applied to the encoded output values in [0, 1] (the stream's own encoding: a LUT for
        V-Log takes V-Log values); gives output-encoded values in [0, 1]. A
        :class:`l2tech.color.lut.LUT3D` runs inside the pass (``look_interpolation``); a
        callable ``f(rgb) -> rgb`` on float32 ``(H, W, 3)`` is baked into a
        :data:`LOOK_LUT_SIZE`-point 3D LUT (``bake_look``) or called on each frame.
    transfer : tuple of callable, optional
        ``(decode, encode)``: encoded [0, 1] → scene-linear and back (vectorised). Sampling and
        gain run on the decoded values. Default: the BT.709 OETF of the display space
        ``"Rec.709"`` (:data:`l2tech.color.display.DISPLAY_SPACES`).
    interpolation : str
        ``"bilinear"`` (default) or ``"nearest"`` (in the fused pass); ``"bicubic"`` or
        ``"lanczos"`` (staged, see the module notes).
    out_size : tuple of int, optional
        ``(width, height)`` of the output when ``map_xy`` is ``None``.
    bake_look : bool
        Bake a callable ``look`` into a 3D LUT once per clip (default); else call it per frame.
    border : {"constant", "replicate"}
        Pixels beyond the source frame read as black (default) or as the nearest edge pixel
        (what :func:`l2tech.correct.correct` does under auto-scale).
    look_interpolation : {"tetrahedral", "trilinear"}
        How a 3D LUT look is interpolated.

    Raises
    ------
    UsageError
        A map or gain of the wrong shape or dtype, an unknown interpolation or border, a
        transfer whose decoded white is not a positive number.
    """

    def __init__(
        self,
        in_size: tuple[int, int],
        *,
        map_xy: np.ndarray | None = None,
        gain: np.ndarray | None = None,
        look: Any = None,
        transfer: tuple[Callable[[np.ndarray], np.ndarray], Callable[[np.ndarray], np.ndarray]] | None = None,
        interpolation: str = "bilinear",
        out_size: tuple[int, int] | None = None,
        bake_look: bool = True,
        border: str = "constant",
        look_interpolation: str = "tetrahedral",
    ) -> None:
        from l2tech.correct.fused import grid_from_maps, identity_grid_map

        w_in, h_in = (int(in_size[0]), int(in_size[1]))
        self.in_size = (w_in, h_in)
        key = check_interpolation(interpolation)
        self.interpolation = key
        if border not in ("constant", "replicate"):
            raise UsageError(f"unknown border {border!r}; valid: constant, replicate")
        if look_interpolation not in ("tetrahedral", "trilinear"):
            raise UsageError(f"unknown look interpolation {look_interpolation!r}; valid: tetrahedral, trilinear")
        self._border = border
        if map_xy is None and out_size is not None and tuple(out_size) != self.in_size:
            map_xy = scale_map(self.in_size, (int(out_size[0]), int(out_size[1])))
        self._geometry = map_xy is not None
        self._has_gain = gain is not None
        self._staged = key not in ("bilinear", "nearest") and (map_xy is not None or gain is not None)
        if self._staged:
            # bicubic / Lanczos: the stills resampler on linear float32, then the pass encodes
            self._gain = None
            if gain is not None:
                g = np.asarray(gain, np.float32)
                if g.ndim not in (2, 3) or g.shape[:2] != (h_in, w_in) or (g.ndim == 3 and g.shape[2] not in (1, 3)):
                    raise UsageError(f"gain must have shape ({h_in}, {w_in}[, 3]); got {g.shape}")
                self._gain = g.reshape(h_in, w_in, -1)
            if map_xy is not None:
                self._maps = prepare_maps(np.asarray(map_xy), interpolation=key)
                ow, oh = map_xy.shape[1], map_xy.shape[0]
            else:
                self._maps, (ow, oh) = None, self.in_size
            self._encode_grid = identity_grid_map(ow, oh)
            self._grid = self._encode_grid
        else:
            # nearest picks a pixel: the map is kept at every pixel (a 0.005 px grid could flip a pick)
            self._grid = grid_from_maps(self.in_size, map_xy, gain, border=border, step=1 if key == "nearest" else 16)
        self.out_size = (self._grid.width, self._grid.height) if not self._staged else (ow, oh)
        if transfer is None:
            transfer = _bt709_transfer()
        self._decode, self._encode = transfer
        white = float(np.asarray(self._decode(np.array([1.0], np.float32)), np.float64)[0])
        if not (np.isfinite(white) and white > 0):
            raise UsageError(f"the transfer decodes white (1.0) to {white!r}; expected a positive number")
        self._white = white
        self._curve = self._encode if white == 1.0 else (lambda x, _e=self._encode, _w=white: _e(np.asarray(x) * _w))
        self._dec: dict[str, np.ndarray] = {}
        self.look = look
        self._look_interp = look_interpolation
        self._lut = None
        self._look_fn = None
        if look is not None:
            from l2tech.color.lut import LUT3D

            if isinstance(look, LUT3D):
                self._lut = look
            elif bake_look:
                self._lut = _bake(look, LOOK_LUT_SIZE)
                self._look_interp = "tetrahedral"
            else:
                self._look_fn = look

    # -- tables -------------------------------------------------------------------------
    def _decode_table(self, dtype: np.dtype) -> np.ndarray:
        """Code value → linear (white = 1 after dividing by the transfer's decoded white)."""
        key = np.dtype(dtype).str
        dec = self._dec.get(key)
        if dec is None:
            qmax = np.iinfo(dtype).max
            codes = np.arange(qmax + 1, dtype=np.float64) / qmax
            lin = np.asarray(self._decode(codes.astype(np.float32)), np.float64) / self._white
            dec = self._dec[key] = np.ascontiguousarray(lin, np.float32)
        return dec

    def prepare(self) -> None:
        """Build the input tables and load (or compile, once per machine) the kernel.

        Call once before timing or before handing the pipeline to worker threads; ``process``
        works without it.
        """
        for dtype in (np.uint8, np.uint16):
            self._decode_table(np.dtype(dtype))
        tiny = FramePipeline((2, 2), look=self._lut, transfer=(self._decode, self._encode),
                             map_xy=np.zeros((2, 2, 2), np.float32), interpolation="bilinear")
        tiny.process(np.zeros((2, 2, 3), np.uint8))

    def process(self, rgb: np.ndarray, grid: Any = None) -> np.ndarray:
        """Run the pipeline on one frame.

        Parameters
        ----------
        rgb : ndarray, shape (H_in, W_in, 3), uint8 or uint16
            Encoded full-range R'G'B' code values (:func:`l2tech.video.colortags.frame_to_rgb`).
        grid : GridMap, optional
            This frame's own map and gain (:func:`l2tech.correct.fused.grid_from_function`:
            a stabilised clip's per-frame map), used instead of the clip's; bilinear or nearest
            sampling only. Its source size must be the frame's.

        Returns
        -------
        ndarray, shape (H_out, W_out, 3), same dtype
            The corrected frame; the input is not modified. Output pixels whose source falls
            outside the frame are black (``border="constant"``).

        Raises
        ------
        UsageError
            The frame's size or dtype is not the one the pipeline was built for.
        """
        from l2tech.correct.fused import develop_pass

        if rgb.ndim != 3 or rgb.shape[2] != 3 or (rgb.shape[1], rgb.shape[0]) != self.in_size:
            raise UsageError(f"frame shape {rgb.shape} does not match the pipeline's {self.in_size} (W, H)")
        if rgb.dtype not in (np.uint8, np.uint16):
            raise UsageError(f"frames must be uint8 or uint16 code values; got {rgb.dtype}")
        if grid is not None and self._staged:
            raise UsageError(f"a per-frame map is sampled in the fused pass (bilinear or nearest), not {self.interpolation}")
        if self.is_identity and grid is None:
            return rgb.copy()
        dec = self._decode_table(rgb.dtype)
        out_dtype = np.float32 if self._look_fn is not None else rgb.dtype
        kw = dict(dtype=out_dtype, look=self._lut, look_interpolation=self._look_interp)
        if self._staged:
            lin = dec[rgb]
            if self._gain is not None:
                lin *= self._gain
            if self._maps is not None:
                lin = remap_planes(lin, self._maps, interpolation=self.interpolation, border=self._border)
            out = develop_pass(np.ascontiguousarray(lin), self._encode_grid, _EYE, _EYE, self._curve, **kw)
        else:
            out = develop_pass(rgb, self._grid if grid is None else grid, _EYE, _EYE, self._curve, decode=dec,
                               interpolation=self.interpolation, **kw)
        if self._look_fn is not None:
            out = _float_to_code(np.asarray(self._look_fn(out), dtype=np.float32), rgb.dtype)
        return out

    __call__ = process

    @property
    def is_identity(self) -> bool:
        """True when the pipeline leaves frames unchanged (no map, gain or look)."""
        return not self._geometry and not self._has_gain and self.look is None


def _bake(look: Look, size: int):
    """A callable look evaluated at the nodes of a ``size``-point 3D LUT over [0, 1]."""
    from l2tech.color.lut import LUT3D

    ident = LUT3D.identity(size)
    table = np.asarray(look(np.asarray(ident.table, np.float32)), np.float32)
    return LUT3D(table, ident.domain)


def _bt709_transfer():
    """(decode, encode) of the display space ``"Rec.709"``: the BT.709 OETF and its inverse."""
    from l2tech.color.display import DISPLAY_SPACES

    space = DISPLAY_SPACES["Rec.709"]
    return space.decode, space.encode
