"""Warnings reach the user as one clean line each (issue 16 item 7).

Python's default form, ``path/to/matching.py:319: LensfunDataWarning: ...`` followed by the
source line, is for developers; ``l2`` prints ``warning: FILE: message``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

from l2tech.cli.common import route_warnings

_BAD_LENS_XML = """<lensdatabase version="1">
    <lens>
        <maker>Bad</maker>
        <model>Bad lens 50mm f/2</model>
        <mount>Leica L</mount>
        <cropfactor>1</cropfactor>
        <calibration><distortion model="poly3" focal="50" k1="0.01x"/></calibration>
    </lens>
</lensdatabase>
"""


def test_lens_db_warning_is_one_clean_line(tmp_path):
    lenses = tmp_path / "lenses"
    lenses.mkdir()
    (lenses / "mine.xml").write_text(_BAD_LENS_XML)
    env = dict(os.environ, L2TECH_LENS_DIR=str(lenses), L2TECH_CACHE_DIR=str(tmp_path / "cache"), COLUMNS="200")
    env.pop("PYTHONWARNINGS", None)
    proc = subprocess.run([sys.executable, "-m", "l2tech.cli", "lens", "search", "Lumix S 20-60", "--limit", "1"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.splitlines() == [
        f"warning: {lenses / 'mine.xml'}: lens 'Bad Bad lens 50mm f/2' skipped: bad number <distortion k1>='0.01x'"
    ]


def test_library_warning_names_its_category_and_keeps_brackets(capsys):
    with warnings.catch_warnings():
        warnings.simplefilter("always")  # pytest runs with warnings as errors; show them here
        with route_warnings():
            warnings.warn("values outside [0, 1]\n  were clipped", RuntimeWarning, stacklevel=1)
        shown_after = warnings.showwarning
    err = capsys.readouterr().err
    assert err == "warning (RuntimeWarning): values outside [0, 1] were clipped\n"
    assert shown_after is not None and getattr(shown_after, "__name__", "") != "show"  # restored


def test_file_names_with_line_breaks_stay_on_one_line(tmp_path, capsys):
    """A file named ``bad<LF>name.jpg`` split the error and the batch summary over two lines;
    control characters in any message are printed as escapes (``\\n``, ``\\r``, ``\\x1b``)."""
    import numpy as np

    from l2tech.cli.common import one_line
    from l2tech.cli.main import main
    from l2tech.io.image import write_image

    bad = tmp_path / "bad\nname.jpg"
    bad.write_bytes(b"xx")
    good = tmp_path / "ok\rname.png"
    write_image(good, np.full((16, 16, 3), 0.5, np.float32), bits=8)
    rc = main(["correct", str(bad), str(good), "-o", str(tmp_path / "out"), "--no-lens-correction"])
    out, err = capsys.readouterr()
    assert rc == 1
    for text in (out, err):
        for line in text.splitlines():
            if "name." in line:
                assert "bad\\nname.jpg" in line or "ok\\rname.png" in line, line
    assert "bad\\nname.jpg: unsupported or mismatched format" in err
    assert "failed bad\\nname.jpg:" in out
    assert (tmp_path / "out" / "ok\rname.png").exists()  # the name itself is kept on disk
    assert one_line("a\x1b[31mb\tc\x7f") == "a\\x1b[31mb\tc\\x7f"


def test_batch_warnings_name_their_file_with_no_blank_line(tmp_path, capsys):
    """Per-file warnings of a batch were printed indented, without the file, and a blank line
    followed (the progress display's, on a stderr that is not a terminal)."""
    from conftest import shared_file
    from l2tech.cli.main import main

    src = shared_file("raw/jpeg_reference/canon_6d__ef100mm_macro.jpg")  # a Camera Raw crop: one warning
    ins = []
    for name in ("a.jpg", "b.jpg"):
        (tmp_path / name).write_bytes(src.read_bytes())
        ins.append(str(tmp_path / name))
    assert main(["correct", *ins, "-o", str(tmp_path / "out"), "--no-sidecar"]) == 0
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert [ln.split(":")[1].strip() for ln in lines] == ["a.jpg", "b.jpg"], err
    assert all(ln.startswith("warning: ") and "frame is a crop" in ln for ln in lines), err
