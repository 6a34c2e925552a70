"""``/public``: the public board (公示栏), for anyone, without an account.

One town's closed cases of the last 90 days, 20 a page, as the list and as numbered pins on a
map of the town (folium, our own Leaflet: web/assets.py). The records are cases/board.py's,
redacted by cases/publication.py; this page adds no field of its own. Its query string is the
API's (``town``, ``from``, ``until``, ``village``, ``category``, ``page``) and is checked by
the same model; the town is chosen as the API chooses it (web/api/public.py ``board_town``).
In a province the page offers a chooser of the towns, and its links keep the town shown.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, make_response, render_template, request
from pydantic import ValidationError

from accounts.access import PUBLIC, allow
from boundaries import repository as boundaries
from boundaries.errors import TownNotFound
from cases import board
from cases.categories import categories
from cases.deadlines import LOCAL_TZ
from cases.errors import BoardWindowError, UnknownCategory
from geo.layers import grids as grid_layers
from geo.layers import public_cases
from web import database, i18n
from web.api import field_errors
from web.api.public import BoardQueryIn, board_query, board_town, empty_board
from web.assets import localise
from web.pages import _base_map, _leaflet_only, _map_parts
from web.database import replica_reads

bp = Blueprint("public", __name__)

# The board's own words, beside web/i18n.py's (Simplified Chinese first).
WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "board_title": "{town}公示栏", "board_intro":
            "近{days}天办结的群众诉求与网格事项：办理经过、用时和群众评价。"
            "为保护个人信息，姓名只显示姓氏（如 张*），电话隐去中间四位（如 138****5678），"
            "地址只到街巷，位置约精确到 50 米，照片经工作人员审核后才公开。",
        "from": "结案日期从", "until": "至", "village": "村（社区）", "all_villages": "全部村（社区）",
        "category": "类别", "all_categories": "全部类别", "filter": "筛选", "reset": "重置",
        "summary": "共 {total} 件，第 {page}/{pages} 页", "reported": "上报", "closed": "结案",
        "time_taken": "用时", "what_was_done": "办理结果", "rating": "群众评价",
        "not_rated": "尚未评价", "supporters": "+{n} 人同样反映", "supporters_title":
            "另有 {n} 位居民反映了同一件事", "reporter": "反映人", "prev": "← 上一页",
        "next": "下一页 →", "empty": "这段时间没有办结的案件。", "map": "案件位置（约 50 米）",
        "photos": "现场照片", "days_hours": "{d}天{h}小时", "hours": "{h}小时",
        "bad_query": "查询条件有误", "none": "—", "town": "乡镇", "show_town": "查看",
        "town_not_found": "没有代码为 {code} 的乡镇，请从列表中选择乡镇。",
        "town_invalid": "乡镇代码应为 9 位数字（如 140525108），收到的是 {code}。",
    },
    "en": {
        "board_title": "{town} public board", "board_intro":
            "Matters closed in the last {days} days: what was done, how long it took and how "
            "residents rated it. To protect personal data, names show only the first character "
            "(张*), phone numbers hide four digits (138****5678), addresses stop at the street, "
            "positions are rounded to about 50 m, and photos appear only after staff approve them.",
        "from": "Closed from", "until": "until", "village": "Village",
        "all_villages": "All villages",
        "category": "Category", "all_categories": "All categories", "filter": "Filter",
        "reset": "Reset", "summary": "{total} cases, page {page} of {pages}",
        "reported": "Reported", "closed": "Closed", "time_taken": "Time taken",
        "what_was_done": "What was done", "rating": "Residents' rating",
        "not_rated": "Not rated yet", "supporters": "+{n} reported it too",
        "supporters_title": "{n} more residents reported the same matter",
        "reporter": "Reported by", "prev": "← Previous", "next": "Next →",
        "empty": "No case was closed in this period.", "map": "Where (to about 50 m)",
        "photos": "Photos", "days_hours": "{d} d {h} h", "hours": "{h} h",
        "bad_query": "The query is not valid", "none": "—", "town": "Town",
        "show_town": "Show",
        "town_not_found": "There is no town with the code {code}: choose a town from the list.",
        "town_invalid": "A town's code is 9 digits (e.g. 140525108), not {code}.",
    },
}


def _duration(hours: float | None, words: dict[str, str]) -> str:
    if hours is None:
        return words["none"]
    days, rest = divmod(round(hours), 24)
    if days:
        return words["days_hours"].format(d=days, h=rest)
    return words["hours"].format(h=max(0, round(hours, 1)) if hours < 1 else round(hours))


def _local(value: str | None) -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(LOCAL_TZ).strftime("%Y-%m-%d")


def _board_map(town: dict, items: list[dict], lang: str, first: int, cats: dict,
               ratings: dict) -> dict[str, str] | None:
    """The town's outline and the page's pins: folium's rendered parts, with the JavaScript
    names of the map and of the pins' layer (web/static/js/public.js spreads close pins)."""
    bounds = grid_layers.bounds_latlon(town)
    if bounds is None:
        return None
    m = _base_map(bounds, lang)
    grid_layers.town_layer(town, lang).add_to(m)
    names = {code: c.get(f"name_{lang}") for code, c in cats.items()}
    pins_layer = public_cases.board_layer(items, lang, first, names, ratings).add_to(m)
    pins = [[i["location"]["lat"], i["location"]["lon"]] for i in items if i.get("location")]
    if pins:  # as close as the page's pins allow, so they spread as far apart as they can
        south_west = [min(p[0] for p in pins), min(p[1] for p in pins)]
        north_east = [max(p[0] for p in pins), max(p[1] for p in pins)]
        m.fit_bounds([south_west, north_east], padding=(24, 24), max_zoom=16)
    else:
        m.fit_bounds(bounds)
    _leaflet_only(localise(m))  # type: ignore[arg-type]
    return {**_map_parts(m), "pins_name": pins_layer.get_name()}


@replica_reads
@bp.get("/public")
@allow(PUBLIC)
def public_board():
    """The board: filters, the page's cases as a list and on a map, paging."""
    lang = i18n.language()
    words = {**i18n.words(lang), **WORDS[lang]}
    names = i18n.names(lang)
    db = database.session()
    args = {k: v for k, v in request.args.items() if k != "lang"}
    error: list[str] = []
    status = 200
    result: dict[str, Any] = {"items": [], "total": 0, "page": 1, "pages": 1}
    shown: dict[str, str] | None = None
    given = {k: v for k, v in args.items() if v != ""}
    try:
        # the town first, by the same model: a bad filter still shows the town's map
        shown = board_town(db, BoardQueryIn.model_validate(
            {"town": given["town"]} if "town" in given else {}).town)
        query = BoardQueryIn.model_validate(given)
        result = board.board(db, board_query(query, shown["code"])) if shown else empty_board(query)
    except ValidationError as exc:
        error = [words["town_invalid"].format(code=given["town"]) if e["field"] == "town"
                 else f"{e['field']}: {e['message']}" for e in field_errors(exc)]
        status = 422
    except TownNotFound as exc:
        error = [words["town_not_found"].format(code=exc.details["town"])]
        status = 404
    except (BoardWindowError, UnknownCategory) as exc:
        error = [exc.message]
        status = 422
    # only the town shown is read: its outline and its villages (not every town's, then one)
    towns = boundaries.town_names(db)
    town = boundaries.town_geojson(db, town_code=shown["code"]) if shown else {"features": []}
    if shown is not None and len(towns) > 1:
        args["town"] = shown["code"]  # every link keeps the town shown (one town: none needed)
    cats = categories(db)
    first = (result["page"] - 1) * board.PER_PAGE + 1

    def page_url(page: int) -> str:
        return "?" + urlencode({**args, "page": page})

    html = render_template(
        "public.html", lang=lang, t=words, names=names,
        title=words["board_title"].format(town=shown["name"] if shown else ""),
        intro=words["board_intro"].format(days=board.WINDOW_DAYS), result=result, error=error,
        args=args, first=first, villages=board.villages(db, shown["code"]) if shown else [],
        towns=towns if len(towns) > 1 else [], shown=shown,
        categories=[(code, c.get(f"name_{lang}")) for code, c in cats.items()
                    if c["parent_code"] is None],
        category_names={code: c.get(f"name_{lang}") for code, c in cats.items()},
        duration=lambda h: _duration(h, words), day=_local, page_url=page_url,
        board_map=_board_map(town, result["items"], lang, first, cats, names["satisfaction"]),
        rating_colors=public_cases.RATING_COLORS,
    )
    return i18n.remember(make_response(html, status))
