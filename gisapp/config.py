"""Our own settings (``settings.NONGDI``), validated once and typed.

* ``STORAGE_SRID``: 4490, CGCS2000 geographic; PostGIS and GeoJSON order is lon, lat
  (Leaflet's LatLng is lat, lng: swap only at the Leaflet boundary).
* ``AREA_SRID``: default projected CRS for legal areas, a CGCS2000 3° Gauss-Krüger zone
  (EPSG 4513-4533 zone-prefixed or 4534-4554 without prefix). A county's own zone
  (``Region.area_srid``) wins over it.
* ``COUNTY_CODE``: the county this installation serves by default (6 digits, GB/T 2260).
* ``MU_DECIMALS``: decimals of 亩 shown in the UI (storage keeps the standard's 2).
* ``MU_PER_SQM``: 0.0015 亩 per m², the conversion of the Ministry's tools.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

GK_3_DEGREE_SRIDS = range(4513, 4555)


@dataclass(frozen=True)
class NongdiConfig:
    storage_srid: int
    area_srid: int
    county_code: str
    mu_decimals: int
    mu_per_sqm: Decimal


@cache
def config() -> NongdiConfig:
    raw: dict[str, Any] = settings.NONGDI
    try:
        cfg = NongdiConfig(
            storage_srid=int(raw["STORAGE_SRID"]),
            area_srid=int(raw["AREA_SRID"]),
            county_code=str(raw["COUNTY_CODE"]),
            mu_decimals=int(raw["MU_DECIMALS"]),
            mu_per_sqm=Decimal(str(raw["MU_PER_SQM"])),
        )
    except (KeyError, ValueError, ArithmeticError) as exc:
        raise ImproperlyConfigured(f"NONGDI settings are incomplete or malformed: {exc}") from exc
    if cfg.storage_srid != 4490:
        raise ImproperlyConfigured("NONGDI STORAGE_SRID must be 4490: the models are migrated with it")
    if cfg.area_srid not in GK_3_DEGREE_SRIDS:
        raise ImproperlyConfigured(f"NONGDI AREA_SRID {cfg.area_srid} is not a CGCS2000 3-degree Gauss-Kruger zone")
    if not (len(cfg.county_code) == 6 and cfg.county_code.isdigit()):
        raise ImproperlyConfigured(f"NONGDI COUNTY_CODE {cfg.county_code!r} is not a 6-digit county code")
    if not 0 <= cfg.mu_decimals <= 4:
        raise ImproperlyConfigured("NONGDI MU_DECIMALS must be between 0 and 4")
    return cfg
