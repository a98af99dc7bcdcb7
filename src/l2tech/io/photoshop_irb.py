"""Photoshop image resource blocks (IRB) carried from a JPEG or TIFF input into a JPEG or TIFF output.

Photoshop and the tools that follow it (Lightroom exports, many DAMs) keep print settings,
resolution, slices and the IPTC digest in ``8BIM`` resources of the JPEG's APP13 segment
("Photoshop 3.0"). exiv2 rewrites the IPTC resource of an APP13 it finds in the file it writes
and keeps every other resource (exiv2 ``src/photoshop.cpp``, ``Photoshop::setIptcIrb``), but it
does not create the others: a fresh output would lose them. :func:`carry_jpeg_irb` puts the
input's resources, less those that describe the input's pixels (its thumbnails), into the
output before exiv2 writes the metadata.

Format (Adobe Photoshop File Formats Specification, "Image Resource Blocks"; JPEG APP13 layout
as read by ExifTool ``lib/Image/ExifTool/Photoshop.pm``): an APP13 payload is
``b"Photoshop 3.0\\0"`` followed by resources, each ``b"8BIM"``, a big-endian uint16 id, a
Pascal-string name padded to an even length, a big-endian uint32 size and the data padded to an
even length. A directory larger than one segment continues in the next APP13 segments.
"""

from __future__ import annotations

import struct
from pathlib import Path

from l2tech.io.formats import jpeg_segments

__all__ = ["read_jpeg_irb", "read_irb", "output_irb", "irb_resources", "build_irb", "carry_jpeg_irb",
           "THUMBNAIL_RESOURCE_IDS"]

_PS_HEADER = b"Photoshop 3.0\x00"
#: Thumbnails of the input's pixels (Photoshop 4.0 thumbnail 0x0409, Photoshop 5+ 0x040C):
#: they no longer show the output.
THUMBNAIL_RESOURCE_IDS = frozenset({0x0409, 0x040C})
_MAX_SEGMENT = 65533 - len(_PS_HEADER)  # APP13 length field counts itself (2 bytes)


def read_jpeg_irb(path: str | Path) -> bytes | None:
    """The Photoshop resource directory of a JPEG's APP13 segments, or None.

    The segments are walked in the file (a large APP1/APP2 before them, an extended XMP or a
    depth map, is skipped over, not read).

    Parameters
    ----------
    path : path-like
        A JPEG file; any other file gives None.

    Returns
    -------
    bytes or None
        The concatenated resources (without the ``Photoshop 3.0`` headers).
    """
    parts: list[bytes] = []
    try:
        with open(path, "rb") as fh:
            if fh.read(2) != b"\xff\xd8":
                return None
            while True:
                head = fh.read(4)
                if len(head) < 4 or head[0] != 0xFF:
                    break
                if head[1] == 0xFF:  # fill byte: the marker starts one byte later
                    fh.seek(-3, 1)
                    continue
                if head[1] in (0xD9, 0xDA):  # EOI, SOS: no more metadata segments
                    break
                length = struct.unpack(">H", head[2:4])[0]
                if length < 2:
                    break
                if head[1] == 0xED:
                    payload = fh.read(length - 2)
                    if payload.startswith(_PS_HEADER):
                        parts.append(payload[len(_PS_HEADER):])
                else:
                    fh.seek(length - 2, 1)
    except OSError:
        return None
    return b"".join(parts) or None


def read_irb(path: str | Path) -> bytes | None:
    """The Photoshop resource directory of a JPEG (APP13) or a TIFF (tag 34377), or None.

    Parameters
    ----------
    path : path-like
        A JPEG or TIFF file; any other file, or one tifffile cannot read, gives None.

    Returns
    -------
    bytes or None
        The resources, ``8BIM`` blocks one after another.
    """
    try:
        with open(path, "rb") as fh:
            magic = fh.read(4)
    except OSError:
        return None
    if magic[:2] == b"\xff\xd8":
        return read_jpeg_irb(path)
    if magic in (b"II*\x00", b"MM\x00*"):
        try:
            import tifffile

            with tifffile.TiffFile(path) as tif:
                tag = tif.pages[0].tags.get(34377)
                value = tag.value if tag is not None else None
        except Exception:  # noqa: BLE001 - a TIFF tifffile cannot read has no resources to carry
            return None
        return bytes(value) if isinstance(value, (bytes, bytearray)) and value else None
    return None


def output_irb(src: str | Path) -> bytes | None:
    """``src``'s resources as an output carries them: its thumbnails left out.

    Parameters
    ----------
    src : path-like
        The input (JPEG or TIFF).

    Returns
    -------
    bytes or None
        The resources less :data:`THUMBNAIL_RESOURCE_IDS`; None when none are left.
    """
    irb = read_irb(src)
    if not irb:
        return None
    kept = [r for r in irb_resources(irb) if r[0] not in THUMBNAIL_RESOURCE_IDS]
    return build_irb(kept) if kept else None


def irb_resources(irb: bytes) -> list[tuple[int, bytes, bytes]]:
    """Split a resource directory into its blocks.

    Parameters
    ----------
    irb : bytes
        ``8BIM`` blocks one after another.

    Returns
    -------
    list of (int, bytes, bytes)
        ``(resource id, name field (Pascal string with its padding), data)``; the walk stops at
        the first block that is malformed or runs past the data.
    """
    out, pos = [], 0
    while pos + 12 <= len(irb) and irb[pos:pos + 4] == b"8BIM":
        rid = struct.unpack(">H", irb[pos + 4:pos + 6])[0]
        nlen = irb[pos + 6]
        name_field = irb[pos + 6:pos + 6 + nlen + 1 + ((nlen + 1) & 1)]
        p = pos + 6 + len(name_field)
        if p + 4 > len(irb):
            break
        size = struct.unpack(">I", irb[p:p + 4])[0]
        if p + 4 + size > len(irb):
            break
        out.append((rid, name_field, irb[p + 4:p + 4 + size]))
        pos = p + 4 + size + (size & 1)
    return out


def build_irb(resources: list[tuple[int, bytes, bytes]]) -> bytes:
    """Serialise resources, the inverse of :func:`irb_resources` (``build_irb(irb_resources(x)) == x``).

    Parameters
    ----------
    resources : list of (int, bytes, bytes)
        ``(resource id, name field, data)``; odd-length data is padded with one zero byte.

    Returns
    -------
    bytes
    """
    out = bytearray()
    for rid, name_field, data in resources:
        out += b"8BIM" + struct.pack(">H", rid) + name_field + struct.pack(">I", len(data)) + data
        if len(data) & 1:
            out += b"\x00"
    return bytes(out)


def carry_jpeg_irb(src: str | Path, dst: str | Path) -> bool:
    """Put ``src``'s Photoshop resources, less its thumbnails, into the JPEG ``dst`` (in place).

    A TIFF output carries them in its tag 34377 instead (:func:`output_irb`, written by
    :func:`l2tech.io.image.copy_exif`); PNG has no place for them.

    Call it on the output's temp file before exiv2 writes the metadata: exiv2 then replaces the
    IPTC resource with the IPTC it writes and keeps the rest.

    Parameters
    ----------
    src, dst : path-like
        The input (a JPEG or TIFF; its resources from APP13 or tag 34377) and the written JPEG
        output.

    Returns
    -------
    bool
        True when resources were carried.
    """
    body = output_irb(src)
    if not body:
        return False
    data = Path(dst).read_bytes()
    if data[:2] != b"\xff\xd8":
        return False
    # after the leading APP0/APP1 segments (JFIF, EXIF), as Photoshop writes it
    at = 2
    for marker, _s, e in jpeg_segments(data):
        if marker in (0xE0, 0xE1):
            at = e
        else:
            break
    app13 = bytearray()
    for k in range(0, len(body), _MAX_SEGMENT):
        chunk = _PS_HEADER + body[k:k + _MAX_SEGMENT]
        app13 += b"\xff\xed" + struct.pack(">H", len(chunk) + 2) + chunk
    Path(dst).write_bytes(data[:at] + bytes(app13) + data[at:])
    return True
