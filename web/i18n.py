"""The interface's words in Simplified Chinese (the default) and English.

The language of a request: ``?lang=zh|en`` (which also sets the ``gridgov_lang`` cookie, so
the choice sticks), else the cookie, else the app's ``LANGUAGE`` (default ``zh``). The map
layers keep their own words next to their styles (geo/layers/); everything else a page shows
is here, and the part the browser needs goes to the page as JSON (:func:`js_words`).
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from werkzeug.exceptions import BadRequest

from cases.workflow import ACTIONS

LANGUAGES = ("zh", "en")
COOKIE = "gridgov_lang"
COOKIE_MAX_AGE_S = 365 * 24 * 3600

STATUS: dict[str, dict[str, str]] = {
    "zh": {
        "collected": "信息收集", "filed": "已立案", "dispatched": "已派遣", "handling": "处置中",
        "escalated": "已上报", "fed_back": "已反馈待核查", "closed": "已结案",
        "evaluated": "已评价", "returned": "已回退", "parked": "挂账", "voided": "已作废",
    },
    "en": {
        "collected": "Collected", "filed": "Filed", "dispatched": "Dispatched",
        "handling": "Being handled", "escalated": "Escalated", "fed_back": "Reported back",
        "closed": "Closed", "evaluated": "Evaluated", "returned": "Returned", "parked": "Parked",
        "voided": "Voided",
    },
}
CHANNEL: dict[str, dict[str, str]] = {
    "zh": {"patrol": "网格员巡查", "resident": "群众上报", "hotline": "热线电话", "app": "手机应用",
           "sensor": "感知设备", "referral": "部门转办"},
    "en": {"patrol": "Grid worker patrol", "resident": "Resident", "hotline": "Hotline",
           "app": "Mobile app", "sensor": "Sensor", "referral": "Referral"},
}
SATISFACTION: dict[str, dict[str, str]] = {
    "zh": {"very_satisfied": "非常满意", "satisfied": "满意", "basically_satisfied": "基本满意",
           "dissatisfied": "不满意"},
    "en": {"very_satisfied": "Very satisfied", "satisfied": "Satisfied",
           "basically_satisfied": "Fairly satisfied", "dissatisfied": "Dissatisfied"},
}
LEVEL: dict[str, dict[str, str]] = {
    "zh": {"admin": "行政网格", "regional": "区域网格", "service": "服务网格"},
    "en": {"admin": "Administrative grid", "regional": "Regional grid", "service": "Service grid"},
}
POST: dict[str, dict[str, str]] = {
    "zh": {"leader": "网格长", "worker": "网格员", "liaison": "包村干部", "auxiliary": "辅助人员"},
    "en": {"leader": "Grid leader", "worker": "Grid worker", "liaison": "Town liaison",
           "auxiliary": "Auxiliary"},
}
ROLE: dict[str, dict[str, str]] = {
    "zh": {"town_operator": "镇指挥中心操作员", "town_leader": "镇领导",
           "village_operator": "村便民服务中心操作员", "grid_leader": "网格长", "grid_worker": "网格员",
           "auxiliary": "辅助人员", "department_handler": "职能部门办理人", "planner": "网格规划员",
           "admin": "系统管理员"},
    "en": {"town_operator": "Town operator", "town_leader": "Town leader",
           "village_operator": "Village operator", "grid_leader": "Grid leader",
           "grid_worker": "Grid worker", "auxiliary": "Auxiliary",
           "department_handler": "Department handler", "planner": "Planner",
           "admin": "Administrator"},
}
UNIT: dict[str, dict[str, str]] = {
    "zh": {"urgent_hours": "小时（连续计）", "working_hours": "个工作小时", "working_days": "个工作日",
           "calendar_days": "个自然日"},
    "en": {"urgent_hours": "hours (continuous)", "working_hours": "working hours",
           "working_days": "working days", "calendar_days": "calendar days"},
}
QUEUE: dict[str, dict[str, str]] = {
    "zh": {"grid": "网格（网格员处置）", "village": "村级党群服务中心", "town": "镇级指挥中心",
           "department": "职能部门"},
    "en": {"grid": "The grid (its grid worker)", "village": "The village center",
           "town": "The town center", "department": "A town department"},
}
PRECISION: dict[str, dict[str, str]] = {
    "zh": {"point": "坐标", "door": "门牌", "street": "街巷", "village": "村", "town": "镇"},
    "en": {"point": "coordinates", "door": "door number", "street": "street", "village": "village",
           "town": "town"},
}

# Case event types (case_events.type); a type not listed shows as it is stored.
EVENT: dict[str, dict[str, str]] = {
    "zh": {"created": "上报立案", "reassigned": "改派", "transition": "状态变更", "imported": "导入",
           "evaluated": "评价", "comment": "备注", "merged_in": "合并来件",
           "card": "督办亮牌", "deadline": "时限提醒",
           # the workflow's actions, by their names in cases/workflow.py
           **{name: action.zh for name, action in ACTIONS.items()}},
    "en": {"created": "Reported", "reassigned": "Reassigned", "transition": "State changed",
           "imported": "Imported", "evaluated": "Evaluated", "comment": "Note",
           "merged_in": "Duplicate merged in", "file": "Filed", "void": "Voided",
           "merge": "Merged into another case", "dispatch": "Dispatched", "accept": "Accepted",
           "escalate": "Escalated", "return": "Returned", "feed_back": "Reported back",
           "close": "Closed", "evaluate": "Rated", "reopen": "Reopened",
           "request_extension": "Extension requested", "approve_extension": "Extension approved",
           "refuse_extension": "Extension refused", "park": "Parked", "resume": "Resumed",
           "supervise": "Supervised", "note": "Note added", "card": "Supervision card", "deadline": "Deadline reminder"},
}
# The supervision pass's signals (cases/supervision.py) and the clocks they are on.
CARD: dict[str, dict[str, str]] = {
    "zh": {"due_soon": "即将超期", "overdue": "已超期", "yellow": "黄牌", "red": "红牌"},
    "en": {"due_soon": "Due soon", "overdue": "Overdue", "yellow": "Yellow card", "red": "Red card"},
}
CLOCK: dict[str, dict[str, str]] = {
    "zh": {"dispatch": "立案派遣", "accept": "受理", "handle": "处置", "check": "核查结案",
           "reopen": "居民不满意重办"},
    "en": {"dispatch": "Dispatch", "accept": "Acceptance", "handle": "Handling",
           "check": "On-site check", "reopen": "Reopened after a dissatisfied rating"},
}

WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "html_lang": "zh-CN", "title": "{town}网格化治理指挥中心", "empty_title": "网格地图",
        "login_title": "登录", "account_name": "账号", "password": "密码", "sign_in": "登录",
        "sign_out": "退出", "login_failed": "账号或密码错误，请重新输入。",
        "login_locked": "密码连续输错次数过多，账号已临时锁定，请 {minutes} 分钟后再试。",
        "too_many_requests": "请求过于频繁，请 {seconds} 秒后再试。",
        "nul_title": "无法提交", "nul_message": "“{field}”中含有空字符（U+0000），请删除后重新提交。",
        "forbidden_title": "无权访问", "forbidden_message": "您的账号无权查看此页面或此案件。",
        "unavailable_title": "服务暂时不可用",
        "unavailable_message": "数据库暂时无法连接，请 {seconds} 秒后刷新本页再试。您刚才的操作没有保存。",
        "reload": "刷新", "storage_full_title": "存储空间已满",
        "storage_full_message": "服务器存储空间已满，您刚才提交的内容（含照片）没有保存。请稍后再试，或不带照片提交。",
        "legend": "图例", "basemap": "底图", "count_unit": "个", "lang_zh": "中文",
        "lang_en": "English", "live": "实时", "live_lost": "连接中断，正在重连…",
        "today": "今日概况", "new": "今日新增", "open": "未结", "overdue": "超期",
        "closed_today": "今日结案", "satisfaction": "满意率",
        "satisfaction_note": "近{days}天 {n} 条评价（非常满意+满意+基本满意）",
        "no_ratings": "近{days}天暂无评价",
        "filters": "案件筛选", "category": "类别", "all_categories": "全部类别", "state": "状态",
        "state_open": "全部未结", "state_overdue_hint": "红圈为超期", "state_all": "全部（含已结）",
        "channel": "来源", "all_channels": "全部来源", "window": "时间", "window_all": "不限",
        "window_today": "今天", "window_7": "近7天", "window_30": "近30天", "window_90": "近90天",
        "window_365": "近一年", "colour_by": "网格着色", "choro_none": "按网格层级",
        "choro_open": "未结案件数", "choro_overdue": "超期案件数",
        "choro_households_per_worker": "每名在岗网格员户数",
        "choro_cases_per_1000": "每千人案件数", "choro_window_note": "（所选时间，默认近30天）",
        "no_value": "无数据",
        "grid": "网格", "code": "编码", "name": "名称", "level": "层级", "village": "所属村",
        "zone": "片区", "people": "人员", "on_duty": "在岗", "off_duty": "不在岗",
        "households": "户数", "residents": "常住人口", "cases_window": "所选时间内新增",
        "cases_30_days": "近30天新增",
        "households_per_worker": "每名在岗网格员户数", "cases_per_1000": "每千人案件数",
        "workers_on_duty": "在岗网格员", "no_worker_on_duty": "该网格当前无在岗网格员",
        "view_cases": "查看该网格的案件", "close": "关闭", "more_people": "另有{n}人",
        "latest": "最新动态", "latest_empty": "等待新的案件…", "op_insert": "新案件",
        "op_update": "状态更新", "method": "方法说明（热点分析）",
        "method_params": "当前参数：格子边长 {cell} 米，置换 {perm} 次，类别：{category}，时间：{window}。",
        "hotspot_loading": "正在计算热点…", "hotspot_error": "热点计算失败：",
        "hotspot_summary": "{cases} 件案件；热点格 {hot} 个，冷点格 {cold} 个",
        "case": "案件", "status": "状态", "created": "上报时间", "due": "办结时限",
        "assignee": "处置人", "unassigned": "未指派", "open_case": "查看案件详情 →",
        "loading": "加载中…", "load_error": "加载失败",
        "load_retrying": "数据加载失败，正在重试…", "cluster_zoom": "{n} 件案件，点击放大",
        "boundaries_changed": "网格边界已发布新版本（第 {version} 版），案件已重新分派；刷新页面以显示新的网格边界。",
        "reload_page": "刷新页面",
        "legend_grids": "网格", "legend_cases": "案件", "legend_hotspots": "热点分析",
        "legend_choropleth": "着色",
        "details": "基本信息", "description": "描述", "address": "地址", "reporter": "上报人",
        "reveal_contact": "查看完整联系方式", "reveal_reason": "查阅原因",
        "reveal_hint": "上报人的姓名、电话和描述中的号码已脱敏。查看完整信息须填写原因，本次查阅将记入审计日志（查阅人、时间、地址、原因）。",
        "reveal_placeholder": "例如：电话回访，核实诉求", "reveal_submit": "填写原因并查看",
        "revealed_note": "已显示完整信息。本次查阅已记入审计日志（第 {id} 条，原因：{reason}）。",
        "reveal_bad_reason": "请填写查阅原因（{min}–{max} 个字）。",
        "occurred": "发生时间", "updated": "最后更新", "closed_at": "结案时间", "photos": "照片",
        "no_photos": "没有照片", "location": "位置", "routing": "分派决定",
        "queue": "去向", "routing_reason": "分派理由", "geocode": "定位", "geocode_score": "匹配度",
        "on_boundary": "位于网格边界上（按固定规则归属）", "assignment_reason": "指派理由",
        "deadlines": "时限", "dispatch_due": "立案派遣时限", "time_limit": "类别时限",
        "overdue_badge": "已超期", "history": "处理记录", "event_at": "时间", "event": "事件",
        "actor": "操作人", "back_to_map": "← 返回地图", "not_found_title": "未找到",
        "case_not_found": "没有编号为 {id} 的案件。", "grid_not_found": "没有编码为 {code} 的网格。",
        "grid_cases_title": "{name}（{code}）的案件", "only_open": "只看未结",
        "show_all": "显示全部", "older": "更早的案件 →", "no_cases": "没有案件",
        "satisfaction_rating": "评价", "no_events": "没有记录", "cards": "督办",
        "no_cards": "没有督办提醒", "card_signal": "提醒", "card_clock": "环节",
        "card_moment": "时点", "card_issued": "发出时间",
        "supporters": "同样反映", "supporters_n": "+{n} 人", "probable_duplicate": "疑似重复",
        "probable_duplicate_of": "与案件 #{id} 相距 50 米、24 小时内，同一类别", "bad_language": "不支持的语言",
        "bad_language_text": "不支持语言“{lang}”。本系统提供中文（lang=zh）和英文（lang=en）：",
        "empty_heading": "还没有网格数据",
        "empty_text": "数据库里还没有镇的边界。请先载入演示数据，或导入本镇的网格边界：",
        "empty_demo": "载入巴公镇演示数据",
        "empty_import": "导入边界（先试运行，确认后加 --commit）", "empty_after": "完成后刷新本页。",
        "actions_panel": "可办理操作", "notifications": "通知", "no_notifications": "没有通知",
        "unread_n": "{n} 条未读",
    },
    "en": {
        "html_lang": "en", "title": "{town} grid command center", "empty_title": "Grid map",
        "login_title": "Sign in", "account_name": "Account", "password": "Password",
        "sign_in": "Sign in", "sign_out": "Sign out",
        "login_failed": "The account name or the password is wrong; please try again.",
        "login_locked": "Too many wrong passwords in a row: the account is locked; try again in {minutes} minutes.",
        "too_many_requests": "Too many requests; try again in {seconds} seconds.",
        "nul_title": "Cannot be sent",
        "nul_message": "“{field}” holds a NUL character (U+0000); remove it and send again.",
        "forbidden_title": "Not allowed",
        "unavailable_title": "Service unavailable",
        "unavailable_message": "The database cannot be reached at the moment; reload this page in {seconds} seconds. What you just did was not saved.",
        "reload": "Reload", "storage_full_title": "Storage full",
        "storage_full_message": "The server's storage is full: what you just sent (photos included) was not saved. Try again later, or without photos.",
        "forbidden_message": "Your account may not see this page or this case.",
        "legend": "Legend", "basemap": "Basemap", "count_unit": "", "lang_zh": "中文",
        "lang_en": "English", "live": "Live", "live_lost": "Connection lost, reconnecting…",
        "today": "Today", "new": "New today", "open": "Open", "overdue": "Overdue",
        "closed_today": "Closed today", "satisfaction": "Satisfaction",
        "satisfaction_note": "{n} ratings in {days} days (very, plain or fairly satisfied)",
        "no_ratings": "No ratings in the last {days} days",
        "filters": "Filter cases", "category": "Category", "all_categories": "All categories",
        "state": "State", "state_open": "All open", "state_overdue_hint": "red ring: overdue",
        "state_all": "All, closed too", "channel": "Channel", "all_channels": "All channels",
        "window": "Time window", "window_all": "Any time", "window_today": "Today",
        "window_7": "Last 7 days", "window_30": "Last 30 days", "window_90": "Last 90 days",
        "window_365": "Last year", "colour_by": "Colour grids by", "choro_none": "Grid level",
        "choro_open": "Open cases", "choro_overdue": "Overdue cases",
        "choro_households_per_worker": "Households per on-duty grid worker",
        "choro_cases_per_1000": "Cases per 1,000 residents",
        "choro_window_note": " (time window; last 30 days by default)", "no_value": "No data",
        "grid": "Grid", "code": "Code", "name": "Name", "level": "Level", "village": "Village",
        "zone": "Zone", "people": "People", "on_duty": "on duty", "off_duty": "off duty",
        "households": "Households", "residents": "Residents", "cases_window": "New in the time window",
        "cases_30_days": "New in the last 30 days",
        "households_per_worker": "Households per on-duty grid worker",
        "cases_per_1000": "Cases per 1,000 residents", "workers_on_duty": "Grid workers on duty",
        "no_worker_on_duty": "No grid worker is on duty in this grid",
        "view_cases": "This grid's cases", "close": "Close", "more_people": "and {n} more",
        "latest": "Latest", "latest_empty": "Waiting for new cases…", "op_insert": "New case",
        "op_update": "Updated", "method": "Method (hot spot analysis)",
        "method_params": "Now: cells of {cell} m, {perm} permutations, category: {category}, "
                         "time window: {window}.",
        "hotspot_loading": "Computing hot spots…", "hotspot_error": "Hot spots failed: ",
        "hotspot_summary": "{cases} cases; {hot} hot cells, {cold} cold cells",
        "case": "Case", "status": "State", "created": "Reported", "due": "Due",
        "assignee": "Assignee", "unassigned": "not assigned", "open_case": "Open the case →",
        "loading": "Loading…", "load_error": "Could not load",
        "load_retrying": "Could not load data, retrying…", "cluster_zoom": "{n} cases, click to zoom in",
        "boundaries_changed": "New grid boundaries were published (version {version}) and the cases re-routed; reload the page to see the new outlines.",
        "reload_page": "Reload",
        "legend_grids": "Grids", "legend_cases": "Cases", "legend_hotspots": "Hot spots",
        "legend_choropleth": "Colouring",
        "details": "Details", "description": "Description", "address": "Address",
        "reporter": "Reporter", "occurred": "Occurred", "updated": "Last updated",
        "reveal_contact": "Show the full contact", "reveal_reason": "Reason for access",
        "reveal_hint": "The reporter's name and phone, and numbers in the description, are masked. To see them in full, give a reason: the read is written to the audit log (who, when, from where, why).",
        "reveal_placeholder": "e.g. calling back to verify the report", "reveal_submit": "Give the reason and show",
        "revealed_note": "Shown in full. This read is audit log entry {id} (reason: {reason}).",
        "reveal_bad_reason": "Give a reason for access ({min}–{max} characters).",
        "closed_at": "Closed", "photos": "Photos", "no_photos": "No photos", "location": "Location",
        "routing": "Routing decision", "queue": "Sent to", "routing_reason": "Why",
        "geocode": "Position from", "geocode_score": "match score",
        "on_boundary": "On a grid boundary (given to one grid by the fixed rule)",
        "assignment_reason": "Why this person", "deadlines": "Deadlines",
        "dispatch_due": "File and dispatch by", "time_limit": "Category time limit",
        "overdue_badge": "Overdue", "history": "History", "event_at": "When", "event": "Event",
        "actor": "By", "back_to_map": "← Back to the map", "not_found_title": "Not found",
        "case_not_found": "There is no case {id}.", "grid_not_found": "There is no grid {code}.",
        "grid_cases_title": "Cases of {name} ({code})", "only_open": "Open only",
        "show_all": "Show all", "older": "Older cases →", "no_cases": "No cases",
        "satisfaction_rating": "Rating", "no_events": "No events", "cards": "Supervision",
        "no_cards": "No deadline signals", "card_signal": "Signal", "card_clock": "Step",
        "card_moment": "Moment", "card_issued": "Issued",
        "supporters": "Reported too by", "supporters_n": "+{n}", "probable_duplicate": "Probable duplicate",
        "probable_duplicate_of": "same category as case #{id}, within 50 m and 24 h", "bad_language": "Unsupported language",
        "bad_language_text": "There is no language “{lang}”. The pages are in Chinese (lang=zh) "
                             "and English (lang=en):",
        "empty_heading": "No grids yet",
        "empty_text": "The database has no town boundary yet. Load the demo, or import your town's grids:",
        "empty_demo": "load the Bagong demo",
        "empty_import": "import boundaries (a dry run; add --commit when it looks right)",
        "empty_after": "Then reload this page.",
        "actions_panel": "Actions you may take", "notifications": "Notifications",
        "no_notifications": "No notifications", "unread_n": "{n} unread",
    },
}

# The words the browser's script uses (web/static/js/operator.js).
JS_KEYS = (
    "live", "live_lost", "satisfaction_note", "no_ratings", "code", "name", "level", "village",
    "zone", "people", "on_duty", "off_duty", "households", "residents", "open", "overdue",
    "cases_window", "cases_30_days", "households_per_worker", "cases_per_1000", "no_worker_on_duty", "view_cases",
    "close", "more_people", "latest_empty", "op_insert", "op_update", "method_params",
    "hotspot_loading", "hotspot_error", "hotspot_summary", "case", "status", "created", "due",
    "assignee", "unassigned", "open_case", "loading", "load_error", "cluster_zoom", "no_value",
    "category", "all_categories", "window_all", "window_today", "window_7", "window_30",
    "window_90", "window_365", "overdue_badge", "workers_on_duty", "grid", "boundaries_changed",
)


class UnknownLanguage(BadRequest):
    """A language we do not have: 400; a page answers it with a page (web/pages.py)."""

    def __init__(self, lang: str):
        super().__init__(f"`lang` was {lang!r} but is expected to be one of {list(LANGUAGES)}")
        self.lang = lang


def check(lang: str) -> str:
    """``lang`` if it is a language we have; 400 naming the valid ones otherwise."""
    if lang not in LANGUAGES:
        raise UnknownLanguage(lang)
    return lang


def language() -> str:
    """The language of the current request (see the module docstring)."""
    asked = request.args.get("lang")
    if asked is not None:
        return check(asked)
    cookie = request.cookies.get(COOKIE)
    if cookie in LANGUAGES:
        return cookie
    return check(current_app.config.get("LANGUAGE") or "zh")


def remember(response: Any) -> Any:
    """Set the language cookie on ``response`` when the request chose one with ``?lang=``."""
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        response.set_cookie(COOKIE, asked, max_age=COOKIE_MAX_AGE_S, samesite="Lax", httponly=True)
    return response


def words(lang: str) -> dict[str, str]:
    """Every page word in ``lang``."""
    return WORDS[check(lang)]


def names(lang: str) -> dict[str, dict[str, str]]:
    """The names of states, channels, ratings, levels, posts, units, queues, precisions,
    events, deadline signals and clocks."""
    check(lang)
    return {
        "status": STATUS[lang], "channel": CHANNEL[lang], "satisfaction": SATISFACTION[lang],
        "level": LEVEL[lang], "post": POST[lang], "unit": UNIT[lang], "queue": QUEUE[lang],
        "precision": PRECISION[lang], "event": EVENT[lang], "card": CARD[lang],
        "clock": CLOCK[lang], "role": ROLE[lang],
    }


def js_words(lang: str) -> dict[str, Any]:
    """What the operator page's script needs: its words and the names above."""
    all_words = words(lang)
    return {"words": {k: all_words[k] for k in JS_KEYS}, **names(lang)}
