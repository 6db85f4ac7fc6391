"""What a domain tells its peers about itself (issue 26): an abstract view.

A peer needs to know what it may ask of this domain, not how the domain is built: per
pair of *points* (the domain's border sites and its clouds, the only places a peer may name)
the bandwidth available between them now and the least delay between them. Internal
sites and links never appear, not even as a count: the view is computed from them and
then they are dropped. NSI exchanges topology as abstractions for the same reason (an
operator's network is its own); unlike NSI's reachability vectors, this view carries
delay, so a peer can split a latency bound across domains.

The two figures of a pair may come from different paths: ``bandwidth_mbps`` is the
bottleneck of the widest path (what a reservation could get at best), ``min_delay_ms`` the
delay of the fastest path with capacity left (no reservation gets less). A peer plans
with them; the domain's own reservation (controller.federation) has the final word.
Pure: the engine's residual capacity and down links come in as arguments.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Iterable, Mapping

import networkx as nx

from slices.placement import LinkKey
from topologies.model import Topology

EPSILON_MBPS = 1e-6


@dataclass(frozen=True)
class Point:
    """A place a peer may name: a border site or a cloud of the domain."""

    site: str
    kind: str        # "border" or "cloud" (a cloud that is also a border is "border")
    region: str


@dataclass(frozen=True)
class PairOffer:
    a: str
    b: str
    bandwidth_mbps: float
    min_delay_ms: float


@dataclass(frozen=True)
class BorderOffer:
    """One border link as a domain sees its own end: Mbit/s its parts have not taken, and
    whether its port is up. The two domains of a border each account it: the home takes
    the lesser of the two."""

    name: str
    site: str
    port: int
    free_mbps: float
    up: bool
    tags: tuple[int, ...] = ()   # VLAN tags in use on the border wire at this end


@dataclass(frozen=True)
class AbstractView:
    """One domain's advertisement: its points and, per pair of them, what it offers."""

    domain: str
    points: tuple[Point, ...]
    pairs: tuple[PairOffer, ...]

    def offer(self, a: str, b: str) -> PairOffer | None:
        """The offer between points ``a`` and ``b`` (either order); None if they are cut off."""
        for p in self.pairs:
            if {p.a, p.b} == {a, b}:
                return p
        return None

    def point(self, site: str) -> Point | None:
        return next((p for p in self.points if p.site == site), None)

    def names(self) -> set[str]:
        """Every name this view reveals (what a test checks for leaks)."""
        return {self.domain} | {p.site for p in self.points}


def abstract_view(domain: str, topology: Topology, residual: Mapping[LinkKey, float],
                  borders: Iterable[str], down_links: Iterable[LinkKey] = (),
                  down_sites: Iterable[str] = ()) -> AbstractView:
    """The view of ``topology`` (the domain ``domain``) with ``residual`` capacity per
    link, ``borders`` its border sites, without the links and sites that are down."""
    borders = set(borders)
    down, lost = set(down_links), set(down_sites)
    points = tuple(sorted(
        (Point(s.name, "border" if s.name in borders else "cloud", s.region)
         for s in topology.sites if (s.name in borders or s.kind == "cloud") and s.name not in lost),
        key=lambda p: p.site))
    g = nx.Graph()
    g.add_nodes_from(s.name for s in topology.sites if s.name not in lost)
    for link in topology.links:
        free = residual.get(link.key, 0.0)
        if link.key in down or free <= EPSILON_MBPS or link.a in lost or link.b in lost:
            continue
        g.add_edge(link.a, link.b, free=free, delay=link.delay_ms)
    widest = nx.maximum_spanning_tree(g, weight="free")   # its path between two nodes is a widest path
    pairs = []
    for p, q in combinations((pt.site for pt in points), 2):
        if not nx.has_path(g, p, q):
            continue
        path = nx.shortest_path(widest, p, q)
        bottleneck = min(widest.edges[u, v]["free"] for u, v in zip(path, path[1:]))
        delay = nx.shortest_path_length(g, p, q, weight="delay")
        pairs.append(PairOffer(p, q, round(bottleneck, 6), round(delay, 4)))
    return AbstractView(domain, points, tuple(pairs))
