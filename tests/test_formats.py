"""Magic-byte sniffing, empty files, mismatched names and header limits (RELIABILITY.md 1, 3, 4)."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import shared_file
from l2tech.errors import EmptyFileError, L2Error, LimitExceededError, UnsupportedFormatError
from l2tech.io.formats import (
    DEFAULT_MAX_PIXELS,
    check_dimensions,
    check_input,
    read_header_dimensions,
    sniff_format,
)


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _jpeg_bytes(w: int = 8, h: int = 6) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.zeros((h, w, 3), np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def _png_bytes() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.zeros((4, 5, 3), np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def _tiff_header(width: int, height: int, make: bytes | None = None, dng: bool = False, pad: int = 0) -> bytes:
    """Little-endian TIFF with IFD0 = ImageWidth, ImageLength (+ Make, DNGVersion), then ``pad`` zero bytes."""
    entries = [(256, 4, 1, width), (257, 4, 1, height)]
    extra = b""
    n = 2 + (make is not None) + dng
    ifd_size = 2 + 12 * n + 4
    if make is not None:
        entries.append((271, 2, len(make) + 1, 8 + ifd_size))
        extra = make + b"\0"
    if dng:
        entries.append((50706, 1, 4, 0x00000401))  # DNGVersion 1.4.0.0 (4 bytes inline)
    body = struct.pack("<H", n)
    for tag, typ, count, value in sorted(entries):
        if typ == 1:
            body += struct.pack("<HHI", tag, typ, count) + bytes([1, 4, 0, 0])
        else:
            body += struct.pack("<HHII", tag, typ, count, value)
    body += struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + body + extra + bytes(pad)


# -- RELIABILITY case 1: zero-byte files -------------------------------------------------------

@pytest.mark.parametrize("name", ["a.NEF", "b.jpg", "c.mp4", "d.cube", "e.xml", "f.dng", "g"])
def test_zero_byte_is_empty_file_error(tmp_path, name):
    p = _write(tmp_path, name, b"")
    with pytest.raises(EmptyFileError, match="empty file") as ei:
        sniff_format(p)
    assert str(p) in str(ei.value)
    with pytest.raises(EmptyFileError):
        check_input(p)


def test_missing_file_is_typed_error(tmp_path):
    with pytest.raises(UnsupportedFormatError, match="not found"):
        sniff_format(tmp_path / "nope.jpg")


# -- signatures ----------------------------------------------------------------------------------

_SYNTHETIC = {
    "jpeg": ("x.jpg", _jpeg_bytes),
    "png": ("x.png", _png_bytes),
    "tiff": ("x.tif", lambda: _tiff_header(10, 10)),
    "dng": ("x.dng", lambda: _tiff_header(10, 10, dng=True)),
    "nef": ("x.nef", lambda: _tiff_header(10, 10, make=b"NIKON CORPORATION")),
    "arw": ("x.arw", lambda: _tiff_header(10, 10, make=b"SONY")),
    "pef": ("x.pef", lambda: _tiff_header(10, 10, make=b"PENTAX Corporation")),
    "cr2": ("x.cr2", lambda: b"II*\x00\x10\x00\x00\x00CR\x02\x00" + bytes(64)),
    "crw": ("x.crw", lambda: b"II\x1a\x00\x00\x00HEAPCCDR" + bytes(32)),
    "cr3": ("x.cr3", lambda: b"\x00\x00\x00\x18ftypcrx \x00\x00\x00\x01crx isom" + bytes(16)),
    "raf": ("x.raf", lambda: b"FUJIFILMCCD-RAW 0201FF383501" + bytes(32)),
    "mrw": ("x.mrw", lambda: b"\x00MRM\x00\x00\x00\x20" + bytes(32)),
    "x3f": ("x.x3f", lambda: b"FOVb\x00\x02\x02\x00" + bytes(32)),
    "orf": ("x.orf", lambda: b"IIRO\x08\x00\x00\x00" + bytes(32)),
    "rw2": ("x.rw2", lambda: b"IIU\x00\x08\x00\x00\x00" + bytes(32)),
    "mp4": ("x.mp4", lambda: b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(16)),
    "mov": ("x.mov", lambda: b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  " + bytes(16)),
    "cube": ("x.cube", lambda: b"TITLE \"t\"\nLUT_3D_SIZE 2\n0 0 0\n"),
    "xml": ("x.xml", lambda: b"<?xml version='1.0'?><lensdatabase/>"),
}


@pytest.mark.parametrize("fmt", sorted(_SYNTHETIC))
def test_sniff_synthetic_signatures(tmp_path, fmt):
    name, make = _SYNTHETIC[fmt]
    p = _write(tmp_path, name, make())
    assert sniff_format(p) == fmt
    assert check_input(p) == fmt


# Formats of the real samples, as their MANIFEST.tsv describes them (exiv2 / LibRaw types).
_REAL = [
    ("raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng", "dng"),
    ("raw/decodable/canon_eos_d30__16-35mm.crw", "crw"),
    ("raw/codec_unsupported/gopro_hero6_black.gpr", "dng"),
    ("raw/metadata_only/canon_350d__exiftool.cr2", "cr2"),
    ("raw/metadata_only/canon_1ds3__ef50mm_f1.2L__imagemeta.cr2.exif", "cr2"),
    ("raw/metadata_only/canon__exiftool.cr3", "cr3"),
    ("raw/metadata_only/nikon_d70__18-70mm__exiftool.nef", "nef"),
    ("raw/metadata_only/sony_zv-e10__e_pz_16-50__file-type.arw", "arw"),
    ("raw/metadata_only/sony_slt-a55v__dt18-200__imagemeta.arw.exif", "arw"),
    ("raw/metadata_only/fujifilm_s5pro__exiftool.raf", "raf"),
    ("raw/metadata_only/panasonic_dmc-lx3__exiftool.rw2", "rw2"),
    ("raw/metadata_only/minolta_dimage_a2__exiftool.mrw", "mrw"),
    ("raw/metadata_only/sigma__exiftool.x3f", "x3f"),
    ("raw/jpeg_reference/canon_6d__ef100mm_macro.jpg", "jpeg"),
    ("video/gopro_hero5_karma_drone.mp4", "mp4"),
]


@pytest.mark.parametrize("rel,fmt", _REAL, ids=[r[0].split("/")[-1] for r in _REAL])
def test_sniff_real_files(rel, fmt):
    p = shared_file(rel)
    assert sniff_format(p) == fmt
    assert check_input(p) == fmt


# -- RELIABILITY case 4: renamed files -------------------------------------------------------------

def test_text_renamed_nef_is_unsupported(tmp_path):
    p = _write(tmp_path, "IMG_0001.NEF", b"hello, this is a text file\n" * 10)
    with pytest.raises(UnsupportedFormatError, match="unsupported or mismatched format") as ei:
        check_input(p, "raw")
    assert "IMG_0001.NEF" in str(ei.value)


def test_jpeg_renamed_arw_is_mismatched(tmp_path):
    p = _write(tmp_path, "DSC0001.ARW", _jpeg_bytes())
    assert sniff_format(p) == "jpeg"  # the content is known ...
    with pytest.raises(UnsupportedFormatError, match="unsupported or mismatched format.*'.arw'.*JPEG"):
        check_input(p)  # ... but the name promises a RAW


def test_kinds_filter(tmp_path):
    p = _write(tmp_path, "a.jpg", _jpeg_bytes())
    assert check_input(p, "image") == "jpeg"
    assert check_input(p, ["raw", "jpeg"]) == "jpeg"
    with pytest.raises(UnsupportedFormatError, match="expected"):
        check_input(p, "raw")


def test_unknown_binary_is_unsupported(tmp_path):
    p = _write(tmp_path, "x.bin", bytes(range(256)))
    with pytest.raises(UnsupportedFormatError, match="match no supported"):
        sniff_format(p)


# -- RELIABILITY case 3: header sizes ----------------------------------------------------------------

def test_tiff_header_65535_square_refused_before_decoding(tmp_path):
    p = _write(tmp_path, "huge.tif", _tiff_header(65535, 65535, pad=1_000_000))
    assert read_header_dimensions(p) == [(65535, 65535)]
    with pytest.raises(LimitExceededError, match="65535x65535"):
        check_input(p)


def test_raw_header_65535_square_refused(tmp_path):
    p = _write(tmp_path, "huge.nef", _tiff_header(65535, 65535, make=b"NIKON CORPORATION", pad=1_000_000))
    with pytest.raises(LimitExceededError, match="refused before decoding"):
        check_input(p, "raw")


def test_png_header_100000_square_refused(tmp_path):
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + b"\0\0\0\0" + bytes(1_000_000)
    p = _write(tmp_path, "huge.png", data)
    assert read_header_dimensions(p) == [(100000, 100000)]
    with pytest.raises(LimitExceededError):
        check_input(p)


def test_jpeg_sof_dimensions(tmp_path):
    p = _write(tmp_path, "a.jpg", _jpeg_bytes(37, 21))
    assert read_header_dimensions(p) == [(37, 21)]
    # patch the SOF0 size to 65535 x 65535
    data = bytearray(p.read_bytes())
    i = data.index(b"\xff\xc0")
    data[i + 5 : i + 9] = struct.pack(">HH", 65535, 65535)
    p.write_bytes(bytes(data))
    with pytest.raises(LimitExceededError):
        check_input(p)


def test_check_dimensions_rules():
    check_dimensions("x", 8000, 6000)  # 48 MP is fine
    check_dimensions("x", 14204, 10652)  # 151 MP medium format is fine
    with pytest.raises(LimitExceededError, match="x: header claims"):
        check_dimensions("x", 65535, 65535)
    with pytest.raises(LimitExceededError, match="not positive"):
        check_dimensions("x", 0, 10)
    with pytest.raises(LimitExceededError):
        check_dimensions("x", 30000, 30000, limit=DEFAULT_MAX_PIXELS)  # 900 MP
    with pytest.raises(LimitExceededError, match="a side"):
        check_dimensions("x", 70000, 10)
    check_dimensions("x", 30000, 30000, limit=10**9)  # a caller may raise the limit


def test_errors_are_l2errors(tmp_path):
    p = _write(tmp_path, "e.jpg", b"")
    with pytest.raises(L2Error):
        check_input(p)
    with pytest.raises(ValueError):  # the builtin twin
        check_input(p)


# -- property: random bytes never escape as anything but an L2Error ----------------------------------


_PREFIXES = [b"", b"II*\x00", b"MM\x00*", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"FOVb", b"\x00MRM",
             b"\x00\x00\x00\x18ftypcrx ", b"II\x1a\x00\x00\x00HEAPCCDR", b"FUJIFILMCCD-RAW "]


@settings(max_examples=120, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.sampled_from(_PREFIXES), body=st.binary(min_size=0, max_size=600),
       ext=st.sampled_from([".nef", ".jpg", ".cr3", ".x3f", ".tif", ".bin", ".cube"]))
def test_random_bytes_give_format_or_typed_error(tmp_path, prefix, body, ext):
    from l2tech.io.metadata import read_metadata

    p = tmp_path / f"f{ext}"
    p.write_bytes(prefix + body)
    try:
        fmt = check_input(p)
    except L2Error:
        return
    assert isinstance(fmt, str)
    try:
        read_metadata(p)
    except L2Error:
        pass
