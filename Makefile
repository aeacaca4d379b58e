# Two commands on a fresh machine: `make serve` and `make test`. Both install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DATA := data

.PHONY: install test serve calibrate bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

test: install
	$(BIN)/pytest

# Until the BentoML service lands, the main job is the calibrated generator: write a cohort
# and print its calibration report.
serve: install
	mkdir -p $(DATA)
	$(BIN)/relapse-risk synth --n 20000 --seed 1 --out $(DATA)/cohort.csv
	$(BIN)/relapse-risk calibrate --n 20000 --seed 1

calibrate: install
	$(BIN)/relapse-risk calibrate --n 20000 --seed 1

bench: install
	$(BIN)/python benchmarks/bench_synth.py
	$(BIN)/python benchmarks/bench_scoring.py
	$(BIN)/python benchmarks/bench_training.py

clean:
	rm -rf $(VENV) $(DATA) .pytest_cache
