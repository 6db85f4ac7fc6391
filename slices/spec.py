"""Slice specs: parsed and validated once, then frozen.

The same field names are used by YAML files, the CLI and the gRPC API::

    name: medical-lifeline
    tenant: ministry-of-health
    endpoints:
      - {site: tokyo-dc, port: 1}
      - {site: osaka-dc, port: 1, ip: 10.20.0.5}
      - {site: sendai-dc, port: 2, vlan: 120}
    bandwidth_mbps: 20
    max_latency_ms: 15
    priority: 7            # 7 lifeline ... 0 best effort
    allowed_regions: [JP]  # geo-fence; empty = anywhere
    protection: link       # none | link | site | region

Validation against a topology checks sites, ports (1..hosts of the site), regions and that
the latency bound is not below the physical minimum between the endpoints.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from netaddr import AddrFormatError, IPAddress

from slices.errors import SpecError
from topologies.model import Topology

PRIORITY_CLASSES = {
    7: "lifeline (government, medical, disaster response)",
    6: "critical infrastructure (finance, utilities)",
    5: "premium business",
    4: "business",
    3: "standard",
    2: "bulk",
    1: "background",
    0: "best effort",
}
PROTECTIONS = ("none", "link", "site", "region")
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
FIELDS = {"name", "tenant", "endpoints", "bandwidth_mbps", "max_latency_ms", "priority",
          "allowed_regions", "protection"}
ENDPOINT_FIELDS = {"site", "port", "ip", "vlan"}


@dataclass(frozen=True, order=True)
class Endpoint:
    site: str
    port: int
    ip: str | None = None
    vlan: int | None = None

    @property
    def key(self) -> tuple[str, int, int | None]:
        """What a switch sees: a port, optionally a VLAN on it. One slice per key."""
        return (self.site, self.port, self.vlan)

    def __str__(self) -> str:
        return f"{self.site}:{self.port}" + (f".{self.vlan}" if self.vlan else "")


@dataclass(frozen=True)
class SliceSpec:
    name: str
    tenant: str
    endpoints: tuple[Endpoint, ...]
    bandwidth_mbps: float
    max_latency_ms: float | None = None
    priority: int = 3
    allowed_regions: tuple[str, ...] = ()
    protection: str = "none"

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(sorted({e.site for e in self.endpoints}))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "tenant": self.tenant,
            "endpoints": [{k: v for k, v in (("site", e.site), ("port", e.port), ("ip", e.ip),
                                            ("vlan", e.vlan)) if v is not None}
                          for e in self.endpoints],
            "bandwidth_mbps": self.bandwidth_mbps, "max_latency_ms": self.max_latency_ms,
            "priority": self.priority, "allowed_regions": list(self.allowed_regions),
            "protection": self.protection,
        }


@dataclass
class _Checker:
    violations: list[tuple[str, str]] = field(default_factory=list)

    def bad(self, path: str, problem: str) -> None:
        self.violations.append((path, problem))

    def number(self, value: Any, path: str, *, positive: bool = True) -> float | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            self.bad(path, f"must be a number, got {value!r}")
            return None
        if positive and value <= 0:
            self.bad(path, f"must be > 0, got {value:g}")
            return None
        return float(value)

    def integer(self, value: Any, path: str, low: int, high: int) -> int | None:
        if isinstance(value, bool) or not isinstance(value, int):
            self.bad(path, f"must be an integer, got {value!r}")
            return None
        if not low <= value <= high:
            self.bad(path, f"must be between {low} and {high}, got {value}")
            return None
        return value


def parse_spec(doc: Any, topology: Topology | None = None) -> SliceSpec:
    """Validate a spec document (a mapping, as from YAML/JSON/protobuf) and freeze it.

    Every violation is collected, so a person fixes them all in one go. With a topology,
    sites, ports, regions and the physical latency floor are checked too.
    """
    c = _Checker()
    if not isinstance(doc, Mapping):
        raise SpecError([("", f"a slice spec must be a mapping, got {type(doc).__name__}")])
    for key in sorted(set(map(str, doc)) - FIELDS):
        c.bad(key, f"unknown field (allowed: {', '.join(sorted(FIELDS))})")
    name = doc.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        c.bad("name", f"must be 1-63 lowercase letters, digits or '-', got {name!r}")
    tenant = doc.get("tenant")
    if not isinstance(tenant, str) or not tenant.strip():
        c.bad("tenant", f"must be a non-empty string, got {tenant!r}")
    bandwidth = c.number(doc.get("bandwidth_mbps"), "bandwidth_mbps")
    latency = None
    if doc.get("max_latency_ms") is not None:
        latency = c.number(doc["max_latency_ms"], "max_latency_ms")
    priority = c.integer(doc.get("priority", 3), "priority", 0, 7)
    protection = doc.get("protection", "none")
    if protection not in PROTECTIONS:
        c.bad("protection", f"must be one of {', '.join(PROTECTIONS)}, got {protection!r}")
    regions = doc.get("allowed_regions") or []
    if not isinstance(regions, (list, tuple)) or not all(isinstance(r, str) and r for r in regions):
        c.bad("allowed_regions", f"must be a list of region names, got {regions!r}")
        regions = []
    elif topology is not None:
        for i, r in enumerate(regions):
            if r not in topology.regions:
                c.bad(f"allowed_regions[{i}]", f"unknown region {r!r} (known: {', '.join(topology.regions)})")
    if len(set(regions)) != len(regions):
        c.bad("allowed_regions", "lists a region twice")
    endpoints = _endpoints(doc.get("endpoints"), c, topology, regions)
    if not c.violations and topology is not None and latency is not None:
        floor = _latency_floor(topology, endpoints)
        if floor is not None and latency < floor[0]:
            c.bad("max_latency_ms", f"{latency:g} ms is below the physical minimum of "
                  f"{floor[0]:.2f} ms between {floor[1]} and {floor[2]}")
    if c.violations:
        raise SpecError(c.violations)
    return SliceSpec(name=name, tenant=tenant.strip(), endpoints=tuple(endpoints),
                     bandwidth_mbps=bandwidth, max_latency_ms=latency, priority=priority,
                     allowed_regions=tuple(regions), protection=protection)


def _endpoints(raw: Any, c: _Checker, topology: Topology | None, regions) -> list[Endpoint]:
    if not isinstance(raw, (list, tuple)) or len(raw) < 2:
        c.bad("endpoints", "at least two endpoints are required")
        return []
    out, seen_keys, seen_ips = [], {}, {}
    for i, e in enumerate(raw):
        path = f"endpoints[{i}]"
        if not isinstance(e, Mapping):
            c.bad(path, f"must be a mapping with site and port, got {e!r}")
            continue
        for key in sorted(set(map(str, e)) - ENDPOINT_FIELDS):
            c.bad(f"{path}.{key}", f"unknown field (allowed: {', '.join(sorted(ENDPOINT_FIELDS))})")
        site = e.get("site")
        ok = True
        if not isinstance(site, str) or not site:
            c.bad(f"{path}.site", f"must be a site name, got {site!r}")
            ok = False
        elif topology is not None and not topology.has_site(site):
            c.bad(f"{path}.site", f"unknown site {site!r}")
            ok = False
        port = c.integer(e.get("port"), f"{path}.port", 1, 65279)
        if port is None:
            ok = False
        elif ok and topology is not None:
            hosts = topology.site(site).hosts
            if port > hosts:
                c.bad(f"{path}.port", f"port {port} is not an access port of {site} "
                      f"(its switch has {hosts} host port{'s' if hosts != 1 else ''}: 1..{hosts})"
                      if hosts else f"port {port}: {site} has no access ports (a {topology.site(site).kind} site)")
                ok = False
        if ok and topology is not None and regions and topology.site(site).region not in regions:
            c.bad(f"{path}.site", f"{site} is in region {topology.site(site).region}, "
                  f"outside allowed_regions {list(regions)}")
        vlan = None
        if e.get("vlan") is not None:
            vlan = c.integer(e["vlan"], f"{path}.vlan", 1, 4094)
        ip = None
        if e.get("ip") is not None:
            try:
                addr = IPAddress(str(e["ip"]), version=4)
                if addr.is_loopback() or addr.is_multicast() or int(addr) == 0 or str(addr) == "255.255.255.255":
                    raise AddrFormatError("not a unicast host address")
                ip = str(addr)
            except (AddrFormatError, ValueError) as err:
                c.bad(f"{path}.ip", f"not a usable IPv4 host address: {e['ip']!r} ({err})")
            if ip in seen_ips:
                c.bad(f"{path}.ip", f"{ip} is also endpoints[{seen_ips[ip]}].ip")
            elif ip:
                seen_ips[ip] = i
        if ok:
            ep = Endpoint(site=site, port=port, ip=ip, vlan=vlan)
            if ep.key in seen_keys:
                c.bad(path, f"duplicate endpoint {ep} (also endpoints[{seen_keys[ep.key]}])")
            else:
                seen_keys[ep.key] = i
                out.append(ep)
    return out


def _latency_floor(topology: Topology, endpoints: list[Endpoint]):
    """The largest least-delay distance between two endpoint sites, ignoring capacity:
    no placement can beat it."""
    import networkx as nx

    g = topology.graph()
    sites = sorted({e.site for e in endpoints})
    worst = None
    for i, a in enumerate(sites):
        dist = nx.single_source_dijkstra_path_length(g, a, weight="delay_ms")
        for b in sites[i + 1:]:
            if b in dist and (worst is None or dist[b] > worst[0]):
                worst = (dist[b], a, b)
    return worst
