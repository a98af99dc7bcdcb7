"""A short fuzz run of every parser l2tech owns (issue 16 item 6).

Each harness of ``tests/fuzz/harnesses.py`` parses mutated seed files; the only outcome
allowed besides success is a typed :class:`~l2tech.errors.L2Error` (a crash is any other
exception). Here each runs a fixed, derandomised handful of examples so ``make test`` stays
fast and repeatable; ``tests/fuzz/run_fuzz.py --minutes N`` runs them for long
(docs/RELIABILITY.md "Fuzzing" records the hours run and what they found).
"""

from __future__ import annotations

import shutil

import pytest
from hypothesis import HealthCheck, given, settings

from fuzz.harnesses import HARNESSES, scratch_dir

EXAMPLES = 30


@pytest.mark.parametrize("name", sorted(HARNESSES))
def test_seeds_parse(name):
    """Every seed parses (the mutations start from valid files, so the fuzzing reaches deep)."""
    h = HARNESSES[name]
    work = scratch_dir()
    try:
        outcomes = [h.run_one(s, work) for s in h.seeds()]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert outcomes and all(o == "ok" for o in outcomes), outcomes


@pytest.mark.parametrize("name", sorted(HARNESSES))
def test_fuzz_short(name):
    h = HARNESSES[name]
    work = scratch_dir()

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=h.strategy())
    def run(data):
        h.run_one(data, work)  # raises on anything but an L2Error

    try:
        run()
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.parametrize("name", sorted(HARNESSES))
def test_corpus_inputs_give_typed_outcomes(name):
    """Every kept input (``tests/fuzz/corpus``, including the ones that once crashed a parser —
    named ``crash-*``) parses or gives an L2Error: the regression set of the long runs."""
    from fuzz.harnesses import CORPUS

    folder = CORPUS / name
    files = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    work = scratch_dir()
    try:
        for f in files:
            h = HARNESSES[name]
            h.run_one(f.read_bytes(), work)  # raises on a crash
    finally:
        shutil.rmtree(work, ignore_errors=True)
