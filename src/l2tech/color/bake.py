"""Bake a color chain (input encoding + gamut -> look -> output encoding + gamut) into a 3D LUT,
and fit LUTs to what a camera accepts.

Signal flow of a baked LUT: the LUT's input is the *encoded* camera signal (e.g. V-Log in
V-Gamut, 0-1 full range); each node is decoded to scene-linear, converted to the look's
working gamut, passed through the look's non-spatial stages, converted to the output gamut,
encoded with the output transfer function and clipped to 0-1 (what a camera or an 8/10-bit
display path holds).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import numpy as np

from l2tech.color._registry import Registry
from l2tech.color.gamut import GAMUTS, RGB_to_RGB
from l2tech.color.looks import Look, apply_look, load_look
from l2tech.color.lut import LUT3D
from l2tech.color.transfer import LOG_ENCODINGS, decode, encode
from l2tech.errors import UsageError

__all__ = [
    "ColorWarning",
    "CameraLimits",
    "CAMERA_LIMITS",
    "parse_color_space",
    "bake_lut",
    "apply_camera_limits",
]


class ColorWarning(UserWarning):
    """A color operation changed what was asked (resampled a LUT, dropped grain from a bake)."""


@dataclass(frozen=True)
class CameraLimits:
    """What a camera accepts as a user LUT.

    Parameters
    ----------
    name : str
    max_cube_size : int
        Largest ``.cube`` grid accepted.
    vlt_size : int
        Grid of ``.vlt`` files the camera reads.
    note : str
    """

    name: str
    max_cube_size: int
    vlt_size: int
    note: str = ""


#: Camera LUT limits (case-insensitive). LUMIX "Real Time LUT" accepts ``.cube`` up to 33
#: points and refuses 65-point files; its ``.vlt`` files are 17-point (OPTICS.md §6).
CAMERA_LIMITS: Registry[CameraLimits] = Registry(
    "camera",
    {"lumix": CameraLimits("lumix", 33, 17, "Panasonic LUMIX Real Time LUT: .cube <= 33 points, .vlt 17 points")},
    aliases={"panasonic": "lumix"},
)


def parse_color_space(spec: str) -> tuple[str, str]:
    """Split ``"ENCODING/GAMUT"`` (or a lone encoding) into canonical names.

    ``"V-Log/V-Gamut"`` -> ``("V-Log", "V-Gamut")``; ``"rec709"`` -> ``("Rec.709", "Rec.709")``
    (an encoding alone takes its usual gamut).

    Raises
    ------
    UsageError
        Unknown encoding or gamut (the message lists the valid names).
    """
    if "/" in spec:
        enc, gam = spec.split("/", 1)
        return LOG_ENCODINGS.canonical(enc.strip()), GAMUTS.canonical(gam.strip())
    enc = LOG_ENCODINGS.canonical(spec.strip())
    return enc, LOG_ENCODINGS[enc].default_gamut


def bake_lut(
    look: str | os.PathLike | Look | None,
    *,
    input: str = "V-Log/V-Gamut",
    output: str = "Rec.709",
    size: int = 33,
    clip: bool = True,
    title: str = "",
    tone: object = None,
) -> LUT3D:
    """Bake input decoding, a look and an output encoding into one 3D LUT.

    Parameters
    ----------
    look : str, os.PathLike, Look or None
        The look (None: only the color space conversion).
    input, output : str
        ``"ENCODING/GAMUT"`` or an encoding name (see :func:`parse_color_space`).
    size : int
        Grid points per axis, 2-256 (33 for LUMIX cameras).
    clip : bool
        Clip the output to 0-1 (camera LUTs hold 0-1).
    title : str
        LUT title; defaults to a description of the chain.
    tone : {"filmic", "none"}, FilmicCurve or None
        Tone curve between a scene-referred input (a log or linear encoding) and a display
        output (:mod:`l2tech.color.tone`), applied per channel in the output gamut. Middle
        grey is the log curve's own 0.18, and the curve's white is raised to the scene-linear
        value of the input's top code (:func:`l2tech.color.tone.tone_for_range`), so the
        output rises strictly up to the top code instead of clipping at scene-linear 1.0.
        None or ``"none"``: no tone curve (the display encoding clips at 1.0). Ignored when
        the input is display-referred or the output is not a display encoding.

    Returns
    -------
    LUT3D
        Over a 0-1 domain of the encoded input signal.

    Raises
    ------
    UsageError
        Unknown names or a size outside 2-256.

    Warns
    -----
    ColorWarning
        The look has spatial stages (grain), which a 3D LUT cannot hold; they are left out.
    """
    if not isinstance(size, int) or not 2 <= size <= 256:
        raise UsageError(f"LUT size must be an integer 2-256, got {size!r}")
    in_enc, in_gam = parse_color_space(input)
    out_enc, out_gam = parse_color_space(output)
    lk = load_look(look) if look is not None else None
    if lk is not None and lk.spatial:
        warnings.warn(
            f"look {lk.name!r} has spatial stages (grain) that a 3D LUT cannot hold; they are left out of the bake",
            ColorWarning,
            stacklevel=2,
        )
    grid = LUT3D.identity(size).table.astype(np.float32)
    lin = decode(grid, in_enc)
    if lk is not None:
        lin = RGB_to_RGB(lin, in_gam, lk.working_gamut)
        lin = apply_look(lin, lk, working_space=lk.working_gamut, include_spatial=False)
        lin = RGB_to_RGB(lin, lk.working_gamut, out_gam)
    else:
        lin = RGB_to_RGB(lin, in_gam, out_gam)
    curve = _bake_tone(tone, in_enc, out_enc)
    if curve is not None:
        lin = curve(lin)
    out = encode(lin, out_enc)
    if clip:
        out = np.clip(out, 0.0, 1.0)
    name = title or f"{in_enc}/{in_gam} -> {lk.name if lk else 'no look'} -> {out_enc}/{out_gam}"
    return LUT3D(out, None, name, (f"baked by l2tech: input {in_enc}/{in_gam}, output {out_enc}/{out_gam}",))


def _bake_tone(tone: object, in_enc: str, out_enc: str):
    """The tone curve of a bake from ``in_enc`` to ``out_enc`` (None when there is none)."""
    import dataclasses

    from l2tech.color.tone import FilmicCurve, tone_curve, tone_for_range

    if tone is None:
        return None
    curve = tone if isinstance(tone, FilmicCurve) else tone_curve(str(tone))
    if curve is None or LOG_ENCODINGS[in_enc].kind not in ("log", "linear") or LOG_ENCODINGS[out_enc].kind != "display":
        return None
    # log footage is exposed with middle grey at scene-linear 0.18 (each log curve's reference)
    curve = dataclasses.replace(curve, grey_scene=0.18) if not isinstance(tone, FilmicCurve) else curve
    top = float(decode(np.float64(1.0), in_enc))
    return tone_for_range(curve, top) if top > curve.grey_scene else curve


def apply_camera_limits(lut: LUT3D, camera: str, format: str = "cube") -> LUT3D:
    """Fit ``lut`` to what ``camera`` accepts, resampling (with a warning) if needed.

    Parameters
    ----------
    lut : LUT3D
    camera : str
        A key of :data:`CAMERA_LIMITS` (``"lumix"``).
    format : {"cube", "vlt"}

    Returns
    -------
    LUT3D
        ``lut`` itself when it already fits, else a resampled (tetrahedral) copy, clipped to
        0-1.

    Raises
    ------
    UsageError
        Unknown camera or format; a LUT whose domain is not 0-1.

    Warns
    -----
    ColorWarning
        When the LUT was resampled or clipped.
    """
    lim = CAMERA_LIMITS[camera]
    fmt = format.lower().lstrip(".")
    if fmt not in ("cube", "vlt"):
        raise UsageError(f"{lim.name} cameras read .cube or .vlt, not .{fmt}")
    if not (np.all(lut.domain[0] == 0) and np.all(lut.domain[1] == 1)):
        raise UsageError(f"{lim.name} cameras need a LUT over a 0-1 input domain, got {lut.domain.tolist()}")
    target = lim.vlt_size if fmt == "vlt" else min(lut.size, lim.max_cube_size)
    out = lut
    if lut.size != target:
        warnings.warn(
            f"{lim.name}: {lut.size}-point LUT resampled to {target} points ({lim.note})",
            ColorWarning,
            stacklevel=2,
        )
        out = lut.resample(target)
    if out.table.min() < 0 or out.table.max() > 1:
        warnings.warn(f"{lim.name}: LUT values clipped to 0-1", ColorWarning, stacklevel=2)
        out = LUT3D(np.clip(out.table, 0, 1), out.domain, out.name, out.comments)
    return out
