"""How an HTTP event proves it comes from its feed: an HMAC-SHA256 under the feed's secret.

The sender signs the timestamp and the body exactly as sent::

    X-Gridgov-Timestamp: 1764496800                       (Unix seconds)
    X-Gridgov-Signature: sha256=<hex HMAC-SHA256(secret, "1764496800." + body)>

A timestamp more than ``WINDOW_S`` from the server's clock is refused, so a captured request
cannot be replayed later; inside the window a replay is the same event id and changes nothing
(feeds/intake.py). The comparison takes constant time.
"""

from __future__ import annotations

import hashlib
import hmac

from feeds.errors import SignatureExpired, SignatureInvalid, SignatureMissing

TIMESTAMP_HEADER = "X-Gridgov-Timestamp"
SIGNATURE_HEADER = "X-Gridgov-Signature"
WINDOW_S = 300
_PREFIX = "sha256="


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """The ``X-Gridgov-Signature`` value of ``body`` sent at ``timestamp`` (Unix seconds)."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return _PREFIX + mac.hexdigest()


def verify(secret: str, timestamp: str | None, sent: str | None, body: bytes, now_s: float) -> None:
    """Raise SignatureMissing, SignatureInvalid or SignatureExpired unless ``sent`` signs
    ``body`` at ``timestamp`` under ``secret`` and ``timestamp`` is within WINDOW_S of
    ``now_s``."""
    missing = [h for h, v in ((TIMESTAMP_HEADER, timestamp), (SIGNATURE_HEADER, sent)) if not v]
    if missing:
        raise SignatureMissing(
            f"the event is not signed: send {' and '.join(missing)} "
            f"({SIGNATURE_HEADER}: sha256=HMAC-SHA256(secret, timestamp + '.' + body))",
            {"missing": missing})
    assert timestamp is not None and sent is not None
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureInvalid(f"{TIMESTAMP_HEADER} is {timestamp[:40]!r} but must be Unix seconds",
                               {"header": TIMESTAMP_HEADER})
    if not hmac.compare_digest(sent.strip().encode("utf-8", "replace"),
                               signature(secret, timestamp, body).encode("ascii")):
        raise SignatureInvalid("the signature does not match the body under this feed's secret",
                               {"header": SIGNATURE_HEADER})
    age_s = now_s - int(timestamp)
    if abs(age_s) > WINDOW_S:
        raise SignatureExpired(
            f"the request was signed {abs(age_s):.0f} s {'ago' if age_s > 0 else 'ahead of our clock'}; "
            f"a signature is good for {WINDOW_S} s",
            {"timestamp": int(timestamp), "age_s": round(age_s), "window_s": WINDOW_S})
