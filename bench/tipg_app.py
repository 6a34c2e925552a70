"""tipg's own application (``tipg.main:app``) with one more route, for bench/tiles_bench.py.

``GET /_bench/settings?name=jit&name=…`` answers the named settings (those that make the
comparison with gridgov fair: JIT, parallel workers) as a connection from tipg's own pool sees
them, with the worker's and the backend's process ids. tipg has no such route, and the settings of another backend cannot be
read from outside (pg_stat_activity does not show them), so this is the way to prove that the
settings given in tipg's DATABASE_URL reach every connection it serves tiles with. Nothing
else of tipg changes: its tiles are answered by its own routes.

    uvicorn --app-dir bench tipg_app:app
"""

from __future__ import annotations

import os

from typing import Annotated

from fastapi import Query, Request
from tipg.main import app


@app.get("/_bench/settings", include_in_schema=False)
async def pool_settings(request: Request, name: Annotated[list[str], Query()]) -> dict:
    """The settings ``name`` of one connection of this worker's pool."""
    async with request.app.state.pool.acquire() as conn:
        values = {n: await conn.fetchval("SELECT current_setting($1)", n) for n in name}
        backend = await conn.fetchval("SELECT pg_backend_pid()")
    return {"settings": values, "worker_pid": os.getpid(), "backend_pid": backend}


__all__ = ["app"]
