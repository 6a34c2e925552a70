#!/usr/bin/env python3
"""The geocoder on the demo's standard addresses: index build time, geocode latency (in
process, through cases.geocoding with its per-call fingerprint query, and through the Flask
endpoint) and accuracy, against a naive peer in the same run — rapidfuzz ``extractOne`` of the
whole text over every standard address's full text, which is what one writes first. Queries
are real addresses written the ways people write them (prefixes dropped, numerals, '#',
typos, 东街 for 东大街 …), plus addresses elsewhere that must not match. Writes its section
of bench/RESULTS.md.

Run (the managed database with the demo loaded):
  .venv/bin/python bench/geocode_bench.py [--sample 300] [--builds 5] [--url URL] [--no-write]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import spread, write_section  # noqa: E402

from rapidfuzz import fuzz, process  # noqa: E402

from cases import geocoding  # noqa: E402
from db.session import database_url, session_scope  # noqa: E402
from geo.address import int_to_cn  # noqa: E402
from geo.geocoder import AddressIndex  # noqa: E402

FULL_WIDTH = str.maketrans("0123456789", "０１２３４５６７８９")
TYPOS = {"头": "投", "庄": "装", "街": "姐", "杨": "羊", "坪": "平", "王": "旺", "村": "寸"}
ELSEWHERE = ["北京市朝阳区建国路88号", "山西省太原市小店区体育路5号", "陕西省西安市雁塔区东大街12号",
             "泽州县大箕镇渠头村东大街12号", "巴公镇王家峪村5号", "张庄村东大街5号", "晋城市城区东大街12号"]


def _forms(r: dict) -> list[str]:
    v, s, d = r["village"], r["street"], r["door_number"]
    flat = f"{r['building']}号楼{r['unit']}单元{r['room']}室" if r["building"] else ""
    typo_v = next((v.replace(a, b, 1) for a, b in TYPOS.items() if a in v[:-1]), v)
    short = s.replace("大街", "街") if s.endswith("大街") else s
    return [
        r["full_text"], f"巴公镇{v}{s}{d}号{flat}", f"{v}{s}{int_to_cn(d)}号{flat}",
        f"山西晋城泽州巴公{v}{s}{d}#{flat}", f"{v} {s} {str(d).translate(FULL_WIDTH)} {flat}",
        f"{typo_v}{s}{d}号{flat}", f"{v}{short}{d}号{flat}", f"{v}{s}{d}号{flat}附近",
    ]


def _percentile(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def _timed(fn, queries) -> tuple[list[float], list]:
    out, times = [], []
    for q in queries:
        t = time.perf_counter()
        out.append(fn(q))
        times.append((time.perf_counter() - t) * 1000)
    return times, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=None, help="database (default: GRIDGOV_DATABASE_URL or the managed cluster)")
    ap.add_argument("--sample", type=int, default=300, help="addresses sampled; each is written 8 ways")
    ap.add_argument("--builds", type=int, default=5, help="index builds timed")
    ap.add_argument("--no-write", action="store_true", help="print only; leave bench/RESULTS.md alone")
    args = ap.parse_args()
    url = database_url({"DATABASE_URL": args.url})

    with session_scope(url) as s:
        s.execute(geocoding.FINGERPRINT_SQL)  # connect before timing
        reads, builds = [], []
        for _ in range(args.builds):
            t0 = time.perf_counter()
            rows = geocoding.index_rows(s)
            t1 = time.perf_counter()
            index = AddressIndex(**rows)
            builds.append(time.perf_counter() - t1)
            reads.append(t1 - t0)
        addresses = [r for r in index.rows if r["street"]]
        sample = random.Random(7).sample(addresses, min(args.sample, len(addresses)))
        queries = [(q, r["id"]) for r in sample for q in _forms(r)]
        texts = [q for q, _ in queries]

        ours_ms, ours = _timed(index.geocode, texts)
        cached_ms, _ = _timed(lambda q: geocoding.geocode(s, q), texts[:2000])
        full_texts = [r["full_text"] for r in index.rows]
        peer_ms, peer = _timed(lambda q: process.extractOne(q, full_texts, scorer=fuzz.WRatio), texts)
        elsewhere_ours = sum(index.geocode(q) is not None for q in ELSEWHERE)
        elsewhere_peer = sum(process.extractOne(q, full_texts, scorer=fuzz.WRatio) is not None for q in ELSEWHERE)
        rev_pts = [(float(r["lon"]) + 0.0001, float(r["lat"])) for r in sample]
        rev_ms, _ = _timed(lambda p: index.reverse(*p), rev_pts)

    from web import create_app

    client = create_app({"DATABASE_URL": url}).test_client()
    http_ms, _ = _timed(lambda q: client.get("/api/v1/geocode", query_string={"q": q}), texts[:1000])

    right_door = sum(g is not None and g.address_id == want for g, (_, want) in zip(ours, queries))
    coarser = sum(g is not None and g.precision != "door" for g in ours)
    wrong_door = sum(g is not None and g.precision == "door" and g.address_id not in (None, want)
                     for g, (_, want) in zip(ours, queries))
    peer_right = sum(index.rows[m[2]]["id"] == want for m, (_, want) in zip(peer, queries))

    def row(name, ms, what):
        return f"| {name} | {statistics.median(ms):.3f} | {_percentile(ms, 0.99):.3f} | {len(ms)} | {what} |"

    n = len(queries)
    lines = [
        f"{len(index.rows):,} standard addresses, {sum(len(v.streets) for v in index.villages.values())} streets, "
        f"{len(index.villages)} villages; {len(sample)} addresses sampled, each written {n // len(sample)} ways: {n:,} queries.",
        "",
        f"Index build, {args.builds} builds, median (fastest–slowest): database read "
        f"{spread([t * 1000 for t in reads], '{:.0f}')} ms + Python build "
        f"{spread([t * 1000 for t in builds], '{:.0f}')} ms.",
        "",
        "| what | median ms | p99 ms | queries | notes |",
        "| --- | --- | --- | --- | --- |",
        row("`AddressIndex.geocode` (in process)", ours_ms, "normalise, parse, match level by level"),
        row("`cases.geocoding.geocode(session, q)`", cached_ms, "plus the fingerprint query per call"),
        row("`GET /api/v1/geocode` (Flask test client)", http_ms, "plus request parsing and JSON"),
        row("peer: rapidfuzz `extractOne` over all full texts", peer_ms, "WRatio, no parsing"),
        row("`AddressIndex.reverse`", rev_ms, "nearest of all addresses, numpy"),
        "",
        f"Accuracy on the same queries: gridgov returned the written address (door, right row) for "
        f"{right_door / n:.1%}, a coarser level (street/village/town, honest) for {coarser / n:.1%}, "
        f"a wrong door for {wrong_door / n:.1%}; the peer's best row was the written address for "
        f"{peer_right / n:.1%}. Addresses elsewhere matched: gridgov {elsewhere_ours}/{len(ELSEWHERE)}, "
        f"the peer {elsewhere_peer}/{len(ELSEWHERE)} (`extractOne` without a score cutoff answers whenever "
        "there is a choice).",
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section("geocode", "Geocoding Chinese addresses", lines,
                      f"python bench/geocode_bench.py --sample {args.sample} --builds {args.builds}")


if __name__ == "__main__":
    main()
