#!/usr/bin/env bash
# `make test`: the whole suite on real PostGIS (pytest + pytest-django) and real Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
export DJANGO_SETTINGS_MODULE=gisapp.settings.test
exec .venv/bin/pytest "$@"
