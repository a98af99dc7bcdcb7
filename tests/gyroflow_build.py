"""Gyroflow project pieces built as Gyroflow writes them (tests and fuzz seeds).

``raw_imu`` of a project saved "with gyro data" (Gyroflow ``src/core/util.rs``,
``compress_to_base91``): bincode ``Vec<TimeIMU>`` → zlib (best) → basE91. The basE91 encoder
follows J. Henke's reference (``base91.c``, ``basE91_encode``).
"""

from __future__ import annotations

import struct
import zlib

_B91 = ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        "!#$%&()*+,./:;<=>?@[]^_`{|}~\"")


def base91_encode(data: bytes) -> str:
    """basE91 encoding (reference ``basE91_encode``): 13 bits per pair when their value > 88, else 14."""
    out, b, n = [], 0, 0
    for byte in data:
        b |= byte << n
        n += 8
        if n > 13:
            v = b & 8191
            if v > 88:
                b >>= 13
                n -= 13
            else:
                v = b & 16383
                b >>= 14
                n -= 14
            out += [_B91[v % 91], _B91[v // 91]]
    if n:
        out.append(_B91[b % 91])
        if n > 7 or b > 90:
            out.append(_B91[b // 91])
    return "".join(out)


def imu_blob(t_ms, gyro_deg_s, accl=None, magn_every: int = 0) -> str:
    """``raw_imu`` as Gyroflow saves it: bincode ``Vec<TimeIMU>`` → zlib (best) → basE91."""
    parts = [struct.pack("<Q", len(t_ms))]
    for i, t in enumerate(t_ms):
        parts.append(struct.pack("<d", t))
        parts.append(b"\x01" + struct.pack("<3d", *gyro_deg_s[i]))
        parts.append(b"\x00" if accl is None else b"\x01" + struct.pack("<3d", *accl[i]))
        parts.append(b"\x01" + struct.pack("<3d", 0.1, 0.2, 0.3) if magn_every and i % magn_every == 0 else b"\x00")
    return base91_encode(zlib.compress(b"".join(parts), 9))
