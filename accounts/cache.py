"""Who a token or session cookie belongs to, remembered for a few seconds per process.

Every request that is not public looks up its credentials: one statement, one round trip. A
map page's tiles make hundreds of requests a minute with the same cookie, and the lookup was
a third of a cold tile's time on the server (py-spy over tiles_bench.py, 2026-11-30). So a
process keeps each answer for ``TTL_S`` seconds, and only while it is sure to hear of every
change that could alter it:

- The database notifies channel ``gridgov_accounts`` (migration 0020: statement triggers on
  accounts, api_tokens, web_sessions, grid_assignments and grids) on every change to a
  credential, an account, a worker's grids or a zone's villages, whoever makes it: the CLI,
  another server process, psql. The process's listener (web/live.py) then clears the cache.
- An entry counts only while that listener is connected and has not reconnected since the
  entry was stored (``generation``): notifications missed while it was away cannot leave a
  revoked token working. With no listener, nothing is cached.
- ``clear()`` bumps an epoch; an answer read from the database before a clear is not stored
  after it (the same rule as the tile cache's ``token()``), so a lookup racing a revocation
  cannot put the old answer back.
- ``TTL_S`` bounds what only time changes: an assignment's ``since``/``until`` days.

Unknown or revoked credentials are never cached: each still costs its lookup.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any

TTL_S = 30.0
MAX_ENTRIES = 10_000
CHANNEL = "gridgov_accounts"


class CredentialCache:
    """Answers of the credential lookups by the credential's digest (thread-safe)."""

    def __init__(self, ttl_s: float = TTL_S, max_entries: int = MAX_ENTRIES):
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[Any, float, int]] = OrderedDict()
        self._lock = threading.Lock()
        self._epoch = 0
        self.hits = 0

    def epoch(self) -> int:
        """Take before reading the database; hand to :meth:`put`."""
        with self._lock:
            return self._epoch

    def get(self, key: str, generation: int) -> Any | None:
        """The answer stored for ``key`` under the listener's ``generation``, if still fresh."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            value, stored_at, stored_generation = entry
            if stored_generation != generation or time.monotonic() - stored_at > self.ttl_s:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return value

    def put(self, key: str, value: Any, generation: int, epoch: int) -> bool:
        """Store an answer read after :meth:`epoch` gave ``epoch``; refused (False) when the
        cache was cleared since."""
        with self._lock:
            if epoch != self._epoch:
                return False
            self._entries[key] = (value, time.monotonic(), generation)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
            return True

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._epoch += 1

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)


_cache = CredentialCache()


def credential_cache() -> CredentialCache:
    """This process's cache."""
    return _cache
