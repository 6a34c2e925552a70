"""``load_demo``: write the Bagong demo (boundaries, people, addresses, registry, cases) into
a migrated database, in one transaction; COPY for the large tables."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import psycopg
import shapely
from tqdm import tqdm

from db import partitions
from db.session import conninfo, session_scope
from demo import cases as demo_cases
from cases.deadlines import BusinessCalendar
from demo import field as demo_field
from demo import geometry, province, registry
from demo.accounts import create_demo_accounts

TZ = ZoneInfo("Asia/Shanghai")
# everything --replace empties at once (TRUNCATE refuses a table another one not listed refers to)
TABLES = ("feed_events", "feed_rejects", "emergency_tasks", "emergencies", "web_sessions", "api_tokens", "accounts", "notifications", "rating_links",
          "visit_photos", "visits", "key_places", "key_persons", "shops",
          "case_deadlines", "case_photos", "case_events", "cases", "hazards", "enterprises", "households",
          "addresses", "streets", "grid_assignments", "people", "draft_changes", "draft_grids",
          "drafts", "boundary_versions", "grids", "zones", "towns")


class DemoError(RuntimeError):
    """The demo cannot be loaded into this database as asked."""


def _ewkb(geom) -> str:
    return shapely.to_wkb(shapely.set_srid(geom, 4326), hex=True, include_srid=True)


def has_town(url: str) -> bool:
    with psycopg.connect(conninfo(url)) as conn:
        return conn.execute("SELECT EXISTS (SELECT 1 FROM towns)").fetchone()[0]


def load_demo(url: str, seed: int = 1, cases: int = 4107, progress: bool = True, replace: bool = False,
              residents: int = registry.RESIDENTS, towns: int = 1, month_partitions: bool = True
              ) -> dict:
    """Load the demo for ``seed`` with ``residents`` people in its households (demo/registry.py);
    refuse (DemoError) when the database already has data, unless ``replace``, or when the demo
    cannot draw that many residents (before anything is written). Then its accounts
    (demo/accounts.py). With ``towns`` > 1, a province: Bagong and ``towns - 1`` copies of it
    (demo/province.py), the ``cases`` spread over them. The months the cases fill get their
    partitions first (db/partitions.py) unless not ``month_partitions`` (a benchmark's
    unpartitioned layout). Returns the counts written."""
    try:
        registry.check_residents(residents)
        province.check_towns(towns)
    except ValueError as exc:
        raise DemoError(str(exc)) from exc
    geo = geometry.build(seed)
    reg = registry.build(geo, seed, residents)
    with psycopg.connect(conninfo(url)) as conn:
        with conn.transaction():
            occupied = conn.execute(
                "SELECT (SELECT count(*) FROM towns) + (SELECT count(*) FROM grids) + (SELECT count(*) FROM people)"
            ).fetchone()[0]
            if occupied and not replace:
                raise DemoError("the database already has boundaries or people: use --replace to wipe them and load the demo")
            if occupied:
                conn.execute("TRUNCATE " + ", ".join(TABLES) + " RESTART IDENTITY")
            # one "bulk" notification for the whole load instead of one per case (web/live.py)
            conn.execute("SET LOCAL gridgov.bulk = 'on'")
            counts = _write_boundaries(conn, geo, reg)
            counts.update(_write_registry(conn, geo, reg))
            counts.update(demo_field.write(conn, geo, reg, seed, datetime.now(TZ)))
            # the months the cases are about to fill (a year back), so they land in theirs
            if month_partitions:
                today = datetime.now(TZ).date()
                partitions.cover(conn, today - timedelta(days=366), today)
            counts["cases"] = _write_cases(conn, geo, reg, province.case_quotas(towns, cases)[0],
                                           seed, progress)
            counts.update(province.copy_towns(conn, towns, cases, progress))
            conn.execute("SELECT pg_notify('gridgov_cases', json_build_object('op', 'bulk', 'count', %s::int)::text)", (cases,))
        # A bulk load passes autovacuum's insert threshold (a fifth of a table) on every table
        # it fills, and autovacuum then goes through them all later, while the service runs:
        # after a province of 10M cases, three autovacuum workers were still vacuuming cases and
        # case_events when the province benchmark measured, minutes after the load (2026-12-02).
        # Vacuumed here, once, before anyone uses the database (PostgreSQL's "Populating a
        # Database" asks for ANALYZE after a load; VACUUM also sets the visibility map).
        conn.autocommit = True  # VACUUM runs outside a transaction
        conn.execute("VACUUM " + ", ".join(TABLES))
        conn.execute("ANALYZE")  # every table, once: those above and the rest (categories, …)
    with session_scope(url) as session:
        accounts = create_demo_accounts(session)
    counts["accounts"] = len(accounts)
    return counts


def _write_boundaries(conn, geo: geometry.DemoGeometry, reg: registry.Registry) -> dict:
    town = geo.to_lonlat(geo.town_xy)
    conn.execute(
        "INSERT INTO towns (code, name, county, city, province, geom) VALUES (%s, %s, %s, %s, %s, %s::geometry)",
        (geometry.TOWN_CODE, geometry.TOWN_NAME, registry.COUNTY, registry.CITY, registry.PROVINCE, _ewkb(town)),
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO people (id, name, role, title, phone, village_code, on_duty, town_code, "
            "party_member) VALUES (%(id)s, %(name)s, %(role)s, %(title)s, %(phone)s, "
            "%(village_code)s, %(on_duty)s, %(town)s, %(party_member)s)",
            [{**p, "town": geometry.TOWN_CODE} for p in reg.people],
        )
        cur.execute("SELECT setval(pg_get_serial_sequence('people', 'id'), (SELECT max(id) FROM people))")
        cur.executemany(
            "INSERT INTO zones (code, name, kind, town_code, leader_id, geom) VALUES (%s, %s, %s, %s, %s, %s::geometry)",
            [(code, name, kind, geometry.TOWN_CODE, reg.zone_leaders[code], _ewkb(geo.to_lonlat(g)))
             for code, (name, kind, g) in geo.zones.items()],
        )
        rows = [(v.code + "000", v.name, "admin", None, v.zone_code, geometry.TOWN_CODE, _ewkb(geo.to_lonlat(v.geom_xy)))
                for v in geo.villages]
        rows += [(l.code, l.name, l.level, l.village.code + "000", l.zone_code, geometry.TOWN_CODE, _ewkb(geo.to_lonlat(l.geom_xy)))
                 for l in geo.leaves]
        cur.executemany(
            "INSERT INTO grids (code, name, level, parent_code, zone_code, town_code, geom) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s::geometry)",
            rows,
        )
        cur.executemany(
            "INSERT INTO grid_assignments (person_id, grid_code, role) VALUES (%(person_id)s, %(grid_code)s, %(role)s)",
            reg.assignments,
        )
    return {"zones": len(geo.zones), "admin_grids": len(geo.villages), "leaf_grids": len(geo.leaves),
            "people": len(reg.people)}


def _points_lonlat(geo, points) -> np.ndarray:
    xy = np.array([(p.x, p.y) for p in points])
    lon, lat = geometry._TO_LONLAT.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def _write_registry(conn, geo: geometry.DemoGeometry, reg: registry.Registry) -> dict:
    town = geometry.TOWN_CODE
    now = datetime.now(TZ)
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO streets (village_code, name, town_code, geom) VALUES (%s, %s, %s, %s::geometry)",
            [(s["village_code"], s["name"], town, _ewkb(geo.to_lonlat(s["geom_xy"]))) for s in reg.streets],
        )
        addr_ll = _points_lonlat(geo, [a["geom_xy"] for a in reg.addresses])
        cols = ("id", "full_text", "province", "city", "county", "town", "village", "village_code", "group_name",
                "street", "door_number", "building", "unit", "room", "grid_code", "town_code", "geom")
        with cur.copy(f"COPY addresses ({', '.join(cols)}) FROM STDIN") as copy:
            for i, (a, (lon, lat)) in enumerate(zip(reg.addresses, addr_ll), start=1):
                copy.write_row((i, a["full_text"], a["province"], a["city"], a["county"], a["town"], a["village"],
                                a["village_code"], a["group_name"], a["street"], a["door_number"], a["building"],
                                a["unit"], a["room"], a["grid_code"], town, f"SRID=4326;POINT({lon:.8f} {lat:.8f})"))
        cur.execute("SELECT setval(pg_get_serial_sequence('addresses', 'id'), (SELECT max(id) FROM addresses))")
        with cur.copy("COPY households (address_id, head_name, residents, key_person, grid_code, town_code, "
                      "elderly_alone, disabled, bedridden, children_unattended) FROM STDIN") as copy:
            for h in reg.households:
                copy.write_row((h["address"] + 1, h["head_name"], h["residents"], h["key_person"], h["grid_code"], town,
                                h["elderly_alone"], h["disabled"], h["bedridden"], h["children_unattended"]))
        ent_ll = _points_lonlat(geo, [e["geom_xy"] for e in reg.enterprises])
        cur.executemany(
            "INSERT INTO enterprises (name, industry, employees, address, grid_code, zone_code, town_code, geom) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
            [(e["name"], e["industry"], e["employees"], e["address"], e["grid_code"], e["zone_code"], town, lon, lat)
             for e, (lon, lat) in zip(reg.enterprises, ent_ll)],
        )
        haz_ll = _points_lonlat(geo, [h["geom_xy"] for h in reg.hazards])
        cur.executemany(
            "INSERT INTO hazards (type, level, status, description, grid_code, found_at, town_code, geom) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, ST_SetSRID(ST_MakePoint(%s, %s), 4326))",
            [(h["type"], h["level"], h["status"], h["description"], h["grid_code"],
              now - timedelta(days=h["days_ago"]), town, lon, lat) for h, (lon, lat) in zip(reg.hazards, haz_ll)],
        )
    return {"addresses": len(reg.addresses), "households": len(reg.households),
            "residents": sum(h["residents"] for h in reg.households),
            "vulnerable": sum(int(h["elderly_alone"]) + h["disabled"] + h["bedridden"] + h["children_unattended"]
                              for h in reg.households),
            "streets": len(reg.streets),
            "enterprises": len(reg.enterprises), "hazards": len(reg.hazards)}


def _write_cases(conn, geo, reg, n: int, seed: int, progress: bool) -> int:
    if n <= 0:
        return 0
    cats = [
        dict(zip(("code", "parent_code", "checklist", "name_zh", "limit_value", "limit_unit", "weight"), row))
        for row in conn.execute(
            "SELECT code, parent_code, checklist, name_zh, limit_value, limit_unit, weight FROM categories "
            "WHERE parent_code IS NOT NULL AND weight > 0 ORDER BY code"
        )
    ]
    if not cats:
        raise DemoError("the categories table is empty: run `gridgov db upgrade`")
    workers: dict[str, list[int]] = {}
    for a in reg.assignments:
        if a["role"] == "worker":
            workers.setdefault(a["grid_code"], []).append(a["person_id"])
    sources = demo_cases.CaseSources(
        homes=_points_lonlat(geo, [a["geom_xy"] for a in reg.addresses]),
        home_text=[f"{a['village']}{a['street'] or ''}{a['door_number'] or ''}{'号' if a['door_number'] else ''}" for a in reg.addresses],
        enterprises=_points_lonlat(geo, [e["geom_xy"] for e in reg.enterprises]),
        hazards=_points_lonlat(geo, [h["geom_xy"] for h in reg.hazards]),
        leaf_geoms=[geo.to_lonlat(l.geom_xy) for l in geo.leaves],
        leaf_codes=[l.code for l in geo.leaves],
        leaf_admin=[l.village.code + "000" for l in geo.leaves],
        leaf_names=[l.name for l in geo.leaves],
        workers=workers,
        categories=cats,
        calendar=BusinessCalendar(dict(conn.execute("SELECT day, is_workday FROM calendar_days"))),
    )
    now = datetime.now(TZ).replace(minute=0, second=0, microsecond=0)
    cols = ("id", "town_code") + demo_cases.COLUMNS
    event_cols = ("case_id", "town_code") + demo_cases.EVENT_COLUMNS
    clock_cols = ("case_id", "town_code", "clock", "started_at", "due_at", "soon_at", "yellow_at",
                  "red_at", "suspended_at", "remaining_s", "unit")
    town = geometry.TOWN_CODE
    bar = tqdm(total=n, desc="cases", unit="case", disable=not progress)
    with conn.cursor() as cur:
        for chunk in demo_cases.generate(sources, n, seed, now):
            # ids first: each case's events name it (COPY cannot return them)
            ids = [r[0] for r in cur.execute(
                "SELECT nextval(pg_get_serial_sequence('cases', 'id')) FROM generate_series(1, %s)",
                (len(chunk),))]
            with cur.copy(f"COPY cases ({', '.join(cols)}) FROM STDIN") as copy:
                for case_id, (row, _, _) in zip(ids, chunk):
                    copy.write_row((case_id, town, *row))
            with cur.copy(f"COPY case_events ({', '.join(event_cols)}) FROM STDIN") as copy:
                for case_id, (_, events, _) in zip(ids, chunk):
                    for event in events:
                        copy.write_row((case_id, town, *event))
            with cur.copy(f"COPY case_deadlines ({', '.join(clock_cols)}) FROM STDIN") as copy:
                for case_id, (_, _, running) in zip(ids, chunk):
                    for c in running:
                        copy.write_row((case_id, town, c.clock, c.started_at, c.due_at,
                                        c.soon_at, c.yellow_at, c.red_at, c.suspended_at,
                                        c.remaining_s, c.unit))
            bar.update(len(chunk))
    bar.close()
    return n
