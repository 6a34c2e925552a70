"""Who may use each route: the declaration placed next to the route, and the scope rules.

Every view carries ``@allow(...)`` next to its route::

    @allow("town_operator", "village_operator")   # these roles (and only these)
    @allow(ANY_ACCOUNT)                            # anyone signed in
    @allow(PUBLIC)                                 # anyone, no account needed
    @allow(SIGNED)                                 # no account: the view checks the request's
                                                   # signature (a monitoring feed's HMAC)

web/auth.py enforces the declarations in one place (a ``before_request``): 401 without
credentials, 403 for a role not named. A route without a declaration is refused there, and a
test walks the URL map and fails for it. Scope (which cases an account may read) is checked by
the views with :func:`case_in_scope`, or by the list queries with :func:`case_scope`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from accounts.actor import ROLES, Actor
from accounts.errors import Forbidden, NotAuthenticated, OutOfScope

PUBLIC = "public"
ANY_ACCOUNT = "any_account"
# A route that takes no account but authenticates each request itself, by a signature under a
# secret it knows (web/api/feeds.py: a feed's HMAC, feeds/signature.py). web/auth.py lets it
# through as it does PUBLIC; the declaration says the view is not open to anyone.
SIGNED = "signed"
_ATTRIBUTE = "gridgov_access"
# Who may report a case on a staff channel (patrol, hotline, sensor, referral); residents and
# the app report without an account.
RESIDENT_CHANNELS = ("resident", "app")
REPORTING_ROLES = (
    "town_operator",
    "village_operator",
    "grid_leader",
    "grid_worker",
    "auxiliary",
    "department_handler",
    "admin",
)
# who may reassign a case or put a person on or off duty, in their scope
OPERATOR_ROLES = ("town_operator", "village_operator", "admin")


def allow(*who: str) -> Callable:
    """Declare who may use the decorated view (roles of accounts.actor.ROLES, ANY_ACCOUNT,
    PUBLIC or SIGNED). Place it next to the route decorator, above or below it."""
    unknown = [w for w in who if w not in ROLES and w not in (PUBLIC, ANY_ACCOUNT, SIGNED)]
    if not who or unknown:
        raise ValueError(f"allow() takes roles, ANY_ACCOUNT, PUBLIC or SIGNED, not {unknown or 'nothing'}")

    def decorate(view: Callable) -> Callable:
        setattr(view, _ATTRIBUTE, frozenset(who))
        return view

    return decorate


def declaration(view: Callable | None) -> frozenset[str] | None:
    """The view's declaration; None when it has none."""
    return getattr(view, _ATTRIBUTE, None)


def needs_no_account(allowed: frozenset[str]) -> bool:
    """Whether a route so declared is used without an account (PUBLIC, or SIGNED: the view
    checks a signature instead)."""
    return PUBLIC in allowed or SIGNED in allowed


def permits(allowed: frozenset[str], actor: Actor) -> bool:
    if needs_no_account(allowed):
        return True
    if actor.is_resident:
        return False
    return ANY_ACCOUNT in allowed or actor.role in allowed


def case_in_scope(actor: Actor, case: dict[str, Any]) -> bool:
    """Whether ``case`` (with town_code, grid_code, admin_code) is in the actor's scope."""
    return actor.covers(
        town_code=case.get("town_code"),
        grid_code=case.get("grid_code") or case.get("admin_code"),
        department_code=case.get("department_code"),
    )


def case_scope(actor: Actor) -> tuple[str, tuple[str, ...]]:
    """The actor's scope as (kind, codes) for the case queries (cases/repository.py, tiles/):
    ("town", (code,)), ("villages", 12-digit codes), ("grids", leaf codes), ("department",
    (code,)) or ("none", ())."""
    kind = actor.scope_kind
    if kind == "town":
        return "town", (actor.scope_code,) if actor.scope_code else ()
    if kind == "village":
        return "villages", (actor.scope_code,) if actor.scope_code else ()
    if kind == "zone":
        return "villages", tuple(sorted(actor.village_codes))
    if kind == "grids":
        return "grids", tuple(sorted(actor.grid_codes))
    if kind == "department":
        return "department", (actor.scope_code,) if actor.scope_code else ()
    return "none", ()


def check_case(session: Session, actor: Actor, case_id: int) -> dict[str, Any]:
    """The case's place when ``actor`` may read the case; CaseNotFound, else OutOfScope."""
    from cases import repository

    return check_place(actor, case_id, repository.case_place(session, case_id))


def check_place(actor: Actor, case_id: int, place: dict[str, Any] | None) -> dict[str, Any]:
    """check_case on a row of the case read already (its town_code, grid_code, admin_code and
    department_code; None when there is no such case): the workflow's routes read the case's
    state once, for this check and for the transition."""
    from cases.errors import CaseNotFound

    if place is None:
        raise CaseNotFound(f"there is no case with id {case_id}", {"case_id": case_id})
    if not case_in_scope(actor, place):
        raise OutOfScope(
            f"case {case_id} is outside the scope of account {actor.name!r}",
            {"case_id": case_id, "scope": {"kind": actor.scope_kind, "code": actor.scope_code}},
        )
    return place


def check_report(actor: Actor, channel: str) -> None:
    """Who may report on ``channel``: anyone on the residents' channels, an account of a
    reporting role on a staff channel (NotAuthenticated without one, Forbidden otherwise)."""
    if channel in RESIDENT_CHANNELS:
        return
    if actor.is_resident:
        raise NotAuthenticated(
            f"channel {channel!r} is for staff: send `Authorization: Bearer <token>`",
            {"channel": channel, "open_channels": list(RESIDENT_CHANNELS)},
        )
    if actor.role not in REPORTING_ROLES:
        raise Forbidden(
            f"a {actor.role} account may not report cases on channel {channel!r}",
            {"channel": channel, "allowed": list(REPORTING_ROLES)},
        )
