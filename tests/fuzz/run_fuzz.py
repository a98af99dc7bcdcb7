"""Run the parser fuzz harnesses for a long time, keeping a corpus (issue 16 item 6).

    PYTHONPATH=src python tests/fuzz/run_fuzz.py --minutes 60            # every harness, 60 min each
    PYTHONPATH=src python tests/fuzz/run_fuzz.py --minutes 5 lcp clf      # some harnesses

Each harness runs batches of Hypothesis examples (random seeds) until its time is up. An input
whose outcome is new for that harness (success, or an error class with a message shape not
seen before) is kept in ``tests/fuzz/corpus/<harness>/`` and becomes a seed of later runs; an
input that crashes the parser (any exception but an :class:`~l2tech.errors.L2Error`) is kept in
``tests/fuzz/crashes/<harness>/`` with its traceback. A summary (examples, CPU seconds,
outcomes, crashes) is printed as JSON; the exit status is 1 if anything crashed.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, given, settings  # noqa: E402

from fuzz.harnesses import HARNESSES, save_to_corpus, scratch_dir  # noqa: E402

CRASHES = Path(__file__).resolve().parent / "crashes"


def _shape(outcome: str, message: str) -> str:
    """An outcome's kind: the error class and its message with paths and numbers blanked."""
    text = re.sub(r"\S*l2fuzz-\S*", "FILE", message)
    text = re.sub(r"-?\d+(\.\d+)?([eE][-+]?\d+)?", "N", text)
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "S", text)
    return f"{outcome}: {text[:60]}"


def fuzz_one(name: str, seconds: float, batch: int = 200) -> dict:
    """Fuzz one harness for ``seconds`` of wall time; return its summary."""
    from l2tech.errors import L2Error

    h = HARNESSES[name]
    work = scratch_dir()
    seen: set[str] = set()
    stats = {"harness": name, "examples": 0, "crashes": 0, "kept": 0}
    cpu0, t0 = time.process_time(), time.monotonic()

    def check(data: bytes) -> None:
        stats["examples"] += 1
        path = work / f"input{h.suffix}"
        path.write_bytes(data)
        try:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                h.target(path)
            kind = "ok"
        except L2Error as exc:
            kind = _shape(type(exc).__name__, exc.reason)
        except Exception:  # noqa: BLE001 - a crash: keep it, go on
            stats["crashes"] += 1
            folder = CRASHES / name
            folder.mkdir(parents=True, exist_ok=True)
            k = len(list(folder.glob("*.input")))
            (folder / f"{k:04d}.input").write_bytes(data)
            (folder / f"{k:04d}.txt").write_text(traceback.format_exc())
            return
        if kind not in seen:
            seen.add(kind)
            if save_to_corpus(name, data) is not None:
                stats["kept"] += 1

    try:
        while time.monotonic() - t0 < seconds:
            strategy = h.strategy()  # re-read: the corpus grows

            @settings(max_examples=batch, deadline=None, database=None, suppress_health_check=list(HealthCheck))
            @given(data=strategy)
            def run(data: bytes) -> None:
                check(data)

            run()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stats.update(cpu_s=round(time.process_time() - cpu0, 1), wall_s=round(time.monotonic() - t0, 1),
                 outcomes=len(seen))
    return stats


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=1.0, help="minutes per harness")
    ap.add_argument("harnesses", nargs="*", help=f"default: all ({', '.join(sorted(HARNESSES))})")
    args = ap.parse_args(argv)
    names = args.harnesses or sorted(HARNESSES)
    bad = [n for n in names if n not in HARNESSES]
    if bad:
        ap.error(f"unknown harness(es) {', '.join(bad)}")
    results = []
    for n in names:
        r = fuzz_one(n, args.minutes * 60)
        results.append(r)
        print(json.dumps(r), flush=True)
    return 1 if any(r["crashes"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
