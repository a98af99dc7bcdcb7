"""Side files (LUTs, lens profiles, recipes, sidecars, looks) that are not plain files, hold
absurd numbers or are very large: refused in one line naming the file, never waited on, and
read and written in bounded memory (RELIABILITY.md S1–S4).

Inputs are checked as regular files before any job runs (the first test); side files were
not, and a named pipe given as ``--lut``, ``--profile`` or ``--recipe`` hung the command forever
(``open()`` of a FIFO waits for a writer).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from l2tech.cli.main import main
from l2tech.color import LUT3D
from l2tech.color._io import read_text_lines
from l2tech.color.lut import LUT1D, LUTSequence
from l2tech.color.lut_io import read_cube, read_lut, write_3dl, write_cube, write_spi1d, write_spi3d, write_vlt
from l2tech.errors import L2Error, LUTError, UsageError
from l2tech.io.image import write_image

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo") or not Path("/proc/self/status").exists(),
                                reason="named pipes and /proc (VmHWM) need Linux")


def _within(seconds: float, fn):
    """Run ``fn()`` in a thread; fail (rather than hang the suite) if it has not returned in ``seconds``."""
    box: dict = {}

    def run():
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"still waiting after {seconds} s (blocked on a named pipe?)"
    if "error" in box:
        raise box["error"]
    return box.get("value")


@pytest.fixture
def fifo(tmp_path):
    def make(name: str) -> Path:
        p = tmp_path / name
        os.mkfifo(p)
        return p

    return make


# --------------------------------------------------------------------------- named pipes


def test_input_that_is_a_pipe_is_reported_and_the_rest_processed(fifo, tmp_path, capsys):
    img = tmp_path / "in.png"
    write_image(img, np.full((16, 16, 3), 0.5, np.float32), bits=8)
    pipe = fifo("pipe.jpg")
    rc = _within(60, lambda: main(["correct", str(pipe), str(img), "-o", str(tmp_path / "out"), "--no-lens-correction"]))
    out, err = capsys.readouterr()
    assert rc == 1
    assert "pipe.jpg" in out + err and "not a regular file" in out + err
    assert (tmp_path / "out" / "in.png").exists() and not (tmp_path / "out" / "pipe.jpg").exists()


@pytest.mark.parametrize("name", ["a.dng", "a.cr2", "a.rw2"])
def test_develop_of_one_raw_that_is_a_pipe_is_refused_at_once(fifo, tmp_path, capsys, name):
    """A batch of one RAW starts LibRaw early (while the batch is set up), before the input
    check: on a pipe LibRaw's open waited forever."""
    pipe = fifo(name)
    rc = _within(60, lambda: main(["develop", str(pipe), "-o", str(tmp_path / "x.jpg")]))
    out, err = capsys.readouterr()
    assert rc == 1 and "not a regular file" in out + err
    assert not (tmp_path / "x.jpg").exists()


@pytest.mark.parametrize("name", ["look.cube", "look.3dl", "look.spi3d", "look.vlt", "look.clf"])
def test_lut_fifo_is_refused_at_once(fifo, name):
    p = fifo(name)
    with pytest.raises(LUTError, match="not a regular file") as info:
        _within(20, lambda: read_lut(p))
    assert str(p) in str(info.value)


@pytest.mark.parametrize("name", ["lens.xml", "lens.lcp", "lens.json", "calib.yaml", "lens.dng"])
def test_profile_fifo_is_refused_at_once(fifo, name):
    from l2tech.profiles.sources import read_profiles

    p = fifo(name)
    with pytest.raises(L2Error, match="not a regular file") as info:
        _within(20, lambda: read_profiles(p))
    assert str(p) in str(info.value)


@pytest.mark.parametrize("name", ["recipe.toml", "shot.xmp", "shot.pp3"])
def test_recipe_and_sidecar_fifo_is_refused_at_once(fifo, name):
    from l2tech.pipeline.recipe_file import read_recipe_file
    from l2tech.pipeline.recipe_import import read_darktable_xmp, read_rawtherapee_pp3

    p = fifo(name)
    reader = {".toml": read_recipe_file, ".xmp": read_darktable_xmp, ".pp3": read_rawtherapee_pp3}[p.suffix]
    with pytest.raises(L2Error, match="not a regular file") as info:
        _within(20, lambda: reader(p))
    assert str(p) in str(info.value)


def test_recipe_naming_a_pipe_device_or_folder_is_refused_with_its_line(fifo, tmp_path):
    from l2tech.errors import RecipeError
    from l2tech.pipeline.recipe_file import read_recipe_file

    pipe = fifo("f.cube")
    cases = [("look", "/dev/urandom", "is not a regular file", "look file"),
             ("lut", str(pipe), "is not a regular file", "LUT file"),
             ("profile", str(tmp_path), "is a folder", "lens profile file")]
    for key, value, kind, what in cases:
        r = tmp_path / "r.toml"
        r.write_text(f'# a recipe\nexposure_ev = 0.5\n{key} = "{value}"\n')
        if not Path(value).exists():
            continue
        with pytest.raises(RecipeError, match=rf"r\.toml:3: {key} = .* {kind}.*not a {what}"):
            _within(20, lambda: read_recipe_file(r))
    # a missing file is left to the job (a sidecar may name a file that has moved) and a
    # look's name is not a path
    r.write_text('lut = "missing.cube"\nlook = "mono"\n')
    assert read_recipe_file(r).look == "mono"


def test_look_file_that_is_a_pipe_or_device_says_so(fifo):
    from l2tech.color.looks import load_look

    p = fifo("look.toml")
    with pytest.raises(UsageError, match="not a regular file"):
        _within(20, lambda: load_look(p))
    # a recipe's look = "/dev/urandom" was reported as "look file not found"
    if Path("/dev/urandom").exists():
        with pytest.raises(UsageError, match="/dev/urandom is not a regular file"):
            load_look("/dev/urandom")


def test_cli_commands_refuse_a_fifo_side_file(fifo, tmp_path, capsys):
    """A pipe as the file a command works on, or as the --lut or --profile of a run (found
    before any input): one line, exit 1."""
    img = tmp_path / "in.png"
    write_image(img, np.full((16, 16, 3), 0.5, np.float32), bits=8)
    cube, xml = fifo("f.cube"), fifo("f.xml")
    cases = [
        (["lut", "show", str(cube)], 1),
        (["lut", "apply", str(cube), str(img), "-o", str(tmp_path / "a.png")], 1),
        (["lens", "show-file", str(xml)], 1),
        (["correct", str(img), "-o", str(tmp_path / "c.png"), "--lut", str(cube)], 1),
        (["correct", str(img), "-o", str(tmp_path / "d.png"), "--profile", str(xml)], 1),
    ]
    for args, code in cases:
        rc = _within(60, lambda: main(args))
        err = capsys.readouterr().err
        assert rc == code, (args, err)
        assert "not a regular file" in err, (args, err)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == ["in.png"]  # no output of any refused command


# --------------------------------------------------------------------------- absurd LUT numbers


def _cube(path: Path, rows: list[str], size: int = 2) -> Path:
    path.write_text(f"LUT_3D_SIZE {size}\n" + "\n".join(rows) + "\n")
    return path


def test_lut_value_beyond_float32_names_file_and_line(tmp_path, capsys):
    rows = ["0.1 0.2 0.3"] * 8
    rows[3] = "1e308 0.5 0.5"
    p = _cube(tmp_path / "huge.cube", rows)
    with pytest.raises(LUTError, match=r"huge\.cube:5: value beyond"):
        read_lut(p)
    # the CLI: one line naming the file, no RuntimeWarning from the float32 cast, --json carries it
    assert main(["lut", "show", str(p), "--json"]) == 1
    out, err = capsys.readouterr()
    assert "overflow" not in err and "RuntimeWarning" not in err
    assert err.strip().count("\n") == 0 and "huge.cube:5" in err
    doc = json.loads(out)
    assert doc["error_type"] == "LUTError" and "huge.cube:5" in doc["error"] and doc["path"] == str(p)


def test_writing_an_integer_lut_warns_of_clipped_values(tmp_path, capsys):
    rows = ["0.1 0.2 0.3"] * 8
    rows[3] = "1e5 0.5 0.5"
    src = _cube(tmp_path / "big.cube", rows)
    dst = tmp_path / "big.vlt"
    assert main(["lut", "convert", str(src), "-o", str(dst)]) == 0
    err = capsys.readouterr().err
    assert f"{dst}: 1 of 24 values outside 0-1" in err and "clipped" in err
    assert read_lut(dst).table.max() == 1.0  # what .vlt can hold


# --------------------------------------------------------------------------- large tables


def _reference_cube_rows(path: Path) -> np.ndarray:
    """The table rows of a plain .cube, parsed with one float() per value (the row-by-row reader)."""
    rows = []
    for line in path.read_text().splitlines():
        s = line.split("#", 1)[0].strip()
        if s and not s[0].isalpha():
            rows.append([float(t) for t in s.split()])
    return np.array(rows, dtype=np.float32)


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_fast_table_reader_matches_row_by_row(tmp_path, newline, monkeypatch):
    rng = random.Random(3)
    n = 33
    forms = ["%.9g", "%.6f", "%+.3e", "%.1f", "%g"]
    lines = ["# made for the test", 'TITLE "t"', f"LUT_3D_SIZE {n}"]
    for i in range(n**3):
        vals = [rng.uniform(-2, 70000) if rng.random() < 0.01 else rng.random() for _ in range(3)]
        sep = rng.choice([" ", "  ", "\t", " \t "])
        lines.append(sep.join(rng.choice(forms) % v for v in vals) + rng.choice(["", " ", "\t"]))
        if i in (5, 20000):
            lines.append("")  # blank lines and comments inside the table are allowed
            lines.append("# a comment between rows")
    p = tmp_path / "t.cube"
    p.write_bytes(newline.join(lines).encode() + newline.encode())
    import l2tech.color.lut_io as lut_io

    calls = []
    row_by_row = lut_io._floats
    monkeypatch.setattr(lut_io, "_floats", lambda *a: calls.append(1) or row_by_row(*a))
    got = read_cube(p)
    # the blocks holding a comment go row by row (one 4 MB block each); the rest in blocks
    assert 0 < len(calls) < n**3 / 2
    want = _reference_cube_rows(p).reshape(n, n, n, 3).transpose(2, 1, 0, 3)
    assert np.array_equal(got.table, want)


@pytest.mark.parametrize("bad, message", [
    ("0.1 0.2", "expected 3 values"),
    ("0.1 0.2 0.3 0.4", "expected 3 values"),
    ("0.1 nan 0.3", "NaN or infinite"),
    ("0.1 0x1p3 0.3", "expected numbers"),
    ("0.1 1e39 0.3", "value beyond"),
    ("0.1 3.4e38 0.3", "value beyond"),
    ("0.1 1_0 0.3", "expected numbers"),
    ("LUT_3D_SIZE 2", "keyword LUT_3D_SIZE after the table data"),
])
def test_fast_table_reader_reports_the_row_by_row_error_and_line(tmp_path, bad, message):
    n = 33
    rows = ["0.5 0.25 0.125"] * n**3
    k = 30000  # deep inside a block of the fast path
    rows[k] = bad
    p = _cube(tmp_path / "bad.cube", rows, size=n)
    with pytest.raises(LUTError, match=message) as info:
        read_cube(p)
    assert f"bad.cube:{k + 2}:" in str(info.value)


def test_extra_and_missing_rows_are_counted(tmp_path):
    n = 17
    p = _cube(tmp_path / "extra.cube", ["0 0 0"] * (n**3 + 1), size=n)
    with pytest.raises(LUTError, match=rf"extra\.cube:{n**3 + 2}: extra values"):
        read_cube(p)
    p = _cube(tmp_path / "short.cube", ["0 0 0"] * (n**3 - 1), size=n)
    with pytest.raises(LUTError, match=rf"short\.cube:{n**3}: expected {n**3} entries, found {n**3 - 1}"):
        read_cube(p)


def test_text_lines_are_those_of_splitlines(tmp_path):
    rng = random.Random(0)
    cases = ["a", "a\n", "a\nb", "a\r\nb\r\n", "a\n\n", "a\rb\x0bc\x0cd\x1ce\x85f\u2028g\u2029h\r", "a\r\r\nb"]
    cases += ["Z" + "".join(rng.choice("ab \n\r\x0b\x85\u2028") for _ in range(rng.randint(0, 12))) for _ in range(500)]
    for c in cases:
        p = tmp_path / "t.txt"
        p.write_bytes(c.encode("utf-8"))
        assert list(read_text_lines(p)) == [(i, s.strip()) for i, s in enumerate(c.splitlines(), start=1)], repr(c)


def _old_rows(a, fmt):
    return "\n".join(" ".join(fmt % v for v in row) for row in np.asarray(a).tolist()) + "\n"


def test_block_writers_write_the_same_text_as_row_by_row(tmp_path):
    rng = np.random.default_rng(1)
    t3 = LUT3D(rng.random((9, 9, 9, 3)), None, "t")
    t1 = LUT1D(rng.random((64, 3)), None, "s")
    f = lambda a: _old_rows(np.asarray(a, np.float32).astype(np.float64), "%.9g")  # noqa: E731
    write_cube(t3, tmp_path / "a.cube")
    assert (tmp_path / "a.cube").read_text() == 'TITLE "t"\nLUT_3D_SIZE 9\n\n' + f(t3.table.transpose(2, 1, 0, 3).reshape(-1, 3))
    write_cube(LUTSequence((t1, t3), "seq", ()), tmp_path / "b.cube")
    assert (tmp_path / "b.cube").read_text().endswith(f(t1.table) + f(t3.table.transpose(2, 1, 0, 3).reshape(-1, 3)))
    write_spi1d(t1, tmp_path / "a.spi1d")
    assert (tmp_path / "a.spi1d").read_text().endswith("{\n" + f(t1.table) + "}\n")
    write_vlt(t3, tmp_path / "a.vlt")
    q = np.round(np.clip(t3.table, 0, 1) * 4095).astype(int).transpose(2, 1, 0, 3).reshape(-1, 3)
    assert (tmp_path / "a.vlt").read_text().endswith("LUT_3D_SIZE 9\n" + _old_rows(q, "%d"))
    write_3dl(t3, tmp_path / "a.3dl")
    q = np.round(np.clip(t3.table, 0, 1) * 4095).astype(int).reshape(-1, 3)
    assert (tmp_path / "a.3dl").read_text().split("\n", 1)[1] == _old_rows(q, "%d")
    write_spi3d(t3, tmp_path / "a.spi3d")
    body = (tmp_path / "a.spi3d").read_text().split("\n", 3)[3].splitlines()
    i, j, k = 1, 2, 3
    r, g, b = t3.table[i, j, k].tolist()
    assert body[(i * 9 + j) * 9 + k] == f"{i} {j} {k} {r:.9g} {g:.9g} {b:.9g}"
    assert np.allclose(read_lut(tmp_path / "a.spi3d").table, t3.table, atol=1e-7)


def test_resampling_past_the_memory_budget_is_refused_before_work(tmp_path, capsys):
    src = tmp_path / "id.cube"
    write_cube(LUT3D.identity(17), src)
    out = tmp_path / "o256.cube"
    assert main(["lut", "convert", str(src), "-o", str(out), "--size", "256", "--max-memory", "1G"]) == 1
    err = capsys.readouterr().err
    assert "o256.cube: needs about 1.5 GiB" in err and "budget is 1.0 GiB" in err
    assert main(["lut", "bake", "--look", "mono", "--size", "256", "-o", str(out), "--max-memory", "2G"]) == 1
    assert "budget is 2.0 GiB" in capsys.readouterr().err
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name != "id.cube"]


def test_resampled_lut_peak_stays_under_its_estimate(tmp_path):
    """A 160-point resample (4.1 M points; 8.1 GB at 256 points before the block writer) in a
    child process: its peak resident set (``VmHWM``: ``ru_maxrss`` of a forked child starts at
    its parent's, the test worker's) is under the model's estimate. A first child with a
    small size compiles the resampling kernels into the session's cache (compiling takes
    ~350 MB that the model's per-job figures do not hold; it happens once per install)."""
    from l2tech.pipeline.memory import estimate_lut

    src = tmp_path / "id.cube"
    write_cube(LUT3D.identity(17), src)
    out = tmp_path / "o.cube"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(Path(__file__).parents[1] / "src"), os.environ.get("PYTHONPATH")) if p))
    for size, dst in (("5", tmp_path / "warm.cube"), ("160", out)):
        code = ("import sys\nfrom l2tech.cli.main import main\n"
                f"rc = main(['lut', 'convert', {str(src)!r}, '-o', {str(dst)!r}, '--size', {size!r}])\n"
                "hwm = next(l for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
                "print(int(hwm.split()[1]) * 1024)\nsys.exit(rc)\n")
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600)
    assert res.returncode == 0, res.stderr
    peak = int(res.stdout.strip().splitlines()[-1])
    est = estimate_lut(out, 160).peak_bytes
    assert peak < est, (peak, est)
    assert read_lut(out).size == 160



def test_lut_commands_print_json_on_error_and_carry_warnings(tmp_path, capsys):
    """`lut convert` / `lut apply` with --json printed nothing on stdout on an error, and the
    clipping warning of a .vlt was only on stderr."""
    rows = ["0.1 0.2 0.3"] * 8
    rows[3] = "1e308 0.5 0.5"
    huge = _cube(tmp_path / "huge.cube", rows)
    img = tmp_path / "in.png"
    write_image(img, np.full((16, 16, 3), 0.5, np.float32), bits=8)
    for args in (["lut", "convert", str(huge), "-o", str(tmp_path / "x.cube")],
                 ["lut", "apply", str(huge), str(img), "-o", str(tmp_path / "x.png")]):
        assert main([*args, "--json"]) == 1
        doc = json.loads(capsys.readouterr().out)
        assert doc["error_type"] == "LUTError" and "huge.cube:5" in doc["error"]
        assert doc["path"] == str(huge)  # the file at fault (it was the output of a conversion)
    rows[3] = "1e5 0.5 0.5"
    big = _cube(tmp_path / "big.cube", rows)
    assert main(["lut", "convert", str(big), "-o", str(tmp_path / "b.vlt"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["size"] == 2 and len(doc["warnings"]) == 1 and "values outside 0-1" in doc["warnings"][0]
    assert not (tmp_path / "x.cube").exists() and not (tmp_path / "x.png").exists()


def test_info_and_lens_match_call_a_pipe_a_pipe(fifo, capsys):
    """A pipe has size 0: `l2 info` and `l2 lens match` called it an "empty file (0 bytes)"."""
    for args in (["info"], ["lens", "match"]):
        pipe = fifo(f"p{len(args)}.jpg")
        assert _within(30, lambda: main([*args, str(pipe)])) == 1
        err = capsys.readouterr().err
        assert f"{pipe}: not a regular file" in err and "empty file" not in err, err


def test_import_sidecars_says_a_pipe_sidecar_is_ignored(fifo, tmp_path, capsys):
    img = tmp_path / "i.png"
    write_image(img, np.full((16, 16, 3), 0.5, np.float32), bits=8)
    pipe = fifo("i.png.xmp")
    rc = _within(60, lambda: main(["correct", str(img), "-o", str(tmp_path / "o.png"), "--import-sidecars",
                                   "--no-lens-correction"]))
    err = capsys.readouterr().err
    assert rc == 0 and (tmp_path / "o.png").exists()
    assert f"warning: {pipe}: not a regular file (a pipe, device or socket); sidecar ignored" in err, err


def test_lut_writer_refusals_name_the_file(tmp_path):
    two, one_d = LUT3D.identity(2), LUT1D(np.zeros((4, 3)), None, "s")
    for writer, lut, name, message in ((write_3dl, two, "a.3dl", "2-point LUT cannot be written as .3dl"),
                                       (write_vlt, one_d, "a.vlt", ".vlt holds one 3D LUT"),
                                       (write_spi1d, two, "a.spi1d", ".spi1d holds one 1D LUT")):
        with pytest.raises(UsageError, match=message) as info:
            writer(lut, tmp_path / name)
        assert str(info.value).startswith(f"{tmp_path / name}: ")
        assert not (tmp_path / name).exists()


@pytest.mark.parametrize("name, text, line", [
    ("narrow.cube", "LUT_3D_SIZE 2\nDOMAIN_MIN 0 0 0\nDOMAIN_MAX 1e-300 1e-300 1e-300\n" + "0.5 0.5 0.5\n" * 8, 3),
    ("narrow.spi1d", "Version 1\nFrom 0 1e-300\nLength 2\nComponents 1\n{\n0\n1\n}\n", 2),
])
def test_lut_domain_too_narrow_for_float32_is_refused(tmp_path, name, text, line):
    """``DOMAIN_MAX 1e-300`` over ``DOMAIN_MIN 0`` is below ``MIN_DOMAIN_SPAN`` (1e-6 of its
    magnitude): it was accepted, equal to the minimum once in float32, and mapped every input to
    the table's last entry (an almost white image)."""
    from l2tech.color.lut import MIN_DOMAIN_SPAN

    p = tmp_path / name
    p.write_text(text)
    with pytest.raises(LUTError, match=rf"{name}:{line}: domain .* spans less than 1e-06 of its magnitude"):
        read_lut(p)
    with pytest.raises(LUTError, match="too narrow to sample in float32"):
        LUT3D.identity(2, domain=[[0.0] * 3, [1e-300] * 3])
    # a real ACEScct-like domain and a half-float shaper's are kept; a span just above the limit too
    assert LUT3D.identity(2, domain=[[0.0] * 3, [2 * MIN_DOMAIN_SPAN] * 3]).size == 2
    assert LUT3D.identity(2, domain=[[-0.0125] * 3, [1.25] * 3]).size == 2
    assert LUT1D(np.linspace(0.0, 1.0, 4, dtype=np.float32), domain=[[0.0] * 3, [65504.0] * 3]).size == 4


_CLF = '<?xml version="1.0"?><ProcessList id="x" compCLFversion="3">{}</ProcessList>'


@pytest.mark.parametrize("node, message", [
    ('<Exponent inBitDepth="32f" outBitDepth="32f" style="basicFwd"><ExponentParams exponent="1e308"/></Exponent>',
     "exponent='1e308' is beyond ±1e+06"),
    ('<Exponent inBitDepth="32f" outBitDepth="32f" style="basicFwd"><ExponentParams exponent="500"/></Exponent>',
     "exponent=500: a basic exponent must be within 0.01-100"),
    ('<Exponent inBitDepth="32f" outBitDepth="32f" style="monCurveFwd"><ExponentParams exponent="2.4" offset="5"/>'
     '</Exponent>', "monCurve needs 1 <= exponent <= 10 and 0 < offset <= 0.9"),
    ('<Log inBitDepth="32f" outBitDepth="32f" style="logToLin"><LogParams base="-2" logSideSlope="0.5"/></Log>',
     "base=-2: the base must be positive and not 1"),
    ('<Log inBitDepth="32f" outBitDepth="32f" style="logToLin"><LogParams base="2" logSideSlope="1e308"/></Log>',
     "logSideSlope='1e308' is beyond ±1e+06"),
    ('<Log inBitDepth="32f" outBitDepth="32f" style="linToLog"><LogParams linSideSlope="0"/></Log>',
     "logSideSlope and linSideSlope must not be 0"),
])
def test_clf_parameters_outside_what_a_transform_can_have_are_refused(tmp_path, node, message):
    """From a fresh-clone review: an Exponent of 1e308 gave an all-black image, -1e308 an all-white
    one, and a Log with base -2 printed NumPy's 'invalid value encountered in log' twice and wrote
    a black image, all with exit 0. The ranges are OpenColorIO's (GammaOpData::validateParameters:
    basic 0.01-100, monCurve exponent 1-10 and offset up to 0.9); a log base must be positive and
    not 1, and no slope 0."""
    p = tmp_path / "t.clf"
    p.write_text(_CLF.format(node))
    with pytest.raises(LUTError, match=r"t\.clf: ") as info:
        read_lut(p)
    assert message in str(info.value)
    img = tmp_path / "in.png"
    write_image(img, np.full((8, 8, 3), 0.5, np.float32), bits=8)
    assert main(["lut", "apply", str(p), str(img), "-o", str(tmp_path / "out.png")]) == 1
    assert not (tmp_path / "out.png").exists()


def test_clf_parameters_within_range_still_apply(tmp_path):
    p = tmp_path / "g.clf"
    p.write_text(_CLF.format('<Exponent inBitDepth="32f" outBitDepth="32f" style="basicFwd">'
                             '<ExponentParams exponent="2.2"/></Exponent>'))
    out = read_lut(p).apply(np.full((1, 1, 3), 0.5, np.float32))
    assert out[0, 0, 0] == pytest.approx(0.5 ** 2.2, rel=1e-5)


def test_clf_chain_that_overflows_float32_is_a_named_error(tmp_path):
    """Each node within its range, the chain overflowed: a 1000× matrix then an exponent of 100
    gave NumPy's 'overflow encountered in cast' and a white image, exit 0."""
    p = tmp_path / "mexp.clf"
    p.write_text(_CLF.format('<Matrix inBitDepth="32f" outBitDepth="32f"><Array dim="3 3">1000 0 0 0 1000 0 0 0 1000'
                             '</Array></Matrix><Exponent inBitDepth="32f" outBitDepth="32f" style="basicFwd">'
                             '<ExponentParams exponent="100"/></Exponent>'))
    lut = read_lut(p)
    with pytest.raises(LUTError, match=r"mexp\.clf: the transform's output is not finite or beyond float32"):
        lut.apply(np.full((2, 2, 3), 0.5, np.float32))
    assert np.all(np.isfinite(lut.apply(np.zeros((1, 1, 3), np.float32))))  # 0 stays 0
