"""The demo's people, streets, standard addresses, households, enterprises and hazards, drawn
deterministically from a seed onto the demo geometry (demo.geometry).

Counts are the town's (DOMAIN.md): 316 grid workers, 1,263 auxiliaries, about 20,000
residents in households with standard addresses, 1,520 enterprises (most in the industrial
park), 258 hazards (most in regional grids). ``residents`` draws another number of residents
on the same geometry and the same people (86,000 is the town's whole resident population,
for the benchmarks): the same rules place more households in each service grid; the default
draws exactly what it always drew.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import shapely
from shapely.geometry import LineString, Point
from shapely.geometry.base import BaseGeometry

from demo.geometry import CENTER_VILLAGES, TOWN_CODE, TOWN_NAME, DemoGeometry, LeafGrid
from geo import partition

PROVINCE, CITY, COUNTY = "山西省", "晋城市", "泽州县"
GRID_WORKERS, AUXILIARIES = 316, 1263
RESIDENTS, ENTERPRISES, HAZARDS = 20_000, 1520, 258
# what ``build`` accepts for ``residents``: at least one person in each of the households
# every service grid keeps at the least (8 each, 1,712 in all), and at most about six times the
# town's 86,000 (a community's compound numbers 1,404 flats a street; beyond this the demo is
# no longer a town's)
RESIDENTS_MIN, RESIDENTS_MAX = 2_000, 500_000
SURNAMES = "王李张刘陈杨赵郭牛吕崔秦焦靳申常司卫毕贾任宋段史黄马田冯韩程"
GIVEN = "建国军红伟芳丽强磊洋艳勇杰娟涛明超秀霞平刚桂英华玉兰福贵海燕云鹏志文斌丹晓宇浩然子涵欣怡俊峰"
STREET_POOL = (
    "东大街", "西大街", "南大街", "北大街", "中街", "前街", "后街", "新街", "新华街", "建设路",
    "育才路", "和平巷", "幸福巷", "振兴路", "文化巷", "兴隆街", "富民路", "团结巷", "光明巷", "康宁街",
    "东环路", "西环路", "南环路", "北环路", "工农路", "民主巷", "太行街", "丹河路", "凤台街", "晋韵路",
)
LANE_PREFIXES = ("东", "西", "南", "北", "中")
INDUSTRIES = (
    ("装备制造", 30), ("机械加工", 20), ("煤炭", 6), ("化工", 5), ("建材", 8), ("物流", 8),
    ("食品加工", 5), ("商贸", 8), ("汽车修理", 5), ("餐饮", 5),
)
INDUSTRY_WORDS = "晋泰宏达鑫源华通恒昌永盛兴旺瑞丰金鼎汇川远航德润合力天成"
HAZARD_TYPES = ("fire", "gas", "chemicals", "mined_out_area", "flood", "road_traffic", "building", "electrical")
HAZARD_ZH = {
    "fire": "消防", "gas": "燃气", "chemicals": "危化品", "mined_out_area": "采空区地质灾害",
    "flood": "防汛", "road_traffic": "道路交通", "building": "建筑安全", "electrical": "用电安全",
}


@dataclass
class Registry:
    people: list[dict] = field(default_factory=list)  # id, name, role, title, phone, village_code, on_duty
    assignments: list[dict] = field(default_factory=list)  # person_id, grid_code, role
    zone_leaders: dict[str, int] = field(default_factory=dict)  # zone code -> person id
    streets: list[dict] = field(default_factory=list)  # village_code, name, geom_xy
    addresses: list[dict] = field(default_factory=list)  # parts + geom_xy + grid_code
    households: list[dict] = field(default_factory=list)  # address index, head_name, residents, key_person, grid_code
    # and the vulnerable among the residents (see _vulnerable)
    enterprises: list[dict] = field(default_factory=list)
    hazards: list[dict] = field(default_factory=list)


def _name(rng: np.random.Generator) -> str:
    surname = SURNAMES[rng.integers(len(SURNAMES))]
    given = "".join(GIVEN[rng.integers(len(GIVEN))] for _ in range(rng.integers(1, 3)))
    return surname + given


def _phone(rng: np.random.Generator) -> str:
    return "1" + str(rng.choice([35, 39, 52, 58, 83, 87, 50, 36])) + "".join(str(d) for d in rng.integers(0, 10, 8))


def _party_member(pid: int, role: str) -> bool:
    """Who is a party member in the demo (积分, cases/scores.py): every village secretary,
    cadre and zone leader, and about half of the grid workers and auxiliaries (even ids), so
    no random draw changes and the rest of the demo stays as it was."""
    return role not in ("grid_worker", "auxiliary") or pid % 2 == 0


def _person(reg: Registry, rng, role: str, title: str, village_code: str | None, on_duty: bool = True) -> int:
    pid = len(reg.people) + 1
    reg.people.append(
        {"id": pid, "name": _name(rng), "role": role, "title": title, "phone": _phone(rng),
         "village_code": village_code, "on_duty": on_duty,
         "party_member": _party_member(pid, role)}
    )
    return pid


def _people(geo: DemoGeometry, reg: Registry, rng: np.random.Generator) -> None:
    for code, (name, kind, _) in geo.zones.items():
        reg.zone_leaders[code] = _person(reg, rng, "zone_leader", f"镇领导（包联{name}）", None)
    by_village: dict[str, list[LeafGrid]] = {}
    for leaf in geo.leaves:
        by_village.setdefault(leaf.village.code, []).append(leaf)
    for v in geo.villages:
        admin = v.code + "000"
        pid = _person(reg, rng, "grid_leader", f"{v.name}党支部书记、网格长", v.code)
        reg.assignments.append({"person_id": pid, "grid_code": admin, "role": "leader"})
        pid = _person(reg, rng, "town_cadre", f"包村干部（{v.name}）", None)
        reg.assignments.append({"person_id": pid, "grid_code": admin, "role": "liaison"})
    # 316 grid workers over 381 leaf grids: every leaf grid has one, so in each village some
    # workers cover two neighbouring grids (consecutive serials).
    leaves = geo.leaves
    n_leaves = len(leaves)
    villages = [v for v in geo.villages]
    sizes = np.array([len(by_village[v.code]) for v in villages])
    workers = np.round(sizes * GRID_WORKERS / n_leaves).astype(int)
    low, high = np.ceil(sizes / 2).astype(int), sizes
    workers = np.clip(workers, low, high)
    for i in rng.permutation(len(villages)).tolist() * 4:
        diff = GRID_WORKERS - int(workers.sum())
        if diff == 0:
            break
        step = 1 if diff > 0 else -1
        if low[i] <= workers[i] + step <= high[i]:
            workers[i] += step
    for v, w in zip(villages, workers):
        mine = by_village[v.code]
        doubles = len(mine) - int(w)
        i = 0
        while i < len(mine):
            leaf = mine[i]
            title = "村两委成员" if leaf.level == "regional" else str(rng.choice(["党小组长", "村民小组长"]))
            pid = _person(reg, rng, "grid_worker", f"{title}（网格员）", v.code, on_duty=bool(rng.random() > 0.04))
            take = 2 if doubles > 0 and i + 1 < len(mine) else 1
            doubles -= take - 1
            for leaf2 in mine[i:i + take]:
                reg.assignments.append({"person_id": pid, "grid_code": leaf2.code, "role": "worker"})
            i += take
    # auxiliaries: about 3.3 per leaf grid, more where more households live
    weights = np.array([3.0 if leaf.level == "service" else 2.0 for leaf in leaves])
    counts = np.floor(weights / weights.sum() * AUXILIARIES).astype(int)
    for i in rng.permutation(n_leaves)[: AUXILIARIES - counts.sum()]:
        counts[i] += 1
    for leaf, k in zip(leaves, counts):
        for _ in range(k):
            title = str(rng.choice(["党员", "村民代表", "志愿者", "楼栋长", "护路员"]))
            pid = _person(reg, rng, "auxiliary", f"辅助人员（{title}）", leaf.village.code)
            reg.assignments.append({"person_id": pid, "grid_code": leaf.code, "role": "auxiliary"})


def _street_names(village_name: str, rng: np.random.Generator):
    """Street names of one village, unique within it: the four main streets first."""
    pool = list(STREET_POOL[:4]) + [str(s) for s in rng.permutation(STREET_POOL[4:])]
    yield from pool
    for prefix in LANE_PREFIXES:
        for n in "一二三四五六七八九":
            yield f"{prefix}{n}巷"


def _street_line(interior: BaseGeometry, rng: np.random.Generator, horizontal: bool) -> LineString | None:
    p = partition.random_points_in(interior, 1, rng)[0]
    angle = np.radians((0 if horizontal else 90) + rng.uniform(-15, 15))
    d = np.array([np.cos(angle), np.sin(angle)]) * 5000
    line = LineString([p - d, p + d]).intersection(interior)
    parts = [g for g in shapely.get_parts(line) if g.geom_type == "LineString"]
    if not parts:
        return None
    best = max(parts, key=lambda g: g.length)
    return best if best.length >= 40 else None


def _households(geo: DemoGeometry, reg: Registry, rng: np.random.Generator,
                residents: int = RESIDENTS) -> None:
    service = [leaf for leaf in geo.leaves if leaf.level == "service"]
    dense = np.array([2.5 if (l.village.kind == "community" or l.village.name in CENTER_VILLAGES) else 1.0 for l in service])
    target_households = int(residents / 2.9)
    per_grid = np.maximum(8, np.round(dense / dense.sum() * target_households)).astype(int)
    names_by_village = {v.code: _street_names(v.name, rng) for v in geo.villages}
    residents_left = residents
    planned = int(per_grid.sum())
    made = 0
    for leaf, n_h in zip(service, per_grid):
        v = leaf.village
        interior = leaf.geom_xy.buffer(-15)
        if interior.is_empty:
            interior = leaf.geom_xy.buffer(-3)
        n_streets = int(np.clip(n_h // 25, 1, 4))
        streets = []
        for k in range(n_streets):
            line = _street_line(interior, rng, horizontal=k % 2 == 0)
            if line is not None:
                name = next(names_by_village[v.code])
                streets.append((name, line))
                reg.streets.append({"village_code": v.code, "name": name, "geom_xy": line})
        slots = _door_slots(leaf, streets, n_h, rng)
        for street, door, pt, building, unit, room in slots:
            made += 1
            remaining_households = planned - made
            size = int(np.clip(rng.poisson(1.9) + 1, 1, 7))
            if remaining_households == 0:
                size = max(1, residents_left)
            size = max(1, min(size, residents_left - remaining_households))
            residents_left -= size
            parts = {
                "province": PROVINCE, "city": CITY, "county": COUNTY, "town": TOWN_NAME,
                "village": v.name, "village_code": v.code, "group_name": leaf.group if v.kind == "village" else None,
                "street": street, "door_number": door, "building": building, "unit": unit, "room": room,
            }
            reg.addresses.append({**parts, "full_text": full_address(parts), "geom_xy": pt, "grid_code": leaf.code})
            reg.households.append(
                {"address": len(reg.addresses) - 1, "head_name": _name(rng), "residents": size,
                 "key_person": bool(rng.random() < 0.03), "grid_code": leaf.code}
            )


def full_address(parts: dict) -> str:
    """The standard address text: 省市县镇 + 村/社区 + 组 + 街巷 + 门牌号 [+ 楼栋单元户]."""
    text = "".join(parts[k] or "" for k in ("province", "city", "county", "town", "village", "group_name"))
    if parts["street"]:
        text += f"{parts['street']}{parts['door_number']}号"
    if parts["building"]:
        text += f"{parts['building']}号楼{parts['unit']}单元{parts['room']}室"
    return text


def _door_slots(leaf: LeafGrid, streets, n_h: int, rng: np.random.Generator):
    """Where the households of one service grid live: door numbers along its streets (odd on
    the left, even on the right), or flats in numbered buildings in a community."""
    grid = leaf.geom_xy
    shapely.prepare(grid)
    if not streets:
        pts = partition.random_points_in(grid.buffer(-3) if not grid.buffer(-3).is_empty else grid, n_h, rng)
        return [(None, None, Point(p), None, None, None) for p in pts]
    out = []
    community = leaf.village.kind == "community"
    if community:
        # a compound per street, gate number on the street, buildings of 2-3 units, 6 floors
        per_street = int(np.ceil(n_h / len(streets)))
        for name, line in streets:
            gate = int(rng.integers(1, 60))
            flats = []
            for b in range(1, 40):
                for u in range(1, 4):
                    for floor in range(1, 7):
                        for door in (1, 2):
                            flats.append((b, u, floor * 100 + door))
            for j in range(min(per_street, n_h - len(out))):
                b, u, room = flats[j]
                pos = line.interpolate((b - 0.5) / (per_street / 24 + 1), normalized=True)
                out.append((name, gate, pos, str(b), str(u), str(room)))
        return out
    per_street = int(np.ceil(n_h / len(streets)))
    for name, line in streets:
        pairs = int(np.ceil(per_street / 2))
        for j in range(per_street):
            if len(out) >= n_h:
                break
            k = j // 2
            side = 1 if j % 2 == 0 else -1
            door = 2 * k + (1 if side == 1 else 2)
            pos = line.interpolate((k + 0.5) / pairs, normalized=True)
            a = line.interpolate(max(0.0, (k + 0.5) / pairs - 0.01), normalized=True)
            b = line.interpolate(min(1.0, (k + 0.5) / pairs + 0.01), normalized=True)
            dx, dy = b.x - a.x, b.y - a.y
            norm = np.hypot(dx, dy) or 1.0
            pt = Point(pos.x - side * 10 * dy / norm, pos.y + side * 10 * dx / norm)
            if not grid.contains(pt):
                pt = pos
            out.append((name, door, pt, None, None, None))
    while len(out) < n_h:  # streets too short for everyone: more doors at the far end
        name, line = streets[len(out) % len(streets)]
        out.append((name, 200 + len(out), line.interpolate(rng.uniform(0, 1), normalized=True), None, None, None))
    return out


def _points_in(leaf: LeafGrid, n: int, rng) -> np.ndarray:
    inner = leaf.geom_xy.buffer(-5)
    return partition.random_points_in(inner if not inner.is_empty else leaf.geom_xy, n, rng)


def _enterprises(geo: DemoGeometry, reg: Registry, rng: np.random.Generator) -> None:
    park = [l for l in geo.leaves if l.level == "regional" and l.zone_code.endswith(("E01", "E02", "E03"))]
    regional = [l for l in geo.leaves if l.level == "regional" and l not in park]
    service = [l for l in geo.leaves if l.level == "service"]
    names, weights = zip(*INDUSTRIES)
    p = np.array(weights, float) / sum(weights)
    n_park = int(ENTERPRISES * 0.75)
    n_regional = int(ENTERPRISES * 0.2)
    plan = [(park, n_park), (regional, n_regional), (service, ENTERPRISES - n_park - n_regional)]
    serial = 0
    for pool, n in plan:
        idx = rng.integers(0, len(pool), n)
        for leaf_i in idx:
            leaf = pool[leaf_i]
            serial += 1
            industry = names[rng.choice(len(names), p=p)]
            word = "".join(INDUSTRY_WORDS[rng.integers(len(INDUSTRY_WORDS))] for _ in range(2))
            suffix = "有限公司" if rng.random() < 0.8 else "经营部"
            reg.enterprises.append(
                {"name": f"晋城市{word}{industry}{suffix}（{serial:04d}）", "industry": industry,
                 "employees": int(np.clip(rng.lognormal(3.0, 1.0), 2, 2000)),
                 "address": f"{PROVINCE}{CITY}{COUNTY}{TOWN_NAME}{leaf.village.name}",
                 "grid_code": leaf.code, "zone_code": leaf.zone_code, "geom_xy": Point(_points_in(leaf, 1, rng)[0])}
            )


def _hazards(geo: DemoGeometry, reg: Registry, rng: np.random.Generator, found_before_days: int = 730) -> None:
    regional = [l for l in geo.leaves if l.level == "regional"]
    service = [l for l in geo.leaves if l.level == "service"]
    n_regional = int(HAZARDS * 0.8)
    for i in range(HAZARDS):
        leaf = regional[rng.integers(len(regional))] if i < n_regional else service[rng.integers(len(service))]
        kind = HAZARD_TYPES[rng.integers(len(HAZARD_TYPES))]
        level = rng.choice(["general", "major", "severe"], p=[0.8, 0.17, 0.03])
        status = rng.choice(["open", "remediating", "resolved"], p=[0.25, 0.3, 0.45])
        reg.hazards.append(
            {"type": kind, "level": str(level), "status": str(status),
             "description": f"{leaf.village.name}{HAZARD_ZH[kind]}隐患",
             "grid_code": leaf.code, "days_ago": int(rng.integers(1, found_before_days)),
             "geom_xy": Point(_points_in(leaf, 1, rng)[0])}
        )


# Shares for the vulnerable (migration 0031 defines the columns): an older rural town whose
# young adults work away. Of the one-person households, 35% are a person over 70 living alone;
# every resident is disabled with 2% chance, or else bedridden with 0.7%; one household in
# twenty-five of three or more keeps children whose parents work away (留守儿童).
ELDERLY_ALONE_SHARE, DISABLED_RATE, BEDRIDDEN_RATE, CHILDREN_SHARE = 0.35, 0.02, 0.007, 0.04


def _vulnerable(reg: Registry, seed: int) -> None:
    """Flag the vulnerable of every household, from a random stream of their own (seed + 4000),
    so the rest of the demo stays as it was. A person is counted once (``vulnerable`` <=
    ``residents``), and an elderly person living alone is the whole household."""
    rng = np.random.default_rng(seed + 4000)
    for h in reg.households:
        n = h["residents"]
        alone = n == 1 and bool(rng.random() < ELDERLY_ALONE_SHARE)
        others = n - int(alone)
        disabled = int(rng.binomial(others, DISABLED_RATE))
        bedridden = int(rng.binomial(others - disabled, BEDRIDDEN_RATE))
        children = 0
        if n >= 3 and rng.random() < CHILDREN_SHARE:
            children = int(min(rng.integers(1, 3), n - 1 - disabled - bedridden))
        h.update(elderly_alone=alone, disabled=disabled, bedridden=bedridden,
                 children_unattended=max(0, children))


def build(geo: DemoGeometry, seed: int, residents: int = RESIDENTS) -> Registry:
    """Everyone and everything in the demo town, for ``seed`` (deterministic), with exactly
    ``residents`` people in its households (ValueError outside RESIDENTS_MIN..RESIDENTS_MAX)."""
    check_residents(residents)
    rng = np.random.default_rng(seed + 1000)
    reg = Registry()
    _people(geo, reg, rng)
    _households(geo, reg, rng, residents)
    _enterprises(geo, reg, rng)
    _hazards(geo, reg, rng)
    _vulnerable(reg, seed)
    return reg


def check_residents(residents: int) -> None:
    """ValueError naming ``residents`` when the demo cannot draw that many."""
    if isinstance(residents, bool) or not isinstance(residents, int) or not (
            RESIDENTS_MIN <= residents <= RESIDENTS_MAX):
        raise ValueError(f"residents was {residents!r} but the demo draws between "
                         f"{RESIDENTS_MIN:,} and {RESIDENTS_MAX:,} (86,000 is the town's "
                         "resident population)")


__all__ = ["Registry", "build", "check_residents", "full_address", "TOWN_CODE"]
