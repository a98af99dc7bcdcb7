"""Hostile developed images and RAWs: decoded right, or one typed error naming the file.

Planar (separate) RGB TIFFs were read as 3x500x3; grey+alpha and 5-channel TIFFs lost channels
silently; an all-NaN float TIFF was written black with exit 0; a corrupt Deflate strip gave
"unexpected DeflateError"; a truncated DNG left LibRaw's/libjpeg's own line on stderr; a
corrupt ICC profile in a JPEG lost all its EXIF; a float32 TIFF could not be written as float.
Each case runs ``l2`` in-process (``capfd`` sees fd 2) and checks exit code, stderr and output.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import tifffile

from conftest import shared_file
from l2tech.cli.main import main

pytestmark = pytest.mark.filterwarnings("always::l2tech.io.native_messages.DecoderWarning")

RAW_TEXT = ("Traceback", "unexpected", "Premature end of JPEG file", "LIBDEFLATE", "Not a valid ICC")


def _rgb(h: int = 48, w: int = 64) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([(x * 4) % 256, (y * 5) % 256, (x + y * 3) % 256], -1).astype(np.uint8)


def _stderr_lines(err: str) -> list[str]:
    return [x for x in err.splitlines() if x.strip()]


def _only_typed_error(err: str, src: Path, kind: str, text: str) -> None:
    """stderr holds one ``error (KIND): SRC: ...TEXT...`` line and nothing raw."""
    lines = _stderr_lines(err)
    errors = [x for x in lines if x.startswith("error")]
    assert errors == [x for x in lines if not x.startswith("warning")], err  # nothing but error/warning lines
    assert len(errors) == 1 and errors[0].startswith(f"error ({kind}): {src}: ") and text in errors[0], err


def _no_raw(err: str) -> None:
    for raw in RAW_TEXT[:2] + RAW_TEXT[3:]:
        assert raw not in err, err


# ---- defect 1: TIFF layouts ------------------------------------------------------------------


def test_planar_rgb_tiff_is_read_by_its_planar_configuration(tmp_path, capfd):
    from l2tech.io.image import read_image

    a = _rgb()
    src = tmp_path / "planar.tif"
    tifffile.imwrite(src, np.ascontiguousarray(a.transpose(2, 0, 1)), photometric="rgb", planarconfig="separate")
    dec = read_image(src)
    assert dec.pixels.shape == a.shape and dec.bits == 8 and not dec.greyscale
    assert np.array_equal(np.rint(dec.pixels * 255).astype(np.uint8), a)
    out = tmp_path / "out.tif"
    rc = main(["correct", str(src), "-o", str(out)])
    cap = capfd.readouterr()
    assert rc == 0, cap.err
    _no_raw(cap.err)
    got = tifffile.imread(out)
    assert got.shape == a.shape and got.dtype == np.uint8
    assert int(np.abs(got.astype(int) - a).max()) <= 1  # no lens correction: re-encoded, no JPEG loss
    with tifffile.TiffFile(out) as tf:  # the input's layout note ({"shape": [3, H, W]}) is not carried over
        assert '"shape": [3' not in (tf.pages[0].description or "")


@pytest.mark.parametrize("case", ["grey_alpha", "five_channels"])
def test_tiff_extra_channels_dropped_with_one_named_warning(tmp_path, capfd, case):
    a = _rgb()
    src = tmp_path / f"{case}.tif"
    if case == "grey_alpha":
        tifffile.imwrite(src, a[..., :2], photometric="minisblack", extrasamples=[2])
        want, text = (48, 64), "1 channel(s) beyond its grey channel(s) (unassociated alpha); dropped"
    else:
        tifffile.imwrite(src, np.concatenate([a, a[..., :2]], -1), photometric="rgb", extrasamples=[0, 0])
        want, text = (48, 64, 3), "2 channel(s) beyond its RGB channel(s) (unspecified, unspecified); dropped"
    out = tmp_path / "out.tif"
    rc = main(["correct", str(src), "-o", str(out)])
    cap = capfd.readouterr()
    assert rc == 0, cap.err
    _no_raw(cap.err)
    hits = [x for x in _stderr_lines(cap.err) if "beyond its" in x]
    assert hits == [f"warning: {src}: TIFF has {text}, only the {'grey' if case == 'grey_alpha' else 'RGB'} channel(s) are read and written"], cap.err
    got = tifffile.imread(out)
    assert got.shape == want
    expected = a[..., 0] if case == "grey_alpha" else a
    assert int(np.abs(got.astype(int) - expected).max()) <= 1


def test_all_nan_float_tiff_is_refused(tmp_path, capfd):
    src = tmp_path / "nan.tif"
    tifffile.imwrite(src, np.full((16, 16, 3), np.nan, np.float32), photometric="rgb")
    out = tmp_path / "out.tif"
    rc = main(["correct", str(src), "-o", str(out)])
    cap = capfd.readouterr()
    assert rc == 1
    _only_typed_error(cap.err, src, "CorruptInputError", "no finite pixel value")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nan.tif"]


def test_some_nan_samples_are_zeroed_with_one_named_warning(tmp_path):
    from l2tech.io.image import DecoderWarning, read_image

    a = np.full((8, 8, 3), 0.5, np.float32)
    a[0, 0, 0] = np.nan
    a[1, 1, 1] = np.inf
    src = tmp_path / "some_nan.tif"
    tifffile.imwrite(src, a, photometric="rgb")
    with pytest.warns(DecoderWarning, match=r"2 of 192 samples are NaN or infinite; set to 0"):
        dec = read_image(src)
    assert np.isfinite(dec.pixels).all() and dec.pixels[0, 0, 0] == 0 and dec.bits == 32


def test_cmyk_tiff_is_refused_not_read_as_rgb(tmp_path, capfd):
    src = tmp_path / "cmyk.tif"
    tifffile.imwrite(src, np.zeros((8, 8, 4), np.uint8), photometric="separated")
    out = tmp_path / "out.tif"
    rc = main(["correct", str(src), "-o", str(out)])
    cap = capfd.readouterr()
    assert rc == 1
    _only_typed_error(cap.err, src, "UnsupportedFormatError", "photometric interpretation SEPARATED is not supported")
    assert not out.exists()


# ---- defect 2: corrupt compressed TIFF data --------------------------------------------------


@pytest.mark.parametrize("damage", ["flipped", "truncated"])
def test_corrupt_deflate_tiff_is_one_corrupt_input_error(tmp_path, capfd, damage):
    rng = np.random.default_rng(1)
    img = (_rgb(256, 256).astype(int) + rng.integers(0, 8, (256, 256, 3))).clip(0, 255).astype(np.uint8)
    good = tmp_path / "good.tif"
    tifffile.imwrite(good, img, compression="zlib", rowsperstrip=16)
    data = bytearray(good.read_bytes())
    good.unlink()
    if damage == "flipped":
        for i in range(5000, len(data), 997):
            data[i] ^= 0xFF
    else:
        data = data[: len(data) * 2 // 3]
    src = tmp_path / "d.tif"
    src.write_bytes(bytes(data))
    out = tmp_path / "x.tif"
    rc = main(["correct", str(src), "--distortion", "-0.05", "-o", str(out)])
    cap = capfd.readouterr()
    assert rc == 1
    _only_typed_error(cap.err, src, "CorruptInputError", "cannot decode TIFF")
    assert "unexpected" not in cap.err and "unexpected" not in cap.out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.tif"]


# ---- defect 3: LibRaw / libjpeg text on fd 2 -------------------------------------------------

LOSSY_DNG = "raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng"
CFA_DNG = "raw/decodable/canon_kiss_x4__colorchecker.dng"


@pytest.mark.parametrize("name,cut,said", [
    (LOSSY_DNG, 205972, "LibRaw reports 'Premature end of JPEG file'"),
    (CFA_DNG, None, "LibRaw reports 'Unexpected end of file'"),
])
def test_truncated_dng_library_text_is_folded_into_the_error(tmp_path, capfd, name, cut, said):
    data = shared_file(name).read_bytes()
    src = tmp_path / "trunc.dng"
    src.write_bytes(data[: cut if cut is not None else len(data) // 3])
    out = tmp_path / "x.jpg"
    rc = main(["develop", str(src), "-o", str(out)])
    cap = capfd.readouterr()
    assert rc == 1
    _only_typed_error(cap.err, src, "CorruptInputError", said)
    assert "RAW data is truncated or corrupt" in cap.err
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["trunc.dng"]


# ---- defect 4: corrupt ICC profile in a JPEG with EXIF ---------------------------------------


def test_corrupt_icc_drops_only_the_profile_and_keeps_exif(tmp_path, capfd):
    from l2tech.io.metadata import read_metadata

    data = shared_file("raw/jpeg_reference/canon_powershot_sx60hs.jpg").read_bytes()
    assert data[2:4] == b"\xff\xe1"
    end = 4 + struct.unpack(">H", data[4:6])[0]
    body = b"ICC_PROFILE\x00\x01\x01garbagegarbage!!"
    src = tmp_path / "cam_bad_icc.jpg"
    src.write_bytes(data[:end] + b"\xff\xe2" + struct.pack(">H", len(body) + 2) + body + data[end:])
    out = tmp_path / "out.jpg"
    rc = main(["correct", str(src), "-o", str(out)])
    cap = capfd.readouterr()
    assert rc == 0, cap.err
    _no_raw(cap.err)
    assert "EXIF not copied" not in cap.err
    icc = [x for x in _stderr_lines(cap.err) if "ICC" in x]
    assert icc == [f"warning: {src}: embedded ICC profile is corrupt; dropped, pixels read as sRGB"], cap.err
    meta = read_metadata(out)
    assert meta.make == "Canon" and "SX60" in (meta.model or "")


# ---- defect 5: float32 TIFF output -----------------------------------------------------------


def test_float32_tiff_written_as_float32(tmp_path):
    from l2tech.io.image import read_image, write_image

    a = np.linspace(-0.25, 1.5, 8 * 8 * 3, dtype=np.float32).reshape(8, 8, 3)
    out = tmp_path / "f.tif"
    write_image(out, a, bits=32)
    got = tifffile.imread(out)
    assert got.dtype == np.float32 and np.array_equal(got, a)  # not clipped, not quantised
    dec = read_image(out)
    assert dec.bits == 32 and np.array_equal(dec.pixels, a)
    from l2tech.errors import UsageError

    with pytest.raises(UsageError, match="TIFF only"):
        write_image(tmp_path / "f.png", a, bits=32)


def test_png_alpha_with_transparent_pixels_is_dropped_with_one_named_warning(tmp_path):
    """A PNG's alpha channel was dropped silently (a TIFF's extra channels are warned about); an
    all-opaque alpha loses nothing and is not warned about."""
    import warnings

    import cv2

    from l2tech.io.image import read_image
    from l2tech.io.native_messages import DecoderWarning

    rgba = np.full((10, 12, 4), 255, np.uint8)
    rgba[..., :3] = (40, 120, 200)
    cv2.imwrite(str(tmp_path / "opaque.png"), rgba)
    rgba[:3, :, 3] = 0
    cv2.imwrite(str(tmp_path / "cut.png"), rgba)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = read_image(tmp_path / "opaque.png")
        b = read_image(tmp_path / "cut.png")
    said = [str(w.message) for w in caught if issubclass(w.category, DecoderWarning)]
    assert said == [f"{tmp_path / 'cut.png'}: PNG alpha channel dropped (36 of 120 pixels not opaque); "
                    "the output has no transparency"], said
    assert np.array_equal(a.pixels, b.pixels)  # the colour channels are kept as they are
