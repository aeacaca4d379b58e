# Two commands on a fresh machine: `make serve` and `make test`. Both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DATA := data

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: chromium install docs test serve calibrate bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# The browser tests drive Debian's chromium (no browser download at run time).
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
	  { echo "installing Debian's chromium for the browser tests"; \
	    $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq chromium >/dev/null; }

# The documentation site: the CLI reference is generated from the commands themselves, the
# benchmark page from the benchmark record.
docs: install
	mkdir -p docs/reference
	$(BIN)/typer relapse_risk.cli utils docs --name relapse-risk --output docs/reference/cli.md
	cp CHANGELOG.md docs/changes.md
	$(BIN)/python benchmarks/record.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

# The suite on every core (2 here: about half the time of one), a test file per worker so
# that a file's fixtures (trained versions, servers) are built once, longest files first
# (the groups and their order: tests/conftest.py).
test: install chromium docs
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest -n auto --dist loadfile

# The service on its embedded defaults: trains and promotes the default model when the
# registry (./registry) is empty, then serves on 127.0.0.1:3000.
serve: install
	$(BIN)/relapse-risk serve --host 127.0.0.1 --port 3000

calibrate: install
	$(BIN)/relapse-risk calibrate --n 20000 --seed 1

# Batch, import and serving write their figures into the benchmark record, from which
# `make docs` renders docs/benchmarks.md.
RECORD := --record benchmarks/results.json

bench: install
	$(BIN)/python benchmarks/bench_synth.py
	$(BIN)/python benchmarks/bench_scoring.py
	$(BIN)/python benchmarks/bench_training.py
	$(BIN)/python benchmarks/bench_serving.py $(RECORD)
	$(BIN)/python benchmarks/bench_batch.py --runs 3 $(RECORD)
	$(BIN)/python benchmarks/bench_import.py --runs 3 $(RECORD)
	$(BIN)/python benchmarks/bench_resampling.py $(RECORD)
	$(BIN)/python benchmarks/soak.py
	$(BIN)/python benchmarks/record.py

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache site
