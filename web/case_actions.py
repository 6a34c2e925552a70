"""What the case page's "可办理操作" panel (web/static/js/case.js) needs besides the actions
themselves, which it fetches from ``GET /api/v1/cases/{id}/transitions``: where to send them,
the choices a form offers (the village's people on duty, the town's departments, the void
reasons, the ratings) and its words in the page's language."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from accounts.actor import Actor
from cases import repository
from cases.departments import departments
from cases.workflow import MAX_EXTENSION_DAYS, MAX_NOTE, RATINGS, VOID_REASONS, actor_level
from web import i18n

WORDS: dict[str, dict[str, Any]] = {
    "zh": {
        "required": "必填", "note": "说明", "reason": "原因", "person": "处置人",
        "department": "职能部门", "people_group": "本村在岗人员", "choose": "请选择",
        "void_reason": "作废原因", "resume_date": "恢复日期", "rating": "评价",
        "extension_days": "延期工作日数", "original_case": "原案件编号", "submit": "提交",
        "cancel": "取消", "sending": "正在提交…", "done": "已办理，正在刷新…",
        "stale": "案件已被他人更新，正在刷新…", "no_actions": "当前没有您可办理的操作",
        "load_error": "可办理操作加载失败", "failed": "操作失败",
        "void_reasons": {"duplicate": "重复上报", "invalid": "无效上报"},
        "errors": {
            "reason_required": "请填写原因", "note_too_long": f"说明不能超过 {MAX_NOTE} 字",
            "invalid_target": "所填内容无效，请检查", "person_off_duty": "该人员不在岗",
            "transition_not_allowed": "案件当前状态不能办理此操作",
            "outside_scope": "您无权对此案件办理此操作", "out_of_scope": "此案件不在您的管辖范围内",
            "forbidden": "您的账号无权办理此操作", "case_voided": "案件已作废，不能再办理",
            "extension_pending": "已有延期申请待审批", "no_extension_pending": "没有待审批的延期申请",
            "reopen_too_late": "已超过评价后 7 天的重办期限",
            "reopen_not_dissatisfied": "只有“不满意”的评价才能重办",
            "csrf_failed": "页面已过期，请刷新后重试", "not_authenticated": "登录已失效，请重新登录",
            "invalid_body": "所填内容格式不正确", "case_not_found": "案件不存在",
        },
    },
    "en": {
        "required": "required", "note": "Note", "reason": "Reason", "person": "Person",
        "department": "Department", "people_group": "On duty in the village", "choose": "Choose",
        "void_reason": "Why void", "resume_date": "Resume on", "rating": "Rating",
        "extension_days": "Working days asked", "original_case": "Original case no.",
        "submit": "Submit", "cancel": "Cancel", "sending": "Sending…", "done": "Done, reloading…",
        "stale": "The case was changed by someone else; reloading…",
        "no_actions": "Nothing for you to do on this case now",
        "load_error": "The actions could not be loaded", "failed": "The action failed",
        "void_reasons": {"duplicate": "Duplicate", "invalid": "Invalid"},
        "errors": {
            "reason_required": "A reason is required",
            "note_too_long": f"The note is over {MAX_NOTE} characters",
            "invalid_target": "What you entered is not valid", "person_off_duty": "That person is "
            "off duty", "transition_not_allowed": "Not possible in the case's current state",
            "outside_scope": "This is not yours to do on this case",
            "out_of_scope": "This case is outside your scope",
            "forbidden": "Your account may not do this", "case_voided": "The case is voided",
            "extension_pending": "An extension request is already waiting",
            "no_extension_pending": "There is no extension request to decide",
            "reopen_too_late": "The 7 days to reopen after the rating have passed",
            "reopen_not_dissatisfied": "Only a 不满意 (dissatisfied) rating reopens a case",
            "csrf_failed": "The page is out of date: reload it and try again",
            "not_authenticated": "You are signed out: sign in again",
            "invalid_body": "What you entered is not in the right form",
            "case_not_found": "There is no such case",
        },
    },
}


def panel_config(session: Session, case: dict[str, Any], actor: Actor, lang: str) -> dict:
    """The panel's configuration for ``case`` (intake.case_view) seen by ``actor``."""
    village = (case.get("grid_code") or case.get("admin_code") or "")[:12]
    people = repository.people_on_duty(session, village) if village else []
    names = i18n.names(lang)
    town = actor_level(actor.role) == "town"
    return {
        "api": f"/api/v1/cases/{case['id']}/transitions",
        "maxNote": MAX_NOTE, "maxExtensionDays": MAX_EXTENSION_DAYS,
        "people": [{"id": p["id"], "name": p["name"],
                    "post": names["role"].get(p["role"], p["role"]), "title": p["title"]}
                   for p in people],
        "departments": [{"code": code, "name": d[f"name_{lang}"]}
                        for code, d in departments().items()] if town else [],
        "voidReasons": list(VOID_REASONS),
        "ratings": [{"value": code, "name": names["satisfaction"][code]}
                    for code in RATINGS.values()],
        "actionNames": {k: v for k, v in names["event"].items()},
        "statusNames": names["status"],
        "words": WORDS[lang],
    }
