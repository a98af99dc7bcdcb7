"""A JPEG cropped or resized after capture by a tool that rewrote ``PixelXDimension`` too
(docs/TRUST.md item 4): the camera's full image size is read from the maker note, so the
"smaller than the camera's" warning still fires, naming the maker note.

The oracle is exiftool reading the same tags from the same files: Olympus ImageProcessing
``CropWidth``/``CropHeight`` (4032 x 3024 in the E-P3 JPEG), Sony ``FullImageSize`` (6000x4000
in the ZV-E10 ARW), EXIF ``ExifImageWidth``/``ExifImageHeight`` and the coded size. Before: a
crop or downscale whose ``PixelXDimension``/``PixelYDimension`` were rewritten to the new size
gave no warning (``recorded_size`` None); the crop was corrected as a whole frame, silently.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import l2_json as _l2, shared_file
from test_trust import EP3, _ep3_crop, _small_copy

ZV_E10 = "raw/metadata_only/sony_zv-e10__e_pz_16-50__file-type.arw"
OLYMPUS_SOURCE = "Olympus maker note, ImageProcessing CropWidth/CropHeight"

needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")


def _exiftool(path: Path, *tags: str) -> dict:
    """exiftool's values of ``tags`` for ``path`` (its ``-j`` output: group-less names, printed values)."""
    out = subprocess.run(["exiftool", "-j", "-a", *[f"-{t}" for t in tags], str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)[0]




def _rewrite_pixel_dimensions(path: Path, w: int, h: int) -> Path:
    """Set EXIF PixelXDimension/PixelYDimension to ``w x h`` with the exiv2 binding, as an editor
    that crops or resizes and updates them writes."""
    import exiv2

    im = exiv2.ImageFactory.open(str(path))
    im.readMetadata()
    ex = im.exifData()
    ex["Exif.Photo.PixelXDimension"] = str(w)
    ex["Exif.Photo.PixelYDimension"] = str(h)
    im.writeMetadata()
    return path


def _size_warnings(doc: dict) -> list[str]:
    return [w for w in doc["results"][0]["lens"]["warnings"] if "smaller than the camera's" in w]


@needs_exiftool
def test_maker_note_full_size_is_exiftools():
    """The maker-note full size read through exiv2 equals exiftool's on the files: E-P3 JPEG
    Olympus CropWidth/CropHeight 4032 x 3024; ZV-E10 ARW Sony FullImageSize, stored height first
    and printed by exiftool as 6000x4000."""
    from l2tech.io.metadata import _maker_note_full_size, _Tags, _exiv2

    ep3 = _exiftool(shared_file(EP3), "Olympus:CropWidth", "Olympus:CropHeight")
    sony = _exiftool(shared_file(ZV_E10), "Sony:FullImageSize")
    expected = {
        EP3: ((int(ep3["CropWidth"]), int(ep3["CropHeight"])), OLYMPUS_SOURCE),
        ZV_E10: (tuple(int(v) for v in sony["FullImageSize"].split("x")), "Sony maker note, FullImageSize"),
    }
    assert expected[EP3][0] == (4032, 3024) and expected[ZV_E10][0] == (6000, 4000)
    exiv2 = _exiv2()
    for rel, want in expected.items():
        im = exiv2.ImageFactory.open(str(shared_file(rel)))
        im.readMetadata()
        assert _maker_note_full_size(_Tags(im.exifData(), None, [], set(), rel)) == want


@needs_exiftool
def test_crop_with_rewritten_pixel_dimensions_warns_from_the_maker_note(tmp_path, capsys):
    """`l2 correct crop.jpg -o out.jpg --force`: a 504 x 378 crop from (126, 189) of the
    1008 x 756 E-P3 frame (as tests/test_trust.py ``_ep3_crop`` makes it), its
    PixelXDimension/PixelYDimension rewritten to 504 x 378. exiftool reads ExifImageWidth/Height
    504 x 378 (no trace there) and Olympus CropWidth/CropHeight 4032 x 3024: the warning names
    4032x3024 and the Olympus maker note. Before: no warning."""
    from l2tech.io.metadata import read_metadata

    f = _rewrite_pixel_dimensions(_ep3_crop(tmp_path, "crop", (126, 189, 630, 567), None), 504, 378)
    tags = _exiftool(f, "File:ImageWidth", "File:ImageHeight", "ExifIFD:ExifImageWidth", "ExifIFD:ExifImageHeight",
                     "Olympus:CropWidth", "Olympus:CropHeight")
    assert (tags["ImageWidth"], tags["ImageHeight"]) == (504, 378)
    assert (tags["ExifImageWidth"], tags["ExifImageHeight"]) == (504, 378)
    full = (tags["CropWidth"], tags["CropHeight"])
    assert full == (4032, 3024)

    meta = read_metadata(f)
    assert meta.recorded_size == full and meta.recorded_size_source == OLYMPUS_SOURCE
    rc, doc = _l2(capsys, "correct", str(f), "-o", str(tmp_path / "out.jpg"), "--force")
    assert rc == 0 and (tmp_path / "out.jpg").is_file()
    found = _size_warnings(doc)
    assert len(found) == 1, doc["results"][0]["lens"]["warnings"]
    assert f"smaller than the camera's ({full[0]}x{full[1]}, {OLYMPUS_SOURCE})" in found[0]
    assert "(504x378)" in found[0] and "no crop offset" in found[0]


@needs_exiftool
def test_downscale_with_rewritten_pixel_dimensions_gets_the_same_warning(tmp_path, capsys):
    """`l2 correct small.jpg -o out.jpg --force`: the whole E-P3 frame reduced 8x to 504 x 378,
    PixelXDimension/PixelYDimension rewritten to match. The sizes cannot tell a downscale from a
    crop (docs/TRUST.md), so the same warning, naming the maker note's 4032x3024."""
    f = _rewrite_pixel_dimensions(_small_copy(shared_file(EP3), tmp_path / "small.jpg", factor=8), 504, 378)
    tags = _exiftool(f, "ExifIFD:ExifImageWidth", "ExifIFD:ExifImageHeight", "Olympus:CropWidth", "Olympus:CropHeight")
    assert (tags["ExifImageWidth"], tags["ExifImageHeight"]) == (504, 378)
    rc, doc = _l2(capsys, "correct", str(f), "-o", str(tmp_path / "out.jpg"), "--force")
    found = _size_warnings(doc)
    assert rc == 0 and len(found) == 1
    assert f"smaller than the camera's ({tags['CropWidth']}x{tags['CropHeight']}, {OLYMPUS_SOURCE})" in found[0]


@needs_exiftool
def test_full_size_and_other_aspect_give_no_maker_note_warning(tmp_path, capsys):
    """The E-P3 JPEG as the camera wrote it (4032 x 3024 pixels, exiftool: CropWidth/CropHeight
    4032 x 3024): no size warning. A 378 x 378 crop whose PixelX/YDimension were rewritten is
    not reported from the maker note: its aspect is not the camera's, which a body's own aspect
    modes also give (it is read as the camera's frame, as before)."""
    from l2tech.io.metadata import read_metadata

    src = shared_file(EP3)
    tags = _exiftool(src, "File:ImageWidth", "File:ImageHeight", "Olympus:CropWidth", "Olympus:CropHeight")
    assert (tags["ImageWidth"], tags["ImageHeight"]) == (tags["CropWidth"], tags["CropHeight"]) == (4032, 3024)
    assert read_metadata(src).recorded_size is None
    rc, doc = _l2(capsys, "correct", str(src), "-o", str(tmp_path / "out.jpg"), "--force")
    assert rc == 0 and _size_warnings(doc) == []

    square = _rewrite_pixel_dimensions(_ep3_crop(tmp_path, "square", (315, 189, 693, 567), None), 378, 378)
    assert read_metadata(square).recorded_size is None


SX60 = "raw/jpeg_reference/canon_powershot_sx60hs.jpg"
CANON_SOURCE = "Canon maker note, AFInfo3 CanonImageWidth/CanonImageHeight"


@needs_exiftool
def test_canon_recorded_size_from_its_af_info(tmp_path, capsys):
    """Canon bodies record the size of the JPEG they wrote in their AF information (exiftool
    Canon:CanonImageWidth/CanonImageHeight; the SX60 HS: 2048 x 1536, in AFInfo3). Before, a
    Canon JPEG cropped or resized after capture with PixelX/YDimension rewritten gave no
    warning. The SX60 JPEG reduced 2x to 1024 x 768 with exiftool carrying all of its metadata
    and writing ExifImageWidth/Height 1024 x 768, as an editor does: the warning names 2048x1536
    and the Canon maker note; the file as the camera wrote it gives none."""
    from PIL import Image

    from l2tech.io.metadata import read_metadata

    src = shared_file(SX60)
    tags = _exiftool(src, "Canon:CanonImageWidth", "Canon:CanonImageHeight", "File:ImageWidth", "File:ImageHeight")
    full = (int(tags["CanonImageWidth"]), int(tags["CanonImageHeight"]))
    assert full == (tags["ImageWidth"], tags["ImageHeight"]) == (2048, 1536)
    meta = read_metadata(src)
    assert meta.recorded_size is None  # full size: nothing to say

    small = tmp_path / "small.jpg"
    with Image.open(src) as im:
        im.convert("RGB").reduce(2).save(small, "JPEG", quality=92)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-TagsFromFile", str(src), "-all:all",
                    "-ExifIFD:ExifImageWidth=1024", "-ExifIFD:ExifImageHeight=768", str(small)], check=True)
    t = _exiftool(small, "ExifIFD:ExifImageWidth", "ExifIFD:ExifImageHeight", "Canon:CanonImageWidth",
                  "Canon:CanonImageHeight")
    assert (t["ExifImageWidth"], t["ExifImageHeight"]) == (1024, 768)
    assert (int(t["CanonImageWidth"]), int(t["CanonImageHeight"])) == full
    meta = read_metadata(small)
    assert meta.recorded_size == full and meta.recorded_size_source == CANON_SOURCE
    rc, doc = _l2(capsys, "correct", str(small), "-o", str(tmp_path / "out.jpg"), "--force")
    found = _size_warnings(doc)
    assert rc == 0 and len(found) == 1, doc["results"][0]["lens"]["warnings"]
    assert f"smaller than the camera's ({full[0]}x{full[1]}, {CANON_SOURCE})" in found[0]


@needs_exiftool
def test_picture_turned_upright_is_not_called_a_crop(tmp_path, capsys):
    """The SX60 HS JPEG (2048 x 1536 stored, Orientation "Rotate 90 CW") turned upright by a
    lossless rotator that sets Orientation 1 and leaves ExifImageWidth/Height 2048 x 1536: the
    same pixels turned, not a crop or resize. Before: "the frame (1536x2048) is smaller than the
    camera's (2048x1536, EXIF PixelXDimension) ..."; now no size warning."""
    from PIL import Image

    from l2tech.io.metadata import read_metadata

    src = shared_file(SX60)
    up = tmp_path / "up.jpg"
    with Image.open(src) as im:
        im.convert("RGB").transpose(Image.Transpose.ROTATE_270).save(up, "JPEG", quality=92)
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-TagsFromFile", str(src), "-all:all",
                    "-IFD0:Orientation#=1", str(up)], check=True)
    t = _exiftool(up, "File:ImageWidth", "File:ImageHeight", "ExifIFD:ExifImageWidth", "ExifIFD:ExifImageHeight",
                  "IFD0:Orientation#")
    assert (t["ImageWidth"], t["ImageHeight"], t["ExifImageWidth"], t["ExifImageHeight"]) == (1536, 2048, 2048, 1536)
    assert t["Orientation"] == 1
    assert read_metadata(up).recorded_size is None
    rc, doc = _l2(capsys, "correct", str(up), "-o", str(tmp_path / "out.jpg"), "--force")
    assert rc == 0 and _size_warnings(doc) == []


@needs_exiftool
def test_older_canon_recorded_size_is_exiftools():
    """Older Canon bodies record the JPEG size in AFInfo (tag 0x0012), which exiv2 decodes as
    PictureInfo (``Exif.CanonPi.ImageWidth/ImageHeight``); the EOS 350D CR2: 3456 x 2304,
    exiftool's Canon:CanonImageWidth 3456 (the entry read a key exiv2 never gives)."""
    from l2tech.io.metadata import _maker_note_full_size, _Tags, _exiv2

    src = shared_file("raw/metadata_only/canon_350d__exiftool.cr2")
    truth = _exiftool(src, "Canon:CanonImageWidth")
    exiv2 = _exiv2()
    im = exiv2.ImageFactory.open(str(src))
    im.readMetadata()
    size, source = _maker_note_full_size(_Tags(im.exifData(), None, [], set(), str(src)))
    assert size == (int(truth["CanonImageWidth"]), 2304) and source == "Canon maker note, AFInfo ImageWidth/ImageHeight"
