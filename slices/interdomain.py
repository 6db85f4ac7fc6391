"""Routing a slice across domains over their abstract views (issue 26): which domains and
borders it crosses, what each domain is asked for (its part), and each part's share of
the latency bound.

The home controller knows every domain only by its :class:`slices.abstract.AbstractView`
and the border links of the federation file. A slice's endpoints name ``DOMAIN/SITE`` (a
bare site is in the home domain). Steps, each pure:

1. A graph of points: every advertised pair with the bandwidth asked becomes an edge
   weighted by its least delay; every border link with the bandwidth asked joins two
   domains' points. Points outside the geo-fence are left out.
2. A tree joining the endpoints (a Steiner tree, approximated, weighted by delay). The
   domains it uses must form a tree themselves: a domain entered twice would join its
   two entries inside (one part is one connected tree) and close a loop, so such a route
   is refused rather than installed.
3. Parts: per domain, its endpoints and the border points the tree uses there.
4. The latency bound is split: ``base`` of a part is the largest least-delay between two
   of its points; the route's worst case adds bases and border delays along the tree
   between two endpoints. If that exceeds the bound, the slice is refused naming the
   route's domains. Otherwise the slack (bound - worst) is shared in proportion to each
   base (equally when all are 0), so the budgets along any endpoint-to-endpoint path add
   up to at most the bound, and a domain with a longer part gets more room.

A refusal names the domain and the constraint (``Refused``), as the engine's
``Rejected`` does inside one domain. The geo-fence goes down to each part unchanged: a
domain checks its own internal sites, which the home never sees.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from typing import Mapping

import networkx as nx
from networkx.algorithms.approximation import steiner_tree

from slices.abstract import AbstractView
from topologies.fedmodel import BorderLink, BorderPoint, Federation

EPSILON = 1e-9


class Refused(Exception):
    """The slice cannot be routed; ``domain`` (may be empty) and ``constraint`` say why."""

    def __init__(self, domain: str, constraint: str, reason: str):
        self.domain, self.constraint, self.reason = domain, constraint, reason
        super().__init__((f"domain {domain}: " if domain else "") + f"{constraint}: {reason}")


@dataclass(frozen=True)
class FedEndpoint:
    domain: str
    site: str
    port: int

    def __str__(self) -> str:
        return f"{self.domain}/{self.site}:{self.port}"


@dataclass(frozen=True)
class FedRequest:
    name: str
    home: str
    endpoints: tuple[FedEndpoint, ...]
    bandwidth_mbps: float
    max_latency_ms: float | None = None
    allowed_regions: frozenset[str] | None = None


@dataclass(frozen=True)
class Part:
    """What one domain is asked to reserve: its endpoints, the border points the slice
    crosses there, and its share of the latency bound."""

    domain: str
    endpoints: tuple[FedEndpoint, ...]
    borders: tuple[str, ...]            # border sites of this domain the slice uses
    base_delay_ms: float
    max_latency_ms: float | None
    allowed_regions: frozenset[str] | None


@dataclass(frozen=True)
class Route:
    parts: tuple[Part, ...]
    borders: tuple[BorderLink, ...]
    worst_delay_ms: float               # by the views' least delays and the borders


def parse_endpoint(text: str, port: int, home: str, fed: Federation) -> FedEndpoint:
    """``DOMAIN/SITE`` or a bare ``SITE`` (home domain); Refused naming what is unknown."""
    domain, _, site = text.rpartition("/")
    domain = domain or home
    if not fed.has_domain(domain):
        raise Refused("", "endpoint", f"unknown domain '{domain}' in '{text}'")
    if not fed.domain(domain).topology.has_site(site):
        raise Refused(domain, "endpoint", f"no site '{site}'")
    return FedEndpoint(domain, site, port)


def route(req: FedRequest, fed: Federation, views: Mapping[str, AbstractView],
          border_free: Mapping[str, float] | None = None) -> Route:
    """Route ``req`` over ``views`` (one per domain) and ``fed``'s borders, with
    ``border_free`` Mbit/s left per border link name (default: its capacity)."""
    g = _graph(req, fed, views, border_free or {})
    terminals = sorted({(e.domain, e.site) for e in req.endpoints})
    if len(terminals) == 1:
        tree = nx.Graph()
        tree.add_node(terminals[0])
    else:
        _check_reachable(req, g, terminals, views)
        # on the terminals' component only: the approximation needs a connected graph
        tree = steiner_tree(g.subgraph(nx.node_connected_component(g, terminals[0])), terminals, weight="delay")
    used = [d for _, _, d in tree.edges(data=True) if d.get("border") is not None]
    domains = sorted({n[0] for n in tree.nodes})
    if len(used) != len(domains) - 1:
        raise Refused("", "loop", f"the best route enters a domain twice ({', '.join(domains)}); no loop-free "
                      "route across the domains was found")
    parts = _parts(req, tree, views)
    worst = _worst(req, tree, parts)
    if req.max_latency_ms is not None and worst > req.max_latency_ms + EPSILON:
        along = ", ".join(f"{p.domain} {p.base_delay_ms:g} ms" for p in parts)
        raise Refused(_slowest(parts), "latency", f"the route needs {worst:.2f} ms at least ({along}, plus "
                      f"borders), bound {req.max_latency_ms:g} ms")
    return Route(parts=_budgets(req, parts, worst), borders=tuple(d["border"] for d in used),
                 worst_delay_ms=round(worst, 4))


def _graph(req: FedRequest, fed: Federation, views: Mapping[str, AbstractView],
           border_free: Mapping[str, float]) -> nx.Graph:
    fence = req.allowed_regions
    g = nx.Graph()
    for d, view in views.items():
        ok = {p.site for p in view.points if fence is None or p.region in fence}
        g.add_nodes_from((d, s) for s in ok)
        for offer in view.pairs:
            if offer.a in ok and offer.b in ok and offer.bandwidth_mbps + EPSILON >= req.bandwidth_mbps:
                g.add_edge((d, offer.a), (d, offer.b), delay=offer.min_delay_ms, border=None)
    for b in fed.borders:
        a, z = (b.a.domain, b.a.site), (b.b.domain, b.b.site)
        if a in g and z in g and border_free.get(b.name, b.bandwidth_mbps) + EPSILON >= req.bandwidth_mbps:
            g.add_edge(a, z, delay=b.delay_ms, border=b)
    return g


def _check_reachable(req: FedRequest, g: nx.Graph, terminals: list, views: Mapping[str, AbstractView]) -> None:
    """Refused naming the first endpoint's domain that cannot be reached, and why."""
    fence = req.allowed_regions
    for d, site in terminals:
        view = views.get(d)
        if view is None:
            raise Refused(d, "unreachable", "its controller advertised no view (down, or no peer of ours)")
        point = view.point(site)
        if point is None:
            raise Refused(d, "endpoint", f"{site} is not a cloud or border point it offers")
        if fence is not None and point.region not in fence:
            raise Refused(d, "geo-fence", f"{site} is in region {point.region}, allowed: {', '.join(sorted(fence))}")
    first = terminals[0]
    for t in terminals[1:]:
        if nx.has_path(g, first, t):
            continue
        d, site = t
        best = max((o.bandwidth_mbps for o in views[d].pairs if site in (o.a, o.b)), default=0.0)
        if best + EPSILON < req.bandwidth_mbps:
            raise Refused(d, "bandwidth", f"{site} reaches its borders with at most {best:g} Mbit/s, asked "
                          f"{req.bandwidth_mbps:g}")
        raise Refused(d, "bandwidth", f"no chain of domains and borders carries {req.bandwidth_mbps:g} Mbit/s "
                      f"from {first[0]}/{first[1]} to {d}/{site}")


def _parts(req: FedRequest, tree: nx.Graph, views: Mapping[str, AbstractView]) -> list[Part]:
    parts = []
    for d in sorted({n[0] for n in tree.nodes}):
        eps = tuple(e for e in req.endpoints if e.domain == d)
        borders = tuple(sorted({n[1] for u, v, data in tree.edges(data=True) if data["border"] is not None
                                for n in (u, v) if n[0] == d}))
        sites = sorted({e.site for e in eps} | set(borders))
        base = max((views[d].offer(a, b).min_delay_ms for a, b in combinations(sites, 2)), default=0.0)
        parts.append(Part(d, eps, borders, base, None, req.allowed_regions))
    return parts


def _worst(req: FedRequest, tree: nx.Graph, parts: list[Part]) -> float:
    """The largest, over two endpoints, of the parts' bases and borders' delays between them."""
    base = {p.domain: p.base_delay_ms for p in parts}
    sites = sorted({(e.domain, e.site) for e in req.endpoints})
    worst = 0.0
    for a, b in combinations(sites, 2):
        path = nx.shortest_path(tree, a, b)
        borders = sum(tree.edges[u, v]["delay"] for u, v in zip(path, path[1:]) if tree.edges[u, v]["border"])
        worst = max(worst, borders + sum(base[d] for d in {n[0] for n in path}))
    return worst


def _budgets(req: FedRequest, parts: list[Part], worst: float) -> tuple[Part, ...]:
    if req.max_latency_ms is None:
        return tuple(parts)
    slack, total = req.max_latency_ms - worst, sum(p.base_delay_ms for p in parts)
    share = (lambda p: p.base_delay_ms / total) if total > 0 else (lambda p: 1 / len(parts))
    return tuple(Part(p.domain, p.endpoints, p.borders, p.base_delay_ms,
                      round(p.base_delay_ms + slack * share(p), 4), p.allowed_regions) for p in parts)


def _slowest(parts: list[Part]) -> str:
    return max(parts, key=lambda p: p.base_delay_ms).domain if parts else ""


__all__ = ["BorderPoint", "FedEndpoint", "FedRequest", "Part", "Refused", "Route", "parse_endpoint", "route"]
