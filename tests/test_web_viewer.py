"""``l2 serve``'s viewer shows the pipeline's own output; the lens candidates are the matcher's;
"save recipe" writes a file that develops to the same pixels.

The reference for every pixel is :func:`l2tech.pipeline.stills.develop_file` writing a PNG
(lossless, 8-bit) — the CLI's own path — read back with Pillow; equality is exact (hash of
the code values).
"""

from __future__ import annotations

import dataclasses
import io
import shutil

import numpy as np
import pytest
from PIL import Image

from _web import test_client
from conftest import shared_file
from l2tech.pipeline.recipe import Recipe
from l2tech.web.app import create_app
from l2tech.web.render import pixel_sha256
from l2tech.pipeline.recipe_file import read_recipe_file, recipe_to_toml

TOKEN = "t0ken-for-tests-0123456789abcdef"
DNG = "raw/decodable/canon_eos_6d__ef24-105mm_f4L__linear_lossy.dng"  # 1224x816, exact lens match
JPG = "raw/jpeg_reference/canon_6d__ef100mm_macro.jpg"  # 500x500 in-camera JPEG
CRW = "raw/decodable/canon_eos_d30__16-35mm.crw"  # lens named only "16-35mm": 4 candidates


@pytest.fixture
def folder(tmp_path):
    served = tmp_path / "photos"
    served.mkdir()
    for rel in (DNG, JPG, CRW):
        shutil.copy(shared_file(rel), served)
    return served


@pytest.fixture
def client(folder):
    c = test_client(create_app(folder, TOKEN))
    c.headers["X-L2-Token"] = TOKEN
    return c


def _png_codes(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _develop_png(src, recipe: Recipe, out) -> np.ndarray:
    """The CLI path: develop_file (RAW) / correct_image_file (JPEG) to an 8-bit PNG."""
    from l2tech.pipeline.stills import correct_image_file, develop_file, is_raw_path

    r = dataclasses.replace(recipe, format="png", bits=8)
    if is_raw_path(src):
        develop_file(src, out, r)
    else:
        correct_image_file(src, out, r, fmt="png")
    return np.asarray(Image.open(out).convert("RGB"))


@pytest.mark.parametrize("name", [DNG.rsplit("/", 1)[1], JPG.rsplit("/", 1)[1]])
def test_full_resolution_render_is_the_pipeline_output(client, folder, tmp_path, name):
    r = client.get("/api/render", params={"path": name, "size": "full"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    shown = _png_codes(r.content)
    ref = _develop_png(folder / name, Recipe(), tmp_path / "ref.png")
    assert shown.shape == ref.shape
    assert np.array_equal(shown, ref)  # every pixel, exactly
    assert r.headers["x-l2-pixel-sha256"] == pixel_sha256(ref)
    assert r.headers["x-l2-size"] == f"{ref.shape[1]}x{ref.shape[0]}"
    # the "before" side is the same develop without lens correction, and it differs
    b = client.get("/api/render", params={"path": name, "size": "full", "before": "1"})
    before_ref = _develop_png(folder / name, Recipe(lens_correction=False), tmp_path / "before.png")
    assert np.array_equal(_png_codes(b.content), before_ref)
    assert not np.array_equal(before_ref, ref)


def test_preview_is_the_same_render_reduced(client, folder):
    r = client.get("/api/render", params={"path": DNG.rsplit("/", 1)[1], "size": "preview"})
    full = client.get("/api/render", params={"path": DNG.rsplit("/", 1)[1], "size": "full"})
    assert r.headers["content-type"] == "image/jpeg"
    assert r.headers["x-l2-pixel-sha256"] == full.headers["x-l2-pixel-sha256"]  # one render behind both
    prev = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB")).astype(np.float64)
    assert prev.shape == (816, 1224, 3)  # 1224 px is under the 1600 px preview size: not reduced
    diff = np.abs(prev - _png_codes(full.content))
    assert diff.mean() < 2.5  # JPEG q90 of the same codes: measured mean |diff| 1.61 codes (max 83 at edges)


def test_toggles_exposure_and_look_reach_the_pipeline(client, folder, tmp_path):
    name = JPG.rsplit("/", 1)[1]
    params = {"path": name, "size": "full", "corrections": "vignetting,tca", "exposure_ev": "0.5", "look": "mono"}
    r = client.get("/api/render", params=params)
    ref = _develop_png(folder / name, Recipe(corrections=("vignetting", "tca"), exposure_ev=0.5, look="mono"),
                       tmp_path / "ref.png")
    assert np.array_equal(_png_codes(r.content), ref)
    assert np.ptp(ref.astype(int)[..., 0] - ref.astype(int)[..., 2]) <= 1  # mono: R = B within rounding
    bad = client.get("/api/render", params={"path": name, "corrections": "sharpen"})
    assert bad.status_code == 400 and "unknown correction" in bad.json()["error"]


def test_lens_candidates_are_the_matchers(client, folder):
    from l2tech.errors import AmbiguousMatchError
    from l2tech.io.metadata import read_metadata
    from l2tech.profiles.matching import match_lens

    name = CRW.rsplit("/", 1)[1]
    info = client.get("/api/lens", params={"path": name}).json()
    with pytest.raises(AmbiguousMatchError) as exc:
        match_lens(read_metadata(folder / name))
    want = [c.name for c in exc.value.candidates]
    assert [c["name"] for c in info["candidates"]] == want
    assert want == ["Canon EF 16-35mm f/2.8L II USM", "Canon EF 16-35mm f/2.8L III USM", "Canon EF 16-35mm f/2.8L USM",
                    "Canon EF 16-35mm f/4L IS USM"]
    assert info["plan"]["lens"] is None
    assert "names only a focal range" in info["plan"]["corrections"]["distortion"]["reason"]
    chosen = client.get("/api/lens", params={"path": name, "lens": want[2]}).json()
    assert chosen["plan"]["lens"] == want[2]
    assert chosen["plan"]["corrections"]["distortion"]["applied"] is True
    assert [c["chosen"] for c in chosen["candidates"]] == [False, False, True, False]
    # the DNG matches exactly; its runners-up are offered with the matcher's reasons
    dng = client.get("/api/lens", params={"path": DNG.rsplit("/", 1)[1]}).json()
    assert dng["candidates"][0] == {"name": "Canon EF 24-105mm f/4L IS USM", "score": 0.95, "reason": "matched (alias)",
                                    "chosen": True}
    assert dng["candidates"][1]["name"] == "Canon EF 24-105mm f/4L IS II USM"


def test_saved_recipe_develops_to_what_the_viewer_showed(client, folder, tmp_path):
    name = CRW.rsplit("/", 1)[1]
    choice = {"lens": "Canon EF 16-35mm f/2.8L USM", "corrections": "vignetting,distortion", "exposure_ev": "0.3"}
    shown = client.get("/api/render", params={"path": name, "size": "full", **choice})
    saved = client.post("/api/recipe", json={"path": name, "recipe": choice})
    assert saved.status_code == 200
    recipe = read_recipe_file(folder / saved.json()["file"])
    assert recipe == Recipe(lens="Canon EF 16-35mm f/2.8L USM", corrections=("vignetting", "distortion"), exposure_ev=0.3)
    ref = _develop_png(folder / name, recipe, tmp_path / "cli.png")
    assert pixel_sha256(ref) == shown.headers["x-l2-pixel-sha256"]


def test_recipe_toml_round_trip_and_tomllib():
    import tomllib

    r = Recipe(lens='Odd "name" \\ lens', corrections=("tca",), exposure_ev=-1.25, look="mono", focal_length_mm=35.0,
               quality=80, lens_correction=True)
    text = recipe_to_toml(r, header="two\nlines")
    data = tomllib.loads(text)  # the standard library's TOML 1.0 parser: top-level keys
    assert data["lens"] == 'Odd "name" \\ lens' and data["corrections"] == ["tca"] and data["exposure_ev"] == -1.25
    assert "scale" not in data and "# scale is not set" in text  # None fields are comments
    assert Recipe(**{**data, "corrections": tuple(data["corrections"])}) == r


def test_folder_listing_and_thumbnails(client, folder):
    files = client.get("/api/files").json()["files"]
    assert [f["path"] for f in files] == sorted(p.name for p in folder.iterdir())
    assert {f["kind"] for f in files} == {"raw", "image"}
    t = client.get("/api/thumb", params={"path": JPG.rsplit("/", 1)[1]})
    assert t.status_code == 200 and t.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(t.content)).size == (320, 320)  # 500x500 reduced to the 320 px thumbnail


def test_unreadable_file_is_a_clear_422(client, folder):
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 64)
    r = client.get("/api/render", params={"path": "broken.jpg"})
    assert r.status_code == 422
    assert "metadata unreadable" in r.json()["error"]


CLIP = "video/gopro_hero5_karma_drone.mp4"  # 854x480 H.264, 29.97 fps; lensfun has the HERO5 Black's lens


def test_video_frame_scrubber_shows_the_video_pipeline(tmp_path):
    """A frame of a clip, before and after: the decoded frame, and ``l2 video``'s own output."""
    import av

    from l2tech.cli.main import main
    from l2tech.video.colortags import frame_to_rgb, resolve_color_tags
    from l2tech.video.probe import probe_video

    served = tmp_path / "clips"
    served.mkdir()
    shutil.copy(shared_file(CLIP), served)
    name = CLIP.rsplit("/", 1)[1]
    c = test_client(create_app(served, TOKEN))
    c.headers["X-L2-Token"] = TOKEN
    info = c.get("/api/video", params={"path": name}).json()
    # MANIFEST.tsv (PyAV): h264 854x480 @29.970fps, 362 frames
    assert info["size"] == [854, 480] and abs(info["fps"] - 30000 / 1001) < 1e-9 and info["n_frames"] == 362
    assert info["duration_s"] == pytest.approx(362 * 1001 / 30000, abs=1e-3)
    q = {"path": name, "t": "5", "camera": "GoPro HERO5 Black", "size": "full"}
    before = c.get("/api/frame", params={**q, "side": "before"})
    after = c.get("/api/frame", params={**q, "side": "after"})
    assert before.status_code == after.status_code == 200
    assert "GoPro HERO5 Black" in after.headers["x-l2-lens"]
    b, a = _png_codes(before.content), _png_codes(after.content)
    # before = the frame at 5 s decoded independently with PyAV (first frame with pts >= 5 s)
    vi = probe_video(served / name)
    tags = resolve_color_tags(vi.matrix, vi.color_range, vi.pix_fmt, vi.height_px, vi.primaries, vi.transfer)
    with av.open(str(served / name)) as box:
        frame = next(f for f in box.decode(video=0) if f.time is not None and f.time >= 5.0 - 1e-6)
        ref = frame_to_rgb(frame, tags, 8)
    assert np.array_equal(b, ref)
    assert not np.array_equal(a, b)
    # after = what `l2 video` writes for that frame, up to its H.264 encoding (crf 18)
    out = tmp_path / "out.mp4"
    assert main(["video", str(served / name), "--camera", "GoPro HERO5 Black", "--start", "5", "--duration", "0.034",
                 "-o", str(out), "-q"]) == 0
    with av.open(str(out)) as box:
        cli = frame_to_rgb(next(box.decode(video=0)), tags, 8)
    mse = np.mean((cli.astype(np.float64) - a) ** 2)
    psnr = 10 * np.log10(255.0**2 / mse)
    mse_before = np.mean((cli.astype(np.float64) - b) ** 2)
    assert psnr > 35  # measured 41.5 dB (H.264 crf 18 of the same frame)
    assert mse < mse_before / 4  # measured MSE 4.6 vs 99.2 against the uncorrected frame
    assert not any(p.name != name for p in served.iterdir())  # nothing written into the folder
