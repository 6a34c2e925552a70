"""The demo town's boundaries: a plausible outline of 巴公镇 at its real position inside the
real (repaired) county outline, the 38 villages and communities, and each village split into
a residential core of service grids and a ring of regional grids.

Exact counts (DOMAIN.md): 38 administrative grids, 167 regional grids, 214 service grids,
5 village zones and 3 enterprise zones. The grids are built as one planar partition
(geo.partition), so the coverage is perfect by construction: no gaps, no overlaps, every leaf
grid inside its village, every village inside the town.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from importlib import resources

import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.validation import make_valid

from geo import partition

TOWN_CODE = "140525108"
TOWN_NAME = "巴公镇"
# The metric CRS the demo is drawn in: CGCS2000 / 3-degree Gauss-Kruger CM 114E, the zone
# Bagong (112.8-113.0 E) falls in.
CRS_XY_M = "EPSG:4547"
TOWN_CENTER_LONLAT = (112.872, 35.638)
REGIONAL_TOTAL, SERVICE_TOTAL = 167, 214
CENTER_VILLAGES = ("巴公一村", "巴公二村", "巴公三村", "巴公四村")
COMPASS = ("东", "东北", "北", "西北", "西", "西南", "南", "东南")
GROUP_NUMERALS = "一二三四五六七八九十"
VILLAGE_ZONES = (("V01", "第一片区"), ("V02", "第二片区"), ("V03", "第三片区"), ("V04", "第四片区"), ("V05", "第五片区"))
ENTERPRISE_ZONES = (("E01", "装备制造园一区"), ("E02", "装备制造园二区"), ("E03", "装备制造园三区"))


@dataclass
class Village:
    code: str  # 12-digit statistical code
    name: str  # short name: 渠头村, 东寺庄社区
    full_name: str  # as in the statistics: 渠头村委会
    kind: str  # village | community
    seed_xy: tuple[float, float] = (0.0, 0.0)
    zone_code: str = ""
    regional: int = 0
    service: int = 0
    geom_xy: BaseGeometry | None = None
    core_xy: BaseGeometry | None = None


@dataclass
class LeafGrid:
    code: str
    name: str
    level: str  # regional | service
    village: Village
    zone_code: str
    geom_xy: MultiPolygon
    group: str | None = None  # the villager group a service grid serves


@dataclass
class DemoGeometry:
    town_xy: MultiPolygon
    villages: list[Village]
    leaves: list[LeafGrid]
    zones: dict[str, tuple[str, str, MultiPolygon]] = field(default_factory=dict)  # code -> (name, kind, geom_xy)
    park_villages: list[str] = field(default_factory=list)

    def to_lonlat(self, geom: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geom, _to_lonlat, interleaved=False)


_TO_XY = Transformer.from_crs("EPSG:4326", CRS_XY_M, always_xy=True)
_TO_LONLAT = Transformer.from_crs(CRS_XY_M, "EPSG:4326", always_xy=True)


def _to_lonlat(x, y):
    return _TO_LONLAT.transform(x, y)


def _to_xy(lon, lat):
    return _TO_XY.transform(lon, lat)


def county_outline_lonlat() -> BaseGeometry:
    """泽州县's outline, repaired: the shipped MultiPolygon self-intersects."""
    with resources.files("demo").joinpath("data/zezhou_county.geojson").open(encoding="utf-8") as fh:
        data = json.load(fh)
    raw = shape(data["features"][0]["geometry"])
    repaired = make_valid(raw)
    return shapely.union_all([g for g in shapely.get_parts(repaired) if g.geom_type in ("Polygon", "MultiPolygon")])


def village_rows() -> list[Village]:
    """The 36 villages and 2 communities of bagong_villages.csv (the industrial-park
    community is not an administrative grid: its land lies in the enterprise zones)."""
    with resources.files("demo").joinpath("data/bagong_villages.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    out = []
    for row in rows:
        if row["kind"] not in ("village", "community"):
            continue
        full = row["name"]
        short = full.replace("居民委员会", "").replace("村委会", "村")
        out.append(Village(code=row["code"], name=short, full_name=full, kind=row["kind"]))
    return out


def _town_outline_xy(rng: np.random.Generator, county_xy: BaseGeometry) -> BaseGeometry:
    """A smooth, irregular outline of about 100 km² around the town's real position."""
    cx, cy = _to_xy(*TOWN_CENTER_LONLAT)
    theta = np.linspace(0, 2 * np.pi, 144, endpoint=False)
    radius = np.ones_like(theta)
    for k in range(2, 7):
        radius += rng.uniform(0.02, 0.07) / k * 2 * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    a, b = 6200.0, 5000.0  # semi-axes, metres: wider east-west, as the town is
    ring = np.column_stack([cx + a * radius * np.cos(theta), cy + b * radius * np.sin(theta)])
    outline = shapely.Polygon(ring).intersection(county_xy.buffer(-200))
    parts = sorted(shapely.get_parts(outline), key=lambda g: g.area)
    return shapely.set_precision(parts[-1], 0.01)


def _allocate_counts(villages: list[Village], park: set[str], rng: np.random.Generator) -> None:
    """Regional and service grid counts per village that add up to the town's exact totals."""
    fixed_r = fixed_s = 0
    rest = []
    for v in villages:
        if v.kind == "community":
            v.regional, v.service = 1, 10
        elif v.name in CENTER_VILLAGES:
            v.regional, v.service = 3, 8
        else:
            rest.append(v)
            continue
        fixed_r += v.regional
        fixed_s += v.service
    order = sorted(rest, key=lambda v: (v.code not in park, rng.random()))
    r_left, s_left = REGIONAL_TOTAL - fixed_r, SERVICE_TOTAL - fixed_s
    base_r, extra_r = divmod(r_left, len(rest))
    base_s, extra_s = divmod(s_left, len(rest))
    for i, v in enumerate(order):
        v.regional = base_r + (1 if i < extra_r else 0)
    for i, v in enumerate(sorted(rest, key=lambda v: rng.random())):
        v.service = base_s + (1 if i < extra_s else 0)


def _village_seeds(town: BaseGeometry, villages: list[Village], rng: np.random.Generator) -> np.ndarray:
    """Seeds for the village cells: the town-centre villages and communities close together
    (small, dense cells) and the rest Lloyd-relaxed over the town."""
    centre = town.centroid
    n_centre = sum(1 for v in villages if v.kind == "community" or v.name in CENTER_VILLAGES)
    angles = np.linspace(0, 2 * np.pi, n_centre, endpoint=False) + rng.uniform(0, 1)
    fixed = np.column_stack([centre.x + 900 * np.cos(angles), centre.y + 700 * np.sin(angles)])
    others = partition.random_points_in(town, len(villages) - n_centre, rng)
    for _ in range(12):
        xy = np.vstack([fixed, others])
        cells = partition.voronoi_cells(xy, town)
        moved = []
        for i in range(n_centre, len(xy)):
            clipped = cells[i].intersection(town)
            c = clipped.centroid
            moved.append((c.x, c.y) if town.contains(c) else tuple(xy[i]))
        others = np.array(moved)
    return np.vstack([fixed, others])


def _zones(villages: list[Village], rng: np.random.Generator) -> None:
    """Group the villages into the 5 village zones by position (k-means on their seeds)."""
    xy = np.array([v.seed_xy for v in villages])
    k = len(VILLAGE_ZONES)
    centres = xy[rng.choice(len(xy), k, replace=False)]
    for _ in range(50):
        label = np.argmin(((xy[:, None, :] - centres[None, :, :]) ** 2).sum(-1), axis=1)
        new = np.array([xy[label == j].mean(0) if (label == j).any() else centres[j] for j in range(k)])
        if np.allclose(new, centres):
            break
        centres = new
    # number the zones north-west to south-east so the names read naturally on the map
    order = np.argsort(-centres[:, 1] + 0.3 * centres[:, 0])
    rank = {int(j): i for i, j in enumerate(order)}
    for v, j in zip(villages, label):
        v.zone_code = TOWN_CODE + VILLAGE_ZONES[rank[int(j)]][0]


def _serial_order(geoms: list[BaseGeometry], band_m: float = 600.0) -> list[int]:
    """Indices of ``geoms`` numbered west→east, north→south (DOMAIN.md), in bands of ``band_m``."""
    pts = [g.representative_point() for g in geoms]
    top = max(p.y for p in pts)
    return sorted(range(len(geoms)), key=lambda i: (int((top - pts[i].y) // band_m), pts[i].x))


def build(seed: int) -> DemoGeometry:
    """The demo town's geometry for ``seed`` (deterministic)."""
    rng = np.random.default_rng(seed)
    county_xy = shapely.transform(county_outline_lonlat(), _to_xy, interleaved=False)
    town = _town_outline_xy(rng, county_xy)
    villages = village_rows()
    # the town centre villages and the communities take the seeds placed near the centre
    villages.sort(key=lambda v: (not (v.kind == "community" or v.name in CENTER_VILLAGES), v.code))
    seeds = _village_seeds(town, villages, rng)
    for v, s in zip(villages, seeds):
        v.seed_xy = (float(s[0]), float(s[1]))
    village_cells = partition.voronoi_cells(seeds, town)
    provisional = [cell.intersection(town) for cell in village_cells]

    _zones(villages, rng)
    # the industrial park: the regional land of three neighbouring villages south-west of the centre
    centre = town.centroid
    target = Point(centre.x - 2500, centre.y - 1800)
    candidates = [i for i, v in enumerate(villages) if v.kind == "village" and v.name not in CENTER_VILLAGES]
    first = min(candidates, key=lambda i: Point(villages[i].seed_xy).distance(target))
    park_idx = sorted(candidates, key=lambda i: Point(villages[i].seed_xy).distance(Point(villages[first].seed_xy)))[:3]
    park = {villages[i].code for i in park_idx}
    _allocate_counts(villages, park, rng)

    lines: list[BaseGeometry] = [town.boundary, *partition.cut_lines(village_cells, town)]
    leaf_seeds: list[tuple[np.ndarray, np.ndarray]] = []
    for v, region in zip(villages, provisional):
        equiv_r = np.sqrt(region.area / np.pi)
        dense = v.kind == "community" or v.name in CENTER_VILLAGES
        disk = Point(v.seed_xy).buffer(equiv_r * (0.7 if dense else 0.38), 32)
        core = disk.intersection(region)
        ring = region.difference(disk)
        v.core_xy = disk
        s_xy = partition.lloyd_points(core, v.service, rng, iterations=6)
        r_xy = partition.lloyd_points(ring, v.regional, rng, iterations=6)
        leaf_seeds.append((s_xy, r_xy))
        lines.append(shapely.intersection(disk.boundary, region.buffer(1.0)))
        if v.service > 1:
            lines += partition.cut_lines(partition.voronoi_cells(s_xy, core), core)
        if v.regional > 1:
            lines += partition.cut_lines(partition.voronoi_cells(r_xy, ring), ring)

    shapely.prepare(town)

    def label(p: Point):
        if not town.contains(p):
            return None
        vi = partition.nearest_index(seeds, p)
        s_xy, r_xy = leaf_seeds[vi]
        if villages[vi].core_xy.contains(p):
            return (vi, "service", partition.nearest_index(s_xy, p))
        return (vi, "regional", partition.nearest_index(r_xy, p))

    cells = _merge_fragments(partition.group_faces(partition.faces(lines), label))
    leaves: list[LeafGrid] = []
    for vi, v in enumerate(villages):
        mine = [(key, geom) for key, geom in cells.items() if key[0] == vi]
        if len(mine) != v.regional + v.service:
            raise RuntimeError(f"seed {seed}: village {v.name} got {len(mine)} leaf grids, expected {v.regional + v.service}")
        order = _serial_order([g for _, g in mine])
        centre_v = Point(v.seed_xy)
        group_no = 0
        used_names: set[str] = set()
        for serial, idx in enumerate(order, start=1):
            (_, level, _), geom = mine[idx]
            code = f"{v.code}{serial:03d}"
            group = None
            if level == "service":
                group_no += 1
                group = f"{_numeral(group_no)}组"
                name = f"{v.name}{group}服务网格"
                zone = v.zone_code
            else:
                p = geom.representative_point()
                angle = np.degrees(np.arctan2(p.y - centre_v.y, p.x - centre_v.x)) % 360
                base = f"{v.name}{COMPASS[int(((angle + 22.5) % 360) // 45)]}部区域网格"
                name = base
                n = 2
                while name in used_names:
                    name = base.replace("区域网格", f"{_numeral(n)}区域网格")
                    n += 1
                zone = v.zone_code
                if v.code in park:
                    zone = TOWN_CODE + ENTERPRISE_ZONES[park_idx.index(villages.index(v))][0]
            used_names.add(name)
            leaves.append(LeafGrid(code, name, level, v, zone, geom, group))
        v.geom_xy = _as_multi(shapely.union_all([g for _, g in mine]))

    town_xy = _as_multi(shapely.union_all([v.geom_xy for v in villages]))
    zones: dict[str, tuple[str, str, MultiPolygon]] = {}
    for suffix, name in VILLAGE_ZONES:
        code = TOWN_CODE + suffix
        zones[code] = (name, "village", _as_multi(shapely.union_all([l.geom_xy for l in leaves if l.zone_code == code])))
    for suffix, name in ENTERPRISE_ZONES:
        code = TOWN_CODE + suffix
        zones[code] = (name, "enterprise", _as_multi(shapely.union_all([l.geom_xy for l in leaves if l.zone_code == code])))
    return DemoGeometry(town_xy, villages, leaves, zones, sorted(park))


def _merge_fragments(cells: dict) -> dict:
    """Give each detached fragment of a cell (a Voronoi cell clipped by a ring can fall apart)
    to the neighbouring cell of the same village it shares the longest edge with, so every
    grid is one piece. Fragments are unions of faces, so the union stays exact."""
    cells = dict(cells)
    for key in list(cells):
        parts = sorted(cells[key].geoms, key=lambda g: g.area, reverse=True)
        if len(parts) < 2:
            continue
        keep = [parts[0]]
        for frag in parts[1:]:
            best, best_len = None, 0.0
            for other, geom in cells.items():
                if other == key or other[0] != key[0]:
                    continue
                shared = frag.boundary.intersection(geom.boundary).length
                if shared > best_len:
                    best, best_len = other, shared
            if best is None:
                keep.append(frag)
            else:
                cells[best] = _as_multi(shapely.union_all([cells[best], frag]))
        cells[key] = MultiPolygon(keep)
    return cells


def _numeral(n: int) -> str:
    if n <= 10:
        return GROUP_NUMERALS[n - 1]
    if n < 20:
        return "十" + GROUP_NUMERALS[n - 11]
    return GROUP_NUMERALS[n // 10 - 1] + "十" + (GROUP_NUMERALS[n % 10 - 1] if n % 10 else "")


def _as_multi(geom: BaseGeometry) -> MultiPolygon:
    return MultiPolygon([p for p in shapely.get_parts(geom) if p.geom_type == "Polygon" and not p.is_empty])
