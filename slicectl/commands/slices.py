"""The slice commands: ``apply``, ``spec check``, ``get``, ``list``, ``delete``, ``endpoint
failback``, ``site drain|undrain`` and ``watch``. All but ``spec check`` call a controller."""
from __future__ import annotations

import argparse
import json
import sys

from proto.defaults import MAX_BATCH
from slicectl.commands.common import (EXIT_OK, EXIT_USAGE, Subparsers, add_client_options, client_command, fail,
                                      server, show, show_slices)


def register(sub: Subparsers) -> None:
    """The slice commands, in the order ``slicectl --help`` lists them."""
    ap = sub.add_parser("apply", help="create or update the slices of YAML files (every document of "
                        "every file is checked before any is sent)")
    ap.add_argument("-f", "--file", required=True, action="extend", nargs="+", metavar="PATH",
                    help="YAML spec file, directory (its *.yaml and *.yml) or '-' for stdin; several "
                    "after one -f (a shell glob) or -f again")
    ap.add_argument("--batch", action="store_true",
                    help=f"create every slice in one request (CreateSlices, up to {MAX_BATCH:,}): all of them "
                         "or none, one round of rules per switch; slices that exist must have the same spec")
    add_client_options(ap)
    ap.set_defaults(func=cmd_apply)
    spec = sub.add_parser("spec", help="slice spec files").add_subparsers(dest="action", required=True)
    sc = spec.add_parser("check", help="validate spec files as the controller would, without one: "
                         "every problem with its file, spec and field path; exit 0 if all are valid, 2 if not")
    sc.add_argument("files", nargs="+", metavar="PATH", help="YAML spec files, directories (their "
                    "*.yaml and *.yml) or '-' for stdin")
    sc.add_argument("--topology", help="also check sites, ports, regions, capacity and latency floors "
                    "against this topology (built-in name, .yaml or .graphml)")
    sc.set_defaults(func=cmd_spec_check)
    get = sub.add_parser("get", help="one slice in detail (with counters), or every slice")
    get.add_argument("name", nargs="?")
    add_client_options(get)
    get.set_defaults(func=cmd_get)
    ls = sub.add_parser("list", help="slices, optionally of one tenant or state, or holding resources at a time")
    ls.add_argument("--tenant", default="")
    ls.add_argument("--state", default="", choices=("", "requested", "active", "degraded", "preempted", "failed",
                                                     "scheduled"))
    ls.add_argument("--at", default="", metavar="RFC3339",
                    help="only the slices holding resources at that time, e.g. 2026-12-12T22:30:00+09:00 "
                    "(bookings ahead over their schedule, slices from their start until their end)")
    add_client_options(ls)
    ls.set_defaults(func=cmd_list)
    de = sub.add_parser("delete", help="delete slices: one DeleteSlice for one name, one DeleteSlices for "
                        "several (all of them or none)")
    de.add_argument("names", nargs="+", metavar="NAME")
    de.add_argument("--batch", action="store_true",
                    help=f"one DeleteSlices request even for one name (up to {MAX_BATCH:,}): every name must "
                         "exist, else nothing is deleted; one round of rule removals per switch")
    add_client_options(de)
    de.set_defaults(func=cmd_delete)
    _register_moves(sub)
    wa = sub.add_parser("watch", help="stream slice events until Ctrl-C (-o json: one JSON object a "
                        "line; -o yaml: one document each)")
    wa.add_argument("name", nargs="?", default="")
    add_client_options(wa)
    wa.set_defaults(func=cmd_watch)


def _register_moves(sub: Subparsers) -> None:
    """``endpoint failback`` and ``site drain|undrain``: moving slices off a site and back."""
    ep = sub.add_parser("endpoint", help="endpoints of a slice: failback from their standbys")
    ep_sub = ep.add_subparsers(dest="action", required=True)
    fb = ep_sub.add_parser("failback", help="move endpoints that are at their standbys back to "
                           "their primaries (after a lost or drained site is back)")
    fb.add_argument("name", help="the slice")
    fb.add_argument("--site", default="", help="only the endpoints of this primary site (default: all)")
    add_client_options(fb)
    fb.set_defaults(func=cmd_endpoint_failback)
    st = sub.add_parser("site", help="drain a site for maintenance or an approaching disaster, or undrain it")
    st_sub = st.add_subparsers(dest="action", required=True)
    ln = sub.add_parser("link", help="drain a link for maintenance (now, or over a window), or undrain it")
    ln_sub = ln.add_subparsers(dest="action", required=True)
    for verb, text in (("drain", "slices stop crossing the site (make-before-break); its endpoints "
                        "with standbys move to them; prints every slice moved and every slice blocked, "
                        "with what blocked it"),
                       ("undrain", "the site may be crossed again (endpoints stay at their standbys "
                        "until failed back)")):
        for what, parent in (("site", st_sub), ("link", ln_sub)):
            sp = parent.add_parser(verb, help=text)
            sp.add_argument("site" if what == "site" else "a")
            if what == "link":
                sp.add_argument("b")
            if verb == "drain":
                sp.add_argument("--from", dest="start", default="", help="a maintenance window's start (RFC 3339 "
                                "with a timezone; default now): drained 30 s before it")
                sp.add_argument("--until", dest="end", default="", help="the window's end: undrained then")
            else:
                sp.add_argument("--window", default="", help="cancel this maintenance window (its id)")
            add_client_options(sp)
            sp.set_defaults(func=cmd_site, verb=verb, what=what)
    wl = st_sub.add_parser("windows", help="list the maintenance windows planned or under way")
    add_client_options(wl)
    wl.set_defaults(func=cmd_windows)


def cmd_spec_check(args: argparse.Namespace) -> int:
    """Every spec of every file checked as the controller would, without one: one line per
    valid spec on stdout, every problem on stderr."""
    from slicectl.specfiles import SpecFileError, check_docs, read_spec_docs, spec_paths
    from topologies import load

    topology = load(args.topology) if args.topology else None
    problems, valid = [], 0
    try:
        paths = spec_paths(args.files)
    except SpecFileError as e:
        problems, paths = e.lines, []
    for path in paths:
        try:
            specs = check_docs(read_spec_docs(path), topology)
        except SpecFileError as e:
            problems += e.lines
            continue
        valid += len(specs)
        for s in specs:
            standbys = sum(1 for e in s.endpoints if e.standby)
            print(f"{path}: {s.name}: ok ({len(s.endpoints)} endpoints"
                  + (f", {standbys} with a standby" if standbys else "")
                  + f", {s.bandwidth_mbps:g} Mbit/s, priority {s.priority}, protection {s.protection}"
                  + (", tenant: the caller's)" if not s.tenant else ")"))
    for line in problems:
        print(line, file=sys.stderr)
    against = f" against {topology.name}" if topology else " (no topology: sites and ports not checked)"
    print(f"{valid} valid, {len(problems)} problem{'s' * (len(problems) != 1)}{against}",
          file=sys.stderr)
    return EXIT_USAGE if problems else EXIT_OK


@client_command
def cmd_apply(args: argparse.Namespace) -> int | None:
    """Create or update the slices of the files (one CreateSlices with ``--batch``)."""
    from slicectl import client
    show_slices((client.create_batch if args.batch else client.apply)(server(args), *args.file), args.output)


@client_command
def cmd_get(args: argparse.Namespace) -> int | None:
    """One slice in detail; without a name, every slice as ``list`` shows them."""
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    from slicectl import client
    if not args.name:
        return cmd_list.__wrapped__(argparse.Namespace(**vars(args), tenant="", state=""))
    s = client.call(server(args), "GetSlice", pb.GetSliceRequest(name=args.name))
    show(s, args.output, client.slice_detail)


@client_command
def cmd_list(args: argparse.Namespace) -> int | None:
    """Every slice (of a tenant, in a state), page by page."""
    from proto.convert import STATES
    from slicectl import client
    from slices.schedule import parse_time
    at = getattr(args, "at", "")
    if at and parse_time(at)[0] is None:
        return fail(f"--at: {parse_time(at)[1]}")
    slices = client.every_slice(lambda request: client.call(server(args), "ListSlices", request),
                                tenant=args.tenant, state=STATES.get(args.state, 0), at=at)
    show_slices(slices, args.output, empty="no slices")


@client_command
def cmd_delete(args: argparse.Namespace) -> int | None:
    """Delete one slice (DeleteSlice), or several in one request (DeleteSlices)."""
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    from slicectl import client
    if len(args.names) > MAX_BATCH:
        return fail(f"at most {MAX_BATCH:,} names in one delete, not {len(args.names):,}")
    if len(args.names) == 1 and not args.batch:
        client.call(server(args), "DeleteSlice", pb.DeleteSliceRequest(name=args.names[0]))
    else:
        client.call(server(args), "DeleteSlices", pb.DeleteSlicesRequest(names=args.names))
    for name in args.names:
        print(f"slice {name} deleted")


@client_command
def cmd_endpoint_failback(args: argparse.Namespace) -> int | None:
    """Move a slice's endpoints from their standbys back to their primaries."""
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    from slicectl import client
    s = client.call(server(args), "FailbackEndpoints", pb.FailbackEndpointsRequest(name=args.name, site=args.site))
    show(s, args.output, client.slice_detail)


@client_command
def cmd_site(args: argparse.Namespace) -> int | None:
    """Drain or undrain a site (``args.verb``); print every slice it moved or could not
    move, and why (``-o json|yaml``: the topology after, with those events)."""
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    from proto.intercloud.slicing.v1 import slicing_pb2_grpc as pb_grpc
    from slicectl import client
    from slices.schedule import parse_time
    if args.verb == "drain":
        if args.start and not args.end:
            return fail("--until: required with --from")
        for flag, text in (("--from", args.start), ("--until", args.end)):
            if text and parse_time(text)[1]:
                return fail(f"{flag}: {parse_time(text)[1]}")
        if args.start and args.end and parse_time(args.end)[0] <= parse_time(args.start)[0]:
            return fail("--until: before --from")
        times = {"start": args.start, "end": args.end}
    else:
        times = {"window": args.window}
    where = {"site": args.site} if args.what == "site" else {"a": args.a, "b": args.b}
    name = ("Drain" if args.verb == "drain" else "Undrain") + ("Site" if args.what == "site" else "Link")
    t = client.call(server(args), name, getattr(pb, name + "Request")(**where, **times),
                    kind=pb_grpc.TopologyServiceStub)
    what = args.site if args.what == "site" else f"{args.a}—{args.b}"
    if getattr(args, "end", "") or getattr(args, "window", ""):
        verb = f"maintenance window {args.window + ' cancelled' if args.verb == 'undrain' else 'planned'}:"
        head = verb + "".join(f"\n  {w.id}  {w.start} – {w.end}" for w in t.windows
                              if args.verb == "drain" and (w.site or f"{w.a}—{w.b}") == what)
        show(t, args.output, lambda t, wide=False: head + "\n" + site_outcome(args.verb, what, t.events))
        return
    show(t, args.output, lambda t, wide=False: site_outcome(args.verb, what, t.events, args.what))


@client_command
def cmd_windows(args: argparse.Namespace) -> int | None:
    """The maintenance windows, one a line."""
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    from proto.intercloud.slicing.v1 import slicing_pb2_grpc as pb_grpc
    from slicectl import client
    from slicectl.report import render_table
    t = client.call(server(args), "GetTopology", pb.GetTopologyRequest(), kind=pb_grpc.TopologyServiceStub)
    rows = [(w.id, w.site or f"{w.a}—{w.b}", w.start, w.end, "draining" if w.draining else "planned")
            for w in t.windows]
    show(t, args.output, lambda t, wide=False: render_table(("ID", "WHAT", "START", "END", "STATE"), rows)
         if rows else "no maintenance window")


def site_outcome(verb: str, site: str, events, what: str = "site") -> str:
    """What a drain or undrain did: a count line, then one row per slice event (BLOCKED
    first: those are what an operator has to act on)."""
    from slicectl.report import render_table
    blocked = [e for e in events if e.kind == "drain-blocked"]
    moved = [e for e in events if e.kind != "drain-blocked"]
    if not events:
        return f"{what} {site} {verb}ed: " + ("no slice used it" if verb == "drain" else "no slice changed")
    count = lambda es: len({e.slice for e in es})  # noqa: E731
    head = (f"{what} {site} {verb}ed: {count(moved)} slice{'s' * (count(moved) != 1)} "
            + ("moved" if verb == "drain" else "changed")
            + (f", {count(blocked)} blocked (still crossing or served at {site})" if blocked else ""))
    rows = [(e.slice, "BLOCKED", e.reason) for e in blocked] + [(e.slice, e.kind, e.reason) for e in moved]
    return head + "\n\n" + render_table(("SLICE", "WHAT", "WHY"), rows)


@client_command
def cmd_watch(args: argparse.Namespace) -> int | None:
    """Slice events as they happen, one line each, until Ctrl-C."""
    from proto.convert import STATE_NAMES
    from slicectl import client
    try:
        for ev in client.watch(server(args), args.name):
            if args.output in ("table", "wide"):
                at = ev.time.ToDatetime()
                when = (at.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC" if args.output == "wide"
                        else at.strftime("%H:%M:%S.%f")[:-3])
                print(f"{when}  {ev.slice:<24} {ev.kind:<18} {STATE_NAMES.get(ev.state, '-'):<10} {ev.reason}",
                      flush=True)
            elif args.output == "yaml":
                print("---\n" + client.render(client.as_data(ev), "yaml"), flush=True)
            else:
                print(json.dumps(client.as_data(ev)), flush=True)
    except KeyboardInterrupt:
        pass
