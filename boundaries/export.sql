-- Every current boundary, one row per unit, in the export's columns (boundaries/exporter.py).
-- parent_code is the unit one level up: a zone's town, an admin grid's zone, a leaf grid's
-- admin grid. Towns are not versioned; they are written as version 1.
-- {valid} is "valid_to IS NULL" (the current rows) or, for a boundary version, the rows valid
-- at the version's moment (boundaries/exporter.py).
SELECT code, name, 'town' AS level, NULL AS parent_code, NULL AS zone_code, 1 AS version,
       0 AS rank, ST_AsBinary(geom) AS wkb
  FROM towns
UNION ALL
SELECT code, name, 'zone', town_code, NULL, version, 1, ST_AsBinary(geom)
  FROM zones
 WHERE {valid}
UNION ALL
SELECT code, name, level,
       CASE WHEN level = 'admin' THEN zone_code ELSE parent_code END,
       zone_code, version,
       CASE level WHEN 'admin' THEN 2 WHEN 'regional' THEN 3 ELSE 4 END,
       ST_AsBinary(geom)
  FROM grids
 WHERE {valid}
 ORDER BY rank, code
