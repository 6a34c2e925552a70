-- The zones layer: current zones, simplified and clipped as grids.sql explains.
SELECT ST_AsMVT(feature, 'zones', 4096, 'geom')
FROM (
    SELECT
        zo.code,
        zo.name,
        zo.kind,
        ST_AsMVTGeom(
            ST_SimplifyPreserveTopology(ST_Transform(zo.geom, 3857), :tolerance_m),
            ST_TileEnvelope(CAST(:z AS integer), CAST(:x AS integer), CAST(:y AS integer)),
            4096, 64, true
        ) AS geom
    FROM zones AS zo
    WHERE zo.valid_to IS NULL
        AND zo.geom && ST_Transform(
            ST_TileEnvelope(CAST(:z AS integer), CAST(:x AS integer), CAST(:y AS integer)), 4326)
) AS feature
