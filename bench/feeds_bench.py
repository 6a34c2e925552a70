"""Feed benchmark: a feed sending ``--rate`` (500) events/s over MQTT for ``--duration`` (60) s,
mostly repeats, while residents report through ``POST /api/v1/cases``.

What it does, end to end:

1. creates a throwaway database with the Bagong demo (bench/servers.py), adds a feed ``bench``
   with feeds/data/water_level.toml, starts a Mosquitto broker of its own (feeds/broker.py, a
   temporary directory, a free port), ``gridgov feeds mqtt`` and ``gridgov serve``;
2. ``--runs`` (3) times, each run:

   a. **baseline**: wrk sends residents' reports at ``--resident-rate`` (100) /s for the
      duration, with no feed; p99;
   b. **with the feed**: the same wrk run while a paho-mqtt publisher sends ``--rate`` events/s
      (QoS 1) from ``--sensors`` (20) water gauges at random points in the town, every one of
      them an alarm repeating its gauge's (``--normal-share``, 10 %, are readings under the
      threshold); p99 again, and the CPU the subscriber, the broker and the publisher used
      (all three on this machine, beside the server: the p99's growth includes them);
   c. waits for the subscriber to take every event the broker acknowledged, then checks: no
      event lost (``feed_events`` holds every id acknowledged, id by id), none twice; the
      broker's rate is the events it acknowledged over the time from the first sent to the
      last acknowledged (below 500/s, the broker did not keep up);

3. checks that no gauge has more than one case (the first run opens one per gauge, the later
   runs' alarms all join them), and reports per run the rate the broker acknowledged, how
   long the subscriber took to drain after the last event was acknowledged, and the residents' p99 with
   the feed against the baseline of the same run (the issue's target: within 20 %), as
   medians with the spread over the runs;
4. writes its section ``<!-- feeds:start -->…<!-- feeds:end -->`` of bench/RESULTS.md unless
   ``--no-write``, stops everything and drops the database (``--keep-db`` keeps it).

Example:
    .venv/bin/python bench/feeds_bench.py                        # 3 × 2 × 60 s after the demo load
    .venv/bin/python bench/feeds_bench.py --duration 5 --runs 1 --no-write
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import paho.mqtt.client as paho  # noqa: E402
import psycopg  # noqa: E402

from db.session import conninfo, session_scope  # noqa: E402
from http_bench import (  # noqa: E402  (bench/, the script's own folder)
    _proc_ticks, _server_pids, paced, post_script, run_wrk, sample,
)
from results import every_run, spread, write_section  # noqa: E402
from servers import (  # noqa: E402
    BIN, add_server_options, bench_token, drop_database, prepare_database, start_gridgov,
)

P99_GROWTH_TARGET = 0.20  # the residents' intake p99 with the feed: within 20 % of without
DRAIN_CEILING_S = 600
STALL_S = 30


def publish(port: int, points: list[tuple[float, float]], rate: float, duration: float,
            normal_share: float, rng: random.Random, run: int) -> tuple[set[str], int, float, float]:
    """Send ``rate`` events/s for ``duration`` s; (ids the broker acknowledged, ids sent, the
    rate they were sent at, the rate the broker acknowledged them at: all acknowledged over
    the time from the first sent to the last acknowledged). The acknowledgements are read
    from each message's info, not from a callback: paho calls on_publish holding its own
    lock, which publish() takes too."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bench-gauges")
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(1000)
    client.connect("127.0.0.1", port)
    client.loop_start()
    sent: list[tuple[str, paho.MQTTMessageInfo]] = []
    start = time.monotonic()
    while (now := time.monotonic() - start) < duration:
        due = int(now * rate)
        while len(sent) < due:
            n = len(sent)
            gauge = n % len(points)
            lon, lat = points[gauge]
            value = 3.0 if rng.random() < normal_share else 3.6 + rng.random()
            ident = f"G{gauge}-{run}-{n}"
            body = {"id": ident, "sensor_type": "water_level", "sensor_id": f"G{gauge}",
                    "value": round(value, 3), "location": {"lon": lon, "lat": lat}}
            sent.append((ident, client.publish("gridgov/feeds/bench/events", json.dumps(body), qos=1)))
        time.sleep(0.002)
    achieved = len(sent) / (time.monotonic() - start)
    deadline = time.monotonic() + 60
    waiting = 0  # the messages before this one are acknowledged
    while time.monotonic() < deadline:
        while waiting < len(sent) and sent[waiting][1].is_published():
            waiting += 1
        if waiting == len(sent):
            break
        time.sleep(0.02)
    acked_s = time.monotonic() - start
    acked = {ident for ident, info in sent if info.is_published()}
    client.disconnect()
    client.loop_stop()
    return acked, len(sent), achieved, len(acked) / acked_s


def taken_ids(url: str, run: int) -> set[str]:
    """The event ids of run ``run`` in feed_events."""
    with psycopg.connect(conninfo(url)) as conn:
        return {r[0] for r in conn.execute(
            "SELECT external_id FROM feed_events WHERE external_id LIKE %s", (f"G%-{run}-%",))}


def feed_numbers(url: str) -> dict:
    with psycopg.connect(conninfo(url)) as conn:
        events = conn.execute("SELECT count(*), count(DISTINCT external_id) FROM feed_events").fetchone()
        per_gauge = conn.execute("""
            SELECT sensor_id, count(DISTINCT case_id) FROM feed_events
             WHERE status IN ('opened', 'joined') GROUP BY sensor_id""").fetchall()
        opened = conn.execute("SELECT count(*) FROM feed_events WHERE status = 'opened'").fetchone()[0]
        rejected = conn.execute("SELECT count(*) FROM feed_rejects").fetchone()[0]
    return {"events": events[0], "distinct": events[1], "opened": opened, "rejected": rejected,
            "gauges_with_several_cases": sum(1 for _, n in per_gauge if n > 1)}


def drain(url: str, run: int, acked: set[str]) -> tuple[float, set[str]]:
    """Wait until every acknowledged id of the run is taken (or nothing moves for STALL_S):
    the seconds it took and the ids taken."""
    t0 = progress_at = time.monotonic()
    taken: set[str] = set()
    while time.monotonic() - t0 < DRAIN_CEILING_S:
        now_taken = taken_ids(url, run)
        if now_taken > taken:
            taken, progress_at = now_taken, time.monotonic()
        if acked <= taken:
            break
        if time.monotonic() - progress_at > STALL_S:
            print(f"the subscriber took nothing for {STALL_S} s: stopping the wait", flush=True)
            break
        time.sleep(0.1)
    return time.monotonic() - t0, taken


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rate", type=float, default=500, help="feed events/s (default 500)")
    p.add_argument("--duration", type=int, default=60, help="seconds per run (default 60)")
    p.add_argument("--runs", type=int, default=3, help="baseline-and-feed pairs (default 3)")
    p.add_argument("--sensors", type=int, default=20, help="water gauges sending (default 20)")
    p.add_argument("--normal-share", type=float, default=0.1, help="readings under the threshold")
    p.add_argument("--resident-rate", type=float, default=100, help="residents' reports/s")
    p.add_argument("--clients", type=int, default=8, help="wrk connections")
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    add_server_options(p, "feeds")
    p.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = p.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install -y wrk")

    from feeds import service
    from feeds.broker import Broker
    from feeds.mapping import read_mapping

    rng = random.Random(args.seed)
    url = prepare_database(args)
    with session_scope(url) as session:
        service.add_feed(session, "bench", read_mapping(ROOT / "feeds/data/water_level.toml"))
    points, categories = sample(url, 4000, args.seed)
    gauges = points[: args.sensors]
    # residents report on the residents' channel only, away from nothing in particular
    script_text = paced(post_script(points[args.sensors:], categories, rng, bench_token(url)),
                        args.resident_rate, args.threads)
    tmp = tempfile.TemporaryDirectory()
    broker = Broker(Path(tmp.name) / "mqtt")
    broker.start()
    gridgov = start_gridgov(url, workers=args.workers)
    log = open(f"/tmp/gridgov_bench_feeds_mqtt_{broker.port}.log", "w")  # noqa: SIM115
    subscriber = subprocess.Popen(
        [str(BIN / "gridgov"), "feeds", "mqtt", "--broker", broker.url()],
        env={**os.environ, "GRIDGOV_DATABASE_URL": url}, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True, cwd=ROOT)
    runs: list[dict] = []
    try:
        # a message published before the subscriber's first subscription has no session to
        # wait in: start once it has subscribed
        deadline = time.monotonic() + 120
        while "subscribed to" not in Path(log.name).read_text():
            if subscriber.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"gridgov feeds mqtt did not subscribe; see {log.name}")
            time.sleep(0.2)
        server = _server_pids(gridgov.proc)
        script = Path(tmp.name, "post.lua")
        script.write_text(script_text, encoding="utf-8")
        tick_s = os.sysconf("SC_CLK_TCK")
        broker_pids = _server_pids(SimpleNamespace(pid=broker.pid()))  # runuser and mosquitto, as root
        for run in range(1, args.runs + 1):
            baseline = run_wrk(gridgov.port, script, args.clients, args.threads, args.duration, server)
            published: dict = {}

            def feed(run: int = run) -> None:
                published["acked"], published["sent"], published["rate"], published["accepted"] = publish(
                    broker.port, gauges, args.rate, args.duration, args.normal_share, rng, run)

            sender = threading.Thread(target=feed)
            ticks = _proc_ticks(subscriber.pid)
            broker_ticks = sum(_proc_ticks(p) for p in broker_pids)
            own = resource.getrusage(resource.RUSAGE_SELF)
            feed_wall = time.monotonic()
            sender.start()
            loaded = run_wrk(gridgov.port, script, args.clients, args.threads, args.duration, server)
            sender.join()
            # this process's CPU while it published (its other threads only wait for wrk)
            own_after = resource.getrusage(resource.RUSAGE_SELF)
            feed_wall = time.monotonic() - feed_wall
            publisher_cpu = (own_after.ru_utime + own_after.ru_stime - own.ru_utime - own.ru_stime) / feed_wall
            broker_cpu = (sum(_proc_ticks(p) for p in broker_pids) - broker_ticks) / tick_s / feed_wall
            drain_s, taken = drain(url, run, published["acked"])
            subscriber_cpu = (_proc_ticks(subscriber.pid) - ticks) / tick_s / (feed_wall + drain_s)
            runs.append({
                "sent": published["sent"], "acked": len(published["acked"]), "rate": published["rate"],
                "accepted": published["accepted"],
                "taken": len(taken), "lost": len(published["acked"] - taken), "drain_s": drain_s,
                "base_p99": baseline["p99_ms"], "feed_p99": loaded["p99_ms"],
                "growth": loaded["p99_ms"] / baseline["p99_ms"] - 1, "subscriber_cpu": subscriber_cpu,
                "broker_cpu": broker_cpu, "publisher_cpu": publisher_cpu,
                "errors": baseline["errors"] + loaded["errors"], "load": os.getloadavg()[0],
            })
            r = runs[-1]
            print(f"run {run}: {r['sent']} sent at {r['rate']:.0f}/s, {r['acked']} acknowledged "
                  f"(at {r['accepted']:.0f}/s), "
                  f"{r['taken']} taken, {r['lost']} lost, drained {r['drain_s']:.1f} s after; residents' "
                  f"p99 {r['base_p99']:.2f} ms without, {r['feed_p99']:.2f} ms with ({r['growth']:+.0%}); "
                  f"CPU (of a core): subscriber {r['subscriber_cpu']:.0%}, broker {r['broker_cpu']:.0%}, "
                  f"publisher {r['publisher_cpu']:.0%}; load {r['load']:.2f}", flush=True)
        numbers = feed_numbers(url)
    finally:
        subscriber.terminate()  # SIGTERM: it finishes the batch in hand
        subscriber.wait(timeout=30)
        log.close()
        gridgov.stop()
        broker.destroy()
        tmp.cleanup()
        drop_database(args)
    lost = sum(r["lost"] for r in runs)
    twice = numbers["events"] - numbers["distinct"]
    growth = statistics.median(r["growth"] for r in runs)
    col = lambda key: [r[key] for r in runs]  # noqa: E731
    lines = [
        f"A feed of {args.sensors} water gauges over MQTT (QoS 1, `gridgov feeds mqtt`), offered "
        f"{args.rate:g} events/s for {args.duration} s ({args.normal_share:.0%} under the threshold), "
        f"while residents report at {args.resident_rate:g}/s (wrk, {args.clients} connections), "
        f"`gridgov serve --workers {args.workers}`; {args.runs} runs, each a baseline without the "
        "feed and then the same with it.",
        "",
        f"- feed: {spread(col('sent'), '{:.0f}')} events sent a run at {spread(col('rate'), '{:.0f}')}/s, "
        f"acknowledged by the broker at {spread(col('accepted'), '{:.0f}')}/s (all of them in "
        f"{sum(r['acked'] == r['sent'] for r in runs)} of {args.runs} runs); "
        f"all taken {spread(col('drain_s'), '{:.1f}')} s after the last was acknowledged",
        f"- CPU the feed took on this machine, in % of a core: the subscriber "
        f"{spread([100 * c for c in col('subscriber_cpu')], '{:.0f}')}, the broker "
        f"{spread([100 * c for c in col('broker_cpu')], '{:.0f}')}, the publisher standing for the "
        f"gauges (paho, in this script) {spread([100 * c for c in col('publisher_cpu')], '{:.0f}')}",
        f"- lost (acknowledged, not in feed_events, id by id): {lost} — {'met' if lost == 0 else '**missed**'}; "
        f"taken twice {twice}; rejected {numbers['rejected']}",
        f"- cases opened by the feed: {numbers['opened']} for {args.sensors} gauges; gauges with "
        f"more than one case: {numbers['gauges_with_several_cases']} — "
        f"{'met' if numbers['gauges_with_several_cases'] == 0 else '**missed**'}",
        f"- residents' `POST /api/v1/cases` p99: {spread(col('base_p99'))} ms without the feed, "
        f"{spread(col('feed_p99'))} ms with it; growth per run {every_run([100 * g for g in col('growth')], '{:+.0f}')} %, "
        f"median {growth:+.0%} (target within {P99_GROWTH_TARGET:.0%} — "
        f"{'met' if growth <= P99_GROWTH_TARGET else '**missed**'}); errors {sum(col('errors'))}",
        f"- load average (1 min) at the end of each run: {every_run(col('load'))} on {os.cpu_count()} cores",
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section("feeds", "Monitoring feeds: 500 events/s over MQTT beside the residents' intake",
                      lines, " ".join(sys.argv))


if __name__ == "__main__":
    main()
