"""A province for the benchmarks (issue 13): ``gridgov demo load --towns N`` makes N towns by
copying the Bagong demo, once it is written, N - 1 times, in bulk SQL (INSERT … SELECT over a
table of the new towns), so a thousand towns and ten million cases load in minutes.

Each copy is Bagong moved on the map (``ST_Translate`` by a whole number of town widths, on a
square layout north-east of Bagong, so no two towns overlap) under a code of its own: its
zones, villages, administrative, regional and service grids, its people (grid workers,
auxiliaries, leaders; ids shifted by the base town's largest id per copy) and their grid
assignments, and its share of the cases with their events and running clocks. Codes keep
DOMAIN.md's shape: a copy's town code is 14 05 CC TTT (Shanxi, Jincheng, county CC from 26 up,
town TTT 101-199), and every village, grid and zone code is the town code followed by Bagong's
own suffix, so a code still says which town it is in. The copies' codes sort after Bagong's,
which keeps the demo accounts (demo/accounts.py: the first town, the first village) in Bagong.

What a copy does not get: addresses, households, enterprises, hazards, field visits and
accounts. Intake by coordinates, the map, tiles and the statistics work in every town; the
address geocoder and the demo accounts know Bagong alone.
"""

from __future__ import annotations

import math

from psycopg import sql
from tqdm import tqdm

from demo.geometry import TOWN_CODE

# At most twice the province of issue 13 (1,000 towns): the layout then spans about 7° of
# longitude and 4.5° of latitude from Bagong, still on the North China plain's latitudes.
TOWNS_MAX = 2_000
# one town's footprint: Bagong's extent (0.143° × 0.086°) and a margin, in degrees
TOWN_STEP_LONLAT = (0.15, 0.09)
# the copies' codes: province 14 (Shanxi), city 05 (Jincheng), counties from 26 (after
# Zezhou's 25, so they sort after Bagong), 99 towns each (101-199; 1xx is a town, 镇)
_PROVINCE_CITY, _FIRST_COUNTY, _TOWNS_PER_COUNTY = "1405", 26, 99
# cases copied per statement: a progress step, and a statement's memory bounded
_CASES_PER_STATEMENT = 200_000


def check_towns(towns: int) -> None:
    """Refuse a number of towns the province cannot have (ValueError, the value named)."""
    if not 1 <= towns <= TOWNS_MAX:
        raise ValueError(f"{towns:,} towns but a province has between 1 and {TOWNS_MAX:,}")


def town_codes(towns: int) -> list[str]:
    """The 9-digit codes of a province of ``towns``: Bagong's first, then the copies'."""
    check_towns(towns)
    copies = [
        f"{_PROVINCE_CITY}{_FIRST_COUNTY + j // _TOWNS_PER_COUNTY:02d}{101 + j % _TOWNS_PER_COUNTY:03d}"
        for j in range(towns - 1)
    ]
    return [TOWN_CODE, *copies]


def town_offsets_lonlat(towns: int) -> list[tuple[float, float]]:
    """Where each town lies relative to Bagong, in degrees (Bagong first, at 0, 0): a square
    layout, row by row eastwards, rows northwards."""
    cols = math.ceil(math.sqrt(towns))
    dlon, dlat = TOWN_STEP_LONLAT
    return [((k % cols) * dlon, (k // cols) * dlat) for k in range(towns)]


def case_quotas(towns: int, cases: int) -> list[int]:
    """How many of ``cases`` each town gets: as even as can be, the first towns one more."""
    return [cases // towns + (1 if k < cases % towns else 0) for k in range(towns)]


def copy_towns(conn, towns: int, cases: int, progress: bool = True) -> dict:
    """Copy the Bagong just written by demo/load.py (with ``case_quotas(towns, cases)[0]``
    cases) into ``towns - 1`` more towns, in the caller's transaction. Returns the counts of
    the whole province."""
    check_towns(towns)
    if towns == 1:
        return {}
    codes = town_codes(towns)
    offsets = town_offsets_lonlat(towns)
    quotas = case_quotas(towns, cases)
    conn.execute("""
        CREATE TEMP TABLE province_towns (
            k integer PRIMARY KEY, code text NOT NULL, name text NOT NULL, county text NOT NULL,
            dlon float8 NOT NULL, dlat float8 NOT NULL, quota integer NOT NULL
        ) ON COMMIT DROP""")
    with conn.cursor().copy("COPY province_towns FROM STDIN") as copy:
        for k in range(1, towns):
            copy.write_row((k, codes[k], f"演示{k + 1}镇", f"演示{codes[k][4:6]}县",
                            offsets[k][0], offsets[k][1], quotas[k]))
    people_step = conn.execute("SELECT coalesce(max(id), 0) FROM people").fetchone()[0]
    # the base town's cases numbered 1…n in id order: copy k takes the first quota(k) of them
    # under ids max + (k - 1) × n + rn, so no two copies and no base case share an id
    conn.execute("""
        CREATE TEMP TABLE province_cases ON COMMIT DROP AS
        SELECT id, row_number() OVER (ORDER BY id) AS rn FROM cases WHERE town_code = %s""",
                 (TOWN_CODE,))
    conn.execute("ALTER TABLE province_cases ADD PRIMARY KEY (id)")
    n_base, max_id = conn.execute(
        "SELECT count(*), coalesce(max(id), 0) FROM province_cases").fetchone()
    if n_base < quotas[0]:
        raise AssertionError(f"Bagong has {n_base} cases, the province needs {quotas[0]} there")
    step = sql.Literal(people_step)
    ids = {"max_id": max_id, "n_base": n_base}

    def code(column: str) -> sql.Composable:
        # a code under the base town: the copy's town code and the same suffix (NULL stays)
        return sql.SQL("t.code || substr(s.{}, 10)").format(sql.Identifier(column))

    def moved(column: str) -> sql.Composable:
        return sql.SQL("ST_Translate(s.{}, t.dlon, t.dlat)").format(sql.Identifier(column))

    def person(column: str) -> sql.Composable:
        return sql.SQL("s.{} + t.k * {}").format(sql.Identifier(column), step)

    def case_id(column: str) -> sql.Composable:
        # a case named by a base case (a merge, a probable duplicate): its copy in this town,
        # NULL when the copy does not have it (beyond the town's quota)
        return sql.SQL(
            "(SELECT %(max_id)s + (t.k - 1) * %(n_base)s + r.rn FROM province_cases r "
            " WHERE r.id = s.{} AND r.rn <= t.quota)").format(sql.Identifier(column))

    the_town = sql.SQL("s.town_code = {}").format(sql.Literal(TOWN_CODE))
    counts = {}
    counts["towns"] = towns
    _copy(conn, "towns", {"code": sql.SQL("t.code"), "name": sql.SQL("t.name"),
                          "county": sql.SQL("t.county"), "geom": moved("geom")},
          sql.SQL("towns s, province_towns t WHERE s.code = {}").format(sql.Literal(TOWN_CODE)))
    _copy(conn, "zones", {"code": code("code"), "town_code": sql.SQL("t.code"),
                          "leader_id": person("leader_id"), "geom": moved("geom")},
          sql.SQL("zones s, province_towns t WHERE {}").format(the_town), omit=("id",))
    _copy(conn, "grids", {"code": code("code"), "parent_code": code("parent_code"),
                          "zone_code": code("zone_code"), "town_code": sql.SQL("t.code"),
                          "geom": moved("geom")},
          sql.SQL("grids s, province_towns t WHERE {}").format(the_town), omit=("id",))
    _copy(conn, "people", {"id": person("id"), "village_code": code("village_code"),
                           "town_code": sql.SQL("t.code")},
          sql.SQL("people s, province_towns t WHERE {}").format(the_town))
    conn.execute("SELECT setval(pg_get_serial_sequence('people', 'id'), (SELECT max(id) FROM people))")
    _copy(conn, "grid_assignments", {"person_id": person("person_id"), "grid_code": code("grid_code")},
          sql.SQL("grid_assignments s, province_towns t, people p "
                  "WHERE p.id = s.person_id AND p.town_code = {}").format(sql.Literal(TOWN_CODE)),
          omit=("id",))

    case_overrides = {
        "id": sql.SQL("%(max_id)s + (t.k - 1) * %(n_base)s + b.rn"),
        "town_code": sql.SQL("t.code"), "grid_code": code("grid_code"),
        "admin_code": code("admin_code"), "assignee_id": person("assignee_id"),
        "closed_by": person("closed_by"), "geom": moved("geom"),
        "merged_into": case_id("merged_into"),
        "probable_duplicate_of": case_id("probable_duplicate_of"),
        # unique: the copy's key says its town
        "idempotency_key": sql.SQL("s.idempotency_key || ':' || t.code"),
    }
    child_overrides = {
        "case_id": sql.SQL("%(max_id)s + (t.k - 1) * %(n_base)s + b.rn"),
        "town_code": sql.SQL("t.code"), "assignee_id": person("assignee_id"),
    }
    event_overrides = dict(child_overrides, **{
        "actor": sql.SQL("CASE WHEN s.actor LIKE 'person:%%' "
                         "THEN 'person:' || (CAST(substr(s.actor, 8) AS integer) + t.k * {}) "
                         "ELSE s.actor END").format(step),
        "idempotency_key": sql.SQL("s.idempotency_key || ':' || t.code"),
    })
    deadline_overrides = {k: v for k, v in child_overrides.items() if k != "assignee_id"}
    batch = max(1, _CASES_PER_STATEMENT // max(1, quotas[0]))
    bar = tqdm(total=sum(quotas[1:]), desc="province cases", unit="case", disable=not progress)
    for first in range(1, towns, batch):
        last = min(towns - 1, first + batch - 1)
        these = sql.SQL("province_cases b JOIN province_towns t ON b.rn <= t.quota "
                        "AND t.k BETWEEN {} AND {}").format(sql.Literal(first), sql.Literal(last))
        _copy(conn, "cases", case_overrides,
              sql.SQL("cases s JOIN {} ON b.id = s.id").format(these), params=ids)
        _copy(conn, "case_events", event_overrides,
              sql.SQL("case_events s JOIN {} ON b.id = s.case_id").format(these), omit=("id",),
              params=ids)
        _copy(conn, "case_deadlines", deadline_overrides,
              sql.SQL("case_deadlines s JOIN {} ON b.id = s.case_id").format(these),
              omit=("id",), params=ids)
        bar.update(sum(quotas[first:last + 1]))
    bar.close()
    conn.execute("SELECT setval(pg_get_serial_sequence('cases', 'id'), "
                 "greatest((SELECT max(id) FROM cases), 1))")
    # the province's counts, where load_demo's are Bagong's
    counts.update(zip(("zones", "admin_grids", "leaf_grids", "people"), conn.execute("""
        SELECT (SELECT count(*) FROM zones), (SELECT count(*) FROM grids WHERE level = 'admin'),
               (SELECT count(*) FROM grids WHERE level <> 'admin'), (SELECT count(*) FROM people)
    """).fetchone()))
    counts["cases"] = cases
    return counts


def _copy(conn, table: str, overrides: dict[str, sql.Composable], source: sql.Composable,
          omit: tuple[str, ...] = (), params: dict | None = None) -> None:
    """INSERT INTO ``table`` SELECT its every column from ``source`` (alias ``s``, joined to
    ``province_towns t``), ``overrides`` where given. The columns are read from the catalogue
    so a column added later is copied too (generated ones are PostgreSQL's to fill)."""
    columns = [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = %s AND is_generated = 'NEVER' "
        "ORDER BY ordinal_position", (table,))]
    columns = [c for c in columns if c not in omit]
    exprs = [overrides.get(c, sql.SQL("s.{}").format(sql.Identifier(c))) for c in columns]
    stmt = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(exprs), source)
    conn.execute(stmt, params)
