"""`l2 video` on awkward real-world clips (issue 12 item 8), each fault reproduced on a clip
built here: audio timestamps that go backwards, timecode tracks, GoPro's data tracks.
(Full-range colour: tests/test_video_color.py.)"""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction

import pytest

from conftest import shared_file
from l2tech.cli.main import main
from l2tech.video.synth import numbered_frames, write_clip

GOPRO = "video/gopro_hero5_karma_drone.mp4"


def _packets(path, kind: str) -> list[tuple[int, int, int]]:
    """(pts, dts, duration) of every packet of the first ``kind`` stream, in file order."""
    import av

    with av.open(str(path)) as c:
        s = getattr(c.streams, kind)[0]
        return [(p.pts, p.dts, p.duration) for p in c.demux(s) if p.size]


def _ffprobe(path, entries: str, select: str | None = None) -> list[dict]:
    cmd = ["ffprobe", "-v", "error", "-show_entries", entries, "-of", "json", str(path)]
    if select:
        cmd[3:3] = ["-select_streams", select]
    return json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)["streams"]


@pytest.fixture
def joined_ts(tmp_path):
    """Two 1 s MPEG-TS recordings put end to end (as cameras split long takes, and as `cat`
    joins them): at the join every timestamp restarts, the audio's included.

    An MP4/MOV cannot be built to show this: FFmpeg's MP4 demuxer turns a negative ``stts``
    delta into a small positive one (tried: the packets come out increasing), so the joined
    transport stream is the clip that reproduces the muxer's failure."""
    a, b, joined = tmp_path / "a.ts", tmp_path / "b.ts", tmp_path / "joined.ts"
    write_clip(a, numbered_frames(25, 64, 48), rate=25, audio_seconds=1.0)
    write_clip(b, numbered_frames(25, 64, 48, seed=1), rate=25, audio_seconds=1.0)
    joined.write_bytes(a.read_bytes() + b.read_bytes())
    return joined


def test_audio_timestamps_going_backwards_are_repaired(joined_ts, tmp_path, capsys):
    """Before: `VideoError: ... non monotonically increasing dts to muxer in stream 1: 48128 >= 0`
    (exit 1). Now exit 0, one warning, every audio packet kept in order, byte for byte, and the
    output's audio lasts as long as the input's packets (measured: 2.048 s both, 96 packets)."""
    pk_in = _packets(joined_ts, "audio")
    assert any(b[1] < a[1] for a, b in zip(pk_in, pk_in[1:])), "the built clip must go backwards"
    out = tmp_path / "out.mp4"
    rc = main(["video", str(joined_ts), "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 0, err
    lines = [line for line in err.splitlines() if "went backwards" in line]
    assert len(lines) == 1 and "audio stream #1: 48 packets" in lines[0]
    pk_out = _packets(out, "audio")
    assert len(pk_out) == len(pk_in) == 96
    assert all(b[1] > a[1] for a, b in zip(pk_out, pk_out[1:]))
    import av

    with av.open(str(joined_ts)) as c:
        data_in = [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]
        tb_in = c.streams.audio[0].time_base
    with av.open(str(out)) as c:
        data_out = [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]
        tb_out = c.streams.audio[0].time_base
    # MPEG-TS carries AAC in ADTS frames; MP4 stores the raw data blocks (the muxer's
    # aac_adtstoasc): the 7-byte ADTS header (0xFFF1: no CRC) is all that goes
    assert all(d[:2] == b"\xff\xf1" for d in data_in)
    assert data_out == [d[7:] for d in data_in]
    dur_in = float(sum(d for _, _, d in pk_in) * tb_in)
    dur_out = float(_ffprobe(out, "stream=duration", "a:0")[0]["duration"])
    assert dur_in == pytest.approx(2.048, abs=1e-6)
    assert abs(dur_out - dur_in) < 1 / 25  # within one frame
    assert float((pk_out[-1][1] + pk_out[-1][2]) * tb_out) == pytest.approx(dur_in, abs=1 / 25)
    # the video is re-timed the same way: 50 frames, 2.0 s
    assert _ffprobe(out, "stream=nb_frames,duration", "v:0")[0] == {"nb_frames": "50", "duration": "2.000000"}


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command to build a timecode track")
@pytest.mark.parametrize("ext", ["mov", "mp4", "mkv"])
def test_timecode_track_reported_truthfully(tmp_path, capsys, ext):
    """A clip made by `ffmpeg -timecode 01:00:00:00` (a tmcd track), trimmed from 1 s: the output's
    timecode (ffprobe) is the first kept frame's, 01:00:01:00, and the report says what the file
    holds (before: "dropped ... TimeCodeHandler" for an MP4 that had a tmcd track; "kept" for a
    MOV that had none)."""
    src = tmp_path / "tc.mov"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=25", "-t", "2",
                    "-timecode", "01:00:00:00", "-c:v", "libx264", "-preset", "ultrafast", str(src)], check=True)
    assert _ffprobe(src, "stream=codec_tag_string:stream_tags=timecode", "d")[0]["tags"]["timecode"] == "01:00:00:00"
    out = tmp_path / f"out.{ext}"
    rc = main(["video", str(src), "-o", str(out), "--start", "1"])
    text = capsys.readouterr().out
    assert rc == 0
    streams = _ffprobe(out, "stream=codec_type,codec_tag_string:stream_tags=timecode,TIMECODE")
    tmcd = [s for s in streams if s.get("codec_tag_string") == "tmcd"]
    if ext == "mkv":  # Matroska has no timecode track; the muxer keeps it as the video stream's tag
        assert not tmcd and streams[0]["tags"] == {"TIMECODE": "01:00:01:00"}
        assert "as timecode 01:00:01:00 (video stream tag)" in text
    else:
        assert [s["tags"]["timecode"] for s in tmcd] == ["01:00:01:00"]
        assert "kept #1 data TimeCodeHandler as timecode 01:00:01:00 (tmcd track)" in text
    assert "dropped" not in text


def test_timecode_add_drop_frame():
    """SMPTE ST 12-1 drop-frame: frame numbers 00 and 01 are skipped at each minute but every
    tenth (values as FFmpeg's av_timecode_get_smpte_from_framenum gives them)."""
    from l2tech.video.transcode import _timecode_add

    ntsc = Fraction(30000, 1001)
    assert _timecode_add("00:00:59;28", 2, ntsc) == "00:01:00;02"
    assert _timecode_add("00:09:59;29", 1, ntsc) == "00:10:00;00"
    assert _timecode_add("01:00:00:00", 25 * 3601 + 3, Fraction(25)) == "02:00:01:03"
    assert _timecode_add("23:59:59:29", 1, Fraction(30)) == "00:00:00:00"


def test_gopro_data_tracks_kept_in_mov(tmp_path, capsys):
    """The GoPro clip trimmed to .mov keeps GPMF (gpmd) and the fdsc "GoPro SOS" track, whose
    samples FFmpeg's demuxer does not return (copied from the sample tables): telemetry-parser
    still names the camera (before: model None). In .mp4, which cannot hold fdsc, it is reported
    as dropped with the way to keep it."""
    telemetry_parser = pytest.importorskip("telemetry_parser")
    src = shared_file(GOPRO)
    assert telemetry_parser.Parser(str(src)).model == "HERO5 Black"
    out = tmp_path / "gopro.mov"
    assert main(["video", str(src), "--start", "2", "--duration", "0.5", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "kept #4 data GoPro SOS" in text and "kept #3 data GoPro MET" in text
    p = telemetry_parser.Parser(str(out))
    assert (p.camera, p.model) == ("GoPro", "HERO5 Black")
    handlers = [s["tags"]["handler_name"].strip() for s in _ffprobe(out, "stream_tags=handler_name")]
    assert {"GoPro MET", "GoPro SOS", "GoPro AAC"} <= set(handlers)
    # the fdsc samples are the input's, byte for byte (943 samples; the first starts "GPRO")
    from l2tech.video.probe import read_mp4_samples

    def sample_bytes(path, track):
        _ts, samples = read_mp4_samples(path, track)
        with open(path, "rb") as fh:
            return [(fh.seek(o), fh.read(n))[1] for o, n, _t in samples]

    sos_out = [i for i, h in enumerate(handlers) if h == "GoPro SOS"][0]
    got = sample_bytes(out, sos_out)
    assert got == sample_bytes(src, 4) and len(got) == 943 and got[0].startswith(b"GPRO")

    out4 = tmp_path / "gopro.mp4"
    assert main(["video", str(src), "--duration", "0.3", "-o", str(out4)]) == 0
    text = capsys.readouterr().out
    assert "dropped #4 data GoPro SOS: not supported by mp4 (Invalid argument); a .mov output keeps it" in text
    assert "GoPro SOS" not in [s["tags"]["handler_name"].strip() for s in _ffprobe(out4, "stream_tags=handler_name")]
