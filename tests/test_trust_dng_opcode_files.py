"""Trust item 10 on real files: DNG opcodes that `l2 info` shows and `l2 lens match` uses.

- WarpFisheye (DNG opcode 2) written by exiftool into an OpcodeList3 of a copy of the Canon 6D
  DNG, the parameters laid out as the DNG specification lays them out: exiftool lists it (and
  reads back the bytes written), `l2 info` lists it as exiftool does, `l2 lens match
  --profile-source embedded` uses it as a fisheye profile with the written terms, `l2 develop`
  applies it at decode (its pixels follow the specification's WarpFisheye formula) and does
  not correct distortion and TCA again.
- GainMap (DNG opcode 9): the GoPro HERO6 Black GPR carries OpcodeList2 GainMap x4 (exiftool)
  and no lens in its EXIF; `l2 lens match` still fails (no lens to match) but names the
  GainMap instead of saying nothing of it. A 6D DNG copy with a GainMap written into its
  OpcodeList2 (a lens the database has) names it in the profile-choice lines.

References
----------
Adobe DNG Specification 1.4.0.0 (and 1.6/1.7), chapter 6 "Opcode List Processing": opcode 2
WarpFisheye (``N``; per plane ``kr0..kr3``; ``cx, cy``; big-endian doubles), opcode 9 GainMap.
"""

from __future__ import annotations

import json
import math
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_file
from test_trust_files import _exiftool_write, _l2, _l2_json

SIXD_DNG = "raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng"
HERO6_GPR = "raw/codec_unsupported/gopro_hero6_black.gpr"
_GAINMAP_NOTE = "OpcodeList2 GainMap x{n} (vignetting, part of decoding the RAW data)"

needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")


def _exiftool_tags(path: Path, *args: str) -> dict:
    out = subprocess.run(["exiftool", "-j", "-G1", "-a", *args, str(path)], capture_output=True, text=True,
                         check=True).stdout
    return json.loads(out)[0]


def _exiftool_lists(path: Path) -> dict[str, list[str]]:
    """exiftool's names of the opcodes in each list (empty when the list is absent)."""
    truth: dict[str, list[str]] = {f"OpcodeList{n}": [] for n in (1, 2, 3)}
    for k, v in _exiftool_tags(path, "-OpcodeList1", "-OpcodeList2", "-OpcodeList3").items():
        if k.split(":")[-1] in truth:
            truth[k.split(":")[-1]] = [x.strip() for x in str(v).split(",")]
    return truth


def _copy(rel: str, dst: Path) -> Path:
    shutil.copyfile(shared_file(rel), dst)  # the shared files are read-only; the copy is not
    return dst


def _opcode_list(*ops: tuple[int, bytes]) -> bytes:
    """A DNG opcode list: count, then per opcode id, DNG version 1.3.0.0, flags 0, size, params."""
    return struct.pack(">I", len(ops)) + b"".join(struct.pack(">IIII", i, 0x01030000, 0, len(p)) + p for i, p in ops)


def _warp_fisheye(kr: tuple[float, float, float, float], cx: float = 0.5, cy: float = 0.5) -> tuple[int, bytes]:
    """WarpFisheye (opcode 2): LONG N (planes), N x DOUBLE kr0..kr3, DOUBLE cx, DOUBLE cy."""
    return 2, struct.pack(">I", 1) + struct.pack(">4d", *kr) + struct.pack(">2d", cx, cy)


def _gain_map(bottom: int, right: int, gains: np.ndarray) -> tuple[int, bytes]:
    """GainMap (opcode 9): LONG Top, Left, Bottom, Right, Plane, Planes, RowPitch, ColPitch,
    MapPointsV, MapPointsH; DOUBLE MapSpacingV, MapSpacingH, MapOriginV, MapOriginH; LONG
    MapPlanes; FLOAT gains (v, h, plane order)."""
    nv, nh = gains.shape
    p = struct.pack(">10I", 0, 0, bottom, right, 0, 1, 1, 1, nv, nh)
    p += struct.pack(">4d", 1.0 / (nv - 1), 1.0 / (nh - 1), 0.0, 0.0) + struct.pack(">I", 1)
    return 9, p + gains.astype(">f4").tobytes()


def _spec_warp_fisheye(img: np.ndarray, kr: tuple[float, ...], cx: float = 0.5, cy: float = 0.5) -> np.ndarray:
    """The specification's WarpFisheye applied to ``img`` (H, W, C), independently of l2tech.

    With the optical centre at ``(cx, cy)`` of the image and distances normalised so that the
    farthest corner is at 1: ``r = |d|``, ``theta = atan(r)``, ``r_src = kr0 theta + kr1 theta^3
    + kr2 theta^5 + kr3 theta^7``, and the output pixel at ``d`` takes the input at
    ``centre + d r_src / r`` (bilinear; OpenCV's remap).
    """
    import cv2

    H, W = img.shape[:2]
    x0, y0 = cx * W, cy * H
    m = max(math.hypot(x - x0, y - y0) for x in (0, W) for y in (0, H))
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64) + 0.5
    dx, dy = (xx - x0) / m, (yy - y0) / m
    r = np.hypot(dx, dy)
    th = np.arctan(r)
    rs = kr[0] * th + kr[1] * th**3 + kr[2] * th**5 + kr[3] * th**7
    ratio = np.where(r > 0, rs / np.where(r > 0, r, 1.0), kr[0])
    mx = (x0 + dx * ratio * m - 0.5).astype(np.float32)
    my = (y0 + dy * ratio * m - 0.5).astype(np.float32)
    return cv2.remap(img.astype(np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


@needs_exiftool
def test_warp_fisheye_opcode_in_a_dng_is_listed_used_and_not_corrected_again(tmp_path):
    """A WarpFisheye in OpcodeList3 of the 6D DNG (written by exiftool): exiftool lists it and
    gives back the bytes written; `l2 info --json` lists the opcode lists as exiftool does;
    `l2 lens match --profile-source embedded` gives the file's own profile (source
    ``dng:FILE``, ``embedded (DNG opcodes)``), a fisheye whose dng_warp_fisheye terms are the
    written ones; `l2 develop` names WarpFisheye as the reason it does not correct distortion
    and TCA, and its pixels are the original's warped by the specification's formula."""
    dng = _copy(SIXD_DNG, tmp_path / "IMG_0002.dng")
    kr, cx, cy = (1.0, -0.05, 0.01, 0.0), 0.5, 0.5
    blob = _opcode_list(_warp_fisheye(kr, cx, cy))
    (tmp_path / "ol3.bin").write_bytes(blob)
    _exiftool_write(dng, "-n", f"-SubIFD:OpcodeList3<={tmp_path / 'ol3.bin'}")
    truth = _exiftool_lists(dng)
    assert truth["OpcodeList3"] == ["WarpFisheye"]
    back = subprocess.run(["exiftool", "-b", "-SubIFD:OpcodeList3", str(dng)], capture_output=True, check=True).stdout
    assert back == blob

    rc, doc = _l2_json("info", str(dng))
    assert rc == 0 and doc["dng_opcodes"] == truth

    rc, doc = _l2_json("lens", "match", str(dng), "--profile-source", "embedded")
    assert rc == 0, doc
    assert doc["source"] == "embedded" and doc["lens"]["source"] == f"dng:{dng}"
    assert doc["lens"]["lens_type"] == "fisheye" and doc["lens"]["calibrations"]["distortion"] == 1
    assert doc["profile_choice"][0] == "chosen: embedded (the file carries its own lens correction)"
    # the default choice is the database's lens (the 6D's EXIF names it), named as not used
    assert doc["default_match"]["source"] == "database"
    from l2tech.profiles.matching import profile_source_kind
    from l2tech.profiles.sources import read_embedded_profile

    assert profile_source_kind(read_embedded_profile(dng)) == "embedded (DNG opcodes)"
    rc, prof = _l2_json("lens", "show-file", str(dng))
    assert rc == 0 and prof["source"] == f"dng:{dng}"
    (dist,) = prof["distortion"]
    assert dist == {"model": "dng_warp_fisheye", "focal_length_mm": dist["focal_length_mm"],
                    "kr0": kr[0], "kr1": kr[1], "kr2": kr[2], "kr3": kr[3], "cx": cx, "cy": cy}
    assert dist["focal_length_mm"] == pytest.approx(float(_exiftool_tags(dng, "-n", "-FocalLength")["ExifIFD:FocalLength"]))

    rc, doc = _l2_json("develop", str(dng), "-o", str(tmp_path / "dev.jpg"), "--no-sidecar")
    res = doc["results"][0]
    assert rc == 0 and "OpcodeList3:WarpFisheye" in res["dng_opcodes"]
    lens = res["lens"]["corrections"]
    for c in ("distortion", "tca"):
        assert not lens[c]["applied"] and lens[c]["reason"] == (
            "corrected by the file's own DNG opcode WarpFisheye (OpcodeList3); --profile-source database uses the "
            "lensfun profile instead")

    # the warp at decode, against the specification's formula on the original's pixels: the
    # two developed without lens correction (the warp is the only difference between the files)
    from PIL import Image

    for name, f in (("copy.png", dng), ("original.png", shared_file(SIXD_DNG))):
        proc = _l2("develop", str(f), "-o", str(tmp_path / name), "--no-sidecar", "--no-lens-correction", "-q")
        assert proc.returncode == 0, proc.stderr
    orig, got = (np.asarray(Image.open(tmp_path / n).convert("RGB"), np.float64) for n in ("original.png", "copy.png"))
    assert orig.shape == got.shape
    want = _spec_warp_fisheye(orig, kr, cx, cy)
    H, W = orig.shape[:2]
    inner = (slice(H // 20, H - H // 20), slice(W // 20, W - W // 20))
    err = np.abs(want[inner] - got[inner]).mean()
    moved = np.abs(orig[inner] - got[inner]).mean()
    # measured: 0.77 grey levels from the formula's image, 19.4 from the unwarped original
    assert err < 0.05 * moved and err < 1.5, (err, moved)


@needs_exiftool
def test_lens_match_names_the_gain_map_of_a_file_without_lens(tmp_path):
    """The HERO6 Black GPR: exiftool reads OpcodeList2 GainMap x4 and no lens. `l2 lens match`
    exits 1 with NoLensInfoError (no lens to match, no lens-correction opcode), its message
    naming the GainMap; with --profile-source embedded, the choice line names it too."""
    gpr = shared_file(HERO6_GPR)
    truth = _exiftool_lists(gpr)
    assert truth == {"OpcodeList1": [], "OpcodeList2": ["GainMap"] * 4, "OpcodeList3": []}
    tags = _exiftool_tags(gpr, "-LensModel", "-Lens", "-LensID", "-LensInfo")
    assert not any(k.split(":")[-1].startswith("Lens") for k in tags)
    note = _GAINMAP_NOTE.format(n=truth["OpcodeList2"].count("GainMap"))

    rc, doc = _l2_json("lens", "match", str(gpr))
    assert rc == 1 and doc["error_type"] == "NoLensInfoError"
    assert doc["error"] == (f"{gpr}: no lens information in the file's metadata; lens correction skipped unless the "
                            "lens is named with --lens \"Maker Model\" (see `l2 lens search`); the file carries "
                            f"{note} but no lens-correction opcodes (WarpRectilinear, WarpFisheye, FixVignetteRadial) "
                            "to use instead")
    proc = _l2("lens", "match", str(gpr))
    assert proc.returncode == 1 and note in proc.stderr.replace("\n", " ")

    rc, doc = _l2_json("lens", "match", str(gpr), "--profile-source", "embedded")
    assert rc == 1 and doc["error_type"] == "LensNotFoundError"
    assert doc["error"] == (f"{gpr}: no embedded profile for this shot: embedded: no lens profile (WarpRectilinear, "
                            f"WarpFisheye, FixVignetteRadial); the file carries {note}")

    from l2tech.io.metadata import read_metadata
    from l2tech.profiles.sources import choose_profile

    choice = choose_profile(read_metadata(gpr), user_dirs=[tmp_path / "no-user-profiles"])
    assert choice.source == "none" and choice.tried[-1] == (
        "embedded: no lens profile (WarpRectilinear, WarpFisheye, FixVignetteRadial); the file carries " + note)


@needs_exiftool
def test_lens_match_names_the_gain_map_next_to_the_database_profile(tmp_path):
    """The 6D DNG (its lens in the database) with its OpcodeList2 replaced by one GainMap
    (written by exiftool): `l2 lens match --json` matches the database's lens and its
    profile_choice names the GainMap; the original (MapPolynomial x3) names none."""
    dng = _copy(SIXD_DNG, tmp_path / "IMG_0003.dng")
    dims = _exiftool_tags(dng, "-n", "-SubIFD:ImageWidth", "-SubIFD:ImageHeight")
    W, H = int(dims["SubIFD:ImageWidth"]), int(dims["SubIFD:ImageHeight"])
    gains = np.array([[1.5, 1.2, 1.5], [1.2, 1.0, 1.2], [1.5, 1.2, 1.5]])
    (tmp_path / "ol2.bin").write_bytes(_opcode_list(_gain_map(H, W, gains)))
    _exiftool_write(dng, "-n", f"-SubIFD:OpcodeList2<={tmp_path / 'ol2.bin'}")
    assert _exiftool_lists(dng)["OpcodeList2"] == ["GainMap"]
    line = f"embedded: {_GAINMAP_NOTE.format(n=1)}; no lens-correction opcodes (WarpRectilinear, WarpFisheye, " \
           "FixVignetteRadial)"
    for f, want in ((dng, True), (shared_file(SIXD_DNG), False)):
        rc, doc = _l2_json("lens", "match", str(f))
        assert rc == 0 and doc["source"] == "database" and doc["lens"]["name"] == "Canon EF 24-105mm f/4L IS USM"
        assert (line in doc["profile_choice"]) == want, doc["profile_choice"]
