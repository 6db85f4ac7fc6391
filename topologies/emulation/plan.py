"""The emulation plan: pure data derived from a Topology, before anything touches the kernel.

It fixes every name, port, address and forwarding rule so that the WAN is the same on
every run, the inventory is predictable, and slice specs can name ``site`` + ``port``:

* switch ``s<i>`` for the i-th site (Linux interface names are <= 15 characters, so site
  names stay labels); its dpid comes from the topology.
* hosts ``h<i>_<j>`` on ports ``1..hosts`` of their site's switch; inter-site links take
  the following ports in topology order; probe hosts (``p<i>``, fidelity check only) last.
* host j of site i has IP ``10.<i // 256>.<i % 256>.<j>/8`` and MAC
  ``02:00:00:<i hi>:<i lo>:<j>``; probes use j = 250.
"""
from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
from netaddr import EUI, IPAddress, IPNetwork, mac_unix_expanded

from topologies.model import Topology

HOST_NET = IPNetwork("10.0.0.0/8")
PROBE_INDEX = 250
MAX_SITES = 255 * 256


@dataclass(frozen=True)
class HostPlan:
    name: str
    site: str
    switch: str
    port: int
    ip: str            # with prefix length, e.g. 10.0.1.1/8
    mac: str
    probe: bool = False

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


@dataclass(frozen=True)
class ReferencePlan:
    """A zero-delay, unshaped link between two extra switches, each with a probe.

    Its RTT is the measuring instrument's own latency (two software switches each way,
    host stacks) in the same datapath as the WAN; the fidelity check subtracts it.
    """

    switches: tuple[SwitchPlan, SwitchPlan]
    probes: tuple[HostPlan, HostPlan]
    link: LinkPlan

    def flows(self) -> dict[str, list[str]]:
        return {s.name: ["priority=100,in_port=1,actions=output:2",
                         "priority=100,in_port=2,actions=output:1"] for s in self.switches}


@dataclass(frozen=True)
class WanPlan:
    topology: Topology
    switches: tuple[SwitchPlan, ...]
    hosts: tuple[HostPlan, ...]
    links: tuple[LinkPlan, ...]
    reference: ReferencePlan | None = None

    def switch_of(self, site: str) -> SwitchPlan:
        return next(s for s in self.switches if s.site == site)

    def probe_of(self, site: str) -> HostPlan:
        return next(h for h in self.hosts if h.probe and h.site == site)


def host_address(site_index: int, j: int) -> tuple[str, str]:
    """IP/prefix and MAC of host ``j`` at the ``site_index``-th site (1-based)."""
    ip = IPAddress(int(HOST_NET.network) + (site_index << 8) + j)
    mac = EUI((0x02 << 40) | (site_index << 8) | j, dialect=mac_unix_expanded)
    return f"{ip}/{HOST_NET.prefixlen}", str(mac)


def make_plan(topo: Topology, *, hosts_per_site: int | None = None, probes: bool = False) -> WanPlan:
    """Lay the topology out as switches, hosts and links.

    ``hosts_per_site`` overrides each site's own host count for sites that have hosts
    (cloud and edge by default); ``probes`` adds one measurement host per site.
    """
    if len(topo.sites) > MAX_SITES:
        raise ValueError(f"at most {MAX_SITES} sites can be emulated, got {len(topo.sites)}")
    switches, hosts, next_port = [], [], {}
    for i, site in enumerate(topo.sites, start=1):
        sw = SwitchPlan(name=f"s{i}", site=site.name, dpid=site.dpid)
        switches.append(sw)
        count = site.hosts if hosts_per_site is None or site.hosts == 0 else hosts_per_site
        for j in range(1, count + 1):
            ip, mac = host_address(i, j)
            hosts.append(HostPlan(f"h{i}_{j}", site.name, sw.name, j, ip, mac))
        next_port[site.name] = count + 1
    index = {s.site: s for s in switches}
    links = []
    for l in topo.links:
        pa, pb = next_port[l.a], next_port[l.b]
        next_port[l.a], next_port[l.b] = pa + 1, pb + 1
        links.append(LinkPlan(l.a, l.b, index[l.a].name, index[l.b].name, pa, pb,
                              l.bandwidth_mbps, l.delay_ms))
    reference = None
    if probes:
        for i, site in enumerate(topo.sites, start=1):
            ip, mac = host_address(i, PROBE_INDEX)
            hosts.append(HostPlan(f"p{i}", site.name, index[site.name].name,
                                  next_port[site.name], ip, mac, probe=True))
        reference = _reference(len(topo.sites), max(s.dpid for s in topo.sites))
    return WanPlan(topo, tuple(switches), tuple(hosts), tuple(links), reference)


def _reference(n_sites: int, max_dpid: int) -> ReferencePlan:
    sws, probes = [], []
    for k, site in enumerate(("reference-a", "reference-b"), start=1):
        i = n_sites + k
        sw = SwitchPlan(name=f"s{i}", site=site, dpid=(max_dpid + k) % 2**64 or k)
        ip, mac = host_address(i, PROBE_INDEX)
        sws.append(sw)
        probes.append(HostPlan(f"p{i}", site, sw.name, 1, ip, mac, probe=True))
    link = LinkPlan(sws[0].site, sws[1].site, sws[0].name, sws[1].name, 2, 2, 0.0, 0.0)
    return ReferencePlan((sws[0], sws[1]), (probes[0], probes[1]), link)


BROADCAST = "ff:ff:ff:ff:ff:ff"


def static_flows(plan: WanPlan) -> dict[str, list[str]]:
    """OpenFlow rules (ovs-ofctl syntax) that let the WAN forward with no controller.

    Unicast follows least-delay paths to each host's MAC; broadcast (ARP) is flooded
    along a least-delay spanning tree, so loops in the WAN never storm; probe pairs on
    adjacent sites are pinned to the link between them so a fidelity check measures
    exactly that link. Anything else is dropped (switches are fail-secure).
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
    probes = {h.site: h for h in plan.hosts if h.probe}
    for l in plan.links:
        if l.a in probes and l.b in probes:
            pa, pb = probes[l.a], probes[l.b]
            flows[l.switch_a].append(
                f"priority=200,dl_src={pa.mac},dl_dst={pb.mac},actions=output:{l.port_a}")
            flows[l.switch_b].append(
                f"priority=200,dl_src={pb.mac},dl_dst={pa.mac},actions=output:{l.port_b}")
    return flows
