#!/usr/bin/env bash
# `make run`: load the demo county when the database is empty, print the demo accounts, serve.
set -euo pipefail
cd "$(dirname "$0")/.."
export DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-gisapp.settings.local}
.venv/bin/python manage.py load_demo --if-empty
.venv/bin/python manage.py demo_accounts
echo "Nongdi: http://127.0.0.1:${PORT:-8000}/  (Ctrl-C stops the web server; 'make stop' stops the database)"
exec .venv/bin/python manage.py runserver "127.0.0.1:${PORT:-8000}"
