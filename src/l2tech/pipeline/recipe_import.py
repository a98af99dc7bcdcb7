"""Recipes from other tools' sidecars: darktable ``.xmp`` and RawTherapee ``.pp3``.

What maps onto the :class:`~l2tech.pipeline.recipe.Recipe` is taken; everything else is listed
in the report, so nothing is dropped silently.

==========================  =================================  ==================================
l2tech field                darktable (``darktable:history``)  RawTherapee (``.pp3``)
==========================  =================================  ==================================
``exposure_ev``             ``exposure`` module, ``exposure``   ``[Exposure] Compensation``
                            (summed over enabled instances)
``white_balance``           ``temperature`` preset: as shot →   ``[White Balance] Setting``:
                            camera, D65 → daylight              Camera, Auto…, Daylight
``lens_correction``,        ``lens`` module enabled/disabled    ``[LensProfile] LcMode`` (none =
``corrections``                                                 off), ``UseVignette``, ``UseCA``,
                                                                ``UseDistortion``
``camera``, ``lens``,       —                                   ``LFCameraMake``/``LFCameraModel``/
``profile``                                                     ``LFLens`` (lfmanual), ``LCPFile``
==========================  =================================  ==================================

Crop, and every other module or section that is switched on, is reported as ignored (l2tech's
Recipe has no crop).

References
----------
darktable ``src/common/exif.cc`` (``dt_exif_xmp_decode``: params as hex, or ``gz`` + two digits
+ base64 of zlib data); ``src/iop/exposure.c`` (``dt_iop_exposure_params_t``: ``int mode; float
black; float exposure; …``); ``src/iop/temperature.c`` (v4 params ``float red, green, blue,
various; int preset``, ``DT_IOP_TEMP_AS_SHOT 0``, ``DT_IOP_TEMP_D65 3``, ``DT_IOP_TEMP_D65_LATE
4``). RawTherapee ``rtengine/procparams.cc`` (the ``.pp3`` key file: ``[Exposure]
Compensation``, ``[White Balance] Setting``, ``[LensProfile] LcMode``).
"""

from __future__ import annotations

import base64
import configparser
import dataclasses
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from l2tech.pipeline.recipe import CORRECTIONS, Recipe
from l2tech.pipeline.recipe_file import read_side_file_bytes

__all__ = ["ImportedRecipe", "read_darktable_xmp", "read_rawtherapee_pp3", "read_foreign_sidecar", "FOREIGN_SUFFIXES"]

#: File suffixes read by :func:`read_foreign_sidecar`.
FOREIGN_SUFFIXES = (".xmp", ".pp3")

_DT_NS = "http://darktable.sf.net/"
_RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


@dataclass(frozen=True)
class ImportedRecipe:
    """A recipe read from another tool's sidecar, with what was taken and what was not.

    Attributes
    ----------
    recipe : Recipe
    mapped : tuple of str
        ``"exposure_ev = 0.7 (darktable exposure)"``, one line per field set.
    ignored : tuple of str
        Settings the file switches on that l2tech does not take, one line each.
    """

    recipe: Recipe
    mapped: tuple[str, ...]
    ignored: tuple[str, ...]


def read_foreign_sidecar(path: str | os.PathLike, *, base: Recipe | None = None) -> ImportedRecipe:
    """Read a darktable ``.xmp`` or a RawTherapee ``.pp3`` (by suffix) onto ``base``."""
    from l2tech.errors import RecipeError

    suffix = Path(path).suffix.lower()
    if suffix == ".xmp":
        return read_darktable_xmp(path, base=base)
    if suffix == ".pp3":
        return read_rawtherapee_pp3(path, base=base)
    raise RecipeError(f"not a darktable .xmp or RawTherapee .pp3 sidecar (suffix {suffix or 'none'})", path=path)


def _dt_params(text: str) -> bytes:
    """darktable's encoding of module parameters: hex, or ``gzNN`` + base64(zlib)."""
    text = text.strip()
    if text.startswith("gz"):
        return zlib.decompress(base64.b64decode(text[4:]))
    return bytes.fromhex(text)


def _dt_history(root: Any) -> list[dict[str, str]]:
    """The history items (operation, enabled, params, modversion, num) in file order."""
    items = []
    for seq_parent in root.iter(f"{{{_DT_NS}}}history"):
        for li in seq_parent.iter(f"{{{_RDF_NS}}}li"):
            item = {k.split("}")[-1]: v for k, v in li.attrib.items() if k.startswith(f"{{{_DT_NS}}}")}
            for child in li:  # the older element form
                if child.tag.startswith(f"{{{_DT_NS}}}") and child.text is not None:
                    item[child.tag.split("}")[-1]] = child.text
            if "operation" in item:
                items.append(item)
    return items


def read_darktable_xmp(path: str | os.PathLike, *, base: Recipe | None = None) -> ImportedRecipe:
    """Map a darktable XMP sidecar's history onto a recipe.

    Only history items below ``darktable:history_end`` count; for each module the last item
    (of each instance) is its state. Exposure instances that are on add up (stops on linear
    data, as in darktable).

    Raises
    ------
    RecipeError
        Not XML, or no darktable history in it.
    """
    import defusedxml.ElementTree as ET

    from l2tech.errors import RecipeError

    p = Path(path)
    data = read_side_file_bytes(p, "sidecar")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise RecipeError(f"not valid XML: {exc}", path=p, line=getattr(exc, "position", (None,))[0]) from None
    desc = next((d for d in root.iter(f"{{{_RDF_NS}}}Description") if f"{{{_DT_NS}}}history_end" in d.attrib
                 or d.find(f"{{{_DT_NS}}}history") is not None), None)
    history = _dt_history(root)
    if desc is None and not history:
        raise RecipeError("no darktable history in this XMP (darktable:history)", path=p)
    end = len(history)
    if desc is not None and f"{{{_DT_NS}}}history_end" in desc.attrib:
        text = desc.attrib[f"{{{_DT_NS}}}history_end"]
        try:
            end = int(text)
        except ValueError:
            raise RecipeError(f"darktable:history_end is not a whole number: {text[:40]!r}", path=p) from None
        if end < 0:
            raise RecipeError(f"darktable:history_end is negative: {end}", path=p)
    state: dict[tuple[str, str], dict[str, str]] = {}
    for item in history[:end]:
        state[(item["operation"], item.get("multi_priority", "0"))] = item
    r = base or Recipe()
    changes: dict[str, Any] = {}
    mapped: list[str] = []
    ignored: list[str] = []
    exposure = 0.0
    n_exposure = 0
    for (op, inst), item in state.items():
        on = item.get("enabled", "1") == "1"
        where = f"darktable {op}" + (f" (instance {inst})" if inst != "0" else "")
        try:
            params = _dt_params(item.get("params", ""))
        except (ValueError, zlib.error):
            ignored.append(f"{where}: parameters not readable")
            continue
        if op == "exposure":
            if not on:
                continue
            if len(params) < 12:
                ignored.append(f"{where}: parameters too short ({len(params)} bytes)")
                continue
            mode, _black, ev = struct.unpack_from("<iff", params, 0)
            if mode != 0:
                ignored.append(f"{where}: automatic (deflicker) mode; l2tech takes a fixed exposure")
                continue
            exposure += ev
            n_exposure += 1
            if len(params) >= 24 and struct.unpack_from("<i", params, 20)[0]:
                ignored.append(f"{where}: 'compensate camera exposure' (the EXIF exposure bias is not subtracted)")
        elif op == "temperature":
            if not on:
                ignored.append(f"{where} is off (raw white balance not applied); l2tech always applies one: kept camera")
                continue
            preset = struct.unpack_from("<i", params, 16)[0] if len(params) >= 20 else None
            wb = {0: "camera", 3: "daylight", 4: "daylight"}.get(preset) if preset is not None else None
            if wb is None:
                ignored.append(f"{where}: custom white balance coefficients; l2tech takes camera, daylight or auto")
            else:
                changes["white_balance"] = wb
                mapped.append(f"white_balance = {wb} ({where}, preset {'as shot' if wb == 'camera' else 'D65'})")
        elif op == "lens":
            changes["lens_correction"] = on
            mapped.append(f"lens_correction = {'true' if on else 'false'} ({where} {'on' if on else 'off'})")
        elif op == "crop" or op == "clipping":
            if on:
                ignored.append(f"{where}: crop (l2tech's recipe has no crop)")
        elif on and op not in _DT_PIPELINE_DEFAULTS:
            ignored.append(f"{where}: no l2tech equivalent")
    if n_exposure:
        changes["exposure_ev"] = round(exposure, 6)
        mapped.append(f"exposure_ev = {changes['exposure_ev']:g} (darktable exposure)")
    return _finish(r, changes, mapped, ignored, p)


#: Modules darktable always runs to make an image at all (demosaic, input/output colour
#: profiles, …): l2tech does their work in its own pipeline, so they are not "ignored".
_DT_PIPELINE_DEFAULTS = {"rawprepare", "demosaic", "colorin", "colorout", "gamma", "highlights", "dither",
                         "flip", "finalscale", "overexposed", "rawoverexposed", "mask_manager"}


def _finish(r: Recipe, changes: dict[str, Any], mapped: list[str], ignored: list[str], p: Path) -> ImportedRecipe:
    from l2tech.errors import L2Error, RecipeError

    try:
        rec = dataclasses.replace(r, **changes)
    except L2Error as exc:
        raise RecipeError(f"maps to an invalid recipe: {getattr(exc, 'reason', exc)}", path=p) from None
    return ImportedRecipe(rec, tuple(mapped), tuple(ignored))


def read_rawtherapee_pp3(path: str | os.PathLike, *, base: Recipe | None = None) -> ImportedRecipe:
    """Map a RawTherapee processing profile (``.pp3``) onto a recipe.

    Raises
    ------
    RecipeError
        Not a key file RawTherapee writes (with the line of the error).
    """
    from l2tech.errors import RecipeError

    p = Path(path)
    data = read_side_file_bytes(p, "sidecar")
    cp = configparser.ConfigParser(interpolation=None, strict=False)
    cp.optionxform = str  # keys are case-sensitive in .pp3
    try:
        cp.read_string(data.decode("utf-8", errors="replace"), source=str(p))
    except configparser.Error as exc:
        raise RecipeError(f"not a RawTherapee profile: {exc.message.splitlines()[0]}", path=p,
                          line=getattr(exc, "lineno", None)) from None
    r = base or Recipe()
    changes: dict[str, Any] = {}
    mapped: list[str] = []
    ignored: list[str] = []

    def get(section: str, key: str, default: str | None = None) -> str | None:
        return cp.get(section, key, fallback=default)

    def on(section: str, key: str = "Enabled") -> bool:
        return (get(section, key, "false") or "").strip().lower() == "true"

    if cp.has_section("Exposure"):
        comp = get("Exposure", "Compensation")
        if on("Exposure", "Auto"):
            ignored.append("[Exposure] Auto=true: automatic levels (l2tech takes a fixed exposure)")
        elif comp is not None:
            try:
                changes["exposure_ev"] = float(comp)
                mapped.append(f"exposure_ev = {float(comp):g} ([Exposure] Compensation)")
            except ValueError:
                ignored.append(f"[Exposure] Compensation={comp!r} is not a number")
        for key in ("Brightness", "Contrast", "Saturation", "Black", "HighlightCompr"):
            v = get("Exposure", key)
            if v not in (None, "0"):
                ignored.append(f"[Exposure] {key}={v}: no l2tech equivalent")
    if cp.has_section("White Balance"):
        setting = (get("White Balance", "Setting", "Camera") or "Camera").strip()
        if cp.has_option("White Balance", "Enabled") and not on("White Balance"):
            ignored.append("[White Balance] Enabled=false: l2tech always applies one; kept camera")
        else:
            low = setting.lower()
            wb = "camera" if low == "camera" else "auto" if low.startswith("aut") else "daylight" if low in ("daylight", "sun") else None
            if wb is None:
                ignored.append(f"[White Balance] Setting={setting}: l2tech takes camera, daylight or auto")
            else:
                changes["white_balance"] = wb
                mapped.append(f"white_balance = {wb} ([White Balance] Setting={setting})")
    if cp.has_section("LensProfile"):
        mode = (get("LensProfile", "LcMode", "none") or "none").strip()
        if mode == "none":
            changes["lens_correction"] = False
            mapped.append("lens_correction = false ([LensProfile] LcMode=none)")
        else:
            use = {"vignetting": on("LensProfile", "UseVignette"), "tca": on("LensProfile", "UseCA"),
                   "distortion": on("LensProfile", "UseDistortion")}
            chosen = tuple(c for c in CORRECTIONS if use[c])
            if not chosen:
                changes["lens_correction"] = False
                mapped.append("lens_correction = false ([LensProfile] every Use… is false)")
            else:
                changes["lens_correction"] = True
                changes["corrections"] = chosen
                mapped.append(f"corrections = {', '.join(chosen)} ([LensProfile] LcMode={mode}, Use…)")
            if mode == "lfmanual":
                make, model, lens = (get("LensProfile", k) for k in ("LFCameraMake", "LFCameraModel", "LFLens"))
                if make or model:
                    changes["camera"] = " ".join(x for x in (make, model) if x)
                    mapped.append(f"camera = {changes['camera']} ([LensProfile] LFCameraMake/LFCameraModel)")
                if lens:
                    changes["lens"] = lens
                    mapped.append(f"lens = {lens} ([LensProfile] LFLens)")
            elif mode == "lcp":
                lcp = get("LensProfile", "LCPFile")
                if lcp:
                    changes["profile"] = lcp
                    mapped.append(f"profile = {lcp} ([LensProfile] LCPFile)")
            elif mode != "lfauto":
                ignored.append(f"[LensProfile] LcMode={mode}: unknown mode")
    if cp.has_section("Crop") and on("Crop"):
        ignored.append("[Crop] Enabled=true: crop (l2tech's recipe has no crop)")
    handled = {"Exposure", "White Balance", "LensProfile", "Crop", "Version", "General"}
    for section in cp.sections():
        if section not in handled and cp.has_option(section, "Enabled") and on(section):
            ignored.append(f"[{section}] Enabled=true: no l2tech equivalent")
    return _finish(r, changes, mapped, ignored, p)
