"""Adobe lens profiles (``.lcp``, XMP/RDF) read into :class:`LensProfile`.

Structure (Adobe Lens Profile Creator output)::

    x:xmpmeta / rdf:RDF / rdf:Description / photoshop:CameraProfiles / rdf:Seq / rdf:li*
      rdf:Description stCamera:Make, Model, Lens, LensPrettyName, CameraRawProfile,
                      SensorFormatFactor, FocalLength (mm), FocusDistance (m),
                      ApertureValue (APEX)
        stCamera:PerspectiveModel | stCamera:FisheyeModel / rdf:Description
            FocalLengthX, FocalLengthY, ImageXCenter, ImageYCenter, RadialDistortParam1..3,
            TangentialDistortParam1..2, ScaleFactor
          stCamera:VignetteModel / rdf:Description     VignetteModelParam1..3 (+ focal, centre)
          stCamera:ChromaticRedGreenModel, ChromaticGreenModel, ChromaticBlueGreenModel

Properties may be attributes or child elements (``rdf:parseType="Resource"``); both are read.
Every entry becomes calibration points (one profile per file; the first lens named):

* ``DistortionCalibration(model="adobe_rectilinear" | "adobe_fisheye", focal_length_mm,
  terms={Adobe names..., "FocusDistance": m})``;
* ``TCACalibration(same model, focal, terms={"R_"+name, "B_"+name, "G_"+name ..., FocusDistance})``;
* ``VignettingCalibration(model="adobe_vignette", focal, f_number = 2^(Av/2), focus_distance_m,
  terms={Adobe names})``.

The aperture is APEX: ``N = 2^(Av/2)`` (Av 0.970854 is f/1.4). An entry with a bad number is
skipped with a :class:`LCPEntryWarning` naming the file and entry; the others load. A shot's
coefficients come from :func:`l2tech.profiles.interpolate.interpolate` (rule:
:func:`~l2tech.profiles.interpolate.interpolate_lcp`, across focal length, focus distance and,
for vignetting, aperture).

References
----------
Adobe, "Adobe Camera Model" and the Lens Profile Creator user guide (LCP format);
RawTherapee ``rtengine/lcp.cc`` (parser, interpolation); lensfun ``apps/lensfun-convert-lcp``.
"""

from __future__ import annotations

import math
import os
import warnings
from typing import Iterable

from l2tech.errors import CorruptInputError, InvalidProfileError
from l2tech.optics import adobe as _adobe  # noqa: F401  (registers the adobe families)
from l2tech.profiles.model import (
    DistortionCalibration,
    LensProfile,
    TCACalibration,
    VignettingCalibration,
)

__all__ = ["LCPEntryWarning", "read_lcp", "parse_lcp", "apex_to_f_number", "f_number_to_apex"]

NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_PS = "http://ns.adobe.com/photoshop/1.0/"
NS_CAM = "http://ns.adobe.com/photoshop/1.0/camera-profile"
MAX_BYTES = 16 * 1024 * 1024
_MODEL_KEYS = ("FocalLengthX", "FocalLengthY", "ImageXCenter", "ImageYCenter", "RadialDistortParam1",
               "RadialDistortParam2", "RadialDistortParam3", "TangentialDistortParam1",
               "TangentialDistortParam2", "ScaleFactor", "VignetteModelParam1", "VignetteModelParam2",
               "VignetteModelParam3")


class LCPEntryWarning(UserWarning):
    """An LCP entry was skipped (bad number); the message names the file and entry."""


def apex_to_f_number(av: float) -> float:
    """APEX aperture value to f-number: ``N = 2^(Av/2)``.

    Examples
    --------
    >>> round(apex_to_f_number(0.970854), 3)
    1.4
    >>> apex_to_f_number(4.0)
    4.0
    """
    return float(2.0 ** (float(av) / 2.0))


def f_number_to_apex(n: float) -> float:
    """f-number to APEX aperture value ``Av = 2 log2 N``."""
    return float(2.0 * math.log2(float(n)))


def _tag(ns: str, name: str) -> str:
    return f"{{{ns}}}{name}"


def _props(el) -> dict[str, str]:
    """stCamera properties of a node: attributes plus simple child elements."""
    out: dict[str, str] = {}
    for k, v in el.attrib.items():
        if k.startswith("{" + NS_CAM + "}"):
            out[k[len(NS_CAM) + 2 :]] = v
    for ch in el:
        if ch.tag.startswith("{" + NS_CAM + "}") and len(ch) == 0 and (ch.text or "").strip():
            out[ch.tag[len(NS_CAM) + 2 :]] = ch.text.strip()
    return out


def _resource(el):
    """The node holding a struct's properties (its rdf:Description child, or itself)."""
    d = el.find(_tag(NS_RDF, "Description"))
    return d if d is not None else el


def _num(props: dict[str, str], key: str, where: str) -> float:
    try:
        v = float(props[key])
    except (KeyError, ValueError):
        raise InvalidProfileError(f"{where}: {key} is {props.get(key)!r}; expected a number") from None
    if not math.isfinite(v):
        raise InvalidProfileError(f"{where}: {key} is {v}; expected a finite number")
    return v


def _model_terms(props: dict[str, str], where: str) -> dict[str, float]:
    t = {k: _num(props, k, where) for k in _MODEL_KEYS if k in props}
    for k in ("FocalLengthX", "FocalLengthY"):
        if k in t and t[k] <= 0:
            raise InvalidProfileError(f"{where}: {k} is {t[k]:g}; expected > 0")
    return t


def _entries(root) -> Iterable:
    for cp in root.iter(_tag(NS_PS, "CameraProfiles")):
        seq = cp.find(_tag(NS_RDF, "Seq"))
        if seq is None:
            continue
        for li in seq.findall(_tag(NS_RDF, "li")):
            yield _resource(li)


def parse_lcp(data: bytes, path: object = None) -> LensProfile:
    """Parse the bytes of an LCP file (see :func:`read_lcp`)."""
    import defusedxml.ElementTree as DET
    from defusedxml import DefusedXmlException

    if b"<!DOCTYPE" in data[:4096].upper() or b"<!ENTITY" in data.upper():
        raise InvalidProfileError("XML with a DOCTYPE or entity declarations is refused (unsafe XML)", path)
    try:
        root = DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise InvalidProfileError(f"unsafe XML refused ({type(exc).__name__})", path) from None
    except Exception as exc:
        raise CorruptInputError(f"not well-formed XML ({exc})", path) from None
    dist: list[DistortionCalibration] = []
    tca: list[TCACalibration] = []
    vig: list[VignettingCalibration] = []
    info: dict[str, str] = {}
    fisheye = None
    n_entries = 0
    skipped_lenses: set[str] = set()
    for i, entry in enumerate(_entries(root)):
        n_entries += 1
        where = f"entry {i + 1}"
        props = _props(entry)
        try:
            focal = _num(props, "FocalLength", where)
            if focal <= 0:
                raise InvalidProfileError(f"{where}: FocalLength is {focal:g}; expected > 0")
            distance = _num(props, "FocusDistance", where) if "FocusDistance" in props else 1000.0
            av = _num(props, "ApertureValue", where) if "ApertureValue" in props else None
            if av is not None and not -4.0 <= av <= 40.0:  # APEX: f/0.25 ... f/1,048,576; 2**(av/2) overflows far beyond
                raise InvalidProfileError(f"{where}: ApertureValue is {av:g}; expected an APEX aperture between -4 and 40")
            models = [(m, entry.find(_tag(NS_CAM, m))) for m in ("PerspectiveModel", "FisheyeModel")]
            models = [(m, _resource(e)) for m, e in models if e is not None]
            if not models:
                raise InvalidProfileError(f"{where}: no PerspectiveModel or FisheyeModel")
            name, node = models[0]
            is_fish = name == "FisheyeModel"
            family = "adobe_fisheye" if is_fish else "adobe_rectilinear"
            main = _model_terms(_props(node), f"{where} {name}")
            # no FocalLengthX: the Adobe Camera Model computes it from the shot's focal length
            # and sensor size (l2tech.optics.adobe.adobe_params_for_frame)
            new_d = DistortionCalibration(family, focal, {**main, "FocusDistance": distance})
            new_t = None
            subs = {}
            for key, pre in (("ChromaticRedGreenModel", "R_"), ("ChromaticGreenModel", "G_"), ("ChromaticBlueGreenModel", "B_")):
                e = node.find(_tag(NS_CAM, key))
                if e is not None:
                    subs[pre] = _model_terms(_props(_resource(e)), f"{where} {key}")
            if subs:
                terms = {pre + k: v for pre, s in subs.items() for k, v in s.items()}
                terms["FocusDistance"] = distance
                new_t = TCACalibration(family, focal, terms)
            new_v = None
            e = node.find(_tag(NS_CAM, "VignetteModel"))
            if e is not None:
                vt = _model_terms(_props(_resource(e)), f"{where} VignetteModel")
                for k in ("FocalLengthX", "FocalLengthY", "ImageXCenter", "ImageYCenter"):
                    if k not in vt and k in main:
                        vt[k] = main[k]
                if av is None:
                    raise InvalidProfileError(f"{where}: VignetteModel without ApertureValue")
                new_v = VignettingCalibration("adobe_vignette", focal, apex_to_f_number(av), distance, vt)
        except InvalidProfileError as exc:
            named = props.get("LensPrettyName") or props.get("Lens")
            lens_part = f"lens {named!r} " if named else ""
            warnings.warn(f"{path}: LCP {lens_part}{exc.reason}; entry skipped", LCPEntryWarning, stacklevel=2)
            skipped_lenses.add(named or "")
            continue
        if fisheye is None:
            fisheye = is_fish
            info = props
        elif fisheye != is_fish:
            warnings.warn(f"{path}: LCP {where} mixes fisheye and rectilinear models; entry skipped",
                          LCPEntryWarning, stacklevel=2)
            continue
        dist.append(new_d)
        if new_t is not None:
            tca.append(new_t)
        if new_v is not None:
            vig.append(new_v)
    if n_entries == 0:
        raise InvalidProfileError("no photoshop:CameraProfiles entries found; not an Adobe lens profile", path)
    if not dist:
        named = sorted(n for n in skipped_lenses if n)
        of = f" (lens {named[0]!r})" if len(named) == 1 else ""
        raise InvalidProfileError(f"none of the {n_entries} LCP entries{of} is usable; each skipped entry names its field",
                                  path)
    focals = sorted({d.focal_length_mm for d in dist})
    apertures = sorted({v.f_number for v in vig})
    lens = info.get("Lens") or info.get("LensPrettyName") or "unknown lens"
    maker = info.get("Make", "")
    crop = 1.0
    if info.get("SensorFormatFactor"):
        try:
            crop = _num(info, "SensorFormatFactor", lens)
        except InvalidProfileError as exc:
            raise InvalidProfileError(f"LCP {exc.reason}", path) from None
    extra: dict[str, object] = {"format": "lcp"}
    for k in ("Make", "Model", "UniqueCameraModel", "LensPrettyName", "CameraPrettyName", "ProfileName", "LensID", "CameraRawProfile"):
        if k in info:
            extra[f"lcp_{k}"] = info[k]
    return LensProfile(
        maker=info.get("LensMake", maker) or maker,
        model=lens,
        crop_factor=crop if math.isfinite(crop) and crop > 0 else 1.0,
        lens_type="fisheye" if fisheye else "rectilinear",
        focal_min_mm=focals[0],
        focal_max_mm=focals[-1],
        aperture_min=apertures[0] if apertures else None,
        aperture_max=apertures[-1] if apertures else None,
        distortion=tuple(dist),
        tca=tuple(tca),
        vignetting=tuple(vig),
        source=f"lcp:{path}" if path is not None else "lcp",
        aliases=tuple(x for x in (info.get("LensPrettyName", ""),) if x and x != lens),
        extra=extra,
    )


def read_lcp(path: os.PathLike | str) -> LensProfile:
    """Read an Adobe lens profile (``.lcp``).

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    LensProfile
        Every usable entry as calibration points (module docs).

    Raises
    ------
    EmptyFileError, LimitExceededError, CorruptInputError, InvalidProfileError
        Empty, too large, not XML, unsafe XML (DOCTYPE/entities, refused by defusedxml), or no
        usable entry.
    UnsupportedFormatError
        The file is missing, a folder, or cannot be read.

    Warns
    -----
    LCPEntryWarning
        An entry with a bad number was skipped.
    """
    from l2tech.io.formats import read_input_bytes

    p = os.fspath(path)
    return parse_lcp(read_input_bytes(p, max_bytes=MAX_BYTES, what="LCP file"), p)
