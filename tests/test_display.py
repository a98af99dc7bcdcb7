"""Display encoding (l2tech.color.display) against colour-science and LittleCMS.

colour-science is the oracle here and is imported only in these tests; l2tech.color.display
itself computes every matrix and curve without it (checked in a fresh interpreter below).
"""

from __future__ import annotations

import io
import struct
import subprocess
import sys

import numpy as np
import pytest

from l2tech.color._colour import colour_module, quiet
from l2tech.color.display import (
    BRADFORD,
    DISPLAY_SPACES,
    WORKING_SPACE,
    decode_display,
    display_encode_table,
    encode_display,
    icc_profile,
    matrix_chromatic_adaptation_Bradford,
    normalised_primary_matrix,
    working_to_display_matrix,
)
from l2tech.errors import UsageError
from l2tech.io.icc import D50_ICC
from l2tech.io.image import dequantize, quantize

SPACES = list(DISPLAY_SPACES)
#: our display space -> colour-science RGB_COLOURSPACES key (same primaries and D65 white)
COLOUR_NAMES = {
    "sRGB": "sRGB",
    "Display P3": "Display P3",
    "Rec.2020": "ITU-R BT.2020",
    "Adobe RGB": "Adobe RGB (1998)",
    "Rec.709": "ITU-R BT.709",
}

TOL_MATRIX = 1e-7  # measured max 4.4e-16 against colour-science (float64 rounding only)
TOL_CURVE = 1e-7  # measured max 0 (4.6e-8 for the BT.2020 inverse, see _colour_decode)
TOL_TABLE_INTERP = 4e-6  # linear interpolation in the 16385-sample tables (measured max 3.3e-6)


def _colourspace(name: str, derived: bool = True):
    """colour-science's colourspace for a display space; with ``derived`` its RGB<->XYZ
    matrices are recomputed from the primaries (``use_derived_transformation_matrices``), as
    ours are. colour-science stores the published 4-decimal matrices for sRGB and Adobe RGB."""
    cs = colour_module().RGB_COLOURSPACES[COLOUR_NAMES[name]].copy()
    if derived:
        cs.use_derived_transformation_matrices(True)
    return cs


def _colour_encode(name: str, x: np.ndarray) -> np.ndarray:
    colour = colour_module()
    from colour.models.rgb.transfer_functions.itur_bt_2020 import CONSTANTS_BT2020_PRECISE

    with quiet():
        if name in ("sRGB", "Display P3"):
            return colour.cctf_encoding(x, function="sRGB")
        if name == "Rec.709":
            return colour.cctf_encoding(x, function="ITU-R BT.709")
        if name == "Rec.2020":  # the continuous constants α = 1.0992968..., β = 0.0180539...
            return colour.cctf_encoding(x, function="ITU-R BT.2020", constants=CONSTANTS_BT2020_PRECISE)
        return colour.RGB_COLOURSPACES["Adobe RGB (1998)"].cctf_encoding(x)  # γ = 563/256


def _colour_decode(name: str, v: np.ndarray) -> np.ndarray:
    # colour's cctf_decoding for "ITU-R BT.709"/"ITU-R BT.2020" is the BT.1886 display EOTF;
    # our Rec.709 / Rec.2020 decode is the inverse OETF (what the video path inverts), so the
    # oracle is oetf_inverse_*. colour's oetf_inverse_BT2020 takes its cut from the 10-bit
    # constants even when given the precise ones, so 17 of 110000 points near the cut differ
    # by up to 4.6e-8 (ours uses the cut of the precise curve).
    colour = colour_module()
    from colour.models.rgb.transfer_functions.itur_bt_2020 import CONSTANTS_BT2020_PRECISE

    with quiet():
        if name in ("sRGB", "Display P3"):
            return colour.cctf_decoding(v, function="sRGB")
        if name == "Rec.709":
            return colour.models.oetf_inverse_BT709(v)
        if name == "Rec.2020":
            return colour.models.oetf_inverse_BT2020(v, constants=CONSTANTS_BT2020_PRECISE)
        return colour.RGB_COLOURSPACES["Adobe RGB (1998)"].cctf_decoding(v)


# -- matrices ------------------------------------------------------------------------------


@pytest.mark.parametrize("space", SPACES)
def test_normalised_primary_matrix_matches_colour(space):
    s = DISPLAY_SPACES[space]
    # colour.normalised_primary_matrix(primaries, whitepoint)  (SMPTE RP 177 §3.3)
    ref = colour_module().normalised_primary_matrix(np.array(s.primaries), np.array(s.whitepoint))
    ours = normalised_primary_matrix(np.array(s.primaries), np.array(s.whitepoint))
    assert np.abs(ours - ref).max() < 1e-12
    assert np.allclose(ours @ np.ones(3), [0.3127 / 0.3290, 1.0, (1 - 0.3127 - 0.3290) / 0.3290], atol=1e-15)


@pytest.mark.parametrize("working", ["Rec.2020", "sRGB", "Display P3"])
@pytest.mark.parametrize("space", SPACES)
def test_working_to_display_matrix_matches_colour(space, working):
    # All five spaces have the D65 white, so colour needs no chromatic adaptation:
    # colour.matrix_RGB_to_RGB(cs_working, cs_space, chromatic_adaptation_transform=None)
    # on colourspaces with derived matrices.
    with quiet():
        ref = colour_module().matrix_RGB_to_RGB(_colourspace(working), _colourspace(space), None)
    m = working_to_display_matrix(space, working)
    assert m.dtype == np.float64 and m.shape == (3, 3) and not m.flags.writeable
    assert np.abs(m - ref).max() < TOL_MATRIX
    assert np.abs(m @ np.ones(3) - 1).max() < 1e-14  # white stays white


def test_published_srgb_matrix_differs_from_derived_by_under_4e_4():
    # Why the matrices are derived: colour-science's default sRGB colourspace uses the
    # IEC 61966-2-1 4-decimal matrices, which do not map white exactly to white; the
    # previous output transform used them. Difference measured: 1.9e-4 (sRGB), 6e-6 (Adobe RGB).
    with quiet():
        for space, limit in (("sRGB", 4e-4), ("Adobe RGB", 1e-5)):
            pub = colour_module().matrix_RGB_to_RGB(_colourspace("Rec.2020"), _colourspace(space, derived=False), None)
            d = np.abs(working_to_display_matrix(space) - pub).max()
            assert 1e-7 < d < limit, (space, d)


def test_bradford_to_d50_matches_colour():
    colour = colour_module()
    d65 = colour.xy_to_XYZ(np.array([0.3127, 0.3290]))
    # colour.adaptation.matrix_chromatic_adaptation_VonKries(XYZ_w, XYZ_wr, transform="Bradford")
    ref = colour.adaptation.matrix_chromatic_adaptation_VonKries(d65, D50_ICC, transform="Bradford")
    assert np.abs(matrix_chromatic_adaptation_Bradford(d65, D50_ICC) - ref).max() < 1e-14
    assert np.array_equal(BRADFORD, colour.adaptation.CAT_BRADFORD)


def test_gamut_module_uses_display_matrices():
    from l2tech.color.gamut import matrix_RGB_to_RGB

    with quiet():
        ref = colour_module().matrix_RGB_to_RGB(_colourspace("Rec.709"), _colourspace("Display P3"), "CAT02")
    assert np.abs(matrix_RGB_to_RGB("Rec.709", "P3-D65") - ref).max() < 1e-12
    assert np.array_equal(matrix_RGB_to_RGB("Rec.2020", "ITU-R BT.2020"), np.eye(3))


# -- curves --------------------------------------------------------------------------------

X = np.concatenate([np.linspace(0.0, 1.0, 100001), np.geomspace(1e-9, 1.0, 10001)])


@pytest.mark.parametrize("space", SPACES)
def test_curves_match_colour(space):
    s = DISPLAY_SPACES[space]
    assert np.abs(s.encode(X) - _colour_encode(space, X)).max() < TOL_CURVE
    assert np.abs(s.decode(X) - _colour_decode(space, X)).max() < TOL_CURVE
    assert np.abs(s.decode(s.encode(X)) - X).max() < 1e-12  # round trip


def test_published_curve_values():
    # IEC 61966-2-1: 18 % -> 0.4613561 (colour-science's doctest for eotf_inverse_sRGB);
    # ITU-R BT.709: 0.18 -> 0.4090077 (oetf_BT709 doctest); Adobe RGB: 0.18**(256/563).
    assert abs(float(DISPLAY_SPACES["sRGB"].encode(0.18)) - 0.4613561) < 1e-7
    assert abs(float(DISPLAY_SPACES["Rec.709"].encode(0.18)) - 0.4090077) < 1e-7
    assert abs(float(DISPLAY_SPACES["Adobe RGB"].encode(0.18)) - 0.18 ** (256 / 563)) < 1e-15
    assert DISPLAY_SPACES["Adobe RGB"].gamma == 563 / 256


@pytest.mark.parametrize("space", SPACES)
def test_display_encode_table(space):
    n = 1024
    t = display_encode_table(space, n)
    assert t.dtype == np.float32 and t.shape == (n + 1,) and not t.flags.writeable
    ref = _colour_encode(space, np.linspace(0.0, 1.0, n + 1))
    assert np.abs(t - ref).max() < 1e-7  # float32 rounding of the exact curve
    with pytest.raises(UsageError):
        display_encode_table(space, 0)


# -- encode / decode -----------------------------------------------------------------------


@pytest.mark.parametrize("space", SPACES)
def test_encode_display_matches_colour(space):
    rng = np.random.default_rng(3)
    lin = rng.uniform(-0.05, 1.1, (2, 50, 40, 3)).astype(np.float32)  # a batch (N, H, W, 3)
    with quiet():
        rgb = colour_module().RGB_to_RGB(lin.astype(np.float64), _colourspace(WORKING_SPACE), _colourspace(space), None)
    ref = _colour_encode(space, np.clip(rgb, 0, 1))
    out = encode_display(lin, space)
    assert out.dtype == np.float32 and out.shape == lin.shape
    err = np.abs(out - ref)
    assert err.max() < TOL_TABLE_INTERP, (space, err.max())  # measured max 3.0e-6 (Display P3)
    assert np.array_equal(encode_display(lin.astype(np.float64), space), out)


def test_encode_display_near_black_clip_and_nan():
    """The tables stay within 4e-6 of the exact curves, including the steep start of the pure
    power curve (Adobe RGB, computed exactly below 64/16384), and clip negatives, >1 and NaN."""
    x = np.geomspace(1e-8, 1.0, 3000, dtype=np.float32).reshape(-1, 1, 3)
    for space in SPACES:
        m = working_to_display_matrix(space).astype(np.float32).astype(np.float64)
        ref = DISPLAY_SPACES[space].encode(np.clip(x.reshape(-1, 3).astype(np.float64) @ m.T, 0, 1))
        assert np.abs(encode_display(x, space).reshape(-1, 3) - ref).max() < TOL_TABLE_INTERP, space
    v = encode_display(np.array([[[np.nan, np.nan, np.nan], [5.0, 5.0, 5.0], [-1, -1, -1]]], np.float32), "srgb")
    assert v[0, 0].tolist() == [0.0, 0.0, 0.0] and np.allclose(v[0, 1], 1.0) and v[0, 2].tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("space", SPACES)
def test_decode_display_inverts_encode(space):
    rng = np.random.default_rng(5)
    # in-gamut colours of ``space``, taken to the working space
    disp = rng.uniform(0.02, 0.98, (500, 3))
    work = (disp @ np.linalg.inv(working_to_display_matrix(space)).T).astype(np.float32)
    back = decode_display(encode_display(work, space), space)
    assert back.dtype == np.float32
    assert np.abs(back - work).max() < 1e-6  # measured max 1.8e-7


def test_names_and_errors():
    assert working_to_display_matrix("display-p3") is working_to_display_matrix("Display P3")
    assert icc_profile("adobe-rgb") == icc_profile("Adobe RGB (1998)")
    assert np.array_equal(working_to_display_matrix("rec2020", "ITU-R BT.2020"), np.eye(3))
    with pytest.raises(UsageError, match="valid names: .*Display P3"):
        encode_display(np.zeros((1, 3), np.float32), "ProPhoto")
    with pytest.raises(UsageError, match=r"\(\.\.\., 3\)"):
        encode_display(np.zeros((4, 4), np.float32), "sRGB")


def test_encode_output_agrees_with_encode_display():
    # color.output.encode_output (unclipped, any ENCODING/GAMUT) and encode_display share
    # the curve and the matrix; in gamut they differ only by the table interpolation.
    from l2tech.color.output import encode_output

    lin = np.random.default_rng(8).uniform(0.05, 0.5, (64, 3)).astype(np.float32)
    a = encode_output(lin, "sRGB", working_space="Rec.2020")
    inside = np.all((lin @ working_to_display_matrix("sRGB").T > 0) & (lin @ working_to_display_matrix("sRGB").T < 1), axis=-1)
    assert inside.sum() > 30
    assert np.abs(a - encode_display(lin, "sRGB"))[inside].max() < TOL_TABLE_INTERP


def test_video_bt709_transfer_bit_identical_to_colour():
    # The video path's default curve was colour.models.oetf_BT709 / oetf_inverse_BT709; it now
    # comes from DISPLAY_SPACES["Rec.709"] and must give the same float64 values bit for bit
    # on every 8- and 16-bit code (so the quantised frames are identical).
    from l2tech.video.pipeline import _bt709_transfer

    m = colour_module().models
    dec, enc = _bt709_transfer()
    for vmax in (255, 65535):
        v = (np.arange(vmax + 1) / np.float32(vmax)).astype(np.float32)
        with quiet():
            assert np.array_equal(dec(v), m.oetf_inverse_BT709(v))
            lin = np.asarray(m.oetf_inverse_BT709(v), np.float32) * np.float32(1.37)
            assert np.array_equal(enc(lin), m.oetf_BT709(lin))


# -- ICC profiles --------------------------------------------------------------------------


def _tags(profile: bytes) -> dict[bytes, bytes]:
    n = struct.unpack(">I", profile[128:132])[0]
    out = {}
    for i in range(n):
        sig, off, size = struct.unpack(">4sII", profile[132 + 12 * i : 144 + 12 * i])
        out[sig] = profile[off : off + size]
    return out


@pytest.mark.parametrize("space", SPACES)
def test_icc_profile_contents_match_colour(space):
    """Every number in the profile, recomputed with colour-science, is the one written.

    Against the profiles written before display.py (io/icc.py, which took colour-science's
    stored matrices and evaluated the curves in float32), the bytes are identical apart from:
    sRGB colorants (up to 3/65536 per component) and Adobe RGB colorants (1/65536), because
    colour-science stores the published 4-decimal matrices for those two spaces while we
    derive them from the primaries; and 1-4 of the 1024 curve entries of sRGB, Display P3 and
    Rec.2020 (1/65535 each), where the float32 evaluation had rounded the other way.
    """
    colour = colour_module()
    p = icc_profile(space)
    assert struct.unpack(">I", p[:4])[0] == len(p) and p[36:40] == b"acsp" and p[12:20] == b"mntrRGB "
    tags = _tags(p)
    cs = _colourspace(space)
    cat = colour.adaptation.matrix_chromatic_adaptation_VonKries(colour.xy_to_XYZ(cs.whitepoint), D50_ICC, transform="Bradford")
    colorants = cat @ cs.matrix_RGB_to_XYZ
    for c, sig in enumerate((b"rXYZ", b"gXYZ", b"bXYZ")):
        written = np.array(struct.unpack(">3i", tags[sig][8:20]))
        assert np.array_equal(written, np.round(colorants[:, c] * 65536).astype(int)), sig
    assert np.array_equal(struct.unpack(">3i", tags[b"wtpt"][8:20]), np.round(D50_ICC * 65536).astype(int))
    trc = tags[b"rTRC"]
    assert tags[b"gTRC"] == trc == tags[b"bTRC"]
    count = struct.unpack(">I", trc[8:12])[0]
    if space == "Adobe RGB":
        assert count == 1 and struct.unpack(">H", trc[12:14])[0] == 563  # u8Fixed8 563/256
    else:
        table = np.frombuffer(trc[12 : 12 + 2 * count], ">u2").astype(int)
        ref = np.round(np.clip(_colour_decode(space, np.linspace(0, 1, count)), 0, 1) * 65535).astype(int)
        assert count == 1024 and np.array_equal(table, ref)
    assert icc_profile(space) is p  # built once


@pytest.mark.parametrize("space", SPACES)
def test_icc_profile_littlecms_agrees_with_colour(space):
    """LittleCMS, reading our profile, converts to its own built-in sRGB as colour-science does
    (max 1.5/255 on 8-bit codes; measured ≤ 1.0)."""
    from PIL import Image, ImageCms

    colour = colour_module()
    rng = np.random.default_rng(1)
    enc = rng.uniform(0.05, 0.95, (16, 16, 3)).astype(np.float32)
    src = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile(space)))
    dst = ImageCms.createProfile("sRGB")  # LittleCMS's own sRGB, independent of ours
    im = Image.fromarray(quantize(enc, 8), "RGB")
    out = np.asarray(ImageCms.profileToProfile(im, src, dst, renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC, outputMode="RGB"))
    with quiet():
        lin = _colour_decode(space, dequantize(quantize(enc, 8)).astype(np.float64))
        ref = colour.RGB_to_RGB(lin, _colourspace(space), _colourspace("sRGB"), None)
    inside = np.all((ref > 0.002) & (ref < 0.998), axis=-1)  # LittleCMS clips out-of-gamut colours
    assert inside.sum() > 50
    ref = colour.cctf_encoding(ref, function="sRGB")
    diff = np.abs(out.astype(np.float64) - ref * 255)[inside]
    assert diff.max() <= 1.5, diff.max()


def test_icc_profile_littlecms_round_trip():
    """A few colours, Display P3 -> Rec.2020 -> Display P3 through our profiles in LittleCMS:
    each step gives what decode_display + encode_display give (within 1 code), and the round
    trip returns the input in linear light (8-bit codes near black move by up to 4: the
    intermediate is quantised to 8 bits in the wider space, where the sRGB curve is steep)."""
    from PIL import Image, ImageCms

    codes = np.array([[[10, 20, 30], [128, 128, 128], [250, 5, 5], [5, 250, 5], [5, 5, 250], [200, 180, 40],
                       [60, 90, 120], [255, 255, 255], [0, 0, 0], [3, 2, 1]]], np.uint8)
    p3 = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile("Display P3")))
    r2020 = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile("Rec.2020")))
    intent = ImageCms.Intent.RELATIVE_COLORIMETRIC
    wide = ImageCms.profileToProfile(Image.fromarray(codes, "RGB"), p3, r2020, renderingIntent=intent, outputMode="RGB")
    ours = quantize(encode_display(decode_display(dequantize(codes), "Display P3"), "Rec.2020"), 8)
    assert np.abs(np.asarray(wide).astype(int) - ours).max() <= 1
    back = np.asarray(ImageCms.profileToProfile(wide, r2020, p3, renderingIntent=intent, outputMode="RGB"))
    ours_back = quantize(encode_display(decode_display(dequantize(np.asarray(wide)), "Rec.2020"), "Display P3"), 8)
    assert np.abs(back.astype(int) - ours_back).max() <= 1
    # the round trip in linear light: within the 8-bit Rec.2020 step near black (1/255/4.5)
    # carried through the matrix (measured 1.1e-3)
    p3_lin = DISPLAY_SPACES["Display P3"].decode
    assert np.abs(p3_lin(dequantize(back)) - p3_lin(dequantize(codes))).max() < 2e-3


# -- imports -------------------------------------------------------------------------------


def test_display_path_does_not_import_colour_matplotlib_or_scipy():
    code = r"""
import sys
import numpy as np
import l2tech.color.display as d
from l2tech.color.output import encode_output
from l2tech.video.pipeline import _bt709_transfer
img = np.random.default_rng(0).uniform(0, 1, (64, 64, 3)).astype(np.float32)
for s in d.DISPLAY_SPACES:
    d.working_to_display_matrix(s); d.display_encode_table(s, 4096); d.icc_profile(s)
    d.decode_display(img, s)
encode_output(img, "sRGB", working_space="Rec.2020")
dec, enc = _bt709_transfer(); enc(dec(img))
bad = sorted({"colour", "matplotlib", "scipy"} & set(sys.modules))
assert not bad, bad
d.encode_display(img, "sRGB")
bad = sorted({"colour", "matplotlib"} & set(sys.modules))
assert not bad, bad
# numba's own import checks the SciPy version (numba/__init__.py, _ensure_critical_deps), so
# SciPy arrives with the numba kernel of encode_display, and only with it
assert "scipy" not in sys.modules or "numba" in sys.modules
print("ok")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
