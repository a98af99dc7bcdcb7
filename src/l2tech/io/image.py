"""Read and write developed images (JPEG, TIFF, PNG) with ICC profile and EXIF kept.

Pixels cross this module as display-encoded float32 ``(H, W, 3)`` in [0, 1]; integer code values
exist only inside the read/write functions (STYLE.md rule 9). Every write is atomic
(:func:`l2tech.io.atomic.atomic_output`).
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import struct
import warnings
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Mapping

import numpy as np

from l2tech.errors import L2Error, CorruptInputError, DecodeError, DependencyMissingError, EmptyFileError, LimitExceededError, UnsupportedFormatError, UsageError
from l2tech.io.atomic import atomic_output
from l2tech.io.native_messages import DecoderWarning, library_message, native_stderr
from l2tech.io.native_messages import warn_decoder_lines as _warn_decoder_lines

__all__ = [
    "MAX_PIXELS",
    "IMAGE_FORMATS",
    "DecodedImage",
    "quantize",
    "dequantize",
    "read_image",
    "check_developed_image",
    "write_image",
    "copy_exif",
    "apply_orientation",
    "exiv2_open",
    "DecoderWarning",
]

#: Largest image accepted (pixels), checked from the header before decoding (RELIABILITY E4).
MAX_PIXELS = 400_000_000

IMAGE_FORMATS = {"jpeg": ".jpg", "tiff": ".tif", "png": ".png"}


def quantize(image: np.ndarray, bits: int) -> np.ndarray:
    """Encoded float [0, 1] → unsigned integer code values (round half up, clipped).

    Parameters
    ----------
    image : ndarray, float32
        Display-encoded values; values outside [0, 1] are clipped.
    bits : {8, 16}

    Returns
    -------
    ndarray, uint8 or uint16
    """
    if bits not in (8, 16):
        raise UsageError(f"bit depth must be 8 or 16, got {bits}")
    top = (1 << bits) - 1
    out = np.clip(np.asarray(image, dtype=np.float32) * top + 0.5, 0, top)
    return out.astype(np.uint8 if bits == 8 else np.uint16)


def dequantize(codes: np.ndarray) -> np.ndarray:
    """Unsigned integer code values → encoded float32 in [0, 1]."""
    top = float(np.iinfo(codes.dtype).max)
    out = codes.astype(np.float32)
    np.divide(out, np.float32(top), out=out)  # in place: one float frame, not three (memory model)
    return out


@dataclass(frozen=True)
class DecodedImage:
    """A decoded image: encoded float32 ``(H, W, 3)`` pixels, bit depth, format and ICC bytes.

    ``greyscale`` is True when the file stores one grey channel (expanded to three here).
    ``decode_errors`` holds the decoder's messages for damaged data that was accepted
    (``max_decode_errors`` of :func:`read_image`); empty for a clean file.
    """

    pixels: np.ndarray
    bits: int
    format: str
    icc_profile: bytes | None
    greyscale: bool = False
    decode_errors: tuple[str, ...] = ()


def _sniff(path: Path) -> str:
    from l2tech.io.formats import read_input_bytes

    head = read_input_bytes(path, head=16)  # missing, a folder, unreadable or empty: its typed error
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    from l2tech.errors import L2Error
    from l2tech.io.formats import RAW_FORMATS, sniff_format

    try:
        kind = sniff_format(path)
    except L2Error:
        kind = ""
    if kind in RAW_FORMATS:
        # a DNG's first TIFF page is its preview: read as a TIFF, the preview would be taken for the picture
        raise UnsupportedFormatError(f"a RAW file ({kind.upper()}), not a developed image; develop it with "
                                     "`l2 develop` first", path=path)
    if head[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
        return "tiff"
    raise UnsupportedFormatError("unsupported or mismatched format: not a JPEG, PNG or TIFF file (checked magic bytes)", path=path)


def check_developed_image(path: str | os.PathLike) -> str:
    """The format of a developed image (``'jpeg'``, ``'png'`` or ``'tiff'``), from its magic bytes.

    Parameters
    ----------
    path : path-like

    Returns
    -------
    str

    Raises
    ------
    InputNotFoundError, EmptyFileError, UnsupportedFormatError
        Missing, empty or unreadable; a RAW file (a DNG is a TIFF whose first page is its
        preview: "a RAW file (DNG), not a developed image; develop it with `l2 develop` first");
        any other format.
    """
    return _sniff(Path(path))


def read_image(path: str | os.PathLike, *, max_decode_errors: int = 0) -> DecodedImage:
    """Read a developed JPEG, PNG or TIFF image.

    Parameters
    ----------
    path : path-like
    max_decode_errors : int
        Damaged images to accept (``--max-decode-errors``): a still is one frame, so 0 (the
        default) refuses a JPEG whose data libjpeg reports damaged, and 1 or more decodes it
        anyway (libjpeg fills what is missing with flat grey) and lists the decoder's message in
        ``decode_errors``. A header that claims more pixels than the data can hold is refused
        whatever the allowance.

    Returns
    -------
    DecodedImage
        ``pixels`` float32 ``(H, W, 3)`` display-encoded in [0, 1] (grey images are expanded
        to three channels, alpha dropped); ``bits`` 8 or 16; ``icc_profile`` bytes or None.

    Raises
    ------
    InputNotFoundError
        The file does not exist (:func:`l2tech.io.formats.read_input_bytes`).
    EmptyFileError, UnsupportedFormatError
        Zero bytes; not a JPEG/PNG/TIFF by its magic bytes.
    LimitExceededError
        Header dimensions above :data:`MAX_PIXELS`, refused before decoding.
    CorruptInputError
        Truncated or corrupt data (a truncated JPEG is an error, never a half-grey image). A
        JPEG is decoded by libjpeg-turbo through ``simplejpeg`` with ``strict=True``, which
        raises on libjpeg's recoverable errors ("premature end of data segment", "bad Huffman
        code", ...) that Pillow and OpenCV decode silently.
    DependencyMissingError
        ``simplejpeg`` (a dependency of l2tech) is not installed.

    Warns
    -----
    DecoderWarning
        ``FILE: message``, one per line a C decoder printed about a file it still decoded
        (libpng's ``iCCP: too short``: :func:`l2tech.io.native_messages.native_stderr`), and
        per PNG text or iCCP chunk over Pillow's size limits, left out (the pixels are read).
        A decoder's lines for a file it could not decode are in the ``CorruptInputError``.

    References
    ----------
    ITU-T T.81 (JPEG) §B.1.1.5 (markers in the coded data), §F.1.2.1 (one Huffman code per
    block); libjpeg-turbo ``jerror.h`` (its warnings, ``JWRN_*``); simplejpeg ``decode_jpeg``.
    """
    p = Path(path)
    fmt = _sniff(p)
    icc = None
    damage: tuple[str, ...] = ()
    if fmt == "tiff":
        codes, icc = _read_tiff(p)
    else:
        from PIL import Image

        if fmt == "jpeg":
            _check_jpeg_data(p, restart_markers=max_decode_errors < 1)
        if fmt == "png":
            with open(p, "rb") as fh:
                head = fh.read(24)
            if len(head) < 24 or head[12:16] != b"IHDR":
                raise CorruptInputError("PNG header (IHDR) is missing or truncated", path=p)
            _check_pixels(p, *struct.unpack(">II", head[16:24]))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with _pillow_open(p, fmt) as im:
                    _check_pixels(p, *im.size)
                    icc = im.info.get("icc_profile")
                    if fmt == "jpeg":
                        codes, damage = _decode_jpeg(p, max_decode_errors)
                        if codes is None:  # CMYK/YCCK: checked by libjpeg above, converted by Pillow
                            with native_stderr() as said:
                                im.load()
                                codes = np.asarray(im.convert("RGB"))
                            _warn_decoder_lines(p, "JPEG", said)
        except L2Error:
            raise
        except Image.DecompressionBombError as exc:
            raise LimitExceededError(f"image header exceeds the decoder's pixel limit ({exc})", path=p) from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise CorruptInputError(f"cannot decode {fmt.upper()}: {exc}", path=p) from None
        if fmt == "png":
            import cv2

            with native_stderr() as said:  # libpng prints its errors and warnings on fd 2
                raw = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
            if raw is None:
                raise CorruptInputError(f"cannot decode PNG{_reported(said)}; not decoded", path=p)
            _warn_decoder_lines(p, "PNG", said)
            if raw.ndim == 3 and raw.shape[2] in (2, 4):  # an alpha channel: the outputs are RGB
                opaque = np.iinfo(raw.dtype).max if raw.dtype.kind == "u" else 1.0
                see_through = int(np.count_nonzero(raw[..., -1] < opaque))
                if see_through:  # an all-opaque alpha loses nothing: no warning
                    warnings.warn(f"{p}: PNG alpha channel dropped ({see_through:,} of {raw.shape[0] * raw.shape[1]:,} "
                                  "pixels not opaque); the output has no transparency", DecoderWarning, stacklevel=2)
            codes = raw if raw.ndim == 2 else (raw[..., 2::-1] if raw.shape[2] >= 3 else raw)
    codes = np.asarray(codes)
    if np.issubdtype(codes.dtype, np.floating):
        codes = _finite_or_refuse(p, codes)
    grey = codes.ndim == 2 or codes.shape[2] == 2
    if codes.ndim == 2:
        codes = np.repeat(codes[..., None], 3, axis=2)
    elif codes.shape[2] == 2:
        codes = np.repeat(codes[..., :1], 3, axis=2)
    codes = np.ascontiguousarray(codes[..., :3])
    if codes.dtype not in (np.uint8, np.uint16):
        if np.issubdtype(codes.dtype, np.floating):
            return DecodedImage(codes.astype(np.float32), 32, fmt, icc, grey)
        raise UnsupportedFormatError(f"unsupported sample type {codes.dtype}", path=p)
    bits = 8 if codes.dtype == np.uint8 else 16
    return DecodedImage(dequantize(codes), bits, fmt, icc, grey, damage)


#: TIFF PhotometricInterpretation values read as grey (one colour channel) or RGB (three).
_TIFF_GREY = {0: "MINISWHITE", 1: "MINISBLACK"}
_TIFF_COLOUR = {2: "RGB", 3: "PALETTE", 6: "YCBCR"}
#: ExtraSamples values (TIFF 6.0 section 18) as said to users.
_EXTRA_SAMPLE = {0: "unspecified", 1: "associated alpha", 2: "unassociated alpha"}


def _read_tiff(path: Path) -> tuple[np.ndarray, bytes | None]:
    """Decode the first page of a TIFF into ``(H, W)`` grey or ``(H, W, 3)`` RGB code values.

    The samples are arranged by the page's ``PlanarConfiguration`` (TIFF 6.0 tag 284): with
    2 (separate planes) tifffile returns ``(samples, H, W)``, moved here to ``(H, W, samples)``;
    the result must be the header's ``ImageLength`` x ``ImageWidth`` x ``SamplesPerPixel``.
    Samples beyond the grey or RGB channels (alpha, unspecified extra samples) are dropped with
    one named :class:`DecoderWarning`; a palette image is expanded through its ColorMap, and a
    WhiteIsZero image inverted. Layouts whose pixels would be misread (CMYK, CIELab, a CFA
    mosaic, several image planes in depth) are refused.

    Raises
    ------
    LimitExceededError, UnsupportedFormatError, CorruptInputError
        Too many pixels; a layout named above; data tifffile or its codecs cannot decode
        (a corrupt Deflate/LZW/JPEG strip: imagecodecs' errors, whatever their class).
    """
    import tifffile

    try:
        with tifffile.TiffFile(path) as tf:
            page = tf.pages[0]
            h, w = int(page.imagelength), int(page.imagewidth)
            _check_pixels(path, w, h)
            photometric = int(page.photometric)
            spp = int(page.samplesperpixel)
            if photometric in _TIFF_GREY:
                colour = 1
            elif photometric in _TIFF_COLOUR:
                colour = 1 if photometric == 3 else 3
            else:
                try:
                    name = tifffile.PHOTOMETRIC(photometric).name
                except ValueError:
                    name = str(photometric)
                if photometric in (32803, 34892):  # CFA, LinearRaw: the RAW data of a DNG or TIFF-based RAW
                    raise UnsupportedFormatError(
                        f"a RAW file (TIFF photometric interpretation {name}), not a developed image; develop it "
                        "with `l2 develop` first", path=path)
                raise UnsupportedFormatError(
                    f"TIFF photometric interpretation {name} is not supported (grey, RGB, palette or YCbCr only); "
                    "not decoded", path=path)
            if int(getattr(page, "imagedepth", 1) or 1) > 1:
                raise UnsupportedFormatError(f"TIFF holds a volume ({page.imagedepth} planes in depth), not one image; "
                                             "not decoded", path=path)
            if spp < colour:
                raise UnsupportedFormatError(f"TIFF {tifffile.PHOTOMETRIC(photometric).name} image with {spp} sample(s) "
                                             f"per pixel (needs {colour}); not decoded", path=path)
            with native_stderr() as said:
                codes = page.asarray()
            _warn_decoder_lines(path, "TIFF", said)
            if photometric == 6 and codes.ndim == 3 and codes.shape[-1] == 3 and int(page.compression) not in (6, 7):
                raise UnsupportedFormatError("TIFF YCbCr data that is not JPEG-compressed is not supported; not decoded",
                                             path=path)
            if spp > 1 and int(page.planarconfig) == 2:  # separate planes: (S, H, W)
                codes = np.moveaxis(codes, 0, -1)
            want = (h, w, spp) if spp > 1 else (h, w)
            if photometric == 6 and codes.shape == (h, w, 3):  # JPEG-compressed YCbCr: tifffile gives RGB
                want = codes.shape
            if codes.shape != want:
                raise CorruptInputError(f"TIFF data decodes to shape {codes.shape}, not the header's "
                                        f"{'x'.join(map(str, want))}; not decoded", path=path)
            if codes.ndim == 3 and codes.shape[2] > colour:
                extra = list(getattr(page, "extrasamples", ()) or ())
                kinds = ", ".join(_EXTRA_SAMPLE.get(int(e), str(int(e))) for e in extra) or "unspecified"
                dropped = codes.shape[2] - colour
                kept = "grey" if colour == 1 else "RGB"
                warnings.warn(f"{path}: TIFF has {dropped} channel(s) beyond its {kept} channel(s) ({kinds}); "
                              f"dropped, only the {kept} channel(s) are read and written", DecoderWarning, stacklevel=3)
                codes = codes[..., 0] if colour == 1 else codes[..., :3]
            if photometric == 3:  # palette indices through the ColorMap (3, 2**bits), uint16
                cmap = np.asarray(page.colormap)
                if cmap.ndim != 2 or cmap.shape[0] != 3 or int(codes.max(initial=0)) >= cmap.shape[1]:
                    raise CorruptInputError("TIFF palette image has no usable ColorMap; not decoded", path=path)
                codes = np.moveaxis(cmap[:, codes], 0, -1)
                if not np.any(codes % 257):
                    codes = (codes // 257).astype(np.uint8)
            elif photometric == 0 and codes.dtype.kind == "u":  # WhiteIsZero
                codes = np.iinfo(codes.dtype).max - codes
            elif photometric == 0:
                raise UnsupportedFormatError("TIFF WhiteIsZero image with non-integer samples; not decoded", path=path)
            tag = page.tags.get(34675)
            icc = bytes(tag.value) if tag is not None else None
    except L2Error:
        raise
    except MemoryError:
        raise
    except (tifffile.TiffFileError, ValueError, EOFError, OSError) as exc:
        raise CorruptInputError(f"cannot decode TIFF: {exc}", path=path) from None
    except Exception as exc:  # imagecodecs' codec errors (DeflateError, LzwError, JpegError, ...): damaged data
        raise CorruptInputError(f"cannot decode TIFF: its compressed data is corrupt ({exc}); not decoded",
                                path=path) from None
    return codes, icc


def _finite_or_refuse(path: Path, codes: np.ndarray) -> np.ndarray:
    """Float samples with every NaN/inf set to 0 (one named warning); refused when none is finite.

    An image with no finite value holds no picture: writing it would give a black frame made
    up by the quantiser (NaN casts to 0), so it is refused rather than "corrected".
    """
    finite = np.isfinite(codes)
    if finite.all():
        return codes
    if not finite.any():
        raise CorruptInputError("no finite pixel value (every sample is NaN or infinite): no image to correct; "
                                "not decoded", path=path)
    bad = int((~finite).sum())
    warnings.warn(f"{path}: {bad:,} of {codes.size:,} samples are NaN or infinite; set to 0", DecoderWarning,
                  stacklevel=3)
    return np.where(finite, codes, 0).astype(codes.dtype, copy=False)


def _decode_jpeg(path: Path, max_decode_errors: int) -> tuple[np.ndarray | None, tuple[str, ...]]:
    """Decode a JPEG with libjpeg-turbo, refusing data libjpeg reports damaged.

    libjpeg treats a scan that ends early (a file cut mid-scan and closed with an EOI marker),
    a bad Huffman code or a lost restart marker as *recoverable*: it fills the missing blocks
    with flat grey and only emits a warning (``JWRN_HIT_MARKER``, ``JWRN_HUFF_BAD_CODE``,
    ``JWRN_MUST_RESYNC``, ...), which Pillow and OpenCV do not expose. ``simplejpeg`` with
    ``strict=True`` raises ``ValueError`` on them; decoding again with ``strict=False`` tells a
    recoverable error (the second decode succeeds) from a fatal one.

    Returns
    -------
    codes : ndarray, shape (H, W, 3) or (H, W), uint8; or None
        None for a four-component (CMYK/YCCK) JPEG, whose data was checked here and whose
        colour conversion is left to Pillow.
    damage : tuple of str
        libjpeg's message when damaged data was accepted (``max_decode_errors >= 1``).

    Raises
    ------
    CorruptInputError
        Damaged data and ``max_decode_errors < 1``, or data libjpeg cannot decode at all.
    """
    try:
        import simplejpeg
    except ImportError:
        raise DependencyMissingError("reading JPEG needs simplejpeg (libjpeg-turbo); run: pip install 'simplejpeg>=1.8'") from None

    data = path.read_bytes()
    try:
        _, _, space, _ = simplejpeg.decode_jpeg_header(data)
    except ValueError as exc:
        raise CorruptInputError(f"cannot decode JPEG: {exc}", path=path) from None
    target = {"Gray": "GRAY", "CMYK": "CMYK", "YCCK": "CMYK"}.get(space, "RGB")
    try:
        with native_stderr() as said:
            codes = simplejpeg.decode_jpeg(data, colorspace=target, strict=True)
        _warn_decoder_lines(path, "JPEG", said)
        damage: tuple[str, ...] = ()
    except ValueError as exc:
        try:
            with native_stderr() as said:
                codes = simplejpeg.decode_jpeg(data, colorspace=target, strict=False)
            _warn_decoder_lines(path, "JPEG", said)
        except ValueError as fatal:
            raise CorruptInputError(f"cannot decode JPEG: {fatal}", path=path) from None
        if max_decode_errors < 1:
            raise CorruptInputError(
                f"damaged JPEG data: libjpeg reports '{exc}' (decoding it would fill what is missing with grey); "
                "not decoded; `l2 correct --max-decode-errors 1` accepts a damaged image", path=path) from None
        damage = (str(exc),)
    if target == "CMYK":
        return None, damage
    return (codes[..., 0] if target == "GRAY" else codes), damage


def _reported(lines: list[str]) -> str:
    """``": libpng reports 'MESSAGE'"`` from the lines a decoder printed (its errors first), or ``""``."""
    split = [library_message(line) for line in lines]
    errors = [(lib, msg) for lib, kind, msg in split if kind == "error"] or [(lib, msg) for lib, kind, msg in split]
    if not errors:
        return ""
    lib, msg = errors[0]
    return f": {lib or 'the decoder'} reports '{msg}'"


def _pillow_open(path: Path, fmt: str):  # -> PIL.Image.Image
    """``PIL.Image.open`` the file; a PNG whose text or ICC chunk is over Pillow's limits is
    opened without those chunks, with a named warning for each one dropped.

    Pillow refuses a whole PNG whose zTXt, compressed iTXt or iCCP chunk expands past
    ``PngImagePlugin.MAX_TEXT_CHUNK`` (1 MiB) or whose text chunks hold more than
    ``MAX_TEXT_MEMORY`` (64 MiB) in all (``ValueError``: "Decompressed data too large for
    PngImagePlugin.MAX_TEXT_CHUNK"). Such a chunk is a defect of the metadata, not of the
    pixels, which OpenCV decodes from the file as it is.
    """
    from PIL import Image

    try:
        return Image.open(path)
    except ValueError as exc:
        if fmt != "png" or "MAX_TEXT" not in str(exc):
            raise
        head, notes = _png_head_without_oversized_chunks(path)
        if not notes and "MAX_TEXT_MEMORY" in str(exc):  # compressed text, each chunk under the limit
            from PIL import PngImagePlugin

            notes = [f"PNG text chunks expand past the PNG reader's limit of {PngImagePlugin.MAX_TEXT_MEMORY // 2**20} MiB "
                     "in all; their text is ignored"]
        if not notes:
            raise
    for note in notes:
        warnings.warn(f"{path}: {note}", DecoderWarning, stacklevel=3)
    return Image.open(io.BytesIO(head))


def _png_head_without_oversized_chunks(path: Path) -> tuple[bytes, list[str]]:
    """The PNG's signature and chunks up to its first IDAT chunk's header, less its text
    chunks (tEXt, zTXt, iTXt: :func:`read_image` uses none) and an iCCP chunk Pillow refuses
    for its size (see :func:`_pillow_open`); and a line for each chunk over Pillow's limits.
    The pixel data is not read (Pillow's ``open`` stops at the IDAT header)."""
    from PIL import PngImagePlugin

    limit = PngImagePlugin.MAX_TEXT_CHUNK
    memory_limit = PngImagePlugin.MAX_TEXT_MEMORY

    def expands_past_limit(data: bytes) -> bool:
        d = zlib.decompressobj()
        try:
            d.decompress(data, limit)
        except zlib.error:
            return False  # Pillow ignores a chunk it cannot decompress
        return bool(d.unconsumed_tail)

    kept = [b"\x89PNG\r\n\x1a\n"]
    notes: list[str] = []
    text_bytes = 0
    with open(path, "rb") as fh:
        fh.seek(8)
        while True:
            hdr = fh.read(8)
            if len(hdr) < 8:
                break
            length, ctype = struct.unpack(">I4s", hdr)
            if ctype in (b"IDAT", b"IEND"):
                kept.append(hdr)
                break
            end = fh.tell() + length + 4
            compressed = ctype in (b"zTXt", b"iTXt", b"iCCP")
            body = fh.read(length if compressed else min(length, 80))
            k = body.find(b"\0", 0, 80)  # the keyword: 1-79 Latin-1 characters, then a NUL
            key = "".join(c if c.isprintable() else "?" for c in body[: max(k, 0)].decode("latin-1"))
            drop = False
            if k > 0 and ctype in (b"zTXt", b"iCCP"):  # keyword, 0, method, compressed data
                drop = expands_past_limit(body[k + 2 :])
            elif k > 0 and ctype == b"iTXt":  # keyword, 0, flag, method, language, 0, translated, 0, text
                rest = body[k + 3 :].split(b"\0", 2)
                drop = body[k + 1 : k + 2] == b"\1" and len(rest) == 3 and expands_past_limit(rest[2])
            if drop and ctype == b"iCCP":
                notes.append(f"embedded ICC profile '{key}' (PNG iCCP chunk) expands past {limit / 2**20:g} MiB, the PNG "
                             "reader's limit; dropped, pixels read as sRGB")
            elif drop:
                notes.append(f"PNG {ctype.decode()} text chunk '{key}' expands past {limit / 2**20:g} MiB, the PNG "
                             "reader's limit for one text chunk; its text is ignored")
            elif ctype in (b"tEXt", b"zTXt", b"iTXt"):
                text_bytes += length
            elif not compressed or ctype == b"iCCP":
                kept.append(hdr + body + fh.read(end - fh.tell()))
            fh.seek(end)
    if text_bytes > memory_limit:
        notes.append(f"PNG text chunks hold {text_bytes:,} bytes, past the PNG reader's limit of "
                     f"{memory_limit // 2**20} MiB; their text is ignored")
    return b"".join(kept), notes


#: JPEG frame markers coded with Huffman tables (ITU-T T.81 Table B.1): SOF0-3, SOF5-7.
_HUFFMAN_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7}
#: Arithmetic-coded frames (SOF9-11, SOF13-15): no per-block lower bound on their size.
_ARITHMETIC_SOF = {0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def _check_jpeg_data(path: Path, *, restart_markers: bool = True) -> None:
    """Refuse a JPEG whose header claims more pixels than its coded data can hold.

    Every 8×8 block of every component carries a Huffman-coded DC difference of at least one
    bit (ITU-T T.81 §F.1.2.1, and §G.1.2.1 for the first DC scan of a progressive frame), so
    a Huffman-coded frame needs at least ``Σ blocks / 8`` bytes after its first SOS marker.
    A header patched to claim 13000×13000 over 150 KB of data would otherwise decode "fine":
    libjpeg pads the missing blocks with zeros and only logs a warning, giving a flat grey
    image. The sizes come from the SOF segment; nothing is decoded. With ``restart_markers``
    a sequential scan with a restart interval is also checked for its RST markers
    (:func:`_check_restart_markers`); :func:`read_image` turns that off when damaged data is
    allowed (``max_decode_errors``), the per-block bound stays.

    Raises
    ------
    CorruptInputError
        The file holds fewer bytes of scan data than its frame needs.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        data = fh.read(min(size, 1 << 20))  # the headers; a scan starts within the first MiB or the check is moot
    pos, frame, restart_interval = 2, None, 0
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return  # not a marker where one must be: the decoder reports it
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = struct.unpack(">H", data[pos + 2 : pos + 4])[0]
        if marker in _HUFFMAN_SOF or marker in _ARITHMETIC_SOF:
            seg = data[pos + 4 : pos + 2 + length]
            if len(seg) < 6:
                return
            h, w, ncomp = struct.unpack(">HHB", seg[1:6])
            comps = [(seg[6 + 3 * k + 1] >> 4, seg[6 + 3 * k + 1] & 15) for k in range(ncomp) if 6 + 3 * k + 2 < len(seg)]
            frame = (marker, w, h, comps)
        elif marker == 0xDD and length >= 4:  # DRI: MCUs per restart interval (§B.2.4.4)
            restart_interval = struct.unpack(">H", data[pos + 4 : pos + 6])[0]
        elif marker == 0xDA:  # start of scan: the coded data follows
            if frame is None or frame[0] not in _HUFFMAN_SOF:
                return
            _, w, h, comps = frame
            if not comps or w == 0 or h == 0:  # height 0: given by a DNL marker later (§B.2.5)
                return
            hmax = max(c[0] for c in comps) or 1
            vmax = max(c[1] for c in comps) or 1
            # a component's samples: ceil(X * H_i / H_max) by ceil(Y * V_i / V_max) (T.81 §A.1.1)
            blocks = sum(_ceil_div(_ceil_div(w * hs, hmax), 8) * _ceil_div(_ceil_div(h * vs, vmax), 8) for hs, vs in comps)
            need = blocks // 8
            have = size - pos
            if have < need:
                raise CorruptInputError(
                    f"JPEG header claims {w}x{h} pixels but the file holds {have:,} bytes of coded data; "
                    f"at least {need:,} are needed (one Huffman code per 8x8 block, ITU-T T.81 F.1.2.1): "
                    "truncated or forged, not decoded", path=path)
            if restart_markers and restart_interval and frame[0] in (0xC0, 0xC1) and data[pos + 4 : pos + 5] == bytes([len(comps)]):
                _check_restart_markers(path, pos, w, h, comps, hmax, vmax, restart_interval)
            return
        elif marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        pos += 2 + length


def _check_restart_markers(path: Path, sos: int, w: int, h: int, comps: list, hmax: int, vmax: int, ri: int) -> None:
    """Refuse a sequential JPEG whose only scan holds fewer restart markers than its frame needs.

    With a restart interval of ``ri`` MCUs, a complete scan of ``n`` MCUs holds
    ``ceil(n / ri) - 1`` RST markers (ITU-T T.81 §B.2.4.4, §E.1.4). A scan cut short and closed
    with an EOI — which libjpeg decodes with a warning only, padding the rest with flat grey —
    holds fewer. Markers cannot occur inside entropy-coded data (0xFF is stuffed, §B.1.1.5).
    """
    if len(comps) == 1:
        mcus = _ceil_div(w, 8) * _ceil_div(h, 8)  # a non-interleaved scan: one block per MCU
    else:
        mcus = _ceil_div(w, 8 * hmax) * _ceil_div(h, 8 * vmax)
    need = _ceil_div(mcus, ri) - 1
    with open(path, "rb") as fh:
        fh.seek(sos)
        scan = fh.read()
    end = scan.find(b"\xff\xd9")
    scan = scan if end < 0 else scan[:end]
    have = sum(scan.count(bytes((0xFF, 0xD0 + k))) for k in range(8))
    if have < need:
        raise CorruptInputError(
            f"JPEG scan ends early: {have + 1} of {need + 1} restart intervals are present (truncated); not decoded",
            path=path)


def _check_pixels(path: Path, w: int, h: int) -> None:
    if w <= 0 or h <= 0 or w * h > MAX_PIXELS:
        raise LimitExceededError(f"image header claims {w}x{h} pixels; limit is {MAX_PIXELS:,} pixels", path=path)


def _png_with_icc(png: bytes, icc: bytes | None, name: bytes = b"ICC profile") -> bytes:
    """Insert an iCCP chunk after IHDR (PNG spec §11.3.3.3)."""
    if not icc:
        return png
    return _png_after_ihdr(png, b"iCCP", name + b"\0\0" + zlib.compress(icc))


def _png_after_ihdr(png: bytes, kind: bytes, data: bytes) -> bytes:
    """``png`` with one chunk inserted right after IHDR (length, type, data, CRC-32; PNG spec 5.3)."""
    chunk = struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR's length + type, its 13 data bytes, its CRC
    return png[:ihdr_end] + chunk + png[ihdr_end:]


#: pixels per inch of one pixel per unit, by EXIF/TIFF ResolutionUnit (2 inch, 3 centimetre)
_PER_INCH = {2: 1.0, 3: 2.54}


def _source_resolution(src: str | os.PathLike) -> tuple[float, float, int] | None:
    """The source's print resolution ``(x, y, unit)`` (unit as TIFF ResolutionUnit: 1 none,
    2 inch, 3 cm): EXIF/TIFF ``XResolution``/``YResolution``/``ResolutionUnit``, else a JPEG's
    JFIF density; None when it has none. An output writes it where its format keeps it (JFIF,
    TIFF tags, PNG pHYs), as the EXIF copy already does for JPEG (TIFF 6.0 section 8; JFIF 1.02;
    PNG spec 11.3.5.3)."""
    try:
        import exiv2

        exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.mute)
        im = _exiv2_read_source(exiv2, Path(src))
        ex = im.exifData()

        def val(key: str) -> float | None:
            it = ex.findKey(exiv2.ExifKey(key))
            return None if it == ex.end() else float(it.toFloat(0))

        x, y, unit = val("Exif.Image.XResolution"), val("Exif.Image.YResolution"), val("Exif.Image.ResolutionUnit")
        if x and y and x > 0 and y > 0:
            return _plausible_resolution(float(x), float(y), int(unit) if unit in (1, 2, 3) else 2)
    except Exception:  # noqa: BLE001 - no resolution is a default, never a failure
        pass
    try:
        with open(src, "rb") as fh:
            head = fh.read(20)
        if head[:2] == b"\xff\xd8" and head[6:11] == b"JFIF\x00":
            unit, x, y = head[13], *struct.unpack(">HH", head[14:18])
            if unit in (1, 2) and x and y:  # JFIF 1 = dots per inch, 2 = per cm
                return _plausible_resolution(float(x), float(y), 2 if unit == 1 else 3)
    except OSError:
        pass
    return None


def _plausible_resolution(x: float, y: float, unit: int) -> tuple[float, float, int] | None:
    """``(x, y, unit)`` when every output format can hold it (JFIF: 16-bit dots per inch; PNG:
    32-bit pixels per metre), else None: above 65535 dpi is no print resolution."""
    scale = _PER_INCH.get(unit, 1.0)
    if max(x, y) * scale > 65535 or min(x, y) * scale < 1e-3:
        return None
    return x, y, unit


def _png_with_phys(png: bytes, res: tuple[float, float, int] | None) -> bytes:
    """Insert a pHYs chunk after IHDR: pixels per metre, or the aspect only (PNG spec 11.3.5.3)."""
    if not res:
        return png
    x, y, unit = res
    if unit in _PER_INCH:
        per_m = 100.0 / 2.54 * _PER_INCH[unit]  # per inch -> per metre (x 39.37); per cm -> per metre (x 100)
        data = struct.pack(">IIB", round(x * per_m), round(y * per_m), 1)
    else:
        data = struct.pack(">IIB", round(x), round(y), 0)
    return _png_after_ihdr(png, b"pHYs", data)


def apply_orientation(image: np.ndarray, orientation: int | None) -> np.ndarray:
    """Turn pixels stored with EXIF orientation ``orientation`` (1–8) upright.

    Unknown or invalid values (None, 0, 9, ...) leave the image as stored.

    References
    ----------
    EXIF 2.32 (CIPA DC-008) tag 0x0112 Orientation.
    """
    o = orientation if orientation in range(1, 9) else 1
    if o == 1:
        return image
    if o == 2:
        return image[:, ::-1]
    if o == 3:
        return image[::-1, ::-1]
    if o == 4:
        return image[::-1]
    if o == 5:
        return np.swapaxes(image, 0, 1)
    if o == 6:
        return np.rot90(image, -1)
    if o == 7:
        return np.swapaxes(image, 0, 1)[::-1, ::-1]
    return np.rot90(image, 1)  # 8


#: exiv2 groups that describe images other than the primary one (thumbnails, previews, the
#: RAW data's sub-images) or a RAW container's own structure: not carried into an output.
_NOT_CARRIED_GROUP_PREFIXES = ("Thumbnail", "SubImage", "SubThumb", "Image2", "Image3", "PanasonicRaw", "NikonPreview",
                               "SamsungPreview", "MinoltaCs5D", "Sony2010e")
#: IFD0 tags that describe the stored pixels (their layout, compression, sample format) or a
#: RAW's data; the writer of the output sets its own (TIFF 6.0 baseline, DNG 1.7 chapter 4).
_IMAGE_STRUCTURE = {
    "NewSubfileType", "SubfileType", "ImageWidth", "ImageLength", "BitsPerSample", "Compression",
    "PhotometricInterpretation", "FillOrder", "StripOffsets", "SamplesPerPixel", "RowsPerStrip", "StripByteCounts",
    "PlanarConfiguration", "TileWidth", "TileLength", "TileOffsets", "TileByteCounts", "SubIFDs",
    "JPEGInterchangeFormat", "JPEGInterchangeFormatLength", "YCbCrCoefficients", "YCbCrSubSampling",
    "ReferenceBlackWhite", "Predictor", "SampleFormat", "ExtraSamples", "XMLPacket", "InterColorProfile",
    "CFARepeatPatternDim", "CFAPattern", "TransferFunction", "WhitePoint", "PrimaryChromaticities",
    "ExifTag", "GPSTag", "SMinSampleValue", "SMaxSampleValue", "JPEGTables", "Orientation",
}
#: DNG tags (0xC612...) kept in an output: they describe the shot, not the RAW data.
_DNG_KEPT = {"LensInfo", "CameraSerialNumber", "OriginalRawFileName", "UniqueCameraModel", "LocalizedCameraModel",
             "DNGPrivateData"}
#: Exif IFD tags of the source's pixels; the output's values are written instead.
_PHOTO_UPDATED = {"PixelXDimension", "PixelYDimension", "CompressedBitsPerPixel"}


def _carried(key: str, tag: int) -> bool:
    """True when an exiv2 EXIF key of the source still holds for the output."""
    _, group, name = key.split(".", 2)
    if group == "Thumbnail":  # the thumbnail is remade from the output; its resolution stays
        return name in ("XResolution", "YResolution", "ResolutionUnit")
    if group.startswith(_NOT_CARRIED_GROUP_PREFIXES):
        return False
    if group == "Image":
        if name in _IMAGE_STRUCTURE:
            return False
        return not (0xC612 <= tag < 0xCE00) or name in _DNG_KEPT
    if group == "Photo":
        return name not in _PHOTO_UPDATED
    return True


#: Adobe Camera Raw's settings (``crs:``, ``crss:``). On a RAW or DNG they are an edit still
#: to be applied: a Lightroom/ACR that finds them on the rendered output would apply them
#: again, so they are not carried. An image Adobe rendered says so with
#: ``crs:AlreadyApplied="True"`` (the 6D JPEG in the shared data; its DNG says False); there
#: they describe how the pixels were made and are carried.
_XMP_CRS = ("Xmp.crs.", "Xmp.crss.")
_MIME = {"jpeg": "image/jpeg", "tiff": "image/tiff", "png": "image/png"}


def _xmp_for_output(exiv2: object, xmp: object, dst_mime: str | None = None) -> object:
    """The source's XMP without what describes the source's pixels or a RAW edit still pending.

    ``dc:format`` (the file's MIME type) is updated to ``dst_mime``; ACR settings are carried
    only where the source says they are already applied (see ``_XMP_CRS``).
    """
    applied = any(d.key() == "Xmp.crs.AlreadyApplied" and d.toString().strip().lower() == "true"
                  for d in xmp)  # type: ignore[attr-defined]
    out = exiv2.XmpData()  # type: ignore[attr-defined]
    for datum in xmp:  # type: ignore[attr-defined]
        key = datum.key()
        if key == "Xmp.dc.format":
            if dst_mime:
                out["Xmp.dc.format"] = dst_mime
            continue
        if key.startswith(_XMP_CRS) and not applied:
            continue
        out.add(datum)
    return out


def _mime_of(path: Path) -> str | None:
    """The MIME type of a written image (JPEG, TIFF, PNG), by its magic bytes, or None."""
    from l2tech.io.formats import sniff_format

    try:
        return _MIME.get(sniff_format(path))
    except L2Error:
        return None


def _thumbnail_jpeg(codes: np.ndarray, size: int = 160) -> bytes:
    """A small sRGB JPEG of the output (EXIF IFD1 thumbnail; CIPA DC-008 4.5.4)."""
    from PIL import Image

    h, w = codes.shape[:2]
    k = size / max(h, w)
    step = max(1, int(1 / k) // 4) if k < 1 else 1  # a first 1-in-step pick keeps >= 4 samples per output pixel
    small = np.ascontiguousarray(codes[::step, ::step])  # (no full-frame copy into Pillow)
    im = Image.fromarray(small if small.dtype == np.uint8 else (small >> 8).astype(np.uint8)).convert("RGB")
    if k < 1:  # area average (Pillow's box filter, as OpenCV's INTER_AREA; Pillow is loaded already)
        im = im.resize((max(1, round(w * k)), max(1, round(h * k))), Image.Resampling.BOX)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=75)
    return buf.getvalue()


def exiv2_open(exiv2: object, path: str | os.PathLike) -> object:
    """``exiv2.ImageFactory.open`` for any file name, including one that is not valid UTF-8.

    The exiv2 binding passes a file name as a UTF-8 ``std::string``; a name holding bytes that
    are not UTF-8 (``caf\xe9.jpg`` from a Latin-1 file system: Python keeps them as lone
    surrogates) cannot be passed, so that file is read into memory and opened from there
    (reading only; :func:`copy_exif` renames its own temp file for writing).

    Parameters
    ----------
    exiv2 : module
        The imported ``exiv2`` binding.
    path : path-like
        The file to read.

    Returns
    -------
    exiv2.Image
        Opened, metadata not yet read (call ``readMetadata()``).
    """
    name = os.fspath(path)
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return exiv2.ImageFactory.open(Path(name).read_bytes())  # type: ignore[attr-defined]
    return exiv2.ImageFactory.open(name)  # type: ignore[attr-defined]


@contextlib.contextmanager
def _utf8_named(path: Path) -> Iterator[Path]:
    """``path`` itself, or (when its name is not valid UTF-8) the same file renamed for the
    duration to a UTF-8 temp name in its folder, in the pattern of
    :func:`l2tech.io.atomic.atomic_output` (so no other process's clean-up removes it)."""
    try:
        os.fspath(path).encode("utf-8")
    except UnicodeEncodeError:
        import secrets

        safe = path.with_name(f".exiv2.l2tmp-{os.getpid()}-{secrets.token_hex(4)}{path.suffix.encode('ascii', 'replace').decode()}")
        os.rename(path, safe)
        try:
            yield safe
        finally:
            os.rename(safe, path)
        return
    yield path




def _exiv2_read_source(exiv2: object, src: Path) -> object:
    """``exiv2_open`` and ``readMetadata`` the source; a JPEG that exiv2 refuses whole for a
    corrupt ICC profile (APP2) or XMP packet ("Not a valid ICC Profile") is read again in
    memory without that segment (:func:`l2tech.io.metadata._retry_without_bad_segments`), so
    its EXIF is still carried. The metadata reader has already named the dropped segment
    (and the image reader the dropped ICC profile), so no further warning is given here.

    Raises
    ------
    Exception
        exiv2's error when the file cannot be read even so.
    """
    try:
        im = exiv2_open(exiv2, src)
        im.readMetadata()  # type: ignore[attr-defined]
        return im
    except Exception:
        from l2tech.io.formats import sniff_format

        try:
            jpeg = sniff_format(src) == "jpeg"
        except Exception:
            jpeg = False
        if not jpeg:
            raise
        from l2tech.io.metadata import _retry_without_bad_segments

        again = _retry_without_bad_segments(exiv2, src, "jpeg", [])
        if again is None:
            raise
        return again


#: Bytes per value of each TIFF field type (TIFF 6.0 section 2, "Types"; 13 = IFD, TIFF
#: Technical Note 1).
_TIFF_TYPE_BYTES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}


def _canon_maker_note_shift(mn: bytes, offset: int, order: str) -> tuple[int, bool]:
    """How far an editor moved a Canon maker note without rewriting its value offsets.

    A Canon maker note is a TIFF IFD without header whose value offsets count from the TIFF
    header (exiv2 reads them at those offsets); cameras end it with an 8-byte TIFF footer
    ("II*\\0" or "MM\\0*" and the maker note's original offset). When the maker note now lies
    elsewhere, its values lie at the stated offsets plus (now - original): exiftool's
    ``FixBase`` ("Adjusted MakerNotes base by ..."), including its check for editors that
    rewrote the offsets but not the footer (then the last value ends right at the footer).

    Parameters
    ----------
    mn : bytes
        The maker note (exiv2 ``Exif.Photo.MakerNote``).
    offset : int
        Where it lies, from the TIFF header (exiv2 ``Exif.MakerNote.Offset``).
    order : str
        "II" or "MM" (exiv2 ``Exif.MakerNote.ByteOrder``).

    Returns
    -------
    (int, bool)
        The shift to add to each stated value offset, and whether every value then lies inside
        the maker note (False: the offsets cannot be trusted; carry nothing of it).

    References
    ----------
    ExifTool ``lib/Image/ExifTool/MakerNotes.pm``, ``FixBase`` (Canon TIFF footer); TIFF 6.0
    section 2 (IFD entries: a value over 4 bytes is stored at the offset the entry gives).
    """
    e = "<" if order == "II" else ">"
    if len(mn) < 2:
        return 0, False
    n = struct.unpack_from(e + "H", mn, 0)[0]
    if 2 + 12 * n > len(mn):
        return 0, False
    values = []
    for i in range(n):
        _, typ, count, where = struct.unpack_from(e + "HHII", mn, 2 + 12 * i)
        size = _TIFF_TYPE_BYTES.get(typ, 1) * count
        if size > 4:
            values.append((where, size))
    if not values:
        return 0, True
    shift = 0
    footer = mn[-8:]
    if len(mn) > 8 and footer[:4] == (b"II*\0" if order == "II" else b"MM\0*"):
        shift = offset - struct.unpack_from(e + "I", footer, 4)[0]
        end_gap = offset + len(mn) - max(w + s for w, s in values) - 8
        if shift and end_gap in (0, 1):  # the offsets were rewritten, the footer was not
            shift = 0
    inside = all(offset <= w + shift and w + shift + s <= offset + len(mn) for w, s in values)
    return shift, inside


def _maker_note_checked(exiv2: object, im: object, src: Path) -> tuple[object, str | None]:
    """The source's metadata with a Canon maker note an editor moved read at its values' true
    places, or the reason to carry none of its maker note.

    exiv2 reads a Canon maker note's values at the offsets it states; after an editor moved the
    maker note without rewriting them (exiftool: "Adjusted MakerNotes base by -128"), exiv2
    reads other bytes and would write those as the maker note's values. When the maker note's
    footer tells how far it moved (:func:`_canon_maker_note_shift`), the stated offsets are
    corrected in a copy of the file in memory and the copy is read again, so the output carries
    the camera's values; otherwise nothing of the maker note is carried.

    Parameters
    ----------
    exiv2 : module
        The imported ``exiv2`` binding.
    im : exiv2.Image
        The source, metadata read.
    src : Path
        The source file.

    Returns
    -------
    (exiv2.Image, str or None)
        The image whose metadata to carry, and a reason when its maker note must be dropped.

    References
    ----------
    ExifTool ``lib/Image/ExifTool/MakerNotes.pm`` (``FixBase``); exiv2 ``src/makernote_int.cpp``
    (a Canon maker note is an IFD without header, offsets from the TIFF header).
    """
    exif = im.exifData()  # type: ignore[attr-defined]

    def get(key: str) -> object | None:
        it = exif.findKey(exiv2.ExifKey(key))  # type: ignore[attr-defined]
        return None if it == exif.end() else it

    mn, off, order = get("Exif.Photo.MakerNote"), get("Exif.MakerNote.Offset"), get("Exif.MakerNote.ByteOrder")
    make = get("Exif.Image.Make")
    if mn is None or off is None or order is None or make is None or not make.toString().startswith("Canon"):
        return im, None
    raw = bytes(mn.value().data())
    offset, bo = int(off.toInt64()), order.toString()
    shift, inside = _canon_maker_note_shift(raw, offset, bo)
    if inside and not shift:
        return im, None
    why = "its values do not lie inside it at the offsets it states"
    if inside:
        data = src.read_bytes()
        at = data.find(raw)
        if at >= 0 and data.find(raw, at + 1) < 0:
            e = "<" if bo == "II" else ">"
            fixed = bytearray(raw)
            n = struct.unpack_from(e + "H", raw, 0)[0]
            for i in range(n):
                _, typ, count, where = struct.unpack_from(e + "HHII", raw, 2 + 12 * i)
                if _TIFF_TYPE_BYTES.get(typ, 1) * count > 4:
                    struct.pack_into(e + "I", fixed, 2 + 12 * i + 8, where + shift)
            struct.pack_into(e + "I", fixed, len(fixed) - 4, offset)
            try:
                again = exiv2.ImageFactory.open(data[:at] + bytes(fixed) + data[at + len(raw):])  # type: ignore[attr-defined]
                again.readMetadata()
                ex = again.exifData()
                mn2, off2 = (ex.findKey(exiv2.ExifKey(k)) for k in ("Exif.Photo.MakerNote", "Exif.MakerNote.Offset"))  # type: ignore[attr-defined]
                if mn2 != ex.end() and off2 != ex.end() and int(off2.toInt64()) == offset and \
                        _canon_maker_note_shift(bytes(mn2.value().data()), offset, bo) == (0, True):
                    return again, None
            except Exception:
                pass
        why = f"it was moved by {shift:+d} bytes without its offsets and could not be read at the moved place"
    return im, f"{src}: maker note not copied ({why}; exiv2 would write other bytes as its values)"


_FOCAL_PLANE_INPUTS = ("Exif.Photo.PixelXDimension", "Exif.Photo.PixelYDimension", "Exif.Image.Orientation",
                       "Exif.Photo.FocalPlaneXResolution", "Exif.Photo.FocalPlaneYResolution")


def _focal_plane_for_size(out: object, stated: Mapping[str, float], size: tuple[int, int]) -> None:
    """Update FocalPlaneX/YResolution with the pixel dimensions they are relative to.

    The pair (PixelXDimension, FocalPlaneXResolution) states the focal-plane width the image
    spans (pixels / pixels-per-unit); readers derive the sensor size, crop factor and 35 mm
    equivalent focal length from it (ExifTool ``Composite:ScaleFactor35efl``). When the output's
    dimensions are written anew, the resolutions are scaled so the pair states the same width,
    and swapped when the pixels were turned upright by a 90-degree orientation (5-8).
    Before, a 500 px output of the 6D JPEG (stated 2048 px) read as a 4x longer lens.

    References
    ----------
    CIPA DC-008-2023 (Exif 3.0) 4.6.5, tags FocalPlaneXResolution (0xA20E) and
    PixelXDimension (0xA002).
    """
    fx, fy = stated.get("Exif.Photo.FocalPlaneXResolution"), stated.get("Exif.Photo.FocalPlaneYResolution")
    sx, sy = stated.get("Exif.Photo.PixelXDimension"), stated.get("Exif.Photo.PixelYDimension")
    if not (fx and fy and sx and sy):
        return
    w, h = size
    # turned upright by the camera's orientation, or by a tool that left the stated size as it
    # was (the same size turned by 90 degrees): the pair's axes swap
    turned = int(stated.get("Exif.Image.Orientation", 1)) in (5, 6, 7, 8) or ((sx, sy) == (h, w) and sx != sy)
    if turned:
        fx, fy, sx, sy = fy, fx, sy, sx
    if not turned and (w, h) == (sx, sy):
        return  # the source's values hold exactly
    values = []
    for res, stated_px, px in ((fx, sx, w), (fy, sy, h)):
        value = res * px / stated_px
        if not (math.isfinite(value) and 0 < value < 2**32 - 1):
            raise ValueError(f"a resolution of {value:g} does not fit an EXIF RATIONAL")
        frac = Fraction(value).limit_denominator(max(1, min(1_000_000, int((2**32 - 1) // max(value, 1.0)))))
        values.append(f"{frac.numerator}/{frac.denominator}")
    out["Exif.Photo.FocalPlaneXResolution"], out["Exif.Photo.FocalPlaneYResolution"] = values  # type: ignore[index]


def copy_exif(
    src: str | os.PathLike | None,
    dst: str | os.PathLike,
    overrides: Mapping[str, str] | None = None,
    defaults: Mapping[str, str] | None = None,
    *,
    xmp_overrides: Mapping[str, str] | None = None,
    size: tuple[int, int] | None = None,
    color_space_srgb: bool | None = None,
    thumbnail: bytes | None = None,
) -> list[str]:
    """Carry the source's metadata into ``dst``: EXIF with maker notes, XMP, IPTC, GPS and Photoshop resources.

    Everything that still holds for the output is kept; only what changed is updated: the
    pixel dimensions, the orientation (1: the pixels are written upright), the colour space,
    the thumbnail (made from the output, when the source had one) and whatever ``overrides``
    names (l2tech's ``Software``), XMP ``dc:format`` (the output's MIME type). Not carried:
    tags that describe the source's stored pixels or RAW data (strip/tile layout, compression,
    CFA, DNG colour calibration, sub-images and previews; see ``_carried``), Photoshop's
    thumbnails of the source, and Adobe Camera Raw settings not yet applied (``_XMP_CRS``).

    Parameters
    ----------
    src : path-like or None
        Source file (RAW, JPEG, TIFF); None writes only ``overrides`` and ``defaults``.
    dst : path-like
        Written image (modified in place; call it on the temp file of an atomic write).
    overrides : mapping of exiv2 key → value string, optional
        Always written, e.g. ``{"Exif.Photo.LensModel": "Canon EF 24-105mm f/4L IS USM"}``.
    defaults : mapping of exiv2 key → value string, optional
        Written only where the source has no value (e.g. a focal length read from maker notes).
    xmp_overrides : mapping of exiv2 XMP key → value string, optional
        Always written into the XMP (l2tech's record, ``Xmp.l2tech.*``).
    size : (width, height), optional
        The output's size in pixels: ``PixelXDimension``/``PixelYDimension``.
    color_space_srgb : bool, optional
        EXIF ``ColorSpace``: 1 (sRGB) when True, 0xFFFF (uncalibrated, the ICC profile says)
        when False; None keeps the source's.
    thumbnail : bytes, optional
        A JPEG thumbnail of the output, written (IFD1) when the source carried one.

    Returns
    -------
    list of str
        Warnings (metadata that could not be read or written); pixels are never lost for them.

    References
    ----------
    CIPA DC-008-2023 (Exif 3.0) 4.6.3 (ColorSpace, PixelX/YDimension), 4.6.4 (Orientation);
    Adobe DNG 1.7 specification, chapter 4 (tags 0xC612 onward); exiv2 ``src/tiffimage.cpp``
    (maker notes re-serialised on write).
    """
    import exiv2

    from l2tech.io.provenance import register_l2tech_namespace

    warn: list[str] = []
    exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.mute)
    register_l2tech_namespace(exiv2)
    out = exiv2.ExifData()
    xmp = iptc = None
    had_thumb = False
    stated: dict[str, float] = {}
    if src is not None:
        try:
            im = _exiv2_read_source(exiv2, Path(src))
            im, no_maker_note = _maker_note_checked(exiv2, im, Path(src))
            if no_maker_note:
                warn.append(no_maker_note)
            for datum in im.exifData():
                key = datum.key()
                if key.startswith("Exif.Thumbnail."):
                    had_thumb = True
                if key in _FOCAL_PLANE_INPUTS:
                    with contextlib.suppress(Exception):
                        stated[key] = datum.toFloat(0)
                if not _carried(key, datum.tag()):
                    continue
                if no_maker_note and (key == "Exif.Photo.MakerNote" or exiv2.ExifTags.isMakerGroup(datum.groupName())):
                    continue
                if key == "Exif.Image.ImageDescription" and datum.toString().startswith('{"shape"'):
                    continue  # tifffile's layout note of the input (a planar TIFF's [3, H, W]): not the output's
                try:
                    out.add(datum)
                except Exception as exc:  # one bad datum must not lose the rest
                    warn.append(f"{src}: EXIF {key} not copied ({exc})")
            if out.findKey(exiv2.ExifKey("Exif.Image.Make")) == out.end():
                for k in ("Make", "Model"):  # RW2 keeps them in its own IFD0 table
                    raw = im.exifData().findKey(exiv2.ExifKey(f"Exif.PanasonicRaw.{k}"))
                    if raw != im.exifData().end():
                        out[f"Exif.Image.{k}"] = raw.toString()
            dst_mime = _mime_of(Path(dst))
            xmp, iptc = _xmp_for_output(exiv2, im.xmpData(), dst_mime), im.iptcData()
            from l2tech.io.photoshop_irb import carry_jpeg_irb, output_irb

            resources = out.findKey(exiv2.ExifKey("Exif.Image.ImageResources"))
            if resources != out.end():  # a TIFF source's, thumbnail included: replaced below
                out.erase(resources)
            if dst_mime == "image/jpeg":
                carry_jpeg_irb(src, dst)  # Photoshop resources; exiv2 keeps them and rewrites the IPTC one
            elif dst_mime == "image/tiff":
                irb = output_irb(src)
                if irb:
                    out["Exif.Image.ImageResources"] = exiv2.DataValue(irb)
        except Exception as exc:
            from l2tech.io.metadata import _exiv2_reason

            warn.append(f"{src}: EXIF not copied (exiv2: {_exiv2_reason(exc)})")
    for k, v in (defaults or {}).items():
        if out.findKey(exiv2.ExifKey(k)) == out.end():
            out[k] = str(v)
    for k, v in (overrides or {}).items():
        out[k] = str(v)
    out["Exif.Image.Orientation"] = "1"
    if size is not None and (src is None or out.count()):
        out["Exif.Photo.PixelXDimension"] = exiv2.ULongValue(int(size[0]))
        out["Exif.Photo.PixelYDimension"] = exiv2.ULongValue(int(size[1]))
    if size is not None:
        try:
            _focal_plane_for_size(out, stated, size)
        except Exception as exc:  # metadata never costs the pixels
            warn.append(f"{dst}: FocalPlaneX/YResolution not updated ({exc})")
    if color_space_srgb is not None:
        out["Exif.Photo.ColorSpace"] = exiv2.UShortValue(1 if color_space_srgb else 0xFFFF)
    if thumbnail and had_thumb:
        try:
            exiv2.ExifThumb(out).setJpegThumbnail(thumbnail)
        except Exception as exc:
            warn.append(f"{dst}: thumbnail not written ({exc})")
    try:
        with _utf8_named(Path(dst)) as named:
            dimg = exiv2.ImageFactory.open(str(named))
            dimg.readMetadata()
            dimg.setExifData(out)
            if xmp is None:
                xmp = exiv2.XmpData()
            if xmp.findKey(exiv2.XmpKey("Xmp.tiff.Orientation")) != xmp.end():
                xmp["Xmp.tiff.Orientation"] = "1"
            for k, v in (xmp_overrides or {}).items():
                xmp[k] = str(v)
            if xmp.count():
                dimg.setXmpData(xmp)
            if iptc is not None and iptc.count():
                dimg.setIptcData(iptc)
            dimg.writeMetadata()
            del dimg  # closed before the file is renamed back
    except Exception as exc:
        warn.append(f"{dst}: metadata not written ({exc})")
    return warn


def write_image(
    path: str | os.PathLike,
    image: np.ndarray,
    *,
    format: str | None = None,
    quality: int = 95,
    bits: int | None = None,
    icc_profile: bytes | None = None,
    exif_source: str | os.PathLike | None = None,
    exif_overrides: Mapping[str, str] | None = None,
    exif_defaults: Mapping[str, str] | None = None,
    xmp_overrides: Mapping[str, str] | None = None,
    color_space_srgb: bool | None = None,
    greyscale: bool = False,
    overwrite: bool = False,
) -> list[str]:
    """Write a display-encoded image atomically, with ICC profile and EXIF.

    Parameters
    ----------
    path : path-like
        Output file; its folder must exist.
    image : ndarray, shape (H, W, 3), float32, uint8 or uint16
        Display-encoded RGB in [0, 1] (values outside are clipped at quantisation), or code
        values already quantised to the output's bit depth (uint8 for 8 bits, uint16 for 16).
    format : {'jpeg', 'tiff', 'png'}, optional
        Default from the extension.
    quality : int
        JPEG quality 1–100.
    bits : {8, 16, 32}, optional
        Default 8 for JPEG, 16 for TIFF and PNG (JPEG is always 8); 32 writes a float32 TIFF
        (values kept as they are, not clipped), as :func:`read_image` reads one (``bits`` 32).
    icc_profile : bytes, optional
        Embedded as the APP2 ICC marker (JPEG), tag 34675 (TIFF) or iCCP chunk (PNG).
    exif_source, exif_overrides, exif_defaults, xmp_overrides, color_space_srgb
        See :func:`copy_exif` (``src``, ``overrides``, ``defaults``, ``xmp_overrides``,
        ``color_space_srgb``). The EXIF pixel dimensions are the written image's, and a
        source's thumbnail is replaced by one of the written image.
    greyscale : bool
        Write one grey channel (the green channel of ``image``), for a greyscale input.
    overwrite : bool
        Replace an existing file.

    Returns
    -------
    list of str
        Metadata warnings.

    Raises
    ------
    UsageError
        Bad format, quality or shape.
    OutputExistsError, OutputError
        From :func:`l2tech.io.atomic.atomic_output`.
    """
    p = Path(path)
    fmt = (format or {".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff", ".png": "png"}.get(p.suffix.lower(), "")).lower()
    if fmt == "jpg":
        fmt = "jpeg"
    if fmt not in IMAGE_FORMATS:
        raise UsageError(f"unknown output format {format or p.suffix!r}; valid: jpeg, tiff, png", path=p)
    if image.ndim != 3 or image.shape[2] != 3:
        raise UsageError(f"image must have shape (H, W, 3), got {image.shape}")
    if not 1 <= quality <= 100:
        raise UsageError(f"JPEG quality must be 1-100, got {quality}")
    nbits = 8 if fmt == "jpeg" else (bits or 16)
    if nbits == 32:  # float TIFF: the values as they are (no clipping to [0, 1], no quantisation)
        if fmt != "tiff":
            raise UsageError(f"32-bit float output is TIFF only, not {fmt.upper()}", path=p)
        if image.dtype.kind in "ui":
            raise UsageError(f"{image.dtype} code values cannot be written as a 32-bit float TIFF")
        codes = np.ascontiguousarray(image, dtype=np.float32)
    elif image.dtype == (np.uint8 if nbits == 8 else np.uint16):
        codes = np.ascontiguousarray(image)
    elif image.dtype.kind in "ui":
        raise UsageError(f"{image.dtype} code values cannot be written as {nbits}-bit {fmt.upper()}")
    else:
        codes = quantize(image, nbits)
    thumb = (_thumbnail_jpeg(quantize(codes, 8) if nbits == 32 else codes) if exif_source is not None else None)
    res = _source_resolution(exif_source) if exif_source is not None else None
    if greyscale:
        codes = np.ascontiguousarray(codes[..., 1])
    with atomic_output(p, overwrite=overwrite) as tmp:
        if fmt == "jpeg":
            from PIL import Image

            mode = "L" if greyscale else "RGB"
            dpi = {"dpi": (res[0] * _PER_INCH[res[2]], res[1] * _PER_INCH[res[2]])} if res and res[2] in _PER_INCH else {}
            Image.fromarray(codes, mode).save(tmp, "JPEG", quality=quality, icc_profile=icc_profile,
                                              subsampling=0 if quality >= 90 else 2, optimize=False, **dpi)
        elif fmt == "tiff":
            import tifffile

            kw: dict[str, object] = {"iccprofile": icc_profile} if icc_profile else {}
            if res:
                kw.update(resolution=(res[0], res[1]), resolutionunit={1: "NONE", 2: "INCH", 3: "CENTIMETER"}[res[2]])
            tifffile.imwrite(tmp, codes, photometric="minisblack" if greyscale else "rgb", compression="zlib", **kw)
        else:
            import cv2

            ok, buf = cv2.imencode(".png", np.ascontiguousarray(codes if greyscale else codes[..., ::-1]), [cv2.IMWRITE_PNG_COMPRESSION, 3])
            if not ok:
                raise DecodeError("PNG encoder failed", path=p)
            tmp.write_bytes(_png_with_phys(_png_with_icc(buf.tobytes(), icc_profile), res))
        h, w = codes.shape[:2]
        warns = copy_exif(exif_source, tmp, exif_overrides, exif_defaults, xmp_overrides=xmp_overrides, size=(w, h),
                          color_space_srgb=color_space_srgb, thumbnail=thumb)
    return warns
