"""Motion telemetry of a clip: gyroscope and accelerometer samples, read with telemetry-parser.

telemetry-parser is Gyroflow's reader (GoPro GPMF, Sony, Insta360, DJI, Blackmagic RAW, RED,
Betaflight blackbox, Gyroflow ``.gcsv`` logs, phone logging apps, ...). l2tech does not parse
GPMF itself; this module turns the parser's output into arrays with units and a summary that
``l2 info`` prints.

Units follow telemetry-parser's ``normalized_imu()``: the samples are rotated into one camera
orientation for every make, gyroscope in degrees per second, accelerometer in m/s²; here the
gyroscope is returned in **radians per second** (the unit of the stabilisation maths).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from l2tech.errors import CorruptInputError, DependencyMissingError

__all__ = ["ImuSamples", "TelemetryStream", "TelemetryInfo", "read_imu", "read_gyro_csv", "telemetry_info"]


@dataclass(frozen=True)
class ImuSamples:
    """Motion samples of a clip, in the clip's time.

    Attributes
    ----------
    gyro_t_s : ndarray, shape (N,), float64
        Time of each gyroscope sample, seconds from the start of the clip's telemetry.
    gyro_rad_s : ndarray, shape (N, 3), float64
        Angular rate, rad/s, in telemetry-parser's normalised camera axes.
    accl_t_s : ndarray, shape (M,), float64
        Time of each accelerometer sample, seconds (M may be 0).
    accl_m_s2 : ndarray, shape (M, 3), float64
        Acceleration, m/s², gravity included.
    """

    gyro_t_s: np.ndarray
    gyro_rad_s: np.ndarray
    accl_t_s: np.ndarray
    accl_m_s2: np.ndarray


@dataclass(frozen=True)
class TelemetryStream:
    """One kind of motion data: ``kind`` (``gyroscope``, ``accelerometer``, ``magnetometer``),
    ``samples``, mean ``rate_hz`` and the time span ``start_s`` … ``end_s``."""

    kind: str
    samples: int
    rate_hz: float
    start_s: float
    end_s: float


@dataclass(frozen=True)
class TelemetryInfo:
    """What motion telemetry a file holds: the ``camera`` maker and ``model`` telemetry-parser
    recognised and one :class:`TelemetryStream` per kind present."""

    camera: str
    model: str
    streams: tuple[TelemetryStream, ...]

    def as_dict(self) -> dict:
        """Plain JSON-able data."""
        return {"camera": self.camera, "model": self.model,
                "streams": [dict(s.__dict__) for s in self.streams]}


def _parser(path: str):
    """telemetry-parser's Parser for ``path``, or ``None`` when the file holds no telemetry it knows."""
    try:
        import telemetry_parser
    except ImportError:
        raise DependencyMissingError("reading motion telemetry needs the telemetry-parser package", path=path) from None
    try:
        return telemetry_parser.Parser(str(path))
    except OSError:  # "Unsupported file format": no telemetry this parser knows
        return None
    except Exception as exc:  # noqa: BLE001 - the Rust parser's errors have no common type
        raise CorruptInputError(f"telemetry could not be read ({type(exc).__name__}: {exc})", path=path) from None
    except BaseException as exc:  # a panic in the Rust code (pyo3 PanicException) is a BaseException
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise CorruptInputError(f"telemetry could not be read (parser failure: {exc})", path=path) from None


def _normalized(path: str, parser) -> list[dict]:
    try:
        return list(parser.normalized_imu() or ())
    except Exception as exc:  # noqa: BLE001
        raise CorruptInputError(f"motion telemetry could not be decoded ({type(exc).__name__}: {exc})", path=path) from None
    except BaseException as exc:
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise CorruptInputError(f"motion telemetry could not be decoded (parser failure: {exc})", path=path) from None


def _series(samples: list[dict], key: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [(s["timestamp_ms"], *s[key]) for s in samples if s.get(key) is not None]
    if not rows:
        return np.zeros(0), np.zeros((0, 3))
    a = np.asarray(rows, dtype=np.float64)
    ok = np.isfinite(a).all(axis=1)
    a = a[ok]
    return a[:, 0] / 1000.0, a[:, 1:4]


def read_imu(path: str | os.PathLike) -> ImuSamples | None:
    """The gyroscope and accelerometer samples of a clip or log.

    Parameters
    ----------
    path : path-like
        A clip with embedded motion data (GoPro MP4 with GPMF, Sony, Insta360, ...) or a log
        telemetry-parser reads (Gyroflow ``.gcsv``, Betaflight blackbox, ...).

    Returns
    -------
    ImuSamples or None
        ``None`` when the file holds no motion telemetry. Non-finite samples are dropped.

    Raises
    ------
    DependencyMissingError
        telemetry-parser is not installed.
    CorruptInputError
        The telemetry is present but cannot be decoded.

    References
    ----------
    telemetry-parser (A. Eddy), ``Parser.normalized_imu``: gyroscope in deg/s, accelerometer
    in m/s², one orientation for every make. GoPro GPMF: ``GYRO`` values divided by ``SCAL``
    give rad/s.
    """
    p = str(path)
    parser = _parser(p)
    if parser is None:
        return None
    samples = _normalized(p, parser)
    gt, g = _series(samples, "gyro")
    at, a = _series(samples, "accl")
    if not len(gt) and not len(at):
        return None
    return ImuSamples(gt, np.deg2rad(g), at, a)


def _stream(kind: str, t: np.ndarray) -> TelemetryStream | None:
    if not len(t):
        return None
    span = float(t[-1] - t[0])
    rate = (len(t) - 1) / span if span > 0 else math.nan
    return TelemetryStream(kind, int(len(t)), rate, float(t[0]), float(t[-1]))


def telemetry_info(path: str | os.PathLike) -> TelemetryInfo | None:
    """Summary of a file's motion telemetry (kinds, sample rates, span), or ``None``.

    Parameters
    ----------
    path : path-like
        As :func:`read_imu`.

    Returns
    -------
    TelemetryInfo or None
        ``None`` when telemetry-parser finds no motion data in the file.

    Raises
    ------
    DependencyMissingError, CorruptInputError
        As :func:`read_imu`.
    """
    p = str(path)
    parser = _parser(p)
    if parser is None:
        return None
    samples = _normalized(p, parser)
    streams = [_stream(kind, _series(samples, key)[0])
               for kind, key in (("gyroscope", "gyro"), ("accelerometer", "accl"), ("magnetometer", "magn"))]
    streams = [s for s in streams if s is not None]
    if not streams:
        return None
    return TelemetryInfo(str(parser.camera or ""), str(parser.model or ""), tuple(streams))


#: Largest angular rate a gyro CSV may hold, rad/s (about 5730 °/s). MEMS gyros of cameras and
#: phones measure at most ±2000 °/s (34.9 rad/s), a few ±4000 °/s (69.8 rad/s); a larger value
#: is a unit mistake (°/s or raw counts) or a broken row, and would overflow the integration.
MAX_GYRO_RATE_RAD_S = 100.0
#: Largest |time| in a gyro CSV, seconds: Unix epoch times (about 1.7e9 s) pass; 1e308 does not
#: (differences of such times overflow).
MAX_GYRO_TIME_S = 1e10


def read_gyro_csv(path: str | os.PathLike) -> ImuSamples:
    """Gyroscope samples from a CSV file: columns ``t_s,gx,gy,gz``.

    Parameters
    ----------
    path : path-like
        Text file with a header row naming the columns ``t_s, gx, gy, gz`` (any order, other
        columns ignored), one sample per row: time in seconds (the gyro's clock; the sync
        finds its offset to the video), angular rate in rad/s about the camera's axes (x right,
        y down, z forward: OpenCV's camera frame, right-handed).

    Returns
    -------
    ImuSamples
        No accelerometer samples (``accl`` arrays empty); rows sorted by time.

    Raises
    ------
    CorruptInputError
        A missing column, a value that is not a number, a NaN or infinite value, a rate beyond
        :data:`MAX_GYRO_RATE_RAD_S` or a time beyond :data:`MAX_GYRO_TIME_S` (with ``file:line``),
        fewer than two samples, or two samples at the same time.
    InputNotFoundError
        The file does not exist, is a folder, or is not a regular file (a pipe is not waited on).
    InputNotReadableError
        The file cannot be read.
    """
    import csv
    import io

    from l2tech.errors import InputNotFoundError, InputNotReadableError
    from l2tech.io.formats import NotRegularFileError, open_regular_file

    p = str(path)
    want = ("t_s", "gx", "gy", "gz")
    rows = []
    try:
        with open_regular_file(p) as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            names = [n.strip().lower() for n in (reader.fieldnames or [])]
            missing = [n for n in want if n not in names]
            if missing:
                raise CorruptInputError(f"gyro CSV needs columns t_s,gx,gy,gz; missing {', '.join(missing)} "
                                        f"(header: {', '.join(names) or 'none'})", path=p)
            for row in reader:
                line_no = reader.line_num
                r = {k.strip().lower(): v for k, v in row.items() if isinstance(k, str)}
                try:
                    vals = [float(r[n]) for n in want]
                except (KeyError, TypeError, ValueError):
                    raise CorruptInputError(f"expected numbers in t_s,gx,gy,gz, got "
                                            f"{[r.get(n) for n in want]}", path=p, line=line_no) from None
                if not all(math.isfinite(v) for v in vals):
                    raise CorruptInputError(f"t_s,gx,gy,gz must be finite numbers, got {vals}", path=p, line=line_no)
                if abs(vals[0]) > MAX_GYRO_TIME_S:
                    raise CorruptInputError(f"t_s = {vals[0]:g} s is beyond ±{MAX_GYRO_TIME_S:g} s", path=p, line=line_no)
                big = max(abs(v) for v in vals[1:])
                if big > MAX_GYRO_RATE_RAD_S:
                    raise CorruptInputError(f"angular rate {big:g} rad/s is beyond ±{MAX_GYRO_RATE_RAD_S:g} rad/s "
                                            "(no camera gyro measures that much; rates are in rad/s, not °/s)",
                                            path=p, line=line_no)
                rows.append(vals)
    except NotRegularFileError:
        raise InputNotFoundError("not a regular file (a pipe, device or socket), not a gyro CSV", path=p) from None
    except FileNotFoundError:
        raise InputNotFoundError("gyro CSV not found", path=p) from None
    except IsADirectoryError:
        raise InputNotFoundError("is a folder, not a gyro CSV", path=p) from None
    except UnicodeDecodeError:
        raise CorruptInputError("gyro CSV is not UTF-8 text", path=p) from None
    except csv.Error as exc:
        raise CorruptInputError(f"gyro CSV is not valid CSV: {exc}", path=p) from None
    except OSError as exc:
        raise InputNotReadableError(f"cannot read the gyro CSV: {exc.strerror or exc}", path=p) from None
    a = np.asarray(rows, np.float64).reshape(-1, 4)
    a = a[np.argsort(a[:, 0], kind="stable")]
    if len(a) < 2:
        raise CorruptInputError(f"gyro CSV holds {len(a)} usable samples; at least 2 are needed", path=p)
    if np.any(np.diff(a[:, 0]) <= 0):
        raise CorruptInputError("gyro CSV has two samples at the same time", path=p)
    return ImuSamples(a[:, 0], a[:, 1:4], np.zeros(0), np.zeros((0, 3)))
