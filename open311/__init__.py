"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2): the town's cases as service
requests, for the residents' apps and partner systems that speak it.

The mapping, once (open311/georeport.py does it, web/open311.py serves it):

- a **jurisdiction** (``jurisdiction_id``) is a town, by its 9-digit statistical code
  (140525108 for Bagong); optional while the database holds one town;
- a **service** (``service_code``) is a case category (cases/categories.py), every code of
  ``GET /api/v1/categories``; its ``group`` is its checklist (巡检巡查, 民情走访, …). No service
  needs attributes (``metadata`` false) and every one is ``realtime``: the case's id comes back
  at once;
- a **service request** is a case. ``POST`` goes through the same intake as
  ``POST /api/v1/cases`` (cases/intake.py: routed by the point, or geocoded from
  ``address_string``, to its grid and grid worker, with its deadlines): anonymous on the
  channel ``app`` (residents report without an account), or with ``api_key`` (an API token,
  resolved as a Bearer token is) on the channel ``referral``, a matter handed over by another
  system, for the accounts that may report on a staff channel;
- ``status`` is ``closed`` for the workflow's closed states (cases.models.CLOSED_STATES:
  closed, evaluated, voided) and ``open`` for every other;
- what ``GET`` shows of a request is what the public board may show (cases/publication.py):
  the category, the address cut to the street, the position snapped to about 50 m, the dates,
  the deadline (``expected_datetime``), what was done (the closing note, redacted) and who
  holds it (``agency_responsible``: the grid, or center or department, and the grid worker's
  name as the board writes names, 张*). Never the reporter, nor the description a resident
  wrote (free text, read by no one before it would be published: the board hides it too).
"""
