"""``l2 lut`` in-process: exit codes, output files opened and checked."""

from __future__ import annotations

import json

import numpy as np

from l2tech.cli.main import main
from l2tech.color import LUT3D, bake_lut, encode, read_lut, write_lut
from l2tech.io.image import read_image, write_image


def _img(tmp_path, name="in.png", bits=16):
    rng = np.random.default_rng(0)
    px = rng.random((24, 32, 3)).astype(np.float32)
    write_image(tmp_path / name, px, bits=bits)
    return tmp_path / name, read_image(tmp_path / name).pixels


def test_bake_lumix_resamples_and_warns(tmp_path, capsys):
    out = tmp_path / "look.cube"
    rc = main(["lut", "bake", "--input", "V-Log/V-Gamut", "--look", "mono", "--output-space", "rec709",
               "--size", "65", "-o", str(out), "--camera-limits", "lumix"])
    assert rc == 0
    err = capsys.readouterr().err
    assert "65-point LUT resampled to 33" in err
    lut = read_lut(out)
    assert lut.size == 33
    assert np.abs(lut.table - bake_lut("mono", input="V-Log/V-Gamut", output="rec709", size=33).table).max() < 1e-6
    assert "DOMAIN_MIN" not in out.read_text()  # the plain form cameras read
    # existing output is refused without --overwrite, and left intact
    before = out.read_bytes()
    assert main(["lut", "bake", "--look", "mono", "-o", str(out)]) == 1
    assert out.read_bytes() == before
    assert main(["lut", "bake", "--look", "mono", "-o", str(out), "--overwrite"]) == 0


def test_bake_unknown_names_are_usage_errors(tmp_path, capsys):
    assert main(["lut", "bake", "--input", "Z-Log", "-o", str(tmp_path / "a.cube")]) == 2
    assert "valid names" in capsys.readouterr().err
    assert main(["lut", "bake", "--look", "nope", "-o", str(tmp_path / "a.cube")]) == 2
    assert main(["lut", "bake", "--size", "300", "-o", str(tmp_path / "a.cube")]) == 2
    assert not (tmp_path / "a.cube").exists()


def test_apply_images_pixels_checked(tmp_path):
    src, px = _img(tmp_path)
    lut = LUT3D(np.sqrt(LUT3D.identity(17).table))
    lp = write_lut(lut, tmp_path / "sqrt.cube")
    out = tmp_path / "out.png"
    assert main(["lut", "apply", str(lp), str(src), "-o", str(out)]) == 0
    got = read_image(out)
    assert got.bits == 16
    want = lut.apply(px)
    assert np.abs(got.pixels - want).max() <= 1 / 65535 + 1e-6


def test_apply_batch_goes_on_after_bad_file(tmp_path, capsys):
    a, _ = _img(tmp_path, "a.png")
    bad = tmp_path / "b.png"
    bad.write_text("not an image")
    c, pc = _img(tmp_path, "c.jpg", bits=8)
    outdir = tmp_path / "out"
    outdir.mkdir()
    lp = write_lut(LUT3D.identity(5), tmp_path / "id.cube")
    rc = main(["lut", "apply", str(lp), str(a), str(bad), str(c), "-o", str(outdir), "--json"])
    assert rc == 1
    res = json.loads(capsys.readouterr().out)
    assert [r["ok"] for r in res] == [True, False, True]
    assert sorted(p.name for p in outdir.iterdir()) == ["a.png", "c.jpg"]
    assert np.abs(read_image(outdir / "c.jpg").pixels - pc).max() < 4 / 255  # identity LUT, JPEG re-encode


def test_apply_refuses_to_overwrite_input(tmp_path, capsys):
    src, _ = _img(tmp_path)
    lp = write_lut(LUT3D.identity(5), tmp_path / "id.cube")
    before = src.read_bytes()
    assert main(["lut", "apply", str(lp), str(src), "-o", str(src), "--overwrite"]) == 2
    assert src.read_bytes() == before


def test_apply_with_shaper(tmp_path):
    src, px = _img(tmp_path)
    lut = bake_lut(None, input="V-Log/V-Gamut", output="V-Log/V-Gamut", size=9)
    lp = write_lut(lut, tmp_path / "vl.cube")
    out = tmp_path / "o.png"
    assert main(["lut", "apply", str(lp), str(src), "-o", str(out), "--shaper", "V-Log"]) == 0
    want = lut.apply(encode(px, "V-Log"))
    assert np.abs(read_image(out).pixels - want).max() < 2e-5


def test_convert_formats_and_show(tmp_path, capsys):
    lut = LUT3D(np.random.default_rng(1).random((9, 9, 9, 3)))
    src = write_lut(lut, tmp_path / "a.cube")
    for ext in ("spi3d", "3dl", "vlt"):
        assert main(["lut", "convert", str(src), "-o", str(tmp_path / f"b.{ext}")]) == 0
    assert read_lut(tmp_path / "b.spi3d") == lut
    assert np.abs(read_lut(tmp_path / "b.3dl").table - lut.table).max() <= 0.5 / 4095 + 1e-7
    assert main(["lut", "convert", str(src), "-o", str(tmp_path / "c.cube"), "--size", "5"]) == 0
    assert read_lut(tmp_path / "c.cube").size == 5
    capsys.readouterr()
    assert main(["lut", "show", str(tmp_path / "b.vlt"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "vlt" and info["size"] == 9 and info["type"] == "3D"


def test_convert_clf_samples_to_cube(tmp_path):
    from conftest import shared_file
    from l2tech.color import read_clf

    clf = shared_file("luts/clf/ocio-tests__lut3d_17x17x17_10i_12i.clf")
    out = tmp_path / "x.cube"
    assert main(["lut", "convert", str(clf), "-o", str(out), "--size", "17"]) == 0
    lut = read_lut(out)
    assert np.abs(lut.table - read_clf(clf).apply(LUT3D.identity(17).table)).max() < 1e-6


def test_show_bad_file_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.cube"
    bad.write_text("LUT_3D_SIZE 1000000\n")
    assert main(["lut", "show", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.cube:1: LUT_3D_SIZE 1000000 is outside the allowed 2-256" in err
    assert "Traceback" not in err
    assert main(["lut", "show", str(tmp_path / "nope.cube")]) == 1
    assert main(["lut", "show", str(tmp_path / "x.foo")]) == 2


def test_list_looks(capsys):
    assert main(["lut", "bake", "--list-looks", "--json"]) == 0
    assert "mono" in json.loads(capsys.readouterr().out)
