"""Warnings in ``--json`` output, and file names that are not valid UTF-8 (issue 16 item 7).

* A warning printed on stderr while a command runs (a user lensfun entry skipped) is also in
  the command's JSON document, in its ``warnings`` list.
* A file named with a byte that is not UTF-8 (``caf\\xe9.jpg``, a Latin-1 file system) is
  corrected with its ICC profile and EXIF written to the output — they used to be lost (the
  exiv2 binding could not take the name).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

_BAD_LENS_XML = """<lensdatabase version="1"><lens><maker>Bad</maker><model>Bad lens 50mm f/2</model>
<mount>Leica L</mount><cropfactor>1</cropfactor>
<calibration><distortion model="poly3" focal="50" k1="0.01x"/></calibration></lens></lensdatabase>
"""


def _jpeg_with_icc_and_exif(path: str, icc: bytes) -> None:
    exif = Image.Exif()
    exif[0x010F] = "TestMake"  # Make
    exif[0x0110] = "TestModel 1"  # Model
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path, "JPEG", quality=90,
                                                                           icc_profile=icc, exif=exif)


def _l2(*args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "l2tech.cli", *args], capture_output=True, timeout=180,
                          env=env or os.environ.copy(), cwd=cwd)


def test_json_carries_the_warnings_printed_on_stderr(tmp_path):
    lenses = tmp_path / "lenses"
    lenses.mkdir()
    (lenses / "mine.xml").write_text(_BAD_LENS_XML)
    img = tmp_path / "a.jpg"
    Image.new("RGB", (32, 24), (90, 90, 90)).save(img)
    env = dict(os.environ, L2TECH_LENS_DIR=str(lenses), L2TECH_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("PYTHONWARNINGS", None)
    proc = _l2("correct", str(img), "-o", str(tmp_path / "out") + "/", "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    line = f"{lenses / 'mine.xml'}: lens 'Bad Bad lens 50mm f/2' skipped: bad number <distortion k1>='0.01x'"
    assert f"warning: {line}" in proc.stderr.decode()
    doc = json.loads(proc.stdout)
    assert line in doc["warnings"]


def test_invalid_utf8_file_name_keeps_icc_and_exif(tmp_path):
    from l2tech.color.display import icc_profile

    icc = icc_profile("display-p3")
    folder = os.fsencode(tmp_path)
    name = b"caf\xe9.jpg"  # Latin-1 e-acute: not valid UTF-8
    src = os.path.join(folder, name)
    _jpeg_with_icc_and_exif(os.fsdecode(src), icc)
    with open(src, "rb") as fh:
        before = fh.read()
    out_dir = os.path.join(folder, b"out")
    proc = _l2("correct", os.fsdecode(src), "-o", os.fsdecode(out_dir) + "/", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["results"][0]["status"] == "ok"
    assert not any(k in w for w in doc["results"][0]["warnings"] for k in ("not copied", "not written", "corrupt")), doc
    listed = [n for n in os.listdir(out_dir) if not n.startswith(b".")]
    assert sorted(listed) == [name, name + b".l2.toml"]  # no temp file left, the name kept byte for byte
    with Image.open(os.fsdecode(os.path.join(out_dir, name))) as im:
        assert im.info.get("icc_profile") == icc
        exif = im.getexif()
        assert exif.get(0x010F) == "TestMake" and exif.get(0x0110) == "TestModel 1"
    with open(src, "rb") as fh:
        assert fh.read() == before
