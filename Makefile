# The two commands a newcomer needs: `make run` and `make test`. Both bootstrap .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SCENARIO ?= scenarios/smoke.yaml

.PHONY: run test lint install clean browser haproxy prometheus

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@if grep -qs 'balancing: *request' $(SCENARIO); then bash scripts/ensure-haproxy.sh; fi
	$(BIN)/kibench run $(SCENARIO)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

browser:
	@bash scripts/ensure-browser.sh

haproxy:
	@bash scripts/ensure-haproxy.sh

prometheus:
	@bash scripts/ensure-prometheus.sh

# Two workers share the 2 cores (tests/cpu_share.py): the unit tests first, then the end-to-end runs, two at a
# time except those marked exclusive.  A plain `python -m pytest` runs everything in one process.
test: $(STAMP) lint browser haproxy prometheus
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "not slow"
	$(BIN)/python -m pytest -n 2 --dist loadfile -m slow

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
