"""`l2 video` at batch scale (issue 13 items 1-3 and 5 for video): recipe files with a [video]
table, a sidecar per output, the output folder's journal (resume, --redo, another recipe), and
clips sent to a Dask cluster -- the stills machinery of pipeline/batch.py, reused."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from l2tech.cli.main import main
from l2tech.pipeline.journal import JOURNAL_NAME
from l2tech.pipeline.sidecar import read_sidecar
from l2tech.video.synth import numbered_frames, write_clip

_SRC = str(Path(__file__).resolve().parents[1] / "src")

RECIPE = """\
# a recipe file for l2 video: shared settings at the top, video-only ones in [video]
look = "mono"
interpolation = "bilinear"

[video]
out_size = [32, 24]
crf = 0
preset = "ultrafast"
"""


def _clips(folder: Path, n: int = 2) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for k in range(n):
        p = folder / f"clip{k}.mp4"
        write_clip(p, numbered_frames(6, 64, 48, seed=k), rate=25)
        paths.append(str(p))
    return paths


def _sha(p) -> str:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def _frames(path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def test_recipe_file_with_video_table_sidecars_and_journal(tmp_path, capsys):
    """The [video] table sets the size and encoder, the top-level keys the look; an option given
    wins over the file; each output has a sidecar recording both (its hash is the journal's)."""
    ins = _clips(tmp_path / "in")
    recipe = tmp_path / "drone.toml"
    recipe.write_text(RECIPE)
    out = tmp_path / "out"
    assert main(["video", "--recipe", str(recipe), *ins, "-o", str(out), "--crf", "4", "-q"]) == 0
    assert sorted(os.listdir(out)) == [JOURNAL_NAME, "clip0.mp4", "clip0.mp4.l2.toml", "clip1.mp4", "clip1.mp4.l2.toml"]
    frames = _frames(out / "clip0.mp4")
    assert len(frames) == 6 and frames[0].shape == (24, 32, 3)  # [video] out_size
    f = frames[3].astype(int)
    assert np.abs(f[..., 0] - f[..., 1]).max() <= 3 and np.abs(f[..., 1] - f[..., 2]).max() <= 3  # the mono look
    sc = read_sidecar(out / "clip0.mp4.l2.toml")
    assert sc.command == "video" and sc.recipe.look == "mono" and sc.recipe.interpolation == "bilinear"
    assert sc.video["out_size"] == [32, 24] and sc.video["crf"] == 4 and sc.video["preset"] == "ultrafast"
    assert sc.input_path == ins[0] and sc.input_sha256 == _sha(ins[0]) and sc.output_sha256 == _sha(out / "clip0.mp4")
    journal = [json.loads(x) for x in (out / JOURNAL_NAME).read_text().splitlines()]
    assert sorted(e["output"] for e in journal) == ["clip0.mp4", "clip1.mp4"]
    assert {e["recipe_hash"] for e in journal} == {sc.recipe_hash}
    # the sidecar is a recipe file: the same clip made from it is the same file
    again = tmp_path / "again.mp4"
    assert main(["video", ins[0], "--recipe", str(out / "clip0.mp4.l2.toml"), "-o", str(again), "-q"]) == 0
    assert _sha(again) == _sha(out / "clip0.mp4")
    capsys.readouterr()
    assert main(["develop", "--from-sidecar", str(out / "clip0.mp4.l2.toml")]) == 2  # not a still's sidecar
    assert "a sidecar of `l2 video`" in capsys.readouterr().err


def test_rerun_resumes_redo_remakes_and_another_recipe_is_refused(tmp_path, capsys):
    ins = _clips(tmp_path / "in")
    recipe = tmp_path / "r.toml"
    recipe.write_text(RECIPE)
    out = tmp_path / "out"
    cmd = ["video", "--recipe", str(recipe), *ins, "-o", str(out), "--json"]
    assert main(cmd) == 0
    capsys.readouterr()
    before = {p.name: (p.stat().st_mtime_ns, _sha(p)) for p in out.glob("*.mp4")}
    assert main(cmd) == 0  # the same command again: nothing to do
    summary = json.loads(capsys.readouterr().out)
    doc = summary["results"]
    assert (summary["done"], summary["skipped"], summary["failed"]) == (0, 2, 0)
    assert summary["skipped_reasons"] == {"done earlier with this recipe (journal)": 2}
    assert [(r["skipped"], r["error"].split(": ", 1)[1]) for r in doc] == [(True, "done earlier with this recipe (journal)")] * 2
    assert [r["reason"] for r in doc] == ["done earlier with this recipe (journal)"] * 2  # as develop's entries
    assert {p.name: (p.stat().st_mtime_ns, _sha(p)) for p in out.glob("*.mp4")} == before
    assert main([*cmd, "--redo"]) == 0  # made again: new files, same bytes
    doc = json.loads(capsys.readouterr().out)["results"]
    assert all(r["ok"] and not r.get("skipped") and r["frames_written"] == 6 for r in doc)
    after = {p.name: (p.stat().st_mtime_ns, _sha(p)) for p in out.glob("*.mp4")}
    assert all(after[n][0] != before[n][0] and after[n][1] == before[n][1] for n in before)
    # another video setting is another recipe: refused per clip (exit 1) unless --overwrite
    assert main([*cmd, "--crf", "30"]) == 1
    doc = json.loads(capsys.readouterr().out)["results"]
    assert all(not r["ok"] and "made with another recipe" in r["error"] for r in doc)
    assert main([*cmd, "--crf", "30", "--overwrite"]) == 0
    capsys.readouterr()
    assert read_sidecar(out / "clip1.mp4.l2.toml").video["crf"] == 30


@pytest.mark.parametrize("text,line,message", [
    ('look = "mono"\n[video]\ncrf = 0\nqualty = 3\n', 4, "unknown [video] key 'qualty'"),
    ('[video]\nout_size = "32x24"\n', 2, "out_size must be a list of integers, got '32x24'"),
    ('exposure_ev = "x"\n', 1, "exposure_ev must be a number"),
    ('[video]\ncrf = 99\n', 2, "crf must be ≥ 0 and ≤ 63, got 99"),
    # found by fuzzing: a 400-digit integer escaped as OverflowError from the range check
    ('[video]\nsegments = ' + "9" * 400 + '\n', 2, "segments must be ≥ 1 and ≤ 10000, got an integer of 400 digits"),
    ('[video]\nqp = -' + "9" * 400 + '\n', 2, "qp must be ≥ 0 and ≤ 81, got an integer of 400 digits"),
])
def test_invalid_video_recipe_names_file_and_line(tmp_path, capsys, text, line, message):
    (clip,) = _clips(tmp_path / "in", 1)
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    assert main(["video", "--recipe", str(bad), clip, "-o", str(tmp_path / "o.mp4")]) == 2
    err = capsys.readouterr().err
    assert f"bad.toml:{line}" in err and message in err, err
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.slow  # ~20 s: a LocalCluster of two worker processes starts
def test_clips_on_a_dask_cluster_equal_the_local_run(tmp_path):
    """`L2_DASK_SCHEDULER` sends the clips to `l2 cluster local --workers 2`; the outputs (sent
    back as bytes, written by the client) equal the local run's byte for byte, with journal and
    sidecars."""
    pytest.importorskip("distributed", reason="dask.distributed is not installed")
    ins = _clips(tmp_path / "in", 3)
    recipe = tmp_path / "r.toml"
    recipe.write_text(RECIPE)
    assert main(["video", "--recipe", str(recipe), *ins, "-o", str(tmp_path / "ref"), "-q"]) == 0
    env = {**os.environ, "PYTHONPATH": _SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), "NUMBA_NUM_THREADS": "1"}
    log = os.open(tmp_path / "cluster.log", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        lc = subprocess.Popen([sys.executable, "-m", "l2tech.cli", "cluster", "local", "--workers", "2", "--port", "0"],
                              env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    finally:
        os.close(log)
    try:
        address = lc.stdout.readline().strip()
        assert address.startswith("tcp://"), address
        r = subprocess.run([sys.executable, "-m", "l2tech.cli", "video", "--recipe", str(recipe), *ins, "-o",
                            str(tmp_path / "out"), "--json"], env={**env, "L2_DASK_SCHEDULER": address},
                           capture_output=True, text=True, timeout=180)
        assert r.returncode == 0, r.stderr[-3000:]
        assert [x["frames_written"] for x in json.loads(r.stdout)["results"]] == [6, 6, 6]
    finally:
        lc.send_signal(signal.SIGINT)
        try:
            lc.wait(30)
        except subprocess.TimeoutExpired:
            lc.kill()
            lc.wait()
        lc.stdout.close()
    names = ["clip0.mp4", "clip1.mp4", "clip2.mp4"]
    assert {n: _sha(tmp_path / "out" / n) for n in names} == {n: _sha(tmp_path / "ref" / n) for n in names}
    assert len((tmp_path / "out" / JOURNAL_NAME).read_text().splitlines()) == 3
    assert all((tmp_path / "out" / f"{n}.l2.toml").is_file() for n in names)


def _decoded(path) -> list[tuple[int, np.ndarray]]:
    import av

    with av.open(str(path)) as c:
        return [(f.pts, f.to_ndarray(format="yuv420p")) for f in c.decode(video=0)]


def _audio(path) -> list[tuple[int, int, bytes]]:
    import av

    with av.open(str(path)) as c:
        return [(p.pts, p.dts, bytes(p)) for p in c.demux(c.streams.audio[0]) if p.size]


def test_4k_clip_split_across_two_workers_equals_the_single_process_output(tmp_path, capsys):
    """Issue 13 acceptance: a 3840x2160 clip (16 frames, a keyframe every 8, AAC audio) cut at its
    keyframes into 2 parts made by 2 worker processes and joined equals the one-pass,
    single-process output frame for frame: every decoded Y'CbCr plane pixel-equal, the same
    frame count and timestamps, the audio packets byte-equal (and equal to the input's).
    Both paths encode with constant qp, IDR frames at the cuts and no B-frames (docs/BATCH.md)."""
    rng = np.random.default_rng(13)
    base = rng.integers(0, 256, (270, 480, 3), dtype=np.uint8)
    frames = [np.repeat(np.repeat(np.roll(base, 5 * i, axis=1), 8, 0), 8, 1) for i in range(16)]
    src = tmp_path / "uhd.mp4"
    write_clip(src, frames, rate=25, audio_seconds=0.64,
               options={"crf": "30", "preset": "ultrafast", "g": "8", "keyint_min": "8", "sc_threshold": "0"})
    from l2tech.pipeline.video import segment_plan

    assert segment_plan(src, 2) == (0.0, 0.32)  # the keyframe at frame 8
    one, two = tmp_path / "one.mp4", tmp_path / "two.mp4"
    common = ["--segments", "2", "--qp", "30", "--preset", "ultrafast", "--no-sidecar"]
    assert main(["video", str(src), "-o", str(one), "--segments", "2", "--crf", "18"]) == 2  # CRF carries state
    assert "constant --qp" in capsys.readouterr().err and not one.exists()
    assert main(["video", str(src), "-o", str(one), *common, "--jobs", "1"]) == 0
    import l2tech.io.atomic as atomic

    parts_seen: list[list[str]] = []
    real_temp_folder = atomic.temp_folder

    @__import__("contextlib").contextmanager
    def spy(path):
        with real_temp_folder(path) as work:
            yield work
            parts_seen.append([work.parent == tmp_path, *sorted(p.name.split(".l2tmp-")[0] for p in work.iterdir())])

    atomic.temp_folder = spy
    try:
        assert main(["video", str(src), "-o", str(two), *common, "--jobs", "2", "-v"]) == 0
    finally:
        atomic.temp_folder = real_temp_folder
    text = capsys.readouterr().out
    assert "into 2 parts on 2 workers" in text
    # the speed reported is the whole job's (parts included), not the join's alone (thousands of fps)
    import re

    fps = float(re.search(r"wrote .*two\.mp4: 16 frames .*, processed at ([0-9.]+) frames/s", text).group(1))
    assert 0 < fps < 200, text
    # the parts were made in a work folder beside the output (not the system's temp), then removed
    assert parts_seen == [[True, ".part0000", ".part0001"]]
    assert not [p for p in tmp_path.iterdir() if ".l2tmp-" in p.name]
    a, b = _decoded(one), _decoded(two)
    assert len(a) == len(b) == 16 and a[0][1].shape == (2160 * 3 // 2, 3840)
    with __import__("av").open(str(src)) as c:
        t_in = sorted(p.pts for p in c.demux(c.streams.video[0]) if p.size)
    assert [t for t, _ in a] == [t for t, _ in b] == t_in == [512 * i for i in range(16)]  # 1/12800 s ticks, 25 fps
    for (_, x), (_, y) in zip(a, b):
        assert np.array_equal(x, y)
    assert _audio(one) == _audio(two) == _audio(src)


@pytest.mark.slow  # ~30 s: three l2 processes start
def test_sigkill_during_a_video_batch_then_rerun_gives_the_uninterrupted_outputs(tmp_path):
    """Issue 13 acceptance, "same for a video": `l2 video` on 5 clips into a folder, SIGKILLed
    once 2 are journaled; the same command again makes only the missing clips, and the folder
    equals an uninterrupted run's byte for byte, with no temp file left."""
    from conftest import kill_when

    from test_batch_scale import _temps

    ins = _clips(tmp_path / "in", 5)
    recipe = tmp_path / "r.toml"
    recipe.write_text(RECIPE)
    ref = tmp_path / "ref"
    assert main(["video", "--recipe", str(recipe), *ins, "-o", str(ref), "-q"]) == 0
    names = [f"clip{k}.mp4" for k in range(5)]
    expected = {n: _sha(ref / n) for n in names}
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": _SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "l2tech.cli", "video", "--recipe", str(recipe), *ins, "-o", str(out) + "/"]
    journal = out / JOURNAL_NAME
    proc = subprocess.Popen([*cmd, "-q"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(proc, lambda: journal.exists() and journal.read_bytes().count(b"\n") >= 2, timeout_s=120)
    done_before = len(journal.read_text().splitlines())
    assert 2 <= done_before < 5
    r = subprocess.run([*cmd, "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)["results"]
    assert sum(1 for x in doc if x.get("skipped")) == done_before
    assert sum(1 for x in doc if x["ok"] and not x.get("skipped")) == 5 - done_before
    assert {n: _sha(out / n) for n in names} == expected
    assert _temps(out) == []
    assert sorted(json.loads(x)["output"] for x in journal.read_text().splitlines()) == names


@pytest.mark.slow  # ~15 s: the 13 s GoPro clip, twice in two worker processes
def test_split_gopro_clip_keeps_telemetry_timecode_and_audio(tmp_path, capsys):
    """The joined clip carries what the one-pass clip carries: the GPMF packets byte for byte,
    the fdsc "GoPro SOS" samples (telemetry-parser still names the camera), the timecode as a
    tmcd track, the audio packets untouched."""
    from conftest import shared_file

    telemetry_parser = pytest.importorskip("telemetry_parser")
    src = shared_file("video/gopro_hero5_karma_drone.mp4")
    out = tmp_path / "split.mov"
    assert main(["video", str(src), "-o", str(out), "--segments", "2", "--jobs", "2", "--preset", "ultrafast",
                 "--no-sidecar"]) == 0
    text = capsys.readouterr().out
    assert "kept #2 data GoPro TCD as timecode 19:26:48:04 (tmcd track)" in text and "dropped" not in text
    assert telemetry_parser.Parser(str(out)).model == "HERO5 Black"
    import av

    def packets(path, handler):
        with av.open(str(path)) as c:
            s = next(s for s in c.streams if s.metadata.get("handler_name", "").strip() == handler)
            return [(p.pts, bytes(p)) for p in c.demux(s) if p.size]

    assert packets(out, "GoPro MET") == packets(src, "GoPro MET")
    assert packets(out, "GoPro AAC") == packets(src, "GoPro AAC")
    with av.open(str(out)) as c:
        assert c.streams.video[0].frames == 362


def test_a_split_clips_part_error_names_the_clip():
    """A part's error names the clip and the part (not the part's hidden temp file), and a
    worker that died is a VideoError naming the clip (was BrokenProcessPool, no file)."""
    from concurrent.futures.process import BrokenProcessPool

    from l2tech.errors import DecodeError, VideoError
    from l2tech.pipeline.video import _part_error

    exc = DecodeError("encoder mpeg4 failed: timebase not supported", path="/out/.x.l2tmp-1-abcd1234.parts/.part0001.l2tmp-2-ef.mp4")
    got = _part_error(exc, "/clips/x.mp4", 1, 2)
    assert type(got) is DecodeError and got.path == "/clips/x.mp4"
    assert str(got) == "/clips/x.mp4: part 2 of 2: encoder mpeg4 failed: timebase not supported"
    died = _part_error(BrokenProcessPool("A process in the process pool was terminated abruptly"), "/clips/x.mp4", 0, 2)
    assert isinstance(died, VideoError) and str(died).startswith("/clips/x.mp4: a worker process stopped")
