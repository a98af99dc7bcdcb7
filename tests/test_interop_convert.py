"""Profile sources (read_profile dispatch, choice order), RW2 0x0119, lensfun XML export checked
against lensfunpy's own maps, Gyroflow export, and the l2 lens convert / show-file commands."""

from __future__ import annotations

import json
import struct

import lensfunpy
import numpy as np
import pytest
import tifffile

from conftest import shared_file
from l2tech.correct.maps import correction_maps
from l2tech.errors import InvalidProfileError, LensNotFoundError, UnsupportedFormatError, UsageError
from l2tech.optics.dng import warp_rectilinear_points
from l2tech.profiles.convert import to_lensfun, write_gyroflow, write_lensfun
from l2tech.profiles.dng_opcodes import DngOpcode, encode_opcode_list
from l2tech.profiles.gyroflow import read_gyroflow
from l2tech.profiles.model import DistortionCalibration, LensCalibration, LensProfile
from l2tech.profiles.rw2 import parse_distortion_info, read_rw2_distortion, read_rw2_profile
from l2tech.profiles.sources import PROFILE_SOURCES, choose_profile, profile_format, read_profile

pytestmark = [
    # lensfunpy's Cython module can warn about deprecated NumPy aliases
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

TOL_MAP_PX = 0.01


def _lensfunpy_map(xml_path, crop, W, H, focal):
    db = lensfunpy.Database(paths=[str(xml_path)], load_common=False, load_bundled=False)
    mod = lensfunpy.Modifier(db.lenses[0], crop, W, H)
    mod.initialize(focal, 2.8, 1000.0, scale=1.0, targeom=lensfunpy.LensType.RECTILINEAR,
                   flags=lensfunpy.ModifyFlags.DISTORTION | lensfunpy.ModifyFlags.GEOMETRY)
    return mod.apply_geometry_distortion()


def _pixel_profile(model, terms, W, H):
    return LensProfile(maker="Test", model=f"{model} lens", lens_type="fisheye" if model == "kannala_brandt" else "rectilinear",
                       distortion=(DistortionCalibration(model, 0.0, terms),), extra={"calib_width_px": W, "calib_height_px": H})


@pytest.mark.parametrize("model,terms", [
    ("kannala_brandt", dict(fx=420.0, fy=420.0, cx=400.0, cy=300.0, k1=0.05, k2=-0.01)),  # = lensfun fisheye + poly5
    ("opencv", dict(fx=700.0, fy=700.0, cx=412.0, cy=291.0, k1=-0.12, k2=0.03)),  # = lensfun poly5, centre offset
])
def test_lensfun_export_exact_families_match_lensfunpy(tmp_path, model, terms):
    W, H = 800, 600
    prof = _pixel_profile(model, terms, W, H)
    out = tmp_path / "lens.xml"
    rep = write_lensfun(prof, out, model="poly5")
    assert rep.residual_max_px < 1e-6  # representable exactly
    ref = _lensfunpy_map(out, 1.0, W, H, rep.per_focal[0][0])
    cal = LensCalibration(prof, 0.0, None, None, prof.distortion[0], None, None)
    ours = correction_maps(cal, W, H, scale=1.0).maps[0]
    assert np.abs(ours - ref).max() <= TOL_MAP_PX


@pytest.mark.parametrize("name", ["GoPro_HERO8_Black_Wide_NO-EIS_16by9.json", "Sony_ZV-E10_10-20mm_F4_G_20mm_4k_16by9_3840x2160-29.97fps.json"])
def test_lensfun_export_reports_true_residual(tmp_path, name):
    # k3, k4 of Kannala-Brandt have no lensfun equivalent: the fit residual is reported and
    # lensfunpy's map is within it (plus lensfun's float32 rounding) of ours
    prof = read_gyroflow(shared_file(f"profiles/gyroflow/{name}"))
    W, H = 960, 540
    out = tmp_path / "lens.xml"
    rep = write_lensfun(prof, out, W, H)
    ref = _lensfunpy_map(out, prof.crop_factor, W, H, rep.per_focal[0][0])
    cal = LensCalibration(prof, 0.0, None, None, prof.distortion[0], None, None)
    ours = correction_maps(cal, W, H, scale=1.0).maps[0]
    diff = np.abs(ours - ref).max()
    assert diff <= rep.residual_max_px + TOL_MAP_PX
    assert rep.residual_max_px < 0.3  # measured 0.188 (HERO8), 0.084 (ZV-E10) px at 960x540


def test_to_lensfun_keeps_lensfun_profiles():
    prof = LensProfile(maker="X", model="Y", mounts=("M",), distortion=(DistortionCalibration("ptlens", 20.0, {"a": 0.01, "b": -0.02, "c": 0.0}),))
    lens, rep = to_lensfun(prof)
    assert lens is prof and rep.residual_max_px == 0.0
    with pytest.raises(UsageError, match="unknown lensfun model"):
        to_lensfun(prof, model="poly9")


def test_gyroflow_export_round_trip(tmp_path):
    prof = read_profile(shared_file("profiles/opencv_yaml/VINS-Mono__config_realsense_realsense_fisheye_config.yaml"))
    out = tmp_path / "vins.json"
    write_gyroflow(prof, out)
    back = read_gyroflow(out)
    assert back.distortion[0].model == "kannala_brandt"
    for k in ("fx", "fy", "cx", "cy", "k1", "k2", "k3", "k4"):
        assert back.distortion[0].terms[k] == prof.distortion[0].terms[k]  # asymmetrical keeps cx, cy
    with pytest.raises(UsageError, match="no calibration size"):
        write_gyroflow(LensProfile("a", "b", distortion=(DistortionCalibration("ptlens", 10.0, {"a": 0.01}),)), tmp_path / "x.json")


@pytest.mark.parametrize("lens_type,model,terms", [
    ("rectilinear", "ptlens", {"a": 0.0061844, "b": -0.0313122, "c": 0.0314815}),  # Canon EF 50mm f/1.8 STM (OPTICS.md)
    ("fisheye", "poly5", {"k1": 0.02, "k2": -0.004}),
])
def test_lensfun_profile_to_gyroflow(tmp_path, lens_type, model, terms):
    from l2tech.optics.opencv import pixel_model_K, simulation_map_opencv  # noqa: F401

    W, H = 1200, 800
    prof = LensProfile("Canon", "test lens", mounts=("Canon EF",), lens_type=lens_type, focal_min_mm=50.0, focal_max_mm=50.0,
                       distortion=(DistortionCalibration(model, 50.0 if lens_type == "rectilinear" else 8.0, terms),))
    out = tmp_path / "g.json"
    rep = write_gyroflow(prof, out, W, H)
    back = read_gyroflow(out)
    assert back.distortion[0].model == ("opencv" if lens_type == "rectilinear" else "kannala_brandt")
    assert rep.residual_max_px < 1.0  # measured 0.596 px (ptlens has odd |r| terms), 6e-11 px (fisheye poly5 = KB k1, k2)
    # the Gyroflow profile corrects like the lensfun one within the reported residual
    cal0 = LensCalibration(prof, prof.distortion[0].focal_length_mm, None, None, prof.distortion[0], None, None)
    ref = correction_maps(cal0, W, H, scale=1.0).maps[0]
    s = rep_scale = read_profile(out).distortion[0].terms["fx"] / (np.hypot(W - 1, H - 1) / 2)
    if lens_type == "rectilinear":
        cal1 = LensCalibration(back, 0.0, None, None, back.distortion[0], None, None)
        ours = correction_maps(cal1, W, H, scale=1.0 / s).maps[0]  # the original's zoom
    else:  # lensfun fisheye lenses stay fisheye when corrected: compare with an equidistant output
        from l2tech.optics.kannala_brandt import correction_map_kannala_brandt
        from l2tech.optics.opencv import camera_matrix

        t = back.distortion[0].terms
        K = camera_matrix(t["fx"], t["fy"], t["cx"], t["cy"])
        F = np.hypot(W - 1, H - 1) / 2 * 8.0 / (np.hypot(36, 24) / 2)  # lensfun focal in pixels
        newK = camera_matrix(F, F, t["cx"], t["cy"])
        ours = correction_map_kannala_brandt(W, H, K, {k: t[k] for k in ("k1", "k2", "k3", "k4")}, newK,
                                             output_projection="fisheye")
    assert np.abs(ours - ref).max() <= rep.residual_max_px + TOL_MAP_PX


# ---- RW2 ------------------------------------------------------------------------------------------


def test_rw2_real_file_distortion_info():
    # Expected values from an independent dump of IFD0 tag 0x0119 (no l2tech code):
    #   d = open(p, 'rb').read(); off = struct.unpack('<I', d[4:8])[0]; ... entry 0x0119: type 7,
    #   count 32, offset 600; struct.unpack('<16h', d[600:632]) =
    words = (-9038, 29297, 353, 0, 674, 0, 241, 1, 4050, 190, 257, -778, 2280, 690, -26662, -27265)
    d = read_rw2_distortion(shared_file("raw/metadata_only/panasonic_dmc-lx3__exiftool.rw2"))
    assert d.words == words and d.enabled
    # exiftool PanasonicRaw DistortionInfo: Scale = 1/(1 + w5/32768), Param08/04/11 = w/32768
    assert (d.scale, d.a, d.b, d.c) == (1.0, 4050 / 32768, 674 / 32768, -778 / 32768)


def test_rw2_formula_synthetic(tmp_path):
    # No RW2 with image data and 0x0119 is available: check the formula as RawTherapee reads it
    # (rtengine/lensmetadata.cc, PanasonicMetadataLensCorrection): the camera moves a raw pixel at
    # r_raw to r_out = scale * r_raw * (1 + a r^2 + b r^4 + c r^6), r over the half-diagonal; the
    # correction map samples, for each output pixel, the r_raw that gives its r_out. Tolerance:
    # the WarpRectilinear fit to the inverted polynomial, 2.5e-4 of the half-diagonal at most.
    w = [0] * 16
    w[5], w[7], w[8], w[4], w[11] = -1200, 1, 3000, -500, 200
    blob = struct.pack("<16h", *w)
    # a minimal RW2: header IIU\0, IFD0 at 8 with one entry 0x0119 -> offset 26
    data = b"IIU\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHII", 0x0119, 7, 32, 26) + struct.pack("<I", 0) + blob
    p = tmp_path / "synthetic.rw2"
    p.write_bytes(data)
    prof = read_rw2_profile(p, model="DC-TEST", focal_length_mm=12.0)
    assert profile_format(p) == "rw2"
    scale, a, b, c = 1 / (1 - 1200 / 32768), 3000 / 32768, -500 / 32768, 200 / 32768
    W, H = 400, 300
    Rh = np.hypot(W, H) / 2
    pts = np.array([[10.0, 20.0], [399.0, 299.0], [250.0, 100.0]])
    r_out = np.hypot(*(pts - [W / 2, H / 2]).T) / Rh
    t = prof.distortion[0].terms
    plane = [t[k] for k in ("kr0", "kr1", "kr2", "kr3", "kt0", "kt1")]
    src = warp_rectilinear_points(pts, W, H, plane, t["cx"], t["cy"])
    r_raw = np.hypot(*(src - [W / 2, H / 2]).T) / Rh
    assert np.abs(scale * r_raw * (1 + a * r_raw**2 + b * r_raw**4 + c * r_raw**6) - r_out).max() < 2.5e-4
    # the source lies on the output pixel's ray from the centre
    cross = (pts[:, 0] - W / 2) * (src[:, 1] - H / 2) - (pts[:, 1] - H / 2) * (src[:, 0] - W / 2)
    assert np.abs(cross).max() < 1e-6
    w[7] = 0  # correction off -> no profile
    p.write_bytes(data[:26] + struct.pack("<16h", *w))
    assert read_rw2_profile(p) is None
    with pytest.raises(Exception, match="32"):
        parse_distortion_info(b"\x00" * 30)


# ---- sources -----------------------------------------------------------------------------------------


def test_read_profile_dispatches_every_format(tmp_path):
    assert read_profile(shared_file("profiles/gyroflow/GoPro_HERO8_Black_Wide_NO-EIS_16by9.json")).distortion[0].model == "kannala_brandt"
    assert read_profile(shared_file("profiles/opencv_yaml/ORB_SLAM2__Examples_Monocular_TUM1.yaml")).distortion[0].model == "opencv"
    fusion = read_profile(shared_file("raw/codec_unsupported/gopro_fusion_front.gpr"))
    assert fusion.tca[0].model == "dng_warp_rectilinear"
    with pytest.raises(InvalidProfileError, match="a shot without lens-correction data: no DNG opcodes"):
        read_profile(shared_file("raw/codec_unsupported/gopro_hero6_black.gpr"))
    lf = tmp_path / "lf.xml"
    write_lensfun(LensProfile("A", "B", mounts=("M",), distortion=(DistortionCalibration("poly3", 10.0, {"k1": 0.01}),)), lf)
    assert profile_format(lf) == "lensfun" and read_profile(lf).distortion[0].terms["k1"] == 0.01
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(UnsupportedFormatError, match="junk.bin"):
        read_profile(junk)


class _Meta:
    def __init__(self, path, make="GoPro", model="FUSION", lens_model=None, focal=3.0):
        self.path, self.make, self.model, self.lens_make, self.lens_model = str(path), make, model, None, lens_model
        self.lens_id, self.focal_length_mm, self.f_number, self.focus_distance_m = None, focal, None, None
        self.width = self.height = self.crop_factor = None
        self.warnings = ()


def test_profile_choice_order(tmp_path):
    assert PROFILE_SOURCES == ("file", "user", "database", "embedded")
    fusion = shared_file("raw/codec_unsupported/gopro_fusion_front.gpr")
    # the shot names no lens the database knows: its embedded opcodes are used
    ch = choose_profile(_Meta(fusion), user_dirs=[str(tmp_path)])
    assert ch.source == "embedded" and ch.profile.tca
    # a profile file given by the user wins
    gj = shared_file("profiles/gyroflow/GoPro_HERO8_Black_Wide_NO-EIS_16by9.json")
    ch = choose_profile(_Meta(fusion), profile_file=gj)
    assert ch.source == "file" and ch.profile.distortion[0].model == "kannala_brandt"
    # the user folder (lensfun XML) before the database
    user = tmp_path / "user"
    user.mkdir()
    write_lensfun(LensProfile("Canon", "Canon EF 24-105mm f/4L IS USM", mounts=("Canon EF",), focal_min_mm=24, focal_max_mm=105,
                              distortion=(DistortionCalibration("poly3", 24.0, {"k1": 0.0123}),)), user / "mine.xml")
    six_d = shared_file("raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng")
    meta = _Meta(six_d, "Canon", "Canon EOS 6D", "EF24-105mm f/4L IS USM", 65.0)
    ch = choose_profile(meta, user_dirs=[str(user)])
    assert ch.source == "user" and ch.profile.distortion[0].terms["k1"] == 0.0123
    assert ch.tried[0].startswith("user: Canon EF 24-105mm f/4L IS USM")
    ch = choose_profile(meta, profile_source="database", user_dirs=[str(tmp_path / "none")])
    assert ch.source == "database" and ch.profile.source.startswith("lensfun")
    with pytest.raises(LensNotFoundError, match="no embedded profile"):
        choose_profile(meta, profile_source="embedded")
    with pytest.raises(UsageError, match="valid: embedded, user, database"):
        choose_profile(meta, profile_source="web")


# ---- CLI --------------------------------------------------------------------------------------------


def test_cli_convert_and_show(tmp_path):
    from l2tech.cli.lens_convert import convert, show_file

    src = shared_file("profiles/gyroflow/GoPro_HERO8_Black_Wide_NO-EIS_16by9.json")
    out = tmp_path / "hero8.xml"
    rc = convert.main([str(src), "-o", str(out), "--width", "960", "--height", "540", "--json"], standalone_mode=False)
    assert rc == 0 and out.exists()
    db = lensfunpy.Database(paths=[str(out)], load_common=False, load_bundled=False)
    assert db.lenses[0].model.endswith("Wide")
    assert convert.main([str(src), "-o", str(out)], standalone_mode=False) == 1  # exists, no --overwrite
    gj = tmp_path / "vins.json"
    yaml = shared_file("profiles/opencv_yaml/VINS-Mono__config_euroc_euroc_config.yaml")
    assert convert.main([str(yaml), "-o", str(gj), "--to", "gyroflow"], standalone_mode=False) == 0
    assert json.loads(gj.read_text())["distortion_model"] == "opencv_standard"
    assert show_file.main([str(gj), "--json"], standalone_mode=False) == 0
    bad = tmp_path / "bad.json"
    bad.write_text('{"calib_dimension": {"w": 10, "h": 0}}')
    assert show_file.main([str(bad)], standalone_mode=False) == 1


def test_rw2_embedded_profile_and_choice():
    lx3 = shared_file("raw/metadata_only/panasonic_dmc-lx3__exiftool.rw2")
    prof = read_profile(lx3)
    # the inverse of r_out = r (1 + a r^2 + ...), a = 4050/32768 = 0.1236: kr1 close to -a
    assert prof.distortion[0].model == "dng_warp_rectilinear" and prof.distortion[0].terms["kr1"] == pytest.approx(-0.1255, abs=1e-3)
    ch = choose_profile(_Meta(lx3, "Panasonic", "DMC-LX3", None, 5.1), profile_source="embedded")
    assert ch.source == "embedded" and ch.profile.focal_min_mm == 5.1


_HERO8 = "profiles/gyroflow/GoPro_HERO8_Black_Wide_NO-EIS_16by9.json"


def _gyroflow_cv2_oracle(prof, W, H):
    """OpenCV's own fisheye undistortion maps for a Gyroflow (Kannala–Brandt) profile on a
    ``W × H`` frame (camera matrix scaled from the calibration size, pixel centres at integers):
    ``cv2.fisheye.initUndistortRectifyMap(K, D, I, K, (W, H), CV_32FC1)``. Returns (K, D, mx, my)."""
    import cv2

    t = prof.distortion[0].terms
    s = W / prof.extra["calib_width_px"]
    assert H / prof.extra["calib_height_px"] == pytest.approx(s)
    K = np.array([[t["fx"] * s, 0, (t["cx"] + 0.5) * s - 0.5], [0, t["fy"] * s, (t["cy"] + 0.5) * s - 0.5], [0, 0, 1]])
    D = np.array([t[k] for k in ("k1", "k2", "k3", "k4")])
    mx, my = cv2.fisheye.initUndistortRectifyMap(K, D, np.eye(3), K, (W, H), cv2.CV_32FC1)
    return K, D, mx, my


def _fisheye_checkerboard(K, D, W, H, period=48.0) -> np.ndarray:
    """A checkerboard (smooth edges, saddle corners every ``period`` px around the principal
    point) as the fisheye lens (K, D) images it: float32 (H, W, 3) in [0.1, 0.9]."""
    import cv2

    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    pts = np.stack([xx.ravel(), yy.ravel()], -1)[:, None, :]
    und = cv2.fisheye.undistortPoints(pts, K, D, P=K).reshape(H, W, 2)
    v = np.sin(np.pi * (und[..., 0] - K[0, 2]) / period) * np.sin(np.pi * (und[..., 1] - K[1, 2]) / period)
    img = (0.5 + 0.4 * np.tanh(4 * v)).astype(np.float32)
    return np.repeat(img[..., None], 3, axis=2)


def test_readers_register_their_families_for_correct(tmp_path):
    # a fresh interpreter: reading a profile is enough for l2tech.correct to know its family, and
    # the correction is the right one: a fisheye checkerboard corrected by correct() there equals
    # OpenCV's fisheye undistortion of the same image (cv2.remap with the maps of
    # _gyroflow_cv2_oracle) within 1e-3 (values in [0.1, 0.9]; measured: equal)
    import subprocess
    import sys

    import cv2

    W, H = 384, 216
    prof = read_gyroflow(shared_file(_HERO8))
    K, D, mx, my = _gyroflow_cv2_oracle(prof, W, H)
    img = _fisheye_checkerboard(K, D, W, H, period=24.0)
    np.save(tmp_path / "in.npy", img)
    code = (
        "import numpy as np\n"
        "from l2tech.profiles.sources import read_profile\n"
        "from l2tech.correct import correct\n"
        f"p = read_profile({str(shared_file(_HERO8))!r})\n"
        f"img = np.load({str(tmp_path / 'in.npy')!r})\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, correct(img, p, focal_length_mm=1.0, scale=1.0))\n"
    )
    r = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    out = np.load(tmp_path / "out.npy")
    ref = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    assert out.std() > 0.2  # not a flat image
    inside = (mx >= 0) & (mx <= W - 1) & (my >= 0) & (my <= H - 1)
    assert inside.mean() > 0.99
    diff = np.abs(out - ref)[inside]
    print(f"fresh-interpreter correct() vs cv2.fisheye remap: max {diff.max():.2e}")
    assert diff.max() <= 1e-3


def test_cli_convert_gyroflow_to_lensfun_corrects_like_the_source(tmp_path, capsys):
    """`l2 lens convert` Gyroflow (Kannala–Brandt k1..k4) → lensfun XML (poly5 fit) at 960x540:

    - on the grid of points the residual is measured on (every 8 px) and over the whole frame,
      lensfunpy's correction map of the XML (fisheye → rectilinear, scale 1) is within the
      reported fit residual + 0.01 px of OpenCV's fisheye undistortion map of the source profile
      (measured: residual 0.1884 px, difference 0.1902 px);
    - l2tech's own lensfun engine on the XML gives lensfunpy's map within 0.01 px (measured 0.0028);
    - a checkerboard as the source lens images it, corrected by l2tech with the converted profile
      and by OpenCV with the source profile: the images differ by at most what a sampling
      position moved by (residual + 0.01) px can change a bilinear sample, i.e.
      (residual + 0.01) · √2 · the largest neighbouring-pixel step of the source at that place
      (measured: at most 0.77 of that bound).
    """
    import cv2

    from l2tech.cli.main import main
    from l2tech.correct import correct
    from l2tech.correct.maps import correction_warp
    from l2tech.optics import compose

    W, H = 960, 540
    src = shared_file(_HERO8)
    xml = tmp_path / "hero8.xml"
    assert main(["lens", "convert", str(src), "-o", str(xml), "--width", str(W), "--height", str(H), "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    residual = rep["residual_max_px"]
    assert rep["model"] == "poly5" and 0.05 < residual < 0.3  # k3, k4 have no lensfun term: a real residual

    prof = read_gyroflow(src)
    K, D, mx, my = _gyroflow_cv2_oracle(prof, W, H)
    source_map = np.stack([mx, my], -1)
    conv = read_profile(xml)
    focal = conv.distortion[0].focal_length_mm
    db = lensfunpy.Database(paths=[str(xml)], load_common=False, load_bundled=False)
    mod = lensfunpy.Modifier(db.lenses[0], db.lenses[0].crop_factor, W, H)
    mod.initialize(focal, 2.8, 1000.0, scale=1.0, targeom=lensfunpy.LensType.RECTILINEAR,
                   flags=lensfunpy.ModifyFlags.DISTORTION | lensfunpy.ModifyFlags.GEOMETRY)
    lf_map = mod.apply_geometry_distortion()
    grid_err = np.abs(lf_map - source_map)[::8, ::8].max()
    full_err = np.abs(lf_map - source_map).max()
    print(f"residual {residual:.4f} px; lensfunpy(XML) vs cv2(source): grid {grid_err:.4f}, full {full_err:.4f} px")
    assert grid_err <= residual + TOL_MAP_PX and full_err <= residual + TOL_MAP_PX

    cal = LensCalibration(conv, focal, None, None, conv.distortion[0], None, None)
    ours = compose.render_maps(correction_warp(cal, W, H, crop_factor=conv.crop_factor, projection="rectilinear"), 1.0)[0]
    engine_err = np.abs(ours - lf_map).max()
    print(f"l2tech lensfun engine vs lensfunpy on the XML: {engine_err:.4f} px")
    assert engine_err <= TOL_MAP_PX

    img = _fisheye_checkerboard(K, D, W, H)
    ref = cv2.remap(img, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)[..., 1]
    got = correct(img, conv, focal, scale=1.0, projection="rectilinear")[..., 1]
    g = img[..., 1]
    step = np.maximum(np.abs(np.diff(g, axis=1, append=g[:, -1:])), np.abs(np.diff(g, axis=0, append=g[-1:])))
    step = cv2.dilate(step, np.ones((3, 3), np.uint8))  # largest step within a pixel of each place
    bound = (residual + TOL_MAP_PX) * np.sqrt(2) * cv2.remap(step, mx, my, cv2.INTER_NEAREST) + 1e-4
    ratio = np.abs(got - ref) / bound
    assert np.abs(got - ref).max() > 1e-3  # the fit residual is visible: the comparison can fail
    print(f"checkerboard: max |difference| {np.abs(got - ref).max():.4f}, at most {ratio.max():.2f} of the bound")
    assert ratio.max() <= 1.0


# ---- output files: permissions and atomic replace ---------------------------------------------------

_PINHOLE_YAML = """%YAML:1.0
image_width: 640
image_height: 480
camera_matrix: !!opencv-matrix
   rows: 3
   cols: 3
   dt: d
   data: [ 500., 0., 320., 0., 500., 240., 0., 0., 1. ]
distortion_coefficients: !!opencv-matrix
   rows: 1
   cols: 5
   dt: d
   data: [ -0.1, 0.02, 0., 0., 0. ]
"""


@pytest.fixture
def umask_022():
    import os

    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("to, name", [("lensfun", "out.xml"), ("gyroflow", "out.json")])
def test_cli_convert_output_mode_0644_and_overwrite(tmp_path, capsys, umask_022, to, name):
    """``l2 lens convert -o`` writes a 0644 file under umask 022 (it was 0600 from mkstemp), leaves no
    temp file, refuses an existing output without --overwrite and replaces it with it."""
    import os
    import stat

    from l2tech.cli.main import main

    src = tmp_path / "calib.yaml"
    src.write_text(_PINHOLE_YAML)
    out = tmp_path / name
    assert main(["lens", "convert", str(src), "-o", str(out), "--to", to, "-q"]) == 0
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["calib.yaml", name])
    first = out.read_bytes()
    out.write_bytes(b"old")
    assert main(["lens", "convert", str(src), "-o", str(out), "--to", to, "-q"]) == 1
    assert "use --overwrite" in capsys.readouterr().err and out.read_bytes() == b"old"
    assert main(["lens", "convert", str(src), "-o", str(out), "--to", to, "--overwrite", "-q"]) == 0
    assert out.read_bytes() == first and stat.S_IMODE(os.stat(out).st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["calib.yaml", name])


def test_writers_keep_overwrite_semantics_and_mode(tmp_path, umask_022):
    """Library level: write_gyroflow refuses an existing file unless overwrite=True; write_lensfun_xml
    (whose callers decide about existing files) replaces it; both give 0644 under umask 022."""
    import os
    import stat

    from l2tech.errors import OutputError
    from l2tech.profiles.lensfun_xml import parse_lensfun_xml, write_lensfun_xml

    src = tmp_path / "calib.yaml"
    src.write_text(_PINHOLE_YAML)
    prof = read_profile(src)
    gj = tmp_path / "g.json"
    gj.write_text("{}")
    with pytest.raises(OutputError, match="output exists"):
        write_gyroflow(prof, gj)
    assert gj.read_text() == "{}"
    write_gyroflow(prof, gj, overwrite=True)
    assert json.loads(gj.read_text())["distortion_model"] == "opencv_standard"
    assert stat.S_IMODE(os.stat(gj).st_mode) == 0o644
    lf, _ = to_lensfun(prof, 640, 480, mount="Generic")
    xml = tmp_path / "l.xml"
    xml.write_text("old")
    write_lensfun_xml(xml, [lf])
    assert parse_lensfun_xml(xml).lenses and stat.S_IMODE(os.stat(xml).st_mode) == 0o644
    with pytest.raises(OutputError, match="does not exist"):
        write_lensfun_xml(tmp_path / "missing" / "l.xml", [lf])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["calib.yaml", "g.json", "l.xml"]
