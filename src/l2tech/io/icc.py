"""ICC v2 matrix/TRC display profiles: the byte layout only.

This module lays out the bytes of a profile from its parts (description, D50 colorants, tone
curve); which parts a display space has — primaries, white point, encoding curve, Bradford
adaptation to D50 — is decided in :mod:`l2tech.color.display`, whose
:func:`~l2tech.color.display.icc_profile` is the function to call.

References
----------
ICC.1:2001-04 (ICC profile format v2.4): §6.1 header, §6.2 tag table, §6.5.26 ``XYZType``,
§6.5.3 ``curveType``, §6.5.17 ``textDescriptionType``, §6.5.18 ``textType``; §6.3.1.3
(the PCS illuminant, D50 = X 0.9642, Y 1.0, Z 0.8249).
"""

from __future__ import annotations

import struct

import numpy as np

__all__ = ["D50_ICC", "matrix_trc_profile"]

#: The ICC profile connection space illuminant (D50), CIE XYZ with Y = 1 (ICC.1 §6.3.1.3).
D50_ICC = np.array([0.9642, 1.0, 0.8249])


def _s15f16(v: float) -> bytes:
    return struct.pack(">i", int(round(v * 65536)))


def _xyz_tag(xyz: np.ndarray) -> bytes:
    return b"XYZ " + b"\0" * 4 + b"".join(_s15f16(float(c)) for c in xyz)


def _curv_tag(trc: float | np.ndarray) -> bytes:
    if np.ndim(trc) == 0:  # a pure power curve, u8Fixed8Number
        g = int(round(float(trc) * 256))
        return b"curv" + b"\0" * 4 + struct.pack(">I", 1) + struct.pack(">H", g) + b"\0\0"
    lin = np.clip(np.asarray(trc, dtype=np.float64), 0, 1)
    table = np.round(lin * 65535).astype(">u2").tobytes()
    data = b"curv" + b"\0" * 4 + struct.pack(">I", lin.size) + table
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


def matrix_trc_profile(description: str, colorants_D50: np.ndarray, trc: float | np.ndarray) -> bytes:
    """Lay out an ICC v2.1 matrix/TRC RGB display profile (class ``mntr``, PCS XYZ, D50).

    Parameters
    ----------
    description : str
        ASCII profile description (the ``desc`` tag).
    colorants_D50 : ndarray, shape (3, 3), float64
        Columns are the red, green and blue colorants, CIE XYZ adapted to D50 (the matrix
        from linear RGB to PCS XYZ); written as s15Fixed16 numbers.
    trc : float or ndarray, shape (N,), float64
        The tone curve shared by the three channels, encoded -> linear: a float is a pure
        power (written as one u8Fixed8 entry); an array holds the linear values, 0-1, at
        ``N`` encoded values evenly spaced over 0-1 (written as uint16).

    Returns
    -------
    bytes
        The profile; the three TRC tags share one element.

    References
    ----------
    ICC.1:2001-04 §6.1 (header), §6.2 (tag table), §6.5.26 ``XYZType``, §6.5.3 ``curveType``.
    """
    colorants = np.asarray(colorants_D50, dtype=np.float64)
    trc_tag = _curv_tag(trc)
    tags = [
        (b"desc", _desc_tag(description)),
        (b"cprt", _text_tag("No copyright, use freely")),
        (b"wtpt", _xyz_tag(D50_ICC)),
        (b"rXYZ", _xyz_tag(colorants[:, 0])),
        (b"gXYZ", _xyz_tag(colorants[:, 1])),
        (b"bXYZ", _xyz_tag(colorants[:, 2])),
        (b"rTRC", trc_tag),
        (b"gTRC", trc_tag),
        (b"bTRC", trc_tag),
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
    header += b"\0" * 8 + struct.pack(">I", 0) + b"".join(_s15f16(c) for c in D50_ICC) + b"l2tc"
    header += b"\0" * (128 - len(header))
    return header + table + body
