"""Errors about the arguments are found once, before any input, and said the same way by every
command; with ``--json`` stdout always holds one JSON document (RELIABILITY.md S12–S14).

A file the run cannot use is reported once with the exit code of its error's type (1 for a
LUT or a lens profile, as ``l2 lut show`` and an input-specific profile refusal; 2 for a
recipe file and a missing look file, which are usage errors).

Before: a bad ``--lut`` / ``--look`` / ``--profile`` file was found per input (a batch of N
printed N identical failures, exit 1) while a bad ``--recipe`` stopped the command first (exit 2);
a recipe file that was missing or a pipe got Click's ``Usage:`` block from ``correct`` and
``develop`` but ``error (InputNotFoundError)`` from ``video``, and a bad TOML got a one-line
``RecipeError``; ``lens show-file``, ``lens convert``, ``recipe show``, ``lut bake --look nosuch``
and usage errors of every command printed nothing on stdout with ``--json``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from l2tech.cli.main import main
from l2tech.io.image import write_image


@pytest.fixture
def images(tmp_path):
    paths = []
    for k in range(3):
        p = tmp_path / f"in{k}.png"
        write_image(p, np.full((16, 24, 3), 0.2 + 0.2 * k, np.float32), bits=8)
        paths.append(str(p))
    return paths


@pytest.fixture
def bad(tmp_path):
    (tmp_path / "bad.cube").write_text("LUT_3D_SIZE 2\n0 0 0\n")
    (tmp_path / "bad.json").write_text("garbage")
    (tmp_path / "bad.toml").write_text("[[[")
    (tmp_path / "lut.toml").write_text(f'lut = "{tmp_path / "bad.cube"}"\n')
    (tmp_path / "look.toml").write_text(f'look = "{tmp_path / "nosuch_look.toml"}"\n')
    os.mkfifo(tmp_path / "pipe.toml")
    return tmp_path


def _error_lines(err: str) -> list[str]:
    return [ln for ln in err.splitlines() if ln.startswith("error")]


@pytest.mark.parametrize("extra, code, needle, names_recipe", [
    (["--lut", "{d}/bad.cube"], 1, "bad.cube:2: expected 8 entries, found 1", False),
    (["--look", "{d}/nosuch_look.toml"], 2, "look file not found", False),
    (["--profile", "{d}/bad.json"], 1, "bad.json: not a lens profile", False),
    (["--recipe", "{d}/lut.toml"], 1, "bad.cube:2: expected 8 entries, found 1 (lut of recipe", True),
    (["--recipe", "{d}/look.toml"], 2, "look file not found", True),
])
def test_bad_side_file_is_one_error_before_any_input(images, bad, capsys, extra, code, needle, names_recipe):
    out = bad / "out"
    rc = main(["correct", *images, "-o", str(out), *[a.format(d=bad) for a in extra]])
    err = capsys.readouterr().err
    assert rc == code, err
    lines = _error_lines(err)
    assert len(lines) == 1, err  # was one failure per input (3), exit 1
    assert needle in lines[0]
    assert ("of recipe" in lines[0]) is names_recipe
    assert not out.exists()  # nothing was started


def test_option_given_over_recipe_is_not_blamed_on_the_recipe(images, bad, capsys):
    rc = main(["correct", *images, "-o", str(bad / "out"), "--recipe", str(bad / "lut.toml"),
               "--lut", str(bad / "nosuch.cube")])
    line = _error_lines(capsys.readouterr().err)[0]
    assert rc == 1 and "nosuch.cube: file not found" in line and "of recipe" not in line


def test_video_checks_side_files_before_any_clip(tmp_path, bad, capsys):
    from l2tech.video.synth import numbered_frames, write_clip

    clips = []
    for k in range(2):
        p = tmp_path / f"clip{k}.mp4"
        write_clip(p, numbered_frames(4, 64, 48, seed=k), rate=25)
        clips.append(str(p))
    for extra in (["--lut", str(bad / "bad.cube")], ["--recipe", str(bad / "lut.toml")],
                  ["--profile", str(bad / "bad.json")]):
        rc = main(["video", *clips, "-o", str(tmp_path / "out"), *extra])
        err = capsys.readouterr().err
        assert rc == 1, (extra, err)
        assert len(_error_lines(err)) == 1, (extra, err)
        assert not (tmp_path / "out").exists()  # refused before the output folder was made


@pytest.mark.parametrize("command", ["correct", "develop", "video", "recipe"])
@pytest.mark.parametrize("recipe, message", [
    ("nosuch.toml", "nosuch.toml: recipe file not found"),
    ("pipe.toml", "pipe.toml: not a regular file (a pipe, device or socket), not a recipe file"),
    ("bad.toml", "bad.toml:1: not valid TOML"),
])
def test_unusable_recipe_file_is_one_recipe_error_from_every_command(images, bad, capsys, command, recipe, message):
    args = {"correct": ["correct", images[0], "-o", str(bad / "out")],
            "develop": ["develop", images[0], "-o", str(bad / "out")],
            "video": ["video", images[0], "-o", str(bad / "out.mp4")],
            "recipe": ["recipe", "show"]}[command]
    rc = main([*args, "--recipe", str(bad / recipe)])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert "Usage:" not in err  # was Click's usage block for a missing file or a pipe (correct, develop)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error (RecipeError): ") and message in lines[0], err


@pytest.mark.parametrize("args, code, error_type", [
    (["lens", "show-file", "{d}/bad.json"], 1, "UnsupportedFormatError"),
    (["lens", "show-file", "{d}/nosuch.json"], 1, "InputNotFoundError"),
    (["lens", "convert", "{d}/bad.json", "-o", "{d}/x.xml"], 1, "UnsupportedFormatError"),
    (["lens", "show", "no such lens at all"], 1, "LensNotFoundError"),
    (["recipe", "show", "--recipe", "{d}/bad.toml"], 2, "RecipeError"),
    (["recipe", "show", "--recipe", "{d}/nosuch.toml"], 2, "RecipeError"),
    (["lut", "bake", "--look", "nosuch", "-o", "{d}/o.cube"], 2, "UsageError"),
    (["correct", "{d}/in.png", "-o", "{d}/out", "--lut", "{d}/bad.cube"], 1, "LUTError"),
    (["correct", "{d}/in.png", "-o", "{d}/out", "--quality", "500"], 2, "UsageError"),
    (["video", "{d}/in.png", "-o", "{d}/o.mp4", "--recipe", "{d}/pipe.toml"], 2, "RecipeError"),
    (["calibrate", "nosuchcommand"], 2, "UsageError"),
])
def test_json_error_document_on_stdout(bad, capsys, args, code, error_type):
    write_image(bad / "in.png", np.full((16, 24, 3), 0.5, np.float32), bits=8)
    rc = main([a.format(d=bad) for a in args] + ["--json"])
    cap = capsys.readouterr()
    assert rc == code, cap.err
    doc = json.loads(cap.out)  # exactly one document (was nothing at all)
    assert doc["error_type"] == error_type and doc["exit_code"] == code
    assert doc["error"] and "\n" not in doc["error"].strip()
    assert cap.err.strip()  # the error is still said on stderr for a person


def test_json_error_document_names_the_file(bad, capsys):
    rc = main(["lens", "show-file", str(bad / "bad.json"), "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 1 and doc["path"] == str(bad / "bad.json")


def test_command_that_prints_its_own_json_is_not_given_a_second(bad, capsys):
    rc = main(["lut", "show", str(bad / "bad.cube"), "--json"])
    out = capsys.readouterr().out
    assert rc == 1
    doc = json.loads(out)  # one document: the command's own (path, error, error_type, exit_code)
    assert doc["path"] == str(bad / "bad.cube") and doc["error_type"] == "LUTError" and doc["exit_code"] == 1


def test_json_after_double_dash_is_an_argument_not_the_option(bad, capsys):
    rc = main(["lens", "show-file", "--", str(Path(bad / "nosuch.json")), "--json"])
    assert rc != 0 and capsys.readouterr().out == ""


@pytest.mark.parametrize("option, value, message", [
    ("--focal-length", "1e308", "--focal-length must be at most 10000"),
    ("--f-number", "1e5", "--f-number must be at most 1000"),
    ("--focus-distance", "1e7", "--focus-distance must be at most 1e+06"),
    ("--keystone", "1e308,0,100,0,100,100,0,100", "--keystone points are pixels of the image: each within ±1e+06"),
])
def test_absurd_lens_numbers_are_usage_errors(images, tmp_path, capsys, option, value, message):
    """From a fresh-clone review: ``--focal-length 1e308`` was an unexpected OverflowError;
    ``--keystone 1e308,...`` printed NumPy overflow warnings and an error naming no file. The
    message names the option, not the recipe field behind it (``focal_length_mm``)."""
    rc = main(["correct", images[0], "-o", str(tmp_path / "out"), option, value])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and "RuntimeWarning" not in err and "unexpected" not in err, err
    assert not (tmp_path / "out").exists()


def test_unknown_log_output_is_a_usage_error_before_any_input(images, tmp_path, capsys):
    """``--log-output nope`` failed once per input (exit 1, no file named); it is an argument."""
    rc = main(["correct", *images, "-o", str(tmp_path / "out"), "--log-output", "nope"])
    err = capsys.readouterr().err
    assert rc == 2 and "--log-output: unknown encoding 'nope'" in err and err.count("unknown encoding") == 1, err
    assert not (tmp_path / "out").exists()


def test_lut_input_without_a_lut_is_said_to_be_ignored(images, tmp_path, capsys):
    rc = main(["correct", images[0], "-o", str(tmp_path / "out") + "/", "--lut-input", "V-Log"])
    err = capsys.readouterr().err
    assert rc == 0
    assert "warning: --lut-input applies to the LUT of --lut; there is none, so it is ignored" in err


def test_two_inputs_one_output_is_one_line_naming_both(tmp_path, capsys):
    """The clash was printed once per input, the same line twice."""
    paths = []
    for d in ("d1", "d2"):
        (tmp_path / d).mkdir()
        p = tmp_path / d / "x.png"
        write_image(p, np.full((8, 8, 3), 0.5, np.float32), bits=8)
        paths.append(p)
    rc = main(["correct", *map(str, paths), "-o", str(tmp_path / "out")])
    lines = _error_lines(capsys.readouterr().err)
    assert rc == 1 and len(lines) == 1 and f"{paths[0]} and {paths[1]} would both write this one output" in lines[0]


@pytest.mark.parametrize("name, to, ok", [
    ("out.xml", None, "lensfun"), ("out.json", None, "gyroflow"), ("out.json", "gyroflow", "gyroflow"),
    ("out.json", "lensfun", None), ("out.weird", None, None), ("out.xml", "gyroflow", None),
])
def test_lens_convert_format_follows_the_output_name(tmp_path, capsys, name, to, ok):
    """``lens convert -o out.json`` (and ``-o out.weird``) wrote lensfun XML under that name."""
    from conftest import shared_file

    src = shared_file("profiles/gyroflow/GoPro_HERO5_Black_Wide_NO-EIS_4by3.json")
    out = tmp_path / name
    rc = main(["lens", "convert", str(src), "-o", str(out), *(["--to", to] if to else []), "--json"])
    cap = capsys.readouterr()
    if ok is None:
        assert rc == 2 and not out.exists(), cap.err
        assert json.loads(cap.out)["error_type"] == "UsageError" and str(out) in cap.err
    else:
        assert rc == 0, cap.err
        assert json.loads(cap.out)["format"] == ok
        assert out.read_bytes()[:1] == (b"<" if ok == "lensfun" else b"{")


# ---------------------------------------------------------------- from the re-check of the fixes


@pytest.mark.parametrize("option, value", [("--white-ev", "1e308"), ("--black-ev", "-1e308"), ("--white-ev", "33")])
def test_tone_exposures_beyond_32_ev_are_usage_errors(capsys, option, value):
    """``--white-ev 1e308`` was an unexpected OverflowError per input; ``--black-ev -1e308`` wrote
    an image with NumPy's 'divide by zero' text, exit 0."""
    rc = main(["recipe", "show", option, value])  # develop's options, checked by Recipe as develop checks them
    cap = capsys.readouterr()
    assert rc == 2 and "tone white exposure must be at most +32 EV and black exposure at least -32 EV" in cap.err, cap.err
    assert "RuntimeWarning" not in cap.err and cap.out == ""


@pytest.mark.parametrize("command", ["correct", "video", "recipe"])
def test_a_recipe_that_is_a_folder_is_one_recipe_error(images, tmp_path, capsys, command):
    """A folder as --recipe got Click's Usage block ('File ... is a directory')."""
    (tmp_path / "r.toml").mkdir()
    args = {"correct": ["correct", images[0], "-o", str(tmp_path / "o.png")],
            "video": ["video", images[0], "-o", str(tmp_path / "o.mp4")], "recipe": ["recipe", "show"]}[command]
    rc = main([*args, "--recipe", str(tmp_path / "r.toml")])
    err = capsys.readouterr().err
    assert rc == 2 and err.strip() == f"error (RecipeError): {tmp_path / 'r.toml'}: is a folder, not a recipe file", err


@pytest.mark.parametrize("option, name, code", [("--lut", "l.cube", 1), ("--profile", "p.xml", 1)])
def test_a_side_file_that_is_a_folder_is_one_typed_line(images, tmp_path, capsys, option, name, code):
    (tmp_path / name).mkdir()
    rc = main(["correct", images[0], "-o", str(tmp_path / "o.png"), option, str(tmp_path / name)])
    err = capsys.readouterr().err
    assert rc == code and "Usage:" not in err and f"{tmp_path / name}: is a folder" in err, err


def test_video_with_a_journal_that_is_a_folder_exits_1_as_correct_does(tmp_path, capsys):
    from l2tech.pipeline.journal import JOURNAL_NAME
    from l2tech.video.synth import numbered_frames, write_clip

    clips = []
    for k in range(2):
        p = tmp_path / f"c{k}.mp4"
        write_clip(p, numbered_frames(4, 64, 48, seed=k), rate=25)
        clips.append(str(p))
    out = tmp_path / "out"
    (out / JOURNAL_NAME).mkdir(parents=True)
    rc = main(["video", *clips, "-o", str(out) + os.sep])
    err = capsys.readouterr().err
    assert rc == 1 and "OutputError" in err, err  # was exit 2 from video, 1 from correct and develop


def test_video_crop_factor_is_bounded_as_a_profile_s(images, tmp_path, capsys):
    rc = main(["video", images[0], "-o", str(tmp_path / "o.mp4"), "--crop-factor", "1e308"])
    assert rc == 2 and "--crop-factor must be ≥ 0.1 and ≤ 20, got 1e+308" in capsys.readouterr().err


def test_lut_apply_names_the_input_once_in_a_decoder_warning(tmp_path, capsys):
    """'warning: t.tif: t.tif: 15 of 6,000 samples are NaN ...' named the file twice."""
    import warnings

    import tifffile

    from l2tech.color import LUT3D
    from l2tech.color.lut_io import write_cube

    img = np.full((20, 30, 3), 0.5, np.float32)
    img[0, :5, 0] = np.nan
    tif = tmp_path / "t.tif"
    tifffile.imwrite(tif, img, photometric="rgb")
    cube = tmp_path / "id.cube"
    write_cube(LUT3D.identity(2), cube)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        rc = main(["lut", "apply", str(cube), str(tif), "-o", str(tmp_path / "o.tif")])
    said = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("warning")]
    assert rc == 0 and said and all(ln.count(str(tif)) == 1 for ln in said), said


def test_a_lut_file_as_look_works_for_stills_as_for_video(images, bad, tmp_path, capsys):
    """``--look grade.cube`` passed the up-front check (read as a LUT, as l2 video reads it) but
    then failed on every input of correct/develop ("invalid TOML"): the stills look loader now
    reads a LUT file as a look too."""
    from l2tech.color import LUT3D
    from l2tech.color.lut_io import write_cube

    write_cube(LUT3D.identity(2), tmp_path / "id.cube")
    assert main(["correct", *images[:2], "-o", str(tmp_path / "ok"), "--look", str(tmp_path / "id.cube")]) == 0
    assert len(list((tmp_path / "ok").glob("*.png"))) == 2
    capsys.readouterr()
    rc = main(["correct", *images, "-o", str(tmp_path / "no"), "--look", str(bad / "bad.cube")])
    lines = _error_lines(capsys.readouterr().err)
    assert rc == 1 and len(lines) == 1 and "bad.cube:2: expected 8 entries" in lines[0]
