# The two commands of the README. Both create .venv when it is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test venv screenshots bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/workbench ui

test: $(STAMP)
	$(BIN)/python -m pytest -q

screenshots: $(STAMP)
	WORKBENCH_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q tests/e2e

bench: $(STAMP)
	$(BIN)/python bench/train_speed.py --quick
	$(BIN)/python bench/explain_speed.py --quick

clean:
	rm -rf $(VENV) build *.egg-info
