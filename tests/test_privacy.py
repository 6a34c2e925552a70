"""Personal data (PIPL): the masks of accounts/privacy.py, every answer that carries a phone or
ID number asked as an account in scope and one out of it (and as nobody), the reason asked
before a full record, the audit log it writes (append-only in the database), ``GET
/api/v1/audit`` for administrators, and case photos served only to whom may see them.

"No leak" is checked on the raw body: the full number must not appear anywhere in it."""

from __future__ import annotations

import io
import json
import os
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from PIL import Image
from sqlalchemy import text

from accounts import privacy
from cases import intake
from db.session import engine_for, session_scope
from demo.load import conninfo
from tests.accounts_support import headers, session_cookie, token_for
from tests.test_intake_api import query
from web import create_app
from web.api.case_schemas import CaseDetailOut
from web.auth import COOKIE

REPORTER_NAME = "王小明"
REPORTER_PHONE = "13912345678"
TYPED_PHONE = "13712345670"
TYPED_ID = "140525199001011234"
DESCRIPTION = f"路边有暴露垃圾，我的电话 {TYPED_PHONE}，身份证 {TYPED_ID}"
SECRETS = (REPORTER_PHONE, TYPED_PHONE, TYPED_ID, REPORTER_NAME)


# -- the masks ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("number", "shown"), [
    ("140525199001011234", "140525********1234"),
    ("14052519900101123x", "140525********123X"),
    ("140525900101123", "140525*****1123"),
    ("12345", "****5"),
    ("  ", None), (None, None),
])
def test_an_id_number_keeps_its_area_and_last_four(number, shown):
    assert privacy.masked_id_number(number) == shown


def test_numbers_in_free_text_are_masked_but_grid_codes_are_not():
    text_in = f"电话 138-1234-5678，身份证{TYPED_ID}，网格 140525108227001，案件 12345"
    out = privacy.masked_text(text_in)
    assert "138****5678" in out and "140525********1234" in out
    assert "140525108227001" in out and "12345" in out  # a grid code and a case id stay
    assert privacy.masked_text(out) == out  # a mask of a mask is itself


def test_event_data_masks_a_supporters_contact_and_hides_work_phones_when_asked():
    data = {"supporter": {"name": "李四", "phone": "13600001111"},
            "assignment": {"assignee": {"id": 1, "name": "赵六", "phone": "13500002222"}}}
    shown = privacy.event_data(data)
    assert shown["supporter"] == {"name": "李*", "phone": "136****1111"}
    assert shown["assignment"]["assignee"]["phone"] == "13500002222"
    hidden = privacy.event_data(data, work_visible=False)
    assert hidden["assignment"]["assignee"]["phone"] == "135****2222"
    assert privacy.event_data(data, full_residents=True)["supporter"]["phone"] == "13600001111"
    assert data["supporter"]["phone"] == "13600001111"  # the caller's data is left as it was


# -- a database with a reported case ---------------------------------------------------------------


@pytest.fixture(scope="module")
def url(pg_server, demo_db_url):
    from web.live import stop_hubs

    engine_for(demo_db_url).dispose()
    stop_hubs()
    name = f"gridgov_test_privacy_{os.getpid()}"
    made = pg_server.create_database(name, template="gridgov_test_demo")
    yield made
    engine_for(made).dispose()
    pg_server.drop_database(name)


@pytest.fixture(scope="module")
def places(url) -> dict:
    """The demo accounts' village and a service grid in it with a worker on duty, and another
    village's service grid with one; an operator of that other village."""
    village = query(url, "SELECT scope_code FROM accounts WHERE name = 'village_operator'")[0][
        "scope_code"]
    sql = """
        SELECT g.code, ST_X(ST_PointOnSurface(g.geom)) AS lon,
               ST_Y(ST_PointOnSurface(g.geom)) AS lat,
               min(p.phone) AS worker_phone
          FROM grids g
          JOIN grid_assignments a ON a.grid_code = g.code AND a.role = 'worker'
          JOIN people p ON p.id = a.person_id AND p.on_duty AND p.phone IS NOT NULL
         WHERE g.level = 'service' AND g.valid_to IS NULL AND left(g.code, 12) {op} :village
         GROUP BY g.id ORDER BY g.code LIMIT 1"""
    inside = query(url, sql.format(op="="), village=village)[0]
    outside = query(url, sql.format(op="<>"), village=village)[0]
    other_village = outside["code"][:12]
    leader = query(url, """
        SELECT p.phone FROM grid_assignments a JOIN people p ON p.id = a.person_id
         WHERE left(a.grid_code, 12) = :v AND a.role = 'leader' AND p.phone IS NOT NULL
         ORDER BY a.since DESC, p.id LIMIT 1""", v=village)[0]["phone"]
    other = token_for(url, "village_operator_other", role="village_operator", scope=other_village)
    return {"village": village, "inside": inside, "outside": outside, "leader_phone": leader,
            "other_operator": other}


@pytest.fixture(scope="module")
def app(url):
    intake.clear_caches()
    return create_app({"DATABASE_URL": url})


@pytest.fixture
def client(app):
    return app.test_client()


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 10), (10, 120, 200)).save(out, "PNG")
    return out.getvalue()


PNG = _png()


@pytest.fixture(scope="module")
def reported(app, places) -> dict:
    """A case a resident reported anonymously in the demo village, with their name and phone,
    a phone and an ID number typed into the description, and a photo; as POST answered it."""
    where = places["inside"]
    body = {"category": "patrol.exposed_rubbish", "description": DESCRIPTION,
            "channel": "resident", "location": {"lon": where["lon"], "lat": where["lat"]},
            "reporter": {"name": REPORTER_NAME, "phone": REPORTER_PHONE}}
    r = app.test_client().post("/api/v1/cases", data={
        "case": json.dumps(body), "photos": [(io.BytesIO(PNG), "site.png")]},
        content_type="multipart/form-data")
    assert r.status_code == 201, r.get_json()
    return {**r.get_json(), "raw": r.get_data(as_text=True)}


def audit_rows(url: str, case_id: int) -> list[dict]:
    return query(url, "SELECT * FROM audit_log WHERE subject_type = 'case_reporter' "
                      "AND subject_id = :id ORDER BY id", id=case_id)


def leaks(raw: str, *secrets: str) -> list[str]:
    return [s for s in secrets if s in raw]


# -- the case: API and page -----------------------------------------------------------------------


def test_the_intake_answer_masks_the_workers_phone_for_a_resident(reported, url):
    assert reported["assignee"] is not None
    phone = query(url, "SELECT phone FROM people WHERE id = :id",
                  id=reported["assignee"]["id"])[0]["phone"]
    assert phone and leaks(reported["raw"], phone) == []
    assert reported["assignee"]["phone"] == privacy.masked_phone(phone)


def test_a_case_is_masked_for_its_own_staff_until_they_give_a_reason(client, url, reported,
                                                                     demo_tokens):
    path = f"/api/v1/cases/{reported['id']}"
    for name in ("town_operator", "village_operator", "grid_leader"):
        r = client.get(path, headers=headers(demo_tokens[name]))
        assert r.status_code == 200, (name, r.get_json())
        assert leaks(r.get_data(as_text=True), *SECRETS) == [], name
        body = r.get_json()
        CaseDetailOut.model_validate(body)
        assert body["personal_data"] == "masked" and body["audit_id"] is None
        assert body["reporter"] == {"name": "王*", "phone": "139****5678"}
        assert "137****5670" in body["description"] and "140525********1234" in body["description"]
    assert audit_rows(url, reported["id"]) == []  # a masked read is not logged


def test_a_reason_shows_the_full_record_and_logs_who_when_where_and_why(client, url, reported,
                                                                        demo_tokens):
    before = datetime.now(timezone.utc)
    r = client.get(f"/api/v1/cases/{reported['id']}",
                   query_string={"reason": "  电话回访，核实诉求  "},
                   headers=headers(demo_tokens["village_operator"]))
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    CaseDetailOut.model_validate(body)
    assert body["personal_data"] == "full"
    assert body["reporter"] == {"name": REPORTER_NAME, "phone": REPORTER_PHONE}
    assert body["description"] == DESCRIPTION
    logged = audit_rows(url, reported["id"])
    assert [row["id"] for row in logged] == [body["audit_id"]]
    row = logged[0]
    account = query(url, "SELECT id FROM accounts WHERE name = 'village_operator'")[0]["id"]
    assert (row["account_id"], row["account_name"], row["role"]) == (
        account, "village_operator", "village_operator")
    assert row["reason"] == "电话回访，核实诉求"
    assert row["remote_addr"] == "127.0.0.1"
    assert row["route"] == f"GET /api/v1/cases/{reported['id']}"
    assert row["town_code"] == reported["grid"]["town"]["code"]
    assert set(row["fields"]) == {"name", "phone", "description"}
    assert row["at"] >= before - timedelta(seconds=1)
    # the log holds who read whose record, never the record
    assert leaks(json.dumps(row, default=str, ensure_ascii=False), *SECRETS) == []


@pytest.mark.parametrize("reason", ["", "   ", "x", "长" * 201])
def test_an_unusable_reason_is_refused_and_nothing_is_shown_or_logged(client, url, reported,
                                                                      operator_token, reason):
    r = client.get(f"/api/v1/cases/{reported['id']}", query_string={"reason": reason},
                   headers=headers(operator_token))
    assert r.status_code == 422 and r.get_json()["error"] == "invalid_reason"
    assert r.get_json()["details"]["field"] == "reason"
    assert leaks(r.get_data(as_text=True), *SECRETS) == []
    assert not [row for row in audit_rows(url, reported["id"]) if row["reason"] == reason.strip()]


def test_out_of_scope_staff_see_nothing_of_the_case_even_with_a_reason(client, url, reported,
                                                                       places, demo_tokens):
    n = len(audit_rows(url, reported["id"]))
    for token in (places["other_operator"], demo_tokens["department_handler"]):
        r = client.get(f"/api/v1/cases/{reported['id']}", query_string={"reason": "想看看"},
                       headers=headers(token))
        assert r.status_code == 403 and r.get_json()["error"] == "out_of_scope"
        assert leaks(r.get_data(as_text=True), *SECRETS) == []
        page = client.get(f"/cases/{reported['id']}", headers=headers(token))
        assert page.status_code == 403 and leaks(page.get_data(as_text=True), *SECRETS) == []
    assert len(audit_rows(url, reported["id"])) == n


def test_the_case_page_asks_for_a_reason_before_it_shows_the_reporter(client, url, reported):
    cookie, csrf = session_cookie(url, "town_operator")
    client.set_cookie(COOKIE, cookie)
    page = client.get(f"/cases/{reported['id']}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and leaks(html, *SECRETS) == []
    assert "王*" in html and "139****5678" in html
    assert "查看完整联系方式" in html and "查阅原因" in html and 'name="reason"' in html
    n = len(audit_rows(url, reported["id"]))
    # no CSRF token: refused, nothing shown or logged
    refused = client.post(f"/cases/{reported['id']}/contact", data={"reason": "电话回访"})
    assert refused.status_code == 403 and leaks(refused.get_data(as_text=True), *SECRETS) == []
    # a blank reason: the masked page again, with the form's message
    blank = client.post(f"/cases/{reported['id']}/contact",
                        data={"reason": " ", "csrf_token": csrf})
    assert blank.status_code == 422 and leaks(blank.get_data(as_text=True), *SECRETS) == []
    assert "请填写查阅原因" in blank.get_data(as_text=True)
    assert len(audit_rows(url, reported["id"])) == n
    shown = client.post(f"/cases/{reported['id']}/contact",
                        data={"reason": "电话回访", "csrf_token": csrf})
    html = shown.get_data(as_text=True)
    assert shown.status_code == 200
    assert REPORTER_NAME in html and REPORTER_PHONE in html and TYPED_ID in html
    logged = audit_rows(url, reported["id"])
    assert len(logged) == n + 1 and logged[-1]["reason"] == "电话回访"
    assert logged[-1]["route"] == f"POST /cases/{reported['id']}/contact"
    assert f"第 {logged[-1]['id']} 条" in html
    english = client.get(f"/cases/{reported['id']}?lang=en").get_data(as_text=True)
    assert "Reason for access" in english and leaks(english, *SECRETS) == []


def test_the_worker_inbox_masks_numbers_typed_in_the_description(client, url, reported):
    token = _assignee_token(url, reported["id"])
    r = client.get("/api/v1/worker/inbox", headers=headers(token))
    assert r.status_code == 200, r.get_json()
    mine = [c for c in r.get_json()["cases"] if c["id"] == reported["id"]]
    assert len(mine) == 1 and "137****5670" in mine[0]["description"]
    assert leaks(r.get_data(as_text=True), *SECRETS) == []


# -- work phones: locate and grids ----------------------------------------------------------------


def test_locate_shows_workers_phones_only_to_staff_whose_scope_covers_the_grid(client, places,
                                                                              demo_tokens):
    where = places["inside"]
    phones = (where["worker_phone"], places["leader_phone"])
    q = {"lon": where["lon"], "lat": where["lat"]}
    for who in (None, places["other_operator"], demo_tokens["department_handler"]):
        r = client.get("/api/v1/locate", query_string=q, headers=headers(who) if who else {})
        assert r.status_code == 200 and leaks(r.get_data(as_text=True), *phones) == []
        assert privacy.masked_phone(where["worker_phone"]) in r.get_data(as_text=True)
    for name in ("town_operator", "village_operator"):
        r = client.get("/api/v1/locate", query_string=q, headers=headers(demo_tokens[name]))
        assert leaks(r.get_data(as_text=True), *phones) == list(phones), name


def test_a_grids_people_show_their_phones_only_to_staff_in_scope(client, places, demo_tokens):
    path = f"/api/v1/grids/{places['village']}000"  # the village's administrative grid
    for who in (None, places["other_operator"]):
        r = client.get(path, headers=headers(who) if who else {})
        assert r.status_code == 200
        assert leaks(r.get_data(as_text=True), places["inside"]["worker_phone"],
                     places["leader_phone"]) == []
    full = client.get(path, headers=headers(demo_tokens["village_operator"]))
    assert places["leader_phone"] in full.get_data(as_text=True)
    assert places["inside"]["worker_phone"] in full.get_data(as_text=True)


# -- public answers: the board, OGC features, Open311 --------------------------------------------


@pytest.fixture(scope="module")
def closed(url, reported) -> int:
    """The reported case closed, its closing note naming the reporter and both numbers."""
    with session_scope(url) as s:
        s.execute(text("UPDATE cases SET status = 'closed', closed_at = now() WHERE id = :id"),
                  {"id": reported["id"]})
        s.execute(text("""
            INSERT INTO case_events
                   (case_id, town_code, at, type, from_status, to_status, actor, data)
            SELECT id, town_code, now(), 'transition', 'fed_back', 'closed', 'test',
                   jsonb_build_object('note', CAST(:note AS text)) FROM cases WHERE id = :id"""),
                  {"id": reported["id"],
                   "note": f"已联系{REPORTER_NAME}（{REPORTER_PHONE}），身份证{TYPED_ID}，已清理"})
        s.commit()
    return reported["id"]


@pytest.mark.parametrize("path", [
    "/api/v1/public/cases", "/public", "/ogc/collections/public_cases/items?f=json&limit=1000",
    "/open311/v2/requests.json", "/open311/v2/requests.xml",
])
def test_public_answers_carry_no_full_number_for_anyone(client, closed, demo_tokens, path):
    for who in (None, demo_tokens["town_operator"], demo_tokens["village_operator"]):
        r = client.get(path, headers=headers(who) if who else {})
        raw = r.get_data(as_text=True)
        assert r.status_code == 200, raw[:300]
        assert leaks(raw, *SECRETS) == [], path
    if path.startswith("/api/v1/public"):
        item = next(i for i in client.get(path).get_json()["items"] if i["id"] == closed)
        assert item["reporter"] == {"name": "王*", "phone": "139****5678"}
        assert "140525********1234" in item["what_was_done"]


def test_one_ogc_feature_and_one_open311_request_carry_no_full_number(client, closed):
    for path in (f"/ogc/collections/public_cases/items/{closed}?f=json",
                 f"/open311/v2/requests/{closed}.json"):
        r = client.get(path)
        assert r.status_code == 200 and leaks(r.get_data(as_text=True), *SECRETS) == [], path


# -- photos ---------------------------------------------------------------------------------------


def test_a_private_photo_is_404_to_anyone_outside_the_cases_scope(client, app, url, places,
                                                                 demo_tokens):
    where = places["inside"]
    body = {"category": "patrol.exposed_rubbish", "description": "照片测试", "channel": "resident",
            "location": {"lon": where["lon"], "lat": where["lat"]}}
    made = client.post("/api/v1/cases", data={
        "case": json.dumps(body), "photos": [(io.BytesIO(PNG), "p.png")]},
        content_type="multipart/form-data").get_json()
    path = query(url, "SELECT id FROM case_photos WHERE case_id = :id", id=made["id"])[0]["id"]
    path = f"/api/v1/cases/{made['id']}/photos/{path}"
    for who in (None, places["other_operator"], demo_tokens["department_handler"]):
        r = client.get(path, headers=headers(who) if who else {})
        assert r.status_code == 404 and r.get_json()["error"] == "photo_not_found"
        assert PNG not in r.data
    # a photo that does not exist answers the same
    missing = client.get(f"/api/v1/cases/{made['id']}/photos/999999999")
    assert missing.status_code == 404 and missing.get_json()["error"] == "photo_not_found"
    inside = client.get(path, headers=headers(demo_tokens["village_operator"]))
    assert inside.status_code == 200 and inside.data == PNG
    assert inside.headers["Cache-Control"].startswith("private")
    # marked publishable: still private while the case is open
    operator = headers(demo_tokens["town_operator"])
    assert client.patch(path, json={"publishable": True}, headers=operator).status_code == 200
    assert client.get(path).status_code == 404
    # closed: anyone gets it, as the board serves it (decoded and encoded again, no metadata)
    with session_scope(url) as s:
        s.execute(text("UPDATE cases SET status = 'closed', closed_at = now() WHERE id = :id"),
                  {"id": made["id"]})
        s.commit()
    public = client.get(path)
    assert public.status_code == 200 and public.mimetype == "image/png"
    assert public.headers["Cache-Control"].startswith("public")
    with Image.open(io.BytesIO(public.data)) as image:
        assert image.size == (20, 10) and image.getpixel((3, 3)) == (10, 120, 200)
    # unmarked again: private again
    client.patch(path, json={"publishable": False}, headers=operator)
    assert client.get(path, headers=headers(places["other_operator"])).status_code == 404


# -- the audit log ---------------------------------------------------------------------------------


def test_the_audit_log_refuses_update_delete_and_truncate(client, url, reported, operator_token):
    client.get(f"/api/v1/cases/{reported['id']}", query_string={"reason": "核实"},
               headers=headers(operator_token))
    row_id = audit_rows(url, reported["id"])[-1]["id"]
    for statement in ("UPDATE audit_log SET reason = 'changed' WHERE id = %s",
                      "DELETE FROM audit_log WHERE id = %s",
                      "TRUNCATE audit_log"):
        with psycopg.connect(conninfo(url)) as conn:
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute(statement, (row_id,) if "%s" in statement else None)
    assert audit_rows(url, reported["id"])[-1]["reason"] == "核实"


def test_the_audit_api_is_for_administrators_only(client, demo_tokens):
    assert client.get("/api/v1/audit").status_code == 401
    for name in ("town_operator", "village_operator", "town_leader", "planner", "grid_worker_1"):
        r = client.get("/api/v1/audit", headers=headers(demo_tokens[name]))
        assert r.status_code == 403 and r.get_json()["error"] == "forbidden", name


def test_the_audit_api_filters_by_account_person_and_time_and_pages(client, url, reported,
                                                                    demo_tokens):
    case_id = reported["id"]
    for name, reason in (("town_operator", "回访一"), ("village_operator", "回访二"),
                         ("town_operator", "回访三")):
        assert client.get(f"/api/v1/cases/{case_id}", query_string={"reason": reason},
                          headers=headers(demo_tokens[name])).status_code == 200
    admin = headers(demo_tokens["admin"])

    def page(**params):
        r = client.get("/api/v1/audit", query_string=params, headers=admin)
        assert r.status_code == 200, r.get_json()
        return r.get_json()

    everything = page(subject_type="case_reporter", subject_id=case_id, limit=500)["items"]
    assert [i["reason"] for i in everything][:3] == ["回访三", "回访二", "回访一"]
    assert all(i["subject_id"] == case_id for i in everything)
    mine = page(account="village_operator", subject_type="case_reporter", subject_id=case_id)
    assert {i["account_name"] for i in mine["items"]} == {"village_operator"}
    assert "回访二" in [i["reason"] for i in mine["items"]]
    # pages of one, newest first, that together are the whole list
    seen, cursor = [], None
    while True:
        got = page(subject_type="case_reporter", subject_id=case_id, limit=1,
                   **({"cursor": cursor} if cursor else {}))
        seen += [i["id"] for i in got["items"]]
        cursor = got["next_cursor"]
        if cursor is None:
            break
    assert seen == [i["id"] for i in everything]
    # a time range
    newest = datetime.fromisoformat(everything[0]["at"])
    assert page(since=(newest + timedelta(seconds=1)).isoformat())["items"] == []
    until = page(until=newest.isoformat(), subject_type="case_reporter", subject_id=case_id)
    assert everything[0]["id"] not in [i["id"] for i in until["items"]]
    assert page(account="nobody_at_all")["items"] == []


@pytest.mark.parametrize("params", [
    {"subject_id": "5"}, {"subject_type": "pet"}, {"since": "2026-01-01T00:00:00"},
    {"since": "2026-02-01T00:00:00+08:00", "until": "2026-01-01T00:00:00+08:00"},
    {"limit": "0"}, {"cursor": "-1"}, {"account_id": "x"},
])
def test_the_audit_api_refuses_a_bad_query(client, demo_tokens, params):
    r = client.get("/api/v1/audit", query_string=params, headers=headers(demo_tokens["admin"]))
    assert r.status_code == 422 and r.get_json()["error"] == "invalid_query", r.get_json()


def test_the_audit_operation_is_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    op = spec["paths"]["/api/v1/audit"]["get"]
    assert op["security"] == [{"bearer": []}] and "admin" in op["description"]
    names = {p["name"] for p in op["parameters"]}
    assert {"account", "account_id", "subject_type", "subject_id", "since", "until", "limit",
            "cursor"} <= names
    reason = [p for p in spec["paths"]["/api/v1/cases/{case_id}"]["get"]["parameters"]
              if p["name"] == "reason"]
    assert len(reason) == 1 and not reason[0]["required"]


# -- the live stream ------------------------------------------------------------------------------


def test_the_live_stream_carries_no_contact_in_scope_or_out(url, places, demo_tokens, app_server):
    from tests.test_worker_stream import Stream, _events

    server = app_server(url)
    inside = Stream(server.port, demo_tokens["town_operator"])
    outside = Stream(server.port, places["other_operator"])
    try:
        for stream in (inside, outside):
            stream.until(lambda d: b": connected\n\n" in d, "the connected comment")
        where = places["inside"]
        body = {"category": "patrol.exposed_rubbish", "description": DESCRIPTION,
                "channel": "resident", "location": {"lon": where["lon"], "lat": where["lat"]},
                "reporter": {"name": REPORTER_NAME, "phone": REPORTER_PHONE}}
        made = create_app({"DATABASE_URL": url}).test_client().post("/api/v1/cases", json=body)
        case_id = made.get_json()["id"]
        inside.until(lambda d: any(e["id"] == case_id for e in _events(d)), "the new case")
        raw = inside.data.decode("utf-8", "replace") + outside.data.decode("utf-8", "replace")
        assert leaks(raw, *SECRETS, where["worker_phone"]) == []
    finally:
        inside.close()
        outside.close()


# -- a merge: the duplicate's reporter becomes a supporter --------------------------------------


def _assignee_token(url: str, case_id: int) -> str:
    person = query(url, "SELECT assignee_id FROM cases WHERE id = :id",
                   id=case_id)[0]["assignee_id"]
    found = query(url, "SELECT name FROM accounts WHERE person_id = :p AND role = 'grid_worker'",
                  p=person)
    if found:
        return token_for(url, found[0]["name"])
    return token_for(url, f"worker_{person}", role="grid_worker", person_id=person)


def _act(client, case_id: int, token: str, **body):
    version = client.get(f"/api/v1/cases/{case_id}/transitions",
                         headers=headers(token)).get_json()["version"]
    return client.post(f"/api/v1/cases/{case_id}/transitions", json=body,
                       headers={**headers(token), "If-Match": f'"{version}"',
                                "Idempotency-Key": f"privacy-{case_id}-{body['action']}"})


def test_a_merged_reporter_is_masked_in_the_answers_and_shown_with_a_reason(client, url, places,
                                                                            demo_tokens):
    where = places["inside"]
    supporter = {"name": "赵大勇", "phone": "13611112222"}
    made = []
    for reporter in ({"name": "钱原告", "phone": "13633334444"}, supporter):
        body = {"category": "patrol.exposed_rubbish", "description": "同一处垃圾",
                "channel": "resident", "location": {"lon": where["lon"], "lat": where["lat"]},
                "reporter": reporter}
        made.append(client.post("/api/v1/cases", json=body).get_json()["id"])
    original, duplicate = made
    returned = _act(client, duplicate, _assignee_token(url, duplicate), action="return",
                    note="重复上报")
    assert returned.status_code == 200, returned.get_json()
    operator = demo_tokens["village_operator"]
    merged = _act(client, duplicate, operator, action="merge", to=original, note="同一处")
    assert merged.status_code == 200, merged.get_json()
    assert merged.get_json()["event"]["data"]["supporter"] == {"name": "赵*", "phone": "136****2222"}
    # the same request again: already applied, its first event masked the same way
    again = _act(client, duplicate, operator, action="merge", to=original, note="同一处")
    assert again.status_code == 409 and again.get_json()["error"] == "already_applied"
    for answer in (merged, again):
        assert leaks(answer.get_data(as_text=True), supporter["phone"], supporter["name"]) == []
    detail = client.get(f"/api/v1/cases/{original}", headers=headers(operator))
    assert leaks(detail.get_data(as_text=True), supporter["phone"], supporter["name"]) == []
    full = client.get(f"/api/v1/cases/{original}", query_string={"reason": "联系附议群众"},
                      headers=headers(operator)).get_json()
    merged_in = next(e for e in full["events"] if e["type"] == "merged_in")
    assert merged_in["data"]["supporter"] == supporter
    assert "supporters" in audit_rows(url, original)[-1]["fields"]


def test_the_intake_answer_shows_the_workers_phone_to_staff_in_scope(client, url, places,
                                                                    demo_tokens):
    where = places["inside"]
    body = {"category": "patrol.exposed_rubbish", "description": "巡查发现", "channel": "patrol",
            "location": {"lon": where["lon"], "lat": where["lat"]}}
    staff = client.post("/api/v1/cases", json=body,
                        headers=headers(demo_tokens["village_operator"]))
    assert staff.status_code == 201, staff.get_json()
    assignee = staff.get_json()["assignee"]
    phone = query(url, "SELECT phone FROM people WHERE id = :id", id=assignee["id"])[0]["phone"]
    assert phone and assignee["phone"] == phone
    other = client.post("/api/v1/cases", json=body, headers=headers(places["other_operator"]))
    assert other.status_code == 201, other.get_json()
    theirs = query(url, "SELECT phone FROM people WHERE id = :id",
                   id=other.get_json()["assignee"]["id"])[0]["phone"]
    assert leaks(other.get_data(as_text=True), theirs) == []
    assert other.get_json()["assignee"]["phone"] == privacy.masked_phone(theirs)
