"""Leaf MOS and Phase One IIQ files report their true size, and develop at it or fail clearly.

No Leaf or Phase One file is in the shared data: both are built here around real sensor data,
the Canon Kiss X4 DNG's CFA as LibRaw reads it (rawpy ``raw_image_visible``). LibRaw (rawpy) is
the oracle for the size, the pixels and whether the file develops; ExifTool for the file type.

- Leaf MOS: a big-endian TIFF, IFD0 Make "Leaf", the 16-bit CFA as one uncompressed strip, and
  Leaf's private tag 0x8606 holding ``PKTS`` records (LibRaw ``parse_mos``; ExifTool ``Leaf.pm``):
  ``CaptProf_number_of_planes`` 1 and ``CaptProf_mosaic_pattern``, from which LibRaw derives the
  Bayer pattern.
- IIQ: the Phase One block with no TIFF header (tests/_phase_one_build.py), its raw data the CFA.
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

KISS_X4 = "raw/decodable/canon_kiss_x4__colorchecker.dng"


def _cfa() -> np.ndarray:
    import rawpy

    with rawpy.imread(str(shared_file(KISS_X4))) as raw:
        return raw.raw_image_visible.copy()


def _pkts(name: str, value: bytes) -> bytes:
    """One Leaf metadata record: ``PKTS``, 4 unused bytes, a 40-byte name, the value's length
    (big-endian, as LibRaw ``parse_mos`` reads it in a Motorola-order file), the value."""
    return b"PKTS" + b"\0" * 4 + name.encode().ljust(40, b"\0") + struct.pack(">I", len(value)) + value


def _build_mos(path: Path, cfa: np.ndarray, *, pattern: str = "1 0 0 0", tile: tuple[int, int] | None = None) -> None:
    import tifffile

    leaf = _pkts("CaptProf_number_of_planes", b"1\0") + _pkts("CaptProf_mosaic_pattern", pattern.encode() + b"\0")
    tags = [(271, "s", 0, "Leaf", True), (272, "s", 0, "Aptus 75", True), (0x8606, "B", len(leaf), leaf, True)]
    tifffile.imwrite(path, cfa, photometric="minisblack", extratags=tags, metadata=None, byteorder=">", tile=tile)


def _libraw(path: Path) -> tuple[tuple[int, int], np.ndarray, list, int, np.ndarray]:
    """LibRaw's size (width, height), visible CFA, Bayer pattern, white level and 8-bit develop."""
    import rawpy

    with rawpy.imread(str(path)) as raw:
        size = (raw.sizes.width, raw.sizes.height)
        visible, pattern, white = raw.raw_image_visible.copy(), raw.raw_pattern.tolist(), raw.white_level
        return size, visible, pattern, white, raw.postprocess(output_bps=8, no_auto_bright=True)


def _info(path: Path, capsys) -> dict:
    from l2tech.cli.main import main

    capsys.readouterr()
    assert main(["info", str(path), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def _develop(path: Path, out: Path, capsys) -> tuple[int, str]:
    from l2tech.cli.main import main

    capsys.readouterr()
    rc = main(["develop", str(path), "-o", str(out) + "/", "--no-sidecar"])
    cap = capsys.readouterr()
    return rc, cap.out + cap.err


def _same_scene(developed: np.ndarray, libraw_rgb: np.ndarray) -> float:
    """Correlation of the two developments' green channels on 8 x 8 block means: the same scene,
    the same way up (it does not tell a demosaic from a grey mosaic; the colour check does)."""
    def blocks(a: np.ndarray) -> np.ndarray:
        g = a[..., 1].astype(np.float64)
        h, w = g.shape[0] // 8 * 8, g.shape[1] // 8 * 8
        return g[:h, :w].reshape(h // 8, 8, w // 8, 8).mean(axis=(1, 3)).ravel()
    return float(np.corrcoef(blocks(developed), blocks(libraw_rgb))[0, 1])


def test_leaf_mos_from_real_cfa_reports_and_develops_at_libraw_size(tmp_path, capsys):
    """A Leaf MOS built from the Kiss X4's CFA. LibRaw reads it as a Leaf raw: its visible CFA is
    the one written, its white level is the Leaf branch's 0x3fff, and the Bayer pattern follows
    the ``CaptProf_mosaic_pattern`` record (a pattern shifted by one column gives GRBG, not RGGB),
    so the private tag is parsed. `l2 info --json` reports LibRaw's size and Make "Leaf";
    `l2 develop` writes a colour image of that size showing the same scene as LibRaw's develop."""
    from PIL import Image

    cfa = _cfa()
    src = tmp_path / "CF000001.MOS"
    _build_mos(src, cfa)
    size, visible, pattern, white, rgb = _libraw(src)
    assert size == (cfa.shape[1], cfa.shape[0]) == (1734, 1156)
    assert np.array_equal(visible, cfa) and pattern == [[0, 1], [3, 2]] and white == 0x3FFF
    shifted = tmp_path / "CF000002.MOS"
    _build_mos(shifted, cfa, pattern="0 1 0 0")
    assert _libraw(shifted)[2] == [[1, 0], [2, 3]]
    if shutil.which("exiftool"):
        tool = json.loads(subprocess.run(["exiftool", "-j", "-n", "-FileType", "-Make", "-ImageWidth", "-ImageHeight",
                                          str(src)], capture_output=True, text=True, check=True).stdout)[0]
        assert (tool["FileType"], tool["Make"], tool["ImageWidth"], tool["ImageHeight"]) == ("MOS", "Leaf", *size)

    doc = _info(src, capsys)
    assert (doc["width"], doc["height"]) == size
    assert (doc["make"], doc["model"]) == ("Leaf", "Aptus 75")
    assert doc["format"] == "mos"  # exiftool's FileType MOS (was "tiff")

    rc, text = _develop(src, tmp_path / "out", capsys)
    assert rc == 0, text
    with Image.open(tmp_path / "out" / "CF000001.jpg") as im:
        assert im.size == size and im.mode == "RGB"
        developed = np.asarray(im)
    assert developed.shape == rgb.shape
    assert float(np.abs(developed[..., 0].astype(int) - developed[..., 2]).mean()) > 5  # colour, not a grey mosaic
    assert _same_scene(developed, rgb) > 0.95


def test_leaf_mos_libraw_refuses_gives_one_clear_line(tmp_path, capsys):
    """The same Leaf MOS stored in 1152 x 1728 tiles: a tile shorter than the image sends LibRaw
    to its Leaf HDR loader, which runs past the data, and rawpy refuses the file
    (LibRawIOError). `l2 info` still reports the size from the TIFF; `l2 develop` exits 1 with
    one line naming the file and LibRaw's reason, no traceback, and writes nothing."""
    import rawpy

    cfa = _cfa()
    src = tmp_path / "CF000003.MOS"
    _build_mos(src, cfa, tile=(1152, 1728))
    with pytest.raises(rawpy.LibRawIOError):
        with rawpy.imread(str(src)) as raw:
            raw.postprocess()
    doc = _info(src, capsys)
    assert (doc["width"], doc["height"]) == (1734, 1156)

    out = tmp_path / "out"
    rc, text = _develop(src, out, capsys)
    assert rc == 1
    failed = [ln for ln in text.splitlines() if "failed CF000003.MOS" in ln]
    assert len(failed) == 1 and "LibRaw reports 'Unexpected end of file'" in failed[0], text
    assert "Traceback" not in text and "unsupported or mismatched format" not in text
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize("big_endian", [False, True])
def test_headerless_iiq_with_real_cfa_develops_at_libraw_size(tmp_path, capsys, big_endian):
    """A Phase One IIQ with no TIFF header whose raw block holds the Kiss X4's CFA
    (tests/_phase_one_build.py, ``data=``). LibRaw reads back exactly the CFA written at
    1734 x 1156; `l2 info --json` reports that size, format 'iiq'; `l2 develop` writes a colour
    image of LibRaw's size showing the same scene as LibRaw's own develop."""
    from PIL import Image

    from _phase_one_build import build_iiq

    cfa = _cfa()
    src = tmp_path / "P0001.IIQ"
    src.write_bytes(build_iiq(cfa.shape[1], cfa.shape[0], data=cfa, big_endian=big_endian))
    size, visible, _, _, rgb = _libraw(src)
    assert size == (1734, 1156) and np.array_equal(visible, cfa)

    doc = _info(src, capsys)
    assert (doc["width"], doc["height"], doc["format"]) == (*size, "iiq")
    assert (doc["make"], doc["model"]) == ("Phase One", "IQ180")

    rc, text = _develop(src, tmp_path / "out", capsys)
    assert rc == 0, text
    with Image.open(tmp_path / "out" / "P0001.jpg") as im:
        assert im.size == size and im.mode == "RGB"
        developed = np.asarray(im)
    assert developed.shape == rgb.shape
    assert float(np.abs(developed[..., 0].astype(int) - developed[..., 2]).mean()) > 5  # colour, not a grey mosaic
    assert _same_scene(developed, rgb) > 0.95
