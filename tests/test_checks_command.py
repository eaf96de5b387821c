"""``manage.py inspect_quality``: the JSON report and the exit status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from layers.models import InspectionRun
from tests.conftest import COUNTY, OTHER_VILLAGE, TOWN, VILLAGE
from tests.test_checks_dataset import add_parcel, code, rect

pytestmark = pytest.mark.django_db


def test_errors_give_exit_status_1_and_the_report(county: dict[str, str], tmp_path: Path) -> None:
    add_parcel(1, rect(0, 0, 10, 10))
    add_parcel(2, rect(9.5, 0, 10, 10))
    out, geo, book = tmp_path / "qc.json", tmp_path / "qc.geojson", tmp_path / "qc.xlsx"
    with pytest.raises(SystemExit) as exit_:
        call_command(
            "inspect_quality", "--county", COUNTY, "--json", str(out), "--geojson", str(geo), "--xlsx", str(book)
        )
    assert exit_.value.code == 1
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["county"] == COUNTY and report["parcels_checked"] == 2
    assert report["findings"] == [
        {
            "seq": 1,
            "rule": "DK_OVERLAP",
            "severity": "error",
            "dkbm": [code(1), code(2)],
            "codes": [],
            "area_m2": 5.0,
            "value": None,
            "message": f"地块 {code(1)} 与 {code(2)} 重叠 5.0000 平方米",
        }
    ]
    features = json.loads(geo.read_text(encoding="utf-8"))["features"]
    assert features[0]["properties"]["rule"] == "DK_OVERLAP"
    assert book.read_bytes()[:2] == b"PK"
    assert InspectionRun.objects.count() == 0


def test_a_clean_village_exits_0_and_can_be_saved(county: dict[str, str], tmp_path: Path) -> None:
    add_parcel(1, rect(0, 0, 10, 10))
    add_parcel(2, rect(9.5, 0, 10, 10))
    add_parcel(1, rect(500, 0, 10, 10), collective=county["other_group"])
    out = tmp_path / "qc.json"
    call_command("inspect_quality", "--county", COUNTY, "--village", OTHER_VILLAGE, "--json", str(out), "--save")
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["scope"] == OTHER_VILLAGE and report["parcels_checked"] == 1 and report["findings"] == []
    assert InspectionRun.objects.get().scope == OTHER_VILLAGE
    # tolerances from the command line: the 5 m² overlap is below 6 m²
    call_command("inspect_quality", "--county", COUNTY, "--town", TOWN, "--json", str(out), "--min-overlap-area", "6")
    assert json.loads(out.read_text(encoding="utf-8"))["tolerances"]["min_overlap_area"] == 6.0


def test_bad_scope(county: dict[str, str], tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="不属于县"):
        call_command("inspect_quality", "--county", COUNTY, "--village", "320000001001", "--json", str(tmp_path / "x"))
    with pytest.raises(CommandError):
        call_command("inspect_quality", "--county", COUNTY, "--town", TOWN, "--village", VILLAGE, "--json", "x")
