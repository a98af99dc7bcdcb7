"""A batch survives bad arguments (RELIABILITY.md E5; issue 16 item 5).

A missing file, a folder named like an image, or a file that cannot be read used to make click
reject every argument (exit 2, nothing processed). Each input is now checked on its own: the bad
ones are reported once each with a typed error naming the file, the rest are processed, exit 1.
"""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

import l2tech.pipeline.batch as batch_mod
from l2tech.cli.main import main
from l2tech.errors import InputNotFoundError, InputNotReadableError
from l2tech.pipeline.batch import check_input_file


def _jpeg(path, value):
    assert cv2.imwrite(str(path), np.full((32, 48, 3), value, np.uint8))
    return path


def _deny_reading(monkeypatch, denied):
    """Make ``open(2)`` of ``denied`` fail with EACCES, as chmod 000 does for a non-root user
    (root reads any file, so the permission bits alone cannot show it when tests run as root)."""
    real_open = batch_mod.os.open

    def fake_open(path, flags, *a, **kw):
        if os.fspath(path) == os.fspath(denied):
            raise PermissionError(13, "Permission denied")
        return real_open(path, flags, *a, **kw)

    monkeypatch.setattr(batch_mod.os, "open", fake_open)


def test_check_input_file_names_each_problem(tmp_path, monkeypatch):
    folder = tmp_path / "shot.dng"
    folder.mkdir()
    with pytest.raises(InputNotFoundError, match=r"shot\.dng: is a folder, not a file"):
        check_input_file(folder)
    with pytest.raises(InputNotFoundError, match=r"nope\.dng: file not found"):
        check_input_file(tmp_path / "nope.dng")
    dangling = tmp_path / "link.dng"
    dangling.symlink_to(tmp_path / "gone.dng")
    with pytest.raises(InputNotFoundError, match=r"link\.dng: file not found"):
        check_input_file(dangling)
    locked = _jpeg(tmp_path / "locked.jpg", 10)
    _deny_reading(monkeypatch, locked)
    with pytest.raises(InputNotReadableError, match=r"locked\.jpg: cannot read the file: Permission denied"):
        check_input_file(locked)
    readable = _jpeg(tmp_path / "fine.jpg", 20)
    assert check_input_file(readable) == readable


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a chmod 000 file; covered by the EACCES test above")
def test_check_input_file_real_permissions(tmp_path):
    locked = _jpeg(tmp_path / "locked.jpg", 10)
    locked.chmod(0)
    try:
        with pytest.raises(InputNotReadableError, match="Permission denied"):
            check_input_file(locked)
    finally:
        locked.chmod(0o600)


def test_correct_batch_goes_on_past_bad_arguments(tmp_path, capsys, monkeypatch):
    good1 = _jpeg(tmp_path / "a.jpg", 60)
    folder = tmp_path / "b.jpg"  # a folder named like an image
    folder.mkdir()
    locked = _jpeg(tmp_path / "c.jpg", 90)
    missing = tmp_path / "d.jpg"
    good2 = _jpeg(tmp_path / "e.jpg", 200)
    _deny_reading(monkeypatch, locked)
    out = tmp_path / "out"
    args = [str(p) for p in (good1, folder, locked, missing, good2)]
    rc = main(["correct", *args, "-o", str(out), "--no-lens-correction", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert rc == 1  # some failed; not 2 (usage error), which used to reject the whole batch
    got = {os.path.basename(r["input"]): (r["status"], r.get("error_type"), r.get("error", "")) for r in doc["results"]}
    assert {k: v[:2] for k, v in got.items()} == {
        "a.jpg": ("ok", None),
        "b.jpg": ("failed", "InputNotFoundError"),
        "c.jpg": ("failed", "InputNotReadableError"),
        "d.jpg": ("failed", "InputNotFoundError"),
        "e.jpg": ("ok", None),
    }
    assert got["b.jpg"][2] == f"{folder}: is a folder, not a file"
    assert got["c.jpg"][2] == f"{locked}: cannot read the file: Permission denied"
    assert got["d.jpg"][2] == f"{missing}: file not found"
    assert (doc["ok"], doc["failed"]) == (2, 3)
    assert sorted(os.listdir(out)) == [".l2-journal.jsonl", "a.jpg", "a.jpg.l2.toml", "e.jpg", "e.jpg.l2.toml"]
    # the good files are processed exactly as they would be alone
    for good in (good1, good2):
        alone = tmp_path / f"alone_{good.name}"
        assert main(["correct", str(good), "-o", str(alone), "--no-lens-correction", "-q"]) == 0
        assert (out / good.name).read_bytes() == alone.read_bytes()


def test_develop_reports_one_line_per_bad_argument(tmp_path, capsys):
    folder = tmp_path / "IMG_1.dng"
    folder.mkdir()
    rc = main(["develop", str(folder), str(tmp_path / "IMG_2.dng"), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 1
    lines = [ln for ln in err.splitlines() if ln.startswith("error")]
    assert lines == [
        f"error (InputNotFoundError): {folder}: is a folder, not a file",
        f"error (InputNotFoundError): {tmp_path / 'IMG_2.dng'}: file not found",
    ]


def test_video_batch_goes_on_past_bad_arguments(tmp_path, capsys):
    from l2tech.video.synth import numbered_frames, write_clip

    good = tmp_path / "good.mp4"
    write_clip(good, numbered_frames(6))
    folder = tmp_path / "clip.mp4"
    folder.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    rc = main(["video", str(folder), str(tmp_path / "none.mp4"), str(good), "-o", str(out) + "/",
               "--lens-model", "opencv", "--intrinsics", "50,50,32,24", "--dist-coeffs", "0,0,0,0", "--json"])
    summary = json.loads(capsys.readouterr().out)
    doc = summary["results"]
    assert rc == 1 and (summary["done"], summary["failed"]) == (1, 2)
    assert [(os.path.basename(r["input"]), r["ok"], r.get("error_type")) for r in doc] == [
        ("clip.mp4", False, "InputNotFoundError"),
        ("none.mp4", False, "InputNotFoundError"),
        ("good.mp4", True, None),
    ]
    assert doc[2]["frames_written"] == 6
    assert sorted(os.listdir(out)) == [".l2-journal.jsonl", "good.mp4", "good.mp4.l2.toml"]  # journal, sidecar
