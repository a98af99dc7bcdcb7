"""Atomic outputs (RELIABILITY.md E2, E3; cases 18 and 19)."""

from __future__ import annotations

import errno
import os

import pytest

from l2tech.errors import OutputError, OutputExistsError, UsageError
from l2tech.io.atomic import atomic_output, check_distinct_outputs, check_output_path


def test_failure_leaves_no_temp_and_keeps_earlier_output(tmp_path):
    out = tmp_path / "a.txt"
    out.write_text("earlier")
    with pytest.raises(RuntimeError):
        with atomic_output(out, overwrite=True) as tmp:
            tmp.write_text("half")
            raise RuntimeError("boom")
    assert out.read_text() == "earlier"
    assert sorted(os.listdir(tmp_path)) == ["a.txt"]


def test_disk_full_is_reported_and_cleaned(tmp_path):
    out = tmp_path / "b.bin"
    with pytest.raises(OutputError, match="disk full"):
        with atomic_output(out) as tmp:
            tmp.write_bytes(b"x")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert os.listdir(tmp_path) == []


def test_missing_and_readonly_folders(tmp_path, monkeypatch):
    with pytest.raises(OutputError, match="does not exist"):
        check_output_path(tmp_path / "nope" / "x.jpg")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        if os.access(ro, os.W_OK):  # root ignores permission bits: make the check see a read-only folder
            import l2tech.io.atomic as atomic_mod

            real = os.access
            monkeypatch.setattr(atomic_mod.os, "access", lambda p, mode: False if str(p) == str(ro) else real(p, mode))
        with pytest.raises(OutputError, match="ro: destination folder is not writable"):
            check_output_path(ro / "x.jpg")
    finally:
        ro.chmod(0o700)


def test_output_equal_to_input_refused(tmp_path):
    inp = tmp_path / "in.jpg"
    inp.write_bytes(b"x")
    link = tmp_path / "link.jpg"
    link.symlink_to(inp)
    with pytest.raises(UsageError, match="same file as an input"):
        check_output_path(link, inputs=[inp], overwrite=True)


def test_existing_output_needs_overwrite(tmp_path):
    out = tmp_path / "o.jpg"
    out.write_bytes(b"x")
    with pytest.raises(OutputExistsError):
        check_output_path(out)
    assert check_output_path(out, overwrite=True) == out


def test_two_inputs_one_output_detected(tmp_path):
    with pytest.raises(OutputExistsError, match="two inputs have the same name"):
        check_distinct_outputs([tmp_path / "a.jpg", tmp_path / "b.jpg", tmp_path / "a.jpg"])


def test_permissions_are_normal(tmp_path):
    out = tmp_path / "p.txt"
    with atomic_output(out) as tmp:
        tmp.write_text("x")
    assert out.stat().st_mode & 0o044  # readable by group/others under a normal umask
