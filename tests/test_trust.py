"""Trust on real files: never correct twice, mark what l2tech did, never lose metadata.

exiftool (a separate, trusted implementation) is the truth for what a file carries; l2tech
itself reads and writes metadata through the exiv2 binding.
"""

from __future__ import annotations

import functools
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from l2tech.pipeline.recipe import Recipe
from conftest import SHARED_DATA, shared_file

EP3 = "raw/jpeg_reference/olympus_e-p3__mzuiko_14-42_II_R_15mm.jpg"

needs_exiftool = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed")


# ---------------------------------------------------------------------------------------------
# straight edges (item 1)


def _luma(path: Path) -> np.ndarray:
    import cv2

    g = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE).astype(np.float64)
    return cv2.GaussianBlur(g, (0, 0), 1.5)


def _horizontal_edges(g: np.ndarray) -> list[tuple[int, int, int]]:
    """Long near-horizontal edges (x0, x1, y) found by OpenCV's probabilistic Hough transform."""
    import cv2

    small = cv2.resize(g, None, fx=0.25, fy=0.25).astype(np.uint8)
    segs = cv2.HoughLinesP(cv2.Canny(small, 40, 120), 1, np.pi / 720, 200, minLineLength=int(0.3 * small.shape[1]),
                           maxLineGap=10)
    out = []
    for x0, y0, x1, y1 in segs.reshape(-1, 4):
        if abs(y1 - y0) < 0.02 * abs(x1 - x0):
            out.append((4 * min(x0, x1), 4 * max(x0, x1), 2 * (y0 + y1)))
    return out


def _line_fit_rms(g: np.ndarray, edge: tuple[int, int, int], window: int = 3, search: int = 25) -> float:
    """RMS (px) of a straight-line fit to an edge, tracked column by column from its middle.

    The edge row in each column is the maximum of |d/dy| refined by a parabola (sub-pixel);
    the tracker follows the edge wherever a correction moved it.
    """
    x0, x1, y_guess = edge
    gy = np.abs(np.gradient(g, axis=0))
    xs = np.arange(x0 + 20, x1 - 20, 4)
    xc = xs[len(xs) // 2]
    col = gy[y_guess - search : y_guess + search + 1, xc]
    start = y_guess - search + int(np.argmax(col))
    pts: dict[int, float] = {}
    for run in (xs[xs >= xc], xs[xs < xc][::-1]):
        y = float(start)
        for x in run:
            lo = int(round(y)) - window
            c = gy[lo : lo + 2 * window + 1, x]
            k = int(np.argmax(c))
            d = 0.0
            if 0 < k < len(c) - 1 and (c[k - 1] - 2 * c[k] + c[k + 1]) != 0:
                d = (c[k - 1] - c[k + 1]) / (2 * (c[k - 1] - 2 * c[k] + c[k + 1]))
            y = lo + k + d
            pts[int(x)] = y
    X = np.array(sorted(pts), dtype=np.float64)
    Y = np.array([pts[int(x)] for x in X])
    fit = np.polyfit(X, Y, 1)
    return float(np.sqrt(np.mean((Y - np.polyval(fit, X)) ** 2)))


@pytest.fixture(scope="module")
def ep3_corrected(tmp_path_factory):
    """The E-P3 JPEG corrected once by `l2 correct`'s job (shared by the tests that read it)."""
    from l2tech.pipeline.stills import correct_image_file

    out = tmp_path_factory.mktemp("ep3") / "out.jpg"
    return out, correct_image_file(shared_file(EP3), out, Recipe())


def test_ep3_jpeg_is_not_corrected_twice(tmp_path, ep3_corrected):
    """Item 1: the E-P3 corrected its own JPEG; l2tech skips distortion and the edges stay straight.

    The bound is measured, not assumed: the input decoded and re-encoded exactly as `l2 correct`
    writes it (l2tech's read_image, then write_image at the recipe's JPEG quality, 92), with no
    correction, shows what the JPEG round trip alone does to the measure. The output's mean RMS
    must stay within max(input, re-encoded) + 2 standard errors of the re-encoding's per-edge
    change: the round trip moves each edge's RMS by a different amount, and that spread between
    edges is how far a mean over these few edges moves with no change of geometry.

    Measured (this test's tracker, four clean edges of the frame and cornice): input mean RMS
    0.9739 px (per edge 0.684, 0.907, 1.093, 1.212), re-encoded 0.9676 px (per-edge change
    +0.0001, +0.0002, -0.0028, -0.0226; sample std 0.0110 px, so the tolerance 2 x 0.0110 / sqrt(4)
    = 0.0110 px), l2tech's output 0.9762 px (+0.0024 over the bound's base, under 0.0110); the
    same file corrected again with --force 2.28 px (at half size, checked below: 0.43 -> 1.10 px).
    """
    from l2tech.io.image import read_image, write_image
    from l2tech.pipeline.stills import correct_image_file

    src = shared_file(EP3)
    out, res = ep3_corrected
    assert res.plan.applied == {"vignetting": True, "tca": True, "distortion": False}
    reason = res.plan.reasons["distortion"]
    assert "Micro Four Thirds" in reason and "--force" in reason

    g_in, g_out = _luma(src), _luma(out)
    edges = [e for e in _horizontal_edges(g_in) if _line_fit_rms(g_in, e) < 1.5]  # clean edges only
    assert len(edges) >= 3
    per_in = np.array([_line_fit_rms(g_in, e) for e in edges])
    rms_in = per_in.mean()
    rms_out = np.mean([_line_fit_rms(g_out, e) for e in edges])
    # the JPEG round trip alone: decoded and re-encoded as l2 correct writes, nothing corrected
    reencoded = tmp_path / "reencoded.jpg"
    write_image(reencoded, read_image(src).pixels, quality=Recipe().quality)
    g_re = _luma(reencoded)
    per_re = np.array([_line_fit_rms(g_re, e) for e in edges])
    rms_re = per_re.mean()
    tol = 2 * np.std(per_re - per_in, ddof=1) / np.sqrt(len(edges))  # 2 standard errors of the mean
    assert 0 < tol < 0.05, (per_in, per_re)  # a round trip that moved the edges this much would say nothing
    assert rms_out <= max(rms_in, rms_re) + tol, (rms_in, rms_re, tol, rms_out)

    # the measure sees a double correction: --force on a half-size copy (same metadata) bows the
    # same edges (measured at half size: 0.43 px input, 1.10 px forced)
    half = _small_copy(src, tmp_path / "half.jpg", factor=2)
    forced = correct_image_file(half, tmp_path / "forced.jpg", Recipe(force=True))
    assert forced.plan.applied["distortion"]
    g_half, g_forced = _luma(half), _luma(tmp_path / "forced.jpg")
    half_edges = [(x0 // 2, x1 // 2, y // 2) for x0, x1, y in edges]
    rms_half = np.mean([_line_fit_rms(g_half, e) for e in half_edges])
    rms_forced = np.mean([_line_fit_rms(g_forced, e) for e in half_edges])
    assert rms_forced > rms_half + 0.3, (rms_half, rms_forced)


class _FakeTags:
    """The _Tags interface over a dict (exiv2 key -> raw value) and no XMP."""

    def __init__(self, values: dict[str, str], xmp=None):
        self.values, self.xmp = values, xmp

    def raw(self, key, fieldname=""):
        return self.values.get(key)

    def printed(self, key, fieldname=""):
        return {"1": "On", "2": "Auto"}.get(self.values.get(key, ""), self.values.get(key))


def test_maker_note_flags_name_the_corrections_done():
    """Flag values as exiv2 reads them (olympusmn_int.cpp, sonymn_int.cpp, canonmn_int.cpp)."""
    from l2tech.io.provenance import corrections_done

    tags = _FakeTags({"Exif.OlympusCs.DistortionCorrection": "0", "Exif.OlympusCs.ShadingCompensation": "1",
                      "Exif.Sony2.LateralChromaticAberration": "4294967295",  # n/a
                      "Exif.CanonVigCor2.DistortionCorrectionSetting": "1"})
    done = dict(corrections_done(tags))
    assert set(done) == {"vignetting", "distortion"}
    assert "ShadingCompensation = On" in done["vignetting"]
    assert "CanonVigCor2.DistortionCorrectionSetting" in done["distortion"]


def test_raw_file_flags_do_not_skip_corrections():
    """The ZV-E10 ARW says its JPEG was corrected (Sony2 flags = Auto); the RAW data is not."""
    from l2tech.io.metadata import read_metadata
    from l2tech.pipeline.lens_plan import LensPlan, skip_corrections_done

    meta = read_metadata(shared_file("raw/metadata_only/sony_zv-e10__e_pz_16-50__file-type.arw"))
    assert dict(meta.corrections_done).keys() == {"vignetting", "tca", "distortion"}
    plan = LensPlan("cam", "lens", object(), None, 1.5, 16.0, 4.0, 1000.0, {c: True for c in ("vignetting", "tca", "distortion")},
                    {}, {})
    assert skip_corrections_done(plan, meta) is plan


# ---------------------------------------------------------------------------------------------
# l2tech's record and re-runs (item 2), greyscale (item 3)


def _exiftool(path: Path, *args: str) -> dict:
    out = subprocess.run(["exiftool", "-j", "-G0:1", "-a", "-D", "-e", "-n", *args, str(path)], capture_output=True,
                         text=True, check=True).stdout
    return {k: (v["val"] if isinstance(v, dict) else v) for k, v in json.loads(out)[0].items()}


def _ids(path: Path) -> dict[str, object]:
    out = subprocess.run(["exiftool", "-j", "-G0:1", "-a", "-D", "-e", "-n", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return {k: (v.get("id") if isinstance(v, dict) else None) for k, v in json.loads(out)[0].items()}


def _small_copy(src: Path, dst: Path, *, grey: bool = False, factor: int = 8) -> Path:
    """A 1/``factor``-size JPEG of ``src`` carrying all of its metadata (copied with the exiv2 binding)."""
    import exiv2
    from PIL import Image

    with Image.open(src) as im:
        im = im.convert("L" if grey else "RGB").reduce(factor)
        im.save(dst, "JPEG", quality=92)
    s = exiv2.ImageFactory.open(str(src))
    s.readMetadata()
    d = exiv2.ImageFactory.open(str(dst))
    d.readMetadata()
    d.setExifData(s.exifData())
    d.setXmpData(s.xmpData())
    d.writeMetadata()
    return dst


@needs_exiftool
def test_outputs_carry_l2tech_record_and_reruns_skip_them(tmp_path, capsys):
    from l2tech import __version__
    from l2tech.cli.main import main
    from l2tech.pipeline.stills import recipe_hash

    def run(args):
        rc = main(args)
        text = capsys.readouterr().out
        return rc, json.loads(text)

    src = _small_copy(shared_file(EP3), tmp_path / "P1.jpg")
    rc, doc = run(["correct", str(src), "--json"])
    assert rc == 0, doc
    out = tmp_path / "P1_l2.jpg"
    tags = _exiftool(out)
    assert tags["EXIF:IFD0:Software"] == f"l2tech {__version__}"
    assert tags["XMP:XMP-l2tech:Tool"] == "l2tech"
    assert str(tags["XMP:XMP-l2tech:Version"]) == __version__
    assert tags["XMP:XMP-l2tech:Profile"] == "Olympus M.Zuiko Digital ED 14-42mm f/3.5-5.6 II R"
    assert tags["XMP:XMP-l2tech:ProfileSource"] == "database"
    assert tags["XMP:XMP-l2tech:Corrections"] == "vignetting,tca"
    assert tags["XMP:XMP-l2tech:SourceSoftware"] == "Version 1.3"
    assert tags["XMP:XMP-l2tech:RecipeHash"] == recipe_hash(Recipe(quality=95))
    # a second run over the folder (`l2 correct *.jpg`): both files are skipped, nothing written
    rc, doc = run(["correct", str(src), str(out), "--json"])
    assert rc == 0, doc
    assert (doc["ok"], doc["skipped"], doc["failed"]) == (0, 2, 0)
    assert "already an l2tech output" in [e for e in doc["results"] if e["input"] == str(out)][0]["error"]
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".l2.toml")) == ["P1.jpg", "P1_l2.jpg"]
    # --force corrects an l2tech output again, as asked
    rc, doc = run(["correct", str(out), "--force", "--json"])
    assert rc == 0 and doc["ok"] == 1, doc
    assert (tmp_path / "P1_l2_l2.jpg").is_file()


@needs_exiftool
def test_output_whose_xmp_was_dropped_is_known_by_its_software(tmp_path, capsys):
    """An l2tech output whose XMP record an editor removed (exiftool ``-XMP-l2tech:all=``) still
    says ``Software: l2tech 0.1.0``; before, `l2 correct` corrected it a second time with no word.
    Now it is skipped naming that tag; ``--force`` corrects it."""
    from conftest import l2_json

    src = _small_copy(shared_file(EP3), tmp_path / "P1.jpg")
    out = tmp_path / "P1_l2.jpg"
    assert l2_json(capsys, "correct", str(src), "-o", str(out))[0] == 0
    subprocess.run(["exiftool", "-q", "-overwrite_original", "-XMP-l2tech:all=", str(out)], check=True)
    tags = _exiftool(out)
    assert not [k for k in tags if "XMP-l2tech" in k] and tags["EXIF:IFD0:Software"].startswith("l2tech ")
    rc, doc = l2_json(capsys, "correct", str(out), "-o", str(tmp_path / "again.jpg"))
    r = doc["results"][0]
    assert rc == 0 and r["status"] == "skipped" and not (tmp_path / "again.jpg").exists()
    assert f"its Software tag says '{tags['EXIF:IFD0:Software']}'" in r["error"] and "--force" in r["error"]
    rc, doc = l2_json(capsys, "correct", str(out), "-o", str(tmp_path / "again.jpg"), "--force")
    assert rc == 0 and doc["results"][0]["status"] == "ok"


def test_only_a_correction_an_output_did_not_make(tmp_path, capsys):
    """`l2 correct P1_l2.jpg --only distortion`, where the record says vignetting and TCA were
    corrected: it was skipped as an l2tech output although distortion was never corrected. Now
    it is planned: the E-P3 body rule then skips distortion (the camera corrected it), and
    nothing is corrected twice; `--only vignetting` is still skipped as done."""
    from conftest import l2_json

    src = _small_copy(shared_file(EP3), tmp_path / "P1.jpg")
    out = tmp_path / "P1_l2.jpg"
    assert l2_json(capsys, "correct", str(src), "-o", str(out))[0] == 0
    rc, doc = l2_json(capsys, "correct", str(out), "--only", "distortion", "-o", str(tmp_path / "d.jpg"))
    r = doc["results"][0]
    assert rc == 0 and r["status"] == "ok", r
    c = r["lens"]["corrections"]
    assert not any(v["applied"] for v in c.values())
    assert c["distortion"]["reason"].startswith("already corrected: Micro Four Thirds bodies")
    assert c["vignetting"]["reason"] == "not requested (--only)"
    rc, doc = l2_json(capsys, "correct", str(out), "--only", "vignetting", "-o", str(tmp_path / "v.jpg"))
    assert rc == 0 and doc["results"][0]["status"] == "skipped" and not (tmp_path / "v.jpg").exists()


def test_info_lists_what_l2tech_corrected(tmp_path, capsys):
    """`l2 info --json P1_l2.jpg` listed ``corrections_done: []`` for an l2tech output whose
    record says vignetting and TCA were corrected; now each, with the record as evidence."""
    from conftest import l2_json

    src = _small_copy(shared_file(EP3), tmp_path / "P1.jpg")
    out = tmp_path / "P1_l2.jpg"
    rc, doc = l2_json(capsys, "correct", str(src), "-o", str(out))
    did = [c for c, v in doc["results"][0]["lens"]["corrections"].items() if v["applied"]]
    assert rc == 0 and did == ["vignetting", "tca"]
    rc, info = l2_json(capsys, "info", str(out))
    from l2tech import __version__

    assert rc == 0 and info["corrections_done"] == [[c, f"l2tech {__version__} (XMP l2tech:Corrections)"] for c in did]


@needs_exiftool
def test_greyscale_in_greyscale_out(tmp_path):
    from l2tech.pipeline.stills import correct_image_file

    src = _small_copy(shared_file(EP3), tmp_path / "grey.jpg", grey=True)
    res = correct_image_file(src, tmp_path / "out.jpg", Recipe())
    assert _exiftool(tmp_path / "out.jpg")["File:ColorComponents"] == 1
    assert not res.plan.applied["tca"] and "greyscale" in res.plan.reasons["tca"]


# ---------------------------------------------------------------------------------------------
# metadata kept (item 3)

#: IFD0/IFD1 tag IDs that describe the stored pixels or the RAW data, not the shot (TIFF 6.0
#: section 8; Exif 3.0 4.6.2): the output's writer sets its own or they no longer apply.
_STRUCTURE_IDS = {0xFE, 0xFF, 0x100, 0x101, 0x102, 0x103, 0x106, 0x10A, 0x111, 0x115, 0x116, 0x117, 0x118, 0x11C,
                  0x12D, 0x13D, 0x13E, 0x13F, 0x142, 0x143, 0x144, 0x145, 0x14A, 0x152, 0x153, 0x154, 0x155, 0x15B,
                  0x201, 0x202, 0x211, 0x212, 0x214, 0x2BC, 0x828D, 0x828E, 0x8773}
#: DNG tags (Adobe DNG 1.7, 0xC612 onward) kept: they describe the shot, not the RAW data.
_DNG_KEPT_IDS = {0xC614, 0xC615, 0xC62F, 0xC630, 0xC68B}


def _crs_applied(path: Path) -> bool:
    """Whether the file's Adobe Camera Raw settings are marked applied (crs:AlreadyApplied)."""
    out = subprocess.run(["exiftool", "-s3", "-XMP-crs:AlreadyApplied", str(path)], capture_output=True, text=True).stdout
    return out.strip().lower() == "true"


def _should_keep(key: str, tag_id: object, crs_applied: bool = False) -> bool:
    """Which of exiftool's keys of an input an output must still carry.

    Legitimately not carried (they change or no longer hold for a developed image):
    - File, ExifTool, Composite, JFIF, ICC_Profile, MPF groups: the file itself, derived
      values, the old encoder's and colour profile's data (the output's are written);
    - Photoshop:PhotoshopThumbnail (a thumbnail of the input's pixels; Photoshop's other
      resources are kept);
    - EXIF sub-images (SubIFD*, IFD2+, previews) and IFD0/IFD1 structure tags (strip/tile
      layout, compression, bit depth, CFA, the old ICC/XMP containers) and DNG tags that
      describe the RAW data (colour matrices, black/white levels, opcodes);
    - IFD0 tags below 0xFE: private RAW tags of Panasonic's RW2 IFD0 (sensor borders, levels);
    - ExifIFD CompressedBitsPerPixel (the old JPEG's compression);
    - CanonRaw (the CRW container's own records) and the sensor borders (RAW sensor geometry);
    - XMP-x:XMPToolkit (names the XMP writer, which is now exiv2);
    - XMP-crs where ``crs_applied`` is False (Adobe Camera Raw's settings of a RAW edit not yet
      applied: Lightroom/ACR would apply them again on the rendered pixels). An image that says
      crs:AlreadyApplied True (the 6D JPEG) keeps them.
    Maker notes an earlier editor moved (exiftool warns "Adjusted MakerNotes base", the SX60 HS
    JPEG) are kept like any other: copy_exif carries them at their values' true places.
    Updated but kept: Orientation (1), PixelX/YDimension, ColorSpace, Software, the thumbnail,
    XMP-dc:Format (the output's MIME type).
    """
    parts = key.split(":")
    if len(parts) == 2 and parts[0] == "IPTC":  # exiftool -G0:1 writes IPTC keys with one group
        parts = ["IPTC", "IPTC", parts[1]]
    if len(parts) < 3:
        return False
    fam0, fam1, name = parts[0], parts[1], parts[-1]
    if fam0 == "Photoshop":
        return name != "PhotoshopThumbnail"
    if fam0 not in ("EXIF", "MakerNotes", "XMP", "IPTC"):
        return False
    if fam0 == "MakerNotes" and fam1 in ("CanonRaw", "PreviewIFD"):
        return False
    if name.startswith(("SensorLeft", "SensorRight", "SensorTop", "SensorBottom", "BlackMask")) or name in ("SensorWidth", "SensorHeight"):
        return False
    if fam0 == "XMP" and (name == "XMPToolkit" or (fam1 in ("XMP-crs", "XMP-crss") and not crs_applied)):
        return False
    if fam0 == "EXIF":
        if fam1 not in ("IFD0", "ExifIFD", "GPS", "InteropIFD", "IFD1"):
            return False
        if fam1 == "ExifIFD" and tag_id == 0x9102:
            return False
        if fam1 in ("IFD0", "IFD1") and isinstance(tag_id, int):
            if tag_id in _STRUCTURE_IDS or tag_id < 0xFE or (0xC612 <= tag_id < 0xCE00 and tag_id not in _DNG_KEPT_IDS):
                return False
    return True


def _processable_inputs() -> list[Path]:
    root = SHARED_DATA / "raw"
    if not root.is_dir():
        return []
    return sorted(root.glob("decodable/*")) + sorted(root.glob("jpeg_reference/*"))


@needs_exiftool
@pytest.mark.parametrize("src", _processable_inputs() or [pytest.param(None, marks=pytest.mark.skip(reason="no shared data"))],
                         ids=lambda p: p.name if p else "none")
def test_metadata_kept(src, tmp_path, request):
    """Item 3: keys kept / keys that should be kept, exiftool as the truth: 100 % on every input.

    Measured now (exiftool 12.57): E-P3 JPEG 176/176, Canon 6D JPEG 190/190 (with its 19 Photoshop
    resource values and 102 applied crs: settings; 87/88 without them before they were carried), PowerShot SX60 HS
    JPEG 145/145 (91 of them maker-note keys, at a base an editor moved, which were excluded
    before: 54/54 without them), 6D DNG 68/68, Kiss X4 DNG 28/28, D30 CRW 64/64. Before copy_exif
    carried metadata: E-P3 31/176, SX60 34/51, Kiss X4 22/28, D30 0/64.
    """
    from l2tech.pipeline.stills import correct_image_file, develop_file

    out = tmp_path / "out.jpg"
    if src.name == Path(EP3).name:
        out = request.getfixturevalue("ep3_corrected")[0]
    elif src.parent.name == "jpeg_reference":
        correct_image_file(src, out, Recipe())
    else:
        develop_file(src, out, Recipe())
    applied = _crs_applied(src)
    want = {k for k, t in _ids(src).items() if _should_keep(k, t, applied)}
    have = set(_ids(out))
    missing = sorted(want - have)
    assert len(want) > 0
    assert not missing, f"{len(want) - len(missing)}/{len(want)} kept; missing {missing}"
    tags = _exiftool(out)
    assert tags["EXIF:IFD0:Orientation"] == 1
    assert tags["EXIF:ExifIFD:ExifImageWidth"] == tags["File:ImageWidth"]


# ---------------------------------------------------------------------------------------------
# messages (item 12)


def _all_commands():
    import click

    from l2tech.cli.main import cli

    out = []

    def walk(cmd, path):
        ctx = click.Context(cmd, info_name=" ".join(path))
        out.append((" ".join(path), cmd.get_help(ctx)))
        if isinstance(cmd, click.Group):
            for name in cmd.list_commands(ctx):
                walk(cmd.get_command(ctx, name), [*path, name])

    walk(cli, ["l2"])
    return out


def test_every_help_ends_with_a_worked_example():
    cmds = _all_commands()
    assert len(cmds) >= 20  # l2, develop, correct, info, demo, video, lens x5, lut x5, calibrate x4
    for name, text in cmds:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        heads = [i for i, line in enumerate(lines) if line.lower().startswith(("example:", "examples:"))]
        options = max(i for i, line in enumerate(lines) if line.startswith(("Options:", "Commands:")))
        assert heads and heads[-1] > options, f"`{name} --help` does not end with its examples"
        assert lines[heads[-1] + 1].startswith("l2 "), (name, lines[heads[-1] + 1])


def test_f_numbers_as_photographers_write_them():
    from l2tech.cli.common import format_f_number

    # APEX Av = 5 -> 2**2.5 = 5.65685 is marked f/5.6; Av = 7 -> 11.3137 is f/11 (ISO 517 series)
    assert [format_f_number(2 ** (av / 2)) for av in (1, 5, 6, 7, 9)] == ["f/1.4", "f/5.6", "f/8", "f/11", "f/22"]
    assert format_f_number(3.6) == "f/3.6"  # a value the camera wrote is shown as written


def test_unknown_look_is_a_usage_error_listing_valid_names(capsys):
    from l2tech.cli.main import main

    assert main(["lut", "bake", "--look", "nosuch", "-o", "x.cube"]) == 2
    err = capsys.readouterr().err
    assert "nosuch" in err and "mono" in err and "classic" in err


def test_one_reason_once_per_file(tmp_path, capsys):
    from l2tech.cli.main import main

    src = shared_file("raw/decodable/canon_kiss_x4__colorchecker.dng")
    assert main(["develop", str(src), "-o", str(tmp_path / "k.jpg")]) == 0
    cap = capsys.readouterr()
    text = " ".join((cap.out + cap.err).split())
    assert text.count("no lens information") == 1, text


def test_two_inputs_one_output_reported_first_and_the_rest_runs(tmp_path, capsys):
    from l2tech.cli.main import main

    a, b = tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.jpg"
    for p in (a, b):
        p.parent.mkdir()
        _small_copy(shared_file(EP3), p)
    third = _small_copy(shared_file(EP3), tmp_path / "y.jpg")
    rc = main(["correct", str(a), str(b), str(third), "-o", str(tmp_path / "out"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 1
    assert [r["status"] for r in doc["results"]] == ["failed", "failed", "ok"]
    assert all("would both write this one output" in r["error"] for r in doc["results"][:2])
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if not p.name.startswith(".") and not p.name.endswith(".l2.toml")) == ["y.jpg"]
    # the text summary tells the two apart: their paths, where their names are the same (was "failed x.jpg" twice)
    (tmp_path / "out" / "y.jpg").unlink()
    rc = main(["correct", str(a), str(b), str(third), "-o", str(tmp_path / "out"), "--overwrite"])
    lines = [ln.strip() for ln in capsys.readouterr().out.splitlines() if ln.strip().startswith("failed ")]
    assert rc == 1 and [ln.split(": ")[0] for ln in lines] == [f"failed {a}", f"failed {b}"], lines


# ---------------------------------------------------------------------------------------------
# Adobe LCP on another frame (item 5)

_LCP_TEMPLATE = """<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about="" xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"
   xmlns:stCamera="http://ns.adobe.com/photoshop/1.0/camera-profile">
  <photoshop:CameraProfiles><rdf:Seq><rdf:li><rdf:Description stCamera:Make="Canon" stCamera:Model="Canon EOS 5D Mark II"
     stCamera:Lens="EF24mm f/2.8" stCamera:SensorFormatFactor="1" stCamera:FocalLength="24" stCamera:FocusDistance="1000"
     stCamera:ApertureValue="4">
   <stCamera:PerspectiveModel><rdf:Description stCamera:Version="2" {fx}
     stCamera:RadialDistortParam1="-0.18" stCamera:RadialDistortParam2="0.06"/></stCamera:PerspectiveModel>
  </rdf:Description></rdf:li></rdf:Seq></photoshop:CameraProfiles>
 </rdf:Description></rdf:RDF></x:xmpmeta>"""


def _corner_displacement_spec(W: int, H: int, fx_units: float, k1: float, k2: float) -> float:
    """Adobe Camera Model by hand: fx = FocalLengthX · max(W, H) px, centre ImageXCenter · W
    (0.5), and the corner (0, 0) is read from centre + x (1 + k1 r² + k2 r⁴) · fx."""
    D = max(W, H)
    fx = fx_units * D
    u0, v0 = 0.5 * W, 0.5 * H
    x, y = (0 - u0) / fx, (0 - v0) / fx
    r2 = x * x + y * y
    s = 1 + k1 * r2 + k2 * r2 * r2
    return float(np.hypot((x * s - x) * fx, (y * s - y) * fx))


@pytest.mark.parametrize("with_fx", [True, False], ids=["FocalLengthX", "no FocalLengthX"])
def test_lcp_on_a_smaller_frame_scales_to_the_frame(with_fx):
    """An LCP made on a full-frame body (SensorFormatFactor 1) applied to an APS-C frame (crop
    1.5): the model's focal length is FocalLengthX · 1.5 in the frame's units (or, without
    FocalLengthX, 24 mm / (36 mm / 1.5)); the corner displacement equals the spec's formula
    within 0.1 px. Measured before this change: 180.4 px at the corner of this frame where the
    formula gives 94.7 px (FocalLengthX read in the frame's own units), and the profile without
    FocalLengthX refused ("missing FocalLengthX"); after: both equal to the formula."""
    from l2tech.correct.maps import correction_maps
    from l2tech.profiles.interpolate import interpolate
    from l2tech.profiles.lcp import parse_lcp

    W, H, crop = 3000, 2000, 1.5
    fx_attr = 'stCamera:FocalLengthX="0.70" stCamera:FocalLengthY="0.70"' if with_fx else ""
    prof = parse_lcp(_LCP_TEMPLATE.format(fx=fx_attr).encode(), "ff.lcp")
    cal = interpolate(prof, 24.0, 4.0, 1000.0)
    maps = correction_maps(cal, W, H, crop_factor=crop, distortion=True, tca=False, scale=1.0)
    m = maps.maps[0] if isinstance(maps.maps, (list, tuple)) else maps.maps
    got = float(np.hypot(*(m[0, 0].astype(np.float64) - [0.0, 0.0])))
    fx_frame = 0.70 * crop / 1.0 if with_fx else 24.0 / (36.0 / crop)
    want = _corner_displacement_spec(W, H, fx_frame, -0.18, 0.06)
    assert abs(got - want) <= 0.1, (got, want)
    if with_fx:  # the unscaled reading is far off: the test tells the two apart
        assert abs(_corner_displacement_spec(W, H, 0.70, -0.18, 0.06) - want) > 50


# ---------------------------------------------------------------------------------------------
# vignetting far outside the calibrated circle (item 7)


def test_pa_gain_held_beyond_the_calibrated_corner():
    """A DX profile (crop 1.528) at an FX corner (crop 1): r reaches 1.53 where lensfun's pa
    polynomial of the 18-70 at 18 mm f/3.5 is -0.79 (black, lensfun clamps at 0). The gain is
    held at its value at r = 1: 1 / (1 + k1 + k2 + k3) by hand from the profile's terms.
    Inside r < 1 it is lensfun's gain unchanged (the kernel tested against lensfunpy in
    tests/test_lensfun_oracle.py). Measured before: 18.7 % of this frame at gain 0 and a
    largest gain of 11560 next to them; after: no zero gain, largest 3.25 (the r = 1 value)."""
    from l2tech.correct.apply import with_vignetting_strength
    from l2tech.correct.maps import _pa_r2, vignetting_gain
    from l2tech.optics import compose
    from l2tech.correct.maps import lensfun_normalization
    from l2tech.profiles.interpolate import interpolate
    from l2tech.profiles.matching import default_database

    prof = next(p for p in default_database().lenses if p.name == "Nikon AF-S DX Zoom-Nikkor 18-70mm f/3.5-4.5G IF-ED")
    cal = interpolate(prof, 18.0, 3.5, 1000.0)
    W, H = 600, 400
    with pytest.warns(UserWarning, match="smaller sensor"):
        held = vignetting_gain(cal, W, H, crop_factor=1.0)
    t = cal.vignetting.terms
    at_edge = 1.0 / (1.0 + t["k1"] + t["k2"] + t["k3"])
    assert held.min() > 0 and abs(held.max() - at_edge) <= 1e-4 * at_edge
    raw = compose.lensfun_vignetting_gain(cal.vignetting, lensfun_normalization(cal, W, H, crop_factor=1.0))
    assert (raw <= 0).mean() > 0.1  # lensfun's extrapolation blacks out the corners
    ys, xs = np.mgrid[0:H, 0:W]
    inside = _pa_r2(cal, W, H, 1.0, xs, ys) < 1.0
    assert np.abs(held[inside] - raw[inside]).max() <= 1e-5 * raw[inside].max()
    with pytest.warns(UserWarning, match="smaller sensor"):
        half = vignetting_gain(with_vignetting_strength(cal, 0.5), W, H, crop_factor=1.0)
    np.testing.assert_allclose(half, held**0.5, rtol=1e-5)


def test_vignetting_strength_option_and_warning(tmp_path, capsys):
    from l2tech.cli.main import main

    assert main(["correct", "x.jpg", "--vignetting-strength", "3"]) == 2
    assert "0<=x<=2" in capsys.readouterr().err.replace(" ", "")


@needs_exiftool
def test_vignetting_strength_zero_is_no_correction_in_the_record(tmp_path, capsys):
    """``--vignetting-strength 0`` leaves the pixels as ``--no-lens-correction`` does (gain ** 0);
    the JSON and the XMP record said vignetting was corrected. Now: not applied, the reason says
    the option, and the record's Corrections leaves it out."""
    from PIL import Image

    from conftest import l2_json

    src = _small_copy(shared_file(EP3), tmp_path / "P1.jpg")
    rc, doc = l2_json(capsys, "correct", str(src), "--only", "vignetting", "--vignetting-strength", "0",
                      "-o", str(tmp_path / "v0.jpg"))
    v = doc["results"][0]["lens"]["corrections"]["vignetting"]
    assert rc == 0 and v == {"applied": False, "reason": "--vignetting-strength 0"}
    assert _exiftool(tmp_path / "v0.jpg").get("XMP:XMP-l2tech:Corrections", "") == ""
    rc, _ = l2_json(capsys, "correct", str(src), "--no-lens-correction", "-o", str(tmp_path / "none.jpg"))
    a = np.asarray(Image.open(tmp_path / "v0.jpg"), dtype=np.int16)
    b = np.asarray(Image.open(tmp_path / "none.jpg"), dtype=np.int16)
    assert np.array_equal(a, b)


# ---------------------------------------------------------------------------------------------
# right lens (items 8, 9)


def _with_exif(src: Path, dst: Path, values: dict[str, str]) -> Path:
    """``src`` reduced (see _small_copy) with EXIF values rewritten through the exiv2 binding."""
    import exiv2

    _small_copy(src, dst)
    im = exiv2.ImageFactory.open(str(dst))
    im.readMetadata()
    ex = im.exifData()
    for k, v in values.items():
        ex[k] = v
    im.writeMetadata()
    return dst


def test_four_thirds_lens_on_micro_four_thirds_body(tmp_path):
    """An E-P3 with a Four Thirds Zuiko Digital ED 14-42mm on the MMF adapter (maker-note
    LensType 0 1 35, exiv2's name for it): the Four Thirds lens, not the M.Zuiko. Measured
    before: 'Olympus M.Zuiko Digital ED 14-42mm f/3.5-5.6' (4/3 System not compatible with
    Micro 4/3 in the database), and --lens with the exact name gave the same M.Zuiko."""
    from l2tech.io.metadata import read_metadata
    from l2tech.profiles.matching import match_lens

    f = _with_exif(shared_file(EP3), tmp_path / "ep3_43.jpg", {
        "Exif.OlympusEq.LensType": "0 1 35 0 0 0",
        "Exif.OlympusEq.LensModel": "ZUIKO DIGITAL ED 14-42mm F3.5-5.6"})
    meta = read_metadata(f)
    assert meta.lens_id == "Olympus Zuiko Digital ED 14-42mm F3.5-5.6"
    m = match_lens(meta)
    assert m.lens.name == "Olympus Zuiko Digital ED 14-42mm f/3.5-5.6" and "4/3 System" in m.lens.mounts
    m = match_lens(read_metadata(shared_file(EP3)), lens="Olympus Zuiko Digital ED 14-42mm f/3.5-5.6")
    assert m.lens.name == "Olympus Zuiko Digital ED 14-42mm f/3.5-5.6"


def test_entry_set_without_distortion_falls_back(tmp_path):
    """EF 50mm f/1.8 STM on an EOS M6 Mark II (crop 1.613): lensfun has a crop-1.613 set with
    only vignetting and a crop-1.005 set with distortion; the latter is used, and said.
    Measured before: the crop-1.613 set, distortion not corrected."""
    from l2tech.io.metadata import read_metadata
    from l2tech.pipeline.lens_plan import plan_lens_correction

    f = _with_exif(shared_file(EP3), tmp_path / "m6.jpg", {
        "Exif.Image.Make": "Canon", "Exif.Image.Model": "Canon EOS M6 Mark II",
        "Exif.Photo.LensModel": "EF50mm f/1.8 STM", "Exif.Photo.FocalLength": "50/1",
        "Exif.Photo.FNumber": "28/10"})
    plan = plan_lens_correction(read_metadata(f), Recipe())
    assert plan.profile.name == "Canon EF 50mm f/1.8 STM" and plan.profile.crop_factor == pytest.approx(1.005)
    assert plan.applied["distortion"]
    assert any("has no distortion data" in w for w in plan.warnings)


def test_words_and_numbers_in_lens_queries():
    from l2tech.errors import LensNotFoundError
    from l2tech.io.metadata import ShotMetadata
    from l2tech.profiles.matching import match_lens, search_lenses

    names = [c.name for c in search_lenses(None, "iphone 12")]
    assert names and not any("12mm" in n for n in names)  # "12" is not a focal length without "mm"
    assert "Apple iPhone XS back camera 4.25mm f/1.8 & compatibles" in names
    with pytest.raises(LensNotFoundError) as exc:
        match_lens(ShotMetadata(path="x", make="Canon", model="Canon EOS 6D"), lens="iPhone")
    cands = [c.name for c in exc.value.candidates]
    assert cands and all(n.startswith("Apple iPhone") for n in cands), cands  # was Beroflex, Chinon, ... (0.50)


def test_profile_source_is_reported(tmp_path):
    """A lens from the user's profile folder is reported as "user", the bundled one as "database"."""
    from l2tech.io.metadata import read_metadata
    from l2tech.pipeline.lens_plan import plan_lens_correction
    from l2tech.profiles.lensfun_xml import load_database

    user = tmp_path / "lensfun"
    user.mkdir()
    (user / "mine.xml").write_text("""<lensdatabase version="2">
 <lens><maker>Olympus</maker><model>Olympus M.Zuiko Digital ED 14-42mm f/3.5-5.6 II R</model>
  <mount>Micro 4/3 System</mount><cropfactor>2</cropfactor>
  <calibration><distortion model="ptlens" focal="15" a="0.01" b="-0.02" c="0.01"/></calibration></lens>
</lensdatabase>""")
    meta = read_metadata(shared_file(EP3))
    plan = plan_lens_correction(meta, Recipe(), db=load_database([user]))
    assert plan.sources["profile"] == "user" and plan.sources["profile_origin"].startswith("user:")
    plan = plan_lens_correction(meta, Recipe())
    assert plan.sources["profile"] == "database"


# ---------------------------------------------------------------------------------------------
# Gyroflow anamorphic stretch (item 13)


def test_gyroflow_input_stretch_is_honoured():
    """A profile calibrated on a 0.75-stretched frame (calib 2880x2160, recorded 3840x2160):
    the matrix's top row and the width are divided by the stretch (Gyroflow's rule, the aspect
    (w / hs) / (h / vs) it matches clips with). The correction map on the recorded frame equals
    OpenCV's initUndistortRectifyMap with that matrix within 0.01 px. Measured before: the
    stretch ignored, the profile refused on the recorded frame ("calibrated at 2880x2160 does
    not fit a 3840x2160 frame")."""
    import cv2

    from l2tech.correct.maps import correction_maps
    from l2tech.profiles.gyroflow import parse_gyroflow
    from l2tech.profiles.interpolate import interpolate

    doc = {"calib_dimension": {"w": 2880, "h": 2160}, "input_horizontal_stretch": 0.75, "distortion_model": "opencv_standard",
           "fisheye_params": {"camera_matrix": [[1500, 0, 1440], [0, 1500, 1080], [0, 0, 1]],
                              "distortion_coeffs": [-0.12, 0.03, 0, 0, 0]}}
    prof = parse_gyroflow(doc, "anamorphic.json")
    t = prof.distortion[0].terms
    assert (prof.extra["calib_width_px"], prof.extra["calib_height_px"]) == (3840, 2160)
    assert (t["fx"], t["fy"], t["cx"], t["cy"]) == (2000.0, 1500.0, 1920.0, 1080.0)
    W, H = 3840, 2160
    cal = interpolate(prof, 1.0, None, None)
    m = correction_maps(cal, W, H, crop_factor=prof.crop_factor, tca=False, scale=1.0).maps
    m = m[0] if isinstance(m, (list, tuple)) else m
    K = np.array([[2000.0, 0, 1920.0], [0, 1500.0, 1080.0], [0, 0, 1]])
    D = np.array([-0.12, 0.03, 0, 0, 0])
    m1, m2 = cv2.initUndistortRectifyMap(K, D, None, K, (W, H), cv2.CV_32FC1)
    err = max(np.abs(m[..., 0] - m1).max(), np.abs(m[..., 1] - m2).max())
    assert err <= 0.01, err


def test_gyroflow_rectilinear_lens_converts_as_rectilinear(tmp_path):
    """Gyroflow fits its Kannala-Brandt model to rectilinear lenses too: the Panasonic S5's
    20-60mm at 20 mm reaches theta_d = 0.962 at the frame corner at theta = 0.777 rad, where a
    rectilinear lens has tan(theta) = 0.983 and a fisheye theta = 0.777: a rectilinear lens, and
    so converted to lensfun (fit residual below 1 px). GoPro's
    Wide mode stays a fisheye. Measured before: both written as <type>fisheye</type>."""
    from l2tech.profiles.convert import to_lensfun
    from l2tech.profiles.gyroflow import read_gyroflow

    s5 = read_gyroflow(shared_file("profiles/gyroflow/Panasonic_DC-S5_20-60mm_f3.5-5.6_20mm_1080p_16by9_1920x1080-50.00fps.json"))
    assert s5.distortion[0].model == "kannala_brandt" and s5.lens_type == "rectilinear"
    lens, report = to_lensfun(s5)
    assert lens.lens_type == "rectilinear" and report.residual_max_px < 1.0
    gopro = read_gyroflow(shared_file("profiles/gyroflow/GoPro_HERO5_Black_Wide_NO-EIS_4by3.json"))
    assert gopro.lens_type == "fisheye"


def test_folding_opencv_profile_names_the_fold_radius():
    """k1 = -0.5: r (1 - 0.5 r^2) stops increasing at r = sqrt(2/3) = 0.81650 (d/dr = 1 - 1.5 r^2),
    816.5 px at fx = 1000. Checked over a range far beyond the fold (a tiny trial scale), the
    message named "radius 0.0 px" (range 2e5) or "radius 1000.0 px" (range 2e4, one coarse
    step) before; now the fold, within 0.1 px, for every range."""
    import re

    from l2tech.errors import InvalidProfileError
    from l2tech.optics.opencv import _check_folding

    for r_max in (1.2, 2e4, 2e5):
        with pytest.raises(InvalidProfileError) as exc:
            _check_folding({"k1": -0.5}, r_max, 1000.0)
        px = float(re.search(r"radius ([0-9.]+) px", str(exc.value)).group(1))
        assert abs(px - 1000.0 * np.sqrt(2.0 / 3.0)) <= 0.1, (r_max, str(exc.value))


# ---------------------------------------------------------------------------------------------
# every file type (item 11)


def test_jpeg_named_nef_is_reported_as_jpeg(tmp_path):
    """A JPEG renamed .nef: "JPEG data in a .nef file", never "RAW truncated". Measured before:
    "unsupported or mismatched format: LibRaw does not recognise this file"."""
    from l2tech.errors import UnsupportedFormatError
    from l2tech.raw.decode import decode_raw

    fake = tmp_path / "DSC_0001.nef"
    shutil.copy(shared_file(EP3), fake)
    with pytest.raises(UnsupportedFormatError, match=r"JPEG data in a \.nef file.*l2 correct"):
        decode_raw(fake)


def test_phase_one_iiq_without_tiff_header_develops_at_its_true_size(tmp_path, capsys):
    """A Phase One raw with no TIFF header (the block at byte 0, which LibRaw reads; built as
    LibRaw ``parse_phase_one`` and ExifTool ``PhaseOne.pm`` read it: tests/_phase_one_build.py).
    Measured before: "unsupported or mismatched format: the first bytes match no supported
    image, RAW, video or LUT format (starts with b'IIIITwaR')" from every command. Now: format
    'iiq', the size and model from the Phase One directory, equal to LibRaw's (the oracle), and
    ``l2 develop`` writes an image of that size."""
    import rawpy
    from PIL import Image

    from _phase_one_build import build_iiq
    from l2tech.cli.main import main
    from l2tech.io.formats import check_input, sniff_format
    from l2tech.io.metadata import read_metadata

    for big_endian in (False, True):
        src = tmp_path / f"P{int(big_endian)}.IIQ"
        src.write_bytes(build_iiq(640, 480, big_endian=big_endian))
        assert sniff_format(src) == "iiq" and check_input(src, "raw") == "iiq"
        with rawpy.imread(str(src)) as raw:
            libraw_size = (raw.sizes.width, raw.sizes.height)
        meta = read_metadata(src)
        assert (meta.width, meta.height) == libraw_size == (640, 480)
        assert (meta.make, meta.model, meta.format) == ("Phase One", "IQ180", "iiq")
        assert any("no EXIF block" in w for w in meta.warnings)
    out = tmp_path / "out"
    assert main(["develop", str(tmp_path / "P0.IIQ"), "-o", str(out) + "/", "--no-sidecar"]) == 0
    with Image.open(out / "P0.jpg") as im:
        assert im.size == (640, 480)


@needs_exiftool
def test_phase_one_iiq_reports_the_raw_size_not_its_preview(tmp_path):
    """An IIQ as Phase One backs write it: a TIFF whose IFD0 holds an 80 x 60 preview, with the
    Phase One block right after the TIFF header (the EXIF MakerNote points at it). exiv2 sees
    only the preview: read as a TIFF it was 80 x 60. ExifTool is the oracle: it names the file
    IIQ and reads ImageWidth x ImageHeight 640 x 480 from the Phase One directory; l2tech now
    agrees."""
    from _phase_one_build import build_iiq
    from l2tech.io.formats import sniff_format
    from l2tech.io.metadata import read_metadata

    src = tmp_path / "CF000123.IIQ"
    src.write_bytes(build_iiq(640, 480, tiff=True, preview=(80, 60)))
    export = tmp_path / "CF000123.tif"  # the same TIFF without the Phase One block: a Capture One export
    data = bytearray(src.read_bytes())
    data[8:16] = b"\0" * 8
    export.write_bytes(bytes(data))
    assert sniff_format(export) == "tiff"
    tool = _exiftool(src)
    assert tool["File:FileType"] == "IIQ"
    assert (tool["MakerNotes:PhaseOne:ImageWidth"], tool["MakerNotes:PhaseOne:ImageHeight"]) == (640, 480)
    assert (tool["EXIF:IFD0:ImageWidth"], tool["EXIF:IFD0:ImageHeight"]) == (80, 60)
    assert sniff_format(src) == "iiq"
    meta = read_metadata(src)
    assert (meta.width, meta.height) == (640, 480)
    assert (meta.make, meta.model, meta.exposure_time_s, meta.f_number) == ("Phase One", "IQ180", 1 / 125, 5.6)


def test_capture_one_style_tiff_is_corrected_as_a_tiff(tmp_path, capsys):
    """`l2 correct` on a TIFF with IFD0 Make "Phase One" and no Phase One block (the Capture One
    export of the test above, its 80 x 60 grey preview given a ramp): exit 0, the output is a TIFF,
    sniffed as 'tiff', never 'iiq' (exiftool, the oracle, also says TIFF), and with no lens known
    nothing is corrected: its pixels are the input's as tifffile reads them (max abs 0)."""
    import tifffile

    from _phase_one_build import build_iiq
    from l2tech.cli.main import main
    from l2tech.io.formats import sniff_format

    data = bytearray(build_iiq(640, 480, tiff=True, preview=(80, 60)))
    data[8:16] = b"\0" * 8  # no Phase One block
    ramp = ((np.arange(60)[:, None] * 2 + np.arange(80)[None, :]) % 256).astype(np.uint8)
    data[-ramp.size:] = ramp.tobytes()  # the preview strip is the file's last bytes
    src = tmp_path / "CF000125.tif"
    src.write_bytes(bytes(data))
    assert sniff_format(src) == "tiff"
    assert np.array_equal(tifffile.imread(src), ramp)
    rc = main(["correct", str(src), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["ok"] == 1, doc
    out = tmp_path / "CF000125_l2.tif"
    assert doc["results"][0]["output"] == str(out) and out.is_file()
    assert out.read_bytes()[:4] == b"II*\0"
    assert sniff_format(out) == "tiff"
    with tifffile.TiffFile(out) as tf:
        img = tf.pages[0].asarray()
    assert img.shape[:2] == (60, 80)
    grey = img if img.ndim == 2 else img[..., 1]
    assert int(np.abs(grey.astype(np.int32) - ramp).max()) == 0
    if shutil.which("exiftool"):
        tool = _exiftool(out)
        assert tool["File:FileType"] == "TIFF" and tool["EXIF:IFD0:Make"] == "Phase One"


def test_phase_one_file_libraw_does_not_take_is_a_clear_unsupported_error(tmp_path, capsys):
    """A Phase One file LibRaw refuses (here the TIFF-wrapped build above, which this LibRaw
    does not open) is a one-line "LibRaw does not recognise this file" naming it, exit 1, no
    output; a hostile directory (an entry count of 2**32 - 1, offsets past the end) gives no
    size and no traceback."""
    from _phase_one_build import build_iiq
    from l2tech.cli.main import main
    from l2tech.io.metadata import _phase_one_directory

    import rawpy

    src = tmp_path / "CF000124.IIQ"
    src.write_bytes(build_iiq(640, 480, tiff=True))
    try:
        rawpy.imread(str(src)).close()
        pytest.skip("this LibRaw opens the TIFF-wrapped build: no Phase One file it refuses to test with")
    except rawpy.LibRawFileUnsupportedError:
        pass
    out = tmp_path / "out"
    assert main(["develop", str(src), "-o", str(out) + "/", "--no-sidecar"]) == 1
    err = capsys.readouterr().err
    assert f"{src}: unsupported or mismatched format: LibRaw does not recognise" in err
    assert not out.exists() or not any(out.glob("*.jpg"))
    bad = tmp_path / "bad.iiq"
    bad.write_bytes(build_iiq(64, 48, entry_count=0xFFFFFFFF))
    assert _phase_one_directory(bad) == (None, None)
    bad.write_bytes(build_iiq(64, 48)[:40])
    assert _phase_one_directory(bad) == (None, None)


# ---------------------------------------------------------------------------------------------
# fisheye on a larger sensor (item 6)


def test_dx_fisheye_on_fx_defished_auto_scales_inside_its_image_circle():
    """Nikon DX 10.5 mm fisheye (profiled at crop 1.523) on a D800 frame (crop 1) de-fished to
    rectilinear: the corners of the rectilinear view never reach the frame edge (180° diagonal)
    and the lens lights only a circle of R = half-diagonal / 1.523. Auto-scale now finds the
    smallest zoom that keeps every output pixel inside the frame and the circle (0.1 % margin);
    1 % less zoom leaves pixels outside. Measured before: "never reaches the frame edge in
    direction 0°". The identity warp auto-scales to exactly 1 (before: 1.001)."""
    from l2tech.correct.maps import correction_warp
    from l2tech.optics import compose
    from l2tech.profiles.interpolate import interpolate
    from l2tech.profiles.matching import default_database

    lens = next(p for p in default_database().lenses
                if p.name == "Nikon AF DX Fisheye-Nikkor 10.5mm f/2.8G ED" and p.crop_factor > 1.5)
    W, H = 736, 490
    cal = interpolate(lens, 10.5, 2.8, 1000.0)
    with pytest.warns(UserWarning, match="smaller sensor"):
        warp = correction_warp(cal, W, H, crop_factor=1.0, projection="rectilinear", tca=False)
    cx, cy, R = warp.extra["image_circle_px"]
    assert R == pytest.approx(np.hypot(W - 1, H - 1) / 2 / lens.crop_factor)
    scale = compose.auto_scale(warp)

    def outside(s: float) -> int:
        m = compose.render_maps(warp, s)[0].astype(np.float64)
        out = (m[..., 0] < -1e-3) | (m[..., 0] > W - 1 + 1e-3) | (m[..., 1] < -1e-3) | (m[..., 1] > H - 1 + 1e-3)
        out |= np.hypot(m[..., 0] - cx, m[..., 1] - cy) > R + 1e-3
        return int(out.sum())

    assert outside(scale) == 0
    assert outside(scale * 0.99) > 0
    ident = correction_warp(cal, W, H, crop_factor=lens.crop_factor, distortion=False, tca=False)
    assert compose.auto_scale(ident) == 1.0


# ---------------------------------------------------------------------------------------------
# crop modes (item 4)


def test_crop_mode_is_planned_at_its_crop(tmp_path):
    """An EOS R6 (full frame, lensfun crop 1) shooting in its 1.6x crop mode: the file's
    FocalLengthIn35mmFilm (80 for 50 mm) says crop 1.6; the plan uses 1.6, with a warning.
    Measured before: crop 1 (the body's), so the corners were corrected as if 1.6x farther out."""
    from l2tech.io.metadata import read_metadata
    from l2tech.pipeline.lens_plan import plan_lens_correction

    f = _with_exif(shared_file(EP3), tmp_path / "r6crop.jpg", {
        "Exif.Image.Make": "Canon", "Exif.Image.Model": "Canon EOS R6",
        "Exif.Photo.LensModel": "RF24-105mm F4 L IS USM", "Exif.Photo.FocalLength": "50/1",
        "Exif.Photo.FocalLengthIn35mmFilm": "80", "Exif.Photo.FNumber": "4/1"})
    meta = read_metadata(f)
    assert meta.crop_factor == pytest.approx(1.6)
    plan = plan_lens_correction(meta, Recipe())
    assert plan.profile.name == "Canon RF 24-105mm F4L IS USM"
    assert plan.crop_factor == pytest.approx(1.6)
    assert any("1.6x crop" in w for w in plan.warnings)


# ---------------------------------------------------------------------------------------------
# DNG opcodes shown (item 10)


@needs_exiftool
def test_info_shows_dng_opcodes(capsys):
    """`l2 info --json` lists a DNG's opcode lists as exiftool names them (exiftool -OpcodeList2:
    "MapPolynomial, MapPolynomial, MapPolynomial" for this DNG). Before: not shown."""
    from l2tech.cli.main import main

    src = shared_file("raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng")
    truth = {}
    for n in (1, 2, 3):
        out = subprocess.run(["exiftool", "-s3", f"-OpcodeList{n}", str(src)], capture_output=True, text=True).stdout.strip()
        truth[f"OpcodeList{n}"] = [x.strip() for x in out.split(",")] if out else []
    assert main(["info", str(src), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["dng_opcodes"] == truth


def test_lens_match_falls_back_to_embedded_profile(capsys):
    """The GoPro Fusion GPR names no lens but carries DNG opcode lens data: `l2 lens match` reports
    that profile and its source (before: NoLensInfoError, exit 1)."""
    from l2tech.cli.main import main

    rc = main(["lens", "match", str(shared_file("raw/codec_unsupported/gopro_fusion_front.gpr")), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0 and doc["method"] == "embedded" and doc["source"] == "embedded (DNG opcodes)"
    assert doc["lens"]["source"].startswith("dng:")


@needs_exiftool
def test_camera_raw_settings_of_a_dng_are_not_carried(tmp_path):
    """The 6D DNG carries 132 Adobe Camera Raw (crs:) settings; a developed JPEG must carry none
    (Lightroom would apply them again on l2tech's render), but keeps the rest of the XMP."""
    from l2tech.cli.main import main

    src = shared_file("raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng")
    assert sum(k.startswith("XMP:XMP-crs:") for k in _exiftool(src)) > 100
    out = tmp_path / "a.jpg"
    assert main(["develop", str(src), "-o", str(out), "-q"]) == 0
    tags = _exiftool(out)
    assert not [k for k in tags if k.startswith(("XMP:XMP-crs:", "XMP:XMP-crss:"))]
    assert tags["XMP:XMP-dc:Format"] == "image/jpeg"  # the DNG's "image/dng" updated, not carried as it was
    assert tags["XMP:XMP-l2tech:Tool"] == "l2tech"


# ---------------------------------------------------------------------------------------------
# Panasonic RW2 embedded distortion: direction checked against lensfun (item 13)

LX3 = "raw/metadata_only/panasonic_dmc-lx3__exiftool.rw2"


def _lensfunpy_lx3_map(W: int, H: int, scale: float) -> np.ndarray:
    """lensfunpy's own correction map for the LX3 at 5.1 mm f/4 on its 4:3 frame (crop 4.7)."""
    import lensfunpy

    db = _lensfunpy_db()
    cam = next(c for c in db.find_cameras("Panasonic", "DMC-LX3") if c.variant == "4:3")
    lens = db.find_lenses(cam)[0]
    mod = lensfunpy.Modifier(lens, cam.crop_factor, W, H)
    mod.initialize(5.1, 4.0, 1000.0, scale=scale, pixel_format=np.float64)
    return mod.apply_geometry_distortion()


def test_rw2_embedded_distortion_direction_agrees_with_lensfun():
    """The LX3's DistortionInfo read as RawTherapee reads it (r_out = S r_raw (1 + a r² + b r⁴ +
    c r⁶), r over the half-diagonal: rtengine/lensmetadata.cc) is a barrel correction that agrees
    with lensfunpy's profile of the same lens once both are at the same zoom: measured 0.25 % of
    the half-diagonal (5.7 px of 2280 at full size), tolerance 0.35 %. The corner samples
    0.907x its radius (lensfunpy at scale 1: 0.938). Measured before: 1.12x (the formula read
    the other way round), 6.5 % off lensfun at its best zoom."""
    from l2tech.correct.maps import correction_maps
    from l2tech.profiles.interpolate import interpolate
    from l2tech.profiles.rw2 import read_rw2_distortion, read_rw2_profile

    src = shared_file(LX3)
    d = read_rw2_distortion(src)
    assert d.radius_px == 2280  # the half-diagonal of 3648 x 2736
    prof = read_rw2_profile(src, focal_length_mm=5.1)
    W, H = 456, 342  # the 3648 x 2736 frame at 1/8 size (both profiles are normalised)
    m = correction_maps(interpolate(prof, 5.1, 4.0, 1000.0), W, H, crop_factor=prof.crop_factor, tca=False,
                        scale=1.0).maps
    ours = (m[0] if isinstance(m, (list, tuple)) else m).astype(np.float64)
    C = np.array([W / 2, H / 2])  # DNG convention: the centre of [0, W] x [0, H]
    Rh = np.hypot(W, H) / 2
    xy = np.stack(np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64)), -1)
    r_out = np.hypot(*(xy - C).transpose(2, 0, 1)) / Rh
    r_src = np.hypot(*(ours - C).transpose(2, 0, 1)) / Rh
    # RawTherapee's formula maps the sampled raw radius back to the output radius (fit 1e-4)
    assert np.abs(d.corrected_radius(r_src) - r_out).max() < 2e-4
    assert r_src[0, 0] / r_out[0, 0] == pytest.approx(0.907, abs=0.002)

    def disagreement(scale: float) -> float:
        ref = _lensfunpy_lx3_map(W, H, scale)
        return float(np.hypot(*(ours - ref).transpose(2, 0, 1)).max() / Rh)

    best = min(disagreement(s) for s in np.linspace(1.0, 1.12, 25))
    assert best <= 0.0035, best
    # the reversed reading (as before) is far off at every zoom
    from l2tech.optics.dng import warp_rectilinear_map

    s, a, b, c = d.scale, d.a, d.b, d.c
    rev = warp_rectilinear_map(W, H, [(s, s * a, s * b, s * c, 0.0, 0.0)]).astype(np.float64)
    ref = [_lensfunpy_lx3_map(W, H, sc) for sc in np.linspace(0.8, 1.0, 21)]
    assert min(float(np.hypot(*(rev - r).transpose(2, 0, 1)).max() / Rh) for r in ref) > 0.05


def test_rw2_embedded_used_only_when_it_agrees_with_the_database(tmp_path):
    """The LX3's maker-note correction agrees with lensfun's (0.25 %, limit 1 %): `l2 lens
    match` and `correct`/`develop` use the database's profile (it has the lens's TCA and
    vignetting too) and list the embedded data with the agreement; `--profile-source embedded`
    uses it, saying it agrees. The same file with DistortionInfo word 8 set to 0 (a = 0: the
    data now bends less, 2.9 % off lensfun; written at the tag's offset 600) disagrees, and even
    `--profile-source embedded` gets the database's profile, the reason said. Before: the
    embedded data was chosen first, unchecked (and read backwards)."""
    import struct

    from l2tech.io.metadata import read_metadata
    from l2tech.profiles.sources import choose_profile

    src = shared_file(LX3)
    meta = read_metadata(src)
    ch = choose_profile(meta)
    assert ch.source == "database" and ch.profile.name == "Leica DMC-LX3 & compatibles (Standard)"
    line = next(t for t in ch.tried if t.startswith("embedded"))
    assert "agrees with the database's Leica DMC-LX3" in line and "within 0.25 %" in line
    ch = choose_profile(meta, profile_source="embedded")
    assert ch.source == "embedded" and "agrees with the database's Leica DMC-LX3" in ch.reason
    data = bytearray(src.read_bytes())
    words = list(struct.unpack_from("<16h", data, 600))
    assert words[8] == 4050
    words[8] = 0
    struct.pack_into("<16h", data, 600, *words)
    bad = tmp_path / "P1000001.RW2"
    bad.write_bytes(bytes(data))
    ch = choose_profile(read_metadata(bad), profile_source="embedded")
    assert ch.source == "database" and ch.profile.name == "Leica DMC-LX3 & compatibles (Standard)"
    assert "disagrees with the database's Leica DMC-LX3" in ch.reason and "by 2.9" in ch.reason
    line = next(t for t in ch.tried if t.startswith("embedded"))
    assert "not used" in line


# ---------------------------------------------------------------------------------------------
# one decision for `lens match` and `correct` (item 9)

_RF2X_XML = """<lensdatabase version="2">
 <lens><maker>Olympus</maker><model>Olympus M.Zuiko Digital ED 14-42mm f/3.5-5.6 II R{suffix}</model>
  <mount>Micro 4/3 System</mount><cropfactor>2</cropfactor>
  <calibration><distortion model="ptlens" focal="{focal}" a="{a}" b="-0.02" c="0.01"/></calibration></lens>
</lensdatabase>"""


@pytest.mark.parametrize("entries", [("", " +RF2x"), (" +RF2x",)], ids=["lens-and-variant", "variant-only"])
def test_lens_match_and_correct_take_one_decision(tmp_path, capsys, monkeypatch, request, entries):
    """A user folder holding the E-P3's lens and its "+RF2x" (2x converter) variant, or the
    variant only: the shot names no converter (EXIF 'OLYMPUS M.14-42mm F3.5-5.6 II R' at 15 mm),
    so the variant is never its lens. `l2 lens match` (main line and profile-choice lines) and
    the plan `correct` uses name the same lens with the same source. Measured before, variant
    only: `lens match` chose "user: ... +RF2x (fuzzy, 0.76)" (the user folder matched on its
    own) while `correct` used the bundled plain lens."""
    from l2tech.cli.main import main
    from l2tech.io.metadata import read_metadata
    from l2tech.pipeline.lens_plan import plan_lens_correction

    user = tmp_path / "lenses"
    user.mkdir()
    for i, suffix in enumerate(entries):
        (user / f"l{i}.xml").write_text(_RF2X_XML.format(suffix=suffix, focal=30 if suffix else 15, a=0.02 if suffix else 0.01))
    from l2tech.profiles.matching import default_database

    monkeypatch.setenv("L2TECH_LENS_DIR", str(user))
    default_database.cache_clear()  # loaded once per process: load it with this user folder
    request.addfinalizer(default_database.cache_clear)
    src = shared_file(EP3)
    assert main(["lens", "match", str(src), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    plan = plan_lens_correction(read_metadata(src), Recipe())
    want = "Olympus M.Zuiko Digital ED 14-42mm f/3.5-5.6 II R"
    want_source = "user" if "" in entries else "database"
    assert doc["lens"]["name"] == plan.lens == want
    assert doc["source"] == plan.sources["profile"] == want_source
    assert doc["profile_choice"][0].startswith(f"chosen: {want_source}")
    assert not any("RF2x" in line for line in doc["profile_choice"]), doc["profile_choice"]
    # named with --lens, the variant is what the user asked for, in both
    rf = want + " +RF2x"
    assert main(["lens", "match", str(src), "--lens", rf, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    plan = plan_lens_correction(read_metadata(src), Recipe(lens=rf))
    assert doc["lens"]["name"] == plan.lens == rf


# ---------------------------------------------------------------------------------------------
# Sony / Fujifilm maker-note lens corrections (item 10)

ZVE10 = "raw/metadata_only/sony_zv-e10__e_pz_16-50__file-type.arw"


@needs_exiftool
def test_sony_arw_recorded_correction_is_read_as_exiftool_reads_it():
    """The ZV-E10 ARW (truncated: its raw IFD with tags 0x7032/0x7035/0x7037 is cut off) keeps
    the same arrays in its encrypted SR2SubIFD; decrypted, they equal exiftool's
    (exiftool -SR2SubIFD:DistortionCorrParams etc., which decrypts them itself)."""
    from l2tech.profiles.makernotes import read_sr2_subifd

    src = shared_file(ZVE10)
    sr2 = read_sr2_subifd(src)
    for tag, name in ((0x7982, "DistortionCorrParams"), (0x7980, "ChromaticAberrationCorrParams"),
                      (0x797D, "VignettingCorrParams")):
        truth = subprocess.run(["exiftool", "-n", "-s3", f"-SR2SubIFD:{name}", str(src)], capture_output=True, text=True,
                               check=True).stdout.split()
        assert sr2[tag] == tuple(int(v) for v in truth), name


@functools.lru_cache(maxsize=1)
def _lensfunpy_db():
    import lensfunpy

    return lensfunpy.Database()


def _lensfunpy_map(maker: str, model: str, lens_name: str, W: int, H: int, focal: float, f_number: float,
                   scale: float) -> np.ndarray:
    import lensfunpy

    db = _lensfunpy_db()
    cam = db.find_cameras(maker, model)[0]
    lens = next(l for l in db.find_lenses(cam) if f"{l.maker} {l.model}" == lens_name or l.model == lens_name)
    mod = lensfunpy.Modifier(lens, cam.crop_factor, W, H)
    mod.initialize(focal, f_number, 1000.0, scale=scale, pixel_format=np.float64)
    return mod.apply_geometry_distortion()


def test_sony_recorded_correction_agrees_with_lensfun_and_is_a_profile_source():
    """The ZV-E10's recorded correction (E PZ 16-50mm at 29 mm), read as RawTherapee's
    SonyMetadataLensCorrection reads it, becomes a profile of DNG families whose maps follow
    the splines within 2.5e-4 of the half-diagonal (measured 4.9e-5) and 5e-3 in gain
    (5.7e-4). Its distortion agrees with lensfunpy's profile of the lens on this body at the
    best common zoom: measured 0.14 % of the half-diagonal (4.9 px of 3606), tolerance 0.2 %.
    `choose_profile` lists it as agreeing (the database's profile, with its own TCA and
    vignetting, is used by default) and `--profile-source embedded` uses it with TCA and
    vignetting. Before: Sony maker-note corrections were not read."""
    from l2tech.correct.maps import correction_maps
    from l2tech.io.metadata import read_metadata
    from l2tech.pipeline.lens_plan import plan_lens_correction
    from l2tech.profiles.interpolate import interpolate
    from l2tech.profiles.makernotes import read_makernote_correction
    from l2tech.profiles.sources import choose_profile, read_embedded_profile

    src = shared_file(ZVE10)
    meta = read_metadata(src)
    corr = read_makernote_correction(src)
    prof = read_embedded_profile(src, meta)
    assert prof.source.startswith("sony:") and prof.tca and prof.vignetting
    W, H = 300, 200  # the 6000 x 4000 frame at 1/20 size (normalised profiles)
    cal = interpolate(prof, 29.0, 5.0, 1000.0)
    m = correction_maps(cal, W, H, crop_factor=prof.crop_factor, tca=False, scale=1.0).maps
    ours = (m[0] if isinstance(m, (list, tuple)) else m).astype(np.float64)
    C, Rh = np.array([W / 2, H / 2]), np.hypot(W, H) / 2
    xy = np.stack(np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64)), -1)
    r_out = np.hypot(*(xy - C).transpose(2, 0, 1)) / Rh
    r_src = np.hypot(*(ours - C).transpose(2, 0, 1)) / Rh
    # RawTherapee: r_src = r_out * spline(r_out), knots (i + 0.5)/(n - 1), 1 + d * 2^-14
    assert np.abs(r_src - r_out * corr.factor(r_out)).max() < 2.5e-4
    d = (24, 4, -22, -50, -84, -123, -164, -202, -237, -264, -285)  # exiftool -SR2SubIFD:DistortionCorrParams
    assert corr.factor(np.array([0.05, 1.05])) == pytest.approx([1 + 24 / 16384, 1 - 285 / 16384])
    assert len(corr.knots) == len(d)

    def disagreement(scale: float) -> float:
        ref = _lensfunpy_map("Sony", "ZV-E10", "E PZ 16-50mm f/3.5-5.6 OSS", W, H, 29.0, 5.0, scale)
        return float(np.hypot(*(ours - ref).transpose(2, 0, 1)).max() / Rh)

    best = min(disagreement(s) for s in np.linspace(0.98, 1.02, 21))
    assert best <= 0.002, best
    ch = choose_profile(meta)
    assert ch.source == "database"
    assert any(t.startswith("embedded: sony correction data also in the file (agrees") for t in ch.tried), ch.tried
    plan = plan_lens_correction(meta, Recipe(profile_source="embedded"))
    assert plan.sources["profile"] == "embedded" and plan.profile.source.startswith("sony:")
    assert plan.applied == {"vignetting": True, "tca": True, "distortion": True}


def test_fujifilm_recorded_correction_follows_rawtherapee():
    """Fujifilm's arrays (X-Trans IV/V layout: 9 knots over the source radius, then values;
    Exif.Fujifilm.GeometricDistortionParams etc.), here a hand-made set, since the shared RAF
    (FinePix S5Pro, 2006) carries none: distortion 1 + d/100 maps the source radius r_in to
    r_out = r_in / m, so a corrected pixel at r_out samples r_in (RawTherapee's
    FujiMetadataLensCorrection re-samples the spline over the output radius); vignetting gains
    100 / v at the knots, linear between, over the source radius; the 1.25x crop mode scales the knots."""
    from l2tech.profiles.makernotes import fuji_correction, makernote_profile

    knots = [0.0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1.0]
    dist = [0.0, -0.1, -0.35, -0.7, -1.1, -1.6, -2.1, -2.6, -3.0]  # percent
    car = [0.0, 1e-5, 2e-5, 3e-5, 4e-5, 5e-5, 6e-5, 7e-5, 8e-5]
    cab = [-v for v in car]
    vig = [100.0, 99.0, 97.0, 94.0, 90.0, 85.0, 80.0, 74.0, 68.0]
    corr = fuji_correction([0.0, *knots, *dist], [0.0, *knots, *car, *cab, 0.0], [0.0, *knots, *vig])
    for r_in in (0.3, 0.6, 0.95):
        m = 1 + np.interp(r_in, knots, dist) / 100
        r_out = r_in / m
        assert r_out * corr.factor(r_out) == pytest.approx(r_in, abs=2e-4)
        assert corr.gain(r_in) == pytest.approx(np.interp(r_in, knots, [100 / v for v in vig]), rel=1e-9)
    cropped = fuji_correction([0.0, *knots, *dist], [0.0, *knots, *car, *cab, 0.0], [0.0, *knots, *vig], crop_mode=2)
    assert cropped.gain(0.5 * 1.25) == pytest.approx(corr.gain(0.5), rel=1e-9)
    prof = makernote_profile(corr, focal_length_mm=23.0)
    assert prof.extra["fit_error"] < 2.5e-4 and prof.extra["gain_fit_error"] < 5e-3


# ---------------------------------------------------------------------------------------------
# a JPEG cropped after capture (item 4)


def _ep3_crop(tmp_path: Path, name: str, box: tuple[int, int, int, int], rect: tuple[float, ...] | None) -> Path:
    """The E-P3 JPEG at 1/4 size (1008 x 756, its EXIF kept), cropped to ``box``; with ``rect``
    the crop is recorded as Lightroom does (XMP crs:HasCrop, crs:CropLeft/Top/Right/Bottom),
    written with the exiv2 binding."""
    import exiv2
    from PIL import Image

    quarter = _small_copy(shared_file(EP3), tmp_path / f"{name}_quarter.jpg", factor=4)
    out = tmp_path / f"{name}.jpg"
    with Image.open(quarter) as im:
        im.crop(box).save(out, "JPEG", quality=92)
    s = exiv2.ImageFactory.open(str(quarter))
    s.readMetadata()
    d = exiv2.ImageFactory.open(str(out))
    d.readMetadata()
    d.setExifData(s.exifData())
    if rect is not None:
        xmp = s.xmpData()
        xmp["Xmp.crs.HasCrop"] = "True"
        for k, v in zip(("Left", "Top", "Right", "Bottom"), rect):
            xmp[f"Xmp.crs.Crop{k}"] = f"{v:.6f}"
        xmp["Xmp.crs.CropAngle"] = "0"
        d.setXmpData(xmp)
    d.writeMetadata()
    return out


def test_jpeg_cropped_after_capture_is_corrected_about_the_true_centre(tmp_path):
    """A 504 x 378 crop from (126, 189) of the 1008 x 756 E-P3 frame: with Lightroom's crop
    record (crs:Crop 0.125, 0.25, 0.625, 0.75) the plan moves the lens centre to the captured
    frame's centre, (377.5, 188.5) px, and sets the crop factor to 2 x hypot(1007, 755) /
    hypot(503, 377) = 4.005 (lensfun measures between pixel centres). Its distortion map then
    equals, over the same pixels, the map of the whole frame: l2tech's within 1e-3 px
    (measured 4e-5) and lensfunpy's within 0.25 px (measured 0.14; l2tech's whole-frame map is
    0.21 px from lensfunpy's itself). Without the record the plan warns (cropped or resized,
    no offset) and corrects about the frame's centre: measured 20.5 px off. Before: no warning,
    the crop corrected as a whole frame."""
    from l2tech.correct.maps import correction_maps
    from l2tech.io.metadata import read_metadata
    from l2tech.pipeline.lens_plan import plan_lens_correction
    from l2tech.profiles.interpolate import interpolate

    box, rect = (126, 189, 630, 567), (0.125, 0.25, 0.625, 0.75)
    W, H = 504, 378
    shift = np.array([box[0], box[1]], dtype=np.float64)
    ref = _lensfunpy_map("Olympus Imaging Corp.", "E-P3", "Olympus M.Zuiko Digital ED 14-42mm f/3.5-5.6 II R", 1008, 756,
                         15.0, 3.6, 1.0)[box[1] : box[3], box[0] : box[2]] - shift

    def dist_map(plan, w: int, h: int) -> np.ndarray:
        cal = interpolate(plan.profile, plan.focal_length_mm, plan.f_number, plan.focus_distance_m)
        m = correction_maps(cal, w, h, crop_factor=plan.crop_factor, tca=False, scale=1.0).maps
        return (m[0] if isinstance(m, (list, tuple)) else m).astype(np.float64)

    whole = read_metadata(_small_copy(shared_file(EP3), tmp_path / "whole.jpg", factor=4))
    ours_whole = dist_map(plan_lens_correction(whole, Recipe(force=True)), 1008, 756)[box[1] : box[3], box[0] : box[2]] - shift

    meta = read_metadata(_ep3_crop(tmp_path, "known", box, rect))
    assert meta.crop_rect == pytest.approx(rect) and (meta.width, meta.height) == (W, H)
    plan = plan_lens_correction(meta, Recipe(force=True))
    assert plan.crop_factor == pytest.approx(2 * np.hypot(1007, 755) / np.hypot(503, 377))
    assert any("crop made after capture" in w and "(377.5, 188.5) px" in w for w in plan.warnings), plan.warnings
    crop_map = dist_map(plan, W, H)
    assert np.hypot(*(crop_map - ours_whole).transpose(2, 0, 1)).max() <= 1e-3
    assert np.hypot(*(crop_map - ref).transpose(2, 0, 1)).max() <= 0.25

    meta = read_metadata(_ep3_crop(tmp_path, "unknown", box, None))
    assert meta.crop_rect is None and meta.recorded_size == (4032, 3024)
    plan = plan_lens_correction(meta, Recipe(force=True))
    assert any("smaller than the camera's (4032x3024" in w and "no crop offset" in w for w in plan.warnings), plan.warnings
    err = np.hypot(*(dist_map(plan, W, H) - ours_whole).transpose(2, 0, 1)).max()
    assert err > 1.0, err


# ---------------------------------------------------------------------------------------------
# l2 calibrate on images without EXIF (item 14)


def test_calibrate_without_exif_takes_the_sensor_width(tmp_path, capsys):
    """Bouguet's stereo views (640 x 480, no EXIF, 9x6 inner corners; the six that
    cv2.findChessboardCornersSB finds at once): without a focal length the message names
    --focal-length and --sensor-width (exit 2); with --sensor-width 4.8 the focal length is
    fx * 4.8 / 640 (4.009 mm) and the crop factor 43.27 / 6.0 (the 4.8 x 3.6 mm diagonal).
    fx agrees with OpenCV's own cv2.calibrateCamera on the same views and detector
    (findChessboardCornersSB, flags 0) within 0.2 % (measured 534.60 vs 534.20 px, 0.075 %).
    Before: only --focal-length."""
    import cv2

    from l2tech.cli.main import main

    views = [SHARED_DATA / "calib" / "bouguet_stereo" / f"left0{i}.jpg" for i in (1, 2, 3, 6, 7, 8)]
    if not all(v.is_file() for v in views):
        pytest.skip("shared calibration images (calib/bouguet_stereo) are absent")
    views = [str(v) for v in views]
    out = tmp_path / "lens.xml"
    assert main(["calibrate", "distortion", *views, "--target", "checkerboard:9x6:25mm", "-o", str(out)]) == 2
    assert "--sensor-width" in " ".join(capsys.readouterr().err.split())
    rc = main(["calibrate", "distortion", *views, "--target", "checkerboard:9x6:25mm", "--sensor-width", "4.8",
               "-o", str(out), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 0, doc
    fl = doc["focal_lengths"][0]
    fx = fl["K"][0][0]
    assert fl["focal_length_mm"] == pytest.approx(fx * 4.8 / 640, abs=1e-3)
    assert doc["crop_factor"] == pytest.approx(np.hypot(36, 24) / 6.0)
    assert f'focal="{fl["focal_length_mm"]:g}"' in out.read_text()
    # OpenCV's own calibration of the same views with the same detector
    obj = np.zeros((9 * 6, 3), np.float32)
    obj[:, :2] = np.mgrid[0:9, 0:6].T.reshape(-1, 2) * 25.0
    imgs = []
    for v in views:
        ok, c = cv2.findChessboardCornersSB(cv2.imread(v, cv2.IMREAD_GRAYSCALE), (9, 6), flags=0)
        assert ok
        imgs.append(c)
    _, K, *_ = cv2.calibrateCamera([obj] * len(imgs), imgs, (640, 480), None, None)
    assert fx == pytest.approx(K[0, 0], rel=0.002), (fx, K[0, 0])


# ---------------------------------------------------------------------------------------------
# DNG 1.7 with JPEG XL raw data (item 11)


def _jxl_dng_from(src: Path, dst: Path) -> Path:
    """``src``'s CFA and DNG tags rewritten as a DNG 1.7 with lossless JPEG XL tiles (compression
    52546, 256 x 256), as recent Nikon and Apple bodies write it."""
    import tifffile

    layout = {254, 256, 257, 258, 259, 262, 273, 277, 278, 279, 282, 283, 284, 296, 305, 322, 323, 324, 325, 330, 34665}
    with tifffile.TiffFile(src) as tf:
        pg = tf.pages[0]
        cfa = pg.asarray()
        extra = [(t.code, t.dtype, t.count, t.value, True) for t in pg.tags.values() if t.code not in layout]
    extra = [e for e in extra if e[0] not in (50706,)] + [(50706, 1, 4, (1, 7, 0, 0), True)]
    tifffile.imwrite(dst, cfa, photometric=32803, compression="JPEGXL_DNG", compressionargs={"effort": 1, "lossless": True},
                     tile=(256, 256), extratags=extra, subfiletype=0, metadata=None)
    return dst


@pytest.fixture(scope="module")
def kiss_x4_jxl(tmp_path_factory):
    """The Kiss X4 DNG and its JPEG XL rewrite (built once for the tests that read it)."""
    import imagecodecs

    if not imagecodecs.JPEGXL.available:
        pytest.skip("imagecodecs has no JPEG XL codec")
    src = shared_file("raw/decodable/canon_kiss_x4__colorchecker.dng")
    return src, _jxl_dng_from(src, tmp_path_factory.mktemp("jxl") / "kiss_x4_jxl.dng")


def test_jpeg_xl_dng_develops(kiss_x4_jxl):
    """The Kiss X4 DNG's CFA rewritten with lossless JPEG XL tiles (DNG 1.7): tifffile reads it
    back bit-exact; LibRaw alone cannot unpack it ("Unsupported file format"), so l2tech decodes the
    tiles with imagecodecs and gives LibRaw the same DNG uncompressed: the developed image equals
    the original DNG's exactly (max abs 0). Before: "LibRaw cannot read this RAW: it is JPEG XL
    compressed DNG (DNG 1.7) ...", exit 1."""
    import rawpy
    import tifffile

    from l2tech.raw.decode import decode_raw

    src, jxl = kiss_x4_jxl
    with tifffile.TiffFile(jxl) as tf, tifffile.TiffFile(src) as tf0:
        assert tf.pages[0].compression == 52546
        assert np.array_equal(tf.pages[0].asarray(), tf0.pages[0].asarray())
    with rawpy.imread(str(jxl)) as r, pytest.raises(rawpy.LibRawFileUnsupportedError):
        r.raw_image  # LibRaw opens the file but cannot unpack JPEG XL
    a = decode_raw(src, half_size=True, as_uint16=True)
    b = decode_raw(jxl, half_size=True, as_uint16=True)
    assert a.image.shape == b.image.shape and a.image.dtype == b.image.dtype
    assert int(np.abs(a.image.astype(np.int32) - b.image.astype(np.int32)).max()) == 0


def test_l2_develop_jpeg_xl_dng(kiss_x4_jxl, tmp_path, capsys):
    """The command TRUST.md documents, `l2 develop kiss_x4_jxl.dng`, on the built file: exit 0,
    and the written image (16-bit PNG, lossless, no lens correction) equals the original DNG
    developed by the same command pixel for pixel (measured max abs difference 0)."""
    import cv2

    from l2tech.cli.main import main

    src, jxl = kiss_x4_jxl
    outs = {}
    for name, path in (("orig", src), ("jxl", jxl)):
        out = tmp_path / f"{name}.png"
        rc = main(["develop", str(path), "-o", str(out), "--no-lens-correction", "--no-sidecar", "--json"])
        doc = json.loads(capsys.readouterr().out)
        assert rc == 0 and doc["ok"] == 1 and doc["results"][0]["status"] == "ok", doc
        outs[name] = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
        assert outs[name].shape[1::-1] == tuple(doc["results"][0]["size"])
    a, b = outs["orig"], outs["jxl"]
    assert a.dtype == b.dtype == np.uint16 and a.shape == b.shape and a.ndim == 3
    assert a.std() > 1000  # a developed picture, not a flat frame
    assert int(np.abs(a.astype(np.int32) - b.astype(np.int32)).max()) == 0
