"""Shot metadata (camera, lens, exposure, size) from RAW, JPEG and TIFF files.

:func:`read_metadata` reads EXIF, maker notes and XMP through exiv2 (python-exiv2) and returns
a frozen :class:`ShotMetadata`. Where exiv2 cannot read a container, small readers of our own
take over: Canon CR3 (the ``CMT1``/``CMT2``/``CMT3`` TIFF blocks inside the ``moov`` box are
handed back to exiv2) and Sigma X3F (the header and the ``PROP`` section).

Robustness (docs/RELIABILITY.md): the format is sniffed from magic bytes first (empty and
unknown files fail before exiv2 runs); every field is read on its own, so a maker-note
directory exiv2 cannot read makes that field unknown (listed in ``fields_unknown`` with a
warning), never the whole file; out-of-range values (orientation 9, a corrupt ICC profile, an
oversized XMP packet) are dropped with a warning (case 6).

References
----------
- CIPA DC-008-2023 (Exif 3.0): tags FocalLength, FNumber, SubjectDistance, LensModel,
  FocalLengthIn35mmFilm, FocalPlaneXResolution, Orientation.
- exiv2 ``src/canonmn_int.cpp`` (CanonCs.LensType table, CanonCs.Lens = long, short focal and
  focal units), ``src/nikonmn_int.cpp`` (NikonLd LensIDNumber table, FocusDistance
  ``0.01 * 10**(v/40)`` m), ``src/olympusmn_int.cpp`` (OlympusEq.LensType).
- exiftool ``lib/Image/ExifTool/Canon.pm`` (``Unknown (N) A-Bmm`` naming of unknown lenses),
  ``Sigma.pm``/``SigmaRaw.pm`` (X3F header and PROP section), ``Canon.pm`` CR3 (``CMT1..4``).
- ISO/IEC 14496-12 (box structure) for CR3.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import struct
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

from l2tech.errors import DependencyMissingError, MetadataError, UnsupportedFormatError
from l2tech.io.formats import RAW_FORMATS, jpeg_segments, sniff_format

__all__ = ["ShotMetadata", "read_metadata", "MAX_XMP_BYTES", "FULL_FRAME_DIAGONAL_MM"]

#: XMP packets larger than this are dropped with a warning (RELIABILITY.md case 6).
MAX_XMP_BYTES = 4 * 1024 * 1024
#: Diagonal of the 36 x 24 mm frame, the reference of crop factors (mm).
FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)

_SUPPORTED = RAW_FORMATS | {"jpeg", "tiff", "png"}


@dataclass(frozen=True)
class ShotMetadata:
    """What a photo's metadata says about the shot. ``None`` means unknown.

    Parameters
    ----------
    path : str
        The file read.
    make, model : str or None
        Camera maker and model as written in EXIF (trailing spaces removed), e.g.
        ``"NIKON CORPORATION"``, ``"NIKON D70"``.
    lens_make : str or None
        EXIF ``LensMake``.
    lens_model : str or None
        Best human-readable lens name: EXIF ``LensModel`` (or the maker's own lens-model tag,
        e.g. Olympus ``LensModel``, Canon ``LensModel``) when present, else the name decoded
        from maker-note lens ids (Canon ``LensType``, Nikon ``LensIDNumber``, Olympus
        ``LensType``) through exiv2's lens tables.
    lens_id : str or None
        The maker-note lens identification as text: the decoded name, or for lenses exiv2's
        tables do not know exiftool's form ``"Unknown (251) 16-35mm"`` / ``"Unknown 18-55mm"``,
        or a bare number.
    focal_length_mm : float or None
        Focal length, mm (0 in EXIF means unknown and gives ``None``).
    f_number : float or None
        Aperture f-number (0 means unknown).
    focus_distance_m : float or None
        Focus distance, metres (EXIF SubjectDistance, Nikon lens data, Canon focal-plane
        distance range midpoint, XMP ``aux:ApproximateFocusDistance``); ``inf`` for infinity.
    orientation : int or None
        EXIF orientation 1-8; other values are dropped with a warning.
    width, height : int or None
        Image size, pixels: the primary (``NewSubFileType = 0``) image of TIFF-based files,
        the coded size of JPEG/PNG, the RW2 maker-note size for Panasonic, else
        ``PixelXDimension``/``PixelYDimension``, else the container's size.
    crop_factor : float or None
        From ``FocalLengthIn35mmFilm / FocalLength`` when both are given, else (RAW files
        only) from ``FocalPlaneXResolution``; ``None`` otherwise (matching then uses the
        lensfun body record).
    datetime_original : str or None
        ISO 8601 ``YYYY-MM-DDTHH:MM:SS`` (no zone).
    exposure_time_s : float or None
        Exposure time, seconds.
    iso : int or None
        ISO speed.
    gps : tuple of float or None
        ``(latitude_deg, longitude_deg, altitude_m or nan)``, north and east positive.
    warnings : tuple of str
        One line per value that was dropped or could not be read, starting with the file
        (``FILE: message``) when returned by :func:`read_metadata`.
    fields_unknown : tuple of str
        Names of fields that could not be read because the data was unreadable (not merely
        absent).
    software : str or None
        EXIF ``Software`` (the camera firmware, or the program that wrote the file).
    converter : str or None
        The RAW converter or editor that wrote the image, when the file says so
        (:func:`l2tech.io.provenance.raw_converter`); None for a camera's own file.
    corrections_done : tuple of (str, str)
        Lens corrections the file says are already in its pixels, with the evidence
        (:func:`l2tech.io.provenance.corrections_done`).
    l2tech_record : tuple of (str, str)
        l2tech's own XMP record (property, value) when l2tech wrote the file; empty otherwise.
    recorded_size : tuple of (int, int) or None
        The camera's frame size as EXIF records it (``PixelXDimension``, ``PixelYDimension``)
        when it differs from ``width, height`` (a JPEG cropped or resized after capture by a
        tool that kept the EXIF); else, when the maker note records the camera's full image
        size larger than ``width, height`` at the same aspect (within 1 %), that size (a tool
        that rewrote ``PixelXDimension`` too; :func:`_maker_note_full_size`); None otherwise.
    recorded_size_source : str or None
        Where ``recorded_size`` was read, e.g. ``"EXIF PixelXDimension"`` or ``"Olympus maker
        note, ImageProcessing CropWidth/CropHeight"``; None without ``recorded_size``.
    crop_rect : tuple of 4 float or None
        ``(left, top, right, bottom)`` of the frame inside the captured one, 0..1, when a
        developed image (JPEG, PNG, TIFF; a RAW's crop is not applied by ``develop``) records a
        crop made after capture (XMP ``crs:HasCrop`` with ``crs:CropLeft/Top/Right/
        Bottom``, Adobe Camera Raw / Lightroom, unrotated: ``crs:CropAngle`` 0).
    """

    path: str
    make: str | None = None
    model: str | None = None
    lens_make: str | None = None
    lens_model: str | None = None
    lens_id: str | None = None
    focal_length_mm: float | None = None
    f_number: float | None = None
    focus_distance_m: float | None = None
    orientation: int | None = None
    width: int | None = None
    height: int | None = None
    crop_factor: float | None = None
    datetime_original: str | None = None
    exposure_time_s: float | None = None
    iso: int | None = None
    gps: tuple[float, float, float] | None = None
    warnings: tuple[str, ...] = ()
    fields_unknown: tuple[str, ...] = ()
    format: str | None = field(default=None, compare=False)
    software: str | None = field(default=None, compare=False)
    converter: str | None = field(default=None, compare=False)
    corrections_done: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    l2tech_record: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    recorded_size: tuple[int, int] | None = field(default=None, compare=False)
    recorded_size_source: str | None = field(default=None, compare=False)
    crop_rect: tuple[float, float, float, float] | None = field(default=None, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """Plain ``dict`` of every field (for JSON output)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


# --------------------------------------------------------------------------------------------
# exiv2 access


def _exiv2() -> Any:
    try:
        import exiv2
    except ImportError:  # pragma: no cover - exiv2 is a dependency
        raise DependencyMissingError("reading metadata needs python-exiv2: pip install 'exiv2>=0.16'") from None
    return exiv2


@contextlib.contextmanager
def _muted() -> Iterator[Any]:
    exiv2 = _exiv2()
    old = exiv2.LogMsg.level()
    exiv2.LogMsg.setLevel(exiv2.LogMsg.Level.mute)
    try:
        yield exiv2
    finally:
        exiv2.LogMsg.setLevel(old)


_RAT = re.compile(r"^\s*(-?\d+)\s*/\s*(-?\d+)\s*$")


def _num(text: str | None) -> float | None:
    """First number of an exiv2 value string (``"24005/421"``, ``"3.5"``) or None."""
    if text is None:
        return None
    first = text.split()[0] if text.split() else ""
    m = _RAT.match(first)
    if m:
        den = int(m.group(2))
        return None if den == 0 else int(m.group(1)) / den
    try:
        v = float(first)
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _nums(text: str | None) -> list[float | None]:
    return [_num(t) for t in (text or "").split()]


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    t = " ".join(text.replace("\0", " ").split())
    return t or None


class _Tags:
    """exiv2 ``ExifData``/``XmpData`` lookups that never raise; unreadable values are noted."""

    def __init__(self, exif: Any, xmp: Any | None, notes: list[str], unknown: set[str], path: str):
        self.exif = exif
        self.xmp = xmp
        self.notes = notes
        self.unknown = unknown
        self.path = path
        self._by_key: dict[str, Any] = {}
        if exif is not None:
            try:
                for d in exif:
                    self._by_key.setdefault(d.key(), d)
            except Exception as exc:  # exiv2 raised while walking a broken directory
                self.notes.append(f"EXIF data partly unreadable ({exc}); some fields unknown")

    def raw(self, key: str, fieldname: str = "") -> str | None:
        d = self._by_key.get(key)
        if d is None:
            return None
        try:
            return d.toString()
        except Exception as exc:
            self._fail(key, fieldname, exc)
            return None

    def printed(self, key: str, fieldname: str = "") -> str | None:
        d = self._by_key.get(key)
        if d is None:
            return None
        try:
            return d.print(self.exif)
        except Exception as exc:
            self._fail(key, fieldname, exc)
            return None

    def has(self, key: str) -> bool:
        return key in self._by_key

    def keys(self) -> list[str]:
        return list(self._by_key)

    def xmp_raw(self, key: str) -> str | None:
        if self.xmp is None:
            return None
        try:
            for d in self.xmp:
                if d.key() == key:
                    return d.toString()
        except Exception:
            return None
        return None

    def _fail(self, key: str, fieldname: str, exc: Exception) -> None:
        self.notes.append(f"{key} unreadable ({exc}); {fieldname or 'field'} unknown")
        if fieldname:
            self.unknown.add(fieldname)


def _first(tags: _Tags, keys: tuple[str, ...], fieldname: str) -> str | None:
    for k in keys:
        v = _clean(tags.raw(k, fieldname))
        if v:
            return v
    return None


_MAKER_NOTE_LENS_KEYS = (
    "Exif.CanonCs.LensType",
    "Exif.NikonLd4.LensIDNumber",
    "Exif.NikonLd3.LensIDNumber",
    "Exif.NikonLd2.LensIDNumber",
    "Exif.NikonLd1.LensIDNumber",
    "Exif.OlympusEq.LensType",
    "Exif.Pentax.LensType",
    "Exif.PentaxDng.LensType",
    "Exif.Sony2.LensID",
    "Exif.Sony1.LensID",
    "Exif.Minolta.LensID",
    "Exif.Samsung2.LensType",
)
_LENS_MODEL_KEYS = (
    "Exif.Photo.LensModel",
    "Exif.Canon.LensModel",
    "Exif.OlympusEq.LensModel",
    "Exif.Panasonic.LensType",
    "Exif.Fujifilm.LensModel",
    "Exif.Image.LensModel",
)
_UNKNOWN_NAME = re.compile(r"^(unknown|n/a|manual lens|none|\(?\d+\)?$|\(\d+\))", re.I)


def _focal_range_text(lo: float, hi: float) -> str:
    def f(x: float) -> str:
        return f"{x:.0f}" if abs(x - round(x)) < 0.05 else f"{x:.1f}"

    return f"{f(lo)}mm" if abs(hi - lo) < 0.05 else f"{f(lo)}-{f(hi)}mm"


def _canon_focal_range(tags: _Tags) -> tuple[float, float] | None:
    # CanonCs.Lens: long focal, short focal, focal units per mm (exiv2 canonmn_int.cpp)
    v = _nums(tags.raw("Exif.CanonCs.Lens", "lens_id"))
    if len(v) >= 3 and v[0] and v[1] and v[2] and v[2] > 0:
        hi, lo = v[0] / v[2], v[1] / v[2]
        if 0 < lo <= hi < 5000:
            return lo, hi
    return None


def _lens_from_maker_notes(tags: _Tags) -> tuple[str | None, str | None]:
    """(lens_id text, decoded human name or None) from maker-note lens ids."""
    for key in _MAKER_NOTE_LENS_KEYS:
        if not tags.has(key):
            continue
        raw = _clean(tags.raw(key, "lens_id"))
        printed = _clean(tags.printed(key, "lens_id"))
        if raw is None:
            continue
        number = raw.split()[0]
        if key == "Exif.CanonCs.LensType":
            rng = _canon_focal_range(tags)
            if printed and not _UNKNOWN_NAME.match(printed):
                return printed, printed
            suffix = f" {_focal_range_text(*rng)}" if rng else ""
            if number in ("65535", "0") or not number.isdigit():
                return (f"Unknown{suffix}" if suffix else None), None
            return f"Unknown ({number}){suffix}", None
        if key.startswith("Exif.Sony") and number == "65535":
            continue  # "E-mount lens or none": the name is in LensModel / LensType2
        if printed and not _UNKNOWN_NAME.match(printed) and not printed.startswith("("):
            return printed, printed
        if key == "Exif.OlympusEq.LensType" and all(x == "0" for x in raw.split()):
            continue
        return raw, None
    return None, None


def _rational_triplet_deg(text: str | None) -> float | None:
    vals = _nums(text)
    if not vals or any(v is None for v in vals):
        return None
    deg = vals[0] + (vals[1] / 60 if len(vals) > 1 else 0.0) + (vals[2] / 3600 if len(vals) > 2 else 0.0)  # type: ignore[operator]
    return deg


def _gps(tags: _Tags) -> tuple[float, float, float] | None:
    lat = _rational_triplet_deg(tags.raw("Exif.GPSInfo.GPSLatitude", "gps"))
    lon = _rational_triplet_deg(tags.raw("Exif.GPSInfo.GPSLongitude", "gps"))
    if lat is None or lon is None:
        return None
    if (tags.raw("Exif.GPSInfo.GPSLatitudeRef") or "N").strip().upper().startswith("S"):
        lat = -lat
    if (tags.raw("Exif.GPSInfo.GPSLongitudeRef") or "E").strip().upper().startswith("W"):
        lon = -lon
    alt = _num(tags.raw("Exif.GPSInfo.GPSAltitude"))
    if alt is not None and (tags.raw("Exif.GPSInfo.GPSAltitudeRef") or "0").strip() == "1":
        alt = -alt
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return (lat, lon, float("nan") if alt is None else alt)


def _primary_size(tags: _Tags, prefixes: list[str]) -> tuple[int, int] | None:
    for grp in prefixes:
        sub = _num(tags.raw(f"Exif.{grp}.NewSubfileType"))
        if sub is not None and int(sub) == 0:
            w = _num(tags.raw(f"Exif.{grp}.ImageWidth"))
            h = _num(tags.raw(f"Exif.{grp}.ImageLength"))
            if w and h:
                return int(w), int(h)
    return None


def _focus_distance(tags: _Tags) -> float | None:
    sd = tags.raw("Exif.Photo.SubjectDistance", "focus_distance_m")
    v = _num(sd)
    if sd and sd.strip().startswith("4294967295/"):
        return math.inf
    if v is not None and v > 0:
        return v
    for grp in ("NikonLd4", "NikonLd3", "NikonLd2"):
        raw = _num(tags.raw(f"Exif.{grp}.FocusDistance", "focus_distance_m"))
        if raw is not None and raw > 0:
            return 0.01 * 10 ** (raw / 40.0)  # exiv2 nikonmn_int.cpp printFocusDistance
    up = _num(tags.raw("Exif.CanonFi.FocusDistanceUpper", "focus_distance_m"))
    lo = _num(tags.raw("Exif.CanonFi.FocusDistanceLower", "focus_distance_m"))
    if up and up > 0:
        # exiv2 canonmn_int.cpp: value / 100 m; 0xffff = infinity
        if up >= 65535:
            return math.inf
        return (up + (lo if lo and lo > 0 else up)) / 200.0
    xmp = _num(tags.xmp_raw("Xmp.aux.ApproximateFocusDistance"))
    if xmp is not None and xmp > 0:
        return math.inf if xmp >= 4294967295 else xmp
    return None


def _crop_rect(tags: _Tags) -> tuple[float, float, float, float] | None:
    """Adobe's record of a crop made after capture (``crs:HasCrop``, ``crs:Crop*``), or None.

    References
    ----------
    Adobe Camera Raw XMP schema ``http://ns.adobe.com/camera-raw-settings/1.0/``: ``CropLeft``,
    ``CropTop``, ``CropRight``, ``CropBottom`` (0..1 of the captured frame), ``CropAngle``
    (degrees), ``HasCrop``.
    """
    if (tags.xmp_raw("Xmp.crs.HasCrop") or "").strip().lower() != "true":
        return None
    vals = [_num(tags.xmp_raw(f"Xmp.crs.Crop{k}")) for k in ("Left", "Top", "Right", "Bottom")]
    if any(v is None for v in vals):
        return None
    left, top, right, bottom = (float(v) for v in vals)  # type: ignore[arg-type]
    angle = _num(tags.xmp_raw("Xmp.crs.CropAngle")) or 0.0
    if not (0 <= left < right <= 1 and 0 <= top < bottom <= 1) or abs(angle) > 1e-6:
        return None
    return (left, top, right, bottom)


#: Maker-note tags that record the camera's full image size: (exiv2 key of the width or of
#: both values, exiv2 key of the height or None, the order of a two-value tag, the source named).
_MAKER_NOTE_FULL_SIZE = (
    ("Exif.OlympusIp.CropWidth", "Exif.OlympusIp.CropHeight", "wh",
     "Olympus maker note, ImageProcessing CropWidth/CropHeight"),
    ("Exif.Sony2.FullImageSize", None, "hw", "Sony maker note, FullImageSize"),
    # Canon AFInfo2 (0x0026) and AFInfo3 (0x003c, exiv2's names AFInfo / AFInfo3): int16u
    # AFInfoSize, AFAreaMode, NumAFPoints, ValidAFPoints, CanonImageWidth, CanonImageHeight, ...
    ("Exif.Canon.AFInfo", None, (4, 5), "Canon maker note, AFInfo2 CanonImageWidth/CanonImageHeight"),
    ("Exif.Canon.AFInfo3", None, (4, 5), "Canon maker note, AFInfo3 CanonImageWidth/CanonImageHeight"),
    # Canon AFInfo (0x0012) of older bodies, which exiv2 decodes as PictureInfo (CanonPi):
    # ImageWidth/ImageHeight (the EOS 350D CR2: 3456 x 2304, exiftool CanonImageWidth 3456)
    ("Exif.CanonPi.ImageWidth", "Exif.CanonPi.ImageHeight", "wh", "Canon maker note, AFInfo ImageWidth/ImageHeight"),
)


def _maker_note_full_size(tags: _Tags) -> tuple[tuple[int, int], str] | None:
    """The camera's full image size as its maker note records it, with the tag named, or None.

    Olympus ``ImageProcessing`` ``CropWidth``/``CropHeight`` (tags 0x0615/0x0616, the image
    area cut from the sensor data: 4032 x 3024 in an E-P3 JPEG) and Sony ``FullImageSize``
    (tag 0xb02b, two longs, height first: ``4000 6000`` in a ZV-E10 ARW, which exiftool prints
    ``6000x4000``). Editors that crop or resize a JPEG and rewrite ``PixelXDimension`` leave the
    maker note as the camera wrote it, so this size is the captured frame's. Canon's AF
    information records the size of the JPEG the camera wrote (``CanonImageWidth`` /
    ``CanonImageHeight``: 2048 x 1536 in the SX60 HS JPEG, shot at that size), so a Canon body's
    smaller JPEG sizes are covered; for Olympus and Sony a body's own smaller sizes are not
    covered by the files verified here, so such a file may be reported as resized.

    References
    ----------
    exiftool ``lib/Image/ExifTool/Olympus.pm`` (``ImageProcessing`` 0x0615 ``CropWidth``, 0x0616
    ``CropHeight``), ``Sony.pm`` (0xb02b ``FullImageSize``, ValueConv ``$2x$1``) and ``Canon.pm``
    (``AFInfo`` 0x0012, ``AFInfo2`` 0x0026, ``AFInfo3`` 0x003c); exiv2 ``src/olympusmn_int.cpp``
    (``OlympusIp``), ``src/sonymn_int.cpp`` (``Sony2``), ``src/canonmn_int.cpp``.
    """
    for wkey, hkey, order, source in _MAKER_NOTE_FULL_SIZE:
        if isinstance(order, tuple):  # two entries of an int16u array
            vals = _nums(tags.raw(wkey))
            if len(vals) <= max(order):
                continue
            w, h = vals[order[0]], vals[order[1]]
        elif hkey is None:
            vals = _nums(tags.raw(wkey))
            if len(vals) != 2:
                continue
            a, b = vals
            w, h = (a, b) if order == "wh" else (b, a)
        else:
            w, h = _num(tags.raw(wkey)), _num(tags.raw(hkey))
        if w and h and w > 0 and h > 0:
            return (int(w), int(h)), source
    return None


def _crop_from_focal_plane(tags: _Tags, width: int | None, height: int | None) -> float | None:
    res = _num(tags.raw("Exif.Photo.FocalPlaneXResolution"))
    unit = _num(tags.raw("Exif.Photo.FocalPlaneResolutionUnit"))
    px = _num(tags.raw("Exif.Photo.PixelXDimension")) or (width or None)
    py = _num(tags.raw("Exif.Photo.PixelYDimension")) or (height or None)
    mm_per_unit = {2: 25.4, 3: 10.0, 4: 1.0}.get(int(unit) if unit else 2)
    if not res or not px or not py or mm_per_unit is None or res <= 0:
        return None
    sensor_w = px / res * mm_per_unit
    sensor_h = sensor_w * py / px
    diag = math.hypot(sensor_w, sensor_h)
    crop = FULL_FRAME_DIAGONAL_MM / diag if diag > 0 else None
    return crop if crop is not None and 0.3 <= crop <= 15 else None


#: Canon AspectInfo (maker note tag 0x009a) AspectRatio values of a sensor crop mode, and the
#: crop factor Canon names each mode by: 12 '3:2 (APS-H crop)', 13 '3:2 (APS-C crop)' (exiftool
#: ``Canon.pm`` AspectInfo); "1.3x (crop)" and "1.6x (crop)" in the menus of the EOS 5DS / 5DS R
#: and "1.6x (crop)" in those of the EOS R-series full-frame bodies, the bodies that record them.
CANON_CROP_MODES = {12: 1.3, 13: 1.6}


def _canon_crop_mode(tags: _Tags, fmt: str, width: int | None) -> float | None:
    """The 35 mm crop factor of a Canon frame shot in a sensor crop mode (APS-H or APS-C), or None.

    Parameters
    ----------
    tags : _Tags
        The file's EXIF, with the Canon maker note (``Exif.Canon.AspectInfo``, tag 0x009a, and
        ``Exif.Canon.SensorInfo``, tag 0x00e0).
    fmt : str
        The file's format (a RAW may hold the whole sensor with the crop only recorded).
    width : int or None
        The frame's width in pixels (a body in a crop mode writes frames of the cropped size or
        smaller; a wider one, e.g. a converter's export of a whole-sensor RAW, is not the crop).

    Returns
    -------
    float or None
        None unless AspectRatio is 12 (APS-H crop) or 13 (APS-C crop). The bodies with these
        modes are full frame, so the frame's crop factor is the sensor's active width over the
        cropped width (the crop keeps 3:2, so this is the ratio of the diagonals), where both
        are recorded and the ratio is within 10 % of the mode's nominal factor (1.3, 1.6);
        otherwise the nominal factor. None for a frame more than 2 % wider than the cropped
        width, and for a RAW whose sensor area is more than 10 % wider than it (the whole sensor
        recorded, the crop only noted: it is developed uncropped).

    References
    ----------
    exiftool ``lib/Image/ExifTool/Canon.pm``: AspectInfo (int32u from entry 0: AspectRatio,
    CroppedImageWidth, CroppedImageHeight, CroppedImageLeft, CroppedImageTop; AspectRatio 12
    '3:2 (APS-H crop)', 13 '3:2 (APS-C crop)') and SensorInfo (int16s from entry 1:
    SensorWidth, SensorHeight, -, -, SensorLeftBorder, SensorTopBorder, SensorRightBorder,
    SensorBottomBorder); exiv2 ``src/canonmn_int.cpp`` (tags 0x009a AspectInfo and 0x00e0
    SensorInfo of the Canon group, kept as arrays).
    """
    info = _nums(tags.raw("Exif.Canon.AspectInfo", "crop_factor"))
    if len(info) < 2 or info[0] is None or int(info[0]) not in CANON_CROP_MODES:
        return None
    nominal = CANON_CROP_MODES[int(info[0])]
    cropped = info[1] if info[1] and info[1] > 0 else None
    if cropped and width and width > cropped * 1.02:
        return None  # the frame holds more than the crop
    sensor = _nums(tags.raw("Exif.Canon.SensorInfo"))
    active = None
    if len(sensor) >= 8 and sensor[5] is not None and sensor[7] is not None and sensor[7] > sensor[5]:
        active = sensor[7] - sensor[5] + 1  # the borders are inclusive pixel indices
    if not (cropped and active):
        return nominal
    ratio = active / cropped
    if fmt in RAW_FORMATS and ratio > 1.1:
        return None  # the RAW holds the whole sensor; develop does not apply the crop
    return ratio if abs(ratio / nominal - 1) <= 0.1 else nominal


def _check_orientation(value: float | None, notes: list[str]) -> int | None:
    if value is None:
        return None
    o = int(value)
    if 1 <= o <= 8 and o == value:
        return o
    notes.append(f"orientation {value:g} is not a valid EXIF orientation (1-8); ignored")
    return None


def _check_icc(img: Any, notes: list[str]) -> None:
    try:
        if not img.iccProfileDefined():
            return
        icc = bytes(img.iccProfile().data())
    except Exception as exc:
        notes.append(f"ICC profile unreadable ({exc}); ignored")
        return
    ok = len(icc) >= 128 and icc[36:40] == b"acsp" and struct.unpack_from(">I", icc, 0)[0] == len(icc)
    if not ok:
        notes.append(f"ICC profile is corrupt ({len(icc)} bytes, bad header); ignored")


def _canon_shot_info_iso(tags: Any) -> float | None:
    """ISO from Canon's ShotInfo ``ISOSpeed`` (a CRW or an early CR2 with no EXIF ISO; EOS D30):
    ``100 · 2**(v / 32) / 32``, rounded to the nearest whole ISO (exiftool ``Canon.pm``, ShotInfo
    ``BaseISO``: ``exp($val/32*log(2))*100/32``; raw 160 → ISO 100). ``None`` when absent or 0."""
    v = _num(tags.raw("Exif.CanonSi.ISOSpeed"))
    if not v or v <= 0 or v > 32 * 20:  # beyond ISO 3e6: not a ShotInfo value
        return None
    return float(round(100.0 * 2.0 ** (v / 32.0) / 32.0))


def _canon_ev(code: float) -> float:
    """A Canon EV code (a signed int16 in 1/32 EV) as EV: Canon writes the thirds of a stop as
    fractions 0x0c and 0x14 of 0x20, which stand for 1/3 and 2/3 (exiftool ``Canon.pm``,
    ``CanonEv``)."""
    v = int(code)
    if v >= 0x8000:  # stored as an unsigned short
        v -= 0x10000
    sign, v = (-1.0, -v) if v < 0 else (1.0, v)
    frac = v & 0x1F
    whole = v - frac
    frac_ev = {0x0C: 0x20 / 3.0, 0x14: 0x40 / 3.0}.get(frac, float(frac))
    return sign * (whole + frac_ev) / 32.0


def _canon_shot_info_exposure(tags: Any) -> float | None:
    """Exposure time from Canon's ShotInfo ``ShutterSpeedValue`` (APEX Tv as a Canon EV code):
    ``2 ** -Tv`` seconds. exiv2 reads the code as unsigned and makes a CRW's EXIF ExposureTime
    "1 s" from it (the EOS D30's 65460 is -76, Tv -2.33: 5.04 s, exiftool's ExposureTime)."""
    v = _num(tags.raw("Exif.CanonSi.ShutterSpeedValue"))
    if v is None or v == 0:
        return None
    tv = _canon_ev(v)
    return float(2.0 ** -tv) if abs(tv) <= 30 else None  # beyond 2**30 s or 1/2**30 s: not a shutter speed


def _iso_datetime(text: str | None) -> str | None:
    if not text:
        return None
    m = re.match(r"^(\d{4}):(\d\d):(\d\d)[ T](\d\d):(\d\d):(\d\d)", text.strip())
    if not m or m.group(1) == "0000":
        return None
    return "{}-{}-{}T{}:{}:{}".format(*m.groups())


def _build(
    path: Path,
    fmt: str,
    tags: _Tags,
    notes: list[str],
    unknown: set[str],
    container_size: tuple[int, int] | None,
) -> ShotMetadata:
    make = _first(tags, ("Exif.Image.Make", "Exif.PanasonicRaw.Make"), "make")
    model = _first(tags, ("Exif.Image.Model", "Exif.PanasonicRaw.Model"), "model")
    if make is None and model is None:
        unknown.update(("make", "model"))
    lens_make = _first(tags, ("Exif.Photo.LensMake",), "lens_make")
    lens_tag = _first(tags, _LENS_MODEL_KEYS, "lens_model")
    lens_id, lens_name = _lens_from_maker_notes(tags)
    lens_model = lens_tag or lens_name
    if lens_model is None and lens_id is None:
        # DNG LensInfo / Exif LensSpecification: min, max focal (mm), then apertures
        spec = _nums(_first(tags, ("Exif.Image.LensInfo", "Exif.Photo.LensSpecification"), "lens_id"))
        if len(spec) >= 2 and spec[0] and spec[1] and 0 < spec[0] <= spec[1]:
            lens_id = f"Unknown {_focal_range_text(spec[0], spec[1])}"

    focal = _num(_first(tags, ("Exif.Photo.FocalLength", "Exif.Image.FocalLength"), "focal_length_mm"))
    if focal is None:
        # CRW and some maker-note-only files: Canon FocalLength = (type, focal, ...) in focal
        # units per mm (CanonCs.Lens[2]); exiv2 canonmn_int.cpp
        cf = _nums(tags.raw("Exif.Canon.FocalLength", "focal_length_mm"))
        units = (_nums(tags.raw("Exif.CanonCs.Lens")) + [None, None, None])[2] or 1.0
        if len(cf) >= 2 and cf[1]:
            focal = cf[1] / units
    if focal is not None and focal <= 0:
        focal = None
    fnum = _num(_first(tags, ("Exif.Photo.FNumber", "Exif.Image.FNumber"), "f_number"))
    if fnum is None:
        av = _num(_first(tags, ("Exif.Photo.ApertureValue",), "f_number"))
        fnum = 2 ** (av / 2) if av is not None and av > 0 else None  # APEX (Exif 3.0 Annex C)
    if fnum is not None and fnum <= 0:
        fnum = None

    orient = _check_orientation(
        _num(_first(tags, ("Exif.Image.Orientation", "Exif.PanasonicRaw.Orientation"), "orientation")), notes
    )

    size = None
    if fmt in ("jpeg", "png") and container_size and all(container_size):
        size = container_size  # the coded size; Exif PixelX/YDimension survive crops and resizes
    if size is None and fmt in ("dng", "nef", "arw", "pef", "srw", "tiff", "orf"):
        size = _primary_size(tags, ["Image"] + [f"SubImage{i}" for i in range(1, 10)])
    if size is None and fmt == "rw2":
        w, h = _num(tags.raw("Exif.Panasonic.ImageWidth")), _num(tags.raw("Exif.Panasonic.ImageHeight"))
        if w and h:
            size = (int(w), int(h))
    if size is None:
        w, h = _num(tags.raw("Exif.Photo.PixelXDimension")), _num(tags.raw("Exif.Photo.PixelYDimension"))
        if w and h:
            size = (int(w), int(h))
    if size is None and container_size and all(container_size):
        size = container_size
    width, height = size if size else (None, None)

    crop = None
    f35 = _num(_first(tags, ("Exif.Photo.FocalLengthIn35mmFilm",), "crop_factor"))
    if f35 and focal:
        crop = f35 / focal
    if crop is None:
        # a Canon body's crop mode, recorded in its maker note (no FocalLengthIn35mmFilm then)
        crop = _canon_crop_mode(tags, fmt, width)
    if crop is None and fmt in RAW_FORMATS and fmt != "dng":
        # resized/cropped DNGs and JPEGs keep the camera's focal-plane resolution but not its
        # pixel count, so only native RAW files are trusted here
        crop = _crop_from_focal_plane(tags, width, height)

    from l2tech.io.provenance import corrections_done, l2tech_record, raw_converter, xmp_items

    software = _first(tags, ("Exif.Image.Software",), "software")
    xmp_keys = [k for k, _ in xmp_items(tags)]

    record = l2tech_record(tags)
    recorded, recorded_source = None, None
    rw, rh = _num(tags.raw("Exif.Photo.PixelXDimension")), _num(tags.raw("Exif.Photo.PixelYDimension"))
    # the same size turned by 90 degrees is a picture rotated upright by a tool that left the
    # EXIF size as it was (lossless rotators do), not a crop
    if (fmt in ("jpeg", "png", "tiff") and rw and rh and width and height
            and (int(rw), int(rh)) not in ((width, height), (height, width))):
        recorded, recorded_source = (int(rw), int(rh)), "EXIF PixelXDimension"
    full = _maker_note_full_size(tags) if recorded is None and fmt in ("jpeg", "png", "tiff") and width and height else None
    if full is not None:
        (fw, fh), source = full
        # larger at the same aspect: a crop or resize made after capture (a different aspect
        # may be the body's own aspect mode, so it is not reported)
        # (the same size turned by 90 degrees is a picture turned upright, as above)
        if (fw, fh) != (height, width) and (fw > width or fh > height) and abs(fw * height - fh * width) <= 0.01 * fh * width:
            recorded, recorded_source = (fw, fh), source

    exp = _num(_first(tags, ("Exif.Photo.ExposureTime",), "exposure_time_s"))
    if fmt == "crw":  # exiv2 derives a CRW's EXIF ExposureTime from the ShotInfo code read unsigned
        exp = _canon_shot_info_exposure(tags) or exp
    iso_v = _num(_first(tags, ("Exif.Photo.ISOSpeedRatings", "Exif.Photo.PhotographicSensitivity"), "iso"))
    if not iso_v:
        iso_v = _canon_shot_info_iso(tags)

    return ShotMetadata(
        path=str(path),
        make=make,
        model=model,
        lens_make=lens_make,
        lens_model=lens_model,
        lens_id=lens_id,
        focal_length_mm=focal,
        f_number=fnum,
        focus_distance_m=_focus_distance(tags),
        orientation=orient,
        width=width,
        height=height,
        crop_factor=crop,
        datetime_original=_iso_datetime(_first(tags, ("Exif.Photo.DateTimeOriginal", "Exif.Image.DateTime"), "datetime_original")),
        exposure_time_s=exp if exp and exp > 0 else None,
        iso=int(iso_v) if iso_v and iso_v > 0 else None,
        gps=_gps(tags),
        warnings=tuple(notes),
        fields_unknown=tuple(sorted(unknown)),
        format=fmt,
        software=software,
        # an l2tech output names its own software; what made the pixels l2tech started from is
        # its record's SourceSoftware (a camera's JPEG with only a LUT put on it is still the
        # camera's JPEG for the in-camera correction rules)
        converter=raw_converter(dict(record).get("SourceSoftware") if record else software, xmp_keys),
        corrections_done=corrections_done(tags),
        l2tech_record=record,
        recorded_size=recorded,
        recorded_size_source=recorded_source,
        crop_rect=_crop_rect(tags) if fmt in ("jpeg", "png", "tiff") else None,  # a RAW is developed uncropped
    )


# --------------------------------------------------------------------------------------------
# container readers


def _read_exiv2(path: Path, fmt: str) -> ShotMetadata:
    notes: list[str] = []
    unknown: set[str] = set()
    with _muted() as exiv2:
        from l2tech.io.provenance import register_l2tech_namespace

        register_l2tech_namespace(exiv2)
        try:
            from l2tech.io.image import _maker_note_checked, exiv2_open  # a name that is not UTF-8 too

            img = exiv2_open(exiv2, path)
            img.readMetadata()
            if fmt == "jpeg":  # a Canon maker note an editor moved: read it at its values' true places
                fixed, why = _maker_note_checked(exiv2, img, path)
                if why is None:
                    img = fixed
        except Exception as exc:  # Exiv2Error, or the binding's own errors on broken data
            if fmt == "jpeg":
                img = _retry_without_bad_segments(exiv2, path, fmt, notes)
            else:
                img = _retry_png_without_large_text(exiv2, path, notes) if fmt == "png" else None
            if img is None:
                raise MetadataError(f"metadata unreadable ({_exiv2_reason(exc)})", path) from None
        xmp = None
        try:
            packet = img.xmpPacket()
            if len(packet) > MAX_XMP_BYTES:
                notes.append(f"XMP packet of {len(packet)} bytes exceeds {MAX_XMP_BYTES}; ignored")
            else:
                xmp = img.xmpData()
        except Exception as exc:
            notes.append(f"XMP unreadable ({exc}); ignored")
        _check_icc(img, notes)
        tags = _Tags(img.exifData(), xmp, notes, unknown, str(path))
        try:
            container = (int(img.pixelWidth()), int(img.pixelHeight()))
        except Exception:
            container = None
        return _build(path, fmt, tags, notes, unknown, container)


def _retry_without_bad_segments(exiv2: Any, path: Path, fmt: str, notes: list[str]) -> Any | None:
    """Re-read a JPEG in memory without its ICC (APP2) and then XMP (APP1) segments.

    exiv2 refuses the whole file when an ICC profile is invalid; the rest of the metadata is
    still wanted (RELIABILITY.md case 6). The file itself is never modified.
    """
    data = path.read_bytes()
    segs = jpeg_segments(data)
    drops = (
        ("ICC profile", lambda m, s, e: m == 0xE2 and data[s + 4 : s + 16] == b"ICC_PROFILE\0"),
        ("XMP packet", lambda m, s, e: m == 0xE1 and data[s + 4 : s + 33].startswith(b"http://ns.adobe.com/xap/1.0/")),
    )
    dropped: list[str] = []
    for what, test in drops:
        bad = [(s, e) for m, s, e in segs if test(m, s, e)]
        if not bad:
            continue
        dropped.append(what)
        for s, e in sorted(bad, reverse=True):
            data = data[:s] + data[e:]
        segs = jpeg_segments(data)
        try:
            img = exiv2.ImageFactory.open(bytes(data))
            img.readMetadata()
        except Exception:
            continue
        # the ICC line is worded as the image reader's own (l2tech.pipeline.stills), so a command
        # that reads both prints it once
        notes.extend("embedded ICC profile is corrupt; dropped, pixels read as sRGB" if w == "ICC profile"
                     else f"{w} is corrupt and was ignored" for w in dropped)
        return img
    return None


#: The most bytes exiv2 expands a compressed PNG text chunk to (``zlibUncompress`` in its
#: ``pngchunk_int.cpp``: 128 KiB, "DoS protection"); past it exiv2 refuses the whole file.
EXIV2_PNG_TEXT_LIMIT = 131072


def _retry_png_without_large_text(exiv2: Any, path: Path, notes: list[str]) -> Any | None:
    """Re-read a PNG in memory without its compressed text chunks (zTXt, compressed iTXt) that
    expand past :data:`EXIV2_PNG_TEXT_LIMIT`: exiv2 refuses the whole file for one of them
    ("Failed to read image data"), when the rest of the metadata is still wanted. The file
    itself is never modified. None when there is no such chunk or exiv2 still refuses."""
    import zlib

    data = path.read_bytes()
    out = [data[:8]]
    dropped: list[str] = []
    pos = 8
    while pos + 8 <= len(data):
        length, ctype = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        body = data[pos + 8 : min(end - 4, len(data))]
        k = body.find(b"\0", 0, 80)
        packed = None
        if k > 0 and ctype == b"zTXt":  # keyword, 0, method, compressed text
            packed = body[k + 2 :]
        elif k > 0 and ctype == b"iTXt" and body[k + 1 : k + 2] == b"\1":  # compressed international text
            rest = body[k + 3 :].split(b"\0", 2)
            packed = rest[2] if len(rest) == 3 else None
        if packed is not None:
            d = zlib.decompressobj()
            try:
                d.decompress(packed, EXIV2_PNG_TEXT_LIMIT)
            except zlib.error:
                pass
            if d.unconsumed_tail:
                key = "".join(c if c.isprintable() else "?" for c in body[:k].decode("latin-1"))
                dropped.append(f"PNG {ctype.decode()} text chunk '{key}'")
                pos = end
                continue
        out.append(data[pos:end])
        pos = end
        if ctype == b"IEND":
            break
    if not dropped:
        return None
    try:
        img = exiv2.ImageFactory.open(b"".join(out))
        img.readMetadata()
    except Exception:
        return None
    notes.extend(f"{what} expands past {EXIV2_PNG_TEXT_LIMIT // 1024} KiB, the metadata reader's limit; ignored"
                 for what in dropped)
    return img


def _exiv2_reason(exc: Exception) -> str:
    args = getattr(exc, "args", ())
    text = str(args[1]) if len(args) >= 2 else str(exc)
    return text.split(": ")[-1] if text else type(exc).__name__


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    pos = start
    while pos + 8 <= end:
        size, typ = struct.unpack_from(">I4s", data, pos)
        hdr = 8
        if size == 1:
            if pos + 16 > end:
                return
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            hdr = 16
        elif size == 0:
            size = end - pos
        if size < hdr or pos + size > end:
            return
        yield typ, pos + hdr, pos + size
        pos += size


_CANON_UUID = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")


def _read_cr3(path: Path) -> ShotMetadata:
    """Canon CR3: decode the TIFF blocks CMT1 (IFD0), CMT2 (Exif IFD), CMT3 (maker notes)."""
    with open(path, "rb") as f:
        data = f.read(4 << 20)  # moov precedes mdat; its metadata fits in the first MiBs
    blocks: dict[bytes, bytes] = {}
    for typ, s, e in _boxes(data, 0, len(data)):
        if typ == b"moov":
            for t2, s2, e2 in _boxes(data, s, e):
                if t2 == b"uuid" and data[s2 : s2 + 16] == _CANON_UUID:
                    for t3, s3, e3 in _boxes(data, s2 + 16, e2):
                        if t3 in (b"CMT1", b"CMT2", b"CMT3", b"CMT4"):
                            blocks[t3] = data[s3:e3]
    if b"CMT1" not in blocks:
        raise MetadataError("CR3 file has no Canon metadata box (CMT1) in its moov box", path)
    notes: list[str] = []
    unknown: set[str] = set()
    remap = {  # tag numbers of IFD0-decoded blocks -> the keys an in-place read would give
        b"CMT2": "Photo",
        b"CMT4": "GPSInfo",
    }
    with _muted() as exiv2:
        merged = exiv2.ExifData()
        for name in (b"CMT1", b"CMT2", b"CMT4", b"CMT3"):
            blob = blocks.get(name)
            if not blob:
                continue
            try:
                img = exiv2.ImageFactory.open(bytes(blob))
                img.readMetadata()
            except Exception as exc:
                notes.append(f"CR3 {name.decode()} block unreadable ({_exiv2_reason(exc)}); its fields unknown")
                continue
            for d in img.exifData():
                tag = d.tag()
                try:
                    if name == b"CMT3":
                        if tag == 0x0095:  # Canon LensModel
                            merged["Exif.Canon.LensModel"] = d.toString()
                        elif tag in (0x009A, 0x00E0):  # AspectInfo, SensorInfo: a crop mode
                            merged.add(exiv2.ExifKey(f"Exif.Canon.0x{tag:04x}"), d.getValue())
                        continue
                    group = remap.get(name)
                    key = d.key() if group is None else f"Exif.{group}.0x{tag:04x}"
                    merged.add(exiv2.ExifKey(_canonical_key(exiv2, key)), d.getValue())
                except Exception:
                    continue
        tags = _Tags(merged, None, notes, unknown, str(path))
        return _build(path, "cr3", tags, notes, unknown, None)


def _canonical_key(exiv2: Any, key: str) -> str:
    # "Exif.Photo.0x920a" -> "Exif.Photo.FocalLength" (exiv2 names tags it knows)
    try:
        return exiv2.ExifKey(key).key()
    except Exception:
        return key


def _read_x3f(path: Path) -> ShotMetadata:
    """Sigma X3F: header (size, rotation) and the PROP section (camera, lens, exposure)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 40 or data[:4] != b"FOVb":
        raise MetadataError("not an X3F file (no FOVb header)", path)
    cols, rows, rotation = struct.unpack_from("<III", data, 28)
    props: dict[str, str] = {}
    notes: list[str] = []
    try:
        dir_off = struct.unpack_from("<I", data, len(data) - 4)[0]
        if data[dir_off : dir_off + 4] != b"SECd":
            raise ValueError("no SECd directory")
        n = struct.unpack_from("<I", data, dir_off + 8)[0]
        for i in range(min(n, 64)):
            off, length, typ = struct.unpack_from("<II4s", data, dir_off + 12 + 12 * i)
            if typ != b"PROP" or data[off : off + 4] != b"SECp":
                continue
            count, fmt_, _res, total = struct.unpack_from("<IIII", data, off + 8)
            if fmt_ != 0:
                continue
            chars_at = off + 24 + 8 * count
            chars = data[chars_at : chars_at + 2 * total].decode("utf-16-le", "replace")

            def at(k: int) -> str:
                end = chars.find("\0", k)
                return chars[k : end if end >= 0 else len(chars)]

            for j in range(min(count, 1024)):
                name_off, value_off = struct.unpack_from("<II", data, off + 24 + 8 * j)
                props[at(name_off)] = at(value_off)
    except (struct.error, ValueError, IndexError) as exc:
        notes.append(f"X3F property list unreadable ({exc}); camera and exposure fields unknown")

    def fnum(key: str) -> float | None:
        v = _num(props.get(key))
        return v if v and v > 0 else None

    unknown = set() if props else {"make", "model", "lens_model", "focal_length_mm", "f_number"}
    exp = fnum("SHUTTER")
    iso = fnum("ISO")
    lens_id = props.get("LENSMODEL") or None
    if lens_id and re.fullmatch(r"[0-9A-Fa-f]+", lens_id):
        # a hexadecimal lens type (exiftool SigmaRaw LENSMODEL: "145" is type 0x145, 325), written
        # so that nobody looks 145 up as a decimal number
        lens_id = f"0x{lens_id.lower()}"
    focal = fnum("FLENGTH")
    f35 = fnum("FLEQ35MM")
    return ShotMetadata(
        path=str(path),
        make=props.get("CAMMANUF") or None,
        model=props.get("CAMMODEL") or None,
        lens_model=None,
        lens_id=lens_id,
        focal_length_mm=focal,
        f_number=fnum("APERTURE"),
        orientation=None,
        width=cols or None,
        height=rows or None,
        crop_factor=(f35 / focal) if (f35 and focal) else None,
        exposure_time_s=exp,
        iso=int(iso) if iso else None,
        warnings=tuple(notes),
        fields_unknown=tuple(sorted(unknown)),
        format="x3f",
    )


def _phase_one_directory(path: Path) -> tuple[tuple[int, int] | None, str | None]:
    """Image size and camera model from a Phase One raw's own directory: ``((width, height),
    model)``, each ``None`` when absent or out of range.

    The directory follows a 12-byte header (``IIII?waR`` or ``MMMMRaw?``, then its offset) at
    byte 0 or right after the TIFF header; its 16-byte entries are tag, type, size, value (an
    offset from the header for data longer than 4 bytes). Tags 0x10c/0x10d are the image
    width/height inside the sensor margins (ExifTool ``PhaseOne.pm`` ``ImageWidth`` /
    ``ImageHeight``; LibRaw ``parse_phase_one`` ``width``/``height``), 0x108/0x109 the sensor's
    (used when the former are absent), 0x301 the model string LibRaw names the camera by.
    Every offset is bounds-checked; nothing is trusted beyond 4096 entries or 64 characters.
    """
    from l2tech.io.formats import _phase_one_block

    with open(path, "rb") as f:
        head = f.read(20)
        base = 0 if _phase_one_block(head, 0) else 8 if _phase_one_block(head, 8) else None
        if base is None or len(head) < base + 12:
            return None, None
        end = "<" if head[base : base + 2] == b"II" else ">"
        (dir_off,) = struct.unpack_from(end + "I", head, base + 8)
        f.seek(base + dir_off)
        first = f.read(8)
        if len(first) < 8:
            return None, None
        n = struct.unpack(end + "I", first[:4])[0]
        if not 0 < n <= 4096:
            return None, None
        body = f.read(16 * n)
        vals: dict[int, tuple[int, int]] = {}
        for i in range(len(body) // 16):
            tag, _typ, size, data = struct.unpack_from(end + "IIII", body, 16 * i)
            if tag in (0x108, 0x109, 0x10C, 0x10D, 0x301):
                vals[tag] = (size, data)
        model = None
        if 0x301 in vals:
            size, data = vals[0x301]
            f.seek(base + data)
            text = f.read(min(size, 64)).split(b"\0", 1)[0].decode("latin-1").strip()
            model = text.removesuffix(" camera").strip() or None  # LibRaw drops " camera"
    w = (vals.get(0x10C) or vals.get(0x108) or (0, 0))[1]
    h = (vals.get(0x10D) or vals.get(0x109) or (0, 0))[1]
    return ((w, h) if 0 < w <= 65_000 and 0 < h <= 65_000 else None), model


def _read_phase_one(p: Path) -> ShotMetadata:
    """Phase One IIQ: EXIF as exiv2 reads it, the size from the Phase One directory.

    The IFD0 of an IIQ describes a preview, not the raw image (the raw sits in Phase One's own
    directory: LibRaw ``parse_phase_one``; ExifTool ``PhaseOne.pm``). A Phase One raw written
    without a TIFF header has no EXIF block exiv2 can open: then make, model, size and what
    LibRaw knows of the exposure are returned, with a warning naming what is unknown.
    """
    fmt = "iiq"
    size, model = _phase_one_directory(p)
    try:
        meta = _read_exiv2(p, fmt)
    except MetadataError as exc:
        if size is None:
            raise
        from types import SimpleNamespace

        other = SimpleNamespace(shutter_speed=0.0, focal_length=0.0, aperture=0.0, iso_speed=0.0)
        try:
            import rawpy

            with rawpy.imread(str(p)) as raw:
                other = raw.other
        except Exception:  # noqa: BLE001 - LibRaw refusing the file is the decoder's to report
            pass
        exp = other.shutter_speed if other.shutter_speed > 0 else None
        return ShotMetadata(
            path=str(p),
            make="Phase One",
            model=model,
            lens_model=None,
            lens_id=None,
            focal_length_mm=other.focal_length if other.focal_length > 0 else None,
            f_number=other.aperture if other.aperture > 0 else None,
            orientation=None,
            width=size[0],
            height=size[1],
            exposure_time_s=exp,
            iso=int(other.iso_speed) if other.iso_speed > 0 else None,
            warnings=(f"no EXIF block exiv2 can read ({exc.reason.removeprefix('metadata unreadable (').removesuffix(')')}); "
                      + ("lens unknown" if model else "camera model and lens unknown"),),
            fields_unknown=("lens_model",) if model else ("lens_model", "model"),
            format=fmt,
        )
    if size is not None and size != (meta.width, meta.height):
        from dataclasses import replace

        meta = replace(meta, width=size[0], height=size[1])
    return meta


def _named(meta: ShotMetadata, path: Path) -> ShotMetadata:
    """Each warning starts with the file it is about (``FILE: message``, RELIABILITY.md rule 7)."""
    head = f"{path}: "
    if all(w.startswith(head) for w in meta.warnings):
        return meta
    return replace(meta, warnings=tuple(w if w.startswith(head) else head + w for w in meta.warnings))


def read_metadata(path: str | os.PathLike[str]) -> ShotMetadata:
    """Read a photo's shot metadata.

    Parameters
    ----------
    path : str or path-like
        A RAW file (DNG, CR2, CR3, CRW, NEF, ARW, RW2, RAF, ORF, PEF, SRW, MRW, X3F, IIQ, ...),
        a JPEG, TIFF or PNG. Truncated files whose metadata block is intact are read. The size
        of a Phase One IIQ is its raw image's, from Phase One's directory (its IFD0 holds a
        preview).

    Returns
    -------
    ShotMetadata
        Unknown values are ``None``; every dropped or unreadable value has a line in
        ``warnings``.

    Raises
    ------
    EmptyFileError
        Zero-byte file (before any library call).
    UnsupportedFormatError
        The magic bytes are not those of a still image (or are unknown).
    MetadataError
        No metadata block could be read at all (names the file and exiv2's reason).

    Notes
    -----
    EXIF zero values of FocalLength, FNumber and SubjectDistance mean "unknown" (Exif 3.0
    leaves them unspecified; cameras write 0 for manual lenses) and are returned as ``None``.

    References
    ----------
    See the module docstring.
    """
    p = Path(path)
    fmt = sniff_format(p)
    if fmt not in _SUPPORTED:
        raise UnsupportedFormatError(
            f"unsupported or mismatched format for metadata: {fmt.upper()} is not a still image", p
        )
    try:
        if fmt == "x3f":
            meta = _read_x3f(p)
        elif fmt == "iiq":
            meta = _read_phase_one(p)
        elif fmt == "cr3":
            try:
                meta = _read_exiv2(p, fmt)
            except MetadataError:
                meta = _read_cr3(p)
        else:
            meta = _read_exiv2(p, fmt)
        return _named(meta, p)
    except OSError as exc:
        raise MetadataError(f"cannot read file ({exc.strerror or exc})", p) from None
    except (struct.error, UnicodeDecodeError, IndexError) as exc:
        raise MetadataError(f"metadata block is truncated or malformed ({exc})", p) from None
