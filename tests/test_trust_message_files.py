"""Trust items 12 (messages) and 13 (profiles that tell the truth) on real files: each test runs
`l2` in a new process (or the public function that reads a file) on a file of ../shared/data, or
on a file built from one in tmp_path.

The oracles are outside l2tech: exiftool reads the f-number the camera recorded; OpenCV
(``cv2.fisheye.initUndistortRectifyMap``) maps a Gyroflow profile built from a real one; the fold
radius of an OpenCV profile built from the VINS-Mono EuRoC calibration is solved in the test.

- item 12: the D30 CRW's APEX f-number printed ``f/5.6``; ``--look nosuch`` on a real RAW a usage
  error before any work; ``lut bake -o/--output`` is the output file; one reason per file;
- item 13: an anamorphic Gyroflow profile (``input_horizontal_stretch`` 0.75) built from the
  GH5S 12-35 profile; a folding OpenCV profile built from the EuRoC YAML.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_file

CRW = "raw/decodable/canon_eos_d30__16-35mm.crw"
KISS_DNG = "raw/decodable/canon_kiss_x4__colorchecker.dng"
GH5S_GYROFLOW = "profiles/gyroflow/Panasonic_GH5S_12-35_F2.8_M43_12mm_C4k_1.90by1_4096x2160-25.00fps.json"
EUROC_YAML = "profiles/opencv_yaml/VINS-Mono__config_euroc_euroc_config.yaml"
BOUGUET_LEFT = "calib/bouguet_stereo/left01.jpg"

needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")


def _l2(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """`l2 ARGS` in a new process (the installed entry point's module), text output."""
    env = os.environ.copy()
    src = str(Path(__file__).resolve().parents[1] / "src")  # this checkout's l2tech, from any cwd
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    return subprocess.run([sys.executable, "-m", "l2tech.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=cwd)


def _flat(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------
# item 12: messages


#: The f-numbers marked on lenses for full stops Av = 0, 1, 2, ... (ISO 517: sqrt(2)**Av rounded).
_FULL_STOPS = ("1", "1.4", "2", "2.8", "4", "5.6", "8", "11", "16", "22", "32")


@needs_exiftool
def test_develop_prints_the_d30_f_number_as_marked_on_the_lens(tmp_path):
    """The D30 records its aperture as APEX: exiftool reads FNumber 5.65685424949238 (2**2.5,
    Av = 5), which lenses mark f/5.6 (exiftool itself prints "5.7"). ``l2 develop`` prints
    "31 mm f/5.6", ``--json`` keeps the recorded value, and ``l2 info`` shows f/5.6 as well.
    Measured before: develop "f/5.65685"; info "5.657" (until this test)."""
    src = shared_file(CRW)
    out = subprocess.run(["exiftool", "-j", "-n", "-FNumber", "-FocalLength", str(src)], capture_output=True,
                         text=True, check=True)
    tags = json.loads(out.stdout)[0]
    n = float(tags["FNumber"])
    av = 2 * math.log2(n)
    assert abs(av - round(av)) < 1e-6, n  # a computed APEX value, not one the camera wrote as text
    marked = f"f/{_FULL_STOPS[round(av)]}"
    assert marked == "f/5.6"
    focal = f"{float(tags['FocalLength']):g} mm"

    args = ("develop", str(src), "--lens", "Canon EF 16-35mm f/2.8L USM")
    proc = _l2(*args, "-o", str(tmp_path / "d30.jpg"))
    assert proc.returncode == 0, proc.stderr
    text = _flat(proc.stdout + proc.stderr)
    assert f"{focal} {marked}" in text, text
    assert not re.search(r"f/5\.6\d|f/5\.7|5\.65", text), text

    proc = _l2(*args, "-o", str(tmp_path / "d30j.jpg"), "--json")
    assert proc.returncode == 0, proc.stderr
    lens = json.loads(proc.stdout)["results"][0]["lens"]
    assert abs(lens["f_number"] - n) < 1e-5  # the machine-readable value stays the recorded one
    assert lens["sources"]["f_number"] == "exif"

    info = _l2("info", str(src))
    assert info.returncode == 0, info.stderr
    row = next(line for line in info.stdout.splitlines() if "f-number" in line)
    assert marked in row and "5.65" not in row, row
    assert abs(json.loads(_l2("info", str(src), "--json").stdout)["f_number"] - n) < 1e-5


def test_unknown_look_on_a_real_raw_is_a_usage_error_before_any_work(tmp_path):
    """``l2 develop <the D30 CRW> --look nosuch``: exit 2, "unknown look 'nosuch'" with every
    look ``l2 lut bake --list-looks`` lists, before any file is read: no output folder, no
    result line. Measured before (trust item 12): exit 1, the file failed after decoding."""
    from l2tech.color import list_looks

    looks = sorted(list_looks())
    assert {"classic", "mono"} <= set(looks)
    src = shared_file(CRW)
    out = tmp_path / "out"
    proc = _l2("develop", str(src), "--look", "nosuch", "-o", str(out))
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    err = _flat(proc.stderr)
    m = re.search(r"unknown look 'nosuch'; valid: ([^()]*)", err)
    assert m, err
    assert [n.strip() for n in m.group(1).split(",")] == looks
    assert proc.stdout == "" and src.name not in err and "written" not in err
    assert not out.exists()

    proc = _l2("develop", str(src), "--look", "nosuch", "-o", str(out), "--json")
    doc = json.loads(proc.stdout)
    assert proc.returncode == 2 and doc["error_type"] == "UsageError" and doc["exit_code"] == 2
    assert "unknown look 'nosuch'" in doc["error"] and "results" not in doc
    assert not out.exists()


def test_lut_bake_output_is_the_output_file_as_everywhere(tmp_path):
    """``-o`` means output everywhere: ``l2 lut bake --output FILE`` writes FILE, as ``-o FILE``
    (the output colour space is ``--output-space``). A command line from before, where
    ``--output`` was the colour space (``--output V-Log -o x.cube``), is a usage error that names
    ``--output-space``, nothing written: never one of the two values dropped silently.
    Measured before: ``--output`` the colour space (a deprecated alias), ``-o/--out`` the file."""
    help_text = _l2("lut", "bake", "--help").stdout
    assert re.search(r"-o, --output FILE\s+Output LUT file", help_text), help_text
    assert "--output-space ENC[/GAMUT]" in help_text and "--out " not in help_text
    assert help_text.rstrip().splitlines()[-1].strip().startswith("l2 lut bake ")  # ends with an example

    short, long_ = tmp_path / "short.cube", tmp_path / "long.cube"
    assert _l2("lut", "bake", "--look", "mono", "--size", "9", "--output-space", "V-Log", "-o", str(short)).returncode == 0
    assert _l2("lut", "bake", "--look", "mono", "--size", "9", "--output-space", "V-Log", "--output", str(long_)).returncode == 0
    assert long_.read_bytes() == short.read_bytes()

    old = tmp_path / "old.cube"
    proc = _l2("lut", "bake", "--look", "mono", "--size", "9", "--output", "V-Log", "-o", str(old))
    err = _flat(proc.stderr)
    assert proc.returncode == 2, err
    assert "'V-Log' is a colour space" in err and "--output-space V-Log" in err
    assert not old.exists()
    proc = _l2("lut", "bake", "--look", "mono", "--output", "rec709", "--json")
    doc = json.loads(proc.stdout)
    assert proc.returncode == 2 and doc["error_type"] == "UsageError" and "--output-space rec709" in doc["error"]


def test_each_reason_once_per_file_in_a_batch(tmp_path):
    """Two lens-less RAWs (the Kiss X4 DNG and a copy) in one ``l2 develop``: the reason
    "vignetting, tca, distortion not corrected: no lens information …" once for each file (text),
    one warning per file (``--json``). Measured before (trust item 12): the reason 4 times per file."""
    src = shared_file(KISS_DNG)
    copy = tmp_path / "copy.dng"
    shutil.copyfile(src, copy)
    proc = _l2("develop", str(src), str(copy), "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout + proc.stderr
    assert _flat(text).count("no lens information") == 2, text
    blocks = re.split(r"^(?=\S.*→)", text, flags=re.M)  # one block per file, from its "in → out" line
    per_file = {b.split(" →")[0].strip(): b for b in blocks if "→" in b}
    assert set(per_file) == {src.name, copy.name}, text
    for name, block in per_file.items():
        assert _flat(block).count("vignetting, tca, distortion not corrected: no lens information") == 1, block

    proc = _l2("develop", str(src), str(copy), "-o", str(tmp_path / "out_json"), "--json")
    doc = json.loads(proc.stdout)
    assert proc.returncode == 0 and len(doc["results"]) == 2
    for r in doc["results"]:
        assert sum("no lens information" in w for w in r["warnings"]) == 1, r["warnings"]


# ---------------------------------------------------------------------------------------------
# item 13: profiles that tell the truth


def test_gyroflow_anamorphic_profile_built_from_a_real_one_maps_as_opencv(tmp_path):
    """The GH5S 12-35 mm Gyroflow profile (Kannala-Brandt, calibrated at 4096x2160) written as an
    anamorphic profile carries it: ``input_horizontal_stretch`` 0.75, the calibration frame the
    recorded frame stretched (3072x2160) and the matrix's top row in those pixels (x 0.75). Read
    back in recorded pixels: 4096x2160, fx the real profile's, the centre the frame's (not
    asymmetrical); the correction map of the 4096x2160 clip frame equals
    ``cv2.fisheye.initUndistortRectifyMap`` with that matrix within 0.01 px. Measured before
    (trust item 13): the profile refused, "calibrated at 3072x2160 does not fit a 4096x2160 frame"."""
    import cv2

    from l2tech.correct.maps import correction_maps
    from l2tech.profiles.gyroflow import read_gyroflow
    from l2tech.profiles.interpolate import interpolate

    real = json.loads(shared_file(GH5S_GYROFLOW).read_text(encoding="utf-8"))
    assert real.get("distortion_model") is None and not real.get("asymmetrical")  # opencv_fisheye, centred
    W, H = real["calib_dimension"]["w"], real["calib_dimension"]["h"]
    K_real = np.array(real["fisheye_params"]["camera_matrix"], dtype=np.float64)
    D = np.array(real["fisheye_params"]["distortion_coeffs"], dtype=np.float64)
    hs = 0.75
    ana = json.loads(json.dumps(real))
    ana["input_horizontal_stretch"] = hs
    ana["calib_dimension"] = {"w": round(W * hs), "h": H}
    ana["fisheye_params"]["camera_matrix"][0] = [v * hs for v in real["fisheye_params"]["camera_matrix"][0]]
    path = tmp_path / "GH5S_anamorphic.json"
    path.write_text(json.dumps(ana), encoding="utf-8")

    prof = read_gyroflow(path)
    t = prof.distortion[0].terms
    assert (prof.extra["calib_width_px"], prof.extra["calib_height_px"]) == (W, H)
    assert abs(t["fx"] - K_real[0, 0]) < 1e-9 and abs(t["fy"] - K_real[1, 1]) < 1e-9
    assert (t["cx"], t["cy"]) == (W / 2, H / 2)

    cal = interpolate(prof, prof.distortion[0].focal_length_mm or 1.0, None, None)
    m = correction_maps(cal, W, H, crop_factor=prof.crop_factor, tca=False, scale=1.0).maps
    m = m[0] if isinstance(m, (list, tuple)) else m
    K = np.array([[K_real[0, 0], 0, W / 2], [0, K_real[1, 1], H / 2], [0, 0, 1]])
    m1, m2 = cv2.fisheye.initUndistortRectifyMap(K, D, np.eye(3), K, (W, H), cv2.CV_32FC1)
    err = max(np.abs(m[..., 0] - m1).max(), np.abs(m[..., 1] - m2).max())
    assert err <= 0.01, err
    # the stretch matters: the stored top row (calibration-frame pixels, fx x 0.75) taken as
    # recorded pixels maps 25.8 px away at the frame's edge
    Ks = K.copy()
    Ks[0, 0] *= hs
    s1, _ = cv2.fisheye.initUndistortRectifyMap(Ks, D, np.eye(3), Ks, (W, H), cv2.CV_32FC1)
    assert np.abs(m[..., 0] - s1).max() > 20

    # the CLI reads it the same way
    proc = _l2("lens", "show-file", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert (doc["extra"]["calib_width_px"], doc["extra"]["calib_height_px"]) == (W, H)
    assert doc["extra"]["input_stretch"] == [hs, 1.0]
    assert abs(doc["distortion"][0]["fx"] - K_real[0, 0]) < 1e-6


def _fold_radius_k1_k2(k1: float, k2: float) -> float | None:
    """Smallest r > 0 where r (1 + k1 r^2 + k2 r^4) stops increasing: 1 + 3 k1 u + 5 k2 u^2 = 0,
    u = r^2 (the OpenCV radial model with k1, k2 only; tangential terms are not radial)."""
    if k2 == 0:
        return math.sqrt(-1 / (3 * k1)) if k1 < 0 else None
    disc = 9 * k1 * k1 - 20 * k2
    if disc < 0:
        return None
    roots = [u for u in ((-3 * k1 - math.sqrt(disc)) / (10 * k2), (-3 * k1 + math.sqrt(disc)) / (10 * k2)) if u > 0]
    return math.sqrt(min(roots)) if roots else None


def test_folding_opencv_profile_built_from_euroc_names_the_fold_radius(tmp_path):
    """The VINS-Mono EuRoC pinhole calibration (752x480, fx 461.6, k1 -0.2917, k2 0.08228) with
    k1 set to -0.5 folds inside its frame: 1 + 3 k1 r^2 + 5 k2 r^4 = 0 at r = 0.9371 (432.6 px),
    the frame corner at r = 0.9995. ``l2 correct`` of a 752x480 frame (the Bouguet left01 view
    resized) with it fails naming that radius within 0.1 px, nothing written; the real YAML (no
    fold: the discriminant is negative) corrects. The check over a range far beyond the fold
    (a tiny trial scale) names the same radius. Measured before: "radius 1000.0 px" for the made-up
    k1-only profile; and with this profile's k2 > 0 no fold at all over 2e4 or 2e5 (uniform steps
    of 1 and 10 passed the whole fold, 0.94 to 1.66), until this test."""
    import cv2

    from l2tech.errors import InvalidProfileError
    from l2tech.optics.opencv import _check_folding
    from l2tech.profiles.opencv_yaml import read_opencv_yaml

    real_yaml = shared_file(EUROC_YAML)
    text = real_yaml.read_text(encoding="utf-8")
    assert "k1: -2.917e-01" in text
    fold_yaml = tmp_path / "euroc_k1_fold.yaml"
    fold_yaml.write_text(text.replace("k1: -2.917e-01", "k1: -5.0e-01"), encoding="utf-8")
    real_t = read_opencv_yaml(real_yaml).distortion[0].terms
    t = read_opencv_yaml(fold_yaml).distortion[0].terms
    assert t["k1"] == -0.5 and t["k2"] == real_t["k2"] == 0.08228 and t["fx"] == 461.6
    assert _fold_radius_k1_k2(real_t["k1"], real_t["k2"]) is None  # the real calibration never folds
    r_fold = _fold_radius_k1_k2(t["k1"], t["k2"])
    px = r_fold * t["fx"]
    W, H = 752, 480
    r_corner = max(math.hypot((x - t["cx"]) / t["fx"], (y - t["cy"]) / t["fy"]) for x in (0, W - 1) for y in (0, H - 1))
    assert r_fold < r_corner  # inside the frame

    img = cv2.imread(str(shared_file(BOUGUET_LEFT)))
    frame = tmp_path / "euroc_frame.png"
    cv2.imwrite(str(frame), cv2.resize(img, (W, H), interpolation=cv2.INTER_AREA))

    ok = _l2("correct", str(frame), "--profile", str(real_yaml), "-o", str(tmp_path / "ok.png"), "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["results"][0]["lens"]["corrections"]["distortion"]["applied"]

    bad = tmp_path / "bad.png"
    proc = _l2("correct", str(frame), "--profile", str(fold_yaml), "-o", str(bad), "--json")
    assert proc.returncode == 1
    r = json.loads(proc.stdout)["results"][0]
    assert r["status"] == "failed" and r["error_type"] == "InvalidProfileError"
    named = float(re.search(r"folds the image at radius ([0-9.]+) px", r["error"]).group(1))
    assert abs(named - px) <= 0.1, (r["error"], px)
    assert not bad.exists()

    for r_max in (r_corner, 2e4, 2e5):
        with pytest.raises(InvalidProfileError, match=r"radius ([0-9.]+) px") as exc:
            _check_folding(t, r_max, t["fx"])
        named = float(re.search(r"radius ([0-9.]+) px", str(exc.value)).group(1))
        assert abs(named - px) <= 0.1, (r_max, str(exc.value), px)


def test_wrong_command_for_the_file_says_which_command(tmp_path, capsys):
    """`l2 develop IMG.jpg` said "JPEG data in a .jpg file ... (or give it its own extension)"
    (it has its own extension); `l2 lut apply look.cube IMG.dng` said "TIFF photometric
    interpretation CFA is not supported". Each now names the file's kind and the command for it;
    a JPEG under a RAW name keeps its message."""
    from conftest import l2_json

    jpg = shared_file("raw/jpeg_reference/canon_6d__ef100mm_macro.jpg")
    rc, doc = l2_json(capsys, "develop", str(jpg), "-o", str(tmp_path / "d.jpg"))
    assert rc == 1 and doc["results"][0]["error"].endswith("a developed JPEG image, not a RAW; use `l2 correct` for it")
    nef = tmp_path / "IMG.nef"
    shutil.copy(jpg, nef)
    rc, doc = l2_json(capsys, "develop", str(nef), "-o", str(tmp_path / "n.jpg"))
    assert rc == 1 and "JPEG data in a .nef file" in doc["results"][0]["error"]
    dng = shared_file("raw/decodable/canon_kiss_x4__colorchecker.dng")
    rc, doc = l2_json(capsys, "lut", "apply", str(shared_file("luts/cube_3dl/ocio-tests__iridas_3d.cube")), str(dng),
                      "-o", str(tmp_path / "k.tif"))
    assert rc == 1 and "a RAW file (DNG), not a developed image; develop it with `l2 develop` first" in doc[0]["error"]
    # the linear DNG (a TIFF whose first page is its 256 x 171 preview) too: it was read as that preview
    lin = shared_file("raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng")
    crw = shared_file("raw/decodable/canon_eos_d30__16-35mm.crw")
    for raw, kind in ((lin, "DNG"), (crw, "CRW")):
        out = tmp_path / "lut"  # a folder: the output would be named after the RAW
        rc, doc = l2_json(capsys, "lut", "apply", str(shared_file("luts/cube_3dl/ocio-tests__iridas_3d.cube")), str(raw),
                          "-o", f"{out}/")
        assert rc == 1 and f"a RAW file ({kind}), not a developed image" in doc[0]["error"], doc
        assert not out.exists() or not any(out.iterdir())


def test_a_missing_f_number_is_said_once(tmp_path, capsys):
    """`l2 correct left01.jpg --lens "Olympus M.Zuiko ... II R" --focal-length 15` (a Bouguet
    board shot with no EXIF): the missing f-number was said twice, as a warning ("f-number missing
    from the metadata; vignetting needs --f-number") and as vignetting's reason; now once, as the
    reason."""
    from conftest import l2_json

    src = shared_file("calib/bouguet_stereo/left01.jpg")
    rc, doc = l2_json(capsys, "correct", str(src), "--lens", "Olympus M.Zuiko Digital ED 14-42mm f/3.5-5.6 II R",
                      "--focal-length", "15", "-o", str(tmp_path / "g.jpg"))
    lens = doc["results"][0]["lens"]
    assert rc == 0 and lens["corrections"]["vignetting"]["reason"] == "f-number unknown (not in EXIF); pass --f-number N"
    text = json.dumps(doc)
    assert text.count("f-number") == 2, text  # both in the one reason ("f-number unknown ...; pass --f-number N")
