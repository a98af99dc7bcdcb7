"""Find the camera body and lens profile of a shot from its metadata.

The order is fixed and every step says how it matched (``LensMatch.method``):

1. ``override`` — ``--camera`` / ``--lens`` texts given by the user (exact, then similar names;
   an override that is itself ambiguous is an error listing the candidates).
2. ``exact`` — the EXIF string equals a lensfun model name or alias (case-insensitive, spaces
   normalised); for fixed-lens compacts, the one lens on the body's mount.
3. ``alias`` — equal once maker words, spaces and punctuation are removed (EXIF
   ``EF24-105mm f/4L IS USM`` = lensfun ``Canon EF 24-105mm f/4L IS USM``).
4. ``focal-range`` — the metadata names only a focal range (Canon ``Unknown (251) 16-35mm``):
   the lenses with exactly that range are *candidates*, never a silent pick. By default this
   raises :class:`~l2tech.errors.AmbiguousMatchError` (several) or
   :class:`~l2tech.errors.LensNotFoundError` (one) listing them and how to choose with
   ``--lens``; ``allow_focal_range=True`` accepts a single candidate with a warning. We chose
   not to accept a single candidate silently because the database lists only calibrated
   lenses: one 18-55 mm in the database says nothing about which of a maker's many 18-55 mm
   lenses was on the camera, and their distortion differs.
5. ``fuzzy`` — similarity of focal range, aperture range and the remaining words; used only
   when the best candidate leads the runner-up clearly, and always with a warning.

Compared with lensfun's own matcher (``lfDatabase::FindLenses``, fuzzy word matching):

- exact strings win before any fuzzy score, and model names are compared as whole tokens,
  so ``X100T`` never matches ``X-T100`` (lensfun issue #2052);
- the crop rule is explicit: a calibration made on a smaller sensor than the body's
  (``c_body / c_calib < 0.96``) is not silently dropped (lensfun issue #626) but used, when it
  is the only one, with a warning; when a lens has calibrations at several crop factors the
  one closest to the body from the larger-sensor side is chosen;
- mounts are matched through the database's ``<compat>`` lists only, never through the
  maker's name, so L-mount Sigma lenses are found on Panasonic bodies (lensfun PR #1865).

References
----------
lensfun ``libs/lensfun/database.cpp`` (``FindCameras``, ``FindLenses``), ``lens.cpp``
(``lfLens::GuessParameters``: focal and aperture ranges parsed from the model name),
``libs/lensfun/modifier.cpp`` (the 0.96 crop rule); OPTICS.md section 1 "Matching".
"""

from __future__ import annotations

import dataclasses

import functools
import re
from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import TYPE_CHECKING, Any, Iterable, Sequence, Union

from l2tech.errors import AmbiguousMatchError, LensNotFoundError, UsageError
from l2tech.profiles.model import CameraBody, LensProfile

if TYPE_CHECKING:  # pragma: no cover
    from l2tech.io.metadata import ShotMetadata
    from l2tech.profiles.lensfun_xml import LensDatabase

__all__ = [
    "check_override_names",
    "shot_body",
    "profile_source_kind",
    "is_converter_variant",
    "ADAPTER_MOUNTS",
    "MatchCandidate",
    "LensMatch",
    "CameraNotFoundError",
    "NoLensInfoError",
    "CROP_RULE_RATIO",
    "find_camera",
    "find_camera_by_text",
    "match_lens",
    "search_lenses",
    "search_cameras",
    "find_lens_profile",
    "default_database",
    "camera_name",
]

#: lensfun uses a calibration only when ``c_image / c_calibration >= 0.96`` (modifier.cpp).
CROP_RULE_RATIO = 0.96

_FUZZY_MIN = 0.75  # lowest similarity accepted for an automatic fuzzy match
_FUZZY_MARGIN = 0.06  # the winner must lead the runner-up by this much
_CANDIDATE_MIN = 0.45  # lowest similarity listed as a candidate in errors

#: A lens entry measured with a converter or extender in front of or behind the lens (lensfun
#: names them "... + EF 1.4x extender", "... + TCL-X100", "..., with TC-DC58B", a user's
#: "... +RF2x"); "Hero3+" (no space before "+") is a name, not a converter.
_CONVERTER_NAME_RE = re.compile(r"\s\+\s*\S|,\s*with\s|\b(?:tele)?converter\b|\bextender\b|\bteleplus\b", re.I)
#: A shot's lens text that names a converter: the words above, or a factor such as "1.4x",
#: "RF2x", "TC-14", "MC-14".
_CONVERTER_TEXT_RE = re.compile(r"\s\+\s*\S|\b(?:tele)?converter\b|\bextender\b|\d(?:\.\d+)?x\b|\bTC-?\d|\bMC-\d", re.I)


def is_converter_variant(name: str) -> bool:
    """True when a lens entry's name says it was measured with a converter or extender.

    Parameters
    ----------
    name : str
        The entry's full name (``"Canon EF 70-200mm f/4L USM + EF 1.4x extender"``).

    Returns
    -------
    bool
        Such an entry is matched only when the shot's lens text (EXIF or ``--lens``) names a
        converter too, or by its exact name: the same lens without the converter has another
        focal length and distortion.
    """
    return bool(_CONVERTER_NAME_RE.search(name))


class CameraNotFoundError(LensNotFoundError):
    """No camera body in the database matches; ``candidates`` holds the closest ones."""


class NoLensInfoError(LensNotFoundError):
    """The file's metadata names no lens at all (lens correction is skipped unless ``--lens``)."""


@dataclass(frozen=True)
class MatchCandidate:
    """A lens profile or camera body considered by a match or a search.

    Parameters
    ----------
    profile : LensProfile or CameraBody
        The record.
    score : float
        Similarity in [0, 1] (1 = same name).
    reason : str
        Why it was considered (what matched, crop factor, source file).
    """

    profile: Union[LensProfile, CameraBody]
    score: float
    reason: str

    @property
    def name(self) -> str:
        """Display name: ``LensProfile.name`` or ``maker model`` of a body."""
        p = self.profile
        if isinstance(p, LensProfile):
            return p.name
        return camera_name(p)


@dataclass(frozen=True)
class LensMatch:
    """The result of :func:`match_lens`.

    Parameters
    ----------
    camera : CameraBody or None
        The body found (``None`` when it is not in the database; the lens is then matched
        without a mount check, with a warning).
    lens : LensProfile or None
        The lens profile chosen.
    score : float
        1.0 for exact and override matches, 0.95 for alias matches, the similarity for fuzzy
        ones, 0.5 for an accepted focal-range match.
    method : str
        ``'exact'``, ``'alias'``, ``'fuzzy'``, ``'override'`` or ``'focal-range'``; ``l2 lens
        match`` also reports ``'embedded'`` (the file names no lens; its own correction data).
    runners_up : tuple of MatchCandidate
        The next best distinct lenses, best first.
    warnings : tuple of str
        Everything the user should know (fuzzy match, crop rule, camera not found, a focal
        length or f-number missing from the metadata and what that means, ...).
    crop_factor : float or None
        The body's crop factor (database record, else the file's metadata).
    built_in : bool
        True when ``lens`` is a fixed-lens compact's built-in lens, found from the body alone
        (its name is a database key such as "Canon PowerShot SX60 HS & compatibles", not a
        lens model a camera writes).
    """

    camera: CameraBody | None
    lens: LensProfile | None
    score: float
    method: str
    runners_up: tuple[MatchCandidate, ...] = ()
    warnings: tuple[str, ...] = ()
    crop_factor: float | None = None
    built_in: bool = False


# --------------------------------------------------------------------------------------------
# text normalisation and features

_MAKER_WORDS = frozenset(
    """canon nikon nikkor olympus om system digital solutions sony panasonic lumix leica fujifilm fuji
    fujinon sigma tamron tokina samyang rokinon walimex pentax smc hd ricoh samsung zeiss carl
    voigtlander voigtländer laowa venus optics viltrox hasselblad apple gopro konica minolta
    mitakon yongnuo meike ttartisan 7artisans kodak casio corporation corp imaging co ltd inc
    camera ag""".split()
)
_NOISE_WORDS = frozenset({"mm", "lens", "zoom", "digital", "zuiko", "m", "f", "the", "and", "compatibles", "ed"} )
_FOCAL_RE = re.compile(
    r"(?<!\d)(?<!\d\.)(\d+(?:\.\d+)?)(?:\s*-\s*(\d+(?:\.\d+)?))?\s*mm\b"
    r"|(?<!\d)(?<!\d\.)(\d+(?:\.\d+)?)\s*-\s*(\d+(?:\.\d+)?)(?=\s*/|\s|$)",
    re.I,
)
_APERTURE_RE = re.compile(r"(?:\bf\s*/?\s*|\b1\s*:\s*)(\d+(?:\.\d+)?)(?:\s*-\s*(\d+(?:\.\d+)?))?", re.I)
#: Zeiss's "f-number/focal length" naming ("Touit 2.8/12", "Batis 1.8/85"): both numbers are
#: optics, not words of the name (so a query "iphone 12" does not find a 12 mm lens by its "12").
_SLASH_OPTICS_RE = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s*/\s*\d+(?:\.\d+)?(?![\w.])")


def _norm(s: str | None) -> str:
    return " ".join((s or "").split()).casefold()


def _compact(s: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", s.casefold())


def _strip_makers(s: str, extra: Iterable[str] = ()) -> str:
    makers = _MAKER_WORDS | {w.casefold() for e in extra for w in e.split()}
    words = [w for w in re.split(r"(\s+)", s) if w]
    out = []
    for w in words:
        bare = re.sub(r"[^0-9a-zäöü]+", "", w.casefold())
        if bare in makers and bare:
            continue
        out.append(w)
    return "".join(out).strip()


def _focal(s: str) -> tuple[float, float] | None:
    m = _FOCAL_RE.search(s)
    if not m:
        return None
    a, b = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    lo = float(a)
    hi = float(b) if b else lo
    return (lo, hi) if lo <= hi else (hi, lo)


def _aperture(s: str) -> tuple[float, float | None] | None:
    m = _APERTURE_RE.search(s)
    if not m:
        return None
    return float(m.group(1)), (float(m.group(2)) if m.group(2) else None)


def _words(s: str, extra_makers: Iterable[str] = ()) -> frozenset[str]:
    t = _FOCAL_RE.sub(" ", s)
    t = _APERTURE_RE.sub(" ", t)
    t = _SLASH_OPTICS_RE.sub(" ", t)
    t = _strip_makers(t, extra_makers)
    toks = re.findall(r"[a-zäöü]+|\d+(?:\.\d+)?", t.casefold())
    return frozenset(w for w in toks if w not in _NOISE_WORDS)


@dataclass(frozen=True)
class _Features:
    text: str
    focal: tuple[float, float] | None
    aperture: tuple[float, float | None] | None
    words: frozenset[str]
    compact: str


def _features(text: str, extra_makers: Iterable[str] = ()) -> _Features:
    return _Features(
        text=text,
        focal=_focal(text),
        aperture=_aperture(text),
        words=_words(text, extra_makers),
        compact=_compact(_strip_makers(text, extra_makers)),
    )


_FEATURES: dict[int, tuple[LensProfile, tuple[_Features, ...]]] = {}


def _lens_features(lens: LensProfile) -> tuple[_Features, ...]:
    hit = _FEATURES.get(id(lens))
    if hit is not None and hit[0] is lens:
        return hit[1]
    if len(_FEATURES) > 50_000:
        _FEATURES.clear()
    out = []
    for name in (lens.model, *lens.aliases):
        f = _features(name, (lens.maker,))
        if f.focal is None and lens.focal_min_mm > 0:
            f = _Features(f.text, (lens.focal_min_mm, lens.focal_max_mm or lens.focal_min_mm), f.aperture, f.words, f.compact)
        out.append(f)
    feats = tuple(out)
    _FEATURES[id(lens)] = (lens, feats)  # the record is kept alive, so its id is not reused
    return feats


def _focal_equal(q: tuple[float, float], r: tuple[float, float]) -> bool:
    return abs(q[0] - r[0]) < 0.55 and abs(q[1] - r[1]) < 0.55


def _aperture_equal(q: tuple[float, float | None], r: tuple[float, float | None]) -> bool:
    if abs(q[0] - r[0]) > 0.051:
        return False
    if q[1] is not None and r[1] is not None and abs(q[1] - r[1]) > 0.051:
        return False
    return True


def _similarity(q: _Features, r: _Features) -> tuple[float, str]:
    """Score in [0, 1] of a lens-name query against one lens spelling, and why."""
    why = []
    if q.focal and r.focal:
        if not _focal_equal(q.focal, r.focal):
            return 0.0, "focal range differs"
        fs = 1.0
        why.append("focal range")
    else:
        fs = 0.5
    if q.aperture and r.aperture:
        if _aperture_equal(q.aperture, r.aperture):
            ap = 1.0
            why.append("aperture")
        else:
            return 0.0, "aperture differs"
    else:
        ap = 0.5
    if q.words and not (q.words & r.words) and fs < 1.0 and ap < 1.0:
        # a name given only in words ("iPhone") shares none of them: nothing in common
        return 0.0, "no word in common"
    if q.words and r.words:
        inter = q.words & r.words
        # a name given only in words ("iPhone"): the share of its words the lens has; else the
        # Jaccard overlap (a full EXIF name should not gain from a lens name's extra words)
        ws = len(inter) / (len(q.words) if fs < 1.0 and ap < 1.0 else len(q.words | r.words))
        if inter:
            why.append("words " + " ".join(sorted(inter)))
    elif q.words or r.words:
        ws = 0.5  # one side has no distinguishing word: neither evidence for nor against
    else:
        ws = 1.0
    return 0.35 * fs + 0.25 * ap + 0.40 * ws, ", ".join(why) or "little in common"


def _score_lens(queries: Sequence[_Features], lens: LensProfile) -> tuple[float, str]:
    best = (0.0, "no match")
    for q in queries:
        for r in _lens_features(lens):
            s = _similarity(q, r)
            if s[0] > best[0]:
                best = s
    return best


def camera_name(c: CameraBody) -> str:
    """Display name of a body: ``model`` when it starts with the maker, else ``maker model``."""
    if _norm(c.model).startswith(_norm(c.maker).split(" ")[0]):
        return c.model + (f" ({c.variant})" if c.variant else "")
    return f"{c.maker} {c.model}" + (f" ({c.variant})" if c.variant else "")


# --------------------------------------------------------------------------------------------
# database


@functools.lru_cache(maxsize=1)
def default_database() -> "LensDatabase":
    """The bundled lensfun database plus the user's folder (loaded once per process)."""
    from l2tech.profiles.lensfun_xml import load_database

    return load_database()


def _db(db: "LensDatabase | None") -> "LensDatabase":
    return default_database() if db is None else db


# --------------------------------------------------------------------------------------------
# cameras


def _maker_key(maker: str) -> str:
    words = [w for w in re.findall(r"[a-z0-9]+", maker.casefold()) if w not in {"corporation", "corp", "imaging", "co", "ltd", "inc", "camera", "ag", "company"}]
    return " ".join(words)


def _maker_match(a: str, b: str) -> bool:
    ka, kb = _maker_key(a), _maker_key(b)
    if not ka or not kb:
        return False
    return ka == kb or ka.split()[0] == kb.split()[0] or ka in kb or kb in ka


def _model_tokens(model: str, maker: str) -> str:
    return _compact(_strip_makers(model, (maker,)))


def _pick_variant(cams: list[CameraBody], width: int | None, height: int | None) -> CameraBody:
    if len(cams) == 1 or not width or not height:
        return cams[0]
    ratio = max(width, height) / min(width, height)

    def dist(c: CameraBody) -> float:
        m = re.match(r"^\s*(\d+)\s*:\s*(\d+)\s*$", c.variant or "")
        if not m:
            return 1.0
        a, b = int(m.group(1)), int(m.group(2))
        return abs(max(a, b) / min(a, b) - ratio)

    return min(cams, key=dist)


def frame_crop_factor(body: CameraBody | None, file_crop: float | None) -> tuple[float | None, str]:
    """The crop factor a frame is planned at, and a note when it is not the body's.

    Parameters
    ----------
    body : CameraBody or None
        The lensfun record of the body (None: not in the database).
    file_crop : float or None
        The file's own crop factor (35 mm equivalent focal length over the focal length, or a
        RAW's focal-plane resolution over its pixel count: :mod:`l2tech.io.metadata`).

    Returns
    -------
    (crop_factor, note)
        The body's crop factor; the file's when there is no body, or when it is more than 4 %
        larger (a crop mode, e.g. an R6 at 1.6x, or a crop made in the camera: the frame is that
        part of the sensor, about its centre), with a note saying so ("" otherwise).
    """
    crop = body.crop_factor if body is not None else file_crop
    if body is not None and file_crop and crop and file_crop > crop * 1.04:
        return file_crop, (f"the frame is a {file_crop:.3g}x crop (the body's sensor is crop {crop:.3g}): a crop mode "
                           f"or an in-camera crop; corrected at crop {file_crop:.3g} about the frame's centre")
    return crop, ""


def find_camera(
    db: "LensDatabase | None",
    make: str | None,
    model: str | None,
    *,
    width: int | None = None,
    height: int | None = None,
) -> CameraBody:
    """Find a camera body by its EXIF maker and model.

    Parameters
    ----------
    db : LensDatabase or None
        The database (default: :func:`default_database`).
    make, model : str
        EXIF ``Make`` and ``Model`` (any case; trailing spaces ignored).
    width, height : int, optional
        Image size, pixels; picks among aspect-ratio variants of one body (``"4:3"``,
        ``"3:2"``) by the closest ratio.

    Returns
    -------
    CameraBody

    Raises
    ------
    CameraNotFoundError
        No body matches; the message and ``candidates`` list the closest bodies.

    Notes
    -----
    Order: maker and model (or an alias) equal ignoring case and spaces; then the maker's
    first word equal and the model equal once maker words, spaces and punctuation are removed
    (``NIKON D70`` = ``Nikon D70``). Model numbers are never matched partially: ``X100T`` and
    ``X-T100`` stay different bodies.
    """
    d = _db(db)
    if not make and not model:
        raise CameraNotFoundError("the metadata names no camera; choose one with --camera \"Maker Model\"")
    mk, md = _norm(make), _norm(model)
    exact = [c for c in d.cameras if _maker_match(c.maker, make or "") and md in {_norm(c.model), *(_norm(a) for a in c.aliases)}]
    if exact:
        return _pick_variant(exact, width, height)
    key = _model_tokens(model or "", make or "")
    loose = [c for c in d.cameras if _maker_match(c.maker, make or "") and key and key in {_model_tokens(c.model, c.maker), *(_model_tokens(a, c.maker) for a in c.aliases)}]
    if loose:
        return _pick_variant(loose, width, height)
    cands = search_cameras(d, f"{make or ''} {model or ''}", limit=5)
    shown = "; ".join(f"'{c.name}' ({c.score:.2f})" for c in cands) or "none"
    raise CameraNotFoundError(
        f"camera '{(make or '').strip()} {(model or '').strip()}' is not in the lens database; closest: {shown}; "
        "choose one with --camera \"Maker Model\"",
        candidates=tuple(cands),
    )


def search_cameras(db: "LensDatabase | None", text: str, limit: int = 20) -> list[MatchCandidate]:
    """Camera bodies whose name resembles ``text``, best first.

    Parameters
    ----------
    db : LensDatabase or None
    text : str
        Free text, e.g. ``"nikon d70"``.
    limit : int
        Most results returned.

    Returns
    -------
    list of MatchCandidate
        ``profile`` is a :class:`CameraBody`; score is a string similarity of the compacted
        names in [0, 1].
    """
    d = _db(db)
    q = _compact(text)
    qm = _compact(_strip_makers(text))
    out = []
    for c in d.cameras:
        names = [c.model, *c.aliases]
        best = 0.0
        for n in names:
            full = _compact(f"{c.maker} {n}")
            bare = _compact(_strip_makers(n, (c.maker,)))
            s = max(SequenceMatcher(None, q, full).ratio(), SequenceMatcher(None, qm, bare).ratio() if qm and bare else 0.0)
            if qm and bare == qm:
                s = max(s, 0.97 if _maker_match(c.maker, text) or not _strip_makers(text) != text else 0.9)
            best = max(best, s)
        if best > 0.5:
            out.append(MatchCandidate(c, round(best, 3), f"mount {c.mount}, crop {c.crop_factor:g}, {c.source}"))
    out.sort(key=lambda m: -m.score)
    return out[:limit]


def find_camera_by_text(db: "LensDatabase | None", text: str) -> CameraBody:
    """Find a body from free text (the ``--camera`` option): ``"Maker Model"`` or ``"Model"``.

    Raises
    ------
    CameraNotFoundError
        Nothing equal and no single clear similar body; the closest are listed.
    """
    d = _db(db)
    t = _norm(text)
    hits = [c for c in d.cameras if t in {_norm(c.model), _norm(f"{c.maker} {c.model}"), *(_norm(a) for a in c.aliases), *(_norm(f"{c.maker} {a}") for a in c.aliases)}]
    if not hits:
        tc = _compact(_strip_makers(text))
        hits = [c for c in d.cameras if tc and tc in {_compact(_strip_makers(n, (c.maker,))) for n in (c.model, *c.aliases)} and (_maker_match(c.maker, text) or _strip_makers(text) == text.strip())]
    if hits:
        return hits[0]
    cands = search_cameras(d, text, limit=5)
    shown = "; ".join(f"'{c.name}'" for c in cands) or "none"
    raise CameraNotFoundError(
        f"--camera '{text}' matches no body in the lens database; closest: {shown}", candidates=tuple(cands)
    )


# --------------------------------------------------------------------------------------------
# lenses


#: Mounts a body takes through its maker's own adapter, with full lens communication, that the
#: lensfun database's ``<compat>`` lists leave out: Four Thirds lenses on Micro Four Thirds
#: (Olympus MMF-1/2/3, Panasonic DMW-MA1), A-mount lenses on Sony E (Sony LA-EA1..5).
ADAPTER_MOUNTS: dict[str, tuple[str, ...]] = {
    "Micro 4/3 System": ("4/3 System",),
    "Sony E": ("Sony Alpha", "Minolta AF"),
}


def _compatible_mounts(db: "LensDatabase", camera: CameraBody | None) -> frozenset[str] | None:
    if camera is None:
        return None
    return frozenset({camera.mount, *db.mounts.get(camera.mount, ()), *ADAPTER_MOUNTS.get(camera.mount, ())})


def _fits(lens: LensProfile, mounts: frozenset[str] | None) -> bool:
    return mounts is None or any(m in mounts for m in lens.mounts)


def _group(lenses: Iterable[LensProfile]) -> dict[str, list[LensProfile]]:
    groups: dict[str, list[LensProfile]] = {}
    for lens in lenses:
        groups.setdefault(_norm(lens.name), []).append(lens)
    return groups


def _choose_calibration(group: list[LensProfile], crop: float | None, warnings: list[str]) -> LensProfile:
    """Among same-named profiles, pick by the crop rule; warn for a smaller-sensor calibration."""
    if crop is None or crop <= 0:
        return min(group, key=lambda p: p.crop_factor)
    usable = [p for p in group if crop / p.crop_factor >= CROP_RULE_RATIO]
    if usable:
        best = max(usable, key=lambda p: p.crop_factor)
        if not best.distortion:
            # an entry set without distortion (only vignetting measured on this format): the
            # nearest set that has it is used, and the choice said
            with_d = [p for p in usable if p.distortion]
            if with_d:
                alt = max(with_d, key=lambda p: p.crop_factor)
                warnings.append(
                    f"the calibration of '{best.name}' at crop {best.crop_factor:g} has no distortion data; the one "
                    f"at crop {alt.crop_factor:g}, which has it, is used"
                    + ("" if alt.vignetting or not best.vignetting else " (it has no vignetting data)"))
                return alt
        return best
    best = min(group, key=lambda p: p.crop_factor)
    warnings.append(
        f"the calibration of '{best.name}' was made on a smaller sensor (crop {best.crop_factor:g}) than "
        f"this body's (crop {crop:g}); lensfun would drop it; it is used, but the image corners "
        "lie outside the calibrated area and are extrapolated"
    )
    return best


def _ranked(queries: Sequence[_Features], lenses: Iterable[LensProfile]) -> list[tuple[float, str, list[LensProfile]]]:
    ranked = []
    for _name, group in _group(lenses).items():
        s, why = _score_lens(queries, group[0])
        if s > 0:
            ranked.append((s, why, group))
    ranked.sort(key=lambda t: (-t[0], t[2][0].name))
    return ranked


def _candidates(ranked: list[tuple[float, str, list[LensProfile]]], n: int, skip: str | None = None) -> tuple[MatchCandidate, ...]:
    out = []
    for s, why, group in ranked:
        if skip is not None and _norm(group[0].name) == skip:
            continue
        if s < _CANDIDATE_MIN:
            break
        crops = ", ".join(f"{p.crop_factor:g}" for p in group)
        out.append(MatchCandidate(group[0], round(s, 3), f"{why}; calibrated at crop {crops}; {group[0].source}"))
        if len(out) >= n:
            break
    return tuple(out)


def _how_to_choose(cands: Sequence[MatchCandidate]) -> str:
    if not cands:
        return "name the lens with --lens \"Maker Model\" (see `l2 lens search`)"
    return f"choose one with --lens \"{cands[0].name}\""


def _list(cands: Sequence[MatchCandidate]) -> str:
    return "; ".join(f"'{c.name}' ({c.score:.2f})" for c in cands)


def _exact_hits(texts: Sequence[str], pool: Sequence[LensProfile], extra_maker: str | None) -> list[LensProfile]:
    wanted = {_norm(t) for t in texts}
    if extra_maker:
        wanted |= {_norm(f"{extra_maker} {t}") for t in texts}
    return [l for l in pool if wanted & {_norm(l.model), _norm(l.name), *(_norm(a) for a in l.aliases)}]


def _alias_hits(texts: Sequence[str], pool: Sequence[LensProfile]) -> list[LensProfile]:
    keys = {_compact(_strip_makers(t)) for t in texts} - {""}
    hits = []
    for l in pool:
        names = (l.model, *l.aliases)
        if keys & {_compact(_strip_makers(n, (l.maker,))) for n in names}:
            hits.append(l)
    return hits


def _is_focal_range_only(text: str) -> bool:
    f = _features(text)
    return f.focal is not None and f.aperture is None and not (f.words - {"unknown"} - {w for w in f.words if w.isdigit()})


def _resolve(
    hits: list[LensProfile],
    crop: float | None,
    warnings: list[str],
    label: str,
    path: str | None,
    cands_if_many: tuple[MatchCandidate, ...] = (),
) -> LensProfile:
    groups = _group(hits)
    if len(groups) > 1:
        cands = tuple(MatchCandidate(g[0], 1.0, "same name") for g in groups.values())
        raise AmbiguousMatchError(
            f"{label} matches {len(groups)} lenses equally: {_list(cands)}; {_how_to_choose(cands)}",
            path,
            candidates=cands,
        )
    return _choose_calibration(next(iter(groups.values())), crop, warnings)


def _match_text(
    texts: Sequence[str],
    pool: Sequence[LensProfile],
    crop: float | None,
    warnings: list[str],
    *,
    path: str | None,
    label: str,
    extra_maker: str | None = None,
) -> tuple[LensProfile, str, float, tuple[MatchCandidate, ...]]:
    """exact -> alias -> fuzzy over ``pool``; raise with candidates when nothing is clear."""
    queries = [_features(t) for t in texts]
    similar = pool
    if not any(_CONVERTER_TEXT_RE.search(t) for t in texts):
        # a converter variant ("... +RF2x") is never the lens of a shot that names none
        similar = [l for l in pool if not is_converter_variant(l.name)]
    ranked = _ranked(queries, similar)
    hits = _exact_hits(texts, pool, extra_maker)
    if hits:
        lens = _resolve(hits, crop, warnings, label, path)
        return lens, "exact", 1.0, _candidates(ranked, 5, skip=_norm(lens.name))
    hits = _alias_hits(texts, pool)
    if hits:
        lens = _resolve(hits, crop, warnings, label, path)
        return lens, "alias", 0.95, _candidates(ranked, 5, skip=_norm(lens.name))
    if ranked and ranked[0][0] >= _FUZZY_MIN and (len(ranked) == 1 or ranked[0][0] - ranked[1][0] >= _FUZZY_MARGIN):
        s, why, group = ranked[0]
        lens = _choose_calibration(group, crop, warnings)
        runners = _candidates(ranked, 5, skip=_norm(lens.name))
        ru = f"; runner-up '{runners[0].name}' ({runners[0].score:.2f})" if runners else ""
        warnings.append(f"{label} matched '{lens.name}' by similarity (score {s:.2f}: {why}){ru}; override with --lens")
        return lens, "fuzzy", round(s, 3), runners
    cands = _candidates(ranked, 5)
    if len(cands) >= 2 and cands[0].score >= _FUZZY_MIN:
        raise AmbiguousMatchError(
            f"{label} is ambiguous; closest: {_list(cands)}; {_how_to_choose(cands)}", path, candidates=cands
        )
    shown = f"closest: {_list(cands)}" if cands else "no similar lens"
    raise LensNotFoundError(f"{label} is not in the lens database; {shown}; {_how_to_choose(cands)}", path, candidates=cands)


def shot_body(meta: "ShotMetadata", db: "LensDatabase | None" = None) -> tuple[CameraBody | None, float | None]:
    """A shot's body in the camera database and the crop factor its frame is planned at.

    The rule a database match applies (:func:`frame_crop_factor`: the body's crop, or the
    file's own where it records a crop mode), for the paths that have no match: a profile chosen
    by file or source, a shot's own correction data, ``l2 lens match`` with ``--profile``.

    Parameters
    ----------
    meta : ShotMetadata
        ``make``, ``model``, ``width``, ``height`` and ``crop_factor`` are read.
    db : LensDatabase, optional
        Default: :func:`default_database`.

    Returns
    -------
    (CameraBody or None, float or None)
        ``(None, None)`` when the file names no body the database knows.
    """
    from l2tech.errors import L2Error

    make, model = getattr(meta, "make", None), getattr(meta, "model", None)
    if not (make and model):
        return None, None
    try:
        body = find_camera(db, make, model, width=getattr(meta, "width", None), height=getattr(meta, "height", None))
    except L2Error:
        return None, None
    return body, frame_crop_factor(body, getattr(meta, "crop_factor", None))[0]


def check_override_names(db: "LensDatabase | None" = None, *, lens: str | None = None, camera: str | None = None) -> None:
    """Refuse, once before any input, a ``--camera`` or ``--lens`` that no shot could match.

    The checks :func:`match_lens` makes for every input, made once: ``--camera`` through
    :func:`find_camera_by_text` (the same call), ``--lens`` against every lens of the database
    and the user folders (the pool ``match_lens`` falls back to when the body's mounts hold no
    such lens). Only a name with no similar lens at all is refused here; a name that is
    ambiguous or close to several lenses may still be decided by a shot's body and crop, so it
    is left to each input.

    Parameters
    ----------
    db : LensDatabase, optional
        Default: :func:`default_database` (the lensfun database and the user folders).
    lens, camera : str, optional
        The ``--lens`` and ``--camera`` values; None checks nothing.

    Raises
    ------
    UsageError
        The name matches nothing (exit 2); the message is the matcher's, naming the closest
        bodies or saying there is no similar lens.
    """
    d = db if db is not None else default_database()
    if camera:
        try:
            find_camera_by_text(d, camera)
        except CameraNotFoundError as exc:
            raise UsageError(exc.reason) from None
    if lens:
        try:
            _match_text([lens], d.lenses, None, [], path=None, label=f"--lens '{lens}'")
        except LensNotFoundError as exc:
            if not getattr(exc, "candidates", ()) and not isinstance(exc, AmbiguousMatchError):
                raise UsageError(exc.reason) from None


def _fixed_lens(db: "LensDatabase", camera: CameraBody) -> list[LensProfile]:
    if not camera.mount or not camera.mount[0].islower() or camera.mount in db.mounts:
        return []
    return [l for l in db.lenses if camera.mount in l.mounts]


def _shot_warnings(meta: "ShotMetadata", lens: LensProfile | None) -> list[str]:
    """RELIABILITY.md case 22: say what a missing focal length / f-number means for this lens."""
    out = []
    if lens is None:
        return out
    if getattr(meta, "focal_length_mm", None) is None:
        if lens.focal_min_mm > 0 and lens.focal_min_mm == lens.focal_max_mm:
            out.append(f"focal length missing from the metadata; the prime's {lens.focal_min_mm:g} mm is used")
        else:
            out.append("focal length missing from the metadata; distortion and TCA need --focal-length for this zoom")
    if getattr(meta, "f_number", None) is None:
        out.append("f-number missing from the metadata; vignetting needs --f-number")
    return out


def _finish(meta: "ShotMetadata", m: LensMatch) -> LensMatch:
    extra = _shot_warnings(meta, m.lens)
    if not extra:
        return m
    return dataclasses.replace(m, warnings=(*m.warnings, *extra))


def match_lens(
    meta: "ShotMetadata",
    db: "LensDatabase | None" = None,
    *,
    camera: str | None = None,
    lens: str | None = None,
    allow_focal_range: bool = False,
) -> LensMatch:
    """Find the camera body and lens profile for a shot.

    Parameters
    ----------
    meta : ShotMetadata
        From :func:`l2tech.io.metadata.read_metadata`.
    db : LensDatabase, optional
        Default :func:`default_database`.
    camera : str, optional
        ``--camera`` override text (``"Canon EOS 6D"``).
    lens : str, optional
        ``--lens`` override text (``"Canon EF 16-35mm f/2.8L USM"``).
    allow_focal_range : bool
        Accept a single lens whose focal range equals the one the metadata names (with a
        warning); by default such a shot raises with the candidates.

    Returns
    -------
    LensMatch

    Raises
    ------
    NoLensInfoError
        The metadata names no lens (and no ``lens`` override): "no lens information; lens
        correction skipped unless --lens".
    AmbiguousMatchError
        Several lenses fit equally (including a focal-range-only lens name); the message lists
        them and how to choose with ``--lens``.
    LensNotFoundError
        No lens fits well enough; the closest are listed.
    CameraNotFoundError
        Only for a ``camera`` override that matches no body (an unknown body from EXIF is a
        warning: the lens is then matched without a mount check).

    Examples
    --------
    >>> m = match_lens(read_metadata("IMG_0001.CR2"))  # doctest: +SKIP
    >>> m.lens.name, m.method  # doctest: +SKIP
    ('Canon EF 24-105mm f/4L IS USM', 'alias')
    """
    d = _db(db)
    path = getattr(meta, "path", None)
    warnings: list[str] = []

    # ---- camera
    body: CameraBody | None
    if camera:
        body = find_camera_by_text(d, camera)
    else:
        try:
            body = find_camera(d, meta.make, meta.model, width=meta.width, height=meta.height)
        except CameraNotFoundError as exc:
            body = None
            warnings.append(f"{exc.reason}; the lens is matched without a mount check")
    crop, note = frame_crop_factor(body, getattr(meta, "crop_factor", None))
    if note:
        warnings.append(note)
    mounts = _compatible_mounts(d, body)
    pool = [l for l in d.lenses if _fits(l, mounts)]

    # ---- lens override
    if lens:
        # an exact name wins over similarity inside the mount's pool (a lens on an adapter the
        # database does not list is still the lens the user named)
        exact = _exact_hits([lens], d.lenses, None) or _alias_hits([lens], d.lenses)
        if exact and not (_exact_hits([lens], pool, None) or _alias_hits([lens], pool)):
            found = _resolve(exact, crop, warnings, f"--lens '{lens}'", path)
            if mounts is not None and not _fits(found, mounts):
                warnings.append(f"'{found.name}' (mounts {', '.join(found.mounts)}) does not fit the "
                                f"{body.mount if body else ''} mount; used as asked")
            return _finish(meta, LensMatch(body, found, 1.0, "override", (), tuple(warnings), crop))
        try:
            found, how, score, runners = _match_text([lens], pool, crop, warnings, path=path, label=f"--lens '{lens}'")
        except LensNotFoundError:
            if mounts is None:
                raise
            found, how, score, runners = _match_text([lens], d.lenses, crop, warnings, path=path, label=f"--lens '{lens}'")
            warnings.append(f"'{found.name}' (mounts {', '.join(found.mounts)}) does not fit the {body.mount if body else ''} mount; used as asked")
        return _finish(meta, LensMatch(body, found, 1.0 if how != "fuzzy" else score, "override", runners, tuple(warnings), crop))

    # ---- fixed-lens compacts
    if body is not None:
        fixed = _fixed_lens(d, body)
        groups = _group(fixed)
        if len(groups) > 1:
            # e.g. "X100 & compatibles (Standard)" and "... + TCL-X100" (a converter): the plain
            # lens unless the metadata names a converter; the others are listed
            plain = [g for g in groups.values() if "+" not in g[0].model]
            if len(plain) == 1:
                others = [g[0].name for g in groups.values() if g is not plain[0]]
                warnings.append(
                    f"fixed-lens body: '{plain[0][0].name}' is used; also in the database: "
                    + "; ".join(repr(o) for o in others) + " (choose with --lens)"
                )
                groups = {_norm(plain[0][0].name): plain[0]}
        if len(groups) == 1:
            chosen = _choose_calibration(next(iter(groups.values())), crop, warnings)
            return _finish(meta, LensMatch(body, chosen, 1.0, "exact", (), tuple(warnings), crop, built_in=True))

    texts = [t for t in dict.fromkeys([meta.lens_model, meta.lens_id]) if t]
    numbers = [t for t in texts if re.fullmatch(r"\(?(\d+|0x[0-9a-fA-F]+)\)?", t.strip())]  # 145, (145), 0x145 (Sigma)
    texts = [t for t in texts if t not in numbers]
    if not texts and numbers:
        raise LensNotFoundError(
            f"the lens is identified only by the maker's lens number {numbers[0]}, which has no name in "
            "exiv2's lens tables; name the lens with --lens \"Maker Model\" (see `l2 lens search`)",
            path,
        )
    if not texts:
        raise NoLensInfoError(
            "no lens information in the file's metadata; lens correction skipped unless the lens is named "
            "with --lens \"Maker Model\" (see `l2 lens search`)",
            path,
        )
    label = f"lens '{texts[0]}'"
    named = [t for t in texts if not _is_focal_range_only(t)]
    if named:
        try:
            found, how, score, runners = _match_text(named, pool, crop, warnings, path=path, label=label, extra_maker=meta.lens_make)
            return _finish(meta, LensMatch(body, found, score, how, runners, tuple(warnings), crop))
        except LensNotFoundError as exc:
            if isinstance(exc, AmbiguousMatchError) or len(named) == len(texts):
                raise

    # ---- focal range only ("Unknown (251) 16-35mm")
    rng_text = next(t for t in texts if _is_focal_range_only(t))
    rng = _focal(rng_text)
    assert rng is not None
    hits = [l for l in pool if l.focal_min_mm > 0 and _focal_equal(rng, (l.focal_min_mm, l.focal_max_mm or l.focal_min_mm))]
    groups = _group(hits)
    cands = tuple(
        MatchCandidate(g[0], 0.5, f"focal range {rng[0]:g}-{rng[1]:g} mm; calibrated at crop {', '.join(f'{p.crop_factor:g}' for p in g)}; {g[0].source}")
        for g in sorted(groups.values(), key=lambda g: g[0].name)
    )
    rtxt = f"{rng[0]:g}-{rng[1]:g} mm" if rng[0] != rng[1] else f"{rng[0]:g} mm"
    if len(groups) == 1 and allow_focal_range:
        chosen = _choose_calibration(next(iter(groups.values())), crop, warnings)
        warnings.append(
            f"lens '{rng_text}' names only a focal range; '{chosen.name}' is the only {rtxt} lens for this mount "
            "in the database and is used; override with --lens"
        )
        return _finish(meta, LensMatch(body, chosen, 0.5, "focal-range", (), tuple(warnings), crop))
    if not groups:
        raise LensNotFoundError(
            f"lens '{rng_text}' names only a focal range and no {rtxt} lens for this mount is in the database; "
            "name the lens with --lens \"Maker Model\" (see `l2 lens search`)",
            path,
        )
    err = AmbiguousMatchError if len(groups) > 1 else LensNotFoundError
    raise err(
        f"lens '{rng_text}' names only a focal range; {len(groups)} candidate(s): {'; '.join(repr(c.name) for c in cands)}; "
        f"{_how_to_choose(cands)}",
        path,
        candidates=cands,
    )


def search_lenses(
    db: "LensDatabase | None", text: str, mount: str | None = None, limit: int = 20
) -> list[MatchCandidate]:
    """Lenses whose name resembles free text, best first (``l2 lens search``).

    Parameters
    ----------
    db : LensDatabase or None
    text : str
        Free text: words, a focal range (``"24-105"``, ``"50mm"``), an aperture (``"f/1.4"``).
    mount : str, optional
        Only lenses that fit this mount (directly or through the database's compat lists),
        case-insensitive.
    limit : int
        Most results.

    Returns
    -------
    list of MatchCandidate
        Score: the mean of the parts the query gives (focal range equal, aperture equal, share
        of the query's words found in the lens name). Lenses whose focal range or aperture
        contradicts the query are left out, and so are lenses without any of its words unless
        its focal range or aperture is theirs (``"DT 18-200"`` lists the 18-200 mm lenses at
        half score when no DT one is in the database). Same-named lenses calibrated at several crop
        factors are listed once each.

    Raises
    ------
    UsageError
        Empty text, or an unknown mount (the message lists the known ones).
    """
    d = _db(db)
    if not text or not text.strip():
        raise UsageError("search text is empty")
    mounts: frozenset[str] | None = None
    if mount:
        all_mounts = {m for l in d.lenses for m in l.mounts} | set(d.mounts)
        found = [m for m in all_mounts if _norm(m) == _norm(mount)]
        if not found:
            close = sorted(all_mounts, key=lambda m: -SequenceMatcher(None, _norm(m), _norm(mount)).ratio())[:5]
            raise UsageError(f"unknown mount '{mount}'; closest: {', '.join(close)}")
        m0 = found[0]
        mounts = frozenset({m0, *d.mounts.get(m0, ())})
    q = _features(text)
    q_raw_words = [w for w in re.findall(r"[a-z]+|\d+(?:\.\d+)?",
                                         _SLASH_OPTICS_RE.sub(" ", _APERTURE_RE.sub(" ", _FOCAL_RE.sub(" ", text))).casefold())]
    out = []
    for lens in d.lenses:
        if mounts is not None and not any(m in mounts for m in lens.mounts):
            continue
        best = 0.0
        why = ""
        for r in _lens_features(lens):  # each spelling (name, aliases) on its own
            parts = []
            reasons = []
            if q.focal:
                if not (r.focal and _focal_equal(q.focal, r.focal)):
                    continue
                parts.append(1.0)
                reasons.append("focal range")
            if q.aperture:
                if not (r.aperture and _aperture_equal(q.aperture, r.aperture)):
                    continue
                parts.append(1.0)
                reasons.append("aperture")
            if q_raw_words:
                # a number without "mm" is a word of the name ("iphone 12"), never a focal length:
                # the name's focal range and aperture are taken out before words are compared
                name = f"{lens.maker} {r.text}"
                bare = _SLASH_OPTICS_RE.sub(" ", _APERTURE_RE.sub(" ", _FOCAL_RE.sub(" ", name)))
                hay = _compact(bare)
                hay_words = set(re.findall(r"[a-z]+|\d+(?:\.\d+)?", bare.casefold()))
                found_w = [w for w in q_raw_words if w in hay_words or (len(w) >= 3 and not w[0].isdigit() and w in hay)]
                if not found_w and not parts:
                    continue  # words only, none found; with a focal range or aperture equal it still counts
                parts.append(len(found_w) / len(q_raw_words))
                if found_w:
                    reasons.append("words " + " ".join(found_w))
            if parts:
                s = sum(parts) / len(parts)
                if s > best:
                    best, why = s, ", ".join(reasons)
        if best > 0:
            out.append(MatchCandidate(lens, round(best, 3), f"{why}; mounts {', '.join(lens.mounts)}; crop {lens.crop_factor:g}; {lens.source}"))
    out = _with_fixed_lenses_of_cameras(d, text, mounts, out)
    out.sort(key=lambda m: (-m.score, m.profile.name, m.profile.crop_factor))
    return out[:limit]


#: Score of a fixed lens found through its camera's name (``lens search "HERO5"``): below a lens
#: whose own name has every query word (1.0), above one that has half of them.
_FIXED_LENS_SCORE = 0.9
#: A camera mount that at most this many lenses fit is a fixed-lens body's (compacts, action cameras).
_FIXED_MOUNT_MAX_LENSES = 4


def _with_fixed_lenses_of_cameras(d: Any, text: str, mounts: "frozenset[str] | None",
                                  out: list[MatchCandidate]) -> list[MatchCandidate]:
    """``out`` plus the fixed lens of every fixed-lens camera whose name holds the whole query
    (compacted: ``"HERO5"`` is in ``"GoPro HERO5 Black"``, whose lens the database files under the
    HERO4 black's mount). Lenses already listed keep the higher score."""
    q = _compact(_APERTURE_RE.sub(" ", _FOCAL_RE.sub(" ", text)))
    if len(q) < 3:
        return out
    by_lens = {id(m.profile): i for i, m in enumerate(out)}
    for cam in d.cameras:
        names = [f"{cam.maker} {n}" for n in (cam.model, *cam.aliases)]
        if not any(q in _compact(n) for n in names) or (mounts is not None and cam.mount not in mounts):
            continue
        fits = [l for l in d.lenses if cam.mount in l.mounts]
        if not fits or len(fits) > _FIXED_MOUNT_MAX_LENSES:
            continue  # an interchangeable-lens mount: a body's name says nothing of the lens
        for lens in fits:
            cand = MatchCandidate(lens, _FIXED_LENS_SCORE, f"fixed lens of the {cam.maker} {cam.model} (mount "
                                  f"{cam.mount}); crop {lens.crop_factor:g}; {lens.source}")
            i = by_lens.get(id(lens))
            if i is None:
                by_lens[id(lens)] = len(out)
                out.append(cand)
            elif out[i].score < cand.score:
                out[i] = cand
    return out


#: Where a profile came from, by the prefix of ``LensProfile.source``.
_SOURCE_KINDS = {"lensfun": "database", "user": "user", "lcp": "file (Adobe LCP)", "gyroflow": "file (Gyroflow)",
                 "opencv_yaml": "file (OpenCV)", "dng": "embedded (DNG opcodes)", "rw2": "embedded (maker notes)",
                 "sony": "embedded (maker notes)", "fuji": "embedded (maker notes)",
                 "converted": "converted"}


def profile_source_kind(profile: LensProfile) -> str:
    """Where a profile came from: ``database`` (bundled lensfun), ``user`` (the user's profile
    folder), ``embedded (DNG opcodes)``, ``embedded (maker notes)``, ``file (Adobe LCP)``, ...

    Parameters
    ----------
    profile : LensProfile

    Returns
    -------
    str
        From the prefix of ``profile.source`` (``"user:/path/my.xml"`` → ``"user"``).
    """
    prefix = (profile.source or "").split(":", 1)[0]
    return _SOURCE_KINDS.get(prefix, prefix or "unknown")


def find_lens_profile(meta: "ShotMetadata", db: "LensDatabase | None" = None) -> LensProfile:
    """The lens profile for a shot (:func:`match_lens` without overrides).

    Raises
    ------
    LensNotFoundError, AmbiguousMatchError, NoLensInfoError
        As :func:`match_lens`.
    """
    m = match_lens(meta, db)
    if m.lens is None:  # pragma: no cover - match_lens raises instead
        raise LensNotFoundError("no lens profile found", getattr(meta, "path", None))
    return m.lens
