"""Adobe LCP profiles and the Adobe camera model.

No .lcp with a clear licence is public (../shared/data/profiles/LENSFUN_DB_LOCATION.md), so the
tests write LCP files with the published structure (Adobe Lens Profile Creator output: x:xmpmeta /
rdf:RDF / photoshop:CameraProfiles / rdf:Seq / rdf:li / stCamera:PerspectiveModel ...). The
rectilinear model is OpenCV's (k4, k5 tangential) and the fisheye model Kannala-Brandt, so OpenCV
is the oracle once the LCP units are converted (fx = FocalLengthX * max(W, H), u0 = ImageXCenter * W).
"""

from __future__ import annotations

import warnings

import cv2
import numpy as np
import pytest

from l2tech.correct import correct
from l2tech.correct.maps import correction_maps
from l2tech.errors import InvalidProfileError
from l2tech.optics.adobe import adobe_tca_maps, adobe_vignetting_gain, correction_map_adobe
from l2tech.optics.opencv import distort_normalized_opencv, undistort_normalized_opencv
from l2tech.pipeline import Recipe, plan_lens_correction
from l2tech.profiles.interpolate import interpolate
from l2tech.profiles.lcp import LCPEntryWarning, apex_to_f_number, parse_lcp, read_lcp
from l2tech.profiles.model import DistortionCalibration, LensCalibration, VignettingCalibration

TOL_MAP_PX = 0.01
TOL_ROUND_TRIP_PX = 0.001


def _entry(focal, dist, av, fx, k1, k2, k3=0.0, t1=0.0, t2=0.0, fisheye=False, vig=(-0.3, 0.05, 0.0), ca=True, fx_text=None):
    model = "FisheyeModel" if fisheye else "PerspectiveModel"
    fxs = fx_text if fx_text is not None else repr(fx)
    ca_xml = ""
    if ca:
        ca_xml = f"""
       <stCamera:ChromaticRedGreenModel><rdf:Description stCamera:FocalLengthX="{fx}" stCamera:FocalLengthY="{fx}"
          stCamera:RadialDistortParam1="0.0002" stCamera:ScaleFactor="1.0004"/></stCamera:ChromaticRedGreenModel>
       <stCamera:ChromaticBlueGreenModel><rdf:Description stCamera:FocalLengthX="{fx}" stCamera:FocalLengthY="{fx}"
          stCamera:RadialDistortParam1="-0.0001" stCamera:ScaleFactor="0.9997"/></stCamera:ChromaticBlueGreenModel>"""
    return f"""
     <rdf:li>
      <rdf:Description stCamera:Author="test" stCamera:Make="Canon" stCamera:Model="Canon EOS 6D"
        stCamera:Lens="EF24-105mm f/4L IS USM" stCamera:LensPrettyName="Canon EF 24-105mm f/4L IS USM"
        stCamera:CameraRawProfile="True" stCamera:SensorFormatFactor="1"
        stCamera:FocalLength="{focal}" stCamera:FocusDistance="{dist}" stCamera:ApertureValue="{av}">
       <stCamera:{model}>
        <rdf:Description stCamera:Version="2" stCamera:FocalLengthX="{fxs}" stCamera:FocalLengthY="{fx}"
          stCamera:ImageXCenter="0.502" stCamera:ImageYCenter="0.497"
          stCamera:RadialDistortParam1="{k1}" stCamera:RadialDistortParam2="{k2}" stCamera:RadialDistortParam3="{k3}"
          stCamera:TangentialDistortParam1="{t1}" stCamera:TangentialDistortParam2="{t2}">
         <stCamera:VignetteModel><rdf:Description stCamera:FocalLengthX="{fx}" stCamera:FocalLengthY="{fx}"
            stCamera:VignetteModelParam1="{vig[0]}" stCamera:VignetteModelParam2="{vig[1]}"
            stCamera:VignetteModelParam3="{vig[2]}"/></stCamera:VignetteModel>{ca_xml}
        </rdf:Description>
       </stCamera:{model}>
      </rdf:Description>
     </rdf:li>"""


def _lcp(*entries, prolog=""):
    return (prolog + """<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 5.2-c003">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:stCamera="http://ns.adobe.com/photoshop/1.0/camera-profile">
   <photoshop:CameraProfiles>
    <rdf:Seq>""" + "".join(entries) + """
    </rdf:Seq>
   </photoshop:CameraProfiles>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
""").encode()


ENTRIES = [
    _entry(24, 1000, 4.0, 0.72, -0.18, 0.06, 0.0, 1e-4, -2e-4),
    _entry(24, 1000, 0.970854, 0.72, -0.18, 0.06, 0.0, 1e-4, -2e-4, vig=(-0.6, 0.1, 0.0)),
    _entry(24, 0.5, 4.0, 0.73, -0.17, 0.05),
    _entry(105, 1000, 4.0, 3.1, 0.02, -0.01),
]


def test_apex_aperture():
    assert apex_to_f_number(0.970854) == pytest.approx(1.4, abs=5e-4)  # Av 0.970854 is f/1.4
    assert apex_to_f_number(4.0) == 4.0 and apex_to_f_number(6.0) == 8.0


def test_read_lcp_every_entry(tmp_path):
    p = tmp_path / "canon.lcp"
    p.write_bytes(_lcp(*ENTRIES))
    prof = read_lcp(p)
    assert prof.model == "EF24-105mm f/4L IS USM" and prof.maker == "Canon"
    assert (prof.focal_min_mm, prof.focal_max_mm) == (24.0, 105.0)
    assert len(prof.distortion) == 4 and len(prof.tca) == 4 and len(prof.vignetting) == 4
    assert sorted(v.f_number for v in prof.vignetting) == pytest.approx([1.4, 4.0, 4.0, 4.0], abs=5e-4)
    d = prof.distortion[0]
    assert d.model == "adobe_rectilinear" and d.terms["RadialDistortParam1"] == -0.18
    assert d.terms["TangentialDistortParam2"] == -2e-4 and d.terms["ImageXCenter"] == 0.502
    assert prof.tca[0].terms["R_ScaleFactor"] == 1.0004 and prof.tca[0].terms["B_RadialDistortParam1"] == -0.0001


def test_bad_entry_skipped_with_warning(tmp_path):
    p = tmp_path / "bad.lcp"
    p.write_bytes(_lcp(ENTRIES[0], _entry(50, 1000, 4.0, 1.5, 0.0, 0.0, fx_text="abc"), ENTRIES[3]))
    with pytest.warns(LCPEntryWarning, match=r"bad\.lcp: LCP lens 'Canon EF 24-105mm f/4L IS USM' entry 2 PerspectiveModel: FocalLengthX is 'abc'"):
        prof = read_lcp(p)
    assert [d.focal_length_mm for d in prof.distortion] == [24.0, 105.0]


def test_unsafe_xml_refused(tmp_path):
    p = tmp_path / "lol.lcp"
    p.write_bytes(_lcp(ENTRIES[0], prolog='<?xml version="1.0"?>\n<!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>\n'))
    with pytest.raises(InvalidProfileError, match=r"lol\.lcp: XML with a DOCTYPE"):
        read_lcp(p)
    p.write_bytes(b'<?xml version="1.0"?>\n<!DOCTYPE x SYSTEM "file:///etc/passwd">\n<x/>')
    with pytest.raises(InvalidProfileError, match="DOCTYPE"):
        read_lcp(p)
    p.write_bytes(b"<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    with pytest.raises(InvalidProfileError, match="no photoshop:CameraProfiles"):
        read_lcp(p)


W, H = 600, 400


def _K(fx, cx=0.502, cy=0.497):
    D = max(W, H)
    return np.array([[fx * D, 0, cx * W], [0, fx * D, cy * H], [0, 0, 1.0]])


def test_adobe_rectilinear_vs_opencv_and_round_trip():
    params = dict(FocalLengthX=0.72, FocalLengthY=0.72, ImageXCenter=0.502, ImageYCenter=0.497,
                  RadialDistortParam1=-0.18, RadialDistortParam2=0.06, RadialDistortParam3=0.01,
                  TangentialDistortParam1=1e-4, TangentialDistortParam2=-2e-4)
    K = _K(0.72)
    D = np.array([-0.18, 0.06, 1e-4, -2e-4, 0.01])  # k1 k2 p1=k4 p2=k5 k3
    m1, m2 = cv2.initUndistortRectifyMap(K, D, None, K, (W, H), cv2.CV_32FC1)
    ours = correction_map_adobe(W, H, params)
    assert max(np.abs(ours[..., 0] - m1).max(), np.abs(ours[..., 1] - m2).max()) <= TOL_MAP_PX
    terms = dict(k1=-0.18, k2=0.06, k3=0.01, p1=1e-4, p2=-2e-4)
    rng = np.random.default_rng(7)
    xd = rng.uniform(-0.6, 0.6, size=(2000, 2))
    back = distort_normalized_opencv(undistort_normalized_opencv(xd, terms), terms)
    assert np.abs(back - xd).max() * K[0, 0] <= TOL_ROUND_TRIP_PX


def test_adobe_fisheye_vs_cv2_fisheye():
    params = dict(FocalLengthX=0.35, FocalLengthY=0.35, ImageXCenter=0.502, ImageYCenter=0.497,
                  RadialDistortParam1=-0.02, RadialDistortParam2=0.003)
    K = _K(0.35)
    P = K.copy()
    m1, m2 = cv2.fisheye.initUndistortRectifyMap(K, np.array([-0.02, 0.003, 0, 0]), np.eye(3), P, (W, H), cv2.CV_32FC1)
    ours = correction_map_adobe(W, H, params, fisheye=True)
    assert max(np.abs(ours[..., 0] - m1).max(), np.abs(ours[..., 1] - m2).max()) <= TOL_MAP_PX


def test_engine_uses_adobe_family(tmp_path):
    prof = parse_lcp(_lcp(*ENTRIES), "x.lcp")
    cal = interpolate(prof, 24.0, 4.0, 1000.0)
    assert cal.distortion.terms["FocalLengthX"] == 0.72  # infinity entry chosen over 0.5 m
    maps = correction_maps(cal, W, H, scale=1.0)
    assert maps.per_channel
    ref = correction_map_adobe(W, H, cal.distortion.terms)
    assert np.abs(maps.maps[1] - ref).max() <= TOL_MAP_PX  # green = main model
    tca = adobe_tca_maps(W, H, cal.distortion.terms,
                         {k[2:]: v for k, v in cal.tca.terms.items() if k.startswith("R_")},
                         {k[2:]: v for k, v in cal.tca.terms.items() if k.startswith("B_")})
    assert np.abs(maps.maps[0] - tca[..., 0, :]).max() <= TOL_MAP_PX
    # red at a point: centre + 1.0004 * (1 + 0.0002 r_g^2) * (green - centre), r_g in focal units
    K = _K(0.72)
    g = ref[50, 40].astype(np.float64)
    xg = (g - K[[0, 1], [2, 2]]) / K[0, 0]
    red = K[[0, 1], [2, 2]] + 1.0004 * (1 + 0.0002 * (xg @ xg)) * xg * K[0, 0]
    assert np.abs(maps.maps[0][50, 40] - red).max() <= TOL_MAP_PX


# A tiny LCP with 2 focal lengths x 2 focus distances (all at f/4, Av = 4), written by the tests.
# (focal mm, focus distance m, FocalLengthX, RadialDistortParam1, VignetteModelParam1)
GRID = [(24, 1, 0.70, -0.20, -0.40), (24, 4, 0.72, -0.16, -0.30), (70, 1, 2.00, 0.04, -0.20), (70, 4, 2.10, 0.02, -0.10)]
TOL_HAND = 1e-9  # hand values below are written to 10+ digits or as exact fractions


def _grid_lcp(tmp_path):
    p = tmp_path / "grid.lcp"
    p.write_bytes(_lcp(*(_entry(f, d, 4.0, fx, k1, 0.0, vig=(v, 0.0, 0.0), ca=False) for f, d, fx, k1, v in GRID)))
    return p


def test_lcp_interpolates_focal_and_focus_distance_by_hand(tmp_path):
    """The documented LCP rule (interpolate_lcp), through the front door production calls.

    Shot: 35 mm, 2 m, f/4. Focal: t = (35 - 24) / (70 - 24) = 11/46 (weights 35/46, 11/46).
    Focus distance, linear in u = 1/d: u = 1/2 between u = 1/4 (4 m) and u = 1 (1 m):
    s = (1/2 - 1/4) / (1 - 1/4) = 1/3 toward the 1 m entry, 2/3 toward the 4 m entry.
      FocalLengthX   24 mm: 2/3*0.72 + 1/3*0.70 = 0.713333..   70 mm: 2/3*2.10 + 1/3*2.00 = 2.066666..
                     shot: (35*0.713333.. + 11*2.066666..) / 46 = 47.7 / 46 = 1.036956521739
      RadialDistortParam1  24 mm: 2/3*-0.16 + 1/3*-0.20 = -0.173333..   70 mm: 2/3*0.02 + 1/3*0.04 = 0.026666..
                     shot: (35*-0.173333.. + 11*0.026666..) / 46 = -5.773333.. / 46 = -0.125507246377
      VignetteModelParam1  24 mm: 2/3*-0.30 + 1/3*-0.40 = -0.333333..   70 mm: 2/3*-0.10 + 1/3*-0.20 = -0.133333..
                     shot: (35*-0.333333.. + 11*-0.133333..) / 46 = -13.133333.. / 46 = -0.285507246377
    """
    prof = read_lcp(_grid_lcp(tmp_path))
    cal = interpolate(prof, 35.0, 4.0, 2.0)
    assert cal.distortion.terms["FocalLengthX"] == pytest.approx(47.7 / 46, abs=TOL_HAND)
    assert cal.distortion.terms["FocalLengthX"] == pytest.approx(1.036956521739, abs=TOL_HAND)
    assert cal.distortion.terms["RadialDistortParam1"] == pytest.approx(-0.125507246377, abs=TOL_HAND)
    assert cal.vignetting.terms["VignetteModelParam1"] == pytest.approx(-0.285507246377, abs=TOL_HAND)
    assert cal.distortion.terms["FocusDistance"] == 2.0
    # at an entry's own keys: that entry exactly (24 mm, 4 m)
    exact = interpolate(prof, 24.0, 4.0, 4.0)
    assert (exact.distortion.terms["FocalLengthX"], exact.distortion.terms["RadialDistortParam1"]) == (0.72, -0.16)
    assert exact.vignetting.terms["VignetteModelParam1"] == -0.30
    # focus distance matters: at 24 mm, 1 m gives the 1 m entry, 4 m the 4 m entry (the old code
    # took the first entry whatever the distance)
    assert interpolate(prof, 24.0, 4.0, 1.0).distortion.terms["FocalLengthX"] == 0.70
    # outside the calibrated distances: clamped (0.5 m -> the 1 m entry; infinity -> the 4 m entry)
    assert interpolate(prof, 70.0, 4.0, 0.5).distortion.terms["RadialDistortParam1"] == 0.04
    assert interpolate(prof, 70.0, 4.0, float("inf")).distortion.terms["RadialDistortParam1"] == 0.02
    assert interpolate(prof, 70.0, 4.0, None).distortion.terms["RadialDistortParam1"] == 0.02  # default 1000 m
    # only the focal length varies (infinity focus): 50 mm -> 24/46 of the way, linear
    # FocalLengthX = 0.72 + (50 - 24) / 46 * (2.10 - 0.72) = 1.5
    assert interpolate(prof, 50.0, None, None).distortion.terms["FocalLengthX"] == pytest.approx(1.5, abs=TOL_HAND)


def test_lcp_interpolation_of_the_reviewed_profile():
    """The four-entry profile above at 50 mm, f/4, infinity: linear in focal length between the
    24 mm infinity entries (FocalLengthX 0.72, identical for Av 4 and Av 0.970854, averaged) and
    105 mm (3.1): 0.72 + (50 - 24) / (105 - 24) * (3.1 - 0.72) = 0.72 + 26/81 * 2.38 = 1.483950617284
    (lensfun's focal-weighted spline, which production used before, gives 1.868)."""
    prof = parse_lcp(_lcp(*ENTRIES), "x.lcp")
    cal = interpolate(prof, 50.0, 4.0, None)
    assert cal.distortion.terms["FocalLengthX"] == pytest.approx(1.483950617284, abs=TOL_HAND)
    # RadialDistortParam1 = -0.18 + 26/81 * (0.02 + 0.18) = -0.115802469136
    assert cal.distortion.terms["RadialDistortParam1"] == pytest.approx(-0.115802469136, abs=TOL_HAND)
    # aperture (vignetting only), linear in APEX Av between f/1.4 (Av 0.970854, -0.6) and f/4
    # (Av 4, -0.3) at 24 mm, infinity: Av(f/2) = 2; -0.6 + (2 - 0.970854) / (4 - 0.970854) * 0.3
    # = -0.6 + 1.029146 / 3.029146 * 0.3 = -0.6 + 0.3397479 * 0.3 = -0.4980756
    v = interpolate(prof, 24.0, 2.0, 1000.0).vignetting.terms["VignetteModelParam1"]
    assert v == pytest.approx(-0.6 + (2 - 0.970854) / (4 - 0.970854) * 0.3, abs=TOL_HAND)
    assert v == pytest.approx(-0.4980756, abs=1e-6)
    cal14 = interpolate(prof, 24.0, 1.4, None)
    assert cal14.vignetting.terms["VignetteModelParam1"] == pytest.approx(-0.6, abs=2e-4 * 0.3)  # Av 0.970854 is f/1.4000
    g = adobe_vignetting_gain(W, H, {**cal14.vignetting.terms, "VignetteModelParam1": -0.6})
    K = _K(0.72)
    r2 = ((0 - K[0, 2]) ** 2 + (0 - K[1, 2]) ** 2) / K[0, 0] ** 2
    assert g[0, 0] == pytest.approx(1 / (1 - 0.6 * r2 + 0.1 * r2**2), rel=1e-6)
    with pytest.raises(InvalidProfileError, match="falls to zero"):
        adobe_vignetting_gain(W, H, dict(FocalLengthX=0.3, VignetteModelParam1=-2.0))


def test_production_path_uses_the_lcp_rule(tmp_path):
    """The stills pipeline (plan_lens_correction -> correct) corrects with the hand values above:
    the image it gives equals the one corrected with a calibration built from those numbers."""
    path = _grid_lcp(tmp_path)
    recipe = Recipe(profile=str(path), focal_length_mm=35.0, f_number=4.0, focus_distance_m=2.0)
    plan = plan_lens_correction(None, recipe)
    assert (plan.focal_length_mm, plan.f_number, plan.focus_distance_m) == (35.0, 4.0, 2.0)
    assert plan.applied["distortion"] and plan.applied["vignetting"]
    hand_d = {"FocalLengthX": 1.036956521739, "FocalLengthY": 1.036956521739, "ImageXCenter": 0.502,
              "ImageYCenter": 0.497, "RadialDistortParam1": -0.125507246377, "RadialDistortParam2": 0.0,
              "RadialDistortParam3": 0.0, "TangentialDistortParam1": 0.0, "TangentialDistortParam2": 0.0}
    hand_v = {"FocalLengthX": 1.036956521739, "FocalLengthY": 1.036956521739, "ImageXCenter": 0.502,
              "ImageYCenter": 0.497, "VignetteModelParam1": -0.285507246377, "VignetteModelParam2": 0.0,
              "VignetteModelParam3": 0.0}
    hand = LensCalibration(plan.profile, 35.0, 4.0, 2.0, DistortionCalibration("adobe_rectilinear", 35.0, hand_d), None,
                           VignettingCalibration("adobe_vignette", 35.0, 4.0, 2.0, hand_v))
    rng = np.random.default_rng(3)
    img = rng.uniform(0.05, 1.0, size=(H, W, 3)).astype(np.float32)
    ours = correct(img, plan.profile, plan.focal_length_mm, plan.f_number, plan.focus_distance_m, scale=1.0)
    ref = correct(img, hand, scale=1.0)
    # the hand values are rounded to 1e-12: the maps agree far below 1e-6 px, the pixels to float32 noise
    assert np.abs(ours - ref).max() <= 1e-5


def test_lcp_element_form_and_fisheye():
    # the same properties written as elements (rdf:parseType="Resource"), fisheye model
    entry = """
     <rdf:li rdf:parseType="Resource">
      <stCamera:Make>Sigma</stCamera:Make>
      <stCamera:Lens>8mm F3.5 EX DG CIRCULAR FISHEYE</stCamera:Lens>
      <stCamera:FocalLength>8</stCamera:FocalLength>
      <stCamera:FocusDistance>10</stCamera:FocusDistance>
      <stCamera:ApertureValue>3.61471</stCamera:ApertureValue>
      <stCamera:FisheyeModel rdf:parseType="Resource">
       <stCamera:FocalLengthX>0.243</stCamera:FocalLengthX>
       <stCamera:FocalLengthY>0.243</stCamera:FocalLengthY>
       <stCamera:RadialDistortParam1>-0.0105</stCamera:RadialDistortParam1>
       <stCamera:RadialDistortParam2>0.0012</stCamera:RadialDistortParam2>
      </stCamera:FisheyeModel>
     </rdf:li>"""
    prof = parse_lcp(_lcp(entry), "sigma.lcp")
    (d,) = prof.distortion
    assert prof.lens_type == "fisheye" and d.model == "adobe_fisheye"
    assert (d.focal_length_mm, d.terms["FocalLengthX"], d.terms["RadialDistortParam2"]) == (8.0, 0.243, 0.0012)
    assert prof.model == "8mm F3.5 EX DG CIRCULAR FISHEYE" and prof.vignetting == ()
