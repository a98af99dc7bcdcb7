"""Bad profile files at the reader's front door: one-line typed errors, never a traceback.

A missing file, a photo given as a profile and a text file OpenCV cannot parse each give an
:class:`~l2tech.errors.L2Error` naming the file, through every command that reads a profile
(``l2 lens show-file``, ``l2 lens convert``, ``l2 correct --profile``, ``l2 video --profile``).
"""

from __future__ import annotations

import numpy as np
import pytest

from l2tech.cli.main import main
from l2tech.errors import CorruptInputError, EmptyFileError, L2Error, UnsupportedFormatError

NOT_A_PROFILE = "not a lens profile (expected lensfun XML, Adobe LCP, Gyroflow JSON, OpenCV YAML/XML, DNG)"


def _jpeg(path, w=64, h=48):
    import cv2

    rng = np.random.default_rng(0)
    img = (rng.random((h, w, 3)) * 255).astype(np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    path.write_bytes(buf.tobytes())
    # the JPEG's bytes hold a ':' in the first 4 KiB, which once sent it to cv2.FileStorage
    return path


def _png(path):
    import cv2

    assert cv2.imwrite(str(path), np.zeros((8, 8, 3), np.uint8))
    return path


def _one_error_line(err: str, name: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err
    assert err[:1] not in ("\n", " "), repr(err[:40])  # no blank line before the message
    hits = [ln for ln in lines if ln.startswith("error")]
    assert len(hits) == 1, err
    assert name in hits[0] and "unexpected" not in hits[0], hits[0]
    return hits[0]


# ---------------------------------------------------------------------------------- library


def test_read_profile_missing_file_is_typed(tmp_path):
    from l2tech.profiles.sources import profile_format, read_profile

    p = tmp_path / "nope.json"
    for fn in (profile_format, read_profile):
        with pytest.raises(UnsupportedFormatError, match="nope.json: file not found"):
            fn(p)


def test_read_profile_folder_is_typed(tmp_path):
    from l2tech.profiles.sources import read_profile

    with pytest.raises(UnsupportedFormatError, match="folder"):
        read_profile(tmp_path)


@pytest.mark.parametrize("maker, kind", [(_jpeg, "JPEG"), (_png, "PNG")])
def test_photo_is_not_a_profile(tmp_path, maker, kind):
    from l2tech.profiles.sources import profile_format, read_profiles

    p = maker(tmp_path / f"photo.{kind.lower()}")
    for fn in (profile_format, read_profiles):
        with pytest.raises(UnsupportedFormatError) as ei:
            fn(p)
        assert str(ei.value) == f"{p}: {kind} image: {NOT_A_PROFILE}"


def test_binary_with_colon_is_not_a_profile(tmp_path):
    """Random bytes (seeded) holding ':' — the old YAML sniff — are refused, not parsed by OpenCV."""
    data = np.random.default_rng(1).integers(1, 256, 4096, dtype=np.uint8).tobytes()
    assert b":" in data and b"\0" not in data
    p = tmp_path / "blob.yaml"
    p.write_bytes(data)
    from l2tech.profiles.sources import read_profile

    with pytest.raises(UnsupportedFormatError, match="not a lens profile"):
        read_profile(p)


def test_opencv_reader_direct_on_photo_and_missing(tmp_path):
    """The OpenCV reader itself never lets cv2.error / SystemError / OSError out."""
    from l2tech.profiles.opencv_yaml import read_opencv_yaml

    with pytest.raises(UnsupportedFormatError, match="not a lens profile"):
        read_opencv_yaml(_jpeg(tmp_path / "cat.yaml"))
    with pytest.raises(UnsupportedFormatError, match="file not found"):
        read_opencv_yaml(tmp_path / "missing.yaml")
    (tmp_path / "empty.yaml").write_bytes(b"")
    with pytest.raises(EmptyFileError):
        read_opencv_yaml(tmp_path / "empty.yaml")


@pytest.mark.parametrize(
    "text, reason",
    [
        ("%YAML:1.0\ncamera_matrix: [1, 2\n", "cannot parse"),  # OpenCV parse error (was SystemError)
        ('%YAML:1.0\ncamera_matrix: "hello"\n', "cannot read the calibration"),  # cv2.error on a node
        ("camera_matrix: !!opencv-matrix\n  rows: 3\n  cols: 3\n  dt: d\n  data: [1, 2]\n", "cannot read the calibration"),
    ],
)
def test_opencv_text_it_cannot_parse_is_corrupt_input(tmp_path, text, reason):
    from l2tech.profiles.sources import read_profile

    p = tmp_path / "calib.yaml"
    p.write_text(text)
    with pytest.raises(CorruptInputError) as ei:
        read_profile(p)
    msg = str(ei.value)
    assert msg.startswith(f"{p}: OpenCV {reason}") and "\n" not in msg and "/io/opencv" not in msg, msg


# ---------------------------------------------------------------------------------- CLI


def test_lens_show_file_missing(tmp_path, capsys):
    rc = main(["lens", "show-file", str(tmp_path / "nope.json")])
    cap = capsys.readouterr()
    assert rc == 1 and cap.out == ""
    line = _one_error_line(cap.err, "nope.json")
    assert "InputNotFoundError" in line and "file not found" in line


def test_lens_show_file_photo(tmp_path, capsys):
    cat = _jpeg(tmp_path / "cat.jpg")
    rc = main(["lens", "show-file", str(cat)])
    cap = capsys.readouterr()
    assert rc == 1 and cap.out == ""
    assert NOT_A_PROFILE in _one_error_line(cap.err, "cat.jpg")


def test_lens_convert_photo_writes_nothing(tmp_path, capsys):
    cat = _jpeg(tmp_path / "cat.jpg")
    out = tmp_path / "x.xml"
    rc = main(["lens", "convert", str(cat), "-o", str(out)])
    cap = capsys.readouterr()
    assert rc == 1 and cap.out == ""
    assert NOT_A_PROFILE in _one_error_line(cap.err, "cat.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cat.jpg"]  # no output, no temp file


def test_lens_convert_missing_input(tmp_path, capsys):
    rc = main(["lens", "convert", str(tmp_path / "nope.yaml"), "-o", str(tmp_path / "x.xml")])
    cap = capsys.readouterr()
    assert rc == 1 and "file not found" in _one_error_line(cap.err, "nope.yaml")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("which", ["missing", "photo"])
def test_correct_with_bad_profile(tmp_path, capsys, which):
    w = _jpeg(tmp_path / "w.jpg")
    prof = tmp_path / "nope.json" if which == "missing" else _jpeg(tmp_path / "photo.jpg")
    out = tmp_path / "out"
    out.mkdir()
    rc = main(["correct", str(w), "--profile", str(prof), "-o", str(out)])
    cap = capsys.readouterr()
    assert rc == 1, cap
    line = _one_error_line(cap.err, prof.name)
    assert ("file not found" if which == "missing" else NOT_A_PROFILE) in line
    assert list(out.iterdir()) == []


def test_video_with_photo_as_profile(tmp_path, capsys):
    from l2tech.video.synth import numbered_frames, write_clip

    clip = tmp_path / "in.mp4"
    write_clip(clip, numbered_frames(3, 64, 48))
    photo = _jpeg(tmp_path / "photo.jpg")
    out = tmp_path / "o.mp4"
    rc = main(["video", str(clip), "--profile", str(photo), "-o", str(out)])
    cap = capsys.readouterr()
    assert rc == 1 and cap.out == ""
    assert NOT_A_PROFILE in _one_error_line(cap.err, "photo.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "photo.jpg"]


def test_every_profile_error_is_an_l2error(tmp_path):
    """Every failure above is also catchable as ValueError (the builtin the hierarchy inherits)."""
    from l2tech.profiles.sources import read_profile

    for p in (tmp_path / "nope.json", _jpeg(tmp_path / "c.jpg")):
        with pytest.raises(L2Error):
            read_profile(p)
        with pytest.raises(ValueError):
            read_profile(p)


def test_video_with_missing_profile_fails_the_input(tmp_path, capsys):
    """A missing --profile file is a failed input (exit 1, "file not found"), as in ``l2 correct``
    and ``l2 develop``; it was a usage error (exit 2) only in ``l2 video``."""
    from l2tech.video.synth import numbered_frames, write_clip

    clip = tmp_path / "in.mp4"
    write_clip(clip, numbered_frames(2, 64, 48))
    for name in ("nope.json", "nope.xml"):
        rc = main(["video", str(clip), "--profile", str(tmp_path / name), "-o", str(tmp_path / "o.mp4")])
        cap = capsys.readouterr()
        assert rc == 1 and cap.out == ""
        assert "InputNotFoundError" in _one_error_line(cap.err, name) and "file not found" in cap.err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def test_latin1_comment_in_calibration_is_still_read(tmp_path):
    """The binary check does not refuse text in a legacy 8-bit encoding (a Latin-1 comment)."""
    from l2tech.profiles.sources import read_profile

    p = tmp_path / "calib.yaml"
    p.write_bytes(
        "%YAML:1.0\n# Kalibrierung bei 20 \u00b0C, M\u00fcnchen\nimage_width: 640\nimage_height: 480\n"
        "camera_matrix: !!opencv-matrix\n   rows: 3\n   cols: 3\n   dt: d\n"
        "   data: [ 500., 0., 320., 0., 500., 240., 0., 0., 1. ]\n"
        "distortion_coefficients: !!opencv-matrix\n   rows: 1\n   cols: 5\n   dt: d\n"
        "   data: [ -0.1, 0.02, 0., 0., 0. ]\n".encode("latin-1")
    )
    prof = read_profile(p)
    assert prof.distortion[0].terms["k1"] == -0.1 and prof.distortion[0].terms["fx"] == 500.0
