"""The demo county generator: determinism, topology, codes, areas, households, the orthophoto,
and the two management commands. Small counties (a few hundred parcels) keep it quick."""

from __future__ import annotations

from collections import Counter
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from accounts.models import Profile, Role
from layers.models import BasicFarmlandZone, LineFeature, PolygonFeature, Raster, RegionBoundary
from parcels import coding, demo, services
from parcels.models import (
    Certificate,
    Contract,
    Contractor,
    ContractParcel,
    FamilyMember,
    Parcel,
    Region,
    RegisterBook,
    TransferContract,
)

pytestmark = pytest.mark.django_db

COUNTY = demo.DEMO_COUNTY
SMALL = 300


def rows(sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def fingerprint() -> dict[str, list[tuple[Any, ...]]]:
    """What must not change between two runs with the same seed."""
    return {
        "parcels": rows(
            "SELECT dkbm, md5(ST_AsEWKB(geom)), scmj, dkmc, dkdz, dkxz, dknz, dkbz, dklb FROM dk ORDER BY dkbm"
        ),
        "regions": rows("SELECT qydm, qymc, md5(ST_AsEWKB(geom)) FROM region ORDER BY qydm"),
        "contractors": rows("SELECT cbfbm, cbfmc, cbfzjhm, cbfcysl FROM cbf ORDER BY cbfbm"),
        "links": rows("SELECT cbhtbm, dkbm, htmj, lzhtbm FROM cbdkxx ORDER BY cbhtbm, dkbm"),
    }


@pytest.fixture
def small_demo() -> demo.DemoSummary:
    return demo.load_demo(parcels=SMALL, seed=7, raster=False, accounts=False)


def test_same_seed_gives_the_same_county() -> None:
    demo.load_demo(parcels=SMALL, seed=11, raster=False, accounts=False)
    first = fingerprint()
    demo.delete_demo()
    assert not Region.objects.filter(code__startswith=COUNTY).exists()
    assert not Parcel.objects.exists() and not Contractor.objects.exists()

    demo.load_demo(parcels=SMALL, seed=11, raster=False, accounts=False)
    assert fingerprint() == first
    assert len(first["parcels"]) == SMALL

    demo.load_demo(parcels=SMALL, seed=12, raster=False, accounts=False, replace=True)
    assert fingerprint()["parcels"] != first["parcels"]


def test_parcels_are_valid_single_polygons_that_never_overlap(small_demo: demo.DemoSummary) -> None:
    [(count, invalid, multipart)] = rows(
        "SELECT count(*), count(*) FILTER (WHERE NOT ST_IsValid(geom)), "
        "count(*) FILTER (WHERE ST_NumGeometries(geom) <> 1 OR GeometryType(geom) <> 'MULTIPOLYGON') FROM dk"
    )
    assert (count, invalid, multipart) == (SMALL, 0, 0)
    [(overlaps, interiors, slivers)] = rows(
        "SELECT count(*) FILTER (WHERE ST_Overlaps(a.geom, b.geom)), "
        "count(*) FILTER (WHERE ST_Relate(a.geom, b.geom, 'T********')), "
        "count(*) FILTER (WHERE ST_Area(ST_Transform(ST_Intersection(a.geom, b.geom), 4528)) > 0.01) "
        "FROM dk a JOIN dk b ON a.id < b.id AND a.geom && b.geom"
    )
    assert (overlaps, interiors, slivers) == (0, 0, 0)
    # Neighbours share edges: most parcels touch at least two others.
    [(touching,)] = rows(
        "SELECT count(DISTINCT a.id) FROM dk a JOIN dk b ON a.id <> b.id AND ST_Touches(a.geom, b.geom) "
        "AND ST_Length(ST_Intersection(a.geom, b.geom)) > 0"
    )
    assert touching > 0.9 * SMALL
    # Ponds and hamlets are not farmed: they never overlap a parcel either.
    assert rows(
        "SELECT count(*) FROM dk d JOIN mzdw m ON d.geom && m.geom WHERE ST_Relate(d.geom, m.geom, 'T********')"
    ) == [(0,)]


def test_regions_tile_their_parents_and_hold_their_parcels(small_demo: demo.DemoSummary) -> None:
    levels = Counter(Region.objects.filter(code__startswith=COUNTY).values_list("level", flat=True))
    assert levels["county"] == 1 and levels["town"] == 3 and levels["village"] >= 3 and levels["group"] >= 3
    assert Region.objects.get(code=COUNTY).area_srid == demo.DEMO_AREA_SRID
    assert not Region.objects.filter(code__startswith=COUNTY, geom__isnull=True).exists()
    # The province above (named in the 权属单位代码表, no shape) is the county's parent.
    province = Region.objects.get(code=COUNTY[:2])
    assert (province.level, province.name, province.geom) == ("province", "上海市", None)
    assert Region.objects.get(code=COUNTY).parent == province
    # Children cover the parent exactly: same area, no overlaps among siblings.
    gaps = rows(
        "SELECT p.qydm, abs(ST_Area(ST_Transform(p.geom, 4528)) - sum(ST_Area(ST_Transform(c.geom, 4528)))) "
        "FROM region p JOIN region c ON c.parent_id = p.id WHERE p.geom IS NOT NULL GROUP BY p.id"
    )
    assert gaps and all(gap < 0.01 for _, gap in gaps)
    assert rows(
        "SELECT count(*) FROM region a JOIN region b ON a.parent_id = b.parent_id AND a.id < b.id "
        "WHERE ST_Relate(a.geom, b.geom, 'T********')"
    ) == [(0,)]
    assert rows(
        "SELECT count(*) FROM region c JOIN region p ON c.parent_id = p.id WHERE NOT ST_CoveredBy(c.geom, p.geom)"
    ) == [(0,)]
    assert rows(
        "SELECT count(*) FROM dk d LEFT JOIN region g ON g.qydm = left(d.dkbm, 14) "
        "WHERE g.id IS NULL OR NOT ST_CoveredBy(d.geom, g.geom)"
    ) == [(0,)]
    # Inside the box the brief gives for the fictitious district.
    [(xmin, ymin, xmax, ymax)] = rows(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) e FROM region) s"
    )
    assert 121.30 <= xmin < xmax <= 121.50 and 31.55 <= ymin < ymax <= 31.70


def test_codes_follow_the_coding_rules(small_demo: demo.DemoSummary) -> None:
    codes = list(Parcel.objects.values_list("code", flat=True))
    for code in codes:
        coding.validate_dkbm(code)
    for group, parcels in _by_prefix(codes, 14).items():
        assert Region.objects.filter(code=group, level="group").exists()
        assert sorted(int(c[14:]) for c in parcels) == list(range(1, len(parcels) + 1))
    for code, kind in Contractor.objects.values_list("code", "kind"):
        coding.validate_cbfbm(code, kind)
    for code, method in Contract.objects.values_list("code", "method"):
        coding.validate_contract_code(code, method)
    for code in TransferContract.objects.values_list("code", flat=True):
        coding.validate_lzhtbm(code)
    assert set(Contractor.objects.values_list("kind", flat=True)) == {"1", "2", "3"}
    assert Contractor.objects.filter(kind="3").count() == 1


def _by_prefix(codes: list[str], length: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for code in codes:
        out.setdefault(code[:length], []).append(code)
    return out


def test_areas_are_measured_as_the_services_measure_them(small_demo: demo.DemoSummary) -> None:
    assert rows("SELECT count(*) FROM dk WHERE abs(scmj - ST_Area(ST_Transform(geom, 4528))) > 0.005") == [(0,)]
    parcels = list(Parcel.objects.order_by("code"))
    for parcel in parcels:
        assert parcel.surveyed_area_mu == services.sqm_to_mu(parcel.surveyed_area)
        assert parcel.version == 1
    for parcel in parcels[::50]:
        assert services.measure_area(parcel.geom, 4528) == (parcel.surveyed_area, parcel.surveyed_area_mu)
    sizes = [float(p.surveyed_area) for p in parcels]
    assert min(sizes) > 250 and max(sizes) < 3600  # fields of about 0.5-5 亩


def test_contracts_add_up(small_demo: demo.DemoSummary) -> None:
    mismatched = rows(
        "SELECT h.cbhtbm FROM cbht h JOIN cbdkxx x ON x.cbhtbm = h.cbhtbm "
        "GROUP BY h.cbhtbm, h.htzmj, h.cbdkzs HAVING h.htzmj <> sum(x.htmj) OR h.cbdkzs <> count(*)"
    )
    assert mismatched == []
    for contract in Contract.objects.all():
        assert contract.total_area_mu == services.sqm_to_mu(contract.total_area)
        assert 1 <= contract.parcel_count <= 5
        assert contract.code == coding.make_contract_code(contract.contractor_id, contract.method)
    assert rows(
        "SELECT count(*) FROM cbdkxx x JOIN dk d ON d.dkbm = x.dkbm "
        "WHERE x.htmj <> d.scmj OR x.htmjm <> d.scmjm OR x.cbjyqzbm <> x.cbhtbm OR x.cbjyqqdfs <> "
        "(SELECT cbfs FROM cbht WHERE cbht.cbhtbm = x.cbhtbm)"
    ) == [(0,)]
    # Each parcel is in at most one contract; the uncontracted are a few, and all 21/22 are among them.
    assert rows("SELECT dkbm FROM cbdkxx GROUP BY dkbm HAVING count(*) > 1") == []
    contracted = set(ContractParcel.objects.values_list("parcel_id", flat=True))
    free = Parcel.objects.exclude(code__in=contracted)
    assert 0 < free.count() < 0.2 * SMALL
    assert not Parcel.objects.filter(code__in=contracted).exclude(category="10").exists()
    # One register book and one certificate per contract, dates in order.
    assert RegisterBook.objects.count() == Certificate.objects.count() == Contract.objects.count()
    for book in RegisterBook.objects.select_related("certificate"):
        contract = Contract.objects.get(code=book.code)
        assert contract.signed_on < book.registered_on < book.certificate.issued_on
        assert book.term == services.term_text(contract.term_start, contract.term_end)
    # A handful of transfers, their parcels marked in CBDKXX.
    transfers = list(TransferContract.objects.all())
    assert len(transfers) >= 5
    for transfer in transfers:
        links = ContractParcel.objects.filter(transfer_contract_code=transfer.code)
        assert links.count() == transfer.parcel_count
        assert {link.contract_id for link in links} == {transfer.contract_id}
        assert sum(link.contract_area for link in links) == transfer.area


def test_households_have_one_head_and_counted_members(small_demo: demo.DemoSummary) -> None:
    households = Contractor.objects.filter(kind="1")
    assert households.exists()
    members = Counter(FamilyMember.objects.values_list("contractor_id", flat=True))
    heads = Counter(FamilyMember.objects.filter(relation="02").values_list("contractor_id", flat=True))
    for contractor in households:
        assert 1 <= contractor.member_count <= 6
        assert members[contractor.code] == contractor.member_count
        assert heads[contractor.code] == 1
        head = FamilyMember.objects.get(contractor_id=contractor.code, relation="02")
        assert (head.name, head.id_number) == (contractor.name, contractor.id_number)
    for contractor in Contractor.objects.exclude(kind="1"):
        assert contractor.member_count == 1 and members[contractor.code] == 0
    ids = list(FamilyMember.objects.values_list("id_number", "sex"))
    assert len({number for number, _ in ids}) == len(ids)
    for number, sex in ids:
        assert number.startswith(COUNTY) and demo.resident_id_valid(number)
        assert int(number[16]) % 2 == (1 if sex == "1" else 0)  # GB 11643: odd for men


def test_four_sides_name_real_neighbours(small_demo: demo.DemoSummary) -> None:
    holders = dict(ContractParcel.objects.values_list("parcel_id", "contractor__name"))
    labels = {"道路", "沟渠", "坑塘", "居民点", "自留地", "集体机动地"}
    names = set(Contractor.objects.values_list("name", flat=True))
    for parcel in Parcel.objects.all():
        for side in (parcel.east, parcel.west, parcel.south, parcel.north):
            assert side in labels or side in names
        assert parcel.witnesses
    # The west side of a parcel names the holder of the parcel west of it: checked on pairs
    # that share a long edge and lie side by side (a parcel with two western neighbours
    # names the one it shares most with, hence the tolerance).
    sample = rows(
        "SELECT a.dkbm, a.dkxz, b.dkbm FROM dk a JOIN dk b ON a.geom && b.geom AND ST_Touches(a.geom, b.geom) "
        "CROSS JOIN LATERAL (SELECT ST_Transform(ST_Centroid(a.geom), 4528) ca, "
        "ST_Transform(ST_Centroid(b.geom), 4528) cb) c "
        "WHERE ST_Length(ST_Transform(ST_Intersection(a.geom, b.geom), 4528)) > 20 "
        "AND ST_X(c.ca) - ST_X(c.cb) > 3 * abs(ST_Y(c.ca) - ST_Y(c.cb)) AND b.dklb = '10' "
        "ORDER BY a.dkbm, b.dkbm LIMIT 60"
    )
    assert len(sample) >= 20
    agree = sum(1 for _, west, b in sample if west == holders.get(b))
    assert agree >= 0.9 * len(sample), (agree, len(sample))


def test_reference_layers(small_demo: demo.DemoSummary) -> None:
    assert set(LineFeature.objects.values_list("name", flat=True)) == {"机耕路", "沟渠"}
    assert not LineFeature.objects.filter(length__isnull=True).exists()
    assert PolygonFeature.objects.filter(name="居民点").exists()
    assert BasicFarmlandZone.objects.count() == 3
    boundary = RegionBoundary.objects.get(county_id=COUNTY)
    assert (boundary.kind, boundary.nature) == ("650200", "600001")
    assert Parcel.objects.filter(basic_farmland="1").exists() and Parcel.objects.filter(basic_farmland="2").exists()
    assert rows(
        "SELECT count(*) FROM dk d WHERE (d.sfjbnt = '1') <> EXISTS "
        "(SELECT 1 FROM jbntbhq z WHERE ST_CoveredBy(d.geom, z.geom))"
    ) == [(0,)]


def test_orthophoto_covers_the_parcels(settings: Any, tmp_path: Path) -> None:
    import rasterio

    settings.MEDIA_ROOT = tmp_path
    summary = demo.load_demo(parcels=SMALL, seed=5, raster=True, accounts=False)
    path = tmp_path / "rasters" / "demo-dom.tif"
    assert summary.raster_path == path and path.exists()
    assert path.stat().st_size < 30 * 1024 * 1024
    [(xmin, ymin, xmax, ymax)] = rows(
        "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) "
        "FROM (SELECT ST_Extent(ST_Transform(geom, 4528)) e FROM dk) s"
    )
    with rasterio.open(path) as image:
        assert image.crs.to_epsg() == demo.DEMO_AREA_SRID
        assert image.count == 3 and image.dtypes == ("uint8", "uint8", "uint8")
        assert image.res[0] <= 1.0
        left, bottom, right, top = image.bounds
        assert left <= xmin and bottom <= ymin and right >= xmax and top >= ymax
        # Fields are painted: green or brown, not the background, at a parcel's centre.
        [(cx, cy)] = rows(
            "SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_Transform(ST_PointOnSurface(geom), 4528) p "
            "FROM dk ORDER BY dkbm LIMIT 1) s"
        )
        _, g, b = next(image.sample([(cx, cy)]))
        assert g > b
    raster = Raster.objects.get(name=demo.RASTER_NAME)
    assert raster.title == "示范区正射影像" and raster.source_srid == demo.DEMO_AREA_SRID
    assert Path(settings.MEDIA_ROOT, raster.path) == path
    assert rows("SELECT ST_Covers(r.footprint, (SELECT ST_SetSRID(ST_Extent(geom), 4490) FROM dk)) FROM raster r") == [
        (True,)
    ]


def test_load_demo_command_refuses_replaces_and_skips() -> None:
    out = StringIO()
    call_command("load_demo", "--parcels", "150", "--seed", "3", "--no-raster", stdout=out)
    text = out.getvalue()
    assert "地块 150" in text and "合计" in text and "nongdi-demo" in text
    assert Parcel.objects.count() == 150

    with pytest.raises(CommandError, match="--replace"):
        call_command("load_demo", "--parcels", "150", "--no-raster", stdout=StringIO())

    out = StringIO()
    call_command("load_demo", "--if-empty", stdout=out)
    assert "跳过" in out.getvalue()
    assert Parcel.objects.count() == 150

    call_command("load_demo", "--parcels", "120", "--seed", "3", "--no-raster", "--replace", stdout=StringIO())
    assert Parcel.objects.count() == 120
    assert Region.objects.filter(level="county").count() == 1


def test_demo_accounts_one_per_role_idempotent() -> None:
    demo.load_demo(parcels=150, seed=3, raster=False, accounts=False)
    for _ in range(2):
        out = StringIO()
        call_command("demo_accounts", stdout=out)
    assert "villageclerk" in out.getvalue() and "系统管理员" in out.getvalue()
    usernames = {"surveyor", "clerk", "reviewer", "datastaff", "admin", "department", "villageclerk"}
    assert set(User.objects.values_list("username", flat=True)) == usernames
    assert set(Profile.objects.values_list("role", flat=True)) == set(Role.values)
    first_village = Region.objects.filter(level="village").order_by("code").first()
    for user in User.objects.select_related("profile"):
        assert user.check_password(demo.DEMO_PASSWORD)
        if user.username == "admin":
            assert user.is_superuser and user.is_staff and user.profile.region_id is None
        elif user.username == "villageclerk":
            assert user.profile.region_id == first_village.code and user.profile.role == Role.CLERK
        else:
            assert user.profile.region_id == COUNTY and not user.is_superuser


def test_demo_accounts_need_the_county() -> None:
    with pytest.raises(CommandError, match="load_demo"):
        call_command("demo_accounts", stdout=StringIO())


def test_resident_id_check_digit() -> None:
    # GB 11643's published example.
    assert demo.resident_id_check("11010519491231002") == "X"
    assert demo.resident_id_valid("11010519491231002X")
    assert not demo.resident_id_valid("110105194912310021")
