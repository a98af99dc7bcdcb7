"""`l2 video` marks its outputs (l2tech's record in the container) and skips them as inputs.

The record is read back by the outside tools, not by l2tech: ffprobe's ``format.tags`` and
``streams[].tags`` (JSON) and exiftool's QuickTime ``Keys`` group; the expected values come
from the inputs themselves (the Gyroflow profile's ``name``, the clip's own tags as ffprobe
reads them) and from the sidecar's ``recipe_hash``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tomllib

import pytest

from conftest import shared_file
from l2tech import __version__
from l2tech.cli.main import main

GOPRO = "video/gopro_hero5_karma_drone.mp4"
GOPRO_PROFILE = "profiles/gyroflow/GoPro_HERO5_Black_Wide_NO-EIS_4by3.json"

needs_ffprobe = pytest.mark.skipif(shutil.which("ffprobe") is None, reason="ffprobe not installed")


def _ffprobe(path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def _tag(tags: dict, key: str):
    """A tag by name without regard to case (Matroska's are upper case)."""
    return next((v for k, v in tags.items() if k.lower() == key.lower()), None)


def _run(capsys, args) -> tuple[int, dict]:
    rc = main(["video", *args, "--preset", "ultrafast", "--json", "-q"])
    return rc, json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def marked(tmp_path_factory):
    """A 0.5 s run of the GoPro clip through the HERO5 Wide Gyroflow profile (MP4)."""
    src, prof = shared_file(GOPRO), shared_file(GOPRO_PROFILE)
    out = tmp_path_factory.mktemp("prov") / "marked.mp4"
    rc = main(["video", str(src), "--profile", str(prof), "--duration", "0.5", "--preset", "ultrafast",
               "-o", str(out), "-q"])
    assert rc == 0 and out.is_file()
    return src, prof, out


@needs_ffprobe
def test_video_output_carries_l2tech_record(marked):
    """ffprobe reads the record (JSON comment) with the profile, its source, the corrections and
    the sidecar's recipe hash; Software and the video stream's encoder say l2tech; the clip's own
    tags that still hold (creation time, firmware) are kept."""
    src, prof, out = marked
    probe, probe_in = _ffprobe(out), _ffprobe(src)
    tags, tags_in = probe["format"]["tags"], probe_in["format"]["tags"]
    rec = json.loads(tags["comment"])
    assert rec["Tool"] == "l2tech" and rec["Version"] == __version__
    assert rec["Profile"] == json.loads(prof.read_text())["name"]
    assert rec["ProfileSource"] == f"file ({prof.name})"
    assert rec["Corrections"] == "distortion"  # a fisheye model: geometry only
    assert rec["NotCorrected"].startswith("vignetting: ")
    sidecar = tomllib.loads(out.with_name(out.name + ".l2.toml").read_text())
    assert rec["RecipeHash"] == sidecar["l2tech"]["recipe_hash"]
    vin = next(s for s in probe_in["streams"] if s["codec_type"] == "video")
    assert rec["SourceSoftware"] == vin["tags"]["encoder"] == "GoPro AVC encoder"
    assert tags["com.apple.quicktime.software"] == f"l2tech {__version__}"
    vout = next(s for s in probe["streams"] if s["codec_type"] == "video")
    assert vout["tags"]["encoder"] == f"l2tech {__version__} (libx264)"
    for key in ("creation_time", "firmware"):
        assert tags[key] == tags_in[key]


@pytest.mark.skipif(shutil.which("exiftool") is None, reason="exiftool not installed")
def test_exiftool_reads_software_and_record(marked):
    """exiftool (QuickTime Keys) reads Software = l2tech VERSION and the record as Comment."""
    _, _, out = marked
    doc = json.loads(subprocess.run(["exiftool", "-j", "-G1", "-Keys:all", str(out)], check=True,
                                    capture_output=True, text=True).stdout)[0]
    assert doc["Keys:Software"] == f"l2tech {__version__}"
    assert json.loads(doc["Keys:Comment"])["Corrections"] == "distortion"


@needs_ffprobe
def test_rerun_over_output_is_skipped_and_force_processes_it(marked, tmp_path, capsys):
    """An l2tech output given as input is skipped (exit 0, the reason named, nothing written);
    --force processes it, and the new output (Matroska) records the earlier l2tech as its source."""
    _, _, out = marked
    again = tmp_path / "again.mkv"
    rc, doc = _run(capsys, [str(out), "-o", str(again)])
    assert rc == 0
    row = doc["results"][0]
    assert row["status"] == "skipped"
    assert f"already an l2tech output (l2tech {__version__}, corrected: distortion)" in row["error"]
    assert "--force" in row["error"]
    assert not again.exists()

    rc, doc = _run(capsys, [str(out), "--force", "-o", str(again)])
    assert rc == 0 and doc["results"][0]["status"] == "ok" and again.is_file()
    tags = _ffprobe(again)["format"]["tags"]
    rec = json.loads(_tag(tags, "comment"))
    assert rec["Tool"] == "l2tech" and rec["Corrections"] == "" and rec["Profile"] == ""
    assert rec["SourceSoftware"] == f"l2tech {__version__}"  # the input was l2tech's
    assert _tag(tags, "com.apple.quicktime.software") is None  # no MP4 software key carried into Matroska

    # that output was only re-encoded (no lens source): nothing was corrected, so a later run
    # with a lens corrects it (it was skipped as "already an l2tech output, corrected: nothing")
    third = tmp_path / "third.mov"
    rc, doc = _run(capsys, [str(again), "--lens", "GoPro HERO4 black", "-o", str(third)])
    assert rc == 0 and doc["results"][0]["status"] == "ok" and third.is_file(), doc["results"][0]


@needs_ffprobe
def test_database_lens_is_recorded(tmp_path, capsys):
    """A lens from the lensfun database: Profile is its name, ProfileSource ``database``."""
    src = shared_file(GOPRO)
    out = tmp_path / "db.mov"
    rc, _ = _run(capsys, [str(src), "--lens", "GoPro HERO4 black", "--duration", "0.3", "-o", str(out)])
    assert rc == 0
    rec = json.loads(_ffprobe(out)["format"]["tags"]["comment"])
    assert (rec["Profile"], rec["ProfileSource"]) == ("GoPro HERO4 black", "database")
    assert "distortion" in rec["Corrections"].split(",")
