"""``l2`` start-up: nothing heavy imported for ``--help``; every command's help shows an example;
options shared through :mod:`l2tech.cli.options` and their deprecated spellings.

The start-up time itself is measured by ``benchmarks/bench_startup.py`` (tests never assert
timings); these tests check the cause of a slow start — a heavy import — which is deterministic.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

import l2tech
from l2tech.cli.main import main
from l2tech.cli.options import focus_distance_option

#: Modules that cost 0.1-2 s each to import; none may be loaded by ``l2 --help``.
HEAVY = ("numpy", "cv2", "rawpy", "numba", "colour", "scipy", "matplotlib", "lensfunpy", "dask", "distributed")

_SRC = str(Path(l2tech.__file__).resolve().parents[1])


def _python(code: str) -> str:
    """Run ``code`` in a fresh interpreter importing this checkout's l2tech; return its stdout."""
    env = {**os.environ, "PYTHONPATH": _SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_import_cli_main_loads_no_heavy_module():
    out = json.loads(_python(
        "import json, sys\n"
        "import l2tech, l2tech.cli.main\n"
        f"print(json.dumps([l2tech.__file__, sorted(m for m in {HEAVY!r} if m in sys.modules)]))\n"
    ))
    assert Path(out[0]).resolve().parents[1] == Path(_SRC)  # the subprocess ran this checkout
    assert out[1] == []


_WALK = """
import contextlib, io, json, sys
import click
from l2tech.cli.main import cli, main

def walk(group, path):
    ctx = click.Context(group, info_name="l2")
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        yield path + [name]
        if isinstance(cmd, click.Group):
            yield from walk(cmd, path + [name])

rows = []
for path in [[]] + list(walk(cli, [])):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rc = main(path + ["--help"])
    rows.append({"path": path, "rc": rc, "text": buf.getvalue()})
print(json.dumps({"rows": rows, "heavy": sorted(m for m in %r if m in sys.modules)}))
"""


def test_every_command_help_shows_an_example_and_loads_nothing_heavy():
    doc = json.loads(_python(_WALK % (HEAVY,)))
    paths = {" ".join(r["path"]) for r in doc["rows"]}
    # the walk reached every command the README lists (it cannot pass by finding none)
    assert {"", "develop", "correct", "info", "demo", "video", "lens", "lens search", "lens show", "lens match",
            "lens convert", "lens show-file", "lut", "lut show", "lut apply", "lut convert", "lut bake", "calibrate",
            "calibrate distortion", "calibrate vignetting", "calibrate tca"} <= paths
    for r in doc["rows"]:
        name = " ".join(["l2", *r["path"]])
        assert r["rc"] == 0, name
        assert "Example" in r["text"], f"{name} --help shows no example"
        assert f"{name} " in r["text"].split("Example", 1)[1], f"{name} --help: no example runs `{name}`"
    assert doc["heavy"] == []


def test_help_lists_one_overwrite_and_hides_old_spellings(capsys):
    """``--overwrite`` has one help text everywhere; the deprecated spellings are not shown."""
    texts = {}
    for path in (["develop"], ["video"], ["lut", "bake"], ["lens", "convert"], ["calibrate", "vignetting"]):
        assert main([*path, "--help"]) == 0
        texts[" ".join(path)] = capsys.readouterr().out
    one_help = "--overwrite Replace existing output files (otherwise an existing output is left untouched)."
    for name, text in texts.items():
        assert one_help in " ".join(text.split()), name
        assert text.count("--overwrite") == 1, name
    assert "--distance" not in texts["develop"] and "--focus-distance" in texts["develop"]
    # lut bake: -o/--output is the output file, as everywhere; the colour space is --output-space
    assert "--output-space" in texts["lut bake"] and "-o, --output FILE" in texts["lut bake"]
    assert "--out " not in texts["lut bake"]
    assert "--lens-name" in texts["calibrate vignetting"] and "--lens " not in texts["calibrate vignetting"]


def _probe_command():
    @click.command()
    @focus_distance_option
    def probe(focus_distance_m):
        click.echo(repr(focus_distance_m))

    return probe


def test_deprecated_alias_sets_the_new_option_and_warns(capsys):
    probe = _probe_command()
    probe.main(["--distance", "2.5"], standalone_mode=False)
    cap = capsys.readouterr()
    assert cap.out == "2.5\n"
    assert cap.err == "warning: --distance is deprecated; use --focus-distance\n"
    probe.main(["--focus-distance", "3"], standalone_mode=False)
    cap = capsys.readouterr()
    assert cap.out == "3.0\n" and cap.err == ""
    with pytest.raises(click.UsageError, match="give --focus-distance only"):
        probe.main(["--distance", "2", "--focus-distance", "3"], standalone_mode=False)


def test_calibrate_old_lens_spelling_still_names_the_profile(tmp_path, capsys):
    """``l2 calibrate ... --lens`` (docs before the options were unified) is ``--lens-name`` now."""
    img = tmp_path / "x.png"
    img.write_bytes(b"not read: the options are checked first")
    rc = main(["calibrate", "vignetting", str(img), "--lens", "A", "--lens-name", "B"])
    assert rc == 2 and "give --lens-name only" in capsys.readouterr().err
    rc = main(["calibrate", "vignetting", str(img), "--focal-length", "20", "--f-number", "4", "--distance", "0",
               "--lens", "Old Spelling"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "warning: --lens is deprecated; use --lens-name" in err
    assert "warning: --distance is deprecated; use --focus-distance" in err
    assert "error (UsageError): --focus-distance 0: must be a positive number" in err


def test_lut_bake_output_is_the_output_file(tmp_path, capsys):
    """``lut bake --output`` is the output file, as ``-o`` (it was the output colour space, now
    ``--output-space``); an old command line that gives it a colour space is a usage error that
    names the new option, nothing written; ``--out`` (the old long spelling of ``-o``) warns."""
    new, long_, old = tmp_path / "new.cube", tmp_path / "long.cube", tmp_path / "old.cube"
    assert main(["lut", "bake", "--look", "mono", "--output-space", "V-Log", "--size", "5", "-o", str(new)]) == 0
    assert main(["lut", "bake", "--look", "mono", "--output-space", "V-Log", "--size", "5", "--output", str(long_)]) == 0
    assert long_.read_bytes() == new.read_bytes()
    capsys.readouterr()
    assert main(["lut", "bake", "--look", "mono", "--output", "V-Log", "--size", "5", "-o", str(old)]) == 2
    err = capsys.readouterr().err
    assert "'V-Log' is a colour space" in err and "--output-space V-Log" in err
    assert not old.exists()
    assert main(["lut", "bake", "--look", "mono", "--size", "5", "-o", str(old), "--output", str(tmp_path / "b.cube")]) == 2
    assert "given 2 times" in capsys.readouterr().err and not old.exists()
    assert main(["lut", "bake", "--look", "mono", "--output-space", "V-Log", "--size", "5", "--out", str(old)]) == 0
    assert "warning: --out is deprecated; use -o/--output" in capsys.readouterr().err
    assert old.read_bytes() == new.read_bytes()
    # and the default (Rec.709) differs, so --output-space really reached the bake
    assert main(["lut", "bake", "--look", "mono", "--size", "5", "-o", str(tmp_path / "709.cube")]) == 0
    assert (tmp_path / "709.cube").read_bytes() != new.read_bytes()
