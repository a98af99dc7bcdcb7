"""The ``radial_table`` / ``radial_table_vignette`` families (l2tech.optics.radial_table).

The oracle is RawTherapee's application of a camera's recorded splines
(``rtengine/lensmetadata.cc``, ``CenterRadiusMetadataLensCorrection::process``,
``interpolateLinearSpline``), evaluated here: for an output pixel ``p``, ``r = |p − C| / R``
and the source is ``C + (p − C) · f(r)``, ``f`` linear between knots with the end values held;
``C = (cx · W, cy · H)``, ``R`` the largest distance from ``C`` to a corner of ``[0, W] × [0, H]``.

The image corrected is a coordinate ramp (R = x, G = y, B = 1): bilinear resampling of a linear
ramp is exact, so where the source lies inside the frame the corrected R, G are the source
coordinates the correction read (as tests/test_registry_fresh.py measures every family).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import l2tech
from l2tech.errors import InvalidProfileError

W, H = 96, 64
KNOTS = [0.0, 0.3, 0.55, 0.8, 1.0, 1.2]
FACTORS = [1.0, 0.995, 0.985, 0.965, 0.95, 0.94]  # r_src / r_out: barrel correction
CX, CY = 0.51, 0.48


def _oracle(knots, factors, cx=CX, cy=CY) -> np.ndarray:
    Cx, Cy = cx * W, cy * H
    R = max(np.hypot(Cx - x, Cy - y) for x in (0.0, W) for y in (0.0, H))
    u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    r = np.hypot(u - Cx, v - Cy) / R
    f = np.interp(r, knots, factors)
    return np.stack([Cx + (u - Cx) * f, Cy + (v - Cy) * f], -1)


_SCRIPT = """
import os, sys
import numpy as np
from l2tech.optics.radial_table import radial_table_terms
from l2tech.profiles.model import DistortionCalibration, LensProfile
tmp = sys.argv[1]
profile = LensProfile("Test", "table", distortion=(DistortionCalibration("radial_table", 24.0,
                      radial_table_terms({knots!r}, {factors!r}, cx={cx!r}, cy={cy!r})),))
from l2tech.correct import correct
gx, gy = np.meshgrid(np.arange({W}, dtype=np.float32), np.arange({H}, dtype=np.float32))
ramp = np.stack([gx, gy, np.ones_like(gx)], -1)
out = correct(ramp, profile, 24.0, scale=1.0, vignetting=False, tca=False)
np.save(os.path.join(tmp, "out.npy"), out)
"""


def test_table_built_from_its_constructor_corrects_in_a_fresh_interpreter(tmp_path):
    """A fresh interpreter that imports only the family's constructor module and the profile
    model corrects a ramp with it (the registry is complete at import of l2tech.optics.compose);
    the map equals RawTherapee's formula within 0.01 px (float32 maps)."""
    src = str(Path(l2tech.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    script = _SCRIPT.format(knots=KNOTS, factors=FACTORS, cx=CX, cy=CY, W=W, H=H)
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(script), str(tmp_path)], env=env, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    got = np.load(tmp_path / "out.npy").astype(np.float64)
    ref = _oracle(KNOTS, FACTORS)
    ident = np.stack(np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64)), -1)
    assert np.abs(ref - ident).max() > 0.5  # the correction moves pixels: the test could fail
    inside = (ref[..., 0] >= 0) & (ref[..., 0] <= W - 1) & (ref[..., 1] >= 0) & (ref[..., 1] <= H - 1)
    assert inside.mean() > 0.8
    assert np.abs(got[..., :2] - ref)[inside].max() <= 0.01
    assert np.all(got[..., 2][inside] == 1.0)


def _calibration(dist=None, tca=None, vig=None):
    from l2tech.profiles.interpolate import interpolate
    from l2tech.profiles.model import DistortionCalibration, LensProfile, TCACalibration, VignettingCalibration

    prof = LensProfile(
        "Test", "table",
        distortion=() if dist is None else (DistortionCalibration("radial_table", 24.0, dist),),
        tca=() if tca is None else (TCACalibration("radial_table", 24.0, tca),),
        vignetting=() if vig is None else (VignettingCalibration("radial_table_vignette", 24.0, 0.0, 0.0, vig),),
    )
    return interpolate(prof, 24.0, 4.0)


def test_identity_table_gives_the_identity_map_and_gain():
    """Factors and gains of 1 everywhere: at scale 1 the map is the pixel grid (one map without
    TCA, three with it), the gain 1. (Auto-scale is not 1 for it, as for an identity DNG warp:
    the centre is (W/2, H/2), RawTherapee's and the DNG SDK's, half a pixel from the frame's
    centre between pixel centres, so the frame reaches the edge 0.5 px sooner on one side.)"""
    from l2tech.correct.maps import correction_maps, vignetting_gain
    from l2tech.optics.radial_table import radial_table_tca_terms, radial_table_terms, radial_table_vignette_terms

    k = [0.0, 0.5, 1.0]
    cal = _calibration(radial_table_terms(k, [1.0] * 3), radial_table_tca_terms(k, [1.0] * 3, [1.0] * 3),
                       radial_table_vignette_terms(k, [1.0] * 3))
    ident = np.stack(np.meshgrid(np.arange(W, dtype=np.float32), np.arange(H, dtype=np.float32)), -1)
    cm = correction_maps(cal, W, H, tca=False, scale=1.0)
    assert len(cm.maps) == 1
    assert np.array_equal(cm.maps[0], ident)
    for m in correction_maps(cal, W, H, tca=True, scale=1.0).maps:
        assert np.array_equal(m, ident)
    assert np.array_equal(vignetting_gain(cal, W, H), np.ones((H, W), np.float32))


def test_tca_and_vignetting_tables_follow_rawtherapee():
    """Red and blue: the green factor times their own (RawTherapee's
    distortionAndCACorrectionFactor); TCA alone: their own factor (caCorrectionFactor); the gain
    field: the gain table at the pixel's radius, end values held."""
    from l2tech.correct.maps import correction_maps, vignetting_gain
    from l2tech.optics.radial_table import radial_table_tca_terms, radial_table_terms, radial_table_vignette_terms

    kc, red, blue = [0.0, 0.6, 1.1], [1.0, 1.002, 1.004], [1.0, 0.998, 0.995]
    kv, gains = [0.2, 0.7, 0.9], [1.05, 1.4, 1.9]
    cal = _calibration(radial_table_terms(KNOTS, FACTORS, cx=CX, cy=CY), radial_table_tca_terms(kc, red, blue, cx=CX, cy=CY),
                       radial_table_vignette_terms(kv, gains, cx=CX, cy=CY))
    Cx, Cy = CX * W, CY * H
    R = max(np.hypot(Cx - x, Cy - y) for x in (0.0, W) for y in (0.0, H))
    u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    r = np.hypot(u - Cx, v - Cy) / R
    green = np.interp(r, KNOTS, FACTORS)
    maps = correction_maps(cal, W, H, tca=True, scale=1.0).maps
    for m, f in zip(maps, (green * np.interp(r, kc, red), green, green * np.interp(r, kc, blue))):
        assert np.abs(m[..., 0] - (Cx + (u - Cx) * f)).max() < 1e-3
        assert np.abs(m[..., 1] - (Cy + (v - Cy) * f)).max() < 1e-3
    only = correction_maps(cal, W, H, distortion=False, tca=True, scale=1.0).maps
    assert np.abs(only[0][..., 0] - (Cx + (u - Cx) * np.interp(r, kc, red))).max() < 1e-3
    assert np.abs(vignetting_gain(cal, W, H) - np.interp(r, kv, gains)).max() < 1e-6


def test_tables_blend_between_focal_lengths_as_functions():
    """Two calibration points with different knots: at a focal length between them the table is
    the weighted sum of the two functions (each sampled at the union of the knots)."""
    from l2tech.optics.radial_table import radial_table_source_radius, radial_table_terms
    from l2tech.profiles.interpolate import interpolate
    from l2tech.profiles.model import DistortionCalibration, LensProfile

    a = ([0.0, 0.5, 1.0], [1.0, 0.98, 0.95])
    b = ([0.1, 0.4, 0.8, 1.3], [1.01, 1.0, 0.99, 0.97])
    prof = LensProfile("Test", "zoom", distortion=(DistortionCalibration("radial_table", 10.0, radial_table_terms(*a)),
                                                   DistortionCalibration("radial_table", 20.0, radial_table_terms(*b))))
    cal = interpolate(prof, 12.5)
    r = np.linspace(0.0, 1.5, 301)
    expected = r * (0.75 * np.interp(r, *a) + 0.25 * np.interp(r, *b))
    assert radial_table_source_radius(cal.distortion.terms, r) == pytest.approx(expected, abs=1e-12)


def test_bad_tables_are_refused():
    """Knots not increasing, a factor of 0, a missing term, and a table that folds the image."""
    from l2tech.correct.maps import correction_maps
    from l2tech.optics.radial_table import radial_table_terms
    from l2tech.profiles.model import DistortionCalibration, LensProfile
    from l2tech.profiles.validate import profile_problem

    with pytest.raises(InvalidProfileError, match="strictly increasing"):
        radial_table_terms([0.0, 0.5, 0.5], [1.0, 1.0, 1.0])
    with pytest.raises(InvalidProfileError, match="> 0"):
        radial_table_terms([0.0, 0.5, 1.0], [1.0, 0.0, 1.0])
    terms = radial_table_terms([0.0, 0.5, 1.0], [1.0, 0.99, 0.98])
    del terms["f1"]
    prof = LensProfile("Test", "table", distortion=(DistortionCalibration("radial_table", 24.0, terms),))
    assert "f1" in profile_problem(prof)
    folds = _calibration(radial_table_terms([0.0, 0.5, 0.6], [1.0, 1.0, 0.5]))  # r f(r): 0.5 at 0.5, 0.3 at 0.6
    with pytest.raises(InvalidProfileError, match="folds the image at radius"):
        correction_maps(folds, W, H, tca=False)


def test_embedded_disagreement_reads_the_source_radius_from_the_table():
    """`embedded_disagreement` compares a table with a lensfun profile as it compares the DNG
    warp the table samples (201 knots of kr0 + kr1 r^2 + kr2 r^4: the linear pieces are within
    1e-6 of the polynomial)."""
    from l2tech.optics.radial_table import radial_table_terms
    from l2tech.profiles.model import DistortionCalibration, LensProfile
    from l2tech.profiles.sources import embedded_disagreement

    kr = (0.985, 0.02, -0.005)
    r = np.linspace(0.0, 1.0, 201)
    poly = {"kr0": kr[0], "kr1": kr[1], "kr2": kr[2], "kr3": 0.0, "kt0": 0.0, "kt1": 0.0, "cx": 0.5, "cy": 0.5}
    ref = LensProfile("Test", "lens", crop_factor=1.5, distortion=(DistortionCalibration("poly3", 24.0, {"k1": -0.01}),))
    out = []
    for model, terms in (("dng_warp_rectilinear", poly),
                         ("radial_table", radial_table_terms(r, kr[0] + kr[1] * r**2 + kr[2] * r**4))):
        emb = LensProfile("Test", "emb", distortion=(DistortionCalibration(model, 24.0, terms),))
        out.append(embedded_disagreement(emb, ref, focal_length_mm=24.0, width=600, height=400, crop_factor=1.5))
    assert out[0][0] > 1e-3  # they do disagree: the comparison could fail
    assert out[1][0] == pytest.approx(out[0][0], abs=1e-5) and out[1][1] == pytest.approx(out[0][1], abs=1e-3)
