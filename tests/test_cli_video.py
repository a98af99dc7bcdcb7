"""`l2 video` in-process: exit codes, outputs opened and checked."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import shared_file
from l2tech.cli.main import main
from l2tech.video.synth import numbered_frames, write_clip

GOPRO = "video/gopro_hero5_karma_drone.mp4"
GOPRO_PROFILE = "profiles/gyroflow/GoPro_HERO5_Black_Wide_NO-EIS_4by3.json"
CCTV = "video/fisheye_cctv_1440_circular.mp4"


def _video_summary(path):
    import av

    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        n = sum(1 for _ in c.decode(video=0))  # playable: every frame decodes
        dur = float(vs.duration * vs.time_base)
        types = [s.type for s in c.streams]
        handlers = [s.metadata.get("handler_name", "").strip() for s in c.streams]
    return n, dur, types, handlers


def test_gopro_defish_acceptance(tmp_path):
    """Issue acceptance: the GoPro clip with the HERO5 Wide 4:3 Gyroflow profile, de-fished to
    rectilinear: same frame count and duration, audio and the GPMF track kept."""
    src = shared_file(GOPRO)
    prof = shared_file(GOPRO_PROFILE)
    out = tmp_path / "out.mp4"
    rc = main(["video", str(src), "--profile", str(prof), "--projection", "rectilinear", "-o", str(out), "-q"])
    assert rc == 0 and out.exists()
    n_in, dur_in, _, _ = _video_summary(src)
    n_out, dur_out, types, handlers = _video_summary(out)
    assert n_out == n_in == 362
    assert dur_out == pytest.approx(dur_in, abs=1e-3)
    assert types.count("audio") == 1
    assert "GoPro MET" in handlers  # the gpmd (GPMF telemetry) track


def test_cctv_defish_json(tmp_path, capsys):
    src = shared_file(CCTV)
    out = tmp_path / "flat.mp4"
    rc = main(["video", str(src), "-o", str(out), "--lens-model", "opencv",
               "--intrinsics", "548.88,549.34,722.45,718.90",
               "--dist-coeffs=-0.14396,0.028807,0.0010504,-0.000338,-0.0033234",
               "--duration", "0.5", "--json"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["done"], summary["failed"], len(summary["results"])) == (1, 0, 1)  # one object, as develop's
    doc = summary["results"][0]
    assert doc["ok"] and doc["frames_written"] == 13 and doc["width_px"] == 1440
    assert any("calibration 1440x1440 -> frame 1440x1440" in line for line in doc["setup"])
    n, _, types, _ = _video_summary(out)
    assert n == 13 and "audio" in types


def test_lut_applied(tmp_path):
    from l2tech.color.lut import LUT3D
    from l2tech.color.lut_io import write_cube

    src = tmp_path / "in.mp4"
    frames = [np.full((48, 64, 3), v, np.uint8) for v in (60, 120, 180)]
    write_clip(src, frames, options={"qp": "0", "preset": "ultrafast"})
    ident = LUT3D.identity(17)
    invert = LUT3D((1.0 - np.asarray(ident.table)).astype(np.float32), ident.domain)
    cube = tmp_path / "invert.cube"
    write_cube(invert, cube)
    out = tmp_path / "out.mp4"
    rc = main(["video", str(src), "--lut", str(cube), "--input-encoding", "V-Log", "--crf", "0", "-o", str(out), "-q"])
    assert rc == 0
    import av

    with av.open(str(out)) as c:
        got = [f.to_ndarray(format="rgb24").mean() for f in c.decode(video=0)]
    assert got == pytest.approx([255 - 60, 255 - 120, 255 - 180], abs=1.5)


def test_exit_codes_and_messages(tmp_path, capsys):
    clip = tmp_path / "c.mp4"
    write_clip(clip, numbered_frames(3, 64, 48))
    # missing input: exit 1, one line naming the file
    rc = main(["video", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o.mp4")])
    err = capsys.readouterr().err
    assert rc == 1 and "missing.mp4" in err and "Traceback" not in err
    # existing output without --overwrite: skipped with a message (as develop/correct), kept; with it: replaced
    (tmp_path / "o.mp4").write_bytes(b"x")
    assert main(["video", str(clip), "-o", str(tmp_path / "o.mp4"), "-q"]) == 0
    err = capsys.readouterr().err
    assert "skipped" in err and "already exists" in err and (tmp_path / "o.mp4").read_bytes() == b"x"
    assert main(["video", str(clip), "-o", str(tmp_path / "o.mp4"), "--overwrite", "-q"]) == 0
    # usage errors: 2
    assert main(["video", str(clip), "-o", str(tmp_path / "u.mp4"), "--dist-coeffs", "0.1,0.2"]) == 2
    assert main(["video", str(clip), "-o", str(tmp_path / "u.mp4"), "--size", "63x48"]) == 2
    assert main(["video", str(clip), "-o", str(tmp_path / "u.mp4"), "--projection", "rectilinear"]) == 2
    assert not (tmp_path / "u.mp4").exists()


def test_batch_into_folder(tmp_path, capsys):
    a, b = tmp_path / "a.mp4", tmp_path / "b.mkv"
    write_clip(a, numbered_frames(3, 64, 48))
    write_clip(b, numbered_frames(4, 64, 48))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"")
    outdir = tmp_path / "out"
    outdir.mkdir()
    rc = main(["video", str(a), str(bad), str(b), "-o", str(outdir), "--size", "32x24"])
    assert rc == 1  # one input failed, the others were written (E5)
    assert "empty file" in capsys.readouterr().err
    import av

    for name, n in (("a.mp4", 3), ("b.mkv", 4)):  # each clip keeps its container
        with av.open(str(outdir / name)) as c:
            frames = list(c.decode(video=0))
            assert len(frames) == n and (frames[0].width, frames[0].height) == (32, 24)
    assert not (outdir / "bad.mp4").exists()


def test_two_inputs_one_output_refused_before_work(tmp_path, capsys):
    d1, d2 = tmp_path / "d1", tmp_path / "d2"
    d1.mkdir()
    d2.mkdir()
    for d in (d1, d2):
        write_clip(d / "clip.mp4", numbered_frames(2, 64, 48))
    outdir = tmp_path / "out"
    outdir.mkdir()
    rc = main(["video", str(d1 / "clip.mp4"), str(d2 / "clip.mp4"), "-o", str(outdir)])
    assert rc == 1 and "would write this one output" in capsys.readouterr().err
    assert list(outdir.iterdir()) == []


def test_named_look_mono(tmp_path):
    """`--look mono` (a builtin look of l2tech.color) through the video path: grey output."""
    import av

    rng = np.random.default_rng(11)
    frames = [np.repeat(np.repeat(rng.integers(30, 220, (3, 4, 3)).astype(np.uint8), 16, 0), 16, 1) for _ in range(2)]
    src = tmp_path / "color.mp4"
    write_clip(src, frames, options={"qp": "0", "preset": "ultrafast"})
    out = tmp_path / "mono.mp4"
    assert main(["video", str(src), "--look", "mono", "--crf", "0", "-o", str(out), "-q"]) == 0
    with av.open(str(out)) as c:
        f = next(c.decode(video=0)).to_ndarray(format="rgb24").astype(int)
    inner = f[4:12, 4:12]
    assert np.abs(inner[..., 0] - inner[..., 1]).max() <= 2 and np.abs(inner[..., 1] - inner[..., 2]).max() <= 2
    assert inner.std() > 0 or f.std() > 5  # not a blank frame
    assert f.std() > 5


def test_video_with_lcp_and_opencv_yaml_profiles(tmp_path, capsys):
    """--profile takes every profile file the stills engine reads (Adobe LCP and OpenCV YAML here),
    not only Gyroflow JSON and lensfun XML."""
    from test_interop_lcp import ENTRIES, _lcp

    from l2tech.video.synth import write_clip

    yy, xx = np.mgrid[0:64, 0:96]
    frame = np.repeat((((xx // 8 + yy // 8) % 2) * 180 + 40).astype(np.uint8)[..., None], 3, axis=2)
    src = tmp_path / "in.mp4"
    write_clip(src, [frame] * 4, options={"qp": "0", "preset": "ultrafast"})
    lcp = tmp_path / "lens.lcp"
    lcp.write_bytes(_lcp(*ENTRIES))
    out = tmp_path / "lcp.mp4"
    rc = main(["video", str(src), "-o", str(out), "--profile", str(lcp), "--focal-length", "24", "--f-number", "4", "--json"])
    text = capsys.readouterr().out
    assert rc == 0, text
    doc = json.loads(text)["results"][0]
    assert doc["frames_written"] == 4 and any("EF24-105mm" in line and "lens.lcp" in line for line in doc["setup"])
    yml = shared_file("profiles/opencv_yaml/VINS-Mono__config_euroc_euroc_config.yaml")  # 752x480 pinhole
    src2 = tmp_path / "in2.mp4"
    write_clip(src2, [np.zeros((480, 752, 3), np.uint8)] * 2, options={"qp": "0", "preset": "ultrafast"})
    rc = main(["video", str(src2), "-o", str(tmp_path / "yml.mp4"), "--profile", str(yml), "--json"])
    assert rc == 0, capsys.readouterr().out


def test_error_has_no_blank_line_before_it(tmp_path, capsys):
    """An input error is one line on stderr, with no blank line first (the progress bar, off a
    terminal, used to leave one)."""
    src = tmp_path / "c.mp4"
    write_clip(src, numbered_frames(2, 64, 48))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"")
    rc = main(["video", str(bad), "-o", str(tmp_path / "o.mp4")])
    err = capsys.readouterr().err
    assert rc == 1 and err.startswith("error (") and err.count("\n") == 1 and "bad.mp4" in err, repr(err)
    out = tmp_path / "ok.mp4"
    assert main(["video", str(src), "-o", str(out)]) == 0
    assert capsys.readouterr().err == ""


def test_no_lens_source_is_said(tmp_path, capsys):
    """A clip run with no lens source says the geometry is not corrected (not a silent re-encode)."""
    from l2tech.video.synth import write_clip

    src = tmp_path / "in.mp4"
    write_clip(src, [np.zeros((48, 64, 3), np.uint8)] * 2, options={"qp": "0", "preset": "ultrafast"})
    rc = main(["video", str(src), "-o", str(tmp_path / "o.mp4"), "--json"])
    doc = json.loads(capsys.readouterr().out)["results"][0]
    assert rc == 0 and any("no lens source" in line for line in doc["setup"])


def test_still_image_is_a_usage_error_and_the_batch_goes_on(tmp_path, capsys):
    """A JPEG given to `l2 video` (FFmpeg opens it as a one-frame image2 "clip") is a usage error:
    exit 2, no output for it, one line naming the file and the command to use; the clip beside it
    is still written."""
    import shutil

    from conftest import shared_file

    still = tmp_path / "photo.jpg"
    shutil.copyfile(shared_file("raw/jpeg_reference/canon_powershot_sx60hs.jpg"), still)
    clip = tmp_path / "clip.mp4"
    write_clip(clip, numbered_frames(2, 64, 48))
    outdir = tmp_path / "out"
    outdir.mkdir()
    rc = main(["video", str(still), str(clip), "-o", str(outdir), "-q"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "photo.jpg" in err and "still image" in err and "l2 correct" in err and "Traceback" not in err
    assert not (outdir / "photo.mp4").exists() and (outdir / "clip.mp4").is_file()


def test_profile_of_another_aspect_is_warned_about(tmp_path, capsys):
    """A 4:3 Gyroflow calibration (4000x3000) on the 16:9 GoPro clip (854x480): one warning line
    naming both sizes and --calib-crop; none once --calib-crop says which region the mode reads."""
    from conftest import shared_file

    clip, prof = str(shared_file("video/gopro_hero5_karma_drone.mp4")), str(shared_file(GOPRO_PROFILE))
    rc = main(["video", clip, "--profile", prof, "-o", str(tmp_path / "a.mp4"), "--duration", "0.1"])
    err = capsys.readouterr().err
    assert rc == 0
    lines = [l for l in err.splitlines() if l.startswith("warning: ")]
    assert len(lines) == 1 and "4000x3000" in lines[0] and "854x480" in lines[0] and "--calib-crop" in lines[0], err
    rc = main(["video", clip, "--profile", prof, "-o", str(tmp_path / "b.mp4"), "--duration", "0.1",
               "--calib-crop", "0,375.88,4000,2248.24"])
    assert rc == 0 and "warning" not in capsys.readouterr().err


@pytest.mark.parametrize("intrinsics, coeffs, message", [
    ("nan,549,722,718", "0.1,0,0,0", "--intrinsics: fx = nan is not a finite number"),
    ("548,549,722,718", "1e308,0,0,0", "--dist-coeffs: k1 = 1e+308 is outside [-1e+07, 1e+07]"),
    ("548,549,722,718", "0.1,0,0,inf", "--dist-coeffs: k4 = inf is not a finite number"),
    ("548,549,1e9,718", "0.1,0,0,0", "--intrinsics: cx = 1e+09 is outside"),
    ("-5,549,722,718", "0.1,0,0,0", "the focal lengths fx, fy must be at least 1 pixel"),
    ("1e-300,549,722,718", "0.1,0,0,0", "the focal lengths fx, fy must be at least 1 pixel"),
])
def test_command_line_lens_numbers_are_checked_as_profile_files_are(tmp_path, capsys, intrinsics, coeffs, message):
    """1e308 overflowed in the map with unnamed RuntimeWarnings; nan was refused only as "folds
    at radius nan": the numbers meet the bounds of l2tech.profiles.validate, exit 2, no output."""
    src = tmp_path / "in.mp4"
    write_clip(src, [np.full((48, 64, 3), 90, np.uint8)] * 2, options={"qp": "0", "preset": "ultrafast"})
    out = tmp_path / "out.mp4"
    rc = main(["video", str(src), "-o", str(out), "--lens-model", "opencv_fisheye",
               "--intrinsics", intrinsics, "--dist-coeffs", coeffs])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert message in err and "RuntimeWarning" not in err and err.strip().count("\n") == 0, err
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["in.mp4"]
