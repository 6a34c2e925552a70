"""``GET /api/v1/stream``: cases created or changed anywhere, as Server-Sent Events."""

from __future__ import annotations

from flask import Response, request, stream_with_context

from accounts.access import ANY_ACCOUNT, allow
from web import database
from web.api import operation
from web.live import hub_for, sse_stream
from web.auth import current_actor
from web.streams import ACCEPTED_KEY, HANDOFF_KEY, scope_filter

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


@allow(ANY_ACCOUNT)
@operation(
    "/stream", summary="Live case events (Server-Sent Events)", tags=["map"],
    responses={200: ("text/event-stream: `event: case` with JSON data {op, id, status, category_code, "
                     "lon, lat, grid_code, assignee_id, due_at, updated_at}", None)},
)
def stream():
    """Every case created or changed — by the API, a worker, the CLI or another server
    process — is sent within a moment (each server reads the cases' notices from PostgreSQL
    every 50 ms, web/live.py). The stream sends a
    heartbeat comment every 15 s; browsers reconnect by themselves (`retry: 2000`). An
    account hears the cases of its scope (a village operator its village, a grid worker its
    grids, a department handler its department's cases)."""
    hub = hub_for(database.listen_conninfo())
    actor = current_actor()
    # the account's scope goes with its stream: a village operator's map hears its village
    scope = {"role": actor.role, "name": actor.name, "scope_kind": actor.scope_kind,
             "scope_code": actor.scope_code, "grid_codes": sorted(actor.grid_codes),
             "village_codes": sorted(actor.village_codes)}
    # the credentials are read: the stream holds no database connection while it is open
    # (an open map would otherwise keep one checked out for hours)
    database.release()
    if request.method == "HEAD":
        return Response(status=200, mimetype="text/event-stream", headers=HEADERS)
    if request.environ.get(HANDOFF_KEY):
        # `gridgov serve`: this answer's head goes out as it is, and the worker's stream
        # process writes the body (web/streams.py), so an open stream holds no thread
        request.environ[ACCEPTED_KEY] = {"conninfo": hub.conninfo, "scope": scope}
        return Response(status=200, mimetype="text/event-stream", headers=HEADERS)
    q = hub.subscribe(accepts=scope_filter(scope))
    return Response(
        stream_with_context(sse_stream(hub, q)),
        mimetype="text/event-stream",
        headers=HEADERS,
    )
