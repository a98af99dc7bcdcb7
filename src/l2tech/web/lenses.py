"""The lens browser: search the lens database (bundled lensfun + the user folder), a lens page
with its curves and the bodies it fits, and a comparison of two lenses.

Lenses are named by their index in the loaded :class:`~l2tech.profiles.lensfun_xml.LensDatabase`
(stable while the server runs). Curves come from :func:`l2tech.profiles.curves.lens_curves`;
the lens page carries them in a ``<script type="application/json" id="lens-curves">`` element
(machine-readable: the tests read it back) beside the SVG plots.
"""

from __future__ import annotations

import html
import json
from typing import Any

from l2tech.errors import InputNotFoundError

__all__ = ["LensBrowser"]


def _json_for_html(data: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</script>``, no ``<!--``)."""
    return json.dumps(data, allow_nan=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


class LensBrowser:
    """Search and describe the lenses of one database.

    Parameters
    ----------
    db : LensDatabase
    """

    def __init__(self, db: Any) -> None:
        self.db = db
        self._index = {id(lens): i for i, lens in enumerate(db.lenses)}

    def lens(self, lens_id: int) -> Any:
        """The profile with that index.

        Raises
        ------
        InputNotFoundError
            No such index.
        """
        if not 0 <= lens_id < len(self.db.lenses):
            raise InputNotFoundError(f"no lens number {lens_id} in the database ({len(self.db.lenses)} lenses)")
        return self.db.lenses[lens_id]

    def search(self, text: str, *, mount: str | None = None, limit: int = 40) -> list[dict[str, Any]]:
        """:func:`l2tech.profiles.matching.search_lenses` as JSON rows with the lens index."""
        from l2tech.profiles.matching import search_lenses

        rows = []
        for c in search_lenses(self.db, text[:200], mount=mount or None, limit=limit):
            p = c.profile
            rows.append({"id": self._index.get(id(p)), "name": p.name, "score": float(c.score), "reason": c.reason,
                         "mounts": list(p.mounts), "crop_factor": p.crop_factor, "source": p.source})
        return rows

    def bodies(self, lens: Any) -> list[dict[str, Any]]:
        """Camera bodies whose mount takes the lens (directly or through the mount compat lists)."""
        mounts = set(lens.mounts)
        out = []
        for cam in self.db.cameras:
            ok = cam.mount in mounts or any(m in mounts for m in self.db.mounts.get(cam.mount, ()))
            if ok:
                out.append({"maker": cam.maker, "model": cam.model, "variant": cam.variant, "mount": cam.mount,
                            "crop_factor": cam.crop_factor})
        out.sort(key=lambda b: (b["maker"].lower(), b["model"].lower()))
        return out

    def lens_data(self, lens_id: int) -> dict[str, Any]:
        """Everything the lens page shows, JSON-able: facts, curves, bodies."""
        return self.profile_data(self.lens(lens_id), lens_id)

    def profile_data(self, lens: Any, lens_id: int | None = None, *, origin: str | None = None) -> dict[str, Any]:
        """:meth:`lens_data` for any :class:`LensProfile` (a database lens or one read from a file)."""
        from l2tech.profiles.curves import lens_curves

        return {"id": lens_id, "name": lens.name, "maker": lens.maker, "model": lens.model, "mounts": list(lens.mounts),
                "crop_factor": lens.crop_factor, "aspect_ratio": lens.aspect_ratio, "lens_type": lens.lens_type,
                "focal_min_mm": lens.focal_min_mm, "focal_max_mm": lens.focal_max_mm,
                "source": origin or lens.source, "curves": lens_curves(lens), "bodies": self.bodies(lens)}

    def lens_page(self, lens_id: int | None, *, compare_with: int | None = None, files: tuple[Any, ...] = ()) -> str:
        """The lens page (or the comparison of two profiles) as an HTML document.

        Parameters
        ----------
        lens_id : int or None
            A database lens.
        compare_with : int, optional
            A second database lens beside it.
        files : tuple of (LensProfile, str)
            Profiles read from files, with the file's name, beside (or instead of) them.
        """
        ids = [i for i in (lens_id, compare_with) if i is not None]
        datas = [self.lens_data(i) for i in ids] + [self.profile_data(p, origin=f"file {name}") for p, name in files]
        return self._page(datas)

    def _page(self, datas: list[dict[str, Any]]) -> str:
        from l2tech.profiles.curves import plot_curves_svg

        e = html.escape
        title = " vs ".join(d["name"] for d in datas)
        parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(title)} — l2tech</title>",
                 "<link rel='stylesheet' href='/static/style.css'></head><body>",
                 "<nav><a href='/'>Folder</a> · <a href='/lenses'>Lenses</a></nav>", f"<h1>{e(title)}</h1>"]
        parts.append("<div class='cols'>")
        for d in datas:
            rows = [("maker", d["maker"]), ("model", d["model"]), ("mounts", ", ".join(d["mounts"])),
                    ("crop factor of the calibration", f"{d['crop_factor']:g}"), ("type", d["lens_type"]),
                    ("focal range", f"{d['focal_min_mm']:g}–{d['focal_max_mm']:g} mm"), ("source", d["source"]),
                    ("calibrations", f"{len(d['curves']['distortion'])} distortion, {len(d['curves']['tca'])} TCA, "
                                     f"{len(d['curves']['vignetting'])} vignetting")]
            parts.append("<section><h2>" + e(d["name"]) + f"</h2><table class='facts' data-lens-id='{d['id'] if d['id'] is not None else ''}'>"
                         + "".join(f"<tr><th>{e(k)}</th><td>{e(str(v))}</td></tr>" for k, v in rows) + "</table>")
            for n in d["curves"]["notes"]:
                parts.append(f"<p class='warn'>{e(n)}</p>")
            parts.append(f"<details><summary>Bodies it fits ({len(d['bodies'])})</summary><ul class='bodies'>"
                         + "".join(f"<li>{e(b['maker'])} {e(b['model'])}{(' ' + e(b['variant'])) if b['variant'] else ''}"
                                   f" <small>{e(b['mount'])}, crop {b['crop_factor']:g}</small></li>" for b in d["bodies"])
                         + "</ul></details></section>")
        parts.append("</div>")
        for kind, caption in (("distortion", "Distortion against radius (0 % at the centre)"),
                              ("tca", "Transverse chromatic aberration (red, blue against green)"),
                              ("vignetting", "Vignetting (relative illumination)")):
            merged: dict[str, list] = {kind: []}
            for k, d in enumerate(datas):
                prefix = ("ABCD"[k] + ": ") if len(datas) > 1 else ""
                for entry in d["curves"][kind]:
                    lab = f"{entry['focal_length_mm']:g} mm"
                    if kind == "vignetting":
                        lab += f" f/{entry['f_number']:g} {entry['focus_distance_m']:g} m"
                    merged[kind].append({**entry, "label": prefix + lab, "group": k})
            if not merged[kind]:
                parts.append(f"<h2>{e(caption)}</h2><p>no {kind} calibration</p>")
                continue
            svg = plot_curves_svg(merged, kind)
            svg = svg[svg.index("<svg"):]  # inline: drop the XML declaration and doctype
            parts.append(f"<h2>{e(caption)}</h2><figure class='plot' id='plot-{kind}'>{svg}</figure>")
        payload = {"lenses": [{"id": d["id"], "name": d["name"], "source": d["source"], "curves": d["curves"]} for d in datas]}
        parts.append(f"<script type='application/json' id='lens-curves'>{_json_for_html(payload)}</script>")
        parts.append("</body></html>")
        return "\n".join(parts)
