"""DNG opcode lists applied to pixels, in the order the DNG specification gives.

The opcode maths (warp maps, the radial vignette gain, GainMap, MapPolynomial) is in
:mod:`l2tech.optics.dng`; parsing the lists from a file is :mod:`l2tech.profiles.dng_opcodes`;
RAW decoding applies them at their stages through :mod:`l2tech.raw.opcodes`. The warps are
resampled by :mod:`l2tech.correct.resample`, like every other geometry.

References
----------
Adobe DNG Specification 1.4 / 1.6, chapter 6 "Opcode List Processing"; Adobe DNG SDK
``source/dng_lens_correction.cpp``.
"""

from __future__ import annotations

import numpy as np

from l2tech.correct.resample import remap_planes
from l2tech.errors import UsageError
from l2tech.optics.dng import (
    apply_gain_map,
    apply_map_polynomial,
    vignette_radial_gain,
    warp_fisheye_map,
    warp_rectilinear_map,
)

__all__ = ["apply_opcodes"]


def apply_opcodes(image: np.ndarray, opcodes, *, interpolation: str = "bilinear") -> np.ndarray:
    """Apply an opcode list to an image, in order, the way the DNG specification describes.

    Parameters
    ----------
    image : ndarray, shape (H, W) or (H, W, C), float32
        Linear values in 0..1 (a mosaic for lists 1/2, demosaiced RGB for list 3).
    opcodes : sequence of DngOpcode
        From :func:`l2tech.profiles.dng_opcodes.parse_opcode_list` (duck-typed: ``opcode_id``,
        ``name``, ``flags``, ``params``).
    interpolation : {"bilinear", "bicubic"}
        Resampling of the warps (:func:`l2tech.correct.resample.remap_planes`, OpenCV's
        kernels; the DNG SDK uses its own 2-D kernel).

    Returns
    -------
    ndarray, same shape, float32

    Raises
    ------
    UsageError
        An unknown interpolation, or a non-optional opcode that is not implemented (the DNG
        specification requires readers to refuse the image then); optional ones are skipped.

    Notes
    -----
    Implemented: WarpRectilinear (1), WarpFisheye (2), FixVignetteRadial (3), MapPolynomial (8),
    GainMap (9). Warps use one plane for all channels or one per channel; pixels whose source
    falls outside the image take the nearest edge pixel (the SDK clamps likewise).
    """
    if interpolation not in ("bilinear", "bicubic"):
        raise UsageError(f"unknown interpolation {interpolation!r} for DNG warps; expected bilinear or bicubic")
    out = np.array(image, dtype=np.float32, copy=True)
    h, w = out.shape[:2]
    for op in opcodes:
        p = op.params
        if op.opcode_id in (1, 2):
            fn = warp_rectilinear_map if op.opcode_id == 1 else warp_fisheye_map
            m = fn(w, h, p["planes"], p["cx"], p["cy"])
            if m.ndim == 3:  # one plane for every channel
                planes = [m]
            else:  # one per channel; channels beyond the last plane use the last
                planes = [m[:, :, min(c, m.shape[2] - 1)] for c in range(out.shape[2] if out.ndim == 3 else 1)]
            out = remap_planes(out, [(pl[..., 0], pl[..., 1]) for pl in planes], interpolation=interpolation,
                               border="replicate")
        elif op.opcode_id == 3:
            g = vignette_radial_gain(w, h, p["k"], p["cx"], p["cy"])
            out = out * (g[..., None] if out.ndim == 3 else g)
        elif op.opcode_id == 8:
            out = apply_map_polynomial(out, p["coefficients"], top=p["top"], left=p["left"], bottom=p["bottom"],
                                       right=p["right"], plane=p["plane"], planes=p["planes"],
                                       row_pitch=p["row_pitch"], col_pitch=p["col_pitch"])
        elif op.opcode_id == 9:
            out = apply_gain_map(out, p["gain_map"])
        elif not (op.flags & 1):
            raise UsageError(f"DNG opcode {op.name} ({op.opcode_id}) is not implemented and not optional")
    return out.astype(np.float32)
