"""``slicectl controller``: run the controller (the os-ken OpenFlow 1.3 app and the gRPC
API). The only command that imports the server's code (controller.main)."""
from __future__ import annotations

import argparse

from proto.defaults import (DEFAULT_AUDIT_INTERVAL_S, DEFAULT_FEDERATION, DEFAULT_GRPC, DEFAULT_METRICS,
                            DEFAULT_OPENFLOW, DEFAULT_STORE, DHCP_LEASE_S, FEDERATION_HOLD_S, MAX_SLICES_PER_TENANT,
                            MAX_WATCHES, MAX_WATCHES_PER_CLIENT, PROBE_INTERVAL_S, PROBE_MISSES, SLA_HOLD_S,
                            SLA_INTERVAL_S, SLA_MAX_PROBES_PER_S, SLA_TOLERANCE_MS, SLA_WINDOW, STATS_INTERVAL_S, SWITCH_ADDRESS_GRACE_S)
from slicectl.commands.common import Subparsers, fail


def register(sub: Subparsers) -> None:
    """``controller`` and its options; the order they are added in is the order of its usage line."""
    ctl = sub.add_parser("controller", help="run the controller: os-ken OpenFlow 1.3 app + gRPC API")
    ctl.add_argument("--topology", required=True, help="the topology the switches belong to (the same "
                     "file the emulation used)")
    ctl.add_argument("--store", default=DEFAULT_STORE, help="SQLite file with slices and events "
                     "(default: %(default)s; not used with --cluster)")
    ctl.add_argument("--cluster", metavar="etcd://HOST:PORT[,HOST:PORT...]", help="run as one instance of a "
                     "highly available cluster: the state is in this etcd (every member, comma-separated: "
                     "another is used when one dies; etcds:// for TLS), one instance leads (OpenFlow "
                     "MASTER), the others follow and take over when it dies")
    ctl.add_argument("--cluster-ca", metavar="FILE", help="TLS to etcd (etcds://): the CA that signed the "
                     "members' certificates (without it: the public CAs Python's requests trusts)")
    ctl.add_argument("--cluster-cert", metavar="FILE", help="TLS to etcd: this controller's client "
                     "certificate (etcd's --client-cert-auth), with --cluster-key")
    ctl.add_argument("--cluster-key", metavar="FILE", help="TLS to etcd: the client certificate's key")
    ctl.add_argument("--name", help="this instance's name in the cluster (default: HOST-GRPCPORT)")
    ctl.add_argument("--grpc", default=DEFAULT_GRPC, metavar="ADDR", help="gRPC listen address "
                     "(default: %(default)s)")
    ctl.add_argument("--openflow", default=DEFAULT_OPENFLOW, metavar="ADDR", help="OpenFlow listen "
                     "address (default: %(default)s)")
    _add_federation_options(ctl.add_argument_group("federation (see README: Federation)"))
    _add_monitoring_options(ctl)
    _add_security_options(ctl.add_argument_group("security (see README: Security)"))
    ctl.add_argument("--metrics", default=DEFAULT_METRICS, metavar="ADDR", help="serve Prometheus "
                     "metrics on http://ADDR/metrics; 'off': none (default: %(default)s)")
    ctl.add_argument("--log-level", default="INFO")
    ctl.set_defaults(func=cmd_controller)


def _add_federation_options(fed: argparse._ArgumentGroup) -> None:
    """One domain of a federation: which, where its peers are, where they reach it."""
    fed.add_argument("--domain", metavar="NAME", help="run domain NAME of the federation file given as "
                     "--topology: its own sites, with its border ports, and the federation API for its peers")
    fed.add_argument("--peer", action="append", default=[], metavar="DOMAIN=HOST:PORT",
                     help="a peer domain's federation API (repeatable; with --domain)")
    fed.add_argument("--federation-listen", default=DEFAULT_FEDERATION, metavar="ADDR",
                     help="where this domain's federation API listens for its peers (default: %(default)s; "
                     "with --tls-cert and --client-ca, peers need a certificate: mutual TLS)")
    fed.add_argument("--hold-timeout", type=float, default=FEDERATION_HOLD_S, metavar="SECONDS",
                     help="a peer's reservation is held this long for its commit, then released "
                     "(default: %(default)g)")
    fed.add_argument("--peer-ca", metavar="FILE", help="TLS to peers: the CA their federation API's "
                     "certificates come from")
    fed.add_argument("--peer-cert", metavar="FILE", help="TLS to peers: this domain's client certificate "
                     "(its name is the domain's)")
    fed.add_argument("--peer-key", metavar="FILE", help="TLS to peers: the client certificate's key")


def _federation(args: argparse.Namespace) -> dict | None:
    """The ``federation`` options of controller.main.run, or None without --domain."""
    if not args.domain:
        if args.peer:
            raise ValueError("--peer needs --domain (and a federation file as --topology)")
        return None
    peers = {}
    for text in args.peer:
        name, eq, addr = text.partition("=")
        if not eq or not name or ":" not in addr:
            raise ValueError(f"--peer wants DOMAIN=HOST:PORT, got {text!r}")
        if name in peers:
            raise ValueError(f"--peer {name} given twice")
        peers[name] = addr
    if args.hold_timeout <= 0 or args.hold_timeout > 900:
        raise ValueError(f"--hold-timeout must be > 0 and at most 900 seconds, got {args.hold_timeout:g}")
    tls = None
    if args.peer_ca or args.peer_cert or args.peer_key:
        import grpc
        read = {}
        for flag, path in (("--peer-ca", args.peer_ca), ("--peer-cert", args.peer_cert), ("--peer-key", args.peer_key)):
            try:
                read[flag] = open(path, "rb").read() if path else None
            except OSError as e:
                raise ValueError(f"{flag} {path}: {e.strerror}") from None
        tls = grpc.ssl_channel_credentials(read["--peer-ca"], read["--peer-key"], read["--peer-cert"])
    return {"domain": args.domain, "peers": peers, "address": args.federation_listen, "hold_s": args.hold_timeout,
            "peer_tls": tls}


def _add_monitoring_options(ctl: argparse.ArgumentParser) -> None:
    """How the controller watches its switches, links and slices, and what it tells hosts."""
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
    ctl.add_argument("--sla-tolerance-ms", type=float, default=SLA_TOLERANCE_MS, metavar="MS",
                     help="measured delay may exceed the bound by this much before it counts (e.g. "
                     "an emulation's own forwarding time; default: %(default)g)")
    ctl.add_argument("--sla-max-probes", type=float, default=SLA_MAX_PROBES_PER_S, metavar="PER_SECOND",
                     help="send at most this many delay probes a second; with more pairs than that, "
                     "each round probes the next share of them (default: %(default)g)")
    ctl.add_argument("--stats-interval", type=float, default=STATS_INTERVAL_S, metavar="SECONDS",
                     help="read every slice's counters this often for its current throughput "
                     "(slicectl get); 0: never (default: %(default)g)")
    ctl.add_argument("--dhcp-lease", type=int, default=DHCP_LEASE_S, metavar="SECONDS",
                     help="lease the controller's DHCP gives hosts at endpoints without a given "
                     "address (default: %(default)s)")
    ctl.add_argument("--no-reroute", action="store_true", help="only flag a slice whose bound is "
                     "violated; do not move it to a faster tree")


def _add_security_options(sec: argparse._ArgumentGroup) -> None:
    """Who may call the API and connect as a switch, and how much one client may hold open."""
    sec.add_argument("--tls-cert", metavar="FILE", help="serve the API over TLS with this certificate (PEM)")
    sec.add_argument("--tls-key", metavar="FILE", help="the certificate's private key (PEM)")
    sec.add_argument("--client-ca", metavar="FILE", help="mutual TLS: clients need a certificate from this "
                     "CA; its SAN URI tenant:NAME (else its CN) is the caller's tenant")
    sec.add_argument("--admin", action="append", default=[], metavar="NAME",
                     help="a client certificate name that is an operator (sees and does everything); "
                     "repeatable")
    sec.add_argument("--tokens", metavar="FILE", help="bearer tokens (YAML: tokens: [{name, tenant | role: "
                     "admin, sha256}]; `slicectl token new` makes one)")
    sec.add_argument("--max-watches", type=int, default=MAX_WATCHES, metavar="N",
                     help="open WatchSlices streams allowed in all (default: %(default)s)")
    sec.add_argument("--max-watches-per-client", type=int, default=MAX_WATCHES_PER_CLIENT, metavar="N",
                     help="open WatchSlices streams allowed per client (default: %(default)s)")
    sec.add_argument("--openflow-cert", metavar="FILE", help="OpenFlow over TLS: the controller's "
                     "certificate (PEM); with --openflow-key and --openflow-ca")
    sec.add_argument("--openflow-key", metavar="FILE", help="OpenFlow over TLS: its private key")
    sec.add_argument("--openflow-ca", metavar="FILE", help="OpenFlow over TLS: switches need a certificate "
                     "this CA signed")
    sec.add_argument("--max-slices-per-tenant", type=int, default=MAX_SLICES_PER_TENANT, metavar="N",
                     help="a tenant may hold at most N slices; 0: no quota (default: %(default)s)")
    sec.add_argument("--tenant-policy", metavar="FILE", help="what each tenant may use: highest priority, "
                     "Mbit/s per slice and in total, slices, sites or regions (YAML; README: Tenant policy); "
                     "SetTenantPolicy writes it. Default: tenants use priority 3 at most")
    sec.add_argument("--switch-address-grace", type=float, default=SWITCH_ADDRESS_GRACE_S, metavar="SECONDS",
                     help="plaintext OpenFlow: a dpid is bound to the address it first came from, and stays "
                     "bound this long after its switch goes (SIGHUP releases it sooner; default: %(default)g)")
    sec.add_argument("--insecure", action="store_true", help="allow a plaintext API (and metrics) on an address "
                     "other machines can reach")


def _check(args: argparse.Namespace) -> None:
    """ValueError for option values the controller cannot run with, before anything starts."""
    if args.audit_interval < 0:
        raise ValueError(f"--audit-interval must be >= 0 seconds, got {args.audit_interval:g}")
    if not args.probe_interval_ms > 0 or args.probe_misses < 1:
        raise ValueError(f"--probe-interval-ms must be > 0 and --probe-misses >= 1, got "
                         f"{args.probe_interval_ms:g} and {args.probe_misses}")
    if args.sla_interval < 0 or args.sla_hold < 0 or args.sla_window < 1 or args.sla_tolerance_ms < 0:
        raise ValueError("--sla-interval, --sla-hold and --sla-tolerance-ms must be >= 0, --sla-window >= 1")
    if not args.sla_max_probes > 0:
        raise ValueError(f"--sla-max-probes must be > 0 probes a second, got {args.sla_max_probes:g}")
    if args.max_slices_per_tenant < 0:
        raise ValueError("--max-slices-per-tenant must be >= 0 (0: no quota)")
    if args.max_watches < 1 or args.max_watches_per_client < 1:
        raise ValueError("--max-watches and --max-watches-per-client must be >= 1")
    if args.stats_interval < 0:
        raise ValueError(f"--stats-interval must be >= 0 seconds, got {args.stats_interval:g}")
    if args.switch_address_grace < 0:
        raise ValueError(f"--switch-address-grace must be >= 0 seconds, got {args.switch_address_grace:g}")
    if args.dhcp_lease < 60:
        raise ValueError(f"--dhcp-lease must be at least 60 seconds, got {args.dhcp_lease}")


def cmd_controller(args: argparse.Namespace) -> int:
    """Check the options, then run the controller until it is stopped."""
    from controller.main import run
    try:
        _check(args)
        federation = _federation(args)
    except ValueError as e:
        return fail(e)
    probes = None if args.no_probes else {"interval_s": args.probe_interval_ms / 1000,
                                          "misses": args.probe_misses}
    sla = None if not args.sla_interval else {
        "interval_s": args.sla_interval, "hold_s": args.sla_hold, "window": args.sla_window,
        "tolerance_ms": args.sla_tolerance_ms, "max_probes_per_s": args.sla_max_probes,
        "reroute": not args.no_reroute}
    security = {"tls_cert": args.tls_cert, "tls_key": args.tls_key, "client_ca": args.client_ca,
                "tokens": args.tokens, "admins": tuple(args.admin), "insecure": args.insecure}
    openflow_tls = ({"cert": args.openflow_cert, "key": args.openflow_key, "ca": args.openflow_ca}
                    if args.openflow_cert or args.openflow_key or args.openflow_ca else None)
    try:
        return run(args.topology, args.store, args.grpc, args.openflow, args.log_level, args.audit_interval,
                   probes, None if args.metrics == "off" else args.metrics, sla, args.dhcp_lease,
                   args.stats_interval, security, (args.max_watches, args.max_watches_per_client),
                   args.max_slices_per_tenant, openflow_tls, args.cluster, args.name, args.tenant_policy,
                   switch_address_grace_s=args.switch_address_grace,
                   cluster_tls={"ca": args.cluster_ca, "cert": args.cluster_cert, "key": args.cluster_key},
                   federation=federation)
    except ValueError as e:
        return fail(e)
