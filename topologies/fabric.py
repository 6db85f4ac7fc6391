"""Clouds with fabrics inside (issue 28): a cloud site's ``fabric:`` becomes ordinary sites
and links of the topology, so placement, booking, compiling and repair need nothing new.

::

          WAN links land here
                 |
            [tokyo-dc]                     the cloud site itself: the border (gateway) switch
             /      \\
   [tokyo-dc.spine1] [tokyo-dc.spine2]     every spine linked to the border
        |  \\        /  |
        |    \\    /    |                  full leaf-spine mesh
        |    /    \\    |
   [tokyo-dc.leaf1] [tokyo-dc.leaf2]       hosts (virtual servers) on ports 1..hosts_per_leaf

Fabric sites come after the file's own sites and fabric links after its own links, so the
sites, ports, dpids and emulated names of a topology without fabrics, and of the file's
own sites in one with fabrics, are what they were. A leaf or spine inherits the cloud's
region and coordinates. Its dpid is derived from the cloud's:
``0xfa << 48 | cloud dpid << 8 | n`` with n = spine number (1..16) or 0x40 + leaf number.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from topologies.errors import TopologyError
from topologies.model import Link, Site

FABRIC_KEYS = {"spines", "leaves", "hosts_per_leaf", "bandwidth_mbps", "delay_ms"}
MAX_SPINES, MAX_LEAVES, MAX_HOSTS_PER_LEAF = 16, 64, 64
# A real fabric runs at 10-100 Gbit/s; 1,000 Mbit/s is as fast as the emulation's userspace
# datapath can make a link mean anything, and is what admission books against by default.
DEFAULT_FABRIC_MBPS = 1000.0
DEFAULT_FABRIC_DELAY_MS = 0.01    # a few metres of fibre and one switch hop
FABRIC_DPID_BASE = 0xFA << 48
MAX_CLOUD_DPID = 2**40 - 1
LEAF_DPID_OFFSET = 0x40


@dataclass(frozen=True)
class FabricSpec:
    spines: int
    leaves: int
    hosts_per_leaf: int
    bandwidth_mbps: float = DEFAULT_FABRIC_MBPS
    delay_ms: float = DEFAULT_FABRIC_DELAY_MS


def spine_name(cloud: str, i: int) -> str:
    return f"{cloud}.spine{i}"


def leaf_name(cloud: str, j: int) -> str:
    return f"{cloud}.leaf{j}"


def cloud_of(site: Site) -> str | None:
    """The cloud a leaf or spine belongs to; None for any other site."""
    return site.name.rsplit(".", 1)[0] if site.kind in ("leaf", "spine") else None


def _count(raw: dict, key: str, field: str, low: int, high: int, default: int | None = None) -> int:
    if key not in raw:
        if default is not None:
            return default
        raise TopologyError(f"is required (an integer {low}-{high})", field=f"{field}.{key}")
    value = raw[key]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise TopologyError(f"must be an integer {low}-{high}, got {value!r}", field=f"{field}.{key}")
    return value


def _positive(raw: dict, key: str, field: str, default: float, *, zero_ok: bool) -> float:
    value = raw.get(key, default)
    bad = (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
           or value < 0 or (value == 0 and not zero_ok))
    if bad:
        want = "a number >= 0" if zero_ok else "a number > 0"
        raise TopologyError(f"must be {want}, got {value!r}", field=f"{field}.{key}")
    return float(value)


def parse_fabric(raw: Any, field: str) -> FabricSpec:
    """Validate one ``sites.NAME.fabric`` mapping."""
    if not isinstance(raw, dict):
        raise TopologyError("must be a mapping such as {spines: 2, leaves: 4, hosts_per_leaf: 8}",
                            field=field)
    unknown = sorted(str(k) for k in raw if k not in FABRIC_KEYS)
    if unknown:
        raise TopologyError(f"unknown key '{unknown[0]}' (allowed: {', '.join(sorted(FABRIC_KEYS))})",
                            field=f"{field}.{unknown[0]}")
    return FabricSpec(
        spines=_count(raw, "spines", field, 1, MAX_SPINES),
        leaves=_count(raw, "leaves", field, 1, MAX_LEAVES),
        hosts_per_leaf=_count(raw, "hosts_per_leaf", field, 0, MAX_HOSTS_PER_LEAF, default=2),
        bandwidth_mbps=_positive(raw, "bandwidth_mbps", field, DEFAULT_FABRIC_MBPS, zero_ok=False),
        delay_ms=_positive(raw, "delay_ms", field, DEFAULT_FABRIC_DELAY_MS, zero_ok=True))


def _switch(cloud: Site, name: str, kind: str, n: int, hosts: int, label: str) -> Site:
    return Site(name=name, kind=kind, lat=cloud.lat, lon=cloud.lon, region=cloud.region,
                label=f"{cloud.label or cloud.name} {label}", hosts=hosts,
                dpid=FABRIC_DPID_BASE | cloud.dpid << 8 | n)


def fabric_sites(cloud: Site, spec: FabricSpec) -> list[Site]:
    """The spines, then the leaves, of ``cloud``'s fabric."""
    spines = [_switch(cloud, spine_name(cloud.name, i), "spine", i, 0, f"spine {i}")
              for i in range(1, spec.spines + 1)]
    leaves = [_switch(cloud, leaf_name(cloud.name, j), "leaf", LEAF_DPID_OFFSET + j, spec.hosts_per_leaf,
                      f"leaf {j}") for j in range(1, spec.leaves + 1)]
    return spines + leaves


def fabric_links(cloud: Site, spec: FabricSpec) -> list[Link]:
    """Border to every spine, then every leaf to every spine (leaf ports hosts+1.. go to
    spine 1, 2, ...; a spine's port 1 goes to the border, ports 2.. to leaf 1, 2, ...)."""
    def link(a: str, b: str) -> Link:
        return Link(a=a, b=b, bandwidth_mbps=spec.bandwidth_mbps, delay_ms=spec.delay_ms,
                    distance_km=None, delay_source="configured", label="fabric")
    spines = [spine_name(cloud.name, i) for i in range(1, spec.spines + 1)]
    out = [link(cloud.name, s) for s in spines]
    for j in range(1, spec.leaves + 1):
        out += [link(leaf_name(cloud.name, j), s) for s in spines]
    return out


def expand(sites: list[Site], links: list[Link], fabrics: dict[str, FabricSpec],
           dpids: dict[int, str]) -> tuple[list[Site], list[Link]]:
    """The topology's sites and links with every fabric's switches and links appended.
    ``dpids`` (dpid -> site) holds the file's own sites and gains the fabrics'."""
    by_name = {s.name: s for s in sites}
    new_sites, new_links = list(sites), list(links)
    for cloud_name, spec in fabrics.items():
        cloud, field = by_name[cloud_name], f"sites.{cloud_name}.fabric"
        if cloud.dpid > MAX_CLOUD_DPID:
            raise TopologyError(f"a cloud with a fabric needs a dpid below 2**40 (its switches' dpids "
                                f"derive from it), got {cloud.dpid:#x}", field=f"sites.{cloud_name}.dpid")
        for s in fabric_sites(cloud, spec):
            if s.name in by_name:
                raise TopologyError(f"its switch '{s.name}' has the name of another site", field=field)
            if s.dpid in dpids:
                raise TopologyError(f"its switch '{s.name}' would have dpid {s.dpid:#x}, "
                                    f"also used by site '{dpids[s.dpid]}'", field=field)
            dpids[s.dpid], by_name[s.name] = s.name, s
            new_sites.append(s)
        new_links += fabric_links(cloud, spec)
    return new_sites, new_links


def describe(topology) -> list[str]:
    """One line per cloud with a fabric (for ``slicectl topology show``)."""
    out: dict[str, list[Site]] = {}
    for s in topology.sites:
        if cloud_of(s):
            out.setdefault(cloud_of(s), []).append(s)
    lines = []
    for cloud, members in out.items():
        spines = [s for s in members if s.kind == "spine"]
        leaves = [s for s in members if s.kind == "leaf"]
        link = next(topology.links_of(spines[0].name))
        lines.append(f"fabric {cloud}: border {cloud}, {len(spines)} spines, {len(leaves)} leaves "
                     f"x {leaves[0].hosts} hosts, links {link.bandwidth_mbps:g} Mbit/s {link.delay_ms:g} ms")
    return lines
