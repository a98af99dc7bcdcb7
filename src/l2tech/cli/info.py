"""``l2 info``: a file's camera, lens, exposure and size metadata (a shell over read_metadata)."""

from __future__ import annotations

import math
from typing import Any

import click

from l2tech.cli.common import console, emit_json, report_error
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
    """Show the camera, lens, exposure and size metadata of photos.

    Reads RAW files (DNG, CR2, CR3, CRW, NEF, ARW, RW2, RAF, ORF, X3F, ...), JPEG and TIFF.
    Unknown values are shown as "unknown"; values that were dropped (an invalid orientation, a
    corrupt ICC profile) are listed as warnings. Exit code 1 if any file could not be read.

    \b
    Examples:
      l2 info IMG_0001.CR2
      l2 info --json *.NEF
    """
    from l2tech.errors import L2Error
    from l2tech.io.metadata import read_metadata

    results: list[dict[str, Any]] = []
    failed = 0
    for f in files:
        try:
            meta = read_metadata(f)
        except L2Error as exc:
            failed += 1
            report_error(exc, verbose)
            results.append({"path": f, "error": str(exc), "error_type": type(exc).__name__})
            continue
        opcodes = _dng_opcodes(f) if meta.format == "dng" else None
        if as_json:
            d = _jsonable(meta.as_dict())
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
            t.add_row(label, _fmt(getattr(meta, key), unit))
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
