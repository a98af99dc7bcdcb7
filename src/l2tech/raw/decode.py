"""RAW decoding through rawpy/LibRaw into scene-linear RGB in the working space.

The working space of l2tech's stills pipeline is **linear Rec.2020** (ITU-R BT.2020
primaries, D65): LibRaw demosaics, applies white balance and the camera matrix
(``output_color=Rec2020``, ``gamma=(1, 1)``, ``no_auto_bright=True``, 16-bit), and we scale
to float32 with 1.0 = the white level after white balance. Pixels stay in sensor orientation
(``user_flip=0``) so lens correction sees the lens's own geometry; the EXIF orientation is
applied after it.

DNG opcode lists are applied at the stages the DNG specification names (list 1 on the stored
values and list 2 after linearisation, both written into LibRaw's raw buffer before it
demosaics; list 3 on the demosaiced output): see :mod:`l2tech.raw.opcodes`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Collection

import numpy as np

from l2tech.errors import (CorruptInputError, DecodeError, EmptyFileError, InputNotFoundError, LimitExceededError,
                           UnsupportedFormatError, UsageError)

__all__ = ["WORKING_SPACE", "MAX_RAW_PIXELS", "DEMOSAIC_ALGORITHMS", "RawImage", "decode_raw", "LIBRAW_FLIP_TO_EXIF"]

#: Name of the working space: linear Rec.2020 (ITU-R BT.2020 primaries, D65), as
#: :data:`l2tech.color.display.WORKING_SPACE`; "ITU-R BT.2020" is an accepted alias.
WORKING_SPACE = "Rec.2020"

#: Largest RAW frame accepted (pixels), checked from the header before unpacking.
MAX_RAW_PIXELS = 300_000_000

#: LibRaw ``sizes.flip`` → EXIF orientation (LibRaw docs: 0 none, 3 180°, 5 90° CCW, 6 90° CW).
LIBRAW_FLIP_TO_EXIF = {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}

_WB = ("camera", "daylight", "auto")

#: LibRaw's demosaicing algorithms by l2tech's name (``rawpy.DemosaicAlgorithm`` members).
#: ``ppg`` (Patterned Pixel Grouping, C.-K. Lin 2006; darktable's default for years) is the
#: default: on mosaics built from real, demosaic-free RAW data it scores the same as AHD
#: within 0.1 dB CPSNR at about half of AHD's CPU time on 24 MP (``benchmarks/bench_demosaic.py``,
#: ``tests/test_demosaic_quality.py``). ``ahd`` is rawpy's and dcraw's default.
DEMOSAIC_ALGORITHMS = {"ppg": "PPG", "ahd": "AHD", "dht": "DHT", "aahd": "AAHD", "vng": "VNG", "dcb": "DCB",
                       "linear": "LINEAR"}


@dataclass(frozen=True)
class RawImage:
    """A demosaiced RAW frame.

    Attributes
    ----------
    image : ndarray, shape (H, W, 3), float32 (or uint16, see ``decode_raw(as_uint16=True)``)
        Scene-linear RGB in :data:`WORKING_SPACE`, sensor orientation; 1.0 (or 65535) =
        clipping white; LibRaw clips at its white level.
    orientation : int
        EXIF orientation (1–8) to apply after lens correction.
    cfa_pattern : str
        Top-left 2×2 of the CFA (``"RGGB"``), or ``""`` for non-Bayer/linear data.
    black_level_per_channel : tuple of int
    white_level : int
    white_balance : tuple of float
        Multipliers used (R, G, B, G2).
    opcodes_applied : tuple of str
        DNG opcodes applied, in order, as ``"OpcodeList2:GainMap"`` (empty for non-DNGs).
    warnings : tuple of str
        One line per thing the decode could not do as the file asks (an optional DNG opcode
        skipped), naming the file.
    camera_to_working : ndarray, shape (3, 3), float64, or None
        ``None`` when ``image`` is in :data:`WORKING_SPACE`. Otherwise ``image`` holds
        white-balanced camera RGB (``decode_raw(camera_rgb=True)``) and this is the matrix
        LibRaw would have applied: ``working = camera_to_working @ camera`` per pixel.
    noise_model : NoiseModel or None
        The sensor noise model the mosaic was denoised under (``decode_raw(cfa_denoise=...)``;
        units of the sensor's white level), or ``None`` when the mosaic was not denoised.
    tca_estimate : TCAEstimate or None
        Lateral CA estimated on the mosaic's colour planes (``decode_raw(estimate_tca=True)``),
        or ``None`` (not asked, or not a Bayer mosaic).
    """

    image: np.ndarray
    orientation: int
    cfa_pattern: str
    black_level_per_channel: tuple[int, ...]
    white_level: int
    white_balance: tuple[float, ...]
    opcodes_applied: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    camera_to_working: np.ndarray | None = None
    noise_model: Any = None
    tca_estimate: Any = None


def _printed(lines: list[str], path: Path) -> list[str]:
    """What LibRaw (or libjpeg inside it) printed on fd 2, without the file name LibRaw puts first."""
    out = []
    for line in lines:
        for prefix in (f"{path}: ", f"{path}:"):
            if line.startswith(prefix):
                line = line[len(prefix):].strip()
                break
        if line:
            out.append(line)
    return out


def _reported(lines: list[str], path: Path) -> str:
    """``"; LibRaw reports 'A'; 'B'"`` from what :func:`native_stderr` caught, or ``""``."""
    said = _printed(lines, path)
    return f"; LibRaw reports {'; '.join(repr(x) for x in said)}" if said else ""


def _open(path: Path, printed: list[str] | None = None):
    """Open the file with LibRaw. What LibRaw prints on fd 2 while it parses the file is caught
    (:func:`l2tech.io.native_messages.native_stderr`): folded into the typed error when the
    open fails, else appended to ``printed`` for the caller to report as a named warning."""
    import rawpy

    from l2tech.io.native_messages import native_stderr

    printed = [] if printed is None else printed

    if not path.exists():
        raise InputNotFoundError("file not found", path=path)
    if path.is_dir():
        raise UnsupportedFormatError("is a folder, not a RAW file", path=path)
    if path.stat().st_size == 0:
        raise EmptyFileError("empty file (0 bytes)", path=path)
    _check_tiff_header_dimensions(path)
    said: list[str] = []
    try:
        with native_stderr() as said:
            raw = rawpy.imread(str(path))
    except rawpy.LibRawFileUnsupportedError:
        raw = None
    except (rawpy.LibRawIOError, rawpy.LibRawDataError) as exc:
        raise CorruptInputError(f"RAW data is truncated or corrupt ({_msg(exc)}{_reported(said, path)})", path=path) from None
    except rawpy.LibRawError as exc:
        raise DecodeError(f"LibRaw cannot open this file ({_msg(exc)}{_reported(said, path)})", path=path) from None
    printed += _printed(said, path)
    if _has_jpegxl_raw(path):
        # DNG 1.7 with JPEG XL raw data: LibRaw opens it but, built without libjxl, cannot unpack it
        if raw is not None:
            try:
                with native_stderr() as said:
                    raw.raw_image  # noqa: B018  (unpacks)
                printed += _printed(said, path)
                return raw
            except rawpy.LibRawError:
                raw.close()
        buf = _jpegxl_dng_uncompressed(path)
        if buf is not None:
            try:  # LibRaw takes the same DNG with its raw data decoded
                with native_stderr() as said:
                    raw = rawpy.imread(buf)
                printed += _printed(said, path)
                return raw
            except rawpy.LibRawError as exc:
                raise DecodeError(f"LibRaw cannot read this JPEG XL DNG once decoded ({_msg(exc)}{_reported(said, path)})",
                                  path=path) from None
        raw = None
    if raw is None:
        raise UnsupportedFormatError(_unsupported_reason(path), path=path)
    return raw


def _has_jpegxl_raw(path: Path) -> bool:
    """True for a TIFF-based file with an IFD compressed with JPEG XL (DNG 1.7, 52546)."""
    with open(path, "rb") as fh:
        if fh.read(4) not in (b"II*\0", b"MM\0*"):
            return False
    try:
        return any(code == 52546 for _, _, code in _tiff_pages(path))
    except Exception:
        return False


#: TIFF tags tifffile writes itself for an image (sizes, layout, compression); every other tag
#: of the DNG's raw IFD and IFD0 is copied (TIFF 6.0 section 8; DNG 1.7 chapter 4).
_LAYOUT_TAGS = frozenset({254, 256, 257, 258, 259, 262, 273, 277, 278, 279, 282, 283, 284, 296, 305, 317, 322, 323, 324,
                          325, 330, 338, 339, 34665, 34853, 50740})


def _jpegxl_dng_uncompressed(path: Path) -> Any:
    """A DNG whose raw data is JPEG XL (DNG 1.7, compression 52546) rewritten uncompressed, in memory.

    The raw IFD (``NewSubfileType`` 0: IFD0 or a sub-IFD) is decoded by tifffile with
    imagecodecs' JPEG XL codec and written as the only IFD of a new DNG with its tags and
    IFD0's (colour matrices, calibration, maker and model; the raw IFD's win), so LibRaw
    develops it as any DNG. EXIF is left out (the shot's metadata is read from the file
    itself, not from this copy).

    Returns
    -------
    io.BytesIO or None
        None when the file is not such a DNG or imagecodecs has no JPEG XL codec.

    Raises
    ------
    CorruptInputError
        The JPEG XL tiles cannot be decoded.

    References
    ----------
    Adobe DNG Specification 1.7.0.0 (Compression 52546, JPEG XL); ISO/IEC 18181.
    """
    import io

    if not _has_jpegxl_raw(path):
        return None
    import imagecodecs
    import tifffile

    if not imagecodecs.JPEGXL.available:
        return None
    with tifffile.TiffFile(path) as tf:
        ifd0 = tf.pages[0]
        cands = [ifd0, *(getattr(ifd0, "pages", None) or [])]
        raw_ifd = next((pg for pg in cands if int(getattr(pg, "subfiletype", 1)) == 0 and pg.compression == 52546), None)
        if raw_ifd is None:
            return None
        try:
            data = raw_ifd.asarray()
        except Exception as exc:
            raise CorruptInputError(f"the JPEG XL raw data cannot be decoded ({exc})", path=path) from None
        tags: dict[int, tuple] = {}
        for page in (ifd0, raw_ifd):  # the raw IFD's tags win
            for t in page.tags.values():
                if t.code not in _LAYOUT_TAGS and t.code > 254:
                    tags[t.code] = (t.code, t.dtype, t.count, t.value, True)
        photometric = int(raw_ifd.photometric)
    out = io.BytesIO()
    with tifffile.TiffWriter(out) as tw:
        tw.write(data, photometric=photometric, planarconfig="contig" if data.ndim == 3 else None, subfiletype=0,
                 extratags=list(tags.values()), metadata=None)
    out.seek(0)
    return out


def _check_tiff_header_dimensions(path: Path) -> None:
    """For TIFF-based RAWs (DNG, NEF, CR2, ARW, ...), refuse absurd IFD dimensions before LibRaw."""
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic not in (b"II*\0", b"MM\0*"):
        return
    try:
        pages = _tiff_pages(path)
    except Exception:  # tifffile cannot parse a maker's TIFF variant: LibRaw decides
        return
    for w, h, _ in pages:
        if w * h > MAX_RAW_PIXELS:
            raise LimitExceededError(f"RAW header claims {w}x{h} pixels; limit is {MAX_RAW_PIXELS:,}", path=path)


def _tiff_pages(path: Path) -> list[tuple[int, int, int]]:
    """(width, height, compression) of every IFD of a TIFF-based file, sub-IFDs included.

    Raises
    ------
    Exception
        Whatever tifffile raises on a file it cannot parse.
    """
    import tifffile

    with tifffile.TiffFile(path) as tf:
        pages = list(tf.pages)
        for page in list(pages):
            pages.extend(getattr(page, "pages", None) or [])
        return [(int(getattr(pg, "imagewidth", 0)), int(getattr(pg, "imagelength", 0)), int(getattr(pg, "compression", 0)))
                for pg in pages]


#: DNG/TIFF compression codes of RAW data that need a decoder LibRaw is often built without:
#: code -> (what it is, which decoder is missing). DNG 1.7 spec (52546 JPEG XL); GoPro's GPR
#: (VC-5, code 9 in its DNG).
_RAW_CODECS = {
    9: ("GoPro GPR (VC-5 compressed DNG)", "this LibRaw has no VC-5 decoder (LibRaw built with GoPro's gpr library, "
        "USE_GPR); convert it to a plain DNG with GoPro's gpr_tools"),
    52546: ("JPEG XL compressed DNG (DNG 1.7)", "this LibRaw has no JPEG XL decoder (a LibRaw built with libjxl)"),
}


def _missing_codec(path: Path) -> str | None:
    """What the RAW data's compression is and which decoder is missing, or None (TIFF-based files)."""
    try:
        pages = _tiff_pages(path)
    except Exception:
        return None
    for _, _, code in pages:
        if code in _RAW_CODECS:
            what, missing = _RAW_CODECS[code]
            return f"it is {what}: {missing}"
    return None


def _unsupported_reason(path: Path) -> str:
    """Why LibRaw does not take a file: a developed image under a RAW name, a known codec, or unknown."""
    from l2tech.io.formats import sniff_format

    try:
        kind = sniff_format(path)
    except Exception:
        kind = ""
    if kind in ("jpeg", "png", "tiff"):
        own = {"jpeg": (".jpg", ".jpeg", ".jpe"), "png": (".png",), "tiff": (".tif", ".tiff")}[kind]
        if path.suffix.lower() in own:  # named as what it is: only the command was wrong
            return f"a developed {kind.upper()} image, not a RAW; use `l2 correct` for it"
        return (f"{kind.upper()} data in a {path.suffix or 'RAW-named'} file: a developed image, not a RAW; "
                "use `l2 correct` (or give it its own extension)")
    codec = _missing_codec(path)
    if codec:
        return f"LibRaw cannot read this RAW: {codec}"
    return "unsupported or mismatched format: LibRaw does not recognise this file as a RAW it can decode"


def _msg(exc: BaseException) -> str:
    m = exc.args[0] if exc.args else exc
    return m.decode(errors="replace") if isinstance(m, bytes) else str(m)


#: Fewer bytes per pixel than this cannot hold real image data, even losslessly compressed.
_MIN_BYTES_PER_PIXEL = 1 / 16


def _check_not_truncated(raw, path: Path, printed: list[str] | None = None) -> None:
    """Refuse files whose pixel data is missing (LibRaw zero-fills a truncated tail silently).

    This unpacks the raw data; what LibRaw and libjpeg print on fd 2 meanwhile ("Premature end
    of JPEG file", "FILE: Unexpected end of file") is folded into the typed error, or appended
    to ``printed`` when the data unpacked."""
    import rawpy

    from l2tech.io.native_messages import native_stderr

    said: list[str] = []

    s = raw.sizes
    if path.stat().st_size < s.raw_width * s.raw_height * _MIN_BYTES_PER_PIXEL:
        raise CorruptInputError(
            f"RAW file is {path.stat().st_size:,} bytes, too small for its {s.raw_width}x{s.raw_height} pixels: the image data is truncated or stripped",
            path=path,
        )
    try:
        with native_stderr() as said:
            mosaic = raw.raw_image_visible
    except (rawpy.LibRawIOError, rawpy.LibRawDataError) as exc:
        raise CorruptInputError(f"RAW data is truncated or corrupt ({_msg(exc)}{_reported(said, path)})", path=path) from None
    except rawpy.LibRawError as exc:
        codec = _missing_codec(path)
        raise DecodeError(f"LibRaw cannot decode the pixels of this file ({_msg(exc)}{_reported(said, path)}); "
                          + (codec or "its codec is not supported"), path=path) from None
    if printed is not None:
        printed += _printed(said, path)
    tail = mosaic[mosaic.shape[0] * 7 // 8 :]
    if tail.size and int(tail.max()) == int(tail.min()):
        raise CorruptInputError("RAW pixel data ends in constant values: the file is truncated", path=path)


def _camera_to_working(raw, white_balance: str, path: Path) -> np.ndarray | None:
    """LibRaw's camera RGB → Rec.2020 matrix (``convert_to_rgb`` with ``output_color=8``), or
    ``None`` when the file gives LibRaw no colour matrix (or it is not finite)."""
    from l2tech.raw.opcodes import libraw_camera_to_rec2020

    m = libraw_camera_to_rec2020(raw, use_camera_wb=white_balance == "camera", is_dng=path.suffix.lower() == ".dng")
    return m if m is not None and np.all(np.isfinite(m)) else None


def _opcode_lists(dng_opcodes: bool | Collection[int]) -> frozenset[int]:
    if dng_opcodes is True:
        return frozenset((1, 2, 3))
    if dng_opcodes is False or dng_opcodes is None:
        return frozenset()
    try:
        lists = frozenset(int(n) for n in dng_opcodes)
    except (TypeError, ValueError):
        raise UsageError(f"dng_opcodes must be True, False or opcode list numbers (1, 2, 3); got {dng_opcodes!r}") from None
    if not lists <= {1, 2, 3}:
        raise UsageError(f"dng_opcodes list numbers must be 1, 2 or 3; got {sorted(lists)}")
    return lists


def _clip_float(rgb16: np.ndarray) -> np.ndarray:
    """LibRaw's clip develop as float32 (1.0 = white)."""
    return rgb16.astype(np.float32) * np.float32(1 / 65535)


def _highlight_develop(raw: Any, rgb16: np.ndarray, mode: str, white_balance: str, half_size: bool, p: Path,
                       demosaic: str = "ppg") -> np.ndarray:
    """Develop again with LibRaw's highlight mode (or unclipped, then reconstruct), at the
    exposure of the ``clip`` develop ``rgb16``; float32 working-space RGB.

    LibRaw scales the data of every mode but ``clip`` by the smallest white-balance
    multiplier over the largest (no channel clips in its output): the scale is measured on
    the pixels both develops leave unclipped.
    """
    import rawpy

    from l2tech.raw.highlights import HIGHLIGHT_MODES, reconstruct_highlights
    from l2tech.raw.opcodes import libraw_camera_to_rec2020

    kw = dict(gamma=(1, 1), no_auto_bright=True, output_bps=16, use_camera_wb=white_balance == "camera",
              use_auto_wb=white_balance == "auto", user_flip=0, half_size=half_size,
              demosaic_algorithm=getattr(rawpy.DemosaicAlgorithm, DEMOSAIC_ALGORITHMS[demosaic]))
    m = libraw_camera_to_rec2020(raw, use_camera_wb=white_balance == "camera", is_dng=p.suffix.lower() == ".dng")
    if m is None:  # no colour matrix: LibRaw's develop is camera RGB, and so is this
        m = np.eye(3)
    try:
        if mode == "reconstruct":
            cam = raw.postprocess(output_color=rawpy.ColorSpace.raw, highlight_mode=1, **kw)
        else:
            cam = None
            rec = raw.postprocess(output_color=rawpy.ColorSpace.Rec2020, highlight_mode=HIGHLIGHT_MODES[mode], **kw)
    except rawpy.LibRawError as exc:
        raise DecodeError(f"LibRaw failed to develop the highlights ({_msg(exc)})", path=p) from None
    if cam is not None:
        cam = cam.astype(np.float32) * np.float32(1 / 65535)
        rec = cam @ m.T.astype(np.float32)
    else:
        rec = rec.astype(np.float32) * np.float32(1 / 65535)
    ref = rgb16[::4, ::4].astype(np.float32) * np.float32(1 / 65535)
    got = rec[::4, ::4]
    ok = (ref > 0.02).all(-1) & (ref < 0.8).all(-1) & (got > 0).all(-1)
    scale = float(np.median(got[ok][:, 1] / ref[ok][:, 1])) if ok.sum() > 16 else 0.0
    consistent = scale > 0 and float(np.median(np.abs(got[ok] / np.float32(scale) - ref[ok]) / ref[ok])) < 1e-2
    if not consistent:
        if mode == "reconstruct":  # LibRaw's camera-RGB output does not match its own develop (e.g. a
            return _highlight_develop(raw, rgb16, "blend", white_balance, half_size, p, demosaic)  # D30's negative WB)
        return _clip_float(rgb16)
    if cam is None:
        return rec / np.float32(scale)
    cam /= np.float32(scale)
    # the channels that saturated on the sensor, and their level in the developed data
    levels = np.full(3, np.inf)
    sat = raw.raw_image_visible >= 0.99 * float(raw.white_level)
    desc = raw.color_desc.decode()
    for c, name in enumerate("RGB"):
        idx = [i for i, d in enumerate(desc) if d == name]
        if raw.raw_type == rawpy.RawType.Flat:
            hit = bool(idx) and bool(np.any(sat & np.isin(raw.raw_colors_visible, idx)))
        else:  # a linear DNG: one plane per colour
            hit = bool(np.any(sat[..., [i for i in idx if i < sat.shape[-1]]])) if sat.ndim == 3 else False
        if hit:
            levels[c] = float(cam[..., c].max())
    if np.all(np.isinf(levels)):
        return cam @ m.T.astype(np.float32)
    return reconstruct_highlights(cam, np.where(np.isinf(levels), 1e30, levels)) @ m.T.astype(np.float32)


def decode_raw(
    path: str | os.PathLike,
    *,
    white_balance: str = "camera",
    half_size: bool = False,
    dng_opcodes: bool | Collection[int] = True,
    as_uint16: bool = False,
    camera_rgb: bool = False,
    on_size: Callable[[int, int], None] | None = None,
    highlights: str = "clip",
    demosaic: str = "ppg",
    cfa_denoise: float = 0.0,
    noise_model: Any = None,
    estimate_tca: bool = False,
) -> RawImage:
    """Decode a RAW file to scene-linear RGB in the working space.

    Parameters
    ----------
    path : path-like
        Any RAW LibRaw reads (CR2, CR3, CRW, NEF, ARW, RW2, RAF, ORF, DNG, ...).
    white_balance : {'camera', 'daylight', 'auto'}
        'camera' uses the as-shot multipliers (LibRaw falls back to daylight when absent).
    half_size : bool
        Half-resolution decode (LibRaw's 2×2 binning, no demosaic); for previews.
    dng_opcodes : bool or collection of {1, 2, 3}
        Apply the DNG opcode lists of a DNG at the stages the specification names (list 1 on
        the stored values, list 2 after linearisation, list 3 after demosaicing; see
        :mod:`l2tech.raw.opcodes`). ``True`` = all three, ``False`` = none, or the list
        numbers to apply (e.g. ``(1, 2)`` when a caller corrects the lens with list 3's warps
        through its own lens engine).
    as_uint16 : bool
        Return LibRaw's 16-bit code values (``65535`` = 1.0, same space and orientation) as
        uint16 instead of float32, for the fused develop pass; no full-frame float copy is made.
        When DNG opcode list 3 has to be applied, the image is float32 all the same (check
        ``image.dtype``).
    camera_rgb : bool
        Return white-balanced camera RGB and the matrix to the working space in
        ``RawImage.camera_to_working`` instead of letting LibRaw convert: lateral chromatic
        aberration is then corrected on the sensor's own colour planes (as darktable's lens
        module does, before its input colour profile), and LibRaw's integer colour conversion
        (about 0.3 s on 24 MP) is skipped — the fused develop pass applies a matrix anyway.
        Only for three-colour sensors with no opcode list 3 to apply and ``highlights="clip"``;
        otherwise the image is converted as usual and ``camera_to_working`` is ``None``.
    on_size : callable, optional
        Called as ``on_size(width, height)`` with the output frame size as soon as the file is
        opened, before demosaicing (lets a caller build per-frame maps while LibRaw works).
    highlights : {'clip', 'blend', 'rebuild', 'reconstruct'}
        Clipped highlights (:mod:`l2tech.raw.highlights`): ``clip`` (LibRaw's default: every
        channel clipped at the first channel's saturation, 1.0 = white), LibRaw's ``blend``
        or ``rebuild`` modes, or ``reconstruct`` (LibRaw's unclipped data, then
        :func:`l2tech.raw.highlights.reconstruct_highlights`). Every mode but ``clip`` returns
        float32 at the same exposure as ``clip`` (values above 1.0 where highlights were
        rebuilt); LibRaw develops the file twice (the ``clip`` develop gives the exposure).
    demosaic : {'ppg', 'ahd', 'dht', 'aahd', 'vng', 'dcb', 'linear'}
        LibRaw's demosaicing algorithm (:data:`DEMOSAIC_ALGORITHMS`); ``ppg`` by default.
        Ignored for sensors LibRaw does not demosaic (linear DNG, Foveon) and ``half_size``.
    cfa_denoise : float
        Noise reduction strength (0 = off) applied to the Bayer mosaic before LibRaw demosaics
        it (:func:`l2tech.raw.denoise.denoise_cfa`), after the DNG opcode lists 1 and 2.
        Files that are not a Bayer mosaic (linear DNGs, X-Trans, Foveon) are returned as
        decoded, with ``RawImage.noise_model`` ``None``: the caller denoises the demosaiced
        image instead.
    noise_model : NoiseModel or callable, optional
        The sensor's noise in units of its white level; a callable is called as
        ``noise_model(estimate)`` with a function that estimates it from this file's mosaic
        (:func:`l2tech.raw.denoise.cached_noise_model` looks it up per camera and ISO). By
        default the model is estimated from the mosaic
        (:func:`l2tech.raw.denoise.estimate_noise_model_cfa`).
    estimate_tca : bool
        Estimate the lateral chromatic aberration on the Bayer mosaic's planes (red, the mean
        of the two greens, blue; half resolution), before anything denoises or demosaics them
        (:func:`l2tech.calibrate.tca.estimate_lateral_ca`; the fit's common shift absorbs the
        planes' half-pixel offsets), into ``RawImage.tca_estimate``.

    Returns
    -------
    RawImage

    Raises
    ------
    InputNotFoundError
        The file does not exist.
    EmptyFileError, UnsupportedFormatError
        Zero bytes; a folder, or not a RAW LibRaw can decode.
    UsageError
        An unknown white balance, highlight mode or demosaic name.
    LimitExceededError
        The header claims more than :data:`MAX_RAW_PIXELS`; refused before unpacking.
    CorruptInputError
        Truncated or corrupt data (LibRaw data errors are fatal: never a half-grey image).
    DecodeError
        Any other LibRaw failure, e.g. a codec LibRaw lacks (GoPro VC-5 GPR).
    UnsupportedOpcodeError
        (a :class:`UnsupportedFormatError`) The DNG carries a non-optional opcode l2tech does
        not implement; the DNG specification requires refusing the image.

    References
    ----------
    LibRaw API notes, ``libraw_output_params_t`` (``output_color``, ``gamma``, ``user_flip``).
    Adobe DNG Specification 1.4.0.0, chapter 6 (opcode list stages).
    """
    import rawpy

    p = Path(path)
    if white_balance not in _WB:
        raise UsageError(f"unknown white balance {white_balance!r}; valid: {', '.join(_WB)}")
    from l2tech.raw.highlights import HIGHLIGHT_MODES

    if highlights not in HIGHLIGHT_MODES:
        raise UsageError(f"unknown highlight mode {highlights!r}; valid: {', '.join(HIGHLIGHT_MODES)}")
    if demosaic not in DEMOSAIC_ALGORITHMS:
        raise UsageError(f"unknown demosaic algorithm {demosaic!r}; valid: {', '.join(DEMOSAIC_ALGORITHMS)}")
    lists = _opcode_lists(dng_opcodes)
    printed: list[str] = []
    raw = _open(p, printed)
    try:
        s = raw.sizes
        if s.raw_width * s.raw_height > MAX_RAW_PIXELS or s.width * s.height > MAX_RAW_PIXELS:
            raise LimitExceededError(f"RAW header claims {s.raw_width}x{s.raw_height} pixels; limit is {MAX_RAW_PIXELS:,}", path=p)
        if s.width == 0 or s.height == 0:
            raise CorruptInputError("RAW header gives an empty image size", path=p)
        _check_not_truncated(raw, p, printed)
        if on_size is not None and not half_size:
            on_size(int(s.width), int(s.height))
        pattern = ""
        if raw.raw_pattern is not None and raw.raw_type == rawpy.RawType.Flat:
            desc = raw.color_desc.decode()
            pattern = "".join(desc[i] for i in raw.raw_pattern[:2, :2].flatten())
        applied: list[str] = []
        warns: list[str] = [f"{p}: LibRaw reports {x!r} (the RAW was decoded)" for x in printed]
        layout = None
        if lists:
            from l2tech.raw.opcodes import apply_raw_opcode_list, read_dng_raw_layout

            layout = read_dng_raw_layout(p)
            if layout is not None and not layout.any:
                layout = None
        if layout is not None:
            for n in (1, 2):
                if n in lists:
                    a, w = apply_raw_opcode_list(raw, layout, n, p)
                    applied += a
                    warns += w
        list3 = layout is not None and 3 in lists and bool(layout.opcodes[3])
        tca_estimate = _mosaic_tca(raw) if estimate_tca else None
        used_model = _denoise_mosaic(raw, pattern, cfa_denoise, noise_model) if cfa_denoise > 0 else None
        to_working = None
        if camera_rgb and not list3 and raw.num_colors == 3 and highlights == "clip":
            to_working = _camera_to_working(raw, white_balance, p)
        keep_camera = to_working is not None
        try:
            rgb16 = raw.postprocess(
                output_color=rawpy.ColorSpace.raw if keep_camera else rawpy.ColorSpace.Rec2020,
                gamma=(1, 1),
                no_auto_bright=True,
                output_bps=16,
                use_camera_wb=white_balance == "camera",
                use_auto_wb=white_balance == "auto",
                user_flip=0,
                half_size=half_size,
                demosaic_algorithm=getattr(rawpy.DemosaicAlgorithm, DEMOSAIC_ALGORITHMS[demosaic]),
            )
        except (rawpy.LibRawIOError, rawpy.LibRawDataError) as exc:
            raise CorruptInputError(f"RAW data is truncated or corrupt ({_msg(exc)})", path=p) from None
        except rawpy.LibRawFileUnsupportedError as exc:
            raise DecodeError(f"LibRaw cannot decode the pixels of this file ({_msg(exc)}); the codec is not supported", path=p) from None
        except rawpy.LibRawError as exc:
            raise DecodeError(f"LibRaw failed to decode ({_msg(exc)})", path=p) from None
        if highlights != "clip":
            image = _highlight_develop(raw, rgb16, highlights, white_balance, half_size, p, demosaic)
            del rgb16
        elif as_uint16 and not list3:
            image = rgb16
        else:
            image = rgb16.astype(np.float32)
            image *= np.float32(1.0 / 65535.0)
            del rgb16
        if list3:
            from l2tech.raw.opcodes import apply_demosaiced_opcode_list, libraw_camera_to_rec2020

            t, l, b, r = layout.active_area
            unavailable = None
            if (s.top_margin, s.left_margin, s.height, s.width) != (t, l, b - t, r - l):
                unavailable = (f"LibRaw's output covers {s.width}x{s.height} pixels at ({s.left_margin}, {s.top_margin}), "
                               f"the DNG's active area {r - l}x{b - t} at ({l}, {t})")
            image, a, w = apply_demosaiced_opcode_list(image, layout, libraw_camera_to_rec2020(raw), p, unavailable=unavailable)
            applied += a
            warns += w
        return RawImage(
            image=image,
            orientation=LIBRAW_FLIP_TO_EXIF.get(int(s.flip), 1),
            cfa_pattern=pattern,
            black_level_per_channel=tuple(int(b) for b in raw.black_level_per_channel),
            white_level=int(raw.white_level),
            white_balance=tuple(float(w) for w in raw.camera_whitebalance),
            opcodes_applied=tuple(applied),
            warnings=tuple(warns),
            camera_to_working=to_working,
            noise_model=used_model,
            tca_estimate=tca_estimate,
        )
    finally:
        raw.close()


def _bayer_mosaic(raw: Any) -> tuple[np.ndarray, str] | None:
    """LibRaw's visible Bayer mosaic, black subtracted and divided by ``white - black``, and
    its top-left 2×2 pattern; ``None`` for data that is not a Bayer mosaic."""
    import rawpy

    if raw.raw_type != rawpy.RawType.Flat:
        return None
    colors = raw.raw_colors_visible
    desc = raw.color_desc.decode()
    pattern = "".join(desc[c] for c in colors[:2, :2].ravel())
    if sorted(pattern) != ["B", "G", "G", "R"]:
        return None
    black = np.asarray(raw.black_level_per_channel, np.float64)[colors]
    span = np.maximum(float(raw.white_level) - black, 1.0)
    return (raw.raw_image_visible.astype(np.float64) - black) / span, pattern


def _mosaic_tca(raw: Any) -> Any:
    """Lateral CA of the Bayer mosaic's planes (``None`` when it is not one, or has too few edges)."""
    from l2tech.calibrate.tca import estimate_lateral_ca
    from l2tech.errors import CalibrationError
    from l2tech.raw.denoise import cfa_planes

    got = _bayer_mosaic(raw)
    if got is None:
        return None
    p = cfa_planes(*got)
    rgb = np.stack([p[..., 0], (p[..., 1] + p[..., 2]) / 2, p[..., 3]], -1).astype(np.float32)
    try:
        return estimate_lateral_ca(rgb)
    except CalibrationError:
        return None


def _denoise_mosaic(raw: Any, pattern: str, strength: float, noise_model: Any) -> Any:
    """Denoise LibRaw's Bayer mosaic in place (before it demosaics); the model used, or ``None``
    for data that is not a Bayer mosaic."""
    from l2tech.raw.denoise import NoiseModel, denoise_cfa, estimate_noise_model_cfa

    got = _bayer_mosaic(raw)
    if got is None:
        return None
    x, pattern = got  # the visible area's own top-left pattern

    def estimate() -> NoiseModel:
        return estimate_noise_model_cfa(x, pattern)

    if noise_model is None:
        model = estimate()
    elif isinstance(noise_model, NoiseModel):
        model = noise_model
    else:
        model = noise_model(estimate)
    y = denoise_cfa(x, pattern, model, luma=strength, chroma=strength)
    vis = raw.raw_image_visible  # a view into LibRaw's buffer: written back in place
    black = np.asarray(raw.black_level_per_channel, np.float64)[raw.raw_colors_visible]
    span = np.maximum(float(raw.white_level) - black, 1.0)
    out = np.clip(np.rint(y * span + black), 0, np.iinfo(vis.dtype).max).astype(vis.dtype)
    saturated = vis >= 0.99 * float(raw.white_level)  # clipped photosites stay clipped
    vis[...] = np.where(saturated, vis, out)
    return model
