"""Values read from the database that change rarely (the categories, the business calendar),
kept per process and per database for ``CACHE_SECONDS`` instead of being read on every
request. An administrator's tool that changes them calls ``cases.intake.clear_caches()``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

CACHE_SECONDS = 300.0


class PerDatabase:
    """A value loaded from the database, kept per database for ``ttl_s`` seconds."""

    def __init__(self, loader: Callable[[Session], Any], ttl_s: float = CACHE_SECONDS):
        self._loader = loader
        self._ttl_s = ttl_s
        self._store: dict[Any, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, session: Session) -> Any:
        key = session.get_bind().url
        hit = self._store.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self._ttl_s:
            return hit[1]
        value = self._loader(session)
        with self._lock:
            self._store[key] = (now, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._store.clear()
