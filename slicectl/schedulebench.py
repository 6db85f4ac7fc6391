"""`slicectl bench schedule`: how fast the engine books slices ahead (issue 27).

Load: ``bookings`` random specs (as :func:`slicectl.bench.random_specs` draws them: 2-10
endpoints, 1-10 Mbit/s, priority 0-7, one in five with a latency bound, one in ten
link-protected), each booked over a random interval of 30 minutes to 4 hours starting
within the next week, plus ``today`` slices of today. Refusals are part of the load (a
busy week refuses some): they are counted, not skipped.

Then ``probes`` more bookings, each timed alone and cancelled after (so every probe
sees the same loaded week): the issue's target is one more booking in at most 20 ms at
the 99th percentile, at most 500 MB of memory. Times are CPU time of this process (one
thread): on a shared machine wall time also counts whatever else ran.
"""
from __future__ import annotations

import random
import resource
import time
from dataclasses import replace

from slicectl.bench import random_specs
from slicectl.report import percentile
from slices.engine import SliceEngine
from slices.errors import Rejected
from slices.memory import settle_garbage
from slices.schedule import Schedule
from topologies.model import Topology

TARGETS = {"add_ms_p99": 20.0, "peak_rss_mb": 500.0}
WEEK_S = 7 * 86400.0
NOW = 1_796_000_000.0     # a fixed "now" (2026-11-30): the engine has no clock, the figures no date


def _scheduled(specs, rng: random.Random, now: float):
    """Each spec with a random interval in the week after ``now``."""
    out = []
    for s in specs:
        start = now + 60 + rng.uniform(0, WEEK_S)
        out.append(replace(s, schedule=Schedule(start=start, end=start + rng.uniform(1800, 4 * 3600))))
    return out


def run(topo: Topology, bookings: int = 10_000, *, today: int = 100, probes: int = 300,
        seed: int = 27, endpoints_max: int = 10, mbps_scale: float = 1.0) -> dict:
    """Load ``topo``'s engine with ``today`` slices and ``bookings`` bookings, then time
    ``probes`` more bookings (see the module text). ``endpoints_max`` and
    ``mbps_scale`` make the slices smaller, so that a small network (japan-intercloud's
    100 Mbit/s links) holds 10,000 bookings in a week rather than refusing most."""
    rng = random.Random(seed)
    specs = [replace(s, bandwidth_mbps=round(s.bandwidth_mbps * mbps_scale, 3))
             for s in random_specs(topo, today + bookings + probes, seed, hi=endpoints_max, prefix="sched")]
    plain, ahead, extra = specs[:today], specs[today:today + bookings], specs[today + bookings:]
    engine = SliceEngine(topo)
    for s in plain:
        try:
            engine.admit(s)
        except Rejected:
            pass
    booked = refused = 0
    t = time.process_time()
    for s in _scheduled(ahead, rng, NOW):
        try:
            engine.book_ahead(s, NOW)
            booked += 1
        except Rejected:
            refused += 1
    load_s = time.process_time() - t
    settle_garbage()
    times, probe_refused = [], 0
    for s in _scheduled(extra, rng, NOW):
        t = time.perf_counter_ns()
        c = time.process_time_ns()
        try:
            engine.book_ahead(s, NOW)
            ok = True
        except Rejected:
            ok = False
        times.append((time.process_time_ns() - c) / 1e6)
        _ = time.perf_counter_ns() - t
        if ok:
            engine.cancel_booking(s.name)
        else:
            probe_refused += 1
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rows = sum(len(c.times) for c in engine.calendar.links.values())
    p99 = percentile(times, 99)
    return {
        "topology": topo.name, "endpoints_max": endpoints_max, "mbps_scale": mbps_scale, "sites": len(topo.sites), "links": len(topo.links),
        "today": len(engine.slices), "bookings": booked, "refused": refused, "load_s": round(load_s, 2),
        "probes": len(times), "probes_refused": probe_refused,
        "add_ms": {"p50": round(percentile(times, 50), 2), "p99": round(p99, 2), "max": round(max(times), 2)},
        "calendar_rows": rows, "peak_rss_mb": round(rss_mb, 1),
        "targets": {"add_ms_p99": {"target": TARGETS["add_ms_p99"], "ok": p99 <= TARGETS["add_ms_p99"]},
                    "peak_rss_mb": {"target": TARGETS["peak_rss_mb"], "ok": rss_mb <= TARGETS["peak_rss_mb"]}},
    }


def format_report(r: dict) -> str:
    ok = lambda t: "ok" if r["targets"][t]["ok"] else "MISSED"  # noqa: E731
    return (f"{r['topology']} ({r['sites']} sites, {r['links']} links): {r['bookings']:,} bookings over a week "
            f"({r['refused']:,} refused), {r['today']} slices of today, loaded in {r['load_s']} s CPU\n"
            f"  one more booking: p50 {r['add_ms']['p50']} ms, p99 {r['add_ms']['p99']} ms "
            f"(target {TARGETS['add_ms_p99']:g}: {ok('add_ms_p99')}), max {r['add_ms']['max']} ms "
            f"over {r['probes']} probes ({r['probes_refused']} refused)\n"
            f"  calendar rows {r['calendar_rows']:,}; peak RSS {r['peak_rss_mb']} MB "
            f"(target {TARGETS['peak_rss_mb']:g}: {ok('peak_rss_mb')})")
