"""A Canon body shooting in a sensor crop mode (APS-C 1.6x, APS-H 1.3x) is planned at that crop.

No Canon file of ../shared/data carries FocalLengthIn35mmFilm, so a crop mode can only be read
from the Canon maker note's AspectInfo (tag 0x009a: AspectRatio, CroppedImageWidth,
CroppedImageHeight, CroppedImageLeft, CroppedImageTop; exiftool ``Canon.pm``: AspectRatio 12
'3:2 (APS-H crop)', 13 '3:2 (APS-C crop)'), against the sensor's active width of SensorInfo
(tag 0x00e0: SensorLeftBorder .. SensorRightBorder). No crop-mode file is in the shared data
either, so each file is built the way a body in that mode writes one:

- a JPEG with the whole EXIF and Canon maker note of the EOS-1Ds Mark III + EF50mm f/1.2L USM
  CR2 header (a full-frame body and a lens lensfun knows), AspectInfo written by the exiv2
  binding (the library l2tech reads metadata with) with the mode and the cropped size, centred
  in the sensor's 5616 x 3744 active area, and the pixels at half that size. The 1Ds Mark III
  has no crop mode (the EOS 5DS and the EOS R full-frame bodies do); the test is of the tag;
- copies of the CR2 header and of the EOS R6 CR3 with AspectInfo set in place: a RAW that
  holds the whole sensor is developed uncropped and must not be planned at the crop.

exiftool reads each file back (the oracle of the tag's meaning and of the sizes); lensfunpy
(lensfun's own modifier) is the oracle of the correction at the planned crop.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_file
from test_trust_flag_files import _ep3_pixels, _exiftool_tags, _Quiet, _with_exif_of

exiv2 = pytest.importorskip("exiv2", reason="the exiv2 Python binding (python-exiv2) is not installed")

CANON_1DS3 = "raw/metadata_only/canon_1ds3__ef50mm_f1.2L__imagemeta.cr2.exif"
CANON_R6_CR3 = "raw/metadata_only/canon_eos_r6__nom-exif.cr3"

needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")

#: The crop warning of the plan (l2tech.profiles.matching.frame_crop_factor).
_CROP_WARNING = ("the frame is a {c:.3g}x crop (the body's sensor is crop 1): a crop mode or an in-camera crop; "
                 "corrected at crop {c:.3g} about the frame's centre")


def _l2_json(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-m", "l2tech.cli", *args, "--json"], capture_output=True, text=True,
                          timeout=300, env=os.environ.copy())
    assert proc.returncode == 0 and proc.stdout.strip(), proc.stderr
    return json.loads(proc.stdout)


def _truth(path: Path) -> dict:
    return _exiftool_tags(path, "-Canon:AspectRatio", "-Canon:CroppedImageWidth", "-Canon:CroppedImageHeight",
                          "-Canon:SensorLeftBorder", "-Canon:SensorRightBorder", "-ExifIFD:FocalLengthIn35mmFormat",
                          "-IFD0:Model", "-Canon:LensModel")


def _aspect_info(ratio: int, width: int, height: int, full: tuple[int, int] = (5616, 3744)):
    """AspectInfo (int32u[5]) of a crop of ``width`` x ``height`` centred in ``full``."""
    v = exiv2.ULongValue()
    v.read(f"{ratio} {width} {height} {(full[0] - width) // 2} {(full[1] - height) // 2}")
    return v


def _canon_crop_jpeg(dst: Path, ratio: int, width: int, height: int, *, sensor_info: bool = True,
                     pixels: tuple[int, int] | None = None) -> Path:
    """The E-P3 JPEG's pixels (3:2 about the centre) at ``pixels`` (default ``width/2`` x
    ``height/2``), with the 1Ds Mark III CR2's IFD0 camera tags, Exif IFD and whole Canon maker
    note, AspectInfo set to ``ratio`` and the cropped size; SensorInfo left out unless
    ``sensor_info``."""
    w, h = pixels or (width // 2, height // 2)
    _ep3_pixels(dst, w, h)
    with _Quiet():
        src = exiv2.ImageFactory.open(str(shared_file(CANON_1DS3)))
        src.readMetadata()
        canon = {d.key().split(".")[1] for d in src.exifData() if d.key().split(".")[1].startswith("Canon")}
    return _with_exif_of(shared_file(CANON_1DS3), dst, canon | {"Photo"},
                         set() if sensor_info else {"Exif.Canon.SensorInfo"},
                         {"Exif.CanonCs.Quality": exiv2.ShortValue(3),  # Fine
                          "Exif.CanonCs.RecordMode": exiv2.ShortValue(1),  # JPEG
                          "Exif.Canon.AspectInfo": _aspect_info(ratio, width, height)})


# (AspectRatio, cropped width, cropped height, SensorInfo kept, exiftool's AspectRatio)
_CASES = {
    # 5616 / 1.6 = 3510, the nearest 3:2 size in 16-pixel steps
    "aps-c": (13, 3504, 2336, True, "3:2 (APS-C crop)"),
    # 5616 / 1.3 = 4320 exactly
    "aps-h": (12, 4320, 2880, True, "3:2 (APS-H crop)"),
    # no SensorInfo: the mode's nominal factor
    "aps-c-no-sensor-info": (13, 3504, 2336, False, "3:2 (APS-C crop)"),
    # the whole sensor (the CR2's own AspectInfo)
    "full-frame": (0, 5616, 3744, True, "3:2"),
}


def _expected_crop(truth: dict) -> float:
    """The crop factor the test expects, from exiftool's reading: 1 for 3:2; for a crop mode the
    active width (SensorRightBorder - SensorLeftBorder + 1) over CroppedImageWidth, or the mode's
    1.3 / 1.6 without SensorInfo."""
    mode = truth["Canon:AspectRatio"]
    if mode == "3:2":
        return 1.0
    if "Canon:SensorLeftBorder" not in truth:
        return {"3:2 (APS-H crop)": 1.3, "3:2 (APS-C crop)": 1.6}[mode]
    return (truth["Canon:SensorRightBorder"] - truth["Canon:SensorLeftBorder"] + 1) / truth["Canon:CroppedImageWidth"]


@needs_exiftool
@pytest.mark.parametrize("case", list(_CASES))
def test_lens_match_and_info_plan_a_canon_crop_mode_jpeg_at_its_crop(tmp_path, case):
    """exiftool reads back the AspectRatio written (and no FocalLengthIn35mmFormat); `l2 lens
    match --json` and `l2 info --json` plan the JPEG at the crop it gives: 5616/3504 = 1.603
    (APS-C), 5616/4320 = 1.3 (APS-H), 1.6 without SensorInfo, with the plan's crop warning; at
    the body's crop 1 for AspectRatio 3:2, without it. Measured before: 1.0 in every case."""
    ratio, width, height, sensor_info, printed = _CASES[case]
    src = _canon_crop_jpeg(tmp_path / "IMG_0001.JPG", ratio, width, height, sensor_info=sensor_info)
    truth = _truth(src)
    assert truth["IFD0:Model"] == "Canon EOS-1Ds Mark III" and truth["Canon:LensModel"] == "EF50mm f/1.2L USM"
    assert truth["Canon:AspectRatio"] == printed
    assert (truth["Canon:CroppedImageWidth"], truth["Canon:CroppedImageHeight"]) == (width, height)
    assert "ExifIFD:FocalLengthIn35mmFormat" not in truth
    assert ("Canon:SensorLeftBorder" in truth) == sensor_info
    crop = _expected_crop(truth)
    assert crop == pytest.approx({"aps-c": 1.6027, "aps-h": 1.3, "aps-c-no-sensor-info": 1.6,
                                  "full-frame": 1.0}[case], abs=1e-4)

    rec = _l2_json("lens", "match", str(src))  # one file: its record
    assert rec["camera"]["model"] == "Canon EOS-1Ds Mark III" and rec["camera"]["crop_factor"] == 1.0
    assert rec["lens"]["name"] == "Canon EF 50mm f/1.2L USM" and rec["method"] == "exact"
    assert rec["planned_crop_factor"] == pytest.approx(crop, rel=1e-9)
    warning = _CROP_WARNING.format(c=crop)
    assert (warning in rec["warnings"]) == (crop > 1.04), rec["warnings"]

    info = _l2_json("info", str(src))
    assert info["camera_db_crop_factor"] == 1.0
    assert info["planned_crop_factor"] == pytest.approx(crop, rel=1e-9)


def _lensfun_reference(src_px: np.ndarray, crop: float) -> np.ndarray:
    """lensfunpy's distortion correction of ``src_px`` for the EF 50mm f/1.2L on the 1Ds Mark III
    at ``crop``, f/1.2, scale 1 (lensfun's own geometry map, then cv2.remap)."""
    import cv2

    lensfunpy = pytest.importorskip("lensfunpy", reason="lensfunpy (the lensfun binding) is not installed")
    db = lensfunpy.Database()
    cam = db.find_cameras("Canon", "Canon EOS-1Ds Mark III")[0]
    lens = next(le for le in db.find_lenses(cam) if le.model == "Canon EF 50mm f/1.2L USM")
    H, W = src_px.shape[:2]
    mod = lensfunpy.Modifier(lens, crop, W, H)
    mod.initialize(50.0, 1.2, 1000.0, scale=1.0, pixel_format=np.float32, flags=lensfunpy.ModifyFlags.DISTORTION)
    m = mod.apply_geometry_distortion()
    return cv2.remap(src_px, m[..., 0], m[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


@needs_exiftool
@pytest.mark.parametrize("case", ["aps-c", "full-frame"])
def test_correct_corrects_a_canon_crop_mode_jpeg_as_lensfun_does_at_the_crop(tmp_path, case):
    """`l2 correct --scale 1 --json` plans the APS-C crop-mode JPEG at crop 5616/3504 (its lens
    record and warnings say so) and its pixels are lensfunpy's correction at that crop: mean
    difference 0.83 of 255 measured (JPEG re-encoding), tolerance 1.5; lensfunpy's at crop 1
    differs by 7.9 (the corner moves 9.3 px at crop 1, 1.6 px at 1.6). AspectRatio 3:2 is
    corrected at crop 1, lensfunpy's at crop 1. Measured before: the crop-mode JPEG was
    corrected at crop 1 (0.82 from lensfunpy's crop-1 output, 7.8 from its crop-1.603 one)."""
    from PIL import Image

    ratio, width, height, _, _ = _CASES[case]
    src = _canon_crop_jpeg(tmp_path / "IMG_0001.JPG", ratio, width, height)
    crop = _expected_crop(_truth(src))
    out = tmp_path / "out.jpg"
    res = _l2_json("correct", str(src), "-o", str(out), "--no-sidecar", "--scale", "1", "--quality", "98")
    assert res["ok"] == 1, res
    lens = res["results"][0]["lens"]
    assert lens["lens"] == "Canon EF 50mm f/1.2L USM" and lens["corrections"]["distortion"]["applied"]
    assert lens["crop_factor"] == pytest.approx(crop, rel=1e-9)
    assert (_CROP_WARNING.format(c=crop) in lens["warnings"]) == (crop > 1.04), lens["warnings"]

    src_px = np.asarray(Image.open(src), np.float32)
    out_px = np.asarray(Image.open(out), np.float32)
    err = {c: float(np.abs(out_px - _lensfun_reference(src_px, c))[8:-8, 8:-8].mean()) for c in {1.0, crop}}
    assert err[crop] < 1.5, err
    if crop != 1.0:
        assert err[1.0] > 4 * err[crop], err


@needs_exiftool
def test_a_raw_holding_the_whole_sensor_is_not_planned_at_its_recorded_crop(tmp_path):
    """A RAW whose SensorInfo area is the whole sensor (5616 px active on the 1Ds Mark III CR2,
    5472 on the EOS R6 CR3) with AspectInfo set to the APS-C crop is developed uncropped, so it
    is planned at the body's crop 1 (no crop warning). exiftool reads the mode back from both;
    the CR3's maker note (its CMT3 box) is read for it: the same CR3 with SensorInfo's area and
    PixelX/YDimension set to the cropped size (a RAW recorded at the crop's size; layout assumed,
    no such file in the shared data) is planned at the mode's 1.6 (its focal-plane resolution
    alone gives 1.6105). A JPEG wider than the crop (as a converter's export of a whole-sensor
    RAW) is planned at crop 1 too (1.603 without that rule). Measured before: 1, 1, 1.6105, 1."""
    cr2 = tmp_path / "IMG_0001.CR2"
    shutil.copyfile(shared_file(CANON_1DS3), cr2)
    with _Quiet():
        img = exiv2.ImageFactory.open(str(cr2))
        img.readMetadata()
        img.exifData()["Exif.Canon.AspectInfo"] = _aspect_info(13, 3504, 2336)
        img.writeMetadata()

    data = shared_file(CANON_R6_CR3).read_bytes()
    aspect = struct.pack("<5I", 0, 5472, 3648, 0, 0)  # the R6's own AspectInfo (exiftool -v3)
    sensor = struct.pack("<9H", 34, 5568, 3708, 1, 1, 84, 50, 5555, 3697)  # its SensorInfo, first 9
    assert data.count(aspect) == 1 and data.count(sensor) == 1
    data = data.replace(aspect, struct.pack("<5I", 13, 3408, 2272, 1032, 688))
    whole = tmp_path / "IMG_0001.CR3"
    whole.write_bytes(data)
    readout = tmp_path / "IMG_0002.CR3"
    for old, new in ((sensor, struct.pack("<9H", 34, 5568, 3708, 1, 1, 84, 50, 84 + 3408 - 1, 50 + 2272 - 1)),
                     # Exif PixelXDimension / PixelYDimension (SHORT), the frame's size
                     (struct.pack("<HHIHH", 0xA002, 3, 1, 5472, 0), struct.pack("<HHIHH", 0xA002, 3, 1, 3408, 0)),
                     (struct.pack("<HHIHH", 0xA003, 3, 1, 3648, 0), struct.pack("<HHIHH", 0xA003, 3, 1, 2272, 0))):
        assert data.count(old) == 1
        data = data.replace(old, new)
    readout.write_bytes(data)

    # AspectInfo of the APS-C crop (3504 x 2336) on a JPEG of 3744 x 2496, wider than the crop
    wide = _canon_crop_jpeg(tmp_path / "IMG_0003.JPG", 13, 3504, 2336, pixels=(3744, 2496))
    for path, model, planned in ((cr2, "Canon EOS-1Ds Mark III", 1.0), (whole, "Canon EOS R6", 1.0),
                                 (readout, "Canon EOS R6", 1.6), (wide, "Canon EOS-1Ds Mark III", 1.0)):
        truth = _truth(path)
        assert truth["IFD0:Model"] == model and truth["Canon:AspectRatio"] == "3:2 (APS-C crop)"
        assert "ExifIFD:FocalLengthIn35mmFormat" not in truth
        info = _l2_json("info", str(path))
        assert info["camera_db_crop_factor"] == 1.0, path.name
        assert info["planned_crop_factor"] == pytest.approx(planned, rel=1e-9), (path.name, info["crop_factor"])
