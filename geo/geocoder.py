"""An offline geocoder over the standard address table: a free-text address → a point, the
level it is precise to, how sure we are, and the standard address it matched.

Matching goes level by level (DOMAIN.md, "Addresses"): the administrative prefixes must be
ours or absent, then the village, then the street inside that village, then the door number
on that street. Each level is matched fuzzily (rapidfuzz ratio plus a homophone rule, see
geo.address.similarity), and a level that does not match stops the descent: the result is
only as precise as the last level that matched. Precision is what routing relies on, so it is
never guessed:

- ``door``: the door number exists on the street, or lies between two known doors on the same
  side of it (``interpolated``);
- ``street``: the street matched but the door is absent, unknown or outside the known range;
- ``village``: only the village or community matched;
- ``town``: only the town (or the county/city above it, with nothing below) matched.

An address that names another province, city, county or town, or a village we do not have,
gets no match at all rather than a point forced into our town.

The score (0–100) is how sure the match is, not how precise: the product of the name
similarities of the levels matched, times 0.9 for each thing the text says that the match
does not explain (a door past the end of the street, a group the street is not in, a building
that is not there, trailing words), 0.9 for an interpolated door, 0.85 for a village inferred
from a street name unique in the town, 0.95 for a homophone typo in an administrative name.

Pure (DESIGN.md): the index is built from plain rows; cases.geocoding reads them from PostGIS.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from geo.address import (
    NameSet,
    ParsedAddress,
    load_sounds,
    name_key,
    parse,
    parse_local,
    similarity,
)

EARTH_RADIUS_M = 6_371_008.8
VILLAGE_MIN, STREET_MIN = 70.0, 60.0  # below these a name is not ours
INTERPOLATED, PART_UNEXPLAINED, INFERRED_VILLAGE = 0.9, 0.9, 0.85
# A town-level result's score by the most local administrative name the text gave.
TOWN_SCORE = {"town": 100.0, "county": 70.0, "city": 60.0, "province": 50.0}
# Words after an address that say where, not what: no penalty for them.
QUALIFIERS = ("附近", "对面", "旁边", "门口", "门前", "后面", "东侧", "西侧", "南侧", "北侧", "一带", "处")


@dataclass
class GeocodeResult:
    """A geocoded address: a WGS 84 point and how far it can be trusted."""

    lon: float
    lat: float
    precision: str  # door | street | village | town
    score: float  # 0–100, how sure the match is
    matched: str  # the standard address, street, village or town name matched
    village_code: str | None = None
    village: str | None = None
    street: str | None = None
    door_number: int | None = None
    interpolated: bool = False
    parsed: dict = field(default_factory=dict)
    address_id: int | None = None  # the standard address row, when exactly one matched

    def to_dict(self) -> dict:
        """A JSON-able dict: coordinates to 7 decimals (~1 cm), score to 1."""
        out = asdict(self)
        out["lon"], out["lat"] = round(self.lon, 7), round(self.lat, 7)
        out["score"] = round(self.score, 1)
        return out


@dataclass
class _Street:
    village_code: str
    name: str
    key: str
    line: np.ndarray | None = None  # local metres, (n, 2)
    rows: list[int] = field(default_factory=list)
    doors: dict[int, list[int]] = field(default_factory=dict)
    groups: set[int] = field(default_factory=set)


@dataclass
class _Village:
    code: str
    name: str
    key: str
    xy: tuple[float, float]
    streets: dict[str, _Street] = field(default_factory=dict)  # by key


class AddressIndex:
    """Standard addresses, streets and villages of one town, indexed for geocoding.

    Rows are plain mappings:
    - ``addresses``: id, full_text, village_code, village, group_name, street, door_number,
      building, unit, room, lon, lat (and anything else, returned by ``reverse``);
    - ``streets``: village_code, name, coords (a sequence of (lon, lat), or None);
    - ``villages``: code (12 digits), name, lon, lat (the point a village-level result gets);
    - ``town``: name, county, city, province, lon, lat.
    """

    def __init__(self, addresses: Iterable[Mapping], streets: Iterable[Mapping],
                 villages: Iterable[Mapping], town: Mapping):
        load_sounds()  # now, not inside the first request that meets a typo
        self.town = dict(town)
        lat0 = math.radians(float(town["lat"]))
        self._origin = (float(town["lon"]), float(town["lat"]))
        self._k = (EARTH_RADIUS_M * math.cos(lat0) * math.pi / 180, EARTH_RADIUS_M * math.pi / 180)
        self.rows = [dict(r) for r in addresses]
        lonlat = np.array([(r["lon"], r["lat"]) for r in self.rows], dtype=float).reshape(-1, 2)
        self._xy = self._to_xy(lonlat)
        self.villages: dict[str, _Village] = {}
        for v in villages:
            xy = self._to_xy(np.array([[v["lon"], v["lat"]]], dtype=float))[0]
            self.villages[v["code"]] = _Village(v["code"], v["name"], name_key(v["name"]), (xy[0], xy[1]))
        self._village_names = NameSet([(v.key, code) for code, v in self.villages.items()], stems=True)
        for s in streets:
            village = self.villages.get(s["village_code"])
            if village is None:
                continue
            street = self._street(village, s["name"])
            coords = s.get("coords")
            if coords is not None and len(coords) >= 2:
                line = self._to_xy(np.asarray(coords, dtype=float))
                if street.line is None or _length(line) > _length(street.line):
                    street.line = line  # a street cut into pieces: interpolate on its longest
        groups: dict[str, int | None] = {}  # 三组 → 3, parsed once per name
        for i, r in enumerate(self.rows):
            village = self.villages.get(r.get("village_code") or "")
            if village is None or not r.get("street"):
                continue
            street = self._street(village, r["street"])
            street.rows.append(i)
            if r.get("door_number") is not None:
                street.doors.setdefault(int(r["door_number"]), []).append(i)
            if r.get("group_name"):
                if r["group_name"] not in groups:
                    groups[r["group_name"]] = parse_local(r["group_name"]).group
                group = groups[r["group_name"]]
                if group is not None:
                    street.groups.add(group)
        self._street_names = {code: NameSet([(k, k) for k in v.streets]) for code, v in self.villages.items()}
        # every street of the town, for an address that names a street but no village
        self._town_streets = NameSet([(k, code) for code, v in self.villages.items() for k in v.streets])
        self._aliases = _aliases(self.town)
        self._ours = {level: self.town.get(level) for level in ("province", "city", "county", "town")}
        self._ours["town"] = self.town["name"]

    def _street(self, village: _Village, name: str) -> _Street:
        key = name_key(name)
        if key not in village.streets:
            village.streets[key] = _Street(village.code, name, key)
        return village.streets[key]

    # -- coordinates: a local equirectangular frame, metres, accurate to well under 0.1 % over a town

    def _to_xy(self, lonlat: np.ndarray) -> np.ndarray:
        return (lonlat - np.array(self._origin)) * np.array(self._k)

    def _to_lonlat(self, xy) -> tuple[float, float]:
        return (float(xy[0] / self._k[0] + self._origin[0]), float(xy[1] / self._k[1] + self._origin[1]))

    # -- geocoding

    def geocode(self, text: str) -> GeocodeResult | None:
        """The best match for a free-text address, or None when it is not in this town."""
        p = parse(text, self._aliases)
        admin = self._admin_factor(p)
        if admin is None:
            return None
        below = p.below_town
        found = self._village_names.find_prefix(below, VILLAGE_MIN)
        if p.bare_town:  # 巴公 could also begin a village name: try it both ways
            alt = self._village_names.find_prefix(p.bare_town + below, VILLAGE_MIN)
            if alt.score > found.score:
                found, below, p.town, p.bare_town = alt, p.bare_town + below, None, None
        if found.value is not None and not found.ambiguous:
            village = self.villages[found.value]
            local = below[found.end:]
            if local.startswith("村") and village.key.endswith("村"):
                local = local[1:]  # 渠头村村委会 → 渠头村村 after normalising
            _merge(p, parse_local(local), village=below[: found.end])
        if p.rest and p.rest not in QUALIFIERS:
            admin *= PART_UNEXPLAINED  # words after the address we did not understand
        if found.ambiguous:  # 巴公村: one of ours, but which?
            return self._town_result(p, 60.0 * admin)
        if found.value is None:
            return self._without_village(p, below, admin)
        return self._in_village(p, self.villages[found.value], found.score * admin / 100)

    def _admin_factor(self, p: ParsedAddress) -> float | None:
        """1.0 when every administrative name given is ours, less for a homophone typo
        (巴工镇), None when one names somewhere else."""
        factor = 1.0
        for level in ("province", "city", "county", "town"):
            given, ours = getattr(p, level), self._ours.get(level)
            if not given:
                continue
            if not ours:
                return None
            a, b = _admin_stem(given), _admin_stem(ours)
            if a == b:
                continue
            # a province that is another province (陕西 vs 山西) is never a typo of ours
            if level == "province" or similarity(a, b) < 90:
                return None
            factor *= 0.95
        return factor

    def _town_result(self, p: ParsedAddress, score: float) -> GeocodeResult:
        lon, lat = float(self.town["lon"]), float(self.town["lat"])
        return GeocodeResult(lon, lat, "town", score, self.town["name"], parsed=p.to_dict())

    def _without_village(self, p: ParsedAddress, below: str, admin: float) -> GeocodeResult | None:
        """No village of ours named: a street unique in the town, the town itself, or nothing."""
        if p.village:  # a village or community named, and it is not one of ours
            return None
        named = [level for level in ("town", "county", "city", "province") if getattr(p, level)]
        if not below:
            if not named:
                return None
            return self._town_result(p, TOWN_SCORE[named[0]] * admin)
        if p.street:
            found = self._town_streets.find(name_key(p.street), STREET_MIN)
            if found.value is not None and not found.ambiguous:
                village = self.villages[found.value]
                return self._in_village(p, village, INFERRED_VILLAGE * admin)
        # something below the town we cannot place: ours only if the town itself was named
        return self._town_result(p, 50.0 * admin) if "town" in named else None

    def _in_village(self, p: ParsedAddress, village: _Village, score: float) -> GeocodeResult:
        street = None
        if p.street:
            found = self._street_names[village.code].find(name_key(p.street), STREET_MIN)
            if found.value is not None and not found.ambiguous:
                street = village.streets[found.value]
                score *= found.score / 100
        if street is None:
            if p.street or p.door_number is not None:
                score *= PART_UNEXPLAINED
            lon, lat = self._to_lonlat(village.xy)
            return GeocodeResult(lon, lat, "village", 100 * score, village.name, village.code, village.name,
                                 parsed=p.to_dict())
        if p.group is not None and street.groups and p.group not in street.groups:
            score *= PART_UNEXPLAINED
        return self._on_street(p, village, street, score)

    def _on_street(self, p: ParsedAddress, village: _Village, street: _Street, score: float) -> GeocodeResult:
        door = p.door_number
        if door is None and p.building is not None and len(street.doors) == 1:
            door = next(iter(street.doors))  # a compound's building named without its gate number
        parsed = p.to_dict()
        if door is not None and door in street.doors:
            rows, parts = _narrow(street.doors[door], self.rows, p)
            xy = self._xy[rows]
            pick = rows[int(np.argmin(((xy - xy.mean(axis=0)) ** 2).sum(axis=1)))]
            lon, lat = float(self.rows[pick]["lon"]), float(self.rows[pick]["lat"])
            row = self.rows[pick]
            matched = row["full_text"] if len(rows) == 1 else _door_text(row, door, parts)
            if len(parts) < sum(getattr(p, part) is not None for part in ("building", "unit", "room")):
                score *= PART_UNEXPLAINED  # a building or flat that is not there
            return GeocodeResult(lon, lat, "door", 100 * score, matched, door_number=door,
                                 address_id=row.get("id") if len(rows) == 1 else None,
                                 village_code=village.code, village=village.name, street=street.name,
                                 parsed=parsed)
        if door is not None:
            between = self._neighbours(street, door)
            if between is not None:
                xy, template = between
                lon, lat = self._to_lonlat(xy)
                row = self.rows[template]
                matched = _with_door(_door_text(row, row["door_number"], []), row["door_number"], door)
                return GeocodeResult(lon, lat, "door", 100 * score * INTERPOLATED, matched, door_number=door,
                                     interpolated=True, village_code=village.code, village=village.name,
                                     street=street.name, parsed=parsed)
            score *= PART_UNEXPLAINED
        lon, lat = self._to_lonlat(self._street_point(street, door))
        matched = f"{self.town['name']}{village.name}{street.name}"
        return GeocodeResult(lon, lat, "street", 100 * score, matched, village_code=village.code,
                             village=village.name, street=street.name, parsed=parsed)

    def _neighbours(self, street: _Street, door: int) -> tuple[np.ndarray, int] | None:
        """The point of ``door`` interpolated between the nearest known doors on either side of
        it with the same parity (odd one side of the street, even the other), or None."""
        same = sorted(d for d in street.doors if d % 2 == door % 2)
        lower = [d for d in same if d < door]
        upper = [d for d in same if d > door]
        if not lower or not upper:
            return None
        a, b = lower[-1], upper[0]
        ia, ib = street.doors[a][0], street.doors[b][0]
        pa, pb = self._xy[ia], self._xy[ib]
        f = (door - a) / (b - a)
        if street.line is not None:
            (ta, oa), (tb, ob) = _project(street.line, pa), _project(street.line, pb)
            # along the street line (it may bend), at the neighbours' offset from it
            return _locate(street.line, ta + f * (tb - ta), oa + f * (ob - oa)), ia
        return pa + f * (pb - pa), ia

    def _street_point(self, street: _Street, door: int | None) -> np.ndarray:
        """Where a street-level result sits. A door outside the known range: the nearest known
        door on the same side (the best guess of where it is, and a real address point).
        No door: the middle of the street line, else the address nearest its doors' centroid."""
        if door is not None and street.doors:
            same = [d for d in street.doors if d % 2 == door % 2] or list(street.doors)
            return self._xy[street.doors[min(same, key=lambda d: abs(d - door))][0]]
        if street.line is not None:
            return _locate(street.line, _length(street.line) / 2, 0.0)
        xy = self._xy[street.rows]
        return xy[int(np.argmin(((xy - xy.mean(axis=0)) ** 2).sum(axis=1)))]

    # -- reverse

    def reverse(self, lon: float, lat: float, max_distance_m: float = 2000.0) -> tuple[dict, float] | None:
        """The standard address nearest a WGS 84 point and its distance in metres, or None
        when none lies within ``max_distance_m``."""
        if not len(self.rows):
            return None
        p = self._to_xy(np.array([[lon, lat]], dtype=float))[0]
        i = int(np.argmin(((self._xy - p) ** 2).sum(axis=1)))
        row = self.rows[i]
        d = haversine_m(lon, lat, float(row["lon"]), float(row["lat"]))
        return (dict(row), d) if d <= max_distance_m else None


def haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance in metres between two WGS 84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _aliases(town: Mapping) -> dict[str, str]:
    """Our administrative names as people write them without the suffix (山西, 晋城, 泽州, 巴公)."""
    out = {}
    for level, key in (("province", "province"), ("city", "city"), ("county", "county"), ("town", "name")):
        name = town.get(key)
        if name:
            stem = _admin_stem(name)
            if len(stem) >= 2:
                out[stem] = level
    return out


def _admin_stem(name: str) -> str:
    for suffix in ("特别行政区", "自治区", "自治州", "街道办事处", "街道", "省", "市", "县", "区", "旗", "镇", "乡", "盟"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def _merge(p: ParsedAddress, lp: ParsedAddress, village: str) -> None:
    """Take the lower levels from ``lp`` (parsed after the village the index found)."""
    p.village = village
    for name in ("group", "street", "door_number", "door_sub", "building", "unit", "room", "floor", "rest"):
        setattr(p, name, getattr(lp, name))


def _narrow(rows: list[int], all_rows: list[dict], p: ParsedAddress) -> tuple[list[int], list[str]]:
    """The rows of one door number narrowed by building, then unit, then room where given (a
    community gate has hundreds of flats), and the parts that matched. A part that matches no
    row stops the narrowing: what is below it cannot be trusted either."""
    matched = []
    for part in ("building", "unit", "room"):
        want = getattr(p, part)
        if want is None:
            continue
        hit = [i for i in rows if all_rows[i].get(part) is not None and str(all_rows[i][part]) == str(want)]
        if not hit:
            break
        rows = hit
        matched.append(part)
    return rows, matched


def _door_text(row: dict, door: int, parts: list[str]) -> str:
    """The standard text of a door (and the building/unit matched) shared by several flats."""
    text = row["full_text"]
    head, sep, _ = text.partition(f"{row.get('street') or ''}{door}号")
    out = head + sep if sep else text
    suffix = {"building": "号楼", "unit": "单元", "room": "室"}
    return out + "".join(f"{row[part]}{suffix[part]}" for part in parts)


def _with_door(text: str, old: int, new: int) -> str:
    """A neighbour's standard address with its door number replaced."""
    head, sep, tail = text.rpartition(f"{old}号")
    return f"{head}{new}号{tail}" if sep else text


def _length(line: np.ndarray) -> float:
    return float(np.hypot(*np.diff(line, axis=0).T).sum())


def _project(line: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """Distance along ``line`` of the point nearest ``p``, and ``p``'s signed offset (left +)."""
    a, b = line[:-1], line[1:]
    d = b - a
    seg_len2 = np.maximum((d ** 2).sum(axis=1), 1e-12)
    t = np.clip(((p - a) * d).sum(axis=1) / seg_len2, 0.0, 1.0)
    near = a + t[:, None] * d
    k = int(np.argmin(((near - p) ** 2).sum(axis=1)))
    seg = np.sqrt(seg_len2)
    along = float(seg[:k].sum() + t[k] * seg[k])
    offset = float((d[k, 0] * (p[1] - a[k, 1]) - d[k, 1] * (p[0] - a[k, 0])) / seg[k])
    return along, offset


def _locate(line: np.ndarray, along: float, offset: float) -> np.ndarray:
    """The point ``along`` metres down ``line``, ``offset`` metres to its left."""
    d = np.diff(line, axis=0)
    seg = np.hypot(d[:, 0], d[:, 1])
    cum = np.concatenate([[0.0], np.cumsum(seg)])
    k = int(np.clip(np.searchsorted(cum, along) - 1, 0, len(seg) - 1))
    t = (along - cum[k]) / seg[k] if seg[k] > 0 else 0.0
    unit = d[k] / seg[k] if seg[k] > 0 else np.array([1.0, 0.0])
    return line[k] + t * d[k] + offset * np.array([-unit[1], unit[0]])
