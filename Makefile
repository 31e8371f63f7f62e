# Two commands: `make book` and `make test`. Each bootstraps .venv on first use,
# installs the project with the extras it needs (only when pyproject.toml changed),
# then runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export EOS_DATA_DIR ?= $(if $(wildcard ../shared/data),$(abspath ../shared/data),)
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg
# A persistent XLA compilation cache: later runs skip most of the compile time.
export JAX_COMPILATION_CACHE_DIR ?= $(CURDIR)/_build/jax-cache
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS ?= 0.5

.PHONY: book test lint format clean benchmarks help
.DEFAULT_GOAL := help

help:
	@echo "make book   - execute and render the Jupyter Book into _build/html (EOS_PROFILE=quick by default)"
	@echo "make test   - unit tests + every notebook under nbval + a strict smoke book build (EOS_PROFILE=smoke)"
	@echo "make lint   - ruff check"
	@echo "make benchmarks - run the speed benchmarks in benchmarks/"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Stamp files make the install idempotent: a second run installs nothing.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$*]"
	@touch $@

# The notebook execution cache is keyed by the cells' code only: it is dropped whenever the
# profile or the eos source changes, so the book never shows another profile's numbers.
# The build is strict (-W -n: a broken reference, a missing citation or an unknown glue key fails
# it) and is the command CI runs (.github/workflows/book.yml); it prints one line per chapter
# ("[book] book/<chapter>: <seconds> s", from book/_ext/eos_book.py).
BOOK_BUILD = $(BIN)/jupyter-book build . --all -W -n --keep-going --quiet
book: $(VENV)/.installed-book
	@EOS_PROFILE=$${EOS_PROFILE:-quick}; export EOS_PROFILE; \
	echo "Building the book with EOS_PROFILE=$$EOS_PROFILE (EOS_DATA_DIR=$${EOS_DATA_DIR:-default cache})"; \
	key="$$EOS_PROFILE $$(cat $$(find eos -name '*.py' | sort) | sha256sum | cut -c1-16)"; \
	stamp=_build/.jupyter_cache.key; \
	if [ "$$(cat $$stamp 2>/dev/null)" != "$$key" ]; then \
	  rm -rf _build/.jupyter_cache; mkdir -p _build; echo "$$key" > $$stamp; fi; \
	start=$$(date +%s); \
	$(BOOK_BUILD) || exit 1; \
	echo "Book built in $$(( $$(date +%s) - start )) s: open _build/html/index.html"

# Three pytest runs on TEST_WORKERS processes (pytest-xdist; a module or notebook stays on one
# worker): first the unit tests, whose smoke experiments fill the shared results cache, then
# every notebook under nbval, which reuses those runs, then one strict smoke build of the book
# (tests/test_book_build.py: warnings are errors; its experiments are cache hits). The unit run
# lists its 15 slowest tests (the suite's time budget is 12 minutes, issue 20).
TEST_WORKERS ?= 2
test: $(VENV)/.installed-book,test
	@export EOS_PROFILE=smoke EOS_RESULTS_DIR=$${EOS_RESULTS_DIR:-$(CURDIR)/_build/test-results} \
	  EOS_FIGURE_DIR=$${EOS_FIGURE_DIR:-$(CURDIR)/_build/test-figures}; \
	start=$$(date +%s); \
	$(BIN)/python -m pytest tests -n $(TEST_WORKERS) --dist loadscope -p no:cacheprovider --ignore=tests/test_book_build.py --durations=15 $(PYTEST_ARGS); unit=$$?; \
	$(BIN)/python -m pytest book --nbval-lax -n $(TEST_WORKERS) --dist loadscope -p no:cacheprovider $(PYTEST_ARGS); books=$$?; \
	$(BIN)/python -m pytest tests/test_book_build.py -p no:cacheprovider $(PYTEST_ARGS); build=$$?; \
	echo "make test: unit tests exit $$unit, notebooks exit $$books, book build exit $$build, $$(( $$(date +%s) - start )) s"; \
	[ $$unit -eq 0 ] && [ $$books -eq 0 ] && [ $$build -eq 0 ]

lint: $(VENV)/.installed-test
	$(BIN)/ruff check eos tests benchmarks book
	$(BIN)/ruff format --check eos tests benchmarks book

format: $(VENV)/.installed-test
	$(BIN)/ruff format eos tests benchmarks book
	$(BIN)/ruff check --fix eos tests benchmarks book

benchmarks: $(VENV)/.installed-test
	$(BIN)/python benchmarks/curvature.py
	$(BIN)/python benchmarks/tracking.py
	$(BIN)/python benchmarks/throughput.py --n 500 --json _build/throughput.json

clean:
	rm -rf _build figures
