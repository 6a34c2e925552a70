"""``GET /api/v1/categories``: the checklists of DOMAIN.md as the top level, subcategories
below, each with its time limit, read from the categories table (data, not code)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from cases import intake
from cases.categories import category_rows
from cases.models import LIMIT_UNITS
from db.session import engine_for, session_scope
from web import create_app

REGIONAL = ["巡检巡查", "信息采集", "隐患排治", "协助管理"]
SERVICE = ["民情走访", "组织动员", "矛盾化解", "帮办代办"]


@pytest.fixture
def client(empty_db_url):
    intake.clear_caches()
    yield create_app({"DATABASE_URL": empty_db_url}).test_client()
    engine_for(empty_db_url).dispose()


def test_categories_are_the_eight_checklists_with_their_subcategories(client):
    body = client.get("/api/v1/categories").get_json()
    top = body["categories"]
    assert sorted(c["name_zh"] for c in top if c["checklist"] == "regional") == sorted(REGIONAL)
    assert sorted(c["name_zh"] for c in top if c["checklist"] == "service") == sorted(SERVICE)
    shipped = {r["code"]: r for r in category_rows()}
    listed = {c["code"]: c for c in top} | {s["code"]: s for c in top for s in c["subcategories"]}
    assert listed.keys() == shipped.keys()
    for parent in top:
        assert parent["parent_code"] is None
        assert parent["subcategories"], parent["code"]
        for sub in parent["subcategories"]:
            assert sub["parent_code"] == parent["code"]
            assert sub["checklist"] == parent["checklist"]
            assert "subcategories" not in sub


def test_every_category_has_names_and_a_time_limit_with_a_known_unit(client):
    top = client.get("/api/v1/categories").get_json()["categories"]
    for c in top + [s for t in top for s in t["subcategories"]]:
        assert c["name_zh"] and c["name_en"]
        assert c["time_limit"]["value"] > 0
        assert c["time_limit"]["unit"] in LIMIT_UNITS
    rubbish = next(s for t in top for s in t["subcategories"] if s["code"] == "patrol.exposed_rubbish")
    assert rubbish["time_limit"] == {"value": 4, "unit": "working_hours"}  # DOMAIN.md, Shanxi
    assert rubbish["name_zh"] == "暴露垃圾"


def test_a_category_an_administrator_adds_to_the_table_is_listed(client, empty_db_url):
    with session_scope(empty_db_url) as s:
        s.execute(text(
            "INSERT INTO categories (code, parent_code, checklist, name_zh, name_en, limit_value, limit_unit) "
            "VALUES ('hazard.mined_out', 'hazard', 'regional', '采空区塌陷', 'Mined-out subsidence', 12, 'urgent_hours')"
        ))
    intake.clear_caches()  # the list is cached per process; an administrator's tool clears it
    top = client.get("/api/v1/categories").get_json()["categories"]
    hazard = next(t for t in top if t["code"] == "hazard")
    added = next(s for s in hazard["subcategories"] if s["code"] == "hazard.mined_out")
    assert added["time_limit"] == {"value": 12, "unit": "urgent_hours"}
