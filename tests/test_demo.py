"""The embedded demo: the chart through the Lumix S 20-60 at 20 mm, then corrected."""

from __future__ import annotations

import json

import numpy as np

from l2tech.demo import measure_chart, render_chart


def test_measure_chart_on_ideal_and_known_barrel():
    import cv2

    chart = render_chart(900, 600)
    m = measure_chart(chart)
    assert m.straightness_px < 0.05 and m.fringe_px < 0.05 and abs(m.corner_falloff_pct) < 0.5
    h, w = chart.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    f = 1 + 0.02 * ((xx - cx) ** 2 + (yy - cy) ** 2) / 300.0**2
    bent = cv2.remap(chart, cx + (xx - cx) * f, cy + (yy - cy) * f, cv2.INTER_LINEAR)
    # a horizontal line at y0 bends by about y0 * 0.02 * (x_edge/300)^2 at the edge: several px
    assert measure_chart(bent).straightness_px > 3


def test_demo_corrects_the_chart(tmp_path, capsys):
    from l2tech.cli.main import main

    assert main(["demo", "-o", str(tmp_path), "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    lens = res["lens"]
    assert lens["camera"] == "Panasonic DC-S5" and lens["lens"] == "Panasonic Lumix S 20-60/F3.5-5.6"
    assert all(c["applied"] for c in lens["corrections"].values())
    before, after = res["metrics"]["before"], res["metrics"]["after"]
    assert before["straightness_px"] > 5 and after["straightness_px"] < 0.5
    assert before["corner_falloff_pct"] > 50 and abs(after["corner_falloff_pct"]) < 3
    assert after["fringe_px"] < before["fringe_px"]
