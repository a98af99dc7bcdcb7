"""Bad output folders and bad inputs found by trying the CLI as a new user (RELIABILITY.md: one
typed line naming the file, a non-zero exit code, nothing left behind)."""

from __future__ import annotations

import pytest

from conftest import shared_file
from l2tech.cli.main import main

RAW = "raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng"


def _one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


def test_output_folder_under_a_file_is_a_typed_error(tmp_path, capsys):
    """``-o FILE/sub/``: was a NotADirectoryError traceback from ``mkdir`` (develop)."""
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    for cmd in (["develop", str(shared_file(RAW))], ["video", str(shared_file("video/gopro_hero5_karma_drone.mp4"))]):
        rc = main([*cmd, "-o", str(blocker / "sub") + "/", "-q"])
        line = _one_line(capsys.readouterr().err)
        assert rc == 1 and "OutputError" in line and "cannot create the output folder" in line and "afile" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]


def test_a_failed_run_leaves_no_empty_output_folder(tmp_path, capsys):
    empty = tmp_path / "empty.dng"
    empty.write_bytes(b"")
    out = tmp_path / "out"
    assert main(["develop", str(empty), "-o", str(out) + "/", "-q"]) == 1
    assert "EmptyFileError" in capsys.readouterr().err
    assert not out.exists()


def test_text_named_like_a_raw_is_the_same_error_for_video(tmp_path, capsys):
    """FFmpeg's image2 demuxer goes by the extension and called a text ``.dng`` "a still image
    (tiff)" (exit 2); it is the format error develop gives (exit 1)."""
    txt = tmp_path / "text.dng"
    txt.write_text("hello world\n")
    assert main(["video", str(txt), "-o", str(tmp_path / "x.mp4")]) == 1
    assert "UnsupportedFormatError" in _one_line(capsys.readouterr().err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text.dng"]


def test_a_missing_input_is_input_not_found_everywhere(tmp_path, capsys):
    missing = str(tmp_path / "nope.dng")
    for cmd in (["info", missing], ["lens", "match", missing], ["develop", missing, "-q"]):
        assert main(cmd) == 1
        assert "InputNotFoundError" in capsys.readouterr().err, cmd
    clip = str(tmp_path / "nope.mp4")  # a clip too (was "UnsupportedFormatError: not a file")
    for cmd in (["info", clip], ["video", clip, "-o", str(tmp_path / "o.mp4")]):
        assert main(cmd) == 1
        assert "InputNotFoundError" in capsys.readouterr().err, cmd


def test_lut_apply_goes_on_past_a_missing_input_and_makes_its_folder(tmp_path, capsys):
    """``l2 lut apply LUT a.jpg missing.jpg -o out/``: was a FileNotFoundError traceback (and
    ``out/`` had to exist); now the missing one is a typed line, the other is written, exit 1."""
    import numpy as np
    from PIL import Image

    a = tmp_path / "a.jpg"
    Image.fromarray((np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)).save(a)
    lut = shared_file("luts/cube_3dl/ocio-tests__iridas_1d.cube")
    out = tmp_path / "out"
    rc = main(["lut", "apply", str(lut), str(a), str(tmp_path / "missing.jpg"), "-o", str(out) + "/"])
    line = _one_line(capsys.readouterr().err)
    assert rc == 1 and "InputNotFoundError" in line and "missing.jpg" in line
    assert sorted(p.name for p in out.iterdir()) == ["a.jpg"]


def test_decode_raw_of_a_missing_file_or_a_folder_is_typed(tmp_path):
    from l2tech.errors import InputNotFoundError, UnsupportedFormatError
    from l2tech.raw.decode import decode_raw

    with pytest.raises(InputNotFoundError, match=r"nope\.dng: file not found"):
        decode_raw(tmp_path / "nope.dng")
    (tmp_path / "dir.dng").mkdir()
    with pytest.raises(UnsupportedFormatError, match=r"dir\.dng: is a folder"):
        decode_raw(tmp_path / "dir.dng")


def test_output_to_a_pipe_is_not_wrapped(tmp_path):
    """Written to a pipe (a script, ``| grep``, a log), a failed file's line stays one line and a
    table is not cut at 80 columns: rich wraps and cuts at 80 when it sees no terminal."""
    import os
    import subprocess
    import sys

    missing = tmp_path / ("a_rather_long_file_name_that_would_not_fit_on_an_eighty_column_line" + "x" * 20 + ".dng")
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    code = "import sys; from l2tech.cli.main import main; sys.exit(main(sys.argv[1:]))"
    r = subprocess.run([sys.executable, "-c", code, "develop", str(missing), "-o", str(tmp_path) + os.sep],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 1
    failed = [ln for ln in r.stdout.splitlines() if "failed " in ln and "file not found" in ln]
    assert len(failed) == 1 and str(missing) in failed[0], r.stdout
    err = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert err == [f"error (InputNotFoundError): {missing}: file not found"], r.stderr
    r = subprocess.run([sys.executable, "-c", code, "lens", "search", "lumix 20-60"], capture_output=True, text=True, env=env)
    assert r.returncode == 0 and "lensfun:mil-panasonic.xml" in r.stdout, r.stdout
