# The two set-up commands of README: `make run` and `make test`. Both are idempotent.
VENV   ?= .venv
PYTHON ?= python3
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?= -n auto --maxprocesses=4

.PHONY: run test deps run-deps test-deps services bench clean

run: run-deps
	$(VENV)/bin/backup-console $(ARGS)

test: test-deps services
	$(VENV)/bin/pytest $(PYTEST_ARGS)

run-deps:
	@bash .ci/system-deps.sh run
	@$(MAKE) --no-print-directory $(STAMP)

test-deps:
	@bash .ci/system-deps.sh test
	@$(MAKE) --no-print-directory $(STAMP)

deps: test-deps

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test]'
	@touch $(STAMP)

services:
	@bash .ci/start-services.sh

bench: deps
	$(VENV)/bin/python bench/run_all.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
