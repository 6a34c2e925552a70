"""The routing decision: where a new case goes, decided by how precisely its position is known.

- A point given as coordinates (``point``), or an address matched to a door or a street, is
  routed to the leaf grid (regional or service) that covers it: queue ``grid``.
- An address matched only to a village goes to that village's administrative grid: queue
  ``village``. It is never guessed down to a leaf grid: a village's centre point says nothing
  about which of its grids the matter is in, and the village center triages it.
- An address matched only to the town goes to the town center's queue: queue ``town``.

The decision records its inputs (CRS, geocode precision, score, match) and a readable sentence
saying why the case went where it went. Points on a shared edge are given to one grid by the
rule of boundaries.locate (the smaller code wins) and flagged ``on_boundary``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from boundaries import locate as locator
from cases import geocoding, repository
from cases.errors import AddressNotFound, OutsideCoverage
from geo import crs as crs_mod

LEVEL_WORDS = {"regional": "regional grid", "service": "service grid", "admin": "administrative grid"}
CRS_WORDS = {"wgs84": "WGS 84", "cgcs2000": "CGCS2000", "gcj02": "GCJ-02", "bd09": "BD-09"}


@dataclass
class RoutingDecision:
    """Where a case goes and why. ``lon``/``lat`` are WGS 84 (what is stored)."""

    lon: float
    lat: float
    input_crs: str
    precision: str  # point | door | street | village | town (cases.models.PRECISIONS)
    queue: str  # grid | village | town (cases.models.QUEUES)
    town: dict[str, Any]
    zone: dict[str, Any] | None
    admin: dict[str, Any] | None
    leaf: dict[str, Any] | None
    reason: str
    on_boundary: bool = False
    score: float | None = None
    matched: str | None = None
    input_lonlat: tuple[float, float] | None = None  # as sent, in ``input_crs``
    workers_on_duty: list[dict[str, Any]] = field(default_factory=list)
    leader: dict[str, Any] | None = None
    geocode: dict[str, Any] | None = None  # the geocoder's full result, for the record
    # the town's latest boundary version the routing saw (None: routed to no grid); the
    # intake's insert refuses the case when a publish has made a newer one since
    boundary_version: int | None = None

    @property
    def grid_code(self) -> str | None:
        """The leaf grid for queue ``grid``, the administrative grid for ``village``."""
        if self.queue == "grid" and self.leaf:
            return self.leaf["code"]
        if self.queue in ("grid", "village") and self.admin:
            return self.admin["code"]
        return None

    @property
    def grid_version(self) -> int | None:
        unit = self.leaf if self.queue == "grid" and self.leaf else self.admin
        return unit.get("version") if unit else None

    def hierarchy(self) -> dict[str, Any]:
        """The grid hierarchy as the API shows it: town, zone, admin, leaf."""
        return {"town": self.town, "zone": self.zone, "admin": self.admin, "leaf": self.leaf}

    def record(self) -> dict[str, Any]:
        """The decision as JSON-ready data (kept in the case's ``created`` event)."""
        return {
            "queue": self.queue,
            "grid": {level: _json_unit(unit) for level, unit in self.hierarchy().items()},
            "on_boundary": self.on_boundary,
            "reason": self.reason,
            "geocode": {
                "precision": self.precision, "score": self.score, "matched": self.matched,
                "input_crs": self.input_crs,
                "input": list(self.input_lonlat) if self.input_lonlat else None,
                "lon": self.lon, "lat": self.lat,
                "result": self.geocode,
            },
        }


def _json_unit(unit: dict[str, Any] | None) -> dict[str, Any] | None:
    # only boundary versions carry a date (valid_from); the rest is JSON already
    if unit is None:
        return None
    return {k: v.isoformat() if isinstance(v, (datetime, date)) else v for k, v in unit.items()}


def _fmt(lon: float, lat: float) -> str:
    return f"({lon:.6f}, {lat:.6f})"


def _unit_words(unit: dict[str, Any], level: str) -> str:
    version = f", version {unit['version']}" if unit.get("version") is not None else ""
    return f"{LEVEL_WORDS.get(level, level)} {unit['code']} ({unit['name']}{version})"


def _from_location(loc: locator.Location, where: str, **kw: Any) -> RoutingDecision:
    """A decision from a located point: its leaf grid, or its administrative grid when no leaf
    grid covers it (a gap in the leaf coverage)."""
    if loc.leaf is not None:
        reason = f"{where} lies in {_unit_words(loc.leaf, loc.leaf.get('level', 'leaf'))}"
        if loc.on_boundary:
            others = [code for code in loc.candidates if code != loc.leaf["code"]]
            if others:
                reason += f"; on the edge it shares with {', '.join(others)}, the smaller code wins"
            else:
                reason += "; on the town's outer edge"
        queue = "grid"
    else:
        reason = (f"{where} lies in {_unit_words(loc.admin, 'admin')} but in none of its leaf "
                  f"grids: routed to the village center")
        queue = "village"
    return RoutingDecision(
        queue=queue, town=loc.town, zone=loc.zone, admin=loc.admin, leaf=loc.leaf,
        on_boundary=bool(loc.on_boundary), reason=reason,
        workers_on_duty=list(loc.workers_on_duty or []) if queue == "grid" else [],
        leader=loc.leader, boundary_version=loc.boundary_version, **kw,
    )


def _outside(exc: locator.OutsideCoverage, where: str) -> OutsideCoverage:
    if exc.nearest_code is None:
        return OutsideCoverage(f"{where} is outside coverage: no grids are loaded",
                               {"nearest": None, "distance_m": None})
    nearest = {"code": exc.nearest_code, "name": exc.nearest_name, "level": exc.nearest_level}
    distance = round(float(exc.distance_m), 1) if exc.distance_m is not None else None
    return OutsideCoverage(
        f"{where} is outside the town: the nearest grid is {exc.nearest_code} "
        f"({exc.nearest_name}), {distance} m away",
        {"nearest": nearest, "distance_m": distance},
    )


def _where(lon: float, lat: float, wlon: float, wlat: float, crs: str) -> str:
    """The point as a routing reason names it: as sent, and in WGS 84 when it was converted."""
    where = f"point {_fmt(lon, lat)}"
    if crs not in ("wgs84", "cgcs2000"):
        where += f" in {CRS_WORDS.get(crs, crs)}, {_fmt(wlon, wlat)} in WGS 84,"
    return where


def route_point(session: Session, lon: float, lat: float, crs: str = "wgs84") -> RoutingDecision:
    """Route a point given in ``crs`` (one of geo.crs.POINT_CRS) to the leaf grid covering it.

    Raises cases.errors.OutsideCoverage (with the nearest grid and its distance) when no town
    covers the point.
    """
    wlon, wlat = crs_mod.to_wgs84(lon, lat, crs)
    where = _where(lon, lat, wlon, wlat, crs)
    try:
        loc = locator.locate(session, wlon, wlat)
    except locator.OutsideCoverage as exc:
        raise _outside(exc, where) from exc
    return _from_location(
        loc, where, lon=wlon, lat=wlat, input_crs=crs, precision="point",
        input_lonlat=(lon, lat),
    )


def route_points(
    session: Session, points: list[tuple[float, float, str]],
) -> list[RoutingDecision | OutsideCoverage]:
    """Route each ``(lon, lat, crs)`` of ``points`` as :func:`route_point` does, in one round
    trip for all the points inside the town: its decision, or for a point outside the town the
    OutsideCoverage route_point raises (returned, not raised, so one point does not spoil the
    others). ValueError for an unknown crs, as route_point."""
    wgs84 = [crs_mod.to_wgs84(lon, lat, crs) for lon, lat, crs in points]
    located = locator.locate_many(session, wgs84)
    out: list[RoutingDecision | OutsideCoverage] = []
    for (lon, lat, crs), (wlon, wlat), loc in zip(points, wgs84, located, strict=True):
        if loc is None:
            # rare: routed alone, for the nearest grid that route_point's refusal names
            try:
                out.append(route_point(session, lon, lat, crs))
            except OutsideCoverage as exc:
                out.append(exc)
            continue
        out.append(_from_location(loc, _where(lon, lat, wlon, wlat, crs), lon=wlon, lat=wlat,
                                  input_crs=crs, precision="point", input_lonlat=(lon, lat)))
    return out


def route_address(session: Session, address: str) -> RoutingDecision:
    """Geocode ``address`` and route it as far down as its precision allows.

    Raises AddressNotFound when the geocoder matches nothing.
    """
    result = geocoding.geocode(session, address)
    if result is None:
        raise AddressNotFound(
            f"the address {address!r} matched nothing in the standard address base",
            {"address": address},
        )
    kw = {
        "lon": float(result.lon), "lat": float(result.lat), "input_crs": "wgs84",
        "precision": result.precision, "score": result.score, "matched": result.matched,
        "geocode": result.to_dict(),
    }
    score = f", score {result.score:.1f}" if result.score is not None else ""
    said = f"address matched {result.precision} {result.matched!r}{score}"
    if result.precision in ("door", "street"):
        where = f"{said}; its point {_fmt(result.lon, result.lat)}"
        try:
            return _from_location(locator.locate(session, result.lon, result.lat), where, **kw)
        except locator.OutsideCoverage:
            # the address base put the point outside every grid: fall back to what the text says
            said += f"; its point {_fmt(result.lon, result.lat)} is outside the town"
            if result.village_code:
                return _to_village(session, result.village_code, said, kw)
            return _to_town(session, said, kw)
    if result.precision == "village" and result.village_code:
        return _to_village(session, result.village_code, said, kw)
    return _to_town(session, said, kw)


def _to_village(session: Session, village_code: str, said: str, kw: dict) -> RoutingDecision:
    row = repository.admin_grid(session, village_code + "000")
    if row is None:
        return _to_town(session, said + f"; village {village_code} has no current administrative grid", kw)
    admin = {"code": row["code"], "name": row["name"], "version": row["version"],
             "valid_from": row["valid_from"]}
    zone = ({"code": row["zone_code"], "name": row["zone_name"], "kind": row["zone_kind"]}
            if row["zone_code"] else None)
    leader = ({"id": row["leader_id"], "name": row["leader_name"], "phone": row["leader_phone"],
               "title": row["leader_title"]} if row["leader_id"] else None)
    reason = (f"{said}: routed to {_unit_words(admin, 'admin')}, not guessed down to a leaf grid; "
              "the village center triages it")
    return RoutingDecision(
        queue="village", town={"code": row["town_code"], "name": row["town_name"]}, zone=zone,
        admin=admin, leaf=None, reason=reason, leader=leader,
        boundary_version=row["boundary_version"], **kw,
    )


def _to_town(session: Session, said: str, kw: dict) -> RoutingDecision:
    town = repository.town_at(session, kw["lon"], kw["lat"])
    if town is None:
        raise AddressNotFound(f"{said}, but no town is loaded to route it to", None)
    reason = f"{said}: routed to the town center's queue of {town['name']} ({town['code']})"
    return RoutingDecision(queue="town", town=dict(town), zone=None, admin=None, leaf=None,
                           reason=reason, **kw)


_LEVEL_ZH = {"regional": "区域网格", "service": "服务网格", "admin": "行政网格", "leaf": "网格"}
_PRECISION_ZH = {"door": "门牌", "street": "街巷", "village": "村", "town": "镇"}


def reason_zh(view: dict[str, Any]) -> str | None:
    """The routing decision in Chinese, for the case page, from what intake recorded (the
    hierarchy, queue, boundary flag and geocoding of ``cases.intake.case_summary``); None
    when the case did not come through intake. The stored ``reason`` (English, with every
    code and coordinate) stays the record; this says the same for a Chinese reader."""
    grid, queue, geocode = view.get("grid") or {}, view.get("queue"), view.get("geocode") or {}
    if queue not in ("grid", "village", "town"):
        return None
    precision = geocode.get("precision")
    if precision == "point" or precision is None:
        where = "上报坐标"
        if geocode.get("lon") is not None:
            where += f"（{geocode['lon']:.6f}, {geocode['lat']:.6f}）"
        crs = geocode.get("input_crs")
        if crs not in (None, "wgs84", "cgcs2000"):
            where += f"（由 {CRS_WORDS.get(crs, crs)} 换算为 WGS 84）"
    else:
        score = geocode.get("score")
        where = (f"地址匹配到{_PRECISION_ZH.get(precision, precision)}级「{geocode.get('matched')}」"
                 + (f"（匹配度 {score:.1f}）" if score is not None else ""))

    def unit(u: dict[str, Any] | None, level: str) -> str:
        if not u:
            return ""
        return f"{_LEVEL_ZH.get(u.get('level') or level, '网格')} {u['code']}（{u['name']}）"

    leaf, admin, town = grid.get("leaf"), grid.get("admin"), grid.get("town") or {}
    if queue == "grid" and leaf:
        text_ = f"{where}位于{unit(leaf, 'leaf')}，由该网格的网格员办理"
        if view.get("on_boundary"):
            text_ += "；该点在网格边界上，按规则分给编码较小的网格"
        return text_
    if queue == "village" and admin:
        if precision in ("point", "door", "street", None):
            return f"{where}位于{unit(admin, 'admin')}内，但不在其任何单元网格中：交村便民服务中心分拣"
        return f"{where}：分派至{unit(admin, 'admin')}，不再猜测到单元网格，由村便民服务中心分拣"
    if queue == "town":
        # a town's name ends in 镇 (or 乡, 街道) already: 巴公镇指挥中心
        return f"{where}：进入{town.get('name') or '镇'}指挥中心的待办队列"
    return None
