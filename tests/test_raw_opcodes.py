"""DNG opcode lists applied by decode_raw at the stages the DNG specification names.

Synthetic CFA DNGs are written here with tifffile: the Canon Kiss X4's colour tags (the tag set
of ../shared/tools/make_bench_dng.py) over a small mosaic with margins outside an ActiveArea,
so the opcodes' coordinate frames are tested too. Each test develops the same mosaic with and
without the opcode and checks the pixels against the closed form of the opcode.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from conftest import shared_file
from l2tech.errors import CorruptInputError, UnsupportedFormatError
from l2tech.optics.dng import GainMapParams, dng_center_and_radius
from l2tech.profiles.dng_opcodes import DngOpcode, encode_opcode_list
from l2tech.raw.decode import decode_raw
from l2tech.raw.opcodes import LIBRAW_REC2020_FROM_SRGB, UnsupportedOpcodeError, read_dng_raw_layout

V13 = 0x01030000
# Active area H x W inside a stored raster with margins (top, left, bottom, right); even offsets
# keep the Bayer phase (the CFAPattern is relative to the ActiveArea's top-left).
H, W = 96, 128
MT, ML, MB, MR = 2, 4, 2, 6
BLACK, WHITE = 2056, 15000
# linear CFA values (0..1 above black) per colour index 0 R, 1 G, 2 B; low enough that no
# channel clips after white balance and the camera matrix
FLAT = {0: 0.06, 1: 0.12, 2: 0.09}
KISS_X4 = "raw/decodable/canon_kiss_x4__colorchecker.dng"
# make_bench_dng.py's COPIED_TAGS, less DNGVersion (written as 1.4: opcode lists are DNG 1.3+)
COPIED_TAGS = (271, 272, 33421, 33422, 50708, 50714, 50721, 50728)

# 16-bit output quantisation relative to values >= 0.05, and the demosaic of smooth fields
TOL_RATIO_FLAT = 2e-3
TOL_FLOAT = 2e-6


def _colour_tags():
    with tifffile.TiffFile(shared_file(KISS_X4)) as tif:
        tags = {t.code: t for t in tif.pages[0].tags.values()}
        return [(c, int(tags[c].dtype), tags[c].count, tuple(tags[c].value) if isinstance(tags[c].value, bytes) else tags[c].value, True)
                for c in COPIED_TAGS]


def _mosaic(ramp: bool = False) -> np.ndarray:
    """Stored CFA raster: FLAT per colour (RGGB) inside the active area, times 0.5 + x / W if ramp."""
    lin = np.empty((H, W))
    pat = ((0, 1), (1, 2))
    for i in range(2):
        for j in range(2):
            lin[i::2, j::2] = FLAT[pat[i][j]]
    if ramp:
        lin *= 0.5 + np.arange(W)[None, :] / W
    raster = np.full((MT + H + MB, ML + W + MR), 300, np.uint16)  # margins: below black
    raster[MT : MT + H, ML : ML + W] = np.rint(BLACK + lin * (WHITE - BLACK)).astype(np.uint16)
    return raster


def _write(path, lists: dict[int, tuple] | None = None, ramp: bool = False):
    extra = _colour_tags() + [(50706, 1, 4, (1, 4, 0, 0), True), (50717, 4, 1, WHITE, True),
                              (50829, 4, 4, (MT, ML, MT + H, ML + W), True)]
    for n, ops in (lists or {}).items():
        b = encode_opcode_list(ops)
        extra.append(({1: 51008, 2: 51009, 3: 51022}[n], 7, len(b), b, True))
    tifffile.imwrite(path, _mosaic(ramp), photometric=32803, metadata=None, extratags=extra)
    return path


def _camera_matrix(path) -> np.ndarray:
    import rawpy

    with rawpy.imread(str(path)) as raw:
        return LIBRAW_REC2020_FROM_SRGB @ np.asarray(raw.color_matrix, np.float64)[:, :3]


def _develop(path, **kw):
    return decode_raw(path, **kw)


INNER = (slice(3, H - 3), slice(3, W - 3))


def test_layout_and_libraw_frame(tmp_path):
    """The synthetic DNG decodes to the active area, as the DNG's stage-2/3 frame."""
    p = _write(tmp_path / "plain.dng")
    lay = read_dng_raw_layout(p)
    assert lay.active_area == (MT, ML, MT + H, ML + W) and lay.stored_size == (MT + H + MB, ML + W + MR)
    assert not lay.any and lay.samples_per_pixel == 1
    r = _develop(p)
    assert r.image.shape == (H, W, 3) and r.opcodes_applied == () and r.warnings == ()
    assert 0.02 < r.image[INNER].min() and r.image.max() < 0.9  # no clipping anywhere
    assert read_dng_raw_layout(shared_file(KISS_X4)).any is False


def test_camera_matrix_is_libraw_conversion():
    """M = LibRaw's rec2020_rgb · rgb_cam reproduces LibRaw's own conversion (oracle: LibRaw's
    output in camera space vs Rec.2020, half size, unclipped pixels)."""
    import rawpy

    p = shared_file(KISS_X4)
    kw = dict(gamma=(1, 1), no_auto_bright=True, output_bps=16, use_camera_wb=True, user_flip=0, half_size=True)
    with rawpy.imread(str(p)) as raw:
        cam = raw.postprocess(output_color=rawpy.ColorSpace.raw, **kw).astype(np.float64)
        m = LIBRAW_REC2020_FROM_SRGB @ np.asarray(raw.color_matrix, np.float64)[:, :3]
    with rawpy.imread(str(p)) as raw:
        rec = raw.postprocess(output_color=rawpy.ColorSpace.Rec2020, **kw).astype(np.float64)
    ok = (cam.max(-1) < 60000) & (rec.max(-1) < 60000) & (rec.min(-1) > 10)
    assert ok.sum() > 100_000
    # measured 1.76 code values (integer rounding inside LibRaw)
    assert np.abs(cam[ok] @ m.T - rec[ok]).max() < 2.5


def test_list2_gain_map_flat_field(tmp_path):
    """OpcodeList2 GainMap: gain 1 + 0.5 (x + 0.5) / W over the top half of the *active area*;
    a flat field becomes flat × gain there and stays as it was below."""
    gains = np.array([[[1.0], [1.5]], [[1.0], [1.5]]], np.float32)  # 2 x 2 points, spacing 1
    gm = GainMapParams(0, 0, H // 2, W, 0, 1, 1, 1, 2, 2, 1.0, 1.0, 0.0, 0.0, 1, gains)
    p0 = _write(tmp_path / "flat.dng")
    p1 = _write(tmp_path / "gain.dng", {2: (DngOpcode(9, "GainMap", V13, 0, {"gain_map": gm}),)})
    a, b = _develop(p0), _develop(p1)
    assert b.opcodes_applied == ("OpcodeList2:GainMap",) and b.warnings == ()
    ratio = b.image / a.image
    x = np.arange(W)
    expect = 1 + 0.5 * (x + 0.5) / W
    top = ratio[3 : H // 2 - 3, 3 : W - 3]
    assert np.abs(top - expect[None, 3 : W - 3, None]).max() < TOL_RATIO_FLAT
    assert np.abs(ratio[H // 2 + 3 : H - 3, 3 : W - 3] - 1).max() < TOL_RATIO_FLAT
    # the frame is the active area: over the stored raster the gain would be off by ~0.016
    stored_x = (x + ML + 0.5) / (ML + W + MR)
    assert np.abs(top - (1 + 0.5 * stored_x)[None, 3 : W - 3, None]).max() > 5 * TOL_RATIO_FLAT


def test_list2_map_polynomial_per_cfa_site(tmp_path):
    """OpcodeList2 MapPolynomial v' = 0.5 v + 0.5 v² on linearised CFA values: each camera
    channel of the flat field is scaled by (round(v'(w-b)) / round(v(w-b))) for its value v."""
    coefs = (0.0, 0.5, 0.5)
    op = DngOpcode(8, "MapPolynomial", V13, 0, {"top": 0, "left": 0, "bottom": H, "right": W, "plane": 0, "planes": 1,
                                                "row_pitch": 1, "col_pitch": 1, "degree": 2, "coefficients": coefs})
    p0 = _write(tmp_path / "flat.dng")
    p1 = _write(tmp_path / "poly.dng", {2: (op,)})
    a, b = _develop(p0), _develop(p1)
    assert b.opcodes_applied == ("OpcodeList2:MapPolynomial",)
    m = _camera_matrix(p0)
    cam0 = a.image[INNER].reshape(-1, 3).astype(np.float64) @ np.linalg.inv(m).T
    ratio = []
    for c in range(3):  # hand computation on the stored code values
        s = round(FLAT[c] * (WHITE - BLACK))
        v = s / (WHITE - BLACK)
        ratio.append(round((0.5 * v + 0.5 * v * v) * (WHITE - BLACK)) / s)
    pred = (cam0 * ratio) @ m.T
    got = b.image[INNER].reshape(-1, 3)
    assert np.abs(got / pred - 1).max() < TOL_RATIO_FLAT
    assert min(ratio) < 0.6  # a real change: 0.5 + 0.5 v
    assert np.abs(got / a.image[INNER].reshape(-1, 3) - 1).min() > 0.4


def test_list1_gain_map_on_stored_values(tmp_path):
    """OpcodeList1 GainMap x1.2 on the *stored* values (black included) left of stored column
    ML + W/2: linear values become (1.2 s - b) / (w - b)."""
    sh, sw = MT + H + MB, ML + W + MR
    gm = GainMapParams(0, 0, sh, ML + W // 2, 0, 1, 1, 1, 1, 1, 1.0, 1.0, 0.0, 0.0, 1, np.full((1, 1, 1), 1.2, np.float32))
    p0 = _write(tmp_path / "flat.dng")
    p1 = _write(tmp_path / "l1.dng", {1: (DngOpcode(9, "GainMap", V13, 0, {"gain_map": gm}),)})
    a, b = _develop(p0), _develop(p1)
    assert b.opcodes_applied == ("OpcodeList1:GainMap",)
    m = _camera_matrix(p0)
    minv = np.linalg.inv(m)
    ratio = []
    for c in range(3):
        s = round(BLACK + FLAT[c] * (WHITE - BLACK))
        ratio.append((round(1.2 * s) - BLACK) / (s - BLACK))
    left = (slice(3, H - 3), slice(3, W // 2 - 3))
    pred = (a.image[left].reshape(-1, 3).astype(np.float64) @ minv.T * ratio) @ m.T
    assert np.abs(b.image[left].reshape(-1, 3) / pred - 1).max() < TOL_RATIO_FLAT
    assert min(ratio) > 1.4  # black scaled too: far more than the 1.2 a list-2 gain would give
    assert np.abs(b.image[3 : H - 3, W // 2 + 3 : W - 3] / a.image[3 : H - 3, W // 2 + 3 : W - 3] - 1).max() < TOL_RATIO_FLAT


def test_list3_vignette_radial_closed_form(tmp_path):
    """OpcodeList3 FixVignetteRadial k0 = 0.4, k1 = -0.1 about (0.3, 0.6) of the active area:
    output = input × (1 + k0 r² + k1 r⁴) at every pixel (float32)."""
    op = DngOpcode(3, "FixVignetteRadial", V13, 0, {"k": (0.4, -0.1, 0.0, 0.0, 0.0), "cx": 0.3, "cy": 0.6})
    p0 = _write(tmp_path / "flat.dng")
    p1 = _write(tmp_path / "vig.dng", {3: (op,)})
    a, b = _develop(p0), _develop(p1)
    assert b.opcodes_applied == ("OpcodeList3:FixVignetteRadial",)
    cx, cy, R = 0.3 * W, 0.6 * H, np.hypot(0.7 * W, 0.6 * H)  # farthest corner: (W, 0)
    assert (cx, cy, R) == pytest.approx(dng_center_and_radius(W, H, 0.3, 0.6))
    yy, xx = np.mgrid[0:H, 0:W]
    r2 = ((xx - cx) ** 2 + (yy - cy) ** 2) / R**2
    gain = 1 + 0.4 * r2 - 0.1 * r2**2
    assert np.abs(b.image - a.image * gain[..., None]).max() < TOL_FLOAT
    # half-size decode: same relative centre and radius on the half grid
    ah, bh = _develop(p0, half_size=True), _develop(p1, half_size=True)
    hh, hw = ah.image.shape[:2]
    yy, xx = np.mgrid[0:hh, 0:hw]
    cxh, cyh, Rh = dng_center_and_radius(hw, hh, 0.3, 0.6)
    r2 = ((xx - cxh) ** 2 + (yy - cyh) ** 2) / Rh**2
    assert np.abs(bh.image - ah.image * (1 + 0.4 * r2 - 0.1 * r2**2)[..., None]).max() < TOL_FLOAT


def _fit_rows(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row and channel, a + b x least-squares fit over the inner columns."""
    x = np.arange(3, W - 3, dtype=np.float64)
    A = np.stack([np.ones_like(x), x], 1)
    y = img[:, 3 : W - 3].astype(np.float64)  # (rows, cols, ch)
    coef = np.linalg.lstsq(A, y.transpose(1, 0, 2).reshape(len(x), -1), rcond=None)[0]
    return coef[0].reshape(img.shape[0], -1), coef[1].reshape(img.shape[0], -1)


def test_list3_warp_rectilinear_one_plane_on_a_ramp(tmp_path):
    """OpcodeList3 WarpRectilinear kr0 = 0.95 about (0.45, 0.5): the horizontal ramp a + b x
    becomes a + b (Cx + 0.95 (x - Cx)), Cx = 0.45 W (bilinear resampling is exact on a ramp)."""
    op = DngOpcode(1, "WarpRectilinear", V13, 0, {"planes": ((0.95, 0, 0, 0, 0, 0),), "cx": 0.45, "cy": 0.5})
    p0 = _write(tmp_path / "ramp.dng", ramp=True)
    p1 = _write(tmp_path / "warp.dng", {3: (op,)}, ramp=True)
    a, b = _develop(p0), _develop(p1)
    assert b.opcodes_applied == ("OpcodeList3:WarpRectilinear",)
    ia, sl = _fit_rows(a.image)
    resid = a.image[:, 3 : W - 3] - (ia[:, None, :] + sl[:, None, :] * np.arange(3, W - 3)[None, :, None])
    assert np.abs(resid[3:-3]).max() < 2e-4  # the develop is a ramp (precondition)
    cx = 0.45 * W
    x = np.arange(W)
    src = cx + 0.95 * (x - cx)
    expect = ia[:, None, :] + sl[:, None, :] * src[None, :, None]
    assert np.abs(b.image[3:-3, 3:-3] - expect[3:-3, 3:-3]).max() < 3e-4
    assert np.abs(b.image[3:-3, 3:-3] - a.image[3:-3, 3:-3]).max() > 0.003  # a visible change (10x the tolerance)


def test_list3_three_plane_warp_runs_in_camera_rgb(tmp_path):
    """Three planes (camera R, G, B) kr0 = 1.02, 1, 0.98: in camera RGB (M⁻¹ of the output,
    M = LibRaw's matrix) each channel's ramp is scaled about Cx by its own kr0."""
    op = DngOpcode(1, "WarpRectilinear", V13, 0, {"planes": ((1.02, 0, 0, 0, 0, 0), (1.0, 0, 0, 0, 0, 0), (0.98, 0, 0, 0, 0, 0)),
                                                  "cx": 0.5, "cy": 0.5})
    p0 = _write(tmp_path / "ramp.dng", ramp=True)
    p1 = _write(tmp_path / "warp3.dng", {3: (op,)}, ramp=True)
    a, b = _develop(p0), _develop(p1)
    minv = np.linalg.inv(_camera_matrix(p0))
    cam_a = a.image.astype(np.float64) @ minv.T
    cam_b = b.image.astype(np.float64) @ minv.T
    ia, sl = _fit_rows(cam_a)
    x = np.arange(W)
    for c, k in enumerate((1.02, 1.0, 0.98)):
        src = W / 2 + k * (x - W / 2)
        expect = ia[:, None, c] + sl[:, None, c] * src[None, :]
        assert np.abs(cam_b[3:-3, 3:-3, c] - expect[3:-3, 3:-3]).max() < 5e-4, c
    # applied to Rec.2020 channels instead, camera-space green would not stay put
    assert np.abs(cam_b[3:-3, 3:-3, 1] - cam_a[3:-3, 3:-3, 1]).max() < 5e-4


def test_unimplemented_opcodes(tmp_path):
    """Non-optional unimplemented opcode: typed error naming file and opcode (the specification
    says refuse); optional: skipped with a warning; dng_opcodes=False ignores the lists."""
    bad = DngOpcode(4, "FixBadPixelsConstant", V13, 0, {}, b"\x00\x00\x00\x00\x00\x00\x00\x00")
    p = _write(tmp_path / "badpix.dng", {1: (bad,)})
    with pytest.raises(UnsupportedOpcodeError, match=r"badpix\.dng: OpcodeList1 FixBadPixelsConstant \(opcode 4\) is not optional") as ei:
        _develop(p)
    assert isinstance(ei.value, UnsupportedFormatError)
    assert _develop(p, dng_opcodes=False).opcodes_applied == ()
    opt = DngOpcode(4, "FixBadPixelsConstant", V13, 1, {}, bad.data)
    vig = DngOpcode(3, "FixVignetteRadial", V13, 0, {"k": (0.1, 0, 0, 0, 0), "cx": 0.5, "cy": 0.5})
    q = _write(tmp_path / "optional.dng", {1: (opt,), 3: (vig,)})
    r = _develop(q)
    assert r.opcodes_applied == ("OpcodeList3:FixVignetteRadial",)
    assert len(r.warnings) == 1 and "optional.dng: OpcodeList1 FixBadPixelsConstant (optional) skipped" in r.warnings[0]
    # only the lists asked for
    assert _develop(q, dng_opcodes=(1, 2)).opcodes_applied == ()


def test_warp_on_a_cfa_mosaic_is_refused_or_skipped(tmp_path):
    warp = {"planes": ((1.01, 0, 0, 0, 0, 0),), "cx": 0.5, "cy": 0.5}
    p = _write(tmp_path / "warp2.dng", {2: (DngOpcode(1, "WarpRectilinear", V13, 0, warp),)})
    with pytest.raises(UnsupportedOpcodeError, match=r"warp2\.dng: OpcodeList2 WarpRectilinear .*CFA mosaic"):
        _develop(p)
    q = _write(tmp_path / "warp2opt.dng", {2: (DngOpcode(1, "WarpRectilinear", V13, 1, warp),)})
    r = _develop(q)
    assert r.opcodes_applied == () and "CFA mosaic" in r.warnings[0]


def test_folding_warp_is_a_corrupt_input_error(tmp_path):
    op = DngOpcode(1, "WarpRectilinear", V13, 0, {"planes": ((1.0, -0.8, 0, 0, 0, 0),), "cx": 0.5, "cy": 0.5})
    p = _write(tmp_path / "fold.dng", {3: (op,)})
    with pytest.raises(CorruptInputError, match=r"fold\.dng: OpcodeList3 WarpRectilinear: .*folds the image at radius"):
        _develop(p)


def test_canon_6d_lossy_dng_map_polynomial_applied_once():
    """The real Canon 6D lossy linear DNG: its OL2 MapPolynomial ×3 (v' = 0.0078125 v +
    0.9921875 v³ per plane) is applied exactly once. LibRaw's lossy-DNG loader applies it while
    unpacking (decode_raw records it and does not apply it again). Hand computation: the 8-bit
    stored JPEG values (tifffile + imagecodecs) through the polynomial, white balance and LibRaw's
    camera matrix give the developed pixels."""
    import rawpy

    p = shared_file("raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng")
    r = decode_raw(p)
    assert r.opcodes_applied == ("OpcodeList2:MapPolynomial",) * 3 and r.warnings == ()
    with tifffile.TiffFile(p) as tf:
        stored = tf.pages[0].pages[0].asarray().astype(np.float64) / 255.0
    with rawpy.imread(str(p)) as raw:
        m = LIBRAW_REC2020_FROM_SRGB @ np.asarray(raw.color_matrix, np.float64)[:, :3]
        wb = np.asarray(raw.camera_whitebalance[:3], np.float64)
    wb /= wb.min()
    poly = lambda v: 0.0078125 * v + 0.9921875 * v**3  # noqa: E731
    rows, cols = np.array([100, 200, 300, 400, 500, 600, 700]), np.array([150, 350, 550, 750, 950, 1150, 600])
    once = (poly(stored[rows, cols]) * wb) @ m.T
    twice = (poly(poly(stored[rows, cols])) * wb) @ m.T
    never = (stored[rows, cols] * wb) @ m.T
    got = r.image[rows, cols].astype(np.float64)
    assert (once > 0.001).all() and (once < 0.95).all()  # unclipped sample pixels
    # 16-bit rounding of LibRaw's curve and output and JPEG decoder differences: measured 3.8e-5
    assert np.abs(got - once).max() < 1e-4
    assert np.abs(got - twice).max() > 0.01 and np.abs(got - never).max() > 0.05


def test_list2_gain_map_on_a_stacked_linear_dng(tmp_path):
    """A LinearRaw (3 samples per pixel) DNG: OpcodeList2 GainMap ×1.5 on plane 1 scales camera
    green by 1.5 and leaves red and blue (in camera RGB, M⁻¹ of the output)."""
    h, w = 64, 96
    img = np.empty((h, w, 3), np.uint16)
    for c, v in enumerate((0.1, 0.2, 0.15)):
        img[..., c] = round(v * 65535)
    img[..., 0] += (np.arange(w) * 10).astype(np.uint16)[None, :]  # not constant (truncation check)
    colour = [t for t in _colour_tags() if t[0] not in (33421, 33422)]  # no CFA tags

    def write(p, ops):
        tags = colour + [(50706, 1, 4, (1, 4, 0, 0), True), (50717, 4, 1, 65535, True)]
        if ops:
            b = encode_opcode_list(ops)
            tags.append((51009, 7, len(b), b, True))
        tifffile.imwrite(p, img, photometric=34892, planarconfig="contig", metadata=None, extratags=tags)
        return p

    gm = GainMapParams(0, 0, h, w, 1, 1, 1, 1, 1, 1, 1.0, 1.0, 0.0, 0.0, 1, np.full((1, 1, 1), 1.5, np.float32))
    p0 = write(tmp_path / "lin.dng", ())
    p1 = write(tmp_path / "lin_gain.dng", (DngOpcode(9, "GainMap", V13, 0, {"gain_map": gm}),))
    assert read_dng_raw_layout(p1).samples_per_pixel == 3
    a, b = _develop(p0), _develop(p1)
    assert b.opcodes_applied == ("OpcodeList2:GainMap",)
    minv = np.linalg.inv(_camera_matrix(p0))
    ratio = (b.image.reshape(-1, 3).astype(np.float64) @ minv.T) / (a.image.reshape(-1, 3).astype(np.float64) @ minv.T)
    # measured within 1.5e-4 (16-bit output rounding)
    assert np.abs(ratio - [1.0, 1.5, 1.0]).max() < 5e-4
