"""The boundary importer (boundaries/reader.py, importer.py, planning/import_draft.py) against
random polygons, with Hypothesis: a valid one imports as drawn; a broken one gets its own
refusal, in one line, and writes nothing — or, where the importer's rule is to repair (a
polygon crossing itself), is repaired and says so.

The polygons are drawn in the synthetic town of tests/boundary_data.py (UTM 49N metres from its
origin), star-shaped around a random centre: vertices in the order of their angle, no gap of
half a turn or more, so that each is a simple polygon. One town for the module; an example
that writes does so in a transaction rolled back after it.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
import shapely.affinity
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st
from shapely import MultiPolygon, Polygon
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from boundaries.errors import RefusedFeatures
from boundaries.importer import import_boundaries
from db.session import engine_for
from tests.boundary_data import (
    ORIGIN_M,
    UTM49N,
    dense_lonlat,
    frame,
    import_all,
    lonlat,
    query,
    rect_m,
    write,
)
from tests.test_boundaries_import_draft import boundaries_fingerprint

VILLAGE = "140525108200000"  # x 0..2000 m, y 0..1000 m from ORIGIN_M
NEW = "140525108200005"  # a service grid the town does not have
MOVED = "140525108200003"  # one it has
EXAMPLES = settings(max_examples=50, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
# fewer for the properties that run the command twice an example (a second or so each on a
# loaded machine): the refusal does not depend on the shape as the import does
CLI_EXAMPLES = settings(EXAMPLES, max_examples=25)


def _cli(url: str, *args: str):
    from web.cli import main

    return CliRunner().invoke(main, list(args), env={"GRIDGOV_DATABASE_URL": url},
                              catch_exceptions=False)


@pytest.fixture(scope="module")
def town(pg_server, template_db, tmp_path_factory):
    """The synthetic town: a zone, two villages, eight leaf grids, committed."""
    name = f"gridgov_test_import_props_{os.getpid()}"
    url = pg_server.create_database(name, template=template_db)
    import_all(_cli, url, tmp_path_factory.mktemp("town"))
    yield url
    pg_server.drop_database(name)


@contextmanager
def rolled_back(url: str) -> Iterator[Session]:
    session = sessionmaker(engine_for(url))()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


@st.composite
def stars(draw, x_m: tuple[float, float] = (300, 1700), y_m: tuple[float, float] = (300, 700),
          max_radius_m: float = 280) -> Polygon:
    """A simple polygon of 3 to 12 vertices around a centre in the village (UTM metres)."""
    n = draw(st.integers(3, 12))
    gaps = draw(st.lists(st.floats(0.05, 1.0), min_size=n, max_size=n))
    turn = [2 * math.pi * g / sum(gaps) for g in gaps]
    assume(max(turn) < math.pi * 0.95)  # every gap under half a turn: star-shaped, so simple
    radii = draw(st.lists(st.floats(20, max_radius_m), min_size=n, max_size=n))
    cx, cy = draw(st.floats(*x_m)), draw(st.floats(*y_m))
    start = draw(st.floats(0, 2 * math.pi))
    angles = [start + sum(turn[:i]) for i in range(n)]
    polygon = Polygon([(ORIGIN_M[0] + cx + r * math.cos(a), ORIGIN_M[1] + cy + r * math.sin(a))
                       for a, r in zip(angles, radii, strict=True)])
    assume(polygon.is_valid)
    return polygon


two_stars = st.builds(lambda a, b: MultiPolygon([a, b]),
                      stars(x_m=(250, 750), max_radius_m=200), stars(x_m=(1250, 1750),
                                                                     max_radius_m=200))


def _row(code: str, geometry) -> dict:
    return {"code": code, "name": "新网格", "level": "service", "parent_code": VILLAGE,
            "geometry": geometry}


def refused(result, expected: str) -> None:
    assert result.exit_code == 2, result.output
    assert expected in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "Traceback" not in result.output


def nothing_written(url: str, before: tuple) -> None:
    assert boundaries_fingerprint(url) == before
    assert query(url, "SELECT count(*) FROM drafts") == [(0,)]


# -- valid polygons ------------------------------------------------------------------------------


@EXAMPLES
@given(shape=stars() | two_stars)
def test_a_valid_polygon_imports_as_drawn(town, shape):
    with tempfile.TemporaryDirectory() as tmp, rolled_back(town) as session:
        path = write(frame([_row(NEW, shape)]), Path(tmp) / "grid.geojson")
        plan = import_boundaries(session, path, "service", commit=True, parent_field="parent_code")
        assert (plan.count("added"), plan.source.repairs) == (1, [])
        wkb, valid, parent = session.execute(text(
            "SELECT ST_AsBinary(geom), ST_IsValid(geom), parent_code FROM grids "
            "WHERE code = :code AND valid_to IS NULL"), {"code": NEW}).one()
        stored = shapely.from_wkb(bytes(wkb))
        assert valid and parent == VILLAGE
        assert shapely.hausdorff_distance(stored, dense_lonlat(shape)) < 1e-7  # about 1 cm


# -- broken ones ---------------------------------------------------------------------------------


@st.composite
def crossing_themselves(draw) -> Polygon:
    """A star with two of its vertices swapped: its ring crosses itself."""
    star = draw(stars(max_radius_m=250))
    points = list(star.exterior.coords)[:-1]
    assume(len(points) >= 4)
    i = draw(st.integers(0, len(points) - 1))
    j = (i + draw(st.integers(2, len(points) - 2))) % len(points)
    points[i], points[j] = points[j], points[i]
    polygon = Polygon(points)
    assume(not polygon.is_valid and "elf-intersection" in shapely.is_valid_reason(polygon))
    return polygon


@EXAMPLES
@given(shape=crossing_themselves())
def test_a_polygon_crossing_itself_is_repaired_and_reported_or_refused(town, shape):
    """The importer's rule (boundaries/reader.py): a ring that crosses itself is repaired
    (shapely's make_valid, "structure") and the report says where it crossed; refused only
    when no polygon is left."""
    # as drawn, in its metres (a GeoPackage keeps them): not through frame(), whose densifying
    # (GEOS) repairs a polygon crossing itself, nor reprojected, which may part a vertex that
    # only touches an edge, leaving a valid polygon in the file
    drawn = gpd.GeoDataFrame([_row(NEW, shape)], geometry="geometry", crs=UTM49N)
    with tempfile.TemporaryDirectory() as tmp, rolled_back(town) as session:
        path = write(drawn, Path(tmp) / "grid.gpkg")
        try:
            plan = import_boundaries(session, path, "service", commit=True,
                                     parent_field="parent_code")
        except RefusedFeatures as exc:
            event("refused: nothing left")
            assert "no polygon is left after repair" in exc.message
            return
        event("repaired")
        (repair,) = plan.source.repairs
        assert repair.startswith(f"feature {NEW}: repaired (") and "elf-intersection" in repair
        (valid,) = session.execute(text("SELECT ST_IsValid(geom) FROM grids WHERE code = :code"),
                                   {"code": NEW}).one()
        assert valid


def _unclosed(shape: Polygon, path: Path) -> Path:
    ring = [list(p) for p in lonlat(shape).exterior.coords][:-1]  # the closing point left out
    properties = {k: v for k, v in _row(NEW, None).items() if k != "geometry"}
    feature = {"type": "Feature", "properties": properties,
               "geometry": {"type": "Polygon", "coordinates": [ring]}}
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [feature]}),
                    encoding="utf-8")
    return path


@CLI_EXAMPLES
@given(shape=stars())
def test_a_ring_that_is_not_closed_is_refused_naming_its_feature(town, shape):
    before = boundaries_fingerprint(town)
    with tempfile.TemporaryDirectory() as tmp:
        path = _unclosed(shape, Path(tmp) / "grid.geojson")
        for mode in ("--commit", "--draft"):
            refused(_cli(town, "boundaries", "import", str(path), "--level", "service", mode),
                    f"feature {NEW} (row 1): a ring is not closed (its last point is not its "
                    "first)")
    nothing_written(town, before)


@CLI_EXAMPLES
@given(shape=stars() | two_stars)
def test_a_file_without_a_crs_is_refused(town, shape):
    before = boundaries_fingerprint(town)
    with tempfile.TemporaryDirectory() as tmp:
        row = {k: v for k, v in _row(NEW, shape).items() if k != "parent_code"}
        path = write(frame([row], crs=None), Path(tmp) / "grid.shp")
        assert not path.with_suffix(".prj").exists()
        for mode in ("--commit", "--draft"):
            refused(_cli(town, "boundaries", "import", str(path), "--level", "service", mode),
                    "declares no coordinate reference system: say which with --source-crs")
    nothing_written(town, before)


@CLI_EXAMPLES
@given(shape=stars(), away_km=st.floats(1.5, 40), bearing=st.floats(0, 2 * math.pi))
def test_a_grid_drawn_far_outside_the_town_is_refused_as_a_draft(town, shape, away_km, bearing):
    """A draft refuses a grid more than MAX_OUTSIDE_M (1 km) from the town (planning/drafts.py,
    which measures in degrees at 111 km each: an east-west gap counts for more than it is);
    a committed import takes it, and validate reports it."""
    moved = shapely.affinity.translate(shape, away_km * 1000 * math.cos(bearing),
                                       away_km * 1000 * math.sin(bearing))
    assume(moved.distance(rect_m(0, 0, 4000, 1000)) > 1300)  # metres from the town
    before = boundaries_fingerprint(town)
    with tempfile.TemporaryDirectory() as tmp:
        path = write(frame([_row(MOVED, moved)]), Path(tmp) / "grid.geojson")
        result = _cli(town, "boundaries", "import", str(path), "--level", "service", "--draft")
        refused(result, f"the geometry of {MOVED} lies about ")
        assert "km outside the town" in result.output
    nothing_written(town, before)
