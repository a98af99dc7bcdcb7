"""Input sniffing from magic bytes, and header limits checked before any decoder runs.

Every reader in l2tech calls :func:`check_input` first (RELIABILITY.md E1, E4 and cases 1, 3
and 4): a zero-byte file is refused before any library sees it, the format is decided from the
file's first bytes (never from its name alone), a name that promises another format is refused
as "unsupported or mismatched format", and image sizes that can be read cheaply from a header
(PNG ``IHDR``, JPEG ``SOFn``, TIFF/DNG/TIFF-based RAW IFDs) are checked against a pixel limit
before any decoder allocates.

References
----------
- TIFF 6.0 specification (Adobe, 1992), section 2 (header, IFD entries) and the DNG 1.7
  specification (``DNGVersion`` tag 50706 in IFD0, ``NewSubFileType``).
- PNG specification (W3C, 3rd ed.), 5.2 signature and 11.2.1 ``IHDR``.
- ITU-T T.81 (JPEG), B.1.1.3 marker segments, B.2.2 frame header (SOFn).
- ISO/IEC 14496-12 (ISO base media file format), 4.2 box structure and 4.3 ``ftyp``.
- Canon CR3 (``ftyp`` major brand ``crx``), CRW/CIFF (``HEAPCCDR`` at byte 6), Fujifilm RAF
  (``FUJIFILMCCD-RAW``), Minolta MRW (``\\x00MRM``), Sigma X3F (``FOVb``), Panasonic RW2
  (``IIU\\x00``), Olympus ORF (``IIRO``/``IIRS``/``MMOR``), Phase One IIQ (``IIII?waR`` at byte
  0 or 8; LibRaw ``parse_phase_one``, ExifTool ``PhaseOne.pm``): the signatures that LibRaw
  ``src/metadata/identify.cpp`` and exiv2 ``src/*image.cpp`` test.
"""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path
from typing import Iterable

from l2tech.errors import EmptyFileError, InputNotFoundError, L2Error, LimitExceededError, UnsupportedFormatError

__all__ = [
    "RAW_FORMATS",
    "IMAGE_FORMATS",
    "VIDEO_FORMATS",
    "KIND_GROUPS",
    "DEFAULT_MAX_PIXELS",
    "DEFAULT_MAX_SIDE",
    "sniff_format",
    "check_input",
    "check_dimensions",
    "read_header_dimensions",
    "read_input_bytes",
    "open_regular_file",
    "NotRegularFileError",
    "RAW_SUFFIXES",
    "jpeg_segments",
]

#: RAW container formats :func:`sniff_format` can name (DNG counts as RAW).
RAW_FORMATS = frozenset(
    {"dng", "cr2", "cr3", "crw", "nef", "arw", "rw2", "raf", "orf", "pef", "srw", "x3f", "mrw", "iiq", "mos"}
)
#: Developed still-image formats.
IMAGE_FORMATS = frozenset({"jpeg", "tiff", "png"})
#: Video containers.
VIDEO_FORMATS = frozenset({"mp4", "mov"})

#: Names accepted in ``kinds`` besides single formats.
KIND_GROUPS: dict[str, frozenset[str]] = {
    "raw": RAW_FORMATS,
    "image": IMAGE_FORMATS,
    "still": RAW_FORMATS | IMAGE_FORMATS,
    "video": VIDEO_FORMATS,
    "lut": frozenset({"cube", "3dl", "vlt", "clf"}),
    "xml": frozenset({"xml", "lcp", "clf"}),
    "text": frozenset({"cube", "3dl", "vlt", "clf", "xml", "lcp", "json", "yaml"}),
}

#: Default pixel-count limit (width x height) checked from headers: 400 MP. The largest
#: camera sensors in production are about 150 MP; a 100000 x 100000 header is refused.
DEFAULT_MAX_PIXELS = 400_000_000
#: Default limit on either side, in pixels.
DEFAULT_MAX_SIDE = 65_000

_TIFF_FAMILY = frozenset({"tiff", "dng", "cr2", "nef", "arw", "pef", "srw", "orf", "mos"})

# file name extension -> formats the magic bytes may show for it
_EXTENSIONS: dict[str, frozenset[str]] = {
    **{e: _TIFF_FAMILY for e in (
        ".tif", ".tiff", ".dng", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".pef", ".srw", ".cr2",
        ".gpr", ".3fr", ".erf", ".kdc", ".dcr", ".mos", ".iiq", ".mef", ".rwl", ".orf",
    )},
    ".orf": _TIFF_FAMILY | {"orf"},
    ".iiq": _TIFF_FAMILY | {"iiq"},
    ".mos": _TIFF_FAMILY | {"iiq"},
    ".rw2": frozenset({"rw2"}),
    ".rwl": _TIFF_FAMILY | {"rw2"},
    ".raw": frozenset({"rw2"}) | _TIFF_FAMILY,
    ".crw": frozenset({"crw"}),
    ".cr3": frozenset({"cr3"}),
    ".raf": frozenset({"raf"}),
    ".x3f": frozenset({"x3f"}),
    ".mrw": frozenset({"mrw"}),
    ".jpg": frozenset({"jpeg"}),
    ".jpeg": frozenset({"jpeg"}),
    ".jpe": frozenset({"jpeg"}),
    ".png": frozenset({"png"}),
    ".mp4": frozenset({"mp4", "mov"}),
    ".m4v": frozenset({"mp4", "mov"}),
    ".mov": frozenset({"mov", "mp4"}),
    **{ext: frozenset({fmt}) for ext, fmt in (
        (".cube", "cube"), (".3dl", "3dl"), (".vlt", "vlt"), (".clf", "clf"), (".xml", "xml"),
        (".lcp", "lcp"), (".json", "json"), (".yaml", "yaml"), (".yml", "yaml"),
    )},
}

# text formats: decided by the name once the content is known to be text (no magic bytes)
_TEXT_FORMATS: dict[str, str] = {
    ".cube": "cube", ".3dl": "3dl", ".vlt": "vlt", ".clf": "clf", ".xml": "xml", ".lcp": "lcp",
    ".json": "json", ".yaml": "yaml", ".yml": "yaml",
}
_XML_TEXT = frozenset({"clf", "xml", "lcp"})

#: File name extensions of RAW files (lower case, with the dot): every name whose content may
#: be a RAW format, except ``.tif``/``.tiff`` (a developed image unless its content says
#: otherwise). The one list the CLI, the batch, calibration and the preview tell RAWs by.
RAW_SUFFIXES = frozenset(
    ext for ext, fmts in _EXTENSIONS.items() if fmts & RAW_FORMATS and ext not in (".tif", ".tiff")
)

_TIFF_MAKES = (  # IFD0 Make prefix (lower case) -> RAW format of that maker's TIFF-based RAW
    ("nikon", "nef"),
    ("sony", "arw"),
    ("pentax", "pef"),
    ("ricoh", "pef"),
    ("samsung", "srw"),
    ("olympus", "orf"),
    ("om digital", "orf"),
)  # not "Phase One": a TIFF exported by Capture One keeps that Make; an IIQ is told by its raw block

_MP4_BRANDS = frozenset({
    b"isom", b"iso2", b"iso4", b"iso5", b"iso6", b"mp41", b"mp42", b"avc1", b"dash", b"M4V ",
    b"M4A ", b"mmp4", b"XAVC", b"hvc1", b"MSNV", b"NDAS",
})


def _head(path: Path, n: int) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def _stat_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        raise InputNotFoundError("file not found", path) from None
    except OSError as exc:
        raise UnsupportedFormatError(f"cannot read file ({exc.strerror or exc})", path) from None


def read_input_bytes(
    path: str | os.PathLike[str],
    *,
    max_bytes: int | None = None,
    what: str = "file",
    head: int | None = None,
    unreadable: type[L2Error] = UnsupportedFormatError,
) -> bytes:
    """An input file's bytes (or its first ``head`` bytes), after the checks every reader makes.

    Parameters
    ----------
    path : str or path-like
        The input file.
    max_bytes : int, optional
        Largest file accepted (checked on the file's size before reading).
    what : str
        What the file is, for the size-limit message (``"LCP file"``).
    head : int, optional
        Read only this many bytes from the start.
    unreadable : type of L2Error
        Raised, with the reason, for a missing file, a folder or a read error.

    Returns
    -------
    bytes
        Never empty.

    Raises
    ------
    EmptyFileError
        The file has zero bytes.
    LimitExceededError
        The file is larger than ``max_bytes``.
    L2Error
        ``unreadable``: the file is missing, a folder, or cannot be read.
    """
    p = os.fspath(path)
    try:
        with open_regular_file(p) as fh:
            size = os.fstat(fh.fileno()).st_size
            if max_bytes is not None and size > max_bytes:
                raise LimitExceededError(f"{what} is {size} bytes; the limit is {max_bytes}", p)
            data = fh.read() if head is None else fh.read(head)
    except FileNotFoundError:
        # InputNotFoundError is an UnsupportedFormatError: the type that names the problem
        raise (InputNotFoundError if issubclass(InputNotFoundError, unreadable) else unreadable)("file not found", p) from None
    except IsADirectoryError:
        raise unreadable("is a folder, not a file", p) from None
    except NotRegularFileError:
        raise unreadable("not a regular file (a pipe, device or socket)", p) from None
    except OSError as exc:
        raise unreadable(f"cannot read file ({exc.strerror or exc})", p) from None
    if not data:
        raise EmptyFileError("empty file", p)
    return data


class NotRegularFileError(OSError):
    """Raised by :func:`open_regular_file` for a pipe, device or socket (a folder raises
    :class:`IsADirectoryError`, as ``open()`` does)."""


def open_regular_file(path: str | os.PathLike[str]) -> io.BufferedReader:
    """Open a regular file for binary reading, refusing a FIFO, device or socket without blocking.

    A plain ``open()`` of a named pipe waits for a writer forever; the file is opened with
    ``O_NONBLOCK`` (which returns at once for a pipe) and checked with ``fstat`` on the open
    descriptor, so there is no window between the check and the read.

    Parameters
    ----------
    path : str or path-like
        The file to open for reading.

    Returns
    -------
    io.BufferedReader
        The open file (blocking reads; the caller closes it).

    Raises
    ------
    NotRegularFileError
        ``path`` is a pipe, device or socket (an :class:`OSError`).
    IsADirectoryError
        ``path`` is a folder.
    OSError
        From ``os.open``: missing, permission denied, I/O error.
    """
    import stat

    fd = os.open(os.fspath(path), os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(21, "Is a directory", os.fspath(path))
        if not stat.S_ISREG(mode):
            raise NotRegularFileError(f"not a regular file: {os.fspath(path)}")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


class _Tiff:
    """Minimal TIFF IFD walker over the first bytes of a file (no decoding of pixel data)."""

    def __init__(self, data: bytes):
        self.data = data
        self.le = data[:2] == b"II"
        self.e = "<" if self.le else ">"

    def u16(self, off: int) -> int:
        return struct.unpack_from(self.e + "H", self.data, off)[0]

    def u32(self, off: int) -> int:
        return struct.unpack_from(self.e + "I", self.data, off)[0]

    def entries(self, ifd_off: int) -> dict[int, tuple[int, int, int]]:
        """Tag -> (type, count, value-or-offset field position) of one IFD; {} if out of range."""
        out: dict[int, tuple[int, int, int]] = {}
        if ifd_off <= 0 or ifd_off + 2 > len(self.data):
            return out
        n = self.u16(ifd_off)
        for i in range(min(n, 1000)):
            p = ifd_off + 2 + 12 * i
            if p + 12 > len(self.data):
                break
            tag, typ, count = struct.unpack_from(self.e + "HHI", self.data, p)
            out[tag] = (typ, count, p + 8)
        return out

    def value(self, ent: tuple[int, int, int], index: int = 0) -> int | None:
        typ, count, pos = ent
        size = {1: 1, 3: 2, 4: 4, 7: 1, 13: 4, 16: 8}.get(typ)
        if size is None or index >= count:
            return None
        if size * count > 4:
            pos = self.u32(pos)
        pos += size * index
        if pos + size > len(self.data):
            return None
        if size == 1:
            return self.data[pos]
        if size == 2:
            return self.u16(pos)
        if size == 8:
            return struct.unpack_from(self.e + "Q", self.data, pos)[0]
        return self.u32(pos)

    def ascii(self, ent: tuple[int, int, int]) -> str:
        typ, count, pos = ent
        if typ != 2:
            return ""
        if count > 4:
            pos = self.u32(pos)
        raw = self.data[pos : pos + min(count, 256)]
        return raw.split(b"\0", 1)[0].decode("latin-1").strip()

    def next_ifd(self, ifd_off: int) -> int:
        n = self.u16(ifd_off)
        p = ifd_off + 2 + 12 * n
        return self.u32(p) if p + 4 <= len(self.data) else 0

    def ifds(self) -> list[int]:
        """Offsets of IFD0, its chain and its SubIFDs (tag 330), bounded."""
        seen: list[int] = []
        todo = [self.u32(4)] if len(self.data) >= 8 else []
        while todo and len(seen) < 32:
            off = todo.pop(0)
            if off in seen or off <= 0 or off + 2 > len(self.data):
                continue
            seen.append(off)
            ent = self.entries(off)
            if 330 in ent:
                for i in range(min(ent[330][1], 16)):
                    v = self.value(ent[330], i)
                    if v:
                        todo.append(v)
            nxt = self.next_ifd(off)
            if nxt:
                todo.append(nxt)
        return seen


def _phase_one_block(head: bytes, at: int) -> bool:
    """Phase One's raw directory header at ``at``: ``IIII?waR`` or ``MMMMRaw?`` (LibRaw
    ``parse_phase_one``; ExifTool ``MakerNotePhaseOne``)."""
    return (head[at : at + 4] == b"IIII" and head[at + 5 : at + 8] == b"waR") or (
        head[at : at + 4] == b"MMMM" and head[at + 4 : at + 7] == b"Raw"
    )


def _sniff_tiff(head: bytes) -> str:
    if head[8:10] == b"CR":
        return "cr2"
    if _phase_one_block(head, 8):  # IIQ: the Phase One block right after the TIFF header
        return "iiq"
    t = _Tiff(head)
    try:
        ifd0 = t.u32(4)
        ent = t.entries(ifd0)
    except struct.error:
        return "tiff"
    if 50706 in ent:  # DNGVersion
        return "dng"
    if 0x8606 in ent:  # Leaf's private PKTS records (LibRaw parse_mos; ExifTool Leaf.pm): a Leaf MOS
        return "mos"
    if 271 in ent:  # Make
        make = t.ascii(ent[271]).lower()
        for prefix, fmt in _TIFF_MAKES:
            if make.startswith(prefix):
                return fmt
    return "tiff"


def _looks_text(head: bytes) -> bool:
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if not head or b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        # a multi-byte sequence cut at the end of the buffer is still text
        try:
            head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


def sniff_format(path: str | os.PathLike[str]) -> str:
    """Name a file's format from its first bytes.

    Parameters
    ----------
    path : str or path-like
        The file.

    Returns
    -------
    str
        One of ``'dng', 'cr2', 'cr3', 'crw', 'nef', 'arw', 'rw2', 'raf', 'orf', 'pef', 'srw',
        'x3f', 'mrw', 'iiq', 'mos', 'jpeg', 'tiff', 'png', 'mp4', 'mov'``, or for text files ``'cube', '3dl',
        'vlt', 'clf', 'xml', 'lcp', 'json', 'yaml'``. TIFF-based RAW
        files are told apart by ``DNGVersion`` (DNG, also GoPro GPR), the ``CR`` marker (CR2),
        Leaf's private tag 0x8606 (MOS) or the IFD0 ``Make`` (NEF, ARW, PEF, SRW, ORF); Phase One IIQ by its raw block
        (``IIII?waR``/``MMMMRaw?``) at byte 0 or right after the TIFF header; other TIFFs are
        ``'tiff'``. Text formats
        have no magic bytes: they are named from the extension once the content is known to be
        text (XML ones must start with ``<``).

    Raises
    ------
    EmptyFileError
        The file has zero bytes (checked before reading anything).
    UnsupportedFormatError
        The file does not exist, cannot be read, or its first bytes match no known format.

    References
    ----------
    See the module docstring for the signature sources.
    """
    p = Path(path)
    size = _stat_size(p)
    if p.is_dir():
        raise UnsupportedFormatError("is a folder, not a file", p)
    if not p.is_file():  # a pipe has size 0: not "empty file", and never opened (it would wait)
        raise UnsupportedFormatError("not a regular file (a pipe, device or socket)", p)
    if size == 0:
        raise EmptyFileError("empty file (0 bytes)", p)
    try:
        head = _head(p, 65536)
    except OSError as exc:
        raise UnsupportedFormatError(f"cannot read file ({exc.strerror or exc})", p) from None
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"FOVb"):
        return "x3f"
    if head.startswith(b"\x00MRM"):
        return "mrw"
    if head.startswith(b"FUJIFILMCCD-RAW"):
        return "raf"
    if head[:2] == b"II" and head[6:14] == b"HEAPCCDR":
        return "crw"
    if head[:4] in (b"IIRO", b"IIRS", b"MMOR"):
        return "orf"
    if head[:4] == b"IIU\x00":
        return "rw2"
    if _phase_one_block(head, 0):  # Phase One raw without a TIFF header
        return "iiq"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return _sniff_tiff(head)
    if len(head) >= 12 and head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand == b"crx ":
            return "cr3"
        if brand == b"qt  ":
            return "mov"
        if brand in _MP4_BRANDS or brand.startswith((b"mp4", b"iso", b"3g")):
            return "mp4"
        raise UnsupportedFormatError(
            f"unsupported or mismatched format: ISO media file of brand {brand.decode('latin-1')!r}", p
        )
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"wide", b"free") and p.suffix.lower() in (".mov", ".mp4"):
        return "mov"
    ext = p.suffix.lower()
    if _looks_text(head[:4096]):
        text = head[:4096].lstrip(b"\xef\xbb\xbf").lstrip()
        fmt = _TEXT_FORMATS.get(ext)
        if fmt is not None and (fmt not in _XML_TEXT or text.startswith(b"<")):
            return fmt
    raise UnsupportedFormatError(
        "unsupported or mismatched format: the first bytes match no supported image, RAW, video "
        f"or LUT format (starts with {head[:8]!r})",
        p,
    )


def _expand_kinds(kinds: str | Iterable[str] | None) -> frozenset[str] | None:
    if kinds is None:
        return None
    if isinstance(kinds, str):
        kinds = [kinds]
    out: set[str] = set()
    for k in kinds:
        kl = k.lower()
        if kl in ("any", "*"):
            return None
        out |= KIND_GROUPS.get(kl, frozenset({kl}))
    return frozenset(out)


def check_dimensions(
    path: str | os.PathLike[str] | None,
    width: int,
    height: int,
    limit: int = DEFAULT_MAX_PIXELS,
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    what: str = "image",
) -> None:
    """Refuse image dimensions read from a header before anything is allocated.

    Parameters
    ----------
    path : str or path-like or None
        The file, named in the error.
    width, height : int
        Size claimed by the header, pixels.
    limit : int
        Largest allowed ``width * height``, pixels (default :data:`DEFAULT_MAX_PIXELS`).
    max_side : int
        Largest allowed width or height, pixels.
    what : str
        What the size is of (``"image"``, ``"frame"``), for the message.

    Raises
    ------
    LimitExceededError
        A side is zero or negative, a side exceeds ``max_side``, or the pixel count exceeds
        ``limit`` (RELIABILITY.md case 3, E4).
    """
    w, h = int(width), int(height)
    if w <= 0 or h <= 0:
        raise LimitExceededError(f"header claims an {what} of {w}x{h} pixels (a side is not positive)", path)
    if w > max_side or h > max_side:
        raise LimitExceededError(
            f"header claims an {what} of {w}x{h} pixels; the limit is {max_side} pixels a side "
            "(refused before decoding)",
            path,
        )
    if w * h > limit:
        raise LimitExceededError(
            f"header claims an {what} of {w}x{h} = {w * h / 1e6:.0f} MP; the limit is {limit / 1e6:.0f} MP "
            "(refused before decoding)",
            path,
        )


def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """The marker segments of a JPEG before its scan: ``(marker, start, end)``, ``data[start]``
    being the segment's 0xFF and ``data[start + 4:end]`` its payload.

    Fill bytes (0xFF 0xFF) are skipped; the walk stops at SOS or EOI, at a byte that starts no
    marker, or at a length that runs past the data (ITU-T T.81 B.1.1.2-B.1.1.4).

    Parameters
    ----------
    data : bytes
        The file's first bytes (or all of them); anything not starting with SOI gives ``[]``.

    Returns
    -------
    list of (int, int, int)
    """
    if data[:2] != b"\xff\xd8":
        return []
    out, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0xD9, 0xDA):
            break
        length = struct.unpack_from(">H", data, pos + 2)[0]
        if length < 2 or pos + 2 + length > len(data):
            break
        out.append((marker, pos, pos + 2 + length))
        pos += 2 + length
    return out


def _jpeg_dimensions(data: bytes) -> tuple[int, int] | None:
    pos = 2
    n = len(data)
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        seg_len = struct.unpack_from(">H", data, pos + 2)[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if pos + 9 > n:
                return None
            h, w = struct.unpack_from(">HH", data, pos + 5)
            return w, h
        if marker in (0xDA, 0xD9):
            return None
        pos += 2 + seg_len
    return None


def read_header_dimensions(path: str | os.PathLike[str], fmt: str | None = None) -> list[tuple[int, int]]:
    """Image sizes a header claims, read without decoding (PNG, JPEG, TIFF and TIFF-based RAW).

    Parameters
    ----------
    path : str or path-like
        The file.
    fmt : str, optional
        Its format as :func:`sniff_format` names it (sniffed when omitted).

    Returns
    -------
    list of (int, int)
        ``(width, height)`` of each image found (every IFD with ``ImageWidth``/``ImageLength``
        for TIFF-based files within the first 1 MiB; the ``IHDR`` for PNG; the first ``SOFn``
        within the first 1 MiB for JPEG). Empty for other formats, or when no size is found in
        that window (the decoders' own checks apply then).

    Raises
    ------
    EmptyFileError, UnsupportedFormatError
        As :func:`sniff_format`.
    """
    p = Path(path)
    fmt = fmt or sniff_format(p)
    if fmt == "png":
        head = _head(p, 33)
        if len(head) >= 24 and head[12:16] == b"IHDR":
            w, h = struct.unpack_from(">II", head, 16)
            return [(w, h)]
        return []
    if fmt == "jpeg":
        dims = _jpeg_dimensions(_head(p, 1 << 20))
        return [dims] if dims else []
    if fmt in _TIFF_FAMILY | {"iiq"} and fmt != "orf":
        head = _head(p, 1 << 20)
        if head[:4] not in (b"II*\x00", b"MM\x00*"):
            return []
        t = _Tiff(head)
        out: list[tuple[int, int]] = []
        try:
            for off in t.ifds():
                ent = t.entries(off)
                if 256 in ent and 257 in ent:
                    w, h = t.value(ent[256]), t.value(ent[257])
                    if w is not None and h is not None:
                        out.append((w, h))
        except struct.error:
            pass
        return out
    return []


def check_input(
    path: str | os.PathLike[str],
    kinds: str | Iterable[str] | None = None,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_side: int = DEFAULT_MAX_SIDE,
) -> str:
    """Check an input before any decoder sees it; return its format.

    Parameters
    ----------
    path : str or path-like
        The input file.
    kinds : str or iterable of str, optional
        Accepted formats: single names (``"nef"``, ``"jpeg"``) or groups (``"raw"``,
        ``"image"``, ``"still"``, ``"video"``, ``"lut"``, ``"xml"``, ``"text"``, ``"any"``). ``None``
        accepts every format :func:`sniff_format` knows.
    max_pixels, max_side : int
        Limits for the sizes read from the header (:func:`check_dimensions`).

    Returns
    -------
    str
        The sniffed format.

    Raises
    ------
    EmptyFileError
        Zero-byte file (RELIABILITY.md case 1).
    UnsupportedFormatError
        Unknown magic bytes, a format not in ``kinds``, or a name whose extension promises
        another format (a JPEG renamed ``.ARW``, a text file renamed ``.NEF``: case 4).
    LimitExceededError
        A header claims a size beyond the limits (case 3).
    """
    p = Path(path)
    fmt = sniff_format(p)
    ext = p.suffix.lower()
    allowed_by_name = _EXTENSIONS.get(ext)
    if allowed_by_name is not None and fmt not in allowed_by_name:
        raise UnsupportedFormatError(
            f"unsupported or mismatched format: the name says {ext!r} but the content is {fmt.upper()}",
            p,
        )
    wanted = _expand_kinds(kinds)
    if wanted is not None and fmt not in wanted:
        raise UnsupportedFormatError(
            f"unsupported or mismatched format: expected {', '.join(sorted(wanted))}, the content is {fmt.upper()}",
            p,
        )
    for w, h in read_header_dimensions(p, fmt):
        check_dimensions(p, w, h, max_pixels, max_side=max_side)
    return fmt
