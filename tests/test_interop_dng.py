"""DNG opcode lists: real files parse to the values of an independent dump; warps, vignetting and
gain maps checked against OpenCV (the warps are OpenCV models in disguise) and closed forms."""

from __future__ import annotations

import struct

import cv2
import numpy as np
import pytest
import tifffile

from conftest import shared_file
from l2tech.errors import CorruptInputError, EmptyFileError, InvalidProfileError, UnsupportedFormatError
from l2tech.optics.dng import (
    GainMapParams,
    apply_gain_map,
    apply_map_polynomial,
    dng_center_and_radius,
    gain_map_field,
    unwarp_fisheye_points,
    unwarp_rectilinear_points,
    vignette_radial_gain,
    warp_fisheye_map,
    warp_fisheye_points,
    warp_rectilinear_map,
    warp_rectilinear_points,
)
from l2tech.profiles.dng_opcodes import (
    DngOpcode,
    encode_opcode_list,
    parse_opcode_list,
    read_dng_opcodes,
    read_dng_profile,
)

TOL_MAP_PX = 0.01
TOL_ROUND_TRIP_PX = 0.001

# ---- real files: expected values -------------------------------------------------------------
# Produced once with an independent struct dump (no l2tech code), tifffile 2026.3.3:
#
#   import tifffile, struct
#   v = tifffile.TiffFile(p).pages[0].tags[51009].value      # 51022 for the Fusion
#   off = 4
#   for k in range(struct.unpack('>I', v[:4])[0]):
#       oid, ver, fl, nb = struct.unpack('>4I', v[off:off+16]); par = v[off+16:off+16+nb]; off += 16+nb
#       print(oid, hex(ver), fl, nb, struct.unpack('>10I4dI', par[:76]))          # GainMap header
#       g = struct.unpack('>529f', par[76:]); print(sum(g), g[:3], g[264], g[-1])  # 23x23x1 gains
#       # WarpRectilinear: struct.unpack('>I', par[:4]), struct.unpack('>20d', par[4:])
#
# Files: gopro/gpr data/samples/Hero6/GOPR0024.GPR and data/samples/Fusion/GPFR7066.GPR
# (commit c8e7032, see ../shared/data/MANIFEST.tsv).
HERO6_GAINMAPS = [
    # top, left, bottom, right, plane, planes, rowPitch, colPitch, pointsV, pointsH, sum(gains), gains[-1]
    (0, 0, 3000, 4000, 0, 1, 2, 2, 23, 23, 626.110352, 2.076171875),
    (0, 1, 3000, 4000, 0, 1, 2, 2, 23, 23, 626.077148, 2.076171875),
    (1, 0, 3000, 4000, 0, 1, 2, 2, 23, 23, 626.370117, 2.0771484375),
    (1, 1, 3000, 4000, 0, 1, 2, 2, 23, 23, 626.110352, 2.076171875),
]
FUSION_WARP = dict(
    planes=((1.00037422, 0.0, 0.0, 0.0, 0.0, 0.0), (1.0, 0.0, 0.0, 0.0, 0.0, 0.0), (1.000187235, 0.0, 0.0, 0.0, 0.0, 0.0)),
    cx=0.5,
    cy=0.5,
)


def test_hero6_gpr_gainmaps():
    ops = read_dng_opcodes(shared_file("raw/codec_unsupported/gopro_hero6_black.gpr"))
    assert ops[1] == () and ops[3] == ()
    assert [o.name for o in ops[2]] == ["GainMap"] * 4
    for op, exp in zip(ops[2], HERO6_GAINMAPS):
        g: GainMapParams = op.params["gain_map"]
        assert op.version == 0x01040000 and op.flags == 1 and len(op.data) == 2192
        assert (g.top, g.left, g.bottom, g.right, g.plane, g.planes, g.row_pitch, g.col_pitch,
                g.map_points_v, g.map_points_h) == exp[:10]
        assert g.map_spacing_v == pytest.approx(1 / 22, abs=0) and g.map_spacing_h == 1 / 22
        assert (g.map_origin_v, g.map_origin_h, g.map_planes) == (0.0, 0.0, 1)
        assert g.gains.shape == (23, 23, 1)
        assert float(g.gains.astype(np.float64).sum()) == pytest.approx(exp[10], abs=1e-5)
        assert g.gains[0, 0, 0] == 1.7890625 and g.gains[11, 11, 0] == 1.0 and g.gains[-1, -1, 0] == exp[11]


def test_fusion_gpr_warp_rectilinear():
    path = shared_file("raw/codec_unsupported/gopro_fusion_front.gpr")
    ops = read_dng_opcodes(path)
    assert ops[1] == () and ops[2] == ()
    (op,) = ops[3]
    assert (op.name, op.version, op.flags, len(op.data)) == ("WarpRectilinear", 0x01030000, 3, 164)
    assert op.params == FUSION_WARP
    prof = read_dng_profile(path)
    assert (prof.maker, prof.model, prof.focal_min_mm) == ("GoPro", "FUSION", 3.0)
    assert prof.distortion[0].model == "dng_warp_rectilinear" and prof.distortion[0].terms["kr0"] == 1.0
    assert prof.tca[0].terms["r_kr0"] == 1.00037422 and prof.tca[0].terms["b_kr0"] == 1.000187235
    # per-colour map: red scaled by 1.00037422 about the centre
    m = warp_rectilinear_map(3104, 3000, FUSION_WARP["planes"])
    assert m.shape == (3000, 3104, 3, 2)
    assert m[0, 0, 0, 0] == pytest.approx(1552 + (0 - 1552) * 1.00037422, abs=1e-3)
    assert m[0, 0, 1, 0] == pytest.approx(0.0, abs=1e-4)


def test_canon_6d_map_polynomial():
    # Adobe lossy DNG: 3 x MapPolynomial in OpcodeList2 of the main (SubIFD) image; dump as above
    # with struct.unpack('>9I', par[:36]) and struct.unpack('>4d', par[36:]).
    path = shared_file("raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng")
    ops = read_dng_opcodes(path)
    assert [o.name for o in ops[2]] == ["MapPolynomial"] * 3
    for plane, op in enumerate(ops[2]):
        assert op.params == {"top": 0, "left": 0, "bottom": 816, "right": 1224, "plane": plane, "planes": 1,
                             "row_pitch": 1, "col_pitch": 1, "degree": 3,
                             "coefficients": (0.0, 0.0078125, 0.0, 0.9921875)}
    assert read_dng_profile(path) is None  # no lens-correction opcodes
    img = np.full((4, 4, 3), 0.5, np.float32)
    out = apply_map_polynomial(img, (0.0, 0.0078125, 0.0, 0.9921875), plane=1)
    assert out[0, 0, 1] == pytest.approx(0.0078125 * 0.5 + 0.9921875 * 0.125, abs=1e-7)
    assert out[0, 0, 0] == 0.5


# ---- warps vs OpenCV ---------------------------------------------------------------------------

W, H = 600, 400


@pytest.mark.parametrize("cx,cy", [(0.5, 0.5), (0.47, 0.53)])
def test_warp_rectilinear_matches_opencv(cx, cy):
    plane = (0.98, 0.05, -0.02, 0.004, 1e-3, -2e-3)
    kr0, kr1, kr2, kr3, kt0, kt1 = plane
    Cx, Cy, R = dng_center_and_radius(W, H, cx, cy)
    # source = C + R (kr0 Δ (1 + kr1/kr0 r^2 ...) + Δt): OpenCV with f = R kr0, output focal R
    K = np.array([[R * kr0, 0, Cx], [0, R * kr0, Cy], [0, 0, 1]])
    P = np.array([[R, 0, Cx], [0, R, Cy], [0, 0, 1]])
    D = np.array([kr1 / kr0, kr2 / kr0, kt0 / kr0, kt1 / kr0, kr3 / kr0])
    m1, m2 = cv2.initUndistortRectifyMap(K, D, None, P, (W, H), cv2.CV_32FC1)
    ours = warp_rectilinear_map(W, H, [plane], cx, cy)
    assert np.abs(ours[..., 0] - m1).max() <= TOL_MAP_PX
    assert np.abs(ours[..., 1] - m2).max() <= TOL_MAP_PX
    # inverse (simulating the lens): round trip
    rng = np.random.default_rng(4)
    p = rng.uniform([0, 0], [W - 1, H - 1], size=(3000, 2))
    q = unwarp_rectilinear_points(p, W, H, plane, cx, cy)
    assert np.abs(warp_rectilinear_points(q, W, H, plane, cx, cy) - p).max() <= TOL_ROUND_TRIP_PX


def test_warp_fisheye_matches_cv2_fisheye():
    plane = (1.02, -0.08, 0.01, -0.002)
    kr0 = plane[0]
    Cx, Cy, R = dng_center_and_radius(W, H, 0.5, 0.5)
    K = np.array([[R * kr0, 0, Cx], [0, R * kr0, Cy], [0, 0, 1]])
    P = np.array([[R, 0, Cx], [0, R, Cy], [0, 0, 1]])
    D = np.array(plane[1:] + (0.0,)) / kr0
    m1, m2 = cv2.fisheye.initUndistortRectifyMap(K, D, np.eye(3), P, (W, H), cv2.CV_32FC1)
    ours = warp_fisheye_map(W, H, [plane])
    assert np.abs(ours[..., 0] - m1).max() <= TOL_MAP_PX
    assert np.abs(ours[..., 1] - m2).max() <= TOL_MAP_PX
    rng = np.random.default_rng(5)
    p = rng.uniform([0, 0], [W - 1, H - 1], size=(3000, 2))
    q = unwarp_fisheye_points(p, W, H, plane)
    # NaN exactly where the source radius exceeds theta_d(45 deg): no output pixel (r <= 1) uses it
    ok = np.isfinite(q).all(-1)
    from l2tech.optics.kannala_brandt import theta_distorted

    rd_max = theta_distorted(np.pi / 4, dict(k0=plane[0], k1=plane[1], k2=plane[2], k3=plane[3])) * R
    assert np.array_equal(ok, np.hypot(*(p - [Cx, Cy]).T) <= rd_max)
    assert np.abs(warp_fisheye_points(q[ok], W, H, plane) - p[ok]).max() <= TOL_ROUND_TRIP_PX


def test_warp_fold_refused():
    # f(r) r = r (1 - 0.8 r^2) folds at r = 1/sqrt(2.4) = 0.645 of R (R = 360.6 px -> 232.7 px)
    with pytest.raises(InvalidProfileError, match=r"radius 23[0-9]\.\d px"):
        warp_rectilinear_map(W, H, [(1.0, -0.8, 0, 0, 0, 0)])


def test_vignette_radial_gain_closed_form():
    k = (0.3, -0.1, 0.05, 0.0, 0.01)
    g = vignette_radial_gain(W, H, k)
    Cx, Cy, R = dng_center_and_radius(W, H, 0.5, 0.5)
    assert (Cx, Cy, R) == (300.0, 200.0, pytest.approx(np.hypot(300, 200)))
    r2 = ((10 - Cx) ** 2 + (20 - Cy) ** 2) / R**2
    assert g[20, 10] == pytest.approx(1 + 0.3 * r2 - 0.1 * r2**2 + 0.05 * r2**3 + 0.01 * r2**5, rel=1e-6)
    assert g[200, 300] == 1.0


def test_gain_map_bilinear_is_exact_on_linear_gains():
    nv, nh = 5, 7
    v = np.arange(nv)[:, None]
    h = np.arange(nh)[None, :]
    gains = (1.0 + 0.1 * v + 0.05 * h).astype(np.float32)[..., None]
    p = GainMapParams(0, 1, 40, 60, 0, 1, 2, 2, nv, nh, 0.25, 1 / 6, 0.0, 0.0, 1, gains)
    field = gain_map_field(p, 60, 40)
    rows = np.arange(0, 40, 2)
    cols = np.arange(1, 60, 2)
    expect = 1 + 0.1 * ((rows + 0.5) / 40 / 0.25)[:, None] + 0.05 * ((cols + 0.5) / 60 * 6)[None, :]
    assert np.abs(field[..., 0] - expect).max() < 1e-6
    mosaic = np.ones((40, 60), np.float32)
    out = apply_gain_map(mosaic, p)
    assert out[0, 0] == 1.0 and out[0, 1] == pytest.approx(expect[0, 0], rel=1e-6)
    assert mosaic[0, 1] == 1.0  # input untouched


# ---- synthetic DNGs -----------------------------------------------------------------------------


def _write_dng(path, lists: dict[int, bytes], subifd: bool = False):
    tags = [(50706, "B", 4, (1, 4, 0, 0), True), (271, "s", 0, "TestMaker", True), (272, "s", 0, "TestCam", True)]
    tags += [({1: 51008, 2: 51009, 3: 51022}[n], 7, len(b), b, True) for n, b in lists.items()]
    tifffile.imwrite(path, np.zeros((8, 12), np.uint16), photometric="minisblack", extratags=tags)


def test_synthetic_dng_round_trip(tmp_path):
    ops3 = (
        DngOpcode(1, "WarpRectilinear", 0x01030000, 1, {"planes": ((1.0, -0.02, 0.001, 0.0, 1e-4, 0.0),), "cx": 0.5, "cy": 0.5}),
        DngOpcode(3, "FixVignetteRadial", 0x01030000, 1, {"k": (0.2, 0.01, 0.0, 0.0, 0.0), "cx": 0.49, "cy": 0.51}),
    )
    gm = GainMapParams(0, 0, 8, 12, 0, 1, 1, 1, 2, 2, 1.0, 1.0, 0.0, 0.0, 1, np.full((2, 2, 1), 1.5, np.float32))
    ops2 = (DngOpcode(9, "GainMap", 0x01030000, 0, {"gain_map": gm}),)
    p = tmp_path / "synthetic.dng"
    _write_dng(p, {2: encode_opcode_list(ops2), 3: encode_opcode_list(ops3)})
    back = read_dng_opcodes(p)
    assert [o.params for o in back[3]] == [o.params for o in ops3]
    assert np.array_equal(back[2][0].params["gain_map"].gains, gm.gains)
    out = apply_gain_map(np.ones((8, 12), np.float32), back[2][0].params["gain_map"])
    assert np.all(out == 1.5)
    prof = read_dng_profile(p)
    assert (prof.maker, prof.model) == ("TestMaker", "TestCam")
    assert prof.distortion[0].terms["kr1"] == -0.02 and prof.vignetting[0].terms["k0"] == 0.2
    assert prof.vignetting[0].model == "dng_fix_vignette_radial"


def test_bad_dng_inputs(tmp_path):
    empty = tmp_path / "empty.dng"
    empty.write_bytes(b"")
    with pytest.raises(EmptyFileError, match="empty.dng"):
        read_dng_opcodes(empty)
    text = tmp_path / "text.dng"
    text.write_text("not a dng")
    with pytest.raises(UnsupportedFormatError, match="text.dng"):
        read_dng_opcodes(text)
    good = encode_opcode_list([DngOpcode(3, "FixVignetteRadial", 0x01030000, 0, {"k": (0.1, 0, 0, 0, 0), "cx": 0.5, "cy": 0.5})])
    trunc = tmp_path / "trunc.dng"
    _write_dng(trunc, {3: good[:-8]})
    with pytest.raises(CorruptInputError, match=r"trunc\.dng: .*OpcodeList3 opcode 0"):
        read_dng_opcodes(trunc)
    with pytest.raises(CorruptInputError, match="claims"):
        parse_opcode_list(struct.pack(">I", 10**6))
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.zeros((4, 4), np.uint8))
    with pytest.raises(UnsupportedFormatError, match="DNGVersion"):
        read_dng_opcodes(plain)


def test_synthetic_dng_pixels_through_opcodes(tmp_path):
    """A DNG written here with a pure-scale WarpRectilinear (3 planes), FixVignetteRadial and a
    MapPolynomial: its pixels, read back and put through the parsed opcodes, match closed forms."""
    from l2tech.correct.dng_opcodes import apply_opcodes

    h, w = 60, 80
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    # a smooth linear ramp: bilinear resampling reproduces it exactly inside the frame
    img = np.stack([0.2 + 0.004 * xx, 0.3 + 0.003 * yy, 0.1 + 0.002 * (xx + yy)], -1).astype(np.float32)
    ops3 = (
        DngOpcode(1, "WarpRectilinear", 0x01030000, 1, {"planes": ((1.01, 0, 0, 0, 0, 0), (1.0, 0, 0, 0, 0, 0), (0.99, 0, 0, 0, 0, 0)), "cx": 0.5, "cy": 0.5}),
        DngOpcode(3, "FixVignetteRadial", 0x01030000, 1, {"k": (0.3, 0.0, 0.0, 0.0, 0.0), "cx": 0.5, "cy": 0.5}),
        DngOpcode(8, "MapPolynomial", 0x01030000, 0, {"top": 0, "left": 0, "bottom": h, "right": w, "plane": 1, "planes": 1,
                                                      "row_pitch": 1, "col_pitch": 1, "degree": 1, "coefficients": (0.05, 0.5)}),
    )
    p = tmp_path / "rgb.dng"
    tags = [(50706, "B", 4, (1, 4, 0, 0), True), (51022, 7, len(encode_opcode_list(ops3)), encode_opcode_list(ops3), True)]
    tifffile.imwrite(p, (img * 65535).round().astype(np.uint16), photometric="rgb", extratags=tags)
    stored = tifffile.imread(p).astype(np.float32) / 65535
    ops = read_dng_opcodes(p)[3]
    out = apply_opcodes(stored, ops)
    # closed form: red at C + 1.01 (p - C), C = (40, 30) (cx * W, cy * H); gain 1 + 0.3 r^2, r over
    # R = hypot(40, 30) = 50; green through 0.05 + 0.5 v
    r2 = ((xx - 40) ** 2 + (yy - 30) ** 2) / 50.0**2
    gain = 1 + 0.3 * r2
    red_x = 40 + 1.01 * (xx - 40)
    exp_r = (0.2 + 0.004 * red_x) * gain
    exp_g = np.clip(0.05 + 0.5 * (0.3 + 0.003 * yy) * gain, 0, 1)
    inner = (slice(2, h - 2), slice(2, w - 2))
    tol = 2.0 / 65535 * 1.3  # 16-bit storage (the ramp) times the largest gain
    assert np.abs(out[..., 0][inner] - exp_r[inner]).max() < tol
    assert np.abs(out[..., 1][inner] - exp_g[inner]).max() < tol
