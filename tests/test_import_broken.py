"""A corpus of broken county packages: each is refused with its own specific problem, and
the register is exactly as it was (rows of every register table counted before and after,
with another county already loaded so that the counts are not all zero)."""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
import shapely

from layers.exchange.importer import PackageImporter, register_counts
from layers.exchange.report import ImportReport, Status
from tests.fixtures.package_builder import FARMS, PackageData, esri_prj, sample_package, zip_folder

pytestmark = pytest.mark.django_db

VECTOR = "矢量数据"
OWNERSHIP = "权属数据"


@pytest.fixture
def neighbour_loaded(tmp_path: Path) -> dict[str, int]:
    """County 310152 loaded before each broken import; returns the register's counts."""
    report = PackageImporter(sample_package(county="310152", county_name="邻区").write(tmp_path / "neighbour")).run()
    assert report.status == Status.LOADED, report.to_json()
    counts = register_counts()
    assert counts["dk"] == 12 and counts["fbf"] == 2
    return counts


@dataclass
class Case:
    """A broken package: how to break it, and the problem it must be refused with."""

    name: str
    rule: str
    severity: str = "structural"
    mutate_data: Callable[[PackageData], None] | None = None
    mutate_files: Callable[[Path, Path], Path] | None = None  # (root, tmp) -> path to import
    strict: bool = False
    message: str = ""  # a fragment the problem's message must contain
    layer: str = ""


def dk(root: Path, ext: str) -> Path:
    return root / VECTOR / f"DK3101512020{ext}"


def _unlink(*parts: str) -> Callable[[Path, Path], Path]:
    def mutate(root: Path, tmp: Path) -> Path:
        (root.joinpath(*parts)).unlink()
        return root

    return mutate


def _truncate_shp(root: Path, tmp: Path) -> Path:
    shp = dk(root, ".shp")
    data = shp.read_bytes()
    shp.write_bytes(data[: len(data) // 2])
    return root


def _zip_with(name: str, data: bytes = b"x", *, symlink: bool = False) -> Callable[[Path, Path], Path]:
    def mutate(root: Path, tmp: Path) -> Path:
        archive = zip_folder(root, tmp / "310151示范区.zip")
        with zipfile.ZipFile(archive, "a") as zf:
            info = zipfile.ZipInfo(name)
            if symlink:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, data)
        return archive

    return mutate


def _not_a_zip(root: Path, tmp: Path) -> Path:
    path = tmp / "310151示范区.zip"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    return path


def _rename_root(root: Path, tmp: Path) -> Path:
    return root.rename(root.with_name("示范区数据"))


def _other_county_file(root: Path, tmp: Path) -> Path:
    for ext in (".shp", ".shx", ".dbf", ".prj"):
        path = root / VECTOR / f"JZD3101512020{ext}"
        path.rename(path.with_name(f"JZD3101522020{ext}"))
    return root


def _garbage_mdb(root: Path, tmp: Path) -> Path:
    (root / OWNERSHIP / "3101512020.mdb").write_bytes(b"\0" * 8192)
    return root


def _drop_rows(table: str, n: int = 1) -> Callable[[PackageData], None]:
    def mutate(data: PackageData) -> None:
        del data.tables[table][:n]

    return mutate


def _set_dk(index: int, **values: object) -> Callable[[PackageData], None]:
    def mutate(data: PackageData) -> None:
        data.layers["DK"].rows[index].update(values)

    return mutate


def _dk_fields(change: Callable[[list[tuple[str, str, int, int]]], list[tuple[str, str, int, int]]]):
    def mutate(data: PackageData) -> None:
        data.layers["DK"].fields = change(data.layers["DK"].fields)

    return mutate


def _utf8_without_cpg(data: PackageData) -> None:
    data.layers["DK"].encoding = "utf-8"


def _gbk_declared_utf8(data: PackageData) -> None:
    data.layers["DK"].cpg = "UTF-8"


def _unknown_cpg(data: PackageData) -> None:
    data.layers["DK"].cpg = "KOI8-X"


def _utm_prj(data: PackageData) -> None:
    data.layers["DK"].prj = (FARMS.with_suffix(".prj")).read_text()


def _unprefixed_prj(data: PackageData) -> None:
    data.layers["DK"].prj = esri_prj(4549)  # the coordinates carry the zone number 40


def _no_prj(data: PackageData) -> None:
    data.layers["JZX"].prj = None


def _empty_dk(data: PackageData) -> None:
    data.layers["DK"].rows = []
    data.layers["DK"].geoms = []


def _null_geometry(data: PackageData) -> None:
    data.layers["DK"].geoms[3] = None


def _no_shapes_at_all(data: PackageData) -> None:
    # Every record of the layer without a shape: the .shp header's extent is all zeros.
    layer = data.layers["JBNTBHQ"]
    layer.geoms = [None] * len(layer.geoms)


def _points_as_parcels(data: PackageData) -> None:
    data.layers["DK"].geometry_type = "Point"
    data.layers["DK"].geoms = [shapely.to_wkb(shapely.from_wkb(g).centroid) for g in data.layers["DK"].geoms]


def _fewer_dbf_records(root: Path, tmp: Path) -> Path:
    from tests.fixtures.package_builder import write_dbf

    data = sample_package()
    write_dbf(dk(root, ".dbf"), data.layers["DK"].fields, data.layers["DK"].rows[:-1])
    return root


def _missing_parcel(data: PackageData) -> None:
    data.tables["CBDKXX"][0]["DKBM"] = data.tables["CBDKXX"][0]["DKBM"][:14] + "09999"


def _reversed_term(data: PackageData) -> None:
    import datetime as dt

    data.tables["CBHT"][0]["CBQXQ"] = dt.date(2030, 1, 1)
    data.tables["CBHT"][0]["CBQXZ"] = dt.date(2020, 1, 1)


def _same_parcel_twice(data: PackageData) -> None:
    data.tables["CBDKXX"].append(dict(data.tables["CBDKXX"][0]))


def _bowtie(data: PackageData) -> None:
    x, y = shapely.from_wkb(data.layers["DK"].geoms[0]).exterior.coords[0]
    bowtie = shapely.Polygon([(x, y), (x + 40, y + 40), (x + 40, y), (x, y + 40), (x, y)])
    data.layers["DK"].geoms[0] = shapely.to_wkb(bowtie)
    data.layers["DK"].rows[0]["SCMJ"] = Decimal("800.00")
    data.layers["DK"].rows[0]["SCMJM"] = Decimal("1.20")


CASES = [
    Case("missing .shx", "file_missing", mutate_files=_unlink(VECTOR, "DK3101512020.shx"), message=".shx"),
    Case("missing .dbf", "file_missing", mutate_files=_unlink(VECTOR, "JZD3101512020.dbf"), message=".dbf"),
    Case("missing .prj", "crs_missing", mutate_data=_no_prj, message=".prj", layer="JZX"),
    Case("UTF-8 text without .cpg", "encoding", mutate_data=_utf8_without_cpg, message="UTF-8", layer="DK"),
    Case("GBK text under a UTF-8 .cpg", "encoding", mutate_data=_gbk_declared_utf8, message="不是有效的"),
    Case("unknown .cpg", "encoding", mutate_data=_unknown_cpg, message="KOI8-X"),
    Case(
        "DKBM field 18 wide",
        "field_width",
        mutate_data=_dk_fields(lambda fs: [(n, k, 18 if n == "DKBM" else w, d) for n, k, w, d in fs]),
        message="DKBM 宽度为 18",
    ),
    Case(
        "required field DKLB missing",
        "field_missing",
        mutate_data=_dk_fields(lambda fs: [f for f in fs if f[0] != "DKLB"]),
        message="DKLB",
    ),
    Case(
        "SCMJ stored as text",
        "field_type",
        mutate_data=_dk_fields(lambda fs: [(n, "C", w, 0) if n == "SCMJ" else (n, k, w, d) for n, k, w, d in fs]),
        message="SCMJ",
    ),
    Case("duplicate DKBM", "duplicate_key", mutate_data=_set_dk(1, DKBM="3101511010010100001"), message="重复"),
    Case("DKBM of 18 characters", "code_format", mutate_data=_set_dk(2, DKBM="310151101001010003"), message="18 位"),
    Case("DKBM of another county", "out_of_county", mutate_data=_set_dk(2, DKBM="3101521010010100003")),
    Case("CBDKXX pointing to a missing parcel", "reference", mutate_data=_missing_parcel, message="09999"),
    Case("CBF without its FBF", "reference", mutate_data=_drop_rows("FBF"), message="FBF"),
    Case("CBHT without its CBF", "reference", mutate_data=_drop_rows("CBF"), message="CBF"),
    Case("CBJYQZ without its CBJYQZDJB", "reference", mutate_data=_drop_rows("CBJYQZDJB"), message="CBJYQZDJB"),
    Case("contract term ends before it starts", "constraint", mutate_data=_reversed_term, message="不早于"),
    Case("a parcel twice in one contract", "duplicate_key", mutate_data=_same_parcel_twice),
    Case("SCMJ of 0", "constraint", mutate_data=_set_dk(5, SCMJ=Decimal("0.00")), message="应大于0"),
    Case("unknown CRS (UTM 33S .prj)", "crs_unknown", mutate_data=_utm_prj, message="UTM"),
    Case("zone-prefixed coordinates under an unprefixed .prj", "crs_coordinates", mutate_data=_unprefixed_prj),
    Case("truncated .shp", "shp_truncated", mutate_files=_truncate_shp, message="截断"),
    Case(".dbf with fewer records than the .shx", "shp_mismatch", mutate_files=_fewer_dbf_records),
    Case("zip member escaping with ..", "zip_unsafe", mutate_files=_zip_with("310151示范区/../../evil.txt")),
    Case("zip member with an absolute path", "zip_unsafe", mutate_files=_zip_with("/tmp/evil.txt")),
    Case(
        "zip member that is a symlink", "zip_unsafe", mutate_files=_zip_with("310151示范区/link", b"/etc", symlink=True)
    ),
    Case("not a zip", "zip_invalid", mutate_files=_not_a_zip),
    Case("empty DK layer", "layer_empty", mutate_data=_empty_dk),
    Case("DK parcel without geometry", "geometry_missing", mutate_data=_null_geometry),
    Case("a layer without any shape", "geometry_missing", mutate_data=_no_shapes_at_all, layer="JBNTBHQ"),
    Case("DK written as points", "geometry_type", mutate_data=_points_as_parcels),
    Case("no DK layer", "layer_missing", mutate_files=_unlink(VECTOR, "DK3101512020.shp"), layer="DK"),
    Case("no attribute database", "file_missing", mutate_files=_unlink(OWNERSHIP, "3101512020.mdb"), message=".mdb"),
    Case(
        "no 权属单位代码表",
        "file_missing",
        mutate_files=_unlink(OWNERSHIP, "3101512020权属单位代码表.xls"),
        message="权属单位代码表",
    ),
    Case("unreadable attribute database", "file_unreadable", mutate_files=_garbage_mdb),
    Case("folder name without county code", "package_name", mutate_files=_rename_root),
    Case("JZD file of another county", "file_name", mutate_files=_other_county_file),
    Case("code-table violation, strict", "domain", "quality", mutate_data=_set_dk(4, DKLB="77"), strict=True),
    Case("self-intersecting parcel, strict", "geometry_invalid", "quality", mutate_data=_bowtie, strict=True),
]


def _problem(report: ImportReport, case: Case) -> list[str]:
    return [
        p.message
        for p in report.problems
        if p.rule == case.rule and p.severity == case.severity and (not case.layer or p.layer == case.layer)
    ]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_broken_package_is_refused_with_its_problem_and_changes_nothing(
    case: Case, tmp_path: Path, neighbour_loaded: dict[str, int]
) -> None:
    data = sample_package()
    if case.mutate_data:
        case.mutate_data(data)
    root = data.write(tmp_path / "pkg")
    path = case.mutate_files(root, tmp_path) if case.mutate_files else root
    report = PackageImporter(path, strict=case.strict).run()

    assert report.status == Status.REJECTED
    messages = _problem(report, case)
    assert messages, f"expected {case.severity}:{case.rule}, got {[(p.rule, p.message) for p in report.problems]}"
    assert any(case.message in m for m in messages), messages
    assert register_counts() == neighbour_loaded
    assert not list(tmp_path.glob("evil*")) and not Path("/tmp/evil.txt").exists()


def test_corpus_has_at_least_twenty_distinct_breakages() -> None:
    assert len(CASES) >= 20
    assert len({c.rule for c in CASES}) >= 20


def test_quality_problems_load_without_strict(tmp_path: Path) -> None:
    """The two strict-mode cases load (and are flagged) in the default mode."""
    data = sample_package()
    _set_dk(4, DKLB="77")(data)
    _bowtie(data)
    report = PackageImporter(data.write(tmp_path)).run()
    assert report.status == Status.LOADED, report.to_json()
    flagged = {(p.rule, p.feature) for p in report.problems}
    assert ("domain", data.layers["DK"].rows[4]["DKBM"]) in flagged
    assert ("geometry_invalid", data.layers["DK"].rows[0]["DKBM"]) in flagged


def test_zip_names_in_gbk_are_read(tmp_path: Path) -> None:
    """Windows' own zip writes names in GBK without the UTF-8 flag. Python's zipfile cannot
    write such names, so ASCII placeholders of the same byte length are patched in."""
    root = sample_package().write(tmp_path / "pkg")
    archive = tmp_path / "gbk.zip"
    names: dict[bytes, bytes] = {}
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, path in enumerate(sorted(p for p in root.rglob("*") if p.is_file())):
            gbk = f"{root.name}/{path.relative_to(root).as_posix()}".encode("gbk")
            placeholder = f"@@{i:04d}@@".encode().ljust(len(gbk), b"#")
            names[placeholder] = gbk
            zf.writestr(placeholder.decode(), path.read_bytes())
    blob = archive.read_bytes()
    for placeholder, gbk in names.items():
        assert blob.count(placeholder) == 2  # local header and central directory
        blob = blob.replace(placeholder, gbk)
    archive.write_bytes(blob)
    with zipfile.ZipFile(archive) as zf:
        assert all(not i.flag_bits & 0x800 for i in zf.infolist())
    report = PackageImporter(archive).run()
    assert report.status == Status.LOADED, report.to_json()
    assert report.county_code == "310151" and report.county_name == "示范区"


def test_a_symlinked_file_in_a_folder_package_is_not_followed_out(tmp_path: Path) -> None:
    """Only zips are unpacked; in a folder the files are read where they are (a symlink to a
    real shapefile is just that file), so nothing here escapes either."""
    root = sample_package().write(tmp_path / "pkg")
    target = dk(root, ".prj")
    os.replace(target, tmp_path / "real.prj")
    os.symlink(tmp_path / "real.prj", target)
    assert PackageImporter(root).run().status == Status.LOADED
