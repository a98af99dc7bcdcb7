"""darktable ``.xmp`` and RawTherapee ``.pp3`` sidecars read as recipes (issue 13 item 2).

The sidecars are written by the tools themselves where they are installed (``darktable-cli``
embeds its history in the exported JPEG's XMP; ``rawtherapee-cli -O`` writes the full ``.pp3``
it applied); the parser is also checked on synthetic histories whose binary parameters are
packed from darktable's structs (src/iop/exposure.c, src/iop/temperature.c).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import struct
import subprocess
import zlib

import pytest

from l2tech.cli.main import main
from l2tech.errors import RecipeError
from l2tech.pipeline import Recipe
from l2tech.pipeline.recipe_import import read_darktable_xmp, read_foreign_sidecar, read_rawtherapee_pp3

from conftest import shared_file

SIXD = "raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng"


def _xmp(items, history_end=None) -> str:
    lis = "\n".join(
        f'<rdf:li darktable:num="{k}" darktable:operation="{op}" darktable:enabled="{int(on)}" '
        f'darktable:modversion="{ver}" darktable:params="{params}" darktable:multi_priority="{prio}"/>'
        for k, (op, on, ver, params, prio) in enumerate(items))
    end = len(items) if history_end is None else history_end
    return ('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            f'<rdf:Description rdf:about="" xmlns:darktable="http://darktable.sf.net/" darktable:history_end="{end}">'
            f"<darktable:history><rdf:Seq>{lis}</rdf:Seq></darktable:history></rdf:Description></rdf:RDF></x:xmpmeta>")


def _exposure(ev, mode=0, compensate=0, gz=False) -> str:
    # dt_iop_exposure_params_t v6: int mode; float black, exposure, deflicker_percentile,
    # deflicker_target_level; gboolean compensate_exposure_bias
    data = struct.pack("<iffffi", mode, 0.0, ev, 50.0, -4.0, compensate)
    if gz:  # darktable's compressed form: "gz" + 2 digits + base64(zlib)
        return "gz12" + base64.b64encode(zlib.compress(data)).decode()
    return data.hex()


def _temperature(preset) -> str:
    return struct.pack("<ffffi", 2.0, 1.0, 1.5, 1.0, preset).hex()  # v4: red, green, blue, various, preset


def test_darktable_history_maps_exposure_wb_and_lens(tmp_path):
    p = tmp_path / "a.xmp"
    p.write_text(_xmp([
        ("exposure", True, 6, _exposure(0.5), 0),
        ("exposure", True, 6, _exposure(0.25, gz=True), 1),  # a second instance: stops add up
        ("temperature", True, 4, _temperature(3), 0),  # DT_IOP_TEMP_D65
        ("lens", False, 8, "00", 0),
        ("crop", True, 1, "00", 0),
        ("filmicrgb", True, 6, "00", 0),
        ("exposure", True, 6, _exposure(3.0), 0),  # after history_end: not applied
    ], history_end=6))
    imp = read_darktable_xmp(p)
    assert imp.recipe == Recipe(exposure_ev=0.75, white_balance="daylight", lens_correction=False)
    assert any("crop" in i for i in imp.ignored) and any("filmicrgb" in i for i in imp.ignored)
    # as shot → camera; spot/user coefficients are reported, not guessed
    p.write_text(_xmp([("temperature", True, 4, _temperature(0), 0), ("lens", True, 8, "00", 0)]))
    assert read_darktable_xmp(p).recipe == Recipe(white_balance="camera", lens_correction=True)
    p.write_text(_xmp([("temperature", True, 4, _temperature(2), 0)]))
    imp = read_darktable_xmp(p)
    assert imp.recipe == Recipe() and "custom white balance coefficients" in imp.ignored[0]
    p.write_text(_xmp([("exposure", True, 6, _exposure(1.0, mode=1), 0)]))
    assert read_darktable_xmp(p).recipe == Recipe() and "deflicker" in read_darktable_xmp(p).ignored[0]


def test_darktable_cli_export_history(tmp_path):
    """darktable-cli's own history of a default develop: its scene-referred default exposure
    is +0.7 EV with 'compensate camera exposure' on (darktable manual, exposure module)."""
    if shutil.which("darktable-cli") is None:
        pytest.skip("darktable-cli is not installed")
    raw = shared_file(SIXD)
    out = tmp_path / "dt.jpg"
    r = subprocess.run(["darktable-cli", str(raw), str(out), "--core", "--configdir", str(tmp_path / "cfg")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    packet = re.search(rb"<x:xmpmeta.*?</x:xmpmeta>", out.read_bytes(), re.S)
    assert packet, "darktable-cli wrote no XMP into its JPEG"
    (tmp_path / "dt.xmp").write_bytes(packet.group(0))
    imp = read_darktable_xmp(tmp_path / "dt.xmp")
    assert imp.recipe.exposure_ev == pytest.approx(0.7, abs=1e-6)  # float32 0.7 in the params
    assert any("compensate camera exposure" in i for i in imp.ignored)


def test_rawtherapee_profile_written_by_rawtherapee(tmp_path):
    """rawtherapee-cli applies a partial profile and writes the full .pp3 beside its output."""
    if shutil.which("rawtherapee-cli") is None:
        pytest.skip("rawtherapee-cli is not installed")
    partial = tmp_path / "partial.pp3"
    partial.write_text("[Exposure]\nCompensation=1.25\n\n[White Balance]\nSetting=Camera\n\n"
                       "[LensProfile]\nLcMode=lfauto\nUseDistortion=true\nUseVignette=false\nUseCA=true\n\n"
                       "[Crop]\nEnabled=true\nX=10\nY=10\nW=200\nH=150\n\n[Sharpening]\nEnabled=true\n")
    out = tmp_path / "rt.jpg"
    r = subprocess.run(["rawtherapee-cli", "-O", str(out), "-p", str(partial), "-Y", "-c", str(shared_file(SIXD))],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    full = tmp_path / "rt.jpg.pp3"
    assert "AppVersion=" in full.read_text()  # RawTherapee's own file, not ours
    imp = read_rawtherapee_pp3(full)
    assert imp.recipe == Recipe(exposure_ev=1.25, white_balance="camera", corrections=("tca", "distortion"))
    assert any(i.startswith("[Crop] Enabled=true") for i in imp.ignored)
    assert any(i.startswith("[Sharpening] Enabled=true") for i in imp.ignored)


def test_rawtherapee_manual_lens_and_no_lens(tmp_path):
    p = tmp_path / "m.pp3"
    p.write_text("[LensProfile]\nLcMode=lfmanual\nUseDistortion=true\nUseVignette=true\nUseCA=true\n"
                 "LFCameraMake=Canon\nLFCameraModel=Canon EOS 6D\nLFLens=Canon EF 24-105mm f/4L IS USM\n"
                 "[White Balance]\nSetting=autold\n")
    assert read_foreign_sidecar(p).recipe == Recipe(camera="Canon Canon EOS 6D", lens="Canon EF 24-105mm f/4L IS USM",
                                                   white_balance="auto")
    p.write_text("[LensProfile]\nLcMode=none\n")
    assert read_foreign_sidecar(p).recipe == Recipe(lens_correction=False)
    p.write_text("[Exposure\nCompensation=1\n")
    with pytest.raises(RecipeError, match="not a RawTherapee profile"):
        read_foreign_sidecar(p)


def test_recipe_option_takes_a_pp3_and_reports_what_was_ignored(tmp_path, capsys):
    p = tmp_path / "look.pp3"
    p.write_text("[Exposure]\nCompensation=0.5\n[Crop]\nEnabled=true\n")
    assert main(["recipe", "show", "--recipe", str(p), "--quality", "70", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert (doc["exposure_ev"], doc["quality"]) == (0.5, 70)
    assert any("ignored [Crop] Enabled=true" in line for line in doc["_import"])


def test_import_sidecars_takes_each_inputs_own(tmp_path, capsys):
    """``--import-sidecars``: IMG.jpg.pp3 beside one input, IMG.xmp (darktable) beside another,
    none beside the third; the option given on the command line still wins."""
    import cv2
    import numpy as np

    ins = []
    for k in range(3):
        p = tmp_path / f"i{k}.jpg"
        assert cv2.imwrite(str(p), np.full((24, 32, 3), 60 + 40 * k, np.uint8))
        ins.append(str(p))
    (tmp_path / "i0.jpg.pp3").write_text("[Exposure]\nCompensation=1.5\n[LensProfile]\nLcMode=none\n")
    (tmp_path / "i1.xmp").write_text(_xmp([("exposure", True, 6, _exposure(-0.5), 0), ("lens", False, 8, "00", 0)]))
    out = tmp_path / "out"
    assert main(["correct", *ins, "-o", str(out), "--import-sidecars", "--quality", "70", "-q", "--jobs", "1"]) == 0
    from l2tech.pipeline.sidecar import read_sidecar

    got = {k: read_sidecar(out / f"i{k}.jpg.l2.toml").recipe for k in range(3)}
    assert got[0] == Recipe(exposure_ev=1.5, lens_correction=False, quality=70)
    assert got[1] == Recipe(exposure_ev=-0.5, lens_correction=False, quality=70)
    assert got[2] == Recipe(quality=70)
    assert "settings taken from 2 darktable/RawTherapee sidecar(s) of 3 inputs" in capsys.readouterr().err.replace("\n", " ")
    # an option given wins over the input's sidecar
    assert main(["correct", ins[0], "-o", str(tmp_path / "o0.jpg"), "--import-sidecars", "--exposure", "0.25", "-q"]) == 0
    assert read_sidecar(tmp_path / "o0.jpg.l2.toml").recipe == Recipe(exposure_ev=0.25, lens_correction=False, quality=95)
