"""The abstract network model shared by the emulation (Mininet) and the slice engine.

A :class:`Topology` is plain, frozen data: sites (``cloud``, ``core``, ``edge``, or a
cloud fabric's ``spine`` and ``leaf`` nodes, with coordinates and a region) and undirected
links with a capacity and a one-way delay.
Both ``topologies.emulation`` and ``slices`` consume this same object; neither keeps a
model of its own.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Iterator, Literal

if TYPE_CHECKING:  # networkx is only needed by callers that ask for a graph
    import networkx as nx

SiteKind = Literal["cloud", "core", "edge", "spine", "leaf"]
SITE_KINDS: tuple[str, ...] = ("cloud", "core", "edge")   # what a topology file may write
# inside a cloud's fabric (topologies.fabric): the loader makes these from ``fabric:``
FABRIC_KINDS: tuple[str, ...] = ("spine", "leaf")
# sites no slice may cross unless it ends there: user access, and leaves (a fabric's
# traffic goes leaf - spine - leaf, never spine - leaf - spine)
NON_TRANSIT_KINDS: tuple[str, ...] = ("edge", "leaf")
# emulated hosts a site has unless its file says otherwise: data centres two, user access
# one, exchanges none (they only carry traffic)
DEFAULT_HOSTS = {"cloud": 2, "core": 0, "edge": 1}
DelaySource = Literal["configured", "distance", "guessed"]
# how a slice is told apart on a link: a per-link VLAN id (4,093 slices per link), or a
# per-link MPLS label (hundreds of thousands; see slices.rules.mpls_label)
Transport = Literal["vlan", "mpls"]
TRANSPORTS: tuple[str, ...] = ("vlan", "mpls")


@dataclass(frozen=True)
class Site:
    """A switch location. ``cloud`` = data centre (with a fabric: its border switch),
    ``core`` = inter-cloud exchange or backbone node, ``edge`` = user access, ``spine`` and
    ``leaf`` = switches of a cloud's fabric, named ``CLOUD.spineN`` / ``CLOUD.leafN``.
    ``hosts`` is how many emulated hosts hang off it (ports 1..hosts of its switch)."""

    name: str
    kind: SiteKind
    lat: float | None
    lon: float | None
    region: str
    label: str = ""
    hosts: int = 0
    dpid: int = 0

    @property
    def located(self) -> bool:
        return self.lat is not None and self.lon is not None


@dataclass(frozen=True)
class Link:
    """An undirected inter-site link; ``a`` sorts before ``b`` is *not* assumed."""

    a: str
    b: str
    bandwidth_mbps: float
    delay_ms: float
    distance_km: float | None = None
    delay_source: DelaySource = "distance"
    label: str = ""

    @property
    def key(self) -> frozenset[str]:
        return frozenset((self.a, self.b))

    def other(self, site: str) -> str:
        return self.b if site == self.a else self.a


@dataclass(frozen=True)
class Topology:
    name: str
    sites: tuple[Site, ...]
    links: tuple[Link, ...]
    source: str = ""
    description: str = ""
    mtu: int = 1500
    # out of repr: a topology without the key prints (and hashes) exactly as before it existed
    transport: Transport = field(default="vlan", repr=False)
    warnings: tuple[str, ...] = field(default=(), compare=False)

    @cached_property
    def _sites_by_name(self) -> dict[str, Site]:
        return {s.name: s for s in self.sites}

    @cached_property
    def _links_by_key(self) -> dict[frozenset[str], Link]:
        return {l.key: l for l in self.links}

    def site(self, name: str) -> Site:
        return self._sites_by_name[name]

    def has_site(self, name: str) -> bool:
        return name in self._sites_by_name

    def link(self, a: str, b: str) -> Link:
        return self._links_by_key[frozenset((a, b))]

    def has_link(self, a: str, b: str) -> bool:
        return frozenset((a, b)) in self._links_by_key

    def links_of(self, site: str) -> Iterator[Link]:
        return (l for l in self.links if site in (l.a, l.b))

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted({s.region for s in self.sites}))

    def graph(self) -> "nx.Graph":
        """A fresh networkx Graph: nodes carry Site fields, edges carry Link fields
        (``a``, ``b`` as written in the topology, ``bandwidth_mbps``, ``delay_ms``).
        Callers may annotate their copy freely."""
        import networkx as nx

        g = nx.Graph(name=self.name, transport=self.transport)
        for s in self.sites:
            g.add_node(s.name, kind=s.kind, region=s.region, lat=s.lat, lon=s.lon)
        for l in self.links:
            g.add_edge(l.a, l.b, a=l.a, b=l.b, bandwidth_mbps=l.bandwidth_mbps, delay_ms=l.delay_ms)
        return g
