"""OGC API – Features (Part 1: Core, GeoJSON) over our own tables: ``grids``, ``zones`` and
``public_cases``, so a planner's QGIS or GDAL's ``OAPIF:`` driver opens them directly.

- ``ogc.query``: the query string of an items request, checked (bbox, datetime, limit,
  offset, f); pure, no database.
- ``ogc.collections``: the three collections, their features and extents (SQL in
  ``features.sql``).
- ``ogc.documents``: the JSON documents of the API (landing page, conformance, collections,
  feature collections with their links, the OpenAPI description).
- ``web/ogc.py`` serves them at ``/ogc/``.

**Why our own few hundred lines rather than pygeoapi** (read at its 0.2x sources):

- *Versions as time.* A grid's rows are versions valid from ``valid_from`` until ``valid_to``
  (boundaries/models.py): ``?datetime=T`` must answer the rows whose validity holds ``T``,
  and no ``datetime`` the current rows. pygeoapi's PostgreSQL provider knows one
  ``time_field`` per collection and compares it to the instant (``=``) or the interval
  (``BETWEEN``); it can say neither "valid at T" over two columns nor "current" by default.
  It would take a view per question in the database, or a provider of our own.
- *Redaction.* ``public_cases`` must be the public board's records (cases/publication.py, the
  one place a case is redacted: names as 张*, masked phones, addresses cut to the street,
  positions snapped to about 50 m). pygeoapi reads columns; it would need the redaction
  written again in SQL, a second place to keep in step — and a bbox on the true position
  would give away what the snapping hides. Here the features are the board's own records and
  the bbox filters the snapped position.
- *Our app's shape.* pygeoapi's Flask blueprint builds its configuration and OpenAPI document
  at import time from files named by environment variables (``PYGEOAPI_CONFIG``,
  ``PYGEOAPI_OPENAPI``) — the pattern STYLE.md asks us not to copy (tipg's counter-example),
  and one that ignores our ``create_app(config)`` and per-request sessions; its errors are not
  ours, and its route declarations would have no ``@allow``.

What we serve is small: the core's six resources, JSON only, in CRS84, with paging.
"""
