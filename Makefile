# Two set-up commands on a fresh machine with Python 3.11 and pip: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip --disable-pip-version-check -q

.PHONY: run test lint format bench clean

$(VENV)/.installed-run: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel
	$(PIP) install -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip setuptools wheel
	$(PIP) install -e ".[test]"
	touch $@ $(VENV)/.installed-run

## run: create .venv, install, and start the demo on the embedded default (1C emulator, sync, SMS, cabinet)
run: $(VENV)/.installed-run
	$(BIN)/bonusbridge run-demo

## test: create .venv with the test extras and run the whole suite
test: $(VENV)/.installed-test
	$(BIN)/pytest

## lint: what CI checks besides the tests
lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy bonusbridge connectors mapping reconciliation sms web_cabinet demo mail

format: $(VENV)/.installed-test
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## bench: the ledger benchmark against PostgreSQL and pgbench (on demand, never in `make test`)
bench: $(VENV)/.installed-test
	$(BIN)/python bench/ledger.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
