"""``slicectl verify``: the automated connectivity test of the slices (the checks
themselves are in slicectl.verify)."""
from __future__ import annotations

import argparse

from proto.defaults import VERIFY_PARALLEL, VERIFY_RTT_TOLERANCE_MS
from slicectl.commands.common import (EXIT_FAIL, EXIT_OK, Subparsers, add_client_options, client_command, fail,
                                      positive, progress, server, sigterm_as_interrupt)


def register(sub: Subparsers) -> None:
    """``verify`` and its options."""
    ve = sub.add_parser("verify", help="the automated connectivity test: every endpoint pair of the slices "
                        "passes ICMP and TCP within the latency bound, nobody outside gets in; table, JSON, "
                        "JUnit; exit 0 only when everything holds")
    ve.add_argument("names", nargs="*", metavar="SLICE", help="the slices to check (default: all)")
    ve.add_argument("--inventory", required=True, metavar="FILE", help="the hosts (JSON; `wan up --inventory` "
                    "writes one; format in the README)")
    ve.add_argument("--junit", metavar="FILE", help="also write JUnit XML here (one test case per check)")
    ve.add_argument("--throughput", action="store_true", help="also measure TCP goodput of every pair "
                    "against the reservation (one pair at a time, 2 s each)")
    ve.add_argument("--ttc", action="store_true", help="also time a fresh probe slice to connectivity "
                    "against the 10-minute target (created between two free hosts, then deleted)")
    ve.add_argument("--rtt-tolerance-ms", type=float, default=None, metavar="MS",
                    help="allowed round trip over twice the one-way bound (default: the inventory's "
                    f"rtt_tolerance_ms, else {VERIFY_RTT_TOLERANCE_MS:g})")
    ve.add_argument("--no-isolation", dest="isolation", action="store_false",
                    help="skip the isolation probes from hosts outside each slice")
    ve.add_argument("--parallel", type=positive, default=None, metavar="N",
                    help=f"checks running at once (default: {VERIFY_PARALLEL})")
    add_client_options(ve)
    ve.set_defaults(func=cmd_verify)


@client_command
def cmd_verify(args: argparse.Namespace) -> int:
    """Run every check; print a table or JSON (and JUnit XML if asked); exit 0 only when all pass."""
    import grpc

    from proto.intercloud.slicing.v1 import slicing_pb2_grpc as pb_grpc
    from slicectl import client, verify

    if args.output == "yaml":
        return fail("verify prints a table or JSON (-o json)")
    options = verify.Options(throughput=args.throughput, ttc=args.ttc, isolation=args.isolation)
    if args.rtt_tolerance_ms is not None:
        if args.rtt_tolerance_ms < 0:
            return fail("--rtt-tolerance-ms must be >= 0")
        options.rtt_tolerance_ms = args.rtt_tolerance_ms
    if args.parallel:
        options.parallel = args.parallel
    try:
        inventory = verify.load_inventory(args.inventory)
    except verify.VerifyError as e:
        return fail(e)
    sigterm_as_interrupt()
    srv = server(args)
    try:
        checks = verify.verify(client.stub(srv), client.stub(srv, pb_grpc.TopologyServiceStub),
                               inventory, args.names, options, progress)
    except grpc.RpcError as e:
        raise client.explain(e, srv) from None
    if args.junit:
        with open(args.junit, "w", encoding="utf-8") as f:
            f.write(verify.to_junit(checks))
    print(verify.to_json(checks) if args.output == "json" else verify.format_table(checks))
    return EXIT_OK if all(c.ok for c in checks) else EXIT_FAIL
