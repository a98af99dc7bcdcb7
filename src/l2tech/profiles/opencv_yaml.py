"""OpenCV calibration files (YAML / XML via ``cv2.FileStorage``) as :class:`LensProfile`.

Layouts recognised (first match wins):

1. OpenCV's own calibration output (``samples/cpp/calibration.cpp``, ``camera_calibration``
   tutorial): ``camera_matrix`` (or ``cameraMatrix``, ``K``) 3x3, ``distortion_coefficients``
   (or ``dist_coeffs``, ``distCoeffs``, ``D``), ``image_width``/``image_height`` (or
   ``image_size``/``imageSize``); a ``fisheye`` / ``model``/``distortion_model`` entry equal to
   ``fisheye``/``equidistant``/``kannala_brandt`` (or 4 coefficients with ``fisheye: 1``) selects
   Kannala–Brandt.
2. ORB-SLAM2/3: ``Camera.fx, Camera.fy, Camera.cx, Camera.cy, Camera.k1, Camera.k2, Camera.p1,
   Camera.p2[, Camera.k3]`` (``Camera1.*`` in ORB-SLAM3; ``Camera.type: "KannalaBrandt8"`` uses
   ``k1..k4``); ``Camera.width/height`` when present.
3. VINS-Mono / camodocal: ``model_type: PINHOLE`` (``distortion_parameters {k1, k2, p1, p2}``,
   ``projection_parameters {fx, fy, cx, cy}``) or ``KANNALA_BRANDT`` (``projection_parameters
   {k2, k3, k4, k5, mu, mv, u0, v0}``: camodocal's ``k2..k5`` are OpenCV's ``k1..k4``, ``mu, mv,
   u0, v0`` are ``fx, fy, cx, cy``); ``image_width``/``image_height``.

XML files are checked with defusedxml first (DOCTYPE and entities refused) before OpenCV parses
them. A file without an image size gives a profile without ``calib_width_px`` (it then applies
to frames of its own, unknown, size only).

References
----------
OpenCV ``cv::FileStorage``; ORB-SLAM2 ``Examples/Monocular/*.yaml``; VINS-Mono ``config/*``,
camodocal ``EquidistantCamera.cc`` / ``PinholeCamera.cc``.
"""

from __future__ import annotations

import math
import os

from l2tech.errors import CorruptInputError, InvalidProfileError, UnsupportedFormatError
from l2tech.optics import kannala_brandt as _kb, opencv as _cv  # noqa: F401  (register the families)
from l2tech.profiles.model import DistortionCalibration, LensProfile

__all__ = ["read_opencv_yaml", "check_xml_safe", "NOT_A_PROFILE"]

MAX_BYTES = 4 * 1024 * 1024
_CV_ORDER = ("k1", "k2", "p1", "p2", "k3", "k4", "k5", "k6", "s1", "s2", "s3", "s4")


#: The message for a file that is no lens profile at all (a photo given as ``--profile``).
NOT_A_PROFILE = "not a lens profile (expected lensfun XML, Adobe LCP, Gyroflow JSON, OpenCV YAML/XML, DNG)"


def _looks_like_text(data: bytes) -> bool:
    """True for text (UTF-8 or a legacy 8-bit encoding): no NUL byte and at most 1 % control bytes.

    Photos and other binary files fail this (a JPEG holds NULs in its first bytes; random
    bytes are ~10 % control codes); a Latin-1 comment in a calibration file passes.
    """
    if not data or b"\0" in data:
        return not data
    ctrl = sum(data.count(bytes([c])) for c in range(1, 32) if c not in (9, 10, 12, 13)) + data.count(b"\x7f")
    return ctrl <= 0.01 * len(data)


def _cv_reason(exc: BaseException) -> str:
    """OpenCV's own reason, one line, without the source-file prefix.

    ``cv2.FileStorage`` sometimes surfaces as a ``SystemError`` whose context holds the real
    ``cv2.error``; that one is used.
    """
    import re

    inner = exc.__cause__ or exc.__context__
    if isinstance(exc, SystemError) and inner is not None:
        exc = inner
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    if not lines:
        return type(exc).__name__
    m = re.search(r"error: \(-?\d+:[^)]*\) (.*)$", lines[-1])
    return m.group(1) if m else lines[-1]


def check_xml_safe(path: os.PathLike | str, data: bytes | None = None) -> None:
    """Refuse XML with a DOCTYPE, entity declarations or external references (defusedxml).

    Raises
    ------
    InvalidProfileError
        The file declares a DOCTYPE / entities (billion laughs, external entities).
    CorruptInputError
        Not well-formed XML.
    """
    import defusedxml.ElementTree as DET
    from defusedxml import DefusedXmlException

    p = os.fspath(path)
    if data is None:
        from l2tech.io.formats import open_regular_file

        with open_regular_file(p) as fh:  # a FIFO is refused, not waited on
            data = fh.read()
    if b"<!DOCTYPE" in data[:4096].upper() or b"<!ENTITY" in data.upper():
        raise InvalidProfileError("XML with a DOCTYPE or entity declarations is refused (unsafe XML)", p)
    try:
        DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise InvalidProfileError(f"unsafe XML refused ({type(exc).__name__})", p) from None
    except Exception as exc:  # ParseError
        raise CorruptInputError(f"not well-formed XML ({exc})", p) from None


def _real(fs, key: str):
    n = fs.getNode(key)
    if n.isNone():
        return None
    if n.isReal() or n.isInt():
        return float(n.real())
    if n.isString():
        try:
            return float(n.string())
        except ValueError:
            return None
    return None


def _finite(v: float, name: str, path: str, positive: bool = False) -> float:
    if v is None:
        raise InvalidProfileError(f"missing field {name}", path)
    if not math.isfinite(v):
        raise InvalidProfileError(f"field {name} is {v}; expected a finite number", path)
    if positive and v <= 0:
        raise InvalidProfileError(f"field {name} is {v:g}; expected > 0", path)
    return float(v)


def _mat(node, p: str):
    """``node.mat()``, after checking that a matrix map's ``rows × cols × channels`` is its data count.

    OpenCV 5.1's reader corrupts its heap on a mismatched matrix (``cols: 65536`` over 5
    values: it raises, then the process aborts with "double free or corruption"), so the sizes
    are checked through the node API first. Found by fuzzing.
    """
    if node.isMap():
        rows, cols, dt, data = (node.getNode(k) for k in ("rows", "cols", "dt", "data"))
        if rows.empty() or cols.empty() or dt.empty() or data.empty() or not data.isSeq():
            raise CorruptInputError("OpenCV cannot read the calibration: a matrix needs rows, cols, dt and a data list", p)
        r, c = rows.real(), cols.real()
        kind = dt.string() if dt.isString() else ""
        ch = int(kind[:-1]) if len(kind) > 1 and kind[:-1].isdigit() else 1
        if not (math.isfinite(r) and math.isfinite(c) and r == int(r) and c == int(c) and 0 <= r and 0 <= c
                and r * c * ch == data.size()):  # `rows: .inf` is a float OpenCV reads (found by fuzzing)
            raise CorruptInputError(f"OpenCV cannot read the calibration: a {r:g}x{c:g} matrix of {ch} channel(s) "
                                    f"holds {data.size()} values", p)
    return node.mat()


def read_opencv_yaml(path: os.PathLike | str) -> LensProfile:
    """Read an OpenCV / ORB-SLAM / VINS-Mono calibration file.

    Parameters
    ----------
    path : str or PathLike
        ``.yaml``, ``.yml`` or ``.xml`` (any layout listed in the module docs).

    Returns
    -------
    LensProfile
        One ``DistortionCalibration`` of model ``"opencv"`` or ``"kannala_brandt"`` with terms in
        pixels (``fx, fy, cx, cy``), ``extra["calib_width_px"/"calib_height_px"]`` when the file
        gives the size.

    Raises
    ------
    EmptyFileError, LimitExceededError, CorruptInputError, UnsupportedFormatError, InvalidProfileError
        Empty, too large, unparsable, no camera model found, or a bad number (field named);
        :class:`UnsupportedFormatError` also for a missing or unreadable file and for binary
        content (a photo is not a calibration file; ``cv2.FileStorage`` errors never escape).
    """
    import cv2
    import numpy as np

    from l2tech.io.formats import read_input_bytes

    p = os.fspath(path)
    data = read_input_bytes(p, max_bytes=MAX_BYTES, what="calibration file")
    if not _looks_like_text(data):
        # cv2.FileStorage on binary data (a JPEG, say) raises cv2.error or a SystemError
        raise UnsupportedFormatError(NOT_A_PROFILE, p)
    if data.lstrip()[:5].lower() == b"<?xml" or p.lower().endswith(".xml"):
        check_xml_safe(p, data)
    try:
        fs = cv2.FileStorage(p, cv2.FILE_STORAGE_READ)
    except (cv2.error, SystemError) as exc:
        raise CorruptInputError(f"OpenCV cannot parse the file as YAML/XML ({_cv_reason(exc)})", p) from None
    if not fs.isOpened():
        raise CorruptInputError("OpenCV cannot open the file as YAML/XML", p)
    try:
        keys = set(fs.root().keys()) if fs.root().isMap() else set()
        model = "opencv"
        terms: dict[str, float] = {}
        width = height = None
        layout = ""
        mat_key = next((k for k in ("camera_matrix", "cameraMatrix", "K", "intrinsic_matrix") if k in keys), None)
        if mat_key is not None:
            layout = "opencv"
            K = _mat(fs.getNode(mat_key), p)
            if K is None or K.shape != (3, 3):
                raise InvalidProfileError(f"field {mat_key} must be a 3x3 matrix", p)
            dkey = next((k for k in ("distortion_coefficients", "dist_coeffs", "distCoeffs", "D") if k in keys), None)
            D = _mat(fs.getNode(dkey), p).ravel() if dkey else np.zeros(0)
            kind = ""
            for k in ("fisheye", "model", "distortion_model", "camera_model"):
                if k in keys:
                    n = fs.getNode(k)
                    kind = n.string().lower() if n.isString() else ("fisheye" if n.real() else "")
                    break
            if kind in ("fisheye", "equidistant", "kannala_brandt", "opencv_fisheye"):
                model = "kannala_brandt"
                terms = {f"k{i + 1}": float(v) for i, v in enumerate(D[:4])}
            else:
                if len(D) > 12:
                    raise InvalidProfileError(f"field {dkey} has {len(D)} values; the OpenCV model takes at most 12 (tilt terms are not supported)", p)
                terms = {n: float(v) for n, v in zip(_CV_ORDER, D)}
            terms.update(fx=float(K[0, 0]), fy=float(K[1, 1]), cx=float(K[0, 2]), cy=float(K[1, 2]))
            names = {"fx": f"{mat_key}[0][0] (fx)", "fy": f"{mat_key}[1][1] (fy)", "cx": f"{mat_key}[0][2]", "cy": f"{mat_key}[1][2]"}
            width, height = _real(fs, "image_width"), _real(fs, "image_height")
            for sk in ("image_size", "imageSize"):
                if sk in keys and width is None:
                    m = fs.getNode(sk)
                    v = _mat(m, p) if m.isSeq() is False else np.array([m.at(i).real() for i in range(m.size())])
                    if v is not None and np.size(v) >= 2:
                        width, height = float(np.ravel(v)[0]), float(np.ravel(v)[1])
        elif any(k.startswith(("Camera.", "Camera1.")) for k in keys):
            layout = "orb_slam"
            pre = "Camera1." if "Camera1.fx" in keys else "Camera."
            typ = fs.getNode("Camera.type").string().lower() if "Camera.type" in keys else ""
            names = {k: pre + k for k in ("fx", "fy", "cx", "cy")}
            for k in ("fx", "fy", "cx", "cy"):
                terms[k] = _real(fs, pre + k)  # type: ignore[assignment]
            if "kannala" in typ:
                model = "kannala_brandt"
                for i in range(1, 5):
                    v = _real(fs, f"{pre}k{i}")
                    if v is not None:
                        terms[f"k{i}"] = v
            else:
                for k in ("k1", "k2", "p1", "p2", "k3"):
                    v = _real(fs, pre + k)
                    if v is not None:
                        terms[k] = v
            width, height = _real(fs, "Camera.width"), _real(fs, "Camera.height")
        elif "model_type" in keys:
            layout = "camodocal"
            mt = fs.getNode("model_type").string().upper()
            pp = fs.getNode("projection_parameters")
            if pp.isNone():
                raise InvalidProfileError("missing field projection_parameters", p)
            width, height = _real(fs, "image_width"), _real(fs, "image_height")
            if mt == "PINHOLE":
                dp = fs.getNode("distortion_parameters")
                for k in ("k1", "k2", "p1", "p2"):
                    v = _real(dp, k) if not dp.isNone() else None
                    if v is not None:
                        terms[k] = v
                names = {k: f"projection_parameters.{k}" for k in ("fx", "fy", "cx", "cy")}
                for k in ("fx", "fy", "cx", "cy"):
                    terms[k] = _real(pp, k)  # type: ignore[assignment]
            elif mt == "KANNALA_BRANDT":
                model = "kannala_brandt"
                for i, k in enumerate(("k2", "k3", "k4", "k5")):
                    v = _real(pp, k)
                    if v is not None:
                        terms[f"k{i + 1}"] = v
                src = {"fx": "mu", "fy": "mv", "cx": "u0", "cy": "v0"}
                names = {k: f"projection_parameters.{v}" for k, v in src.items()}
                for k, v in src.items():
                    terms[k] = _real(pp, v)  # type: ignore[assignment]
            else:
                raise InvalidProfileError(
                    f"field model_type is {mt!r}; supported: PINHOLE, KANNALA_BRANDT (MEI/SCARAMUZZA are not)", p
                )
        else:
            raise UnsupportedFormatError(
                "no camera model found (expected camera_matrix, Camera.fx or model_type)", p
            )
    except (cv2.error, SystemError) as exc:  # a node of an unexpected type (a string where a matrix belongs)
        raise CorruptInputError(f"OpenCV cannot read the calibration ({_cv_reason(exc)})", p) from None
    except UnicodeDecodeError as exc:  # a key or string that is not UTF-8 (comments in Latin-1 are fine)
        raise CorruptInputError(f"a key or value is not UTF-8 text ({exc.reason} at byte {exc.start})", p) from None
    finally:
        fs.release()
    for k in ("fx", "fy"):
        _finite(terms.get(k), names[k], p, positive=True)
    for k in ("cx", "cy"):
        _finite(terms.get(k), names[k], p)
    for k, v in terms.items():
        _finite(v, k, p)
    extra: dict[str, object] = {"format": f"opencv_yaml:{layout}"}
    if width and height:
        _finite(width, "image_width", p, positive=True)
        _finite(height, "image_height", p, positive=True)
        extra.update(calib_width_px=int(width), calib_height_px=int(height))
    name = os.path.splitext(os.path.basename(p))[0]
    return LensProfile(
        maker="",
        model=name,
        aspect_ratio=(max(width, height) / min(width, height)) if width and height else 1.5,
        lens_type="fisheye" if model == "kannala_brandt" else "rectilinear",
        distortion=(DistortionCalibration(model, 0.0, terms),),
        source=f"opencv_yaml:{p}",
        extra=extra,
    )
