"""Export of the Ministry county package: folder tree, shapefiles read back by GDAL against the
template DBFs, coordinates against PostGIS, generated boundary points and lines, summary
tables, metadata, the Access database read back with mdbtools, and the download view."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyogrio.raw
import pytest
import shapely
import xlrd
from django.contrib.auth.models import User
from django.contrib.gis.geos import MultiPolygon, Polygon
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import include, path
from pyproj import CRS, Transformer

from layers import views_exchange
from layers.exchange import export as exporter
from layers.exchange.export import ExportError, export_package, table_rows
from layers.exchange.schema import MDB_TABLES, PACKAGE_FOLDERS, SHAPE_LAYERS
from layers.exchange.shapefile import export_srid
from layers.exchange.summary import TABLES, TEMPLATES
from parcels import services
from parcels.models import BoundaryPoint, Parcel, Region
from tests.conftest import COUNTY, GROUP, OTHER_GROUP, contractor_fields, head_member
from tests.test_schema import dbf_fields

TO_4490 = Transformer.from_crs(4528, 4490, always_xy=True)
TO_4528 = Transformer.from_crs(4490, 4528, always_xy=True)
E0, N0 = (round(v, 3) for v in TO_4528.transform(121.40, 31.60))  # zone 40, zone-prefixed
SRID = export_srid(4528)  # 4549: zone 40 without the prefix, see layers.exchange.export
YEAR = 2020
ROOT_NAME = f"{COUNTY}示范区"
STANDARDS = Path(__file__).resolve().parents[2] / "shared" / "reference" / "standards"
SAMPLE_XML = STANDARDS / "SL2205812016-metadata-sample.xml"

PARCEL = {"fertility": "03", "land_use": "1", "basic_farmland": "1", "category": "10"}

# The project's URLs plus the line to add to gisapp/urls.py.
urlpatterns = [
    path("exchange/export", views_exchange.package_export, name="exchange-export"),
    path("", include("gisapp.urls")),
]


def square(e0: float, n0: float, size: float) -> Polygon:
    """A square of ``size`` metres in zone 40 (EPSG:4528, clockwise from SW), in 4490."""
    ring = [(e0, n0), (e0, n0 + size), (e0 + size, n0 + size), (e0 + size, n0), (e0, n0)]
    return Polygon([TO_4490.transform(x, y) for x, y in ring], srid=4490)


@pytest.fixture
def register(county: dict[str, str]) -> dict[str, Any]:
    """Two adjacent 100 m squares A|B contracted by one household in GROUP, a 自留地 C in
    OTHER_GROUP; the contract registered and its certificate issued."""
    a = services.parcel_create(actor=None, collective_code=GROUP, geom=square(E0, N0, 100), name="东大田", **PARCEL)
    b = services.parcel_create(
        actor=None, collective_code=GROUP, geom=square(E0 + 100, N0, 100), name="西小田", **PARCEL
    )
    c = services.parcel_create(
        actor=None,
        collective_code=OTHER_GROUP,
        geom=square(E0, N0 + 300, 50),
        name="自留地",
        **(PARCEL | {"category": "21", "land_use": "2", "basic_farmland": "2"}),
    )
    household = services.contractor_create(
        actor=None,
        collective_code=GROUP,
        kind="1",
        members=[
            head_member("王大", "310151196001011234"),
            {"name": "李二", "sex": "2", "id_type": "1", "id_number": "310151196202021220", "relation": "10"},
        ],
        **contractor_fields("王大", "310151196001011234"),
    )
    contract = services.contract_create(
        actor=None,
        contractor_code=household.code,
        method="110",
        term_start=dt.date(2018, 1, 1),
        term_end=services.LONG_TERM_END,
        signed_on=dt.date(2019, 3, 1),
        parcels=[services.ParcelShare(a.code), services.ParcelShare(b.code)],
    )
    book = services.register_book_create(
        actor=None, contract_code=contract.code, registrar="登簿员", registered_on=dt.date(2019, 4, 1), serial="沪0001"
    )
    services.certificate_issue(
        actor=None, register_code=book.code, authority="示范区人民政府", issued_on=dt.date(2019, 5, 1)
    )
    # Region layers hold the regions that have a shape (the others travel in the code table).
    Region.objects.filter(code__startswith=COUNTY).update(geom=MultiPolygon(square(E0 - 1000, N0 - 1000, 3000)))
    return {"a": a, "b": b, "c": c, "household": household, "contract": contract}


@pytest.fixture
def package(register: dict[str, Any], tmp_path: Path) -> exporter.PackageResult:
    return export_package(county=COUNTY, year=YEAR, out_dir=tmp_path, make_zip=True)


def vector(result: exporter.PackageResult, layer: str) -> Path:
    return result.root / "矢量数据" / f"{layer}{COUNTY}{YEAR}.shp"


def read_layer(shp: Path) -> tuple[list[dict[str, Any]], list[Any]]:
    """Features read by GDAL (pyogrio): attribute dicts and shapely geometries."""
    meta, _, geometry, columns = pyogrio.raw.read(shp)
    names = list(meta["fields"])
    rows = [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)] if names else []
    return rows, list(shapely.from_wkb(geometry))


def projected(sql_where: str, params: list[Any]) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT dkbm, ST_AsBinary(ST_Transform(geom, %s)) FROM dk WHERE {sql_where}", [SRID, *params])
        return {code: shapely.from_wkb(bytes(wkb)) for code, wkb in cursor.fetchall()}


# --- the folder tree -----------------------------------------------------------------------


@pytest.mark.django_db
def test_package_tree_and_zip(package: exporter.PackageResult) -> None:
    root = package.root
    assert root.name == ROOT_NAME
    assert sorted(p.name for p in root.iterdir()) == sorted(PACKAGE_FOLDERS)
    names = {p.name for p in (root / "矢量数据").iterdir()}
    for layer in ("DK", "JZD", "JZX", "XJXZQ", "QYJX", "JBNTBHQ", "XJQY", "CJQY", "ZJQY"):
        for suffix in (".shp", ".shx", ".dbf", ".prj"):
            assert f"{layer}{COUNTY}{YEAR}{suffix}" in names
    assert not any(n.endswith(".cpg") for n in names)  # as the template: the LDID byte says GBK
    assert f"SL{COUNTY}{YEAR}.xml" in names
    # Optional layers we hold nothing of are left out; required ones are written empty.
    assert f"KZD{COUNTY}{YEAR}.shp" not in names
    assert package.layers["QYJX"] == 0 and f"QYJX{COUNTY}{YEAR}.shp" in names
    assert {p.name for p in (root / "权属数据").iterdir()} == {
        f"{COUNTY}{YEAR}.mdb",
        f"{COUNTY}{YEAR}权属单位代码表.xls",
    }
    assert {p.name for p in (root / "汇总表格").iterdir()} == {f"{ROOT_NAME}{t.title}.xls" for t in TABLES}
    assert not list(root.parent.glob(".*partial"))
    with zipfile.ZipFile(package.zip_path) as archive:
        members = archive.namelist()
        assert all(m.startswith(ROOT_NAME + "/") for m in members)
        assert {f"{ROOT_NAME}/{folder}/" for folder in PACKAGE_FOLDERS} <= set(members)
        assert f"{ROOT_NAME}/矢量数据/DK{COUNTY}{YEAR}.dbf" in members
        assert all(info.flag_bits & 0x800 for info in archive.infolist())  # UTF-8 names


@pytest.mark.django_db
def test_the_command_writes_the_package_and_the_zip(register: dict[str, Any], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    call_command("export_package", "--county", COUNTY, "--year", str(YEAR), "--out", str(tmp_path), "--zip")
    assert (tmp_path / ROOT_NAME / "矢量数据" / f"DK{COUNTY}{YEAR}.shp").exists()
    assert (tmp_path / f"{ROOT_NAME}.zip").exists()
    captured = capsys.readouterr()
    assert "DK 地块" in captured.err  # the progress bar
    assert "已导出" in captured.out
    with pytest.raises(Exception, match="已存在"):
        call_command("export_package", "--county", COUNTY, "--year", str(YEAR), "--out", str(tmp_path))


# --- shapefiles ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_dbf_headers_equal_the_template_dbfs(package: exporter.PackageResult) -> None:
    for layer in ("DK", "JZD", "JZX"):
        ours = vector(package, layer).with_suffix(".dbf").read_bytes()
        template = (TEMPLATES / f"{layer}.dbf").read_bytes()
        assert dbf_fields(vector(package, layer).with_suffix(".dbf")) == dbf_fields(TEMPLATES / f"{layer}.dbf")
        # Byte for byte after the date and record count: lengths, LDID, every descriptor.
        header_len = int.from_bytes(template[8:10], "little")
        assert ours[8:header_len] == template[8:header_len]
    for name, layer in SHAPE_LAYERS.items():
        dbf = vector(package, name).with_suffix(".dbf")
        if dbf.exists():
            declared = [(f.name, f.kind, f.width, f.decimals) for f in layer.fields]
            assert dbf_fields(dbf) == declared, name
            data = dbf.read_bytes()
            assert data[29] == 0x4D, f"{name}: language driver byte"
            assert int.from_bytes(data[4:8], "little") == package.layers[name]
            assert data[-1] == 0x1A


@pytest.mark.django_db
def test_gdal_reads_the_layers_with_chinese_text(package: exporter.PackageResult, register: dict[str, Any]) -> None:
    summary = subprocess.run(
        ["ogrinfo", "-al", "-so", str(vector(package, "DK"))], capture_output=True, text=True, check=True
    ).stdout
    assert "Feature Count: 3" in summary
    assert "Geometry: Polygon" in summary
    assert "DKMC: String (50.0)" in summary and "SCMJ: Real (16.2)" in summary
    full = subprocess.run(["ogrinfo", "-al", "-q", str(vector(package, "DK"))], capture_output=True, text=True).stdout
    assert "DKMC (String) = 东大田" in full
    shapefile_md = subprocess.run(
        ["ogrinfo", "-al", "-so", "-mdd", "SHAPEFILE", str(vector(package, "DK"))], capture_output=True, text=True
    ).stdout
    assert "ENCODING_FROM_LDID=CP936" in shapefile_md and "LDID_VALUE=77" in shapefile_md
    assert pyogrio.read_info(vector(package, "DK"))["features"] == 3
    rows, _ = read_layer(vector(package, "DK"))
    by_code = {row["DKBM"]: row for row in rows}
    a = register["a"]
    assert by_code[a.code]["DKMC"] == "东大田"
    assert by_code[a.code]["YSDM"] == "211011"
    assert Decimal(str(by_code[a.code]["SCMJ"])) == a.surveyed_area
    assert Decimal(str(by_code[a.code]["SCMJM"])) == a.surveyed_area_mu
    regions, _ = read_layer(vector(package, "ZJQY"))
    assert {(r["ZJQYDM"], r["ZJQYMC"]) for r in regions} == {(GROUP, "东村一组"), (OTHER_GROUP, "西村一组")}


@pytest.mark.django_db
def test_prj_is_the_countys_zone_and_coordinates_match_postgis(package: exporter.PackageResult) -> None:
    for layer in ("DK", "JZD", "JZX", "XJXZQ"):
        wkt = vector(package, layer).with_suffix(".prj").read_text()
        assert wkt.startswith('PROJCS["CGCS2000_3_Degree_GK_CM_120E"')
        assert CRS.from_wkt(wkt).to_epsg() == SRID == 4549
    rows, shapes = read_layer(vector(package, "DK"))
    expected = projected("dkbm LIKE %s", [COUNTY + "%"])
    for row, shape in zip(rows, shapes, strict=True):
        assert shape.geom_type == "Polygon"  # single part
        assert not shapely.is_ccw(shape.exterior)  # clockwise outer ring
        target = expected[row["DKBM"]]
        assert shapely.get_num_coordinates(shape) == shapely.get_num_coordinates(target)
        assert shapely.hausdorff_distance(shape, target) < 0.001
    assert package.layers["DK"] == 3


@pytest.mark.django_db
def test_multipart_regions_with_holes_keep_their_rings(register: dict[str, Any], tmp_path: Path) -> None:
    """Region layers may be multi-part: one record with several outer rings (clockwise) and
    their holes (counter-clockwise), as the shapefile format has them."""
    outer = square(E0 - 1000, N0 - 1000, 3000)
    hole = square(E0 - 500, N0 - 500, 200)
    island = square(E0 + 5000, N0, 400)
    county_shape = MultiPolygon(Polygon(outer.exterior_ring, hole.exterior_ring, srid=4490), island, srid=4490)
    Region.objects.filter(code=COUNTY).update(geom=county_shape)
    result = export_package(county=COUNTY, year=YEAR, out_dir=tmp_path)
    rows, shapes = read_layer(vector(result, "XJXZQ"))
    assert rows == [{"BSM": 1, "YSDM": "162010", "XZQDM": COUNTY, "XZQMC": "示范区"}]
    shape = shapes[0]
    assert shape.geom_type == "MultiPolygon" and len(shape.geoms) == 2
    with_hole = max(shape.geoms, key=lambda g: g.area)
    assert not shapely.is_ccw(with_hole.exterior) and shapely.is_ccw(with_hole.interiors[0])
    with connection.cursor() as cursor:
        cursor.execute("SELECT ST_AsBinary(ST_Transform(geom, %s)) FROM region WHERE qydm = %s", [SRID, COUNTY])
        expected = shapely.from_wkb(bytes(cursor.fetchone()[0]))
    assert shapely.hausdorff_distance(shape, expected) < 0.001
    assert shape.area == pytest.approx(expected.area, rel=1e-9)


@pytest.mark.django_db
def test_generated_boundary_points_lines_and_key_points(
    package: exporter.PackageResult, register: dict[str, Any]
) -> None:
    a, b, c = register["a"].code, register["b"].code, register["c"].code
    assert package.generated_jzdx
    points, point_shapes = read_layer(vector(package, "JZD"))
    # A|B share an edge: 6 points, plus C's 4.
    assert [p["JZDH"] for p in points] == [f"J{n}" for n in range(1, 11)]
    assert [p["BSM"] for p in points] == list(range(1, 11))
    for point, shape in zip(points, point_shapes, strict=True):
        assert point["XZBZ"] == pytest.approx(shape.y, abs=5e-4)  # X = northing
        assert point["YZBZ"] == pytest.approx(shape.x, abs=5e-4)  # Y = easting
        assert point["YSDM"] == "211021" and point["JZDLX"] == "3"
    shared = {p["JZDH"] for p in points if p["DKBM"] == f"{a}/{b}"}
    assert shared == {"J2", "J3"}  # A's NE and SE corners
    # Every point is within 1 mm of a vertex of each parcel it names.
    parcels = projected("dkbm LIKE %s", [COUNTY + "%"])
    for point, shape in zip(points, point_shapes, strict=True):
        for code in point["DKBM"].split("/"):
            vertices = shapely.points(shapely.get_coordinates(parcels[code]))
            assert shapely.distance(shape, vertices).min() < 0.001
    # KJZB: clockwise from the NW corner.
    rows, _ = read_layer(vector(package, "DK"))
    kjzb = {row["DKBM"]: row["KJZB"] for row in rows}
    assert kjzb == {a: "J1/J2/J3/J4", b: "J2/J5/J6/J3", c: "J7/J8/J9/J10"}
    lines, line_shapes = read_layer(vector(package, "JZX"))
    assert len(lines) == 4 + 3 + 4
    middle = [line for line in lines if line["DKBM"] == f"{a}/{b}"]
    assert len(middle) == 1
    assert (middle[0]["QJZDH"], middle[0]["ZJZDH"]) == ("J2", "J3")  # A's clockwise direction
    assert middle[0]["PLDWQLR"] == "王大/王大"
    assert middle[0]["JZXWZ"] == "2" and middle[0]["JZXSM"] == "J2至J3"
    for line, shape in zip(lines, line_shapes, strict=True):
        assert shape.geom_type == "LineString" and len(shape.coords) == 2
        assert line["YSDM"] == "211031"


@pytest.mark.django_db
def test_lines_of_overlapping_parcels_list_every_parcel(register: dict[str, Any], tmp_path: Path) -> None:
    """Two more copies of A (an overlap that inspection reports): A's west edge then has
    three parcels, listed in DKBM order with their owners."""
    # Overlaps only arrive through imports (the editing services refuse them): insert directly.
    a = register["a"]
    copies = [
        Parcel.objects.create(
            code=services.next_parcel_code(GROUP),
            name=name,
            geom=a.geom,
            surveyed_area=a.surveyed_area,
            surveyed_area_mu=a.surveyed_area_mu,
            **PARCEL,
        )
        for name in ("甲", "乙")
    ]
    result = export_package(county=COUNTY, year=YEAR, out_dir=tmp_path)
    codes = "/".join(sorted([register["a"].code, *(c.code for c in copies)]))
    lines, _ = read_layer(vector(result, "JZX"))
    west = [line for line in lines if line["DKBM"] == codes]
    assert len(west) == 3  # A's west, north and south edges; the east one also has B
    assert {line["PLDWQLR"] for line in west} == {"王大/东村一组/东村一组"}
    points, _ = read_layer(vector(result, "JZD"))
    assert sum(p["DKBM"] == codes for p in points) == 2


@pytest.mark.django_db
def test_held_boundary_points_are_exported_as_held(register: dict[str, Any], tmp_path: Path) -> None:
    a = register["a"]
    BoundaryPoint.objects.create(
        number="A1",
        point_type="1",
        parcel_codes=a.code,
        x=Decimal("0"),
        y=Decimal("0"),
        geom=a.geom.centroid,
    )
    result = export_package(county=COUNTY, year=YEAR, out_dir=tmp_path)
    assert not result.generated_jzdx
    points, shapes = read_layer(vector(result, "JZD"))
    assert [p["JZDH"] for p in points] == ["A1"]
    assert points[0]["XZBZ"] == pytest.approx(shapes[0].y, abs=5e-4)
    assert points[0]["YZBZ"] == pytest.approx(shapes[0].x, abs=5e-4)
    assert 3_000_000 < points[0]["XZBZ"] < 4_000_000 and 100_000 < points[0]["YZBZ"] < 1_000_000
    assert result.layers["JZX"] == 0
    rows, _ = read_layer(vector(result, "DK"))
    assert {row["KJZB"] for row in rows} == {None}  # stored KJZB (empty) as held


# --- errors ------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name,message",
    [
        ("东" * 26, "长度 52 字节超过字段宽度 50"),  # 26 characters fit the model, not the 50-byte DBF field
        ("𠮷野家", "GBK无法表示的字符"),
    ],
)
def test_a_value_that_does_not_fit_is_an_export_error(
    register: dict[str, Any], tmp_path: Path, name: str, message: str
) -> None:
    code = register["a"].code
    Parcel.objects.filter(code=code).update(name=name)
    with pytest.raises(ExportError, match=message) as err:
        export_package(county=COUNTY, year=YEAR, out_dir=tmp_path)
    assert (err.value.layer, err.value.feature, err.value.field) == ("DK", code, "DKMC")
    assert f"DK 图层要素 {code} 的字段 DKMC" in str(err.value)
    assert list(tmp_path.iterdir()) == []  # nothing half-written


@pytest.mark.django_db
def test_multipart_parcels_are_refused(register: dict[str, Any], tmp_path: Path) -> None:
    a = register["a"]
    two = MultiPolygon(square(E0, N0, 10), square(E0 + 500, N0, 10), srid=4490)
    Parcel.objects.filter(code=a.code).update(geom=two)
    with pytest.raises(ExportError, match=f"多部件图形.*{a.code}"):
        export_package(county=COUNTY, year=YEAR, out_dir=tmp_path)


@pytest.mark.django_db
def test_unknown_county_and_existing_folder(register: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="不存在"):
        export_package(county="999999", year=YEAR, out_dir=tmp_path)
    export_package(county=COUNTY, year=YEAR, out_dir=tmp_path)
    with pytest.raises(ExportError, match="已存在"):
        export_package(county=COUNTY, year=YEAR, out_dir=tmp_path)
    export_package(county=COUNTY, year=YEAR, out_dir=tmp_path, overwrite=True)


# --- tables, summaries, metadata -----------------------------------------------------------


def sheet_rows(path: Path) -> tuple[Any, list[list[Any]]]:
    sheet = xlrd.open_workbook(str(path), formatting_info=True).sheet_by_index(0)
    return sheet, [sheet.row_values(r) for r in range(sheet.nrows)]


@pytest.mark.django_db
def test_code_table(package: exporter.PackageResult) -> None:
    _, rows = sheet_rows(package.root / "权属数据" / f"{COUNTY}{YEAR}权属单位代码表.xls")
    assert rows[0] == ["权属单位代码", "权属单位名称"]
    assert rows[1:] == [
        ["31015100000000", "示范区"],
        ["31015110100000", "示范区示范镇"],
        ["31015110100100", "示范区示范镇东村"],
        [GROUP, "示范区示范镇东村东村一组"],
        ["31015110100200", "示范区示范镇西村"],
        [OTHER_GROUP, "示范区示范镇西村西村一组"],
    ]


@pytest.mark.django_db
def test_summary_tables_copy_the_template_headers_and_add_up(
    package: exporter.PackageResult, register: dict[str, Any]
) -> None:
    tables = {}
    for table in TABLES:
        sheet, rows = sheet_rows(package.root / "汇总表格" / f"{ROOT_NAME}{table.title}.xls")
        template, template_rows = sheet_rows(TEMPLATES / f"{table.title}.xls")
        assert rows[: table.header_rows] == template_rows[: table.header_rows], table.title
        header_merges = sorted(m for m in template.merged_cells if m[0] < table.header_rows)
        assert sorted(sheet.merged_cells) == header_merges, table.title
        data = {row[0]: row[2:] for row in rows[table.header_rows :]}
        assert list(data) == [
            "31015100000000",
            "31015110100000",
            "31015110100100",
            GROUP,
            "31015110100200",
            OTHER_GROUP,
        ]
        # Upward aggregation: county = town = the two villages; village = its group.
        for col in range(len(data[GROUP])):
            assert data["31015100000000"][col] == pytest.approx(data["31015110100000"][col], abs=0.05)
            assert data["31015110100000"][col] == pytest.approx(
                data["31015110100100"][col] + data["31015110100200"][col], abs=0.05
            )
            assert data["31015110100100"][col] == pytest.approx(data[GROUP][col], abs=0.05)
        tables[table.title] = data
    a, b, c = register["a"], register["b"], register["c"]
    ab_mu = float(a.surveyed_area_mu + b.surveyed_area_mu)
    assert tables["按地块汇总表"][GROUP] == [1, 2, pytest.approx(ab_mu), 0, 0, 1]
    assert tables["按地块汇总表"][OTHER_GROUP] == [1, 0, 0, 1, pytest.approx(float(c.surveyed_area_mu)), 0]
    for unit, row in tables["按地块汇总表"].items():
        assert tables["按承包地土地用途汇总表"][unit][-1] == pytest.approx(row[2], abs=0.05)
        assert tables["按承包地是否基本农田汇总表"][unit][-1] == pytest.approx(row[2], abs=0.05)
        assert tables["按非承包地地块类别汇总表"][unit][-1] == pytest.approx(row[4], abs=0.05)
        assert tables["按权证信息汇总表"][unit][0] == row[5]
    assert tables["按承包地土地用途汇总表"][GROUP][:2] == [pytest.approx(ab_mu), pytest.approx(ab_mu)]
    assert tables["按非承包地地块类别汇总表"][OTHER_GROUP][0] == pytest.approx(float(c.surveyed_area_mu))
    assert tables["按承包方汇总表"][GROUP] == [1, 1, 2, 0, 0, 0]
    contract = register["contract"]
    assert tables["按权证信息汇总表"][GROUP] == [1, 1, 0, pytest.approx(float(contract.total_area_mu))]


def _shape_of(element: ET.Element) -> list[Any]:
    return [element.tag, [_shape_of(child) for child in element if child.tag != "layer"]]


@pytest.mark.django_db
def test_metadata_has_the_samples_structure(package: exporter.PackageResult) -> None:
    raw = (package.root / "矢量数据" / f"SL{COUNTY}{YEAR}.xml").read_bytes()
    assert raw.startswith(b'\xef\xbb\xbf<?xml version="1.0" encoding="utf-8"?>')
    ours = ET.fromstring(raw)
    sample = ET.fromstring(SAMPLE_XML.read_bytes())
    assert _shape_of(ours) == _shape_of(sample)
    sample_layers = {layer.findtext("layerName"): layer for layer in sample.iter("layer")}
    our_layers = {layer.findtext("layerName"): layer for layer in ours.iter("layer")}
    assert list(our_layers) == [name for name in sample_layers if name != "ZJ"]
    for name, layer in our_layers.items():
        assert [child.tag for child in layer] == [child.tag for child in sample_layers[name]]
        assert layer.findtext("catFetTyps") == sample_layers[name].findtext("catFetTyps")
        ours_fields = [f.text for f in layer.iter("fieldID")]
        theirs = [f.text for f in sample_layers[name].iter("fieldID")]
        assert len(ours_fields) == len(theirs), name
        if name != "KZD":  # the sample spells the Xian-80 fields X(E)_XA80
            assert sorted(ours_fields) == sorted(theirs), name
    assert ours.findtext("dataIdInfo/geoID") == COUNTY
    assert ours.findtext("refSysInfo/centralMer") == "120"
    assert ours.findtext("refSysInfo/eastFAL") == "500.0"
    assert ours.findtext("refSysInfo/coorFDKD") == "002"
    assert our_layers["DK"].findtext("capacity") == "3"
    assert "DK" in ours.findtext("dataIdInfo/idAbs")


@pytest.mark.django_db
def test_mdb_reads_back_with_mdbtools(package: exporter.PackageResult, register: dict[str, Any]) -> None:
    from layers.exchange.mdb import read_mdb

    mdb = package.root / "权属数据" / f"{COUNTY}{YEAR}.mdb"
    tables = subprocess.run(["mdb-tables", "-1", str(mdb)], capture_output=True, text=True, check=True).stdout.split()
    assert sorted(tables) == sorted(MDB_TABLES)
    cbf_csv = subprocess.run(["mdb-export", str(mdb), "CBF"], capture_output=True, text=True, check=True).stdout
    assert "王大" in cbf_csv and register["household"].code in cbf_csv
    back = read_mdb(mdb)
    for name in MDB_TABLES:
        expected = [{k: v for k, v in row.items()} for row in table_rows(name, COUNTY)]
        assert len(back[name]) == len(expected) == package.tables[name], name
        for got, want in zip(back[name], expected, strict=True):
            assert {k: got.get(k) for k in want} == want, name
    assert package.tables["CBDKXX"] == 2 and package.tables["CBF_JTCY"] == 2


# --- the demo county -----------------------------------------------------------------------


@pytest.mark.django_db
def test_demo_county_exports_consistently(tmp_path: Path) -> None:
    from parcels import demo

    demo.load_demo(parcels=300, seed=7, raster=False, accounts=False)
    result = export_package(county=demo.DEMO_COUNTY, year=YEAR, out_dir=tmp_path)
    assert result.layers["DK"] == Parcel.objects.filter(code__startswith=demo.DEMO_COUNTY, status="current").count()
    points, point_shapes = read_layer(vector(result, "JZD"))
    number = {p["JZDH"]: (shape, set(p["DKBM"].split("/"))) for p, shape in zip(points, point_shapes, strict=True)}
    assert len(number) == len(points)
    rows, shapes = read_layer(vector(result, "DK"))
    for row, shape in zip(rows, shapes, strict=True):
        assert not shapely.is_ccw(shape.exterior)
        keys = row["KJZB"].split("/")
        assert len(keys) >= 3 and len(row["KJZB"]) <= 254
        for key in keys:
            assert row["DKBM"] in number[key][1]
        # The key points run clockwise: their polygon has a negative signed area.
        ring = [number[key][0].coords[0] for key in keys]
        signed = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1], strict=True))
        assert signed < 0, row["DKBM"]
    lines, _ = read_layer(vector(result, "JZX"))
    for line in lines:
        for code in line["DKBM"].split("/"):
            assert code in number[line["QJZDH"]][1] and code in number[line["ZJZDH"]][1]
    # Demo parcels share vertices with their neighbours: most lines have two parcels.
    assert sum("/" in line["DKBM"] for line in lines) > len(lines) / 3
    assert result.tables["CBF"] > 0


# --- the download --------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_download_for_data_staff_only(register: dict[str, Any], make_user: Callable[..., User], client: Client) -> None:
    url = f"/exchange/export?county={COUNTY}&year={YEAR}"
    anonymous = client.get(url)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/accounts/login/")
    client.force_login(make_user("clerk", COUNTY))
    assert client.get(url).status_code == 403
    client.force_login(make_user("data_staff", OTHER_GROUP[:12]))  # a village: not the whole county
    assert client.get(url).status_code == 403
    client.force_login(make_user("data_staff", COUNTY))
    response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert "filename*=utf-8''310151%E7%A4%BA%E8%8C%83%E5%8C%BA.zip" in response["Content-Disposition"]
    body = b"".join(response.streaming_content)
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert f"{ROOT_NAME}/矢量数据/DK{COUNTY}{YEAR}.shp" in archive.namelist()
    assert client.get(f"/exchange/export?county=31&year={YEAR}").status_code == 400
