"""Personal data (个人信息, PIPL): what an answer shows of a phone number, an ID number or a
name, and to whom. The one place the rule lives: every serializer that lets personal data out
(the case API and page, locate, grids, Open311, OGC features, the public board, the rating
page, transition answers) asks here, and nothing else slices a number.

gridgov holds three kinds, each with its own rule:

- **A resident's contact**: the reporter of a case (``cases.reporter_name``,
  ``reporter_phone``) and the reporters of cases merged into it (``supporter`` in the merge
  events). Every answer shows them masked (张*, 138****5678). Staff whose scope holds the case
  (accounts/access.py ``case_in_scope``; the case's assignee is in it) see them in full only
  by giving a reason — the API's ``reason`` parameter, the case page's form — and each such
  read is one row of the append-only audit log (accounts/audit.py). Why masked even for the
  case's own staff: the PIPL's minimum-necessary rule (最小必要); handling a matter needs the
  matter, calling its reporter is a deliberate act with a stated purpose. Phone and ID
  numbers a resident typed into the description are masked with the contact.
- **A grid worker's work phone** (``people.phone``: grid workers, grid leaders, auxiliaries):
  a work contact that staff dispatch by. Full to a staff account whose scope covers the
  person's grid or village (a town-scoped account: the town's), and to whoever may read the
  case the person holds; masked to residents, anonymous requests and other staff. Reading it
  is not audited: it is the person's post, not their record.
- **ID numbers** (身份证号): no column holds one. One typed into free text is masked like a
  phone wherever that text is masked: 140525********1234 (the issuing area's six digits and the
  last four, as banks print them; the birth date is hidden).

Masks are pure functions of the value (a mask of a mask is itself): 138****5678 keeps the
operator's prefix and the last four digits, so a caller can still tell two reporters apart and
read a number back to its owner, while the seven digits that identify the line stay hidden.
"""

from __future__ import annotations

import re
from typing import Any

from accounts.actor import Actor
from accounts.errors import InvalidAccessReason

# A reason must say something ("回访" is two characters) and fit a row of the log.
REASON_MIN_CHARS = 2
REASON_MAX_CHARS = 200

_MOBILE = re.compile(r"^(?:86)?(1[3-9]\d)(\d{4})(\d{4})$")
_LANDLINE = re.compile(r"^(0\d{2,3})(\d{7,8})$")
_LANDLINE_WRITTEN = re.compile(r"^\s*\(?(0\d{2,3})\)?[ -](\d{7,8})\s*$")  # the area code as written
# A phone number inside text: a mobile (11 digits from 13x-19x) or a landline with its area
# code, with the spaces or dashes people write in them; not inside a longer run of digits.
_PHONE_IN_TEXT = re.compile(
    r"(?<![\d])(?:\+?86[ -]?)?(?:1[3-9]\d(?:[ -]?\d){8}|0\d{2,3}[ -]?\d{7,8})(?![\d])")
# A resident ID number (GB 11643): 6 digits of area, the birth date (19xx/20xx, month, day),
# 3 of sequence and a check character (a digit or X). Only the 18-character form is looked for
# in text: the old 15-digit form has been invalid since 2013, and 15 digits is also the length
# of our own grid codes, which notes name.
_ID_NUMBER = re.compile(r"^(\d{6})(\d{8}|\d{5})(\d{3}[\dXx]|\d{4}|\d{3})$")
_ID_IN_TEXT = re.compile(
    r"(?<![0-9A-Za-z])(\d{6})((?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))"
    r"(\d{3}[\dXx])(?![0-9A-Za-z])")


# -- masks: pure functions of a value ---------------------------------------------------------


def masked_name(name: str | None) -> str | None:
    """张三 → 张*, 欧阳娜娜 → 欧*, 张 → *; None or blank → None. One star whatever the length:
    the length of a name narrows it down too."""
    if name is None or not name.strip():
        return None
    name = name.strip()
    return "*" if len(name) == 1 else name[0] + "*"


def masked_phone(phone: str | None) -> str | None:
    """13812345678 → 138****5678 (also +86 138 1234 5678); 0356-1234567 → 0356-****567;
    any other number keeps at most its last two digits, and hides at least four. None or no
    digits → None."""
    if phone is None:
        return None
    digits = re.sub(r"\D", "", phone)
    if not digits:
        return None
    if m := _MOBILE.match(digits):
        return f"{m.group(1)}****{m.group(3)}"
    if m := _LANDLINE_WRITTEN.match(phone) or _LANDLINE.match(digits):
        subscriber = m.group(2)
        return f"{m.group(1)}-{'*' * (len(subscriber) - 3)}{subscriber[-3:]}"
    keep = max(0, min(2, len(digits) - 4))  # four digits hidden, whatever the length
    return "*" * (len(digits) - keep) + digits[len(digits) - keep:]


def masked_id_number(number: str | None) -> str | None:
    """140525199001011234 → 140525********1234 (15 digits: 140525*****1234); anything else
    that is not an ID number is masked as :func:`masked_phone` masks an odd number."""
    if number is None or not number.strip():
        return None
    value = number.strip().upper()
    if m := _ID_NUMBER.match(value):
        return f"{m.group(1)}{'*' * len(m.group(2))}{m.group(3)}"
    return masked_phone(value)


def masked_text(text: str | None, names: tuple[str | None, ...] = ()) -> str | None:
    """Free text with every ID number and phone number in it masked, and each of ``names``
    (the reporter's) replaced by its mask. Other names a person typed cannot be found
    reliably: this is the safety net under text that staff write for publication."""
    if text is None:
        return None
    out = _ID_IN_TEXT.sub(lambda m: f"{m.group(1)}{'*' * 8}{m.group(3).upper()}", text)
    out = _PHONE_IN_TEXT.sub(lambda m: masked_phone(m.group()) or "", out)
    for name in names:
        if name and len(name.strip()) > 1:
            out = out.replace(name.strip(), masked_name(name) or "")
    return out


def masked_contact(contact: dict[str, Any] | None) -> dict[str, Any] | None:
    """A ``{"name", "phone", …}`` contact with its name and phone masked (other keys kept)."""
    if contact is None:
        return None
    out = dict(contact)
    if "name" in out:
        out["name"] = masked_name(out["name"])
    if "phone" in out:
        out["phone"] = masked_phone(out["phone"])
    return out


# -- who sees what --------------------------------------------------------------------------


def sees_work_phone(actor: Actor, *, town_code: str | None, grid_code: str | None) -> bool:
    """Whether ``actor`` sees in full the work phone of a person posted to ``grid_code`` (a
    leaf or administrative grid code, or a village code) of ``town_code``: staff whose scope
    covers it."""
    if actor.is_resident or grid_code is None:
        return False
    return actor.covers(town_code=town_code, grid_code=grid_code)


def work_contact(person: dict[str, Any] | None, visible: bool) -> dict[str, Any] | None:
    """``person`` (a dict with ``phone``) as shown: unchanged when ``visible``, else with its
    phone masked. The name of a worker stays: it is on the village's notice board."""
    if person is None or visible or person.get("phone") is None:
        return person
    return {**person, "phone": masked_phone(person["phone"])}


def access_reason(raw: str | None) -> str | None:
    """The reason a reader gave for a full record, stripped; None when none was given.
    InvalidAccessReason for a blank, too short or too long one (a reason that says nothing is
    not a reason)."""
    if raw is None:
        return None
    reason = " ".join(raw.split())
    if len(reason) < REASON_MIN_CHARS or len(reason) > REASON_MAX_CHARS:
        raise InvalidAccessReason(
            f"the reason must be {REASON_MIN_CHARS} to {REASON_MAX_CHARS} characters "
            f"(got {len(reason)}): say why you need the full record, e.g. 回访核实诉求",
            {"field": "reason", "length": len(reason), "min": REASON_MIN_CHARS,
             "max": REASON_MAX_CHARS})
    return reason


# Keys of event data that hold a resident's contact (the rest of an event's contacts are the
# work contacts of the people it routed or reassigned the case to).
_RESIDENT_KEYS = ("supporter", "reporter")


def _event_data(value: Any, *, full_residents: bool, work_visible: bool, key: str = "") -> Any:
    if isinstance(value, list):
        return [_event_data(v, full_residents=full_residents, work_visible=work_visible)
                for v in value]
    if not isinstance(value, dict):
        return value
    if key in _RESIDENT_KEYS:
        return value if full_residents else masked_contact(value)
    out = {k: _event_data(v, full_residents=full_residents, work_visible=work_visible, key=k)
           for k, v in value.items()}
    if "phone" in out and not work_visible:
        out["phone"] = masked_phone(out["phone"])
    return out


def event_data(data: Any, *, full_residents: bool = False, work_visible: bool = True) -> Any:
    """A case event's ``data`` as shown: residents' contacts in it (a merged case's reporter)
    masked unless ``full_residents``; the phones of the people it names (routing, assignment)
    masked unless ``work_visible``."""
    return _event_data(data, full_residents=full_residents, work_visible=work_visible)


def case_answer(case: dict[str, Any], *, reader_in_scope: bool, full: bool = False
                ) -> dict[str, Any]:
    """A case (cases.intake ``case_view`` or ``case_summary``) as an answer may show it.

    ``reader_in_scope``: the reader is staff who may read the case (the holder's work phone
    in full). ``full``: the reader gave a valid reason and the read was audited — the
    reporter's and the supporters' contacts, and the numbers typed into the description, in
    full. A new dict; the caller's is left as it was."""
    out = dict(case)
    if "reporter" in out and not full:
        out["reporter"] = masked_contact(out["reporter"])
    if out.get("description") is not None and not full:
        out["description"] = masked_text(out["description"])
    if "assignee" in out:
        out["assignee"] = work_contact(out["assignee"], reader_in_scope)
    if "events" in out:
        out["events"] = [
            {**e, "data": event_data(e.get("data"), full_residents=full,
                                     work_visible=reader_in_scope),
             **({"note": masked_text(e["note"])} if e.get("note") and not full else {})}
            for e in out["events"]]
    return out
