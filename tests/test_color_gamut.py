"""Gamuts and RGB-to-RGB conversion against colour-science and published matrices."""

from __future__ import annotations

import numpy as np
import pytest

from l2tech.color._colour import colour_module, quiet
from l2tech.color.gamut import GAMUTS, RGB_to_RGB, matrix_RGB_to_RGB, matrix_RGB_to_XYZ
from l2tech.errors import UsageError

REQUIRED = [
    "V-Gamut", "L-Gamut", "S-Gamut3", "S-Gamut3.Cine", "ARRI Wide Gamut 3", "ARRI Wide Gamut 4",
    "Rec.709", "Rec.2020", "P3-D65", "ACES AP0", "ACES AP1",
]


@pytest.mark.parametrize("name", REQUIRED)
def test_required_gamuts_white_maps_to_white(name):
    # Linear RGB (1, 1, 1) is the white point in every gamut: Y = 1.
    xyz = matrix_RGB_to_XYZ(name) @ np.ones(3)
    assert abs(xyz[1] - 1.0) < 1e-9
    assert np.allclose(RGB_to_RGB(np.ones(3), name, "Rec.709"), np.ones(3), atol=1e-6)


def test_l_gamut_matches_leica_manual_matrix():
    # Leica "L-Log Reference Manual" §4.1, BT.2020 -> XYZ as printed (4 decimals).
    leica = np.array([[0.6370, 0.1446, 0.1689], [0.2627, 0.6780, 0.0593], [0.0000, 0.0281, 1.0610]])
    assert np.abs(matrix_RGB_to_XYZ("L-Gamut") - leica).max() <= 5e-5
    # ... and its printed inverse.
    leica_inv = np.array([[1.7167, -0.3557, -0.2534], [-0.6667, 1.6165, 0.0158], [0.0176, -0.0428, 0.9421]])
    assert np.abs(np.linalg.inv(matrix_RGB_to_XYZ("L-Gamut")) - leica_inv).max() <= 5e-5


def test_vgamut_primaries_from_opticsmd():
    # OPTICS.md §6 / Panasonic V-Gamut: R (0.730, 0.280), G (0.165, 0.840), B (0.100, -0.030).
    with quiet():
        cs = colour_module().RGB_COLOURSPACES["V-Gamut"]
    assert np.allclose(cs.primaries, [[0.730, 0.280], [0.165, 0.840], [0.100, -0.030]])


def test_rgb_to_rgb_matches_colour_science():
    rng = np.random.default_rng(5)
    rgb = rng.random((50, 3))
    with quiet():
        c = colour_module()
        for a, b, ca, cb in [
            ("V-Gamut", "ACES AP0", "V-Gamut", "ACES2065-1"),
            ("S-Gamut3.Cine", "Rec.709", "S-Gamut3.Cine", "ITU-R BT.709"),
            ("ARRI Wide Gamut 4", "P3-D65", "ARRI Wide Gamut 4", "P3-D65"),
        ]:
            ref = c.RGB_to_RGB(rgb, ca, cb, chromatic_adaptation_transform="CAT02")
            assert np.abs(RGB_to_RGB(rgb, a, b) - ref).max() < 1e-12


def test_rec709_to_xyz_published_matrix():
    # ITU-R BT.709 / IEC 61966-2-1 RGB -> XYZ (4 decimals).
    ref = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
    assert np.abs(matrix_RGB_to_XYZ("rec709") - ref).max() < 1e-4


def test_dtype_shape_and_roundtrip():
    img = np.random.default_rng(0).random((4, 5, 3)).astype(np.float32)
    out = RGB_to_RGB(img, "Rec.709", "ACES AP1")
    assert out.dtype == np.float32 and out.shape == img.shape
    back = RGB_to_RGB(out, "ACES AP1", "Rec.709")
    assert np.abs(back - img).max() < 1e-6
    assert RGB_to_RGB(img, "Rec.709", "sRGB") is not img


def test_unknown_gamut_lists_valid():
    with pytest.raises(UsageError, match="valid names: .*V-Gamut"):
        matrix_RGB_to_RGB("Q-Gamut", "Rec.709")
    assert "l-gamut" in GAMUTS


def test_encode_output_and_decode_input():
    import doctest

    from l2tech.color import output
    from l2tech.color.output import decode_input, encode_output
    from l2tech.color.transfer import encode

    assert doctest.testmod(output).failed == 0
    img = np.random.default_rng(9).uniform(0, 4, (8, 8, 3)).astype(np.float32)
    v = encode_output(img, "V-Log/V-Gamut")
    assert np.allclose(v, encode(RGB_to_RGB(img, "Rec.709", "V-Gamut"), "V-Log"), atol=1e-7)
    assert np.abs(decode_input(v, "V-Log") - img).max() < 1e-5
    assert np.allclose(encode_output(img, "sRGB"), encode(img, "sRGB"), atol=1e-7)
