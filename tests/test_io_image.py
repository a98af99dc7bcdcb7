"""Image I/O: quantisation, round trips, embedded ICC profiles, orientation, EXIF."""

from __future__ import annotations

import numpy as np
import pytest

from l2tech.errors import CorruptInputError, EmptyFileError, LimitExceededError, OutputExistsError, UnsupportedFormatError
from l2tech.color.display import icc_profile
from l2tech.io.image import apply_orientation, dequantize, quantize, read_image, write_image

from conftest import shared_file

RNG = np.random.default_rng(7)


def test_quantize_round_half_up_and_clip():
    x = np.array([-0.1, 0.0, 0.5 / 255, 1.0, 1.2], dtype=np.float32)
    assert quantize(x, 8).tolist() == [0, 0, 1, 255, 255]
    codes = np.arange(65536, dtype=np.uint16)
    assert np.array_equal(quantize(dequantize(codes), 16), codes)


@pytest.mark.parametrize("ext,tol", [("tif", 1 / 65535), ("png", 1 / 65535), ("jpg", None)])
def test_write_read_round_trip(tmp_path, ext, tol):
    img = RNG.random((32, 48, 3), dtype=np.float32)
    if ext == "jpg":  # smooth content for a lossy codec
        yy, xx = np.mgrid[0:32, 0:48].astype(np.float32)
        img = np.stack([xx / 47, yy / 31, (xx + yy) / 78], axis=-1).astype(np.float32)
    p = tmp_path / f"a.{ext}"
    write_image(p, img, icc_profile=icc_profile("srgb"), quality=98)
    d = read_image(p)
    assert d.pixels.shape == img.shape and d.icc_profile == icc_profile("srgb")
    err = np.abs(d.pixels - img).max()
    assert err <= (tol if tol else 4 / 255), err  # JPEG q98 4:4:4 on a smooth ramp: ≤ 4 codes


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_matches_pillow_exif_transpose(orientation):
    from PIL import Image, ImageOps

    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    im = Image.fromarray(a)
    im.getexif()[0x0112] = orientation
    assert np.array_equal(np.asarray(ImageOps.exif_transpose(im)), apply_orientation(a, orientation))


def test_orientation_invalid_value_leaves_pixels():
    a = np.arange(12).reshape(3, 4)
    assert apply_orientation(a, 9) is a and apply_orientation(a, None) is a


def test_exif_carried_and_orientation_reset(tmp_path):
    import exiv2

    src = shared_file("raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng")
    p = tmp_path / "o.jpg"
    write_image(p, np.full((8, 8, 3), 0.5, np.float32), exif_source=src, exif_overrides={"Exif.Photo.LensModel": "Canon EF 24-105mm f/4L IS USM"})
    im = exiv2.ImageFactory.open(str(p))
    im.readMetadata()
    ed = im.exifData()
    assert ed["Exif.Image.Model"].toString() == "Canon EOS 6D"
    assert ed["Exif.Photo.LensModel"].toString() == "Canon EF 24-105mm f/4L IS USM"
    assert ed["Exif.Photo.FocalLength"].toString() == "65/1"
    assert ed["Exif.Photo.FNumber"].toString() in ("56/10", "28/5")
    assert ed["Exif.Image.Orientation"].toString() == "1"


def test_read_errors(tmp_path):
    empty = tmp_path / "e.jpg"
    empty.write_bytes(b"")
    with pytest.raises(EmptyFileError, match="e.jpg"):
        read_image(empty)
    txt = tmp_path / "t.png"
    txt.write_text("hello")
    with pytest.raises(UnsupportedFormatError, match="t.png"):
        read_image(txt)


def test_truncated_jpeg_is_an_error(tmp_path):
    p = tmp_path / "a.jpg"
    yy, xx = np.mgrid[0:64, 0:64].astype(np.float32)
    write_image(p, np.stack([xx / 63, yy / 63, xx * 0 + 0.5], -1).astype(np.float32))
    data = p.read_bytes()
    t = tmp_path / "trunc.jpg"
    t.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptInputError, match="trunc.jpg"):
        read_image(t)


def test_huge_header_refused_before_decoding(tmp_path):
    """A PNG whose IHDR claims 100000x100000 with tiny data: limit error, no allocation."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)  # noqa: E731
    p = tmp_path / "huge.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))
    with pytest.raises(LimitExceededError, match="100000x100000"):
        read_image(p)


def test_huge_tiff_header_refused(tmp_path):
    import tifffile

    p = tmp_path / "huge.tif"
    tifffile.imwrite(p, np.zeros((4, 4, 3), np.uint8), photometric="rgb")
    data = bytearray(p.read_bytes())
    with tifffile.TiffFile(p) as tf:
        for code in (256, 257):
            tag = tf.pages[0].tags[code]
            off, fmt = tag.valueoffset, {3: "<H", 4: "<I"}[tag.dtype]
            import struct

            data[off : off + struct.calcsize(fmt)] = struct.pack(fmt, 65535 if fmt == "<H" else 100000)
    p.write_bytes(bytes(data) + b"\0" * 1_000_000)
    with pytest.raises(LimitExceededError):
        read_image(p)


def test_existing_output_kept_without_overwrite(tmp_path):
    p = tmp_path / "o.png"
    write_image(p, np.zeros((4, 4, 3), np.float32))
    before = p.read_bytes()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        write_image(p, np.ones((4, 4, 3), np.float32))
    assert p.read_bytes() == before
    write_image(p, np.ones((4, 4, 3), np.float32), overwrite=True)
    assert p.read_bytes() != before
    assert [f.name for f in tmp_path.iterdir()] == ["o.png"]  # no temp files left
