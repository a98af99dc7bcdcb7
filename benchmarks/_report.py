"""Write one benchmark's table into docs/PERFORMANCE.md, leaving other sections alone.

Each benchmark owns the text between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->``.
"""

from __future__ import annotations

import os
import platform
import re
import tempfile
from pathlib import Path

PERF = Path(__file__).resolve().parents[1] / "docs" / "PERFORMANCE.md"

_HEADER = """# Performance

Every figure here is measured by a script in `benchmarks/`, side by side with the anchor tool in
the same run, as a ratio of medians over several runs (the machines are shared and noisy; see
`benchmarks/README.md`). Re-run with `make bench` or the script named in each section.
"""


def machine_line() -> str:
    """One line describing the machine the figures come from."""
    return f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"


def update_section(name: str, markdown: str) -> None:
    """Replace (or append) section ``name`` of docs/PERFORMANCE.md atomically."""
    text = PERF.read_text() if PERF.exists() else _HEADER
    block = f"<!-- bench:{name} -->\n{markdown.rstrip()}\n<!-- /bench:{name} -->"
    pattern = re.compile(rf"<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _m: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    PERF.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=PERF.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, PERF)
