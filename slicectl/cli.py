"""``slicectl``: one command for the WAN emulation, the slice engine and the controller.

Each subcommand imports only what it needs, so ``slicectl topology show`` works without
Mininet and ``slicectl wan`` without os-ken.
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import sys
from typing import Callable

from proto.defaults import (DEFAULT_AUDIT_INTERVAL_S, DEFAULT_GRPC, DEFAULT_METRICS, DEFAULT_OPENFLOW,
                            DEFAULT_STORE, PROBE_INTERVAL_S, PROBE_MISSES, SLA_HOLD_S, SLA_INTERVAL_S,
                            SLA_WINDOW)

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def progress(msg: str) -> None:
    print(f"[slicectl] {msg}", file=sys.stderr, flush=True)


def _controller_addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {text!r}")
    return host, int(port)


def _add_wan_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("topology", help="built-in name (two-clouds, japan-intercloud, "
                   "global-intercloud) or a .yaml / .graphml file")
    p.add_argument("--hosts", type=int, default=None, metavar="N",
                   help="hosts per cloud/edge site (default: the topology's own, 2 per cloud)")
    p.add_argument("--delay-mechanism", choices=("auto", "netem", "relay"), default="auto",
                   help="how link delay is emulated (auto: netem if the kernel has it, "
                   "else the userspace relay)")
    p.add_argument("--datapath", choices=("auto", "kernel", "user"), default="auto",
                   help="OVS datapath (auto: kernel if the openvswitch module is loaded)")
    p.add_argument("--no-bfd", dest="bfd", action="store_false", default=None,
                   help="no BFD on inter-site links (by default Open vSwitch runs it when the "
                   "switches have a controller, so a link that goes silent stops being live and "
                   "the controller hears of it)")
    p.add_argument("--prefix", default=None, metavar="LETTERS",
                   help="0-2 letters in front of every switch and host name (default: none, or "
                   "the first free letter if another WAN on this machine uses the plain names)")


def _add_client_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--server", action="append", metavar="HOST:PORT",
                   help="controller gRPC address; give it once for each instance of a cluster (or "
                   "comma-separated): each call goes to the first that takes it (default: "
                   "$SLICECTL_SERVER, else %s)" % DEFAULT_GRPC)
    p.add_argument("-o", "--output", choices=("table", "json", "yaml"), default="table")
    p.add_argument("--ca", metavar="FILE", help="TLS: the CA that signed the controller's certificate")
    p.add_argument("--cert", metavar="FILE", help="mutual TLS: this client's certificate")
    p.add_argument("--key", metavar="FILE", help="mutual TLS: its private key")
    p.add_argument("--token-file", metavar="FILE", help="a bearer token (first line of the file); "
                   "or set SLICECTL_TOKEN")


def _server(args):
    """The controller the command talks to, with the TLS files and token it was given."""
    from slicectl.client import ClientError, Server
    token = os.environ.get("SLICECTL_TOKEN") or None
    if args.token_file:
        try:
            token = open(args.token_file, encoding="utf-8").readline().strip()
        except OSError as e:
            raise ClientError(f"--token-file {args.token_file}: {e.strerror}", EXIT_USAGE) from None
    if bool(args.cert) != bool(args.key):
        raise ClientError("--cert and --key go together", EXIT_USAGE)
    return Server(",".join(args.server or [os.environ.get("SLICECTL_SERVER") or DEFAULT_GRPC]),
                  args.ca, args.cert, args.key, token)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="slicectl", description=(
        "Network slicing for inter-cloud links: emulate the WAN, place slices, run the controller."))
    sub = parser.add_subparsers(dest="command", required=True)

    topo_p = sub.add_parser("topology", help="the controller's topology (sites, links, residual "
                            "capacity, switch connections); `topology show FILE` inspects a file")
    _add_client_options(topo_p)
    topo_p.set_defaults(func=cmd_topology_server)
    topo = topo_p.add_subparsers(dest="action", required=False)
    show = topo.add_parser("show", help="load a topology and print its sites, links and "
                           "what was guessed")
    show.add_argument("topology")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=cmd_topology_show)

    ctl = sub.add_parser("controller", help="run the controller: os-ken OpenFlow 1.3 app + gRPC API")
    ctl.add_argument("--topology", required=True, help="the topology the switches belong to (the same "
                     "file the emulation used)")
    ctl.add_argument("--store", default=DEFAULT_STORE, help="SQLite file with slices and events "
                     "(default: %(default)s; not used with --cluster)")
    ctl.add_argument("--cluster", metavar="etcd://HOST:PORT", help="run as one instance of a highly "
                     "available cluster: the state is in this etcd, one instance leads (OpenFlow MASTER), "
                     "the others follow and take over when it dies")
    ctl.add_argument("--name", help="this instance's name in the cluster (default: HOST-GRPCPORT)")
    ctl.add_argument("--grpc", default=DEFAULT_GRPC, metavar="ADDR", help="gRPC listen address "
                     "(default: %(default)s)")
    ctl.add_argument("--openflow", default=DEFAULT_OPENFLOW, metavar="ADDR", help="OpenFlow listen "
                     "address (default: %(default)s)")
    ctl.add_argument("--audit-interval", type=float, default=DEFAULT_AUDIT_INTERVAL_S, metavar="SECONDS",
                     help="read every switch this often and repair what differs from the plan "
                     "(entries deleted by hand, failed or degraded slices); 0: only when a switch "
                     "connects (default: %(default)s)")
    ctl.add_argument("--probe-interval-ms", type=float, default=PROBE_INTERVAL_S * 1000, metavar="MS",
                     help="send a liveness probe over every inter-site link this often "
                     "(default: %(default)g)")
    ctl.add_argument("--probe-misses", type=int, default=PROBE_MISSES, metavar="N",
                     help="a link is down after this many probe intervals (plus its round trip) "
                     "without an answer (default: %(default)s)")
    ctl.add_argument("--no-probes", action="store_true", help="do not probe links: only what the "
                     "switches report (port down, BFD) takes a link out of use")
    ctl.add_argument("--sla-interval", type=float, default=SLA_INTERVAL_S, metavar="SECONDS",
                     help="measure every slice's delay with an in-band probe between every two of "
                     "its endpoint sites this often; 0: no SLA monitoring (default: %(default)g)")
    ctl.add_argument("--sla-hold", type=float, default=SLA_HOLD_S, metavar="SECONDS",
                     help="a slice is flagged (or cleared) only after its delay has been over "
                     "(or within) its bound this long (default: %(default)g)")
    ctl.add_argument("--sla-window", type=int, default=SLA_WINDOW, metavar="N",
                     help="a pair's delay is the smallest of its last N probes (default: %(default)s)")
    ctl.add_argument("--sla-tolerance-ms", type=float, default=0.0, metavar="MS",
                     help="measured delay may exceed the bound by this much before it counts (e.g. "
                     "an emulation's own forwarding time; default: %(default)g)")
    ctl.add_argument("--stats-interval", type=float, default=5.0, metavar="SECONDS",
                     help="read every slice's counters this often for its current throughput "
                     "(slicectl get); 0: never (default: %(default)g)")
    ctl.add_argument("--dhcp-lease", type=int, default=3600, metavar="SECONDS",
                     help="lease the controller's DHCP gives hosts at endpoints without a given "
                     "address (default: %(default)s)")
    ctl.add_argument("--no-reroute", action="store_true", help="only flag a slice whose bound is "
                     "violated; do not move it to a faster tree")
    sec = ctl.add_argument_group("security (see README: Security)")
    sec.add_argument("--tls-cert", metavar="FILE", help="serve the API over TLS with this certificate (PEM)")
    sec.add_argument("--tls-key", metavar="FILE", help="the certificate's private key (PEM)")
    sec.add_argument("--client-ca", metavar="FILE", help="mutual TLS: clients need a certificate from this "
                     "CA; its SAN URI tenant:NAME (else its CN) is the caller's tenant")
    sec.add_argument("--admin", action="append", default=[], metavar="NAME",
                     help="a client certificate name that is an operator (sees and does everything); "
                     "repeatable")
    sec.add_argument("--tokens", metavar="FILE", help="bearer tokens (YAML: tokens: [{name, tenant | role: "
                     "admin, sha256}]; `slicectl token new` makes one)")
    sec.add_argument("--max-watches", type=int, default=1000, metavar="N",
                     help="open WatchSlices streams allowed in all (default: %(default)s)")
    sec.add_argument("--max-watches-per-client", type=int, default=100, metavar="N",
                     help="open WatchSlices streams allowed per client (default: %(default)s)")
    sec.add_argument("--openflow-cert", metavar="FILE", help="OpenFlow over TLS: the controller's "
                     "certificate (PEM); with --openflow-key and --openflow-ca")
    sec.add_argument("--openflow-key", metavar="FILE", help="OpenFlow over TLS: its private key")
    sec.add_argument("--openflow-ca", metavar="FILE", help="OpenFlow over TLS: switches need a certificate "
                     "this CA signed")
    sec.add_argument("--max-slices-per-tenant", type=int, default=0, metavar="N",
                     help="a tenant may hold at most N slices; 0: no quota (default: %(default)s)")
    sec.add_argument("--insecure", action="store_true", help="allow a plaintext API on an address other "
                     "machines can reach")
    ctl.add_argument("--metrics", default=DEFAULT_METRICS, metavar="ADDR", help="serve Prometheus "
                     "metrics on http://ADDR/metrics; 'off': none (default: %(default)s)")
    ctl.add_argument("--log-level", default="INFO")
    ctl.set_defaults(func=cmd_controller)

    ce = sub.add_parser("certs", help="make a local CA and TLS certificates for the controller and its "
                        "clients (openssl; for labs and tests)")
    ce.add_argument("directory", help="where to write ca.pem, server.pem/.key and NAME.pem/.key")
    ce.add_argument("--client", action="append", default=[], metavar="NAME",
                    help="a client certificate for NAME (its tenant, or an --admin of the controller); "
                    "repeatable")
    ce.add_argument("--host", action="append", default=[], metavar="HOST",
                    help="another name or address the controller is reached at (besides localhost)")
    ce.set_defaults(func=cmd_certs)
    tok = sub.add_parser("token", help="bearer tokens for the API").add_subparsers(dest="action", required=True)
    tn = tok.add_parser("new", help="a new token: its secret, and the line for the controller's tokens file")
    tn.add_argument("--name", required=True, help="who holds it (shown in logs)")
    role = tn.add_mutually_exclusive_group(required=True)
    role.add_argument("--tenant", help="the tenant it acts for")
    role.add_argument("--admin", action="store_true", help="an operator's: sees and does everything")
    tn.add_argument("--out", metavar="FILE", help="write the secret to FILE (mode 600) instead of printing it")
    tn.set_defaults(func=cmd_token_new)

    ap = sub.add_parser("apply", help="create or update the slices of YAML files (every document of "
                        "every file is checked before any is sent)")
    ap.add_argument("-f", "--file", required=True, action="append", metavar="FILE",
                    help="YAML spec file ('-' for stdin); repeat for more files")
    ap.add_argument("--batch", action="store_true",
                    help="create every slice in one request (CreateSlices, up to 1,000): all of them or none, "
                         "one round of rules per switch; slices that exist must have the same spec")
    _add_client_options(ap)
    ap.set_defaults(func=cmd_apply)
    spec = sub.add_parser("spec", help="slice spec files").add_subparsers(dest="action", required=True)
    sc = spec.add_parser("check", help="validate spec files as the controller would, without one: "
                         "every problem with its file, spec and field path; exit 0 if all are valid, 2 if not")
    sc.add_argument("files", nargs="+", metavar="FILE", help="YAML spec files ('-' for stdin)")
    sc.add_argument("--topology", help="also check sites, ports, regions, capacity and latency floors "
                    "against this topology (built-in name, .yaml or .graphml)")
    sc.set_defaults(func=cmd_spec_check)
    get = sub.add_parser("get", help="one slice in detail (with counters), or every slice")
    get.add_argument("name", nargs="?")
    _add_client_options(get)
    get.set_defaults(func=cmd_get)
    ls = sub.add_parser("list", help="slices, optionally of one tenant or state")
    ls.add_argument("--tenant", default="")
    ls.add_argument("--state", default="", choices=("", "requested", "active", "degraded", "preempted", "failed"))
    _add_client_options(ls)
    ls.set_defaults(func=cmd_list)
    de = sub.add_parser("delete", help="delete a slice")
    de.add_argument("name")
    _add_client_options(de)
    de.set_defaults(func=cmd_delete)
    ep = sub.add_parser("endpoint", help="endpoints of a slice: failback from their standbys")
    ep_sub = ep.add_subparsers(dest="action", required=True)
    fb = ep_sub.add_parser("failback", help="move endpoints that are at their standbys back to "
                           "their primaries (after a lost or drained site is back)")
    fb.add_argument("name", help="the slice")
    fb.add_argument("--site", default="", help="only the endpoints of this primary site (default: all)")
    _add_client_options(fb)
    fb.set_defaults(func=cmd_endpoint_failback)
    st = sub.add_parser("site", help="drain a site for maintenance or an approaching disaster, or undrain it")
    st_sub = st.add_subparsers(dest="action", required=True)
    for verb, text in (("drain", "slices stop crossing the site (make-before-break); its endpoints "
                        "with standbys move to them"),
                       ("undrain", "the site may be crossed again (endpoints stay at their standbys "
                        "until failed back)")):
        sp = st_sub.add_parser(verb, help=text)
        sp.add_argument("site")
        _add_client_options(sp)
        sp.set_defaults(func=cmd_site, verb=verb)
    wa = sub.add_parser("watch", help="stream slice events until Ctrl-C")
    wa.add_argument("name", nargs="?", default="")
    _add_client_options(wa)
    wa.set_defaults(func=cmd_watch)

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
                    "rtt_tolerance_ms, else 5)")
    ve.add_argument("--no-isolation", dest="isolation", action="store_false",
                    help="skip the isolation probes from hosts outside each slice")
    ve.add_argument("--parallel", type=_positive, default=None, metavar="N",
                    help="checks running at once (default: 12)")
    _add_client_options(ve)
    ve.set_defaults(func=cmd_verify)

    rp = sub.add_parser("report", help="one self-contained HTML page about a run: the map with the slices' "
                        "trees, time to connectivity against the 10-minute target, outage per disaster, "
                        "verdict per slice (plus the figures as PNG beside it)")
    rp.add_argument("--run", default="results/demo-run.json", metavar="FILE",
                    help="the run record `make demo` writes (default: %(default)s)")
    rp.add_argument("--ttc", metavar="FILE", help="also `bench connectivity --json` output (its samples)")
    rp.add_argument("--failover", metavar="FILE", help="also `bench failover --json` output")
    rp.add_argument("--out", default="results/report.html", metavar="FILE", help="default: %(default)s")
    rp.set_defaults(func=cmd_report)

    demo = sub.add_parser("demo", help="the main job (needs root): japan-intercloud in Mininet, its "
                          "fidelity table, then the controller and the example slices: connectivity, "
                          "isolation, time to connectivity, map")
    demo.add_argument("--out", default="results", help="where the map and the log go (default: %(default)s)")
    demo.add_argument("--skip-fidelity", action="store_true", help="skip part 1 (measuring every link)")
    demo.set_defaults(func=cmd_demo)

    bench = sub.add_parser("bench", help="benchmarks").add_subparsers(dest="action", required=True)
    be = bench.add_parser("engine", help="place and compile N random slices; report times, "
                          "rules and memory against the engine's targets")
    be.add_argument("--topology", required=True, help="built-in name, .yaml, .graphml, or "
                    "generated:SITES[:SEED] (a random geographic WAN)")
    be.add_argument("--slices", type=_positive, default=1000, metavar="N")
    be.add_argument("--endpoints-min", type=_positive, default=2, metavar="K")
    be.add_argument("--endpoints-max", type=_positive, default=10, metavar="K")
    be.add_argument("--seed", type=int, default=1)
    be.add_argument("--capacity-scale", type=float, default=1.0, metavar="F",
                    help="every link's capacity times F: below 1, capacity runs short and "
                    "slices preempt each other (the scarce variant; default: %(default)s)")
    be.add_argument("--json", action="store_true")
    be.set_defaults(func=cmd_bench_engine)
    bt = bench.add_parser("connectivity", help="time from CreateSlice to traffic between every endpoint "
                          "pair, over N slice creations on japan-intercloud in Mininet (needs root)")
    bt.add_argument("--creations", type=_positive, default=50)
    bt.add_argument("--seed", type=int, default=1)
    bt.add_argument("--json", action="store_true")
    bt.set_defaults(func=cmd_bench_connectivity)
    bb = bench.add_parser("batch", help="N slices on japan-intercloud in Mininet (needs root), created one "
                          "CreateSlice at a time, then with CreateSlices: slices/s of each, on real switches")
    bb.add_argument("--slices", type=_positive, default=1000, help="default: %(default)s")
    bb.add_argument("--batch", type=_positive, default=1000, help="specs per CreateSlices request (at most "
                    "1,000; default: %(default)s)")
    bb.add_argument("--seed", type=int, default=1)
    bb.add_argument("--json", metavar="FILE", help="also write the figures to FILE")
    bb.set_defaults(func=cmd_bench_batch)
    bf = bench.add_parser("failover", help="outage of a slice under each kind of failure (cuts, a silent "
                          "link, a lost cloud with a standby, a drain, a scale-out), from 10 ms ping streams, "
                          "on japan-intercloud in Mininet (needs root)")
    bf.add_argument("--reps", type=_positive, default=10, metavar="N", help="repetitions per scenario "
                    "(default: %(default)s)")
    bf.add_argument("--scenario", action="append", default=None, metavar="NAME",
                    help="only this scenario (repeatable; default: all)")
    bf.add_argument("--json", metavar="FILE", default=None, help="also write the figures here")
    bf.set_defaults(func=cmd_bench_failover)

    lab = sub.add_parser("lab", help="the lab course in labs/: list the exercises, check your work "
                         "(needs root)").add_subparsers(dest="action", required=True)
    lab.add_parser("list", help="the exercises, their time, and their status on this machine").set_defaults(
        func=cmd_lab_list)
    lc = lab.add_parser("check", help="run an exercise's self-check on the emulated WAN: item by item, "
                        "with hints and a score; exit 0 only when everything holds")
    lc.add_argument("exercise", metavar="NN", help="the exercise number (01, 2, ...) or directory name")
    lc.add_argument("--solution", action="store_true", help="check the reference solution instead")
    lc.add_argument("--work", metavar="DIR", help="check the files in DIR (a copy of the exercise "
                    "directory, a student's hand-in) instead of the exercise directory")
    lc.set_defaults(func=cmd_lab_check)

    wan = sub.add_parser("wan", help="Mininet emulation of the WAN (needs root)").add_subparsers(
        dest="action", required=True)
    up = wan.add_parser("up", help="build the WAN and keep it up until Ctrl-C")
    _add_wan_options(up)
    up.add_argument("--controller", type=_controller_addr, metavar="HOST:PORT", action="append",
                    help="remote OpenFlow controller (switches fail-secure); give it once for each "
                    "instance of a cluster: every switch connects to all; without it the "
                    "switches forward on static least-delay routes")
    up.add_argument("--controller-tls", metavar="DIR", help="reach the controller over OpenFlow/TLS with "
                    "DIR/switches.key and DIR/switches.pem, trusting DIR/ca.pem (`slicectl certs DIR "
                    "--client switches` makes them)")
    up.add_argument("--inventory", metavar="FILE", help="write hosts and switches as JSON "
                    "once the network is up")
    up.add_argument("--probes", action="store_true", help="add one probe host per site")
    up.set_defaults(func=cmd_wan_up)
    check = wan.add_parser("check", help="build the WAN, measure delay and bandwidth of every "
                           "link, tear down")
    _add_wan_options(check)
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(func=cmd_wan_check)
    fault = wan.add_parser("fault", help="break (or restore) a link or a whole site of a running WAN "
                           "(`wan up --inventory FILE` wrote the file this needs)")
    fault.add_argument("--inventory", required=True, metavar="FILE", help="the running WAN's inventory")
    what = fault.add_subparsers(dest="target", required=True)
    fl = what.add_parser("link", help="cut: ports down; silent: ports up, frames dropped; "
                         "loss=P%%: P percent dropped; delay=MS: MS ms each way instead of the configured delay; restore")
    fl.add_argument("a", help="site at one end")
    fl.add_argument("b", help="site at the other end")
    fl.add_argument("--mode", required=True, help="cut | silent | loss=P%% | delay=MS | restore")
    fs = what.add_parser("site", help="lost: every link silent and the switch cut off from the "
                         "controller, as a destroyed data centre; restore; swap=N1,N2: the cables "
                         "to neighbours N1 and N2 in each other's ports (again: put back)")
    fs.add_argument("site")
    fs.add_argument("--mode", required=True, help="lost | restore | swap=N1,N2")
    fault.set_defaults(func=cmd_wan_fault)
    ex = wan.add_parser("exec", help="run a command in one host of a running WAN (its network "
                        "namespace): `wan exec --inventory wan.json tokyo-dc:1 ping -c 3 10.0.2.1`")
    ex.add_argument("--inventory", required=True, metavar="FILE", help="the running WAN's inventory")
    ex.add_argument("host", help="SITE:PORT (the host on that port of the site's switch) or a host name (h1_1)")
    ex.add_argument("command", nargs=argparse.REMAINDER, help="the command and its arguments")
    ex.set_defaults(func=cmd_wan_exec)
    clean = wan.add_parser("clean", help="remove a WAN left behind by a killed run")
    clean.add_argument("topology", nargs="?", default=None,
                       help="the topology that was running (default: all built-ins)")
    clean.add_argument("--prefix", default="", metavar="LETTERS",
                       help="the name prefix that WAN ran with (see `wan up --prefix`)")
    clean.set_defaults(func=cmd_wan_clean)
    return parser


def cmd_topology_show(args) -> int:
    from topologies import load

    t = load(args.topology)
    if args.json:
        from dataclasses import asdict
        print(json.dumps({"name": t.name, "source": t.source, "warnings": list(t.warnings),
                          "sites": [asdict(s) for s in t.sites],
                          "links": [asdict(l) for l in t.links]}, indent=2))
        return EXIT_OK
    print(f"{t.name}: {len(t.sites)} sites, {len(t.links)} links, regions {', '.join(t.regions)}")
    if t.description:
        print(t.description)
    for s in t.sites:
        where = f"{s.lat:.3f},{s.lon:.3f}" if s.located else "unlocated"
        print(f"  site {s.name:<28} {s.kind:<5} {s.region:<14} {where:<18} hosts {s.hosts}")
    for l in t.links:
        dist = f"{l.distance_km:.0f} km" if l.distance_km is not None else "?"
        print(f"  link {l.a + ' — ' + l.b:<44} {l.bandwidth_mbps:>8g} Mbit/s "
              f"{l.delay_ms:8.3f} ms ({l.delay_source}, {dist})")
    for w in t.warnings:
        print(f"  warning: {w}")
    return EXIT_OK


def _sigterm_as_interrupt() -> None:
    """SIGTERM and SIGINT both mean: tear down and exit. (SIGINT is set explicitly: a
    shell starts background jobs with SIGINT ignored, and Python would inherit that.)"""
    def handler(_signum, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _make_wan(args, probes: bool, controller=None):
    from topologies import load
    from topologies.emulation.wan import Wan

    topo = load(args.topology)
    for w in topo.warnings:
        progress(f"warning: {w}")
    tls = None
    if getattr(args, "controller_tls", None):
        from pathlib import Path
        d = Path(args.controller_tls)
        tls = tuple(str(d / f) for f in ("switches.key", "switches.pem", "ca.pem"))
        missing = [f for f in tls if not Path(f).is_file()]
        if missing:
            raise SystemExit(f"slicectl: error: --controller-tls {d}: no {missing[0]} (make them with "
                             f"`slicectl certs {d} --client switches`)")
    return Wan(topo, controller=controller, hosts_per_site=args.hosts, probes=probes,
               delay_mechanism=args.delay_mechanism, datapath=args.datapath, progress=progress,
               prefix=args.prefix, bfd=args.bfd, controller_tls=tls)


def cmd_wan_up(args) -> int:
    _sigterm_as_interrupt()
    wan = _make_wan(args, args.probes, args.controller)
    with wan:
        for (a, b), mech in wan.link_mechanisms.items():
            link = wan.topo.link(a, b)
            progress(f"  {a} — {b}: {link.bandwidth_mbps:g} Mbit/s, {link.delay_ms:.3f} ms by {mech}")
        if args.inventory:
            wan.write_inventory(args.inventory)
            progress(f"inventory written to {args.inventory}")
        progress("WAN is up; press Ctrl-C to tear it down")
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
    return EXIT_OK


def cmd_wan_check(args) -> int:
    from slicectl.report import fidelity_table
    from topologies.emulation.fidelity import run_check

    _sigterm_as_interrupt()
    report = run_check(lambda: _make_wan(args, probes=True), progress)
    print(json.dumps(report, indent=2) if args.json else fidelity_table(report))
    return EXIT_OK if report["ok"] else EXIT_FAIL


def cmd_certs(args) -> int:
    from slicectl.certs import CertError, make_all
    try:
        written = make_all(args.directory, args.client, args.host)
    except CertError as e:
        print(f"slicectl: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    for path in written:
        print(path)
    return EXIT_OK


def cmd_token_new(args) -> int:
    import os

    from proto.tokens import new_secret
    secret, digest = new_secret()
    who = "role: admin" if args.admin else f"tenant: {json.dumps(args.tenant)}"
    entry = f"  - {{name: {json.dumps(args.name)}, {who}, sha256: {digest}}}"
    if args.out:
        try:
            fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        except OSError as e:
            print(f"slicectl: error: --out {args.out}: {e.strerror}", file=sys.stderr)
            return EXIT_USAGE
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
        print(f"# add under 'tokens:' in the controller's --tokens file (the secret is in {args.out}):\n{entry}")
    else:
        print(f"# add under 'tokens:' in the controller's --tokens file:\n{entry}\n"
              f"# the secret (stored nowhere else; slicectl --token-file or SLICECTL_TOKEN):\n{secret}")
    return EXIT_OK


def cmd_controller(args) -> int:
    from controller.main import run
    try:
        if args.audit_interval < 0:
            raise ValueError(f"--audit-interval must be >= 0 seconds, got {args.audit_interval:g}")
        if not args.probe_interval_ms > 0 or args.probe_misses < 1:
            raise ValueError(f"--probe-interval-ms must be > 0 and --probe-misses >= 1, got "
                             f"{args.probe_interval_ms:g} and {args.probe_misses}")
        probes = None if args.no_probes else {"interval_s": args.probe_interval_ms / 1000,
                                              "misses": args.probe_misses}
        if args.sla_interval < 0 or args.sla_hold < 0 or args.sla_window < 1 or args.sla_tolerance_ms < 0:
            raise ValueError("--sla-interval, --sla-hold and --sla-tolerance-ms must be >= 0, --sla-window >= 1")
        sla = None if not args.sla_interval else {
            "interval_s": args.sla_interval, "hold_s": args.sla_hold, "window": args.sla_window,
            "tolerance_ms": args.sla_tolerance_ms, "reroute": not args.no_reroute}
        if args.max_slices_per_tenant < 0:
            raise ValueError("--max-slices-per-tenant must be >= 0 (0: no quota)")
        if args.max_watches < 1 or args.max_watches_per_client < 1:
            raise ValueError("--max-watches and --max-watches-per-client must be >= 1")
        if args.stats_interval < 0:
            raise ValueError(f"--stats-interval must be >= 0 seconds, got {args.stats_interval:g}")
        if args.dhcp_lease < 60:
            raise ValueError(f"--dhcp-lease must be at least 60 seconds, got {args.dhcp_lease}")
        return run(args.topology, args.store, args.grpc, args.openflow, args.log_level, args.audit_interval,
                   probes, None if args.metrics == "off" else args.metrics, sla, args.dhcp_lease,
                   args.stats_interval,
                   {"tls_cert": args.tls_cert, "tls_key": args.tls_key, "client_ca": args.client_ca,
                    "tokens": args.tokens, "admins": tuple(args.admin), "insecure": args.insecure},
                   (args.max_watches, args.max_watches_per_client), args.max_slices_per_tenant,
                   {"cert": args.openflow_cert, "key": args.openflow_key, "ca": args.openflow_ca}
                   if args.openflow_cert or args.openflow_key or args.openflow_ca else None,
                   args.cluster, args.name)
    except ValueError as e:
        print(f"slicectl: error: {e}", file=sys.stderr)
        return EXIT_USAGE


def _client(fn):
    """Run a client command; print ClientError messages, return their exit code."""
    @functools.wraps(fn)
    def wrapped(args) -> int:
        from slicectl.client import ClientError
        try:
            return fn(args) or EXIT_OK
        except ClientError as e:
            print(f"slicectl: error: {e}", file=sys.stderr)
            return e.code
    return wrapped


def cmd_spec_check(args) -> int:
    from slicectl.specfiles import SpecFileError, check_docs, read_spec_docs
    from topologies import load

    topology = load(args.topology) if args.topology else None
    problems, valid = [], 0
    for path in args.files:
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
                  + f", {s.bandwidth_mbps:g} Mbit/s, priority {s.priority}, protection {s.protection})")
    for line in problems:
        print(line, file=sys.stderr)
    against = f" against {topology.name}" if topology else " (no topology: sites and ports not checked)"
    print(f"{valid} valid, {len(problems)} problem{'s' * (len(problems) != 1)}{against}",
          file=sys.stderr)
    return EXIT_USAGE if problems else EXIT_OK


@_client
def cmd_apply(args) -> int:
    from slicectl import client
    slices = (client.create_batch if args.batch else client.apply)(_server(args), *args.file)
    if args.output == "table":
        print(client.slice_rows(slices))
    else:
        print(client.render([client.as_data(s) for s in slices], args.output))


@_client
def cmd_get(args) -> int:
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    from slicectl import client
    if not args.name:
        return cmd_list.__wrapped__(argparse.Namespace(**vars(args), tenant="", state=""))
    s = client.call(_server(args), "GetSlice", pb.GetSliceRequest(name=args.name))
    print(client.slice_detail(s) if args.output == "table" else client.render(client.as_data(s), args.output))


@_client
def cmd_list(args) -> int:
    from proto.convert import STATES
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    from slicectl import client
    slices, token = [], ""
    while True:
        page = client.call(_server(args), "ListSlices", pb.ListSlicesRequest(
            page_size=500, page_token=token, tenant=args.tenant, state=STATES.get(args.state, 0)))
        slices += page.slices
        token = page.next_page_token
        if not token:
            break
    if args.output == "table":
        print(client.slice_rows(slices) if slices else "no slices")
    else:
        print(client.render([client.as_data(s) for s in slices], args.output))


@_client
def cmd_delete(args) -> int:
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    from slicectl import client
    client.call(_server(args), "DeleteSlice", pb.DeleteSliceRequest(name=args.name))
    print(f"slice {args.name} deleted")


@_client
def cmd_endpoint_failback(args) -> int:
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    from slicectl import client
    s = client.call(_server(args), "FailbackEndpoints", pb.FailbackEndpointsRequest(name=args.name, site=args.site))
    print(client.slice_detail(s) if args.output == "table" else client.render(client.as_data(s), args.output))


@_client
def cmd_site(args) -> int:
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    from proto.intercloud.slicing.v1 import slicing_pb2_grpc as pb_grpc
    from slicectl import client
    request = (pb.DrainSiteRequest if args.verb == "drain" else pb.UndrainSiteRequest)(site=args.site)
    t = client.call(_server(args), "DrainSite" if args.verb == "drain" else "UndrainSite", request,
                    kind=pb_grpc.TopologyServiceStub)
    print(client.topology_rows(t) if args.output == "table" else client.render(client.as_data(t), args.output))


@_client
def cmd_watch(args) -> int:
    from proto.convert import STATE_NAMES
    from slicectl import client
    try:
        for ev in client.watch(_server(args), args.name):
            if args.output == "table":
                when = ev.time.ToDatetime().strftime("%H:%M:%S.%f")[:-3]
                print(f"{when}  {ev.slice:<24} {ev.kind:<18} {STATE_NAMES.get(ev.state, '-'):<10} {ev.reason}",
                      flush=True)
            else:
                print(json.dumps(client.as_data(ev)), flush=True)
    except KeyboardInterrupt:
        pass


@_client
def cmd_verify(args) -> int:
    import grpc

    from proto.intercloud.slicing.v1 import slicing_pb2_grpc as pb_grpc
    from slicectl import client, verify

    if args.output == "yaml":
        print("slicectl: error: verify prints a table or JSON (-o json)", file=sys.stderr)
        return EXIT_USAGE
    options = verify.Options(throughput=args.throughput, ttc=args.ttc, isolation=args.isolation)
    if args.rtt_tolerance_ms is not None:
        if args.rtt_tolerance_ms < 0:
            print("slicectl: error: --rtt-tolerance-ms must be >= 0", file=sys.stderr)
            return EXIT_USAGE
        options.rtt_tolerance_ms = args.rtt_tolerance_ms
    if args.parallel:
        options.parallel = args.parallel
    try:
        inventory = verify.load_inventory(args.inventory)
    except verify.VerifyError as e:
        print(f"slicectl: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    _sigterm_as_interrupt()
    server = _server(args)
    try:
        checks = verify.verify(client.stub(server), client.stub(server, pb_grpc.TopologyServiceStub),
                               inventory, args.names, options, progress)
    except grpc.RpcError as e:
        raise client.explain(e, str(server)) from None
    if args.junit:
        with open(args.junit, "w", encoding="utf-8") as f:
            f.write(verify.to_junit(checks))
    print(verify.to_json(checks) if args.output == "json" else verify.format_table(checks))
    return EXIT_OK if all(c.ok for c in checks) else EXIT_FAIL


@_client
def cmd_topology_server(args) -> int:
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    from proto.intercloud.slicing.v1 import slicing_pb2_grpc as pb_grpc
    from slicectl import client
    t = client.call(_server(args), "GetTopology", pb.GetTopologyRequest(), kind=pb_grpc.TopologyServiceStub)
    print(client.topology_rows(t) if args.output == "table" else client.render(client.as_data(t), args.output))


def cmd_demo(args) -> int:
    """Part 1: the WAN alone, every link measured (fidelity table). Part 2: the controller
    on the same WAN with the example slices."""
    from pathlib import Path

    from slicectl.demo import run_demo
    from slicectl.report import fidelity_table
    from topologies.emulation.fidelity import run_check
    _sigterm_as_interrupt()
    if not args.skip_fidelity:
        progress("part 1/2: the emulated WAN alone, every link measured against its configuration")
        args.topology, args.hosts, args.delay_mechanism, args.datapath = "japan-intercloud", None, "auto", "auto"
        args.prefix, args.bfd = None, None
        report = run_check(lambda: _make_wan(args, probes=True), progress)
        print(fidelity_table(report))
        print()
        progress("part 2/2: the controller, and slices over gRPC")
    rc = run_demo(progress, Path(args.out))
    return rc if args.skip_fidelity or report["ok"] else EXIT_FAIL


def cmd_report(args) -> int:
    from slicectl.htmlreport import ReportError, write

    try:
        written = write(args.run, args.out, args.ttc, args.failover)
    except ReportError as e:
        print(f"slicectl: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    progress(f"figures: {', '.join(str(p) for p in written[1:])}")
    print(f"report written to {written[0]}")
    return EXIT_OK


def cmd_bench_connectivity(args) -> int:
    from slicectl.demo import run_ttc_bench
    _sigterm_as_interrupt()
    r = run_ttc_bench(args.creations, args.seed, progress)
    if args.json:
        print(json.dumps(r, indent=2))
    else:
        t = r["ttc_s"]
        print(f"time to connectivity on {r['topology']} over {r['creations']} slice creations "
              f"({r['connected']} connected, {r['failed']} failed): p50 {t['p50']:.3f} s, p99 {t['p99']:.3f} s, "
              f"max {t['max']:.3f} s; target {r['target_s'] / 60:g} min")
    return EXIT_OK if r["failed"] == 0 else EXIT_FAIL


def cmd_bench_batch(args) -> int:
    from slicectl.batchbench import format_report, healthy, run_batch_bench
    if args.slices < 4 or args.slices > 4000 or args.batch > 1000:
        print("slicectl: error: --slices must be 4..4,000 (a VLAN each) and --batch at most 1,000", file=sys.stderr)
        return EXIT_USAGE
    _sigterm_as_interrupt()
    r = run_batch_bench(args.slices, args.batch, args.seed, progress)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(r, f, indent=2)
    print(format_report(r))
    return EXIT_OK if healthy(r) else EXIT_FAIL


def cmd_bench_failover(args) -> int:
    from slicectl.failover import GOALS_S, SCENARIOS, format_summary, run_failover_bench
    unknown = sorted(set(args.scenario or ()) - set(SCENARIOS))
    if unknown:
        print(f"slicectl: error: unknown scenario {unknown[0]!r} (one of: {', '.join(SCENARIOS)})", file=sys.stderr)
        return EXIT_USAGE
    _sigterm_as_interrupt()
    r = run_failover_bench(args.reps, progress, tuple(args.scenario or SCENARIOS))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(r, f, indent=2)
    print(f"outage of a slice on {r['topology']} ({r['repetitions']} repetitions each, "
          f"{r['stream_interval_ms']:g} ms ping streams)")
    print(format_summary(r["scenarios"]))
    missed = [n for n, s in r["scenarios"].items() if n in GOALS_S and s["outage_ms_p50"] > GOALS_S[n] * 1000]
    return EXIT_FAIL if missed else EXIT_OK


def cmd_bench_engine(args) -> int:
    from slicectl.bench import format_report, run
    from topologies import load

    if args.endpoints_min > args.endpoints_max:
        print("slicectl: error: --endpoints-min is above --endpoints-max", file=sys.stderr)
        return EXIT_USAGE
    if not 0 < args.capacity_scale <= 100:
        print("slicectl: error: --capacity-scale must be above 0 (and at most 100)", file=sys.stderr)
        return EXIT_USAGE
    topo = load(args.topology)
    if args.capacity_scale != 1:
        from dataclasses import replace
        topo = replace(topo, name=f"{topo.name}-capacity-x{args.capacity_scale:g}",
                       links=tuple(replace(l, bandwidth_mbps=l.bandwidth_mbps * args.capacity_scale)
                                   for l in topo.links))
    progress(f"placing and compiling {args.slices} slices on {topo.name} "
             f"({len(topo.sites)} sites, {len(topo.links)} links), then a tenth of them 3 times")
    report = run(topo, args.slices, seed=args.seed, endpoints_min=args.endpoints_min,
                 endpoints_max=args.endpoints_max)
    print(json.dumps(report, indent=2) if args.json else format_report(report))
    return EXIT_OK if all(t["ok"] is not False for t in report["targets"].values()) else EXIT_FAIL


def cmd_lab_list(args) -> int:
    from slicectl import lab
    from slicectl.report import render_table
    rows = lab.list_rows()
    print(render_table(("lab", "title", "minutes", "your work", "reference solution"), rows, rule=True))
    total = sum(int(r[2]) for r in rows)
    print(f"\n{len(rows)} exercises, about {total / 60:.1f} hours in all; instructions in "
          f"labs/NN-name/README.md; check one with: sudo .venv/bin/slicectl lab check NN")
    return EXIT_OK


def cmd_lab_check(args) -> int:
    from slicectl import lab
    if args.solution and args.work:
        print("slicectl: error: --solution and --work go separately", file=sys.stderr)
        return EXIT_USAGE
    _sigterm_as_interrupt()
    try:
        exercise = lab.find(args.exercise)
        result = lab.run_check(exercise, solution=args.solution, work=args.work, progress=progress)
    except lab.LabError as e:
        print(f"slicectl: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    print(lab.format_result(result))
    return EXIT_OK if result.passed else EXIT_FAIL


def cmd_wan_fault(args) -> int:
    from topologies.emulation.faults import link_fault, site_fault
    from topologies.emulation.platform import EmulationError

    try:
        inventory = json.loads(open(args.inventory, encoding="utf-8").read())
    except (OSError, ValueError) as e:
        print(f"slicectl: error: {args.inventory}: not a WAN inventory ({e})", file=sys.stderr)
        return EXIT_USAGE
    try:
        if args.target == "link":
            said = link_fault(inventory, args.a, args.b, args.mode)
        else:
            said = site_fault(inventory, args.site, args.mode)
    except EmulationError as e:
        print(f"slicectl: error: {e}", file=sys.stderr)
        return EXIT_USAGE if str(e).startswith(("unknown", "no link", "no site")) else EXIT_FAIL
    progress(said)
    return EXIT_OK


def cmd_wan_exec(args) -> int:
    from slicectl.verify import VerifyError, load_inventory
    try:
        hosts = load_inventory(args.inventory).hosts
    except VerifyError as e:
        print(f"slicectl: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    host = next((h for h in hosts if args.host in (h.name, f"{h.site}:{h.port}")), None)
    if host is None:
        print(f"slicectl: error: no host {args.host!r} in {args.inventory}; hosts: "
              f"{', '.join(f'{h.site}:{h.port}' for h in hosts[:12])}{' ...' if len(hosts) > 12 else ''}",
              file=sys.stderr)
        return EXIT_USAGE
    if not args.command:
        print("slicectl: error: give the command to run in the host", file=sys.stderr)
        return EXIT_USAGE
    argv = [*host.prefix, *args.command]
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        print(f"slicectl: error: {argv[0]}: {e.strerror}", file=sys.stderr)
        return EXIT_USAGE


def cmd_wan_clean(args) -> int:
    from topologies import builtin_names, load
    from topologies.emulation.plan import make_plan
    from topologies.emulation.wan import leftovers, running_owner, sweep

    names = [args.topology] if args.topology else builtin_names()
    remaining, running = [], []
    for name in names:
        plan = make_plan(load(name), probes=True, prefix=args.prefix)
        owner = running_owner(plan)
        if owner:  # not a leftover: a WAN that is up; its own Ctrl-C tears it down
            running.append(f"{name}: left alone, {owner} is running on its names")
            continue
        sweep(plan)
        remaining += leftovers(plan)
    for line in running:
        progress(line)
    for item in remaining:
        progress(f"still present: {item}")
    progress(f"cleaned {', '.join(names)}" if not remaining else "cleanup incomplete")
    return EXIT_FAIL if remaining else EXIT_OK


def main(argv: list[str] | None = None) -> int:
    from topologies.emulation.platform import EmulationError
    from topologies.errors import TopologyError

    args = build_parser().parse_args(argv)
    func: Callable = args.func
    try:
        return func(args)
    except TopologyError as e:
        print(f"slicectl: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except EmulationError as e:
        print(f"slicectl: error: {e}", file=sys.stderr)
        return EXIT_FAIL
    except KeyboardInterrupt:
        print("slicectl: interrupted; everything was torn down", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
