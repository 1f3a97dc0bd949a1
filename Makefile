# The two commands of the quick start: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The real apps of tests/realapps (Streamlit, Dash, Strawberry GraphQL, Gradio, Shiny, NiceGUI,
# Panel, Ariadne), pinned, in a venv of their own: heavy packages that smokeseal itself must
# never depend on. The tests start them with this venv's python (or the one in
# SMOKESEAL_REALAPPS_PYTHON).
REALAPPS_VENV := tests/realapps/.venv
REALAPPS_STAMP := $(REALAPPS_VENV)/.installed
# The suite mostly waits (on Chromium, servers, subprocesses and timeouts), so it runs on more
# pytest-xdist workers than there are cores. Each worker has its own stand-ins, browser and
# databases; the real apps' tests share one fleet of apps, so they stay on one worker
# (tests/conftest.py groups them for --dist loadgroup).
# make test-quick is busier computing than waiting: two workers are faster there.
WORKERS ?= 3
QUICK_WORKERS ?= 2

.PHONY: demo test test-quick test-fast lint install browser postgres clean bench realapps

$(STAMP): pyproject.toml
	@scripts/ensure-system python
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

browser: $(STAMP)
	@scripts/ensure-system browser $(BIN)/python

postgres:
	@scripts/ensure-system postgres

## Run the main job on the embedded default: the bundled demo app, smoked and sealed.
demo: browser
	$(BIN)/smokeseal demo

## Every test tier, with a real Chromium, a real PostgreSQL, real Playwright Test and real
## Streamlit, Dash, GraphQL and Gradio apps; slow tests too.
test: browser postgres tests/playwright/node_modules realapps
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup

## The loop for every change: unit and component tests on SQLite (no database server), the
## slow ones left to make test.
test-quick: browser
	$(BIN)/python -m pytest -n $(QUICK_WORKERS) --dist loadgroup \
		-m "(unit or component) and not postgres and not slow"

## Unit and component tests, on SQLite and PostgreSQL.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup -m "unit or component"

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .smokeseal bench/playwright/node_modules \
		tests/playwright/node_modules $(REALAPPS_VENV)

## Benchmarks (not part of `make test`): prints every figure with its goal, writes bench/RESULTS.md.
bench: browser postgres bench/playwright/node_modules
	$(BIN)/python bench/run.py

bench/playwright/node_modules: bench/playwright/package-lock.json
	@scripts/ensure-system node
	cd bench/playwright && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Playwright Test for the command check's e2e test (tests/checks/test_command_playwright.py);
# it drives the system Chromium, so no browser is downloaded.
tests/playwright/node_modules: tests/playwright/package-lock.json
	@scripts/ensure-system node
	cd tests/playwright && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(REALAPPS_STAMP): tests/realapps/requirements.txt
	@scripts/ensure-system python
	@test -x $(REALAPPS_VENV)/bin/python || $(PYTHON) -m venv $(REALAPPS_VENV)
	$(REALAPPS_VENV)/bin/pip install --quiet --disable-pip-version-check \
		-r tests/realapps/requirements.txt
	@touch $@

realapps: $(REALAPPS_STAMP)
