"""The resident's rating link (一事一评) on a real PostGIS (a copy of the demo per test): a
close with a reporter's phone makes a link, a case without one gets none; the link rates once
(409 the second time), an expired link is 410 and an unknown one 404, each with its message and
nothing written; 不满意 within 7 days reopens the case to the center that closed it with one
yellow card; a good rating only evaluates; the form refuses a post without the page's nonce
and a comment over 2,000 characters. And the case page's block for operators."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import jsonschema
import pytest
from sqlalchemy import text

from accounts.actor import Actor
from cases import intake, rating, rating_links
from cases.errors import RatingExpired, RatingNotFound, RatingUsed
from cases.transitions import apply_transition
from db.session import engine_for, session_scope
from tests.accounts_support import session_cookie
from tests.test_intake_api import leaf_with_one_worker
from web import create_app
from web.api.transitions import RatingLinkOut
from web.auth import COOKIE

TOWN = "140525108"


@pytest.fixture
def url(demo_copy_url):
    intake.clear_caches()
    yield demo_copy_url
    engine_for(demo_copy_url).dispose()


def actors(leaf: dict) -> tuple[Actor, Actor]:
    village = leaf["parent_code"][:12]
    worker = Actor(role="grid_worker", name=leaf["worker_name"], account_id=3,
                   person_id=leaf["worker_id"], scope_kind="grids",
                   grid_codes=frozenset({leaf["code"]}))
    operator = Actor(role="village_operator", name="村便民服务中心 李", account_id=2,
                     scope_kind="village", scope_code=village)
    return worker, operator


def closed_case(url: str, leaf: dict, phone: str | None = "13812345678",
                at: datetime | None = None,
                close_note: str = "已清运完毕，张三丰 13812345678 确认") -> tuple[int, dict]:
    """A resident's case handled by the leaf's worker and closed by the village center; the
    close's result (with its rating link when the reporter is reachable)."""
    at = at or datetime.now().astimezone() - timedelta(hours=3)
    worker, operator = actors(leaf)
    req = intake.CaseRequest(category="patrol.exposed_rubbish", description="路边有暴露垃圾",
                             channel="resident", lon=leaf["lon"], lat=leaf["lat"],
                             reporter_name="张三丰", reporter_phone=phone)
    with session_scope(url) as s:
        case_id = intake.create_case(s, req, now=at).case["id"]
    result = None
    for i, (action, who, note) in enumerate([("accept", worker, None),
                                             ("feed_back", worker, "已清运，联系人张三丰 13812345678"),
                                             ("close", operator, close_note)]):
        with session_scope(url) as s:
            version = s.execute(text("SELECT version FROM cases WHERE id = :id"),
                                {"id": case_id}).scalar_one()
            result = apply_transition(s, case_id, action, who, version, note=note,
                                      at=at + timedelta(minutes=10 * (i + 1)))
    return case_id, result


def snapshot(url: str, case_id: int) -> tuple:
    with session_scope(url) as s:
        case = s.execute(text("SELECT status, version, satisfaction, queue FROM cases "
                              "WHERE id = :id"), {"id": case_id}).one()
        n_events = s.execute(text("SELECT count(*) FROM case_events WHERE case_id = :id"),
                             {"id": case_id}).scalar_one()
        links = s.execute(text("SELECT used_at, rating FROM rating_links WHERE case_id = :id "
                               "ORDER BY id"), {"id": case_id}).all()
    return tuple(case), n_events, [tuple(r) for r in links]


def form_of(client, path: str):
    """GET the rating page: (the response, its form nonce)."""
    page = client.get(path)
    found = re.search(r'name="nonce" value="([^"]+)"', page.get_data(as_text=True))
    return page, found.group(1) if found else None


def test_a_close_with_a_phone_makes_a_link_that_rates_once(url):
    leaf = leaf_with_one_worker(url)
    case_id, closed = closed_case(url, leaf)
    link = closed["rating_link"]
    jsonschema.validate(link, RatingLinkOut.model_json_schema(mode="serialization"))
    assert link["path"] == "/rate/" + link["token"] and len(link["token"]) >= 40
    with session_scope(url) as s:  # only the token's SHA-256 is kept
        kept = s.execute(text("SELECT token_sha256, expires_at - created_at FROM rating_links "
                              "WHERE case_id = :id"), {"id": case_id}).one()
    assert kept[0] == rating_links.digest(link["token"]) and link["token"] not in kept[0]
    assert kept[1] == timedelta(days=30)

    client = create_app({"DATABASE_URL": url}).test_client()
    page, nonce = form_of(client, link["path"])
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and nonce
    assert "办理结果评价" in html
    for level in ("非常满意", "满意", "基本满意", "不满意"):
        assert level in html
    assert "已清运完毕" in html  # what was done: the close note, personal data masked
    assert "张三丰" not in html and "13812345678" not in html and "138****5678" in html
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]

    done = client.post(link["path"], data={"nonce": nonce, "rating": "satisfied",
                                           "comment": "处理很及时"})
    assert done.status_code == 200, done.get_data(as_text=True)
    assert "感谢您的评价" in done.get_data(as_text=True)
    (status, _version, satisfaction, _queue), n_events, links = snapshot(url, case_id)
    assert (status, satisfaction) == ("evaluated", "satisfied")
    assert links[0][1] == "satisfied" and links[0][0] is not None
    with session_scope(url) as s:  # a good rating evaluates only: no reopen, no card
        types = s.execute(text("SELECT type FROM case_events WHERE case_id = :id ORDER BY id"),
                          {"id": case_id}).scalars().all()
        note = s.execute(text("SELECT note FROM case_events WHERE case_id = :id AND "
                              "type = 'evaluate'"), {"id": case_id}).scalar_one()
    assert types[-1] == "evaluate" and "reopen" not in types and "card" not in types
    assert note == "处理很及时"

    before = snapshot(url, case_id)
    again = client.post(link["path"], data={"nonce": nonce, "rating": "dissatisfied"})
    assert again.status_code == 409
    assert 'data-error="rating_used"' in again.get_data(as_text=True)
    assert "已于" in again.get_data(as_text=True) and "使用过" in again.get_data(as_text=True)
    assert client.get(link["path"]).status_code == 409
    assert snapshot(url, case_id) == before
    with session_scope(url) as s, pytest.raises(RatingUsed):
        rating.rate(s, link["token"], "满意")


def test_an_expired_link_is_410_and_an_unknown_one_404_with_nothing_written(url):
    leaf = leaf_with_one_worker(url)
    case_id, _ = closed_case(url, leaf, at=datetime.now().astimezone() - timedelta(days=40))
    with session_scope(url) as s:
        old = rating_links.issue_link(s, case_id, TOWN,
                                      datetime.now().astimezone() - timedelta(days=31))
    before = snapshot(url, case_id)
    client = create_app({"DATABASE_URL": url}).test_client()
    page = client.get(old["path"])
    assert page.status_code == 410 and 'data-error="rating_expired"' in page.get_data(as_text=True)
    assert "过期" in page.get_data(as_text=True)
    posted = client.post(old["path"], data={"nonce": "x", "rating": "satisfied"},
                         headers={"Cookie": "gridgov_rate_nonce=x"})
    assert posted.status_code == 410
    assert snapshot(url, case_id) == before
    with session_scope(url) as s, pytest.raises(RatingExpired):
        rating.rate(s, old["token"], "满意")

    unknown = client.get("/rate/" + "A" * 43)
    assert unknown.status_code == 404
    assert 'data-error="rating_not_found"' in unknown.get_data(as_text=True)
    assert "不存在" in unknown.get_data(as_text=True)
    assert client.post("/rate/nope", data={"nonce": "x", "rating": "satisfied"}).status_code in (
        403, 404)
    with session_scope(url) as s, pytest.raises(RatingNotFound):
        rating.rate(s, "nope", "满意")


def test_dissatisfied_within_seven_days_reopens_to_the_closer_with_one_yellow_card(url):
    leaf = leaf_with_one_worker(url)
    case_id, closed = closed_case(url, leaf)
    client = create_app({"DATABASE_URL": url}).test_client()
    _page, nonce = form_of(client, closed["rating_link"]["path"])
    done = client.post(closed["rating_link"]["path"],
                       data={"nonce": nonce, "rating": "不满意", "comment": "垃圾又堆起来了"})
    assert done.status_code == 200 and "退回重新办理" in done.get_data(as_text=True)
    (status, _v, satisfaction, queue), _n, links = snapshot(url, case_id)
    assert (status, satisfaction, queue) == ("filed", "dissatisfied", "village")
    assert links[0][1] == "dissatisfied"
    with session_scope(url) as s:
        log = s.execute(text("SELECT id, type, data, role FROM case_events WHERE case_id = :id "
                             "ORDER BY id"), {"id": case_id}).mappings().all()
        assert [e["type"] for e in log][-3:] == ["evaluate", "reopen", "card"]
        card = log[-1]
        assert card["data"]["signal"] == "yellow" and card["data"]["reason"] == "dissatisfied"
        assert card["data"]["reopen_event_id"] == log[-2]["id"]
        assert log[-2]["role"] == "resident"
        # the card is unique per reopen: giving it again writes nothing
        again = rating._reopen_card(s, case_id, {"event": {"id": log[-2]["id"]}},
                                    datetime.now().astimezone())
        assert again is None
        assert s.execute(text("SELECT count(*) FROM case_events WHERE case_id = :id AND "
                              "type = 'card'"), {"id": case_id}).scalar_one() == 1
        # told once, with the card: the worker who handled it and the village center that closed it
        told = s.execute(text("SELECT event_id, signal, clock, person_id, scope_kind, scope_code "
                              "FROM notifications WHERE case_id = :id ORDER BY id"),
                         {"id": case_id}).all()
        assert [tuple(t) for t in told] == [
            (card["id"], "yellow", "reopen", leaf["worker_id"], None, None),
            (card["id"], "yellow", "reopen", None, "village", leaf["parent_code"][:12]),
        ]


def test_dissatisfied_after_seven_days_is_recorded_but_reopens_nothing(url):
    leaf = leaf_with_one_worker(url)
    case_id, closed = closed_case(url, leaf, at=datetime.now().astimezone() - timedelta(days=9))
    with session_scope(url) as s:
        out = rating.rate(s, closed["rating_link"]["token"], "不满意")
    assert out["reopened"] is False and out["card_event_id"] is None
    (status, _v, satisfaction, _q), _n, _links = snapshot(url, case_id)
    assert (status, satisfaction) == ("evaluated", "dissatisfied")


def test_a_closed_case_without_a_phone_gets_no_link(url):
    leaf = leaf_with_one_worker(url)
    case_id, closed = closed_case(url, leaf, phone=None)
    assert "rating_link" not in closed
    assert snapshot(url, case_id)[2] == []


def test_the_form_refuses_a_post_without_the_page_nonce_and_a_long_comment(url):
    leaf = leaf_with_one_worker(url)
    case_id, closed = closed_case(url, leaf)
    path = closed["rating_link"]["path"]
    client = create_app({"DATABASE_URL": url}).test_client()
    before = snapshot(url, case_id)
    # a cross-site form: no cookie of ours, a nonce it made up
    forged = create_app({"DATABASE_URL": url}).test_client().post(
        path, data={"nonce": "guess", "rating": "very_satisfied"})
    assert forged.status_code == 403
    assert 'data-error="rating_form_refused"' in forged.get_data(as_text=True)
    _page, nonce = form_of(client, path)
    other_site = client.post(path, data={"nonce": nonce, "rating": "very_satisfied"},
                             headers={"Origin": "https://evil.example"})
    assert other_site.status_code == 403
    long = client.post(path, data={"nonce": nonce, "rating": "satisfied", "comment": "好" * 2001})
    assert long.status_code == 422 and "2000" in long.get_data(as_text=True)
    bad = client.post(path, data={"nonce": nonce, "rating": "so-so"})
    assert bad.status_code == 422
    assert snapshot(url, case_id) == before
    ok = client.post(path, data={"nonce": nonce, "rating": "very_satisfied",
                                 "comment": "好" * 2000})
    assert ok.status_code == 200


def test_operators_in_scope_see_the_links_and_make_one_to_send(url):
    leaf = leaf_with_one_worker(url)
    case_id, _closed = closed_case(url, leaf)
    client = create_app({"DATABASE_URL": url}).test_client()
    session_id, csrf = session_cookie(url, "town_operator")
    client.set_cookie(COOKIE, session_id)
    page = client.get(f"/cases/{case_id}").get_data(as_text=True)
    assert "群众评价链接" in page and "发送给报告人" in page and "没有短信网关" in page
    assert "/rate/" not in page  # the close's token is not kept: it cannot show again
    made = client.post(f"/cases/{case_id}/rating-link", data={"csrf_token": csrf})
    html = made.get_data(as_text=True)
    assert made.status_code == 200
    token = re.search(r'value="http://[^"]+/rate/([A-Za-z0-9_-]+)"', html).group(1)
    with session_scope(url) as s:
        assert rating.rating_view(s, token)["id"] == case_id
    refused = client.post(f"/cases/{case_id}/rating-link", data={})  # no CSRF token
    assert refused.status_code == 403

    leader = create_app({"DATABASE_URL": url}).test_client()  # not a center's operator
    leader.set_cookie(COOKIE, session_cookie(url, "town_leader")[0])
    assert "群众评价链接" not in leader.get(f"/cases/{case_id}").get_data(as_text=True)
