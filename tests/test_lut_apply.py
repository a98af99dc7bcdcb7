"""3D/1D LUT application against colour-science's LUT3D.apply / LUT1D.apply."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from l2tech.color._colour import colour_module, quiet
from l2tech.color.lut import LUT1D, LUT3D, LUTSequence, apply_lut
from l2tech.color.transfer import encode
from l2tech.errors import LUTError, UsageError

TOL = 1e-5  # issue 5 acceptance: <= 1e-5 against colour-science with the same interpolation


def _colour_apply(lut: LUT3D, rgb: np.ndarray, method: str) -> np.ndarray:
    with quiet():
        c = colour_module()
        interp = {
            "tetrahedral": c.algebra.table_interpolation_tetrahedral,
            "trilinear": c.algebra.table_interpolation_trilinear,
        }[method]
        return c.LUT3D(lut.table.astype(np.float64), domain=lut.domain).apply(rgb.astype(np.float64), interpolator=interp)


@pytest.mark.parametrize("method", ["tetrahedral", "trilinear"])
@pytest.mark.parametrize("size", [2, 17, 33, 65])
def test_matches_colour_science(method, size):
    rng = np.random.default_rng(size)
    lut = LUT3D(rng.normal(0.5, 0.5, (size, size, size, 3)), np.array([[-0.1, 0.0, 0.05], [1.3, 1.0, 2.0]]))
    rgb = rng.uniform(-0.3, 2.2, (20000, 3)).astype(np.float32)  # includes out-of-domain values
    # exact grid nodes and faces too
    rgb[:1000] = lut.grid().reshape(-1, 3)[rng.integers(0, size**3, 1000)]
    ours = lut.apply(rgb, method)
    ref = _colour_apply(lut, rgb, method)
    assert ours.dtype == np.float32
    assert np.abs(ours - ref).max() <= TOL


def test_shapes_chunks_and_float64():
    rng = np.random.default_rng(7)
    lut = LUT3D(rng.random((9, 9, 9, 3)))
    img = rng.random((3, 37, 41, 3)).astype(np.float32)  # batch of frames
    full = lut.apply(img)
    small = lut.apply(img, chunk_pixels=1000)  # many chunks, same result
    assert full.shape == img.shape and np.array_equal(full, small)
    ref = _colour_apply(lut, img.reshape(-1, 3), "tetrahedral").reshape(img.shape)
    assert np.abs(full - ref).max() <= TOL
    f64 = lut.apply(img.astype(np.float64))
    assert f64.dtype == np.float64 and np.abs(f64 - ref).max() <= 1e-6
    non_contig = img[:, ::2, ::3]
    assert np.array_equal(lut.apply(non_contig), full[:, ::2, ::3])
    assert img.flags.writeable  # input untouched
    assert lut.apply(img[0, 0, 0]).shape == (3,)


def test_nan_propagates_identity_exact():
    ident = LUT3D.identity(17)
    x = np.array([[0.25, 0.5, 0.75], [np.nan, 0.2, 0.3], [1.5, -1.0, 0.5]], dtype=np.float32)
    y = ident.apply(x)
    assert np.allclose(y[0], x[0], atol=1e-7)
    assert np.isnan(y[1]).all()
    assert np.allclose(y[2], [1.0, 0.0, 0.5])  # clamped to the domain


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, (8, 3), elements=st.floats(0.0, 1.0, width=32)))
def test_identity_property(rgb):
    for method in ("tetrahedral", "trilinear"):
        assert np.abs(LUT3D.identity(5).apply(rgb, method) - rgb).max() <= 1e-6


def test_lut1d_matches_colour():
    rng = np.random.default_rng(3)
    table = np.cumsum(rng.random((256, 3)), axis=0) / 100
    lut = LUT1D(table, np.array([[-0.5] * 3, [2.0] * 3]))
    x = rng.uniform(-0.5, 2.0, (1000, 3)).astype(np.float32)
    with quiet():
        c = colour_module()
        ref = c.LUT3x1D(table, domain=lut.domain).apply(x.astype(np.float64))
    assert np.abs(lut.apply(x) - ref).max() <= TOL
    # Outside the domain we clamp to the end entries (as .cube readers do); colour-science
    # extrapolates linearly instead, so that region is checked on its own.
    out = lut.apply(np.array([[-3.0, 5.0, -0.5]], dtype=np.float32))
    assert np.allclose(out, [[table[0, 0], table[-1, 1], table[0, 2]]])


def test_shaper_log_and_sequence():
    # A cube over V-Log input applied to scene-linear data through the V-Log shaper equals
    # the cube applied to V-Log-encoded data.
    rng = np.random.default_rng(4)
    cube = LUT3D(rng.random((17, 17, 17, 3)))
    lin = rng.uniform(0, 8, (1000, 3)).astype(np.float32)
    a = apply_lut(lin, cube, shaper="V-Log")
    b = cube.apply(encode(lin, "V-Log"))
    assert np.array_equal(a, b)
    shaper = LUT1D(encode(np.linspace(0, 8, 4096), "V-Log"), np.array([[0.0] * 3, [8.0] * 3]))
    c = apply_lut(lin, cube, shaper=shaper)
    assert np.abs(c - a).max() < 1e-3  # 4096-entry 1D approximation of the V-Log curve
    seq = LUTSequence((shaper, cube))
    assert np.array_equal(seq.apply(lin), c)
    with pytest.raises(UsageError, match="valid names"):
        apply_lut(lin, cube, shaper="nope")
    with pytest.raises(UsageError, match="interpolation"):
        cube.apply(lin, "cubic")


def test_resample_keeps_smooth_lut():
    lut = LUT3D(np.sqrt(LUT3D.identity(65).table))
    small = lut.resample(33)
    assert small.size == 33
    assert np.allclose(small.table, np.sqrt(LUT3D.identity(33).table), atol=1e-6)  # nodes coincide


def test_bad_tables_refused():
    with pytest.raises(LUTError, match="size must be 2-256"):
        LUT3D(np.zeros((1, 1, 1, 3)))
    with pytest.raises(LUTError, match="NaN or infinite"):
        LUT3D(np.full((2, 2, 2, 3), np.nan))
    with pytest.raises(LUTError, match="min < max"):
        LUT3D(np.zeros((2, 2, 2, 3)), np.array([[1.0] * 3, [0.0] * 3]))
    with pytest.raises(UsageError, match=r"\(\.\.\., 3\)"):
        LUT3D.identity(2).apply(np.zeros((4, 4)))
    t = LUT3D.identity(2)
    with pytest.raises(ValueError):
        t.table[0, 0, 0, 0] = 5  # read-only
