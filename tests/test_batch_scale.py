"""Batch at scale (issue 13): recipe files, sidecars, resume, worker processes, summary.

The TOML that l2tech writes is checked with the standard library's :mod:`tomllib` (the
trusted TOML 1.0 reader); outputs are compared byte for byte; hashes with :mod:`hashlib`.
Killing a batch: tests/test_batch_kill.py; a Dask cluster: tests/test_batch_cluster.py.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from l2tech.cli.main import main
from l2tech.errors import RecipeError
from l2tech.pipeline import Recipe
from l2tech.pipeline import recipe_file as rf
from l2tech.pipeline.batch import job_memory_bytes, memory_limited_jobs
from l2tech.pipeline.memory import parse_size
from l2tech.pipeline.journal import JOURNAL_NAME, Journal
from l2tech.pipeline.recipe_file import read_recipe_file, recipe_hash, recipe_to_toml, toml_dumps
from l2tech.pipeline.sidecar import read_sidecar

from conftest import shared_file

SIXD = "raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng"


def _sha(p) -> str:
    return hashlib.sha256(Path(p).read_bytes()).hexdigest()


def _jpegs(folder: Path, n: int, size=(160, 120)) -> list[Path]:
    """``n`` small JPEGs with different content (a seeded gradient plus noise)."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(13)
    w, h = size
    ramp = np.linspace(0, 200, w, dtype=np.float32)[None, :, None]
    paths = []
    for k in range(n):
        img = np.clip(ramp + rng.normal(0, 20, (h, w, 3)) + 2 * k, 0, 255).astype(np.uint8)
        p = folder / f"img{k:02d}.jpg"
        assert cv2.imwrite(str(p), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(p)
    return paths


def _outputs(folder: Path) -> dict[str, bytes]:
    """The images of an output folder (sidecars and the journal left out)."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.suffix in (".jpg", ".png", ".tif")}


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".l2tmp-" in p.name)


# ---- recipe files --------------------------------------------------------------------------


def test_recipe_toml_round_trip_every_field(tmp_path):
    # a recipe with every field away from its default where the field allows it
    r = Recipe(lens_correction=False, corrections=("tca", "distortion"), camera='Cam "X"', lens="Lens\\1",
               focal_length_mm=24.5, f_number=4, focus_distance_m=3.0, exposure_ev=-1.25, white_balance="daylight",
               output_space="display-p3", format="tiff", quality=80, bits=16, scale=1.1, interpolation="lanczos",
               look="mono", lut="/x/y.cube", lut_input="V-Log/V-Gamut", log_output="V-Log", profile="/p/l.xml",
               profile_source="user", projection="rectilinear", tone="none", tone_contrast=1.2, tone_latitude_ev=1.5,
               tone_white_ev=4.0, tone_black_ev=-9.0, auto_exposure=True, highlights="blend", demosaic="ahd", distortion_k1=-0.01,
               auto_tca=True, rotate_deg=1.5, crop="3:2", keystone=(10.0, 20.0, 10.0, 400.0, 600.0, 20.0, 600.0, 400.0),
               denoise=0.5, sharpen=0.5, sharpen_radius_px=1.2, sharpen_halo=0.02, force=True, vignetting_strength=0.5)
    assert all(getattr(r, f.name) != f.default for f in dataclasses.fields(Recipe)), "pick non-defaults for every field"
    text = recipe_to_toml(r)
    # the trusted reader sees exactly the recipe's values (tuples as lists)
    assert tomllib.loads(text) == {k: list(v) if isinstance(v, tuple) else v for k, v in r.to_dict().items()}
    (tmp_path / "r.toml").write_text(text)
    assert read_recipe_file(tmp_path / "r.toml") == r
    # unset fields are listed as comments, so the file names every setting
    assert "# camera is not set" in recipe_to_toml(Recipe())
    assert read_recipe_file(_write(tmp_path / "d.toml", recipe_to_toml(Recipe()))) == Recipe()


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.text(min_size=1, max_size=12),
                       st.one_of(st.text(max_size=40), st.booleans(), st.integers(-2**60, 2**60),
                                 st.floats(allow_nan=False), st.lists(st.text(max_size=8), max_size=4)),
                       max_size=6))
def test_toml_writer_is_read_back_by_tomllib(doc):
    # tomllib (Python's TOML 1.0 reader) is the reference for what the small writer emits
    assert tomllib.loads(toml_dumps({"t": doc})) == ({"t": doc})


def _write(p: Path, text: str) -> Path:
    p.write_text(text)
    return p


@pytest.mark.parametrize("text, line, message", [
    ("exposure_ev = 0.5\n\nbogus = 1\n", 3, "unknown recipe key 'bogus'"),
    ("# c\nquality = \"high\"\n", 2, "quality must be an integer, got 'high'"),
    ("format = 'jpeg'\nwhite_balance = \"moon\"\n", 2, "white_balance must be one of camera, daylight, auto"),
    ("\n\n\nexposure_ev = 40\n", 4, "exposure must be a number of stops within ±16"),
    ("corrections = [\"tca\", \"sharpen\"]\n", 1, "unknown correction(s) sharpen"),
    ("lens_correction = 1\n", 1, "lens_correction must be true or false"),
    ("quality = 90\nexposure_ev = = 1\n", 2, "not valid TOML"),
    ("[develop]\nquality = 90\n", 1, "unknown table [develop]"),
    ("[recipe]\nquality = 90\nfoo = 2\n", 3, "unknown recipe key 'foo'"),
    ("exposure_ev = 0.5\nquality = 0\n", 2, "quality: JPEG quality must be a whole number 1-100, got 0"),  # was after the decode
    ("look = \"nosuch\"\n", 1, "look: unknown look 'nosuch'; valid: bleach"),
])
def test_invalid_recipes_name_file_and_line(tmp_path, text, line, message):
    p = _write(tmp_path / "bad.toml", text)
    with pytest.raises(RecipeError) as info:
        read_recipe_file(p)
    assert str(info.value).startswith(f"{p}:{line}: "), str(info.value)
    assert message in str(info.value)
    assert info.value.line == line


def test_a_field_added_to_recipe_needs_no_change_in_the_file_mapping(tmp_path, monkeypatch):
    @dataclasses.dataclass(frozen=True)
    class Wider(Recipe):
        grain_amount: float = 0.0

    monkeypatch.setattr(rf, "Recipe", Wider)
    r = Wider(grain_amount=0.25, quality=70)
    text = recipe_to_toml(r)
    assert "grain_amount = 0.25" in text
    assert read_recipe_file(_write(tmp_path / "w.toml", text)) == r
    with pytest.raises(RecipeError, match="grain_amount must be a number"):
        read_recipe_file(_write(tmp_path / "x.toml", 'grain_amount = "lots"\n'))


def test_recipe_hash_is_stable_and_tells_recipes_and_commands_apart():
    # sha256 of the canonical JSON; fixed here so a change of the hash (which invalidates every
    # journal) is a deliberate one
    doc = {"command": "develop", "recipe": {k: list(v) if isinstance(v, tuple) else v for k, v in Recipe().to_dict().items()}}
    ref = hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert recipe_hash(Recipe()) == ref
    assert recipe_hash(Recipe(quality=91)) != ref
    assert recipe_hash(Recipe(), "correct") != ref


def test_recipe_show_file_then_given_options(tmp_path, capsys):
    f = _write(tmp_path / "w.toml", 'format = "tiff"\nquality = 80\nexposure_ev = 0.5\nlook = "mono"\n')
    assert main(["recipe", "show", "--recipe", str(f), "--quality", "70", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    # the file's values stay unless an option is given; options left at their defaults do not override
    assert (doc["format"], doc["quality"], doc["exposure_ev"], doc["look"]) == ("tiff", 70, 0.5, "mono")
    # an option given with its default value still wins over the file
    assert main(["recipe", "show", "--recipe", str(f), "--format", "jpeg", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["format"] == "jpeg"
    # the printed TOML is a recipe file that reads back to the same recipe
    assert main(["recipe", "show", "--recipe", str(f), "--white-balance", "daylight"]) == 0
    shown = _write(tmp_path / "shown.toml", capsys.readouterr().out)
    assert read_recipe_file(shown) == Recipe(format="tiff", quality=80, exposure_ev=0.5, look="mono", white_balance="daylight")


def test_recipe_show_checks_and_shows_the_video_table(tmp_path, capsys):
    """`l2 recipe show` checks a recipe's [video] table as `l2 video` does and prints the settings
    it sets (it ignored the table: even invalid values passed)."""
    from l2tech.pipeline.video import read_video_settings

    f = _write(tmp_path / "v.toml", 'quality = 80\n[video]\nstabilize = "auto"\nadaptive_zoom_s = 4\n')
    assert main(["recipe", "show", "--recipe", str(f), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["video"] == {"stabilize": "auto", "adaptive_zoom_s": 4.0}
    assert main(["recipe", "show", "--recipe", str(f)]) == 0
    shown = _write(tmp_path / "shown.toml", capsys.readouterr().out)
    assert read_video_settings(shown)["adaptive_zoom_s"] == 4.0 and read_recipe_file(shown) == Recipe(quality=80)
    bad = _write(tmp_path / "bad.toml", '[video]\nadaptive_zoom_s = "abc"\n')
    assert main(["recipe", "show", "--recipe", str(bad)]) == 2
    assert f"{bad}:2: adaptive_zoom_s must be a number" in capsys.readouterr().err.replace("\n", "")


def test_recipe_show_invalid_file_exit_2(tmp_path, capsys):
    f = _write(tmp_path / "bad.toml", "quality = 90\nscale = 50\n")
    assert main(["recipe", "show", "--recipe", str(f)]) == 2
    assert f"{f}:2: scale: scale must be between 0.1 and 10" in capsys.readouterr().err.replace("\n", "")


def test_correct_with_recipe_equals_the_same_options(tmp_path, capsys):
    (src,) = _jpegs(tmp_path / "in", 1)
    f = _write(tmp_path / "r.toml", "exposure_ev = 0.7\nquality = 80\nlens_correction = false\n")
    assert main(["correct", "--recipe", str(f), str(src), "-o", str(tmp_path / "a.jpg"), "-q"]) == 0
    assert main(["correct", str(src), "-o", str(tmp_path / "b.jpg"), "--exposure", "0.7", "--quality", "80",
                 "--no-lens-correction", "-q"]) == 0
    assert (tmp_path / "a.jpg").read_bytes() == (tmp_path / "b.jpg").read_bytes()
    # and an option on the command line wins over the recipe file
    assert main(["correct", "--recipe", str(f), str(src), "-o", str(tmp_path / "c.jpg"), "--exposure", "0", "-q"]) == 0
    assert read_sidecar(tmp_path / "c.jpg.l2.toml").recipe == Recipe(exposure_ev=0.0, quality=80, lens_correction=False)
    assert (tmp_path / "c.jpg").read_bytes() != (tmp_path / "a.jpg").read_bytes()


# ---- sidecars ------------------------------------------------------------------------------


def test_develop_sidecar_records_everything_and_redoes_byte_identical(tmp_path, capsys):
    raw = shared_file(SIXD)
    out = tmp_path / "out"
    assert main(["develop", str(raw), "-o", str(out) + os.sep, "--exposure", "0.25", "-q", "--jobs", "1"]) == 0
    jpg = out / (raw.stem + ".jpg")
    doc = tomllib.loads((out / (jpg.name + ".l2.toml")).read_text())
    assert doc["l2tech"]["version"] == __import__("l2tech").__version__ and doc["l2tech"]["command"] == "develop"
    assert doc["input"] == {"path": str(raw), "sha256": _sha(raw), "size": raw.stat().st_size}
    assert doc["output"] == {"name": jpg.name, "sha256": _sha(jpg)}
    # the plan's choice and where it came from (MANIFEST.tsv: EF24-105mm f/4L IS USM @65mm F5.6)
    assert doc["lens"]["lens"] == "Canon EF 24-105mm f/4L IS USM" and doc["lens"]["focal_length_mm"] == 65.0
    assert doc["lens"]["profile"]["source"].startswith("lensfun:") and doc["lens"]["sources"]["profile"] == "database"
    assert doc["recipe"]["exposure_ev"] == 0.25
    first = jpg.read_bytes()
    jpg.unlink()
    assert main(["develop", "--from-sidecar", str(out / (jpg.name + ".l2.toml")), "-q"]) == 0
    assert jpg.read_bytes() == first
    # the output is there and matches: nothing to do, the file is untouched
    mtime = jpg.stat().st_mtime_ns
    assert main(["develop", "--from-sidecar", str(out / (jpg.name + ".l2.toml")), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["status"] == "skipped"
    assert jpg.stat().st_mtime_ns == mtime
    # a lens database that now chooses another profile is said, not hidden
    sc = out / (jpg.name + ".l2.toml")
    sc.write_text(sc.read_text().replace('lens = "Canon EF 24-105mm f/4L IS USM"', 'lens = "Some Other Lens"'))
    assert main(["develop", "--from-sidecar", str(sc), "--redo", "-q"]) == 0
    err = capsys.readouterr().err.replace("\n", "")
    assert "the sidecar records the lens 'Some Other Lens', this run chose 'Canon EF 24-105mm f/4L IS USM'" in err
    assert jpg.read_bytes() == first


def test_from_sidecar_refuses_a_changed_input(tmp_path, capsys):
    (src,) = _jpegs(tmp_path / "in", 1)
    assert main(["correct", str(src), "-o", str(tmp_path / "o.jpg"), "--no-lens-correction", "-q"]) == 0
    src.write_bytes(src.read_bytes() + b"\0")
    assert main(["correct", "--from-sidecar", str(tmp_path / "o.jpg.l2.toml"), "--redo"]) == 2
    assert "changed since the sidecar was written" in capsys.readouterr().err.replace("\n", "")


def test_from_sidecar_with_its_input_gone_is_a_missing_input(tmp_path, capsys):
    """The sidecar's input moved away: the same InputNotFoundError and exit 1 as naming the
    missing file directly (not a usage error), nothing written."""
    (src,) = _jpegs(tmp_path / "in", 1)
    assert main(["correct", str(src), "-o", str(tmp_path / "o.jpg"), "--no-lens-correction", "-q"]) == 0
    capsys.readouterr()
    src.unlink()
    assert main(["correct", "--from-sidecar", str(tmp_path / "o.jpg.l2.toml"), "-o", str(tmp_path / "again.jpg")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error (InputNotFoundError): ") and str(src) in err and "sidecar" in err
    assert main(["correct", str(src), "-o", str(tmp_path / "again.jpg")]) == 1
    assert not (tmp_path / "again.jpg").exists()


# ---- resume ----------------------------------------------------------------------------------


def test_rerun_resumes_and_refuses_outputs_of_another_recipe(tmp_path, capsys):
    ins = [str(p) for p in _jpegs(tmp_path / "in", 4)]
    out = tmp_path / "out"
    args = ["correct", *ins, "-o", str(out), "--no-lens-correction", "--json", "--jobs", "1"]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert (first["ok"], first["skipped"], first["failed"]) == (4, 0, 0)
    made = _outputs(out)
    mtimes = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert len(Journal(out).entries) == 4
    # the same command again: nothing to do (the journal), nothing touched
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["ok"], doc["skipped"]) == (0, 4)
    assert doc["skipped_reasons"] == {"done earlier with this recipe (journal)": 4}
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == mtimes
    # one output lost: only it is made again, identical
    (out / "img02.jpg").unlink()
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["ok"], doc["skipped"]) == (1, 3) and _outputs(out) == made
    # another recipe: each existing output is an error (exit 1), untouched
    assert main([*args, "--quality", "60"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["failed"] == 4 and all("made with another recipe" in e for e in doc["failed_inputs"].values())
    assert _outputs(out) == made
    # ... unless --overwrite
    assert main([*args, "--quality", "60", "--overwrite"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] == 4
    assert all(len(made[n]) != len(b) for n, b in _outputs(out).items())
    # without the journal the sidecars tell the recipe: same recipe skipped, another refused
    (out / JOURNAL_NAME).unlink()
    assert main([*args, "--quality", "60"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["skipped_reasons"] == {"exists and matches its sidecar's recipe and input": 4}
    assert main(args) == 1
    capsys.readouterr()
    # --redo makes every output again (with this run's recipe)
    assert main([*args, "--redo"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] == 4
    assert _outputs(out) == made
    assert _temps(out) == []


def test_an_output_of_unknown_origin_is_skipped_as_before(tmp_path, capsys):
    (src,) = _jpegs(tmp_path / "in", 1)
    out = tmp_path / "o.jpg"
    out.write_bytes(b"earlier")
    assert main(["correct", str(src), "-o", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["results"][0]["status"] == "skipped"
    assert out.read_bytes() == b"earlier" and not (tmp_path / "o.jpg.l2.toml").exists()


def test_journal_ignores_a_line_cut_by_a_kill(tmp_path):
    ins = [str(p) for p in _jpegs(tmp_path / "in", 2)]
    out = tmp_path / "out"
    assert main(["correct", *ins, "-o", str(out), "--no-lens-correction", "-q", "--jobs", "1"]) == 0
    with open(out / JOURNAL_NAME, "ab") as fh:
        fh.write(b'{"output": "img09.jpg", "input": "/x", "recipe_ha')  # killed mid-append
    assert sorted(Journal(out).entries) == ["img00.jpg", "img01.jpg"]


# ---- parallel, memory, summary ---------------------------------------------------------------


def test_jobs_2_equals_jobs_1_and_the_summary(tmp_path, capsys):
    ins = [str(p) for p in _jpegs(tmp_path / "in", 4)]
    bad = tmp_path / "in" / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really")
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["correct", *ins, "-o", str(a), "--no-lens-correction", "-q", "--jobs", "1"]) == 0
    capsys.readouterr()
    assert main(["correct", *ins, str(bad), "-o", str(b), "--no-lens-correction", "--json", "--jobs", "2"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert _outputs(a) == _outputs(b)
    assert (doc["ok"], doc["done"], doc["skipped"], doc["failed"]) == (4, 4, 0, 1)
    assert list(doc["failed_inputs"]) == [str(bad)]
    assert doc["elapsed_s"] > 0 and doc["files_per_s"] == pytest.approx(4 / doc["elapsed_s"], rel=0.01)
    assert not (b / "bad.jpg").exists() and _temps(b) == []
    assert doc["workers"] == {"mode": "processes", "workers": 2, "to_do": 5}
    # a memory budget for one of these jobs (301 MiB each, estimated) but not two: one at a time, in this process
    assert main(["correct", *ins, "-o", str(tmp_path / "c"), "--no-lens-correction", "--json", "--jobs", "2",
                 "--max-memory", "400M"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["workers"] == {"mode": "in-process", "workers": 1, "to_do": 4}
    assert _outputs(tmp_path / "c") == _outputs(a)
    assert main(["correct", *ins, "-o", str(tmp_path / "d"), "--max-memory", "lots"]) == 2


def test_memory_budget_limits_concurrent_frames():
    assert parse_size("4G") == 4 * 2**30 and parse_size("512M") == 512 * 2**20 and parse_size("1.5GiB") == 3 * 2**29
    assert parse_size("1000") == 1000
    with pytest.raises(Exception, match="memory size"):
        parse_size("lots")
    # a 24 MP develop: the measured figures of l2tech.pipeline.memory (300 MiB + 16 B/px, 10 % margin)
    one = job_memory_bytes(24)
    assert one == int(300 * 2**20 + 24e6 * 16 * 1.10)
    assert memory_limited_jobs(8, 3 * one + 1) == 3
    assert memory_limited_jobs(2, 100 * one) == 2
    assert memory_limited_jobs(4, 1) == 1  # always at least one


def test_an_output_that_is_another_input_of_the_batch_is_refused(tmp_path):
    # the library API takes any outputs: task 1 would overwrite task 2's input
    from l2tech.errors import UsageError
    from l2tech.pipeline.batch import BatchTask, run_tasks

    a, b = _jpegs(tmp_path, 2)
    before = b.read_bytes()
    r = Recipe(lens_correction=False)
    tasks = [BatchTask("correct", str(a), str(b), r, "jpeg"), BatchTask("correct", str(b), str(tmp_path / "o.jpg"), r, "jpeg")]
    items = {Path(i.input).name: i for i in run_tasks(tasks, overwrite=True, journal=False)}
    assert items["img00.jpg"].status == "failed" and isinstance(items["img00.jpg"].error, UsageError)
    assert "same file as an input of this batch" in str(items["img00.jpg"].error)
    assert items["img01.jpg"].status == "ok"
    assert b.read_bytes() == before


def test_an_edited_lut_file_is_another_recipe(tmp_path, capsys):
    """A setting that names a file (--lut, --look FILE, --profile, --gyro) is hashed with the
    file's content: editing the file is not "the same recipe" for resume (found by a new user:
    an edited profile was skipped as done)."""
    from l2tech.color.lut import LUT3D
    from l2tech.color.lut_io import write_cube

    ins = [str(p) for p in _jpegs(tmp_path / "in", 1)]
    cube = tmp_path / "look.cube"
    ident = LUT3D.identity(5)
    write_cube(ident, cube)
    out = tmp_path / "out"
    args = ["correct", *ins, "-o", str(out) + "/", "--no-lens-correction", "--lut", str(cube), "--json"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args) == 0  # unchanged: skipped
    assert json.loads(capsys.readouterr().out)["skipped"] == 1
    write_cube(LUT3D(np.asarray(ident.table) * 0.5, ident.domain), cube)
    assert main(args) == 1  # edited: made with another recipe, not replaced without --overwrite
    doc = json.loads(capsys.readouterr().out)
    assert doc["failed"] == 1 and "another recipe" in json.dumps(doc)
    assert main([*args, "--overwrite"]) == 0
