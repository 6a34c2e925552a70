"""The demo's patrol targets the registry lacks — shops, key persons, key places — and about
a month of past visits (from the first day of last month to now), so the due list and the
compliance figures have something to show: some grids diligent, some poor.

Drawn from its own random stream (seed + 3000), so the rest of the demo is unchanged; written
with COPY in the load's transaction.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta

import numpy as np
from pyproj import Geod

from demo.geometry import CENTER_VILLAGES, TOWN_CODE, DemoGeometry
from demo.registry import (
    CITY, COUNTY, INDUSTRY_WORDS, PROVINCE, TOWN_NAME, Registry, _name, _points_in,
)
from field.rules import period, rules

SHOP_KINDS = ("便利店", "小超市", "餐馆", "理发店", "五金店", "药店", "农资店", "手机维修",
              "服装店", "早餐店")
KEY_PERSON_CATEGORIES = (("独居老人", 0.4), ("精神障碍患者", 0.15), ("社区矫正", 0.1),
                         ("重点信访人员", 0.15), ("留守儿童", 0.12), ("刑满释放人员", 0.08))
_WGS84 = Geod(ellps="WGS84")


def _lonlat(geo: DemoGeometry, xy: np.ndarray) -> np.ndarray:
    from demo.geometry import _TO_LONLAT

    lon, lat = _TO_LONLAT.transform(xy[:, 0], xy[:, 1])
    return np.column_stack([lon, lat])


def _shops(geo: DemoGeometry, rng) -> list[dict]:
    out = []
    for leaf in geo.leaves:
        if leaf.level != "service":
            continue
        busy = leaf.village.kind == "community" or leaf.village.name in CENTER_VILLAGES
        n = int(rng.integers(4, 9) if busy else rng.integers(1, 4))
        for xy in _points_in(leaf, n, rng):
            kind = SHOP_KINDS[rng.integers(len(SHOP_KINDS))]
            word = "".join(INDUSTRY_WORDS[rng.integers(len(INDUSTRY_WORDS))] for _ in range(2))
            out.append({"name": f"{word}{kind}", "kind": kind, "owner_name": _name(rng),
                        "address": f"{PROVINCE}{CITY}{COUNTY}{TOWN_NAME}{leaf.village.name}",
                        "grid_code": leaf.code, "xy": xy})
    return out


def _key_places(geo: DemoGeometry, rng) -> list[dict]:
    service = {v.code: [l for l in geo.leaves if l.village.code == v.code and l.level == "service"]
               for v in geo.villages}
    regional = [l for l in geo.leaves if l.level == "regional"]
    plan = []
    for v in geo.villages:
        leaves = service[v.code]
        if not leaves:
            continue
        plan.append((leaves, f"{v.name}卫生室", "卫生室"))
        if v.kind == "village" and rng.random() < 0.7:
            plan.append((leaves, f"{v.name}小学", "学校"))
        if rng.random() < 0.4:
            plan.append((leaves, f"{v.name}幼儿园", "幼儿园"))
    centre = [l for v in geo.villages if v.name in CENTER_VILLAGES for l in service[v.code]]
    for i in range(4):
        plan.append((centre, f"巴公第{'一二三四'[i]}集贸市场", "集贸市场"))
    for i in range(3):
        plan.append((centre, f"巴公镇第{'一二三'[i]}敬老院", "养老院"))
    for i in range(8):
        plan.append((regional, f"巴公{'东西南北'[i % 4]}加油站（{i + 1:02d}）", "加油站"))
    out = []
    for pool, name, kind in plan:
        leaf = pool[rng.integers(len(pool))]
        out.append({"name": name, "kind": kind, "grid_code": leaf.code,
                    "address": f"{PROVINCE}{CITY}{COUNTY}{TOWN_NAME}{leaf.village.name}",
                    "xy": _points_in(leaf, 1, rng)[0]})
    return out


def _key_persons(reg: Registry, household_ids: list[int], rng) -> list[dict]:
    names, weights = zip(*KEY_PERSON_CATEGORIES)
    p = np.array(weights) / sum(weights)
    out = []
    for h, hid in zip(reg.households, household_ids):
        if not h["key_person"]:
            continue
        out.append({"name": h["head_name"] if rng.random() < 0.5 else _name(rng),
                    "category": names[rng.choice(len(names), p=p)], "household_id": hid,
                    "address_index": h["address"], "grid_code": h["grid_code"]})
    return out


def _diligence(grid_codes: list[str], rng) -> dict[str, float]:
    """How reliably each grid's workers visit: a third diligent, half middling, the rest poor."""
    out = {}
    for code in grid_codes:
        u = rng.random()
        out[code] = (rng.uniform(0.9, 1.0) if u < 0.35 else rng.uniform(0.6, 0.9) if u < 0.8
                     else rng.uniform(0.15, 0.5))
    return out


def _visits(targets: list[tuple], workers: dict[str, list[int]], now: datetime, rng) -> list[tuple]:
    """Visits of ``targets`` (type, id, grid_code, lon, lat) in every period from the first of
    last month to ``now``; each period met with the grid's diligence."""
    start = (now.date().replace(day=1) - timedelta(days=1)).replace(day=1)
    diligence = _diligence(sorted({t[2] for t in targets}), rng)
    every = {r.type: r.every for r in rules().values()}
    periods = {}
    for kind in ("month", "week"):
        p, found = period(kind, now.date()), []
        while p.ends_before > start:
            found.append(p)
            p = period(kind, p.starts_on - timedelta(days=1))
        periods[kind] = found
    rows = []
    for type_, id_, grid, lon, lat in targets:
        for p in periods[every[type_]]:
            begin = max(p.starts_at, datetime.combine(start, datetime.min.time(), now.tzinfo))
            end = min(p.ends_at, now)
            if end <= begin:
                continue
            # a period still running has had only part of its time to be met
            share = (end - begin) / (p.ends_at - p.starts_at)
            if rng.random() >= diligence[grid] * min(1.0, 0.3 + share):
                continue
            at = begin + (end - begin) * float(rng.uniform(0.05, 0.95))
            daytime = at.replace(hour=int(rng.integers(8, 18)), minute=int(rng.integers(60)))
            at = daytime if begin <= daytime < end else at  # in working hours where it fits
            far = rng.random() < 0.05
            dist = float(rng.uniform(110, 400) if far else abs(rng.normal(0, 18)))
            vlon, vlat, _ = _WGS84.fwd(lon, lat, float(rng.uniform(0, 360)), dist)
            accuracy = float(np.clip(rng.lognormal(2.3, 0.5), 3, 80))
            outcome = "problem" if rng.random() < 0.03 else "ok"
            who = workers.get(grid) or [None]
            vid = uuid.UUID(bytes=rng.bytes(16), version=4)
            rows.append((str(vid), TOWN_CODE, type_, id_, grid, None, who[rng.integers(len(who))],
                         at, min(now, at + timedelta(minutes=int(rng.integers(0, 90)))),
                         vlon, vlat,
                         "wgs84", round(accuracy, 1), round(dist, 2), dist > 100.0,
                         "发现问题，已当场处理" if outcome == "problem" else None, outcome,
                         hashlib.sha256(f"demo:{vid}".encode()).hexdigest()))
    return rows


VISIT_COLUMNS = ("id", "town_code", "target_type", "target_id", "grid_code", "account_id",
                 "person_id", "visited_at", "received_at", "lon", "lat", "input_crs",
                 "accuracy_m", "distance_m", "far", "note", "outcome", "request_hash")


def write(conn, geo: DemoGeometry, reg: Registry, seed: int, now: datetime) -> dict:
    """Write shops, key persons, key places and the past visits; their counts."""
    rng = np.random.default_rng(seed + 3000)
    shops, places = _shops(geo, rng), _key_places(geo, rng)
    household_ids = [r[0] for r in conn.execute("SELECT id FROM households ORDER BY id")]
    address_ids = [r[0] for r in conn.execute("SELECT id FROM addresses ORDER BY id")]
    persons = _key_persons(reg, household_ids, rng)
    with conn.cursor() as cur:
        for table, rows in (("shops", shops), ("key_places", places)):
            ll = _lonlat(geo, np.array([r["xy"] for r in rows]))
            extra = "owner_name, " if table == "shops" else ""
            with cur.copy(f"COPY {table} (name, kind, {extra}address, grid_code, town_code, geom) "
                          "FROM STDIN") as copy:
                for r, (lon, lat) in zip(rows, ll):
                    values = [r["name"], r["kind"]] + ([r["owner_name"]] if extra else [])
                    copy.write_row((*values, r["address"], r["grid_code"], TOWN_CODE,
                                    f"SRID=4326;POINT({lon:.8f} {lat:.8f})"))
        with cur.copy("COPY key_persons (name, category, household_id, address_id, grid_code, "
                      "town_code) FROM STDIN") as copy:
            for k in persons:
                copy.write_row((k["name"], k["category"], k["household_id"],
                                address_ids[k["address_index"]], k["grid_code"], TOWN_CODE))
        targets = [(r[0], int(r[1]), r[2], r[3], r[4]) for r in conn.execute(
            "SELECT type, id, grid_code, ST_X(geom), ST_Y(geom) FROM visit_targets "
            "ORDER BY type, id")]
        workers: dict[str, list[int]] = {}
        for a in reg.assignments:
            if a["role"] == "worker":
                workers.setdefault(a["grid_code"], []).append(a["person_id"])
        visits = _visits(targets, workers, now, rng)
        with cur.copy(f"COPY visits ({', '.join(VISIT_COLUMNS)}) FROM STDIN") as copy:
            for row in visits:
                copy.write_row(row)
    return {"shops": len(shops), "key_persons": len(persons), "key_places": len(places),
            "visits": len(visits)}
