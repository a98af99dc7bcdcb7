"""``l2 video`` output names: checked against the encoder before any work, a folder keeps each
clip's container, several clips never write into a folder named like a file; the summary counts
what was written; ``--lut`` is a LUT file, never a look name."""

from __future__ import annotations

import pytest

from conftest import shared_file
from l2tech.cli.main import main

CLIP = "video/gopro_hero5_karma_drone.mp4"


@pytest.mark.parametrize("name, args, says", [
    ("x.txt", [], "output has extension '.txt'; name it .mp4, .mov, .mkv or .webm"),
    ("noext", [], "output has no extension"),
    ("p.mp4", ["--codec", "prores_ks"], "a .mp4 file cannot hold prores_ks video; name the output .mov or .mkv"),
    ("n.mkv", ["--codec", "nosuch"], "FFmpeg has no encoder 'nosuch'"),
])
def test_output_names_are_checked_before_any_work(tmp_path, capsys, name, args, says):
    rc = main(["video", str(shared_file(CLIP)), "-o", str(tmp_path / name), "--duration", "0.1", *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.startswith(f"error (UsageError): {tmp_path / name}: {says}"), err  # the user's name, not a temp name
    assert list(tmp_path.iterdir()) == []


def test_several_clips_need_a_folder_not_a_file_name(tmp_path, capsys):
    clip = str(shared_file(CLIP))
    rc = main(["video", clip, str(tmp_path / "b.mp4"), "-o", str(tmp_path / "both.mp4")])
    assert rc == 2 and "several inputs need an output folder, not a file name" in capsys.readouterr().err
    assert not (tmp_path / "both.mp4").exists()


def test_folder_output_keeps_the_container_or_takes_one_that_holds_the_codec(tmp_path, capsys):
    """Into a folder: ProRes cannot go in .mp4, so the GoPro clip becomes NAME.mov (it was
    NAME.mp4 and an unexpected ValueError); a .mov input stays .mov (test_outputs_helper)."""
    out = tmp_path / "out"
    rc = main(["video", str(shared_file(CLIP)), "--codec", "prores_ks", "--duration", "0.1", "-o", str(out) + "/", "-q"])
    assert rc == 0, capsys.readouterr().err
    assert (out / "gopro_hero5_karma_drone.mov").is_file()


def test_outputs_helper_keeps_each_clips_container(tmp_path):
    from l2tech.cli.video import _outputs

    outs = _outputs(("a/clip1.MOV", "b/clip2.mp4", "c/clip3.mkv", "d/clip4.avi"), str(tmp_path), None)
    assert [p.name for p in outs] == ["clip1.mov", "clip2.mp4", "clip3.mkv", "clip4.mp4"]
    outs = _outputs(("a/clip1.mp4", "b/clip2.webm"), str(tmp_path), "prores_ks")
    assert [p.name for p in outs] == ["clip1.mov", "clip2.mov"]


def test_summary_counts_written_skipped_and_failed(tmp_path, capsys):
    clip = str(shared_file(CLIP))
    out = str(tmp_path / "o") + "/"
    assert main(["video", clip, "--duration", "0.1", "-o", out, "-q"]) == 0
    capsys.readouterr()
    rc = main(["video", clip, str(tmp_path / "gone.mp4"), "--duration", "0.1", "-o", out])
    cap = capsys.readouterr()
    assert rc == 1
    assert "0 of 2 clips written, 1 skipped, 1 failed" in cap.out, cap.out
    import json

    main(["video", clip, str(tmp_path / "gone.mp4"), "--duration", "0.1", "-o", out, "--json"])
    rows = json.loads(capsys.readouterr().out)["results"]
    assert [r["status"] for r in rows] == ["skipped", "failed"]  # each row's status, as develop's


def test_lut_option_is_a_lut_file_never_a_look_name(tmp_path, capsys):
    """``--lut mono`` applied the mono look silently (exit 0); it is an unknown LUT file."""
    rc = main(["video", str(shared_file(CLIP)), "--lut", "mono", "--duration", "0.1", "-o", str(tmp_path / "m.mp4")])
    err = capsys.readouterr().err
    assert rc != 0 and "unknown LUT file extension" in err, err
    assert not (tmp_path / "m.mp4").exists()


def test_default_encoder_that_the_container_cannot_hold_names_the_users_file(tmp_path, capsys):
    """The default encoder is the input's family, known once the clip is probed: H.264 into
    ``.webm`` is a one-line usage error naming the output as given (not the temp file)."""
    rc = main(["video", str(shared_file(CLIP)), "--duration", "0.1", "-o", str(tmp_path / "w.webm")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(f"error (UsageError): {tmp_path / 'w.webm'}: a .webm file cannot hold libx264"), err
    assert list(tmp_path.iterdir()) == []


def test_quiet_hevc_run_prints_nothing(tmp_path):
    """x265 writes its own ``x265 [info]: ...`` lines to stderr (past FFmpeg's log level): about
    25 lines on every HEVC clip, ``-q`` included. Run as a process: they bypass Python's
    ``sys.stderr``."""
    import subprocess
    import sys

    code = "import sys; from l2tech.cli.main import main; sys.exit(main(sys.argv[1:]))"
    r = subprocess.run([sys.executable, "-c", code, "video", str(shared_file(CLIP)), "--codec", "libx265", "--duration",
                        "0.2", "-o", str(tmp_path / "h.mkv"), "-q"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "" and r.stdout == "", r.stderr[-2000:]
    assert (tmp_path / "h.mkv").stat().st_size > 0


@pytest.mark.parametrize("args, kind, says", [
    (["--preset", "bogus"], "UsageError", "unknown x264 preset 'bogus'; valid: ultrafast"),  # was FFmpeg's "returned 22"
    # a --lens / --camera that nothing matches is a usage error before any clip (the option's, not a clip's)
    (["--lens", "Nosuchlens"], "UsageError", "--lens 'Nosuchlens' is not in the lens database"),
    (["--camera", "Nosuchcam", "--lens", "Lumix S 20-60"], "UsageError", "--camera 'Nosuchcam' matches no body"),
])
def test_option_errors_name_the_clip(tmp_path, capsys, args, kind, says):
    """One line naming the clip (was a "(video)" placeholder, or no file at all); an option value
    no clip could use is one usage error naming the option."""
    clip = str(shared_file(CLIP))
    rc = main(["video", clip, *args, "--duration", "0.1", "-o", str(tmp_path / "o.mp4")])
    err = capsys.readouterr().err
    where = "" if args[0] in ("--lens", "--camera") else f"{clip}: "
    assert rc == 2 and err.startswith(f"error ({kind}): {where}{says}"), err
    assert list(tmp_path.iterdir()) == []


def test_develop_lut_with_an_unknown_extension_is_a_usage_error_before_work(tmp_path, capsys):
    raw = str(shared_file("raw/decodable/canon_kiss_x4__colorchecker.dng"))
    rc = main(["develop", raw, "--lut", "photo.jpg", "-o", str(tmp_path) + "/"])
    assert rc == 2 and "unknown LUT file extension '.jpg'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("line, says", [
    ("zoom = 0", "zoom must be ≥ 0.1 and ≤ 10, got 0.0"),
    ("duration_s = -5", "duration_s must be > 0 and ≤ 1e+09, got -5.0"),  # said "--start must be ≥ 0 and --duration > 0"
    ("max_crop_zoom = 20", "max_crop_zoom must be ≥ 1 and ≤ 10, got 20.0"),
])
def test_video_table_values_are_checked_with_file_and_line(tmp_path, capsys, line, says):
    rec = tmp_path / "r.toml"
    rec.write_text(f"exposure_ev = 0\n[video]\n{line}\n")
    rc = main(["video", str(shared_file(CLIP)), "--recipe", str(rec), "-o", str(tmp_path / "o.mp4")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith(f"error (RecipeError): {rec}:3: {says}"), err
