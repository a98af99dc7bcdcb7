"""Academy/ASC Common LUT Format (CLF, SMPTE ST 2136-1) reader and evaluator.

Supported process nodes: ``Matrix`` (3x3 and 3x4), ``LUT1D`` (incl. ``halfDomain``),
``LUT3D`` (trilinear, tetrahedral), ``Range`` (clamp / noClamp), ``Log`` (log10, log2,
antiLog10, antiLog2, linToLog, logToLin, cameraLinToLog, cameraLogToLin), ``Exponent``
(basic, basicMirror, basicPassThru, monCurve, monCurveMirror; Fwd and Rev) and ``ASC_CDL``
(Fwd, Rev, FwdNoClamp, RevNoClamp). Bit depths (``8i, 10i, 12i, 16i, 16f, 32f``) are handled
by keeping values normalised (0-1 full scale) between nodes: each node scales by its
``inBitDepth`` on the way in and its ``outBitDepth`` on the way out where its parameters are
expressed in code values (Matrix, Range, LUT outputs), as the specification describes.

Parsed with defusedxml (no DTDs, entities or network access).

References
----------
Academy / ASC "Common LUT Format (CLF) - A Common File Format for Look-Up Tables",
S-2014-006 v3.0 (2021), §§ 5-6 (process nodes and formulas); SMPTE ST 2136-1:2024. OpenColorIO
``src/OpenColorIO/ops/`` (log, exponent, CDL, range) was consulted for the exact
cameraLinToLog / monCurve breakpoints.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from l2tech.color._io import read_text
from l2tech.color.lut import LUT3D, MAX_LUT1D_SIZE, MAX_LUT3D_SIZE, MAX_LUT_VALUE, MIN_LUT_SIZE
from l2tech.errors import LUTError

__all__ = ["ProcessNode", "ProcessList", "read_clf"]

_BIT_SCALE = {"8i": 255.0, "10i": 1023.0, "12i": 4095.0, "16i": 65535.0, "16f": 1.0, "32f": 1.0}


@dataclass(frozen=True)
class ProcessNode:
    """One CLF process node: its tag, attributes and a vectorised function on normalised RGB."""

    kind: str
    name: str
    function: Callable[[np.ndarray], np.ndarray]
    attributes: dict[str, str] = field(default_factory=dict)

    def apply(self, rgb: np.ndarray) -> np.ndarray:
        """Apply the node to normalised ``(..., 3)`` float64 RGB."""
        return self.function(rgb)


@dataclass(frozen=True)
class ProcessList:
    """A parsed CLF file: ordered process nodes.

    ``apply`` takes and returns normalised RGB (``(..., 3)``), float64 inside; the result is in
    the last node's output scale divided by its bit-depth maximum (0-1 for code values).
    """

    nodes: tuple[ProcessNode, ...]
    name: str = ""
    id: str = ""
    description: str = ""
    input_descriptor: str = ""
    output_descriptor: str = ""
    path: str = ""

    def apply(self, rgb: np.ndarray, interpolation: str | None = None) -> np.ndarray:
        """Evaluate the whole list.

        Parameters
        ----------
        rgb : ndarray, shape (..., 3), float32 or float64
            Input scaled 0-1 for integer input bit depths (float depths: as is).
        interpolation : ignored
            Each LUT3D node uses its own ``interpolation`` attribute.

        Returns
        -------
        ndarray, shape (..., 3), float64

        Raises
        ------
        LUTError
            The input's shape, or an output that is not finite (for a finite input) or beyond
            float32's range: the nodes, each within its range, multiply past it.
        """
        x = np.array(rgb, dtype=np.float64)
        if x.ndim == 0 or x.shape[-1] != 3:
            raise LUTError(f"CLF input must have shape (..., 3), got {x.shape}", self.path or None)
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            for node in self.nodes:
                x = node.apply(x)
            # NaN and inf fail the comparison; an inf or NaN input may stay one
            if not np.all((np.abs(x) <= _FLOAT32_MAX) | ~np.isfinite(rgb)):
                # each node within its range, the chain can still overflow: a 1000x matrix then an
                # exponent of 100 gave NumPy's "overflow encountered in cast" and a white image
                raise LUTError("the transform's output is not finite or beyond float32's range for this input "
                               "(its nodes multiply past it)", self.path or None)
        return x

    @property
    def size(self) -> int | None:
        """Grid size of the first LUT3D node, if any (for display)."""
        for n in self.nodes:
            if "size" in n.attributes:
                return int(n.attributes["size"])
        return None


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(el: Any, name: str) -> Any | None:
    for c in el:
        if _local(c.tag) == name:
            return c
    return None


def _children(el: Any, name: str) -> list[Any]:
    return [c for c in el if _local(c.tag) == name]


class _Ctx:
    def __init__(self, path: Path, text: str):
        self.path = path
        self.text = text

    def line_of(self, el: Any) -> int | None:
        return getattr(el, "sourceline", None)

    def error(self, msg: str, el: Any = None) -> LUTError:
        return LUTError(msg, self.path, self.line_of(el) if el is not None else None)

    def floats(self, text: str | None, el: Any, what: str, allow_inf: bool = False) -> np.ndarray:
        try:
            vals = np.array((text or "").split(), dtype=np.float64)
        except ValueError:
            raise self.error(f"non-numeric value in {what}", el) from None
        if np.any(np.isnan(vals)) or (not allow_inf and np.any(np.isinf(vals))):
            raise self.error(f"NaN or infinite value in {what}", el)
        return vals

    def attr_float(self, el: Any, name: str, default: float | None = None) -> float:
        v = el.get(name)
        if v is None:
            if default is None:
                raise self.error(f"<{_local(el.tag)}> lacks attribute {name}", el)
            return default
        try:
            f = float(v)
        except ValueError:
            raise self.error(f"attribute {name}={v!r} is not a number", el) from None
        if not np.isfinite(f):
            raise self.error(f"attribute {name}={v!r} is not finite", el)
        if abs(f) > MAX_LUT_VALUE:  # no CLF parameter is this large (half-float ranges end at 65504)
            raise self.error(f"attribute {name}={v!r} is beyond ±{MAX_LUT_VALUE:g}", el)
        return f

    def depth(self, el: Any, name: str) -> float:
        v = el.get(name, "32f")
        if v not in _BIT_SCALE:
            raise self.error(f"{name}={v!r}; valid: {', '.join(_BIT_SCALE)}", el)
        return _BIT_SCALE[v]


def _array(ctx: _Ctx, node: Any, ndims: int) -> tuple[list[int], np.ndarray]:
    arr = _child(node, "Array")
    if arr is None:
        raise ctx.error(f"<{_local(node.tag)}> has no <Array>", node)
    try:
        dim = [int(v) for v in arr.get("dim", "").split()]
    except ValueError:
        raise ctx.error(f"bad Array dim {arr.get('dim')!r}", arr) from None
    if len(dim) != ndims:
        raise ctx.error(f"Array dim {arr.get('dim')!r} must have {ndims} numbers", arr)
    return dim, arr


def _matrix(ctx: _Ctx, el: Any, si: float, so: float) -> Callable:
    dim, arr = _array(ctx, el, 2)
    if dim not in ([3, 3], [3, 4]):
        raise ctx.error(f"Matrix dim {dim} unsupported; need 3 3 or 3 4", arr)
    vals = ctx.floats(arr.text, arr, "Matrix")
    if vals.size != dim[0] * dim[1]:
        raise ctx.error(f"Matrix has {vals.size} values, dim says {dim[0] * dim[1]}", arr)
    m = vals.reshape(dim)
    mat, off = m[:, :3], (m[:, 3] if dim[1] == 4 else np.zeros(3))

    def f(x: np.ndarray) -> np.ndarray:
        return ((x * si) @ mat.T + off) / so

    return f


def _half_domain_xy(table: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    codes = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    xs = codes.view(np.float16).astype(np.float64)
    ok = np.isfinite(xs)
    xs, ys = xs[ok], table[ok]
    order = np.argsort(xs, kind="stable")
    xs, ys = xs[order], ys[order]
    keep = np.concatenate([[True], np.diff(xs) > 0])  # +0 / -0
    return xs[keep], ys[keep]


def _lut1d(ctx: _Ctx, el: Any, si: float, so: float) -> Callable:
    dim, arr = _array(ctx, el, 2)
    n, comps = dim
    if not MIN_LUT_SIZE <= n <= MAX_LUT1D_SIZE or comps not in (1, 3):
        raise ctx.error(f"LUT1D dim {n} {comps}: size must be {MIN_LUT_SIZE}-{MAX_LUT1D_SIZE}, components 1 or 3", arr)
    half = el.get("halfDomain", "false").lower() == "true"
    # A halfDomain table has an entry for every half-float code; codes far outside the
    # curve's range legitimately hold inf (e.g. OCIO's Apple Log), so inf is allowed there.
    vals = ctx.floats(arr.text, arr, "LUT1D", allow_inf=half)
    if vals.size != n * comps:
        raise ctx.error(f"LUT1D has {vals.size} values, dim says {n * comps}", arr)
    if el.get("rawHalfs", "false").lower() == "true":
        vals = vals.astype(np.uint16).view(np.float16).astype(np.float64)
    table = np.repeat(vals.reshape(n, 1), 3, axis=1) if comps == 1 else vals.reshape(n, 3)
    table = table / so
    if half:
        if n != 65536:
            raise ctx.error(f"halfDomain LUT1D must have 65536 entries, has {n}", arr)
        pairs = [_half_domain_xy(table[:, c]) for c in range(3)]

        def fh(x: np.ndarray) -> np.ndarray:
            xin = x * si
            return np.stack([np.interp(xin[..., c], *pairs[c]) for c in range(3)], axis=-1)

        return fh
    xp = np.linspace(0.0, 1.0, n)

    def f(x: np.ndarray) -> np.ndarray:
        return np.stack([np.interp(x[..., c], xp, table[:, c]) for c in range(3)], axis=-1)

    return f


def _lut3d(ctx: _Ctx, el: Any, si: float, so: float) -> tuple[Callable, int]:
    dim, arr = _array(ctx, el, 4)
    n = dim[0]
    if dim[3] != 3 or not dim[0] == dim[1] == dim[2] or not MIN_LUT_SIZE <= n <= MAX_LUT3D_SIZE:
        raise ctx.error(f"LUT3D dim {dim}: need N N N 3 with N {MIN_LUT_SIZE}-{MAX_LUT3D_SIZE}", arr)
    vals = ctx.floats(arr.text, arr, "LUT3D")
    if vals.size != n**3 * 3:
        raise ctx.error(f"LUT3D has {vals.size} values, dim says {n**3 * 3}", arr)
    lut = LUT3D(vals.reshape(n, n, n, 3) / so)  # CLF order: blue fastest = [r, g, b]
    interp = el.get("interpolation", "trilinear")
    if interp not in ("trilinear", "tetrahedral"):
        raise ctx.error(f"LUT3D interpolation {interp!r}; valid: trilinear, tetrahedral", el)

    def f(x: np.ndarray) -> np.ndarray:
        return lut.apply(x.astype(np.float64), interp)

    return f, n


def _range(ctx: _Ctx, el: Any, si: float, so: float) -> Callable:
    def val(name: str) -> float | None:
        c = _child(el, name)
        if c is None:
            return None
        v = ctx.floats(c.text, c, name)
        if v.size != 1:
            raise ctx.error(f"{name} must hold one number", c)
        return float(v[0])

    lo_in, hi_in, lo_out, hi_out = (val(k) for k in ("minInValue", "maxInValue", "minOutValue", "maxOutValue"))
    clamp = el.get("style", "Clamp").lower() != "noclamp"
    if (lo_in is None) != (lo_out is None) or (hi_in is None) != (hi_out is None):
        raise ctx.error("Range needs minInValue with minOutValue and maxInValue with maxOutValue", el)
    if lo_in is not None and hi_in is not None:
        if lo_in >= hi_in:
            raise ctx.error(f"Range minInValue {lo_in} is not below maxInValue {hi_in}", el)
        scale = (hi_out - lo_out) / (hi_in - lo_in)  # type: ignore[operator]

        def f(x: np.ndarray) -> np.ndarray:
            y = (x * si - lo_in) * scale + lo_out
            if clamp:
                y = np.clip(y, lo_out, hi_out)
            return y / so

        return f
    if lo_in is None and hi_in is None:
        raise ctx.error("Range has neither min nor max values", el)

    def g(x: np.ndarray) -> np.ndarray:  # min-only / max-only: clamp with the bit-depth scale
        y = x * so
        if lo_in is not None:
            y = np.maximum(y, lo_out)
        if hi_in is not None:
            y = np.minimum(y, hi_out)
        return y / so

    return g


def _log(ctx: _Ctx, el: Any) -> Callable:
    style = el.get("style", "")
    params = _children(el, "LogParams")
    simple = {
        "log10": lambda x: np.log10(np.maximum(x, np.finfo(np.float64).tiny)),
        "log2": lambda x: np.log2(np.maximum(x, np.finfo(np.float64).tiny)),
        "antiLog10": lambda x: 10.0**x,
        "antiLog2": lambda x: 2.0**x,
    }
    if style in simple:
        return simple[style]
    if style not in ("linToLog", "logToLin", "cameraLinToLog", "cameraLogToLin"):
        raise ctx.error(f"Log style {style!r} unsupported", el)
    per_channel: list[Callable] = []
    by_ch: dict[str, Any] = {}
    for p in params:
        by_ch[p.get("channel", "RGB")] = p
    for ch in "RGB":
        p = by_ch.get(ch, by_ch.get("RGB"))
        if p is None:
            raise ctx.error("Log node lacks LogParams", el)
        base = ctx.attr_float(p, "base", 2.0)
        ls, lo = ctx.attr_float(p, "logSideSlope", 1.0), ctx.attr_float(p, "logSideOffset", 0.0)
        ns, no = ctx.attr_float(p, "linSideSlope", 1.0), ctx.attr_float(p, "linSideOffset", 0.0)
        camera = style.startswith("camera")
        brk = ctx.attr_float(p, "linSideBreak") if camera else None
        if not base > 0.0 or base == 1.0:  # CLF v3 §6.6; a base <= 0 or 1 has no logarithm
            raise ctx.error(f"LogParams base={base:g}: the base must be positive and not 1", p)
        if ls == 0.0 or ns == 0.0:
            raise ctx.error("LogParams logSideSlope and linSideSlope must not be 0", p)
        lb = np.log(base)

        def lin_to_log(x, ls=ls, lo=lo, ns=ns, no=no, lb=lb):
            return ls * np.log(np.maximum(ns * x + no, np.finfo(np.float64).tiny)) / lb + lo

        def log_to_lin(y, ls=ls, lo=lo, ns=ns, no=no, base=base):
            return (base ** ((y - lo) / ls) - no) / ns

        if camera:
            if p.get("linearSlope") is not None:
                slope = ctx.attr_float(p, "linearSlope")
            else:  # continuous first derivative at the break (CLF v3 §6.6)
                slope = ls * ns / ((ns * brk + no) * lb)
            log_brk = float(lin_to_log(np.float64(brk)))
            offset = log_brk - slope * brk

            if style == "cameraLinToLog":

                def fn(x, brk=brk, slope=slope, offset=offset, f=lin_to_log):
                    return np.where(x <= brk, slope * x + offset, f(x))

            else:

                def fn(y, log_brk=log_brk, slope=slope, offset=offset, f=log_to_lin):
                    return np.where(y <= log_brk, (y - offset) / slope, f(y))

        else:
            fn = lin_to_log if style == "linToLog" else log_to_lin
        per_channel.append(fn)

    def f(x: np.ndarray) -> np.ndarray:
        return np.stack([per_channel[c](x[..., c]) for c in range(3)], axis=-1)

    return f


def _moncurve_fwd(x: np.ndarray, g: float, o: float) -> np.ndarray:
    brk = o / (g - 1.0)
    slope = ((brk + o) / (1.0 + o)) ** g / brk
    return np.where(x >= brk, ((x + o) / (1.0 + o)) ** g, x * slope)


def _moncurve_rev(y: np.ndarray, g: float, o: float) -> np.ndarray:
    brk = o / (g - 1.0)
    slope = ((brk + o) / (1.0 + o)) ** g / brk
    ybrk = brk * slope
    return np.where(y >= ybrk, (1.0 + o) * np.maximum(y, ybrk) ** (1.0 / g) - o, y / slope)


def _exponent(ctx: _Ctx, el: Any) -> Callable:
    style = el.get("style", "")
    valid = [
        f"{b}{d}" for b in ("basic", "basicMirror", "basicPassThru", "monCurve", "monCurveMirror") for d in ("Fwd", "Rev")
    ]
    if style not in valid:
        raise ctx.error(f"Exponent style {style!r}; valid: {', '.join(valid)}", el)
    by_ch = {p.get("channel", "RGB"): p for p in _children(el, "ExponentParams")}
    fns: list[Callable] = []
    for ch in "RGB":
        p = by_ch.get(ch, by_ch.get("RGB"))
        if p is None:
            raise ctx.error("Exponent node lacks ExponentParams", el)
        g = ctx.attr_float(p, "exponent")
        o = ctx.attr_float(p, "offset", 0.0)
        rev = style.endswith("Rev")
        base = style[:-3]
        # the parameter ranges OpenColorIO enforces (GammaOpData::validateParameters): basic
        # exponents 0.01-100, monCurve exponent 1-10 with offset up to 0.9; 1e308 made an
        # all-black image, -1e308 an all-white one
        if base.startswith("monCurve"):
            if not (1.0 <= g <= 10.0) or not (0.0 < o <= 0.9):
                raise ctx.error(f"monCurve needs 1 <= exponent <= 10 and 0 < offset <= 0.9, got {g:g}, {o:g}", p)
            core = (lambda v, g=g, o=o: _moncurve_rev(v, g, o)) if rev else (lambda v, g=g, o=o: _moncurve_fwd(v, g, o))
            mirror = base == "monCurveMirror"
            fns.append((lambda v, core=core: np.sign(v) * core(np.abs(v))) if mirror else core)
        else:
            if not 0.01 <= g <= 100.0:
                raise ctx.error(f"exponent={g:g}: a basic exponent must be within 0.01-100", p)
            e = 1.0 / g if rev else g
            if base == "basic":
                fns.append(lambda v, e=e: np.maximum(v, 0.0) ** e)
            elif base == "basicMirror":
                fns.append(lambda v, e=e: np.sign(v) * np.abs(v) ** e)
            else:
                fns.append(lambda v, e=e: np.where(v >= 0, np.abs(v) ** e, v))

    def f(x: np.ndarray) -> np.ndarray:
        return np.stack([fns[c](x[..., c]) for c in range(3)], axis=-1)

    return f


_LUMA_709 = np.array([0.2126, 0.7152, 0.0722])


def _cdl(ctx: _Ctx, el: Any) -> Callable:
    style = el.get("style", "Fwd")
    if style not in ("Fwd", "Rev", "FwdNoClamp", "RevNoClamp"):
        raise ctx.error(f"ASC_CDL style {style!r}; valid: Fwd, Rev, FwdNoClamp, RevNoClamp", el)
    sop = _child(el, "SOPNode")
    satn = _child(el, "SatNode")

    def three(name: str, default: float) -> np.ndarray:
        c = _child(sop, name) if sop is not None else None
        if c is None:
            return np.full(3, default)
        v = ctx.floats(c.text, c, name)
        if v.size != 3:
            raise ctx.error(f"{name} needs 3 values, found {v.size}", c)
        return v

    slope, offset, power = three("Slope", 1.0), three("Offset", 0.0), three("Power", 1.0)
    sat = 1.0
    if satn is not None:
        s = _child(satn, "Saturation")
        if s is not None:
            v = ctx.floats(s.text, s, "Saturation")
            if v.size != 1:
                raise ctx.error("Saturation needs one value", s)
            sat = float(v[0])
    clamp = not style.endswith("NoClamp")

    def clip(x: np.ndarray) -> np.ndarray:
        return np.clip(x, 0.0, 1.0) if clamp else x

    def pw(x: np.ndarray, p: np.ndarray) -> np.ndarray:
        return np.where(x > 0, np.abs(x) ** p, x) if not clamp else x**p

    def saturate(x: np.ndarray, s: float) -> np.ndarray:
        luma = x @ _LUMA_709
        return luma[..., None] + s * (x - luma[..., None])

    def fwd(x: np.ndarray) -> np.ndarray:
        y = clip(x * slope + offset)
        y = pw(y, power)
        return clip(saturate(y, sat))

    def rev(x: np.ndarray) -> np.ndarray:
        y = clip(x)
        y = clip(saturate(y, 1.0 / sat))
        y = pw(y, 1.0 / power)
        return clip((y - offset) / slope)

    return fwd if style.startswith("Fwd") else rev


def read_clf(path: str | os.PathLike) -> ProcessList:
    """Read a CLF (``.clf``) file into a :class:`ProcessList`.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    ProcessList

    Raises
    ------
    LUTError
        Malformed XML, an unsupported node or style, bad sizes (checked before allocation),
        wrong value counts, NaN/inf; the message names the file (and line where known).
    EmptyFileError
        Zero-byte file.
    """
    import defusedxml.ElementTree as DET  # noqa: PLC0415
    from defusedxml import DefusedXmlException  # noqa: PLC0415

    p = Path(path)
    text = read_text(p)
    ctx = _Ctx(p, text)
    try:
        root = DET.fromstring(text.encode("utf-8"))
    except DefusedXmlException as exc:
        raise LUTError(f"refused unsafe XML ({type(exc).__name__})", p) from None
    except Exception as exc:  # xml.etree.ElementTree.ParseError
        pos = getattr(exc, "position", None)
        raise LUTError(f"malformed XML: {exc}", p, pos[0] if pos else None) from None
    if _local(root.tag) != "ProcessList":
        raise LUTError(f"root element is <{_local(root.tag)}>, expected <ProcessList>", p)
    nodes: list[ProcessNode] = []
    for el in root:
        kind = _local(el.tag)
        if kind in ("Description", "InputDescriptor", "OutputDescriptor", "Info", "Id"):
            continue
        si, so = ctx.depth(el, "inBitDepth"), ctx.depth(el, "outBitDepth")
        attrs = dict(el.attrib)
        if kind == "Matrix":
            fn = _matrix(ctx, el, si, so)
        elif kind == "LUT1D":
            fn = _lut1d(ctx, el, si, so)
        elif kind == "LUT3D":
            fn, n = _lut3d(ctx, el, si, so)
            attrs["size"] = str(n)
        elif kind == "Range":
            fn = _range(ctx, el, si, so)
        elif kind == "Log":
            fn = _log(ctx, el)
        elif kind == "Exponent":
            fn = _exponent(ctx, el)
        elif kind == "ASC_CDL":
            fn = _cdl(ctx, el)
        else:
            raise LUTError(
                f"unsupported CLF node <{kind}>; supported: Matrix, LUT1D, LUT3D, Range, Log, Exponent, ASC_CDL", p
            )
        nodes.append(ProcessNode(kind, el.get("name", ""), fn, attrs))
    if not nodes:
        raise LUTError("ProcessList has no process nodes", p)

    def text_of(tag: str) -> str:
        c = _child(root, tag)
        return (c.text or "").strip() if c is not None else ""

    return ProcessList(
        tuple(nodes),
        name=root.get("name", ""),
        id=root.get("id", "") or text_of("Id"),
        description=text_of("Description"),
        input_descriptor=text_of("InputDescriptor"),
        output_descriptor=text_of("OutputDescriptor"),
        path=str(p),
    )
