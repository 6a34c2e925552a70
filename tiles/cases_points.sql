-- The cases layer from points_min_zoom (tiles/mvt.py) on: one point per case.
-- The tile test compares the stored lon/lat with the edges of the tile's envelope in
-- EPSG:4326: the tile is an exact lon/lat rectangle (Mercator's x depends on longitude alone,
-- its y on latitude alone), so for points this is ST_Intersects with the transformed envelope,
-- computed exactly in double precision (&& on geom compares float4 boxes and lets in points up
-- to a metre outside the tile, which the neighbouring tile also draws). A point on an edge is
-- in both tiles. Written on lon/lat, a tile of open cases is an index-only scan of
-- ix_cases_open_lonlat (migration 0014), which holds every column read here.
-- The case id is both the feature id ("fid") and a property.
-- {filters} is replaced by AND-ed fragments from tiles/mvt.py (every value bound).
WITH frame AS (
    SELECT envelope, ST_Transform(envelope, 4326) AS box
    FROM (
        SELECT ST_TileEnvelope(CAST(:z AS integer), CAST(:x AS integer), CAST(:y AS integer)) AS envelope
    ) AS tile
)
SELECT ST_AsMVT(feature, 'cases', 4096, 'geom', 'fid')
FROM (
    SELECT
        c.id AS fid,
        c.id,
        c.status,
        c.category_code,
        c.channel,
        floor(date_part('epoch', c.created_at))::bigint AS created_at,
        floor(date_part('epoch', c.due_at))::bigint AS due_at,
        {overdue} AS overdue,
        c.grid_code,
        ST_AsMVTGeom(
            ST_Transform(ST_SetSRID(ST_MakePoint(c.lon, c.lat), 4326), 3857), f.envelope, 4096, 64, true
        ) AS geom
    FROM frame AS f
    JOIN cases AS c
      ON c.lon BETWEEN ST_XMin(f.box) AND ST_XMax(f.box) AND c.lat BETWEEN ST_YMin(f.box) AND ST_YMax(f.box)
    WHERE true
        {filters}
) AS feature
