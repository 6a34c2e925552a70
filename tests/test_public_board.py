"""The public board (公示栏) over HTTP on a copy of the demo: ``GET /api/v1/public/cases``
(its window, filters and paging, and no personal data anywhere in its raw bodies),
``/api/v1/public/photos/{id}`` (only photos an operator marked publishable), and the page
``/public``. tests/test_publication.py tests the redaction itself."""

from __future__ import annotations

import io
import os
import re
from datetime import date, timedelta

import pytest

from tests.accounts_support import headers
from sqlalchemy import text

from PIL import Image

from cases import board, intake
from db.session import engine_for, session_scope
from tests.test_intake_api import query
from web import create_app
from web.api.public import PublicBoardOut

def _png_with_a_note() -> bytes:
    """A real PNG whose text chunk names its author, as a phone app may write."""
    from PIL import Image, PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "张三 13812345678")
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 80, 40)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


PNG = _png_with_a_note()
URL_RE = re.compile(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}|https?://", re.IGNORECASE)
WINDOW = "c.status IN ('closed', 'evaluated') AND c.closed_at >= (town_today() - 90)::timestamp AT TIME ZONE 'Asia/Shanghai'"


@pytest.fixture(scope="module")
def board_url(pg_server, demo_db_url):
    """A copy of the demo whose closed cases of the last 90 days have reporters (names of the
    demo's household heads, phones) and, for some, a closing note naming them."""
    from web.live import stop_hubs

    engine_for(demo_db_url).dispose()
    stop_hubs()
    name = f"gridgov_test_board_{os.getpid()}"
    url = pg_server.create_database(name, template="gridgov_test_demo")
    with session_scope(url) as s:
        s.execute(text(f"""
            UPDATE cases c SET reporter_name = h.head_name,
                   reporter_phone = '139' || lpad((c.id * 7919 % 100000000)::text, 8, '0')
              FROM (SELECT row_number() OVER (ORDER BY address_id) AS n, head_name
                      FROM households) h
             WHERE h.n = c.id % 5000 + 1 AND {WINDOW}"""))
        s.execute(text(f"""
            INSERT INTO case_events
                   (case_id, town_code, at, type, from_status, to_status, actor, data)
            SELECT c.id, c.town_code, c.closed_at, 'transition', 'fed_back', 'closed', 'test',
                   jsonb_build_object('note', '已联系' || c.reporter_name || '（' || c.reporter_phone
                                              || '），现场已清理完毕')
              FROM cases c WHERE {WINDOW} AND c.id % 3 = 0"""))
        s.commit()
    yield url
    engine_for(url).dispose()
    pg_server.drop_database(name)


@pytest.fixture
def client(board_url):
    intake.clear_caches()
    return create_app({"DATABASE_URL": board_url}).test_client()


def in_window(url: str) -> int:
    return query(url, """
        SELECT count(*) AS n FROM cases c
         WHERE c.status IN ('closed', 'evaluated')
           AND c.closed_at >= (town_today() - 90)::timestamp AT TIME ZONE 'Asia/Shanghai'
           AND c.closed_at < (town_today() + 1)::timestamp AT TIME ZONE 'Asia/Shanghai'""")[0]["n"]


def test_the_board_lists_closed_cases_of_90_days_newest_first_in_pages(client, board_url):
    r = client.get("/api/v1/public/cases")
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    PublicBoardOut.model_validate(body)
    assert body["total"] == in_window(board_url) > board.PER_PAGE
    assert body["page"] == 1 and body["pages"] == -(-body["total"] // board.PER_PAGE)
    assert body["from"] == (date.fromisoformat(body["until"]) - timedelta(days=90)).isoformat()
    items = body["items"]
    assert len(items) == board.PER_PAGE
    closed = [i["closed_at"] for i in items]
    assert closed == sorted(closed, reverse=True)
    for item in items:
        assert item["village"]["name"] and item["category"]["name_zh"]
        assert item["time_taken_h"] >= 0 and item["reported_at"] <= item["closed_at"]
    second = client.get("/api/v1/public/cases?page=2").get_json()["items"]
    assert not {i["id"] for i in items} & {i["id"] for i in second}
    notes = [i["what_was_done"] for i in items + second if i["what_was_done"]]
    assert notes and all(re.search(r"已联系.\*（139\*\*\*\*\d{4}）", n) for n in notes)


def test_the_filters_narrow_the_board(client, board_url):
    village = query(board_url, f"SELECT admin_code FROM cases c WHERE {WINDOW} GROUP BY "
                               "admin_code ORDER BY count(*) DESC LIMIT 1")[0]["admin_code"]
    for code in (village, village[:12]):  # the grid's code or the village's statistical code
        body = client.get(f"/api/v1/public/cases?village={code}").get_json()
        assert body["total"] > 0 and all(i["village"]["code"] == village for i in body["items"])
    body = client.get("/api/v1/public/cases?category=patrol").get_json()  # with its subcategories
    assert body["total"] > 0
    assert all(i["category"]["code"].startswith("patrol.") for i in body["items"])
    until = date.fromisoformat(body["until"])
    week = client.get(f"/api/v1/public/cases?from={until - timedelta(days=7)}").get_json()
    assert 0 < week["total"] < client.get("/api/v1/public/cases").get_json()["total"]
    first_day = (until - timedelta(days=7)).isoformat()
    assert all(i["closed_at"][:10] >= first_day for i in week["items"])
    assert client.get("/api/v1/public/cases?page=100000").get_json()["items"] == []


@pytest.mark.parametrize(("params", "status", "code"), [
    ("from=2000-01-01", 422, "outside_public_window"),
    ("until=2999-01-01", 422, "outside_public_window"),
    ("category=no.such", 422, "unknown_category"),
    ("village=abc", 422, "invalid_query"),
    ("from=yesterday", 422, "invalid_query"),
    ("page=0", 422, "invalid_query"),
    ("from=2026-01-01&from=2026-01-02", 422, "repeated_parameter"),
])
def test_bad_queries_are_refused_with_their_code(client, params, status, code):
    r = client.get(f"/api/v1/public/cases?{params}")
    assert r.status_code == status
    assert r.get_json()["error"] == code and r.get_json()["message"]


def test_a_window_ending_before_it_starts_is_refused(client):
    today = board.today()  # the town's date (Beijing), not the machine's
    since, until = today - timedelta(days=3), today - timedelta(days=5)
    r = client.get(f"/api/v1/public/cases?from={since}&until={until}")
    assert r.status_code == 422 and r.get_json()["error"] == "outside_public_window"


def test_no_name_phone_or_door_number_anywhere_in_the_raw_bodies(client, board_url):
    reporters = query(board_url,
                      f"SELECT reporter_name, reporter_phone, address FROM cases c WHERE {WINDOW}")
    people = query(board_url, "SELECT name, phone FROM people")
    vocabulary = "".join(r["name"] for r in query(board_url, "SELECT name FROM grids")) + "".join(
        r["name_zh"] for r in query(board_url, "SELECT name_zh FROM categories"))
    names = {r["reporter_name"] for r in reporters} | {p["name"] for p in people}
    # a two-character name can also be part of a place name (李庄 in 李庄村): those are not checked
    names = {n for n in names if n and len(n) > 1 and n not in vocabulary}
    phones = {r["reporter_phone"] for r in reporters} | {p["phone"] for p in people if p["phone"]}
    assert len(names) > 100 and len(phones) > 100
    pattern = re.compile("|".join(map(re.escape, sorted(names | phones, key=len, reverse=True))))
    first = client.get("/api/v1/public/cases").get_json()
    seen = 0
    for page in range(1, first["pages"] + 1):
        raw = client.get(f"/api/v1/public/cases?page={page}").get_data(as_text=True)
        assert pattern.search(raw) is None, pattern.search(raw).group()
        assert re.search(r"\d+号", raw) is None  # no door number
        seen += raw.count('"reported_at"')
    assert seen == first["total"]
    # the page shows the same records: nothing there either
    html = client.get("/public").get_data(as_text=True)
    assert pattern.search(html) is None and re.search(r"\d+号", html) is None


def stored_photo(url: str, case_id: int, filename: str, content_type: str, data: bytes,
                 publishable: bool = False) -> int:
    """A photo written straight into case_photos (as intake stores them); its id."""
    with session_scope(url) as s:
        photo_id = s.execute(text(
            "INSERT INTO case_photos "
            "(case_id, filename, content_type, size_bytes, sha256, data, publishable) "
            "VALUES (:case_id, :filename, :content_type, :n, 'x', :data, :publishable) "
            "RETURNING id"),
            {"case_id": case_id, "filename": filename, "content_type": content_type,
             "n": len(data), "data": data, "publishable": publishable}).scalar_one()
        s.commit()
    return photo_id


@pytest.fixture
def photographed(client, board_url) -> dict:
    """The newest case on the board, with a photo nobody has marked yet."""
    case_id = client.get("/api/v1/public/cases").get_json()["items"][0]["id"]
    photo_id = stored_photo(board_url, case_id, "site.png", "image/png", PNG)
    return {"case_id": case_id, "photo_id": photo_id}


def test_a_photo_reaches_the_board_only_once_an_operator_marks_it(client, photographed, demo_tokens):
    case_id, photo_id = photographed["case_id"], photographed["photo_id"]
    url = f"/api/v1/public/photos/{photo_id}"
    r = client.get(url)
    assert r.status_code == 404 and r.get_json()["error"] == "photo_not_found"
    assert client.get("/api/v1/public/cases").get_json()["items"][0]["photos"] == []
    path = f"/api/v1/cases/{case_id}/photos/{photo_id}"
    # only an operator marks a photo: not anonymous, not a grid worker
    assert client.patch(path, json={"publishable": True}).status_code == 401
    worker = client.patch(path, json={"publishable": True},
                          headers=headers(demo_tokens["grid_worker_1"]))
    assert worker.status_code == 403 and worker.get_json()["error"] == "forbidden"
    operator = headers(demo_tokens["town_operator"])
    mark = client.patch(path, json={"publishable": True}, headers=operator)
    assert mark.status_code == 200 and mark.get_json()["publishable"] is True
    assert client.get("/api/v1/public/cases").get_json()["items"][0]["photos"] == [url]
    served = client.get(url)
    assert served.status_code == 200 and served.mimetype == "image/png"
    assert "13812345678".encode() not in served.data and "张三".encode() not in served.data
    with Image.open(io.BytesIO(served.data)) as image:
        assert image.size == (40, 30) and image.getpixel((5, 5)) == (200, 80, 40)
        assert "Author" not in image.info
    detail = client.get(f"/api/v1/cases/{case_id}", headers=operator).get_json()
    assert [p["public_url"] for p in detail["photos"]] == [url]
    client.patch(path, json={"publishable": False}, headers=operator)
    assert client.get(url).status_code == 404


def test_a_marked_photo_of_an_open_case_is_not_served(client, board_url):
    case_id = query(board_url,
                    "SELECT id FROM cases WHERE status = 'handling' ORDER BY id LIMIT 1")[0]["id"]
    photo_id = stored_photo(board_url, case_id, "open.png", "image/png", PNG, publishable=True)
    assert client.get(f"/api/v1/public/photos/{photo_id}").status_code == 404


@pytest.mark.parametrize(("body", "status"), [
    ({"publishable": "yes"}, 422), ({}, 422), ({"publishable": True, "x": 1}, 422),
])
def test_marking_a_photo_refuses_a_bad_body(client, photographed, body, status, operator_token):
    r = client.patch(f"/api/v1/cases/{photographed['case_id']}/photos/{photographed['photo_id']}",
                     json=body, headers=headers(operator_token))
    assert r.status_code == status and r.get_json()["error"] == "invalid_body"
    assert client.get(f"/api/v1/public/photos/{photographed['photo_id']}").status_code == 404


def test_marking_a_photo_of_another_case_is_404(client, photographed, operator_token):
    other, photo_id = photographed["case_id"] + 1, photographed["photo_id"]
    r = client.patch(f"/api/v1/cases/{other}/photos/{photo_id}", json={"publishable": True},
                     headers=headers(operator_token))
    assert r.status_code == 404 and r.get_json()["error"] == "photo_not_found"


def test_the_page_shows_the_list_the_map_and_paging_in_chinese_then_english(client, board_url):
    r = client.get("/public?lang=zh")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "巴公镇公示栏" in html and "办理结果" in html and "群众评价" in html
    assert html.count('class="card board-item"') == board.PER_PAGE
    assert "/static/vendor/leaflet/leaflet.js" in html and "board-pin" in html
    assert 'class="next" href="?page=2"' in html
    assert URL_RE.findall(html) == []
    english = client.get("/public?lang=en&page=2").get_data(as_text=True)
    assert "public board" in english and "What was done" in english and 'class="prev"' in english


def test_the_page_answers_a_bad_query_with_its_message(client):
    r = client.get("/public?from=2000-01-01")
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "查询条件有误" in html and "2000-01-01" in html


def test_a_public_photo_loses_its_exif_position_and_keeps_its_orientation(client, board_url,
                                                                          operator_token):
    """A phone's JPEG: GPS position, device and owner in its EXIF, taken sideways (EXIF
    orientation 6). Staff keep the original; the board serves the pixels, upright, and no EXIF."""
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: turned 90° clockwise to view
    exif[0x010F] = "PhoneMaker"  # make
    exif[0x013B] = "李四"  # artist
    exif[0x8825] = {1: "N", 2: (35.0, 30.0, 15.5), 3: "E", 4: (112.0, 52.0, 40.2)}  # GPS
    out = io.BytesIO()
    Image.new("RGB", (60, 20), (10, 120, 200)).save(out, "JPEG", exif=exif.tobytes())
    jpeg = out.getvalue()
    case_id = client.get("/api/v1/public/cases").get_json()["items"][0]["id"]
    photo_id = stored_photo(board_url, case_id, "phone.jpg", "image/jpeg", jpeg, publishable=True)
    served = client.get(f"/api/v1/public/photos/{photo_id}")
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert b"Exif" not in served.data and b"PhoneMaker" not in served.data
    with Image.open(io.BytesIO(served.data)) as image:
        assert not image.getexif() and image.size == (20, 60)  # stood upright
    original = query(board_url, "SELECT data FROM case_photos WHERE id = :id", id=photo_id)
    assert b"PhoneMaker" in bytes(original[0]["data"])  # staff keep what was sent


def test_a_marked_photo_that_cannot_be_decoded_is_not_published(client, board_url):
    case_id = client.get("/api/v1/public/cases").get_json()["items"][0]["id"]
    broken = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    photo_id = stored_photo(board_url, case_id, "broken.png", "image/png", broken,
                            publishable=True)
    r = client.get(f"/api/v1/public/photos/{photo_id}")
    assert r.status_code == 404 and r.get_json()["error"] == "photo_not_found"
    assert "metadata" in r.get_json()["message"]


# -- a province: each town its own board ----------------------------------------------------

@pytest.fixture(scope="module")
def two_towns_url(pg_server, template_db):
    """The demo as a province of two towns (demo/province.py): Bagong, then 演示2镇, each with
    more closed cases in the window than a page holds."""
    from demo.load import load_demo

    name = f"gridgov_test_board_towns_{os.getpid()}"
    url = pg_server.create_database(name, template=template_db)
    load_demo(url, seed=3, cases=600, progress=False, towns=2, residents=2000)
    yield url
    engine_for(url).dispose()
    pg_server.drop_database(name)


@pytest.fixture
def towns(two_towns_url) -> list[dict]:
    """The two towns by code: code, name, and the ids of their cases on the board now."""
    found = query(two_towns_url, "SELECT code, name FROM towns ORDER BY code")
    for town in found:
        town["ids"] = {r["id"] for r in query(
            two_towns_url, f"SELECT id FROM cases c WHERE {WINDOW} AND c.closed_at < "
                           "(town_today() + 1)::timestamp AT TIME ZONE 'Asia/Shanghai' "
                           "AND c.town_code = :town", town=town["code"])}
    assert [t["name"] for t in found] == ["巴公镇", "演示2镇"]
    assert all(len(t["ids"]) > board.PER_PAGE for t in found)
    return found


@pytest.fixture
def province_client(two_towns_url):
    intake.clear_caches()
    return create_app({"DATABASE_URL": two_towns_url}).test_client()


def _shown_ids(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'class="card board-item" data-case="(\d+)"', html)}


def test_a_towns_board_shows_its_name_and_only_its_cases(province_client, towns):
    first, second = towns
    body = province_client.get(f"/api/v1/public/cases?town={second['code']}").get_json()
    PublicBoardOut.model_validate(body)
    assert body["town"] == {"code": second["code"], "name": "演示2镇"}
    assert body["total"] == len(second["ids"])
    pages = [province_client.get(f"/api/v1/public/cases?town={second['code']}&page={n}")
             .get_json()["items"] for n in range(1, body["pages"] + 1)]
    assert {i["id"] for page in pages for i in page} == second["ids"]
    r = province_client.get(f"/public?town={second['code']}&lang=zh")
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "<h1>演示2镇公示栏</h1>" in html and "巴公镇公示栏" not in html
    shown = _shown_ids(html)
    assert len(shown) == board.PER_PAGE and shown <= second["ids"]
    # the village filter offers the town's villages only
    villages = re.findall(r'<option value="(\d{15})"', html)
    assert villages and all(v.startswith(second["code"]) for v in villages)
    # the chooser: every town by its name, the one shown selected
    assert f'<option value="{second["code"]}" selected>演示2镇' in html
    assert f'<option value="{first["code"]}">巴公镇' in html
    assert "/static/js/town_chooser.js" in html


def test_the_board_is_the_first_towns_when_none_is_asked_for(province_client, towns):
    first, second = towns
    body = province_client.get("/api/v1/public/cases").get_json()
    assert body["town"]["code"] == first["code"] and body["total"] == len(first["ids"])
    html = province_client.get("/public").get_data(as_text=True)
    assert "<h1>巴公镇公示栏</h1>" in html and _shown_ids(html) <= first["ids"]
    assert f'<option value="{first["code"]}" selected>巴公镇' in html


def test_the_board_is_a_signed_in_accounts_own_town_when_none_is_asked_for(
        province_client, two_towns_url, towns):
    from tests.accounts_support import bearer, token_for

    second = towns[1]
    token = token_for(two_towns_url, "second_town_operator", "town_operator",
                      scope=second["code"])
    client = bearer(province_client, token)
    assert client.get("/api/v1/public/cases").get_json()["town"]["code"] == second["code"]
    assert "<h1>演示2镇公示栏</h1>" in client.get("/public").get_data(as_text=True)


@pytest.mark.parametrize(("town", "status", "code"), [
    ("140525999", 404, "town_not_found"),
    ("999999999", 404, "town_not_found"),
    ("14052510", 422, "invalid_query"),
    ("1405251080", 422, "invalid_query"),
    ("14052510x", 422, "invalid_query"),
    ("140525108001", 422, "invalid_query"),  # a village's code is not a town's
])
def test_an_unknown_town_is_404_and_a_malformed_one_422(province_client, towns, town, status,
                                                         code):
    r = province_client.get(f"/api/v1/public/cases?town={town}")
    assert r.status_code == status and r.get_json()["error"] == code
    assert town in r.get_data(as_text=True)
    if status == 404:
        assert r.get_json()["details"] == {"town": town}
    page = province_client.get(f"/public?town={town}&lang=zh")
    html = page.get_data(as_text=True)
    assert page.status_code == status and "查询条件有误" in html
    assert (f"没有代码为 {town} 的乡镇" if status == 404 else "9 位数字") in html
    assert _shown_ids(html) == set() and "公示栏</h1>" in html
    english = province_client.get(f"/public?town={town}&lang=en").get_data(as_text=True)
    assert (f"There is no town with the code {town}" if status == 404 else "9 digits") in english


def test_the_pages_links_keep_the_town(province_client, towns):
    first, second = towns
    html = province_client.get(f"/public?town={second['code']}&lang=zh").get_data(as_text=True)
    assert f'class="next" href="?town={second["code"]}&amp;page=2"' in html
    assert f'<input type="hidden" name="town" value="{second["code"]}">' in html
    assert f'href="?town={second["code"]}">' in html  # the filters' reset
    for lang in ("zh", "en"):  # the language switch
        assert f'href="?town={second["code"]}&amp;lang={lang}"' in html
    page_two = province_client.get(f"/public?town={second['code']}&page=2").get_data(as_text=True)
    assert "<h1>演示2镇公示栏</h1>" in page_two and _shown_ids(page_two) <= second["ids"]
    assert f'class="prev" href="?town={second["code"]}&amp;page=1"' in page_two
    # with no town asked for in a province, the links name the town shown
    default = province_client.get("/public").get_data(as_text=True)
    assert f'class="next" href="?town={first["code"]}&amp;page=2"' in default
    # a filter and the town kept together, in the order given
    village = re.findall(r'<option value="(\d{15})"', html)[0]
    filtered = province_client.get(f"/public?village={village}&town={second['code']}")
    html = filtered.get_data(as_text=True)
    assert f'<input type="hidden" name="town" value="{second["code"]}">' in html
    assert f'href="?village={village}&amp;town={second["code"]}&amp;lang=en"' in html
    assert _shown_ids(html) <= second["ids"]
