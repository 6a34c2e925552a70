"""``/scores``: the scores page for leaders (tables and the formulas), from cases/scores.py;
the same numbers as ``GET /api/v1/stats/workers|villages``, in the viewer's scope."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, make_response, render_template, request

from accounts.access import allow
from cases import scores
from cases.errors import ScoresWindowError
from web import database, i18n
from web.api.scores import SCORE_ROLES, scope_of_caller
from web.database import replica_reads

bp = Blueprint("scores", __name__)
MAX_PARTY_ROWS = 30

WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "考核评分", "from": "从", "until": "至", "show": "查询",
        "villages": "村（社区）星级评定（网格长）", "workers": "网格员得分",
        "party": "党员积分（前 {n} 名）", "formulas": "计算公式", "village": "村（社区）",
        "secretary": "网格长", "name": "姓名", "handled": "办结", "on_time": "按时",
        "on_time_rate": "按时率", "yellow": "黄牌", "red": "红牌", "rated": "评价数",
        "satisfied_share": "满意率", "score": "得分", "index": "指数", "stars": "星级",
        "points": "积分", "party_member": "党员", "csv": "导出 CSV", "empty": "这段时间没有记录。",
        "bad_window": "日期有误", "window": "统计期间：{since} 至 {until}",
    },
    "en": {
        "title": "Scores", "from": "From", "until": "until", "show": "Show",
        "villages": "Villages' star ratings (grid leaders)", "workers": "Grid workers' scores",
        "party": "Party members' points (top {n})", "formulas": "Formulas",
        "village": "Village", "secretary": "Grid leader", "name": "Name", "handled": "Handled",
        "on_time": "On time", "on_time_rate": "On-time rate", "yellow": "Yellow",
        "red": "Red", "rated": "Ratings", "satisfied_share": "Satisfied", "score": "Score",
        "index": "Index", "stars": "Stars", "points": "Points", "party_member": "Party member",
        "csv": "Export CSV", "empty": "Nothing in this period.", "bad_window": "Bad dates",
        "window": "Period: {since} to {until}",
    },
}


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


@replica_reads
@bp.get("/scores")
@allow(*SCORE_ROLES)
def scores_page():
    """Villages' stars, grid workers' scores, party members' points, and the formulas."""
    lang = i18n.language()
    words = {**i18n.words(lang), **WORDS[lang]}
    error = None
    status = 200
    villages, workers = [], []
    since_s, until_s = request.args.get("from", ""), request.args.get("until", "")
    win = None
    try:
        win = scores.window(_day(since_s), _day(until_s))
        scope = scope_of_caller()
        session = database.session()
        villages = scores.scores(session, "villages", scope, win)
        workers = scores.scores(session, "workers", scope, win)
    except (ValueError, ScoresWindowError) as exc:
        error, status = getattr(exc, "message", None) or str(exc), 422
    party = sorted((w for w in workers if w["party_member"]),
                   key=lambda w: (-w["party_points"], w["person_id"]))[:MAX_PARTY_ROWS]
    html = render_template(
        "scores.html", lang=lang, t=words, names=i18n.names(lang), title=words["title"],
        villages=villages, workers=workers, party=party, formulas=scores.formulas(),
        error=error, since=since_s, until=until_s, max_party=MAX_PARTY_ROWS,
        period=words["window"].format(since=win.since.date(), until=win.until.date())
        if win else "", status_colors={})
    return i18n.remember(make_response(html, status))
