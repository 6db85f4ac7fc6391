"""Bring a Topology up as a Mininet WAN and take it down again, whatever happens.

    with Wan(load("two-clouds")) as wan:
        wan.host("h1_1").cmd("ping -c1 10.0.4.1")

One OVS switch per site (userspace datapath where the kernel has no openvswitch module),
hosts on cloud and edge sites, every inter-site link a :class:`WanLink` with its bandwidth
and delay. With a controller the switches are fail-secure and wait for it; without one
they get static least-delay forwarding (:func:`plan.static_flows`) so the WAN can be
checked alone. Teardown runs on success, error, Ctrl-C and SIGTERM, and a final sweep
removes anything of ours that Mininet missed.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Mapping, Union

from topologies.emulation import platform
from topologies.emulation.cleanup import (OWNER_KEY, RUNNING, WAN_KEY, control_dir_prefix, leftovers, running_owner,
                                          sweep)
from topologies.emulation.plan import WanPlan, make_plan
from topologies.model import Topology

if TYPE_CHECKING:
    from topologies.fedmodel import Federation

__all__ = ["Wan", "choose_delay_mechanism", "describe_mechanism", "leftovers", "running_owner", "sweep",
           "BFD_INTERVAL_MS", "CONTROLLER_MAX_BACKOFF_MS", "RTT_TOLERANCE_MS", "SLA_TOLERANCE_OPTIONS", "Progress"]
Progress = Callable[[str], None]
Address = tuple[str, int]
Controllers = Union[Address, list[Address], None]
# BFD on inter-site links: a port stops being live after 3 missed 50 ms intervals (~150 ms;
# measured 136 ms here). Cost: ~20 control packets of ~66 bytes a second each way, about
# 11 kbit/s, 0.05 % of a 20 Mbit/s link.
BFD_INTERVAL_MS = 50
# How long a switch waits at most between two attempts to reach a controller it lost.
# Open vSwitch backs off to 8 s by default, so controllers restarted together got their
# switches back (and took writes again) 10 s later (slicectl bench chaos, 2026-12-06);
# at 1 s a reconnection costs one TCP handshake a second while the controller is away.
CONTROLLER_MAX_BACKOFF_MS = 1000
# What this emulation adds to a round trip besides the links' delays, for checks that
# compare round trips with a slice's latency bound (`slicectl verify` reads it from the
# inventory). On the userspace datapath one thread polls every port of every bridge in
# turn (up to ~1 ms a switch pass on japan-intercloud), more while BFD, the controller's
# probes and the relays share two cores: 5-21 ms measured over 3-5 switches each way
# (2026-11-23). The kernel datapath adds microseconds.
RTT_TOLERANCE_MS = {"user": 25.0, "kernel": 5.0}
# The same allowance one way, for a controller's live SLA verdicts on this emulation
# (`slicectl controller --sla-tolerance-ms`): the userspace figure, the datapath these
# machines have.
SLA_TOLERANCE_OPTIONS = ("--sla-tolerance-ms", f"{RTT_TOLERANCE_MS['user'] / 2:g}")


def _quiet(_msg: str) -> None:
    pass


def choose_delay_mechanism(requested: str = "auto") -> str:
    if requested == "auto":
        return "netem" if platform.netem_available() else "relay"
    if requested == "netem" and not platform.netem_available():
        raise platform.EmulationError("this kernel has no sch_netem; use --delay-mechanism relay or auto")
    if requested not in ("netem", "relay"):
        raise platform.EmulationError(f"unknown delay mechanism {requested!r} (auto, netem, relay)")
    return requested


class Wan:
    """A running emulation of one topology, or of a federation file (every domain in one
    Mininet, see :meth:`for_federation`). Use as a context manager."""

    def __init__(self, topo: "Topology | Federation", *,
                 controller: Controllers | Mapping[str, Controllers] = None,
                 hosts_per_site: int | None = None, probes: bool = False,
                 delay_mechanism: str = "auto", datapath: str = "auto",
                 progress: Progress = _quiet, prefix: str | None = None, bfd: bool | None = None,
                 controller_tls: tuple[str, str, str] | None = None):
        """``controller``: (host, port) of the controller every switch connects to, or a
        list of them (a cluster: every switch connects to each, and they settle which one
        is MASTER). ``prefix``: letters in front of every node name (see :mod:`plan`). None picks
        one when starting: none, unless another running WAN already uses those names.
        ``bfd``: Open vSwitch runs BFD on both ends of every inter-site link (see
        :data:`BFD_INTERVAL_MS`), so a link that goes silent stops being live; None: when
        the switches have a controller (the WAN alone has no use for it, and on two cores
        it costs the userspace datapath a few percent of TCP goodput). ``controller_tls``:
        (key, certificate, CA certificate) files: the switches reach the controller over
        OpenFlow/TLS with that key and certificate, and trust controllers the CA signed
        (Open vSwitch's SSL settings are one per instance: every bridge shares them).

        ``topo`` may be a :class:`Federation`: then ``controller`` maps each domain to its
        controller(s), and each switch connects only to its own domain's (see
        :meth:`for_federation`)."""
        from topologies.fedmodel import Federation

        self._plan_options = {"hosts_per_site": hosts_per_site, "probes": probes}
        self.federation: Federation | None = topo if isinstance(topo, Federation) else None
        # per domain, its controllers; None for a plain topology (every switch connects to all)
        self.domain_controllers: dict[str, list[Address]] | None = None
        if self.federation is not None:
            from topologies.emulation.fedplan import domain_controllers
            from topologies.federation import merged_topology

            self.domain_controllers = domain_controllers(self.federation, controller)
            self.topo = merged_topology(self.federation)
            self.controllers = [c for cs in self.domain_controllers.values() for c in cs]
        else:
            if isinstance(controller, Mapping):
                raise ValueError(f"{topo.name} is a topology, not a federation: give its controller "
                                 "without a domain")
            self.topo = topo
            self.controllers = [controller] if isinstance(controller, tuple) else list(controller or [])
        self.bfd = bool(self.controllers) if bfd is None else bfd
        self.requested_prefix = prefix
        self.plan: WanPlan = self._make_plan(prefix or "")
        self.run_id = f"{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self.controller = self.controllers[0] if self.controllers else None
        self.controller_tls = controller_tls
        self.requested_mechanism = delay_mechanism
        self.requested_datapath = datapath
        self.progress = progress
        self.net = None
        self.delay_mechanism = ""
        self.datapath = ""
        self.link_mechanisms: dict[tuple[str, str], str] = {}
        self.control_dir: str | None = None   # the relays' fault control files
        self._stopped = False

    @classmethod
    def for_federation(cls, fed: "Federation", *, controllers: Mapping[str, Controllers] | None = None,
                       **options) -> "Wan":
        """Every domain of ``fed`` in one WAN (:func:`fedplan.make_federation_plan`: ports as
        each domain's controller numbers them). ``controllers``: each domain's (host, port),
        or a list of them (the domain's cluster); every domain needs one (TopologyError
        naming those missing), or none at all for static forwarding across the whole
        federation. ``options``: as for :class:`Wan`."""
        return cls(fed, controller=controllers or None, **options)

    def _controllers_by_switch(self) -> dict[str, tuple[str, ...]] | None:
        if self.domain_controllers is None:
            return None     # a plain topology: every switch connects to every controller
        from topologies.emulation.fedplan import controllers_by_switch
        return controllers_by_switch(self.plan, self.domain_controllers)

    def _make_plan(self, prefix: str) -> WanPlan:
        if self.federation is not None:
            from topologies.emulation.fedplan import make_federation_plan

            return make_federation_plan(self.federation, prefix=prefix, **self._plan_options)
        return make_plan(self.topo, prefix=prefix, **self._plan_options)

    def datapath_is_user(self) -> bool:
        return self.requested_datapath == "user" or (
            self.requested_datapath == "auto" and not platform.ovs_kernel_datapath())

    # -- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> "Wan":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        platform.require_root()
        platform.require_tools()
        started = platform.ensure_ovs_running()
        if started:
            self.progress(started)
        warning = platform.ovs_start_warning() if self.datapath_is_user() else ""
        if warning:
            self.progress(f"warning: {warning}")
        from mininet.log import setLogLevel
        from mininet.net import Mininet
        from mininet.node import RemoteController

        from topologies.emulation.links import WanSwitch
        from topologies.emulation.topo import WanTopo

        setLogLevel("error")
        self.delay_mechanism = choose_delay_mechanism(self.requested_mechanism)
        if self.requested_datapath == "auto":
            self.datapath = "kernel" if platform.ovs_kernel_datapath() else "user"
        else:
            self.datapath = self.requested_datapath
        self.plan = self._claim_names()
        sweep(self.plan)  # leftovers of an interrupted run would make this one fail
        RUNNING.add(self.run_id)
        p = self.plan
        self.progress(f"building {self.topo.name}: {len(p.switches)} switches, "
                      f"{len(p.hosts)} hosts, {len(p.links)} links; delay by "
                      f"{describe_mechanism(self.delay_mechanism)}, OVS {self.datapath}space datapath")
        self.link_mechanisms = {(l.a, l.b): self.delay_mechanism if l.delay_ms > 0 else "none"
                                for l in p.links}
        self.control_dir = tempfile.mkdtemp(prefix=control_dir_prefix(p))
        topo = WanTopo(self.plan, delay_mechanism=self.delay_mechanism, datapath=self.datapath,
                       control_dir=self.control_dir, controllers_of=self._controllers_by_switch())
        self.net = net = Mininet(topo=topo, build=False, controller=None, switch=WanSwitch,
                                 autoSetMacs=False, waitConnected=False)
        if self.controller_tls and self.controllers:
            key, cert, ca = self.controller_tls
            subprocess.run(["ovs-vsctl", "set-ssl", key, cert, ca], check=True, capture_output=True)
        for i, (ip, port) in enumerate(self.controllers):
            net.addController(f"c{i}", controller=RemoteController, ip=ip, port=port,
                              protocol="ssl" if self.controller_tls else "tcp")
        net.build()
        self.progress(f"starting {len(p.switches)} switches")
        net.start()
        mark = [f"external_ids:{OWNER_KEY}={self.run_id}", f"external_ids:{WAN_KEY}={self.topo.name}"]
        args = []
        for sw in p.switches:
            args += ["--", "set", "Bridge", sw.name, *mark]
        if self.bfd:
            bfd = ["bfd:enable=true", f"bfd:min_tx={BFD_INTERVAL_MS}", f"bfd:min_rx={BFD_INTERVAL_MS}",
                   "bfd:decay_min_rx=0"]
            for l in p.links:
                for intf in l.ends:
                    args += ["--", "set", "Interface", intf, *bfd]
        subprocess.run(["ovs-vsctl", "--timeout=10", *args], capture_output=True, check=True)
        self._fast_reconnect()
        if self.bfd:
            self._wait_bfd_up()
        self.progress(f"{self.topo.name} is up" + (f" (node names prefixed {p.prefix!r})" if p.prefix else ""))

    def _fast_reconnect(self) -> None:
        """Every switch retries a lost controller at least every CONTROLLER_MAX_BACKOFF_MS."""
        uuids = subprocess.run(["ovs-vsctl", "--timeout=10", "--bare", "--columns=controller", "list", "Bridge",
                                *(sw.name for sw in self.plan.switches)],
                               capture_output=True, text=True, check=True).stdout.split()
        args = []
        for u in uuids:
            args += ["--", "set", "Controller", u, f"max_backoff={CONTROLLER_MAX_BACKOFF_MS}"]
        if args:
            subprocess.run(["ovs-vsctl", "--timeout=10", *args], capture_output=True, check=True)

    def _wait_bfd_up(self, timeout: float = 20.0) -> None:
        """Until BFD forwards on both ends of every link: "up" means the links work (a
        controller would otherwise see them not live yet and keep them out of use)."""
        intfs = [end for l in self.plan.links for end in l.ends]
        deadline = time.monotonic() + timeout
        while True:
            out = subprocess.run(["ovs-vsctl", "--timeout=10", "--format=csv", "--no-headings",
                                  "--columns=name,bfd_status", "list", "Interface", *intfs],
                                 capture_output=True, text=True).stdout
            waiting = [line.split(",")[0] for line in out.splitlines() if 'forwarding=""true""' not in line
                       and "forwarding=true" not in line]
            if not waiting:
                return
            if time.monotonic() > deadline:
                raise platform.EmulationError(f"BFD did not come up on {', '.join(waiting[:4])} within "
                                              f"{timeout:g} s (try --no-bfd)")
            time.sleep(0.1)

    def _claim_names(self) -> WanPlan:
        """The plan whose node names no running WAN uses: the requested prefix (or an
        error naming the WAN that holds it), or - when none was requested - no prefix,
        else the first free one of b..z. What a dead run left behind is not "running":
        the sweep removes it."""
        if self.requested_prefix is not None:
            holder = running_owner(self.plan)
            if holder:
                raise platform.EmulationError(
                    f"switch {self.plan.switches[0].name} belongs to a running WAN ({holder}); stop it, "
                    "or give this one another prefix (--prefix)")
            return self.plan
        plain_holder = ""
        for prefix in ("", *"bcdefghijklmnopqrstuvwxyz"):
            plan = self._make_plan(prefix)
            holder = running_owner(plan)
            if not holder:
                if prefix:
                    self.progress(f"node names {self.plan.switches[0].name}... are used by a running WAN "
                                  f"({plain_holder}): this one prefixes its names with {prefix!r}")
                return plan
            plain_holder = plain_holder or holder
        raise platform.EmulationError("26 WANs are running on this machine: stop one first")

    def stop(self) -> None:
        """Tear down everything; safe to call twice and after a failed start."""
        if self._stopped:
            return
        self._stopped = True
        with _signals_deferred():
            net, self.net = self.net, None
            if net is not None:
                self.progress(f"tearing down {self.topo.name}")
                try:
                    net.stop()
                except Exception as e:  # keep going: the sweep below finishes the job
                    self.progress(f"mininet stop failed ({e}); sweeping")
            sweep(self.plan)
            RUNNING.discard(self.run_id)
            if self.controller_tls and self.net is None:
                # Open vSwitch's SSL settings: removed only while they are still ours
                current = subprocess.run(["ovs-vsctl", "get-ssl"], capture_output=True, text=True).stdout
                if self.controller_tls[0] in current:
                    subprocess.run(["ovs-vsctl", "del-ssl"], capture_output=True)
            if self.control_dir:
                shutil.rmtree(self.control_dir, ignore_errors=True)

    # -- access ------------------------------------------------------------------------

    def host(self, name: str):
        return self.net[name]

    def link(self, a: str, b: str):
        """The :class:`WanLink` between sites ``a`` and ``b`` (as ordered in the plan)."""
        from topologies.emulation.links import WanLink

        l = next(l for l in self.plan.links if (l.a, l.b) == (a, b))
        sw_a, sw_b = self.net[l.switch_a], self.net[l.switch_b]
        for link in self.net.links:
            if isinstance(link, WanLink) and {link.intf1.node, link.intf2.node} == {sw_a, sw_b} \
                    and l.ends[0] in (link.intf1.name, link.intf2.name):
                return link
        raise KeyError(f"no link {a}—{b}")

    def hosts_at(self, site: str) -> list:
        return [self.net[h.name] for h in self.plan.hosts if h.site == site and not h.probe]

    def wait_connected(self, timeout: float = 30.0) -> bool:
        """Wait until every switch of this WAN reports a connection to its controller."""
        deadline = time.monotonic() + timeout
        names = [s.name for s in self.plan.switches]
        while time.monotonic() < deadline:
            connected = [subprocess.run(["ovs-vsctl", "--timeout=5", "--bare", "--columns=is_connected",
                                         "find", "Controller", f"_uuid={ctl_id}"],
                                        capture_output=True, text=True).stdout.strip() == "true"
                         for name in names for ctl_id in _controllers_of(name)]
            if len(connected) >= len(names) and all(connected):
                return True
            time.sleep(0.2)
        return False

    def inventory(self) -> dict:
        hosts = []
        for h in self.plan.hosts:
            node = self.net[h.name] if self.net else None
            hosts.append({"name": h.name, "site": h.site, "ip": h.address, "mac": h.mac,
                          "switch": h.switch, "port": h.port,
                          "pid": node.pid if node else None, "probe": h.probe})
        out = {
            "topology": self.topo.name,
            "prefix": self.plan.prefix,
            "bfd_interval_ms": BFD_INTERVAL_MS if self.bfd else None,
            "delay_mechanism": self.delay_mechanism,
            "datapath": self.datapath,
            "rtt_tolerance_ms": RTT_TOLERANCE_MS.get(self.datapath, RTT_TOLERANCE_MS["user"]),
            "controller": f"{self.controller[0]}:{self.controller[1]}" if self.controller else None,
            "controllers": [f"{ip}:{port}" for ip, port in self.controllers],
            "hosts": hosts,
            "switches": [{"name": s.name, "site": s.site, "dpid": f"0x{s.dpid_hex}"} for s in self.plan.switches],
            "links": [self._link_inventory(l) for l in self.plan.links],
        }
        if self.federation is not None:
            from topologies.emulation.fedplan import federation_inventory
            federation_inventory(self.plan, self.domain_controllers, out)
        return out

    def _link_inventory(self, l) -> dict:
        out = {"a": l.a, "b": l.b, "switch_a": l.switch_a, "port_a": l.port_a,
               "switch_b": l.switch_b, "port_b": l.port_b,
               "interfaces": list(l.ends),
               "bandwidth_mbps": l.bandwidth_mbps, "delay_ms": l.delay_ms,
               "mechanism": self.link_mechanisms.get((l.a, l.b), "")}
        if self.net is not None and out["mechanism"] == "relay":
            link = self.link(l.a, l.b)
            out["relay_control"] = link.relay_control
            out["relay_pid"] = link.relay_proc.pid if link.relay_proc else None
        return out

    # -- faults (see topologies.emulation.faults) ---------------------------------------

    def fault_link(self, a: str, b: str, mode: str) -> str:
        """Break or restore the a—b link: cut, silent, loss=P%, delay=MS, restore."""
        from topologies.emulation.faults import link_fault
        return link_fault(self.inventory(), a, b, mode)

    def fault_site(self, site: str, mode: str) -> str:
        """Lose a whole site (every link silent, switch cut off from the controller) or restore it."""
        from topologies.emulation.faults import site_fault
        return site_fault(self.inventory(), site, mode)

    def write_inventory(self, path: str | Path) -> None:
        tmp = Path(f"{path}.tmp")
        tmp.write_text(json.dumps(self.inventory(), indent=2) + "\n")
        tmp.replace(path)


def describe_mechanism(mech: str) -> str:
    return {"netem": "netem (kernel)",
            "relay": "userspace relay (this kernel has no sch_netem)"}.get(mech, mech)


@contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGINT/SIGTERM while tearing down so a second Ctrl-C cannot strand half a WAN."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    old = {s: signal.signal(s, lambda n, _f: pending.append(n)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        if pending:
            raise KeyboardInterrupt


def _controllers_of(bridge: str) -> list[str]:
    out = subprocess.run(["ovs-vsctl", "--timeout=5", "get", "Bridge", bridge, "controller"],
                         capture_output=True, text=True).stdout
    return [u for u in out.strip("[] \n").replace(",", " ").split() if u]
