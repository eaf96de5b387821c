#!/usr/bin/env bash
# One idempotent set-up for a fresh Debian 12 machine (run as root) or a developer's machine:
# system packages, the virtualenv, the project-local PostGIS cluster, migrations.
# Quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  postgresql-15 postgresql-15-postgis-3 postgresql-contrib
  gdal-bin libgdal32 libgeos-c1v5 libproj25
  fonts-wqy-zenhei chromium chromium-driver mdbtools
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: these Debian packages are missing and we are not root: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Python virtualenv, rebuilt when requirements.txt changes. Wheels only: no compiler at install time.
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
req_hash=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.requirements.sha256 2>/dev/null)" != "$req_hash" ]; then
  echo "setup: building .venv from requirements.txt"
  "$PYTHON" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q --only-binary=:all: -r requirements.txt
  echo "$req_hash" > .venv/.requirements.sha256
fi

# The database: the project-local cluster unless DATABASE_URL points elsewhere.
if [ -z "${DATABASE_URL:-}" ]; then
  bash scripts/pg.sh start
fi

DJANGO_SETTINGS_MODULE=${DJANGO_SETTINGS_MODULE:-gisapp.settings.local} \
  .venv/bin/python manage.py migrate --noinput -v 0
