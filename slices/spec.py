"""Slice specs: parsed and validated once, then frozen.

The same field names are used by YAML files, the CLI and the gRPC API::

    name: medical-lifeline
    tenant: ministry-of-health
    endpoints:
      - {site: tokyo-dc, port: 1}
      - {site: osaka-dc, port: 1, ip: 10.20.0.5}
      - {site: sendai-dc, port: 2, vlan: 120}
      - {site: osaka-dc, port: 2, standby: {site: nagoya-dc, port: 2}}  # disaster recovery
    bandwidth_mbps: 20
    max_latency_ms: 15
    priority: 7            # 7 lifeline ... 0 best effort
    allowed_regions: [JP]  # geo-fence; empty = anywhere
    protection: link       # none | link | site | region
    schedule: {start: "2026-12-12T22:00:00+09:00", duration: PT1H}   # booked ahead (slices.schedule)

Validation against a topology checks sites, ports (1..hosts of the site), regions and that
the latency bound is not below the physical minimum between the endpoints.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping

from netaddr import INET_PTON, AddrFormatError, IPAddress

from slices.errors import SpecError
from slices.rules import MAX_GROUP_INDEX
from slices.schedule import Schedule, parse_schedule
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
DEFAULT_PRIORITY = 3
PROTECTIONS = ("none", "link", "site", "region")
DEFAULT_PROTECTION = "none"
NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# A slice's full name is TENANT/NAME (tenants' namespaces: two tenants may both have "web");
# a bare NAME is a slice an operator named outside any namespace (as before namespaces).
NAMESPACE_SEP = "/"


def qualified(tenant: str, name: str) -> str:
    """The full name of a tenant's slice ``name`` in its namespace."""
    return f"{tenant}{NAMESPACE_SEP}{name}"
MAX_TENANT_CHARS = 128
FIELDS = ("name", "tenant", "endpoints", "bandwidth_mbps", "max_latency_ms", "priority",
          "allowed_regions", "protection", "schedule")
ENDPOINT_FIELDS = ("site", "port", "ip", "vlan", "standby", "via")
STANDBY_FIELDS = ("site", "port")
# OpenFlow 1.3 meters count kbit/s in 32 bits: 4,294,967 Mbit/s is the most a slice's
# meter can say. (A topology makes the bound tighter: its largest link.)
MAX_BANDWIDTH_MBPS = 0xFFFFFFFF // 1000
# The least a slice may reserve: 64 kbit/s (one DS0 voice channel). Meters are sent in
# whole kbit/s, so anything under 0.5 kbit/s became a 0 kbit/s meter (1e-300 was
# accepted and reserved nothing); and switch policers enforce rates in steps - commonly
# 64 kbit/s on switching ASICs - so a smaller rate is not one a switch can promise.
MIN_BANDWIDTH_MBPS = 0.064
MAX_LATENCY_MS = 10_000.0    # a bound above 10 s bounds nothing; leave it out instead
MAX_ENDPOINTS = MAX_GROUP_INDEX + 1   # an endpoint's index is part of its group ids
MAX_PORT = 0xFEFF            # OpenFlow 1.3: physical ports end at 0xffffff00; Mininet's at 65279
MAX_VLAN = 4094


def did_you_mean(word: str, choices) -> str:
    """``; did you mean 'link'?`` when ``word`` is a likely typo of one of ``choices``."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


@dataclass(frozen=True)
class Standby:
    """Where an endpoint's service comes back (same address, same VLAN) when its site is
    lost or drained: a port of another site."""

    site: str
    port: int

    def __str__(self) -> str:
        return f"{self.site}:{self.port}"


@dataclass(frozen=True)
class Endpoint:
    site: str
    port: int
    ip: str | None = None
    vlan: int | None = None
    standby: Standby | None = None
    # more addresses reached at this port: at a border port of a federation part, the
    # slice's addresses in the domains beyond (controller.fedhome); empty for a host
    via: tuple[str, ...] = ()

    def on_standby(self) -> "Endpoint":
        """This endpoint moved to its standby: the standby's site and port, the same
        address and VLAN."""
        return Endpoint(site=self.standby.site, port=self.standby.port, ip=self.ip, vlan=self.vlan)

    @property
    def standby_key(self) -> tuple[str, int, int | None] | None:
        return (self.standby.site, self.standby.port, self.vlan) if self.standby else None

    @property
    def key(self) -> tuple[str, int, int | None]:
        """What a switch sees: a port, optionally a VLAN on it. One slice per key."""
        return (self.site, self.port, self.vlan)

    def sort_key(self) -> tuple[str, int, int, str]:
        """A total order (the dataclass fields are not: ``ip`` may be None or text)."""
        return (self.site, self.port, self.vlan or 0, self.ip or "")

    def __str__(self) -> str:
        return f"{self.site}:{self.port}" + (f".{self.vlan}" if self.vlan else "")


@dataclass(frozen=True)
class SliceSpec:
    name: str
    tenant: str
    endpoints: tuple[Endpoint, ...]
    bandwidth_mbps: float
    max_latency_ms: float | None = None
    priority: int = DEFAULT_PRIORITY
    allowed_regions: tuple[str, ...] = ()
    protection: str = DEFAULT_PROTECTION
    schedule: Schedule | None = None     # None: from admission until deleted

    @property
    def sites(self) -> tuple[str, ...]:
        return tuple(sorted({e.site for e in self.endpoints}))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "tenant": self.tenant,
            "endpoints": [{k: v for k, v in (("site", e.site), ("port", e.port), ("ip", e.ip),
                                            ("vlan", e.vlan),
                                            ("standby", e.standby and {"site": e.standby.site,
                                                                       "port": e.standby.port}),
                                            ("via", list(e.via) or None))
                           if v is not None}
                          for e in self.endpoints],
            "bandwidth_mbps": self.bandwidth_mbps, "max_latency_ms": self.max_latency_ms,
            "priority": self.priority, "allowed_regions": list(self.allowed_regions),
            "protection": self.protection,
            **({"schedule": self.schedule.to_dict()} if self.schedule else {}),
        }


@dataclass
class _Checker:
    violations: list[tuple[str, str]] = field(default_factory=list)

    def bad(self, path: str, problem: str) -> None:
        self.violations.append((path, problem))

    def unknown_fields(self, doc: Mapping, allowed: tuple[str, ...], prefix: str = "") -> None:
        for key in sorted(map(str, doc)):
            if key not in allowed:
                self.bad(prefix + key, f"unknown field{did_you_mean(key, allowed)} "
                         f"(allowed: {', '.join(allowed)})")

    def number(self, value: Any, path: str, high: float, unit: str, low: float = 0.0,
               why_low: str = "") -> float | None:
        """A finite number > 0, >= ``low`` (``why_low`` says why) and <= ``high`` (a bool
        or a numeric string is not one)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.bad(path, f"must be a number, got {_shown(value)}")
            return None
        if not math.isfinite(value):
            self.bad(path, f"must be a finite number, got {value}")
            return None
        if value <= 0:
            self.bad(path, f"must be > 0, got {value:g}")
            return None
        if value < low:
            self.bad(path, f"must be at least {low:g} {unit.split(' ')[0]} ({why_low}), got {value:g}")
            return None
        if value > high:
            self.bad(path, f"must be at most {high:,g} {unit}, got {value:,g}")
            return None
        return float(value)

    def integer(self, value: Any, path: str, low: int, high: int) -> int | None:
        if value is None:
            self.bad(path, "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.bad(path, f"must be a whole number, got {_shown(value)}")
            return None
        if not low <= value <= high:
            self.bad(path, f"must be between {low} and {high}, got {value}")
            return None
        return value

    def choice(self, value: Any, path: str, choices: tuple[str, ...]) -> str | None:
        if not isinstance(value, str) or value not in choices:
            hint = did_you_mean(value, choices) if isinstance(value, str) else ""
            self.bad(path, f"unknown value {_shown(value)}{hint} (one of: {', '.join(choices)})")
            return None
        return value


def _shown(value: Any) -> str:
    """A value for an error message: its repr, cut short (a message must stay small)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_spec(doc: Any, topology: Topology | None = None, now: float | None = None) -> SliceSpec:
    """Validate a spec document (a mapping, as from YAML/JSON/protobuf) and freeze it.

    Every violation is collected, so a person fixes them all in one go: unknown fields
    (with a "did you mean"), unknown enum names, wrong types (a string where a number is
    due, a float port, a bool bandwidth), values out of range. Nothing is coerced. With a
    topology, sites, ports, regions, the largest link and the physical latency floor are
    checked too. Absent optional fields take the same defaults whichever way the spec
    came (priority 3, protection none). ``now`` (epoch seconds, the caller's clock: this
    module has none) lets a schedule be checked against the present (a start in the past).
    """
    c = _Checker()
    if not isinstance(doc, Mapping):
        raise SpecError([("", f"a slice spec must be a mapping, got {type(doc).__name__}")])
    c.unknown_fields(doc, FIELDS)
    name, tenant = doc.get("name"), doc.get("tenant")
    if not isinstance(name, str) or not NAME_RE.match(name.rpartition(NAMESPACE_SEP)[2]):
        c.bad("name", f"must be 1-63 lowercase letters, digits or '-', got {_shown(name)}")
    elif NAMESPACE_SEP in name and name.rpartition(NAMESPACE_SEP)[0] != str(tenant).strip():
        c.bad("name", f"a qualified name is TENANT/NAME of the slice's own tenant, got {_shown(name)}")
    if not isinstance(tenant, str) or not tenant.strip() or len(tenant) > MAX_TENANT_CHARS \
            or not tenant.isprintable():
        c.bad("tenant", f"must be 1-{MAX_TENANT_CHARS} printable characters, got {_shown(tenant)}")
    high = MAX_BANDWIDTH_MBPS
    if topology is not None and topology.links:
        high = min(high, max(l.bandwidth_mbps for l in topology.links))
    if doc.get("bandwidth_mbps") is None:
        c.bad("bandwidth_mbps", "is required (Mbit/s to reserve)")
        bandwidth = None
    else:
        bandwidth = c.number(doc["bandwidth_mbps"], "bandwidth_mbps", high, "Mbit/s" + (
            f" (the largest link of {topology.name})" if high < MAX_BANDWIDTH_MBPS else
            " (what an OpenFlow meter can carry)"), MIN_BANDWIDTH_MBPS,
            "64 kbit/s, the least rate a switch's meter can enforce")
    latency = None
    if doc.get("max_latency_ms") is not None:
        latency = c.number(doc["max_latency_ms"], "max_latency_ms", MAX_LATENCY_MS,
                           "ms (leave the field out for no bound)")
    priority = doc.get("priority")
    priority = DEFAULT_PRIORITY if priority is None else c.integer(priority, "priority", 0, 7)
    protection = doc.get("protection")
    protection = DEFAULT_PROTECTION if protection is None else c.choice(protection, "protection", PROTECTIONS)
    regions = doc.get("allowed_regions")
    if regions is None:
        regions = []
    elif not isinstance(regions, (list, tuple)) or not all(isinstance(r, str) and r for r in regions):
        c.bad("allowed_regions", f"must be a list of region names, got {_shown(regions)}")
        regions = []
    elif topology is not None:
        for i, r in enumerate(regions):
            if r not in topology.regions:
                c.bad(f"allowed_regions[{i}]", f"unknown region {_shown(r)}{did_you_mean(r, topology.regions)} "
                      f"(known: {', '.join(topology.regions)})")
    if len(set(regions)) != len(regions):
        c.bad("allowed_regions", "lists a region twice")
    endpoints = _endpoints(doc.get("endpoints"), c, topology, regions)
    schedule = parse_schedule(doc.get("schedule"), c.bad, now)
    if schedule is not None and any(e.standby for e in endpoints):
        c.bad("schedule", "a slice with standby endpoints cannot be booked ahead yet (issue 27)")
    if not c.violations and topology is not None and latency is not None:
        floor = _latency_floor(topology, endpoints)
        if floor is not None and latency < floor[0]:
            c.bad("max_latency_ms", f"{latency:g} ms is below the physical minimum of "
                  f"{floor[0]:.2f} ms between {floor[1]} and {floor[2]}")
    if c.violations:
        raise SpecError(c.violations)
    return SliceSpec(name=name, tenant=tenant.strip(), endpoints=tuple(endpoints),
                     bandwidth_mbps=bandwidth, max_latency_ms=latency, priority=priority,
                     allowed_regions=tuple(regions), protection=protection, schedule=schedule)


def _endpoints(raw: Any, c: _Checker, topology: Topology | None, regions) -> list[Endpoint]:
    if not isinstance(raw, (list, tuple)) or len(raw) < 2:
        c.bad("endpoints", "at least two endpoints are required, as a list of {site, port}")
        return []
    if len(raw) > MAX_ENDPOINTS:
        c.bad("endpoints", f"at most {MAX_ENDPOINTS} endpoints per slice, got {len(raw)}")
        return []
    out, seen_ports, seen_ips = [], {}, {}
    for i, e in enumerate(raw):
        path = f"endpoints[{i}]"
        if not isinstance(e, Mapping):
            c.bad(path, f"must be a mapping with site and port, got {_shown(e)}")
            continue
        c.unknown_fields(e, ENDPOINT_FIELDS, f"{path}.")
        site, port, ok = _place(e, path, c, topology, regions)
        vlan = None
        if e.get("vlan") is not None:
            vlan = c.integer(e["vlan"], f"{path}.vlan", 1, MAX_VLAN)
        ip = None
        if e.get("ip") is not None:
            ip = _host_address(e["ip"], f"{path}.ip", c)
            if ip in seen_ips:
                c.bad(f"{path}.ip", f"{ip} is also endpoints[{seen_ips[ip]}].ip")
            elif ip:
                seen_ips[ip] = i
        standby = None
        if e.get("standby") is not None:
            standby = _standby(e["standby"], f"{path}.standby", site if ok else None, c, topology, regions)
        via = _via(e.get("via"), f"{path}.via", ip, standby, seen_ips, i, c)
        for where, spath in (((site, port), path), ((standby.site, standby.port) if standby else None,
                                                    f"{path}.standby")):
            # one port, one endpoint of a slice: the same port twice (even once tagged and
            # once not) would make the slice forward back out of the port a frame came in by
            if ok and where is not None and where in seen_ports:
                c.bad(spath, f"duplicate endpoint: port {where[1]} of {where[0]} is also "
                      f"{seen_ports[where]} (a slice uses a port once, with one VLAN or untagged)")
                ok = False
            elif where is not None:
                seen_ports[where] = spath
        if ok:
            out.append(Endpoint(site=site, port=port, ip=ip, vlan=vlan, standby=standby, via=via))
    return out


def _via(raw: Any, path: str, ip: str | None, standby, seen_ips: dict, i: int, c: _Checker) -> tuple[str, ...]:
    """The addresses reached beyond an endpoint (a federation part's border port): each a
    host address, none another endpoint's; the endpoint needs its own ``ip`` and no standby."""
    if raw is None:
        return ()
    if not isinstance(raw, (list, tuple)):
        c.bad(path, f"must be a list of addresses, got {_shown(raw)}")
        return ()
    if raw and (not ip or standby is not None):
        c.bad(path, "needs the endpoint's own ip, and no standby (it is a border port of a federation part)")
        return ()
    out = []
    for j, a in enumerate(raw):
        addr = _host_address(a, f"{path}[{j}]", c)
        if addr in seen_ips:
            c.bad(f"{path}[{j}]", f"{addr} is also endpoints[{seen_ips[addr]}]'s address")
        elif addr:
            seen_ips[addr] = i
            out.append(addr)
    return tuple(out)


def _place(doc: Mapping, path: str, c: _Checker, topology: Topology | None, regions) -> tuple[Any, Any, bool]:
    """The site and port of an endpoint (or standby) document, checked: ``(site, port, ok)``."""
    site = doc.get("site")
    ok = True
    if not isinstance(site, str) or not site:
        c.bad(f"{path}.site", f"must be a site name, got {_shown(site)}")
        ok = False
    elif topology is not None and not topology.has_site(site):
        c.bad(f"{path}.site", f"unknown site {_shown(site)}{did_you_mean(site, [s.name for s in topology.sites])}")
        ok = False
    port = c.integer(doc.get("port"), f"{path}.port", 1, MAX_PORT)
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
    return site, port, ok


def _standby(raw: Any, path: str, primary: str | None, c: _Checker, topology: Topology | None,
             regions) -> Standby | None:
    if not isinstance(raw, Mapping):
        c.bad(path, f"must be a mapping with site and port, got {_shown(raw)}")
        return None
    c.unknown_fields(raw, STANDBY_FIELDS, f"{path}.")
    site, port, ok = _place(raw, path, c, topology, regions)
    if ok and site == primary:
        c.bad(f"{path}.site", f"the standby must be at another site than the endpoint ({site}): "
              "it is where the service comes back when that site is lost")
        ok = False
    return Standby(site=site, port=port) if ok else None


def _host_address(raw: Any, path: str, c: _Checker) -> str | None:
    if not isinstance(raw, str):
        c.bad(path, f"must be an IPv4 address as text, got {_shown(raw)}")
        return None
    try:
        addr = IPAddress(raw, version=4, flags=INET_PTON)
    except (AddrFormatError, ValueError):
        c.bad(path, f"not an IPv4 address: {_shown(raw)}")
        return None
    if addr.is_loopback() or addr.is_multicast() or int(addr) == 0 or int(addr) == 0xFFFFFFFF:
        c.bad(path, f"{addr} is not a unicast host address")
        return None
    return str(addr)


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
