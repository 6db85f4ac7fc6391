"""``slicectl bench``: the engine alone (engine), and on Mininet (connectivity, batch,
failover: these need root)."""
from __future__ import annotations

import argparse
import json

from proto.defaults import BENCH_ENDPOINTS_MAX, BENCH_ENDPOINTS_MIN, BENCH_SEED, MAX_BATCH
from slicectl.commands.common import (EXIT_FAIL, EXIT_OK, Subparsers, fail, positive, progress,
                                      sigterm_as_interrupt)


def register(sub: Subparsers) -> None:
    """``bench`` and its benchmarks."""
    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="action", required=True)
    be = bench.add_parser("engine", help="place and compile N random slices; report times, "
                          "rules and memory against the engine's targets")
    be.add_argument("--topology", required=True, help="built-in name, .yaml, .graphml, or "
                    "generated:SITES[:SEED] (a random geographic WAN)")
    be.add_argument("--slices", type=positive, default=1000, metavar="N")
    be.add_argument("--endpoints-min", type=positive, default=BENCH_ENDPOINTS_MIN, metavar="K")
    be.add_argument("--endpoints-max", type=positive, default=BENCH_ENDPOINTS_MAX, metavar="K")
    be.add_argument("--seed", type=int, default=BENCH_SEED)
    be.add_argument("--capacity-scale", type=float, default=1.0, metavar="F",
                    help="every link's capacity times F: below 1, capacity runs short and "
                    "slices preempt each other (the scarce variant; default: %(default)s)")
    be.add_argument("--transport", choices=("vlan", "mpls"), default=None,
                    help="carry slices on links with VLAN tags (4,093 per link) or MPLS labels (524,278), "
                    "whatever the topology says (default: the topology's, vlan unless it says mpls)")
    be.add_argument("--json", action="store_true")
    be.set_defaults(func=cmd_bench_engine)
    bs = bench.add_parser("schedule", help="book N slices ahead over a week, then time one more booking "
                          "against the booked-ahead targets (issue 27)")
    bs.add_argument("--topology", required=True, help="as for bench engine")
    bs.add_argument("--bookings", type=positive, default=10_000, metavar="N")
    bs.add_argument("--today", type=int, default=100, metavar="N", help="slices of today first (default: %(default)s)")
    bs.add_argument("--probes", type=positive, default=300, metavar="N", help="bookings timed one by one")
    bs.add_argument("--endpoints-max", type=positive, default=BENCH_ENDPOINTS_MAX, metavar="K")
    bs.add_argument("--mbps-scale", type=float, default=1.0, metavar="F", help="every slice's bandwidth "
                    "times F (below 1: a small network holds the week's bookings; default: %(default)s)")
    bs.add_argument("--seed", type=int, default=27)
    bs.add_argument("--json", action="store_true")
    bs.set_defaults(func=cmd_bench_schedule)
    bt = bench.add_parser("connectivity", help="time from CreateSlice to traffic between every endpoint "
                          "pair, over N slice creations on japan-intercloud in Mininet (needs root)")
    bt.add_argument("--creations", type=positive, default=50)
    bt.add_argument("--seed", type=int, default=BENCH_SEED)
    bt.add_argument("--json", action="store_true")
    bt.set_defaults(func=cmd_bench_connectivity)
    bb = bench.add_parser("batch", help="N slices on japan-intercloud in Mininet (needs root), created and deleted one "
                          "at a time (CreateSlice, DeleteSlice), then in batches (CreateSlices, DeleteSlices): "
                          "slices/s of each, on real switches, and where one CreateSlice's time goes")
    bb.add_argument("--slices", type=positive, default=1000, help="default: %(default)s")
    bb.add_argument("--batch", type=positive, default=MAX_BATCH, help="specs per CreateSlices request (at most "
                    f"{MAX_BATCH:,}; default: %(default)s)")
    bb.add_argument("--seed", type=int, default=BENCH_SEED)
    bb.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    bb.add_argument("--prefix", default=None, metavar="LETTERS", help="letters in front of every node name "
                    "(see `wan up --prefix`; default: none, unless another running WAN uses those names)")
    bb.add_argument("--clients", type=positive, default=1, help="also create the slices one CreateSlice at a "
                    "time from this many clients at once (the controller commits the calls that wait together "
                    "as a group), between the two phases; default: %(default)s (not)")
    bb.set_defaults(func=cmd_bench_batch)
    _register_seed(bench)
    bf = bench.add_parser("failover", help="outage of a slice under each kind of failure (cuts, a silent "
                          "link, a lost cloud with a standby, a drain, a scale-out), from 10 ms ping streams, "
                          "on japan-intercloud in Mininet (needs root)")
    bf.add_argument("--reps", type=positive, default=10, metavar="N", help="repetitions per scenario "
                    "(default: %(default)s)")
    bf.add_argument("--scenario", action="append", default=None, metavar="NAME",
                    help="only this scenario (repeatable; default: all)")
    bf.add_argument("--json", metavar="FILE", default=None, help="also write the figures here")
    bf.set_defaults(func=cmd_bench_failover)
    bc = bench.add_parser("chaos", help="a cluster of three controllers on a three-member etcd under faults "
                          "of its own parts (a controller killed or frozen, all killed, etcd members killed, "
                          "frozen, a lost majority, all restarted), under a client load and a 10 ms ping stream, "
                          "on two-clouds in Mininet (needs root)")
    bc.add_argument("--reps", type=positive, default=3, metavar="N", help="repetitions per fault "
                    "(default: %(default)s)")
    bc.add_argument("--fault", action="append", default=None, metavar="NAME",
                    help="only this fault (repeatable; default: all)")
    bc.add_argument("--work", default="results/chaos-work", metavar="DIR", help="where the logs, etcd data and "
                    "ping records go (default: %(default)s; emptied first if an earlier run made it)")
    bc.add_argument("--json", metavar="FILE", default=None, help="also write the figures here")
    bc.set_defaults(func=cmd_bench_chaos)


def _register_seed(bench) -> None:
    """``bench seed`` and its options."""
    bd = bench.add_parser("seed", help="the programme's scale live (issue 28): ~3,600 slices with over 10,000 "
                          "VLAN endpoints on seed-scale (12 fabric clouds, 69 switches) in Mininet (needs root), "
                          "in batches and one by one; then time to connectivity, a lost cloud re-homed, memory "
                          "and flow entries per switch")
    bd.add_argument("--apps-per-cloud", type=positive, default=300, metavar="N",
                    help="slices whose home is each cloud (default: %(default)s)")
    bd.add_argument("--one-by-one", type=int, default=300, metavar="N",
                    help="of them, created one CreateSlice at a time after the batches (default: %(default)s)")
    bd.add_argument("--probes", type=positive, default=20, metavar="N",
                    help="new slices timed to connectivity at the load (default: %(default)s)")
    bd.add_argument("--batch", type=positive, default=MAX_BATCH, help="specs per CreateSlices request "
                    "(default: %(default)s)")
    bd.add_argument("--seed", type=int, default=BENCH_SEED)
    bd.add_argument("--prefix", default="sd", metavar="LETTERS", help="letters in front of every node name "
                    "(default: %(default)s)")
    bd.add_argument("--work", metavar="DIR", default=None, help="keep the controller's log and the ping "
                    "record here (default: a temporary directory)")
    bd.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    bd.set_defaults(func=cmd_bench_seed)


def _write_json(path: str | None, figures: dict) -> None:
    """The figures to ``path`` too, when one was given."""
    if path:
        with open(path, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=2)


def cmd_bench_engine(args: argparse.Namespace) -> int:
    """Place and compile random slices on the topology (optionally with scaled capacity);
    exit 1 if a target is missed."""
    from slicectl.bench import format_report, run
    from topologies import load

    if args.endpoints_min > args.endpoints_max:
        return fail("--endpoints-min is above --endpoints-max")
    if not 0 < args.capacity_scale <= 100:
        return fail("--capacity-scale must be above 0 (and at most 100)")
    topo = load(args.topology)
    if args.capacity_scale != 1:
        from dataclasses import replace
        topo = replace(topo, name=f"{topo.name}-capacity-x{args.capacity_scale:g}",
                       links=tuple(replace(l, bandwidth_mbps=l.bandwidth_mbps * args.capacity_scale)
                                   for l in topo.links))
    if args.transport and args.transport != topo.transport:
        from dataclasses import replace
        topo = replace(topo, name=f"{topo.name}-{args.transport}", transport=args.transport)
    progress(f"placing and compiling {args.slices} slices on {topo.name} "
             f"({len(topo.sites)} sites, {len(topo.links)} links), then a tenth of them 3 times")
    report = run(topo, args.slices, seed=args.seed, endpoints_min=args.endpoints_min,
                 endpoints_max=args.endpoints_max)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return EXIT_OK if all(t["ok"] is not False for t in report["targets"].values()) else EXIT_FAIL


def cmd_bench_schedule(args: argparse.Namespace) -> int:
    """Bookings ahead on the topology; exit 1 if a target is missed."""
    from slicectl.schedulebench import format_report, run
    from topologies import load

    if not 0 < args.mbps_scale <= 1:
        return fail("--mbps-scale must be above 0 and at most 1")
    if args.today < 0:
        return fail("--today must be 0 or more")
    topo = load(args.topology)
    progress(f"booking {args.bookings:,} slices over a week on {topo.name} ({len(topo.sites)} sites, "
             f"{len(topo.links)} links), then timing {args.probes} more")
    report = run(topo, args.bookings, today=args.today, probes=args.probes, seed=args.seed,
                 endpoints_max=args.endpoints_max, mbps_scale=args.mbps_scale)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return EXIT_OK if all(t["ok"] for t in report["targets"].values()) else EXIT_FAIL


def cmd_bench_connectivity(args: argparse.Namespace) -> int:
    """Time to connectivity over many slice creations; exit 1 if any never connected."""
    from slicectl.demo import run_ttc_bench
    sigterm_as_interrupt()
    r = run_ttc_bench(args.creations, args.seed, progress)
    if args.json:
        print(json.dumps(r, indent=2))
    else:
        t = r["ttc_s"]
        print(f"time to connectivity on {r['topology']} over {r['creations']} slice creations "
              f"({r['connected']} connected, {r['failed']} failed): p50 {t['p50']:.3f} s, p99 {t['p99']:.3f} s, "
              f"max {t['max']:.3f} s; target {r['target_s'] / 60:g} min")
    return EXIT_OK if r["failed"] == 0 else EXIT_FAIL


def cmd_bench_batch(args: argparse.Namespace) -> int:
    """Slices per second one CreateSlice at a time against CreateSlices batches."""
    from slicectl.batchbench import format_report, healthy, run_batch_bench
    if args.slices < 4 or args.slices > 4000 or args.batch > MAX_BATCH:
        return fail(f"--slices must be 4..4,000 (a VLAN each) and --batch at most {MAX_BATCH:,}")
    sigterm_as_interrupt()
    r = run_batch_bench(args.slices, args.batch, args.seed, progress, args.prefix, args.clients)
    _write_json(args.json, r)
    print(format_report(r))
    return EXIT_OK if healthy(r) else EXIT_FAIL


def cmd_bench_seed(args: argparse.Namespace) -> int:
    """The seed-scale benchmark; exit 1 unless every slice stayed ACTIVE, every probe
    connected and the lost cloud's slices were all re-homed."""
    from slicectl.seedbench import format_report, healthy, run_seed_bench
    if args.batch > MAX_BATCH or args.one_by_one < 0:
        return fail(f"--batch must be at most {MAX_BATCH:,} and --one-by-one 0 or more")
    sigterm_as_interrupt()
    r = run_seed_bench(progress, args.apps_per_cloud, args.one_by_one, args.probes, args.batch, args.seed,
                       args.prefix, args.work)
    _write_json(args.json, r)
    print(format_report(r))
    return EXIT_OK if healthy(r) else EXIT_FAIL


def cmd_bench_failover(args: argparse.Namespace) -> int:
    """Outage per failure scenario; exit 1 if a scenario's median misses its goal."""
    from slicectl.failover import GOALS_S, SCENARIOS, format_summary, run_failover_bench
    unknown = sorted(set(args.scenario or ()) - set(SCENARIOS))
    if unknown:
        return fail(f"unknown scenario {unknown[0]!r} (one of: {', '.join(SCENARIOS)})")
    sigterm_as_interrupt()
    r = run_failover_bench(args.reps, progress, tuple(args.scenario or SCENARIOS))
    _write_json(args.json, r)
    print(f"outage of a slice on {r['topology']} ({r['repetitions']} repetitions each, "
          f"{r['stream_interval_ms']:g} ms ping streams)")
    print(format_summary(r["scenarios"]))
    missed = [n for n, s in r["scenarios"].items() if n in GOALS_S and s["outage_ms_p50"] > GOALS_S[n] * 1000]
    return EXIT_FAIL if missed else EXIT_OK


def cmd_bench_chaos(args: argparse.Namespace) -> int:
    """Each fault of the cluster's own parts; exit 1 if any run lost, doubled or broke
    something, or missed its goal."""
    from pathlib import Path

    from slicectl.chaos import FAULTS, format_summary, run_chaos_bench
    unknown = sorted(set(args.fault or ()) - set(FAULTS))
    if unknown:
        return fail(f"unknown fault {unknown[0]!r} (one of: {', '.join(FAULTS)})")
    sigterm_as_interrupt()
    try:
        r = run_chaos_bench(args.reps, progress, tuple(args.fault or FAULTS), Path(args.work))
    except ValueError as e:
        return fail(str(e))
    _write_json(args.json, r)
    print(f"{r['controllers']} controllers on a {r['etcd_members']}-member etcd, {r['topology']} in Mininet "
          f"({r['repetitions']} repetitions each; frozen or lost {r['held_s']:g} s; "
          f"{r['stream_interval_ms']:g} ms ping stream); logs in {r['work']}")
    print(format_summary(r["faults"]))
    return EXIT_FAIL if any(s["missed"] for s in r["faults"].values()) else EXIT_OK
