"""DNG opcode lists applied during RAW decoding, at the stages the DNG specification names.

The DNG specification (chapter 6) defines three opcode lists of the main raw image:

* **OpcodeList1** (tag 51008) — on the *stored* raw values, as read from the file, over the
  whole stored raster (margins included);
* **OpcodeList2** (tag 51009) — after linearisation: values mapped to 0..1 per CFA site
  (``(stored − black) / (white − black)``), over the **active area** (its top-left pixel is
  row 0, column 0 of the opcodes' ``Top/Left/Bottom/Right`` areas and of the GainMap's relative
  map coordinates);
* **OpcodeList3** (tag 51022) — after demosaicing, on the demosaiced image of the active area.

LibRaw (through rawpy) applies none of them. :func:`l2tech.raw.decode.decode_raw` uses this
module as follows:

1. LibRaw unpacks the file; ``raw.raw_image`` is a writable view of LibRaw's raw buffer (the
   stored raster, ``(H, W)`` for a CFA or ``(H, W, 4)`` for a stacked linear DNG), which
   ``postprocess()`` reads afresh.
2. :func:`apply_raw_opcode_list` applies list 1 (values scaled by 1/65535) and then list 2
   (values linearised per CFA site with LibRaw's black level per channel and white level) with
   :func:`l2tech.correct.dng_opcodes.apply_opcodes`, and writes the result back as stored values
   (rounded, clipped to 0..65535).
3. LibRaw demosaics, white-balances and converts to linear Rec.2020.
4. :func:`apply_demosaiced_opcode_list` applies list 3 to that output.

List 3 and the colour space. The specification applies list 3 to the demosaiced *camera* RGB
image. LibRaw's output is already white-balanced and converted by a 3×3 matrix ``M``
(:func:`libraw_camera_to_rec2020`). An opcode that acts identically on every colour — a
1-plane warp, FixVignetteRadial, a 1-map-plane GainMap covering all planes — commutes with
white balance and ``M`` (a per-pixel scalar gain, or a resampling that is linear in the
values), so it is applied to the Rec.2020 image directly, exactly. Per-plane opcodes (3-plane
warps, per-plane GainMaps, MapPolynomial) are applied in white-balanced camera RGB
(``M⁻¹ · image``, planes in camera order R, G, B, the DNG's ``plane`` numbering for a 3-colour
camera), then converted back. Two approximations remain and are documented: pixels LibRaw
clipped at 1.0 do not invert exactly, and MapPolynomial (non-linear) sees white-balanced values
where the SDK sees unbalanced ones. Geometry uses the image in stored (sensor) orientation.

Opcodes that cannot be applied. A non-optional opcode we do not implement (or cannot apply at
its stage, e.g. a warp on a CFA mosaic) makes the image unreadable by the specification's rule
("readers ... should refuse to read the image"): :class:`UnsupportedOpcodeError`, naming the
file, list and opcode. Optional ones (flags bit 0) are skipped with a warning in the result;
nothing is ever skipped silently.

References
----------
Adobe DNG Specification 1.4.0.0 / 1.6.0.0, chapter 6 "Opcode List Processing" (stages, the
optional flag, "readers should refuse"), chapter 5 "Mapping Raw Values to Linear Reference
Values" (linearisation, ActiveArea); Adobe DNG SDK ``source/dng_negative.cpp``
(``BuildStage2Image``: stage 2 is the active area), ``dng_gain_map.cpp``
(``dng_gain_map_interpolator``: map coordinates relative to the stage image bounds),
``dng_misc_opcodes.cpp`` (MapPolynomial on 0..1); LibRaw ``src/postprocessing``
``convert_to_rgb`` (``out_cam = out_rgb · rgb_cam``; the Rec.2020 ``out_rgb`` table).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from l2tech.errors import CorruptInputError, InvalidProfileError, UnsupportedFormatError, UsageError

__all__ = [
    "UnsupportedOpcodeError",
    "DngRawLayout",
    "read_dng_raw_layout",
    "apply_raw_opcode_list",
    "apply_demosaiced_opcode_list",
    "libraw_camera_to_rec2020",
    "LIBRAW_REC2020_FROM_SRGB",
]

#: LibRaw's ``rec2020_rgb`` table (linear sRGB/Rec.709 → Rec.2020), ``convert_to_rgb``.
LIBRAW_REC2020_FROM_SRGB = np.array(
    [[0.6274040, 0.3292820, 0.0433136], [0.0690970, 0.9195400, 0.0113612], [0.0163916, 0.0880132, 0.8955950]]
)

_IMPLEMENTED = {1, 2, 3, 8, 9}  # what l2tech.correct.dng_opcodes.apply_opcodes applies
_LOSSY_JPEG = 34892
_CFA = 32803
_LINEAR_RAW = 34892


class UnsupportedOpcodeError(UnsupportedFormatError):
    """A DNG carries a non-optional opcode that l2tech does not implement at its stage.

    The DNG specification requires readers to refuse such an image; decode with
    ``dng_opcodes=False`` to ignore the opcode lists instead.
    """


@dataclass(frozen=True)
class DngRawLayout:
    """Where a DNG's opcode lists apply: its main raw image and the lists.

    Attributes
    ----------
    opcodes : dict of int to tuple of DngOpcode
        ``{1: (...), 2: (...), 3: (...)}`` of the main raw image (empty tuples when absent).
    stored_size : (int, int)
        ``(height, width)`` of the stored raster (list 1's frame).
    active_area : (int, int, int, int)
        ``(top, left, bottom, right)`` of the active area (lists 2 and 3), the whole raster when
        the file has no ActiveArea tag.
    samples_per_pixel : int
        1 for a CFA image, 3 (or more) for a linear (stacked) DNG.
    has_linearization_table : bool
        The file has a LinearizationTable (tag 50712), which LibRaw applies while unpacking.
    compression : int
        TIFF compression of the main raw image (34892 = lossy JPEG, whose LibRaw loader applies
        list 2's MapPolynomials itself).
    """

    opcodes: dict
    stored_size: tuple[int, int]
    active_area: tuple[int, int, int, int]
    samples_per_pixel: int
    has_linearization_table: bool
    compression: int = 1

    @property
    def any(self) -> bool:
        """True when at least one list has an opcode."""
        return any(self.opcodes.get(n) for n in (1, 2, 3))


def _main_raw_ifd(tf) -> Any:
    from l2tech.profiles.dng_opcodes import tiff_ifds

    for page in tiff_ifds(tf):  # a malformed SubIFD chain is skipped: LibRaw decides what it can read
        sub = page.tags.get(254)
        photometric = page.tags.get(262)
        if (sub is None or int(sub.value) == 0) and photometric is not None and int(photometric.value) in (_CFA, _LINEAR_RAW):
            return page
    return None


def read_dng_raw_layout(path: str | os.PathLike) -> DngRawLayout | None:
    """Read the opcode lists and raster geometry of a DNG's main raw image.

    Parameters
    ----------
    path : path-like
        Any file; non-DNGs (no TIFF header, no DNGVersion tag, no CFA/LinearRaw main image)
        give None.

    Returns
    -------
    DngRawLayout or None

    Raises
    ------
    CorruptInputError
        An opcode list that does not parse (file and list named), or IFDs tifffile cannot walk.

    Notes
    -----
    The main raw image is the first IFD (page or SubIFD) with ``NewSubfileType`` 0 and a
    CFA (32803) or LinearRaw (34892) photometric interpretation (DNG specification, chapter 3).
    """
    import tifffile

    from l2tech.profiles.dng_opcodes import read_opcode_lists

    p = os.fspath(path)
    with open(p, "rb") as fh:
        if fh.read(4) not in (b"II*\x00", b"MM\x00*"):
            return None
    try:
        tf = tifffile.TiffFile(p)
    except Exception:  # not a TIFF tifffile can parse: LibRaw decides
        return None
    with tf:
        try:
            if not any(50706 in page.tags for page in tf.pages[:1]):
                return None
            ifd = _main_raw_ifd(tf)
        except Exception as exc:  # tifffile cannot walk the IFDs: the opcode lists cannot be read
            raise CorruptInputError(f"cannot read the DNG's IFDs for its opcode lists ({exc})", p) from None
        if ifd is None:
            return None
        lists = read_opcode_lists(ifd, p)
        h, w = int(ifd.imagelength), int(ifd.imagewidth)
        aa = ifd.tags.get(50829)
        area = (0, 0, h, w)
        if aa is not None:
            vals = tuple(int(x) for x in np.ravel(aa.value))
            if len(vals) == 4 and 0 <= vals[0] < vals[2] <= h and 0 <= vals[1] < vals[3] <= w:
                area = vals  # type: ignore[assignment]
        spp = int(ifd.samplesperpixel)
        comp = ifd.tags.get(259)
        return DngRawLayout(lists, (h, w), area, spp, 50712 in ifd.tags,  # type: ignore[arg-type]
                            int(comp.value) if comp is not None else 1)


def _label(n: int, op) -> str:
    return f"OpcodeList{n}:{op.name}"


def _refuse_or_skip(n: int, op, why: str, path: object, warnings: list[str]) -> None:
    if op.optional:
        warnings.append(f"{path}: OpcodeList{n} {op.name} (optional) skipped: {why}")
        return
    raise UnsupportedOpcodeError(
        f"OpcodeList{n} {op.name} (opcode {op.opcode_id}) is not optional and {why}; the DNG specification "
        "requires refusing the image (decode with dng_opcodes=False to ignore the opcode lists)",
        path,
    )


def _apply(image: np.ndarray, ops: Sequence, n: int, path: object) -> np.ndarray:
    from l2tech.correct.dng_opcodes import apply_opcodes

    try:
        return apply_opcodes(image, ops)
    except (InvalidProfileError, UsageError) as exc:
        names = "+".join(o.name for o in ops)
        raise CorruptInputError(f"OpcodeList{n} {names}: {exc.reason}", path) from None


def apply_raw_opcode_list(raw: Any, layout: DngRawLayout, list_number: int, path: object = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Apply OpcodeList1 or OpcodeList2 to LibRaw's raw buffer, in place, before demosaicing.

    Parameters
    ----------
    raw : rawpy.RawPy
        Open and unpacked; ``raw.raw_image`` (uint16, ``(H, W)`` CFA or ``(H, W, 4)`` stacked)
        is modified in place and used by the next ``postprocess()``.
    layout : DngRawLayout
        From :func:`read_dng_raw_layout` for the same file.
    list_number : {1, 2}
        1: stored values scaled by 1/65535 over the whole stored raster. 2: linearised values
        ``(v − black_c) / (white − black_c)`` (black per CFA colour from LibRaw's
        ``black_level_per_channel`` and ``raw_colors``, white = LibRaw's ``white_level``) over the
        active area.
    path : str or PathLike, optional
        For messages.

    Returns
    -------
    applied : tuple of str
        ``"OpcodeList2:GainMap"``, ... in order.
    warnings : tuple of str
        One line per optional opcode skipped (file, list, opcode, why).

    Raises
    ------
    UnsupportedOpcodeError
        A non-optional opcode not implemented, or not applicable at this stage (a warp on a CFA
        mosaic; any list-1 opcode when LibRaw has already applied a LinearizationTable; a
        raster LibRaw unpacked at another size than the file stores).
    CorruptInputError
        An opcode whose parameters are unusable (a folding warp).

    Notes
    -----
    Values are written back rounded and clipped to 0..65535; an untouched pixel round-trips
    exactly (float64 arithmetic). LibRaw subtracts black and clips at white afterwards exactly
    as it does without opcodes.
    """
    if list_number not in (1, 2):
        raise UsageError(f"raw opcode list must be 1 or 2, got {list_number}")
    ops = tuple(layout.opcodes.get(list_number, ()))
    if not ops:
        return (), ()
    warnings: list[str] = []
    applied: list[str] = []
    if list_number == 2 and layout.compression == _LOSSY_JPEG:
        ops = _libraw_lossy_map_polynomials(ops, layout, path, applied, warnings)
    buf = raw.raw_image
    cfa = buf.ndim == 2
    todo = []
    problem = None
    if buf.shape[:2] != layout.stored_size:
        problem = f"LibRaw unpacked {buf.shape[1]}x{buf.shape[0]} pixels where the file stores {layout.stored_size[1]}x{layout.stored_size[0]}"
    elif list_number == 1 and layout.has_linearization_table:
        problem = "LibRaw applies the LinearizationTable while unpacking, so the stored values are not available"
    for op in ops:
        if op.opcode_id not in _IMPLEMENTED:
            _refuse_or_skip(list_number, op, "is not implemented", path, warnings)
        elif problem is not None:
            _refuse_or_skip(list_number, op, f"cannot be applied ({problem})", path, warnings)
        elif cfa and op.opcode_id in (1, 2):
            _refuse_or_skip(list_number, op, "is a warp, which cannot be applied to a CFA mosaic", path, warnings)
        else:
            todo.append(op)
    if not todo:
        return tuple(applied), tuple(warnings)
    if list_number == 1:
        t, l, b, r = 0, 0, *layout.stored_size
    else:
        t, l, b, r = layout.active_area
    nch = 1 if cfa else max(1, min(layout.samples_per_pixel, buf.shape[2]))
    region = buf[t:b, l:r] if cfa else buf[t:b, l:r, :nch]
    if list_number == 1:
        offset = np.zeros(region.shape, np.float64)
        scale = np.full(region.shape, 65535.0)
    else:
        black = np.asarray(raw.black_level_per_channel, dtype=np.float64)
        white = float(raw.white_level)
        if cfa:
            offset = black[np.asarray(raw.raw_colors)[t:b, l:r]]
        else:
            offset = np.broadcast_to(black[:nch], region.shape).astype(np.float64)
        scale = white - offset
        if np.any(scale <= 0):
            raise CorruptInputError(f"white level {white:g} is not above the black level; cannot linearise for OpcodeList2", path)
    values = ((region.astype(np.float64) - offset) / scale).astype(np.float32)
    out = _apply(values, todo, list_number, path).astype(np.float64)
    stored = np.clip(np.rint(out * scale + offset), 0, 65535).astype(np.uint16)
    if cfa:
        buf[t:b, l:r] = stored
    else:
        buf[t:b, l:r, :nch] = stored
    return tuple(applied) + tuple(_label(list_number, op) for op in todo), tuple(warnings)


def _libraw_lossy_map_polynomials(ops: tuple, layout: DngRawLayout, path: object, applied: list[str], warnings: list[str]) -> tuple:
    """Split off the MapPolynomials LibRaw's lossy-DNG loader has already applied.

    LibRaw ``lossy_dng_load_raw`` (as dcraw's) walks OpcodeList2 and, for every MapPolynomial
    until one with plane > 2 or degree > 8, maps the 8-bit JPEG values ``i`` through
    ``poly(i / 255) · 65535`` for that plane, over the whole image (area and pitch ignored).
    Those are recorded as applied (never applied twice); a difference from the specification
    (a partial area, a pitch, an earlier opcode that should have run first) is a warning.
    Returns the opcodes left for us to apply.
    """
    rest = []
    h, w = layout.active_area[2] - layout.active_area[0], layout.active_area[3] - layout.active_area[1]
    stopped = False
    for op in ops:
        p = op.params
        if op.opcode_id == 8 and not stopped and p["plane"] <= 2 and p["degree"] <= 8:
            applied.append(_label(2, op))
            if rest:
                warnings.append(f"{path}: OpcodeList2 MapPolynomial was applied by LibRaw while unpacking, before "
                                f"{'+'.join(o.name for o in rest)} which precede it in the list")
            if (p["top"], p["left"], p["row_pitch"], p["col_pitch"], p["planes"]) != (0, 0, 1, 1, 1) or p["bottom"] < h or p["right"] < w:
                warnings.append(f"{path}: OpcodeList2 MapPolynomial of plane {p['plane']} was applied by LibRaw to the "
                                "whole image, not only to the area and pitch the opcode names")
            continue
        if op.opcode_id == 8:
            stopped = True
        rest.append(op)
    return tuple(rest)


#: dcraw/LibRaw ``xyz_rgb``: linear sRGB (D65) → CIE XYZ, used to turn a camera's ``cam_xyz``
#: (Adobe's ColorMatrix) into ``rgb_cam``.
LIBRAW_XYZ_FROM_SRGB = np.array(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]]
)


def libraw_rgb_cam(raw: Any, *, use_camera_wb: bool = True, is_dng: bool = True) -> np.ndarray | None:
    """LibRaw's ``rgb_cam``: white-balanced camera RGB → linear sRGB (3×3), as its develop uses it.

    Parameters
    ----------
    raw : rawpy.RawPy
    use_camera_wb : bool
        The develop uses the camera's white balance (LibRaw then prefers a matrix embedded in
        a non-DNG file too).
    is_dng : bool
        The file is a DNG (LibRaw always uses its embedded matrix).

    Returns
    -------
    ndarray, shape (3, 3), float64, or None
        The file's own matrix (``RawPy.color_matrix``, LibRaw's ``cmatrix``) when LibRaw uses it
        (``use_camera_matrix = 1``: DNGs, or any file developed with the camera's white balance,
        and ``cmatrix[0][0] > 0.125``); else the one LibRaw derives from ``rgb_xyz_matrix``
        (``cam_xyz``): rows of ``cam_xyz · xyz_rgb`` normalised to sum 1, pseudo-inverted. ``None``
        when the file gives neither (LibRaw then outputs camera RGB as is).

    References
    ----------
    LibRaw ``cam_xyz_coeff`` and ``convert_to_rgb`` (dcraw.c of the same names); LibRaw API notes,
    ``use_camera_matrix``.
    """
    cm = np.asarray(raw.color_matrix, np.float64)[:3, :3]
    if cm[0, 0] > 0.125 and (is_dng or use_camera_wb):
        return cm
    cam_xyz = np.asarray(raw.rgb_xyz_matrix, np.float64)[:3, :3]
    if not np.any(cam_xyz):
        return None
    cam_rgb = cam_xyz @ LIBRAW_XYZ_FROM_SRGB
    sums = cam_rgb.sum(axis=1, keepdims=True)
    if not np.all(np.isfinite(sums)) or np.any(sums == 0):
        return None
    return np.linalg.pinv(cam_rgb / sums)


def libraw_camera_to_rec2020(raw: Any, *, use_camera_wb: bool = True, is_dng: bool = True) -> np.ndarray | None:
    """The 3×3 matrix LibRaw applies from white-balanced camera RGB to linear Rec.2020.

    Parameters
    ----------
    raw : rawpy.RawPy
    use_camera_wb, is_dng : bool
        As :func:`libraw_rgb_cam`.

    Returns
    -------
    ndarray, shape (3, 3), float64, or None
        ``M = rec2020_rgb · rgb_cam``: ``rec2020 = M @ camera`` per pixel (``None`` as
        :func:`libraw_rgb_cam`).

    References
    ----------
    LibRaw ``convert_to_rgb`` (``out_cam[i][j] = Σ_k out_rgb[i][k] · rgb_cam[k][j]``).
    """
    rgb_cam = libraw_rgb_cam(raw, use_camera_wb=use_camera_wb, is_dng=is_dng)
    return None if rgb_cam is None else LIBRAW_REC2020_FROM_SRGB @ rgb_cam


def _uniform(op, nch: int) -> bool:
    """True when the opcode acts identically on every colour plane (commutes with a 3x3 matrix)."""
    p = op.params
    if op.opcode_id in (1, 2):
        return len(p["planes"]) == 1
    if op.opcode_id == 3:
        return True
    if op.opcode_id == 9:
        g = p["gain_map"]
        return g.map_planes == 1 and g.plane == 0 and g.planes >= nch
    return False  # MapPolynomial: non-linear, or per-plane


def _scale_area(op, fy: float, fx: float):
    """The opcode with its pixel area scaled (half-size decodes)."""
    import math

    p = dict(op.params)
    if op.opcode_id == 8:
        p.update(top=int(p["top"] * fy), left=int(p["left"] * fx), bottom=math.ceil(p["bottom"] * fy),
                 right=math.ceil(p["right"] * fx), row_pitch=max(1, int(p["row_pitch"] * fy)), col_pitch=max(1, int(p["col_pitch"] * fx)))
    elif op.opcode_id == 9:
        g = p["gain_map"]
        p["gain_map"] = dataclasses.replace(
            g, top=int(g.top * fy), left=int(g.left * fx), bottom=math.ceil(g.bottom * fy), right=math.ceil(g.right * fx),
            row_pitch=max(1, int(g.row_pitch * fy)), col_pitch=max(1, int(g.col_pitch * fx)))
    else:
        return op
    return dataclasses.replace(op, params=p)


def apply_demosaiced_opcode_list(
    image: np.ndarray,
    layout: DngRawLayout,
    camera_to_working: np.ndarray,
    path: object = None,
    *,
    unavailable: str | None = None,
) -> tuple[np.ndarray, tuple[str, ...], tuple[str, ...]]:
    """Apply OpcodeList3 to the demosaiced image (a pure function).

    Parameters
    ----------
    image : ndarray, shape (H, W, 3), float32
        LibRaw's demosaiced output, scene-linear working space (Rec.2020), sensor orientation,
        covering the active area (``H, W`` may be half of it for half-size decodes: pixel areas
        of GainMap/MapPolynomial are then scaled, relative coordinates need nothing).
    layout : DngRawLayout
    camera_to_working : ndarray, shape (3, 3)
        White-balanced camera RGB → working space (:func:`libraw_camera_to_rec2020`); per-plane
        opcodes run in camera RGB.
    path : str or PathLike, optional
        For messages.
    unavailable : str, optional
        Why no opcode can be applied (e.g. LibRaw's output does not cover the active area);
        each opcode is then refused or, if optional, skipped with this reason.

    Returns
    -------
    image : ndarray, shape (H, W, 3), float32
        A new array (the input is not modified); values are not clipped.
    applied : tuple of str
    warnings : tuple of str

    Raises
    ------
    UnsupportedOpcodeError
        A non-optional opcode that is not implemented (or cannot be applied, ``unavailable``).
    CorruptInputError
        An opcode whose parameters are unusable (a folding warp, named with its radius).
    """
    ops = tuple(layout.opcodes.get(3, ()))
    warnings: list[str] = []
    if not ops:
        return image, (), ()
    if image.ndim != 3 or image.shape[2] != 3:
        raise UsageError(f"OpcodeList3 needs an (H, W, 3) image, got shape {image.shape}")
    t, l, b, r = layout.active_area
    fy, fx = image.shape[0] / (b - t), image.shape[1] / (r - l)
    todo = []
    for op in ops:
        if op.opcode_id not in _IMPLEMENTED:
            _refuse_or_skip(3, op, "is not implemented", path, warnings)
        elif unavailable is not None:
            _refuse_or_skip(3, op, f"cannot be applied ({unavailable})", path, warnings)
        elif abs(fy - 1) > 0.01 or abs(fx - 1) > 0.01:
            todo.append(_scale_area(op, fy, fx))
        else:
            todo.append(op)
    out = np.asarray(image, dtype=np.float32)
    m = np.asarray(camera_to_working, dtype=np.float64)
    m_inv = np.linalg.inv(m)
    for op in todo:
        if _uniform(op, out.shape[2]):
            out = _apply(out, [op], 3, path)
        else:
            cam = (out.reshape(-1, 3).astype(np.float64) @ m_inv.T).astype(np.float32).reshape(out.shape)
            cam = _apply(cam, [op], 3, path)
            out = (cam.reshape(-1, 3).astype(np.float64) @ m.T).astype(np.float32).reshape(out.shape)
    return out, tuple(_label(3, op) for op in todo), tuple(warnings)
