"""``/planner``: the planner's page (网格调整), where a draft of the grid boundaries is redrawn.

The page (web/templates/planner.html, web/static/js/planner.js) shows the draft's grids on a
map over the current boundaries and edits them only through the drafts API
(web/api/drafts.py): a new grid drawn, a grid reshaped, split by a drawn line, merged, or the
shared edge of two neighbours moved (the server snaps and keeps shared edges shared; the page
sends what was drawn and redraws from the answer); the attribute form; validation and impact
below the map after every edit; publishing with an effective time; the versions with a diff
drawn on the map. Every write carries the draft's revision (If-Match): a 409 tells the planner
what changed since and reloads the draft, never overwriting silently.

Drawing is Leaflet-Geoman's (scripts/vendor_assets.py says why not Leaflet.draw). Everything a
person typed is written by the script with ``textContent`` only.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, jsonify, make_response, render_template, url_for

from accounts.access import allow
from geo.layers import grids as grid_layers
from planning import drafts, people
from planning.errors import DraftNotFound
from web import auth, database, i18n

bp = Blueprint("planner", __name__)

# who may draw (the drafts API's writers); everyone else gets the readable 403 page
PLANNER_ROLES = ("planner", "admin")

WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "网格调整", "back_to_map": "← 返回地图", "map_label": "草稿地图", "draft": "草稿",
        "open_drafts": "未发布的草稿", "no_open_drafts": "没有未发布的草稿", "open": "打开",
        "new_draft": "新建草稿", "scope": "范围", "whole_town": "全镇", "village": "村（社区）",
        "choose_village": "选择村（社区）", "revision": "修订",
        "no_draft": "请选择一个村（社区）新建草稿，或打开已有草稿。",
        "draft_of": "草稿 #{id} · {scope} · 第 {revision} 次修订", "created_by": "创建人",
        "discard": "放弃草稿", "discard_confirm": "确认放弃", "cancel": "取消",
        "discarded": "草稿 #{id} 已放弃。", "tools": "编辑工具",
        "select_hint": "单击地图上的网格选中它，按住 Shift 单击可多选。", "selected": "已选",
        "none_selected": "未选择网格", "clear_selection": "清除选择", "tool_draw": "绘制新网格",
        "tool_reshape": "调整形状", "tool_split": "划线拆分", "tool_merge": "合并所选",
        "tool_move_edge": "移动共用边界", "save_shape": "保存形状",
        "hint_split":
            "画一条横穿“{name}”的线，从一侧边界外画到另一侧边界外，再次单击最后一点完成。",
        "hint_move_edge":
            "画出“{a}”与“{b}”之间的新边界：从原边界的一端画到另一端，再次单击最后一点完成。",
        "hint_reshape":
            "拖动顶点调整“{name}”的形状，完成后点“保存形状”。"
            "与相邻网格 2 米内的顶点会吸附到相邻网格上。",
        "hint_draw": "画出新网格的边界：依次单击顶点，单击第一个顶点完成。", "new_grid": "新网格",
        "new_grid_code": "编码", "new_grid_name": "名称", "save": "保存",
        "stop_drawing": "取消绘制", "attributes": "网格属性", "code": "编码", "name": "名称",
        "level": "层级", "parent": "上级网格", "zone": "片区", "leader": "网格长",
        "workers": "网格员", "no_leader": "（无）", "area": "面积", "save_attributes": "保存属性",
        "attributes_hint": "选中一个网格后可修改其属性。", "validation": "校验",
        "valid": "校验通过，可以发布", "invalid": "{n} 个错误，不能发布", "errors": "错误",
        "warnings": "提示", "no_findings": "没有发现问题。", "checking": "正在校验…",
        "impact": "影响预览", "no_impact": "与当前边界相比没有变化。", "grid": "网格",
        "change": "变化", "households": "户数",
        "per_worker_title": "每名网格员服务的户数：现在 → 调整后", "cases_title": "在办案件",
        "moving_in": "迁入", "moving_out": "迁出", "per_worker": "户/网格员",
        "before_after": "{a} → {b}", "hh": "户", "res": "人", "ent": "企业", "haz": "隐患",
        "cases": "案件",
        "totals":
            "合计迁移：{households} 户、{residents} 人、{enterprises} 家企业、"
            "{hazards} 处隐患、{open_cases} 件在办案件",
        "reassigned": "将改派的在办案件（{n} 件）", "computing": "正在计算…",
        "change_changed": "已修改", "change_added": "新增", "change_removed": "删除",
        "change_neighbour": "相邻受影响", "publish": "发布", "effective_at": "生效时间（北京时间）",
        "effective_now": "留空或不晚于现在：立即生效",
        "published": "已发布为第 {version} 版，{at} 生效；改派在办案件 {rerouted} 件。",
        "scheduled": "已排期：草稿将于 {at} 生效。",
        "publish_refused": "不能发布：草稿有 {n} 个错误（见下方校验）。", "publishing": "正在发布…",
        "versions": "版本历史", "version_n": "第 {n} 版", "in_force": "现行",
        "scheduled_version": "待生效", "diff_current": "与现行版本对比", "clear_diff": "清除对比",
        "no_versions": "还没有版本。",
        "diff_summary": "第 {a} 版 → 第 {b} 版：新增 {added}，删除 {removed}，修改 {changed}",
        "grids_n": "{n} 个网格", "legend": "图例", "legend_current": "现行边界",
        "legend_draft": "草稿网格", "legend_selected": "已选网格", "legend_changed": "有变化",
        "legend_added": "新增", "legend_neighbour": "相邻受影响", "legend_finding": "校验问题",
        "legend_diff_added": "对比：新增", "legend_diff_removed": "对比：删除",
        "legend_diff_changed": "对比：修改（虚线为原边界）",
        "saved": "已保存（第 {revision} 次修订）。", "working": "正在保存…",
        "stale":
            "草稿已被他人修改（现为第 {revision} 次修订，您编辑的是第 {yours} 次）：{changes}。"
            "已重新载入草稿，请在最新草稿上重做您的修改。",
        "stale_change": "{actor} {op} {codes}", "closed": "草稿已发布或已放弃，不能再修改。",
        "error": "出错了：{message}", "load_error": "载入失败：{message}", "op_create": "创建",
        "op_put": "修改", "op_add": "新增", "op_split": "拆分", "op_merge": "合并",
        "op_move_edge": "移动边界", "op_reshape": "调整形状", "op_discard": "放弃",
        "op_publish": "发布", "state_published": "已发布", "state_discarded": "已放弃", "m2": "平方米",
        "proposal": "自动划分方案", "proposal_hint":
            "按每格户数上下限，沿街道把一个村（社区）的居住用地划成服务网格（max-p 区域化），"
            "结果是一份新草稿，可修改、发布或放弃。",
        "proposal_village": "村（社区）", "proposal_min": "每格最少户数",
        "proposal_max": "每格最多户数", "propose": "生成方案", "proposing": "正在生成方案…",
        "proposal_done": "已生成草稿 #{id}：{n} 个服务网格。",
        "balance_title": "均衡与紧凑度", "balance_grids": "网格数", "balance_min": "最少户数",
        "balance_max": "最多户数", "balance_std": "户数标准差", "balance_pp": "平均紧凑度（Polsby–Popper）",
        "balance_proposal": "方案", "balance_today": "现行",
    },
    "en": {
        "title": "Redraw grids", "back_to_map": "← Back to the map", "map_label": "Draft map",
        "draft": "Draft", "open_drafts": "Open drafts", "no_open_drafts": "No open draft",
        "open": "Open", "new_draft": "New draft", "scope": "Scope", "whole_town": "Whole town",
        "village": "Village", "choose_village": "Choose a village", "revision": "Revision",
        "no_draft": "Choose a village to start a draft, or open an existing one.",
        "draft_of": "Draft #{id} · {scope} · revision {revision}", "created_by": "Created by",
        "discard": "Discard draft", "discard_confirm": "Really discard", "cancel": "Cancel",
        "discarded": "Draft #{id} was discarded.", "tools": "Tools",
        "select_hint": "Click a grid on the map to select it; Shift-click to select more.",
        "selected": "Selected", "none_selected": "No grid selected", "clear_selection": "Clear",
        "tool_draw": "Draw a new grid", "tool_reshape": "Reshape", "tool_split": "Split by a line",
        "tool_merge": "Merge selected", "tool_move_edge": "Move shared edge",
        "save_shape": "Save shape",
        "hint_split": "Draw a line across “{name}”, from outside one edge to outside the "
                      "other; click its last point again to finish.",
        "hint_move_edge":
            "Draw the new edge between “{a}” and “{b}”, from one end of the old edge to the "
            "other; click its last point again to finish.",
        "hint_reshape":
            "Drag the vertices of “{name}”, then press “Save shape”. "
            "Vertices within 2 m of a neighbour snap onto it.",
        "hint_draw": "Draw the new grid: click its vertices, click the first one to finish.",
        "new_grid": "New grid", "new_grid_code": "Code", "new_grid_name": "Name", "save": "Save",
        "stop_drawing": "Stop drawing", "attributes": "Attributes", "code": "Code", "name": "Name",
        "level": "Level", "parent": "Parent grid", "zone": "Zone", "leader": "Grid leader",
        "workers": "Grid workers", "no_leader": "(none)", "area": "Area",
        "save_attributes": "Save attributes",
        "attributes_hint": "Select one grid to change its attributes.", "validation": "Validation",
        "valid": "Valid: it may be published", "invalid": "{n} error(s): it cannot be published",
        "errors": "Errors", "warnings": "Warnings", "no_findings": "Nothing found.",
        "checking": "Checking…", "impact": "Impact",
        "no_impact": "Nothing changes from the current boundaries.", "grid": "Grid",
        "change": "Change", "households": "Households",
        "per_worker_title": "Households per grid worker: now → after", "cases_title": "open cases",
        "moving_in": "In", "moving_out": "Out", "per_worker": "hh/worker",
        "before_after": "{a} → {b}", "hh": "hh", "res": "res.", "ent": "ent.", "haz": "haz.",
        "cases": "cases",
        "totals":
            "Moving in all: {households} households, {residents} residents, "
            "{enterprises} enterprises, {hazards} hazards, {open_cases} open cases",
        "reassigned": "Open cases that would change hands ({n})", "computing": "Computing…",
        "change_changed": "changed", "change_added": "added", "change_removed": "removed",
        "change_neighbour": "neighbour", "publish": "Publish",
        "effective_at": "Effective at (Beijing time)",
        "effective_now": "Empty or not in the future: at once",
        "published":
            "Published as version {version}, in force from {at}; "
            "{rerouted} open case(s) re-routed.",
        "scheduled": "Scheduled: the draft takes effect at {at}.",
        "publish_refused": "Cannot publish: the draft has {n} error(s) (see Validation below).",
        "publishing": "Publishing…", "versions": "Versions", "version_n": "Version {n}",
        "in_force": "in force", "scheduled_version": "scheduled",
        "diff_current": "Compare with current", "clear_diff": "Clear comparison",
        "no_versions": "No version yet.",
        "diff_summary": "Version {a} → {b}: {added} added, {removed} removed, {changed} changed",
        "grids_n": "{n} grids", "legend": "Legend", "legend_current": "Current boundaries",
        "legend_draft": "Draft grids", "legend_selected": "Selected", "legend_changed": "Changed",
        "legend_added": "Added", "legend_neighbour": "Neighbour affected",
        "legend_finding": "Validation finding", "legend_diff_added": "Diff: added",
        "legend_diff_removed": "Diff: removed",
        "legend_diff_changed": "Diff: changed (dashed: before)",
        "saved": "Saved (revision {revision}).", "working": "Saving…",
        "stale":
            "Someone else changed the draft (now revision {revision}, you edited {yours}): "
            "{changes}. The draft was reloaded: make your change again on it.",
        "stale_change": "{actor} {op} {codes}",
        "closed": "The draft was published or discarded: it can no longer be changed.",
        "error": "Error: {message}", "load_error": "Could not load: {message}",
        "op_create": "created", "op_put": "changed", "op_add": "added", "op_split": "split",
        "op_merge": "merged", "op_move_edge": "moved the edge of", "op_reshape": "reshaped",
        "op_discard": "discarded", "op_publish": "published", "state_published": "published",
        "state_discarded": "discarded", "m2": "m²",
        "proposal": "Proposal", "proposal_hint":
            "Split a village's residential land into service grids of a size in households, "
            "along its streets (max-p regions); the result is a new draft to edit, publish or "
            "discard.",
        "proposal_village": "Village", "proposal_min": "Min households per grid",
        "proposal_max": "Max households per grid", "propose": "Propose",
        "proposing": "Making a proposal…", "proposal_done": "Draft #{id} made: {n} service grids.",
        "balance_title": "Balance and compactness", "balance_grids": "Grids",
        "balance_min": "Min households", "balance_max": "Max households",
        "balance_std": "Std. dev. of households", "balance_pp": "Mean compactness (Polsby–Popper)",
        "balance_proposal": "Proposal", "balance_today": "Today",
    },
}


# people.role (migration 0001), as the attribute form names them
PERSON_ROLES: dict[str, dict[str, str]] = {
    "zh": {"grid_leader": "网格长", "grid_worker": "网格员", "auxiliary": "辅助人员",
           "village_cadre": "村干部", "town_cadre": "镇干部", "zone_leader": "片区长"},
    "en": {"grid_leader": "grid leader", "grid_worker": "grid worker", "auxiliary": "auxiliary",
           "village_cadre": "village cadre", "town_cadre": "town cadre",
           "zone_leader": "zone leader"},
}


def _config(lang: str) -> dict[str, Any]:
    """What web/static/js/planner.js needs: addresses, words, level names and styles."""
    return {
        "lang": lang,
        "words": WORDS[lang],
        "levels": i18n.names(lang)["level"],
        "roles": PERSON_ROLES[lang],
        "styles": grid_layers.LEVEL_STYLES,
        "basemap": current_app.config.get("BASEMAP_URL"),
        "basemapAttribution": current_app.config.get("BASEMAP_ATTRIBUTION") or "",
        "urls": {
            "grids": url_for("api.list_grids"), "drafts": "/api/v1/drafts",
            "versions": "/api/v1/versions", "people": "/planner/drafts/{id}/people",
            "casePage": "/cases/",
        },
    }


@allow(*PLANNER_ROLES)
@bp.get("/planner")
def planner_page():
    """The page; the draft to open comes in ``?draft=ID`` (the script reads it)."""
    lang = i18n.language()
    words = {**i18n.words(lang), **WORDS[lang]}
    html = render_template("planner.html", lang=lang, t=words, names=i18n.names(lang),
                           title=words["title"], config=_config(lang), status_colors={})
    return i18n.remember(make_response(html))


@allow(*PLANNER_ROLES)
@bp.get("/planner/drafts/<int:draft_id>/people")
def draft_people(draft_id: int):
    """The people the attribute form offers for the draft's grids (planning/people.py)."""
    session = database.session()
    town = auth.current_actor().town_code
    if town is not None and drafts.draft_summary(session, draft_id)["town_code"] != town:
        raise DraftNotFound(f"there is no draft {draft_id}", {"draft": draft_id})
    return jsonify({"draft": draft_id, "people": people.draft_people(session, draft_id)})
