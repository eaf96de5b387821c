"""Concurrent guarded saves: two surveyors saving overlapping shapes at the same instant must
not both succeed (``layers.checks.guard.lock_cells``: transaction-scoped advisory locks on a
fixed degree grid, taken before the overlap query), and saves far apart must not wait for
each other.

The thread tests use real transactions on separate connections (``transaction=True``): the
first saver holds its transaction open after its check until the test releases it."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.contrib.gis.geos import Polygon
from django.db import connection, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from layers.checks.guard import (
    LOCK_CELL_DEG,
    LOCK_KEY_BASE,
    LOCK_MAX_CELLS,
    LOCK_WHOLE_MAP,
    ParcelOverlapError,
    lock_cells,
    lock_keys,
)
from parcels import services
from parcels.models import Parcel
from tests.conftest import DEG_LAT_PER_M, DEG_LON_PER_M, GROUP, OTHER_GROUP, square

ATTRS = {"name": "东大田", "category": "10", "fertility": "03", "land_use": "1", "basic_farmland": "1"}
WAIT_S = 20.0  # generous upper bound for any wait below; the tests take well under a second each


def cell_key(lon: float, lat: float) -> int:
    """The advisory key of the grid cell holding a point (independently of ``lock_keys``)."""
    col = math.floor(lon / LOCK_CELL_DEG)
    row = math.floor(lat / LOCK_CELL_DEG)
    return LOCK_KEY_BASE + ((col + 36001) << 20) + (row + 18001)


# --- the grid ---------------------------------------------------------------------------------


def test_lock_keys_cover_the_box_and_only_it() -> None:
    # A 100 m field well inside one cell (121.4012..121.4023 E, 31.6012..31.6021 N).
    inside = (121.4012, 31.6012, 121.4023, 31.6021)
    assert lock_keys(inside, margin_m=0.001) == [cell_key(121.4012, 31.6012)]
    # Straddling the cell line at 121.405 E: both cells, sorted.
    across = (121.4045, 31.6012, 121.4055, 31.6021)
    assert lock_keys(across, margin_m=0.001) == sorted([cell_key(121.4045, 31.6012), cell_key(121.4055, 31.6012)])
    # Two fields touching along 121.4045 E share the cell of their common edge.
    west = lock_keys((121.4035, 31.6012, 121.4045, 31.6021), margin_m=0.001)
    east = lock_keys((121.4045, 31.6012, 121.4048, 31.6021), margin_m=0.001)
    assert west is not None and east is not None and set(west) & set(east)
    # The tolerance widens the box: 1 m from the line at 121.405 E reaches the next cell only
    # with a margin of more than 1 m.
    near = (121.404, 31.6012, 121.405 - 1 / 94_800, 31.6021)
    assert lock_keys(near, margin_m=0.001) == [cell_key(121.404, 31.6012)]
    assert len(lock_keys(near, margin_m=2.0) or []) == 2
    # 2 km apart: no common cell.
    far = (121.4212, 31.6012, 121.4223, 31.6021)
    assert set(lock_keys(far, margin_m=0.001) or []).isdisjoint(lock_keys(inside, margin_m=0.001) or [])
    # Keys stay clear of the int4 keys of hashtext() (code allocation) and of the whole-map key.
    for key in lock_keys(across, margin_m=0.001) or []:
        assert key > 2**31 and key != LOCK_WHOLE_MAP
    # West and south of Greenwich and the equator too (negative columns and rows).
    assert lock_keys((-0.0001, -0.0001, 0.0001, 0.0001), margin_m=0.001) == sorted(
        cell_key(x, y) for x in (-0.0001, 0.0001) for y in (-0.0001, 0.0001)
    )


def test_a_shape_too_big_for_cells_gets_none() -> None:
    side = LOCK_CELL_DEG * 8
    # Just inside 8 x 8 cells: 64 keys, the most a shape locks one by one.
    eight = lock_keys((121.4001, 31.6001, 121.4001 + side - 0.0002, 31.6001 + side - 0.0002), margin_m=0)
    assert eight is not None and len(eight) == LOCK_MAX_CELLS == 64
    # Reaching into a ninth row and column (81 cells): the whole map instead.
    assert lock_keys((121.4001, 31.6001, 121.4001 + side, 31.6001 + side), margin_m=0) is None


# --- locks held by a save, seen from another connection ----------------------------------------


@pytest.fixture
def other_connection(db: None) -> Iterator[BaseDatabaseWrapper]:
    """A second connection to the test database, outside the test's transaction."""
    other = connections.create_connection("default")
    try:
        yield other
    finally:
        other.close()


def try_lock(other: BaseDatabaseWrapper, key: int, *, shared: bool = False) -> bool:
    """Whether another session could take ``key`` now (taken and released at once)."""
    function = "pg_try_advisory_xact_lock_shared" if shared else "pg_try_advisory_xact_lock"
    with other.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [key])
        return bool(cursor.fetchone()[0])


def test_a_guarded_save_holds_its_cells_until_its_transaction_ends(
    county: dict[str, str], other_connection: BaseDatabaseWrapper
) -> None:
    shape = square(0, 0)
    (lon, lat) = shape.coords[0][0]
    mine, far = cell_key(lon, lat), cell_key(lon + 0.02, lat)
    assert try_lock(other_connection, mine) is True  # nothing held before the save

    # The test's transaction is still open after the service returns.
    services.parcel_create(actor=None, collective_code=GROUP, geom=shape, **ATTRS)

    assert try_lock(other_connection, mine) is False
    assert try_lock(other_connection, far) is True
    # The whole-map key is held shared: another ordinary save goes on, a huge one waits.
    assert try_lock(other_connection, LOCK_WHOLE_MAP, shared=True) is True
    assert try_lock(other_connection, LOCK_WHOLE_MAP) is False


def test_a_huge_shape_locks_the_whole_map(county: dict[str, str], other_connection: BaseDatabaseWrapper) -> None:
    huge = square(0, 0, size_m=20_000)  # 0.21° x 0.18°: over 1,000 cells

    lock_cells(geom=huge)

    assert try_lock(other_connection, LOCK_WHOLE_MAP, shared=True) is False
    # Cell keys are left alone: every ordinary save waits at the whole-map key first.
    (lon, lat) = huge.coords[0][0]
    assert try_lock(other_connection, cell_key(lon, lat)) is True


# --- two savers at the same instant (real transactions, two threads) ----------------------------


def backend_pid() -> int:
    connection.ensure_connection()
    return int(connection.connection.info.backend_pid)


def waiting_advisory_key(pid: int) -> int | None:
    """The advisory key that backend ``pid`` waits for (bigint keys: classid is its high
    32 bits, objid its low 32 bits), or None."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT classid::bigint, objid::bigint FROM pg_locks "
            "WHERE pid = %s AND locktype = 'advisory' AND NOT granted",
            [pid],
        )
        row = cursor.fetchone()
    return None if row is None else (row[0] << 32) | row[1]


class Race:
    """Run ``first`` and ``second`` in two threads, each in its own transaction and connection.
    Both start together (a Barrier); the first holds its transaction open after its save
    until ``release()``; the second starts its save once the first's has returned."""

    def __init__(self, first: Callable[[], Any], second: Callable[[], Any]) -> None:
        self.results: dict[str, Any] = {}
        self.barrier = threading.Barrier(2)
        self.first_saved = threading.Event()
        self.released = threading.Event()
        self.second_pid: int | None = None
        self.threads = [
            threading.Thread(target=self._first, args=(first,), daemon=True),
            threading.Thread(target=self._second, args=(second,), daemon=True),
        ]

    def _first(self, save: Callable[[], Any]) -> None:
        try:
            self.barrier.wait(WAIT_S)
            with transaction.atomic():
                self.results["first"] = save()
                self.first_saved.set()
                self.released.wait(WAIT_S)
        except Exception as exc:
            self.results["first"] = exc
        finally:
            self.first_saved.set()
            connection.close()

    def _second(self, save: Callable[[], Any]) -> None:
        try:
            self.second_pid = backend_pid()
            self.barrier.wait(WAIT_S)
            self.first_saved.wait(WAIT_S)
            with transaction.atomic():
                self.results["second"] = save()
        except Exception as exc:
            self.results["second"] = exc
        finally:
            connection.close()

    def start(self) -> None:
        for thread in self.threads:
            thread.start()
        assert self.first_saved.wait(WAIT_S)

    def second_done(self) -> bool:
        return not self.threads[1].is_alive()

    def second_waits_for(self, seconds: float) -> int | None:
        """Poll until the second saver waits for an advisory lock (its key) or finishes (None)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and not self.second_done():
            if self.second_pid is not None and (key := waiting_advisory_key(self.second_pid)) is not None:
                return key
            time.sleep(0.02)
        return None

    def finish(self) -> None:
        self.released.set()
        for thread in self.threads:
            thread.join(WAIT_S)
        assert not any(thread.is_alive() for thread in self.threads)


def _create(collective: str, x0: float, size: float = 100.0) -> Callable[[], Parcel]:
    return lambda: services.parcel_create(actor=None, collective_code=collective, geom=square(x0, 0, size), **ATTRS)


def strip(x0: float, x1: float) -> Polygon:
    """The field from x0 to x1 metres east of 121.40E, 0 to 100 m north of 31.60N."""
    w, e = 121.40 + x0 * DEG_LON_PER_M, 121.40 + x1 * DEG_LON_PER_M
    s, n = 31.60, 31.60 + 100 * DEG_LAT_PER_M
    return Polygon(((w, s), (w, n), (e, n), (e, s), (w, s)), srid=4490)


def _grow(code: str, x0: float, x1: float) -> Callable[[], Parcel]:
    """Reshape parcel ``code`` (at version 1) to the strip x0-x1 m."""
    return lambda: services.parcel_update(actor=None, code=code, expected_version=1, geom=strip(x0, x1), reason="扩大")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("kind", ["create", "update"])
def test_overlapping_saves_at_the_same_instant_do_not_both_succeed(county: dict[str, str], kind: str) -> None:
    if kind == "create":
        # Two villages' surveyors draw over the same ground: different collectives, so only
        # the overlap guard's locks (not code allocation) can order them.
        first, second = _create(GROUP, 0), _create(OTHER_GROUP, 50)
    else:
        left = services.parcel_create(actor=None, collective_code=GROUP, geom=square(0, 0), **ATTRS)
        right = services.parcel_create(actor=None, collective_code=GROUP, geom=square(300, 0), **ATTRS)
        # Both grow into the free strip between them: 0-250 m and 150-400 m overlap by 100 m.
        first, second = _grow(left.code, 0, 250), _grow(right.code, 150, 400)
    before = Parcel.objects.count()
    race = Race(first, second)

    race.start()
    key = race.second_waits_for(10.0)
    waited_while_first_open = not race.second_done()
    race.finish()

    assert isinstance(race.results["first"], Parcel), race.results["first"]
    refusal = race.results["second"]
    assert isinstance(refusal, ParcelOverlapError), refusal
    assert refusal.code == "parcel_overlap" and race.results["first"].code in refusal.message
    # The second save waited, at a cell of the grid, until the first committed.
    assert waited_while_first_open and key is not None and key >> 40 == LOCK_KEY_BASE >> 40
    assert Parcel.objects.count() == before + (1 if kind == "create" else 0)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM dk a JOIN dk b ON a.id < b.id AND a.status = 'current' AND b.status = 'current' "
            "AND ST_Relate(a.geom, b.geom, '2********')"
        )
        assert cursor.fetchone()[0] == 0  # no overlap was committed


@pytest.mark.django_db(transaction=True)
def test_saves_far_apart_do_not_wait_for_each_other(county: dict[str, str]) -> None:
    near = services.parcel_create(actor=None, collective_code=GROUP, geom=square(0, 0), **ATTRS)
    far = services.parcel_create(actor=None, collective_code=GROUP, geom=square(2000, 0), **ATTRS)  # 2 km east
    race = Race(_grow(near.code, 0, 150), _grow(far.code, 2000, 2150))

    race.start()
    deadline = time.monotonic() + 10.0
    while time.monotonic() < deadline and not race.second_done():
        time.sleep(0.02)
    finished_while_first_open = race.second_done()
    race.finish()

    assert finished_while_first_open, "the second save waited for the first"
    assert isinstance(race.results["first"], Parcel) and isinstance(race.results["second"], Parcel)
    assert {p.version for p in Parcel.objects.filter(code__in=[near.code, far.code])} == {2}
