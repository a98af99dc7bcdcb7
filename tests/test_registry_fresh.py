"""Every profile family, built in a fresh interpreter from its public constructor, corrects an image.

The geometry registry (``l2tech.optics.compose.GEOMETRY_MODELS``) must be complete whatever was
imported before: each family runs in its own subprocess that imports only the module of the
family's public constructor, builds the profile, then calls :func:`l2tech.correct.correct`.

What is measured: the image corrected is a coordinate ramp (R = x, G = y, B = 1, float32).
Bilinear resampling of a linear ramp is exact (OpenCV 5 remap uses exact fractional weights, and
so does the fused kernel), so at every output pixel whose source lies inside the frame the
corrected R, G equal the source coordinates the correction read: the correction map itself,
seen through the whole public path (profile → interpolate → registry → map → resample). That
map is compared with an independent oracle:

- lensfun poly3 / poly5 / ptlens: lensfunpy's ``Modifier.apply_geometry_distortion`` on the
  same XML (``lensfunpy.Database(xml=...)``);
- OpenCV pinhole, rational, thin prism and OpenCV YAML: ``cv2.initUndistortRectifyMap(K, D,
  None, K, (W, H), CV_32FC1)``;
- Kannala–Brandt, Gyroflow (``opencv_fisheye``), Adobe LCP fisheye:
  ``cv2.fisheye.initUndistortRectifyMap(K, D, I, K, (W, H), CV_32FC1)``;
- Adobe LCP rectilinear: ``cv2.initUndistortRectifyMap`` with the Adobe Camera Model's
  documented conversion (``fx = FocalLengthX · max(W, H)``, ``u0 = ImageXCenter · W``,
  ``D = (k1, k2, k4, k5, k3)``);
- DNG WarpRectilinear / WarpFisheye: the DNG specification's formulas evaluated here
  (``source = C + R (Δ f(r²) + Δ_t)``; fisheye ``C + R Δ/r θ (kr0 + kr1 θ² + ...)``).

Tolerance: ``TOL_MAP_PX`` = 0.01 px (float32 maps; measured worst over the families about
1e-3 px, lensfunpy's float32 arithmetic). Every family's distortion moves some pixel by more
than ``MIN_SHIFT_PX`` so the comparison can fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest

import l2tech

TOL_MAP_PX = 0.01
MIN_SHIFT_PX = 0.5
W, H = 96, 64  # 3:2, lensfun's default calibration aspect ratio

# ---------------------------------------------------------------------------------------------
# each family: (code building `profile` and `focal` from only its constructor's module, oracle)

_FX, _FY, _CX, _CY = 80.0, 81.0, 47.2, 31.9
_K = np.array([[_FX, 0.0, _CX], [0.0, _FY, _CY], [0.0, 0.0, 1.0]])


def _pixel_profile(model: str, terms: dict) -> str:
    t = dict(terms, fx=_FX, fy=_FY, cx=_CX, cy=_CY)
    return textwrap.dedent(f"""
        from l2tech.profiles.model import DistortionCalibration, LensProfile
        profile = LensProfile("Test", "{model}", distortion=(DistortionCalibration("{model}", 0.0, {t!r}),),
                              extra={{"calib_width_px": {W}, "calib_height_px": {H}}})
        focal = 10.0
    """)


def _cv_oracle(D) -> np.ndarray:
    mx, my = cv2.initUndistortRectifyMap(_K, np.asarray(D, np.float64), None, _K, (W, H), cv2.CV_32FC1)
    return np.stack([mx, my], -1)


def _fisheye_oracle(D, K=_K) -> np.ndarray:
    mx, my = cv2.fisheye.initUndistortRectifyMap(K, np.asarray(D, np.float64).reshape(4, 1), np.eye(3), K, (W, H),
                                                 cv2.CV_32FC1)
    return np.stack([mx, my], -1)


_LENSFUN_XML = """<lensdatabase version="1"><lens><maker>Test</maker><model>Test {model}</model>
<mount>Generic</mount><cropfactor>1.0</cropfactor>
<calibration><distortion model="{model}" focal="20" {attrs}/></calibration></lens></lensdatabase>"""


def _lensfun(model: str, attrs: str):
    xml = _LENSFUN_XML.format(model=model, attrs=attrs)
    code = textwrap.dedent(f"""
        from l2tech.profiles.lensfun_xml import parse_lensfun_xml
        profile = parse_lensfun_xml(os.path.join(tmp, "lens.xml")).lenses[0]
        focal = 20.0
    """)

    def oracle() -> np.ndarray:
        # lensfunpy 1.18 (lensfun 0.3.4): the same XML, distortion only, scale 1, one pixel per
        # call. (A whole-frame call goes through lensfun's SSE code for poly3 and ptlens, which
        # differs from its own scalar code by up to 0.51 px on this poly3 lens; the scalar code is
        # the reference, as in tests/test_lensfun_oracle.py.)
        import lensfunpy

        lens = lensfunpy.Database(xml=xml, load_common=False, load_bundled=False).lenses[0]
        mod = lensfunpy.Modifier(lens, 1.0, W, H)
        mod.initialize(20.0, 4.0, 10.0, scale=1.0, pixel_format=np.float32, flags=lensfunpy.ModifyFlags.DISTORTION)
        return np.array([[mod.apply_geometry_distortion(float(x), float(y), 1, 1)[0, 0] for x in range(W)]
                         for y in range(H)])

    return code, oracle, {"lens.xml": xml}


def _opencv_yaml():
    D = [-0.21, 0.06, 0.001, -0.0015, -0.01]
    code = textwrap.dedent("""
        from l2tech.profiles.opencv_yaml import read_opencv_yaml
        profile = read_opencv_yaml(os.path.join(tmp, "cam.yaml"))
        focal = 10.0
    """)
    return code, lambda: _cv_oracle(D), {"cam.yaml": ("opencv", D)}


def _gyroflow():
    D = [0.05, -0.02, 0.004, -0.001]
    doc = {"calib_dimension": {"w": W, "h": H}, "asymmetrical": True, "distortion_model": "opencv_fisheye",
           "fisheye_params": {"camera_matrix": _K.tolist(), "distortion_coeffs": D}}
    code = textwrap.dedent("""
        from l2tech.profiles.gyroflow import read_gyroflow
        profile = read_gyroflow(os.path.join(tmp, "lens.json"))
        focal = 10.0
    """)
    return code, lambda: _fisheye_oracle(D), {"lens.json": json.dumps(doc)}


_LCP = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
   xmlns:stCamera="http://ns.adobe.com/photoshop/1.0/camera-profile">
  <photoshop:CameraProfiles><rdf:Seq><rdf:li>
   <rdf:Description stCamera:Author="test" stCamera:Make="Canon" stCamera:Model="Canon EOS 6D"
     stCamera:Lens="Test lens" stCamera:LensPrettyName="Test lens" stCamera:CameraRawProfile="True"
     stCamera:SensorFormatFactor="1" stCamera:FocalLength="24" stCamera:FocusDistance="1000"
     stCamera:ApertureValue="4">
    <stCamera:{model}><rdf:Description stCamera:Version="2" stCamera:FocalLengthX="{fx}" stCamera:FocalLengthY="{fx}"
      stCamera:ImageXCenter="{u}" stCamera:ImageYCenter="{v}" stCamera:RadialDistortParam1="{k1}"
      stCamera:RadialDistortParam2="{k2}" stCamera:RadialDistortParam3="{k3}"
      stCamera:TangentialDistortParam1="{k4}" stCamera:TangentialDistortParam2="{k5}"/></stCamera:{model}>
   </rdf:Description>
  </rdf:li></rdf:Seq></photoshop:CameraProfiles>
 </rdf:Description></rdf:RDF></x:xmpmeta>"""


def _lcp(fisheye: bool):
    fx, u, v = 0.9, 0.502, 0.497
    k = (0.04, -0.01, 0.0, 0.0, 0.0) if fisheye else (-0.12, 0.03, 0.002, 0.001, -0.0008)
    text = _LCP.format(model="FisheyeModel" if fisheye else "PerspectiveModel", fx=fx, u=u, v=v,
                       k1=k[0], k2=k[1], k3=k[2], k4=k[3], k5=k[4])
    code = textwrap.dedent("""
        from l2tech.profiles.lcp import parse_lcp
        with open(os.path.join(tmp, "lens.lcp"), "rb") as fh:
            profile = parse_lcp(fh.read(), "lens.lcp")
        focal = 24.0
    """)
    # Adobe Camera Model: fx = FocalLengthX * max(W, H), u0 = ImageXCenter * W (RawTherapee lcp.cc)
    K = np.array([[fx * W, 0.0, u * W], [0.0, fx * W, v * H], [0.0, 0.0, 1.0]])

    def oracle() -> np.ndarray:
        if fisheye:  # observed radius theta (1 + k1 theta^2 + k2 theta^4): cv2.fisheye with k3 = k4 = 0
            return _fisheye_oracle([k[0], k[1], 0.0, 0.0], K)
        mx, my = cv2.initUndistortRectifyMap(K, np.array([k[0], k[1], k[3], k[4], k[2]]), None, K, (W, H), cv2.CV_32FC1)
        return np.stack([mx, my], -1)

    return code, oracle, {"lens.lcp": text}


def _dng(fisheye: bool):
    cx, cy = 0.51, 0.48
    plane = (1.0, -0.09, 0.02, 0.0) if fisheye else (0.99, -0.07, 0.015, 0.0, 0.002, -0.001)
    opcode = 2 if fisheye else 1
    code = textwrap.dedent(f"""
        from l2tech.profiles.dng_opcodes import DngOpcode, opcodes_to_profile
        op = DngOpcode(opcode_id={opcode}, name="Warp", version=0x01030000, flags=0,
                       params={{"planes": [{plane!r}], "cx": {cx}, "cy": {cy}}}, data=b"")
        profile = opcodes_to_profile({{3: (op,)}}, maker="Test", model="DNG", focal_length_mm=24.0)
        focal = 24.0
    """)

    def oracle() -> np.ndarray:
        # DNG 1.6 spec, "WarpRectilinear" / "WarpFisheye": C = (cx W, cy H), R = the largest
        # distance from C to a corner of [0, W] x [0, H]; delta = (p - C) / R, r^2 = min(|delta|^2, 1)
        Cx, Cy = cx * W, cy * H
        R = max(np.hypot(Cx - x, Cy - y) for x in (0.0, W) for y in (0.0, H))
        u, v = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
        dx, dy = (u - Cx) / R, (v - Cy) / R
        r2 = np.minimum(dx * dx + dy * dy, 1.0)
        if fisheye:
            r = np.sqrt(r2)
            th = np.arctan(r)
            rd = th * (plane[0] + plane[1] * th**2 + plane[2] * th**4 + plane[3] * th**6)
            s = np.where(r > 0, rd / np.where(r > 0, r, 1.0), plane[0])
            sx, sy = dx * s, dy * s
        else:
            kr0, kr1, kr2, kr3, kt0, kt1 = plane
            f = kr0 + kr1 * r2 + kr2 * r2**2 + kr3 * r2**3
            sx = dx * f + kt1 * (r2 + 2 * dx * dx) + 2 * kt0 * dx * dy
            sy = dy * f + kt0 * (r2 + 2 * dy * dy) + 2 * kt1 * dx * dy
        return np.stack([Cx + R * sx, Cy + R * sy], -1)

    return code, oracle, {}


_PINHOLE = {"k1": -0.2, "k2": 0.05, "p1": 0.001, "p2": -0.002, "k3": -0.01}
_RATIONAL = dict(_PINHOLE, k4=0.02, k5=-0.01, k6=0.004)
_PRISM = dict(_RATIONAL, s1=0.002, s2=-0.001, s3=0.0015, s4=0.0005)
_KB = {"k1": 0.06, "k2": -0.03, "k3": 0.005, "k4": -0.001}


def _cv_order(t: dict) -> list[float]:
    return [t.get(k, 0.0) for k in ("k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6", "s1", "s2", "s3", "s4")]


FAMILIES = {
    "lensfun_poly3": _lensfun("poly3", 'k1="-0.06"'),
    "lensfun_poly5": _lensfun("poly5", 'k1="-0.1" k2="0.03"'),
    "lensfun_ptlens": _lensfun("ptlens", 'a="0.01" b="-0.05" c="0.02"'),
    "opencv_pinhole": (_pixel_profile("opencv", _PINHOLE), lambda: _cv_oracle(_cv_order(_PINHOLE)[:5]), {}),
    "opencv_rational": (_pixel_profile("opencv", _RATIONAL), lambda: _cv_oracle(_cv_order(_RATIONAL)[:8]), {}),
    "opencv_thin_prism": (_pixel_profile("opencv", _PRISM), lambda: _cv_oracle(_cv_order(_PRISM)), {}),
    "kannala_brandt": (_pixel_profile("kannala_brandt", _KB), lambda: _fisheye_oracle([_KB[k] for k in ("k1", "k2", "k3", "k4")]), {}),
    "opencv_yaml": _opencv_yaml(),
    "gyroflow": _gyroflow(),
    "adobe_lcp_rectilinear": _lcp(fisheye=False),
    "adobe_lcp_fisheye": _lcp(fisheye=True),
    "dng_warp_rectilinear": _dng(fisheye=False),
    "dng_warp_fisheye": _dng(fisheye=True),
}

_SCRIPT = """
import os, sys
import numpy as np
tmp = sys.argv[1]
{build}
optics_before = sorted(m for m in sys.modules if m.startswith("l2tech.optics."))
from l2tech.correct import correct
gx, gy = np.meshgrid(np.arange({W}, dtype=np.float32), np.arange({H}, dtype=np.float32))
ramp = np.stack([gx, gy, np.ones_like(gx)], -1)
out = correct(ramp, profile, focal, scale=1.0, vignetting=False, tca=False)
np.save(os.path.join(tmp, "out.npy"), out)
print(" ".join(optics_before))
"""


def _write_inputs(tmp: Path, files: dict) -> None:
    for name, content in files.items():
        if name == "cam.yaml":  # written by OpenCV itself, as calibration tools do
            fs = cv2.FileStorage(str(tmp / name), cv2.FILE_STORAGE_WRITE)
            fs.write("image_width", W)
            fs.write("image_height", H)
            fs.write("camera_matrix", _K)
            fs.write("distortion_coefficients", np.asarray(content[1], np.float64).reshape(1, -1))
            fs.release()
        else:
            (tmp / name).write_text(content)


@pytest.fixture(scope="module")
def fresh_runs(tmp_path_factory):
    """Start every family's interpreter at once (they are independent), then collect."""
    src = str(Path(l2tech.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]))
    procs = {}
    for name, (build, _oracle, files) in FAMILIES.items():
        tmp = tmp_path_factory.mktemp(name)
        _write_inputs(tmp, files)
        script = _SCRIPT.format(build=build, W=W, H=H)
        procs[name] = (tmp, subprocess.Popen([sys.executable, "-c", script, str(tmp)], env=env,
                                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    results = {}
    for name, (tmp, p) in procs.items():
        out, err = p.communicate(timeout=120)
        results[name] = (p.returncode, out, err, tmp)
    return results


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_family_corrects_in_fresh_interpreter(fresh_runs, family):
    rc, out, err, tmp = fresh_runs[family]
    assert rc == 0, f"{family}: the fresh interpreter failed:\n{err[-2000:]}"
    got = np.load(tmp / "out.npy")
    ref = FAMILIES[family][1]().astype(np.float64)
    ident = np.stack(np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64)), -1)
    assert np.abs(ref - ident).max() > MIN_SHIFT_PX, "the oracle barely distorts: the test could not fail"
    # where the source lies inside the frame (pixel centres), the ramp is read without clamping
    inside = (ref[..., 0] >= 0) & (ref[..., 0] <= W - 1) & (ref[..., 1] >= 0) & (ref[..., 1] <= H - 1)
    assert inside.mean() > 0.8
    err_px = np.abs(got[..., :2] - ref)[inside].max()
    assert err_px <= TOL_MAP_PX, f"{family}: map differs from the oracle by {err_px:.4g} px"
    assert np.all(got[..., 2][inside] == 1.0)  # no gain applied: geometry only
