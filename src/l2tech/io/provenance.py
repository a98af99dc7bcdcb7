"""What was already done to a picture: in-camera corrections, a RAW converter's, l2tech's own.

A lens profile describes the lens as the sensor saw it. A JPEG the camera (or a RAW converter)
already corrected must not be corrected again, or straight lines bow the other way. This module
reads the facts a file states about its own processing:

- maker-note flags written by the camera (exiv2 keys, below);
- the XMP record of a RAW converter that baked its lens correction in (Adobe Camera Raw /
  Lightroom ``crs:``, darktable's history);
- l2tech's own XMP record (namespace :data:`L2TECH_XMP_NS`), written into every output.

What a body does to its JPEGs without saying so (Micro Four Thirds, Fujifilm X, compacts) is
decided with the lens profile in :mod:`l2tech.pipeline.lens_plan`.

References
----------
- exiv2 ``src/olympusmn_int.cpp`` (CameraSettings 0x050b DistortionCorrection, 0x050c
  ShadingCompensation; ImageProcessing 0x1011/0x1012), ``src/panasonicmn_int.cpp`` (0x008a
  ShadingCompensation), ``src/sonymn_int.cpp`` (0x2011 VignettingCorrection, 0x2012 LateralChromaticAberration, 0x2013 DistortionCorrectionSetting), ``src/canonmn_int.cpp``
  (VignettingCorr2 0x4016: PeripheralLightingSetting, ChromaticAberrationSetting,
  DistortionCorrectionSetting; LightingOpt 0x4018 PeripheralIlluminationCorr,
  DigitalLensOptimizer), ``src/nikonmn_int.cpp`` (0x002a VignetteControl).
- exiftool ``lib/Image/ExifTool/Nikon.pm`` (DistortInfo 0x002b, byte 4 AutoDistortionControl).
- Canon EOS camera manuals, "Lens aberration correction": with the Digital Lens Optimizer on,
  chromatic aberration correction (and diffraction correction) is set to Enable and not shown;
  distortion correction stays its own setting. So DLO is evidence of TCA correction, not of
  distortion correction.
- Adobe XMP Camera Raw schema (``crs:LensProfileEnable``, ``crs:AutoLateralCA``,
  ``crs:AlreadyApplied``); darktable ``src/common/exif.cc`` (``darktable:history``).
"""

from __future__ import annotations

import os
import re
from typing import Any, Iterable, Mapping

__all__ = ["L2TECH_XMP_NS", "L2TECH_XMP_PREFIX", "register_l2tech_namespace", "corrections_done", "l2tech_record",
           "profile_source_label",
           "l2tech_record_fields", "raw_converter", "xmp_items"]

#: XMP namespace of l2tech's record of what it did to an output.
L2TECH_XMP_NS = "https://l2tech.org/ns/xmp/1.0/"
L2TECH_XMP_PREFIX = "l2tech"

# (exiv2 key, correction, values meaning "off"): a flag whose value is not "off" (and not
# "n/a") says the camera applied that correction to this image.
_FLAGS: tuple[tuple[str, str, frozenset[str]], ...] = (
    ("Exif.OlympusCs.DistortionCorrection", "distortion", frozenset({"0"})),
    ("Exif.OlympusIp.DistortionCorrection", "distortion", frozenset({"0"})),
    ("Exif.OlympusCs.ShadingCompensation", "vignetting", frozenset({"0"})),
    ("Exif.OlympusIp.ShadingCompensation", "vignetting", frozenset({"0"})),
    ("Exif.Panasonic.ShadingCompensation", "vignetting", frozenset({"0"})),
    ("Exif.Sony2.DistortionCorrectionSetting", "distortion", frozenset({"0", "65535", "-1"})),
    ("Exif.Sony1.DistortionCorrectionSetting", "distortion", frozenset({"0", "65535", "-1"})),
    ("Exif.Sony2.VignettingCorrection", "vignetting", frozenset({"0", "4294967295", "-1", "65535"})),
    ("Exif.Sony1.VignettingCorrection", "vignetting", frozenset({"0", "4294967295", "-1", "65535"})),
    ("Exif.Sony2.LateralChromaticAberration", "tca", frozenset({"0", "4294967295", "-1", "65535"})),
    ("Exif.Sony1.LateralChromaticAberration", "tca", frozenset({"0", "4294967295", "-1", "65535"})),
    ("Exif.CanonVigCor2.DistortionCorrectionSetting", "distortion", frozenset({"0", "-1"})),
    ("Exif.CanonVigCor2.ChromaticAberrationSetting", "tca", frozenset({"0", "-1"})),
    ("Exif.CanonVigCor2.PeripheralLightingSetting", "vignetting", frozenset({"0", "-1"})),
    ("Exif.CanonLiOp.PeripheralIlluminationCorr", "vignetting", frozenset({"0", "-1"})),
    ("Exif.CanonLiOp.DigitalLensOptimizer", "tca", frozenset({"0", "-1"})),
    ("Exif.Nikon3.VignetteControl", "vignetting", frozenset({"0"})),
)

#: Software names of RAW converters and editors (the JPEG is theirs, not the camera's).
_CONVERTERS = re.compile(
    r"lightroom|photoshop|camera raw|darktable|rawtherapee|capture one|dxo|affinity|luminar|silkypix|"
    r"digital photo professional|olympus viewer|olympus workspace|om workspace|lumix|acdsee|on1|gimp|ufraw|"
    r"dcraw|raw power|rawpy|imagemagick|l2tech|nx studio|nikon capture|capture nx|view nx|imaging edge|x raw studio",
    re.I,
)


def register_l2tech_namespace(exiv2: Any) -> None:
    """Register l2tech's XMP namespace with exiv2 (idempotent), so its keys read and write."""
    try:
        exiv2.XmpProperties.registerNs(L2TECH_XMP_NS, L2TECH_XMP_PREFIX)
    except Exception:  # already registered under that prefix
        pass


def _value(tags: Any, key: str) -> str | None:
    text = tags.raw(key)
    return None if text is None else text.strip()


def raw_converter(software: str | None, xmp_keys: list[str]) -> str | None:
    """The RAW converter or editor that wrote the image, from ``Software`` and the XMP, or None.

    Parameters
    ----------
    software : str or None
        EXIF ``Software``.
    xmp_keys : list of str
        The file's XMP keys (exiv2 spelling, ``Xmp.crs.LensProfileEnable``).
    """
    if software and _CONVERTERS.search(software):
        return software
    if any(k.startswith("Xmp.crs.") for k in xmp_keys):
        return "Adobe Camera Raw"
    if any(k.startswith("Xmp.darktable.") for k in xmp_keys):
        return "darktable"
    return None


def xmp_items(tags: Any) -> list[tuple[str, str]]:
    """Every readable XMP ``(key, value)`` of a file's tags (exiv2 keys); unreadable ones left out."""
    if tags.xmp is None:
        return []
    out = []
    try:
        for d in tags.xmp:
            try:
                out.append((d.key(), d.toString()))
            except Exception:
                continue
    except Exception:
        return out
    return out


def corrections_done(tags: Any) -> tuple[tuple[str, str], ...]:
    """Lens corrections the file says were applied to its pixels, each with its evidence.

    Parameters
    ----------
    tags : l2tech.io.metadata._Tags
        The file's EXIF (maker notes included) and XMP.

    Returns
    -------
    tuple of (correction, evidence)
        ``correction`` in ``{"vignetting", "tca", "distortion"}``; ``evidence`` names the tag
        and its value, e.g. ``"maker note Exif.Sony2.DistortionCorrectionSetting = Auto"``.
        The first evidence per correction only.
    """
    done: dict[str, str] = {}
    for key, corr, off in _FLAGS:
        v = _value(tags, key)
        if v is None or corr in done:
            continue
        first = v.split()[0] if v.split() else ""
        if not first or first in off:
            continue
        if key == "Exif.Nikon3.VignetteControl" and first not in ("1", "3", "5"):
            continue
        printed = tags.printed(key) or first
        done[corr] = f"maker note {key} = {printed}"
    nikon = (tags.raw("Exif.Nikon3.0x002b") or "").split()  # DistortInfo: 4 version bytes, then the flag
    if "distortion" not in done and len(nikon) >= 5 and nikon[4] in ("1", "2"):
        # named as exiftool prints it (Nikon.pm: 1 On, 2 On (underwater)); 2 was reported as "On"
        value = "On (underwater)" if nikon[4] == "2" else "On"
        done["distortion"] = f"maker note Nikon AutoDistortionControl = {value}"
    xmp = dict(xmp_items(tags))
    if xmp.get("Xmp.crs.AlreadyApplied", "True").strip().lower() != "false":
        if xmp.get("Xmp.crs.LensProfileEnable", "").strip() == "1":
            if xmp.get("Xmp.crs.LensProfileDistortionScale", "100").strip() not in ("0",):
                done.setdefault("distortion", "Adobe Camera Raw lens profile (XMP crs:LensProfileEnable = 1)")
            if xmp.get("Xmp.crs.LensProfileVignettingScale", "100").strip() not in ("0",):
                done.setdefault("vignetting", "Adobe Camera Raw lens profile (XMP crs:LensProfileEnable = 1)")
        if xmp.get("Xmp.crs.AutoLateralCA", "").strip() == "1":
            done.setdefault("tca", "Adobe Camera Raw (XMP crs:AutoLateralCA = 1)")
    # darktable: history items darktable:history[i]/darktable:operation = "lens", counted up to
    # darktable:history_end; each instance (multi_priority) of the module is in the state of its
    # last item there (an item "on" then one "off" leaves it off)
    end = xmp.get("Xmp.darktable.history_end")
    hist = re.compile(r"^Xmp\.darktable\.history\[(\d+)\]/darktable:operation$")
    lens_on: dict[str, tuple[int, bool]] = {}
    for k, v in xmp.items():
        m = hist.match(k)
        if not m or v.strip() != "lens":
            continue
        i = int(m.group(1))
        if end is not None and end.strip().isdigit() and i > int(end):
            continue
        instance = xmp.get(f"Xmp.darktable.history[{i}]/darktable:multi_priority", "0").strip()
        enabled = xmp.get(f"Xmp.darktable.history[{i}]/darktable:enabled", "1").strip() == "1"
        if i >= lens_on.get(instance, (0, False))[0]:
            lens_on[instance] = (i, enabled)
    if any(on for _, on in lens_on.values()):
        for corr in ("distortion", "tca", "vignetting"):
            done.setdefault(corr, "darktable's lens correction module (XMP darktable:history)")
    # l2tech's own record (an output of `l2 correct` / `l2 develop`), so `l2 info` lists it with the rest
    record = dict(l2tech_record(tags))
    for corr in (record.get("Corrections") or "").split(","):
        if corr.strip() in ("vignetting", "tca", "distortion"):
            done.setdefault(corr.strip(), f"l2tech {record.get('Version', '')} (XMP l2tech:Corrections)".replace("  ", " "))
    return tuple((c, done[c]) for c in ("vignetting", "tca", "distortion") if c in done)


def l2tech_record(tags: Any) -> tuple[tuple[str, str], ...]:
    """l2tech's XMP record in the file (``(property, value)`` pairs), empty when there is none."""
    prefix = f"Xmp.{L2TECH_XMP_PREFIX}."
    return tuple((k[len(prefix):], v) for k, v in xmp_items(tags) if k.startswith(prefix))


def profile_source_label(kind: str | None, origin: str | None = None) -> str | None:
    """``ProfileSource`` of a record: the kind, with the file's name for a profile file or a
    user-folder file (``file (GoPro_HERO5.json)``, ``user (mine.xml)``), so the record says which.

    Parameters
    ----------
    kind : str or None
        ``file``, ``user``, ``database``, ``embedded``, ...; None or empty is returned as it is.
    origin : str, optional
        A profile's ``source`` (``"user:/home/me/lenses/mine.xml"``, ``"lensfun:slr-canon.xml"``)
        or a path.

    Returns
    -------
    str or None
    """
    if not kind:
        return kind
    origin = origin or ""
    prefix, sep, rest = origin.partition(":")
    # "user:/path" -> "/path"; a path with its own ':' later in its name keeps it
    path = rest if sep and prefix.isidentifier() else origin
    if kind in ("file", "user") and path:
        return f"{kind} ({os.path.basename(path)})"
    return kind


def l2tech_record_fields(*, profile: str | None, profile_source: str | None, corrections: Iterable[str],
                         not_corrected: Mapping[str, str] | None = None, recipe_hash: str,
                         source_software: str | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """l2tech's record of what it did to one output, as ``property -> value`` (no namespace).

    The properties of the stills' XMP record (``Xmp.l2tech.*``, :data:`L2TECH_XMP_NS`) under
    the same names, so a video container's record (``l2 video``: JSON in the ``comment`` tag,
    :mod:`l2tech.video.transcode`) reads as a picture's does.

    Parameters
    ----------
    profile : str or None
        Name of the lens profile used (the lens); None or empty when none was.
    profile_source : str or None
        Where that profile came from (``database``, ``user``, ``file (NAME)``, ...); left
        out when no profile was used.
    corrections : iterable of str
        The corrections applied, in pipeline order (``vignetting``, ``tca``, ``distortion``).
    not_corrected : mapping of str to str, optional
        ``correction -> reason`` for the ones skipped (written as ``correction: reason``
        separated by ``"; "``).
    recipe_hash : str
        Digest of the settings (:func:`l2tech.pipeline.recipe_file.recipe_hash` or the stills'
        own).
    source_software : str, optional
        The input's ``Software`` (or encoder), which the output's replaces.
    extra : mapping of str to str, optional
        More properties (e.g. ``Stabilization``), after the standard ones.

    Returns
    -------
    dict of str to str
        ``Tool`` (``l2tech``), ``Version``, ``Profile``, ``ProfileSource``, ``Corrections``
        (comma-separated), ``NotCorrected``, ``RecipeHash``, ``SourceSoftware`` and the
        ``extra`` ones; empty values left out, except ``Profile`` and ``Corrections`` (an
        empty ``Corrections`` says nothing was corrected).

    References
    ----------
    Adobe, *XMP Specification Part 1* (2012), 6.2 (a property is a name/value pair in a
    namespace); the names are the ones :func:`l2tech_record` reads back from a picture.
    """
    from l2tech import __version__

    rec = {
        "Tool": "l2tech",
        "Version": __version__,
        "Profile": profile or "",
        "ProfileSource": (profile_source or "") if profile else "",
        "Corrections": ",".join(corrections),
        "NotCorrected": "; ".join(f"{c}: {why}" for c, why in (not_corrected or {}).items() if why),
        "RecipeHash": recipe_hash,
        "SourceSoftware": source_software or "",
        **dict(extra or {}),
    }
    return {k: str(v) for k, v in rec.items() if v != "" or k in ("Corrections", "Profile")}
