"""LUT file formats: shared files load (checked against colour-science's readers), round trips,
and RELIABILITY.md cases 11-13."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import shared_file
from l2tech.color._colour import colour_module, quiet
from l2tech.color.lut import LUT1D, LUT3D, LUTSequence
from l2tech.color.lut_io import LUT_FORMATS, read_lut, write_lut
from l2tech.errors import EmptyFileError, LUTError, UsageError

SHARED = [
    "ocio-tests__iridas_1d.cube",
    "ocio-tests__iridas_3d.cube",
    "ocio-tests__resolve_1d3d.cube",
    "ocio-tests__discreet-3d-lut.3dl",
    "ocio-tests__lustre_33x33x33.3dl",
]


@pytest.mark.parametrize("name", SHARED)
def test_every_shared_file_loads(name):
    lut = read_lut(shared_file(f"luts/cube_3dl/{name}"))
    steps = lut.steps if isinstance(lut, LUTSequence) else (lut,)
    for s in steps:
        assert np.isfinite(s.table).all()


@pytest.mark.parametrize("name", ["ocio-tests__iridas_1d.cube", "ocio-tests__iridas_3d.cube", "ocio-tests__resolve_1d3d.cube"])
def test_cube_matches_colour_reader(name):
    path = shared_file(f"luts/cube_3dl/{name}")
    ours = read_lut(path)
    with quiet():
        c = colour_module()
        theirs = c.io.read_LUT(str(path))
    if isinstance(ours, LUTSequence):
        their_steps = theirs.sequence if hasattr(theirs, "sequence") else list(theirs)
        pairs = list(zip(ours.steps, their_steps))
        assert len(pairs) == 2
    else:
        pairs = [(ours, theirs)]
    for a, b in pairs:
        tb = np.asarray(b.table)
        if tb.ndim == 2 and tb.shape[1] == 3:
            assert np.array_equal(a.table, tb.astype(np.float32))
        else:
            assert np.array_equal(a.table, tb.astype(np.float32))
        dom = np.asarray(b.domain)
        assert np.allclose(a.domain, dom if dom.shape == (2, 3) else np.repeat(dom[:, None], 3, 1))


def test_iridas_3d_values():
    # File says: 2-point cube, red fastest; (r=1,g=0,b=0) node is "2.0 0.0 0.0".
    lut = read_lut(shared_file("luts/cube_3dl/ocio-tests__iridas_3d.cube"))
    assert lut.size == 2
    assert lut.table[1, 0, 0].tolist() == [2.0, 0.0, 0.0]
    assert lut.table[0, 0, 1].tolist() == [0.0, 0.0, 2.0]
    assert lut.domain.tolist() == [[0.0, 1.0, 0.0], [2.0, 2.0, 1.0]]


def test_3dl_values_and_order():
    lut = read_lut(shared_file("luts/cube_3dl/ocio-tests__discreet-3d-lut.3dl"))
    assert lut.size == 17
    # First entry in the file "0 12 13"? The file's first triplet and blue-fastest order:
    text = shared_file("luts/cube_3dl/ocio-tests__discreet-3d-lut.3dl").read_text().split("\n")
    triplets = [ln.split() for ln in text if len(ln.split()) == 3 and ln.split()[0].isdigit()]
    first, second = [int(v) for v in triplets[0]], [int(v) for v in triplets[1]]
    assert np.allclose(lut.table[0, 0, 0] * 4095, first)
    assert np.allclose(lut.table[0, 0, 1] * 4095, second)  # blue fastest
    lustre = read_lut(shared_file("luts/cube_3dl/ocio-tests__lustre_33x33x33.3dl"))
    assert lustre.size == 33  # "Mesh 5 12": 2**5 + 1 points, 12-bit output
    assert np.allclose(lustre.table[0, 0, 0] * 4095, [2, 4, 4])


@pytest.mark.parametrize("n", [3, 4, 5])
def test_small_3dl_round_trips(tmp_path, n):
    """A 3-point table's mesh line ("0 512 1023") would read as a table row: it is written with
    the ``Mesh 1 12`` header (2**1 + 1 points) instead and reads back within half a 12-bit code."""
    lut = _random_lut3d(n, seed=n)
    lut = LUT3D(np.clip(lut.table, 0, 1), None)
    path = write_lut(lut, tmp_path / "small.3dl")
    back = read_lut(path)
    assert back.size == n and np.abs(back.table - lut.table).max() <= 0.5 / 4095 + 1e-9
    assert path.read_text().startswith("Mesh 1 12\n") == (n == 3)


def test_2_point_3dl_is_refused_before_writing(tmp_path):
    with pytest.raises(UsageError, match="write .cube"):
        write_lut(LUT3D.identity(2), tmp_path / "two.3dl")
    assert not (tmp_path / "two.3dl").exists()


def _random_lut3d(n=9, seed=0):
    rng = np.random.default_rng(seed)
    return LUT3D(rng.normal(0.5, 0.4, (n, n, n, 3)), np.array([[-0.25, 0.0, 0.1], [1.5, 2.0, 1.1]]), "random", ("made in a test",))


@pytest.mark.parametrize("ext", [".cube", ".spi3d"])
def test_float_formats_round_trip_identical(tmp_path, ext):
    lut = _random_lut3d()
    if ext == ".spi3d":
        lut = LUT3D(lut.table)
    p = write_lut(lut, tmp_path / f"a{ext}")
    back = read_lut(p)
    assert back == lut and np.array_equal(back.table, lut.table) and np.array_equal(back.domain, lut.domain)


def test_cube_1d_and_resolve_sequence_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    l1 = LUT1D(rng.random((1024, 3)), np.array([[-0.5] * 3, [4.0] * 3]))
    assert read_lut(write_lut(l1, tmp_path / "a.cube")) == l1
    assert read_lut(write_lut(l1, tmp_path / "a.spi1d")) == l1
    seq = LUTSequence((l1, LUT3D(rng.random((5, 5, 5, 3)), np.array([[0.0] * 3, [2.0] * 3]))), "seq")
    p = write_lut(seq, tmp_path / "s.cube")
    assert "LUT_1D_INPUT_RANGE" in p.read_text()
    assert read_lut(p) == seq
    with quiet():
        theirs = colour_module().io.read_LUT(str(p))  # colour-science reads our Resolve file
    assert np.allclose(np.asarray(theirs[1].table), seq.steps[1].table)


@pytest.mark.parametrize("ext,bits", [(".3dl", 4095), (".vlt", 4095)])
def test_integer_formats_round_trip(tmp_path, ext, bits):
    rng = np.random.default_rng(2)
    lut = LUT3D(rng.random((17, 17, 17, 3)))
    p = write_lut(lut, tmp_path / f"a{ext}")
    back = read_lut(p)
    assert np.abs(back.table - lut.table).max() <= 0.5 / bits + 1e-7
    # written -> read -> written is byte-identical
    p2 = write_lut(back, tmp_path / f"b{ext}")
    assert p.read_bytes() == p2.read_bytes()


def test_vlt_layout(tmp_path):
    lut = LUT3D.identity(17)
    text = write_lut(lut, tmp_path / "x.vlt").read_text().splitlines()
    assert text[0] == "# panasonic vlt file version 1.0"
    assert text[1] == "LUT_3D_SIZE 17"
    assert len(text) == 2 + 17**3
    assert text[2].split() == ["0", "0", "0"]
    assert text[3].split() == [str(round(4095 / 16)), "0", "0"]  # red fastest


def test_cube_layout_red_fastest_default_domain(tmp_path):
    lut = LUT3D.identity(2)
    text = write_lut(lut, tmp_path / "i.cube").read_text()
    assert "DOMAIN_MIN" not in text and "LUT_3D_SIZE 2" in text
    rows = [ln for ln in text.splitlines() if ln and ln[0].isdigit()]
    assert rows[:2] == ["0 0 0", "1 0 0"]


# --------------------------------------------------------------- RELIABILITY.md cases 11-13

def _write(tmp_path, text, name="bad.cube", mode="w"):
    p = tmp_path / name
    if mode == "wb":
        p.write_bytes(text)
    else:
        p.write_text(text)
    return p


def test_case11_huge_size_refused_before_allocation(tmp_path):
    p = _write(tmp_path, "TITLE \"x\"\nLUT_3D_SIZE 1000000\n0 0 0\n")
    with pytest.raises(LUTError, match=r"bad.cube:2: LUT_3D_SIZE 1000000 is outside the allowed 2-256"):
        read_lut(p)
    p = _write(tmp_path, "LUT_3D_SIZE 1\n0 0 0\n")
    with pytest.raises(LUTError, match=r":1: LUT_3D_SIZE 1 is outside"):
        read_lut(p)
    p = _write(tmp_path, "# panasonic vlt file version 1.0\nLUT_3D_SIZE 300\n", "bad.vlt")
    with pytest.raises(LUTError, match=r"bad.vlt:2:"):
        read_lut(p)
    p = _write(tmp_path, "SPILUT 1.0\n3 3\n999 999 999\n", "bad.spi3d")
    with pytest.raises(LUTError, match=r"bad.spi3d:3:"):
        read_lut(p)


def _cube2(lines_after=""):
    rows = "\n".join(" ".join(str(v) for v in r) for r in LUT3D.identity(2).table.transpose(2, 1, 0, 3).reshape(-1, 3).astype(int))
    return "LUT_3D_SIZE 2\n" + rows + "\n" + lines_after


@pytest.mark.parametrize(
    "text,pattern",
    [
        ("LUT_3D_SIZE 2\n0 0 0\n1 0 0\n", r"bad.cube:3: expected 8 entries, found 2"),
        (_cube2("1 1 1\n"), r"bad.cube:10: extra values: the header declares 8 entries"),
        ("LUT_3D_SIZE 2\n0 0 0 0\n", r"bad.cube:2: expected 3 values \(R G B\), found 4"),
        ("LUT_3D_SIZE 2\n0 nan 0\n", r"bad.cube:2: NaN or infinite"),
        ("LUT_3D_SIZE 2\n0 0 inf\n", r"bad.cube:2: NaN or infinite"),
        ("LUT_3D_SIZE 2\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 1 0 1\n0 0 0\n", r"bad.cube:3: domain minimum .* not below maximum"),
        ("LUT_3D_SIZE 2\n0 x 0\n", r"bad.cube:2: expected numbers"),
        ("0 0 0\n", r"bad.cube:1: table data before LUT_1D_SIZE or LUT_3D_SIZE"),
        ("LUT_3D_SIZE two\n", r"bad.cube:1: LUT_3D_SIZE must be an integer"),
    ],
)
def test_case12_bad_cube_names_file_and_line(tmp_path, text, pattern):
    with pytest.raises(LUTError, match=pattern):
        read_lut(_write(tmp_path, text))


def test_case12_other_formats(tmp_path):
    with pytest.raises(LUTError, match=r"bad.3dl:2: expected 3 integers"):
        read_lut(_write(tmp_path, "0 341 682 1023\n0 0\n", "bad.3dl"))
    with pytest.raises(LUTError, match=r"bad.vlt:3: values must be 0-4095"):
        read_lut(_write(tmp_path, "# panasonic vlt file version 1.0\nLUT_3D_SIZE 2\n0 0 5000\n", "bad.vlt"))
    with pytest.raises(LUTError, match=r"bad.spi1d:2: From minimum 1.0 is not below maximum 0.0"):
        read_lut(_write(tmp_path, "Version 1\nFrom 1 0\nLength 2\n{\n0\n1\n}\n", "bad.spi1d"))


def test_case13_crlf_bom_comments_title_parse(tmp_path):
    body = "\ufeff# made by hand\r\nTITLE \"Hand made\"\r\n\r\n# size next\r\nLUT_3D_SIZE 2\r\n" + "\r\n".join(
        " ".join(str(v) for v in r) + ("  # corner" if i == 0 else "")
        for i, r in enumerate(LUT3D.identity(2).table.transpose(2, 1, 0, 3).reshape(-1, 3).astype(int))
    ) + "\r\n"
    p = tmp_path / "ok.cube"
    p.write_bytes(body.encode("utf-8"))
    lut = read_lut(p)
    assert lut.name == "Hand made"
    assert lut == LUT3D.identity(2)
    assert "made by hand" in lut.comments


def test_case1_empty_file(tmp_path):
    with pytest.raises(EmptyFileError, match="empty.cube: empty file"):
        read_lut(_write(tmp_path, b"", "empty.cube", "wb"))


def test_formats_registry_and_errors(tmp_path):
    assert set(LUT_FORMATS) == {"cube", "3dl", "spi1d", "spi3d", "vlt", "clf"}
    with pytest.raises(UsageError, match="unknown LUT file extension '.xyz'"):
        read_lut(tmp_path / "a.xyz")
    with pytest.raises(UsageError, match="valid names"):
        read_lut(tmp_path / "a.cube", format="nope")
    with pytest.raises(UsageError, match="not supported"):
        write_lut(LUT3D.identity(2), tmp_path / "a.clf")


def test_write_is_atomic_and_keeps_earlier_output(tmp_path):
    p = write_lut(LUT3D.identity(2), tmp_path / "keep.cube")
    before = p.read_bytes()
    with pytest.raises(UsageError):
        write_lut(LUTSequence((LUT3D.identity(2), LUT3D.identity(2))), p)
    assert p.read_bytes() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["keep.cube"]
    from l2tech.errors import OutputError

    with pytest.raises(OutputError, match="folder does not exist"):
        write_lut(LUT3D.identity(2), tmp_path / "missing" / "x.cube")


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None)
@given(st.integers(2, 6), st.integers(0, 2**31 - 1), st.sampled_from([".cube", ".spi3d"]))
def test_round_trip_property(tmp_path_factory, n, seed, ext):
    rng = np.random.default_rng(seed)
    table = (rng.standard_normal((n, n, n, 3)) * 10.0 ** rng.integers(-6, 4)).astype(np.float32)
    lut = LUT3D(table)
    p = write_lut(lut, tmp_path_factory.mktemp("rt") / f"x{ext}")
    assert read_lut(p) == lut
