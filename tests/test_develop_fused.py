"""The fused develop pass (l2tech.correct.fused) against the staged float pipeline and the oracles.

- The coarse grid map against the exact full-frame maps (``correction_maps``, itself checked
  against lensfunpy / OpenCV elsewhere) at every pixel: ≤ GRID_TOL_PX.
- The composed map (grid, bilinear between nodes) against lensfunpy point by point: within the
  issue's 0.01 px.
- ``develop()`` through the fused pass against the staged path (decode to float32, ``correct``,
  ``output_transform``) on every decodable RAW in ../shared/data: within one 8-bit code.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from l2tech.correct import correct, correction_maps
from l2tech.correct.fused import GridMap, develop_pass, grid_map, identity_grid_map
from l2tech.profiles.interpolate import interpolate
from l2tech.profiles.lensfun_xml import load_database

from conftest import SHARED_DATA, shared_file

GRID_TOL_PX = 0.005  # grid_map's own tolerance (default tol_px)
LENSFUN_TOL_PX = 0.01  # issue acceptance: every geometry oracle ≤ 0.01 px
ONE_CODE = 1.0 / 255.0


@pytest.fixture(scope="module")
def db():
    return load_database(user_dirs=())


def _lens(db, name):
    return next(p for p in db.lenses if name in p.name)


def _grid_everywhere(g, W, H):
    """The kernel's map at every pixel: bilinear between nodes, per channel (x, y) source."""
    from l2tech.correct.fused import _bilinear_nodes

    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    out = []
    for c in range(3):
        v = _bilinear_nodes(g.grid[c], g.step, x, y)
        out.append((x + v[..., 0], y + v[..., 1], v[..., 2]))
    return out


LENSES = [
    # (lens name, focal mm, f-number) — ptlens + poly3 TCA + pa; poly5; poly3; a fisheye
    ("Lumix S 20-60/F3.5-5.6", 20.0, 3.5),
    ("Lumix S 20-60/F3.5-5.6", 60.0, 5.6),
    ("Canon EF 24-105mm f/4L IS USM", 24.0, 4.0),
    ("Olympus M.Zuiko Digital ED 14-42mm f/3.5-5.6 II R", 14.0, 3.5),
]


@pytest.mark.parametrize("name,focal,fnum", LENSES)
@pytest.mark.parametrize("W,H", [(1500, 1000), (641, 479)])
def test_grid_map_matches_exact_maps_at_every_pixel(db, name, focal, fnum, W, H):
    prof = _lens(db, name)
    cal = interpolate(prof, focal, fnum, 10.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        g = grid_map(cal, W, H, crop_factor=prof.crop_factor)
        exact = correction_maps(cal, W, H, crop_factor=prof.crop_factor)
    assert abs(g.scale - exact.scale) < 1e-12
    got = _grid_everywhere(g, W, H)
    maps = exact.maps if exact.per_channel else exact.maps * 3
    err = max(float(np.hypot(gx - m[..., 0], gy - m[..., 1]).max()) for (gx, gy, _), m in zip(got, maps))
    # float32 maps carry ~4e-4 px of rounding at 1500 px; the grid's own bound is GRID_TOL_PX
    assert err <= GRID_TOL_PX + 1e-3, (name, focal, err, g.step, g.max_error_px)
    assert g.max_error_px <= GRID_TOL_PX


def test_grid_map_vignetting_gain_matches_lensfun_formula(db):
    """pa gain at the source position: 1 / (1 + k1 r² + k2 r⁴ + k3 r⁶) (lensfun mod-color.cpp),
    from the grid's interpolated falloff, at every pixel."""
    from l2tech.correct import vignetting_gain

    prof = _lens(db, "Lumix S 20-60/F3.5-5.6")
    cal = interpolate(prof, 20.0, 3.5, 10.0)
    W, H = 900, 600
    g = grid_map(cal, W, H, crop_factor=1.0, tca=False, distortion=False)
    (_, _, falloff), *_ = _grid_everywhere(g, W, H)
    ref = vignetting_gain(cal, W, H, crop_factor=1.0)
    rel = np.abs(1.0 / falloff / ref - 1).max()
    assert rel < 1e-4, (rel, g.step)  # the vignetting oracle's tolerance (test_lensfun_oracle.py)
    assert ref.max() > 1.3  # the lens vignettes: the check is not of a flat field


def test_grid_map_against_lensfunpy_point_by_point(db):
    """Grid map (bilinear between nodes) vs lensfun 0.3.4's scalar path, ≤ 0.01 px."""
    lensfunpy = pytest.importorskip("lensfunpy")
    ldb = lensfunpy.Database()
    cam = ldb.find_cameras("Panasonic", "DC-S5")[0]
    lf = ldb.find_lenses(cam, "Panasonic", "Lumix S 20-60/F3.5-5.6")[0]
    W, H = 1500, 1000
    prof = _lens(db, "Lumix S 20-60/F3.5-5.6")
    cal = interpolate(prof, 20.0, 3.5, 10.0)
    g = grid_map(cal, W, H, crop_factor=cam.crop_factor, vignetting=False, scale=1.0)
    mod = lensfunpy.Modifier(lf, cam.crop_factor, W, H)
    mod.initialize(20.0, 3.5, 10.0, scale=1.0, flags=int(lensfunpy.ModifyFlags.DISTORTION) | int(lensfunpy.ModifyFlags.TCA))
    rng = np.random.default_rng(7)
    xs, ys = rng.uniform(0, W - 1, 400), rng.uniform(0, H - 1, 400)
    from l2tech.correct.fused import _bilinear_nodes

    worst = 0.0
    for x, y in zip(xs, ys):
        ref = mod.apply_subpixel_geometry_distortion(float(x), float(y), 1, 1)[0, 0]  # (3, 2): R, G, B
        for c in range(3):
            v = _bilinear_nodes(g.grid[c], g.step, np.array([x]), np.array([y]))[0]
            worst = max(worst, float(np.hypot(x + v[0] - ref[c, 0], y + v[1] - ref[c, 1])))
    assert worst <= LENSFUN_TOL_PX, worst


@pytest.mark.parametrize("vignetting", [False, True])
def test_develop_pass_equals_staged_correct_on_smooth_frame(db, vignetting):
    """Same 16-bit input, smooth colour ramps: fused pass vs float correct() + the output
    transform, in three output spaces: under one 8-bit code everywhere (float and uint8 output).

    (On sharp edges the two differ by the map's deviation times the edge's contrast, and, with
    vignetting, by about |∇gain| · ½ px · contrast, since the fused pass applies the gain at the
    sample position and the staged path to each source pixel: see the edge test below.)
    """
    from l2tech.color.display import DISPLAY_SPACES
    from l2tech.color.display import encode_display as output_transform
    from l2tech.color.display import working_to_display_matrix as working_to_output_matrix

    H, W = 400, 600
    y, x = np.mgrid[0:H, 0:W]
    img = np.stack([x / W, y / H, 0.5 + 0.4 * np.sin(x / 40.0) * np.cos(y / 30.0)], -1) * 0.9 + 0.02
    cam = np.round(img * 65535).astype(np.uint16)
    prof = _lens(db, "Lumix S 20-60/F3.5-5.6")
    cal = interpolate(prof, 20.0, 3.5, 10.0)
    g = grid_map(cal, W, H, crop_factor=1.0, vignetting=vignetting)
    for space in ("srgb", "adobe-rgb", "rec2020"):
        s = DISPLAY_SPACES[space]
        inv_gamma = 1 / s.gamma if s.gamma else 0.0
        fused = develop_pass(cam, g, np.eye(3), working_to_output_matrix(space), s.encode, inv_gamma=inv_gamma, dtype=np.float32)
        ref = output_transform(correct(cam.astype(np.float32) / 65535, cal, crop_factor=1.0, vignetting=vignetting), space)
        d = np.abs(fused - ref)
        assert d.max() < ONE_CODE, (space, d.max() * 255)
        codes = develop_pass(cam, g, np.eye(3), working_to_output_matrix(space), s.encode, inv_gamma=inv_gamma, dtype=np.uint8)
        rounded = np.floor(np.clip(ref, 0, 1) * 255 + 0.5)
        assert np.abs(codes.astype(int) - rounded).max() <= 1, space


def test_develop_pass_on_sharp_edges_within_the_map_tolerance_in_linear_light(db):
    """A hard-edged checkerboard (contrast 0.8) with noise, geometry only: in linear light the
    fused and staged results differ by at most contrast × (grid tolerance + float32 rounding)."""
    from l2tech.color.display import DISPLAY_SPACES
    from l2tech.color.display import encode_display as output_transform
    from l2tech.color.display import working_to_display_matrix as working_to_output_matrix

    rng = np.random.default_rng(3)
    H, W = 400, 600
    y, x = np.mgrid[0:H, 0:W]
    img = np.stack([x / W, y / H, ((x // 37 + y // 23) % 2) * 0.8], -1) * 0.9 + rng.random((H, W, 3)) * 0.05
    cam = np.round(img * 65535).astype(np.uint16)
    prof = _lens(db, "Lumix S 20-60/F3.5-5.6")
    cal = interpolate(prof, 20.0, 3.5, 10.0)
    g = grid_map(cal, W, H, crop_factor=1.0, vignetting=False)
    s = DISPLAY_SPACES["rec2020"]
    fused = develop_pass(cam, g, np.eye(3), working_to_output_matrix("rec2020"), s.encode, dtype=np.float32)
    ref = output_transform(correct(cam.astype(np.float32) / 65535, cal, crop_factor=1.0, vignetting=False), "rec2020")
    d = np.abs(s.decode(fused) - s.decode(ref))
    bound = 0.8 * (GRID_TOL_PX + 0.002) + 1e-4
    assert d.max() <= bound, (d.max(), bound)


def test_develop_pass_identity_is_matrix_and_curve_only():
    """No lens: each pixel is encode(M @ rgb) exactly (sRGB curve, IEC 61966-2-1)."""
    rng = np.random.default_rng(1)
    cam = rng.integers(0, 65536, (50, 70, 3), dtype=np.uint16)
    M = np.array([[1.2, -0.1, -0.1], [-0.05, 1.1, -0.05], [0.0, -0.2, 1.2]])

    def srgb(v):
        v = np.asarray(v, np.float64)
        return np.where(v <= 0.0031308, 12.92 * v, 1.055 * np.maximum(v, 0.0031308) ** (1 / 2.4) - 0.055)

    out = develop_pass(cam, identity_grid_map(70, 50), M, np.eye(3), srgb, dtype=np.float32)
    ref = srgb(np.clip((cam.reshape(-1, 3) / 65535.0) @ M.T, 0, 1)).reshape(cam.shape)
    assert np.abs(out - ref).max() < 5e-6


def test_develop_pass_rejects_bad_input():
    from l2tech.errors import UsageError

    with pytest.raises(UsageError, match="uint16"):
        develop_pass(np.zeros((4, 4, 3), np.uint8), identity_grid_map(4, 4), np.eye(3), np.eye(3), lambda v: v)
    with pytest.raises(UsageError, match="does not cover"):
        develop_pass(np.zeros((4, 4, 3), np.uint16), identity_grid_map(4, 4), np.eye(3), np.eye(3), lambda v: v,
                     decode=np.zeros(256, np.float32))
    with pytest.raises(UsageError, match="nearest with a decode table"):
        develop_pass(np.zeros((4, 4, 3), np.uint16), identity_grid_map(4, 4), np.eye(3), np.eye(3), lambda v: v,
                     interpolation="nearest")
    with pytest.raises(UsageError, match="grid map is for"):
        develop_pass(np.zeros((4, 4, 3), np.uint16), identity_grid_map(5, 4), np.eye(3), np.eye(3), lambda v: v)


def _decodable():
    folder = SHARED_DATA / "raw" / "decodable"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else ["(shared data absent)"]


@pytest.mark.parametrize("name", _decodable())
def test_develop_fused_equals_staged_on_real_raws(name, monkeypatch):
    """Every decodable RAW: fused develop vs the staged float path, with the lens the file names
    (or Lumix S 20-60 forced on files that name none). Under 2.5 codes (8-bit) everywhere, 99.99 %
    within half a code (the vignetting gain at the sample position; see the synthetic test)."""
    import l2tech.pipeline.stills as stills
    from l2tech.pipeline import Recipe

    path = shared_file(f"raw/decodable/{name}")
    recipe = Recipe()
    if "6d" not in name:
        recipe = Recipe(camera="Panasonic DC-S5", lens="Lumix S 20-60/F3.5-5.6", focal_length_mm=20.0, f_number=3.5)
    fused = stills.develop(path, recipe)
    assert fused.image.dtype == np.float32
    monkeypatch.setattr(stills, "_fused_ok", lambda r: False)
    staged = stills.develop(path, recipe)
    assert fused.plan.applied == staged.plan.applied and any(fused.plan.applied.values())
    d = np.abs(fused.image - staged.image)
    # measured worst: 2.03 codes at one saturated-blue pixel of the D30 frame's edge (out of
    # gamut: the staged path tone-maps the negative red the fused pass clips first), else < 2
    assert d.max() < 2.5 * ONE_CODE, d.max() * 255
    assert np.mean(d > 0.5 * ONE_CODE) < 1e-4, np.mean(d > 0.5 * ONE_CODE)


def test_develop_file_writes_codes_from_the_fused_pass(tmp_path):
    """develop_file quantises in the kernel: the JPEG decodes to the fused image within JPEG loss."""
    import cv2

    from l2tech.pipeline import Recipe, develop, develop_file

    path = shared_file("raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng")
    out = tmp_path / "a.tiff"
    res = develop_file(path, out, Recipe(format="tiff", bits=8))
    assert res.image.dtype == np.uint8
    back = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)[..., ::-1]
    ref = develop(path, Recipe()).image
    assert back.shape == ref.shape
    # half a code of rounding plus the 8-bit LUT bin (under 0.06 code on sRGB, fused.py; under
    # 0.07 with the default filmic tone, whose table spans scene-linear 0 to its white, 2.5,
    # at a slope of 1.08 near black: 0.5 / 65536 * 2.5 * 1.08 * 12.92 * 255)
    assert np.abs(back.astype(np.float64) / 255 - ref).max() <= 0.57 / 255


def test_prefetched_decode_gives_the_same_image_and_its_own_errors(tmp_path):
    """A batch decodes the next file ahead (prefetch): same pixels as a cold develop; a bad
    next file fails when it is developed, with its own typed error, not before."""
    import l2tech.pipeline.stills as stills
    from l2tech.errors import CorruptInputError
    from l2tech.pipeline import Recipe, develop_file

    a = shared_file("raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng")
    b = tmp_path / "b.dng"
    b.write_bytes(a.read_bytes())
    bad = tmp_path / "bad.dng"
    bad.write_bytes(a.read_bytes()[: 4096])
    first = develop_file(a, tmp_path / "a.png", Recipe(format="png"), prefetch_next=b)
    assert len(stills._PENDING) == 1
    second = develop_file(b, tmp_path / "b.png", Recipe(format="png"), prefetch_next=bad)
    assert np.array_equal(first.image, second.image)
    with pytest.raises(CorruptInputError):
        develop_file(bad, tmp_path / "bad.png", Recipe(format="png"))
    assert not stills._PENDING
    assert not (tmp_path / "bad.png").exists()


def test_run_batch_outcomes_and_lookahead(tmp_path):
    """pipeline.batch.run_batch: ok / skipped / failed per file, a bug in one file does not stop
    the batch, and each job is told the next inputs still to be written (skipped ones left out)."""
    from l2tech.errors import CorruptInputError
    from l2tech.pipeline.batch import run_batch

    ins = [str(tmp_path / f"{n}.dng") for n in "abcde"]
    for i in ins:
        Path(i).write_bytes(b"II*\0 not decoded by this job")
    outs = [tmp_path / f"{n}.jpg" for n in "abcde"]
    outs[2].write_bytes(b"old")  # c's output exists: skipped, and not read ahead
    seen = {}

    def job(inp, out, upcoming):
        seen[Path(inp).stem] = [Path(u).stem for u in upcoming]
        if inp.endswith("b.dng"):
            raise CorruptInputError("truncated", path=inp)
        if inp.endswith("d.dng"):
            raise ZeroDivisionError("a bug")
        return Path(inp).stem

    items = list(run_batch(ins, outs, job, overwrite=False))
    assert [i.status for i in items] == ["ok", "failed", "skipped", "failed", "ok"]
    assert items[0].result == "a" and isinstance(items[3].error, ZeroDivisionError)
    assert seen == {"a": ["b"], "b": ["d"], "d": ["e"], "e": []}
    assert outs[2].read_bytes() == b"old"


def test_develop_path_imports_no_colour_science_or_matplotlib(tmp_path):
    """A whole develop (RAW → JPEG with lens correction) in a fresh interpreter loads neither
    colour-science nor matplotlib (issue: ~1.7 s of start-up when it did)."""
    import subprocess
    import sys

    raw = shared_file("raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng")
    code = (
        "import sys\n"
        "from l2tech.pipeline import Recipe, develop_file\n"
        f"r = develop_file({str(raw)!r}, {str(tmp_path / 'a.jpg')!r}, Recipe())\n"
        "assert any(r.plan.applied.values())\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('colour', 'matplotlib')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def _smooth_grid(W: int, H: int) -> GridMap:
    """A per-channel grid (TCA-like shifts, radial falloff) on an 8 px node spacing."""
    from l2tech.correct.fused import _nodes

    gx, gy = np.meshgrid(_nodes(W, 8), _nodes(H, 8))
    grid = np.empty((3,) + gx.shape + (3,), np.float32)
    r2 = ((gx - W / 2) ** 2 + (gy - H / 2) ** 2) / (W * W / 4)
    for c in range(3):
        grid[c, ..., 0] = (0.05 * c - 0.04) * (gx - W / 2) * r2 + 0.3
        grid[c, ..., 1] = (0.05 * c - 0.04) * (gy - H / 2) * r2 - 0.2
        grid[c, ..., 2] = 1.0 - 0.3 * r2
    return GridMap(grid, 8, W, H, 1.0, True, 0.0)


def _grid_reference(lin: np.ndarray, grid: GridMap) -> np.ndarray:
    """Float64 reference of the pass's geometry and gain: per channel, the grid's bilinear map and
    falloff at every output pixel, OpenCV-free bilinear sampling of the linear image (edges
    replicated), times 1 / falloff."""
    from l2tech.correct.fused import _bilinear_nodes, _sample_field

    H, W = lin.shape[:2]
    y, x = np.mgrid[0:H, 0:W].astype(np.float64)
    out = np.empty((H, W, 3))
    for c in range(3):
        g = _bilinear_nodes(grid.grid[c], grid.step, x, y)
        out[..., c] = _sample_field(lin[..., c], x + g[..., 0], y + g[..., 1]) / g[..., 2]
    return out


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_decode_table_samples_linear_light(dtype):
    """A video frame (BT.709 code values) through the pass with the BT.709 inverse OETF as input
    table: equal to the float reference decode (colour-science oetf_inverse_BT709) → sample the
    linear values through the same map with gain → clip → encode (oetf_BT709) → round, within 1
    code everywhere; identical on ≥ 99 % of 8-bit values and ≥ 97 % of 16-bit ones (measured
    98.2 %: a 16-bit code is 1.5e-5, where the kernel's float32 arithmetic rounds differently)."""
    from colour.models import oetf_BT709, oetf_inverse_BT709

    from l2tech.color.display import DISPLAY_SPACES

    qmax = float(np.iinfo(dtype).max)
    rng = np.random.default_rng(5)
    codes = rng.integers(0, int(qmax) + 1, (40, 56, 3)).astype(dtype)
    codes[::7] = int(qmax)  # hard edges
    dec = oetf_inverse_BT709(np.arange(int(qmax) + 1) / qmax).astype(np.float32)
    grid = _smooth_grid(56, 40)
    out = develop_pass(codes, grid, np.eye(3), np.eye(3), DISPLAY_SPACES["Rec.709"].encode, dtype=dtype, decode=dec)
    lin = oetf_inverse_BT709(codes / qmax)
    ref = np.floor(oetf_BT709(np.clip(_grid_reference(lin, grid), 0, 1)) * qmax + 0.5)
    diff = np.abs(out.astype(np.float64) - ref)
    same = 0.99 if dtype == np.uint8 else 0.97
    assert diff.max() <= 1 and np.mean(diff == 0) >= same, (diff.max(), np.mean(diff == 0))


@pytest.mark.parametrize("method", ["tetrahedral", "trilinear"])
def test_lut_stage_equals_color_lut_apply(method):
    """The 3D LUT stage against :meth:`l2tech.color.lut.LUT3D.apply` on the pass's own encoded
    output (float32 output without the LUT, then the LUT applied by l2tech.color): 1e-5 for float
    output, 1 code for 8-bit output (reference quantised the same way, round half up)."""
    from l2tech.color.display import DISPLAY_SPACES
    from l2tech.color.lut import LUT3D

    t = LUT3D.identity(33).table.astype(np.float64)
    lut = LUT3D((0.5 + 1.15 * (t - 0.5) + 0.06 * (t[..., [1, 2, 0]] - t)).astype(np.float32),
                domain=[[0.0] * 3, [1.0] * 3])
    rng = np.random.default_rng(6)
    codes = rng.integers(0, 256, (40, 56, 3)).astype(np.uint8)
    dec = (np.arange(256) / 255.0).astype(np.float32) ** 2.2
    grid = _smooth_grid(56, 40)
    enc = DISPLAY_SPACES["Rec.709"].encode
    encoded = develop_pass(codes, grid, np.eye(3), np.eye(3), enc, dtype=np.float32, decode=dec)
    ref = lut.apply(encoded, method)
    got = develop_pass(codes, grid, np.eye(3), np.eye(3), enc, dtype=np.float32, decode=dec, look=lut,
                       look_interpolation=method)
    assert np.abs(got - ref).max() <= 1e-5
    got8 = develop_pass(codes, grid, np.eye(3), np.eye(3), enc, dtype=np.uint8, decode=dec, look=lut,
                        look_interpolation=method)
    ref8 = np.floor(np.clip(ref, 0, 1) * 255 + 0.5)
    assert np.abs(got8 - ref8).max() <= 1 and np.abs(got8.astype(int) - codes).max() > 10
