"""Two writers, one output (RELIABILITY.md E3, case 18; issue 16 item 4).

Without ``--overwrite`` an output is claimed create-exclusive: of two processes writing the same
file exactly one reports it written, the other gets :class:`OutputExistsError` ("skipped"), and
the file on disk is the winner's, whole.
"""

from __future__ import annotations

import multiprocessing
import os
import queue

import cv2
import numpy as np
import pytest

import l2tech.io.atomic as atomic_mod
from l2tech.errors import OutputExistsError
from l2tech.io.atomic import atomic_output, remove_stale_temps

N_OUTPUTS = 20  # outputs each round; both writers write all of them at the same moment
ROUNDS = 3
SIZE = 96


def _writer(wid: int, folder: str, barrier, results) -> None:
    """Child process: write N_OUTPUTS PNGs, each after a barrier both writers pass together."""
    from l2tech.errors import OutputExistsError
    from l2tech.io.image import write_image

    img = np.full((SIZE, SIZE, 3), (40 + 100 * wid, 7 * wid + 3, 250 - 90 * wid), np.uint8)
    for k in range(N_OUTPUTS):
        barrier.wait(timeout=60)
        try:
            write_image(os.path.join(folder, f"out{k}.png"), img, bits=8)
            results.put((wid, k, "ok"))
        except OutputExistsError:
            results.put((wid, k, "skipped"))


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_processes_one_output_exactly_one_wins(tmp_path, round_):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    results = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(w, str(tmp_path), barrier, results)) for w in (0, 1)]
    for p in procs:
        p.start()
    got = []
    try:
        for _ in range(2 * N_OUTPUTS):
            got.append(results.get(timeout=120))
    except queue.Empty:
        pytest.fail(f"writers hung; got {got}")
    finally:
        for p in procs:
            p.join(timeout=60)
            if p.is_alive():
                p.kill()
    assert [p.exitcode for p in procs] == [0, 0]
    for k in range(N_OUTPUTS):
        outcome = {wid: st for wid, kk, st in got if kk == k}
        winners = [w for w, st in outcome.items() if st == "ok"]
        assert len(winners) == 1, f"out{k}.png: {outcome}"
        assert sorted(outcome.values()) == ["ok", "skipped"]
        # the file decodes (OpenCV, an independent decoder) and holds exactly the winner's pixels
        pix = cv2.imread(str(tmp_path / f"out{k}.png"), cv2.IMREAD_UNCHANGED)[..., ::-1]
        w = winners[0]
        assert pix.shape == (SIZE, SIZE, 3)
        assert np.array_equal(pix, np.broadcast_to(np.array((40 + 100 * w, 7 * w + 3, 250 - 90 * w), np.uint8), pix.shape))
    assert sorted(os.listdir(tmp_path)) == sorted(f"out{k}.png" for k in range(N_OUTPUTS))  # no temp left


def test_claim_refuses_an_output_that_appeared(tmp_path, monkeypatch):
    """The exact race, made deterministic: the other writer's file appears after every check.

    A check-then-``os.replace`` commit (the old code) replaces the other writer's file and
    reports success; the create-exclusive claim refuses and keeps the other writer's file.
    """
    out = tmp_path / "x.bin"
    real_exists = atomic_mod.Path.exists
    monkeypatch.setattr(atomic_mod.Path, "exists", lambda self: False if self == out else real_exists(self))
    with pytest.raises(OutputExistsError, match="another process"):
        with atomic_output(out) as tmp:
            tmp.write_bytes(b"mine")
            out.write_bytes(b"theirs")  # the other process renames its file into place now
    assert out.read_bytes() == b"theirs"
    assert os.listdir(tmp_path) == ["x.bin"]  # our temp removed


def test_claim_without_hard_links_falls_back_to_exclusive_create(tmp_path, monkeypatch):
    def no_link(src, dst):
        raise OSError(1, "Operation not permitted")  # EPERM: what FAT/SMB/some FUSE mounts answer

    monkeypatch.setattr(atomic_mod.os, "link", no_link)
    out = tmp_path / "x.bin"
    with atomic_output(out) as tmp:
        tmp.write_bytes(b"first")
    assert out.read_bytes() == b"first"
    real_exists = atomic_mod.Path.exists
    monkeypatch.setattr(atomic_mod.Path, "exists", lambda self: False if self == out else real_exists(self))
    with pytest.raises(OutputExistsError, match="another process"):
        with atomic_output(out) as tmp:
            tmp.write_bytes(b"second")
    assert out.read_bytes() == b"first"
    assert os.listdir(tmp_path) == ["x.bin"]


def test_overwrite_still_replaces(tmp_path):
    out = tmp_path / "x.bin"
    out.write_bytes(b"old")
    with atomic_output(out, overwrite=True) as tmp:
        tmp.write_bytes(b"new")
    assert out.read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["x.bin"]


def test_temp_name_carries_the_pid(tmp_path):
    with atomic_output(tmp_path / "a.jpg") as tmp:
        assert tmp.name.startswith(f".a.l2tmp-{os.getpid()}-") and tmp.suffix == ".jpg"
        assert atomic_mod._TMP_RE.match(tmp.name)
        assert remove_stale_temps(tmp_path) == []  # a live writer's temp (ours) is kept
        tmp.write_bytes(b"x")


def _dead_pid() -> int:
    import subprocess
    import sys

    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait(timeout=60)
    return p.pid  # reaped: no process has it (until the kernel reuses it, which takes a while)


def test_stale_temps_of_dead_writers_are_removed_by_the_next_write(tmp_path):
    dead = _dead_pid()
    stale = tmp_path / f".IMG_1.l2tmp-{dead}-abcd1234.jpg"
    stale.write_bytes(b"half a jpeg")
    legacy = tmp_path / ".IMG_2.l2tmp-k3j_x9q2.jpg"  # an older release's name, no PID
    legacy.write_bytes(b"half")
    os.utime(legacy, (1e9, 1e9))  # 2001: long before this process started
    recent_legacy = tmp_path / ".IMG_3.l2tmp-zz99aa11.jpg"  # might be an older l2 writing right now
    recent_legacy.write_bytes(b"half")
    live = tmp_path / f".IMG_4.l2tmp-{os.getppid()}-qwer5678.tif"  # a live writer: our parent process
    live.write_bytes(b"being written")
    mine = tmp_path / ".notes.jpg"  # not ours: any other hidden file
    mine.write_bytes(b"keep")
    with atomic_output(tmp_path / "new.jpg") as tmp:
        tmp.write_bytes(b"done")
    assert sorted(os.listdir(tmp_path)) == sorted(["new.jpg", recent_legacy.name, live.name, mine.name])


def test_own_pid_temp_older_than_this_process_is_stale(tmp_path):
    old = tmp_path / f".a.l2tmp-{os.getpid()}-abcdefgh.png"  # a killed process that had our PID
    old.write_bytes(b"x")
    os.utime(old, (1e9, 1e9))
    assert remove_stale_temps(tmp_path) == [old]


def test_work_folders_sit_beside_the_output_and_stale_ones_are_removed(tmp_path):
    """temp_folder (the parts of a clip split across workers): a hidden, temp-named folder in the
    output's folder, removed on exit; one a killed writer left is removed by the next write there,
    with its files; a live writer's is kept."""
    from l2tech.io.atomic import temp_folder

    with temp_folder(tmp_path / "clip.mp4") as work:
        assert work.parent == tmp_path and work.is_dir() and atomic_mod._TMP_RE.match(work.name)
        assert work.name.startswith(f".clip.l2tmp-{os.getpid()}-") and work.name.endswith(".parts")
        (work / "part0000.mp4").write_bytes(b"x")
        assert remove_stale_temps(tmp_path) == []  # ours, live
    assert os.listdir(tmp_path) == []
    out = tmp_path / "out"  # a folder this process has not written into yet (each is swept once)
    out.mkdir()
    stale = out / f".clip.l2tmp-{_dead_pid()}-abcd1234.parts"
    stale.mkdir()
    (stale / "part0001.mp4").write_bytes(b"half a part")
    live = out / f".other.l2tmp-{os.getppid()}-qwer5678.parts"
    live.mkdir()
    with atomic_output(out / "new.mp4") as tmp:
        tmp.write_bytes(b"done")
    assert sorted(os.listdir(out)) == sorted(["new.mp4", live.name])


def test_outputs_with_names_near_the_file_system_limit(tmp_path):
    """An output name of 250 bytes (the limit is 255) is written: its temp names (the batch's, the
    atomic writer's inside it, a work folder's) shorten the stem instead of failing with "File
    name too long" (found by a new user with a 215-character name)."""
    from l2tech.io.atomic import temp_folder

    out = tmp_path / ("é" * 60 + "x" * 126 + ".jpg")  # 250 bytes in UTF-8
    assert len(out.name.encode()) == 250
    with atomic_output(out) as tmp:
        assert len(tmp.name.encode()) <= 255 and atomic_mod._TMP_RE.match(tmp.name)
        tmp.write_bytes(b"x")
    assert out.read_bytes() == b"x"
    with temp_folder(out) as work:
        assert len(work.name.encode()) <= 255 and atomic_mod._TMP_RE.match(work.name)
    assert sorted(os.listdir(tmp_path)) == [out.name]


def test_develop_into_a_long_output_name(tmp_path):
    from conftest import shared_file

    from l2tech.cli.main import main

    raw = shared_file("raw/decodable/canon_kiss_x4__colorchecker.dng")
    out = tmp_path / ("n" * 240 + ".jpg")
    assert main(["develop", str(raw), "-o", str(out), "-q"]) == 0
    assert out.stat().st_size > 1000
    assert not [p for p in tmp_path.iterdir() if ".l2tmp-" in p.name]


def test_names_past_the_limit_are_typed_errors(tmp_path, capsys):
    """An output name over 255 bytes, or one whose sidecar would be: a one-line OutputError per
    file (was a traceback from a path test, or "unexpected OSError" after the develop)."""
    from conftest import shared_file

    from l2tech.cli.main import main

    raw = shared_file("raw/decodable/canon_kiss_x4__colorchecker.dng")
    assert main(["develop", str(raw), "-o", str(tmp_path / ("n" * 256 + ".jpg")), "-q"]) == 1
    assert "output file name is 260 bytes long" in capsys.readouterr().err.replace("\n", "")
    near = tmp_path / ("s" * 246 + ".jpg")  # 250 bytes: the file fits, its .l2.toml sidecar does not
    assert main(["develop", str(raw), "-o", str(near), "-q"]) == 1
    assert "--no-sidecar" in capsys.readouterr().err.replace("\n", "")
    assert main(["develop", str(raw), "-o", str(near), "-q", "--no-sidecar"]) == 0 and near.exists()
    clip = shared_file("video/gopro_hero5_karma_drone.mp4")
    assert main(["video", str(clip), "-o", str(tmp_path / ("v" * 256 + ".mp4")), "--duration", "0.2", "-q"]) == 1
    assert "output file name is 260 bytes long" in capsys.readouterr().err.replace("\n", "")
    assert sorted(p.name for p in tmp_path.iterdir()) == [near.name]


def test_the_early_decode_respects_the_memory_budget(tmp_path, monkeypatch, capsys):
    """`l2 develop ONE_RAW` starts LibRaw before the batch set-up, but never on a file whose
    estimated peak the budget refuses (a new user's --max-memory 1M: the refusal came after the
    decode had begun)."""
    from conftest import shared_file

    import l2tech.pipeline.stills as stills
    from l2tech.cli.main import main

    started: list[str] = []
    real = stills.prefetch
    monkeypatch.setattr(stills, "prefetch", lambda p, r=None: (started.append(os.path.basename(p)), real(p, r))[1])
    raw = shared_file("raw/decodable/canon_kiss_x4__colorchecker.dng")
    assert main(["develop", str(raw), "-o", str(tmp_path / "a.jpg"), "--max-memory", "1M", "-q"]) == 1
    assert "memory" in capsys.readouterr().err and started == []
    assert main(["develop", str(raw), "-o", str(tmp_path / "b.jpg"), "-q"]) == 0
    assert started[:1] == [raw.name] and (tmp_path / "b.jpg").exists()
