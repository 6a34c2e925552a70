"""Monitoring feeds: ``POST /api/v1/feeds/{feed}/events``, signed by the feed (no account).

The view checks the signature over the body as sent, then hands the body to feeds/intake.py;
the errors of the feeds package answer from the one table in web/errors.py.
"""

from __future__ import annotations

import time

from flask import current_app, request

from accounts.access import SIGNED, allow
from feeds import intake, service
from feeds.intake import FeedEventIn
from feeds.models import EVENT_STATUSES
from feeds.signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from web import limits
from web.api import operation
from web.database import session

FEED_RESULT_OUT = {
    "type": "object", "required": ["feed", "id", "status", "case_id", "replayed", "links"],
    "properties": {
        "feed": {"type": "string"},
        "id": {"type": "string", "description": "the feed's own id of the event, as text"},
        "status": {"type": "string", "enum": list(EVENT_STATUSES)},
        "case_id": {"type": ["integer", "null"], "description": "null when normal"},
        "replayed": {"type": "boolean"},
        "links": {"type": "object", "properties": {"case": {"type": "string"}},
                  "description": "`case`: the case opened or joined"},
    },
}


@allow(SIGNED)
@operation(
    "/feeds/<feed>/events", "POST", summary="A monitoring feed's event (HMAC-signed)",
    tags=["feeds"], body=FeedEventIn, parse_body=False,
    responses={201: ("the event taken: `status` opened (a new case), joined (one more supporter "
                     "of the open case it repeats) or normal (on the safe side of its threshold: "
                     "recorded, nothing else)", FEED_RESULT_OUT),
               200: ("the same event sent before (header Idempotent-Replayed: true): its first "
                     "outcome, nothing written", FEED_RESULT_OUT)},
    errors={400: "malformed_json: the body is not JSON",
            401: "signature_missing, bad_signature, or signature_expired (signed more than 5 "
                 "minutes from our clock)",
            404: "unknown_feed",
            409: "feed_event_id_reused: the feed's event id was sent before with another body",
            413: "the body is over its limit (1 MiB)",
            422: "invalid_event (a message per field), unknown_sensor_type (details.valid lists "
                 "the feed's), outside_coverage (the position is outside the town)"},
)
def post_event(feed: str):
    """Send the event as JSON — `id` (the feed's own, unique per feed), `sensor_type`, optional
    `sensor_id`, `value` (needed when the sensor type has a threshold), `location` {lon, lat,
    crs}, optional `occurred_at` and `description` — with `X-Gridgov-Timestamp` (Unix seconds)
    and `X-Gridgov-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + body)>`. An
    alarm opens a case routed like any report, on the channel the feed's mapping gives, or
    joins the open case of its category within 50 m and 24 h as one more supporter. The same
    event sent again changes nothing and answers as the first time did."""
    raw = request.get_data(cache=True)  # 413 past the limit (web/limits.py)
    limits.refuse_if_over(len(raw))
    db = session()
    found = service.feed(db, feed)
    verify(found["secret"], request.headers.get(TIMESTAMP_HEADER),
           request.headers.get(SIGNATURE_HEADER), raw, time.time())
    result = intake.receive_event(db, found, raw, "http")
    db.commit()
    response = current_app.json.response(result.to_dict())
    response.status_code = 200 if result.replayed else 201
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response
