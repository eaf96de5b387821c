import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from gisapp.config import config


@pytest.mark.parametrize(
    "change,message",
    [
        ({"AREA_SRID": "4326"}, "Gauss-Kruger"),
        ({"STORAGE_SRID": 4528}, "4490"),
        ({"COUNTY_CODE": "31015"}, "6-digit"),
        ({"MU_PER_SQM": "x"}, "malformed"),
    ],
)
def test_bad_nongdi_settings_fail_at_start(settings, change: dict[str, object], message: str) -> None:  # type: ignore[no-untyped-def]
    with override_settings(NONGDI={**settings.NONGDI, **change}):
        config.cache_clear()
        try:
            with pytest.raises(ImproperlyConfigured, match=message):
                config()
        finally:
            config.cache_clear()


def test_defaults_are_valid() -> None:
    cfg = config()
    assert cfg.storage_srid == 4490 and cfg.area_srid == 4528
