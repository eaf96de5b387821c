"""Importing Ministry county packages: what loads, how it loads, and re-imports."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import shapely
from django.core.management import call_command
from django.core.management.base import CommandError
from pyproj import Transformer

from layers.exchange.importer import PackageImporter, register_counts
from layers.exchange.package import GAUSS_KRUGER, check_extent, identify_crs
from layers.exchange.report import ImportReport, Status
from layers.models import ImportJob
from parcels.models import (
    BoundaryLine,
    BoundaryPoint,
    Certificate,
    Collective,
    Contract,
    Contractor,
    ContractParcel,
    FamilyMember,
    Parcel,
    Region,
    RegisterBook,
)
from tests.fixtures.package_builder import (
    SRID,
    farms_package,
    sample_package,
    zip_folder,
)

pytestmark = pytest.mark.django_db


def rules(report: ImportReport, severity: str | None = None) -> set[str]:
    return {p.rule for p in report.problems if severity is None or p.severity == severity}


def test_sample_package_loads_every_table_with_its_values(tmp_path: Path) -> None:
    data = sample_package()
    root = data.write(tmp_path)
    report = PackageImporter(root).run()

    assert report.status == Status.LOADED, report.to_json()
    assert not rules(report, "structural")
    assert report.counts["DK"] == 12 and report.counts["CBDKXX"] == 12
    assert Parcel.objects.count() == 12
    assert BoundaryPoint.objects.count() == len(data.layers["JZD"].rows)
    assert BoundaryLine.objects.count() == len(data.layers["JZX"].rows)
    assert Collective.objects.count() == 2
    assert Contractor.objects.count() == 6 and FamilyMember.objects.count() == 12
    assert Contract.objects.count() == 6 and RegisterBook.objects.count() == 6 and Certificate.objects.count() == 6

    row = data.layers["DK"].rows[4]
    parcel = Parcel.objects.get(code=row["DKBM"])
    assert parcel.bsm == row["BSM"]
    assert parcel.name == row["DKMC"] == "东大田5号"
    assert parcel.witnesses == "王建国，李建军"
    assert parcel.fertility == row["DLDJ"] and parcel.key_points == row["KJZB"]
    assert parcel.remarks is None  # an empty optional text is NULL
    assert parcel.surveyed_area == row["SCMJ"] == Decimal("1600.00")
    assert parcel.surveyed_area_mu == row["SCMJM"] == Decimal("2.40")
    # Geometry in EPSG:4490, where the zone-40 square was (1 mm) and with the same area.
    to_gk = Transformer.from_crs(4490, SRID, always_xy=True)
    stored = shapely.from_wkb(bytes(parcel.geom.wkb))
    assert stored.geom_type == "MultiPolygon" and parcel.geom.srid == 4490
    back = shapely.transform(stored, lambda xy: np.column_stack(to_gk.transform(xy[:, 0], xy[:, 1])))
    source = shapely.from_wkb(data.layers["DK"].geoms[4])
    assert shapely.hausdorff_distance(back, source) < 0.001
    assert abs(back.area - source.area) / source.area < 1e-4

    # Ownership tables: Chinese text, memo with a newline and quotes, 长久不变 9999-01-01.
    collective = Collective.objects.get(code="31015110100101")
    assert collective.survey_notes == '发包方调查记事：\n集体经济组织完整，"四至"清楚'
    contract = Contract.objects.order_by("code").first()
    assert contract is not None
    assert contract.term_end == dt.date(9999, 1, 1) and contract.term_start == dt.date(1998, 1, 1)
    assert contract.total_area == Decimal("3200.00") and contract.parcel_count == 2
    contractor = Contractor.objects.get(code=contract.contractor_id)
    assert contractor.collective_id == contract.contractor_id[:14]
    assert contractor.member_count == 2 and contractor.phone is None
    link = ContractParcel.objects.filter(contract=contract).first()
    assert link is not None and link.contract_area_mu == Decimal("2.40") and link.is_share == "2"

    # Regions from the 权属单位代码表 (short names under their parent) and the XJXZQ layer.
    county = Region.objects.get(code="310151")
    assert county.name == "示范区" and county.geom is not None and county.area_srid == 4528
    town = Region.objects.get(code="310151101")
    assert town.name == "示范1镇" and town.parent == county
    group = Region.objects.get(code="31015110100101")
    assert group.level == "group" and group.parent.code == "310151101001" and group.name == "第1组"

    job = ImportJob.objects.get()
    assert job.state == ImportJob.State.LOADED and job.fingerprint == report.fingerprint
    assert job.county_code == "310151" and job.counts["DK"] == 12


def test_folder_and_zip_give_the_same_fingerprint_and_reimport_is_a_no_op(tmp_path: Path) -> None:
    root = sample_package().write(tmp_path / "a")
    first = PackageImporter(root).run()
    assert first.status == Status.LOADED
    before = register_counts()
    archive = zip_folder(root, tmp_path / "310151示范区.zip")
    again = PackageImporter(archive).run()
    assert again.status == Status.UNCHANGED, again.to_json()
    assert again.fingerprint == first.fingerprint
    assert again.accepted and "内容相同" in " ".join(again.notes)
    assert register_counts() == before


def test_a_different_package_for_a_loaded_county_is_refused_unless_replace(tmp_path: Path) -> None:
    PackageImporter(sample_package().write(tmp_path / "a")).run()
    before = register_counts()
    changed = sample_package()
    changed.layers["DK"].rows[0]["DKMC"] = "改名的地块"
    root = changed.write(tmp_path / "b")
    refused = PackageImporter(root).run()
    assert refused.status == Status.REJECTED
    assert rules(refused, "structural") == {"already_loaded"}
    assert "--replace" in refused.problems[0].message
    assert register_counts() == before

    replaced = PackageImporter(root, replace=True).run()
    assert replaced.status == Status.LOADED, replaced.to_json()
    assert register_counts() == before  # same number of rows: replaced, not added
    assert Parcel.objects.get(code=changed.layers["DK"].rows[0]["DKBM"]).name == "改名的地块"
    assert any("替换模式" in n for n in replaced.notes)


def test_split_dk_files_are_read_as_one_layer(tmp_path: Path) -> None:
    data = sample_package()
    data.layers["DK"].split = 3
    root = data.write(tmp_path)
    assert (root / "矢量数据" / "DK3101512020-2.shp").exists()
    report = PackageImporter(root).run()
    assert report.status == Status.LOADED, report.to_json()
    assert Parcel.objects.count() == 12


def test_utf8_text_with_a_cpg_and_unprefixed_zone(tmp_path: Path) -> None:
    """A .cpg saying UTF-8 is honoured; CGCS2000 3° CM 120E without the zone prefix (4549)."""
    data = sample_package()
    for layer in data.layers.values():
        layer.encoding = "utf-8"
        layer.cpg = "UTF-8"
        layer.geoms = [
            shapely.to_wkb(shapely.transform(shapely.from_wkb(g), lambda xy: xy - [40_000_000, 0])) for g in layer.geoms
        ]
    data.srid = 4549
    root = data.write(tmp_path)
    report = PackageImporter(root).run()
    assert report.status == Status.LOADED, report.to_json()
    assert Parcel.objects.filter(name="东大田1号").count() >= 1
    assert Region.objects.get(code="310151").area_srid == 4549


def test_xian80_zone_is_transformed_with_a_note(tmp_path: Path) -> None:
    data = sample_package()
    data.srid = 2364  # Xian 1980 3-degree zone 40
    root = data.write(tmp_path)
    report = PackageImporter(root).run()
    assert report.status == Status.LOADED, report.to_json()
    assert any("1980西安坐标系" in n and "ballpark" in n for n in report.notes)
    parcel = Parcel.objects.order_by("code").first()
    assert parcel is not None and 120.9 < parcel.geom.centroid.x < 121.1 and 31.5 < parcel.geom.centroid.y < 31.7


def test_real_farm_shapes_load_with_their_quality_problems_flagged(tmp_path: Path) -> None:
    """The Swellendam cadastre, moved into zone 40: 2 008 parcels, of which 10 multi-part,
    16 invalid, and thousands of overlapping pairs (farms and their portions)."""
    data = farms_package()
    root = data.write(tmp_path)
    report = PackageImporter(root).run()
    assert report.status == Status.LOADED, [p for p in report.problems if p.severity == "structural"][:5]
    by_rule = report.as_dict()["summary"]["by_rule"]
    assert by_rule["quality:geometry_multipart"] == 10
    assert by_rule["quality:geometry_invalid"] == 16
    assert by_rule["quality:overlap"] > 3000
    assert "quality:area_mismatch" not in by_rule  # SCMJ was measured from the same shapes
    assert Parcel.objects.count() == 2008
    # Areas survive the move to EPSG:4490 within 0.01 % (measured back in zone 40).
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT max(abs(ST_Area(ST_Transform(geom, %s)) - scmj) / scmj) FROM dk WHERE ST_IsValid(geom)",
            [SRID],
        )
        (worst,) = cursor.fetchone()
    assert worst < 1e-4
    overlap = next(p for p in report.problems if p.rule == "overlap")
    assert overlap.layer == "DK" and overlap.file == "矢量数据/DK3101512020.shp" and len(overlap.feature) == 19


def test_strict_mode_rejects_the_farms_for_their_quality_problems(tmp_path: Path) -> None:
    root = farms_package(limit=300).write(tmp_path)
    before = register_counts()
    report = PackageImporter(root, strict=True).run()
    assert report.status == Status.REJECTED
    assert not rules(report, "structural") and "overlap" in rules(report, "quality")
    assert register_counts() == before


def test_missing_optional_layers_and_fields_are_quality_problems(tmp_path: Path) -> None:
    data = sample_package()
    data.layers["DK"].fields = [f for f in data.layers["DK"].fields if f[0] != "SCMJM"]
    data.metadata = None
    del data.layers["QYJX"]
    report = PackageImporter(data.write(tmp_path)).run()
    assert report.status == Status.LOADED
    assert {"field_missing", "metadata", "layer_missing"} <= rules(report, "quality")
    assert Parcel.objects.filter(surveyed_area_mu__isnull=True).count() == 12


def test_reference_layers_are_loaded_for_the_county(tmp_path: Path) -> None:
    from layers.models import BasicFarmlandZone, RegionBoundary

    data = sample_package()
    data.layers["JBNTBHQ"].rows[0].update(JBNTMJ=Decimal("19200.00"), JBNTMJM=Decimal("28.80"))
    report = PackageImporter(data.write(tmp_path)).run()
    assert report.status == Status.LOADED, report.to_json()
    assert "layer_missing" not in rules(report)
    boundary = RegionBoundary.objects.get()
    assert boundary.county_id == "310151" and boundary.kind == "650200" and boundary.geom.geom_type == "MultiLineString"
    assert BasicFarmlandZone.objects.get().area == Decimal("19200.00")


def test_gauss_kruger_zones_are_identified_from_esri_and_ogc_wkt() -> None:
    from pyproj import CRS

    for code in (4513, 4528, 4533, 4534, 4549, 4554, 4491, 4512, 2349, 2364, 2370, 2390):
        for flavour in ("WKT1_ESRI", "WKT2_2019"):
            gk = identify_crs(CRS.from_epsg(code).to_wkt(flavour))
            assert (gk.central_meridian, gk.prefixed) == (
                GAUSS_KRUGER[code].central_meridian,
                GAUSS_KRUGER[code].prefixed,
            )
    assert "带号" in (check_extent(GAUSS_KRUGER[4549], (40_500_000, 3_500_000, 40_500_100, 3_500_100)) or "")
    assert check_extent(GAUSS_KRUGER[4528], (40_500_000, 3_500_000, 40_500_100, 3_500_100)) is None
    # A layer of null shapes only has a zero extent: not a zone problem (its shapes are missing).
    assert check_extent(GAUSS_KRUGER[4528], (0.0, 0.0, 0.0, 0.0)) is None


def test_command_exit_status_and_report_files(tmp_path: Path) -> None:
    root = sample_package().write(tmp_path)
    out = tmp_path / "report.json"
    call_command("import_package", str(root), "--report", str(out), "--no-progress")
    loaded = json.loads(out.read_text(encoding="utf-8"))
    assert loaded["status"] == "loaded" and loaded["counts"]["DK"] == 12

    broken = sample_package()
    broken.layers["DK"].rows[1]["DKBM"] = broken.layers["DK"].rows[0]["DKBM"]
    broken_root = broken.write(tmp_path / "broken")
    html = tmp_path / "report.html"
    with pytest.raises(CommandError) as exc:
        call_command("import_package", str(broken_root), "--report", str(html), "--no-progress", "--replace")
    assert exc.value.returncode == 1
    page = html.read_text(encoding="utf-8")
    assert "已拒绝" in page and "编码重复" in page and "<table" in page


def test_inspect_runs_the_quality_engine_after_the_commit(tmp_path: Path) -> None:
    from layers.models import InspectionRun

    report = PackageImporter(sample_package().write(tmp_path), inspect=True).run()
    assert report.status == Status.LOADED
    run = InspectionRun.objects.get()
    assert run.scope == "310151" and run.parcels_checked == 12
    assert any(f"质检记录 #{run.pk}" in n for n in report.notes)


@pytest.mark.parametrize("in_process", [True, False], ids=["in-process", "spawned-process"])
def test_overlap_sweep_across_split_files_finds_every_pair(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, in_process: bool
) -> None:
    """The sweep over DK-1…DK-3, in batches of 64 (so parcels stay active across batches and
    files), reports exactly the pairs an all-against-all STR-tree query finds, each under the
    file holding its parcel; the same in the importer's process and in a spawned one."""
    import re

    import pyogrio.raw

    from layers.exchange import importer

    monkeypatch.setattr(importer, "CHUNK", 64)
    data = farms_package(limit=700)
    data.layers["DK"].split = 3
    root = data.write(tmp_path)
    report = PackageImporter(root, overlaps_in_process=in_process).run()
    assert report.status == Status.LOADED, report.to_json()

    codes, shapes, files = [], [], {}
    for path in sorted((root / "矢量数据").glob("DK*-?.shp")):
        _meta, _fids, geometry, fields = pyogrio.raw.read(str(path), columns=["DKBM"], force_2d=True)
        codes += fields[0].tolist()
        shapes += geometry.tolist()
        files.update({code: f"矢量数据/{path.name}" for code in fields[0].tolist()})
    geoms = shapely.from_wkb(shapes)
    valid = np.nonzero(shapely.is_valid(geoms))[0]
    shrunk = shapely.buffer(geoms[valid], -importer.OVERLAP_TOLERANCE_M, join_style="mitre")
    left, right = shapely.STRtree(shrunk).query(shrunk, predicate="intersects")
    expected = {tuple(sorted((codes[valid[i]], codes[valid[j]]))) for i, j in zip(left, right, strict=True) if i < j}

    found = set()
    for problem in report.problems:
        if problem.rule == "overlap":
            other = re.match(r"与地块 (\d{19}) 重叠", problem.message)
            assert other is not None and problem.feature < other.group(1)
            assert problem.file == files[problem.feature]
            found.add((problem.feature, other.group(1)))
    assert len(expected) > 500
    assert found == expected
    assert len({files[a] for a, _ in found} | {files[b] for _, b in found}) == 3  # pairs in and across files


def test_numeric_columns_fall_back_to_mdb_export_when_the_readers_disagree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The Numeric columns are read beside mdb-export and matched row by row by their key;
    rows that do not match (here: read from another county's file) are not merged: the
    table is exported again as it is, and its values load right."""
    from django.db import connection

    from layers.exchange import package as pkg
    from layers.exchange.mdb import iter_table

    root = sample_package().write(tmp_path / "a")
    other = sample_package(county="310152", county_name="邻区").write(tmp_path / "b")
    other_mdb = next((other / "权属数据").glob("*.mdb"))
    original_init = pkg.MdbExports.__init__

    def swapped(self: pkg.MdbExports, path: Path, tables: list[str], **kwargs: object) -> None:
        if kwargs.get("original") is not None:
            kwargs["original"] = other_mdb
        original_init(self, path, tables, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pkg.MdbExports, "__init__", swapped)
    with caplog.at_level("WARNING", logger="layers.exchange.importer"):
        report = PackageImporter(root).run()
    assert report.status == Status.LOADED, report.to_json()
    assert any("CBHT" in r.getMessage() and "exporting the table as it is" in r.getMessage() for r in caplog.records)
    expected = {row["CBHTBM"]: row["HTZMJ"] for row in iter_table(next((root / "权属数据").glob("*.mdb")), "CBHT")}
    with connection.cursor() as cursor:
        cursor.execute("SELECT cbhtbm, htzmj FROM cbht")
        assert dict(cursor.fetchall()) == expected and len(expected) == 6
