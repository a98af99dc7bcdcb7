"""Y'CbCr <-> R'G'B' with the stream's matrix and range, and tags that round-trip.

RELIABILITY.md case 10 and the issue's acceptance: a BT.709 limited-range clip comes out
BT.709 limited-range with the same colors (mean CIEDE2000 < 0.5). The test pattern's Y'CbCr
planes are computed here with colour-science (``colour.RGB_to_YCbCr``, the reference), so the
encoder input does not depend on the code under test.
"""

from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest

from l2tech.video.colortags import ColorTags, frame_to_rgb, resolve_color_tags
from l2tech.video.transcode import process_video

PATCH = 32  # pixels: whole 4:2:0 chroma blocks, so patch interiors are flat after subsampling


def _colour():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # colour warns at import when optional packages are missing
        import colour
    return colour


def _pattern(seed: int = 7, cols: int = 8, rows: int = 6) -> np.ndarray:
    rng = np.random.default_rng(seed)
    colors = rng.integers(20, 236, (rows, cols, 3)).astype(np.uint8)
    return np.repeat(np.repeat(colors, PATCH, axis=0), PATCH, axis=1)  # (192, 256, 3)


def _yuv420_planes(rgb: np.ndarray, matrix: str, legal: bool) -> np.ndarray:
    colour = _colour()
    K = colour.WEIGHTS_YCBCR["ITU-R BT.709" if matrix == "bt709" else "ITU-R BT.601"]
    ycc = colour.RGB_to_YCbCr(rgb / 255.0, K=K, out_bits=8, out_legal=legal, out_int=True)
    h, w = rgb.shape[:2]
    y = ycc[..., 0].astype(np.uint8)
    # 4:2:0 by 2x2 averaging (patches are flat, so any siting gives the same interior)
    cb = ycc[..., 1].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3)).round().astype(np.uint8)
    cr = ycc[..., 2].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3)).round().astype(np.uint8)
    return np.concatenate([y, cb.reshape(h // 4, w), cr.reshape(h // 4, w)], axis=0)


def _ref_rgb_from_yuv420(planes: np.ndarray, matrix: str, legal: bool) -> np.ndarray:
    colour = _colour()
    h = planes.shape[0] * 2 // 3
    w = planes.shape[1]
    y = planes[:h].astype(np.float64)
    cb = planes[h : h + h // 4].reshape(h // 2, w // 2).astype(np.float64)
    cr = planes[h + h // 4 :].reshape(h // 2, w // 2).astype(np.float64)
    cb = np.repeat(np.repeat(cb, 2, 0), 2, 1)
    cr = np.repeat(np.repeat(cr, 2, 0), 2, 1)
    K = colour.WEIGHTS_YCBCR["ITU-R BT.709" if matrix == "bt709" else "ITU-R BT.601"]
    rgb = colour.YCbCr_to_RGB(np.stack([y, cb, cr], -1), K=K, in_bits=8, in_legal=legal, in_int=True)
    return np.clip(rgb * 255.0, 0, 255)


def _write_yuv_clip(path, planes: np.ndarray, tags: ColorTags, n: int = 5) -> None:
    import av

    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height = planes.shape[1], planes.shape[0] * 2 // 3
        vs.pix_fmt = "yuvj420p" if tags.full_range else "yuv420p"
        cc = vs.codec_context
        cc.colorspace, cc.color_range = tags.av_colorspace, tags.av_color_range
        cc.color_primaries, cc.color_trc = tags.av_primaries, tags.av_transfer
        vs.options = {"qp": "0", "preset": "ultrafast"}  # lossless: the planes arrive as computed
        for i in range(n):
            f = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            if tags.full_range:
                f = f.reformat(format="yuvj420p")
            f.pts = i
            f.time_base = Fraction(1, 25)
            for pkt in vs.encode(f):
                out.mux(pkt)
        for pkt in vs.encode():
            out.mux(pkt)


def _interiors(img: np.ndarray, margin: int = 6) -> np.ndarray:
    rows, cols = img.shape[0] // PATCH, img.shape[1] // PATCH
    return np.stack([img[r * PATCH + margin : (r + 1) * PATCH - margin, c * PATCH + margin : (c + 1) * PATCH - margin]
                     for r in range(rows) for c in range(cols)])


def _delta_e_2000(rgb_a: np.ndarray, rgb_b: np.ndarray) -> np.ndarray:
    """CIEDE2000 between two BT.709-encoded R'G'B' sets (code values 0-255)."""
    colour = _colour()
    cs = colour.RGB_COLOURSPACES["ITU-R BT.709"]

    def lab(rgb):
        lin = colour.models.oetf_inverse_BT709(np.asarray(rgb, np.float64) / 255.0)
        xyz = colour.RGB_to_XYZ(lin, cs, illuminant=cs.whitepoint)
        return colour.XYZ_to_Lab(xyz, cs.whitepoint)

    return colour.delta_E(lab(rgb_a), lab(rgb_b), method="CIE 2000")


@pytest.mark.parametrize("matrix,legal", [("bt709", True), ("bt709", False), ("bt470bg", True)])
def test_frame_to_rgb_matches_reference(tmp_path, matrix, legal):
    """Case 10: BT.709 limited/full and BT.601 limited decode to the reference R'G'B' within 1 code."""
    import av

    rgb = _pattern()
    planes = _yuv420_planes(rgb, "bt709" if matrix == "bt709" else "bt601", legal)
    tags = ColorTags(matrix, not legal, "bt709", "bt709")
    p = tmp_path / "pattern.mp4"
    _write_yuv_clip(p, planes, tags, n=1)
    with av.open(str(p)) as c:
        frame = next(c.decode(video=0))
        cc = c.streams.video[0].codec_context
        resolved = resolve_color_tags({1: "bt709", 5: "bt470bg"}[int(cc.colorspace)], "pc" if int(cc.color_range) == 2 else "tv",
                                      cc.pix_fmt, cc.height)
        assert resolved.matrix == matrix and resolved.full_range == (not legal)
        decoded_planes = frame.reformat(format="yuv420p").to_ndarray() if not legal else frame.to_ndarray()
        ours = frame_to_rgb(frame, resolved).astype(np.float64)
    ref = _ref_rgb_from_yuv420(decoded_planes if legal else frame.to_ndarray(format="yuvj420p"),
                               "bt709" if matrix == "bt709" else "bt601", legal)
    diff = np.abs(_interiors(ours) - _interiors(ref))
    assert diff.max() <= 1.0, f"max diff {diff.max()} code values"
    # and the wrong matrix would be visibly wrong (the test can fail)
    wrong = ColorTags("bt470bg" if matrix == "bt709" else "bt709", not legal)
    with av.open(str(p)) as c:
        bad = frame_to_rgb(next(c.decode(video=0)), wrong).astype(np.float64)
    assert np.abs(_interiors(bad) - _interiors(ref)).max() > 5


def test_bt709_limited_round_trip_delta_e(tmp_path):
    """Acceptance: BT.709 limited in -> BT.709 limited out, mean CIEDE2000 < 0.5."""
    import av

    rgb = _pattern()
    tags = ColorTags("bt709", False, "bt709", "bt709")
    src = tmp_path / "in.mp4"
    _write_yuv_clip(src, _yuv420_planes(rgb, "bt709", True), tags)
    out = tmp_path / "out.mp4"
    report = process_video(src, out)
    assert report.color == "bt709/tv" and report.frames_written == 5
    with av.open(str(out)) as c:
        cc = c.streams.video[0].codec_context
        assert (int(cc.colorspace), int(cc.color_range)) == (1, 1)  # AVCOL_SPC_BT709, AVCOL_RANGE_MPEG
        assert (int(cc.color_primaries), int(cc.color_trc)) == (1, 1)
        frame = next(c.decode(video=0))
        assert frame.format.name == "yuv420p"
        planes = frame.to_ndarray()
    got = _ref_rgb_from_yuv420(planes, "bt709", True)
    de = _delta_e_2000(_interiors(got).reshape(-1, 3), _interiors(rgb.astype(np.float64)).reshape(-1, 3))
    print(f"mean dE2000 {de.mean():.3f}, max {de.max():.3f}")
    assert de.mean() < 0.5
    # the check is sensitive: decoding the output as BT.601 fails it
    wrong = _ref_rgb_from_yuv420(planes, "bt601", True)
    de_wrong = _delta_e_2000(_interiors(wrong).reshape(-1, 3), _interiors(rgb.astype(np.float64)).reshape(-1, 3))
    assert de_wrong.mean() > 1.0


def test_unspecified_tags_resolution():
    assert resolve_color_tags("unspecified", "unspecified", "yuv420p", 1080) == ColorTags("bt709", False)
    assert resolve_color_tags("unspecified", "unspecified", "yuv420p", 480) == ColorTags("smpte170m", False)
    assert resolve_color_tags("unspecified", "unspecified", "yuvj420p", 480).full_range
    assert not resolve_color_tags("bt709", "tv", "yuvj420p", 480).full_range


# ---- full-range (JPEG-range) input: issue 12 item 8 -------------------------------------------------


def _planes_444(frame) -> tuple[np.ndarray, int]:
    """A decoded frame's Y'CbCr code values ``(H, W, 3)`` float64 and bit depth, read from its
    planes (chroma repeated to full size; nearest is exact inside the flat patches)."""
    name = frame.format.name
    bits = 10 if "p10" in name else 8
    dtype = np.uint16 if bits > 8 else np.uint8
    planes = []
    for p in frame.planes:
        a = np.frombuffer(bytes(p), dtype).reshape(p.height, p.line_size // np.dtype(dtype).itemsize)[:, : p.width]
        planes.append(a.astype(np.float64))
    h, w = planes[0].shape
    up = [np.repeat(np.repeat(c, h // c.shape[0], 0), w // c.shape[1], 1) for c in planes[1:]]
    return np.stack([planes[0], *up], -1), bits


def _decoded_rgb(path) -> tuple[np.ndarray, bool]:
    """First frame of ``path`` as BT.709 R'G'B' code values 0-255, decoded with colour-science
    honouring the stream's range tag; and whether that tag says full range."""
    import av

    colour = _colour()
    with av.open(str(path)) as c:
        frame = next(c.decode(video=0))
        full = int(c.streams.video[0].codec_context.color_range) == 2 or frame.format.name.startswith("yuvj")
    ycc, bits = _planes_444(frame)
    rgb = colour.YCbCr_to_RGB(ycc, K=colour.WEIGHTS_YCBCR["ITU-R BT.709"], in_bits=bits, in_legal=not full, in_int=True)
    return np.clip(rgb * 255.0, 0, 255), full


def _ffprobe_range(path) -> str:
    import subprocess

    return subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries", "stream=color_range",
                           "-of", "default=nw=1:nk=1", str(path)], capture_output=True, text=True, check=True).stdout.strip()


@pytest.mark.parametrize("codec,ext,out_range", [(None, "mp4", "pc"), ("prores_ks", "mov", "tv")])
def test_full_range_input_keeps_its_colours(tmp_path, codec, ext, out_range):
    """Issue 12 item 8: full-range (yuvj420p, color_range=pc) H.264 in → H.264 out stays full range
    and ProRes out (which has no full-range flag) is re-quantised to limited range; both decode to
    the input's colours within mean CIEDE2000 0.3 (before the fix: H.264 0.43 mean / 2.6 max,
    swscale's full-range encode; ProRes 2.3, full-range codes tagged limited).

    Reference: both files' first frames decoded with ``colour.YCbCr_to_RGB`` (BT.709 weights,
    ``in_legal`` from the stream's range tag) and compared with ``colour.delta_E(..., "CIE 2000")``
    on patch interiors. Measured here: H.264 mean 0.081 (max 1.58), ProRes mean 0.135 (max 0.49).
    """
    from l2tech.video.transcode import EncodeOptions

    src = tmp_path / "full.mp4"
    _write_yuv_clip(src, _yuv420_planes(_pattern(), "bt709", legal=False), ColorTags("bt709", True, "bt709", "bt709"))
    out = tmp_path / f"out.{ext}"
    report = process_video(src, out, encode=EncodeOptions(codec=codec))
    assert report.color == f"bt709/{out_range}"
    assert _ffprobe_range(src) == "pc" and _ffprobe_range(out) == out_range
    rgb_in, full_in = _decoded_rgb(src)
    rgb_out, full_out = _decoded_rgb(out)
    assert full_in and full_out == (out_range == "pc")
    de = _delta_e_2000(_interiors(rgb_out).reshape(-1, 3), _interiors(rgb_in).reshape(-1, 3))
    print(f"{codec or 'libx264'}: mean dE2000 {de.mean():.3f}, max {de.max():.3f}")
    assert de.mean() < 0.3 and de.max() < 3.0
    if codec is not None:
        assert any("limited-range" in w for w in report.warnings)
    # sensitive: reading the output's codes with the other range is far off
    colour = _colour()
    with __import__("av").open(str(out)) as c:
        ycc, bits = _planes_444(next(c.decode(video=0)))
    wrong = np.clip(colour.YCbCr_to_RGB(ycc, K=colour.WEIGHTS_YCBCR["ITU-R BT.709"], in_bits=bits,
                                        in_legal=full_out, in_int=True) * 255.0, 0, 255)
    assert _delta_e_2000(_interiors(wrong).reshape(-1, 3), _interiors(rgb_in).reshape(-1, 3)).mean() > 1.0


def test_full_range_encode_is_exact_round_trip(tmp_path):
    """rgb_to_frame's full-range quantisation (H.273) gives back the decoded codes exactly:
    Y'CbCr (lossless clip) → frame_to_rgb → rgb_to_frame → the same planes (4:2:0 patches)."""
    import av

    from l2tech.video.colortags import rgb_to_frame

    src = tmp_path / "full.mp4"
    planes = _yuv420_planes(_pattern(), "bt709", legal=False)
    tags = ColorTags("bt709", True)
    _write_yuv_clip(src, planes, tags, n=1)
    with av.open(str(src)) as c:
        frame = next(c.decode(video=0))
    back = rgb_to_frame(frame_to_rgb(frame, tags), tags, "yuv420p")
    got, _ = _planes_444(back)
    ref, _ = _planes_444(frame)
    assert np.abs(_interiors(got) - _interiors(ref)).max() <= 1.0
    assert np.mean(_interiors(got) != _interiors(ref)) < 0.01
