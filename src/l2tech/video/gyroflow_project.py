"""Gyroflow project files (``.gyroflow``): the motion data, sync, readout and lens of a clip.

A Gyroflow project is a JSON document (Gyroflow ``src/core/lib.rs``,
``StabilizationManager::import_gyroflow_data``). What l2tech takes from it:

``gyro_source.raw_imu``
    The IMU samples Gyroflow read from the camera, as telemetry-parser's normalised
    ``TimeIMU`` records (gyroscope deg/s, accelerometer m/s², the same axes as
    :func:`l2tech.video.telemetry.read_imu`). Saved "with gyro data", it is a string:
    basE91 text of a zlib stream of bincode (v1, fixed-width little-endian) ``Vec<TimeIMU>``
    (Gyroflow ``src/core/util.rs``, ``compress_to_base91``); older or hand-written projects
    may hold it as a JSON array of ``{"timestamp_ms", "gyro", "accl", "magn"}`` objects.
``gyro_source.filepath``
    The file the motion data came from; a "simple" project carries no samples and l2tech reads
    them from that file (or from the clip itself when the path is the clip's or is gone).
``offsets``
    Sync points: video time in microseconds (the key) → offset in ms, with Gyroflow's sign:
    the gyro sample for video time ``t`` is the one at ``t − offset`` (``gyro_source.rs``).
    l2tech's offset is the gyro time minus the video time, so it is ``−offset``.
``stabilization.frame_readout_time``
    Rolling-shutter readout, ms, first row to last (negative: bottom to top).
``calibration_data``
    The lens profile, in Gyroflow's lens-profile format (:func:`l2tech.profiles.gyroflow.parse_gyroflow`).

Not taken: Gyroflow's smoothing algorithm and its parameters, keyframes, adaptive zoom,
``imu_orientation`` and ``rotation`` (l2tech finds the gyro→camera axes by matching the gyro to
the frames' motion, as for telemetry read from a clip), and the processed quaternions.
"""

from __future__ import annotations

import functools
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from l2tech.errors import CorruptInputError, InputNotFoundError, LimitExceededError, UnsupportedFormatError
from l2tech.profiles.gyroflow import _finite_number  # a finite float, or None (bools, strings, huge integers)
from l2tech.video.telemetry import ImuSamples

__all__ = ["GyroflowProject", "read_gyroflow_project", "is_gyroflow_project", "resolve_gyro_file", "base91_decode",
           "decode_raw_imu", "MAX_PROJECT_BYTES", "MAX_IMU_BYTES"]

#: Largest project file read, bytes (an hour of 1 kHz IMU data saved "with gyro data" is ~40 MB).
MAX_PROJECT_BYTES = 256 * 2**20
#: Largest decompressed ``raw_imu`` payload, bytes (a zlib stream can expand 1000-fold).
MAX_IMU_BYTES = 512 * 2**20

# basE91 alphabet (J. Henke, basE91 reference implementation, base91.c): 91 printable ASCII
# characters, no '-', '\\' or "'"
_B91 = ("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
        "!#$%&()*+,./:;<=>?@[]^_`{|}~\"")
_B91_VALUE = np.full(256, -1, np.int32)
_B91_VALUE[np.frombuffer(_B91.encode("ascii"), np.uint8)] = np.arange(91, dtype=np.int32)


def base91_decode(text: str | bytes) -> bytes:
    """Decode basE91 text (characters outside the alphabet are skipped, as the reference does).

    Each pair of characters ``(c0, c1)`` gives ``v = c0 + 91·c1``, which carries 13 bits when
    ``v mod 8192 > 88`` and 14 bits otherwise, least significant bit first; a last unpaired
    character adds its bits to one final byte.

    Parameters
    ----------
    text : str or bytes
        ASCII basE91 text.

    Returns
    -------
    bytes

    References
    ----------
    J. Henke, basE91 (``base91.c``, ``basE91_decode``); Gyroflow writes it with the Rust
    ``base91`` crate (``slice_encode``), the same scheme.
    """
    # characters outside the alphabet are skipped, as the reference does; outside Latin-1 too
    raw = np.frombuffer(text.encode("latin-1", "replace") if isinstance(text, str) else bytes(text), np.uint8)
    vals = _B91_VALUE[raw]
    vals = vals[vals >= 0].astype(np.int64)
    n_pairs = len(vals) // 2
    v = vals[0 : 2 * n_pairs : 2] + 91 * vals[1 : 2 * n_pairs : 2]
    width = np.where((v & 8191) > 88, 13, 14)
    # the bits of every pair, least significant first, each cut to its width
    bits = ((v[:, None] >> np.arange(14)) & 1).astype(np.uint8)
    keep = np.arange(14)[None, :] < width[:, None]
    stream = bits[keep]
    if len(vals) % 2:  # the last character fills the byte in progress
        tail = int(vals[-1])
        fill = 8 - len(stream) % 8
        stream = np.concatenate([stream, ((tail >> np.arange(fill)) & 1).astype(np.uint8)])
    else:
        stream = stream[: len(stream) // 8 * 8]
    return np.packbits(stream, bitorder="little").tobytes()


def _inflate(data: bytes, path: str) -> bytes:
    """zlib-decompress with a size limit (a zlib bomb is refused, not expanded)."""
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, MAX_IMU_BYTES + 1)
    except zlib.error as exc:
        raise CorruptInputError(f"gyro_source.raw_imu is not a zlib stream ({exc})", path) from None
    if len(out) > MAX_IMU_BYTES or d.unconsumed_tail:
        raise LimitExceededError(f"gyro_source.raw_imu expands beyond {MAX_IMU_BYTES // 2**20} MiB", path)
    return out


def decode_raw_imu(payload: bytes, path: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parse bincode ``Vec<TimeIMU>``: ``(gyro_t_ms, gyro_deg_s, accl_t_ms, accl)``.

    Layout (bincode 1, fixed-width little-endian, serde field order of telemetry-parser's
    ``TimeIMU``): ``u64`` count, then per sample ``f64 timestamp_ms`` and three
    ``Option<[f64; 3]>`` (``gyro``, ``accl``, ``magn``), each a ``u8`` tag (0 none, 1 some)
    followed, when some, by three ``f64``.

    Raises
    ------
    CorruptInputError
        A truncated record, a tag other than 0 or 1, or bytes left over.
    """
    if len(payload) < 8:
        raise CorruptInputError("gyro_source.raw_imu: shorter than its sample count", path)
    (count,) = struct.unpack_from("<Q", payload, 0)
    if count > (len(payload) - 8) // 11:  # 8-byte time + three 1-byte tags at the least
        raise CorruptInputError(f"gyro_source.raw_imu claims {count} samples in {len(payload)} bytes", path)
    fast = _fixed_layout(payload, count)
    if fast is not None:
        return fast
    pos = 8
    gt, g, at, a = [], [], [], []
    unpack3 = struct.Struct("<3d").unpack_from
    for i in range(count):
        if pos + 8 > len(payload):
            raise CorruptInputError(f"gyro_source.raw_imu: sample {i} of {count} is cut off", path)
        (t,) = struct.unpack_from("<d", payload, pos)
        pos += 8
        values = []
        for _ in range(3):
            if pos >= len(payload):
                raise CorruptInputError(f"gyro_source.raw_imu: sample {i} of {count} is cut off", path)
            tag = payload[pos]
            pos += 1
            if tag == 0:
                values.append(None)
            elif tag == 1:
                if pos + 24 > len(payload):
                    raise CorruptInputError(f"gyro_source.raw_imu: sample {i} of {count} is cut off", path)
                values.append(unpack3(payload, pos))
                pos += 24
            else:
                raise CorruptInputError(f"gyro_source.raw_imu: sample {i} has option tag {tag} (expected 0 or 1)", path)
        if values[0] is not None:
            gt.append(t)
            g.append(values[0])
        if values[1] is not None:
            at.append(t)
            a.append(values[1])
    if pos != len(payload):
        raise CorruptInputError(f"gyro_source.raw_imu: {len(payload) - pos} bytes after the last sample", path)
    return (np.asarray(gt, np.float64), np.asarray(g, np.float64).reshape(-1, 3),
            np.asarray(at, np.float64), np.asarray(a, np.float64).reshape(-1, 3))


def _fixed_layout(payload: bytes, count: int):
    """The same parse as arrays when every record has one layout (the usual case: gyro and
    accelerometer in every sample, or gyro only); ``None`` otherwise."""
    body = memoryview(payload)[8:]
    for present in ((True, True, False), (True, False, False), (True, True, True)):
        fields = [("t", "<f8")]
        for name, there in zip(("g", "a", "m"), present):
            fields.append((name + "_tag", "u1"))
            if there:
                fields.append((name, "<f8", (3,)))
        dt = np.dtype(fields)
        if count == 0 or len(body) != count * dt.itemsize:
            continue
        rec = np.frombuffer(body, dt, count)
        if not all((rec[n + "_tag"] == int(there)).all() for n, there in zip(("g", "a", "m"), present)):
            continue
        t = rec["t"].astype(np.float64)
        a = rec["a"].astype(np.float64) if present[1] else np.zeros((0, 3))
        return t, rec["g"].astype(np.float64), (t if present[1] else np.zeros(0)), a
    return None


def _raw_imu_from_json(items: list, path: str):
    gt, g, at, a = [], [], [], []
    for i, it in enumerate(items):
        t = _finite_number(it.get("timestamp_ms")) if isinstance(it, dict) else None
        if t is None:
            raise CorruptInputError(f"gyro_source.raw_imu[{i}]: expected an object with a number timestamp_ms", path)
        for key, ts, vs in (("gyro", gt, g), ("accl", at, a)):
            v = it.get(key)
            if v is None:
                continue
            xyz = [_finite_number(x) for x in v] if isinstance(v, list) and len(v) == 3 else [None]
            if None in xyz:
                raise CorruptInputError(f"gyro_source.raw_imu[{i}].{key}: expected three numbers", path)
            ts.append(t)
            vs.append(xyz)
    return (np.asarray(gt, np.float64), np.asarray(g, np.float64).reshape(-1, 3),
            np.asarray(at, np.float64), np.asarray(a, np.float64).reshape(-1, 3))


def _samples(gt_ms, g_deg_s, at_ms, a) -> ImuSamples | None:
    """ImuSamples in seconds and rad/s, non-finite rows dropped, sorted by time."""
    def clean(t, v):
        ok = np.isfinite(t) & np.isfinite(v).all(axis=1)
        t, v = t[ok], v[ok]
        order = np.argsort(t, kind="stable")
        return t[order] / 1000.0, v[order]

    gt, g = clean(gt_ms, g_deg_s)
    at, a = clean(at_ms, a)
    if len(gt) < 2:
        return None
    return ImuSamples(gt, np.deg2rad(g), at, a)


@dataclass(frozen=True)
class GyroflowProject:
    """What l2tech uses of a Gyroflow project.

    Attributes
    ----------
    path : str
        The project file.
    imu : ImuSamples or None
        Motion samples saved in the project (``None``: a "simple" project; read them from
        :attr:`gyro_file` or the clip).
    gyro_file : str or None
        ``gyro_source.filepath`` as written (may not exist on this machine).
    video_file : str or None
        ``videofile`` as written.
    offsets : ndarray, shape (K, 2), float64
        Sync points ``(video time s, l2tech offset s)``, sorted by time; l2tech's offset is the
        gyro time minus the video time (Gyroflow's offset with the opposite sign). K may be 0.
    readout_ms : float or None
        ``stabilization.frame_readout_time`` (negative: read bottom to top).
    lens : dict or None
        ``calibration_data`` when it holds a calibration (``calib_dimension`` not 0×0).
    ignored : list of str
        Settings present in the project that l2tech does not apply (reported to the user).
    has_raw_imu : bool
        The project carries ``raw_imu`` (even when no usable gyro sample is in it).
    """

    path: str
    imu: ImuSamples | None
    gyro_file: str | None
    video_file: str | None
    offsets: np.ndarray
    readout_ms: float | None
    lens: dict | None
    ignored: list = field(default_factory=list)
    has_raw_imu: bool = False

    def offset_at(self, video_t_s: np.ndarray | float) -> np.ndarray:
        """l2tech's offset (gyro − video, seconds) at video times, linear between sync points
        and held beyond them (Gyroflow ``offset_at_video_timestamp``); 0 without sync points."""
        t = np.asarray(video_t_s, np.float64)
        if not len(self.offsets):
            return np.zeros_like(t)
        return np.interp(t, self.offsets[:, 0], self.offsets[:, 1])


def is_gyroflow_project(path: str | os.PathLike) -> bool:
    """True for a ``.gyroflow`` file name (the extension Gyroflow saves projects with)."""
    return Path(os.fspath(path)).suffix.lower() == ".gyroflow"


def _number(obj: Any, key: str) -> float | None:
    return _finite_number(obj.get(key)) if isinstance(obj, dict) else None


def read_gyroflow_project(path: str | os.PathLike) -> GyroflowProject:
    """Read a Gyroflow project file (see :func:`_read_project`); a file read before and not
    changed since (same size and modification time) is not parsed again: one ``l2 video`` asks
    for its lens, its readout and its motion data."""
    p = os.fspath(path)
    try:
        st = os.stat(p)
    except OSError:
        return _read_project(p)  # the reader names the problem
    return _read_cached(os.path.realpath(p), p, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read_cached(real: str, p: str, size: int, mtime_ns: int) -> GyroflowProject:
    return _read_project(p)


def _read_project(path: str | os.PathLike) -> GyroflowProject:
    """Read a Gyroflow project file.

    Parameters
    ----------
    path : path-like
        A ``.gyroflow`` file (JSON).

    Returns
    -------
    GyroflowProject

    Raises
    ------
    InputNotFoundError
        The file does not exist.
    EmptyFileError, LimitExceededError, CorruptInputError
        Empty, larger than :data:`MAX_PROJECT_BYTES`, not JSON, not a Gyroflow project (no
        ``gyro_source``, ``calibration_data`` or ``offsets``), or a ``raw_imu`` or ``offsets``
        entry that cannot be read.

    References
    ----------
    Gyroflow ``src/core/lib.rs`` (``import_gyroflow_data``), ``src/core/util.rs``
    (``compress_to_base91``), ``src/core/gyro_source.rs`` (offsets: gyro time = video time − offset).
    """
    from l2tech.profiles.gyroflow import load_json_safely

    p = os.fspath(path)
    if not os.path.exists(p):
        raise InputNotFoundError("file not found", p)
    if os.path.isdir(p):
        raise UnsupportedFormatError("is a folder, not a Gyroflow project", p)
    doc = load_json_safely(p, max_bytes=MAX_PROJECT_BYTES)
    if not isinstance(doc, dict) or not any(k in doc for k in ("gyro_source", "calibration_data", "offsets")):
        raise CorruptInputError("not a Gyroflow project (no gyro_source, calibration_data or offsets)", p)
    src = doc.get("gyro_source") if isinstance(doc.get("gyro_source"), dict) else {}
    imu = None
    raw = src.get("raw_imu")
    if isinstance(raw, str) and raw:
        imu = _samples(*decode_raw_imu(_inflate(base91_decode(raw), p), p))
    elif isinstance(raw, list) and raw:
        imu = _samples(*_raw_imu_from_json(raw, p))
    elif raw not in (None, "", []):
        raise CorruptInputError("gyro_source.raw_imu: expected a string or a list", p)
    offsets = []
    offs = doc.get("offsets")
    if offs is not None and not isinstance(offs, dict):
        raise CorruptInputError("offsets: expected an object of video time (µs) → offset (ms)", p)
    for k, v in (offs or {}).items():
        try:
            t_us = float(int(str(k)))
        except (ValueError, OverflowError):
            raise CorruptInputError(f"offsets: key {str(k)[:40]!r} is not a time in microseconds", p) from None
        ms = _finite_number(v)
        if ms is None or abs(ms) > 3.6e6:
            raise CorruptInputError(f"offsets[{str(k)[:40]}]: expected a number of milliseconds, got {str(v)[:40]!r}", p)
        offsets.append((t_us / 1e6, -ms / 1000.0))
    off = np.asarray(sorted(offsets), np.float64).reshape(-1, 2)
    for key in ("calibration_data", "stabilization", "gyro_source"):
        if doc.get(key) is not None and not isinstance(doc[key], dict):
            raise CorruptInputError(f"{key}: expected an object, got {type(doc[key]).__name__}", p)
    stab = doc.get("stabilization") or {}
    if stab.get("frame_readout_time") is not None and _number(stab, "frame_readout_time") is None:
        raise CorruptInputError(f"stabilization.frame_readout_time: expected milliseconds, got "
                                f"{stab['frame_readout_time']!r}", p)
    readout = _number(stab, "frame_readout_time")
    if readout is not None and not (np.isfinite(readout) and abs(readout) < 1000.0):
        raise CorruptInputError(f"stabilization.frame_readout_time: {readout} ms is not a readout time", p)
    lens = doc.get("calibration_data")
    dim = lens.get("calib_dimension") if isinstance(lens, dict) else None
    if not (isinstance(dim, dict) and (_number(dim, "w") or 0) > 0 and (_number(dim, "h") or 0) > 0):
        lens = None
    ignored = []
    if stab.get("method") or stab.get("smoothing_params"):
        ignored.append(f"smoothing ({stab.get('method') or 'method unnamed'}): l2tech smooths with --smoothness")
    if doc.get("keyframes"):
        ignored.append("keyframes")
    if (_number(stab, "adaptive_zoom_window") or 0) > 0:
        ignored.append(f"adaptive zoom ({_number(stab, 'adaptive_zoom_window'):g} s window: use --adaptive-zoom)")
    if _number(stab, "horizon_lock_amount"):
        ignored.append("horizon lock amount (use --horizon-lock)")
    fp = src.get("filepath") if isinstance(src.get("filepath"), str) else None
    video = doc.get("videofile") if isinstance(doc.get("videofile"), str) else None
    return GyroflowProject(p, imu, fp or None, video or None, off, readout, lens, ignored,
                           has_raw_imu=raw not in (None, "", []))


def resolve_gyro_file(project: GyroflowProject) -> str | None:
    """The project's motion file on this machine: ``gyro_source.filepath`` as written, else the
    same name beside the project (Gyroflow looks there too); ``None`` when neither exists.
    ``file://`` URLs are accepted."""
    fp = project.gyro_file
    if not fp:
        return None
    if fp.startswith("file://"):
        from urllib.parse import unquote, urlparse

        fp = unquote(urlparse(fp).path)
    for cand in (Path(fp), Path(project.path).parent / Path(fp.replace("\\", "/")).name):
        if cand.is_file():
            return str(cand)
    return None
