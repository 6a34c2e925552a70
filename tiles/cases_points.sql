-- The cases layer from points_min_zoom (tiles/mvt.py) on: one point per case.
-- The WHERE tests the tile's envelope transformed to EPSG:4326, because the GiST index on
-- cases.geom is on the stored 4326 points. ST_Intersects, not && alone: && compares float4
-- boxes and lets in points up to a metre outside the tile, which the neighbouring tile also
-- draws. A point on an edge is in both tiles.
-- The case id is both the feature id ("fid") and a property.
-- {filters} is replaced by AND-ed fragments from tiles/mvt.py (every value bound).
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
            ST_Transform(c.geom, 3857),
            ST_TileEnvelope(CAST(:z AS integer), CAST(:x AS integer), CAST(:y AS integer)),
            4096, 64, true
        ) AS geom
    FROM cases AS c
    WHERE ST_Intersects(c.geom, ST_Transform(
              ST_TileEnvelope(CAST(:z AS integer), CAST(:x AS integer), CAST(:y AS integer)), 4326))
        {filters}
) AS feature
