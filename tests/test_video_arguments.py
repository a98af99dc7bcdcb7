"""``l2 video`` refuses bad numbers (options, a recipe's [video] table, a gyro CSV) up front:
one typed error line naming the option or file, exit code non-zero, no traceback, no output."""

from __future__ import annotations

import math
import os

import pytest

from l2tech.cli.main import main
from l2tech.video.synth import numbered_frames, write_clip


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "c.mp4"
    write_clip(path, numbered_frames(6, 64, 48, seed=0), rate=25)
    return path


def _refused(capsys, args, out, *, rc=2, error="UsageError", says=()):
    code = main(["video", *map(str, args), "-o", str(out)])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == rc, err
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error ({error}): "), err
    for s in says:
        assert s in lines[0], err
    assert "Traceback" not in err and "unexpected" not in err
    assert not os.path.exists(out) and not os.path.exists(f"{out}.l2.toml")
    assert not [p for p in os.listdir(os.path.dirname(out)) if p.startswith(".")], os.listdir(os.path.dirname(out))
    return lines[0]


# 1: a recipe's [video] out_size of 0x0 (was: unexpected ZeroDivisionError)
def test_recipe_out_size_zero_is_a_recipe_error_with_file_and_line(clip, tmp_path, capsys):
    rec = tmp_path / "os.toml"
    rec.write_text("[video]\nout_size = [0, 0]\n")
    line = _refused(capsys, [clip, "--recipe", rec, "--duration", "1"], tmp_path / "os.mp4", error="RecipeError",
                    says=(f"{rec}:2: out_size",))
    assert "positive even" in line
    # `l2 recipe show` reads [video] through the same reader
    assert main(["recipe", "show", "--recipe", str(rec)]) == 2
    err = capsys.readouterr().err
    assert f"error (RecipeError): {rec}:2: out_size" in err and "Traceback" not in err


@pytest.mark.parametrize("table", ["out_size = [64]", "out_size = [63, 48]", "calib_size = [0, 48]"])
def test_recipe_sizes_are_checked(clip, tmp_path, capsys, table):
    rec = tmp_path / "r.toml"
    rec.write_text(f"[video]\n{table}\n")
    key = table.split(" ")[0]
    _refused(capsys, [clip, "--recipe", rec], tmp_path / "o.mp4", error="RecipeError", says=(f"{rec}:2: {key}",))


# 2: stabilisation numbers (was: unexpected ValueError: cannot convert float NaN to integer)
@pytest.mark.parametrize("option, value", [
    ("--smoothness", "nan"), ("--smoothness", "inf"), ("--smoothness", "-1"), ("--smoothness", "1e300"),
    ("--gyro-offset", "nan"), ("--gyro-offset", "inf"),
    ("--readout-ms", "inf"), ("--readout-ms", "5000"),
    ("--adaptive-zoom", "nan"), ("--adaptive-zoom", "-2"),
])
def test_stabilize_options_are_checked_up_front(clip, tmp_path, capsys, option, value):
    _refused(capsys, [clip, "--stabilize", "flow", option, value, "--duration", "2"], tmp_path / "sm.mp4",
             says=(f"{option} must be",))


@pytest.mark.parametrize("table, key", [
    ("smoothness_s = nan", "smoothness_s"), ("gyro_offset_ms = inf", "gyro_offset_ms"),
    ("readout_ms = -3.0", "readout_ms"), ('readout_ms = "fast"', "readout_ms"), ("adaptive_zoom_s = -1.0", "adaptive_zoom_s"),
])
def test_stabilize_settings_in_a_recipe_are_checked(clip, tmp_path, capsys, table, key):
    rec = tmp_path / "r.toml"
    rec.write_text(f"[video]\n{table}\n")
    _refused(capsys, [clip, "--stabilize", "flow", "--recipe", rec], tmp_path / "o.mp4", error="RecipeError",
             says=(f"{rec}:2: {key} must be",))


# 3: a gyro CSV with an absurd rate (was: unexpected ValueError: Found zero norm quaternions in quat)
def _gyro_csv(path, bad_row=None, bad_value="1e308"):
    rows = ["t_s,gx,gy,gz"]
    for i in range(20000):
        gx = bad_value if i == bad_row else f"{0.01 * math.sin(i / 100):.6f}"
        rows.append(f"{i / 1000:.3f},{gx},0.0,0.0")
    path.write_text("\n".join(rows) + "\n")
    return path


@pytest.mark.parametrize("bad", ["1e308", "nan", "-inf", "150"])
def test_gyro_csv_with_an_absurd_rate_names_file_and_line(clip, tmp_path, capsys, bad):
    csv = _gyro_csv(tmp_path / "g.csv", bad_row=5000, bad_value=bad)
    line = _refused(capsys, [clip, "--stabilize", "gyro", "--gyro", csv, "--duration", "1"], tmp_path / "g.mp4",
                    rc=1, error="CorruptInputError", says=(f"{csv}:5002: ",))
    assert "rad/s" in line or "finite" in line


def test_gyro_csv_reader_bounds(tmp_path):
    from l2tech.errors import CorruptInputError
    from l2tech.video.telemetry import MAX_GYRO_RATE_RAD_S, read_gyro_csv

    p = tmp_path / "g.csv"
    p.write_text(f"t_s,gx,gy,gz\n0,{MAX_GYRO_RATE_RAD_S},0,0\n0.001,0,0,-{MAX_GYRO_RATE_RAD_S}\n")
    assert len(read_gyro_csv(p).gyro_t_s) == 2  # the bound itself is allowed
    p.write_text("t_s,gx,gy,gz\n0,0,0,0\n1e308,0,0,0\n")
    with pytest.raises(CorruptInputError, match=r"g\.csv:3: t_s"):
        read_gyro_csv(p)


def test_gyro_fifo_is_not_a_regular_file(clip, tmp_path, capsys):
    fifo = tmp_path / "g.csv"
    os.mkfifo(fifo)
    line = _refused(capsys, [clip, "--stabilize", "gyro", "--gyro", fifo, "--duration", "1"], tmp_path / "g.mp4",
                    rc=1, error="InputNotFoundError", says=(str(fifo),))
    assert "not a regular file" in line and "not found" not in line


# 4: --zoom's range 0.1-10 (was: overflow warning, then "folds at ray angle 0.00 deg"; 1e-300 accepted)
@pytest.mark.parametrize("value", ["1e308", "inf", "1e-300", "nan", "0", "-1", "0.05", "11"])
def test_zoom_out_of_range_is_a_usage_error(clip, tmp_path, capsys, value):
    _refused(capsys, [clip, "--zoom", value], tmp_path / "z.mp4", says=("--zoom must be ≥ 0.1 and ≤ 10",))


def test_zoom_range_is_in_the_help(capsys):
    assert main(["video", "--help"]) == 0
    assert "0.1 to 10" in " ".join(capsys.readouterr().out.split())


# 5: encoder settings (was: exit 0 and a sidecar that does not read back; raw FFmpeg text for -5M)
@pytest.mark.parametrize("option, value", [
    ("--crf", "99999999999999999999"), ("--crf", "-1"), ("--crf", "64"), ("--qp", "-1"), ("--qp", "82"),
    ("--bitrate", "0"), ("--bitrate", "-5M"), ("--bitrate", "inf"), ("--bitrate", "nan"), ("--bitrate", "fast"),
    ("--bitrate", "100G"),
])
def test_encoder_options_are_checked_up_front(clip, tmp_path, capsys, option, value):
    line = _refused(capsys, [clip, option, value], tmp_path / "c.mp4", says=(f"{option} must be",))
    assert "avcodec" not in line and "libx264" not in line


@pytest.mark.parametrize("table, key", [("crf = 99", "crf"), ("qp = -1", "qp"), ('bitrate = "-5M"', "bitrate"),
                                        ("bitrate = 0", "bitrate")])
def test_encoder_settings_in_a_recipe_are_checked(clip, tmp_path, capsys, table, key):
    rec = tmp_path / "r.toml"
    rec.write_text(f"[video]\n{table}\n")
    _refused(capsys, [clip, "--recipe", rec], tmp_path / "o.mp4", error="RecipeError", says=(f"{rec}:2: {key} must be",))


def test_the_sidecar_of_edge_settings_reads_back(clip, tmp_path, capsys):
    from l2tech.pipeline.video import read_video_settings

    out = tmp_path / "e.mp4"
    assert main(["video", str(clip), "--crf", "63", "--zoom", "10", "-o", str(out), "-q"]) == 0
    settings = read_video_settings(f"{out}.l2.toml")
    assert settings["crf"] == 63 and settings["zoom"] == 10.0


# 6: --start nan (was: "got nan, None")
@pytest.mark.parametrize("option", ["--start", "--duration"])
def test_start_and_duration_nan_name_the_option(clip, tmp_path, capsys, option):
    line = _refused(capsys, [clip, option, "nan"], tmp_path / "s.mp4", says=(f"{option} must be", "got nan"))
    assert "None" not in line


def test_process_video_start_message_has_no_none(clip, tmp_path):
    from l2tech.errors import UsageError
    from l2tech.video.transcode import process_video

    with pytest.raises(UsageError) as e:
        process_video(clip, tmp_path / "s.mp4", start_s=float("nan"))
    assert "--start" in str(e.value) and "None" not in str(e.value)
