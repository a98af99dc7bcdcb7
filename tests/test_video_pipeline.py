"""The per-frame pipeline against OpenCV (remap, resize) and direct LUT application."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2tech.errors import UsageError
from l2tech.video.pipeline import FramePipeline, scale_map


def _radial_map(w: int, h: int, k1: float, shift=(0.0, 0.0)) -> np.ndarray:
    """Inverse map of a simple radial distortion (test input; any smooth map would do)."""
    x, y = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    cx, cy = (w - 1) / 2, (h - 1) / 2
    r2 = ((x - cx) ** 2 + (y - cy) ** 2) / (max(w, h) / 2) ** 2
    f = 1 + k1 * r2
    m = np.stack([(x - cx) * f + cx + shift[0], (y - cy) * f + cy + shift[1]], -1)
    return m.astype(np.float32)


def _frame(h: int, w: int, dtype=np.uint8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hi = np.iinfo(dtype).max
    base = cv2.GaussianBlur(rng.uniform(0, hi, (h, w, 3)).astype(np.float32), (0, 0), 2)
    return np.clip(base * 1.5 - hi * 0.25, 0, hi).astype(dtype)


_IDENTITY = (lambda v: v, lambda x: x)  # transfer that makes code values the linear values


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("interp,cv_interp", [("bilinear", cv2.INTER_LINEAR), ("bicubic", cv2.INTER_CUBIC),
                                              ("nearest", cv2.INTER_NEAREST)])
def test_remap_matches_float_remap(dtype, interp, cv_interp):
    """With an identity transfer the frame's values are resampled as they are: OpenCV remap of
    the float image with float maps is the oracle (it rounds coordinates to 1/32 px, so a value
    may move by gradient / 64: within 1 code at 8 bit, 257 at 16 bit, on 99.9 %; bicubic runs
    through OpenCV itself: within rounding)."""
    img = _frame(96, 128, dtype)
    m = _radial_map(128, 96, -0.2)
    out = FramePipeline((128, 96), map_xy=m, interpolation=interp, transfer=_IDENTITY).process(img)
    ref = cv2.remap(img.astype(np.float32), m[..., 0], m[..., 1], cv_interp, borderMode=cv2.BORDER_CONSTANT,
                    borderValue=0)
    ref = np.clip(np.round(ref), 0, np.iinfo(dtype).max)
    assert out.dtype == dtype and out.shape == ref.shape
    diff = np.abs(out.astype(np.float64) - ref)
    code = 1.0 if dtype == np.uint8 else 257.0
    if interp == "nearest":
        assert np.mean(diff == 0) > 0.99  # ties at half-pixel positions may round the other way
    elif interp == "bicubic":
        assert diff.max() <= 1
    else:
        assert np.mean(diff <= code) >= 0.999, f"max {diff.max()}"


@pytest.mark.parametrize("interp,cv_interp", [("bilinear", cv2.INTER_LINEAR), ("bicubic", cv2.INTER_CUBIC)])
def test_remap_in_linear_light(interp, cv_interp):
    """Default transfer (BT.709): the frame is resampled in linear light. Oracle: colour-science's
    BT.709 inverse OETF, OpenCV remap of the linear float image, the OETF, rounding; within 1
    code on 99.9 % (OpenCV's 1/32 px coordinates), and far from resampling the code values."""
    from colour.models import oetf_BT709, oetf_inverse_BT709

    img = _frame(96, 128, np.uint8)
    img[::8] = 255  # hard edges, where linear and code-value resampling differ most
    m = _radial_map(128, 96, -0.2, (0.37, -0.21))
    out = FramePipeline((128, 96), map_xy=m, interpolation=interp).process(img).astype(np.float64)
    lin = oetf_inverse_BT709(img / 255.0).astype(np.float32)
    ref = cv2.remap(lin, m[..., 0], m[..., 1], cv_interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    ref = np.round(oetf_BT709(np.clip(ref.astype(np.float64), 0, 1)) * 255)
    diff = np.abs(out - ref)
    assert np.mean(diff <= 1) >= 0.999 and diff.max() <= 2, f"max {diff.max()}"
    codes = cv2.remap(img.astype(np.float32), m[..., 0], m[..., 1], cv_interp, borderMode=cv2.BORDER_CONSTANT)
    assert np.abs(out - np.clip(np.round(codes), 0, 255)).max() >= 10  # code-value resampling is not it


@settings(max_examples=20, deadline=None)
@given(k1=st.floats(-0.3, 0.3), sx=st.floats(-3, 3), sy=st.floats(-3, 3))
def test_remap_property_close_to_float_remap(k1, sx, sy):
    img = _frame(40, 56, np.uint8, seed=1)
    m = _radial_map(56, 40, k1, (sx, sy))
    out = FramePipeline((56, 40), map_xy=m, transfer=_IDENTITY).process(img)
    ref = cv2.remap(img.astype(np.float32), m[..., 0], m[..., 1], cv2.INTER_LINEAR,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    diff = np.abs(out.astype(np.float32) - ref)
    # sampled inside the frame: rounding (0.5), the grid (≤ 0.005 px) and OpenCV's 1/32 px
    # coordinates on a smooth image; measured ≤ 0.52 (k1 −0.027, shift (3, 0))
    inside = (m[..., 0] >= 0) & (m[..., 0] <= 55) & (m[..., 1] >= 0) & (m[..., 1] <= 39)
    assert diff[inside].max() <= 1.0
    # blended with the black beyond the frame, the step from an edge pixel to 0 (up to 255 codes)
    # turns the grid's ≤ 0.005 px in x and y into up to 0.5 + 255 × 0.01 codes; measured 1.04 there
    assert diff.max() <= 3.0


def test_per_channel_maps():
    img = _frame(64, 80)
    maps = np.stack([_radial_map(80, 64, k) for k in (-0.21, -0.2, -0.19)], axis=2)  # (H, W, 3, 2)
    out = FramePipeline((80, 64), map_xy=maps).process(img)
    for c in range(3):
        one = FramePipeline((80, 64), map_xy=np.ascontiguousarray(maps[:, :, c, :])).process(img)
        assert np.array_equal(out[..., c], one[..., c])
    # the channels really differ (TCA-like maps)
    assert not np.array_equal(out[..., 0], FramePipeline((80, 64), map_xy=maps[:, :, 1, :].copy()).process(img)[..., 0])


def test_nan_map_gives_black_and_input_untouched():
    img = _frame(32, 32)
    keep = img.copy()
    m = _radial_map(32, 32, 0.0)
    m[:4] = np.nan
    out = FramePipeline((32, 32), map_xy=m).process(img)
    assert np.array_equal(img, keep)
    assert out[:4].max() == 0
    assert np.array_equal(out[5:-1, 1:-1], img[5:-1, 1:-1])  # identity elsewhere


def test_scale_map_matches_cv2_resize():
    img = _frame(90, 160)
    out = FramePipeline((160, 90), out_size=(96, 54)).process(img)
    ref = cv2.resize(img, (96, 54), interpolation=cv2.INTER_LINEAR)
    assert out.shape == (54, 96, 3)
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1
    m = scale_map((160, 90), (96, 54))
    assert m[0, 0, 0] == pytest.approx((0.5 * 160 / 96) - 0.5)


def _test_lut():
    from l2tech.color.lut import LUT3D

    lut = LUT3D.identity(17)
    t = np.asarray(lut.table, dtype=np.float64)
    # a smooth, non-trivial look: contrast curve + channel mixing
    table = np.clip(0.5 + 1.2 * (t - 0.5) + 0.08 * (t[..., [1, 2, 0]] - t), 0, 1)
    return LUT3D(table.astype(np.float32), lut.domain)


def test_baked_look_equals_direct_application():
    lut = _test_lut()
    look = lambda x: lut.apply(x, "tetrahedral")  # noqa: E731
    img = _frame(64, 64)
    baked = FramePipeline((64, 64), look=look).process(img)
    direct = FramePipeline((64, 64), look=look, bake_look=False).process(img)
    fused = FramePipeline((64, 64), look=lut).process(img)  # the LUT3D itself, inside the pass
    ref = np.clip(np.round(lut.apply(img.astype(np.float32) / 255, "tetrahedral") * 255), 0, 255)
    for out in (baked, direct, fused):
        assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1
    assert np.abs(baked.astype(int) - img.astype(int)).max() >= 8  # the look does something


def test_look_on_16_bit():
    lut = _test_lut()
    img = _frame(16, 16, np.uint16)
    out = FramePipeline((16, 16), look=lambda x: lut.apply(x, "tetrahedral")).process(img)
    ref = np.clip(np.round(lut.apply(img.astype(np.float32) / 65535, "tetrahedral") * 65535), 0, 65535)
    assert np.abs(out.astype(np.int64) - ref.astype(np.int64)).max() <= 1


def test_vignetting_gain_on_linear_values():
    img = np.full((8, 8, 3), 128, np.uint8)
    gain = np.full((8, 8), 2.0, np.float32)
    # identity transfer: the gain multiplies code values
    lin = FramePipeline((8, 8), gain=gain, transfer=(lambda v: v, lambda x: x)).process(img)
    assert np.all(lin == 255)
    half = FramePipeline((8, 8), gain=gain * 0.25, transfer=(lambda v: v, lambda x: x)).process(img)
    assert np.all(half == 64)
    # default BT.709 OETF: 128/255 -> linear (ITU-R BT.709 inverse OETF) x 0.5 -> encoded
    v = 128 / 255
    L = ((v + 0.099) / 1.099) ** (1 / 0.45)
    expected = round((1.099 * (0.5 * L) ** 0.45 - 0.099) * 255)
    out = FramePipeline((8, 8), gain=gain * 0.25).process(img)
    assert np.all(out == expected)


def test_pipeline_order_gain_before_geometry():
    img = np.full((16, 16, 3), 100, np.uint8)
    gain = np.ones((16, 16), np.float32)
    gain[:, :8] = 2.0  # left half brighter on the *source* grid
    m = _radial_map(16, 16, 0.0)
    m[..., 0] = 15 - m[..., 0]  # mirror: the output's right half reads the source's left half
    out = FramePipeline((16, 16), map_xy=m, gain=gain, transfer=(lambda v: v, lambda x: x)).process(img)
    assert out[:, 12].min() == 200 and out[:, 3].max() == 100


def test_bad_arguments():
    with pytest.raises(UsageError, match="map_xy must be float32"):
        FramePipeline((8, 8), map_xy=np.zeros((8, 8, 2)))
    with pytest.raises(UsageError, match="interpolation"):
        FramePipeline((8, 8), interpolation="sinc")
    with pytest.raises(UsageError, match="gain must have shape"):
        FramePipeline((8, 8), gain=np.ones((4, 4), np.float32))
    p = FramePipeline((8, 8))
    with pytest.raises(UsageError, match="does not match"):
        p.process(np.zeros((8, 9, 3), np.uint8))
    with pytest.raises(UsageError, match="uint8 or uint16"):
        p.process(np.zeros((8, 8, 3), np.float32))
    assert p.is_identity
