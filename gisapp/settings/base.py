"""Settings shared by every environment, read from the environment (12-factor)."""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


SECRET_KEY = env("DJANGO_SECRET_KEY", "")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = [h for h in env("DJANGO_ALLOWED_HOSTS").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.gis",
    "rest_framework",
    "rest_framework_gis",
    "leaflet",
    "accounts",
    "parcels",
    "layers",
    "maps",
    "registration",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "gisapp.urls"
WSGI_APPLICATION = "gisapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# The database: DATABASE_URL (postgis://user:pass@host:port/name) or the project-local
# cluster that scripts/pg.sh runs under var/pg on its own socket and port.
_database_url = env("DATABASE_URL")
if _database_url:
    DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=60)}
    DATABASES["default"]["ENGINE"] = "django.contrib.gis.db.backends.postgis"
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.contrib.gis.db.backends.postgis",
            "NAME": env("NONGDI_PG_DB", "nongdi"),
            "USER": env("NONGDI_PG_USER", "nongdi"),
            "HOST": str(BASE_DIR / "var" / "pg" / "run"),
            "PORT": env("NONGDI_PG_PORT", "54329"),
            "CONN_MAX_AGE": 60,
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "maps:home"
LOGOUT_REDIRECT_URL = "maps:home"

# Chinese first: the UI speaks Simplified Chinese; English stays available for staff.
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "staticfiles"
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("NONGDI_MEDIA_ROOT", str(BASE_DIR / "var" / "media")))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "gisapp.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
INSTALLED_APPS.append("rest_framework.authtoken")

# Our own knobs, in one validated dict (see gisapp/config.py for what each means).
NONGDI = {
    # CGCS2000 geographic, lon/lat axis order in PostGIS and GeoJSON.
    "STORAGE_SRID": 4490,
    # Default projected CRS for legal areas: CGCS2000 3-degree Gauss-Krueger zone 40
    # (central meridian 120E, zone-prefixed false easting 40 500 000 m). Each county may
    # override it (Region.area_srid) with its own zone.
    "AREA_SRID": int(env("NONGDI_AREA_SRID", "4528")),
    "COUNTY_CODE": env("NONGDI_COUNTY_CODE", "310151"),
    # 亩 shown with this many decimals (the standard stores 2; some districts ask for 3-4).
    "MU_DECIMALS": int(env("NONGDI_MU_DECIMALS", "2")),
    "SQM_PER_MU": "666.6666666667",
    "MU_PER_SQM": "0.0015",
}

LEAFLET_CONFIG = {
    "DEFAULT_CENTER": (31.6, 121.4),
    "DEFAULT_ZOOM": 12,
    "MIN_ZOOM": 5,
    "MAX_ZOOM": 21,
    "TILES": [],
    "RESET_VIEW": False,
    "NO_GLOBALS": False,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_personal": {"()": "gisapp.logging.MaskPersonalDataFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["mask_personal"],
        }
    },
    "root": {"handlers": ["console"], "level": env("DJANGO_LOG_LEVEL", "INFO")},
}


def require(name: str, value: object) -> None:
    if not value:
        raise ImproperlyConfigured(f"{name} must be set in the environment")


# Debian 12's GDAL 3.6 cannot block file/network access from spatial references (Django's
# gis.W001). GeoDjango never parses user-supplied SRS text here: uploaded .prj files are read
# by pyproj and pyogrio, which bring their own GDAL/PROJ.
SILENCED_SYSTEM_CHECKS = ["gis.W001"]
