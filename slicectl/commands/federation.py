"""``slicectl federation status``: a domain's place in its federation, as its operator sees
it (GetFederationStatus): peers and whether they answer, borders with what is free on
them, what the domain advertises, the parts it holds for peers, and the slices across
domains it is home of."""
from __future__ import annotations

import argparse

from slicectl.commands.common import Subparsers, add_client_options, client_command, server, show


def register(sub: Subparsers) -> None:
    """``federation status``."""
    fe = sub.add_parser("federation", help="a domain of a federation: peers, borders, advertised capacity, "
                        "held reservations (operators)").add_subparsers(dest="action", required=True)
    st = fe.add_parser("status", help="peers, borders, what this domain advertises, parts held for peers, "
                       "slices across domains")
    add_client_options(st)
    st.set_defaults(func=cmd_federation_status)


def _table(head: tuple[str, ...], rows: list[tuple]) -> str:
    rows = [head] + [tuple(str(c) for c in r) for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def status_text(st, wide: bool = False) -> str:
    """Five small tables, each under its title."""
    out = [f"domain {st.domain} of federation {st.federation}", "",
           "PEERS", _table(("DOMAIN", "ADDRESS", "ANSWERS", "WATCHED", "ERROR"),
                           [(p.domain, p.address, "yes" if p.reachable else "no", "yes" if p.watching else "no",
                             p.error or "-") for p in st.peers]), "",
           "BORDERS", _table(("BORDER", "PORT", "MBIT/S", "FREE", "DELAY MS", "UP"),
                             [(b.name, f"{b.site}:{b.port}", f"{b.bandwidth_mbps:g}", f"{b.free_mbps:g}",
                               f"{b.delay_ms:.2f}", "yes" if b.up else "no") for b in st.borders]), "",
           "ADVERTISED", _table(("FROM", "TO", "MBIT/S", "LEAST DELAY MS"),
                                [(o.a, o.b, f"{o.bandwidth_mbps:g}", f"{o.min_delay_ms:.2f}") for o in st.offers]), "",
           "PARTS HELD HERE", _table(("CONNECTION", "FOR", "SLICE", "STATE", "MBIT/S", "HOLD LEFT S"),
                                     [(p.connection_id, p.peer, p.global_id, p.state, f"{p.bandwidth_mbps:g}",
                                       f"{p.hold_expires_in_s:.0f}" if p.hold_expires_in_s else "-")
                                      for p in st.parts]) if st.parts else "PARTS HELD HERE: none", "",
           "SLICES ACROSS DOMAINS (home here)",
           _table(("NAME", "STATE", "PARTS", "WORST DELAY MS"),
                  [(s.spec.name, _state(s.state), ", ".join(f"{p.domain} {p.state}" for p in s.parts),
                    f"{s.worst_delay_ms:.2f}") for s in st.slices]) if st.slices else "SLICES ACROSS DOMAINS: none"]
    return "\n".join(out)


def _state(value: int) -> str:
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    return pb.SliceState.Name(value).removeprefix("SLICE_STATE_").lower()


@client_command
def cmd_federation_status(args: argparse.Namespace) -> int | None:
    """Print the status (``-o json|yaml``: as the API gives it)."""
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    from proto.intercloud.slicing.v1 import slicing_pb2_grpc as pb_grpc
    from slicectl import client
    show(client.call(server(args), "GetFederationStatus", pb.GetFederationStatusRequest(),
                     kind=pb_grpc.TopologyServiceStub), args.output, status_text)
