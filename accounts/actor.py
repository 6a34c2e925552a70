"""Who is acting: an account's role and scope, as the rest of the code sees it.

The roles are the town's (DOMAIN.md, DESIGN.md "Roles"); a scope is where an account may act:

- ``town``: the whole town (town operator, town leader, planner, administrator);
- ``zone``: the villages of one zone (片区);
- ``village``: one village (village operator, grid leader = the village's party secretary);
- ``grids``: a set of leaf grids, taken from ``grid_assignments`` of the account's person, so a
  boundary change moves the scope with the grid code (grid worker, auxiliary);
- ``department``: the cases dispatched to one of the town's departments (department handler).

``Actor`` is a value: the web layer builds one per request from the session or the bearer
token (accounts/ does that), services take it as an argument and never look at a request.
A resident reporting without an account is ``RESIDENT``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ROLES = (
    "town_operator",  # 镇指挥中心 operator
    "town_leader",  # 镇领导
    "village_operator",  # 村便民服务中心 operator
    "grid_leader",  # 网格长 = the village's party secretary
    "grid_worker",  # 网格员
    "auxiliary",  # 协管员 / 辅助力量
    "department_handler",  # 职能部门 handler
    "planner",  # draws grid boundaries
    "admin",  # administrator
)
SCOPE_KINDS = ("town", "zone", "village", "grids", "department")
# the scope each role has unless an account says otherwise
DEFAULT_SCOPE_KIND = {
    "town_operator": "town", "town_leader": "town", "planner": "town", "admin": "town",
    "village_operator": "village", "grid_leader": "village",
    "grid_worker": "grids", "auxiliary": "grids",
    "department_handler": "department",
}
VILLAGE_CODE_LENGTH = 12  # a leaf grid's code is its village's 12 digits + 3 (DOMAIN.md "Codes")
TOWN_CODE_LENGTH = 9  # a village's code is its town's 9 digits + 3


@dataclass(frozen=True)
class Actor:
    """An account acting now. ``scope_code`` is a town, zone, village or department code;
    ``grid_codes`` are the leaf grids of a ``grids`` scope; ``village_codes`` the villages of
    a ``zone`` scope (both resolved when the actor is built)."""

    role: str
    name: str
    account_id: int | None = None
    person_id: int | None = None
    scope_kind: str | None = None
    scope_code: str | None = None
    grid_codes: frozenset[str] = field(default_factory=frozenset)
    village_codes: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_resident(self) -> bool:
        return self.account_id is None

    @property
    def town_code(self) -> str | None:
        """The town of a town, zone, village or grids scope (the first 9 digits of its code);
        None for a department's scope or no scope."""
        if self.scope_kind == "department" or not self.scope_code:
            return None
        return self.scope_code[:TOWN_CODE_LENGTH]

    def covers(self, *, town_code: str | None = None, grid_code: str | None = None,
               department_code: str | None = None) -> bool:
        """Whether a thing at ``grid_code`` (a leaf or administrative grid code) of
        ``town_code``, or held by ``department_code``, is inside this actor's scope."""
        kind = self.scope_kind
        if kind == "town":
            return town_code is None or town_code == self.scope_code
        if kind == "department":
            return department_code is not None and department_code == self.scope_code
        if grid_code is None:
            return False
        village = grid_code[:VILLAGE_CODE_LENGTH]
        if kind == "village":
            return village == self.scope_code
        if kind == "zone":
            return village in self.village_codes
        if kind == "grids":
            return grid_code in self.grid_codes
        return False


RESIDENT = Actor(role="resident", name="resident")
