"""Read and write lensfun XML lens databases (``lensdatabase version 1``).

The lensfun database that lensfunpy ships (``lensfunpy/db_files/*.xml``) is parsed with
:mod:`defusedxml` into :class:`~l2tech.profiles.model.CameraBody` and
:class:`~l2tech.profiles.model.LensProfile` records. A user folder of extra lensfun XML files
(:func:`default_user_dir`) is layered on top: a user lens or body with the same maker and model
replaces every bundled one of that name.

Robustness (docs/RELIABILITY.md):

- case 14: a file with a DOCTYPE, an entity declaration or an external reference is refused
  with :class:`~l2tech.errors.CorruptInputError` before anything is expanded (defusedxml);
- case 15: a lens or body with a bad number (not a finite decimal, or out of range) is skipped
  with a :class:`LensfunDataWarning` naming the file and the lens; all others load.

The element and attribute rules follow lensfun 0.3.x, the version lensfunpy wraps.

References
----------
lensfun ``libs/lensfun/database.cpp`` (XML parser: element names, attribute defaults, the
multi-language strings whose un-tagged spelling is the primary one) and ``libs/lensfun/lens.cpp``
(``lfLens::Check`` / ``GuessParameters``: focal range guessed from the calibration data).
lensfun ``docs/manual-dbformat.txt`` (the format).
"""

from __future__ import annotations

import functools
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape, quoteattr

from l2tech.errors import CorruptInputError, EmptyFileError, OutputError, UsageError
from l2tech.profiles.model import (
    CameraBody,
    DistortionCalibration,
    LensProfile,
    TCACalibration,
    VignettingCalibration,
)

__all__ = [
    "LensfunDataWarning",
    "LensfunData",
    "LensDatabase",
    "bundled_db_dir",
    "default_user_dir",
    "parse_lensfun_xml",
    "load_database",
    "write_lensfun_xml",
    "LENS_TYPES",
    "DISTORTION_TERMS",
    "TCA_TERMS",
    "VIGNETTING_TERMS",
]

#: lensfun ``<type>`` text -> our ``LensProfile.lens_type`` name.
LENS_TYPES: dict[str, str] = {
    "rectilinear": "rectilinear",
    "fisheye": "fisheye",
    "panoramic": "panoramic",
    "equirectangular": "equirectangular",
    "orthographic": "fisheye_orthographic",
    "stereographic": "fisheye_stereographic",
    "equisolid": "fisheye_equisolid",
    "fisheye_thoby": "fisheye_thoby",
}
_LENS_TYPES_BACK = {v: k for k, v in LENS_TYPES.items()}

#: Terms of each distortion model with lensfun's defaults (database.cpp zero-fills).
DISTORTION_TERMS: dict[str, dict[str, float]] = {
    "poly3": {"k1": 0.0},
    "poly5": {"k1": 0.0, "k2": 0.0},
    "ptlens": {"a": 0.0, "b": 0.0, "c": 0.0},
}
#: Terms of each TCA model with lensfun's defaults (``kr = kb = vr = vb = 1``, others 0).
TCA_TERMS: dict[str, dict[str, float]] = {
    "linear": {"kr": 1.0, "kb": 1.0},
    "poly3": {"vr": 1.0, "vb": 1.0, "cr": 0.0, "cb": 0.0, "br": 0.0, "bb": 0.0},
}
#: Terms of the vignetting model.
VIGNETTING_TERMS: dict[str, dict[str, float]] = {"pa": {"k1": 0.0, "k2": 0.0, "k3": 0.0}}


class LensfunDataWarning(UserWarning):
    """A lens, body or file in a lensfun database was skipped or is doubtful."""


@dataclass(frozen=True)
class LensfunData:
    """The contents of one lensfun XML file.

    Parameters
    ----------
    path : str
        The file.
    cameras : tuple of CameraBody
    lenses : tuple of LensProfile
    mounts : dict of str to tuple of str
        Mount name -> compatible mounts (lensfun ``<compat>``).
    warnings : tuple of str
        One line per skipped entry (file, entry, problem).
    """

    path: str
    cameras: tuple[CameraBody, ...] = ()
    lenses: tuple[LensProfile, ...] = ()
    mounts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class LensDatabase:
    """The merged lens database: the bundled lensfun files plus user files.

    Parameters
    ----------
    cameras : tuple of CameraBody
    lenses : tuple of LensProfile
    mounts : dict of str to tuple of str
        Mount name -> compatible mount names.
    warnings : tuple of str
        Every entry or file that was skipped, one line each.
    files : tuple of str
        The files that were read, in load order.
    """

    cameras: tuple[CameraBody, ...]
    lenses: tuple[LensProfile, ...]
    mounts: dict[str, tuple[str, ...]]
    warnings: tuple[str, ...] = ()
    files: tuple[str, ...] = ()


def bundled_db_dir() -> Path:
    """The folder of lensfun XML files that lensfunpy ships.

    Returns
    -------
    Path
        ``<site-packages>/lensfunpy/db_files``.

    Raises
    ------
    DependencyMissingError
        lensfunpy is not installed.
    """
    import importlib.util

    from l2tech.errors import DependencyMissingError

    spec = importlib.util.find_spec("lensfunpy")
    if spec is None or not spec.submodule_search_locations:
        raise DependencyMissingError("lensfunpy is not installed; run: pip install 'lensfunpy>=1.15'")
    return Path(next(iter(spec.submodule_search_locations))) / "db_files"


def default_user_dir() -> Path:
    """The user's folder of extra lensfun XML files.

    Returns
    -------
    Path
        ``$L2TECH_LENS_DIR`` when set, else ``~/.local/share/l2tech/lenses`` (need not exist).
    """
    env = os.environ.get("L2TECH_LENS_DIR")
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "l2tech" / "lenses"


# --------------------------------------------------------------------------------------------
# parsing


class _BadEntry(Exception):
    """Internal: one entry of a file is invalid (the entry is skipped)."""


def _text(el: Element | None) -> str:
    return "" if el is None or el.text is None else el.text.strip()


def _ml_strings(parent: Element, tag: str) -> tuple[str, tuple[str, ...]]:
    """lensfun multi-language string: the un-tagged spelling is primary; others are aliases."""
    primary = ""
    others: list[str] = []
    for el in parent.findall(tag):
        text = _text(el)
        if not text:
            continue
        if el.get("lang") is None:
            if primary:  # lensfun lf_mlstr_add: a later un-tagged spelling replaces the default
                others.append(primary)
            primary = text
        else:
            others.append(text)
    if not primary and others:
        primary = others.pop(0)
    aliases = tuple(dict.fromkeys(o for o in others if o != primary))
    return primary, aliases


def _num(value: str | None, what: str, *, default: float | None = None, positive: bool = False) -> float:
    if value is None:
        if default is None:
            raise _BadEntry(f"missing number {what}")
        return default
    try:
        x = float(value.strip())
    except ValueError:
        raise _BadEntry(f"bad number {what}={value!r}") from None
    if not math.isfinite(x):
        raise _BadEntry(f"bad number {what}={value!r} (not finite)")
    if positive and x <= 0:
        raise _BadEntry(f"bad number {what}={value!r} (must be > 0)")
    return x


def _parse_ratio(text: str, what: str) -> float:
    if ":" in text:
        a, b = text.split(":", 1)
        den = _num(b, what, positive=True)
        return _num(a, what, positive=True) / den
    return _num(text, what, positive=True)


def _terms(el: Element, model: str, defaults: dict[str, float], tag: str) -> dict[str, float]:
    terms = dict(defaults)
    for key in defaults:
        if key in el.attrib:
            terms[key] = _num(el.get(key), f"<{tag} {key}>")
    return terms


# lensfun lens.cpp ``lens_name_regex`` (POSIX ERE, case-insensitive) with the group indices of
# (min focal, max focal, min aperture).
_LENS_NAME_REGEX = [
    (re.compile(r"(\s+|^)([0-9]+[0-9.]*)(-[0-9]+[0-9.]*)?(mm)?\s+(f/|f|1/|1:)?([0-9.]+)(-[0-9.]+)?", re.I), (2, 3, 6)),
    (re.compile(r"\s+1:([0-9.]+)(-[0-9.]+)?\s+([0-9.]+)(-[0-9.]+)?(mm)?", re.I), (3, 4, 1)),
    (re.compile(r"([0-9.]+)(-[0-9.]+)?\s*/\s*([0-9.]+)(-[0-9.]+)?", re.I), (3, 4, 1)),
]


def _atof(text: str) -> float:
    """C ``atof`` on a regex group: leading '-' is the range separator; parses a prefix."""
    text = text[1:] if text.startswith("-") else text
    m = re.match(r"[0-9]*\.?[0-9]*", text)
    try:
        return float(m.group(0)) if m and m.group(0) not in ("", ".") else 0.0
    except ValueError:
        return 0.0


def _parse_lens_name(model: str) -> tuple[float | None, float | None, float | None] | None:
    for rx, idx in _LENS_NAME_REGEX:
        m = rx.search(model)
        if m:
            return tuple(None if m.group(i) is None else _atof(m.group(i)) for i in idx)  # type: ignore[return-value]
    return None


def _unique(items: list, key) -> list:
    """lensfun ``AddCalib*``: a later entry with the same key replaces the earlier one in place."""
    out: dict = {}
    for it in items:
        out[key(it)] = it
    return list(out.values())


def _parse_lens(el: Element, source: str) -> LensProfile:
    maker, maker_aliases = _ml_strings(el, "maker")
    model, model_aliases = _ml_strings(el, "model")
    if not model:
        raise _BadEntry("no <model>")
    mounts = tuple(_text(m) for m in el.findall("mount") if _text(m))
    crop_el = el.find("cropfactor")
    crop = _num(_text(crop_el) if crop_el is not None else None, "<cropfactor>", positive=True)
    ar_el = el.find("aspect-ratio")
    aspect = _parse_ratio(_text(ar_el), "<aspect-ratio>") if ar_el is not None else 1.5
    if aspect < 1:
        raise _BadEntry(f"bad number <aspect-ratio>={aspect} (must be >= 1)")
    lens_type = "rectilinear"
    type_el = el.find("type")
    if type_el is not None:
        t = _text(type_el).lower()
        if t not in LENS_TYPES:
            raise _BadEntry(f"unknown <type> {t!r} (expected one of {', '.join(LENS_TYPES)})")
        lens_type = LENS_TYPES[t]
    cx = cy = 0.0
    c_el = el.find("center")
    if c_el is not None:
        cx = _num(c_el.get("x"), "<center x>", default=0.0)
        cy = _num(c_el.get("y"), "<center y>", default=0.0)
    fmin = fmax = 0.0
    f_el = el.find("focal")
    if f_el is not None:
        if "value" in f_el.attrib:
            fmin = fmax = _num(f_el.get("value"), "<focal value>", positive=True)
        else:
            fmin = _num(f_el.get("min"), "<focal min>", default=0.0)
            fmax = _num(f_el.get("max"), "<focal max>", default=fmin)
    amin = amax = None
    a_el = el.find("aperture")
    if a_el is not None:
        if "value" in a_el.attrib:
            amin = amax = _num(a_el.get("value"), "<aperture value>", positive=True)
        else:
            amin = _num(a_el.get("min"), "<aperture min>", default=0.0) or None
            amax = _num(a_el.get("max"), "<aperture max>", default=0.0) or None

    dist: list[DistortionCalibration] = []
    tca: list[TCACalibration] = []
    vig: list[VignettingCalibration] = []
    real_focal: list[tuple[float, float]] = []
    for cal in el.findall("calibration"):
        for d in cal.findall("distortion"):
            m = (d.get("model") or "none").strip()
            if m == "none":
                continue
            if m not in DISTORTION_TERMS:
                raise _BadEntry(f"unknown distortion model {m!r}")
            focal = _num(d.get("focal"), "<distortion focal>", positive=True)
            rf = d.get("real-focal")
            dist.append(
                DistortionCalibration(
                    model=m,
                    focal_length_mm=focal,
                    terms=_terms(d, m, DISTORTION_TERMS[m], "distortion"),
                    real_focal_mm=None if rf is None else _num(rf, "<distortion real-focal>", positive=True),
                )
            )
        for t in cal.findall("tca"):
            m = (t.get("model") or "none").strip()
            if m == "none":
                continue
            if m not in TCA_TERMS:
                raise _BadEntry(f"unknown TCA model {m!r}")
            focal = _num(t.get("focal"), "<tca focal>", positive=True)
            tca.append(TCACalibration(model=m, focal_length_mm=focal, terms=_terms(t, m, TCA_TERMS[m], "tca")))
        for v in cal.findall("vignetting"):
            m = (v.get("model") or "none").strip()
            if m == "none":
                continue
            if m not in VIGNETTING_TERMS:
                raise _BadEntry(f"unknown vignetting model {m!r}")
            vig.append(
                VignettingCalibration(
                    model=m,
                    focal_length_mm=_num(v.get("focal"), "<vignetting focal>", positive=True),
                    f_number=_num(v.get("aperture"), "<vignetting aperture>", positive=True),
                    focus_distance_m=_num(v.get("distance"), "<vignetting distance>", positive=True),
                    terms=_terms(v, m, VIGNETTING_TERMS[m], "vignetting"),
                )
            )
        for r in cal.findall("real-focal-length"):
            real_focal.append(
                (
                    _num(r.get("focal"), "<real-focal-length focal>", positive=True),
                    _num(r.get("real-focal"), "<real-focal-length real-focal>", positive=True),
                )
            )
    # lfLens::GuessParameters: focal range (and widest aperture) from the name unless it names
    # an adapter/extender, merged with the calibration points; only fills what is missing.
    if not fmin or not amin:
        minf, maxf, mina, maxa = math.inf, -math.inf, math.inf, -math.inf
        if not any(w in model for w in ("adapter", "reducer", "booster", "extender", "converter")):
            guess = _parse_lens_name(model)
            if guess is not None:
                g_minf, g_maxf, g_mina = guess
                minf = g_minf if g_minf is not None else minf
                maxf = g_maxf if g_maxf is not None else maxf
                mina = g_mina if g_mina is not None else mina
        for c in (*dist, *tca, *vig):
            minf, maxf = min(minf, c.focal_length_mm), max(maxf, c.focal_length_mm)
        for v in vig:
            mina, maxa = min(mina, v.f_number), max(maxa, v.f_number)
        for f, _rf in real_focal:
            minf, maxf = min(minf, f), max(maxf, f)
        if math.isfinite(minf) and not fmin:
            fmin = minf
        if math.isfinite(maxf) and not fmax:
            fmax = maxf
        if math.isfinite(mina) and not amin:
            amin = mina
        if math.isfinite(maxa) and not amax:
            amax = maxa
    if not fmax:
        fmax = fmin
    if fmax and fmin > fmax:
        raise _BadEntry(f"bad focal range {fmin}-{fmax} mm (min > max)")
    if amin is not None and amax is not None and amin > amax:
        raise _BadEntry(f"bad aperture range f/{amin}-f/{amax} (min > max)")
    extra: dict[str, object] = {}
    if real_focal:
        extra["real_focal_length_mm"] = tuple(real_focal)
    if maker_aliases:
        extra["maker_aliases"] = maker_aliases
    prof = LensProfile(
        maker=maker,
        model=model,
        mounts=mounts,
        crop_factor=crop,
        aspect_ratio=aspect,
        center_x=cx,
        center_y=cy,
        lens_type=lens_type,
        focal_min_mm=fmin,
        focal_max_mm=fmax,
        aperture_min=amin,
        aperture_max=amax,
        # file order is kept: lensfun uses the first model it meets when a lens mixes models
        distortion=tuple(_unique(dist, lambda c: c.focal_length_mm)),
        tca=tuple(_unique(tca, lambda c: c.focal_length_mm)),
        vignetting=tuple(_unique(vig, lambda c: (c.focal_length_mm, c.f_number, c.focus_distance_m))),
        source=source,
        aliases=model_aliases,
        extra=extra,
    )
    from l2tech.profiles.validate import profile_problem

    problem = profile_problem(prof)  # ranges a real lens can have (one place for every family)
    if problem is not None:
        raise _BadEntry(problem)
    return prof


def _parse_camera(el: Element, source: str) -> CameraBody:
    maker, maker_aliases = _ml_strings(el, "maker")
    model, model_aliases = _ml_strings(el, "model")
    variant, _ = _ml_strings(el, "variant")
    if not maker or not model:
        raise _BadEntry("no <maker> or <model>")
    mount = _text(el.find("mount"))
    crop_el = el.find("cropfactor")
    crop = _num(_text(crop_el) if crop_el is not None else None, "<cropfactor>", positive=True)
    return CameraBody(
        maker=maker,
        model=model,
        mount=mount,
        crop_factor=crop,
        variant=variant,
        aliases=tuple(dict.fromkeys((*model_aliases, *maker_aliases))),
        source=source,
    )


def _read_root(path: Path) -> Element:
    import defusedxml.ElementTree as DET
    from defusedxml import DefusedXmlException
    from xml.etree.ElementTree import ParseError

    from l2tech.io.formats import NotRegularFileError, open_regular_file

    try:
        with open_regular_file(path) as fh:
            data = fh.read()
    except NotRegularFileError:
        raise CorruptInputError("not a regular file (a pipe, device or socket); expected a lensfun XML file", path) from None
    except OSError as exc:
        raise CorruptInputError(f"cannot read lensfun XML: {exc.strerror or exc}", path) from None
    if not data.strip():
        raise EmptyFileError("empty file; expected a lensfun XML <lensdatabase>", path)
    try:
        root = DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise CorruptInputError(
            f"XML with a DOCTYPE, entity declaration or external reference is refused ({type(exc).__name__}); "
            "lensfun files need none",
            path,
        ) from None
    except ParseError as exc:
        line = exc.position[0] if getattr(exc, "position", None) else None
        raise CorruptInputError(f"malformed XML: {exc}", path, line=line) from None
    if root.tag != "lensdatabase":
        raise CorruptInputError(f"expected a lensfun <lensdatabase> root element, found <{root.tag}>", path)
    return root


def parse_lensfun_xml(path: str | os.PathLike[str], *, source_prefix: str = "lensfun") -> LensfunData:
    """Parse one lensfun XML file.

    Parameters
    ----------
    path : str or PathLike
        A lensfun XML file (``<lensdatabase version="1">``).
    source_prefix : str
        Prefix of each record's ``source`` (``"lensfun"`` gives ``"lensfun:mil-sigma.xml"``;
        ``"user"`` gives ``"user:/full/path.xml"``).

    Returns
    -------
    LensfunData
        Cameras, lenses, mounts and one warning line per skipped entry.

    Raises
    ------
    EmptyFileError
        The file is empty.
    CorruptInputError
        Unreadable, malformed XML, a DOCTYPE / entity / external reference (refused by
        defusedxml before expansion), or a root other than ``<lensdatabase>``.

    Warns
    -----
    LensfunDataWarning
        For each lens or body skipped because of a bad or missing number (the message names
        the file and the entry); all other entries load.

    Notes
    -----
    The un-tagged ``<model>`` is the primary name; ``<model lang="..">`` spellings become
    ``aliases``. Coefficient attributes that are absent take lensfun's defaults (0, or 1 for
    TCA ``kr, kb, vr, vb``). A lens without ``<focal>`` gets its focal range from its name or
    its calibration points (lensfun ``lfLens::GuessParameters``). ``<real-focal-length>``
    entries are kept in ``LensProfile.extra["real_focal_length_mm"]`` as (focal, real focal).

    References
    ----------
    lensfun ``libs/lensfun/database.cpp`` (0.3.x parser); ``docs/manual-dbformat.txt``.
    """
    p = Path(path)
    root = _read_root(p)
    source = f"{source_prefix}:{p.name if source_prefix == 'lensfun' else str(p)}"
    version = root.get("version", "1").strip()
    notes: list[str] = []
    try:
        if int(version) > 2:
            notes.append(f"{p}: lensdatabase version {version} is newer than 1/2; reading it as version 1")
    except ValueError:
        raise CorruptInputError(f"bad <lensdatabase version={version!r}>; expected an integer", p) from None

    mounts: dict[str, tuple[str, ...]] = {}
    for m in root.findall("mount"):
        name, _ = _ml_strings(m, "name")
        if name:
            compat = tuple(_text(c) for c in m.findall("compat") if _text(c))
            mounts[name] = tuple(dict.fromkeys((*mounts.get(name, ()), *compat)))

    cameras: list[CameraBody] = []
    for i, c in enumerate(root.findall("camera")):
        try:
            cameras.append(_parse_camera(c, source))
        except _BadEntry as exc:
            name = " ".join(filter(None, (_ml_strings(c, "maker")[0], _ml_strings(c, "model")[0]))) or f"#{i + 1}"
            notes.append(f"{p}: camera {name!r} skipped: {exc}")

    lenses: list[LensProfile] = []
    for i, el in enumerate(root.findall("lens")):
        try:
            lenses.append(_parse_lens(el, source))
        except _BadEntry as exc:
            name = " ".join(filter(None, (_ml_strings(el, "maker")[0], _ml_strings(el, "model")[0]))) or f"#{i + 1}"
            notes.append(f"{p}: lens {name!r} skipped: {exc}")

    for note in notes:
        warnings.warn(note, LensfunDataWarning, stacklevel=2)
    return LensfunData(path=str(p), cameras=tuple(cameras), lenses=tuple(lenses), mounts=mounts, warnings=tuple(notes))


# --------------------------------------------------------------------------------------------
# database


def _xml_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(f for f in folder.iterdir() if f.suffix.lower() == ".xml" and f.is_file())


@functools.lru_cache(maxsize=4)
def _load_bundled(folder: str) -> LensfunData:
    cams: list[CameraBody] = []
    lenses: list[LensProfile] = []
    mounts: dict[str, tuple[str, ...]] = {}
    notes: list[str] = []
    for f in _xml_files(Path(folder)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", LensfunDataWarning)  # kept in .warnings instead
            data = parse_lensfun_xml(f, source_prefix="lensfun")
        cams += data.cameras
        lenses += data.lenses
        for k, v in data.mounts.items():
            mounts[k] = tuple(dict.fromkeys((*mounts.get(k, ()), *v)))
        notes += data.warnings
    return LensfunData(
        path=folder, cameras=tuple(_dedupe_cameras(cams)), lenses=tuple(_dedupe_lenses(lenses)), mounts=mounts,
        warnings=tuple(notes),
    )


def _key(maker: str, model: str, variant: str = "") -> tuple[str, str, str]:
    return (" ".join(maker.split()).casefold(), " ".join(model.split()).casefold(), variant.casefold())


def _dedupe_lenses(lenses: list[LensProfile]) -> list[LensProfile]:
    """lensfun's primary key for lenses is (maker, model, crop factor to 0.01): a later lens with
    the same key replaces the earlier one in place (``_lf_lens_compare`` in lens.cpp)."""
    out: list[LensProfile] = []
    index: dict[tuple[str, str, str], list[int]] = {}
    for lens in lenses:
        k = _key(lens.maker, lens.model)
        for i in index.get(k, []):
            if int((out[i].crop_factor - lens.crop_factor) * 100) == 0:
                out[i] = lens
                break
        else:
            index.setdefault(k, []).append(len(out))
            out.append(lens)
    return out


def _dedupe_cameras(cams: list[CameraBody]) -> list[CameraBody]:
    """lensfun's primary key for bodies is (maker, model, variant); a later one replaces."""
    out: dict[tuple[str, str, str], CameraBody] = {}
    for c in cams:
        out[_key(c.maker, c.model, c.variant)] = c
    return list(out.values())


#: Databases loaded in this process, by their cache key (lensfun_cache.database_key).
_MEMO: dict[tuple, tuple[LensDatabase, tuple[str, ...]]] = {}


def load_database(
    user_dirs: Sequence[str | os.PathLike[str]] | None = None,
    include_bundled: bool = True,
) -> LensDatabase:
    """Load the bundled lensfun database plus the user's lensfun XML files.

    Parameters
    ----------
    user_dirs : sequence of path, optional
        Folders (or single ``.xml`` files) of extra lensfun XML; default
        ``(default_user_dir(),)``. Missing folders are ignored. Later folders win over earlier
        ones, and all of them over the bundled files.
    include_bundled : bool
        Load lensfunpy's bundled ``db_files``.

    Returns
    -------
    LensDatabase
        Cameras, lenses, mounts and every warning. A user lens with the same maker and model
        (case- and space-insensitive) replaces every bundled lens of that name; likewise
        bodies (maker, model, variant). Mount compat lists are merged.

    Warns
    -----
    LensfunDataWarning
        For each user entry skipped because of a bad number, and each user file refused
        (malformed, DOCTYPE/entities, empty); the other files and entries load. Emitted on
        every call, cached or not.

    Notes
    -----
    The parsed result is cached on disk (:mod:`l2tech.profiles.lensfun_cache`: under
    ``$L2TECH_CACHE_DIR``, ``$XDG_CACHE_HOME/l2tech`` or ``~/.cache/l2tech``) and in the
    process, keyed by the l2tech and lensfunpy versions and the path, modification time and
    size of every file read (bundled and user) and the file list of each user folder; any
    change there parses again. A corrupt or unwritable cache is ignored.

    References
    ----------
    lensfun ``libs/lensfun/database.cpp`` (``lfDatabase::Load``: user files are loaded after
    the system database).
    """
    from l2tech.profiles import lensfun_cache

    if user_dirs is None:
        user_dirs = (default_user_dir(),)
    elif isinstance(user_dirs, (str, os.PathLike)):
        user_dirs = (user_dirs,)
    bundled = bundled_db_dir() if include_bundled else None
    bundled_files = _xml_files(bundled) if bundled is not None else []
    layers: list[tuple[Path, list[Path]]] = []
    for d in user_dirs:
        d = Path(d).expanduser()
        layers.append((d, [d] if d.is_file() else _xml_files(d)))
    key = lensfun_cache.database_key(bundled, bundled_files, layers)
    name = (include_bundled, tuple(str(d) for d, _ in layers))
    hit = _MEMO.get(key) or lensfun_cache.read_cached_database(name, key, LensDatabase)
    if hit is not None:
        if len(_MEMO) > 8:
            _MEMO.clear()
        _MEMO[key] = hit
        for msg in hit[1]:
            warnings.warn(msg, LensfunDataWarning, stacklevel=2)
        return hit[0]
    db, replay, cacheable = _parse_database(bundled, bundled_files, layers)
    if cacheable:
        lensfun_cache.write_cached_database(name, key, db, replay)
        _MEMO[key] = (db, replay)
    return db


def _parse_database(
    bundled: Path | None, bundled_files: list[Path], layers: list[tuple[Path, list[Path]]]
) -> tuple[LensDatabase, tuple[str, ...], bool]:
    """Parse what :func:`load_database` loads: (database, the warning lines it emitted, whether
    it may be cached — not when a user file raised a warning of another kind)."""
    cams: list[CameraBody] = []
    lenses: list[LensProfile] = []
    mounts: dict[str, tuple[str, ...]] = {}
    notes: list[str] = []
    files: list[str] = []
    replay: list[str] = []
    cacheable = True
    if bundled is not None:
        b = _load_bundled(str(bundled))
        cams += b.cameras
        lenses += b.lenses
        mounts.update(b.mounts)
        notes += b.warnings
        files += [str(f) for f in bundled_files]
    for _, layer_files in layers:
        layer_c: list[CameraBody] = []
        layer_l: list[LensProfile] = []
        for f in layer_files:
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", LensfunDataWarning)
                    data = parse_lensfun_xml(f, source_prefix="user")
            except (CorruptInputError, EmptyFileError) as exc:
                msg = f"{exc} (file skipped)"
                notes.append(msg)
                replay.append(msg)
                warnings.warn(msg, LensfunDataWarning, stacklevel=3)
                continue
            for w in caught:
                if not issubclass(w.category, LensfunDataWarning):
                    cacheable = False
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            for note in data.warnings:
                replay.append(note)
                warnings.warn(note, LensfunDataWarning, stacklevel=3)
            files.append(str(f))
            notes += data.warnings
            layer_c += data.cameras
            layer_l += data.lenses
            for k, v in data.mounts.items():
                mounts[k] = tuple(dict.fromkeys((*mounts.get(k, ()), *v)))
        layer_l = _dedupe_lenses(layer_l)
        layer_c = _dedupe_cameras(layer_c)
        if layer_l:
            replaced = {_key(x.maker, x.model) for x in layer_l}
            lenses = [x for x in lenses if _key(x.maker, x.model) not in replaced] + layer_l
        if layer_c:
            replaced = {_key(x.maker, x.model, x.variant) for x in layer_c}
            cams = [x for x in cams if _key(x.maker, x.model, x.variant) not in replaced] + layer_c
    db = LensDatabase(cameras=tuple(cams), lenses=tuple(lenses), mounts=mounts, warnings=tuple(notes), files=tuple(files))
    return db, tuple(replay), cacheable


# --------------------------------------------------------------------------------------------
# writing


def _fmt(x: float) -> str:
    return repr(float(x)) if not float(x).is_integer() else str(int(x)) if abs(x) < 1e15 else repr(float(x))


def _attrs(pairs: Iterable[tuple[str, object]]) -> str:
    return "".join(f" {k}={quoteattr(_fmt(v) if isinstance(v, (int, float)) else str(v))}" for k, v in pairs)


def _lens_xml(lens: LensProfile) -> list[str]:
    if not lens.model or not lens.mounts:
        raise UsageError(f"lens {lens.name!r}: a lensfun lens needs a model and at least one mount")
    out = ["    <lens>"]
    out.append(f"        <maker>{escape(lens.maker)}</maker>")
    out.append(f"        <model>{escape(lens.model)}</model>")
    for alias in lens.aliases:
        out.append(f'        <model lang="en">{escape(alias)}</model>')
    for m in lens.mounts:
        out.append(f"        <mount>{escape(m)}</mount>")
    if lens.focal_min_mm > 0:
        if lens.focal_min_mm == lens.focal_max_mm or lens.focal_max_mm <= 0:
            out.append(f"        <focal{_attrs([('value', lens.focal_min_mm)])}/>")
        else:
            out.append(f"        <focal{_attrs([('min', lens.focal_min_mm), ('max', lens.focal_max_mm)])}/>")
    if lens.aperture_min:
        if lens.aperture_max in (None, lens.aperture_min):
            out.append(f"        <aperture{_attrs([('value', lens.aperture_min)])}/>")
        else:
            out.append(f"        <aperture{_attrs([('min', lens.aperture_min), ('max', lens.aperture_max)])}/>")
    if lens.lens_type != "rectilinear":
        if lens.lens_type not in _LENS_TYPES_BACK:
            raise UsageError(f"lens {lens.name!r}: lens type {lens.lens_type!r} has no lensfun spelling")
        out.append(f"        <type>{_LENS_TYPES_BACK[lens.lens_type]}</type>")
    if lens.center_x or lens.center_y:
        out.append(f"        <center{_attrs([('x', lens.center_x), ('y', lens.center_y)])}/>")
    out.append(f"        <cropfactor>{_fmt(lens.crop_factor)}</cropfactor>")
    if lens.aspect_ratio != 1.5:
        out.append(f"        <aspect-ratio>{_fmt(lens.aspect_ratio)}</aspect-ratio>")
    if lens.distortion or lens.tca or lens.vignetting:
        out.append("        <calibration>")
        for d in lens.distortion:
            if d.model not in DISTORTION_TERMS:
                raise UsageError(f"lens {lens.name!r}: distortion model {d.model!r} is not a lensfun model")
            terms = [(k, d.terms.get(k, v)) for k, v in DISTORTION_TERMS[d.model].items()]
            out.append(f"            <distortion{_attrs([('model', d.model), ('focal', d.focal_length_mm), *terms])}/>")
        for t in lens.tca:
            if t.model not in TCA_TERMS:
                raise UsageError(f"lens {lens.name!r}: TCA model {t.model!r} is not a lensfun model")
            terms = [(k, t.terms.get(k, v)) for k, v in TCA_TERMS[t.model].items()]
            out.append(f"            <tca{_attrs([('model', t.model), ('focal', t.focal_length_mm), *terms])}/>")
        for v in lens.vignetting:
            if v.model not in VIGNETTING_TERMS:
                raise UsageError(f"lens {lens.name!r}: vignetting model {v.model!r} is not a lensfun model")
            terms = [(k, v.terms.get(k, x)) for k, x in VIGNETTING_TERMS[v.model].items()]
            a = [("model", v.model), ("focal", v.focal_length_mm), ("aperture", v.f_number), ("distance", v.focus_distance_m)]
            out.append(f"            <vignetting{_attrs([*a, *terms])}/>")
        for f, rf in lens.extra.get("real_focal_length_mm", ()) if isinstance(lens.extra, dict) else ():
            out.append(f"            <real-focal-length{_attrs([('focal', f), ('real-focal', rf)])}/>")
        out.append("        </calibration>")
    out.append("    </lens>")
    return out


def _camera_xml(cam: CameraBody) -> list[str]:
    out = ["    <camera>", f"        <maker>{escape(cam.maker)}</maker>", f"        <model>{escape(cam.model)}</model>"]
    if cam.variant:
        out.append(f"        <variant>{escape(cam.variant)}</variant>")
    out.append(f"        <mount>{escape(cam.mount)}</mount>")
    out.append(f"        <cropfactor>{_fmt(cam.crop_factor)}</cropfactor>")
    out.append("    </camera>")
    return out


def write_lensfun_xml(
    path: str | os.PathLike[str],
    lenses: Iterable[LensProfile],
    cameras: Iterable[CameraBody] = (),
) -> None:
    """Write lenses (and bodies) as a lensfun XML database file, atomically.

    Parameters
    ----------
    path : str or PathLike
        Destination ``.xml``; written to a temp file in the same folder, then renamed.
    lenses : iterable of LensProfile
        Lenses with lensfun-family calibrations (poly3/poly5/ptlens, linear/poly3, pa).
    cameras : iterable of CameraBody

    Raises
    ------
    UsageError
        A lens has no mount, or a model lensfun cannot express.
    OutputError
        The folder is missing or not writable (the temp file is removed).

    Notes
    -----
    Output is ``<lensdatabase version="1">``, readable by lensfun 0.3.x (and so by lensfunpy's
    ``Database(paths=[...])``). Numbers are written with ``repr`` so they round-trip exactly.

    References
    ----------
    lensfun ``docs/manual-dbformat.txt``; ``libs/lensfun/database.cpp`` (``lfDatabase::Save``).
    """
    p = Path(path)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<lensdatabase version="1">']
    for c in cameras:
        lines += _camera_xml(c)
    for lens in lenses:
        lines += _lens_xml(lens)
    lines.append("</lensdatabase>")
    text = "\n".join(lines) + "\n"
    from l2tech.io.atomic import atomic_output

    folder = p.parent if str(p.parent) else Path(".")
    if not folder.is_dir():
        raise OutputError("output folder does not exist", folder)
    # the caller decides about an existing file (``l2 lens convert`` / ``l2 calibrate`` check
    # --overwrite / --update first), so this replaces it; temp file beside it, normal permissions
    with atomic_output(p, overwrite=True) as tmp:
        tmp.write_text(text, encoding="utf-8")
