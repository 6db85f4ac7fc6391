"""``slicectl wan``: the Mininet emulation of the WAN (up, check, fault, exec, clean).
Needs root, except ``clean`` finding nothing to remove."""
from __future__ import annotations

import argparse
import json
import os
import signal
from typing import TYPE_CHECKING, NamedTuple

from slicectl.commands.common import (EXIT_FAIL, EXIT_OK, EXIT_USAGE, Subparsers, fail, progress,
                                      sigterm_as_interrupt)

if TYPE_CHECKING:
    from topologies.emulation.plan import WanPlan
    from topologies.emulation.wan import Wan
    from topologies.fedmodel import Federation


class ControllerArg(NamedTuple):
    """One ``--controller``: HOST:PORT, or DOMAIN=HOST:PORT for a domain of a federation."""

    domain: str | None
    host: str
    port: int

    @property
    def address(self) -> tuple[str, int]:
        return self.host, self.port

    def __str__(self) -> str:
        return f"{self.domain + '=' if self.domain else ''}{self.host}:{self.port}"


def _controller_addr(text: str) -> ControllerArg:
    """argparse type for ``--controller``: [DOMAIN=]HOST:PORT with a port that can exist."""
    domain, eq, addr = text.partition("=")
    if not eq:
        domain, addr = "", text
    host, _, port = addr.rpartition(":")
    if (eq and not domain) or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT or DOMAIN=HOST:PORT, got {text!r}")
    return ControllerArg(domain or None, host, int(port))


def federation_controllers(fed: Federation, given: list[ControllerArg]) -> dict[str, list[tuple[str, int]]]:
    """Each domain's controllers from ``--controller DOMAIN=HOST:PORT`` options: one or more
    for every domain, or none at all (static forwarding); TopologyError naming what is wrong."""
    from topologies.emulation.fedplan import domain_controllers
    from topologies.errors import TopologyError

    by_domain: dict[str, list[tuple[str, int]]] = {}
    for c in given:
        if c.domain is None:
            raise TopologyError(f"{c}: {fed.name} is a federation: give each domain's controller as "
                                f"DOMAIN=HOST:PORT (domains: {', '.join(d.name for d in fed.domains)})",
                                field="--controller")
        by_domain.setdefault(c.domain, []).append(c.address)
    try:
        return domain_controllers(fed, by_domain)
    except TopologyError as e:
        raise TopologyError(e.problem, field="--controller") from None


def plain_controllers(topology: str, given: list[ControllerArg]) -> list[tuple[str, int]]:
    """The addresses of ``--controller HOST:PORT`` options for a plain topology."""
    from topologies.errors import TopologyError

    for c in given:
        if c.domain is not None:
            raise TopologyError(f"{c}: {topology} is a topology, not a federation: give HOST:PORT",
                                field="--controller")
    return [c.address for c in given]


def add_wan_options(p: argparse.ArgumentParser) -> None:
    """The options of every command that builds a WAN: which topology, and how it is emulated."""
    p.add_argument("topology", nargs="?", help="built-in name (two-clouds, japan-intercloud, "
                   "global-intercloud) or a .yaml / .graphml file; or a federation (a YAML file with "
                   "`domains:`, or japan-korea): every domain in one WAN")
    p.add_argument("--topology", dest="topology_option", metavar="TOPOLOGY",
                   help="the same, as an option (as `slicectl controller --topology` takes it)")
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


def register(sub: Subparsers) -> None:
    """``wan`` and its subcommands."""
    wan = sub.add_parser("wan", help="Mininet emulation of the WAN (needs root)").add_subparsers(
        dest="action", required=True)
    up = wan.add_parser("up", help="build the WAN and keep it up until Ctrl-C")
    add_wan_options(up)
    up.add_argument("--controller", type=_controller_addr, metavar="[DOMAIN=]HOST:PORT", action="append",
                    help="remote OpenFlow controller (switches fail-secure); give it once for each "
                    "instance of a cluster: every switch connects to all; without it the "
                    "switches forward on static least-delay routes. For a federation, DOMAIN=HOST:PORT "
                    "for every domain: each switch connects only to its own domain's")
    up.add_argument("--controller-tls", metavar="DIR", help="reach the controller over OpenFlow/TLS with "
                    "DIR/switches.key and DIR/switches.pem, trusting DIR/ca.pem (`slicectl certs DIR "
                    "--client switches` makes them)")
    up.add_argument("--inventory", metavar="FILE", help="write hosts and switches as JSON "
                    "once the network is up")
    up.add_argument("--probes", action="store_true", help="add one probe host per site")
    up.set_defaults(func=cmd_wan_up)
    check = wan.add_parser("check", help="build the WAN, measure delay and bandwidth of every "
                           "link, tear down")
    add_wan_options(check)
    check.add_argument("--json", action="store_true", help="print the report as JSON")
    check.set_defaults(func=cmd_wan_check)
    _register_fault(wan)
    ex = wan.add_parser("exec", help="run a command in one host of a running WAN (its network "
                        "namespace): `wan exec --inventory wan.json tokyo-dc:1 ping -c 3 10.0.2.1`")
    ex.add_argument("--inventory", required=True, metavar="FILE", help="the running WAN's inventory")
    ex.add_argument("host", help="SITE:PORT (the host on that port of the site's switch) or a host name (h1_1)")
    ex.add_argument("command", nargs=argparse.REMAINDER, help="the command and its arguments")
    ex.set_defaults(func=cmd_wan_exec)
    clean = wan.add_parser("clean", help="remove a WAN left behind by a killed run")
    clean.add_argument("topology", nargs="?", default=None,
                       help="the topology or federation that was running (default: all built-ins)")
    clean.add_argument("--prefix", default="", metavar="LETTERS",
                       help="the name prefix that WAN ran with (see `wan up --prefix`)")
    clean.set_defaults(func=cmd_wan_clean)


def _register_fault(wan: Subparsers) -> None:
    """``wan fault link`` and ``wan fault site``."""
    fault = wan.add_parser("fault", help="break (or restore) a link or a whole site of a running WAN "
                           "(`wan up --inventory FILE` wrote the file this needs)")
    fault.add_argument("--inventory", required=True, metavar="FILE", help="the running WAN's inventory")
    what = fault.add_subparsers(dest="target", required=True)
    fl = what.add_parser("link", help="cut: ports down; silent: ports up, frames dropped; "
                         "loss=P%%: P percent dropped; delay=MS: MS ms each way instead of the configured delay; restore")
    fl.add_argument("a", help="site at one end (in a federation also DOMAIN/SITE)")
    fl.add_argument("b", help="site at the other end")
    fl.add_argument("--mode", required=True, help="cut | silent | loss=P%% | delay=MS | restore")
    fs = what.add_parser("site", help="lost: every link silent and the switch cut off from the "
                         "controller, as a destroyed data centre; restore; swap=N1,N2: the cables "
                         "to neighbours N1 and N2 in each other's ports (again: put back)")
    fs.add_argument("site")
    fs.add_argument("--mode", required=True, help="lost | restore | swap=N1,N2")
    fault.set_defaults(func=cmd_wan_fault)


def wan_topology(args: argparse.Namespace) -> str:
    """The topology a WAN command names, given as its argument or as ``--topology``
    (people type both: the controller takes ``--topology``); TopologyError if neither, or
    two different ones."""
    from topologies.errors import TopologyError
    given = {t for t in (args.topology, getattr(args, "topology_option", None)) if t}
    if len(given) != 1:
        raise TopologyError("give one topology, e.g. `slicectl wan up japan-intercloud` (or --topology "
                            f"japan-intercloud){'; got ' + ' and '.join(sorted(given)) if given else ''}")
    return given.pop()


def make_wan(args: argparse.Namespace, probes: bool, controller: list[ControllerArg] | None = None) -> Wan:
    """The ``topologies.emulation.wan.Wan`` the options describe (not built yet: entering it
    builds it): a topology's, or every domain of a federation file in one WAN. Exits if
    ``--controller-tls`` lacks a file, before anything is built."""
    from topologies import load
    from topologies.emulation.wan import Wan
    from topologies.federation import federation_path, load_federation, merged_topology

    name = wan_topology(args)
    fed_file = federation_path(name)
    if fed_file is not None:
        fed = load_federation(fed_file)
        topo, controllers = merged_topology(fed), federation_controllers(fed, controller or [])
    else:
        topo = load(name)
        controllers = plain_controllers(topo.name, controller or [])
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
    return Wan(fed if fed_file is not None else topo, controller=controllers or None,
               hosts_per_site=args.hosts, probes=probes,
               delay_mechanism=args.delay_mechanism, datapath=args.datapath, progress=progress,
               prefix=args.prefix, bfd=args.bfd, controller_tls=tls)


def cmd_wan_up(args: argparse.Namespace) -> int:
    """Build the WAN, say how each link is emulated, and keep it up until SIGINT or SIGTERM."""
    sigterm_as_interrupt()
    wan = make_wan(args, args.probes, args.controller)
    with wan:
        for (a, b), mech in wan.link_mechanisms.items():
            link = wan.topo.link(a, b)
            border = " (border)" if (a, b) in getattr(wan.plan, "borders", {}) else ""
            progress(f"  {a} — {b}{border}: {link.bandwidth_mbps:g} Mbit/s, {link.delay_ms:.3f} ms by {mech}")
        if args.inventory:
            wan.write_inventory(args.inventory)
            progress(f"inventory written to {args.inventory}")
        progress("WAN is up; press Ctrl-C to tear it down")
        try:
            signal.pause()
        except KeyboardInterrupt:
            pass
    return EXIT_OK


def cmd_wan_check(args: argparse.Namespace) -> int:
    """Build the WAN, measure every link against its configuration, tear it down."""
    from slicectl.report import fidelity_table
    from topologies.emulation.fidelity import run_check

    sigterm_as_interrupt()
    report = run_check(lambda: make_wan(args, probes=True), progress)
    print(json.dumps(report, indent=2) if args.json else fidelity_table(report))
    return EXIT_OK if report["ok"] else EXIT_FAIL


def cmd_wan_fault(args: argparse.Namespace) -> int:
    """Break or restore a link or a site of the running WAN the inventory describes."""
    from topologies.emulation.faults import link_fault, site_fault
    from topologies.emulation.platform import EmulationError

    try:
        inventory = json.loads(open(args.inventory, encoding="utf-8").read())
    except (OSError, ValueError) as e:
        return fail(f"{args.inventory}: not a WAN inventory ({e})")
    try:
        if args.target == "link":
            said = link_fault(inventory, args.a, args.b, args.mode)
        else:
            said = site_fault(inventory, args.site, args.mode)
    except EmulationError as e:
        return fail(e, EXIT_USAGE if str(e).startswith(("unknown", "no link", "no site")) else EXIT_FAIL)
    progress(said)
    return EXIT_OK


def cmd_wan_exec(args: argparse.Namespace) -> int:
    """Replace this process with the command, run in the host's network namespace (or
    however the inventory says to reach the host)."""
    from slicectl.verify import VerifyError, load_inventory
    try:
        hosts = load_inventory(args.inventory).hosts
    except VerifyError as e:
        return fail(e)
    try:
        wanted = _host_arg(args.inventory, args.host)
    except ValueError as e:
        return fail(e)
    host = next((h for h in hosts if wanted in (h.name, f"{h.site}:{h.port}")), None)
    if host is None:
        return fail(f"no host {args.host!r} in {args.inventory}; hosts: "
                    f"{', '.join(f'{h.site}:{h.port}' for h in hosts[:12])}{' ...' if len(hosts) > 12 else ''}")
    if not args.command:
        return fail("give the command to run in the host")
    argv = [*host.prefix, *args.command]
    try:
        os.execvp(argv[0], argv)
    except OSError as e:
        return fail(f"{argv[0]}: {e.strerror}")


def _host_arg(inventory_path: str, text: str) -> str:
    """``wan exec``'s host without its domain: ``east/tokyo-dc:1`` is ``tokyo-dc:1`` once the
    inventory confirms tokyo-dc is in domain east (site names are unique in a federated WAN)."""
    if "/" not in text:
        return text
    from topologies.emulation.faults import site_name
    from topologies.emulation.platform import EmulationError

    site, colon, port = text.partition(":")
    try:
        inventory = json.loads(open(inventory_path, encoding="utf-8").read())
        return site_name(inventory, site) + colon + port
    except (OSError, ValueError, KeyError, EmulationError) as e:
        raise ValueError(f"no host {text!r} in {inventory_path} ({e})") from None


def clean_plan(name: str, prefix: str) -> WanPlan:
    """The plan (with probes: every name a run may have used) of the topology or federation
    ``name`` that ``wan clean`` sweeps."""
    from topologies import load
    from topologies.emulation.plan import make_plan
    from topologies.federation import federation_path, load_federation

    fed_file = federation_path(name)
    if fed_file is not None:
        from topologies.emulation.fedplan import make_federation_plan
        return make_federation_plan(load_federation(fed_file), probes=True, prefix=prefix)
    return make_plan(load(name), probes=True, prefix=prefix)


def cmd_wan_clean(args: argparse.Namespace) -> int:
    """Remove what a killed run left behind, but never a WAN that is still up: its own run
    tears it down. Names only the topologies it found something of and cleaned."""
    from topologies import builtin_names
    from topologies.emulation.wan import leftovers, running_owner, sweep
    from topologies.federation import builtin_federations

    names = [args.topology] if args.topology else builtin_names() + builtin_federations()
    cleaned, remaining = [], []
    for name in names:
        plan = clean_plan(name, args.prefix)
        owner = running_owner(plan)
        if owner:  # not a leftover: a WAN that is up; its own Ctrl-C tears it down
            progress(f"{name}: left alone, {owner} is running on its names")
            continue
        found = leftovers(plan)
        if not found:
            continue
        sweep(plan)
        left = leftovers(plan)
        remaining += left
        removed = len(found) - len(left)
        cleaned.append(f"{name} ({removed} item{'s' * (removed != 1)})")
    for item in remaining:
        progress(f"still present: {item}")
    if remaining:
        progress("cleanup incomplete")
    elif cleaned:
        progress(f"cleaned {', '.join(cleaned)}")
    else:
        progress("nothing to clean" + (f" of {names[0]}" if args.topology else ""))
    return EXIT_FAIL if remaining else EXIT_OK
