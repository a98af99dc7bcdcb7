"""``l2 serve`` in a real browser (Playwright driving headless Chromium, the Debian package).

Open a folder of the shared sample files, see the thumbnails, open an image, move the
before/after slider, switch distortion off, choose another lens candidate, switch distortion
on again, show full resolution, save the recipe — then develop with that recipe through the
pipeline and through ``l2 develop``: both outputs have the pixel hash of the full-resolution
render the browser received. A screenshot of each step is written to the test's tmp folder
(``<tmp_path>/screenshots``).
"""

from __future__ import annotations

import io
import shutil

import numpy as np
import pytest
from PIL import Image

from _web import start_server
from conftest import shared_file

DNG = "raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng"
FILES = (DNG, "raw/jpeg_reference/canon_6d__ef100mm_macro.jpg", "raw/decodable/canon_eos_d30__16-35mm.crw")
OTHER_LENS = "Canon EF 24-105mm f/4L IS II USM"  # the DNG's first runner-up


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no Chromium found (install the Debian package `chromium`: apt-get install chromium)")


@pytest.fixture
def browser_page(tmp_path):
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[test]')")
    from playwright.sync_api import sync_playwright

    exe = _chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        try:
            yield page
        finally:
            browser.close()


def _wait_ready(page):
    page.wait_for_selector("body[data-state=ready]", timeout=60_000)


@pytest.mark.slow  # about 25 s on 2 cores: a server, Chromium, ten renders, two develops
def test_viewer_end_to_end(tmp_path, browser_page):
    from l2tech.cli.main import main
    from l2tech.pipeline.stills import develop_file
    from l2tech.pipeline.recipe_file import read_recipe_file
    from l2tech.web.render import pixel_sha256

    folder = tmp_path / "photos"
    folder.mkdir()
    for rel in FILES:
        shutil.copy(shared_file(rel), folder)
    originals = {p.name: p.read_bytes() for p in folder.iterdir()}
    shots = tmp_path / "screenshots"
    shots.mkdir()
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    proc, url = start_server(folder)
    try:
        # 1. folder view with thumbnails (each one the pipeline's render)
        page.goto(url)
        page.wait_for_function("() => document.querySelectorAll('.card img').length === 3 && "
                               "[...document.querySelectorAll('.card img')].every(i => i.complete && i.naturalWidth > 0)",
                               timeout=60_000)
        page.wait_for_function("() => [...document.querySelectorAll('.card .lens')].every(e => e.textContent !== 'matching…')")
        assert "lens: Canon EF 24-105mm f/4L IS USM" in page.inner_text(f".card[data-path='{DNG.rsplit('/', 1)[1]}']")
        page.screenshot(path=str(shots / "01-folder.png"))

        # 2. open the DNG
        page.click(f".card[data-path='{DNG.rsplit('/', 1)[1]}']")
        _wait_ready(page)
        first_sha = page.get_attribute("body", "data-after-sha")
        page.screenshot(path=str(shots / "02-viewer.png"))

        # 3. move the slider: the corrected side is clipped at 25 %
        page.fill("#split", "25")
        assert page.eval_on_selector("#after", "e => e.style.clipPath") == "inset(0px 0px 0px 25%)"
        page.check("#grid")
        assert "show-grid" in page.get_attribute("#stage", "class")
        page.screenshot(path=str(shots / "03-slider-grid.png"))

        # 4. distortion off: a new render, other pixels
        page.uncheck("#corr-distortion")
        _wait_ready(page)
        no_dist_sha = page.get_attribute("body", "data-after-sha")
        assert no_dist_sha != first_sha
        page.screenshot(path=str(shots / "04-distortion-off.png"))

        # 5. another lens candidate, then distortion on again
        page.check(f"input[name=lens][value='{OTHER_LENS}']")
        _wait_ready(page)
        other_sha = page.get_attribute("body", "data-after-sha")
        assert other_sha != no_dist_sha
        page.check("#corr-distortion")
        _wait_ready(page)
        page.screenshot(path=str(shots / "05-other-candidate.png"))

        # 6. full resolution: keep the PNG the browser received (the route passes it through)
        received: list[tuple[dict, bytes]] = []

        def keep(route):
            r = route.fetch()
            if "before=1" not in route.request.url:
                received.append((r.headers, r.body()))
            route.fulfill(response=r)

        page.route("**/api/render?*size=full*", keep)
        page.check("#full")
        _wait_ready(page)
        assert len(received) == 1
        headers, png = received[0]
        shown = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
        shown_sha = pixel_sha256(shown)
        assert shown_sha == page.get_attribute("body", "data-after-sha") == headers["x-l2-pixel-sha256"]
        assert shown.shape == (816, 1224, 3)
        assert page.eval_on_selector("#after-img", "i => i.naturalWidth") == 1224
        page.screenshot(path=str(shots / "06-full-resolution.png"))

        # 7. save the recipe
        page.click("#save")
        page.wait_for_function("() => document.getElementById('saved').textContent.startsWith('saved')")
        page.screenshot(path=str(shots / "07-saved.png"))
        saved = folder / page.get_attribute("body", "data-saved-recipe")
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert errors == []
    recipe = read_recipe_file(saved)
    assert recipe.lens == OTHER_LENS and recipe.corrections == ("vignetting", "tca", "distortion")

    # 8. develop with that recipe: pipeline and CLI (`l2 develop --recipe` reads the saved file)
    import dataclasses

    out1 = tmp_path / "pipeline.png"
    develop_file(folder / DNG.rsplit("/", 1)[1], out1, dataclasses.replace(recipe, format="png", bits=8))
    out2 = tmp_path / "cli.png"
    rc = main(["develop", str(folder / DNG.rsplit("/", 1)[1]), "-o", str(out2), "--recipe", str(saved),
               "--format", "png", "--bits", "8", "-q"])
    assert rc == 0
    for out in (out1, out2):
        assert pixel_sha256(np.asarray(Image.open(out).convert("RGB"))) == shown_sha
    # the originals were never written
    assert {n: (folder / n).read_bytes() for n in originals} == originals
    assert sorted(p.name for p in shots.iterdir()) == [f"0{i}-{s}.png" for i, s in enumerate(
        ("folder", "viewer", "slider-grid", "distortion-off", "other-candidate", "full-resolution", "saved"), 1)]


def test_video_scrubber_in_the_browser(tmp_path, browser_page):
    """Open a clip, give the camera, scrub to another time: both sides re-render."""
    folder = tmp_path / "clips"
    folder.mkdir()
    shutil.copy(shared_file("video/gopro_hero5_karma_drone.mp4"), folder)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    proc, url = start_server(folder)
    try:
        page.goto(url)
        page.wait_for_function("() => { const i = document.querySelector('.card img'); return i && i.complete && i.naturalWidth > 0; }",
                               timeout=60_000)
        page.click(".card[data-kind=video]")
        _wait_ready(page)
        assert page.is_hidden("#fs-corr") and page.is_visible("#fs-video")
        first = page.get_attribute("body", "data-after-sha")
        assert first == page.get_attribute("body", "data-before-sha")  # no lens given yet: unchanged frame
        page.fill("#v-camera", "GoPro HERO5 Black")
        page.click("#v-apply")
        _wait_ready(page)
        assert "GoPro HERO5 Black" in page.inner_text("#v-lines")
        corrected = page.get_attribute("body", "data-after-sha")
        assert corrected != page.get_attribute("body", "data-before-sha")
        page.fill("#time", "6")
        page.dispatch_event("#time", "change")
        _wait_ready(page)
        assert page.get_attribute("body", "data-after-sha") != corrected
        page.screenshot(path=str(shots / "video-scrubber.png"))
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert errors == []


def test_lens_browser_search_compare(tmp_path, browser_page):
    """Search the database, tick two lenses, open the comparison: both in the plots and the data."""
    import json

    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    proc, url = start_server(tmp_path)
    try:
        page.goto(url)
        page.click("text=Lenses")
        page.fill("#q", "24-105 f/4")
        page.click("#form button")
        page.wait_for_selector("#results li")
        items = page.locator("#results li")
        names = [items.nth(i).locator("a").inner_text() for i in range(items.count())]
        i_a = names.index("Canon EF 24-105mm f/4L IS USM")
        i_b = names.index("Sigma 24-105mm f/4.0 DG OS HSM [A]")
        items.nth(i_a).locator("input").check()
        items.nth(i_b).locator("input").check()
        page.click("#compare")
        page.wait_for_selector("#plot-distortion svg")
        page.screenshot(path=str(tmp_path / "lens-compare.png"), full_page=True)
        data = json.loads(page.inner_text("#lens-curves"))
        assert [x["name"] for x in data["lenses"]] == [names[i_a], names[i_b]]
        assert all(e["percent"][0] == 0.0 for x in data["lenses"] for e in x["curves"]["distortion"])
        assert page.locator("figure.plot svg").count() == 3  # distortion, TCA, vignetting
    finally:
        proc.terminate()
        proc.communicate(timeout=10)
    assert errors == []
