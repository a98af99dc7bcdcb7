"""correct() / simulate_lens() / correction_maps(): pixels, switches, scale, errors, caching."""

from __future__ import annotations

import numpy as np
import pytest

lensfunpy = pytest.importorskip("lensfunpy")
cv2 = pytest.importorskip("cv2")

from l2tech.correct import (  # noqa: E402
    INTERPOLATIONS,
    CalibrationCoverageWarning,
    LensDataWarning,
    clear_cache,
    correct,
    correction_maps,
    fold_radius,
    simulate_lens,
    validate_calibration,
    vignetting_gain,
)
from l2tech.correct.maps import is_cached  # noqa: E402
from l2tech.errors import InvalidProfileError, L2Error, UsageError  # noqa: E402
from l2tech.profiles.interpolate import interpolate  # noqa: E402
from l2tech.profiles.lensfun_xml import load_database  # noqa: E402
from l2tech.profiles.model import DistortionCalibration, LensProfile, TCACalibration, VignettingCalibration  # noqa: E402

# Two bilinear resamplings of a smooth image (period ≥ 25 px): measured max 2.7e-4.
ROUND_TRIP_TOL = 1e-3
W, H = 480, 320


@pytest.fixture(scope="module")
def s2060():
    db = load_database(user_dirs=())
    return next(x for x in db.lenses if x.model == "Lumix S 20-60/F3.5-5.6")


def _smooth(h=H, w=W):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.stack(
        [0.5 + 0.4 * np.sin(xx / 37.0) * np.cos(yy / 23.0), 0.5 + 0.3 * np.cos(xx / 29.0), 0.4 + 0.3 * np.sin(yy / 31.0)],
        axis=-1,
    ).astype(np.float32)


def test_correct_matches_lensfunpy_pipeline(s2060):
    """Same result as lensfunpy vignetting + subpixel maps + cv2.remap, up to the resampling noise."""
    img = _smooth()
    ours = correct(img, s2060, 20.0, 5.0, 10.0, scale=1.0)
    ldb = lensfunpy.Database()
    lf = next(x for x in ldb.lenses if x.model == "Lumix S 20-60/F3.5-5.6")
    mod = lensfunpy.Modifier(lf, 1.0, W, H)
    mod.initialize(20.0, 5.0, 10.0, scale=1.0, pixel_format=np.float32)
    ref_src = img.copy()
    mod.apply_color_modification(ref_src)
    # lensfun's scalar path, point by point, for the maps (its SSE full-frame path is noisier)
    m = np.empty((H, W, 3, 2), np.float32)
    for y in range(H):
        m[y] = mod.apply_subpixel_geometry_distortion(0.0, float(y), W, 1)[0]
    ref = np.empty_like(img)
    for c in range(3):
        ref[..., c] = cv2.remap(np.ascontiguousarray(ref_src[..., c]), np.ascontiguousarray(m[:, :, c, :]), None,
                                cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    inner = (slice(2, H - 2), slice(2, W - 2))
    # measured: 1.3e-3 (lensfun's own float row-call maps differ from exact by ~0.05 px here)
    assert np.abs(ours - ref)[inner].max() < 5e-3
    assert np.abs(ours - img)[inner].max() > 0.05  # and the correction did something


def test_round_trip_simulate_then_correct(s2060):
    img = _smooth()
    cal = interpolate(s2060, 24.0, 4.0, 10.0)
    scale = correction_maps(cal, W, H).scale
    lens_img = simulate_lens(img, s2060, 24.0, 4.0, 10.0, scale=scale)
    assert np.abs(lens_img - img).max() > 0.05
    back = correct(lens_img, s2060, 24.0, 4.0, 10.0)
    inner = (slice(25, H - 25), slice(25, W - 25))
    assert np.abs(back - img)[inner].max() < ROUND_TRIP_TOL


def test_switches_and_identity(s2060):
    img = _smooth()
    same = correct(img, s2060, 24.0, 4.0, vignetting=False, tca=False, distortion=False)
    assert np.array_equal(same, img) and same is not img
    vig_only = correct(img, s2060, 24.0, 4.0, tca=False, distortion=False)
    cal = interpolate(s2060, 24.0, 4.0)
    g = vignetting_gain(cal, W, H)
    assert np.allclose(vig_only, img * g[..., None], rtol=1e-6, atol=0)
    assert g[H // 2, W // 2] == pytest.approx(1.0, abs=1e-5) and g[0, 0] > 1.2  # corners brightened
    no_tca = correct(img, s2060, 24.0, 4.0, vignetting=False, tca=False, scale=1.0)
    with_tca = correct(img, s2060, 24.0, 4.0, vignetting=False, scale=1.0)
    d = np.abs(no_tca - with_tca)[2:-2, 2:-2]  # (edge pixels: border mode may differ)
    assert d[..., 1].max() < 1e-6  # green is the TCA reference channel
    assert d[..., 0].max() > 1e-4 and d[..., 2].max() > 1e-4


def test_input_not_modified_and_float64_accepted(s2060):
    img = _smooth()
    keep = img.copy()
    correct(img, s2060, 20.0, 3.5)
    assert np.array_equal(img, keep)
    out64 = correct(img.astype(np.float64), s2060, 20.0, 3.5)
    assert out64.dtype == np.float32


@pytest.mark.parametrize("interp", sorted(INTERPOLATIONS))
def test_interpolations(s2060, interp):
    img = _smooth()
    out = correct(img, s2060, 30.0, 5.0, interpolation=interp, vignetting=False)
    ref = correct(img, s2060, 30.0, 5.0, interpolation="bilinear", vignetting=False)
    assert out.dtype == np.float32 and out.shape == img.shape
    inner = (slice(4, H - 4), slice(4, W - 4))
    tol = 0.02 if interp != "nearest" else 0.1  # smooth image: kernels agree closely
    assert np.abs(out - ref)[inner].max() < tol


def test_auto_scale_no_border_and_scale_override(s2060):
    img = np.ones((H, W, 3), np.float32)
    out = correct(img, s2060, 20.0, vignetting=False)  # auto-scale: no empty border
    assert out.min() > 0.999
    zoom_out = correct(img, s2060, 20.0, vignetting=False, scale=0.8)
    assert zoom_out[0, 0].max() == 0.0  # the empty border shows (constant 0)
    assert zoom_out[H // 2, W // 2].min() == pytest.approx(1.0)
    cal = interpolate(s2060, 20.0)
    m = correction_maps(cal, W, H, scale=1.3)
    assert m.scale == 1.3 and m.auto_scale is not None and m.auto_scale > 1.0


def test_maps_cached_and_shapes(s2060):
    clear_cache()
    cal = interpolate(s2060, 20.0)
    assert not is_cached(cal, W, H)
    m1 = correction_maps(cal, W, H)
    assert is_cached(cal, W, H)
    m2 = correction_maps(interpolate(s2060, 20.0), W, H)
    assert m1 is m2
    assert m1.per_channel and len(m1.maps) == 3
    assert all(m.shape == (H, W, 2) and m.dtype == np.float32 for m in m1.maps)
    assert m1.stacked().shape == (H, W, 3, 2)
    m3 = correction_maps(cal, W, H, tca=False)
    assert len(m3.maps) == 1 and m3 is not m1


def test_crop_factor_changes_geometry_and_warns(s2060):
    img = _smooth()
    a = correct(img, s2060, 20.0, vignetting=False, crop_factor=1.0)
    b = correct(img, s2060, 20.0, vignetting=False, crop_factor=2.0)  # centre crop of the field
    assert np.abs(a - b).max() > 0.01
    with pytest.warns(CalibrationCoverageWarning, match="smaller sensor"):
        correct(img, s2060, 20.0, vignetting=False, crop_factor=0.7)


def test_missing_f_number_warns(s2060):
    with pytest.warns(LensDataWarning, match="no f-number"):
        correct(_smooth(), s2060, 20.0)


def _folding_profile() -> LensProfile:
    # ptlens with strong barrel: d r_d / d r_u = 4a r^3 + 3b r^2 + 2c r + d hits 0 at r ~ 1.13
    return LensProfile(
        "Test", "Folding 10mm", mounts=("Leica L",), crop_factor=1.0,
        distortion=(DistortionCalibration("ptlens", 10.0, {"a": 0.0, "b": -0.3, "c": 0.0}),),
    )


def test_folding_profile_refused_with_radius():
    """RELIABILITY.md case 16."""
    p = _folding_profile()
    cal = interpolate(p, 10.0)
    # r_d = r (1.3 - 0.3 r^2)... with d = 1 - b = 1.3: derivative 1.3 - 0.9 r^2 = 0 at r = sqrt(1.3/0.9)
    r_fold = np.sqrt(1.3 / 0.9)
    with pytest.raises(InvalidProfileError, match=r"folds the image at r = 1\.2019") as ei:
        validate_calibration(cal, 600, 400)
    assert "Folding 10mm" in str(ei.value)
    with pytest.raises(InvalidProfileError, match="folds"):
        correct(_smooth(400, 600), p, 10.0)
    px = fold_radius(cal, 600, 400)
    # Hugin units -> pixels (lensfun 0.3.4): norm_scale = 2 / min(W', H') * cc with W' = W - 1,
    # cc = sqrt(1.5^2 + 1) / sqrt(a_img^2 + 1), a_img = 599 / 399
    cc = np.sqrt(1.5**2 + 1) / np.sqrt((599 / 399) ** 2 + 1)
    assert px == pytest.approx(r_fold / (2 / 399 * cc), rel=1e-6)
    mild = LensProfile("T", "Mild", crop_factor=1.0, distortion=(DistortionCalibration("ptlens", 10.0, {"a": 0, "b": -0.05, "c": 0}),))
    assert fold_radius(interpolate(mild, 10.0), 600, 400) is None


def test_simulate_never_gives_up_silently():
    p = _folding_profile()
    with pytest.raises(InvalidProfileError, match="did not converge|not invertible"):
        simulate_lens(_smooth(400, 600), p, 10.0)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"image": np.zeros((10, 10), np.float32)}, "shape"),
        ({"image": np.zeros((10, 10, 3), np.uint8)}, "float32"),
        ({"interpolation": "cubic-spline"}, "unknown interpolation"),
        ({"scale": -1.0}, "scale"),
        ({"crop_factor": 0.0}, "crop_factor"),
        ({"focal_length_mm": float("nan")}, "focal_length_mm"),
    ],
)
def test_bad_arguments(s2060, kwargs, match):
    args = {"image": _smooth(20, 30), "focal_length_mm": 20.0, "f_number": 4.0}
    args.update(kwargs)
    image = args.pop("image")
    focal = args.pop("focal_length_mm")
    with pytest.raises(UsageError, match=match):
        correct(image, s2060, focal, **args)


def test_tca_only_and_linear_tca():
    p = LensProfile("T", "TCA only", crop_factor=1.0, tca=(TCACalibration("linear", 50.0, {"kr": 1.001, "kb": 0.999}),))
    img = _smooth()
    out = correct(img, p, 50.0, scale=1.0)
    cal = interpolate(p, 50.0)
    m = correction_maps(cal, W, H, scale=1.0)
    cx, cy = (W - 1) / 2, (H - 1) / 2
    # red source = centre + kr * (p - centre), exactly (lensfun linear TCA)
    assert m.maps[0][0, 0, 0] == pytest.approx(cx + 1.001 * (0 - cx), abs=1e-4)
    assert m.maps[2][H - 1, W - 1, 1] == pytest.approx(cy + 0.999 * (H - 1 - cy), abs=1e-4)
    assert np.array_equal(m.maps[1][..., 0], np.broadcast_to(np.arange(W, dtype=np.float32), (H, W)))
    assert np.abs(out[..., 1] - img[..., 1]).max() < 1e-6


def test_vignetting_only_profile_and_errors_are_l2errors():
    p = LensProfile("T", "Vig", crop_factor=1.0, focal_min_mm=50, focal_max_mm=50,
                    vignetting=(VignettingCalibration("pa", 50.0, 2.8, 1000.0, {"k1": -0.5, "k2": 0.0, "k3": 0.0}),))
    img = np.ones((H, W, 3), np.float32)
    out = correct(img, p, 50.0, 2.8)
    # corner of a 3:2 frame on its own sensor: r = 1 -> falloff 0.5 -> gain 2
    assert out[0, 0, 0] == pytest.approx(2.0, rel=1e-3)
    assert out[H // 2, W // 2, 0] == pytest.approx(1.0, abs=1e-5)
    back = simulate_lens(out, p, 50.0, 2.8)
    assert np.allclose(back, img, rtol=1e-5)
    with pytest.raises(L2Error):
        correct(img, p, -3.0)


@pytest.mark.parametrize("scale, tca", [(None, True), (0.8, True), (None, False), (1.3, False)])
def test_first_call_paths_equal_cached_maps_path(s2060, scale, tca):
    """correct()'s first call (fused map + bilinear kernel, or strips) equals maps + cv2.remap."""
    rng = np.random.default_rng(1)
    img = rng.random((H + 1, W - 1, 3), dtype=np.float32)  # odd sizes
    clear_cache()
    fused = correct(img, s2060, 24.0, 4.0, 10.0, scale=scale, tca=tca)
    strips = correct(img, s2060, 24.0, 4.0, 10.0, scale=scale, tca=tca, interpolation="bicubic")
    cal = interpolate(s2060, 24.0, 4.0, 10.0)
    correction_maps(cal, W - 1, H + 1, scale=scale, tca=tca)  # now cached: cv2.remap on stored maps
    cached = correct(img, s2060, 24.0, 4.0, 10.0, scale=scale, tca=tca)
    cached_bicubic = correct(img, s2060, 24.0, 4.0, 10.0, scale=scale, tca=tca, interpolation="bicubic")
    assert np.abs(fused - cached).max() < 1e-6  # measured 2.4e-7 (float32 summation order)
    assert np.array_equal(strips, cached_bicubic)


def test_other_vignetting_families_use_their_gain_field():
    """correct() applies an Adobe LCP VignetteModel or a DNG FixVignetteRadial through the
    family's own gain field (l2tech.correct.maps.VIGNETTING_GAINS), checked against the closed form."""
    from l2tech.correct.maps import vignetting_gain
    from l2tech.profiles.model import LensCalibration, LensProfile, VignettingCalibration

    W, H = 64, 48
    img = np.full((H, W, 3), 0.5, np.float32)
    terms = {"k0": -0.2, "k1": 0.05, "k2": 0.0, "k3": 0.0, "k4": 0.0, "cx": 0.5, "cy": 0.5}
    vc = VignettingCalibration("dng_fix_vignette_radial", 10.0, 4.0, 1000.0, terms)
    prof = LensProfile("T", "DNG", vignetting=(vc,))
    cal = LensCalibration(prof, 10.0, 4.0, 1000.0, None, None, vc)
    out = correct(img, cal, crop_factor=1.0, distortion=False, tca=False)
    # DNG: R = largest centre-to-corner distance; gain = 1 + k0 r^2 + k1 r^4 at the corner pixel (r = 1)
    assert out[0, 0, 1] == pytest.approx(0.5 * (1 - 0.2 + 0.05), rel=1e-5)
    assert out[H // 2, W // 2, 1] == pytest.approx(0.5 * (1 - 0.2 * (0.5 / np.hypot(31.5, 23.5)) ** 2 * 2), rel=1e-3)
    assert np.allclose(out[..., 0], 0.5 * vignetting_gain(cal, W, H))
