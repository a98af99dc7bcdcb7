"""Fuzz harnesses for every parser l2tech owns (issue 16 item 6; docs/RELIABILITY.md "Fuzzing").

Each harness is a :class:`Harness`: seed inputs (written here, plus the files kept in
``tests/fuzz/corpus/<name>/``), a Hypothesis strategy that mutates them (bit flips, byte
insertions and deletions, truncation, slices duplicated, and — for the text formats — numbers
replaced by hostile ones: ``1e308``, ``nan``, a 400-digit integer, ``-0`` ...), and a target
that parses the bytes. The only outcome allowed besides success is an
:class:`~l2tech.errors.L2Error`; any other exception (``OverflowError``, ``KeyError``,
``RecursionError``, ...) is a crash. Warnings the parsers give for bad entries are expected.

``tests/test_fuzz_parsers.py`` runs each harness briefly in the test suite;
``tests/fuzz/run_fuzz.py --minutes N`` runs them for long and keeps new inputs in the corpus.
Atheris (libFuzzer) is not used: it has no wheel for this Python; Hypothesis drives the same
mutations without coverage feedback.
"""

from __future__ import annotations

import json
import os
import re
import struct
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hypothesis import strategies as st

from l2tech.errors import L2Error

CORPUS = Path(__file__).resolve().parent / "corpus"

#: Numbers a hostile file puts where a parser expects a plausible one.
HOSTILE_NUMBERS = [b"0", b"-0", b"-1", b"1e308", b"-1e308", b"1e400", b"1e-400", b"nan", b"NaN", b"inf", b"-inf",
                   b"Infinity", b"9" * 400, b"-" + b"9" * 40, b"0x10", b"1e", b".", b"", b"65536", b"4294967297",
                   b"2147483648", b"1.5e+9", b"\xff", b"1,5"]

_NUMBER = re.compile(rb"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")


@st.composite
def mutated(draw: Callable, seeds: list[bytes], text: bool) -> bytes:
    """One seed with up to 8 random mutations."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, 8))):
        op = draw(st.integers(0, 6 if text else 5))
        n = len(data)
        pos = draw(st.integers(0, max(0, n - 1)))
        if op == 0 and n:  # flip one bit
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == 1:  # insert bytes
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif op == 2 and n:  # delete a run
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == 3 and n:  # truncate
            del data[pos:]
        elif op == 4 and n:  # duplicate a slice (nesting, repeated entries)
            end = min(n, pos + draw(st.integers(1, 256)))
            data[pos:pos] = data[pos:end]
        elif op == 5 and n >= 4:  # overwrite a 32-bit word (binary counts and sizes)
            at = draw(st.integers(0, n - 4))
            word = draw(st.sampled_from([0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x10000, 3, 0x7F800000, 0x7FC00000]))
            data[at : at + 4] = struct.pack(">I", word)
        elif op == 6:  # replace a number token by a hostile one
            tokens = list(_NUMBER.finditer(bytes(data)))
            if tokens:
                m = tokens[draw(st.integers(0, len(tokens) - 1))]
                data[m.start() : m.end()] = draw(st.sampled_from(HOSTILE_NUMBERS))
    return bytes(data)


@dataclass
class Harness:
    """A parser under fuzzing: its seeds, the file suffix it reads, and the call."""

    name: str
    suffix: str
    seeds: Callable[[], list[bytes]]
    target: Callable[[Path], object]
    text: bool = True

    def all_seeds(self) -> list[bytes]:
        """The built-in seeds and the corpus files (``tests/fuzz/corpus/<name>/``)."""
        out = list(self.seeds())
        folder = CORPUS / self.name
        if folder.is_dir():
            out += [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()]
        return out

    def strategy(self) -> st.SearchStrategy[bytes]:
        return mutated(self.all_seeds(), self.text)

    def run_one(self, data: bytes, workdir: Path) -> str:
        """Parse ``data``; return the outcome (``"ok"`` or the L2Error class); raise on a crash."""
        path = workdir / f"input{self.suffix}"
        path.write_bytes(data)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.target(path)
        except L2Error as exc:
            return type(exc).__name__
        return "ok"


# -- seeds ---------------------------------------------------------------------------------------

def _lensfun_seeds() -> list[bytes]:
    lens = """<lensdatabase version="2">
 <mount><name>Canon EF</name><compat>Canon EF-S</compat></mount>
 <camera><maker>Canon</maker><model>Canon EOS 6D</model><mount>Canon EF</mount><cropfactor>1</cropfactor></camera>
 <lens><maker>Canon</maker><model>Canon EF 24-105mm f/4L IS USM</model><mount>Canon EF</mount><cropfactor>1</cropfactor>
  <aspect-ratio>3:2</aspect-ratio><center x="0.01" y="-0.01"/><type>rectilinear</type>
  <calibration>
   <distortion model="ptlens" focal="24" a="0.0165" b="-0.0544" c="0.0103"/>
   <distortion model="poly3" focal="50" k1="-0.002"/>
   <distortion model="poly5" focal="105" k1="0.01" k2="-0.001" real-focal="100"/>
   <tca model="poly3" focal="24" vr="1.0002" vb="0.9998" cr="0.0001" cb="-0.0001" br="0" bb="0"/>
   <tca model="linear" focal="105" kr="1.0001" kb="0.9999"/>
   <vignetting model="pa" focal="24" aperture="4" distance="10" k1="-0.5" k2="0.2" k3="-0.05"/>
   <vignetting model="pa" focal="24" aperture="8" distance="1000" k1="-0.3" k2="0.1" k3="0"/>
  </calibration>
 </lens>
 <lens><maker>Samyang</maker><model>Samyang 8mm f/3.5 Fish-Eye CS</model><mount>Canon EF</mount><cropfactor>1.6</cropfactor>
  <type>fisheye_stereographic</type><calibration><distortion model="poly3" focal="8" k1="0.01"/></calibration></lens>
</lensdatabase>
"""
    return [lens.encode()]


def _lcp_seeds() -> list[bytes]:
    entry = """<rdf:li><rdf:Description stCamera:Author="t" stCamera:Make="Canon" stCamera:Model="Canon EOS 6D"
 stCamera:Lens="EF24-105mm f/4L IS USM" stCamera:LensPrettyName="Canon EF 24-105mm f/4L IS USM"
 stCamera:CameraRawProfile="True" stCamera:SensorFormatFactor="1" stCamera:FocalLength="24"
 stCamera:FocusDistance="1000" stCamera:ApertureValue="4">
 <stCamera:PerspectiveModel><rdf:Description stCamera:Version="2" stCamera:FocalLengthX="0.72" stCamera:FocalLengthY="0.72"
  stCamera:ImageXCenter="0.502" stCamera:ImageYCenter="0.497" stCamera:RadialDistortParam1="-0.18"
  stCamera:RadialDistortParam2="0.06" stCamera:RadialDistortParam3="0" stCamera:TangentialDistortParam1="0.0001"
  stCamera:TangentialDistortParam2="-0.0002">
  <stCamera:VignetteModel><rdf:Description stCamera:FocalLengthX="0.72" stCamera:FocalLengthY="0.72"
   stCamera:VignetteModelParam1="-0.6" stCamera:VignetteModelParam2="0.1" stCamera:VignetteModelParam3="0"/></stCamera:VignetteModel>
  <stCamera:ChromaticRedGreenModel><rdf:Description stCamera:FocalLengthX="0.72" stCamera:FocalLengthY="0.72"
   stCamera:RadialDistortParam1="0.0001" stCamera:ScaleFactor="1.0004"/></stCamera:ChromaticRedGreenModel>
 </rdf:Description></stCamera:PerspectiveModel></rdf:Description></rdf:li>"""
    doc = ("""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
  xmlns:stCamera="http://ns.adobe.com/photoshop/1.0/camera-profile"><photoshop:CameraProfiles><rdf:Seq>"""
           + entry + entry.replace('FocalLength="24"', 'FocalLength="105"')
           + "</rdf:Seq></photoshop:CameraProfiles></rdf:Description></rdf:RDF></x:xmpmeta>\n")
    return [doc.encode()]


def _gyroflow_seeds() -> list[bytes]:
    base = {"name": "Cam Lens", "calibrated_by": "t", "camera_brand": "GoPro", "camera_model": "HERO", "lens_model": "Wide",
            "calib_dimension": {"w": 4000, "h": 3000}, "orig_dimension": {"w": 4000, "h": 3000}, "focal_length": 3.0,
            "crop": 1.0, "asymmetrical": False,
            "fisheye_params": {"RMS_error": 0.5, "camera_matrix": [[1800.0, 0.0, 2000.0], [0.0, 1800.0, 1500.0], [0.0, 0.0, 1.0]],
                               "distortion_coeffs": [0.05, 0.01, -0.002, 0.0003]}}
    std = json.loads(json.dumps(base))
    std["distortion_model"] = "opencv_standard"
    std["fisheye_params"]["distortion_coeffs"] = [-0.1, 0.02, 0.001, -0.001, 0.0]
    interp = json.loads(json.dumps(base))
    interp["interpolations"] = {"3.0": {"fisheye_params": base["fisheye_params"]},
                                "6.0": {"fisheye_params": {**base["fisheye_params"], "distortion_coeffs": [0.01, 0, 0, 0]}}}
    return [json.dumps(d, indent=1).encode() for d in (base, std, interp)]


def _gyroflow_project_seeds() -> list[bytes]:
    import numpy as np

    from gyroflow_build import imu_blob

    t = np.arange(0.0, 60.0, 2.5)
    g = np.column_stack([np.sin(t), np.cos(t), t / 100])
    lens = json.loads(_gyroflow_seeds()[0])
    saved = {"title": "Gyroflow data file", "version": 2, "videofile": "/v/clip.MP4", "calibration_data": lens,
             "offsets": {"0": -22.0, "5000000": -23.5},
             "stabilization": {"fov": 1.0, "method": "Default", "frame_readout_time": 8.5,
                               "smoothing_params": [{"name": "smoothness", "value": 0.5}]},
             "gyro_source": {"filepath": "/v/clip.MP4", "imu_orientation": "XYZ", "raw_imu": imu_blob(t, g, g * 9.8)}}
    simple = {"title": "Gyroflow data file", "version": 2, "offsets": {"0": 10.0}, "gyro_source": {"filepath": "x.bbl"}}
    arr = {"gyro_source": {"raw_imu": [{"timestamp_ms": float(ti), "gyro": list(gi), "accl": None} for ti, gi in zip(t[:6], g)]}}
    return [json.dumps(d, indent=1).encode() for d in (saved, simple, arr)]


def _opencv_seeds() -> list[bytes]:
    yaml = b"""%YAML:1.0
---
image_width: 752
image_height: 480
camera_matrix: !!opencv-matrix
   rows: 3
   cols: 3
   dt: d
   data: [ 458.654, 0., 367.215, 0., 457.296, 248.375, 0., 0., 1. ]
distortion_coefficients: !!opencv-matrix
   rows: 1
   cols: 5
   dt: d
   data: [ -0.28340811, 0.07395907, 0.00019359, 1.76187114e-05, 0. ]
"""
    orb = b"""%YAML:1.0
Camera.fx: 718.856
Camera.fy: 718.856
Camera.cx: 607.1928
Camera.cy: 185.2157
Camera.k1: -0.1
Camera.k2: 0.01
Camera.p1: 0.0
Camera.p2: 0.0
Camera.width: 1241
Camera.height: 376
"""
    vins = b"""%YAML:1.0
model_type: KANNALA_BRANDT
camera_name: camera
image_width: 640
image_height: 480
projection_parameters:
   k2: 0.0033
   k3: -0.0101
   k4: 0.0066
   k5: -0.0016
   mu: 285.0
   mv: 286.0
   u0: 320.0
   v0: 240.0
"""
    return [yaml, orb, vins]


def _dng_seeds() -> list[bytes]:
    import numpy as np

    from l2tech.profiles.dng_opcodes import DngOpcode, GainMapParams, encode_opcode_list

    warp = DngOpcode(1, "WarpRectilinear", 0x01030000, 1,
                     {"planes": ((1.0, -0.02, 0.001, 0.0, 1e-4, 0.0),), "cx": 0.5, "cy": 0.5})
    vig = DngOpcode(3, "FixVignetteRadial", 0x01030000, 1, {"k": (0.2, 0.01, 0.0, 0.0, 0.0), "cx": 0.49, "cy": 0.51})
    gm = GainMapParams(0, 0, 8, 12, 0, 1, 1, 1, 2, 2, 1.0, 1.0, 0.0, 0.0, 1, np.full((2, 2, 1), 1.5, np.float32))
    gain = DngOpcode(9, "GainMap", 0x01030000, 0, {"gain_map": gm})
    return [encode_opcode_list([warp, vig]), encode_opcode_list([gain]), encode_opcode_list([warp, vig, gain])]


def _cube_seeds() -> list[bytes]:
    n = 3
    rows = [f"{r / (n - 1):.6f} {g / (n - 1):.6f} {b / (n - 1):.6f}" for b in range(n) for g in range(n) for r in range(n)]
    cube3 = "TITLE \"t\"\nLUT_3D_SIZE 3\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 1 1 1\n" + "\n".join(rows) + "\n"
    cube1 = "LUT_1D_SIZE 4\n0 0 0\n0.3 0.3 0.3\n0.6 0.6 0.6\n1 1 1\n"
    return [cube3.encode(), cube1.encode()]


def _3dl_seeds() -> list[bytes]:
    from l2tech.color.lut import LUT3D
    from l2tech.color.lut_io import write_3dl

    work = scratch_dir()
    try:
        p = write_3dl(LUT3D.identity(4), work / "seed.3dl")  # 3 points: a mesh line read_3dl takes for a row
        return [p.read_bytes()]
    finally:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


def _spi1d_seeds() -> list[bytes]:
    return [b"Version 1\nFrom 0.0 1.0\nLength 4\nComponents 1\n{\n0.0\n0.3\n0.6\n1.0\n}\n"]


def _spi3d_seeds() -> list[bytes]:
    lines = ["SPILUT 1.0", "3 3", "2 2 2"] + [f"{r} {g} {b} {r}.0 {g}.0 {b}.0" for r in range(2) for g in range(2) for b in range(2)]
    return [("\n".join(lines) + "\n").encode()]


def _clf_seeds() -> list[bytes]:
    clf = """<?xml version="1.0" encoding="UTF-8"?>
<ProcessList id="t" compCLFversion="3.0">
 <Matrix inBitDepth="32f" outBitDepth="32f"><Array dim="3 3">1 0 0 0 1 0 0 0 1</Array></Matrix>
 <LUT1D inBitDepth="32f" outBitDepth="32f"><Array dim="3 1">0 0.5 1</Array></LUT1D>
 <Range inBitDepth="32f" outBitDepth="32f"><minInValue>0</minInValue><maxInValue>1</maxInValue><minOutValue>0</minOutValue><maxOutValue>1</maxOutValue></Range>
 <Log inBitDepth="32f" outBitDepth="32f" style="log10"/>
 <Exponent inBitDepth="32f" outBitDepth="32f" style="basicFwd"><ExponentParams exponent="2.2"/></Exponent>
 <ASC_CDL inBitDepth="32f" outBitDepth="32f" style="Fwd"><SOPNode><Slope>1 1 1</Slope><Offset>0 0 0</Offset><Power>1 1 1</Power></SOPNode><SatNode><Saturation>1</Saturation></SatNode></ASC_CDL>
 <LUT3D inBitDepth="32f" outBitDepth="32f"><Array dim="2 2 2 3">0 0 0 0 0 1 0 1 0 0 1 1 1 0 0 1 0 1 1 1 0 1 1 1</Array></LUT3D>
</ProcessList>
"""
    return [clf.encode()]


def _look_seeds() -> list[bytes]:
    folder = Path(__file__).resolve().parents[2] / "src" / "l2tech" / "data" / "looks"
    return [p.read_bytes() for p in sorted(folder.glob("*.toml"))]


def _recipe_seeds() -> list[bytes]:
    from l2tech.pipeline.recipe import Recipe

    r = Recipe(focal_length_mm=24, f_number=4, exposure_ev=0.5, scale=1.1, look="mono", projection="rectilinear")
    d = r.to_dict()
    d["corrections"] = list(d["corrections"])
    return [json.dumps(d, indent=1).encode(), json.dumps(Recipe().to_dict(), indent=1).encode()]


def _recipe_toml_seeds() -> list[bytes]:
    """A recipe file, a recipe with a ``[video]`` table, a still's sidecar and a video's sidecar."""
    from l2tech.pipeline.recipe import Recipe
    from l2tech.pipeline.recipe_file import recipe_to_toml
    from l2tech.pipeline.sidecar import sidecar_text
    from l2tech.pipeline.video import VideoJob, video_settings

    r = Recipe(focal_length_mm=24, f_number=4, exposure_ev=0.5, scale=1.1, look="mono", projection="rectilinear",
               lens="Canon EF 24-105mm f/4L IS USM", corrections=("distortion", "vignetting"))
    video = video_settings(VideoJob())
    plain = recipe_to_toml(r)
    with_video = plain + "\n[video]\ncrf = 20\nstabilize = \"flow\"\nsmoothness_s = 0.6\nmax_decode_errors = 3\n"
    common = dict(recipe=r, input_path="/photos/IMG_0001.CR2", input_sha256="ab" * 32, input_size=123456,
                  output="IMG_0001.jpg", output_sha256="cd" * 32,
                  lens={"lens": "Canon EF 24-105mm f/4L IS USM", "profile": {"source": "lensfun", "model": "ptlens"}})
    still = sidecar_text(command="develop", **common)
    clip = sidecar_text(command="video", video=video, **{**common, "input_path": "/clips/C0001.MP4",
                                                           "output": "C0001.mp4"})
    return [s.encode() for s in (plain, with_video, still, clip)]


def _foreign_sidecar_seeds() -> list[bytes]:
    """darktable XMP histories (hex and ``gz`` params) and RawTherapee ``.pp3`` profiles."""
    import base64
    import zlib

    expo = struct.pack("<iffffi", 0, 0.0, 0.7, 50.0, -4.0, 0)
    temp = struct.pack("<ffffi", 2.0, 1.0, 1.5, 1.0, 0)
    items = [("exposure", 1, 6, expo.hex()), ("temperature", 1, 4, temp.hex()), ("lens", 0, 8, "00"),
             ("exposure", 1, 6, "gz12" + base64.b64encode(zlib.compress(expo)).decode())]
    lis = "".join(f'<rdf:li darktable:num="{k}" darktable:operation="{op}" darktable:enabled="{on}" '
                  f'darktable:modversion="{ver}" darktable:params="{par}" darktable:multi_priority="{k % 2}"/>'
                  for k, (op, on, ver, par) in enumerate(items))
    xmp = ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
           '<rdf:Description rdf:about="" xmlns:darktable="http://darktable.sf.net/" darktable:history_end="3">'
           f"<darktable:history><rdf:Seq>{lis}</rdf:Seq></darktable:history></rdf:Description></rdf:RDF></x:xmpmeta>")
    pp3 = ("[Version]\nAppVersion=5.9\nVersion=351\n\n[Exposure]\nAuto=false\nCompensation=0.7\n"
           "[White Balance]\nEnabled=true\nSetting=Custom\nTemperature=5200\nGreen=1.02\n"
           "[LensProfile]\nLcMode=lfmanual\nUseDistortion=true\nUseVignette=true\nUseCA=false\n"
           "LFCameraMake=Canon\nLFCameraModel=Canon EOS 6D\nLFLens=Canon EF 24-105mm f/4L IS USM\n"
           "[Crop]\nEnabled=true\nX=10\nY=20\nW=3000\nH=2000\n[Sharpening]\nEnabled=true\n")
    return [b"X" + xmp.encode(), b"P" + pp3.encode()]


# -- targets -------------------------------------------------------------------------------------

def _lensfun(path: Path) -> None:
    from l2tech.profiles.lensfun_xml import parse_lensfun_xml

    parse_lensfun_xml(path, source_prefix="user")


def _lcp(path: Path) -> None:
    from l2tech.profiles.lcp import read_lcp
    from l2tech.profiles.validate import validate_profile

    validate_profile(read_lcp(path), path)


def _gyroflow(path: Path) -> None:
    from l2tech.profiles.gyroflow import pixel_model_from_file

    pixel_model_from_file(path)


def _gyroflow_project(path: Path) -> None:
    from l2tech.video.gyroflow_project import read_gyroflow_project

    read_gyroflow_project(path)


def _opencv(path: Path) -> None:
    from l2tech.profiles.opencv_yaml import read_opencv_yaml
    from l2tech.profiles.validate import validate_profile

    validate_profile(read_opencv_yaml(path), path)


def _dng(path: Path) -> None:
    from l2tech.profiles.dng_opcodes import opcodes_to_profile, parse_opcode_list
    from l2tech.profiles.validate import validate_profile

    ops = parse_opcode_list(path.read_bytes(), path, 3)
    prof = opcodes_to_profile({3: ops}, maker="M", model="C", focal_length_mm=24.0, source=str(path))
    if prof is not None:
        validate_profile(prof, path)


def _lut(path: Path) -> None:
    from l2tech.color.lut_io import read_lut

    read_lut(path)


def _look(path: Path) -> None:
    from l2tech.color.looks import load_look

    load_look(path)


def _recipe(path: Path) -> None:
    """A recipe document's values reaching :class:`Recipe` (the keys a recipe file may set)."""
    from l2tech.errors import UsageError
    from l2tech.pipeline.recipe import Recipe

    try:
        doc = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise UsageError(f"not a JSON recipe ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise UsageError("a recipe is a JSON object")
    fields = {f for f in Recipe.__dataclass_fields__}
    kw = {k: v for k, v in doc.items() if k in fields}
    if isinstance(kw.get("corrections"), list):
        kw["corrections"] = tuple(kw["corrections"])
    try:
        Recipe(**kw)
    except TypeError as exc:  # a value of the wrong type where the recipe compares or converts
        raise AssertionError(f"Recipe let a TypeError out: {exc}") from None


def _recipe_toml(path: Path) -> None:
    """Every reader of l2tech's TOML: the recipe, its ``[video]`` table, and (for a text with an
    ``[l2tech]`` table) the sidecar reader."""
    import shutil

    from l2tech.pipeline.recipe_file import read_recipe_file
    from l2tech.pipeline.sidecar import read_sidecar
    from l2tech.pipeline.video import read_video_settings

    sidecar = path.with_name("out.jpg.l2.toml")
    shutil.copyfile(path, sidecar)
    readers = [read_recipe_file, read_video_settings] + ([read_sidecar] if b"[l2tech]" in path.read_bytes() else [])
    first: L2Error | None = None
    for read in readers:
        try:
            read(sidecar if read is read_sidecar else path)
        except L2Error as exc:
            first = first or exc
    if first is not None:
        raise first


def _foreign_sidecar(path: Path) -> None:
    """darktable ``.xmp`` or RawTherapee ``.pp3`` (the first byte of the input picks which)."""
    from l2tech.pipeline.recipe_import import read_foreign_sidecar

    data = path.read_bytes()
    target = path.with_name("input.pp3" if data[:1] == b"P" else "input.xmp")
    target.write_bytes(data[1:])
    read_foreign_sidecar(target)


HARNESSES: dict[str, Harness] = {h.name: h for h in (
    Harness("lensfun_xml", ".xml", _lensfun_seeds, _lensfun),
    Harness("lcp", ".lcp", _lcp_seeds, _lcp),
    Harness("gyroflow_json", ".json", _gyroflow_seeds, _gyroflow),
    Harness("gyroflow_project", ".gyroflow", _gyroflow_project_seeds, _gyroflow_project),
    Harness("opencv_yaml", ".yaml", _opencv_seeds, _opencv),
    Harness("dng_opcodes", ".bin", _dng_seeds, _dng, text=False),
    Harness("cube", ".cube", _cube_seeds, _lut),
    Harness("3dl", ".3dl", _3dl_seeds, _lut),
    Harness("spi1d", ".spi1d", _spi1d_seeds, _lut),
    Harness("spi3d", ".spi3d", _spi3d_seeds, _lut),
    Harness("clf", ".clf", _clf_seeds, _lut),
    Harness("look_toml", ".toml", _look_seeds, _look),
    Harness("recipe_json", ".json", _recipe_seeds, _recipe),
    Harness("recipe_toml", ".toml", _recipe_toml_seeds, _recipe_toml),
    Harness("foreign_sidecar", ".bin", _foreign_sidecar_seeds, _foreign_sidecar),
)}


def scratch_dir() -> Path:
    """A private folder for the inputs being parsed."""
    return Path(tempfile.mkdtemp(prefix="l2fuzz-"))


def save_to_corpus(name: str, data: bytes, *, max_files: int = 40, max_bytes: int = 32_768) -> Path | None:
    """Keep ``data`` in ``tests/fuzz/corpus/<name>/`` (named by its hash), within the caps."""
    import hashlib

    if len(data) > max_bytes:
        return None
    folder = CORPUS / name
    folder.mkdir(parents=True, exist_ok=True)
    if len(os.listdir(folder)) >= max_files:
        return None
    p = folder / hashlib.sha1(data).hexdigest()[:16]
    if not p.exists():
        p.write_bytes(data)
    return p
