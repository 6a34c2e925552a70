"""The demo's accounts: one of every role, all with one password, in one village.

A town operator, the town leader, the operator and the grid leader (the party secretary,
linked to their person) of one village, every grid worker of that village and one of its
auxiliaries (linked to their people, so their scope is their grids), a department handler
(城管), a planner and an administrator.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from accounts import repository, service

DEMO_PASSWORD = "bagong-demo"
DEPARTMENT = "chengguan"


def create_demo_accounts(session: Session) -> list[dict]:
    """Write the accounts (in the caller's transaction); each as created (name, role, scope)."""
    villages = repository.villages_with_workers(session)
    if not villages:
        return []
    village = villages[0]
    people = repository.village_people(session, village)
    leader = next((p for p in people if p["role"] == "grid_leader"), None)
    workers = [p for p in people if p["role"] == "grid_worker"]
    auxiliary = next((p for p in people if p["role"] == "auxiliary"), None)
    wanted: list[dict] = [
        {"name": "town_operator", "role": "town_operator", "display_name": "镇指挥中心值班员"},
        {"name": "town_leader", "role": "town_leader", "display_name": "镇领导"},
        {
            "name": "village_operator",
            "role": "village_operator",
            "scope": village,
            "display_name": "村便民服务中心",
        },
    ]
    if leader is not None:
        wanted.append(
            {
                "name": "grid_leader",
                "role": "grid_leader",
                "scope": village,
                "person_id": leader["id"],
            }
        )
    wanted += [
        {"name": f"grid_worker_{i}", "role": "grid_worker", "person_id": p["id"]}
        for i, p in enumerate(workers, 1)
    ]
    if auxiliary is not None:
        wanted.append({"name": "auxiliary", "role": "auxiliary", "person_id": auxiliary["id"]})
    wanted += [
        {
            "name": "department_handler",
            "role": "department_handler",
            "scope": DEPARTMENT,
            "display_name": service.departments()[DEPARTMENT]["name_zh"],
        },
        {"name": "planner", "role": "planner", "display_name": "网格规划员"},
        {"name": "admin", "role": "admin", "display_name": "系统管理员"},
    ]
    return [service.create_account(session, password=DEMO_PASSWORD, **w) for w in wanted]


def sign_in_text(accounts: list[dict]) -> str:
    """How to sign in to the demo, for `gridgov demo load` to print."""
    if not accounts:
        return ""
    village = next((a["scope_code"] for a in accounts if a["role"] == "village_operator"), "")
    workers = [a["name"] for a in accounts if a["role"] == "grid_worker"]
    lines = [f"sign in at /login with the password {DEMO_PASSWORD!r} as one of:"]
    for a in accounts:
        if a["role"] == "grid_worker" and a["name"] != workers[0]:
            continue
        name = a["name"] if a["role"] != "grid_worker" else f"{workers[0]} … {workers[-1]}"
        lines.append(f"  {name:<28} {a['role']:<20} {a['scope_kind']} {a['scope_code'] or ''}")
    lines.append(
        f"(the village accounts are of village {village}; an API token: gridgov users token NAME)"
    )
    return "\n".join(lines)
