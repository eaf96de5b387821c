"""Quality inspection, the shape of one parcel: the exact findings for small real cases."""

from __future__ import annotations

import pytest
import shapely
from django.contrib.gis.geos import GEOSGeometry

from layers.checks.catalogue import RULES, Tolerances
from layers.checks.engine import run_inspection
from tests.conftest import VILLAGE
from tests.test_checks_dataset import E0, N0, add_parcel, code, rect, rules_of


@pytest.mark.django_db
def test_touching_squares_report_nothing(county: dict[str, str]) -> None:
    """A 3 × 2 block of 20 m squares sharing edges and vertices exactly: no finding at all
    (no overlap, no gap, no vertex warning, attributes complete)."""
    seq = 0
    for row in range(2):
        for col in range(3):
            seq += 1
            add_parcel(seq, rect(col * 20, row * 20, 20, 20))
    result = run_inspection(VILLAGE)
    assert result.parcels_checked == 6
    assert result.findings == []
    assert result.errors == result.warnings == 0


@pytest.mark.django_db
def test_sliver_bowtie_and_multipart(county: dict[str, str]) -> None:
    add_parcel(1, rect(0, 0, 0.8, 1.0))  # 0.8 m²
    add_parcel(2, rect(100, 0, 1.001, 1.0))  # just over 1 m²: not a sliver
    bowtie = shapely.Polygon([(200, 0), (210, 10), (210, 0), (200, 10)])
    add_parcel(3, bowtie)
    add_parcel(4, shapely.MultiPolygon([rect(300, 0, 10, 10), rect(320, 0, 10, 10)]))
    result = run_inspection(VILLAGE)
    assert rules_of(result.findings) == [
        ("DK_INVALID", (code(3),)),
        ("DK_MULTIPART", (code(4),)),
        ("DK_SLIVER", (code(1),)),
    ]
    invalid, multipart, sliver = result.findings
    assert "Self-intersection" in invalid.message and "自相交" in invalid.message
    # the crossing of the bow-tie, back in lon/lat
    assert invalid.geometry is not None and invalid.geometry.geom_type == "Point"
    from tests.test_checks_dataset import metric

    crossing = metric(shapely.Point(205, 5))
    assert invalid.geometry.distance(crossing) < 1e-8
    assert multipart.value == 2
    assert sliver.area_m2 == pytest.approx(0.8, abs=1e-6)


@pytest.mark.django_db
def test_vertices_angles_and_self_overlap(county: dict[str, str]) -> None:
    # a square with one vertex repeated (valid for GEOS, but a zero-length segment)
    add_parcel(1, shapely.Polygon([(0, 0), (10, 0), (10, 0), (10, 10), (0, 10)]))
    # a square with an extra vertex 2 cm from a corner
    add_parcel(2, shapely.Polygon([(100, 0), (110, 0), (110, 0.02), (110, 10), (100, 10)]))
    # a long thin wedge: 1.72° at its tip
    add_parcel(3, shapely.Polygon([(200, 0), (300, 0), (300, 3)]))
    # a field with a slot 6 cm wide and 9 m deep cut into it: its two sides run within 0.1 m
    slot = [(400, 0), (420, 0), (420, 10), (410.03, 10), (410.03, 1), (409.97, 1), (409.97, 10), (400, 10)]
    add_parcel(4, shapely.Polygon(slot))
    result = run_inspection(VILLAGE)
    assert rules_of(result.findings) == [
        ("DK_VERTEX_DUPLICATE", (code(1),)),
        ("DK_VERTEX_NEAR", (code(2),)),
        ("DK_SHARP_ANGLE", (code(3),)),
        ("DK_SELF_OVERLAP", (code(4),)),
    ]
    dup, near, sharp, slot_finding = result.findings
    assert dup.value == 0.0
    assert near.value == pytest.approx(0.02, abs=1e-6)
    assert sharp.value == pytest.approx(1.7184, abs=1e-3)
    assert slot_finding.value == pytest.approx(9.0, abs=1e-6)  # the slot's depth
    assert "1 段" in slot_finding.message or "2 段" in slot_finding.message


@pytest.mark.django_db
def test_thresholds_come_from_the_tolerances(county: dict[str, str]) -> None:
    add_parcel(1, rect(0, 0, 2.0, 2.0))  # 4 m²
    assert run_inspection(VILLAGE).findings == []
    big = run_inspection(VILLAGE, tolerances=Tolerances(sliver_area=5.0))
    assert rules_of(big.findings) == [("DK_SLIVER", (code(1),))]


@pytest.mark.django_db
def test_empty_geometry(county: dict[str, str]) -> None:
    add_parcel(1, GEOSGeometry("MULTIPOLYGON EMPTY", srid=4490))
    assert rules_of(run_inspection(VILLAGE).findings) == [("DK_EMPTY", (code(1),))]


def test_catalogue_is_complete_and_documented() -> None:
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    for needed in (
        "DK_OVERLAP",
        "DK_GAP",
        "DK_INVALID",
        "DK_MULTIPART",
        "DK_SLIVER",
        "DK_CODE",
        "DK_AREA",
        "DK_REQUIRED",
        "DK_DOMAIN",
        "DK_SIZHI",
        "XREF_MISSING",
    ):
        assert needed in ids
    for rule in RULES:
        assert rule.severity in ("error", "warning")
        assert rule.zh and rule.en
        if rule.parameter:
            assert rule.default_tolerance is not None
    assert E0 > 40_000_000 and N0 > 3_000_000  # zone-prefixed easting: the factories draw in zone 40
