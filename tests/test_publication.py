"""cases/publication.py on its own: the one place a case is redacted for the public board."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cases.deadlines import LOCAL_TZ
from cases.publication import (
    POSITION_STEP_DEG, public_address, public_case, public_lonlat, redact_name, redact_phone,
    redact_text,
)


@pytest.mark.parametrize(("name", "shown"), [
    ("张", "*"),  # one character: nothing of it
    ("张三", "张*"),
    ("张三丰", "张*"),  # the length is hidden too
    ("欧阳娜娜", "欧*"),
    ("  李四 ", "李*"),
    ("John Smith", "J*"),
    (None, None),
    ("   ", None),
])
def test_names_keep_only_their_first_character(name, shown):
    assert redact_name(name) == shown


@pytest.mark.parametrize(("phone", "shown"), [
    ("13812345678", "138****5678"),
    ("138 1234 5678", "138****5678"),
    ("138-1234-5678", "138****5678"),
    ("+86 138 1234 5678", "138****5678"),
    ("8613812345678", "138****5678"),
    ("0356-1234567", "0356-****567"),  # a Jincheng landline: area code kept
    ("(0356) 1234567", "0356-****567"),
    ("03561234567", "0356-****567"),
    ("010-12345678", "010-*****678"),  # a three-digit area code, eight-digit number
    ("12345", "****5"),  # a short number: four hidden all the same
    ("4001234567", "********67"),
    ("110", "***"),
    ("", None),
    (None, None),
])
def test_phones_hide_at_least_four_digits(phone, shown):
    assert redact_phone(phone) == shown
    if shown:
        digits = "".join(c for c in (phone or "") if c.isdigit())
        assert shown.count("*") >= min(4, len(digits))


@pytest.mark.parametrize(("address", "shown"), [
    ("巴公镇渠头村三组东大街12号", "巴公镇渠头村3组东大街"),
    ("渠头村东大街12#", "渠头村东大街"),
    ("渠头村东大街12号院", "渠头村东大街"),
    ("渠头村东大街5号楼3单元301室", "渠头村东大街"),
    ("渠头村东大街26-1号", "渠头村东大街"),
    ("山西省晋城市泽州县巴公镇渠头村东大街十二号附近", "山西省晋城市泽州县巴公镇渠头村东大街"),
    ("渠头村阳光小区3栋2单元501", "渠头村阳光小区"),
    ("渠头村2单元501", "渠头村"),
    ("渠头村4楼", "渠头村"),
    ("渠头村张三家门口", "渠头村"),  # not a street: words after the village are dropped
    ("12号", None),
    (None, None),
])
def test_addresses_are_cut_to_the_street(address, shown):
    assert public_address(address) == shown


def test_free_text_has_phones_masked_and_the_reporters_name_redacted():
    note = "已联系居民张三（13812345678、0356-1234567），垃圾已清运。工单20251009001"
    out = redact_text(note, ("张三",))
    assert out == "已联系居民张*（138****5678、0356-****567），垃圾已清运。工单20251009001"
    assert redact_text(None) is None


@settings(deadline=None)
@given(st.floats(112.7, 113.1), st.floats(35.5, 35.8))
def test_a_position_moves_to_a_node_of_the_50_m_grid_at_most_36_m_away(lon, lat):
    snapped = public_lonlat(lon, lat)
    assert snapped is not None
    s_lon, s_lat = snapped
    for value in snapped:
        assert abs(value / POSITION_STEP_DEG - round(value / POSITION_STEP_DEG)) < 1e-6
    dy = (s_lat - lat) * 110_574
    dx = (s_lon - lon) * 111_320 * math.cos(math.radians(lat))
    assert math.hypot(dx, dy) <= 36  # half the diagonal of a 55 m × 45 m cell
    assert public_lonlat(*snapped) == snapped


def test_a_record_carries_only_the_allowed_fields_redacted():
    created = datetime(2026, 10, 1, 9, 0, tzinfo=LOCAL_TZ)
    row = {
        "id": 7, "category_code": "patrol.exposed_rubbish", "category_zh": "暴露垃圾",
        "category_en": "Exposed rubbish", "admin_code": "140525108227000", "village_name": "渠头村",
        "address": "巴公镇渠头村东大街12号3单元", "created_at": created,
        "closed_at": created + timedelta(hours=26, minutes=30), "satisfaction": "satisfied",
        "supporters": 2, "reporter_name": "王小明", "reporter_phone": "13912345678",
        "lon": 112.87123456, "lat": 35.63876543,
        "closing_note": "王小明反映的垃圾已清运，电话13912345678回访满意",
        # what a row may carry but the board never shows
        "description": "王小明家门口东大街12号", "assignee_name": "赵网格", "assignee_phone": "13700001111",
    }
    record = public_case(row, [31])
    assert set(record) == {"id", "category", "village", "address", "reported_at", "closed_at",
                           "time_taken_h", "what_was_done", "satisfaction", "supporters",
                           "reporter", "location", "photos"}
    assert record["reporter"] == {"name": "王*", "phone": "139****5678"}
    assert record["address"] == "巴公镇渠头村东大街"
    assert record["what_was_done"] == "王*反映的垃圾已清运，电话139****5678回访满意"
    assert record["time_taken_h"] == 26.5 and record["supporters"] == 2
    assert record["location"] == {"lon": 112.871, "lat": 35.639}
    assert record["photos"] == ["/api/v1/public/photos/31"]
    raw = json.dumps(record, ensure_ascii=False)
    for private in ("王小明", "13912345678", "12号", "赵网格", "13700001111", "112.87123"):
        assert private not in raw
    assert public_case({**row, "reporter_name": None, "reporter_phone": None})["reporter"] is None
