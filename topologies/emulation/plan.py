"""The emulation plan: pure data derived from a Topology, before anything touches the kernel.

It fixes every name, port, address and forwarding rule so that the WAN is the same on
every run, the inventory is predictable, and slice specs can name ``site`` + ``port``:

* switch ``s<i>`` for the i-th site (Linux interface names are <= 15 characters, so site
  names stay labels); its dpid comes from the topology. A *prefix* (one or two letters)
  goes in front of every switch and host name, so that two WANs can run side by side
  on one machine (``bs1``, ``bh1_1``, ...); it is empty unless asked for.
* hosts ``h<i>_<j>`` on ports ``1..hosts`` of their site's switch; inter-site links take
  the following ports in topology order. The fidelity check adds, after those, a probe
  host ``p<i>`` per site.
* host j of site i has IP ``10.<i // 256>.<i % 256>.<j>/8`` and MAC
  ``02:00:00:<i hi>:<i lo>:<j>``; probes use j = 250.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import networkx as nx
from netaddr import EUI, IPAddress, IPNetwork, mac_unix_expanded

from topologies.model import Topology
from topologies.ports import PortMap

HOST_NET = IPNetwork("10.0.0.0/8")
PROBE_INDEX = 250
MAX_SITES = 255 * 256
MAX_INTERFACE_NAME = 15   # Linux IFNAMSIZ - 1
PREFIX_RE = re.compile(r"^[a-z]{0,2}$")


@dataclass(frozen=True)
class HostPlan:
    name: str
    site: str
    switch: str
    port: int
    ip: str            # with prefix length, e.g. 10.0.1.1/8
    mac: str
    role: str = "host"  # "host", or "probe" (added by the fidelity check to measure links)

    @property
    def probe(self) -> bool:
        return self.role != "host"

    @property
    def address(self) -> str:
        return self.ip.split("/")[0]


@dataclass(frozen=True)
class SwitchPlan:
    name: str
    site: str
    dpid: int

    @property
    def dpid_hex(self) -> str:
        return f"{self.dpid:016x}"


@dataclass(frozen=True)
class LinkPlan:
    a: str            # site names
    b: str
    switch_a: str
    switch_b: str
    port_a: int
    port_b: int
    bandwidth_mbps: float
    delay_ms: float

    @property
    def ends(self) -> tuple[str, str]:
        """The link's two switch interfaces (``s1-eth3``, ``s8-eth5``)."""
        return f"{self.switch_a}-eth{self.port_a}", f"{self.switch_b}-eth{self.port_b}"


@dataclass(frozen=True)
class WanPlan:
    topology: Topology
    switches: tuple[SwitchPlan, ...]
    hosts: tuple[HostPlan, ...]
    links: tuple[LinkPlan, ...]
    prefix: str = ""

    def interfaces(self) -> list[str]:
        """Every interface this plan creates in the machine's own namespace."""
        names = [f"{h.switch}-eth{h.port}" for h in self.hosts]
        for l in self.links:
            names += [n for end in l.ends for n in (end, relay_name(end))]
        return names

    def switch_of(self, site: str) -> SwitchPlan:
        return next(s for s in self.switches if s.site == site)

    def probe_of(self, site: str) -> HostPlan:
        return next(h for h in self.hosts if h.role == "probe" and h.site == site)


def host_address(site_index: int, j: int) -> tuple[str, str]:
    """IP/prefix and MAC of host ``j`` at the ``site_index``-th site (1-based)."""
    ip = IPAddress(int(HOST_NET.network) + (site_index << 8) + j)
    mac = EUI((0x02 << 40) | (site_index << 8) | j, dialect=mac_unix_expanded)
    return f"{ip}/{HOST_NET.prefixlen}", str(mac)


def relay_name(intf_name: str) -> str:
    """The relay's end of a link whose switch end is ``intf_name`` (no netem: see links.py)."""
    return f"r-{intf_name}"


def make_plan(topo: Topology, *, hosts_per_site: int | None = None, probes: bool = False,
              prefix: str = "") -> WanPlan:
    """Lay the topology out as switches, hosts and links.

    ``hosts_per_site`` overrides each site's own host count for sites that have hosts
    (cloud and edge by default); ``probes`` adds one measurement host per site;
    ``prefix`` (0-2 lowercase letters) goes in front of every node name.
    """
    if len(topo.sites) > MAX_SITES:
        raise ValueError(f"at most {MAX_SITES} sites can be emulated, got {len(topo.sites)}")
    if not PREFIX_RE.match(prefix):
        raise ValueError(f"a WAN name prefix is 0-2 lowercase letters, got {prefix!r}")
    if hosts_per_site is not None:
        from dataclasses import replace
        topo = replace(topo, sites=tuple(replace(s, hosts=hosts_per_site if s.hosts else 0)
                                         for s in topo.sites))
    ports = PortMap(topo)
    switches, hosts = [], []
    for i, site in enumerate(topo.sites, start=1):
        sw = SwitchPlan(name=f"{prefix}s{i}", site=site.name, dpid=site.dpid)
        switches.append(sw)
        for j in range(1, site.hosts + 1):
            ip, mac = host_address(i, j)
            hosts.append(HostPlan(f"{prefix}h{i}_{j}", site.name, sw.name, j, ip, mac))
    index = {s.site: s for s in switches}
    links = [LinkPlan(l.a, l.b, index[l.a].name, index[l.b].name, ports.toward(l.a, l.b),
                      ports.toward(l.b, l.a), l.bandwidth_mbps, l.delay_ms) for l in topo.links]
    if probes:
        for i, site in enumerate(topo.sites, start=1):
            ip, mac = host_address(i, PROBE_INDEX)
            hosts.append(HostPlan(f"{prefix}p{i}", site.name, index[site.name].name,
                                  ports.next_free(site.name), ip, mac, "probe"))
    plan = WanPlan(topo, tuple(switches), tuple(hosts), tuple(links), prefix)
    check_interface_names(plan)
    return plan


def check_interface_names(plan: WanPlan) -> None:
    """ValueError if an interface of ``plan`` is longer than Linux allows."""
    too_long = [n for n in plan.interfaces() if len(n) > MAX_INTERFACE_NAME]
    if too_long:
        raise ValueError(f"interface name {too_long[0]} is longer than Linux allows "
                         f"({MAX_INTERFACE_NAME} characters): use a shorter prefix or fewer ports")


BROADCAST = "ff:ff:ff:ff:ff:ff"


def static_flows(plan: WanPlan) -> dict[str, list[str]]:
    """OpenFlow rules (ovs-ofctl syntax) that let the WAN forward with no controller.

    Unicast follows least-delay paths to each host's MAC; broadcast (ARP) is flooded
    along a least-delay spanning tree, so loops in the WAN never storm; probe pairs on
    adjacent sites are pinned to the link between them so a fidelity check measures
    exactly that link. Anything else is
    dropped (switches are fail-secure).
    """
    g = plan.topology.graph()
    port_to: dict[tuple[str, str], int] = {}
    for l in plan.links:
        port_to[(l.a, l.b)] = l.port_a
        port_to[(l.b, l.a)] = l.port_b
    flows: dict[str, list[str]] = {s.name: [] for s in plan.switches}
    switch = {s.site: s.name for s in plan.switches}
    for h in plan.hosts:
        paths = nx.single_source_dijkstra_path(g, h.site, weight="delay_ms")
        for site, path in sorted(paths.items()):
            out = h.port if site == h.site else port_to[(site, path[-2])]
            flows[switch[site]].append(f"priority=100,dl_dst={h.mac},actions=output:{out}")
    tree = nx.minimum_spanning_tree(g, weight="delay_ms")
    for s in plan.switches:
        members = sorted([h.port for h in plan.hosts if h.site == s.site]
                         + [port_to[(s.site, n)] for n in tree.neighbors(s.site)])
        for p in members:
            outs = ",".join(f"output:{q}" for q in members if q != p)
            if outs:
                flows[s.name].append(f"priority=50,in_port={p},dl_dst={BROADCAST},actions={outs}")
    probes = {h.site: h for h in plan.hosts if h.role == "probe"}
    for l in plan.links:
        if l.a in probes and l.b in probes:
            ha, hb = probes[l.a], probes[l.b]
            flows[l.switch_a].append(
                f"priority=200,dl_src={ha.mac},dl_dst={hb.mac},actions=output:{l.port_a}")
            flows[l.switch_b].append(
                f"priority=200,dl_src={hb.mac},dl_dst={ha.mac},actions=output:{l.port_b}")
    return flows
