"""Start-up of the ``l2`` command: ``l2 --help`` and ``l2 develop --help`` as whole processes.

Each command runs as a fresh process, several times, interleaved with ``python -c pass`` (the
interpreter's own start, the anchor); the table reports medians, their ratio to the anchor and
the acceptance limit (0.3 s). ``python -X importtime`` then names the slowest imports, and the
heavy modules (numpy, OpenCV, rawpy, numba, colour-science, SciPy, matplotlib, lensfunpy) that
were loaded — there must be none. The section goes into docs/PERFORMANCE.md ("startup").

Run: ``.venv/bin/python benchmarks/bench_startup.py [--repeat 15] [--no-write]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_line, update_section  # noqa: E402

SRC = Path(__file__).resolve().parents[1] / "src"
LIMIT_S = 0.3
HEAVY = ("numpy", "cv2", "rawpy", "numba", "colour", "scipy", "matplotlib", "lensfunpy")

#: What the ``l2`` console script runs (``l2 = l2tech.cli.main:run``), for this checkout.
L2 = "from l2tech.cli.main import run; run()"

CASES = {
    "python -c pass (anchor)": [sys.executable, "-c", "pass"],
    "l2 --help": [sys.executable, "-c", L2, "--help"],
    "l2 develop --help": [sys.executable, "-c", L2, "develop", "--help"],
}


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(SRC) + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _wall(cmd: list[str]) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(), check=True)
    return time.perf_counter() - t


def _importtime(args: list[str]) -> tuple[list[tuple[int, int, str]], list[str]]:
    """(self µs, cumulative µs, module) of each import, and the heavy modules loaded."""
    code = ("import contextlib, io, sys\nfrom l2tech.cli.main import main\n"
            f"with contextlib.redirect_stdout(io.StringIO()):\n    main({args!r})\n"
            f"print('heavy:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))")
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, env=_env(),
                       check=True)
    rows = []
    for line in r.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "self [us]" not in line:
            own, cum, name = line[len("import time:"):].split("|", 2)
            rows.append((int(own), int(cum), name.rstrip()))
    line = next(ln for ln in r.stdout.splitlines() if ln.startswith("heavy:"))
    heavy = [m for m in line[len("heavy:"):].split(",") if m]
    return rows, heavy


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--no-write", action="store_true", help="print only; leave docs/PERFORMANCE.md alone")
    args = ap.parse_args(argv)

    for cmd in CASES.values():  # warm the disk cache and the .pyc files
        _wall(cmd)
    times: dict[str, list[float]] = {k: [] for k in CASES}
    for _ in range(args.repeat):  # interleaved, so a burst of load hits every case alike
        for name, cmd in CASES.items():
            times[name].append(_wall(cmd))
    med = {k: statistics.median(v) for k, v in times.items()}
    anchor = med["python -c pass (anchor)"]

    lines = [
        "## Start-up of `l2` (`benchmarks/bench_startup.py`)",
        "",
        f"Whole process, fresh each time, warm disk cache; median of {args.repeat} runs, interleaved. "
        f"{machine_line()}. Limit: {LIMIT_S} s.",
        "",
        "| command | median | min | vs `python -c pass` | within limit |",
        "|---|---:|---:|---:|---|",
    ]
    ok = True
    for name, v in times.items():
        within = "—" if name.startswith("python") else ("yes" if med[name] <= LIMIT_S else "**no**")
        ok &= within != "**no**"
        lines.append(f"| `{name}` | {med[name]:.3f} s | {min(v):.3f} s | {med[name] / anchor:.1f}× | {within} |")

    lines += ["", "`python -X importtime` (one run; µs; cumulative includes the module's own imports):", ""]
    for label, cli_args in (("l2 --help", ["--help"]), ("l2 develop --help", ["develop", "--help"])):
        rows, heavy = _importtime(cli_args)
        total = sum(own for own, _, _ in rows)
        top = sorted(rows, key=lambda r: -r[1])[:8]
        lines.append(f"- `{label}`: {total / 1000:.0f} ms of imports; heavy modules loaded: "
                     + (", ".join(heavy) if heavy else "none")
                     + "; largest (cumulative): " + ", ".join(f"`{n.strip()}` {c / 1000:.0f} ms" for _, c, n in top) + ".")
        ok &= not heavy
    lines += [
        "",
        "Finding: what is left is the interpreter, click (the largest import above) and the standard "
        "library; command modules "
        "import only click, `l2tech.errors` and `l2tech.cli.options` at the top, everything heavy "
        "(numpy, OpenCV, rawpy, numba, colour-science, lensfunpy, and rich for the terminal output) "
        "inside the command function. Before this change every command module imported "
        "`rich.console` for its `--help` (65 ms of imports; `l2 develop --help` took 0.30-0.37 s "
        "whole-process on this machine, `l2 --help` 0.15-0.16 s). `tests/test_cli_startup.py` checks, "
        "in a fresh interpreter, that no heavy module is loaded by `import l2tech.cli.main` or by the "
        "`--help` of any command.",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        update_section("startup", text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
