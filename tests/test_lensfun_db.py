"""The lensfun XML loader against lensfunpy (which parses the same files with lensfun 0.3.x)."""

from __future__ import annotations

import time
import warnings

import pytest

lensfunpy = pytest.importorskip("lensfunpy")

from l2tech.errors import CorruptInputError, EmptyFileError, L2Error  # noqa: E402
from l2tech.profiles.lensfun_xml import (  # noqa: E402
    LensfunDataWarning,
    bundled_db_dir,
    default_user_dir,
    load_database,
    parse_lensfun_xml,
    write_lensfun_xml,
)

_LENS_XML = """<lensdatabase version="1">
    <mount><name>Test Mount</name><compat>Leica L</compat></mount>
    <camera>
        <maker>Testmaker</maker>
        <model>TM-1</model>
        <mount>Test Mount</mount>
        <cropfactor>1.5</cropfactor>
    </camera>
    <lens>
        <maker>Panasonic</maker>
        <model>Lumix S 20-60/F3.5-5.6</model>
        <mount>Leica L</mount>
        <cropfactor>1</cropfactor>
        <calibration>
            <distortion model="ptlens" focal="20" a="0.1" b="-0.2" c="0.05"/>
            <tca model="poly3" focal="20" vr="1.001" br="0.0001" vb="0.999"/>
            <vignetting model="pa" focal="20" aperture="3.5" distance="10" k1="-0.5" k2="0.1" k3="-0.05"/>
        </calibration>
    </lens>
    <lens>
        <maker>Bad</maker>
        <model>Bad lens 50mm f/2</model>
        <mount>Leica L</mount>
        <cropfactor>1</cropfactor>
        <calibration>
            <distortion model="poly3" focal="50" k1="0.01x"/>
        </calibration>
    </lens>
    <lens>
        <maker>Good</maker>
        <model>Good lens 35mm f/2</model>
        <mount>Leica L</mount>
        <cropfactor>1.0</cropfactor>
        <aspect-ratio>4:3</aspect-ratio>
        <center x="0.01" y="-0.02"/>
        <calibration>
            <distortion model="poly5" focal="35" k1="-0.01" k2="0.002"/>
        </calibration>
    </lens>
</lensdatabase>
"""


def _bundled():
    return load_database(user_dirs=())


def test_bundled_matches_lensfunpy_entry_for_entry():
    """Every lens lensfunpy loads has one record with the same numbers (and no extra ones)."""
    db = _bundled()
    ldb = lensfunpy.Database()  # lensfunpy 1.x: bundled lensfun 0.3.x database
    assert len(db.lenses) == len(ldb.lenses)
    assert len(db.cameras) == len(ldb.cameras)
    assert db.warnings == ()
    ours: dict[tuple[str, str], list] = {}
    for lens in db.lenses:
        ours.setdefault((lens.maker, lens.model), []).append(lens)
    unmatched = []
    for lf in ldb.lenses:
        cands = ours.get((lf.maker.strip(), lf.model.strip()), [])
        ok = [
            x
            for x in cands
            if x.focal_min_mm == pytest.approx(lf.min_focal, rel=1e-6)
            and x.focal_max_mm == pytest.approx(lf.max_focal, rel=1e-6)
            and x.crop_factor == pytest.approx(lf.crop_factor, rel=1e-6)
            and (x.aperture_min or 0.0) == pytest.approx(lf.min_aperture or 0.0, rel=1e-6)
            and (x.aperture_max or 0.0) == pytest.approx(lf.max_aperture or 0.0, rel=1e-6)
            and x.center_x == pytest.approx(lf.center_x, abs=1e-7)
            and x.center_y == pytest.approx(lf.center_y, abs=1e-7)
            and tuple(x.mounts) == tuple(lf.mounts)
            and len(x.distortion) == len(lf.calib_distortion)
            and len(x.tca) == len(lf.calib_tca)
            and len(x.vignetting) == len(lf.calib_vignetting)
        ]
        if not ok:
            unmatched.append(f"{lf.maker} / {lf.model}")
    assert unmatched == []


def test_bundled_coefficients_match_lensfunpy():
    db = _bundled()
    ldb = lensfunpy.Database()
    lf = ldb.find_lenses(ldb.find_cameras("Panasonic", "DC-S5")[0], "Panasonic", "Lumix S 20-60")[0]
    ours = next(x for x in db.lenses if x.model == "Lumix S 20-60/F3.5-5.6")
    assert ours.mounts == ("Leica L",)
    assert ours.source == "lensfun:mil-panasonic.xml"
    for o, t in zip(ours.distortion, lf.calib_distortion):
        assert o.model == "ptlens"
        assert o.focal_length_mm == pytest.approx(t.focal)
        assert [o.terms["a"], o.terms["b"], o.terms["c"]] == pytest.approx(list(t.terms), rel=1e-6, abs=1e-9)
    for o, t in zip(ours.tca, lf.calib_tca):
        # lensfun Terms order: vr, vb, cr, cb, br, bb
        mine = [o.terms[k] for k in ("vr", "vb", "cr", "cb", "br", "bb")]
        assert mine == pytest.approx(list(t.terms), rel=1e-6, abs=1e-9)
    assert len(ours.vignetting) == len(lf.calib_vignetting)
    cam = next(c for c in db.cameras if c.model == "DC-S5")
    assert cam.mount == "Leica L" and cam.crop_factor == 1.0
    assert "Leica L" in db.mounts


def test_bundled_load_is_cached_and_fast():
    _bundled()
    t0 = time.perf_counter()
    for _ in range(20):
        load_database(user_dirs=())
    assert (time.perf_counter() - t0) / 20 < 0.05  # cached parse; the first parse takes ~0.3 s
    assert bundled_db_dir().is_dir()


def test_user_dir_wins_and_bad_lens_is_skipped(tmp_path):
    (tmp_path / "mine.xml").write_text(_LENS_XML)
    with pytest.warns(LensfunDataWarning, match=r"mine\.xml: lens 'Bad Bad lens 50mm f/2' skipped: bad number"):
        db = load_database(user_dirs=(tmp_path,))
    s20 = [x for x in db.lenses if x.model == "Lumix S 20-60/F3.5-5.6"]
    assert len(s20) == 1 and s20[0].source.startswith("user:")
    assert s20[0].distortion[0].terms == {"a": 0.1, "b": -0.2, "c": 0.05}
    assert s20[0].tca[0].terms["cr"] == 0.0 and s20[0].tca[0].terms["bb"] == 0.0  # lensfun defaults
    good = next(x for x in db.lenses if x.maker == "Good")
    assert good.aspect_ratio == pytest.approx(4 / 3)
    assert (good.center_x, good.center_y) == (0.01, -0.02)
    assert good.focal_min_mm == good.focal_max_mm == 35.0  # guessed from the name, as lensfun does
    assert not any(x.maker == "Bad" for x in db.lenses)
    assert any(c.model == "TM-1" for c in db.cameras)
    assert db.mounts["Test Mount"] == ("Leica L",)
    assert len(db.lenses) == len(_bundled().lenses) + 1  # S 20-60 replaced, Good added, Bad skipped
    assert any("Bad lens" in w for w in db.warnings)


def test_env_user_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("L2TECH_LENS_DIR", str(tmp_path))
    assert default_user_dir() == tmp_path
    (tmp_path / "a.xml").write_text(_LENS_XML.replace('k1="0.01x"', 'k1="0.01"'))
    db = load_database()
    assert any(x.maker == "Bad" for x in db.lenses)


@pytest.mark.parametrize(
    "payload",
    [
        '<?xml version="1.0"?><!DOCTYPE lensdatabase [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
        "<lensdatabase>&b;</lensdatabase>",
        '<?xml version="1.0"?><!DOCTYPE lensdatabase [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<lensdatabase>&x;</lensdatabase>",
        '<?xml version="1.0"?><!DOCTYPE lensdatabase SYSTEM "http://example.invalid/x.dtd"><lensdatabase/>',
    ],
    ids=["billion-laughs", "external-entity", "external-dtd"],
)
def test_doctype_and_entities_refused(tmp_path, payload):
    """RELIABILITY.md case 14."""
    f = tmp_path / "evil.xml"
    f.write_text(payload)
    t0 = time.perf_counter()
    with pytest.raises(CorruptInputError, match=r"evil\.xml: XML with a DOCTYPE"):
        parse_lensfun_xml(f)
    assert time.perf_counter() - t0 < 1.0
    # in a folder it is skipped with a warning; the bundled data still loads
    with pytest.warns(LensfunDataWarning, match="evil.xml"):
        db = load_database(user_dirs=(tmp_path,))
    assert len(db.lenses) == len(_bundled().lenses)


def test_empty_and_malformed(tmp_path):
    e = tmp_path / "empty.xml"
    e.write_bytes(b"")
    with pytest.raises(EmptyFileError, match="empty.xml"):
        parse_lensfun_xml(e)
    m = tmp_path / "bad.xml"
    m.write_text("<lensdatabase><lens></lensdatabase>")
    with pytest.raises(CorruptInputError, match=r"bad\.xml:1: malformed XML"):
        parse_lensfun_xml(m)
    w = tmp_path / "wrong.xml"
    w.write_text("<html/>")
    with pytest.raises(L2Error, match="lensdatabase"):
        parse_lensfun_xml(w)


def test_write_round_trip_and_lensfunpy_loads_it(tmp_path):
    db = _bundled()
    picks = [x for x in db.lenses if "Leica L" in x.mounts][:5]
    cam = next(c for c in db.cameras if c.model == "DC-S5")
    out = tmp_path / "out.xml"
    write_lensfun_xml(out, picks, [cam])
    assert [p.name for p in tmp_path.iterdir()] == ["out.xml"]  # no temp left behind
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        back = parse_lensfun_xml(out, source_prefix="user")
    assert len(back.lenses) == len(picks)
    for a, b in zip(picks, back.lenses):
        assert (a.maker, a.model, a.mounts, a.crop_factor, a.aspect_ratio) == (b.maker, b.model, b.mounts, b.crop_factor, b.aspect_ratio)
        assert a.distortion == b.distortion and a.tca == b.tca and a.vignetting == b.vignetting
    # lensfun itself reads the file: same lenses, same coefficients
    ldb = lensfunpy.Database(paths=[str(out)], load_common=False, load_bundled=False)
    assert len(ldb.lenses) == len(picks) and len(ldb.cameras) == 1
    for a, lf in zip(sorted(picks, key=lambda x: x.model), sorted(ldb.lenses, key=lambda x: x.model)):
        assert lf.model == a.model
        assert len(lf.calib_distortion) == len(a.distortion)
        for d, t in zip(a.distortion, lf.calib_distortion):
            assert t.focal == pytest.approx(d.focal_length_mm)
            assert list(t.terms)[: len(d.terms)] == pytest.approx(list(d.terms.values()), rel=1e-6, abs=1e-9)
