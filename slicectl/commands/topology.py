"""``slicectl topology``: the topology a controller runs with, or (``topology show FILE``)
one read from a file, without a controller."""
from __future__ import annotations

import argparse
import json

from slicectl.commands.common import (EXIT_OK, OUTPUTS, Subparsers, add_client_options, client_command, server,
                                      show)


def register(sub: Subparsers) -> None:
    """``topology`` (the controller's) and ``topology show`` (a file's)."""
    topo_p = sub.add_parser("topology", help="the controller's topology (sites, links, residual "
                            "capacity, switch connections); `topology show FILE` inspects a file")
    add_client_options(topo_p)
    topo_p.set_defaults(func=cmd_topology_server)
    topo = topo_p.add_subparsers(dest="action", required=False)
    show_p = topo.add_parser("show", help="load a topology and print its sites, links and "
                             "what was guessed")
    show_p.add_argument("topology", help="built-in name, .yaml or .graphml file")
    show_p.add_argument("-o", "--output", choices=OUTPUTS, default=argparse.SUPPRESS,
                        help="table (default; wide: the same), json or yaml")
    show_p.add_argument("--json", dest="output", action="store_const", const="json", default=argparse.SUPPRESS,
                        help="the same as -o json")
    show_p.set_defaults(func=cmd_topology_show)


@client_command
def cmd_topology_server(args: argparse.Namespace) -> int | None:
    """The controller's view: sites, links with their residual capacity, switch connections."""
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    from proto.intercloud.slicing.v1 import slicing_pb2_grpc as pb_grpc
    from slicectl import client
    t = client.call(server(args), "GetTopology", pb.GetTopologyRequest(), kind=pb_grpc.TopologyServiceStub)
    show(t, args.output, client.topology_rows)


def cmd_topology_show(args: argparse.Namespace) -> int:
    """A topology file as slicectl reads it, with what it had to guess (the warnings)."""
    from topologies import load
    from topologies.fabric import describe

    t = load(args.topology)
    if args.output in ("json", "yaml"):
        from dataclasses import asdict

        import yaml
        text = json.dumps({"name": t.name, "source": t.source, "warnings": list(t.warnings),
                           "sites": [asdict(s) for s in t.sites], "links": [asdict(l) for l in t.links]}, indent=2)
        print(text if args.output == "json" else yaml.safe_dump(json.loads(text), sort_keys=False).rstrip())
        return EXIT_OK
    print(f"{t.name}: {len(t.sites)} sites, {len(t.links)} links, regions {', '.join(t.regions)}")
    if t.description:
        print(t.description)
    for s in t.sites:
        where = f"{s.lat:.3f},{s.lon:.3f}" if s.located else "unlocated"
        print(f"  site {s.name:<28} {s.kind:<5} {s.region:<14} {where:<18} hosts {s.hosts}")
    for line in describe(t):
        print(f"  {line}")
    for l in t.links:
        dist = f"{l.distance_km:.0f} km" if l.distance_km is not None else "?"
        print(f"  link {l.a + ' — ' + l.b:<44} {l.bandwidth_mbps:>8g} Mbit/s "
              f"{l.delay_ms:8.3f} ms ({l.delay_source}, {dist})")
    for w in t.warnings:
        print(f"  warning: {w}")
    return EXIT_OK
