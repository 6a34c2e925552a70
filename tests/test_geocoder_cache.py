"""The geocoder's per-process index cache (cases.geocoding) sees every committed change to its
tables, in-place UPDATEs included, through the data_versions row bumped by migration 0007."""

from __future__ import annotations

import os

import psycopg
import pytest
from psycopg.rows import dict_row
from sqlalchemy import text
from sqlalchemy.orm import sessionmaker

from cases import geocoding
from db.session import conninfo, engine_for, session_scope
from geo.geocoder import haversine_m

VERSION_SQL = "SELECT version FROM data_versions WHERE name = 'geocoder'"
MOVE_SQL = "UPDATE addresses SET geom = ST_Translate(geom, 0.001, 0) WHERE id = %s"  # ~90 m east


def _commit(url: str, sql: str, *params) -> int:
    """Run one statement in its own committed transaction; the number of rows it touched."""
    with psycopg.connect(conninfo(url), autocommit=True) as conn:
        return conn.execute(sql, params).rowcount


def _one(url: str, sql: str, *params) -> dict:
    with psycopg.connect(conninfo(url), row_factory=dict_row) as conn:
        return conn.execute(sql, params).fetchone()


def _house(url: str) -> dict:
    """An ordinary house (no flats) of 渠头村 whose door number is unique on its street."""
    return _one(url, """
        SELECT id, village, village_code, street, door_number, ST_X(geom) AS lon, ST_Y(geom) AS lat
        FROM addresses a WHERE village = '渠头村' AND street = '东大街' AND building IS NULL
          AND (SELECT count(*) FROM addresses b WHERE b.village_code = a.village_code
                 AND b.street = a.street AND b.door_number = a.door_number) = 1
        ORDER BY door_number LIMIT 1""")


def _geocode(url: str, address: str):
    with session_scope(url) as s:
        return geocoding.geocode(s, address)


# -- committed in-place changes are seen without invalidate() --------------------------------


def test_an_address_moved_in_place_is_seen_without_invalidate(demo_copy_url):
    house = _house(demo_copy_url)
    written = f"渠头村东大街{house['door_number']}号"
    before = _geocode(demo_copy_url, written)
    assert before.address_id == house["id"] and before.lon == pytest.approx(house["lon"], abs=1e-7)

    _commit(demo_copy_url, MOVE_SQL, house["id"])

    after = _geocode(demo_copy_url, written)
    assert after.address_id == house["id"]
    assert after.lon == pytest.approx(house["lon"] + 0.001, abs=1e-7)
    with session_scope(demo_copy_url) as s:
        assert geocoding.reverse(s, after.lon, after.lat)["distance_m"] < 0.01


def test_a_door_number_corrected_in_place_is_seen_without_invalidate(demo_copy_url):
    house = _house(demo_copy_url)
    top = _one(demo_copy_url, "SELECT max(door_number) AS n FROM addresses "
                              "WHERE village = '渠头村' AND street = '东大街'")
    new_door = top["n"] + 2  # past the end of the street: no such door yet
    written = f"渠头村东大街{new_door}号"
    assert _geocode(demo_copy_url, written).precision == "street"

    _commit(demo_copy_url, """
        UPDATE addresses
        SET door_number = %s, full_text = replace(full_text, door_number || '号', %s || '号')
        WHERE id = %s""", new_door, str(new_door), house["id"])

    after = _geocode(demo_copy_url, written)
    assert (after.precision, after.address_id, after.interpolated) == ("door", house["id"], False)


def test_a_street_renamed_in_place_is_seen_without_invalidate(demo_copy_url):
    house = _house(demo_copy_url)
    assert _geocode(demo_copy_url, "渠头村龙腾大道").precision == "village"

    renamed = _commit(demo_copy_url, "UPDATE streets SET name = '龙腾大道' "
                                     "WHERE village_code = %s AND name = '东大街'",
                      house["village_code"])
    assert renamed >= 1

    after = _geocode(demo_copy_url, "渠头村龙腾大道")
    assert (after.precision, after.street) == ("street", "龙腾大道")


def test_an_admin_grid_redrawn_in_place_is_seen_without_invalidate(demo_copy_url):
    house = _house(demo_copy_url)
    code = house["village_code"] + "000"
    before = _geocode(demo_copy_url, "渠头村")
    assert before.precision == "village"

    # 0.05° east (~4.5 km): the village's homes are left outside, so its point moves onto the
    # new outline (cases.geocoding.VILLAGES_SQL)
    _commit(demo_copy_url, "UPDATE grids SET geom = ST_Translate(geom, 0.05, 0) "
                           "WHERE code = %s AND valid_to IS NULL", code)

    after = _geocode(demo_copy_url, "渠头村")
    assert haversine_m(before.lon, before.lat, after.lon, after.lat) > 1000
    inside = _one(demo_copy_url, """
        SELECT ST_DWithin(geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326), 1e-6) AS yes
        FROM grids WHERE code = %s AND valid_to IS NULL""", after.lon, after.lat, code)
    assert inside["yes"]


# -- what must not change the answer -----------------------------------------------------------


def test_an_update_rolled_back_elsewhere_changes_nothing(demo_copy_url):
    house = _house(demo_copy_url)
    written = f"渠头村东大街{house['door_number']}号"
    with session_scope(demo_copy_url) as s:
        first = geocoding.address_index(s)
    with psycopg.connect(conninfo(demo_copy_url)) as conn:
        conn.execute(MOVE_SQL, (house["id"],))
        conn.rollback()

    with session_scope(demo_copy_url) as s:
        assert geocoding.address_index(s) is first  # not even rebuilt
        assert geocoding.geocode(s, written).lon == pytest.approx(house["lon"], abs=1e-7)


def test_a_change_seen_in_its_own_transaction_then_rolled_back_is_not_served_after(demo_copy_url):
    house = _house(demo_copy_url)
    written = f"渠头村东大街{house['door_number']}号"
    session = sessionmaker(engine_for(demo_copy_url))()
    try:
        session.execute(text(MOVE_SQL.replace("%s", ":id")), {"id": house["id"]})
        # the writer sees its own change, and the cache keeps the index it built from it
        moved = geocoding.geocode(session, written)
        assert moved.lon == pytest.approx(house["lon"] + 0.001, abs=1e-7)
        seen_version = session.execute(text(VERSION_SQL)).scalar()
    finally:
        session.rollback()
        session.close()

    # another change, committed, brings the version to the number the rolled-back one had
    _commit(demo_copy_url, "UPDATE towns SET name = name")
    assert _one(demo_copy_url, VERSION_SQL)["version"] == seen_version

    assert _geocode(demo_copy_url, written).lon == pytest.approx(house["lon"], abs=1e-7)


def test_a_database_made_again_under_the_same_url_is_not_served_the_old_index(pg_server,
                                                                              template_db):
    name = f"gridgov_test_geocache_{os.getpid()}"
    try:
        for lon, lat in ((112.87, 35.63), (112.95, 35.70)):
            pg_server.drop_database(name)  # and the pooled connections to it
            url = pg_server.create_database(name, template=template_db)
            _commit(url, "INSERT INTO towns (code, name, geom) VALUES ('140525108', '巴公镇', "
                         "ST_Multi(ST_Buffer(ST_SetSRID(ST_MakePoint(%s, %s), 4326), 0.01)))",
                    lon, lat)
            assert _one(url, VERSION_SQL)["version"] == 1  # the same number both times
            got = _geocode(url, "巴公镇")
            assert got.precision == "town"
            assert haversine_m(lon, lat, got.lon, got.lat) < 1200  # inside the town's ~1 km radius
    finally:
        pg_server.drop_database(name)


def test_without_its_version_row_the_index_is_built_on_every_call(demo_copy_url):
    house = _house(demo_copy_url)
    written = f"渠头村东大街{house['door_number']}号"
    _commit(demo_copy_url, "DELETE FROM data_versions WHERE name = 'geocoder'")
    with session_scope(demo_copy_url) as s:
        assert geocoding.address_index(s) is not geocoding.address_index(s)
    _commit(demo_copy_url, MOVE_SQL, house["id"])
    assert _geocode(demo_copy_url, written).lon == pytest.approx(house["lon"] + 0.001, abs=1e-7)


# -- the version: once per statement, only for the geocoder's tables ---------------------------


@pytest.mark.parametrize("statement, bumps", [
    ("UPDATE addresses SET room = room WHERE village = '渠头村'", 1),
    # key persons and households are not the geocoder's: three statements, one bump (the key
    # persons who live at an address go first: their rows name it, migration 0018)
    ("DELETE FROM key_persons WHERE address_id IN "
     + "(SELECT id FROM addresses WHERE village = '渠头村'); "
     + "DELETE FROM households WHERE address_id IN "
     + "(SELECT id FROM addresses WHERE village = '渠头村'); "
     + "DELETE FROM addresses WHERE village = '渠头村'", 1),
    ("INSERT INTO streets (village_code, name, town_code, geom) "
     + "SELECT village_code, name || '二', town_code, geom FROM streets", 1),
    ("UPDATE streets SET name = name", 1),
    ("UPDATE grids SET name = name WHERE level = 'admin'", 1),
    ("UPDATE towns SET name = name", 1),
    ("TRUNCATE grids", 1),
    ("UPDATE streets SET name = name; UPDATE towns SET name = name", 2),
    ("DELETE FROM addresses WHERE false", 1),  # a statement that touches no row still counts
    ("UPDATE cases SET status = status WHERE id IN (SELECT id FROM cases LIMIT 50)", 0),
    ("UPDATE people SET name = name", 0),
])
def test_each_statement_on_the_geocoders_tables_bumps_the_version_once(demo_db_url, statement,
                                                                       bumps):
    with psycopg.connect(conninfo(demo_db_url)) as conn, conn.transaction(force_rollback=True):
        # rolled back: the shared demo is left as it was
        before = conn.execute(VERSION_SQL).fetchone()[0]
        conn.execute(statement)
        assert conn.execute(VERSION_SQL).fetchone()[0] - before == bumps
