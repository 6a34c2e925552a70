"""``gridgov feeds``: add and list the monitoring feeds, run the MQTT subscriber, run the
broker (feeds/broker.py)."""

from __future__ import annotations

import json
import logging
import os

import click

from db.cli_support import BadInput, cli_session
from db.session import database_url, var_dir
from feeds.errors import FeedError


def broker_url() -> str | None:
    """``GRIDGOV_MQTT_URL``, else the managed broker's (None before its first start)."""
    from feeds.broker import Broker

    return os.environ.get("GRIDGOV_MQTT_URL") or Broker(var_dir() / "mqtt").url()


@click.group("feeds")
def feeds_group() -> None:
    """Monitoring feeds: sensors and partner systems whose events become cases.

    \b
    Example:
      gridgov feeds list
    """


@feeds_group.command("add")
@click.argument("name")
@click.option("--mapping", "mapping_path", required=True, type=click.Path(dir_okay=False),
              help="The feed's mapping: sensor types, categories, thresholds (TOML or JSON).")
@click.option("--replace", is_flag=True,
              help="Give an existing feed this mapping and a new secret (the old one stops working).")
def add_command(name: str, mapping_path: str, replace: bool) -> None:
    """Add a feed and print its secret, once: the feed signs its HTTP events with it.

    \b
    Example:
      gridgov feeds add river --mapping feeds/data/water_level.toml
    """
    from feeds import service
    from feeds.mapping import read_mapping

    with cli_session(write=True, refused=FeedError) as session:
        secret = service.add_feed(session, name, read_mapping(mapping_path), replace=replace)
    click.echo(f"feed {name}: POST /api/v1/feeds/{name}/events (signed), "
               f"MQTT gridgov/feeds/{name}/events; its secret (shown once):", err=True)
    click.echo(secret)


@feeds_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(as_json: bool) -> None:
    """List the feeds: sensor types, events, cases, rejected MQTT messages (never secrets).

    \b
    Example:
      gridgov feeds list --json
    """
    from feeds import service

    with cli_session(write=False) as session:
        rows = service.feeds(session)
    out = [{"name": r["name"], "sensor_types": sorted(r["mapping"]["sensors"]),
            "events": r["events"], "cases": r["cases"], "rejected": r["rejected"],
            "last_event_at": r["last_event_at"].isoformat() if r["last_event_at"] else None}
           for r in rows]
    if as_json:
        click.echo(json.dumps(out, ensure_ascii=False))
        return
    for f in out:
        click.echo(f"{f['name']}\t{','.join(f['sensor_types'])}\tevents {f['events']}\t"
                   f"cases {f['cases']}\trejected {f['rejected']}\tlast {f['last_event_at'] or '-'}")


@feeds_group.command("mqtt")
@click.option("--broker", "broker", metavar="URL",
              help="mqtt://host:port (default: GRIDGOV_MQTT_URL, else the managed broker).")
def mqtt_command(broker: str | None) -> None:
    """Take the feeds' MQTT events (gridgov/feeds/<feed>/events, QoS 1) until stopped.

    \b
    Example:
      gridgov feeds mqtt --broker mqtt://127.0.0.1:1883
    """
    from feeds.mqtt import Subscriber

    with cli_session(write=False):  # an unreachable database or an old schema: one line, exit 2
        url = database_url()
    broker = broker or broker_url()
    if broker is None:
        raise BadInput("no broker: start one with `gridgov feeds broker start`, or set GRIDGOV_MQTT_URL")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        subscriber = Subscriber(url, broker)
    except ValueError as exc:
        raise BadInput(str(exc)) from exc
    click.echo(f"feeds mqtt: {broker}, topic gridgov/feeds/+/events", err=True)
    subscriber.run()


@feeds_group.command("broker")
@click.argument("action", type=click.Choice(["start", "stop", "status", "url"]))
def broker_command(action: str) -> None:
    """Start, stop or show the managed Mosquitto broker (var/mqtt/, 127.0.0.1, a free port kept
    from one start to the next).

    \b
    Example:
      gridgov feeds broker start
    """
    from feeds.broker import Broker

    if os.environ.get("GRIDGOV_MQTT_URL") and action in ("start", "stop"):
        # as with GRIDGOV_DATABASE_URL: a broker of your own is never started or stopped by us
        click.echo(f"GRIDGOV_MQTT_URL is set ({os.environ['GRIDGOV_MQTT_URL']}): "
                   "no managed broker", err=True)
        return
    broker = Broker(var_dir() / "mqtt")
    try:
        if action == "start":
            started = broker.start()
            click.echo(f"broker {'started' if started else 'already running'} on {broker.url()}", err=True)
        elif action == "stop":
            click.echo("broker stopped" if broker.stop() else "broker was not running", err=True)
        elif action == "status":
            click.echo(f"{'running' if broker.running() else 'stopped'} {broker.url() or ''}".strip())
        else:
            if broker.url() is None:
                raise BadInput("the broker has never started: `gridgov feeds broker start`")
            click.echo(broker.url())
    except FeedError as exc:
        raise BadInput(exc.message) from exc
