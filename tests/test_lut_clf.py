"""CLF files in ../shared/data/luts/clf evaluated against colour-science curves and LUTs."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import shared_file
from l2tech.color._colour import colour_module, quiet
from l2tech.color.clf import read_clf
from l2tech.color.gamut import RGB_to_RGB
from l2tech.color.transfer import decode, encode
from l2tech.errors import EmptyFileError, LUTError

# |a - b| <= TOL * max(1, |b|): 1e-5 absolute up to 1, relative above (linear values reach ~470).
TOL = 1e-5

RAMP = np.linspace(0.0, 1.0, 4097)
RAMP3 = np.stack([RAMP] * 3, axis=-1)


def _close(a: np.ndarray, b: np.ndarray, tol: float = TOL) -> float:
    err = np.abs(a - b) / np.maximum(1.0, np.abs(b))
    assert np.all(np.isfinite(a)), "non-finite output"
    return float(err.max())


CURVES = {
    "ocio-aces__Panasonic.Input.VLog-Curve.clf": "V-Log",
    "ocio-aces__Sony.Input.SLog3-Curve.clf": "S-Log3",
    "ocio-aces__ARRI.Input.ARRI_LogC3_Curve_EI800.clf": "LogC3",
    "ocio-aces__ARRI.Input.ARRI_LogC4_Curve.clf": "LogC4",
    "ocio-aces__RED.Input.Log3G10-Curve.clf": "Log3G10",
    "ocio-aces__Canon.Input.CLog3-Curve.clf": "Canon Log 3",
    "ocio-aces__Apple.Input.Apple_Log-Curve.clf": "Apple Log",
}


@pytest.mark.parametrize("fname,encoding", sorted(CURVES.items()))
def test_curve_clf_matches_colour_decoding(fname, encoding):
    pl = read_clf(shared_file(f"luts/clf/{fname}"))
    got = pl.apply(RAMP3)
    ref = decode(RAMP, encoding)
    for c in range(3):
        assert _close(got[:, c], ref) <= TOL, (fname, _close(got[:, c], ref))


@pytest.mark.parametrize(
    "fname,encoding,gamut,cat",
    [
        # Panasonic's ACES IDT matrix is built with Bradford, Sony's with CAT02 (the CLF
        # matrices agree with colour-science only with those; other CATs differ by >1e-3).
        ("ocio-aces__Panasonic.Input.Linear_VGamut_to_ACES2065-1.clf", "Linear", "V-Gamut", "Bradford"),
        ("ocio-aces__Panasonic.Input.VLog_VGamut_to_ACES2065-1.clf", "V-Log", "V-Gamut", "Bradford"),
        ("ocio-aces__Sony.Input.SLog3_SGamut3_to_ACES2065-1.clf", "S-Log3", "S-Gamut3", "CAT02"),
        ("ocio-aces__Sony.Input.SLog3_SGamut3Cine_to_ACES2065-1.clf", "S-Log3", "S-Gamut3.Cine", "CAT02"),
    ],
)
def test_idt_clf_matches_colour(fname, encoding, gamut, cat):
    rgb = np.random.default_rng(11).random((2000, 3))
    got = read_clf(shared_file(f"luts/clf/{fname}")).apply(rgb)
    lin = decode(rgb, encoding)
    ref = RGB_to_RGB(lin, gamut, "ACES AP0", cat)
    # Relative to the pixel's largest linear value: the CLF matrix and colour-science's derived
    # matrix differ by ~1e-6 per element, which a bright channel (V-Log 1.0 -> 46) carries into
    # the others.
    err = np.abs(got - ref) / np.maximum(1.0, np.abs(lin).max(axis=-1, keepdims=True))
    assert err.max() <= TOL


@pytest.mark.parametrize(
    "fname,encoding,cut",
    [
        ("ocio-aces__ITU.Utility.AP0_to_Camera_Rec709.clf", "Rec.709", 0.018),
        ("ocio-aces__OCIO.Utility.AP0_to_sRGB-Encoded-Rec709.clf", "sRGB", 0.0031308),
    ],
)
def test_output_clf_matches_colour(fname, encoding, cut):
    pl = read_clf(shared_file(f"luts/clf/{fname}"))
    # Matrix: AP0 -> Rec.709 with Bradford, checked on greys (matrix rows sum to 1) and colours.
    grey = pl.apply(RAMP3)[:, 0]
    ref = encode(RAMP, encoding)
    # CLF's monCurve has a tangent-continuous toe, BT.709 / sRGB a fixed one (4.5 below 0.018,
    # 12.92 below 0.0031308): above the toes they agree to 1e-5; in the toe by design they
    # differ (measured max 2.5e-4 for BT.709, 9.8e-6 for sRGB).
    above = RAMP > cut * 1.01
    assert _close(grey[above], ref[above]) <= TOL
    assert np.abs(grey - ref).max() <= (2.5e-4 if encoding == "Rec.709" else 1e-5)
    rgb = np.random.default_rng(3).uniform(0.05, 1.0, (500, 3)) * 0.5 + 0.2
    lin = RGB_to_RGB(rgb, "ACES AP0", "Rec.709", "Bradford")
    ok = np.all(lin > cut * 1.01, axis=-1)
    assert ok.sum() > 100
    assert _close(pl.apply(rgb)[ok], encode(lin[ok], encoding)) <= TOL


def test_lut3d_10i_12i_matches_colour_lut3d():
    path = shared_file("luts/clf/ocio-tests__lut3d_17x17x17_10i_12i.clf")
    pl = read_clf(path)
    # Independent parse of the table for colour-science's LUT3D (CLF: blue fastest).
    text = path.read_text()
    body = text.split('dim="17 17 17 3">')[1].split("</Array>")[0]
    table = np.array(body.split(), dtype=np.float64).reshape(17, 17, 17, 3) / 4095.0
    rgb = np.random.default_rng(2).random((5000, 3))
    with quiet():
        c = colour_module()
        ref = c.LUT3D(table).apply(rgb, interpolator=c.algebra.table_interpolation_trilinear)
    assert np.abs(pl.apply(rgb) - ref).max() <= TOL


def test_broadcast_profile_matches_colour_chain():
    path = shared_file("luts/clf/ocio-tests__broadcast_profile_lut33.clf")
    pl = read_clf(path)
    assert [n.kind for n in pl.nodes] == ["Range", "LUT3D", "Range"]
    text = path.read_text()
    body = text.split('dim="33 33 33 3">')[1].split("</Array>")[0]
    table = np.array(body.split(), dtype=np.float64).reshape(33, 33, 33, 3)
    lo, hi = 0.06256109481915934, 0.91886608015640270
    rgb = np.random.default_rng(4).random((5000, 3))
    with quiet():
        c = colour_module()
        mid = c.LUT3D(table).apply(lo + rgb * (hi - lo), interpolator=c.algebra.table_interpolation_tetrahedral)
    ref = (mid - lo) / (hi - lo)
    assert np.abs(pl.apply(rgb) - ref).max() <= TOL


def test_multiple_ops_step_by_step():
    """Every node type of the OCIO test file, checked against formulas written out here."""
    pl = read_clf(shared_file("luts/clf/ocio-tests__multiple_ops.clf"))
    kinds = [n.kind for n in pl.nodes]
    assert kinds == ["ASC_CDL", "LUT1D", "Range", "Range", "Range", "Log", "Matrix", "Exponent", "LUT3D"]
    x = np.array([[0.1, 0.5, 0.9], [0.0, 0.25, 1.0], [0.7, 0.3, 0.05]])
    # ASC_CDL "Rev" (ASC CDL v1.2 inverse): clamp, inverse saturation, inverse power, inverse SOP, clamp.
    slope, offset, power, sat = np.array([1.1, 1.0, 0.8]), np.array([-0.01, 0.0, 0.05]), np.array([1.05, 1.15, 0.8]), 0.85
    y = np.clip(x, 0, 1)
    luma = y @ [0.2126, 0.7152, 0.0722]
    y = np.clip(luma[:, None] + (y - luma[:, None]) / sat, 0, 1)
    y = np.clip((y ** (1 / power) - offset) / slope, 0, 1)
    assert np.abs(pl.nodes[0].apply(x) - y).max() < 1e-12
    # Range 12i -> 10i noClamp: (x*4095 - 256) * (1180 / 3504) + 20, then / 1023
    z = np.array([[0.3, 0.6, 0.95]])
    want = ((z * 4095 - 256) * (1180 / 3504) + 20) / 1023
    assert np.abs(pl.nodes[2].apply(z) - want).max() < 1e-12
    # Range Clamp: clamps to [-20, 1000] / 1023
    assert np.allclose(pl.nodes[3].apply(np.array([[2.0, -1.0, 0.5]])), np.clip((np.array([2.0, -1.0, 0.5]) * 1023 + 42) * (1020 / 1142) - 20, -20, 1000) / 1023)
    # Log linToLog: 0.7 log10(0.2 x + 0.01) + 1.5
    w = np.array([[0.2, 0.5, 0.9]])
    assert np.allclose(pl.nodes[5].apply(w), 0.7 * np.log10(0.2 * w + 0.01) + 1.5, atol=1e-12)
    # Matrix 3x4 with offsets
    m = np.array([[1.2, 0.0, -0.2, -0.17], [0.0, 1.03, 0.01, -0.11], [-0.04, -0.007, 1.11, 0.0]])
    assert np.allclose(pl.nodes[6].apply(w), w @ m[:, :3].T + m[:, 3], atol=1e-12)
    # Exponent basicMirrorFwd 3 with 8i output
    v = np.array([[-0.5, 0.5, 0.9]])
    assert np.allclose(pl.nodes[7].apply(v), np.sign(v) * np.abs(v) ** 3, atol=1e-12)
    # LUT3D 2x2x2 tetrahedral 8i input: corner (1,1,1) -> (1.2, 1, 1)
    assert np.allclose(pl.nodes[8].apply(np.array([[1.0, 1.0, 1.0]])), [[1.2, 1.0, 1.0]])
    out = pl.apply(x)
    assert out.shape == x.shape and np.isfinite(out).all()


def test_every_clf_in_shared_folder_loads_and_evaluates():
    folder = shared_file("luts/clf")
    files = sorted(folder.glob("*.clf"))
    assert len(files) == 16
    for f in files:
        out = read_clf(f).apply(RAMP3[::64])
        assert out.shape == RAMP3[::64].shape and np.isfinite(out).all(), f.name


def test_bad_clf_inputs(tmp_path):
    empty = tmp_path / "e.clf"
    empty.write_bytes(b"")
    with pytest.raises(EmptyFileError):
        read_clf(empty)
    bomb = tmp_path / "bomb.clf"
    bomb.write_text('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
                    "<ProcessList>&lol2;</ProcessList>")
    with pytest.raises(LUTError, match="bomb.clf: refused unsafe XML"):
        read_clf(bomb)
    big = tmp_path / "big.clf"
    big.write_text('<ProcessList><LUT3D><Array dim="1000 1000 1000 3">0 0 0</Array></LUT3D></ProcessList>')
    with pytest.raises(LUTError, match="big.clf.*N 2-256"):
        read_clf(big)
    nan = tmp_path / "nan.clf"
    nan.write_text('<ProcessList><Matrix><Array dim="3 3">1 0 0 0 nan 0 0 0 1</Array></Matrix></ProcessList>')
    with pytest.raises(LUTError, match="NaN"):
        read_clf(nan)
    unk = tmp_path / "unk.clf"
    unk.write_text("<ProcessList><Foo/></ProcessList>")
    with pytest.raises(LUTError, match="unsupported CLF node <Foo>"):
        read_clf(unk)


def test_reference_table_clf_column():
    """The TSV's ``encoded_norm_from_clf`` column (OCIO ACES CLF LogParams, inverted) decodes
    back to its scene-linear input through our CLF evaluator."""
    import csv

    files = {
        "V-Log": "ocio-aces__Panasonic.Input.VLog-Curve.clf",
        "S-Log3": "ocio-aces__Sony.Input.SLog3-Curve.clf",
        "ARRI LogC3": "ocio-aces__ARRI.Input.ARRI_LogC3_Curve_EI800.clf",
        "ARRI LogC4": "ocio-aces__ARRI.Input.ARRI_LogC4_Curve.clf",
        "Log3G10": "ocio-aces__RED.Input.Log3G10-Curve.clf",
    }
    with open(shared_file("luts/log_curve_reference_values.tsv"), newline="") as fh:
        rows = list(csv.DictReader([ln for ln in fh if not ln.startswith('"#')], delimiter="\t"))
    checked = 0
    for row in rows:
        if not row["encoded_norm_from_clf"]:
            continue
        pl = read_clf(shared_file(f"luts/clf/{files[row['curve']]}"))
        y = float(row["encoded_norm_from_clf"])
        got = pl.apply(np.array([[y, y, y]]))[0, 0]
        # measured max |error| 3.7e-9 (the column is printed to 9 decimals)
        assert abs(got - float(row["scene_linear_in"])) <= 1e-6
        checked += 1
    assert checked == 25
