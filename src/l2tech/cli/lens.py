"""``l2 lens``: search, show and match lens profiles (a shell over :mod:`l2tech.profiles.matching`).

Sub-commands are plain click commands attached to the :data:`lens` group; another module adds
one with ``lens.add_command(convert)`` (or ``@lens.command()``) and nothing here changes.
"""

from __future__ import annotations

from typing import Any

import click

from l2tech.cli.common import console, emit_json, report_error
from l2tech.cli.options import (
    CONTEXT_SETTINGS,
    camera_option,
    json_option,
    lens_option,
    profile_option,
    profile_source_option,
    verbosity_options,
)

__all__ = ["lens", "lens_to_dict", "camera_to_dict"]


def camera_to_dict(cam: Any) -> dict[str, Any] | None:
    """JSON-able summary of a :class:`~l2tech.profiles.model.CameraBody`."""
    if cam is None:
        return None
    return {"maker": cam.maker, "model": cam.model, "variant": cam.variant, "mount": cam.mount,
            "crop_factor": cam.crop_factor, "source": cam.source}


def lens_to_dict(lens: Any, full: bool = False) -> dict[str, Any] | None:
    """JSON-able summary of a :class:`~l2tech.profiles.model.LensProfile` (``full``: calibrations)."""
    if lens is None:
        return None
    d: dict[str, Any] = {
        "name": lens.name, "maker": lens.maker, "model": lens.model, "mounts": list(lens.mounts),
        "crop_factor": lens.crop_factor, "aspect_ratio": lens.aspect_ratio, "lens_type": lens.lens_type,
        "focal_min_mm": lens.focal_min_mm, "focal_max_mm": lens.focal_max_mm,
        "aperture_min": lens.aperture_min, "aperture_max": lens.aperture_max,
        "aliases": list(lens.aliases), "source": lens.source,
        "calibrations": {"distortion": len(lens.distortion), "tca": len(lens.tca), "vignetting": len(lens.vignetting)},
    }
    if full:
        d["distortion"] = [{"model": c.model, "focal_length_mm": c.focal_length_mm, **dict(c.terms)} for c in lens.distortion]
        d["tca"] = [{"model": c.model, "focal_length_mm": c.focal_length_mm, **dict(c.terms)} for c in lens.tca]
        d["vignetting"] = [{"model": c.model, "focal_length_mm": c.focal_length_mm, "f_number": c.f_number,
                            "focus_distance_m": c.focus_distance_m, **dict(c.terms)} for c in lens.vignetting]
    return d


def _cand(c: Any) -> dict[str, Any]:
    return {"name": c.name, "score": c.score, "reason": c.reason, "crop_factor": c.profile.crop_factor}


@click.group(context_settings=CONTEXT_SETTINGS)
def lens() -> None:
    """Search, show and match lens profiles (the lensfun database plus your own).

    \b
    Examples:
      l2 lens search "24-105 f/4" --mount "Canon EF"
      l2 lens show "Canon EF 24-105mm f/4L IS USM"
      l2 lens match IMG_0001.CR2
    """


@lens.command("search", context_settings=CONTEXT_SETTINGS)
@click.argument("text")
@click.option("--mount", "mount", default=None, metavar="M", help="Only lenses that fit this mount, e.g. \"Sony E\".")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 1000), help="Most results.")
@json_option
@verbosity_options
def search(text: str, mount: str | None, limit: int, as_json: bool, verbose: int, quiet: bool) -> int:
    """Lenses whose name resembles TEXT (words, a focal range, an aperture).

    \b
    Examples:
      l2 lens search "24-105 f/4" --mount "Canon EF"
      l2 lens search sigma --limit 5 --json
    """
    from l2tech.errors import L2Error
    from l2tech.profiles.matching import search_lenses

    try:
        res = search_lenses(None, text, mount=mount, limit=limit)
    except L2Error as exc:
        report_error(exc, verbose)
        return exc.exit_code
    if as_json:
        emit_json([{**_cand(c), "lens": lens_to_dict(c.profile)} for c in res])
        return 0 if res else 1
    if not res:
        console.print(f"no lens matches '{text}'" + (f" on mount {mount}" if mount else ""), highlight=False)
        return 1
    from rich.table import Table

    t = Table()
    for col in ("score", "lens", "mounts", "crop", "source"):
        t.add_column(col)
    for c in res:
        t.add_row(f"{c.score:.2f}", c.name, ", ".join(c.profile.mounts), f"{c.profile.crop_factor:g}", c.profile.source)
    console.print(t)
    return 0


@lens.command("show", context_settings=CONTEXT_SETTINGS)
@click.argument("name")
@json_option
@verbosity_options
def show(name: str, as_json: bool, verbose: int, quiet: bool) -> int:
    """Show a lens profile: mounts, crop factor, focal range and its calibration points.

    NAME is the lens name (any case; the maker may be left out), or a profile file of any
    supported format. A name matching several lenses lists them; exit code 1.

    \b
    Examples:
      l2 lens show "Lumix S 20-60/F3.5-5.6"
      l2 lens show GoPro_HERO5_Black_Wide_NO-EIS_4by3.json
    """
    import os

    from l2tech.errors import L2Error, LensNotFoundError
    from l2tech.profiles.matching import _compact, _norm, _strip_makers, default_database, search_lenses

    if os.path.isfile(name):  # a profile file of any format: lensfun XML, LCP, Gyroflow, OpenCV, DNG
        from l2tech.cli.lens_convert import show_file

        return click.get_current_context().invoke(show_file, path=name, lens_name=None, as_json=as_json, verbose=verbose, quiet=quiet)
    db = default_database()
    key = _norm(name)
    hits = [l for l in db.lenses if key in {_norm(l.name), _norm(l.model), *(_norm(a) for a in l.aliases)}]
    if not hits:
        ck = _compact(_strip_makers(name))
        hits = [l for l in db.lenses if ck and ck == _compact(_strip_makers(l.model, (l.maker,)))]
    if not hits:
        cands = search_lenses(db, name, limit=12) if name.strip() else []
        names = list(dict.fromkeys(c.name for c in cands))[:6]  # one line per lens name
        exc = LensNotFoundError(
            f"no lens is named exactly '{name}'; candidates: " + ("; ".join(f"'{n}'" for n in names) or "none")
            + " (give one of these names; `l2 lens search` shows more)", candidates=tuple(cands))
        report_error(exc, verbose)
        return 1
    if len({_norm(h.name) for h in hits}) > 1:
        report_error(L2Error(f"'{name}' names several lenses: " + "; ".join(sorted({h.name for h in hits}))), verbose)
        return 1
    if as_json:
        emit_json([lens_to_dict(h, full=True) for h in hits])
        return 0
    for h in hits:
        console.print(f"[bold]{h.name}[/]  ({h.source})", highlight=False)
        console.print(f"  mounts: {', '.join(h.mounts)}; crop factor {h.crop_factor:g}; aspect {h.aspect_ratio:.3g}; "
                      f"type {h.lens_type}; focal {h.focal_min_mm:g}-{h.focal_max_mm:g} mm", highlight=False)
        if h.aliases:
            console.print(f"  also known as: {'; '.join(h.aliases)}", highlight=False)
        for c in h.distortion:
            terms = ", ".join(f"{k}={v:g}" for k, v in c.terms.items())
            console.print(f"  distortion {c.model} @ {c.focal_length_mm:g} mm: {terms}", highlight=False)
        console.print(f"  TCA points: {len(h.tca)}; vignetting points: {len(h.vignetting)}", highlight=False)
    return 0


@lens.command("match", context_settings=CONTEXT_SETTINGS)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@camera_option
@lens_option
@click.option("--allow-focal-range", is_flag=True,
              help="Accept a single lens whose focal range equals the one the file names (with a warning).")
@profile_option
@profile_source_option
@json_option
@verbosity_options
def match(files: tuple[str, ...], camera: str | None, lens_name: str | None, allow_focal_range: bool,
          profile_path: str | None, profile_source: str | None, as_json: bool, verbose: int, quiet: bool) -> int:
    """Find the camera body and lens profile for each FILE from its metadata.

    Exact EXIF names first, then names equal but for spacing and maker words, then similar
    names (with a warning and the runners-up). A lens known only by its focal range, or an
    ambiguous one, is an error that lists the candidates and how to choose with --lens.
    With --profile FILE or --profile-source, the lens and source shown are the profile that
    choice gives (the one `l2 correct` and `l2 develop` use with the same option; the
    default match is named as not used), and a source with no profile is an error.
    For a video clip, give the profile with --profile: the match shows how its calibration
    frame maps onto the clip's frames. Exit code 1 if any file had no match.

    \b
    Examples:
      l2 lens match IMG_0001.CR2
      l2 lens match DSC_0042.NEF --lens "Nikon AF-S DX Zoom-Nikkor 18-70mm f/3.5-4.5G IF-ED" --json
      l2 lens match clip.mp4 --profile GoPro_HERO5_Black_Wide_NO-EIS_4by3.json
    """
    from l2tech.errors import L2Error, LensNotFoundError
    from l2tech.io.metadata import read_metadata
    from l2tech.profiles.matching import camera_name, profile_source_kind, shot_body
    from l2tech.profiles.sources import choose_profile, match_shot

    out: list[dict[str, Any]] = []
    failed = 0
    for f in files:
        if _is_video(f):
            rec, ok = _match_video(f, profile_path, verbose)
            failed += not ok
            out.append(rec)
            if not as_json and not quiet and ok and "frame_fit" not in rec:  # the camera named by the telemetry
                console.print(f"{f}: [bold]{rec['lens']['name']}[/] on [bold]{rec['camera']['maker']} "
                              f"{rec['camera']['model']}[/] ({rec['method']}, score {rec['score']:.2f}, crop "
                              f"{rec['crop_factor']:g}, source {rec['source']})", highlight=False)
                for w in rec["warnings"]:
                    console.print(f"  [yellow]warning[/]: {w}", highlight=False)
                console.print(f"  {rec['note']}", highlight=False)
            elif not as_json and not quiet and ok:
                console.print(f"{f}: [bold]{rec['profile']}[/] ({rec['model']})", highlight=False)
                console.print(f"  {rec['frame_fit']}", highlight=False)
                console.print("  override with: l2 video --calib-crop X0,Y0,W,H", highlight=False)
            continue
        forced = profile_path is not None or profile_source is not None
        choice = None
        try:
            meta = read_metadata(f)
            # the decision `correct` and `develop` take (the shot's own correction data when no
            # profile matches)
            try:
                m = match_shot(meta, camera=camera, lens=lens_name, allow_focal_range=allow_focal_range)
            except L2Error:
                if not forced:
                    raise
                m = None  # a profile given by file or source needs no database match (nor does `correct`)
            if forced:
                # --profile / --profile-source: `correct` plans with this choice (lens_plan), so the
                # headline and the JSON lens/source are its profile, not the database's match
                choice = choose_profile(meta, profile_file=profile_path, profile_source=profile_source,
                                        camera=camera, lens=lens_name)
                if choice.profile is None:
                    raise LensNotFoundError(f"no lens profile from {profile_source or 'the given file'}: "
                                            + "; ".join(choice.tried), path=f)
        except L2Error as exc:
            failed += 1
            report_error(exc, verbose)
            out.append({"path": f, "error": str(exc), "error_type": type(exc).__name__,
                        "candidates": [_cand(c) for c in getattr(exc, "candidates", ())]})
            continue
        if choice is None:
            try:
                choice = choose_profile(meta, camera=camera, lens=lens_name)
                choice_lines = [f"chosen: {choice.source} ({choice.reason})", *choice.tried]
            except L2Error as exc:
                choice_lines = [f"profile choice: {exc}"]
        else:
            choice_lines = [f"chosen: {choice.source} ({choice.reason})", *choice.tried]
        from l2tech.pipeline.lens_plan import crop_after_capture

        if forced:
            # the profile, match and source `correct` plans with (lens_plan: choice.profile,
            # choice.match, choice.source); a file or embedded profile has no match: the body the
            # default match found (or the camera database's) gives the frame's crop, as in `correct`
            used, shown = choice.match, choice.match or m
            lens_prof, source = choice.profile, choice.source
            method, score = (used.method, used.score) if used is not None else (choice.source, None)
            body, body_crop = (shown.camera, shown.crop_factor) if shown is not None else shot_body(meta)
            crop = body_crop or getattr(meta, "crop_factor", None) or lens_prof.crop_factor
            warns = list(used.warnings) if used is not None else []
            runners = list(used.runners_up) if used is not None else []
        else:
            lens_prof = m.lens
            source = profile_source_kind(m.lens) if m.lens is not None else None
            method, score, crop = m.method, m.score, m.crop_factor
            warns, runners = list(m.warnings), list(m.runners_up)
            body = m.camera
        if lens_prof is not None:
            from l2tech.optics.opencv import check_calibration_frame

            try:  # the frame rule `correct` plans with, whichever source gave the profile
                check_calibration_frame(lens_prof, getattr(meta, "width", None), getattr(meta, "height", None))
            except L2Error as exc:
                failed += 1
                report_error(exc, verbose)
                out.append({"path": f, "error": str(exc), "error_type": type(exc).__name__, "candidates": []})
                continue
        after = crop_after_capture(meta, crop)  # the frame develop/correct plan, as `l2 info` shows
        rec = {"path": f, "camera": camera_to_dict(body), "lens": lens_to_dict(lens_prof), "method": method,
               "source": source,
               "profile_choice": choice_lines,
               "score": score, "crop_factor": crop,
               "planned_crop_factor": after if after is not None else crop, "warnings": warns,
               "runners_up": [_cand(c) for c in runners],
               "exif": {"make": meta.make, "model": meta.model, "lens_model": meta.lens_model, "lens_id": meta.lens_id}}
        other = (m is not None and m.lens is not None and lens_prof is not None
                 and (m.lens.name, m.lens.source) != (lens_prof.name, lens_prof.source))
        if forced:  # what the default choice (no option) matched, not used with --profile / --profile-source
            rec["default_match"] = ({"name": m.lens.name, "method": m.method, "score": m.score,
                                      "source": profile_source_kind(m.lens)} if other else None)
        out.append(rec)
        if not as_json and not quiet:
            cam = camera_name(body) if body else "(body not in database)"
            how = method if score is None else f"{method}, score {score:.2f}"
            console.print(f"{f}: [bold]{lens_prof.name if lens_prof else '-'}[/] on [bold]{cam}[/] "
                          f"({how}, crop {crop if crop else 0:g}, source {source})", highlight=False)
            if after is not None:
                console.print(f"  planned at crop {after:.4g}: a crop made after capture (XMP crs:Crop*) of the "
                              f"{crop:.4g} frame", highlight=False)
            for w in warns:
                console.print(f"  [yellow]warning[/]: {w}", highlight=False)
            if forced and other:
                given = "--profile" if profile_path is not None else f"--profile-source {profile_source}"
                console.print(f"  not used ({given}): the default match {m.lens.name} ({m.method}, source "
                              f"{rec['default_match']['source']})", highlight=False)
            console.print("  profile sources in order (file, user, database, embedded):", highlight=False)
            for line in choice_lines:
                console.print(f"    {line}", highlight=False)
            if verbose:
                for c in runners:
                    console.print(f"  runner-up: {c.name} ({c.score:.2f}; {c.reason})", highlight=False)
    if as_json:
        emit_json(out if len(files) > 1 else out[0])
    return 1 if failed else 0


def _is_video(path: str) -> bool:
    from l2tech.errors import L2Error
    from l2tech.io.formats import sniff_format

    try:
        return sniff_format(path) in ("mp4", "mov")
    except L2Error:
        return False


def _match_video(path: str, profile_file: str | None, verbose: int) -> tuple[dict[str, Any], bool]:
    """For a clip: how the profile's calibration frame maps onto the clip's frames."""
    from l2tech.errors import L2Error, UsageError
    from l2tech.profiles.sources import read_profile
    from l2tech.video.lens import fit_calibration_to_frame
    from l2tech.video.probe import probe_video

    try:
        if profile_file is None:
            return _match_video_by_telemetry(path), True
        info = probe_video(path)
        prof = read_profile(profile_file)
        ex = prof.extra
        if not ex.get("calib_width_px"):
            raise UsageError("the profile has no calibration frame size (a lensfun profile is sized by crop factor; "
                             "l2 video --crop-factor sets it)", path=profile_file)
        fit = fit_calibration_to_frame((int(ex["calib_width_px"]), int(ex["calib_height_px"])), (info.width_px, info.height_px))
    except L2Error as exc:
        report_error(exc, verbose)
        return {"path": path, "error": str(exc), "error_type": type(exc).__name__}, False
    model = prof.distortion[0].model if prof.distortion else "none"
    return {"path": path, "profile": prof.name, "model": model, "frame_size": [info.width_px, info.height_px],
            "calib_size": [int(ex["calib_width_px"]), int(ex["calib_height_px"])], "frame_fit": fit.describe()}, True


def _match_video_by_telemetry(path: str) -> dict[str, Any]:
    """A clip without ``--profile``: the lens of the camera its motion telemetry names (a GoPro's
    GPMF says "GoPro HERO5 Black"), matched in the database as a photo's EXIF body would be.

    Raises
    ------
    UsageError
        The clip names no camera, or the database has no lens for it (the message says which).
    """
    from l2tech.errors import L2Error, UsageError
    from l2tech.io.metadata import ShotMetadata
    from l2tech.profiles.matching import match_lens, profile_source_kind
    from l2tech.video.telemetry import telemetry_info

    try:
        tel = telemetry_info(path)
    except L2Error:
        tel = None
    if tel is None or not (tel.camera or tel.model):
        raise UsageError("a video carries no lens metadata here and no camera in motion telemetry; "
                         "give the profile with --profile FILE", path=path)
    meta = ShotMetadata(path=path, make=tel.camera or None, model=tel.model or None, lens_make=None, lens_model=None,
                        lens_id=None, focal_length_mm=None, f_number=None, focus_distance_m=None, orientation=None,
                        width=None, height=None, crop_factor=None, datetime_original=None, exposure_time_s=None,
                        iso=None, gps=None)
    named = f"{tel.camera} {tel.model}".strip()
    try:
        m = match_lens(meta)
    except L2Error as exc:
        raise UsageError(f"the telemetry names the camera {named!r} but the database has no lens for it ({exc}); "
                         "give the profile with --profile FILE", path=path) from None
    cam = f"{m.camera.maker} {m.camera.model}" if m.camera is not None else named
    return {"path": path, "camera": camera_to_dict(m.camera), "lens": lens_to_dict(m.lens),
            "method": f"{m.method} (camera from the clip's motion telemetry)", "source": profile_source_kind(m.lens),
            "score": m.score, "crop_factor": m.crop_factor, "warnings": list(m.warnings),
            "note": (f"a video mode records part of the sensor: use with l2 video --camera \"{cam}\" --crop-factor X "
                     "(the recorded area's), or a Gyroflow profile of this camera and mode with --profile")}


def _register_profile_file_commands() -> None:
    from l2tech.cli.lens_convert import convert, show_file

    lens.add_command(convert, "convert")
    lens.add_command(show_file, "show-file")


_register_profile_file_commands()
