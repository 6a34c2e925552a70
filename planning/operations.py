"""Edits of a draft that keep shared edges shared: split, merge, move an edge, reshape.

``POST /api/v1/drafts/{id}/operations`` (web/api/drafts.py) with one of:

- ``{"op": "split", "code", "line"}``: a leaf grid cut in two by a line drawn across it; the
  larger piece keeps the code, people and name, the other becomes a new grid (``new_code``,
  default the village's next free serial; ``new_name``, default the old name with "-2").
- ``{"op": "merge", "codes"}``: leaf grids of one village made one; the first code keeps the
  union and everyone's workers, the others leave the draft.
- ``{"op": "move_edge", "codes": [a, b], "line"}``: the shared edge of two neighbours redrawn
  along ``line``: their union is cut by the line and each piece goes to the grid it overlapped
  more, so both change together.
- ``{"op": "reshape", "code", "geometry"}``: a new outline, its vertices snapped to the
  neighbours' vertices and edges within ``SNAP_M``.

Why the geometry is done here, in shapely, and not in PostGIS: a draft's edit touches two or
three polygons, read and written in one statement each; shapely's split, union and snap are
GEOS's own, as PostGIS's are, and keep the rules testable without a round trip per step.

Split, merge and move_edge never open a gap or an overlap: each cuts or joins the land the
grids already held (the union before equals the union after). A line drawn by hand is snapped
first: its vertices within ``SNAP_M`` of the grids' vertices or edges land exactly on them,
and its ends are carried a little past the outline so that a click just inside still cuts.
"""

from __future__ import annotations

import math
from typing import Any

import shapely
from shapely import LineString, Polygon
from shapely.geometry import shape
from shapely.ops import split
from sqlalchemy import text
from sqlalchemy.orm import Session

from geo.coverage import area_m2, polygonal_part
from planning.drafts import (
    LEAF_CODE,
    M_PER_DEG,
    bump_revision,
    check_grid,
    check_revision,
    checked_geometry,
    lock_open_draft,
)
from planning.errors import GridNotInDraft, InvalidOperation

OPS = ("split", "merge", "move_edge", "reshape")
# how far (metres) a drawn vertex may be from a neighbour's vertex or edge and still land on it
SNAP_M = 2.0
# how far (metres) a cutting line's ends are carried on, past the outline
EXTEND_M = 5.0
# a piece of a cut smaller than this (m²) is a sliver of the drawing, not a grid
MIN_PIECE_M2 = 1.0

GRIDS_SQL = """
SELECT code, name, level, parent_code, zone_code, leader_id, worker_ids, ST_AsBinary(geom) AS wkb
  FROM draft_grids WHERE draft_id = :id AND NOT removed
"""
WRITE_SQL = """
UPDATE draft_grids SET geom = ST_Multi(ST_GeomFromWKB(:wkb, 4326)), worker_ids = :worker_ids,
       revision = :revision
 WHERE draft_id = :id AND code = :code
"""
REMOVE_SQL = """
UPDATE draft_grids SET removed = true, revision = :revision WHERE draft_id = :id AND code = :code
"""
INSERT_SQL = """
INSERT INTO draft_grids (draft_id, code, name, level, parent_code, zone_code, worker_ids, geom,
                         revision)
VALUES (:id, :code, :name, :level, :parent_code, :zone_code, '{}',
        ST_Multi(ST_GeomFromWKB(:wkb, 4326)), :revision)
"""


def apply_operation(session: Session, draft_id: int, revision: int, op: dict[str, Any],
                    actor: str) -> dict[str, Any]:
    """Apply ``op`` to the draft, made on ``revision``; the codes it changed and the draft's new
    revision."""
    draft = lock_open_draft(session, draft_id)
    check_revision(session, draft, revision)
    kind = op.get("op")
    grids = _grids(session, draft_id)
    if kind == "split":
        writes, removes, adds = _split(session, draft, grids, op)
    elif kind == "merge":
        writes, removes, adds = _merge(grids, op)
    elif kind == "move_edge":
        writes, removes, adds = _move_edge(grids, op)
    elif kind == "reshape":
        writes, removes, adds = _reshape(session, draft, grids, op)
    else:
        raise InvalidOperation(f"op {kind!r} is not one of {', '.join(OPS)}",
                               {"op": kind, "valid": list(OPS)})
    codes = sorted({*writes, *removes, *(a["code"] for a in adds)})
    new = bump_revision(session, draft, kind, codes, actor)
    for code, (geom, workers) in writes.items():
        session.execute(text(WRITE_SQL), {"id": draft_id, "code": code, "revision": new,
                                          "wkb": shapely.to_wkb(geom), "worker_ids": workers})
    for code in removes:
        session.execute(text(REMOVE_SQL), {"id": draft_id, "code": code, "revision": new})
    for add in adds:
        session.execute(text(INSERT_SQL), {**add, "id": draft_id, "revision": new,
                                           "wkb": shapely.to_wkb(add.pop("geometry"))})
    return {"draft": draft_id, "op": kind, "codes": codes, "revision": new}


# -- the operations ----------------------------------------------------------------------------


def _split(session, draft, grids, op):
    grid = _grid(grids, op.get("code"))
    if grid["level"] == "admin":
        raise InvalidOperation(
            f"{grid['code']} is a village grid: split its leaf grids; a village's outline moves "
            "with move_edge", {"code": grid["code"]})
    line = _snapped_line(op.get("line"), [grid["geometry"]])
    pieces = _cut(grid["geometry"], line)
    if len(pieces) != 2:
        raise InvalidOperation(
            f"the line cuts {grid['code']} into {len(pieces)} piece(s): draw a line across it "
            "from edge to edge, cutting it in two", {"code": grid["code"], "pieces": len(pieces)})
    keep, other = sorted(pieces, key=area_m2, reverse=True)
    village = grid["code"][:12]
    new_code = str(op.get("new_code") or _next_serial(grids, session, draft["id"], village))
    if new_code in grids:
        raise InvalidOperation(f"the draft has a grid {new_code} already", {"new_code": new_code})
    new = {"code": new_code, "name": str(op.get("new_name") or f"{grid['name']}-2")[:100],
           "level": grid["level"], "parent_code": grid["parent_code"],
           "zone_code": grid["zone_code"], "geometry": other}
    check_grid(session, draft, new_code, {**new, "leader_id": None, "worker_ids": []})
    return {grid["code"]: (keep, grid["worker_ids"])}, [], [new]


def _merge(grids, op):
    codes = op.get("codes")
    if not isinstance(codes, list) or len(codes) < 2 or len(set(codes)) != len(codes):
        raise InvalidOperation("merge needs two or more different grid codes in `codes`",
                               {"codes": codes})
    members = [_grid(grids, c) for c in codes]
    if any(m["level"] == "admin" for m in members):
        raise InvalidOperation("merge joins leaf grids of one village; village grids are not "
                               "merged here", {"codes": codes})
    villages = sorted({m["parent_code"] for m in members})
    if len(villages) > 1:
        raise InvalidOperation(
            f"grids {', '.join(codes)} are in different villages ({', '.join(villages)}): "
            "merge grids of one village", {"codes": codes, "villages": villages})
    union = polygonal_part(shapely.union_all([m["geometry"] for m in members]))
    if len(union.geoms) != 1:
        raise InvalidOperation(f"grids {', '.join(codes)} do not touch: merged they would be "
                               f"{len(union.geoms)} separate pieces", {"codes": codes})
    workers = sorted({w for m in members for w in m["worker_ids"]})
    return {codes[0]: (union, workers)}, codes[1:], []


def _move_edge(grids, op):
    codes = op.get("codes")
    if not isinstance(codes, list) or len(codes) != 2 or codes[0] == codes[1]:
        raise InvalidOperation("move_edge needs the two neighbours' codes in `codes`",
                               {"codes": codes})
    a, b = (_grid(grids, c) for c in codes)
    touching = a["geometry"].buffer(_deg(SNAP_M, a["geometry"])).intersection(b["geometry"])
    if area_m2(touching) < MIN_PIECE_M2:
        raise InvalidOperation(f"{codes[0]} and {codes[1]} share no edge", {"codes": codes})
    if a["level"] != "admin" and a["parent_code"] != b["parent_code"] or \
            (a["level"] == "admin") != (b["level"] == "admin"):
        raise InvalidOperation(f"{codes[0]} and {codes[1]} are not neighbours of one level in "
                               "one village", {"codes": codes})
    union = polygonal_part(shapely.union_all([a["geometry"], b["geometry"]]))
    line = _snapped_line(op.get("line"), [a["geometry"], b["geometry"]])
    pieces = _cut(union, line)
    if len(pieces) < 2:
        raise InvalidOperation(f"the line does not cross {codes[0]} and {codes[1]} from edge to "
                               "edge", {"codes": codes})
    to_a, to_b = [], []
    for piece in pieces:
        ia = area_m2(piece.intersection(a["geometry"]))
        ib = area_m2(piece.intersection(b["geometry"]))
        (to_a if ia >= ib else to_b).append(piece)
    new_a, new_b = (polygonal_part(shapely.union_all(p)) for p in (to_a, to_b))
    for code, geom in ((codes[0], new_a), (codes[1], new_b)):
        if geom.is_empty:
            raise InvalidOperation(f"the line leaves {code} nothing", {"codes": codes})
        if len(geom.geoms) != 1:
            raise InvalidOperation(f"the line leaves {code} in {len(geom.geoms)} pieces: draw "
                                   "the new edge from one end of the old one to the other",
                                   {"codes": codes})
    return {codes[0]: (new_a, a["worker_ids"]), codes[1]: (new_b, b["worker_ids"])}, [], []


def _reshape(session, draft, grids, op):
    grid = _grid(grids, op.get("code"))
    geom = checked_geometry(session, draft["town_code"], op.get("geometry"), grid["code"])
    neighbours = [g["geometry"] for c, g in grids.items()
                  if c != grid["code"] and g["geometry"].distance(geom) < _deg(SNAP_M, geom)]
    if neighbours:
        reference = shapely.union_all([n.boundary for n in neighbours])
        geom = polygonal_part(shapely.make_valid(shapely.snap(geom, reference, _deg(SNAP_M, geom))))
    return {grid["code"]: (geom, grid["worker_ids"])}, [], []


# -- helpers -----------------------------------------------------------------------------------


def _grids(session: Session, draft_id: int) -> dict[str, dict[str, Any]]:
    out = {}
    for r in session.execute(text(GRIDS_SQL), {"id": draft_id}).mappings():
        row = dict(r)
        row["geometry"] = shapely.from_wkb(bytes(row.pop("wkb")))
        row["worker_ids"] = list(row["worker_ids"] or [])
        out[row["code"]] = row
    return out


def _grid(grids: dict[str, dict[str, Any]], code: Any) -> dict[str, Any]:
    if not isinstance(code, str) or code not in grids:
        raise GridNotInDraft(f"the draft has no grid {code}", {"code": code})
    return grids[code]


def _deg(metres: float, near) -> float:
    """``metres`` as degrees of longitude at ``near``'s latitude (the larger of the two degree
    sizes there: a tolerance in metres, at most)."""
    lat = near.centroid.y if not near.is_empty else 0.0
    return metres / (M_PER_DEG * max(math.cos(math.radians(lat)), 0.1))


def _snapped_line(raw: Any, polygons: list) -> LineString:
    if not isinstance(raw, dict) or raw.get("type") != "LineString":
        raise InvalidOperation("`line` must be a GeoJSON LineString in EPSG:4326",
                               {"field": "line"})
    try:
        line = shape(raw)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise InvalidOperation(f"`line` cannot be read: {exc}", {"field": "line"}) from exc
    coords = list(line.coords)
    if len(coords) < 2 or line.length == 0 or not all(
            -180 <= x <= 180 and -90 <= y <= 90 for x, y in coords):
        raise InvalidOperation("`line` must have two or more distinct points in longitude and "
                               "latitude (EPSG:4326)", {"field": "line"})
    outline = shapely.union_all([p.boundary for p in polygons])
    tol = _deg(SNAP_M, outline)
    line = shapely.snap(line, outline, tol)
    # carry each end on past the outline, along its last segment
    coords = list(line.coords)
    ext = _deg(EXTEND_M, outline)

    def beyond(p, q):
        dx, dy = p[0] - q[0], p[1] - q[1]
        n = math.hypot(dx, dy) or 1.0
        return (p[0] + dx / n * ext, p[1] + dy / n * ext)

    return LineString([beyond(coords[0], coords[1]), *coords, beyond(coords[-1], coords[-2])])


def _cut(geometry, line: LineString) -> list[Polygon]:
    """The pieces of ``geometry`` cut by ``line``, slivers of the drawing left out."""
    pieces = [g for g in split(geometry, line).geoms if isinstance(g, Polygon)]
    return [p for p in pieces if area_m2(p) >= MIN_PIECE_M2]


def _next_serial(grids, session: Session, draft_id: int, village: str) -> str:
    """The village's lowest free leaf serial, in the draft and among every grid code ever used
    (a code once used is not given to different land)."""
    used = {c for c in grids if c.startswith(village)}
    used |= {r[0] for r in session.execute(
        text("SELECT code FROM grids WHERE code LIKE :prefix UNION "
             "SELECT code FROM draft_grids WHERE draft_id = :id AND code LIKE :prefix"),
        {"prefix": village + "%", "id": draft_id})}
    for serial in range(1, 1000):
        code = f"{village}{serial:03d}"
        if code not in used and LEAF_CODE.fullmatch(code):
            return code
    raise InvalidOperation(f"village {village} has no free grid serial left", {"village": village})
