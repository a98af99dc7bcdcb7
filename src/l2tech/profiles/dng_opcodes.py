"""DNG opcode lists (OpcodeList1/2/3, TIFF tags 51008/51009/51022): read, write, to LensProfile.

An opcode list is big-endian: ``uint32 count``, then per opcode ``uint32 id, uint32 version
(DNG version that introduced it), uint32 flags (bit 0 optional, bit 1 skip for preview),
uint32 byte count`` and the parameters. List 1 applies to the stored raw values, list 2 after
linearisation, list 3 after demosaicing (DNG specification, chapter 6).

Parsed parameters (names as in the specification):

* ``WarpRectilinear`` (1): ``planes`` = tuple of ``(kr0, kr1, kr2, kr3, kt0, kt1)``, ``cx, cy``.
* ``WarpFisheye`` (2): ``planes`` = tuple of ``(kr0, kr1, kr2, kr3)``, ``cx, cy``.
* ``FixVignetteRadial`` (3): ``k`` = ``(k0..k4)``, ``cx, cy``.
* ``MapPolynomial`` (8): area fields (``top, left, bottom, right, plane, planes, row_pitch,
  col_pitch``), ``degree``, ``coefficients``.
* ``GainMap`` (9): a :class:`l2tech.optics.dng.GainMapParams`.

Other opcodes are kept with their raw parameter bytes.

References
----------
Adobe DNG Specification 1.4.0.0, chapter 6 "Opcode List Processing"; Adobe DNG SDK
``source/dng_opcode_list.cpp``, ``dng_lens_correction.cpp``, ``dng_gain_map.cpp``,
``dng_misc_opcodes.cpp``.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np

from l2tech.errors import CorruptInputError, UnsupportedFormatError
from l2tech.optics.dng import GainMapParams
from l2tech.profiles.model import (
    DistortionCalibration,
    LensProfile,
    TCACalibration,
    VignettingCalibration,
)

__all__ = [
    "OPCODE_NAMES",
    "OPCODE_LIST_TAGS",
    "DngOpcode",
    "parse_opcode_list",
    "encode_opcode_list",
    "read_dng_opcodes",
    "tiff_ifds",
    "read_opcode_lists",
    "opcodes_to_profile",
    "read_dng_profile",
]

OPCODE_NAMES = {
    1: "WarpRectilinear",
    2: "WarpFisheye",
    3: "FixVignetteRadial",
    4: "FixBadPixelsConstant",
    5: "FixBadPixelsList",
    6: "TrimBounds",
    7: "MapTable",
    8: "MapPolynomial",
    9: "GainMap",
    10: "DeltaPerRow",
    11: "DeltaPerColumn",
    12: "ScalePerRow",
    13: "ScalePerColumn",
    14: "WarpRectilinear2",
}
#: OpcodeList number -> TIFF tag.
OPCODE_LIST_TAGS = {1: 51008, 2: 51009, 3: 51022}
_MAX_OPCODES = 10000
_AREA = ("top", "left", "bottom", "right", "plane", "planes", "row_pitch", "col_pitch")


@dataclass(frozen=True)
class DngOpcode:
    """One opcode of a DNG opcode list.

    Parameters
    ----------
    opcode_id : int
        DNG opcode number (1 = WarpRectilinear ... 9 = GainMap).
    name : str
        Specification name (``"Unknown<n>"`` for ids we do not know).
    version : int
        DNG version that introduced it, as the 32-bit value (0x01030000 = 1.3.0.0).
    flags : int
        Bit 0 optional, bit 1 may be skipped for previews.
    params : Mapping[str, object]
        Parsed parameters (see module docs); empty for unparsed opcodes.
    data : bytes
        Raw parameter bytes.
    """

    opcode_id: int
    name: str
    version: int
    flags: int
    params: Mapping[str, object] = field(default_factory=dict)
    data: bytes = b""

    @property
    def optional(self) -> bool:
        """Bit 0 of ``flags``: a reader that cannot apply it may skip it."""
        return bool(self.flags & 1)


def _need(buf: bytes, off: int, n: int, where: str, path: object) -> None:
    if off + n > len(buf):
        raise CorruptInputError(f"opcode list truncated in {where} (needs {off + n} bytes, has {len(buf)})", path)


#: Largest gain a GainMap may hold. DNG GainMaps correct lens shading and flat-field
#: non-uniformity: real ones hold gains of about 1–4 (4 = two stops at the corner); 1000 (10
#: stops) rules out a corrupt or hostile map without touching any real one.
MAX_GAIN = 1000.0


def _check_terms(names: Sequence[str], vals: Sequence[float], path: object, where: str) -> None:
    """Refuse a lens-correction coefficient that is not finite or past
    :data:`l2tech.profiles.validate.MAX_TERM` (a kr1 of 1e300 or a NaN k0 gave an all-black image
    at decode, exit 0): the same bound :func:`~l2tech.profiles.validate.validate_profile` applies
    to DNG terms, here at the parser, which the decode's opcode lists also go through."""
    from l2tech.profiles.validate import MAX_TERM

    for name, v in zip(names, vals):
        if not math.isfinite(v):
            raise CorruptInputError(f"{where}: {name} = {v!r} is not a finite number", path)
        if abs(v) > MAX_TERM:
            raise CorruptInputError(f"{where}: {name} = {v:g} is outside [{-MAX_TERM:g}, {MAX_TERM:g}] "
                                    "(the range a real lens can have)", path)


def _parse_params(oid: int, p: bytes, path: object, where: str) -> dict[str, object]:
    try:
        if oid in (1, 2):  # WarpRectilinear: 6 doubles per plane; WarpFisheye: 4
            name, k = ("WarpRectilinear", 6) if oid == 1 else ("WarpFisheye", 4)
            (n,) = struct.unpack_from(">I", p, 0)
            if n not in (1, 2, 3, 4) or len(p) != 4 + 8 * k * n + 16:
                raise CorruptInputError(f"{where}: {name} with {n} planes has {len(p)} parameter bytes", path)
            vals = struct.unpack_from(">" + "d" * (k * n + 2), p, 4)
            terms = ("kr0", "kr1", "kr2", "kr3", "kt0", "kt1")[:k]
            _check_terms([f"plane {i} {t}" for i in range(n) for t in terms] + ["cx", "cy"], vals, path, where)
            planes = tuple(tuple(vals[k * i : k * i + k]) for i in range(n))
            return {"planes": planes, "cx": vals[-2], "cy": vals[-1]}
        if oid == 3:
            if len(p) != 56:
                raise CorruptInputError(f"{where}: FixVignetteRadial needs 56 parameter bytes, has {len(p)}", path)
            vals = struct.unpack(">7d", p)
            _check_terms(("k0", "k1", "k2", "k3", "k4", "cx", "cy"), vals, path, where)
            return {"k": tuple(vals[:5]), "cx": vals[5], "cy": vals[6]}
        if oid == 8:
            area = struct.unpack_from(">8I", p, 0)
            (deg,) = struct.unpack_from(">I", p, 32)
            if deg > 8 or len(p) != 36 + 8 * (deg + 1):
                raise CorruptInputError(f"{where}: MapPolynomial of degree {deg} has {len(p)} parameter bytes", path)
            coefs = struct.unpack_from(">" + "d" * (deg + 1), p, 36)
            _check_terms([f"coefficient {i}" for i in range(deg + 1)], coefs, path, where)
            return {**dict(zip(_AREA, area)), "degree": deg, "coefficients": tuple(coefs)}
        if oid == 9:
            ints = struct.unpack_from(">10I", p, 0)
            sv, sh, ov, oh = struct.unpack_from(">4d", p, 40)
            (mp,) = struct.unpack_from(">I", p, 72)
            nv, nh = ints[8], ints[9]
            count = nv * nh * mp
            if not (0 < nv <= 65536 and 0 < nh <= 65536 and 0 < mp <= 4) or len(p) != 76 + 4 * count:
                raise CorruptInputError(
                    f"{where}: GainMap of {nv}x{nh}x{mp} points has {len(p)} parameter bytes", path
                )
            _check_terms(("MapSpacingV", "MapSpacingH", "MapOriginV", "MapOriginH"), (sv, sh, ov, oh), path, where)
            gains = np.frombuffer(p, dtype=">f4", count=count, offset=76).astype(np.float32).reshape(nv, nh, mp)
            bad = ~np.isfinite(gains) | (np.abs(gains) > MAX_GAIN)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise CorruptInputError(f"{where}: gain {i} = {float(gains.flat[i]):g} is not a finite number "
                                        f"within [-{MAX_GAIN:g}, {MAX_GAIN:g}]", path)
            return {
                "gain_map": GainMapParams(*ints, sv, sh, ov, oh, mp, gains),
            }
    except struct.error as exc:
        raise CorruptInputError(f"{where}: parameters too short ({exc})", path) from None
    return {}


def parse_opcode_list(data: bytes, path: object | None = None, list_number: int | None = None) -> tuple[DngOpcode, ...]:
    """Parse one DNG opcode list.

    Parameters
    ----------
    data : bytes
        The tag's value (big-endian).
    path : str or PathLike, optional
        File name for error messages.
    list_number : int, optional
        1, 2 or 3, for error messages.

    Returns
    -------
    tuple of DngOpcode

    Raises
    ------
    CorruptInputError
        Truncated list, byte counts that do not fit, parameters of the wrong size, or a
        WarpRectilinear/WarpFisheye/FixVignetteRadial/MapPolynomial number that is not finite or
        beyond :data:`l2tech.profiles.validate.MAX_TERM`, or a GainMap gain that is not finite or
        beyond :data:`MAX_GAIN`.
    """
    where = f"OpcodeList{list_number}" if list_number else "opcode list"
    data = bytes(data)
    _need(data, 0, 4, where, path)
    (n,) = struct.unpack_from(">I", data, 0)
    if n > _MAX_OPCODES:
        raise CorruptInputError(f"{where} claims {n} opcodes (limit {_MAX_OPCODES})", path)
    off = 4
    ops = []
    for i in range(n):
        _need(data, off, 16, f"{where} opcode {i}", path)
        oid, ver, flags, nb = struct.unpack_from(">4I", data, off)
        off += 16
        _need(data, off, nb, f"{where} opcode {i} ({OPCODE_NAMES.get(oid, oid)})", path)
        p = data[off : off + nb]
        off += nb
        name = OPCODE_NAMES.get(oid, f"Unknown{oid}")
        params = _parse_params(oid, p, path, f"{where} opcode {i} ({name})")
        ops.append(DngOpcode(oid, name, ver, flags, params, p))
    return tuple(ops)


def _encode_params(op: DngOpcode) -> bytes:
    pr = op.params
    if op.opcode_id == 1:
        planes = pr["planes"]
        vals = [v for pl in planes for v in pl] + [pr["cx"], pr["cy"]]
        return struct.pack(">I", len(planes)) + struct.pack(">" + "d" * len(vals), *vals)
    if op.opcode_id == 2:
        planes = pr["planes"]
        vals = [v for pl in planes for v in pl] + [pr["cx"], pr["cy"]]
        return struct.pack(">I", len(planes)) + struct.pack(">" + "d" * len(vals), *vals)
    if op.opcode_id == 3:
        return struct.pack(">7d", *pr["k"], pr["cx"], pr["cy"])
    if op.opcode_id == 8:
        c = pr["coefficients"]
        return struct.pack(">9I", *(pr[k] for k in _AREA), len(c) - 1) + struct.pack(">" + "d" * len(c), *c)
    if op.opcode_id == 9:
        g: GainMapParams = pr["gain_map"]  # type: ignore[assignment]
        head = struct.pack(
            ">10I4dI", g.top, g.left, g.bottom, g.right, g.plane, g.planes, g.row_pitch, g.col_pitch,
            g.map_points_v, g.map_points_h, g.map_spacing_v, g.map_spacing_h, g.map_origin_v,
            g.map_origin_h, g.map_planes,
        )
        return head + np.asarray(g.gains, dtype=">f4").tobytes()
    return bytes(op.data)


def encode_opcode_list(opcodes: Sequence[DngOpcode]) -> bytes:
    """Serialise opcodes to a DNG opcode list (big-endian), the inverse of :func:`parse_opcode_list`.

    Parameters are taken from ``params`` for the opcodes this module parses, else ``data``.
    """
    out = [struct.pack(">I", len(opcodes))]
    for op in opcodes:
        p = _encode_params(op)
        out.append(struct.pack(">4I", op.opcode_id, op.version, op.flags, len(p)) + p)
    return b"".join(out)


def _open_tiff(path: os.PathLike | str):
    import tifffile

    from l2tech.io.formats import read_input_bytes

    p = os.fspath(path)
    magic = read_input_bytes(p, head=4, unreadable=CorruptInputError)
    if magic not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        raise UnsupportedFormatError("not a DNG/TIFF file (no TIFF header)", p)
    try:
        return tifffile.TiffFile(p)
    except Exception as exc:  # tifffile raises TiffFileError and struct/ValueErrors on bad files
        raise CorruptInputError(f"unreadable TIFF structure ({exc})", p) from None


def tiff_ifds(tf: Any) -> list:
    """Every IFD of an open ``tifffile.TiffFile``: each page followed by its SubIFDs (a malformed
    SubIFD chain is skipped)."""
    out = []
    for page in tf.pages:
        out.append(page)
        if page.subifds:
            try:
                out.extend(page.pages)  # SubIFDs
            except Exception:  # pragma: no cover - malformed SubIFD chain
                pass
    return out


def read_opcode_lists(ifd: Any, path: object) -> dict[int, tuple[DngOpcode, ...]]:
    """OpcodeList1, 2 and 3 of one IFD (a ``tifffile`` page); absent lists are empty tuples.

    Raises
    ------
    CorruptInputError
        A list that does not parse (``path`` and list named).
    """
    result: dict[int, tuple[DngOpcode, ...]] = {1: (), 2: (), 3: ()}
    for n, tag in OPCODE_LIST_TAGS.items():
        t = ifd.tags.get(tag)
        if t is not None:
            v = t.value
            data = v if isinstance(v, (bytes, bytearray)) else bytes(np.asarray(v, dtype=np.uint8))
            result[n] = parse_opcode_list(data, path, n)
    return result


def read_dng_opcodes(path: os.PathLike | str) -> dict[int, tuple[DngOpcode, ...]]:
    """Read OpcodeList1, 2 and 3 of a DNG's main (full-resolution) image.

    Parameters
    ----------
    path : str or PathLike
        A DNG (or GPR) file.

    Returns
    -------
    dict
        ``{1: (...), 2: (...), 3: (...)}``; lists absent from the file are empty tuples.

    Raises
    ------
    EmptyFileError, UnsupportedFormatError, CorruptInputError
        Empty, not a TIFF/DNG, or an opcode list that does not parse (file and list named).

    Notes
    -----
    The main image is the IFD (page or SubIFD) whose ``NewSubfileType`` is 0; when none carries
    opcode lists, the first IFD that does is used.
    """
    p = os.fspath(path)
    with _open_tiff(p) as tf:
        ifds = tiff_ifds(tf)
        if not any(50706 in ifd.tags for ifd in ifds):
            raise UnsupportedFormatError("TIFF file without DNGVersion tag: not a DNG", p)
        chosen = None
        for ifd in ifds:
            sub = ifd.tags.get(254)
            if (sub is None or int(sub.value) == 0) and any(t in ifd.tags for t in OPCODE_LIST_TAGS.values()):
                chosen = ifd
                break
        if chosen is None:
            chosen = next((i for i in ifds if any(t in i.tags for t in OPCODE_LIST_TAGS.values())), None)
        if chosen is None:
            return {1: (), 2: (), 3: ()}
        return read_opcode_lists(chosen, p)


def opcodes_to_profile(
    opcodes: Mapping[int, Sequence[DngOpcode]],
    *,
    maker: str = "",
    model: str = "",
    focal_length_mm: float = 0.0,
    source: str = "",
) -> LensProfile | None:
    """The lens-correction opcodes of a DNG as a :class:`LensProfile` (or None if it has none).

    Parameters
    ----------
    opcodes : Mapping[int, Sequence[DngOpcode]]
        As returned by :func:`read_dng_opcodes`.
    maker, model : str
        Names for the profile (usually the camera's, the opcodes being per shot).
    focal_length_mm : float
        Focal length of the shot (calibration point).
    source : str
        Provenance, e.g. ``"dng:/path/file.dng"``.

    Returns
    -------
    LensProfile or None

    Notes
    -----
    Conventions (docs/PROFILES.md): ``DistortionCalibration(model="dng_warp_rectilinear",
    terms={kr0..kr3, kt0, kt1, cx, cy})`` from the green plane (or the only plane);
    a 3-plane warp also gives ``TCACalibration(model="dng_warp_rectilinear", terms={r_kr0..r_kt1,
    b_kr0..b_kt1, cx, cy})`` holding the red and blue planes as absolute warps;
    ``dng_warp_fisheye`` likewise with ``kr0..kr3``; ``VignettingCalibration(model=
    "dng_fix_vignette_radial", terms={k0..k4, cx, cy})``. ``extra["dng_opcode_list"]`` records
    the list each came from; GainMap and MapPolynomial stay with the raw pipeline.
    """
    dist, tca, vig = [], [], []
    extra: dict[str, object] = {}
    for n in (1, 2, 3):
        for op in opcodes.get(n, ()):
            if op.opcode_id in (1, 2):
                model_name = "dng_warp_rectilinear" if op.opcode_id == 1 else "dng_warp_fisheye"
                names = ("kr0", "kr1", "kr2", "kr3", "kt0", "kt1") if op.opcode_id == 1 else ("kr0", "kr1", "kr2", "kr3")
                planes = op.params["planes"]  # type: ignore[index]
                g = planes[1] if len(planes) >= 3 else planes[0]
                terms = dict(zip(names, g), cx=op.params["cx"], cy=op.params["cy"])
                dist.append(DistortionCalibration(model_name, focal_length_mm, terms))
                if len(planes) >= 3:
                    tt: dict[str, float] = {"cx": op.params["cx"], "cy": op.params["cy"]}  # type: ignore[dict-item]
                    tt.update({f"r_{k}": v for k, v in zip(names, planes[0])})
                    tt.update({f"b_{k}": v for k, v in zip(names, planes[2])})
                    tca.append(TCACalibration(model_name, focal_length_mm, tt))
                extra["dng_opcode_list"] = n
            elif op.opcode_id == 3:
                k = op.params["k"]  # type: ignore[index]
                terms = {f"k{i}": v for i, v in enumerate(k)}
                terms.update(cx=op.params["cx"], cy=op.params["cy"])
                vig.append(VignettingCalibration("dng_fix_vignette_radial", focal_length_mm, 0.0, 0.0, terms))
                extra["dng_vignette_opcode_list"] = n
    if not (dist or tca or vig):
        return None
    lens_type = "fisheye" if dist and dist[0].model == "dng_warp_fisheye" else "rectilinear"
    return LensProfile(
        maker=maker,
        model=model,
        lens_type=lens_type,
        focal_min_mm=focal_length_mm,
        focal_max_mm=focal_length_mm,
        distortion=tuple(dist[:1]),
        tca=tuple(tca[:1]),
        vignetting=tuple(vig[:1]),
        source=source,
        extra=extra,
    )


def read_dng_profile(path: os.PathLike | str) -> LensProfile | None:
    """Read a DNG's embedded lens correction as a :class:`LensProfile` (None if it has none).

    Camera maker/model come from TIFF tags 271/272 and the focal length from EXIF 37386.

    Raises
    ------
    EmptyFileError, UnsupportedFormatError, CorruptInputError
        As :func:`read_dng_opcodes`.
    """
    p = os.fspath(path)
    ops = read_dng_opcodes(p)
    maker = model = ""
    focal = 0.0
    with _open_tiff(p) as tf:
        page = tf.pages[0]
        if 271 in page.tags:
            maker = str(page.tags[271].value).strip("\x00 ")
        if 272 in page.tags:
            model = str(page.tags[272].value).strip("\x00 ")
        exif = page.tags.get(34665)
        if exif is not None and isinstance(exif.value, dict):
            fl = exif.value.get("FocalLength")
            try:
                focal = float(fl[0]) / float(fl[1]) if isinstance(fl, tuple) else float(fl or 0.0)
            except (TypeError, ValueError, ZeroDivisionError):
                focal = 0.0
    return opcodes_to_profile(ops, maker=maker, model=model, focal_length_mm=focal, source=f"dng:{p}")
