"""The mapping between Open311 GeoReport v2 and our cases (open311/__init__.py says what maps
to what): services from categories, a POSTed request to the intake's CaseRequest, a case to
the public record GET answers, the query of GET requests, the discovery document.

Pure functions: the web layer reads the request and the database and passes what they hold.
Every date is W3C (ISO 8601 with its offset), in the town's time (UTC+8).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from cases.deadlines import LOCAL_TZ
from cases.departments import departments
from cases.intake import CaseRequest
from cases.models import CLOSED_STATES
from accounts.privacy import masked_name, masked_text
from cases.publication import public_address, public_lonlat
from open311.errors import (
    InvalidRequest, JurisdictionRequired, MissingLocation, RequestNotFound, UnknownJurisdiction,
    UnknownService,
)

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# when the services or their mapping last changed (the discovery's ``changeset``): the
# categories table has no time of its own, so this moves with the code that maps it
CHANGESET = "2026-11-30T00:00:00+08:00"
# who reports through Open311 (cases.models.CHANNELS): anonymous clients are residents' apps;
# a client with an api_key is another system handing a matter over (the county's 12345
# platform, a partner's app), 部门转办 — our hotline channel is our own operators' calls
ANONYMOUS_CHANNEL = "app"
API_KEY_CHANNEL = "referral"
# The spec allows 4,000 characters; the intake takes 2,000 (cases/intake.py, the API's CaseIn),
# and an Open311 report is a report like any other.
MAX_DESCRIPTION = 2000
MAX_NAME = 50
PHONE = re.compile(r"^\+?[0-9][0-9 -]{4,28}$")  # as the API's ReporterIn
# GET requests: "a span of 90 days or first 1000 requests returned, whichever is smallest"
WINDOW = timedelta(days=90)
MAX_REQUESTS = 1000
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
WORDS = {
    "zh": {"center": "{}党群服务中心", "limit": "办理时限：{}{}", "deadline": "，应于 {} 前办结",
           "merged": "已合并到 {}（同一事项）", "sep": " · ", "space": ""},
    "en": {"center": "{} centre", "limit": "Time limit: {} {}", "deadline": "; due by {}",
           "merged": "Merged into {} (the same matter)", "sep": " · ", "space": " "},
}


def w3c(moment: datetime | None) -> str | None:
    """``moment`` as W3C date-time with its offset, in the town's time, to the second."""
    if moment is None:
        return None
    return moment.astimezone(LOCAL_TZ).replace(microsecond=0).isoformat()


def status(state: str) -> str:
    """Open311's status of a workflow state: ``closed`` for closed, evaluated and voided."""
    return "closed" if state in CLOSED_STATES else "open"


def _blank(value: str | None) -> str | None:
    """Open311's "optional": a parameter sent empty is a parameter not sent."""
    if value is None:
        return None
    value = value.strip()
    return value or None


# -- jurisdictions -------------------------------------------------------------------------


def jurisdiction(towns: list[dict[str, Any]], jurisdiction_id: str | None) -> dict[str, Any] | None:
    """The town ``jurisdiction_id`` names, or the one town when it names none (None in a
    database without towns). UnknownJurisdiction (404), JurisdictionRequired (400)."""
    wanted = _blank(jurisdiction_id)
    if wanted is None:
        if len(towns) > 1:
            raise JurisdictionRequired(
                "jurisdiction_id was not provided: this endpoint serves several towns, send one "
                f"of {', '.join(t['code'] for t in towns)}", [t["code"] for t in towns])
        return towns[0] if towns else None
    for town in towns:
        if town["code"] == wanted:
            return town
    raise UnknownJurisdiction(
        f"jurisdiction_id {wanted[:50]!r} was not found: the jurisdictions are the towns' "
        f"9-digit codes ({', '.join(t['code'] for t in towns) or 'none loaded'})")


# -- services ------------------------------------------------------------------------------


def service(row: dict[str, Any], parent: dict[str, Any] | None, names: dict, lang: str) -> dict:
    """One category as an Open311 service (GET services)."""
    name_key = "name_en" if lang == "en" else "name_zh"
    group = parent or row
    unit = names["unit"].get(row["limit_unit"], row["limit_unit"])
    return {
        "service_code": row["code"],
        "service_name": row[name_key],
        "description": WORDS[lang]["limit"].format(row["limit_value"], unit),
        "metadata": False,
        "type": "realtime",
        "keywords": ", ".join(dict.fromkeys(
            [row["name_zh"], row["name_en"], group["name_zh"], group["name_en"]])),
        "group": group[name_key],
    }


def services(categories: dict[str, dict[str, Any]], names: dict, lang: str) -> list[dict]:
    """Every category (checklists first, the table's order) as a service."""
    return [service(row, categories.get(row["parent_code"] or ""), names, lang)
            for row in categories.values()]


def known_service(categories: dict[str, dict[str, Any]], code: str) -> dict[str, Any]:
    """The category ``code``; UnknownService (404) naming it otherwise."""
    found = categories.get(code)
    if found is None:
        raise UnknownService(
            f"service_code {code[:60]!r} was not found: GET services lists the service codes")
    return found


def service_definition(code: str) -> dict[str, Any]:
    """GET services/{code}: no service of ours asks for attributes (``metadata`` false)."""
    return {"service_code": code, "attributes": []}


# -- POST requests -------------------------------------------------------------------------


def _number(values: Mapping[str, str], key: str, low: float, high: float,
            problems: list[str]) -> float | None:
    raw = _blank(values.get(key))
    if raw is None:
        return None
    try:
        number = float(raw)
    except ValueError:
        problems.append(f"{key} {raw[:30]!r} is not a number (degrees, WGS 84)")
        return None
    if not math.isfinite(number) or not low <= number <= high:
        problems.append(f"{key} {raw[:30]!r} is out of range: {low:g} to {high:g} degrees")
        return None
    return number


def reporter_name(first: str | None, last: str | None) -> str | None:
    """first_name and last_name as one name: a Chinese name family name first (张 + 三 =
    张三), any other given name first ("John Smith")."""
    parts = [p for p in (_blank(first), _blank(last)) if p]
    if not parts:
        return None
    if any(_CJK.search(p) for p in parts):
        return "".join(reversed(parts))
    return " ".join(parts)


def case_request(values: Mapping[str, str], categories: dict[str, dict[str, Any]],
                 channel: str) -> CaseRequest:
    """A POSTed service request as the intake's CaseRequest, on ``channel``.

    ``lat``/``long`` (WGS 84) route by the point; ``address_string`` alone is geocoded; with
    both, the point routes and the address is kept as written. Without ``description`` the
    report says what its service is. ``email``, ``device_id``, ``account_id``, ``media_url``
    (never fetched: gridgov reaches no other host) and ``attribute[…]`` are not kept.
    Raises UnknownService (404), MissingLocation and InvalidRequest (400, one description
    per problem)."""
    problems: list[str] = []
    code = _blank(values.get("service_code"))
    if code is None:
        problems.append("service_code was not provided: GET services lists the service codes")
        category = None
    else:
        category = known_service(categories, code)
    lat = _number(values, "lat", -90, 90, problems)
    lon = _number(values, "long", -180, 180, problems)
    sent_lat, sent_lon = _blank(values.get("lat")), _blank(values.get("long"))
    if (sent_lat is None) != (sent_lon is None):
        problems.append("lat and long must be sent together")
    address = _blank(values.get("address_string"))
    if address is not None and not 2 <= len(address) <= 200:
        problems.append(f"address_string has {len(address)} characters: send 2 to 200")
    if sent_lat is None and sent_lon is None and address is None:
        also = (" (address_id is not used here: the standard address base has no public ids)"
                if _blank(values.get("address_id")) else "")
        missing = ("a location is required: send lat and long (WGS 84) or address_string"
                   + also)
        if not problems:
            raise MissingLocation(missing)
        problems.append(missing)
    description = _blank(values.get("description"))
    if description is not None and len(description) > MAX_DESCRIPTION:
        problems.append(f"description has {len(description)} characters: at most "
                        f"{MAX_DESCRIPTION} are taken here")
    name = reporter_name(values.get("first_name"), values.get("last_name"))
    if name is not None and len(name) > MAX_NAME:
        problems.append(f"first_name and last_name have {len(name)} characters together: at "
                        f"most {MAX_NAME}")
    phone = _blank(values.get("phone"))
    if phone is not None and not PHONE.match(phone):
        problems.append(f"phone {phone[:30]!r} is not a phone number (digits, spaces, dashes, "
                        "an optional leading +)")
    if problems:
        raise InvalidRequest(problems[0] if len(problems) == 1 else
                             f"{len(problems)} problems: " + "; ".join(problems), problems)
    assert category is not None
    return CaseRequest(
        category=category["code"], description=description or category["name_zh"],
        channel=channel, lon=lon, lat=lat, address=address, reporter_name=name,
        reporter_phone=phone)


def notice(category: dict[str, Any], due_at: datetime | None, names: dict, lang: str) -> str:
    """``service_notice``: the category's time limit and the case's due moment."""
    unit = names["unit"].get(category["limit_unit"], category["limit_unit"])
    text = WORDS[lang]["limit"].format(category["limit_value"], unit)
    if due_at is not None:
        text += WORDS[lang]["deadline"].format(w3c(due_at))
    return text


def post_answer(case_id: int, service_notice: str) -> list[dict[str, Any]]:
    """POST requests' answer: the new request's id at once (every service is realtime)."""
    return [{"service_request_id": str(case_id), "service_notice": service_notice,
             "account_id": None}]


# -- GET requests --------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestQuery:
    """What GET requests asks: ids (which override everything else), or a window of
    ``requested_datetime`` with service codes and open/closed; a page of ``page_size``."""

    ids: tuple[int, ...] = ()
    codes: tuple[str, ...] = ()
    since: datetime | None = None
    until: datetime | None = None
    closed: bool | None = None  # None: both
    page: int = 1
    page_size: int = MAX_REQUESTS


def _listed(values: Mapping[str, Any], key: str) -> list[str]:
    """A parameter "declared multiple times, comma delimited": every value, however sent."""
    raw = values.getlist(key) if hasattr(values, "getlist") else [values.get(key)]
    return [part.strip() for value in raw if value for part in value.split(",") if part.strip()]


def moment(text: str, key: str) -> datetime:
    """A W3C date or date-time; without an offset, the town's local time. InvalidRequest."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), LOCAL_TZ)
        found = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InvalidRequest(
            f"{key} {text[:40]!r} is not a W3C date-time: send e.g. 2026-10-01T00:00:00+08:00 "
            "or 2026-10-01T00:00:00Z") from None
    return found if found.tzinfo is not None else found.replace(tzinfo=LOCAL_TZ)


def _positive(values: Mapping[str, Any], key: str, default: int, high: int) -> int:
    raw = _blank(values.get(key))
    if raw is None:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= high:
        raise InvalidRequest(f"{key} {raw[:20]!r} is not a whole number from 1 to {high}")
    return int(raw)


def request_query(values: Mapping[str, Any], categories: dict[str, dict[str, Any]],
                  now: datetime) -> RequestQuery:
    """GET requests' parameters as a RequestQuery. Without dates, the last 90 days; with one
    of them, the 90 days from or to it; both may not span more than 90 days. Raises
    InvalidRequest, UnknownService."""
    page = _positive(values, "page", 1, 1_000_000)
    page_size = _positive(values, "page_size", MAX_REQUESTS, MAX_REQUESTS)
    ids = _listed(values, "service_request_id")
    if ids:
        bad = [i for i in ids if not i.isdigit() or len(i) > 18]
        if bad:
            raise InvalidRequest(f"service_request_id {bad[0][:30]!r} is not a service request "
                                 "id (a number)")
        if len(ids) > MAX_REQUESTS:
            raise InvalidRequest(f"{len(ids)} service_request_id sent: at most {MAX_REQUESTS}")
        return RequestQuery(ids=tuple(dict.fromkeys(int(i) for i in ids)), page=page,
                            page_size=page_size)
    codes = tuple(known_service(categories, c)["code"] for c in _listed(values, "service_code"))
    states = set(_listed(values, "status"))
    unknown = sorted(states - {"open", "closed"})
    if unknown:
        raise InvalidRequest(f"status {unknown[0][:30]!r} is not open or closed")
    start, end = _blank(values.get("start_date")), _blank(values.get("end_date"))
    since = moment(start, "start_date") if start else None
    until = moment(end, "end_date") if end else None
    if since is None and until is None:
        until = now
    if since is None:
        since = until - WINDOW
    elif until is None:
        until = since + WINDOW
    if until < since:
        raise InvalidRequest(f"end_date ({w3c(until)}) is before start_date ({w3c(since)})")
    if until - since > WINDOW:
        raise InvalidRequest(f"start_date to end_date spans {(until - since).days} days: a "
                             f"search may not span more than {WINDOW.days}")
    closed = None if len(states) != 1 else states == {"closed"}
    return RequestQuery(codes=codes, since=since, until=until, closed=closed, page=page,
                        page_size=page_size)


def request_id(text: str) -> int:
    """The case id in GET requests/{id}; RequestNotFound for what cannot be one."""
    if not text.isdigit() or len(text) > 18:
        raise RequestNotFound(f"service_request_id {text[:30]!r} was not found")
    return int(text)


def agency(row: dict[str, Any], lang: str) -> str | None:
    """``agency_responsible``: who holds the case — its grid and grid worker (the name as the
    public board writes names, 张*), a village or the town centre, or a department."""
    words = WORDS[lang]
    queue = row.get("queue")
    if queue == "department" and row.get("department_code"):
        found = departments().get(row["department_code"])
        return found["name_en" if lang == "en" else "name_zh"] if found else None
    if queue == "town":
        return words["center"].format(row.get("town_name") or "")
    if queue == "village" or (queue == "grid" and row.get("grid_name") is None):
        return words["center"].format(row.get("village_name") or "") if row.get(
            "village_name") else None
    person = None
    if row.get("assignee_name"):
        person = words["space"].join(p for p in (row.get("assignee_title"),
                                                  masked_name(row["assignee_name"])) if p)
    return words["sep"].join(p for p in (row.get("grid_name"), person) if p) or None


def status_notes(row: dict[str, Any], names: dict, lang: str) -> str:
    """Where the case is in the workflow; for a handled case, what was done (the closing note
    with phones and the reporter's name masked, as on the public board)."""
    state = row["status"]
    if state in ("closed", "evaluated") and row.get("closing_note"):
        return masked_text(row["closing_note"], (row.get("reporter_name"),)) or ""
    if state == "voided" and row.get("merged_into"):
        return WORDS[lang]["merged"].format(row["merged_into"])
    return names["status"].get(state, state)


def request_record(row: dict[str, Any], categories: dict[str, dict[str, Any]], names: dict,
                   lang: str, photo_url: str | None) -> dict[str, Any]:
    """A case as GET requests shows it: the fields listed here and nothing else (an
    allow-list, as cases/publication.py builds the board's records), redacted as the board
    redacts. ``photo_url``: where the board serves its first publishable photo, if any."""
    category = categories.get(row["category_code"]) or {}
    lonlat = public_lonlat(row.get("lon"), row.get("lat"))
    closed = status(row["status"]) == "closed"
    updated = (row.get("closed_at") if closed else None) or row.get("updated_at")
    address = public_address(row.get("address")) or row.get("village_name")
    return {
        "service_request_id": str(row["id"]),
        "status": status(row["status"]),
        "status_notes": status_notes(row, names, lang),
        "service_name": category.get("name_en" if lang == "en" else "name_zh"),
        "service_code": row["category_code"],
        # what the resident wrote is not published (cases/publication.py): free text may name
        # anyone; the board shows none of it either
        "description": None,
        "agency_responsible": agency(row, lang),
        "service_notice": notice(category, row.get("due_at"), names, lang) if category else None,
        "requested_datetime": w3c(row["created_at"]),
        "updated_datetime": w3c(updated or row["created_at"]),
        "expected_datetime": w3c(row.get("due_at")),
        "address": address,
        "address_id": None,
        "zipcode": None,
        "lat": lonlat[1] if lonlat else None,
        "long": lonlat[0] if lonlat else None,
        "media_url": photo_url,
    }


# -- discovery -----------------------------------------------------------------------------


def discovery(endpoint_url: str, town: dict[str, Any] | None) -> dict[str, Any]:
    """The Service Discovery document (http://wiki.open311.org/Service_Discovery)."""
    center = WORDS["zh"]["center"].format(town["name"]) if town else "the town centre"
    return {
        "changeset": CHANGESET,
        "contact": f"{center}: the town's command and dispatch centre (镇级指挥中心)",
        "key_service": "An api_key is an API token of a gridgov account of a reporting role: "
                       "the town's administrator issues one (gridgov users add NAME --role "
                       "ROLE, gridgov users token NAME). Residents report without a key.",
        "endpoints": [{
            "specification": SPECIFICATION,
            "url": endpoint_url,
            "changeset": CHANGESET,
            "type": "production",
            "formats": ["text/xml", "application/json"],
        }],
    }
