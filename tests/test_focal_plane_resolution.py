"""FocalPlaneX/YResolution follow the output's pixel dimensions (TRUST item 3: update only what
changed, and update it right).

Readers derive the sensor size, crop factor and 35 mm equivalent focal length from the pair
(ExifImageWidth, FocalPlaneXResolution) (ExifTool ``Composite:ScaleFactor35efl``). Before, an
output rewrote the dimensions but kept the resolutions: the 500 px output of the 6D JPEG (which
states 2048 px) read as a 930 mm lens where the input reads 227 mm, and the SX60's resolutions
stayed unswapped after its pixels were turned upright. exiftool is the oracle.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import shared_file
from l2tech.pipeline.recipe import Recipe
from test_trust import _processable_inputs

pytestmark = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")

_KEYS = ("-ScaleFactor35efl", "-FocalLength35efl", "-FocalPlaneXResolution", "-FocalPlaneYResolution",
         "-ExifImageWidth", "-ExifImageHeight", "-Orientation")


def _tags(path: Path) -> dict[str, object]:
    out = subprocess.run(["exiftool", "-j", "-n", *_KEYS, str(path)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)[0]


@pytest.mark.parametrize("src", _processable_inputs() or [pytest.param(None, marks=pytest.mark.skip(reason="no shared data"))],
                         ids=lambda p: p.name if p else "none")
def test_35mm_equivalent_reads_as_the_input_does(src, tmp_path):
    from l2tech.pipeline.stills import correct_image_file, develop_file

    out = tmp_path / "out.jpg"
    (correct_image_file if src.parent.name == "jpeg_reference" else develop_file)(src, out, Recipe())
    a, b = _tags(src), _tags(out)
    if "FocalPlaneXResolution" not in a:
        assert "FocalPlaneXResolution" not in b
        return
    assert b["ScaleFactor35efl"] == pytest.approx(a["ScaleFactor35efl"], rel=0.01)
    assert b["FocalLength35efl"] == pytest.approx(a["FocalLength35efl"], rel=0.01)
    if "ExifImageWidth" not in a:  # the 6D DNG states no dimensions: nothing to follow
        assert b["FocalPlaneXResolution"] == a["FocalPlaneXResolution"]
        return
    # the width the pair states on the focal plane is the input's
    turned = a.get("Orientation", 1) in (5, 6, 7, 8)
    ax, ay = ("Y", "X") if turned else ("X", "Y")
    aw, ah = (a["ExifImageHeight"], a["ExifImageWidth"]) if turned else (a["ExifImageWidth"], a["ExifImageHeight"])
    assert b["ExifImageWidth"] / b["FocalPlaneXResolution"] == pytest.approx(aw / a[f"FocalPlane{ax}Resolution"], rel=1e-6)
    assert b["ExifImageHeight"] / b["FocalPlaneYResolution"] == pytest.approx(ah / a[f"FocalPlane{ay}Resolution"], rel=1e-6)


def test_the_6d_crop_reads_227mm_not_930mm(tmp_path):
    from l2tech.pipeline.stills import correct_image_file

    out = tmp_path / "out.jpg"
    correct_image_file(shared_file("raw/jpeg_reference/canon_6d__ef100mm_macro.jpg"), out, Recipe())
    t = _tags(out)
    assert t["ExifImageWidth"] == 500
    assert t["FocalLength35efl"] == pytest.approx(227.1, abs=0.1)
    assert t["FocalPlaneXResolution"] == pytest.approx(152 * 500 / 2048, rel=1e-6)
