# Deployment image: the same stack as `make run` (Debian 12, Python 3.11, GDAL/GEOS/PROJ from
# Debian for GeoDjango, wheels from requirements.txt), served by gunicorn. The database is an
# external PostGIS given by DATABASE_URL; secrets come from the environment.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=gisapp.settings.production

RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libgdal32 libgeos-c1v5 libproj25 gdal-bin mdbtools fonts-wqy-zenhei postgresql-client \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir --only-binary=:all: -r requirements.txt

COPY . .
RUN DJANGO_SECRET_KEY=build DJANGO_ALLOWED_HOSTS=build DATABASE_URL=postgis://build@localhost/build \
    python manage.py collectstatic --noinput

RUN useradd --system --home /app nongdi && mkdir -p /app/var/media && chown -R nongdi /app/var
USER nongdi
EXPOSE 8000
# Migrations run at start so that a new image brings its schema with it.
CMD ["sh", "-c", "python manage.py migrate --noinput && gunicorn gisapp.wsgi:application --bind 0.0.0.0:8000 --workers 3"]
