"""Emergency mobilisation (emergencies/, web/api/emergencies.py): the preview counts what an
independent SQL count finds, mobilising makes one task per target for the right worker, a
confirmation is scoped and idempotent, and every bad area or confirmation has its own error
and writes nothing."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import datetime

import pytest

from cases.deadlines import LOCAL_TZ
from tests.openapi_support import assert_documented
from tests.visit_support import client_for, query, visits_url, worker_grids  # noqa: F401

em_url = visits_url  # a copy of the demo for this module


@pytest.fixture(scope="module")
def village(em_url) -> str:
    """The demo accounts' village (the grid workers' and the auxiliary's)."""
    return query(em_url, "SELECT scope_code FROM accounts WHERE name = 'village_operator'")[0][
        "scope_code"]


@pytest.fixture
def operator(em_url, demo_tokens):
    return client_for(em_url, demo_tokens["town_operator"])


@pytest.fixture
def worker(em_url, demo_tokens):
    return client_for(em_url, demo_tokens["grid_worker_1"])


def _counts_by_sql(url: str, where: str, **params) -> dict:
    """Households, residents, vulnerable, enterprises and hazards (not resolved) whose point
    satisfies ``where`` (on a column ``geom`` and ``grid_code``), counted table by table."""
    h = query(url, f"SELECT count(*) AS n, coalesce(sum(residents), 0) AS r, "
                   f"coalesce(sum(CASE WHEN elderly_alone THEN 1 ELSE 0 END + disabled + "
                   f"bedridden + children_unattended), 0) AS v "
                   f"FROM (SELECT h.*, a.geom FROM households h JOIN addresses a "
                   f"ON a.id = h.address_id) t WHERE {where}", **params)[0]
    e = query(url, f"SELECT count(*) AS n FROM enterprises t WHERE {where}", **params)[0]
    z = query(url, f"SELECT count(*) AS n FROM hazards t WHERE status <> 'resolved' AND {where}",
              **params)[0]
    return {"households": h["n"], "residents": h["r"], "vulnerable": h["v"],
            "enterprises": e["n"], "hazards": z["n"]}


def _totals(answer: dict) -> dict:
    return {k: answer["totals"][k] for k in ("households", "residents", "vulnerable",
                                              "enterprises", "hazards")}


def test_the_demo_flags_the_vulnerable(em_url):
    row = query(em_url, "SELECT count(*) FILTER (WHERE elderly_alone) AS alone, "
                        "sum(disabled) AS disabled, sum(bedridden) AS bedridden, "
                        "sum(children_unattended) AS children, "
                        "count(*) FILTER (WHERE vulnerable > residents) AS impossible "
                        "FROM households")[0]
    assert row["alone"] > 100 and row["disabled"] > 100 and row["bedridden"] > 20
    assert row["children"] > 50 and row["impossible"] == 0


def test_preview_of_a_village_equals_a_count_by_grid_code(operator, em_url, village):
    answer = operator.post("/api/v1/emergencies/preview", json={"area": {"village": village}})
    assert answer.status_code == 200, answer.json
    expected = _counts_by_sql(em_url, "left(grid_code, 12) = :v", v=village)
    assert _totals(answer.json) == expected
    assert {g["grid_code"][:12] for g in answer.json["grids"]} == {village}
    assert_documented("POST", "/api/v1/emergencies/preview", answer)  # grids, workers, …
    assert sum(w["targets"] for w in answer.json["workers"]) == answer.json["totals"]["targets"]


def test_preview_of_a_grid_equals_a_count_by_grid_code(operator, em_url):
    grid = worker_grids(em_url)
    code = sorted(grid)[0]
    answer = operator.post("/api/v1/emergencies/preview", json={"area": {"grid": code}})
    assert answer.status_code == 200, answer.json
    assert _totals(answer.json) == _counts_by_sql(em_url, "grid_code = :g", g=code)
    (row,) = answer.json["grids"]
    worker = query(em_url, "SELECT person_id FROM grid_assignments WHERE grid_code = :g "
                           "AND role = 'worker'", g=code)
    assert row["person_id"] in {w["person_id"] for w in worker}


def test_preview_of_a_drawn_polygon_equals_a_spatial_count(operator, em_url, village):
    box = query(em_url, "SELECT ST_XMin(e) AS x0, ST_YMin(e) AS y0, ST_XMax(e) AS x1, "
                        "ST_YMax(e) AS y1 FROM (SELECT ST_Extent(geom) AS e FROM grids "
                        "WHERE code = :c) s", c=village + "000")[0]
    # a quadrilateral across the village and its neighbours (not a grid's shape)
    xm, ym = (box["x0"] + box["x1"]) / 2, (box["y0"] + box["y1"]) / 2
    ring = [[box["x0"], ym], [xm, box["y0"] - 0.002], [box["x1"] + 0.003, ym],
            [xm, box["y1"]], [box["x0"], ym]]
    polygon = {"type": "Polygon", "coordinates": [ring]}
    answer = operator.post("/api/v1/emergencies/preview", json={"area": {"geojson": polygon}})
    assert answer.status_code == 200, answer.json
    expected = _counts_by_sql(
        em_url, "ST_Intersects(ST_GeomFromText(:wkt, 4326), t.geom)",
        wkt="POLYGON((" + ", ".join(f"{x} {y}" for x, y in ring) + "))")
    assert _totals(answer.json) == expected
    assert answer.json["totals"]["households"] > 0


def _radius_clear_of_points(url: str, lon: float, lat: float, wanted_m: float) -> float:
    """A radius near ``wanted_m`` with no target within 1 % of it, so a polygonised buffer
    and ST_DWithin agree on every point."""
    dists = sorted(r["d"] for r in query(url, """
        SELECT ST_Distance(CAST(geom AS geography), CAST(ST_MakePoint(:x, :y) AS geography)) AS d
          FROM (SELECT a.geom FROM households h JOIN addresses a ON a.id = h.address_id
                UNION ALL SELECT geom FROM enterprises UNION ALL
                SELECT geom FROM hazards WHERE status <> 'resolved') t
         WHERE ST_DWithin(CAST(geom AS geography), CAST(ST_MakePoint(:x, :y) AS geography), :r)
    """, x=lon, y=lat, r=wanted_m * 2))
    best = max(zip(dists, dists[1:]), key=lambda p: (p[1] / p[0] if p[0] > 50 else 0))
    return (best[0] + best[1]) / 2


@pytest.mark.parametrize("shape", ["point", "line"])
def test_preview_of_a_buffer_equals_a_distance_count(operator, em_url, village, shape):
    home = query(em_url, "SELECT ST_X(a.geom) AS x, ST_Y(a.geom) AS y FROM households h "
                         "JOIN addresses a ON a.id = h.address_id WHERE left(h.grid_code, 12) "
                         "= :v ORDER BY h.id LIMIT 1", v=village)[0]
    if shape == "point":
        geometry = {"type": "Point", "coordinates": [home["x"], home["y"]]}
        radius = _radius_clear_of_points(em_url, home["x"], home["y"], 300)
        wkt = f"POINT({home['x']} {home['y']})"
    else:  # a river line: distance to a line is checked on the buffer's own measure only
        geometry = {"type": "LineString", "coordinates": [[home["x"] - 0.004, home["y"]],
                                                          [home["x"] + 0.004, home["y"]]]}
        radius = 150.0
        wkt = f"LINESTRING({home['x'] - 0.004} {home['y']}, {home['x'] + 0.004} {home['y']})"
    answer = operator.post("/api/v1/emergencies/preview",
                           json={"area": {"geojson": geometry, "buffer_m": radius}})
    assert answer.status_code == 200, answer.json
    inner = _counts_by_sql(em_url, "ST_DWithin(CAST(t.geom AS geography), "
                                   "CAST(ST_GeomFromText(:wkt, 4326) AS geography), :r)",
                           wkt=wkt, r=radius * (0.99 if shape == "line" else 1.0))
    outer = _counts_by_sql(em_url, "ST_DWithin(CAST(t.geom AS geography), "
                                   "CAST(ST_GeomFromText(:wkt, 4326) AS geography), :r)",
                           wkt=wkt, r=radius * (1.01 if shape == "line" else 1.0))
    got = _totals(answer.json)
    assert all(inner[k] <= got[k] <= outer[k] for k in got), (inner, got, outer)
    if shape == "point":
        assert got == inner


def test_a_household_just_inside_the_radius_is_in_the_area_whichever_way_it_lies(
        operator, em_url, village):
    """A 200.1 m circle around a point 200 m from a household holds that household from every
    side: the buffer's polygon may not cut inside the circle between its corners (PostGIS's
    default polygon does, by up to 1 m at this radius)."""
    from pyproj import Geod

    home = query(em_url, "SELECT ST_X(a.geom) AS x, ST_Y(a.geom) AS y FROM households h "
                         "JOIN addresses a ON a.id = h.address_id WHERE left(h.grid_code, 12) "
                         "= :v ORDER BY h.id LIMIT 1", v=village)[0]
    geod = Geod(ellps="WGS84")
    missed = []
    for k in range(48):  # every 7.5 degrees, off the corners of either polygon
        azimuth = 3.75 + 7.5 * k
        x, y, _ = geod.fwd(home["x"], home["y"], azimuth, 200.0)
        answer = operator.post("/api/v1/emergencies/preview", json={"area": {
            "geojson": {"type": "Point", "coordinates": [x, y]}, "buffer_m": 200.1}})
        assert answer.status_code == 200, answer.json
        near = "ST_DWithin(CAST(t.geom AS geography), CAST(ST_MakePoint(:x, :y) AS geography), :r)"
        inner = _counts_by_sql(em_url, near, x=x, y=y, r=200.1)
        outer = _counts_by_sql(em_url, near, x=x, y=y, r=200.1 * 1.0005)
        got = _totals(answer.json)
        if not all(inner[k] <= got[k] <= outer[k] for k in got):
            missed.append((azimuth, inner["households"], got["households"]))
    assert not missed, f"(azimuth, households within 200.1 m, the preview's): {missed}"


def test_preview_of_an_uploaded_feature_collection_unions_its_polygons(operator, em_url,
                                                                         village):
    grids = query(em_url, "SELECT code, ST_AsGeoJSON(geom) AS g FROM grids WHERE "
                          "parent_code = :p AND level = 'service' ORDER BY code LIMIT 2",
                  p=village + "000")
    upload = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": g["code"]}, "geometry": json.loads(g["g"])}
        for g in grids]}
    answer = operator.post("/api/v1/emergencies/preview", json={"area": {"geojson": upload}})
    assert answer.status_code == 200, answer.json
    assert _totals(answer.json) == _counts_by_sql(em_url, "grid_code = ANY(:codes)",
                                                  codes=[g["code"] for g in grids])


def _mobilise(client, area: dict, **extra):
    return client.post("/api/v1/emergencies", json={
        "name": extra.pop("name", "丹河汛情转移"), "kind": extra.pop("kind", "evacuate"),
        "instructions": "转移至村委会", "area": area, **extra})


def test_mobilise_makes_one_task_per_target_for_its_grids_worker(operator, em_url, village):
    before = query(em_url, "SELECT count(*) AS n FROM emergency_tasks")[0]["n"]
    answer = _mobilise(operator, {"village": village})
    assert answer.status_code == 201, answer.json
    assert_documented("POST", "/api/v1/emergencies", answer)  # the emergency, open
    eid = answer.json["emergency"]["id"]
    expected = _counts_by_sql(em_url, "left(grid_code, 12) = :v", v=village)
    totals = answer.json["totals"]
    assert totals["households"] == expected["households"]
    assert totals["targets"] == expected["households"] + expected["enterprises"] + expected["hazards"]
    assert totals["confirmed"] == 0 and totals["households_to_go"] == expected["households"]
    assert totals["vulnerable_not_reached"] == expected["vulnerable"]
    # one task per target, none twice, none missing
    missing = query(em_url, """
        SELECT count(*) AS n FROM (
            SELECT 'household' AS type, h.id FROM households h WHERE left(h.grid_code, 12) = :v
            UNION ALL SELECT 'enterprise', e.id FROM enterprises e WHERE left(e.grid_code, 12) = :v
            UNION ALL SELECT 'hazard', z.id FROM hazards z
             WHERE left(z.grid_code, 12) = :v AND z.status <> 'resolved') t
        WHERE NOT EXISTS (SELECT 1 FROM emergency_tasks k WHERE k.emergency_id = :e
                           AND k.target_type = t.type AND k.target_id = t.id)""",
                    v=village, e=eid)[0]["n"]
    assert missing == 0
    assert query(em_url, "SELECT count(*) AS n FROM emergency_tasks")[0]["n"] - before == totals["targets"]
    # each task for a worker assigned to its grid (and the task's grid is its target's)
    wrong = query(em_url, """
        SELECT count(*) AS n FROM emergency_tasks k
         WHERE k.emergency_id = :e AND (k.person_id IS NULL OR NOT EXISTS (
               SELECT 1 FROM grid_assignments ga WHERE ga.grid_code = k.grid_code
                  AND ga.person_id = k.person_id AND ga.role = 'worker'))""", e=eid)[0]["n"]
    assert wrong == 0
    misplaced = query(em_url, """
        SELECT count(*) AS n FROM emergency_tasks k JOIN households h
            ON k.target_type = 'household' AND h.id = k.target_id
         WHERE k.emergency_id = :e AND h.grid_code <> k.grid_code""", e=eid)[0]["n"]
    assert misplaced == 0


@pytest.fixture
def emergency(operator, em_url):
    """A new emergency over grid_worker_1's first grid; (id, its tasks)."""
    code = sorted(worker_grids(em_url))[0]
    answer = _mobilise(operator, {"grid": code}, name="确认安全", kind="confirm_safe")
    assert answer.status_code == 201, answer.json
    eid = answer.json["emergency"]["id"]
    tasks = query(em_url, "SELECT id, target_type, grid_code, vulnerable FROM emergency_tasks "
                          "WHERE emergency_id = :e ORDER BY id", e=eid)
    return eid, tasks


def _confirm(client, eid: int, task_id: int, **extra):
    body = {"id": str(uuid.uuid4()), "status": "relocated", "people": 3,
            "relocated_to": "村委会大院", "confirmed_at": datetime.now(LOCAL_TZ).isoformat()}
    body.update(extra)
    return client.post(f"/api/v1/emergencies/{eid}/tasks/{task_id}/confirm", json=body), body


def test_a_worker_sees_the_tasks_most_vulnerable_first_then_nearest(worker, emergency):
    eid, tasks = emergency
    here = worker.get("/api/v1/emergencies/tasks").json  # no position: vulnerable, then id
    mine = [t for t in here["tasks"] if t["emergency_id"] == eid]
    assert len(mine) == len(tasks)
    lon, lat = mine[-1]["lon"], mine[-1]["lat"]
    answer = worker.get(f"/api/v1/emergencies/tasks?lon={lon}&lat={lat}")
    assert answer.status_code == 200
    mine = [t for t in answer.json["tasks"] if t["emergency_id"] == eid]
    keys = [(-t["vulnerable"], t["distance_m"]) for t in mine]
    assert keys == sorted(keys)
    assert mine[0]["emergency_name"] == "确认安全" and mine[0]["instructions"] == "转移至村委会"
    assert_documented("GET", "/api/v1/emergencies/tasks", answer)  # with distance_m


def test_confirm_then_progress_counts_it(worker, operator, emergency):
    eid, tasks = emergency
    household = next(t for t in tasks if t["target_type"] == "household")
    answer, _ = _confirm(worker, eid, household["id"], people=4)
    assert answer.status_code == 201, answer.json
    assert answer.json["task"]["status"] == "relocated"
    assert_documented("POST", "/api/v1/emergencies/{emergency_id}/tasks/{task_id}/confirm",
                      answer)
    shown = operator.get(f"/api/v1/emergencies/{eid}?tasks=true")
    assert_documented("GET", "/api/v1/emergencies/{emergency_id}", shown)  # recent, tasks, …
    listed = operator.get("/api/v1/emergencies")
    assert_documented("GET", "/api/v1/emergencies", listed)
    board = shown.json
    assert board["totals"]["households_confirmed"] == 1
    assert board["totals"]["people_relocated"] == 4
    assert board["recent"][0]["id"] == household["id"]
    assert sum(p["confirmed"] for p in board["timeline"]) == 1
    assert {t["id"] for t in board["tasks"]} == {t["id"] for t in tasks}


def test_a_replay_answers_the_stored_task(worker, emergency, em_url):
    eid, tasks = emergency
    first, body = _confirm(worker, eid, tasks[0]["id"])
    again = worker.post(f"/api/v1/emergencies/{eid}/tasks/{tasks[0]['id']}/confirm", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json["replayed"] is True and again.json["task"] == first.json["task"]


def test_a_task_confirmed_twice_is_409(worker, emergency, em_url):
    eid, tasks = emergency
    assert _confirm(worker, eid, tasks[0]["id"])[0].status_code == 201
    stored = query(em_url, "SELECT status, people FROM emergency_tasks WHERE id = :t",
                   t=tasks[0]["id"])
    second, _ = _confirm(worker, eid, tasks[0]["id"], status="unreachable", people=None,
                         relocated_to=None)
    assert second.status_code == 409 and second.json["error"] == "task_already_confirmed"
    assert query(em_url, "SELECT status, people FROM emergency_tasks WHERE id = :t",
                 t=tasks[0]["id"]) == stored


def test_the_same_confirmation_id_with_another_body_is_409(worker, emergency, em_url):
    eid, tasks = emergency
    _, body = _confirm(worker, eid, tasks[0]["id"])
    other, _ = _confirm(worker, eid, tasks[0]["id"], id=body["id"], people=9)
    assert other.status_code == 409 and other.json["error"] == "confirm_id_reused"
    reused, _ = _confirm(worker, eid, tasks[1]["id"], id=body["id"])
    assert reused.status_code == 409 and reused.json["error"] == "confirm_id_reused"
    assert query(em_url, "SELECT status FROM emergency_tasks WHERE id = :t",
                 t=tasks[1]["id"])[0]["status"] == "open"


def test_a_worker_of_another_grid_is_403(em_url, demo_tokens, operator):
    mine = worker_grids(em_url)
    other = query(em_url, "SELECT h.grid_code FROM households h WHERE NOT (h.grid_code = "
                          "ANY(:g)) ORDER BY h.id LIMIT 1", g=sorted(mine))[0]["grid_code"]
    eid = _mobilise(operator, {"grid": other}).json["emergency"]["id"]
    task = query(em_url, "SELECT id FROM emergency_tasks WHERE emergency_id = :e LIMIT 1",
                 e=eid)[0]["id"]
    answer, _ = _confirm(client_for(em_url, demo_tokens["grid_worker_1"]), eid, task)
    assert answer.status_code == 403 and answer.json["error"] == "task_out_of_scope"
    assert query(em_url, "SELECT status FROM emergency_tasks WHERE id = :t",
                 t=task)[0]["status"] == "open"


def test_the_grids_auxiliary_may_confirm(em_url, demo_tokens, operator):
    grid = sorted(worker_grids(em_url, "auxiliary"))[0]
    eid = _mobilise(operator, {"grid": grid}).json["emergency"]["id"]
    task = query(em_url, "SELECT id FROM emergency_tasks WHERE emergency_id = :e LIMIT 1",
                 e=eid)[0]["id"]
    answer, _ = _confirm(client_for(em_url, demo_tokens["auxiliary"]), eid, task,
                         status="safe", relocated_to=None)
    assert answer.status_code == 201, answer.json


@pytest.mark.parametrize("change, field", [
    ({"status": "relocated", "relocated_to": None}, "relocated_to"),
    ({"status": "safe", "people": None, "relocated_to": None}, "people"),
    ({"status": "gone"}, "status"),
    ({"confirmed_at": "2020-01-01T00:00:00+08:00"}, "confirmed_at"),
    ({"id": "not-a-uuid"}, "id"),
])
def test_a_confirmation_that_does_not_fit_is_422(worker, emergency, em_url, change, field):
    eid, tasks = emergency
    answer, _ = _confirm(worker, eid, tasks[0]["id"], **change)
    assert answer.status_code == 422 and answer.json["error"] == "invalid_body"
    assert field in json.dumps(answer.json["details"])
    assert query(em_url, "SELECT status FROM emergency_tasks WHERE id = :t",
                 t=tasks[0]["id"])[0]["status"] == "open"


def test_an_unknown_task_is_404(worker, emergency):
    eid, _ = emergency
    answer, _ = _confirm(worker, eid, 10**12)
    assert answer.status_code == 404 and answer.json["error"] == "task_not_found"


def test_a_summary_holding_a_nul_is_422_and_the_emergency_stays_open(operator, emergency, em_url):
    # PostgreSQL's text cannot hold U+0000: it was a 500 (make fuzz, web/nul.py)
    eid, _ = emergency
    answer = operator.post(f"/api/v1/emergencies/{eid}/close", json={"summary": "Q\u0000"})
    assert answer.status_code == 422 and answer.json["error"] == "invalid_body", answer.json
    assert [d["field"] for d in answer.json["details"]] == ["summary"]
    assert query(em_url, "SELECT closed_at FROM emergencies WHERE id = :e",
                 e=eid)[0]["closed_at"] is None


def test_close_keeps_the_summary_and_refuses_later_confirmations(worker, operator, emergency):
    eid, tasks = emergency
    closed = operator.post(f"/api/v1/emergencies/{eid}/close", json={"summary": "全部转移完毕"})
    assert closed.status_code == 200, closed.json
    assert_documented("POST", "/api/v1/emergencies/{emergency_id}/close", closed)  # and closed
    assert closed.json["emergency"]["summary"] == "全部转移完毕"
    assert closed.json["emergency"]["final_figures"]["targets"] == len(tasks)
    again = operator.post(f"/api/v1/emergencies/{eid}/close", json={"summary": "again"})
    assert again.status_code == 409 and again.json["error"] == "emergency_closed"
    late, _ = _confirm(worker, eid, tasks[0]["id"])
    assert late.status_code == 409 and late.json["error"] == "emergency_closed"
    listed = worker.get("/api/v1/emergencies/tasks").json["tasks"]
    assert all(t["emergency_id"] != eid for t in listed)


def test_export_is_csv_with_a_row_per_task(worker, operator, emergency):
    eid, tasks = emergency
    _confirm(worker, eid, tasks[0]["id"], relocated_to="=HYPERLINK(1)")
    answer = operator.get(f"/api/v1/emergencies/{eid}/export.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    assert_documented("GET", "/api/v1/emergencies/{emergency_id}/export.csv", answer)
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True).lstrip("\ufeff"))))
    assert len(rows) == len(tasks)
    confirmed = next(r for r in rows if r["id"] == str(tasks[0]["id"]))
    assert confirmed["status"] == "relocated" and confirmed["relocated_to"] == "'=HYPERLINK(1)"


def test_the_export_masks_numbers_a_worker_typed_and_refuses_out_of_scope(worker, operator,
                                                                         emergency, em_url,
                                                                         demo_tokens):
    eid, tasks = emergency
    phone, id_number = "13812345678", "140525199001011234"
    answer, _ = _confirm(worker, eid, tasks[0]["id"],
                         note=f"家属电话 {phone}，身份证 {id_number}", relocated_to=f"亲戚家 {phone}")
    assert answer.status_code == 201, answer.json
    raw = operator.get(f"/api/v1/emergencies/{eid}/export.csv").get_data(as_text=True)
    assert phone not in raw and id_number not in raw
    row = next(r for r in csv.DictReader(io.StringIO(raw.lstrip("\ufeff")))
               if r["id"] == str(tasks[0]["id"]))
    assert row["note"] == "家属电话 138****5678，身份证 140525********1234"
    assert row["relocated_to"] == "亲戚家 138****5678"
    # the board's readers are the town's command center: nobody else gets the file
    for name in ("village_operator", "grid_worker_1", "department_handler"):
        other = client_for(em_url, demo_tokens[name]).get(f"/api/v1/emergencies/{eid}/export.csv")
        assert other.status_code == 403 and phone not in other.get_data(as_text=True)


# -- bad areas: each its own error, nothing written ---------------------------------------

@pytest.fixture
def nothing_written(em_url):
    def snapshot():
        return query(em_url, "SELECT (SELECT count(*) FROM emergencies) AS e, "
                             "(SELECT count(*) FROM emergency_tasks) AS t")[0]
    before = snapshot()
    yield
    assert snapshot() == before


BOWTIE = {"type": "Polygon", "coordinates": [[[112.85, 35.60], [112.90, 35.65],
                                              [112.90, 35.60], [112.85, 35.65],
                                              [112.85, 35.60]]]}
FAR = {"type": "Polygon", "coordinates": [[[116.0, 39.0], [116.01, 39.0], [116.01, 39.01],
                                           [116.0, 39.01], [116.0, 39.0]]]}


@pytest.mark.parametrize("area, status, code", [
    ({"geojson": BOWTIE}, 422, "invalid_area"),
    ({"geojson": {"type": "Polygon", "coordinates": [[[112.85, 35.60], [112.90, 35.65]]]}},
     422, "invalid_area"),
    ({"geojson": {"type": "Point", "coordinates": [112.87, 35.64]}}, 422, "invalid_area"),
    ({"geojson": {"type": "Circle", "coordinates": [112.87, 35.64]}}, 422, "invalid_area"),
    ({"geojson": {"type": "Point", "coordinates": [112.87, 35.64]}, "buffer_m": -5}, 422,
     "invalid_area"),
    ({"geojson": {"type": "Polygon", "coordinates": [[[200, 35], [201, 35], [201, 36],
                                                       [200, 35]]]}}, 422, "invalid_area"),
    ({"grid": "140525108227001", "village": "140525108227"}, 422, "invalid_area"),
    ({}, 422, "invalid_area"),
    ({"geojson": {"type": "Polygon", "coordinates": []}}, 422, "area_empty"),
    ({"geojson": {"type": "FeatureCollection", "features": []}}, 422, "area_empty"),
    ({"geojson": {"type": "Polygon", "coordinates": [[[112.85, 35.60], [112.86, 35.60],
                                                       [112.87, 35.60], [112.85, 35.60]]]}},
     422, "invalid_area"),
    ({"geojson": FAR}, 422, "area_covers_nothing"),
    ({"grid": "999999999999001"}, 404, "area_not_found"),
    ({"village": "140525108999"}, 404, "area_not_found"),
])
@pytest.mark.parametrize("endpoint", ["/api/v1/emergencies/preview", "/api/v1/emergencies"])
def test_a_bad_area_has_its_own_error_and_writes_nothing(operator, nothing_written, area,
                                                         status, code, endpoint):
    body = {"area": area}
    if endpoint.endswith("emergencies"):
        body.update(name="演练", kind="count")
    answer = operator.post(endpoint, json=body)
    assert (answer.status_code, answer.json["error"]) == (status, code), answer.json
    assert answer.json["message"]


def test_malformed_json_is_400(operator, nothing_written):
    answer = operator.post("/api/v1/emergencies", data=b"{not json",
                           content_type="application/json")
    assert answer.status_code == 400 and answer.json["error"] == "malformed_json"


@pytest.mark.parametrize("body, status, error", [
    (b"", 400, "malformed_json"),           # no body at all
    (b"[null, null]", 422, "invalid_body"),  # JSON, but not an object
])
def test_closing_without_a_summary_object_is_refused_as_documented(operator, emergency, body,
                                                                   status, error):
    # found by the fuzzer: both answers were right, but the document did not list them
    eid, _ = emergency
    answer = operator.post(f"/api/v1/emergencies/{eid}/close", data=body,
                           content_type="application/json")
    assert (answer.status_code, answer.json["error"]) == (status, error)
    assert_documented("POST", "/api/v1/emergencies/{emergency_id}/close", answer)
    assert operator.get(f"/api/v1/emergencies/{eid}").json["emergency"]["closed_at"] is None


def test_an_unknown_kind_is_422(operator, nothing_written, village):
    answer = _mobilise(operator, {"village": village}, kind="panic")
    assert answer.status_code == 422 and answer.json["error"] == "invalid_body"


@pytest.mark.parametrize("account", ["grid_worker_1", "town_leader", "village_operator"])
def test_only_the_command_center_mobilises(em_url, demo_tokens, account, nothing_written,
                                           village):
    answer = _mobilise(client_for(em_url, demo_tokens[account]), {"village": village})
    assert answer.status_code == 403


def test_an_unknown_emergency_is_404(operator):
    assert operator.get("/api/v1/emergencies/999999").json["error"] == "emergency_not_found"


# -- the board page ------------------------------------------------------------------------

def test_the_board_renders_the_figures_escaped(operator, em_url, village):
    eid = _mobilise(operator, {"village": village}, name="<script>alert(1)</script>"
                    ).json["emergency"]["id"]
    page = operator.get(f"/emergencies/{eid}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)" in html
    households = query(em_url, "SELECT count(*) AS n FROM emergency_tasks WHERE emergency_id "
                               "= :e AND target_type = 'household'", e=eid)[0]["n"]
    assert f'data-count="households_to_go">{households}<' in html
    assert "http://" not in html.replace("http://www.w3.org", "")
    assert operator.get("/emergencies/999999").status_code == 404


def test_a_grid_worker_may_not_open_the_board(em_url, demo_tokens, emergency):
    eid, _ = emergency
    page = client_for(em_url, demo_tokens["grid_worker_1"]).get(f"/emergencies/{eid}")
    assert page.status_code == 403


@pytest.mark.parametrize("same_id", [True, False])
def test_concurrent_confirmations_of_one_task_write_one(app_server, em_url, demo_tokens,
                                                        emergency, same_id):
    """Two phones (or one phone's retry) at the same moment: the task's row lock serialises
    them; the second is a replay (same id and body) or task_already_confirmed."""
    import threading

    import requests

    eid, tasks = emergency
    server = app_server(em_url)
    headers = {"Authorization": f"Bearer {demo_tokens['grid_worker_1']}"}
    first = {"id": str(uuid.uuid4()), "status": "safe", "people": 2,
             "confirmed_at": datetime.now(LOCAL_TZ).isoformat()}
    bodies = [first, first if same_id else {**first, "id": str(uuid.uuid4())}]
    answers: list = [None, None]
    start = threading.Barrier(2)

    def send(i: int) -> None:
        start.wait()
        answers[i] = requests.post(
            f"{server.base}/api/v1/emergencies/{eid}/tasks/{tasks[0]['id']}/confirm",
            json=bodies[i], headers=headers, timeout=30)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(a.status_code for a in answers)
    assert statuses == ([200, 201] if same_id else [201, 409]), [a.text for a in answers]
    stored = query(em_url, "SELECT status, people FROM emergency_tasks WHERE id = :t",
                   t=tasks[0]["id"])
    assert stored == [{"status": "safe", "people": 2}]


def test_a_task_belongs_to_an_emergency_that_exists(em_url, emergency):
    """Migration 0034 keeps the foreign key's meaning with triggers (one check per INSERT
    statement instead of one per task): no task of a missing emergency, no emergency with
    tasks deleted, no task moved to another emergency; each refused as a foreign key would
    be (SQLSTATE 23503), writing nothing."""
    from sqlalchemy.exc import IntegrityError

    from tests.visit_support import execute

    eid, tasks = emergency
    missing = query(em_url, "SELECT coalesce(max(id), 0) + 1000 AS n FROM emergencies")[0]["n"]
    before = query(em_url, "SELECT count(*) AS n FROM emergency_tasks")[0]["n"]
    refusals = [
        ("INSERT INTO emergency_tasks (emergency_id, town_code, target_type, target_id, "
         "grid_code, geom) SELECT :m, town_code, target_type, target_id + 1000000, grid_code, "
         "geom FROM emergency_tasks WHERE emergency_id = :e", {"m": missing, "e": eid}),
        ("DELETE FROM emergencies WHERE id = :e", {"e": eid}),
        ("UPDATE emergency_tasks SET emergency_id = :m WHERE id = :t",
         {"m": missing, "t": tasks[0]["id"]}),
        ("UPDATE emergencies SET id = :m WHERE id = :e", {"m": missing, "e": eid}),
    ]
    for sql, params in refusals:
        with pytest.raises(IntegrityError) as refused:
            execute(em_url, sql, **params)
        assert refused.value.orig.sqlstate == "23503", sql
    assert query(em_url, "SELECT count(*) AS n FROM emergency_tasks")[0]["n"] == before
    assert query(em_url, "SELECT count(*) AS n FROM emergency_tasks WHERE emergency_id = :e",
                 e=eid)[0]["n"] == len(tasks)
    # an emergency without tasks may go, and tasks of one that exists are written
    spare = query(em_url, "INSERT INTO emergencies (town_code, name, kind, area_spec, area) "
                          "SELECT town_code, 'spare', kind, area_spec, area FROM emergencies "
                          "WHERE id = :e RETURNING id", e=eid)[0]["id"]
    execute(em_url, "INSERT INTO emergency_tasks (emergency_id, town_code, target_type, "
                    "target_id, grid_code, geom) SELECT :s, town_code, target_type, target_id, "
                    "grid_code, geom FROM emergency_tasks WHERE emergency_id = :e", s=spare, e=eid)
    execute(em_url, "DELETE FROM emergency_tasks WHERE emergency_id = :s", s=spare)
    execute(em_url, "DELETE FROM emergencies WHERE id = :s", s=spare)
    assert query(em_url, "SELECT count(*) AS n FROM emergencies WHERE id = :s", s=spare) == [
        {"n": 0}]
