"""Feeds as the commands and the route see them: add one (its secret made here, shown
once), list them, find one by name."""

from __future__ import annotations

import re
import secrets
from typing import Any

from sqlalchemy.orm import Session

from cases.categories import categories
from feeds import repository
from feeds.errors import FeedExists, InvalidFeedName, UnknownFeed
from feeds.mapping import checked_mapping

# a URL segment and one MQTT topic level (no '/', '+' or '#')
FEED_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,59}$")


def check_name(name: str) -> str:
    if not FEED_NAME.match(name):
        raise InvalidFeedName(
            f"the feed name {name!r} must be 1 to 60 lower-case letters, digits, '_' or '-', "
            "starting with a letter or digit", {"name": name})
    return name


def add_feed(session: Session, name: str, mapping: Any, replace: bool = False) -> str:
    """Add the feed ``name`` with ``mapping`` (checked against the categories) and return its
    new secret; with ``replace``, give an existing feed a new mapping and a new secret (the
    old secret stops working). Raises InvalidFeedName, InvalidMapping, FeedExists."""
    check_name(name)
    checked = checked_mapping(mapping, set(categories(session)))
    secret = secrets.token_urlsafe(32)
    if replace and repository.replace_feed(session, name, secret, checked) is not None:
        return secret
    if repository.insert_feed(session, name, secret, checked) is None:
        raise FeedExists(f"a feed named {name!r} exists: add --replace to give it a new mapping "
                         "and secret", {"name": name})
    return secret


def feed(session: Session, name: str) -> dict[str, Any]:
    """The feed ``name`` (id, name, secret, mapping); UnknownFeed."""
    # a name no feed can have is not looked up (a URL segment may hold a NUL, which
    # PostgreSQL's text refuses)
    found = repository.feed_by_name(session, name) if FEED_NAME.match(name) else None
    if found is None:
        raise unknown_feed(name)
    return found


def feeds_named(session: Session, names: set[str]) -> dict[str, dict[str, Any]]:
    """The feeds of ``names`` that exist, by name (one query for a batch of messages)."""
    valid = sorted(n for n in names if FEED_NAME.match(n))
    return repository.feeds_by_name(session, valid) if valid else {}


def unknown_feed(name: str) -> UnknownFeed:
    return UnknownFeed(f"there is no feed named {name[:60]!r} (gridgov feeds list)", {"feed": name[:60]})


def feeds(session: Session) -> list[dict[str, Any]]:
    """Every feed with its numbers: events, cases, the last event's time, rejected messages."""
    return repository.list_feeds(session)
