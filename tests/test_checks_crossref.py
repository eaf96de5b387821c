"""Quality inspection across tables: households and members, contract totals, references
that lead nowhere, boundary points and lines against the parcels.

A CBDKXX row whose DK row does not exist cannot be stored (foreign key); the case the
Ministry's checker reports as "地块编码…在矢量地块中不存在" is a current contract's row that
points at a parcel that is no longer current (split, merged, retired): only current parcels go
into the DK layer of the package. That is what XREF_MISSING is tested with, together with
register entries without a contract or a certificate (no foreign key there: they share codes).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import shapely
from django.contrib.gis.geos import GEOSGeometry, LineString, Point

from layers.checks.engine import run_inspection
from parcels.models import BoundaryLine, BoundaryPoint, Contract, Contractor, FamilyMember, Parcel, RegisterBook
from tests.conftest import GROUP, VILLAGE, contractor_fields
from tests.test_checks_attributes import contract_for, household, register
from tests.test_checks_dataset import E0, N0, TO_4490, add_parcel, code, rect

D = dt.date


@pytest.mark.django_db
def test_households_members_and_heads(county: dict[str, str]) -> None:
    fine = household("张三", "310151198001011234")
    no_head = household("李四", "310151198001015678")
    FamilyMember.objects.filter(contractor_id=no_head).update(relation="10")  # the head is now a spouse
    counted_wrong = household("王五", "310151198001019999")
    FamilyMember.objects.create(
        contractor_id=counted_wrong, name="王小五", sex="1", id_type="1", id_number="310151201001011111", relation="20"
    )  # two members, CBFCYSL still 1
    nobody = GROUP + "0004"
    Contractor.objects.create(
        code=nobody, collective_id=GROUP, kind="1", member_count=1, **contractor_fields("赵六", "310151198001010000")
    )
    person = GROUP + "8001"
    Contractor.objects.create(
        code=person, collective_id=GROUP, kind="2", member_count=2, **contractor_fields("孙七", "310151198001010001")
    )
    result = run_inspection(VILLAGE)
    assert [(f.rule, f.codes) for f in result.findings] == [
        ("XREF_MEMBERS", (nobody,)),
        ("XREF_HEAD", (no_head,)),
        ("XREF_MEMBER_COUNT", (counted_wrong,)),
        ("XREF_MEMBER_COUNT", (nobody,)),
        ("XREF_MEMBER_COUNT", (person,)),
    ]
    assert fine not in {c for f in result.findings for c in f.codes}
    assert "没有户主" in result.findings[1].message


@pytest.mark.django_db
def test_missing_references_and_contract_totals(county: dict[str, str]) -> None:
    for k in range(1, 5):
        add_parcel(k, rect(k * 100, 0, 10, 10))
    a = contract_for(household("张三", "310151198001011234"), [code(1), code(2)])
    b = contract_for(household("李四", "310151198001015678"), [code(3)])
    register(a, dt.date(2019, 7, 1), dt.date(2019, 8, 1))
    register(b, dt.date(2019, 7, 1), None)  # registered, no certificate yet
    Parcel.objects.filter(code=code(2)).update(status="historic")  # split away, contract not updated
    Contract.objects.filter(code=a).update(parcel_count=3, total_area=Decimal("200.50"))
    # a register entry whose contract does not exist (imported on its own)
    stray = GROUP + "0009J"
    RegisterBook.objects.create(
        code=stray,
        collective_id=GROUP,
        contractor_id=a[:18],
        method="110",
        term="2019年01月01日至2049年01月01日",
        term_start=dt.date(2019, 1, 1),
        term_end=dt.date(2049, 1, 1),
        sketch_map="x.pdf",
        serial="9",
        registrar="王登簿",
        registered_on=dt.date(2019, 7, 1),
    )
    result = run_inspection(VILLAGE)
    assert [(f.rule, f.dkbm, f.codes) for f in result.findings] == [
        ("DJB_CODE", (), (stray,)),
        ("XREF_MISSING", (), (b,)),
        ("XREF_MISSING", (), (stray,)),
        ("XREF_MISSING", (), (stray,)),
        ("XREF_MISSING", (code(2),), (a,)),
        ("XREF_CBDKZS", (), (a,)),
        ("XREF_HTZMJ", (), (a,)),
    ]
    messages = [f.message for f in result.findings]
    assert "前18位应为承包方代码" in messages[0]
    assert "没有颁发承包经营权证" in messages[1]
    assert {"没有对应的承包合同" in m for m in messages[2:4]} == {True, False}
    assert "已是历史地块" in messages[4]
    assert result.findings[6].value == pytest.approx(0.5)


def _point(x: float, y: float) -> Point:
    lon, lat = TO_4490.transform(E0 + x, N0 + y)
    return Point(lon, lat, srid=4490)


@pytest.mark.django_db
def test_boundary_points_and_lines(county: dict[str, str]) -> None:
    add_parcel(1, rect(0, 0, 10, 10), key_points="J1/J2/J9")
    add_parcel(2, rect(10, 0, 10, 10))

    def jzd(number: str, x: float, y: float, dkbm: str, dx: float = 0.0) -> None:
        BoundaryPoint.objects.create(
            number=number,
            point_type="1",
            parcel_codes=dkbm,
            x=Decimal(f"{N0 + y:.3f}"),
            y=Decimal(f"{E0 + x + dx:.3f}"),
            geom=_point(x, y),
        )

    both = f"{code(1)}/{code(2)}"
    jzd("J1", 10, 0, both)  # the shared corner: fine
    jzd("J2", 10, 10.01, both)  # 1 cm off the corner
    jzd("J3", 0, 0, code(1), dx=0.01)  # X/Y 1 cm from its position
    jzd("J4", 20, 0, f"{code(2)}/{GROUP}99999")  # lists a parcel that does not exist

    def jzx(number: str, coords: list[tuple[float, float]], dkbm: str) -> None:
        line = LineString([_point(x, y).coords for x, y in coords], srid=4490)
        BoundaryLine.objects.create(
            number=number,
            position="2",
            description="田埂",
            neighbour_owner="甲",
            neighbour_witness="乙",
            parcel_codes=dkbm,
            geom=line,
        )

    jzx("X1", [(10, 0), (10, 10)], both)  # the shared edge: fine
    jzx("X2", [(0, 0), (10, 10)], code(1))  # across the parcel, corner to corner
    result = run_inspection(VILLAGE)
    assert [(f.rule, f.dkbm, f.codes) for f in result.findings] == [
        ("XREF_JZD", (code(1),), ("J2",)),
        ("XREF_JZD", (code(1),), ("J3",)),
        ("XREF_JZD", (code(2),), ("J2",)),
        ("XREF_JZD", (f"{GROUP}99999",), ("J4",)),
        ("XREF_JZX", (code(1),), ("X2",)),
        ("XREF_KJZB", (code(1),), ("J9",)),
        ("XREF_KJZB", (code(2),), ()),  # has boundary points, KJZB empty
    ]
    j2, j3 = result.findings[0], result.findings[1]
    assert j2.value == pytest.approx(0.01, abs=1e-6)
    assert "坐标值" in j3.message
    x2 = result.findings[4]
    assert x2.value == pytest.approx(5.0, abs=1e-6)  # its middle is the square's centre
    assert shapely.get_num_points(x2.geometry) == 2
    assert isinstance(Parcel.objects.get(code=code(1)).geom, GEOSGeometry)
