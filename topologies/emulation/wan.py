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
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from topologies.emulation import platform
from topologies.emulation.plan import WanPlan, make_plan
from topologies.model import Topology

Progress = Callable[[str], None]


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
    """A running emulation of one topology. Use as a context manager."""

    def __init__(self, topo: Topology, *, controller: tuple[str, int] | None = None,
                 hosts_per_site: int | None = None, probes: bool = False,
                 delay_mechanism: str = "auto", datapath: str = "auto",
                 progress: Progress = _quiet):
        self.topo = topo
        self.plan: WanPlan = make_plan(topo, hosts_per_site=hosts_per_site, probes=probes)
        self.controller = controller
        self.requested_mechanism = delay_mechanism
        self.requested_datapath = datapath
        self.progress = progress
        self.net = None
        self.delay_mechanism = ""
        self.datapath = ""
        self.link_mechanisms: dict[tuple[str, str], str] = {}
        self._stopped = False

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
        sweep(self.plan)  # leftovers of an interrupted run would make this one fail
        p = self.plan
        self.progress(f"building {self.topo.name}: {len(p.switches)} switches, "
                      f"{len(p.hosts)} hosts, {len(p.links)} links; delay by "
                      f"{describe_mechanism(self.delay_mechanism)}, OVS {self.datapath}space datapath")
        self.link_mechanisms = {(l.a, l.b): self.delay_mechanism if l.delay_ms > 0 else "none"
                                for l in p.links}
        topo = WanTopo(self.plan, delay_mechanism=self.delay_mechanism, datapath=self.datapath)
        self.net = net = Mininet(topo=topo, build=False, controller=None, switch=WanSwitch,
                                 autoSetMacs=False, waitConnected=False)
        if self.controller:
            ip, port = self.controller
            net.addController("c0", controller=RemoteController, ip=ip, port=port)
        net.build()
        self.progress(f"starting {len(p.switches)} switches")
        net.start()
        self.progress(f"{self.topo.name} is up")

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
                    and f"{l.switch_a}-eth{l.port_a}" in (link.intf1.name, link.intf2.name):
                return link
        raise KeyError(f"no link {a}—{b}")

    def hosts_at(self, site: str) -> list:
        return [self.net[h.name] for h in self.plan.hosts if h.site == site and not h.probe]

    def wait_connected(self, timeout: float = 30.0) -> bool:
        """Wait until every switch reports a connection to its controller."""
        deadline = time.monotonic() + timeout
        names = [s.name for s in self.plan.switches]
        while time.monotonic() < deadline:
            out = subprocess.run(["ovs-vsctl", "--columns=is_connected", "list", "controller"],
                                 capture_output=True, text=True).stdout
            if out.count("true") >= len(names):
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
        return {
            "topology": self.topo.name,
            "delay_mechanism": self.delay_mechanism,
            "datapath": self.datapath,
            "controller": f"{self.controller[0]}:{self.controller[1]}" if self.controller else None,
            "hosts": hosts,
            "switches": [{"name": s.name, "site": s.site, "dpid": s.dpid_hex} for s in self.plan.switches],
            "links": [{"a": l.a, "b": l.b, "switch_a": l.switch_a, "port_a": l.port_a,
                       "switch_b": l.switch_b, "port_b": l.port_b,
                       "bandwidth_mbps": l.bandwidth_mbps, "delay_ms": l.delay_ms,
                       "mechanism": self.link_mechanisms.get((l.a, l.b), "")}
                      for l in self.plan.links],
        }

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


def interface_names() -> list[str]:
    """Names of the interfaces in this network namespace."""
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return [line.split(": ")[1].split("@")[0] for line in out.splitlines() if ": " in line]


def _our_interfaces(plan: WanPlan) -> list[str]:
    from topologies.emulation.links import relay_name

    names = [f"{h.switch}-eth{h.port}" for h in plan.hosts]
    for l in plan.links:
        for sw, port in ((l.switch_a, l.port_a), (l.switch_b, l.port_b)):
            names += [f"{sw}-eth{port}", relay_name(f"{sw}-eth{port}")]
    return names


def _pgrep(pattern: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def leftovers(plan: WanPlan) -> list[str]:
    """What of this plan's WAN still exists: bridges, interfaces, processes, QoS rows."""
    from topologies.emulation.links import RELAY_SCRIPT, QOS_OWNER

    found = []
    bridges = set(subprocess.run(["ovs-vsctl", "--timeout=10", "list-br"], capture_output=True,
                                 text=True).stdout.split())
    found += [f"bridge {b}" for b in sorted(bridges & set([s.name for s in plan.switches]))]
    present = set(interface_names())
    found += [f"interface {n}" for n in _our_interfaces(plan) if n in present]
    found += [f"relay process: {p}" for p in _pgrep(RELAY_SCRIPT)]
    for h in plan.hosts:
        found += [f"host shell: {p}" for p in _pgrep(f"mininet:{h.name}$")]
    qos = subprocess.run(["ovs-vsctl", "--timeout=10", "--bare", "--columns=_uuid", "find", "qos",
                          QOS_OWNER], capture_output=True, text=True).stdout.split()
    found += [f"QoS row {q}" for q in qos]
    return found


def sweep(plan: WanPlan) -> None:
    """Remove any bridge, interface, QoS row or process this plan would create."""
    from topologies.emulation.links import RELAY_SCRIPT, destroy_owned_qos

    args = []
    for name in [s.name for s in plan.switches]:
        args += ["--", "--if-exists", "del-br", name]
    if args:
        subprocess.run(["ovs-vsctl", "--timeout=10", *args], capture_output=True)
    present = set(interface_names())
    for name in _our_interfaces(plan):
        if name in present:
            subprocess.run(["ip", "link", "del", name], capture_output=True)
    destroy_owned_qos()
    subprocess.run(["pkill", "-f", RELAY_SCRIPT], capture_output=True)
    # Mininet host shells are `mnexec ... bash --norc ... -is mininet:<name>`
    for h in plan.hosts:
        subprocess.run(["pkill", "-f", f"mininet:{h.name}$"], capture_output=True)
