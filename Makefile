# The two commands: `make run` and `make test`. Everything else is called by them.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
export DJANGO_SETTINGS_MODULE ?= gisapp.settings.local

.PHONY: setup run test lint stop demo

setup:
	@bash scripts/setup.sh

run: setup
	@bash scripts/run.sh

test: setup
	@bash scripts/test.sh

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(PY) manage.py makemigrations --check --dry-run

demo: setup
	$(PY) manage.py load_demo --if-empty

stop:
	@bash scripts/pg.sh stop
