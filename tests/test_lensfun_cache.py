"""The parsed lensfun database cached on disk (l2tech.profiles.lensfun_cache).

Every test points L2TECH_CACHE_DIR at its own tmp folder and clears the in-process memo, so the
disk cache is what is exercised, and the user's ~/.cache is never touched. The oracle for the
cached content is a fresh parse of the same files (itself checked against lensfunpy in
test_lensfun_db.py).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest

pytest.importorskip("lensfunpy")

from l2tech.profiles import lensfun_cache, lensfun_xml  # noqa: E402
from l2tech.profiles.lensfun_xml import LensfunDataWarning, load_database  # noqa: E402
from l2tech.profiles.model import LensProfile  # noqa: E402

_LENS = """<lensdatabase version="1">
    <lens>
        <maker>Testmaker</maker>
        <model>Test 35mm f/2</model>
        <mount>Leica L</mount>
        <cropfactor>1</cropfactor>
        <calibration>
            <distortion model="poly3" focal="35" k1="{k1}"/>
            <vignetting model="pa" focal="35" aperture="2" distance="10" k1="-0.3" k2="0.1" k3="0"/>
        </calibration>
    </lens>
    <lens>
        <maker>Bad</maker>
        <model>Bad lens 50mm f/2</model>
        <mount>Leica L</mount>
        <cropfactor>1</cropfactor>
        <calibration><distortion model="poly3" focal="50" k1="0.01x"/></calibration>
    </lens>
</lensdatabase>
"""
WARNING = r"lens 'Bad Bad lens 50mm f/2' skipped: bad number"
MAX_WARM_LOAD_S = 0.1  # the bound for a warm load of the whole database (measured ~0.015 s)


@pytest.fixture
def cache(monkeypatch, tmp_path):
    d = tmp_path / "cache"
    monkeypatch.setenv("L2TECH_CACHE_DIR", str(d))
    lensfun_xml._MEMO.clear()
    yield d
    lensfun_xml._MEMO.clear()


def _load(user: Path):
    lensfun_xml._MEMO.clear()  # as a new process would: only the disk cache
    with pytest.warns(LensfunDataWarning, match=WARNING):  # replayed on every load, cached or not
        return load_database(user_dirs=(user,))


def _fresh(user: Path):
    b = lensfun_xml.bundled_db_dir()
    with pytest.warns(LensfunDataWarning):
        db, _, _ = lensfun_xml._parse_database(b, lensfun_xml._xml_files(b), [(user, lensfun_xml._xml_files(user))])
    return db


def _user(tmp_path: Path, k1: str = "0.01") -> Path:
    user = tmp_path / "lenses"
    user.mkdir(exist_ok=True)
    (user / "mine.xml").write_text(_LENS.format(k1=k1))
    return user


def test_cache_hit_returns_an_equal_database(cache, tmp_path):
    user = _user(tmp_path)
    first = _load(user)
    files = list(cache.glob("lensfun-db-*.marshal"))
    assert len(files) == 1
    again = _load(user)
    # from the disk: calibration points not decoded yet
    assert type(again.lenses[0]).__name__ == "_CachedLensProfile"
    fresh = _fresh(user)
    assert again == fresh and first == fresh
    assert len(again.lenses) == len(fresh.lenses) > 1000 and again.files == fresh.files
    mine = next(x for x in again.lenses if x.maker == "Testmaker")
    assert mine.distortion[0].terms == {"k1": 0.01} and isinstance(mine, LensProfile)
    assert type(mine) is LensProfile  # decoded on first use: a plain record from then on
    other = again.lenses[1]
    assert replace(other, model="x").distortion == fresh.lenses[1].distortion
    assert pickle.loads(pickle.dumps(again.lenses[2])) == fresh.lenses[2]


def test_user_folder_change_invalidates(cache, tmp_path):
    user = _user(tmp_path, k1="0.01")
    _load(user)
    (user / "mine.xml").write_text(_LENS.format(k1="0.0234"))  # another size
    db = _load(user)
    assert next(x for x in db.lenses if x.maker == "Testmaker").distortion[0].terms["k1"] == 0.0234
    # same size, new modification time
    (user / "mine.xml").write_text(_LENS.format(k1="0.0567"))
    st = (user / "mine.xml").stat()
    os.utime(user / "mine.xml", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    db = _load(user)
    assert next(x for x in db.lenses if x.maker == "Testmaker").distortion[0].terms["k1"] == 0.0567
    # a file added to the folder
    (user / "more.xml").write_text(_LENS.format(k1="0.01").replace("Testmaker", "Othermaker"))
    lensfun_xml._MEMO.clear()
    with pytest.warns(LensfunDataWarning, match=WARNING):
        db = load_database(user_dirs=(user,))
    assert any(x.maker == "Othermaker" for x in db.lenses)
    assert len(list(cache.glob("lensfun-db-*.marshal"))) == 1  # rewritten in place, not piled up


def test_corrupt_cache_is_rebuilt(cache, tmp_path):
    user = _user(tmp_path)
    expected = _load(user)
    (path,) = cache.glob("lensfun-db-*.marshal")
    for garbage in (b"", b"\x00not marshal at all", path.read_bytes()[:1000]):
        path.write_bytes(garbage)
        db = _load(user)  # no error for the user
        assert db == expected
        assert len(path.read_bytes()) > 100_000  # written again, whole
        lensfun_xml._MEMO.clear()
        key_ok = lensfun_cache.read_cached_database(
            (True, (str(user),)),
            lensfun_cache.database_key(lensfun_xml.bundled_db_dir(), lensfun_xml._xml_files(lensfun_xml.bundled_db_dir()),
                                       [(user, lensfun_xml._xml_files(user))]),
            lensfun_xml.LensDatabase,
        )
        assert key_ok is not None and key_ok[0] == expected


def test_unwritable_cache_folder_is_no_error(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("L2TECH_CACHE_DIR", str(blocker / "cache"))
    lensfun_xml._MEMO.clear()
    user = _user(tmp_path)
    with pytest.warns(LensfunDataWarning, match=WARNING):
        db = load_database(user_dirs=(user,))
    assert any(x.maker == "Testmaker" for x in db.lenses)
    lensfun_xml._MEMO.clear()


def test_cache_dir_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("L2TECH_CACHE_DIR", str(tmp_path / "c"))
    assert lensfun_cache.cache_dir() == tmp_path / "c"
    monkeypatch.delenv("L2TECH_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert lensfun_cache.cache_dir() == tmp_path / "xdg" / "l2tech"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")  # the XDG spec: absolute paths only
    assert lensfun_cache.cache_dir() == Path.home() / ".cache" / "l2tech"


def test_warm_load_is_fast_and_imports_nothing_heavy(tmp_path):
    """A new interpreter loading the whole database from a warm cache: time of load_database()
    and the modules the database path imports (no scipy, colour-science or matplotlib)."""
    script = textwrap.dedent(
        """
        import json, sys, time
        t0 = time.perf_counter()
        from l2tech.profiles.lensfun_xml import load_database
        from l2tech.profiles.matching import match_lens
        t1 = time.perf_counter()
        db = load_database(user_dirs=())
        t2 = time.perf_counter()
        lens = next(x for x in db.lenses if x.model == "Lumix S 20-60/F3.5-5.6")
        heavy = sorted(m for m in ("scipy", "colour", "matplotlib") if m in sys.modules)
        print(json.dumps({"load_s": t2 - t1, "lenses": len(db.lenses), "k": len(lens.distortion), "heavy": heavy}))
        """
    )
    env = {**os.environ, "L2TECH_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": os.pathsep.join(sys.path)}
    runs = [json.loads(subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True).stdout)
            for _ in range(3)]
    cold, warm = runs[0], min(runs[1:], key=lambda r: r["load_s"])
    assert cold["lenses"] == warm["lenses"] > 1000 and cold["k"] == warm["k"] > 0
    assert warm["heavy"] == [] and cold["heavy"] == []
    assert warm["load_s"] < MAX_WARM_LOAD_S, f"warm load {warm['load_s']:.3f} s (cold {cold['load_s']:.3f} s)"
