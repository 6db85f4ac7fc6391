"""Random but plausible geographic WANs, for benchmarks and property tests.

``generated_wan(200)`` scatters sites over East Asia (Korea and Japan, four regions).
One site in three is a ``cloud`` with hosts, one in six an ``edge`` (user access, one
host), the rest ``core``. Clouds and cores form the backbone: a minimum spanning tree
over great-circle distance (connected, with long-haul trunks) plus links from each to its
nearest backbone sites (alternative paths to fail over to). Each edge hangs off its
nearest backbone site. Link delay comes from distance like every other
topology. Same arguments, same WAN.

Also reachable as ``load("generated:200")`` or ``load("generated:200:7")`` (seed 7).
"""
from __future__ import annotations

import random

import networkx as nx

from topologies.errors import TopologyError
from topologies.geo import DEFAULT_ROUTE_FACTOR, fibre_delay_ms, great_circle_km
from topologies.model import Link, Site, Topology

BOX = (30.0, 45.0, 124.0, 146.0)   # lat_min, lat_max, lon_min, lon_max
REGIONS = ((129.0, "KR"), (135.0, "JP-WEST"), (140.0, "JP-CENTRAL"), (999.0, "JP-EAST"))  # by longitude


def _region(lon: float) -> str:
    return next(name for limit, name in REGIONS if lon < limit)


def generated_wan(sites: int, seed: int = 1, *, hosts: int = 4, nearest: int = 2,
                  trunk_mbps: float = 10_000, access_mbps: float = 1_000) -> Topology:
    """A connected WAN of ``sites`` sites; see the module docstring."""
    if sites < 2:
        raise TopologyError(f"a generated WAN needs at least 2 sites, got {sites}", field="sites")
    rng = random.Random(seed)
    lat0, lat1, lon0, lon1 = BOX
    made = []
    for i in range(sites):
        kind = "cloud" if i % 3 == 0 else "edge" if i % 6 == 1 else "core"
        lat, lon = round(rng.uniform(lat0, lat1), 4), round(rng.uniform(lon0, lon1), 4)
        made.append(Site(name=f"{kind}-{i}", kind=kind, lat=lat, lon=lon, region=_region(lon),
                         hosts=hosts if kind == "cloud" else 1 if kind == "edge" else 0, dpid=i + 1))
    def km(a: Site, b: Site) -> float:
        return great_circle_km(a.lat, a.lon, b.lat, b.lon)

    backbone = [s for s in made if s.kind != "edge"]
    full = nx.Graph()
    for i, a in enumerate(backbone):
        for b in backbone[i + 1:]:
            full.add_edge(a.name, b.name, km=km(a, b))
    edges = {frozenset(e) for e in nx.minimum_spanning_edges(full, weight="km", data=False)}
    for a in made:
        closest = sorted((km(a, b), b.name) for b in backbone if b is not a)
        edges.update(frozenset((a.name, b)) for _d, b in closest[:1 if a.kind == "edge" else nearest])
    by_name = {s.name: s for s in made}
    kind = {s.name: s.kind for s in made}
    order = {s.name: i for i, s in enumerate(made)}
    links = []
    for e in sorted(edges, key=lambda e: sorted(order[x] for x in e)):
        a, b = sorted(e, key=order.get)
        bw = trunk_mbps if kind[a] != "edge" and kind[b] != "edge" else access_mbps
        d = km(by_name[a], by_name[b])
        links.append(Link(a, b, bw, round(fibre_delay_ms(d, DEFAULT_ROUTE_FACTOR), 4), round(d, 1)))
    return Topology(name=f"generated-{sites}-seed{seed}", sites=tuple(made), links=tuple(links),
                    description=f"random geographic WAN: {sites} sites, seed {seed}")


def from_name(name: str) -> Topology:
    """``generated:N`` or ``generated:N:SEED``."""
    parts = name.split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        n, seed = int(parts[1]), int(parts[2]) if len(parts) == 3 else 1
    except ValueError:
        raise TopologyError("expected generated:SITES or generated:SITES:SEED, e.g. generated:200",
                            source=name) from None
    return generated_wan(n, seed)
