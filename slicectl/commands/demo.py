"""``slicectl report`` and ``slicectl demo``: the demonstration run and the HTML page about it."""
from __future__ import annotations

import argparse

from proto.defaults import REPORT_PAGE, RESULTS_DIR, RUN_RECORD
from slicectl.commands.common import (EXIT_FAIL, EXIT_OK, Subparsers, fail, progress,
                                      sigterm_as_interrupt)
from slicectl.commands.wan import make_wan


def register(sub: Subparsers) -> None:
    """``report``, then ``demo``."""
    rp = sub.add_parser("report", help="one self-contained HTML page about a run: the map with the slices' "
                        "trees, time to connectivity against the 10-minute target, outage per disaster, "
                        "verdict per slice (plus the figures as PNG beside it)")
    rp.add_argument("--run", default=f"{RESULTS_DIR}/{RUN_RECORD}", metavar="FILE",
                    help="the run record `make demo` writes (default: %(default)s)")
    rp.add_argument("--ttc", metavar="FILE", help="also `bench connectivity --json` output (its samples); "
                    "left out, with a note, if the file is not there")
    rp.add_argument("--failover", metavar="FILE", help="also `bench failover --json` output; left out, with "
                    "a note, if the file is not there")
    rp.add_argument("--schedule", metavar="FILE", help="also the bookings per link over time: `slicectl schedule "
                    "-o json > FILE` (without it: the run record's own bookings ahead, if any)")
    rp.add_argument("--out", default=f"{RESULTS_DIR}/{REPORT_PAGE}", metavar="FILE", help="default: %(default)s")
    rp.set_defaults(func=cmd_report)

    demo = sub.add_parser("demo", help="the main job (needs root): japan-intercloud in Mininet, its "
                          "fidelity table, then the controller and the example slices: connectivity, "
                          "isolation, time to connectivity, map")
    demo.add_argument("--out", default=RESULTS_DIR, help="where the map and the log go (default: %(default)s)")
    demo.add_argument("--skip-fidelity", action="store_true", help="skip part 1 (measuring every link)")
    demo.add_argument("--federation", action="store_true", help="the federation demo instead (issue 26): three "
                      "operators (japan-korea), one controller each, slices across them: time to connectivity "
                      "against one controller, a border cut, a domain's controller killed, isolation "
                      "(writes demo-federation.json in --out)")
    demo.add_argument("--slices", type=_slice_count, default=4, metavar="N",
                      help="with --federation: slices timed in both runs, 1-5 (default: %(default)s)")
    demo.set_defaults(func=cmd_demo)


def _slice_count(text: str) -> int:
    """1..5: the federation demo has five slices across domains to time."""
    n = int(text)
    if not 1 <= n <= 5:
        raise argparse.ArgumentTypeError(f"{n}: between 1 and 5")
    return n


def cmd_demo(args: argparse.Namespace) -> int:
    """Part 1: the WAN alone, every link measured (fidelity table). Part 2: the controller
    on the same WAN with the example slices. ``--federation``: the federation demo instead
    (slicectl.fedemo), on its own WAN of three domains."""
    from pathlib import Path

    from slicectl.demo import run_demo
    from slicectl.report import fidelity_table
    from topologies.emulation.fidelity import run_check
    sigterm_as_interrupt()
    if args.federation:
        from slicectl.fedemo import run_federation_demo
        return run_federation_demo(progress, Path(args.out), args.slices)
    if not args.skip_fidelity:
        progress("part 1/2: the emulated WAN alone, every link measured against its configuration")
        args.topology, args.hosts, args.delay_mechanism, args.datapath = "japan-intercloud", None, "auto", "auto"
        args.prefix, args.bfd = None, None
        report = run_check(lambda: make_wan(args, probes=True), progress)
        print(fidelity_table(report))
        print()
        progress("part 2/2: the controller, and slices over gRPC")
    rc = run_demo(progress, Path(args.out))
    return rc if args.skip_fidelity or report["ok"] else EXIT_FAIL


def cmd_report(args: argparse.Namespace) -> int:
    """Write the HTML page (and its figures) about a run record and benchmark outputs."""
    from pathlib import Path

    from slicectl.htmlreport import ReportError, write

    # the benchmarks are extras: `make report` right after `make demo` has none of them yet
    extras = {"--ttc": (args.ttc, "sudo make bench-ttc"), "--failover": (args.failover, "sudo make bench-failover")}
    for option, (path, make) in extras.items():
        if path and not Path(path).exists():
            progress(f"{option} {path}: not there, so the page leaves that benchmark out (`{make}` writes it)")
    ttc, failover = ((p if p and Path(p).exists() else None) for p, _make in extras.values())
    try:
        written = write(args.run, args.out, ttc, failover, args.schedule)
    except ReportError as e:
        return fail(e)
    progress(f"figures: {', '.join(str(p) for p in written[1:])}")
    print(f"report written to {written[0]}")
    return EXIT_OK
