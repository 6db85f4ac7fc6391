"""``slicectl schedule``: the bookings per link over a time range (GetSchedule), as tables,
JSON or YAML, and as a plot (``--plot FILE.png|FILE.svg``)."""
from __future__ import annotations

import argparse

from slicectl.commands.common import Subparsers, add_client_options, client_command, fail, progress, server


def register(sub: Subparsers) -> None:
    sc = sub.add_parser("schedule", help="what is booked on each link over time: a table per link (interval, "
                        "slice, Mbit/s, the peak booked over it against capacity), or a plot")
    sc.add_argument("--from", dest="since", default="", metavar="RFC3339",
                    help="start of the range, with a timezone (default: now)")
    sc.add_argument("--until", default="", metavar="RFC3339",
                    help="end of the range, with a timezone (default: the last booking's end)")
    sc.add_argument("--link", nargs=2, metavar=("A", "B"), help="only the link between sites A and B")
    sc.add_argument("--plot", metavar="FILE", help="also draw it, one lane per link, to FILE.png or FILE.svg")
    add_client_options(sc)
    sc.set_defaults(func=cmd_schedule)


@client_command
def cmd_schedule(args: argparse.Namespace) -> int | None:
    """The plan per link; ``-o wide`` adds each slice's tenant and whether it is booked ahead."""
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    from proto.intercloud.slicing.v1 import slicing_pb2_grpc as pb_grpc
    from slicectl import client
    from slicectl import timeline
    from slices.schedule import parse_time

    for option, value in (("--from", args.since), ("--until", args.until)):
        if value and parse_time(value)[0] is None:
            return fail(f"{option}: {parse_time(value)[1]}")
    if args.plot and not args.plot.lower().endswith((".png", ".svg")):
        return fail(f"--plot {args.plot}: the plot is written as .png or .svg")
    a, b = args.link or ("", "")
    msg = client.call(server(args), "GetSchedule", pb.GetScheduleRequest(since=args.since, until=args.until,
                                                                         link_a=a, link_b=b),
                      kind=pb_grpc.TopologyServiceStub)
    if args.output in ("table", "wide"):
        print(timeline.text(msg, wide=args.output == "wide"))
    else:
        print(client.render(timeline.as_data(msg), args.output))
    if args.plot:
        progress(f"plot written to {timeline.save(msg, args.plot)}")
