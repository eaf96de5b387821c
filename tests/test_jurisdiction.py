"""A user reads and writes only inside their county/town/village; the public reads nothing
of the register; services refuse writes outside the jurisdiction."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.test import Client

from accounts.permissions import has_capability
from accounts.scoping import scope
from gisapp.errors import OutOfJurisdictionError
from parcels import services
from parcels.models import Parcel
from tests.conftest import COUNTY, GROUP, OTHER_GROUP, TOWN, VILLAGE, square

ATTRS = {"name": "东大田", "category": "10", "fertility": "03", "land_use": "1", "basic_farmland": "1"}


@pytest.fixture
def two_parcels(county: dict[str, str]) -> tuple[Parcel, Parcel]:
    mine = services.parcel_create(actor=None, collective_code=GROUP, geom=square(0, 0), **ATTRS)
    theirs = services.parcel_create(actor=None, collective_code=OTHER_GROUP, geom=square(500, 0), **ATTRS)
    return mine, theirs


@pytest.mark.django_db
@pytest.mark.parametrize(
    "region,sees_other",
    [(VILLAGE, False), (TOWN, True), (COUNTY, True), (GROUP, False)],
)
def test_reads_are_scoped_by_region_code(two_parcels, make_user, region: str, sees_other: bool) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = two_parcels
    user = make_user("clerk", region)
    visible = set(scope(Parcel.objects.all(), user).values_list("code", flat=True))
    assert mine.code in visible
    assert (theirs.code in visible) is sees_other


@pytest.mark.django_db
def test_nobody_without_a_profile_and_the_public_see_nothing(two_parcels) -> None:  # type: ignore[no-untyped-def]
    stranger = User.objects.create_user("stranger", password="x-for-tests")
    assert scope(Parcel.objects.all(), stranger).count() == 0
    assert scope(Parcel.objects.all(), AnonymousUser()).count() == 0
    admin = User.objects.create_superuser("root", password="x-for-tests")
    assert scope(Parcel.objects.all(), admin).count() == 2


@pytest.mark.django_db
def test_writes_outside_the_jurisdiction_are_refused(two_parcels, make_user) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = two_parcels
    surveyor = make_user("surveyor", VILLAGE)
    services.parcel_update(actor=surveyor, code=mine.code, expected_version=1, name="改名")
    with pytest.raises(OutOfJurisdictionError):
        services.parcel_update(actor=surveyor, code=theirs.code, expected_version=1, name="越权")
    with pytest.raises(OutOfJurisdictionError):
        services.parcel_create(actor=surveyor, collective_code=OTHER_GROUP, geom=square(900, 0), **ATTRS)
    assert Parcel.objects.get(code=theirs.code).name == "东大田"
    assert Parcel.objects.filter(code__startswith=OTHER_GROUP).count() == 1


@pytest.mark.django_db
def test_capabilities_by_role(make_user, county) -> None:  # type: ignore[no-untyped-def]
    clerk, surveyor, dept = make_user("clerk", VILLAGE), make_user("surveyor", VILLAGE), make_user("department", COUNTY)
    assert has_capability(clerk, "register.edit") and not has_capability(clerk, "parcel.edit")
    assert has_capability(surveyor, "parcel.edit") and not has_capability(surveyor, "register.edit")
    assert has_capability(dept, "api.share") and not has_capability(dept, "register.view")
    assert not has_capability(AnonymousUser(), "register.view")


@pytest.mark.django_db
def test_admin_lists_only_the_jurisdiction(two_parcels, make_user) -> None:  # type: ignore[no-untyped-def]
    mine, theirs = two_parcels
    clerk = make_user("clerk", VILLAGE)
    clerk.is_staff = True
    clerk.save()
    client = Client()
    client.force_login(clerk)
    page = client.get("/admin/parcels/parcel/").content.decode()
    assert mine.code in page and theirs.code not in page
    assert client.get(f"/admin/parcels/parcel/{theirs.pk}/change/").status_code in (302, 404)
    dept = make_user("department", COUNTY)
    dept.is_staff = True
    dept.save()
    client.force_login(dept)
    assert client.get("/admin/parcels/parcel/").status_code == 403
