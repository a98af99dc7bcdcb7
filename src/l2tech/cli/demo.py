"""``l2 demo``: the embedded sample — a chart through a real lens, corrected, measured."""

from __future__ import annotations

import click

from l2tech.cli.common import console, emit_json, report_error
from l2tech.cli.options import CONTEXT_SETTINGS, json_option, output_option

__all__ = ["demo"]


@click.command(context_settings=CONTEXT_SETTINGS)
@output_option("dir", default="demo-output", dest="output_dir", show_default=True)
@json_option
def demo(output_dir: str, as_json: bool) -> int:
    """Render a test chart through a real lens, correct it, and measure both.

    Needs no input. The chart (straight lines and a grey ramp) is rendered through the lensfun
    profile of the Panasonic Lumix S 20-60/F3.5-5.6 at 20 mm f/3.5 on a Panasonic DC-S5
    (distortion, TCA and vignetting), written as a 16-bit TIFF that names that camera and lens
    in its EXIF, and corrected by the normal `l2 correct` path with automatic lens matching.

    \b
    Example:
      l2 demo -o demo-output
    """
    from l2tech.demo import run_demo
    from l2tech.errors import L2Error

    try:
        res = run_demo(output_dir)
    except L2Error as exc:
        report_error(exc)
        return 1
    if as_json:
        emit_json(res)
        return 0
    from rich.table import Table

    lens = res["lens"]
    console.print(f"Lens found from the EXIF: [bold]{lens['lens']}[/] on [bold]{lens['camera']}[/] "
                  f"({lens['match_method']}), {lens['focal_length_mm']:g} mm f/{lens['f_number']:g}", highlight=False)
    m = res["metrics"]
    t = Table(title="Test chart through the lens, before and after correction")
    t.add_column("measure")
    t.add_column("ideal chart", justify="right")
    t.add_column("through the lens", justify="right")
    t.add_column("corrected", justify="right")
    for key, label, unit in (("straightness_px", "line straightness (max deviation)", "px"),
                             ("fringe_px", "color fringe width (red vs blue)", "px"),
                             ("corner_falloff_pct", "corner falloff", "%")):
        # + 0.0 turns a value that rounds to -0.00 into 0.00 (a corrected falloff printed "-0.00 %")
        t.add_row(label, *(f"{round(m[s][key], 2) + 0.0:.2f} {unit}" for s in ("ideal", "before", "after")))
    console.print(t)
    for name, path in res["images"].items():
        console.print(f"  {name:>13}: {path}", highlight=False)
    return 0
