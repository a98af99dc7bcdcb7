"""The package layering of ARCHITECTURE.md: dependencies point downward only.

``cli, web → pipeline → {raw, video, correct, color, calibrate} → {profiles, io} → optics``;
``optics`` imports nothing of ours but :mod:`l2tech.errors`. Every ``import`` statement in
``src/l2tech`` is read (also those inside functions, which is where the lazy ones are); an import
of a higher layer from a lower one fails the test with the file and line.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "l2tech"

#: Layer of each top-level module or package of l2tech (higher imports lower, never the reverse).
LAYER = {
    "cli": 5, "web": 5,
    "pipeline": 4, "demo": 4,
    "raw": 3, "video": 3, "correct": 3, "color": 3, "calibrate": 3,
    "profiles": 2, "io": 2,
    "optics": 1,
    "errors": 0, "data": 0, "_lazy": 0,
}


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def test_every_module_has_a_layer():
    tops = {p.name.removesuffix(".py") for p in SRC.iterdir() if (p.suffix == ".py" or p.is_dir()) and p.name != "__pycache__"}
    missing = sorted(tops - set(LAYER) - {"__init__", "py.typed"})
    assert not missing, f"give these a layer in tests/test_layering.py and ARCHITECTURE.md: {missing}"


def test_no_module_imports_upward():
    bad = []
    for f in sorted(SRC.rglob("*.py")):
        rel = f.relative_to(SRC)
        if rel.parts == ("__init__.py",):
            continue  # the package's curated, lazy re-exports
        here = rel.parts[0].removesuffix(".py")
        for line, mod in _imports(f):
            parts = mod.split(".")
            if parts[0] != "l2tech" or len(parts) < 2:
                continue
            there = parts[1]
            if there != here and LAYER[there] > LAYER[here]:
                bad.append(f"src/l2tech/{rel}:{line} imports {mod} ({here} is below {there})")
    assert not bad, "\n".join(bad)


def test_optics_imports_nothing_of_ours_but_errors():
    bad = [f"src/l2tech/optics/{f.name}:{line} imports {mod}"
           for f in sorted((SRC / "optics").glob("*.py")) for line, mod in _imports(f)
           if mod.startswith("l2tech.") and not mod.startswith(("l2tech.optics", "l2tech.errors"))]
    assert not bad, "\n".join(bad)
