-- The cases layer below points_min_zoom (tiles/mvt.py): cases counted per bucket.
-- The tile is cut into :cells x :cells square buckets in EPSG:3857, aligned to its lower-left
-- corner (a snap grid whose cells never cross a tile edge); each non-empty bucket becomes one
-- point at the mean position of its cases, with properties count and overdue (how many of
-- them are overdue). Points on the tile's right or top edge go to the last bucket, so a
-- tile's counts add up to the cases that intersect its envelope (see cases_points.sql).
WITH frame AS (
    SELECT
        envelope,
        ST_XMin(envelope) AS x0,
        ST_YMin(envelope) AS y0,
        (ST_XMax(envelope) - ST_XMin(envelope)) / CAST(:cells AS integer) AS cell_m,
        ST_Transform(envelope, 4326) AS box
    FROM (
        SELECT ST_TileEnvelope(CAST(:z AS integer), CAST(:x AS integer), CAST(:y AS integer)) AS envelope
    ) AS tile
),
located AS (
    -- EPSG:3857 by its formulas (spherical Mercator, R = 6378137 m) from the stored lon/lat: a
    -- transform call per point costs more here, where a history tile can cover a million cases.
    -- The tile test is lon/lat BETWEEN the box's edges (see cases_points.sql): an index-only
    -- scan of ix_cases_open_lonlat for open cases, of ix_cases_lonlat for a selection that may
    -- hold closed ones (migrations 0014, 0008).
    SELECT
        c.lon * 111319.49079327357 AS x_m,
        ln(tan(radians(45 + c.lat / 2))) * 6378137 AS y_m,
        {overdue} AS overdue
    FROM frame AS f
    JOIN cases AS c
      ON c.lon BETWEEN ST_XMin(f.box) AND ST_XMax(f.box) AND c.lat BETWEEN ST_YMin(f.box) AND ST_YMax(f.box)
    WHERE true
        {filters}
),
bucket AS (
    SELECT
        least(CAST(:cells AS integer) - 1, greatest(0, floor((l.x_m - f.x0) / f.cell_m)))::int AS i,
        least(CAST(:cells AS integer) - 1, greatest(0, floor((l.y_m - f.y0) / f.cell_m)))::int AS j,
        count(*) AS count,
        count(*) FILTER (WHERE l.overdue) AS overdue,
        avg(l.x_m) AS x_m,
        avg(l.y_m) AS y_m
    FROM located AS l, frame AS f
    GROUP BY 1, 2
)
SELECT ST_AsMVT(feature, 'cases', 4096, 'geom')
FROM (
    SELECT
        b.count,
        b.overdue,
        ST_AsMVTGeom(ST_SetSRID(ST_MakePoint(b.x_m, b.y_m), 3857), f.envelope, 4096, 64, true) AS geom
    FROM bucket AS b, frame AS f
) AS feature
