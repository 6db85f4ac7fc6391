"""The emulation plan of a federation file: every domain's switches in one Mininet, each
port numbered exactly as that domain's controller numbers it (pure data, no Mininet).

A domain's controller runs :func:`topologies.federation.domain_topology`: its file's sites,
with each border site's access ports extended by its border ports. So, at each switch:

* hosts on ports ``1..hosts`` of the site's own file (never on a border port);
* border links on the following ports, in the order the federation file lists them
  (:func:`topologies.federation.border_ports`), each joined to the border port of the
  peer domain's site, with the border's bandwidth and delay;
* links inside the domain on the ports after those (:class:`topologies.ports.PortMap`
  over the domain's topology), probes (``probes=True``) after everything.

Switches are numbered across domains in file order (``s1..sN``), so host addresses
(:func:`plan.host_address` of the global site index) and names are unique; the dpids are
the domains' own (the loader refuses two domains sharing one).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Mapping, Union

from topologies.emulation.plan import (MAX_SITES, PREFIX_RE, PROBE_INDEX, HostPlan, LinkPlan, SwitchPlan,
                                       WanPlan, check_interface_names, host_address)
from topologies.errors import TopologyError
from topologies.federation import border_ports, check_unique_sites, domain_topology, merged_topology
from topologies.fedmodel import BorderLink, Domain, Federation
from topologies.ports import PortMap

Address = tuple[str, int]


@dataclass(frozen=True)
class FederationPlan(WanPlan):
    """A :class:`WanPlan` whose ``topology`` is :func:`merged_topology` (what static
    forwarding and the link table read), plus which domain each switch belongs to and
    which links are borders."""

    domain_of: dict[str, str] = field(default_factory=dict, hash=False)   # switch name -> domain
    borders: dict[tuple[str, str], BorderLink] = field(default_factory=dict, hash=False)  # (a, b) of a LinkPlan
    domains: tuple[str, ...] = ()

    def border_of(self, link: LinkPlan) -> BorderLink | None:
        return self.borders.get((link.a, link.b))

    def switches_of(self, domain: str) -> tuple[SwitchPlan, ...]:
        return tuple(s for s in self.switches if self.domain_of[s.name] == domain)

    def domain_of_site(self, site: str) -> str:
        return self.domain_of[self.switch_of(site).name]


def with_hosts(fed: Federation, hosts_per_site: int) -> Federation:
    """``fed`` with ``hosts_per_site`` hosts at every site that has hosts: border ports move
    with them, so a controller must run the same override to agree on the numbering."""
    domains = tuple(Domain(d.name, replace(d.topology, sites=tuple(
        replace(s, hosts=hosts_per_site if s.hosts else 0) for s in d.topology.sites))) for d in fed.domains)
    return replace(fed, domains=domains)


def make_federation_plan(fed: Federation, *, hosts_per_site: int | None = None, probes: bool = False,
                         prefix: str = "") -> FederationPlan:
    """Lay every domain of ``fed`` out in one WAN; ValueError if two domains share a site
    name, the prefix is not 0-2 lowercase letters, or an interface name would be too long."""
    if not PREFIX_RE.match(prefix):
        raise ValueError(f"a WAN name prefix is 0-2 lowercase letters, got {prefix!r}")
    check_unique_sites(fed)
    if hosts_per_site is not None:
        fed = with_hosts(fed, hosts_per_site)
    merged = merged_topology(fed)
    if len(merged.sites) > MAX_SITES:
        raise ValueError(f"at most {MAX_SITES} sites can be emulated, got {len(merged.sites)}")
    switches: list[SwitchPlan] = []
    hosts: list[HostPlan] = []
    domain_of: dict[str, str] = {}
    index: dict[str, int] = {}
    for d in fed.domains:
        for site in d.topology.sites:
            i = len(switches) + 1
            sw = SwitchPlan(name=f"{prefix}s{i}", site=site.name, dpid=site.dpid)
            switches.append(sw)
            domain_of[sw.name] = d.name
            index[site.name] = i
            for j in range(1, site.hosts + 1):
                ip, mac = host_address(i, j)
                hosts.append(HostPlan(f"{prefix}h{i}_{j}", site.name, sw.name, j, ip, mac))
    name = {s.site: s.name for s in switches}
    links: list[LinkPlan] = []
    port_maps = {d.name: PortMap(domain_topology(fed, d.name)) for d in fed.domains}
    for d in fed.domains:
        ports = port_maps[d.name]
        links += [LinkPlan(l.a, l.b, name[l.a], name[l.b], ports.toward(l.a, l.b), ports.toward(l.b, l.a),
                           l.bandwidth_mbps, l.delay_ms) for l in d.topology.links]
    port_of: dict[tuple[BorderLink, str], int] = {}
    for d in fed.domains:
        for site_ports in border_ports(fed, d.name).values():
            port_of.update({(b, d.name): p for p, b in site_ports.items()})
    borders: dict[tuple[str, str], BorderLink] = {}
    for b in fed.borders:
        links.append(LinkPlan(b.a.site, b.b.site, name[b.a.site], name[b.b.site], port_of[(b, b.a.domain)],
                              port_of[(b, b.b.domain)], b.bandwidth_mbps, b.delay_ms))
        borders[(b.a.site, b.b.site)] = b
    if probes:
        for sw in list(switches):
            i, domain = index[sw.site], domain_of[sw.name]
            ip, mac = host_address(i, PROBE_INDEX)
            hosts.append(HostPlan(f"{prefix}p{i}", sw.site, sw.name, port_maps[domain].next_free(sw.site),
                                  ip, mac, "probe"))
    plan = FederationPlan(merged, tuple(switches), tuple(hosts), tuple(links), prefix, domain_of=domain_of,
                          borders=borders, domains=tuple(d.name for d in fed.domains))
    check_interface_names(plan)
    return plan


def domain_controllers(fed: Federation, given: Mapping[str, Union[Address, list[Address], None]] | None
                       ) -> dict[str, list[Address]]:
    """Each domain's controllers, in the file's domain order, from ``{domain: (host, port)
    or a list of them}``: for every domain, or for none (static forwarding across the whole
    federation); TopologyError naming unknown or missing domains."""
    if given is None:
        return {}
    names = [d.name for d in fed.domains]
    if not isinstance(given, Mapping):
        raise TopologyError(f"{fed.name} is a federation: give each domain's controller "
                            f"(DOMAIN=HOST:PORT; domains: {', '.join(names)})", field="controllers")
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise TopologyError(f"unknown domain{'s' * (len(unknown) > 1)} {', '.join(unknown)} in {fed.name} "
                            f"(domains: {', '.join(names)})", field="controllers")
    out = {d: [c] if isinstance(c, tuple) else list(c or []) for d, c in given.items()}
    missing = [d for d in names if not out.get(d)]
    if any(out.values()) and missing:
        raise TopologyError(f"no controller for domain{'s' * (len(missing) > 1)} {', '.join(missing)} of "
                            f"{fed.name}: give DOMAIN=HOST:PORT for every domain, or none for static "
                            "forwarding", field="controllers")
    return {d: out[d] for d in names if out.get(d)}


def controllers_by_switch(plan: FederationPlan, controllers: Mapping[str, list[Address]]) -> dict[str, tuple[str, ...]]:
    """Per switch, the names of the Mininet controllers (``c0``, ``c1``, ... in the order of
    ``controllers``' values) of its own domain: the only ones it may connect to."""
    names, i = {}, 0
    for domain, cs in controllers.items():
        names[domain] = tuple(f"c{k}" for k in range(i, i + len(cs)))
        i += len(cs)
    return {s.name: names.get(plan.domain_of[s.name], ()) for s in plan.switches}


def federation_inventory(plan: FederationPlan, controllers: Mapping[str, list[Address]], out: dict) -> None:
    """Mark a WAN inventory's switches, hosts and links with their domain (a link: whether it
    is a border, and which), and give each switch its own domain's controllers (what
    ``wan fault site ... restore`` gives back)."""
    targets = {d: [f"{ip}:{port}" for ip, port in cs] for d, cs in controllers.items()}
    out["federation"] = plan.topology.name
    out["domains"] = {d: targets.get(d, []) for d in plan.domains}
    for s in out["switches"]:
        s["domain"] = plan.domain_of[s["name"]]
        s["controllers"] = targets.get(s["domain"], [])
    for h in out["hosts"]:
        h["domain"] = plan.domain_of[h["switch"]]
    for l, row in zip(plan.links, out["links"]):
        border = plan.border_of(l)
        row["domain_a"], row["domain_b"] = plan.domain_of[l.switch_a], plan.domain_of[l.switch_b]
        row["border"] = border is not None
        if border is not None:
            row["border_name"], row["label"] = border.name, border.label
