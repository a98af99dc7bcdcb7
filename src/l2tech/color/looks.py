"""Looks (photo styles) defined as data files, applied as pure functions of the image.

A look is a TOML (or JSON) file: a name, the *working gamut* its numbers are defined in, and
an ordered list of stages. Every stage takes and returns **scene-linear RGB in the look's
working gamut** (float32, values beyond 1 kept), so a look slots between RAW/video decoding
and the output encoding; a ``tone_curve`` or ``lut`` stage encodes, works, and decodes back
internally. The only spatial stage is ``grain``; its noise depends only on the image size and
the seed, so a still and a video frame with the same content and size get identical pixels.

Schema (``docs/COLOR.md`` has the full reference)::

    schema = 1
    name = "mono"
    description = "Black and white, gentle S-curve"
    working_gamut = "Rec.709"          # a key of GAMUTS
    [[stage]]
    type = "mono"                      # see LOOK_STAGES
    filter = "yellow"
    [[stage]]
    type = "tone_curve"
    encoding = "sRGB"
    points = [[0, 0], [0.25, 0.21], [0.5, 0.5], [0.75, 0.79], [1, 1]]

Built-in looks live in ``l2tech/data/looks``; users add looks in ``$L2TECH_LOOK_DIR`` or
``~/.local/share/l2tech/looks`` (a user look of the same name wins).

References
----------
Monotone cubic interpolation: F. N. Fritsch and R. E. Carlson, "Monotone Piecewise Cubic
Interpolation", SIAM J. Numer. Anal. 17(2), 1980. Luminance weights: the Y row of the working
gamut's RGB->XYZ matrix (colour-science).
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from l2tech.color._registry import Registry, canonical_key
from l2tech.color.gamut import GAMUTS, RGB_to_RGB, matrix_RGB_to_XYZ
from l2tech.color.transfer import LOG_ENCODINGS, decode, encode
from l2tech.errors import L2Error, LUTError, UsageError

__all__ = [
    "Look",
    "LookStage",
    "LOOK_STAGES",
    "MONO_FILTERS",
    "apply_look",
    "load_look",
    "list_looks",
    "look_from_mapping",
    "lut_look",
    "user_look_dir",
]

#: Channel-mixer weights of the classic black-and-white contrast filters, applied to linear
#: Rec.709-like RGB (each sums to 1 so grey stays grey). "none" is the working gamut's own
#: luminance row. These are l2tech's choices, modelled on the behaviour of Wratten 8
#: (yellow), 21 (orange), 25 (red) and 11 (green) filters on panchromatic film: warm filters
#: darken blue skies, green lightens foliage.
MONO_FILTERS: dict[str, tuple[float, float, float] | None] = {
    "none": None,
    "yellow": (0.32, 0.62, 0.06),
    "orange": (0.45, 0.52, 0.03),
    "red": (0.62, 0.37, 0.01),
    "green": (0.15, 0.78, 0.07),
}


@dataclass(frozen=True)
class LookStage:
    """One stage of a look: its type (a key of :data:`LOOK_STAGES`) and validated parameters."""

    type: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Look:
    """A look: ordered stages over scene-linear RGB in ``working_gamut``.

    Parameters
    ----------
    name : str
    stages : tuple of LookStage
    working_gamut : str
        Gamut (a key of :data:`l2tech.color.GAMUTS`) the stages' numbers are defined in.
    description : str
    source : str
        The file it came from (``"builtin:mono.toml"``, a path) or ``""``.
    """

    name: str
    stages: tuple[LookStage, ...]
    working_gamut: str = "Rec.709"
    description: str = ""
    source: str = ""

    @property
    def spatial(self) -> bool:
        """True when a stage depends on pixel neighbourhoods/positions (e.g. grain)."""
        return any(_STAGES[s.type].spatial for s in self.stages)

    def without_spatial(self) -> "Look":
        """This look minus its spatial stages (what a 3D LUT can hold)."""
        return Look(self.name, tuple(s for s in self.stages if not _STAGES[s.type].spatial), self.working_gamut,
                    self.description, self.source)


# --------------------------------------------------------------------------- stages


@dataclass(frozen=True)
class _StageDef:
    validate: Callable[[dict, "_Ctx"], dict]
    apply: Callable[[np.ndarray, Mapping[str, Any], "_Env"], np.ndarray]
    spatial: bool
    signal: str


@dataclass
class _Ctx:
    source: str
    base_dir: Path | None

    def err(self, msg: str) -> LUTError:
        return LUTError(msg, self.source or None)


@dataclass(frozen=True)
class _Env:
    gamut: str
    #: Grain fields by (size, seed), cut to the rows being processed (:func:`apply_look` runs
    #: the stages strip by strip; the field itself is made once for the whole frame).
    grain_fields: Mapping[tuple[float, int], np.ndarray] = field(default_factory=dict)

    @property
    def luma(self) -> np.ndarray:
        return matrix_RGB_to_XYZ(self.gamut)[1].astype(np.float32)


def _finite(v: object) -> bool:
    """True for a real number that float64 holds (an integer beyond its range is not one)."""
    import math

    try:
        return math.isfinite(float(v))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return False


def _num(p: dict, key: str, ctx: _Ctx, default: float | None = None, lo: float = -np.inf, hi: float = np.inf) -> float:
    v = p.pop(key, default)
    if v is None:
        raise ctx.err(f"stage parameter {key!r} is required")
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not _finite(v) or not lo <= v <= hi:
        raise ctx.err(f"stage parameter {key!r} must be a number in [{lo}, {hi}], got {v!r}")
    return float(v)


def _vec3(p: dict, key: str, ctx: _Ctx, default: tuple[float, float, float] | None = None) -> np.ndarray:
    v = p.pop(key, default)
    try:
        arr = np.asarray(v, dtype=np.float64) if v is not None else None
    except (TypeError, ValueError, OverflowError):  # text or an integer beyond float64 in the file
        arr = None
    if arr is None or arr.shape != (3,) or not np.all(np.isfinite(arr)):
        raise ctx.err(f"stage parameter {key!r} must be 3 finite numbers, got {v!r}")
    return arr


def _v_exposure(p: dict, ctx: _Ctx) -> dict:
    return {"stops": _num(p, "stops", ctx, lo=-20, hi=20)}


def _a_exposure(img: np.ndarray, p: Mapping[str, Any], env: _Env) -> np.ndarray:
    return img * np.float32(2.0 ** p["stops"])


def _v_gains(p: dict, ctx: _Ctx) -> dict:
    g = _vec3(p, "gains", ctx)
    if np.any(g <= 0):
        raise ctx.err(f"white_balance gains must be positive, got {g.tolist()}")
    return {"gains": tuple(g.tolist()), "preserve_luminance": bool(p.pop("preserve_luminance", True))}


def _a_gains(img: np.ndarray, p: Mapping[str, Any], env: _Env) -> np.ndarray:
    g = np.asarray(p["gains"], dtype=np.float32)
    if p["preserve_luminance"]:
        g = g / np.float32(env.luma @ g)
    return img * g


def _v_saturation(p: dict, ctx: _Ctx) -> dict:
    return {"amount": _num(p, "amount", ctx, lo=0, hi=4)}


def _a_saturation(img: np.ndarray, p: Mapping[str, Any], env: _Env) -> np.ndarray:
    y = (img @ env.luma)[..., None]
    return y + np.float32(p["amount"]) * (img - y)


def _v_contrast(p: dict, ctx: _Ctx) -> dict:
    return {"amount": _num(p, "amount", ctx, lo=0.1, hi=4), "pivot": _num(p, "pivot", ctx, 0.18, lo=1e-4, hi=10)}


def _a_contrast(img: np.ndarray, p: Mapping[str, Any], env: _Env) -> np.ndarray:
    pivot, a = np.float32(p["pivot"]), np.float32(p["amount"])
    pos = np.maximum(img, 0) / pivot
    with np.errstate(divide="ignore"):
        return np.where(img > 0, pivot * pos**a, img).astype(np.float32)


def _v_mono(p: dict, ctx: _Ctx) -> dict:
    if "weights" in p:
        w = _vec3(p, "weights", ctx)
        if abs(w.sum()) < 1e-6:
            raise ctx.err("mono weights must not sum to 0")
        return {"weights": tuple((w / w.sum()).tolist()), "filter": "custom"}
    f = str(p.pop("filter", "none")).lower()
    if f not in MONO_FILTERS:
        raise ctx.err(f"unknown mono filter {f!r}; valid: {', '.join(MONO_FILTERS)}")
    return {"filter": f, "weights": MONO_FILTERS[f]}


def _a_mono(img: np.ndarray, p: Mapping[str, Any], env: _Env) -> np.ndarray:
    w = env.luma if p["weights"] is None else np.asarray(p["weights"], dtype=np.float32)
    y = img @ w
    return np.repeat(y[..., None], 3, axis=-1)


def _pchip_slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    h = np.diff(x)
    d = np.diff(y) / h
    m = np.zeros_like(y)
    if len(x) == 2:
        return np.full_like(y, d[0])
    for k in range(1, len(x) - 1):
        if d[k - 1] * d[k] <= 0:
            m[k] = 0.0
        else:
            w1, w2 = 2 * h[k] + h[k - 1], h[k] + 2 * h[k - 1]
            m[k] = (w1 + w2) / (w1 / d[k - 1] + w2 / d[k])
    m[0] = d[0]
    m[-1] = d[-1]
    return m


def _tone_table(points: tuple[tuple[float, float], ...], n: int = 4096) -> tuple[np.ndarray, np.ndarray, float, float]:
    pts = np.asarray(points, dtype=np.float64)
    x, y = pts[:, 0], pts[:, 1]
    m = _pchip_slopes(x, y)
    xs = np.linspace(x[0], x[-1], n)
    k = np.clip(np.searchsorted(x, xs, side="right") - 1, 0, len(x) - 2)
    h = x[k + 1] - x[k]
    t = (xs - x[k]) / h
    h00, h10, h01, h11 = 2 * t**3 - 3 * t**2 + 1, t**3 - 2 * t**2 + t, -2 * t**3 + 3 * t**2, t**3 - t**2
    ys = h00 * y[k] + h10 * h * m[k] + h01 * y[k + 1] + h11 * h * m[k + 1]
    return xs, ys, float(m[0]), float(m[-1])


def _v_tone(p: dict, ctx: _Ctx) -> dict:
    enc = p.pop("encoding", "sRGB")
    try:
        enc = LOG_ENCODINGS.canonical(enc)
    except UsageError as exc:
        raise ctx.err(str(exc)) from None
    pts = p.pop("points", None)
    try:
        arr = np.asarray(pts, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        arr = np.zeros((0,))
    if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) < 2 or not np.all(np.isfinite(arr)):
        raise ctx.err(f"tone_curve points must be a list of at least 2 [x, y] pairs, got {pts!r}")
    if np.any(np.diff(arr[:, 0]) <= 0):
        raise ctx.err("tone_curve points must have strictly increasing x")
    if np.any(np.diff(arr[:, 1]) < 0):
        raise ctx.err("tone_curve points must be non-decreasing in y (a curve that folds back is refused)")
    return {"encoding": enc, "points": tuple(map(tuple, arr.tolist()))}


def _a_tone(img: np.ndarray, p: Mapping[str, Any], env: _Env) -> np.ndarray:
    xs, ys, m0, m1 = _tone_table(p["points"])
    v = encode(img.astype(np.float32), p["encoding"])
    out = np.interp(v, xs, ys)
    # beyond the end points: continue with the end slopes (no clipping of scene values)
    out = np.where(v < xs[0], ys[0] + (v - xs[0]) * m0, out)
    out = np.where(v > xs[-1], ys[-1] + (v - xs[-1]) * m1, out)
    return decode(out.astype(np.float32), p["encoding"])


def _v_grain(p: dict, ctx: _Ctx) -> dict:
    try:
        enc = LOG_ENCODINGS.canonical(p.pop("encoding", "sRGB"))
    except UsageError as exc:
        raise ctx.err(str(exc)) from None
    return {
        "amount": _num(p, "amount", ctx, 0.03, lo=0, hi=1),
        "size": _num(p, "size", ctx, 0.0008, lo=0, hi=0.05),
        "seed": int(_num(p, "seed", ctx, 1, lo=0, hi=2**32 - 1)),
        "encoding": enc,
    }


def _grain_field(h: int, w: int, size: float, seed: int) -> np.ndarray:
    import cv2  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    noise = rng.standard_normal((h, w), dtype=np.float32)
    sigma = size * h
    if sigma >= 0.3:
        noise = cv2.GaussianBlur(noise, (0, 0), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT)
        std = float(noise.std())
        if std > 0:
            noise /= std
    return noise


def _a_grain(img: np.ndarray, p: Mapping[str, Any], env: _Env) -> np.ndarray:
    if img.ndim < 3:
        raise UsageError(f"grain needs an image of shape (H, W, 3) or (N, H, W, 3), got {img.shape}")
    noise = env.grain_fields.get((p["size"], p["seed"]))
    if noise is None:
        noise = _grain_field(img.shape[-3], img.shape[-2], p["size"], p["seed"])
    v = encode(img, p["encoding"])
    y = np.clip(v @ env.luma, 0.0, 1.0)
    weight = 4.0 * y * (1.0 - y)  # strongest in the mid-tones, none at black and white
    v = v + (np.float32(p["amount"]) * noise * weight)[..., None]
    return decode(v.astype(np.float32), p["encoding"])


def _v_lut(p: dict, ctx: _Ctx) -> dict:
    from l2tech.color.lut_io import read_lut  # noqa: PLC0415

    f = p.pop("file", None)
    if not isinstance(f, str) or not f:
        raise ctx.err("lut stage needs 'file' (path of a .cube/.3dl/.spi3d/.vlt/.clf)")
    path = Path(f).expanduser()
    if not path.is_absolute() and ctx.base_dir is not None:
        path = ctx.base_dir / path
    out: dict[str, Any] = {"file": str(path)}
    try:
        for key, default in (("input_encoding", "sRGB"), ("output_encoding", "sRGB")):
            out[key] = LOG_ENCODINGS.canonical(p.pop(key, default))
        for key, enc in (("input_gamut", out["input_encoding"]), ("output_gamut", out["output_encoding"])):
            out[key] = GAMUTS.canonical(p.pop(key, LOG_ENCODINGS[enc].default_gamut))
        from l2tech.color.lut import INTERPOLATIONS  # noqa: PLC0415

        out["interpolation"] = INTERPOLATIONS.canonical(p.pop("interpolation", "tetrahedral"))
    except UsageError as exc:
        raise ctx.err(str(exc)) from None
    out["lut"] = read_lut(path)
    return out


def _a_lut(img: np.ndarray, p: Mapping[str, Any], env: _Env) -> np.ndarray:
    x = RGB_to_RGB(img, env.gamut, p["input_gamut"])
    x = encode(x, p["input_encoding"])
    y = np.asarray(p["lut"].apply(x, p["interpolation"]), dtype=np.float32)
    y = decode(y, p["output_encoding"])
    return RGB_to_RGB(y, p["output_gamut"], env.gamut)


def _v_matrix(p: dict, ctx: _Ctx) -> dict:
    m = p.pop("matrix", None)
    try:
        arr = np.asarray(m, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        arr = np.zeros((0,))
    if arr.shape != (3, 3) or not np.all(np.isfinite(arr)) or np.any(np.abs(arr) > 4):
        raise ctx.err(f"matrix must be 3 rows of 3 numbers (|value| <= 4), got {m!r}")
    preserve = bool(p.pop("preserve_neutral", True))
    if preserve:
        arr = arr / arr.sum(axis=1, keepdims=True)
    return {"matrix": tuple(map(tuple, arr.tolist())), "preserve_neutral": preserve}


def _a_matrix(img: np.ndarray, p: Mapping[str, Any], env: _Env) -> np.ndarray:
    return (img @ np.asarray(p["matrix"], dtype=np.float32).T).astype(np.float32)


def _v_split(p: dict, ctx: _Ctx) -> dict:
    out = {}
    for key in ("shadows", "highlights"):
        g = _vec3(p, key, ctx, (1.0, 1.0, 1.0))
        if np.any(g <= 0):
            raise ctx.err(f"split_tone {key} gains must be positive, got {g.tolist()}")
        out[key] = tuple(g.tolist())
    out["pivot"] = _num(p, "pivot", ctx, 0.18, lo=1e-4, hi=10)
    return out


def _a_split(img: np.ndarray, p: Mapping[str, Any], env: _Env) -> np.ndarray:
    luma = env.luma
    y = np.maximum(img @ luma, 0.0)[..., None]
    w = (y / (y + np.float32(p["pivot"]))).astype(np.float32)  # 0 at black, 1/2 at the pivot, -> 1 in highlights
    gs, gh = (np.asarray(p[k], np.float32) for k in ("shadows", "highlights"))
    gs, gh = gs / np.float32(luma @ gs), gh / np.float32(luma @ gh)  # each tint keeps luminance
    return (img * ((1 - w) * gs + w * gh)).astype(np.float32)


_STAGES: dict[str, _StageDef] = {
    "exposure": _StageDef(_v_exposure, _a_exposure, False, "scene-linear in, scene-linear out"),
    "white_balance": _StageDef(_v_gains, _a_gains, False, "scene-linear in, scene-linear out"),
    "saturation": _StageDef(_v_saturation, _a_saturation, False, "scene-linear in, scene-linear out"),
    "contrast": _StageDef(_v_contrast, _a_contrast, False, "scene-linear in, scene-linear out (power about a pivot)"),
    "mono": _StageDef(_v_mono, _a_mono, False, "scene-linear in, scene-linear grey out"),
    "tone_curve": _StageDef(_v_tone, _a_tone, False, "scene-linear in; curve on the encoded values; decoded out"),
    "grain": _StageDef(_v_grain, _a_grain, True, "scene-linear in; noise added to encoded values; decoded out"),
    "lut": _StageDef(_v_lut, _a_lut, False, "scene-linear in; LUT on its input encoding/gamut; decoded out"),
    "matrix": _StageDef(_v_matrix, _a_matrix, False,
                        "scene-linear in, scene-linear out (3x3 channel mixer; rows normalised to sum 1 by default)"),
    "split_tone": _StageDef(_v_split, _a_split, False,
                            "scene-linear in, scene-linear out (shadow and highlight tints by luminance)"),
}

#: Registry of look stage types -> a one-line description of the signal state they expect.
LOOK_STAGES: Registry[str] = Registry("look stage", {k: v.signal for k, v in _STAGES.items()})


# --------------------------------------------------------------------------- loading


def look_from_mapping(data: Mapping[str, Any], source: str = "", base_dir: Path | None = None) -> Look:
    """Build a :class:`Look` from the parsed contents of a look file.

    Raises
    ------
    LUTError
        Unknown keys or stage types, bad parameter values (message names ``source``).
    """
    ctx = _Ctx(source, base_dir)
    d = dict(data)
    schema = d.pop("schema", 1)
    if schema != 1:
        raise ctx.err(f"unsupported look schema {schema!r}; this l2tech reads schema 1")
    name = str(d.pop("name", Path(source).stem if source else "look"))
    description = str(d.pop("description", ""))
    try:
        gamut = GAMUTS.canonical(d.pop("working_gamut", "Rec.709"))
    except UsageError as exc:
        raise ctx.err(str(exc)) from None
    raw_stages = d.pop("stage", d.pop("stages", []))
    if d:
        raise ctx.err(f"unknown look keys: {', '.join(sorted(d))}; valid: schema, name, description, working_gamut, stage")
    if not isinstance(raw_stages, list):
        raise ctx.err("'stage' must be a list of tables ([[stage]] in TOML)")
    stages = []
    for i, st in enumerate(raw_stages, start=1):
        if not isinstance(st, Mapping) or "type" not in st:
            raise ctx.err(f"stage {i} needs a 'type'; valid: {', '.join(_STAGES)}")
        p = dict(st)
        t = str(p.pop("type"))
        key = next((k for k in _STAGES if canonical_key(k) == canonical_key(t)), None)
        if key is None:
            raise ctx.err(f"stage {i}: unknown type {t!r}; valid: {', '.join(_STAGES)}")
        ctx.source = source
        try:
            params = _STAGES[key].validate(p, ctx)
        except LUTError as exc:
            if exc.path and exc.path != source:
                raise
            raise LUTError(f"stage {i} ({key}): {exc.reason}", source or None) from None
        if p:
            raise ctx.err(f"stage {i} ({key}): unknown parameters {', '.join(sorted(p))}")
        stages.append(LookStage(key, params))
    return Look(name, tuple(stages), gamut, description, source)


def user_look_dir() -> Path:
    """The user's look folder: ``$L2TECH_LOOK_DIR`` or ``~/.local/share/l2tech/looks``."""
    env = os.environ.get("L2TECH_LOOK_DIR")
    return Path(env).expanduser() if env else Path.home() / ".local" / "share" / "l2tech" / "looks"


def _parse_file(path: Path) -> Mapping[str, Any]:
    from l2tech.color._io import read_text  # noqa: PLC0415

    text = read_text(path)
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise LUTError(f"invalid JSON: {exc.msg}", path, exc.lineno) from None
    except tomllib.TOMLDecodeError as exc:
        raise LUTError(f"invalid TOML: {exc}", path) from None
    if not isinstance(data, Mapping):
        raise LUTError("a look file must hold a table/object at the top level", path)
    return data


def _builtin_names() -> dict[str, str]:
    folder = resources.files("l2tech") / "data" / "looks"
    out = {}
    for entry in folder.iterdir():
        if entry.name.endswith((".toml", ".json")):
            out[entry.name.rsplit(".", 1)[0]] = entry.name
    return out


def list_looks() -> dict[str, str]:
    """Available look names -> where each comes from (``"builtin"`` or the user file path)."""
    out = {name: "builtin" for name in sorted(_builtin_names())}
    folder = user_look_dir()
    if folder.is_dir():
        for f in sorted(folder.iterdir()):
            if f.suffix.lower() in (".toml", ".json"):
                out[f.stem] = str(f)
    return out


def check_look_name(value: str | None) -> None:
    """Refuse a look name that is neither a file nor an available look (before any work).

    A value with a folder separator or a file extension, or naming an existing file, is a file:
    :func:`load_look` (or the LUT reader) reports it, naming the path, when it is used.

    Raises
    ------
    UsageError
        An unknown name; the message lists the available ones.
    """
    if value is None or os.path.isfile(value) or os.sep in value or Path(value).suffix:
        return
    names = list_looks()
    if canonical_key(value) not in {canonical_key(n) for n in names}:
        raise UsageError(f"unknown look {value!r}; valid: {', '.join(names)} (or a look file)")


def _is_lut_file_name(p: Path) -> bool:
    """A name with a LUT file's extension (:func:`l2tech.color.lut_io.format_for_path`)."""
    from l2tech.color.lut_io import format_for_path

    try:
        format_for_path(str(p))
    except L2Error:
        return False
    return True


def load_look(name_or_path: str | os.PathLike | Look) -> Look:
    """Load a look by name (user folder first, then built-ins) or from a file path (a LUT file
    — .cube, .3dl, .spi1d, .spi3d, .vlt, .clf — is read as a look of that LUT, sRGB in and out,
    as `l2 video --look` takes it).

    Parameters
    ----------
    name_or_path : str, os.PathLike or Look
        ``"mono"``, ``"classic"``, ``"path/to/my.toml"`` ...

    Returns
    -------
    Look

    Raises
    ------
    UsageError
        No look of that name (the message lists the available ones).
    LUTError
        The look file is invalid (message names the file).
    """
    if isinstance(name_or_path, Look):
        return name_or_path
    s = str(name_or_path)
    p = Path(s).expanduser()
    if _is_lut_file_name(p):  # --look grade.cube: a LUT (sRGB in, out), as l2 video takes it
        return lut_look(p)
    if p.suffix.lower() in (".toml", ".json") or os.sep in s or p.is_file():
        if not p.is_file():
            if p.is_dir():
                raise UsageError(f"look file {p} is a folder, not a file")
            if p.exists():
                raise UsageError(f"look file {p} is not a regular file (a pipe, device or socket)")
            raise UsageError(f"look file not found: {p}")
        return look_from_mapping(_parse_file(p), str(p), p.parent)
    folder = user_look_dir()
    for ext in (".toml", ".json"):
        cand = folder / f"{s}{ext}"
        if cand.is_file():
            return look_from_mapping(_parse_file(cand), str(cand), cand.parent)
    builtins = _builtin_names()
    key = next((k for k in builtins if canonical_key(k) == canonical_key(s)), None)
    if key is None:
        raise UsageError(f"unknown look {s!r}; available: {', '.join(list_looks())} (or give a .toml/.json path)")
    res = resources.files("l2tech") / "data" / "looks" / builtins[key]
    with resources.as_file(res) as real:
        data = _parse_file(Path(real))
    return look_from_mapping(data, f"builtin:{builtins[key]}", None)


def lut_look(
    path: str | os.PathLike,
    *,
    input_encoding: str = "sRGB",
    input_gamut: str | None = None,
    output_encoding: str = "sRGB",
    output_gamut: str | None = None,
    interpolation: str = "tetrahedral",
) -> Look:
    """A look wrapping a user's LUT file with its input and output encoding/gamut.

    The look converts scene-linear working RGB to the LUT's input gamut and encoding, applies
    the LUT, then decodes its output encoding back to linear, so it composes like any look.

    Raises
    ------
    UsageError, LUTError
        Unknown names; unreadable LUT file.
    """
    stage: dict[str, Any] = {
        "type": "lut",
        "file": str(Path(path).expanduser().resolve()),
        "input_encoding": input_encoding,
        "output_encoding": output_encoding,
        "interpolation": interpolation,
    }
    if input_gamut:
        stage["input_gamut"] = input_gamut
    if output_gamut:
        stage["output_gamut"] = output_gamut
    return look_from_mapping({"name": Path(path).stem, "stage": [stage]}, str(path))


def apply_look(
    image_linear: np.ndarray,
    look: str | os.PathLike | Look,
    *,
    working_space: str = "Rec.709",
    include_spatial: bool = True,
) -> np.ndarray:
    """Apply a look to scene-linear RGB.

    Parameters
    ----------
    image_linear : ndarray, shape (H, W, 3) or (N, H, W, 3) (any (..., 3) without grain), float32
        Scene-linear RGB in ``working_space``; values beyond 1 are kept.
    look : str, os.PathLike or Look
        A look name, file, or :class:`Look` (see :func:`load_look`).
    working_space : str
        Gamut of ``image_linear`` (a key of :data:`l2tech.color.GAMUTS`); the image is
        converted to the look's working gamut and back.
    include_spatial : bool
        False skips spatial stages (grain), e.g. to compare with a baked LUT.

    Returns
    -------
    ndarray, same shape, float32
        Scene-linear RGB in ``working_space``. A new array; the input is not modified.

    Raises
    ------
    UsageError
        Unknown look or gamut; wrong image shape.
    LUTError
        Invalid look file.

    Notes
    -----
    Deterministic: the same pixels and size give the same output (grain is seeded and sized
    relative to the image height), so a still and a video frame of the same content match.

    Memory: the stages run on bands of rows (:data:`_LOOK_STRIP_PIXELS` pixels each), so
    their temporaries — float64 in some stages, ~200 bytes per pixel in all — cost one band,
    not the frame; the frame-sized memory is the float32 result (12 bytes per pixel) and, for
    grain, its float32 noise field (4). Every stage but grain is per pixel and grain's field is
    made for the whole frame, so the result equals a whole-frame pass (docs/RELIABILITY.md,
    memory model).
    """
    lk = load_look(look)
    img = np.asarray(image_linear)
    if img.ndim == 0 or img.shape[-1] != 3:
        raise UsageError(f"apply_look needs shape (..., 3), got {img.shape}")
    stages = [(st, _STAGES[st.type]) for st in lk.stages if include_spatial or not _STAGES[st.type].spatial]
    grains = [st.params for st, d in stages if d.spatial]
    if grains and img.ndim < 3:
        raise UsageError(f"grain needs an image of shape (H, W, 3) or (N, H, W, 3), got {img.shape}")
    out = np.empty(img.shape, np.float32)
    if img.size == 0:
        return out

    def run(part: np.ndarray, env: _Env) -> np.ndarray:
        x = RGB_to_RGB(part.astype(np.float32, copy=False), working_space, lk.working_gamut)
        for st, d in stages:
            x = np.asarray(d.apply(x, st.params, env), dtype=np.float32)
        return RGB_to_RGB(x, lk.working_gamut, working_space)

    if img.ndim < 3:  # a list of colours: strips of the flat list
        flat, dst = img.reshape(-1, 3), out.reshape(-1, 3)
        env = _Env(lk.working_gamut)
        for k in range(0, flat.shape[0], _LOOK_STRIP_PIXELS):
            dst[k : k + _LOOK_STRIP_PIXELS] = run(flat[k : k + _LOOK_STRIP_PIXELS], env)
        return out
    h, w = img.shape[-3], img.shape[-2]
    frames, dst = img.reshape(-1, h, w, 3), out.reshape(-1, h, w, 3)
    fields = {(p["size"], p["seed"]): _grain_field(h, w, p["size"], p["seed"]) for p in grains}
    rows = max(1, _LOOK_STRIP_PIXELS // w)
    for f in range(frames.shape[0]):
        for r in range(0, h, rows):
            env = _Env(lk.working_gamut, {k: v[r : r + rows] for k, v in fields.items()})
            dst[f, r : r + rows] = run(frames[f, r : r + rows], env)
    return out


#: Pixels per band of rows of :func:`apply_look` (its stages' temporaries: ~25 MB).
_LOOK_STRIP_PIXELS = 1 << 17
