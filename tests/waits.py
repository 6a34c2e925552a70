"""How long a test may wait: long enough that only a hang trips it.

Tests wait for the event they expect (an element, a state, a row), never for a fixed time, and
put this ceiling on the wait. It is not a speed target: on a busy 2-core machine a page or a
live event may take seconds, and that is still a pass. How fast things are is measured in
bench/, against the targets in DESIGN.md. tests/test_no_time_asserts.py holds every test to it.
"""

from __future__ import annotations

HANG_S = 30
HANG_MS = HANG_S * 1000  # Playwright counts in milliseconds


def wait_for(predicate, what: str) -> None:
    """Poll ``predicate`` until it holds; AssertionError naming ``what`` after HANG_S."""
    import time

    deadline = time.monotonic() + HANG_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {HANG_S} s")
        time.sleep(0.05)
