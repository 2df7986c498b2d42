# The two entry points: `make demo` and `make test`. Each one sets up .venv itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SYSTEM_STAMP := $(VENV)/.system-deps

.PHONY: demo test test-slow lint install system-deps clean

install: $(STAMP)

# torch first, pinned to the CPU build; then the project in editable mode.
$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q torch==2.13.0 numpy
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# Offline TTS engines for the built-in synthetic corpus (Debian packages). Best effort:
# an engine that cannot be installed is skipped by `speechnas data synth` with a warning.
system-deps: $(SYSTEM_STAMP)

$(SYSTEM_STAMP): | $(STAMP)
	@if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  missing=""; \
	  for p in espeak-ng flite festival festvox-kallpc16k festvox-us-slt-hts; do \
	    dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; \
	  done; \
	  if [ -n "$$missing" ]; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing) \
	      || echo "warning: could not install$$missing; those TTS engines will be skipped"; \
	  fi; \
	else echo "warning: not root or no apt-get; using the TTS engines already installed"; fi
	touch $(SYSTEM_STAMP)

demo: install system-deps
	$(VENV)/bin/speechnas demo --out runs/demo

# The suite without the tests marked slow (over ~10 s each); test-slow runs those (CI runs both).
test: install system-deps
	$(PY) -m pytest -q --durations=30

test-slow: install system-deps
	$(PY) -m pytest -q -m slow

lint: install
	$(VENV)/bin/ruff check src tests benchmarks recipes
	$(VENV)/bin/ruff format --check src tests benchmarks recipes
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) runs .pytest_cache
