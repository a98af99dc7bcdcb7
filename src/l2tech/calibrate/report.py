"""Calibration report: a static HTML page with PNG plots (matplotlib, Agg backend).

Contents: warnings; views used / skipped (boards not found, outliers); RMS per model;
per-view reprojection RMS; residual vectors over the frame; coverage of the frame by the
detected corners; distortion curves with the lensfun fits; vignetting profiles with the
``pa`` fits; TCA fits. Every file is written atomically.
"""

from __future__ import annotations

import html
import io
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from l2tech.calibrate.geometry import CameraFit, LensfunDistortionFit
from l2tech.errors import OutputError

__all__ = ["write_report"]


def _save(fig, folder: Path, name: str) -> str:
    from l2tech.io.atomic import atomic_output

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    with atomic_output(folder / name, overwrite=True) as tmp:
        Path(tmp).write_bytes(buf.getvalue())
    return name


def _save_text(text: str, folder: Path, name: str) -> str:
    from l2tech.io.atomic import atomic_output

    with atomic_output(folder / name, overwrite=True) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")
    return name


def _plots_geometry(fit: CameraFit, lensfun_fits: Sequence[LensfunDistortionFit], folder: Path, prefix: str, plt) -> list[tuple[str, str]]:
    out = []
    w, h = fit.image_size
    # per-view RMS
    fig, ax = plt.subplots(figsize=(max(5, 0.35 * len(fit.view_names)), 3))
    ax.bar(range(len(fit.view_names)), fit.per_view_rms, color="tab:blue")
    ax.axhline(fit.rms, color="k", lw=1, ls="--", label=f"all views {fit.rms:.3f} px")
    ax.set_xticks(range(len(fit.view_names)))
    ax.set_xticklabels(fit.view_names, rotation=90, fontsize=7)
    ax.set_ylabel("reprojection RMS, px")
    ax.legend()
    out.append(("Reprojection RMS per view", _save(fig, folder, f"{prefix}per_view_rms.png")))
    plt.close(fig)
    # residual vectors over the frame
    pts = np.concatenate(fit.image_points)
    res = np.concatenate(fit.residuals)
    scale = 0.05 * max(w, h) / max(float(np.abs(res).max()), 1e-9)
    fig, ax = plt.subplots(figsize=(6, 6 * h / w))
    ax.quiver(pts[:, 0], pts[:, 1], res[:, 0] * scale, res[:, 1] * scale, angles="xy", scale_units="xy", scale=1, width=0.002)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_aspect("equal")
    ax.set_title(f"residual vectors (x{scale:.0f}); max {np.hypot(*res.T).max():.3f} px")
    out.append(("Residual vectors over the frame", _save(fig, folder, f"{prefix}residual_vectors.png")))
    plt.close(fig)
    # coverage
    fig, ax = plt.subplots(figsize=(6, 6 * h / w))
    for p in fit.image_points:
        ax.plot(p[:, 0], p[:, 1], ".", ms=2)
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    ax.set_aspect("equal")
    ax.set_title("corner coverage of the frame")
    out.append(("Coverage of the frame by detected corners", _save(fig, folder, f"{prefix}coverage.png")))
    plt.close(fig)
    # distortion curves: the lens page's curve (l2tech.profiles.curves), 0 % at the centre,
    # against the paraxial image height so that every model's fit falls on one scale
    if lensfun_fits:
        from l2tech.profiles.curves import distortion_center_magnification, distortion_curve, plot_curves_svg

        lf0 = lensfun_fits[0]
        m0 = distortion_center_magnification(lf0.model, lf0.terms)
        r_p = lf0.r_u * m0
        ok = r_p > 1e-6
        points = [(r_p[ok], (lf0.r_d[ok] / r_p[ok] - 1.0) * 100.0, f"corners ({lf0.model} poses)")]
        r = np.linspace(0, float(np.hypot(w, h) / 2 / lf0.norm_px), 200)
        entries = [{**distortion_curve(lf.model, lf.terms, r / distortion_center_magnification(lf.model, lf.terms)),
                    "label": f"{lf.model} (RMS {lf.rms:.3f} px)"} for lf in lensfun_fits]
        svg = plot_curves_svg({"distortion": entries}, "distortion", points=points,
                              title="distortion relative to the centre (lensfun fits)")
        out.append(("Distortion: measured corners and lensfun fits", _save_text(svg, folder, f"{prefix}distortion.svg")))
    return out


def write_report(
    folder: str | os.PathLike,
    *,
    title: str,
    camera_fit: CameraFit | None = None,
    lensfun_fits: Sequence[LensfunDistortionFit] = (),
    vignetting_fits: Sequence[tuple[str, object]] = (),
    tca_fit: object | None = None,
    warnings: Sequence[str] = (),
    skipped: Sequence[tuple[str, str]] = (),
    summary: Sequence[tuple[str, str]] = (),
) -> Path:
    """Write ``index.html`` and PNG plots into ``folder``.

    Parameters
    ----------
    folder : path-like
        Created when missing (its parent must exist).
    title : str
    camera_fit : CameraFit, optional
    lensfun_fits : sequence of LensfunDistortionFit
    vignetting_fits : sequence of (str, VignettingFit)
        Name of the flat and its fit.
    tca_fit : TCAFit, optional
    warnings : sequence of str
    skipped : sequence of (str, str)
        Inputs not used and why (board not found, blurred frame, unreadable).
    summary : sequence of (str, str)
        Extra key/value rows (lens, camera, focal length, output file).

    Returns
    -------
    Path
        The ``index.html`` written.

    Raises
    ------
    OutputError
        The folder cannot be created or written.
    """
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    from l2tech.io.atomic import atomic_output

    folder = Path(folder)
    try:
        folder.mkdir(exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the report folder: {exc.strerror or exc}", path=folder) from None
    e = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1000px;margin:auto}td,th{padding:2px 8px;text-align:left}"
             ".warn{color:#a40}</style></head><body>", f"<h1>{e(title)}</h1>"]
    if summary:
        parts.append("<table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in summary) + "</table>")
    all_warn = list(warnings)
    if camera_fit is not None:
        all_warn += [w for w in camera_fit.warnings if w not in all_warn]
    parts.append("<h2>Warnings</h2>")
    parts.append("<ul>" + "".join(f"<li class='warn'>{e(w)}</li>" for w in all_warn) + "</ul>" if all_warn else "<p>none</p>")
    skipped_all = list(skipped) + (list(camera_fit.dropped) if camera_fit is not None else [])
    parts.append("<h2>Inputs not used</h2>")
    parts.append("<table><tr><th>input</th><th>reason</th></tr>" + "".join(f"<tr><td>{e(n)}</td><td>{e(r)}</td></tr>" for n, r in skipped_all) + "</table>"
                 if skipped_all else "<p>none</p>")
    if camera_fit is not None:
        K = camera_fit.K
        parts.append("<h2>Geometry</h2><table><tr><th>model</th><th>RMS, px</th><th>parameters</th></tr>")
        names = ("k1", "k2", "p1", "p2", "k3") if camera_fit.model == "pinhole" else ("k1", "k2", "k3", "k4")
        dist = ", ".join(f"{n}={v:.6g}" for n, v in zip(names, camera_fit.dist))
        parts.append(
            f"<tr><td>OpenCV {'Brown-Conrady' if camera_fit.model == 'pinhole' else 'Kannala-Brandt fisheye'}</td>"
            f"<td>{camera_fit.rms:.4f}</td><td>fx={K[0, 0]:.3f} fy={K[1, 1]:.3f} cx={K[0, 2]:.3f} cy={K[1, 2]:.3f}; {e(dist)}</td></tr>"
        )
        for lf in lensfun_fits:
            terms = ", ".join(f"{k}={v:.6g}" for k, v in lf.terms.items())
            parts.append(f"<tr><td>lensfun {lf.model}</td><td>{lf.rms:.4f}</td><td>{e(terms)}</td></tr>")
        parts.append(f"</table><p>{len(camera_fit.view_names)} views used.</p>")
        for caption, png in _plots_geometry(camera_fit, lensfun_fits, folder, "", plt):
            parts.append(f"<h3>{e(caption)}</h3><img src='{png}' alt='{e(caption)}'>")
    if vignetting_fits:
        parts.append("<h2>Vignetting (lensfun pa)</h2><table><tr><th>flat</th><th>focal, mm</th><th>f-number</th><th>k1</th><th>k2</th><th>k3</th><th>RMS</th></tr>")
        for name, vf in vignetting_fits:
            c = vf.calibration
            parts.append(f"<tr><td>{e(name)}</td><td>{c.focal_length_mm:g}</td><td>{c.f_number:g}</td>"
                         + "".join(f"<td>{c.terms[k]:.5f}</td>" for k in ("k1", "k2", "k3")) + f"<td>{vf.rms:.4f}</td></tr>")
        parts.append("</table>")
        from l2tech.optics.lensfun import vignetting_pa

        fig, ax = plt.subplots(figsize=(6, 4))
        for name, vf in vignetting_fits:
            c = vf.calibration
            r = np.linspace(0, max(1.0, float(vf.r.max())), 100)
            g = vignetting_pa(r, c.terms["k1"], c.terms["k2"], c.terms["k3"])  # the lens page's model
            line, = ax.plot(vf.r, vf.profile, ".", ms=4)
            ax.plot(r, g, color=line.get_color(), label=f"{name} f/{c.f_number:g} {c.focal_length_mm:g} mm")
        ax.set_xlabel("r (1 = image corner)")
        ax.set_ylabel("relative illumination")
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
        parts.append(f"<img src='{_save(fig, folder, 'vignetting.png')}' alt='vignetting'>")
        plt.close(fig)
    if tca_fit is not None:
        t = tca_fit
        parts.append("<h2>TCA (red and blue against green)</h2><table><tr><th>model</th><th>RMS, px</th><th>terms</th></tr>")
        parts.append(f"<tr><td>none</td><td>{t.rms_before_px:.4f}</td><td></td></tr>")
        for cal, rms in ((t.linear, t.rms_linear_px), (t.poly3, t.rms_poly3_px)):
            terms = ", ".join(f"{k}={v:.7g}" for k, v in cal.terms.items())
            parts.append(f"<tr><td>{cal.model}</td><td>{rms:.4f}</td><td>{e(terms)}</td></tr>")
        parts.append("</table>")
    parts.append("</body></html>")
    index = folder / "index.html"
    with atomic_output(index, overwrite=True) as tmp:
        Path(tmp).write_text("\n".join(parts), encoding="utf-8")
    return index
