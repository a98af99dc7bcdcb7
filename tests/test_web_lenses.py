"""Lens browser and lens curves: the lens page's data is l2tech's model at the page's radii,
checked against lensfunpy's own coefficients; distortion is 0 % at r = 0; the calibration
report draws the same curve.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from _web import test_client
from l2tech.profiles.curves import distortion_center_magnification, distortion_percent, lens_curves
from l2tech.web.app import create_app

TOKEN = "t0ken-for-tests-0123456789abcdef"
#: A poly3 and a ptlens lens of the bundled lensfun database (lensfunpy 1.15 db):
#:   [(c.model, c.focal) for c in lensfunpy.Database().find_lenses(None, None, NAME)[0].calib_distortion]
POLY3_LENS = "Canon EF 100-300mm f/5.6L"
PTLENS_LENS = "Canon EF 100-400mm f/4.5-5.6L IS II USM"
#: curves vs the model evaluated independently: float64 throughout
TOL = 1e-9
#: vs lensfunpy's terms, which lensfunpy holds as float32 (relative 6e-8 of terms ~1e-3)
TOL_LENSFUNPY = 1e-8


@pytest.fixture(scope="module")
def db():
    from l2tech.profiles.matching import default_database

    return default_database()


@pytest.fixture
def client(tmp_path, db):
    c = test_client(create_app(tmp_path, TOKEN, db=db))
    c.headers["X-L2-Token"] = TOKEN
    return c


def _lens_id(db, name: str) -> int:
    return next(i for i, p in enumerate(db.lenses) if p.name == name and p.crop_factor == 1.0)


def _page_data(html: str) -> dict:
    m = re.search(r"<script type='application/json' id='lens-curves'>(.*?)</script>", html, re.S)
    assert m, "the lens page carries no curve data"
    return json.loads(m.group(1))


def _lensfunpy_terms(name: str) -> dict[float, tuple[str, list[float]]]:
    import lensfunpy

    lens = next(x for x in lensfunpy.Database().lenses if x.model == name and abs(x.crop_factor - 1.0) < 1e-6)
    return {round(c.focal, 3): (c.model.name.lower(), list(c.terms)) for c in lens.calib_distortion}


def _lensfun_formula(model: str, t: list[float], r: np.ndarray) -> np.ndarray:
    """lensfun ``lensfun.h.in`` (LF_DIST_MODEL_*), written out here independently of l2tech."""
    if model == "poly3":
        return r * (1 - t[0] + t[0] * r**2)
    if model == "ptlens":
        a, b, c = t
        return r * (a * r**3 + b * r**2 + c * r + 1 - a - b - c)
    raise AssertionError(model)


@pytest.mark.parametrize("name,model", [(POLY3_LENS, "poly3"), (PTLENS_LENS, "ptlens")])
def test_lens_page_distortion_curve_is_the_model(client, db, name, model):
    from l2tech.optics.lensfun import DISTORTION_FUNCTIONS

    lens_id = _lens_id(db, name)
    r = client.get(f"/lens/{lens_id}")
    assert r.status_code == 200
    data = _page_data(r.text)["lenses"][0]
    assert data["name"] == name
    curves = data["curves"]["distortion"]
    ref = _lensfunpy_terms(name)
    assert sorted(round(e["focal_length_mm"], 3) for e in curves) == sorted(ref)  # every calibrated focal length
    profile = db.lenses[lens_id]
    by_focal = {c.focal_length_mm: c for c in profile.distortion}
    for e in curves:
        assert e["model"] == model
        r_u = np.array(e["r_u"])
        assert r_u[0] == 0 and r_u[-1] == pytest.approx(np.sqrt(1 + 1.5**2))  # centre to the 3:2 corner
        cal = by_focal[e["focal_length_mm"]]
        # l2tech's own model at the page's radii
        want = DISTORTION_FUNCTIONS[model](r_u, **cal.terms)
        np.testing.assert_allclose(e["r_d"], want, rtol=0, atol=TOL)
        # lensfunpy's coefficients through lensfun's formula
        lf_model, lf_terms = ref[round(e["focal_length_mm"], 3)]
        assert lf_model == model
        np.testing.assert_allclose(e["r_d"], _lensfun_formula(model, lf_terms, r_u), rtol=0, atol=TOL_LENSFUNPY)
        # the percentage: 0 at the centre, relative to the centre magnification elsewhere
        pct = np.array(e["percent"])
        assert pct[0] == 0.0
        m0 = e["center_magnification"]
        assert m0 == pytest.approx(1 - sum(cal.terms.values()) if model == "ptlens" else 1 - cal.terms["k1"], abs=TOL)
        np.testing.assert_allclose(pct[1:], 100 * (want[1:] / (m0 * r_u[1:]) - 1), rtol=0, atol=TOL)
        np.testing.assert_allclose(e["r_paraxial"], m0 * r_u, rtol=0, atol=TOL)
    assert "<svg" in r.text and "id='plot-distortion'" in r.text


def test_lens_page_tca_vignetting_and_bodies(client, db):
    from l2tech.optics.lensfun import tca_factors, vignetting_pa

    lens_id = _lens_id(db, "Canon EF 24-105mm f/4L IS USM")
    profile = db.lenses[lens_id]
    html = client.get(f"/lens/{lens_id}").text
    curves = _page_data(html)["lenses"][0]["curves"]
    assert len(curves["tca"]) == len(profile.tca) and len(curves["vignetting"]) == len(profile.vignetting) > 0
    for e, cal in zip(curves["tca"], sorted(profile.tca, key=lambda c: c.focal_length_mm)):
        r = np.array(e["r"])
        red, blue = tca_factors(cal.model, cal.terms, r * r)
        np.testing.assert_allclose(e["red_percent"], 100 * (red - 1), atol=TOL)
        np.testing.assert_allclose(e["blue_percent"], 100 * (blue - 1), atol=TOL)
    e = curves["vignetting"][0]
    assert e["illumination"][0] == 1.0
    np.testing.assert_allclose(e["illumination"], vignetting_pa(np.array(e["r"]), **e["terms"]), atol=TOL)
    # bodies: Canon EF lenses fit Canon EF bodies (the 6D among them)
    assert "Canon EOS 6D" in html and "Bodies it fits" in html


def test_search_and_compare(client, db):
    res = client.get("/api/lenses", params={"q": "24-105 f/4"}).json()["results"]
    names = [r["name"] for r in res]
    assert "Canon EF 24-105mm f/4L IS USM" in names and "Sigma 24-105mm f/4.0 DG OS HSM [A]" in names
    assert all(db.lenses[r["id"]].name == r["name"] for r in res)
    a, b = _lens_id(db, POLY3_LENS), _lens_id(db, PTLENS_LENS)
    page = client.get(f"/lens/{a}", params={"compare": b})
    data = _page_data(page.text)
    assert [x["name"] for x in data["lenses"]] == [POLY3_LENS, PTLENS_LENS]
    assert "A: 100 mm" in page.text and "B: 100 mm" in page.text  # both in one plot, labelled
    assert client.get("/lens/999999").status_code == 404
    assert client.get(f"/lens/{a}", params={"compare": "x"}).status_code == 400


def test_distortion_percent_is_zero_at_the_centre_and_model_independent():
    """The report's bug: ``r_d / r_u − 1`` (−100 % at r = 0 when evaluated as r_d/max(r, ε)) and
    each model on its own r_u scale (poly3's differs from poly5's by 1 − k1, ~6 % for k1 = 0.06).

    The same lens described by poly3 (k1) and by poly5 (k1' = k1 / (1 − k1)³, k2 = 0, on the
    radius r' = (1 − k1) r) must give one curve against the paraxial radius.
    """
    k1 = 0.06
    r_u = np.linspace(0, 1.8, 50)
    p3 = distortion_percent("poly3", {"k1": k1}, r_u)
    m0 = distortion_center_magnification("poly3", {"k1": k1})
    assert m0 == pytest.approx(1 - k1, abs=1e-15)
    r5 = m0 * r_u  # poly5's own radius for the same rays
    p5 = distortion_percent("poly5", {"k1": k1 / (1 - k1) ** 3, "k2": 0.0}, r5)
    assert p3[0] == 0.0 and p5[0] == 0.0
    np.testing.assert_allclose(p3, p5, rtol=0, atol=1e-9)
    # and the image height itself agrees: r_d(poly3, r_u) == r_d(poly5, r5)
    from l2tech.optics.lensfun import distortion_poly3, distortion_poly5

    np.testing.assert_allclose(distortion_poly3(r_u, k1), distortion_poly5(r5, k1 / (1 - k1) ** 3, 0.0), atol=1e-12)


def test_calibration_report_draws_the_shared_curve(tmp_path, monkeypatch):
    """The report's distortion figure gets the lens page's curve data: 0 at r = 0, every fit on
    the paraxial radius."""
    from types import SimpleNamespace

    import l2tech.profiles.curves as curves_mod
    from l2tech.calibrate import report

    seen = {}
    real = curves_mod.plot_curves_svg

    def spy(curves, kind, **kw):
        seen[kind] = (curves, kw)
        return real(curves, kind, **kw)

    monkeypatch.setattr(curves_mod, "plot_curves_svg", spy)
    k1 = -0.05
    r_true = np.linspace(0.05, 1.5, 40)  # paraxial heights of the corners
    fits = []
    for model, terms, m0 in (("poly3", {"k1": k1}, 1 - k1), ("poly5", {"k1": k1 / (1 - k1) ** 3, "k2": 0.0}, 1.0)):
        r_u = r_true / m0
        r_d = curves_mod.distortion_curve(model, terms, r_u)["r_d"]
        fits.append(SimpleNamespace(model=model, terms=terms, rms=0.1, norm_px=100.0, r_u=r_u, r_d=np.array(r_d)))
    fit = SimpleNamespace(image_size=(300, 200), view_names=["v"], per_view_rms=[0.1], rms=0.1,
                          image_points=[np.array([[10.0, 10.0], [20.0, 30.0]])], residuals=[np.array([[0.1, 0.0], [0.0, 0.1]])])
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    out = report._plots_geometry(fit, fits, tmp_path, "", plt)
    assert ("Distortion: measured corners and lensfun fits", "distortion.svg") in out
    curves, kw = seen["distortion"]
    e3, e5 = curves["distortion"]
    assert e3["percent"][0] == 0.0 and e5["percent"][0] == 0.0
    np.testing.assert_allclose(e3["r_paraxial"], e5["r_paraxial"], atol=1e-12)
    np.testing.assert_allclose(e3["percent"], e5["percent"], atol=1e-9)  # one lens, one curve
    x, y, _ = kw["points"][0]
    np.testing.assert_allclose(x, r_true, atol=1e-12)  # corners on the paraxial radius
    np.testing.assert_allclose(y, distortion_percent("poly3", {"k1": k1}, r_true / (1 - k1)), atol=1e-9)
    assert (tmp_path / "distortion.svg").read_text().lstrip().startswith("<?xml")


def test_lens_curves_direct(db):
    prof = db.lenses[_lens_id(db, POLY3_LENS)]
    c = lens_curves(prof, samples=5)
    assert len(c["distortion"][0]["r_u"]) == 5 and c["notes"] == []


def test_compare_a_database_lens_with_a_profile_file(tmp_path, db):
    """Two sources side by side: the bundled lensfun entry and a user's lensfun XML of the same
    lens with other coefficients (read by l2tech's reader from the served folder)."""
    import dataclasses

    from l2tech.optics.lensfun import DISTORTION_FUNCTIONS
    from l2tech.profiles.lensfun_xml import write_lensfun_xml

    lens_id = _lens_id(db, POLY3_LENS)
    base = db.lenses[lens_id]
    mine = dataclasses.replace(base, model=base.model + " (my copy)", distortion=tuple(
        dataclasses.replace(c, terms={"k1": c.terms["k1"] + 0.01}) for c in base.distortion))
    write_lensfun_xml(tmp_path / "mine.xml", [mine])
    c = test_client(create_app(tmp_path, TOKEN, db=db))
    c.headers["X-L2-Token"] = TOKEN
    page = c.get(f"/lens/{lens_id}", params={"file": "mine.xml"})
    assert page.status_code == 200
    a, b = _page_data(page.text)["lenses"]
    assert a["name"] == POLY3_LENS and b["name"] == mine.name and b["source"] == "file mine.xml"
    for ea, eb in zip(a["curves"]["distortion"], b["curves"]["distortion"]):
        assert eb["terms"]["k1"] == pytest.approx(ea["terms"]["k1"] + 0.01, abs=1e-12)
        r = np.array(eb["r_u"])
        np.testing.assert_allclose(eb["r_d"], DISTORTION_FUNCTIONS["poly3"](r, eb["terms"]["k1"]), atol=TOL)
        assert eb["percent"][0] == 0.0 and eb["percent"][-1] > ea["percent"][-1]  # more pincushion
    alone = c.get("/profile", params={"file": "mine.xml"})
    assert [x["name"] for x in _page_data(alone.text)["lenses"]] == [mine.name]
    assert c.get("/profile", params={"file": "../mine.xml"}).status_code == 403
    assert c.get("/profile", params={"file": "missing.xml"}).status_code == 404
    assert c.get("/profile").status_code == 400


def test_profile_file_of_another_model_family_says_no_curve(tmp_path, db):
    from conftest import shared_file

    src = shared_file("profiles/gyroflow/GoPro_HERO5_Black_Wide_NO-EIS_4by3.json")
    (tmp_path / "gopro.json").write_bytes(src.read_bytes())
    c = test_client(create_app(tmp_path, TOKEN, db=db))
    c.headers["X-L2-Token"] = TOKEN
    r = c.get("/profile", params={"file": "gopro.json"})
    assert r.status_code == 200
    data = _page_data(r.text)["lenses"][0]
    assert data["curves"]["distortion"] == []
    assert any("no radial curve drawn" in n for n in data["curves"]["notes"])
    assert "no radial curve drawn" in r.text
