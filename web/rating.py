"""``/rate/<token>``: the resident's rating page (一事一评), and the case page's rating-link
block for operators.

The rating page needs no account (``@allow(PUBLIC)``): the token in the path is the
credential (cases/rating_links.py). It is made for a phone, Chinese first, and shows the case
without personal data (cases/rating.py ``rating_view``). Its form is protected as an anonymous
form can be: the page sets a random form nonce in a cookie (``SameSite=Strict``, HttpOnly,
path limited to this link) and in a hidden field; a post whose field and cookie differ, or
whose ``Origin`` is another site, is refused (403 ``rating_form_refused``). A page of another
site can neither send the cookie nor read the field, and none may frame this page
(``frame-ancestors 'none'``). The token is never logged, and ``Referrer-Policy: no-referrer``
keeps it out of other sites' logs.

Operators in the case's scope see the case's links on the case page (``_rating_link.html``)
and may make a new link there to send to the reporter by hand: there is no SMS gateway.
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Flask, g, make_response, render_template, request

from accounts import access
from accounts.access import PUBLIC, allow
from cases import rating as rating_service
from cases import rating_links
from cases.deadlines import LOCAL_TZ
from cases.errors import CaseError, CaseNotFound, RatingError, RatingFormRefused
from cases.workflow import MAX_NOTE, RATINGS
from web import auth, database, errors, i18n

bp = Blueprint("rating", __name__)

NONCE_COOKIE = "gridgov_rate_nonce"
NONCE_FIELD = "nonce"
# who may see and make a case's rating links: the centers' operators and the administrator
LINK_ROLES = ("town_operator", "village_operator", "grid_leader", "admin")
HEADERS = {
    "Content-Security-Policy": "frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

WORDS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "办理结果评价", "intro": "您反映的问题已办结，请对办理结果作出评价。",
        "category": "类别", "village": "村（社区）", "what_was_done": "办理结果",
        "reported": "反映时间", "closed": "办结时间", "your_rating": "您的评价",
        "comment": "意见或建议（选填，最多 {max} 字）", "submit": "提交评价",
        "thanks": "感谢您的评价！", "reopened":
            "您选择了“不满意”：案件已退回重新办理，并已对办理单位督办。",
        "recorded": "您的评价已记录，将计入网格员和村（社区）的考核。",
        "expires": "链接有效期至 {day}，只能使用一次。", "privacy": "本页不显示任何个人信息。",
        "error_title": "无法评价", "none": "—",
        "link_title": "群众评价链接（一事一评）", "link_hint":
            "发送给报告人：复制下面的链接，通过短信或微信发给报告人。"
            "本系统没有短信网关，需要手工发送。",
        "link_new": "生成新的评价链接", "link_copy": "复制链接", "link_copied": "已复制",
        "link_once": "此链接只在此处显示一次，请现在复制。",
        "link_none_phone": "报告人没有留下电话：请由村便民服务中心现场核查后，"
                           "在上方“评价”操作中代为评价。",
        "link_made": "生成", "link_expires": "有效至", "link_used": "已使用",
        "link_unused": "未使用", "link_rating": "评价",
        "link_not_closed": "案件结案后才能生成评价链接。",
    },
    "en": {
        "title": "Rate how your report was handled", "intro":
            "The matter you reported has been closed. Please rate the result.",
        "category": "Category", "village": "Village", "what_was_done": "What was done",
        "reported": "Reported", "closed": "Closed", "your_rating": "Your rating",
        "comment": "Comments (optional, at most {max} characters)", "submit": "Send rating",
        "thanks": "Thank you for your rating!", "reopened":
            "You chose “Dissatisfied”: the case goes back to be handled again, under supervision.",
        "recorded": "Your rating is recorded and counts in the grid worker's and the village's "
                    "assessment.",
        "expires": "This link is valid until {day} and works once.",
        "privacy": "This page shows no personal data.", "error_title": "Cannot rate",
        "none": "—",
        "link_title": "Resident's rating link", "link_hint":
            "Send it to the reporter: copy the link and send it by SMS or WeChat. "
            "There is no SMS gateway: it is sent by hand.",
        "link_new": "Make a new rating link", "link_copy": "Copy link", "link_copied": "Copied",
        "link_once": "This link is shown here once: copy it now.",
        "link_none_phone": "The reporter left no phone: the village center rates the case on "
                           "site through the “Evaluate” action above.",
        "link_made": "Made", "link_expires": "Valid until", "link_used": "Used",
        "link_unused": "Not used", "link_rating": "Rating",
        "link_not_closed": "A rating link can be made once the case is closed.",
    },
}


def _words(lang: str) -> dict[str, str]:
    return {**i18n.words(lang), **WORDS[lang]}


def _render(status: int, nonce: str | None = None, **context: Any):
    lang = i18n.language()
    words = _words(lang)
    html = render_template(
        "rate.html", lang=lang, t=words, names=i18n.names(lang), title=words["title"],
        levels=list(RATINGS.items()), max_comment=MAX_NOTE, nonce=nonce, **context)
    response = make_response(html, status)
    response.headers.update(HEADERS)
    return i18n.remember(response)


def _refused(exc: CaseError):
    status, code = errors.status_for(type(exc))
    return _render(status, error=exc.message, error_code=code)


@bp.get("/rate/<token>")
@allow(PUBLIC)
def rate_page(token: str):
    """The case and the form: four levels and a comment."""
    try:
        case = rating_service.rating_view(database.session(), token)
    except RatingError as exc:
        return _refused(exc)
    nonce = secrets.token_urlsafe(24)
    response = _render(200, nonce=nonce, case=case, token=token)
    response.set_cookie(NONCE_COOKIE, nonce, httponly=True, samesite="Strict",
                        path=rating_links.PATH + token, secure=request.is_secure)
    return response


def _check_form() -> None:
    origin = request.headers.get("Origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.host:
        raise RatingFormRefused("评价表单来自其他网站，已拒绝。 (The form came from another site.)",
                                {"origin": origin})
    sent = request.form.get(NONCE_FIELD, "")
    kept = request.cookies.get(NONCE_COOKIE, "")
    if not sent or not kept or not hmac.compare_digest(sent.encode(), kept.encode()):
        raise RatingFormRefused("表单已失效，请重新打开评价链接后再提交。"
                                " (The form is stale or not from this page: open the link again.)")


@bp.post("/rate/<token>")
@allow(PUBLIC)
def rate_submit(token: str):
    """Apply the rating (cases/rating.py); the page says what it did."""
    session = database.session()
    try:
        rating_service.rating_view(session, token)  # a used, expired or unknown link first
        _check_form()
        done = rating_service.rate(session, token, request.form.get("rating", ""),
                                   request.form.get("comment") or None)
        session.commit()
    except CaseError as exc:
        session.rollback()
        return _refused(exc)
    response = _render(200, done=done)
    response.delete_cookie(NONCE_COOKIE, path=rating_links.PATH + token)
    return response


@bp.post("/cases/<int:case_id>/rating-link")
@allow(*LINK_ROLES)
def new_rating_link(case_id: int):
    """A new rating link for a closed case with a reporter's phone; the case page shows it
    once."""
    from web import pages

    session = database.session()
    actor = auth.current_actor()  # a cookie-authenticated form: CSRF checked here
    try:
        access.check_case(session, actor, case_id)
    except CaseNotFound:
        return pages.case_page(str(case_id))
    case = rating_links.case_for_link(session, case_id)
    if case["status"] == "closed" and rating_links.reachable(case["reporter_phone"]):
        g.gridgov_new_rating_link = rating_links.issue_link(
            session, case_id, case["town_code"], rating_service._now(None),
            account_id=actor.account_id)
        session.commit()
    return pages.case_page(str(case_id))


def _block(case: dict[str, Any]) -> dict[str, Any] | None:
    """The case page's rating-link block for the signed-in operator; None for anyone else."""
    found = auth.signed_in()
    if found is None or found.actor.role not in LINK_ROLES:
        return None
    if not access.case_in_scope(found.actor, case):
        return None
    lang = i18n.language()
    session = database.session()
    return {
        "t": WORDS[lang],
        "closed": case.get("status") == "closed",
        "reachable": rating_links.reachable((case.get("reporter") or {}).get("phone")),
        # in the town's time, as every other time on the page
        "links": [{**link, **{k: link[k].astimezone(LOCAL_TZ) for k in ("created_at", "expires_at",
                                                                       "used_at") if link.get(k)}}
                  for link in rating_links.links_of_case(session, case["id"])],
        "new": g.get("gridgov_new_rating_link"),
        "base": request.host_url.rstrip("/"),
        "csrf_token": found.csrf_token,
    }


_TOKEN_IN_PATH = re.compile(r"(/rate/)[A-Za-z0-9_-]+")


class TokenFilter(logging.Filter):
    """Masks rating tokens in request lines (the development server's access log; ``gridgov
    serve`` keeps no access log)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_TOKEN_IN_PATH.sub(r"\1***", a) if isinstance(a, str) else a
                                for a in record.args)
        if isinstance(record.msg, str):
            record.msg = _TOKEN_IN_PATH.sub(r"\1***", record.msg)
        return True


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    werkzeug_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, TokenFilter) for f in werkzeug_log.filters):
        werkzeug_log.addFilter(TokenFilter())
    app.jinja_env.globals["rating_link_block"] = _block
