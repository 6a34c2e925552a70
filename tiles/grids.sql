-- The grids layer: current grids (valid_to IS NULL), every level, simplified for the zoom
-- (:tolerance_m, half a screen pixel in EPSG:3857 metres) and clipped to the tile plus a
-- 64/4096 buffer so outlines join across tile edges. Geometries that vanish at this zoom
-- (ST_AsMVTGeom gives NULL) are skipped by ST_AsMVT itself; a WHERE on them would make the
-- planner compute ST_AsMVTGeom twice.
SELECT ST_AsMVT(feature, 'grids', 4096, 'geom')
FROM (
    SELECT
        g.code,
        g.name,
        g.level,
        g.parent_code,
        g.zone_code,
        ST_AsMVTGeom(
            ST_SimplifyPreserveTopology(ST_Transform(g.geom, 3857), :tolerance_m),
            ST_TileEnvelope(CAST(:z AS integer), CAST(:x AS integer), CAST(:y AS integer)),
            4096, 64, true
        ) AS geom
    FROM grids AS g
    WHERE g.valid_to IS NULL
        AND g.geom && ST_Transform(
            ST_TileEnvelope(CAST(:z AS integer), CAST(:x AS integer), CAST(:y AS integer)), 4326)
) AS feature
