"""Builders for tests and demos of the registration business: adjacent square parcels,
households, registered households (contract, register entry, certificate), and a helper
that walks a case through its steps. Everything goes through the services."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.contrib.auth.models import User
from django.contrib.gis.geos import LineString, Polygon
from django.utils import timezone

from parcels import services as register
from parcels.models import Contract, Contractor, Parcel
from parcels.services import LONG_TERM_END, ParcelShare
from registration import services
from registration.business import NO_CERTIFICATE_ITEMS, SIGNING_ITEMS
from registration.models import Case, CaseContract, CaseState

DEG_LAT_PER_M = 1 / 110_900.0
DEG_LON_PER_M = 1 / 94_800.0
LON0, LAT0 = 121.40, 31.60
PARCEL_ATTRS = {"category": "10", "fertility": "03", "land_use": "1", "basic_farmland": "1", "land_use_type": "011"}


def square(x0: float, y0: float, size_m: float = 100.0) -> Polygon:
    """A square ``size_m`` metres wide whose south-west corner is (x0, y0) metres from 121.4E 31.6N."""
    w, s = LON0 + x0 * DEG_LON_PER_M, LAT0 + y0 * DEG_LAT_PER_M
    e, n = w + size_m * DEG_LON_PER_M, s + size_m * DEG_LAT_PER_M
    return Polygon(((w, s), (w, n), (e, n), (e, s), (w, s)), srid=4490)


def vertical_line(x_m: float, y0: float = -10, y1: float = 110) -> LineString:
    """A north-south line at ``x_m`` metres east of 121.4E, crossing squares in row y 0-100 m."""
    x = LON0 + x_m * DEG_LON_PER_M
    return LineString((x, LAT0 + y0 * DEG_LAT_PER_M), (x, LAT0 + y1 * DEG_LAT_PER_M), srid=4490)


def make_parcels(
    collective: str, count: int, *, x0: float = 0, y0: float = 0, names: Sequence[str] = ()
) -> list[Parcel]:
    """``count`` adjacent 100 m squares in a row, with 四至 filled."""
    parcels = []
    for i in range(count):
        name = names[i] if i < len(names) else f"试验田{i + 1}"
        parcels.append(
            register.parcel_create(
                actor=None,
                collective_code=collective,
                geom=square(x0 + i * 100, y0),
                name=name,
                east="道路" if i == count - 1 else "邻田",
                west="沟渠" if i == 0 else "邻田",
                south="河",
                north="村道",
                **PARCEL_ATTRS,
            )
        )
    return parcels


def member(name: str, id_number: str, relation: str = "10", sex: str = "2") -> dict[str, Any]:
    return {"name": name, "sex": sex, "id_type": "1", "id_number": id_number, "relation": relation}


def household_fields(name: str, id_number: str) -> dict[str, Any]:
    return {
        "name": name,
        "id_type": "1",
        "id_number": id_number,
        "address": "上海市崇明区示范镇示范村",
        "postcode": "202150",
        "survey_date": dt.date(2019, 5, 2),
        "surveyor": "李调查",
        "publicity_recorder": "张公示",
        "publicity_review_date": dt.date(2019, 6, 1),
        "publicity_reviewer": "赵审核",
    }


def household(collective: str, name: str, id_number: str, others: Sequence[dict[str, Any]] = ()) -> Contractor:
    head = {"name": name, "sex": "1", "id_type": "1", "id_number": id_number, "relation": "02"}
    return register.contractor_create(
        actor=None,
        collective_code=collective,
        kind=Contractor.Kind.HOUSEHOLD,
        members=[head, *others],
        **household_fields(name, id_number),
    )


def registered_household(
    collective: str,
    name: str,
    id_number: str,
    parcels: Sequence[Parcel],
    *,
    others: Sequence[dict[str, Any]] = (),
    shares: dict[str, Any] | None = None,
    certificate: bool = True,
) -> Contract:
    """A household with a family contract (长久不变), its register entry and a certificate."""
    contractor = household(collective, name, id_number, others)
    contract = register.contract_create(
        actor=None,
        contractor_code=contractor.code,
        method="110",
        term_start=dt.date(2019, 1, 1),
        term_end=LONG_TERM_END,
        signed_on=dt.date(2019, 6, 10),
        parcels=[ParcelShare(p.code, contract_area=(shares or {}).get(p.code)) for p in parcels],
    )
    register.register_book_create(
        actor=None,
        contract_code=contract.code,
        registrar="赵登簿",
        registered_on=dt.date(2019, 7, 1),
        serial=f"沪（2019）示范区农村土地承包经营权证第{Contract.objects.count():06d}号",
    )
    if certificate:
        register.certificate_issue(
            actor=None, register_code=contract.code, authority="示范区人民政府", issued_on=dt.date(2019, 8, 1)
        )
    return contract


STEPS = ("accept", "sign", "preliminary", "review", "register", "certify", "close")


def walk(case: Case, *, clerk: User, reviewer: User, until: str = "close", base_url: str = "") -> Case:
    """Take a case through its steps up to and including ``until``; both parties sign every
    contract the case prepares."""
    number = case.number
    for step in STEPS:
        case = Case.objects.get(number=number)
        if step == "accept" and case.state == CaseState.PRE_APPLIED:
            services.case_accept(actor=clerk, number=number)
        elif step == "sign" and case.state == CaseState.ACCEPTED:
            if case.item in SIGNING_ITEMS:
                services.case_prepare_contracts(actor=clerk, number=number, base_url=base_url)
                today = timezone.localdate()
                for case_contract in CaseContract.objects.filter(case=case):
                    services.case_sign(
                        actor=clerk,
                        number=number,
                        contract_code=case_contract.contract_code,
                        party="fbf",
                        signer_name="王建国",
                        signed_on=today,
                    )
                    services.case_sign(
                        actor=clerk,
                        number=number,
                        contract_code=case_contract.contract_code,
                        party="cbf",
                        signer_name=case_contract.contractor_name,
                        signed_on=today,
                    )
        elif step == "preliminary" and case.state == CaseState.ACCEPTED:
            services.case_preliminary(actor=clerk, number=number)
        elif step == "review" and case.state == CaseState.PRELIMINARY:
            services.case_review(actor=reviewer, number=number)
        elif step == "register" and case.state == CaseState.REVIEWED:
            services.case_register(actor=reviewer, number=number, base_url=base_url)
        elif step == "certify" and case.state == CaseState.REGISTERED:
            if case.item not in NO_CERTIFICATE_ITEMS:
                services.case_certify(actor=clerk, number=number)
        elif step == "close" and (
            case.state == CaseState.CERTIFIED
            or (case.state == CaseState.REGISTERED and case.item in NO_CERTIFICATE_ITEMS)
        ):
            services.case_close(actor=clerk, number=number)
        if step == until:
            break
    return Case.objects.get(number=number)
