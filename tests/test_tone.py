"""The tone stage (l2tech.color.tone): the filmic curve through the fused develop pass, auto-exposure,
and the log → Rec.709 bakes with roll-off.

Oracles: the sRGB encoding and the ColorChecker chromaticities of colour-science 0.4.7; the log
curves' published values in ../shared/data/luts/log_curve_reference_values.tsv; the curve's own
documented anchors (middle grey, white, black) in l2tech/color/tone.py.
"""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from l2tech.color.tone import BLACK_TARGET, FilmicCurve, ToneEncode, auto_exposure_ev, tone_curve
from l2tech.errors import UsageError

from conftest import shared_file

#: Middle grey must come out at its documented display value within 1 % (issue acceptance).
GREY_REL_TOL = 0.01


def _chart_rec2020() -> np.ndarray:
    """The 24 ColorChecker patches (colour-science 'ColorChecker24 - After November 2014', xyY
    under D50) as linear BT.2020 (D65, CAT02), shape (24, 3)."""
    import colour

    cc = colour.CCS_COLOURCHECKERS["ColorChecker24 - After November 2014"]
    XYZ = colour.xyY_to_XYZ(np.array(list(cc.data.values())))
    return colour.XYZ_to_RGB(XYZ, colour.RGB_COLOURSPACES["ITU-R BT.2020"], cc.illuminant,
                             chromatic_adaptation_transform="CAT02")


def test_filmic_curve_anchors_and_monotone():
    """Middle grey → 0.18 exactly (within 1 %), white_ev → 1, black_ev → BLACK_TARGET (the toe before its linear-light tail); strictly
    increasing from scene 0 to the white point on a 200 001-point log ramp; flat (1) only above."""
    c = FilmicCurve()
    assert abs(float(c(np.array(c.grey_scene))) / 0.18 - 1) < GREY_REL_TOL
    assert float(c(np.array(c.grey_scene * 2**c.white_ev))) == 1.0
    assert 2 ** float(c.stops(np.float64(c.black_ev))) * c.grey_display == pytest.approx(BLACK_TARGET, rel=1e-9)
    # below the toe's unit-slope point the curve is the tangent line in linear light (no lifted black)
    xs = c.grey_scene * 2.0 ** np.array([-12.0, -10.0, -8.0])
    assert np.allclose(c(xs) / xs, float(c(xs[:1])[0] / xs[0]), rtol=1e-9)
    x = np.concatenate([[0.0], np.geomspace(1e-7, c.scene_white * 0.999999, 200_001)])
    y = c(x)
    assert y[0] == 0 and np.all(np.diff(y) > 0)
    assert np.all(c(np.array([c.scene_white, 10.0, np.inf])) == 1.0)
    assert np.all(c(np.array([-1.0, np.nan])) == 0.0)
    # contrast is the slope in stops at grey (central difference over ±0.01 stop)
    d = math.log2(float(c(np.array(c.grey_scene * 2**0.01))) / float(c(np.array(c.grey_scene * 2**-0.01)))) / 0.02
    assert d == pytest.approx(c.contrast, rel=1e-6)


#: Pass vs float64 reference, in output codes: half a code of rounding, plus the 65537-bin
#: integer LUT (8-bit; measured 0.55) or the 16385-sample float table (16-bit; linear
#: interpolation of the composed curve is within 0.75 16-bit code, measured 0.93 in all).
PASS_TOL_CODES = {np.uint8: 0.56, np.uint16: 1.3}


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_chart_through_the_fused_pass(dtype):
    """A ColorChecker chart through the develop pass with the default curve (as a RAW develop
    runs it): equal to colour-science's sRGB encoding of the curve applied per channel after
    the BT.2020 → sRGB matrix (within half a code + the LUT bin); middle grey (the N5 patch's
    luminance, scaled to the curve's grey) at sRGB(0.18) ± 1 %; exposed from -8 to +4 EV over
    grey, no channel of any patch whose linear sRGB channels are all ≤ +4 EV over grey is at
    the top code; and a neutral ramp gives non-decreasing codes."""
    import colour

    from l2tech.color.display import DISPLAY_SPACES, working_to_display_matrix
    from l2tech.correct.fused import develop_pass, identity_grid_map

    c = FilmicCurve()
    chart = _chart_rec2020()
    grey_Y = 0.2627 * chart[21, 0] + 0.6780 * chart[21, 1] + 0.0593 * chart[21, 2]  # patch 22: neutral 5
    chart = np.concatenate([chart / grey_Y, np.ones((1, 3))])  # patch 25: an exactly neutral grey
    evs = np.arange(-8.0, 4.01, 0.5)
    scene = np.stack([chart * c.grey_scene * 2**ev for ev in evs])  # (n_ev, 25, 3)
    M = working_to_display_matrix("sRGB")
    enc = ToneEncode(c, DISPLAY_SPACES["sRGB"].encode, c.scene_white)
    src = scene.astype(np.float32)
    out = develop_pass(src, identity_grid_map(25, len(evs)), np.eye(3) / c.scene_white, M, enc, dtype=dtype)
    qmax = float(np.iinfo(dtype).max)
    lin_srgb = scene @ M.T
    ref = colour.cctf_encoding(np.clip(c(lin_srgb), 0, 1), function="sRGB") * qmax
    assert np.abs(out - ref).max() <= PASS_TOL_CODES[dtype], np.abs(out - ref).max()
    # middle grey at 0 EV: display-linear 0.18 ± 1 % (float output of the same pass), and the
    # code of sRGB(0.18) in integer output
    i0 = int(np.flatnonzero(evs == 0)[0])
    f = develop_pass(src, identity_grid_map(25, len(evs)), np.eye(3) / c.scene_white, M, enc, dtype=np.float32)
    grey_disp = colour.cctf_decoding(f[i0, 24].astype(np.float64), function="sRGB")
    assert np.all(np.abs(grey_disp / 0.18 - 1) < GREY_REL_TOL), grey_disp
    want = np.floor(colour.cctf_encoding(0.18, function="sRGB") * qmax + 0.5)
    assert np.all(np.abs(out[i0, 24].astype(float) - want) <= 1), (out[i0, 24], want)
    # no clipping below +4 EV over grey
    under = np.all(lin_srgb <= c.grey_scene * 2**4, axis=-1)
    assert under.sum() > 400  # most of the 625 patch exposures
    assert out[under].max() < qmax, out[under].max()
    # neutral ramp from black to white and beyond: monotone codes
    ramp = np.concatenate([[0.0], np.geomspace(1e-6, 4.0, 4095)]).astype(np.float32)
    codes = develop_pass(np.repeat(ramp[None, :, None], 3, 2).copy(), identity_grid_map(4096, 1),
                         np.eye(3) / c.scene_white, np.eye(3), enc, dtype=dtype)[0, :, 1].astype(np.int64)
    assert np.all(np.diff(codes) >= 0) and codes[0] == 0 and codes[-1] == qmax


def test_plain_transfer_clips_where_filmic_does_not():
    """The counter-check: without a tone curve (Recipe tone='none'), a grey exposed +3 EV over
    18 % already clips (sRGB 255), the filmic curve still resolves +4 EV."""
    from l2tech.color.transfer import eotf_inverse_sRGB

    c = FilmicCurve()
    assert np.round(eotf_inverse_sRGB(np.clip(0.18 * 2**3, 0, 1)) * 255) == 255
    assert np.round(eotf_inverse_sRGB(c(np.array(c.grey_scene * 2**4))) * 255) < 255


def test_tone_parameters_validated():
    """Out-of-range settings raise UsageError naming the parameter (Recipe validates at construction)."""
    from l2tech.pipeline import Recipe

    with pytest.raises(UsageError, match="too low"):
        FilmicCurve(contrast=0.5)
    with pytest.raises(UsageError, match="latitude"):
        FilmicCurve(latitude_ev=12)
    with pytest.raises(UsageError, match="unknown tone curve"):
        tone_curve("aces")
    with pytest.raises(UsageError, match="contrast"):
        Recipe(tone_contrast=9.0)
    assert Recipe(tone="none").tone_curve() is None
    assert Recipe(tone_white_ev=6.0).tone_curve().white_ev == 6.0


def test_auto_exposure_is_the_log_average_on_grey():
    """On a log-normal scene, the exposure equals log2(grey / exp(mean(log Y))) (Reinhard et al.
    2002 eq. 1, computed here with NumPy on the same sampled pixels); scaling the scene by 2**k
    lowers it by exactly k; a scene with a bright sky above the white point is pulled down by at
    most 1 stop."""
    rng = np.random.default_rng(3)
    c = FilmicCurve()
    scene = np.exp(rng.normal(np.log(0.03), 0.8, (256, 384, 1))) * np.array([0.9, 1.0, 1.1])
    scene = scene.astype(np.float32)
    Y = scene[::4, ::4].reshape(-1, 3).astype(np.float64) @ np.array([0.2627, 0.6780, 0.0593])
    want = math.log2(c.grey_scene / math.exp(np.mean(np.log(Y))))
    got = auto_exposure_ev(scene, c)
    assert got == pytest.approx(want, abs=1e-6)
    assert auto_exposure_ev(scene * np.float32(4.0), c) == pytest.approx(got - 2, abs=1e-5)
    sky = scene.copy()
    sky[:40] = 3.0  # 15 % of the frame far above white after the gain
    e_sky = auto_exposure_ev(sky, c)
    Ys = sky[::4, ::4].reshape(-1, 3).astype(np.float64) @ np.array([0.2627, 0.6780, 0.0593])
    key = math.log2(c.grey_scene / math.exp(np.mean(np.log(Ys))))
    assert key - 1 - 1e-6 <= e_sky < key


def _reference_log_values():
    """(curve, scene-linear, encoded) rows of the shared reference table (colour-science 0.4.7)."""
    path = shared_file("luts/log_curve_reference_values.tsv")
    with open(path, encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))[2:]
    return [(r[0], float(r[2]), float(r[3])) for r in rows if r and r[0] in ("V-Log", "L-Log", "S-Log3")]


@pytest.mark.parametrize("curve", ["V-Log", "L-Log", "S-Log3"])
def test_log_bake_rolls_off_up_to_the_top_code(curve):
    """V-Log / L-Log / S-Log3 → Rec.709, 33-point bake with the filmic tone: every 10-bit code from
    the curve's black (scene 0.18·2**-10) to 1023 gives a strictly larger output on the neutral
    axis; the reference encoding of 0.18 (shared TSV, colour-science) comes out at the BT.709
    OETF of 0.18 (0.4090) ± 1 % in linear light. The same bake without tone is flat (clipped)
    over the top third of the codes."""
    from l2tech.color import bake_lut, decode
    from l2tech.color.transfer import oetf_BT709, oetf_inverse_BT709

    refs = {lin: enc for name, lin, enc in _reference_log_values() if name == curve}
    codes = np.arange(1024) / 1023.0
    neutral = np.repeat(codes[:, None], 3, 1).astype(np.float32)
    lut = bake_lut(None, input=curve, output="Rec.709", size=33, tone="filmic")
    out = lut.apply(neutral, "tetrahedral")[:, 1].astype(np.float64)
    start = int(np.argmax(decode(codes, curve) > 0.18 * 2**-10))
    assert start < 140
    assert np.all(np.diff(out[start:]) > 0), np.diff(out[start:]).min()
    g = lut.apply(np.full((1, 3), refs[0.18], np.float32), "tetrahedral")[0, 1]
    assert abs(float(oetf_inverse_BT709(np.float64(g))) / 0.18 - 1) < GREY_REL_TOL, g
    plain = bake_lut(None, input=curve, output="Rec.709", size=33).apply(neutral, "tetrahedral")[:, 1]
    assert np.mean(plain >= 1.0) > 0.3
    assert float(oetf_BT709(np.float64(0.18))) == pytest.approx(0.409, abs=1e-3)


def test_develop_tone_options_reach_the_image(tmp_path, capsys):
    """`l2 develop --tone none` / default / `--contrast 1.6` write the pixels of develop() with the
    same Recipe (PNG, lossless: identical codes); the default is brighter in the mid-tones than
    the plain transfer (the camera's metered grey is shown as display grey); a contrast out of
    range is a usage error (exit 2)."""
    from l2tech.cli.main import main
    from l2tech.io.image import read_image
    from l2tech.pipeline import Recipe, develop_file

    raw = shared_file("raw/decodable/canon_kiss_x4__colorchecker.dng")
    got = {}
    for name, args, recipe in [("none", ["--tone", "none"], Recipe(tone="none", format="png", bits=8)),
                               ("filmic", [], Recipe(format="png", bits=8)),
                               ("c16", ["--contrast", "1.6"], Recipe(tone_contrast=1.6, format="png", bits=8))]:
        out = tmp_path / f"{name}.png"
        assert main(["develop", str(raw), "-o", str(out), "--format", "png", "--bits", "8", "-q"] + args) == 0
        ref = develop_file(raw, tmp_path / f"ref_{name}.png", recipe)
        got[name] = read_image(out).pixels
        assert np.array_equal(np.round(got[name] * 255), np.round(read_image(ref.output).pixels * 255)), name
    assert np.median(got["filmic"]) > np.median(got["none"]) + 0.03
    assert not np.array_equal(got["filmic"], got["c16"])
    assert main(["develop", str(raw), "-o", str(tmp_path / "x.png"), "--contrast", "0.3"]) == 2
