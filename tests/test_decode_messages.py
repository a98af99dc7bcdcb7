"""Damaged PNG / JPEG / TIFF: what C libraries print is one named line, never raw text.

libpng (inside OpenCV) writes ``libpng error: IDAT: CRC error`` and ``libpng warning: iCCP: ...``
straight to fd 2; Pillow refuses a PNG whose text or ICC chunk expands past
``PngImagePlugin.MAX_TEXT_CHUNK``; exiv2 refuses one whose compressed text expands past 128 KiB;
the metadata reader's ICC note named no file. Each case is run through ``l2`` in-process
(``capfd`` sees what reaches fd 2) and must give one clean ``warning: FILE: message`` or typed
error line, nothing raw (docs/RELIABILITY.md, D1-D7).
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from l2tech.cli.main import main

# pytest turns warnings into errors (pyproject.toml); here they are what is printed
pytestmark = pytest.mark.filterwarnings("always::l2tech.io.native_messages.DecoderWarning")

RAW_TEXT = ("libpng error:", "libpng warning:", "Corrupt JPEG data", "MAX_TEXT", "Decompressed data too large", "Traceback")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png(extra: bytes = b"", *, bad_idat_crc: bool = False, idat: bytes | None = None, w: int = 16, h: int = 16) -> bytes:
    rows = b"".join(b"\0" + bytes((x * 16 + y) & 255 for x in range(w) for _ in range(3)) for y in range(h))
    chunk = _chunk(b"IDAT", zlib.compress(rows) if idat is None else idat)
    if bad_idat_crc:
        chunk = chunk[:-4] + bytes(b ^ 0xFF for b in chunk[-4:])
    ihdr = _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + extra + chunk + _chunk(b"IEND", b"")


def _jpeg_with_app2(icc: bytes) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.full((16, 16, 3), 128, np.uint8)).save(buf, "JPEG")
    data = buf.getvalue()
    app2 = b"\xff\xe2" + struct.pack(">H", 2 + 14 + len(icc)) + b"ICC_PROFILE\0\x01\x01" + icc
    return data[:2] + app2 + data[2:]


TOO_BIG = PngImagePlugin.MAX_TEXT_CHUNK + 10
BAD_ICC = b"\0\0\0\x10" + b"junk" * 30

#: name -> (bytes, the message each clean line must hold)
DECODABLE = {
    "iccp_corrupt.png": (_png(_chunk(b"iCCP", b"x\0\0" + zlib.compress(b"\0" * 200))), "libpng warns 'iCCP: too short'"),
    "iccp_big.png": (_png(_chunk(b"iCCP", b"big\0\0" + zlib.compress(b"\0" * TOO_BIG))),
                     "embedded ICC profile 'big' (PNG iCCP chunk) expands past 1 MiB"),
    "ztxt_big.png": (_png(_chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"a" * TOO_BIG))),
                     "PNG zTXt text chunk 'Comment' expands past 1 MiB"),
    "itxt_big.png": (_png(_chunk(b"iTXt", b"Description\0\1\0\0\0" + zlib.compress(b"a" * TOO_BIG))),
                     "PNG iTXt text chunk 'Description' expands past 1 MiB"),
    "text_big.png": (_png(_chunk(b"tEXt", b"Comment\0" + b"a" * TOO_BIG)), None),  # Pillow reads it: no message
    "jpeg_bad_icc.jpg": (_jpeg_with_app2(BAD_ICC), "ICC profile is corrupt (16 bytes, bad header); ignored"),
}

UNDECODABLE = {
    "idat_crc.png": (_png(bad_idat_crc=True), "cannot decode PNG: libpng reports 'IDAT: CRC error'; not decoded"),
    "idat_short.png": (_png(idat=zlib.compress(b"\0" * 10)), "cannot decode PNG: libpng reports 'Not enough image data'; not decoded"),
}


def _write(tmp_path: Path, name: str, data: bytes) -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def _clean(text: str, src: Path) -> None:
    """No raw library text; every warning line is ``warning: FILE: message`` naming ``src``."""
    for raw in RAW_TEXT:
        assert raw not in text, text
    for line in text.splitlines():
        if line.strip().startswith("warning"):
            assert line.strip().startswith(f"warning: {src}: "), line


@pytest.mark.parametrize("name", sorted(UNDECODABLE))
@pytest.mark.parametrize("as_json", [False, True])
def test_undecodable_png_is_one_typed_error_nothing_written(tmp_path, capfd, name, as_json):
    data, expected = UNDECODABLE[name]
    src = _write(tmp_path, name, data)
    out = tmp_path / "out.jpg"
    rc = main(["correct", str(src), "-o", str(out), *(["--json"] if as_json else [])])
    cap = capfd.readouterr()
    assert rc == 1
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == [name]
    assert src.read_bytes() == data
    _clean(cap.err, src)
    if as_json:
        doc = json.loads(cap.out)
        (res,) = doc["results"]
        assert res["status"] == "failed" and res["error_type"] == "CorruptInputError"
        assert res["error"] == f"{src}: {expected}"
    else:
        lines = [x for x in cap.err.splitlines() if x.startswith("error")]
        assert lines == [f"error (CorruptInputError): {src}: {expected}"]


@pytest.mark.parametrize("name", sorted(DECODABLE))
def test_decodable_defect_is_one_named_warning_and_written(tmp_path, capfd, name):
    data, expected = DECODABLE[name]
    src = _write(tmp_path, name, data)
    out = tmp_path / "out.jpg"
    rc = main(["correct", str(src), "-o", str(out)])
    cap = capfd.readouterr()
    assert rc == 0 and out.is_file()
    assert src.read_bytes() == data
    _clean(cap.err, src)
    if expected is not None:
        hits = [x.strip() for x in cap.err.splitlines() if expected in x]
        assert hits and all(h.startswith(f"warning: {src}: ") for h in hits), cap.err


@pytest.mark.parametrize("name", sorted(DECODABLE))
def test_json_carries_the_named_warnings(tmp_path, capfd, name):
    data, expected = DECODABLE[name]
    src = _write(tmp_path, name, data)
    rc = main(["correct", str(src), "-o", str(tmp_path / "out.jpg"), "--json"])
    cap = capfd.readouterr()
    assert rc == 0
    _clean(cap.err, src)
    doc = json.loads(cap.out)
    every = list(doc.get("warnings", [])) + [w for r in doc["results"] for w in r.get("warnings", [])]
    if expected is not None:
        assert any(w.startswith(f"{src}: ") and expected in w for w in every), every
    assert all(w.startswith(f"{src}: ") or w.startswith("lens correction skipped") for w in every), every


@pytest.mark.parametrize("name", ["iccp_corrupt.png", "jpeg_bad_icc.jpg", "ztxt_big.png", "idat_crc.png"])
def test_info_names_the_file_on_each_warning(tmp_path, capfd, name):
    data, _ = {**DECODABLE, **UNDECODABLE}[name]
    src = _write(tmp_path, name, data)
    rc = main(["info", str(src)])
    cap = capfd.readouterr()
    assert rc == 0  # info reads the metadata, not the pixels
    _clean(cap.err, src)
    for line in (cap.out + cap.err).splitlines():
        if line.strip().startswith("warning"):
            assert line.strip().startswith(f"warning: {src}: "), line
    if name != "idat_crc.png":
        assert "warning: " in cap.out + cap.err
    assert src.read_bytes() == data


def test_ztxt_past_exiv2s_limit_keeps_the_rest_of_the_metadata(tmp_path):
    """exiv2 refused the whole file for one zTXt expanding past 128 KiB (MetadataError)."""
    from l2tech.io.metadata import read_metadata

    src = _write(tmp_path, "z.png", _png(_chunk(b"zTXt", b"Comment\0\0" + zlib.compress(b"a" * 500_000))))
    meta = read_metadata(src)
    assert meta.width == 16 and meta.height == 16
    assert meta.warnings == (f"{src}: PNG zTXt text chunk 'Comment' expands past 128 KiB, the metadata reader's limit; ignored",)


def test_native_stderr_catches_fd2_and_restores_it(capfd):
    import os

    from l2tech.io.native_messages import library_message, native_stderr

    with native_stderr() as said:
        os.write(2, b"libpng warning: iCCP: too short\n" * 3 + b"other text\n")
    os.write(2, b"after\n")
    cap = capfd.readouterr()
    assert said == ["libpng warning: iCCP: too short", "other text"]
    assert cap.err == "after\n"
    assert library_message(said[0]) == ("libpng", "warning", "iCCP: too short")
    assert library_message("other text") == ("", None, "other text")


def test_calibration_image_with_damaged_jpeg_data_is_a_named_warning(tmp_path, capfd):
    """``l2 calibrate`` reads its shots with OpenCV, whose libjpeg printed ``Corrupt JPEG data:
    premature end of data segment`` / ``Premature end of JPEG file`` raw on the terminal."""
    import warnings

    import cv2

    from l2tech.calibrate.targets import read_calibration_image
    from l2tech.io.native_messages import DecoderWarning

    board = (np.indices((240, 320)).sum(0) // 40 % 2 * 255).astype(np.uint8)
    data = cv2.imencode(".jpg", board)[1].tobytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        img = read_calibration_image(tmp_path / "cut.jpg")
    assert img.shape == (240, 320, 3)
    said = [str(w.message) for w in caught if issubclass(w.category, DecoderWarning)]
    assert said == [f"{tmp_path / 'cut.jpg'}: the JPEG decoder printed 'Premature end of JPEG file'"], said
    assert "Premature end" not in capfd.readouterr().err  # nothing raw on fd 2
