"""Trust items 5 and 6 on real frames: a lens profile made on one sensor used on another.

Each test runs `l2` on a file of ../shared/data, or on a copy whose EXIF was rewritten with the
exiv2 binding to name the body and lens a user's file would carry, and measures the geometry on
the output against an oracle outside l2tech:

- item 5 (an Adobe LCP of a full-frame body on an APS-C frame): the Canon EOS Kiss X4 (550D)
  DNG, the LCP written here in Adobe's format; the oracle is the Adobe Camera Model's formula,
  computed here by hand, with the body's crop factor from lensfun's camera database (lensfunpy);
- item 6 (a DX fisheye profile on an FX frame, de-fished): the Olympus E-P3 JPEG cropped to the
  D800's 3:2 frame with a D800's EXIF; the oracle is lensfunpy's Modifier (lensfun 0.3.4): its
  auto-scale, inferred from its map, and its own rendering of the frame;
- item 6's identity warp: lensfun's identity profile (EF-S 60mm Macro, k1 = 0) on the Kiss X4 DNG.

Built files live in the test's tmp_path; the shared files are read-only and never copied into the
repository.
"""

from __future__ import annotations

import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_file

KISS_X4 = "raw/decodable/canon_kiss_x4__colorchecker.dng"
EP3 = "raw/jpeg_reference/olympus_e-p3__mzuiko_14-42_II_R_15mm.jpg"


# ---------------------------------------------------------------------------------------------
# helpers


def _l2(*args: str) -> int:
    """`l2 ARGS` in this process (the CLI's entry point), its exit code."""
    from l2tech.cli.main import main

    return main(list(args))


def _l2_json(capsys, *args: str) -> tuple[int, dict, str]:
    """`l2 ARGS --json`: exit code, the JSON document it printed and its stderr."""
    capsys.readouterr()
    rc = _l2(*args, "--json")
    cap = capsys.readouterr()
    assert cap.out.strip(), (rc, cap.err)
    return rc, json.loads(cap.out), cap.err


def _set_exif(path: Path, values: dict[str, str], *, fresh: bool = False) -> Path:
    """Write EXIF ``values`` into ``path`` in place with the exiv2 binding (``fresh``: drop
    everything else first, e.g. another maker's maker notes)."""
    import exiv2

    im = exiv2.ImageFactory.open(str(path))
    im.readMetadata()
    ex = exiv2.ExifData() if fresh else im.exifData()
    for k, v in values.items():
        ex[k] = v
    im.setExifData(ex)
    im.writeMetadata()
    return path


def _grey_tiff(path: Path) -> np.ndarray:
    import tifffile

    return tifffile.imread(str(path)).astype(np.float64).mean(axis=-1)


def _shift_px(a: np.ndarray, b: np.ndarray, y0: int, x0: int, n: int) -> float:
    """How far (px) the ``n``-pixel square patch of ``a`` at (x0, y0) sits from the same patch of
    ``b``: OpenCV's phase correlation (sub-pixel, Hann window)."""
    import cv2

    pa = np.ascontiguousarray(a[y0 : y0 + n, x0 : x0 + n], np.float64)
    pb = np.ascontiguousarray(b[y0 : y0 + n, x0 : x0 + n], np.float64)
    (dx, dy), _ = cv2.phaseCorrelate(pb, pa, cv2.createHanningWindow((n, n), cv2.CV_64F))
    return float(math.hypot(dx, dy))


def _corners(W: int, H: int, n: int) -> list[tuple[int, int]]:
    return [(0, 0), (0, W - n), (H - n, 0), (H - n, W - n)]


def _lensfun_camera(make: str, model: str):
    lensfunpy = pytest.importorskip("lensfunpy")
    cams = lensfunpy.Database().find_cameras(make, model)
    assert cams, (make, model)
    return cams[0]


def _lensfun_auto_scale(modifier_at, W: int, H: int) -> float:
    """The zoom lensfun's GetAutoScale chose, inferred from its maps: lensfun zooms about the
    frame centre before its other steps, so its auto-scaled map at the left edge (0, cy) is its
    unscaled map at (cx - cx / s, cy); ``s`` by bisection. ``modifier_at(scale)`` is an
    initialised lensfunpy Modifier at that scale (0: automatic)."""
    cx, cy = (W - 1) / 2, (H - 1) / 2
    auto, one = modifier_at(0.0), modifier_at(1.0)
    q = auto.apply_subpixel_geometry_distortion(0.0, cy, 1, 1)[0, 0, 1]
    lo, hi = 0.05, 20.0
    for _ in range(60):
        s = 0.5 * (lo + hi)
        x = one.apply_subpixel_geometry_distortion(cx - cx / s, cy, 1, 1)[0, 0, 1, 0]
        if x < q[0]:  # the source x of the left edge moves toward the centre as s grows
            lo = s
        else:
            hi = s
    return 0.5 * (lo + hi)


# ---------------------------------------------------------------------------------------------
# item 5: an Adobe LCP profiled on a full-frame body, on an APS-C frame

#: A full-frame (SensorFormatFactor 1) profile of an EF 24mm f/2.8 as Adobe's Lens Profile
#: Creator writes it (one entry, 24 mm, focus at infinity), with the model of docs/TRUST.md § 5.
_LCP = """<?xml version="1.0" encoding="UTF-8"?>
<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 5.2-c003 61.141987, 2011/02/22-12:03:51">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
    xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
    xmlns:stCamera="http://ns.adobe.com/photoshop/1.0/camera-profile">
   <photoshop:CameraProfiles>
    <rdf:Seq>
     <rdf:li>
      <rdf:Description
       stCamera:Author="l2tech tests"
       stCamera:Make="Canon"
       stCamera:Model="Canon EOS 5D Mark II"
       stCamera:UniqueCameraModel="Canon EOS 5D Mark II"
       stCamera:CameraRawProfile="True"
       stCamera:AutoScale="True"
       stCamera:Lens="EF24mm f/2.8"
       stCamera:LensInfo="24/1 24/1 28/10 28/10"
       stCamera:CameraPrettyName="Canon EOS 5D Mark II"
       stCamera:LensPrettyName="Canon EF 24mm f/2.8"
       stCamera:ProfileName="Canon EF 24mm f/2.8 (full frame)"
       stCamera:SensorFormatFactor="1"
       stCamera:ImageWidth="5634"
       stCamera:ImageLength="3753"
       stCamera:FocalLength="24"
       stCamera:FocusDistance="1000"
       stCamera:ApertureValue="4">
       <stCamera:PerspectiveModel>
        <rdf:Description
         stCamera:Version="2"{fx}
         stCamera:ImageXCenter="0.5"
         stCamera:ImageYCenter="0.5"
         stCamera:RadialDistortParam1="{k1}"
         stCamera:RadialDistortParam2="{k2}"/>
       </stCamera:PerspectiveModel>
      </rdf:Description>
     </rdf:li>
    </rdf:Seq>
   </photoshop:CameraProfiles>
  </rdf:Description>
 </rdf:RDF>
</x:xmpmeta>
"""
LCP_FX, LCP_K1, LCP_K2 = 0.70, -0.18, 0.06
SHOT_FOCAL_MM = 24.0


def _write_lcp(path: Path, *, with_fx: bool) -> Path:
    fx = f'\n         stCamera:FocalLengthX="{LCP_FX}"\n         stCamera:FocalLengthY="{LCP_FX}"' if with_fx else ""
    path.write_text(_LCP.format(fx=fx, k1=LCP_K1, k2=LCP_K2), encoding="utf-8")
    return path


def _adobe_source(u, v, W: int, H: int, fx_units: float, k1: float, k2: float):
    """The Adobe Camera Model's rectilinear model by hand: ideal pixel (u, v) to the observed one.

    Focal length ``f = FocalLengthX · max(W, H)`` pixels, principal point ``(ImageXCenter · W,
    ImageYCenter · H)`` (0.5, 0.5), ``(x, y) = ((u, v) - centre) / f``, observed
    ``centre + f (x, y) (1 + k1 r² + k2 r⁴)`` (Adobe, "Adobe Camera Model", 2010: geometric
    distortion model for rectilinear lenses; RawTherapee rtengine/lcp.cc reads it the same way).
    """
    f = fx_units * max(W, H)
    u0, v0 = 0.5 * W, 0.5 * H
    x, y = (np.asarray(u, np.float64) - u0) / f, (np.asarray(v, np.float64) - v0) / f
    r2 = x * x + y * y
    s = 1.0 + k1 * r2 + k2 * r2 * r2
    return u0 + x * s * f, v0 + y * s * f


@pytest.fixture(scope="module")
def kiss_x4(tmp_path_factory):
    """The Kiss X4 DNG with the lens EXIF a 550D writes for an EF 24mm f/2.8 at f/4 (the shared
    file has none: FocalLength 0), and its develop without lens correction (16-bit TIFF)."""
    src = shared_file(KISS_X4)
    d = tmp_path_factory.mktemp("kiss_x4")
    dng = d / "IMG_0001.DNG"
    shutil.copyfile(src, dng)  # the shared file is read-only; the copy is not
    _set_exif(dng, {"Exif.Photo.LensModel": "EF24mm f/2.8", "Exif.Photo.FocalLength": "24/1",
                    "Exif.Photo.FNumber": "4/1"})
    ref = d / "uncorrected.tif"
    rc = _l2("develop", str(dng), "--no-lens-correction", "--format", "tiff", "-o", str(ref), "--no-sidecar", "-q")
    assert rc == 0
    return dng, _grey_tiff(ref)


@pytest.mark.parametrize("with_fx", [True, False], ids=["FocalLengthX", "no FocalLengthX"])
def test_full_frame_lcp_on_the_kiss_x4_dng_follows_the_spec(kiss_x4, tmp_path, capsys, with_fx):
    """`l2 develop IMG_0001.DNG --profile ef24.lcp --scale 1` on the Kiss X4 (crop 1.613 in
    lensfun's camera database) with an LCP profiled on a full-frame body (SensorFormatFactor 1).

    The spec's model in this frame's units: FocalLengthX · 1.613 / 1 (0.70 → 1.1291), or without
    FocalLengthX the focal length over the frame's sensor long side, 24 mm / (36 mm / 1.613)
    (1.0753). Measured on this 1734 × 1156 develop:

    - the map the pipeline builds for the file: corner displacement 48.111 px (FocalLengthX) and
      52.476 px (none), equal to the formula within 1e-3 px (asserted: 0.1 px);
    - the output against the uncorrected develop remapped by the formula: the four 128 px
      corner patches sit within 0.03 px of where the formula puts them (asserted: 0.1 px). A
      0.3 % longer focal length moves them by 0.1-0.16 px; other readings are far off:
      FocalLengthX in the frame's own units (before) gives 104.27 px at the corner, and
      RawTherapee's 35 mm long side (instead of 36 mm) 49.92 px instead of 52.48.
    """
    import cv2

    from l2tech.correct import correction_maps
    from l2tech.io.metadata import read_metadata
    from l2tech.pipeline.lens_plan import plan_lens_correction
    from l2tech.pipeline.recipe import Recipe
    from l2tech.profiles.interpolate import interpolate

    dng, ref = kiss_x4
    crop = float(_lensfun_camera("Canon", "Canon EOS Kiss X4").crop_factor)
    lcp = _write_lcp(tmp_path / "ef24.lcp", with_fx=with_fx)
    out = tmp_path / "IMG_0001.tif"
    rc, doc, _ = _l2_json(capsys, "develop", str(dng), "--profile", str(lcp), "--scale", "1", "--format", "tiff",
                          "-o", str(out), "--no-sidecar")
    assert rc == 0, doc
    r = doc["results"][0]
    lens = r["lens"]
    assert r["status"] == "ok" and lens["sources"]["profile"] == "file"
    assert lens["corrections"]["distortion"]["applied"]
    assert lens["crop_factor"] == pytest.approx(crop, rel=1e-6)
    assert lens["focal_length_mm"] == SHOT_FOCAL_MM
    W, H = r["size"]

    fx_units = LCP_FX * crop / 1.0 if with_fx else SHOT_FOCAL_MM / (36.0 / crop)
    uu, vv = np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64))
    sx, sy = _adobe_source(uu, vv, W, H, fx_units, LCP_K1, LCP_K2)
    want = np.hypot(sx - uu, sy - vv)

    # the map the pipeline builds for this file (the plan of `l2 develop`, scale 1)
    plan = plan_lens_correction(read_metadata(dng), Recipe(profile=str(lcp), scale=1.0))
    cal = interpolate(plan.profile, plan.focal_length_mm, plan.f_number, plan.focus_distance_m)
    m = correction_maps(cal, W, H, crop_factor=plan.crop_factor, distortion=True, tca=False, scale=1.0).maps[0]
    got = np.hypot(m[..., 0].astype(np.float64) - uu, m[..., 1].astype(np.float64) - vv)
    for v, u in ((0, 0), (0, W - 1), (H - 1, 0), (H - 1, W - 1)):
        assert abs(got[v, u] - want[v, u]) <= 0.1, ((u, v), got[v, u], want[v, u])
    print(f"\ncorner displacement: l2tech map {got[0, 0]:.3f} px, formula {want[0, 0]:.3f} px")

    # the output: the uncorrected develop remapped by the formula
    expected = cv2.remap(ref, sx.astype(np.float32), sy.astype(np.float32), cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_REPLICATE)
    corrected = _grey_tiff(out)
    shifts = [_shift_px(corrected, expected, y0, x0, 128) for y0, x0 in _corners(W, H, 128)]
    print("corner patches against the formula's remap (px):", ", ".join(f"{s:.3f}" for s in shifts))
    assert max(shifts) <= 0.1, shifts

    # the readings this replaces are far from the formula (the test tells them apart)
    for other in ([LCP_FX] if with_fx else [SHOT_FOCAL_MM / (35.0 / crop)]):
        ox, oy = _adobe_source(0.0, 0.0, W, H, other, LCP_K1, LCP_K2)
        assert abs(math.hypot(ox, oy) - want[0, 0]) > 2.0


# ---------------------------------------------------------------------------------------------
# item 6: a DX fisheye profile on an FX (D800) frame, de-fished

FISHEYE = "Nikon AF DX Fisheye-Nikkor 10.5mm f/2.8G ED"
D800_SIZE = (736, 491)  # the D800's 7360 x 4912, 1/10


def _d800_file(dst: Path) -> Path:
    """The E-P3 JPEG centre-cropped to 3:2 and resized to the D800's frame at 1/10, carrying the
    EXIF a D800 writes for the 10.5 mm fisheye at f/8 (FocalLengthIn35mmFilm is an integer: 10
    for 10.5 mm on FX), the pixel size as a resizing tool sets it, and no Olympus maker notes."""
    from PIL import Image

    W, H = D800_SIZE
    with Image.open(shared_file(EP3)) as im:
        w, h = im.size
        ch = round(w * H / W)
        top = (h - ch) // 2
        im.convert("RGB").crop((0, top, w, top + ch)).resize((W, H), Image.LANCZOS).save(dst, "JPEG", quality=92)
    return _set_exif(dst, {
        "Exif.Image.Make": "NIKON CORPORATION", "Exif.Image.Model": "NIKON D800", "Exif.Image.Orientation": "1",
        "Exif.Photo.LensModel": "AF DX Fisheye-Nikkor 10.5mm f/2.8G ED", "Exif.Photo.FocalLength": "105/10",
        "Exif.Photo.FNumber": "8/1", "Exif.Photo.FocalLengthIn35mmFilm": "10", "Exif.Photo.ExposureTime": "1/60",
        "Exif.Photo.ISOSpeedRatings": "400", "Exif.Photo.DateTimeOriginal": "2012:06:01 12:00:00",
        "Exif.Photo.PixelXDimension": str(W), "Exif.Photo.PixelYDimension": str(H)}, fresh=True)


def _dx_fisheye_profile(dst: Path) -> Path:
    """The DX calibration of the fisheye (crop 1.523, equisolid, ptlens + TCA) as a lensfun XML
    file of its own, taken from lensfun's database that lensfunpy ships. lensfun's database also
    has a crop-1 calibration of this lens made on a D800, which l2tech picks for this file without
    --profile; a user whose database has only the DX entry (some lensfun releases') or who names
    this file gets the case of this item."""
    import xml.etree.ElementTree as ET

    lensfunpy = pytest.importorskip("lensfunpy")
    xml = Path(lensfunpy.__file__).parent / "db_files" / "slr-nikon.xml"
    if not xml.is_file():
        pytest.skip(f"lensfunpy ships no database file {xml}")
    lens = next((e for e in ET.parse(xml).getroot().iter("lens")
                 if e.findtext("model") == FISHEYE and float(e.findtext("cropfactor")) == 1.523), None)
    if lens is None:
        pytest.skip(f"{xml} has no crop-1.523 entry of {FISHEYE}")
    dst.write_text('<lensdatabase version="1">\n' + ET.tostring(lens, encoding="unicode") + "</lensdatabase>\n",
                   encoding="utf-8")
    return dst


def _srgb_to_linear(x: np.ndarray) -> np.ndarray:
    x = x / 255.0
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def _linear_to_srgb(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return 255.0 * np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


def test_dx_fisheye_on_a_d800_file_defished_auto_scales_as_lensfun(tmp_path, capsys):
    """`l2 correct DSC_0001.JPG --profile dx-fisheye.xml --projection rectilinear` on a D800
    frame (crop 1 in lensfun's camera database) with the DX calibration of the 10.5 mm fisheye
    (crop 1.523, lensfun's own entry), distortion and TCA corrected.

    Measured (736 × 491): l2tech's auto-scale 0.42360 (0.42318 without TCA's 0.1 % margin);
    lensfun's GetAutoScale for the same setting (lensfunpy, inferred from its map) 0.42375, 3.6e-4
    larger: lensfun stops its float Newton at 1e-3 Hugin units, l2tech bisects to 1e-10 px
    (tests/test_lensfun_oracle.py allows 1.5e-3); lensfun does not fail on this setting (l2tech
    did before: "never reaches the frame edge in direction 0°"). Neither leaves a green
    pixel outside the frame or the DX image circle (R = half-diagonal / 1.523 = 290.0 px); the
    binding limit is the top and bottom edge (1 % less zoom leaves 116 green pixels outside the
    frame), not the circle: on a 3:2 frame the corners land 272.3 px from the centre. The zoom of
    the output, fitted on its pixels against lensfun's own rendering of the frame, is l2tech's
    within 2e-4 (0.09 px at the corners).

    Before: the file's FocalLengthIn35mmFilm (10 for 10.5 mm) put the frame at crop 0.952 with
    --profile (a database match uses the body's crop 1): auto-scale 0.3542."""
    import cv2
    import lensfunpy

    from l2tech.correct import CalibrationCoverageWarning
    from l2tech.correct.frame_fit import frame_fit
    from l2tech.correct.maps import correction_warp
    from l2tech.io.metadata import read_metadata
    from l2tech.optics import compose
    from l2tech.pipeline.lens_plan import plan_lens_correction
    from l2tech.pipeline.recipe import Recipe
    from l2tech.profiles.interpolate import interpolate

    f = _d800_file(tmp_path / "DSC_0001.JPG")
    prof = _dx_fisheye_profile(tmp_path / "dx-fisheye.xml")
    body = _lensfun_camera("NIKON CORPORATION", "NIKON D800")
    out = tmp_path / "out.jpg"
    with warnings.catch_warnings():  # the CLI says it ("warning: ... smaller sensor"); not an error here
        warnings.simplefilter("default", CalibrationCoverageWarning)
        rc, doc, err = _l2_json(capsys, "correct", str(f), "--profile", str(prof), "--projection", "rectilinear", "-o",
                           str(out), "--no-sidecar")
    assert rc == 0, {k: v for k, v in doc["results"][0].items() if k != "lens"}
    assert "smaller sensor (crop 1.523)" in " ".join(err.split())
    r = doc["results"][0]
    lens = r["lens"]
    assert r["status"] == "ok" and lens["lens"] == FISHEYE and lens["sources"]["profile"] == "file"
    assert lens["crop_factor"] == pytest.approx(float(body.crop_factor))  # 1, not 10 / 10.5
    assert lens["corrections"]["distortion"]["applied"] and lens["corrections"]["tca"]["applied"]
    W, H = r["size"]
    assert (W, H) == D800_SIZE

    # l2tech's scale: the plan and frame fit of `l2 correct` for this file
    plan = plan_lens_correction(read_metadata(f), Recipe(profile=str(prof), projection="rectilinear"))
    assert plan.profile.crop_factor == pytest.approx(1.523) and plan.crop_factor == pytest.approx(1.0)
    cal = interpolate(plan.profile, plan.focal_length_mm, plan.f_number, plan.focus_distance_m)
    with pytest.warns(CalibrationCoverageWarning, match="smaller sensor"):
        warp = correction_warp(cal, W, H, crop_factor=plan.crop_factor, tca=plan.applied["tca"],
                               projection="rectilinear")
    ours, _ = frame_fit(warp)

    # lensfun's, same lens entry, body crop, frame, settings and corrections
    lf_lens = lensfunpy.Database(paths=[str(prof)], load_common=False, load_bundled=False).lenses[0]
    flags = int(lensfunpy.ModifyFlags.GEOMETRY | lensfunpy.ModifyFlags.DISTORTION | lensfunpy.ModifyFlags.TCA
                | lensfunpy.ModifyFlags.SCALE)

    def lensfun_at(scale: float):
        mod = lensfunpy.Modifier(lf_lens, float(body.crop_factor), W, H)
        mod.initialize(plan.focal_length_mm, plan.f_number, 1000.0, scale=scale, targeom=lensfunpy.LensType.RECTILINEAR,
                       pixel_format=np.float32, flags=flags)
        return mod

    theirs = _lensfun_auto_scale(lensfun_at, W, H)
    print(f"\nauto-scale: l2tech {ours:.5f}, lensfun {theirs:.5f}")
    assert ours == pytest.approx(0.42360, abs=1e-4)
    assert ours <= theirs and theirs / ours - 1 <= 1.5e-3

    # what each zoom keeps inside: the frame (pixel centres) and the DX image circle, green channel
    cx, cy, R = warp.extra["image_circle_px"]
    assert R == pytest.approx(math.hypot(W - 1, H - 1) / 2 / 1.523)

    def outside(m: np.ndarray) -> tuple[int, int]:
        m = m.astype(np.float64)
        frame = (m[..., 0] < -1e-3) | (m[..., 0] > W - 1 + 1e-3) | (m[..., 1] < -1e-3) | (m[..., 1] > H - 1 + 1e-3)
        return int(frame.sum()), int((np.hypot(m[..., 0] - cx, m[..., 1] - cy) > R + 1e-3).sum())

    green = compose.render_maps(warp, ours)[1]
    assert outside(green) == (0, 0)
    assert np.hypot(green[0, 0, 0] - cx, green[0, 0, 1] - cy) < 0.95 * R  # the circle does not bind
    less = outside(compose.render_maps(warp, 0.99 * ours)[1])
    assert less[0] > 0 and less[1] == 0  # the frame edge binds
    assert outside(lensfun_at(0.0).apply_subpixel_geometry_distortion()[..., 1, :]) == (0, 0)

    # the zoom of the output, fitted on its pixels against lensfun's rendering (in linear light)
    src = _srgb_to_linear(cv2.imread(str(f))[..., ::-1].astype(np.float64)).astype(np.float32)
    got = cv2.imread(str(out))[..., ::-1].astype(np.float64)

    def misfit(scale: float) -> float:
        mm = lensfun_at(scale).apply_subpixel_geometry_distortion()
        ren = np.stack([cv2.remap(src[..., c], mm[..., c, 0], mm[..., c, 1], cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE) for c in range(3)], axis=-1)
        return float(np.abs(got - _linear_to_srgb(ren.astype(np.float64))).mean())

    steps = np.array([-2, -1, 0, 1, 2]) * 2.5e-4
    a, b, _ = np.polyfit(steps, [misfit(ours * (1 + t)) for t in steps], 2)
    fitted = ours * (1 - b / (2 * a))
    print(f"zoom of the output fitted against lensfun's rendering: {fitted:.5f}")
    assert a > 0 and abs(fitted / ours - 1) <= 2e-4


def test_identity_profile_on_the_kiss_x4_dng_is_not_zoomed(kiss_x4, tmp_path, capsys):
    """lensfun's EF-S 60mm f/2.8 Macro USM entry (crop 1.611) is distortion-free (poly3 k1 = 0):
    on the Kiss X4 DNG (the lens named in its EXIF, matched in the database) the correction moves
    nothing, and `l2 develop` gives exactly the uncorrected develop (auto-scale exactly 1).
    lensfun's GetAutoScale gives 1.001 for the same setting (its margin, applied to the identity
    too), which would move the frame's left and right edges by 0.87 px. Before: l2tech had
    lensfun's 1.001."""
    import lensfunpy

    from l2tech.correct import correction_maps
    from l2tech.io.metadata import read_metadata
    from l2tech.pipeline.lens_plan import plan_lens_correction
    from l2tech.pipeline.recipe import Recipe
    from l2tech.profiles.interpolate import interpolate

    _, ref = kiss_x4
    dng = tmp_path / "IMG_0002.DNG"
    shutil.copyfile(shared_file(KISS_X4), dng)
    _set_exif(dng, {"Exif.Photo.LensModel": "EF-S60mm f/2.8 Macro USM", "Exif.Photo.FocalLength": "60/1",
                    "Exif.Photo.FNumber": "28/10"})
    out = tmp_path / "IMG_0002.tif"
    rc, doc, _ = _l2_json(capsys, "develop", str(dng), "--format", "tiff", "-o", str(out), "--no-sidecar")
    assert rc == 0, doc
    r = doc["results"][0]
    assert r["lens"]["lens"] == "Canon EF-S 60mm f/2.8 Macro USM" and r["lens"]["corrections"]["distortion"]["applied"]
    W, H = r["size"]
    assert np.array_equal(_grey_tiff(out), ref)

    plan = plan_lens_correction(read_metadata(dng), Recipe())
    cal = interpolate(plan.profile, plan.focal_length_mm, plan.f_number, plan.focus_distance_m)
    assert cal.distortion.model == "poly3" and cal.distortion.terms["k1"] == 0.0
    maps = correction_maps(cal, W, H, crop_factor=plan.crop_factor, tca=False)
    assert maps.scale == 1.0 and maps.auto_scale == 1.0

    cam = _lensfun_camera("Canon", "Canon EOS Kiss X4")
    ldb = lensfunpy.Database()
    lf_lens = next(x for x in ldb.find_lenses(cam, None, "EF-S60mm f/2.8 Macro USM") if x.model == plan.profile.model)

    def lensfun_at(scale: float):
        mod = lensfunpy.Modifier(lf_lens, float(cam.crop_factor), W, H)
        mod.initialize(60.0, 2.8, 1000.0, scale=scale, pixel_format=np.float32,
                       flags=int(lensfunpy.ModifyFlags.DISTORTION | lensfunpy.ModifyFlags.SCALE))
        return mod

    theirs = _lensfun_auto_scale(lensfun_at, W, H)
    assert theirs == pytest.approx(1.001, abs=1e-6)
    assert (W - 1) / 2 * (1 - 1 / theirs) > 0.8  # what lensfun's zoom would move the edges by, px
