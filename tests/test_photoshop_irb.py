"""Photoshop resources and applied Adobe Camera Raw settings survive l2 correct (TRUST item 3).

The Canon 6D JPEG in the shared data was saved by Photoshop: its APP13 holds 20 resource values
(print settings, resolution, slices, IPTC digest, a thumbnail) and its XMP 102 ``crs:``
settings marked ``crs:AlreadyApplied True``. Before, an output kept none of them. exiftool is the
oracle for what a file holds.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_file
from l2tech.io.photoshop_irb import THUMBNAIL_RESOURCE_IDS, build_irb, carry_jpeg_irb, irb_resources, read_jpeg_irb
from l2tech.pipeline.recipe import Recipe

needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")

SIX_D = "raw/jpeg_reference/canon_6d__ef100mm_macro.jpg"
SIX_D_DNG = "raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng"
SX60 = "raw/jpeg_reference/canon_powershot_sx60hs.jpg"


def _tags(path: Path, *args: str) -> dict[str, object]:
    out = subprocess.run(["exiftool", "-j", "-G1", "-a", *args, str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


def _group(tags: dict[str, object], group: str) -> dict[str, object]:
    return {k: v for k, v in tags.items() if k.startswith(f"{group}:")}


def test_resource_directory_round_trips_byte_for_byte():
    irb = read_jpeg_irb(shared_file(SIX_D))
    res = irb_resources(irb)
    assert len(res) >= 15 and {0x0404, 0x0425, 0x040C} <= {r[0] for r in res}
    assert build_irb(res) == irb


@pytest.fixture(scope="module")
def six_d_out(tmp_path_factory):
    from l2tech.pipeline.stills import correct_image_file

    out = tmp_path_factory.mktemp("irb") / "out.jpg"
    correct_image_file(shared_file(SIX_D), out, Recipe())
    return out


@needs_exiftool
def test_photoshop_resources_kept_but_the_thumbnail(six_d_out):
    src = _group(_tags(shared_file(SIX_D)), "Photoshop")
    out = _group(_tags(six_d_out), "Photoshop")
    assert len(src) == 20
    thumb = "Photoshop:PhotoshopThumbnail"
    assert thumb in src and thumb not in out
    del src[thumb]
    assert out == src  # values, not only keys: 19/19
    assert not ({r[0] for r in irb_resources(read_jpeg_irb(six_d_out))} & THUMBNAIL_RESOURCE_IDS)


@needs_exiftool
def test_iptc_digest_is_as_current_as_it_was(six_d_out, tmp_path):
    from l2tech.pipeline.stills import correct_image_file

    # the 6D's digest was already stale (its IPTC changed after Photoshop): carried as it was
    src = _tags(shared_file(SIX_D))
    out = _tags(six_d_out)
    assert src["Photoshop:IPTCDigest"] != src["File:CurrentIPTCDigest"]
    assert out["Photoshop:IPTCDigest"] == src["Photoshop:IPTCDigest"]
    assert _group(out, "IPTC") == _group(src, "IPTC")
    # the SX60's digest matched its IPTC, and still matches in the output
    sx = tmp_path / "sx.jpg"
    correct_image_file(shared_file(SX60), sx, Recipe())
    s_in, s_out = _tags(shared_file(SX60)), _tags(sx)
    assert s_in["Photoshop:IPTCDigest"] == s_in["File:CurrentIPTCDigest"]
    assert s_out["Photoshop:IPTCDigest"] == s_out["File:CurrentIPTCDigest"] == s_in["Photoshop:IPTCDigest"]


@needs_exiftool
def test_applied_camera_raw_settings_kept_pending_ones_dropped(six_d_out, tmp_path):
    from l2tech.pipeline.stills import develop_file

    src = _group(_tags(shared_file(SIX_D)), "XMP-crs")
    assert src["XMP-crs:AlreadyApplied"] is True and len(src) == 102
    assert _group(_tags(six_d_out), "XMP-crs") == src
    assert _tags(six_d_out)["XMP-dc:Format"] == "image/jpeg"
    # the DNG's settings are an edit still to be made (AlreadyApplied False): not carried, so
    # Lightroom does not apply them again to the developed pixels
    dng = _group(_tags(shared_file(SIX_D_DNG)), "XMP-crs")
    assert dng["XMP-crs:AlreadyApplied"] is False
    out = tmp_path / "dng.jpg"
    develop_file(shared_file(SIX_D_DNG), out, Recipe())
    assert _group(_tags(out), "XMP-crs") == {}


@needs_exiftool
def test_directory_over_one_segment_is_split_and_read_back(tmp_path):
    from l2tech.io.image import write_image


    # a 100 kB resource before the resolution info: the directory spans two APP13 segments
    res = irb_resources(read_jpeg_irb(shared_file(SIX_D)))
    big = (0x0FA0, b"\x00\x00", bytes(range(256)) * 400)
    src = tmp_path / "src.jpg"
    data = shared_file(SIX_D).read_bytes()
    shutil.copy(shared_file(SIX_D), src)
    stripped = tmp_path / "stripped.jpg"
    write_image(stripped, np.full((8, 8, 3), 0.5, np.float32))
    irb = build_irb([big, *res])
    payload = b"Photoshop 3.0\x00" + irb
    segs = b"".join(b"\xff\xed" + struct.pack(">H", len(c) + 2) + c
                    for c in (payload[:65000], b"Photoshop 3.0\x00" + payload[65000:]))
    src.write_bytes(data[:2] + segs + data[2:].replace(b"Photoshop 3.0\x00", b"Photoshop 9.9\x00", 1))
    assert read_jpeg_irb(src) == irb
    assert carry_jpeg_irb(src, stripped)
    got = read_jpeg_irb(stripped)
    assert got == build_irb([r for r in [big, *res] if r[0] not in THUMBNAIL_RESOURCE_IDS])
    assert subprocess.run(["exiftool", "-s3", "-Photoshop:XResolution", str(stripped)], capture_output=True,
                          text=True).stdout.strip() == "240"


@needs_exiftool
def test_tiff_output_keeps_the_resources_too(tmp_path):
    """`l2 correct 6D.jpg -o out.tif`: the TIFF output lost all Photoshop resources (the JPEG
    output kept them); now they are in its tag 34377, thumbnail left out, values equal."""
    from l2tech.pipeline.stills import correct_image_file

    out = tmp_path / "out.tif"
    correct_image_file(shared_file(SIX_D), out, Recipe())
    src = _group(_tags(shared_file(SIX_D)), "Photoshop")
    got = _group(_tags(out), "Photoshop")
    del src["Photoshop:PhotoshopThumbnail"]
    assert got == src and len(got) == 19


@needs_exiftool
@pytest.mark.parametrize("ext", ["jpg", "tif", "png"])
@pytest.mark.parametrize("name", [SIX_D, "raw/jpeg_reference/olympus_e-p3__mzuiko_14-42_II_R_15mm.jpg"],
                         ids=["6D-240dpi", "E-P3-314dpi"])
def test_print_resolution_is_kept_in_every_output_format(tmp_path, ext, name):
    """The source's print resolution (EXIF 240 or 314 dpi) is where each output format keeps it:
    JPEG's JFIF density (was reset to 1:1, no unit), TIFF's XResolution/ResolutionUnit (was 1,
    no unit), PNG's pHYs (none; 240 dpi = 9449 pixels per metre, rounded)."""
    from l2tech.pipeline.stills import correct_image_file

    src = shared_file(name)
    out = tmp_path / f"out.{ext}"
    correct_image_file(src, out, Recipe(force=True))
    dpi = float(_tags(src, "-n")["IFD0:XResolution"])
    t = _tags(out, "-n")
    if ext == "jpg":
        assert (t["JFIF:XResolution"], t["JFIF:YResolution"], t["JFIF:ResolutionUnit"]) == (dpi, dpi, 1)
    elif ext == "tif":
        assert (t["IFD0:XResolution"], t["IFD0:YResolution"], t["IFD0:ResolutionUnit"]) == (dpi, dpi, 2)
    else:
        assert (t["PNG-pHYs:PixelsPerUnitX"], t["PNG-pHYs:PixelUnits"]) == (round(dpi / 0.0254), 1)


@pytest.mark.parametrize("ext", ["jpg", "png", "tif"])
def test_absurd_resolutions_are_not_carried_and_never_hang(tmp_path, ext):
    """A source stating XResolution 2147483647 dpi and FocalPlaneXResolution 2147483647 for a
    1-pixel width: the print resolution fits no JFIF/PNG field (PNG raised struct.error) and the
    scaled focal-plane resolution no EXIF RATIONAL (the fraction search looped for ever). The
    output is written; the resolution is left out, the focal-plane update is a warning."""
    from l2tech.io.image import write_image
    from test_trust_frame_files import _set_exif

    src = tmp_path / "src.jpg"
    write_image(src, np.full((8, 8, 3), 0.5, np.float32))
    _set_exif(src, {"Exif.Image.XResolution": "2147483647/1", "Exif.Image.YResolution": "2147483647/1",
                    "Exif.Image.ResolutionUnit": "2", "Exif.Photo.FocalPlaneXResolution": "2147483647/1",
                    "Exif.Photo.FocalPlaneYResolution": "2147483647/1", "Exif.Photo.PixelXDimension": "1",
                    "Exif.Photo.PixelYDimension": "1"})
    out = tmp_path / f"out.{ext}"
    warns = write_image(out, np.full((16, 16, 3), 0.5, np.float32), exif_source=src)
    assert out.stat().st_size > 0
    assert any("FocalPlaneX/YResolution not updated" in w for w in warns), warns


def test_resources_after_a_megabyte_of_other_segments_are_read(tmp_path):
    """20 APP2 segments of 60 kB (an extended XMP or depth map's size) before the APP13: the
    resources were looked for in the first 1 MiB only, and lost."""
    data = shared_file(SIX_D).read_bytes()
    filler = b"".join(b"\xff\xe2" + struct.pack(">H", 60002) + bytes(60000) for _ in range(20))
    big = tmp_path / "big.jpg"
    big.write_bytes(data[:2] + filler + data[2:])
    assert len(filler) > 1 << 20
    assert read_jpeg_irb(big) == read_jpeg_irb(shared_file(SIX_D)) is not None
