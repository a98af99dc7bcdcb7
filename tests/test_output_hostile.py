"""Hostile output folders and arguments (RELIABILITY.md E1/E3): a stale temp file with an
impossible PID, a journal that is nested too deep, too long, a folder or a pipe, a malformed
``--cluster`` address, and an output name held by a pipe or a device node.

Each must be one typed error line (or a warning with the job done), never a traceback, never an
output left behind by a job reported failed, never a pipe or device replaced by a file.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
import time
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from l2tech.cli.main import main
from l2tech.errors import OutputError
from l2tech.io import atomic
from l2tech.io.atomic import OutputFolderWarning, remove_stale_temps
from l2tech.io.image import write_image
from l2tech.pipeline.journal import JOURNAL_NAME, MAX_LINE, Journal, JournalWarning

pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo") or not Path("/proc/self/stat").exists(),
                                reason="named pipes and /proc need Linux")

_SRC = str(Path(__file__).resolve().parents[1] / "src")


def _within(seconds: float, fn):
    """Run ``fn()`` in a thread; fail (rather than hang the suite) if it has not returned in ``seconds``."""
    box: dict = {}

    def target():
        try:
            box["rc"] = fn()
        except BaseException as exc:  # noqa: BLE001
            box["exc"] = exc

    th = threading.Thread(target=target, daemon=True)
    th.start()
    th.join(seconds)
    if th.is_alive():
        pytest.fail(f"did not return within {seconds} s")
    if "exc" in box:
        raise box["exc"]
    return box["rc"]


@pytest.fixture
def png(tmp_path) -> Path:
    p = tmp_path / "in" / "a.png"
    p.parent.mkdir()
    write_image(p, np.full((16, 16, 3), 0.5, np.float32), bits=8)
    return p


def _correct(src: Path, out: str, *extra: str) -> list[str]:
    return ["correct", str(src), "-o", out, "--no-lens-correction", *extra]


def _temps(folder: Path) -> list[str]:
    return [n for n in os.listdir(folder) if ".l2tmp-" in n]


def _no_traceback(text: str) -> None:
    assert "Traceback" not in text and "unexpected" not in text, text


# --------------------------------------------------------------------------- 1: stale temp sweep

@pytest.mark.parametrize("pid", ["2147483648", "99999999999999999999999", "0", "4194305"])
def test_stale_temp_with_an_impossible_pid_is_removed_and_correct_runs(png, tmp_path, capsys, pid):
    out = tmp_path / "out"
    out.mkdir()
    stale = out / f".a.l2tmp-{pid}-abcdefgh.png"
    stale.touch()
    atomic._SWEPT.clear()
    rc = main(_correct(png, str(out) + os.sep))
    o, e = capsys.readouterr()
    _no_traceback(o + e)
    assert rc == 0, o + e
    assert (out / "a.png").is_file() and not stale.exists() and _temps(out) == []


def test_stale_temp_with_a_huge_pid_does_not_stop_lut_bake(tmp_path, capsys):
    stale = tmp_path / ".x.l2tmp-2147483648-abcdefgh.cube"
    stale.touch()
    atomic._SWEPT.clear()
    rc = main(["lut", "bake", "--look", "mono", "-o", str(tmp_path / "x.cube")])
    o, e = capsys.readouterr()
    _no_traceback(o + e)
    assert rc == 0 and (tmp_path / "x.cube").is_file() and not stale.exists()


def _tiny_clip(path: Path) -> None:
    import av

    with av.open(str(path), "w") as c:
        vs = c.add_stream("libx264", rate=25)
        vs.width = vs.height = 64
        vs.pix_fmt = "yuv420p"
        vs.options = {"preset": "ultrafast"}
        for i in range(3):
            f = av.VideoFrame.from_ndarray(np.full((64, 64, 3), 100 + 20 * i, np.uint8), format="rgb24")
            f.pts, f.time_base = i, Fraction(1, 25)
            for pkt in vs.encode(f):
                c.mux(pkt)
        for pkt in vs.encode():
            c.mux(pkt)


def test_stale_temp_with_a_huge_pid_does_not_stop_video(tmp_path):
    pytest.importorskip("av")
    clip = tmp_path / "clip.mp4"
    _tiny_clip(clip)
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".clip.l2tmp-2147483648-abcdefgh.mp4"
    stale.touch()
    r = subprocess.run([sys.executable, "-m", "l2tech.cli", "video", str(clip), "-o", str(out) + os.sep],
                       env={**os.environ, "PYTHONPATH": _SRC}, capture_output=True, text=True, timeout=300)
    _no_traceback(r.stdout + r.stderr)
    assert r.returncode == 0, r.stderr
    assert (out / "clip.mp4").is_file() and not stale.exists() and _temps(out) == []


def test_a_sweep_failure_is_a_warning_and_the_file_is_left(tmp_path, monkeypatch):
    p = tmp_path / ".a.l2tmp-12345-abcdefgh.jpg"
    p.touch()

    def boom(pid, mtime):
        raise RuntimeError("cannot tell")

    monkeypatch.setattr(atomic, "_writer_alive", boom)
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        assert remove_stale_temps(tmp_path) == []
    assert p.exists()
    assert [str(w.message) for w in got if w.category is OutputFolderWarning] == \
        [f"{p}: stale temp file left in place: RuntimeError: cannot tell"]


# --------------------------------------------------------------------------- 2: the journal

def _journal_run(png: Path, out: Path, capsys) -> tuple[int, str, list[str]]:
    """Run ``correct`` into ``out``; its exit code, its output and its journal warning lines (as
    the CLI prints them: ``warning: MESSAGE``)."""
    atomic._SWEPT.clear()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        rc = _within(60, lambda: main(_correct(png, str(out) + os.sep)))
    o, e = capsys.readouterr()
    said = [ln[len("warning: "):] for ln in (o + e).splitlines() if ln.startswith("warning: ") and JOURNAL_NAME in ln]
    return rc, o + e, said


def test_journal_line_nested_too_deep_is_skipped_with_a_warning(png, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / JOURNAL_NAME).write_text('{"a":' * 2000)
    rc, text, said = _journal_run(png, out, capsys)
    _no_traceback(text)
    assert rc == 0 and (out / "a.png").is_file()
    assert len(said) == 1 and said[0].startswith(f"{out / JOURNAL_NAME}:1: ") and "nested too deep" in said[0]
    with pytest.warns(JournalWarning, match="nested too deep"):  # the bad line is still there, said again
        assert Journal(out).get("a.png") is not None  # its line starts a line of its own after the bad one


def test_journal_lines_too_long_or_not_entries_are_skipped_with_one_warning(png, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    good = ('{"output": "b.png", "input": "/x/b.png", "recipe_hash": "h", "input_sha256": "s", "input_size": 1, '
            '"input_mtime_ns": 1, "output_sha256": "s", "output_size": 1, "output_mtime_ns": 1}')
    (out / JOURNAL_NAME).write_text("x" * (MAX_LINE * 3) + "\n[1, 2]\nnot json\n"
                                    + good.replace('"b.png"', '["list"]', 1) + "\n" + good + "\n")
    with warnings.catch_warnings(record=True) as got:
        warnings.simplefilter("always")
        j = Journal(out)
    said = [str(w.message) for w in got if w.category is JournalWarning]
    assert list(j.entries) == ["b.png"]
    assert len(said) == 1 and said[0].startswith(f"{out / JOURNAL_NAME}:1: ") and "and 3 more line(s)" in said[0]
    rc, text, _ = _journal_run(png, out, capsys)
    _no_traceback(text)
    assert rc == 0 and (out / "a.png").is_file()


def test_journal_line_cut_short_by_a_kill_is_ignored_silently(png, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / JOURNAL_NAME).write_text('{"output": "b.png", "inp')
    rc, text, said = _journal_run(png, out, capsys)
    assert rc == 0 and said == []
    assert Journal(out).get("a.png") is not None


@pytest.mark.parametrize("kind", ["folder", "pipe"])
def test_journal_that_is_not_a_file_is_one_error_before_any_output(png, tmp_path, capsys, kind):
    out = tmp_path / "out"
    out.mkdir()
    j = out / JOURNAL_NAME
    j.mkdir() if kind == "folder" else os.mkfifo(j)
    rc, text, _ = _journal_run(png, out, capsys)
    _no_traceback(text)
    assert rc == 1  # the output folder's problem, as an output that cannot be written (not a usage error)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(j) in lines[0] and "OutputError" in lines[0], text
    assert sorted(os.listdir(out)) == [JOURNAL_NAME]  # no output, no sidecar, no temp file
    assert j.is_dir() if kind == "folder" else stat.S_ISFIFO(os.lstat(j).st_mode)


def test_journal_that_cannot_take_a_line_is_a_warning_and_the_job_ok(png, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()

    def full(self, entry):  # as Journal.append reports a write that failed (ENOSPC)
        raise OutputError("cannot write the batch journal: No space left on device", path=self.path)

    monkeypatch.setattr(Journal, "append", full)
    rc, text, said = _journal_run(png, out, capsys)
    _no_traceback(text)
    assert rc == 0 and (out / "a.png").is_file()
    assert len(said) == 1 and said[0].startswith(str(out / JOURNAL_NAME)) and "a.png not recorded" in said[0]


# --------------------------------------------------------------------------- 3: --cluster

@pytest.mark.parametrize("address", ["garbage://x", "tcp://", "tcp://:8786", "tcp://h:99999", "tcp://h:abc",
                                     "tcp://h:0", "tcp://h:8786/path", "http://h:8786", " "])
def test_malformed_cluster_address_is_one_usage_error_at_once(png, tmp_path, capsys, address):
    out = tmp_path / "cl"
    t0 = time.monotonic()
    rc = _within(30, lambda: main(_correct(png, str(out) + os.sep, "--cluster", address)))
    o, e = capsys.readouterr()
    assert time.monotonic() - t0 < 10
    _no_traceback(o + e)
    assert rc == 2
    lines = [ln for ln in (o + e).splitlines() if ln.strip()]
    assert len(lines) == 1 and "UsageError" in lines[0] and "--cluster" in lines[0], o + e
    assert not out.exists()  # the output folder the run made is not left behind, empty


def test_malformed_cluster_address_in_a_process_leaves_no_dask_noise(png, tmp_path):
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "l2tech.cli", *_correct(png, str(tmp_path / "cl") + os.sep,
                                                                      "--cluster", "garbage://x")],
                       env={**os.environ, "PYTHONPATH": _SRC}, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - t0 < 20
    assert r.returncode == 2, r.stderr
    _no_traceback(r.stdout + r.stderr)
    assert "Exception ignored" not in r.stderr
    assert [ln for ln in (r.stdout + r.stderr).splitlines() if ln.strip()] == [
        "error (UsageError): --cluster 'garbage://x': unknown address scheme 'garbage' (known: tcp, tls, ws, wss, ucx, "
        "inproc); expected a Dask scheduler address such as tcp://HOST:8786"]


# --------------------------------------------------------------------------- 4: pipes and devices

def test_overwrite_never_replaces_a_pipe(png, tmp_path, capsys):
    pipe = tmp_path / "pipe.png"
    os.mkfifo(pipe)
    rc = _within(60, lambda: main(_correct(png, str(pipe), "--overwrite")))
    o, e = capsys.readouterr()
    _no_traceback(o + e)
    assert rc == 1
    assert f"{pipe}: not a regular file (a pipe, device or socket); not replaced" in o + e
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["in", "pipe.png"]  # no sidecar, no temp file


def test_a_pipe_where_the_sidecar_goes_is_refused_before_the_work(png, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    sc = out / "a.png.l2.toml"
    os.mkfifo(sc)
    rc = _within(60, lambda: main(_correct(png, str(out) + os.sep, "--overwrite")))
    o, e = capsys.readouterr()
    _no_traceback(o + e)
    assert rc == 1 and f"{sc}: not a regular file" in o + e
    assert stat.S_ISFIFO(os.lstat(sc).st_mode) and sorted(os.listdir(out)) == ["a.png.l2.toml"]


def test_lut_bake_overwrite_never_replaces_a_pipe(tmp_path, capsys):
    pipe = tmp_path / "p.cube"
    os.mkfifo(pipe)
    rc = _within(60, lambda: main(["lut", "bake", "--look", "mono", "-o", str(pipe), "--overwrite"]))
    o, e = capsys.readouterr()
    _no_traceback(o + e)
    assert rc == 1 and f"{pipe}: not a regular file (a pipe, device or socket); not replaced" in o + e
    assert stat.S_ISFIFO(os.lstat(pipe).st_mode) and os.listdir(tmp_path) == ["p.cube"]


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a device node needs root")
@pytest.mark.parametrize("cmd", ["correct", "lut"])
def test_overwrite_never_replaces_a_device_node(png, tmp_path, capsys, cmd):
    node = tmp_path / ("null.png" if cmd == "correct" else "null.cube")
    os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    args = _correct(png, str(node), "--overwrite") if cmd == "correct" else \
        ["lut", "bake", "--look", "mono", "-o", str(node), "--overwrite"]
    rc = _within(60, lambda: main(args))
    o, e = capsys.readouterr()
    _no_traceback(o + e)
    assert rc == 1 and f"{node}: not a regular file" in o + e
    assert stat.S_ISCHR(os.lstat(node).st_mode)
    assert _temps(tmp_path) == [] and not (tmp_path / (node.name + ".l2.toml")).exists()


def test_atomic_output_checks_at_the_rename_too(tmp_path):
    """A pipe made while the output was being written is not replaced either."""
    from l2tech.errors import OutputError

    out = tmp_path / "x.bin"
    with pytest.raises(OutputError, match="not a regular file") as info:
        with atomic.atomic_output(out, overwrite=True) as tmp:
            tmp.write_bytes(b"data")
            os.mkfifo(out)
    assert str(out) in str(info.value)
    assert stat.S_ISFIFO(os.lstat(out).st_mode) and os.listdir(tmp_path) == ["x.bin"]
