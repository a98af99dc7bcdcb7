"""RAW decoding through LibRaw: working space, orientation, and bad input (RELIABILITY 1–4)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from l2tech.errors import CorruptInputError, DecodeError, EmptyFileError, LimitExceededError, UnsupportedFormatError
from l2tech.raw.decode import decode_raw

from conftest import SHARED_DATA, shared_file


def test_decode_matches_libraw_linear_rec2020():
    """Our decode is LibRaw's own linear Rec.2020 output scaled to [0, 1] (oracle: rawpy)."""
    import rawpy

    p = shared_file("raw/decodable/canon_kiss_x4__colorchecker.dng")
    r = decode_raw(p, half_size=True)
    with rawpy.imread(str(p)) as raw:
        ref = raw.postprocess(output_color=rawpy.ColorSpace.Rec2020, gamma=(1, 1), no_auto_bright=True,
                              output_bps=16, use_camera_wb=True, user_flip=0, half_size=True)
    assert r.image.dtype == np.float32
    np.testing.assert_allclose(r.image, ref / 65535.0, atol=1e-7)
    assert r.cfa_pattern == "RGGB" and r.orientation == 1


def test_empty_file(tmp_path):
    p = tmp_path / "empty.NEF"
    p.write_bytes(b"")
    with pytest.raises(EmptyFileError, match="empty.NEF"):
        decode_raw(p)


def test_text_renamed_nef_and_jpeg_renamed_arw(tmp_path):
    t = tmp_path / "notes.NEF"
    t.write_text("not a raw file\n" * 100)
    with pytest.raises(UnsupportedFormatError, match="notes.NEF"):
        decode_raw(t)
    j = tmp_path / "photo.ARW"
    shutil.copy(shared_file("raw/jpeg_reference/canon_6d__ef100mm_macro.jpg"), j)
    with pytest.raises(UnsupportedFormatError, match="photo.ARW"):
        decode_raw(j)


@pytest.mark.parametrize("name", ["raw/decodable/canon_kiss_x4__colorchecker.dng", "raw/decodable/canon_eos_d30__16-35mm.crw",
                                  "raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng"])
def test_truncated_raw_is_an_error_never_grey(tmp_path, name):
    src = shared_file(name)
    data = src.read_bytes()
    p = tmp_path / ("half_" + src.name)
    p.write_bytes(data[: len(data) // 2])
    with pytest.raises((CorruptInputError, UnsupportedFormatError, DecodeError)) as ei:
        decode_raw(p)
    assert p.name in str(ei.value)


def test_metadata_only_files_are_refused(tmp_path):
    """Stripped files (image data removed on purpose) are errors, never zero-filled images."""
    for name in ["apple_iphone12pro__proraw__exiv2.dng", "canon_350d__exiftool.dng", "sony_slt-a55v__dt18-200__imagemeta.arw.exif",
                 "panasonic_dmc-lx3__exiftool.rw2"]:
        with pytest.raises(CorruptInputError, match="truncated"):
            decode_raw(shared_file("raw/metadata_only/" + name))


def test_gopro_gpr_is_a_clear_decode_error():
    # the message names the codec (DNG Compression 9, VC-5) and the decoder LibRaw lacks
    with pytest.raises(DecodeError, match=r"GoPro GPR \(VC-5 compressed DNG\).*no VC-5 decoder"):
        decode_raw(shared_file("raw/codec_unsupported/gopro_hero6_black.gpr"))


def test_huge_header_refused_before_unpacking(tmp_path):
    """A CFA DNG whose header claims 65535x65535 with 1 MB of data: limit error, no allocation."""
    import struct

    import tifffile

    p = tmp_path / "huge.dng"
    cfa = np.zeros((16, 16), np.uint16)
    extratags = [(50706, "B", 4, (1, 4, 0, 0), True), (50708, "s", 0, "Test Camera", True),
                 (33421, "H", 2, (2, 2), True), (33422, "B", 4, (0, 1, 1, 2), True)]
    extratags += [(271, "s", 0, "Canon", True), (272, "s", 0, "Canon EOS 6D", True)]
    tifffile.imwrite(p, cfa, photometric=32803, extratags=extratags)
    data = bytearray(p.read_bytes())
    with tifffile.TiffFile(p) as tf:
        for code in (256, 257):
            tag = tf.pages[0].tags[code]
            fmt = {3: "<H", 4: "<I"}[tag.dtype]
            data[tag.valueoffset : tag.valueoffset + struct.calcsize(fmt)] = struct.pack(fmt, 65535)
    p.write_bytes(bytes(data) + b"\0" * 1_000_000)
    with pytest.raises((LimitExceededError, CorruptInputError)) as ei:
        decode_raw(p)
    assert "huge.dng" in str(ei.value)


def _decodable_raws():
    folder = SHARED_DATA / "raw" / "decodable"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else ["(shared data absent)"]


@pytest.mark.parametrize("name", _decodable_raws())
def test_camera_rgb_and_its_matrix_equal_libraws_own_conversion(name):
    """decode_raw(camera_rgb=True): camera RGB times the matrix equals LibRaw's own Rec.2020
    develop of the same file within 4/65535 on every unclipped pixel (the two integer roundings;
    measured max 3.8), for DNGs (embedded matrix) and other RAWs (matrix from cam_xyz, as the
    D30 CRW, whose embedded matrix is empty)."""
    from l2tech.raw.decode import decode_raw

    path = shared_file(f"raw/decodable/{name}")
    cam = decode_raw(path, as_uint16=True, camera_rgb=True)
    ref = decode_raw(path, as_uint16=True).image.astype(np.float64)
    assert cam.camera_to_working is not None
    got = cam.image.astype(np.float64) @ cam.camera_to_working.T
    ok = (ref > 200).all(-1) & (ref < 60000).all(-1) & (got > 0).all(-1)
    assert ok.mean() > 0.5
    assert np.abs(got - ref)[ok].max() < 4.0
