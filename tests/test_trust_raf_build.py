"""Fujifilm's recorded lens correction (docs/TRUST.md section 10) on a RAF built from the shared one.

The only RAF of the shared data (FinePix S5Pro, stripped) carries no correction arrays, and
neither exiv2 nor exiftool writes a RAF. So a RAF is built here from a copy of it, as an X-Trans IV
body writes one:

* the RAF header (big-endian; exiftool FujiFilm.pm ``ProcessRAF``, LibRaw ``parse_fuji``): at
  byte 84 the embedded JPEG's offset and length, at 92 the CFA header's (the RAF directory), at
  100 the CFA's; the S5Pro has a second frame at 120 (CFA header) and 128 (CFA); the camera
  name is bytes 28-59;
* the EXIF, with the Fujifilm maker note, is in the embedded JPEG: extracted, rewritten with the
  exiv2 binding (a JPEG is writable) to name an X-T3 with a lens and focal length, and the body's
  ``CropMode`` (maker-note tag 0x104d);
* the correction arrays are not maker-note tags: an X-Trans body records them in the FujiIFD, a
  TIFF at the CFA offset whose IFD0 tag 0xF000 points at a sub-IFD (exiftool's
  ``FujiFilm::IFD`` table: 0xF00B GeometricDistortionParams, 0xF00F ChromaticAberrationParams,
  0xF010 VignettingParams, rational64s; exiv2 reads that TIFF as ``Exif.Fujifilm.*``). Such a
  TIFF is written here (19, 29 and 19 SRATIONALs, the X-Trans IV/V layout: a header value, 9
  knots, then 9 values, or 2 x 9 for CA and a trailing value), with RawImageFullWidth/Height
  6384 x 4182 (an X-T3's) and BitsPerSample 14; no pixel data;
* the new JPEG and the FujiIFD are spliced into the copy (the header's lengths set, the later
  offsets shifted).

exiftool (a separate implementation) is the oracle that the result is a well-formed RAF and
carries the values written; LibRaw (rawpy) finds the raw size in the FujiIFD. Then l2tech's
reader, ``l2 lens match`` and the embedded-profile plan are checked against RawTherapee's
``FujiMetadataLensCorrection`` formulas, computed here: the distortion value ``d`` (percent) at a
source radius ``r_in`` maps it to ``r_out = r_in / (1 + d/100)``, the CA values add ``c`` to that
factor, the vignetting gain is ``100 / v``; linear between knots, a knot (0, no correction) added
when the first is above 0.

What the built files show: the reader reads both layouts as RawTherapee does. The hand-made
arrays (knots 0 .. 1) become a profile source of DNG polynomials. The layout a body records
(first knot 0.354, last past the corner) is no radial polynomial within the limits, so its
profile carries the splines themselves (the radial_table families) and corrects exactly as
RawTherapee's formula (it was refused before, and `l2 lens match` said only that the lens is
not in the database). The listing of data that disagrees with the database's profile said "--profile-source embedded
uses it", which that option then did not do; it now says the database's profile is used.
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

from conftest import l2_json as _l2, shared_file

S5PRO_RAF = "raw/metadata_only/fujifilm_s5pro__exiftool.raf"
#: A Fujifilm X lens that the bundled database does not hold (so the file's own data is used).
LENS_NOT_IN_DB = "XF8mmF3.5 R WR"

exiv2 = pytest.importorskip("exiv2", reason="the exiv2 binding is not installed (it writes the JPEG's EXIF)")
pytestmark = pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool is not installed (the oracle)")

Rat = tuple[int, int]

# The hand-made set of test_trust.py::test_fujifilm_recorded_correction_follows_rawtherapee
# (knots 0 .. 1), in the body's encoding: knots k/8, distortion and CA over 65536, vignetting
# over 2048 (the denominators of an X-Trans IV recording: exiv2's test data for its FujiIFD
# support, PR 1409).
HAND_KNOTS = [(i, 8) for i in range(9)]
HAND_DIST = [0.0, -0.1, -0.35, -0.7, -1.1, -1.6, -2.1, -2.6, -3.0]  # percent
HAND_CAR = [0.0, 1e-5, 2e-5, 3e-5, 4e-5, 5e-5, 6e-5, 7e-5, 8e-5]
HAND_VIG = [100.0, 99.0, 97.0, 94.0, 90.0, 85.0, 80.0, 74.0, 68.0]

# The layout an X-Trans IV body records: knots at 1420 * sqrt(k / 8) / 1420, k = 1..9 (the first
# at 0.354, the last at 1.061, past the corner: the raw frame is larger than the output), a
# non-zero header value the readers skip; values of a wide lens made up here.
REAL_KNOTS = [(round(1420 * math.sqrt(k / 8)), 1420) for k in range(1, 10)]
REAL_DIST = [0.30, 0.55, 0.80, 1.10, 1.45, 1.85, 2.30, 2.75, 3.20]  # percent
REAL_CAR = [3, 1, -1, -4, -7, -10, -13, -16, -18]  # / 65536
REAL_CAB = [-40, -37, -33, -29, -25, -21, -17, -14, -12]  # / 65536
REAL_VIG = [97.0, 94.5, 91.0, 87.5, 83.0, 77.5, 71.5, 65.0, 60.0]


def _q(x: float, den: int) -> Rat:
    return (round(x * den), den)


def hand_arrays() -> tuple[list[Rat], list[Rat], list[Rat]]:
    h = (0, 1)
    d = [h, *HAND_KNOTS, *(_q(v, 65536) for v in HAND_DIST)]
    c = [h, *HAND_KNOTS, *(_q(v, 65536) for v in HAND_CAR), *(_q(-v, 65536) for v in HAND_CAR), h]
    v = [h, *HAND_KNOTS, *(_q(x, 2048) for x in HAND_VIG)]
    return d, c, v


def real_layout_arrays() -> tuple[list[Rat], list[Rat], list[Rat]]:
    h = (416, 1)
    d = [h, *REAL_KNOTS, *(_q(v, 65536) for v in REAL_DIST)]
    c = [h, *REAL_KNOTS, *((n, 65536) for n in REAL_CAR), *((n, 65536) for n in REAL_CAB), h]
    v = [h, *REAL_KNOTS, *(_q(x, 2048) for x in REAL_VIG)]
    return d, c, v


def _floats(a: list[Rat]) -> list[float]:
    return [n / d for n, d in a]


# ---------------------------------------------------------------------------------------------
# building the RAF


def _fuji_ifd(entries: list[tuple[int, int, list]]) -> bytes:
    """A big-endian TIFF whose IFD0 holds only 0xF000 (FujiIFD), pointing at a sub-IFD of
    ``entries`` (tag, TIFF type 4 LONG or 10 SRATIONAL, values); offsets relative to the TIFF."""
    sub = 8 + 2 + 12 + 4
    data_at = sub + 2 + 12 * len(entries) + 4
    out = b"MM" + struct.pack(">HI", 42, 8) + struct.pack(">HHHII", 1, 0xF000, 4, 1, sub) + struct.pack(">I", 0)
    ifd, blob = struct.pack(">H", len(entries)), b""
    for tag, typ, vals in sorted(entries):
        raw = b"".join(struct.pack(">ii", n, d) for n, d in vals) if typ == 10 else struct.pack(f">{len(vals)}I", *vals)
        if len(raw) <= 4:
            ifd += struct.pack(">HHI", tag, typ, len(vals)) + raw.ljust(4, b"\0")
        else:
            ifd += struct.pack(">HHII", tag, typ, len(vals), data_at + len(blob))
            blob += raw
    return out + ifd + struct.pack(">I", 0) + blob


def build_raf(out: Path, arrays: tuple[list[Rat], list[Rat], list[Rat]], *, lens: str = LENS_NOT_IN_DB,
              focal_mm: float = 8.0, focal_35mm: int = 12, crop_mode: int = 0) -> Path:
    """The shared S5Pro RAF rebuilt as an X-T3's with ``lens`` at ``focal_mm`` and the three
    arrays in its FujiIFD (module docs)."""
    data = shared_file(S5PRO_RAF).read_bytes()
    assert data[:16] == b"FUJIFILMCCD-RAW "
    jpos, jlen, h1, h1len, c1, c1len = struct.unpack_from(">6I", data, 84)
    h2, h2len, c2, c2len = struct.unpack_from(">4I", data, 120)
    # the S5Pro's order: header, JPEG, CFA header 1, CFA header 2, CFA 1, CFA 2 (end of file)
    assert jpos + jlen <= h1 < h2 < c1 < c2 and c2 + c2len == len(data)

    jpg = out.with_suffix(".jpg")
    jpg.write_bytes(data[jpos:jpos + jlen])
    im = exiv2.ImageFactory.open(str(jpg))
    im.readMetadata()
    ex = im.exifData()
    for key, value in {
        "Exif.Image.Model": "X-T3",
        "Exif.Image.Software": "Digital Camera X-T3 Ver4.00",
        "Exif.Photo.LensMake": "FUJIFILM",
        "Exif.Photo.LensModel": lens,
        "Exif.Photo.FocalLength": f"{round(focal_mm * 10)}/10",
        "Exif.Photo.FocalLengthIn35mmFilm": str(focal_35mm),
        "Exif.Photo.PixelXDimension": "6240",
        "Exif.Photo.PixelYDimension": "4160",
        "Exif.Fujifilm.MinFocalLength": f"{round(focal_mm * 100)}/100",
        "Exif.Fujifilm.MaxFocalLength": f"{round(focal_mm * 100)}/100",
    }.items():
        ex[key] = value
    ex["Exif.Fujifilm.CropMode"] = crop_mode
    im.writeMetadata()
    new_jpg = jpg.read_bytes()
    jpg.unlink()

    d, c, v = arrays
    fuji = _fuji_ifd([(0xF001, 4, [6384]), (0xF002, 4, [4182]), (0xF003, 4, [14]),
                      (0xF00B, 10, d), (0xF00F, 10, c), (0xF010, 10, v)])
    head = bytearray(data[:jpos])
    head[28:60] = b"X-T3".ljust(32, b"\0")
    pad = (-(jpos + len(new_jpg))) % 4
    n_h1 = jpos + len(new_jpg) + pad
    shift = n_h1 - h1
    n_c1 = c1 + shift  # the FujiIFD replaces the stripped CFA 1 (22 bytes)
    n_c2 = n_c1 + len(fuji)
    struct.pack_into(">6I", head, 84, jpos, len(new_jpg), n_h1, h1len, n_c1, len(fuji))
    struct.pack_into(">4I", head, 120, h2 + shift, h2len, n_c2, c2len)
    out.write_bytes(bytes(head) + new_jpg + b"\0" * pad + data[h1:c1] + fuji + data[c2:])
    return out


# ---------------------------------------------------------------------------------------------
# oracles


def _exiftool(*args: str) -> str:
    return subprocess.run(["exiftool", *args], capture_output=True, text=True, check=True, timeout=60).stdout


def _exiftool_arrays(path: Path) -> dict[str, list[float]]:
    doc = json.loads(_exiftool("-j", "-n", "-FujiIFD:all", str(path)))[0]
    return {k: [float(x) for x in str(doc[k]).split()] for k in
            ("GeometricDistortionParams", "ChromaticAberrationParams", "VignettingParams") if k in doc}


def _check_with_exiftool(path: Path, arrays: tuple[list[Rat], list[Rat], list[Rat]]) -> None:
    """exiftool reads the RAF (no warning, -validate OK), the X-T3 and the lens from the JPEG,
    and the three arrays from the FujiIFD as rational64s of 19, 29, 19 values equal to those written."""
    assert _exiftool("-s3", "-validate", "-warning", "-error", "-a", str(path)).split("\n")[0] == "OK"
    got = _exiftool_arrays(path)
    for name, written in zip(("GeometricDistortionParams", "ChromaticAberrationParams", "VignettingParams"), arrays):
        assert got[name] == pytest.approx(_floats(written), rel=1e-9, abs=1e-12), name
    v3 = _exiftool("-v3", str(path))
    for tag, n in (("0xf00b", 19), ("0xf00f", 29), ("0xf010", 19)):
        assert f"Tag {tag} ({8 * n} bytes, rational64s[{n}])" in v3, tag
    meta = json.loads(_exiftool("-j", "-FileType", "-IFD0:Make", "-IFD0:Model", "-ExifIFD:LensModel",
                                "-FujiIFD:RawImageFullWidth", "-FujiIFD:RawImageFullHeight", str(path)))[0]
    assert (meta["FileType"], meta["Make"], meta["Model"]) == ("RAF", "FUJIFILM", "X-T3")
    assert (meta["RawImageFullWidth"], meta["RawImageFullHeight"]) == (6384, 4182)


def _check_with_libraw(path: Path) -> None:
    """LibRaw opens it (the shared S5Pro RAF it does not) and finds the raw size in the FujiIFD;
    there are no pixels to unpack."""
    try:
        import rawpy
    except ImportError:
        return
    with rawpy.imread(str(path)) as raw:
        assert (raw.sizes.raw_width, raw.sizes.raw_height) == (6384, 4182)


def _rt_source_radius(r_in: float, knots: list[float], dist: list[float]) -> tuple[float, float]:
    """RawTherapee: (r_out, m) of the source radius ``r_in``, with the knot (0, no correction)."""
    k, m = list(knots), [1 + x / 100 for x in dist]
    if k[0] > 0:
        k, m = [0.0, *k], [1.0, *m]
    mm = float(np.interp(r_in, k, m))
    return r_in / mm, mm


def _rt_factor(r_out: np.ndarray, knots: list[float], dist: list[float], ca: list[float] | None = None,
               cropf: float = 1.0) -> np.ndarray:
    """RawTherapee's ``FujiMetadataLensCorrection::setup`` and ``distortionCorrectionFactor``
    (``caCorrectionFactor`` times it with ``ca``): the splines over the source radius are
    sampled at ``r_in = i / (n - 1)``, i = 0..15, and re-knotted at ``r_in / m``; linear between,
    the end values held."""
    k, m = [cropf * x for x in knots], [1 + x / 100 for x in dist]
    cc = list(ca) if ca is not None else [0.0] * len(knots)
    if k[0] > 0:
        k, m, cc = [0.0, *k], [1.0, *m], [0.0, *cc]
    r_in = np.arange(16) / (len(knots) - 1)
    mm = np.interp(r_in, k, m)
    f = np.interp(r_out, r_in / mm, mm)
    return f * np.interp(r_out, r_in / mm, 1 + np.interp(r_in, k, cc)) if ca is not None else f


def _rt_gain(r: float, knots: list[float], vig: list[float]) -> float:
    k, g = list(knots), [100 / x for x in vig]
    if k[0] > 0:
        k, g = [0.0, *k], [1.0, *g]
    return float(np.interp(r, k, g))




def _assert_same_correction(a, b) -> None:
    """Two RadialCorrections equal up to exiv2's ``toFloat`` (float32) of the rationals."""
    for f in ("knots", "distortion", "ca_red", "ca_blue", "vignetting_knots", "vignetting"):
        assert getattr(a, f) == pytest.approx(getattr(b, f), rel=1e-6, abs=1e-9), f


# ---------------------------------------------------------------------------------------------
# tests


def test_built_xt3_raf_recorded_correction_is_a_profile_source(tmp_path, capsys):
    """An X-T3 RAF (XF8mmF3.5 R WR at 8 mm, a lens the database lacks) carrying the hand-made
    arrays in its FujiIFD. exiftool reads them back as written; `read_makernote_correction`
    returns `fuji_correction` of the written values; `l2 lens match built.raf --json` chooses
    the file's own data (method and source "embedded", profile choice "embedded: fuji correction
    data"); `--profile-source embedded` plans all three corrections with it; and the correction,
    and the whole-frame map of the plan, follow RawTherapee's formulas computed here."""
    from l2tech.correct.maps import correction_maps
    from l2tech.io.metadata import read_metadata
    from l2tech.pipeline.lens_plan import plan_lens_correction
    from l2tech.pipeline.recipe import Recipe
    from l2tech.profiles.interpolate import interpolate
    from l2tech.profiles.makernotes import MAX_FIT_ERROR, fuji_correction, read_makernote_correction
    from l2tech.profiles.sources import read_embedded_profile

    arrays = hand_arrays()
    raf = build_raf(tmp_path / "xt3_xf8.raf", arrays)
    _check_with_exiftool(raf, arrays)
    _check_with_libraw(raf)

    # l2tech's reader (exiv2 on the RAF: the JPEG's EXIF, then the FujiIFD)
    corr = read_makernote_correction(raf)
    assert corr is not None and corr.source == f"fuji:{raf}"
    d, c, v = (_floats(a) for a in arrays)
    _assert_same_correction(corr, fuji_correction(d, c, v, crop_mode=0))

    # RawTherapee's formulas, from the written values
    knots, dist, vig = d[1:10], d[10:19], v[10:19]
    car, cab = c[10:19], c[19:28]
    r = np.linspace(0.0, 1.0, 201)
    assert corr.factor(r) == pytest.approx(_rt_factor(r, knots, dist), rel=1e-6)
    assert corr.factor(r, "red") == pytest.approx(_rt_factor(r, knots, dist, car), rel=1e-6)
    assert corr.factor(r, "blue") == pytest.approx(_rt_factor(r, knots, dist, cab), rel=1e-6)
    for r_in in (0.3, 0.6, 0.95):
        r_out, _m = _rt_source_radius(r_in, knots, dist)
        assert r_out * corr.factor(r_out) == pytest.approx(r_in, abs=2e-4)
        assert r_out * corr.factor(r_out, "red") == pytest.approx(r_in * (1 + np.interp(r_in, knots, car)), abs=2e-4)
        assert r_out * corr.factor(r_out, "blue") == pytest.approx(r_in * (1 + np.interp(r_in, knots, cab)), abs=2e-4)
        assert corr.gain(r_in) == pytest.approx(_rt_gain(r_in, knots, vig), rel=1e-6)

    # `l2 lens match`: no database profile for the lens, the file's own correction is used
    rc, doc = _l2(capsys, "lens", "match", str(raf))
    assert rc == 0, doc
    assert doc["method"] == "embedded" and doc["source"] == "embedded (maker notes)"
    assert doc["lens"]["source"] == f"fuji:{raf}" and doc["lens"]["model"] == LENS_NOT_IN_DB
    assert doc["exif"]["model"] == "X-T3" and doc["crop_factor"] == pytest.approx(1.5)
    assert doc["profile_choice"][0].startswith("chosen: embedded (no profile in the user folder or the database")
    assert doc["profile_choice"][-1] == "embedded: fuji correction data"
    assert any(w.startswith(f"lens '{LENS_NOT_IN_DB}' is not in the lens database") for w in doc["warnings"])

    # `l2 correct built.raf --profile-source embedded` plans all three corrections with it
    meta = read_metadata(raf)
    plan = plan_lens_correction(meta, Recipe(profile_source="embedded"))
    assert plan.sources["profile"] == "embedded" and plan.profile.source == f"fuji:{raf}"
    assert plan.applied == {"vignetting": True, "tca": True, "distortion": True}
    prof = read_embedded_profile(raf, meta)
    assert prof.extra["fit_error"] < MAX_FIT_ERROR and prof.extra["gain_fit_error"] < 5e-3

    # the plan's map (6240 x 4160 at 1/20) against r_out = r_in / (1 + d(r_in)/100), inverted here;
    # the DNG centre (W/2, H/2) and half-diagonal, as the Sony ARW test measures (measured 1.2e-4:
    # the polynomial's fit, 1.2e-4; RawTherapee's re-sampled spline is 5e-6 from the formula)
    W, H = 312, 208
    cal = interpolate(plan.profile, plan.focal_length_mm, 8.0, 1000.0)
    m = correction_maps(cal, W, H, crop_factor=plan.crop_factor, tca=False, scale=1.0).maps
    ours = (m[0] if isinstance(m, (list, tuple)) else m).astype(np.float64)
    C, Rh = np.array([W / 2, H / 2]), math.hypot(W, H) / 2
    xy = np.stack(np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64)), -1)
    r_out = np.hypot(*(xy - C).transpose(2, 0, 1)) / Rh
    r_src = np.hypot(*(ours - C).transpose(2, 0, 1)) / Rh
    grid_in = np.linspace(0.0, 1.2, 4801)
    grid_out = np.array([_rt_source_radius(r, knots, dist)[0] for r in grid_in])
    expected = np.interp(r_out, grid_out, grid_in)
    assert np.abs(r_src - expected).max() < MAX_FIT_ERROR


def _xf18_55(tmp_path: Path) -> Path:
    return build_raf(tmp_path / "xt3_xf18-55.raf", hand_arrays(), lens="XF18-55mmF2.8-4 R LM OIS",
                     focal_mm=55.0, focal_35mm=82)


def test_built_xt3_raf_with_a_database_lens_lists_its_recorded_correction(tmp_path):
    """The same arrays with the XF18-55mmF2.8-4 R LM OIS at 55 mm, a lens the database holds:
    the database's profile is chosen and the file's Fujifilm data is listed after it, compared
    with that profile (the hand-made arrays are no measurement of the lens: measured 1.63 % of
    the half-diagonal apart, over the 1 % limit)."""
    from l2tech.io.metadata import read_metadata
    from l2tech.profiles.sources import choose_profile

    meta = read_metadata(_xf18_55(tmp_path))
    ch = choose_profile(meta)
    assert ch.source == "database" and ch.profile.name == "Fujifilm XF18-55mmF2.8-4 R LM OIS"
    line = ch.tried[-1]
    assert line.startswith("embedded: fuji correction data also in the file ("), ch.tried
    assert "the database's Fujifilm XF18-55mmF2.8-4 R LM OIS" in line
    forced = choose_profile(meta, profile_source="embedded")
    if "(disagrees with" in line:  # reverse-engineered data that contradicts the database: not used
        assert forced.source == "database" and forced.tried[0].endswith(": not used")
    else:
        assert forced.source == "embedded" and forced.profile.source.startswith("fuji:")


def test_built_xt3_raf_listing_says_what_profile_source_embedded_does(tmp_path):
    """`l2 lens match` says what `--profile-source embedded` will do with the file's data: data
    that disagrees with the database's profile is not used by it either (the listing said "uses
    it" whatever the verdict)."""
    from l2tech.io.metadata import read_metadata
    from l2tech.profiles.sources import choose_profile

    meta = read_metadata(_xf18_55(tmp_path))
    line = choose_profile(meta).tried[-1]
    assert "(disagrees with" in line  # the case this is about
    assert line.endswith("not used by --profile-source embedded either (the database's profile is)"), line
    forced = choose_profile(meta, profile_source="embedded")
    assert line.endswith("--profile-source embedded uses it") == (forced.source == "embedded"), (line, forced.tried)


def test_built_xt3_raf_real_layout_is_read_as_rawtherapee_reads_it(tmp_path):
    """The layout a body records (knots at sqrt(k/8), 0.354 .. 1.061; non-zero values at the
    first knot; a header value): exiftool reads it as written, l2tech's reader returns
    `fuji_correction` of it (a knot (0, no correction) added, as RawTherapee adds it), with the
    1.25x crop mode (CropMode 2) too, and RawTherapee's formulas hold at the radii checked."""
    from l2tech.profiles.makernotes import fuji_correction, read_makernote_correction

    arrays = real_layout_arrays()
    raf = build_raf(tmp_path / "xt3_real_layout.raf", arrays)
    _check_with_exiftool(raf, arrays)
    corr = read_makernote_correction(raf)
    d, c, v = (_floats(a) for a in arrays)
    _assert_same_correction(corr, fuji_correction(d, c, v, crop_mode=0))
    knots, dist, vig = d[1:10], d[10:19], v[10:19]
    car, cab = c[10:19], c[19:28]
    assert corr.vignetting_knots[0] == 0.0 and corr.vignetting[0] == 1.0
    r = np.linspace(0.0, 1.0, 201)
    assert corr.factor(r) == pytest.approx(_rt_factor(r, knots, dist), rel=1e-6)
    assert corr.factor(r, "red") == pytest.approx(_rt_factor(r, knots, dist, car), rel=1e-6)
    assert corr.factor(r, "blue") == pytest.approx(_rt_factor(r, knots, dist, cab), rel=1e-6)
    for r_in in (0.2, 0.5, 0.8, 0.95):
        r_out, _m = _rt_source_radius(r_in, knots, dist)
        # RawTherapee's re-sampling at r_in = i/8 cuts the corners of this spline (its knots are
        # not on that grid): measured 2.7e-4 at r_in 0.8, so 3e-4 here (2e-4 for the hand-made set)
        assert r_out * corr.factor(r_out) == pytest.approx(r_in, abs=3e-4)
        assert corr.gain(r_in) == pytest.approx(_rt_gain(r_in, knots, vig), rel=1e-6)

    cropped = read_makernote_correction(build_raf(tmp_path / "xt3_crop.raf", arrays, crop_mode=2))
    _assert_same_correction(cropped, fuji_correction(d, c, v, crop_mode=2))
    assert cropped.factor(r) == pytest.approx(_rt_factor(r, knots, dist, cropf=1.25), rel=1e-6)
    for rv in (0.5, 0.9):
        assert cropped.gain(1.25 * rv) == pytest.approx(corr.gain(rv), rel=1e-6)


def test_built_xt3_raf_real_layout_is_a_profile_source(tmp_path, capsys):
    """The body's layout as a profile source. No DNG polynomial follows it within the limits (a
    straight ramp from the added knot (0, 1) to 0.354, and a slope change at r_out 0.97 where the
    re-sampled spline meets the value held past the last knot: fitted within 8.7e-4 of the
    half-diagonal, MAX_FIT_ERROR 2.5e-4, and the gain within 6.3e-3, MAX_GAIN_ERROR 5e-3), so the
    embedded profile carries the splines themselves (radial_table, radial_table_vignette; it was
    refused before). `l2 lens match built.raf --json` uses it (the lens is not in the database:
    method embedded); `--profile-source embedded` plans all three corrections with it; the plan's
    maps equal RawTherapee's piecewise-linear formula r_src = r_out * factor(r_out), computed here
    from the written values, within 1e-4 of the half-diagonal for the green, red and blue planes
    (measured 9e-8: the float32 maps), and its gain field the table's gain within 1e-4 (measured
    6e-8)."""
    from l2tech.correct.maps import correction_maps, vignetting_gain
    from l2tech.io.metadata import read_metadata
    from l2tech.pipeline.lens_plan import plan_lens_correction
    from l2tech.pipeline.recipe import Recipe
    from l2tech.profiles.interpolate import interpolate
    from l2tech.profiles.makernotes import MAX_FIT_ERROR, MAX_GAIN_ERROR
    from l2tech.profiles.sources import read_embedded_profile

    arrays = real_layout_arrays()
    raf = build_raf(tmp_path / "xt3_real_layout.raf", arrays)
    meta = read_metadata(raf)
    prof = read_embedded_profile(raf, meta)
    assert prof is not None and prof.source == f"fuji:{raf}"
    assert [c.model for c in (*prof.distortion, *prof.tca, *prof.vignetting)] == \
        ["radial_table", "radial_table", "radial_table_vignette"]
    assert prof.extra["representation"] == "radial_table"
    assert prof.extra["fit_error"] == pytest.approx(8.7e-4, abs=0.1e-4) and prof.extra["fit_error"] > MAX_FIT_ERROR
    assert prof.extra["gain_fit_error"] == pytest.approx(6.3e-3, abs=0.1e-3) and prof.extra["gain_fit_error"] > MAX_GAIN_ERROR

    rc, doc = _l2(capsys, "lens", "match", str(raf))
    assert rc == 0, doc
    assert doc["method"] == "embedded" and doc["source"] == "embedded (maker notes)"
    assert doc["lens"]["source"] == f"fuji:{raf}" and doc["lens"]["model"] == LENS_NOT_IN_DB
    assert doc["profile_choice"][-1] == "embedded: fuji correction data"

    plan = plan_lens_correction(meta, Recipe(profile_source="embedded"))
    assert plan.sources["profile"] == "embedded" and plan.profile.source == f"fuji:{raf}"
    assert plan.applied == {"vignetting": True, "tca": True, "distortion": True}

    d, c, v = (_floats(a) for a in arrays)
    knots, dist, vig = d[1:10], d[10:19], v[10:19]
    car, cab = c[10:19], c[19:28]
    W, H = 312, 208  # the 6240 x 4160 frame at 1/20
    cal = interpolate(plan.profile, plan.focal_length_mm, 8.0, 1000.0)
    C, Rh = np.array([W / 2, H / 2]), math.hypot(W, H) / 2
    xy = np.stack(np.meshgrid(np.arange(W, dtype=np.float64), np.arange(H, dtype=np.float64)), -1)
    r_out = np.hypot(*(xy - C).transpose(2, 0, 1)) / Rh
    assert r_out.max() == pytest.approx(1.0, abs=1e-9)

    def r_src(m: np.ndarray) -> np.ndarray:
        return np.hypot(*(m.astype(np.float64) - C).transpose(2, 0, 1)) / Rh

    green = correction_maps(cal, W, H, crop_factor=plan.crop_factor, tca=False, scale=1.0).maps
    assert len(green) == 1
    assert np.abs(r_src(green[0]) - r_out * _rt_factor(r_out, knots, dist)).max() < 1e-4
    rgb = correction_maps(cal, W, H, crop_factor=plan.crop_factor, tca=True, scale=1.0).maps
    assert len(rgb) == 3
    for m, ca in zip(rgb, (car, None, cab)):
        assert np.abs(r_src(m) - r_out * _rt_factor(r_out, knots, dist, ca)).max() < 1e-4
    # the red and blue planes do differ from green (so the TCA tables are applied)
    assert np.abs(r_src(rgb[0]) - r_src(rgb[1])).max() > 1e-4
    # direction kept: each source point lies on the ray of its output pixel
    dx, dy = (xy - C).transpose(2, 0, 1)
    sx, sy = (green[0].astype(np.float64) - C).transpose(2, 0, 1)
    assert np.abs(dx * sy - dy * sx).max() / Rh**2 < 1e-5

    gain = vignetting_gain(cal, W, H, crop_factor=plan.crop_factor).astype(np.float64)
    expected = np.vectorize(lambda r: _rt_gain(r, knots, vig))(r_out)
    assert np.abs(gain - expected).max() < 1e-4
