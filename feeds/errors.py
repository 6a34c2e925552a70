"""Errors of the feeds package: one base, one subclass per refusal; web/errors.py maps them to
HTTP statuses, the MQTT subscriber writes their code on the rejected message's row."""

from __future__ import annotations

from db.errors import GridgovError


class FeedError(GridgovError):
    """Base of every refusal of a feed, a feed's event or a feed's mapping."""


class UnknownFeed(FeedError):
    """No feed of this name (``gridgov feeds list`` shows them)."""


class FeedExists(FeedError):
    """``gridgov feeds add`` with the name of a feed that exists."""


class InvalidFeedName(FeedError):
    """A feed name that cannot be a URL segment and an MQTT topic level."""


class InvalidMapping(FeedError):
    """A mapping file that is not JSON or TOML, or whose sensor types, categories, channels or
    thresholds do not fit (the offending key in the message)."""


class SignatureMissing(FeedError):
    """An HTTP event without its signature or timestamp header."""


class SignatureInvalid(FeedError):
    """The signature is not the HMAC-SHA256 of the timestamp and body under the feed's
    secret (or the timestamp header is not a number of seconds)."""


class SignatureExpired(FeedError):
    """The signed timestamp is more than five minutes from the server's clock: an old
    request replayed, or a sender whose clock is wrong."""


class MalformedEvent(FeedError):
    """The event is not JSON (or not UTF-8)."""


class InvalidEvent(FeedError):
    """The event is JSON but a field is missing or does not fit (one message per field)."""


class UnknownSensorType(FeedError):
    """The event's sensor type is not in its feed's mapping."""


class EventIdReused(FeedError):
    """The feed's event id was used before with a different event."""


class BrokerError(FeedError):
    """The Mosquitto broker could not be set up, started or stopped."""
