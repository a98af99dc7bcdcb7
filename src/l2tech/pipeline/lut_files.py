"""LUT jobs on developed image files (``l2 lut apply``): read, apply, write with metadata kept.

Nothing here is an algorithm of its own: :mod:`l2tech.io.image` reads and writes,
:func:`l2tech.color.apply_lut` applies.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

__all__ = ["apply_lut_file", "lut_skip_reason"]


def apply_lut_file(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    lut: Any,
    *,
    also_inputs: Sequence[str | os.PathLike] = (),
    interpolation: str = "tetrahedral",
    shaper: str | None = None,
    quality: int = 95,
    overwrite: bool = False,
) -> Path:
    """Apply a LUT to a developed image file; write the result in the same format and bit depth.

    Parameters
    ----------
    input_path : path
        JPEG, PNG or TIFF; its values are taken as they are encoded (display-referred), unless
        ``shaper`` encodes them first.
    output_path : path
        Output file; its ICC profile and EXIF are those of the input.
    lut : LUT1D, LUT3D or LUTSequence
        As returned by :func:`l2tech.color.read_lut`.
    also_inputs : sequence of path
        Other files the job reads (the LUT file): the output may not be one of them.
    interpolation : {'tetrahedral', 'trilinear'}
        Interpolation between the LUT's grid points.
    shaper : str, optional
        Encode the input with this curve first (e.g. ``"V-Log"`` for a scene-linear TIFF).
    quality : int
        JPEG quality, 1-100.
    overwrite : bool
        Replace an existing output.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    OutputExistsError
        The output exists (without ``overwrite``) or is one of the inputs.
    UsageError
        Unknown shaper or interpolation.
    """
    from l2tech.color import apply_lut
    from l2tech.io.atomic import check_output_path
    from l2tech.io.image import read_image, write_image
    from l2tech.io.provenance import L2TECH_XMP_PREFIX

    from l2tech.io.image import check_developed_image

    target = Path(output_path)
    check_developed_image(input_path)  # a missing, RAW or unknown input is its own error, before the output's
    check_output_path(target, inputs=[input_path, *also_inputs], overwrite=overwrite)
    img = read_image(input_path)
    pixels = apply_lut(img.pixels, lut, shaper=shaper, interpolation=interpolation)
    record = _lut_record(input_path, lut, interpolation=interpolation, shaper=shaper, quality=quality)
    write_image(target, pixels, bits=img.bits, quality=quality, icc_profile=img.icc_profile,
                exif_source=input_path, exif_overrides={"Exif.Image.Software": f"l2tech {record['Version']} (lut apply)"},
                xmp_overrides={f"Xmp.{L2TECH_XMP_PREFIX}.{k}": v for k, v in record.items()}, overwrite=overwrite)
    return target


def _lut_hash(lut: Any, *, interpolation: str, shaper: str | None, quality: int) -> str:
    """SHA-256 of the LUT's table and the settings: equal LUT and settings give equal hashes."""
    import hashlib
    import json

    import numpy as np

    h = hashlib.sha256()
    for part in (getattr(lut, "luts", None) or (lut,)):
        table = getattr(part, "table", None)
        if table is not None:
            h.update(np.ascontiguousarray(table, np.float32).tobytes())
    h.update(json.dumps({"interpolation": interpolation, "shaper": shaper, "quality": quality}, sort_keys=True).encode())
    return h.hexdigest()


def _file_sha256(path: str | os.PathLike) -> str:
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _record_of(path: str | os.PathLike) -> tuple[dict[str, str], str | None]:
    """(l2tech's XMP record, the file's Software) of a picture; empty when it cannot be read."""
    try:
        from l2tech.io.metadata import read_metadata

        meta = read_metadata(path)
    except Exception:  # noqa: BLE001 - the record says less; the image is still written
        return {}, None
    return dict(getattr(meta, "l2tech_record", ()) or ()), getattr(meta, "software", None)


def _lut_record(input_path: str | os.PathLike, lut: Any, *, interpolation: str, shaper: str | None,
                quality: int) -> dict[str, str]:
    """l2tech's record of a LUT applied to a picture (:func:`l2tech.io.provenance.l2tech_record_fields`):
    no lens profile, no correction, the LUT under ``Look``; ``RecipeHash`` is :func:`_lut_hash`
    and ``InputHash`` the SHA-256 of the input file (a rerun recognises its own output by both)."""
    from l2tech.io.provenance import l2tech_record_fields

    _, software = _record_of(input_path)
    name = str(getattr(lut, "name", "") or getattr(lut, "title", "") or "").strip() or "LUT"
    return l2tech_record_fields(profile=None, profile_source=None, corrections=(),
                                recipe_hash=_lut_hash(lut, interpolation=interpolation, shaper=shaper, quality=quality),
                                source_software=software, extra={"Look": name, "InputHash": _file_sha256(input_path)})


def lut_skip_reason(input_path: str | os.PathLike, output_path: str | os.PathLike, lut: Any, *,
                    interpolation: str = "tetrahedral", shaper: str | None = None, quality: int = 95,
                    overwrite: bool = False) -> str | None:
    """Why ``l2 lut apply`` skips this input, or None: a rerun does only what is missing.

    Skipped: an output that exists and whose l2tech record says it was made from this input
    (``InputHash``) with this LUT and settings (``RecipeHash``), unless ``overwrite``; an input
    that is itself an output of this LUT and settings (a rerun over ``*.jpg`` in a folder that
    holds earlier outputs), which would get the look twice. An existing output made otherwise
    is not skipped: writing it is refused (``OutputExistsError``) unless ``overwrite``.

    Parameters
    ----------
    input_path, output_path : path-like
        The picture the LUT would be applied to, and where its output would go.
    lut : LUT1D, LUT3D or LUTSequence
        The LUT (its table is part of the hash).
    interpolation, shaper, quality, overwrite
        As :func:`apply_lut_file` takes them (all but ``overwrite`` are part of the hash).

    Returns
    -------
    str or None
        The reason, one line, for the summary.
    """
    digest = _lut_hash(lut, interpolation=interpolation, shaper=shaper, quality=quality)
    own, _ = _record_of(input_path)
    if own.get("Tool") == "l2tech" and own.get("RecipeHash") == digest and own.get("Look"):
        return f"already an l2tech output of this LUT and settings ({own['Look']}); it would get the look twice"
    target = Path(output_path)
    if overwrite or not target.is_file():
        return None
    made, _ = _record_of(target)
    if made.get("RecipeHash") == digest and made.get("InputHash") == _file_sha256(input_path):
        return "exists, made from this input with this LUT and settings (--overwrite writes it again)"
    return None
