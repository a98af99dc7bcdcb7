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

from l2tech.correct.maps import correction_maps
from l2tech.errors import InvalidProfileError
from l2tech.optics.adobe import adobe_tca_maps, adobe_vignetting_gain, correction_map_adobe
from l2tech.optics.opencv import distort_normalized_opencv, undistort_normalized_opencv
from l2tech.profiles.lcp import LCPEntryWarning, apex_to_f_number, interpolate_lcp, parse_lcp, read_lcp
from l2tech.profiles.model import LensCalibration

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
    with pytest.warns(LCPEntryWarning, match=r"bad\.lcp: LCP entry 2 PerspectiveModel: FocalLengthX is 'abc'"):
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
    cal = interpolate_lcp(prof, 24.0, 4.0, 1000.0)
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


def test_interpolation_and_vignetting():
    prof = parse_lcp(_lcp(*ENTRIES), "x.lcp")
    cal = interpolate_lcp(prof, 50.0, 4.0, None)
    t = (50 - 24) / (105 - 24)
    assert cal.distortion.terms["FocalLengthX"] == pytest.approx((1 - t) * 0.72 + t * 3.1)
    assert cal.distortion.terms["RadialDistortParam1"] == pytest.approx((1 - t) * -0.18 + t * 0.02)
    cal14 = interpolate_lcp(prof, 24.0, 1.4, None)
    assert cal14.vignetting.terms["VignetteModelParam1"] == -0.6
    g = adobe_vignetting_gain(W, H, cal14.vignetting.terms)
    K = _K(0.72)
    r2 = ((0 - K[0, 2]) ** 2 + (0 - K[1, 2]) ** 2) / K[0, 0] ** 2
    assert g[0, 0] == pytest.approx(1 / (1 - 0.6 * r2 + 0.1 * r2**2), rel=1e-6)
    with pytest.raises(InvalidProfileError, match="falls to zero"):
        adobe_vignetting_gain(W, H, dict(FocalLengthX=0.3, VignetteModelParam1=-2.0))


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
