"""``l2 info``: a file's camera, lens, exposure and size metadata (a shell over read_metadata)."""

from __future__ import annotations

import math
from typing import Any

import click

from l2tech.cli.common import console, emit_json, format_f_number, report_error
from l2tech.cli.options import CONTEXT_SETTINGS, json_option, verbosity_options

__all__ = ["info"]

_ROWS = (
    ("make", "camera maker", ""),
    ("model", "camera model", ""),
    ("lens_make", "lens maker", ""),
    ("lens_model", "lens", ""),
    ("lens_id", "lens id (maker notes)", ""),
    ("focal_length_mm", "focal length", "mm"),
    ("f_number", "f-number", ""),
    ("focus_distance_m", "focus distance", "m"),
    ("exposure_time_s", "exposure time", "s"),
    ("iso", "ISO", ""),
    ("orientation", "orientation", ""),
    ("width", "width", "px"),
    ("height", "height", "px"),
    ("crop_factor", "crop factor", ""),
    ("datetime_original", "taken", ""),
    ("gps", "GPS (lat, lon, alt m)", ""),
)


def _fmt(value: Any, unit: str) -> str:
    if value is None:
        return "[dim]unknown[/]"
    if isinstance(value, float):
        if math.isinf(value):
            return "infinity"
        text = f"{value:.4g}"
    elif isinstance(value, tuple):
        text = ", ".join("-" if isinstance(v, float) and math.isnan(v) else f"{v:.6g}" for v in value)
    else:
        text = str(value)
    return f"{text} {unit}".strip()


def _jsonable(d: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None if math.isnan(v) else "inf"
        elif isinstance(v, list):
            v = [None if isinstance(x, float) and math.isnan(x) else x for x in v]
        out[k] = v
    return out


#: Containers shown as video (streams, codec, frame rate, telemetry) rather than photo metadata.
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi", ".mts", ".m2ts", ".mxf", ".insv", ".lrv", ".360")


def _video(path: str) -> dict[str, Any]:
    """Stream, codec, size, frame rate, duration, colour tags and motion telemetry of a clip."""
    from l2tech.video.probe import probe_video
    from l2tech.video.telemetry import telemetry_info

    v = probe_video(path)
    tel = telemetry_info(path)
    return {
        "path": path, "kind": "video", "container": v.container, "codec": v.codec,
        "width": v.width_px, "height": v.height_px, "pix_fmt": v.pix_fmt, "bit_depth": v.bit_depth,
        "fps": float(v.frame_rate), "frames": v.n_frames, "duration_s": v.duration_s,
        "color": {"matrix": v.matrix, "range": v.color_range, "primaries": v.primaries, "transfer": v.transfer},
        "audio_streams": v.audio_streams, "data_streams": v.data_streams,
        "metadata": dict(v.metadata), "telemetry": None if tel is None else tel.as_dict(),
    }


def _print_video(d: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    t = Table(title=escape(d["path"]), show_header=False, title_justify="left")
    t.add_column("field", style="bold")
    t.add_column("value")
    t.add_row("video", f"{d['codec']} {d['width']}x{d['height']} {d['pix_fmt']} ({d['bit_depth']}-bit)")
    t.add_row("frame rate", f"{d['fps']:.3f} fps, {d['frames'] or 'unknown'} frames")
    t.add_row("duration", f"{d['duration_s']:.3f} s")
    c = d["color"]
    t.add_row("colour", f"matrix {c['matrix']}, range {c['range']}, primaries {c['primaries']}, transfer {c['transfer']}")
    t.add_row("other streams", f"{d['audio_streams']} audio, {d['data_streams']} data (telemetry, timecode)")
    tel = d["telemetry"]
    if tel is None:
        t.add_row("motion telemetry", "[dim]none[/]")
    else:
        t.add_row("motion telemetry", escape(f"{tel['camera']} {tel['model']}".strip() or "present"))
        for s in tel["streams"]:
            t.add_row(f"  {s['kind']}", f"{s['samples']} samples, {s['rate_hz']:.1f} Hz, {s['start_s']:.2f}-{s['end_s']:.2f} s")
    for k in ("firmware", "make", "model", "com.apple.quicktime.make", "com.apple.quicktime.model", "creation_time"):
        if k in d["metadata"]:
            t.add_row(k, escape(str(d["metadata"][k])))
    console.print(t)


def _camera_body(meta: Any) -> Any:
    """The lensfun camera record of the file's body (its crop factor is the one ``l2 develop``
    and ``l2 correct`` plan with), or None when the body is not in the database."""
    from l2tech.errors import L2Error
    from l2tech.profiles.matching import find_camera

    if not (meta.make and meta.model):
        return None
    try:
        return find_camera(None, meta.make, meta.model, width=meta.width, height=meta.height)
    except L2Error:
        return None


def _crop_text(exif_crop: float | None, body: Any, after: float | None = None) -> str:
    """The crop factor the develop and correct commands plan this frame at, and where it is from."""
    from l2tech.profiles.matching import frame_crop_factor

    if body is None:
        return _fmt(exif_crop, "")
    crop, note = frame_crop_factor(body, exif_crop)
    name = body.model if body.model.lower().startswith(body.maker.lower().split()[0]) else f"{body.maker} {body.model}"
    if after is not None:
        return f"{after:.4g} (a crop made after capture, XMP crs:Crop*, of the {name}'s {crop:.4g})"
    if note:
        return f"{crop:.4g} (a crop mode or in-camera crop: the {name}'s sensor is {body.crop_factor:.4g})"
    text = f"{crop:.4g} (lensfun camera database: {name}"
    if exif_crop and abs(exif_crop / body.crop_factor - 1) > 0.01:
        text += f"; EXIF focal-plane size gives {exif_crop:.4g}"
    return text + ")"


def _dng_opcodes(path: str) -> dict[str, list[str]] | None:
    """The DNG's opcode lists by list name (``OpcodeList2: [GainMap, ...]``); None when unreadable."""
    from l2tech.errors import L2Error
    from l2tech.profiles.dng_opcodes import read_dng_opcodes

    try:
        lists = read_dng_opcodes(path)
    except L2Error:
        return None
    return {f"OpcodeList{n}": [op.name for op in ops] for n, ops in sorted(lists.items())}


def _opcodes_text(opcodes: dict[str, list[str]]) -> str:
    from collections import Counter

    parts = []
    for name, ops in opcodes.items():
        if ops:
            counts = Counter(ops)
            parts.append(f"{name}: " + ", ".join(f"{op} x{n}" if n > 1 else op for op, n in counts.items()))
    return "; ".join(parts) or "none"


@click.command(context_settings=CONTEXT_SETTINGS)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@json_option
@verbosity_options
def info(files: tuple[str, ...], as_json: bool, verbose: int, quiet: bool) -> int:
    """Show the camera, lens, exposure and size metadata of photos, and what a clip holds.

    Reads RAW files (DNG, CR2, CR3, CRW, NEF, ARW, RW2, RAF, ORF, X3F, ...), JPEG and TIFF.
    For clips (MP4, MOV, MKV, ...): codec, size, frame rate, duration, colour tags, the other
    streams and the motion telemetry (gyroscope, accelerometer: rate and span).
    Unknown values are shown as "unknown"; values that were dropped (an invalid orientation, a
    corrupt ICC profile) are listed as warnings. Exit code 1 if any file could not be read.

    \b
    Examples:
      l2 info IMG_0001.CR2
      l2 info --json *.NEF
      l2 info GX010042.MP4
    """
    from l2tech.errors import L2Error
    from l2tech.io.metadata import read_metadata

    results: list[dict[str, Any]] = []
    failed = 0
    from pathlib import Path

    for f in files:
        video = Path(f).suffix.lower() in VIDEO_SUFFIXES
        try:
            got = _video(f) if video else read_metadata(f)
        except L2Error as exc:
            failed += 1
            report_error(exc, verbose)
            results.append({"path": f, "error": str(exc), "error_type": type(exc).__name__})
            continue
        if video:
            results.append(got)
            if not as_json and not quiet:
                _print_video(got)
            continue
        meta = got
        opcodes = _dng_opcodes(f) if meta.format == "dng" else None
        body = _camera_body(meta)
        after = None
        if body is not None:
            from l2tech.pipeline.lens_plan import crop_after_capture
            from l2tech.profiles.matching import frame_crop_factor

            after = crop_after_capture(meta, frame_crop_factor(body, meta.crop_factor)[0])
        if as_json:
            d = _jsonable(meta.as_dict())
            d["camera_db_crop_factor"] = None if body is None else body.crop_factor
            if body is not None:
                from l2tech.profiles.matching import frame_crop_factor

                d["planned_crop_factor"] = after or frame_crop_factor(body, meta.crop_factor)[0]
            if opcodes is not None:
                d["dng_opcodes"] = opcodes
            results.append(d)
            continue
        if quiet:
            continue
        from rich.table import Table

        t = Table(title=str(f), show_header=False, title_justify="left")
        t.add_column("field", style="bold")
        t.add_column("value")
        for key, label, unit in _ROWS:
            value = getattr(meta, key)
            if key == "crop_factor":
                text = _crop_text(meta.crop_factor, body, after)
            elif key == "f_number" and isinstance(value, float) and math.isfinite(value) and value > 0:
                text = format_f_number(value)  # f/5.6 for APEX 2**2.5, as develop prints it (JSON: the value)
            else:
                text = _fmt(value, unit)
            t.add_row(label, text)
        if opcodes is not None:
            t.add_row("DNG opcodes", _opcodes_text(opcodes))
        console.print(t)
        for w in meta.warnings:
            console.print(f"  [yellow]warning[/]: {w}", highlight=False)
        if meta.fields_unknown:
            console.print(f"  unreadable: {', '.join(meta.fields_unknown)}", highlight=False)
    if as_json:
        emit_json(results if len(files) > 1 else results[0])
    return 1 if failed else 0
