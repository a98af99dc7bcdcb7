"""The stills job: develop (RAW) and correct (developed images), from file to file.

Pipeline order (one documented order; ARCHITECTURE.md "The data that flows"):

1. decode — RAW through LibRaw to scene-linear RGB in the working space (linear ITU-R BT.2020,
   D65), sensor orientation; or a developed JPEG/TIFF/PNG decoded with its transfer function
   (from its ICC profile; sRGB when it has none) into the same working space;
2. exposure compensation — a gain of ``2**exposure_ev`` on linear data;
3. lens correction — vignetting gain, then TCA + distortion + scale in one remap
   (:func:`l2tech.correct.correct`), at the shot's focal length, f-number and focus distance;
4. orientation — the EXIF orientation applied to the pixels (and reset to 1 in the output);
5. look — an optional photo style and/or a user's LUT, on linear data (:mod:`l2tech.color`);
6. output transform — working space to the output space, gamut clip, encoding curve
   (:func:`l2tech.color.display.encode_display`), or a log encoding (``log_output``);
7. write — quantise, embed the output space's ICC profile, carry EXIF, atomic rename.

Nothing here is an algorithm of its own; each step calls the package that owns it.
"""


from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from l2tech.pipeline.lens_plan import LensPlan, plan_lens_correction, skip_embedded_corrections
from l2tech.pipeline.recipe import Recipe

__all__ = [
    "DevelopResult",
    "develop",
    "develop_file",
    "correct_image",
    "correct_image_file",
    "is_raw_path",
    "output_path_for",
    "prefetch",
    "RAW_FORMATS",
    "RAW_SUFFIXES",
]

RAW_FORMATS = {"dng", "cr2", "cr3", "crw", "nef", "arw", "rw2", "raf", "orf", "pef", "srw", "x3f", "mrw"}

RAW_SUFFIXES = {".dng", ".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".rw2", ".raf", ".orf", ".pef",
                ".srw", ".x3f", ".mrw", ".3fr", ".iiq", ".rwl", ".erf", ".kdc", ".dcr", ".mos", ".gpr", ".raw"}


@dataclass(frozen=True)
class DevelopResult:
    """The result of developing or correcting one file (pixels are display-encoded)."""

    input: str
    image: np.ndarray
    metadata: Any
    plan: LensPlan
    output_space: str
    warnings: tuple[str, ...] = ()
    output: str | None = None
    icc_profile: bytes | None = None
    bits: int | None = None
    dng_opcodes: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        """JSON-able summary of the job."""
        h, w = self.image.shape[:2]
        return {"input": self.input, "output": self.output, "size": [w, h], "output_space": self.output_space,
                "lens": self.plan.summary(), "dng_opcodes": list(self.dng_opcodes), "warnings": list(self.warnings)}



def _apply_lens(image: np.ndarray, plan: LensPlan, recipe: Recipe) -> np.ndarray:
    if not any(plan.applied.values()) and not (recipe.projection and plan.profile is not None):
        return image
    from l2tech.correct import correct

    return correct(
        image, plan.profile, plan.focal_length_mm, plan.f_number, plan.focus_distance_m,
        crop_factor=plan.crop_factor, vignetting=plan.applied["vignetting"], tca=plan.applied["tca"],
        distortion=plan.applied["distortion"], scale=recipe.scale, interpolation=recipe.interpolation,
        projection=recipe.projection,
    )


def _apply_look(image: np.ndarray, recipe: Recipe) -> np.ndarray:
    """Look and/or LUT on working-space linear data (l2tech.color; scene-linear in and out)."""
    if not (recipe.look or recipe.lut):
        return image
    from l2tech.color import apply_look, lut_look, parse_color_space

    if recipe.look:
        image = apply_look(image, recipe.look, working_space="Rec.2020")
    if recipe.lut:
        enc, gamut = parse_color_space(recipe.lut_input)
        image = apply_look(image, lut_look(recipe.lut, input_encoding=enc, input_gamut=gamut), working_space="Rec.2020")
    return image


def _encode_output(image: np.ndarray, recipe: Recipe, space: str) -> tuple[np.ndarray, str, bytes | None]:
    """Output transform: display space with its ICC profile, or a log encoding (no ICC)."""
    from l2tech.color.display import encode_display as output_transform
    from l2tech.color.display import icc_profile

    if recipe.log_output:
        from l2tech.color import encode_output, parse_color_space

        enc, gamut = parse_color_space(recipe.log_output)
        x = encode_output(np.ascontiguousarray(image), f"{enc}/{gamut}", working_space="Rec.2020")
        return np.clip(x, 0.0, 1.0).astype(np.float32), f"{enc}/{gamut}", None
    return output_transform(np.ascontiguousarray(image), space), space, icc_profile(space)


def _read_meta(path: Path) -> tuple[Any, list[str]]:
    from l2tech.errors import InputNotFoundError
    from l2tech.io.metadata import read_metadata

    if not path.is_file():
        raise InputNotFoundError("file not found" if not path.exists() else "not a file", path=path)

    meta = read_metadata(path)
    return meta, list(getattr(meta, "warnings", ()))


def develop(path: str | os.PathLike, recipe: Recipe = Recipe(), *, db: Any = None) -> DevelopResult:
    """Develop a RAW file: decode, exposure, lens correction, orientation, look, output transform.

    Parameters
    ----------
    path : path-like
        A RAW file LibRaw decodes.
    recipe : Recipe
    db : LensDatabase, optional

    Returns
    -------
    DevelopResult
        ``image`` is display-encoded float32 ``(H, W, 3)`` in ``recipe.output_space``, upright.

    Raises
    ------
    L2Error
        Typed errors from decoding (EmptyFileError, UnsupportedFormatError, CorruptInputError,
        LimitExceededError, DecodeError) and matching (LensNotFoundError).

    Notes
    -----
    Without a look, LUT or log output and with bilinear sampling, the develop runs as one fused
    pass over LibRaw's 16-bit output (:mod:`l2tech.correct.fused`); LibRaw demosaics in a
    background thread while the lens plan, its coarse map and the compiled kernel are made
    ready. Otherwise the stages run one by one on float32 frames. Both give the same image
    (within one 8-bit code; tests/test_develop_fused.py).
    """
    return _develop(Path(path), recipe, db, np.float32)


def _fused_ok(recipe: Recipe) -> bool:
    """The fused pass covers this recipe (looks, LUTs, log output and other kernels are staged)."""
    return not (recipe.look or recipe.lut or recipe.log_output) and str(recipe.interpolation).lower() == "bilinear"


def _lens_grid(plan: LensPlan, recipe: Recipe, width: int, height: int) -> Any:
    """The plan's correction as a coarse grid map (identity when nothing is applied)."""
    from l2tech.correct.fused import grid_map, identity_grid_map

    if plan.profile is None or not (any(plan.applied.values()) or recipe.projection):
        return identity_grid_map(width, height)
    from l2tech.profiles.interpolate import interpolate

    cal = interpolate(plan.profile, plan.focal_length_mm, plan.f_number, plan.focus_distance_m)
    return grid_map(cal, width, height, crop_factor=plan.crop_factor, vignetting=plan.applied["vignetting"],
                    tca=plan.applied["tca"], distortion=plan.applied["distortion"], scale=recipe.scale,
                    projection=recipe.projection)


def _develop(p: Path, recipe: Recipe, db: Any, dtype: Any, *, prefetch_next: Any = None) -> DevelopResult:
    """develop() returning ``dtype`` pixels (float32 encoded values, or uint8/uint16 codes)."""
    from l2tech.errors import InputNotFoundError
    from l2tech.io.image import apply_orientation

    if not p.is_file():
        raise InputNotFoundError("file not found" if not p.exists() else "not a file", path=p)
    # DNG opcode lists 1-3 are applied during decode (the DNG's own correction). When the user
    # asks for another profile source, list 3 (the lens warps/vignetting) is left out so the lens
    # is not corrected twice.
    dng_lists = (1, 2) if (recipe.profile or recipe.profile_source) else (1, 2, 3)
    fused = _fused_ok(recipe)
    job, size = _decode_job(p, recipe, fused, dng_lists)
    try:
        # LibRaw releases the GIL: it demosaics on one core while this thread reads the
        # metadata, plans the lens correction, builds its map and loads the kernel.
        meta, warns = _read_meta(p)
        plan = plan_lens_correction(meta, recipe, db=db)
        grid = None
        if fused:
            from l2tech.correct.fused import warm_up

            warm_up(dtype)
            if _wait_for_size(job, size):
                grid = _lens_grid(plan, recipe, *size[0][0])
    except BaseException:
        job.cancel()
        _wait_quietly(job)
        raise
    raw = job.result()
    for nxt in [prefetch_next] if isinstance(prefetch_next, (str, os.PathLike)) else (prefetch_next or ()):
        prefetch(nxt, recipe)
    warns += list(raw.warnings)
    final = skip_embedded_corrections(plan, raw.opcodes_applied)
    orientation = raw.orientation if raw.orientation != 1 else getattr(meta, "orientation", 1)
    if fused and raw.image.dtype == np.uint16:
        from l2tech.color.display import DISPLAY_SPACES, icc_profile, working_to_display_matrix
        from l2tech.correct.fused import develop_pass

        H, W = raw.image.shape[:2]
        if grid is None or final is not plan or (grid.width, grid.height) != (W, H):
            grid = _lens_grid(final, recipe, W, H)
        space = DISPLAY_SPACES[recipe.output_space]
        gain = np.eye(3) * 2.0**recipe.exposure_ev
        codes = develop_pass(raw.image, grid, gain, working_to_display_matrix(recipe.output_space), space.encode,
                             inv_gamma=1.0 / space.gamma if space.gamma else 0.0, dtype=dtype)
        image = apply_orientation(codes, orientation)
        return DevelopResult(str(p), image, meta, final, recipe.output_space, tuple(warns + list(final.warnings)),
                             icc_profile=icc_profile(recipe.output_space), dng_opcodes=tuple(raw.opcodes_applied))
    image = raw.image
    if image.dtype == np.uint16:
        image = image.astype(np.float32) * np.float32(1.0 / 65535.0)
    if recipe.exposure_ev:
        image = image * np.float32(2.0**recipe.exposure_ev)
    image = _apply_lens(image, final, recipe)
    image = apply_orientation(image, orientation)
    image = _apply_look(image, recipe)
    encoded, space_name, icc = _encode_output(image, recipe, recipe.output_space)
    if np.dtype(dtype) != np.float32:
        from l2tech.io.image import quantize

        encoded = quantize(encoded, 8 if np.dtype(dtype) == np.uint8 else 16)
    return DevelopResult(str(p), encoded, meta, final, space_name, tuple(warns + list(final.warnings)), icc_profile=icc,
                         dng_opcodes=tuple(raw.opcodes_applied))


#: Background threads decode RAW files (LibRaw is single-threaded and releases the GIL): a
#: single develop decodes while the lens plan is made; a batch decodes the next files, one per
#: core, while this one is corrected and encoded (:func:`prefetch`).
_DECODER: Any = None
_DECODE_THREADS = 2
#: Decodes started ahead by :func:`prefetch`, by (path, decode settings); at most a few.
_PENDING: dict[tuple, tuple[Any, tuple]] = {}
_MAX_PENDING = 2


def _decoder() -> Any:
    global _DECODER
    if _DECODER is None:
        from concurrent.futures import ThreadPoolExecutor

        _DECODER = ThreadPoolExecutor(min(_DECODE_THREADS, os.cpu_count() or 1), thread_name_prefix="l2-decode")
    return _DECODER


def _decode_key(p: Path, recipe: Recipe, fused: bool, dng_lists: tuple[int, ...]) -> tuple:
    try:
        st = p.stat()
        stamp = (st.st_size, st.st_mtime_ns)
    except OSError:
        stamp = None
    return (str(p.resolve()), stamp, recipe.white_balance, fused, dng_lists)


def _decode_job(p: Path, recipe: Recipe, fused: bool, dng_lists: tuple[int, ...]) -> tuple[Any, tuple]:
    """The decode of ``p``: one started ahead by :func:`prefetch`, or a new one."""
    from l2tech.raw.decode import decode_raw

    hit = _PENDING.pop(_decode_key(p, recipe, fused, dng_lists), None)
    if hit is not None:
        return hit
    import threading

    size: list[tuple[int, int]] = []
    known = threading.Event()  # set when the size is reported or the decode ends (either way)

    def on_size(w: int, h: int) -> None:
        size.append((w, h))
        known.set()

    job = _decoder().submit(decode_raw, p, white_balance=recipe.white_balance, dng_opcodes=dng_lists, as_uint16=fused,
                            on_size=on_size)
    job.add_done_callback(lambda _job: known.set())
    return job, (size, known)


def prefetch(path: str | os.PathLike, recipe: Recipe = Recipe()) -> None:
    """Start decoding ``path`` in the background for a later :func:`develop` / :func:`develop_file`.

    A batch calls it with the next file before developing the current one: LibRaw then
    demosaics the next file on one core while the current one is corrected and encoded. Errors
    surface when the file is developed. At most two decodes are held ahead; an older unused one
    is dropped.
    """
    p = Path(path)
    if not p.is_file():
        return
    dng_lists = (1, 2) if (recipe.profile or recipe.profile_source) else (1, 2, 3)
    fused = _fused_ok(recipe)
    key = _decode_key(p, recipe, fused, dng_lists)
    if key in _PENDING:
        return
    while len(_PENDING) >= _MAX_PENDING:
        old, _ = _PENDING.pop(next(iter(_PENDING)))
        old.cancel()
    _PENDING[key] = _decode_job(p, recipe, fused, dng_lists)


def _wait_quietly(job: Any) -> None:
    """Let a decode that is no longer wanted finish (its errors are not this file's errors)."""
    try:
        job.result()
    except BaseException:  # noqa: BLE001 - the caller is already raising its own error
        pass


def _wait_for_size(job: Any, size: tuple[list, Any]) -> bool:
    """Wait until the decode has reported the frame size (or ended); True when it is known."""
    sizes, known = size
    known.wait()
    return bool(sizes)


def _icc_ok(icc: bytes) -> bool:
    """True when LittleCMS can parse the ICC profile."""
    import io

    from PIL import ImageCms

    try:
        ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return True
    except (OSError, ImageCms.PyCMSError, ValueError):
        return False


def _space_from_icc(icc: bytes | None) -> str:
    """Output-space name of an embedded ICC profile (by its description), sRGB by default."""
    if not icc:
        return "srgb"
    from l2tech.color.display import DISPLAY_SPACES as OUTPUT_SPACES
    from l2tech.color.display import icc_profile

    for name in OUTPUT_SPACES:
        if icc == icc_profile(name):
            return name
    text = icc[:4096].decode("latin-1").lower()
    if "p3" in text:
        return "display-p3"
    if "2020" in text:
        return "rec2020"
    if "adobe rgb" in text or "adobergb" in text:
        return "adobe-rgb"
    return "srgb"


def correct_image(path: str | os.PathLike, recipe: Recipe = Recipe(), *, db: Any = None) -> DevelopResult:
    """Lens-correct a developed JPEG/TIFF/PNG: linearise with its transfer function, correct, re-encode.

    The image is linearised with the curve of its embedded ICC profile's space (sRGB when it
    has none), corrected in linear light, and re-encoded in the same space; the original ICC
    profile is kept. Raises as :func:`develop`.
    """
    from l2tech.io.image import apply_orientation, read_image
    from l2tech.color.display import decode_display as output_to_working

    from l2tech.errors import UnsupportedFormatError
    from l2tech.io.formats import sniff_format

    from l2tech.errors import InputNotFoundError

    p = Path(path)
    if not p.is_file():
        raise InputNotFoundError("file not found" if not p.exists() else "not a file", path=p)
    kind = sniff_format(p)
    if kind not in ("jpeg", "tiff", "png"):
        hint = "; use `l2 develop` for RAW files" if kind in RAW_FORMATS else ""
        raise UnsupportedFormatError(f"not a developed image (the file is {kind.upper()}){hint}", path=p)
    meta, warns = _read_meta(p)
    dec = read_image(p)
    if dec.icc_profile and not _icc_ok(dec.icc_profile):
        warns.append(f"{p}: embedded ICC profile is corrupt; dropped, pixels read as sRGB")
        dec = dataclasses.replace(dec, icc_profile=None)
    space = _space_from_icc(dec.icc_profile)
    image = output_to_working(dec.pixels, space)
    dec = dataclasses.replace(dec, pixels=image[:0])  # the encoded frame is not needed any more (memory model)
    plan = plan_lens_correction(meta, recipe, db=db)
    if plan.applied.get("distortion") and plan.profile is not None and "Micro 4/3 System" in plan.profile.mounts and dec.format == "jpeg":
        warns.append(f"{p}: Micro Four Thirds cameras usually correct distortion in their own JPEGs; if lines now bend "
                     "the other way, use --only vignetting,tca (lensfun profiles describe the RAW image)")
    if recipe.exposure_ev:
        image = image * np.float32(2.0**recipe.exposure_ev)
    image = _apply_lens(image, plan, recipe)
    image = apply_orientation(image, getattr(meta, "orientation", 1))
    image = _apply_look(image, recipe)
    encoded, out_space, icc = _encode_output(image, recipe, space)
    return DevelopResult(str(p), encoded, meta, plan, out_space, tuple(warns + list(plan.warnings)),
                         icc_profile=dec.icc_profile if icc is not None else None, bits=dec.bits if dec.bits in (8, 16) else 16)


def output_path_for(path: str | os.PathLike, output: str | os.PathLike | None, fmt: str, *, many: bool) -> Path:
    """Where the output of ``path`` goes: a folder (``-o DIR/`` or several inputs), a file, or beside the input."""
    from l2tech.io.image import IMAGE_FORMATS

    p = Path(path)
    ext = IMAGE_FORMATS[fmt]
    if output is None:
        return p.with_name(p.stem + "_l2" + ext)
    o = Path(output)
    if o.is_dir() or str(output).endswith(os.sep) or many:
        return o / (p.stem + ext)
    return o


def _write(result: DevelopResult, out: Path, recipe: Recipe, *, overwrite: bool, fmt: str) -> list[str]:
    from l2tech.io.image import write_image

    plan = result.plan
    meta = result.metadata
    overrides: dict[str, str] = {}
    # the source's own lens name is kept; a lens the file does not name (D30 "16-35mm", --lens)
    # is written so the image still says which lens it was corrected for
    if plan.lens and not getattr(meta, "lens_model", None) and getattr(plan.match, "method", "override") in ("exact", "alias", "override", "fixed"):
        overrides["Exif.Photo.LensModel"] = plan.lens
        if plan.profile is not None and plan.profile.maker:
            overrides["Exif.Photo.LensMake"] = plan.profile.maker
    if plan.lens and recipe.lens and getattr(meta, "lens_model", None) != plan.lens:
        overrides["Exif.Photo.LensModel"] = plan.lens  # the user named the lens: say so
    defaults: dict[str, str] = {}
    focal, fnum = getattr(meta, "focal_length_mm", None), getattr(meta, "f_number", None)
    if focal:  # e.g. a CRW's focal length, read from its maker notes
        defaults["Exif.Photo.FocalLength"] = f"{round(focal * 100)}/100"
    if fnum:
        defaults["Exif.Photo.FNumber"] = f"{round(fnum * 100)}/100"
    bits = recipe.bits or (result.bits if fmt != "jpeg" and result.bits else None)
    return write_image(out, result.image, format=fmt, quality=recipe.quality, bits=bits, icc_profile=result.icc_profile,
                       exif_source=result.input, exif_overrides=overrides, exif_defaults=defaults, overwrite=overwrite)


def develop_file(path: str | os.PathLike, output: str | os.PathLike, recipe: Recipe = Recipe(), *, overwrite: bool = False,
                 db: Any = None, prefetch_next: Any = None) -> DevelopResult:
    """:func:`develop` then write ``output`` atomically (ICC embedded, EXIF carried, orientation 1).

    The pixels are quantised in the fused pass itself (8 bits for JPEG, else ``recipe.bits``
    or 16): no float frame is made on that path. ``prefetch`` names the file a batch develops
    next (``prefetch_next``, a path or a sequence of paths, at most two used): their decodes
    start as soon as this one's is done (:func:`prefetch`).
    """
    bits = 8 if recipe.format == "jpeg" else (recipe.bits or 16)
    res = _develop(Path(path), recipe, db, np.uint8 if bits == 8 else np.uint16, prefetch_next=prefetch_next)
    w = _write(res, Path(output), recipe, overwrite=overwrite, fmt=recipe.format)
    return dataclasses.replace(res, output=str(output), warnings=res.warnings + tuple(w))


def correct_image_file(path: str | os.PathLike, output: str | os.PathLike, recipe: Recipe = Recipe(), *, overwrite: bool = False,
                       db: Any = None, fmt: str | None = None) -> DevelopResult:
    """:func:`correct_image` then write ``output`` atomically, in the input's format unless ``fmt`` is given."""
    res = correct_image(path, recipe, db=db)
    by_suffix = {".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff", ".png": "png"}
    fmt = fmt or by_suffix.get(Path(output).suffix.lower()) or _sniff_format(path)
    w = _write(res, Path(output), recipe, overwrite=overwrite, fmt=fmt)
    return dataclasses.replace(res, output=str(output), warnings=res.warnings + tuple(w))


def _sniff_format(path: str | os.PathLike) -> str:
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    return "tiff"


def is_raw_path(path: str | os.PathLike) -> bool:
    """True when the file name has a RAW extension (the format itself is checked from magic bytes later)."""
    return Path(path).suffix.lower() in RAW_SUFFIXES


