# Two commands: `make demo` (set up and run the main job on the embedded sample)
# and `make test` (the whole suite). Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean

$(STAMP): pyproject.toml
	@echo "Setting up $(VENV): installing the dependencies, then compiling the image kernels (a few minutes, once)..."
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@# bytecode for every module now: an environment with PYTHONDONTWRITEBYTECODE set would otherwise
	@# compile ~60 modules from source in every process (~0.2 s of each develop)
	$(PY) -m compileall -q src >/dev/null
	@# compile the fused kernel for JPEG output and for 8-bit clips ahead (numba caches it on disk), so no
	@# develop and no first `l2 video` pays for it
	@echo "Compiling the image kernels (1-4 minutes, cached for every later run)..."
	$(PY) -c "import numpy as np; from l2tech.correct.fused import warm_up, warm_up_video; warm_up(np.uint8); warm_up_video()"
	@# the browser tests (tests/test_web_browser.py) drive the Debian chromium; install it when
	@# missing and apt-get is usable (best effort: the test skips, saying why, without it)
	@if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			apt-get install -y --no-install-recommends chromium >/dev/null 2>&1 \
			|| { apt-get update -qq >/dev/null 2>&1 && apt-get install -y --no-install-recommends chromium >/dev/null 2>&1; } \
			|| echo "note: chromium not installed; browser tests will skip"; \
		else echo "note: no chromium and no usable apt-get; browser tests will skip"; fi; \
	fi
	@# exiftool is the outside oracle of the metadata and trust tests (tests/test_trust*.py): install
	@# it the same way (best effort: those tests skip, saying why, without it)
	@if ! command -v exiftool >/dev/null 2>&1; then \
		if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
			apt-get install -y --no-install-recommends libimage-exiftool-perl >/dev/null 2>&1 \
			|| { apt-get update -qq >/dev/null 2>&1 && apt-get install -y --no-install-recommends libimage-exiftool-perl >/dev/null 2>&1; } \
			|| echo "note: exiftool not installed; the tests that use it as their oracle will skip"; \
		else echo "note: no exiftool and no usable apt-get; the tests that use it as their oracle will skip"; fi; \
	fi
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/l2 demo -o demo-output

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

clean:
	rm -rf $(VENV) demo-output build *.egg-info src/*.egg-info
