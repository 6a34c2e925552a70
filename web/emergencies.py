"""``/emergencies/{id}``: the command center's live board of one emergency (应急动员,
emergencies/): households confirmed and to go, people relocated, vulnerable people not yet
reached, by grid and by worker, on a map, with a timeline; the CSV export and the closing
summary.

The page is rendered with the figures of the moment (readable before any script runs, and in
a screenshot); web/static/js/emergency.js then follows the stream (``event: emergency``,
web/live.py): each confirmation recolours its task on the map at once, and the figures are
refetched from ``GET /api/v1/emergencies/{id}``, at most one request at a time.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, make_response, render_template

from accounts.access import allow
from emergencies import service
from emergencies.errors import EmergencyNotFound
from web import auth, database, i18n
from web.api.emergencies import BOARD_READERS, MOBILISERS

bp = Blueprint("emergencies", __name__)

WORDS: dict[str, dict[str, Any]] = {
    "zh": {
        "title": "应急动员", "kind": "类型", "created": "发起", "instructions": "工作要求",
        "open": "进行中", "closed": "已结束", "households_confirmed": "已确认户数",
        "households_to_go": "待确认户数", "people_relocated": "已转移人数",
        "people_safe": "确认安全人数", "vulnerable_not_reached": "未联系上的重点人员",
        "unreachable": "联系不上", "targets": "任务", "confirmed": "已确认", "to_go": "待确认",
        "grid": "网格", "worker": "网格员", "by_grid": "按网格", "by_worker": "按网格员",
        "timeline": "时间线", "recent": "最新确认", "export": "导出 CSV",
        "close": "结束并总结", "summary": "总结", "close_button": "结束应急",
        "summary_placeholder": "处置经过、转移安置情况、遗留问题……", "live": "实时",
        "live_lost": "连接中断", "map_label": "应急区域地图", "residents": "常住人口",
        "status": {"open": "待确认", "safe": "确认安全", "relocated": "已转移",
                   "unreachable": "联系不上"},
        "target": {"household": "住户", "enterprise": "企业", "hazard": "隐患"},
        "per_minute": "每分钟确认数", "none_yet": "尚无确认。", "final": "结束时的数字",
        "closed_by": "结束人",
    },
    "en": {
        "title": "Emergency", "kind": "Kind", "created": "Mobilised", "instructions":
        "Instructions", "open": "open", "closed": "closed",
        "households_confirmed": "Households confirmed", "households_to_go": "Households to go",
        "people_relocated": "People relocated", "people_safe": "People confirmed safe",
        "vulnerable_not_reached": "Vulnerable people not reached",
        "unreachable": "Not reachable", "targets": "Tasks", "confirmed": "Confirmed",
        "to_go": "To go", "grid": "Grid", "worker": "Grid worker", "by_grid": "By grid",
        "by_worker": "By grid worker", "timeline": "Timeline", "recent": "Latest confirmations",
        "export": "Export CSV", "close": "Close with a summary", "summary": "Summary",
        "close_button": "Close the emergency",
        "summary_placeholder": "What was done, who was relocated where, what remains…",
        "live": "live", "live_lost": "connection lost", "map_label": "Map of the emergency",
        "residents": "Residents",
        "status": {"open": "to confirm", "safe": "safe", "relocated": "relocated",
                   "unreachable": "not reachable"},
        "target": {"household": "household", "enterprise": "enterprise", "hazard": "hazard"},
        "per_minute": "confirmations per minute", "none_yet": "No confirmation yet.",
        "final": "Figures at closing", "closed_by": "Closed by",
    },
}
KIND_EN = {"evacuate": "evacuate", "confirm_safe": "confirm safe", "count": "count",
           "notify": "notify"}
STATUS_COLORS = {"open": "#d62728", "safe": "#2ca02c", "relocated": "#1f77b4",
                 "unreachable": "#7f7f7f"}


@allow(*BOARD_READERS)
@bp.get("/emergencies/<int:emergency_id>")
def board(emergency_id: int):
    """The board, with the figures of the moment; the script keeps them live."""
    lang = i18n.language()
    words = {**i18n.words(lang), **WORDS[lang]}
    actor = auth.current_actor()
    try:
        progress = service.progress(database.session(), emergency_id, actor.town_code)
    except EmergencyNotFound as exc:
        html = render_template("not_found.html", lang=lang, t=words, names=i18n.names(lang),
                               title=i18n.words(lang)["not_found_title"], message=exc.message,
                               status_colors={})
        return i18n.remember(make_response(html, 404))
    e = progress["emergency"]
    config = {
        "id": emergency_id, "lang": lang, "words": WORDS[lang], "colors": STATUS_COLORS,
        "closed": e["closed_at"] is not None, "area": e["area"],
        "basemap": current_app.config.get("BASEMAP_URL"),
        "basemapAttribution": current_app.config.get("BASEMAP_ATTRIBUTION") or "",
        "urls": {"progress": f"/api/v1/emergencies/{emergency_id}",
                 "close": f"/api/v1/emergencies/{emergency_id}/close",
                 "stream": "/api/v1/stream"},
    }
    kind = e["kind_zh"] if lang == "zh" else KIND_EN.get(e["kind"], e["kind"])
    html = render_template(
        "emergency.html", lang=lang, t=words, names=i18n.names(lang),
        title=f"{words['title']}：{e['name']}" if lang == "zh" else f"{words['title']}: {e['name']}",
        e=e, kind=kind, p=progress, config=config, colors=STATUS_COLORS,
        may_close=actor.role in MOBILISERS, status_colors={})
    response = i18n.remember(make_response(html))
    response.headers["Cache-Control"] = "no-store"
    return response


# -- the operator map's 应急 panel (web/templates/_emergency_panel.html, js/emergency_panel.js)

PANEL_WORDS: dict[str, dict[str, Any]] = {
    "zh": {
        "title": "应急动员", "area": "区域", "modes": {
            "polygon": "在地图上画多边形", "line": "画线（河道）并缓冲", "point": "选点并缓冲",
            "grid": "网格编码", "village": "村（社区）编码", "upload": "上传 GeoJSON"},
        "draw": "开始画", "finish": "完成", "buffer_m": "缓冲距离（米）", "code": "编码", "file": "文件",
        "preview": "查看区域内情况", "mobilise": "一键动员", "name": "名称", "kind": "类型",
        "instructions": "工作要求", "kinds": service.KINDS, "grid": "网格", "worker": "网格员",
        "households": "户", "residents": "人", "vulnerable": "重点人员", "enterprises": "企业",
        "hazards": "隐患", "totals": "共 {households} 户 {residents} 人，其中重点人员 {vulnerable} 人"
        "（独居老人 {elderly_alone}、残疾 {disabled}、卧床 {bedridden}、留守儿童 {children_unattended}）；"
        "企业 {enterprises} 家，隐患 {hazards} 处；{grids} 个网格、{workers} 名网格员",
        "need_area": "请先画出或选择区域", "drawn": "已画好区域", "working": "正在查询…",
        "mobilised": "已动员：{n} 项任务已派给网格员", "open_board": "打开指挥看板",
        "open_list": "进行中的应急", "none_open": "没有进行中的应急", "bad_file": "文件不是 GeoJSON",
        "default_name": "应急转移",
    },
    "en": {
        "title": "Emergency", "area": "Area", "modes": {
            "polygon": "draw a polygon", "line": "draw a line (river) and buffer",
            "point": "pick a point and buffer", "grid": "grid code", "village": "village code",
            "upload": "upload GeoJSON"},
        "draw": "Draw", "finish": "Finish", "buffer_m": "Buffer (metres)", "code": "Code", "file": "File",
        "preview": "What is inside", "mobilise": "Mobilise", "name": "Name", "kind": "Kind",
        "instructions": "Instructions", "kinds": KIND_EN, "grid": "Grid",
        "worker": "Grid worker", "households": "households", "residents": "people",
        "vulnerable": "vulnerable", "enterprises": "enterprises", "hazards": "hazards",
        "totals": "{households} households, {residents} people, {vulnerable} vulnerable "
        "({elderly_alone} elderly alone, {disabled} disabled, {bedridden} bedridden, "
        "{children_unattended} children alone); {enterprises} enterprises, {hazards} hazards; "
        "{grids} grids, {workers} grid workers",
        "need_area": "Draw or choose an area first", "drawn": "Area drawn",
        "working": "Asking…", "mobilised": "Mobilised: {n} tasks sent to the grid workers",
        "open_board": "Open the board", "open_list": "Open emergencies",
        "none_open": "No open emergency", "bad_file": "The file is not GeoJSON",
        "default_name": "Evacuation",
    },
}


@bp.app_context_processor
def _panel_context() -> dict[str, Any]:
    """The words of the operator map's emergency panel, and who sees it (the mobilisers):
    both languages, the template picks its own (a context processor runs for every page,
    error pages too, so it must not depend on the request's language being valid)."""
    return {"emergency_panel": {"words": PANEL_WORDS, "roles": MOBILISERS}}
