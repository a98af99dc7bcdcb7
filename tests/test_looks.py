"""Looks: built-ins, schema validation, determinism (still == video frame), stage maths."""

from __future__ import annotations

import json

import numpy as np
import pytest

from l2tech.color import GAMUTS, RGB_to_RGB, encode, decode, matrix_RGB_to_XYZ
from l2tech.color.bake import bake_lut
from l2tech.color.looks import (
    MONO_FILTERS,
    _tone_table,
    apply_look,
    list_looks,
    load_look,
    look_from_mapping,
    lut_look,
)
from l2tech.color.lut_io import write_lut
from l2tech.errors import LUTError, UsageError

BUILTINS = ["mono", "mono-yellow", "mono-orange", "mono-red", "mono-green", "mono-grain", "classic"]


def _image(h=48, w=64, seed=0):
    return np.random.default_rng(seed).uniform(0.0, 1.2, (h, w, 3)).astype(np.float32)


def test_builtins_listed_and_load():
    names = list_looks()
    for n in BUILTINS:
        assert names[n] == "builtin"
        lk = load_look(n)
        assert lk.stages and lk.working_gamut == "Rec.709"
    assert load_look("MONO").name == "mono"  # case-insensitive


@pytest.mark.parametrize("name", [n for n in BUILTINS if n.startswith("mono")])
def test_mono_looks_are_monochrome(name):
    out = apply_look(_image(), name)
    assert out.dtype == np.float32
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])


def test_mono_mix_and_curve_exact():
    # mono = filter weights . rgb, then the tone curve on sRGB-encoded values.
    img = _image()
    for f, w in MONO_FILTERS.items():
        weights = matrix_RGB_to_XYZ("Rec.709")[1] if w is None else np.array(w)
        lk = look_from_mapping({"stage": [{"type": "mono", "filter": f}]})
        assert np.allclose(apply_look(img, lk)[..., 0], img @ weights, atol=1e-6)
    # A grey exactly at a control point of the curve maps to the control point's y.
    grey = decode(np.float32(0.25), "sRGB")
    out = apply_look(np.full((1, 1, 3), grey, np.float32), "mono")
    assert abs(float(encode(out[0, 0, 0], "sRGB")) - 0.21) < 2e-6


def test_red_filter_darkens_blue_sky():
    sky = np.array([[[0.05, 0.12, 0.45]]], dtype=np.float32)
    assert apply_look(sky, "mono-red")[0, 0, 0] < apply_look(sky, "mono")[0, 0, 0]


def test_tone_table_matches_scipy_pchip():
    from scipy.interpolate import PchipInterpolator

    pts = ((0.0, 0.0), (0.25, 0.21), (0.5, 0.5), (0.75, 0.79), (1.0, 1.0))
    xs, ys, _, _ = _tone_table(pts)
    x, y = np.array(pts).T
    # interior knots use the same Fritsch-Carlson harmonic mean; scipy's end slopes use a
    # three-point formula, ours the secant, so compare away from the ends.
    ref = PchipInterpolator(x, y)(xs)
    mid = (xs >= 0.25) & (xs <= 0.75)
    assert np.abs(ys[mid] - ref[mid]).max() < 1e-12
    assert np.all(np.diff(ys) >= 0)  # monotone


def test_classic_stages_preserve_what_they_promise():
    lk = load_look("classic")
    assert [s.type for s in lk.stages] == ["white_balance", "saturation", "contrast"]
    img = _image()
    y = matrix_RGB_to_XYZ("Rec.709")[1]
    wb = look_from_mapping({"stage": [dict(type="white_balance", **lk.stages[0].params)]})
    greys = np.linspace(0.01, 2.0, 30, dtype=np.float32)[:, None].repeat(3, 1)
    assert np.allclose(apply_look(greys, wb) @ y, greys @ y, rtol=1e-5)  # luminance of greys kept
    sat = look_from_mapping({"stage": [{"type": "saturation", "amount": 0.82}]})
    assert np.allclose(apply_look(img, sat) @ y, img @ y, rtol=1e-5)
    con = look_from_mapping({"stage": [{"type": "contrast", "amount": 1.08, "pivot": 0.18}]})
    assert np.allclose(apply_look(np.full((1, 1, 3), 0.18, np.float32), con), 0.18, atol=1e-7)
    warm = apply_look(np.full((1, 1, 3), 0.18, np.float32), "classic")[0, 0]
    assert warm[0] > warm[1] > warm[2]  # warm balance
    # values beyond 1 are kept (no clipping in scene-linear)
    assert apply_look(np.full((1, 1, 3), 4.0, np.float32), "classic").min() > 1.0


def test_grain_deterministic_still_equals_video_frame():
    img = np.full((90, 120, 3), 0.18, np.float32)
    a = apply_look(img, "mono-grain")
    b = apply_look(img.copy(), "mono-grain")
    assert np.array_equal(a, b)
    frames = np.stack([img, img, img])
    vid = apply_look(frames, "mono-grain")
    for f in vid:
        assert np.array_equal(f, a)  # a video frame equals the still
    # grain std at mid-grey in encoded units is about the look's amount (0.035 * weight)
    enc = encode(a[..., 0], "sRGB")
    g = float(encode(np.float32(apply_look(img, "mono-grain", include_spatial=False)[0, 0, 0]), "sRGB"))
    w = 4 * g * (1 - g)
    assert abs(enc.std() - 0.035 * w) < 0.2 * 0.035 * w
    # another seed gives other grain
    other = look_from_mapping({"stage": [{"type": "grain", "amount": 0.035, "size": 0.0006, "seed": 7}]})
    assert not np.array_equal(apply_look(img, other), apply_look(img, "mono-grain"))


def test_user_look_dir_and_override(tmp_path, monkeypatch):
    monkeypatch.setenv("L2TECH_LOOK_DIR", str(tmp_path))
    (tmp_path / "bright.toml").write_text('name = "bright"\n[[stage]]\ntype = "exposure"\nstops = 1\n')
    (tmp_path / "mono.json").write_text(json.dumps({"name": "mono", "stage": [{"type": "exposure", "stops": -1}]}))
    assert list_looks()["bright"].endswith("bright.toml")
    img = _image()
    assert np.allclose(apply_look(img, "bright"), img * 2)
    assert np.allclose(apply_look(img, "mono"), img / 2)  # the user's look wins over the built-in


@pytest.mark.parametrize(
    "text,pattern",
    [
        ('[[stage]]\ntype = "blur"\n', "unknown type 'blur'; valid: exposure"),
        ('colour = 1\n', "unknown look keys: colour"),
        ('[[stage]]\ntype = "mono"\nfilter = "purple"\n', "unknown mono filter 'purple'"),
        ('[[stage]]\ntype = "tone_curve"\npoints = [[0, 0], [0.5, 0.8], [1, 0.5]]\n', "folds back"),
        ('[[stage]]\ntype = "exposure"\nstops = "a lot"\n', "'stops' must be a number"),
        ('[[stage]]\ntype = "exposure"\nstops = 1\nextra = 2\n', "unknown parameters extra"),
        ('name = \n', "invalid TOML"),
        ('working_gamut = "Q-Gamut"\n', "unknown gamut 'Q-Gamut'"),
    ],
)
def test_bad_look_files_name_the_file(tmp_path, text, pattern):
    p = tmp_path / "bad.toml"
    p.write_text(text)
    with pytest.raises(LUTError, match=pattern) as ei:
        load_look(p)
    assert "bad.toml" in str(ei.value)


def test_unknown_look_lists_available():
    with pytest.raises(UsageError, match="available: .*mono"):
        load_look("sepia-dream")


def test_lut_look_wraps_user_file(tmp_path):
    # A LUT baked from "mono" (sRGB in/out), wrapped as a LUT look, matches the direct look
    # within 1/255 on sRGB-encoded output.
    cube = write_lut(bake_lut("mono", input="sRGB", output="sRGB", size=33), tmp_path / "m.cube")
    lk = lut_look(cube, input_encoding="sRGB", output_encoding="sRGB")
    img = np.clip(_image(), 0, 1)
    a = encode(apply_look(img, lk), "sRGB")
    b = encode(apply_look(img, "mono"), "sRGB")
    assert np.abs(a - b).max() < 1 / 255
    # the same via a look file with a relative path
    (tmp_path / "mylut.toml").write_text('[[stage]]\ntype = "lut"\nfile = "m.cube"\ninput_encoding = "sRGB"\n')
    c = encode(apply_look(img, tmp_path / "mylut.toml"), "sRGB")
    assert np.array_equal(c, a)


def test_working_space_round_trip_and_input_untouched():
    img = _image()
    keep = img.copy()
    a = apply_look(img, "classic", working_space="Rec.709")
    b = apply_look(RGB_to_RGB(img, "Rec.709", "Rec.2020"), "classic", working_space="Rec.2020")
    assert np.abs(RGB_to_RGB(b, "Rec.2020", "Rec.709") - a).max() < 1e-5
    assert np.array_equal(img, keep)
    assert "rec.2020" in GAMUTS


# --- bands of rows (docs/RELIABILITY.md memory model): the result equals a whole-frame pass --


def _whole_and_banded(monkeypatch, fn):
    """``fn()`` run as one piece (the whole-frame pass every stage made before the bands) and in
    bands of 997 pixels (many bands, the last one short)."""
    import l2tech.color.looks as looks_mod

    monkeypatch.setattr(looks_mod, "_LOOK_STRIP_PIXELS", 1 << 40)
    whole = fn()
    monkeypatch.setattr(looks_mod, "_LOOK_STRIP_PIXELS", 997)
    return whole, fn()


@pytest.mark.parametrize("name", sorted(list_looks()))
def test_banded_look_equals_whole_frame_pass(monkeypatch, name):
    # every stage but grain is per pixel and grain's field is made for the whole frame, so the
    # bands give the same float32 values; tolerance 1e-6 (1/15 of a 16-bit code), measured 0.
    # Against the code before the bands (whole-frame stages), all 20 built-in looks, a .cube
    # LUT look, a (2, H, W, 3) batch with grain and a colour list: identical, max |diff| 0.0.
    img = _image(61, 83, seed=3)
    img[0, 0] = [4.0, -0.1, 0.5]  # values beyond [0, 1] kept
    whole, banded = _whole_and_banded(monkeypatch, lambda: apply_look(img, name, working_space="Rec.2020"))
    assert banded.dtype == np.float32 and banded.shape == img.shape
    assert np.abs(banded.astype(np.float64) - whole).max() <= 1e-6


def test_banded_lut_batch_and_colour_list_equal_whole_frame_pass(tmp_path, monkeypatch):
    cube = write_lut(bake_lut("classic", input="sRGB", output="sRGB", size=17), tmp_path / "c.cube")
    lk = lut_look(cube)
    img = np.clip(_image(40, 57, seed=4), 0, 1)
    frames = np.stack([img, img[::-1]])  # grain: one field for every frame of a batch
    for fn in (lambda: apply_look(img, lk), lambda: apply_look(frames, "mono-grain"),
               lambda: apply_look(img.reshape(-1, 3), "faded")):
        whole, banded = _whole_and_banded(monkeypatch, fn)
        assert np.abs(banded.astype(np.float64) - whole).max() <= 1e-6
    with pytest.raises(UsageError, match="grain needs an image"):
        apply_look(img.reshape(-1, 3), "mono-grain")


def test_banded_look_output_file_codes_equal_whole_frame_pass(tmp_path, monkeypatch):
    # `l2 correct --look mono-grain`: the 8-bit output holds the same codes (tolerance 1 code,
    # measured 0) whether the look runs in one piece or in bands
    import cv2

    from l2tech.cli.main import main

    rng = np.random.default_rng(6)
    src = tmp_path / "in.png"
    cv2.imwrite(str(src), rng.integers(0, 255, (90, 130, 3), dtype=np.uint8))
    outs = []
    for strip in (1 << 40, 997):
        monkeypatch.setattr("l2tech.color.looks._LOOK_STRIP_PIXELS", strip)
        out = tmp_path / f"out_{strip}.png"
        assert main(["correct", str(src), "-o", str(out), "--no-lens-correction", "--look", "mono-grain", "-q"]) == 0
        outs.append(cv2.imread(str(out), cv2.IMREAD_UNCHANGED).astype(int))
    assert np.abs(outs[0] - outs[1]).max() <= 1
    assert np.ptp(outs[0]) > 50  # a real picture, not a flat one
