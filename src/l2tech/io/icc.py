"""ICC v2 matrix/TRC display profiles for the output spaces l2tech writes.

Each profile is built from the space's primaries and white point (colour-science's
``RGB_COLOURSPACES``), with colorants adapted to the ICC D50 PCS by the Bradford transform, and
the space's encoding curve sampled as a ``curv`` table (or a pure gamma for Adobe RGB).

References
----------
ICC.1:2001-04 (ICC profile format v2.4): header, tag table, ``XYZType``, ``curveType``,
``textDescriptionType``; ICC.1:2010 Annex E (chromatic adaptation to D50, Bradford).
IEC 61966-2-1 (sRGB), SMPTE EG 432-1 (Display P3), ITU-R BT.2020, Adobe RGB (1998) v2005-05.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["OUTPUT_SPACES", "OutputSpace", "icc_profile", "get_output_space"]

_D50_ICC = np.array([0.9642, 1.0, 0.8249])


def _srgb_encode(x: np.ndarray) -> np.ndarray:
    """sRGB inverse EOTF (IEC 61966-2-1): linear [0, 1] → encoded [0, 1]."""
    x = np.asarray(x, dtype=np.float32)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(np.maximum(x, 0.0031308), 1 / 2.4) - 0.055).astype(np.float32)


def _srgb_decode(v: np.ndarray) -> np.ndarray:
    """sRGB EOTF (IEC 61966-2-1): encoded [0, 1] → linear."""
    v = np.asarray(v, dtype=np.float32)
    return np.where(v <= 0.04045, v / 12.92, np.power((np.maximum(v, 0.04045) + 0.055) / 1.055, 2.4)).astype(np.float32)


def _bt2020_encode(x: np.ndarray) -> np.ndarray:
    """ITU-R BT.2020 OETF (12-bit constants α = 1.0993, β = 0.0181)."""
    a, b = 1.09929682680944, 0.018053968510807
    x = np.asarray(x, dtype=np.float32)
    return np.where(x < b, 4.5 * x, a * np.power(np.maximum(x, b), 0.45) - (a - 1)).astype(np.float32)


def _bt2020_decode(v: np.ndarray) -> np.ndarray:
    """Inverse of the ITU-R BT.2020 OETF."""
    a, b = 1.09929682680944, 0.018053968510807
    v = np.asarray(v, dtype=np.float32)
    return np.where(v < 4.5 * b, v / 4.5, np.power((np.maximum(v, 4.5 * b) + (a - 1)) / a, 1 / 0.45)).astype(np.float32)


_ADOBE_GAMMA = 563 / 256  # Adobe RGB (1998) §4.3.1.2: 2 + 51/256


def _adobe_encode(x: np.ndarray) -> np.ndarray:
    return np.power(np.maximum(np.asarray(x, dtype=np.float32), 0), 1 / _ADOBE_GAMMA).astype(np.float32)


def _adobe_decode(v: np.ndarray) -> np.ndarray:
    return np.power(np.maximum(np.asarray(v, dtype=np.float32), 0), _ADOBE_GAMMA).astype(np.float32)


@dataclass(frozen=True)
class OutputSpace:
    """A display-referred output space: primaries, white point and encoding curve.

    ``encode`` maps linear [0, 1] to encoded [0, 1]; ``decode`` is its inverse.
    ``colour_name`` is the key in colour-science's ``RGB_COLOURSPACES``.
    """

    name: str
    colour_name: str
    description: str
    encode: Callable[[np.ndarray], np.ndarray]
    decode: Callable[[np.ndarray], np.ndarray]
    gamma: float | None = None  # pure power curve (written as a one-entry curv)


OUTPUT_SPACES: dict[str, OutputSpace] = {
    "srgb": OutputSpace("sRGB", "sRGB", "sRGB IEC61966-2.1 (l2tech)", _srgb_encode, _srgb_decode),
    "display-p3": OutputSpace("Display P3", "Display P3", "Display P3 (l2tech)", _srgb_encode, _srgb_decode),
    "rec2020": OutputSpace("Rec.2020", "ITU-R BT.2020", "ITU-R BT.2020 (l2tech)", _bt2020_encode, _bt2020_decode),
    "adobe-rgb": OutputSpace("Adobe RGB", "Adobe RGB (1998)", "Adobe RGB (1998) compatible (l2tech)", _adobe_encode, _adobe_decode, gamma=_ADOBE_GAMMA),
}


def get_output_space(name: str) -> OutputSpace:
    """Look up an output space by name, case-insensitive (``srgb``, ``display-p3``, ``rec2020``, ``adobe-rgb``).

    Raises
    ------
    UsageError
        Unknown name; the message lists the valid ones.
    """
    from l2tech.errors import UsageError

    key = name.strip().lower().replace("_", "-").replace(" ", "-").replace(".", "")
    aliases = {"p3": "display-p3", "displayp3": "display-p3", "p3-d65": "display-p3", "bt2020": "rec2020",
               "rec-2020": "rec2020", "adobe": "adobe-rgb", "adobergb": "adobe-rgb", "adobe-rgb-(1998)": "adobe-rgb"}
    key = aliases.get(key, key)
    if key not in OUTPUT_SPACES:
        raise UsageError(f"unknown output space {name!r}; valid: {', '.join(OUTPUT_SPACES)}")
    return OUTPUT_SPACES[key]


def _s15f16(v: float) -> bytes:
    return struct.pack(">i", int(round(v * 65536)))


def _xyz_tag(xyz: np.ndarray) -> bytes:
    return b"XYZ " + b"\0" * 4 + b"".join(_s15f16(float(c)) for c in xyz)


def _curv_tag(space: OutputSpace) -> bytes:
    if space.gamma is not None:
        g = int(round(space.gamma * 256))
        return b"curv" + b"\0" * 4 + struct.pack(">I", 1) + struct.pack(">H", g) + b"\0\0"
    n = 1024
    v = np.linspace(0, 1, n, dtype=np.float64)
    lin = np.clip(space.decode(v.astype(np.float32)).astype(np.float64), 0, 1)
    table = np.round(lin * 65535).astype(">u2").tobytes()
    data = b"curv" + b"\0" * 4 + struct.pack(">I", n) + table
    return data + b"\0" * (-len(data) % 4)


def _desc_tag(text: str) -> bytes:
    a = text.encode("ascii") + b"\0"
    data = b"desc" + b"\0" * 4 + struct.pack(">I", len(a)) + a
    data += struct.pack(">II", 0, 0)  # Unicode language code, count
    data += struct.pack(">HB", 0, 0) + b"\0" * 67  # ScriptCode code, count, 67 bytes
    return data + b"\0" * (-len(data) % 4)


def _text_tag(text: str) -> bytes:
    data = b"text" + b"\0" * 4 + text.encode("ascii") + b"\0"
    return data + b"\0" * (-len(data) % 4)


@functools.lru_cache(maxsize=None)
def icc_profile(name: str) -> bytes:
    """ICC v2.1 display profile bytes for an output space.

    Parameters
    ----------
    name : str
        Output space name (see :data:`OUTPUT_SPACES`).

    Returns
    -------
    bytes
        A matrix/TRC RGB display profile (class ``mntr``, PCS XYZ, D50).

    References
    ----------
    ICC.1:2001-04 §6 (header and tag table), §6.5.26 ``XYZType``, §6.5.3 ``curveType``.
    """
    import colour

    space = get_output_space(name)
    cs = colour.RGB_COLOURSPACES[space.colour_name]
    M = np.asarray(cs.matrix_RGB_to_XYZ, dtype=np.float64)  # linear RGB → XYZ (Y of white = 1)
    wp_xyz = colour.xy_to_XYZ(cs.whitepoint)
    cat = colour.adaptation.matrix_chromatic_adaptation_VonKries(wp_xyz, _D50_ICC, transform="Bradford")
    colorants = cat @ M  # columns: red, green, blue colorants under D50
    trc = _curv_tag(space)
    tags = [
        (b"desc", _desc_tag(space.description)),
        (b"cprt", _text_tag("No copyright, use freely")),
        (b"wtpt", _xyz_tag(_D50_ICC)),
        (b"rXYZ", _xyz_tag(colorants[:, 0])),
        (b"gXYZ", _xyz_tag(colorants[:, 1])),
        (b"bXYZ", _xyz_tag(colorants[:, 2])),
        (b"rTRC", trc),
        (b"gTRC", trc),
        (b"bTRC", trc),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table = struct.pack(">I", len(tags))
    body = b""
    shared: dict[bytes, int] = {}
    for sig, data in tags:
        if data in shared:  # the three TRCs share one element, as most profiles do
            table += sig + struct.pack(">II", shared[data], len(data))
            continue
        shared[data] = offset + len(body)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = 128 + len(table) + len(body)
    header = struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
    header += struct.pack(">6H", 2026, 1, 1, 0, 0, 0) + b"acsp" + b"APPL" + b"\0" * 4 + b"\0" * 4 + b"\0" * 4
    header += b"\0" * 8 + struct.pack(">I", 0) + b"".join(_s15f16(c) for c in _D50_ICC) + b"l2tc"
    header += b"\0" * (128 - len(header))
    return header + table + body
