# Two commands: `make demo` (set up and run the main job on the embedded sample)
# and `make test` (the whole suite). Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@# compile the fused develop kernel for JPEG output ahead (numba caches it on disk), so no develop pays for it
	$(PY) -c "import numpy as np; from l2tech.correct.fused import warm_up; warm_up(np.uint8)"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/l2 demo -o demo-output

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) demo-output build *.egg-info src/*.egg-info
